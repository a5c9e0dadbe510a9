/* logger.h - the logger plug-in interface */
#ifndef MLOG_LOGGER_H
#define MLOG_LOGGER_H

/*
 * A logger decides when the records of a process (deliveries, logged
 * non-deterministic values, digests) reach stable storage. The runtime
 * builds the records, hands them to the logger in order, and delivers a
 * message once the logger says its record is durable, or at once for
 * loggers flagged MLOG_LOGGER_EAGER (optimistic logging), whose outputs then
 * wait for durability instead.
 *
 * A logger is one `static const mlog_logger_ops` table, registered by name.
 * The framework allocates `size` bytes of zeroed private state (`self`).
 */

#include "mlog/mlog.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLOG_LOGGER_VERSION 2

/* Logger flags: the protocol the runtime runs around the logger. */
#define MLOG_LOGGER_EAGER                                                      \
  0x1u /* optimistic: deliver before the record is durable; messages carry     \
          dependency vectors, orphans roll back, outputs wait for stability */

#define MLOG_LOGGER_SENDER                                                     \
  0x2u /* sender-based: the receiver logs no message; senders keep them        \
          with the rsns receivers give, receivers hold their sends until       \
          their rsns are recorded */

#define MLOG_LOGGER_COORDINATED                                                \
  0x4u /* no message logging: Chandy-Lamport snapshots of the whole group;     \
          a failure rolls the group back to the newest complete one */

#define MLOG_LOGGER_INDEPENDENT                                                \
  0x8u /* no message logging: checkpoints taken alone; a failure rolls the     \
          group back to its recovery line (domino effect possible) */

/* What the runtime tells a logger at open. */

typedef struct mlog_logger_params {
  /* No background threads: persist from the poll op (simulations, for
   * reproducible runs). */
  bool inline_flush;
  /* An eager logger persists what it took at least this often (ms). */
  uint32_t flush_ms;
} mlog_logger_params;

typedef struct mlog_logger_ops {
  /* MLOG_LOGGER_VERSION the table was written against. */
  uint32_t version;
  /* Protocol name ("pessimistic-receiver"); static storage. */
  const char *name;
  /* Bytes of private state the framework allocates for `self`. */
  size_t size;
  /* MLOG_LOGGER_* flags. */
  unsigned flags;
  /* MLOG_LOG_* flags the process's log is opened with (for example
   * MLOG_LOG_LAZYMETA). */
  unsigned log_flags;

  /* Required. Start logging into `log` (borrowed until close). On failure
   * close is not called. */
  int (*open)(void *self, mlog_log *log, const mlog_logger_params *params);

  /* Required. Take recs[0..n) in order; lsns are assigned (written back).
   * A failure means none of them was taken. */
  int (*append)(void *self, mlog_record *recs, size_t n);

  /* Required. The highest lsn that survives a crash of the process and of
   * the operating system (0: none). */
  uint64_t (*durable_lsn)(void *self);

  /* Required. Return once every record taken is durable. */
  int (*flush)(void *self);

  /* Optional. Stop (threads, buffers); records not yet durable may be lost,
   * as in a crash. */
  void (*close)(void *self);

  /* Optional. Called by every poll of the process with the transport's
   * clock: a logger without a thread persists here when it is due. */
  int (*poll)(void *self, uint64_t now_ms);
} mlog_logger_ops;

/* Make `ops` choosable by its name. Fails with EINVAL when a required member
 * is missing or the version is unknown, EEXIST when the name is taken.
 * `ops` is borrowed for the life of the program. */
MLOG_NODISCARD int mlog_logger_register(const mlog_logger_ops *ops);

/* The logger registered as `name` (built-ins included), or NULL. */
const mlog_logger_ops *mlog_logger_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_LOGGER_H */
