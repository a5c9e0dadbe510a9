/* groupdirs.h - the log directories of a group (analyze, diagram, audit):
 * one per process, each process once, all of one group */
#ifndef MLOG_TOOLS_GROUPDIRS_H
#define MLOG_TOOLS_GROUPDIRS_H

#include <stdbool.h>
#include <stdint.h>

#include "mlog/mlog.h"

typedef struct group_dirs {
  uint32_t n;            /* group size, as the first log joined says */
  const char *first_dir; /* that log's directory */
  const char **dir;      /* [n] each process's directory (NULL: none yet) */
} group_dirs;

/* Give the open log of `dir` its place in the group (the first one sets
 * the group size); *info gets its information and *id its process. A log
 * of another group size, an id out of range, a second log of a process or a
 * keyed log read without its key is reported as "DIR: ..." and returns
 * TOOL_UNREADABLE; TOOL_OK otherwise. */
int group_dirs_join(group_dirs *g, mlog_log *log, const char *dir,
                    bool have_key, mlog_log_info *info, uint32_t *id);

/* Every process of the group needs its log: report the missing ones and
 * return TOOL_UNREADABLE, or TOOL_OK. */
int group_dirs_complete(const group_dirs *g);

void group_dirs_free(group_dirs *g);

#endif /* MLOG_TOOLS_GROUPDIRS_H */
