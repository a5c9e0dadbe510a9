/* bench_sender.c - pessimistic-sender (sender-based logging, memory and
 * durable modes) against the same application without logging, and against
 * pessimistic-receiver and the checkpoint-only protocols */

/*
 * Two processes in this OS process on the sim transport (frame delay 1..1
 * virtual ms, lossless: the network costs nothing but the copies), logs on a
 * real disk, real fdatasync everywhere (no MLOG_PROC_NOSYNC: like
 * bench_pessimistic's main contender; durable mode's sender commits are
 * synchronous). Contenders, measured in interleaved rounds (the order
 * rotates each round) on fresh directories:
 *
 *   no_logging      the same application without mlog: the same handlers,
 *                   credits and driver, its frames (a zeroed 32-byte
 *                   envelope + the message, as long as mlog's data frames)
 *                   sent and received through the same sim endpoints; no
 *                   acknowledgements, no log. (bench_pessimistic has no
 *                   no-logging contender: its baselines are raw fdatasync
 *                   and mlog without flushes.)
 *   sender_memory   protocol "pessimistic-sender", rsns in the senders'
 *                   memory
 *   sender_durable  the same with MLOG_PROC_SENDER_DURABLE: the sender
 *                   commits payload + rsn before acknowledging the rsn
 *   receiver        protocol "pessimistic-receiver", for comparison
 *   coordinated     protocol "coordinated": no message logged, a
 *                   Chandy-Lamport snapshot every --ckpt deliveries
 *   none            protocol "none": no message logged, an independent
 *                   checkpoint every --ckpt deliveries
 *
 * Every mlog process checkpoints every --ckpt deliveries (default 1024):
 * under sender-based logging a sender keeps each message until the
 * receiver's checkpoint covers it, so without checkpoints its memory (and
 * durable mode's sender database) grows without bound. The same policy
 * applies to pessimistic-receiver.
 *
 * The driver moves every frame in flight to its receiver's inbox, then
 * polls each process that got frames (poll timeout 0), and again: one
 * iteration per network hop. Sender-based logging needs more hops per
 * message (DATA, RSN back, RSN_ACK, and only then the receiver's next send
 * leaves), which this driver adds no delay for: the costs measured are the
 * CPU and the flushes of both processes.
 *
 * Saturation, per payload size (64 B, 1 KiB): process 1 gives credits
 * (one per window/4 deliveries, the first one of a whole window, sent
 * outside a handler before timing starts); process 0's handler answers each
 * with that many messages (every send is a handler's send, as in
 * bench_pessimistic); process 1's handler folds a byte. Window 1024 by
 * default (--window). msgs/s is process 1's deliveries over the poll time
 * of the busier process: each process stands for its own machine, and at
 * saturation the slower one sets the pace (sender-based logging moves work
 * to the sender). "1-core" is the same deliveries over the whole loop
 * (both processes, the sim, the driver), as if both shared one core. The
 * first two windows are not timed.
 *
 * One at a time (ping-pong), per payload size: process 0 sends one message
 * (outside a handler, untimed), then each handler answers the message it
 * gets with one of the same size. A round trip runs from process 0's
 * handler's send to its next delivery (everything between is timed: both
 * processes' polls, the sim). Under sender-based logging the answer is held
 * until the delivery's rsn is acknowledged by its sender, so a round trip
 * takes DATA, RSN and RSN_ACK frames each way. Round trips/s is round trips
 * over the timed loop. The first 8 round trips are not timed.
 *
 * Counted, not guessed: frames by kind through a transport that wraps the
 * sim endpoints, and flushes by defining fdatasync and fsync in this
 * program (LMDB's calls from its shared library bind to them; they count
 * the call, charged to the process being polled, and make the system call).
 * Nothing here asserts on wall-clock time.
 */

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/sim.h>
#include <mlog/transport.h>

#include "bench/benchlib.h"
#include "core/wire.h" /* the frame envelope: kind byte and header size */

#define PROG "bench_sender"
#define SENDER 0u
#define RECEIVER 1u
#define OUTSIDE 2u           /* flushes outside any poll (open, close) */
#define SIM_SEED 20261122u   /* any: the sim's choices follow it */
#define DEFAULT_WINDOW 1024  /* saturation: messages outstanding */
#define CREDITS_PER_WINDOW 4 /* saturation: a credit per window/4 */
#define DEFAULT_CKPT 1024    /* checkpoint every this many deliveries */
#define WARMUP_WINDOWS 2     /* saturation: deliveries not timed */
#define WARMUP_ROUND_TRIPS 8 /* ping-pong: round trips not timed */
#define MAX_PAYLOAD 1024     /* --payload at most */
#define MAX_WINDOW (1u << 20)

static const uint32_t payload_sizes[] = {64, 1024};
#define N_SIZES (sizeof payload_sizes / sizeof payload_sizes[0])

static const bench_budget quick_budget = {"quick", 3, 0.05, 20, 0.3};
static const bench_budget default_budget = {"default", 3, 0.3, 200, 2.0};
static const bench_budget full_budget = {"full", 7, 0.5, 200, 2.0};

typedef enum scenario { S_SATURATION, S_PINGPONG, S_COUNT } scenario;

static const char *const scenario_names[S_COUNT] = {
    [S_SATURATION] = "saturation",
    [S_PINGPONG] = "pingpong",
};

typedef enum contender {
  C_NOLOG,
  C_SMEM,
  C_SDUR,
  C_RECV,
  C_COORD,
  C_NONE,
  C_COUNT
} contender;

static const char *const contender_names[C_COUNT] = {
    [C_NOLOG] = "no_logging",    [C_SMEM] = "sender_memory",
    [C_SDUR] = "sender_durable", [C_RECV] = "receiver",
    [C_COORD] = "coordinated",   [C_NONE] = "none",
};

static const char *protocol_of(contender c) {
  static const char *const protocols[C_COUNT] = {
      [C_SMEM] = "pessimistic-sender",
      [C_SDUR] = "pessimistic-sender",
      [C_RECV] = "pessimistic-receiver",
      [C_COORD] = "coordinated",
      [C_NONE] = "none",
  };
  return protocols[c];
}

static const char *sender_mode_of(contender c) {
  return c == C_SMEM ? "memory" : c == C_SDUR ? "durable" : NULL;
}

/* ------------------------------------------------------------------------ */
/* Counting: frames by kind, flushes by process                             */

#define N_KINDS (MLOGI_FRAME_KIND_MAX + 1) /* index 0: anything else */

typedef struct counters {
  uint64_t frames[N_KINDS]; /* frames sent, by envelope kind */
  uint64_t frame_bytes;
  uint64_t syncs[3]; /* fdatasync + fsync calls while polling 0, 1, neither */
} counters;

static counters cnt;
static unsigned polling = OUTSIDE;
static bool syncs_seen; /* the interposition works (LMDB's calls reach us) */

/* LMDB (a shared library) flushes with fdatasync (fsync on some
 * filesystems); these definitions take its calls. The system call itself
 * is made directly, as the C library's wrappers do. */
int fdatasync(int fd) {
  cnt.syncs[polling]++;
  syncs_seen = true;
  return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd) {
  cnt.syncs[polling]++;
  syncs_seen = true;
  return (int)syscall(SYS_fsync, fd);
}

static counters counters_diff(const counters *a, const counters *b) {
  counters d;
  for (int k = 0; k < N_KINDS; k++)
    d.frames[k] = a->frames[k] - b->frames[k];
  d.frame_bytes = a->frame_bytes - b->frame_bytes;
  for (int k = 0; k < 3; k++)
    d.syncs[k] = a->syncs[k] - b->syncs[k];
  return d;
}

static uint64_t frames_total(const counters *c) {
  uint64_t n = 0;
  for (int k = 0; k < N_KINDS; k++)
    n += c->frames[k];
  return n;
}

static uint64_t syncs_total(const counters *c) {
  return c->syncs[0] + c->syncs[1] + c->syncs[2];
}

/* The sim, counting what is sent. Its config is the mlog_sim pointer. */
typedef struct count_ep {
  void *inner; /* the sim endpoint */
} count_ep;

static int ct_open(void *self, const void *config, uint32_t id,
                   uint32_t group_size) {
  count_ep *ep = self;
  ep->inner = calloc(1, mlog_sim_ops.size ? mlog_sim_ops.size : 1);
  if (ep->inner == NULL)
    return MLOG_ENOMEM;
  int rc = mlog_sim_ops.open(ep->inner, config, id, group_size);
  if (rc != MLOG_OK) {
    free(ep->inner);
    ep->inner = NULL;
  }
  return rc;
}

static int ct_send(void *self, uint32_t dst, const void *frame, size_t len) {
  count_ep *ep = self;
  uint8_t kind = len > 0 ? *(const uint8_t *)frame : 0;
  cnt.frames[kind < N_KINDS ? kind : 0]++;
  cnt.frame_bytes += len;
  return mlog_sim_ops.send(ep->inner, dst, frame, len);
}

static int ct_recv(void *self, int timeout_ms, uint32_t *src,
                   const void **frame, size_t *len) {
  count_ep *ep = self;
  return mlog_sim_ops.recv(ep->inner, timeout_ms, src, frame, len);
}

static uint64_t ct_now_ms(void *self) {
  count_ep *ep = self;
  return mlog_sim_ops.now_ms(ep->inner);
}

static void ct_close(void *self) {
  count_ep *ep = self;
  if (ep->inner != NULL)
    mlog_sim_ops.close(ep->inner);
  free(ep->inner);
  ep->inner = NULL;
}

static const mlog_transport_ops count_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "sim-counting",
    .size = sizeof(count_ep),
    .open = ct_open,
    .send = ct_send,
    .recv = ct_recv,
    .now_ms = ct_now_ms,
    .close = ct_close,
};

/* ------------------------------------------------------------------------ */
/* The application                                                          */

typedef struct run run;

/* One process's application state (and, without logging, its endpoint). */
typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  run *rn;
  uint32_t id;
  mlog_proc *p; /* NULL: no logging */
  void *ep;     /* no logging: its count_ops endpoint */
  uint8_t frame[MLOGI_FRAME_HEADER + MAX_PAYLOAD]; /* no logging: a send */
} node;

/* The two processes of one measurement and what drives them. */
struct run {
  scenario sc;
  contender who;
  uint32_t payload_len;
  const uint8_t *payload;
  uint64_t window; /* saturation: the first credit */
  uint64_t credit; /* saturation: a credit per this many deliveries */
  mlog_sim *sim;
  node nd[2];
  bench_lat *lat;       /* ping-pong: round-trip times */
  bool timing;          /* the timed part has begun */
  double sent_at;       /* ping-pong: process 0's last send */
  uint64_t round_trips; /* ping-pong: completed, warm-up included */
  double poll_secs[2];  /* timed: each process's polls */
  uint64_t polls[2];    /* timed: polls that found frames */
  char err[512];
};

static int pfail(run *rn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int pfail(run *rn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rn->err, sizeof rn->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* Send through mlog (p), or without logging: one frame, envelope zeroed
 * but for its kind (set when the node was made). */
static int node_send(node *nd, mlog_proc *p, uint32_t dst, const void *msg,
                     size_t len) {
  if (p != NULL)
    return mlog_send(p, dst, msg, len);
  memcpy(nd->frame + MLOGI_FRAME_HEADER, msg, len);
  return count_ops.send(nd->ep, dst, nd->frame, MLOGI_FRAME_HEADER + len);
}

/* The handler, with and without mlog: fold a byte; then, by scenario and
 * role, answer. The clock read in ping-pong is measurement only: it never
 * reaches the state. */
static int node_on_message(node *nd, mlog_proc *p, const void *msg,
                           size_t len) {
  run *rn = nd->rn;
  bench_fold_add(&nd->st, msg, len);
  if (rn->sc == S_PINGPONG) {
    if (nd->id == SENDER) {
      double now = bench_now();
      if (rn->timing && bench_lat_add(rn->lat, now - rn->sent_at) != 0)
        return -1;
      rn->round_trips++;
      rn->sent_at = now;
    }
    return node_send(nd, p, nd->id == SENDER ? RECEIVER : SENDER, rn->payload,
                     rn->payload_len);
  }
  if (nd->id == RECEIVER) {
    if (nd->st.count % rn->credit != 0)
      return 0;
    uint8_t c[8];
    bench_put_le64(c, rn->credit);
    return node_send(nd, p, SENDER, c, sizeof c);
  }
  if (len != 8)
    return -1;
  for (uint64_t i = bench_get_le64(msg); i > 0; i--) {
    int rc = node_send(nd, p, RECEIVER, rn->payload, rn->payload_len);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int app_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                       size_t len) {
  (void)src;
  return node_on_message(arg, p, msg, len);
}

static const mlog_app node_app = {
    .deliver = app_deliver,
    .snapshot = bench_fold_snapshot,
    .restore = bench_fold_restore,
};

/* ------------------------------------------------------------------------ */
/* Driving the pair                                                         */

static int open_run(run *rn, const char *dirpath, uint64_t ckpt_every) {
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = 2, .min_delay_ms = 1, .max_delay_ms = 1};
  if (mkdir(dirpath, 0750) != 0)
    return pfail(rn, "mkdir %s: %s", dirpath, strerror(errno));
  int rc = mlog_sim_create(&so, &rn->sim);
  if (rc != MLOG_OK)
    return pfail(rn, "mlog_sim_create: %s", mlog_strerror(rc));
  for (uint32_t id = 0; id < 2; id++) {
    node *nd = &rn->nd[id];
    nd->rn = rn;
    nd->id = id;
    nd->frame[0] = MLOGI_FRAME_DATA;
    if (rn->who == C_NOLOG) {
      nd->ep = calloc(1, count_ops.size);
      if (nd->ep == NULL)
        return pfail(rn, "out of memory");
      rc = count_ops.open(nd->ep, rn->sim, id, 2);
      if (rc != MLOG_OK) {
        free(nd->ep);
        nd->ep = NULL;
        return pfail(rn, "opening endpoint %u: %s", id, mlog_strerror(rc));
      }
      continue;
    }
    char sub[PATH_MAX + 80];
    snprintf(sub, sizeof sub, "%s/p%u", dirpath, id);
    mlog_proc_config cfg = {
        .dirpath = sub,
        .id = id,
        .group_size = 2,
        .protocol = protocol_of(rn->who),
        .ckpt_every_deliveries = ckpt_every,
        .transport = &count_ops,
        .transport_config = rn->sim,
        .flags = rn->who == C_SDUR ? MLOG_PROC_SENDER_DURABLE : 0};
    rc = mlog_proc_open(&cfg, &node_app, nd, &nd->p);
    if (rc != MLOG_OK)
      return pfail(rn, "mlog_proc_open %s: %s (%s)", sub, mlog_errname(rc),
                   mlog_proc_errmsg(NULL));
  }
  return 0;
}

static void close_run(run *rn) {
  for (int id = 0; id < 2; id++) {
    node *nd = &rn->nd[id];
    mlog_proc_close(nd->p);
    nd->p = NULL;
    if (nd->ep != NULL)
      count_ops.close(nd->ep);
    free(nd->ep);
    nd->ep = NULL;
  }
  mlog_sim_destroy(rn->sim);
  rn->sim = NULL;
}

/* Without logging: take every frame that has arrived and deliver it. */
static int nolog_poll(run *rn, node *nd, int *delivered) {
  int n = 0;
  for (;;) {
    uint32_t src;
    const void *frame;
    size_t len;
    int rc = count_ops.recv(nd->ep, 0, &src, &frame, &len);
    if (rc == MLOG_EAGAIN)
      break;
    if (rc != MLOG_OK)
      return pfail(rn, "receive of process %u: %s", nd->id, mlog_strerror(rc));
    if (len < MLOGI_FRAME_HEADER)
      return pfail(rn, "a short frame for process %u", nd->id);
    if (node_on_message(nd, NULL, (const uint8_t *)frame + MLOGI_FRAME_HEADER,
                        len - MLOGI_FRAME_HEADER) != 0)
      return pfail(rn, "the handler of process %u failed", nd->id);
    n++;
  }
  *delivered = n;
  return 0;
}

/* Poll process id once (timeout 0), timing it and charging its flushes. */
__attribute__((noinline)) static int poll_node(run *rn, uint32_t id) {
  node *nd = &rn->nd[id];
  int n = 0, rc = 0;
  polling = id;
  double t0 = bench_now();
  if (nd->p != NULL) {
    n = mlog_proc_poll(nd->p, 0);
    if (n < 0)
      rc = pfail(rn, "poll of process %u: %s (%s)", id, mlog_errname(-n),
                 mlog_proc_errmsg(nd->p));
  } else {
    rc = nolog_poll(rn, nd, &n);
  }
  double dt = bench_now() - t0;
  polling = OUTSIDE;
  if (rn->timing) {
    rn->poll_secs[id] += dt;
    rn->polls[id]++;
  }
  return rc;
}

/* Let the processes exchange their hellos, then make the first send
 * outside a handler (logged and flushed under mlog): the first credit, or
 * the first ping. Untimed. */
static int seed_run(run *rn) {
  uint32_t dst;
  int rc;
  while ((rc = mlog_sim_step(rn->sim, &dst)) == MLOG_OK)
    if (poll_node(rn, dst) != 0)
      return -1;
  if (rc != MLOG_EAGAIN)
    return pfail(rn, "mlog_sim_step: %s", mlog_strerror(rc));
  node *nd;
  if (rn->sc == S_PINGPONG) {
    nd = &rn->nd[SENDER];
    rn->sent_at = bench_now();
    rc = node_send(nd, nd->p, RECEIVER, rn->payload, rn->payload_len);
  } else {
    uint8_t c[8];
    bench_put_le64(c, rn->window);
    nd = &rn->nd[RECEIVER];
    rc = node_send(nd, nd->p, SENDER, c, sizeof c);
  }
  if (rc != MLOG_OK)
    return pfail(rn, "first send: %s (%s)", mlog_errname(rc),
                 nd->p ? mlog_proc_errmsg(nd->p) : "no logging");
  return 0;
}

/* What a measurement adds to its bench_sample. */
typedef struct extra {
  double loop_secs;     /* the timed part: everything */
  double poll_secs[2];  /* ... of which each process's polls */
  uint64_t polls[2];    /* timed polls of each process */
  uint64_t messages;    /* saturation: deliveries; ping-pong: round trips */
  counters c;           /* frames and flushes of the timed part */
  uint64_t resent;      /* frames resent by either process (should be 0) */
  uint64_t checkpoints; /* by either process, in the whole measurement */
  double wall_secs;     /* the measurement's wall-clock time */
} extra;

typedef struct bench {
  bench_budget b;
  char scratch[PATH_MAX]; /* our mkdtemp directory */
  uint8_t *payload;
  bench_lat lat;   /* round trips of the current measurement */
  unsigned serial; /* numbers the measurement directories */
  uint64_t window, ckpt_every;
  bool verbose;
  bool enabled[C_COUNT];
  bool scenarios[S_COUNT];
} bench;

static bool warmed_up(const run *rn) {
  return rn->sc == S_PINGPONG
             ? rn->round_trips >= WARMUP_ROUND_TRIPS
             : rn->nd[RECEIVER].st.count >= WARMUP_WINDOWS * rn->window;
}

/* The loop of both scenarios: move every frame in flight, poll the
 * processes that got some (the receiver first), until the budget is spent.
 */
static int drive(const bench *bn, run *rn, extra *ex) {
  double wall0 = bench_now(), t_start = 0;
  counters base;
  memset(&base, 0, sizeof base);
  uint64_t base_count = 0;
  int rc = 0;
  while (!bench_interrupted) {
    if (rn->timing) {
      uint64_t n = rn->sc == S_PINGPONG
                       ? rn->lat->n
                       : rn->nd[RECEIVER].st.count - base_count;
      if (bench_budget_spent(&bn->b, bench_now() - t_start, n, wall0))
        break;
    } else if (warmed_up(rn)) {
      rn->timing = true;
      base = cnt;
      base_count = rn->nd[RECEIVER].st.count;
      t_start = bench_now();
    } else if (bench_now() - wall0 > 4 * bn->b.max_secs + 5) {
      return pfail(rn, "no progress during the warm-up");
    }
    bool got[2] = {false, false};
    uint32_t dst;
    while ((rc = mlog_sim_step(rn->sim, &dst)) == MLOG_OK)
      got[dst] = true;
    if (rc != MLOG_EAGAIN)
      return pfail(rn, "mlog_sim_step: %s", mlog_strerror(rc));
    if (!got[SENDER] && !got[RECEIVER])
      return pfail(rn, "stalled: nothing in flight");
    rc = 0;
    if (got[RECEIVER])
      rc = poll_node(rn, RECEIVER);
    if (rc == 0 && got[SENDER])
      rc = poll_node(rn, SENDER);
    if (rc != 0)
      return rc;
  }
  if (!rn->timing)
    return 0;
  ex->loop_secs = bench_now() - t_start;
  ex->c = counters_diff(&cnt, &base);
  for (int id = 0; id < 2; id++) {
    ex->poll_secs[id] = rn->poll_secs[id];
    ex->polls[id] = rn->polls[id];
  }
  ex->messages = rn->sc == S_PINGPONG ? rn->lat->n
                                      : rn->nd[RECEIVER].st.count - base_count;
  return 0;
}

/* Run one measurement of `who` on a fresh directory. Returns 0, or -1 with
 * the cause printed. */
static int measure(bench *bn, scenario sc, contender who, uint32_t payload_len,
                   bench_sample *out, extra *ex) {
  run *rn = calloc(1, sizeof *rn);
  if (rn == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return -1;
  }
  uint64_t window = sc == S_SATURATION ? bn->window : 1;
  *rn = (run){.sc = sc,
              .who = who,
              .payload_len = payload_len,
              .payload = bn->payload,
              .window = window,
              .credit =
                  window / CREDITS_PER_WINDOW ? window / CREDITS_PER_WINDOW : 1,
              .lat = &bn->lat};
  char dirpath[PATH_MAX + 64];
  if (snprintf(dirpath, sizeof dirpath, "%s/m%u-%s", bn->scratch, bn->serial++,
               contender_names[who]) >= (int)sizeof dirpath) {
    fprintf(stderr, "%s: %s: path too long\n", PROG, bn->scratch);
    free(rn);
    return -1;
  }
  memset(&cnt, 0, sizeof cnt);
  *ex = (extra){0};
  *out = (bench_sample){0};
  bn->lat.n = 0;
  double wall0 = bench_now();
  int rc = open_run(rn, dirpath, bn->ckpt_every);
  if (rc == 0)
    rc = seed_run(rn);
  if (rc == 0)
    rc = drive(bn, rn, ex);
  for (int id = 0; id < 2; id++) {
    if (rn->nd[id].p == NULL)
      continue;
    mlog_proc_stats st;
    mlog_proc_get_stats(rn->nd[id].p, &st);
    ex->resent += st.resent;
    ex->checkpoints += st.checkpoints;
  }
  close_run(rn);
  ex->wall_secs = bench_now() - wall0;
  if (bench_remove_tree(dirpath) != 0 && rc == 0)
    rc = pfail(rn, "cannot remove %s: %s", dirpath, strerror(errno));
  /* Commit the deletion now, so that it is not charged to the next
   * contender's first commits. */
  bench_settle_fs(bn->scratch);
  if (rc != 0) {
    fprintf(stderr, "\n%s: %s %s (payload %u): %s\n", PROG, scenario_names[sc],
            contender_names[who], payload_len, rn->err);
    free(rn);
    return -1;
  }
  free(rn);
  if (ex->messages == 0) {
    if (!bench_interrupted)
      fprintf(stderr, "\n%s: %s %s (payload %u): nothing delivered\n", PROG,
              scenario_names[sc], contender_names[who], payload_len);
    return -1;
  }
  if (sc == S_SATURATION) {
    /* the busier process sets the pace */
    double busy = ex->poll_secs[0] > ex->poll_secs[1] ? ex->poll_secs[0]
                                                      : ex->poll_secs[1];
    *out = (bench_sample){
        .secs = busy, .commits = ex->polls[RECEIVER], .records = ex->messages};
  } else {
    *out = (bench_sample){.secs = ex->loop_secs,
                          .commits = ex->messages,
                          .records = ex->messages};
    bench_lat_summary(&bn->lat, &out->p50_us, &out->p99_us, &out->max_us);
  }
  if (bn->verbose)
    fprintf(stderr,
            "\n  %-15s %8llu msgs %7.3f s (loop %6.3f s, wall %6.2f s)  "
            "p50 %8.1f us  p99 %8.1f  frames %llu  fsyncs %llu  ckpts %llu  "
            "resent %llu",
            contender_names[who], (unsigned long long)ex->messages, out->secs,
            ex->loop_secs, ex->wall_secs, out->p50_us, out->p99_us,
            (unsigned long long)frames_total(&ex->c),
            (unsigned long long)syncs_total(&ex->c),
            (unsigned long long)ex->checkpoints,
            (unsigned long long)ex->resent);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

typedef struct row {
  scenario sc;
  uint32_t payload_len;
  bool has[C_COUNT];
  bench_sample med[C_COUNT]; /* each contender's median round */
  extra med_ex[C_COUNT];     /* ... and what it counted */
  /* paired with no_logging in the same round, median over rounds: */
  double ratio[C_COUNT];       /* msgs/s (saturation), round trips/s */
  double ratio_1core[C_COUNT]; /* saturation: whole-loop msgs/s */
  double p50_ratio[C_COUNT];   /* ping-pong: p50 latency over no_logging's */
  double p99_ratio[C_COUNT];   /* ping-pong: p99 latency over no_logging's */
} row;

static double loop_rate(const extra *ex) {
  return ex->loop_secs > 0 ? (double)ex->messages / ex->loop_secs : 0;
}

/* Median over rounds of f(a[r]) / f(b[r]). */
static double paired(const bench_sample *a, const bench_sample *b,
                     const extra *ea, const extra *eb, unsigned n, int what) {
  double v[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++) {
    double x, y;
    switch (what) {
    case 0:
      x = loop_rate(&ea[i]);
      y = loop_rate(&eb[i]);
      break;
    case 1:
      x = a[i].p50_us;
      y = b[i].p50_us;
      break;
    default:
      x = a[i].p99_us;
      y = b[i].p99_us;
      break;
    }
    v[i] = y > 0 ? x / y : 0;
  }
  return bench_median(v, n);
}

static void fmt_ratio(char *buf, size_t len, const row *rw, bool base,
                      double v) {
  if (base && rw->has[C_NOLOG])
    snprintf(buf, len, v >= 100 ? "%.0f" : "%.3g", v);
  else
    snprintf(buf, len, "%s", "");
}

static void print_saturation(const bench *bn, const row *rows, size_t nrows) {
  printf("\nSaturation: process 0 streams to process 1 (window %llu, a credit "
         "per %llu)\n",
         (unsigned long long)bn->window,
         (unsigned long long)(bn->window / CREDITS_PER_WINDOW
                                  ? bn->window / CREDITS_PER_WINDOW
                                  : 1));
  printf("%-7s  %-15s %10s %7s %10s %7s %8s %8s %8s %8s %8s\n", "payload",
         "contender", "msgs/s", "x nolog", "1-core/s", "x nolog", "snd us/m",
         "rcv us/m", "fsync/1k", "frames/m", "msg/poll");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_SATURATION)
      continue;
    for (int c = 0; c < C_COUNT; c++) {
      if (!rw->has[c])
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      char r1[16], r2[16], fs[16];
      fmt_ratio(r1, sizeof r1, rw, c != C_NOLOG, rw->ratio[c]);
      fmt_ratio(r2, sizeof r2, rw, c != C_NOLOG, rw->ratio_1core[c]);
      if (syncs_seen || c == C_NOLOG)
        snprintf(fs, sizeof fs, "%.2f",
                 1000.0 * bench_per(syncs_total(&ex->c), ex->messages));
      else
        snprintf(fs, sizeof fs, "n/a");
      printf("%-7u  %-15s %10.0f %7s %10.0f %7s %8.3f %8.3f %8s %8.2f %8.1f\n",
             rw->payload_len, contender_names[c], bench_records_per_sec(s), r1,
             loop_rate(ex), r2,
             ex->messages ? ex->poll_secs[SENDER] / (double)ex->messages * 1e6
                          : 0,
             ex->messages ? ex->poll_secs[RECEIVER] / (double)ex->messages * 1e6
                          : 0,
             fs, bench_per(frames_total(&ex->c), ex->messages),
             (double)ex->messages /
                 (double)(ex->polls[RECEIVER] ? ex->polls[RECEIVER] : 1));
    }
    printf("\n");
  }
  printf("msgs/s: process 1's deliveries per second of the busier process's "
         "polls (each\nprocess on its own core); 1-core/s: per second of the "
         "whole loop (both processes,\nthe sim, the driver). snd/rcv us/m: "
         "poll time of process 0 / 1 per message;\nfsync/1k: fdatasyncs of "
         "both per 1000 messages; frames/m: frames of both per\nmessage; "
         "msg/poll: deliveries per poll of process 1 that found frames.\n");
}

static void print_pingpong(const bench *bn, const row *rows, size_t nrows) {
  (void)bn;
  printf("\nOne at a time (ping-pong): a round trip from process 0's send to "
         "its next delivery\n");
  printf("%-7s  %-15s %9s %7s %9s %9s %7s %7s %9s %8s\n", "payload",
         "contender", "rt/s", "x nolog", "p50 us", "p99 us", "p50 x", "p99 x",
         "frames/rt", "fsync/rt");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != S_PINGPONG)
      continue;
    for (int c = 0; c < C_COUNT; c++) {
      if (!rw->has[c])
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      char r1[16], r50[16], r99[16], fs[16];
      fmt_ratio(r1, sizeof r1, rw, c != C_NOLOG, rw->ratio[c]);
      fmt_ratio(r50, sizeof r50, rw, c != C_NOLOG, rw->p50_ratio[c]);
      fmt_ratio(r99, sizeof r99, rw, c != C_NOLOG, rw->p99_ratio[c]);
      if (syncs_seen || c == C_NOLOG)
        snprintf(fs, sizeof fs, "%.3f",
                 bench_per(syncs_total(&ex->c), ex->messages));
      else
        snprintf(fs, sizeof fs, "n/a");
      printf("%-7u  %-15s %9.0f %7s %9.1f %9.1f %7s %7s %9.3f %8s\n",
             rw->payload_len, contender_names[c], bench_records_per_sec(s), r1,
             s->p50_us, s->p99_us, r50, r99,
             bench_per(frames_total(&ex->c), ex->messages), fs);
    }
    printf("  frames per round trip by kind (median round):\n");
    for (int c = 0; c < C_COUNT; c++) {
      if (!rw->has[c])
        continue;
      const counters *k = &rw->med_ex[c].c;
      uint64_t n = rw->med_ex[c].messages;
      printf("    %-15s data %.3f  ack %.3f  hello %.3f  rsn %.3f  "
             "rsn_ack %.3f\n",
             contender_names[c], bench_per(k->frames[MLOGI_FRAME_DATA], n),
             bench_per(k->frames[MLOGI_FRAME_ACK], n),
             bench_per(k->frames[MLOGI_FRAME_HELLO], n),
             bench_per(k->frames[MLOGI_FRAME_RSN], n),
             bench_per(k->frames[MLOGI_FRAME_RSN_ACK], n));
    }
    printf("\n");
  }
  printf("rt/s: round trips per second of the whole loop; p50 x, p99 x: the "
         "latency over\nno_logging's same percentile in the same round; "
         "fsync/rt: fdatasyncs of both\nprocesses per round trip.\n");
}

static json_t *params_json(const bench *bn, const row *rw, contender c,
                           const bench_fs *fi) {
  return json_pack(
      "{s:s, s:s, s:s?, s:s?, s:i, s:I, s:I, s:s, s:i, s:s, s:b}", "contender",
      contender_names[c], "scenario", scenario_names[rw->sc], "protocol",
      protocol_of(c), "sender_mode", sender_mode_of(c), "payload_bytes",
      (int)rw->payload_len, "window",
      (json_int_t)(rw->sc == S_SATURATION ? bn->window : 1), "ckpt_every",
      (json_int_t)(c == C_NOLOG ? 0 : bn->ckpt_every), "mode", bn->b.mode,
      "rounds", (int)bn->b.rounds, "fs", fi->type, "durable",
      !fi->memory && c != C_NOLOG);
}

static int add_result(json_t *arr, const bench *bn, const row *rw, contender c,
                      const bench_fs *fi, const char *metric, double value,
                      const char *unit, bool vs_base, double base,
                      double ratio) {
  char name[96];
  snprintf(name, sizeof name, "sender_%s/%s", scenario_names[rw->sc],
           contender_names[c]);
  return bench_json_add(arr, name, params_json(bn, rw, c, fi), metric, value,
                        unit, vs_base ? contender_names[C_NOLOG] : NULL, base,
                        ratio);
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const bench_fs *fi) {
  json_t *arr = json_array();
  int rc = arr ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < nrows; i++) {
    const row *rw = &rows[i];
    const bench_sample *z = &rw->med[C_NOLOG];
    const extra *zx = &rw->med_ex[C_NOLOG];
    for (int ci = 0; rc == 0 && ci < C_COUNT; ci++) {
      contender c = (contender)ci;
      if (!rw->has[c])
        continue;
      const bench_sample *s = &rw->med[c];
      const extra *ex = &rw->med_ex[c];
      bool vs = rw->has[C_NOLOG] && c != C_NOLOG;
      bool fs_ok = syncs_seen || c == C_NOLOG;
      if (rw->sc == S_SATURATION) {
        rc |= add_result(arr, bn, rw, c, fi, "messages_per_s",
                         bench_records_per_sec(s), "messages/s", vs,
                         bench_records_per_sec(z), rw->ratio[c]);
        rc |= add_result(arr, bn, rw, c, fi, "messages_per_s_one_core",
                         loop_rate(ex), "messages/s", vs, loop_rate(zx),
                         rw->ratio_1core[c]);
        rc |= add_result(arr, bn, rw, c, fi, "sender_us_per_message",
                         ex->poll_secs[SENDER] / (double)ex->messages * 1e6,
                         "us", false, 0, 0);
        rc |= add_result(arr, bn, rw, c, fi, "receiver_us_per_message",
                         ex->poll_secs[RECEIVER] / (double)ex->messages * 1e6,
                         "us", false, 0, 0);
        if (fs_ok)
          rc |= add_result(arr, bn, rw, c, fi, "fdatasyncs_per_message",
                           bench_per(syncs_total(&ex->c), ex->messages),
                           "fdatasyncs", false, 0, 0);
        rc |= add_result(arr, bn, rw, c, fi, "frames_per_message",
                         bench_per(frames_total(&ex->c), ex->messages),
                         "frames", false, 0, 0);
      } else {
        rc |= add_result(arr, bn, rw, c, fi, "round_trips_per_s",
                         bench_records_per_sec(s), "round trips/s", vs,
                         bench_records_per_sec(z), rw->ratio[c]);
        rc |= add_result(arr, bn, rw, c, fi, "round_trip_latency_p50",
                         s->p50_us, "us", vs, z->p50_us, rw->p50_ratio[c]);
        rc |= add_result(arr, bn, rw, c, fi, "round_trip_latency_p99",
                         s->p99_us, "us", vs, z->p99_us, rw->p99_ratio[c]);
        rc |= add_result(arr, bn, rw, c, fi, "frames_per_round_trip",
                         bench_per(frames_total(&ex->c), ex->messages),
                         "frames", false, 0, 0);
        if (fs_ok)
          rc |= add_result(arr, bn, rw, c, fi, "fdatasyncs_per_round_trip",
                           bench_per(syncs_total(&ex->c), ex->messages),
                           "fdatasyncs", false, 0, 0);
      }
    }
  }
  if (rc == 0)
    rc = bench_json_write(PROG, arr, path);
  else
    fprintf(stderr, "%s: out of memory for the results\n", PROG);
  json_decref(arr);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_sender [--quick | --full] [--dir DIR] [--json FILE]\n"
      "                    [--rounds N] [--seconds S] [--only LIST]\n"
      "                    [--scenario S] [--payload N] [--window N]\n"
      "                    [--ckpt N] [--verbose]\n"
      "  Two sim processes on a real disk: pessimistic-sender (memory and\n"
      "  durable modes), pessimistic-receiver, coordinated and none\n"
      "  against the same application without logging: throughput at\n"
      "  saturation and one-at-a-time round trips.\n"
      "  --quick      CI smoke run (a few seconds in all)\n"
      "  --full       longer, steadier measurements\n"
      "  --dir DIR    parent of the scratch directory (default: beside\n"
      "               this program, else /var/tmp; never tmpfs if\n"
      "               anything else is there)\n"
      "  --json FILE  also write the results as a JSON array\n"
      "  --rounds N   interleaved rounds (the median is reported)\n"
      "  --seconds S  minimum timed seconds per measurement\n"
      "  --only LIST  run only these contenders, comma-separated:\n"
      "               no_logging, sender_memory, sender_durable, receiver,\n"
      "               coordinated, none\n"
      "  --scenario S saturation or pingpong (default: both)\n"
      "  --payload N  only messages of N bytes (1..%d; default 64, 1024)\n"
      "  --window N   saturation: messages outstanding (default %d;\n"
      "               --batch N is the same)\n"
      "  --ckpt N     mlog checkpoints every N deliveries (default %d;\n"
      "               0: never, and sender-based senders keep every\n"
      "               message they sent)\n"
      "  --verbose    print every measurement on stderr\n",
      MAX_PAYLOAD, DEFAULT_WINDOW, DEFAULT_CKPT);
}

/* One row: every enabled contender, rounds interleaved. */
static int run_row(bench *bn, scenario sc, uint32_t plen, bench_sample *samples,
                   extra *extras, row *rw) {
  contender to_run[C_COUNT];
  unsigned n_run = 0;
  for (int c = 0; c < C_COUNT; c++)
    if (bn->enabled[c])
      to_run[n_run++] = (contender)c;
  if (n_run == 0)
    return 1;
  fprintf(stderr, "%s: %s, payload %u B:", PROG, scenario_names[sc], plen);
  for (unsigned r = 0; r < bn->b.rounds && !bench_interrupted; r++) {
    fprintf(stderr, " %u", r + 1);
    for (unsigned k = 0; k < n_run && !bench_interrupted; k++) {
      contender c = to_run[(k + r) % n_run];
      size_t at = (size_t)c * BENCH_MAX_ROUNDS + r;
      if (measure(bn, sc, c, plen, &samples[at], &extras[at]) != 0)
        return -1;
    }
  }
  fprintf(stderr, "\n");
  if (bench_interrupted)
    return -1;
  *rw = (row){.sc = sc, .payload_len = plen};
  const bench_sample *zs = &samples[(size_t)C_NOLOG * BENCH_MAX_ROUNDS];
  const extra *zx = &extras[(size_t)C_NOLOG * BENCH_MAX_ROUNDS];
  for (int c = 0; c < C_COUNT; c++) {
    if (!bn->enabled[c])
      continue;
    const bench_sample *s = &samples[(size_t)c * BENCH_MAX_ROUNDS];
    const extra *x = &extras[(size_t)c * BENCH_MAX_ROUNDS];
    const bench_sample *m = bench_median_sample(s, bn->b.rounds);
    rw->has[c] = true;
    rw->med[c] = *m;
    rw->med_ex[c] = x[m - s];
    if (!bn->enabled[C_NOLOG])
      continue;
    unsigned n = bn->b.rounds;
    rw->ratio[c] = bench_paired_ratio(s, zs, n);
    if (sc == S_SATURATION) {
      rw->ratio_1core[c] = paired(s, zs, x, zx, n, 0);
    } else {
      rw->p50_ratio[c] = paired(s, zs, x, zx, n, 1);
      rw->p99_ratio[c] = paired(s, zs, x, zx, n, 2);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench bn = {.b = default_budget,
              .window = DEFAULT_WINDOW,
              .ckpt_every = DEFAULT_CKPT};
  bench_opts o = {.b = default_budget};
  for (int c = 0; c < C_COUNT; c++)
    bn.enabled[c] = true;
  for (int s = 0; s < S_COUNT; s++)
    bn.scenarios[s] = true;
  bool window_given = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&o, &quick_budget, &full_budget, argc, argv,
                                    &i, PROG);
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--only") == 0 && val) {
      if (bench_parse_list(val, contender_names, C_COUNT, bn.enabled) != 0) {
        fprintf(stderr, "%s: --only: unknown contender in '%s'\n", PROG, val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--scenario") == 0 && val) {
      if (bench_parse_list(val, scenario_names, S_COUNT, bn.scenarios) != 0) {
        fprintf(stderr, "%s: --scenario: unknown scenario in '%s'\n", PROG,
                val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--window") == 0 && val) {
      if (bench_parse_count(val, 1, MAX_WINDOW, &bn.window) != 0) {
        fprintf(stderr, "%s: --window wants 1..%u\n", PROG, MAX_WINDOW);
        return 2;
      }
      window_given = true;
      i++;
    } else if (strcmp(a, "--ckpt") == 0 && val) {
      if (bench_parse_count(val, 0, UINT32_MAX, &bn.ckpt_every) != 0) {
        fprintf(stderr, "%s: --ckpt wants a count of deliveries\n", PROG);
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
  if (o.batch && !window_given) {
    if (o.batch > (long)MAX_WINDOW) {
      fprintf(stderr, "%s: --batch wants 1..%u\n", PROG, MAX_WINDOW);
      return 2;
    }
    bn.window = (uint64_t)o.batch;
  }
  if (o.payload > MAX_PAYLOAD) {
    fprintf(stderr, "%s: --payload wants 1..%d\n", PROG, MAX_PAYLOAD);
    return 2;
  }

  printf("%s: pessimistic-sender (memory, durable) and pessimistic-receiver "
         "against no logging, mode %s (%u rounds, each measurement >= %.2f s "
         "and >= %u messages or round trips, <= %.2f s timed); checkpoints "
         "every %llu deliveries\n",
         PROG, bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs, (unsigned long long)bn.ckpt_every);
  bench_fs fi;
  if (bench_scratch_create(PROG, o.dir, bn.scratch, sizeof bn.scratch, &fi) !=
      0)
    return 1;
  fflush(stdout);
  bench_catch_signals();

  int status = 1;
  row rows[S_COUNT * (N_SIZES + 1)];
  size_t nrows = 0;
  bench_sample *samples =
      calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *samples);
  extra *extras = calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *extras);
  bn.payload = malloc(MAX_PAYLOAD);
  if (samples == NULL || extras == NULL || bn.payload == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    goto cleanup;
  }
  bench_fill_payload(bn.payload, MAX_PAYLOAD);

  for (int sc = 0; sc < S_COUNT; sc++) {
    if (!bn.scenarios[sc])
      continue;
    size_t nsizes = o.payload ? 1 : N_SIZES;
    for (size_t si = 0; si < nsizes; si++) {
      uint32_t plen = o.payload ? (uint32_t)o.payload : payload_sizes[si];
      int r = run_row(&bn, (scenario)sc, plen, samples, extras, &rows[nrows]);
      if (r < 0)
        goto cleanup;
      if (r == 0)
        nrows++;
    }
  }
  if (bn.scenarios[S_SATURATION])
    print_saturation(&bn, rows, nrows);
  if (bn.scenarios[S_PINGPONG])
    print_pingpong(&bn, rows, nrows);
  printf("\nEach contender's median round (by msgs/s, round trips/s); \"x "
         "nolog\" ratios are\nmedians over rounds of the ratio to no_logging "
         "within a round.%s\n",
         syncs_seen ? ""
                    : " fdatasyncs: n/a (LMDB's calls did not reach this "
                      "program's fdatasync).");
  fflush(stdout);
  if (o.json != NULL && write_json(o.json, &bn, rows, nrows, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\n%s: interrupted\n", PROG);
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, bn.scratch,
            strerror(errno));
  bench_lat_free(&bn.lat);
  free(bn.payload);
  free(extras);
  free(samples);
  return bench_interrupted ? 130 : status;
}
