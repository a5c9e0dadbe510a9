/* test_zmq.c - the ZeroMQ transport: group files, real processes killed
 * with SIGKILL, failure detection */
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mlog/process.h"
#include "mlog/zmq.h"
#include "test/testutil.h"

static char dir[64];
static pid_t child;

static void setup(void) {
  cr_assert_geq(sodium_init(), 0);
  tu_mkdtemp(dir, sizeof dir);
}

static void teardown(void) {
  if (child > 0)
    kill(child, SIGKILL);
  tu_reap(&child);
  tu_rmtree(dir);
}

TestSuite(zmq, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* Group files                                                              */

static const char *write_file(const char *name, const char *text) {
  static char path[128];
  tu_path(path, sizeof path, dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

Test(zmq, group_file_any_order_with_comments) {
  mlog_group g;
  const char *path = write_file("g", "# a group\n\n1 ipc:///tmp/b\n"
                                     "  0\ttcp://127.0.0.1:5000  \n");
  cr_assert_eq(mlog_group_load(path, &g), MLOG_OK, "%s", mlog_zmq_errmsg());
  cr_assert_eq(g.size, 2u);
  cr_assert_str_eq(g.endpoints[0], "tcp://127.0.0.1:5000");
  cr_assert_str_eq(g.endpoints[1], "ipc:///tmp/b");
  mlog_group_free(&g);
}

Test(zmq, bad_group_files_name_the_line) {
  static const struct {
    const char *text, *needle;
  } cases[] = {
      {"0 tcp://a:1\n2 tcp://a:3\n", "no line for process 1"},
      {"0 tcp://a:1\n0 tcp://a:2\n", ":2: a second line for this id"},
      {"0 udp://a:1\n", ":1: the endpoint is not"},
      {"0 tcp://a:1 extra\n", ":1: expected one endpoint"},
      {"zero tcp://a:1\n", ":1: expected \"<id> <endpoint>\""},
      {"0\n", ":1: expected"},
      {"-1 tcp://a:1\n", ":1: expected"},
      {"99999 tcp://a:1\n", ":1: expected"},
      {"# nothing\n", "no process"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    mlog_group g;
    const char *path = write_file("bad", cases[i].text);
    cr_assert_eq(mlog_group_load(path, &g), MLOG_EINVAL, "case %zu", i);
    cr_assert(strstr(mlog_zmq_errmsg(), cases[i].needle) != NULL,
              "case %zu: '%s' does not say '%s'", i, mlog_zmq_errmsg(),
              cases[i].needle);
    cr_assert_eq(g.size, 0u);
  }
  mlog_group g;
  char missing[128];
  tu_path(missing, sizeof missing, dir, "missing");
  cr_assert_eq(mlog_group_load(missing, &g), MLOG_ENOENT);
}

/* ------------------------------------------------------------------------ */
/* Two real processes                                                       */

/* The receiver's state: how many values it took and their sum (each value
 * once: the sender sends 1..N). */
typedef struct acc {
  uint64_t count, sum;
} acc;

static int acc_deliver(void *app, mlog_proc *p, uint32_t src, const void *msg,
                       size_t len) {
  (void)p;
  (void)src;
  acc *a = app;
  uint64_t v;
  if (len != sizeof v)
    return 1;
  memcpy(&v, msg, sizeof v);
  a->count++;
  a->sum += v;
  return 0;
}

static int acc_snapshot(void *app, mlog_buf *out) {
  return mlog_buf_append(out, app, sizeof(acc)) == MLOG_OK ? 0 : 1;
}

static int acc_restore(void *app, const void *state, size_t len) {
  acc *a = app;
  if (state == NULL) {
    *a = (acc){0};
    return 0;
  }
  if (len != sizeof *a)
    return 1;
  memcpy(a, state, sizeof *a);
  return 0;
}

static const mlog_app acc_app = {
    .deliver = acc_deliver, .snapshot = acc_snapshot, .restore = acc_restore};

static mlog_group group2;

static void make_group(void) {
  group2.size = 2;
  group2.endpoints = calloc(2, sizeof *group2.endpoints);
  for (int i = 0; i < 2; i++) {
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/p%d.sock", dir, i);
    group2.endpoints[i] = strdup(ep);
  }
}

static acc state[2];

static mlog_proc *open_proc(uint32_t id, const char *protocol) {
  char d[128];
  snprintf(d, sizeof d, "%s/log%u", dir, id);
  mlog_zmq_config zc = {
      .group = &group2, .heartbeat_ms = 20, .suspect_ms = 300};
  mlog_proc_config cfg = {.dirpath = d,
                          .id = id,
                          .group_size = 2,
                          .protocol = protocol,
                          .ckpt_every_deliveries = 50,
                          .transport = &mlog_zmq_ops,
                          .transport_config = &zc,
                          .retransmit_ms = 50,
                          .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  mlog_proc *p = NULL;
  int rc = mlog_proc_open(&cfg, &acc_app, &state[id], &p);
  cr_assert_eq(rc, MLOG_OK, "open %u: %s", id, mlog_proc_errmsg(NULL));
  return p;
}

static volatile sig_atomic_t stop;

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

/* The receiver as a child process: poll until killed, or until SIGTERM,
 * then write its state to DIR/state1. */
static pid_t spawn_receiver(const char *protocol) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    signal(SIGTERM, on_term);
    mlog_proc *p = open_proc(1, protocol);
    while (!stop)
      if (mlog_proc_poll(p, 20) < 0)
        _exit(3);
    char path[128];
    snprintf(path, sizeof path, "%s/state1", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(&state[1], sizeof state[1], 1, f) != 1)
      _exit(4);
    fclose(f);
    mlog_proc_close(p);
    _exit(0);
  }
  return pid;
}

/* Stop the receiver and read the state it ended in. */
static acc stop_receiver(void) {
  kill(child, SIGTERM);
  int status;
  cr_assert_eq(waitpid(child, &status, 0), child);
  child = 0;
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the receiver ended with status %d", status);
  char path[128];
  snprintf(path, sizeof path, "%s/state1", dir);
  FILE *f = fopen(path, "r");
  acc got = {0};
  cr_assert_not_null(f);
  cr_assert_eq(fread(&got, sizeof got, 1, f), 1u);
  fclose(f);
  return got;
}

static void poll_for(mlog_proc *p, int ms) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do {
    cr_assert_geq(mlog_proc_poll(p, 10), 0, "%s", mlog_proc_errmsg(p));
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 <
           ms);
}

/* The sender (this process) sends 1..n while the receiver is killed with
 * SIGKILL and restarted twice; at the end the receiver's log holds every
 * value exactly once. ZeroMQ drops what is in flight across a crash: the
 * resends and duplicate checks must cover it. */
static void kill_and_recover(const char *protocol) {
  make_group();
  child = spawn_receiver(protocol);
  mlog_proc *p0 = open_proc(0, protocol);
  const uint64_t n = 300;
  for (uint64_t v = 1; v <= n; v++) {
    cr_assert_eq(mlog_send(p0, 1, &v, sizeof v), MLOG_OK, "%s",
                 mlog_proc_errmsg(p0));
    poll_for(p0, v % 10 == 0 ? 5 : 0);
    if (v == 100 || v == 200) { /* a real crash, in the middle */
      kill(child, SIGKILL);
      tu_reap(&child);
      poll_for(p0, 400);
      cr_assert(mlog_proc_suspects(p0, 1), "the dead receiver is suspected");
      child = spawn_receiver(protocol);
    }
  }
  poll_for(p0, 1500); /* everything acknowledged */
  mlog_proc_stats st;
  mlog_proc_get_stats(p0, &st);
  cr_assert_gt(st.resent, 0u, "frames lost in the crashes were resent");
  cr_assert(!mlog_proc_suspects(p0, 1), "the restarted receiver is alive");
  acc got = stop_receiver();
  mlog_proc_close(p0);
  cr_assert_eq(got.count, n, "%llu values delivered, want %llu",
               (unsigned long long)got.count, (unsigned long long)n);
  cr_assert_eq(got.sum, n * (n + 1) / 2, "each value exactly once");
  mlog_group_free(&group2);
}

Test(zmq, sigkill_pessimistic_receiver_loses_and_duplicates_nothing) {
  kill_and_recover("pessimistic-receiver");
}

Test(zmq, sigkill_pessimistic_sender_loses_and_duplicates_nothing) {
  kill_and_recover("pessimistic-sender");
}

Test(zmq, sigkill_optimistic_receiver_loses_and_duplicates_nothing) {
  kill_and_recover("optimistic-receiver");
}

/* ------------------------------------------------------------------------ */
/* A damaged log                                                            */

/* Flip one bit of every copy of needle[0..len) in path (LMDB's
 * copy-on-write leaves stale copies in free pages); false when the file
 * does not hold it. */
static bool flip_in_file(const char *path, const void *needle, size_t len) {
  FILE *f = fopen(path, "r+b");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  uint8_t *buf = malloc((size_t)size);
  rewind(f);
  cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
  bool found = false;
  for (long i = 0; i + (long)len <= size; i++)
    if (memcmp(buf + i, needle, len) == 0) {
      uint8_t b = buf[i] ^ 1;
      fseek(f, i, SEEK_SET);
      fwrite(&b, 1, 1, f);
      found = true;
    }
  fclose(f);
  free(buf);
  return found;
}

static void hash_file(const char *path, uint8_t out[crypto_generichash_BYTES]) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
  uint8_t buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    crypto_generichash_update(&st, buf, got);
  fclose(f);
  crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

/* The receiver, a real process, is SIGKILLed; one delivery in its log is
 * then damaged on disk. Its restart refuses to recover, naming the record,
 * and leaves the log as it was: no damaged record is ever replayed. */
Test(zmq, damaged_log_makes_recovery_refuse) {
  make_group();
  child = spawn_receiver("pessimistic-receiver");
  mlog_proc *p0 = open_proc(0, "pessimistic-receiver");
  const uint64_t marker = 0x5eed5eed5eed5eedull;
  for (uint64_t v = 1; v <= 20; v++) {
    uint64_t m = v == 10 ? marker : v;
    cr_assert_eq(mlog_send(p0, 1, &m, sizeof m), MLOG_OK);
    poll_for(p0, 5);
  }
  poll_for(p0, 500); /* everything logged and acknowledged */
  kill(child, SIGKILL);
  tu_reap(&child);
  mlog_proc_close(p0);
  char data[160];
  snprintf(data, sizeof data, "%s/log1/data.mdb", dir);
  cr_assert(flip_in_file(data, &marker, sizeof marker),
            "the marker's delivery is in the receiver's log");
  uint8_t before[crypto_generichash_BYTES], after[sizeof before];
  hash_file(data, before);
  mlog_zmq_config zc = {.group = &group2};
  char d[128];
  snprintf(d, sizeof d, "%s/log1", dir);
  mlog_proc_config cfg = {.dirpath = d,
                          .id = 1,
                          .group_size = 2,
                          .protocol = "pessimistic-receiver",
                          .transport = &mlog_zmq_ops,
                          .transport_config = &zc,
                          .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  acc got = {0};
  mlog_proc *p1 = NULL;
  int rc = mlog_proc_open(&cfg, &acc_app, &got, &p1);
  cr_assert_eq(rc, MLOG_EBADTAG, "recovery refused (%s): %s", mlog_errname(rc),
               mlog_proc_errmsg(NULL));
  cr_assert_null(p1);
  cr_assert(strstr(mlog_proc_errmsg(NULL), "lsn") != NULL,
            "the error names the record: %s", mlog_proc_errmsg(NULL));
  hash_file(data, after);
  cr_assert_eq(memcmp(before, after, sizeof before), 0,
               "the failed recovery changed nothing in the log");
  mlog_group_free(&group2);
}
