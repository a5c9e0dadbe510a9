/* logtrace.h - where analyze and diagram take their trace from: a JSON
 * trace file, or the logs of a group (one directory per process) turned
 * into the same trace */
#ifndef MLOG_TOOLS_LOGTRACE_H
#define MLOG_TOOLS_LOGTRACE_H

#include <stddef.h>

#include "trace.h"

/* The trace named on the command line: exactly one of a trace file and
 * log directories. */
typedef struct trace_source {
  const char *path;  /* --trace FILE, or NULL */
  char *const *dirs; /* the log directories, n_dirs of them */
  size_t n_dirs;
  const char *keyfile; /* --key FILE (log directories only), or NULL */
} trace_source;

/* Check that src names a trace file or log directories, not both, and a
 * key only with directories. Returns TOOL_OK or a usage error (reported). */
int trace_source_check(const trace_source *src);

/* Load the trace src names into *t (free it with trace_free, also after a
 * failure) and mark the processes of `failed` (a list that passed
 * trace_check_failed_list; NULL: none) as failed.
 *
 * From log directories the trace has one process "p<id>" per process of
 * the group, checkpoints "p<id>.c<number>" (the log's numbers) and
 * messages "p<i>-p<j>#<ssn>" (trace_msg_id), but no events listed
 * (trace_list_events); `failed` may name processes "p<id>" or by id
 * alone. A process's end is the last COUNTS record of its current
 * incarnation after its newest checkpoint, or else (a lower bound) that
 * checkpoint with its sent counts raised to what its peers' ends received
 * from it. Each log is opened read-only.
 *
 * Reports a problem as one line (naming the directory, for a log) and
 * returns TOOL_UNREADABLE; a key file that cannot be used, or a process
 * named twice in `failed`, is a usage error (TOOL_USAGE). */
int trace_source_load(const trace_source *src, const char *failed, trace *t);

#endif /* MLOG_TOOLS_LOGTRACE_H */
