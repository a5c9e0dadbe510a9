/* analyze.c - mlog analyze: the recovery line of a trace after failures */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/recovery_line.h"
#include "tool.h"

static const char usage[] =
    "usage: mlog analyze [--json] --failed P[,Q...] --trace FILE\n"
    "\n"
    "Find the recovery line of a group of processes that log no messages,\n"
    "after the processes P, Q... failed: the newest checkpoints, one per\n"
    "process, that no message crosses backwards. A failed process starts\n"
    "from its newest checkpoint, a live one from its current state (\"end\").\n"
    "\n"
    "FILE is a JSON trace:\n"
    "  {\"processes\": [\"X\", \"Y\"],\n"
    "   \"events\": [{\"proc\": \"X\", \"kind\": \"checkpoint\", \"name\": "
    "\"x1\"},\n"
    "              {\"proc\": \"X\", \"kind\": \"send\", \"msg\": \"m1\", "
    "\"to\": \"Y\"},\n"
    "              {\"proc\": \"Y\", \"kind\": \"recv\", \"msg\": \"m1\"}]}\n"
    "The events of one process happen in the order listed; every process\n"
    "starts with a checkpoint named \"initial\".\n"
    "\n"
    "Prints the line (per process: a checkpoint name or \"end\"), how many\n"
    "checkpoints each process rolled back past, whether that is a domino\n"
    "effect, the orphan messages (received before the receiver's starting\n"
    "state, sent after the sender's line) and the lost messages (sent inside\n"
    "the line, received outside it).\n"
    "\n"
    "options:\n"
    "  -f, --failed LIST  the failed processes, separated by commas\n"
    "  -t, --trace FILE   the trace\n"
    "  -j, --json         one JSON object: recovery_line, rolled_back_past,\n"
    "                     domino, orphan_messages, lost_messages\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 analysed (domino or not), 2 usage error, 3 the trace\n"
    "could not be read or is not a valid trace.\n";

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

/* One process of the trace: its events so far and its checkpoints. */
typedef struct trace_proc {
  const char *name;
  uint64_t n_events;
  uint64_t *ckpt_at;      /* the event each checkpoint sits at */
  const char **ckpt_name; /* borrowed from the JSON */
  size_t n_ckpts, cap_ckpt_at, cap_ckpt_name;
  json_t *ckpt_names; /* name -> true, for duplicates */
  bool failed;
} trace_proc;

/* A message of the trace, with the events (indices in "events") that send
 * and receive it. */
typedef struct trace_msg {
  const char *id; /* borrowed from the JSON */
  size_t send_event, recv_event;
  bool received;
} trace_msg;

typedef struct trace {
  const char *path;
  json_t *root;
  trace_proc *procs;
  uint32_t n_procs;
  json_t *proc_index; /* name -> index */
  trace_msg *msgs;
  mlogi_rl_message *rl_msgs;
  size_t n_msgs, cap_msgs, cap_rl_msgs;
  json_t *msg_index; /* id -> index */
} trace;

/* Report a problem of the trace as one line; returns TOOL_UNREADABLE. */
static int trace_error(const trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int trace_error(const trace *t, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tool_error("%s: %s", t->path, msg);
  return TOOL_UNREADABLE;
}

static int out_of_memory(const trace *t) {
  return trace_error(t, "out of memory");
}

static void trace_free(trace *t) {
  for (uint32_t p = 0; p < t->n_procs; p++) {
    free(t->procs[p].ckpt_at);
    free(t->procs[p].ckpt_name);
    json_decref(t->procs[p].ckpt_names);
  }
  free(t->procs);
  free(t->msgs);
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
    return out_of_memory(t);
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
    return out_of_memory(t);
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
      return out_of_memory(t);
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
    return out_of_memory(t);
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

/* The first pass: processes, checkpoints and sends; receives only counted
 * (a message may be received before the event that sends it is listed). */
static int load_events(trace *t, json_t *events) {
  t->msg_index = json_object();
  if (t->msg_index == NULL)
    return out_of_memory(t);
  for (size_t i = 0; i < json_array_size(events); i++) {
    json_t *ev = json_array_get(events, i);
    uint32_t p;
    const char *id;
    int rc = check_event(t, ev, i, &p);
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    if (rc == TOOL_OK && strcmp(kind, "checkpoint") == 0)
      rc = load_checkpoint(t, ev, i, &t->procs[p]);
    else if (rc == TOOL_OK && strcmp(kind, "send") == 0)
      rc = load_send(t, ev, i, p);
    else if (rc == TOOL_OK)
      rc = need_string(t, ev, i, &t->procs[p], "msg", &id);
    if (rc != TOOL_OK)
      return rc;
    t->procs[p].n_events++;
  }
  return TOOL_OK;
}

static int load_receive(trace *t, size_t i, uint32_t p, const char *id,
                        uint64_t recv_at) {
  const trace_proc *pr = &t->procs[p];
  json_int_t m = lookup(t->msg_index, id);
  if (m < 0)
    return trace_error(t,
                       "event %zu (process %s): receives \"%s\", which no "
                       "event sends",
                       i, pr->name, id);
  trace_msg *msg = &t->msgs[m];
  mlogi_rl_message *rl = &t->rl_msgs[m];
  if (msg->received)
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
  msg->received = true;
  msg->recv_event = i;
  rl->recv_at = recv_at;
  return TOOL_OK;
}

/* The second pass: match every receive with its send. The first pass
 * checked the events' shape. */
static int load_receives(trace *t, json_t *events) {
  uint64_t *seen = calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *seen);
  if (seen == NULL)
    return out_of_memory(t);
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

static int load_trace(trace *t) {
  int rc = load_json(t);
  if (rc != TOOL_OK)
    return rc;
  if (!json_is_object(t->root))
    return trace_error(t, "not a JSON object");
  rc = load_processes(t);
  if (rc != TOOL_OK)
    return rc;
  json_t *events = json_object_get(t->root, "events");
  if (!json_is_array(events))
    return trace_error(t, "\"events\" is missing or not an array");
  rc = load_events(t, events);
  return rc == TOOL_OK ? load_receives(t, events) : rc;
}

/* ------------------------------------------------------------------------ */
/* The failed processes                                                     */

/* Check the syntax of --failed: names separated by commas, none empty or
 * repeated. Returns TOOL_OK or a usage error. */
static int check_failed_list(const char *list) {
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
static int mark_failed(trace *t, const char *list) {
  for (const char *s = list;; s++) {
    size_t n = strcspn(s, ",");
    char *name = strndup(s, n);
    if (name == NULL)
      return out_of_memory(t);
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
/* Analysis and output                                                      */

static int analyze(const trace *t, mlogi_rl_result *res) {
  mlogi_rl_process *procs =
      calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *procs);
  if (procs == NULL)
    return out_of_memory(t);
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

static const char *position_name(const trace_proc *pr, uint64_t k) {
  return k == MLOGI_RL_END ? "end" : pr->ckpt_name[k];
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids of messages `idx` (n of them), sorted, as a JSON array. */
static json_t *sorted_ids(const trace *t, const size_t *idx, size_t n) {
  const char **ids = malloc((n > 0 ? n : 1) * sizeof *ids);
  json_t *arr = json_array();
  if (ids == NULL || arr == NULL) {
    free(ids);
    json_decref(arr);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = t->msgs[idx[i]].id;
  qsort(ids, n, sizeof *ids, by_bytes);
  for (size_t i = 0; i < n; i++)
    if (json_array_append_new(arr, json_string(ids[i])) != 0) {
      json_decref(arr);
      arr = NULL;
      break;
    }
  free(ids);
  return arr;
}

/* The result as the object --json prints (NULL when out of memory). */
static json_t *result_object(const trace *t, const mlogi_rl_result *res) {
  json_t *line = json_object(), *past = json_object();
  bool ok = line != NULL && past != NULL;
  for (uint32_t p = 0; ok && p < t->n_procs; p++) {
    const trace_proc *pr = &t->procs[p];
    ok = json_object_set_new(line, pr->name,
                             json_string(position_name(pr, res->line[p]))) ==
             0 &&
         json_object_set_new(
             past, pr->name,
             json_integer((json_int_t)res->rolled_back_past[p])) == 0;
  }
  if (!ok) {
    json_decref(line);
    json_decref(past);
    return NULL;
  }
  return json_pack("{s:o, s:o, s:b, s:o?, s:o?}", "recovery_line", line,
                   "rolled_back_past", past, "domino", (int)res->domino,
                   "orphan_messages",
                   sorted_ids(t, res->orphans, res->n_orphans), "lost_messages",
                   sorted_ids(t, res->lost, res->n_lost));
}

/* "what: a, b, c" or "what: none". */
static void print_ids(const char *what, json_t *ids) {
  printf("%s:", what);
  for (size_t i = 0; i < json_array_size(ids); i++)
    printf("%s %s", i > 0 ? "," : "",
           json_string_value(json_array_get(ids, i)));
  printf("%s\n", json_array_size(ids) == 0 ? " none" : "");
}

/* "X: x1 (failed, rolled back past 2 checkpoints)". */
static void print_position(const trace_proc *pr, uint64_t k, uint64_t past) {
  printf("  %s: %s", pr->name, position_name(pr, k));
  if (pr->failed || past > 0)
    printf(" (%s%s", pr->failed ? "failed" : "",
           pr->failed && past > 0 ? ", " : "");
  if (past > 0)
    printf("rolled back past %llu checkpoint%s", (unsigned long long)past,
           past == 1 ? "" : "s");
  printf("%s\n", pr->failed || past > 0 ? ")" : "");
}

static void print_text(const trace *t, const mlogi_rl_result *res,
                       json_t *obj) {
  printf("recovery line:\n");
  for (uint32_t p = 0; p < t->n_procs; p++)
    print_position(&t->procs[p], res->line[p], res->rolled_back_past[p]);
  printf("domino: %s\n", res->domino ? "yes" : "no");
  print_ids("orphan messages", json_object_get(obj, "orphan_messages"));
  print_ids("lost messages", json_object_get(obj, "lost_messages"));
}

static int print_result(const trace *t, const mlogi_rl_result *res, bool json) {
  json_t *obj = result_object(t, res);
  if (obj == NULL)
    return out_of_memory(t);
  if (json) {
    json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    putchar('\n');
  } else {
    print_text(t, res, obj);
  }
  json_decref(obj);
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */

static int run_analysis(const char *path, const char *failed, bool json) {
  trace t = {.path = path};
  mlogi_rl_result res = {0};
  int rc = load_trace(&t);
  if (rc == TOOL_OK)
    rc = mark_failed(&t, failed);
  if (rc == TOOL_OK)
    rc = analyze(&t, &res);
  if (rc == TOOL_OK)
    rc = print_result(&t, &res, json);
  mlogi_rl_result_free(&res);
  trace_free(&t);
  return rc;
}

int cmd_analyze(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},
      {"failed", required_argument, NULL, 'f'},
      {"trace", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool json = false;
  const char *failed = NULL, *path = NULL;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'j':
      json = true;
      break;
    case 'f':
      if (failed != NULL)
        return tool_usage_error("--failed given twice");
      failed = optarg;
      break;
    case 't':
      if (path != NULL)
        return tool_usage_error("--trace given twice");
      path = optarg;
      break;
    case 'h':
      return tool_help(usage);
    default:
      return TOOL_USAGE;
    }
  }
  if (optind < argc)
    return tool_usage_error("unexpected argument '%s'", argv[optind]);
  if (path == NULL)
    return tool_usage_error("no trace given (--trace FILE)");
  int rc = check_failed_list(failed);
  return rc == TOOL_OK ? run_analysis(path, failed, json) : rc;
}
