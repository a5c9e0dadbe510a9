/* simgroup.h - a step-by-step driver of a group under the sim transport */
#ifndef MLOG_TEST_SIMGROUP_H
#define MLOG_TEST_SIMGROUP_H

/*
 * A test drives a small group one frame at a time: sg_step moves one frame
 * with mlog_sim_step and polls only its receiver, unless the receiver is in
 * `hold` (a bit per process: its inbox keeps the frame until it is polled).
 * A crash is mlog_sim_crash + mlogi_proc_crash; opening the directory again
 * is the restart.
 *
 * Every process talks through a filtering transport wrapped around the sim
 * one. Its rules drop or hold chosen frames (by channel, kind and flags);
 * held frames leave, in order, when the test releases them. It can also
 * send a raw frame from any process (a forged or malformed frame), and it
 * remembers the last frames each process took from the transport.
 *
 * The application is the test's. Before including this header a test may
 * define SG_NODE_EXTRA (members added to each node, e.g. the application's
 * state) and SG_GROUP_EXTRA (members added to the group). Its hooks reset
 * the application before each open and free what it allocated.
 *
 * Every function fails the test (Criterion assertions) when the library
 * returns an unexpected error; groups still open when a test fails are
 * closed by sg_release_all, which the suite's teardown calls.
 */

#include <stddef.h>

#include "core/proc.h" /* only to look at a process's outbox and round */
#include "core/wire.h"
#include "mlog/process.h"
#include "mlog/sim.h"
#include "test/testutil.h"

#ifndef SG_NODE_EXTRA
#define SG_NODE_EXTRA
#endif
#ifndef SG_GROUP_EXTRA
#define SG_GROUP_EXTRA
#endif

#define SG_MAXN 4    /* processes in a group, at most */
#define SG_SLOTS 2   /* groups open at once, at most */
#define SG_RULES 8   /* filter rules of a group */
#define SG_HELD 1024 /* frames held at once, at most */
#define SG_SEEN 32   /* frames remembered per process */
#define SG_ANY UINT32_MAX

/* Simulation flags: the logger persists from the poll (same seed, same
 * run) and nothing is flushed (simulated crashes are process crashes). */
#define SG_FLAGS (MLOG_PROC_NO_THREADS | MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE)

typedef struct sg_group sg_group;

/* What a test supplies: the protocol and the application. */
typedef struct sg_hooks {
  const char *protocol;
  const mlog_app *callbacks;
  /* Required. Before each open of process i: reset its application and
   * adjust cfg (a copy of the node's cfg) if needed; returns the
   * application argument of the open. */
  void *(*prepare)(sg_group *g, uint32_t i, mlog_proc_config *cfg);
  /* Optional. At sg_free: release what the test allocated for node i. */
  void (*release)(sg_group *g, uint32_t i);
} sg_hooks;

/* A frame a process took from the transport (its envelope). */
typedef struct sg_seen {
  uint32_t src;
  uint8_t kind;
  uint16_t flags;
  uint32_t incarnation;
  uint64_t seq;
  uint32_t payload_len;
} sg_seen;

/* Drop or hold the frames src -> dst (SG_ANY: any) of `kind` (0: any)
 * that carry every flag in `flags`, while `on`. */
typedef struct sg_rule {
  bool on, hold;
  uint32_t src, dst;
  uint8_t kind;
  uint16_t flags;
  unsigned hits; /* frames it dropped or held */
} sg_rule;

typedef struct sg_held_frame {
  uint32_t src, dst;
  size_t len;
  uint8_t *buf;
} sg_held_frame;

typedef struct sg_node {
  mlog_proc *p; /* NULL while down */
  char dir[160];
  mlog_proc_config cfg; /* what sg_open uses; tests may change it */
  mlog_proc_stats acc;  /* counters of the incarnations closed so far */
  uint64_t nseen;       /* frames taken, ever */
  sg_seen seen[SG_SEEN];
  SG_NODE_EXTRA
} sg_node;

struct sg_group {
  uint32_t n;
  mlog_sim *sim;
  sg_hooks hooks;
  sg_node nd[SG_MAXN];
  void *ep[SG_MAXN]; /* each open process's filtering endpoint */
  sg_rule rule[SG_RULES];
  sg_held_frame held[SG_HELD];
  size_t nheld;
  unsigned held_lost; /* frames a full hold queue dropped */
  SG_GROUP_EXTRA
};

typedef struct sg_options {
  uint32_t n;
  uint64_t seed;
  uint32_t min_delay, max_delay; /* ms; min == max: arrivals in send order */
  uint32_t drop_percent;
  unsigned flags; /* of every process (0: SG_FLAGS) */
} sg_options;

static sg_group sg_slots[SG_SLOTS];
static bool sg_slot_used[SG_SLOTS];

/* ------------------------------------------------------------------------ */
/* The filtering transport                                                  */

typedef struct sg_ep {
  sg_group *g;
  uint32_t id;
  max_align_t inner[]; /* the sim endpoint */
} sg_ep;

static inline int sg_ep_open(void *self, const void *config, uint32_t id,
                             uint32_t n) {
  sg_ep *t = self;
  t->g = (sg_group *)config;
  t->id = id;
  int rc = mlog_sim_ops.open(t->inner, t->g->sim, id, n);
  if (rc == MLOG_OK && id < SG_MAXN)
    t->g->ep[id] = t;
  return rc;
}

static inline bool sg_rule_matches(const sg_rule *r, uint32_t src, uint32_t dst,
                                   const uint8_t *frame, size_t len) {
  if (!r->on || len < MLOGI_FRAME_HEADER)
    return false;
  uint16_t flags = (uint16_t)(frame[2] | frame[3] << 8);
  return (r->src == SG_ANY || r->src == src) &&
         (r->dst == SG_ANY || r->dst == dst) &&
         (r->kind == 0 || r->kind == frame[0]) &&
         (flags & r->flags) == r->flags;
}

static inline int sg_ep_send(void *self, uint32_t dst, const void *frame,
                             size_t len) {
  sg_ep *t = self;
  sg_group *g = t->g;
  for (int k = 0; k < SG_RULES; k++) {
    sg_rule *r = &g->rule[k];
    if (!sg_rule_matches(r, t->id, dst, frame, len))
      continue;
    r->hits++;
    uint8_t *copy = r->hold && g->nheld < SG_HELD ? malloc(len) : NULL;
    if (copy != NULL) {
      memcpy(copy, frame, len);
      g->held[g->nheld++] =
          (sg_held_frame){.src = t->id, .dst = dst, .len = len, .buf = copy};
    } else if (r->hold) {
      g->held_lost++; /* a lost frame: the transport may lose frames */
    }
    return MLOG_OK;
  }
  return mlog_sim_ops.send(t->inner, dst, frame, len);
}

static inline int sg_ep_recv(void *self, int timeout_ms, uint32_t *src,
                             const void **frame, size_t *len) {
  sg_ep *t = self;
  int rc = mlog_sim_ops.recv(t->inner, timeout_ms, src, frame, len);
  mlogi_frame f;
  if (rc == MLOG_OK && t->id < SG_MAXN &&
      mlogi_frame_decode(*frame, *len, &f) == MLOG_OK) {
    sg_node *nd = &t->g->nd[t->id];
    nd->seen[nd->nseen++ % SG_SEEN] = (sg_seen){.src = *src,
                                                .kind = f.kind,
                                                .flags = f.flags,
                                                .incarnation = f.incarnation,
                                                .seq = f.seq,
                                                .payload_len = f.payload_len};
  }
  return rc;
}

static inline uint64_t sg_ep_now(void *self) {
  sg_ep *t = self;
  return mlog_sim_ops.now_ms(t->inner);
}

static inline void sg_ep_close(void *self) {
  sg_ep *t = self;
  if (t->id < SG_MAXN && t->g->ep[t->id] == t)
    t->g->ep[t->id] = NULL;
  mlog_sim_ops.close(t->inner);
}

static mlog_transport_ops sg_ops; /* set up by sg_new (the sim's size) */

/* Add a rule (see sg_rule; the first matching rule applies); returns it,
 * so the test can read its hits or turn it off. A group's rules are not
 * reused. */
static inline sg_rule *sg_filter(sg_group *g, bool hold, uint32_t src,
                                 uint32_t dst, uint8_t kind, uint16_t flags) {
  for (int k = 0; k < SG_RULES; k++)
    if (!g->rule[k].on && g->rule[k].hits == 0) {
      g->rule[k] = (sg_rule){.on = true,
                             .hold = hold,
                             .src = src,
                             .dst = dst,
                             .kind = kind,
                             .flags = flags};
      return &g->rule[k];
    }
  cr_assert_fail("no free filter rule");
  return NULL;
}

static inline sg_rule *sg_drop(sg_group *g, uint32_t src, uint32_t dst,
                               uint8_t kind) {
  return sg_filter(g, false, src, dst, kind, 0);
}

static inline sg_rule *sg_hold(sg_group *g, uint32_t src, uint32_t dst,
                               uint8_t kind) {
  return sg_filter(g, true, src, dst, kind, 0);
}

/* Hand the frames held on src -> dst (SG_ANY: any) to the sim, in the
 * order they were sent; those whose sender is down are lost. Returns the
 * frames released. */
static inline size_t sg_release(sg_group *g, uint32_t src, uint32_t dst) {
  size_t kept = 0, released = 0;
  for (size_t i = 0; i < g->nheld; i++) {
    sg_held_frame *h = &g->held[i];
    if ((src != SG_ANY && h->src != src) || (dst != SG_ANY && h->dst != dst)) {
      g->held[kept++] = *h;
      continue;
    }
    sg_ep *t = g->ep[h->src];
    if (t != NULL) {
      cr_assert_eq(mlog_sim_ops.send(t->inner, h->dst, h->buf, h->len),
                   MLOG_OK);
      released++;
    }
    free(h->buf);
  }
  g->nheld = kept;
  return released;
}

/* Send a raw frame from process src (which is up) to dst; f's src and dst
 * are filled in. The filter rules do not apply. */
static inline void sg_inject(sg_group *g, uint32_t src, uint32_t dst,
                             mlogi_frame f) {
  sg_ep *t = g->ep[src];
  cr_assert_not_null(t, "process %u is up", src);
  f.src = src;
  f.dst = dst;
  size_t len = mlogi_frame_size(&f);
  uint8_t *buf = malloc(len);
  cr_assert_not_null(buf);
  mlogi_frame_encode(&f, buf);
  cr_assert_eq(mlog_sim_ops.send(t->inner, dst, buf, len), MLOG_OK);
  free(buf);
}

/* The last frame process i took (its k-th newest with k > 0). */
static inline sg_seen sg_last(const sg_group *g, uint32_t i, unsigned k) {
  const sg_node *nd = &g->nd[i];
  cr_assert_lt(k, nd->nseen, "process %u took more than %u frames", i, k);
  cr_assert_lt(k, (unsigned)SG_SEEN);
  return nd->seen[(nd->nseen - 1 - k) % SG_SEEN];
}

/* ------------------------------------------------------------------------ */
/* Groups                                                                   */

/* A group of o->n processes whose logs are parent/sub/p<i>, on a sim with
 * the options' seed, delays and losses. */
static inline sg_group *sg_new(const char *parent, const char *sub,
                               const sg_options *o, const sg_hooks *hooks) {
  cr_assert(o->n >= 1 && o->n <= SG_MAXN, "a group of 1..%d", SG_MAXN);
  cr_assert(hooks->callbacks && hooks->prepare);
  sg_ops = (mlog_transport_ops){.version = MLOG_TRANSPORT_VERSION,
                                .name = "sim-filter",
                                .size = sizeof(sg_ep) + mlog_sim_ops.size,
                                .open = sg_ep_open,
                                .send = sg_ep_send,
                                .recv = sg_ep_recv,
                                .now_ms = sg_ep_now,
                                .close = sg_ep_close};
  sg_group *g = NULL;
  for (int k = 0; k < SG_SLOTS && g == NULL; k++)
    if (!sg_slot_used[k]) {
      sg_slot_used[k] = true;
      g = &sg_slots[k];
    }
  cr_assert_not_null(g, "no free group slot");
  memset(g, 0, sizeof *g);
  g->n = o->n;
  g->hooks = *hooks;
  mlog_sim_options so = {.seed = o->seed,
                         .procs = o->n,
                         .min_delay_ms = o->min_delay,
                         .max_delay_ms = o->max_delay,
                         .drop_percent = o->drop_percent};
  cr_assert_eq(mlog_sim_create(&so, &g->sim), MLOG_OK);
  char base[128];
  tu_path(base, sizeof base, parent, sub);
  cr_assert_eq(mkdir(base, 0755), 0, "mkdir %s: %s", base, strerror(errno));
  for (uint32_t i = 0; i < o->n; i++) {
    sg_node *nd = &g->nd[i];
    char name[16];
    snprintf(name, sizeof name, "p%u", i);
    tu_path(nd->dir, sizeof nd->dir, base, name);
    nd->cfg = (mlog_proc_config){.dirpath = nd->dir,
                                 .id = i,
                                 .group_size = o->n,
                                 .protocol = hooks->protocol,
                                 .transport = &sg_ops,
                                 .transport_config = g,
                                 .flags = o->flags ? o->flags : SG_FLAGS};
  }
  return g;
}

/* Open (or recover) process i. */
static inline void sg_open(sg_group *g, uint32_t i) {
  sg_node *nd = &g->nd[i];
  cr_assert_null(nd->p, "process %u is down", i);
  mlog_proc_config cfg = nd->cfg;
  void *app = g->hooks.prepare(g, i, &cfg);
  int rc = mlog_proc_open(&cfg, g->hooks.callbacks, app, &nd->p);
  cr_assert_eq(rc, MLOG_OK, "open process %u: %s: %s", i, mlog_errname(rc),
               mlog_proc_errmsg(NULL));
}

static inline void sg_start(sg_group *g) {
  for (uint32_t i = 0; i < g->n; i++)
    sg_open(g, i);
}

/* Add the counters of st to acc (the incarnation states are not summed). */
static inline void sg_add_stats(mlog_proc_stats *acc,
                                const mlog_proc_stats *st) {
  acc->delivered += st->delivered;
  acc->replayed += st->replayed;
  acc->duplicates += st->duplicates;
  acc->checkpoints += st->checkpoints;
  acc->resent += st->resent;
  acc->bad_frames += st->bad_frames;
  acc->outputs += st->outputs;
  acc->rollbacks += st->rollbacks;
  acc->rolled_back += st->rolled_back;
  acc->rounds += st->rounds;
  acc->rolled_back_past += st->rolled_back_past;
  acc->domino_rollbacks += st->domino_rollbacks;
  acc->lost_messages += st->lost_messages;
  acc->redelivered += st->redelivered;
}

/* Crash process i: its inbox, what is in flight to it and what is held
 * for it are gone; what it sent and is held stays held. */
static inline void sg_crash(sg_group *g, uint32_t i) {
  sg_node *nd = &g->nd[i];
  cr_assert_not_null(nd->p, "process %u is up", i);
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  sg_add_stats(&nd->acc, &st);
  mlog_sim_crash(g->sim, i);
  mlogi_proc_crash(nd->p); /* writes nothing more, as a crash */
  nd->p = NULL;
  size_t kept = 0;
  for (size_t k = 0; k < g->nheld; k++)
    if (g->held[k].dst == i)
      free(g->held[k].buf);
    else
      g->held[kept++] = g->held[k];
  g->nheld = kept;
}

static inline void sg_free(sg_group *g) {
  for (uint32_t i = 0; i < g->n; i++) {
    mlog_proc_close(g->nd[i].p);
    g->nd[i].p = NULL;
    if (g->hooks.release)
      g->hooks.release(g, i);
  }
  for (size_t k = 0; k < g->nheld; k++)
    free(g->held[k].buf);
  g->nheld = 0;
  mlog_sim_destroy(g->sim);
  g->sim = NULL;
  for (int k = 0; k < SG_SLOTS; k++)
    if (g == &sg_slots[k])
      sg_slot_used[k] = false;
}

/* Close every group still open (a failed test's teardown). */
static inline void sg_release_all(void) {
  for (int k = 0; k < SG_SLOTS; k++)
    if (sg_slot_used[k])
      sg_free(&sg_slots[k]);
}

/* ------------------------------------------------------------------------ */
/* Driving                                                                  */

static inline void sg_poll(sg_group *g, uint32_t i) {
  mlog_proc *p = g->nd[i].p;
  if (p == NULL)
    return;
  int rc = mlog_proc_poll(p, 0);
  cr_assert_geq(rc, 0, "process %u: poll: %s: %s", i, mlog_errname(-rc),
                mlog_proc_errmsg(p));
}

static inline void sg_poll_all(sg_group *g, unsigned hold) {
  for (uint32_t i = 0; i < g->n; i++)
    if (!(hold & (1u << i)))
      sg_poll(g, i);
}

/* Move one frame and poll its receiver unless it is in `hold` (a bit per
 * process: its inbox keeps the frame until it is polled). */
static inline uint32_t sg_step(sg_group *g, unsigned hold) {
  uint32_t dst;
  int rc = mlog_sim_step(g->sim, &dst);
  cr_assert_eq(rc, MLOG_OK, "a frame is in flight (%s)", mlog_errname(rc));
  cr_assert_lt(dst, g->n);
  if (!(hold & (1u << dst)))
    sg_poll(g, dst);
  return dst;
}

/* Step until a frame reaches `want` (polled unless held); returns the
 * frames moved. */
static inline unsigned sg_step_until(sg_group *g, uint32_t want,
                                     unsigned hold) {
  for (unsigned k = 1; k <= 64; k++)
    if (sg_step(g, hold) == want)
      return k;
  cr_assert_fail("no frame reached process %u", want);
  return 0;
}

/* Let ms of virtual time pass in steps of 50, moving every frame and
 * polling every process except those in `hold` (timers fire: resends). */
static inline void sg_run(sg_group *g, unsigned hold, uint64_t ms) {
  for (uint64_t t = 0; t < ms; t += 50) {
    uint32_t dst;
    for (int k = 0; k < 10000 && mlog_sim_step(g->sim, &dst) == MLOG_OK; k++)
      if (!(hold & (1u << dst)))
        sg_poll(g, dst);
    mlog_sim_advance(g->sim, 50);
    sg_poll_all(g, hold);
  }
}

/* Run until nothing moves for 2 s of virtual time (past every resend and
 * flush timeout): everything delivered, acknowledged and persisted. */
static inline void sg_settle(sg_group *g) {
  int idle = 0;
  for (int r = 0; r < 20000 && idle < 40; r++) {
    bool moved = false;
    uint32_t dst;
    for (int k = 0; k < 10000 && mlog_sim_step(g->sim, &dst) == MLOG_OK; k++) {
      sg_poll(g, dst);
      moved = true;
    }
    mlog_sim_advance(g->sim, 50);
    sg_poll_all(g, 0);
    idle = !moved && mlog_sim_pending(g->sim) == 0 ? idle + 1 : 0;
  }
  if (idle >= 40)
    return;
  char why[512] = "";
  size_t at = 0;
  for (uint32_t i = 0; i < g->n && at < sizeof why; i++) {
    if (g->nd[i].p == NULL)
      continue;
    mlog_proc_stats st;
    mlog_proc_get_stats(g->nd[i].p, &st);
    at += (size_t)snprintf(why + at, sizeof why - at,
                           " P%u: rsn %llu committed %llu duplicates %llu;", i,
                           (unsigned long long)st.rsn,
                           (unsigned long long)st.committed_rsn,
                           (unsigned long long)st.duplicates);
  }
  cr_assert_fail("no quiescence (frames still move after %llu ms):%s",
                 (unsigned long long)mlog_sim_now(g->sim), why);
}

static inline mlog_proc_stats sg_stats(sg_group *g, uint32_t i) {
  cr_assert_not_null(g->nd[i].p, "process %u is up", i);
  mlog_proc_stats st;
  mlog_proc_get_stats(g->nd[i].p, &st);
  return st;
}

/* The counters of every incarnation of process i (it is up). */
static inline mlog_proc_stats sg_total(sg_group *g, uint32_t i) {
  mlog_proc_stats st = sg_stats(g, i);
  sg_add_stats(&st, &g->nd[i].acc);
  return st;
}

/* Messages in i's outbox to j (sent or not, not acknowledged). */
static inline unsigned sg_outbox(sg_group *g, uint32_t i, uint32_t j) {
  unsigned k = 0;
  for (const outmsg *m = g->nd[i].p->ch[j].out_head; m; m = m->next)
    k++;
  return k;
}

/* Messages of i's outbox to j that have left (been transmitted). */
static inline unsigned sg_outbox_sent(sg_group *g, uint32_t i, uint32_t j) {
  unsigned k = 0;
  for (const outmsg *m = g->nd[i].p->ch[j].out_head; m; m = m->next)
    k += m->sent;
  return k;
}

#endif /* MLOG_TEST_SIMGROUP_H */
