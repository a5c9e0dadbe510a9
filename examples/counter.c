/* counter.c - wrap a message handler with mlog, crash it, recover it */
#include <mlog/process.h>
#include <mlog/sim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The application: a running total of the numbers it receives. */
typedef struct counter {
  uint64_t total, count;
} counter;

static int deliver(void *app, mlog_proc *p, uint32_t src, const void *msg,
                   size_t len) {
  counter *c = app;
  uint64_t v;
  (void)src;
  if (len != sizeof v)
    return 1;
  memcpy(&v, msg, sizeof v);
  c->total += v;
  c->count++;
  if (c->count % 10 == 0) /* leaves only once it can never be undone */
    return mlog_output(p, &c->total, sizeof c->total);
  return 0;
}

static int snapshot(void *app, mlog_buf *out) {
  return mlog_buf_append(out, app, sizeof(counter));
}

static int restore(void *app, const void *state, size_t len) {
  if (state == NULL) /* the initial state */
    return memset(app, 0, sizeof(counter)), 0;
  return len == sizeof(counter) ? (memcpy(app, state, len), 0) : 1;
}

static void output(void *app, uint64_t seq, const void *buf, size_t len) {
  (void)app, (void)len;
  uint64_t total;
  memcpy(&total, buf, sizeof total);
  printf("  output %llu: total so far %llu\n", (unsigned long long)seq,
         (unsigned long long)total);
}

static const mlog_app callbacks = {.deliver = deliver,
                                   .snapshot = snapshot,
                                   .restore = restore,
                                   .output = output};

static mlog_proc *open_process(mlog_sim *sim, const char *dir, uint32_t id,
                               counter *state) {
  mlog_proc_config cfg = {.dirpath = dir,
                          .id = id,
                          .group_size = 2,
                          .protocol = "pessimistic-receiver",
                          .ckpt_every_deliveries = 25,
                          .transport = &mlog_sim_ops,
                          .transport_config = sim};
  mlog_proc *p;
  if (mlog_proc_open(&cfg, &callbacks, state, &p) != MLOG_OK) {
    fprintf(stderr, "counter: %s\n", mlog_proc_errmsg(NULL));
    exit(1);
  }
  return p;
}

/* Move every frame in flight to its receiver and let it poll. */
static void run(mlog_sim *sim, mlog_proc *procs[2]) {
  uint32_t dst;
  for (int idle = 0; idle < 3;) {
    if (mlog_sim_step(sim, &dst) == MLOG_OK) {
      idle = 0;
      if (mlog_proc_poll(procs[dst], 0) < 0)
        exit(1);
      continue;
    }
    idle++;
    mlog_sim_advance(sim, 250); /* let resend timers fire */
    for (int i = 0; i < 2; i++)
      if (mlog_proc_poll(procs[i], 0) < 0)
        exit(1);
  }
}

int main(int argc, char **argv) {
  const char *base = argc > 1 ? argv[1] : "counter-logs";
  char dir0[4096], dir1[4096];
  snprintf(dir0, sizeof dir0, "%s/p0", base);
  snprintf(dir1, sizeof dir1, "%s/p1", base);
  mlog_sim_options so = {.seed = 42, .procs = 2};
  mlog_sim *sim;
  if (mlog_sim_create(&so, &sim) != MLOG_OK)
    return 1;
  counter sender = {0}, state = {0};
  mlog_proc *procs[2] = {open_process(sim, dir0, 0, &sender),
                         open_process(sim, dir1, 1, &state)};
  if (state.count > 0)
    printf("recovered an earlier run's counter: %llu numbers\n",
           (unsigned long long)state.count);
  for (uint64_t v = 1; v <= 100; v++) { /* inputs from the outside world */
    if (mlog_send(procs[0], 1, &v, sizeof v) != MLOG_OK)
      return 1;
    if (v == 60) { /* crash the counter: its memory is gone */
      run(sim, procs);
      printf("counter at %llu numbers, total %llu: crash!\n",
             (unsigned long long)state.count, (unsigned long long)state.total);
      mlog_proc_close(procs[1]);
      memset(&state, 0xff, sizeof state);
      procs[1] = open_process(sim, dir1, 1, &state); /* recovery */
      mlog_proc_stats st;
      mlog_proc_get_stats(procs[1], &st);
      printf("recovered: %llu numbers, total %llu (%llu replayed from the "
             "log, incarnation %u)\n",
             (unsigned long long)state.count, (unsigned long long)state.total,
             (unsigned long long)st.replayed, st.incarnation);
    }
  }
  run(sim, procs);
  printf("done: %llu numbers, total %llu\n", (unsigned long long)state.count,
         (unsigned long long)state.total);
  mlog_proc_close(procs[0]);
  mlog_proc_close(procs[1]);
  mlog_sim_destroy(sim);
  return 0;
}
