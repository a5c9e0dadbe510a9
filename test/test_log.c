/* test_log.c - unit tests of the log API on LMDB: append, scan, verify, gc */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "core/log.h"
#include "core/store.h"
#include "test/testutil.h"

static char dir[64];
static pid_t child; /* a forked helper not yet reaped (0: none) */

static void setup(void) {
  tu_mkdtemp(dir, sizeof dir);
}

/* A test that fails while its child runs must not leave the child behind. */
static void teardown(void) {
  tu_reap(&child);
  tu_rmtree(dir);
}

/* One timeout for every test: Criterion 2.4.1's runner leaks (an LSan report
 * that fails the sanitizer build) when tests of one executable that run in
 * parallel have different timeouts. */
TestSuite(log, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static mlog_log_config config(uint32_t pid, uint32_t group,
                              const mlog_key *key) {
  mlog_log_config cfg = {.process_id = pid,
                         .group_size = group,
                         .protocol = "test-proto",
                         .key = key};
  return cfg;
}

static mlog_log *open_log(const char *d, unsigned flags,
                          const mlog_log_config *cfg) {
  mlog_log *log = (mlog_log *)0x1;
  int rc = mlog_log_open(d, flags, cfg, &log);
  cr_assert_eq(rc, MLOG_OK, "open %s: %s: %s", d, mlog_errname(rc),
               mlog_log_errmsg(NULL));
  cr_assert_not_null(log);
  return log;
}

/* A new unkeyed log for process 1 of 4 (commits not flushed: speed). */
static mlog_log *create_log(const char *d) {
  mlog_log_config cfg = config(1, 4, NULL);
  return open_log(d, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
}

/* Append n records whose lsns must be from..from+n-1, each with len payload
 * bytes, in one call; record fields encode the lsn (ssn == lsn). */
static void append_range(mlog_log *log, uint64_t from, size_t n, uint32_t len) {
  mlog_record *recs = calloc(n, sizeof *recs);
  uint8_t *payload = malloc(n * (size_t)len + 1);
  cr_assert(recs != NULL && payload != NULL);
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = payload + i * (size_t)len;
    tu_fill(p, len, from + i);
    recs[i] = tu_record(from + i, p, len);
  }
  int rc = mlog_log_append(log, recs, n);
  cr_assert_eq(rc, MLOG_OK, "append: %s: %s", mlog_errname(rc),
               mlog_log_errmsg(log));
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(recs[i].lsn, from + i, "lsn %llu, expected %llu",
                 (unsigned long long)recs[i].lsn,
                 (unsigned long long)(from + i));
  free(payload);
  free(recs);
}

/* Verify and expect a clean report with these counts. */
static void verify_clean(mlog_log *log, uint64_t records, uint64_t first,
                         uint64_t last) {
  mlog_verify_report rep;
  memset(&rep, 0x5a, sizeof rep);
  int rc = mlog_log_verify(log, &rep, NULL, NULL);
  cr_assert_eq(rc, MLOG_OK, "verify: %s: %s", mlog_errname(rc),
               mlog_log_errmsg(log));
  cr_assert_eq(rep.problem, MLOG_OK, "verify found %s: %s",
               mlog_errname(rep.problem), rep.detail);
  cr_assert_eq(rep.records, records, "records %llu, expected %llu",
               (unsigned long long)rep.records, (unsigned long long)records);
  cr_assert_eq(rep.first_lsn, first);
  cr_assert_eq(rep.last_lsn, last);
}

/* Verify and expect `problem` at `bad_lsn` with a detail starting with
 * `prefix`. */
static void verify_finds(mlog_log *log, int problem, uint64_t bad_lsn,
                         const char *prefix) {
  mlog_verify_report rep;
  int rc = mlog_log_verify(log, &rep, NULL, NULL);
  cr_assert_eq(rc, MLOG_OK, "verify: %s: %s", mlog_errname(rc),
               mlog_log_errmsg(log));
  cr_assert_eq(rep.problem, problem, "found %s, expected %s: %s",
               mlog_errname(rep.problem), mlog_errname(problem), rep.detail);
  cr_assert_eq(rep.bad_lsn, bad_lsn, "bad lsn %llu, expected %llu (%s)",
               (unsigned long long)rep.bad_lsn, (unsigned long long)bad_lsn,
               rep.detail);
  cr_assert_eq(strncmp(rep.detail, prefix, strlen(prefix)), 0,
               "detail '%s' does not start with '%s'", rep.detail, prefix);
}

static mlog_log_info info_of(mlog_log *log) {
  mlog_log_info info;
  int rc = mlog_log_get_info(log, &info);
  cr_assert_eq(rc, MLOG_OK, "info: %s", mlog_errname(rc));
  return info;
}

/* What a scan saw. */
typedef struct seen {
  uint64_t n, first, last;
  uint64_t stop_after; /* return stop_value after this many calls (0: never) */
  int stop_value;
  int bad; /* a record out of order or with wrong contents */
} seen;

static int collect(void *arg, const mlog_record *r) {
  seen *s = arg;
  if (s->n == 0)
    s->first = r->lsn;
  else if (r->lsn != s->last + 1)
    s->bad = 1;
  if (r->ssn != r->lsn || r->src != (uint32_t)r->lsn ||
      r->type != MLOG_REC_DELIVERY + r->lsn % 5 ||
      !tu_check_fill(r->payload, r->payload_len, r->lsn))
    s->bad = 1;
  s->last = r->lsn;
  s->n++;
  if (s->stop_after != 0 && s->n == s->stop_after)
    return s->stop_value;
  return 0;
}

static seen scan_all(mlog_log *log, uint64_t from) {
  seen s = {0};
  int rc = mlog_log_scan(log, from, collect, &s);
  cr_assert_eq(rc, MLOG_OK, "scan: %s: %s", mlog_errname(rc),
               mlog_log_errmsg(log));
  cr_assert_eq(s.bad, 0, "scan saw a bad or out-of-order record");
  return s;
}

/* ------------------------------------------------------------------------ */
/* Create, append, reopen, scan                                             */

Test(log, create_append_reopen_scan) {
  mlog_log *log = create_log(dir);
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.process_id, 1u);
  cr_assert_eq(info.group_size, 4u);
  cr_assert_str_eq(info.protocol, "test-proto");
  cr_assert_eq(info.format_major, (unsigned)MLOG_FORMAT_MAJOR);
  cr_assert_eq(info.format_minor, (unsigned)MLOG_FORMAT_MINOR);
  cr_assert_not(info.keyed);
  cr_assert_eq(info.records, 0u);
  cr_assert_eq(info.first_lsn, 0u);
  cr_assert_eq(info.last_lsn, 0u);
  cr_assert_eq(info.next_lsn, 1u);
  verify_clean(log, 0, 0, 0);

  append_range(log, 1, 10, 100);
  append_range(log, 11, 1, 0);
  append_range(log, 12, 3, 5000);
  verify_clean(log, 14, 1, 14);
  mlog_log_close(log);

  log = open_log(dir, MLOG_LOG_NOSYNC, NULL);
  info = info_of(log);
  cr_assert_eq(info.records, 14u);
  cr_assert_eq(info.first_lsn, 1u);
  cr_assert_eq(info.last_lsn, 14u);
  cr_assert_gt(info.file_bytes, 0u);
  cr_assert_geq(info.map_bytes, info.used_bytes);
  cr_assert_gt(info.used_bytes, 0u);
  cr_assert_str_eq(info.protocol, "test-proto");

  seen s = scan_all(log, 0);
  cr_assert_eq(s.n, 14u);
  cr_assert_eq(s.first, 1u);
  cr_assert_eq(s.last, 14u);
  s = scan_all(log, 12);
  cr_assert_eq(s.n, 3u, "from_lsn filters");
  cr_assert_eq(s.first, 12u);
  s = scan_all(log, 15);
  cr_assert_eq(s.n, 0u, "nothing at or after the end");

  /* lsns continue across the reopen, without a gap. */
  append_range(log, 15, 5, 10);
  mlog_log_close(log);
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(log, 19, 1, 19);
  s = scan_all(log, 1);
  cr_assert_eq(s.n, 19u);
  mlog_log_close(log);
}

Test(log, scan_stop_value_is_returned) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 10, 8);
  seen s = {.stop_after = 3, .stop_value = 42};
  cr_assert_eq(mlog_log_scan(log, 0, collect, &s), 42);
  cr_assert_eq(s.n, 3u, "no call after the stop");
  cr_assert_eq(s.last, 3u);
  seen t = {.stop_after = 1, .stop_value = -7};
  cr_assert_eq(mlog_log_scan(log, 5, collect, &t), -7);
  cr_assert_eq(t.n, 1u);
  cr_assert_eq(t.first, 5u);
  cr_assert_eq(mlog_log_scan(log, 0, NULL, NULL), MLOG_EINVAL);
  mlog_log_close(log);
}

Test(log, group_append_of_512_records) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 3, 16);
  append_range(log, 4, 512, 200);
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.records, 515u);
  cr_assert_eq(info.last_lsn, 515u);
  verify_clean(log, 515, 1, 515);
  seen s = scan_all(log, 0);
  cr_assert_eq(s.n, 515u);
  /* An empty batch is a no-op. */
  cr_assert_eq(mlog_log_append(log, NULL, 0), MLOG_OK);
  append_range(log, 516, 1, 1);
  mlog_log_close(log);
}

Test(log, map_grows_from_32k) {
  mlog_log_config cfg = config(0, 1, NULL);
  cfg.map_size = 32 * 1024;
  mlog_log *log = open_log(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
  uint64_t lsn = 1, bytes = 0;
  /* Batches of different shapes: many small, some big (overflow pages). */
  static const struct {
    size_t n;
    uint32_t len;
  } shape[] = {{64, 100}, {4, 65536}, {1, 1u << 20}, {200, 1000}, {1, 7}};
  for (int round = 0; bytes <= 10u << 20; round++) {
    size_t n = shape[round % 5].n;
    uint32_t len = shape[round % 5].len;
    append_range(log, lsn, n, len);
    lsn += n;
    bytes += n * (uint64_t)len;
  }
  mlog_log_info info = info_of(log);
  cr_assert_gt(info.map_bytes, 10u << 20, "the map grew");
  cr_assert_eq(info.records, lsn - 1);
  verify_clean(log, lsn - 1, 1, lsn - 1);
  mlog_log_close(log);

  /* Reopened with the tiny map again: the committed data still fits. */
  log = open_log(dir, 0, &cfg);
  verify_clean(log, lsn - 1, 1, lsn - 1);
  append_range(log, lsn, 2, 300000);
  mlog_log_close(log);
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  seen s = scan_all(log, 0);
  cr_assert_eq(s.n, lsn + 1);
  mlog_log_close(log);
}

/* ------------------------------------------------------------------------ */
/* Garbage collection                                                       */

Test(log, discard_before_keeps_the_chain) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 20, 50);
  cr_assert_eq(mlog_log_discard_before(log, 8), MLOG_OK);
  verify_clean(log, 13, 8, 20);
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.records, 13u);
  cr_assert_eq(info.first_lsn, 8u);
  cr_assert_eq(info.last_lsn, 20u);
  cr_assert_eq(info.next_lsn, 21u);
  seen s = scan_all(log, 0);
  cr_assert_eq(s.n, 13u);
  cr_assert_eq(s.first, 8u);
  /* Below the base already: nothing to do. */
  cr_assert_eq(mlog_log_discard_before(log, 3), MLOG_OK);
  cr_assert_eq(mlog_log_discard_before(log, 8), MLOG_OK);
  verify_clean(log, 13, 8, 20);
  mlog_log_close(log);

  log = open_log(dir, MLOG_LOG_NOSYNC, NULL);
  verify_clean(log, 13, 8, 20);
  append_range(log, 21, 5, 50);
  cr_assert_eq(mlog_log_discard_before(log, 15), MLOG_OK);
  verify_clean(log, 11, 15, 25);
  mlog_log_close(log);
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(log, 11, 15, 25);
  cr_assert_eq(mlog_log_discard_before(log, 20), MLOG_ERDONLY);
  mlog_log_close(log);
}

Test(log, discard_everything_and_go_on) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 10, 30);
  cr_assert_eq(mlog_log_discard_before(log, 12), MLOG_EINVAL, "beyond the end");
  cr_assert_eq(mlog_log_discard_before(log, UINT64_MAX), MLOG_EINVAL);
  verify_clean(log, 10, 1, 10);
  cr_assert_eq(mlog_log_discard_before(log, 11), MLOG_OK);
  verify_clean(log, 0, 0, 0);
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.records, 0u);
  cr_assert_eq(info.next_lsn, 11u, "the chain resumes after the collected");
  mlog_log_close(log);
  /* A reader (no append head) is told where the chain resumes too. */
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  cr_assert_eq(info_of(log).next_lsn, 11u);
  mlog_log_close(log);

  log = open_log(dir, MLOG_LOG_NOSYNC, NULL);
  verify_clean(log, 0, 0, 0);
  append_range(log, 11, 4, 30);
  verify_clean(log, 4, 11, 14);
  mlog_log_close(log);
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(log, 4, 11, 14);
  mlog_log_close(log);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

Test(log, keyed_log_needs_its_key) {
  mlog_key key, wrong;
  memset(key.bytes, 0x11, sizeof key.bytes);
  memset(wrong.bytes, 0x22, sizeof wrong.bytes);
  mlog_log_config cfg = config(2, 3, &key);
  mlog_log *log = open_log(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
  append_range(log, 1, 6, 40);
  cr_assert(info_of(log).keyed);
  verify_clean(log, 6, 1, 6);
  mlog_log_close(log);

  mlog_log *bad = (mlog_log *)0x1;
  cr_assert_eq(mlog_log_open(dir, 0, NULL, &bad), MLOG_ENOKEY);
  cr_assert_null(bad);
  cr_assert_str_neq(mlog_log_errmsg(NULL), "");
  mlog_log_config nokey = config(2, 3, NULL);
  cr_assert_eq(mlog_log_open(dir, 0, &nokey, &bad), MLOG_ENOKEY);
  mlog_log_config wrongcfg = config(2, 3, &wrong);
  cr_assert_eq(mlog_log_open(dir, 0, &wrongcfg, &bad), MLOG_EKEY);
  cr_assert_null(bad);
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_RDONLY, &wrongcfg, &bad), MLOG_EKEY);

  /* Read-only without the key: info works, checking tags does not. */
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  mlog_log_info info = info_of(log);
  cr_assert(info.keyed);
  cr_assert_eq(info.records, 6u);
  mlog_verify_report rep;
  cr_assert_eq(mlog_log_verify(log, &rep, NULL, NULL), MLOG_ENOKEY);
  seen s = {0};
  cr_assert_eq(mlog_log_scan(log, 0, collect, &s), MLOG_ENOKEY);
  cr_assert_eq(s.n, 0u, "no callback when the scan fails");
  mlog_log_close(log);

  /* With the key: the stored tags are MACs under it. */
  log = open_log(dir, 0, &cfg);
  verify_clean(log, 6, 1, 6);
  append_range(log, 7, 2, 40);
  mlog_log_close(log);

  mlogi_store *st;
  mlogi_errbuf eb;
  cr_assert_eq(mlogi_store_open(dir, MLOGI_STORE_RDONLY, 0, &st, &eb), MLOG_OK,
               "%s", eb.msg);
  mlogi_view *v;
  cr_assert_eq(mlogi_view_begin(st, &v, &eb), MLOG_OK);
  uint8_t k[8];
  mlogi_put_be64(k, 1);
  const void *val;
  size_t vlen;
  cr_assert_eq(mlogi_view_get(v, MLOGI_DB_LOG, k, 8, &val, &vlen), MLOG_OK);
  uint8_t g_keyed[MLOG_TAG_BYTES], g_plain[MLOG_TAG_BYTES];
  mlog_chain_genesis(2, &key, g_keyed);
  mlog_chain_genesis(2, NULL, g_plain);
  cr_assert_eq(mlog_record_check(val, vlen, g_keyed, &key), MLOG_OK);
  cr_assert_eq(mlog_record_check(val, vlen, g_plain, NULL), MLOG_EBADTAG);
  cr_assert_eq(mlog_record_check(val, vlen, g_keyed, &wrong), MLOG_EBADTAG);
  mlogi_view_end(v);
  mlogi_store_close(st);
}

Test(log, unkeyed_log_refuses_a_key) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 2, 4);
  mlog_log_close(log);
  mlog_key key;
  memset(key.bytes, 3, sizeof key.bytes);
  mlog_log_config cfg = config(1, 4, &key);
  mlog_log *bad;
  cr_assert_eq(mlog_log_open(dir, 0, &cfg, &bad), MLOG_EKEY);
  cr_assert_null(bad);
}

/* ------------------------------------------------------------------------ */
/* One writer; readers beside a writer                                      */

/* Whether another process sees LMDB's lock on DIR/lock.mdb held. Every
 * process that has the environment open holds a shared fcntl lock on its
 * first byte; the first process to open it takes that lock exclusively and
 * resets the lock table (reader slots, mutexes). A process whose lock is gone
 * can therefore have the lock table reset under it by the next opener. */
static bool lmdb_lock_held(void) {
  char path[256];
  tu_path(path, sizeof path, dir, "lock.mdb");
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    int fd = open(path, O_RDWR);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
    if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0)
      _exit(2);
    _exit(fl.l_type == F_UNLCK ? 0 : 1);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  child = 0;
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 2);
  return WEXITSTATUS(status) == 1;
}

Test(log, second_writer_in_the_same_process_is_busy) {
  mlog_log *a = create_log(dir);
  append_range(a, 1, 5, 20);
  cr_assert(lmdb_lock_held());
  mlog_log *b = (mlog_log *)0x1;
  cr_assert_eq(mlog_log_open(dir, 0, NULL, &b), MLOG_EBUSY);
  cr_assert_null(b);
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_CREATE, NULL, &b), MLOG_EBUSY);
  /* The refused open must not disturb the first writer: its data... */
  append_range(a, 6, 5, 20);
  verify_clean(a, 10, 1, 10);
  /* ...nor its LMDB lock (closing a second descriptor of lock.mdb in this
   * process drops every fcntl lock the process holds on it). */
  cr_assert(lmdb_lock_held(), "the refused open dropped the writer's lock");
  mlog_log_close(a);
  a = open_log(dir, 0, NULL);
  verify_clean(a, 10, 1, 10);
  append_range(a, 11, 1, 20);
  mlog_log_close(a);
}

/* A second handle in the writer's process may be refused (EBUSY) or work,
 * but must never silently break the writer's locking. */
Test(log, reader_in_the_writers_process_keeps_its_lock) {
  mlog_log *a = create_log(dir);
  append_range(a, 1, 5, 20);
  mlog_log *r;
  int rc = mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &r);
  cr_assert(rc == MLOG_OK || rc == MLOG_EBUSY, "%s", mlog_errname(rc));
  if (rc == MLOG_OK) {
    verify_clean(r, 5, 1, 5);
    mlog_log_close(r);
  }
  append_range(a, 6, 5, 20);
  verify_clean(a, 10, 1, 10);
  cr_assert(lmdb_lock_held(), "closing a reader dropped the writer's lock");
  mlog_log_close(a);
}

/* Read one byte from fd (a pipe), failing the test on EOF or error. */
static char wait_byte(int fd) {
  char c;
  ssize_t n;
  while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
    ;
  cr_assert_eq(n, 1, "the child went away");
  return c;
}

static void send_byte(int fd, char c) {
  cr_assert_eq(write(fd, &c, 1), 1);
}

static int child_status(pid_t pid) {
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  child = 0;
  cr_assert(WIFEXITED(status), "child died (signal %d)",
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return WEXITSTATUS(status);
}

Test(log, second_writer_in_a_child_process_is_busy) {
  mlog_log *a = create_log(dir);
  append_range(a, 1, 3, 20);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    /* The child shares nothing it may use: it only tries to open. */
    mlog_log *b = NULL;
    int rc = mlog_log_open(dir, 0, NULL, &b);
    _exit(rc == MLOG_EBUSY && b == NULL ? 0 : 100 + rc);
  }
  cr_assert_eq(child_status(pid), 0, "the child's open was not EBUSY");
  append_range(a, 4, 3, 20);
  verify_clean(a, 6, 1, 6);
  mlog_log_close(a);
}

Test(log, writer_in_a_child_process_keeps_us_out) {
  mlog_log *a = create_log(dir);
  append_range(a, 1, 3, 20);
  mlog_log_close(a);
  int up[2], down[2];
  cr_assert_eq(pipe(up), 0);
  cr_assert_eq(pipe(down), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    mlog_log *w = NULL;
    int rc = mlog_log_open(dir, MLOG_LOG_NOSYNC, NULL, &w);
    char c = rc == MLOG_OK ? 'o' : 'x';
    if (write(up[1], &c, 1) != 1 || rc != MLOG_OK)
      _exit(1);
    if (read(down[0], &c, 1) != 1) /* hold the log until told */
      _exit(2);
    mlog_log_close(w);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  cr_assert_eq(wait_byte(up[0]), 'o', "the child could not open");
  mlog_log *b = (mlog_log *)0x1;
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_NOSYNC, NULL, &b), MLOG_EBUSY);
  cr_assert_null(b);
  /* Readers are welcome meanwhile. */
  b = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(b, 3, 1, 3);
  mlog_log_close(b);
  send_byte(down[1], 'q');
  cr_assert_eq(child_status(pid), 0);
  b = open_log(dir, MLOG_LOG_NOSYNC, NULL);
  append_range(b, 4, 1, 20);
  mlog_log_close(b);
  close(up[0]);
  close(down[1]);
}

Test(log, reader_beside_a_writing_child_sees_snapshots) {
  /* A small map so that the writer grows it while we read. */
  mlog_log_config cfg = config(1, 4, NULL);
  cfg.map_size = 64 * 1024;
  mlog_log *log = open_log(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
  append_range(log, 1, 10, 100);
  mlog_log_close(log);
  int up[2], down[2];
  cr_assert_eq(pipe(up), 0);
  cr_assert_eq(pipe(down), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    if (fcntl(down[0], F_SETFL, O_NONBLOCK) != 0)
      _exit(1);
    mlog_log *w = NULL;
    if (mlog_log_open(dir, MLOG_LOG_NOSYNC, &cfg, &w) != MLOG_OK)
      _exit(2);
    static uint8_t payload[16 * 4000];
    mlog_record recs[16];
    uint64_t lsn = 11;
    char c = 'r';
    /* Append until told to stop (at most 3000 batches, then just wait). */
    for (int round = 0;; round++) {
      if (round >= 3000) {
        usleep(1000);
        if (read(down[0], &c, 1) >= 0) /* told to stop, or parent gone */
          break;
        continue;
      }
      size_t n = 1 + (size_t)round % 16;
      uint32_t len = (uint32_t)(round * 397 % 4000);
      for (size_t i = 0; i < n; i++) {
        uint8_t *p = payload + i * 4000;
        tu_fill(p, len, lsn + i);
        recs[i] = tu_record(lsn + i, p, len);
      }
      if (mlog_log_append(w, recs, n) != MLOG_OK ||
          recs[n - 1].lsn != lsn + n - 1)
        _exit(3);
      lsn += n;
      /* Reopened with the small map, the writer maps just what it uses and
       * grows the map again soon: many growths for readers to meet. */
      if (round % 4 == 3) {
        mlog_log_close(w);
        if (mlog_log_open(dir, MLOG_LOG_NOSYNC, &cfg, &w) != MLOG_OK)
          _exit(5);
      }
      if (round == 0 && write(up[1], &c, 1) != 1)
        _exit(4);
      if (read(down[0], &c, 1) >= 0)
        break;
    }
    mlog_log_close(w);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  cr_assert_eq(wait_byte(up[0]), 'r');
  /* Opens race with the writer's map growth; every few opens a full check
   * of the snapshot. */
  uint64_t last = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rounds = 0;
  do {
    mlog_log *r = open_log(dir, MLOG_LOG_RDONLY, NULL);
    mlog_log_info info = info_of(r);
    cr_assert_geq(info.records, last, "the log never shrinks");
    if (rounds % 8 == 0) {
      mlog_verify_report rep;
      cr_assert_eq(mlog_log_verify(r, &rep, NULL, NULL), MLOG_OK);
      cr_assert_eq(rep.problem, MLOG_OK, "round %d: %s: %s", rounds,
                   mlog_errname(rep.problem), rep.detail);
      cr_assert_eq(rep.first_lsn, 1u);
      cr_assert_eq(rep.last_lsn, rep.records, "a gapless snapshot");
      cr_assert_geq(rep.last_lsn, info.records, "snapshots never go back");
      last = rep.last_lsn;
      seen s = scan_all(r, 0);
      cr_assert_geq(s.n, rep.records);
    }
    mlog_log_close(r);
    rounds++;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec - t0.tv_sec < 2 && rounds < 5000);
  send_byte(down[1], 'q');
  cr_assert_eq(child_status(pid), 0, "the writer failed");
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  mlog_log_info info = info_of(log);
  cr_assert_gt(info.records, 10u, "the child wrote");
  cr_assert_geq(info.records, last);
  verify_clean(log, info.records, 1, info.records);
  cr_assert_gt(info.map_bytes, 64u * 1024, "the writer grew the map");
  mlog_log_close(log);
  close(up[0]);
  close(down[1]);
}

/* ------------------------------------------------------------------------ */
/* Paths that hold no log                                                   */

Test(log, read_only_open_of_an_empty_dir_creates_nothing) {
  mlog_log *log = (mlog_log *)0x1;
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log), MLOG_ENOTLOG);
  cr_assert_null(log);
  cr_assert_eq(tu_dir_entries(dir), 0, "a read-only open created files");
  /* A writer without CREATE neither. */
  cr_assert_eq(mlog_log_open(dir, 0, NULL, &log), MLOG_ENOTLOG);
  cr_assert_eq(tu_dir_entries(dir), 0);
  /* An empty data.mdb is no log to a reader either. */
  char path[256];
  tu_path(path, sizeof path, dir, "data.mdb");
  int fd = open(path, O_CREAT | O_WRONLY, 0640);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log), MLOG_ENOTLOG);
  cr_assert_eq(tu_dir_entries(dir), 1);
  cr_assert_eq(tu_file_size(path), 0);
}

Test(log, missing_path_and_regular_file) {
  char path[256];
  tu_path(path, sizeof path, dir, "nope");
  mlog_log *log = (mlog_log *)0x1;
  cr_assert_eq(mlog_log_open(path, MLOG_LOG_RDONLY, NULL, &log), MLOG_ENOENT);
  cr_assert_null(log);
  cr_assert_eq(mlog_log_open(path, 0, NULL, &log), MLOG_ENOENT);
  cr_assert(strstr(mlog_log_errmsg(NULL), "nope") != NULL,
            "the message names the path: %s", mlog_log_errmsg(NULL));
  cr_assert_eq(tu_file_size(path), -1, "nothing was created");
  int fd = open(path, O_CREAT | O_WRONLY, 0640);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, "x", 1), 1);
  close(fd);
  cr_assert_eq(mlog_log_open(path, MLOG_LOG_RDONLY, NULL, &log), MLOG_ENOTDIR);
  cr_assert_eq(mlog_log_open(path, 0, NULL, &log), MLOG_ENOTDIR);
  mlog_log_config cfg = config(0, 1, NULL);
  cr_assert_eq(mlog_log_open(path, MLOG_LOG_CREATE, &cfg, &log), MLOG_ENOTDIR);
  cr_assert_null(log);
  cr_assert_eq(tu_file_size(path), 1);
  /* A missing directory is created with CREATE. */
  char sub[300];
  tu_path(sub, sizeof sub, dir, "new");
  log = open_log(sub, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
  append_range(log, 1, 1, 1);
  mlog_log_close(log);
}

static void write_random_file(const char *path, size_t len, uint8_t *out) {
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = (uint8_t)x;
  }
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0640);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, out, len), (ssize_t)len);
  close(fd);
}

static void assert_file_is(const char *path, const uint8_t *want, size_t len) {
  cr_assert_eq(tu_file_size(path), (long long)len);
  uint8_t *got = malloc(len);
  cr_assert_not_null(got);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  cr_assert_eq(read(fd, got, len), (ssize_t)len);
  close(fd);
  cr_assert_eq(memcmp(got, want, len), 0, "%s was modified", path);
  free(got);
}

Test(log, random_data_file_is_not_a_log_and_is_left_alone) {
  char path[256], lock[256];
  tu_path(path, sizeof path, dir, "data.mdb");
  static const size_t sizes[] = {100, 8192, 65536};
  for (size_t i = 0; i < 3; i++) {
    uint8_t *bytes = malloc(sizes[i]);
    cr_assert_not_null(bytes);
    write_random_file(path, sizes[i], bytes);
    tu_path(lock, sizeof lock, dir, "lock.mdb");
    (void)unlink(lock); /* left by the writer opens of the last round */
    mlog_log *log = (mlog_log *)0x1;
    cr_assert_eq(mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log), MLOG_ENOTLOG,
                 "%zu random bytes, read-only", sizes[i]);
    cr_assert_null(log);
    cr_assert_eq(tu_dir_entries(dir), 1, "read-only open created a file");
    assert_file_is(path, bytes, sizes[i]);
    cr_assert_eq(mlog_log_open(dir, 0, NULL, &log), MLOG_ENOTLOG);
    assert_file_is(path, bytes, sizes[i]);
    mlog_log_config cfg = config(0, 1, NULL);
    cr_assert_eq(mlog_log_open(dir, MLOG_LOG_CREATE, &cfg, &log), MLOG_ENOTLOG,
                 "CREATE must not take over a foreign file");
    assert_file_is(path, bytes, sizes[i]);
    free(bytes);
  }
}

Test(log, read_only_copy_without_lock_file) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, 7, 70);
  mlog_log_close(log);
  char lock[256];
  tu_path(lock, sizeof lock, dir, "lock.mdb");
  cr_assert_eq(unlink(lock), 0);
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(log, 7, 1, 7);
  mlog_log_close(log);
  cr_assert_eq(tu_file_size(lock), -1, "a reader created lock.mdb");
}

/* ------------------------------------------------------------------------ */
/* Bad arguments                                                            */

/* Open dir/name with CREATE and cfg, expecting EINVAL. */
static void expect_bad_config(const char *name, const mlog_log_config *cfg,
                              char *sub, size_t sublen) {
  tu_path(sub, sublen, dir, name);
  mlog_log *log = (mlog_log *)0x1;
  int rc = mlog_log_open(sub, MLOG_LOG_CREATE, cfg, &log);
  cr_assert_eq(rc, MLOG_EINVAL, "%s: %s", name, mlog_errname(rc));
  cr_assert_null(log);
  cr_assert_str_neq(mlog_log_errmsg(NULL), "");
}

Test(log, bad_config_is_rejected) {
  char sub[5][256];
  mlog_log_config cfg = config(0, 0, NULL);
  expect_bad_config("group0", &cfg, sub[0], sizeof sub[0]);
  cfg = config(4, 4, NULL);
  expect_bad_config("pid4of4", &cfg, sub[1], sizeof sub[1]);
  cfg = config(UINT32_MAX, 4, NULL);
  expect_bad_config("pidmax", &cfg, sub[2], sizeof sub[2]);
  cfg = config(0, 4, NULL);
  cfg.protocol = "a-protocol-name-of-more-than-31-bytes";
  expect_bad_config("longproto", &cfg, sub[3], sizeof sub[3]);
  expect_bad_config("nocfg", NULL, sub[4], sizeof sub[4]);
  /* A refused create leaves no half-made log behind: each directory still
   * holds no log, and a good config then creates one there. */
  for (int i = 0; i < 5; i++) {
    mlog_log *log = (mlog_log *)0x1;
    int rc = mlog_log_open(sub[i], MLOG_LOG_RDONLY, NULL, &log);
    cr_assert(rc == MLOG_ENOTLOG || rc == MLOG_ENOENT, "%s: %s", sub[i],
              mlog_errname(rc));
    cfg = config(3, 4, NULL);
    rc = mlog_log_open(sub[i], MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg, &log);
    cr_assert_eq(rc, MLOG_OK, "create after a refused create: %s: %s",
                 mlog_errname(rc), mlog_log_errmsg(NULL));
    cr_assert_eq(info_of(log).process_id, 3u);
    append_range(log, 1, 1, 1);
    mlog_log_close(log);
  }
}

Test(log, bad_arguments) {
  mlog_log *log = (mlog_log *)0x1;
  mlog_log_config cfg = config(0, 1, NULL);
  /* Bits no flag will take soon: unknown flags are refused, not ignored. */
  cr_assert_eq(mlog_log_open(dir, 1u << 30, &cfg, &log), MLOG_EINVAL,
               "unknown flag");
  cr_assert_null(log);
  cr_assert_eq(mlog_log_open(dir, (1u << 31) | MLOG_LOG_CREATE, &cfg, &log),
               MLOG_EINVAL);
  cr_assert_eq(
      mlog_log_open(dir, MLOG_LOG_RDONLY | MLOG_LOG_CREATE, &cfg, &log),
      MLOG_EINVAL);
  cr_assert_eq(mlog_log_open(NULL, MLOG_LOG_CREATE, &cfg, &log), MLOG_EINVAL);
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_CREATE, &cfg, NULL), MLOG_EINVAL);
  cr_assert_str_neq(mlog_log_errmsg(NULL), "");
  cr_assert_eq(tu_dir_entries(dir), 0, "a refused open created files");
  mlog_log_close(NULL); /* a no-op */

  log = open_log(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg);
  append_range(log, 1, 2, 8);
  uint8_t p[4] = {0};
  mlog_record recs[3] = {tu_record(3, p, 4), tu_record(4, p, 4),
                         tu_record(5, p, 4)};
  cr_assert_eq(mlog_log_append(NULL, recs, 1), MLOG_EINVAL);
  cr_assert_eq(mlog_log_append(log, NULL, 1), MLOG_EINVAL);
  recs[1].payload_len = MLOG_PAYLOAD_MAX + 1;
  cr_assert_eq(mlog_log_append(log, recs, 3), MLOG_ETOOBIG);
  recs[1].payload_len = 4;
  recs[1].type = 0; /* not a record type: the batch fails as a whole */
  int rc = mlog_log_append(log, recs, 3);
  cr_assert_eq(rc, MLOG_EINVAL, "%s", mlog_errname(rc));
  cr_assert_eq(info_of(log).records, 2u, "nothing of a failed batch");
  append_range(log, 3, 1, 8);
  verify_clean(log, 3, 1, 3);
  mlog_verify_report rep;
  mlog_log_info info;
  cr_assert_eq(mlog_log_verify(NULL, &rep, NULL, NULL), MLOG_EINVAL);
  cr_assert_eq(mlog_log_verify(log, NULL, NULL, NULL), MLOG_EINVAL);
  cr_assert_eq(mlog_log_get_info(NULL, &info), MLOG_EINVAL);
  cr_assert_eq(mlog_log_get_info(log, NULL), MLOG_EINVAL);
  cr_assert_eq(mlog_log_discard_before(NULL, 1), MLOG_EINVAL);
  mlog_log_close(log);

  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  recs[1].type = MLOG_REC_DELIVERY;
  cr_assert_eq(mlog_log_append(log, recs, 1), MLOG_ERDONLY);
  cr_assert_str_neq(mlog_log_errmsg(log), "");
  mlog_log_close(log);
}

/* ------------------------------------------------------------------------ */
/* Tampering underneath: the store edited through the private API           */

#define TAMPER_N 10
/* Long enough for walks to check tags on checker threads (chunks of 8,192
 * records, split in a slice per processor, from 16,384 on; see
 * core/log.c). */
#define TAMPER_LONG_N 20000

static uint64_t tamper_n; /* records of the tamper log */

/* A closed log of n records of 40 payload bytes. */
static void make_tamper_log_of(uint64_t n) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, n, 40);
  mlog_log_close(log);
  tamper_n = n;
}

static void make_tamper_log(void) {
  make_tamper_log_of(TAMPER_N);
}

/* A malloc'ed copy of the value stored under lsn. */
static uint8_t *stored(uint64_t lsn, size_t *len) {
  mlogi_store *st;
  mlogi_errbuf eb;
  cr_assert_eq(mlogi_store_open(dir, MLOGI_STORE_RDONLY, 0, &st, &eb), MLOG_OK,
               "%s", eb.msg);
  mlogi_view *v;
  cr_assert_eq(mlogi_view_begin(st, &v, &eb), MLOG_OK, "%s", eb.msg);
  uint8_t k[8];
  mlogi_put_be64(k, lsn);
  const void *val;
  cr_assert_eq(mlogi_view_get(v, MLOGI_DB_LOG, k, 8, &val, len), MLOG_OK);
  uint8_t *copy = tu_dup(val, *len);
  mlogi_view_end(v);
  mlogi_store_close(st);
  return copy;
}

/* Apply one PUT (val != NULL) or DEL of the log entry at lsn. */
static void tamper(uint64_t lsn, const void *val, size_t vlen) {
  mlogi_store *st;
  mlogi_errbuf eb;
  cr_assert_eq(mlogi_store_open(dir, 0, 0, &st, &eb), MLOG_OK, "%s", eb.msg);
  uint8_t k[8];
  mlogi_put_be64(k, lsn);
  mlogi_op op = {.kind = val ? MLOGI_OP_PUT : MLOGI_OP_DEL,
                 .db = MLOGI_DB_LOG,
                 .key = k,
                 .klen = 8,
                 .val = val,
                 .vlen = vlen};
  cr_assert_eq(mlogi_store_write(st, &op, 1, &eb), MLOG_OK, "%s", eb.msg);
  mlogi_store_close(st);
}

/* Open read-only, verify, expect the finding; scans stop before it. */
static void expect_finding(int problem, uint64_t bad_lsn, const char *prefix) {
  mlog_log *log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_finds(log, problem, bad_lsn, prefix);
  seen s = {0};
  int rc = mlog_log_scan(log, 0, collect, &s);
  cr_assert_eq(rc, problem, "scan: %s", mlog_errname(rc));
  cr_assert_lt(s.n, tamper_n);
  cr_assert_eq(s.bad, 0, "the scan handed out a bad record");
  cr_assert(s.n == 0 || s.last < bad_lsn, "fn was called for a bad record");
  /* Every record before the bad one, each once, in order. */
  uint64_t before = problem == MLOG_ECHAIN ? bad_lsn - 2 : bad_lsn - 1;
  cr_assert(s.n == before || s.n == bad_lsn - 1,
            "fn saw %llu records before lsn %llu", (unsigned long long)s.n,
            (unsigned long long)bad_lsn);
  mlog_log_close(log);
}

Test(log, tamper_edited_byte_is_a_bad_tag) {
  make_tamper_log();
  size_t len;
  uint8_t *v = stored(4, &len);
  v[MLOG_HEADER_BYTES + 10] ^= 0x01; /* one payload bit */
  tamper(4, v, len);
  free(v);
  expect_finding(MLOG_EBADTAG, 4, "bad tag");
  /* Also when the edit is in the tag itself, on another log. */
  tu_rmtree(dir);
  setup();
  make_tamper_log();
  v = stored(7, &len);
  v[len - 1] ^= 0x80;
  tamper(7, v, len);
  free(v);
  expect_finding(MLOG_EBADTAG, 7, "bad tag");
}

Test(log, tamper_deleted_middle_record_breaks_the_chain) {
  make_tamper_log();
  tamper(5, NULL, 0);
  expect_finding(MLOG_ECHAIN, 6, "broken chain");
}

Test(log, tamper_deleted_first_record_breaks_the_chain) {
  make_tamper_log();
  tamper(1, NULL, 0);
  expect_finding(MLOG_ECHAIN, 2, "broken chain");
}

Test(log, tamper_swapped_records_break_the_chain) {
  make_tamper_log();
  size_t l3, l6;
  uint8_t *v3 = stored(3, &l3), *v6 = stored(6, &l6);
  tamper(3, v6, l6);
  tamper(6, v3, l3);
  free(v3);
  free(v6);
  expect_finding(MLOG_ECHAIN, 3, "broken chain");
}

Test(log, tamper_duplicated_record_breaks_the_chain) {
  make_tamper_log();
  size_t len;
  uint8_t *v = stored(4, &len);
  tamper(5, v, len);
  free(v);
  expect_finding(MLOG_ECHAIN, 5, "broken chain");
}

Test(log, tamper_cut_last_record_is_a_torn_tail) {
  make_tamper_log();
  size_t len;
  uint8_t *v = stored(TAMPER_N, &len);
  tamper(TAMPER_N, v, len - 10);
  expect_finding(MLOG_ETORN, TAMPER_N, "torn tail");
  /* Cut inside the header too. */
  tamper(TAMPER_N, v, 20);
  expect_finding(MLOG_ETORN, TAMPER_N, "torn tail");
  free(v);
}

Test(log, tamper_cut_middle_record_is_a_bad_header) {
  make_tamper_log();
  size_t len;
  uint8_t *v = stored(5, &len);
  tamper(5, v, len - 10);
  free(v);
  expect_finding(MLOG_EHEADER, 5, "bad header");
}

/* Long logs are walked in chunks whose tags a second thread checks: a
 * damaged record is found at the same place wherever it sits in a chunk,
 * and nothing after it reaches fn. */
Test(log, long_log_tamper_anywhere_in_a_chunk) {
  static const uint64_t at[] = {
      1, 2, 4095, 4096, 4097, 8192, 12000, 16385, TAMPER_LONG_N - 1};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    make_tamper_log_of(TAMPER_LONG_N);
    size_t len;
    uint8_t *v = stored(at[i], &len);
    v[MLOG_HEADER_BYTES + 3] ^= 0x10;
    tamper(at[i], v, len);
    free(v);
    expect_finding(MLOG_EBADTAG, at[i], "bad tag");
    tu_rmtree(dir);
    setup();
  }
}

Test(log, long_log_deleted_swapped_and_torn_records) {
  make_tamper_log_of(TAMPER_LONG_N);
  tamper(4097, NULL,
         0); /* the first of a chunk's second slice (2 processors) */
  expect_finding(MLOG_ECHAIN, 4098, "broken chain");
  tu_rmtree(dir);
  setup();
  make_tamper_log_of(TAMPER_LONG_N);
  size_t l1, l2;
  uint8_t *v1 = stored(8192, &l1), *v2 = stored(8193, &l2);
  tamper(8192, v2, l2); /* swapped across a chunk boundary */
  tamper(8193, v1, l1);
  free(v1);
  free(v2);
  expect_finding(MLOG_ECHAIN, 8192, "broken chain");
  tu_rmtree(dir);
  setup();
  make_tamper_log_of(TAMPER_LONG_N);
  v1 = stored(TAMPER_LONG_N, &l1);
  tamper(TAMPER_LONG_N, v1, l1 - 10);
  free(v1);
  expect_finding(MLOG_ETORN, TAMPER_LONG_N, "torn tail");
  tu_rmtree(dir);
  setup();
  make_tamper_log_of(TAMPER_LONG_N);
  v1 = stored(9000, &l1);
  tamper(9000, v1, 20); /* cut in the middle: its tag is not there */
  free(v1);
  expect_finding(MLOG_EHEADER, 9000, "bad header");
}

Test(log, long_log_scans_from_anywhere_and_stop) {
  mlog_log *log = create_log(dir);
  append_range(log, 1, TAMPER_LONG_N, 8);
  verify_clean(log, TAMPER_LONG_N, 1, TAMPER_LONG_N);
  static const uint64_t from[] = {0, 1, 4096, 4097, 3000, 19000};
  for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
    seen s = scan_all(log, from[i]);
    uint64_t first = from[i] ? from[i] : 1;
    cr_assert_eq(s.n, TAMPER_LONG_N - first + 1, "from %llu: %llu records",
                 (unsigned long long)from[i], (unsigned long long)s.n);
    cr_assert_eq(s.first, first);
    cr_assert_eq(s.last, TAMPER_LONG_N);
  }
  static const uint64_t stop[] = {1, 4096, 4097, 9000, TAMPER_LONG_N};
  for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++) {
    seen s = {.stop_after = stop[i], .stop_value = 42};
    cr_assert_eq(mlog_log_scan(log, 0, collect, &s), 42);
    cr_assert_eq(s.n, stop[i], "fn ran %llu times after asking to stop at %llu",
                 (unsigned long long)s.n, (unsigned long long)stop[i]);
    cr_assert_eq(s.bad, 0);
  }
  mlog_log_close(log);
}

/* A closed log of 2000 records (over 1 MB); returns data.mdb's size. */
static long long make_big_log(char *path, size_t len) {
  mlog_log *log = create_log(dir);
  for (uint64_t lsn = 1; lsn <= 2000; lsn += 100)
    append_range(log, lsn, 100, 500);
  mlog_log_close(log);
  tu_path(path, len, dir, "data.mdb");
  long long size = tu_file_size(path);
  cr_assert_gt(size, 1000000);
  return size;
}

Test(log, truncated_under_an_open_reader_is_a_torn_tail) {
  char path[256];
  long long size = make_big_log(path, sizeof path);
  mlog_log *log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  verify_clean(log, 2000, 1, 2000);
  cr_assert_eq(truncate(path, size / 2), 0);
  verify_finds(log, MLOG_ETORN, 0, "torn tail");
  seen s = {0};
  cr_assert_eq(mlog_log_scan(log, 0, collect, &s), MLOG_ETORN);
  cr_assert_eq(s.n, 0u);
  mlog_log_close(log);
}

/* Open the cut log: refused as torn, or opened and verified torn; never a
 * crash (LMDB pages past the end of the file would be SIGBUS). The open runs
 * in a child so that a crash is reported as such and the test cleans up. */
static void open_cut_log(unsigned flags) {
  char path[256];
  long long size = make_big_log(path, sizeof path);
  cr_assert_eq(truncate(path, size / 2), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    mlog_log *log;
    int rc = mlog_log_open(dir, flags, NULL, &log);
    if (rc == MLOG_OK) {
      mlog_verify_report rep;
      rc = mlog_log_verify(log, &rep, NULL, NULL);
      _exit(rc == MLOG_OK && rep.problem == MLOG_ETORN &&
                    strncmp(rep.detail, "torn tail", 9) == 0
                ? 0
                : 1);
    }
    _exit(rc == MLOG_ETORN && strstr(mlog_log_errmsg(NULL), "truncated")
              ? 0
              : 100 + rc);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  child = 0;
  cr_assert(WIFEXITED(status),
            "open (flags %u) of a cut file crashed with "
            "signal %d",
            flags, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  int code = WEXITSTATUS(status);
  cr_assert_eq(code, 0, "open (flags %u) of a cut file: %s", flags,
               code == 1 ? "opened, but verify did not report a torn tail"
                         : mlog_errname(code - 100));
  cr_assert_eq(tu_file_size(path), size / 2, "the cut file was modified");
}

Test(log, truncated_file_opened_read_only_is_torn) {
  open_cut_log(MLOG_LOG_RDONLY);
}

Test(log, truncated_file_opened_for_writing_is_torn) {
  open_cut_log(0);
}

/* ------------------------------------------------------------------------ */
/* Checkpoints by number (rollbacks and protocol-driven collection)        */

/* Put checkpoint `value` covering what the log holds (keep all); its
 * number must be `number`. */
static void put_numbered(mlog_log *log, uint64_t value, uint64_t number) {
  uint64_t got = 0;
  int rc = mlog_log_put_checkpoint(log, mlog_log_next_lsn(log) - 1, 0, &value,
                                   sizeof value, UINT32_MAX, &got);
  cr_assert_eq(rc, MLOG_OK, "put: %s", mlog_log_errmsg(log));
  cr_assert_eq(got, number, "checkpoint number %llu, want %llu",
               (unsigned long long)got, (unsigned long long)number);
}

static void expect_numbers(mlog_log *log, const uint64_t *want, size_t n) {
  uint64_t *numbers;
  size_t count;
  cr_assert_eq(mlog_log_checkpoint_numbers(log, &numbers, &count), MLOG_OK);
  cr_assert_eq(count, n, "%zu checkpoints, want %zu", count, n);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(numbers[i], want[i], "checkpoint %zu is %llu, want %llu", i,
                 (unsigned long long)numbers[i], (unsigned long long)want[i]);
  free(numbers);
}

static uint64_t value_of(mlog_log *log, uint64_t number) {
  mlog_log_checkpoint ck;
  int rc = mlog_log_read_checkpoint(log, number, &ck);
  cr_assert_eq(rc, MLOG_OK, "read %llu: %s", (unsigned long long)number,
               mlog_log_errmsg(log));
  cr_assert_eq(ck.number, number);
  cr_assert_eq(ck.len, sizeof(uint64_t));
  uint64_t v;
  memcpy(&v, ck.state, sizeof v);
  mlog_log_checkpoint_free(&ck);
  return v;
}

Test(log, checkpoints_by_number_dropped_after_and_before) {
  mlog_log *log = create_log(dir);
  for (uint64_t k = 1; k <= 5; k++) {
    append_range(log, 3 * k - 2, 3, 16);
    put_numbered(log, 100 + k, k);
  }
  expect_numbers(log, (uint64_t[]){1, 2, 3, 4, 5}, 5);
  cr_assert_eq(value_of(log, 2), 102);
  mlog_log_checkpoint ck;
  cr_assert_eq(mlog_log_read_checkpoint(log, 9, &ck), MLOG_ENOTFOUND);

  /* A rollback to checkpoint 3: 4 and 5 go, the next one is 4 again. */
  cr_assert_eq(mlog_log_drop_checkpoints_after(log, 3), MLOG_OK);
  expect_numbers(log, (uint64_t[]){1, 2, 3}, 3);
  cr_assert_eq(mlog_log_get_checkpoint(log, &ck), MLOG_OK);
  cr_assert_eq(ck.number, 3);
  mlog_log_checkpoint_free(&ck);
  append_range(log, 16, 2, 16);
  put_numbered(log, 204, 4);
  cr_assert_eq(value_of(log, 4), 204);

  /* Collection below checkpoint 3: 1 and 2 go with the records 3 covers;
   * what is left still verifies. */
  cr_assert_eq(mlog_log_drop_checkpoints_before(log, 3), MLOG_OK);
  expect_numbers(log, (uint64_t[]){3, 4}, 2);
  cr_assert_eq(value_of(log, 3), 103);
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.first_lsn, 10, "first lsn %llu",
               (unsigned long long)info.first_lsn);
  verify_clean(log, 8, 10, 17);
  cr_assert_eq(mlog_log_drop_checkpoints_before(log, 7), MLOG_ENOTFOUND);

  /* To the initial state: every checkpoint goes. */
  cr_assert_eq(mlog_log_drop_checkpoints_after(log, 0), MLOG_OK);
  expect_numbers(log, NULL, 0);
  cr_assert_eq(mlog_log_get_checkpoint(log, &ck), MLOG_ENOTFOUND);
  mlog_log_close(log);

  /* Read only: no drop. */
  log = open_log(dir, MLOG_LOG_RDONLY, NULL);
  cr_assert_eq(mlog_log_drop_checkpoints_after(log, 0), MLOG_ERDONLY);
  cr_assert_eq(mlog_log_drop_checkpoints_before(log, 1), MLOG_ERDONLY);
  mlog_log_close(log);
}
