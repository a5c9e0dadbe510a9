/* koo_toueg.c - `coordinated` with MLOG_PROC_KOO_TOUEG: two-phase
 * checkpointing */
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

/*
 * Koo and Toueg's algorithm. The initiator takes a tentative checkpoint and
 * asks every process it received a message from since its last permanent
 * checkpoint, with the last ssn it received from it. A process asked takes
 * a tentative checkpoint only when that message was sent after its own
 * last permanent checkpoint (last_recv(x, y) >= first_sent(y, x): without
 * one, the asker's checkpoint would record a message its sender's does
 * not), asks its own senders the same way, and answers once they all did.
 * When every answer is in, the initiator decides: permanent if all said
 * yes, discarded otherwise, and the decision travels down the same tree.
 * Between its tentative checkpoint and the decision a process sends no
 * message (receiving goes on), so no message sent after a checkpoint is
 * received before another of the same instance. A process already in
 * another instance answers no.
 *
 * The permanent checkpoints of all processes form a consistent set, so
 * recovery runs the rounds of `none` (recovery/independent.c): the line is
 * the newest permanent ones, without domino. A discarded tentative
 * checkpoint is dropped at once. One whose decision a crash or a rollback
 * round cut off stays tentative: the round offers it as a position (it is
 * a checkpoint like any other for the counts), and its line decides: the
 * line becomes the newest permanent checkpoints (a process it leaves in its
 * current state checkpoints it), tentative ones above it go. Rolling back
 * past a tentative checkpoint is no domino. The log holds a PERMANENT
 * record (CONTROL, flags 7, rsn: the checkpoint) for each one kept.
 *
 * Messages in transit across the line are not recorded (the lecture's
 * "end-to-end protocols cope with the message loss"): a sender keeps each
 * message until a permanent checkpoint of its receiver covers the delivery
 * (core/delivery.c: acknowledged as received at once, as stable only after
 * the decision or the line that makes the checkpoint permanent), so its
 * positions still hold what a rollback puts in transit again.
 */

enum { ASK_NONE, ASK_WAIT, ASK_YES, ASK_NO, ASK_TELL };

static uint64_t *counts(mlog_proc *p, bool sent, uint64_t *out) {
  for (uint32_t j = 0; j < p->n; j++)
    out[j] = sent ? p->ch[j].send_ssn : p->ch[j].recv_mark;
  return out;
}

/* The counts of checkpoint `number` (0: the initial state) become the base
 * of what is newer than the last permanent checkpoint. */
static int set_base(mlog_proc *p, uint64_t number) {
  koo_toueg *kt = p->grp->kt;
  kt->perm = number;
  kt->perm_rsn = 0;
  memset(kt->base_sent, 0, p->n * sizeof *kt->base_sent);
  memset(kt->base_recv, 0, p->n * sizeof *kt->base_recv);
  if (number == 0)
    return MLOG_OK;
  mlog_log_checkpoint ck;
  mlogi_state_view v;
  int rc = mlogi_checkpoint_peek(p->log, number, p->n, &ck, &v);
  if (rc != MLOG_OK)
    return rc;
  kt->perm_rsn = v.rsn;
  for (uint32_t j = 0; j < p->n; j++) {
    kt->base_sent[j] = v.ch[j].sent;
    kt->base_recv[j] = v.ch[j].received;
  }
  mlogi_checkpoint_peek_free(&ck, &v);
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */

typedef struct permanents {
  uint64_t *number, *lsn; /* PERMANENT records */
  size_t n, cap, cap2;
} permanents;

static int note_permanent(void *arg, const mlog_record *rec) {
  permanents *pm = arg;
  if (rec->type != MLOG_REC_CONTROL || rec->flags != MLOGI_CTL_PERMANENT)
    return 0;
  if (mlogi_grow((void **)&pm->number, &pm->cap, pm->n + 1, 8) ||
      mlogi_grow((void **)&pm->lsn, &pm->cap2, pm->n + 1, 8))
    return MLOG_ENOMEM;
  pm->number[pm->n] = rec->rsn;
  pm->lsn[pm->n++] = rec->lsn;
  return 0;
}

/* Is checkpoint `number` permanent (a PERMANENT record after it)? */
static int is_permanent(mlog_proc *p, const permanents *pm, uint64_t number,
                        bool *yes) {
  mlog_log_checkpoint ck;
  int rc = mlog_log_read_checkpoint(p->log, number, &ck);
  *yes = false;
  for (size_t i = 0; rc == MLOG_OK && i < pm->n; i++)
    *yes = *yes || (pm->number[i] == number && pm->lsn[i] > ck.covered_lsn);
  mlog_log_checkpoint_free(&ck);
  return rc;
}

/* The newest permanent checkpoint; newer ones are tentative. */
static int find_base(mlog_proc *p) {
  uint64_t *numbers;
  size_t count;
  permanents pm = {0};
  int rc = mlog_log_checkpoint_numbers(p->log, &numbers, &count);
  if (rc == MLOG_OK)
    rc = mlog_log_scan(p->log, 1, note_permanent, &pm);
  uint64_t base = 0;
  for (size_t k = count; rc == MLOG_OK && k-- > 0 && base == 0;) {
    bool yes;
    rc = is_permanent(p, &pm, numbers[k], &yes);
    base = yes ? numbers[k] : 0;
  }
  free(numbers);
  free(pm.number);
  free(pm.lsn);
  return rc == MLOG_OK ? set_base(p, base) : rc;
}

/* Checkpoint `number` is permanent from now on. */
static int make_permanent(mlog_proc *p, uint64_t number) {
  mlog_record rec = {.type = MLOG_REC_CONTROL,
                     .flags = MLOGI_CTL_PERMANENT,
                     .src = p->id,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .rsn = number};
  int rc = mlogi_add_record(p, &rec);
  return rc == MLOG_OK ? mlogi_commit_durably(p) : rc;
}

int mlogi_kt_open(mlog_proc *p) {
  koo_toueg *kt = calloc(1, sizeof *kt);
  if (kt == NULL)
    return MLOG_ENOMEM;
  p->grp->kt = kt;
  kt->base_sent = calloc(p->n, sizeof *kt->base_sent);
  kt->base_recv = calloc(p->n, sizeof *kt->base_recv);
  kt->tent_sent = calloc(p->n, sizeof *kt->tent_sent);
  kt->tent_recv = calloc(p->n, sizeof *kt->tent_recv);
  kt->asked = calloc(p->n, sizeof *kt->asked);
  kt->finished = calloc(p->n, sizeof *kt->finished);
  if (!kt->base_sent || !kt->base_recv || !kt->tent_sent || !kt->tent_recv ||
      !kt->asked || !kt->finished)
    return MLOG_ENOMEM;
  int rc = find_base(p);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "reading the permanent checkpoints: %s",
                      mlog_log_errmsg(p->log));
  return MLOG_OK;
}

void mlogi_kt_free(mlog_proc *p) {
  koo_toueg *kt = p->grp ? p->grp->kt : NULL;
  if (kt == NULL)
    return;
  free(kt->base_sent);
  free(kt->base_recv);
  free(kt->tent_sent);
  free(kt->tent_recv);
  free(kt->asked);
  free(kt->finished);
  free(kt);
  p->grp->kt = NULL;
}

/* ------------------------------------------------------------------------ */
/* The instance                                                             */

static void send_kt(mlog_proc *p, uint32_t dst, uint8_t kind, uint16_t flags,
                    const void *payload, size_t len) {
  mlogi_send_frame(p, dst, kind, flags, p->grp->kt->inst, payload,
                   (uint32_t)len);
}

static void request(mlog_proc *p, uint32_t j) {
  uint8_t payload[10];
  size_t len = mlogi_varint_put(payload, p->ch[j].recv_mark);
  send_kt(p, j, MLOGI_FRAME_KT_REQUEST, 0, payload, len);
}

/* Take the tentative checkpoint of the instance and ask my senders. */
static int enter(mlog_proc *p, uint64_t inst, uint32_t parent) {
  koo_toueg *kt = p->grp->kt;
  int rc = mlogi_write_checkpoint(p, &kt->tentative);
  if (rc != MLOG_OK)
    return rc;
  kt->tent_rsn = p->rsn;
  counts(p, true, kt->tent_sent);
  counts(p, false, kt->tent_recv);
  kt->busy = true;
  kt->inst = inst;
  kt->parent = parent;
  kt->sent_at = mlogi_now_ms(p);
  for (uint32_t j = 0; j < p->n; j++) {
    bool newer = j != p->id && p->ch[j].recv_mark > kt->base_recv[j];
    kt->asked[j] = newer ? ASK_WAIT : ASK_NONE;
    if (newer)
      request(p, j);
  }
  return MLOG_OK;
}

/* The decision: keep or drop my tentative checkpoint, tell my children. */
static int finish(mlog_proc *p, bool commit) {
  koo_toueg *kt = p->grp->kt;
  int rc = MLOG_OK;
  if (commit && kt->tentative)
    rc = make_permanent(p, kt->tentative);
  if (rc == MLOG_OK && commit && kt->tentative) {
    kt->perm = kt->tentative;
    kt->perm_rsn = kt->tent_rsn;
    memcpy(kt->base_sent, kt->tent_sent, p->n * sizeof *kt->base_sent);
    memcpy(kt->base_recv, kt->tent_recv, p->n * sizeof *kt->base_recv);
    mlogi_channels_stable(p, kt->base_recv); /* durable: senders may drop */
  } else if (kt->tentative) {
    rc = mlog_log_drop_checkpoints_after(p->log, kt->perm);
  }
  if (rc != MLOG_OK) {
    p->broken = true;
    return mlogi_fail(&p->eb, rc, "deciding a checkpoint: %s",
                      mlog_log_errmsg(p->log));
  }
  kt->tentative = 0;
  kt->busy = false;
  kt->commit = commit;
  if ((uint32_t)kt->inst > kt->finished[kt->inst >> 32])
    kt->finished[kt->inst >> 32] = (uint32_t)kt->inst;
  kt->forwarding = false;
  for (uint32_t j = 0; j < p->n; j++) {
    kt->asked[j] = kt->asked[j] != ASK_NONE ? ASK_TELL : ASK_NONE;
    kt->forwarding = kt->forwarding || kt->asked[j] == ASK_TELL;
    if (kt->asked[j] == ASK_TELL)
      send_kt(p, j, MLOGI_FRAME_KT_DECISION, commit ? MLOGI_FRAME_F_YES : 0,
              NULL, 0);
  }
  kt->sent_at = mlogi_now_ms(p);
  return MLOG_OK;
}

/* Every answer of my subtree is in: decide, or answer my parent. */
static int answer(mlog_proc *p) {
  koo_toueg *kt = p->grp->kt;
  bool yes = true;
  for (uint32_t j = 0; j < p->n; j++) {
    if (kt->asked[j] == ASK_WAIT)
      return MLOG_OK;
    yes = yes && kt->asked[j] != ASK_NO;
  }
  if (kt->parent == p->id)
    return finish(p, yes);
  send_kt(p, kt->parent, MLOGI_FRAME_KT_REPLY, yes ? MLOGI_FRAME_F_YES : 0,
          NULL, 0);
  return MLOG_OK;
}

int mlogi_kt_start(mlog_proc *p) {
  koo_toueg *kt = p->grp->kt;
  if (kt->busy || kt->forwarding)
    return mlogi_fail(&p->eb, MLOG_EAGAIN,
                      "a two-phase checkpoint is under way");
  uint64_t inst = (uint64_t)p->id << 32 | ++kt->seq;
  int rc = enter(p, inst, p->id);
  return rc == MLOG_OK ? answer(p) : rc;
}

/* Asked by x with the last ssn x received from me. */
static int on_request(mlog_proc *p, const mlogi_frame *f) {
  koo_toueg *kt = p->grp->kt;
  uint64_t last_recv;
  if (!mlogi_varint_only(f->payload, f->payload_len, &last_recv)) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  uint32_t initiator = (uint32_t)(f->seq >> 32);
  if (initiator >= p->n) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  /* Decided here already, or refused (my no aborts it): a late copy must
   * not start it again; no is the answer the asker may still wait for. */
  if ((uint32_t)f->seq <= kt->finished[initiator]) {
    mlogi_send_frame(p, f->src, MLOGI_FRAME_KT_REPLY, 0, f->seq, NULL, 0);
    return MLOG_OK;
  }
  if (kt->busy && f->seq == kt->inst) { /* in it already */
    if (f->src == kt->parent) /* my answer was lost: again, once ready */
      return answer(p);
    mlogi_send_frame(p, f->src, MLOGI_FRAME_KT_REPLY, MLOGI_FRAME_F_YES, f->seq,
                     NULL, 0);
    return MLOG_OK;
  }
  /* last_recv(x, y) >= first_sent(y, x): x received a message I sent after
   * my last permanent checkpoint. */
  bool needed = last_recv > kt->base_sent[f->src];
  if (needed && (kt->busy || kt->forwarding))
    kt->finished[initiator] = (uint32_t)f->seq;
  if (kt->busy || kt->forwarding || !needed) {
    mlogi_send_frame(p, f->src, MLOGI_FRAME_KT_REPLY,
                     needed ? 0 : MLOGI_FRAME_F_YES, f->seq, NULL, 0);
    return MLOG_OK;
  }
  int rc = enter(p, f->seq, f->src);
  return rc == MLOG_OK ? answer(p) : rc;
}

int mlogi_kt_on_frame(mlog_proc *p, const void *frame) {
  const mlogi_frame *f = frame;
  koo_toueg *kt = p->grp->kt;
  bool yes = (f->flags & MLOGI_FRAME_F_YES) != 0;
  switch (f->kind) {
  case MLOGI_FRAME_KT_REQUEST:
    return on_request(p, f);
  case MLOGI_FRAME_KT_REPLY:
    if (!kt->busy || f->seq != kt->inst || kt->asked[f->src] != ASK_WAIT)
      return MLOG_OK;
    kt->asked[f->src] = yes ? ASK_YES : ASK_NO;
    return answer(p);
  case MLOGI_FRAME_KT_DECISION:
    mlogi_send_frame(p, f->src, MLOGI_FRAME_KT_DONE, 0, f->seq, NULL, 0);
    if (kt->busy && f->seq == kt->inst && f->src == kt->parent)
      return finish(p, yes);
    return MLOG_OK;
  case MLOGI_FRAME_KT_DONE:
    if (kt->forwarding && f->seq == kt->inst && kt->asked[f->src] == ASK_TELL) {
      kt->asked[f->src] = ASK_NONE;
      kt->forwarding = false;
      for (uint32_t j = 0; j < p->n; j++)
        kt->forwarding = kt->forwarding || kt->asked[j] == ASK_TELL;
    }
    return MLOG_OK;
  default:
    p->stats.bad_frames++;
    return MLOG_OK;
  }
}

int mlogi_kt_settle(mlog_proc *p) {
  koo_toueg *kt = p->grp->kt;
  uint64_t now = mlogi_now_ms(p);
  if (!(kt->busy || kt->forwarding) || now - kt->sent_at < p->cfg.retransmit_ms)
    return MLOG_OK;
  for (uint32_t j = 0; j < p->n; j++) {
    if (kt->busy && kt->asked[j] == ASK_WAIT)
      request(p, j);
    else if (!kt->busy && kt->asked[j] == ASK_TELL)
      send_kt(p, j, MLOGI_FRAME_KT_DECISION, kt->commit ? MLOGI_FRAME_F_YES : 0,
              NULL, 0);
  }
  kt->sent_at = now;
  return MLOG_OK;
}

bool mlogi_kt_holding(const mlog_proc *p) {
  const koo_toueg *kt = p->grp ? p->grp->kt : NULL;
  return kt && kt->busy && kt->tentative != 0;
}

void mlogi_kt_abort(mlog_proc *p) {
  koo_toueg *kt = p->grp->kt;
  kt->tentative = 0;
  kt->busy = kt->forwarding = false;
  memset(kt->asked, 0, p->n * sizeof *kt->asked);
  /* A new round: instance numbers start again (a restarted process's do) */
  memset(kt->finished, 0, p->n * sizeof *kt->finished);
}

/* The line is a consistent cut: it becomes the newest permanent
 * checkpoints, so that they stay a consistent set. A process the line
 * leaves in its current state checkpoints it (tentative ones below it go). */
int mlogi_kt_applied(mlog_proc *p, uint64_t number) {
  koo_toueg *kt = p->grp->kt;
  mlogi_kt_abort(p);
  int rc = MLOG_OK;
  if (number == MLOGI_POS_END) {
    rc = mlog_log_drop_checkpoints_after(p->log, kt->perm);
    if (rc == MLOG_OK)
      rc = mlogi_write_checkpoint(p, &number);
  }
  if (rc == MLOG_OK && number > kt->perm)
    rc = make_permanent(p, number);
  if (rc == MLOG_OK)
    rc = set_base(p, number);
  if (rc == MLOG_OK)
    mlogi_channels_stable(p, kt->base_recv);
  return rc;
}
