/* bench_store.c - log append throughput against raw fdatasync and raw LMDB */

/*
 * What one durable commit of the log costs, next to what the disk can do.
 * For each record payload size and batch size (records per commit), these
 * contenders run in the same process, interleaved round by round (the order
 * rotates each round) so that machine noise hits them all alike:
 *
 *   mlog             mlog_log_append of `batch` records on a fresh unkeyed
 *                    log: encoding and the chained BLAKE2b tag included
 *   mlog_keyed       the same on a log keyed with a 32-byte key (MAC tags)
 *   raw_fdatasync    the physical limit: one write of the same encoded bytes
 *                    per batch, then fdatasync, into a ring file that was
 *                    written with zeros and synced before the run (so that
 *                    fdatasync has no size or allocation metadata to commit)
 *   lmdb             mdb_put(MDB_APPEND) of the same encoded bytes under
 *                    8-byte big-endian keys, one mdb_txn_commit per batch,
 *                    LMDB's default durable flags
 *   lmdb_nometasync  informational: the same with MDB_NOMETASYNC (the meta
 *                    page is flushed by the next commit, not this one)
 *
 * and, only when asked for with --only, to tell CPU from I/O:
 *
 *   mlog_nosync      mlog on a log opened with MLOG_LOG_NOSYNC (no flush)
 *   lmdb_nosync      raw LMDB with MDB_NOSYNC (no flush)
 *   encode_only      mlog_record_encode of the batch into memory: the cost of
 *                    the header and the chained tag alone
 *
 * Every measurement runs on a fresh directory for at least a time budget and
 * a number of commits (capped by a longer time budget). A row reports each
 * contender's median round by records/s; its ratios to raw_fdatasync and
 * lmdb are the medians of the ratios within each round. Only the durable
 * call is timed: building the batch in memory and zero-filling the raw file
 * are not. The mlog logs get the same map size as the LMDB environments, so
 * that neither grows its map during a run. Nothing here asserts on
 * wall-clock time.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syncfs, nftw */
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <mlog/mlog.h>

#define MAX_ROUNDS 99
#define LMDB_MAP_BYTES ((size_t)16 << 30) /* virtual; files grow as written */
#define ZERO_CHUNK_BYTES ((size_t)1 << 20)
#define MIN_RING_BYTES ((size_t)16 << 20) /* the raw file */
#define RING_BATCHES 32

static const uint32_t payload_sizes[] = {64, 1024};
static const size_t batch_sizes[] = {1, 64, 512};
#define N_SIZES (sizeof payload_sizes / sizeof payload_sizes[0])
#define N_BATCHES (sizeof batch_sizes / sizeof batch_sizes[0])

typedef enum contender {
  C_MLOG,
  C_MLOG_KEYED,
  C_RAW,
  C_LMDB,
  C_LMDB_NOMETASYNC,
  C_DEFAULT_COUNT, /* the contenders above run by default */
  C_MLOG_NOSYNC = C_DEFAULT_COUNT,
  C_LMDB_NOSYNC,
  C_ENCODE,
  C_COUNT
} contender;

static const char *const contender_names[C_COUNT] = {
    [C_MLOG] = "mlog",
    [C_MLOG_KEYED] = "mlog_keyed",
    [C_RAW] = "raw_fdatasync",
    [C_LMDB] = "lmdb",
    [C_LMDB_NOMETASYNC] = "lmdb_nometasync",
    [C_MLOG_NOSYNC] = "mlog_nosync",
    [C_LMDB_NOSYNC] = "lmdb_nosync",
    [C_ENCODE] = "encode_only",
};

static bool is_mlog(contender c) {
  return c == C_MLOG || c == C_MLOG_KEYED || c == C_MLOG_NOSYNC;
}

/* Rows that get a ratio to raw LMDB besides the one to the raw file. */
static bool vs_lmdb(contender c) {
  return is_mlog(c) || c == C_LMDB_NOMETASYNC || c == C_LMDB_NOSYNC;
}

/* How long each measurement runs. */
typedef struct budget {
  const char *mode;
  unsigned rounds;
  double min_secs;      /* timed seconds at least ... */
  unsigned min_commits; /* ... and commits at least ... */
  double max_secs;      /* ... unless the timed seconds reach this */
} budget;

static const budget quick_budget = {"quick", 3, 0.1, 20, 0.5};
static const budget default_budget = {"default", 3, 0.3, 200, 2.0};
static const budget full_budget = {"full", 7, 0.5, 200, 2.0};

/* One measurement of one contender. */
typedef struct sample {
  double secs; /* timed seconds */
  uint64_t commits, records;
  double p50_us, p99_us, max_us;
} sample;

/* The state of one measurement: the batch in memory and the open store. */
typedef struct run {
  contender who;
  uint32_t payload_len;
  size_t batch;
  size_t rec_bytes;       /* mlog_record_size(payload_len) */
  const uint8_t *encoded; /* batch * rec_bytes pre-encoded bytes (raw, lmdb) */
  const uint8_t *payload;
  mlog_record *recs; /* batch records (mlog) */
  const mlog_key *key;
  uint64_t seq; /* records committed so far */
  mlog_log *log;
  MDB_env *env;
  MDB_dbi dbi;
  int fd;       /* raw file */
  off_t off;    /* raw: where the next batch goes */
  off_t ring;   /* raw: bytes of the file, written before the run */
  uint8_t *out; /* encode_only: where the batch goes */
  uint8_t prev_tag[MLOG_TAG_BYTES]; /* encode_only: the chain */
  char err[512];
} run;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  return v[rank == 0 ? 0 : rank - 1];
}

/* ------------------------------------------------------------------------ */
/* Where the benchmark runs                                                 */

static bool is_memory_fs(long type) {
  return type == 0x01021994L /* tmpfs */ || type == 0x858458f6L /* ramfs */;
}

/* Undo the octal escapes (\040) of a mountinfo field in place. */
static void unescape(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
        s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

typedef struct fs_info {
  char type[64];    /* "ext4" */
  char source[256]; /* "/dev/vda" */
  char mount[1024]; /* "/" */
  char cache[32];   /* the device's write cache: "write back", or "" */
  bool memory;      /* tmpfs or ramfs: fdatasync does nothing */
} fs_info;

/* The device's write cache mode, from sysfs (a partition's is its disk's). */
static void write_cache(unsigned maj, unsigned min, char *buf, size_t len) {
  static const char *const rel[] = {"queue/write_cache",
                                    "../queue/write_cache"};
  buf[0] = '\0';
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/%s", maj, min, rel[i]);
    FILE *f = fopen(path, "r");
    if (f == NULL)
      continue;
    if (fgets(buf, (int)len, f) != NULL)
      buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
    return;
  }
}

/* Describe the filesystem that holds dirpath: the longest mount point of
 * /proc/self/mountinfo that contains it, and statfs for memory filesystems. */
static void describe_fs(const char *dirpath, fs_info *fi) {
  memset(fi, 0, sizeof *fi);
  snprintf(fi->type, sizeof fi->type, "unknown");
  struct statfs sf;
  if (statfs(dirpath, &sf) == 0) {
    fi->memory = is_memory_fs((long)sf.f_type);
    snprintf(fi->type, sizeof fi->type, "statfs magic 0x%lx",
             (unsigned long)sf.f_type);
  }
  char real[PATH_MAX];
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (realpath(dirpath, real) == NULL || f == NULL) {
    if (f)
      fclose(f);
    return;
  }
  char line[4096];
  size_t best = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    /* id parent maj:min root mountpoint options [optional...] - type src */
    unsigned maj, min;
    char mnt[1024], type[64], src[256];
    int pos = 0;
    if (sscanf(line, "%*u %*u %u:%u %*s %1023s %n", &maj, &min, mnt, &pos) < 3)
      continue;
    const char *sep = strstr(line + pos, " - ");
    if (sep == NULL || sscanf(sep, " - %63s %255s", type, src) != 2)
      continue;
    unescape(mnt);
    size_t n = strlen(mnt);
    bool inside =
        strcmp(mnt, "/") == 0 ||
        (strncmp(real, mnt, n) == 0 && (real[n] == '/' || real[n] == '\0'));
    if (!inside || n < best)
      continue;
    best = n;
    snprintf(fi->type, sizeof fi->type, "%s", type);
    snprintf(fi->source, sizeof fi->source, "%s", src);
    snprintf(fi->mount, sizeof fi->mount, "%s", mnt);
    write_cache(maj, min, fi->cache, sizeof fi->cache);
  }
  fclose(f);
  if (strcmp(fi->type, "tmpfs") == 0 || strcmp(fi->type, "ramfs") == 0)
    fi->memory = true;
}

/* Pick the default parent of the scratch directory: beside the executable
 * (the build directory), then /var/tmp, then /tmp; memory filesystems only
 * when there is nothing else. */
static void default_parent(char *buf, size_t len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char *cands[3] = {NULL, "/var/tmp", "/tmp"};
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL && slash != exe) {
      *slash = '\0';
      cands[0] = exe;
    }
  }
  const char *fallback = NULL;
  for (size_t i = 0; i < 3; i++) {
    struct statfs sf;
    if (cands[i] == NULL || access(cands[i], W_OK | X_OK) != 0 ||
        statfs(cands[i], &sf) != 0)
      continue;
    if (!is_memory_fs((long)sf.f_type)) {
      snprintf(buf, len, "%s", cands[i]);
      return;
    }
    if (fallback == NULL)
      fallback = cands[i];
  }
  snprintf(buf, len, "%s", fallback ? fallback : ".");
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Remove dirpath and everything under it. */
static int remove_tree(const char *dirpath) {
  struct stat sb;
  if (lstat(dirpath, &sb) != 0 && errno == ENOENT)
    return 0;
  return nftw(dirpath, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------ */
/* The contenders: open (untimed), commit one batch (timed), close          */

static int fail(run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  return -1;
}

static int mlog_open_run(run *r, const char *dirpath) {
  mlog_log_config cfg = {.process_id = 0,
                         .group_size = 1,
                         .protocol = "bench",
                         .key = r->who == C_MLOG_KEYED ? r->key : NULL,
                         .map_size = LMDB_MAP_BYTES};
  unsigned flags = MLOG_LOG_CREATE;
  if (r->who == C_MLOG_NOSYNC)
    flags |= MLOG_LOG_NOSYNC;
  int rc = mlog_log_open(dirpath, flags, &cfg, &r->log);
  if (rc != MLOG_OK)
    return fail(r, "mlog_log_open %s: %s (%s)", dirpath, mlog_errname(rc),
                mlog_log_errmsg(NULL));
  for (size_t i = 0; i < r->batch; i++)
    r->recs[i] = (mlog_record){.type = MLOG_REC_DELIVERY,
                               .src = 1,
                               .dst = 0,
                               .payload = r->payload,
                               .payload_len = r->payload_len};
  return 0;
}

static int mlog_commit(run *r) {
  int rc = mlog_log_append(r->log, r->recs, r->batch);
  if (rc != MLOG_OK)
    return fail(r, "mlog_log_append: %s (%s)", mlog_errname(rc),
                mlog_log_errmsg(r->log));
  return 0;
}

/* Untimed: give each record of the next batch its own sequence numbers. */
static void mlog_prepare(run *r) {
  for (size_t i = 0; i < r->batch; i++) {
    r->recs[i].ssn = r->seq + i + 1;
    r->recs[i].rsn = r->seq + i + 1;
  }
}

static int lmdb_open_run(run *r, const char *dirpath) {
  unsigned flags = r->who == C_LMDB_NOMETASYNC ? MDB_NOMETASYNC
                   : r->who == C_LMDB_NOSYNC   ? MDB_NOSYNC
                                               : 0;
  MDB_txn *txn;
  if (mkdir(dirpath, 0750) != 0)
    return fail(r, "mkdir %s: %s", dirpath, strerror(errno));
  int rc = mdb_env_create(&r->env);
  if (rc == 0)
    rc = mdb_env_set_mapsize(r->env, LMDB_MAP_BYTES);
  if (rc == 0)
    rc = mdb_env_open(r->env, dirpath, flags, 0640);
  if (rc == 0)
    rc = mdb_txn_begin(r->env, NULL, 0, &txn);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, NULL, 0, &r->dbi);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (rc != 0)
    return fail(r, "lmdb open %s: %s", dirpath, mdb_strerror(rc));
  return 0;
}

static int lmdb_commit(run *r) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(r->env, NULL, 0, &txn);
  for (size_t i = 0; rc == 0 && i < r->batch; i++) {
    uint8_t kbuf[8];
    put_be64(kbuf, r->seq + i + 1);
    MDB_val k = {sizeof kbuf, kbuf};
    MDB_val v = {r->rec_bytes, (void *)(r->encoded + i * r->rec_bytes)};
    rc = mdb_put(txn, r->dbi, &k, &v, MDB_APPEND);
    if (rc != 0)
      mdb_txn_abort(txn);
  }
  if (rc == 0)
    rc = mdb_txn_commit(txn);
  if (rc != 0)
    return fail(r, "lmdb commit: %s", mdb_strerror(rc));
  return 0;
}

/* Untimed: the raw file is a ring, written with zeros and synced (size
 * included) before the first commit, so that a timed fdatasync only has data
 * to flush: no size change and no block allocation. */
static int raw_open_run(run *r, const char *dirpath) {
  static const uint8_t zeros[ZERO_CHUNK_BYTES];
  char path[PATH_MAX];
  if (mkdir(dirpath, 0750) != 0)
    return fail(r, "mkdir %s: %s", dirpath, strerror(errno));
  if (snprintf(path, sizeof path, "%s/raw.log", dirpath) >= (int)sizeof path)
    return fail(r, "%s: path too long", dirpath);
  r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (r->fd < 0)
    return fail(r, "open %s: %s", path, strerror(errno));
  size_t bytes = r->batch * r->rec_bytes;
  size_t ring = RING_BATCHES * bytes;
  if (ring < MIN_RING_BYTES)
    ring = MIN_RING_BYTES;
  r->ring = (off_t)ring;
  for (off_t at = 0; at < r->ring;) {
    ssize_t n = pwrite(r->fd, zeros, sizeof zeros, at);
    if (n <= 0)
      return fail(r, "zero-filling the raw file: %s",
                  n < 0 ? strerror(errno) : "short write");
    at += n;
  }
  if (fsync(r->fd) != 0)
    return fail(r, "fsync of the raw file: %s", strerror(errno));
  return 0;
}

static int raw_commit(run *r) {
  size_t bytes = r->batch * r->rec_bytes;
  ssize_t n = pwrite(r->fd, r->encoded, bytes, r->off);
  if (n != (ssize_t)bytes)
    return fail(r, "write: %s", n < 0 ? strerror(errno) : "short write");
  if (fdatasync(r->fd) != 0)
    return fail(r, "fdatasync: %s", strerror(errno));
  r->off += (off_t)bytes;
  if (r->off + (off_t)bytes > r->ring)
    r->off = 0;
  return 0;
}

/* encode_only: the records of the batch, chained, into a buffer. */
static int encode_open_run(run *r, const char *dirpath) {
  (void)dirpath;
  r->out = malloc(r->batch * r->rec_bytes);
  if (r->out == NULL)
    return fail(r, "out of memory");
  mlog_chain_genesis(0, NULL, r->prev_tag);
  for (size_t i = 0; i < r->batch; i++)
    r->recs[i] = (mlog_record){.type = MLOG_REC_DELIVERY,
                               .src = 1,
                               .payload = r->payload,
                               .payload_len = r->payload_len};
  return 0;
}

static int encode_commit(run *r) {
  for (size_t i = 0; i < r->batch; i++) {
    r->recs[i].lsn = r->seq + i + 1;
    int rc = mlog_record_encode(&r->recs[i], r->prev_tag, NULL,
                                r->out + i * r->rec_bytes, r->rec_bytes);
    if (rc != MLOG_OK)
      return fail(r, "mlog_record_encode: %s", mlog_errname(rc));
    memcpy(r->prev_tag, r->recs[i].tag, MLOG_TAG_BYTES);
  }
  return 0;
}

static int open_run(run *r, const char *dirpath) {
  switch (r->who) {
  case C_MLOG:
  case C_MLOG_KEYED:
  case C_MLOG_NOSYNC:
    return mlog_open_run(r, dirpath);
  case C_RAW:
    return raw_open_run(r, dirpath);
  case C_ENCODE:
    return encode_open_run(r, dirpath);
  default:
    return lmdb_open_run(r, dirpath);
  }
}

static int prepare(run *r) {
  switch (r->who) {
  case C_MLOG:
  case C_MLOG_KEYED:
  case C_MLOG_NOSYNC:
  case C_ENCODE:
    mlog_prepare(r);
    return 0;
  default:
    return 0;
  }
}

static int commit(run *r) {
  switch (r->who) {
  case C_MLOG:
  case C_MLOG_KEYED:
  case C_MLOG_NOSYNC:
    return mlog_commit(r);
  case C_RAW:
    return raw_commit(r);
  case C_ENCODE:
    return encode_commit(r);
  default:
    return lmdb_commit(r);
  }
}

static void close_run(run *r) {
  mlog_log_close(r->log);
  r->log = NULL;
  if (r->env != NULL)
    mdb_env_close(r->env);
  r->env = NULL;
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
  free(r->out);
  r->out = NULL;
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                */

typedef struct bench {
  budget b;
  char scratch[PATH_MAX]; /* our mkdtemp directory */
  uint8_t *payload;
  mlog_key key;
  double *lat; /* per-commit latencies of the current measurement */
  size_t lat_cap;
  unsigned serial; /* numbers the measurement directories */
  bool verbose;
  bool enabled[C_COUNT];
} bench;

/* Run one measurement of `who` on a fresh directory. Returns 0, or -1 with
 * the cause printed. */
static int measure(bench *bn, contender who, uint32_t payload_len, size_t batch,
                   const uint8_t *encoded, mlog_record *recs, sample *out) {
  run r = {.who = who,
           .payload_len = payload_len,
           .batch = batch,
           .rec_bytes = mlog_record_size(payload_len),
           .encoded = encoded,
           .payload = bn->payload,
           .recs = recs,
           .key = &bn->key,
           .fd = -1};
  char dirpath[PATH_MAX + 64];
  if (snprintf(dirpath, sizeof dirpath, "%s/m%u-%s", bn->scratch, bn->serial++,
               contender_names[who]) >= (int)sizeof dirpath) {
    fprintf(stderr, "bench_store: %s: path too long\n", bn->scratch);
    return -1;
  }
  size_t n = 0;
  double timed = 0, wall0 = now_secs();
  int rc = open_run(&r, dirpath);
  while (rc == 0 && !interrupted) {
    if (timed >= bn->b.max_secs ||
        (timed >= bn->b.min_secs && n >= bn->b.min_commits) ||
        now_secs() - wall0 > 4 * bn->b.max_secs + 5)
      break;
    rc = prepare(&r);
    if (rc != 0)
      break;
    double t0 = now_secs();
    rc = commit(&r);
    double dt = now_secs() - t0;
    if (rc != 0)
      break;
    if (n == bn->lat_cap) {
      size_t cap = bn->lat_cap ? 2 * bn->lat_cap : 4096;
      double *p = realloc(bn->lat, cap * sizeof *p);
      if (p == NULL) {
        rc = fail(&r, "out of memory");
        break;
      }
      bn->lat = p;
      bn->lat_cap = cap;
    }
    bn->lat[n++] = dt;
    timed += dt;
    r.seq += batch;
  }
  close_run(&r);
  if (remove_tree(dirpath) != 0 && rc == 0)
    rc = fail(&r, "cannot remove %s: %s", dirpath, strerror(errno));
  /* Commit the deletion (and any discards it triggers) now, so that it is
   * not charged to the next contender's first commits. */
  int dfd = open(bn->scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    syncfs(dfd);
    close(dfd);
  }
  if (rc != 0) {
    fprintf(stderr, "bench_store: %s (payload %u, batch %zu): %s\n",
            contender_names[who], payload_len, batch, r.err);
    return -1;
  }
  if (n == 0)
    return -1; /* interrupted */
  qsort(bn->lat, n, sizeof *bn->lat, cmp_double);
  *out = (sample){.secs = timed,
                  .commits = n,
                  .records = (uint64_t)n * batch,
                  .p50_us = percentile(bn->lat, n, 50) * 1e6,
                  .p99_us = percentile(bn->lat, n, 99) * 1e6,
                  .max_us = bn->lat[n - 1] * 1e6};
  if (bn->verbose)
    fprintf(stderr,
            "\n  %-16s %5zu commits %7.3f s  mean %8.1f us  p50 %8.1f  "
            "p99 %8.1f  max %9.1f",
            contender_names[who], n, timed, timed / (double)n * 1e6,
            out->p50_us, out->p99_us, out->max_us);
  return 0;
}

static double records_per_sec(const sample *s) {
  return s->secs > 0 ? (double)s->records / s->secs : 0;
}

/* The median of `n` samples by records/s (the lower one for even n). */
static const sample *median_sample(const sample *s, unsigned n) {
  const sample *order[MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++)
    order[i] = &s[i];
  for (unsigned i = 1; i < n; i++) /* insertion sort: n is tiny */
    for (unsigned j = i;
         j > 0 && records_per_sec(order[j - 1]) > records_per_sec(order[j]);
         j--) {
      const sample *t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  return order[(n - 1) / 2];
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */

typedef struct row {
  uint32_t payload_len;
  size_t batch;
  sample med[C_COUNT];     /* each contender's median round */
  double to_raw[C_COUNT];  /* paired ratios to raw_fdatasync ... */
  double to_lmdb[C_COUNT]; /* ... and to lmdb */
} row;

/* The median over rounds of a's records/s over b's in the same round: the
 * rounds pair the contenders in time, so a slow spell of the machine that
 * hits one round moves both sides of its ratio. */
static double paired_ratio(const sample *a, const sample *b, unsigned n) {
  double v[MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++) {
    double base = records_per_sec(&b[i]);
    v[i] = base > 0 ? records_per_sec(&a[i]) / base : 0;
  }
  qsort(v, n, sizeof v[0], cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_table(const bench *bn, const row *rows, size_t nrows) {
  printf("\n%-7s %5s  %-16s %11s %10s %9s %9s %7s %7s\n", "payload", "batch",
         "contender", "records/s", "commits/s", "p50 us", "p99 us", "vs raw",
         "vs lmdb");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    for (int c = 0; c < C_COUNT; c++) {
      const sample *s = &rw->med[c];
      double rps = records_per_sec(s);
      char to_raw[16] = "", to_lmdb[16] = "";
      if (!bn->enabled[c])
        continue;
      if (c != C_RAW && bn->enabled[C_RAW])
        snprintf(to_raw, sizeof to_raw, "%.3f", rw->to_raw[c]);
      if (vs_lmdb((contender)c) && bn->enabled[C_LMDB])
        snprintf(to_lmdb, sizeof to_lmdb, "%.3f", rw->to_lmdb[c]);
      printf("%-7u %5zu  %-16s %11.0f %10.1f %9.1f %9.1f %7s %7s\n",
             rw->payload_len, rw->batch, contender_names[c], rps,
             s->secs > 0 ? (double)s->commits / s->secs : 0, s->p50_us,
             s->p99_us, to_raw, to_lmdb);
    }
    if (i + 1 < nrows)
      printf("\n");
  }
}

static json_t *params_json(const bench *bn, const row *rw, contender c,
                           const fs_info *fi) {
  return json_pack("{s:s, s:i, s:i, s:i, s:s, s:i, s:s, s:b}", "contender",
                   contender_names[c], "payload_bytes", (int)rw->payload_len,
                   "record_bytes", (int)mlog_record_size(rw->payload_len),
                   "batch", (int)rw->batch, "mode", bn->b.mode, "rounds",
                   (int)bn->b.rounds, "fs", fi->type, "durable", !fi->memory);
}

/* One result object; baseline NULL for none. */
static int add_result(json_t *arr, const char *metric, double value,
                      const char *unit, json_t *params, const char *baseline,
                      double baseline_value, double ratio) {
  char name[64];
  snprintf(name, sizeof name, "store_append/%s",
           json_string_value(json_object_get(params, "contender")));
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(name));
  json_object_set_new(o, "params", params);
  json_object_set_new(o, "metric", json_string(metric));
  json_object_set_new(o, "value", json_real(value));
  json_object_set_new(o, "unit", json_string(unit));
  json_object_set_new(o, "baseline",
                      baseline ? json_string(baseline) : json_null());
  json_object_set_new(o, "baseline_value",
                      baseline ? json_real(baseline_value) : json_null());
  json_object_set_new(o, "ratio", baseline ? json_real(ratio) : json_null());
  return json_array_append_new(arr, o);
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const fs_info *fi) {
  json_t *arr = json_array();
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    double raw = records_per_sec(&rw->med[C_RAW]);
    double lmdb = records_per_sec(&rw->med[C_LMDB]);
    for (int ci = 0; ci < C_COUNT; ci++) {
      contender c = (contender)ci;
      const sample *s = &rw->med[c];
      double rps = records_per_sec(s);
      if (!bn->enabled[c])
        continue;
      add_result(
          arr, "records_per_s", rps, "records/s", params_json(bn, rw, c, fi),
          c == C_RAW || !bn->enabled[C_RAW] ? NULL : contender_names[C_RAW],
          raw, rw->to_raw[c]);
      if (vs_lmdb(c) && bn->enabled[C_LMDB])
        add_result(arr, "records_per_s", rps, "records/s",
                   params_json(bn, rw, c, fi), contender_names[C_LMDB], lmdb,
                   rw->to_lmdb[c]);
      add_result(arr, "commits_per_s",
                 s->secs > 0 ? (double)s->commits / s->secs : 0, "commits/s",
                 params_json(bn, rw, c, fi), NULL, 0, 0);
      add_result(arr, "commit_latency_p50", s->p50_us, "us",
                 params_json(bn, rw, c, fi), NULL, 0, 0);
      add_result(arr, "commit_latency_p99", s->p99_us, "us",
                 params_json(bn, rw, c, fi), NULL, 0, 0);
    }
  }
  int rc = json_dump_file(arr, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
  json_decref(arr);
  if (rc != 0)
    fprintf(stderr, "bench_store: cannot write %s: %s\n", path,
            strerror(errno));
  return rc;
}

/* ------------------------------------------------------------------------ */

/* Enable exactly the contenders named in the comma-separated list. */
static int parse_only(const char *list, bool enabled[C_COUNT]) {
  for (int c = 0; c < C_COUNT; c++)
    enabled[c] = false;
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    int found = -1;
    for (int c = 0; c < C_COUNT; c++)
      if (strlen(contender_names[c]) == n &&
          strncmp(p, contender_names[c], n) == 0)
        found = c;
    if (found < 0)
      return -1;
    enabled[found] = true;
    p += n + (p[n] == ',');
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_store [--quick | --full] [--dir DIR] [--json FILE]\n"
          "                   [--rounds N] [--seconds S]\n"
          "  Durable append throughput of the mlog log against one write +\n"
          "  fdatasync per batch (the disk's limit) and raw LMDB.\n"
          "  --quick      CI smoke run (a few seconds per configuration)\n"
          "  --full       longer, steadier measurements\n"
          "  --dir DIR    parent of the scratch directory (default: beside\n"
          "               this program, else /var/tmp; never tmpfs if\n"
          "               anything else is there)\n"
          "  --json FILE  also write the results as a JSON array\n"
          "  --rounds N   interleaved rounds (the median is reported)\n"
          "  --seconds S  minimum timed seconds per measurement\n"
          "  --only LIST  run only these contenders, comma-separated: mlog,\n"
          "               mlog_keyed, raw_fdatasync, lmdb, lmdb_nometasync\n"
          "               (the default set) and mlog_nosync, lmdb_nosync,\n"
          "               encode_only (no flush or no store: CPU cost)\n"
          "  --payload N  run only payloads of N bytes (64 or 1024)\n"
          "  --batch N    run only batches of N records (1, 64 or 512)\n"
          "  --verbose    print every measurement on stderr\n");
}

/* Encode one batch of chained records into buf: the bytes the raw and
 * LMDB contenders write. */
static int encode_batch(const uint8_t *payload, uint32_t payload_len,
                        size_t batch, uint8_t *buf) {
  size_t rec_bytes = mlog_record_size(payload_len);
  uint8_t prev[MLOG_TAG_BYTES];
  mlog_chain_genesis(0, NULL, prev);
  for (size_t i = 0; i < batch; i++) {
    mlog_record rec = {.type = MLOG_REC_DELIVERY,
                       .src = 1,
                       .ssn = i + 1,
                       .rsn = i + 1,
                       .lsn = i + 1,
                       .payload = payload,
                       .payload_len = payload_len};
    int rc =
        mlog_record_encode(&rec, prev, NULL, buf + i * rec_bytes, rec_bytes);
    if (rc != MLOG_OK)
      return rc;
    memcpy(prev, rec.tag, MLOG_TAG_BYTES);
  }
  return MLOG_OK;
}

int main(int argc, char **argv) {
  bench bn = {.b = default_budget};
  const char *dir = NULL, *json_path = NULL;
  long rounds = 0, only_payload = 0, only_batch = 0;
  double secs = 0;
  for (int c = 0; c < C_COUNT; c++)
    bn.enabled[c] = c < C_DEFAULT_COUNT;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quick") == 0) {
      bn.b = quick_budget;
    } else if (strcmp(a, "--full") == 0) {
      bn.b = full_budget;
    } else if (strcmp(a, "--dir") == 0 && val) {
      dir = val;
      i++;
    } else if (strcmp(a, "--json") == 0 && val) {
      json_path = val;
      i++;
    } else if (strcmp(a, "--rounds") == 0 && val) {
      char *end;
      rounds = strtol(val, &end, 10);
      if (*end || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_store: --rounds wants 1..%d\n", MAX_ROUNDS);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--seconds") == 0 && val) {
      char *end;
      secs = strtod(val, &end);
      if (*end || !(secs > 0 && secs < 3600)) {
        fprintf(stderr, "bench_store: --seconds wants a positive number\n");
        return 2;
      }
      i++;
    } else if (strcmp(a, "--only") == 0 && val) {
      if (parse_only(val, bn.enabled) != 0) {
        fprintf(stderr, "bench_store: --only: unknown contender in '%s'\n",
                val);
        return 2;
      }
      i++;
    } else if ((strcmp(a, "--payload") == 0 || strcmp(a, "--batch") == 0) &&
               val) {
      char *end;
      long v = strtol(val, &end, 10);
      if (*end || v <= 0) {
        fprintf(stderr, "bench_store: %s wants a positive number\n", a);
        return 2;
      }
      *(a[2] == 'p' ? &only_payload : &only_batch) = v;
      i++;
    } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
      bn.verbose = true;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (rounds > 0)
    bn.b.rounds = (unsigned)rounds;
  if (secs > 0) {
    bn.b.min_secs = secs;
    if (bn.b.max_secs < 4 * secs)
      bn.b.max_secs = 4 * secs;
  }

  char parent[PATH_MAX];
  if (dir != NULL)
    snprintf(parent, sizeof parent, "%s", dir);
  else
    default_parent(parent, sizeof parent);
  if (snprintf(bn.scratch, sizeof bn.scratch, "%s/mlog-bench-XXXXXX", parent) >=
          (int)sizeof bn.scratch ||
      mkdtemp(bn.scratch) == NULL) {
    fprintf(stderr,
            "bench_store: cannot create a scratch directory in %s: %s\n",
            parent, strerror(errno));
    return 1;
  }
  fs_info fi;
  describe_fs(bn.scratch, &fi);

  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  int status = 1;
  size_t max_batch = batch_sizes[N_BATCHES - 1];
  uint32_t max_payload = payload_sizes[N_SIZES - 1];
  row rows[N_SIZES * N_BATCHES];
  sample *samples = calloc((size_t)MAX_ROUNDS * C_COUNT, sizeof *samples);
  uint8_t *encoded = malloc(max_batch * mlog_record_size(max_payload));
  mlog_record *recs = calloc(max_batch, sizeof *recs);
  bn.payload = malloc(max_payload);
  if (samples == NULL || encoded == NULL || recs == NULL ||
      bn.payload == NULL) {
    fprintf(stderr, "bench_store: out of memory\n");
    goto cleanup;
  }
  uint32_t x = 0x9e3779b9u; /* xorshift: payload bytes that do not compress */
  for (uint32_t i = 0; i < max_payload; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    bn.payload[i] = (uint8_t)x;
  }
  for (size_t i = 0; i < MLOG_KEY_BYTES; i++)
    bn.key.bytes[i] = (unsigned char)(0xa5 ^ (i * 7));

  printf("bench_store: durable log appends, mode %s (%u rounds, each "
         "measurement >= %.2f s and >= %u commits, <= %.2f s)\n",
         bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs);
  printf("scratch: %s\nfilesystem: %s on %s (mounted on %s)%s%s\n", bn.scratch,
         fi.type, fi.source[0] ? fi.source : "?", fi.mount[0] ? fi.mount : "?",
         fi.cache[0] ? ", device cache: " : "", fi.cache);
  if (fi.memory) {
    printf("WARNING: a memory filesystem: fdatasync does nothing here, the "
           "numbers say nothing about durability (use --dir on a disk)\n");
    fprintf(stderr, "bench_store: WARNING: %s is on %s\n", bn.scratch, fi.type);
  }
  fflush(stdout);

  contender to_run[C_COUNT];
  unsigned n_run = 0;
  for (int c = 0; c < C_COUNT; c++)
    if (bn.enabled[c])
      to_run[n_run++] = (contender)c;
  size_t nrows = 0;
  for (size_t si = 0; si < N_SIZES; si++) {
    for (size_t bi = 0; bi < N_BATCHES && !interrupted; bi++) {
      uint32_t plen = payload_sizes[si];
      size_t batch = batch_sizes[bi];
      if ((only_payload && (long)plen != only_payload) ||
          (only_batch && (long)batch != only_batch))
        continue;
      if (encode_batch(bn.payload, plen, batch, encoded) != MLOG_OK) {
        fprintf(stderr, "bench_store: cannot encode the batch\n");
        goto cleanup;
      }
      fprintf(stderr, "bench_store: payload %u B, batch %zu:", plen, batch);
      for (unsigned r = 0; r < bn.b.rounds && !interrupted; r++) {
        fprintf(stderr, " %u", r + 1);
        for (unsigned k = 0; k < n_run && !interrupted; k++) {
          contender c = to_run[(k + r) % n_run];
          if (measure(&bn, c, plen, batch, encoded, recs,
                      &samples[(size_t)c * MAX_ROUNDS + r]) != 0)
            goto cleanup;
        }
      }
      fprintf(stderr, "\n");
      if (interrupted)
        break;
      row *rw = &rows[nrows++];
      rw->payload_len = plen;
      rw->batch = batch;
      const sample *raw_s = &samples[(size_t)C_RAW * MAX_ROUNDS];
      const sample *lmdb_s = &samples[(size_t)C_LMDB * MAX_ROUNDS];
      for (int c = 0; c < C_COUNT; c++) {
        const sample *s = &samples[(size_t)c * MAX_ROUNDS];
        rw->med[c] = *median_sample(s, bn.b.rounds);
        rw->to_raw[c] = paired_ratio(s, raw_s, bn.b.rounds);
        rw->to_lmdb[c] = paired_ratio(s, lmdb_s, bn.b.rounds);
      }
    }
  }
  if (interrupted) {
    fprintf(stderr, "\nbench_store: interrupted\n");
    goto cleanup;
  }
  print_table(&bn, rows, nrows);
  printf("\nrecords/s and latencies: each contender's median round by "
         "records/s; only the durable call is timed.\n"
         "vs raw, vs lmdb: the median over rounds of the ratio of records/s "
         "within a round.\n"
         "lmdb_nometasync is informational: its commits are durable only "
         "once the next one is.\n");
  fflush(stdout);
  if (json_path != NULL && write_json(json_path, &bn, rows, nrows, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (remove_tree(bn.scratch) != 0)
    fprintf(stderr, "bench_store: cannot remove %s: %s\n", bn.scratch,
            strerror(errno));
  free(bn.lat);
  free(bn.payload);
  free(recs);
  free(encoded);
  free(samples);
  return interrupted ? 130 : status;
}
