/* peers.h - the stores a user would pick instead of mlog's log, as
 * benchmark baselines: SQLite (WAL, synchronous=FULL) and RocksDB (sync) */
#ifndef MLOG_BENCH_PEERS_H
#define MLOG_BENCH_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Each peer stores the records the benchmark hands it, one row or key per
 * record under its 8-byte big-endian sequence number, and makes every
 * batch durable in one transaction before the call returns:
 *
 *   sqlite_wal_full  a table (seq INTEGER PRIMARY KEY, rec BLOB) in WAL
 *                    mode with synchronous=FULL (the WAL is flushed at
 *                    every commit), one BEGIN..COMMIT per batch, a prepared
 *                    INSERT per record
 *   rocksdb_sync     one WriteBatch per batch written with sync=true (the
 *                    WAL is flushed before the write returns), default
 *                    options otherwise
 *
 * A peer that was not built (its -dev package missing when CMake ran) is
 * not available; opening it fails with a message that says so.
 */

typedef enum bench_peer_kind {
  BENCH_PEER_SQLITE,
  BENCH_PEER_ROCKSDB,
  BENCH_PEER_COUNT
} bench_peer_kind;

typedef struct bench_peer bench_peer;

/* "sqlite_wal_full", "rocksdb_sync". */
const char *bench_peer_name(bench_peer_kind kind);

/* Whether this build links the peer. */
bool bench_peer_available(bench_peer_kind kind);

/* Create the peer's store in the new directory dirpath (created here) into
 * *out. Returns 0, or -1 with the cause in err[0..errlen). */
int bench_peer_open(bench_peer **out, bench_peer_kind kind, const char *dirpath,
                    char *err, size_t errlen);

/* Store the n records of rec_bytes bytes each at recs (one after the other)
 * durably, in one transaction. Returns 0, or -1 with the cause in
 * err[0..errlen). */
int bench_peer_commit(bench_peer *p, const uint8_t *recs, size_t rec_bytes,
                      size_t n, char *err, size_t errlen);

/* Close the store (its files stay); NULL is a no-op. */
void bench_peer_close(bench_peer *p);

#endif /* MLOG_BENCH_PEERS_H */
