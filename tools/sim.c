/* sim.c - mlog sim: runs a protocol in simulation with crashes and checks it */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/proc.h"
#include "core/store.h"
#include "mlog/logger.h"
#include "mlog/sim.h"
#include "simapp.h"
#include "simbank.h"
#include "tool.h"

static const char usage[] =
    "usage: mlog sim --protocol P --procs N --messages M --crashes K\n"
    "                --seed S [--dir DIR] [--json] [--exhaustive]\n"
    "                [--ckpt-every N] [--max-delay MS] [--drop PERCENT]\n"
    "                [--key FILE] [--sync] [--runs N]\n"
    "\n"
    "Run a group of N processes inside this process under the seeded sim\n"
    "transport. Each process folds the messages it delivers into an\n"
    "order-sensitive hash and forwards them until their hop count runs out;\n"
    "every third hop picks its destination with a logged random value. M\n"
    "messages are injected from outside; K crashes hit random processes at\n"
    "random steps, some in the middle of a checkpoint and some during\n"
    "recovery. The run then settles and is checked: nothing lost, nothing\n"
    "delivered twice, replay reproducing every state exactly (mlog's digests\n"
    "and an independent observer).\n"
    "\n"
    "options:\n"
    "  -P, --protocol P     pessimistic-receiver (default),\n"
    "                       optimistic-receiver, pessimistic-sender,\n"
    "                       coordinated or none (with those two the\n"
    "                       application is a bank: see docs/cli.md)\n"
    "  -n, --procs N        processes, 2..64 (default 3)\n"
    "  -m, --messages M     messages injected (default 100)\n"
    "  -c, --crashes K      crashes injected (default 3)\n"
    "  -s, --seed S         seed (default 1); the same seed, the same run\n"
    "  -d, --dir DIR        keep each process's log in DIR/p<id> (with\n"
    "                       --runs: DIR/seed<S>/p<id>; --exhaustive adds\n"
    "                       /run<K>); refuses logs of an earlier run\n"
    "  -j, --json           last stdout line: one JSON object\n"
    "  -x, --exhaustive     tiny groups: crash every process at every step\n"
    "  -r, --runs N         run seeds S, S+1, ... S+N-1 (default 1); each\n"
    "                       failing seed is printed\n"
    "      --ckpt-every N   checkpoint every N deliveries (default 16)\n"
    "      --max-delay MS   largest frame delay (default 300 > the 200 ms\n"
    "                       resend timeout, so duplicates arrive)\n"
    "      --drop PERCENT   frames lost in transit (default 2)\n"
    "  -k, --key FILE       keyed logs\n"
    "      --sync           flush commits (default: off; simulated crashes\n"
    "                       are process crashes, which the page cache "
    "survives)\n"
    "      --durable        pessimistic-sender: durable mode (senders commit\n"
    "                       each rsn; crashes may overlap); without it,\n"
    "                       memory mode and one failure at a time\n"
    "      --koo-toueg      coordinated: Koo-Toueg two-phase checkpoints\n"
    "                       instead of Chandy-Lamport snapshots\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 every property held, 1 a property failed (the seed is\n"
    "printed), 2 usage error, 3 a log could not be created.\n";

enum { OPT_CKPT = 256, OPT_DELAY, OPT_DROP, OPT_SYNC, OPT_DURABLE, OPT_KT };

typedef struct sim_opts {
  const char *protocol, *dir, *keyfile;
  uint64_t procs, messages, crashes, seed, runs, ckpt_every, max_delay, drop;
  bool json, exhaustive, sync, durable, koo_toueg;
} sim_opts;

/* A crash the driver injects. */
typedef enum crash_kind {
  CRASH_PLAIN,      /* between two steps */
  CRASH_CHECKPOINT, /* a store write fails inside a checkpoint */
  CRASH_RECOVERY,   /* the restart's recovery fails in a store write */
} crash_kind;

typedef struct node {
  mlog_proc *p; /* NULL while down */
  simapp app;
  simbank bank; /* checkpoint-only protocols */
  observed obs;
  uint64_t restart_at;  /* step */
  uint64_t crashed_rsn; /* its state when it crashed */
  uint32_t *crash_incs; /* the incarnation of each state 1..crashed_rsn */
  bool lost_unknown;    /* crashed: what it lost is known once recovered */
  bool recovery_fault;  /* the next restart fails inside recovery */
  char dir[4200];
} node;

typedef struct run {
  const sim_opts *o;
  mlog_sim *sim;
  node *nodes;
  uint32_t n;
  mlog_key key;
  bool keyed;
  char base[4096];
  bool own_base;
  uint64_t step, originated, expected, next_id;
  uint64_t crashes, recoveries, replayed, checkpoints, failed_opens;
  uint64_t crashes_in_checkpoint;
  uint64_t crash_at_step, crash_node; /* exhaustive mode: one crash */
  uint64_t *crash_steps;              /* random mode: sorted */
  uint64_t crashes_done;
  uint64_t rollbacks, orphans_discarded;
  /* checkpoint-only protocols: transfers, and what the rollbacks did */
  bool bank, coordinated;
  mlog_proc_stats acc;        /* closed incarnations' rounds, rollbacks, ... */
  uint64_t crashes_mid_round; /* while some process was in a rollback round
                                 or a two-phase checkpoint */
  bool eager;         /* optimistic: states may be lost and rolled back */
  bool may_undo;      /* states may be lost in a crash (not under pessimistic
                         receiver-based logging) */
  bool one_at_a_time; /* sender-based memory mode: the failure model */
  simtrace trace;     /* for simcheck */
  char error[256];
} run;

/* The processes' clock and entropy come from the simulation: same seed,
 * same run. */
static void sim_clock(void *arg, uint64_t *ns) {
  *ns = mlog_sim_now(arg) * 1000000u;
}

static void sim_entropy(void *arg, void *buf, size_t len) {
  for (size_t i = 0; i < len; i += 8) {
    uint64_t r = mlog_sim_random(arg);
    memcpy((uint8_t *)buf + i, &r, len - i < 8 ? len - i : 8);
  }
}

/* What a crash lost: the states after the one recovery reached (known
 * at open, or under sender-based logging once the peers have answered). */
static int note_recovered(run *r, uint32_t i) {
  node *nd = &r->nodes[i];
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  if (r->bank || !nd->lost_unknown || st.recovering)
    return MLOG_OK;
  r->replayed += st.replayed;
  for (uint64_t rsn = st.recovered_rsn + 1; rsn <= nd->crashed_rsn; rsn++)
    if (!simset_add(&r->trace.lost, simiv(i, nd->crash_incs[rsn], rsn)))
      return MLOG_ENOMEM;
  nd->lost_unknown = false;
  return MLOG_OK;
}

static int open_node(run *r, uint32_t i) {
  node *nd = &r->nodes[i];
  mlog_proc_config cfg = {
      .dirpath = nd->dir,
      .id = i,
      .group_size = r->n,
      .protocol = r->o->protocol,
      .ckpt_every_deliveries = r->o->ckpt_every,
      .key = r->keyed ? &r->key : NULL,
      .transport = &mlog_sim_ops,
      .transport_config = r->sim,
      .flags = MLOG_PROC_DIGESTS | MLOG_PROC_NO_THREADS |
               (r->o->durable ? MLOG_PROC_SENDER_DURABLE : 0) |
               (r->o->koo_toueg ? MLOG_PROC_KOO_TOUEG : 0) |
               (r->o->sync ? 0 : MLOG_PROC_NOSYNC | MLOG_PROC_UNSAFE),
      .clock = sim_clock,
      .entropy = sim_entropy,
      .source_arg = r->sim,
  };
  nd->app = (simapp){.id = i,
                     .n = r->n,
                     .obs = &nd->obs,
                     .trace = &r->trace,
                     .may_undo = r->may_undo};
  nd->bank = (simbank){.id = i, .n = r->n};
  /* Coordinated: even seeds keep every snapshot (all are checked at the
   * end), odd ones collect the old ones. */
  if (r->coordinated && r->o->seed % 2 == 0)
    cfg.ckpt_keep = UINT32_MAX;
  mlogi_faults faults = {.site = MLOGI_FAULT_PUT,
                         .kind = MLOGI_FAULT_EIO,
                         .nth = 1 + mlog_sim_random(r->sim) % 3,
                         .persistent = true};
  mlogi_open_faults = nd->recovery_fault ? &faults : NULL;
  int rc = r->bank ? mlog_proc_open(&cfg, &simbank_callbacks, &nd->bank, &nd->p)
                   : mlog_proc_open(&cfg, &simapp_callbacks, &nd->app, &nd->p);
  mlogi_open_faults = NULL;
  if (rc == MLOG_OK && nd->recovery_fault) {
    mlogi_proc_set_faults(nd->p, NULL); /* recovery wrote nothing: fine */
  }
  bool injected = nd->recovery_fault && faults.injected > 0;
  nd->recovery_fault = false;
  if (rc != MLOG_OK && injected) { /* the crash we asked for */
    r->failed_opens++;
    nd->restart_at = r->step + 1;
    return MLOG_OK;
  }
  if (rc != MLOG_OK) {
    snprintf(r->error, sizeof r->error, "process %u: open: %s: %s", i,
             mlog_errname(rc), mlog_proc_errmsg(NULL));
    return rc;
  }
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  if (st.recovered)
    r->recoveries++;
  if (nd->app.first_divergence[0] && r->error[0] == '\0')
    snprintf(r->error, sizeof r->error, "%s", nd->app.first_divergence);
  return note_recovered(r, i);
}

/* Close process i: cleanly at the end of a run, or as a crash. */
static void close_node(run *r, uint32_t i, bool crashed) {
  node *nd = &r->nodes[i];
  if (nd->p == NULL)
    return;
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  r->checkpoints += st.checkpoints;
  r->rollbacks += st.rollbacks;
  r->orphans_discarded += st.orphans_discarded;
  r->acc.rounds += st.rounds;
  r->acc.rolled_back_past += st.rolled_back_past;
  r->acc.domino_rollbacks += st.domino_rollbacks;
  r->acc.lost_messages += st.lost_messages;
  r->acc.redelivered += st.redelivered;
  r->acc.rolled_back += st.rolled_back;
  if (!nd->lost_unknown &&
      !r->bank) { /* a crash during recovery loses no more */
    uint32_t *incs = realloc(nd->crash_incs, (st.rsn + 1) * sizeof *incs);
    if (incs == NULL)
      abort(); /* the driver's own bookkeeping */
    for (uint64_t rsn = 1; rsn <= st.rsn; rsn++)
      incs[rsn] = nd->obs.inc_at[rsn];
    nd->crash_incs = incs;
    nd->crashed_rsn = st.rsn;
    nd->lost_unknown = true;
  }
  if (crashed)
    mlogi_proc_crash(nd->p);
  else
    mlog_proc_close(nd->p);
  nd->p = NULL;
}

/* Is some process in a rollback round or a two-phase checkpoint? */
static bool mid_round(const run *r) {
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    if (r->nodes[i].p == NULL)
      return true; /* down: its restart leads a round */
    mlog_proc_get_stats(r->nodes[i].p, &st);
    if (st.in_round || st.in_two_phase)
      return true;
  }
  return false;
}

static void crash(run *r, uint32_t i, crash_kind kind) {
  node *nd = &r->nodes[i];
  if (nd->p == NULL)
    return;
  r->crashes_mid_round += mid_round(r);
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  r->failed_opens += st.recovering; /* sender-based: a crash in recovery */
  if (kind == CRASH_CHECKPOINT) {
    mlogi_faults f = {.site = MLOGI_FAULT_PUT,
                      .kind = MLOGI_FAULT_EIO,
                      .nth = 1 + mlog_sim_random(r->sim) % 4,
                      .persistent = true};
    mlogi_proc_set_faults(nd->p, &f);
    int rc = mlog_checkpoint(nd->p); /* OK or EAGAIN: a plain crash */
    mlogi_proc_set_faults(nd->p, NULL);
    r->crashes_in_checkpoint += rc != MLOG_OK && f.injected > 0;
  }
  close_node(r, i, true);
  nd->recovery_fault = kind == CRASH_RECOVERY;
  nd->restart_at = r->step + 1 + mlog_sim_random(r->sim) % 40;
  r->crashes++;
}

/* Poll process i; a failure is a crash of that process. */
static int poll_node(run *r, uint32_t i) {
  node *nd = &r->nodes[i];
  if (nd->p == NULL)
    return MLOG_OK;
  int rc = mlog_proc_poll(nd->p, 0);
  if (rc >= 0)
    return note_recovered(r, i);
  snprintf(r->error, sizeof r->error, "process %u: poll: %s: %s", i,
           mlog_errname(-rc), mlog_proc_errmsg(nd->p));
  return -rc;
}

/* A transfer from outside (checkpoint-only protocols). */
static int originate_transfer(run *r, uint32_t i) {
  node *nd = &r->nodes[i];
  uint32_t dst = (uint32_t)(mlog_sim_random(r->sim) % (r->n - 1));
  dst += dst >= i;
  int64_t amount = (int64_t)(mlog_sim_random(r->sim) % 100);
  uint32_t hops = (uint32_t)(mlog_sim_random(r->sim) % 6);
  int rc = simbank_send(&nd->bank, nd->p, dst, amount, hops);
  if (rc == MLOG_EAGAIN) /* still recovering: later */
    return MLOG_OK;
  if (rc != MLOG_OK) {
    snprintf(r->error, sizeof r->error, "process %u: send: %s: %s", i,
             mlog_errname(rc), mlog_proc_errmsg(nd->p));
    return rc;
  }
  r->originated++;
  return MLOG_OK;
}

static int originate(run *r) {
  uint32_t i = (uint32_t)(mlog_sim_random(r->sim) % r->n);
  node *nd = &r->nodes[i];
  if (nd->p == NULL)
    return MLOG_OK;
  if (r->bank)
    return originate_transfer(r, i);
  mlog_proc_stats st;
  mlog_proc_get_stats(nd->p, &st);
  /* A spontaneous send is an input: logged before it leaves, sent again
   * from where a recovery gets if the state it was made in is lost, so it
   * depends on no state (from_rsn 0). Optimistic logging attaches the
   * sender's vector all the same: inject only into a committed state,
   * which nothing undoes (test_optimistic covers the other case). */
  if (r->eager && st.committed_rsn < st.rsn)
    return MLOG_OK;
  simmsg m = {.origin = i,
              .ttl = (uint32_t)(mlog_sim_random(r->sim) % 6),
              .id = ++r->next_id,
              .from = i};
  uint32_t dst = (uint32_t)(mlog_sim_random(r->sim) % (r->n - 1));
  dst += dst >= i;
  int rc = mlog_send(nd->p, dst, &m, sizeof m);
  if (rc == MLOG_EAGAIN) { /* still recovering: inject later */
    r->next_id--;
    return MLOG_OK;
  }
  if (rc != MLOG_OK) {
    snprintf(r->error, sizeof r->error, "process %u: send: %s: %s", i,
             mlog_errname(rc), mlog_proc_errmsg(nd->p));
    return rc;
  }
  r->originated++;
  r->expected += m.ttl + 1;
  return MLOG_OK;
}

/* May process `who` crash now? Sender-based memory mode survives one
 * failure at a time: every other process must be up, done recovering and
 * hold no lost rsns (its own recovery may fail again, that is the same
 * failure). */
static bool may_crash(const run *r, uint32_t who) {
  if (r->nodes[who].p == NULL)
    return false;
  for (uint32_t i = 0; r->one_at_a_time && i < r->n; i++) {
    mlog_proc_stats st;
    if (i == who)
      continue;
    if (r->nodes[i].p == NULL)
      return false;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    if (st.recovering || st.rsns_lost > 0)
      return false;
  }
  return true;
}

static bool crash_due(run *r, uint32_t *who, crash_kind *kind) {
  if (r->o->exhaustive) {
    if (r->step != r->crash_at_step)
      return false;
    *who = (uint32_t)r->crash_node;
    *kind = CRASH_PLAIN;
    return true;
  }
  if (r->crashes_done >= r->o->crashes ||
      r->crash_steps[r->crashes_done] > r->step)
    return false;
  uint32_t can = 0; /* crash a process that may crash, if any */
  for (uint32_t i = 0; i < r->n; i++)
    can += may_crash(r, i);
  if (can == 0)
    return false; /* the crash waits until one may happen */
  r->crashes_done++;
  uint32_t pick = (uint32_t)(mlog_sim_random(r->sim) % can);
  for (*who = 0; !may_crash(r, *who) || pick-- > 0; (*who)++)
    ;
  *kind = (crash_kind)(mlog_sim_random(r->sim) % 3);
  return true;
}

static bool all_up(const run *r) {
  for (uint32_t i = 0; i < r->n; i++)
    if (r->nodes[i].p == NULL)
      return false;
  return true;
}

/* No process is frozen in a rollback round (a round whose leader crashed
 * is taken over after 20 resend timeouts, longer than the quiet time). */
static bool no_round(const run *r) {
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    if (st.in_round)
      return false;
  }
  return true;
}

/* One scheduler step: inject, crash, restart, move a frame, poll. */
static int step(run *r, bool *idle) {
  r->step++;
  *idle = false;
  if (r->originated < r->o->messages && mlog_sim_random(r->sim) % 4 == 0) {
    int rc = originate(r);
    if (rc != MLOG_OK)
      return rc;
  }
  uint32_t who;
  crash_kind kind;
  if (crash_due(r, &who, &kind))
    crash(r, who, kind);
  bool restarted = false; /* the quiet time counts from the last restart */
  for (uint32_t i = 0; i < r->n; i++) {
    node *nd = &r->nodes[i];
    if (nd->p == NULL && nd->restart_at <= r->step) {
      int rc = open_node(r, i);
      if (rc != MLOG_OK)
        return rc;
      restarted = true;
    }
  }
  uint32_t dst;
  int rc = mlog_sim_step(r->sim, &dst);
  if (rc == MLOG_OK)
    return poll_node(r, dst);
  /* Nothing in flight: let time pass so that resend timers fire. */
  mlog_sim_advance(r->sim, 100);
  for (uint32_t i = 0; i < r->n && rc != MLOG_OK; i++)
    rc = poll_node(r, i) == MLOG_OK ? MLOG_EAGAIN : MLOG_EIO;
  if (rc == MLOG_EIO)
    return MLOG_EIO;
  *idle = mlog_sim_pending(r->sim) == 0 && !restarted;
  return MLOG_OK;
}

/* Idle rounds (100 virtual ms each, nothing in flight) that end a run:
 * ten resend timeouts, so that a frame lost several times over is resent
 * before the run is judged. */
#define QUIET_ROUNDS 20

static bool finished(const run *r, int idle_rounds) {
  bool crashes_left = r->o->exhaustive ? r->step < r->crash_at_step
                                       : r->crashes_done < r->o->crashes;
  return r->originated >= r->o->messages && !crashes_left && all_up(r) &&
         idle_rounds >= QUIET_ROUNDS && no_round(r);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* What the run checks at the end. */
typedef struct verdict {
  uint64_t delivered, duplicates, lost, divergences, outputs;
  int64_t money;              /* bank: the balances at the end */
  uint64_t snapshots_checked; /* coordinated */
  simcheck orphans;
  bool ok;
} verdict;

/* The orphans simcheck computes against what the protocol rolled back. */
static int check_orphans(run *r, verdict *v) {
  simset surviving = {0};
  bool ok = true;
  for (uint32_t i = 0; i < r->n && ok; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    const observed *o = &r->nodes[i].obs;
    for (uint64_t rsn = 1; rsn <= st.rsn && rsn < o->cap && ok; rsn++)
      ok = simset_add(&surviving, simiv(i, o->inc_at[rsn], rsn));
  }
  ok = ok && simcheck_run(&r->trace, &surviving, &v->orphans);
  simset_free(&surviving);
  return ok ? MLOG_OK : MLOG_ENOMEM;
}

/* Checkpoint-only protocols: money is conserved at the end (coordinated),
 * or lost only with the messages the rollbacks reported lost (none); never
 * created (an orphan message would). */
static int judge_bank(run *r, verdict *v) {
  memset(v, 0, sizeof *v);
  uint64_t lost = r->acc.lost_messages;
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    lost += st.lost_messages;
    v->money += r->nodes[i].bank.balance;
    v->delivered += st.delivered;
  }
  int64_t total = (int64_t)r->n * SIMBANK_OPENING;
  uint64_t domino = r->acc.domino_rollbacks;
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    domino += st.domino_rollbacks;
  }
  v->lost = lost;
  v->ok = v->money <= total && (lost > 0 || v->money == total) &&
          r->error[0] == '\0';
  /* Koo-Toueg: the permanent checkpoints stay consistent unless a crash
   * cut a round or a two-phase checkpoint short. */
  if (r->o->koo_toueg && domino > 0 && r->crashes_mid_round == 0 &&
      r->error[0] == '\0')
    snprintf(r->error, sizeof r->error,
             "%llu rollbacks past a permanent checkpoint under Koo-Toueg "
             "without a crash during a round or a two-phase checkpoint",
             (unsigned long long)domino);

  if (!v->ok && r->error[0] == '\0')
    snprintf(r->error, sizeof r->error,
             "the branches hold %lld at the end, not %lld (%llu messages "
             "reported lost)",
             (long long)v->money, (long long)total, (unsigned long long)lost);
  return MLOG_OK;
}

/* The surviving history of every process: what it delivered up to its
 * final rsn. Every hop of every message must be in it exactly once. */
static int judge(run *r, verdict *v) {
  if (r->bank)
    return judge_bank(r, v);
  uint64_t total = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    total += st.rsn;
  }
  uint64_t *keys = malloc((total + 1) * sizeof *keys), k = 0;
  if (keys == NULL)
    return MLOG_ENOMEM;
  memset(v, 0, sizeof *v);
  for (uint32_t i = 0; i < r->n; i++) {
    mlog_proc_stats st;
    mlog_proc_get_stats(r->nodes[i].p, &st);
    observed *o = &r->nodes[i].obs;
    for (uint64_t rsn = 1; rsn <= st.rsn; rsn++)
      keys[k++] = rsn < o->cap ? o->key_at[rsn] : 0;
    v->divergences += o->divergences;
    v->outputs += o->outputs;
  }
  qsort(keys, k, sizeof *keys, cmp_u64);

  for (uint64_t j = 0; j < k; j++) {
    if (keys[j] == 0 || (j > 0 && keys[j] == keys[j - 1]))
      v->duplicates += keys[j] != 0;
    else
      v->delivered++;
  }
  free(keys);
  v->lost = r->expected > v->delivered ? r->expected - v->delivered : 0;
  int rc = check_orphans(r, v);
  const simcheck *c = &v->orphans;
  v->ok = v->duplicates == 0 && v->lost == 0 && v->divergences == 0 &&
          v->delivered == r->expected && c->missed == 0 && c->spurious == 0 &&
          c->bad_outputs == 0 && r->error[0] == '\0';
  if ((c->missed || c->spurious || c->bad_outputs) && r->error[0] == '\0')
    snprintf(r->error, sizeof r->error,
             "orphans: %llu computed, %llu states rolled back, %llu missed, "
             "%llu rolled back needlessly, %llu outputs from undone states",
             (unsigned long long)c->orphans, (unsigned long long)c->rolled_back,
             (unsigned long long)c->missed, (unsigned long long)c->spurious,
             (unsigned long long)c->bad_outputs);
  return rc;
}

static int setup(run *r, const sim_opts *o) {
  mlog_sim_options so = {.seed = o->seed,
                         .procs = (uint32_t)o->procs,
                         .min_delay_ms = 1,
                         .max_delay_ms = (uint32_t)o->max_delay,
                         .drop_percent = (uint32_t)o->drop};
  if (mlog_sim_create(&so, &r->sim) != MLOG_OK)
    return MLOG_ENOMEM;
  r->nodes = calloc(r->n, sizeof *r->nodes);
  r->crash_steps = calloc(o->crashes + 1, sizeof *r->crash_steps);
  if (r->nodes == NULL || r->crash_steps == NULL)
    return MLOG_ENOMEM;
  uint64_t span = 8 * o->messages + 50;
  for (uint64_t c = 0; c < o->crashes; c++)
    r->crash_steps[c] = 1 + mlog_sim_random(r->sim) % span;
  qsort(r->crash_steps, o->crashes, sizeof *r->crash_steps, cmp_u64);
  for (uint64_t c = 1; c < o->crashes; c++) /* one crash per step */
    if (r->crash_steps[c] <= r->crash_steps[c - 1])
      r->crash_steps[c] = r->crash_steps[c - 1] + 1;
  for (uint32_t i = 0; i < r->n; i++) {
    snprintf(r->nodes[i].dir, sizeof r->nodes[i].dir, "%s/p%u", r->base, i);
    int rc = open_node(r, i);
    if (rc != MLOG_OK)
      return rc;
  }
  return MLOG_OK;
}

static void teardown(run *r) {
  for (uint32_t i = 0; r->nodes && i < r->n; i++) {
    close_node(r, i, false);
    observed_free(&r->nodes[i].obs);
    free(r->nodes[i].crash_incs);
  }
  simtrace_free(&r->trace);
  free(r->nodes);
  free(r->crash_steps);
  mlog_sim_destroy(r->sim);
}

/* One whole run; *v says what it found. */
static int run_once(run *r, const sim_opts *o, verdict *v) {
  int rc = setup(r, o);
  uint64_t limit = 2000 * (o->messages + o->crashes + 10);
  int idle_rounds = 0;
  while (rc == MLOG_OK && !finished(r, idle_rounds) && r->step < limit) {
    bool idle;
    rc = step(r, &idle);
    idle_rounds = idle ? idle_rounds + 1 : 0;
  }
  if (rc == MLOG_OK && !finished(r, idle_rounds))
    snprintf(r->error, sizeof r->error, "no quiescence after %llu steps",
             (unsigned long long)r->step);
  if (rc == MLOG_OK || r->error[0])
    rc = all_up(r) ? judge(r, v) : (memset(v, 0, sizeof *v), MLOG_OK);
  if (r->error[0] == '\0' && rc != MLOG_OK)
    snprintf(r->error, sizeof r->error, "%s", mlog_strerror(rc));
  v->ok = v->ok && r->error[0] == '\0';
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Directories, output, options                                             */

static int make_base(run *r, const sim_opts *o, uint64_t index) {
  if (o->dir == NULL) {
    snprintf(r->base, sizeof r->base, "%s/mlog-sim.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    r->own_base = mkdtemp(r->base) != NULL;
    return r->own_base ? MLOG_OK : MLOG_EIO;
  }
  /* Each run gets logs of its own: a run that found another run's logs
   * would recover them instead of starting afresh. */
  int n = snprintf(r->base, sizeof r->base, "%s", o->dir);
  if (n > 0 && o->runs > 1 && (size_t)n < sizeof r->base)
    n += snprintf(r->base + n, sizeof r->base - (size_t)n, "/seed%llu",
                  (unsigned long long)o->seed);
  if (n > 0 && o->exhaustive && (size_t)n < sizeof r->base)
    n += snprintf(r->base + n, sizeof r->base - (size_t)n, "/run%llu",
                  (unsigned long long)index);
  if (n <= 0 || (size_t)n + 8 >= sizeof r->base || mlogi_mkdirs(r->base) != 0)
    return MLOG_EIO;
  char p0[sizeof r->base + 8];
  snprintf(p0, sizeof p0, "%s/p0", r->base);
  return access(p0, F_OK) == 0 ? MLOG_EEXIST : MLOG_OK;
}

static void remove_base(run *r) {
  if (r->own_base)
    tool_rmtree(r->base);
}

/* Totals over the runs of one invocation (one run, or the exhaustive set). */
typedef struct totals {
  uint64_t runs, failed, delivered, duplicates, lost, divergences;
  uint64_t crashes, recoveries, replayed, checkpoints, outputs, steps;
  uint64_t in_checkpoint, in_recovery;
  uint64_t rollbacks, orphans, orphans_detected, orphans_discarded;
  uint64_t rounds, rolled_back_past, domino, redelivered, snapshots_checked;
  uint64_t undone;
  uint64_t first_failed_seed, first_failed_step, first_failed_node;
  char error[256];
} totals;

static void add_run(totals *t, const run *r, const verdict *v) {
  t->runs++;
  t->delivered += v->delivered;
  t->duplicates += v->duplicates;
  t->lost += v->lost;
  t->divergences += v->divergences;
  t->crashes += r->crashes;
  t->recoveries += r->recoveries;
  t->replayed += r->replayed;
  t->checkpoints += r->checkpoints;
  t->outputs += v->outputs;
  t->steps += r->step;
  t->in_checkpoint += r->crashes_in_checkpoint;
  t->in_recovery += r->failed_opens;
  t->rollbacks += r->rollbacks;
  t->orphans += v->orphans.orphans;
  t->orphans_detected += v->orphans.rolled_back;
  t->orphans_discarded += r->orphans_discarded;
  t->rounds += r->acc.rounds;
  t->rolled_back_past += r->acc.rolled_back_past;
  t->domino += r->acc.domino_rollbacks;
  t->redelivered += r->acc.redelivered;
  t->undone += r->acc.rolled_back;
  t->snapshots_checked += v->snapshots_checked;
  if (!v->ok && t->failed++ == 0) {
    t->first_failed_seed = r->o->seed;
    t->first_failed_step = r->crash_at_step;
    t->first_failed_node = r->crash_node;
    snprintf(t->error, sizeof t->error, "%s",
             r->error[0] ? r->error : "a property failed");
  }
}

/* Coordinated: every snapshot the logs hold complete conserves money. */
static void check_snapshots(run *r, verdict *v) {
  static char names[64][sizeof r->base + 16];
  char *dirs[64];
  for (uint32_t i = 0; i < r->n; i++) {
    snprintf(names[i], sizeof names[i], "%s/p%u", r->base, i);
    dirs[i] = names[i];
  }
  v->ok =
      simbank_check_snapshots(dirs, r->n, r->keyed ? &r->key : NULL,
                              &v->snapshots_checked, r->error, sizeof r->error);
}

static int one_run(const sim_opts *o, const mlog_key *key, uint64_t index,
                   uint64_t crash_step, uint64_t crash_node, totals *t,
                   uint64_t *steps) {
  unsigned lflags = mlog_logger_find(o->protocol)->flags;
  run r = {
      .o = o,
      .bank =
          (lflags & (MLOG_LOGGER_COORDINATED | MLOG_LOGGER_INDEPENDENT)) != 0,
      .coordinated = (lflags & MLOG_LOGGER_COORDINATED) != 0 && !o->koo_toueg,
      .eager = (lflags & MLOG_LOGGER_EAGER) != 0,
      .may_undo = (lflags & (MLOG_LOGGER_EAGER | MLOG_LOGGER_SENDER)) != 0,
      .one_at_a_time = (lflags & MLOG_LOGGER_SENDER) && !o->durable,
      .n = (uint32_t)o->procs,
      .keyed = key != NULL,
      .crash_at_step = crash_step,
      .crash_node = crash_node};
  if (key)
    r.key = *key;
  verdict v = {0};
  int rc = make_base(&r, o, index);
  if (rc == MLOG_EEXIST) {
    tool_error("%s/p0 already exists: give --dir a directory without the "
               "logs of an earlier run",
               r.base);
    return TOOL_USAGE;
  }
  if (rc != MLOG_OK) {
    tool_error("cannot create a directory for the logs under %s",
               o->dir ? o->dir : "TMPDIR");
    return TOOL_UNREADABLE;
  }
  rc = run_once(&r, o, &v);
  teardown(&r);
  if (r.coordinated && v.ok)
    check_snapshots(&r, &v);
  if (!v.ok)
    printf("seed %llu: FAILED%s: %s\n", (unsigned long long)o->seed,
           o->exhaustive ? " (exhaustive)" : "",
           r.error[0] ? r.error : "a property failed");
  remove_base(&r);
  add_run(t, &r, &v);
  *steps = r.step;
  return TOOL_OK;
}

static void report(const sim_opts *o, const totals *t) {
  bool ok = t->failed == 0;
  if (!o->json || !ok)
    printf("%s: %s%s, %llu procs, %llu messages, seed %llu: %llu run(s), "
           "%llu delivered, %llu duplicates, %llu lost, %llu divergences, "
           "%llu crashes, %llu recoveries (%llu replayed), %llu rollbacks "
           "(%llu orphan states)\n",
           ok ? "ok" : "FAILED", o->protocol, o->durable ? " (durable)" : "",
           (unsigned long long)o->procs, (unsigned long long)o->messages,
           (unsigned long long)o->seed, (unsigned long long)t->runs,
           (unsigned long long)t->delivered, (unsigned long long)t->duplicates,
           (unsigned long long)t->lost, (unsigned long long)t->divergences,
           (unsigned long long)t->crashes, (unsigned long long)t->recoveries,
           (unsigned long long)t->replayed, (unsigned long long)t->rollbacks,
           (unsigned long long)t->orphans_detected);
  if (!ok)
    printf("first failure: %s (rerun: mlog sim --protocol %s%s --procs %llu "
           "--messages %llu --crashes %llu --seed %llu%s)\n",
           t->error, o->protocol, o->durable ? " --durable" : "",
           (unsigned long long)o->procs, (unsigned long long)o->messages,
           (unsigned long long)o->crashes,
           (unsigned long long)t->first_failed_seed,
           o->exhaustive ? " --exhaustive" : "");
  if (!o->json)
    return;
  json_t *j = json_pack(
      "{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
      "s:I, s:I, s:I, s:b}",
      "ok", ok, "protocol", o->protocol, "procs", (json_int_t)o->procs,
      "messages", (json_int_t)o->messages, "seed", (json_int_t)o->seed, "runs",
      (json_int_t)t->runs, "delivered", (json_int_t)t->delivered, "duplicates",
      (json_int_t)t->duplicates, "lost", (json_int_t)t->lost, "crashes",
      (json_int_t)t->crashes, "recoveries", (json_int_t)t->recoveries,
      "replayed", (json_int_t)t->replayed, "divergences",
      (json_int_t)t->divergences, "checkpoints", (json_int_t)t->checkpoints,
      "outputs_released", (json_int_t)t->outputs, "steps", (json_int_t)t->steps,
      "exhaustive", o->exhaustive);
  if (j) {
    json_object_set_new(j, "crashes_in_checkpoint",
                        json_integer((json_int_t)t->in_checkpoint));
    json_object_set_new(j, "crashes_in_recovery",
                        json_integer((json_int_t)t->in_recovery));
    json_object_set_new(j, "failed_runs", json_integer((json_int_t)t->failed));
    json_object_set_new(j, "rollbacks", json_integer((json_int_t)t->rollbacks));
    json_object_set_new(j, "durable", json_boolean(o->durable));
    json_object_set_new(j, "koo_toueg", json_boolean(o->koo_toueg));
    json_object_set_new(j, "orphans_detected",
                        json_integer((json_int_t)t->orphans_detected));
    json_object_set_new(j, "orphans_computed",
                        json_integer((json_int_t)t->orphans));
    json_object_set_new(j, "orphan_messages_discarded",
                        json_integer((json_int_t)t->orphans_discarded));
    json_object_set_new(j, "rounds", json_integer((json_int_t)t->rounds));
    json_object_set_new(j, "domino_events",
                        json_integer((json_int_t)t->domino));
    json_object_set_new(j, "rolled_back_past",
                        json_integer((json_int_t)t->rolled_back_past));
    json_object_set_new(j, "redelivered",
                        json_integer((json_int_t)t->redelivered));
    json_object_set_new(j, "undone", json_integer((json_int_t)t->undone));
    json_object_set_new(j, "snapshots_checked",
                        json_integer((json_int_t)t->snapshots_checked));
  }
  if (j && !ok)
    json_object_set_new(j, "error", json_string(t->error));
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  printf("%s\n", s ? s : "{\"ok\":false}");
  free(s);
  json_decref(j);
}

/* Exhaustive mode: a crash-free run measures the steps, then every process
 * is crashed at every step, one run each. */
static int exhaustive(const sim_opts *o, const mlog_key *key, totals *t) {
  uint64_t steps;
  int status = one_run(o, key, 0, 0, 0, t, &steps);
  for (uint64_t s = 1; status == TOOL_OK && s <= steps; s++)
    for (uint64_t i = 0; status == TOOL_OK && i < o->procs; i++) {
      uint64_t ignored;
      status = one_run(o, key, s * o->procs + i, s, i, t, &ignored);
    }
  return status;
}

static int parse_option(int c, sim_opts *o) {
  bool ok = true;
  switch (c) {
  case 'P':
    o->protocol = optarg;
    break;
  case 'n':
    ok = tool_parse_u64("--procs", optarg, 2, 64, &o->procs);
    break;
  case 'm':
    ok = tool_parse_u64("--messages", optarg, 0, 10000000, &o->messages);
    break;
  case 'c':
    ok = tool_parse_u64("--crashes", optarg, 0, 100000, &o->crashes);
    break;
  case 's':
    ok = tool_parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed);
    break;
  case 'd':
    o->dir = optarg;
    break;
  case 'j':
    o->json = true;
    break;
  case 'x':
    o->exhaustive = true;
    break;
  case 'r':
    ok = tool_parse_u64("--runs", optarg, 1, 1000000, &o->runs);
    break;
  case 'k':
    o->keyfile = optarg;
    break;
  case OPT_CKPT:
    ok = tool_parse_u64("--ckpt-every", optarg, 0, UINT32_MAX, &o->ckpt_every);
    break;
  case OPT_DELAY:
    ok = tool_parse_u64("--max-delay", optarg, 1, 100000, &o->max_delay);
    break;
  case OPT_DROP:
    ok = tool_parse_u64("--drop", optarg, 0, 90, &o->drop);
    break;
  case OPT_SYNC:
    o->sync = true;
    break;
  case OPT_DURABLE:
    o->durable = true;
    break;
  case OPT_KT:
    o->koo_toueg = true;
    break;
  default:
    return TOOL_USAGE;
  }
  return ok ? TOOL_OK : TOOL_USAGE;
}

int cmd_sim(int argc, char **argv) {
  static const struct option longopts[] = {
      {"protocol", required_argument, NULL, 'P'},
      {"procs", required_argument, NULL, 'n'},
      {"messages", required_argument, NULL, 'm'},
      {"crashes", required_argument, NULL, 'c'},
      {"seed", required_argument, NULL, 's'},
      {"dir", required_argument, NULL, 'd'},
      {"json", no_argument, NULL, 'j'},
      {"exhaustive", no_argument, NULL, 'x'},
      {"runs", required_argument, NULL, 'r'},
      {"key", required_argument, NULL, 'k'},
      {"ckpt-every", required_argument, NULL, OPT_CKPT},
      {"max-delay", required_argument, NULL, OPT_DELAY},
      {"drop", required_argument, NULL, OPT_DROP},
      {"sync", no_argument, NULL, OPT_SYNC},
      {"durable", no_argument, NULL, OPT_DURABLE},
      {"koo-toueg", no_argument, NULL, OPT_KT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  sim_opts o = {.protocol = "pessimistic-receiver",
                .procs = 3,
                .messages = 100,
                .crashes = 3,
                .seed = 1,
                .runs = 1,
                .ckpt_every = 16,
                .max_delay = 300,
                .drop = 2};
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    if (c == 'h')
      return tool_help(usage);
    if (parse_option(c, &o) != TOOL_OK)
      return TOOL_USAGE;
  }
  if (optind < argc)
    return tool_usage_error("unexpected argument '%s'", argv[optind]);
  if (mlog_logger_find(o.protocol) == NULL)
    return tool_usage_error("unknown protocol '%s'", o.protocol);
  if (o.koo_toueg && strcmp(o.protocol, "coordinated") != 0)
    return tool_usage_error("--koo-toueg is an option of coordinated");
  if (o.exhaustive && (o.procs > 3 || o.messages > 6))
    return tool_usage_error("--exhaustive is for 2-3 processes and at most 6 "
                            "messages");
  mlog_key key;
  if (o.keyfile != NULL && tool_load_key(o.keyfile, &key) != TOOL_OK)
    return TOOL_USAGE;
  totals t = {0};
  int status = TOOL_OK;
  for (uint64_t k = 0; status == TOOL_OK && k < o.runs; k++) {
    sim_opts each = o;
    each.seed = o.seed + k;
    uint64_t steps;
    status = o.exhaustive
                 ? exhaustive(&each, o.keyfile ? &key : NULL, &t)
                 : one_run(&each, o.keyfile ? &key : NULL, k, 0, 0, &t, &steps);
  }
  if (o.keyfile != NULL)
    tool_forget_key(&key);
  if (status != TOOL_OK)
    return status;
  report(&o, &t);
  return t.failed ? TOOL_PROBLEMS : TOOL_OK;
}
