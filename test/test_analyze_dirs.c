/* test_analyze_dirs.c - mlog analyze on log directories written by hand:
 * the zigzag of test/traces/zigzag.json as logs gives the trace's recovery
 * lines, rollbacks, domino, orphan and lost messages; the end of a process
 * is its last COUNTS record of its current incarnation (a stale one left by
 * a rollback is ignored), or else its newest checkpoint with the sends its
 * peers received from it after that; a receive with no send exits 3 only
 * against a COUNTS record; bad logs exit 3 with one line naming the
 * directory; the trace of the logs is event for event the JSON trace of
 * the same history (analyze and diagram print the same) */
#include "testutil.h"

#include <jansson.h>

#include "core/internal.h"
#include "core/proc.h"

#define MAX_PROCS 4

/* One channel as the tool reads it: sent to the peer, received from it. */
typedef struct chan {
  uint64_t sent, received;
} chan;

/* A checkpoint state laid out as recovery/checkpoint.c documents it
 * (version 3), written here by hand so that the test pins the layout the
 * tool reads: magic, version, group size (u32); rsn, output seq, outputs
 * released (u64); the interval's incarnation (u32); the snapshot id (u64);
 * the dependency vector (per process u32 + u64, zeros); per channel sent,
 * acked, received (u64) and 0 kept messages (u32); the application's
 * snapshot (u64 length 0). Returns the state's length. */
static size_t encode_state(uint8_t *buf, uint32_t n, const chan *ch) {
  uint8_t *p = buf;
  uint64_t rsn = 0;
  for (uint32_t j = 0; j < n; j++)
    rsn += ch[j].received;
  mlogi_put_le32(p, 0x54534c4du), p += 4; /* "MLST" */
  mlogi_put_le32(p, 3), p += 4;
  mlogi_put_le32(p, n), p += 4;
  mlogi_put_le64(p, rsn), p += 8;
  mlogi_put_le64(p, 0), p += 8; /* output seq */
  mlogi_put_le64(p, 0), p += 8; /* outputs released */
  mlogi_put_le32(p, 0), p += 4; /* interval incarnation */
  mlogi_put_le64(p, 0), p += 8; /* snapshot */
  for (uint32_t j = 0; j < n; j++)
    mlogi_put_le32(p, 0), mlogi_put_le64(p + 4, 0), p += 12;
  for (uint32_t j = 0; j < n; j++) {
    mlogi_put_le64(p, ch[j].sent), p += 8;
    mlogi_put_le64(p, ch[j].sent), p += 8; /* acked */
    mlogi_put_le64(p, ch[j].received), p += 8;
    mlogi_put_le32(p, 0), p += 4;
  }
  mlogi_put_le64(p, 0), p += 8;
  return (size_t)(p - buf);
}

/* ------------------------------------------------------------------------ */
/* Writing logs                                                             */

static char root[64];

static void setup(void) {
  tu_mkdtemp(root, sizeof root);
}

static void teardown(void) {
  tu_rmtree(root);
}

/* The directory of process id's log: root/p<id>. */
static void log_dir(char *buf, size_t len, uint32_t id) {
  snprintf(buf, len, "%s/p%u", root, id);
}

static mlog_log *create_log(uint32_t id, uint32_t n) {
  char dir[128];
  log_dir(dir, sizeof dir, id);
  mlog_log_config cfg = {.process_id = id, .group_size = n};
  mlog_log *log;
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_CREATE, &cfg, &log), MLOG_OK, "%s",
               mlog_log_errmsg(NULL));
  return log;
}

/* Append a CONTROL record of incarnation inc with these flags and
 * payload; returns its lsn. */
static uint64_t append_control_of(mlog_log *log, uint32_t inc, uint8_t flags,
                                  const void *payload, uint32_t len) {
  mlog_record rec = {.type = MLOG_REC_CONTROL,
                     .flags = flags,
                     .incarnation = inc,
                     .payload = payload,
                     .payload_len = len};
  cr_assert_eq(mlog_log_append(log, &rec, 1), MLOG_OK, "%s",
               mlog_log_errmsg(log));
  return rec.lsn;
}

/* The same in incarnation 0 (a log that never rolled back). */
static uint64_t append_control(mlog_log *log, uint8_t flags,
                               const void *payload, uint32_t len) {
  return append_control_of(log, 0, flags, payload, len);
}

/* A checkpoint of state bytes covering record covered_lsn. */
static void put_state(mlog_log *log, uint64_t covered_lsn, const void *state,
                      size_t len) {
  cr_assert_eq(mlog_log_put_checkpoint(log, covered_lsn, 0, state, len,
                                       UINT32_MAX, NULL),
               MLOG_OK, "%s", mlog_log_errmsg(log));
}

/* A checkpoint with these counts, covering a new MARK record. */
static void put_ckpt(mlog_log *log, uint32_t n, const chan *ch) {
  uint8_t state[1024];
  uint64_t lsn = append_control(log, MLOGI_CTL_MARK, NULL, 0);
  put_state(log, lsn, state, encode_state(state, n, ch));
}

/* The COUNTS record of a clean close in incarnation inc; returns its lsn. */
static uint64_t put_counts_of(mlog_log *log, uint32_t inc, uint32_t n,
                              const chan *ch) {
  uint8_t payload[16 * MAX_PROCS];
  for (uint32_t j = 0; j < n; j++) {
    mlogi_put_le64(payload + 16 * j, ch[j].sent);
    mlogi_put_le64(payload + 16 * j + 8, ch[j].received);
  }
  return append_control_of(log, inc, MLOGI_CTL_COUNTS, payload, 16 * n);
}

static uint64_t put_counts(mlog_log *log, uint32_t n, const chan *ch) {
  return put_counts_of(log, 0, n, ch);
}

/* test/traces/zigzag.json as logs: Y is p0, X is p1, Z is p2. */
static void write_zigzag(void) {
  mlog_log *y = create_log(0, 3), *x = create_log(1, 3), *z = create_log(2, 3);
  put_ckpt(y, 3, (chan[3]){[1] = {.sent = 1, .received = 1}}); /* y1 */
  put_counts(y, 3, (chan[3]){[1] = {2, 2}, [2] = {.sent = 1}});
  put_ckpt(x, 3, (chan[3]){[0] = {.received = 1}});            /* x1 */
  put_ckpt(x, 3, (chan[3]){[0] = {.sent = 1, .received = 2}}); /* x2 */
  put_counts(x, 3, (chan[3]){[0] = {2, 2}});
  put_ckpt(z, 3, (chan[3]){{0}}); /* z1 */
  put_counts(z, 3, (chan[3]){{0}});
  mlog_log_close(y);
  mlog_log_close(x);
  mlog_log_close(z);
}

/* ------------------------------------------------------------------------ */
/* Running the tool                                                         */

typedef struct result {
  int status;
  char out[8192], err[2048];
} result;

static void read_text(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, len - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n')
    buf[n - 1] = '\0';
}

/* Run "mlog ARGS" (a shell command line) into *r. */
static void run_tool(result *r, const char *args) {
  const char *bin = getenv("MLOG_BIN");
  cr_assert_not_null(bin, "MLOG_BIN must name the mlog tool (CTest sets it)");
  char cmd[4096], out[128], err[128];
  snprintf(out, sizeof out, "%s/.out", root);
  snprintf(err, sizeof err, "%s/.err", root);
  snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", bin, args, out, err);
  int st = system(cmd);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  read_text(out, r->out, sizeof r->out);
  read_text(err, r->err, sizeof r->err);
}

/* "analyze --json --failed FAILED DIRS" where dirs lists process ids: "201"
 * is root/p2 root/p0 root/p1. */
static void analyze_dirs(result *r, const char *failed, const char *ids) {
  char args[2048];
  int n = snprintf(args, sizeof args, "analyze --json --failed '%s'", failed);
  for (const char *c = ids; *c != '\0'; c++)
    n += snprintf(args + n, sizeof args - (size_t)n, " '%s/p%c'", root, *c);
  run_tool(r, args);
}

/* Exit 3 and one stderr line from analyze holding every one of `want`
 * (NULL-terminated), nothing on stdout. */
static void expect_refused(const result *r, const char *const *want) {
  cr_expect_eq(r->status, 3, "exit %d; stderr: %s", r->status, r->err);
  cr_expect_str_empty(r->out);
  cr_expect_null(strchr(r->err, '\n'), "more than one line: %s", r->err);
  cr_expect_eq(strncmp(r->err, "mlog analyze: ", 14), 0, "%s", r->err);
  for (; *want != NULL; want++)
    cr_expect_not_null(strstr(r->err, *want), "'%s' not in: %s", *want, r->err);
}

/* ------------------------------------------------------------------------ */
/* Comparing analyses                                                       */

/* names[s], or s itself when names does not map it. */
static const char *mapped_name(json_t *names, const char *s) {
  const char *to = json_string_value(json_object_get(names, s));
  return to != NULL ? to : s;
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The message ids of arr renamed, sorted. */
static json_t *renamed_ids(json_t *arr, json_t *names) {
  size_t n = json_array_size(arr);
  const char *ids[64];
  cr_assert_leq(n, 64u);
  for (size_t i = 0; i < n; i++)
    ids[i] = mapped_name(names, json_string_value(json_array_get(arr, i)));
  qsort(ids, n, sizeof *ids, by_bytes);
  json_t *out = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(out, json_string(ids[i]));
  return out;
}

/* The object with its keys and string values renamed. */
static json_t *renamed_map(json_t *obj, json_t *names) {
  json_t *out = json_object(), *v;
  const char *k;
  json_object_foreach(obj, k, v) {
    json_t *nv = json_is_string(v)
                     ? json_string(mapped_name(names, json_string_value(v)))
                     : json_incref(v);
    json_object_set_new(out, mapped_name(names, k), nv);
  }
  return out;
}

/* analyze --json's output with every name renamed by `names`. */
static json_t *renamed(const char *text, json_t *names) {
  json_error_t e;
  json_t *a = json_loads(text, 0, &e);
  cr_assert_not_null(a, "not JSON (%s): %s", e.text, text);
  json_t *b = json_pack(
      "{s:o, s:o, s:O, s:o, s:o}", "recovery_line",
      renamed_map(json_object_get(a, "recovery_line"), names),
      "rolled_back_past",
      renamed_map(json_object_get(a, "rolled_back_past"), names), "domino",
      json_object_get(a, "domino"), "orphan_messages",
      renamed_ids(json_object_get(a, "orphan_messages"), names),
      "lost_messages", renamed_ids(json_object_get(a, "lost_messages"), names));
  cr_assert_not_null(b);
  json_decref(a);
  return b;
}

/* The zigzag trace's names as the logs name them. */
static json_t *zigzag_names(void) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                   "s:s}",
                   "Y", "p0", "X", "p1", "Z", "p2", "y1", "p0.c1", "x1",
                   "p1.c1", "x2", "p1.c2", "z1", "p2.c1", "m0", "p0-p1#1", "m1",
                   "p1-p0#1", "m2", "p0-p1#2", "m3", "p1-p0#2", "m4",
                   "p0-p2#1");
}

/* Analyse the zigzag trace and its logs after the failures `failed` (trace
 * names) and expect the same answer. */
static void same_as_trace(const char *failed) {
  const char *src = getenv("MLOG_SOURCE_DIR");
  cr_assert_not_null(src, "MLOG_SOURCE_DIR must name the source tree");
  json_t *names = zigzag_names();
  char args[1024], mapped[64] = "";
  snprintf(args, sizeof args,
           "analyze --json --failed '%s' --trace '%s/test/traces/zigzag.json'",
           failed, src);
  for (const char *c = failed; *c != '\0'; c++) {
    char one[2] = {*c, '\0'};
    strcat(mapped, *c == ',' ? "," : mapped_name(names, one));
  }
  result from_trace, from_logs;
  run_tool(&from_trace, args);
  analyze_dirs(&from_logs, mapped, "201");
  cr_assert_eq(from_trace.status, 0, "%s", from_trace.err);
  cr_assert_eq(from_logs.status, 0, "%s", from_logs.err);
  json_t *want = renamed(from_trace.out, names);
  json_t *got = renamed(from_logs.out, NULL);
  char *w = json_dumps(want, JSON_SORT_KEYS),
       *g = json_dumps(got, JSON_SORT_KEYS);
  cr_expect(json_equal(want, got), "failed %s: trace %s, logs %s", failed, w,
            g);
  free(w);
  free(g);
  json_decref(want);
  json_decref(got);
  json_decref(names);
}

/* ------------------------------------------------------------------------ */

TestSuite(analyze_dirs, .init = setup, .fini = teardown, .timeout = 60);

Test(analyze_dirs, zigzag_domino) {
  write_zigzag();
  result r;
  analyze_dirs(&r, "p1", "012");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(
      r.out, "{\"recovery_line\":{\"p0\":\"initial\",\"p1\":\"initial\","
             "\"p2\":\"end\"},\"rolled_back_past\":{\"p0\":1,\"p1\":2,"
             "\"p2\":0},\"domino\":true,\"orphan_messages\":[\"p0-p1#1\","
             "\"p0-p1#2\",\"p1-p0#1\",\"p1-p0#2\"],\"lost_messages\":[]}");
  cr_expect_str_empty(r.err);
}

Test(analyze_dirs, zigzag_same_as_trace) {
  write_zigzag();
  static const char *const failures[] = {"X", "Y", "Z", "X,Z", "Y,Z", "Y,X,Z"};
  for (size_t i = 0; i < sizeof failures / sizeof *failures; i++)
    same_as_trace(failures[i]);
}

Test(analyze_dirs, plain_ids_and_any_order) {
  write_zigzag();
  result a, b;
  analyze_dirs(&a, "p1,p2", "012");
  analyze_dirs(&b, "2,1", "120");
  cr_assert_eq(a.status, 0, "%s", a.err);
  cr_expect_str_eq(a.out, b.out);
}

/* Without a COUNTS record a process ends at its newest checkpoint (p0 sent
 * 2 before it and p1 received 2: nothing to raise). */
Test(analyze_dirs, end_is_newest_checkpoint_without_counts) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 1}});
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 2}});
  put_ckpt(p1, 2, (chan[2]){[0] = {.received = 1}});
  put_counts(p1, 2, (chan[2]){[0] = {.received = 2}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p0", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"p0.c2\",\"p1\":"
                          "\"end\"},\"rolled_back_past\":{\"p0\":0,\"p1\":0},"
                          "\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[]}");
  analyze_dirs(&r, "p1", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"end\",\"p1\":"
                          "\"p1.c1\"},\"rolled_back_past\":{\"p0\":0,\"p1\":0},"
                          "\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[\"p0-p1#2\"]}");
}

/* A COUNTS record the newest checkpoint covers is older than it: the end
 * is the checkpoint (the record's smaller counts would be an error). */
Test(analyze_dirs, counts_covered_by_a_checkpoint_are_ignored) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  uint64_t lsn = put_counts(p0, 2, (chan[2]){[1] = {.sent = 1}});
  uint8_t state[1024];
  put_state(p0, lsn, state,
            encode_state(state, 2, (chan[2]){[1] = {.sent = 2}}));
  put_counts(p1, 2, (chan[2]){[0] = {.received = 2}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"end\",\"p1\":"
                          "\"initial\"},\"rolled_back_past\":{\"p0\":0,\"p1\":"
                          "0},\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[\"p0-p1#1\",\"p0-p1#2\"]}");
}

/* An end without a COUNTS record is a lower bound: p0's log ends at c1,
 * after 1 message to p1, and p1's end received 3 from it, so p0 sent
 * p0-p1#2 and #3 after c1 (the logging protocols write no COUNTS: their
 * senders' newest checkpoints are often older than their receives). */
Test(analyze_dirs, end_without_counts_raised_to_peer_receives) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 1}});
  put_ckpt(p1, 2, (chan[2]){[0] = {.received = 1}});
  put_counts(p1, 2, (chan[2]){[0] = {.received = 3}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"end\",\"p1\":"
                          "\"p1.c1\"},\"rolled_back_past\":{\"p0\":0,\"p1\":0},"
                          "\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[\"p0-p1#2\",\"p0-p1#3\"]}");
  /* p0 restarts from c1: what it sent after c1 is orphaned. */
  analyze_dirs(&r, "p0", "10");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"p0.c1\",\"p1\":"
                          "\"p1.c1\"},\"rolled_back_past\":{\"p0\":0,\"p1\":"
                          "0},\"domino\":false,\"orphan_messages\":["
                          "\"p0-p1#2\",\"p0-p1#3\"],\"lost_messages\":[]}");
  cr_expect_str_empty(r.err);
}

/* A process with no checkpoint and no COUNTS record: its initial state,
 * raised the same way. */
Test(analyze_dirs, initial_end_raised_to_peer_receives) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_counts(p1, 2, (chan[2]){[0] = {.received = 1}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"end\",\"p1\":"
                          "\"initial\"},\"rolled_back_past\":{\"p0\":0,\"p1\":"
                          "0},\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[\"p0-p1#1\"]}");
}

/* A COUNTS record is what the process had sent when it closed: p0 closed
 * after 1 message to p1, and p1 received 2 from it. */
Test(analyze_dirs, receive_without_send) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 1}});
  put_counts(p0, 2, (chan[2]){[1] = {.sent = 1}});
  put_counts(p1, 2, (chan[2]){[0] = {.received = 2}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  expect_refused(&r,
                 (const char *const[]){"/p1: p1 received 2 messages from p0",
                                       "sending it 1", "/p0", NULL});
}

/* A COUNTS record of an older incarnation is stale. p0 closed cleanly
 * after c2 (counts: 3 sent to p1, 2 received from it); its restart led
 * round 2, which rolled it back to c1 (and p1 to its c1, before p1's sends
 * to p0), then p0 sent p0-p1#2 again and crashed before its next
 * checkpoint. p1 closed cleanly in round 2. The stale record would say p0
 * received 2 messages p1 never sent; p0's end is c1, raised to the 2
 * messages p1 received from it. A COUNTS record of the current incarnation
 * (p1's, in round 2) is the end. */
Test(analyze_dirs, stale_counts_of_an_older_incarnation_are_ignored) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 1}});
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 2, .received = 1}});
  put_counts_of(p0, 0, 2, (chan[2]){[1] = {.sent = 3, .received = 2}});
  cr_assert_eq(mlog_log_drop_checkpoints_after(p0, 1), MLOG_OK);
  cr_assert_eq(mlog_log_set_incarnation(p0, 2), MLOG_OK);
  put_ckpt(p1, 2, (chan[2]){[0] = {.received = 1}});
  cr_assert_eq(mlog_log_set_incarnation(p1, 2), MLOG_OK);
  put_counts_of(p1, 2, 2, (chan[2]){[0] = {.received = 2}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "{\"recovery_line\":{\"p0\":\"end\",\"p1\":"
                          "\"p1.c1\"},\"rolled_back_past\":{\"p0\":0,\"p1\":0},"
                          "\"domino\":false,\"orphan_messages\":[],"
                          "\"lost_messages\":[\"p0-p1#2\"]}");
  /* In the current incarnation the same record is p0's end. */
  mlog_log *log;
  char dir[128];
  log_dir(dir, sizeof dir, 0);
  cr_assert_eq(mlog_log_open(dir, 0, NULL, &log), MLOG_OK);
  cr_assert_eq(mlog_log_set_incarnation(log, 0), MLOG_OK);
  mlog_log_close(log);
  analyze_dirs(&r, "p1", "01");
  expect_refused(&r,
                 (const char *const[]){"/p0: p0 received 2 messages from p1",
                                       "sending it 0", "/p1", NULL});
}

Test(analyze_dirs, malformed_counts) {
  write_zigzag();
  mlog_log *log;
  char dir[128];
  log_dir(dir, sizeof dir, 2);
  cr_assert_eq(mlog_log_open(dir, 0, NULL, &log), MLOG_OK);
  uint64_t lsn = append_control(log, MLOGI_CTL_COUNTS, "short", 5);
  mlog_log_close(log);
  char want[64];
  snprintf(want, sizeof want, "/p2: lsn %llu: a malformed COUNTS",
           (unsigned long long)lsn);
  result r;
  analyze_dirs(&r, "p1", "012");
  expect_refused(&r, (const char *const[]){want, "5 bytes", NULL});
}

Test(analyze_dirs, malformed_state) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_state(p0, append_control(p0, MLOGI_CTL_MARK, NULL, 0), "garbage", 7);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  expect_refused(
      &r, (const char *const[]){"/p0: checkpoint 1: a malformed state", NULL});
}

/* A state of another group size is malformed for this group. */
Test(analyze_dirs, state_of_another_group_size) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 3, (chan[3]){{0}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  expect_refused(
      &r, (const char *const[]){"/p0: checkpoint 1: a malformed state", NULL});
}

Test(analyze_dirs, counts_going_down) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 2}});
  put_ckpt(p0, 2, (chan[2]){[1] = {.sent = 1}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  analyze_dirs(&r, "p1", "01");
  expect_refused(
      &r, (const char *const[]){"/p0: checkpoint 2 counts fewer messages", "p1",
                                "than checkpoint 1", NULL});
}

/* A count no trace can hold (a crafted or damaged log whose tags still
 * verify) is refused before anything is sized by it. */
Test(analyze_dirs, channel_with_too_many_messages) {
  mlog_log *p0 = create_log(0, 2), *p1 = create_log(1, 2);
  uint64_t lsn = put_counts(p0, 2, (chan[2]){[1] = {.sent = UINT64_MAX}});
  mlog_log_close(p0);
  mlog_log_close(p1);
  char want[160];
  snprintf(want, sizeof want,
           "/p0: the end at lsn %llu counts more than 4294967295 messages on "
           "the channel with p1: too many for a trace",
           (unsigned long long)lsn);
  result r;
  analyze_dirs(&r, "p1", "01");
  expect_refused(&r, (const char *const[]){want, NULL});
}

/* Flip a bit of every copy of the checkpoint state's rsn in data.mdb: the
 * checkpoint's tag no longer matches. */
static void tamper_state(uint32_t id) {
  char dir[128], path[160];
  log_dir(dir, sizeof dir, id);
  tu_path(path, sizeof path, dir, "data.mdb");
  FILE *f = fopen(path, "r+b");
  cr_assert_not_null(f);
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f), flipped = 0;
  for (size_t i = 0; i + 16 < n; i++)
    if (memcmp(buf + i, "MLST", 4) == 0)
      buf[i + 12] ^= 1, flipped++;
  cr_assert_gt(flipped, 0u, "no state found in %s", path);
  rewind(f);
  cr_assert_eq(fwrite(buf, 1, n, f), n);
  fclose(f);
}

Test(analyze_dirs, checkpoint_failing_verification) {
  write_zigzag();
  tamper_state(1);
  result r;
  analyze_dirs(&r, "p1", "012");
  expect_refused(
      &r, (const char *const[]){"/p1: checkpoint 1 fails verification: bad tag",
                                NULL});
}

/* ------------------------------------------------------------------------ */
/* Logs against the JSON trace of the same history                          */

#define MESH_PROCS MAX_PROCS
#define MESH_POS 5 /* the initial state, 3 checkpoints, the end */

/* A group whose every process sends to every other, with random counts:
 * pos[p][k][j] is process p's channel with j at position k. */
typedef struct mesh {
  chan pos[MESH_PROCS][MESH_POS][MESH_PROCS];
} mesh;

static uint64_t next_random(uint64_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

/* Counts that only grow, every channel receiving at most what its sender
 * sent by its end. */
static void make_mesh(mesh *m, uint64_t seed) {
  memset(m, 0, sizeof *m);
  for (uint32_t p = 0; p < MESH_PROCS; p++)
    for (uint32_t k = 1; k < MESH_POS; k++)
      for (uint32_t j = 0; j < MESH_PROCS; j++)
        m->pos[p][k][j].sent =
            j == p ? 0 : m->pos[p][k - 1][j].sent + next_random(&seed) % 4;
  for (uint32_t p = 0; p < MESH_PROCS; p++)
    for (uint32_t k = 1; k < MESH_POS; k++)
      for (uint32_t i = 0; i < MESH_PROCS; i++) {
        uint64_t most = m->pos[i][MESH_POS - 1][p].sent,
                 got = m->pos[p][k - 1][i].received + next_random(&seed) % 5;
        m->pos[p][k][i].received = got < most ? got : most;
      }
}

static void write_mesh_logs(const mesh *m) {
  for (uint32_t p = 0; p < MESH_PROCS; p++) {
    mlog_log *log = create_log(p, MESH_PROCS);
    for (uint32_t k = 1; k + 1 < MESH_POS; k++)
      put_ckpt(log, MESH_PROCS, m->pos[p][k]);
    put_counts(log, MESH_PROCS, m->pos[p][MESH_POS - 1]);
    mlog_log_close(log);
  }
}

/* Append a send or receive event of process p to events. */
static void add_message_event(json_t *events, uint32_t p, uint32_t from,
                              uint32_t to, uint64_t ssn, bool send) {
  char proc[8], id[32], dst[8];
  snprintf(proc, sizeof proc, "p%u", p);
  snprintf(id, sizeof id, "p%u-p%u#%llu", from, to, (unsigned long long)ssn);
  snprintf(dst, sizeof dst, "p%u", to);
  json_array_append_new(events,
                        send ? json_pack("{s:s, s:s, s:s, s:s}", "proc", proc,
                                         "kind", "send", "msg", id, "to", dst)
                             : json_pack("{s:s, s:s, s:s}", "proc", proc,
                                         "kind", "recv", "msg", id));
}

/* The history of the logs as a JSON trace in the layout docs/cli.md gives
 * (per interval: the sends, the receives, the checkpoint), at path. */
static void write_mesh_trace(const mesh *m, const char *path) {
  json_t *events = json_array();
  for (uint32_t p = 0; p < MESH_PROCS; p++)
    for (uint32_t k = 1; k < MESH_POS; k++) {
      const chan *from = m->pos[p][k - 1], *to = m->pos[p][k];
      for (uint32_t j = 0; j < MESH_PROCS; j++)
        for (uint64_t s = from[j].sent + 1; s <= to[j].sent; s++)
          add_message_event(events, p, p, j, s, true);
      for (uint32_t i = 0; i < MESH_PROCS; i++)
        for (uint64_t s = from[i].received + 1; s <= to[i].received; s++)
          add_message_event(events, p, i, p, s, false);
      char proc[8], name[16];
      snprintf(proc, sizeof proc, "p%u", p);
      snprintf(name, sizeof name, "p%u.c%u", p, k);
      if (k + 1 < MESH_POS)
        json_array_append_new(events,
                              json_pack("{s:s, s:s, s:s}", "proc", proc, "kind",
                                        "checkpoint", "name", name));
    }
  json_t *doc = json_pack("{s:[s, s, s, s], s:o}", "processes", "p0", "p1",
                          "p2", "p3", "events", events);
  cr_assert_not_null(doc);
  cr_assert_eq(json_dump_file(doc, path, 0), 0);
  json_decref(doc);
}

/* Run "mlog CMD" on the trace file (its outputs, with `draw`, to
 * root/trace.svg and root/trace.log) and on the logs (root/logs.svg and
 * root/logs.log): the same exit status 0 and the same stdout. */
static void same_from_both(const char *cmd, bool draw) {
  char args[2][1024];
  int n =
      snprintf(args[0], sizeof args[0], "%s --trace '%s/mesh.json'", cmd, root);
  int m = snprintf(args[1], sizeof args[1], "%s", cmd);
  for (uint32_t p = 0; p < MESH_PROCS; p++)
    m +=
        snprintf(args[1] + m, sizeof args[1] - (size_t)m, " '%s/p%u'", root, p);
  static const char *const from[] = {"trace", "logs"};
  for (int i = 0; i < 2 && draw; i++)
    snprintf(
        args[i] + (i == 0 ? n : m), sizeof args[i] - (size_t)(i == 0 ? n : m),
        " -o '%s/%s.svg' --shiviz '%s/%s.log'", root, from[i], root, from[i]);
  result r[2];
  for (int i = 0; i < 2; i++) {
    run_tool(&r[i], args[i]);
    cr_assert_eq(r[i].status, 0, "%s: %s", args[i], r[i].err);
  }
  cr_expect_str_eq(r[0].out, r[1].out, "%s", cmd);
}

/* The file root/FROM.EXT (free it). */
static char *slurp(const char *from, const char *ext) {
  char path[160];
  snprintf(path, sizeof path, "%s/%s.%s", root, from, ext);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  char *buf = malloc((size_t)len + 1);
  cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
  buf[len] = '\0';
  fclose(f);
  return buf;
}

/* The trace the logs give is the JSON trace of the same history, event for
 * event and message for message: analyze prints the same (text and JSON)
 * and diagram draws the same SVG and ShiViz log, byte for byte. Fresh logs
 * for each seed. */
Test(analyze_dirs, logs_same_as_their_json_trace) {
  static const char *const failures[] = {"p0", "p1", "p2,p3", "p3,p0,p1"};
  for (uint64_t seed = 1; seed <= 3; seed++) {
    mesh m;
    make_mesh(&m, seed * 0x9e3779b97f4a7c15ull);
    char path[128];
    snprintf(path, sizeof path, "%s/mesh.json", root);
    write_mesh_logs(&m);
    write_mesh_trace(&m, path);
    for (size_t f = 0; f < sizeof failures / sizeof *failures; f++) {
      char cmd[128];
      snprintf(cmd, sizeof cmd, "analyze --failed %s", failures[f]);
      same_from_both(cmd, false);
      snprintf(cmd, sizeof cmd, "analyze --json --failed %s", failures[f]);
      same_from_both(cmd, false);
      snprintf(cmd, sizeof cmd, "diagram --failed %s", failures[f]);
      same_from_both(cmd, true);
      for (int e = 0; e < 2; e++) {
        const char *ext = e == 0 ? "svg" : "log";
        char *a = slurp("trace", ext), *b = slurp("logs", ext);
        cr_expect_str_eq(a, b, "%s: the %s files differ", cmd, ext);
        free(a);
        free(b);
      }
    }
    teardown();
    setup();
  }
}
