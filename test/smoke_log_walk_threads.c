/* smoke_log_walk_threads.c - a long log's walk, whose tags checker threads
 * check, under every sanitizer (ThreadSanitizer included: this is a plain
 * program, not a Criterion test)
 *
 * Writes a log of 20,000 records (walks from 16,384 records on check tags
 * on checker threads, by chunks of 8,192), then verifies and scans it from
 * several places; flips one payload byte of record 12,345 in data.mdb and
 * expects verify and scan to stop there, with every record before it
 * handed out once and in order. Exit status 0 on success, 1 with a message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlog/mlog.h"

#define RECORDS 20000u
#define DAMAGED 12345u

static char dir[64];

static int fail(const char *what) {
  fprintf(stderr, "smoke_log_walk_threads: %s\n", what);
  return 1;
}

/* Record lsn's payload: a marker that can be found in data.mdb. */
static int payload_of(uint64_t lsn, char *buf, size_t len) {
  return snprintf(buf, len, "<walk record %08llu>", (unsigned long long)lsn);
}

static int write_log(void) {
  mlog_log_config cfg = {.process_id = 0, .group_size = 2};
  mlog_log *log;
  if (mlog_log_open(dir, MLOG_LOG_CREATE, &cfg, &log) != MLOG_OK)
    return fail("cannot create the log");
  static char payloads[RECORDS][32];
  static mlog_record recs[RECORDS];
  for (uint32_t i = 0; i < RECORDS; i++) {
    int n = payload_of(i + 1, payloads[i], sizeof payloads[i]);
    recs[i] = (mlog_record){.type = MLOG_REC_DELIVERY,
                            .src = 1,
                            .dst = 0,
                            .ssn = i + 1,
                            .rsn = i + 1,
                            .payload = payloads[i],
                            .payload_len = (uint32_t)n};
  }
  int rc = mlog_log_append(log, recs, RECORDS);
  mlog_log_close(log);
  return rc == MLOG_OK ? 0 : fail("cannot append");
}

typedef struct seen {
  uint64_t n, first, last;
  int bad;
} seen;

static int collect(void *arg, const mlog_record *r) {
  seen *s = arg;
  char want[32];
  int n = payload_of(r->lsn, want, sizeof want);
  if ((s->n > 0 && r->lsn != s->last + 1) || r->payload_len != (uint32_t)n ||
      memcmp(r->payload, want, (size_t)n) != 0)
    s->bad = 1;
  if (s->n++ == 0)
    s->first = r->lsn;
  s->last = r->lsn;
  return 0;
}

/* Verify and scan from `from`; expect `problem` (at bad_lsn) or a clean
 * walk of the records from..RECORDS. */
static int check(uint64_t from, int problem, uint64_t bad_lsn) {
  mlog_log *log;
  if (mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log) != MLOG_OK)
    return fail("cannot open the log read-only");
  mlog_verify_report rep;
  int rc = mlog_log_verify(log, &rep, NULL, NULL);
  seen s = {0};
  int scan = mlog_log_scan(log, from, collect, &s);
  mlog_log_close(log);
  if (rc != MLOG_OK || rep.problem != problem ||
      (problem != MLOG_OK && rep.bad_lsn != bad_lsn))
    return fail(rep.detail[0] ? rep.detail : "verify: unexpected result");
  if (scan != problem || s.bad)
    return fail("scan: unexpected result or a bad record handed out");
  uint64_t first = from ? from : 1;
  uint64_t last = problem == MLOG_OK ? RECORDS : bad_lsn - 1;
  if (s.n != last - first + 1 || s.first != first || s.last != last)
    return fail("scan: not every record once and in order");
  return 0;
}

/* Flip a byte of record lsn's payload in data.mdb. */
static int damage(uint64_t lsn) {
  char path[96], want[32];
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  int n = payload_of(lsn, want, sizeof want);
  int fd = open(path, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return fail("cannot open data.mdb");
  char *buf = malloc((size_t)st.st_size);
  int rc = buf && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size ? 0 : 1;
  char *at = rc == 0 ? memmem(buf, (size_t)st.st_size, want, (size_t)n) : NULL;
  char flipped = at ? (char)(at[n - 2] ^ 0x01) : 0;
  if (at == NULL || pwrite(fd, &flipped, 1, at - buf + n - 2) != 1)
    rc = 1;
  free(buf);
  close(fd);
  return rc ? fail("cannot damage the record") : 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/mlog-smoke-walk-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return fail("mkdtemp");
  int rc = write_log();
  static const uint64_t from[] = {0, 4097, 16384, RECORDS};
  for (size_t i = 0; rc == 0 && i < sizeof from / sizeof from[0]; i++)
    rc = check(from[i], MLOG_OK, 0);
  if (rc == 0)
    rc = damage(DAMAGED);
  if (rc == 0)
    rc = check(0, MLOG_EBADTAG, DAMAGED);
  nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
  if (rc == 0)
    printf("smoke_log_walk_threads: ok\n");
  return rc;
}
