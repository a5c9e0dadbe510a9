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
#include "transport/zmq.h"

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

static mlog_group group;

/* A group of n on ipc endpoints in dir (only 0 and 1 are ever opened). */
static void make_group(uint32_t n) {
  group.size = n;
  group.endpoints = calloc(n, sizeof *group.endpoints);
  for (uint32_t i = 0; i < n; i++) {
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/p%u.sock", dir, i);
    group.endpoints[i] = strdup(ep);
  }
}

static acc state[2];
static uint32_t suspect_ms = 300; /* of the processes opened from now on */
static uint32_t retransmit_ms = 50;

static mlog_proc *open_proc(uint32_t id, const char *protocol) {
  char d[128];
  snprintf(d, sizeof d, "%s/log%u", dir, id);
  mlog_zmq_config zc = {
      .group = &group, .heartbeat_ms = 20, .suspect_ms = suspect_ms};
  mlog_proc_config cfg = {.dirpath = d,
                          .id = id,
                          .group_size = group.size,
                          .protocol = protocol,
                          .ckpt_every_deliveries = 50,
                          .transport = &mlog_zmq_ops,
                          .transport_config = &zc,
                          .retransmit_ms = retransmit_ms,
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

/* Stop the child with SIGTERM (it must exit 0) and open DIR/file, what it
 * wrote on its way out. */
static FILE *stop_child(const char *who, const char *file) {
  kill(child, SIGTERM);
  int status;
  cr_assert_eq(waitpid(child, &status, 0), child);
  child = 0;
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the %s ended with status %d", who, status);
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  return f;
}

/* Stop the receiver and read the state it ended in. */
static acc stop_receiver(void) {
  FILE *f = stop_child("receiver", "state1");
  acc got = {0};
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
  make_group(2);
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
  mlog_group_free(&group);
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

/* Through the delivery layer: messages sent to a receiver that has not
 * started yet (its endpoint is not bound) arrive once it is up, long before
 * the resend timer (60 s) would send them again. The bound is an upper
 * limit, not a measure. */
Test(zmq, messages_sent_before_the_receiver_started_need_no_resend_timer) {
  retransmit_ms = 60000;
  make_group(2);
  mlog_proc *p0 = open_proc(0, "pessimistic-receiver");
  const uint64_t n = 20;
  for (uint64_t v = 1; v <= n; v++)
    cr_assert_eq(mlog_send(p0, 1, &v, sizeof v), MLOG_OK, "%s",
                 mlog_proc_errmsg(p0));
  poll_for(p0, 50);
  child = spawn_receiver("pessimistic-receiver");
  poll_for(p0, 3000);
  acc got = stop_receiver();
  mlog_proc_close(p0);
  cr_assert_eq(got.count, n, "%llu values delivered, want %llu",
               (unsigned long long)got.count, (unsigned long long)n);
  cr_assert_eq(got.sum, n * (n + 1) / 2, "each value exactly once");
  mlog_group_free(&group);
}

/* ------------------------------------------------------------------------ */
/* The backlog: frames a connection cannot take yet                         */

/* These drive the transport's table directly: frames are u64 sequence
 * numbers (then `pad` zero bytes), and the peer is a child process that
 * records, in order, the numbers it got from process 0. */

#define SEQS_MAX 4096

/* A transport of `group` as process id, or NULL. */
static void *tp_try_open(uint32_t id) {
  void *t = calloc(1, mlog_zmq_ops.size);
  mlog_zmq_config zc = {
      .group = &group, .heartbeat_ms = 20, .suspect_ms = 30000};
  if (t && mlog_zmq_ops.open(t, &zc, id, group.size) != MLOG_OK) {
    free(t);
    return NULL;
  }
  return t;
}

static void *tp_open(uint32_t id) {
  void *t = tp_try_open(id);
  cr_assert_not_null(t, "open %u", id);
  return t;
}

static void tp_close(void *t) {
  mlog_zmq_ops.close(t);
  free(t);
}

static int tp_send(void *t, uint32_t dst, uint64_t seq, size_t pad) {
  static uint8_t buf[8 + MLOGI_ZMQ_BACKLOG_BYTES]; /* a frame over the bound */
  memcpy(buf, &seq, sizeof seq);
  return mlog_zmq_ops.send(t, dst, buf, sizeof seq + pad);
}

/* Take frames for ms (ms 0: what is there), appending the sequence
 * numbers of those from process `from` to seqs[*n] (seqs NULL: drop
 * them). */
static void tp_pump(void *t, int ms, uint32_t from, uint64_t *seqs, size_t *n) {
  uint64_t end = mlog_zmq_ops.now_ms(t) + (uint64_t)ms;
  do {
    uint32_t src;
    const void *frame;
    size_t len;
    int rc = mlog_zmq_ops.recv(t, ms ? 5 : 0, &src, &frame, &len);
    if (rc == MLOG_OK && src == from && len >= 8 && seqs && *n < SEQS_MAX)
      memcpy(&seqs[(*n)++], frame, 8);
  } while (mlog_zmq_ops.now_ms(t) < end);
}

static mlogi_zmq_backlog backlog_of(void *t, uint32_t dst) {
  mlogi_zmq_backlog b;
  mlogi_zmq_backlog_get(t, dst, &b);
  return b;
}

/* The child's life: open as process id, send 1..replies to process 0 at
 * once (its connection is not up yet), then record what process 0 sends
 * until SIGTERM, take what is still on its way, and write the numbers to
 * DIR/seqs. Exits 0, or 2 when it cannot open. */
static void peer_main(uint32_t id, uint64_t replies) {
  signal(SIGTERM, on_term);
  void *t = tp_try_open(id);
  if (t == NULL)
    _exit(2);
  for (uint64_t v = 1; v <= replies; v++)
    (void)tp_send(t, 0, v, 0);
  static uint64_t seqs[SEQS_MAX];
  size_t n = 0;
  while (!stop)
    tp_pump(t, 20, 0, seqs, &n);
  size_t before;
  do { /* until 200 ms pass without a frame from process 0 */
    before = n;
    tp_pump(t, 200, 0, seqs, &n);
  } while (n != before);
  char path[128];
  snprintf(path, sizeof path, "%s/seqs", dir);
  FILE *f = fopen(path, "w");
  if (f == NULL || fwrite(seqs, sizeof *seqs, n, f) != n)
    _exit(4);
  fclose(f);
  tp_close(t);
  _exit(0);
}

static pid_t spawn_peer(uint32_t id, uint64_t replies) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0)
    peer_main(id, replies);
  return pid;
}

/* Stop the peer; the numbers it got, in order, into seqs; returns how
 * many. */
static size_t stop_peer(uint64_t *seqs) {
  FILE *f = stop_child("peer", "seqs");
  size_t n = fread(seqs, sizeof *seqs, SEQS_MAX, f);
  fclose(f);
  return n;
}

/* seqs[0..n) is first, first + 1, ... */
static void assert_run(const uint64_t *seqs, size_t n, uint64_t first,
                       const char *who) {
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(seqs[i], first + i, "%s: frame %zu is %llu, want %llu", who, i,
                 (unsigned long long)seqs[i], (unsigned long long)(first + i));
}

/* Process 0 sends before process 1 exists; process 1 sends as soon as it
 * opens, before its connection to 0 is up. Both sides' frames arrive, all
 * of them, in order: nothing waits for a resend (there is no delivery
 * layer here to resend). */
Test(zmq, backlog_frames_sent_before_the_peer_is_up_arrive_in_order) {
  make_group(2);
  void *t0 = tp_open(0);
  const uint64_t k = 50;
  for (uint64_t v = 1; v <= k; v++)
    cr_assert_eq(tp_send(t0, 1, v, 0), MLOG_OK);
  tp_pump(t0, 50, 1, NULL, NULL);
  mlogi_zmq_backlog b = backlog_of(t0, 1);
  cr_assert_eq(b.frames, k, "the peer is not bound: every frame was kept");
  cr_assert_eq(b.kept, k);
  child = spawn_peer(1, k);
  static uint64_t got[SEQS_MAX];
  size_t n = 0;
  for (int waited = 0; waited < 10000 && n < k; waited += 50)
    tp_pump(t0, 50, 1, got, &n); /* an upper bound, not a measure */
  cr_assert_eq(n, k, "the peer's first frames arrived (%zu of %llu)", n,
               (unsigned long long)k);
  assert_run(got, n, 1, "process 0 got");
  b = backlog_of(t0, 1);
  cr_assert(b.flushed == k && b.frames == 0 && b.bytes == 0,
            "%llu flushed, %u left", (unsigned long long)b.flushed, b.frames);
  cr_assert(b.expired == 0 && b.refused == 0, "nothing was lost");
  n = stop_peer(got);
  cr_assert_eq(n, k, "the peer got %zu of %llu", n, (unsigned long long)k);
  assert_run(got, n, 1, "the peer got");
  tp_close(t0);
  mlog_group_free(&group);
}

/* Towards peers that are down, a backlog keeps at most its count of
 * frames and its bytes, refusing what does not fit (the older frames
 * stay), and drops what it kept for longer than the age bound: only
 * frames kept since then reach the peer when it comes up. */
Test(zmq, backlog_towards_a_dead_peer_stays_bounded) {
  make_group(3); /* 1 starts late, 2 never */
  void *t0 = tp_open(0);
  const uint64_t sent = 3 * MLOGI_ZMQ_BACKLOG_FRAMES;
  for (uint64_t v = 1; v <= sent; v++)
    cr_assert_eq(tp_send(t0, 1, v, 0), MLOG_OK);
  mlogi_zmq_backlog b = backlog_of(t0, 1);
  cr_assert_eq(b.frames, MLOGI_ZMQ_BACKLOG_FRAMES, "%u frames", b.frames);
  cr_assert_eq(b.kept, MLOGI_ZMQ_BACKLOG_FRAMES);
  cr_assert_eq(b.refused, sent - MLOGI_ZMQ_BACKLOG_FRAMES);
  cr_assert_eq(b.bytes, MLOGI_ZMQ_BACKLOG_FRAMES * (5u + 8u));
  const size_t pad = 4000, size = 5 + 8 + pad;
  const size_t big = MLOGI_ZMQ_BACKLOG_BYTES / size + 50; /* past the bytes */
  for (uint64_t v = 1; v <= big; v++)
    cr_assert_eq(tp_send(t0, 2, v, pad), MLOG_OK);
  cr_assert_eq(tp_send(t0, 2, big + 1, MLOGI_ZMQ_BACKLOG_BYTES), MLOG_OK);
  b = backlog_of(t0, 2);
  cr_assert_eq(b.frames, MLOGI_ZMQ_BACKLOG_BYTES / size, "%u frames", b.frames);
  cr_assert_eq(b.bytes, b.frames * size);
  cr_assert_eq(b.refused, big + 1 - b.frames, "the rest, and the huge one");
  tp_pump(t0, MLOGI_ZMQ_BACKLOG_AGE_MS + 200, 1, NULL, NULL);
  b = backlog_of(t0, 1);
  cr_assert(b.frames == 0 && b.bytes == 0, "%u frames older than the bound",
            b.frames);
  cr_assert_eq(b.expired, MLOGI_ZMQ_BACKLOG_FRAMES);
  cr_assert_eq(backlog_of(t0, 2).frames, 0u);
  cr_assert_eq(tp_send(t0, 1, sent + 1, 0), MLOG_OK);
  child = spawn_peer(1, 0);
  for (int waited = 0; waited < 10000 && backlog_of(t0, 1).frames > 0;
       waited += 20)
    tp_pump(t0, 20, 1, NULL, NULL);
  cr_assert_eq(backlog_of(t0, 1).flushed, 1u);
  static uint64_t got[SEQS_MAX];
  size_t n = stop_peer(got);
  cr_assert_eq(n, 1u, "the peer got %zu frames", n);
  cr_assert_eq(got[0], sent + 1, "only the frame kept after the expiry");
  tp_close(t0);
  mlog_group_free(&group);
}

/* Process 0 sends a stream while process 1 starts in the middle of it,
 * and takes nothing meanwhile: the connection comes up between two sends,
 * and the frames kept until then must leave before the next one. The peer
 * gets the whole stream in order, each frame once. */
Test(zmq, backlog_newer_frames_never_overtake_kept_ones) {
  make_group(2);
  void *t0 = tp_open(0);
  const uint64_t n = 600;
  for (uint64_t v = 1; v <= n; v++) {
    cr_assert_eq(tp_send(t0, 1, v, 0), MLOG_OK);
    nanosleep(&(struct timespec){.tv_nsec = 500000}, NULL);
    if (v == 100)
      child = spawn_peer(1, 0);
  }
  for (int waited = 0; waited < 10000 && backlog_of(t0, 1).frames > 0;
       waited += 20)
    tp_pump(t0, 20, 1, NULL, NULL);
  tp_pump(t0, 200, 1, NULL, NULL);
  mlogi_zmq_backlog b = backlog_of(t0, 1);
  cr_assert_geq(b.kept, 100u, "the frames before the peer was up were kept");
  cr_assert(b.flushed == b.kept && b.frames == 0, "%llu kept, %llu flushed",
            (unsigned long long)b.kept, (unsigned long long)b.flushed);
  cr_assert(b.expired == 0 && b.refused == 0, "nothing was lost");
  static uint64_t got[SEQS_MAX];
  size_t m = stop_peer(got);
  cr_assert_eq(m, n, "the peer got %zu of %llu", m, (unsigned long long)n);
  assert_run(got, m, 1, "the peer got");
  tp_close(t0);
  mlog_group_free(&group);
}

/* ------------------------------------------------------------------------ */
/* A supervisor's exit reports                                              */

/* Poll p until it suspects process id (want) or no longer does (!want), for
 * at most ms: an upper bound, never a measure. */
static bool poll_until(mlog_proc *p, uint32_t id, bool want, int ms) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do {
    cr_assert_geq(mlog_proc_poll(p, 10), 0, "%s", mlog_proc_errmsg(p));
    if (mlog_proc_suspects(p, id) == want)
      return true;
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 <
           ms);
  return false;
}

/* A real receiver is SIGKILLed. With suspect_ms far longer than the test,
 * it is not suspected until the supervisor (this test) reports its exit;
 * then at once, and until its restart is heard from. */
Test(zmq, exit_report_suspects_a_killed_process_until_its_restart) {
  suspect_ms = 30000;
  make_group(2);
  child = spawn_receiver("pessimistic-receiver");
  mlog_proc *p0 = open_proc(0, "pessimistic-receiver");
  uint64_t v = 1;
  cr_assert_eq(mlog_send(p0, 1, &v, sizeof v), MLOG_OK);
  poll_for(p0, 300); /* heartbeats both ways */
  pid_t dead = child;
  kill(child, SIGKILL);
  tu_reap(&child);
  poll_for(p0, 300);
  cr_assert(!mlog_proc_suspects(p0, 1), "killed, not reported: not yet");
  cr_assert_eq(mlog_zmq_report_exit(&group, 1, dead), MLOG_OK, "%s",
               mlog_zmq_errmsg());
  cr_assert(poll_until(p0, 1, true, 10000), "suspected once reported");
  poll_for(p0, 200);
  cr_assert(mlog_proc_suspects(p0, 1), "until it is heard from again");
  child = spawn_receiver("pessimistic-receiver");
  cr_assert(poll_until(p0, 1, false, 10000), "its restart was heard from");
  (void)stop_receiver();
  mlog_proc_close(p0);
  mlog_group_free(&group);
}

/* Frames as include/mlog/zmq.h describes them, forged. */
enum { W_FRAME = 0, W_HEARTBEAT = 1, W_EXIT = 2 };
#define W_SUPERVISOR UINT32_MAX

typedef struct wframe {
  uint8_t buf[32];
  size_t len;
} wframe;

static void w_le32(uint8_t *p, uint32_t v) {
  for (int k = 0; k < 4; k++)
    p[k] = (uint8_t)(v >> 8 * k);
}

/* A frame of `kind` from `sender` whose body is a, b, c (u32 each), cut to
 * body_len bytes. */
static wframe w_make(uint32_t sender, uint8_t kind, uint32_t a, uint32_t b,
                     uint32_t c, size_t body_len) {
  wframe f = {.len = 5 + body_len};
  w_le32(f.buf, sender);
  f.buf[4] = kind;
  w_le32(f.buf + 5, a);
  w_le32(f.buf + 9, b);
  w_le32(f.buf + 13, c);
  return f;
}

static wframe w_exit(uint32_t id, uint32_t pid) {
  return w_make(W_SUPERVISOR, W_EXIT, id, pid, 0, 8);
}

/* A heartbeat: pid, life (< 2^32 here). */
static wframe w_beat(uint32_t sender, uint32_t pid, uint32_t life) {
  return w_make(sender, W_HEARTBEAT, pid, life, 0, 12);
}

/* Push the frames, in order on one connection, to process 0. */
static void w_push(const wframe *f, size_t count) {
  mlog_group to0 = {.size = 1, .endpoints = group.endpoints};
  mlogi_zmq_frame raw[16];
  cr_assert_leq(count, 16u);
  for (size_t k = 0; k < count; k++)
    raw[k] = (mlogi_zmq_frame){f[k].buf, f[k].len};
  cr_assert_eq(mlogi_zmq_push(&to0, UINT32_MAX, raw, count), MLOG_OK, "%s",
               mlog_zmq_errmsg());
}

/* Push the frames, then a report that `sentinel` exited (pid 0) or a
 * heartbeat of it (pid `beat`); wait until it is taken (the frames before
 * it were taken too: one connection is FIFO). */
static void w_push_then(mlog_proc *p0, const wframe *f, size_t count,
                        uint32_t sentinel, uint32_t beat) {
  wframe all[16];
  memcpy(all, f, count * sizeof *f);
  all[count] = beat ? w_beat(sentinel, beat, 1) : w_exit(sentinel, 0);
  w_push(all, count + 1);
  cr_assert(poll_until(p0, sentinel, beat == 0, 10000), "the sentinel came");
  poll_for(p0, 50);
}

/* Process 0 of a group of 4 (1, 2, 3 never run: their frames are forged).
 * Malformed reports change nothing; a report is ended by a heartbeat of
 * another process (another pid, or the same pid with another life), never
 * by the dead one's own frames still on their way. */
Test(zmq, exit_reports_malformed_dropped_and_ended_by_another_process) {
  suspect_ms = 30000;
  make_group(4);
  mlog_proc *p0 = open_proc(0, "pessimistic-receiver");
  const wframe bad[] = {
      w_make(W_SUPERVISOR, W_EXIT, 1, 0, 0, 4),  /* too short */
      w_make(W_SUPERVISOR, W_EXIT, 1, 0, 0, 12), /* too long */
      w_make(W_SUPERVISOR, W_EXIT, 0, 0, 0, 0),  /* no body */
      w_exit(4, 0),                              /* not in the group */
      w_exit(UINT32_MAX, 0),
      w_exit(0, 0),                        /* the receiver itself */
      w_make(1, W_EXIT, 1, 0, 0, 8),       /* from a member */
      w_make(7, W_EXIT, 1, 0, 0, 8),       /* from nobody known */
      w_make(W_SUPERVISOR, 9, 1, 0, 0, 8), /* an unknown kind */
      {.buf = {0xff, 0xff}, .len = 2},     /* no header */
  };
  w_push_then(p0, bad, sizeof bad / sizeof *bad, 2, 0);
  cr_assert(!mlog_proc_suspects(p0, 1), "no malformed report was taken");
  cr_assert(!mlog_proc_suspects(p0, 3));
  cr_assert(mlog_proc_suspects(p0, 2), "a well-formed one was");
  /* 2 (pid 4242, never heard from) exited: its own frames change nothing. */
  const wframe old[] = {
      w_exit(2, 4242),
      w_beat(2, 4242, 77),
      w_make(2, W_FRAME, 0xdead, 0, 0, 12),
      w_make(2, W_HEARTBEAT, 0, 0, 0, 0), /* names no process */
      w_beat(2, 0, 5),
  };
  w_push_then(p0, old, sizeof old / sizeof *old, 3, 0);
  cr_assert(mlog_proc_suspects(p0, 2), "the dead process's frames");
  const wframe other[] = {w_beat(2, 4243, 78)};
  w_push_then(p0, other, 1, 3, 99);
  cr_assert(!mlog_proc_suspects(p0, 2), "another process (pid) ends it");
  /* 2 (pid 4243, life 78: heard) exited; pid 4243 comes back with
   * another life. */
  const wframe reused[] = {w_exit(2, 4243), w_beat(2, 4243, 78)};
  w_push_then(p0, reused, 2, 3, 0);
  cr_assert(mlog_proc_suspects(p0, 2), "the same life: the dead one");
  const wframe again[] = {w_beat(2, 4243, 79)};
  w_push_then(p0, again, 1, 3, 100);
  cr_assert(!mlog_proc_suspects(p0, 2), "another life ends it");
  mlog_proc_close(p0);
  mlog_group_free(&group);
}

/* Bad arguments are refused before anything is sent; a malformed endpoint
 * is an error, but the other members are still told; a member that is
 * down does not hold the call up. */
Test(zmq, exit_report_bad_arguments) {
  suspect_ms = 30000;
  make_group(3);
  cr_assert_eq(mlog_zmq_report_exit(NULL, 0, 1), MLOG_EINVAL);
  cr_assert_eq(mlog_zmq_report_exit(&group, 3, 1), MLOG_EINVAL);
  cr_assert(strstr(mlog_zmq_errmsg(), "no process 3") != NULL, "%s",
            mlog_zmq_errmsg());
  cr_assert_eq(mlog_zmq_report_exit(&group, 1, -1), MLOG_EINVAL);
  mlog_group none = {.size = 2};
  cr_assert_eq(mlog_zmq_report_exit(&none, 1, 1), MLOG_EINVAL);
  char *holes[2] = {group.endpoints[0], NULL};
  mlog_group holed = {.size = 2, .endpoints = holes};
  cr_assert_eq(mlog_zmq_report_exit(&holed, 1, 1), MLOG_EINVAL);
  mlog_proc *p0 = open_proc(0, "pessimistic-receiver");
  poll_for(p0, 100);
  cr_assert(!mlog_proc_suspects(p0, 1) && !mlog_proc_suspects(p0, 2),
            "nothing was sent");
  /* Member 0 of `bad` is malformed, 1 is process 0, 2 is down. */
  char *eps[3] = {"tcp://no-port", group.endpoints[0], group.endpoints[2]};
  mlog_group bad = {.size = 3, .endpoints = eps};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cr_assert_eq(mlog_zmq_report_exit(&bad, 2, 1), MLOG_EINVAL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  cr_assert(strstr(mlog_zmq_errmsg(), "tcp://no-port") != NULL, "%s",
            mlog_zmq_errmsg());
  cr_assert_lt(b.tv_sec - a.tv_sec, 10, "a member down holds nothing up");
  cr_assert(poll_until(p0, 2, true, 10000), "process 0 was told");
  mlog_proc_close(p0);
  mlog_group_free(&group);
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
  make_group(2);
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
  mlog_zmq_config zc = {.group = &group};
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
  mlog_group_free(&group);
}
