/* mlog.h - the manual: errors, version, keys, the record codec and the log */
#ifndef MLOG_MLOG_H
#define MLOG_MLOG_H

/*
 * mlog is a message-logging rollback-recovery framework. This header is its
 * manual. Conventions that hold for every function declared here:
 *
 *  - Functions named as actions return an int that is MLOG_OK (0) or one of
 *    the MLOG_E* codes below; predicates return bool.
 *  - Pointers passed in are "borrowed for the call" unless stated otherwise.
 *  - Pointers handed out say how long they stay valid.
 *  - A callback is never called when the function that took it fails before
 *    starting its work.
 *  - close(NULL) is a no-op.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MLOG_NODISCARD __attribute__((warn_unused_result))
#else
#define MLOG_NODISCARD
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */

#define MLOG_VERSION_MAJOR 0
#define MLOG_VERSION_MINOR 1
#define MLOG_VERSION_PATCH 0
#define MLOG_VERSION_STRING "0.1.0"

/* The library's version string, static storage ("0.1.0"). */
const char *mlog_version(void);

/* ------------------------------------------------------------------------ */
/* Errors: one table generates the codes, their names and their messages.   */

#define MLOG_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, "invalid argument")                                               \
  XX(ENOMEM, "out of memory")                                                  \
  XX(EIO, "input/output error")                                                \
  XX(ENOSPC, "no space left on device")                                        \
  XX(EACCES, "permission denied")                                              \
  XX(ENOENT, "no such file or directory")                                      \
  XX(ENOTDIR, "not a directory")                                               \
  XX(EEXIST, "file exists")                                                    \
  XX(ENOTFOUND, "no such entry")                                               \
  XX(EBUSY, "log directory is open for writing by another process")            \
  XX(ENOTLOG, "not an mlog log")                                               \
  XX(EVERSION, "unsupported log format version")                               \
  XX(ENOKEY, "log is keyed but no key was given")                              \
  XX(EKEY, "key does not match the log")                                       \
  XX(EBADTAG, "record tag mismatch")                                           \
  XX(ECHAIN, "hash chain broken")                                              \
  XX(ETORN, "torn tail")                                                       \
  XX(EHEADER, "bad record header")                                             \
  XX(ECORRUPT, "log store is corrupt")                                         \
  XX(ERDONLY, "log is open read-only")                                         \
  XX(ETOOBIG, "value too large")                                               \
  XX(ECRYPTO, "cryptography library failure")                                  \
  XX(EFAULT, "injected fault")                                                 \
  XX(EAGAIN, "nothing to do now")                                              \
  XX(EAPP, "an application callback failed")                                   \
  XX(EDIVERGED, "replay diverged from the logged execution")                   \
  XX(EPROTO, "malformed protocol message")                                     \
  XX(EGONE, "what recovery needs was lost (concurrent failures)")

typedef enum mlog_err {
  MLOG_OK = 0,
#define MLOG_ERR_ENUM_(name, msg) MLOG_##name,
  MLOG_ERRNO_MAP(MLOG_ERR_ENUM_)
#undef MLOG_ERR_ENUM_
      MLOG_ERR_COUNT_
} mlog_err;

/* A one-line message for an error code, static storage; never NULL. */
const char *mlog_strerror(int err);

/* The code's name ("EBADTAG"), static storage; "EUNKNOWN" for codes outside
 * the table. */
const char *mlog_errname(int err);

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

#define MLOG_KEY_BYTES 32
#define MLOG_TAG_BYTES 32

/* A log key: with one, every record tag is a MAC (keyed BLAKE2b). */
typedef struct mlog_key {
  unsigned char bytes[MLOG_KEY_BYTES];
} mlog_key;

/* Read a key file of exactly MLOG_KEY_BYTES bytes at `path` into *key.
 * Fails with ENOENT/EACCES/EIO when the file cannot be read and EINVAL when
 * its size is wrong. */
MLOG_NODISCARD int mlog_key_load(const char *path, mlog_key *key);

/* Write a fresh random log key to DIR/log.key and an Ed25519 key pair to
 * DIR/sign.key (secret) and DIR/sign.pub, creating DIR if needed. Secret
 * files get mode 0600. Refuses with EEXIST to overwrite existing files. */
MLOG_NODISCARD int mlog_keygen(const char *dirpath);

/* ------------------------------------------------------------------------ */
/* Records (docs/format.md is the byte-level specification)                 */

typedef enum mlog_rtype {
  MLOG_REC_DELIVERY = 1,   /* determinant (+ payload) of a delivery */
  MLOG_REC_PAYLOAD = 2,    /* sender-side copy of a sent payload */
  MLOG_REC_NONDET = 3,     /* a logged non-deterministic value */
  MLOG_REC_CHECKPOINT = 4, /* marks where a checkpoint was taken */
  MLOG_REC_CONTROL = 5     /* protocol control information */
} mlog_rtype;

#define MLOG_RECORD_MAGIC 0x52474c4du /* "MLGR" little-endian */
#define MLOG_FORMAT_MAJOR 1
#define MLOG_FORMAT_MINOR 0
#define MLOG_HEADER_BYTES 56 /* header length written by this version */
#define MLOG_PAYLOAD_MAX (64u * 1024 * 1024)

/* A decoded record. `payload` is borrowed: it points into the buffer the
 * record was decoded from (or, for encoding, into the caller's memory). */
typedef struct mlog_record {
  uint8_t type;  /* mlog_rtype */
  uint8_t flags; /* type-specific, opaque to the codec */
  uint32_t src;
  uint32_t dst;
  uint32_t incarnation;
  uint64_t ssn;
  uint64_t rsn;
  uint64_t lsn; /* log sequence number: assigned by the log on append */
  const void *payload;
  uint32_t payload_len;
  uint8_t tag[MLOG_TAG_BYTES]; /* set by encode and decode */
} mlog_record;

/* Bytes an encoded record with `payload_len` payload bytes takes. */
size_t mlog_record_size(uint32_t payload_len);

/* Encode *rec into buf[0..buflen) as header + payload + tag, where the tag is
 * BLAKE2b-256 over header, payload and `prev_tag` (the previous record's tag,
 * the hash chain), keyed with `key` when it is not NULL. Stores the tag in
 * rec->tag. Fails with EINVAL when buflen is too small or the payload is over
 * MLOG_PAYLOAD_MAX. */
MLOG_NODISCARD int mlog_record_encode(mlog_record *rec,
                                      const uint8_t prev_tag[MLOG_TAG_BYTES],
                                      const mlog_key *key, void *buf,
                                      size_t buflen);

/* Decode buf[0..len) into *rec without checking the tag. Lengths in the
 * buffer are never trusted. Fails with ETORN when the buffer ends before the
 * record its header describes, EHEADER when the header itself is malformed
 * (magic, version, lengths, trailing bytes) and EVERSION for an unknown major
 * format version. rec->payload points into buf. */
MLOG_NODISCARD int mlog_record_decode(const void *buf, size_t len,
                                      mlog_record *rec);

/* Check that the record in buf[0..len) carries the tag its bytes and
 * `prev_tag` give under `key`. Returns MLOG_OK or EBADTAG (or a decode
 * error). */
MLOG_NODISCARD int mlog_record_check(const void *buf, size_t len,
                                     const uint8_t prev_tag[MLOG_TAG_BYTES],
                                     const mlog_key *key);

/* The tag that precedes the first record of process `process_id`'s log: it
 * binds the chain to that process, so whole logs cannot be swapped. */
void mlog_chain_genesis(uint32_t process_id, const mlog_key *key,
                        uint8_t tag[MLOG_TAG_BYTES]);

/* ------------------------------------------------------------------------ */
/* The log: one LMDB environment per process directory                      */

typedef struct mlog_log mlog_log;

/* Open flags (unknown bits are rejected with EINVAL). */
#define MLOG_LOG_RDONLY 0x1u /* read only: creates nothing, writes nothing */
#define MLOG_LOG_CREATE 0x2u /* create the log when the directory has none */
/* Commits (and mlog_log_sync) are not flushed: a crash of the OS can lose
 * them. Unsafe; explicit opt-in only. */
#define MLOG_LOG_NOSYNC 0x4u
/* A commit flushes its data but not LMDB's meta page, which the next
 * commit's flush or mlog_log_sync makes durable (see mlog_log_durable_lsn):
 * as safe as the default with one flush per commit instead of two. */
#define MLOG_LOG_LAZYMETA 0x8u

/* What a new log records about itself; read back from existing logs. */
typedef struct mlog_log_config {
  uint32_t process_id;
  uint32_t group_size;
  const char *protocol; /* borrowed; NULL means "none" */
  const mlog_key *key;  /* borrowed (copied); NULL: unkeyed log */
  size_t map_size;      /* initial LMDB map in bytes; 0: default. Grows. */
} mlog_log_config;

/* Open the log in `dirpath`.
 *  - With MLOG_LOG_RDONLY the directory must hold a log; no file is created
 *    and data.mdb is never written. The log can be read while a writer
 *    runs: the reader registers in lock.mdb when one exists (LMDB's reader
 *    table), and reads without locking when there is none.
 *  - Otherwise the log is opened for writing; only one writer per directory
 *    (a second gets EBUSY). With MLOG_LOG_CREATE a directory without a log
 *    (created if missing) gets a new one from `cfg`.
 *  - `cfg` may be NULL for existing logs; its `key` is needed for keyed logs
 *    (ENOKEY without it, EKEY when it is another key).
 * On success *out owns a handle to close with mlog_log_close. On failure *out
 * is NULL and mlog_log_errmsg(NULL) describes the cause. */
MLOG_NODISCARD int mlog_log_open(const char *dirpath, unsigned flags,
                                 const mlog_log_config *cfg, mlog_log **out);

/* Close the handle; NULL is a no-op. */
void mlog_log_close(mlog_log *log);

/* The detailed cause of the last error on `log` (which record, file, errno),
 * or with NULL the calling thread's last failed mlog_log_open. Valid until
 * the next call on the handle (or the next open in this thread). */
const char *mlog_log_errmsg(const mlog_log *log);

/* Append n records in one durable commit (group commit). Each record's lsn
 * and tag are assigned (written back into recs[i]). Either all n records are
 * in the log afterwards or none are: on ENOSPC, EIO or any other failure the
 * log is as it was. The map grows by itself. */
MLOG_NODISCARD int mlog_log_append(mlog_log *log, mlog_record *recs, size_t n);

/* Make every appended record durable (one flush). */
MLOG_NODISCARD int mlog_log_sync(mlog_log *log);

/* The last lsn that survives a crash of the operating system: the last
 * appended one, or with MLOG_LOG_LAZYMETA the last one before the latest
 * commit, until mlog_log_sync. 0 when none. */
uint64_t mlog_log_durable_lsn(const mlog_log *log);

/* The lsn the next appended record gets. */
uint64_t mlog_log_next_lsn(const mlog_log *log);

/* Called for each record in lsn order; `rec` and its payload are valid for
 * the call only. Return 0 to go on; any other value stops the scan and is
 * returned by it. */
typedef int (*mlog_scan_fn)(void *arg, const mlog_record *rec);

/* Call fn for every record with lsn >= from_lsn, in order, after checking
 * its tag and chain (from the tag the record before from_lsn holds: the
 * scan reads only what it hands out; mlog_log_verify checks everything);
 * on the first record that fails, stop before calling fn
 * for it and return its error (EBADTAG, ECHAIN, EHEADER, ETORN), with the
 * lsn in mlog_log_errmsg. Reads a consistent snapshot. */
MLOG_NODISCARD int mlog_log_scan(mlog_log *log, uint64_t from_lsn,
                                 mlog_scan_fn fn, void *arg);

/* Delete the records with lsn < lsn (garbage collection after a checkpoint);
 * the chain stays verifiable from the first kept record. */
MLOG_NODISCARD int mlog_log_discard_before(mlog_log *log, uint64_t lsn);

/* A checkpoint read back from the log. */
typedef struct mlog_log_checkpoint {
  uint64_t number;      /* 1, 2, 3, ... per log */
  uint64_t covered_lsn; /* the last log record the checkpoint includes */
  uint64_t skipped;     /* newer checkpoints that failed verification */
  void *state;          /* owned: free with mlog_log_checkpoint_free */
  size_t len;
} mlog_log_checkpoint;

/* Store a checkpoint with state[0..len) covering the records up to
 * covered_lsn. In the same transaction, keep only the newest `keep`
 * checkpoints (0 means 1) and discard the log records the oldest kept one
 * covers, so a crash at any point leaves either the old or the new state.
 * The checkpoint's tag chains over the record it follows, binding it to its
 * place in the log. The new checkpoint's number goes to *number (may be
 * NULL). */
MLOG_NODISCARD int mlog_log_put_checkpoint(mlog_log *log, uint64_t covered_lsn,
                                           uint32_t incarnation,
                                           const void *state, size_t len,
                                           uint32_t keep, uint64_t *number);

/* Read the newest checkpoint whose tag and chain link verify, skipping
 * damaged newer ones (counted in ckpt->skipped). ENOTFOUND when there is no
 * valid checkpoint. */
MLOG_NODISCARD int mlog_log_get_checkpoint(mlog_log *log,
                                           mlog_log_checkpoint *ckpt);

/* Read checkpoint `number` after checking its tag and chain link.
 * ENOTFOUND when the log holds no checkpoint with that number; the check's
 * error (EBADTAG, ECHAIN, ...) when it fails. */
MLOG_NODISCARD int mlog_log_read_checkpoint(mlog_log *log, uint64_t number,
                                            mlog_log_checkpoint *ckpt);

/* The numbers of the checkpoints the log holds, oldest first (unchecked):
 * *numbers is allocated (free it), *n is their count. */
MLOG_NODISCARD int mlog_log_checkpoint_numbers(mlog_log *log,
                                               uint64_t **numbers, size_t *n);

/* Drop the checkpoints numbered above `number`, in one durable commit: a
 * rollback to checkpoint `number` (0: to the initial state) leaves the
 * newer ones describing states that no longer exist. The next checkpoint
 * put gets number + 1. */
MLOG_NODISCARD int mlog_log_drop_checkpoints_after(mlog_log *log,
                                                   uint64_t number);

/* Drop the checkpoints numbered below `number` and the log records that
 * checkpoint `number` covers, in one durable commit (garbage collection by
 * a protocol that keeps checkpoints by its own rule: mlog_log_put_checkpoint
 * with keep UINT32_MAX keeps them all). */
MLOG_NODISCARD int mlog_log_drop_checkpoints_before(mlog_log *log,
                                                    uint64_t number);

/* Free what mlog_log_get_checkpoint allocated; NULL is a no-op. */
void mlog_log_checkpoint_free(mlog_log_checkpoint *ckpt);

/* Sender-based logging keeps each sent message (type PAYLOAD, src: this
 * process, keyed by dst and ssn, rsn: what the receiver assigned, 0 for
 * none yet; incarnation: the receiver's when it did) until the receiver's
 * checkpoint covers it. Each kept message is tagged on its own (over the
 * genesis tag, with the log's key). Put replaces a message with the same
 * (dst, ssn); all of recs in one durable commit. */
MLOG_NODISCARD int mlog_log_put_sent(mlog_log *log, mlog_record *recs,
                                     size_t n);

/* Drop the messages kept for dst with ssn <= upto_ssn (one commit). */
MLOG_NODISCARD int mlog_log_drop_sent(mlog_log *log, uint32_t dst,
                                      uint64_t upto_ssn);

/* Call fn for every kept message, by (dst, ssn), after checking its tag;
 * ECORRUPT/EBADTAG on the first that fails. */
MLOG_NODISCARD int mlog_log_scan_sent(mlog_log *log, mlog_scan_fn fn,
                                      void *arg);

/* True when this handle created the log (the directory held none). */
bool mlog_log_created(const mlog_log *log);

/* The process's incarnation as recorded in the log, and its update (one
 * durable commit). */
uint32_t mlog_log_incarnation(const mlog_log *log);
MLOG_NODISCARD int mlog_log_set_incarnation(mlog_log *log,
                                            uint32_t incarnation);

/* End the current incarnation at last_rsn and start the next, in one
 * durable commit: the state intervals the ended incarnation created after
 * last_rsn are void (lost in a crash or rolled back), and recovery skips the
 * records that describe them. */
MLOG_NODISCARD int mlog_log_end_incarnation(mlog_log *log, uint64_t last_rsn);

/* The last rsn still valid in incarnation inc: where it ended, or lower
 * where a later incarnation ended lower (a rollback past it); UINT64_MAX
 * while neither it nor a later one has ended (or the log does not say). */
uint64_t mlog_log_incarnation_end(const mlog_log *log, uint32_t inc);

/* What verification found. */
typedef struct mlog_verify_report {
  uint64_t records;     /* records checked and found good */
  uint64_t checkpoints; /* checkpoints checked and found good */
  uint64_t first_lsn;   /* first lsn in the log (0 when empty) */
  uint64_t last_lsn;    /* last good lsn checked (0 when none) */
  int problem;          /* MLOG_OK or the first problem's code */
  uint64_t bad_lsn;     /* lsn (store key) of the first bad record */
  char detail[192];     /* one line describing the problem */
} mlog_verify_report;

/* Called every `progress_every` records during verification. */
typedef void (*mlog_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Check every record's header, tag and chain link, then every checkpoint's
 * tag and its link to the record it covers. Returns MLOG_OK when the
 * check ran (whatever it found: see report->problem) or an error when it
 * could not run. A record whose tag fails is a bad tag (edited); a record
 * out of sequence is a broken chain (deleted, reordered, duplicated); a
 * short last record or a truncated store file is a torn tail. */
MLOG_NODISCARD int mlog_log_verify(mlog_log *log, mlog_verify_report *report,
                                   mlog_progress_fn progress, void *arg);

/* What the log holds. */
typedef struct mlog_log_info {
  uint32_t process_id;
  uint32_t group_size;
  uint32_t incarnation;
  char protocol[32];
  unsigned format_major, format_minor;
  bool keyed;
  uint64_t records, first_lsn, last_lsn;
  uint64_t checkpoints;
  uint64_t sender_payloads;
  uint64_t file_bytes; /* size of data.mdb */
  uint64_t map_bytes;  /* current map size */
  uint64_t used_bytes; /* pages in use x page size */
  uint64_t next_lsn;   /* the lsn the next record gets: last_lsn + 1, or
                          where the chain resumes when every record was
                          collected */
} mlog_log_info;

MLOG_NODISCARD int mlog_log_get_info(mlog_log *log, mlog_log_info *info);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_MLOG_H */
