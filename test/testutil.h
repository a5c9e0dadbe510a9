/* testutil.h - helpers shared by the unit tests: temp dirs, files, records */
#ifndef MLOG_TEST_TESTUTIL_H
#define MLOG_TEST_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw, fork outside the build system */
#endif

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mlog/mlog.h"

/* A fresh directory /tmp/mlog-test-XXXXXX in buf (at least 64 bytes). */
static inline void tu_mkdtemp(char *buf, size_t len) {
  cr_assert_geq(len, 64u);
  snprintf(buf, len, "/tmp/mlog-test-XXXXXX");
  cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
}

static inline int tu_rm_entry(const char *path, const struct stat *sb, int type,
                              struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Remove the tree at path (no-op when path is empty or missing). */
/* Kill and reap a forked helper that a failed test left behind (*pid > 0),
 * so that it cannot outlive the test. */
static inline void tu_reap(pid_t *pid) {
  if (*pid > 0) {
    kill(*pid, SIGKILL);
    (void)waitpid(*pid, NULL, 0);
    *pid = 0;
  }
}

static inline void tu_rmtree(const char *path) {
  if (path == NULL || path[0] == '\0')
    return;
  (void)nftw(path, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* path = dir/name. */
static inline void tu_path(char *buf, size_t len, const char *dir,
                           const char *name) {
  int n = snprintf(buf, len, "%s/%s", dir, name);
  cr_assert(n > 0 && (size_t)n < len, "path too long");
}

/* The payload byte j of the record with lsn `lsn`: a pattern that differs per
 * record so that scans can check contents. */
static inline uint8_t tu_byte(uint64_t lsn, size_t j) {
  return (uint8_t)(lsn * 31u + j * 7u + 1u);
}

/* Fill buf[0..len) with the pattern of lsn. */
static inline void tu_fill(uint8_t *buf, size_t len, uint64_t lsn) {
  for (size_t j = 0; j < len; j++)
    buf[j] = tu_byte(lsn, j);
}

/* True when payload[0..len) holds the pattern of lsn. */
static inline int tu_check_fill(const uint8_t *payload, size_t len,
                                uint64_t lsn) {
  for (size_t j = 0; j < len; j++)
    if (payload[j] != tu_byte(lsn, j))
      return 0;
  return 1;
}

/* A record whose fields derive from `i`; the payload is borrowed. */
static inline mlog_record tu_record(uint64_t i, const void *payload,
                                    uint32_t len) {
  mlog_record r;
  memset(&r, 0, sizeof r);
  r.type = (uint8_t)(MLOG_REC_DELIVERY + i % 5);
  r.flags = (uint8_t)i;
  r.src = (uint32_t)i;
  r.dst = (uint32_t)(i * 3);
  r.incarnation = 0;
  r.ssn = i;
  r.rsn = i * 2;
  r.payload = payload;
  r.payload_len = len;
  return r;
}

/* A heap copy of buf[0..len) of exactly len bytes (never malloc(0)), so that
 * ASan catches any read past the end. */
static inline uint8_t *tu_dup(const void *buf, size_t len) {
  uint8_t *p = malloc(len > 0 ? len : 1);
  cr_assert_not_null(p);
  if (len > 0)
    memcpy(p, buf, len);
  return p;
}

/* Size of the file at path, or -1. */
static inline long long tu_file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Number of entries in dir other than . and .. (or -1). */
static inline int tu_dir_entries(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  if (d == NULL)
    return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

#endif /* MLOG_TEST_TESTUTIL_H */
