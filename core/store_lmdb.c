/* store_lmdb.c - the LMDB event and checkpoint store */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/store.h"

#define DEFAULT_MAP_BYTES (64u << 20)
#define MAX_MAP_BYTES ((size_t)1 << 40)
#define MAX_GROW_RETRIES 24

static const char *const db_names[MLOGI_DB_COUNT] = {
    [MLOGI_DB_LOG] = "log",
    [MLOGI_DB_CKPT] = "checkpoints",
    [MLOGI_DB_SENDER] = "sender",
    [MLOGI_DB_META] = "meta",
};

/* One LMDB environment per directory and process: LMDB forbids opening an
 * environment twice in a process (closing the second would drop the first's
 * POSIX locks), so handles on the same directory share one. */
typedef struct shared_env {
  struct shared_env *next;
  dev_t dev;
  ino_t ino;
  int refs;
  MDB_env *env;
  MDB_dbi dbi[MLOGI_DB_COUNT];
  bool dbs_open;          /* false in a new environment until its first write */
  bool rdonly;            /* opened MDB_RDONLY: no writer may share it */
  bool writer;            /* a writing handle holds it */
  bool nosync;            /* opened MDB_NOSYNC: syncs are not forced either */
  int data_fd;            /* data.mdb: flock'ed by the writer; size checks */
  pthread_rwlock_t remap; /* views read-lock; map growth write-locks */
  char dirpath[4096];
} shared_env;

_Thread_local mlogi_faults *mlogi_open_faults;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_env *registry;

struct mlogi_store {
  shared_env *e;
  bool rdonly;
  mlogi_faults *faults;
  const char *dirpath; /* e->dirpath */
};

struct mlogi_view {
  shared_env *e;
  MDB_txn *txn;
};

/* Translate an LMDB (or errno) code to an mlog code with a detail line. */
static int fail_mdb(mlogi_errbuf *eb, int rc, const char *what,
                    const char *dirpath) {
  int err;
  switch (rc) {
  case MDB_INVALID:
    err = MLOG_ENOTLOG;
    break;
  case MDB_VERSION_MISMATCH:
    err = MLOG_EVERSION;
    break;
  case MDB_NOTFOUND:
    err = MLOG_ENOTFOUND;
    break;
  case MDB_MAP_FULL:
    err = MLOG_ENOSPC;
    break;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_BAD_TXN:
  case MDB_PANIC:
    err = MLOG_ECORRUPT;
    break;
  case MDB_READERS_FULL:
  case MDB_TXN_FULL:
    err = MLOG_EBUSY;
    break;
  default:
    err = rc > 0 ? mlogi_from_errno(rc) : MLOG_EIO;
  }
  return mlogi_fail(eb, err, "%s: %s: %s", dirpath, what, mdb_strerror(rc));
}

/* The error an injected fault of `kind` reports, as the real call would. */
static int fault_code(const mlogi_faults *f) {
  switch (f->kind) {
  case MLOGI_FAULT_ENOSPC:
    return ENOSPC;
  case MLOGI_FAULT_MAP_FULL:
    return MDB_MAP_FULL;
  default:
    return EIO;
  }
}

static int inject(mlogi_store *st, mlogi_fault_site site) {
  return mlogi_fault_hit(st->faults, site) ? fault_code(st->faults) : 0;
}

static int path_in(char *buf, size_t len, const char *dirpath,
                   const char *name) {
  return snprintf(buf, len, "%s/%s", dirpath, name) < (int)len ? 0 : -1;
}

/* Check the directory before LMDB touches it, so that a bad path gets its
 * own error and read-only opens never create files. */
static int check_dir(const char *dirpath, unsigned flags, bool *has_data,
                     bool *has_lock, mlogi_errbuf *eb) {
  struct stat sb;
  char path[4200];
  if (stat(dirpath, &sb) != 0) {
    int err = errno;
    if (err == ENOENT && (flags & MLOGI_STORE_CREATE)) {
      if (mlogi_mkdirs(dirpath) != 0)
        return mlogi_fail(eb, mlogi_from_errno(errno), "%s: cannot create: %s",
                          dirpath, strerror(errno));
      return check_dir(dirpath, flags, has_data, has_lock, eb);
    }
    return mlogi_fail(eb, mlogi_from_errno(err), "%s: %s", dirpath,
                      strerror(err));
  }
  if (!S_ISDIR(sb.st_mode))
    return mlogi_fail(eb, MLOG_ENOTDIR,
                      "%s: not a directory (a log is a directory)", dirpath);
  if (access(dirpath, (flags & MLOGI_STORE_RDONLY) ? R_OK | X_OK
                                                   : R_OK | W_OK | X_OK) != 0)
    return mlogi_fail(eb, mlogi_from_errno(errno), "%s: %s", dirpath,
                      strerror(errno));
  if (path_in(path, sizeof path, dirpath, "data.mdb") != 0)
    return mlogi_fail(eb, MLOG_EINVAL, "%s: path too long", dirpath);
  *has_data = stat(path, &sb) == 0;
  if (*has_data && sb.st_size == 0 && (flags & MLOGI_STORE_RDONLY))
    return mlogi_fail(eb, MLOG_ENOTLOG, "%s: holds no log (data.mdb is empty)",
                      dirpath);
  if (*has_data && access(path, R_OK) != 0)
    return mlogi_fail(eb, mlogi_from_errno(errno), "%s: %s", path,
                      strerror(errno));
  path_in(path, sizeof path, dirpath, "lock.mdb");
  *has_lock = access(path, F_OK) == 0;
  if (!*has_data && !(flags & MLOGI_STORE_CREATE))
    return mlogi_fail(eb, MLOG_ENOTLOG, "%s: holds no log (no data.mdb)",
                      dirpath);
  return MLOG_OK;
}

/* Only one writer per directory: an exclusive flock on data.mdb, which
 * LMDB's own (fcntl) locks do not interfere with. */
static int lock_writer(shared_env *e, mlogi_errbuf *eb) {
  if (flock(e->data_fd, LOCK_EX | LOCK_NB) == 0)
    return MLOG_OK;
  if (errno == EWOULDBLOCK)
    return mlogi_fail(eb, MLOG_EBUSY, "%s: open for writing by another process",
                      e->dirpath);
  return mlogi_fail(eb, mlogi_from_errno(errno), "%s/data.mdb: flock: %s",
                    e->dirpath, strerror(errno));
}

/* Open the named databases. A brand-new environment (no databases, no
 * entries) gets them in its first write, together with its first data, so
 * that a crash or a failure never leaves a half-created log; an LMDB file
 * that is not ours is never modified. */
static int open_dbs(shared_env *e, bool create, mlogi_errbuf *eb) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
  /* A writer in another process grew the map since the environment was
   * opened: adopt its size (nothing here is in use yet) and begin again. */
  for (int i = 0; rc == MDB_MAP_RESIZED && i < MAX_GROW_RETRIES; i++) {
    rc = mdb_env_set_mapsize(e->env, 0);
    if (rc == 0)
      rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
  }
  if (rc != 0)
    return fail_mdb(eb, rc, "begin", e->dirpath);
  int missing = 0;
  for (int i = 0; i < MLOGI_DB_COUNT; i++) {
    rc = mdb_dbi_open(txn, db_names[i], 0, &e->dbi[i]);
    if (rc == MDB_NOTFOUND)
      missing++;
    else if (rc != 0)
      break;
  }
  MDB_stat ms;
  int statrc = mdb_stat(txn, 0, &ms);
  if (rc == 0 || rc == MDB_NOTFOUND)
    rc = mdb_txn_commit(txn);
  else
    mdb_txn_abort(txn);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(eb, rc, "open databases", e->dirpath);
  e->dbs_open = missing == 0;
  if (e->dbs_open)
    return MLOG_OK;
  bool empty_env = statrc == 0 && ms.ms_entries == 0;
  if (create && empty_env && missing == MLOGI_DB_COUNT)
    return MLOG_OK;
  if (empty_env && missing == MLOGI_DB_COUNT)
    return mlogi_fail(eb, MLOG_ENOTLOG, "%s: holds no log (empty store)",
                      e->dirpath);
  return mlogi_fail(eb, MLOG_ENOTLOG,
                    "%s: LMDB environment without mlog's databases",
                    e->dirpath);
}

/* The data file must hold every page LMDB's meta page claims: a page past
 * its end would fault (SIGBUS) when read. A shorter file is a torn tail. */
static int check_file_size(shared_env *e, mlogi_errbuf *eb) {
  MDB_envinfo info;
  MDB_stat ms;
  struct stat sb;
  if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &ms) != 0 ||
      fstat(e->data_fd, &sb) != 0)
    return mlogi_fail(eb, MLOG_EIO, "%s: cannot stat data.mdb", e->dirpath);
  uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
  if ((uint64_t)sb.st_size < need)
    return mlogi_fail(eb, MLOG_ETORN,
                      "%s/data.mdb: truncated to %lld bytes, its pages need "
                      "%llu",
                      e->dirpath, (long long)sb.st_size,
                      (unsigned long long)need);
  return MLOG_OK;
}

static int open_env(shared_env *e, unsigned flags, size_t map_size,
                    bool has_lock, mlogi_errbuf *eb) {
  int rc = mdb_env_create(&e->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(e->env, MLOGI_DB_COUNT + 2);
  if (rc == 0 && !e->rdonly)
    rc = mdb_env_set_mapsize(e->env, map_size ? map_size : DEFAULT_MAP_BYTES);
  if (rc != 0)
    return fail_mdb(eb, rc, "create environment", e->dirpath);
  unsigned envflags = MDB_NOTLS;
  if (e->rdonly)
    envflags |= MDB_RDONLY | (has_lock ? 0 : MDB_NOLOCK);
  if (flags & MLOGI_STORE_NOSYNC)
    envflags |= MDB_NOSYNC;
  e->nosync = flags & MLOGI_STORE_NOSYNC;
  if (flags & MLOGI_STORE_LAZYMETA)
    envflags |= MDB_NOMETASYNC;
  rc = mdb_env_open(e->env, e->dirpath, envflags, 0640);
  if (rc == ENOENT || rc == EINVAL || rc == MDB_INVALID)
    return mlogi_fail(eb, MLOG_ENOTLOG, "%s/data.mdb: not an LMDB file",
                      e->dirpath);
  if (rc != 0)
    return fail_mdb(eb, rc, "open", e->dirpath);
  char path[4200];
  path_in(path, sizeof path, e->dirpath, "data.mdb");
  e->data_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (e->data_fd < 0)
    return mlogi_fail(eb, mlogi_from_errno(errno), "%s: %s", path,
                      strerror(errno));
  return MLOG_OK;
}

static void env_free(shared_env *e) {
  if (e->env)
    mdb_env_close(e->env);
  if (e->data_fd >= 0)
    close(e->data_fd);
  pthread_rwlock_destroy(&e->remap);
  free(e);
}

/* Open a new environment for the registry. */
static int env_new(const char *dirpath, const struct stat *dir, unsigned flags,
                   size_t map_size, bool has_lock, shared_env **out,
                   mlogi_errbuf *eb) {
  shared_env *e = calloc(1, sizeof *e);
  if (e == NULL)
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  strcpy(e->dirpath, dirpath);
  e->dev = dir->st_dev;
  e->ino = dir->st_ino;
  e->rdonly = flags & MLOGI_STORE_RDONLY;
  e->data_fd = -1;
  pthread_rwlock_init(&e->remap, NULL);
  int rc = open_env(e, flags, map_size, has_lock, eb);
  if (rc == MLOG_OK && !e->rdonly)
    rc = lock_writer(e, eb);
  if (rc == MLOG_OK)
    rc = check_file_size(e, eb);
  if (rc == MLOG_OK)
    rc = open_dbs(e, (flags & MLOGI_STORE_CREATE) && !e->rdonly, eb);
  if (rc != MLOG_OK) {
    env_free(e);
    return rc;
  }
  *out = e;
  return MLOG_OK;
}

/* Find or open the environment of dirpath (registry lock held). */
static int env_acquire(const char *dirpath, unsigned flags, size_t map_size,
                       bool has_lock, shared_env **out, mlogi_errbuf *eb) {
  struct stat dir;
  if (stat(dirpath, &dir) != 0)
    return mlogi_fail(eb, mlogi_from_errno(errno), "%s: %s", dirpath,
                      strerror(errno));
  bool writer = !(flags & MLOGI_STORE_RDONLY);
  for (shared_env *e = registry; e != NULL; e = e->next) {
    if (e->dev != dir.st_dev || e->ino != dir.st_ino)
      continue;
    if (writer && e->writer)
      return mlogi_fail(eb, MLOG_EBUSY,
                        "%s: already open for writing in this process",
                        dirpath);
    if (writer && e->rdonly)
      return mlogi_fail(eb, MLOG_EBUSY,
                        "%s: open read-only in this process: close it first",
                        dirpath);
    e->refs++;
    e->writer |= writer;
    *out = e;
    return MLOG_OK;
  }
  int rc = env_new(dirpath, &dir, flags, map_size, has_lock, out, eb);
  if (rc != MLOG_OK)
    return rc;
  (*out)->refs = 1;
  (*out)->writer = writer;
  (*out)->next = registry;
  registry = *out;
  return MLOG_OK;
}

static void env_release(shared_env *e, bool writer) {
  pthread_mutex_lock(&registry_lock);
  if (writer)
    e->writer = false;
  bool last = --e->refs == 0;
  if (last) {
    shared_env **pp = &registry;
    while (*pp != e)
      pp = &(*pp)->next;
    *pp = e->next;
  }
  pthread_mutex_unlock(&registry_lock);
  if (last)
    env_free(e);
}

int mlogi_store_open(const char *dirpath, unsigned flags, size_t map_size,
                     mlogi_store **out, mlogi_errbuf *eb) {
  *out = NULL;
  if (dirpath == NULL || strlen(dirpath) >= sizeof registry->dirpath)
    return mlogi_fail(eb, MLOG_EINVAL, "bad directory path");
  bool has_data, has_lock;
  int rc = check_dir(dirpath, flags, &has_data, &has_lock, eb);
  if (rc != MLOG_OK)
    return rc;
  mlogi_store *st = calloc(1, sizeof *st);
  if (st == NULL)
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  st->rdonly = flags & MLOGI_STORE_RDONLY;
  pthread_mutex_lock(&registry_lock);
  rc = env_acquire(dirpath, flags, map_size, has_lock, &st->e, eb);
  pthread_mutex_unlock(&registry_lock);
  if (rc != MLOG_OK) {
    free(st);
    return rc;
  }
  st->dirpath = st->e->dirpath;
  st->faults = mlogi_open_faults;
  *out = st;
  return MLOG_OK;
}

void mlogi_store_close(mlogi_store *st) {
  if (st == NULL)
    return;
  env_release(st->e, !st->rdonly);
  free(st);
}

bool mlogi_store_is_new(const mlogi_store *st) {
  return !st->e->dbs_open;
}

void mlogi_store_set_faults(mlogi_store *st, mlogi_faults *faults) {
  st->faults = faults;
}

static int apply_put(mlogi_store *st, MDB_txn *txn, const MDB_dbi *dbi,
                     const mlogi_op *op) {
  MDB_val k = {op->klen, (void *)op->key};
  MDB_val v = {op->vlen, (void *)op->val};
  unsigned fl = op->kind == MLOGI_OP_APPEND ? MDB_APPEND : 0;
  if (op->fill)
    fl |= MDB_RESERVE;
  int rc = inject(st, MLOGI_FAULT_PUT);
  if (rc == 0)
    rc = mdb_put(txn, dbi[op->db], &k, &v, fl);
  if (rc == 0 && op->fill && op->fill(op->fill_arg, v.mv_data, op->vlen) != 0)
    rc = EINVAL;
  return rc;
}

/* Delete the keys that sort before op->key (below) or from it on. */
static int apply_del_range(mlogi_store *st, MDB_txn *txn, const MDB_dbi *dbi,
                           const mlogi_op *op, bool below) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, dbi[op->db], &cur);
  if (rc != 0)
    return rc;
  for (;;) {
    MDB_val k = {op->klen, (void *)op->key}, v;
    rc = mdb_cursor_get(cur, &k, &v, below ? MDB_FIRST : MDB_SET_RANGE);
    if (rc == 0 && below) {
      size_t n = k.mv_size < op->klen ? k.mv_size : op->klen;
      int cmp = memcmp(k.mv_data, op->key, n);
      if (cmp > 0 || (cmp == 0 && k.mv_size >= op->klen))
        break;
    }
    if (rc == 0)
      rc = inject(st, MLOGI_FAULT_PUT);
    if (rc == 0)
      rc = mdb_cursor_del(cur, 0);
    if (rc != 0)
      break;
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

static int apply_op(mlogi_store *st, MDB_txn *txn, const MDB_dbi *dbi,
                    const mlogi_op *op) {
  if (op->db >= MLOGI_DB_COUNT)
    return EINVAL;
  switch (op->kind) {
  case MLOGI_OP_PUT:
  case MLOGI_OP_APPEND:
    return apply_put(st, txn, dbi, op);
  case MLOGI_OP_DEL: {
    MDB_val k = {op->klen, (void *)op->key};
    int rc = inject(st, MLOGI_FAULT_PUT);
    if (rc == 0)
      rc = mdb_del(txn, dbi[op->db], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
  }
  case MLOGI_OP_DEL_BELOW:
  case MLOGI_OP_DEL_FROM:
    return apply_del_range(st, txn, dbi, op, op->kind == MLOGI_OP_DEL_BELOW);
  }
  return EINVAL;
}

/* Adopt a map grown by another process (no transaction may be live). */
static int adopt_map_size(shared_env *e) {
  pthread_rwlock_wrlock(&e->remap);
  int rc = mdb_env_set_mapsize(e->env, 0);
  pthread_rwlock_unlock(&e->remap);
  return rc;
}

/* One attempt at the batch: begin, (create the databases of a new
 * environment,) apply, commit. Returns an LMDB/errno code; the transaction
 * is gone afterwards either way. */
static int write_once(mlogi_store *st, const mlogi_op *ops, size_t n) {
  shared_env *e = st->e;
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
  if (rc == MDB_MAP_RESIZED && (rc = adopt_map_size(e)) == 0)
    rc = mdb_txn_begin(e->env, NULL, 0, &txn);
  if (rc != 0)
    return rc;
  MDB_dbi dbi[MLOGI_DB_COUNT];
  memcpy(dbi, e->dbi, sizeof dbi);
  for (int i = 0; !e->dbs_open && rc == 0 && i < MLOGI_DB_COUNT; i++)
    rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &dbi[i]);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = apply_op(st, txn, dbi, &ops[i]);
  if (rc == 0)
    rc = inject(st, MLOGI_FAULT_COMMIT);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  rc = mdb_txn_commit(txn);
  if (rc == 0 && !e->dbs_open) {
    memcpy(e->dbi, dbi, sizeof dbi);
    e->dbs_open = true;
  }
  return rc;
}

/* Grow the map so that the batch fits: at least double it. */
static int grow_map(shared_env *e, size_t batch_bytes) {
  MDB_envinfo info;
  mdb_env_info(e->env, &info);
  size_t cur = info.me_mapsize;
  if (cur >= MAX_MAP_BYTES)
    return MDB_MAP_FULL;
  size_t next = cur * 2;
  if (next < cur + 2 * batch_bytes)
    next = cur + 2 * batch_bytes;
  if (next > MAX_MAP_BYTES)
    next = MAX_MAP_BYTES;
  pthread_rwlock_wrlock(&e->remap);
  int rc = mdb_env_set_mapsize(e->env, next);
  pthread_rwlock_unlock(&e->remap);
  return rc;
}

int mlogi_store_write(mlogi_store *st, const mlogi_op *ops, size_t n,
                      mlogi_errbuf *eb) {
  if (st->rdonly)
    return mlogi_fail(eb, MLOG_ERDONLY, "%s: opened read-only", st->dirpath);
  size_t batch_bytes = 0;
  for (size_t i = 0; i < n; i++)
    batch_bytes += ops[i].klen + ops[i].vlen + 64;
  int rc = 0;
  for (int attempt = 0; attempt <= MAX_GROW_RETRIES; attempt++) {
    rc = write_once(st, ops, n);
    if (rc != MDB_MAP_FULL)
      break;
    int grc = grow_map(st->e, batch_bytes);
    if (grc != 0)
      return mlogi_fail(eb, MLOG_ENOSPC, "%s: log map full and cannot grow: %s",
                        st->dirpath, mdb_strerror(grc));
  }
  if (rc == EINVAL)
    return mlogi_fail(eb, MLOG_EINVAL, "%s: invalid write", st->dirpath);
  if (rc != 0)
    return fail_mdb(eb, rc, "commit", st->dirpath);
  return MLOG_OK;
}

int mlogi_store_sync(mlogi_store *st, mlogi_errbuf *eb) {
  if (st->rdonly)
    return mlogi_fail(eb, MLOG_ERDONLY, "%s: opened read-only", st->dirpath);
  int rc = inject(st, MLOGI_FAULT_SYNC);
  if (rc == 0 && !st->e->nosync)
    rc = mdb_env_sync(st->e->env, 1);
  return rc ? fail_mdb(eb, rc, "sync", st->dirpath) : MLOG_OK;
}

int mlogi_view_begin(mlogi_store *st, mlogi_view **out, mlogi_errbuf *eb) {
  *out = NULL;
  shared_env *e = st->e;
  mlogi_view *v = malloc(sizeof *v);
  if (v == NULL)
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  v->e = e;
  pthread_rwlock_rdlock(&e->remap);
  int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &v->txn);
  if (rc == MDB_MAP_RESIZED) {
    pthread_rwlock_unlock(&e->remap);
    rc = adopt_map_size(e);
    pthread_rwlock_rdlock(&e->remap);
    if (rc == 0)
      rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &v->txn);
  }
  int err = rc ? fail_mdb(eb, rc, "begin read", st->dirpath) : MLOG_OK;
  if (err == MLOG_OK && st->rdonly) /* a writer's own pages are all there */
    err = check_file_size(e, eb);
  if (err != MLOG_OK) {
    if (rc == 0)
      mdb_txn_abort(v->txn);
    pthread_rwlock_unlock(&e->remap);
    free(v);
    return err;
  }
  *out = v;
  return MLOG_OK;
}

void mlogi_view_end(mlogi_view *v) {
  if (v == NULL)
    return;
  mdb_txn_abort(v->txn);
  pthread_rwlock_unlock(&v->e->remap);
  free(v);
}

static int view_code(int rc) {
  switch (rc) {
  case 0:
    return MLOG_OK;
  case MDB_NOTFOUND:
    return MLOG_ENOTFOUND;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
    return MLOG_ECORRUPT;
  default:
    return rc > 0 ? mlogi_from_errno(rc) : MLOG_EIO;
  }
}

int mlogi_view_get(mlogi_view *v, mlogi_db db, const void *key, size_t klen,
                   const void **val, size_t *vlen) {
  if (!v->e->dbs_open)
    return MLOG_ENOTFOUND;
  MDB_val k = {klen, (void *)key}, d;
  int rc = mdb_get(v->txn, v->e->dbi[db], &k, &d);
  if (rc == 0) {
    *val = d.mv_data;
    *vlen = d.mv_size;
  }
  return view_code(rc);
}

void mlogi_view_release(mlogi_view *v, const void *lo, const void *hi) {
  (void)v; /* a read-only transaction's values lie in the shared file map,
              whose pages can be dropped without losing anything */
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t from = (uintptr_t)lo & ~(uintptr_t)(page - 1);
  if (page > 0 && (uintptr_t)hi > from)
    (void)madvise((void *)from, (uintptr_t)hi - from, MADV_DONTNEED);
}

int mlogi_view_scan(mlogi_view *v, mlogi_db db, const void *from,
                    size_t fromlen, mlogi_entry_fn fn, void *arg) {
  if (!v->e->dbs_open)
    return MLOG_OK;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(v->txn, v->e->dbi[db], &cur);
  if (rc != 0)
    return view_code(rc);
  MDB_val k = {fromlen, (void *)from}, d;
  rc = mdb_cursor_get(cur, &k, &d, from ? MDB_SET_RANGE : MDB_FIRST);
  int stop = 0;
  while (rc == 0) {
    stop = fn(arg, k.mv_data, k.mv_size, d.mv_data, d.mv_size);
    if (stop != 0)
      break;
    rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
  }
  mdb_cursor_close(cur);
  if (stop != 0)
    return stop;
  return rc == MDB_NOTFOUND ? MLOG_OK : view_code(rc);
}

int mlogi_view_last(mlogi_view *v, mlogi_db db, const void **key, size_t *klen,
                    const void **val, size_t *vlen) {
  if (!v->e->dbs_open)
    return MLOG_ENOTFOUND;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(v->txn, v->e->dbi[db], &cur);
  if (rc != 0)
    return view_code(rc);
  MDB_val k, d;
  rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
  if (rc == 0) {
    *key = k.mv_data;
    *klen = k.mv_size;
    *val = d.mv_data;
    *vlen = d.mv_size;
  }
  mdb_cursor_close(cur);
  return view_code(rc);
}

int mlogi_view_count(mlogi_view *v, mlogi_db db, uint64_t *n) {
  *n = 0;
  if (!v->e->dbs_open)
    return MLOG_OK;
  MDB_stat ms;
  int rc = mdb_stat(v->txn, v->e->dbi[db], &ms);
  if (rc == 0)
    *n = ms.ms_entries;
  return view_code(rc);
}

int mlogi_store_stat(mlogi_store *st, mlogi_store_info *out, mlogi_errbuf *eb) {
  MDB_envinfo info;
  MDB_stat ms;
  struct stat sb;
  shared_env *e = st->e;
  if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &ms) != 0 ||
      fstat(e->data_fd, &sb) != 0)
    return mlogi_fail(eb, MLOG_EIO, "%s: cannot stat the store", st->dirpath);
  out->file_bytes = (uint64_t)sb.st_size;
  out->map_bytes = info.me_mapsize;
  out->page_size = ms.ms_psize;
  out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
  return MLOG_OK;
}
