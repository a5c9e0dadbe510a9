/* independent.c - `none`: the recovery line of independent checkpoints */
#include <stdlib.h>

#include "core/proc.h"

/*
 * Each process checkpoints alone; each checkpoint's state holds, per
 * channel, how many messages the process had sent and received (the counts
 * SENT(i,j) and RCVD(i,j) of Juang and Venkatesan) and the first message it
 * still keeps for resending. In a rollback round every process offers its
 * positions: the initial state, each checkpoint, and (when it did not fail)
 * its current state. Starting from the newest, the leader rolls a process
 * j back while it has received from some i more than i's position sent it
 * (an orphan message), until no pair is left: the fixpoint Juang and
 * Venkatesan's rounds of ROLLBACK(i, SENT) messages reach, computed in one
 * place from the same counts. It is the maximum consistent line; rolling
 * back past checkpoints is the domino effect.
 *
 * Messages sent before the sender's position and received after the
 * receiver's are in transit again: the sender resends those it still keeps
 * (not yet stable when its position was taken: a sender keeps a message
 * until a checkpoint of its receiver covers the delivery, core/delivery.c);
 * the others are lost, and the receiver skips them. A loss needs a domino:
 * the receiver rolled back past the checkpoint that made the message
 * stable.
 *
 * Positions (INFO): varint count, then per position varint code (0: the
 * current state, k + 1: checkpoint k, 1 the initial state), varint 1 for a
 * tentative checkpoint (Koo-Toueg: rolling back past it is no domino) or
 * 0, and per process varints sent, received, first kept. Line (DECIDE): per
 * process varint code, varint checkpoints rolled back past, and per process
 * varint first kept at that position.
 */

typedef struct position {
  uint64_t code; /* 0: current state; k + 1: checkpoint k */
  bool tentative;
  mlogi_chan_counts *ch;
} position;

typedef struct offer {
  position *pos;
  size_t npos;
} offer;

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */

typedef struct writer {
  uint8_t *buf;
  size_t len, cap;
  bool failed;
} writer;

static void put(writer *w, uint64_t v) {
  if (w->failed || mlogi_grow((void **)&w->buf, &w->cap, w->len + 10, 1)) {
    w->failed = true;
    return;
  }
  w->len += mlogi_varint_put(w->buf + w->len, v);
}

typedef struct reader {
  const uint8_t *p;
  size_t left;
  bool bad;
} reader;

static uint64_t get(reader *r) {
  uint64_t v = 0;
  size_t used = r->bad ? 0 : mlogi_varint_get(r->p, r->left, &v);
  if (used == 0) {
    r->bad = true;
    return 0;
  }
  r->p += used;
  r->left -= used;
  return v;
}

static void put_counts(writer *w, const mlogi_chan_counts *c, uint32_t n) {
  for (uint32_t j = 0; j < n; j++) {
    put(w, c[j].sent);
    put(w, c[j].received);
    put(w, c[j].first_kept);
  }
}

static int finish(writer *w, uint8_t **out, size_t *len) {
  if (w->failed) {
    free(w->buf);
    return MLOG_ENOMEM;
  }
  *out = w->buf;
  *len = w->len;
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Positions                                                                */

static void current_counts(const mlog_proc *p, mlogi_chan_counts *c) {
  for (uint32_t j = 0; j < p->n; j++) {
    const channel *ch = &p->ch[j];
    c[j] = (mlogi_chan_counts){.sent = ch->send_ssn,
                               .acked = ch->acked,
                               .received = ch->recv_mark,
                               .first_kept = ch->out_head ? ch->out_head->ssn
                                                          : ch->send_ssn + 1};
  }
}

static int put_checkpoint(mlog_proc *p, writer *w, uint64_t number) {
  mlog_log_checkpoint ck;
  mlogi_state_view v;
  int rc = mlogi_checkpoint_peek(p->log, number, p->n, &ck, &v);
  if (rc != MLOG_OK)
    return rc;
  put(w, number + 1);
  put(w, p->grp->kt && number > p->grp->kt->perm);
  put_counts(w, v.ch, p->n);
  mlogi_checkpoint_peek_free(&ck, &v);
  return MLOG_OK;
}

int mlogi_indep_info(mlog_proc *p, uint8_t **out, size_t *len) {
  uint64_t *numbers;
  size_t count;
  int rc = mlog_log_checkpoint_numbers(p->log, &numbers, &count);
  if (rc != MLOG_OK)
    return rc;
  bool live = !p->grp->restarted;
  mlogi_chan_counts *c = calloc(p->n, sizeof *c);
  writer w = {0};
  put(&w, 1 + count + live);
  for (uint32_t j = 0; c && j < p->n; j++)
    c[j].first_kept = 1; /* the initial state */
  put(&w, 1);
  put(&w, 0);
  if (c)
    put_counts(&w, c, p->n);
  for (size_t k = 0; rc == MLOG_OK && k < count; k++)
    rc = put_checkpoint(p, &w, numbers[k]);
  if (live && c) {
    current_counts(p, c);
    put(&w, 0);
    put(&w, 0);
    put_counts(&w, c, p->n);
  }
  if (c == NULL)
    w.failed = true;
  free(c);
  free(numbers);
  if (rc != MLOG_OK) {
    free(w.buf);
    return rc;
  }
  return finish(&w, out, len);
}

static void free_offers(offer *o, uint32_t n) {
  for (uint32_t i = 0; o && i < n; i++) {
    for (size_t k = 0; k < o[i].npos; k++)
      free(o[i].pos[k].ch);
    free(o[i].pos);
  }
  free(o);
}

/* The initial state sent and received nothing (so the line stops there). */
static bool initial(const position *ps, uint32_t n) {
  for (uint32_t j = 0; j < n; j++)
    if (ps->ch[j].sent != 0 || ps->ch[j].received != 0)
      return false;
  return true;
}

/* Decode one process's positions: codes ascending, the current state last,
 * the initial state first. */
static int decode_offer(const uint8_t *buf, size_t len, uint32_t n, offer *o) {
  reader r = {.p = buf, .left = len};
  uint64_t count = get(&r);
  if (r.bad || count == 0 || count > len)
    return MLOG_EPROTO;
  o->pos = calloc(count, sizeof *o->pos);
  if (o->pos == NULL)
    return MLOG_ENOMEM;
  for (uint64_t k = 0; k < count && !r.bad; k++) {
    position *ps = &o->pos[o->npos++];
    ps->code = get(&r);
    uint64_t tentative = get(&r);
    ps->tentative = tentative == 1;
    r.bad = r.bad || tentative > 1;
    ps->ch = calloc(n, sizeof *ps->ch);
    if (ps->ch == NULL)
      return MLOG_ENOMEM;
    for (uint32_t j = 0; j < n; j++) {
      ps->ch[j].sent = get(&r);
      ps->ch[j].received = get(&r);
      ps->ch[j].first_kept = get(&r);
    }
    bool ordered = k == 0          ? ps->code == 1 && initial(ps, n)
                   : ps->code == 0 ? k + 1 == count
                                   : ps->code > o->pos[k - 1].code;
    r.bad = r.bad || !ordered;
  }
  return r.bad || r.left != 0 ? MLOG_EPROTO : MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* The line                                                                 */

/* Roll j back while it received from i more than i's position sent it;
 * true when some position moved. */
static bool resolve_orphans(const offer *o, size_t *at, uint32_t n) {
  bool moved = false;
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < n; j++)
      while (o[j].pos[at[j]].ch[i].received > o[i].pos[at[i]].ch[j].sent) {
        at[j]--; /* the initial state received nothing (checked): stops */
        moved = true;
      }
  return moved;
}

static uint64_t passed(const offer *o, size_t at) {
  uint64_t past = 0;
  for (size_t k = at + 1; k < o->npos; k++)
    past += o->pos[k].code != 0 && !o->pos[k].tentative;
  return past;
}

int mlogi_indep_decide(mlog_proc *p, uint8_t **out, size_t *len) {
  grp_state *g = p->grp;
  offer *o = calloc(p->n, sizeof *o);
  size_t *at = calloc(p->n, sizeof *at);
  int rc = o && at ? MLOG_OK : MLOG_ENOMEM;
  for (uint32_t i = 0; rc == MLOG_OK && i < p->n; i++) {
    rc = decode_offer(g->info[i], g->info_len[i], p->n, &o[i]);
    if (rc == MLOG_OK)
      at[i] = o[i].npos - 1;
  }
  while (rc == MLOG_OK && resolve_orphans(o, at, p->n))
    ;
  writer w = {0};
  for (uint32_t i = 0; rc == MLOG_OK && i < p->n; i++) {
    const position *ps = &o[i].pos[at[i]];
    put(&w, ps->code);
    put(&w, passed(&o[i], at[i]));
    for (uint32_t j = 0; j < p->n; j++)
      put(&w, ps->ch[j].first_kept);
  }
  free_offers(o, p->n);
  free(at);
  if (rc != MLOG_OK) {
    free(w.buf);
    return rc;
  }
  return finish(&w, out, len);
}

/* ------------------------------------------------------------------------ */
/* Applying the line                                                        */

/* My entry of the line (code, checkpoints passed) and what each process's
 * position still keeps for me. */
static int decode_line(const uint8_t *buf, size_t len, uint32_t n, uint32_t me,
                       uint64_t mine[2], uint64_t *first_kept) {
  reader r = {.p = buf, .left = len};
  for (uint32_t i = 0; i < n && !r.bad; i++) {
    uint64_t code = get(&r), past = get(&r);
    if (i == me) {
      mine[0] = code;
      mine[1] = past;
    }
    for (uint32_t j = 0; j < n; j++) {
      uint64_t f = get(&r);
      if (j == me)
        first_kept[i] = f;
    }
  }
  return r.bad || r.left != 0 ? MLOG_EPROTO : MLOG_OK;
}

/* Roll back to checkpoint `number` (0: the initial state); the newer ones
 * go. EPROTO, before anything changed, when there is no such checkpoint (a
 * line that was not computed from my positions). */
static int roll_back_to(mlog_proc *p, uint64_t number) {
  mlog_log_checkpoint ck = {0};
  int rc = number ? mlog_log_read_checkpoint(p->log, number, &ck) : MLOG_OK;
  if (rc == MLOG_ENOTFOUND) /* not a line of my positions: change nothing */
    return MLOG_EPROTO;
  if (rc == MLOG_OK)
    rc = mlog_log_drop_checkpoints_after(p->log, number);
  if (rc == MLOG_OK) {
    mlogi_reset_volatile(p);
    if (number == 0)
      rc = p->app.restore(p->app_arg, NULL, 0)
               ? mlogi_fail(&p->eb, MLOG_EAPP, "the restore callback failed")
               : MLOG_OK;
    else
      rc = mlogi_state_restore(p, ck.state, ck.len);
  }
  mlog_log_checkpoint_free(&ck);
  return rc;
}

/* Roll back to checkpoint `number` (MLOGI_POS_END: stay); under Koo-Toueg
 * the position becomes the newest permanent one. */
static int take_position(mlog_proc *p, uint64_t number) {
  int rc = number == MLOGI_POS_END ? MLOG_OK : roll_back_to(p, number);
  return rc == MLOG_OK && p->grp->kt ? mlogi_kt_applied(p, number) : rc;
}

/* The messages a peer sent me before its position and that I received
 * after mine are in transit again; the ones it no longer keeps are lost. */
static void skip_lost(mlog_proc *p, const uint64_t *first_kept) {
  for (uint32_t i = 0; i < p->n; i++) {
    channel *ch = &p->ch[i];
    if (i == p->id || first_kept[i] == 0 || ch->recv_mark >= first_kept[i] - 1)
      continue;
    p->stats.lost_messages += first_kept[i] - 1 - ch->recv_mark;
    ch->recv_mark = ch->logged_mark = ch->rcvd_mark = first_kept[i] - 1;
  }
}

int mlogi_indep_apply(mlog_proc *p, const uint8_t *line, size_t len) {
  uint64_t mine[2] = {0, 0}; /* code, checkpoints passed */
  uint64_t *first_kept = calloc(p->n, sizeof *first_kept);
  int rc = first_kept ? decode_line(line, len, p->n, p->id, mine, first_kept)
                      : MLOG_ENOMEM;
  uint64_t before = p->rsn;
  if (rc == MLOG_OK)
    rc = take_position(p, mine[0] ? mine[0] - 1 : MLOGI_POS_END);
  if (rc == MLOG_OK && mine[0] != 0) {
    p->stats.rollbacks++;
    p->stats.rolled_back += before > p->rsn ? before - p->rsn : 0;
    p->stats.rolled_back_past += mine[1];
    p->stats.domino_rollbacks += mine[1] > 0;
  }
  if (rc == MLOG_OK) {
    skip_lost(p, first_kept);
    mlogi_channels_rolled_back(p);
  }
  free(first_kept);
  return rc;
}
