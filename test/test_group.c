/* test_group.c - the checkpoint-only protocols under the sim transport:
 * Chandy-Lamport snapshots (coordinated), the recovery line of independent
 * checkpoints (none), and the rollback rounds of the group */
#include <sodium.h>

#include "test/testutil.h"

/*
 * The application moves amounts between processes: a message carries an
 * amount that the receiver adds to its balance, and it may be passed on at
 * once (`pass` more hops along the ring) or make an output. With one unit
 * in the whole group it is a token ring: the balance is the has-token flag.
 * The driver sends from outside the handler (t_send), which takes the
 * amount from the sender's balance.
 *
 * The checks read what the logs hold (mlogi_snap_load, mlogi_state_peek):
 * the recorded balances and the messages of the channel states of each
 * snapshot, which must add up to the money of the group; and the counters
 * of the rollback rounds.
 */

typedef struct tstate { /* the application state (snapshot = these bytes) */
  int64_t balance;
  uint64_t count; /* deliveries */
} tstate;

typedef struct tmsg {
  int64_t amount;
  uint32_t pass; /* hops the receivers' handlers pass it on */
  uint32_t out;  /* the first receiver makes an output */
} tmsg;

typedef struct tapp {
  tstate st;
  uint32_t id, n;
  struct sg_node *nd;
} tapp;

#define SG_NODE_EXTRA                                                          \
  tapp app;                                                                    \
  int64_t opening;   /* the initial balance */                                 \
  uint64_t released; /* outputs released, every incarnation */                 \
  uint64_t last_seq; /* the seq of the last one */
#include "test/simgroup.h"

static char dir[64];

static void setup(void) {
  cr_assert_geq(sodium_init(), 0);
  tu_mkdtemp(dir, sizeof dir);
}

static void teardown(void) {
  sg_release_all();
  tu_rmtree(dir);
}

/* One timeout for every test (see test_log.c). */
TestSuite(group, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* The application                                                          */

static int t_deliver(void *arg, mlog_proc *p, uint32_t src, const void *buf,
                     size_t len) {
  tapp *a = arg;
  tmsg m;
  (void)src;
  if (len != sizeof m)
    return 1;
  memcpy(&m, buf, sizeof m);
  a->st.balance += m.amount;
  a->st.count++;
  if (m.out && mlog_output(p, &m.amount, sizeof m.amount) != MLOG_OK)
    return 2;
  if (m.pass > 0 && a->n > 1) {
    tmsg f = {.amount = m.amount, .pass = m.pass - 1};
    if (mlog_send(p, (a->id + 1) % a->n, &f, sizeof f) != MLOG_OK)
      return 3;
    a->st.balance -= m.amount;
  }
  return 0;
}

static int t_snapshot(void *arg, mlog_buf *out) {
  tapp *a = arg;
  return mlog_buf_append(out, &a->st, sizeof a->st) == MLOG_OK ? 0 : 1;
}

static int t_restore(void *arg, const void *state, size_t len) {
  tapp *a = arg;
  if (state == NULL) {
    a->st = (tstate){.balance = a->nd->opening};
    return len == 0 ? 0 : 1;
  }
  if (len != sizeof a->st)
    return 1;
  memcpy(&a->st, state, sizeof a->st);
  return 0;
}

static void t_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  tapp *a = arg;
  (void)buf;
  (void)len;
  a->nd->released++;
  a->nd->last_seq = seq;
}

static const mlog_app t_callbacks = {.deliver = t_deliver,
                                     .snapshot = t_snapshot,
                                     .restore = t_restore,
                                     .output = t_output};

static void *t_prepare(sg_group *g, uint32_t i, mlog_proc_config *cfg) {
  sg_node *nd = &g->nd[i];
  (void)cfg;
  nd->app = (tapp){.id = i, .n = g->n, .nd = nd};
  memset(&nd->app.st, 0xa5, sizeof nd->app.st); /* garbage until restore */
  return &nd->app;
}

/* A group under `protocol` that keeps every snapshot; process 0 opens
 * with 1 (the token), the others with 0, unless the test sets `opening`
 * before starting it. */
static sg_group *t_group(const sg_options *o, const char *protocol,
                         const char *sub) {
  sg_hooks h = {
      .protocol = protocol, .callbacks = &t_callbacks, .prepare = t_prepare};
  sg_group *g = sg_new(dir, sub, o, &h);
  for (uint32_t i = 0; i < o->n; i++)
    g->nd[i].cfg.ckpt_keep = UINT32_MAX;
  g->nd[0].opening = 1;
  return g;
}

/* The same with delays min..max ms (min == max: arrivals in send order). */
static sg_group *t_new(uint32_t n, uint64_t seed, uint32_t min_delay,
                       uint32_t max_delay, const char *protocol,
                       const char *sub) {
  sg_options o = {
      .n = n, .seed = seed, .min_delay = min_delay, .max_delay = max_delay};
  return t_group(&o, protocol, sub);
}

/* i sends `amount` to j from outside the handler. */
static void t_send(sg_group *g, uint32_t i, uint32_t j, int64_t amount,
                   uint32_t pass, bool out) {
  tmsg m = {.amount = amount, .pass = pass, .out = out};
  int rc = mlog_send(g->nd[i].p, j, &m, sizeof m);
  cr_assert_eq(rc, MLOG_OK, "send %u -> %u: %s: %s", i, j, mlog_errname(rc),
               mlog_proc_errmsg(g->nd[i].p));
  g->nd[i].app.st.balance -= amount;
}

/* The same, as an application that does not know about rounds: true when
 * sent, false (counted in *refused) when i refuses sends for now. */
static bool t_try_send(sg_group *g, uint32_t i, uint32_t j, int64_t amount,
                       unsigned *refused) {
  tmsg m = {.amount = amount};
  int rc = mlog_send(g->nd[i].p, j, &m, sizeof m);
  cr_assert(rc == MLOG_OK || rc == MLOG_EAGAIN, "send %u -> %u: %s: %s", i, j,
            mlog_errname(rc), mlog_proc_errmsg(g->nd[i].p));
  if (rc == MLOG_OK)
    g->nd[i].app.st.balance -= amount;
  *refused += rc == MLOG_EAGAIN;
  return rc == MLOG_OK;
}

static int64_t balance(sg_group *g, uint32_t i) {
  return g->nd[i].app.st.balance;
}

static int64_t money(sg_group *g) {
  int64_t sum = 0;
  for (uint32_t i = 0; i < g->n; i++)
    sum += balance(g, i);
  return sum;
}

static void checkpoint(sg_group *g, uint32_t i) {
  int rc = mlog_checkpoint(g->nd[i].p);
  cr_assert_eq(rc, MLOG_OK, "process %u: checkpoint: %s: %s", i,
               mlog_errname(rc), mlog_proc_errmsg(g->nd[i].p));
}

/* Process i is in a rollback round (frozen). */
static bool frozen(sg_group *g, uint32_t i) {
  return sg_stats(g, i).in_round;
}

/* ------------------------------------------------------------------------ */
/* Snapshots as the logs hold them                                          */

/* Snapshot id in process i's log: its recorded state, the messages of its
 * channel states and their amounts. */
typedef struct tsnap {
  tstate st;
  size_t nchan;     /* messages in the channel states */
  int64_t chan;     /* their amounts */
  uint32_t from[8]; /* the sender of each (the first 8) */
  uint64_t ssn[8];  /* their ssns */
  uint64_t marker[SG_MAXN];
} tsnap;

/* MLOG_OK, or MLOG_ENOTFOUND when i's log does not hold id complete. */
static int snap_read(sg_group *g, uint32_t i, uint64_t id, tsnap *out) {
  memset(out, 0, sizeof *out);
  mlogi_snap_image img;
  int rc = mlogi_snap_load(g->nd[i].p->log, g->n, id, &img);
  if (rc == MLOG_ENOTFOUND)
    return rc;
  cr_assert_eq(rc, MLOG_OK, "process %u: snapshot %llu: %s", i,
               (unsigned long long)id, mlog_errname(rc));
  cr_assert_not_null(img.ck.state, "snapshot %llu has a checkpoint",
                     (unsigned long long)id);
  mlogi_state_view v = {0};
  rc = mlogi_state_peek(img.ck.state, img.ck.len, g->n, &v);
  cr_assert_eq(rc, MLOG_OK);
  cr_assert_eq(v.snapshot, id, "the checkpoint names snapshot %llu",
               (unsigned long long)id);
  cr_assert_eq(v.app_len, sizeof out->st);
  memcpy(&out->st, v.app, sizeof out->st);
  mlogi_state_view_free(&v);
  for (size_t k = 0; k < img.channel.n; k++) {
    const mlog_record *r = &img.channel.recs[k];
    tmsg m;
    cr_assert_eq(r->payload_len, sizeof m);
    memcpy(&m, r->payload, sizeof m);
    cr_assert_eq(r->dst, i);
    if (k < 8) {
      out->from[k] = r->src;
      out->ssn[k] = r->ssn;
    }
    out->chan += m.amount;
    out->nchan++;
  }
  for (uint32_t j = 0; j < g->n; j++)
    out->marker[j] = img.marker[j];
  mlogi_snap_image_free(&img);
  return MLOG_OK;
}

/* The money snapshot id holds in the whole group (recorded balances plus
 * channel states); false when some log does not hold it complete.
 * *in_channels: how much of it was in the channel states. */
static bool snap_money(sg_group *g, uint64_t id, int64_t *total,
                       int64_t *in_channels) {
  *total = *in_channels = 0;
  for (uint32_t i = 0; i < g->n; i++) {
    tsnap s;
    if (snap_read(g, i, id, &s) != MLOG_OK)
      return false;
    *total += s.st.balance + s.chan;
    *in_channels += s.chan;
  }
  return true;
}

/* ------------------------------------------------------------------------ */
/* 1. The lecture's two-process token ring                                  */

/* A sends the token to B; A starts a snapshot; B receives the token, then
 * the marker: B records a state that holds the token, and the channel
 * A -> B is empty in the snapshot. */
Test(group, token_received_before_the_marker_is_in_the_state) {
  sg_group *g = t_new(2, 1, 10, 10, "coordinated", "g");
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 1, 0, false); /* 1. A sends the token */
  checkpoint(g, 0);             /* 2. A starts the snapshot */
  cr_assert_eq(sg_stats(g, 0).snapshot, 1u, "A recorded snapshot 1");
  cr_assert_eq(sg_stats(g, 1).snapshot, 0u);
  cr_assert_eq(sg_step(g, 0), 1u, "3. the token reaches B");
  sg_seen f = sg_last(g, 1, 0);
  cr_assert(f.kind == MLOGI_FRAME_DATA && f.seq == 1 &&
                !(f.flags & MLOGI_FRAME_F_MARKER),
            "B took the token (ssn 1)");
  cr_assert_eq(balance(g, 1), 1, "B holds the token");
  cr_assert_eq(sg_stats(g, 1).snapshot, 0u, "B has not recorded yet");
  cr_assert_eq(sg_step(g, 0), 1u, "4. A's marker reaches B");
  f = sg_last(g, 1, 0);
  cr_assert(f.kind == MLOGI_FRAME_DATA && f.seq == 2 &&
                (f.flags & MLOGI_FRAME_F_MARKER),
            "B took A's marker (ssn 2)");
  cr_assert_eq(sg_stats(g, 1).snapshot, 1u, "B recorded snapshot 1");
  sg_settle(g); /* 5. A receives B's marker; both learn it is complete */
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u);
  cr_assert_eq(sg_stats(g, 1).snapshot_complete, 1u);
  tsnap a, b;
  cr_assert_eq(snap_read(g, 0, 1, &a), MLOG_OK);
  cr_assert_eq(snap_read(g, 1, 1, &b), MLOG_OK);
  cr_assert_eq(a.st.balance, 0, "A's recorded state: no token");
  cr_assert_eq(b.st.balance, 1, "B's recorded state holds the token");
  cr_assert_eq(b.st.count, 1u, "B recorded after delivering it");
  cr_assert_eq(b.nchan, 0u, "the channel A -> B is empty");
  cr_assert_eq(a.nchan, 0u, "the channel B -> A is empty");
  cr_assert_eq(b.marker[0], 0u, "A's marker made B record: none to close");
  cr_assert_eq(a.marker[1], 1u, "B's marker came with ssn 1");
  sg_free(g);
}

/* B sends the token to A; A starts a snapshot; A receives the token after
 * recording its state: the token is in the channel state B -> A (A's log),
 * in neither recorded state. */
Test(group, token_received_after_recording_is_in_the_channel) {
  sg_group *g = t_new(2, 2, 10, 10, "coordinated", "g");
  g->nd[0].opening = 0;
  g->nd[1].opening = 1;
  sg_start(g);
  sg_settle(g);
  t_send(g, 1, 0, 1, 0, false);     /* 1. B sends the token */
  sg_rule *r = sg_hold(g, 0, 1, 0); /* A -> B waits */
  checkpoint(g, 0);                 /* 2. A starts the snapshot */
  cr_assert_eq(r->hits, 1u, "A's marker is held");
  cr_assert_eq(sg_step(g, 0), 0u, "3. the token reaches A");
  sg_seen f = sg_last(g, 0, 0);
  cr_assert(f.kind == MLOGI_FRAME_DATA && f.seq == 1 && f.src == 1 &&
                !(f.flags & MLOGI_FRAME_F_MARKER),
            "A took the token");
  cr_assert_eq(balance(g, 0), 1, "A delivered it (after recording)");
  cr_assert_eq(sg_stats(g, 1).snapshot, 0u, "B has not recorded yet");
  r->on = false;
  cr_assert_eq(sg_release(g, 0, 1), 2u, "the marker and A's ack leave");
  cr_assert_eq(sg_step(g, 0), 1u, "4. A's marker reaches B");
  cr_assert(sg_last(g, 1, 0).flags & MLOGI_FRAME_F_MARKER);
  cr_assert_eq(sg_stats(g, 1).snapshot, 1u, "B recorded snapshot 1");
  sg_settle(g); /* 5. A receives B's marker */
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u);
  cr_assert_eq(sg_stats(g, 1).snapshot_complete, 1u);
  tsnap a, b;
  cr_assert_eq(snap_read(g, 0, 1, &a), MLOG_OK);
  cr_assert_eq(snap_read(g, 1, 1, &b), MLOG_OK);
  cr_assert_eq(a.st.balance, 0, "A recorded no token");
  cr_assert_eq(a.st.count, 0u);
  cr_assert_eq(b.st.balance, 0, "B recorded no token (it had sent it)");
  cr_assert_eq(a.nchan, 1u, "the channel B -> A holds one message");
  cr_assert_eq(a.from[0], 1u);
  cr_assert_eq(a.ssn[0], 1u);
  cr_assert_eq(a.chan, 1, "... the token");
  cr_assert_eq(b.nchan, 0u, "the channel A -> B is empty");
  cr_assert_eq(a.marker[1], 2u, "B's marker came after the token (ssn 2)");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 2. A token ring of 3-4 processes under random schedules                  */

typedef struct ring_totals {
  uint64_t snapshots, in_channel, in_state, concurrent;
} ring_totals;

/* One seed: the token circulates (the handler passes it on at once or the
 * driver passes it later), snapshots start from the policy and from random
 * processes, sometimes two at once. Every snapshot complete in all logs
 * holds exactly the one token. A third of the seeds lose frames, a quarter
 * have delays past the resend timeout (duplicates). */
static void ring_seed(uint64_t seed, ring_totals *t) {
  char sub[32];
  snprintf(sub, sizeof sub, "s%llu", (unsigned long long)seed);
  uint32_t n = 3 + (uint32_t)(seed % 2);
  sg_options o = {.n = n,
                  .seed = seed,
                  .min_delay = 1,
                  .max_delay = seed % 4 == 0 ? 300 : 30,
                  .drop_percent = seed % 3 == 0 ? 5 : 0};
  sg_group *g = t_group(&o, "coordinated", sub);
  for (uint32_t i = 0; i < n; i++) {
    static const uint64_t every[] = {0, 2, 3, 5};
    g->nd[i].cfg.ckpt_every_deliveries = every[mlog_sim_random(g->sim) % 4];
  }
  sg_start(g);
  for (int k = 0; k < 120; k++) {
    uint64_t r = mlog_sim_random(g->sim) % 100;
    uint32_t i = (uint32_t)(mlog_sim_random(g->sim) % n);
    if (r < 55) {
      uint32_t dst;
      if (mlog_sim_step(g->sim, &dst) == MLOG_OK)
        sg_poll(g, dst);
      else
        mlog_sim_advance(g->sim, 10);
    } else if (r < 70) {
      for (uint32_t h = 0; h < n; h++)
        if (balance(g, h) == 1)
          t_send(g, h, (h + 1) % n, 1, (uint32_t)(mlog_sim_random(g->sim) % 4),
                 false);
    } else if (r < 85) {
      int rc = mlog_checkpoint(g->nd[i].p);
      cr_assert(rc == MLOG_OK || rc == MLOG_EAGAIN, "seed %llu: %s: %s",
                (unsigned long long)seed, mlog_errname(rc),
                mlog_proc_errmsg(g->nd[i].p));
    } else if (r < 92) { /* two initiations before any marker moves */
      uint32_t j = (i + 1 + (uint32_t)(mlog_sim_random(g->sim) % (n - 1))) % n;
      int rci = mlog_checkpoint(g->nd[i].p);
      int rcj = mlog_checkpoint(g->nd[j].p);
      cr_assert(rci == MLOG_OK || rci == MLOG_EAGAIN);
      cr_assert(rcj == MLOG_OK || rcj == MLOG_EAGAIN);
      t->concurrent += rci == MLOG_OK && rcj == MLOG_OK &&
                       sg_stats(g, i).snapshot == sg_stats(g, j).snapshot;
    } else {
      mlog_sim_advance(g->sim, 20);
      sg_poll_all(g, 0);
    }
  }
  sg_settle(g);
  cr_assert_eq(money(g), 1, "seed %llu: one token at the end",
               (unsigned long long)seed);
  uint64_t newest = sg_stats(g, 0).snapshot;
  for (uint32_t i = 0; i < n; i++) {
    mlog_proc_stats st = sg_stats(g, i);
    cr_assert_eq(st.snapshot, newest, "seed %llu: P%u recorded %llu, P0 %llu",
                 (unsigned long long)seed, i, (unsigned long long)st.snapshot,
                 (unsigned long long)newest);
    cr_assert_eq(st.snapshot_complete, newest,
                 "seed %llu: P%u knows %llu complete of %llu",
                 (unsigned long long)seed, i,
                 (unsigned long long)st.snapshot_complete,
                 (unsigned long long)newest);
  }
  for (uint64_t id = 1; id <= newest; id++) {
    int64_t total, in_channels;
    cr_assert(snap_money(g, id, &total, &in_channels),
              "seed %llu: snapshot %llu is complete in every log",
              (unsigned long long)seed, (unsigned long long)id);
    cr_assert_eq(total, 1,
                 "seed %llu: snapshot %llu holds %lld tokens (%lld in the "
                 "channel states)",
                 (unsigned long long)seed, (unsigned long long)id,
                 (long long)total, (long long)in_channels);
    t->snapshots++;
    t->in_channel += in_channels == 1;
    t->in_state += in_channels == 0;
  }
  sg_free(g);
  char base[128];
  tu_path(base, sizeof base, dir, sub);
  tu_rmtree(base);
}

static void ring_seeds(uint64_t first, uint64_t count) {
  ring_totals t = {0};
  for (uint64_t s = first; s < first + count; s++)
    ring_seed(s, &t);
  /* The schedules cover both places of the token and concurrent starts. */
  cr_assert_geq(t.snapshots, 2 * count, "%llu snapshots checked",
                (unsigned long long)t.snapshots);
  cr_assert_geq(t.in_channel, count, "token in a channel state: %llu",
                (unsigned long long)t.in_channel);
  cr_assert_geq(t.in_state, count / 2, "token in a recorded state: %llu",
                (unsigned long long)t.in_state);
  cr_assert_geq(t.concurrent, count / 4,
                "concurrent initiations of one id: %llu",
                (unsigned long long)t.concurrent);
}

Test(group, ring_random_seeds_1) {
  ring_seeds(1, 50);
}

Test(group, ring_random_seeds_2) {
  ring_seeds(51, 50);
}

Test(group, ring_random_seeds_3) {
  ring_seeds(101, 50);
}

Test(group, ring_random_seeds_4) {
  ring_seeds(151, 50);
}

/* ------------------------------------------------------------------------ */
/* 3. Concurrent initiation                                                 */

/* P0 and P1 start a snapshot before either's marker has moved (the token
 * is in flight P0 -> P1): both record snapshot 1, P2 joins it, it
 * completes once, and it holds the token exactly once (in P1's channel
 * state: P1 recorded before the token came). */
Test(group, concurrent_initiators_make_one_snapshot) {
  sg_group *g = t_new(3, 3, 10, 10, "coordinated", "g");
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 1, 0, false);
  checkpoint(g, 0);
  checkpoint(g, 1);
  cr_assert_eq(sg_stats(g, 0).snapshot, 1u);
  cr_assert_eq(sg_stats(g, 1).snapshot, 1u, "P1 started the same id");
  cr_assert_eq(sg_stats(g, 2).snapshot, 0u);
  sg_settle(g);
  for (uint32_t i = 0; i < 3; i++) {
    mlog_proc_stats st = sg_stats(g, i);
    cr_assert_eq(st.snapshot, 1u, "P%u: one snapshot, not two", i);
    cr_assert_eq(st.snapshot_complete, 1u, "P%u knows it complete", i);
  }
  tsnap s[3];
  for (uint32_t i = 0; i < 3; i++)
    cr_assert_eq(snap_read(g, i, 1, &s[i]), MLOG_OK);
  cr_assert_eq(s[0].st.balance + s[1].st.balance + s[2].st.balance, 0,
               "no recorded state holds the token");
  cr_assert_eq(s[1].nchan, 1u, "P1's channel state: the token");
  cr_assert_eq(s[1].from[0], 0u);
  cr_assert_eq(s[1].chan, 1);
  cr_assert_eq(s[0].nchan + s[2].nchan, 0u);
  cr_assert_eq(balance(g, 1), 1, "P1 holds the token now");
  tsnap none;
  cr_assert_eq(snap_read(g, 0, 2, &none), MLOG_ENOTFOUND,
               "there is no snapshot 2");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 4. A crash under coordinated                                             */

/* Snapshot 1 holds the token in the channel B -> A; then A passes it to B,
 * whose handler makes an output. A crashes: the group rolls back to
 * snapshot 1, A delivers the token again from the channel state, and B's
 * output (made after the snapshot) is never released; an output made
 * after the rollback waits for the next snapshot to complete. */
Test(group, coordinated_crash_rolls_back_to_the_snapshot) {
  sg_group *g = t_new(2, 4, 10, 10, "coordinated", "g");
  g->nd[0].opening = 0;
  g->nd[1].opening = 1;
  sg_start(g);
  sg_settle(g);
  t_send(g, 1, 0, 1, 0, false);
  sg_rule *r = sg_hold(g, 0, 1, 0);
  checkpoint(g, 0);
  cr_assert_eq(sg_step(g, 0), 0u, "the token reaches A after it recorded");
  r->on = false;
  sg_release(g, 0, 1);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).snapshot_complete, 1u);
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u);
  /* After the snapshot: A passes the token to B, B makes an output. */
  t_send(g, 0, 1, 1, 0, true);
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 1, "B holds the token");
  cr_assert_eq(sg_stats(g, 1).rsn, 1u);
  cr_assert_eq(g->nd[1].released, 0u, "B's output waits for a snapshot");
  sg_crash(g, 0);
  sg_open(g, 0);
  cr_assert(sg_stats(g, 0).recovering, "A waits for its round");
  sg_settle(g);
  mlog_proc_stats a = sg_stats(g, 0), b = sg_stats(g, 1);
  cr_assert(!a.recovering);
  cr_assert_eq(a.rounds, 1u);
  cr_assert_eq(b.rounds, 1u);
  cr_assert_eq(a.rollbacks, 1u);
  cr_assert_eq(b.rollbacks, 1u);
  cr_assert_eq(a.redelivered, 1u, "A delivered the token again");
  cr_assert_eq(b.redelivered, 0u);
  cr_assert_eq(a.incarnation, 2u, "round 2, led by P0");
  cr_assert_eq(b.incarnation, 2u);
  cr_assert_eq(a.snapshot_complete, 1u);
  cr_assert_eq(b.snapshot_complete, 1u);
  cr_assert_eq(balance(g, 0), 1, "A holds the token again");
  cr_assert_eq(balance(g, 1), 0, "B's delivery was rolled back");
  cr_assert_eq(g->nd[1].app.st.count, 0u);
  cr_assert_eq(g->nd[1].released, 0u, "the rolled-back output never left");
  /* The group goes on; an output after the rollback waits for snapshot 2. */
  t_send(g, 0, 1, 1, 0, true);
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 1);
  cr_assert_eq(g->nd[1].released, 0u, "no snapshot covers the output");
  checkpoint(g, 1);
  cr_assert_eq(sg_stats(g, 1).snapshot, 2u, "B started snapshot 2");
  cr_assert_eq(sg_step(g, 0), 0u, "B's marker reaches A");
  cr_assert_eq(g->nd[1].released, 0u, "snapshot 2 is not complete at B");
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).snapshot_complete, 2u);
  cr_assert_eq(g->nd[1].released, 1u, "snapshot 2 released the output");
  cr_assert_eq(g->nd[1].last_seq, 1u, "as output 1");
  int64_t total, in_channels;
  cr_assert(snap_money(g, 2, &total, &in_channels));
  cr_assert_eq(total, 1, "snapshot 2 holds the token once");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 5. The domino effect under none                                          */

/* The zigzag: each process checkpoints between receiving a message and
 * sending the next one, so that every checkpoint interval has a message
 * crossing it backwards. B crashes: the recovery line is the initial
 * states, every checkpoint is discarded. */
Test(group, none_zigzag_rolls_back_to_the_initial_states) {
  sg_group *g = t_new(2, 5, 10, 10, "none", "g");
  g->nd[0].opening = g->nd[1].opening = 10;
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 1, 0, false); /* m1 */
  sg_settle(g);
  checkpoint(g, 1);             /* B: received m1 */
  t_send(g, 1, 0, 1, 0, false); /* m2 */
  sg_settle(g);
  checkpoint(g, 0);             /* A: sent m1, received m2 */
  t_send(g, 0, 1, 1, 0, false); /* m3 */
  sg_settle(g);
  checkpoint(g, 1);             /* B: received m1 m3, sent m2 */
  t_send(g, 1, 0, 1, 0, false); /* m4 */
  sg_settle(g);
  checkpoint(g, 0);             /* A: sent m1 m3, received m2 m4 */
  t_send(g, 0, 1, 1, 0, false); /* m5 */
  sg_settle(g);
  cr_assert_eq(g->nd[1].app.st.count, 3u);
  cr_assert_eq(g->nd[0].app.st.count, 2u);
  sg_crash(g, 1);
  sg_open(g, 1);
  cr_assert_eq(g->nd[1].app.st.count, 2u, "B restarted from its checkpoint");
  sg_settle(g);
  for (uint32_t i = 0; i < 2; i++) {
    mlog_proc_stats st = sg_stats(g, i);
    cr_assert_eq(st.rounds, 1u, "P%u", i);
    cr_assert_eq(st.rollbacks, 1u, "P%u", i);
    cr_assert_eq(st.domino_rollbacks, 1u, "P%u rolled back past checkpoints",
                 i);
    cr_assert_eq(st.rolled_back_past, 2u, "P%u discarded both checkpoints", i);
    cr_assert_eq(st.lost_messages, 0u, "P%u", i);
    cr_assert_eq(g->nd[i].app.st.balance, 10, "P%u: the initial balance", i);
    cr_assert_eq(g->nd[i].app.st.count, 0u, "P%u: the initial state", i);
    uint64_t *numbers;
    size_t count;
    cr_assert_eq(mlog_log_checkpoint_numbers(g->nd[i].p->log, &numbers, &count),
                 MLOG_OK);
    free(numbers);
    cr_assert_eq(count, 0u, "P%u's checkpoints are gone", i);
  }
  /* The channels start again from ssn 1. */
  t_send(g, 0, 1, 1, 0, false);
  sg_settle(g);
  cr_assert_eq(g->nd[1].app.st.count, 1u);
  cr_assert_eq(g->nd[1].p->ch[0].recv_mark, 1u);
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 6. A lost message under none                                             */

/* A sender keeps a message until a checkpoint of its receiver covers the
 * delivery (section 8), so only a rollback past that checkpoint (a domino)
 * can lose it. B delivers c (from C) and m (from A) and checkpoints: both
 * are stable, C and A drop them. C crashes with no checkpoint: its restart
 * undoes c, so B's checkpoint received an orphan and B rolls back past it
 * to its initial state; A stays after sending m and no longer keeps it: m
 * is lost. (Before the two acknowledgements, m was lost without a domino:
 * section 8's first test.) */
Test(group, none_lost_message_is_reported) {
  sg_group *g = t_new(3, 6, 10, 10, "none", "g");
  for (uint32_t i = 0; i < 3; i++)
    g->nd[i].opening = 10;
  sg_start(g);
  sg_settle(g);
  t_send(g, 2, 1, 2, 0, false); /* c */
  t_send(g, 0, 1, 3, 0, false); /* m */
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 15, "B delivered c and m");
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "received, not stable: A keeps m");
  checkpoint(g, 1);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "stable: A dropped m");
  cr_assert_eq(sg_outbox(g, 2, 1), 0u, "and C dropped c");
  sg_crash(g, 2);
  sg_open(g, 2);
  sg_settle(g);
  mlog_proc_stats a = sg_stats(g, 0), b = sg_stats(g, 1), c = sg_stats(g, 2);
  cr_assert_eq(b.lost_messages, 1u, "m is lost");
  cr_assert_eq(a.lost_messages + c.lost_messages, 0u);
  cr_assert_eq(b.domino_rollbacks, 1u, "B rolled back past its checkpoint");
  cr_assert_eq(b.rolled_back_past, 1u);
  cr_assert_eq(a.rollbacks, 0u, "A stays in its current state");
  cr_assert_eq(balance(g, 1), 10, "B never got m again (nor c)");
  cr_assert_eq(g->nd[1].app.st.count, 0u);
  cr_assert_eq(balance(g, 2), 10, "C never sent c");
  cr_assert_eq(balance(g, 0), 7, "A did send m");
  /* The channel still works: the next message (ssn 2) is delivered. */
  t_send(g, 0, 1, 2, 0, false);
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 12);
  cr_assert_eq(g->nd[1].app.st.count, 1u);
  cr_assert_eq(g->nd[1].p->ch[0].recv_mark, 2u, "m2 came with ssn 2");
  cr_assert_eq(sg_stats(g, 1).lost_messages, 1u, "nothing else lost");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* 7. Rounds under failure                                                  */

/* Three processes with 10 each, transfers, a checkpoint of P1 (under
 * coordinated: snapshot 1), more transfers. */
static sg_group *bank3(uint64_t seed, const char *protocol, const char *sub) {
  sg_group *g = t_new(3, seed, 10, 10, protocol, sub);
  for (uint32_t i = 0; i < 3; i++)
    g->nd[i].opening = 10;
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 4, 1, false); /* 0 -> 1 -> 2 */
  t_send(g, 2, 0, 3, 0, false);
  sg_settle(g);
  checkpoint(g, 1);
  sg_settle(g);
  t_send(g, 1, 2, 2, 2, false); /* 1 -> 2 -> 0 -> 1 */
  t_send(g, 0, 2, 5, 0, false);
  sg_settle(g);
  cr_assert_eq(money(g), 30);
  return g;
}

/* Every process went on in one round, and the money is all there. */
static void converged(sg_group *g, int64_t want) {
  uint32_t inc = sg_stats(g, 0).incarnation;
  for (uint32_t i = 0; i < g->n; i++) {
    mlog_proc_stats st = sg_stats(g, i);
    cr_assert(!st.recovering && !frozen(g, i), "P%u goes on", i);
    cr_assert_eq(st.incarnation, inc, "P%u in round %u, P0 in %u", i,
                 st.incarnation, inc);
  }
  cr_assert_eq(money(g), want, "the group holds %lld, not %lld",
               (long long)money(g), (long long)want);
  /* And it still works. */
  t_send(g, g->n - 1, 0, 1, 1, false);
  sg_settle(g);
  cr_assert_eq(money(g), want);
}

/* (a) The restarted leader crashes again after both others answered its
 * query, before deciding; it restarts and leads the group to a line. */
Test(group, leader_crash_before_decide_restarts_the_round) {
  sg_group *g = bank3(7, "coordinated", "g");
  sg_crash(g, 0);
  sg_open(g, 0);
  sg_rule *r = sg_hold(g, SG_ANY, 0, MLOGI_FRAME_ROUND_INFO);
  for (int k = 0; k < 16 && r->hits < 2; k++)
    sg_step(g, 0);
  cr_assert_eq(r->hits, 2u, "P1 and P2 answered the query");
  cr_assert(frozen(g, 1) && frozen(g, 2));
  uint32_t round = g->nd[1].p->grp->round;
  cr_assert_eq(round % 3, 0u, "a round of P0");
  sg_crash(g, 0); /* the answers are lost with it */
  r->on = false;
  sg_open(g, 0);
  sg_settle(g);
  for (uint32_t i = 0; i < 3; i++)
    cr_assert_eq(sg_total(g, i).rounds, 1u, "P%u applied one line", i);
  cr_assert_eq(sg_stats(g, 0).incarnation % 3, 0u, "led by P0");
  converged(g, 30);
  sg_free(g);
}

/* (a') The restarted leader stays down: a frozen process takes the round
 * over after TAKEOVER_TIMEOUTS resend timeouts; when the leader comes
 * back, one newer round brings the whole group to a line. */
Test(group, leader_down_the_round_is_taken_over) {
  sg_group *g = bank3(8, "none", "g");
  sg_crash(g, 0);
  sg_open(g, 0);
  sg_rule *r = sg_hold(g, SG_ANY, 0, MLOGI_FRAME_ROUND_INFO);
  for (int k = 0; k < 16 && r->hits < 2; k++)
    sg_step(g, 0);
  cr_assert_eq(r->hits, 2u);
  uint32_t first = g->nd[1].p->grp->round;
  sg_crash(g, 0);
  r->on = false;
  sg_run(g, 0, 3000); /* 15 timeouts: still the old round */
  cr_assert_eq(g->nd[1].p->grp->round, first, "P1 waits");
  cr_assert_eq(g->nd[2].p->grp->round, first, "P2 waits");
  sg_run(g, 0, 2000); /* past 20 timeouts */
  uint32_t taken = g->nd[1].p->grp->round;
  cr_assert_gt(taken, first, "the round was taken over");
  cr_assert_neq(g->nd[1].p->grp->leader, 0u, "by P1 or P2");
  cr_assert(frozen(g, 1) && frozen(g, 2), "and waits for P0");
  sg_open(g, 0);
  sg_settle(g);
  cr_assert_gt(sg_stats(g, 0).incarnation, taken);
  for (uint32_t i = 0; i < 3; i++) {
    cr_assert_eq(sg_total(g, i).lost_messages, 0u);
    cr_assert_geq(sg_total(g, i).rounds, 1u, "P%u applied a line", i);
  }
  converged(g, 30);
  sg_free(g);
}

/* A failure detector for the simulated group (the sim transport has none):
 * every process suspects the processes in `suspected` (a bit each). */
static unsigned suspected;

static bool t_suspects(void *self, uint32_t id) {
  (void)self;
  return id < 32 && (suspected & 1u << id);
}

/* The round's leader, as P1 and P2 see it (they agree). */
static uint32_t round_of(sg_group *g, uint32_t *leader) {
  const grp_state *a = g->nd[1].p->grp, *b = g->nd[2].p->grp;
  cr_assert_eq(a->round, b->round, "P1 in round %u, P2 in %u", a->round,
               b->round);
  *leader = a->leader;
  return a->round;
}

/* (a'') As (a'), but the failure detector suspects the crashed leader: the
 * round is taken over after 2 resend timeouts (200 ms each), not 20. In
 * the newer round, P0 (down, suspected) is only a participant: nobody takes
 * that round over early. */
static void suspected_leader_taken_over_soon(const char *protocol) {
  sg_group *g = bank3(8, protocol, "g");
  sg_ops.suspects = t_suspects; /* sg_new set the table up: add it now */
  suspected = 0;
  sg_crash(g, 0);
  sg_open(g, 0);
  sg_rule *r = sg_hold(g, SG_ANY, 0, MLOGI_FRAME_ROUND_INFO);
  for (int k = 0; k < 16 && r->hits < 2; k++)
    sg_step(g, 0);
  cr_assert_eq(r->hits, 2u);
  uint32_t leader, first = round_of(g, &leader);
  cr_assert_eq(leader, 0u);
  sg_crash(g, 0);
  r->on = false;
  suspected = 1u << 0; /* e.g. a supervisor reported its exit */
  sg_run(g, 0, 100);   /* the last query came less than 200 ms ago */
  cr_assert_eq(round_of(g, &leader), first, "not yet: 2 timeouts");
  sg_run(g, 0, 700); /* past 2 timeouts (and settled), far from 20 */
  uint32_t taken = round_of(g, &leader);
  cr_assert_gt(taken, first, "the round was taken over");
  cr_assert_neq(leader, 0u, "by P1 or P2");
  cr_assert(frozen(g, 1) && frozen(g, 2), "and waits for P0");
  sg_run(g, 0, 2000); /* 10 timeouts: P0 is suspected, but not the leader */
  uint32_t now_leader;
  cr_assert_eq(round_of(g, &now_leader), taken, "no early takeover");
  cr_assert_eq(now_leader, leader);
  suspected = 0; /* P0's restart is heard from */
  sg_open(g, 0);
  sg_settle(g);
  cr_assert_gt(sg_stats(g, 0).incarnation, taken);
  for (uint32_t i = 0; i < 3; i++)
    cr_assert_eq(sg_total(g, i).lost_messages, 0u);
  converged(g, 30);
  sg_free(g);
}

Test(group, suspected_leader_taken_over_soon_none) {
  suspected_leader_taken_over_soon("none");
}

Test(group, suspected_leader_taken_over_soon_coordinated) {
  suspected_leader_taken_over_soon("coordinated");
}

/* (b) Under none: P1 restarts and its line rolls P0 back past a send to P2
 * (orphan chain P1 -> P0 -> P2). P2 answers the query and crashes before
 * the line reaches it; P0 applies the line. P2's restart leads a new round
 * in which its checkpoint (which received P0's undone message, ssn 1) must
 * still be an orphan: had P0 gone on and sent again, its new message would
 * have had ssn 1 too and the counts would have matched. P0 stays frozen
 * until every process has applied a line and refuses sends meanwhile; the
 * application retries. No money is created or lost. */
Test(group, participant_crash_before_applying_the_line) {
  sg_group *g = t_new(3, 9, 10, 10, "none", "g");
  for (uint32_t i = 0; i < 3; i++)
    g->nd[i].opening = 100;
  sg_start(g);
  sg_settle(g);
  t_send(g, 1, 0, 10, 0, false); /* x */
  sg_settle(g);
  t_send(g, 0, 2, 7, 0, false); /* y: depends on x */
  sg_settle(g);
  checkpoint(g, 2); /* P2 holds y */
  cr_assert_eq(balance(g, 2), 107);
  sg_crash(g, 1); /* P1 restarts before x: x, then y are orphans */
  sg_open(g, 1);
  sg_rule *r = sg_hold(g, 1, 2, MLOGI_FRAME_ROUND_DECIDE);
  for (int k = 0; k < 32 && (r->hits == 0 || sg_stats(g, 0).incarnation == 0);
       k++)
    sg_step(g, 0);
  cr_assert_geq(r->hits, 1u, "the line was sent to P2 (held)");
  cr_assert_neq(sg_stats(g, 0).incarnation, 0u, "P0 applied the line");
  cr_assert_eq(balance(g, 0), 100, "P0 rolled back before x");
  cr_assert_eq(sg_stats(g, 2).incarnation, 0u, "P2 did not");
  sg_crash(g, 2);
  r->on = false;
  /* The application sends 13 from P0, retrying every 50 ms; P2 stays down
   * for 2 s. */
  unsigned refused = 0;
  bool sent = false;
  for (int k = 0; k < 40; k++) {
    sg_run(g, 0, 50);
    sent = sent || t_try_send(g, 0, 2, 13, &refused);
  }
  unsigned refused_while_down = refused;
  sg_open(g, 2);
  for (int k = 0; k < 200 && !sent; k++) {
    sg_run(g, 0, 50);
    sent = t_try_send(g, 0, 2, 13, &refused);
  }
  cr_assert(sent, "P0 sends once the group goes on");
  sg_settle(g);
  int64_t lost = 0;
  for (uint32_t i = 0; i < 3; i++)
    lost += (int64_t)sg_total(g, i).lost_messages;
  cr_assert_eq(lost, 0, "nothing was lost");
  cr_assert_eq(money(g), 300, "money: P0 %lld, P1 %lld, P2 %lld",
               (long long)balance(g, 0), (long long)balance(g, 1),
               (long long)balance(g, 2));
  cr_assert_eq(balance(g, 1), 100, "P1 from its initial state");
  cr_assert_eq(balance(g, 0), 87, "P0: rolled back, then sent 13");
  cr_assert_eq(balance(g, 2), 113, "P2: y undone, the 13 delivered");
  cr_assert_eq(sg_total(g, 2).domino_rollbacks, 1u,
               "P2 rolled back past its checkpoint");
  cr_assert_eq(refused_while_down, 40u,
               "P0 refused sends until every process applied a line");
  converged(g, 300);
  sg_free(g);
}

/* (c) Malformed round and snapshot frames: counted, nothing changes. */

static const uint8_t overlong[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x01};

/* P1 restarts and leads a round; P0 answers; the line to P0 is held (the
 * group's first rule). */
static sg_group *round_held(uint64_t seed, const char *protocol) {
  sg_group *g = t_new(2, seed, 10, 10, protocol, "g");
  g->nd[0].opening = g->nd[1].opening = 10;
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 4, 0, false);
  sg_settle(g);
  checkpoint(g, 0);
  checkpoint(g, 1);
  sg_settle(g);
  t_send(g, 1, 0, 3, 0, false);
  sg_settle(g);
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_hold(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE);
  sg_run(g, 0, 100);
  cr_assert(frozen(g, 0), "P0 answered and waits for the line");
  cr_assert_not_null(g->nd[1].p->grp->line, "P1 decided");
  return g;
}

/* A round frame of src's current round carrying buf[0..len). */
static void inject_round(sg_group *g, uint32_t src, uint32_t dst, uint8_t kind,
                         const void *buf, size_t len) {
  mlogi_frame f = {.kind = kind,
                   .incarnation = g->nd[src].p->incarnation,
                   .seq = g->nd[src].p->grp->round,
                   .payload = buf,
                   .payload_len = (uint32_t)len};
  sg_inject(g, src, dst, f);
}

/* Move the injected frame to `dst` and poll it: the poll must succeed. */
static void take_injected(sg_group *g, uint32_t dst) {
  uint32_t to;
  cr_assert_eq(mlog_sim_step(g->sim, &to), MLOG_OK);
  cr_assert_eq(to, dst);
  int rc = mlog_proc_poll(g->nd[dst].p, 0);
  cr_assert_geq(rc, 0, "P%u's poll: %s: %s", dst, mlog_errname(-rc),
                mlog_proc_errmsg(g->nd[dst].p));
}

/* The real line of round_held with its body replaced by body[0..len) (the
 * lives of the answers stay). */
static size_t forge_line(sg_group *g, const void *body, size_t len,
                         uint8_t *out, size_t cap) {
  size_t lives = 8 * (size_t)g->n;
  cr_assert_leq(lives + len, cap);
  memcpy(out, g->nd[1].p->grp->line, lives);
  if (len > 0)
    memcpy(out + lives, body, len);
  return lives + len;
}

/* Lines that are malformed, or computed from another life's answer:
 * P0 counts each and waits for the real one. */
static void malformed_decide(const char *protocol, uint64_t seed) {
  sg_group *g = round_held(seed, protocol);
  grp_state *leader = g->nd[1].p->grp;
  tstate before = g->nd[0].app.st;
  uint32_t inc = sg_stats(g, 0).incarnation;
  uint8_t buf[256];
  size_t len;
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, NULL, 0);
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, leader->line, 8);
  len = forge_line(g, NULL, 0, buf, sizeof buf);
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, buf, len);
  len = forge_line(g, overlong, sizeof overlong, buf, sizeof buf);
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, buf, len);
  cr_assert_lt(leader->line_len, sizeof buf);
  memcpy(buf, leader->line, leader->line_len);
  buf[leader->line_len] = 0; /* a trailing byte */
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, buf, leader->line_len + 1);
  buf[0] ^= 1; /* P0's answer from another life */
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, buf, leader->line_len);
  for (int k = 0; k < 6; k++)
    take_injected(g, 0);
  cr_assert_eq(sg_stats(g, 0).bad_frames, 6u, "six bad lines");
  cr_assert(frozen(g, 0), "P0 still waits for the line");
  cr_assert_eq(sg_stats(g, 0).incarnation, inc);
  cr_assert_eq(sg_stats(g, 0).rounds, 0u);
  cr_assert_eq(memcmp(&g->nd[0].app.st, &before, sizeof before), 0,
               "P0's state is untouched");
  g->rule[0].on = false;
  sg_release(g, 1, 0);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 0).rounds, 1u, "the real line applied");
  cr_assert_eq(sg_stats(g, 0).bad_frames, 6u);
  converged(g, 20);
  sg_free(g);
}

Test(group, malformed_decide_coordinated) {
  malformed_decide("coordinated", 11);
}

Test(group, malformed_decide_none) {
  malformed_decide("none", 12);
}

/* Regression: a well-formed line (none) naming for P0 a checkpoint P0 does
 * not have used to drop P0's state (reset before the restore that failed)
 * and break it; it is a bad line, as under coordinated. */
Test(group, decide_naming_a_missing_checkpoint_none) {
  sg_group *g = round_held(13, "none");
  tstate before = g->nd[0].app.st;
  /* Per process: code, checkpoints passed, first kept from each. P0:
   * checkpoint 98 (code 99); P1: its current state. */
  static const uint8_t body[8] = {99, 0, 1, 1, 0, 0, 1, 1};
  uint8_t buf[64];
  size_t len = forge_line(g, body, sizeof body, buf, sizeof buf);
  inject_round(g, 1, 0, MLOGI_FRAME_ROUND_DECIDE, buf, len);
  take_injected(g, 0);
  cr_assert_eq(sg_stats(g, 0).bad_frames, 1u);
  cr_assert(frozen(g, 0));
  cr_assert_eq(memcmp(&g->nd[0].app.st, &before, sizeof before), 0);
  g->rule[0].on = false;
  sg_release(g, 1, 0);
  sg_settle(g);
  converged(g, 20);
  sg_free(g);
}

/* Malformed answers reach the leader before the real one: a short one
 * (no life) and one whose positions do not parse. Each is counted, the
 * leader's poll succeeds, and the real answer makes the line. (Regression:
 * the second failed the leader's poll with EPROTO, "computing the line",
 * and the round waited for a takeover.) */
static void malformed_info(const char *protocol, uint64_t seed) {
  sg_group *g = t_new(2, seed, 10, 10, protocol, "g");
  g->nd[0].opening = g->nd[1].opening = 10;
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 4, 0, false);
  sg_settle(g);
  checkpoint(g, 0);
  checkpoint(g, 1); /* nothing is lost under none */
  sg_settle(g);
  sg_crash(g, 1);
  sg_open(g, 1);
  sg_rule *r = sg_hold(g, 0, 1, MLOGI_FRAME_ROUND_INFO);
  sg_run(g, 0, 50);
  cr_assert_geq(r->hits, 1u, "P0's answer is held");
  uint8_t buf[64];
  mlogi_put_le64(buf, g->nd[0].p->grp->life);
  memcpy(buf + 8, overlong, sizeof overlong);
  uint64_t bad = sg_stats(g, 1).bad_frames;
  mlogi_frame f = {.kind = MLOGI_FRAME_ROUND_INFO,
                   .incarnation = g->nd[0].p->incarnation,
                   .seq = g->nd[1].p->grp->round,
                   .payload = buf,
                   .payload_len = 4}; /* shorter than a life */
  sg_inject(g, 0, 1, f);
  take_injected(g, 1);
  cr_assert_eq(sg_stats(g, 1).bad_frames, bad + 1, "a short answer counted");
  f.payload_len = 8 + sizeof overlong; /* P0's life, bad positions */
  sg_inject(g, 0, 1, f);
  take_injected(g, 1);
  cr_assert_eq(sg_stats(g, 1).bad_frames, bad + 2, "bad positions counted");
  cr_assert_eq(sg_stats(g, 1).rounds, 0u, "no line yet");
  r->on = false;
  sg_release(g, 0, 1);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).rounds, 1u, "the real answer made the line");
  converged(g, 20);
  sg_free(g);
}

Test(group, malformed_info_coordinated) {
  malformed_info("coordinated", 14);
}

Test(group, malformed_info_none) {
  malformed_info("none", 15);
}

/* Snapshot 1 complete everywhere; A made an output that snapshot 2 will
 * cover; snapshot 2 is recorded at both, complete at B, and every frame
 * B -> A is held: A does not know it complete. */
static sg_group *snap_held(uint64_t seed) {
  sg_group *g = t_new(2, seed, 10, 10, "coordinated", "g");
  g->nd[0].opening = g->nd[1].opening = 10;
  sg_start(g);
  sg_settle(g);
  checkpoint(g, 0);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u);
  t_send(g, 1, 0, 2, 0, true);
  sg_settle(g);
  cr_assert_eq(g->nd[0].released, 0u, "A's output waits for snapshot 2");
  sg_hold(g, 1, 0, 0);
  checkpoint(g, 0);
  sg_run(g, 0, 500); /* A resends what B acknowledged: no quiescence */
  cr_assert_eq(sg_stats(g, 1).snapshot, 2u);
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u);
  return g;
}

/* A SNAP_DONE from B to A: snapshot seq complete at B, payload its echo. */
static void inject_done(sg_group *g, uint64_t seq, const void *payload,
                        uint32_t len) {
  mlogi_frame f = {.kind = MLOGI_FRAME_SNAP_DONE,
                   .incarnation = g->nd[1].p->incarnation,
                   .seq = seq,
                   .payload = payload,
                   .payload_len = len};
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
}

/* After frames that must have changed nothing at A: the held frames go,
 * snapshot 2 completes and releases A's output. */
static void snap_release(sg_group *g) {
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 1u,
               "snapshot 2 is not complete everywhere");
  cr_assert_eq(sg_stats(g, 0).snapshot, 2u);
  cr_assert_eq(g->nd[0].released, 0u, "the output waits");
  g->rule[0].on = false;
  sg_release(g, 1, 0);
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 0).snapshot_complete, 2u);
  cr_assert_eq(g->nd[0].released, 1u);
  int64_t total, in_channels;
  cr_assert(snap_money(g, 2, &total, &in_channels));
  cr_assert_eq(total, 20);
}

/* SNAP_DONE frames with a malformed echo or naming a snapshot A never
 * recorded: counted, and nothing is complete that was not. */
Test(group, malformed_snap_done) {
  sg_group *g = snap_held(14);
  uint64_t bad = sg_stats(g, 0).bad_frames;
  static const uint8_t trailing[2] = {0x01, 0x00}, one[1] = {0x01};
  inject_done(g, 2, overlong, 11);
  inject_done(g, 2, trailing, 2);
  inject_done(g, 99, one, 1);
  cr_assert_eq(sg_stats(g, 0).bad_frames, bad + 3, "three malformed frames");
  snap_release(g);
  sg_free(g);
}

/* Regression: an empty SNAP_DONE payload passed the check (the varint
 * reader takes 0 bytes of 0) and the echo was read uninitialized. */
Test(group, snap_done_without_payload) {
  sg_group *g = snap_held(15);
  uint64_t bad = sg_stats(g, 0).bad_frames;
  inject_done(g, 2, NULL, 0);
  cr_assert_eq(sg_stats(g, 0).bad_frames, bad + 1, "counted as malformed");
  snap_release(g);
  sg_free(g);
}

/* Regression: a marker without payload passed the check the same way and
 * started a snapshot whose id was uninitialized stack memory. */
Test(group, marker_without_payload) {
  sg_group *g = t_new(2, 16, 10, 10, "coordinated", "g");
  sg_start(g);
  sg_settle(g);
  mlogi_frame f = {.kind = MLOGI_FRAME_DATA,
                   .flags = MLOGI_FRAME_F_MARKER,
                   .incarnation = g->nd[1].p->incarnation,
                   .seq = 1};
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
  mlog_proc_stats a = sg_stats(g, 0);
  cr_assert_eq(a.bad_frames, 1u, "counted as malformed");
  cr_assert_eq(a.snapshot, 0u, "no snapshot recorded");
  sg_free(g);
}

/* ------------------------------------------------------------------------ */
/* Regressions found by review: forged rounds and markers, late requests,   */
/* failed opens, frames of another protocol family                         */

/* A QUERY whose round is UINT32_MAX used to wedge P0: its takeover's round
 * wrapped around to 0. Such a round is refused now. */
Test(group, regression_query_round_wraps) {
  sg_group *g = t_new(2, 901, 10, 10, "none", "rw");
  sg_start(g);
  sg_settle(g);
  mlogi_frame f = {.kind = MLOGI_FRAME_ROUND_QUERY,
                   .incarnation = 0,
                   .seq = UINT32_MAX}; /* UINT32_MAX % 2 == 1: P1 may lead it */
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
  cr_assert(!frozen(g, 0), "P0 refused the round");
  cr_assert_eq(g->nd[0].p->grp->round, 0u);
  sg_free(g);
}

static int count_rec(void *arg, const mlog_record *rec) {
  (void)rec;
  ++*(uint64_t *)arg;
  return 0;
}
static uint64_t count_records(const char *d) {
  mlog_log *log;
  cr_assert_eq(mlog_log_open(d, MLOG_LOG_RDONLY, NULL, &log), MLOG_OK);
  uint64_t n = 0;
  cr_assert_eq(mlog_log_scan(log, 1, count_rec, &n), MLOG_OK);
  mlog_log_close(log);
  return n;
}
/* A failed reopen (restore callback fails) must leave the log as it was:
 * it used to append a COUNTS record at the close. */
static bool fail_restore;
static int r_restore(void *arg, const void *state, size_t len) {
  if (fail_restore)
    return 1;
  return t_restore(arg, state, len);
}
static const mlog_app r_callbacks = {.deliver = t_deliver,
                                     .snapshot = t_snapshot,
                                     .restore = r_restore,
                                     .output = t_output};

Test(group, regression_failed_open_writes_counts) {
  sg_group *g = t_new(2, 902, 10, 10, "none", "fo");
  g->hooks.callbacks = &r_callbacks;
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 1, 0, false);
  sg_settle(g);
  sg_crash(g, 1);
  uint64_t before = count_records(g->nd[1].dir);
  fail_restore = true;
  mlog_proc_config cfg = g->nd[1].cfg;
  void *app = g->hooks.prepare(g, 1, &cfg);
  mlog_proc *p = NULL;
  int rc = mlog_proc_open(&cfg, &r_callbacks, app, &p);
  fail_restore = false;
  cr_assert_neq(rc, MLOG_OK, "the open fails");
  uint64_t after = count_records(g->nd[1].dir);
  cr_assert_eq(after, before, "a failed open appended %llu record(s)",
               (unsigned long long)(after - before));
  sg_free(g);
}

/* A marker naming a far snapshot id used to be taken: a checkpoint was
 * written and one COMPLETE record per id up to 2^64-1 was due. */
Test(group, regression_marker_far_id) {
  sg_group *g = t_new(2, 903, 10, 10, "coordinated", "mk");
  sg_start(g);
  sg_settle(g);
  uint8_t payload[10];
  size_t len = mlogi_varint_put(payload, UINT64_MAX);
  mlogi_frame f = {.kind = MLOGI_FRAME_DATA,
                   .flags = MLOGI_FRAME_F_MARKER,
                   .incarnation = g->nd[1].p->incarnation,
                   .seq = 1,
                   .payload = payload,
                   .payload_len = (uint32_t)len};
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
  mlog_proc_stats a = sg_stats(g, 0);
  cr_assert_eq(a.snapshot, 0u, "a marker of snapshot 2^64-1 was taken");
  sg_free(g);
}

/* Koo-Toueg: two concurrent initiations abort each other; a late duplicate
 * of one's REQUEST used to start the dead instance at the other, which then
 * held its sends for ever. */
Test(group, regression_kt_late_request_of_aborted_instance) {
  sg_group *g = t_new(2, 904, 10, 10, "coordinated", "kt");
  for (uint32_t i = 0; i < 2; i++) {
    g->nd[i].cfg.flags = SG_FLAGS | MLOG_PROC_KOO_TOUEG;
    g->nd[i].opening = 10;
  }
  sg_start(g);
  sg_settle(g);
  t_send(g, 0, 1, 1, 0, false);
  t_send(g, 1, 0, 1, 0, false);
  sg_settle(g);
  checkpoint(g, 0); /* instance X, asks P1 */
  checkpoint(g, 1); /* instance Y, asks P0 */
  uint64_t x = g->nd[0].p->grp->kt->inst;
  sg_settle(g);
  cr_assert(!sg_stats(g, 0).in_two_phase && !sg_stats(g, 1).in_two_phase,
            "both aborted");
  uint8_t payload[10];
  size_t len = mlogi_varint_put(payload, g->nd[0].p->ch[1].recv_mark);
  mlogi_frame f = {.kind = MLOGI_FRAME_KT_REQUEST,
                   .incarnation = g->nd[0].p->incarnation,
                   .seq = x,
                   .payload = payload,
                   .payload_len = (uint32_t)len};
  sg_inject(g, 0, 1, f); /* the resend of X's request, late */
  cr_assert_eq(sg_step(g, 0), 1u);
  sg_run(g, 0, 60 * 1000);
  t_send(g, 1, 0, 1, 0, false);
  sg_run(g, 0, 60 * 1000);
  cr_assert(!sg_stats(g, 1).in_two_phase,
            "P1 is stuck in the dead instance X, holding its sends");
  sg_free(g);
}

/* Under pessimistic-sender, a frame of a checkpoint-only kind (8) with the
 * LOST flag used to be taken as a HELLO: the process checkpointed. */
Test(group, regression_sender_unknown_kind_as_hello) {
  sg_group *g = t_new(2, 905, 10, 10, "pessimistic-sender", "sb");
  sg_start(g);
  sg_settle(g);
  mlog_proc_stats a = sg_stats(g, 0);
  mlogi_frame f = {.kind = MLOGI_FRAME_ROUND_QUERY,
                   .flags = MLOGI_FRAME_F_LOST,
                   .incarnation = g->nd[1].p->incarnation,
                   .seq = 1};
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
  sg_poll(g, 0);
  mlog_proc_stats b = sg_stats(g, 0);
  cr_assert_eq(b.checkpoints, a.checkpoints, "a bad frame wrote a checkpoint");
  cr_assert_eq(b.bad_frames, a.bad_frames + 1, "not counted as bad");
  sg_free(g);
}

/* ======================================================================== */
/* 8. Two acknowledgements under none and Koo-Toueg: received, then stable  */

/*
 * Under none and Koo-Toueg a receiver acknowledges a message as received on
 * delivery (its sender stops resending it) and as stable once a checkpoint
 * that no rollback drops covers the delivery (the sender drops it): under
 * none any checkpoint, under Koo-Toueg a permanent one. A rollback of the
 * receiver to before the delivery, with the sender staying after the send,
 * finds the message still kept by the sender, which sends it again.
 */

/* Two processes with 10 each under none (kt: coordinated with Koo-Toueg),
 * started; their hellos (which carry the received mark) were well formed. */
static sg_group *ack2(uint64_t seed, bool kt, const char *sub) {
  sg_group *g = t_new(2, seed, 10, 10, kt ? "coordinated" : "none", sub);
  for (uint32_t i = 0; i < 2; i++) {
    g->nd[i].opening = 10;
    if (kt)
      g->nd[i].cfg.flags = SG_FLAGS | MLOG_PROC_KOO_TOUEG;
  }
  sg_start(g);
  sg_settle(g);
  for (uint32_t i = 0; i < 2; i++)
    cr_assert_eq(sg_stats(g, i).bad_frames, 0u, "P%u", i);
  return g;
}

/* B checkpoints (nothing received; under Koo-Toueg a permanent checkpoint:
 * B asks nobody). A sends m (3), B delivers it and acknowledges it as
 * received. A checkpoints (permanent too). B crashes; its restart rolls it
 * back to before m, and the line leaves A in its current state, after the
 * send. Before the two acknowledgements A had dropped m on B's
 * acknowledgement, and m was lost (stats.lost_messages 1, B at 10); now A
 * still keeps it and sends it again. */
static sg_group *in_transit_again(uint64_t seed, bool kt, const char *sub) {
  sg_group *g = ack2(seed, kt, sub);
  checkpoint(g, 1);
  sg_settle(g);
  t_send(g, 0, 1, 3, 0, false);
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 13, "B delivered m");
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "received, not stable: A keeps m");
  cr_assert_eq(g->nd[0].p->ch[1].rcvd_acked, 1u, "B said it received m");
  checkpoint(g, 0);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "A's checkpoint keeps m too");
  sg_crash(g, 1);
  sg_open(g, 1);
  cr_assert_eq(balance(g, 1), 10, "B restarted from before m");
  sg_settle(g);
  mlog_proc_stats a = sg_stats(g, 0), b = sg_stats(g, 1);
  cr_assert_eq(a.lost_messages + b.lost_messages, 0u, "m is not lost");
  cr_assert_eq(a.rounds, 1u);
  cr_assert_eq(b.rounds, 1u);
  cr_assert_eq(a.rollbacks, 0u, "A stays after sending m");
  cr_assert_eq(b.rollbacks, 1u, "B at its checkpoint");
  cr_assert_eq(a.domino_rollbacks + b.domino_rollbacks, 0u);
  cr_assert_eq(b.delivered, 1u, "B delivered m again, once");
  cr_assert_eq(sg_total(g, 1).delivered, 2u, "once in each incarnation");
  cr_assert_eq(g->nd[1].app.st.count, 1u);
  cr_assert_eq(g->nd[1].p->ch[0].recv_mark, 1u);
  cr_assert_eq(balance(g, 1), 13, "B has m");
  cr_assert_eq(balance(g, 0), 7);
  return g;
}

/* None: after the rollback B's next checkpoint makes m stable. */
Test(group, two_acks_none_message_in_transit_again_is_sent_again) {
  sg_group *g = in_transit_again(20, false, "ack");
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "not stable yet");
  checkpoint(g, 1);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "stable: A dropped m");
  converged(g, 20);
  sg_free(g);
}

/* Koo-Toueg: a tentative checkpoint of B's makes nothing stable (it may be
 * discarded); the decision that makes it permanent does. */
Test(group, two_acks_koo_toueg_message_in_transit_again_is_sent_again) {
  sg_group *g = in_transit_again(21, true, "ack");
  sg_rule *r = sg_hold(g, 0, 1, MLOGI_FRAME_KT_REPLY);
  checkpoint(g, 1); /* B received m since its last permanent one: asks A */
  sg_run(g, 0, 1000);
  cr_assert(sg_stats(g, 1).in_two_phase, "B waits for A's answer");
  cr_assert_gt(r->hits, 0u);
  cr_assert_eq(sg_outbox(g, 0, 1), 1u, "tentative: A keeps m");
  r->on = false;
  sg_release(g, 0, 1);
  sg_settle(g);
  cr_assert(!sg_stats(g, 1).in_two_phase, "decided");
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "permanent: A dropped m");
  converged(g, 20);
  sg_free(g);
}

/* Run the frames in flight to their receivers (no time passes). */
static void drain(sg_group *g) {
  for (int k = 0; k < 1000 && mlog_sim_pending(g->sim) > 0; k++)
    sg_step(g, 0);
}

/* Messages acknowledged as received are kept but not resent on timeouts;
 * one whose acknowledgements are lost is, until the answer to one of its
 * duplicates gets through. */
Test(group, two_acks_received_is_not_resent_on_timeout) {
  sg_group *g = ack2(22, false, "ack");
  for (int k = 0; k < 3; k++)
    t_send(g, 0, 1, 1, 0, false);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 3u, "received, kept until stable");
  uint64_t resent = sg_stats(g, 0).resent;
  sg_run(g, 0, 5000); /* 25 resend timeouts */
  cr_assert_eq(sg_stats(g, 0).resent, resent, "nothing received is resent");
  /* B's acknowledgements are lost: the fourth is resent, and only it. */
  sg_rule *r = sg_drop(g, 1, 0, MLOGI_FRAME_ACK);
  uint64_t dups = sg_stats(g, 1).duplicates;
  t_send(g, 0, 1, 1, 0, false);
  sg_run(g, 0, 1000);
  drain(g);
  uint64_t again = sg_stats(g, 0).resent - resent;
  cr_assert_geq(again, 3u, "resent on timeouts");
  cr_assert_eq(sg_stats(g, 1).duplicates - dups, again, "only the fourth");
  cr_assert_eq(balance(g, 1), 14, "each delivered once");
  r->on = false;
  sg_run(g, 0, 1000); /* the answer to a duplicate gets through */
  resent = sg_stats(g, 0).resent;
  sg_run(g, 0, 5000);
  cr_assert_eq(sg_stats(g, 0).resent, resent, "received: no more resends");
  cr_assert_eq(sg_outbox(g, 0, 1), 4u);
  checkpoint(g, 1);
  sg_settle(g);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "B's checkpoint: all four stable");
  sg_free(g);
}

/* After a line, what a peer acknowledged as received may be undone: A's
 * first transmission of m after the line is lost, and A resends it on a
 * timeout (it would not, had it kept believing B received m). */
Test(group, two_acks_resend_after_a_line_survives_a_lost_frame) {
  sg_group *g = ack2(24, false, "ack");
  checkpoint(g, 1);
  sg_settle(g);
  t_send(g, 0, 1, 3, 0, false);
  sg_settle(g);
  cr_assert_eq(g->nd[0].p->ch[1].rcvd_acked, 1u, "B received m");
  sg_crash(g, 1);
  sg_rule *r = sg_drop(g, 0, 1, MLOGI_FRAME_DATA);
  sg_open(g, 1);
  sg_run(g, 0, 2000);
  cr_assert_eq(balance(g, 1), 10, "B rolled back and m is dropped");
  cr_assert_gt(r->hits, 1u, "sent again after the line, then on timeouts");
  r->on = false;
  sg_settle(g);
  cr_assert_eq(sg_stats(g, 1).lost_messages, 0u);
  cr_assert_eq(balance(g, 1), 13, "B has m");
  cr_assert_eq(g->nd[1].app.st.count, 1u);
  converged(g, 20);
  sg_free(g);
}

/* An acknowledgement from B to A (as B would send it in its round). */
static void inject_ack(sg_group *g, uint8_t kind, uint16_t flags, uint64_t seq,
                       const void *payload, uint32_t len) {
  mlogi_frame f = {.kind = kind,
                   .flags = flags,
                   .incarnation = g->nd[1].p->incarnation,
                   .seq = seq,
                   .payload = payload,
                   .payload_len = len};
  sg_inject(g, 1, 0, f);
  cr_assert_eq(sg_step(g, 0), 0u);
}

/* Under two acks an ACK or HELLO carries exactly F_RECEIVED and one varint
 * not below seq; anything else is counted as malformed and changes
 * nothing. */
Test(group, two_acks_malformed_acknowledgements) {
  sg_group *g = ack2(23, false, "ack");
  sg_rule *r = sg_drop(g, 1, 0, MLOGI_FRAME_ACK); /* A hears forged ones */
  t_send(g, 0, 1, 1, 0, false);
  t_send(g, 0, 1, 1, 0, false);
  sg_run(g, 0, 100);
  cr_assert_eq(balance(g, 1), 12, "B delivered both");
  uint64_t bad = sg_stats(g, 0).bad_frames;
  static const uint8_t one[1] = {1}, two[1] = {2}, trailing[2] = {2, 0};
  const uint16_t rcv = MLOGI_FRAME_F_RECEIVED;
  inject_ack(g, MLOGI_FRAME_ACK, 0, 2, NULL, 0); /* without the flag */
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 2, NULL, 0);
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 2, one, 1); /* received < stable */
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 2, overlong, 11);
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 2, trailing, 2);
  inject_ack(g, MLOGI_FRAME_ACK, rcv | MLOGI_FRAME_F_STATUS, 2, two, 1);
  inject_ack(g, MLOGI_FRAME_HELLO, 0, 0, NULL, 0);
  const channel *ch = &g->nd[0].p->ch[1];
  cr_assert_eq(sg_stats(g, 0).bad_frames, bad + 7, "seven malformed frames");
  cr_assert_eq(ch->acked, 0u, "none changed anything");
  cr_assert_eq(ch->rcvd_acked, 0u);
  cr_assert_eq(sg_outbox(g, 0, 1), 2u);
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 0, two, 1); /* received, none stable */
  cr_assert_eq(ch->rcvd_acked, 2u);
  cr_assert_eq(sg_outbox(g, 0, 1), 2u, "kept");
  inject_ack(g, MLOGI_FRAME_ACK, rcv, 2, two, 1); /* both stable */
  cr_assert_eq(ch->acked, 2u);
  cr_assert_eq(sg_outbox(g, 0, 1), 0u, "dropped");
  cr_assert_eq(sg_stats(g, 0).bad_frames, bad + 7, "well formed");
  r->on = false;
  sg_free(g);
}

/* Elsewhere (the logging protocols, Chandy-Lamport) an acknowledgement
 * with F_RECEIVED is malformed. */
static void received_flag_elsewhere(const char *protocol, uint64_t seed) {
  sg_group *g = t_new(2, seed, 10, 10, protocol, protocol);
  sg_start(g);
  sg_settle(g);
  uint64_t bad = sg_stats(g, 0).bad_frames;
  static const uint8_t zero[1] = {0};
  inject_ack(g, MLOGI_FRAME_ACK, MLOGI_FRAME_F_RECEIVED, 0, zero, 1);
  inject_ack(g, MLOGI_FRAME_HELLO, MLOGI_FRAME_F_RECEIVED, 0, zero, 1);
  cr_assert_eq(sg_stats(g, 0).bad_frames, bad + 2, "%s", protocol);
  sg_free(g);
}

Test(group, two_acks_received_flag_elsewhere_is_malformed) {
  received_flag_elsewhere("pessimistic-receiver", 25);
  received_flag_elsewhere("pessimistic-sender", 26);
  received_flag_elsewhere("optimistic-receiver", 27);
  received_flag_elsewhere("coordinated", 28);
}

/* ------------------------------------------------------------------------ */
/* 9. Go back N                                                             */

/* The receiver takes only the next ssn of a channel, so when a frame is
 * lost it drops every later one. Once the lost one times out, the ones
 * sent after it go again with it, not each after its own timeout (newer
 * sends would keep arriving behind a gap). */
Test(group, a_timeout_resends_the_rest_of_the_channel_with_it) {
  sg_group *g = ack2(23, false, "gbn");
  sg_rule *r = sg_drop(g, 0, 1, MLOGI_FRAME_DATA);
  t_send(g, 0, 1, 1, 0, false); /* m1: lost */
  r->on = false;
  for (int k = 0; k < 3; k++) { /* m2..m4, 50 ms apart */
    mlog_sim_advance(g->sim, 50);
    t_send(g, 0, 1, 1, 0, false);
    drain(g);
  }
  cr_assert_eq(balance(g, 1), 10, "B took none: it waits for m1");
  cr_assert_eq(sg_stats(g, 1).delivered, 0u);
  uint64_t resent = sg_stats(g, 0).resent;
  mlog_sim_advance(g->sim, 60); /* 210 ms: only m1 is 200 ms old */
  sg_poll(g, 0);
  drain(g);
  cr_assert_eq(sg_stats(g, 0).resent - resent, 4u,
               "m1 timed out, m2..m4 went with it");
  cr_assert_eq(balance(g, 1), 14, "B has all four one timeout after m1");
  sg_settle(g);
  cr_assert_eq(balance(g, 1), 14, "each once");
  cr_assert_eq(sg_stats(g, 1).delivered, 4u);
  sg_free(g);
}
