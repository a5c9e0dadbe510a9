/* trace.c - traces for analyze and diagram: loading JSON traces,
 * validation (one error line naming the event), the recovery line after
 * failures, message ids and events */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "trace.h"

/* Room for item n in the array `items` of *cap `size`-byte items: items
 * itself, or a larger copy (with *cap updated), or NULL when out of memory
 * (items is then unchanged). */
static void *room_for(void *items, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return items;
  size_t new_cap = *cap > 0 ? *cap * 2 : 8;
  void *p = new_cap <= SIZE_MAX / size ? realloc(items, new_cap * size) : NULL;
  if (p != NULL)
    *cap = new_cap;
  return p;
}

int trace_error(const trace *t, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tool_error("%s: %s", t->path, msg);
  return TOOL_UNREADABLE;
}

int trace_out_of_memory(const trace *t) {
  return trace_error(t, "out of memory");
}

void trace_free(trace *t) {
  for (uint32_t p = 0; p < t->n_procs; p++) {
    free(t->procs[p].events);
    free(t->procs[p].ckpt_at);
    free(t->procs[p].ckpt_name);
    json_decref(t->procs[p].ckpt_names);
  }
  free(t->procs);
  free(t->msgs);
  free(t->ssns);
  free(t->names);
  free(t->rl_msgs);
  json_decref(t->proc_index);
  json_decref(t->msg_index);
  json_decref(t->root);
}

/* The index stored under `key` in the map, or -1. */
static json_int_t lookup(json_t *map, const char *key) {
  json_t *v = json_object_get(map, key);
  return v != NULL ? json_integer_value(v) : -1;
}

/* The non-empty string member `key` of obj, or NULL. */
static const char *string_member(json_t *obj, const char *key) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s != NULL && s[0] != '\0' ? s : NULL;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

static int load_json(trace *t) {
  FILE *f = fopen(t->path, "r");
  if (f == NULL)
    return trace_error(t, "cannot read: %s", strerror(errno));
  json_error_t err;
  errno = 0;
  t->root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
  int read_errno = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
  fclose(f);
  if (read_errno != 0) /* a directory, an I/O error */
    return trace_error(t, "cannot read: %s", strerror(read_errno));
  if (t->root == NULL)
    return trace_error(t, "invalid JSON at line %d, column %d: %s", err.line,
                       err.column, err.text);
  return TOOL_OK;
}

static int add_checkpoint(const trace *t, trace_proc *pr, const char *name) {
  uint64_t *at =
      room_for(pr->ckpt_at, &pr->cap_ckpt_at, pr->n_ckpts, sizeof *at);
  if (at != NULL)
    pr->ckpt_at = at;
  const char **names =
      room_for(pr->ckpt_name, &pr->cap_ckpt_name, pr->n_ckpts, sizeof *names);
  if (names != NULL)
    pr->ckpt_name = names;
  if (at == NULL || names == NULL ||
      json_object_set_new(pr->ckpt_names, name, json_true()) != 0)
    return trace_out_of_memory(t);
  pr->ckpt_at[pr->n_ckpts] = pr->n_events;
  pr->ckpt_name[pr->n_ckpts++] = name;
  return TOOL_OK;
}

static int load_processes(trace *t) {
  json_t *list = json_object_get(t->root, "processes");
  if (!json_is_array(list))
    return trace_error(t, "\"processes\" is missing or not an array");
  size_t n = json_array_size(list);
  if (n > UINT32_MAX)
    return trace_error(t, "too many processes");
  t->procs = calloc(n > 0 ? n : 1, sizeof *t->procs);
  t->proc_index = json_object();
  if (t->procs == NULL || t->proc_index == NULL)
    return trace_out_of_memory(t);
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(list, i));
    if (name == NULL || name[0] == '\0')
      return trace_error(t, "processes[%zu] is not a non-empty string", i);
    if (lookup(t->proc_index, name) >= 0)
      return trace_error(t, "process %s is listed twice", name);
    trace_proc *pr = &t->procs[t->n_procs++];
    pr->name = name;
    pr->ckpt_names = json_object();
    if (pr->ckpt_names == NULL ||
        json_object_set_new(t->proc_index, name, json_integer((json_int_t)i)))
      return trace_out_of_memory(t);
    int rc = add_checkpoint(t, pr, "initial");
    if (rc != TOOL_OK)
      return rc;
  }
  return TOOL_OK;
}

/* The checks every event passes: an object with a known process and kind. */
static int check_event(const trace *t, json_t *ev, size_t i, uint32_t *proc) {
  if (!json_is_object(ev))
    return trace_error(t, "event %zu: not an object", i);
  const char *name = string_member(ev, "proc");
  if (name == NULL)
    return trace_error(t,
                       "event %zu: \"proc\" is missing or not a non-empty "
                       "string",
                       i);
  json_int_t p = lookup(t->proc_index, name);
  if (p < 0)
    return trace_error(t, "event %zu (process %s): unknown process", i, name);
  const char *kind = json_string_value(json_object_get(ev, "kind"));
  if (kind == NULL)
    return trace_error(t,
                       "event %zu (process %s): \"kind\" is missing or not "
                       "a string",
                       i, name);
  if (strcmp(kind, "checkpoint") != 0 && strcmp(kind, "send") != 0 &&
      strcmp(kind, "recv") != 0)
    return trace_error(t,
                       "event %zu (process %s): unknown kind \"%s\" (want "
                       "checkpoint, send or recv)",
                       i, name, kind);
  *proc = (uint32_t)p;
  return TOOL_OK;
}

/* A string member that an event of this kind needs. */
static int need_string(const trace *t, json_t *ev, size_t i,
                       const trace_proc *pr, const char *key,
                       const char **out) {
  *out = string_member(ev, key);
  if (*out == NULL)
    return trace_error(t,
                       "event %zu (process %s): \"%s\" is missing or not a "
                       "non-empty string",
                       i, pr->name, key);
  return TOOL_OK;
}

static int load_checkpoint(trace *t, json_t *ev, size_t i, trace_proc *pr) {
  const char *name;
  int rc = need_string(t, ev, i, pr, "name", &name);
  if (rc != TOOL_OK)
    return rc;
  if (strcmp(name, "initial") == 0 || strcmp(name, "end") == 0)
    return trace_error(t,
                       "event %zu (process %s): a checkpoint may not be "
                       "named \"%s\"",
                       i, pr->name, name);
  if (json_object_get(pr->ckpt_names, name) != NULL)
    return trace_error(t,
                       "event %zu (process %s): a second checkpoint named "
                       "\"%s\"",
                       i, pr->name, name);
  return add_checkpoint(t, pr, name);
}

static int add_message(trace *t, const char *id, size_t event, uint32_t from,
                       uint64_t send_at, uint32_t to) {
  trace_msg *msgs = room_for(t->msgs, &t->cap_msgs, t->n_msgs, sizeof *msgs);
  if (msgs != NULL)
    t->msgs = msgs;
  mlogi_rl_message *rl_msgs =
      room_for(t->rl_msgs, &t->cap_rl_msgs, t->n_msgs, sizeof *rl_msgs);
  if (rl_msgs != NULL)
    t->rl_msgs = rl_msgs;
  if (msgs == NULL || rl_msgs == NULL ||
      json_object_set_new(t->msg_index, id,
                          json_integer((json_int_t)t->n_msgs)) != 0)
    return trace_out_of_memory(t);
  t->msgs[t->n_msgs] = (trace_msg){.id = id, .send_event = event};
  t->rl_msgs[t->n_msgs++] = (mlogi_rl_message){
      .sender = from,
      .send_at = send_at,
      .receiver = to,
      .recv_at = MLOGI_RL_NOT_RECEIVED,
  };
  return TOOL_OK;
}

static int load_send(trace *t, json_t *ev, size_t i, uint32_t p) {
  trace_proc *pr = &t->procs[p];
  const char *id, *to;
  int rc = need_string(t, ev, i, pr, "msg", &id);
  if (rc == TOOL_OK)
    rc = need_string(t, ev, i, pr, "to", &to);
  if (rc != TOOL_OK)
    return rc;
  json_int_t q = lookup(t->proc_index, to);
  if (q < 0)
    return trace_error(t,
                       "event %zu (process %s): sends \"%s\" to unknown "
                       "process %s",
                       i, pr->name, id, to);
  if ((uint32_t)q == p)
    return trace_error(t, "event %zu (process %s): sends \"%s\" to itself", i,
                       pr->name, id);
  json_int_t m = lookup(t->msg_index, id);
  if (m >= 0)
    return trace_error(t,
                       "event %zu (process %s): message \"%s\" is sent twice "
                       "(first by event %zu)",
                       i, pr->name, id, t->msgs[m].send_event);
  return add_message(t, id, i, p, pr->n_events, (uint32_t)q);
}

/* Append event i of kind `kind` (its checkpoint or message: `index`) to
 * the history of process p. */
static int add_event(trace *t, uint32_t p, size_t i, trace_event_kind kind,
                     size_t index) {
  trace_proc *pr = &t->procs[p];
  trace_event *evs =
      room_for(pr->events, &pr->cap_events, pr->n_events, sizeof *evs);
  if (evs == NULL)
    return trace_out_of_memory(t);
  pr->events = evs;
  pr->events[pr->n_events++] =
      (trace_event){.kind = kind, .index = index, .event = i};
  return TOOL_OK;
}

/* Load event i (checked by check_event) of process p. */
static int load_event(trace *t, json_t *ev, size_t i, uint32_t p) {
  const char *kind = json_string_value(json_object_get(ev, "kind"));
  const char *id;
  int rc;
  if (strcmp(kind, "checkpoint") == 0) {
    rc = load_checkpoint(t, ev, i, &t->procs[p]);
    return rc != TOOL_OK
               ? rc
               : add_event(t, p, i, TRACE_CHECKPOINT, t->procs[p].n_ckpts - 1);
  }
  if (strcmp(kind, "send") == 0) {
    rc = load_send(t, ev, i, p);
    return rc != TOOL_OK ? rc : add_event(t, p, i, TRACE_SEND, t->n_msgs - 1);
  }
  rc = need_string(t, ev, i, &t->procs[p], "msg", &id);
  return rc != TOOL_OK ? rc : add_event(t, p, i, TRACE_RECV, SIZE_MAX);
}

/* The first pass: processes, checkpoints and sends; receives only recorded
 * (a message may be received before the event that sends it is listed). */
static int load_events(trace *t, json_t *events) {
  t->msg_index = json_object();
  if (t->msg_index == NULL)
    return trace_out_of_memory(t);
  for (size_t i = 0; i < json_array_size(events); i++) {
    json_t *ev = json_array_get(events, i);
    uint32_t p = 0; /* set by check_event when it succeeds */
    int rc = check_event(t, ev, i, &p);
    if (rc == TOOL_OK)
      rc = load_event(t, ev, i, p);
    if (rc != TOOL_OK)
      return rc;
  }
  return TOOL_OK;
}

static int load_receive(trace *t, size_t i, uint32_t p, const char *id,
                        uint64_t recv_at) {
  trace_proc *pr = &t->procs[p];
  json_int_t m = lookup(t->msg_index, id);
  if (m < 0)
    return trace_error(t,
                       "event %zu (process %s): receives \"%s\", which no "
                       "event sends",
                       i, pr->name, id);
  trace_msg *msg = &t->msgs[m];
  mlogi_rl_message *rl = &t->rl_msgs[m];
  if (rl->recv_at != MLOGI_RL_NOT_RECEIVED)
    return trace_error(t,
                       "event %zu (process %s): message \"%s\" is received "
                       "twice (first by event %zu)",
                       i, pr->name, id, msg->recv_event);
  if (rl->receiver != p)
    return trace_error(t,
                       "event %zu (process %s): receives \"%s\", which event "
                       "%zu sends to %s",
                       i, pr->name, id, msg->send_event,
                       t->procs[rl->receiver].name);
  msg->recv_event = i;
  rl->recv_at = recv_at;
  pr->events[recv_at].index = (size_t)m;
  return TOOL_OK;
}

/* The second pass: match every receive with its send. The first pass
 * checked the events' shape. */
static int load_receives(trace *t, json_t *events) {
  uint64_t *seen = calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *seen);
  if (seen == NULL)
    return trace_out_of_memory(t);
  int rc = TOOL_OK;
  for (size_t i = 0; i < json_array_size(events) && rc == TOOL_OK; i++) {
    json_t *ev = json_array_get(events, i);
    uint32_t p = (uint32_t)lookup(t->proc_index, string_member(ev, "proc"));
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    if (strcmp(kind, "recv") == 0)
      rc = load_receive(t, i, p, string_member(ev, "msg"), seen[p]);
    seen[p]++;
  }
  free(seen);
  return rc;
}

/* Check and load the document in t->root. */
static int load_root(trace *t) {
  if (!json_is_object(t->root))
    return trace_error(t, "not a JSON object");
  int rc = load_processes(t);
  if (rc != TOOL_OK)
    return rc;
  json_t *events = json_object_get(t->root, "events");
  if (!json_is_array(events))
    return trace_error(t, "\"events\" is missing or not an array");
  rc = load_events(t, events);
  return rc == TOOL_OK ? load_receives(t, events) : rc;
}

int trace_load(trace *t) {
  int rc = load_json(t);
  return rc == TOOL_OK ? load_root(t) : rc;
}

/* ------------------------------------------------------------------------ */
/* The failed processes                                                     */

/* Check the syntax of --failed: names separated by commas, none empty or
 * repeated. Returns TOOL_OK or a usage error. */
int trace_check_failed_list(const char *list) {
  if (list == NULL)
    return tool_usage_error("no failed processes given (--failed P[,Q...])");
  for (const char *s = list;; s++) {
    size_t n = strcspn(s, ",");
    if (n == 0)
      return tool_usage_error("bad --failed list '%s': an empty name", list);
    for (const char *o = list; o < s; o += strcspn(o, ",") + 1)
      if (strcspn(o, ",") == n && strncmp(o, s, n) == 0)
        return tool_usage_error("bad --failed list '%s': %.*s named twice",
                                list, (int)n, s);
    s += n;
    if (*s == '\0')
      return TOOL_OK;
  }
}

/* Mark the processes of --failed (already checked by check_failed_list). */
int trace_mark_failed(trace *t, const char *list) {
  for (const char *s = list;; s++) {
    size_t n = strcspn(s, ",");
    char *name = strndup(s, n);
    if (name == NULL)
      return trace_out_of_memory(t);
    json_int_t p = lookup(t->proc_index, name);
    if (p < 0) {
      trace_error(t, "--failed names an unknown process %s", name);
      free(name);
      return TOOL_UNREADABLE;
    }
    free(name);
    t->procs[p].failed = true;
    s += n;
    if (*s == '\0')
      return TOOL_OK;
  }
}

/* ------------------------------------------------------------------------ */
/* The recovery line                                                        */

int trace_recovery_line(const trace *t, mlogi_rl_result *res) {
  mlogi_rl_process *procs =
      calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *procs);
  if (procs == NULL)
    return trace_out_of_memory(t);
  for (uint32_t p = 0; p < t->n_procs; p++)
    procs[p] = (mlogi_rl_process){.n_events = t->procs[p].n_events,
                                  .n_checkpoints = t->procs[p].n_ckpts,
                                  .ckpt_at = t->procs[p].ckpt_at,
                                  .failed = t->procs[p].failed};
  mlogi_errbuf eb = {{0}};
  int rc =
      mlogi_recovery_line(procs, t->n_procs, t->rl_msgs, t->n_msgs, res, &eb);
  free(procs);
  if (rc != MLOG_OK)
    return trace_error(t, "%s", eb.msg);
  return TOOL_OK;
}

const char *trace_position_name(const trace_proc *pr, uint64_t k) {
  return k == MLOGI_RL_END ? "end" : pr->ckpt_name[k];
}

/* ------------------------------------------------------------------------ */
/* Messages and events                                                      */

const char *trace_msg_id(const trace *t, size_t m, char *buf) {
  if (t->msgs != NULL)
    return t->msgs[m].id;
  const mlogi_rl_message *rl = &t->rl_msgs[m];
  snprintf(buf, TRACE_ID_MAX, "%s-%s#%llu", t->procs[rl->sender].name,
           t->procs[rl->receiver].name, (unsigned long long)t->ssns[m]);
  return buf;
}

bool trace_msg_received(const trace *t, size_t m) {
  return t->rl_msgs[m].recv_at != MLOGI_RL_NOT_RECEIVED;
}

/* Whether some process has a history but no events listed. */
static bool events_missing(const trace *t) {
  for (uint32_t p = 0; p < t->n_procs; p++)
    if (t->procs[p].events == NULL && t->procs[p].n_events > 0)
      return true;
  return false;
}

/* Room for the events of every process (a trace built from logs has none
 * listed), numbered process by process, with its checkpoints in place. */
static int place_checkpoints(trace *t) {
  size_t first = 0;
  for (uint32_t p = 0; p < t->n_procs; p++) {
    trace_proc *pr = &t->procs[p];
    free(pr->events);
    pr->events =
        pr->n_events <= SIZE_MAX / sizeof *pr->events
            ? malloc((pr->n_events > 0 ? pr->n_events : 1) * sizeof *pr->events)
            : NULL;
    if (pr->events == NULL)
      return trace_out_of_memory(t);
    pr->cap_events = pr->n_events;
    for (uint64_t k = 0; k < pr->n_events; k++)
      pr->events[k].event = first + k;
    for (size_t c = 1; c < pr->n_ckpts; c++) {
      trace_event *ev = &pr->events[pr->ckpt_at[c]];
      ev->kind = TRACE_CHECKPOINT;
      ev->index = c;
    }
    first += pr->n_events;
  }
  return TOOL_OK;
}

int trace_list_events(trace *t) {
  if (!events_missing(t))
    return TOOL_OK;
  int rc = place_checkpoints(t);
  for (size_t m = 0; rc == TOOL_OK && m < t->n_msgs; m++) {
    const mlogi_rl_message *rl = &t->rl_msgs[m];
    trace_event *send = &t->procs[rl->sender].events[rl->send_at];
    send->kind = TRACE_SEND;
    send->index = m;
    if (rl->recv_at != MLOGI_RL_NOT_RECEIVED) {
      trace_event *recv = &t->procs[rl->receiver].events[rl->recv_at];
      recv->kind = TRACE_RECV;
      recv->index = m;
    }
  }
  return rc;
}
