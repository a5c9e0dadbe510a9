/* benchlib.h - what the benchmarks share: options, timing, statistics,
 * scratch directories, the raw fdatasync baseline, JSON results */
#ifndef MLOG_BENCH_BENCHLIB_H
#define MLOG_BENCH_BENCHLIB_H

/*
 * Every bench/bench_*.c program is linked with bench/benchlib.c. The
 * conventions they share:
 *
 *   - contenders are measured in interleaved rounds (the order rotates each
 *     round) on fresh directories, so that machine noise hits them alike;
 *   - a row reports each contender's median round, and its ratio to a
 *     baseline is the median over rounds of the ratio within each round;
 *   - the physical limit is one write + fdatasync per batch into a ring file
 *     written with zeros and synced before the run (the raw baseline);
 *   - scratch directories go beside the executable, else /var/tmp, else
 *     /tmp, never on a memory filesystem when anything else is there;
 *   - --quick / --full / --json FILE, and a JSON array of results objects
 *     {name, params, metric, value, unit, baseline, baseline_value, ratio}
 *     that bench/run.sh merges.
 *
 * Functions that can fail return 0, or -1 with the cause written to the
 * caller's err[0..errlen) (or printed, where they say so).
 */

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mlog/process.h>

#define BENCH_MAX_ROUNDS 99

/* ------------------------------------------------------------------------ */
/* Options and budgets                                                      */

/* How long each measurement runs. */
typedef struct bench_budget {
  const char *mode;     /* "quick", "default", "full" */
  unsigned rounds;      /* interleaved rounds; the median is reported */
  double min_secs;      /* timed seconds at least ... */
  unsigned min_commits; /* ... and commits (batches, messages) at least ... */
  double max_secs;      /* ... unless the timed seconds reach this */
} bench_budget;

/* The options every benchmark takes. */
typedef struct bench_opts {
  bench_budget b;
  const char *dir;  /* --dir: parent of the scratch directory, or NULL */
  const char *json; /* --json: where the results go, or NULL */
  bool verbose;     /* --verbose: every measurement on stderr */
  long rounds;      /* --rounds N (0: the budget's) */
  double secs;      /* --seconds S (0: the budget's) */
  long payload;     /* --payload BYTES: only that size (0: all) */
  long batch;       /* --batch N: only that batch size (0: all) */
} bench_opts;

/* Consume argv[*i] (and its value, advancing *i) when it is one of the
 * shared options: --quick, --full (which pick `quick` or `full` as the
 * budget), --dir, --json, --rounds, --seconds, --payload, --batch,
 * --verbose/-v. Returns 1 when
 * consumed, 0 when the option is not a shared one, -1 after printing why a
 * value is bad (prefixed with prog). */
int bench_parse_option(bench_opts *o, const bench_budget *quick,
                       const bench_budget *full, int argc, char **argv, int *i,
                       const char *prog);

/* Apply --rounds and --seconds to the chosen budget. */
void bench_opts_finish(bench_opts *o);

/* ------------------------------------------------------------------------ */
/* Signals, time, statistics                                                */

/* Set by SIGINT, SIGTERM and SIGHUP once bench_catch_signals has run:
 * measurements stop early and the program cleans up. */
extern volatile sig_atomic_t bench_interrupted;
void bench_catch_signals(void);

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

int bench_cmp_double(const void *a, const void *b);

/* Nearest-rank percentile p (0..100) of sorted v[0..n); 0 when n is 0. */
double bench_percentile(const double *v, size_t n, double p);

/* The median of v[0..n) (sorted in place; the mean of the middle two for
 * even n); 0 when n is 0. */
double bench_median(double *v, size_t n);

/* A growable list of latencies in seconds. */
typedef struct bench_lat {
  double *v;
  size_t n, cap;
} bench_lat;

/* Append one latency; -1 when out of memory. */
int bench_lat_add(bench_lat *l, double secs);
/* Sort the list and give its p50, p99 and maximum in microseconds. */
void bench_lat_summary(bench_lat *l, double *p50_us, double *p99_us,
                       double *max_us);
void bench_lat_free(bench_lat *l);

/* One measurement of one contender. */
typedef struct bench_sample {
  double secs;      /* timed seconds */
  uint64_t commits; /* durable commits (batches) */
  uint64_t records; /* records committed (messages delivered) */
  double p50_us, p99_us, max_us;
} bench_sample;

double bench_records_per_sec(const bench_sample *s);

/* The median of s[0..n) by records/s (the lower one for even n). */
const bench_sample *bench_median_sample(const bench_sample *s, unsigned n);

/* The median over rounds of a's records/s over b's in the same round: the
 * rounds pair the contenders in time, so a slow spell of the machine that
 * hits one round moves both sides of its ratio. */
double bench_paired_ratio(const bench_sample *a, const bench_sample *b,
                          unsigned n);

/* ------------------------------------------------------------------------ */
/* Where a benchmark runs                                                   */

/* The filesystem that holds a directory. */
typedef struct bench_fs {
  char type[64];    /* "ext4" */
  char source[256]; /* "/dev/vda" */
  char mount[1024]; /* "/" */
  char cache[32];   /* the device's write cache: "write back", or "" */
  bool memory;      /* tmpfs or ramfs: fdatasync does nothing */
} bench_fs;

/* Describe the filesystem that holds dirpath (best effort: fields it cannot
 * find stay empty or "unknown"). */
void bench_describe_fs(const char *dirpath, bench_fs *fi);

/* Create prog's scratch directory mlog-bench-XXXXXX in parent (NULL: beside
 * the executable, then /var/tmp, then /tmp; memory filesystems only when
 * there is nothing else) into out[0..len), describe its filesystem into *fi
 * and print where it is (and a warning on a memory filesystem). Returns 0,
 * or -1 after printing why. */
int bench_scratch_create(const char *prog, const char *parent, char *out,
                         size_t len, bench_fs *fi);

/* Remove dirpath and everything under it (0, or -1 with errno set). */
int bench_remove_tree(const char *dirpath);

/* Flush the filesystem that holds dirpath (syncfs), so that the removal of
 * one measurement's files is not charged to the next measurement. */
void bench_settle_fs(const char *dirpath);

/* ------------------------------------------------------------------------ */
/* Records and the raw baseline                                             */

/* Fill buf[0..len) with bytes that do not compress (xorshift). */
void bench_fill_payload(uint8_t *buf, size_t len);

/* Encode `batch` chained, unkeyed DELIVERY records of payload[0..len) into
 * buf (batch * mlog_record_size(len) bytes): the bytes the raw baselines
 * write. Returns an mlog error code. */
int bench_encode_batch(const uint8_t *payload, uint32_t len, size_t batch,
                       uint8_t *buf);

/* The raw baseline: a file of at least 16 MiB and RING_BATCHES batches,
 * written with zeros and synced (size included) when opened, so that a timed
 * fdatasync has only data to flush: no size change, no block allocation.
 * Batches are written one after the other and wrap around. */
typedef struct bench_ring {
  int fd;     /* -1 when closed */
  off_t off;  /* where the next batch goes */
  off_t size; /* bytes of the file */
} bench_ring;

/* Create dirpath and its ring file for batches of batch_bytes. */
int bench_ring_open(bench_ring *r, const char *dirpath, size_t batch_bytes,
                    char *err, size_t errlen);
/* One write of buf[0..len) and one fdatasync. */
int bench_ring_commit(bench_ring *r, const void *buf, size_t len, char *err,
                      size_t errlen);
/* Close the file (not removed); a closed ring is a no-op. */
void bench_ring_close(bench_ring *r);

/* ------------------------------------------------------------------------ */
/* Small shared pieces                                                      */

/* Has a measurement run long enough: the budget's most seconds, or its
 * least seconds and commits (n), or far too long in wall time (since
 * wall0, from bench_now)? */
bool bench_budget_spent(const bench_budget *b, double timed, uint64_t n,
                        double wall0);

/* Set enabled[0..n) to exactly the names of the comma-separated list
 * (from names[0..n)). Returns 0, or -1 when a name is unknown. */
int bench_parse_list(const char *list, const char *const *names, int n,
                     bool *enabled);

/* A decimal count in [lo, hi] into *out. Returns 0, or -1 when val is not
 * one (signs, trailing characters, out of range). */
int bench_parse_count(const char *val, uint64_t lo, uint64_t hi, uint64_t *out);

/* a / b, 0 when b is 0. */
double bench_per(uint64_t a, uint64_t b);

/* Little-endian u64 in 8 bytes. */
void bench_put_le64(uint8_t *p, uint64_t v);
uint64_t bench_get_le64(const uint8_t *p);

/* The benchmark applications' state: how many messages they delivered and
 * a byte they fold every message into (the "work"). */
typedef struct bench_fold {
  uint64_t count;
  uint8_t fold;
} bench_fold;

/* One delivery of msg[0..len): counted, its last byte folded in. */
void bench_fold_add(bench_fold *f, const void *msg, size_t len);

/* The mlog_app snapshot and restore callbacks of an application whose state
 * arg begins with a bench_fold (9 bytes; NULL state: the initial one). */
int bench_fold_snapshot(void *arg, mlog_buf *out);
int bench_fold_restore(void *arg, const void *state, size_t len);

/* ------------------------------------------------------------------------ */
/* JSON results                                                             */

/* Append {name, params, metric, value, unit, baseline, baseline_value,
 * ratio} to arr; params is stolen; baseline NULL writes nulls for the three
 * baseline fields. Returns 0 or -1. */
int bench_json_add(json_t *arr, const char *name, json_t *params,
                   const char *metric, double value, const char *unit,
                   const char *baseline, double baseline_value, double ratio);

/* Write arr to path (indented). Returns 0, or -1 after printing why. */
int bench_json_write(const char *prog, const json_t *arr, const char *path);

#endif /* MLOG_BENCH_BENCHLIB_H */
