/* shiviz.h - mlog diagram --shiviz: a trace as a ShiViz log, one line per
 * event with its vector clock, in an order consistent with causality */
#ifndef MLOG_TOOLS_SHIVIZ_H
#define MLOG_TOOLS_SHIVIZ_H

#include <stdint.h>
#include <stdio.h>

#include "trace.h"

/* The regular expression to give ShiViz (docs/cli.md, "mlog diagram"):
 * the first line of the file written. */
#define SHIVIZ_REGEX "^(?<host>\\S+) (?<clock>\\{.*?\\}) (?<event>.*)$"

/* One event of the trace in the order written. */
typedef struct shiviz_event {
  uint64_t col; /* its column in the diagram (a Lamport clock) */
  uint32_t proc;
  uint64_t k; /* its index in the process's events */
} shiviz_event;

/* A trace ready to be written. */
typedef struct shiviz {
  const trace *t;
  shiviz_event *order; /* [n] every event, by column then process */
  size_t n;
  uint64_t *clock; /* [n_procs * n_procs] each process's vector clock */
  uint64_t *sent;  /* [n_msgs * n_procs] the clock of each message's send */
  unsigned char *sent_done; /* [n_msgs] the send is written */
} shiviz;

/* Order the events of t by their columns col[proc][event] (receives after
 * their sends but for the receive closing a causality cycle) and allocate
 * the clocks. Reports out of memory (TOOL_UNREADABLE); TOOL_OK otherwise. */
int shiviz_prepare(shiviz *s, const trace *t, uint64_t *const *col);

/* Write the log into f: the regular expression, an empty line (ShiViz's
 * multiple-executions delimiter: none), one line per event. Once per
 * shiviz_prepare (the clocks advance). */
void shiviz_write(FILE *f, void *s);

void shiviz_free(shiviz *s);

#endif /* MLOG_TOOLS_SHIVIZ_H */
