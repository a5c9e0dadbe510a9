/* test_optimistic.c - optimistic logging (Strom-Yemini) under the sim
 * transport: lost intervals, orphans, rollbacks, output commit */
#include <sodium.h>
#include <unistd.h>

#include "core/proc.h" /* only to look at a sender's outbox */
#include "mlog/process.h"
#include "mlog/sim.h"
#include "test/testutil.h"

/*
 * Each test drives a small group step by step: a frame moves with
 * mlog_sim_step and only its receiver is polled, so a process that is not
 * polled neither receives nor persists (MLOG_PROC_NO_THREADS: the logger
 * flushes from the poll, once flush_ms have passed since its last flush).
 * A crash is mlog_sim_crash + mlog_proc_close: what the logger took but did
 * not write is gone, exactly a crash between delivery and flush.
 *
 * The application applies every message to a state that counts each
 * message id and remembers where it came from: the interval (incarnation,
 * rsn) of its sender and the message that created that interval. A
 * history outside the state, kept across incarnations, records which
 * message and incarnation created each rsn (the last execution wins, so
 * after convergence it is the final history) and every output released.
 * The checks: every message applied exactly once in the final states; the
 * interval every forwarded message came from is in its sender's final
 * history (no orphan survives); every released output was made in a state
 * of the final history (output commit).
 */

static char dir[64];

static void setup(void) {
  cr_assert_geq(sodium_init(), 0);
  tu_mkdtemp(dir, sizeof dir);
}

static void release_all(void);

static void teardown(void) {
  release_all();
  tu_rmtree(dir);
}

/* One timeout for every test (see test_log.c). */
TestSuite(optimistic, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */
/* The application                                                          */

#define NP 4          /* processes, at most */
#define MAXID 1024    /* message ids */
#define MAXR 2048     /* rsn per process */
#define MAXREL 4096   /* output releases per process */
#define HOP 64u       /* a forwarded message's id: the incoming one + HOP */
#define END 0xffu     /* end of a route */
#define KIND_SPONT 1u /* sent by the driver (outside any handler) */
#define KIND_FWD 2u   /* sent by a handler */
#define NOPROV UINT32_MAX

typedef struct omsg {
  uint32_t id, kind;
  uint32_t s_inc, s_trig; /* sender's interval: incarnation, creating id */
  uint64_t s_rsn;         /* ... and rsn (KIND_FWD) */
  uint8_t route[8];       /* the next receivers, END-terminated */
  uint32_t out;           /* each receiver makes an output */
  uint32_t pad;
} omsg;

typedef struct prov {
  uint32_t src, inc, trig, rsn;
} prov;

/* The application state (snapshot = these bytes). */
typedef struct ostate {
  uint64_t hash, count;
  uint8_t applied[MAXID];
  prov from[MAXID];
} ostate;

typedef struct orel { /* an output: the state it was made in */
  uint32_t inc, id;
  uint64_t rsn;
} orel;

typedef struct ohist {
  uint32_t inc_at[MAXR], id_at[MAXR];
  bool set[MAXR];
  uint32_t calls[MAXID]; /* handler calls per id, replays included */
  size_t nrel;
  orel rel[MAXREL];
  uint64_t rel_seq[MAXREL];
} ohist;

typedef struct oapp {
  ostate st;
  uint32_t id;
  ohist *h;
  uint64_t outputs; /* released to this incarnation */
} oapp;

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static int o_deliver(void *arg, mlog_proc *p, uint32_t src, const void *buf,
                     size_t len) {
  oapp *a = arg;
  omsg m;
  if (len != sizeof m)
    return 1;
  memcpy(&m, buf, sizeof m);
  if (m.id >= MAXID || src >= NP)
    return 2;
  mlog_proc_stats ps;
  mlog_proc_get_stats(p, &ps);
  if (ps.rsn == 0 || ps.rsn >= MAXR)
    return 3;
  ohist *h = a->h;
  h->calls[m.id]++;
  h->inc_at[ps.rsn] = ps.interval_incarnation;
  h->id_at[ps.rsn] = m.id;
  h->set[ps.rsn] = true;
  a->st.applied[m.id]++;
  a->st.from[m.id] = m.kind == KIND_FWD
                         ? (prov){src, m.s_inc, m.s_trig, (uint32_t)m.s_rsn}
                         : (prov){src, NOPROV, NOPROV, NOPROV};
  a->st.hash = mix(mix(a->st.hash, src), m.id);
  a->st.count++;
  if (m.out) {
    orel r = {ps.interval_incarnation, m.id, ps.rsn};
    if (mlog_output(p, &r, sizeof r) != MLOG_OK)
      return 4;
  }
  if (m.route[0] != END) {
    omsg f = m;
    f.id = m.id + HOP;
    f.kind = KIND_FWD;
    f.s_inc = ps.interval_incarnation;
    f.s_rsn = ps.rsn;
    f.s_trig = m.id;
    memmove(f.route, m.route + 1, sizeof f.route - 1);
    f.route[sizeof f.route - 1] = END;
    if (f.id >= MAXID || mlog_send(p, m.route[0], &f, sizeof f) != MLOG_OK)
      return 5;
  }
  return 0;
}

static int o_snapshot(void *arg, mlog_buf *out) {
  oapp *a = arg;
  return mlog_buf_append(out, &a->st, sizeof a->st) == MLOG_OK ? 0 : 1;
}

static int o_restore(void *arg, const void *state, size_t len) {
  oapp *a = arg;
  if (state == NULL) {
    memset(&a->st, 0, sizeof a->st);
    return len == 0 ? 0 : 1;
  }
  if (len != sizeof a->st)
    return 1;
  memcpy(&a->st, state, sizeof a->st);
  return 0;
}

static void o_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  oapp *a = arg;
  ohist *h = a->h;
  a->outputs++;
  if (h->nrel >= MAXREL || len != sizeof(orel))
    return;
  memcpy(&h->rel[h->nrel], buf, sizeof(orel));
  h->rel_seq[h->nrel++] = seq;
}

static const mlog_app o_callbacks = {.deliver = o_deliver,
                                     .snapshot = o_snapshot,
                                     .restore = o_restore,
                                     .output = o_output};

/* ------------------------------------------------------------------------ */
/* The driver (test/simgroup.h)                                             */

#define SG_NODE_EXTRA                                                          \
  oapp app;                                                                    \
  ohist *h;
#define SG_GROUP_EXTRA uint32_t next_id;
#include "test/simgroup.h"

typedef sg_group ogroup;

#define SLOW_FLUSH 1000 /* ms: no flush within a step-by-step scenario */

static void release_all(void) {
  sg_release_all();
}

static void *o_prepare(sg_group *g, uint32_t i, mlog_proc_config *cfg) {
  sg_node *nd = &g->nd[i];
  (void)cfg;
  memset(&nd->app, 0, sizeof nd->app);
  memset(&nd->app.st, 0xa5, sizeof nd->app.st); /* garbage until restore */
  nd->app.id = i;
  nd->app.h = nd->h;
  return &nd->app;
}

static void o_release(sg_group *g, uint32_t i) {
  free(g->nd[i].h);
  g->nd[i].h = NULL;
}

/* A group of n on a sim with delays min..max ms (min == max: fixed, so
 * that the order of arrivals follows the order of sends); every process
 * flushes every SLOW_FLUSH ms unless the test sets its cfg.flush_ms. */
static ogroup *o_new(uint32_t n, uint64_t seed, uint32_t min_delay,
                     uint32_t max_delay, uint32_t drop, const char *sub) {
  sg_options o = {.n = n,
                  .seed = seed,
                  .min_delay = min_delay,
                  .max_delay = max_delay,
                  .drop_percent = drop};
  sg_hooks hooks = {.protocol = "optimistic-receiver",
                    .callbacks = &o_callbacks,
                    .prepare = o_prepare,
                    .release = o_release};
  ogroup *g = sg_new(dir, sub, &o, &hooks);
  for (uint32_t i = 0; i < n; i++) {
    g->nd[i].h = calloc(1, sizeof(ohist));
    cr_assert_not_null(g->nd[i].h);
    g->nd[i].cfg.flush_ms = SLOW_FLUSH;
  }
  return g;
}

/* Make every process flush now, so that its next flush is SLOW_FLUSH ms
 * away: deliveries in the next steps stay unpersisted. */
static void o_sync_flush(ogroup *g) {
  sg_settle(g);
  mlog_sim_advance(g->sim, SLOW_FLUSH);
  for (uint32_t i = 0; i < g->n; i++)
    sg_poll(g, i);
  sg_settle(g);
  mlog_sim_advance(g->sim, SLOW_FLUSH);
  for (uint32_t i = 0; i < g->n; i++)
    sg_poll(g, i);
  cr_assert_eq(mlog_sim_pending(g->sim), 0u, "quiet after the flush");
}

/* A message from i (outside any handler) to route[0], then route[1]... */
static uint32_t o_send(ogroup *g, uint32_t i, const uint8_t *route, size_t hops,
                       bool out) {
  cr_assert(hops >= 1 && hops <= 8);
  omsg m = {.id = ++g->next_id, .kind = KIND_SPONT, .out = out};
  cr_assert_lt(m.id, HOP, "base ids stay below HOP");
  memset(m.route, END, sizeof m.route);
  memcpy(m.route, route + 1, hops - 1);
  int rc = mlog_send(g->nd[i].p, route[0], &m, sizeof m);
  cr_assert_eq(rc, MLOG_OK, "send %u -> %u: %s: %s", i, route[0],
               mlog_errname(rc), mlog_proc_errmsg(g->nd[i].p));
  return m.id;
}

/* The final history of process i holds interval (inc, rsn) created by
 * message id. */
static bool in_history(ogroup *g, uint32_t i, uint32_t inc, uint64_t rsn,
                       uint32_t id) {
  const ohist *h = g->nd[i].h;
  uint64_t last = sg_stats(g, i).rsn;
  if (rsn == 0)
    return true; /* the initial state */
  return rsn <= last && h->set[rsn] && h->inc_at[rsn] == inc &&
         h->id_at[rsn] == id;
}

/* After convergence: process i applied exactly the ids in want[] (each
 * once) and nothing else; every forwarded message it holds came from an
 * interval of its sender's final history; every output it released was
 * made in a state of its final history, and every output of its final
 * history was released; everything is committed. */
static void o_check(ogroup *g, uint32_t i, const uint32_t *want, size_t nwant) {
  sg_node *nd = &g->nd[i];
  mlog_proc_stats st = sg_stats(g, i);
  cr_assert_eq(st.committed_rsn, st.rsn,
               "process %u: committed %llu of %llu after convergence", i,
               (unsigned long long)st.committed_rsn,
               (unsigned long long)st.rsn);
  cr_assert_eq(nd->app.st.count, st.rsn, "process %u: count %llu, rsn %llu", i,
               (unsigned long long)nd->app.st.count,
               (unsigned long long)st.rsn);
  cr_assert_eq(st.rsn, nwant, "process %u: %llu deliveries, %zu expected", i,
               (unsigned long long)st.rsn, nwant);
  uint64_t total = 0;
  for (uint32_t id = 0; id < MAXID; id++)
    total += nd->app.st.applied[id];
  cr_assert_eq(total, nwant, "process %u: %llu applied, %zu expected", i,
               (unsigned long long)total, nwant);
  for (size_t k = 0; k < nwant; k++)
    cr_assert_eq(nd->app.st.applied[want[k]], 1,
                 "process %u: message %u applied %u times", i, want[k],
                 nd->app.st.applied[want[k]]);
  for (uint64_t rsn = 1; rsn <= st.rsn; rsn++)
    cr_assert(nd->h->set[rsn], "process %u: rsn %llu never delivered", i,
              (unsigned long long)rsn);
  for (uint32_t id = 0; id < MAXID; id++) {
    const prov *f = &nd->app.st.from[id];
    if (nd->app.st.applied[id] == 0 || f->inc == NOPROV)
      continue;
    cr_assert(in_history(g, f->src, f->inc, f->rsn, f->trig),
              "process %u holds message %u sent by %u from interval "
              "(inc %u, rsn %u, made by %u), which is not in %u's final "
              "history (an orphan survived)",
              i, id, f->src, f->inc, f->rsn, f->trig, f->src);
  }
  const ohist *h = nd->h;
  for (size_t k = 0; k < h->nrel; k++) {
    const orel *r = &h->rel[k];
    cr_assert(in_history(g, i, r->inc, r->rsn, r->id),
              "process %u released output %llu from state (inc %u, rsn "
              "%llu, message %u), not in its final history",
              i, (unsigned long long)h->rel_seq[k], r->inc,
              (unsigned long long)r->rsn, r->id);
  }
}

/* Outputs of process i's final history that were released (one output per
 * delivery of a message with out set: all of them in the tests using it). */
static void o_check_all_released(ogroup *g, uint32_t i) {
  uint64_t last = sg_stats(g, i).rsn;
  const ohist *h = g->nd[i].h;
  for (uint64_t rsn = 1; rsn <= last; rsn++) {
    bool found = false;
    for (size_t k = 0; k < h->nrel && !found; k++)
      found = h->rel[k].rsn == rsn && h->rel[k].inc == h->inc_at[rsn];
    cr_assert(found, "process %u: the output of rsn %llu was never released", i,
              (unsigned long long)rsn);
  }
}

/* ------------------------------------------------------------------------ */
/* 1. A crash between delivery and flush                                    */

Test(optimistic, crash_between_delivery_and_flush_loses_nothing) {
  ogroup *g = o_new(2, 1, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1};
  uint32_t ids[8];
  size_t nid = 0;
  /* Two deliveries that P1 persists. */
  ids[nid++] = o_send(g, 0, to1, 1, false);
  ids[nid++] = o_send(g, 0, to1, 1, false);
  o_sync_flush(g);
  cr_assert_eq(sg_stats(g, 1).committed_rsn, 2u, "P1 committed its first two");
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "P0 dropped the acknowledged ones");
  /* Five more, delivered but not persisted. */
  for (int k = 0; k < 5; k++)
    ids[nid++] = o_send(g, 0, to1, 1, false);
  for (int k = 0; k < 5; k++)
    cr_assert_eq(sg_step(g, 0), 1u);
  mlog_proc_stats before = sg_stats(g, 1);
  cr_assert_eq(before.rsn, 7u, "P1 delivered all seven");
  cr_assert_eq(g->nd[1].app.st.count, 7u);
  cr_assert_eq(before.committed_rsn, 2u, "the last five are not stable");
  cr_assert_eq(sg_outbox(g, 0, 1), 5u,
               "P0 keeps the five P1 has not acknowledged");
  sg_crash(g, 1);
  sg_open(g, 1);
  mlog_proc_stats st = sg_stats(g, 1);
  cr_assert(st.recovered, "P1 recovered its log");
  cr_assert_eq(st.incarnation, 1u, "a new incarnation");
  cr_assert_eq(st.replayed, 2u, "the two persisted deliveries replayed");
  cr_assert_eq(st.rsn, 2u, "the unpersisted tail is lost");
  cr_assert_eq(g->nd[1].app.st.count, 2u);
  sg_settle(g);
  st = sg_stats(g, 1);
  cr_assert_eq(st.delivered, 5u, "the five lost ones were received again");
  cr_assert_eq(st.rollbacks, 0u);
  for (uint32_t k = 0; k < nid; k++)
    cr_assert_eq(g->nd[1].h->calls[ids[k]], 2u,
                 "message %u: delivered once before the crash and once "
                 "after (replayed or received again)",
                 ids[k]);
  o_check(g, 1, ids, nid);
  uint32_t none[1];
  o_check(g, 0, none, 0);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "everything acknowledged in the end");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 2. An orphan rolls back                                                  */

Test(optimistic, orphan_rolls_back_and_outputs_stay_committed) {
  ogroup *g = o_new(3, 2, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  uint32_t want1[4], want2[4];
  size_t n1 = 0, n2 = 0;
  const uint8_t to1[] = {1}, via1to2[] = {1, 2};
  /* P1 persists one delivery first (a log to recover). */
  want1[n1++] = o_send(g, 0, to1, 1, true);
  o_sync_flush(g);
  /* m1 -> P1 -> m2 -> P2, both delivered, P1's interval not persisted. */
  uint32_t m1 = o_send(g, 0, via1to2, 2, true);
  want1[n1++] = m1;
  want2[n2++] = m1 + HOP;
  cr_assert_eq(sg_step(g, 0), 1u, "m1 reaches P1");
  cr_assert_eq(sg_step(g, 0), 2u, "m2 reaches P2");
  cr_assert_eq(sg_stats(g, 2).rsn, 1u, "P2 delivered m2");
  cr_assert_eq(g->nd[2].app.outputs, 0u,
               "P2's output waits: its state depends on P1's unstable "
               "interval");
  cr_assert_eq(g->nd[1].app.outputs, 1u, "P1's second output waits too");
  sg_crash(g, 1);
  sg_open(g, 1);
  cr_assert_eq(sg_stats(g, 1).rsn, 1u, "P1 lost m1's interval");
  sg_settle(g);
  mlog_proc_stats s2 = sg_stats(g, 2);
  cr_assert_eq(s2.rollbacks, 1u, "P2 rolled back once (%llu)",
               (unsigned long long)s2.rollbacks);
  cr_assert_geq(s2.rolled_back, 1u, "P2 undid m2's interval");
  cr_assert_eq(s2.incarnation, 1u, "the rollback started an incarnation");
  cr_assert_eq(s2.interval_incarnation, 1u,
               "m2 was delivered again in the new incarnation");
  cr_assert_eq(g->nd[2].h->calls[m1 + HOP], 2u,
               "m2 ran twice: the orphan and the regenerated one");
  cr_assert_eq(sg_stats(g, 0).rollbacks, 0u);
  cr_assert_eq(sg_stats(g, 1).rollbacks, 0u,
               "the crashed process just "
               "recovered");
  o_check(g, 1, want1, n1);
  o_check(g, 2, want2, n2);
  o_check_all_released(g, 1);
  o_check_all_released(g, 2);
  cr_assert_eq(g->nd[2].h->nrel, 1u,
               "P2 released one output, never the "
               "orphan's");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 3. A cascade: P1 -> P2 -> P3 all depend on P1's lost interval            */

Test(optimistic, cascade_of_two_rollbacks) {
  ogroup *g = o_new(4, 3, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  uint32_t w1[4], w2[4], w3[4];
  size_t n1 = 0, n2 = 0, n3 = 0;
  const uint8_t to1[] = {1}, chain[] = {1, 2, 3};
  w1[n1++] = o_send(g, 0, to1, 1, true);
  o_sync_flush(g);
  uint32_t m = o_send(g, 0, chain, 3, true);
  w1[n1++] = m;
  w2[n2++] = m + HOP;
  w3[n3++] = m + 2 * HOP;
  cr_assert_eq(sg_step(g, 0), 1u);
  cr_assert_eq(sg_step(g, 0), 2u);
  cr_assert_eq(sg_step(g, 0), 3u);
  cr_assert_eq(sg_stats(g, 3).rsn, 1u, "P3 delivered the chain's end");
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_settle(g);
  mlog_proc_stats s2 = sg_stats(g, 2), s3 = sg_stats(g, 3);
  cr_assert_eq(s2.rollbacks, 1u, "P2 rolled back once (%llu)",
               (unsigned long long)s2.rollbacks);
  cr_assert_eq(s3.rollbacks, 1u, "P3 rolled back once (%llu)",
               (unsigned long long)s3.rollbacks);
  cr_assert_geq(s2.rolled_back, 1u);
  cr_assert_geq(s3.rolled_back, 1u);
  cr_assert_eq(sg_stats(g, 0).rollbacks, 0u);
  cr_assert_eq(g->nd[3].h->calls[m + 2 * HOP], 2u,
               "the chain's end ran as an orphan, then once more");
  o_check(g, 1, w1, n1);
  o_check(g, 2, w2, n2);
  o_check(g, 3, w3, n3);
  for (uint32_t i = 1; i < 4; i++)
    o_check_all_released(g, i);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 4. A message from a lost interval arrives after the announcement         */

/* Indirect: P1's lost interval sent m2 to P3, whose m3 reaches P2 only
 * after P1's new incarnation did (fixed delays: arrival order = send
 * order). P2 discards m3 and never delivers it; P3's regenerated m3
 * arrives instead. */
Test(optimistic, late_message_of_a_lost_interval_is_discarded) {
  ogroup *g = o_new(4, 4, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1}, route[] = {1, 3, 2};
  uint32_t w1[4], w2[4], w3[4];
  size_t n1 = 0, n2 = 0, n3 = 0;
  w1[n1++] = o_send(g, 0, to1, 1, false);
  o_sync_flush(g);
  uint32_t m = o_send(g, 0, route, 3, false);
  uint32_t m2 = m + HOP, m3 = m + 2 * HOP;
  w1[n1++] = m;
  w3[n3++] = m2;
  w2[n2++] = m3;
  cr_assert_eq(sg_step(g, 0), 1u, "m1 reaches P1, which sends m2");
  cr_assert_eq(sg_step(g, 1u << 3), 3u, "m2 waits in P3's inbox");
  sg_crash(g, 1);
  sg_open(g, 1); /* its announcements leave now */
  mlog_sim_advance(g->sim, 1);
  sg_poll(g, 3); /* P3 delivers m2, m3 leaves 1 ms after them */
  cr_assert_eq(sg_stats(g, 3).rsn, 1u, "P3 delivered m2");
  cr_assert_eq(sg_stats(g, 2).orphans_discarded, 0u);
  sg_settle(g);
  mlog_proc_stats s2 = sg_stats(g, 2);
  cr_assert_geq(s2.orphans_discarded, 1u,
                "P2 discarded the late orphan m3 (%llu)",
                (unsigned long long)s2.orphans_discarded);
  cr_assert_eq(s2.rollbacks, 0u, "P2 never depended on the lost interval");
  cr_assert_eq(g->nd[2].h->calls[m3], 1u,
               "P2 ran m3 once: the regenerated one, never the orphan");
  cr_assert_eq(sg_stats(g, 3).rollbacks, 1u, "P3 was an orphan");
  o_check(g, 1, w1, n1);
  o_check(g, 2, w2, n2);
  o_check(g, 3, w3, n3);
  sg_free(g);
}

/* Direct: P1's frame from the lost interval and P1's announcement are in
 * P2's inbox together (the channel is FIFO: the frame comes first). The
 * status is taken before the deliveries are committed: the frame is
 * dropped, never delivered, and the regenerated one takes its ssn. */
Test(optimistic, lost_frame_received_with_the_announcement_is_dropped) {
  ogroup *g = o_new(3, 5, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1}, route[] = {1, 2};
  uint32_t w1[4], w2[4];
  size_t n1 = 0, n2 = 0;
  w1[n1++] = o_send(g, 0, to1, 1, false);
  o_sync_flush(g);
  uint32_t m = o_send(g, 0, route, 2, false);
  w1[n1++] = m;
  w2[n2++] = m + HOP;
  cr_assert_eq(sg_step(g, 0), 1u);
  cr_assert_eq(sg_step(g, 1u << 2), 2u, "m2 waits in P2's inbox");
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_step_until(g, 2, 1u << 2); /* P1's hello joins m2 */
  sg_poll(g, 2);
  cr_assert_eq(g->nd[2].h->calls[m + HOP], 0u,
               "P2 did not deliver the frame of the lost interval");
  cr_assert_eq(sg_stats(g, 2).rsn, 0u);
  sg_settle(g);
  cr_assert_eq(g->nd[2].h->calls[m + HOP], 1u,
               "P2 delivered the regenerated message once");
  cr_assert_eq(sg_stats(g, 2).rollbacks, 0u);
  o_check(g, 1, w1, n1);
  o_check(g, 2, w2, n2);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 5. Output commit                                                         */

Test(optimistic, output_waits_for_the_stability_of_what_it_depends_on) {
  ogroup *g = o_new(3, 6, 10, 10, 0, "g");
  g->nd[1].cfg.flush_ms = 5; /* P1 persists promptly: only P0 lags */
  sg_start(g);
  sg_settle(g);
  const uint8_t to0[] = {0}, route[] = {0, 1};
  uint32_t w0[4], w1[4];
  size_t n0 = 0, n1 = 0;
  w0[n0++] = o_send(g, 2, to0, 1, false);
  o_sync_flush(g);
  /* P2 -> P0 (unpersisted interval) -> P1, whose handler outputs. */
  uint32_t m = o_send(g, 2, route, 2, true);
  w0[n0++] = m;
  w1[n1++] = m + HOP;
  cr_assert_eq(sg_step(g, 0), 0u);
  cr_assert_eq(sg_step(g, 0), 1u);
  /* Time passes, P1 persists and polls; P0 is never polled. */
  for (int k = 0; k < 30; k++) {
    mlog_sim_advance(g->sim, 20);
    uint32_t dst;
    while (mlog_sim_step(g->sim, &dst) == MLOG_OK)
      if (dst != 0)
        sg_poll(g, dst);
    sg_poll(g, 1);
    sg_poll(g, 2);
  }
  mlog_proc_stats s1 = sg_stats(g, 1);
  cr_assert_eq(s1.rsn, 1u);
  cr_assert_eq(s1.committed_rsn, 0u,
               "P1's state depends on P0's unstable interval");
  cr_assert_eq(g->nd[1].app.outputs, 0u,
               "the output is held while P0's interval is not stable");
  cr_assert_eq(g->nd[0].app.outputs, 0u, "P0 made none");
  /* P0 persists; its status reaches P1. */
  sg_settle(g);
  s1 = sg_stats(g, 1);
  cr_assert_eq(s1.committed_rsn, 1u, "committed once P0 is stable");
  cr_assert_eq(g->nd[1].app.outputs, 1u, "the output left once");
  cr_assert_eq(g->nd[1].h->nrel, 1u);
  cr_assert_eq(g->nd[1].h->rel_seq[0], 1u, "output seq 1");
  cr_assert_eq(g->nd[1].h->rel[0].id, m + HOP, "made by m's delivery");
  cr_assert_eq(g->nd[1].h->rel[0].rsn, 1u);
  cr_assert_eq(s1.rollbacks + sg_stats(g, 0).rollbacks, 0u);
  o_check(g, 0, w0, n0);
  o_check(g, 1, w1, n1);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 6. A spontaneous send from a state that is rolled back                   */

Test(optimistic, spontaneous_send_from_rolled_back_state_delivered_once) {
  ogroup *g = o_new(3, 7, 10, 10, 0, "g");
  g->nd[1].cfg.flush_ms = 5;
  sg_start(g);
  sg_settle(g);
  const uint8_t to0[] = {0}, route[] = {0, 1}, to2[] = {2};
  uint32_t w0[4], w1[4], w2[4];
  size_t n0 = 0, n1 = 0, n2 = 0;
  w0[n0++] = o_send(g, 2, to0, 1, false);
  o_sync_flush(g);
  uint32_t m = o_send(g, 2, route, 2, false);
  w0[n0++] = m;
  w1[n1++] = m + HOP;
  cr_assert_eq(sg_step(g, 0), 0u, "P0 delivers m (not persisted)");
  cr_assert_eq(sg_step(g, 0), 1u, "P1 delivers m1, depending on it");
  cr_assert_eq(sg_stats(g, 1).committed_rsn, 0u, "P1 is not committed");
  /* The input from outside, in P1's uncommitted state. */
  uint32_t s = o_send(g, 1, to2, 1, false);
  w2[n2++] = s;
  for (int k = 0; k < 16 && g->nd[2].h->calls[s] == 0; k++)
    (void)sg_step(g, 0); /* P1's statuses travel too */
  cr_assert_eq(g->nd[2].h->calls[s], 1u, "P2 delivered it");
  cr_assert_eq(sg_stats(g, 0).rsn, 2u, "P0 has not crashed yet");
  sg_crash(g, 0);
  sg_open(g, 0);
  cr_assert_eq(sg_stats(g, 0).rsn, 1u, "P0 lost m's interval");
  sg_settle(g);
  mlog_proc_stats s1 = sg_stats(g, 1);
  cr_assert_eq(s1.rollbacks, 1u,
               "P1 rolled back the spontaneous send's "
               "state");
  cr_assert_geq(s1.rolled_back, 1u);
  cr_assert_eq(sg_stats(g, 2).rollbacks, 1u,
               "P2 depended on the lost interval through the send");
  cr_assert_eq(g->nd[2].h->calls[s], 2u,
               "the send ran as an orphan, then once more");
  o_check(g, 0, w0, n0);
  o_check(g, 1, w1, n1);
  o_check(g, 2, w2, n2);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* Determinism                                                              */

typedef struct outcome {
  mlog_proc_stats st[NP];
  uint64_t hash[NP], vtime;
} outcome;

/* A random workload with a crash in the middle, to convergence. */
static outcome run_random(uint64_t seed, const char *sub) {
  ogroup *g = o_new(4, seed, 1, 60, 0, sub);
  for (uint32_t i = 0; i < 4; i++)
    g->nd[i].cfg.flush_ms = 30 + 20 * i;
  g->nd[2].cfg.ckpt_every_deliveries = 3;
  sg_start(g);
  sg_settle(g);
  uint32_t crashed = NP, down_steps = 0;
  for (int j = 0; j < 30; j++) {
    uint32_t i = (uint32_t)(mlog_sim_random(g->sim) % 4);
    if (g->nd[i].p != NULL && g->next_id + 1 < HOP) {
      uint8_t route[3];
      size_t hops = 1 + mlog_sim_random(g->sim) % 3;
      uint32_t at = i;
      for (size_t k = 0; k < hops; k++) {
        uint32_t d = (uint32_t)(mlog_sim_random(g->sim) % 3);
        route[k] = (uint8_t)(d + (d >= at));
        at = route[k];
      }
      (void)o_send(g, i, route, hops, mlog_sim_random(g->sim) % 2);
    }
    for (uint64_t k = mlog_sim_random(g->sim) % 6; k > 0; k--) {
      uint32_t dst;
      if (mlog_sim_step(g->sim, &dst) != MLOG_OK) {
        mlog_sim_advance(g->sim, 10);
        break;
      }
      sg_poll(g, dst);
    }
    if (j == 12) {
      crashed = 1 + (uint32_t)(mlog_sim_random(g->sim) % 3);
      sg_crash(g, crashed);
      down_steps = 3;
    } else if (crashed < NP && g->nd[crashed].p == NULL && down_steps-- == 0) {
      sg_open(g, crashed);
    }
  }
  if (crashed < NP && g->nd[crashed].p == NULL)
    sg_open(g, crashed);
  sg_settle(g);
  outcome oc;
  memset(&oc, 0, sizeof oc);
  uint64_t total = 0;
  for (uint32_t i = 0; i < 4; i++) {
    oc.st[i] = sg_stats(g, i);
    oc.st[i].recovery_us = 0; /* wall-clock time */
    oc.hash[i] = g->nd[i].app.st.hash;
    cr_assert_eq(oc.st[i].committed_rsn, oc.st[i].rsn,
                 "seed %llu: process %u committed", (unsigned long long)seed,
                 i);
    total += oc.st[i].rsn;
    /* every forwarded message came from a surviving interval */
    for (uint32_t id = 0; id < MAXID; id++) {
      const prov *f = &g->nd[i].app.st.from[id];
      cr_assert_leq(g->nd[i].app.st.applied[id], 1,
                    "seed %llu: process %u applied %u twice",
                    (unsigned long long)seed, i, id);
      if (g->nd[i].app.st.applied[id] && f->inc != NOPROV)
        cr_assert(in_history(g, f->src, f->inc, f->rsn, f->trig),
                  "seed %llu: process %u holds an orphan message %u",
                  (unsigned long long)seed, i, id);
    }
    for (size_t k = 0; k < g->nd[i].h->nrel; k++) {
      const orel *r = &g->nd[i].h->rel[k];
      cr_assert(in_history(g, i, r->inc, r->rsn, r->id),
                "seed %llu: process %u released an output of a lost state",
                (unsigned long long)seed, i);
    }
  }
  /* every message sent reached the end of its route exactly once: each
   * delivery is one hop of one route */
  uint64_t hops_total = 0;
  for (uint32_t i = 0; i < 4; i++)
    for (uint32_t id = 0; id < MAXID; id++)
      hops_total += g->nd[i].app.st.applied[id];
  cr_assert_eq(hops_total, total);
  oc.vtime = mlog_sim_now(g->sim);
  sg_free(g);
  return oc;
}

static bool same_stats(const mlog_proc_stats *a, const mlog_proc_stats *b) {
  return a->incarnation == b->incarnation && a->rsn == b->rsn &&
         a->delivered == b->delivered && a->replayed == b->replayed &&
         a->duplicates == b->duplicates && a->checkpoints == b->checkpoints &&
         a->resent == b->resent && a->bad_frames == b->bad_frames &&
         a->outputs == b->outputs && a->recovered == b->recovered &&
         a->rollbacks == b->rollbacks && a->rolled_back == b->rolled_back &&
         a->orphans_discarded == b->orphans_discarded && a->held == b->held &&
         a->committed_rsn == b->committed_rsn &&
         a->interval_incarnation == b->interval_incarnation;
}

Test(optimistic, same_seed_same_run) {
  outcome a = run_random(11, "a"), b = run_random(11, "b");
  for (uint32_t i = 0; i < 4; i++) {
    cr_assert(same_stats(&a.st[i], &b.st[i]),
              "process %u: stats differ between two runs of one seed "
              "(rsn %llu/%llu, rollbacks %llu/%llu)",
              i, (unsigned long long)a.st[i].rsn,
              (unsigned long long)b.st[i].rsn,
              (unsigned long long)a.st[i].rollbacks,
              (unsigned long long)b.st[i].rollbacks);
    cr_assert_eq(a.hash[i], b.hash[i], "process %u: final states differ", i);
  }
  cr_assert_eq(a.vtime, b.vtime, "virtual time differs");
  uint64_t total = 0;
  for (uint32_t i = 0; i < 4; i++)
    total += a.st[i].rsn;
  cr_assert_gt(total, 0u, "the workload delivered something");
}

/* ------------------------------------------------------------------------ */
/* Regressions: bugs these tests found                                      */

/* BUG (HEAD 4e76afd): commit() returns early when neither control records
 * nor deliveries are pending, so the MARK of the last handlers that ran is
 * never appended (persist_optimistic relies on commit() to add it): the
 * last delivery of a burst never becomes stable, is never committed or
 * acknowledged, and its sender resends it forever. */
Test(optimistic, last_delivery_of_a_burst_becomes_stable) {
  ogroup *g = o_new(2, 8, 10, 10, 0, "g");
  g->nd[1].cfg.flush_ms = 5;
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1};
  uint32_t id = o_send(g, 0, to1, 1, true);
  cr_assert_eq(sg_step(g, 0), 1u);
  for (int k = 0; k < 40; k++) { /* 2 s: flushes and resends */
    mlog_sim_advance(g->sim, 50);
    uint32_t dst;
    while (mlog_sim_step(g->sim, &dst) == MLOG_OK)
      sg_poll(g, dst);
    sg_poll(g, 0);
    sg_poll(g, 1);
  }
  mlog_proc_stats s1 = sg_stats(g, 1);
  cr_assert_eq(s1.rsn, 1u);
  cr_assert_eq(s1.committed_rsn, 1u,
               "P1's only delivery depends on nothing but its own log, "
               "which it flushed: committed (got %llu)",
               (unsigned long long)s1.committed_rsn);
  cr_assert_eq(g->nd[1].app.outputs, 1u, "its output was released");
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "P0's message was acknowledged");
  cr_assert_eq(s1.duplicates, 0u, "and not resent (%llu duplicates)",
               (unsigned long long)s1.duplicates);
  cr_assert_eq(g->nd[1].h->calls[id], 1u);
  sg_free(g);
}

/* A process that crashes before its logger wrote anything (empty log) must
 * still start a new incarnation: its peers may depend on the intervals it
 * lost. Here P3 holds x, sent by P1 from interval (0,1) made by a; after
 * the restart b reaches P1 first. Were P1 still in incarnation 0, (0,1)
 * would name b's state, P3 would take it as stable, and the regenerated x
 * would be dropped as a duplicate: an orphan surviving for good. */
Test(optimistic, crash_with_an_empty_log_still_ends_the_incarnation) {
  ogroup *g = o_new(4, 9, 10, 10, 0, "g");
  sg_start(g);
  o_sync_flush(g);
  const uint8_t route[] = {1, 3}, to1[] = {1};
  uint32_t a = o_send(g, 0, route, 2, false);
  cr_assert_eq(sg_step(g, 0), 1u, "a reaches P1, which sends x");
  cr_assert_eq(sg_step(g, 0), 3u, "x reaches P3");
  cr_assert_eq(sg_stats(g, 3).rsn, 1u);
  sg_crash(g, 1);
  sg_open(g, 1);
  uint32_t b = o_send(g, 2, to1, 1, false); /* arrives before a's resend */
  sg_settle(g);
  mlog_proc_stats s1 = sg_stats(g, 1);
  cr_assert_geq(s1.incarnation, 1u,
                "P1 started a new incarnation after losing (0,1)");
  cr_assert_eq(g->nd[1].h->id_at[1], b, "b made P1's rsn 1 this time");
  cr_assert_eq(sg_stats(g, 3).rollbacks, 1u, "P3 was an orphan");
  uint32_t w1[] = {b, a}, w3[] = {a + HOP}, none[1];
  o_check(g, 1, w1, 2);
  o_check(g, 3, w3, 1);
  o_check(g, 0, none, 0);
  o_check(g, 2, none, 0);
  sg_free(g);
}

/* BUG: a rollback that cuts into intervals an earlier incarnation created.
 * P2 delivers m2 (depending on P1's unpersisted interval) and persists it;
 * P2 crashes and recovers: incarnation 1, its state still the interval
 * (0,1) (ends[0] = 1). Then P1 crashes and loses the interval: P2 must
 * roll back to rsn 0. mlogi_rollback ends incarnation 1 at 0, but the
 * record of (0,1) is not void by ends[0] alone, so replay runs it again
 * ("rollback replay reached rsn 1, not 0") and peers would not see (0,1)
 * as lost either (mlogi_view_lost only looks at ends[inc]). */
Test(optimistic, rollback_into_an_earlier_incarnation) {
  ogroup *g = o_new(3, 10, 10, 10, 0, "g");
  g->nd[2].cfg.flush_ms = 5;
  sg_start(g);
  const uint8_t to1[] = {1}, route[] = {1, 2};
  uint32_t w1[4], w2[4];
  size_t n1 = 0, n2 = 0;
  w1[n1++] = o_send(g, 0, to1, 1, false);
  o_sync_flush(g);
  uint32_t m = o_send(g, 0, route, 2, false);
  w1[n1++] = m;
  w2[n2++] = m + HOP;
  cr_assert_eq(sg_step(g, 0), 1u);
  cr_assert_eq(sg_step(g, 0), 2u, "P2 delivers m2 and persists it");
  sg_crash(g, 2);
  sg_open(g, 2);
  mlog_proc_stats s2 = sg_stats(g, 2);
  cr_assert_eq(s2.rsn, 1u, "P2 replayed m2");
  cr_assert_eq(s2.committed_rsn, 0u, "not committed: P1's interval");
  sg_crash(g, 1);
  sg_open(g, 1);
  cr_assert_eq(sg_stats(g, 1).rsn, 1u, "P1 lost m's interval");
  sg_settle(g);
  s2 = sg_stats(g, 2);
  cr_assert_eq(s2.rollbacks, 1u, "P2 rolled back (%llu)",
               (unsigned long long)s2.rollbacks);
  o_check(g, 1, w1, n1);
  o_check(g, 2, w2, n2);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* A sustained stream: checkpoints, and so garbage collection, keep up      */

#define STREAM_CKPT 256  /* deliveries per checkpoint */
#define STREAM_BURST 64  /* messages per credit */
#define STREAM_CREDITS 8 /* credits in flight */

typedef struct streamer {
  uint32_t id;
  uint64_t count;
} streamer;

/* P1 gives P0 a credit every STREAM_BURST deliveries; P0 answers each with
 * STREAM_BURST messages. P1 always holds deliveries whose senders' states
 * are not committed yet. */
static int st_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                      size_t len) {
  streamer *s = arg;
  (void)src;
  (void)msg;
  s->count++;
  if (s->id == 1)
    return s->count % STREAM_BURST == 0 ? mlog_send(p, 0, "c", 1) : MLOG_OK;
  uint8_t m[64] = {0};
  for (int i = 0; len == 1 && i < STREAM_BURST; i++) {
    int rc = mlog_send(p, 1, m, sizeof m);
    if (rc != MLOG_OK)
      return rc;
  }
  return len == 1 ? 0 : 1;
}

static int st_snapshot(void *arg, mlog_buf *out) {
  const streamer *s = arg;
  return mlog_buf_append(out, &s->count, sizeof s->count) == MLOG_OK ? 0 : 1;
}

static int st_restore(void *arg, const void *state, size_t len) {
  streamer *s = arg;
  s->count = 0;
  if (state != NULL && len == sizeof s->count)
    memcpy(&s->count, state, len);
  return state == NULL || len == sizeof s->count ? 0 : 1;
}

static const mlog_app st_app = {
    .deliver = st_deliver, .snapshot = st_snapshot, .restore = st_restore};

/* Under a steady stream a receiver's state is never committed at the end
 * of a poll; its due checkpoints wait for that while data frames are held
 * (at most half a resend timeout), so they are taken and the log is
 * collected. Without holding, the state was never committed at the end of
 * a poll: no checkpoint was taken, the uncommitted deliveries piled up and
 * this test ran out of time. */
/* Open the streaming pair on a new sim into *sim, p, app and sub. */
static void st_open(mlog_sim **sim, mlog_proc *p[2], streamer app[2],
                    char sub[2][96]) {
  mlog_sim_options so = {
      .seed = 5, .procs = 2, .min_delay_ms = 1, .max_delay_ms = 1};
  cr_assert_eq(mlog_sim_create(&so, sim), MLOG_OK);
  for (uint32_t i = 0; i < 2; i++) {
    app[i] = (streamer){.id = i};
    snprintf(sub[i], 96, "%s/s%u", dir, i);
    mlog_proc_config cfg = {.dirpath = sub[i],
                            .id = i,
                            .group_size = 2,
                            .protocol = "optimistic-receiver",
                            .transport = &mlog_sim_ops,
                            .transport_config = *sim,
                            .ckpt_every_deliveries = STREAM_CKPT};
    cr_assert_eq(mlog_proc_open(&cfg, &st_app, &app[i], &p[i]), MLOG_OK, "%s",
                 mlog_proc_errmsg(NULL));
  }
  for (int c = 0; c < STREAM_CREDITS; c++)
    cr_assert_eq(mlog_send(p[1], 0, "c", 1), MLOG_OK);
}

/* One ms of the stream: what is due moves, both poll (NULL: down). */
static void st_tick(mlog_sim *sim, mlog_proc *p[2]) {
  mlog_sim_advance(sim, 1);
  uint32_t dst;
  while (mlog_sim_step(sim, &dst) == MLOG_OK)
    if (p[dst] != NULL)
      cr_assert_geq(mlog_proc_poll(p[dst], 0), 0, "%s",
                    mlog_proc_errmsg(p[dst]));
  for (uint32_t i = 0; i < 2; i++)
    if (p[i] != NULL)
      cr_assert_geq(mlog_proc_poll(p[i], 0), 0, "%s", mlog_proc_errmsg(p[i]));
}

Test(optimistic, checkpoints_keep_up_with_a_stream) {
  mlog_sim *sim;
  streamer app[2];
  mlog_proc *p[2];
  char sub[2][96];
  st_open(&sim, p, app, sub);
  for (int t = 0; t < 4000 && app[1].count < 16 * STREAM_CKPT * 4; t++) {
    st_tick(sim, p);
    if (t % 8 == 0)
      usleep(1000); /* let the flusher threads persist (real time) */
  }
  mlog_proc_stats st;
  mlog_proc_get_stats(p[1], &st);
  uint64_t due = st.delivered / STREAM_CKPT;
  cr_assert_geq(st.delivered, 8u * STREAM_CKPT, "the stream ran (%llu)",
                (unsigned long long)st.delivered);
  cr_assert_geq(st.checkpoints * 2, due, "%llu checkpoints taken of %llu due",
                (unsigned long long)st.checkpoints, (unsigned long long)due);
  for (uint32_t i = 0; i < 2; i++)
    mlog_proc_close(p[i]);
  mlog_log *log;
  cr_assert_eq(mlog_log_open(sub[1], MLOG_LOG_RDONLY, NULL, &log), MLOG_OK);
  mlog_log_info info;
  cr_assert_eq(mlog_log_get_info(log, &info), MLOG_OK);
  cr_assert_lt(info.records, st.delivered / 2,
               "the log was collected: %llu records after %llu deliveries",
               (unsigned long long)info.records,
               (unsigned long long)st.delivered);
  mlog_log_close(log);
  mlog_sim_destroy(sim);
}

/* A sender that stops in the middle of the stream never announces its last
 * states stable: the receiver's due checkpoint cannot be taken. Its hold
 * gives up after half a resend timeout and every message the sender sent
 * is delivered all the same. */
Test(optimistic, a_hold_that_cannot_end_gives_up) {
  mlog_sim *sim;
  streamer app[2];
  mlog_proc *p[2];
  char sub[2][96];
  st_open(&sim, p, app, sub);
  bool held = false;
  for (int t = 0; t < 4000 && !held; t++) {
    st_tick(sim, p);
    held = p[1]->opt->held_n > 0;
  }
  cr_assert(held, "the receiver held frames for a checkpoint");
  uint64_t sent = app[0].count * STREAM_BURST;
  mlog_proc_close(p[0]); /* no status from it any more */
  p[0] = NULL;
  for (int t = 0; t < 500; t++)
    st_tick(sim, p);
  cr_assert_eq(app[1].count, sent, "delivered %llu of the %llu sent",
               (unsigned long long)app[1].count, (unsigned long long)sent);
  cr_assert_eq(p[1]->opt->held_n, 0u, "nothing is held for good");
  mlog_proc_close(p[1]);
  mlog_sim_destroy(sim);
}
