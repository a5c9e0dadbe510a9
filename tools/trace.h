/* trace.h - traces of processes, messages and checkpoints (analyze,
 * diagram): loading JSON traces, validation and the recovery line after
 * failures */
#ifndef MLOG_TOOLS_TRACE_H
#define MLOG_TOOLS_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recovery/recovery_line.h"

/* What an event of a process does. */
typedef enum trace_event_kind {
  TRACE_CHECKPOINT,
  TRACE_SEND,
  TRACE_RECV,
} trace_event_kind;

/* One event of a process, at its position in the process's history. */
typedef struct trace_event {
  trace_event_kind kind;
  size_t index; /* the checkpoint number (kind checkpoint) or the message */
  size_t event; /* its index in the trace's "events" */
} trace_event;

/* One process of the trace: its events in order and its checkpoints. */
typedef struct trace_proc {
  const char *name;       /* borrowed from the JSON (or the trace's names) */
  trace_event *events;    /* [n_events]; NULL in a trace built from logs
                             until trace_list_events */
  uint64_t n_events;      /* its history's length (checkpoints included) */
  uint64_t *ckpt_at;      /* the event each checkpoint sits at */
  const char **ckpt_name; /* borrowed like name; [0] is "initial" */
  size_t n_ckpts, cap_ckpt_at, cap_ckpt_name, cap_events;
  json_t *ckpt_names; /* name -> true, for duplicates (JSON traces) */
  bool failed;
} trace_proc;

/* A message of a JSON trace: its id and the events (indices in "events")
 * that send and receive it. Its sender, receiver and positions in their
 * histories are in the trace's rl_msgs at the same index. */
typedef struct trace_msg {
  const char *id; /* borrowed from the JSON */
  size_t send_event, recv_event;
} trace_msg;

/* A loaded trace: from a JSON file (set path, then call trace_load), or
 * built from the logs of a group (logtrace.h), whose messages are named by
 * their channel and ssn instead of an id. Free with trace_free. */
typedef struct trace {
  const char *path; /* the trace's file, or what it was made of */
  json_t *root;
  trace_proc *procs;
  uint32_t n_procs;
  json_t *proc_index; /* name -> index (JSON traces) */
  trace_msg *msgs;    /* [n_msgs] (JSON traces; NULL from logs) */
  uint64_t *ssns;     /* [n_msgs] each message's ssn on its channel (traces
                         built from logs; NULL from JSON) */
  char *names;        /* the names procs point to (traces built from logs) */
  mlogi_rl_message *rl_msgs; /* [n_msgs] sender, receiver and positions */
  size_t n_msgs, cap_msgs, cap_rl_msgs;
  json_t *msg_index; /* id -> index (JSON traces) */
} trace;

/* The most bytes of a message id that trace_msg_id writes (the
 * terminating NUL included). */
#define TRACE_ID_MAX 64

/* Load and check the trace at t->path. On a problem, reports it as one
 * line naming the event and returns TOOL_UNREADABLE; TOOL_OK otherwise. */
int trace_load(trace *t);

/* Free what *t holds (also after a failed load). */
void trace_free(trace *t);

/* Report a problem of the trace as one line "PATH: message"; returns
 * TOOL_UNREADABLE. */
int trace_error(const trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* trace_error(t, "out of memory"). */
int trace_out_of_memory(const trace *t);

/* Check the syntax of a --failed list: names separated by commas, none
 * empty or repeated. Returns TOOL_OK or a usage error (reported). */
int trace_check_failed_list(const char *list);

/* Mark the processes of a checked --failed list as failed; a name the
 * trace does not list is reported and returns TOOL_UNREADABLE. */
int trace_mark_failed(trace *t, const char *list);

/* The recovery line of the trace given the processes marked failed, into
 * *res (the caller frees it with mlogi_rl_result_free). */
int trace_recovery_line(const trace *t, mlogi_rl_result *res);

/* The name of position k of a recovery line: a checkpoint's, or "end". */
const char *trace_position_name(const trace_proc *pr, uint64_t k);

/* The id of message m: its JSON id, or for a trace built from logs
 * "<sender>-<receiver>#<ssn>" written into buf (TRACE_ID_MAX bytes).
 * Valid as long as the trace and buf. */
const char *trace_msg_id(const trace *t, size_t m, char *buf);

/* Whether message m was received (else it is in transit). */
bool trace_msg_received(const trace *t, size_t m);

/* List the events of every process, in order, from the messages'
 * positions and the checkpoints, when some process has a history but no
 * events (a trace built from logs lists none until asked; a JSON trace
 * lists them all as it loads, and this is then a no-op). The events are
 * numbered process by process (trace_event.event). Reports running out of
 * memory and returns TOOL_UNREADABLE; TOOL_OK otherwise. */
int trace_list_events(trace *t);

#endif /* MLOG_TOOLS_TRACE_H */
