/* analyze.c - mlog analyze: the recovery line of a trace (or of the logs of
 * a group) after failures */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtrace.h"
#include "tool.h"
#include "trace.h"

static const char usage[] =
    "usage: mlog analyze [--json] --failed P[,Q...] --trace FILE\n"
    "       mlog analyze [--json] --failed P[,Q...] [--key FILE] DIR...\n"
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
    "Instead of a trace, the logs of the group: one DIR per process (opened\n"
    "read-only). Process <id> is \"p<id>\" (P may also be the id alone),\n"
    "its checkpoints are \"p<id>.c<number>\" (those its log holds) and its\n"
    "end is its last known state: its last clean close (in its current\n"
    "incarnation), or else its newest checkpoint, with the messages its peers\n"
    "received from it counted as sent after it; message \"p<i>-p<j>#<ssn>\"\n"
    "is the ssn-th from i to j.\n"
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
    "  -k, --key FILE     the log key (keyed logs)\n"
    "  -j, --json         one JSON object: recovery_line, rolled_back_past,\n"
    "                     domino, orphan_messages, lost_messages\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 analysed (domino or not), 2 usage error (also: a key\n"
    "file that cannot be read or is not 32 bytes), 3 the trace or a log\n"
    "could not be read or is not valid.\n";

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids of messages `idx` (n of them), sorted, as a JSON array. */
static json_t *sorted_ids(const trace *t, const size_t *idx, size_t n) {
  const char **ids = malloc((n > 0 ? n : 1) * sizeof *ids);
  char(*bufs)[TRACE_ID_MAX] = malloc((n > 0 ? n : 1) * sizeof *bufs);
  json_t *arr = json_array();
  if (ids == NULL || bufs == NULL || arr == NULL) {
    free(ids);
    free(bufs);
    json_decref(arr);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = trace_msg_id(t, idx[i], bufs[i]);
  qsort(ids, n, sizeof *ids, by_bytes);
  for (size_t i = 0; i < n; i++)
    if (json_array_append_new(arr, json_string(ids[i])) != 0) {
      json_decref(arr);
      arr = NULL;
      break;
    }
  free(ids);
  free(bufs);
  return arr;
}

/* The result as the object --json prints (NULL when out of memory). */
static json_t *result_object(const trace *t, const mlogi_rl_result *res) {
  json_t *line = json_object(), *past = json_object();
  bool ok = line != NULL && past != NULL;
  for (uint32_t p = 0; ok && p < t->n_procs; p++) {
    const trace_proc *pr = &t->procs[p];
    ok = json_object_set_new(
             line, pr->name,
             json_string(trace_position_name(pr, res->line[p]))) == 0 &&
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
  printf("  %s: %s", pr->name, trace_position_name(pr, k));
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
    return trace_out_of_memory(t);
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

static int run_analysis(const trace_source *src, const char *failed,
                        bool json) {
  trace t = {0};
  mlogi_rl_result res = {0};
  int rc = trace_source_load(src, failed, &t);
  if (rc == TOOL_OK)
    rc = trace_recovery_line(&t, &res);
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
      {"key", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool json = false;
  const char *failed = NULL;
  trace_source src = {0};
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
      if (src.path != NULL)
        return tool_usage_error("--trace given twice");
      src.path = optarg;
      break;
    case 'k':
      if (src.keyfile != NULL)
        return tool_usage_error("--key given twice");
      src.keyfile = optarg;
      break;
    case 'h':
      return tool_help(usage);
    default:
      return TOOL_USAGE;
    }
  }
  src.dirs = argv + optind;
  src.n_dirs = (size_t)(argc - optind);
  int rc = trace_source_check(&src);
  if (rc == TOOL_OK)
    rc = trace_check_failed_list(failed);
  return rc == TOOL_OK ? run_analysis(&src, failed, json) : rc;
}
