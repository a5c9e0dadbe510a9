/* bench_analyze.c - mlog analyze on the logs of large groups: seconds,
 * messages/s and peak memory against processes and messages */

/*
 * Issue 7's measurement of offline analysis: `mlog analyze --json --failed
 * LIST DIR...` run as a child process (the built tool, fork and exec, as a
 * user runs it) on the logs of a group of P processes that exchanged M
 * messages under the `none` protocol (independent checkpoints, nothing
 * logged), for P in {10, 100, 1000} and M in {10^4, 10^5, 10^6, 10^7}
 * (--quick: P <= 100, M <= 10^5). The target: 1,000 processes and 10^7
 * messages in 5 s at most.
 *
 * The logs are written with the log API, as the `none` protocol leaves
 * them (per process: checkpoints whose states hold per-channel sent and
 * received counts, each after a MARK record, and a COUNTS control record
 * at a clean close), from a model: running real processes is far too slow
 * for 10^7 messages (mlog sim takes about 6 s for 10^4 messages among 10
 * processes, and stops at 64 processes). The model:
 *
 *   - process i sends to PEERS peers, i + 1 + d * ((P - 1) / PEERS) mod P
 *     for d = 0..PEERS-1 (all the others when P <= PEERS), M messages in
 *     all spread evenly over the channels; on a channel the messages leave
 *     at evenly spaced times in [0, 1) (each channel with its own phase)
 *     and arrive DELAY later;
 *   - process i takes checkpoint k (k = 1..CKPTS) at 1 - 2^-k plus a
 *     jitter: under DELAY / 2 for k < CKPTS, so that no message crosses
 *     those checkpoints backwards (they are consistent, as after a quiet
 *     spell), and up to 0.6 * 2^-CKPTS for the last, which messages cross;
 *   - a live process closes cleanly at time 1 (its COUNTS record); 1% of
 *     the processes (at least one) crash at time 1: no COUNTS record, and
 *     they are the --failed ones.
 *
 * The failed processes restart at their last checkpoint, which orphans what
 * they sent after it; the rollback spreads through the last checkpoints,
 * which messages cross, down to the consistent ones before them: a domino
 * effect, with orphan messages (about 2^-(CKPTS-1) of M once the channels
 * are busy) and lost ones (those in flight at the line).
 *
 * A row reports the median over rounds of the tool's wall time (fork to
 * exit), M over it (msgs/s), and the child's peak RSS (wait4's ru_maxrss).
 * Every run's JSON output is parsed and compared with the recovery line
 * that mlogi_recovery_line computes in this process from the same model
 * (each process's position and rollback, the domino flag, the number of
 * orphan and lost messages). That computation alone, timed (median of the
 * rounds), is the "line only" column: the rest of the tool's time is
 * reading the logs, building the trace and printing. Generating the logs is
 * not timed. Nothing here asserts on wall-clock time.
 */

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mlog/mlog.h>

#include "bench/benchlib.h"
#include "core/internal.h"
#include "core/proc.h"
#include "recovery/recovery_line.h"

#define PROG "bench_analyze"
#define PEERS 8                 /* each process sends to this many peers */
#define CKPTS 6                 /* checkpoints per process */
#define DELAY 1e-4              /* a message's flight, in the run's [0, 1) */
#define DEFAULT_CPU 600         /* --timeout: CPU seconds per run of the tool */
#define STATE_MAGIC 0x54534c4du /* "MLST": recovery/checkpoint.c */
#define STATE_VERSION 3
#define SCRATCH_MAX 2048 /* the scratch directory's path; files in it: more */

static const uint32_t procs_list[] = {10, 100, 1000};
static const uint64_t msgs_list[] = {10000, 100000, 1000000, 10000000};
#define N_PROCS (sizeof procs_list / sizeof procs_list[0])
#define N_MSGS (sizeof msgs_list / sizeof msgs_list[0])
#define QUICK_MAX_PROCS 100
#define QUICK_MAX_MSGS 100000
#define MAX_PROCS 2000     /* --procs: the logs take 40 * P^2 bytes each */
#define MAX_MSGS 100000000 /* --messages: this program takes 50 bytes each */

/* Only rounds count here: each measurement is one run of the tool. */
static const bench_budget quick_budget = {"quick", 3, 0, 0, 0};
static const bench_budget default_budget = {"default", 3, 0, 0, 0};
static const bench_budget full_budget = {"full", 3, 0, 0, 0};

/* ------------------------------------------------------------------------ */
/* The model                                                                */

/* A group's history, as counts: which messages each process had sent and
 * received at each of its checkpoints and at its end. */
typedef struct model {
  uint32_t n;             /* processes */
  uint32_t peers;         /* peers each sends to (and receives from) */
  uint32_t stride[PEERS]; /* peer d of i is i + stride[d] mod n */
  uint64_t m;             /* messages */
  uint64_t *len;          /* [n * peers] messages on channel (i, d) */
  double *at;             /* [n * CKPTS] when each checkpoint is taken */
  bool *failed;           /* [n] */
  char *failed_list;      /* "p5,p150,..." */
} model;

/* The counts of one position of a process, channel by channel (d). */
typedef struct counts {
  uint64_t sent[PEERS];     /* to peer d */
  uint64_t received[PEERS]; /* from the process whose peer d it is */
} counts;

static uint64_t mix(uint64_t x) { /* splitmix64's finalizer */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* A number in [0, 1) that (i, k) gives. */
static double uniform(uint32_t i, uint32_t k) {
  return (double)(mix(((uint64_t)i << 32) | k) >> 11) * 0x1.0p-53;
}

static void model_free(model *md) {
  free(md->len);
  free(md->at);
  free(md->failed);
  free(md->failed_list);
}

/* 1% of the processes (at least one), spread over the ids. */
static bool mark_failed(model *md) {
  uint32_t n_failed = md->n / 100 > 0 ? md->n / 100 : 1;
  uint32_t gap = md->n / n_failed;
  md->failed_list = malloc((size_t)n_failed * sizeof ",p4294967295");
  if (md->failed_list == NULL)
    return false;
  size_t at = 0;
  for (uint32_t f = 0; f < n_failed; f++) {
    uint32_t id = f * gap + gap / 2;
    md->failed[id] = true;
    at += (size_t)sprintf(md->failed_list + at, "%sp%u", f > 0 ? "," : "", id);
  }
  return true;
}

static int model_init(model *md, uint32_t n, uint64_t m) {
  *md = (model){.n = n, .m = m, .peers = n - 1 < PEERS ? n - 1 : PEERS};
  for (uint32_t d = 0; d < md->peers; d++)
    md->stride[d] = 1 + d * ((n - 1) / md->peers);
  uint64_t n_ch = (uint64_t)n * md->peers;
  md->len = calloc(n_ch, sizeof *md->len);
  md->at = calloc((size_t)n * CKPTS, sizeof *md->at);
  md->failed = calloc(n, sizeof *md->failed);
  if (md->len == NULL || md->at == NULL || md->failed == NULL ||
      !mark_failed(md))
    return -1;
  for (uint64_t c = 0; c < n_ch; c++)
    md->len[c] = m * (c + 1) / n_ch - m * c / n_ch;
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t k = 1; k <= CKPTS; k++) {
      double width = k < CKPTS ? DELAY / 2 : 0.6 * ldexp(1.0, -CKPTS);
      md->at[(size_t)i * CKPTS + k - 1] =
          1.0 - ldexp(1.0, -(int)k) + width * uniform(i, k);
    }
  return 0;
}

/* The messages of channel d of process i that left before time t: message
 * s (1..len) leaves at (s - phase) / len, the phase in (0, 1] set per
 * channel so that the channels do not send in step. */
static uint64_t sent_before(const model *md, uint32_t i, uint32_t d, double t) {
  uint64_t len = md->len[(size_t)i * md->peers + d];
  double x = t * (double)len + 1.0 - uniform(i, CKPTS + 1 + d); /* s < x */
  if (x <= 1.0)
    return 0;
  uint64_t s = (uint64_t)ceil(x) - 1;
  return s < len ? s : len;
}

/* The process that sends on channel d of receiver i. */
static uint32_t source(const model *md, uint32_t i, uint32_t d) {
  return (i + md->n - md->stride[d]) % md->n;
}

static uint32_t peer(const model *md, uint32_t i, uint32_t d) {
  return (i + md->stride[d]) % md->n;
}

/* The counts of process i at time t. */
static void counts_at(const model *md, uint32_t i, double t, counts *c) {
  for (uint32_t d = 0; d < md->peers; d++) {
    c->sent[d] = sent_before(md, i, d, t);
    c->received[d] = sent_before(md, source(md, i, d), d, t - DELAY);
  }
}

/* When process i's last known state is: its clean close, or for a failed
 * process its last checkpoint. */
static double end_time(const model *md, uint32_t i) {
  return md->failed[i] ? md->at[(size_t)i * CKPTS + CKPTS - 1] : 1.0;
}

/* Position k of process i as the tool reads its log (0: initial, 1..CKPTS:
 * the checkpoints, CKPTS + 1: its end). A failed process's end is its last
 * checkpoint with the sends its peers' ends received counted as sent. */
static void position(const model *md, uint32_t i, uint32_t k, counts *c) {
  if (k == 0) {
    memset(c, 0, sizeof *c);
    return;
  }
  if (k <= CKPTS) {
    counts_at(md, i, md->at[(size_t)i * CKPTS + k - 1], c);
    return;
  }
  counts_at(md, i, end_time(md, i), c);
  for (uint32_t d = 0; md->failed[i] && d < md->peers; d++) {
    uint64_t got = sent_before(md, i, d, end_time(md, peer(md, i, d)) - DELAY);
    if (got > c->sent[d])
      c->sent[d] = got;
  }
}

/* ------------------------------------------------------------------------ */
/* Writing the logs                                                         */

/* The group-wide channels of one position (sent to j, received from j). */
typedef struct chan {
  uint64_t sent, received;
} chan;

static void spread(const model *md, uint32_t i, const counts *c, chan *ch) {
  memset(ch, 0, md->n * sizeof *ch);
  for (uint32_t d = 0; d < md->peers; d++) {
    ch[peer(md, i, d)].sent = c->sent[d];
    ch[source(md, i, d)].received = c->received[d];
  }
}

/* A checkpoint state in the layout recovery/checkpoint.c writes (version
 * 3) with these channels and no kept messages, dependencies or application
 * snapshot. Returns its length (buf holds state_bytes(n)). */
static size_t state_bytes(uint32_t n) {
  return 4 + 4 + 4 + 8 + 28 + (size_t)n * (12 + 28) + 8;
}

static size_t encode_state(uint8_t *buf, uint32_t n, const chan *ch) {
  uint8_t *p = buf;
  uint64_t rsn = 0;
  for (uint32_t j = 0; j < n; j++)
    rsn += ch[j].received;
  mlogi_put_le32(p, STATE_MAGIC), p += 4;
  mlogi_put_le32(p, STATE_VERSION), p += 4;
  mlogi_put_le32(p, n), p += 4;
  mlogi_put_le64(p, rsn), p += 8;
  memset(p, 0, 8 + 8 + 4 + 8), p += 28; /* outputs, incarnation, snapshot */
  memset(p, 0, (size_t)n * 12), p += (size_t)n * 12; /* dependencies */
  for (uint32_t j = 0; j < n; j++) {
    mlogi_put_le64(p, ch[j].sent);
    mlogi_put_le64(p + 8, ch[j].sent); /* acked */
    mlogi_put_le64(p + 16, ch[j].received);
    mlogi_put_le32(p + 24, 0), p += 28;
  }
  mlogi_put_le64(p, 0), p += 8;
  return (size_t)(p - buf);
}

static int append_control(mlog_log *log, uint8_t flags, const void *payload,
                          uint32_t len) {
  mlog_record rec = {.type = MLOG_REC_CONTROL,
                     .flags = flags,
                     .payload = payload,
                     .payload_len = len};
  return mlog_log_append(log, &rec, 1);
}

/* Checkpoint k of process i, after a MARK record it covers. */
static int put_checkpoint(mlog_log *log, const model *md, uint32_t i,
                          uint32_t k, chan *ch, uint8_t *buf) {
  counts c;
  position(md, i, k, &c);
  spread(md, i, &c, ch);
  int rc = append_control(log, MLOGI_CTL_MARK, NULL, 0);
  if (rc == MLOG_OK)
    rc =
        mlog_log_put_checkpoint(log, mlog_log_next_lsn(log) - 1, 0, buf,
                                encode_state(buf, md->n, ch), UINT32_MAX, NULL);
  return rc;
}

/* The COUNTS record of a clean close at time 1. */
static int put_counts(mlog_log *log, const model *md, uint32_t i, chan *ch,
                      uint8_t *buf) {
  counts c;
  position(md, i, CKPTS + 1, &c);
  spread(md, i, &c, ch);
  for (uint32_t j = 0; j < md->n; j++) {
    mlogi_put_le64(buf + 16 * (size_t)j, ch[j].sent);
    mlogi_put_le64(buf + 16 * (size_t)j + 8, ch[j].received);
  }
  return append_control(log, MLOGI_CTL_COUNTS, buf, 16 * md->n);
}

static int write_log(const model *md, uint32_t i, const char *dir, chan *ch,
                     uint8_t *buf) {
  mlog_log_config cfg = {
      .process_id = i, .group_size = md->n, .protocol = "none"};
  mlog_log *log;
  int rc = mlog_log_open(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg, &log);
  if (rc != MLOG_OK) {
    fprintf(stderr, "%s: %s: %s\n", PROG, dir, mlog_log_errmsg(NULL));
    return -1;
  }
  for (uint32_t k = 1; rc == MLOG_OK && k <= CKPTS; k++)
    rc = put_checkpoint(log, md, i, k, ch, buf);
  if (rc == MLOG_OK && !md->failed[i])
    rc = put_counts(log, md, i, ch, buf);
  if (rc != MLOG_OK)
    fprintf(stderr, "%s: %s: %s\n", PROG, dir, mlog_log_errmsg(log));
  mlog_log_close(log);
  return rc == MLOG_OK ? 0 : -1;
}

/* The log directory of process i under root. */
static void log_dir(char *buf, size_t len, const char *root, uint32_t i) {
  if ((size_t)snprintf(buf, len, "%s/p%u", root, i) >= len)
    buf[0] = '\0'; /* not reached: root is at most SCRATCH_MAX + 16 */
}

static int write_logs(const model *md, const char *root) {
  chan *ch = malloc(md->n * sizeof *ch);
  uint8_t *buf = malloc(state_bytes(md->n));
  int rc = ch != NULL && buf != NULL ? 0 : -1;
  if (rc != 0)
    fprintf(stderr, "%s: out of memory for the logs\n", PROG);
  if (rc == 0 && mkdir(root, 0700) != 0) {
    fprintf(stderr, "%s: %s: %s\n", PROG, root, strerror(errno));
    rc = -1;
  }
  char dir[PATH_MAX];
  for (uint32_t i = 0; rc == 0 && i < md->n && !bench_interrupted; i++) {
    log_dir(dir, sizeof dir, root, i);
    rc = write_log(md, i, dir, ch, buf);
  }
  free(ch);
  free(buf);
  return bench_interrupted ? -1 : rc;
}

/* ------------------------------------------------------------------------ */
/* The recovery line in this process                                       */

/* The trace the tool builds from the logs, as recovery_line.h takes it:
 * the same histories and the messages in the same order (process by
 * process, interval by interval, peer by peer, ssn by ssn), so that the
 * line computed here gets the input the tool's gets. */
typedef struct expected {
  mlogi_rl_process *procs; /* [n] */
  uint64_t *ckpt_at;       /* [n * (CKPTS + 1)] */
  mlogi_rl_message *msgs;
  size_t n_msgs;
  counts *pos; /* [n * N_POS] every position of every process */
  size_t *seg; /* [n * N_POS * peers] the first message process i sends
                  to peer d in the interval before position k */
} expected;

#define N_POS (CKPTS + 2) /* the initial state, the checkpoints, the end */

static void expected_free(expected *e) {
  free(e->procs);
  free(e->ckpt_at);
  free(e->msgs);
  free(e->pos);
  free(e->seg);
}

static const counts *pos_of(const expected *e, uint32_t i, uint32_t k) {
  return &e->pos[(size_t)i * N_POS + k];
}

static size_t *seg_of(const model *md, const expected *e, uint32_t i,
                      uint32_t k, uint32_t d) {
  return &e->seg[((size_t)i * N_POS + k) * md->peers + d];
}

/* The sends of process i between positions k - 1 and k, numbered from *ev,
 * each channel's first message in seg. */
static void add_sends(const model *md, expected *e, uint32_t i, uint32_t k,
                      uint64_t *ev) {
  const counts *from = pos_of(e, i, k - 1), *to = pos_of(e, i, k);
  for (uint32_t d = 0; d < md->peers; d++) {
    *seg_of(md, e, i, k, d) = e->n_msgs;
    for (uint64_t s = from->sent[d] + 1; s <= to->sent[d]; s++)
      e->msgs[e->n_msgs++] = (mlogi_rl_message){
          .sender = i,
          .receiver = peer(md, i, d),
          .send_at = (*ev)++,
          .recv_at = MLOGI_RL_NOT_RECEIVED,
      };
  }
}

/* The receives of process i between positions k - 1 and k, numbered from
 * *ev; at[d] is the interval of the sender on channel d that holds the
 * next message received on it. */
static void add_receives(const model *md, expected *e, uint32_t i, uint32_t k,
                         uint32_t *at, uint64_t *ev) {
  const counts *from = pos_of(e, i, k - 1), *to = pos_of(e, i, k);
  for (uint32_t d = 0; d < md->peers; d++) {
    uint32_t src = source(md, i, d);
    for (uint64_t s = from->received[d] + 1; s <= to->received[d]; s++) {
      while (pos_of(e, src, at[d])->sent[d] < s)
        at[d]++;
      size_t first = *seg_of(md, e, src, at[d], d);
      e->msgs[first + s - pos_of(e, src, at[d] - 1)->sent[d] - 1].recv_at =
          (*ev)++;
    }
  }
}

/* Every position, and room for the messages: as many as the senders' ends
 * sent. */
static int lay_out(const model *md, expected *e) {
  e->procs = calloc(md->n, sizeof *e->procs);
  e->ckpt_at = calloc((size_t)md->n * (CKPTS + 1), sizeof *e->ckpt_at);
  e->pos = calloc((size_t)md->n * N_POS, sizeof *e->pos);
  e->seg = calloc((size_t)md->n * N_POS * md->peers, sizeof *e->seg);
  if (e->procs == NULL || e->ckpt_at == NULL || e->pos == NULL ||
      e->seg == NULL)
    return -1;
  size_t n_msgs = 0;
  for (uint32_t i = 0; i < md->n; i++)
    for (uint32_t k = 0; k < N_POS; k++) {
      position(md, i, k, &e->pos[(size_t)i * N_POS + k]);
      for (uint32_t d = 0; k == N_POS - 1 && d < md->peers; d++)
        n_msgs += pos_of(e, i, k)->sent[d];
    }
  e->msgs = malloc((n_msgs > 0 ? n_msgs : 1) * sizeof *e->msgs);
  return e->msgs != NULL ? 0 : -1;
}

/* The messages of counts b past those of counts a, over the channels. */
static uint64_t past(const uint64_t *a, const uint64_t *b, uint32_t peers) {
  uint64_t n = 0;
  for (uint32_t d = 0; d < peers; d++)
    n += b[d] - a[d];
  return n;
}

/* The history of process i: its checkpoints, its length, and its sends or
 * (with `receives`, after every process's sends) its receives. */
static void add_history(const model *md, expected *e, uint32_t i,
                        bool receives) {
  uint64_t *at = e->ckpt_at + (size_t)i * (CKPTS + 1), ev = 0;
  uint32_t chan_at[PEERS];
  for (uint32_t d = 0; d < PEERS; d++)
    chan_at[d] = 1;
  for (uint32_t k = 1; k < N_POS; k++) {
    const counts *from = pos_of(e, i, k - 1), *to = pos_of(e, i, k);
    if (receives) {
      ev += past(from->sent, to->sent, md->peers);
      add_receives(md, e, i, k, chan_at, &ev);
    } else {
      add_sends(md, e, i, k, &ev);
      ev += past(from->received, to->received, md->peers);
    }
    if (k < N_POS - 1)
      at[k] = ev++;
  }
  e->procs[i] = (mlogi_rl_process){.n_events = ev,
                                   .n_checkpoints = CKPTS + 1,
                                   .ckpt_at = at,
                                   .failed = md->failed[i]};
}

static int build_expected(const model *md, expected *e) {
  *e = (expected){0};
  if (lay_out(md, e) != 0)
    return -1;
  for (uint32_t i = 0; i < md->n; i++)
    add_history(md, e, i, false);
  for (uint32_t i = 0; i < md->n; i++)
    add_history(md, e, i, true);
  return 0;
}

/* The name the tool gives position k of process i in a recovery line. */
static void position_name(char *buf, size_t len, uint32_t i, uint64_t k) {
  if (k == MLOGI_RL_END)
    snprintf(buf, len, "end");
  else if (k == 0)
    snprintf(buf, len, "initial");
  else /* a fresh log numbers its checkpoints from 1 */
    snprintf(buf, len, "p%u.c%llu", i, (unsigned long long)k);
}

/* ------------------------------------------------------------------------ */
/* Running the tool                                                         */

typedef struct bench {
  bench_opts o;
  char scratch[SCRATCH_MAX];
  char mlog[PATH_MAX]; /* the tool */
  uint64_t cpu_limit;  /* --timeout */
  uint64_t only_procs, only_msgs;
} bench;

/* One row of the table. */
/* The target: this many processes and messages within this. */
#define TARGET_PROCS 1000u
#define TARGET_MSGS 10000000ull
#define TARGET_SECS 5.0

typedef struct row {
  uint32_t n;
  uint64_t m;
  double secs;      /* the tool, median over rounds */
  double rss;       /* the tool's peak RSS in bytes, the largest round's */
  double line_secs; /* mlogi_recovery_line alone, median over rounds */
  size_t n_orphans, n_lost;
  bool domino;
} row;

/* The tool's path: bin/mlog in the build tree this program is in (its
 * bench/ folder's parent). */
static int find_tool(char *buf, size_t len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "%s: /proc/self/exe: %s\n", PROG, strerror(errno));
    return -1;
  }
  exe[n] = '\0';
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(exe, '/');
    if (slash != NULL)
      *slash = '\0';
  }
  if ((size_t)snprintf(buf, len, "%s/bin/mlog", exe) >= len ||
      access(buf, X_OK) != 0) {
    fprintf(stderr, "%s: no mlog tool at %s (build it, or give --mlog PATH)\n",
            PROG, buf);
    return -1;
  }
  return 0;
}

static void free_args(char **argv) {
  for (char **a = argv; a != NULL && *a != NULL; a++)
    free(*a);
  free(argv);
}

/* mlog analyze --json --failed LIST DIR... (a NULL-terminated, allocated
 * argv; NULL when out of memory). */
static char **tool_args(const bench *bn, const model *md, const char *root) {
  const char *head[] = {bn->mlog, "analyze", "--json", "--failed",
                        md->failed_list};
  size_t n_head = sizeof head / sizeof head[0];
  char **argv = calloc(n_head + md->n + 1, sizeof *argv);
  bool ok = argv != NULL;
  for (size_t a = 0; ok && a < n_head; a++)
    ok = (argv[a] = strdup(head[a])) != NULL;
  char dir[PATH_MAX];
  for (uint32_t i = 0; ok && i < md->n; i++) {
    log_dir(dir, sizeof dir, root, i);
    ok = (argv[n_head + i] = strdup(dir)) != NULL;
  }
  if (!ok)
    free_args(argv);
  return ok ? argv : NULL;
}

/* The first line of the file at path, for an error message. */
static void first_line(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  buf[0] = '\0';
  if (f != NULL) {
    if (fgets(buf, (int)len, f) != NULL)
      buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
  }
}

static void child(const bench *bn, char **argv, const char *out,
                  const char *err) {
  int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
    _exit(127);
  /* SIGXCPU at the limit, SIGKILL a little later if it goes on */
  struct rlimit rl = {bn->cpu_limit, bn->cpu_limit + 5};
  setrlimit(RLIMIT_CPU, &rl);
  execv(argv[0], argv);
  dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Run the tool with argv (its output to out, its errors to err): its wall
 * time into *secs and its peak RSS (bytes) into *rss. */
static int run_tool(const bench *bn, char **argv, const char *out,
                    const char *err, double *secs, double *rss) {
  double t0 = bench_now();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
    return -1;
  }
  if (pid == 0)
    child(bn, argv, out, err);
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "%s: wait4: %s\n", PROG, strerror(errno));
      return -1;
    }
    if (bench_interrupted) /* then wait for it */
      kill(pid, SIGKILL);
  }
  *secs = bench_now() - t0;
  *rss = (double)ru.ru_maxrss * 1024.0;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return 0;
  char line[512];
  first_line(err, line, sizeof line);
  if (WIFEXITED(st))
    fprintf(stderr, "%s: mlog analyze exited with status %d: %s\n", PROG,
            WEXITSTATUS(st), line);
  else
    fprintf(stderr, "%s: mlog analyze killed by signal %d%s\n", PROG,
            WTERMSIG(st),
            WTERMSIG(st) == SIGXCPU ? " (CPU time over --timeout)" : "");
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Checking the tool's answer                                               */

static int mismatch(const char *what, const char *out) {
  fprintf(stderr, "%s: mlog analyze's output (%s): %s\n", PROG, out, what);
  return -1;
}

static int check_positions(const model *md, const mlogi_rl_result *res,
                           json_t *line, json_t *past, const char *out) {
  if (json_object_size(line) != md->n || json_object_size(past) != md->n)
    return mismatch("not one entry per process", out);
  for (uint32_t i = 0; i < md->n; i++) {
    char name[32], want[48];
    snprintf(name, sizeof name, "p%u", i);
    position_name(want, sizeof want, i, res->line[i]);
    const char *got = json_string_value(json_object_get(line, name));
    json_t *n_past = json_object_get(past, name);
    if (got == NULL || strcmp(got, want) != 0 || !json_is_integer(n_past) ||
        (uint64_t)json_integer_value(n_past) != res->rolled_back_past[i]) {
      fprintf(stderr, "%s: %s: %s at %s, want %s\n", PROG, out, name,
              got != NULL ? got : "(none)", want);
      return -1;
    }
  }
  return 0;
}

/* Compare the tool's JSON in the file `out` with the line computed here. */
static int check_output(const model *md, const mlogi_rl_result *res,
                        const char *out) {
  json_error_t jerr;
  json_t *root = json_load_file(out, 0, &jerr);
  if (root == NULL)
    return mismatch(jerr.text, out);
  json_t *orphans = json_object_get(root, "orphan_messages");
  json_t *lost = json_object_get(root, "lost_messages");
  int rc = check_positions(md, res, json_object_get(root, "recovery_line"),
                           json_object_get(root, "rolled_back_past"), out);
  if (rc == 0 && !json_is_boolean(json_object_get(root, "domino")))
    rc = mismatch("no domino flag", out);
  else if (rc == 0 &&
           json_is_true(json_object_get(root, "domino")) != res->domino)
    rc = mismatch("another domino flag", out);
  else if (rc == 0 && (!json_is_array(orphans) ||
                       json_array_size(orphans) != res->n_orphans))
    rc = mismatch("another number of orphan messages", out);
  else if (rc == 0 &&
           (!json_is_array(lost) || json_array_size(lost) != res->n_lost))
    rc = mismatch("another number of lost messages", out);
  json_decref(root);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* One row                                                                  */

/* The line computed here from the model, timed over the rounds (median
 * into rw); the last round's result stays in *res. */
static int line_here(const bench *bn, const model *md, row *rw,
                     mlogi_rl_result *res) {
  expected e;
  double t[BENCH_MAX_ROUNDS];
  int rc = build_expected(md, &e) == 0 ? MLOG_OK : MLOG_ENOMEM;
  mlogi_errbuf eb = {{0}};
  for (unsigned r = 0; rc == MLOG_OK && r < bn->o.b.rounds; r++) {
    mlogi_rl_result_free(res);
    double t0 = bench_now();
    rc = mlogi_recovery_line(e.procs, md->n, e.msgs, e.n_msgs, res, &eb);
    t[r] = bench_now() - t0;
  }
  expected_free(&e);
  if (rc != MLOG_OK) {
    fprintf(stderr, "%s: the recovery line of the model: %s\n", PROG,
            rc == MLOG_ENOMEM ? "out of memory" : eb.msg);
    return -1;
  }
  rw->line_secs = bench_median(t, bn->o.b.rounds);
  rw->n_orphans = res->n_orphans;
  rw->n_lost = res->n_lost;
  rw->domino = res->domino;
  return 0;
}

/* The tool on the logs under root, over the rounds, each answer checked. */
static int line_by_tool(const bench *bn, const model *md, const char *root,
                        const mlogi_rl_result *res, row *rw) {
  char out[SCRATCH_MAX + 16], err[SCRATCH_MAX + 16];
  snprintf(out, sizeof out, "%s/analyze.json", bn->scratch);
  snprintf(err, sizeof err, "%s/analyze.err", bn->scratch);
  char **argv = tool_args(bn, md, root);
  if (argv == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return -1;
  }
  double t[BENCH_MAX_ROUNDS];
  int rc = 0;
  for (unsigned r = 0; rc == 0 && r < bn->o.b.rounds; r++) {
    double rss;
    rc = run_tool(bn, argv, out, err, &t[r], &rss);
    if (rc == 0)
      rc = check_output(md, res, out);
    if (rc == 0 && rss > rw->rss)
      rw->rss = rss;
    if (rc == 0 && bn->o.verbose)
      fprintf(stderr, "%s: %u procs, %llu msgs: %.3f s, %.1f MiB\n", PROG,
              md->n, (unsigned long long)md->m, t[r], rss / 1048576.0);
  }
  free_args(argv);
  if (rc == 0)
    rw->secs = bench_median(t, bn->o.b.rounds);
  return rc;
}

static int run_row(const bench *bn, uint32_t n, uint64_t m, row *rw) {
  *rw = (row){.n = n, .m = m};
  char root[SCRATCH_MAX + 16], what[64];
  snprintf(root, sizeof root, "%s/logs", bn->scratch);
  snprintf(what, sizeof what, "%s: %u processes, %llu messages", PROG, n,
           (unsigned long long)m);
  model md;
  mlogi_rl_result res = {0};
  double t0 = bench_now();
  int rc = model_init(&md, n, m);
  if (rc != 0)
    fprintf(stderr, "%s: out of memory\n", what);
  if (rc == 0)
    rc = write_logs(&md, root);
  if (rc == 0)
    rc = line_here(bn, &md, rw, &res);
  if (rc == 0)
    fprintf(stderr, "%s: logs and model in %.1f s, line only %.3f s\n", what,
            bench_now() - t0, rw->line_secs);
  if (rc == 0)
    rc = line_by_tool(bn, &md, root, &res, rw);
  if (rc == 0)
    fprintf(stderr, "%s: analyze %.3f s\n", what, rw->secs);
  mlogi_rl_result_free(&res);
  model_free(&md);
  if (bench_remove_tree(root) != 0 && errno != ENOENT)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, root, strerror(errno));
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

static void print_table(const row *rows, size_t n_rows) {
  printf("\n%6s %9s %9s %12s %9s %10s %8s %6s %6s\n", "procs", "messages",
         "seconds", "msgs/s", "peak MiB", "line only", "orphans", "lost",
         "domino");
  for (size_t r = 0; r < n_rows; r++) {
    const row *rw = &rows[r];
    printf("%6u %9llu %9.3f %12.0f %9.1f %10.4f %8zu %6zu %6s\n", rw->n,
           (unsigned long long)rw->m, rw->secs, bench_per(rw->m, 1) / rw->secs,
           rw->rss / 1048576.0, rw->line_secs, rw->n_orphans, rw->n_lost,
           rw->domino ? "yes" : "no");
  }
  printf("\nseconds: mlog analyze --json --failed ... DIR... from fork to "
         "exit (median of the\nrounds); msgs/s: messages over it; peak MiB: "
         "its ru_maxrss; line only: the\nrecovery line computed in this "
         "process from the same model (median).\n");
  for (size_t r = 0; r < n_rows; r++)
    if (rows[r].n == TARGET_PROCS && rows[r].m == TARGET_MSGS)
      printf("\nTarget: analysis of %u processes x %llu messages <= %.0f s: "
             "%.2f s, %s\n",
             TARGET_PROCS, (unsigned long long)TARGET_MSGS, TARGET_SECS,
             rows[r].secs, rows[r].secs <= TARGET_SECS ? "met" : "MISSED");
}

static json_t *params(const row *rw) {
  return json_pack("{s:i, s:I}", "procs", (int)rw->n, "messages",
                   (json_int_t)rw->m);
}

static int write_json(const char *path, const row *rows, size_t n_rows) {
  json_t *arr = json_array();
  int rc = arr != NULL ? 0 : -1;
  for (size_t r = 0; rc == 0 && r < n_rows; r++) {
    const row *rw = &rows[r];
    rc |= bench_json_add(arr, "analyze", params(rw), "seconds", rw->secs, "s",
                         NULL, 0, 0);
    rc |= bench_json_add(arr, "analyze", params(rw), "msgs_per_sec",
                         (double)rw->m / rw->secs, "msgs/s", NULL, 0, 0);
    rc |= bench_json_add(arr, "analyze", params(rw), "peak_rss", rw->rss,
                         "bytes", NULL, 0, 0);
    rc |= bench_json_add(arr, "analyze", params(rw), "line_only_seconds",
                         rw->line_secs, "s", NULL, 0, 0);
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
  fprintf(f,
          "usage: bench_analyze [--quick | --full] [--dir DIR] [--json FILE]\n"
          "                     [--rounds N] [--procs N] [--messages N]\n"
          "                     [--mlog PATH] [--timeout S] [--verbose]\n"
          "  mlog analyze on the logs of groups of 10, 100, 1000 processes\n"
          "  that exchanged 10^4 .. 10^7 messages (written from a model):\n"
          "  seconds, messages/s and peak RSS of the tool, and the recovery\n"
          "  line alone in this process.\n"
          "  --quick       CI smoke run: up to 100 processes, 10^5 messages\n"
          "  --full        every size, up to 1000 processes, 10^7 messages\n"
          "  --dir DIR     parent of the scratch directory (default: beside\n"
          "                this program, else /var/tmp)\n"
          "  --json FILE   also write the results as a JSON array\n"
          "  --rounds N    runs per size (the median is reported; default 3)\n"
          "  --procs N     only groups of N processes (2..%d)\n"
          "  --messages N  only N messages (1..%d)\n"
          "  --mlog PATH   the tool to measure (default: bin/mlog of this\n"
          "                build)\n"
          "  --timeout S   CPU seconds a run of the tool may take (default "
          "%d)\n"
          "  --verbose     print every run on stderr\n",
          MAX_PROCS, MAX_MSGS, DEFAULT_CPU);
}

/* Options of this benchmark: 1 consumed, 0 not one, -1 bad (printed). */
static int parse_own(bench *bn, int argc, char **argv, int *i) {
  const char *a = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (val == NULL)
    return 0;
  int rc = 1;
  if (strcmp(a, "--procs") == 0)
    rc = bench_parse_count(val, 2, MAX_PROCS, &bn->only_procs) == 0 ? 1 : -1;
  else if (strcmp(a, "--messages") == 0)
    rc = bench_parse_count(val, 1, MAX_MSGS, &bn->only_msgs) == 0 ? 1 : -1;
  else if (strcmp(a, "--timeout") == 0)
    rc = bench_parse_count(val, 1, 86400, &bn->cpu_limit) == 0 ? 1 : -1;
  else if (strcmp(a, "--mlog") == 0)
    rc = snprintf(bn->mlog, sizeof bn->mlog, "%s", val) < (int)sizeof bn->mlog
             ? 1
             : -1;
  else
    return 0;
  if (rc < 0)
    fprintf(stderr, "%s: bad %s '%s' (see --help)\n", PROG, a, val);
  (*i)++;
  return rc;
}

static int parse_args(bench *bn, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int rc = bench_parse_option(&bn->o, &quick_budget, &full_budget, argc, argv,
                                &i, PROG);
    if (rc == 0)
      rc = parse_own(bn, argc, argv, &i);
    if (rc < 0)
      return 2;
    if (rc > 0)
      continue;
    bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  bench_opts_finish(&bn->o);
  if (bn->mlog[0] == '\0' && find_tool(bn->mlog, sizeof bn->mlog) != 0)
    return 1;
  return -1;
}

/* Whether the size (n, m) is measured in this mode. */
static bool wanted(const bench *bn, uint32_t n, uint64_t m) {
  if (bn->only_procs > 0 || bn->only_msgs > 0)
    return (bn->only_procs == 0 || n == bn->only_procs) &&
           (bn->only_msgs == 0 || m == bn->only_msgs);
  return strcmp(bn->o.b.mode, "quick") != 0 ||
         (n <= QUICK_MAX_PROCS && m <= QUICK_MAX_MSGS);
}

int main(int argc, char **argv) {
  static bench bn = {.o = {.b = default_budget}, .cpu_limit = DEFAULT_CPU};
  int status = parse_args(&bn, argc, argv);
  if (status >= 0)
    return status;
  printf("%s: mlog analyze (%s) on group logs, mode %s (%u rounds); %d "
         "checkpoints per process, %d peers each, 1%% failed\n",
         PROG, bn.mlog, bn.o.b.mode, bn.o.b.rounds, CKPTS, PEERS);
  bench_fs fi;
  if (bench_scratch_create(PROG, bn.o.dir, bn.scratch, sizeof bn.scratch,
                           &fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();
  uint32_t sizes_n[N_PROCS + 1];
  uint64_t sizes_m[N_MSGS + 1];
  memcpy(sizes_n, procs_list, sizeof procs_list);
  memcpy(sizes_m, msgs_list, sizeof msgs_list);
  size_t nn = N_PROCS, nm = N_MSGS;
  if (bn.only_procs > 0)
    sizes_n[0] = (uint32_t)bn.only_procs, nn = 1;
  if (bn.only_msgs > 0)
    sizes_m[0] = bn.only_msgs, nm = 1;
  row rows[(N_PROCS + 1) * (N_MSGS + 1)];
  size_t n_rows = 0;
  status = 0;
  for (size_t a = 0; status == 0 && a < nn; a++)
    for (size_t b = 0; status == 0 && b < nm; b++)
      if (wanted(&bn, sizes_n[a], sizes_m[b]))
        status =
            run_row(&bn, sizes_n[a], sizes_m[b], &rows[n_rows++]) == 0 ? 0 : 1;
  if (status == 0) {
    print_table(rows, n_rows);
    fflush(stdout);
  }
  if (status == 0 && bn.o.json != NULL &&
      write_json(bn.o.json, rows, n_rows) != 0)
    status = 1;
  if (bench_interrupted)
    fprintf(stderr, "\n%s: interrupted\n", PROG);
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, bn.scratch,
            strerror(errno));
  return bench_interrupted ? 130 : status;
}
