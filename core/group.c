/* group.c - the checkpoint-only protocols: rollback rounds of the group */
#include <sodium.h>
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

/*
 * Under `coordinated` and `none` nothing is logged before delivery: a
 * message is delivered as soon as it arrives in order, and acknowledged
 * once delivered. A failure therefore rolls back more than the failed
 * process. The restarted process leads a rollback round:
 *
 *   leader                      every other process
 *   QUERY(r) ------------------> freeze; answer with its positions
 *            <------------------ INFO(r, positions)
 *   (every answer in: compute the line, apply it)
 *   DECIDE(r, line) -----------> roll back to the line; incarnation := r
 *            <------------------ DONE(r)
 *   (every process applied it)
 *   GO(r) ---------------------> go on
 *
 * A frozen process delivers nothing, acknowledges nothing and checkpoints
 * nothing, so the positions it gave stay true until the line comes. It
 * stays frozen until every process has applied the line: a process that
 * rolled back then sends new messages with the ssns of the ones it undid,
 * and no process may still offer a position that received the old ones
 * (one that crashed before applying the line would). Round
 * numbers are unique (r % n == leader) and grow: a query for a newer round
 * replaces an older one (its leader joins the newer round), a query for an
 * older round gets a STALE answer naming the newer one, and a frozen
 * process whose round fell silent takes it over with a newer round (soon
 * when the transport's failure detector suspects the leader). The
 * incarnation of every process is the last round it applied: frames of
 * other rounds are dropped, so nothing sent before a rollback is taken
 * after it.
 *
 * An answer names the life (a random number drawn at each open) that gave
 * it, and the line names the life of every answer it used: a process that
 * crashed after answering ignores a line computed from its earlier life's
 * positions (its restart leads a newer round instead).
 *
 * INFO payload: u64 life (little-endian), positions. DECIDE payload: u64
 * life per process, line.
 */

#define TAKEOVER_TIMEOUTS 20 /* silent resend timeouts before a takeover */
#define SUSPECT_TAKEOVER_TIMEOUTS 2 /* the same, the leader suspected */

/* May a frame name round r? lead() must still find a newer one. */
static bool round_ok(const mlog_proc *p, uint64_t r) {
  return r <= UINT32_MAX - 2 * (uint64_t)p->n;
}

int mlogi_grp_open(mlog_proc *p, bool coordinated, bool two_phase) {
  grp_state *g = calloc(1, sizeof *g);
  if (g == NULL)
    return MLOG_ENOMEM;
  p->grp = g;
  g->coordinated = coordinated && !two_phase; /* Koo-Toueg: lines as none */
  g->info = calloc(p->n, sizeof *g->info);
  g->info_len = calloc(p->n, sizeof *g->info_len);
  g->lives = calloc(p->n, sizeof *g->lives);
  g->applied = calloc(p->n, sizeof *g->applied);
  if (!g->info || !g->info_len || !g->lives || !g->applied)
    return MLOG_ENOMEM;
  if (p->cfg.entropy) /* simulations: the same seed, the same run */
    p->cfg.entropy(p->cfg.source_arg, &g->life, sizeof g->life);
  else
    randombytes_buf(&g->life, sizeof g->life);
  if (two_phase)
    return mlogi_kt_open(p);
  return g->coordinated ? mlogi_snap_open(p) : MLOG_OK;
}

static void forget_answers(mlog_proc *p) {
  grp_state *g = p->grp;
  for (uint32_t j = 0; j < p->n; j++) {
    free(g->info[j]);
    g->info[j] = NULL;
    g->applied[j] = false;
  }
  free(g->line);
  g->line = NULL;
  g->line_len = 0;
}

void mlogi_grp_free(mlog_proc *p) {
  grp_state *g = p->grp;
  if (g == NULL)
    return;
  if (g->info)
    forget_answers(p);
  mlogi_snap_free(p);
  mlogi_kt_free(p);
  free(g->info);
  free(g->info_len);
  free(g->lives);
  free(g->applied);
  free(g->mine);
  free(g);
  p->grp = NULL;
}

/* ------------------------------------------------------------------------ */
/* Rounds                                                                   */

static void send_round(mlog_proc *p, uint32_t dst, uint8_t kind, uint64_t seq,
                       const void *payload, size_t len) {
  mlogi_send_frame(p, dst, kind, 0, seq, payload, (uint32_t)len);
}

/* My positions for the current round (taken once: frozen, they hold). */
static int take_positions(mlog_proc *p) {
  grp_state *g = p->grp;
  uint8_t *pos;
  size_t len;
  free(g->mine);
  g->mine = NULL;
  g->mine_len = 0;
  int rc = g->coordinated ? mlogi_snap_info(p, &pos, &len)
                          : mlogi_indep_info(p, &pos, &len);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "reading my checkpoints for round %u: %s",
                      g->round, mlog_log_errmsg(p->log));
  g->mine = malloc(8 + len);
  if (g->mine == NULL) {
    free(pos);
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  }
  mlogi_put_le64(g->mine, g->life);
  memcpy(g->mine + 8, pos, len);
  g->mine_len = 8 + len;
  free(pos);
  return MLOG_OK;
}

/* Keep j's answer (life, positions). */
static int keep_answer(mlog_proc *p, uint32_t j, const uint8_t *answer,
                       size_t len) {
  grp_state *g = p->grp;
  if (len < 8) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  g->info[j] = malloc(len - 8 ? len - 8 : 1);
  if (g->info[j] == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  memcpy(g->info[j], answer + 8, len - 8);
  g->info_len[j] = len - 8;
  g->lives[j] = mlogi_get_le64(answer);
  return MLOG_OK;
}

/* Join round r led by `leader`: freeze and keep my positions for it. */
static int join(mlog_proc *p, uint32_t r, uint32_t leader) {
  grp_state *g = p->grp;
  g->round = r;
  g->leader = leader;
  g->leading = false;
  g->frozen = true;
  g->heard_at = mlogi_now_ms(p);
  forget_answers(p);
  if (g->kt)
    mlogi_kt_abort(p);
  return take_positions(p);
}

static void ask(mlog_proc *p) {
  grp_state *g = p->grp;
  for (uint32_t j = 0; j < p->n; j++) {
    if (j == p->id)
      continue;
    if (g->line == NULL && g->info[j] == NULL)
      send_round(p, j, MLOGI_FRAME_ROUND_QUERY, g->round, NULL, 0);
    else if (g->line && !g->applied[j])
      send_round(p, j, MLOGI_FRAME_ROUND_DECIDE, g->round, g->line,
                 g->line_len);
  }
  g->sent_at = mlogi_now_ms(p);
}

static int apply(mlog_proc *p, uint32_t r, const uint8_t *line, size_t len);
static void go_on(mlog_proc *p);

/* Leading: once every process applied the line, every one goes on. */
static void finish(mlog_proc *p) {
  grp_state *g = p->grp;
  for (uint32_t j = 0; j < p->n; j++)
    if (!g->applied[j])
      return;
  for (uint32_t j = 0; j < p->n; j++)
    if (j != p->id)
      send_round(p, j, MLOGI_FRAME_ROUND_GO, g->round, NULL, 0);
  g->leading = false;
  forget_answers(p);
  go_on(p);
}

/* Every answer came: compute the line, apply it here, send it. */
static int decide(mlog_proc *p) {
  grp_state *g = p->grp;
  for (uint32_t j = 0; j < p->n; j++)
    if (g->info[j] == NULL)
      return MLOG_OK;
  uint8_t *line;
  size_t len;
  int rc = g->coordinated ? mlogi_snap_decide(p, &line, &len)
                          : mlogi_indep_decide(p, &line, &len);
  if (rc == MLOG_EPROTO) { /* a malformed answer: ask the others again */
    p->stats.bad_frames++;
    for (uint32_t j = 0; j < p->n; j++)
      if (j != p->id) {
        free(g->info[j]);
        g->info[j] = NULL;
      }
    return MLOG_OK;
  }
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "computing the line of round %u", g->round);
  g->line_len = 8 * (size_t)p->n + len;
  g->line = malloc(g->line_len);
  if (g->line == NULL) {
    free(line);
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  }
  for (uint32_t j = 0; j < p->n; j++)
    mlogi_put_le64(g->line + 8 * j, g->lives[j]);
  memcpy(g->line + 8 * (size_t)p->n, line, len);
  free(line);
  rc = apply(p, g->round, g->line, g->line_len);
  if (rc != MLOG_OK)
    return rc;
  g->applied[p->id] = true;
  ask(p);
  finish(p); /* a group of one */
  return MLOG_OK;
}

/* Lead a new round, newer than every round seen. */
static int lead(mlog_proc *p) {
  grp_state *g = p->grp;
  uint32_t base = (g->round > p->incarnation ? g->round : p->incarnation) + 1;
  uint32_t r = base + (p->id + p->n - base % p->n) % p->n;
  int rc = join(p, r, p->id);
  if (rc != MLOG_OK)
    return rc;
  g->leading = true;
  rc = keep_answer(p, p->id, g->mine, g->mine_len);
  if (rc != MLOG_OK)
    return rc;
  ask(p);
  return decide(p); /* a group of one */
}

/* Roll back to the line of round r and enter it (EPROTO: a line that is
 * malformed or not computed from this life's answer changes nothing). */
static int apply(mlog_proc *p, uint32_t r, const uint8_t *line, size_t len) {
  grp_state *g = p->grp;
  size_t lives = 8 * (size_t)p->n;
  if (len < lives || mlogi_get_le64(line + 8 * (size_t)p->id) != g->life)
    return MLOG_EPROTO;
  line += lives;
  len -= lives;
  int rc = g->coordinated ? mlogi_snap_apply(p, line, len)
                          : mlogi_indep_apply(p, line, len);
  if (rc == MLOG_EPROTO)
    return rc; /* a malformed line changed nothing */
  if (rc == MLOG_OK)
    rc = mlog_log_set_incarnation(p->log, r);
  if (rc != MLOG_OK) {
    p->broken = true;
    return rc == MLOG_ECORRUPT || rc == MLOG_EAPP
               ? rc
               : mlogi_fail(&p->eb, rc, "applying the line of round %u: %s", r,
                            mlog_log_errmsg(p->log));
  }
  p->incarnation = r;
  g->heard_at = mlogi_now_ms(p);
  p->stats.rounds++;
  /* Everything kept leaves again under the new round; every peer learns
   * how far I have its messages. */
  for (uint32_t j = 0; j < p->n; j++) {
    for (outmsg *m = p->ch[j].out_head; m; m = m->next)
      m->sent = false;
    p->ch[j].ack_sent = 0;
  }
  return MLOG_OK;
}

static int on_query(mlog_proc *p, const mlogi_frame *f) {
  grp_state *g = p->grp;
  uint32_t r = (uint32_t)f->seq;
  if (!round_ok(p, f->seq) || r % p->n != f->src)
    return MLOG_OK; /* not a round that peer may lead */
  if (r <= p->incarnation || r < g->round) {
    uint32_t newest = g->round > p->incarnation ? g->round : p->incarnation;
    if (r == p->incarnation)
      send_round(p, f->src, MLOGI_FRAME_ROUND_DONE, r, NULL, 0);
    else
      send_round(p, f->src, MLOGI_FRAME_ROUND_STALE, newest, NULL, 0);
    return MLOG_OK;
  }
  if (r > g->round) {
    int rc = join(p, r, f->src);
    if (rc != MLOG_OK)
      return rc;
  }
  if (g->mine == NULL) { /* taking them failed: try again */
    int rc = take_positions(p);
    if (rc != MLOG_OK)
      return rc;
  }
  g->heard_at = mlogi_now_ms(p);
  send_round(p, f->src, MLOGI_FRAME_ROUND_INFO, r, g->mine, g->mine_len);
  return MLOG_OK;
}

static int on_info(mlog_proc *p, const mlogi_frame *f) {
  grp_state *g = p->grp;
  if (!g->leading || f->seq != g->round || g->info[f->src] != NULL ||
      g->line != NULL)
    return MLOG_OK;
  int rc = keep_answer(p, f->src, f->payload, f->payload_len);
  return rc == MLOG_OK ? decide(p) : rc;
}

static int on_decide(mlog_proc *p, const mlogi_frame *f) {
  grp_state *g = p->grp;
  if (f->seq == p->incarnation) { /* applied: it missed my DONE (unless I
                                     applied it in an earlier life) */
    if (!g->restarted || g->round == f->seq)
      send_round(p, f->src, MLOGI_FRAME_ROUND_DONE, f->seq, NULL, 0);
    return MLOG_OK;
  }
  if (f->seq != g->round || !g->frozen || f->src != g->leader)
    return MLOG_OK;
  int rc = apply(p, g->round, f->payload, f->payload_len);
  if (rc == MLOG_EPROTO) { /* a malformed line: wait for another round */
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  if (rc == MLOG_OK)
    send_round(p, f->src, MLOGI_FRAME_ROUND_DONE, f->seq, NULL, 0);
  return rc;
}

/* Every process applied the line (or, with `go`, the leader says so). */
static void go_on(mlog_proc *p) {
  grp_state *g = p->grp;
  g->frozen = g->restarted = false;
}

static void on_done(mlog_proc *p, const mlogi_frame *f) {
  grp_state *g = p->grp;
  if (!g->frozen && f->seq == p->incarnation && g->leader == p->id) {
    send_round(p, f->src, MLOGI_FRAME_ROUND_GO, f->seq, NULL, 0);
    return; /* it missed the GO */
  }
  if (!g->leading || f->seq != g->round || g->line == NULL)
    return;
  g->applied[f->src] = true;
  finish(p);
}

int mlogi_grp_on_frame(mlog_proc *p, const void *frame) {
  const mlogi_frame *f = frame;
  grp_state *g = p->grp;
  switch (f->kind) {
  case MLOGI_FRAME_ROUND_QUERY:
    return on_query(p, f);
  case MLOGI_FRAME_ROUND_INFO:
    return on_info(p, f);
  case MLOGI_FRAME_ROUND_DECIDE:
    return on_decide(p, f);
  case MLOGI_FRAME_ROUND_DONE:
    on_done(p, f);
    return MLOG_OK;
  case MLOGI_FRAME_ROUND_GO:
    if (g->frozen && f->seq == g->round && f->seq == p->incarnation &&
        f->src == g->leader)
      go_on(p);
    return MLOG_OK;
  case MLOGI_FRAME_ROUND_STALE:
    /* A newer round exists: lead one newer still (the line of the newer
     * one may not include my restart). */
    if (g->leading && g->line == NULL && f->seq > g->round &&
        round_ok(p, f->seq)) {
      g->round = (uint32_t)f->seq;
      return lead(p);
    }
    return MLOG_OK;
  case MLOGI_FRAME_SNAP_DONE:
    if (g->snap && mlogi_grp_admit(p, f))
      return mlogi_snap_on_done(p, f->src, f->flags, f->seq, f->payload,
                                f->payload_len);
    return MLOG_OK;
  case MLOGI_FRAME_KT_REQUEST:
  case MLOGI_FRAME_KT_REPLY:
  case MLOGI_FRAME_KT_DECISION:
  case MLOGI_FRAME_KT_DONE:
    if (g->kt && mlogi_grp_admit(p, f))
      return mlogi_kt_on_frame(p, f);
    return MLOG_OK;
  default:
    p->stats.bad_frames++;
    return MLOG_OK;
  }
}

bool mlogi_grp_admit(mlog_proc *p, const void *frame) {
  const mlogi_frame *f = frame;
  return f->incarnation == p->incarnation && !p->grp->frozen;
}

/* Has the round of a frozen process fallen silent long enough to be taken
 * over? After TAKEOVER_TIMEOUTS resend timeouts, or only
 * SUSPECT_TAKEOVER_TIMEOUTS when the failure detector suspects the leader
 * (a false suspicion costs one more round, nothing else: takeovers are
 * safe whenever they happen). */
static bool round_silent(mlog_proc *p, uint64_t now) {
  grp_state *g = p->grp;
  uint64_t rto = p->cfg.retransmit_ms, silent = now - g->heard_at;
  if (!g->frozen || g->leading || silent < SUSPECT_TAKEOVER_TIMEOUTS * rto)
    return false;
  return silent >= TAKEOVER_TIMEOUTS * rto || mlog_proc_suspects(p, g->leader);
}

int mlogi_grp_settle(mlog_proc *p) {
  grp_state *g = p->grp;
  uint64_t now = mlogi_now_ms(p), rto = p->cfg.retransmit_ms;
  if (g->leading && now - g->sent_at >= rto)
    ask(p);
  bool applied = g->frozen && !g->leading && p->incarnation == g->round;
  if (applied && now - g->sent_at >= rto) { /* waiting for GO */
    send_round(p, g->leader, MLOGI_FRAME_ROUND_DONE, g->round, NULL, 0);
    g->sent_at = now;
  }
  if (round_silent(p, now))
    return lead(p);
  if (g->frozen)
    return MLOG_OK;
  return g->snap ? mlogi_snap_settle(p) : g->kt ? mlogi_kt_settle(p) : MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Open and checkpoints                                                     */

/* Restore the newest checkpoint, or the initial state. */
static int restore_newest(mlog_proc *p) {
  mlog_log_checkpoint ck;
  int rc = mlog_log_get_checkpoint(p->log, &ck);
  if (rc == MLOG_OK) {
    rc = mlogi_state_restore(p, ck.state, ck.len);
    mlog_log_checkpoint_free(&ck);
    return rc;
  }
  if (rc != MLOG_ENOTFOUND)
    return mlogi_fail(&p->eb, rc, "restoring a checkpoint: %s",
                      mlog_log_errmsg(p->log));
  if (p->app.restore(p->app_arg, NULL, 0) != 0)
    return mlogi_fail(&p->eb, MLOG_EAPP, "the restore callback failed");
  return MLOG_OK;
}

int mlogi_grp_recover(mlog_proc *p, bool had_past) {
  int rc = restore_newest(p);
  if (rc != MLOG_OK || !had_past)
    return rc;
  p->grp->restarted = true;
  return lead(p);
}

int mlogi_grp_checkpoint(mlog_proc *p) {
  if (p->grp->frozen)
    return mlogi_fail(&p->eb, MLOG_EAGAIN, "a rollback round is under way");
  if (p->grp->snap)
    return mlogi_snap_start(p);
  if (p->grp->kt)
    return mlogi_kt_start(p);
  uint64_t number;
  return mlogi_write_checkpoint(p, &number);
}
