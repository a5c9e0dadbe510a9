/* benchlib.c - what the benchmarks share: options, timing, statistics,
 * scratch directories, the raw fdatasync baseline, JSON results */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syncfs, nftw */
#endif

#include "bench/benchlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <mlog/mlog.h>

#define ZERO_CHUNK_BYTES ((size_t)1 << 20)
#define MIN_RING_BYTES ((size_t)16 << 20)
#define RING_BATCHES 32

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

int bench_parse_option(bench_opts *o, const bench_budget *quick,
                       const bench_budget *full, int argc, char **argv, int *i,
                       const char *prog) {
  const char *a = argv[*i];
  const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (strcmp(a, "--quick") == 0) {
    o->b = *quick;
    return 1;
  }
  if (strcmp(a, "--full") == 0) {
    o->b = *full;
    return 1;
  }
  if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
    o->verbose = true;
    return 1;
  }
  if (val == NULL)
    return 0;
  if (strcmp(a, "--dir") == 0) {
    o->dir = val;
  } else if (strcmp(a, "--json") == 0) {
    o->json = val;
  } else if (strcmp(a, "--rounds") == 0) {
    char *end;
    o->rounds = strtol(val, &end, 10);
    if (*end || o->rounds < 1 || o->rounds > BENCH_MAX_ROUNDS) {
      fprintf(stderr, "%s: --rounds wants 1..%d\n", prog, BENCH_MAX_ROUNDS);
      return -1;
    }
  } else if (strcmp(a, "--payload") == 0 || strcmp(a, "--batch") == 0) {
    char *end;
    long v = strtol(val, &end, 10);
    if (*end || v <= 0) {
      fprintf(stderr, "%s: %s wants a positive number\n", prog, a);
      return -1;
    }
    *(a[2] == 'p' ? &o->payload : &o->batch) = v;
  } else if (strcmp(a, "--seconds") == 0) {
    char *end;
    o->secs = strtod(val, &end);
    if (*end || !(o->secs > 0 && o->secs < 3600)) {
      fprintf(stderr, "%s: --seconds wants a positive number\n", prog);
      return -1;
    }
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

void bench_opts_finish(bench_opts *o) {
  if (o->rounds > 0)
    o->b.rounds = (unsigned)o->rounds;
  if (o->secs > 0) {
    o->b.min_secs = o->secs;
    if (o->b.max_secs < 4 * o->secs)
      o->b.max_secs = 4 * o->secs;
  }
}

/* ------------------------------------------------------------------------ */
/* Signals, time, statistics                                                */

volatile sig_atomic_t bench_interrupted;

static void on_signal(int sig) {
  (void)sig;
  bench_interrupted = 1;
}

void bench_catch_signals(void) {
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_percentile(const double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  return v[rank == 0 ? 0 : rank - 1];
}

double bench_median(double *v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof v[0], bench_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_lat_add(bench_lat *l, double secs) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4096;
    double *p = realloc(l->v, cap * sizeof *p);
    if (p == NULL)
      return -1;
    l->v = p;
    l->cap = cap;
  }
  l->v[l->n++] = secs;
  return 0;
}

void bench_lat_summary(bench_lat *l, double *p50_us, double *p99_us,
                       double *max_us) {
  qsort(l->v, l->n, sizeof *l->v, bench_cmp_double);
  *p50_us = bench_percentile(l->v, l->n, 50) * 1e6;
  *p99_us = bench_percentile(l->v, l->n, 99) * 1e6;
  *max_us = l->n ? l->v[l->n - 1] * 1e6 : 0;
}

void bench_lat_free(bench_lat *l) {
  free(l->v);
  *l = (bench_lat){0};
}

double bench_records_per_sec(const bench_sample *s) {
  return s->secs > 0 ? (double)s->records / s->secs : 0;
}

const bench_sample *bench_median_sample(const bench_sample *s, unsigned n) {
  const bench_sample *order[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++)
    order[i] = &s[i];
  for (unsigned i = 1; i < n; i++) /* insertion sort: n is tiny */
    for (unsigned j = i; j > 0 && bench_records_per_sec(order[j - 1]) >
                                      bench_records_per_sec(order[j]);
         j--) {
      const bench_sample *t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  return order[(n - 1) / 2];
}

double bench_paired_ratio(const bench_sample *a, const bench_sample *b,
                          unsigned n) {
  double v[BENCH_MAX_ROUNDS];
  for (unsigned i = 0; i < n; i++) {
    double base = bench_records_per_sec(&b[i]);
    v[i] = base > 0 ? bench_records_per_sec(&a[i]) / base : 0;
  }
  return bench_median(v, n);
}

/* ------------------------------------------------------------------------ */
/* Where a benchmark runs                                                   */

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

/* The longest mount point of /proc/self/mountinfo that contains dirpath,
 * and statfs for memory filesystems. */
void bench_describe_fs(const char *dirpath, bench_fs *fi) {
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

/* The default parent of the scratch directory: beside the executable (the
 * build directory), then /var/tmp, then /tmp; memory filesystems only when
 * there is nothing else. */
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

int bench_scratch_create(const char *prog, const char *parent, char *out,
                         size_t len, bench_fs *fi) {
  char def[PATH_MAX];
  if (parent == NULL) {
    default_parent(def, sizeof def);
    parent = def;
  }
  if (snprintf(out, len, "%s/mlog-bench-XXXXXX", parent) >= (int)len ||
      mkdtemp(out) == NULL) {
    fprintf(stderr, "%s: cannot create a scratch directory in %s: %s\n", prog,
            parent, strerror(errno));
    return -1;
  }
  bench_describe_fs(out, fi);
  printf("scratch: %s\nfilesystem: %s on %s (mounted on %s)%s%s\n", out,
         fi->type, fi->source[0] ? fi->source : "?",
         fi->mount[0] ? fi->mount : "?", fi->cache[0] ? ", device cache: " : "",
         fi->cache);
  if (fi->memory) {
    printf("WARNING: a memory filesystem: fdatasync does nothing here, the "
           "numbers say nothing about durability (use --dir on a disk)\n");
    fprintf(stderr, "%s: WARNING: %s is on %s\n", prog, out, fi->type);
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int bench_remove_tree(const char *dirpath) {
  struct stat sb;
  if (lstat(dirpath, &sb) != 0 && errno == ENOENT)
    return 0;
  return nftw(dirpath, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_settle_fs(const char *dirpath) {
  int dfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    syncfs(dfd);
    close(dfd);
  }
}

/* ------------------------------------------------------------------------ */
/* Records and the raw baseline                                             */

void bench_fill_payload(uint8_t *buf, size_t len) {
  uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buf[i] = (uint8_t)x;
  }
}

int bench_encode_batch(const uint8_t *payload, uint32_t len, size_t batch,
                       uint8_t *buf) {
  size_t rec_bytes = mlog_record_size(len);
  uint8_t prev[MLOG_TAG_BYTES];
  mlog_chain_genesis(0, NULL, prev);
  for (size_t i = 0; i < batch; i++) {
    mlog_record rec = {.type = MLOG_REC_DELIVERY,
                       .src = 1,
                       .ssn = i + 1,
                       .rsn = i + 1,
                       .lsn = i + 1,
                       .payload = payload,
                       .payload_len = len};
    int rc =
        mlog_record_encode(&rec, prev, NULL, buf + i * rec_bytes, rec_bytes);
    if (rc != MLOG_OK)
      return rc;
    memcpy(prev, rec.tag, MLOG_TAG_BYTES);
  }
  return MLOG_OK;
}

int bench_ring_open(bench_ring *r, const char *dirpath, size_t batch_bytes,
                    char *err, size_t errlen) {
  static const uint8_t zeros[ZERO_CHUNK_BYTES];
  char path[PATH_MAX];
  *r = (bench_ring){.fd = -1};
  if (mkdir(dirpath, 0750) != 0) {
    snprintf(err, errlen, "mkdir %s: %s", dirpath, strerror(errno));
    return -1;
  }
  if (snprintf(path, sizeof path, "%s/raw.log", dirpath) >= (int)sizeof path) {
    snprintf(err, errlen, "%s: path too long", dirpath);
    return -1;
  }
  r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (r->fd < 0) {
    snprintf(err, errlen, "open %s: %s", path, strerror(errno));
    return -1;
  }
  size_t size = RING_BATCHES * batch_bytes;
  if (size < MIN_RING_BYTES)
    size = MIN_RING_BYTES;
  r->size = (off_t)size;
  for (off_t at = 0; at < r->size;) {
    ssize_t n = pwrite(r->fd, zeros, sizeof zeros, at);
    if (n <= 0) {
      snprintf(err, errlen, "zero-filling the raw file: %s",
               n < 0 ? strerror(errno) : "short write");
      return -1;
    }
    at += n;
  }
  if (fsync(r->fd) != 0) {
    snprintf(err, errlen, "fsync of the raw file: %s", strerror(errno));
    return -1;
  }
  return 0;
}

int bench_ring_commit(bench_ring *r, const void *buf, size_t len, char *err,
                      size_t errlen) {
  ssize_t n = pwrite(r->fd, buf, len, r->off);
  if (n != (ssize_t)len) {
    snprintf(err, errlen, "write: %s", n < 0 ? strerror(errno) : "short write");
    return -1;
  }
  if (fdatasync(r->fd) != 0) {
    snprintf(err, errlen, "fdatasync: %s", strerror(errno));
    return -1;
  }
  r->off += (off_t)len;
  if (r->off + (off_t)len > r->size)
    r->off = 0;
  return 0;
}

void bench_ring_close(bench_ring *r) {
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* JSON results                                                             */

int bench_json_add(json_t *arr, const char *name, json_t *params,
                   const char *metric, double value, const char *unit,
                   const char *baseline, double baseline_value, double ratio) {
  json_t *o = json_object();
  if (o == NULL) {
    json_decref(params);
    return -1;
  }
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
  return json_array_append_new(arr, o) == 0 ? 0 : -1;
}

/* Whether o is one results object: the eight keys and nothing else, of the
 * right types (a number is finite: jansson has no NaN), and the baseline's
 * value and ratio present exactly when it is. */
static bool result_valid(const json_t *o) {
  const json_t *base = json_object_get(o, "baseline");
  bool has_base = json_is_string(base);
  const json_t *bv = json_object_get(o, "baseline_value");
  const json_t *ratio = json_object_get(o, "ratio");
  return json_is_object(o) && json_object_size(o) == 8 &&
         json_is_string(json_object_get(o, "name")) &&
         json_is_object(json_object_get(o, "params")) &&
         json_is_string(json_object_get(o, "metric")) &&
         json_is_number(json_object_get(o, "value")) &&
         json_is_string(json_object_get(o, "unit")) &&
         (has_base || json_is_null(base)) &&
         (has_base ? json_is_number(bv) && json_is_number(ratio)
                   : json_is_null(bv) && json_is_null(ratio));
}

int bench_json_write(const char *prog, const json_t *arr, const char *path) {
  size_t i;
  const json_t *o;
  json_array_foreach(arr, i, o) {
    if (!result_valid(o)) {
      char *text = json_dumps(o, JSON_COMPACT);
      fprintf(stderr,
              "%s: result %zu is not {name, params, metric, value, unit, "
              "baseline, baseline_value, ratio} (a value not a finite "
              "number?): %s\n",
              prog, i, text ? text : "(out of memory)");
      free(text);
      return -1;
    }
  }
  if (json_array_size(arr) == 0) {
    fprintf(stderr, "%s: no results to write to %s\n", prog, path);
    return -1;
  }
  if (json_dump_file(arr, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) != 0) {
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Small shared pieces                                                      */

bool bench_budget_spent(const bench_budget *b, double timed, uint64_t n,
                        double wall0) {
  return timed >= b->max_secs ||
         (timed >= b->min_secs && n >= b->min_commits) ||
         bench_now() - wall0 > 4 * b->max_secs + 5;
}

int bench_parse_list(const char *list, const char *const *names, int n,
                     bool *enabled) {
  for (int c = 0; c < n; c++)
    enabled[c] = false;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    int found = -1;
    for (int c = 0; c < n; c++)
      if (strlen(names[c]) == len && strncmp(p, names[c], len) == 0)
        found = c;
    if (found < 0)
      return -1;
    enabled[found] = true;
    p += len + (p[len] == ',');
  }
  return 0;
}

int bench_parse_count(const char *val, uint64_t lo, uint64_t hi,
                      uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(val, &end, 10);
  if (errno || end == val || *end || val[0] == '-' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

double bench_per(uint64_t a, uint64_t b) {
  return b ? (double)a / (double)b : 0;
}

void bench_put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (uint8_t)v;
}

uint64_t bench_get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

void bench_fold_add(bench_fold *f, const void *msg, size_t len) {
  f->count++;
  if (len > 0)
    f->fold ^= ((const uint8_t *)msg)[len - 1];
}

int bench_fold_snapshot(void *arg, mlog_buf *out) {
  const bench_fold *f = arg;
  uint8_t s[9];
  bench_put_le64(s, f->count);
  s[8] = f->fold;
  return mlog_buf_append(out, s, sizeof s);
}

int bench_fold_restore(void *arg, const void *state, size_t len) {
  bench_fold *f = arg;
  if (state == NULL) {
    *f = (bench_fold){0};
    return 0;
  }
  if (len != 9)
    return -1;
  f->count = bench_get_le64(state);
  f->fold = ((const uint8_t *)state)[8];
  return 0;
}
