/* test_recovery_line.c - the recovery line: textbook cases, and random
 * traces against a brute-force search over all cuts */
#include "recovery/recovery_line.h"
#include "test/testutil.h"

/* One timeout for every test (see test_codec.c). */
TestSuite(recovery_line, .timeout = 60);

#define MAX_PROCS 4
#define MAX_EVENTS 24
#define END MLOGI_RL_END
#define NOT_RECEIVED MLOGI_RL_NOT_RECEIVED

/* A trace built event by event. */
typedef struct trace {
  uint32_t n_procs;
  uint64_t n_events[MAX_PROCS];
  uint64_t n_ckpts[MAX_PROCS];
  uint64_t ckpt_at[MAX_PROCS][MAX_EVENTS + 1];
  bool failed[MAX_PROCS];
  mlogi_rl_message msgs[MAX_EVENTS];
  size_t n_msgs;
} trace;

/* n processes, each with its initial checkpoint only. */
static void trace_init(trace *t, uint32_t n) {
  memset(t, 0, sizeof *t);
  t->n_procs = n;
  for (uint32_t p = 0; p < n; p++)
    t->n_ckpts[p] = 1; /* at event 0 */
}

static void checkpoint(trace *t, uint32_t p) {
  t->ckpt_at[p][t->n_ckpts[p]++] = t->n_events[p]++;
}

/* p sends a message to q; returns its index. */
static size_t send_msg(trace *t, uint32_t p, uint32_t q) {
  t->msgs[t->n_msgs] = (mlogi_rl_message){.sender = p,
                                          .receiver = q,
                                          .send_at = t->n_events[p]++,
                                          .recv_at = NOT_RECEIVED};
  return t->n_msgs++;
}

static void receive(trace *t, size_t m) {
  t->msgs[m].recv_at = t->n_events[t->msgs[m].receiver]++;
}

static int compute(const trace *t, mlogi_rl_result *res) {
  mlogi_rl_process procs[MAX_PROCS];
  for (uint32_t p = 0; p < t->n_procs; p++)
    procs[p] = (mlogi_rl_process){.n_events = t->n_events[p],
                                  .n_checkpoints = t->n_ckpts[p],
                                  .ckpt_at = t->ckpt_at[p],
                                  .failed = t->failed[p]};
  return mlogi_recovery_line(procs, t->n_procs, t->msgs, t->n_msgs, res, NULL);
}

static void expect_list(const size_t *got, size_t n_got, const size_t *want,
                        size_t n_want, const char *what) {
  cr_assert_eq(n_got, n_want, "%s: %zu messages, want %zu", what, n_got,
               n_want);
  for (size_t i = 0; i < n_want; i++)
    cr_assert_eq(got[i], want[i], "%s[%zu]: message %zu, want %zu", what, i,
                 got[i], want[i]);
}

/* ------------------------------------------------------------------------ */
/* Textbook cases                                                           */

/* Checkpoints and messages zigzag between X (0) and Y (1): each of X's
 * checkpoints follows a receive whose send comes after one of Y's, and the
 * other way round. X's failure rolls both back to their initial states. */
Test(recovery_line, zigzag_domino_to_initial_states) {
  trace t;
  trace_init(&t, 2);
  size_t m0 = send_msg(&t, 1, 0);
  receive(&t, m0);
  checkpoint(&t, 0); /* x1 */
  size_t m1 = send_msg(&t, 0, 1);
  receive(&t, m1);
  checkpoint(&t, 1); /* y1 */
  size_t m2 = send_msg(&t, 1, 0);
  receive(&t, m2);
  checkpoint(&t, 0); /* x2 */
  size_t m3 = send_msg(&t, 0, 1);
  receive(&t, m3);
  t.failed[0] = true;

  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK);
  cr_assert_eq(res.line[0], 0);
  cr_assert_eq(res.line[1], 0);
  cr_assert_eq(res.rolled_back_past[0], 2);
  cr_assert_eq(res.rolled_back_past[1], 1);
  cr_assert(res.domino);
  expect_list(res.orphans, res.n_orphans, (size_t[]){m0, m1, m2, m3}, 4,
              "orphans");
  expect_list(res.lost, res.n_lost, NULL, 0, "lost");
  mlogi_rl_result_free(&res);
}

Test(recovery_line, nothing_failed_nothing_rolls_back) {
  trace t;
  trace_init(&t, 3);
  checkpoint(&t, 0);
  size_t m0 = send_msg(&t, 0, 1);
  checkpoint(&t, 1);
  receive(&t, m0);
  (void)send_msg(&t, 1, 2); /* in transit */
  checkpoint(&t, 2);

  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK);
  for (uint32_t p = 0; p < 3; p++) {
    cr_assert_eq(res.line[p], END, "process %u", p);
    cr_assert_eq(res.rolled_back_past[p], 0);
  }
  cr_assert_not(res.domino);
  cr_assert_eq(res.n_orphans, 0);
  cr_assert_eq(res.n_lost, 0);
  mlogi_rl_result_free(&res);
}

/* X checkpoints after its send: its restart undoes nothing Y saw. */
Test(recovery_line, failed_process_with_consistent_checkpoint) {
  trace t;
  trace_init(&t, 2);
  size_t m0 = send_msg(&t, 0, 1);
  checkpoint(&t, 0);
  receive(&t, m0);
  checkpoint(&t, 1);
  t.failed[0] = true;

  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK);
  cr_assert_eq(res.line[0], 1);
  cr_assert_eq(res.line[1], END);
  cr_assert_eq(res.rolled_back_past[0], 0);
  cr_assert_eq(res.rolled_back_past[1], 0);
  cr_assert_not(res.domino);
  cr_assert_eq(res.n_orphans, 0);
  cr_assert_eq(res.n_lost, 0);
  mlogi_rl_result_free(&res);
}

/* Y fails back to y1, before it received m0 and sent m1: m1 becomes an
 * orphan, X rolls back to x1 (after its send of m0), and m0 is lost (sent
 * inside the line, received outside it). */
Test(recovery_line, lost_and_orphan_messages) {
  trace t;
  trace_init(&t, 2);
  checkpoint(&t, 1); /* y1 */
  size_t m0 = send_msg(&t, 0, 1);
  checkpoint(&t, 0); /* x1 */
  receive(&t, m0);
  size_t m1 = send_msg(&t, 1, 0);
  receive(&t, m1);
  (void)send_msg(&t, 0, 1); /* in transit: in neither list */
  t.failed[1] = true;

  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK);
  cr_assert_eq(res.line[0], 1);
  cr_assert_eq(res.line[1], 1);
  cr_assert_eq(res.rolled_back_past[0], 0);
  cr_assert_eq(res.rolled_back_past[1], 0);
  cr_assert_not(res.domino);
  expect_list(res.orphans, res.n_orphans, (size_t[]){m1}, 1, "orphans");
  expect_list(res.lost, res.n_lost, (size_t[]){m0}, 1, "lost");
  mlogi_rl_result_free(&res);
}

/* A live process rolled back from its end past a newer checkpoint. */
Test(recovery_line, live_process_rolls_back_past_checkpoints) {
  trace t;
  trace_init(&t, 2);
  checkpoint(&t, 0);              /* x1 */
  size_t m0 = send_msg(&t, 0, 1); /* after x1: undone */
  receive(&t, m0);
  checkpoint(&t, 1); /* y1 */
  checkpoint(&t, 1); /* y2 */
  t.failed[0] = true;

  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK);
  cr_assert_eq(res.line[0], 1);
  cr_assert_eq(res.line[1], 0);
  cr_assert_eq(res.rolled_back_past[1], 2);
  cr_assert(res.domino);
  expect_list(res.orphans, res.n_orphans, (size_t[]){m0}, 1, "orphans");
  mlogi_rl_result_free(&res);
}

Test(recovery_line, rejects_bad_input) {
  uint64_t at[] = {0, 2, 1};
  mlogi_rl_process pr = {.n_events = 3, .n_checkpoints = 3, .ckpt_at = at};
  mlogi_rl_result res;
  mlogi_errbuf eb = {{0}};
  cr_assert_eq(mlogi_recovery_line(&pr, 1, NULL, 0, &res, &eb), MLOG_EINVAL);
  cr_assert(strstr(eb.msg, "checkpoint 2") != NULL, "%s", eb.msg);
  mlogi_rl_result_free(&res);

  at[2] = 4; /* past the end */
  cr_assert_eq(mlogi_recovery_line(&pr, 1, NULL, 0, &res, NULL), MLOG_EINVAL);
  at[2] = 3;
  at[0] = 1; /* the initial checkpoint must be at 0 */
  cr_assert_eq(mlogi_recovery_line(&pr, 1, NULL, 0, &res, NULL), MLOG_EINVAL);
  at[0] = 0;
  pr.n_checkpoints = 0;
  cr_assert_eq(mlogi_recovery_line(&pr, 1, NULL, 0, &res, NULL), MLOG_EINVAL);
  pr.n_checkpoints = 3;

  mlogi_rl_message m = {
      .sender = 0, .receiver = 1, .send_at = 0, .recv_at = NOT_RECEIVED};
  cr_assert_eq(mlogi_recovery_line(&pr, 1, &m, 1, &res, NULL), MLOG_EINVAL);
  m.receiver = 0;
  m.send_at = 3; /* past the sender's events */
  cr_assert_eq(mlogi_recovery_line(&pr, 1, &m, 1, &res, NULL), MLOG_EINVAL);
  m.send_at = 0;
  m.recv_at = 3;
  cr_assert_eq(mlogi_recovery_line(&pr, 1, &m, 1, &res, NULL), MLOG_EINVAL);
  m.recv_at = 2;
  cr_assert_eq(mlogi_recovery_line(&pr, 1, &m, 1, &res, NULL), MLOG_OK);
  mlogi_rl_result_free(&res);
  mlogi_rl_result_free(&res); /* a cleared result: no-op */
}

/* 100,000 zigzag rounds between two processes: the propagation is linear
 * in the messages, not quadratic (this would time out otherwise). */
Test(recovery_line, long_zigzag_is_fast) {
  enum { rounds = 100000 };
  size_t n_msgs = 2 * rounds;
  mlogi_rl_message *msgs = calloc(n_msgs, sizeof *msgs);
  uint64_t *at[2] = {calloc(rounds + 1, sizeof(uint64_t)),
                     calloc(rounds + 1, sizeof(uint64_t))};
  cr_assert(msgs && at[0] && at[1]);
  /* Round r: 1 sends to 0, 0 receives and checkpoints, 0 sends to 1, 1
   * receives and checkpoints; each process has 3 events per round. */
  for (uint64_t r = 0; r < rounds; r++) {
    msgs[2 * r] = (mlogi_rl_message){1, 0, 3 * r, 3 * r};
    msgs[2 * r + 1] = (mlogi_rl_message){0, 1, 3 * r + 2, 3 * r + 1};
    at[0][r + 1] = 3 * r + 1;
    at[1][r + 1] = 3 * r + 2;
  }
  mlogi_rl_process procs[2] = {
      {.n_events = 3 * rounds,
       .n_checkpoints = rounds + 1,
       .ckpt_at = at[0],
       .failed = true},
      {.n_events = 3 * rounds, .n_checkpoints = rounds + 1, .ckpt_at = at[1]},
  };
  mlogi_rl_result res;
  cr_assert_eq(mlogi_recovery_line(procs, 2, msgs, n_msgs, &res, NULL),
               MLOG_OK);
  cr_assert_eq(res.line[0], 0);
  cr_assert_eq(res.line[1], 0);
  cr_assert_eq(res.rolled_back_past[0], rounds);
  cr_assert_eq(res.rolled_back_past[1], rounds);
  mlogi_rl_result_free(&res);
  free(msgs);
  free(at[0]);
  free(at[1]);
}

/* ------------------------------------------------------------------------ */
/* Random traces against brute force                                        */

static uint64_t next_random(uint64_t *state) { /* splitmix64 */
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t *state, uint64_t n) {
  return next_random(state) % n;
}

/* A message to q that is sent and not yet received, at random, or -1. */
static long pending_for(const trace *t, uint32_t q, uint64_t *rng) {
  size_t pending[MAX_EVENTS], n = 0;
  for (size_t m = 0; m < t->n_msgs; m++)
    if (t->msgs[m].receiver == q && t->msgs[m].recv_at == NOT_RECEIVED)
      pending[n++] = m;
  return n > 0 ? (long)pending[below(rng, n)] : -1;
}

/* Up to 4 processes and 20 events of a run: checkpoints, sends, receives of
 * messages sent before (some are never received); some processes failed. */
static void random_trace(trace *t, uint64_t seed) {
  uint64_t rng = seed;
  trace_init(t, 1 + (uint32_t)below(&rng, MAX_PROCS));
  uint64_t n_events = below(&rng, 21);
  for (uint64_t i = 0; i < n_events; i++) {
    uint32_t p = (uint32_t)below(&rng, t->n_procs);
    long m = pending_for(t, p, &rng);
    uint64_t choice = below(&rng, 8);
    if (m >= 0 && choice < 4)
      receive(t, (size_t)m);
    else if (t->n_procs > 1 && choice < 6)
      send_msg(t, p,
               (p + 1 + (uint32_t)below(&rng, t->n_procs - 1)) % t->n_procs);
    else
      checkpoint(t, p);
  }
  for (uint32_t p = 0; p < t->n_procs; p++)
    t->failed[p] = below(&rng, 2) == 0;
}

/* Cuts as option numbers per process: checkpoint k, or n_ckpts for END. */
static uint64_t position(const trace *t, uint32_t p, uint64_t opt) {
  return opt == t->n_ckpts[p] ? t->n_events[p] : t->ckpt_at[p][opt];
}

static uint64_t starting_position(const trace *t, uint32_t p) {
  return position(t, p, t->failed[p] ? t->n_ckpts[p] - 1 : t->n_ckpts[p]);
}

static bool consistent(const trace *t, const uint64_t *opt) {
  for (size_t i = 0; i < t->n_msgs; i++) {
    const mlogi_rl_message *m = &t->msgs[i];
    if (m->recv_at != NOT_RECEIVED &&
        m->recv_at < position(t, m->receiver, opt[m->receiver]) &&
        m->send_at >= position(t, m->sender, opt[m->sender]))
      return false;
  }
  return true;
}

/* Step the odometer of all cuts; false after the last one. */
static bool next_cut(const trace *t, uint64_t *opt) {
  for (uint32_t p = 0; p < t->n_procs; p++) {
    uint64_t last = t->failed[p] ? t->n_ckpts[p] - 1 : t->n_ckpts[p];
    if (opt[p] < last) {
      opt[p]++;
      return true;
    }
    opt[p] = 0;
  }
  return false;
}

/* The componentwise maximum of every consistent cut, checked to be
 * consistent itself. */
static void brute_force_line(const trace *t, uint64_t *best) {
  uint64_t opt[MAX_PROCS] = {0};
  memset(best, 0, MAX_PROCS * sizeof *best);
  do {
    if (!consistent(t, opt))
      continue;
    for (uint32_t p = 0; p < t->n_procs; p++)
      best[p] = opt[p] > best[p] ? opt[p] : best[p];
  } while (next_cut(t, opt));
  cr_assert(consistent(t, best), "the maximum of consistent cuts is not one");
}

/* The orphan and lost messages of the line `opt`, from their definitions. */
static void brute_force_lists(const trace *t, const uint64_t *opt,
                              size_t *orphans, size_t *n_orphans, size_t *lost,
                              size_t *n_lost) {
  *n_orphans = *n_lost = 0;
  for (size_t i = 0; i < t->n_msgs; i++) {
    const mlogi_rl_message *m = &t->msgs[i];
    if (m->recv_at == NOT_RECEIVED)
      continue;
    bool sent_inside = m->send_at < position(t, m->sender, opt[m->sender]);
    bool received_inside =
        m->recv_at < position(t, m->receiver, opt[m->receiver]);
    if (m->recv_at < starting_position(t, m->receiver) && !sent_inside)
      orphans[(*n_orphans)++] = i;
    if (sent_inside && !received_inside)
      lost[(*n_lost)++] = i;
  }
}

/* How often the random traces hit each interesting outcome. */
typedef struct coverage {
  unsigned domino, orphans, lost, end_kept, failures;
} coverage;

static void check_seed(uint64_t seed, coverage *cov) {
  trace t;
  random_trace(&t, seed);
  uint64_t best[MAX_PROCS];
  brute_force_line(&t, best);
  mlogi_rl_result res;
  cr_assert_eq(compute(&t, &res), MLOG_OK, "seed %llu",
               (unsigned long long)seed);
  bool domino = false;
  for (uint32_t p = 0; p < t.n_procs; p++) {
    uint64_t want = best[p] == t.n_ckpts[p] ? END : best[p];
    uint64_t past = want == END ? 0 : t.n_ckpts[p] - 1 - want;
    cr_assert_eq(res.line[p], want, "seed %llu: process %u at %llu, want %llu",
                 (unsigned long long)seed, p, (unsigned long long)res.line[p],
                 (unsigned long long)want);
    cr_assert_eq(res.rolled_back_past[p], past, "seed %llu: process %u",
                 (unsigned long long)seed, p);
    domino |= past > 0;
    cov->end_kept += want == END;
    cov->failures += t.failed[p];
  }
  cr_assert_eq(res.domino, domino, "seed %llu", (unsigned long long)seed);
  size_t orphans[MAX_EVENTS], lost[MAX_EVENTS], n_orphans, n_lost;
  brute_force_lists(&t, best, orphans, &n_orphans, lost, &n_lost);
  char what[64];
  snprintf(what, sizeof what, "seed %llu: orphans", (unsigned long long)seed);
  expect_list(res.orphans, res.n_orphans, orphans, n_orphans, what);
  snprintf(what, sizeof what, "seed %llu: lost", (unsigned long long)seed);
  expect_list(res.lost, res.n_lost, lost, n_lost, what);
  cov->domino += domino;
  cov->orphans += n_orphans > 0;
  cov->lost += n_lost > 0;
  mlogi_rl_result_free(&res);
}

Test(recovery_line, random_traces_match_brute_force) {
  coverage cov = {0};
  for (uint64_t seed = 1; seed <= 20000; seed++)
    check_seed(seed, &cov);
  /* The traces are not all trivial: every outcome shows up often. */
  cr_assert_gt(cov.domino, 1000, "%u domino cases", cov.domino);
  cr_assert_gt(cov.orphans, 1000, "%u with orphans", cov.orphans);
  cr_assert_gt(cov.lost, 1000, "%u with lost messages", cov.lost);
  cr_assert_gt(cov.end_kept, 1000, "%u processes kept their end", cov.end_kept);
}
