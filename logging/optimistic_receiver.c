/* optimistic_receiver.c - receiver-based optimistic logging, background flush
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/proc.h"
#include "logging/loggers.h"

/*
 * The runtime delivers at once (MLOG_LOGGER_EAGER); append only copies the
 * records into a buffer and gives them their lsns. A flusher thread swaps
 * the buffer and writes it to LMDB in one durable commit, so the handler
 * path never waits for the disk and a burst costs one commit. Without
 * threads (inline_flush) the poll op does the same when flush_ms have
 * passed. What a crash finds unwritten is lost: the runtime's protocol
 * (dependency vectors, rollback of orphans, output commit) makes that safe.
 */

typedef struct optimistic_logger {
  mlog_log *log;
  bool threaded;
  uint32_t flush_ms;
  uint64_t last_flush_ms;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_t thread;
  recvec pending;    /* taken, not yet written (under lock) */
  recvec writing;    /* being written by the flusher */
  uint64_t next_lsn; /* lsn the next record taken gets (under lock) */
  uint64_t durable;  /* last durable lsn (under lock) */
  int error;         /* the first failed write; sticky (under lock) */
  bool stop, busy;
} optimistic_logger;

/* Write what is pending (called with the lock held; drops it meanwhile). */
static void write_pending(optimistic_logger *ol) {
  recvec tmp = ol->writing;
  ol->writing = ol->pending;
  ol->pending = tmp;
  ol->busy = true;
  pthread_mutex_unlock(&ol->lock);
  mlogi_recvec_fix(&ol->writing);
  uint64_t last = ol->writing.recs[ol->writing.n - 1].lsn;
  int rc = mlog_log_append(ol->log, ol->writing.recs, ol->writing.n);
  mlogi_recvec_clear(&ol->writing);
  pthread_mutex_lock(&ol->lock);
  ol->busy = false;
  if (rc != MLOG_OK && ol->error == MLOG_OK)
    ol->error = rc;
  if (rc == MLOG_OK)
    ol->durable = last;
  pthread_cond_broadcast(&ol->done);
}

static void *flusher(void *arg) {
  optimistic_logger *ol = arg;
  pthread_mutex_lock(&ol->lock);
  while (!ol->stop) {
    if (ol->pending.n == 0 || ol->error != MLOG_OK) {
      pthread_cond_wait(&ol->wake, &ol->lock);
      continue;
    }
    write_pending(ol);
  }
  pthread_mutex_unlock(&ol->lock);
  return NULL;
}

static int ol_open(void *self, mlog_log *log, const mlog_logger_params *prm) {
  optimistic_logger *ol = self;
  ol->log = log;
  ol->threaded = !prm->inline_flush;
  ol->flush_ms = prm->flush_ms;
  ol->next_lsn = mlog_log_next_lsn(log);
  ol->durable = ol->next_lsn - 1;
  if (pthread_mutex_init(&ol->lock, NULL) != 0)
    return MLOG_ENOMEM;
  if (pthread_cond_init(&ol->wake, NULL) != 0) {
    pthread_mutex_destroy(&ol->lock);
    return MLOG_ENOMEM;
  }
  if (pthread_cond_init(&ol->done, NULL) != 0) {
    pthread_cond_destroy(&ol->wake);
    pthread_mutex_destroy(&ol->lock);
    return MLOG_ENOMEM;
  }
  if (ol->threaded && pthread_create(&ol->thread, NULL, flusher, ol) != 0) {
    pthread_cond_destroy(&ol->done);
    pthread_cond_destroy(&ol->wake);
    pthread_mutex_destroy(&ol->lock);
    return MLOG_ENOMEM;
  }
  return MLOG_OK;
}

static int ol_append(void *self, mlog_record *recs, size_t n) {
  optimistic_logger *ol = self;
  pthread_mutex_lock(&ol->lock);
  int rc = ol->error;
  size_t taken = 0;
  for (; rc == MLOG_OK && taken < n; taken++) {
    recs[taken].lsn = ol->next_lsn + taken;
    rc = mlogi_recvec_add(&ol->pending, &recs[taken]);
  }
  if (rc == MLOG_OK) {
    ol->next_lsn += n;
    pthread_cond_signal(&ol->wake);
  } else if (taken > 0) {
    ol->pending.n -= taken - 1; /* take none of them */
  }
  pthread_mutex_unlock(&ol->lock);
  return rc;
}

static uint64_t ol_durable_lsn(void *self) {
  optimistic_logger *ol = self;
  pthread_mutex_lock(&ol->lock);
  uint64_t d = ol->durable;
  pthread_mutex_unlock(&ol->lock);
  return d;
}

static int ol_flush(void *self) {
  optimistic_logger *ol = self;
  pthread_mutex_lock(&ol->lock);
  if (!ol->threaded && ol->pending.n > 0 && ol->error == MLOG_OK)
    write_pending(ol);
  while (ol->threaded && ol->error == MLOG_OK && ol->durable + 1 < ol->next_lsn)
    pthread_cond_wait(&ol->done, &ol->lock);
  int rc = ol->error;
  pthread_mutex_unlock(&ol->lock);
  return rc;
}

static int ol_poll(void *self, uint64_t now_ms) {
  optimistic_logger *ol = self;
  if (ol->threaded) { /* report a failed background write */
    pthread_mutex_lock(&ol->lock);
    int rc = ol->error;
    pthread_mutex_unlock(&ol->lock);
    return rc;
  }
  if (now_ms - ol->last_flush_ms < ol->flush_ms)
    return MLOG_OK;
  ol->last_flush_ms = now_ms;
  return ol_flush(self);
}

static void ol_close(void *self) {
  optimistic_logger *ol = self;
  if (ol->threaded) {
    pthread_mutex_lock(&ol->lock);
    ol->stop = true;
    pthread_cond_signal(&ol->wake);
    pthread_mutex_unlock(&ol->lock);
    pthread_join(ol->thread, NULL);
  }
  pthread_cond_destroy(&ol->wake);
  pthread_cond_destroy(&ol->done);
  pthread_mutex_destroy(&ol->lock);
  mlogi_recvec_free(&ol->pending);
  mlogi_recvec_free(&ol->writing);
}

const mlog_logger_ops mlogi_optimistic_receiver = {
    .version = MLOG_LOGGER_VERSION,
    .name = "optimistic-receiver",
    .size = sizeof(optimistic_logger),
    .flags = MLOG_LOGGER_EAGER,
    .log_flags = 0,
    .open = ol_open,
    .append = ol_append,
    .durable_lsn = ol_durable_lsn,
    .flush = ol_flush,
    .close = ol_close,
    .poll = ol_poll,
};
