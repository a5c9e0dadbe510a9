/* bench_optimistic.c - optimistic-receiver: handler-path cost, sustained
 * throughput with background persistence, output-commit latency */

/*
 * Two mlog processes in this OS process, protocol "optimistic-receiver"
 * with its background flusher threads (no MLOG_PROC_NO_THREADS), durable
 * logs on a real disk, checkpoints off. They talk through "pipe", a minimal
 * transport of this file: one FIFO per receiving process, lossless, no
 * delays, frames copied into reused slots (no allocation once warm), the
 * clock a field the driver sets from CLOCK_MONOTONIC. Process 0 (the
 * sender) answers each credit message from process 1 (the receiver) with
 * that many messages of the payload size (64 B unless --payload); every
 * send is a handler's send, as in bench_pessimistic. The receiver's handler
 * folds a byte (the "work") and sends a credit every max(4 B, 64)
 * deliveries; the driver keeps 16 B messages in its inbox and its transport
 * hands out at most B data frames per poll (a burst). Only the receiver's
 * polls are timed where it says so: the sender and the driver stand for
 * other machines.
 *
 * Scenarios:
 *
 *   handler    the handler-path cost per delivered message, per burst B
 *              (1, 64, 512), rounds interleaved with
 *                no_logging  the same frames (as long as mlog's) through the
 *                            same transport, the same handler work and the
 *                            same credits, without mlog: recv + work
 *              "added" is mlog's ns/msg minus no_logging's in the same
 *              round (median over rounds). The record tags (BLAKE2b) are
 *              computed by the flusher thread, off the handler path; its
 *              CPU time per message is reported beside ("flusher").
 *   sustained  the same flow (B 64) for a few seconds: deliveries per
 *              second of receiver time and of wall time (sender and driver
 *              included), and how far the durable log lags at the end: the
 *              last delivery the receiver's log holds (its last lsn from a
 *              read-only open right after the last poll, mapped to a
 *              delivery rsn by a scan once the processes are closed) and
 *              the committed rsn (states that can never be rolled back),
 *              over the deliveries made. Then the sender stops and the time
 *              until everything delivered is committed is measured
 *              ("catch-up"). The flushers' CPU per message bounds how fast
 *              the log can follow ("flusher").
 *   output     output commit: the time from the handler's mlog_output to
 *              the output callback (CLOCK_MONOTONIC, a ring of timestamps
 *              by output seq), two rows:
 *                paced   one message at a time: the sender takes the next
 *                        credit only once the previous output was
 *                        released (the pipe gates its data frames); the
 *                        state depends on an interval of the sender, so
 *                        the output waits for both logs and a status.
 *                        The driver polls both processes in turn and
 *                        yields the CPU when neither delivered anything,
 *                        as processes blocked in receive would (a busy
 *                        spin starves the flushers of the second core).
 *                        Interleaved with
 *                          log_commit  one mlog_log_append of a delivery
 *                                      and a MARK record (one commit of
 *                                      the flusher when idle) on a log
 *                                      opened like the logger's: the unit
 *                                      "commits" of the latencies
 *                loaded  the sustained flow with an output every 64th
 *                        message (--every N)
 *              Latencies are also given in units of the configured flush
 *              interval (flush_ms, 5 ms by default), which the threaded
 *              flusher does not wait for: it writes as soon as records
 *              are pending.
 *
 * Nothing here asserts on wall-clock time.
 */

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mlog/logger.h>
#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/transport.h>

#include "bench/benchlib.h"
#include "core/wire.h" /* the frame envelope: kind byte and header size */

#define SENDER 0u
#define RECEIVER 1u
#define PROTOCOL "optimistic-receiver"
#define WARMUP_POLLS 4       /* receiver polls not timed */
#define WARMUP_OUTPUTS 4     /* paced: outputs not timed */
#define STOCK_BATCHES 16     /* data frames kept in the receiver's inbox */
#define MIN_CREDIT 64        /* deliveries per credit, at least */
#define CREDIT_BATCHES 4     /* bursts per credit, at least */
#define SENDER_POLL_MS 1     /* the sender is polled at least this often */
#define DEFAULT_EVERY 64     /* loaded: an output per this many deliveries */
#define RING_BITS 18         /* output timestamps kept */
#define BASE_FRAME_EXTRA 11  /* no_logging: a two-entry dependency vector */
#define DEFAULT_FLUSH_MS 5.0 /* the runtime's default flush_ms */
#define TARGET_ADDED_NS 300.0
#define TARGET_MSGS 2e6

static const size_t burst_sizes[] = {1, 64, 512};
#define N_BURSTS (sizeof burst_sizes / sizeof burst_sizes[0])
#define FLOW_BURST 64 /* sustained and loaded output */

static const bench_budget quick_budget = {"quick", 3, 0.1, 20, 0.3};
static const bench_budget default_budget = {"default", 3, 0.3, 200, 2.0};
static const bench_budget full_budget = {"full", 7, 0.5, 200, 2.0};

/* The long runs: seconds of wall time per run, runs, catch-up limit. */
typedef struct long_budget {
  double sustained_secs;
  unsigned sustained_rounds;
  double loaded_secs;
  unsigned loaded_rounds;
  double catchup_max_secs;
} long_budget;

static const long_budget quick_long = {0.5, 1, 0.5, 1, 2.0};
static const long_budget default_long = {1.5, 1, 1.0, 1, 5.0};
static const long_budget full_long = {3.0, 3, 2.0, 3, 10.0};

typedef enum scenario { S_HANDLER, S_SUSTAINED, S_OUTPUT, S_COUNT } scenario;
static const char *const scenario_names[S_COUNT] = {
    [S_HANDLER] = "handler",
    [S_SUSTAINED] = "sustained",
    [S_OUTPUT] = "output",
};

/* ------------------------------------------------------------------------ */
/* The pipe transport                                                       */

typedef struct pipe_slot {
  uint8_t *buf;
  size_t len, cap;
} pipe_slot;

/* The inbox of one process: a ring of slots that grows by doubling. */
typedef struct pipe_queue {
  pipe_slot *slots;
  size_t cap; /* a power of two, or 0 */
  size_t head, count;
  bool out;      /* slots[head] is handed out (still counted) */
  uint64_t data; /* data frames queued, not handed out */
  uint64_t gate; /* data frames recv may still hand out (UINT64_MAX: all) */
} pipe_queue;

typedef struct pipe_net {
  pipe_queue q[2];
  uint64_t now_ms;     /* the clock: set by the driver */
  size_t burst[2];     /* data frames per receive run (0: no limit) */
  uint64_t frames[2];  /* frames handed out to each process */
  uint64_t control[2]; /* control frames (acks, statuses) queued for each */
  bool oom;            /* a send could not be queued (fails the run) */
} pipe_net;

typedef struct pipe_ep {
  pipe_net *net;
  uint32_t id;
  size_t left; /* data frames left in this receive run */
} pipe_ep;

static bool is_data(const uint8_t *frame, size_t len) {
  return len >= MLOGI_FRAME_HEADER && frame[0] == MLOGI_FRAME_DATA;
}

/* Frames queued for q and not handed out. */
static size_t pipe_pending(const pipe_queue *q) {
  return q->count - (q->out ? 1 : 0);
}

static int pipe_push(pipe_queue *q, const void *frame, size_t len) {
  if (q->count == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 1024;
    pipe_slot *s = calloc(cap, sizeof *s);
    if (s == NULL)
      return MLOG_ENOMEM;
    for (size_t i = 0; i < q->count; i++) /* the handed-out one keeps its buf */
      s[i] = q->slots[(q->head + i) & (q->cap - 1)];
    free(q->slots);
    q->slots = s;
    q->head = 0;
    q->cap = cap;
  }
  pipe_slot *sl = &q->slots[(q->head + q->count) & (q->cap - 1)];
  if (sl->cap < len) {
    size_t cap = len < 256 ? 256 : len;
    uint8_t *b = realloc(sl->buf, cap);
    if (b == NULL)
      return MLOG_ENOMEM;
    sl->buf = b;
    sl->cap = cap;
  }
  memcpy(sl->buf, frame, len);
  sl->len = len;
  q->count++;
  q->data += is_data(frame, len);
  return MLOG_OK;
}

static int pipe_push_to(pipe_net *net, uint32_t dst, const void *frame,
                        size_t len) {
  net->control[dst] += !is_data(frame, len);
  return pipe_push(&net->q[dst], frame, len);
}

static void pipe_queue_free(pipe_queue *q) {
  for (size_t i = 0; i < q->cap; i++)
    free(q->slots[i].buf);
  free(q->slots);
  *q = (pipe_queue){0};
}

static void pipe_net_free(pipe_net *net) {
  pipe_queue_free(&net->q[0]);
  pipe_queue_free(&net->q[1]);
}

static int pipe_open(void *self, const void *config, uint32_t id,
                     uint32_t group_size) {
  pipe_ep *ep = self;
  pipe_net *net = (pipe_net *)config;
  if (net == NULL || group_size != 2 || id >= 2)
    return MLOG_EINVAL;
  ep->net = net;
  ep->id = id;
  ep->left = net->burst[id];
  return MLOG_OK;
}

static int pipe_send(void *self, uint32_t dst, const void *frame, size_t len) {
  pipe_ep *ep = self;
  if (dst >= 2 || dst == ep->id)
    return MLOG_EINVAL;
  int rc = pipe_push_to(ep->net, dst, frame, len);
  if (rc != MLOG_OK)
    ep->net->oom = true; /* the runtime ignores send errors: fail the run */
  return rc;
}

/* Hands out the next frame. A run of `burst` data frames ends with one
 * MLOG_EAGAIN (the runtime then commits and delivers what it took, as if
 * the next burst arrived meanwhile); a data frame beyond the gate stops the
 * queue (FIFO: nothing overtakes it). */
static int pipe_recv(void *self, int timeout_ms, uint32_t *src,
                     const void **frame, size_t *len) {
  (void)timeout_ms; /* time moves in the driver */
  pipe_ep *ep = self;
  pipe_net *net = ep->net;
  pipe_queue *q = &net->q[ep->id];
  size_t burst = net->burst[ep->id];
  if (q->out) {
    q->out = false;
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
  }
  if (burst && ep->left == 0) {
    ep->left = burst;
    return MLOG_EAGAIN;
  }
  if (q->count == 0) {
    ep->left = burst;
    return MLOG_EAGAIN;
  }
  const pipe_slot *sl = &q->slots[q->head];
  if (is_data(sl->buf, sl->len)) {
    if (q->gate == 0) {
      ep->left = burst;
      return MLOG_EAGAIN;
    }
    if (q->gate != UINT64_MAX)
      q->gate--;
    q->data--;
    if (burst)
      ep->left--;
  }
  q->out = true;
  net->frames[ep->id]++;
  *src = 1 - ep->id;
  *frame = sl->buf;
  *len = sl->len;
  return MLOG_OK;
}

static uint64_t pipe_now_ms(void *self) {
  pipe_ep *ep = self;
  return ep->net->now_ms;
}

static void pipe_close(void *self) {
  (void)self; /* the queues belong to the net */
}

static const mlog_transport_ops pipe_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "bench-pipe",
    .size = sizeof(pipe_ep),
    .open = pipe_open,
    .send = pipe_send,
    .recv = pipe_recv,
    .now_ms = pipe_now_ms,
    .close = pipe_close,
};

static uint64_t mono_ms(void) {
  return (uint64_t)(bench_now() * 1000.0);
}

static double cpu_secs(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* The application                                                          */

struct flow;

typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  struct flow *fl;
  uint32_t id;
  uint64_t outputs; /* outputs asked for (the last seq) */
} node;

/* When an output was asked for. */
typedef struct out_stamp {
  uint64_t seq;
  double at;
  bool timed;
} out_stamp;

#define RING_SIZE ((size_t)1 << RING_BITS)

/* Two processes and what drives them. */
typedef struct flow {
  pipe_net net;
  uint32_t retransmit_ms; /* 0: the runtime's default */
  mlog_proc *p[2];
  node app[2];
  uint32_t payload_len;
  const uint8_t *payload;
  uint64_t credit;       /* the receiver sends a credit per this many */
  uint64_t window;       /* the first credit */
  uint64_t stock;        /* data frames kept in the receiver's inbox */
  uint32_t output_every; /* 0: no outputs */
  bool paced;            /* output: one message per released output */
  bool stop_sending;     /* the sender ignores credits (catch-up) */
  bool timing;           /* outputs asked for now are timed */
  bool failed;           /* out of memory in a callback */
  out_stamp *ring;
  bench_lat *lat;
  uint64_t overruns; /* outputs released after their stamp was reused */
  uint64_t released;
  double last_sender_poll;
  char err[512];
} flow;

static int ffail(flow *fl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ffail(flow *fl, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fl->err, sizeof fl->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* The handler's work, shared by mlog's handler and no_logging. */
__attribute__((noinline)) static void app_work(node *nd, const void *msg,
                                               size_t len) {
  bench_fold_add(&nd->st, msg, len);
}

static int node_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                        size_t len) {
  node *nd = arg;
  flow *fl = nd->fl;
  (void)src;
  if (nd->id == SENDER) { /* a credit: send that many messages */
    if (len != 8)
      return -1;
    uint64_t n = fl->stop_sending ? 0 : bench_get_le64(msg);
    for (; n > 0; n--) {
      int rc = mlog_send(p, RECEIVER, fl->payload, fl->payload_len);
      if (rc != MLOG_OK)
        return rc;
    }
    return 0;
  }
  app_work(nd, msg, len);
  if (fl->output_every && nd->st.count % fl->output_every == 0) {
    uint64_t seq = ++nd->outputs;
    fl->ring[seq & (RING_SIZE - 1)] =
        (out_stamp){.seq = seq, .at = bench_now(), .timed = fl->timing};
    int rc = mlog_output(p, &nd->st.count, sizeof nd->st.count);
    if (rc != MLOG_OK)
      return rc;
  }
  if (nd->st.count % fl->credit != 0)
    return 0;
  uint8_t c[8];
  bench_put_le64(c, fl->credit);
  return mlog_send(p, SENDER, c, sizeof c);
}

static void node_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  node *nd = arg;
  flow *fl = nd->fl;
  double now = bench_now();
  (void)buf;
  (void)len;
  const out_stamp *s = &fl->ring[seq & (RING_SIZE - 1)];
  if (s->seq != seq)
    fl->overruns++;
  else if (s->timed && bench_lat_add(fl->lat, now - s->at) != 0)
    fl->failed = true;
  fl->released++;
  if (fl->paced) /* the next credit may reach the sender */
    fl->net.q[SENDER].gate++;
}

static const mlog_app node_app = {
    .deliver = node_deliver,
    .snapshot = bench_fold_snapshot,
    .restore = bench_fold_restore,
    .output = node_output,
};

/* ------------------------------------------------------------------------ */
/* Driving the pair                                                         */

static int open_flow(flow *fl, const char *dirpath, size_t burst) {
  if (mkdir(dirpath, 0750) != 0)
    return ffail(fl, "mkdir %s: %s", dirpath, strerror(errno));
  fl->net.burst[RECEIVER] = burst;
  fl->net.q[SENDER].gate = fl->paced ? 1 : UINT64_MAX;
  fl->net.q[RECEIVER].gate = UINT64_MAX;
  fl->net.now_ms = mono_ms();
  for (uint32_t id = 0; id < 2; id++) {
    char sub[PATH_MAX + 80];
    snprintf(sub, sizeof sub, "%s/p%u", dirpath, id);
    mlog_proc_config cfg = {.dirpath = sub,
                            .id = id,
                            .group_size = 2,
                            .protocol = PROTOCOL,
                            .transport = &pipe_ops,
                            .transport_config = &fl->net,
                            .retransmit_ms = fl->retransmit_ms};
    fl->app[id] = (node){.fl = fl, .id = id};
    int rc = mlog_proc_open(&cfg, &node_app, &fl->app[id], &fl->p[id]);
    if (rc != MLOG_OK)
      return ffail(fl, "mlog_proc_open %s: %s (%s)", sub, mlog_errname(rc),
                   mlog_proc_errmsg(NULL));
  }
  return 0;
}

static void close_flow(flow *fl) {
  for (int id = 0; id < 2; id++) {
    mlog_proc_close(fl->p[id]);
    fl->p[id] = NULL;
  }
  pipe_net_free(&fl->net);
}

static int poll_proc(flow *fl, uint32_t id, int *delivered) {
  int n = mlog_proc_poll(fl->p[id], 0);
  if (n < 0)
    return ffail(fl, "poll of process %u: %s (%s)", id, mlog_errname(-n),
                 mlog_proc_errmsg(fl->p[id]));
  if (fl->net.oom || fl->failed)
    return ffail(fl, "out of memory");
  if (delivered != NULL)
    *delivered = n;
  if (id == SENDER)
    fl->last_sender_poll = bench_now();
  return 0;
}

/* The receiver's poll, with a symbol of its own for profilers
 * (callgrind --toggle-collect=poll_receiver). */
__attribute__((noinline)) static int poll_receiver(flow *fl, int *delivered) {
  return poll_proc(fl, RECEIVER, delivered);
}

/* Let the hellos and statuses settle, then send the first credit from the
 * receiver outside a handler (logged and flushed there). Untimed. */
static int seed_flow(flow *fl) {
  for (int i = 0; i < 16; i++) {
    fl->net.now_ms = mono_ms();
    if (poll_proc(fl, SENDER, NULL) != 0 || poll_proc(fl, RECEIVER, NULL) != 0)
      return -1;
    if (pipe_pending(&fl->net.q[0]) == 0 && pipe_pending(&fl->net.q[1]) == 0)
      break;
  }
  uint8_t c[8];
  bench_put_le64(c, fl->window);
  int rc = mlog_send(fl->p[RECEIVER], SENDER, c, sizeof c);
  return rc == MLOG_OK ? 0
                       : ffail(fl, "first credit: %s (%s)", mlog_errname(rc),
                               mlog_proc_errmsg(fl->p[RECEIVER]));
}

/* Keep the receiver's inbox stocked: poll the sender while it is short and
 * the sender has frames (a poll takes at most one receive's worth: credits
 * may wait behind many statuses), and at least every SENDER_POLL_MS so that
 * its statuses go out. Untimed. */
static int feed(flow *fl) {
  fl->net.now_ms = mono_ms();
  bool due = bench_now() - fl->last_sender_poll >= SENDER_POLL_MS * 1e-3;
  while (due || (fl->net.q[RECEIVER].data < fl->stock &&
                 pipe_pending(&fl->net.q[SENDER]) > 0)) {
    due = false;
    if (poll_proc(fl, SENDER, NULL) != 0)
      return -1;
  }
  return 0;
}

/* The receiver's durable log at the end of a run: a read-only open beside
 * the running writer; its last lsn (mlog_log_get_info: no scan). */
static int durable_last_lsn(flow *fl, const char *dirpath, uint64_t *lsn) {
  char sub[PATH_MAX + 80];
  snprintf(sub, sizeof sub, "%s/p%u", dirpath, RECEIVER);
  mlog_log *log;
  int rc = mlog_log_open(sub, MLOG_LOG_RDONLY, NULL, &log);
  if (rc != MLOG_OK)
    return ffail(fl, "read-only open of %s: %s (%s)", sub, mlog_errname(rc),
                 mlog_log_errmsg(NULL));
  mlog_log_info info;
  rc = mlog_log_get_info(log, &info);
  if (rc != MLOG_OK)
    ffail(fl, "info of %s: %s (%s)", sub, mlog_errname(rc),
          mlog_log_errmsg(log));
  *lsn = info.last_lsn;
  mlog_log_close(log);
  return rc == MLOG_OK ? 0 : -1;
}

typedef struct upto {
  uint64_t lsn; /* the last lsn of interest */
  uint64_t rsn; /* the last delivery's rsn up to it */
} upto;

#define SCAN_DONE 1

static int upto_fn(void *arg, const mlog_record *rec) {
  upto *u = arg;
  if (rec->lsn > u->lsn)
    return SCAN_DONE;
  if (rec->type == MLOG_REC_DELIVERY && rec->rsn > u->rsn)
    u->rsn = rec->rsn;
  return 0;
}

/* After the processes closed: the rsn of the last delivery at or before
 * lsn in the receiver's log (a scan that verifies every record: it runs
 * untimed, after the run). */
static int persisted_rsn(flow *fl, const char *dirpath, uint64_t lsn,
                         uint64_t *rsn) {
  char sub[PATH_MAX + 80];
  snprintf(sub, sizeof sub, "%s/p%u", dirpath, RECEIVER);
  mlog_log *log;
  int rc = mlog_log_open(sub, MLOG_LOG_RDONLY, NULL, &log);
  if (rc != MLOG_OK)
    return ffail(fl, "read-only open of %s: %s (%s)", sub, mlog_errname(rc),
                 mlog_log_errmsg(NULL));
  upto u = {.lsn = lsn};
  rc = mlog_log_scan(log, 1, upto_fn, &u);
  if (rc != MLOG_OK && rc != SCAN_DONE)
    ffail(fl, "scanning %s: %s (%s)", sub, mlog_errname(rc),
          mlog_log_errmsg(log));
  mlog_log_close(log);
  *rsn = u.rsn;
  return rc == MLOG_OK || rc == SCAN_DONE ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                */

typedef enum contender { C_MLOG, C_NOLOG, C_COMMIT, C_COUNT } contender;

static const char *const contender_names[C_COUNT] = {
    [C_MLOG] = "mlog",
    [C_NOLOG] = "no_logging",
    [C_COMMIT] = "log_commit",
};

/* One measurement. s.secs is the receiver's timed poll time in flows (all
 * of the timed wall time in paced and log_commit); s.records the timed
 * deliveries (flows), outputs (paced) or commits (log_commit). */
typedef struct sample {
  bench_sample s;
  double wall_secs;   /* timed wall-clock seconds */
  double bg_cpu_secs; /* CPU of the other threads (the flushers), timed */
  uint64_t polls;     /* timed receiver polls */
  uint64_t rsn, committed_rsn;           /* at the end of the timed part */
  uint64_t persisted_lsn, persisted_rsn; /* sustained: the durable log then */
  double probe_secs;   /* sustained: the read-only open for persisted_lsn */
  uint64_t outputs;    /* output: timed latencies */
  double catchup_secs; /* sustained: until all is committed; < 0: not */
  uint64_t resent, duplicates, overruns, released;
  uint64_t control; /* control frames both ways, whole run */
} sample;

typedef struct bench {
  bench_budget b;
  long_budget lb;
  char scratch[PATH_MAX];
  uint8_t *payload;
  uint32_t payload_len;
  uint32_t every;
  uint32_t retransmit_ms;
  bench_lat lat;
  unsigned serial;
  bool verbose;
  bool scenarios[S_COUNT];
  const mlog_logger_ops *logger;
} bench;

static void flow_setup(flow *fl, const bench *bn, size_t b) {
  fl->payload = bn->payload;
  fl->payload_len = bn->payload_len;
  fl->credit =
      CREDIT_BATCHES * b > MIN_CREDIT ? CREDIT_BATCHES * b : MIN_CREDIT;
  fl->stock = STOCK_BATCHES * b;
  fl->window = fl->stock + 2 * fl->credit;
}

static void collect_stats(flow *fl, sample *out) {
  for (int id = 0; id < 2 && fl->p[id]; id++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(fl->p[id], &st);
    out->resent += st.resent;
    if (id == RECEIVER) {
      out->duplicates = st.duplicates;
      out->rsn = st.rsn;
      out->committed_rsn = st.committed_rsn;
    }
  }
  out->overruns = fl->overruns;
  out->released = fl->released;
  out->control = fl->net.control[0] + fl->net.control[1];
}

/* Sustained: the sender stops; poll both until everything the receiver
 * delivered is committed (its log and the sender's status say so). */
static int catch_up(const bench *bn, flow *fl, sample *out) {
  fl->stop_sending = true;
  double c0 = bench_now();
  out->catchup_secs = -1;
  while (!bench_interrupted && bench_now() - c0 < bn->lb.catchup_max_secs) {
    fl->net.now_ms = mono_ms();
    if (poll_proc(fl, SENDER, NULL) != 0 || poll_proc(fl, RECEIVER, NULL) != 0)
      return -1;
    mlog_proc_stats st;
    mlog_proc_get_stats(fl->p[RECEIVER], &st);
    if (st.committed_rsn >= st.rsn && fl->net.q[RECEIVER].data == 0) {
      out->catchup_secs = bench_now() - c0;
      break;
    }
  }
  return 0;
}

/* handler (mlog), sustained and loaded output: the credit flow, bursts of
 * b; only the receiver's polls are timed. */
static int run_flow(bench *bn, flow *fl, const char *dirpath, scenario sc,
                    size_t b, sample *out) {
  flow_setup(fl, bn, b);
  fl->lat = &bn->lat;
  fl->output_every = sc == S_OUTPUT ? bn->every : 0;
  double secs = sc == S_SUSTAINED ? bn->lb.sustained_secs
                : sc == S_OUTPUT  ? bn->lb.loaded_secs
                                  : 0;
  double timed = 0, wall0 = bench_now(), t_start = 0, cpu0 = 0, thr0 = 0;
  uint64_t polls = 0, records = 0;
  int rc = open_flow(fl, dirpath, b);
  if (rc == 0)
    rc = seed_flow(fl);
  while (rc == 0 && !bench_interrupted) {
    if (polls > WARMUP_POLLS &&
        (secs > 0
             ? bench_now() - t_start >= secs
             : bench_budget_spent(&bn->b, timed, polls - WARMUP_POLLS, wall0)))
      break;
    rc = feed(fl);
    if (rc != 0)
      break;
    if (fl->net.q[RECEIVER].data == 0) {
      rc = ffail(fl, "stalled: no message for the receiver");
      break;
    }
    if (polls == WARMUP_POLLS) {
      t_start = bench_now();
      cpu0 = cpu_secs(CLOCK_PROCESS_CPUTIME_ID);
      thr0 = cpu_secs(CLOCK_THREAD_CPUTIME_ID);
      fl->timing = true;
    }
    int n = 0;
    double t0 = bench_now();
    rc = poll_receiver(fl, &n);
    double dt = bench_now() - t0;
    if (rc != 0)
      break;
    if (polls++ < WARMUP_POLLS)
      continue;
    timed += dt;
    records += (uint64_t)n;
    if (sc == S_HANDLER && n > 0 && bench_lat_add(&bn->lat, dt / n) != 0)
      rc = ffail(fl, "out of memory");
  }
  fl->timing = false;
  if (t_start > 0) {
    out->wall_secs = bench_now() - t_start;
    out->bg_cpu_secs = (cpu_secs(CLOCK_PROCESS_CPUTIME_ID) - cpu0) -
                       (cpu_secs(CLOCK_THREAD_CPUTIME_ID) - thr0);
  }
  out->polls = polls > WARMUP_POLLS ? polls - WARMUP_POLLS : 0;
  out->s =
      (bench_sample){.secs = timed, .commits = out->polls, .records = records};
  collect_stats(fl, out);
  out->outputs = sc == S_OUTPUT ? bn->lat.n : 0;
  if (rc == 0 && sc == S_SUSTAINED && !bench_interrupted) {
    double t0 = bench_now();
    rc = durable_last_lsn(fl, dirpath, &out->persisted_lsn);
    out->probe_secs = bench_now() - t0;
    if (rc == 0)
      rc = catch_up(bn, fl, out);
    uint64_t rsn = out->rsn, committed = out->committed_rsn;
    collect_stats(fl, out); /* resends during the catch-up too */
    out->rsn = rsn;
    out->committed_rsn = committed;
  }
  return rc;
}

/* no_logging: the same frames, transport, work and credits without mlog.
 * The sender's side is played by the driver (untimed). */
static int run_nolog(bench *bn, flow *fl, size_t b, sample *out) {
  flow_setup(fl, bn, b);
  pipe_net *net = &fl->net;
  net->burst[RECEIVER] = b;
  net->q[SENDER].gate = net->q[RECEIVER].gate = UINT64_MAX;
  pipe_ep ep[2];
  node nd = {.fl = fl, .id = RECEIVER};
  size_t hdr = MLOGI_FRAME_HEADER + BASE_FRAME_EXTRA;
  size_t flen = hdr + fl->payload_len, clen = hdr + 8;
  uint8_t *frame = calloc(1, flen), *cframe = calloc(1, clen);
  int rc = frame && cframe ? 0 : ffail(fl, "out of memory");
  for (uint32_t id = 0; rc == 0 && id < 2; id++)
    if (pipe_ops.open(&ep[id], net, id, 2) != MLOG_OK)
      rc = ffail(fl, "pipe open");
  if (rc == 0) {
    frame[0] = cframe[0] = MLOGI_FRAME_DATA;
    memcpy(frame + hdr, fl->payload, fl->payload_len);
    bench_put_le64(cframe + hdr, fl->credit);
  }
  for (uint64_t i = 0; rc == 0 && i < fl->window; i++)
    if (pipe_ops.send(&ep[SENDER], RECEIVER, frame, flen) != MLOG_OK)
      rc = ffail(fl, "out of memory");
  double timed = 0, wall0 = bench_now();
  uint64_t polls = 0, records = 0;
  while (rc == 0 && !bench_interrupted) {
    if (polls > WARMUP_POLLS &&
        bench_budget_spent(&bn->b, timed, polls - WARMUP_POLLS, wall0))
      break;
    /* the sender: each credit brings that many messages (untimed) */
    while (rc == 0 && net->q[RECEIVER].data < fl->stock) {
      uint32_t src;
      const void *f;
      size_t len;
      if (pipe_ops.recv(&ep[SENDER], 0, &src, &f, &len) != MLOG_OK)
        break;
      uint64_t n = bench_get_le64((const uint8_t *)f + hdr);
      for (; rc == 0 && n > 0; n--)
        if (pipe_ops.send(&ep[SENDER], RECEIVER, frame, flen) != MLOG_OK)
          rc = ffail(fl, "out of memory");
    }
    if (rc == 0 && net->q[RECEIVER].data == 0)
      rc = ffail(fl, "stalled: no message for the receiver");
    if (rc != 0)
      break;
    /* the receiver's "poll": a burst of frames through the handler work */
    uint64_t n = 0;
    double t0 = bench_now();
    for (;;) {
      uint32_t src;
      const void *f;
      size_t len;
      if (pipe_ops.recv(&ep[RECEIVER], 0, &src, &f, &len) != MLOG_OK)
        break;
      app_work(&nd, (const uint8_t *)f + hdr, len - hdr);
      n++;
      if (nd.st.count % fl->credit == 0 &&
          pipe_ops.send(&ep[RECEIVER], SENDER, cframe, clen) != MLOG_OK) {
        rc = ffail(fl, "out of memory");
        break;
      }
    }
    double dt = bench_now() - t0;
    if (polls++ < WARMUP_POLLS)
      continue;
    timed += dt;
    records += n;
    if (n > 0 && bench_lat_add(&bn->lat, dt / (double)n) != 0)
      rc = ffail(fl, "out of memory");
  }
  out->polls = polls > WARMUP_POLLS ? polls - WARMUP_POLLS : 0;
  out->s =
      (bench_sample){.secs = timed, .commits = out->polls, .records = records};
  out->wall_secs = timed;
  free(frame);
  free(cframe);
  return rc;
}

/* Output, paced: one message at a time, each delivery outputs; the next
 * credit reaches the sender once the output was released. */
static int run_paced(bench *bn, flow *fl, const char *dirpath, sample *out) {
  fl->payload = bn->payload;
  fl->payload_len = bn->payload_len;
  fl->paced = true;
  fl->output_every = 1;
  fl->credit = fl->window = 1;
  fl->lat = &bn->lat;
  double wall0 = bench_now(), t_start = 0, progress = wall0;
  uint64_t last_released = 0;
  int rc = open_flow(fl, dirpath, 0);
  if (rc == 0)
    rc = seed_flow(fl);
  while (rc == 0 && !bench_interrupted) {
    double now = bench_now();
    if (fl->timing &&
        bench_budget_spent(&bn->b, now - t_start, bn->lat.n, wall0))
      break;
    if (!fl->timing && fl->released >= WARMUP_OUTPUTS) {
      fl->timing = true;
      t_start = now;
    }
    if (fl->released != last_released) {
      last_released = fl->released;
      progress = now;
    } else if (now - progress > 10) {
      rc = ffail(fl, "stalled: no output released for 10 s");
      break;
    }
    fl->net.now_ms = mono_ms();
    int ns = 0, nr = 0;
    rc = poll_proc(fl, SENDER, &ns);
    if (rc == 0)
      rc = poll_proc(fl, RECEIVER, &nr);
    if (ns == 0 && nr == 0) /* idle: as if blocked in receive */
      sched_yield();
  }
  double timed = fl->timing ? bench_now() - t_start : 0;
  fl->timing = false;
  out->wall_secs = timed;
  out->s =
      (bench_sample){.secs = timed, .commits = bn->lat.n, .records = bn->lat.n};
  out->outputs = bn->lat.n;
  collect_stats(fl, out);
  return rc;
}

/* log_commit: one mlog_log_append of a delivery (its payload as long as a
 * message with its dependency vector) and a MARK, on a log opened with the
 * logger's flags: one commit of the flusher when it is idle. */
static int run_commit(bench *bn, flow *fl, const char *dirpath, sample *out) {
  mlog_log_config lc = {
      .process_id = RECEIVER, .group_size = 2, .protocol = "bench-commit"};
  mlog_log *log;
  int rc = mlog_log_open(dirpath, MLOG_LOG_CREATE | bn->logger->log_flags, &lc,
                         &log);
  if (rc != MLOG_OK)
    return ffail(fl, "mlog_log_open %s: %s (%s)", dirpath, mlog_errname(rc),
                 mlog_log_errmsg(NULL));
  size_t plen = BASE_FRAME_EXTRA + bn->payload_len;
  uint8_t *payload = calloc(1, plen);
  if (payload == NULL) {
    mlog_log_close(log);
    return ffail(fl, "out of memory");
  }
  memcpy(payload + BASE_FRAME_EXTRA, bn->payload, bn->payload_len);
  double timed = 0, wall0 = bench_now();
  uint64_t n = 0;
  int res = 0;
  while (!bench_interrupted && !bench_budget_spent(&bn->b, timed, n, wall0)) {
    mlog_record recs[2] = {{.type = MLOG_REC_DELIVERY,
                            .flags = 1,
                            .src = SENDER,
                            .dst = RECEIVER,
                            .incarnation = 1,
                            .ssn = n + 1,
                            .rsn = n + 1,
                            .payload = payload,
                            .payload_len = (uint32_t)plen},
                           {.type = MLOG_REC_CONTROL,
                            .flags = 1, /* a MARK */
                            .src = RECEIVER,
                            .dst = RECEIVER,
                            .incarnation = 1,
                            .rsn = n + 1}};
    double t0 = bench_now();
    rc = mlog_log_append(log, recs, 2);
    double dt = bench_now() - t0;
    if (rc != MLOG_OK) {
      res = ffail(fl, "mlog_log_append: %s (%s)", mlog_errname(rc),
                  mlog_log_errmsg(log));
      break;
    }
    if (bench_lat_add(&bn->lat, dt) != 0) {
      res = ffail(fl, "out of memory");
      break;
    }
    timed += dt;
    n++;
  }
  free(payload);
  mlog_log_close(log);
  out->wall_secs = timed;
  out->s = (bench_sample){.secs = timed, .commits = n, .records = n};
  return res;
}

/* Run one measurement on a fresh directory. 0, or -1 with the cause
 * printed. */
static int measure(bench *bn, scenario sc, const char *variant, contender c,
                   size_t b, sample *out) {
  flow *fl = calloc(1, sizeof *fl);
  if (fl != NULL && sc == S_OUTPUT && c == C_MLOG)
    fl->ring = calloc(RING_SIZE, sizeof *fl->ring);
  if (fl == NULL || (sc == S_OUTPUT && c == C_MLOG && fl->ring == NULL)) {
    fprintf(stderr, "\nbench_optimistic: out of memory\n");
    free(fl);
    return -1;
  }
  fl->retransmit_ms = bn->retransmit_ms;
  char dirpath[PATH_MAX + 64];
  snprintf(dirpath, sizeof dirpath, "%s/m%u-%s", bn->scratch, bn->serial++,
           contender_names[c]);
  *out = (sample){.catchup_secs = -1};
  bn->lat.n = 0;
  int rc;
  if (c == C_NOLOG)
    rc = run_nolog(bn, fl, b, out);
  else if (c == C_COMMIT)
    rc = run_commit(bn, fl, dirpath, out);
  else if (sc == S_OUTPUT && strcmp(variant, "paced") == 0)
    rc = run_paced(bn, fl, dirpath, out);
  else
    rc = run_flow(bn, fl, dirpath, sc, b, out);
  close_flow(fl);
  if (rc == 0 && sc == S_SUSTAINED && c == C_MLOG && !bench_interrupted)
    rc = persisted_rsn(fl, dirpath, out->persisted_lsn, &out->persisted_rsn);
  if (bench_remove_tree(dirpath) != 0 && rc == 0)
    rc = ffail(fl, "cannot remove %s: %s", dirpath, strerror(errno));
  bench_settle_fs(bn->scratch);
  if (rc == 0 && out->s.records == 0 && !bench_interrupted)
    rc = ffail(fl, "nothing measured");
  if (rc != 0) {
    fprintf(stderr, "\nbench_optimistic: %s%s%s %s (burst %zu): %s\n",
            scenario_names[sc], variant ? " " : "", variant ? variant : "",
            contender_names[c], b, fl->err);
    free(fl->ring);
    free(fl);
    return -1;
  }
  bench_lat_summary(&bn->lat, &out->s.p50_us, &out->s.p99_us, &out->s.max_us);
  if (bn->verbose)
    fprintf(
        stderr,
        "\n  %-10s %9llu in %7.3f s (wall %6.2f s)  p50 %9.3f us  p99 "
        "%9.3f us  max %9.1f us  rsn %llu committed %llu persisted %llu "
        "(probe %.1f ms) outputs %llu resent %llu dup %llu control %llu",
        contender_names[c], (unsigned long long)out->s.records, out->s.secs,
        out->wall_secs, out->s.p50_us, out->s.p99_us, out->s.max_us,
        (unsigned long long)out->rsn, (unsigned long long)out->committed_rsn,
        (unsigned long long)out->persisted_rsn, out->probe_secs * 1e3,
        (unsigned long long)out->outputs, (unsigned long long)out->resent,
        (unsigned long long)out->duplicates, (unsigned long long)out->control);
  free(fl->ring);
  free(fl);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */

typedef struct row {
  scenario sc;
  const char *variant; /* output: "paced" or "loaded"; else NULL */
  size_t burst;
  unsigned rounds;
  bool has[C_COUNT];
  sample med[C_COUNT]; /* each contender's median round */
  double ratio;        /* handler: mlog ns / no_logging ns; paced: mlog
                          p50 / log_commit p50 (paired medians) */
  double ratio_p99;    /* paced: mlog p99 / log_commit p50 */
  double added_ns;     /* handler: mlog ns - no_logging ns (paired) */
} row;

static double ns_per_msg(const sample *s) {
  return s->s.records ? s->s.secs * 1e9 / (double)s->s.records : 0;
}

static double rcv_rate(const sample *s) {
  return s->s.secs > 0 ? (double)s->s.records / s->s.secs : 0;
}

static double wall_rate(const sample *s) {
  return s->wall_secs > 0 ? (double)s->s.records / s->wall_secs : 0;
}

static double bg_ns_per_msg(const sample *s) {
  return s->s.records ? s->bg_cpu_secs * 1e9 / (double)s->s.records : 0;
}

/* Control frames (acks, statuses) both ways per delivery, whole run. */
static double ctl_per_msg(const sample *s) {
  return s->rsn ? (double)s->control / (double)s->rsn : 0;
}

static double p50_of(const sample *s) {
  return s->s.p50_us;
}

static double frac(uint64_t a, uint64_t b) {
  return b ? (double)a / (double)b : 0;
}

/* The median of s[0..n) by key (the lower one for even n). */
static const sample *median_by(const sample *s, unsigned n,
                               double (*key)(const sample *)) {
  const sample *order[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++)
    order[i] = &s[i];
  for (unsigned i = 1; i < n; i++)
    for (unsigned j = i; j > 0 && key(order[j - 1]) > key(order[j]); j--) {
      const sample *t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  return order[(n - 1) / 2];
}

/* Run the contenders of one row, rounds interleaved (the order rotates). */
static int run_row(bench *bn, scenario sc, const char *variant, size_t b,
                   const contender *cs, unsigned ncs, unsigned rounds,
                   sample *samples, row *rw) {
  fprintf(stderr, "bench_optimistic: %s%s%s, payload %u B, burst %zu:",
          scenario_names[sc], variant ? " " : "", variant ? variant : "",
          bn->payload_len, b);
  for (unsigned r = 0; r < rounds && !bench_interrupted; r++) {
    fprintf(stderr, " %u", r + 1);
    for (unsigned k = 0; k < ncs && !bench_interrupted; k++) {
      contender c = cs[(k + r) % ncs];
      if (measure(bn, sc, variant, c, b,
                  &samples[(size_t)c * BENCH_MAX_ROUNDS + r]) != 0)
        return -1;
    }
  }
  fprintf(stderr, "\n");
  if (bench_interrupted)
    return -1;
  *rw = (row){.sc = sc, .variant = variant, .burst = b, .rounds = rounds};
  double (*key)(const sample *) = sc == S_HANDLER     ? ns_per_msg
                                  : sc == S_SUSTAINED ? rcv_rate
                                                      : p50_of;
  for (unsigned k = 0; k < ncs; k++) {
    contender c = cs[k];
    rw->has[c] = true;
    rw->med[c] =
        *median_by(&samples[(size_t)c * BENCH_MAX_ROUNDS], rounds, key);
  }
  const sample *m = &samples[(size_t)C_MLOG * BENCH_MAX_ROUNDS];
  double v[BENCH_MAX_ROUNDS], w[BENCH_MAX_ROUNDS];
  if (rw->has[C_NOLOG]) {
    const sample *z = &samples[(size_t)C_NOLOG * BENCH_MAX_ROUNDS];
    for (unsigned r = 0; r < rounds; r++) {
      double base = ns_per_msg(&z[r]);
      v[r] = base > 0 ? ns_per_msg(&m[r]) / base : 0;
      w[r] = ns_per_msg(&m[r]) - base;
    }
    rw->ratio = bench_median(v, rounds);
    rw->added_ns = bench_median(w, rounds);
  }
  if (rw->has[C_COMMIT]) {
    const sample *z = &samples[(size_t)C_COMMIT * BENCH_MAX_ROUNDS];
    for (unsigned r = 0; r < rounds; r++) {
      double base = z[r].s.p50_us;
      v[r] = base > 0 ? m[r].s.p50_us / base : 0;
      w[r] = base > 0 ? m[r].s.p99_us / base : 0;
    }
    rw->ratio = bench_median(v, rounds);
    rw->ratio_p99 = bench_median(w, rounds);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

static double flush_ms_used(void) {
  return DEFAULT_FLUSH_MS; /* the config leaves flush_ms at 0 */
}

/* The p50 of log_commit in the paced row, if it ran (the unit of the
 * loaded row's latencies). */
static double commit_unit_us(const row *rows, size_t nrows) {
  for (size_t i = 0; i < nrows; i++)
    if (rows[i].has[C_COMMIT])
      return rows[i].med[C_COMMIT].s.p50_us;
  return 0;
}

static void print_handler(const bench *bn, const row *rows, size_t nrows) {
  printf("\nHandler path: receiver poll time per delivered %u B message "
         "(bursts of B per poll)\n",
         bn->payload_len);
  printf("%5s  %-11s %9s %9s %9s %12s %8s %8s %9s %8s %7s\n", "burst",
         "contender", "ns/msg", "p50 ns", "p99 ns", "msg/s (rcv)", "flusher",
         "x base", "added ns", "ctl/msg", "resent");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_HANDLER)
      continue;
    for (int c = C_NOLOG; c >= C_MLOG; c--) {
      if (!rw->has[c])
        continue;
      const sample *s = &rw->med[c];
      char fl[16] = "", x[16] = "", add[16] = "", ctl[16] = "", rs[24] = "";
      if (c == C_MLOG) {
        snprintf(fl, sizeof fl, "%.0f", bg_ns_per_msg(s));
        snprintf(ctl, sizeof ctl, "%.3f", ctl_per_msg(s));
        snprintf(rs, sizeof rs, "%llu", (unsigned long long)s->resent);
        if (rw->has[C_NOLOG]) {
          snprintf(x, sizeof x, "%.2f", rw->ratio);
          snprintf(add, sizeof add, "%+.0f", rw->added_ns);
        }
      }
      printf("%5zu  %-11s %9.1f %9.1f %9.1f %12.0f %8s %8s %9s %8s %7s\n",
             rw->burst, contender_names[c], ns_per_msg(s), s->s.p50_us * 1e3,
             s->s.p99_us * 1e3, rcv_rate(s), fl, x, add, ctl, rs);
    }
  }
  printf("ns/msg: timed receiver poll time over the messages it delivered "
         "(the median round);\np50/p99: of the per-poll figure; flusher: CPU "
         "ns/msg of the other threads (the\nflushers: record tags and LMDB "
         "commits, off the handler path); x base, added:\nmedians over "
         "rounds of mlog against no_logging in the same round; ctl/msg:\n"
         "acks and statuses (both ways) per delivery; resent: frames sent "
         "again after\nthe resend timeout (acks wait for commit under "
         "optimistic logging).\n");
}

static void print_sustained(const row *rows, size_t nrows) {
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_SUSTAINED)
      continue;
    const sample *s = &rw->med[C_MLOG];
    printf("\nSustained: burst %zu, %.1f s of wall time per run, median of "
           "%u run(s) by receiver msg/s\n",
           rw->burst, s->wall_secs, rw->rounds);
    printf("  msg/s, receiver time            %12.0f\n", rcv_rate(s));
    printf("  msg/s, wall (sender, driver in) %12.0f\n", wall_rate(s));
    printf("  delivered (rsn at the end)      %12llu\n",
           (unsigned long long)s->rsn);
    printf("  persisted (last rsn in the log) %12llu  (%.4f of delivered, "
           "lag %llu messages)\n",
           (unsigned long long)s->persisted_rsn, frac(s->persisted_rsn, s->rsn),
           (unsigned long long)(s->rsn - s->persisted_rsn));
    printf("  committed (stable for good)     %12llu  (%.4f of delivered)\n",
           (unsigned long long)s->committed_rsn,
           frac(s->committed_rsn, s->rsn));
    printf("  persisted msg/s (wall)          %12.0f\n",
           s->wall_secs > 0 ? (double)s->persisted_rsn / s->wall_secs : 0);
    printf("  flusher CPU per message         %12.0f ns\n", bg_ns_per_msg(s));
    if (s->catchup_secs >= 0)
      printf("  catch-up after the load stopped %12.1f ms\n",
             s->catchup_secs * 1e3);
    else
      printf("  catch-up after the load stopped  did not finish\n");
    printf("  frames resent, duplicates       %6llu, %llu\n",
           (unsigned long long)s->resent, (unsigned long long)s->duplicates);
    printf("  acks and statuses per message   %12.3f\n", ctl_per_msg(s));
  }
}

static void print_output(const row *rows, size_t nrows) {
  double unit = commit_unit_us(rows, nrows);
  bool any = false;
  for (size_t i = 0; i < nrows; i++)
    any |= rows[i].sc == S_OUTPUT;
  if (!any)
    return;
  printf("\nOutput commit: mlog_output in the handler -> the output "
         "callback\n");
  printf("%-7s %-11s %8s %9s %9s %9s %9s %9s %10s\n", "row", "contender",
         "samples", "p50 us", "p99 us", "max us", "p50 cmt", "p99 cmt",
         "p50 flush");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_OUTPUT)
      continue;
    for (int c = C_COMMIT; c >= C_MLOG; c--) {
      if (!rw->has[c])
        continue;
      const sample *s = &rw->med[c];
      char r50[16] = "", r99[16] = "", fi[16] = "";
      if (c == C_MLOG) {
        double a =
            rw->has[C_COMMIT] ? rw->ratio : (unit > 0 ? s->s.p50_us / unit : 0);
        double b = rw->has[C_COMMIT] ? rw->ratio_p99
                                     : (unit > 0 ? s->s.p99_us / unit : 0);
        if (a > 0) {
          snprintf(r50, sizeof r50, "%.2f", a);
          snprintf(r99, sizeof r99, "%.2f", b);
        }
        snprintf(fi, sizeof fi, "%.3f", s->s.p50_us / (flush_ms_used() * 1e3));
      } else {
        snprintf(r50, sizeof r50, "1");
      }
      printf("%-7s %-11s %8llu %9.1f %9.1f %9.1f %9s %9s %10s\n", rw->variant,
             contender_names[c],
             (unsigned long long)(c == C_MLOG ? s->outputs : s->s.commits),
             s->s.p50_us, s->s.p99_us, s->s.max_us, r50, r99, fi);
      if (c == C_MLOG && s->overruns)
        printf("        (%llu outputs released after their timestamp was "
               "reused: not counted)\n",
               (unsigned long long)s->overruns);
    }
  }
  printf("log_commit: one mlog_log_append of a delivery and a MARK (the "
         "flusher's commit\nwhen idle); p50/p99 cmt: mlog's latency over "
         "log_commit's p50 (paired by round\nin the paced row); p50 flush: "
         "over the configured flush_ms (%.0f ms), which the\nthreaded "
         "flusher does not wait for.\n",
         flush_ms_used());
}

static void print_targets(const row *rows, size_t nrows) {
  printf("\nTargets (informative; nothing is asserted):\n");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc == S_HANDLER && rw->has[C_NOLOG] && rw->burst == FLOW_BURST)
      printf("  handler burst %zu: added %.0f ns/msg (<= %.0f): %s; with the "
             "flusher's CPU (tags) %.0f ns/msg\n",
             rw->burst, rw->added_ns, TARGET_ADDED_NS,
             rw->added_ns <= TARGET_ADDED_NS ? "met" : "MISSED",
             rw->added_ns + bg_ns_per_msg(&rw->med[C_MLOG]));
    if (rw->sc == S_SUSTAINED) {
      const sample *s = &rw->med[C_MLOG];
      printf("  sustained: %.2f M msg/s receiver time (>= %.0f M): %s; wall "
             "%.2f M msg/s; persisted %.4f of delivered\n",
             rcv_rate(s) / 1e6, TARGET_MSGS / 1e6,
             rcv_rate(s) >= TARGET_MSGS ? "met" : "MISSED", wall_rate(s) / 1e6,
             frac(s->persisted_rsn, s->rsn));
    }
  }
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

static json_t *params_json(const bench *bn, const row *rw, contender c,
                           const bench_fs *fi) {
  json_t *p = json_pack(
      "{s:s, s:s, s:i, s:i, s:s, s:i, s:s, s:s, s:f, s:b}", "contender",
      contender_names[c], "scenario", scenario_names[rw->sc], "payload_bytes",
      (int)bn->payload_len, "burst", (int)rw->burst, "mode", bn->b.mode,
      "rounds", (int)rw->rounds, "fs", fi->type, "protocol", PROTOCOL,
      "flush_ms", flush_ms_used(), "durable", !fi->memory);
  if (p != NULL && rw->variant != NULL)
    json_object_set_new(p, "variant", json_string(rw->variant));
  if (p != NULL && c != C_NOLOG && c != C_COMMIT)
    json_object_set_new(
        p, "retransmit_ms",
        json_integer(bn->retransmit_ms ? bn->retransmit_ms : 200));
  if (p != NULL && rw->sc == S_OUTPUT && c == C_MLOG)
    json_object_set_new(
        p, "output_every",
        json_integer(strcmp(rw->variant, "paced") == 0 ? 1 : bn->every));
  return p;
}

static int add(json_t *arr, const bench *bn, const row *rw, contender c,
               const bench_fs *fi, const char *metric, double value,
               const char *unit, contender base, double base_value,
               double ratio) {
  char name[96];
  snprintf(name, sizeof name, "optimistic_%s%s%s/%s", scenario_names[rw->sc],
           rw->variant ? "_" : "", rw->variant ? rw->variant : "",
           contender_names[c]);
  return bench_json_add(arr, name, params_json(bn, rw, c, fi), metric, value,
                        unit, base == C_COUNT ? NULL : contender_names[base],
                        base_value, ratio);
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const bench_fs *fi) {
  json_t *arr = json_array();
  int rc = arr ? 0 : -1;
  double unit = commit_unit_us(rows, nrows);
  for (size_t i = 0; rc == 0 && i < nrows; i++) {
    const row *rw = &rows[i];
    const sample *m = &rw->med[C_MLOG];
    if (rw->sc == S_HANDLER) {
      const sample *z = &rw->med[C_NOLOG];
      bool hb = rw->has[C_NOLOG];
      if (hb) {
        rc |= add(arr, bn, rw, C_NOLOG, fi, "ns_per_message", ns_per_msg(z),
                  "ns", C_COUNT, 0, 0);
        rc |= add(arr, bn, rw, C_NOLOG, fi, "messages_per_s", rcv_rate(z),
                  "messages/s", C_COUNT, 0, 0);
      }
      rc |= add(arr, bn, rw, C_MLOG, fi, "ns_per_message", ns_per_msg(m), "ns",
                hb ? C_NOLOG : C_COUNT, ns_per_msg(z), rw->ratio);
      if (hb)
        rc |= add(arr, bn, rw, C_MLOG, fi, "added_ns_per_message", rw->added_ns,
                  "ns", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "messages_per_s", rcv_rate(m),
                "messages/s", hb ? C_NOLOG : C_COUNT, rcv_rate(z),
                hb && rw->ratio > 0 ? 1 / rw->ratio : 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "per_poll_ns_p99", m->s.p99_us * 1e3,
                "ns", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "flusher_cpu_ns_per_message",
                bg_ns_per_msg(m), "ns", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "control_frames_per_message",
                ctl_per_msg(m), "frames", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "frames_resent", (double)m->resent,
                "frames", C_COUNT, 0, 0);
    } else if (rw->sc == S_SUSTAINED) {
      rc |= add(arr, bn, rw, C_MLOG, fi, "messages_per_s", rcv_rate(m),
                "messages/s", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "wall_messages_per_s", wall_rate(m),
                "messages/s", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "persisted_fraction",
                frac(m->persisted_rsn, m->rsn), "fraction", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "committed_fraction",
                frac(m->committed_rsn, m->rsn), "fraction", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "lag_messages",
                (double)(m->rsn - m->persisted_rsn), "messages", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "flusher_cpu_ns_per_message",
                bg_ns_per_msg(m), "ns", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "catchup_ms",
                m->catchup_secs >= 0 ? m->catchup_secs * 1e3 : -1, "ms",
                C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "frames_resent", (double)m->resent,
                "frames", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "control_frames_per_message",
                ctl_per_msg(m), "frames", C_COUNT, 0, 0);
    } else {
      const sample *z = &rw->med[C_COMMIT];
      bool hb = rw->has[C_COMMIT] || unit > 0;
      double bv = rw->has[C_COMMIT] ? z->s.p50_us : unit;
      double r50 =
          rw->has[C_COMMIT] ? rw->ratio : (unit > 0 ? m->s.p50_us / unit : 0);
      double r99 = rw->has[C_COMMIT] ? rw->ratio_p99
                                     : (unit > 0 ? m->s.p99_us / unit : 0);
      if (rw->has[C_COMMIT]) {
        rc |= add(arr, bn, rw, C_COMMIT, fi, "commit_latency_p50", z->s.p50_us,
                  "us", C_COUNT, 0, 0);
        rc |= add(arr, bn, rw, C_COMMIT, fi, "commit_latency_p99", z->s.p99_us,
                  "us", C_COUNT, 0, 0);
      }
      rc |= add(arr, bn, rw, C_MLOG, fi, "output_latency_p50", m->s.p50_us,
                "us", hb ? C_COMMIT : C_COUNT, bv, r50);
      rc |= add(arr, bn, rw, C_MLOG, fi, "output_latency_p99", m->s.p99_us,
                "us", hb ? C_COMMIT : C_COUNT, bv, r99);
      rc |= add(arr, bn, rw, C_MLOG, fi, "output_latency_max", m->s.max_us,
                "us", C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "output_latency_p50_flush_intervals",
                m->s.p50_us / (flush_ms_used() * 1e3), "flush_ms intervals",
                C_COUNT, 0, 0);
      rc |= add(arr, bn, rw, C_MLOG, fi, "outputs_timed", (double)m->outputs,
                "outputs", C_COUNT, 0, 0);
    }
  }
  if (rc == 0)
    rc = bench_json_write("bench_optimistic", arr, path);
  else
    fprintf(stderr, "bench_optimistic: out of memory for the results\n");
  json_decref(arr);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_optimistic [--quick | --full] [--dir DIR] [--json "
          "FILE]\n"
          "                        [--rounds N] [--seconds S] [--payload N]\n"
          "                        [--batch B] [--scenario LIST] [--every N]\n"
          "                        [--retransmit-ms N]\n"
          "  Two processes, optimistic-receiver logging (background flusher)\n"
          "  on a real disk: handler-path ns/msg against no logging, "
          "sustained\n"
          "  msg/s and the durable log's lag, output-commit latency.\n"
          "  --quick       CI smoke run (under ~10 s)\n"
          "  --full        longer, steadier measurements\n"
          "  --dir DIR     parent of the scratch directory\n"
          "  --json FILE   also write the results as a JSON array\n"
          "  --rounds N    interleaved rounds (the median is reported)\n"
          "  --seconds S   handler: minimum timed seconds; sustained and "
          "loaded\n"
          "                output: seconds per run\n"
          "  --payload N   message bytes (default 64)\n"
          "  --batch B     handler: only bursts of B (1, 64 or 512);\n"
          "                sustained and loaded output: bursts of B (64)\n"
          "  --scenario L  handler, sustained, output (comma-separated; "
          "default all)\n"
          "  --every N     loaded output: an output per N deliveries "
          "(default %d)\n"
          "  --retransmit-ms N  the processes' resend timeout (default: the\n"
          "                runtime's, 200 ms)\n"
          "  --verbose     print every measurement on stderr\n",
          DEFAULT_EVERY);
}

static int parse_scenarios(const char *list, bool *enabled) {
  for (int s = 0; s < S_COUNT; s++)
    enabled[s] = false;
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    int found = -1;
    for (int s = 0; s < S_COUNT; s++)
      if (strlen(scenario_names[s]) == len &&
          strncmp(p, scenario_names[s], len) == 0)
        found = s;
    if (found < 0)
      return -1;
    enabled[found] = true;
    p += len + (p[len] == ',');
  }
  return 0;
}

int main(int argc, char **argv) {
  bench bn = {.b = default_budget, .every = DEFAULT_EVERY};
  bench_opts o = {.b = default_budget};
  for (int s = 0; s < S_COUNT; s++)
    bn.scenarios[s] = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&o, &quick_budget, &full_budget, argc, argv,
                                    &i, "bench_optimistic");
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--scenario") == 0 && val) {
      if (parse_scenarios(val, bn.scenarios) != 0) {
        fprintf(stderr, "bench_optimistic: --scenario: unknown in '%s'\n", val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--every") == 0 && val) {
      char *end;
      long v = strtol(val, &end, 10);
      if (*end || v < 1 || v > 1000000) {
        fprintf(stderr, "bench_optimistic: --every wants 1..1000000\n");
        return 2;
      }
      bn.every = (uint32_t)v;
      i++;
    } else if (strcmp(a, "--retransmit-ms") == 0 && val) {
      char *end;
      long v = strtol(val, &end, 10);
      if (*end || v < 1 || v > 3600000) {
        fprintf(stderr, "bench_optimistic: --retransmit-ms wants 1..3600000\n");
        return 2;
      }
      bn.retransmit_ms = (uint32_t)v;
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
  bn.lb = strcmp(bn.b.mode, "quick") == 0  ? quick_long
          : strcmp(bn.b.mode, "full") == 0 ? full_long
                                           : default_long;
  if (o.secs > 0)
    bn.lb.sustained_secs = bn.lb.loaded_secs = o.secs;
  if (o.rounds > 0)
    bn.lb.sustained_rounds = bn.lb.loaded_rounds = (unsigned)o.rounds;
  if (o.payload > 0 && o.payload > (long)(MLOG_PAYLOAD_MAX / 2)) {
    fprintf(stderr, "bench_optimistic: --payload too large\n");
    return 2;
  }
  bn.payload_len = o.payload > 0 ? (uint32_t)o.payload : 64;
  if (bn.payload_len < 8) {
    fprintf(stderr, "bench_optimistic: --payload wants >= 8 bytes\n");
    return 2;
  }
  bn.logger = mlog_logger_find(PROTOCOL);
  if (bn.logger == NULL || !(bn.logger->flags & MLOG_LOGGER_EAGER)) {
    fprintf(stderr,
            "bench_optimistic: the %s logger is missing or not "
            "eager\n",
            PROTOCOL);
    return 1;
  }

  printf("bench_optimistic: %s logging (background flusher), mode %s (%u "
         "rounds, each handler\nmeasurement >= %.2f s and >= %u polls, <= "
         "%.2f s timed; sustained %.1f s x %u, loaded\noutput %.1f s x %u)\n",
         PROTOCOL, bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs, bn.lb.sustained_secs, bn.lb.sustained_rounds,
         bn.lb.loaded_secs, bn.lb.loaded_rounds);
  bench_fs fi;
  if (bench_scratch_create("bench_optimistic", o.dir, bn.scratch,
                           sizeof bn.scratch, &fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();

  int status = 1;
  row rows[N_BURSTS + 3];
  size_t nrows = 0;
  sample *samples = calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *samples);
  bn.payload = malloc(bn.payload_len);
  if (samples == NULL || bn.payload == NULL) {
    fprintf(stderr, "bench_optimistic: out of memory\n");
    goto cleanup;
  }
  bench_fill_payload(bn.payload, bn.payload_len);

  if (bn.scenarios[S_HANDLER]) {
    static const contender cs[] = {C_MLOG, C_NOLOG};
    for (size_t i = 0; i < N_BURSTS; i++) {
      if (o.batch && (long)burst_sizes[i] != o.batch)
        continue;
      if (run_row(&bn, S_HANDLER, NULL, burst_sizes[i], cs, 2, bn.b.rounds,
                  samples, &rows[nrows]) != 0)
        goto cleanup;
      nrows++;
    }
  }
  size_t fb = o.batch ? (size_t)o.batch : FLOW_BURST;
  if (bn.scenarios[S_SUSTAINED]) {
    static const contender cs[] = {C_MLOG};
    if (run_row(&bn, S_SUSTAINED, NULL, fb, cs, 1, bn.lb.sustained_rounds,
                samples, &rows[nrows]) != 0)
      goto cleanup;
    nrows++;
  }
  if (bn.scenarios[S_OUTPUT]) {
    static const contender paced[] = {C_MLOG, C_COMMIT};
    static const contender loaded[] = {C_MLOG};
    if (run_row(&bn, S_OUTPUT, "paced", 1, paced, 2, bn.b.rounds, samples,
                &rows[nrows]) != 0)
      goto cleanup;
    nrows++;
    if (run_row(&bn, S_OUTPUT, "loaded", fb, loaded, 1, bn.lb.loaded_rounds,
                samples, &rows[nrows]) != 0)
      goto cleanup;
    nrows++;
  }
  if (bn.scenarios[S_HANDLER])
    print_handler(&bn, rows, nrows);
  print_sustained(rows, nrows);
  print_output(rows, nrows);
  print_targets(rows, nrows);
  fflush(stdout);
  if (o.json != NULL && write_json(o.json, &bn, rows, nrows, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\nbench_optimistic: interrupted\n");
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "bench_optimistic: cannot remove %s: %s\n", bn.scratch,
            strerror(errno));
  bench_lat_free(&bn.lat);
  free(bn.payload);
  free(samples);
  return bench_interrupted ? 130 : status;
}
