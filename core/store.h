/* store.h - the transactional key-value store under the log (LMDB) */
#ifndef MLOG_CORE_STORE_H
#define MLOG_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fault.h"
#include "core/internal.h"

/* The named databases of one process directory. */
typedef enum mlogi_db {
  MLOGI_DB_LOG,    /* event log: 8-byte big-endian lsn -> record */
  MLOGI_DB_CKPT,   /* checkpoints: 8-byte big-endian number -> checkpoint */
  MLOGI_DB_SENDER, /* sender-side payloads: (dst, ssn) -> record */
  MLOGI_DB_META,   /* metadata: name -> value */
  MLOGI_DB_COUNT
} mlogi_db;

typedef enum mlogi_opkind {
  MLOGI_OP_PUT,       /* insert or replace key */
  MLOGI_OP_APPEND,    /* insert key greater than every key in the db */
  MLOGI_OP_DEL,       /* delete key; absent keys are not an error */
  MLOGI_OP_DEL_BELOW, /* delete every key that sorts before key */
  MLOGI_OP_DEL_FROM,  /* delete key and every key that sorts after it */
} mlogi_opkind;

/* Writes the vlen bytes of a value into dst (space reserved in the store,
 * saving a copy). May be called more than once for one write: it must write
 * the same bytes each time. */
typedef int (*mlogi_fill_fn)(void *arg, void *dst, size_t vlen);

/* One operation of an atomic write. For PUT/APPEND the value is either
 * val[0..vlen) or, when fill is set, vlen bytes written by fill(fill_arg). */
typedef struct mlogi_op {
  mlogi_opkind kind;
  mlogi_db db;
  const void *key;
  size_t klen;
  const void *val;
  size_t vlen;
  mlogi_fill_fn fill;
  void *fill_arg;
} mlogi_op;

typedef struct mlogi_store mlogi_store;
typedef struct mlogi_view mlogi_view;

#define MLOGI_STORE_RDONLY 0x1u /* never creates or writes anything */
#define MLOGI_STORE_CREATE 0x2u /* create the databases in a new directory */
#define MLOGI_STORE_NOSYNC 0x4u /* commits are not flushed (unsafe) */
#define MLOGI_STORE_LAZYMETA                                                   \
  0x8u /* a commit flushes its data pages but not                              \
          the meta page: it is durable once the                                \
          next commit or sync returns */

/* Open the store in dirpath. Handles on one directory in one process share
 * its LMDB environment; only one of them may write. Fails with ENOENT/ENOTDIR
 * for a missing path, ENOTLOG when the directory holds no store (or not one of
 * ours), EBUSY when another process has it open for writing, EVERSION for an
 * LMDB of another version, ETORN when the data file is shorter than its pages.
 */
int mlogi_store_open(const char *dirpath, unsigned flags, size_t map_size,
                     mlogi_store **out, mlogi_errbuf *eb);
void mlogi_store_close(mlogi_store *st);

/* True when the store has no databases yet (a new directory): they are
 * created by the first write, atomically with its data. */
bool mlogi_store_is_new(const mlogi_store *st);

/* Apply ops atomically and durably (one commit). On any failure nothing of
 * the batch is applied. MAP_FULL grows the map and retries. */
int mlogi_store_write(mlogi_store *st, const mlogi_op *ops, size_t n,
                      mlogi_errbuf *eb);

/* Flush every commit to stable storage (the SYNC fault site). */
int mlogi_store_sync(mlogi_store *st, mlogi_errbuf *eb);

/* A consistent read-only snapshot. Values it hands out stay valid until
 * mlogi_view_end. A thread holding a view must not write. */
int mlogi_view_begin(mlogi_store *st, mlogi_view **out, mlogi_errbuf *eb);
void mlogi_view_end(mlogi_view *v);

/* Get key's value: ENOTFOUND when absent. */
int mlogi_view_get(mlogi_view *v, mlogi_db db, const void *key, size_t klen,
                   const void **val, size_t *vlen);

/* Called for each entry in key order; nonzero stops the scan and is
 * returned by it. */
typedef int (*mlogi_entry_fn)(void *arg, const void *key, size_t klen,
                              const void *val, size_t vlen);

/* Visit the entries with key >= from (all when from is NULL). */
int mlogi_view_scan(mlogi_view *v, mlogi_db db, const void *from,
                    size_t fromlen, mlogi_entry_fn fn, void *arg);

/* The last entry of db: ENOTFOUND when db is empty. */
int mlogi_view_last(mlogi_view *v, mlogi_db db, const void **key, size_t *klen,
                    const void **val, size_t *vlen);

/* Number of entries in db. */
int mlogi_view_count(mlogi_view *v, mlogi_db db, uint64_t *n);

/* Take the pages of [lo, hi), a range of values this view handed out, out
 * of the process's resident memory: they stay in the page cache, and
 * reading them again maps them again (the values stay valid). A long walk
 * then holds as little memory as a short one. Best effort. */
void mlogi_view_release(mlogi_view *v, const void *lo, const void *hi);

typedef struct mlogi_store_stat {
  uint64_t file_bytes, map_bytes, used_bytes, page_size;
} mlogi_store_info;

int mlogi_store_stat(mlogi_store *st, mlogi_store_info *out, mlogi_errbuf *eb);

/* Faults that stores opened by this thread start with (tests: crashes
 * during recovery); NULL: none. */
extern _Thread_local mlogi_faults *mlogi_open_faults;

/* Route the store's puts, commits and syncs through `faults` (NULL: none).
 * Borrowed: must outlive the store or be reset to NULL. */
void mlogi_store_set_faults(mlogi_store *st, mlogi_faults *faults);

#endif /* MLOG_CORE_STORE_H */
