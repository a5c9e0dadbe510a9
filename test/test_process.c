/* test_process.c - the process API under the sim transport, with crashes */
#include <grp.h>
#include <sodium.h>
#include <sys/wait.h>
#include <time.h>

#include "core/proc.h"
#include "core/store.h"
#include "mlog/process.h"
#include "mlog/sim.h"
#include "test/testutil.h"

/*
 * A group of processes runs inside the test under the seeded sim transport.
 * The test application folds every delivered message into an
 * order-sensitive hash and counts it; it checks per-channel FIFO order with
 * sequence numbers carried in the messages, and may forward messages, emit
 * outputs, take logged non-deterministic values or (deliberately) read the
 * clock. What it saw is recorded in a history that outlives incarnations,
 * so that the test can compare the first execution with the replayed one
 * and count every delivery of the surviving history exactly once.
 */

static char dir[64];
static pid_t child; /* a forked helper not yet reaped (0: none) */

static void setup(void) {
  cr_assert_geq(sodium_init(), 0);
  tu_mkdtemp(dir, sizeof dir);
}

static void release_all(void);

static void teardown(void) {
  mlogi_open_faults = NULL;
  release_all();
  tu_reap(&child);
  tu_rmtree(dir);
}

/* One timeout for every test (see test_log.c: Criterion leaks under LSan
 * when the tests of one executable have different timeouts). */
TestSuite(process, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */
/* The test application                                                     */

#define MAXN 6      /* processes in a group, at most */
#define MAXRSN 8192 /* deliveries per process, at most */
#define KIND_INJ 1u /* injected by the driver (a spontaneous send) */
#define KIND_FWD 2u /* forwarded by a handler */

#define MODE_FORWARD 0x1u /* forward while the hop count lasts */
#define MODE_OUTPUT 0x2u  /* one output per delivery */
#define MODE_NONDET 0x4u  /* take mlog_random, mlog_now and mlog_nondet */
#define MODE_CLOCK 0x8u   /* read the clock directly (not piecewise det.) */

typedef struct tmsg {
  uint32_t kind;
  uint32_t origin;
  uint64_t id;       /* unique per injected message */
  uint32_t ttl;      /* hops left */
  uint32_t chan_seq; /* per channel and kind: 1, 2, 3, ... */
} tmsg;

/* The application state: what snapshot and restore carry. */
typedef struct tstate {
  uint64_t hash, count;
  uint32_t sent_fwd[MAXN]; /* forwarded messages sent to each peer */
  uint32_t recv_fwd[MAXN]; /* last chan_seq of forwarded ones received */
  uint32_t recv_inj[MAXN]; /* last chan_seq of injected ones received */
} tstate;
_Static_assert(sizeof(tstate) == 16 + 3 * 4 * MAXN, "no padding in tstate");

/* What the process's incarnations saw, rsn by rsn and output by output. */
typedef struct hist {
  uint64_t key_at[MAXRSN]; /* message key + 1 (0: never delivered) */
  uint64_t hash_at[MAXRSN];
  uint8_t digest_at[MAXRSN][32];
  uint64_t vals_at[MAXRSN][3]; /* random, now, nondet */
  bool has_vals[MAXRSN];
  uint64_t out_val[MAXRSN]; /* output seq -> content digest */
  uint32_t out_count[MAXRSN];
  uint64_t replay_mismatches, first_mismatch_rsn; /* key or hash differ */
  uint64_t value_mismatches, first_value_rsn;
  uint64_t fifo_errors;
  uint64_t output_conflicts; /* a seq released again with other content */
  uint64_t output_order_errors;
  uint64_t max_out_seq;
  /* output commit: outputs whose delivery or values were not yet logged */
  uint64_t uncommitted_outputs, first_uncommitted_seq, commit_checks;
} hist;

typedef struct tapp {
  tstate st;
  uint32_t id, n;
  unsigned mode;
  hist *h;
  /* this incarnation */
  uint64_t deliveries, restores, snapshots, outputs;
  uint64_t min_rsn, max_rsn; /* of the deliver calls */
  uint64_t last_out_seq;
  const char *commit_dir; /* check output commit in this log (or NULL) */
} tapp;

static uint64_t mix(uint64_t h, uint64_t v) { /* order-sensitive */
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t msg_key(const tmsg *m) {
  return (m->id << 8) ^ m->ttl;
}

static uint64_t fill_calls; /* how often a fresh value was asked for */

#define CLOCK_MARK 0xc10c000000000000ull

/* The process's clock and entropy sources (mlog_proc_config). */
static void test_clock(void *arg, uint64_t *ns) {
  (void)arg;
  *ns = CLOCK_MARK + ++fill_calls;
}

static void test_entropy(void *arg, void *buf, size_t len) {
  (void)arg;
  fill_calls++;
  for (size_t i = 0; i < len; i++)
    ((uint8_t *)buf)[i] = (uint8_t)(0xe5 ^ (fill_calls + i));
}

static void fill_nondet(void *arg, void *buf, size_t len) {
  (void)arg;
  uint64_t v = 0x5eed000000000000ull + ++fill_calls * 7919;
  memset(buf, 0, len);
  memcpy(buf, &v, len < sizeof v ? len : sizeof v);
}

static void state_digest(const tstate *st, uint8_t out[32]) {
  crypto_generichash(out, 32, (const uint8_t *)st, sizeof *st, NULL, 0);
}

/* Record (first execution) or compare (replay) what delivery rsn saw. */
static void remember(tapp *a, uint64_t rsn, uint64_t key,
                     const uint64_t *vals) {
  hist *h = a->h;
  if (h->key_at[rsn] == 0) {
    h->key_at[rsn] = key + 1;
    h->hash_at[rsn] = a->st.hash;
    state_digest(&a->st, h->digest_at[rsn]);
    if (vals) {
      memcpy(h->vals_at[rsn], vals, sizeof h->vals_at[rsn]);
      h->has_vals[rsn] = true;
    }
    return;
  }
  if (h->key_at[rsn] != key + 1 || h->hash_at[rsn] != a->st.hash)
    if (h->replay_mismatches++ == 0)
      h->first_mismatch_rsn = rsn;
  if (vals && (!h->has_vals[rsn] ||
               memcmp(h->vals_at[rsn], vals, sizeof h->vals_at[rsn]) != 0))
    if (h->value_mismatches++ == 0)
      h->first_value_rsn = rsn;
}

static int t_deliver(void *arg, mlog_proc *p, uint32_t src, const void *buf,
                     size_t len) {
  tapp *a = arg;
  tmsg m;
  if (len != sizeof m || src >= a->n)
    return 1;
  memcpy(&m, buf, sizeof m);
  mlog_proc_stats ps;
  mlog_proc_get_stats(p, &ps);
  uint64_t rsn = ps.rsn;
  if (rsn == 0 || rsn >= MAXRSN)
    return 2;
  a->deliveries++;
  if (a->min_rsn == 0 || rsn < a->min_rsn)
    a->min_rsn = rsn;
  if (rsn > a->max_rsn)
    a->max_rsn = rsn;
  uint32_t *last =
      m.kind == KIND_INJ ? &a->st.recv_inj[src] : &a->st.recv_fwd[src];
  if (m.chan_seq != *last + 1)
    a->h->fifo_errors++;
  *last = m.chan_seq;
  uint64_t key = msg_key(&m);
  a->st.hash = mix(mix(mix(a->st.hash, src), key), m.chan_seq);
  a->st.count++;
  uint64_t r = a->st.hash, vals[3] = {0, 0, 0};
  if (a->mode & MODE_NONDET) {
    if (mlog_random(p, &vals[0]) != MLOG_OK ||
        mlog_now(p, &vals[1]) != MLOG_OK ||
        mlog_nondet(p, &vals[2], sizeof vals[2], fill_nondet, NULL) != MLOG_OK)
      return 3;
    a->st.hash = mix(mix(mix(a->st.hash, vals[0]), vals[1]), vals[2]);
    r = vals[0];
  }
  if (a->mode & MODE_CLOCK) { /* the bug the digests must catch */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    a->st.hash = mix(a->st.hash, (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec);
  }
  remember(a, rsn, key, (a->mode & MODE_NONDET) ? vals : NULL);
  if (a->mode & MODE_OUTPUT) {
    uint64_t out[2] = {key, a->st.hash};
    if (mlog_output(p, out, sizeof out) != MLOG_OK)
      return 4;
  }
  if ((a->mode & MODE_FORWARD) && m.ttl > 0 && a->n > 1) {
    uint32_t dst = (uint32_t)(r % (a->n - 1));
    dst += dst >= a->id;
    m.kind = KIND_FWD;
    m.ttl--;
    m.chan_seq = ++a->st.sent_fwd[dst];
    if (mlog_send(p, dst, &m, sizeof m) != MLOG_OK)
      return 5;
  }
  return 0;
}

static int t_snapshot(void *arg, mlog_buf *out) {
  tapp *a = arg;
  a->snapshots++;
  return mlog_buf_append(out, &a->st, sizeof a->st) == MLOG_OK ? 0 : 1;
}

static int t_restore(void *arg, const void *state, size_t len) {
  tapp *a = arg;
  a->restores++;
  if (state == NULL) {
    memset(&a->st, 0, sizeof a->st);
    return len == 0 ? 0 : 1;
  }
  if (len != sizeof a->st)
    return 1;
  memcpy(&a->st, state, sizeof a->st);
  return 0;
}

static void t_digest(void *arg, uint8_t out[32]) {
  tapp *a = arg;
  state_digest(&a->st, out);
}

/* What the log holds about one delivery. */
typedef struct in_log {
  uint64_t rsn, deliveries, values;
} in_log;

static int count_logged(void *arg, const mlog_record *rec) {
  in_log *l = arg;
  if (rec->rsn == l->rsn && rec->type == MLOG_REC_DELIVERY)
    l->deliveries++;
  if (rec->rsn == l->rsn && rec->type == MLOG_REC_NONDET)
    l->values++;
  return 0;
}

/* Output commit: output seq comes from delivery rsn seq (one output per
 * delivery); when it leaves, that delivery and the values its handler took
 * must be in the log, or a crash could make replay emit another output. */
static void check_commit(tapp *a, uint64_t seq) {
  hist *h = a->h;
  mlog_log *log;
  in_log l = {.rsn = seq};
  int rc = mlog_log_open(a->commit_dir, MLOG_LOG_RDONLY, NULL, &log);
  if (rc == MLOG_OK)
    rc = mlog_log_scan(log, 1, count_logged, &l);
  mlog_log_close(log);
  h->commit_checks++;
  uint64_t want = (a->mode & MODE_NONDET) ? 3 : 0;
  if (rc != MLOG_OK || l.deliveries != 1 || l.values != want)
    if (h->uncommitted_outputs++ == 0)
      h->first_uncommitted_seq = seq;
}

static void t_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  tapp *a = arg;
  hist *h = a->h;
  a->outputs++;
  if (a->commit_dir)
    check_commit(a, seq);
  /* Increasing within one incarnation (a recovered process may skip the
   * outputs its log says were released). */
  if (seq == 0 || seq >= MAXRSN || seq <= a->last_out_seq) {
    h->output_order_errors++;
    return;
  }
  a->last_out_seq = seq;
  uint64_t v = 0;
  crypto_generichash((uint8_t *)&v, sizeof v, buf, len, NULL, 0);
  if (h->out_count[seq]++ == 0)
    h->out_val[seq] = v;
  else if (h->out_val[seq] != v)
    h->output_conflicts++;
  if (seq > h->max_out_seq)
    h->max_out_seq = seq;
}

static const mlog_app t_callbacks = {
    .deliver = t_deliver,
    .snapshot = t_snapshot,
    .restore = t_restore,
    .digest = t_digest,
    .output = t_output,
};

/* ------------------------------------------------------------------------ */
/* The driver: a group under the sim                                        */

typedef struct gopts {
  uint32_t n;
  uint64_t seed;
  unsigned mode;  /* MODE_* */
  unsigned flags; /* MLOG_PROC_* */
  uint64_t ckpt_every;
  uint32_t ckpt_keep;
  uint32_t drop;      /* percent */
  uint32_t max_delay; /* 0: 300 ms, above the 200 ms resend timeout */
  const char *sub;    /* subdirectory of dir for the logs, or NULL */
  bool sources;       /* the test's clock and entropy */
  bool check_commit;  /* check output commit in the log at every output */
  const mlog_key *key;
} gopts;

typedef struct node {
  mlog_proc *p; /* NULL while down */
  tapp app;
  hist *h;
  char dir[160];
  uint32_t inj_sent[MAXN]; /* injected messages sent to each peer */
  uint32_t incarnations;   /* opens that succeeded */
} node;

typedef struct tgroup {
  gopts o;
  mlog_sim *sim;
  char base[128];
  node nd[MAXN];
  uint64_t next_id, expected, steps;
} tgroup;

/* What a process was when it crashed. */
typedef struct saved {
  tstate st;
  mlog_proc_stats stats;
} saved;

static mlog_proc_config g_config(tgroup *g, uint32_t i) {
  mlog_proc_config cfg = {
      .dirpath = g->nd[i].dir,
      .id = i,
      .group_size = g->o.n,
      .ckpt_every_deliveries = g->o.ckpt_every,
      .ckpt_keep = g->o.ckpt_keep,
      .transport = &mlog_sim_ops,
      .transport_config = g->sim,
      .flags = g->o.flags,
      .key = g->o.key,
  };
  if (g->o.sources) {
    cfg.clock = test_clock;
    cfg.entropy = test_entropy;
  }
  return cfg;
}

/* A fresh application object for an incarnation of node i (its state is
 * garbage until restore). */
static void g_app_init(tgroup *g, uint32_t i) {
  node *nd = &g->nd[i];
  memset(&nd->app, 0, sizeof nd->app);
  memset(&nd->app.st, 0xa5, sizeof nd->app.st);
  nd->app.id = i;
  nd->app.n = g->o.n;
  nd->app.mode = g->o.mode;
  nd->app.h = nd->h;
  nd->app.commit_dir = g->o.check_commit ? nd->dir : NULL;
}

static int g_try_open(tgroup *g, uint32_t i) {
  node *nd = &g->nd[i];
  cr_assert_null(nd->p);
  g_app_init(g, i);
  mlog_proc_config cfg = g_config(g, i);
  mlog_proc *p = (mlog_proc *)0x1;
  int rc = mlog_proc_open(&cfg, &t_callbacks, &nd->app, &p);
  if (rc != MLOG_OK) {
    cr_assert_null(p, "a failed open leaves *out NULL");
    return rc;
  }
  cr_assert_not_null(p);
  nd->p = p;
  nd->incarnations++;
  return MLOG_OK;
}

static void g_open(tgroup *g, uint32_t i) {
  int rc = g_try_open(g, i);
  cr_assert_eq(rc, MLOG_OK, "open process %u: %s: %s", i, mlog_errname(rc),
               mlog_proc_errmsg(NULL));
}

/* Groups live in static slots so that teardown can close what a failed
 * assertion left open (no leak reports from failing tests). */
static tgroup slots[2];
static bool slot_used[2];

static void g_init(tgroup *g, const gopts *o);

static tgroup *g_new(const gopts *o) {
  for (int k = 0; k < 2; k++)
    if (!slot_used[k]) {
      slot_used[k] = true;
      g_init(&slots[k], o);
      return &slots[k];
    }
  cr_assert_fail("no free group slot");
  return NULL;
}

static void g_init(tgroup *g, const gopts *o) {
  memset(g, 0, sizeof *g);
  g->o = *o;
  cr_assert(o->n >= 1 && o->n <= MAXN);
  if (g->o.max_delay == 0)
    g->o.max_delay = 300;
  mlog_sim_options so = {.seed = o->seed,
                         .procs = o->n,
                         .min_delay_ms = 1,
                         .max_delay_ms = g->o.max_delay,
                         .drop_percent = o->drop};
  cr_assert_eq(mlog_sim_create(&so, &g->sim), MLOG_OK);
  if (o->sub) {
    tu_path(g->base, sizeof g->base, dir, o->sub);
    cr_assert_eq(mkdir(g->base, 0755), 0, "mkdir %s: %s", g->base,
                 strerror(errno));
  } else {
    snprintf(g->base, sizeof g->base, "%s", dir);
  }
  for (uint32_t i = 0; i < o->n; i++) {
    char name[16];
    snprintf(name, sizeof name, "p%u", i);
    char base[sizeof g->base]; /* not from the object written (-Wrestrict) */
    memcpy(base, g->base, sizeof base);
    tu_path(g->nd[i].dir, sizeof g->nd[i].dir, base, name);
    g->nd[i].h = calloc(1, sizeof(hist));
    cr_assert_not_null(g->nd[i].h);
  }
  for (uint32_t i = 0; i < o->n; i++)
    g_open(g, i);
}

static void g_close(tgroup *g, uint32_t i) {
  mlog_proc_close(g->nd[i].p);
  g->nd[i].p = NULL;
}

static void g_free(tgroup *g) {
  for (uint32_t i = 0; i < g->o.n; i++) {
    g_close(g, i);
    free(g->nd[i].h);
    g->nd[i].h = NULL;
  }
  mlog_sim_destroy(g->sim);
  g->sim = NULL;
  for (int k = 0; k < 2; k++)
    if (g == &slots[k])
      slot_used[k] = false;
}

static mlog_sim *bad_sim; /* the bad-config tests' sim */

/* What a failed assertion left behind. */
static void release_all(void) {
  for (int k = 0; k < 2; k++)
    if (slot_used[k])
      g_free(&slots[k]);
  mlog_sim_destroy(bad_sim);
  bad_sim = NULL;
}

static void g_poll(tgroup *g, uint32_t i) {
  mlog_proc *p = g->nd[i].p;
  if (p == NULL)
    return;
  int rc = mlog_proc_poll(p, 0);
  cr_assert_geq(rc, 0, "process %u: poll: %s: %s", i, mlog_errname(-rc),
                mlog_proc_errmsg(p));
}

/* One step: move a frame and poll its receiver, or let time pass (resend
 * timers) and poll everyone. True when nothing is left in flight. */
static bool g_step(tgroup *g) {
  g->steps++;
  uint32_t dst;
  int rc = mlog_sim_step(g->sim, &dst);
  if (rc == MLOG_OK) {
    cr_assert_lt(dst, g->o.n);
    g_poll(g, dst);
    return false;
  }
  cr_assert_eq(rc, MLOG_EAGAIN);
  mlog_sim_advance(g->sim, 100);
  for (uint32_t i = 0; i < g->o.n; i++)
    g_poll(g, i);
  return mlog_sim_pending(g->sim) == 0;
}

static void g_run(tgroup *g, uint64_t steps) {
  for (uint64_t s = 0; s < steps; s++)
    (void)g_step(g);
}

/* Run until nothing moves any more. */
static void g_settle(tgroup *g) {
  int idle = 0;
  for (uint64_t s = 0; s < 200000 && idle < 3; s++)
    idle = g_step(g) ? idle + 1 : 0;
  cr_assert_geq(idle, 3, "no quiescence after %llu steps",
                (unsigned long long)g->steps);
}

static uint64_t g_rand(tgroup *g, uint64_t below) {
  return mlog_sim_random(g->sim) % below;
}

/* Inject a message from i to dst that travels ttl more hops. */
static void g_inject(tgroup *g, uint32_t i, uint32_t dst, uint32_t ttl) {
  node *nd = &g->nd[i];
  cr_assert_not_null(nd->p);
  tmsg m = {.kind = KIND_INJ,
            .origin = i,
            .id = ++g->next_id,
            .ttl = ttl,
            .chan_seq = nd->inj_sent[dst] + 1};
  int rc = mlog_send(nd->p, dst, &m, sizeof m);
  cr_assert_eq(rc, MLOG_OK, "send %u -> %u: %s: %s", i, dst, mlog_errname(rc),
               mlog_proc_errmsg(nd->p));
  nd->inj_sent[dst]++;
  g->expected += (g->o.mode & MODE_FORWARD) ? ttl + 1 : 1;
}

/* Inject k messages from random live processes, a few steps apart. */
static void g_workload(tgroup *g, unsigned k, unsigned max_ttl) {
  for (unsigned j = 0; j < k; j++) {
    uint32_t i = (uint32_t)g_rand(g, g->o.n);
    for (uint32_t t = 0; t < g->o.n && g->nd[i].p == NULL; t++)
      i = (i + 1) % g->o.n;
    if (g->nd[i].p == NULL)
      return;
    uint32_t dst = (uint32_t)g_rand(g, g->o.n - 1);
    dst += dst >= i;
    g_inject(g, i, dst, (uint32_t)g_rand(g, max_ttl + 1));
    g_run(g, g_rand(g, 8));
  }
}

static mlog_proc_stats g_stats(tgroup *g, uint32_t i) {
  cr_assert_not_null(g->nd[i].p);
  mlog_proc_stats st;
  mlog_proc_get_stats(g->nd[i].p, &st);
  return st;
}

/* Crash process i (close it without warning) and say what it was. */
static saved g_crash(tgroup *g, uint32_t i) {
  saved s;
  s.st = g->nd[i].app.st;
  s.stats = g_stats(g, i);
  g_close(g, i);
  return s;
}

/* Reopen process i and check that it recovered exactly what it was. */
static mlog_proc_stats g_recover(tgroup *g, uint32_t i, const saved *s) {
  g_open(g, i);
  mlog_proc_stats st = g_stats(g, i);
  cr_assert(st.recovered, "process %u: stats.recovered", i);
  cr_assert_eq(st.incarnation, s->stats.incarnation + 1,
               "process %u: incarnation %u after %u", i, st.incarnation,
               s->stats.incarnation);
  cr_assert_eq(st.rsn, s->stats.rsn, "process %u: rsn %llu, before %llu", i,
               (unsigned long long)st.rsn, (unsigned long long)s->stats.rsn);
  cr_assert_eq(g->nd[i].app.st.count, s->st.count,
               "process %u: count %llu, before the crash %llu", i,
               (unsigned long long)g->nd[i].app.st.count,
               (unsigned long long)s->st.count);
  cr_assert_eq(g->nd[i].app.st.hash, s->st.hash,
               "process %u: state hash differs from before the crash", i);
  cr_assert_eq(memcmp(&g->nd[i].app.st, &s->st, sizeof s->st), 0,
               "process %u: state differs from before the crash", i);
  cr_assert_eq(st.delivered, 0u, "replay is not counted as delivered");
  cr_assert_eq(g->nd[i].app.deliveries, st.replayed,
               "every replayed delivery went through the handler once");
  return st;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Every process up; the surviving histories hold every expected delivery
 * exactly once, in FIFO order per channel, replayed identically. */
static void g_check(tgroup *g) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < g->o.n; i++)
    total += g_stats(g, i).rsn;
  uint64_t *keys = calloc(total + 1, sizeof *keys), k = 0;
  cr_assert_not_null(keys);
  for (uint32_t i = 0; i < g->o.n; i++) {
    hist *h = g->nd[i].h;
    mlog_proc_stats st = g_stats(g, i);
    cr_assert_eq(h->fifo_errors, 0u, "process %u: %llu FIFO violations", i,
                 (unsigned long long)h->fifo_errors);
    cr_assert_eq(h->replay_mismatches, 0u,
                 "process %u: replay delivered another message or reached "
                 "another state at rsn %llu",
                 i, (unsigned long long)h->first_mismatch_rsn);
    cr_assert_eq(
        g->nd[i].app.st.count, st.rsn, "process %u: count %llu, rsn %llu", i,
        (unsigned long long)g->nd[i].app.st.count, (unsigned long long)st.rsn);
    for (uint64_t rsn = 1; rsn <= st.rsn; rsn++) {
      cr_assert_neq(h->key_at[rsn], 0u, "process %u: rsn %llu never seen", i,
                    (unsigned long long)rsn);
      keys[k++] = h->key_at[rsn];
    }
  }
  qsort(keys, k, sizeof *keys, cmp_u64);
  for (uint64_t j = 1; j < k; j++)
    cr_assert_neq(keys[j], keys[j - 1], "message key %llx delivered twice",
                  (unsigned long long)(keys[j] - 1));
  free(keys);
  cr_assert_eq(k, g->expected, "%llu deliveries, %llu expected (lost: %lld)",
               (unsigned long long)k, (unsigned long long)g->expected,
               (long long)(g->expected - k));
}

/* Outputs: every seq 1..rsn released (one output per delivery), never two
 * contents for one seq, in order within each incarnation. */
static void g_check_outputs(tgroup *g, bool once) {
  for (uint32_t i = 0; i < g->o.n; i++) {
    hist *h = g->nd[i].h;
    uint64_t rsn = g_stats(g, i).rsn;
    cr_assert_eq(h->output_order_errors, 0u, "process %u: output order", i);
    cr_assert_eq(h->output_conflicts, 0u,
                 "process %u: an output seq released with two contents", i);
    cr_assert_eq(h->max_out_seq, rsn, "process %u: last output %llu, rsn %llu",
                 i, (unsigned long long)h->max_out_seq,
                 (unsigned long long)rsn);
    for (uint64_t s = 1; s <= rsn; s++) {
      cr_assert_geq(h->out_count[s], 1u, "process %u: output %llu missing", i,
                    (unsigned long long)s);
      cr_assert_leq(h->out_count[s], g->nd[i].incarnations,
                    "process %u: output %llu released %u times in %u "
                    "incarnations",
                    i, (unsigned long long)s, h->out_count[s],
                    g->nd[i].incarnations);
      if (once)
        cr_assert_eq(h->out_count[s], 1u, "process %u: output %llu twice", i,
                     (unsigned long long)s);
    }
  }
}

/* A digest of the bytes of the file at path (all zeros when missing). */
static void file_digest(const char *path, uint8_t out[32]) {
  memset(out, 0, 32);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return;
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    crypto_generichash_update(&st, buf, n);
  fclose(f);
  crypto_generichash_final(&st, out, 32);
}

static void data_digest(const char *logdir, uint8_t out[32]) {
  char path[256];
  tu_path(path, sizeof path, logdir, "data.mdb");
  cr_assert_geq(tu_file_size(path), 1, "%s exists", path);
  file_digest(path, out);
}

static mlog_log_info log_info(const char *logdir) {
  mlog_log *log;
  int rc = mlog_log_open(logdir, MLOG_LOG_RDONLY, NULL, &log);
  cr_assert_eq(rc, MLOG_OK, "open %s: %s", logdir, mlog_log_errmsg(NULL));
  mlog_log_info info;
  cr_assert_eq(mlog_log_get_info(log, &info), MLOG_OK);
  mlog_verify_report rep;
  cr_assert_eq(mlog_log_verify(log, &rep, NULL, NULL), MLOG_OK);
  cr_assert_eq(rep.problem, MLOG_OK, "%s: %s", logdir, rep.detail);
  mlog_log_close(log);
  return info;
}

/* True when msg names lsn as a whole number ("lsn 12", not "lsn 123"). */
static bool names_lsn(const char *msg, uint64_t lsn) {
  char want[32];
  snprintf(want, sizeof want, "lsn %llu", (unsigned long long)lsn);
  for (const char *at = strstr(msg, want); at; at = strstr(at + 1, want)) {
    char next = at[strlen(want)];
    if (next < '0' || next > '9')
      return true;
  }
  return false;
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                 */

Test(process, fresh_group_delivers_exactly_once_in_fifo_order) {
  tgroup *g;
  gopts o = {.n = 3,
             .seed = 7,
             .mode = MODE_FORWARD | MODE_OUTPUT,
             .flags = MLOG_PROC_DIGESTS, /* durable commits: the real path */
             .drop = 3};
  g = g_new(&o);
  for (uint32_t i = 0; i < o.n; i++) {
    mlog_proc_stats st = g_stats(g, i);
    cr_assert(!st.recovered, "a new directory is not a recovery");
    cr_assert_eq(st.incarnation, 0u);
    cr_assert_eq(st.rsn, 0u);
    cr_assert_eq(g->nd[i].app.restores, 1u, "initial state through restore");
    cr_assert_eq(g->nd[i].app.st.count, 0u,
                 "restore(NULL) is the initial state");
  }
  g_workload(g, 40, 4);
  g_settle(g);
  g_check(g);
  g_check_outputs(g, true);
  uint64_t delivered = 0, dups = 0, resent = 0;
  for (uint32_t i = 0; i < o.n; i++) {
    mlog_proc_stats st = g_stats(g, i);
    cr_assert_eq(st.delivered, st.rsn);
    cr_assert_eq(st.replayed, 0u);
    cr_assert_eq(st.outputs, st.rsn, "one output per delivery");
    cr_assert_eq(st.bad_frames, 0u);
    cr_assert_eq(g->nd[i].app.deliveries, st.rsn, "each delivered once");
    cr_assert_eq(g->nd[i].app.min_rsn, st.rsn ? 1u : 0u);
    delivered += st.delivered;
    dups += st.duplicates;
    resent += st.resent;
  }
  cr_assert_eq(delivered, g->expected);
  cr_assert_gt(g->expected, 40u, "messages were forwarded");
  cr_assert_gt(resent, 0u, "drops and 300 ms delays make the timer resend");
  cr_assert_gt(dups, 0u, "and the receivers drop what they already have");
  g_free(g);
}

Test(process, same_seed_same_run) {
  tstate first[3];
  uint64_t steps = 0;
  for (int round = 0; round < 2; round++) {
    tgroup *g;
    gopts o = {.n = 3,
               .seed = 99,
               .mode = MODE_FORWARD,
               .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
               .drop = 5,
               .sub = round ? "b" : "a"};
    g = g_new(&o);
    g_workload(g, 25, 5);
    g_settle(g);
    g_check(g);
    for (uint32_t i = 0; i < 3; i++) {
      if (round == 0)
        first[i] = g->nd[i].app.st;
      else
        cr_assert_eq(memcmp(&first[i], &g->nd[i].app.st, sizeof first[i]), 0,
                     "process %u ended in another state", i);
    }
    if (round == 0)
      steps = g->steps;
    else
      cr_assert_eq(g->steps, steps);
    g_free(g);
  }
}

/* sim.h: after a crash, "frames sent to it are dropped until it opens the
 * transport again". */
Test(process, sim_drops_frames_sent_to_a_crashed_process) {
  mlog_sim *sim;
  mlog_sim_options so = {.seed = 1, .procs = 2};
  cr_assert_eq(mlog_sim_create(&so, &sim), MLOG_OK);
  const mlog_transport_ops *t = &mlog_sim_ops;
  void *a = calloc(1, t->size), *b = calloc(1, t->size);
  cr_assert(a && b);
  cr_assert_eq(t->open(a, sim, 0, 2), MLOG_OK);
  cr_assert_eq(t->open(b, sim, 1, 2), MLOG_OK);
  cr_assert_eq(t->send(a, 1, "one", 3), MLOG_OK);
  cr_assert_eq(mlog_sim_pending(sim), 1u);
  t->close(b); /* process 1 crashes (its transport closes with it) */
  cr_assert_eq(mlog_sim_pending(sim), 0u, "in flight to it: dropped");
  cr_assert_eq(t->send(a, 1, "two", 3), MLOG_OK);
  uint64_t pending_while_down = mlog_sim_pending(sim);
  memset(b, 0, t->size);
  cr_assert_eq(t->open(b, sim, 1, 2), MLOG_OK);
  uint32_t dst;
  bool got = mlog_sim_step(sim, &dst) == MLOG_OK;
  uint32_t src;
  const void *buf;
  size_t len;
  if (got)
    got = t->recv(b, 0, &src, &buf, &len) == MLOG_OK;
  t->close(a);
  t->close(b);
  free(a);
  free(b);
  mlog_sim_destroy(sim);
  cr_expect_eq(pending_while_down, 0u,
               "a frame sent to a crashed process is dropped (sim.h), but "
               "%llu frame(s) stay in flight",
               (unsigned long long)pending_while_down);
  cr_expect(!got, "the restarted process received a frame sent while it was "
                  "down");
}

/* ------------------------------------------------------------------------ */
/* Crashes and recovery                                                     */

Test(process, crash_and_reopen_recovers_the_pre_crash_state) {
  mlog_key key;
  memset(key.bytes, 0x42, sizeof key.bytes);
  for (uint64_t seed = 1; seed <= 4; seed++) {
    char sub[16];
    snprintf(sub, sizeof sub, "s%llu", (unsigned long long)seed);
    tgroup *g;
    gopts o = {.n = 3,
               .seed = seed,
               .mode = MODE_FORWARD | MODE_OUTPUT,
               .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
               .drop = 2,
               .sub = sub,
               .key = seed % 2 ? NULL : &key}; /* MACs on half of them */
    g = g_new(&o);
    g_workload(g, 20, 4);
    uint32_t victim = (uint32_t)(seed % o.n);
    saved s = g_crash(g, victim);
    cr_assert_gt(s.stats.rsn, 0u, "seed %llu: the victim delivered something",
                 (unsigned long long)seed);
    g_run(g, 30); /* the others go on; frames to it are lost */
    mlog_proc_stats st = g_recover(g, victim, &s);
    cr_assert_gt(st.replayed, 0u);
    cr_assert_eq(st.replayed, s.stats.rsn, "no checkpoint: everything replays");
    cr_assert_eq(g->nd[victim].app.restores, 1u);
    cr_assert_eq(g->nd[victim].app.min_rsn, 1u);
    /* A second crash, of another process, right after a recovery of the
     * first one has started to resend. */
    g_workload(g, 10, 4);
    uint32_t other = (victim + 1) % o.n;
    saved s2 = g_crash(g, other);
    mlog_proc_stats st2 = g_recover(g, other, &s2);
    cr_assert_eq(st2.replayed, s2.stats.rsn);
    g_workload(g, 10, 4);
    saved s3 = g_crash(g, victim); /* the first one again */
    mlog_proc_stats st3 = g_recover(g, victim, &s3);
    cr_assert_eq(st3.incarnation, 2u);
    g_settle(g);
    g_check(g);
    g_check_outputs(g, false);
    g_free(g);
  }
}

Test(process, crash_of_every_process_at_once) {
  tgroup *g;
  gopts o = {.n = 4,
             .seed = 21,
             .mode = MODE_FORWARD,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .drop = 2};
  g = g_new(&o);
  g_workload(g, 30, 5);
  saved s[4];
  for (uint32_t i = 0; i < o.n; i++)
    s[i] = g_crash(g, i);
  cr_assert_eq(mlog_sim_pending(g->sim), 0u, "everything in flight is gone");
  for (uint32_t i = 0; i < o.n; i++)
    (void)g_recover(g, i, &s[i]);
  g_workload(g, 10, 5);
  g_settle(g);
  g_check(g);
  g_free(g);
}

/* The handler's logged values come back in replay, and what depends on
 * them (forward destinations, outputs) is the same. */
Test(process, nondet_values_are_replayed_identically) {
  tgroup *g;
  gopts o = {.n = 3,
             .seed = 5,
             .mode = MODE_NONDET | MODE_FORWARD | MODE_OUTPUT,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .drop = 2,
             .sources = true};
  g = g_new(&o);
  uint64_t v;
  cr_assert_eq(mlog_random(g->nd[0].p, &v), MLOG_EINVAL,
               "values are taken in the handler only");
  cr_assert_eq(mlog_now(g->nd[0].p, &v), MLOG_EINVAL);
  g_workload(g, 25, 4);
  for (uint32_t round = 0; round < 3; round++) {
    uint32_t victim = round % o.n;
    saved s = g_crash(g, victim);
    uint64_t fills = fill_calls;
    mlog_proc_stats st = g_recover(g, victim, &s);
    cr_assert_gt(st.replayed, 0u);
    cr_assert_eq(fill_calls, fills,
                 "replay took %llu fresh values instead of the logged ones",
                 (unsigned long long)(fill_calls - fills));
    hist *h = g->nd[victim].h;
    cr_assert_eq(h->value_mismatches, 0u,
                 "process %u: replay saw other values at rsn %llu", victim,
                 (unsigned long long)h->first_value_rsn);
    g_workload(g, 10, 4);
  }
  g_settle(g);
  g_check(g);
  g_check_outputs(g, false);
  for (uint32_t i = 0; i < o.n; i++) {
    hist *h = g->nd[i].h;
    cr_assert_eq(h->value_mismatches, 0u);
    for (uint64_t rsn = 1; rsn <= g_stats(g, i).rsn; rsn++) {
      cr_assert(h->has_vals[rsn]);
      cr_assert_eq(h->vals_at[rsn][1] & 0xffff000000000000ull, CLOCK_MARK,
                   "mlog_now reads the configured clock");
    }
  }
  g_free(g);
}

/* DESIGN.md 7.2: under pessimistic logging the recovered process reaches its
 * last pre-crash state, also when its handlers took values and had no
 * effect outside (nothing sent, nothing output) before the crash. */
Test(process, nondet_values_of_handlers_without_effects_survive_a_crash) {
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 6,
             .mode = MODE_NONDET,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .sources = true};
  g = g_new(&o);
  for (int j = 0; j < 12; j++) {
    g_inject(g, 0, 1, 0);
    g_run(g, 3);
  }
  g_settle(g);
  saved s = g_crash(g, 1);
  cr_assert_eq(s.stats.rsn, 12u);
  uint64_t fills = fill_calls;
  g_open(g, 1);
  mlog_proc_stats st = g_stats(g, 1);
  hist *h = g->nd[1].h;
  cr_expect_eq(fill_calls, fills,
               "replay drew %llu fresh values: the last handler's values "
               "were never logged",
               (unsigned long long)(fill_calls - fills));
  cr_expect_eq(h->value_mismatches, 0u,
               "replay saw other values than before the crash at rsn %llu",
               (unsigned long long)h->first_value_rsn);
  cr_expect_eq(memcmp(&g->nd[1].app.st, &s.st, sizeof s.st), 0,
               "the recovered state is not the pre-crash state");
  cr_assert_eq(st.rsn, s.stats.rsn);
  g_free(g);
}

/* A handler that reads the clock itself: replay cannot reproduce it, and
 * the digests say where. */
Test(process, clock_reading_handler_diverges_in_replay) {
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 8,
             .mode = MODE_CLOCK,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  g = g_new(&o);
  for (int j = 0; j < 10; j++) {
    g_inject(g, 0, 1, 0);
    g_run(g, 4);
  }
  g_settle(g);
  cr_assert_eq(g_stats(g, 1).rsn, 10u);
  g_close(g, 1);
  uint8_t before[32], after[32];
  data_digest(g->nd[1].dir, before);
  int rc = g_try_open(g, 1);
  cr_assert_eq(rc, MLOG_EDIVERGED, "open: %s: %s", mlog_errname(rc),
               mlog_proc_errmsg(NULL));
  cr_assert_null(g->nd[1].p);
  const char *msg = mlog_proc_errmsg(NULL);
  const char *at = strstr(msg, "replay diverged at rsn ");
  cr_assert_not_null(at, "message: %s", msg);
  unsigned long long rsn = 0;
  char logged[65] = "", replayed[65] = "";
  int fields = sscanf(at,
                      "replay diverged at rsn %llu: logged digest "
                      "%64[0-9a-f], replay gives %64[0-9a-f]",
                      &rsn, logged, replayed);
  cr_assert_eq(fields, 3, "message: %s", msg);
  cr_assert_eq(rsn, 1u, "the first replayed delivery diverges: %s", msg);
  cr_assert_eq(strlen(logged), 64u, "%s", msg);
  cr_assert_eq(strlen(replayed), 64u, "%s", msg);
  cr_assert_str_neq(logged, replayed);
  char want[65];
  sodium_bin2hex(want, sizeof want, g->nd[1].h->digest_at[1], 32);
  cr_assert_str_eq(logged, want, "the logged digest is the first run's");
  cr_assert_leq(g->nd[1].app.max_rsn, 1u, "replay stopped at the divergence");
  data_digest(g->nd[1].dir, after);
  cr_assert_eq(memcmp(before, after, 32), 0, "a failed open changed data.mdb");
  g_free(g);
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */

Test(process, checkpoints_bound_the_log_and_recovery_uses_them) {
  tgroup *g;
  gopts o = {.n = 3,
             .seed = 11,
             .mode = MODE_FORWARD | MODE_OUTPUT,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .ckpt_every = 5,
             .ckpt_keep = 3,
             .drop = 2};
  g = g_new(&o);
  g_workload(g, 60, 5);
  for (uint32_t i = 0; i < o.n; i++)
    cr_assert_gt(g_stats(g, i).checkpoints, 0u, "process %u: no checkpoint", i);
  /* Recovery from a checkpoint: restore, then replay only what follows. */
  saved s = g_crash(g, 1);
  cr_assert_gt(s.stats.rsn, 10u);
  mlog_proc_stats st = g_recover(g, 1, &s);
  cr_assert_lt(st.replayed, s.stats.rsn,
               "restored from a checkpoint: replayed %llu rsn %llu ckpts %llu",
               (unsigned long long)st.replayed, (unsigned long long)s.stats.rsn,
               (unsigned long long)s.stats.checkpoints);
  cr_assert_eq(g->nd[1].app.restores, 1u);
  cr_assert_eq(g->nd[1].app.min_rsn,
               st.replayed ? s.stats.rsn - st.replayed + 1 : 0u,
               "replay starts after the checkpoint");
  g_workload(g, 40, 5);
  g_settle(g);
  g_check(g);
  g_check_outputs(g, false);
  /* On demand. */
  uint64_t before = g_stats(g, 2).checkpoints;
  uint64_t snaps = g->nd[2].app.snapshots;
  cr_assert_eq(mlog_checkpoint(g->nd[2].p), MLOG_OK, "%s",
               mlog_proc_errmsg(g->nd[2].p));
  cr_assert_eq(g_stats(g, 2).checkpoints, before + 1);
  cr_assert_eq(g->nd[2].app.snapshots, snaps + 1);
  saved s2 = g_crash(g, 2);
  st = g_recover(g, 2, &s2);
  cr_assert_eq(st.replayed, 0u, "the checkpoint covers everything");
  cr_assert_eq(g->nd[2].app.deliveries, 0u);
  g_settle(g);
  g_check(g);
  /* What the logs hold afterwards. */
  uint64_t rsn[MAXN];
  for (uint32_t i = 0; i < o.n; i++)
    rsn[i] = g_stats(g, i).rsn;
  for (uint32_t i = 0; i < o.n; i++)
    g_close(g, i);
  for (uint32_t i = 0; i < o.n; i++) {
    mlog_log_info info = log_info(g->nd[i].dir);
    cr_assert_eq(info.checkpoints, 3u, "process %u: %llu checkpoints kept", i,
                 (unsigned long long)info.checkpoints);
    cr_assert_gt(info.first_lsn, 1u, "process %u: nothing collected", i);
    cr_assert_lt(info.records * 2, info.last_lsn,
                 "process %u: %llu of %llu records kept", i,
                 (unsigned long long)info.records,
                 (unsigned long long)info.last_lsn);
    cr_assert_gt(rsn[i], 40u);
    cr_assert_leq(info.records, 150u, "process %u: %llu records kept", i,
                  (unsigned long long)info.records);
  }
  g_free(g);
}

/* What a process's checkpoint policy relies on, at the log level: after
 * each put the newest checkpoint is readable and at most `keep` are kept. */
Test(process, log_keeps_the_newest_checkpoints) {
  for (uint32_t keep = 1; keep <= 4; keep++) {
    char d[128], name[16];
    snprintf(name, sizeof name, "keep%u", keep);
    tu_path(d, sizeof d, dir, name);
    mlog_log_config lc = {.process_id = 0, .group_size = 2, .protocol = "t"};
    mlog_log *log;
    cr_assert_eq(mlog_log_open(d, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &lc, &log),
                 MLOG_OK, "%s", mlog_log_errmsg(NULL));
    for (uint64_t c = 1; c <= 6; c++) {
      uint8_t payload[8];
      mlog_record recs[3];
      for (int r = 0; r < 3; r++) {
        tu_fill(payload, sizeof payload, c);
        recs[r] = tu_record(c, payload, sizeof payload);
      }
      cr_assert_eq(mlog_log_append(log, recs, 3), MLOG_OK);
      uint64_t covered = mlog_log_next_lsn(log) - 1, number = 0;
      cr_assert_eq(
          mlog_log_put_checkpoint(log, covered, 0, &c, sizeof c, keep, &number),
          MLOG_OK, "%s", mlog_log_errmsg(log));
      cr_assert_eq(number, c, "keep %u: checkpoint number %llu, expected %llu",
                   keep, (unsigned long long)number, (unsigned long long)c);
      mlog_log_checkpoint ck;
      int rc = mlog_log_get_checkpoint(log, &ck);
      cr_expect_eq(rc, MLOG_OK,
                   "keep %u: checkpoint %llu is gone right after it was put "
                   "(%s)",
                   keep, (unsigned long long)c, mlog_errname(rc));
      if (rc == MLOG_OK) {
        cr_assert_eq(ck.number, c);
        cr_assert_eq(ck.covered_lsn, covered);
        cr_assert_eq(ck.len, sizeof c);
        cr_assert_eq(memcmp(ck.state, &c, sizeof c), 0);
      }
      mlog_log_checkpoint_free(&ck);
      mlog_log_info info;
      cr_assert_eq(mlog_log_get_info(log, &info), MLOG_OK);
      uint64_t want = c < keep ? c : keep;
      cr_expect_eq(info.checkpoints, want,
                   "keep %u after %llu puts: %llu checkpoints, expected %llu",
                   keep, (unsigned long long)c,
                   (unsigned long long)info.checkpoints,
                   (unsigned long long)want);
      if (rc != MLOG_OK)
        break;
    }
    mlog_log_close(log);
  }
}

Test(process, default_keep_is_two) {
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 12,
             .mode = MODE_FORWARD,
             .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .ckpt_every = 3};
  g = g_new(&o);
  g_workload(g, 30, 3);
  g_settle(g);
  g_check(g);
  for (uint32_t i = 0; i < o.n; i++) {
    cr_assert_geq(g_stats(g, i).checkpoints, 3u);
    g_close(g, i);
    cr_assert_eq(log_info(g->nd[i].dir).checkpoints, 2u);
  }
  g_free(g);
}

/* A store write fails inside a checkpoint (persistently, as in a crash at
 * that point): the directory stays recoverable to the same state. */
Test(process, crash_inside_a_checkpoint_is_recoverable) {
  for (unsigned digests = 0; digests <= 1; digests++)
    for (uint64_t nth = 1; nth <= 6; nth++) {
      char sub[16];
      snprintf(sub, sizeof sub, "d%un%llu", digests, (unsigned long long)nth);
      tgroup *g;
      gopts o = {.n = 2,
                 .seed = 30 + nth,
                 .mode = MODE_OUTPUT,
                 .flags = (digests ? MLOG_PROC_DIGESTS : 0) | MLOG_PROC_NOSYNC |
                          MLOG_PROC_UNSAFE,
                 .sub = sub};
      g = g_new(&o);
      for (int phase = 0; phase < 3; phase++) {
        for (int j = 0; j < 8; j++) {
          g_inject(g, 0, 1, 0);
          g_run(g, 2);
        }
        g_settle(g);
        if (phase < 2)
          cr_assert_eq(mlog_checkpoint(g->nd[1].p), MLOG_OK, "%s",
                       mlog_proc_errmsg(g->nd[1].p));
      }
      mlogi_faults f = {.site = MLOGI_FAULT_PUT,
                        .kind = MLOGI_FAULT_EIO,
                        .nth = nth,
                        .persistent = true};
      mlogi_proc_set_faults(g->nd[1].p, &f);
      int rc = mlog_checkpoint(g->nd[1].p);
      cr_assert_neq(rc, MLOG_OK, "nth %llu: the checkpoint did not fail",
                    (unsigned long long)nth);
      cr_assert_gt(f.injected, 0u);
      cr_assert_str_neq(mlog_proc_errmsg(g->nd[1].p), "");
      cr_assert_lt(mlog_proc_poll(g->nd[1].p, 0), 0,
                   "a process whose log write failed refuses to go on");
      mlogi_proc_set_faults(g->nd[1].p, NULL);
      saved s = g_crash(g, 1);
      cr_assert_eq(s.stats.rsn, 24u);
      mlog_proc_stats st = g_recover(g, 1, &s);
      cr_assert_eq(st.replayed, 8u, "nth %llu: the second checkpoint is used",
                   (unsigned long long)nth);
      for (int j = 0; j < 5; j++)
        g_inject(g, 0, 1, 0);
      g_settle(g);
      g_check(g);
      g_check_outputs(g, false);
      g_close(g, 1);
      (void)log_info(g->nd[1].dir); /* verifies clean */
      g_free(g);
    }
}

/* ------------------------------------------------------------------------ */
/* Crashes during recovery                                                  */

Test(process, crash_during_recovery_leaves_the_log_as_it_was) {
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 40,
             .mode = MODE_FORWARD | MODE_OUTPUT,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  g = g_new(&o);
  g_workload(g, 20, 3);
  g_settle(g);
  saved s = g_crash(g, 1);
  uint8_t before[32], after[32];
  data_digest(g->nd[1].dir, before);
  char changed[128] = "";
  uint64_t failures = 0;
  for (uint64_t nth = 1; nth <= 8; nth++) {
    mlogi_faults f = {.site = MLOGI_FAULT_PUT,
                      .kind = MLOGI_FAULT_EIO,
                      .nth = nth,
                      .persistent = true};
    mlogi_open_faults = &f;
    int rc = g_try_open(g, 1);
    mlogi_open_faults = NULL;
    if (rc == MLOG_OK) { /* recovery made fewer writes than nth */
      mlogi_proc_set_faults(g->nd[1].p, NULL); /* f goes out of scope */
      cr_assert_eq(f.injected, 0u);
      break;
    }
    failures++;
    cr_assert_gt(f.injected, 0u, "nth %llu: %s: %s", (unsigned long long)nth,
                 mlog_errname(rc), mlog_proc_errmsg(NULL));
    cr_assert_null(g->nd[1].p);
    cr_assert_str_neq(mlog_proc_errmsg(NULL), "");
    data_digest(g->nd[1].dir, after);
    if (memcmp(before, after, 32) != 0 && changed[0] == '\0')
      snprintf(changed, sizeof changed,
               "open failing at store write %llu (%s) changed data.mdb",
               (unsigned long long)nth, mlog_errname(rc));
    memcpy(before, after, 32);
  }
  cr_assert_gt(failures, 0u, "recovery writes to the log");
  if (g->nd[1].p == NULL)
    g_open(g, 1);
  mlog_proc_stats st = g_stats(g, 1);
  cr_assert(st.recovered);
  cr_assert_eq(st.incarnation, s.stats.incarnation + 1,
               "failed recoveries do not count as incarnations");
  cr_assert_eq(memcmp(&g->nd[1].app.st, &s.st, sizeof s.st), 0);
  g_workload(g, 10, 3);
  g_settle(g);
  g_check(g);
  g_check_outputs(g, false);
  g_free(g);
  cr_expect_eq(changed[0], '\0',
               "%s (process.h: on failure nothing in the "
               "directory was modified)",
               changed);
}

/* ------------------------------------------------------------------------ */
/* Output commit                                                            */

Test(process, outputs_are_released_once_per_incarnation_never_changed) {
  tgroup *g;
  gopts o = {.n = 3,
             .seed = 50,
             .mode = MODE_OUTPUT | MODE_FORWARD | MODE_NONDET,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .ckpt_every = 7,
             .drop = 3};
  g = g_new(&o);
  for (int round = 0; round < 6; round++) {
    g_workload(g, 12, 4);
    uint32_t victim = (uint32_t)g_rand(g, o.n);
    saved s = g_crash(g, victim);
    g_run(g, g_rand(g, 20));
    (void)g_recover(g, victim, &s);
  }
  g_settle(g);
  g_check(g);
  g_check_outputs(g, false);
  uint64_t released = 0;
  for (uint32_t i = 0; i < o.n; i++)
    released += g->nd[i].h->max_out_seq;
  cr_assert_eq(released, g->expected);
  g_free(g);
}

/* An output leaves only once the delivery it comes from and the values its
 * handler took are logged, also after a recovery. */
Test(process, output_leaves_only_once_what_it_depends_on_is_logged) {
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 55,
             .mode = MODE_OUTPUT | MODE_NONDET,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .drop = 3,
             .sources = true,
             .check_commit = true};
  g = g_new(&o);
  for (int round = 0; round < 3; round++) {
    for (int j = 0; j < 8; j++) {
      g_inject(g, 0, 1, 0);
      g_run(g, 2);
    }
    g_run(g, 5);
    saved s = g_crash(g, 1);
    (void)g_recover(g, 1, &s);
  }
  g_settle(g);
  g_check(g);
  g_check_outputs(g, false);
  hist *h = g->nd[1].h;
  cr_assert_geq(h->commit_checks, 24u);
  cr_assert_eq(h->uncommitted_outputs, 0u,
               "%llu of %llu outputs left before their delivery and values "
               "were logged (first: seq %llu)",
               (unsigned long long)h->uncommitted_outputs,
               (unsigned long long)h->commit_checks,
               (unsigned long long)h->first_uncommitted_seq);
  g_free(g);
}

/* ------------------------------------------------------------------------ */
/* Bad configurations                                                       */

static tapp bad_app;

static mlog_proc_config bad_config(const char *d) {
  mlog_sim_options so = {.seed = 1, .procs = 3};
  if (bad_sim == NULL)
    cr_assert_eq(mlog_sim_create(&so, &bad_sim), MLOG_OK);
  mlog_proc_config cfg = {.dirpath = d,
                          .id = 1,
                          .group_size = 3,
                          .transport = &mlog_sim_ops,
                          .transport_config = bad_sim};
  return cfg;
}

/* Open must fail with `want`, leave *out NULL, call no callback, explain
 * itself (mentioning `needle` when not NULL), and leave `d` absent when it
 * was absent. */
static void open_fails(const mlog_proc_config *cfg, const mlog_app *app,
                       int want, const char *needle, const char *what) {
  struct stat sb;
  bool existed = cfg && cfg->dirpath && stat(cfg->dirpath, &sb) == 0;
  memset(&bad_app, 0, sizeof bad_app);
  mlog_proc *p = (mlog_proc *)0x1;
  int rc = mlog_proc_open(cfg, app, &bad_app, &p);
  const char *msg = mlog_proc_errmsg(NULL);
  cr_assert_eq(rc, want, "%s: %s, expected %s (%s)", what, mlog_errname(rc),
               mlog_errname(want), msg);
  cr_assert_null(p, "%s: *out", what);
  cr_assert_str_neq(msg, "", "%s: no message", what);
  if (needle)
    cr_assert_not_null(strstr(msg, needle), "%s: '%s' does not mention '%s'",
                       what, msg, needle);
  cr_assert_eq(bad_app.restores + bad_app.deliveries + bad_app.snapshots, 0u,
               "%s: a callback was called", what);
  if (cfg && cfg->dirpath && !existed)
    cr_assert_neq(stat(cfg->dirpath, &sb), 0, "%s: %s was created", what,
                  cfg->dirpath);
}

Test(process, bad_config_is_refused_before_anything_is_touched) {
  char d[128];
  tu_path(d, sizeof d, dir, "never");
  mlog_proc_config cfg = bad_config(d);
  mlog_app app = t_callbacks;

  mlog_proc_config c = cfg;
  c.protocol = "no-such-protocol";
  open_fails(&c, &app, MLOG_EINVAL, "no-such-protocol", "unknown protocol");
  c = cfg;
  c.group_size = 0;
  c.id = 0;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "group of 0");
  c = cfg;
  c.id = 3;
  open_fails(&c, &app, MLOG_EINVAL, "3", "id == group size");
  c = cfg;
  c.id = UINT32_MAX;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "id UINT32_MAX");
  c = cfg;
  c.flags = 0x100;
  open_fails(&c, &app, MLOG_EINVAL, "0x100", "unknown flag");
  c.flags = MLOG_PROC_DIGESTS | 0x80000000u;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "unknown high flag");
  c.flags = MLOG_PROC_NOSYNC;
  open_fails(&c, &app, MLOG_EINVAL, "MLOG_PROC_UNSAFE", "NOSYNC alone");
  c.flags = MLOG_PROC_NOSYNC | MLOG_PROC_DIGESTS;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "NOSYNC without UNSAFE");
  c = cfg;
  c.dirpath = NULL;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "no directory");
  c = cfg;
  c.transport = NULL;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "no transport");
  mlog_transport_ops incomplete = mlog_sim_ops;
  incomplete.recv = NULL;
  c = cfg;
  c.transport = &incomplete;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "incomplete transport");
  mlog_transport_ops future = mlog_sim_ops;
  future.version = MLOG_TRANSPORT_VERSION + 1;
  c.transport = &future;
  open_fails(&c, &app, MLOG_EINVAL, NULL, "transport of another version");

  mlog_app a = app;
  a.deliver = NULL;
  open_fails(&cfg, &a, MLOG_EINVAL, "deliver", "no deliver");
  a = app;
  a.snapshot = NULL;
  open_fails(&cfg, &a, MLOG_EINVAL, "snapshot", "no snapshot");
  a = app;
  a.restore = NULL;
  open_fails(&cfg, &a, MLOG_EINVAL, "restore", "no restore");
  open_fails(NULL, &app, MLOG_EINVAL, NULL, "no config");
  open_fails(&cfg, NULL, MLOG_EINVAL, NULL, "no app");
  cr_assert_eq(mlog_proc_open(&cfg, &app, &bad_app, NULL), MLOG_EINVAL);
  cr_assert_eq(tu_dir_entries(dir), 0, "nothing was created");

  /* The optional callbacks may be NULL. */
  a = app;
  a.digest = NULL;
  a.output = NULL;
  c = cfg;
  c.flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE | MLOG_PROC_DIGESTS;
  memset(&bad_app, 0, sizeof bad_app);
  mlog_proc *p;
  cr_assert_eq(mlog_proc_open(&c, &a, &bad_app, &p), MLOG_OK, "%s",
               mlog_proc_errmsg(NULL));
  mlog_proc_close(p);
  mlog_proc_close(NULL);
  mlog_sim_destroy(bad_sim);
  bad_sim = NULL;
}

/* process.h: on failure "nothing in the directory was modified". A transport
 * that refuses to open must not leave a new log behind. */
Test(process, failed_transport_open_creates_no_log) {
  char d[128];
  tu_path(d, sizeof d, dir, "fresh");
  mlog_proc_config cfg = bad_config(d);
  mlog_sim *small;
  mlog_sim_options so = {.seed = 1, .procs = 2}; /* group of 3 on a sim of 2 */
  cr_assert_eq(mlog_sim_create(&so, &small), MLOG_OK);
  cfg.transport_config = small;
  memset(&bad_app, 0, sizeof bad_app);
  mlog_proc *p = (mlog_proc *)0x1;
  int rc = mlog_proc_open(&cfg, &t_callbacks, &bad_app, &p);
  mlog_sim_destroy(small);
  mlog_sim_destroy(bad_sim);
  bad_sim = NULL;
  cr_assert_eq(rc, MLOG_EINVAL, "%s: %s", mlog_errname(rc),
               mlog_proc_errmsg(NULL));
  cr_assert_null(p);
  cr_assert_not_null(strstr(mlog_proc_errmsg(NULL), "transport"), "%s",
                     mlog_proc_errmsg(NULL));
  cr_assert_eq(bad_app.restores + bad_app.deliveries, 0u);
  struct stat sb;
  cr_expect_neq(stat(d, &sb), 0,
                "the failed open left %s behind (with %d entries)", d,
                tu_dir_entries(d));
}

Test(process, unusable_directories_get_a_clear_error) {
  char file[128], under[160];
  tu_path(file, sizeof file, dir, "file");
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fputs("not a directory\n", f);
  fclose(f);
  mlog_proc_config cfg = bad_config(file);
  open_fails(&cfg, &t_callbacks, MLOG_ENOTDIR, file, "a regular file");
  tu_path(under, sizeof under, file, "log");
  cfg.dirpath = under;
  open_fails(&cfg, &t_callbacks, MLOG_ENOTDIR, NULL, "a path under a file");
  cfg.dirpath = "";
  open_fails(&cfg, &t_callbacks, MLOG_ENOENT, NULL, "an empty path");
  mlog_sim_destroy(bad_sim);
  bad_sim = NULL;
}

/* Run as uid 65534 in a child: an unwritable log directory, and a new one
 * under an unwritable parent. Root ignores file modes, hence the child. */
Test(process, unwritable_directory_as_an_unprivileged_user) {
  if (geteuid() != 0)
    cr_skip_test("needs root to switch to uid 65534");
  char ro[128], sub[160];
  tu_path(ro, sizeof ro, dir, "ro");
  tu_path(sub, sizeof sub, ro, "log");
  cr_assert_eq(chmod(dir, 0755), 0);
  cr_assert_eq(mkdir(ro, 0500), 0);
  cr_assert_eq(chown(ro, 65534, 65534), 0, "chown: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  child = pid;
  if (pid == 0) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
      _exit(10);
    mlog_sim *sim;
    mlog_sim_options so = {.seed = 1, .procs = 2};
    if (mlog_sim_create(&so, &sim) != MLOG_OK)
      _exit(11);
    tapp a = {0};
    mlog_proc_config cfg = {.dirpath = ro,
                            .id = 0,
                            .group_size = 2,
                            .transport = &mlog_sim_ops,
                            .transport_config = sim};
    mlog_proc *p = (mlog_proc *)0x1;
    int rc = mlog_proc_open(&cfg, &t_callbacks, &a, &p);
    if (rc != MLOG_EACCES)
      _exit(20 + (rc & 0x3f));
    if (p != NULL || strstr(mlog_proc_errmsg(NULL), ro) == NULL)
      _exit(12);
    cfg.dirpath = sub;
    p = (mlog_proc *)0x1;
    rc = mlog_proc_open(&cfg, &t_callbacks, &a, &p);
    if (rc != MLOG_EACCES)
      _exit(20 + (rc & 0x3f));
    if (p != NULL || strstr(mlog_proc_errmsg(NULL), sub) == NULL)
      _exit(13);
    if (a.restores + a.deliveries != 0)
      _exit(14);
    mlog_sim_destroy(sim);
    _exit(0);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  child = 0;
  cr_assert(WIFEXITED(status), "the child crashed (signal %d)",
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  int code = WEXITSTATUS(status);
  cr_assert_eq(code, 0,
               "child: %d (10 setuid, 11 sim, 12/13 message or *out, 14 "
               "callback, 20+e: error code e = %s)",
               code, code >= 20 ? mlog_errname(code - 20) : "-");
  cr_assert_eq(tu_dir_entries(ro), 0, "nothing was created in %s", ro);
}

Test(process, reopening_as_another_process_is_refused) {
  tgroup *g;
  gopts o = {.n = 3,
             .seed = 60,
             .mode = MODE_FORWARD,
             .flags = MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE};
  g = g_new(&o);
  g_workload(g, 10, 2);
  g_settle(g);
  g_close(g, 1);
  uint8_t before[32], after[32];
  data_digest(g->nd[1].dir, before);

  mlog_sim *sim4;
  mlog_sim_options so = {.seed = 1, .procs = 4};
  cr_assert_eq(mlog_sim_create(&so, &sim4), MLOG_OK);
  struct {
    uint32_t id, n;
    const char *protocol;
    const char *what;
  } cases[] = {
      {2, 3, NULL, "another id"},
      {0, 3, NULL, "id 0"},
      {1, 4, NULL, "another group size"},
      {1, 3, "test-other-protocol", "another protocol"},
  };
  /* A second logger, so that "another protocol" is a known one. */
  static mlog_logger_ops other;
  other = *mlog_logger_find("pessimistic-receiver");
  other.name = "test-other-protocol";
  cr_assert_eq(mlog_logger_register(&other), MLOG_OK);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mlog_proc_config cfg = g_config(g, 1);
    cfg.id = cases[k].id;
    cfg.group_size = cases[k].n;
    cfg.protocol = cases[k].protocol;
    if (cases[k].n == 4)
      cfg.transport_config = sim4;
    if (cases[k].id != 1) { /* that id's transport endpoint must be free */
      g_close(g, cases[k].id);
    }
    tapp a = {0};
    mlog_proc *p = (mlog_proc *)0x1;
    int rc = mlog_proc_open(&cfg, &t_callbacks, &a, &p);
    cr_assert_eq(rc, MLOG_EINVAL, "%s: %s: %s", cases[k].what, mlog_errname(rc),
                 mlog_proc_errmsg(NULL));
    cr_assert_null(p);
    const char *msg = mlog_proc_errmsg(NULL);
    cr_assert_not_null(strstr(msg, "holds the log of process 1 of 3"), "%s: %s",
                       cases[k].what, msg);
    cr_assert_eq(a.restores + a.deliveries, 0u, "%s", cases[k].what);
    data_digest(g->nd[1].dir, after);
    cr_assert_eq(memcmp(before, after, 32), 0, "%s: data.mdb changed",
                 cases[k].what);
    if (cases[k].id != 1)
      g_open(g, cases[k].id);
  }
  mlog_sim_destroy(sim4);
  /* A second open of a directory that is open is busy. */
  g_open(g, 1);
  mlog_proc_config cfg = g_config(g, 1);
  tapp a = {0};
  mlog_proc *p = (mlog_proc *)0x1;
  cr_assert_eq(mlog_proc_open(&cfg, &t_callbacks, &a, &p), MLOG_EBUSY, "%s",
               mlog_proc_errmsg(NULL));
  cr_assert_null(p);
  cr_assert_eq(a.restores, 0u);
  /* And the group still works. */
  g_workload(g, 5, 2);
  g_settle(g);
  g_check(g);
  g_free(g);
}

/* A keyed log recovers with its key only, given inline or as a key file. */
Test(process, keyed_log_recovers_with_its_key_only) {
  mlog_key key, wrong;
  memset(key.bytes, 0x17, sizeof key.bytes);
  memset(wrong.bytes, 0x18, sizeof wrong.bytes);
  tgroup *g;
  gopts o = {.n = 2,
             .seed = 65,
             .mode = MODE_FORWARD | MODE_OUTPUT,
             .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
             .key = &key};
  g = g_new(&o);
  g_workload(g, 12, 3);
  g_settle(g);
  saved s = g_crash(g, 1);
  uint8_t before[32], after[32];
  data_digest(g->nd[1].dir, before);
  char keyfile[128], shortfile[128], missing[128];
  tu_path(keyfile, sizeof keyfile, dir, "log.key");
  tu_path(shortfile, sizeof shortfile, dir, "short.key");
  tu_path(missing, sizeof missing, dir, "missing.key");
  FILE *f = fopen(keyfile, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(key.bytes, 1, sizeof key.bytes, f), sizeof key.bytes);
  fclose(f);
  f = fopen(shortfile, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(key.bytes, 1, 31, f), 31u);
  fclose(f);
  struct {
    const mlog_key *key;
    const char *key_file;
    int want;
    const char *needle;
  } cases[] = {
      {NULL, NULL, MLOG_ENOKEY, NULL},
      {&wrong, NULL, MLOG_EKEY, NULL},
      {&key, keyfile, MLOG_EINVAL, "not both"},
      {NULL, missing, MLOG_ENOENT, missing},
      {NULL, shortfile, MLOG_EINVAL, shortfile},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    g_app_init(g, 1);
    mlog_proc_config cfg = g_config(g, 1);
    cfg.key = cases[k].key;
    cfg.key_file = cases[k].key_file;
    mlog_proc *p = (mlog_proc *)0x1;
    int rc = mlog_proc_open(&cfg, &t_callbacks, &g->nd[1].app, &p);
    const char *msg = mlog_proc_errmsg(NULL);
    cr_assert_eq(rc, cases[k].want, "case %zu: %s: %s", k, mlog_errname(rc),
                 msg);
    cr_assert_null(p);
    cr_assert_str_neq(msg, "");
    if (cases[k].needle)
      cr_assert_not_null(strstr(msg, cases[k].needle), "case %zu: %s", k, msg);
    cr_assert_eq(g->nd[1].app.deliveries, 0u, "case %zu: deliver called", k);
    data_digest(g->nd[1].dir, after);
    cr_assert_eq(memcmp(before, after, 32), 0, "case %zu: data.mdb changed", k);
  }
  /* The key file opens it. */
  g->o.key = NULL;
  g_app_init(g, 1);
  mlog_proc_config cfg = g_config(g, 1);
  cfg.key_file = keyfile;
  mlog_proc *p;
  cr_assert_eq(mlog_proc_open(&cfg, &t_callbacks, &g->nd[1].app, &p), MLOG_OK,
               "%s", mlog_proc_errmsg(NULL));
  g->nd[1].p = p;
  g->nd[1].incarnations++;
  mlog_proc_stats st = g_stats(g, 1);
  cr_assert(st.recovered);
  cr_assert_eq(memcmp(&g->nd[1].app.st, &s.st, sizeof s.st), 0);
  g_workload(g, 6, 3);
  g_settle(g);
  g_check(g);
  g_free(g);
}

/* ------------------------------------------------------------------------ */
/* A damaged log                                                            */

typedef struct found {
  uint64_t rsn, lsn;
} found;

static int find_delivery(void *arg, const void *key, size_t klen,
                         const void *val, size_t vlen) {
  found *fd = arg;
  mlog_record rec;
  if (klen == 8 && mlog_record_decode(val, vlen, &rec) == MLOG_OK &&
      rec.type == MLOG_REC_DELIVERY && rec.rsn == fd->rsn) {
    fd->lsn = mlogi_get_be64(key);
    return 1;
  }
  return 0;
}

enum damage { FLIP_PAYLOAD, FLIP_HEADER_RSN, DELETE_RECORD };

/* Damage the delivery record of rsn in logdir through the store; return
 * its lsn. */
static uint64_t damage_delivery(const char *logdir, uint64_t rsn,
                                enum damage how) {
  mlogi_store *st;
  mlogi_errbuf eb;
  cr_assert_eq(mlogi_store_open(logdir, 0, 0, &st, &eb), MLOG_OK, "%s", eb.msg);
  mlogi_view *v;
  cr_assert_eq(mlogi_view_begin(st, &v, &eb), MLOG_OK, "%s", eb.msg);
  found fd = {.rsn = rsn};
  cr_assert_eq(mlogi_view_scan(v, MLOGI_DB_LOG, NULL, 0, find_delivery, &fd), 1,
               "no delivery record of rsn %llu", (unsigned long long)rsn);
  uint8_t key[8];
  mlogi_put_be64(key, fd.lsn);
  const void *val;
  size_t vlen;
  cr_assert_eq(mlogi_view_get(v, MLOGI_DB_LOG, key, 8, &val, &vlen), MLOG_OK);
  uint8_t *copy = tu_dup(val, vlen);
  mlogi_view_end(v);
  cr_assert_gt(vlen, (size_t)MLOG_HEADER_BYTES + sizeof(tmsg));
  mlogi_op op = {.kind = MLOGI_OP_PUT,
                 .db = MLOGI_DB_LOG,
                 .key = key,
                 .klen = 8,
                 .val = copy,
                 .vlen = vlen};
  switch (how) {
  case FLIP_PAYLOAD:
    copy[MLOG_HEADER_BYTES + 9] ^= 0x10; /* inside the message id */
    break;
  case FLIP_HEADER_RSN: {
    mlog_record rec;
    cr_assert_eq(mlog_record_decode(copy, vlen, &rec), MLOG_OK);
    copy[40] ^= 0x01; /* the rsn: header bytes 40..47 (docs/format.md) */
    mlog_record again;
    cr_assert_eq(mlog_record_decode(copy, vlen, &again), MLOG_OK);
    cr_assert_eq(again.rsn, rec.rsn ^ 1u, "the edited field is the rsn");
    break;
  }
  case DELETE_RECORD:
    op.kind = MLOGI_OP_DEL;
    op.val = NULL;
    op.vlen = 0;
    break;
  }
  cr_assert_eq(mlogi_store_write(st, &op, 1, &eb), MLOG_OK, "%s", eb.msg);
  free(copy);
  mlogi_store_close(st);
  return fd.lsn;
}

Test(process, corrupt_record_stops_recovery_before_delivering_it) {
  static const struct {
    enum damage how;
    int want;
    const char *what;
  } cases[] = {
      {FLIP_PAYLOAD, MLOG_EBADTAG, "a payload byte flipped"},
      {FLIP_HEADER_RSN, MLOG_EBADTAG, "the rsn in the header edited"},
      {DELETE_RECORD, MLOG_ECHAIN, "the record deleted"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char sub[16];
    snprintf(sub, sizeof sub, "c%zu", k);
    tgroup *g;
    gopts o = {.n = 2,
               .seed = 70 + k,
               .mode = MODE_OUTPUT,
               .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE,
               .sub = sub};
    g = g_new(&o);
    for (int j = 0; j < 14; j++) {
      g_inject(g, 0, 1, 0);
      g_run(g, 3);
    }
    g_settle(g);
    cr_assert_eq(g_stats(g, 1).rsn, 14u);
    g_close(g, 1);
    const uint64_t bad_rsn = 7;
    uint64_t lsn = damage_delivery(g->nd[1].dir, bad_rsn, cases[k].how);
    uint8_t before[32], after[32];
    data_digest(g->nd[1].dir, before);
    for (int attempt = 0; attempt < 2; attempt++) { /* and again: the same */
      int rc = g_try_open(g, 1);
      const char *msg = mlog_proc_errmsg(NULL);
      cr_assert_eq(rc, cases[k].want, "%s: %s: %s", cases[k].what,
                   mlog_errname(rc), msg);
      cr_assert_null(g->nd[1].p);
      cr_assert(names_lsn(msg, lsn), "%s: '%s' does not name lsn %llu",
                cases[k].what, msg, (unsigned long long)lsn);
      cr_assert_lt(g->nd[1].app.max_rsn, bad_rsn,
                   "%s: deliver was called for rsn %llu", cases[k].what,
                   (unsigned long long)g->nd[1].app.max_rsn);
      cr_assert_eq(g->nd[1].app.outputs, 0u, "%s: an output left",
                   cases[k].what);
      data_digest(g->nd[1].dir, after);
      cr_assert_eq(memcmp(before, after, 32), 0, "%s: data.mdb changed",
                   cases[k].what);
    }
    /* The offline check names the same record. */
    mlog_log *log;
    cr_assert_eq(mlog_log_open(g->nd[1].dir, MLOG_LOG_RDONLY, NULL, &log),
                 MLOG_OK);
    mlog_verify_report rep;
    cr_assert_eq(mlog_log_verify(log, &rep, NULL, NULL), MLOG_OK);
    mlog_log_close(log);
    cr_assert_eq(rep.problem, cases[k].want, "%s", rep.detail);
    /* A deleted record is reported at the record found in its place. */
    cr_assert(rep.bad_lsn == lsn ||
                  (cases[k].how == DELETE_RECORD && rep.bad_lsn == lsn + 1),
              "%s: verify names lsn %llu, the damage is at %llu: %s",
              cases[k].what, (unsigned long long)rep.bad_lsn,
              (unsigned long long)lsn, rep.detail);
    g_free(g);
  }
}
