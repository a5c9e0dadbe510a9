/* test_sender.c - sender-based pessimistic logging (Johnson-Zwaenepoel)
 * under the sim transport: rsns, held sends, replay in rsn order, memory and
 * durable modes under single and concurrent failures */
#include <sodium.h>
#include <stddef.h>

#include "core/proc.h" /* only to look at a process's outbox */
#include "mlog/process.h"
#include "mlog/sim.h"
#include "test/testutil.h"

/*
 * Each test drives a small group step by step (as test_optimistic.c does):
 * a frame moves with mlog_sim_step and only its receiver is polled unless
 * it is held (its inbox keeps the frame until it is polled). A crash is
 * mlog_sim_crash + mlog_proc_close.
 *
 * The application applies every message to a state that counts each
 * message id and folds (sender, id) into an order-sensitive hash; a
 * handler forwards the message along its route (id + HOP per hop) and may
 * make an output. A history outside the state, kept across incarnations,
 * counts handler calls per id (replays included), records which id made
 * each rsn, and every output released. The checks: every hop of every
 * route applied exactly once in the final states, nothing else applied.
 *
 * The driver is test/simgroup.h; its filtering transport lets a test lose
 * the frames of one kind on one channel (an RSN that never arrives).
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
TestSuite(sender, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */
/* The application                                                          */

#define NP 4       /* processes, at most */
#define MAXID 256  /* message ids */
#define MAXR 1024  /* rsn per process */
#define MAXOUT 512 /* outputs per process */
#define HOP 64u    /* a forwarded message's id: the incoming one + HOP */
#define END 0xffu  /* end of a route */

typedef struct smsg {
  uint32_t id;
  uint32_t out;     /* each receiver makes an output */
  uint8_t route[8]; /* the next receivers, END-terminated */
} smsg;

/* The application state (snapshot = these bytes). */
typedef struct sstate {
  uint64_t hash, count;
  uint8_t applied[MAXID];
} sstate;

typedef struct shist {
  uint32_t calls[MAXID]; /* handler calls per id, replays included */
  uint32_t id_at[MAXR];  /* the id that made each rsn (last execution) */
  size_t nout;
  uint32_t out_id[MAXOUT]; /* outputs released, in order */
  uint64_t out_seq[MAXOUT];
} shist;

typedef struct sapp {
  sstate st;
  shist *h;
  uint64_t outputs; /* released to this incarnation */
} sapp;

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static int s_deliver(void *arg, mlog_proc *p, uint32_t src, const void *buf,
                     size_t len) {
  sapp *a = arg;
  smsg m;
  if (len != sizeof m)
    return 1;
  memcpy(&m, buf, sizeof m);
  if (m.id >= MAXID || src >= NP)
    return 2;
  mlog_proc_stats ps;
  mlog_proc_get_stats(p, &ps);
  if (ps.rsn == 0 || ps.rsn >= MAXR)
    return 3;
  a->h->calls[m.id]++;
  a->h->id_at[ps.rsn] = m.id;
  a->st.applied[m.id]++;
  a->st.hash = mix(mix(a->st.hash, src), m.id);
  a->st.count++;
  if (m.out && mlog_output(p, &m.id, sizeof m.id) != MLOG_OK)
    return 4;
  if (m.route[0] != END) {
    smsg f = m;
    f.id = m.id + HOP;
    memmove(f.route, m.route + 1, sizeof f.route - 1);
    f.route[sizeof f.route - 1] = END;
    if (f.id >= MAXID || mlog_send(p, m.route[0], &f, sizeof f) != MLOG_OK)
      return 5;
  }
  return 0;
}

static int s_snapshot(void *arg, mlog_buf *out) {
  sapp *a = arg;
  return mlog_buf_append(out, &a->st, sizeof a->st) == MLOG_OK ? 0 : 1;
}

static int s_restore(void *arg, const void *state, size_t len) {
  sapp *a = arg;
  if (state == NULL) {
    memset(&a->st, 0, sizeof a->st);
    return len == 0 ? 0 : 1;
  }
  if (len != sizeof a->st)
    return 1;
  memcpy(&a->st, state, sizeof a->st);
  return 0;
}

static void s_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  sapp *a = arg;
  shist *h = a->h;
  a->outputs++;
  if (h->nout >= MAXOUT || len != sizeof(uint32_t))
    return;
  memcpy(&h->out_id[h->nout], buf, sizeof(uint32_t));
  h->out_seq[h->nout++] = seq;
}

static const mlog_app s_callbacks = {.deliver = s_deliver,
                                     .snapshot = s_snapshot,
                                     .restore = s_restore,
                                     .output = s_output};

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

#define SG_NODE_EXTRA                                                          \
  sapp app;                                                                    \
  shist *h;
#define SG_GROUP_EXTRA                                                         \
  uint32_t next_id;                                                            \
  uint8_t route[HOP][8]; /* every spontaneous message's receivers */           \
  uint8_t hops[HOP];
#include "test/simgroup.h"

typedef sg_group sgroup;

#define DURABLE MLOG_PROC_SENDER_DURABLE

static void release_all(void) {
  sg_release_all();
}

static void *s_prepare(sg_group *g, uint32_t i, mlog_proc_config *cfg) {
  sg_node *nd = &g->nd[i];
  (void)cfg;
  memset(&nd->app, 0, sizeof nd->app);
  memset(&nd->app.st, 0xa5, sizeof nd->app.st); /* garbage until restore */
  nd->app.h = nd->h;
  return &nd->app;
}

static void s_release(sg_group *g, uint32_t i) {
  free(g->nd[i].h);
  g->nd[i].h = NULL;
}

/* A group of n on a sim with delays min..max ms (min == max: fixed, so
 * that the order of arrivals follows the order of sends). */
static sgroup *s_new(uint32_t n, uint64_t seed, uint32_t min_delay,
                     uint32_t max_delay, unsigned extra_flags,
                     const char *sub) {
  sg_options o = {.n = n,
                  .seed = seed,
                  .min_delay = min_delay,
                  .max_delay = max_delay,
                  .flags = SG_FLAGS | extra_flags};
  sg_hooks hooks = {.protocol = "pessimistic-sender",
                    .callbacks = &s_callbacks,
                    .prepare = s_prepare,
                    .release = s_release};
  sgroup *g = sg_new(dir, sub, &o, &hooks);
  for (uint32_t i = 0; i < n; i++) {
    g->nd[i].h = calloc(1, sizeof(shist));
    cr_assert_not_null(g->nd[i].h);
  }
  return g;
}

/* A message from i (outside any handler) to route[0], then route[1]... */
static uint32_t s_send(sgroup *g, uint32_t i, const uint8_t *route, size_t hops,
                       bool out) {
  cr_assert(hops >= 1 && hops <= 3);
  smsg m = {.id = ++g->next_id, .out = out};
  cr_assert_lt(m.id, HOP, "base ids stay below HOP");
  memset(m.route, END, sizeof m.route);
  memcpy(m.route, route + 1, hops - 1);
  int rc = mlog_send(g->nd[i].p, route[0], &m, sizeof m);
  cr_assert_eq(rc, MLOG_OK, "send %u -> %u: %s: %s", i, route[0],
               mlog_errname(rc), mlog_proc_errmsg(g->nd[i].p));
  memcpy(g->route[m.id], route, hops);
  g->hops[m.id] = (uint8_t)hops;
  return m.id;
}

/* Messages process i keeps in its sender db (its log, opened read-only
 * while the process is down). */
static uint64_t kept_on_disk(sgroup *g, uint32_t i) {
  cr_assert_null(g->nd[i].p, "process %u is down", i);
  mlog_log *log;
  int rc = mlog_log_open(g->nd[i].dir, MLOG_LOG_RDONLY, NULL, &log);
  cr_assert_eq(rc, MLOG_OK, "open %s read-only: %s", g->nd[i].dir,
               mlog_log_errmsg(NULL));
  mlog_log_info info;
  rc = mlog_log_get_info(log, &info);
  mlog_log_close(log);
  cr_assert_eq(rc, MLOG_OK);
  return info.sender_payloads;
}

/* Process i applied exactly the ids in want[] (each once) and nothing
 * else; its rsn counts them. */
static void s_check(sgroup *g, uint32_t i, const uint32_t *want, size_t nwant) {
  sg_node *nd = &g->nd[i];
  mlog_proc_stats st = sg_stats(g, i);
  cr_assert(!st.recovering, "process %u still recovering", i);
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
}

/* Every hop of every route sent so far was applied exactly once at its
 * process, nothing else anywhere. */
static void s_check_all(sgroup *g) {
  for (uint32_t i = 0; i < g->n; i++) {
    uint32_t want[MAXID];
    size_t n = 0;
    for (uint32_t id = 1; id <= g->next_id; id++)
      for (uint32_t k = 0; k < g->hops[id]; k++)
        if (g->route[id][k] == i)
          want[n++] = id + k * HOP;
    s_check(g, i, want, n);
  }
}

/* Every output process i released: once each, seqs 1, 2, ... */
static void s_check_outputs(sgroup *g, uint32_t i, uint64_t expected) {
  const shist *h = g->nd[i].h;
  cr_assert_eq(h->nout, expected,
               "process %u released %zu outputs, %llu "
               "expected",
               i, h->nout, (unsigned long long)expected);
  for (size_t k = 0; k < h->nout; k++)
    cr_assert_eq(h->out_seq[k], k + 1, "process %u: output %zu has seq %llu", i,
                 k, (unsigned long long)h->out_seq[k]);
}

/* ------------------------------------------------------------------------ */
/* 1. A crash between rsn assignment and acknowledgement                    */

/* The RSN frame is in flight (in P0's inbox, not taken) when P1 crashes:
 * P1's forward and output never left. P0 records the rsn afterwards (the
 * frame comes before P1's replay request on the FIFO channel), so the
 * message comes back with it: replayed at rsn 1, and the forward leaves
 * once, from the new incarnation. */
Test(sender, crash_before_rsn_ack_rsn_in_flight) {
  sgroup *g = s_new(3, 1, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t via1to2[] = {1, 2};
  uint32_t m = s_send(g, 0, via1to2, 2, true);
  cr_assert_eq(sg_step(g, 0), 1u, "m reaches P1");
  cr_assert_eq(sg_stats(g, 1).rsn, 1u, "P1 delivered m (rsn 1)");
  cr_assert_eq(g->nd[1].h->calls[m], 1u);
  cr_assert_eq(sg_outbox(g, 1, 2), 1u, "P1's forward is queued");
  cr_assert_eq(sg_outbox_sent(g, 1, 2), 0u, "... and held");
  cr_assert_eq(sg_step(g, 1u << 0), 0u, "the RSN frame waits in P0's inbox");
  /* 1 s: P1 resends its RSN (to P0's inbox); P2 is polled throughout. */
  sg_run(g, 1u << 0, 1000);
  cr_assert_eq(sg_stats(g, 2).rsn, 0u,
               "P2 received nothing while the RSN_ACK was withheld");
  cr_assert_eq(g->nd[2].h->calls[m + HOP], 0u);
  cr_assert_eq(sg_outbox_sent(g, 1, 2), 0u, "the forward never left");
  cr_assert_eq(g->nd[1].app.outputs, 0u, "the output was not released");
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "P0 keeps m");
  cr_assert_eq(g->nd[0].p->ch[1].out_head->rsn, 0u,
               "P0 has not recorded m's rsn");
  sg_crash(g, 1);
  sg_open(g, 1);
  mlog_proc_stats st = sg_stats(g, 1);
  cr_assert(st.recovered);
  cr_assert(st.recovering, "P1 waits for its peers' answers");
  const uint8_t to0[] = {0};
  smsg x = {.id = 99};
  memset(x.route, END, sizeof x.route);
  cr_assert_eq(mlog_send(g->nd[1].p, to0[0], &x, sizeof x), MLOG_EAGAIN,
               "a send outside the handler waits for the recovery");
  sg_settle(g);
  st = sg_stats(g, 1);
  cr_assert(!st.recovering);
  cr_assert_eq(st.incarnation, 1u, "a new incarnation");
  cr_assert_eq(st.recovered_rsn, 1u);
  cr_assert_eq(st.delivered, 0u, "nothing delivered anew");
  cr_assert_eq(g->nd[1].h->calls[m], 2u,
               "m ran before the crash and in "
               "replay");
  cr_assert_eq(g->nd[2].h->calls[m + HOP], 1u, "the forward ran once at P2");
  cr_assert_eq(sg_stats(g, 2).duplicates, 0u, "and was sent once");
  s_check_all(g);
  s_check_outputs(g, 1, 1);
  s_check_outputs(g, 2, 1);
  /* BUG (d6ab921): with no checkpoint and an empty own log (the receiver
   * logged nothing), mlogi_replay never runs, p->replay stays NULL, and
   * the deliveries finish_recovery replays are not counted in
   * stats.replayed (0 here). Checked last so the checks above still run. */
  cr_assert_eq(st.replayed, 1u,
               "m came back with rsn 1 and was replayed (replayed %llu, "
               "delivered %llu, rsn %llu)",
               (unsigned long long)st.replayed,
               (unsigned long long)st.delivered, (unsigned long long)st.rsn);
  sg_free(g);
}

/* The RSN frame of rsn 1 is lost for good, a later delivery (rsn 2, from
 * P2) is acknowledged: nothing after rsn 1 left, recovery replays nothing
 * (gap at 1), ends the incarnation at 0 and delivers both anew. */
Test(sender, crash_before_rsn_ack_rsn_lost_later_one_acked) {
  sgroup *g = s_new(3, 2, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  sg_rule *rule = sg_drop(g, 1, 0, MLOGI_FRAME_RSN);
  const uint8_t via1to2[] = {1, 2}, via1to0[] = {1, 0};
  uint32_t a = s_send(g, 0, via1to2, 2, true);
  cr_assert_eq(sg_step(g, 0), 1u, "a reaches P1 (rsn 1); its RSN is lost");
  cr_assert_eq(mlog_sim_pending(g->sim), 0u);
  uint32_t b = s_send(g, 2, via1to0, 2, true);
  cr_assert_eq(sg_step(g, 0), 1u, "b reaches P1 (rsn 2)");
  cr_assert_eq(sg_step(g, 0), 2u, "b's RSN reaches P2, which records it");
  cr_assert_eq(g->nd[2].p->ch[1].out_head->rsn, 2u);
  cr_assert_eq(sg_step(g, 0), 1u, "the RSN_ACK of rsn 2 reaches P1");
  sg_run(g, 0, 1000); /* resends of rsn 1's RSN are lost too */
  cr_assert_geq(rule->hits, 2u, "rsn 1's RSN was sent and resent");
  cr_assert_eq(sg_stats(g, 1).rsn, 2u);
  cr_assert_eq(sg_outbox_sent(g, 1, 2) + sg_outbox_sent(g, 1, 0), 0u,
               "both forwards held: rsn 1 is not acknowledged");
  cr_assert_eq(sg_outbox(g, 1, 2) + sg_outbox(g, 1, 0), 2u);
  cr_assert_eq(g->nd[1].app.outputs, 0u, "no output released");
  cr_assert_eq(sg_stats(g, 0).rsn + sg_stats(g, 2).rsn, 0u,
               "nobody received anything from P1");
  sg_crash(g, 1);
  rule->on = false;
  sg_open(g, 1);
  sg_settle(g);
  mlog_proc_stats st = sg_stats(g, 1);
  cr_assert_eq(st.replayed, 0u, "no delivery replayed: rsn 1 has none");
  cr_assert_eq(st.recovered_rsn, 0u, "the incarnation ended at 0");
  cr_assert_eq(st.delivered, 2u, "a and b delivered anew");
  cr_assert_eq(st.incarnation, 1u);
  cr_assert_eq(g->nd[1].h->calls[a], 2u);
  cr_assert_eq(g->nd[1].h->calls[b], 2u);
  cr_assert_eq(g->nd[2].h->calls[a + HOP], 1u);
  cr_assert_eq(g->nd[0].h->calls[b + HOP], 1u);
  s_check_all(g);
  s_check_outputs(g, 1, 2);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 2. Sends and outputs wait until every earlier rsn is acknowledged        */

Test(sender, handler_send_held_until_rsn_acknowledged) {
  sgroup *g = s_new(4, 3, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1}, via1to3[] = {1, 3};
  uint32_t a = s_send(g, 0, to1, 1, false);
  cr_assert_eq(sg_step(g, 0), 1u, "a reaches P1 (rsn 1)");
  cr_assert_eq(sg_step(g, 1u << 0), 0u, "a's RSN waits in P0's inbox");
  uint32_t b = s_send(g, 2, via1to3, 2, true);
  cr_assert_eq(sg_step(g, 1u << 0), 1u, "b reaches P1 (rsn 2)");
  cr_assert_eq(sg_stats(g, 1).rsn, 2u);
  cr_assert_eq(sg_outbox(g, 1, 3), 1u, "b's forward is queued");
  cr_assert_eq(sg_step(g, 1u << 0), 2u, "b's RSN reaches P2");
  cr_assert_eq(sg_step(g, 1u << 0), 1u, "its RSN_ACK reaches P1");
  /* rsn 2 is acknowledged, rsn 1 is not: nothing leaves. */
  sg_run(g, 1u << 0, 1000);
  cr_assert_eq(sg_outbox_sent(g, 1, 3), 0u,
               "the forward waits for rsn 1's acknowledgement");
  cr_assert_eq(g->nd[1].app.outputs, 0u, "so does the output");
  cr_assert_eq(sg_stats(g, 3).rsn, 0u, "P3 received nothing");
  /* P0 takes the RSN (and its resends), acknowledges. */
  sg_poll(g, 0);
  cr_assert_eq(g->nd[0].p->ch[1].out_head->rsn, 1u, "P0 recorded rsn 1");
  cr_assert_eq(sg_outbox_sent(g, 1, 3), 0u);
  unsigned k = 0;
  while (sg_step(g, 0) != 1u)
    cr_assert_lt(++k, 8u, "an RSN_ACK reaches P1");
  cr_assert_eq(sg_outbox_sent(g, 1, 3), 1u,
               "the forward left in the poll that took the RSN_ACK");
  cr_assert_eq(g->nd[1].app.outputs, 1u, "and the output was released");
  while (g->nd[3].h->calls[b + HOP] == 0) {
    cr_assert_lt(++k, 16u, "the forward reaches P3");
    (void)sg_step(g, 0);
  }
  sg_settle(g);
  s_check_all(g);
  cr_assert_eq(g->nd[1].h->calls[a], 1u);
  s_check_outputs(g, 1, 1);
  s_check_outputs(g, 3, 1);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 3. Replay in rsn order                                                   */

Test(sender, replay_follows_rsn_order) {
  sgroup *g = s_new(3, 6, 1, 30, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to2[] = {2}, via2to0[] = {2, 0}, via2to1[] = {2, 1};
  for (int k = 0; k < 6; k++) {
    s_send(g, 0, k % 3 == 0 ? via2to1 : to2, k % 3 == 0 ? 2 : 1, k % 2);
    s_send(g, 1, k % 3 == 1 ? via2to0 : to2, k % 3 == 1 ? 2 : 1, k % 2);
  }
  sg_settle(g);
  mlog_proc_stats before = sg_stats(g, 2);
  cr_assert_eq(before.rsn, 12u);
  cr_assert_eq(before.checkpoints, 0u, "no checkpoint at P2");
  sstate st_before = g->nd[2].app.st;
  uint32_t order[13];
  memcpy(order, g->nd[2].h->id_at, sizeof order);
  /* The arrivals interleave the two senders (else the order is trivial). */
  unsigned changes = 0; /* P0 sends the odd ids, P1 the even ones */
  for (int r = 2; r <= 12; r++)
    changes += (order[r] % 2) != (order[r - 1] % 2);
  bool interleaved = changes >= 3;
  cr_assert(interleaved,
            "the seed interleaves P0's and P1's messages: %u %u %u %u %u %u "
            "%u %u %u %u %u %u",
            order[1], order[2], order[3], order[4], order[5], order[6],
            order[7], order[8], order[9], order[10], order[11], order[12]);
  uint64_t out_before = g->nd[2].app.outputs;
  sg_crash(g, 2);
  sg_open(g, 2);
  mlog_proc_stats st = sg_stats(g, 2);
  cr_assert(st.recovering);
  cr_assert_eq(st.rsns_lost, 2u, "memory mode: P2 lost what its peers need");
  sg_settle(g);
  st = sg_stats(g, 2);
  cr_assert_eq(st.replayed, 12u, "every delivery replayed");
  cr_assert_eq(st.delivered, 0u, "none delivered anew");
  cr_assert_eq(st.recovered_rsn, before.rsn);
  cr_assert_eq(st.rsn, before.rsn);
  cr_assert_eq(st.incarnation, 1u);
  cr_assert_eq(st.rsns_lost, 0u, "its receivers checkpointed");
  cr_assert_eq(g->nd[2].app.st.hash, st_before.hash,
               "the order-sensitive hash is the one before the crash");
  cr_assert_eq(memcmp(&g->nd[2].app.st, &st_before, sizeof st_before), 0);
  cr_assert_eq(memcmp(g->nd[2].h->id_at, order, sizeof order), 0,
               "each rsn was made by the same message again");
  cr_assert_eq(g->nd[2].app.outputs, 0u, "the outputs stay released");
  s_check_outputs(g, 2, out_before);
  s_check_all(g);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 4. Memory mode: concurrent failures are refused, single ones recover     */

Test(sender, memory_mode_sender_and_receiver_fail_together) {
  sgroup *g = s_new(2, 5, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1};
  uint32_t m = s_send(g, 0, to1, 1, false);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).rsn, 1u);
  cr_assert_eq(g->nd[0].p->ch[1].out_head->rsn, 1u,
               "P0 holds m's rsn (in memory only)");
  cr_assert_eq(sg_stats(g, 0).checkpoints, 0u);
  sg_crash(g, 0);
  sg_crash(g, 1);
  sg_open(g, 0);
  sg_open(g, 1);
  cr_assert_eq(sg_stats(g, 0).rsns_lost, 1u, "P0 lost the rsns it gave P1");
  int rc1 = 0, rc0 = 0;
  for (int r = 0; r < 200 && rc1 >= 0; r++) {
    uint32_t dst;
    while (rc1 >= 0 && mlog_sim_step(g->sim, &dst) == MLOG_OK) {
      int rc = mlog_proc_poll(g->nd[dst].p, 0);
      if (dst == 1)
        rc1 = rc;
      else if (rc0 >= 0)
        rc0 = rc;
    }
    mlog_sim_advance(g->sim, 50);
    if (rc1 >= 0)
      rc1 = mlog_proc_poll(g->nd[1].p, 0);
    if (rc0 >= 0)
      rc0 = mlog_proc_poll(g->nd[0].p, 0);
  }
  cr_assert_eq(rc1, -MLOG_EGONE, "P1's recovery fails with EGONE (got %s)",
               rc1 < 0 ? mlog_errname(-rc1) : "no failure");
  const char *msg = mlog_proc_errmsg(g->nd[1].p);
  cr_assert_not_null(strstr(msg, "process 0 "),
                     "the message names process 0: %s", msg);
  cr_assert_eq(g->nd[1].h->calls[m], 1u,
               "P1 never ran m again (nothing replayed silently)");
  cr_assert_eq(sg_stats(g, 1).replayed, 0u);
  cr_assert_eq(sg_stats(g, 1).delivered, 0u);
  cr_assert(rc0 == -MLOG_EGONE || sg_stats(g, 0).recovering,
            "P0 did not complete a recovery with P1 failed (%s)",
            rc0 < 0 ? mlog_errname(-rc0) : "ok");
  sg_free(g);
}

Test(sender, memory_mode_one_failure_at_a_time) {
  sgroup *g = s_new(2, 6, 10, 10, 0, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1};
  uint32_t m1 = s_send(g, 0, to1, 1, true);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).rsn, 1u);
  sg_crash(g, 0);
  sg_open(g, 0);
  mlog_proc_stats s0 = sg_stats(g, 0);
  cr_assert(s0.recovering);
  cr_assert_eq(s0.rsns_lost, 1u, "P0 lost m1's rsn");
  sg_settle(g);
  s0 = sg_stats(g, 0);
  cr_assert(!s0.recovering);
  cr_assert_eq(s0.rsns_lost, 0u, "P1 checkpointed on P0's request");
  cr_assert_geq(sg_stats(g, 1).checkpoints, 1u);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "P1's checkpoint covers m1");
  uint32_t m2 = s_send(g, 0, to1, 1, true);
  sg_settle(g);
  cr_assert_eq(g->nd[0].p->ch[1].out_head->rsn, 2u, "P0 keeps m2, rsn 2");
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_settle(g);
  mlog_proc_stats s1 = sg_stats(g, 1);
  cr_assert(s1.recovered);
  cr_assert_eq(s1.replayed, 1u, "m2 replayed from P0's memory");
  cr_assert_eq(s1.recovered_rsn, 2u);
  cr_assert_eq(g->nd[1].h->calls[m1], 1u, "m1 is in P1's checkpoint");
  cr_assert_eq(g->nd[1].h->calls[m2], 2u);
  s_check_all(g);
  s_check_outputs(g, 1, 2);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 5. Durable mode survives concurrent failures                             */

Test(sender, durable_mode_sender_and_receiver_fail_together) {
  sgroup *g = s_new(3, 7, 10, 10, DURABLE, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t via1to2[] = {1, 2}, to1[] = {1};
  uint32_t m1 = s_send(g, 0, via1to2, 2, true);
  uint32_t m2 = s_send(g, 0, to1, 1, false);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).rsn, 2u);
  cr_assert_eq(sg_stats(g, 2).rsn, 1u);
  cr_assert_eq(sg_outbox(g, 0, 1), 2u, "P0 keeps m1 and m2");
  sg_crash(g, 0);
  sg_crash(g, 1);
  cr_assert_eq(kept_on_disk(g, 0), 2u, "P0's sender db keeps m1 and m2");
  cr_assert_eq(kept_on_disk(g, 1), 1u, "P1's keeps the forward");
  sg_open(g, 0);
  sg_open(g, 1);
  cr_assert_eq(sg_stats(g, 0).rsns_lost, 0u, "durable: nothing lost");
  sg_settle(g);
  mlog_proc_stats s1 = sg_stats(g, 1), s0 = sg_stats(g, 0);
  cr_assert(s0.recovered && s1.recovered);
  cr_assert_eq(s1.replayed, 2u, "m1 and m2 replayed from P0's sender db");
  cr_assert_eq(s1.recovered_rsn, 2u);
  cr_assert_eq(s1.delivered, 0u);
  cr_assert_eq(g->nd[1].h->calls[m1], 2u);
  cr_assert_eq(g->nd[1].h->calls[m2], 2u);
  cr_assert_eq(g->nd[2].h->calls[m1 + HOP], 1u);
  s_check_all(g);
  s_check_outputs(g, 1, 1);
  s_check_outputs(g, 2, 1);
  /* The receivers' checkpoints cover the kept messages: dropped. */
  cr_assert_eq(sg_outbox(g, 0, 1), 2u);
  cr_assert_eq(mlog_checkpoint(g->nd[1].p), MLOG_OK, "%s",
               mlog_proc_errmsg(g->nd[1].p));
  cr_assert_eq(mlog_checkpoint(g->nd[2].p), MLOG_OK, "%s",
               mlog_proc_errmsg(g->nd[2].p));
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "P0's outbox is empty");
  cr_assert_eq(sg_outbox(g, 1, 2), 0u, "P1's outbox is empty");
  sg_crash(g, 0);
  sg_crash(g, 1);
  cr_assert_eq(kept_on_disk(g, 0), 0u, "P0's sender db dropped them");
  cr_assert_eq(kept_on_disk(g, 1), 0u, "P1's too");
  sg_open(g, 0);
  sg_open(g, 1);
  sg_settle(g);
  s_check_all(g);
  cr_assert_eq(g->nd[1].h->calls[m1], 2u, "the checkpoint covers m1");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 6. Determinism                                                           */

typedef struct outcome {
  mlog_proc_stats st[NP];
  uint64_t hash[NP], vtime;
} outcome;

/* A random workload with crashes in the middle (memory mode: one process;
 * durable: two together), to convergence. */
static outcome run_random(uint64_t seed, bool durable, const char *sub) {
  sgroup *g = s_new(4, seed, 1, 60, durable ? DURABLE : 0, sub);
  sg_start(g);
  sg_settle(g);
  uint32_t down[2] = {NP, NP};
  uint32_t down_steps = 0;
  for (int j = 0; j < 40; j++) {
    uint32_t i = (uint32_t)(mlog_sim_random(g->sim) % 4);
    mlog_proc_stats st;
    if (g->nd[i].p)
      mlog_proc_get_stats(g->nd[i].p, &st);
    if (g->nd[i].p != NULL && !st.recovering && g->next_id + 1 < HOP) {
      uint8_t route[3];
      size_t hops = 1 + mlog_sim_random(g->sim) % 3;
      uint32_t at = i;
      for (size_t k = 0; k < hops; k++) {
        uint32_t d = (uint32_t)(mlog_sim_random(g->sim) % 3);
        route[k] = (uint8_t)(d + (d >= at));
        at = route[k];
      }
      (void)s_send(g, i, route, hops, mlog_sim_random(g->sim) % 2);
    }
    for (uint64_t k = mlog_sim_random(g->sim) % 6; k > 0; k--) {
      uint32_t dst;
      if (mlog_sim_step(g->sim, &dst) != MLOG_OK) {
        mlog_sim_advance(g->sim, 10);
        break;
      }
      sg_poll(g, dst);
    }
    if (j == 15) {
      down[0] = (uint32_t)(mlog_sim_random(g->sim) % 4);
      if (durable)
        down[1] = (down[0] + 1 + (uint32_t)(mlog_sim_random(g->sim) % 3)) % 4;
      for (int k = 0; k < 2; k++)
        if (down[k] < NP)
          sg_crash(g, down[k]);
      down_steps = 3;
    } else if (down[0] < NP && g->nd[down[0]].p == NULL && down_steps-- == 0) {
      for (int k = 0; k < 2; k++)
        if (down[k] < NP)
          sg_open(g, down[k]);
    }
  }
  for (int k = 0; k < 2; k++)
    if (down[k] < NP && g->nd[down[k]].p == NULL)
      sg_open(g, down[k]);
  sg_settle(g);
  s_check_all(g);
  outcome oc;
  memset(&oc, 0, sizeof oc);
  for (uint32_t i = 0; i < 4; i++) {
    oc.st[i] = sg_stats(g, i);
    oc.st[i].recovery_us = 0; /* wall-clock time */
    oc.hash[i] = g->nd[i].app.st.hash;
  }
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
         a->committed_rsn == b->committed_rsn &&
         a->interval_incarnation == b->interval_incarnation &&
         a->recovered_rsn == b->recovered_rsn &&
         a->recovering == b->recovering && a->rsns_lost == b->rsns_lost;
}

static void same_seed(uint64_t seed, bool durable) {
  outcome a = run_random(seed, durable, durable ? "da" : "ma");
  outcome b = run_random(seed, durable, durable ? "db" : "mb");
  uint64_t total = 0, recovered = 0;
  for (uint32_t i = 0; i < 4; i++) {
    cr_assert(same_stats(&a.st[i], &b.st[i]),
              "%s, process %u: stats differ between two runs of one seed "
              "(rsn %llu/%llu, resent %llu/%llu)",
              durable ? "durable" : "memory", i,
              (unsigned long long)a.st[i].rsn, (unsigned long long)b.st[i].rsn,
              (unsigned long long)a.st[i].resent,
              (unsigned long long)b.st[i].resent);
    cr_assert_eq(a.hash[i], b.hash[i], "process %u: final states differ", i);
    total += a.st[i].rsn;
    recovered += a.st[i].recovered;
  }
  cr_assert_eq(a.vtime, b.vtime, "virtual time differs");
  cr_assert_gt(total, 0u, "the workload delivered something");
  cr_assert_eq(recovered, durable ? 2u : 1u,
               "the crashed processes "
               "recovered");
}

Test(sender, same_seed_same_run_memory) {
  same_seed(11, false);
}

Test(sender, same_seed_same_run_durable) {
  same_seed(12, true);
}

/* ------------------------------------------------------------------------ */
/* Regressions                                                              */

/* Regression (bug at d6ab921, fixed by 59c08ec). Outbox order of a
 * restarted durable sender. P0 sent m1 (acknowledged by
 * P1's checkpoint: dropped from P0's sender db) and then m2 (kept, rsn 2);
 * P0 crashes without a checkpoint. Its recovery puts the kept m2 in the
 * outbox first (mlog_log_scan_sent), then replay regenerates the logged
 * send m1 (ssn 1 > acked 0, not kept) and appends it *after* m2. The outbox
 * is no longer in ssn order: prune_outbox stops at m2, so m1 stays forever
 * (resent every timeout, P1 counts duplicates), and a replay answer to P1
 * carries m1, which P1 drops as already covered (ssn <= its recv_mark):
 * the count never matches and P1's recovery asks again forever. */
Test(sender, durable_sender_restart_keeps_outbox_in_ssn_order) {
  sgroup *g = s_new(2, 13, 10, 10, DURABLE, "g");
  sg_start(g);
  sg_settle(g);
  const uint8_t to1[] = {1};
  uint32_t m1 = s_send(g, 0, to1, 1, false);
  sg_settle(g);
  cr_assert_eq(mlog_checkpoint(g->nd[1].p), MLOG_OK);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "P1's checkpoint covers m1");
  uint32_t m2 = s_send(g, 0, to1, 1, false);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "P0 keeps m2");
  sg_crash(g, 0);
  cr_assert_eq(kept_on_disk(g, 0), 1u, "m2 is in P0's sender db");
  sg_open(g, 0);
  sg_run(g, 0, 2000);
  cr_assert(!sg_stats(g, 0).recovering, "P0 recovered");
  uint64_t prev = 0;
  for (const outmsg *m = g->nd[0].p->ch[1].out_head; m; m = m->next) {
    cr_assert_gt(m->ssn, prev,
                 "P0's outbox to P1 is in ssn order (ssn "
                 "%llu after %llu)",
                 (unsigned long long)m->ssn, (unsigned long long)prev);
    prev = m->ssn;
  }
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "only m2 is kept (m1 is covered)");
  cr_assert_lt(sg_stats(g, 1).duplicates, 4u,
               "m1 is not resent for ever (%llu duplicates at P1)",
               (unsigned long long)sg_stats(g, 1).duplicates);
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_run(g, 0, 3000);
  cr_assert(!sg_stats(g, 1).recovering, "P1's recovery completed");
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).replayed, 1u, "m2 replayed");
  cr_assert_eq(g->nd[1].h->calls[m1], 1u);
  cr_assert_eq(g->nd[1].h->calls[m2], 2u);
  s_check_all(g);
  sg_free(g);
}
