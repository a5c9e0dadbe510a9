/* peers.c - SQLite and RocksDB as benchmark baselines (see peers.h) */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef MLOG_HAVE_SQLITE
#include <sqlite3.h>
#endif
#ifdef MLOG_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#include "bench/peers.h"

struct bench_peer {
  bench_peer_kind kind;
  uint64_t next_seq; /* the key of the next record, from 1 */
#ifdef MLOG_HAVE_SQLITE
  sqlite3 *sql;
  sqlite3_stmt *insert;
#endif
#ifdef MLOG_HAVE_ROCKSDB
  rocksdb_t *rdb;
  rocksdb_options_t *ropts;
  rocksdb_writeoptions_t *wopts;
  rocksdb_writebatch_t *batch;
#endif
};

static const char *const peer_names[BENCH_PEER_COUNT] = {
    [BENCH_PEER_SQLITE] = "sqlite_wal_full",
    [BENCH_PEER_ROCKSDB] = "rocksdb_sync",
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

const char *bench_peer_name(bench_peer_kind kind) {
  return kind < BENCH_PEER_COUNT ? peer_names[kind] : "unknown";
}

bool bench_peer_available(bench_peer_kind kind) {
  switch (kind) {
#ifdef MLOG_HAVE_SQLITE
  case BENCH_PEER_SQLITE:
    return true;
#endif
#ifdef MLOG_HAVE_ROCKSDB
  case BENCH_PEER_ROCKSDB:
    return true;
#endif
  default:
    return false;
  }
}

/* ------------------------------------------------------------------------ */
/* SQLite                                                                   */

#ifdef MLOG_HAVE_SQLITE
static int sql_fail(bench_peer *p, const char *what, char *err, size_t errlen) {
  return fail(err, errlen, "sqlite: %s: %s", what, sqlite3_errmsg(p->sql));
}

static int sqlite_open(bench_peer *p, const char *dirpath, char *err,
                       size_t errlen) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/log.sqlite", dirpath) >= (int)sizeof path)
    return fail(err, errlen, "%s: path too long", dirpath);
  if (sqlite3_open_v2(path, &p->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK)
    return p->sql ? sql_fail(p, path, err, errlen)
                  : fail(err, errlen, "sqlite: %s: out of memory", path);
  /* journal_mode answers the mode it kept: a file system without shared
   * memory keeps the rollback journal, and the row would be mislabelled. */
  sqlite3_stmt *mode = NULL;
  const unsigned char *kept = NULL;
  if (sqlite3_prepare_v2(p->sql, "PRAGMA journal_mode=WAL", -1, &mode, NULL) ==
          SQLITE_OK &&
      sqlite3_step(mode) == SQLITE_ROW)
    kept = sqlite3_column_text(mode, 0);
  bool wal = kept != NULL && sqlite3_stricmp((const char *)kept, "wal") == 0;
  sqlite3_finalize(mode);
  if (!wal)
    return fail(err, errlen, "sqlite: %s: WAL journal mode refused", path);
  static const char setup[] =
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE log(seq INTEGER PRIMARY KEY, rec BLOB NOT NULL);";
  if (sqlite3_exec(p->sql, setup, NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(p, "set-up", err, errlen);
  if (sqlite3_prepare_v2(p->sql, "INSERT INTO log VALUES (?, ?)", -1,
                         &p->insert, NULL) != SQLITE_OK)
    return sql_fail(p, "prepare", err, errlen);
  return 0;
}

static int sqlite_commit(bench_peer *p, const uint8_t *recs, size_t rec_bytes,
                         size_t n, char *err, size_t errlen) {
  if (sqlite3_exec(p->sql, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(p, "BEGIN", err, errlen);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(p->insert, 1, (sqlite3_int64)p->next_seq++);
    sqlite3_bind_blob(p->insert, 2, recs + i * rec_bytes, (int)rec_bytes,
                      SQLITE_STATIC);
    int rc = sqlite3_step(p->insert);
    sqlite3_reset(p->insert);
    if (rc != SQLITE_DONE) {
      sqlite3_exec(p->sql, "ROLLBACK", NULL, NULL, NULL);
      return sql_fail(p, "INSERT", err, errlen);
    }
  }
  if (sqlite3_exec(p->sql, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(p, "COMMIT", err, errlen);
  return 0;
}

static void sqlite_close(bench_peer *p) {
  sqlite3_finalize(p->insert);
  sqlite3_close(p->sql);
}
#endif

/* ------------------------------------------------------------------------ */
/* RocksDB                                                                  */

#ifdef MLOG_HAVE_ROCKSDB
/* Report RocksDB's error string (which it allocated) and free it. */
static int rocks_fail(char *msg, const char *what, char *err, size_t errlen) {
  fail(err, errlen, "rocksdb: %s: %s", what, msg ? msg : "failed");
  rocksdb_free(msg);
  return -1;
}

static int rocksdb_open_peer(bench_peer *p, const char *dirpath, char *err,
                             size_t errlen) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/rocksdb", dirpath) >= (int)sizeof path)
    return fail(err, errlen, "%s: path too long", dirpath);
  p->ropts = rocksdb_options_create();
  p->wopts = rocksdb_writeoptions_create();
  p->batch = rocksdb_writebatch_create();
  if (p->ropts == NULL || p->wopts == NULL || p->batch == NULL)
    return fail(err, errlen, "rocksdb: out of memory");
  rocksdb_options_set_create_if_missing(p->ropts, 1);
  rocksdb_options_set_error_if_exists(p->ropts, 1);
  rocksdb_writeoptions_set_sync(p->wopts, 1);
  char *msg = NULL;
  p->rdb = rocksdb_open(p->ropts, path, &msg);
  if (msg != NULL || p->rdb == NULL)
    return rocks_fail(msg, path, err, errlen);
  return 0;
}

static int rocksdb_commit(bench_peer *p, const uint8_t *recs, size_t rec_bytes,
                          size_t n, char *err, size_t errlen) {
  rocksdb_writebatch_clear(p->batch);
  for (size_t i = 0; i < n; i++) {
    uint8_t key[8];
    uint64_t seq = p->next_seq++;
    for (int b = 0; b < 8; b++)
      key[b] = (uint8_t)(seq >> (56 - 8 * b));
    rocksdb_writebatch_put(p->batch, (const char *)key, sizeof key,
                           (const char *)recs + i * rec_bytes, rec_bytes);
  }
  char *msg = NULL;
  rocksdb_write(p->rdb, p->wopts, p->batch, &msg);
  return msg ? rocks_fail(msg, "write", err, errlen) : 0;
}

static void rocksdb_close_peer(bench_peer *p) {
  if (p->rdb)
    rocksdb_close(p->rdb);
  if (p->batch)
    rocksdb_writebatch_destroy(p->batch);
  if (p->wopts)
    rocksdb_writeoptions_destroy(p->wopts);
  if (p->ropts)
    rocksdb_options_destroy(p->ropts);
}
#endif

/* ------------------------------------------------------------------------ */

int bench_peer_open(bench_peer **out, bench_peer_kind kind, const char *dirpath,
                    char *err, size_t errlen) {
  *out = NULL;
  if (!bench_peer_available(kind))
    return fail(err, errlen,
                "%s: not built (install its -dev package and configure "
                "again)",
                bench_peer_name(kind));
  if (mkdir(dirpath, 0700) != 0)
    return fail(err, errlen, "mkdir %s: %s", dirpath, strerror(errno));
  bench_peer *p = calloc(1, sizeof *p);
  if (p == NULL)
    return fail(err, errlen, "out of memory");
  p->kind = kind;
  p->next_seq = 1;
  int rc = -1;
#ifdef MLOG_HAVE_SQLITE
  if (kind == BENCH_PEER_SQLITE)
    rc = sqlite_open(p, dirpath, err, errlen);
#endif
#ifdef MLOG_HAVE_ROCKSDB
  if (kind == BENCH_PEER_ROCKSDB)
    rc = rocksdb_open_peer(p, dirpath, err, errlen);
#endif
  if (rc != 0) {
    bench_peer_close(p);
    return -1;
  }
  *out = p;
  return 0;
}

int bench_peer_commit(bench_peer *p, const uint8_t *recs, size_t rec_bytes,
                      size_t n, char *err, size_t errlen) {
#ifdef MLOG_HAVE_SQLITE
  if (p->kind == BENCH_PEER_SQLITE)
    return sqlite_commit(p, recs, rec_bytes, n, err, errlen);
#endif
#ifdef MLOG_HAVE_ROCKSDB
  if (p->kind == BENCH_PEER_ROCKSDB)
    return rocksdb_commit(p, recs, rec_bytes, n, err, errlen);
#endif
  (void)recs;
  (void)rec_bytes;
  (void)n;
  return fail(err, errlen, "%s: not built", bench_peer_name(p->kind));
}

void bench_peer_close(bench_peer *p) {
  if (p == NULL)
    return;
#ifdef MLOG_HAVE_SQLITE
  if (p->kind == BENCH_PEER_SQLITE)
    sqlite_close(p);
#endif
#ifdef MLOG_HAVE_ROCKSDB
  if (p->kind == BENCH_PEER_ROCKSDB)
    rocksdb_close_peer(p);
#endif
  free(p);
}
