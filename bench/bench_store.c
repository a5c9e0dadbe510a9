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

#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mlog/mlog.h>

#include "bench/benchlib.h"

#define MAX_ROUNDS BENCH_MAX_ROUNDS
#define LMDB_MAP_BYTES ((size_t)16 << 30) /* virtual; files grow as written */

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

static const bench_budget quick_budget = {"quick", 3, 0.1, 20, 0.5};
static const bench_budget default_budget = {"default", 3, 0.3, 200, 2.0};
static const bench_budget full_budget = {"full", 7, 0.5, 200, 2.0};

typedef bench_sample sample;

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
  bench_ring raw;                   /* raw file */
  uint8_t *out;                     /* encode_only: where the batch goes */
  uint8_t prev_tag[MLOG_TAG_BYTES]; /* encode_only: the chain */
  char err[512];
} run;

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
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

/* Untimed: the ring file is written with zeros and synced before the first
 * commit, so that a timed fdatasync only has data to flush. */
static int raw_open_run(run *r, const char *dirpath) {
  return bench_ring_open(&r->raw, dirpath, r->batch * r->rec_bytes, r->err,
                         sizeof r->err);
}

static int raw_commit(run *r) {
  return bench_ring_commit(&r->raw, r->encoded, r->batch * r->rec_bytes, r->err,
                           sizeof r->err);
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
  bench_ring_close(&r->raw);
  free(r->out);
  r->out = NULL;
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                */

typedef struct bench {
  bench_budget b;
  char scratch[PATH_MAX]; /* our mkdtemp directory */
  uint8_t *payload;
  mlog_key key;
  bench_lat lat;   /* per-commit latencies of the current measurement */
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
           .raw = {.fd = -1}};
  char dirpath[PATH_MAX + 64];
  if (snprintf(dirpath, sizeof dirpath, "%s/m%u-%s", bn->scratch, bn->serial++,
               contender_names[who]) >= (int)sizeof dirpath) {
    fprintf(stderr, "bench_store: %s: path too long\n", bn->scratch);
    return -1;
  }
  size_t n = 0;
  double timed = 0, wall0 = bench_now();
  bn->lat.n = 0;
  int rc = open_run(&r, dirpath);
  while (rc == 0 && !bench_interrupted) {
    if (timed >= bn->b.max_secs ||
        (timed >= bn->b.min_secs && n >= bn->b.min_commits) ||
        bench_now() - wall0 > 4 * bn->b.max_secs + 5)
      break;
    rc = prepare(&r);
    if (rc != 0)
      break;
    double t0 = bench_now();
    rc = commit(&r);
    double dt = bench_now() - t0;
    if (rc != 0)
      break;
    if (bench_lat_add(&bn->lat, dt) != 0) {
      rc = fail(&r, "out of memory");
      break;
    }
    n++;
    timed += dt;
    r.seq += batch;
  }
  close_run(&r);
  if (bench_remove_tree(dirpath) != 0 && rc == 0)
    rc = fail(&r, "cannot remove %s: %s", dirpath, strerror(errno));
  /* Commit the deletion (and any discards it triggers) now, so that it is
   * not charged to the next contender's first commits. */
  bench_settle_fs(bn->scratch);
  if (rc != 0) {
    fprintf(stderr, "bench_store: %s (payload %u, batch %zu): %s\n",
            contender_names[who], payload_len, batch, r.err);
    return -1;
  }
  if (n == 0)
    return -1; /* interrupted */
  *out = (sample){.secs = timed, .commits = n, .records = (uint64_t)n * batch};
  bench_lat_summary(&bn->lat, &out->p50_us, &out->p99_us, &out->max_us);
  if (bn->verbose)
    fprintf(stderr,
            "\n  %-16s %5zu commits %7.3f s  mean %8.1f us  p50 %8.1f  "
            "p99 %8.1f  max %9.1f",
            contender_names[who], n, timed, timed / (double)n * 1e6,
            out->p50_us, out->p99_us, out->max_us);
  return 0;
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

static void print_table(const bench *bn, const row *rows, size_t nrows) {
  printf("\n%-7s %5s  %-16s %11s %10s %9s %9s %7s %7s\n", "payload", "batch",
         "contender", "records/s", "commits/s", "p50 us", "p99 us", "vs raw",
         "vs lmdb");
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    for (int c = 0; c < C_COUNT; c++) {
      const sample *s = &rw->med[c];
      double rps = bench_records_per_sec(s);
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
                           const bench_fs *fi) {
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
  return bench_json_add(arr, name, params, metric, value, unit, baseline,
                        baseline_value, ratio);
}

static int write_json(const char *path, const bench *bn, const row *rows,
                      size_t nrows, const bench_fs *fi) {
  json_t *arr = json_array();
  for (size_t i = 0; i < nrows; i++) {
    const row *rw = &rows[i];
    double raw = bench_records_per_sec(&rw->med[C_RAW]);
    double lmdb = bench_records_per_sec(&rw->med[C_LMDB]);
    for (int ci = 0; ci < C_COUNT; ci++) {
      contender c = (contender)ci;
      const sample *s = &rw->med[c];
      double rps = bench_records_per_sec(s);
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
  int rc = bench_json_write("bench_store", arr, path);
  json_decref(arr);
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

int main(int argc, char **argv) {
  bench bn = {.b = default_budget};
  bench_opts o = {.b = default_budget};
  for (int c = 0; c < C_COUNT; c++)
    bn.enabled[c] = c < C_DEFAULT_COUNT;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int shared = bench_parse_option(&o, &quick_budget, &full_budget, argc, argv,
                                    &i, "bench_store");
    if (shared < 0)
      return 2;
    if (shared > 0)
      continue;
    if (strcmp(a, "--only") == 0 && val) {
      if (parse_only(val, bn.enabled) != 0) {
        fprintf(stderr, "bench_store: --only: unknown contender in '%s'\n",
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

  printf("bench_store: durable log appends, mode %s (%u rounds, each "
         "measurement >= %.2f s and >= %u commits, <= %.2f s)\n",
         bn.b.mode, bn.b.rounds, bn.b.min_secs, bn.b.min_commits,
         bn.b.max_secs);
  bench_fs fi;
  if (bench_scratch_create("bench_store", o.dir, bn.scratch, sizeof bn.scratch,
                           &fi) != 0)
    return 1;
  fflush(stdout);
  bench_catch_signals();

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
  bench_fill_payload(bn.payload, max_payload);
  for (size_t i = 0; i < MLOG_KEY_BYTES; i++)
    bn.key.bytes[i] = (unsigned char)(0xa5 ^ (i * 7));

  contender to_run[C_COUNT];
  unsigned n_run = 0;
  for (int c = 0; c < C_COUNT; c++)
    if (bn.enabled[c])
      to_run[n_run++] = (contender)c;
  size_t nrows = 0;
  for (size_t si = 0; si < N_SIZES; si++) {
    for (size_t bi = 0; bi < N_BATCHES && !bench_interrupted; bi++) {
      uint32_t plen = payload_sizes[si];
      size_t batch = batch_sizes[bi];
      if ((o.payload && (long)plen != o.payload) ||
          (o.batch && (long)batch != o.batch))
        continue;
      if (bench_encode_batch(bn.payload, plen, batch, encoded) != MLOG_OK) {
        fprintf(stderr, "bench_store: cannot encode the batch\n");
        goto cleanup;
      }
      fprintf(stderr, "bench_store: payload %u B, batch %zu:", plen, batch);
      for (unsigned r = 0; r < bn.b.rounds && !bench_interrupted; r++) {
        fprintf(stderr, " %u", r + 1);
        for (unsigned k = 0; k < n_run && !bench_interrupted; k++) {
          contender c = to_run[(k + r) % n_run];
          if (measure(&bn, c, plen, batch, encoded, recs,
                      &samples[(size_t)c * MAX_ROUNDS + r]) != 0)
            goto cleanup;
        }
      }
      fprintf(stderr, "\n");
      if (bench_interrupted)
        break;
      row *rw = &rows[nrows++];
      rw->payload_len = plen;
      rw->batch = batch;
      const sample *raw_s = &samples[(size_t)C_RAW * MAX_ROUNDS];
      const sample *lmdb_s = &samples[(size_t)C_LMDB * MAX_ROUNDS];
      for (int c = 0; c < C_COUNT; c++) {
        const sample *s = &samples[(size_t)c * MAX_ROUNDS];
        rw->med[c] = *bench_median_sample(s, bn.b.rounds);
        rw->to_raw[c] = bench_paired_ratio(s, raw_s, bn.b.rounds);
        rw->to_lmdb[c] = bench_paired_ratio(s, lmdb_s, bn.b.rounds);
      }
    }
  }
  if (bench_interrupted) {
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
  if (o.json != NULL && write_json(o.json, &bn, rows, nrows, &fi) != 0)
    goto cleanup;
  status = 0;
cleanup:
  if (bench_remove_tree(bn.scratch) != 0)
    fprintf(stderr, "bench_store: cannot remove %s: %s\n", bn.scratch,
            strerror(errno));
  bench_lat_free(&bn.lat);
  free(bn.payload);
  free(recs);
  free(encoded);
  free(samples);
  return bench_interrupted ? 130 : status;
}
