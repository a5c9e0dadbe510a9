/* bench_zmq.c - real processes over ZeroMQ: round trips and throughput of
 * every protocol next to raw ZeroMQ in the same run, and the recovery time
 * of a SIGKILLed process against the length of its log */

/*
 * Every measurement forks two processes, ids 0 and 1, that talk over
 * ipc:// endpoints in a fresh directory under the scratch directory, which
 * also holds their logs (on a real disk: every commit is flushed, no
 * MLOG_PROC_NOSYNC). The parent opens no log and no ZeroMQ socket: it
 * starts the pair, lets the one that makes the first send go once both are
 * open (it then waits SETTLE_MS: ZeroMQ retries a refused connect 100-199
 * ms later, and mlog's transport drops what is sent on a connection that
 * is not up yet), reads the report of the one that measures, and stops both
 * (SIGTERM, then SIGKILL after a time limit; always reaped). A child also
 * dies with the parent (PR_SET_PDEATHSIG) and at its own alarm.
 *
 * Contenders, measured in interleaved rounds (the order rotates each
 * round), the same application under each:
 *
 *   raw_zmq         no mlog: the messages alone over plain PUSH/PULL
 *                   sockets (each process binds a PULL and connects a PUSH
 *                   to the other's; blocking sends, ZeroMQ's default
 *                   high-water marks): what a user has without mlog
 *   receiver        pessimistic-receiver
 *   sender_memory   pessimistic-sender, rsns in the senders' memory
 *   sender_durable  pessimistic-sender with MLOG_PROC_SENDER_DURABLE
 *   optimistic      optimistic-receiver (its background flusher thread)
 *   coordinated     Chandy-Lamport snapshots, no message logged
 *   none            independent checkpoints, no message logged
 *
 * The mlog contenders run over mlog_zmq_ops with its defaults (heartbeats
 * every 100 ms, resends after 200 ms) and checkpoint every --ckpt
 * deliveries (default 1024; sender-based senders keep each message until
 * then).
 *
 * pingpong: process 0 sends one message (outside a handler, untimed), then
 * each handler answers the message it gets with one of the same size. A
 * round trip runs from process 0's handler's send to its next delivery;
 * the first WARMUP_ROUND_TRIPS are not timed. rt/s: timed round trips over
 * the time from the first timed send to the last delivery.
 *
 * stream: process 1 gives credits and process 0's handler answers each
 * with that many messages (as in bench_sender): a first credit of a whole
 * window (--batch, default 1024, sent outside a handler), then one of a
 * quarter window per quarter window delivered. Timing starts when process
 * 1 has delivered the first window; once the budget is spent it gives no
 * more credit, and timing ends when it has delivered every message it gave
 * credit for. msgs/s: timed deliveries over that time, by process 1's
 * clock. Both processes share the machine's cores with ZeroMQ's I/O
 * threads and, under optimistic-receiver, the flushers.
 *
 * recovery: process 1 takes L messages of 64 B in a stream whose credits
 * are capped at L (a pure function of its delivery count, so replay
 * regenerates the same sends), without checkpoints after the initial one
 * (ckpt_every_* 0), so that its log holds L deliveries; after the last it
 * sends a zero credit, which sender-based logging holds until every rsn is
 * recorded by process 0. Once the deliveries are durable (under
 * optimistic-receiver: once its committed rsn reaches L) and process 0 has
 * the zero credit, process 1 is killed with SIGKILL and a new process 1 is
 * forked on the same directory while process 0 keeps running. Measured: the
 * time mlog_proc_open takes (the checkpoint restored, the L deliveries read,
 * verified and replayed through the handler, the new incarnation made
 * durable), and the time until the process is ready to run (under
 * pessimistic-sender the open returns before the replay, which waits for
 * the peers to send back what they keep: "ready" is when
 * stats.recovering clears). Protocols: pessimistic-receiver and
 * optimistic-receiver, whose recovery replays their own log; and
 * pessimistic-sender in durable mode, whose recovering process has no
 * delivery in its own log and fetches the L messages and their rsns from
 * process 0's log over ZeroMQ. The log was just written, so the reads come
 * from the page cache.
 *
 * Nothing here asserts on wall-clock time. The handlers read the clock for
 * the measurement only: it never reaches the application state.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/zmq.h>

#include "bench/benchlib.h"

#define PROG "bench_zmq"
#define PINGER 0u            /* pingpong: measures the round trips */
#define SENDER 0u            /* stream: answers credits with messages */
#define RECEIVER 1u          /* stream: gives credits, measures */
#define DEFAULT_WINDOW 1024  /* stream: messages outstanding */
#define CREDITS_PER_WINDOW 4 /* stream: a credit per window/4 */
#define DEFAULT_CKPT 1024    /* checkpoint every this many deliveries */
#define WARMUP_ROUND_TRIPS 20
#define SETTLE_MS 200 /* ZeroMQ retries a refused connect within 199 ms */
#define POLL_MS 10    /* the children's poll timeout */
#define OPEN_LIMIT_S 30.0
#define STOP_LIMIT_S 5.0
#define RECOVERY_PAYLOAD 64
#define MAX_PAYLOAD 1024
#define MAX_LENGTHS 8
#define MAX_WINDOW (1u << 16)

static const uint32_t stream_sizes_quick[] = {64};
static const uint32_t stream_sizes_full[] = {64, 1024};
static const uint64_t lengths_quick[] = {1000, 4000};
static const uint64_t lengths_full[] = {1000, 4000, 16000, 64000};

static const bench_budget quick_budget = {"quick", 2, 0.1, 100, 0.4};
static const bench_budget default_budget = {"default", 3, 0.3, 200, 1.0};
static const bench_budget full_budget = {"full", 7, 1.0, 500, 3.0};

typedef enum scenario { S_PINGPONG, S_STREAM, S_RECOVERY, S_COUNT } scenario;

static const char *const scenario_names[S_COUNT] = {
    [S_PINGPONG] = "pingpong",
    [S_STREAM] = "stream",
    [S_RECOVERY] = "recovery",
};

typedef enum contender {
  C_RAW,
  C_RECV,
  C_SMEM,
  C_SDUR,
  C_OPT,
  C_COORD,
  C_NONE,
  C_COUNT
} contender;

static const char *const contender_names[C_COUNT] = {
    [C_RAW] = "raw_zmq",        [C_RECV] = "receiver",
    [C_SMEM] = "sender_memory", [C_SDUR] = "sender_durable",
    [C_OPT] = "optimistic",     [C_COORD] = "coordinated",
    [C_NONE] = "none",
};

/* The protocols whose recovery is measured (see the top of the file). */
static const contender recovery_contenders[] = {C_RECV, C_OPT, C_SDUR};
#define N_RECOVERY (sizeof recovery_contenders / sizeof *recovery_contenders)

static const char *protocol_of(contender c) {
  static const char *const protocols[C_COUNT] = {
      [C_RECV] = "pessimistic-receiver", [C_SMEM] = "pessimistic-sender",
      [C_SDUR] = "pessimistic-sender",   [C_OPT] = "optimistic-receiver",
      [C_COORD] = "coordinated",         [C_NONE] = "none",
  };
  return protocols[c];
}

static const char *sender_mode_of(contender c) {
  return c == C_SMEM ? "memory" : c == C_SDUR ? "durable" : NULL;
}

/* ------------------------------------------------------------------------ */
/* What a child does and what it tells the parent                           */

/* One child's task. */
typedef struct job {
  scenario sc;
  contender who;
  uint32_t id;
  uint32_t payload_len;
  const uint8_t *payload;
  uint64_t window;     /* stream: the first credit */
  uint64_t credit;     /* stream: a credit per this many deliveries */
  uint64_t limit;      /* stream: credits capped at this total (0: none) */
  uint64_t ckpt_every; /* checkpoint policy (0: never) */
  bool recover;        /* open an existing log and time it, then exit */
  const char *dirpath; /* the measurement's directory */
  const mlog_group *group;
  const bench_budget *b;
  unsigned alarm_s; /* the child's own time limit */
} job;

typedef enum report_kind {
  R_READY = 1,
  R_RESULT,
  R_FINAL,
  R_ERROR
} report_kind;

/* One report, written in one write (smaller than PIPE_BUF). */
typedef struct report {
  uint32_t kind;
  double secs;    /* timed seconds; recovery: the open's */
  double secs2;   /* recovery: until ready to run */
  uint64_t n;     /* round trips or messages timed; recovery: replayed */
  uint64_t count; /* deliveries in the application state */
  double p50_us, p99_us, max_us;
  uint64_t resent, recovery_us;
  char err[256];
} report;

/* ------------------------------------------------------------------------ */
/* The application, with and without mlog                                   */

/* One process of the pair. */
typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  const job *jb;
  mlog_proc *p;            /* mlog; NULL: raw ZeroMQ */
  void *ctx, *pull, *push; /* raw ZeroMQ */
  /* Measurement only, never in the state: */
  bench_lat lat; /* pingpong: timed round trips */
  uint64_t round_trips;
  double sent_at;   /* pingpong: the last send */
  bool timing;      /* the timed part has begun */
  double t0, t_end; /* the timed part */
  uint64_t base;    /* stream: deliveries before timing */
  uint64_t granted; /* stream: credits given so far */
  bool stopping;    /* stream: no more credits */
  bool done;        /* the measurement is complete */
  double wall0;     /* bench_budget_spent's runaway guard */
} node;

static uint32_t peer_of(const node *nd) {
  return 1u - nd->jb->id;
}

/* Send to the other process (mlog error code, or EIO for ZeroMQ). */
static int node_send(node *nd, mlog_proc *p, const void *msg, size_t len) {
  if (p != NULL)
    return mlog_send(p, peer_of(nd), msg, len);
  return zmq_send(nd->push, msg, len, 0) == (int)len ? MLOG_OK : MLOG_EIO;
}

/* Credits given once c deliveries are made (c = 0: the first window). A
 * function of the state alone, so that replay regenerates the same sends. */
static uint64_t credited_at(const job *jb, uint64_t c) {
  uint64_t v = jb->window + c;
  return jb->limit && v > jb->limit ? jb->limit : v;
}

static int send_credit(node *nd, mlog_proc *p, uint64_t n) {
  uint8_t c[8];
  bench_put_le64(c, n);
  return node_send(nd, p, c, sizeof c);
}

/* Pingpong, process 0: time the round trip, answer until the budget is
 * spent. */
static int on_pong(node *nd, mlog_proc *p) {
  double now = bench_now();
  nd->round_trips++;
  if (nd->timing) {
    if (bench_lat_add(&nd->lat, now - nd->sent_at) != 0)
      return -1;
    if (bench_budget_spent(nd->jb->b, now - nd->t0, nd->lat.n, nd->wall0)) {
      nd->done = true;
      nd->t_end = now;
      return 0;
    }
  } else if (nd->round_trips >= WARMUP_ROUND_TRIPS) {
    nd->timing = true;
    nd->t0 = now;
  }
  nd->sent_at = now;
  return node_send(nd, p, nd->jb->payload, nd->jb->payload_len);
}

/* Stream, process 1: a message arrived; give a credit per `credit`
 * deliveries until the limit or, measuring, until the budget is spent.
 * The clock is read only where it is needed, not per message. */
static int on_data(node *nd, mlog_proc *p) {
  const job *jb = nd->jb;
  uint64_t c = nd->st.count;
  if (!nd->timing && c >= jb->window) {
    nd->timing = true;
    nd->t0 = bench_now();
    nd->base = c;
  }
  if (!nd->stopping && c % jb->credit == 0) {
    uint64_t give = credited_at(jb, c) - credited_at(jb, c - jb->credit);
    if (jb->limit == 0 && nd->timing &&
        bench_budget_spent(jb->b, bench_now() - nd->t0, c - nd->base,
                           nd->wall0))
      give = 0;
    if (give == 0) {
      nd->stopping = true;
    } else {
      nd->granted = credited_at(jb, c);
      int rc = send_credit(nd, p, give);
      if (rc != MLOG_OK)
        return rc;
    }
  }
  uint64_t last = jb->limit      ? jb->limit
                  : nd->stopping ? nd->granted
                                 : UINT64_MAX;
  if (c == last) {
    nd->done = true;
    nd->t_end = bench_now();
    /* A log fill tells the sender it is over: a zero credit, which
     * sender-based logging holds until every rsn is recorded. */
    if (jb->limit)
      return send_credit(nd, p, 0);
  }
  return 0;
}

/* Stream, process 0: answer a credit with that many messages; a zero
 * credit ends a log fill. */
static int on_credit(node *nd, mlog_proc *p, const void *msg, size_t len) {
  if (len != 8)
    return -1;
  if (bench_get_le64(msg) == 0)
    nd->done = true;
  for (uint64_t i = bench_get_le64(msg); i > 0; i--) {
    int rc = node_send(nd, p, nd->jb->payload, nd->jb->payload_len);
    if (rc != MLOG_OK)
      return rc;
  }
  return 0;
}

/* The handler: count, fold a byte, then play the role. */
static int on_message(node *nd, mlog_proc *p, const void *msg, size_t len) {
  bench_fold_add(&nd->st, msg, len);
  if (nd->jb->sc == S_PINGPONG)
    return nd->jb->id == PINGER
               ? on_pong(nd, p)
               : node_send(nd, p, nd->jb->payload, nd->jb->payload_len);
  return nd->jb->id == RECEIVER ? on_data(nd, p) : on_credit(nd, p, msg, len);
}

static int app_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                       size_t len) {
  (void)src;
  return on_message(arg, p, msg, len);
}

static const mlog_app node_app = {
    .deliver = app_deliver,
    .snapshot = bench_fold_snapshot,
    .restore = bench_fold_restore,
};

/* ------------------------------------------------------------------------ */
/* One process: open, poll, close                                           */

static int node_open_mlog(node *nd, char *err, size_t errlen) {
  const job *jb = nd->jb;
  char sub[PATH_MAX];
  snprintf(sub, sizeof sub, "%s/p%u", jb->dirpath, jb->id);
  mlog_zmq_config zc = {.group = jb->group};
  mlog_proc_config cfg = {.dirpath = sub,
                          .id = jb->id,
                          .group_size = 2,
                          .protocol = protocol_of(jb->who),
                          .ckpt_every_deliveries = jb->ckpt_every,
                          .transport = &mlog_zmq_ops,
                          .transport_config = &zc,
                          .flags =
                              jb->who == C_SDUR ? MLOG_PROC_SENDER_DURABLE : 0};
  int rc = mlog_proc_open(&cfg, &node_app, nd, &nd->p);
  if (rc != MLOG_OK)
    snprintf(err, errlen, "mlog_proc_open of process %u: %s (%s)", jb->id,
             mlog_errname(rc), mlog_proc_errmsg(NULL));
  return rc == MLOG_OK ? 0 : -1;
}

static int node_open_raw(node *nd, char *err, size_t errlen) {
  const mlog_group *g = nd->jb->group;
  int zero = 0, send_ms = 10000;
  nd->ctx = zmq_ctx_new();
  if (nd->ctx == NULL || (nd->pull = zmq_socket(nd->ctx, ZMQ_PULL)) == NULL ||
      (nd->push = zmq_socket(nd->ctx, ZMQ_PUSH)) == NULL ||
      zmq_setsockopt(nd->pull, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_setsockopt(nd->push, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_setsockopt(nd->push, ZMQ_SNDTIMEO, &send_ms, sizeof send_ms) != 0 ||
      zmq_bind(nd->pull, g->endpoints[nd->jb->id]) != 0 ||
      zmq_connect(nd->push, g->endpoints[peer_of(nd)]) != 0) {
    snprintf(err, errlen, "raw ZeroMQ sockets: %s", zmq_strerror(errno));
    return -1;
  }
  return 0;
}

static void node_close(node *nd) {
  mlog_proc_close(nd->p);
  nd->p = NULL;
  if (nd->pull)
    zmq_close(nd->pull);
  if (nd->push)
    zmq_close(nd->push);
  if (nd->ctx)
    zmq_ctx_term(nd->ctx);
  nd->ctx = nd->pull = nd->push = NULL;
  bench_lat_free(&nd->lat);
}

/* Raw ZeroMQ: wait at most timeout_ms for a message, then deliver every
 * message that has arrived. */
static int poll_raw(node *nd, int timeout_ms, char *err, size_t errlen) {
  zmq_pollitem_t item = {.socket = nd->pull, .events = ZMQ_POLLIN};
  int n = zmq_poll(&item, 1, timeout_ms);
  if (n < 0 && errno != EINTR)
    snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(errno));
  if (n <= 0)
    return n == 0 || errno == EINTR ? 0 : -1;
  for (;;) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, nd->pull, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      if (errno == EAGAIN || errno == EINTR)
        return 0;
      snprintf(err, errlen, "zmq_msg_recv: %s", zmq_strerror(errno));
      return -1;
    }
    int rc = on_message(nd, NULL, zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    if (rc != 0) {
      snprintf(err, errlen, "the handler failed (a send: %s)",
               zmq_strerror(errno));
      return -1;
    }
  }
}

static int node_poll(node *nd, int timeout_ms, char *err, size_t errlen) {
  if (nd->p == NULL)
    return poll_raw(nd, timeout_ms, err, errlen);
  int n = mlog_proc_poll(nd->p, timeout_ms);
  if (n < 0)
    snprintf(err, errlen, "mlog_proc_poll: %s (%s)", mlog_errname(-n),
             mlog_proc_errmsg(nd->p));
  return n < 0 ? -1 : 0;
}

/* The first send, outside a handler (under mlog logged and flushed): the
 * first ping, or the first credit. */
static int node_seed(node *nd, char *err, size_t errlen) {
  const job *jb = nd->jb;
  nd->wall0 = bench_now();
  nd->sent_at = nd->wall0;
  nd->granted = credited_at(jb, 0);
  int rc = jb->sc == S_PINGPONG
               ? node_send(nd, nd->p, jb->payload, jb->payload_len)
               : send_credit(nd, nd->p, credited_at(jb, 0));
  if (rc != MLOG_OK)
    snprintf(err, errlen, "first send: %s (%s)", mlog_errname(rc),
             nd->p ? mlog_proc_errmsg(nd->p) : zmq_strerror(errno));
  return rc == MLOG_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* The child's side                                                         */

static volatile sig_atomic_t child_stop;
static pid_t parent_pid; /* the children check that it still lives */

static void on_child_signal(int sig) {
  (void)sig;
  child_stop = 1;
}

static void put_report(int fd, report *r) {
  const char *p = (const char *)r;
  size_t left = sizeof *r;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(5); /* the parent is gone */
    p += n;
    left -= (size_t)n;
  }
}

static void put_error(int fd, const char *msg) {
  report r = {.kind = R_ERROR};
  snprintf(r.err, sizeof r.err, "%s", msg);
  put_report(fd, &r);
}

/* Wait for the parent's go byte (at most OPEN_LIMIT_S). */
static int wait_go(int fd) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  char c;
  int n;
  while ((n = poll(&pf, 1, (int)(OPEN_LIMIT_S * 1000))) < 0 && errno == EINTR)
    if (child_stop)
      return -1;
  return n == 1 && read(fd, &c, 1) == 1 ? 0 : -1;
}

/* The measuring child's report once its measurement is complete; under
 * optimistic-receiver a log fill also waits until every delivery is
 * committed (durable), so that a crash now loses none. */
static bool result_ready(node *nd) {
  if (!nd->done)
    return false;
  if (nd->p == NULL || nd->jb->who != C_OPT || nd->jb->limit == 0)
    return true;
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  return st.committed_rsn >= nd->st.count;
}

static void fill_stats(const node *nd, report *r) {
  if (nd->p == NULL)
    return;
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  r->resent = st.resent;
  r->recovery_us = st.recovery_us;
}

static report result_of(node *nd) {
  report r = {.kind = R_RESULT,
              .secs = nd->t_end - nd->t0,
              .count = nd->st.count,
              .n = nd->jb->sc == S_PINGPONG ? nd->lat.n
                                            : nd->st.count - nd->base};
  if (nd->jb->sc == S_PINGPONG)
    bench_lat_summary(&nd->lat, &r.p50_us, &r.p99_us, &r.max_us);
  fill_stats(nd, &r);
  return r;
}

/* Poll until stopped; report once when the measurement is complete. */
static int child_loop(node *nd, int wfd, char *err, size_t errlen) {
  bool reported = false;
  while (!child_stop) {
    if (node_poll(nd, POLL_MS, err, errlen) != 0)
      return -1;
    if (!reported && result_ready(nd)) {
      report r = result_of(nd);
      put_report(wfd, &r);
      reported = true;
    }
  }
  return 0;
}

/* Recovery: open the existing log, time it and the wait until the process
 * may run (pessimistic-sender: its peers sent back what they keep). */
static int child_recover(node *nd, int wfd, char *err, size_t errlen) {
  double t0 = bench_now();
  if (node_open_mlog(nd, err, errlen) != 0)
    return -1;
  double t1 = bench_now();
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  while (st.recovering && !child_stop) {
    if (node_poll(nd, 1, err, errlen) != 0)
      return -1;
    mlog_proc_get_stats(nd->p, &st);
  }
  report r = {.kind = R_RESULT,
              .secs = t1 - t0,
              .secs2 = bench_now() - t0,
              .n = st.replayed,
              .count = nd->st.count};
  fill_stats(nd, &r);
  put_report(wfd, &r);
  return 0;
}

/* Settle (ZeroMQ connects), make the first send if this child is the
 * seeder, then poll until stopped. */
static int child_run(node *nd, int wfd, int rfd, bool seeder, char *err,
                     size_t errlen) {
  report ready = {.kind = R_READY};
  put_report(wfd, &ready);
  if (seeder) {
    if (wait_go(rfd) != 0) {
      snprintf(err, errlen, "no go from the parent");
      return -1;
    }
    for (double t = bench_now(); bench_now() - t < SETTLE_MS / 1000.0;)
      if (node_poll(nd, POLL_MS, err, errlen) != 0)
        return -1;
    if (node_seed(nd, err, errlen) != 0)
      return -1;
  }
  return child_loop(nd, wfd, err, errlen);
}

/* The body of a forked child: never returns. */
static void child_main(const job *jb, int wfd, int rfd, bool seeder) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent_pid) /* it died before the prctl */
    _exit(4);
  alarm(jb->alarm_s);
  struct sigaction sa = {.sa_handler = on_child_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  node nd = {.jb = jb};
  char err[256] = "";
  int rc;
  if (jb->recover) {
    rc = child_recover(&nd, wfd, err, sizeof err);
  } else {
    rc = jb->who == C_RAW ? node_open_raw(&nd, err, sizeof err)
                          : node_open_mlog(&nd, err, sizeof err);
    if (rc == 0)
      rc = child_run(&nd, wfd, rfd, seeder, err, sizeof err);
  }
  if (rc == 0) {
    report fin = {.kind = R_FINAL, .count = nd.st.count};
    fill_stats(&nd, &fin);
    put_report(wfd, &fin);
  } else {
    put_error(wfd, err);
  }
  node_close(&nd);
  _exit(rc == 0 ? 0 : 3);
}

/* ------------------------------------------------------------------------ */
/* The parent's side                                                        */

typedef struct child {
  pid_t pid; /* 0: not running (reaped) */
  int rfd;   /* its reports */
  int wfd;   /* its go byte */
  int status;
} child;

static int child_spawn(child *ch, const job *jb, bool seeder) {
  int up[2], down[2];
  *ch = (child){.rfd = -1, .wfd = -1};
  if (pipe2(up, O_CLOEXEC) != 0)
    return -1;
  if (pipe2(down, O_CLOEXEC) != 0) {
    close(up[0]);
    close(up[1]);
    return -1;
  }
  fflush(NULL);
  parent_pid = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    child_main(jb, up[1], down[0], seeder);
  }
  close(up[1]);
  close(down[0]);
  *ch = (child){.pid = pid > 0 ? pid : 0, .rfd = up[0], .wfd = down[1]};
  if (pid < 0) {
    close(up[0]);
    close(down[1]);
    *ch = (child){.rfd = -1, .wfd = -1};
    return -1;
  }
  return 0;
}

/* Reap ch if it has exited (wait: block at most limit_s, then no). */
static bool child_reaped(child *ch, double limit_s) {
  double t0 = bench_now();
  while (ch->pid > 0) {
    pid_t w = waitpid(ch->pid, &ch->status, WNOHANG);
    if (w == ch->pid || (w < 0 && errno != EINTR)) {
      ch->pid = 0;
      break;
    }
    if (bench_now() - t0 >= limit_s)
      return false;
    nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
  }
  return true;
}

/* Read one report of kind `want` (an R_ERROR ends the wait), at most
 * limit_s. Returns 0, or -1 with the cause in err. */
static int child_read(child *ch, report_kind want, double limit_s, report *r,
                      char *err, size_t errlen) {
  double t0 = bench_now();
  for (;;) {
    struct pollfd pf = {.fd = ch->rfd, .events = POLLIN};
    int n = poll(&pf, 1, 50);
    if (n == 1) {
      ssize_t got = read(ch->rfd, r, sizeof *r);
      if (got == (ssize_t)sizeof *r && r->kind == R_ERROR) {
        snprintf(err, errlen, "%s", r->err);
        return -1;
      }
      if (got == (ssize_t)sizeof *r && r->kind == (uint32_t)want)
        return 0;
      if (got == (ssize_t)sizeof *r)
        continue; /* an earlier kind */
      if (got < 0 && errno == EINTR)
        continue;
      snprintf(err, errlen, "the child ended without a report");
      return -1;
    }
    if (n < 0 && errno != EINTR) {
      snprintf(err, errlen, "poll: %s", strerror(errno));
      return -1;
    }
    if (bench_interrupted) {
      snprintf(err, errlen, "interrupted");
      return -1;
    }
    if (bench_now() - t0 > limit_s) {
      snprintf(err, errlen, "no report within %.0f s", limit_s);
      return -1;
    }
  }
}

static void child_release(child *ch) {
  if (ch->rfd >= 0)
    close(ch->rfd);
  if (ch->wfd >= 0)
    close(ch->wfd);
  ch->rfd = ch->wfd = -1;
}

/* SIGKILL and reap (a no-op on a reaped child). */
static void child_kill(child *ch) {
  if (ch->pid > 0) {
    kill(ch->pid, SIGKILL);
    while (waitpid(ch->pid, &ch->status, 0) < 0 && errno == EINTR)
      ;
    ch->pid = 0;
  }
  child_release(ch);
}

/* Stop a child: SIGTERM, its final report (*fin, may be NULL), reaped;
 * SIGKILL when it does not exit in time. Returns 0 when it stopped
 * cleanly. */
static int child_stop_it(child *ch, report *fin) {
  report r;
  char err[256];
  int rc = 0;
  if (ch->pid == 0 && ch->rfd < 0)
    return 0; /* already killed and released */
  if (ch->pid > 0)
    kill(ch->pid, SIGTERM);
  if (child_read(ch, R_FINAL, STOP_LIMIT_S, &r, err, sizeof err) != 0)
    rc = -1;
  else if (fin != NULL)
    *fin = r;
  if (!child_reaped(ch, STOP_LIMIT_S))
    rc = -1;
  child_kill(ch);
  if (rc == 0 && !(WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0))
    rc = -1;
  return rc;
}

static void child_go(child *ch) {
  char c = 'g';
  if (write(ch->wfd, &c, 1) != 1) {
    /* the child is gone: its read of the report says so */
  }
}

/* ------------------------------------------------------------------------ */
/* Measurements                                                             */

typedef struct bench {
  bench_budget b;
  char scratch[PATH_MAX]; /* our mkdtemp directory */
  uint8_t *payload;
  unsigned serial; /* numbers the measurement directories */
  uint64_t window, ckpt_every;
  bool verbose;
  bool enabled[C_COUNT];
  bool scenarios[S_COUNT];
} bench;

/* A measurement's directory and the pair's endpoints in it. */
typedef struct place {
  char dirpath[PATH_MAX];
  char ep[2][128]; /* "ipc://" + a socket path */
  char *eps[2];
  mlog_group group;
} place;

/* A Unix socket's path holds at most 107 bytes. */
#define MAX_SOCKET_PATH 107

static int place_make(bench *bn, place *pl) {
  int n = snprintf(pl->dirpath, sizeof pl->dirpath, "%s/m%u", bn->scratch,
                   bn->serial++);
  if (n < 0 || n + 3 > MAX_SOCKET_PATH) {
    fprintf(stderr,
            "\n%s: %s is too long a path for ipc:// endpoints (use "
            "--dir with a shorter one)\n",
            PROG, bn->scratch);
    return -1;
  }
  if (mkdir(pl->dirpath, 0750) != 0) {
    fprintf(stderr, "\n%s: cannot make a directory in %s: %s\n", PROG,
            bn->scratch, strerror(errno));
    return -1;
  }
  for (int i = 0; i < 2; i++) {
    char ep[sizeof pl->ep[i]]; /* (GCC cannot tell ep[i] from dirpath) */
    snprintf(ep, sizeof ep, "ipc://%.*s/z%d", MAX_SOCKET_PATH, pl->dirpath, i);
    memcpy(pl->ep[i], ep, sizeof ep);
    pl->eps[i] = pl->ep[i];
  }
  pl->group = (mlog_group){.size = 2, .endpoints = pl->eps};
  return 0;
}

static void place_remove(bench *bn, place *pl) {
  if (bench_remove_tree(pl->dirpath) != 0)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, pl->dirpath,
            strerror(errno));
  bench_settle_fs(bn->scratch); /* not charged to the next measurement */
}

/* The two jobs of a pair. */
static void make_jobs(const bench *bn, const place *pl, scenario sc,
                      contender who, uint32_t plen, uint64_t limit,
                      double limit_s, job jobs[2]) {
  for (uint32_t id = 0; id < 2; id++)
    jobs[id] = (job){.sc = sc,
                     .who = who,
                     .id = id,
                     .payload_len = plen,
                     .payload = bn->payload,
                     .window = sc == S_PINGPONG ? 1 : bn->window,
                     .credit = bn->window / CREDITS_PER_WINDOW
                                   ? bn->window / CREDITS_PER_WINDOW
                                   : 1,
                     .limit = limit,
                     .ckpt_every = sc == S_RECOVERY ? 0 : bn->ckpt_every,
                     .dirpath = pl->dirpath,
                     .group = &pl->group,
                     .b = &bn->b,
                     .alarm_s = (unsigned)limit_s + 60};
}

/* Start both processes of a pair and let the seeder go once both are
 * open. On failure both are killed. */
static int pair_start(const job jobs[2], uint32_t seeder, child ch[2],
                      char *err, size_t errlen) {
  report r;
  ch[0] = ch[1] = (child){.rfd = -1, .wfd = -1};
  for (uint32_t id = 0; id < 2; id++)
    if (child_spawn(&ch[id], &jobs[id], id == seeder) != 0) {
      snprintf(err, errlen, "fork: %s", strerror(errno));
      goto kill_both;
    }
  for (uint32_t id = 0; id < 2; id++)
    if (child_read(&ch[id], R_READY, OPEN_LIMIT_S, &r, err, errlen) != 0)
      goto kill_both;
  child_go(&ch[seeder]);
  return 0;
kill_both:
  child_kill(&ch[0]);
  child_kill(&ch[1]);
  return -1;
}

/* Stop both; their resends are added to *resent. */
static int pair_stop(child ch[2], uint64_t *resent, char *err, size_t errlen) {
  int rc = 0;
  for (int id = 0; id < 2; id++) {
    report fin = {0};
    if (child_stop_it(&ch[id], &fin) != 0 && rc == 0) {
      snprintf(err, errlen, "process %d did not stop cleanly", id);
      rc = -1;
    }
    *resent += fin.resent;
  }
  return rc;
}

/* The budget's longest plausible wait for a result. */
static double result_limit(const bench *bn) {
  return 4 * bn->b.max_secs + 30;
}

/* One measurement of `who` in a pingpong or stream on a fresh directory. */
static int measure(bench *bn, scenario sc, contender who, uint32_t plen,
                   bench_sample *out, uint64_t *resent) {
  place pl;
  if (place_make(bn, &pl) != 0)
    return -1;
  job jobs[2];
  child ch[2];
  report r;
  char err[300] = "";
  uint32_t measurer = sc == S_PINGPONG ? PINGER : RECEIVER;
  make_jobs(bn, &pl, sc, who, plen, 0, result_limit(bn), jobs);
  *resent = 0;
  int rc = pair_start(jobs, measurer, ch, err, sizeof err);
  if (rc == 0) {
    rc = child_read(&ch[measurer], R_RESULT, result_limit(bn), &r, err,
                    sizeof err);
    if (pair_stop(ch, resent, err, sizeof err) != 0)
      rc = -1;
  }
  place_remove(bn, &pl);
  if (rc != 0) {
    fprintf(stderr, "\n%s: %s %s (payload %u): %s\n", PROG, scenario_names[sc],
            contender_names[who], plen, err);
    return -1;
  }
  *out = (bench_sample){.secs = r.secs,
                        .commits = r.n,
                        .records = r.n,
                        .p50_us = r.p50_us,
                        .p99_us = r.p99_us,
                        .max_us = r.max_us};
  if (bn->verbose)
    fprintf(stderr,
            "\n  %-15s %8llu in %6.3f s  %10.0f/s  p50 %8.1f us  p99 %8.1f  "
            "max %8.1f  resent %llu (%llu by the measuring process when it "
            "was done)",
            contender_names[who], (unsigned long long)r.n, r.secs,
            bench_records_per_sec(out), r.p50_us, r.p99_us, r.max_us,
            (unsigned long long)*resent, (unsigned long long)r.resent);
  return 0;
}

/* One recovery measurement: fill the log of process 1 with `len`
 * deliveries, SIGKILL it, time the open of a new process 1. */
typedef struct rec_sample {
  double open_secs;  /* mlog_proc_open */
  double ready_secs; /* until stats.recovering cleared */
  uint64_t replayed, count, recovery_us;
  uint64_t resent; /* frames either process sent again, fill included */
} rec_sample;

/* Fill process 1's log with the receiver job's limit of deliveries; once
 * they are durable (its report) and the sender got the zero credit (every
 * rsn recorded, under sender-based logging), SIGKILL process 1. On failure
 * the caller stops what still runs. */
static int fill_and_kill(const job jobs[2], child ch[2], char *err,
                         size_t errlen, double limit_s) {
  report r, sr;
  if (pair_start(jobs, RECEIVER, ch, err, errlen) != 0)
    return -1;
  if (child_read(&ch[RECEIVER], R_RESULT, limit_s, &r, err, errlen) != 0 ||
      child_read(&ch[SENDER], R_RESULT, limit_s, &sr, err, errlen) != 0)
    return -1;
  if (r.count != jobs[RECEIVER].limit) {
    snprintf(err, errlen, "the log holds %llu deliveries, not %llu",
             (unsigned long long)r.count,
             (unsigned long long)jobs[RECEIVER].limit);
    return -1;
  }
  child_kill(&ch[RECEIVER]); /* kill -9 */
  if (!WIFSIGNALED(ch[RECEIVER].status) ||
      WTERMSIG(ch[RECEIVER].status) != SIGKILL) {
    snprintf(err, errlen, "process 1 ended before the SIGKILL");
    return -1;
  }
  return 0;
}

static int recover_one(const job *jb, rec_sample *out, char *err, size_t errlen,
                       double limit_s) {
  child ch;
  report r;
  if (child_spawn(&ch, jb, false) != 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    return -1;
  }
  int rc = child_read(&ch, R_RESULT, limit_s, &r, err, errlen);
  if (child_stop_it(&ch, NULL) != 0 && rc == 0) {
    snprintf(err, errlen, "the recovered process did not stop cleanly");
    rc = -1;
  }
  *out = (rec_sample){.open_secs = r.secs,
                      .ready_secs = r.secs2,
                      .replayed = r.n,
                      .count = r.count,
                      .recovery_us = r.recovery_us,
                      .resent = r.resent};
  return rc;
}

static int measure_recovery(bench *bn, contender who, uint64_t len,
                            rec_sample *out) {
  place pl;
  if (place_make(bn, &pl) != 0)
    return -1;
  double limit_s = 60 + (double)len / 500;
  job jobs[2], rj;
  child ch[2] = {{.rfd = -1, .wfd = -1}, {.rfd = -1, .wfd = -1}};
  char err[300] = "";
  make_jobs(bn, &pl, S_RECOVERY, who, RECOVERY_PAYLOAD, len, limit_s, jobs);
  rj = jobs[RECEIVER];
  rj.recover = true;
  int rc = fill_and_kill(jobs, ch, err, sizeof err, limit_s);
  if (rc == 0)
    rc = recover_one(&rj, out, err, sizeof err, limit_s);
  uint64_t resent = 0;
  if (pair_stop(ch, &resent, err, sizeof err) != 0 && rc == 0)
    rc = -1;
  out->resent += resent;
  place_remove(bn, &pl);
  if (rc == 0 && out->count != len) {
    snprintf(err, sizeof err, "recovered %llu deliveries, not %llu",
             (unsigned long long)out->count, (unsigned long long)len);
    rc = -1;
  }
  if (rc != 0) {
    fprintf(stderr, "\n%s: recovery %s (%llu records): %s\n", PROG,
            contender_names[who], (unsigned long long)len, err);
    return -1;
  }
  if (bn->verbose)
    fprintf(stderr,
            "\n  %-15s %6llu records: open %8.2f ms, ready %8.2f ms, "
            "replayed %llu, resent %llu",
            contender_names[who], (unsigned long long)len, out->open_secs * 1e3,
            out->ready_secs * 1e3, (unsigned long long)out->replayed,
            (unsigned long long)out->resent);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */

typedef struct row {
  scenario sc;
  uint32_t payload_len;
  bool has[C_COUNT];
  bench_sample med[C_COUNT]; /* each contender's median round */
  uint64_t resent[C_COUNT];  /* frames resent, all rounds */
  /* paired with raw_zmq in the same round, median over rounds: */
  double ratio[C_COUNT]; /* rt/s or msgs/s */
  double p50_ratio[C_COUNT], p99_ratio[C_COUNT];
} row;

/* Median over rounds of a's latency percentile over b's. */
static double paired_latency(const bench_sample *a, const bench_sample *b,
                             unsigned n, bool p99) {
  double v[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++) {
    double x = p99 ? a[i].p99_us : a[i].p50_us;
    double y = p99 ? b[i].p99_us : b[i].p50_us;
    v[i] = y > 0 ? x / y : 0;
  }
  return bench_median(v, n);
}

static void summarize(const bench *bn, const bench_sample *samples, row *rw) {
  const bench_sample *zs = &samples[(size_t)C_RAW * BENCH_MAX_ROUNDS];
  unsigned n = bn->b.rounds;
  for (int c = 0; c < C_COUNT; c++) {
    if (!bn->enabled[c])
      continue;
    const bench_sample *s = &samples[(size_t)c * BENCH_MAX_ROUNDS];
    rw->has[c] = true;
    rw->med[c] = *bench_median_sample(s, n);
    if (!bn->enabled[C_RAW] || c == C_RAW)
      continue;
    rw->ratio[c] = bench_paired_ratio(s, zs, n);
    rw->p50_ratio[c] = paired_latency(s, zs, n, false);
    rw->p99_ratio[c] = paired_latency(s, zs, n, true);
  }
}

/* One row: every enabled contender, rounds interleaved. */
static int run_row(bench *bn, scenario sc, uint32_t plen, bench_sample *samples,
                   row *rw) {
  contender to_run[C_COUNT];
  unsigned n_run = 0;
  for (int c = 0; c < C_COUNT; c++)
    if (bn->enabled[c])
      to_run[n_run++] = (contender)c;
  *rw = (row){.sc = sc, .payload_len = plen};
  fprintf(stderr, "%s: %s, payload %u B:", PROG, scenario_names[sc], plen);
  for (unsigned r = 0; r < bn->b.rounds && !bench_interrupted; r++) {
    fprintf(stderr, " %u", r + 1);
    for (unsigned k = 0; k < n_run && !bench_interrupted; k++) {
      contender c = to_run[(k + r) % n_run];
      uint64_t resent;
      if (measure(bn, sc, c, plen, &samples[(size_t)c * BENCH_MAX_ROUNDS + r],
                  &resent) != 0)
        return -1;
      rw->resent[c] += resent;
    }
  }
  fprintf(stderr, "\n");
  if (bench_interrupted)
    return -1;
  summarize(bn, samples, rw);
  return 0;
}

/* Recovery of one protocol: each log length, repeated, the median kept. */
typedef struct rec_row {
  contender who;
  size_t n;
  uint64_t len[MAX_LENGTHS];
  rec_sample med[MAX_LENGTHS];
} rec_row;

static int cmp_ready(const void *a, const void *b) {
  double x = ((const rec_sample *)a)->ready_secs;
  double y = ((const rec_sample *)b)->ready_secs;
  return (x > y) - (x < y);
}

static int run_recovery(bench *bn, contender who, const uint64_t *lens,
                        size_t nlens, unsigned reps, rec_row *rr) {
  *rr = (rec_row){.who = who};
  fprintf(stderr, "%s: recovery, %s:", PROG, contender_names[who]);
  for (size_t i = 0; i < nlens && !bench_interrupted; i++) {
    rec_sample s[BENCH_MAX_ROUNDS];
    fprintf(stderr, " %llu", (unsigned long long)lens[i]);
    for (unsigned r = 0; r < reps && !bench_interrupted; r++)
      if (measure_recovery(bn, who, lens[i], &s[r]) != 0)
        return -1;
    if (bench_interrupted)
      break;
    qsort(s, reps, sizeof *s, cmp_ready);
    rr->len[rr->n] = lens[i];
    rr->med[rr->n++] = s[(reps - 1) / 2];
  }
  fprintf(stderr, "\n");
  return bench_interrupted ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

static void fmt_ratio(char *buf, size_t len, const row *rw, contender c,
                      double v) {
  if (c != C_RAW && rw->has[C_RAW])
    snprintf(buf, len, v >= 100 ? "%.0f" : "%.3g", v);
  else
    snprintf(buf, len, "%s", "");
}

static void print_rows(const row *rows, size_t nrows, scenario sc) {
  if (sc == S_PINGPONG)
    printf("\nPing-pong: a round trip from process 0's send to its next "
           "delivery\n%-7s  %-15s %9s %7s %9s %9s %7s %7s %7s\n",
           "payload", "contender", "rt/s", "x raw", "p50 us", "p99 us", "p50 x",
           "p99 x", "resent");
  else
    printf("\nStream: process 0 to process 1, credits of a window\n"
           "%-7s  %-15s %11s %7s %7s\n",
           "payload", "contender", "msgs/s", "x raw", "resent");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    if (rw->sc != sc)
      continue;
    for (int ci = 0; ci < C_COUNT; ci++) {
      contender c = (contender)ci;
      if (!rw->has[c])
        continue;
      const bench_sample *s = &rw->med[c];
      char r1[16], r50[16], r99[16];
      fmt_ratio(r1, sizeof r1, rw, c, rw->ratio[c]);
      fmt_ratio(r50, sizeof r50, rw, c, rw->p50_ratio[c]);
      fmt_ratio(r99, sizeof r99, rw, c, rw->p99_ratio[c]);
      if (sc == S_PINGPONG)
        printf("%-7u  %-15s %9.0f %7s %9.1f %9.1f %7s %7s %7llu\n",
               rw->payload_len, contender_names[c], bench_records_per_sec(s),
               r1, s->p50_us, s->p99_us, r50, r99,
               (unsigned long long)rw->resent[c]);
      else
        printf("%-7u  %-15s %11.0f %7s %7llu\n", rw->payload_len,
               contender_names[c], bench_records_per_sec(s), r1,
               (unsigned long long)rw->resent[c]);
    }
  }
}

/* Records replayed per second of the whole recovery (until ready). */
static double rec_rate(const rec_sample *s, uint64_t len) {
  return s->ready_secs > 0 ? (double)len / s->ready_secs : 0;
}

/* The marginal cost of one more record between lengths i-1 and i (us). */
static double rec_marginal_us(const rec_row *rr, size_t i) {
  const rec_sample *a = &rr->med[i - 1], *b = &rr->med[i];
  return (b->ready_secs - a->ready_secs) /
         (double)(rr->len[i] - rr->len[i - 1]) * 1e6;
}

static void print_recovery(const rec_row *rrs, size_t nrr, unsigned reps) {
  printf("\nRecovery: process 1 SIGKILLed with L deliveries in its log, a new "
         "process opens it\n(median of %u by ready ms)\n%-15s %7s %9s %9s "
         "%11s %9s %9s %9s %7s\n",
         reps, "protocol", "L", "open ms", "ready ms", "records/s", "us/rec +",
         "mlog ms", "replayed", "resent");
  for (size_t k = 0; k < nrr; k++) {
    const rec_row *rr = &rrs[k];
    for (size_t i = 0; i < rr->n; i++) {
      const rec_sample *s = &rr->med[i];
      char marg[16] = "";
      if (i > 0)
        snprintf(marg, sizeof marg, "%.2f", rec_marginal_us(rr, i));
      printf("%-15s %7llu %9.2f %9.2f %11.0f %9s %9.2f %9llu %7llu\n",
             contender_names[rr->who], (unsigned long long)rr->len[i],
             s->open_secs * 1e3, s->ready_secs * 1e3, rec_rate(s, rr->len[i]),
             marg, (double)s->recovery_us / 1e3,
             (unsigned long long)s->replayed, (unsigned long long)s->resent);
    }
  }
  printf("open ms: mlog_proc_open of the new process; ready ms: until it may "
         "run (the same but\nunder pessimistic-sender, whose peer sends back "
         "the messages it keeps after the\nopen); records/s: L over ready "
         "ms; us/rec +: the marginal cost of a record from\nthe previous L; "
         "mlog ms: the recovery time mlog_proc_stats reports; replayed:\n"
         "deliveries replayed; resent: frames either process sent "
         "again.\n");
}

static json_t *params_json(const bench *bn, scenario sc, contender c,
                           uint32_t plen, const bench_fs *fi) {
  return json_pack(
      "{s:s, s:s, s:s?, s:s?, s:i, s:I, s:I, s:s, s:s, s:i, s:s, s:b}",
      "contender", contender_names[c], "scenario", scenario_names[sc],
      "protocol", protocol_of(c), "sender_mode", sender_mode_of(c),
      "payload_bytes", (int)plen, "window",
      (json_int_t)(sc == S_PINGPONG ? 1 : bn->window), "ckpt_every",
      (json_int_t)(c == C_RAW || sc == S_RECOVERY ? 0 : bn->ckpt_every),
      "transport", "zmq ipc://", "mode", bn->b.mode, "rounds",
      (int)bn->b.rounds, "fs", fi->type, "durable", !fi->memory && c != C_RAW);
}

static int add_metric(json_t *arr, const bench *bn, const row *rw, contender c,
                      const bench_fs *fi, const char *metric, double value,
                      const char *unit, double base_value, double ratio) {
  char name[96];
  snprintf(name, sizeof name, "zmq_%s/%s", scenario_names[rw->sc],
           contender_names[c]);
  const char *base = rw->has[C_RAW] && c != C_RAW ? "raw_zmq" : NULL;
  return bench_json_add(arr, name,
                        params_json(bn, rw->sc, c, rw->payload_len, fi), metric,
                        value, unit, base, base_value, ratio);
}

static int add_row_json(json_t *arr, const bench *bn, const row *rw,
                        const bench_fs *fi) {
  int rc = 0;
  const bench_sample *z = &rw->med[C_RAW];
  for (int ci = 0; ci < C_COUNT; ci++) {
    contender c = (contender)ci;
    if (!rw->has[c])
      continue;
    const bench_sample *s = &rw->med[c];
    if (rw->sc == S_STREAM) {
      rc |= add_metric(arr, bn, rw, c, fi, "messages_per_s",
                       bench_records_per_sec(s), "messages/s",
                       bench_records_per_sec(z), rw->ratio[c]);
      continue;
    }
    rc |= add_metric(arr, bn, rw, c, fi, "round_trips_per_s",
                     bench_records_per_sec(s), "round trips/s",
                     bench_records_per_sec(z), rw->ratio[c]);
    rc |= add_metric(arr, bn, rw, c, fi, "round_trip_latency_p50", s->p50_us,
                     "us", z->p50_us, rw->p50_ratio[c]);
    rc |= add_metric(arr, bn, rw, c, fi, "round_trip_latency_p99", s->p99_us,
                     "us", z->p99_us, rw->p99_ratio[c]);
  }
  return rc;
}

static int add_recovery_metric(json_t *arr, const bench *bn, const rec_row *rr,
                               size_t i, unsigned reps, const bench_fs *fi,
                               const char *metric, double value,
                               const char *unit) {
  char name[96];
  snprintf(name, sizeof name, "zmq_recovery/%s", contender_names[rr->who]);
  json_t *p = params_json(bn, S_RECOVERY, rr->who, RECOVERY_PAYLOAD, fi);
  if (p != NULL &&
      (json_object_set_new(p, "log_records",
                           json_integer((json_int_t)rr->len[i])) != 0 ||
       json_object_set_new(p, "rounds", json_integer((json_int_t)reps)) != 0)) {
    json_decref(p);
    return -1;
  }
  return bench_json_add(arr, name, p, metric, value, unit, NULL, 0, 0);
}

static int add_recovery_json(json_t *arr, const bench *bn, const rec_row *rr,
                             unsigned reps, const bench_fs *fi) {
  int rc = 0;
  for (size_t i = 0; i < rr->n; i++) {
    const rec_sample *s = &rr->med[i];
    rc |= add_recovery_metric(arr, bn, rr, i, reps, fi, "recovery_open_ms",
                              s->open_secs * 1e3, "ms");
    rc |= add_recovery_metric(arr, bn, rr, i, reps, fi, "recovery_ready_ms",
                              s->ready_secs * 1e3, "ms");
    rc |= add_recovery_metric(arr, bn, rr, i, reps, fi, "replay_records_per_s",
                              rec_rate(s, rr->len[i]), "records/s");
  }
  return rc;
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const rec_row *rrs, size_t nrr,
                      unsigned reps, const bench_fs *fi) {
  json_t *arr = json_array();
  int rc = arr ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < nrows; i++)
    rc = add_row_json(arr, bn, &rows[i], fi);
  for (size_t i = 0; rc == 0 && i < nrr; i++)
    rc = add_recovery_json(arr, bn, &rrs[i], reps, fi);
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
      "usage: bench_zmq [--quick | --full] [--dir DIR] [--json FILE]\n"
      "                 [--rounds N] [--seconds S] [--only LIST]\n"
      "                 [--scenario LIST] [--payload N] [--batch N]\n"
      "                 [--ckpt N] [--verbose]\n"
      "  Two real processes (fork) over ZeroMQ ipc:// endpoints: round trips\n"
      "  and throughput under every protocol next to the same application on\n"
      "  raw ZeroMQ PUSH/PULL sockets, and the recovery time of a SIGKILLed\n"
      "  process against the length of its log.\n"
      "  --quick        CI smoke run (under 20 s)\n"
      "  --full         longer, steadier measurements\n"
      "  --dir DIR      parent of the scratch directory (default: beside\n"
      "                 this program, else /var/tmp; never tmpfs if\n"
      "                 anything else is there)\n"
      "  --json FILE    also write the results as a JSON array\n"
      "  --rounds N     interleaved rounds (the median is reported)\n"
      "  --seconds S    minimum timed seconds per measurement\n"
      "  --only LIST    contenders, comma-separated: raw_zmq, receiver,\n"
      "                 sender_memory, sender_durable, optimistic,\n"
      "                 coordinated, none\n"
      "  --scenario L   pingpong, stream, recovery (default: all)\n"
      "  --payload N    only messages of N bytes (1..%d; default: 64 for\n"
      "                 ping-pong, 64 and, with --full, 1024 for streams)\n"
      "  --batch N      stream window: messages outstanding (default %d)\n"
      "  --ckpt N       checkpoints every N deliveries (default %d)\n"
      "  --verbose      print every measurement on stderr\n",
      MAX_PAYLOAD, DEFAULT_WINDOW, DEFAULT_CKPT);
}

/* This program's own options; 1 consumed, 0 unknown, -1 bad (printed),
 * 2 --help. */
static int parse_own(bench *bn, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
    return 2;
  if (val == NULL)
    return 0;
  if (strcmp(a, "--only") == 0) {
    if (bench_parse_list(val, contender_names, C_COUNT, bn->enabled) != 0) {
      fprintf(stderr, "%s: --only: unknown contender in '%s'\n", PROG, val);
      return -1;
    }
  } else if (strcmp(a, "--scenario") == 0) {
    if (bench_parse_list(val, scenario_names, S_COUNT, bn->scenarios) != 0) {
      fprintf(stderr, "%s: --scenario: unknown scenario in '%s'\n", PROG, val);
      return -1;
    }
  } else if (strcmp(a, "--ckpt") == 0) {
    if (bench_parse_count(val, 0, UINT32_MAX, &bn->ckpt_every) != 0) {
      fprintf(stderr, "%s: --ckpt wants a count of deliveries\n", PROG);
      return -1;
    }
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

/* Parse argv into bn and o. Returns -1 to go on, else the exit status. */
static int parse_args(bench *bn, bench_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int shared = bench_parse_option(o, &quick_budget, &full_budget, argc, argv,
                                    &i, PROG);
    int own = shared == 0 ? parse_own(bn, argc, argv, &i) : 0;
    if (shared < 0 || own < 0)
      return 2;
    if (own == 2) {
      usage(stdout);
      return 0;
    }
    if (shared == 0 && own == 0) {
      usage(stderr);
      return 2;
    }
  }
  bench_opts_finish(o);
  bn->b = o->b;
  bn->verbose = o->verbose;
  if (o->payload > MAX_PAYLOAD || o->batch > (long)MAX_WINDOW) {
    fprintf(stderr, "%s: --payload wants 1..%d, --batch 1..%u\n", PROG,
            MAX_PAYLOAD, MAX_WINDOW);
    return 2;
  }
  if (o->batch)
    bn->window = (uint64_t)o->batch;
  return -1;
}

/* The throughput and latency rows. Returns the rows made, or -1. */
static int run_rows(bench *bn, const bench_opts *o, bench_sample *samples,
                    row *rows) {
  bool full = strcmp(bn->b.mode, "full") == 0;
  const uint32_t *sizes = full ? stream_sizes_full : stream_sizes_quick;
  size_t nsizes = full ? 2 : 1;
  uint32_t pp_size = 64;
  int nrows = 0;
  if (o->payload) {
    pp_size = (uint32_t)o->payload;
    sizes = &pp_size;
    nsizes = 1;
  }
  if (bn->scenarios[S_PINGPONG] &&
      run_row(bn, S_PINGPONG, pp_size, samples, &rows[nrows++]) != 0)
    return -1;
  for (size_t i = 0; bn->scenarios[S_STREAM] && i < nsizes; i++)
    if (run_row(bn, S_STREAM, sizes[i], samples, &rows[nrows++]) != 0)
      return -1;
  return nrows;
}

/* The recovery rows. Returns the rows made, or -1. */
static int run_recoveries(bench *bn, rec_row *rrs, unsigned *reps) {
  bool quick = strcmp(bn->b.mode, "quick") == 0;
  bool full = strcmp(bn->b.mode, "full") == 0;
  const uint64_t *lens = quick ? lengths_quick : lengths_full;
  size_t nlens = quick ? 2 : full ? 4 : 3;
  *reps = quick ? 1 : 3;
  int n = 0;
  for (size_t k = 0; bn->scenarios[S_RECOVERY] && k < N_RECOVERY; k++) {
    contender who = recovery_contenders[k];
    if (!bn->enabled[who])
      continue;
    if (run_recovery(bn, who, lens, nlens, *reps, &rrs[n++]) != 0)
      return -1;
  }
  return n;
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
  int st = parse_args(&bn, &o, argc, argv);
  if (st >= 0)
    return st;

  printf("%s: two processes over ZeroMQ ipc://, every protocol against raw "
         "ZeroMQ, mode %s (%u rounds, each measurement >= %.2f s and >= %u "
         "round trips or messages, <= %.2f s timed); checkpoints every %llu "
         "deliveries\n",
         PROG, bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs, (unsigned long long)bn.ckpt_every);
  bench_fs fi;
  if (bench_scratch_create(PROG, o.dir, bn.scratch, sizeof bn.scratch, &fi) !=
      0)
    return 1;
  fflush(stdout);
  bench_catch_signals();
  signal(SIGPIPE, SIG_IGN);

  int status = 1, nrows = 0, nrr = 0;
  unsigned reps = 0;
  row rows[1 + 2];
  rec_row rrs[N_RECOVERY];
  bench_sample *samples =
      calloc((size_t)BENCH_MAX_ROUNDS * C_COUNT, sizeof *samples);
  bn.payload = malloc(MAX_PAYLOAD);
  if (samples == NULL || bn.payload == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    goto cleanup;
  }
  bench_fill_payload(bn.payload, MAX_PAYLOAD);
  if ((nrows = run_rows(&bn, &o, samples, rows)) < 0 ||
      (nrr = run_recoveries(&bn, rrs, &reps)) < 0)
    goto cleanup;
  if (bn.scenarios[S_PINGPONG])
    print_rows(rows, (size_t)nrows, S_PINGPONG);
  if (bn.scenarios[S_STREAM])
    print_rows(rows, (size_t)nrows, S_STREAM);
  if (nrows > 0)
    printf("\nEach contender's median round; \"x raw\" ratios are medians "
           "over rounds of the ratio\nto raw_zmq within a round; resent: "
           "frames mlog sent again (all rounds, both\nprocesses).\n");
  if (nrr > 0)
    print_recovery(rrs, (size_t)nrr, reps);
  fflush(stdout);
  if (o.json != NULL && write_json(o.json, &bn, rows, (size_t)nrows, rrs,
                                   (size_t)nrr, reps, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\n%s: interrupted\n", PROG);
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, bn.scratch,
            strerror(errno));
  free(bn.payload);
  free(samples);
  return bench_interrupted ? 130 : status;
}
