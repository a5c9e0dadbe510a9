/* bench_pessimistic.c - pessimistic-receiver throughput and latency against raw
 * group commit */

/*
 * Two mlog processes in this OS process on the sim transport (frame delay
 * 1..1 virtual ms, so the network costs nothing but the copies; 0..0 would
 * mean the sim's default 1..20): process 0
 * sends messages of 64 B and 1 KiB to process 1, whose handler folds a byte.
 * Both logs are durable (pessimistic-receiver, lazy meta flushes) on a real
 * disk. Scenarios and contenders, interleaved round by round (the order
 * rotates each round) so that machine noise hits them all alike:
 *
 * Saturation, per payload size and batch B (1, 64, 512 messages per commit):
 *
 *   raw_fdatasync  the physical limit: one write of B encoded records
 *                  (mlog_record_size(payload) bytes each) and one fdatasync
 *                  per batch, into a ring file written with zeros and synced
 *                  before the run
 *   mlog           the receiver is saturated: whenever it looks for frames
 *                  again after a commit, the next B have arrived. The sim
 *                  moves frames only between polls, so the receiver's
 *                  transport is the sim with a burst limit: its recv says
 *                  "nothing more" after every B data frames, as if the next
 *                  B arrived while the receiver committed. The driver keeps
 *                  16 B frames in the receiver's inbox before each poll.
 *   mlog_lockstep  the sender waits for each batch: process 1 sends one
 *                  credit message after every B deliveries and process 0's
 *                  handler answers it with the next B messages (window B),
 *                  so nothing arrives while a batch is committed and each
 *                  batch waits for an explicit sync (the idle path)
 *   mlog_nosync    "mlog" with both logs opened MLOG_PROC_NOSYNC |
 *                  MLOG_PROC_UNSAFE: the runtime's, LMDB's and the sim's CPU
 *                  cost without flushes
 *   sqlite_wal_full, rocksdb_sync
 *                  what a user would pick instead (bench/peers.h): the same
 *                  B encoded records stored as B rows or keys in one durable
 *                  transaction per batch (when this build links them)
 *
 * In "mlog" and "mlog_nosync" the sender is driven by credits too (one per
 * max(4 B, 64) deliveries, window 16 B + 2 credits), so every send is a
 * handler's send: a send outside a handler would be logged and flushed by
 * the sender before it leaves. Only the receiver's polls are timed (the
 * sender and the driver stand for other machines); records/s is the
 * receiver's deliveries over that time. The first two polls are not timed.
 *
 * One at a time (ping-pong), per payload size: process 1 answers each
 * message with one of the same size and process 0 answers that, one message
 * outstanding. Each message's latency runs from its send in one handler to
 * its delivery in the other (everything between is timed: the sender's
 * poll, the sim, the receiver's poll), and is also given in units of one
 * flush: the p50 of raw_fdatasync (one write of one record and one
 * fdatasync) in the same round.
 *
 * Flushes are counted, not guessed: the processes log through a logger that
 * wraps the built-in pessimistic receiver and counts its commits (one
 * fdatasync each) and the explicit syncs that had something to flush (one
 * fdatasync each), and times them. Checkpoints are off. Nothing here asserts
 * on wall-clock time.
 */

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mlog/logger.h>
#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/sim.h>
#include <mlog/transport.h>

#include "bench/benchlib.h"
#include "bench/peers.h"

#define SENDER 0u
#define RECEIVER 1u
#define WARMUP_POLLS 2     /* saturation: receiver polls not timed */
#define WARMUP_MESSAGES 4  /* ping-pong: messages not timed */
#define STOCK_BATCHES 16   /* saturation: batches kept in the inbox */
#define MIN_CREDIT 64      /* saturation: deliveries per credit, at least */
#define CREDIT_BATCHES 4   /* saturation: batches per credit, at least */
#define SIM_SEED 20261122u /* any: the sim's choices follow it */
#define COUNTING_LOGGER "bench-pessimistic-receiver"

static const uint32_t payload_sizes[] = {64, 1024, 16384};
static const size_t batch_sizes[] = {1, 64, 512};
#define N_SIZES (sizeof payload_sizes / sizeof payload_sizes[0])
#define N_BATCHES (sizeof batch_sizes / sizeof batch_sizes[0])

static const bench_budget quick_budget = {"quick", 3, 0.05, 5, 0.3};
static const bench_budget default_budget = {"default", 3, 0.3, 200, 2.0};
static const bench_budget full_budget = {"full", 7, 0.5, 200, 2.0};

typedef enum scenario { S_SATURATION, S_PINGPONG, S_COUNT } scenario;

static const char *const scenario_names[S_COUNT] = {
    [S_SATURATION] = "saturation",
    [S_PINGPONG] = "pingpong",
};

typedef enum contender {
  C_RAW,
  C_MLOG,
  C_MLOG_LOCKSTEP,
  C_MLOG_NOSYNC,
  C_SQLITE,
  C_ROCKSDB,
  C_COUNT
} contender;

static const char *const contender_names[C_COUNT] = {
    [C_RAW] = "raw_fdatasync",           [C_MLOG] = "mlog",
    [C_MLOG_LOCKSTEP] = "mlog_lockstep", [C_MLOG_NOSYNC] = "mlog_nosync",
    [C_SQLITE] = "sqlite_wal_full",      [C_ROCKSDB] = "rocksdb_sync",
};

/* The peer a contender is, or BENCH_PEER_COUNT for the others. */
static bench_peer_kind peer_of(contender c) {
  return c == C_SQLITE    ? BENCH_PEER_SQLITE
         : c == C_ROCKSDB ? BENCH_PEER_ROCKSDB
                          : BENCH_PEER_COUNT;
}

/* Whether contender c runs in scenario s: the stores only at saturation,
 * where batch 1 is their one-at-a-time commit. */
static bool runs_in(contender c, scenario s) {
  if (s == S_SATURATION)
    return true;
  return c != C_MLOG_LOCKSTEP && peer_of(c) == BENCH_PEER_COUNT;
}

/* Contenders that store the encoded batch themselves (no mlog process). */
static bool is_store(contender c) {
  return c == C_RAW || peer_of(c) != BENCH_PEER_COUNT;
}

static bool durable(contender c) {
  return c != C_MLOG_NOSYNC;
}

/* ------------------------------------------------------------------------ */
/* A logger that counts: the pessimistic receiver, wrapped                  */

/* What one process's logger did. */
typedef struct log_counts {
  uint64_t appends;     /* commits, one fdatasync each when durable */
  uint64_t dlv_appends; /* commits holding deliveries */
  uint64_t deliveries;  /* delivery records committed */
  uint64_t records;     /* records committed (deliveries, marks, ...) */
  uint64_t syncs;       /* explicit syncs with something to flush */
  double append_secs, sync_secs;
} log_counts;

/* Indexed by process id; the bench runs one pair of processes at a time. */
static log_counts counts[2];
static const mlog_logger_ops *inner_logger;

typedef struct counting {
  void *inner; /* the pessimistic receiver's state */
  log_counts *c;
  uint64_t last_lsn; /* the last lsn appended */
} counting;

static int cl_open(void *self, mlog_log *log,
                   const mlog_logger_params *params) {
  counting *cl = self;
  mlog_log_info info;
  int rc = mlog_log_get_info(log, &info);
  if (rc != MLOG_OK)
    return rc;
  if (info.process_id >= 2)
    return MLOG_EINVAL;
  cl->c = &counts[info.process_id];
  cl->last_lsn = info.last_lsn;
  cl->inner = calloc(1, inner_logger->size ? inner_logger->size : 1);
  if (cl->inner == NULL)
    return MLOG_ENOMEM;
  rc = inner_logger->open(cl->inner, log, params);
  if (rc != MLOG_OK) {
    free(cl->inner);
    cl->inner = NULL;
  }
  return rc;
}

static int cl_append(void *self, mlog_record *recs, size_t n) {
  counting *cl = self;
  double t0 = bench_now();
  int rc = inner_logger->append(cl->inner, recs, n);
  cl->c->append_secs += bench_now() - t0;
  if (rc != MLOG_OK || n == 0)
    return rc;
  uint64_t dlv = 0;
  for (size_t i = 0; i < n; i++)
    dlv += recs[i].type == MLOG_REC_DELIVERY;
  cl->c->appends++;
  cl->c->dlv_appends += dlv > 0;
  cl->c->deliveries += dlv;
  cl->c->records += n;
  cl->last_lsn = recs[n - 1].lsn;
  return rc;
}

static uint64_t cl_durable_lsn(void *self) {
  counting *cl = self;
  return inner_logger->durable_lsn(cl->inner);
}

static int cl_flush(void *self) {
  counting *cl = self;
  bool owed = inner_logger->durable_lsn(cl->inner) < cl->last_lsn;
  double t0 = bench_now();
  int rc = inner_logger->flush(cl->inner);
  if (owed) {
    cl->c->sync_secs += bench_now() - t0;
    cl->c->syncs++;
  }
  return rc;
}

static void cl_close(void *self) {
  counting *cl = self;
  if (cl->inner != NULL && inner_logger->close != NULL)
    inner_logger->close(cl->inner);
  free(cl->inner);
  cl->inner = NULL;
}

/* flags and log_flags must be the wrapped logger's (checked in main). */
static const mlog_logger_ops counting_logger = {
    .version = MLOG_LOGGER_VERSION,
    .name = COUNTING_LOGGER,
    .size = sizeof(counting),
    .flags = 0,
    .log_flags = MLOG_LOG_LAZYMETA,
    .open = cl_open,
    .append = cl_append,
    .durable_lsn = cl_durable_lsn,
    .flush = cl_flush,
    .close = cl_close,
};

/* ------------------------------------------------------------------------ */
/* The sim with a burst limit (the saturated receiver's transport)          */

/* A burst counts data frames only: the acknowledgements that the sender
 * interleaves with its messages must not split a batch. A frame is taken
 * for a data frame when it is longer than the payload: control frames are a
 * bare envelope, and every payload of this benchmark is longer than that. */
typedef struct burst_config {
  mlog_sim *sim;
  size_t burst;       /* data frames per receive; 0: no limit */
  size_t payload_len; /* data frames are longer than this */
  uint64_t *taken;    /* counts the frames handed out */
} burst_config;

typedef struct burst_ep {
  void *inner; /* the sim endpoint */
  size_t burst, left, payload_len;
  uint64_t *taken;
} burst_ep;

static int burst_open(void *self, const void *config, uint32_t id,
                      uint32_t group_size) {
  burst_ep *ep = self;
  const burst_config *bc = config;
  if (bc == NULL || bc->taken == NULL)
    return MLOG_EINVAL;
  ep->inner = calloc(1, mlog_sim_ops.size ? mlog_sim_ops.size : 1);
  if (ep->inner == NULL)
    return MLOG_ENOMEM;
  int rc = mlog_sim_ops.open(ep->inner, bc->sim, id, group_size);
  if (rc != MLOG_OK) {
    free(ep->inner);
    ep->inner = NULL;
    return rc;
  }
  ep->burst = ep->left = bc->burst;
  ep->payload_len = bc->payload_len;
  ep->taken = bc->taken;
  return MLOG_OK;
}

static int burst_send(void *self, uint32_t dst, const void *frame, size_t len) {
  burst_ep *ep = self;
  return mlog_sim_ops.send(ep->inner, dst, frame, len);
}

/* After `burst` data frames, one MLOG_EAGAIN: the runtime commits what it
 * has, and its next receive finds the next burst. */
static int burst_recv(void *self, int timeout_ms, uint32_t *src,
                      const void **frame, size_t *len) {
  burst_ep *ep = self;
  if (ep->burst && ep->left == 0) {
    ep->left = ep->burst;
    return MLOG_EAGAIN;
  }
  int rc = mlog_sim_ops.recv(ep->inner, timeout_ms, src, frame, len);
  if (rc == MLOG_OK) {
    (*ep->taken)++;
    if (ep->burst && *len > ep->payload_len)
      ep->left--;
  } else if (rc == MLOG_EAGAIN) {
    ep->left = ep->burst;
  }
  return rc;
}

static uint64_t burst_now_ms(void *self) {
  burst_ep *ep = self;
  return mlog_sim_ops.now_ms(ep->inner);
}

static void burst_close(void *self) {
  burst_ep *ep = self;
  if (ep->inner != NULL)
    mlog_sim_ops.close(ep->inner);
  free(ep->inner);
  ep->inner = NULL;
}

static const mlog_transport_ops burst_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "sim-burst",
    .size = sizeof(burst_ep),
    .open = burst_open,
    .send = burst_send,
    .recv = burst_recv,
    .now_ms = burst_now_ms,
    .close = burst_close,
};

/* ------------------------------------------------------------------------ */
/* The application                                                          */

struct pair;

/* One process's application state. */
typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  struct pair *pr;
  uint32_t id;
} node;

/* The two processes of one measurement and what drives them. */
typedef struct pair {
  scenario sc;
  contender who;
  uint32_t payload_len;
  const uint8_t *payload;
  size_t batch;
  uint64_t credit; /* the receiver sends a credit per this many deliveries */
  uint64_t window; /* the first credit */
  uint64_t stock;  /* frames kept in the receiver's inbox before a poll */
  uint64_t moved;  /* frames moved to the receiver's inbox */
  uint64_t taken;  /* frames its transport handed out */
  mlog_sim *sim;
  mlog_proc *p[2];
  node app[2];
  bench_lat *lat; /* ping-pong: message latencies */
  bool timing;    /* ping-pong: record latencies */
  double sent_at; /* ping-pong: when the message in flight was sent */
  char err[512];
} pair;

static int pfail(pair *pr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int pfail(pair *pr, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->err, sizeof pr->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* Deliver: fold a byte; then, by scenario and role, answer. The clock read
 * in ping-pong is measurement only: it never reaches the state. */
static int node_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                        size_t len) {
  node *nd = arg;
  pair *pr = nd->pr;
  (void)src;
  bench_fold_add(&nd->st, msg, len);
  if (pr->sc == S_PINGPONG) {
    double now = bench_now();
    if (pr->timing && bench_lat_add(pr->lat, now - pr->sent_at) != 0)
      return -1;
    pr->sent_at = now;
    return mlog_send(p, nd->id == SENDER ? RECEIVER : SENDER, pr->payload,
                     pr->payload_len);
  }
  if (nd->id == RECEIVER) {
    if (nd->st.count % pr->credit != 0)
      return 0;
    uint8_t c[8];
    bench_put_le64(c, pr->credit);
    return mlog_send(p, SENDER, c, sizeof c);
  }
  if (len != 8)
    return -1;
  for (uint64_t i = bench_get_le64(msg); i > 0; i--) {
    int rc = mlog_send(p, RECEIVER, pr->payload, pr->payload_len);
    if (rc != MLOG_OK)
      return rc;
  }
  return 0;
}

static const mlog_app node_app = {
    .deliver = node_deliver,
    .snapshot = bench_fold_snapshot,
    .restore = bench_fold_restore,
};

/* ------------------------------------------------------------------------ */
/* Driving the pair                                                         */

static int open_pair(pair *pr, const char *dirpath) {
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = 2, .min_delay_ms = 1, .max_delay_ms = 1};
  if (mkdir(dirpath, 0750) != 0)
    return pfail(pr, "mkdir %s: %s", dirpath, strerror(errno));
  int rc = mlog_sim_create(&so, &pr->sim);
  if (rc != MLOG_OK)
    return pfail(pr, "mlog_sim_create: %s", mlog_strerror(rc));
  burst_config bc = {.sim = pr->sim,
                     .burst = pr->batch,
                     .payload_len = pr->payload_len,
                     .taken = &pr->taken};
  for (uint32_t id = 0; id < 2; id++) {
    char sub[PATH_MAX + 80];
    snprintf(sub, sizeof sub, "%s/p%u", dirpath, id);
    bool burst = id == RECEIVER && pr->sc == S_SATURATION;
    mlog_proc_config cfg = {
        .dirpath = sub,
        .id = id,
        .group_size = 2,
        .protocol = COUNTING_LOGGER,
        .transport = burst ? &burst_ops : &mlog_sim_ops,
        .transport_config = burst ? (const void *)&bc : (const void *)pr->sim,
        .flags = durable(pr->who) ? 0 : MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
    pr->app[id] = (node){.pr = pr, .id = id};
    rc = mlog_proc_open(&cfg, &node_app, &pr->app[id], &pr->p[id]);
    if (rc != MLOG_OK)
      return pfail(pr, "mlog_proc_open %s: %s (%s)", sub, mlog_errname(rc),
                   mlog_proc_errmsg(NULL));
  }
  return 0;
}

static void close_pair(pair *pr) {
  for (int id = 0; id < 2; id++) {
    mlog_proc_close(pr->p[id]);
    pr->p[id] = NULL;
  }
  mlog_sim_destroy(pr->sim);
  pr->sim = NULL;
}

static int poll_proc(pair *pr, uint32_t id, int *delivered) {
  int n = mlog_proc_poll(pr->p[id], 0);
  if (n < 0)
    return pfail(pr, "poll of process %u: %s (%s)", id, mlog_errname(-n),
                 mlog_proc_errmsg(pr->p[id]));
  if (delivered != NULL)
    *delivered = n;
  return 0;
}

/* The receiver's poll: the timed part of a saturation measurement, with a
 * symbol of its own for profilers (callgrind --toggle-collect=poll_receiver).
 */
__attribute__((noinline)) static int poll_receiver(pair *pr, int *delivered) {
  return poll_proc(pr, RECEIVER, delivered);
}

/* Move frames until the receiver's inbox holds pr->stock frames (data and
 * acknowledgements) or nothing is in flight; the sender polls whenever a
 * frame reaches it (untimed: it stands for another machine). */
static int stock_receiver(pair *pr) {
  while (pr->moved - pr->taken < pr->stock) {
    uint32_t dst;
    int rc = mlog_sim_step(pr->sim, &dst);
    if (rc == MLOG_EAGAIN)
      return 0;
    if (rc != MLOG_OK)
      return pfail(pr, "mlog_sim_step: %s", mlog_strerror(rc));
    if (dst == RECEIVER)
      pr->moved++;
    else if (poll_proc(pr, SENDER, NULL) != 0)
      return -1;
  }
  return 0;
}

/* Let the processes exchange their hellos, then send from the receiver
 * outside a handler (logged and flushed there): the first credit, or the
 * first ping-pong message. Untimed. */
static int seed_pair(pair *pr) {
  uint32_t dst;
  int rc;
  while ((rc = mlog_sim_step(pr->sim, &dst)) == MLOG_OK) {
    pr->moved += dst == RECEIVER;
    if (poll_proc(pr, dst, NULL) != 0)
      return -1;
  }
  if (rc != MLOG_EAGAIN)
    return pfail(pr, "mlog_sim_step: %s", mlog_strerror(rc));
  uint8_t c[8];
  bench_put_le64(c, pr->window);
  rc = pr->sc == S_PINGPONG
           ? mlog_send(pr->p[RECEIVER], SENDER, pr->payload, pr->payload_len)
           : mlog_send(pr->p[RECEIVER], SENDER, c, sizeof c);
  return rc == MLOG_OK ? 0
                       : pfail(pr, "first send: %s (%s)", mlog_errname(rc),
                               mlog_proc_errmsg(pr->p[RECEIVER]));
}

/* What a measurement of a pair adds to its bench_sample. */
typedef struct extra {
  log_counts rcv;      /* the receiver's logger during the timed part */
  log_counts both;     /* both loggers during the timed part (ping-pong) */
  uint64_t polls;      /* timed receiver polls */
  uint64_t resent;     /* frames resent by either process (should be 0) */
  uint64_t fdatasyncs; /* counted: commits + syncs of the durable logs */
  double wall_secs;    /* the measurement's wall-clock time */
} extra;

static log_counts counts_diff(const log_counts *a, const log_counts *b) {
  return (log_counts){.appends = a->appends - b->appends,
                      .dlv_appends = a->dlv_appends - b->dlv_appends,
                      .deliveries = a->deliveries - b->deliveries,
                      .records = a->records - b->records,
                      .syncs = a->syncs - b->syncs,
                      .append_secs = a->append_secs - b->append_secs,
                      .sync_secs = a->sync_secs - b->sync_secs};
}

static void counts_add(log_counts *a, const log_counts *b) {
  a->appends += b->appends;
  a->dlv_appends += b->dlv_appends;
  a->deliveries += b->deliveries;
  a->records += b->records;
  a->syncs += b->syncs;
  a->append_secs += b->append_secs;
  a->sync_secs += b->sync_secs;
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                */

typedef struct bench {
  bench_budget b;
  char scratch[PATH_MAX]; /* our mkdtemp directory */
  uint8_t *payload;
  bench_lat lat;   /* latencies of the current measurement */
  unsigned serial; /* numbers the measurement directories */
  bool verbose;
  bool enabled[C_COUNT];
  bool scenarios[S_COUNT];
} bench;

/* One durable batch of a store contender. */
static int store_commit(pair *pr, bench_ring *ring, bench_peer *peer,
                        const uint8_t *encoded) {
  size_t rec_bytes = mlog_record_size(pr->payload_len);
  if (peer != NULL)
    return bench_peer_commit(peer, encoded, rec_bytes, pr->batch, pr->err,
                             sizeof pr->err);
  return bench_ring_commit(ring, encoded, pr->batch * rec_bytes, pr->err,
                           sizeof pr->err);
}

/* raw_fdatasync (one write and one fdatasync per batch) and the peers (one
 * transaction per batch): each commit is timed. */
static int run_store(bench *bn, pair *pr, const char *dirpath,
                     const uint8_t *encoded, bench_sample *out) {
  size_t bytes = pr->batch * mlog_record_size(pr->payload_len);
  bench_ring ring = {.fd = -1};
  bench_peer *peer = NULL;
  double timed = 0, wall0 = bench_now();
  uint64_t n = 0;
  bench_peer_kind kind = peer_of(pr->who);
  int rc =
      kind != BENCH_PEER_COUNT
          ? bench_peer_open(&peer, kind, dirpath, pr->err, sizeof pr->err)
          : bench_ring_open(&ring, dirpath, bytes, pr->err, sizeof pr->err);
  while (rc == 0 && !bench_interrupted &&
         !bench_budget_spent(&bn->b, timed, n, wall0)) {
    double t0 = bench_now();
    rc = store_commit(pr, &ring, peer, encoded);
    double dt = bench_now() - t0;
    if (rc == 0 && bench_lat_add(&bn->lat, dt) != 0)
      rc = pfail(pr, "out of memory");
    timed += dt;
    n++;
  }
  bench_ring_close(&ring);
  bench_peer_close(peer);
  *out = (bench_sample){
      .secs = timed, .commits = n, .records = n * (uint64_t)pr->batch};
  return rc;
}

/* Saturation (mlog, mlog_nosync) and lockstep: time the receiver's polls. */
static int run_flow(bench *bn, pair *pr, const char *dirpath, bench_sample *out,
                    extra *ex) {
  bool lockstep = pr->who == C_MLOG_LOCKSTEP;
  size_t b = pr->batch;
  pr->credit = lockstep ? b
                        : (CREDIT_BATCHES * b > MIN_CREDIT ? CREDIT_BATCHES * b
                                                           : MIN_CREDIT);
  /* lockstep: move everything in flight (the batch and the sender's acks) */
  pr->stock = lockstep ? UINT64_MAX : STOCK_BATCHES * b;
  pr->window = lockstep ? b : pr->stock + 2 * pr->credit;
  double timed = 0, wall0 = bench_now();
  uint64_t polls = 0, records = 0;
  log_counts base = {0};
  int rc = open_pair(pr, dirpath);
  if (rc == 0)
    rc = seed_pair(pr);
  while (rc == 0 && !bench_interrupted) {
    uint64_t batches = counts[RECEIVER].dlv_appends - base.dlv_appends;
    if (polls > WARMUP_POLLS &&
        bench_budget_spent(&bn->b, timed, batches, wall0))
      break;
    rc = stock_receiver(pr);
    if (rc != 0)
      break;
    if (pr->moved == pr->taken) {
      rc = pfail(pr, "stalled: nothing in flight for the receiver");
      break;
    }
    if (polls == WARMUP_POLLS)
      base = counts[RECEIVER];
    int n = 0;
    double t0 = bench_now();
    rc = poll_receiver(pr, &n);
    double dt = bench_now() - t0;
    if (rc != 0)
      break;
    if (polls++ < WARMUP_POLLS)
      continue;
    timed += dt;
    records += (uint64_t)n;
    if (n > 0 && bench_lat_add(&bn->lat, dt * (double)b / n) != 0)
      rc = pfail(pr, "out of memory");
  }
  ex->rcv = counts_diff(&counts[RECEIVER], &base);
  ex->polls = polls > WARMUP_POLLS ? polls - WARMUP_POLLS : 0;
  ex->fdatasyncs = durable(pr->who) ? ex->rcv.appends + ex->rcv.syncs : 0;
  for (int id = 0; id < 2 && pr->p[id]; id++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(pr->p[id], &st);
    ex->resent += st.resent;
  }
  *out = (bench_sample){
      .secs = timed, .commits = ex->rcv.dlv_appends, .records = records};
  return rc;
}

/* Ping-pong: one message outstanding; everything is timed. */
static int run_pingpong(bench *bn, pair *pr, const char *dirpath,
                        bench_sample *out, extra *ex) {
  double wall0 = bench_now(), t_start = 0;
  log_counts base[2] = {{0}};
  pr->lat = &bn->lat;
  int rc = open_pair(pr, dirpath);
  if (rc == 0)
    rc = seed_pair(pr);
  uint64_t warm = 0;
  while (rc == 0 && !bench_interrupted) {
    if (pr->timing &&
        bench_budget_spent(&bn->b, bench_now() - t_start, bn->lat.n, wall0))
      break;
    if (!pr->timing && warm >= WARMUP_MESSAGES) {
      pr->timing = true;
      base[0] = counts[0];
      base[1] = counts[1];
      t_start = bench_now();
    }
    bool got[2] = {false, false};
    uint32_t dst;
    while ((rc = mlog_sim_step(pr->sim, &dst)) == MLOG_OK)
      got[dst] = true;
    if (rc != MLOG_EAGAIN) {
      rc = pfail(pr, "mlog_sim_step: %s", mlog_strerror(rc));
      break;
    }
    if (!got[0] && !got[1]) {
      rc = pfail(pr, "stalled: no message in flight");
      break;
    }
    rc = 0;
    for (uint32_t id = 0; id < 2 && rc == 0; id++) {
      int n = 0;
      if (got[id])
        rc = poll_proc(pr, id, &n);
      if (!pr->timing)
        warm += (uint64_t)n;
    }
  }
  double timed = pr->timing ? bench_now() - t_start : 0;
  ex->both = counts_diff(&counts[0], &base[0]);
  log_counts d1 = counts_diff(&counts[1], &base[1]);
  counts_add(&ex->both, &d1);
  ex->rcv = d1;
  ex->fdatasyncs = durable(pr->who) ? ex->both.appends + ex->both.syncs : 0;
  for (int id = 0; id < 2 && pr->p[id]; id++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(pr->p[id], &st);
    ex->resent += st.resent;
  }
  *out =
      (bench_sample){.secs = timed, .commits = bn->lat.n, .records = bn->lat.n};
  return rc;
}

/* Run one measurement of `who` on a fresh directory. Returns 0, or -1 with
 * the cause printed. */
static int measure(bench *bn, scenario sc, contender who, uint32_t payload_len,
                   size_t batch, const uint8_t *encoded, bench_sample *out,
                   extra *ex) {
  pair pr = {.sc = sc,
             .who = who,
             .payload_len = payload_len,
             .payload = bn->payload,
             .batch = batch};
  char dirpath[PATH_MAX + 64];
  if (snprintf(dirpath, sizeof dirpath, "%s/m%u-%s", bn->scratch, bn->serial++,
               contender_names[who]) >= (int)sizeof dirpath) {
    fprintf(stderr, "bench_pessimistic: %s: path too long\n", bn->scratch);
    return -1;
  }
  memset(counts, 0, sizeof counts);
  *ex = (extra){0};
  bn->lat.n = 0;
  double wall0 = bench_now();
  int rc = is_store(who)      ? run_store(bn, &pr, dirpath, encoded, out)
           : sc == S_PINGPONG ? run_pingpong(bn, &pr, dirpath, out, ex)
                              : run_flow(bn, &pr, dirpath, out, ex);
  close_pair(&pr);
  ex->wall_secs = bench_now() - wall0;
  if (bench_remove_tree(dirpath) != 0 && rc == 0)
    rc = pfail(&pr, "cannot remove %s: %s", dirpath, strerror(errno));
  /* Commit the deletion now, so that it is not charged to the next
   * contender's first commits. */
  bench_settle_fs(bn->scratch);
  if (rc != 0) {
    fprintf(stderr, "\nbench_pessimistic: %s %s (payload %u, batch %zu): %s\n",
            scenario_names[sc], contender_names[who], payload_len, batch,
            pr.err);
    return -1;
  }
  if (out->records == 0) {
    if (!bench_interrupted)
      fprintf(stderr,
              "\nbench_pessimistic: %s %s (payload %u, batch %zu): "
              "nothing delivered\n",
              scenario_names[sc], contender_names[who], payload_len, batch);
    return -1;
  }
  bench_lat_summary(&bn->lat, &out->p50_us, &out->p99_us, &out->max_us);
  if (bn->verbose)
    fprintf(
        stderr,
        "\n  %-14s %8llu records %7.3f s (wall %6.2f s)  p50 %8.1f us  "
        "p99 %8.1f  commits %llu syncs %llu resent %llu",
        contender_names[who], (unsigned long long)out->records, out->secs,
        ex->wall_secs, out->p50_us, out->p99_us,
        (unsigned long long)(sc == S_PINGPONG ? ex->both.appends
                                              : ex->rcv.appends),
        (unsigned long long)(sc == S_PINGPONG ? ex->both.syncs : ex->rcv.syncs),
        (unsigned long long)ex->resent);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

typedef struct row {
  scenario sc;
  uint32_t payload_len;
  size_t batch;
  bench_sample med[C_COUNT];       /* each contender's median round */
  extra med_ex[C_COUNT];           /* ... and what it counted */
  double to_raw[C_COUNT];          /* saturation: paired records/s ratio to raw;
                                      ping-pong: paired p50 latency over raw p50 */
  double p99_to_raw[C_COUNT];      /* ping-pong: paired p99 over raw p50 */
  double mlog_to[C_COUNT];         /* saturation: paired records/s ratio of
                                      mlog to each contender */
  double raw_p50_min, raw_p50_max; /* raw_fdatasync's p50 over the rounds */
} row;

/* A disk whose flush latency moved a lot between the rounds of a row (a
 * virtual disk can fall from ~60 us to ~4 ms flushes for a while): the
 * row's ratios pair rounds of different regimes. */
#define UNSTEADY_FACTOR 3.0

static bool unsteady(const row *rw) {
  return rw->raw_p50_max > UNSTEADY_FACTOR * rw->raw_p50_min;
}

/* Print a note under a row measured on an unsteady disk. */
static void note_unsteady(const row *rw) {
  if (unsteady(rw))
    printf("        (unsteady disk: raw_fdatasync's p50 ranged %.0f..%.0f us "
           "over the rounds)\n",
           rw->raw_p50_min, rw->raw_p50_max);
}

/* The median over rounds of a's latency percentile over b's p50 in the same
 * round (ping-pong: a message's latency in flushes). */
static double paired_latency_ratio(const bench_sample *a, const bench_sample *b,
                                   unsigned n, bool p99) {
  double v[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++)
    v[i] =
        b[i].p50_us > 0 ? (p99 ? a[i].p99_us : a[i].p50_us) / b[i].p50_us : 0;
  return bench_median(v, n);
}

static void print_saturation(const bench *bn, const row *rows, size_t nrows) {
  printf("\nSaturation: receiver deliveries against one write + fdatasync "
         "per batch\n");
  printf("%-7s %5s  %-14s %11s %9s %8s %8s %9s %9s %7s\n", "payload", "batch",
         "contender", "records/s", "dlv/cmt", "fsync/b", "polls", "p50 us/b",
         "p99 us/b", "vs raw");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_SATURATION)
      continue;
    for (int c = 0; c < C_COUNT; c++) {
      if (!bn->enabled[c] || !runs_in((contender)c, rw->sc))
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      char dpc[16] = "", fpb[16] = "", polls[16] = "", ratio[16] = "";
      if (!is_store((contender)c)) {
        snprintf(dpc, sizeof dpc, "%.2f",
                 bench_per(ex->rcv.deliveries, ex->rcv.dlv_appends));
        snprintf(fpb, sizeof fpb, "%.3f",
                 bench_per(ex->fdatasyncs, s->commits));
        snprintf(polls, sizeof polls, "%llu", (unsigned long long)ex->polls);
      } else {
        snprintf(dpc, sizeof dpc, "%zu", rw->batch);
        if (c == C_RAW)
          snprintf(fpb, sizeof fpb, "1");
      }
      if (c != C_RAW && bn->enabled[C_RAW])
        snprintf(ratio, sizeof ratio, "%.3f", rw->to_raw[c]);
      printf("%-7u %5zu  %-14s %11.0f %9s %8s %8s %9.1f %9.1f %7s\n",
             rw->payload_len, rw->batch, contender_names[c],
             bench_records_per_sec(s), dpc, fpb, polls, s->p50_us, s->p99_us,
             ratio);
    }
    note_unsteady(rw);
    printf("\n");
  }
  printf("Where a batch's time goes (median round, us per committed batch): "
         "the log's\ncommit (LMDB transaction incl. its fdatasync), the "
         "explicit syncs, and the\nrest of the receiver's poll (runtime, sim "
         "transport, handler):\n");
  printf("%-7s %5s  %-14s %9s %9s %9s %9s %9s\n", "payload", "batch",
         "contender", "total", "commit", "sync", "rest", "raw");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_SATURATION)
      continue;
    for (int c = C_MLOG; c < C_COUNT; c++) {
      if (!bn->enabled[c] || is_store((contender)c))
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      double nb = (double)(s->commits ? s->commits : 1);
      double total = s->secs / nb * 1e6;
      double cm = ex->rcv.append_secs / nb * 1e6;
      double sy = ex->rcv.sync_secs / nb * 1e6;
      const bench_sample *raw = &rw->med[C_RAW];
      printf("%-7u %5zu  %-14s %9.1f %9.1f %9.1f %9.1f %9.1f\n",
             rw->payload_len, rw->batch, contender_names[c], total, cm, sy,
             total - cm - sy,
             raw->commits ? raw->secs / (double)raw->commits * 1e6 : 0);
    }
  }
}

static void print_pingpong(const bench *bn, const row *rows, size_t nrows) {
  printf("\nOne at a time (ping-pong): a message's latency from its send to "
         "its delivery\n");
  printf("%-7s  %-14s %10s %9s %9s %9s %10s %10s\n", "payload", "contender",
         "msgs/s", "p50 us", "p99 us", "fsync/m", "p50 flush", "p99 flush");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_PINGPONG)
      continue;
    for (int c = 0; c < C_COUNT; c++) {
      if (!bn->enabled[c] || !runs_in((contender)c, rw->sc))
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      char fpm[16] = "1", r50[16] = "1", r99[16] = "";
      if (c != C_RAW) {
        snprintf(fpm, sizeof fpm, "%.3f",
                 bench_per(ex->fdatasyncs, s->records));
        r50[0] = '\0';
        if (bn->enabled[C_RAW]) {
          snprintf(r50, sizeof r50, "%.3f", rw->to_raw[c]);
          snprintf(r99, sizeof r99, "%.3f", rw->p99_to_raw[c]);
        }
      }
      printf("%-7u  %-14s %10.0f %9.1f %9.1f %9s %10s %10s\n", rw->payload_len,
             contender_names[c], bench_records_per_sec(s), s->p50_us, s->p99_us,
             fpm, r50, r99);
    }
    note_unsteady(rw);
    printf("\n");
  }
  printf("p50/p99 flush: the latency over raw_fdatasync's p50 (one write + "
         "fdatasync of\none record) in the same round, median over rounds.\n");
}

/* Print one target's verdict. */
static void print_target(const row *rw, const char *what, double v, bool ok) {
  printf("  %-10s payload %5u batch %3zu: %-26s %6.3f %s%s\n",
         scenario_names[rw->sc], rw->payload_len, rw->batch, what, v,
         ok ? "met" : "MISSED", unsteady(rw) ? " (unsteady disk)" : "");
}

/* The targets of the issue, checked on the median rows: at saturation,
 * >= 0.8 x raw for 64 B and 1 KiB at batch 512 and ahead of each peer at
 * batches 64 and 512; one at a time, <= 2.2 flushes per message. */
static void print_targets(const bench *bn, const row *rows, size_t nrows) {
  if (!bn->enabled[C_MLOG])
    return;
  printf("\nTargets (issue 7):\n");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc == S_PINGPONG) {
      if (bn->enabled[C_RAW])
        print_target(rw, "p50 in flushes <= 2.2", rw->to_raw[C_MLOG],
                     rw->to_raw[C_MLOG] <= 2.2);
      continue;
    }
    if (bn->enabled[C_RAW] && rw->batch == 512 && rw->payload_len <= 1024)
      print_target(rw, "mlog / raw >= 0.8", rw->to_raw[C_MLOG],
                   rw->to_raw[C_MLOG] >= 0.8);
    for (int c = C_SQLITE; c <= C_ROCKSDB && rw->batch >= 64; c++) {
      if (!bn->enabled[c])
        continue;
      char what[48];
      snprintf(what, sizeof what, "mlog / %s > 1", contender_names[c]);
      print_target(rw, what, rw->mlog_to[c], rw->mlog_to[c] > 1);
    }
  }
}

static json_t *params_json(const bench *bn, const row *rw, contender c,
                           const bench_fs *fi) {
  return json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:i, s:s, s:b}", "contender",
                   contender_names[c], "scenario", scenario_names[rw->sc],
                   "payload_bytes", (int)rw->payload_len, "record_bytes",
                   (int)mlog_record_size(rw->payload_len), "batch",
                   (int)rw->batch, "mode", bn->b.mode, "rounds",
                   (int)bn->b.rounds, "fs", fi->type, "durable",
                   !fi->memory && durable(c));
}

/* One result of contender c in row rw, against contender b's base value
 * (b C_COUNT: no baseline). */
static int add_result(json_t *arr, const bench *bn, const row *rw, contender c,
                      const bench_fs *fi, const char *metric, double value,
                      const char *unit, contender b, double base,
                      double ratio) {
  char name[96];
  snprintf(name, sizeof name, "pessimistic_%s/%s", scenario_names[rw->sc],
           contender_names[c]);
  return bench_json_add(arr, name, params_json(bn, rw, c, fi), metric, value,
                        unit, b < C_COUNT ? contender_names[b] : NULL, base,
                        ratio);
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const bench_fs *fi) {
  json_t *arr = json_array();
  int rc = arr ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < nrows; i++) {
    const row *rw = &rows[i];
    const bench_sample *raw = &rw->med[C_RAW];
    bool have_raw = bn->enabled[C_RAW];
    for (int ci = 0; rc == 0 && ci < C_COUNT; ci++) {
      contender c = (contender)ci;
      if (!bn->enabled[c] || !runs_in(c, rw->sc))
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      contender vs = have_raw && c != C_RAW ? C_RAW : C_COUNT;
      if (rw->sc == S_SATURATION) {
        rc |= add_result(arr, bn, rw, c, fi, "records_per_s",
                         bench_records_per_sec(s), "records/s", vs,
                         bench_records_per_sec(raw), rw->to_raw[c]);
        rc |= add_result(arr, bn, rw, c, fi, "batch_time_p50", s->p50_us, "us",
                         C_COUNT, 0, 0);
        rc |= add_result(arr, bn, rw, c, fi, "batch_time_p99", s->p99_us, "us",
                         C_COUNT, 0, 0);
        for (int pc = C_SQLITE; c == C_MLOG && pc <= C_ROCKSDB; pc++)
          if (bn->enabled[pc])
            rc |= add_result(arr, bn, rw, c, fi, "records_per_s",
                             bench_records_per_sec(s), "records/s",
                             (contender)pc, bench_records_per_sec(&rw->med[pc]),
                             rw->mlog_to[pc]);
        if (!is_store(c)) {
          rc |= add_result(arr, bn, rw, c, fi, "fdatasyncs_per_batch",
                           bench_per(ex->fdatasyncs, s->commits), "fdatasyncs",
                           C_COUNT, 0, 0);
          rc |= add_result(arr, bn, rw, c, fi, "deliveries_per_commit",
                           bench_per(ex->rcv.deliveries, ex->rcv.dlv_appends),
                           "deliveries", C_COUNT, 0, 0);
        }
      } else {
        rc |= add_result(arr, bn, rw, c, fi, "message_latency_p50", s->p50_us,
                         "us", vs, raw->p50_us, rw->to_raw[c]);
        rc |= add_result(arr, bn, rw, c, fi, "message_latency_p99", s->p99_us,
                         "us", vs, raw->p50_us, rw->p99_to_raw[c]);
        rc |= add_result(arr, bn, rw, c, fi, "messages_per_s",
                         bench_records_per_sec(s), "messages/s", C_COUNT, 0, 0);
        if (c != C_RAW)
          rc |= add_result(arr, bn, rw, c, fi, "fdatasyncs_per_message",
                           bench_per(ex->fdatasyncs, s->records), "fdatasyncs",
                           C_COUNT, 0, 0);
      }
    }
  }
  if (rc == 0)
    rc = bench_json_write("bench_pessimistic", arr, path);
  else
    fprintf(stderr, "bench_pessimistic: out of memory for the results\n");
  json_decref(arr);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_pessimistic [--quick | --full] [--dir DIR] [--json "
          "FILE]\n"
          "                         [--rounds N] [--seconds S]\n"
          "  Two sim processes, pessimistic-receiver logging on a real disk:\n"
          "  receiver throughput at saturation and one-at-a-time latency,\n"
          "  against one write + fdatasync per batch (the disk's limit).\n"
          "  --quick      CI smoke run (a few seconds per configuration)\n"
          "  --full       longer, steadier measurements\n"
          "  --dir DIR    parent of the scratch directory (default: beside\n"
          "               this program, else /var/tmp; never tmpfs if\n"
          "               anything else is there)\n"
          "  --json FILE  also write the results as a JSON array\n"
          "  --rounds N   interleaved rounds (the median is reported)\n"
          "  --seconds S  minimum timed seconds per measurement\n"
          "  --only LIST  run only these contenders, comma-separated:\n"
          "               raw_fdatasync, mlog, mlog_lockstep, mlog_nosync,\n"
          "               sqlite_wal_full, rocksdb_sync (those two only when\n"
          "               built: libsqlite3-dev, librocksdb-dev)\n"
          "  --scenario S saturation or pingpong (default: both)\n"
          "  --payload N  run only payloads of N bytes (64, 1024 or 16384)\n"
          "  --batch N    run only saturation batches of N (1, 64 or 512)\n"
          "  --verbose    print every measurement on stderr\n");
}

/* One row: every enabled contender of scenario sc, rounds interleaved. */
static int run_row(bench *bn, scenario sc, uint32_t plen, size_t batch,
                   uint8_t *encoded, bench_sample *samples, extra *extras,
                   row *rw) {
  contender to_run[C_COUNT];
  unsigned n_run = 0;
  for (int c = 0; c < C_COUNT; c++)
    if (bn->enabled[c] && runs_in((contender)c, sc))
      to_run[n_run++] = (contender)c;
  if (n_run == 0)
    return 1;
  if (bench_encode_batch(bn->payload, plen, batch, encoded) != MLOG_OK) {
    fprintf(stderr, "bench_pessimistic: cannot encode the batch\n");
    return -1;
  }
  fprintf(stderr,
          "bench_pessimistic: %s, payload %u B, batch %zu:", scenario_names[sc],
          plen, batch);
  for (unsigned r = 0; r < bn->b.rounds && !bench_interrupted; r++) {
    fprintf(stderr, " %u", r + 1);
    for (unsigned k = 0; k < n_run && !bench_interrupted; k++) {
      contender c = to_run[(k + r) % n_run];
      size_t at = (size_t)c * BENCH_MAX_ROUNDS + r;
      if (measure(bn, sc, c, plen, batch, encoded, &samples[at], &extras[at]) !=
          0)
        return -1;
    }
  }
  fprintf(stderr, "\n");
  if (bench_interrupted)
    return -1;
  *rw = (row){.sc = sc, .payload_len = plen, .batch = batch};
  const bench_sample *raw_s = &samples[(size_t)C_RAW * BENCH_MAX_ROUNDS];
  for (unsigned r = 0; bn->enabled[C_RAW] && r < bn->b.rounds; r++) {
    double v = raw_s[r].p50_us;
    if (r == 0 || v < rw->raw_p50_min)
      rw->raw_p50_min = v;
    if (r == 0 || v > rw->raw_p50_max)
      rw->raw_p50_max = v;
  }
  for (int c = 0; c < C_COUNT; c++) {
    if (!bn->enabled[c] || !runs_in((contender)c, sc))
      continue;
    const bench_sample *s = &samples[(size_t)c * BENCH_MAX_ROUNDS];
    const bench_sample *m = bench_median_sample(s, bn->b.rounds);
    rw->med[c] = *m;
    rw->med_ex[c] = extras[(size_t)c * BENCH_MAX_ROUNDS + (size_t)(m - s)];
    if (sc == S_SATURATION && bn->enabled[C_MLOG])
      rw->mlog_to[c] = bench_paired_ratio(
          &samples[(size_t)C_MLOG * BENCH_MAX_ROUNDS], s, bn->b.rounds);
    if (!bn->enabled[C_RAW])
      continue;
    if (sc == S_SATURATION) {
      rw->to_raw[c] = bench_paired_ratio(s, raw_s, bn->b.rounds);
    } else {
      rw->to_raw[c] = paired_latency_ratio(s, raw_s, bn->b.rounds, false);
      rw->p99_to_raw[c] = paired_latency_ratio(s, raw_s, bn->b.rounds, true);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench bn = {.b = default_budget};
  bench_opts o = {.b = default_budget};
  for (int c = 0; c < C_COUNT; c++)
    bn.enabled[c] = peer_of((contender)c) == BENCH_PEER_COUNT ||
                    bench_peer_available(peer_of((contender)c));
  for (int s = 0; s < S_COUNT; s++)
    bn.scenarios[s] = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&o, &quick_budget, &full_budget, argc, argv,
                                    &i, "bench_pessimistic");
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--only") == 0 && val) {
      if (bench_parse_list(val, contender_names, C_COUNT, bn.enabled) != 0) {
        fprintf(stderr,
                "bench_pessimistic: --only: unknown contender in '%s'\n", val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--scenario") == 0 && val) {
      if (bench_parse_list(val, scenario_names, S_COUNT, bn.scenarios) != 0) {
        fprintf(stderr,
                "bench_pessimistic: --scenario: unknown scenario in '%s'\n",
                val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  bench_opts_finish(&o);
  bn.b = o.b;
  bn.verbose = o.verbose;

  inner_logger = mlog_logger_find("pessimistic-receiver");
  if (inner_logger == NULL || inner_logger->flags != counting_logger.flags ||
      inner_logger->log_flags != counting_logger.log_flags) {
    fprintf(stderr, "bench_pessimistic: the pessimistic-receiver logger is "
                    "missing or its flags changed: update the counting "
                    "logger\n");
    return 1;
  }
  int rc = mlog_logger_register(&counting_logger);
  if (rc != MLOG_OK) {
    fprintf(stderr,
            "bench_pessimistic: cannot register the counting logger: "
            "%s\n",
            mlog_strerror(rc));
    return 1;
  }

  printf("bench_pessimistic: pessimistic-receiver logging, mode %s (%u "
         "rounds, each measurement >= %.2f s and >= %u batches or messages, "
         "<= %.2f s timed)\n",
         bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs);
  bench_fs fi;
  if (bench_scratch_create("bench_pessimistic", o.dir, bn.scratch,
                           sizeof bn.scratch, &fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();

  int status = 1;
  size_t max_batch = batch_sizes[N_BATCHES - 1];
  uint32_t max_payload = payload_sizes[N_SIZES - 1];
  row rows[N_SIZES * (N_BATCHES + 1)];
  size_t nrows = 0;
  bench_sample *samples =
      calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *samples);
  extra *extras = calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *extras);
  uint8_t *encoded = malloc(max_batch * mlog_record_size(max_payload));
  bn.payload = malloc(max_payload);
  if (samples == NULL || extras == NULL || encoded == NULL ||
      bn.payload == NULL) {
    fprintf(stderr, "bench_pessimistic: out of memory\n");
    goto cleanup;
  }
  bench_fill_payload(bn.payload, max_payload);

  for (int sc = 0; sc < S_COUNT; sc++) {
    if (!bn.scenarios[sc])
      continue;
    for (size_t si = 0; si < N_SIZES; si++) {
      for (size_t bi = 0; bi < N_BATCHES; bi++) {
        uint32_t plen = payload_sizes[si];
        size_t batch = sc == S_PINGPONG ? 1 : batch_sizes[bi];
        if (sc == S_PINGPONG && bi > 0)
          break;
        if ((o.payload && (long)plen != o.payload) ||
            (o.batch && sc == S_SATURATION && (long)batch != o.batch))
          continue;
        int r = run_row(&bn, (scenario)sc, plen, batch, encoded, samples,
                        extras, &rows[nrows]);
        if (r < 0)
          goto cleanup;
        if (r == 0)
          nrows++;
      }
    }
  }
  if (bn.scenarios[S_SATURATION])
    print_saturation(&bn, rows, nrows);
  if (bn.scenarios[S_PINGPONG])
    print_pingpong(&bn, rows, nrows);
  print_targets(&bn, rows, nrows);
  printf("\nEach contender's median round (by records/s, messages/s); ratios "
         "are medians over\nrounds of the ratio within a round. dlv/cmt: "
         "deliveries per receiver commit;\nfsync/b, fsync/m: fdatasyncs "
         "counted per batch (receiver) or per message (both\nprocesses); "
         "us/b: receiver poll time per batch. Only the receiver's polls are\n"
         "timed at saturation; everything is timed in ping-pong.\n");
  fflush(stdout);
  if (o.json != NULL && write_json(o.json, &bn, rows, nrows, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\nbench_pessimistic: interrupted\n");
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "bench_pessimistic: cannot remove %s: %s\n", bn.scratch,
            strerror(errno));
  bench_lat_free(&bn.lat);
  free(bn.payload);
  free(encoded);
  free(extras);
  free(samples);
  return bench_interrupted ? 130 : status;
}
