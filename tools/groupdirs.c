/* groupdirs.c - the log directories of a group */
#include <stdio.h>
#include <stdlib.h>

#include "groupdirs.h"
#include "tool.h"

int group_dirs_join(group_dirs *g, mlog_log *log, const char *dir,
                    bool have_key, mlog_log_info *info, uint32_t *id) {
  int rc = mlog_log_get_info(log, info);
  if (rc == MLOG_OK && info->keyed && !have_key)
    rc = MLOG_ENOKEY;
  if (rc != MLOG_OK) {
    tool_log_error(dir, rc, rc == MLOG_ENOKEY ? NULL : mlog_log_errmsg(log));
    return TOOL_UNREADABLE;
  }
  if (g->dir == NULL) {
    g->dir =
        calloc(info->group_size > 0 ? info->group_size : 1, sizeof *g->dir);
    if (g->dir == NULL) {
      tool_error("%s: out of memory", dir);
      return TOOL_UNREADABLE;
    }
    g->n = info->group_size;
    g->first_dir = dir;
  }
  if (info->group_size != g->n)
    tool_error("%s: the log of a process of a group of %u, but %s is of a "
               "group of %u",
               dir, info->group_size, g->first_dir, g->n);
  else if (info->process_id >= g->n)
    tool_error("%s: the log says it is process %u of a group of %u", dir,
               info->process_id, g->n);
  else if (g->dir[info->process_id] != NULL)
    tool_error("%s: a second log of process p%u (the first: %s)", dir,
               info->process_id, g->dir[info->process_id]);
  else {
    g->dir[info->process_id] = dir;
    *id = info->process_id;
    return TOOL_OK;
  }
  return TOOL_UNREADABLE;
}

int group_dirs_complete(const group_dirs *g) {
  char missing[512] = "";
  size_t len = 0, count = 0;
  for (uint32_t p = 0; p < g->n; p++) {
    if (g->dir[p] != NULL)
      continue;
    if (len < sizeof missing)
      len += (size_t)snprintf(missing + len, sizeof missing - len, "%sp%u",
                              count > 0 ? ", " : "", p);
    count++;
  }
  if (count == 0)
    return TOOL_OK;
  tool_error("no log given for process%s %s%s (a group of %u: give one "
             "directory per process)",
             count > 1 ? "es" : "", missing, len >= sizeof missing ? "..." : "",
             g->n);
  return TOOL_UNREADABLE;
}

void group_dirs_free(group_dirs *g) {
  free(g->dir);
  *g = (group_dirs){0};
}
