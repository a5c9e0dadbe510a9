/* smoke_optimistic_threads.c - optimistic logging with its background
 * flusher threads, under every sanitizer (ThreadSanitizer included: this is
 * a plain program, not a Criterion test, which TSan cannot run)
 *
 * Three processes on the sim transport, each with the real flusher thread,
 * forward messages a few hops; one crashes in the middle and recovers;
 * checkpoints are asked for all along. At the end every hop of every
 * message is applied exactly once, every state is committed and every
 * output was released. Exit status 0 on success, 1 with a message.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlog/process.h"
#include "mlog/sim.h"

#define NP 3
#define MESSAGES 200
#define HOPS 3

typedef struct app {
  uint32_t id;
  uint8_t seen[MESSAGES * (HOPS + 1)]; /* times each hop was applied */
  uint64_t outputs;
} app;

typedef struct hop {
  uint32_t msg, left;
} hop;

static int deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                   size_t len) {
  app *a = arg;
  hop h;
  (void)src;
  if (len != sizeof h)
    return 1;
  memcpy(&h, msg, sizeof h);
  a->seen[h.msg * (HOPS + 1) + h.left]++;
  if (mlog_output(p, &h, sizeof h) != MLOG_OK)
    return 2;
  if (h.left == 0)
    return 0;
  h.left--;
  return mlog_send(p, (a->id + 1 + h.msg % 2) % NP, &h, sizeof h) == MLOG_OK
             ? 0
             : 3;
}

static int snapshot(void *arg, mlog_buf *out) {
  app *a = arg;
  return mlog_buf_append(out, a->seen, sizeof a->seen) == MLOG_OK ? 0 : 1;
}

static int restore(void *arg, const void *state, size_t len) {
  app *a = arg;
  if (state == NULL) {
    memset(a->seen, 0, sizeof a->seen);
    return 0;
  }
  if (len != sizeof a->seen)
    return 1;
  memcpy(a->seen, state, len);
  return 0;
}

static void output(void *arg, uint64_t seq, const void *buf, size_t len) {
  app *a = arg;
  (void)seq, (void)buf, (void)len;
  a->outputs++;
}

static const mlog_app callbacks = {.deliver = deliver,
                                   .snapshot = snapshot,
                                   .restore = restore,
                                   .output = output};

static mlog_sim *sim;
static mlog_proc *procs[NP];
static app apps[NP];
static char dirs[NP][96];

static void fail(const char *what) {
  fprintf(stderr, "smoke_optimistic_threads: %s\n", what);
  exit(1);
}

static void open_proc(uint32_t i) {
  mlog_proc_config cfg = {.dirpath = dirs[i],
                          .id = i,
                          .group_size = NP,
                          .protocol = "optimistic-receiver",
                          .transport = &mlog_sim_ops,
                          .transport_config = sim,
                          .retransmit_ms = 50,
                          .flush_ms = 1,
                          .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  apps[i].id = i;
  if (mlog_proc_open(&cfg, &callbacks, &apps[i], &procs[i]) != MLOG_OK)
    fail(mlog_proc_errmsg(NULL));
}

static void poll_all(void) {
  for (uint32_t i = 0; i < NP; i++)
    if (mlog_proc_poll(procs[i], 0) < 0)
      fail(mlog_proc_errmsg(procs[i]));
}

/* Move frames and poll until nothing is in flight and every state is
 * committed (the flushers run on their own: wait for them in real time). */
static void settle(void) {
  struct timespec start, now, nap = {0, 200000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    uint32_t dst;
    while (mlog_sim_step(sim, &dst) == MLOG_OK)
      if (mlog_proc_poll(procs[dst], 0) < 0)
        fail(mlog_proc_errmsg(procs[dst]));
    mlog_sim_advance(sim, 20);
    poll_all();
    bool done = mlog_sim_pending(sim) == 0;
    for (uint32_t i = 0; i < NP && done; i++) {
      mlog_proc_stats st;
      mlog_proc_get_stats(procs[i], &st);
      done = st.committed_rsn == st.rsn;
    }
    if (done)
      return;
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > 60)
      fail("no quiescence within 60 s");
  }
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int main(void) {
  if (sodium_init() < 0)
    fail("sodium_init");
  char base[64];
  snprintf(base, sizeof base, "%s/mlog-smoke.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (strlen(base) >= sizeof base - 1 || mkdtemp(base) == NULL)
    fail("mkdtemp");
  mlog_sim_options so = {.seed = 7, .procs = NP, .max_delay_ms = 5};
  if (mlog_sim_create(&so, &sim) != MLOG_OK)
    fail("sim");
  for (uint32_t i = 0; i < NP; i++) {
    snprintf(dirs[i], sizeof dirs[i], "%s/p%u", base, i);
    open_proc(i);
  }
  for (uint32_t m = 0; m < MESSAGES; m++) {
    hop h = {.msg = m, .left = HOPS};
    uint32_t from = m % NP;
    mlog_proc_stats st;
    mlog_proc_get_stats(procs[from], &st);
    if (st.committed_rsn < st.rsn) /* a spontaneous send from a state
                                      that could still be rolled back */
      settle();
    if (mlog_send(procs[from], (from + 1) % NP, &h, sizeof h) != MLOG_OK)
      fail(mlog_proc_errmsg(procs[from]));
    uint32_t dst;
    for (int k = 0; k < 4 && mlog_sim_step(sim, &dst) == MLOG_OK; k++)
      if (mlog_proc_poll(procs[dst], 0) < 0)
        fail(mlog_proc_errmsg(procs[dst]));
    int rc = mlog_checkpoint(procs[m % NP]);
    if (rc != MLOG_OK && rc != MLOG_EAGAIN)
      fail(mlog_proc_errmsg(procs[m % NP]));
    if (m == MESSAGES / 2) { /* a crash: what the flusher had not written
                                is lost, its senders resend it */
      mlog_sim_crash(sim, 1);
      mlog_proc_close(procs[1]);
      open_proc(1);
    }
  }
  settle();
  for (uint32_t i = 0; i < NP; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(procs[i], &st);
    if (st.committed_rsn != st.rsn)
      fail("a state is not committed");
  }
  for (uint32_t m = 0; m < MESSAGES; m++)
    for (uint32_t left = 0; left <= HOPS; left++) {
      unsigned total = 0;
      for (uint32_t i = 0; i < NP; i++)
        total += apps[i].seen[m * (HOPS + 1) + left];
      if (total != 1) {
        fprintf(stderr, "message %u hop %u applied %u times\n", m, left, total);
        fail("not exactly once");
      }
    }
  uint64_t outputs = 0, recovered = 0;
  for (uint32_t i = 0; i < NP; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(procs[i], &st);
    outputs += apps[i].outputs;
    recovered += st.recovered;
    mlog_proc_close(procs[i]);
  }
  if (recovered != 1 || outputs < MESSAGES * (HOPS + 1))
    fail("the crash did not recover, or outputs are missing");
  mlog_sim_destroy(sim);
  nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  printf("smoke_optimistic_threads: ok\n");
  return 0;
}
