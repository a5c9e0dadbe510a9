/* bench_recovery.c - recovery: replay rate, time against log length, steady
 * state under checkpoints, restore time against state size */

/*
 * Opening a process whose directory holds a log is recovery (DESIGN.md §5).
 * Every recovery timed here is mlog_proc_open of process 1 of a group of 2
 * under pessimistic-receiver, on the sim transport with process 0 absent (its
 * frames are dropped), with a handler that counts and folds the last byte of
 * each message (the state bench_fold_snapshot keeps). The time runs from the
 * call to its return: the LMDB environment, the newest valid checkpoint
 * (verified and restored), every later record read, verified (BLAKE2b chain)
 * and replayed, and the new incarnation's durable commit. Each recovery is
 * checked: the restored count must be the number of deliveries logged.
 * Logs are read from the page cache (they were just written) unless --cold
 * evicts the log file's pages before each timed recovery of parts 1 and 2.
 *
 * 1. replay: a log of L deliveries of 64 B (L = 10^6; quick 10^5) written
 *    with the log API in large commits without flushes (as `mlog gen` does),
 *    laid out as the runtime lays it out: each commit is a MARK naming the
 *    previous commit's last delivery, then 256 deliveries (docs/format.md).
 *    Contenders on the same log, interleaved round by round (the order
 *    rotates each round):
 *      recover   mlog_proc_open: read, verify and replay everything
 *      scan      mlog_log_open read-only + mlog_log_scan with a callback
 *                that does nothing: the library's read and verify walk,
 *                which replay runs, without the replay
 *      check     a raw LMDB cursor over the `log` database and
 *                mlog_record_check of each record over the previous
 *                record's stored tag: verification alone
 *      check_2t  the same in two halves on two threads, the second half
 *                chaining from the tag stored before it: verification is
 *                parallel because a check needs only the stored tag
 *      decode    a raw LMDB cursor and mlog_record_decode: no tag
 *      cursor    the bare LMDB cursor walk, touching each value
 *    Each includes opening and closing its environment. Rates are log
 *    records (deliveries and MARKs) per second.
 * 2. length: recovery time of such logs from 10^4 to 10^7 deliveries (quick:
 *    up to 10^5), a fresh log per length, removed after it; medians over
 *    rounds (3 rounds from 3*10^6 on, 1 at 10^7). Linearity: least-squares
 *    fits time = a + b * records (wall clock and CPU time) with their R^2,
 *    and the marginal CPU cost per record between consecutive lengths; the
 *    verdict is on CPU time, which the other load of a shared machine moves
 *    far less than the wall clock.
 * 3. steady: two processes on the sim (process 0 sends 64 B messages to
 *    process 1 on credits: one credit per 256 deliveries, 1,024 in flight)
 *    run for N deliveries with a checkpoint every K = 2,000 deliveries at
 *    both (ckpt_keep 2), then close; the same with checkpoints off is the
 *    baseline. Driving runs with MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE (only
 *    what the log holds matters here, not its flushes); the timed reopens
 *    are durable. A pessimistic logger's close writes nothing (the log is
 *    what a SIGKILL after the last poll leaves: everything delivered is
 *    logged). Measured: the reopen time, what it replayed, and the records
 *    the log holds (mlog_log_get_info).
 * 4. restore: a process whose application state is S bytes (1 KiB .. 64 MiB
 *    less 64 KiB, the most a checkpoint record can hold with the runtime's
 *    state; quick up to 1 MiB) takes a checkpoint with no delivery logged and
 *    closes; the reopen restores it (read, verify its tag, copy into the
 *    application). MiB/s is S over the reopen time.
 *
 * Nothing here asserts on wall-clock time: the targets are printed as met or
 * missed on this run's medians.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_fadvise */
#endif

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mlog/mlog.h>
#include <mlog/process.h>
#include <mlog/sim.h>
#include <mlog/transport.h>

#include "bench/benchlib.h"

#define PROG "bench_recovery"
#define SENDER 0u
#define RECEIVER 1u /* the process recovered */
#define GROUP 2u
#define PROTOCOL "pessimistic-receiver"
#define PAYLOAD 64u
#define MARK_FLAGS 1u          /* docs/format.md: a MARK is type 5, flags 1 */
#define COMMIT_DELIVERIES 256u /* synthetic log: deliveries per commit */
#define GEN_COMMITS 256u       /* synthetic commits per log append */
#define SIM_SEED 20261122u
#define REPLAY_TARGET 3e6 /* records/s, verification included */
#define CREDIT 256u       /* steady: deliveries per credit */
#define WINDOW 1024u      /* steady: the first credit */
#define CKPT_EVERY 2000u  /* steady: deliveries per checkpoint */
#define RETRANSMIT_MS 60000u
#define MAX_STALLS 1000 /* steady: driver loops without progress */
#define STATE_MAX (((size_t)64 << 20) - ((size_t)64 << 10))
#define MIB (1024.0 * 1024.0)

static const bench_budget quick_budget = {"quick", 3, 0, 0, 0};
static const bench_budget default_budget = {"default", 3, 0, 0, 0};
static const bench_budget full_budget = {"full", 5, 0, 0, 0};

typedef enum part { P_REPLAY, P_LENGTH, P_STEADY, P_RESTORE, P_COUNT } part;

static const char *const part_names[P_COUNT] = {
    [P_REPLAY] = "replay",
    [P_LENGTH] = "length",
    [P_STEADY] = "steady",
    [P_RESTORE] = "restore",
};

typedef enum walker {
  W_RECOVER,
  W_SCAN,
  W_CHECK,
  W_CHECK_2T,
  W_DECODE,
  W_CURSOR,
  W_COUNT
} walker;

static const char *const walker_names[W_COUNT] = {
    [W_RECOVER] = "recover",   [W_SCAN] = "scan",     [W_CHECK] = "check",
    [W_CHECK_2T] = "check_2t", [W_DECODE] = "decode", [W_CURSOR] = "cursor",
};

static const char *const walker_what[W_COUNT] = {
    [W_RECOVER] = "mlog_proc_open: read, verify, replay",
    [W_SCAN] = "mlog_log_scan: read + verify",
    [W_CHECK] = "LMDB cursor + mlog_record_check",
    [W_CHECK_2T] = "the same, two threads",
    [W_DECODE] = "LMDB cursor + mlog_record_decode",
    [W_CURSOR] = "bare LMDB cursor walk",
};

/* Log lengths (deliveries) of parts 1 and 2, steady-state run lengths of
 * part 3 and state sizes of part 4. */
static const uint64_t replay_quick = 100000, replay_full = 1000000;
static const uint64_t lengths_quick[] = {10000, 30000, 100000};
static const uint64_t lengths_full[] = {10000,   30000,   100000,  300000,
                                        1000000, 3000000, 10000000};
static const uint64_t steady_quick[] = {10000, 30000, 100000};
static const uint64_t steady_full[] = {10000, 100000, 1000000};
static const size_t states_quick[] = {1024, 64 << 10, 1 << 20};
static const size_t states_full[] = {1024,    16 << 10, 256 << 10, 1 << 20,
                                     4 << 20, 16 << 20, STATE_MAX};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct bench {
  bench_opts o;
  bool parts[P_COUNT];
  bool walkers[W_COUNT]; /* part 1's contenders (--only) */
  bool cold;             /* evict the log's pages before each timed recovery */
  bool full;
  char scratch[PATH_MAX];
  bench_fs fi;
  json_t *results;
  uint8_t payload[PAYLOAD];
  char err[1024];
} bench;

static int fail(bench *bn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(bench *bn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(bn->err, sizeof bn->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* A timed stretch: wall-clock seconds, and the CPU seconds this process
 * spent in them (every thread), which moves less than the wall clock when
 * other work shares the machine. */
typedef struct span {
  double wall, cpu;
} span;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void span_begin(span *t) {
  t->wall = bench_now();
  t->cpu = cpu_now();
}

static void span_end(span *t) {
  t->cpu = cpu_now() - t->cpu;
  t->wall = bench_now() - t->wall;
}

/* ------------------------------------------------------------------------ */
/* The application                                                          */

struct flow;

/* One process's state: the fold of bench_fold_snapshot, and in part 4 an
 * opaque state of state_len bytes that snapshots carry after it. */
typedef struct node {
  bench_fold st; /* first: the state, bench_fold_snapshot/restore's */
  uint32_t id;
  uint8_t *state;
  size_t state_len, state_cap;
  struct flow *fl; /* part 3: the credits; NULL: a plain handler */
} node;

/* Part 3's driving state. */
typedef struct flow {
  const uint8_t *payload;
  uint64_t target; /* messages the sender sends in all */
  uint64_t sent;
} flow;

static int node_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                        size_t len) {
  node *nd = arg;
  (void)src;
  bench_fold_add(&nd->st, msg, len);
  flow *fl = nd->fl;
  if (fl == NULL)
    return 0;
  if (nd->id == RECEIVER) { /* a credit per CREDIT deliveries */
    if (nd->st.count % CREDIT != 0)
      return 0;
    uint8_t c[8];
    bench_put_le64(c, CREDIT);
    return mlog_send(p, SENDER, c, sizeof c);
  }
  if (len != 8)
    return -1;
  for (uint64_t i = bench_get_le64(msg); i > 0 && fl->sent < fl->target; i--) {
    int rc = mlog_send(p, RECEIVER, fl->payload, PAYLOAD);
    if (rc != MLOG_OK)
      return rc;
    fl->sent++;
  }
  return 0;
}

static int node_snapshot(void *arg, mlog_buf *out) {
  node *nd = arg;
  int rc = bench_fold_snapshot(&nd->st, out);
  if (rc == MLOG_OK && nd->state_len > 0)
    rc = mlog_buf_append(out, nd->state, nd->state_len);
  return rc;
}

/* Restore the fold and copy the rest into the node's own buffer. */
static int node_restore(void *arg, const void *state, size_t len) {
  node *nd = arg;
  if (state == NULL || len < 9)
    return bench_fold_restore(&nd->st, state, len);
  if (bench_fold_restore(&nd->st, state, 9) != 0)
    return -1;
  size_t rest = len - 9;
  if (rest > nd->state_cap) {
    uint8_t *s = realloc(nd->state, rest);
    if (s == NULL)
      return -1;
    nd->state = s;
    nd->state_cap = rest;
  }
  if (rest > 0)
    memcpy(nd->state, (const uint8_t *)state + 9, rest);
  nd->state_len = rest;
  return 0;
}

static const mlog_app node_app = {
    .deliver = node_deliver,
    .snapshot = node_snapshot,
    .restore = node_restore,
};

static void node_free(node *nd) {
  free(nd->state);
  nd->state = NULL;
  nd->state_len = nd->state_cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Directories and logs                                                     */

/* dir/name into out[0..len); false when it does not fit. */
static bool path_join(char *out, size_t len, const char *dir,
                      const char *name) {
  int n = snprintf(out, len, "%s/%s", dir, name);
  return n >= 0 && (size_t)n < len;
}

/* dir/pID: the directory of process id in a pair. */
static bool proc_dir(char *out, size_t len, const char *dir, uint32_t id) {
  int n = snprintf(out, len, "%s/p%u", dir, id);
  return n >= 0 && (size_t)n < len;
}

static uint64_t file_bytes(const char *dirpath) {
  char path[PATH_MAX + 16];
  struct stat sb;
  if (!path_join(path, sizeof path, dirpath, "data.mdb"))
    return 0;
  return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Flush the log file of dirpath (written without flushes: a log that a
 * crash leaves behind is durable, and the first durable commit of the
 * recovery must not pay for flushing it), and with `evict` drop its pages
 * from the page cache so that the next read comes from the disk. */
static int flush_log(bench *bn, const char *dirpath, bool evict) {
  char path[PATH_MAX + 16];
  if (!path_join(path, sizeof path, dirpath, "data.mdb"))
    return fail(bn, "%s: path too long", dirpath);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(bn, "%s: %s", path, strerror(errno));
  int rc = fdatasync(fd) != 0 ? errno : 0;
  if (rc == 0 && evict)
    rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  return rc ? fail(bn, "%s %s: %s", evict ? "evicting" : "flushing", path,
                   strerror(rc))
            : 0;
}

/* Records a synthetic log of `deliveries` holds: the deliveries and a MARK
 * at the head of every commit but the first. */
static uint64_t synthetic_records(uint64_t deliveries) {
  uint64_t commits = (deliveries + COMMIT_DELIVERIES - 1) / COMMIT_DELIVERIES;
  return deliveries + (commits ? commits - 1 : 0);
}

/* Write the log of process RECEIVER with `deliveries` deliveries of 64 B
 * from SENDER into a new directory, laid out as the runtime lays it out
 * (see the top of the file), in appends of GEN_COMMITS commits without
 * flushes. */
static int gen_log(bench *bn, const char *dirpath, uint64_t deliveries) {
  if (mkdir(dirpath, 0750) != 0)
    return fail(bn, "mkdir %s: %s", dirpath, strerror(errno));
  size_t per = (size_t)GEN_COMMITS * (COMMIT_DELIVERIES + 1);
  mlog_record *recs = malloc(per * sizeof *recs);
  if (recs == NULL)
    return fail(bn, "out of memory for %zu records", per);
  /* Enough map for the whole log (virtual: the file grows as written). */
  mlog_log_config cfg = {.process_id = RECEIVER,
                         .group_size = GROUP,
                         .protocol = PROTOCOL,
                         .map_size = (size_t)(deliveries * 256 + (64 << 20))};
  mlog_log *log;
  int rc =
      mlog_log_open(dirpath, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg, &log);
  if (rc != MLOG_OK) {
    free(recs);
    return fail(bn, "mlog_log_open %s: %s (%s)", dirpath, mlog_errname(rc),
                mlog_log_errmsg(NULL));
  }
  uint64_t rsn = 0;
  while (rc == MLOG_OK && rsn < deliveries) {
    size_t n = 0;
    for (unsigned c = 0; c < GEN_COMMITS && rsn < deliveries; c++) {
      if (rsn > 0)
        recs[n++] = (mlog_record){.type = MLOG_REC_CONTROL,
                                  .flags = MARK_FLAGS,
                                  .src = RECEIVER,
                                  .dst = RECEIVER,
                                  .rsn = rsn};
      for (unsigned j = 0; j < COMMIT_DELIVERIES && rsn < deliveries; j++) {
        rsn++;
        recs[n++] = (mlog_record){.type = MLOG_REC_DELIVERY,
                                  .src = SENDER,
                                  .dst = RECEIVER,
                                  .ssn = rsn,
                                  .rsn = rsn,
                                  .payload = bn->payload,
                                  .payload_len = PAYLOAD};
      }
    }
    rc = mlog_log_append(log, recs, n);
  }
  if (rc != MLOG_OK)
    fail(bn, "writing %s: %s (%s)", dirpath, mlog_errname(rc),
         mlog_log_errmsg(log));
  mlog_log_close(log);
  free(recs);
  return rc == MLOG_OK ? flush_log(bn, dirpath, false) : -1;
}

/* ------------------------------------------------------------------------ */
/* Recovery                                                                 */

/* Open process RECEIVER of dirpath alone (recover), timed into *t, and
 * check that its state counts `expect` deliveries; *st gets its stats. The
 * node keeps what the restore gave it (part 4 compares it). */
static int recover_once(bench *bn, const char *dirpath, uint64_t expect,
                        node *nd, span *t, mlog_proc_stats *st) {
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = GROUP, .min_delay_ms = 1, .max_delay_ms = 1};
  mlog_sim *sim;
  int rc = mlog_sim_create(&so, &sim);
  if (rc != MLOG_OK)
    return fail(bn, "mlog_sim_create: %s", mlog_strerror(rc));
  mlog_proc_config cfg = {.dirpath = dirpath,
                          .id = RECEIVER,
                          .group_size = GROUP,
                          .protocol = PROTOCOL,
                          .transport = &mlog_sim_ops,
                          .transport_config = sim,
                          .retransmit_ms = RETRANSMIT_MS};
  nd->id = RECEIVER;
  nd->st = (bench_fold){0};
  nd->fl = NULL;
  mlog_proc *p;
  span_begin(t);
  rc = mlog_proc_open(&cfg, &node_app, nd, &p);
  span_end(t);
  if (rc != MLOG_OK) {
    fail(bn, "recovering %s: %s (%s)", dirpath, mlog_errname(rc),
         mlog_proc_errmsg(NULL));
    mlog_sim_destroy(sim);
    return -1;
  }
  mlog_proc_get_stats(p, st);
  mlog_proc_close(p);
  mlog_sim_destroy(sim);
  if (!st->recovered || nd->st.count != expect)
    return fail(bn,
                "recovering %s: the state counts %llu deliveries (%llu "
                "replayed), the log %llu",
                dirpath, (unsigned long long)nd->st.count,
                (unsigned long long)st->replayed, (unsigned long long)expect);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Raw LMDB walks over the `log` database (docs/format.md)                  */

typedef struct lmdb_log {
  MDB_env *env;
  MDB_dbi dbi;
} lmdb_log;

static int lmdb_fail(bench *bn, const char *dirpath, const char *what, int rc) {
  return fail(bn, "%s: LMDB %s: %s", dirpath, what, mdb_strerror(rc));
}

static int lmdb_log_open(bench *bn, const char *dirpath, lmdb_log *l) {
  MDB_txn *txn;
  *l = (lmdb_log){0};
  int rc = mdb_env_create(&l->env);
  if (rc != 0)
    return lmdb_fail(bn, dirpath, "create", rc);
  rc = mdb_env_set_maxdbs(l->env, 8);
  if (rc == 0)
    rc = mdb_env_open(l->env, dirpath, MDB_RDONLY | MDB_NOTLS, 0640);
  if (rc == 0)
    rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, "log", 0, &l->dbi);
    /* a read transaction's commit makes the handle the environment's */
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (rc != 0) {
    mdb_env_close(l->env);
    l->env = NULL;
    return lmdb_fail(bn, dirpath, "open", rc);
  }
  return 0;
}

/* What a walk does with each record. */
typedef enum walk_kind { WALK_CURSOR, WALK_DECODE, WALK_CHECK } walk_kind;

/* One walk over lsn lo..hi (hi 0: to the end). */
typedef struct walk_job {
  const lmdb_log *l;
  walk_kind kind;
  uint64_t lo, hi;
  uint64_t n;   /* records walked */
  uint64_t sum; /* what the walk read, so that it is not optimized away */
  char err[256];
} walk_job;

/* Walk the records of job->l from job->lo: count them, and decode or check
 * each as job->kind says, chaining from the tag stored before lo (the
 * genesis tag at lsn 1). Returns 0, or -1 with job->err. */
static int walk_range(walk_job *job) {
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  int rc = mdb_txn_begin(job->l->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0) {
    snprintf(job->err, sizeof job->err, "LMDB begin: %s", mdb_strerror(rc));
    return -1;
  }
  uint8_t prev[MLOG_TAG_BYTES], kb[8];
  uint64_t expect = job->lo;
  int status = 0;
  if (job->lo <= 1) {
    mlog_chain_genesis(RECEIVER, NULL, prev);
  } else {
    for (int i = 0; i < 8; i++) /* big-endian lsn */
      kb[i] = (uint8_t)((job->lo - 1) >> (56 - 8 * i));
    MDB_val k = {sizeof kb, kb}, v;
    rc = mdb_get(txn, job->l->dbi, &k, &v);
    if (rc != 0 || v.mv_size < MLOG_TAG_BYTES) {
      snprintf(job->err, sizeof job->err, "LMDB get lsn %llu: %s",
               (unsigned long long)(job->lo - 1),
               rc ? mdb_strerror(rc) : "too short");
      status = -1;
    } else {
      memcpy(prev, (const uint8_t *)v.mv_data + v.mv_size - MLOG_TAG_BYTES,
             MLOG_TAG_BYTES);
    }
  }
  if (status == 0)
    rc = mdb_cursor_open(txn, job->l->dbi, &cur);
  MDB_val k, v;
  for (int i = 0; i < 8; i++)
    kb[i] = (uint8_t)(job->lo >> (56 - 8 * i));
  k = (MDB_val){sizeof kb, kb};
  if (status == 0 && rc == 0)
    rc = mdb_cursor_get(cur, &k, &v, job->lo > 1 ? MDB_SET_RANGE : MDB_FIRST);
  while (status == 0 && rc == 0) {
    const uint8_t *key = k.mv_data;
    uint64_t lsn = 0;
    for (size_t i = 0; i < 8 && k.mv_size == 8; i++)
      lsn = lsn << 8 | key[i];
    if (job->hi && lsn > job->hi)
      break;
    if (lsn != expect) {
      snprintf(job->err, sizeof job->err, "key %llu where lsn %llu belongs",
               (unsigned long long)lsn, (unsigned long long)expect);
      status = -1;
      break;
    }
    const uint8_t *val = v.mv_data;
    if (job->kind == WALK_CURSOR) {
      job->sum += val[v.mv_size - 1];
    } else if (job->kind == WALK_DECODE) {
      mlog_record rec;
      int drc = mlog_record_decode(val, v.mv_size, &rec);
      if (drc != MLOG_OK) {
        snprintf(job->err, sizeof job->err, "lsn %llu: %s",
                 (unsigned long long)lsn, mlog_strerror(drc));
        status = -1;
        break;
      }
      job->sum += rec.rsn + rec.payload_len;
    } else {
      int crc = mlog_record_check(val, v.mv_size, prev, NULL);
      if (crc != MLOG_OK) {
        snprintf(job->err, sizeof job->err, "lsn %llu: %s",
                 (unsigned long long)lsn, mlog_strerror(crc));
        status = -1;
        break;
      }
      memcpy(prev, val + v.mv_size - MLOG_TAG_BYTES, MLOG_TAG_BYTES);
      job->sum += prev[0];
    }
    expect++;
    job->n++;
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (status == 0 && rc != 0 && rc != MDB_NOTFOUND) {
    snprintf(job->err, sizeof job->err, "LMDB cursor: %s", mdb_strerror(rc));
    status = -1;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return status;
}

static void *walk_thread(void *arg) {
  walk_job *job = arg;
  return walk_range(job) == 0 ? NULL : job;
}

/* A raw walk of the whole log (two threads with W_CHECK_2T), timed from
 * opening the environment to closing it; checks that it saw `records`. */
static int raw_walk(bench *bn, const char *dirpath, walker w, uint64_t records,
                    span *t) {
  span_begin(t);
  lmdb_log l;
  if (lmdb_log_open(bn, dirpath, &l) != 0)
    return -1;
  walk_kind kind = w == W_CURSOR   ? WALK_CURSOR
                   : w == W_DECODE ? WALK_DECODE
                                   : WALK_CHECK;
  walk_job jobs[2] = {{.l = &l, .kind = kind, .lo = 1},
                      {.l = &l, .kind = kind}};
  int status = 0;
  if (w == W_CHECK_2T) {
    uint64_t half = records / 2;
    jobs[0].hi = half;
    jobs[1].lo = half + 1;
    pthread_t th;
    int trc = pthread_create(&th, NULL, walk_thread, &jobs[1]);
    if (trc != 0) {
      mdb_env_close(l.env);
      return fail(bn, "pthread_create: %s", strerror(trc));
    }
    status = walk_range(&jobs[0]);
    void *res;
    pthread_join(th, &res);
    if (res != NULL && status == 0) {
      memcpy(jobs[0].err, jobs[1].err, sizeof jobs[0].err);
      status = -1;
    }
  } else {
    status = walk_range(&jobs[0]);
  }
  mdb_env_close(l.env);
  span_end(t);
  if (status != 0)
    return fail(bn, "%s walk of %s: %s", walker_names[w], dirpath, jobs[0].err);
  if (jobs[0].n + jobs[1].n != records)
    return fail(bn, "%s walk of %s: %llu records, expected %llu",
                walker_names[w], dirpath,
                (unsigned long long)(jobs[0].n + jobs[1].n),
                (unsigned long long)records);
  return 0;
}

/* mlog_log_scan's callback: count. */
static int count_record(void *arg, const mlog_record *rec) {
  (void)rec;
  (*(uint64_t *)arg)++;
  return 0;
}

/* The library's read + verify walk alone, timed from open to close. */
static int lib_scan(bench *bn, const char *dirpath, uint64_t records, span *t) {
  span_begin(t);
  mlog_log *log;
  int rc = mlog_log_open(dirpath, MLOG_LOG_RDONLY, NULL, &log);
  if (rc != MLOG_OK)
    return fail(bn, "mlog_log_open %s: %s (%s)", dirpath, mlog_errname(rc),
                mlog_log_errmsg(NULL));
  uint64_t n = 0;
  rc = mlog_log_scan(log, 1, count_record, &n);
  if (rc != MLOG_OK)
    fail(bn, "mlog_log_scan %s: %s (%s)", dirpath, mlog_errname(rc),
         mlog_log_errmsg(log));
  mlog_log_close(log);
  span_end(t);
  if (rc != MLOG_OK)
    return -1;
  if (n != records)
    return fail(bn, "mlog_log_scan %s: %llu records, expected %llu", dirpath,
                (unsigned long long)n, (unsigned long long)records);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

static json_t *params(const bench *bn, const char *p, const char *contender) {
  json_t *o =
      json_pack("{s:s, s:s, s:i, s:i, s:s, s:b}", "part", p, "mode",
                bn->o.b.mode, "payload", (int)PAYLOAD, "rounds",
                (int)bn->o.b.rounds, "fs", bn->fi.type, "cold", bn->cold);
  if (o != NULL && contender != NULL)
    json_object_set_new(o, "contender", json_string(contender));
  return o;
}

static int add(bench *bn, json_t *par, const char *metric, double value,
               const char *unit, const char *baseline, double baseline_value,
               double ratio) {
  if (par == NULL || bench_json_add(bn->results, "recovery", par, metric, value,
                                    unit, baseline, baseline_value, ratio) != 0)
    return fail(bn, "out of memory for the JSON results");
  return 0;
}

static void set_u64(json_t *o, const char *key, uint64_t v) {
  if (o != NULL)
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* "1,234,567" into buf. */
static const char *grouped(char *buf, size_t len, uint64_t v) {
  char raw[32];
  int n = snprintf(raw, sizeof raw, "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < n && o + 2 < len; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = raw[i];
  }
  buf[o] = '\0';
  return buf;
}

static const char *size_name(char *buf, size_t len, size_t bytes) {
  if (bytes == STATE_MAX)
    snprintf(buf, len, "64 MiB-64 KiB");
  else if (bytes >= (1u << 20))
    snprintf(buf, len, "%zu MiB", bytes >> 20);
  else if (bytes >= 1024)
    snprintf(buf, len, "%zu KiB", bytes >> 10);
  else
    snprintf(buf, len, "%zu B", bytes);
  return buf;
}

/* ------------------------------------------------------------------------ */
/* Part 1: where replay time goes                                           */

static int measure_walker(bench *bn, const char *dirpath, walker w,
                          uint64_t deliveries, span *t) {
  uint64_t records = synthetic_records(deliveries);
  if (bn->cold && flush_log(bn, dirpath, true) != 0)
    return -1;
  if (w == W_RECOVER) {
    node nd = {0};
    mlog_proc_stats st;
    int rc = recover_once(bn, dirpath, deliveries, &nd, t, &st);
    node_free(&nd);
    return rc;
  }
  if (w == W_SCAN)
    return lib_scan(bn, dirpath, records, t);
  return raw_walk(bn, dirpath, w, records, t);
}

static int part_replay(bench *bn) {
  uint64_t deliveries = bn->full ? replay_full : replay_quick;
  uint64_t records = synthetic_records(deliveries);
  char dir[PATH_MAX + 32], g[32];
  if (!path_join(dir, sizeof dir, bn->scratch, "replay"))
    return fail(bn, "%s: path too long", bn->scratch);
  fprintf(stderr, PROG ": replay: writing %s deliveries...",
          grouped(g, sizeof g, deliveries));
  double t0 = bench_now();
  if (gen_log(bn, dir, deliveries) != 0)
    return -1;
  fprintf(stderr, " %.1f s; rounds:", bench_now() - t0);
  bench_sample s[W_COUNT][BENCH_MAX_ROUNDS];
  double cpu[W_COUNT][BENCH_MAX_ROUNDS];
  unsigned rounds = bn->o.b.rounds;
  for (unsigned r = 0; r < rounds && !bench_interrupted; r++) {
    fprintf(stderr, " %u", r + 1);
    for (unsigned k = 0; k < W_COUNT && !bench_interrupted; k++) {
      walker w = (walker)((k + r) % W_COUNT);
      span t;
      if (!bn->walkers[w])
        continue;
      if (measure_walker(bn, dir, w, deliveries, &t) != 0)
        return -1;
      s[w][r] = (bench_sample){.secs = t.wall, .records = records};
      cpu[w][r] = t.cpu;
      if (bn->o.verbose)
        fprintf(stderr, "[%s %.1f ms, cpu %.1f]", walker_names[w], t.wall * 1e3,
                t.cpu * 1e3);
    }
  }
  fprintf(stderr, "\n");
  if (bench_interrupted)
    return -1;
  char fb[32];
  printf("\n1. Replay: a log of %s deliveries of %u B (%s records with the "
         "MARKs, %.0f MB),\n   %s page cache, median of %u rounds\n",
         grouped(g, sizeof g, deliveries), PAYLOAD,
         grouped(fb, sizeof fb, records), (double)file_bytes(dir) / 1e6,
         bn->cold ? "cold" : "warm", rounds);
  printf("%-9s %-34s %8s %11s %8s %8s %9s\n", "contender", "what", "ms",
         "records/s", "ns/rec", "cpu ns", "t/recover");
  double ns[W_COUNT] = {0}, cns[W_COUNT] = {0}, rate[W_COUNT] = {0};
  for (int w = 0; w < W_COUNT; w++) {
    if (!bn->walkers[w])
      continue;
    const bench_sample *m = bench_median_sample(s[w], rounds);
    rate[w] = bench_records_per_sec(m);
    ns[w] = m->secs / (double)records * 1e9;
    cns[w] = bench_median(cpu[w], rounds) / (double)records * 1e9;
  }
  bool rec = bn->walkers[W_RECOVER];
  for (int w = 0; w < W_COUNT; w++) {
    if (!bn->walkers[w])
      continue;
    /* time over recover's = recover's rate over w's, paired by round */
    double ratio = rec ? bench_paired_ratio(s[W_RECOVER], s[w], rounds) : 0;
    char rs[16] = "";
    if (rec)
      snprintf(rs, sizeof rs, "%.3f", ratio);
    printf("%-9s %-34s %8.1f %11.0f %8.1f %8.1f %9s\n", walker_names[w],
           walker_what[w], ns[w] * (double)records / 1e6, rate[w], ns[w],
           cns[w], rs);
    json_t *par = params(bn, "replay", walker_names[w]);
    set_u64(par, "records", records);
    set_u64(par, "deliveries", deliveries);
    if (add(bn, json_deep_copy(par), "cpu_ns_per_record", cns[w], "ns", NULL, 0,
            0) != 0) {
      json_decref(par);
      return -1;
    }
    int rc;
    if (w == W_RECOVER && bn->walkers[W_CURSOR])
      rc = add(bn, par, "replay_rate", rate[w], "records/s",
               walker_names[W_CURSOR], rate[W_CURSOR],
               bench_paired_ratio(s[W_RECOVER], s[W_CURSOR], rounds));
    else if (w != W_RECOVER && rec)
      rc = add(bn, par, "walk_rate", rate[w], "records/s",
               walker_names[W_RECOVER], rate[W_RECOVER],
               bench_paired_ratio(s[w], s[W_RECOVER], rounds));
    else
      rc = add(bn, par, w == W_RECOVER ? "replay_rate" : "walk_rate", rate[w],
               "records/s", NULL, 0, 0);
    if (rc != 0)
      return -1;
  }
  bool all = true;
  for (int w = 0; w < W_COUNT; w++)
    all = all && bn->walkers[w];
  if (all)
    printf("Where a record's CPU time goes (ns, differences of the medians):\n"
           "  LMDB cursor walk %.1f | decode %.1f | tag check %.1f | "
           "library walk %.1f | replay %.1f\n"
           "check_2t: %.2f CPUs busy on average (2 when its threads ran in "
           "parallel)\n",
           cns[W_CURSOR], cns[W_DECODE] - cns[W_CURSOR],
           cns[W_CHECK] - cns[W_DECODE], cns[W_SCAN] - cns[W_CHECK],
           cns[W_RECOVER] - cns[W_SCAN],
           ns[W_CHECK_2T] > 0 ? cns[W_CHECK_2T] / ns[W_CHECK_2T] : 0);
  if (rec)
    printf("Target: replay >= %.0f M records/s with verification (64 B): "
           "%.2f M/s, %s (by CPU time: %.2f M/s)\n",
           REPLAY_TARGET / 1e6, rate[W_RECOVER] / 1e6,
           rate[W_RECOVER] >= REPLAY_TARGET ? "met" : "MISSED",
           cns[W_RECOVER] > 0 ? 1e3 / cns[W_RECOVER] : 0);
  if (bench_remove_tree(dir) != 0)
    return fail(bn, "cannot remove %s: %s", dir, strerror(errno));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Part 2: recovery time against log length                                 */

static unsigned rounds_for(const bench *bn, uint64_t deliveries) {
  unsigned r = bn->o.b.rounds;
  if (deliveries >= 10000000 && bn->o.rounds == 0)
    return 1;
  if (deliveries >= 3000000 && bn->o.rounds == 0 && r > 3)
    return 3;
  return r;
}

typedef struct length_row {
  uint64_t deliveries, records, bytes;
  unsigned rounds;
  double secs, cpu, gen_secs;
} length_row;

/* Least squares y = a + b x with its R^2. */
static void fit_line(const double *x, const double *y, size_t n, double *a,
                     double *b, double *r2) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
    syy += y[i] * y[i];
  }
  double dn = (double)n, vx = sxx - sx * sx / dn, vy = syy - sy * sy / dn,
         cxy = sxy - sx * sy / dn;
  *b = vx > 0 ? cxy / vx : 0;
  *a = (sy - *b * sx) / dn;
  *r2 = vx > 0 && vy > 0 ? cxy * cxy / (vx * vy) : 1;
}

static int part_length(bench *bn) {
  const uint64_t *lens = bn->full ? lengths_full : lengths_quick;
  size_t nlens = bn->full ? COUNT_OF(lengths_full) : COUNT_OF(lengths_quick);
  length_row rows[COUNT_OF(lengths_full)];
  size_t nrows = 0;
  for (size_t i = 0; i < nlens && !bench_interrupted; i++) {
    length_row *rw = &rows[nrows];
    *rw = (length_row){.deliveries = lens[i],
                       .records = synthetic_records(lens[i]),
                       .rounds = rounds_for(bn, lens[i])};
    char dir[PATH_MAX + 32], g[32];
    int pn = snprintf(dir, sizeof dir, "%s/length-%llu", bn->scratch,
                      (unsigned long long)lens[i]);
    if (pn < 0 || (size_t)pn >= sizeof dir)
      return fail(bn, "%s: path too long", bn->scratch);
    fprintf(stderr, PROG ": length %s: writing...",
            grouped(g, sizeof g, lens[i]));
    double t0 = bench_now();
    if (gen_log(bn, dir, lens[i]) != 0)
      return -1;
    rw->gen_secs = bench_now() - t0;
    rw->bytes = file_bytes(dir);
    fprintf(stderr, " %.1f s; rounds:", rw->gen_secs);
    double secs[BENCH_MAX_ROUNDS], cpu[BENCH_MAX_ROUNDS];
    for (unsigned r = 0; r < rw->rounds && !bench_interrupted; r++) {
      fprintf(stderr, " %u", r + 1);
      span t;
      if (measure_walker(bn, dir, W_RECOVER, lens[i], &t) != 0)
        return -1;
      secs[r] = t.wall;
      cpu[r] = t.cpu;
      if (bn->o.verbose)
        fprintf(stderr, "[%.1f ms, cpu %.1f]", t.wall * 1e3, t.cpu * 1e3);
    }
    fprintf(stderr, "\n");
    if (bench_interrupted)
      return -1;
    rw->secs = bench_median(secs, rw->rounds);
    rw->cpu = bench_median(cpu, rw->rounds);
    if (bench_remove_tree(dir) != 0)
      return fail(bn, "cannot remove %s: %s", dir, strerror(errno));
    bench_settle_fs(bn->scratch);
    nrows++;
  }
  if (bench_interrupted)
    return -1;
  printf("\n2. Recovery time against log length (%s page cache; records "
         "include the MARKs)\n",
         bn->cold ? "cold" : "warm");
  printf("%11s %11s %7s %6s %10s %10s %7s %7s %8s\n", "deliveries", "records",
         "MB", "rounds", "recover ms", "records/s", "us/rec", "cpu us",
         "marginal");
  double x[COUNT_OF(lengths_full)], y[COUNT_OF(lengths_full)],
      yc[COUNT_OF(lengths_full)];
  double mmin = 0, mmax = 0;
  for (size_t i = 0; i < nrows; i++) {
    const length_row *rw = &rows[i];
    char g1[32], g2[32], marg[16] = "";
    x[i] = (double)rw->records;
    y[i] = rw->secs;
    yc[i] = rw->cpu;
    if (i > 0) { /* CPU: the wall clock carries the machine's other load */
      double m = (rw->cpu - rows[i - 1].cpu) /
                 (double)(rw->records - rows[i - 1].records) * 1e6;
      snprintf(marg, sizeof marg, "%.3f", m);
      if (i == 1 || m < mmin)
        mmin = m;
      if (i == 1 || m > mmax)
        mmax = m;
    }
    double rate = (double)rw->records / rw->secs;
    printf("%11s %11s %7.1f %6u %10.1f %10.0f %7.3f %7.3f %8s\n",
           grouped(g1, sizeof g1, rw->deliveries),
           grouped(g2, sizeof g2, rw->records), (double)rw->bytes / 1e6,
           rw->rounds, rw->secs * 1e3, rate, rw->secs / x[i] * 1e6,
           rw->cpu / x[i] * 1e6, marg);
    json_t *par = params(bn, "length", "recover");
    set_u64(par, "records", rw->records);
    set_u64(par, "deliveries", rw->deliveries);
    json_object_set_new(par, "rounds", json_integer(rw->rounds));
    if (add(bn, json_incref(par), "recover_ms", rw->secs * 1e3, "ms", NULL, 0,
            0) != 0 ||
        add(bn, par, "replay_rate", rate, "records/s", NULL, 0, 0) != 0)
      return -1;
  }
  if (nrows < 2)
    return 0;
  double a, b, r2, ca, cb, cr2;
  fit_line(x, y, nrows, &a, &b, &r2);
  fit_line(x, yc, nrows, &ca, &cb, &cr2);
  printf("Wall-clock fit: recover = %.2f ms + %.3f us x records, R^2 = "
         "%.5f\n",
         a * 1e3, b * 1e6, r2);
  printf("CPU-time fit:   recover = %.2f ms + %.3f us x records, R^2 = %.5f;"
         "\n  marginal CPU cost per record %.3f..%.3f us (max/min %.2f); "
         "cpu us/rec longest / shortest %.2f\n",
         ca * 1e3, cb * 1e6, cr2, mmin, mmax, mmin > 0 ? mmax / mmin : 0,
         (yc[nrows - 1] / x[nrows - 1]) / (yc[0] / x[0]));
  /* Judged on CPU time: the work recovery does per record, which the other
   * load of a shared machine moves far less than the wall clock. */
  bool linear = cr2 >= 0.99 && mmin > 0 && mmax / mmin <= 1.5;
  printf("Target: recovery grows linearly with the log (CPU fit R^2 >= 0.99, "
         "marginal costs within 1.5x): %s\n",
         linear ? "met" : "MISSED");
  json_t *par = params(bn, "length", "recover");
  set_u64(par, "max_records", rows[nrows - 1].records);
  if (add(bn, json_incref(par), "slope_us_per_record", b * 1e6, "us", NULL, 0,
          0) != 0 ||
      add(bn, json_incref(par), "fixed_ms", a * 1e3, "ms", NULL, 0, 0) != 0 ||
      add(bn, json_incref(par), "fit_r2", r2, "", NULL, 0, 0) != 0 ||
      add(bn, json_incref(par), "cpu_slope_us_per_record", cb * 1e6, "us", NULL,
          0, 0) != 0 ||
      add(bn, json_incref(par), "cpu_fit_r2", cr2, "", NULL, 0, 0) != 0 ||
      add(bn, par, "marginal_cost_spread", mmin > 0 ? mmax / mmin : 0,
          "max/min", NULL, 0, 0) != 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Part 3: steady state with checkpoints                                    */

typedef struct steady_row {
  uint64_t n;
  double secs[2];     /* [0] checkpoints every CKPT_EVERY, [1] none */
  double cpu[2];      /* the same in CPU time */
  uint64_t live[2];   /* records the log holds */
  uint64_t ckpts[2];  /* checkpoints it holds */
  uint64_t replay[2]; /* deliveries the reopen replayed */
  uint64_t bytes[2];  /* data.mdb */
  double drive_secs[2];
} steady_row;

/* Two processes on one sim, both on disk under dirpath/p0 and p1. */
typedef struct pair {
  mlog_sim *sim;
  mlog_proc *p[2];
  node app[2];
  flow fl;
} pair;

static void pair_close(pair *pr) {
  for (int i = 0; i < 2; i++) {
    mlog_proc_close(pr->p[i]);
    pr->p[i] = NULL;
  }
  mlog_sim_destroy(pr->sim);
  pr->sim = NULL;
}

static int pair_poll(bench *bn, pair *pr, uint32_t id) {
  int n = mlog_proc_poll(pr->p[id], 0);
  if (n < 0)
    return fail(bn, "poll of process %u: %s (%s)", id, mlog_errname(-n),
                mlog_proc_errmsg(pr->p[id]));
  return 0;
}

/* Run the pair until process RECEIVER has delivered n messages. */
static int drive(bench *bn, const char *dirpath, uint64_t n, uint64_t every,
                 double *secs) {
  pair pr = {.fl = {.payload = bn->payload, .target = n}};
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = GROUP, .min_delay_ms = 1, .max_delay_ms = 1};
  if (mkdir(dirpath, 0750) != 0)
    return fail(bn, "mkdir %s: %s", dirpath, strerror(errno));
  int rc = mlog_sim_create(&so, &pr.sim);
  if (rc != MLOG_OK)
    return fail(bn, "mlog_sim_create: %s", mlog_strerror(rc));
  int status = 0;
  for (uint32_t id = 0; id < GROUP && status == 0; id++) {
    char sub[PATH_MAX + 48];
    if (!proc_dir(sub, sizeof sub, dirpath, id)) {
      status = fail(bn, "%s: path too long", dirpath);
      break;
    }
    mlog_proc_config cfg = {.dirpath = sub,
                            .id = id,
                            .group_size = GROUP,
                            .protocol = PROTOCOL,
                            .ckpt_every_deliveries = every,
                            .transport = &mlog_sim_ops,
                            .transport_config = pr.sim,
                            .retransmit_ms = RETRANSMIT_MS,
                            .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
    pr.app[id] = (node){.id = id, .fl = &pr.fl};
    rc = mlog_proc_open(&cfg, &node_app, &pr.app[id], &pr.p[id]);
    if (rc != MLOG_OK)
      status = fail(bn, "mlog_proc_open %s: %s (%s)", sub, mlog_errname(rc),
                    mlog_proc_errmsg(NULL));
  }
  double t0 = bench_now();
  /* The first window, sent outside a handler (logged and flushed). */
  uint8_t c[8];
  bench_put_le64(c, WINDOW);
  if (status == 0 &&
      (rc = mlog_send(pr.p[RECEIVER], SENDER, c, sizeof c)) != MLOG_OK)
    status = fail(bn, "first credit: %s (%s)", mlog_errname(rc),
                  mlog_proc_errmsg(pr.p[RECEIVER]));
  uint64_t last = 0;
  int stalls = 0;
  while (status == 0 && pr.app[RECEIVER].st.count < n && !bench_interrupted) {
    uint32_t dst;
    while ((rc = mlog_sim_step(pr.sim, &dst)) == MLOG_OK)
      ;
    if (rc != MLOG_EAGAIN) {
      status = fail(bn, "mlog_sim_step: %s", mlog_strerror(rc));
      break;
    }
    if (pair_poll(bn, &pr, RECEIVER) != 0 || pair_poll(bn, &pr, SENDER) != 0) {
      status = -1;
      break;
    }
    if (pr.app[RECEIVER].st.count > last) {
      last = pr.app[RECEIVER].st.count;
      stalls = 0;
    } else if (++stalls > MAX_STALLS) {
      status = fail(bn, "the pair stalled at %llu of %llu deliveries",
                    (unsigned long long)last, (unsigned long long)n);
    } else if (mlog_sim_pending(pr.sim) == 0) {
      mlog_sim_advance(pr.sim, 10); /* let timers fire */
    }
  }
  *secs = bench_now() - t0;
  if (status == 0 && pr.app[RECEIVER].st.count != n)
    status = bench_interrupted
                 ? fail(bn, "interrupted")
                 : fail(bn, "the receiver delivered %llu, not %llu",
                        (unsigned long long)pr.app[RECEIVER].st.count,
                        (unsigned long long)n);
  pair_close(&pr);
  for (uint32_t id = 0; id < GROUP && status == 0; id++) {
    char sub[PATH_MAX + 48];
    status = proc_dir(sub, sizeof sub, dirpath, id)
                 ? flush_log(bn, sub, false)
                 : fail(bn, "%s: path too long", dirpath);
  }
  return status;
}

/* What the log in dirpath holds. */
static int log_info(bench *bn, const char *dirpath, mlog_log_info *info) {
  mlog_log *log;
  int rc = mlog_log_open(dirpath, MLOG_LOG_RDONLY, NULL, &log);
  if (rc == MLOG_OK) {
    rc = mlog_log_get_info(log, info);
    if (rc != MLOG_OK)
      fail(bn, "mlog_log_get_info %s: %s (%s)", dirpath, mlog_errname(rc),
           mlog_log_errmsg(log));
    mlog_log_close(log);
    return rc == MLOG_OK ? 0 : -1;
  }
  return fail(bn, "mlog_log_open %s: %s (%s)", dirpath, mlog_errname(rc),
              mlog_log_errmsg(NULL));
}

static int steady_one(bench *bn, steady_row *rw, int v) {
  char dir[PATH_MAX + 48], sub[PATH_MAX + 64];
  int n1 = snprintf(dir, sizeof dir, "%s/steady-%llu-%s", bn->scratch,
                    (unsigned long long)rw->n, v == 0 ? "ckpt" : "nockpt");
  if (n1 < 0 || (size_t)n1 >= sizeof dir ||
      !proc_dir(sub, sizeof sub, dir, RECEIVER))
    return fail(bn, "%s: path too long", bn->scratch);
  if (drive(bn, dir, rw->n, v == 0 ? CKPT_EVERY : 0, &rw->drive_secs[v]) != 0)
    return -1;
  mlog_log_info info;
  if (log_info(bn, sub, &info) != 0)
    return -1;
  rw->live[v] = info.records;
  rw->ckpts[v] = info.checkpoints;
  rw->bytes[v] = info.file_bytes;
  double secs[BENCH_MAX_ROUNDS], cpu[BENCH_MAX_ROUNDS];
  for (unsigned r = 0; r < bn->o.b.rounds && !bench_interrupted; r++) {
    node nd = {0};
    mlog_proc_stats st;
    span t;
    int rc = recover_once(bn, sub, rw->n, &nd, &t, &st);
    node_free(&nd);
    if (rc != 0)
      return -1;
    secs[r] = t.wall;
    cpu[r] = t.cpu;
    rw->replay[v] = st.replayed;
    if (bn->o.verbose)
      fprintf(stderr, "[%.2f ms]", secs[r] * 1e3);
  }
  if (bench_interrupted)
    return -1;
  rw->secs[v] = bench_median(secs, bn->o.b.rounds);
  rw->cpu[v] = bench_median(cpu, bn->o.b.rounds);
  if (bench_remove_tree(dir) != 0)
    return fail(bn, "cannot remove %s: %s", dir, strerror(errno));
  return 0;
}

static int part_steady(bench *bn) {
  const uint64_t *ns = bn->full ? steady_full : steady_quick;
  size_t nn = bn->full ? COUNT_OF(steady_full) : COUNT_OF(steady_quick);
  steady_row rows[COUNT_OF(steady_full)];
  for (size_t i = 0; i < nn; i++) {
    char g[32];
    rows[i] = (steady_row){.n = ns[i]};
    fprintf(stderr,
            PROG ": steady %s deliveries:", grouped(g, sizeof g, ns[i]));
    for (int v = 0; v < 2; v++) {
      if (steady_one(bn, &rows[i], v) != 0)
        return -1;
      fprintf(stderr, " %s driven in %.1f s;", v == 0 ? "ckpt" : "no ckpt",
              rows[i].drive_secs[v]);
    }
    fprintf(stderr, "\n");
  }
  printf("\n3. Steady state: N deliveries with a checkpoint every %u "
         "(ckpt_keep 2) against none,\n   then reopen (median of %u)\n",
         CKPT_EVERY, bn->o.b.rounds);
  printf("%10s | %-46s | %-30s |\n", "", "checkpoints on", "checkpoints off");
  printf("%10s | %7s %6s %8s %8s %5s %7s | %10s %9s %9s | %7s\n", "N",
         "open ms", "cpu ms", "replayed", "live rec", "ckpts", "file MB",
         "open ms", "replayed", "live rec", "t ratio");
  for (size_t i = 0; i < nn; i++) {
    const steady_row *rw = &rows[i];
    char g[32];
    double ratio = rw->secs[1] > 0 ? rw->secs[0] / rw->secs[1] : 0;
    printf("%10s | %7.1f %6.1f %8llu %8llu %5llu %7.1f | %10.1f %9llu %9llu | "
           "%7.3f\n",
           grouped(g, sizeof g, rw->n), rw->secs[0] * 1e3, rw->cpu[0] * 1e3,
           (unsigned long long)rw->replay[0], (unsigned long long)rw->live[0],
           (unsigned long long)rw->ckpts[0], (double)rw->bytes[0] / 1e6,
           rw->secs[1] * 1e3, (unsigned long long)rw->replay[1],
           (unsigned long long)rw->live[1], ratio);
    json_t *par = params(bn, "steady", "checkpoints");
    set_u64(par, "deliveries", rw->n);
    set_u64(par, "ckpt_every", CKPT_EVERY);
    json_t *par2 = json_deep_copy(par);
    json_t *par3 = json_deep_copy(par);
    set_u64(par3, "checkpoints", rw->ckpts[0]);
    if (add(bn, par, "recover_ms", rw->secs[0] * 1e3, "ms", "no_checkpoints",
            rw->secs[1] * 1e3, ratio) != 0 ||
        add(bn, par2, "live_records", (double)rw->live[0], "records",
            "no_checkpoints", (double)rw->live[1],
            rw->live[1] ? (double)rw->live[0] / (double)rw->live[1] : 0) != 0 ||
        add(bn, par3, "file_mb", (double)rw->bytes[0] / 1e6, "MB",
            "no_checkpoints", (double)rw->bytes[1] / 1e6,
            rw->bytes[1] ? (double)rw->bytes[0] / (double)rw->bytes[1] : 0) !=
            0)
      return -1;
  }
  /* Bounded: the longest run's live records and recovery CPU time no more
   * than twice the shortest's (K sets them, not N; the wall clock carries
   * the machine's other load and the disk's flush). */
  const steady_row *a = &rows[0], *z = &rows[nn - 1];
  bool bounded = z->live[0] <= 2 * a->live[0] + 2 * CKPT_EVERY &&
                 z->cpu[0] <= 2 * a->cpu[0] + 0.002;
  printf("Target: recovery bounded under checkpoints (N x%llu: live records "
         "x%.2f, reopen CPU x%.2f, wall x%.2f): %s\n",
         (unsigned long long)(z->n / a->n),
         a->live[0] ? (double)z->live[0] / (double)a->live[0] : 0,
         a->cpu[0] > 0 ? z->cpu[0] / a->cpu[0] : 0,
         a->secs[0] > 0 ? z->secs[0] / a->secs[0] : 0,
         bounded ? "met" : "MISSED");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Part 4: restore time against state size                                  */

/* A process with a state of `bytes` bytes checkpoints it and closes. */
static int make_checkpoint(bench *bn, const char *dirpath, const uint8_t *state,
                           size_t bytes) {
  mlog_sim_options so = {
      .seed = SIM_SEED, .procs = GROUP, .min_delay_ms = 1, .max_delay_ms = 1};
  mlog_sim *sim;
  int rc = mlog_sim_create(&so, &sim);
  if (rc != MLOG_OK)
    return fail(bn, "mlog_sim_create: %s", mlog_strerror(rc));
  node nd = {.id = RECEIVER};
  mlog_proc_config cfg = {.dirpath = dirpath,
                          .id = RECEIVER,
                          .group_size = GROUP,
                          .protocol = PROTOCOL,
                          .transport = &mlog_sim_ops,
                          .transport_config = sim,
                          .retransmit_ms = RETRANSMIT_MS};
  mlog_proc *p = NULL;
  rc = mlog_proc_open(&cfg, &node_app, &nd, &p);
  int status = 0;
  if (rc != MLOG_OK) {
    status = fail(bn, "mlog_proc_open %s: %s (%s)", dirpath, mlog_errname(rc),
                  mlog_proc_errmsg(NULL));
  } else {
    nd.state = (uint8_t *)state; /* borrowed: the snapshot only reads it */
    nd.state_len = bytes;
    rc = mlog_checkpoint(p);
    if (rc != MLOG_OK)
      status = fail(bn, "checkpoint of %zu bytes: %s (%s)", bytes,
                    mlog_errname(rc), mlog_proc_errmsg(p));
  }
  mlog_proc_close(p);
  mlog_sim_destroy(sim);
  return status;
}

static int part_restore(bench *bn) {
  const size_t *sizes = bn->full ? states_full : states_quick;
  size_t ns = bn->full ? COUNT_OF(states_full) : COUNT_OF(states_quick);
  size_t max = sizes[ns - 1];
  uint8_t *state = malloc(max);
  if (state == NULL)
    return fail(bn, "out of memory for a state of %zu bytes", max);
  bench_fill_payload(state, max);
  printf("\n4. Restore: reopen a process whose checkpoint holds S bytes of "
         "application state,\n   nothing to replay (median of %u)\n",
         bn->o.b.rounds);
  printf("%14s %10s %10s %12s %10s\n", "state", "open ms", "MiB/s",
         "recovery ms", "file MB");
  int status = 0;
  for (size_t i = 0; i < ns && status == 0 && !bench_interrupted; i++) {
    char dir[PATH_MAX + 48], name[32];
    int pn = snprintf(dir, sizeof dir, "%s/restore-%zu", bn->scratch, sizes[i]);
    if (pn < 0 || (size_t)pn >= sizeof dir) {
      status = fail(bn, "%s: path too long", bn->scratch);
      break;
    }
    if (make_checkpoint(bn, dir, state, sizes[i]) != 0) {
      status = -1;
      break;
    }
    double secs[BENCH_MAX_ROUNDS], lib[BENCH_MAX_ROUNDS];
    node nd = {0};
    for (unsigned r = 0; r < bn->o.b.rounds && status == 0; r++) {
      mlog_proc_stats st;
      nd.state_len = 0;
      span t;
      status = recover_once(bn, dir, 0, &nd, &t, &st);
      secs[r] = t.wall;
      lib[r] = (double)st.recovery_us / 1e3;
      if (bn->o.verbose)
        fprintf(stderr, "[%zu B: %.2f ms]", sizes[i], secs[r] * 1e3);
      if (status == 0 &&
          (nd.state_len != sizes[i] || memcmp(nd.state, state, sizes[i]) != 0))
        status = fail(bn, "%s: the restored state is not the one saved", dir);
    }
    node_free(&nd);
    if (status != 0)
      break;
    double t = bench_median(secs, bn->o.b.rounds);
    double lib_ms = bench_median(lib, bn->o.b.rounds);
    double mbs = (double)sizes[i] / MIB / t;
    printf("%14s %10.2f %10.1f %12.2f %10.1f\n",
           size_name(name, sizeof name, sizes[i]), t * 1e3, mbs, lib_ms,
           (double)file_bytes(dir) / 1e6);
    json_t *par = params(bn, "restore", "recover");
    set_u64(par, "state_bytes", sizes[i]);
    if (add(bn, json_incref(par), "restore_ms", t * 1e3, "ms", NULL, 0, 0) !=
            0 ||
        add(bn, par, "restore_rate", mbs, "MiB/s", NULL, 0, 0) != 0)
      status = -1;
    if (bench_remove_tree(dir) != 0 && status == 0)
      status = fail(bn, "cannot remove %s: %s", dir, strerror(errno));
  }
  free(state);
  if (status == 0 && bench_interrupted)
    status = -1;
  if (status == 0)
    printf("open ms: the whole mlog_proc_open; recovery ms: the library's "
           "own stats.recovery_us\n(restore and replay, without opening the "
           "environment and the transport).\n");
  return status;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [--quick | --full] [--dir DIR] [--json FILE]\n"
          "                      [--rounds N] [--part LIST] [--cold]\n"
          "  Recovery of a pessimistic-receiver process: replay rate and\n"
          "  where its time goes, recovery time against log length, steady\n"
          "  state under checkpoints, restore time against state size.\n"
          "  --quick      CI smoke run (logs up to 10^5 records)\n"
          "  --full       logs up to 10^7 records (~2 GB on disk)\n"
          "  --dir DIR    parent of the scratch directory (default: beside\n"
          "               this program, else /var/tmp; never tmpfs if\n"
          "               anything else is there)\n"
          "  --json FILE  also write the results as a JSON array\n"
          "  --rounds N   rounds per measurement (the median is reported)\n"
          "  --part LIST  only these parts, comma-separated: replay, length,\n"
          "               steady, restore\n"
          "  --only LIST  part replay's contenders, comma-separated: recover,\n"
          "               scan, check, check_2t, decode, cursor\n"
          "  --cold       evict the log file from the page cache before each\n"
          "               timed recovery of parts replay and length\n"
          "  --verbose    print every measurement on stderr\n");
}

int main(int argc, char **argv) {
  static bench bn;
  bn.o.b = default_budget;
  for (int p = 0; p < P_COUNT; p++)
    bn.parts[p] = true;
  for (int w = 0; w < W_COUNT; w++)
    bn.walkers[w] = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&bn.o, &quick_budget, &full_budget, argc,
                                    argv, &i, PROG);
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--part") == 0 && val) {
      if (bench_parse_list(val, part_names, P_COUNT, bn.parts) != 0) {
        fprintf(stderr, PROG ": --part: unknown part in '%s'\n", val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--only") == 0 && val) {
      if (bench_parse_list(val, walker_names, W_COUNT, bn.walkers) != 0) {
        fprintf(stderr, PROG ": --only: unknown contender in '%s'\n", val);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--cold") == 0) {
      bn.cold = true;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (bn.o.payload != 0 || bn.o.batch != 0) {
    fprintf(stderr, PROG ": --payload and --batch do not apply here\n");
    return 2;
  }
  bench_opts_finish(&bn.o);
  bn.full = strcmp(bn.o.b.mode, "full") == 0;
  bench_fill_payload(bn.payload, sizeof bn.payload);

  printf(PROG ": recovery of a %s process, mode %s (%u rounds)\n", PROTOCOL,
         bn.o.b.mode, bn.o.b.rounds);
  if (bench_scratch_create(PROG, bn.o.dir, bn.scratch, sizeof bn.scratch,
                           &bn.fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();
  int status = 1;
  bn.results = json_array();
  if (bn.results == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    goto cleanup;
  }
  static int (*const run[P_COUNT])(bench *) = {
      [P_REPLAY] = part_replay,
      [P_LENGTH] = part_length,
      [P_STEADY] = part_steady,
      [P_RESTORE] = part_restore,
  };
  for (int p = 0; p < P_COUNT; p++) {
    if (!bn.parts[p])
      continue;
    if (run[p](&bn) != 0) {
      if (!bench_interrupted)
        fprintf(stderr, PROG ": %s: %s\n", part_names[p], bn.err);
      goto cleanup;
    }
    fflush(stdout);
  }
  if (bn.o.json != NULL && bench_json_write(PROG, bn.results, bn.o.json) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_interrupted)
    fprintf(stderr, "\n" PROG ": interrupted\n");
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, PROG ": cannot remove %s: %s\n", bn.scratch,
            strerror(errno));
  json_decref(bn.results);
  return bench_interrupted ? 130 : status;
}
