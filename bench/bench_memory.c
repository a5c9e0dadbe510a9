/* bench_memory.c - memory: RSS under sustained load (bounded: garbage
 * collection keeps up) and mlog verify's peak RSS against the log's length
 * (constant: verification streams) */

/*
 * Load. Two mlog processes, ids 0 and 1: process 1 gives credits (a first
 * one of a whole window of 1024 messages, sent outside a handler, then one
 * of 256 after every 256 deliveries) and process 0's handler answers each
 * credit with that many messages of 64 B; process 1's handler folds a byte
 * (bench_sender's saturation). Both checkpoint every --ckpt deliveries
 * (default 1024), so the log records (and, under pessimistic-sender, the
 * messages the sender keeps) that a checkpoint covers are collected. Logs
 * are durable (every commit flushed) on a real disk. Each load runs in a
 * child forked for it (so that its peak RSS is its own: VmHWM never goes
 * down) for --seconds (quick 3 s, full 60 s), as fast as it goes:
 *
 *   receiver     pessimistic-receiver on the sim transport
 *   optimistic   optimistic-receiver on the sim transport (its background
 *                flusher thread)
 *   sender       pessimistic-sender, memory mode, on the sim transport
 *   receiver_os  pessimistic-receiver, each process its own OS process
 *                (two children), over a socketpair: the RSS is one mlog
 *                process's own
 *
 * On the sim transport both mlog processes (and the sim and the driver)
 * live in one OS process, so its RSS is the pair's. Every second (full
 * mode; shorter runs sample 20 times) each OS process samples its own
 * /proc/self/status (VmRSS = RssAnon + RssFile + RssShmem, VmHWM) and the
 * logs' mlog_log_info (live records, checkpoints kept, data.mdb bytes,
 * bytes in use) through a read-only handle on each directory (in the same
 * OS process it shares the writer's LMDB environment). Reported: the mean
 * RSS over the first and the last tenth of the run and their ratio
 * (growth), the peak (the OS process's own VmHWM, read once its mlog
 * processes closed: wait4's ru_maxrss of a forked child that does not exec
 * is not its own - it reported this program's ~9-12 MiB, mostly shared
 * libraries, for children that never went past 5 MiB), deliveries,
 * checkpoints taken, and least-squares slopes over the second half. The
 * file pages counted in RSS are data.mdb's pages that LMDB's memory map
 * touched: bounded as long as the file is.
 *
 * Verdict "bounded" when, after the warm-up (the first half), nothing
 * grows: the last tenth's mean RSS is within 5 % + 1 MiB of the middle
 * tenth's and the second half's RSS slope adds less than 10 % of the
 * middle RSS over the run; each log's data.mdb slope adds less than 10 % +
 * 256 KiB over the run; each log's live records in the last tenth stay
 * under 1.5 x their first-half maximum + 2 checkpoint intervals. Otherwise
 * "GROWS", naming what grows (RssAnon or RssFile, which data.mdb, which
 * records). growth = last / first tenth is reported beside it: it includes
 * the warm-up. Runs under 20 s (quick) mark their verdicts with '?'.
 *
 * Verify. `mlog gen --out DIR --records N --nosync` writes logs of N
 * records of 64 B (quick: 10^4 and 10^5; full: 10^5, 10^6, 10^7 - about 1.6
 * GB, removed afterwards), then `mlog verify DIR` runs as a child (fork +
 * exec, stdout to /dev/null, exit status 0 required) --rounds times (the
 * median time is reported). Its peak RSS comes from wait4's ru_maxrss; its
 * anonymous memory (heap, stacks) is sampled from /proc/PID/status every
 * 2 ms while it runs (a sampled peak: a spike shorter than that can be
 * missed). LMDB reads through a memory map, so ru_maxrss counts every page
 * of data.mdb the scan touched: it grows with the log even though the scan
 * streams; the anonymous peak is the streaming one. Ratios are against the
 * smallest N. The logs were just written, so the reads come from the page
 * cache. The mlog tool is found beside this program (../bin/mlog,
 * ../tools/mlog) unless --mlog names it.
 *
 * Nothing here asserts on wall-clock time.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS, SOCK_CLOEXEC, wait4 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/sim.h>
#include <mlog/transport.h>

#include "bench/benchlib.h"

#define PROG "bench_memory"
#define SENDER 0u
#define RECEIVER 1u
#define PAYLOAD_BYTES 64
#define WINDOW 1024          /* messages outstanding */
#define CREDIT (WINDOW / 4)  /* a credit per this many deliveries */
#define DEFAULT_CKPT 1024    /* checkpoint every this many deliveries */
#define SIM_SEED 20261122u   /* any: the sim's choices follow it */
#define MAX_SAMPLES 4096     /* per OS process and load */
#define QUICK_SAMPLES 20     /* samples of a short run, at least */
#define VERIFY_SAMPLE_MS 2   /* verify: /proc/PID/status read this often */
#define SOCK_FRAME_MAX 65536 /* socketpair transport: largest frame */
#define SOCK_POLL_MS 10      /* receiver_os: a process's poll timeout */
#define KIB 1024.0

/* Budgets: min_secs is the length of each load; rounds the verify runs. */
static const bench_budget quick_budget = {"quick", 1, 3.0, 0, 3.0};
static const bench_budget default_budget = {"default", 1, 10.0, 0, 10.0};
static const bench_budget full_budget = {"full", 3, 60.0, 0, 60.0};

static const uint64_t quick_lengths[] = {10000, 100000};
static const uint64_t full_lengths[] = {100000, 1000000, 10000000};
#define N_QUICK_LENGTHS (sizeof quick_lengths / sizeof quick_lengths[0])
#define N_FULL_LENGTHS (sizeof full_lengths / sizeof full_lengths[0])
#define MAX_LENGTHS 8

/* ------------------------------------------------------------------------ */
/* The loads                                                                */

typedef enum load_kind {
  L_RECV,
  L_OPT,
  L_SENDER,
  L_RECV_OS,
  L_COUNT
} load_kind;

static const char *const load_names[L_COUNT] = {
    [L_RECV] = "receiver",
    [L_OPT] = "optimistic",
    [L_SENDER] = "sender",
    [L_RECV_OS] = "receiver_os",
};

static const char *const load_protocols[L_COUNT] = {
    [L_RECV] = "pessimistic-receiver",
    [L_OPT] = "optimistic-receiver",
    [L_SENDER] = "pessimistic-sender",
    [L_RECV_OS] = "pessimistic-receiver",
};

static bool on_sim(load_kind k) {
  return k != L_RECV_OS;
}

/* ------------------------------------------------------------------------ */
/* Samples, shared between a load's children and the parent                */

/* One log's mlog_log_info at a sample. */
typedef struct log_sample {
  uint64_t records, checkpoints, sender_payloads;
  uint64_t file_bytes, used_bytes;
} log_sample;

/* Memory from /proc/PID/status, KiB. */
typedef struct mem_kib {
  uint64_t rss, anon, file, shmem, hwm;
} mem_kib;

typedef struct sample {
  double t;           /* seconds since the load started */
  uint64_t delivered; /* by process 1 (receiver) so far */
  mem_kib m;          /* this OS process */
  bool has_log[2];
  log_sample lg[2]; /* by process id */
} sample;

/* What one OS process of a load reports (in memory shared with the
 * parent, which reads it after the child exited). */
typedef struct os_report {
  int status; /* 0 ok, -1 failed (err says why) */
  char err[512];
  uint32_t n; /* samples */
  uint64_t delivered[2], checkpoints[2], resent[2];
  double secs;  /* the loaded part */
  mem_kib last; /* after the processes closed */
  sample s[MAX_SAMPLES];
} os_report;

typedef struct shm {
  os_report r[2];         /* sim: r[0] for the one OS process; os: r[id] */
  volatile uint32_t stop; /* receiver_os: set by the parent */
} shm;

/* Read /proc/<pid>/status (pid 0: self). Returns 0, or -1 when the file
 * cannot be read or has no VmRSS (a process that exited). */
static int read_mem(pid_t pid, mem_kib *m) {
  char path[64];
  if (pid == 0)
    snprintf(path, sizeof path, "/proc/self/status");
  else
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return -1;
  *m = (mem_kib){0};
  char line[256];
  bool rss = false;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long long v;
    if (sscanf(line, "VmRSS: %llu", &v) == 1) {
      m->rss = v;
      rss = true;
    } else if (sscanf(line, "VmHWM: %llu", &v) == 1) {
      m->hwm = v;
    } else if (sscanf(line, "RssAnon: %llu", &v) == 1) {
      m->anon = v;
    } else if (sscanf(line, "RssFile: %llu", &v) == 1) {
      m->file = v;
    } else if (sscanf(line, "RssShmem: %llu", &v) == 1) {
      m->shmem = v;
    }
  }
  fclose(f);
  return rss ? 0 : -1;
}

static int rfail(os_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int rfail(os_report *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  r->status = -1;
  return -1;
}

/* ------------------------------------------------------------------------ */
/* A transport over one AF_UNIX SOCK_SEQPACKET socketpair (a group of two)  */

/* Frames the socket cannot take now wait in a FIFO backlog, sent before
 * anything new: the window bounds it. A frame to a peer that closed its end
 * is dropped (the delivery layer resends what matters). */
typedef struct sock_frame {
  struct sock_frame *next;
  size_t len;
  uint8_t data[];
} sock_frame;

typedef struct sock_ep {
  int fd;
  uint32_t peer;
  bool peer_gone;
  sock_frame *head, *tail;
  uint8_t *buf; /* the frame recv handed out */
} sock_ep;

static int sock_open(void *self, const void *config, uint32_t id,
                     uint32_t group_size) {
  sock_ep *ep = self;
  const int *fd = config;
  if (fd == NULL || group_size != 2 || id > 1)
    return MLOG_EINVAL;
  ep->buf = malloc(SOCK_FRAME_MAX);
  if (ep->buf == NULL)
    return MLOG_ENOMEM;
  ep->fd = fcntl(*fd, F_DUPFD_CLOEXEC, 0);
  if (ep->fd < 0) {
    free(ep->buf);
    ep->buf = NULL;
    return MLOG_EIO;
  }
  ep->peer = 1 - id;
  return MLOG_OK;
}

/* Send what waits in the backlog until the socket is full. */
static int sock_flush(sock_ep *ep) {
  while (ep->head != NULL) {
    sock_frame *f = ep->head;
    if (!ep->peer_gone &&
        send(ep->fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MLOG_OK;
      if (errno == EPIPE || errno == ECONNRESET)
        ep->peer_gone = true;
      else
        return MLOG_EIO;
    }
    ep->head = f->next;
    if (ep->head == NULL)
      ep->tail = NULL;
    free(f);
  }
  return MLOG_OK;
}

static int sock_send(void *self, uint32_t dst, const void *frame, size_t len) {
  sock_ep *ep = self;
  if (dst != ep->peer || len > SOCK_FRAME_MAX)
    return MLOG_EINVAL;
  if (ep->peer_gone)
    return MLOG_OK;
  sock_frame *f = malloc(sizeof *f + len);
  if (f == NULL)
    return MLOG_ENOMEM;
  f->next = NULL;
  f->len = len;
  memcpy(f->data, frame, len);
  if (ep->tail != NULL)
    ep->tail->next = f;
  else
    ep->head = f;
  ep->tail = f;
  return sock_flush(ep);
}

static uint64_t sock_now_ms(void *self) {
  (void)self;
  return (uint64_t)(bench_now() * 1e3);
}

static int sock_recv(void *self, int timeout_ms, uint32_t *src,
                     const void **frame, size_t *len) {
  sock_ep *ep = self;
  uint64_t until =
      sock_now_ms(ep) + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    int rc = sock_flush(ep);
    if (rc != MLOG_OK)
      return rc;
    ssize_t n = ep->peer_gone ? 0
                              : recv(ep->fd, ep->buf, SOCK_FRAME_MAX,
                                     MSG_DONTWAIT | MSG_TRUNC);
    if (n > SOCK_FRAME_MAX)
      continue; /* too long for us: dropped */
    if (n > 0) {
      *src = ep->peer;
      *frame = ep->buf;
      *len = (size_t)n;
      return MLOG_OK;
    }
    if (n == 0 && !ep->peer_gone) /* an empty frame, or the peer closed */
      ep->peer_gone = true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      if (errno != ECONNRESET)
        return MLOG_EIO;
      ep->peer_gone = true;
    }
    uint64_t now = sock_now_ms(ep);
    if (ep->peer_gone || now >= until)
      return MLOG_EAGAIN;
    struct pollfd pfd = {.fd = ep->fd,
                         .events = POLLIN | (ep->head ? POLLOUT : 0)};
    if (poll(&pfd, 1, (int)(until - now)) < 0 && errno != EINTR)
      return MLOG_EIO;
  }
}

static void sock_close(void *self) {
  sock_ep *ep = self;
  while (ep->head != NULL) {
    sock_frame *f = ep->head;
    ep->head = f->next;
    free(f);
  }
  ep->tail = NULL;
  if (ep->buf != NULL) {
    close(ep->fd);
    free(ep->buf);
    ep->buf = NULL;
  }
}

static const mlog_transport_ops sock_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "socketpair",
    .size = sizeof(sock_ep),
    .open = sock_open,
    .send = sock_send,
    .recv = sock_recv,
    .now_ms = sock_now_ms,
    .close = sock_close,
};

/* ------------------------------------------------------------------------ */
/* The application                                                          */

typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  uint32_t id;
  const uint8_t *payload;
} node;

/* Process 1 gives a credit per CREDIT deliveries; process 0 answers each
 * credit with that many messages. */
static int node_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                        size_t len) {
  node *nd = arg;
  (void)src;
  bench_fold_add(&nd->st, msg, len);
  if (nd->id == RECEIVER) {
    if (nd->st.count % CREDIT != 0)
      return 0;
    uint8_t c[8];
    bench_put_le64(c, CREDIT);
    return mlog_send(p, SENDER, c, sizeof c);
  }
  if (len != 8)
    return -1;
  for (uint64_t i = bench_get_le64(msg); i > 0; i--) {
    int rc = mlog_send(p, RECEIVER, nd->payload, PAYLOAD_BYTES);
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
/* Running a load (in a child)                                              */

typedef struct load_cfg {
  load_kind kind;
  const char *dirpath; /* the load's directory (p0, p1 below it) */
  double secs;         /* loaded seconds */
  double interval;     /* between samples */
  uint64_t ckpt_every;
  const uint8_t *payload;
  volatile uint32_t *stop; /* receiver_os: set by the parent */
} load_cfg;

/* One mlog process of a load, with a read-only handle on its log. */
typedef struct member {
  node nd;
  mlog_proc *p;
  mlog_log *obs;
} member;

static int open_member(const load_cfg *lc, uint32_t id,
                       const mlog_transport_ops *tops, const void *tconf,
                       member *m, os_report *r) {
  char sub[PATH_MAX];
  if (snprintf(sub, sizeof sub, "%s/p%u", lc->dirpath, id) >= (int)sizeof sub)
    return rfail(r, "%s: path too long", lc->dirpath);
  m->nd = (node){.id = id, .payload = lc->payload};
  mlog_proc_config cfg = {.dirpath = sub,
                          .id = id,
                          .group_size = 2,
                          .protocol = load_protocols[lc->kind],
                          .ckpt_every_deliveries = lc->ckpt_every,
                          .transport = tops,
                          .transport_config = tconf};
  int rc = mlog_proc_open(&cfg, &node_app, &m->nd, &m->p);
  if (rc != MLOG_OK)
    return rfail(r, "mlog_proc_open %s: %s (%s)", sub, mlog_errname(rc),
                 mlog_proc_errmsg(NULL));
  /* The same directory in the same OS process shares the writer's LMDB
   * environment: the handle reads the log as the process writes it. */
  rc = mlog_log_open(sub, MLOG_LOG_RDONLY, NULL, &m->obs);
  if (rc != MLOG_OK)
    return rfail(r, "mlog_log_open %s (read-only): %s (%s)", sub,
                 mlog_errname(rc), mlog_log_errmsg(NULL));
  return 0;
}

static void close_member(member *m, os_report *r) {
  if (m->p != NULL) {
    mlog_proc_stats st;
    mlog_proc_get_stats(m->p, &st);
    r->delivered[m->nd.id] = st.delivered;
    r->checkpoints[m->nd.id] = st.checkpoints;
    r->resent[m->nd.id] = st.resent;
  }
  mlog_log_close(m->obs);
  m->obs = NULL;
  mlog_proc_close(m->p);
  m->p = NULL;
}

/* Append a sample of this OS process and the logs of members[0..n). */
static int take_sample(os_report *r, double t, uint64_t delivered,
                       member *const *members, size_t n) {
  if (r->n >= MAX_SAMPLES)
    return 0;
  sample *s = &r->s[r->n];
  *s = (sample){.t = t, .delivered = delivered};
  if (read_mem(0, &s->m) != 0)
    return rfail(r, "cannot read /proc/self/status");
  for (size_t i = 0; i < n; i++) {
    mlog_log_info info;
    int rc = mlog_log_get_info(members[i]->obs, &info);
    if (rc != MLOG_OK)
      return rfail(r, "mlog_log_get_info (process %u): %s (%s)",
                   members[i]->nd.id, mlog_errname(rc),
                   mlog_log_errmsg(members[i]->obs));
    uint32_t id = members[i]->nd.id;
    s->has_log[id] = true;
    s->lg[id] = (log_sample){.records = info.records,
                             .checkpoints = info.checkpoints,
                             .sender_payloads = info.sender_payloads,
                             .file_bytes = info.file_bytes,
                             .used_bytes = info.used_bytes};
  }
  r->n++;
  return 0;
}

static int poll_member(member *m, int timeout_ms, os_report *r) {
  int n = mlog_proc_poll(m->p, timeout_ms);
  if (n < 0)
    return rfail(r, "poll of process %u: %s (%s)", m->nd.id, mlog_errname(-n),
                 mlog_proc_errmsg(m->p));
  return 0;
}

/* The first credit, outside a handler (logged and flushed there). */
static int first_credit(member *rcv, os_report *r) {
  uint8_t c[8];
  bench_put_le64(c, WINDOW);
  int rc = mlog_send(rcv->p, SENDER, c, sizeof c);
  if (rc != MLOG_OK)
    return rfail(r, "first credit: %s (%s)", mlog_errname(rc),
                 mlog_proc_errmsg(rcv->p));
  return 0;
}

/* Both processes on the sim, in this OS process: move every frame in
 * flight, poll those that got frames (bench_sender's driver). */
static int run_sim_load(const load_cfg *lc, os_report *r) {
  mlog_sim *sim = NULL;
  member mem[2] = {{.p = NULL}, {.p = NULL}};
  member *members[2] = {&mem[0], &mem[1]};
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = 2, .min_delay_ms = 1, .max_delay_ms = 1};
  int rc = mlog_sim_create(&so, &sim);
  if (rc != MLOG_OK)
    return rfail(r, "mlog_sim_create: %s", mlog_strerror(rc));
  int status = 0;
  for (uint32_t id = 0; id < 2 && status == 0; id++)
    status = open_member(lc, id, &mlog_sim_ops, sim, &mem[id], r);
  uint32_t dst;
  while (status == 0 && (rc = mlog_sim_step(sim, &dst)) == MLOG_OK)
    status = poll_member(&mem[dst], 0, r); /* the hellos */
  if (status == 0 && rc != MLOG_EAGAIN)
    status = rfail(r, "mlog_sim_step: %s", mlog_strerror(rc));
  if (status == 0)
    status = first_credit(&mem[RECEIVER], r);
  double t0 = bench_now(), next = 0, t = 0;
  while (status == 0 && !bench_interrupted) {
    t = bench_now() - t0;
    if (t >= next || t >= lc->secs) {
      status = take_sample(r, t, mem[RECEIVER].nd.st.count, members, 2);
      next += lc->interval;
    }
    if (status != 0 || t >= lc->secs)
      break;
    bool got[2] = {false, false};
    while ((rc = mlog_sim_step(sim, &dst)) == MLOG_OK)
      got[dst] = true;
    if (rc != MLOG_EAGAIN) {
      status = rfail(r, "mlog_sim_step: %s", mlog_strerror(rc));
    } else if (!got[0] && !got[1]) {
      mlog_sim_advance(sim, 1); /* let timers (resends, flushes) fire */
      for (uint32_t id = 0; id < 2 && status == 0; id++)
        status = poll_member(&mem[id], 0, r);
    } else {
      if (got[RECEIVER])
        status = poll_member(&mem[RECEIVER], 0, r);
      if (status == 0 && got[SENDER])
        status = poll_member(&mem[SENDER], 0, r);
    }
  }
  r->secs = t;
  for (int id = 0; id < 2; id++)
    close_member(&mem[id], r);
  mlog_sim_destroy(sim);
  if (read_mem(0, &r->last) != 0 && status == 0)
    status = rfail(r, "cannot read /proc/self/status");
  return status;
}

/* One process of receiver_os, in its own OS process: poll until the
 * parent says stop, sampling itself. */
static int run_os_member(const load_cfg *lc, uint32_t id, int fd,
                         os_report *r) {
  member m = {.p = NULL};
  member *members[1] = {&m};
  int status = open_member(lc, id, &sock_ops, &fd, &m, r);
  if (status == 0 && id == RECEIVER)
    status = first_credit(&m, r);
  double t0 = bench_now(), next = 0, t = 0;
  while (status == 0 && !bench_interrupted && !*lc->stop) {
    t = bench_now() - t0;
    if (t >= next) {
      status = take_sample(r, t, m.nd.st.count, members, 1);
      next += lc->interval;
    }
    if (status == 0)
      status = poll_member(&m, SOCK_POLL_MS, r);
  }
  t = bench_now() - t0;
  if (status == 0)
    status = take_sample(r, t, m.nd.st.count, members, 1);
  r->secs = t;
  close_member(&m, r);
  if (read_mem(0, &r->last) != 0 && status == 0)
    status = rfail(r, "cannot read /proc/self/status");
  return status;
}

/* ------------------------------------------------------------------------ */
/* Children                                                                 */

/* Wait for pid, killing it when this program is interrupted or past
 * deadline (bench_now; 0: none). Returns 0 with *status and *ru, or -1. */
static int reap(pid_t pid, double deadline, int *status, struct rusage *ru) {
  bool killed = false;
  for (;;) {
    pid_t w = wait4(pid, status, killed || deadline == 0 ? 0 : WNOHANG, ru);
    if (w == pid)
      return 0;
    if (w < 0 && errno != EINTR)
      return -1;
    if (!killed &&
        (bench_interrupted || (deadline > 0 && bench_now() > deadline))) {
      kill(pid, SIGKILL);
      killed = true;
      continue;
    }
    if (w == 0) {
      struct timespec ts = {0, 20 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
}

/* A forked child: die with the parent. */
static void child_setup(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1)
    _exit(1);
}

typedef struct load_result {
  load_kind kind;
  bool ok;
  double wall;
} load_result;

/* Run load lc->kind into sh (zeroed here), forking its OS processes.
 * Returns 0, or -1 after printing why. */
static int run_load(const load_cfg *lc, shm *sh, load_result *res) {
  memset(sh, 0, sizeof *sh);
  *res = (load_result){.kind = lc->kind};
  if (mkdir(lc->dirpath, 0750) != 0) {
    fprintf(stderr, "%s: mkdir %s: %s\n", PROG, lc->dirpath, strerror(errno));
    return -1;
  }
  int nproc = on_sim(lc->kind) ? 1 : 2;
  int sv[2] = {-1, -1};
  if (!on_sim(lc->kind) &&
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    fprintf(stderr, "%s: socketpair: %s\n", PROG, strerror(errno));
    return -1;
  }
  pid_t pids[2] = {-1, -1};
  double wall0 = bench_now();
  fflush(stdout);
  fflush(stderr);
  int status = 0;
  for (int i = 0; i < nproc; i++) {
    pids[i] = fork();
    if (pids[i] < 0) {
      fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
      status = -1;
      break;
    }
    if (pids[i] == 0) {
      child_setup();
      int rc;
      if (on_sim(lc->kind)) {
        rc = run_sim_load(lc, &sh->r[0]);
      } else {
        close(sv[1 - i]);
        rc = run_os_member(lc, (uint32_t)i, sv[i], &sh->r[i]);
        close(sv[i]);
      }
      exit(rc == 0 ? 0 : 1);
    }
  }
  if (sv[0] >= 0) {
    close(sv[0]);
    close(sv[1]);
  }
  if (!on_sim(lc->kind) && status == 0) {
    /* the children run until told to stop */
    double until = bench_now() + lc->secs;
    while (!bench_interrupted && bench_now() < until) {
      int st;
      pid_t w = waitpid(-1, &st, WNOHANG);
      if (w > 0) { /* one died early: stop the other */
        for (int i = 0; i < nproc; i++)
          if (pids[i] == w) {
            pids[i] = -1;
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
                sh->r[i].status == 0)
              rfail(&sh->r[i], "exited early (status %d)", st);
          }
        break;
      }
      struct timespec ts = {0, 20 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    *lc->stop = 1;
  }
  double deadline = bench_now() + 4 * lc->secs + 60;
  for (int i = 0; i < 2; i++) {
    if (pids[i] <= 0)
      continue;
    int st;
    struct rusage ru;
    if (reap(pids[i], deadline, &st, &ru) != 0) {
      fprintf(stderr, "%s: waiting for a child: %s\n", PROG, strerror(errno));
      status = -1;
      continue;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && sh->r[i].status == 0)
      rfail(&sh->r[i], "child %s (status %d)",
            WIFSIGNALED(st) ? "killed by a signal" : "failed", st);
  }
  res->wall = bench_now() - wall0;
  for (int i = 0; i < nproc; i++)
    if (sh->r[i].status != 0) {
      fprintf(stderr, "%s: load %s%s: %s\n", PROG, load_names[lc->kind],
              nproc > 1 ? (i == 0 ? " (process 0)" : " (process 1)") : "",
              sh->r[i].err);
      status = -1;
    }
  if (bench_remove_tree(lc->dirpath) != 0) {
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, lc->dirpath,
            strerror(errno));
    status = -1;
  }
  bench_settle_fs(lc->dirpath);
  res->ok = status == 0 && !bench_interrupted;
  return status;
}

/* ------------------------------------------------------------------------ */
/* Analysis of a load                                                       */

typedef uint64_t (*sample_fn)(const sample *s, int who);

static uint64_t f_rss(const sample *s, int who) {
  (void)who;
  return s->m.rss;
}
static uint64_t f_anon(const sample *s, int who) {
  (void)who;
  return s->m.anon;
}
static uint64_t f_file(const sample *s, int who) {
  (void)who;
  return s->m.file;
}
static uint64_t f_records(const sample *s, int who) {
  return s->has_log[who] ? s->lg[who].records : 0;
}
static uint64_t f_mdb(const sample *s, int who) {
  return s->has_log[who] ? s->lg[who].file_bytes : 0;
}

/* Mean of f over the samples with t in [lo, hi) fractions of the run. */
static double window_mean(const os_report *r, sample_fn f, int who, double lo,
                          double hi) {
  double sum = 0, T = r->secs;
  unsigned n = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    double x = r->s[i].t / (T > 0 ? T : 1);
    if (x >= lo && (x < hi || (hi >= 1 && x <= 1.0001))) {
      sum += (double)f(&r->s[i], who);
      n++;
    }
  }
  return n ? sum / n : 0;
}

static double window_max(const os_report *r, sample_fn f, int who, double lo,
                         double hi) {
  double m = 0, T = r->secs;
  for (uint32_t i = 0; i < r->n; i++) {
    double x = r->s[i].t / (T > 0 ? T : 1);
    if (x >= lo && (x < hi || (hi >= 1 && x <= 1.0001)) &&
        (double)f(&r->s[i], who) > m)
      m = (double)f(&r->s[i], who);
  }
  return m;
}

/* Least-squares slope of f over the second half, per second. */
static double second_half_slope(const os_report *r, sample_fn f, int who) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  unsigned n = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    if (r->s[i].t < r->secs / 2)
      continue;
    double x = r->s[i].t, y = (double)f(&r->s[i], who);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
    n++;
  }
  double d = n * sxx - sx * sx;
  return n >= 3 && d > 0 ? (n * sxy - sx * sy) / d : 0;
}

/* What the tables and the JSON show of one OS process of a load. */
typedef struct os_summary {
  int who; /* the OS process: 0 (sim: the pair), or the process id */
  double first, mid, last; /* mean VmRSS (KiB) of those tenths */
  double anon_first, anon_last, file_last;
  double growth, anon_growth; /* last / first tenth */
  double slope_kib_min;       /* second half, KiB per minute */
  uint64_t peak_kib;          /* ru_maxrss */
  uint64_t delivered, checkpoints;
  double rate;                   /* process 1's deliveries per second */
  double rec_first_half_max[2];  /* live records */
  double rec_last[2];            /* max in the last tenth */
  double mdb_first_half_max[2];  /* data.mdb bytes */
  double mdb_last[2];            /* max in the last tenth */
  uint64_t ckpts[2], dlv[2];     /* checkpoints taken, deliveries */
  double anon_slope, file_slope; /* second half, KiB per minute */
  double mdb_slope[2];           /* data.mdb, second half, KiB per minute */
  bool bounded;
  char why[512]; /* when not */
} os_summary;

static void summarize(const os_report *r, int who, uint64_t maxrss,
                      uint64_t ckpt_every, os_summary *o) {
  *o = (os_summary){.who = who, .peak_kib = maxrss};
  o->first = window_mean(r, f_rss, 0, 0, 0.1);
  o->mid = window_mean(r, f_rss, 0, 0.45, 0.55);
  o->last = window_mean(r, f_rss, 0, 0.9, 1);
  o->anon_first = window_mean(r, f_anon, 0, 0, 0.1);
  o->anon_last = window_mean(r, f_anon, 0, 0.9, 1);
  o->file_last = window_mean(r, f_file, 0, 0.9, 1);
  o->growth = o->first > 0 ? o->last / o->first : 0;
  o->anon_growth = o->anon_first > 0 ? o->anon_last / o->anon_first : 0;
  o->slope_kib_min = second_half_slope(r, f_rss, 0) * 60;
  o->checkpoints = r->checkpoints[0] + r->checkpoints[1];
  for (int id = 0; id < 2; id++) {
    o->ckpts[id] = r->checkpoints[id];
    o->dlv[id] = r->delivered[id];
  }
  if (r->n > 0) { /* the receiver's (sim) or this process's deliveries */
    const sample *end = &r->s[r->n - 1];
    o->delivered = end->delivered;
    o->rate = end->t > 0 ? (double)end->delivered / end->t : 0;
  }
  o->anon_slope = second_half_slope(r, f_anon, 0) * 60;
  o->file_slope = second_half_slope(r, f_file, 0) * 60;
  double minutes = r->secs / 60;
  bool ok = true;
  size_t at = 0;
  o->why[0] = '\0';
  if (o->last > o->mid + 0.05 * o->mid + 1024 ||
      o->slope_kib_min * minutes > 0.10 * o->mid) {
    ok = false;
    at += (size_t)snprintf(o->why + at, sizeof o->why - at,
                           "RSS %+.0f KiB/min over the second half (RssAnon "
                           "%+.0f, RssFile %+.0f); ",
                           o->slope_kib_min, o->anon_slope, o->file_slope);
  }
  for (int id = 0; id < 2 && at < sizeof o->why; id++) {
    if (r->n == 0 || !r->s[0].has_log[id])
      continue;
    o->rec_first_half_max[id] = window_max(r, f_records, id, 0, 0.5);
    o->rec_last[id] = window_max(r, f_records, id, 0.9, 1);
    o->mdb_first_half_max[id] = window_max(r, f_mdb, id, 0, 0.5);
    o->mdb_last[id] = window_max(r, f_mdb, id, 0.9, 1);
    o->mdb_slope[id] = second_half_slope(r, f_mdb, id) * 60 / KIB;
    double mdb_mid = window_mean(r, f_mdb, id, 0.45, 0.55) / KIB;
    if (o->rec_last[id] >
        1.5 * o->rec_first_half_max[id] + 2.0 * (double)ckpt_every) {
      ok = false;
      at += (size_t)snprintf(o->why + at, sizeof o->why - at,
                             "p%d's live records %.0f -> %.0f; ", id,
                             o->rec_first_half_max[id], o->rec_last[id]);
    }
    if (at < sizeof o->why &&
        o->mdb_slope[id] * minutes > 0.10 * mdb_mid + 256) {
      ok = false;
      at += (size_t)snprintf(o->why + at, sizeof o->why - at,
                             "p%d's data.mdb %+.0f KiB/min (%.0f KiB at the "
                             "end); ",
                             id, o->mdb_slope[id], o->mdb_last[id] / KIB);
    }
  }
  if (r->n < 10 && ok) {
    ok = false;
    snprintf(o->why, sizeof o->why, "too few samples (%u)", r->n);
  }
  at = strlen(o->why);
  if (at >= 2 && o->why[at - 2] == ';')
    o->why[at - 2] = '\0';
  o->bounded = ok;
}

/* ------------------------------------------------------------------------ */
/* Verify                                                                   */

/* Find the mlog tool beside this program into out. */
static int find_mlog(const char *given, char *out, size_t len) {
  if (given != NULL) {
    if (access(given, X_OK) != 0) {
      fprintf(stderr, "%s: --mlog %s: %s\n", PROG, given, strerror(errno));
      return -1;
    }
    snprintf(out, len, "%s", given);
    return 0;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "%s: cannot read /proc/self/exe: %s (give --mlog PATH)\n",
            PROG, strerror(errno));
    return -1;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash != NULL)
    *slash = '\0';
  static const char *const rel[] = {"../bin/mlog", "../tools/mlog", "mlog",
                                    "../mlog"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    if (snprintf(out, len, "%s/%s", exe, rel[i]) < (int)len &&
        access(out, X_OK) == 0)
      return 0;
  }
  fprintf(stderr,
          "%s: cannot find the mlog tool beside %s (../bin/mlog, "
          "../tools/mlog): build it, or give --mlog PATH\n",
          PROG, exe);
  return -1;
}

/* Run argv (stdout to /dev/null) as a child; sample its anonymous memory
 * every VERIFY_SAMPLE_MS when peak_anon is given. Returns 0 when it exited
 * with status 0 (with *secs, *maxrss_kib, *peak_anon), else -1 after
 * printing why. */
static int run_tool(char *const argv[], double *secs, uint64_t *maxrss_kib,
                    mem_kib *peak) {
  fflush(stdout);
  fflush(stderr);
  double t0 = bench_now();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    child_setup();
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
      _exit(127);
    close(fd);
    execv(argv[0], argv);
    fprintf(stderr, "%s: exec %s: %s\n", PROG, argv[0], strerror(errno));
    _exit(127);
  }
  if (peak != NULL)
    *peak = (mem_kib){0};
  int st = 0;
  struct rusage ru;
  pid_t w;
  for (;;) {
    w = wait4(pid, &st, peak != NULL ? WNOHANG : 0, &ru);
    if (w == pid || (w < 0 && errno != EINTR))
      break;
    if (bench_interrupted) {
      kill(pid, SIGKILL);
      peak = NULL; /* wait blocking from now on */
      continue;
    }
    mem_kib m;
    if (peak != NULL && w == 0 && read_mem(pid, &m) == 0) {
      if (m.anon > peak->anon)
        peak->anon = m.anon;
      if (m.file > peak->file)
        peak->file = m.file;
      if (m.rss > peak->rss)
        peak->rss = m.rss;
      if (m.hwm > peak->hwm)
        peak->hwm = m.hwm;
    }
    if (peak != NULL && w == 0) {
      struct timespec ts = {0, VERIFY_SAMPLE_MS * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  *secs = bench_now() - t0;
  if (w != pid) {
    fprintf(stderr, "%s: waiting for %s: %s\n", PROG, argv[0], strerror(errno));
    return -1;
  }
  *maxrss_kib = (uint64_t)ru.ru_maxrss;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    if (!bench_interrupted)
      fprintf(stderr, "%s: %s %s failed (%s %d)\n", PROG, argv[0], argv[1],
              WIFEXITED(st) ? "exit status" : "signal",
              WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return -1;
  }
  return 0;
}

typedef struct verify_row {
  uint64_t records;
  uint64_t log_bytes;  /* data.mdb */
  double gen_secs;     /* mlog gen, setup */
  double secs;         /* median verify time */
  uint64_t maxrss_kib; /* ru_maxrss, the largest over the rounds */
  uint64_t anon_kib;   /* sampled RssAnon peak, the largest */
  uint64_t file_kib;   /* sampled RssFile peak, the largest */
} verify_row;

static int verify_length(const char *mlog, const char *scratch,
                         uint64_t records, unsigned rounds, verify_row *vr) {
  char dir[PATH_MAX], nbuf[32], path[PATH_MAX + 16];
  *vr = (verify_row){.records = records};
  if (snprintf(dir, sizeof dir, "%s/verify-%llu", scratch,
               (unsigned long long)records) >= (int)sizeof dir) {
    fprintf(stderr, "%s: %s: path too long\n", PROG, scratch);
    return -1;
  }
  snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)records);
  char *gen[] = {(char *)mlog, "gen", "--out",    dir,
                 "--records",  nbuf,  "--nosync", NULL};
  char *ver[] = {(char *)mlog, "verify", dir, NULL};
  uint64_t rss;
  int rc = run_tool(gen, &vr->gen_secs, &rss, NULL);
  struct stat sb;
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  if (rc == 0 && stat(path, &sb) != 0) {
    fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
    rc = -1;
  }
  if (rc == 0)
    vr->log_bytes = (uint64_t)sb.st_size;
  double t[BENCH_MAX_ROUNDS];
  unsigned done = 0;
  for (unsigned i = 0; rc == 0 && i < rounds && !bench_interrupted; i++) {
    mem_kib peak;
    rc = run_tool(ver, &t[i], &rss, &peak);
    if (rc != 0)
      break;
    done++;
    if (rss > vr->maxrss_kib)
      vr->maxrss_kib = rss;
    if (peak.anon > vr->anon_kib)
      vr->anon_kib = peak.anon;
    if (peak.file > vr->file_kib)
      vr->file_kib = peak.file;
  }
  vr->secs = bench_median(t, done);
  if (bench_remove_tree(dir) != 0) {
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, dir, strerror(errno));
    rc = -1;
  }
  bench_settle_fs(scratch);
  if (rc == 0 && done == 0)
    rc = -1;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

typedef struct bench {
  bench_opts o;
  char scratch[PATH_MAX];
  bench_fs fi;
  uint64_t ckpt_every;
  double interval;
  bool loads[L_COUNT];
  bool run_loads, run_verify;
  const char *mlog_given;
  char mlog[PATH_MAX];
  /* results */
  os_summary sum[L_COUNT][2];
  int nsum[L_COUNT];
  load_result lres[L_COUNT];
  verify_row vrows[MAX_LENGTHS];
  size_t nv;
} bench;

static void print_load_samples(load_kind k, const shm *sh) {
  int nproc = on_sim(k) ? 1 : 2;
  for (int i = 0; i < nproc; i++) {
    const os_report *r = &sh->r[i];
    fprintf(stderr, "  %s%s samples:\n", load_names[k],
            nproc > 1 ? (i ? " process 1" : " process 0") : "");
    fprintf(
        stderr, "  %7s %10s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %5s %5s\n",
        "t s", "delivered", "rss KiB", "anon", "file", "hwm", "recs p0",
        "recs p1", "mdb0 KiB", "mdb1 KiB", "used0", "used1", "ckp0", "ckp1");
    for (uint32_t j = 0; j < r->n; j++) {
      const sample *s = &r->s[j];
      fprintf(stderr,
              "  %7.2f %10llu %9llu %9llu %9llu %9llu %9llu %9llu %9llu "
              "%9llu %9llu %9llu %5llu %5llu\n",
              s->t, (unsigned long long)s->delivered,
              (unsigned long long)s->m.rss, (unsigned long long)s->m.anon,
              (unsigned long long)s->m.file, (unsigned long long)s->m.hwm,
              (unsigned long long)s->lg[0].records,
              (unsigned long long)s->lg[1].records,
              (unsigned long long)(s->lg[0].file_bytes / 1024),
              (unsigned long long)(s->lg[1].file_bytes / 1024),
              (unsigned long long)(s->lg[0].used_bytes / 1024),
              (unsigned long long)(s->lg[1].used_bytes / 1024),
              (unsigned long long)s->lg[0].checkpoints,
              (unsigned long long)s->lg[1].checkpoints);
    }
    fprintf(stderr,
            "  after close: rss %llu anon %llu file %llu hwm %llu KiB\n",
            (unsigned long long)r->last.rss, (unsigned long long)r->last.anon,
            (unsigned long long)r->last.file, (unsigned long long)r->last.hwm);
  }
}

/* Too short to tell the warm-up (LMDB's map, the first checkpoints) from
 * a growth: the verdicts get a question mark. */
#define SHORT_RUN_SECS 20.0

static void print_loads(const bench *bn) {
  bool sh = bn->o.b.min_secs < SHORT_RUN_SECS;
  printf("\nRSS under sustained load: %.0f s per load, 64 B messages as fast "
         "as they go,\ncheckpoints every %llu deliveries (KiB; first/last: "
         "mean over the first/last tenth)\n",
         bn->o.b.min_secs, (unsigned long long)bn->ckpt_every);
  printf("%-12s %-4s %10s %9s %9s %9s %7s %7s %9s %10s %9s  %s\n", "load",
         "proc", "delivered", "msgs/s", "first", "last", "growth", "anon gr",
         "peak", "slope/min", "recs", "verdict");
  for (int k = 0; k < L_COUNT; k++) {
    for (int i = 0; i < bn->nsum[k]; i++) {
      const os_summary *o = &bn->sum[k][i];
      char proc[8], recs[32];
      snprintf(proc, sizeof proc, "%s",
               on_sim((load_kind)k) ? "both" : (o->who ? "p1" : "p0"));
      double rl = on_sim((load_kind)k) ? o->rec_last[0] + o->rec_last[1]
                                       : o->rec_last[o->who];
      snprintf(recs, sizeof recs, "%.0f", rl);
      printf("%-12s %-4s %10llu %9.0f %9.0f %9.0f %7.3f %7.3f %9llu %+10.0f "
             "%9s  %s\n",
             load_names[k], proc, (unsigned long long)o->delivered, o->rate,
             o->first, o->last, o->growth, o->anon_growth,
             (unsigned long long)o->peak_kib, o->slope_kib_min, recs,
             o->bounded ? (sh ? "bounded?" : "bounded")
                        : (sh ? "GROWS?" : "GROWS"));
    }
  }
  printf("\nLogs at the end (last tenth, max) against the first half (max):\n");
  printf("%-12s %-4s %12s %12s %13s %13s %11s %11s\n", "load", "log", "records",
         "first half", "data.mdb KiB", "first half", "ckpts", "due");
  for (int k = 0; k < L_COUNT; k++) {
    for (int i = 0; i < bn->nsum[k]; i++) {
      const os_summary *o = &bn->sum[k][i];
      for (int id = 0; id < 2; id++) {
        if (!on_sim((load_kind)k) && id != o->who)
          continue;
        printf("%-12s p%-3d %12.0f %12.0f %13.0f %13.0f %11llu %11llu\n",
               load_names[k], id, o->rec_last[id], o->rec_first_half_max[id],
               o->mdb_last[id] / KIB, o->mdb_first_half_max[id] / KIB,
               (unsigned long long)o->ckpts[id],
               (unsigned long long)(o->dlv[id] / bn->ckpt_every));
      }
    }
  }
  printf(
      "\nreceiver, optimistic, sender: both mlog processes in one OS process "
      "(sim transport),\nso the RSS is the pair's; receiver_os: one OS "
      "process per mlog process (socketpair),\neach row that process's own. "
      "growth = last / first tenth of VmRSS (anon gr: of\nRssAnon); peak "
      "= VmHWM; slope: least squares over the second half; recs:\nlive "
      "log records at the end (last tenth, max). ckpts: checkpoints taken; "
      "due:\ndeliveries / ckpt_every (pessimistic-sender keeps its messages "
      "in RAM: its\nlogs hold checkpoints only).\n");
  for (int k = 0; k < L_COUNT; k++)
    for (int i = 0; i < bn->nsum[k]; i++) {
      const os_summary *o = &bn->sum[k][i];
      if (o->bounded)
        printf("  %s%s: bounded: RSS %.0f -> %.0f -> %.0f KiB (first, middle, "
               "last tenth), %llu deliveries, %llu checkpoints\n",
               load_names[k],
               on_sim((load_kind)k) ? "" : (o->who ? " p1" : " p0"), o->first,
               o->mid, o->last, (unsigned long long)o->delivered,
               (unsigned long long)o->checkpoints);
      else
        printf("  %s%s: GROWS: %s (RSS %.0f -> %.0f -> %.0f KiB)\n",
               load_names[k],
               on_sim((load_kind)k) ? "" : (o->who ? " p1" : " p0"), o->why,
               o->first, o->mid, o->last);
    }
  if (sh)
    printf("  (runs of %.0f s are too short to tell the warm-up from a "
           "growth: the verdicts\n  are marked '?'; run --full, 60 s per "
           "load)\n",
           bn->o.b.min_secs);
}

static void print_verify(const bench *bn) {
  printf("\nmlog verify: peak RSS against the log's length (64 B records; "
         "KiB)\n");
  printf("%10s %12s %9s %12s %10s %9s %9s %9s %8s %8s\n", "records",
         "data.mdb KiB", "verify s", "records/s", "maxrss", "ratio", "anon",
         "ratio", "file", "gen s");
  const verify_row *v0 = &bn->vrows[0];
  for (size_t i = 0; i < bn->nv; i++) {
    const verify_row *v = &bn->vrows[i];
    printf("%10llu %12llu %9.3f %12.0f %10llu %9.3f %9llu %9.3f %8llu %8.2f\n",
           (unsigned long long)v->records,
           (unsigned long long)(v->log_bytes / 1024), v->secs,
           v->secs > 0 ? (double)v->records / v->secs : 0,
           (unsigned long long)v->maxrss_kib,
           (double)v->maxrss_kib / (double)v0->maxrss_kib,
           (unsigned long long)v->anon_kib,
           v0->anon_kib ? (double)v->anon_kib / (double)v0->anon_kib : 0,
           (unsigned long long)v->file_kib, v->gen_secs);
  }
  if (bn->nv > 1) {
    const verify_row *vl = &bn->vrows[bn->nv - 1];
    double ra = v0->anon_kib ? (double)vl->anon_kib / (double)v0->anon_kib : 0;
    double rm = (double)vl->maxrss_kib / (double)v0->maxrss_kib;
    printf("\n  heap (RssAnon): %llu -> %llu KiB over %llux the records: "
           "ratio %.3f, %s\n",
           (unsigned long long)v0->anon_kib, (unsigned long long)vl->anon_kib,
           (unsigned long long)(vl->records / v0->records), ra,
           ra <= 1.25 ? "constant (streaming)" : "GROWS with the log");
    printf("  ru_maxrss: %llu -> %llu KiB: ratio %.3f (%s)\n",
           (unsigned long long)v0->maxrss_kib,
           (unsigned long long)vl->maxrss_kib, rm,
           rm <= 1.25 ? "constant"
                      : "grows: LMDB's map pages of data.mdb that the scan "
                        "touched (file-backed, page cache)");
  }
  printf("\nmaxrss: wait4's ru_maxrss (everything resident, the memory map "
         "of data.mdb\nincluded); anon, file: the peaks of RssAnon, RssFile "
         "sampled every %d ms; ratio:\nagainst the smallest log; verify s: "
         "median of %u run(s); gen s: mlog gen --nosync\n(setup).\n",
         VERIFY_SAMPLE_MS, bn->o.b.rounds);
}

static json_t *load_params(const bench *bn, load_kind k, const os_summary *o) {
  return json_pack("{s:s, s:s, s:s, s:s, s:f, s:i, s:I, s:b, s:s, s:s}", "load",
                   load_names[k], "protocol", load_protocols[k], "transport",
                   on_sim(k) ? "sim" : "socketpair", "os_process",
                   on_sim(k) ? "pair" : (o->who ? "p1" : "p0"), "seconds",
                   bn->o.b.min_secs, "payload_bytes", PAYLOAD_BYTES,
                   "ckpt_every", (json_int_t)bn->ckpt_every, "short_run",
                   bn->o.b.min_secs < SHORT_RUN_SECS, "mode", bn->o.b.mode,
                   "fs", bn->fi.type);
}

static int write_json(const bench *bn) {
  json_t *arr = json_array();
  int rc = arr ? 0 : -1;
  for (int k = 0; rc == 0 && k < L_COUNT; k++) {
    for (int i = 0; rc == 0 && i < bn->nsum[k]; i++) {
      const os_summary *o = &bn->sum[k][i];
      load_kind lk = (load_kind)k;
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o), "peak_rss",
                           (double)o->peak_kib, "KiB", NULL, 0, 0);
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o),
                           "rss_last_tenth", o->last, "KiB", "rss_first_tenth",
                           o->first, o->growth);
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o), "rss_growth",
                           o->growth, "ratio", "rss_first_tenth", o->first,
                           o->growth);
      rc |=
          bench_json_add(arr, "memory", load_params(bn, lk, o),
                         "anon_rss_growth", o->anon_growth, "ratio",
                         "anon_rss_first_tenth", o->anon_first, o->anon_growth);
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o),
                           "rss_slope_second_half", o->slope_kib_min, "KiB/min",
                           NULL, 0, 0);
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o),
                           "messages_delivered", (double)o->delivered,
                           "messages", NULL, 0, 0);
      rc |=
          bench_json_add(arr, "memory", load_params(bn, lk, o),
                         "deliveries_per_s", o->rate, "messages/s", NULL, 0, 0);
      double rl =
          on_sim(lk) ? o->rec_last[0] + o->rec_last[1] : o->rec_last[o->who];
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o),
                           "log_records_last_tenth", rl, "records", NULL, 0, 0);
      rc |= bench_json_add(arr, "memory", load_params(bn, lk, o), "bounded",
                           o->bounded ? 1 : 0, "bool", NULL, 0, 0);
    }
  }
  const verify_row *v0 = &bn->vrows[0];
  for (size_t i = 0; rc == 0 && i < bn->nv; i++) {
    const verify_row *v = &bn->vrows[i];
    for (int m = 0; m < 4; m++) {
      json_t *p =
          json_pack("{s:I, s:i, s:I, s:s, s:i, s:s}", "records",
                    (json_int_t)v->records, "payload_bytes", PAYLOAD_BYTES,
                    "log_bytes", (json_int_t)v->log_bytes, "mode", bn->o.b.mode,
                    "rounds", (int)bn->o.b.rounds, "fs", bn->fi.type);
      char base[64];
      snprintf(base, sizeof base, "records=%llu",
               (unsigned long long)v0->records);
      switch (m) {
      case 0:
        rc |= bench_json_add(arr, "memory", p, "verify_peak_rss",
                             (double)v->maxrss_kib, "KiB", base,
                             (double)v0->maxrss_kib,
                             (double)v->maxrss_kib / (double)v0->maxrss_kib);
        break;
      case 1:
        rc |= bench_json_add(
            arr, "memory", p, "verify_peak_anon_rss", (double)v->anon_kib,
            "KiB", base, (double)v0->anon_kib,
            v0->anon_kib ? (double)v->anon_kib / (double)v0->anon_kib : 0);
        break;
      case 2:
        rc |= bench_json_add(arr, "memory", p, "verify_records_per_s",
                             v->secs > 0 ? (double)v->records / v->secs : 0,
                             "records/s", NULL, 0, 0);
        break;
      default:
        rc |= bench_json_add(arr, "memory", p, "verify_seconds", v->secs, "s",
                             NULL, 0, 0);
        break;
      }
    }
  }
  if (rc == 0)
    rc = bench_json_write(PROG, arr, bn->o.json);
  else
    fprintf(stderr, "%s: out of memory for the results\n", PROG);
  json_decref(arr);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_memory [--quick | --full] [--dir DIR] [--json FILE]\n"
          "                    [--seconds S] [--rounds N] [--only LIST]\n"
          "                    [--part loads|verify] [--ckpt N] [--mlog PATH]\n"
          "  Memory: RSS of mlog processes under sustained load (bounded:\n"
          "  garbage collection keeps up) and the peak RSS of mlog verify\n"
          "  against the log's length (constant: it streams).\n"
          "  --quick      CI smoke run (3 s per load; logs of 1e4, 1e5)\n"
          "  --full       60 s per load; logs of 1e5, 1e6, 1e7 records\n"
          "  --dir DIR    parent of the scratch directory (a real disk)\n"
          "  --json FILE  also write the results as a JSON array\n"
          "  --seconds S  seconds per load\n"
          "  --rounds N   runs of mlog verify per length (median time)\n"
          "  --only LIST  loads, comma-separated: receiver, optimistic,\n"
          "               sender, receiver_os (default: all)\n"
          "  --part P     loads or verify only (default: both)\n"
          "  --ckpt N     checkpoint every N deliveries (default %d)\n"
          "  --mlog PATH  the mlog tool (default: found beside this program)\n"
          "  --verbose    every sample on stderr\n",
          DEFAULT_CKPT);
}

static int parse_args(bench *bn, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&bn->o, &quick_budget, &full_budget, argc,
                                    argv, &i, PROG);
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--only") == 0 && val) {
      if (bench_parse_list(val, load_names, L_COUNT, bn->loads) != 0) {
        fprintf(stderr, "%s: --only: unknown load in '%s'\n", PROG, val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--part") == 0 && val) {
      bn->run_loads = strcmp(val, "loads") == 0;
      bn->run_verify = strcmp(val, "verify") == 0;
      if (!bn->run_loads && !bn->run_verify) {
        fprintf(stderr, "%s: --part wants loads or verify\n", PROG);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--ckpt") == 0 && val) {
      if (bench_parse_count(val, 1, UINT32_MAX, &bn->ckpt_every) != 0) {
        fprintf(stderr, "%s: --ckpt wants 1..%u\n", PROG, UINT32_MAX);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--mlog") == 0 && val) {
      bn->mlog_given = val;
      i++;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  return -1; /* go on */
}

static int run_loads(bench *bn, shm *sh, uint8_t *payload) {
  for (int k = 0; k < L_COUNT && !bench_interrupted; k++) {
    if (!bn->loads[k])
      continue;
    char dirpath[PATH_MAX + 32];
    if (snprintf(dirpath, sizeof dirpath, "%s/load-%s", bn->scratch,
                 load_names[k]) >= (int)sizeof dirpath) {
      fprintf(stderr, "%s: %s: path too long\n", PROG, bn->scratch);
      return -1;
    }
    fprintf(stderr, "%s: load %s (%s, %s) for %.0f s ...\n", PROG,
            load_names[k], load_protocols[k],
            on_sim((load_kind)k) ? "sim" : "two OS processes",
            bn->o.b.min_secs);
    load_cfg lc = {.kind = (load_kind)k,
                   .dirpath = dirpath,
                   .secs = bn->o.b.min_secs,
                   .interval = bn->interval,
                   .ckpt_every = bn->ckpt_every,
                   .payload = payload,
                   .stop = &sh->stop};
    load_result *res = &bn->lres[k];
    if (run_load(&lc, sh, res) != 0)
      return -1;
    if (bench_interrupted)
      return -1;
    if (bn->o.verbose)
      print_load_samples((load_kind)k, sh);
    int nproc = on_sim((load_kind)k) ? 1 : 2;
    for (int i = 0; i < nproc; i++)
      summarize(&sh->r[i], on_sim((load_kind)k) ? 0 : i, sh->r[i].last.hwm,
                bn->ckpt_every, &bn->sum[k][i]);
    bn->nsum[k] = nproc;
    if (nproc == 2) { /* p0's deliveries are credits: show p1's messages */
      bn->sum[k][0].delivered = bn->sum[k][1].delivered;
      bn->sum[k][0].rate = bn->sum[k][1].rate;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench bn = {.o = {.b = default_budget},
              .ckpt_every = DEFAULT_CKPT,
              .run_loads = true,
              .run_verify = true};
  for (int k = 0; k < L_COUNT; k++)
    bn.loads[k] = true;
  int pa = parse_args(&bn, argc, argv);
  if (pa >= 0)
    return pa;
  bench_opts_finish(&bn.o);
  if (bn.o.b.rounds > BENCH_MAX_ROUNDS)
    bn.o.b.rounds = BENCH_MAX_ROUNDS;
  double secs = bn.o.b.min_secs;
  bn.interval = secs / QUICK_SAMPLES < 1.0 ? secs / QUICK_SAMPLES : 1.0;
  if (bn.interval < secs / (MAX_SAMPLES - 8))
    bn.interval = secs / (MAX_SAMPLES - 8);
  const uint64_t *lengths =
      strcmp(bn.o.b.mode, "quick") == 0 ? quick_lengths : full_lengths;
  size_t nlengths =
      strcmp(bn.o.b.mode, "quick") == 0 ? N_QUICK_LENGTHS : N_FULL_LENGTHS;
  if (bn.run_verify && find_mlog(bn.mlog_given, bn.mlog, sizeof bn.mlog) != 0)
    return 1;

  printf("%s: memory, mode %s (loads of %.0f s sampled every %.2f s; verify "
         "runs %u per length)\n",
         PROG, bn.o.b.mode, secs, bn.interval, bn.o.b.rounds);
  if (bench_scratch_create(PROG, bn.o.dir, bn.scratch, sizeof bn.scratch,
                           &bn.fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();

  int status = 1;
  uint8_t payload[PAYLOAD_BYTES];
  bench_fill_payload(payload, sizeof payload);
  shm *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    fprintf(stderr, "%s: mmap of %zu bytes: %s\n", PROG, sizeof *sh,
            strerror(errno));
    sh = NULL;
    goto cleanup;
  }
  if (bn.run_loads && run_loads(&bn, sh, payload) != 0)
    goto cleanup;
  if (bn.run_verify) {
    for (size_t i = 0; i < nlengths && !bench_interrupted; i++) {
      fprintf(stderr, "%s: mlog gen + verify, %llu records ...\n", PROG,
              (unsigned long long)lengths[i]);
      if (verify_length(bn.mlog, bn.scratch, lengths[i], bn.o.b.rounds,
                        &bn.vrows[bn.nv]) != 0)
        goto cleanup;
      bn.nv++;
    }
  }
  if (bench_interrupted)
    goto cleanup;
  if (bn.run_loads)
    print_loads(&bn);
  if (bn.run_verify && bn.nv > 0)
    print_verify(&bn);
  fflush(stdout);
  if (bn.o.json != NULL && write_json(&bn) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\n%s: interrupted\n", PROG);
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, bn.scratch,
            strerror(errno));
  if (sh != NULL)
    munmap(sh, sizeof *sh);
  return bench_interrupted ? 130 : status;
}
