/* pessimistic.c - pessimistic logging: receiver-based with group commit, and
 * sender-based; the checkpoint-only protocols' records go the same way */
#include "logging/loggers.h"

/*
 * Every record is committed to the process's LMDB before the message it
 * describes is delivered. The runtime hands over everything received since
 * the last commit as one batch (group commit). The log runs with lazy meta
 * flushes: a commit costs one flush, and its records become durable when
 * the next commit's flush returns or, when the process is idle, after one
 * explicit sync. The runtime delivers a batch only once it is durable, so
 * at full load each batch costs one flush without weakening durability.
 *
 * Sender-based logging (MLOG_LOGGER_SENDER) uses the same logger for the
 * records a process still logs itself (values, marks, outputs, spontaneous
 * sends): the runtime keeps messages at their senders (core/sender.c).
 *
 * The checkpoint-only protocols (`coordinated`, `none`) log no message; the
 * few records they write (channel states, markers, completions) go through
 * the same logger, which the runtime flushes before it relies on them.
 */

typedef struct pessimistic {
  mlog_log *log;
} pessimistic;

static int pr_open(void *self, mlog_log *log,
                   const mlog_logger_params *params) {
  (void)params;
  pessimistic *pr = self;
  pr->log = log;
  return MLOG_OK;
}

static int pr_append(void *self, mlog_record *recs, size_t n) {
  pessimistic *pr = self;
  return mlog_log_append(pr->log, recs, n);
}

static uint64_t pr_durable_lsn(void *self) {
  pessimistic *pr = self;
  return mlog_log_durable_lsn(pr->log);
}

static int pr_flush(void *self) {
  pessimistic *pr = self;
  if (mlog_log_durable_lsn(pr->log) + 1 == mlog_log_next_lsn(pr->log))
    return MLOG_OK;
  return mlog_log_sync(pr->log);
}

const mlog_logger_ops mlogi_pessimistic_receiver = {
    .version = MLOG_LOGGER_VERSION,
    .name = "pessimistic-receiver",
    .size = sizeof(pessimistic),
    .flags = 0,
    .log_flags = MLOG_LOG_LAZYMETA,
    .open = pr_open,
    .append = pr_append,
    .durable_lsn = pr_durable_lsn,
    .flush = pr_flush,
};

const mlog_logger_ops mlogi_pessimistic_sender = {
    .version = MLOG_LOGGER_VERSION,
    .name = "pessimistic-sender",
    .size = sizeof(pessimistic),
    .flags = MLOG_LOGGER_SENDER,
    .log_flags = MLOG_LOG_LAZYMETA,
    .open = pr_open,
    .append = pr_append,
    .durable_lsn = pr_durable_lsn,
    .flush = pr_flush,
};

const mlog_logger_ops mlogi_coordinated = {
    .version = MLOG_LOGGER_VERSION,
    .name = "coordinated",
    .size = sizeof(pessimistic),
    .flags = MLOG_LOGGER_COORDINATED,
    .log_flags = MLOG_LOG_LAZYMETA,
    .open = pr_open,
    .append = pr_append,
    .durable_lsn = pr_durable_lsn,
    .flush = pr_flush,
};

const mlog_logger_ops mlogi_none = {
    .version = MLOG_LOGGER_VERSION,
    .name = "none",
    .size = sizeof(pessimistic),
    .flags = MLOG_LOGGER_INDEPENDENT,
    .log_flags = MLOG_LOG_LAZYMETA,
    .open = pr_open,
    .append = pr_append,
    .durable_lsn = pr_durable_lsn,
    .flush = pr_flush,
};
