/* log.c - the hash-chained event log of one process, on the store */
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"

#define KEY_ID_BYTES 8
#define PROGRESS_EVERY 65536u

static const char META_FORMAT[] = "format";
static const char META_PROCESS[] = "process_id";
static const char META_GROUP[] = "group_size";
static const char META_PROTOCOL[] = "protocol";
static const char META_INCARNATION[] = "incarnation";
static const char META_KEY_ID[] = "key_id";
static const char META_CHAIN_BASE[] = "chain_base";
static const char META_ENDS[] = "incarnation_ends";

struct mlog_log {
  mlogi_store *st;
  bool rdonly;
  bool has_key; /* a key was given (and matches the log's key id) */
  bool keyed;   /* the log was created with a key */
  mlog_key key;
  uint32_t process_id, group_size, incarnation;
  uint64_t *ends; /* ends[k]: last rsn of incarnation k (k < nends) */
  uint32_t nends;
  unsigned format_major, format_minor;
  char protocol[32];
  bool lazymeta;                    /* commits do not flush the meta page */
  bool created;                     /* this open created the log */
  uint64_t next_lsn;                /* lsn the next append gets */
  uint64_t durable_lsn;             /* last lsn that survives an OS crash */
  uint8_t head_tag[MLOG_TAG_BYTES]; /* tag of the record before next_lsn */
  mlogi_op *ops;                    /* scratch for appends */
  size_t ops_cap;
  mlogi_errbuf eb;
};

static void key_id(const mlog_key *key, uint8_t out[KEY_ID_BYTES]) {
  static const char label[] = "mlog key id v1";
  crypto_generichash(out, KEY_ID_BYTES, (const uint8_t *)label,
                     sizeof label - 1, key->bytes, MLOG_KEY_BYTES);
}

static const mlog_key *tag_key(const mlog_log *log) {
  return log->has_key ? &log->key : NULL;
}

static int meta_get(mlogi_view *v, const char *name, const void **val,
                    size_t *len) {
  return mlogi_view_get(v, MLOGI_DB_META, name, strlen(name), val, len);
}

static int meta_u32(mlogi_view *v, const char *name, uint32_t *out) {
  const void *val;
  size_t len;
  int rc = meta_get(v, name, &val, &len);
  if (rc == MLOG_OK && len != 4)
    return MLOG_ENOTLOG;
  if (rc == MLOG_OK)
    *out = mlogi_get_le32(val);
  return rc;
}

/* Where the chain starts: after discarded records, or at the genesis. */
static int chain_base(mlog_log *log, mlogi_view *v, uint64_t *lsn,
                      uint8_t tag[MLOG_TAG_BYTES]) {
  const void *val;
  size_t len;
  int rc = meta_get(v, META_CHAIN_BASE, &val, &len);
  if (rc == MLOG_ENOTFOUND) {
    *lsn = 1;
    mlog_chain_genesis(log->process_id, tag_key(log), tag);
    return MLOG_OK;
  }
  if (rc != MLOG_OK || len != 8 + MLOG_TAG_BYTES)
    return mlogi_fail(&log->eb, MLOG_ECORRUPT, "bad chain_base metadata");
  *lsn = mlogi_get_le64(val);
  memcpy(tag, (const uint8_t *)val + 8, MLOG_TAG_BYTES);
  return MLOG_OK;
}

/* Where the ended incarnations ended (absent in a log that never ended
 * one through mlog_log_end_incarnation). */
static int read_ends(mlog_log *log, mlogi_view *v, const char *dirpath) {
  const void *val;
  size_t len;
  int rc = meta_get(v, META_ENDS, &val, &len);
  if (rc == MLOG_ENOTFOUND)
    return MLOG_OK;
  if (rc != MLOG_OK || len % 8 != 0 || len / 8 > log->incarnation)
    return mlogi_fail(&log->eb, MLOG_ENOTLOG, "%s: bad incarnation ends",
                      dirpath);
  log->nends = (uint32_t)(len / 8);
  log->ends = malloc(len ? len : 1);
  if (log->ends == NULL)
    return mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory");
  for (uint32_t k = 0; k < log->nends; k++)
    log->ends[k] = mlogi_get_le64((const uint8_t *)val + 8 * k);
  return MLOG_OK;
}

static int read_meta(mlog_log *log, mlogi_view *v, const char *dirpath) {
  const void *val;
  size_t len;
  int rc = meta_get(v, META_FORMAT, &val, &len);
  if (rc != MLOG_OK || len != 2)
    return mlogi_fail(&log->eb, MLOG_ENOTLOG, "%s: no mlog format metadata",
                      dirpath);
  log->format_major = ((const uint8_t *)val)[0];
  log->format_minor = ((const uint8_t *)val)[1];
  if (log->format_major != MLOG_FORMAT_MAJOR)
    return mlogi_fail(&log->eb, MLOG_EVERSION, "%s: log format %u.%u", dirpath,
                      log->format_major, log->format_minor);
  if (meta_u32(v, META_PROCESS, &log->process_id) != MLOG_OK ||
      meta_u32(v, META_GROUP, &log->group_size) != MLOG_OK ||
      meta_u32(v, META_INCARNATION, &log->incarnation) != MLOG_OK)
    return mlogi_fail(&log->eb, MLOG_ENOTLOG, "%s: incomplete metadata",
                      dirpath);
  if (meta_get(v, META_PROTOCOL, &val, &len) == MLOG_OK &&
      len < sizeof log->protocol) {
    memcpy(log->protocol, val, len);
    log->protocol[len] = '\0';
  }
  rc = read_ends(log, v, dirpath);
  if (rc != MLOG_OK)
    return rc;
  rc = meta_get(v, META_KEY_ID, &val, &len);
  log->keyed = rc == MLOG_OK;
  if (log->keyed && len != KEY_ID_BYTES)
    return mlogi_fail(&log->eb, MLOG_ENOTLOG, "%s: bad key id", dirpath);
  if (log->has_key && !log->keyed)
    return mlogi_fail(&log->eb, MLOG_EKEY,
                      "%s: the log is not keyed but a key was given", dirpath);
  if (log->has_key) {
    uint8_t id[KEY_ID_BYTES];
    key_id(&log->key, id);
    if (memcmp(id, val, KEY_ID_BYTES) != 0)
      return mlogi_fail(&log->eb, MLOG_EKEY,
                        "%s: the key does not match the log's key", dirpath);
  }
  return MLOG_OK;
}

/* Position the append head after the last record (or the chain base). */
static int read_head(mlog_log *log, mlogi_view *v, const char *dirpath) {
  const void *key, *val;
  size_t klen, vlen;
  int rc = mlogi_view_last(v, MLOGI_DB_LOG, &key, &klen, &val, &vlen);
  if (rc == MLOG_ENOTFOUND)
    return chain_base(log, v, &log->next_lsn, log->head_tag);
  mlog_record rec;
  if (rc == MLOG_OK && klen == 8 &&
      mlog_record_decode(val, vlen, &rec) == MLOG_OK &&
      rec.lsn == mlogi_get_be64(key)) {
    log->next_lsn = rec.lsn + 1;
    memcpy(log->head_tag, rec.tag, MLOG_TAG_BYTES);
    return MLOG_OK;
  }
  return mlogi_fail(&log->eb, rc == MLOG_OK ? MLOG_ECORRUPT : rc,
                    "%s: the last record of the log is unreadable (run mlog "
                    "verify)",
                    dirpath);
}

static const char *config_protocol(const mlog_log_config *cfg) {
  return cfg->protocol ? cfg->protocol : "none";
}

/* A config that can create a log, checked before the directory is touched. */
static int check_config(mlog_log *log, const mlog_log_config *cfg) {
  const char *proto = config_protocol(cfg);
  if (strlen(proto) >= sizeof log->protocol || cfg->group_size == 0 ||
      cfg->process_id >= cfg->group_size)
    return mlogi_fail(&log->eb, MLOG_EINVAL,
                      "bad log config (process %u of %u, protocol '%s')",
                      cfg->process_id, cfg->group_size, proto);
  return MLOG_OK;
}

/* The first write of a new log: its metadata (and its databases). */
static int create_meta(mlog_log *log, const mlog_log_config *cfg) {
  uint8_t format[2] = {MLOG_FORMAT_MAJOR, MLOG_FORMAT_MINOR};
  uint8_t pid[4], group[4], inc[4] = {0}, id[KEY_ID_BYTES];
  mlogi_put_le32(pid, cfg->process_id);
  mlogi_put_le32(group, cfg->group_size);
  const char *proto = config_protocol(cfg);
#define META_OP(name, v, n)                                                    \
  {.kind = MLOGI_OP_PUT,                                                       \
   .db = MLOGI_DB_META,                                                        \
   .key = name,                                                                \
   .klen = sizeof name - 1,                                                    \
   .val = v,                                                                   \
   .vlen = n}
  mlogi_op ops[] = {
      META_OP(META_FORMAT, format, 2),
      META_OP(META_PROCESS, pid, 4),
      META_OP(META_GROUP, group, 4),
      META_OP(META_INCARNATION, inc, 4),
      META_OP(META_PROTOCOL, proto, strlen(proto)),
      META_OP(META_KEY_ID, id, KEY_ID_BYTES),
  };
#undef META_OP
  size_t n = sizeof ops / sizeof ops[0];
  if (cfg->key != NULL)
    key_id(cfg->key, id);
  else
    n--; /* an unkeyed log has no key id */
  return mlogi_store_write(log->st, ops, n, &log->eb);
}

static unsigned store_flags(unsigned flags) {
  unsigned sf = 0;
  if (flags & MLOG_LOG_RDONLY)
    sf |= MLOGI_STORE_RDONLY;
  if (flags & MLOG_LOG_CREATE)
    sf |= MLOGI_STORE_CREATE;
  if (flags & MLOG_LOG_NOSYNC)
    sf |= MLOGI_STORE_NOSYNC;
  if (flags & MLOG_LOG_LAZYMETA)
    sf |= MLOGI_STORE_LAZYMETA;
  return sf;
}

static int open_log(mlog_log *log, const char *dirpath, unsigned flags,
                    const mlog_log_config *cfg) {
  if ((flags & MLOG_LOG_CREATE) && cfg != NULL) {
    int rc = check_config(log, cfg);
    if (rc != MLOG_OK)
      return rc;
  }
  int rc = mlogi_store_open(dirpath, store_flags(flags),
                            cfg ? cfg->map_size : 0, &log->st, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  if (mlogi_store_is_new(log->st)) {
    if (cfg == NULL)
      return mlogi_fail(&log->eb, MLOG_EINVAL, "%s: a new log needs a config",
                        dirpath);
    rc = create_meta(log, cfg);
    if (rc != MLOG_OK)
      return rc;
    log->created = true;
  }
  mlogi_view *v;
  rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  rc = read_meta(log, v, dirpath);
  if (rc == MLOG_OK && log->keyed && !log->has_key && !log->rdonly)
    rc = mlogi_fail(&log->eb, MLOG_ENOKEY, "%s: the log is keyed: give its key",
                    dirpath);
  if (rc == MLOG_OK && !log->rdonly) /* only writers need the head */
    rc = read_head(log, v, dirpath);
  mlogi_view_end(v);
  /* What an earlier process left may lack its last meta-page flush. */
  if (rc == MLOG_OK && log->lazymeta)
    rc = mlogi_store_sync(log->st, &log->eb);
  log->durable_lsn = log->next_lsn - 1;
  return rc;
}

int mlog_log_open(const char *dirpath, unsigned flags,
                  const mlog_log_config *cfg, mlog_log **out) {
  mlogi_errbuf *teb = mlogi_thread_errbuf();
  if (out == NULL)
    return mlogi_fail(teb, MLOG_EINVAL, "no place for the handle");
  *out = NULL;
  const unsigned known =
      MLOG_LOG_RDONLY | MLOG_LOG_CREATE | MLOG_LOG_NOSYNC | MLOG_LOG_LAZYMETA;
  if (dirpath == NULL || (flags & ~known) ||
      ((flags & MLOG_LOG_RDONLY) && (flags & MLOG_LOG_CREATE)))
    return mlogi_fail(teb, MLOG_EINVAL, "bad arguments to mlog_log_open");
  mlog_log *log = calloc(1, sizeof *log);
  if (log == NULL)
    return mlogi_fail(teb, MLOG_ENOMEM, "out of memory");
  log->rdonly = flags & MLOG_LOG_RDONLY;
  log->lazymeta = flags & MLOG_LOG_LAZYMETA;
  if (cfg != NULL && cfg->key != NULL) {
    log->key = *cfg->key;
    log->has_key = true;
  }
  int rc = open_log(log, dirpath, flags, cfg);
  if (rc != MLOG_OK) {
    *teb = log->eb;
    mlog_log_close(log);
    return rc;
  }
  *out = log;
  return MLOG_OK;
}

void mlog_log_close(mlog_log *log) {
  if (log == NULL)
    return;
  mlogi_store_close(log->st);
  sodium_memzero(&log->key, sizeof log->key);
  free(log->ends);
  free(log->ops);
  free(log);
}

const char *mlog_log_errmsg(const mlog_log *log) {
  return log ? log->eb.msg : mlogi_thread_errbuf()->msg;
}

/* ------------------------------------------------------------------------ */
/* Appending                                                                */

typedef struct encode_arg {
  mlog_log *log;
  mlog_record *rec;
  const uint8_t *prev_tag;
} encode_arg;

static int encode_fill(void *arg, void *dst, size_t vlen) {
  encode_arg *ea = arg;
  return mlog_record_encode(ea->rec, ea->prev_tag, tag_key(ea->log), dst, vlen);
}

static int reserve_ops(mlog_log *log, size_t n) {
  size_t need = n * (sizeof(mlogi_op) + sizeof(encode_arg) + 8);
  if (need <= log->ops_cap)
    return MLOG_OK;
  void *p = realloc(log->ops, need);
  if (p == NULL)
    return mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory for %zu records",
                      n);
  log->ops = p;
  log->ops_cap = need;
  return MLOG_OK;
}

int mlog_log_append(mlog_log *log, mlog_record *recs, size_t n) {
  if (log == NULL || (n > 0 && recs == NULL))
    return MLOG_EINVAL;
  if (log->rdonly)
    return mlogi_fail(&log->eb, MLOG_ERDONLY, "log opened read-only");
  if (n == 0)
    return MLOG_OK;
  int rc = reserve_ops(log, n);
  if (rc != MLOG_OK)
    return rc;
  mlogi_op *ops = log->ops;
  encode_arg *args = (encode_arg *)(ops + n);
  uint8_t *keys = (uint8_t *)(args + n);
  for (size_t i = 0; i < n; i++) {
    if (recs[i].payload_len > MLOG_PAYLOAD_MAX)
      return mlogi_fail(&log->eb, MLOG_ETOOBIG,
                        "record %zu: payload of %u "
                        "bytes",
                        i, recs[i].payload_len);
    recs[i].lsn = log->next_lsn + i;
    mlogi_put_be64(keys + 8 * i, recs[i].lsn);
    args[i] =
        (encode_arg){log, &recs[i], i == 0 ? log->head_tag : recs[i - 1].tag};
    ops[i] = (mlogi_op){.kind = MLOGI_OP_APPEND,
                        .db = MLOGI_DB_LOG,
                        .key = keys + 8 * i,
                        .klen = 8,
                        .vlen = mlog_record_size(recs[i].payload_len),
                        .fill = encode_fill,
                        .fill_arg = &args[i]};
  }
  rc = mlogi_store_write(log->st, ops, n, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  /* This commit's data flush also flushed the previous commit's meta. */
  log->durable_lsn = log->lazymeta ? log->next_lsn - 1 : log->next_lsn + n - 1;
  log->next_lsn += n;
  memcpy(log->head_tag, recs[n - 1].tag, MLOG_TAG_BYTES);
  return MLOG_OK;
}

int mlog_log_sync(mlog_log *log) {
  if (log == NULL)
    return MLOG_EINVAL;
  int rc = mlogi_store_sync(log->st, &log->eb);
  if (rc == MLOG_OK)
    log->durable_lsn = log->next_lsn - 1;
  return rc;
}

uint64_t mlog_log_durable_lsn(const mlog_log *log) {
  return log->durable_lsn;
}

uint64_t mlog_log_next_lsn(const mlog_log *log) {
  return log->next_lsn;
}

/* ------------------------------------------------------------------------ */
/* Walking the chain: shared by scan and verify                             */

/* A record's tag covers the tag stored in the record before it, so the
 * tags of a run of records can be checked apart from the walk. A long walk
 * gathers its entries in chunks: checker threads (one per processor, at
 * most MAX_CHECKERS) check the tags of one chunk, a slice each, while the
 * walk checks everything else of the chunk before it, in order, and takes
 * a record's verdict only once the record before it passed (its stored tag
 * is then the tag the walk chains over). The entries point into the walk's
 * view, which outlives the threads. */
#define CHUNK_RECORDS 8192u
#define AHEAD_MIN_RECORDS (2 * CHUNK_RECORDS) /* shorter walks: one thread */
#define MAX_CHECKERS 4
#define RELEASE_GAP 4096 /* values this close are released as one run */

typedef struct entry {
  const void *key, *val;
  size_t klen, vlen;
} entry;

struct chunk;

/* The entries [from, to) of a chunk, for one checker thread. */
typedef struct slice {
  struct chunk *c;
  size_t from, to;
  pthread_t thread;
  bool running;
} slice;

typedef struct chunk {
  entry e[CHUNK_RECORDS];
  int8_t verdict[CHUNK_RECORDS]; /* e[i]'s tag: 1 good, 0 bad, -1 unknown */
  size_t n;
  const uint8_t *prev; /* the tag e[0] chains over; NULL: unknown */
  uint8_t prev_buf[MLOG_TAG_BYTES];
  const mlog_key *key;
  slice sl[MAX_CHECKERS];
  unsigned n_sl;
} chunk;

typedef struct walk {
  mlog_log *log;
  uint64_t expect;              /* lsn the next record must carry */
  uint8_t prev[MLOG_TAG_BYTES]; /* tag the next record chains over */
  uint64_t last_key;            /* key of the last entry of the log */
  uint64_t from;                /* call fn for lsn >= from */
  mlog_scan_fn fn;
  void *arg;
  int fn_rc; /* what fn returned when it stopped the walk */
  mlog_progress_fn progress;
  void *parg;
  uint64_t total;
  mlog_verify_report *rep;
  chunk *bufs;   /* [2]: the chunks (NULL: one record at a time) */
  chunk *cur;    /* the one being gathered */
  chunk *flight; /* the other, its tags being checked (NULL: none yet) */
  mlogi_view *v; /* the walk's snapshot */
  bool stopped;  /* a record stopped the walk */
} walk;

static int problem(walk *w, int err, uint64_t lsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int problem(walk *w, int err, uint64_t lsn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->rep->detail, sizeof w->rep->detail, fmt, ap);
  va_end(ap);
  w->rep->problem = err;
  w->rep->bad_lsn = lsn;
  return err;
}

/* Check one entry of the log in order; verdict is its tag's, when known
 * (-1: check it here). Returns 0 to go on, a problem, or -1 when fn stops
 * the walk. */
static int check_entry(walk *w, const void *key, size_t klen, const void *val,
                       size_t vlen, int verdict) {
  if (klen != 8)
    return problem(w, MLOG_EHEADER, w->expect,
                   "bad header: key of %zu bytes after lsn %llu", klen,
                   (unsigned long long)(w->expect - 1));
  uint64_t lsn = mlogi_get_be64(key);
  mlog_record rec;
  int rc = mlog_record_decode(val, vlen, &rec);
  if (rc == MLOG_ETORN && lsn == w->last_key)
    return problem(w, MLOG_ETORN, lsn,
                   "torn tail: last record (lsn %llu) is "
                   "cut short at %zu bytes",
                   (unsigned long long)lsn, vlen);
  if (rc != MLOG_OK)
    return problem(w, MLOG_EHEADER, lsn, "bad header: record lsn %llu: %s",
                   (unsigned long long)lsn, mlog_strerror(rc));
  if (lsn != w->expect || rec.lsn != lsn)
    return problem(w, MLOG_ECHAIN, lsn,
                   "broken chain: expected lsn %llu, "
                   "found key %llu holding lsn %llu (deleted, reordered or "
                   "duplicated records)",
                   (unsigned long long)w->expect, (unsigned long long)lsn,
                   (unsigned long long)rec.lsn);
  bool good = verdict < 0
                  ? mlogi_tag_matches(val, vlen, w->prev, tag_key(w->log))
                  : verdict > 0;
  if (!good)
    return problem(w, MLOG_EBADTAG, lsn,
                   "bad tag: record lsn %llu does not "
                   "match its tag (edited)",
                   (unsigned long long)lsn);
  memcpy(w->prev, rec.tag, MLOG_TAG_BYTES);
  w->expect++;
  if (w->rep->records++ == 0)
    w->rep->first_lsn = lsn;
  w->rep->last_lsn = lsn;
  if (w->progress && w->rep->records % PROGRESS_EVERY == 0)
    w->progress(w->parg, w->rep->records, w->total);
  if (w->fn && lsn >= w->from) {
    w->fn_rc = w->fn(w->arg, &rec);
    if (w->fn_rc != 0)
      return -1;
  }
  return 0;
}

/* The tag stored at the end of an entry, or NULL when it is too short. */
static const uint8_t *stored_tag(const entry *e) {
  return e->vlen >= MLOG_TAG_BYTES
             ? (const uint8_t *)e->val + e->vlen - MLOG_TAG_BYTES
             : NULL;
}

/* A checker thread: each tag of its slice over the tag stored before. */
static void *check_tags(void *arg) {
  const slice *sl = arg;
  chunk *c = sl->c;
  const uint8_t *prev = sl->from ? stored_tag(&c->e[sl->from - 1]) : c->prev;
  for (size_t i = sl->from; i < sl->to; i++) {
    const entry *e = &c->e[i];
    c->verdict[i] =
        prev && e->vlen >= MLOG_TAG_BYTES
            ? (int8_t)mlogi_tag_matches(e->val, e->vlen, prev, c->key)
            : -1; /* what the walk finds in it comes first */
    prev = stored_tag(e);
  }
  return NULL;
}

/* How many checker threads a chunk gets: one per processor. */
static unsigned checkers(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus < 1 ? 1 : cpus > MAX_CHECKERS ? MAX_CHECKERS : (unsigned)cpus;
}

/* Start the checker threads of a full chunk. A slice whose thread cannot
 * start keeps its verdicts unknown: the walk checks them in order. The
 * threads block every signal: the application's handlers run on its own
 * threads, as they did before the library started any. */
static void chunk_check(chunk *c, const mlog_key *key) {
  c->key = key;
  c->n_sl = checkers();
  sigset_t all, old;
  sigfillset(&all);
  bool masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
  for (unsigned k = 0; k < c->n_sl; k++) {
    slice *sl = &c->sl[k];
    *sl = (slice){
        .c = c, .from = c->n * k / c->n_sl, .to = c->n * (k + 1) / c->n_sl};
    sl->running = pthread_create(&sl->thread, NULL, check_tags, sl) == 0;
    if (!sl->running)
      memset(c->verdict + sl->from, -1, sl->to - sl->from);
  }
  if (masked)
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void chunk_wait(chunk *c) {
  for (unsigned k = 0; c != NULL && k < c->n_sl; k++)
    if (c->sl[k].running)
      pthread_join(c->sl[k].thread, NULL);
  if (c != NULL)
    c->n_sl = 0;
}

/* Walk a chunk's entries in order with their verdicts. */
static int walk_chunk(walk *w, const chunk *c) {
  for (size_t i = 0; i < c->n; i++) {
    const entry *e = &c->e[i];
    int rc = check_entry(w, e->key, e->klen, e->val, e->vlen, c->verdict[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Let the pages of a walked chunk's values go (verify's memory stays flat
 * however long the log), a run of adjacent ones at a time: a log that was
 * collected and written again is not laid out in lsn order in its file. */
static void release_chunk(walk *w, const chunk *c) {
  uintptr_t lo = 0, hi = 0; /* the run so far; lo 0: none */
  for (size_t i = 0; i <= c->n; i++) {
    uintptr_t a = i < c->n ? (uintptr_t)c->e[i].val : 0;
    uintptr_t b = a + (i < c->n ? c->e[i].vlen : 0);
    if (a != 0 && lo != 0 && a <= hi + RELEASE_GAP && b + RELEASE_GAP >= lo) {
      lo = a < lo ? a : lo;
      hi = b > hi ? b : hi;
      continue;
    }
    if (lo != 0)
      mlogi_view_release(w->v, (const void *)lo, (const void *)hi);
    lo = a;
    hi = b;
  }
}

/* Hand the full chunk to the checker threads (its first entry chains over
 * the last tag of the chunk before), then walk the chunk checked before. */
static int hand_over(walk *w) {
  chunk *full = w->cur, *checked = w->flight;
  chunk_wait(checked);
  chunk_check(full, tag_key(w->log));
  w->flight = full;
  int rc = checked ? walk_chunk(w, checked) : 0;
  if (checked)
    release_chunk(w, checked);
  w->cur = checked ? checked : &w->bufs[1]; /* gathers the next chunk */
  w->cur->n = 0;
  const uint8_t *last = stored_tag(&full->e[full->n - 1]);
  w->cur->prev = last ? memcpy(w->cur->prev_buf, last, MLOG_TAG_BYTES) : NULL;
  return rc;
}

static int walk_entry(void *arg, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  walk *w = arg;
  int rc = 0;
  if (w->cur == NULL) {
    rc = check_entry(w, key, klen, val, vlen, -1);
  } else {
    w->cur->e[w->cur->n++] = (entry){key, val, klen, vlen};
    if (w->cur->n == CHUNK_RECORDS)
      rc = hand_over(w);
  }
  w->stopped = rc != 0;
  return rc;
}

/* Gather a walk of n records in chunks when it is long enough and memory
 * allows (else it goes one record at a time). */
static void chunks_begin(walk *w, uint64_t n) {
  if (n < AHEAD_MIN_RECORDS)
    return;
  w->bufs = malloc(2 * sizeof *w->bufs);
  if (w->bufs == NULL)
    return;
  w->bufs[0].n = w->bufs[0].n_sl = w->bufs[1].n_sl = 0;
  w->cur = &w->bufs[0];
  w->cur->prev = memcpy(w->cur->prev_buf, w->prev, MLOG_TAG_BYTES);
  w->flight = NULL;
}

/* End the chunks: wait for the checking thread and, unless a record
 * stopped the walk, walk what was gathered. Returns what walking it
 * returned (0, a problem or -1). */
static int chunks_end(walk *w) {
  int rc = 0;
  chunk_wait(w->flight);
  if (w->flight != NULL && !w->stopped)
    rc = walk_chunk(w, w->flight);
  if (w->cur != NULL && rc == 0 && !w->stopped) {
    memset(w->cur->verdict, -1, sizeof w->cur->verdict);
    rc = walk_chunk(w, w->cur);
  }
  free(w->bufs);
  w->bufs = w->cur = w->flight = NULL;
  return rc;
}

/* Walk the whole chain in one snapshot. Returns an error when the walk could
 * not run; what it found is in *rep. */
static int tag_after(mlog_log *log, mlogi_view *v, uint64_t lsn,
                     uint8_t tag[MLOG_TAG_BYTES]);

static int walk_log(mlog_log *log, walk *w) {
  if (log->keyed && !log->has_key)
    return mlogi_fail(&log->eb, MLOG_ENOKEY,
                      "the log is keyed: give its key to check tags");
  memset(w->rep, 0, sizeof *w->rep);
  w->log = log;
  mlogi_view *v;
  int rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc == MLOG_ETORN) {
    problem(w, MLOG_ETORN, 0, "torn tail: %s", log->eb.msg);
    return MLOG_OK;
  }
  if (rc != MLOG_OK)
    return rc;
  const void *key, *val;
  size_t klen, vlen;
  w->v = v;
  rc = chain_base(log, v, &w->expect, w->prev);
  if (rc == MLOG_OK)
    rc = mlogi_view_count(v, MLOGI_DB_LOG, &w->total);
  if (rc == MLOG_OK) {
    rc = mlogi_view_last(v, MLOGI_DB_LOG, &key, &klen, &val, &vlen);
    w->last_key = rc == MLOG_OK && klen == 8 ? mlogi_get_be64(key) : 0;
    rc = rc == MLOG_ENOTFOUND ? MLOG_OK : rc;
  }
  /* A scan from a later lsn starts there, chaining over the tag the record
   * before it holds (when that record is missing, walk everything so that
   * the break is reported). Verification walks the whole log. */
  uint8_t from[8];
  bool skip = rc == MLOG_OK && w->fn != NULL && w->from > w->expect &&
              tag_after(log, v, w->from - 1, w->prev) == MLOG_OK;
  if (skip) {
    w->expect = w->from;
    mlogi_put_be64(from, w->from);
  } else if (rc == MLOG_OK) {
    rc = chain_base(log, v, &w->expect, w->prev); /* tag_after may have
                                                     written w->prev */
  }
  if (rc == MLOG_OK) {
    chunks_begin(w, w->last_key >= w->expect ? w->last_key - w->expect + 1 : 0);
    rc = mlogi_view_scan(v, MLOGI_DB_LOG, skip ? from : NULL, skip ? 8 : 0,
                         walk_entry, w);
    int pending = chunks_end(w); /* before any finding after them */
    if (pending != 0)
      rc = pending;
    if (rc == MLOG_ECORRUPT && w->rep->problem == MLOG_OK) /* a finding */
      problem(w, MLOG_ECORRUPT, w->expect,
              "damaged store: LMDB pages after lsn %llu are unreadable",
              (unsigned long long)(w->expect - 1));
    if (rc == -1 || rc == w->rep->problem)
      rc = MLOG_OK;
    else if (rc != MLOG_OK)
      rc = mlogi_fail(&log->eb, rc, "reading the log: %s", mlog_strerror(rc));
  }
  mlogi_view_end(v);
  return rc;
}

static int check_checkpoint(mlog_log *log, mlogi_view *v, const void *key,
                            size_t klen, const void *val, size_t vlen,
                            mlog_record *rec);

typedef struct ckpt_walk {
  mlog_log *log;
  mlogi_view *v;
  mlog_verify_report *rep;
} ckpt_walk;

static int verify_checkpoint(void *arg, const void *key, size_t klen,
                             const void *val, size_t vlen) {
  ckpt_walk *cw = arg;
  mlog_record rec;
  int rc = check_checkpoint(cw->log, cw->v, key, klen, val, vlen, &rec);
  if (rc == MLOG_OK) {
    cw->rep->checkpoints++;
    return 0;
  }
  cw->rep->problem = rc == MLOG_ECHAIN    ? MLOG_ECHAIN
                     : rc == MLOG_EBADTAG ? MLOG_EBADTAG
                                          : MLOG_EHEADER;
  snprintf(cw->rep->detail, sizeof cw->rep->detail, "%s: checkpoint %llu %s",
           rc == MLOG_ECHAIN    ? "broken chain"
           : rc == MLOG_EBADTAG ? "bad tag"
                                : "bad header",
           klen == 8 ? (unsigned long long)mlogi_get_be64(key) : 0ull,
           rc == MLOG_ECHAIN ? "does not follow a record of this log"
                             : "fails its check");
  return rc;
}

/* Check every checkpoint's tag and its link to the record it covers. */
static int verify_checkpoints(mlog_log *log, mlog_verify_report *rep) {
  mlogi_view *v;
  int rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  ckpt_walk cw = {.log = log, .v = v, .rep = rep};
  rc = mlogi_view_scan(v, MLOGI_DB_CKPT, NULL, 0, verify_checkpoint, &cw);
  mlogi_view_end(v);
  return rep->problem != MLOG_OK ? MLOG_OK : rc;
}

int mlog_log_verify(mlog_log *log, mlog_verify_report *report,
                    mlog_progress_fn progress, void *arg) {
  if (log == NULL || report == NULL)
    return MLOG_EINVAL;
  walk w = {.progress = progress, .parg = arg, .rep = report};
  int rc = walk_log(log, &w);
  if (rc == MLOG_OK && report->problem == MLOG_OK)
    rc = verify_checkpoints(log, report);
  return rc;
}

int mlog_log_scan(mlog_log *log, uint64_t from_lsn, mlog_scan_fn fn,
                  void *arg) {
  if (log == NULL || fn == NULL)
    return MLOG_EINVAL;
  mlog_verify_report rep;
  walk w = {.from = from_lsn, .fn = fn, .arg = arg, .rep = &rep};
  int rc = walk_log(log, &w);
  if (rc != MLOG_OK)
    return rc;
  if (w.fn_rc != 0)
    return w.fn_rc;
  if (rep.problem != MLOG_OK)
    return mlogi_fail(&log->eb, rep.problem, "%s", rep.detail);
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Sender-based logging: the messages a process keeps for their receivers   */

static int check_writable(mlog_log *log);

/* Key of a kept message: receiver (big-endian u32), ssn (big-endian u64). */
static void sent_key(uint8_t key[12], uint32_t dst, uint64_t ssn) {
  mlogi_put_be32(key, dst);
  mlogi_put_be64(key + 4, ssn);
}

typedef struct sent_fill {
  mlog_record *rec;
  const uint8_t *genesis;
  const mlog_key *key;
} sent_fill;

static int fill_sent(void *arg, void *dst, size_t vlen) {
  sent_fill *sf = arg;
  return mlog_record_encode(sf->rec, sf->genesis, sf->key, dst, vlen);
}

int mlog_log_put_sent(mlog_log *log, mlog_record *recs, size_t n) {
  int rc = check_writable(log);
  if (rc != MLOG_OK || n == 0)
    return rc;
  mlogi_op *ops = calloc(n, sizeof *ops);
  sent_fill *fills = calloc(n, sizeof *fills);
  uint8_t(*keys)[12] = calloc(n, sizeof *keys), genesis[MLOG_TAG_BYTES];
  if (ops == NULL || fills == NULL || keys == NULL)
    rc = mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory");
  /* Each record is tagged on its own (over the genesis: bound to this
   * process and key), not chained: they come and go in any order. */
  mlog_chain_genesis(log->process_id, tag_key(log), genesis);
  for (size_t i = 0; rc == MLOG_OK && i < n; i++) {
    if (recs[i].type != MLOG_REC_PAYLOAD || recs[i].src != log->process_id ||
        recs[i].payload_len > MLOG_PAYLOAD_MAX)
      rc = mlogi_fail(&log->eb, MLOG_EINVAL, "not a sent message of ours");
    sent_key(keys[i], recs[i].dst, recs[i].ssn);
    fills[i] = (sent_fill){&recs[i], genesis, tag_key(log)};
    ops[i] = (mlogi_op){.kind = MLOGI_OP_PUT,
                        .db = MLOGI_DB_SENDER,
                        .key = keys[i],
                        .klen = 12,
                        .vlen = mlog_record_size(recs[i].payload_len),
                        .fill = fill_sent,
                        .fill_arg = &fills[i]};
  }
  if (rc == MLOG_OK)
    rc = mlogi_store_write(log->st, ops, n, &log->eb);
  free(ops);
  free(fills);
  free(keys);
  return rc;
}

typedef struct drop_sent {
  uint32_t dst;
  uint64_t upto;
  mlogi_op *ops;
  uint8_t (*keys)[12];
  size_t n, cap;
  int rc;
} drop_sent;

static int plan_drop(void *arg, const void *key, size_t klen, const void *val,
                     size_t vlen) {
  drop_sent *d = arg;
  (void)val, (void)vlen;
  if (klen != 12 || mlogi_get_be32(key) != d->dst ||
      mlogi_get_be64((const uint8_t *)key + 4) > d->upto)
    return 1; /* past the receiver's range: stop */
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 64;
    mlogi_op *ops = realloc(d->ops, cap * sizeof *ops);
    if (ops)
      d->ops = ops;
    uint8_t(*keys)[12] = ops ? realloc(d->keys, cap * sizeof *keys) : NULL;
    if (keys == NULL) {
      d->rc = MLOG_ENOMEM;
      return 1;
    }
    d->keys = keys;
    d->cap = cap;
  }
  memcpy(d->keys[d->n], key, 12);
  d->ops[d->n] =
      (mlogi_op){.kind = MLOGI_OP_DEL, .db = MLOGI_DB_SENDER, .klen = 12};
  d->n++;
  return 0;
}

int mlog_log_drop_sent(mlog_log *log, uint32_t dst, uint64_t upto_ssn) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  drop_sent d = {.dst = dst, .upto = upto_ssn};
  uint8_t from[12];
  sent_key(from, dst, 0);
  mlogi_view *v;
  rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  rc = mlogi_view_scan(v, MLOGI_DB_SENDER, from, sizeof from, plan_drop, &d);
  mlogi_view_end(v);
  rc = d.rc != MLOG_OK ? mlogi_fail(&log->eb, d.rc, "out of memory")
                       : (rc == 1 ? MLOG_OK : rc);
  for (size_t i = 0; i < d.n; i++)
    d.ops[i].key = d.keys[i];
  if (rc == MLOG_OK && d.n > 0)
    rc = mlogi_store_write(log->st, d.ops, d.n, &log->eb);
  free(d.ops);
  free(d.keys);
  return rc;
}

typedef struct scan_sent {
  mlog_log *log;
  uint8_t genesis[MLOG_TAG_BYTES];
  mlog_scan_fn fn;
  void *arg;
  int fn_rc;
} scan_sent;

static int visit_sent(void *arg, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  scan_sent *ss = arg;
  mlog_record rec;
  int rc = mlog_record_check(val, vlen, ss->genesis, tag_key(ss->log));
  if (rc == MLOG_OK)
    rc = mlog_record_decode(val, vlen, &rec);
  if (rc == MLOG_OK &&
      (klen != 12 || rec.type != MLOG_REC_PAYLOAD ||
       rec.src != ss->log->process_id || rec.dst != mlogi_get_be32(key) ||
       rec.ssn != mlogi_get_be64((const uint8_t *)key + 4)))
    rc = MLOG_ECORRUPT;
  if (rc != MLOG_OK) {
    mlogi_fail(&ss->log->eb, rc, "a kept message failed its check: %s",
               mlog_strerror(rc));
    return rc;
  }
  ss->fn_rc = ss->fn(ss->arg, &rec);
  return ss->fn_rc;
}

int mlog_log_scan_sent(mlog_log *log, mlog_scan_fn fn, void *arg) {
  if (log == NULL || fn == NULL)
    return MLOG_EINVAL;
  scan_sent ss = {.log = log, .fn = fn, .arg = arg};
  mlog_chain_genesis(log->process_id, tag_key(log), ss.genesis);
  mlogi_view *v;
  int rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  rc = mlogi_view_scan(v, MLOGI_DB_SENDER, NULL, 0, visit_sent, &ss);
  mlogi_view_end(v);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Garbage collection and information                                       */

/* The tag that the record after `lsn` chains over: record lsn's own tag, or
 * the chain base's, or the genesis. ENOTFOUND when lsn was discarded. */
static int tag_after(mlog_log *log, mlogi_view *v, uint64_t lsn,
                     uint8_t tag[MLOG_TAG_BYTES]) {
  uint64_t base;
  int rc = chain_base(log, v, &base, tag);
  if (rc != MLOG_OK || lsn + 1 == base)
    return rc;
  if (lsn + 1 < base)
    return MLOG_ENOTFOUND;
  uint8_t key[8];
  const void *val;
  size_t vlen;
  mlog_record rec;
  mlogi_put_be64(key, lsn);
  rc = mlogi_view_get(v, MLOGI_DB_LOG, key, 8, &val, &vlen);
  if (rc == MLOG_OK && mlog_record_decode(val, vlen, &rec) != MLOG_OK)
    rc = MLOG_ECORRUPT;
  if (rc == MLOG_OK)
    memcpy(tag, rec.tag, MLOG_TAG_BYTES);
  return rc;
}

/* What discarding the records below an lsn writes: two ops. */
typedef struct discard_plan {
  uint8_t key[8];
  uint8_t base[8 + MLOG_TAG_BYTES]; /* the new chain base */
  mlogi_op ops[2];
  size_t nops; /* 0 when nothing is left to discard */
} discard_plan;

static int plan_discard(mlog_log *log, mlogi_view *v, uint64_t lsn,
                        discard_plan *d) {
  d->nops = 0;
  if (lsn > log->next_lsn)
    return mlogi_fail(
        &log->eb, MLOG_EINVAL, "discard before lsn %llu: the log ends at %llu",
        (unsigned long long)lsn, (unsigned long long)(log->next_lsn - 1));
  uint64_t base;
  int rc = chain_base(log, v, &base, d->base + 8);
  if (rc != MLOG_OK || lsn <= base)
    return rc;
  rc = tag_after(log, v, lsn - 1, d->base + 8);
  if (rc != MLOG_OK)
    return mlogi_fail(&log->eb, MLOG_ECORRUPT, "record %llu is unreadable",
                      (unsigned long long)(lsn - 1));
  mlogi_put_be64(d->key, lsn);
  mlogi_put_le64(d->base, lsn);
  d->ops[0] = (mlogi_op){
      .kind = MLOGI_OP_DEL_BELOW, .db = MLOGI_DB_LOG, .key = d->key, .klen = 8};
  d->ops[1] = (mlogi_op){.kind = MLOGI_OP_PUT,
                         .db = MLOGI_DB_META,
                         .key = META_CHAIN_BASE,
                         .klen = sizeof META_CHAIN_BASE - 1,
                         .val = d->base,
                         .vlen = sizeof d->base};
  d->nops = 2;
  return MLOG_OK;
}

static int check_writable(mlog_log *log) {
  if (log == NULL)
    return MLOG_EINVAL;
  if (log->rdonly)
    return mlogi_fail(&log->eb, MLOG_ERDONLY, "log opened read-only");
  return MLOG_OK;
}

int mlog_log_discard_before(mlog_log *log, uint64_t lsn) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  mlogi_view *v;
  rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  discard_plan d;
  rc = plan_discard(log, v, lsn, &d);
  mlogi_view_end(v);
  if (rc != MLOG_OK || d.nops == 0)
    return rc;
  return mlogi_store_write(log->st, d.ops, d.nops, &log->eb);
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */

/* Decode checkpoint entry (key, val) and check its tag against the chain. */
static int check_checkpoint(mlog_log *log, mlogi_view *v, const void *key,
                            size_t klen, const void *val, size_t vlen,
                            mlog_record *rec) {
  uint8_t head[MLOG_TAG_BYTES];
  int rc = klen == 8 ? mlog_record_decode(val, vlen, rec) : MLOG_EHEADER;
  if (rc == MLOG_OK &&
      (rec->type != MLOG_REC_CHECKPOINT || rec->ssn != mlogi_get_be64(key)))
    rc = MLOG_EHEADER;
  if (rc == MLOG_OK && (rc = tag_after(log, v, rec->lsn, head)) != MLOG_OK)
    rc = MLOG_ECHAIN; /* the records it follows are gone or unreadable */
  if (rc == MLOG_OK)
    rc = mlog_record_check(val, vlen, head, tag_key(log));
  return rc;
}

typedef struct newest_ckpt {
  mlog_log *log;
  mlogi_view *v;
  mlog_record rec; /* the newest valid one (payload in the view) */
  bool found;
  uint64_t skipped; /* newer ones that failed their check */
} newest_ckpt;

static int pick_newest(void *arg, const void *key, size_t klen, const void *val,
                       size_t vlen) {
  newest_ckpt *nc = arg;
  mlog_record rec;
  if (check_checkpoint(nc->log, nc->v, key, klen, val, vlen, &rec) != MLOG_OK) {
    nc->skipped++;
    return 0;
  }
  nc->rec = rec;
  nc->skipped = 0; /* only failures newer than the pick count */
  nc->found = true;
  return 0;
}

/* Begin reading checkpoints into *ckpt (cleared): a keyed log needs its
 * key to check them. */
static int begin_checkpoint_read(mlog_log *log, mlog_log_checkpoint *ckpt,
                                 mlogi_view **v) {
  if (log == NULL || ckpt == NULL)
    return MLOG_EINVAL;
  memset(ckpt, 0, sizeof *ckpt);
  if (log->keyed && !log->has_key)
    return mlogi_fail(&log->eb, MLOG_ENOKEY,
                      "the log is keyed: give its key to check checkpoints");
  return mlogi_view_begin(log->st, v, &log->eb);
}

/* Copy checkpoint record rec (checked) into *ckpt. */
static int copy_checkpoint(mlog_log *log, const mlog_record *rec,
                           mlog_log_checkpoint *ckpt) {
  ckpt->number = rec->ssn;
  ckpt->covered_lsn = rec->lsn;
  ckpt->len = rec->payload_len;
  ckpt->state = malloc(ckpt->len ? ckpt->len : 1);
  if (ckpt->state == NULL)
    return mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory");
  memcpy(ckpt->state, rec->payload, ckpt->len);
  return MLOG_OK;
}

int mlog_log_get_checkpoint(mlog_log *log, mlog_log_checkpoint *ckpt) {
  mlogi_view *v;
  int rc = begin_checkpoint_read(log, ckpt, &v);
  if (rc != MLOG_OK)
    return rc;
  newest_ckpt nc = {.log = log, .v = v};
  rc = mlogi_view_scan(v, MLOGI_DB_CKPT, NULL, 0, pick_newest, &nc);
  if (rc == MLOG_OK && !nc.found)
    rc = MLOG_ENOTFOUND;
  if (rc == MLOG_OK)
    rc = copy_checkpoint(log, &nc.rec, ckpt);
  ckpt->skipped = nc.skipped;
  mlogi_view_end(v);
  return rc;
}

int mlog_log_read_checkpoint(mlog_log *log, uint64_t number,
                             mlog_log_checkpoint *ckpt) {
  mlogi_view *v;
  int rc = begin_checkpoint_read(log, ckpt, &v);
  if (rc != MLOG_OK)
    return rc;
  uint8_t key[8];
  const void *val;
  size_t vlen;
  mlog_record rec;
  mlogi_put_be64(key, number);
  rc = mlogi_view_get(v, MLOGI_DB_CKPT, key, 8, &val, &vlen);
  if (rc == MLOG_OK)
    rc = check_checkpoint(log, v, key, 8, val, vlen, &rec);
  if (rc == MLOG_OK)
    rc = copy_checkpoint(log, &rec, ckpt);
  else if (rc != MLOG_ENOTFOUND)
    mlogi_fail(&log->eb, rc, "checkpoint %llu fails its check",
               (unsigned long long)number);
  mlogi_view_end(v);
  return rc;
}

typedef struct numbers {
  uint64_t *v;
  size_t n, cap;
} numbers;

static int add_number(void *arg, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  (void)val;
  (void)vlen;
  numbers *ns = arg;
  if (klen != 8)
    return MLOG_ECORRUPT;
  if (mlogi_grow((void **)&ns->v, &ns->cap, ns->n + 1, sizeof *ns->v))
    return MLOG_ENOMEM;
  ns->v[ns->n++] = mlogi_get_be64(key);
  return 0;
}

int mlog_log_checkpoint_numbers(mlog_log *log, uint64_t **out, size_t *n) {
  if (log == NULL || out == NULL || n == NULL)
    return MLOG_EINVAL;
  *out = NULL;
  *n = 0;
  mlogi_view *v;
  int rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  numbers ns = {0};
  rc = mlogi_view_scan(v, MLOGI_DB_CKPT, NULL, 0, add_number, &ns);
  mlogi_view_end(v);
  if (rc != MLOG_OK) {
    free(ns.v);
    return mlogi_fail(&log->eb, rc, "listing the checkpoints: %s",
                      mlog_strerror(rc));
  }
  *out = ns.v;
  *n = ns.n;
  return MLOG_OK;
}

int mlog_log_drop_checkpoints_after(mlog_log *log, uint64_t number) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  if (number == UINT64_MAX)
    return MLOG_OK;
  uint8_t key[8];
  mlogi_put_be64(key, number + 1);
  mlogi_op op = {
      .kind = MLOGI_OP_DEL_FROM, .db = MLOGI_DB_CKPT, .key = key, .klen = 8};
  return mlogi_store_write(log->st, &op, 1, &log->eb);
}

int mlog_log_drop_checkpoints_before(mlog_log *log, uint64_t number) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  mlogi_view *v;
  rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  uint8_t key[8];
  const void *val;
  size_t vlen;
  mlog_record rec;
  discard_plan d = {.nops = 0};
  mlogi_put_be64(key, number);
  rc = mlogi_view_get(v, MLOGI_DB_CKPT, key, 8, &val, &vlen);
  if (rc == MLOG_OK && mlog_record_decode(val, vlen, &rec) != MLOG_OK)
    rc = MLOG_ECORRUPT;
  if (rc == MLOG_OK)
    rc = plan_discard(log, v, rec.lsn + 1, &d);
  mlogi_view_end(v);
  if (rc != MLOG_OK)
    return mlogi_fail(&log->eb, rc, "dropping the checkpoints before %llu: %s",
                      (unsigned long long)number, mlog_strerror(rc));
  mlogi_op ops[3] = {
      {.kind = MLOGI_OP_DEL_BELOW, .db = MLOGI_DB_CKPT, .key = key, .klen = 8}};
  memcpy(ops + 1, d.ops, d.nops * sizeof *ops);
  return mlogi_store_write(log->st, ops, 1 + d.nops, &log->eb);
}

void mlog_log_checkpoint_free(mlog_log_checkpoint *ckpt) {
  if (ckpt == NULL)
    return;
  free(ckpt->state);
  ckpt->state = NULL;
}

/* The number of the last checkpoint and the lsn the oldest one to keep (when
 * `number` is added) covers. */
static int plan_checkpoint(mlogi_view *v, uint32_t keep, uint64_t *number,
                           uint64_t *discard_lsn) {
  const void *key, *val;
  size_t klen, vlen;
  int rc = mlogi_view_last(v, MLOGI_DB_CKPT, &key, &klen, &val, &vlen);
  *number = rc == MLOG_OK && klen == 8 ? mlogi_get_be64(key) + 1 : 1;
  *discard_lsn = 0;
  if (rc != MLOG_OK && rc != MLOG_ENOTFOUND)
    return rc;
  if (keep <= 1 || *number <= keep - 1)
    return MLOG_OK;
  uint8_t oldest[8];
  mlog_record rec;
  mlogi_put_be64(oldest, *number - (keep - 1));
  rc = mlogi_view_get(v, MLOGI_DB_CKPT, oldest, 8, &val, &vlen);
  if (rc == MLOG_OK && mlog_record_decode(val, vlen, &rec) == MLOG_OK)
    *discard_lsn = rec.lsn + 1;
  return rc == MLOG_ENOTFOUND ? MLOG_OK : rc;
}

typedef struct ckpt_fill {
  mlog_log *log;
  mlog_record rec;
  uint8_t head[MLOG_TAG_BYTES];
} ckpt_fill;

static int fill_checkpoint(void *arg, void *dst, size_t vlen) {
  ckpt_fill *cf = arg;
  return mlog_record_encode(&cf->rec, cf->head, tag_key(cf->log), dst, vlen);
}

int mlog_log_put_checkpoint(mlog_log *log, uint64_t covered_lsn,
                            uint32_t incarnation, const void *state, size_t len,
                            uint32_t keep, uint64_t *number) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  if (covered_lsn >= log->next_lsn || len > MLOG_PAYLOAD_MAX)
    return mlogi_fail(&log->eb, MLOG_EINVAL,
                      "checkpoint of %zu bytes covering lsn %llu", len,
                      (unsigned long long)covered_lsn);
  keep = keep ? keep : 1;
  mlogi_view *v;
  rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  uint64_t num, discard_lsn;
  ckpt_fill cf = {.log = log};
  discard_plan d = {.nops = 0};
  rc = plan_checkpoint(v, keep, &num, &discard_lsn);
  if (rc == MLOG_OK)
    rc = tag_after(log, v, covered_lsn, cf.head);
  /* The new checkpoint is the oldest kept when keep is 1. */
  if (rc == MLOG_OK)
    rc = plan_discard(log, v, keep == 1 ? covered_lsn + 1 : discard_lsn, &d);
  mlogi_view_end(v);
  if (rc != MLOG_OK)
    return rc;
  cf.rec = (mlog_record){.type = MLOG_REC_CHECKPOINT,
                         .src = log->process_id,
                         .dst = log->process_id,
                         .incarnation = incarnation,
                         .ssn = num,
                         .lsn = covered_lsn,
                         .payload = state,
                         .payload_len = (uint32_t)len};
  uint8_t key[8], drop_below[8];
  mlogi_put_be64(key, num);
  /* Keep checkpoints num+1-keep .. num; fewer than keep exist yet when num
   * < keep (and num + 1 - keep would wrap around and drop them all). */
  mlogi_put_be64(drop_below, num >= keep ? num + 1 - keep : 0);
  mlogi_op ops[4] = {
      {.kind = MLOGI_OP_APPEND,
       .db = MLOGI_DB_CKPT,
       .key = key,
       .klen = 8,
       .vlen = mlog_record_size((uint32_t)len),
       .fill = fill_checkpoint,
       .fill_arg = &cf},
      {.kind = MLOGI_OP_DEL_BELOW,
       .db = MLOGI_DB_CKPT,
       .key = drop_below,
       .klen = 8},
  };
  memcpy(ops + 2, d.ops, d.nops * sizeof *ops);
  rc = mlogi_store_write(log->st, ops, 2 + d.nops, &log->eb);
  if (rc == MLOG_OK && number != NULL)
    *number = num;
  return rc;
}

int mlog_log_set_incarnation(mlog_log *log, uint32_t incarnation) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  uint8_t val[4];
  mlogi_put_le32(val, incarnation);
  mlogi_op op = {.kind = MLOGI_OP_PUT,
                 .db = MLOGI_DB_META,
                 .key = META_INCARNATION,
                 .klen = sizeof META_INCARNATION - 1,
                 .val = val,
                 .vlen = 4};
  rc = mlogi_store_write(log->st, &op, 1, &log->eb);
  if (rc == MLOG_OK)
    log->incarnation = incarnation;
  return rc;
}

int mlog_log_end_incarnation(mlog_log *log, uint64_t last_rsn) {
  int rc = check_writable(log);
  if (rc != MLOG_OK)
    return rc;
  if (log->incarnation == UINT32_MAX)
    return mlogi_fail(&log->eb, MLOG_EINVAL, "no incarnation after the last");
  uint32_t inc = log->incarnation, n = inc + 1;
  uint8_t *ends = calloc(n, 8), incval[4];
  if (ends == NULL)
    return mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory");
  for (uint32_t k = 0; k < inc; k++) /* unknown ends: nothing void */
    mlogi_put_le64(ends + 8 * k, k < log->nends ? log->ends[k] : UINT64_MAX);
  mlogi_put_le64(ends + 8 * inc, last_rsn);
  mlogi_put_le32(incval, inc + 1);
  mlogi_op ops[] = {{.kind = MLOGI_OP_PUT,
                     .db = MLOGI_DB_META,
                     .key = META_INCARNATION,
                     .klen = sizeof META_INCARNATION - 1,
                     .val = incval,
                     .vlen = 4},
                    {.kind = MLOGI_OP_PUT,
                     .db = MLOGI_DB_META,
                     .key = META_ENDS,
                     .klen = sizeof META_ENDS - 1,
                     .val = ends,
                     .vlen = (size_t)n * 8}};
  rc = mlogi_store_write(log->st, ops, 2, &log->eb);
  uint64_t *mem = rc == MLOG_OK ? realloc(log->ends, (size_t)n * 8) : NULL;
  if (rc == MLOG_OK && mem == NULL)
    rc = mlogi_fail(&log->eb, MLOG_ENOMEM, "out of memory");
  if (rc == MLOG_OK) {
    for (uint32_t k = 0; k < n; k++)
      mem[k] = mlogi_get_le64(ends + 8 * k);
    log->ends = mem;
    log->nends = n;
    log->incarnation = inc + 1;
  }
  free(ends);
  return rc;
}

uint64_t mlog_log_incarnation_end(const mlog_log *log, uint32_t inc) {
  uint64_t end = UINT64_MAX; /* a later incarnation may have ended lower */
  for (uint32_t k = inc; k < log->nends; k++)
    end = log->ends[k] < end ? log->ends[k] : end;
  return end;
}

bool mlog_log_created(const mlog_log *log) {
  return log->created;
}

uint32_t mlog_log_incarnation(const mlog_log *log) {
  return log->incarnation;
}

int mlog_log_get_info(mlog_log *log, mlog_log_info *info) {
  if (log == NULL || info == NULL)
    return MLOG_EINVAL;
  memset(info, 0, sizeof *info);
  info->process_id = log->process_id;
  info->group_size = log->group_size;
  info->format_major = log->format_major;
  info->format_minor = log->format_minor;
  info->keyed = log->keyed;
  memcpy(info->protocol, log->protocol, sizeof info->protocol);
  mlogi_view *v;
  int rc = mlogi_view_begin(log->st, &v, &log->eb);
  if (rc != MLOG_OK)
    return rc;
  const void *key, *val;
  size_t klen, vlen;
  uint8_t tag[MLOG_TAG_BYTES];
  rc = meta_u32(v, META_INCARNATION, &info->incarnation);
  if (rc == MLOG_OK)
    rc = mlogi_view_count(v, MLOGI_DB_LOG, &info->records);
  if (rc == MLOG_OK)
    rc = mlogi_view_count(v, MLOGI_DB_CKPT, &info->checkpoints);
  if (rc == MLOG_OK)
    rc = mlogi_view_count(v, MLOGI_DB_SENDER, &info->sender_payloads);
  if (rc == MLOG_OK)
    rc = chain_base(log, v, &info->next_lsn, tag);
  if (rc == MLOG_OK && info->records > 0 &&
      mlogi_view_last(v, MLOGI_DB_LOG, &key, &klen, &val, &vlen) == MLOG_OK &&
      klen == 8) {
    info->first_lsn = info->next_lsn;
    info->last_lsn = mlogi_get_be64(key);
    info->next_lsn = info->last_lsn + 1;
  }
  mlogi_view_end(v);
  mlogi_store_info st;
  if (rc == MLOG_OK)
    rc = mlogi_store_stat(log->st, &st, &log->eb);
  if (rc == MLOG_OK) {
    info->file_bytes = st.file_bytes;
    info->map_bytes = st.map_bytes;
    info->used_bytes = st.used_bytes;
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Library-private access                                                   */

mlogi_store *mlogi_log_store(mlog_log *log) {
  return log->st;
}
