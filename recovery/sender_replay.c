/* sender_replay.c - recovery under sender-based logging */
#include <stdlib.h>

#include "core/proc.h"

/*
 * The restarted process restored its checkpoint and read its own log: the
 * values its handlers took, the outputs it released and its spontaneous
 * sends (kept in order, each with the rsn it followed). Its deliveries are
 * in its senders' memories or logs: it asks every peer (HELLO with
 * F_REPLAY) for the messages it keeps for it, each with the rsn given (0:
 * none). Once all have answered, it replays the messages with rsns after
 * the checkpoint in rsn order, as far as they run without a gap: those are
 * the deliveries whose rsns were acknowledged, the only ones anything
 * could depend on. It then ends its incarnation there (later values in its
 * log are void) and delivers the other messages anew, with new rsns.
 */

/* A spontaneous send of the log, at its place after delivery rsn. */
static int send_due(mlog_proc *p, uint64_t upto) {
  sender_based *sb = p->sb;
  mlogi_recvec_fix(&sb->sends);
  while (sb->next_send < sb->sends.n) {
    const mlog_record *rec = &sb->sends.recs[sb->next_send];
    uint64_t end = mlog_log_incarnation_end(p->log, rec->incarnation);
    /* Its place was lost: it went again where the recovery that lost it
     * got, with the next ssn. */
    bool again = rec->rsn > end;
    if ((again ? end : rec->rsn) > upto)
      return MLOG_OK;
    channel *ch = &p->ch[rec->dst];
    if (!again && rec->ssn != ch->send_ssn + 1)
      return mlogi_fail(&p->eb, MLOG_EDIVERGED,
                        "logged send %llu to %u does not follow the replayed "
                        "sends",
                        (unsigned long long)rec->ssn, rec->dst);
    int rc = mlogi_send_logged(p, rec->dst, ch->send_ssn + 1, rec->payload,
                               rec->payload_len);
    if (rc != MLOG_OK)
      return rc;
    sb->next_send++;
  }
  return MLOG_OK;
}

/* The answers by rsn: (rsn, index into got), sorted. */
typedef struct by_rsn {
  uint64_t rsn;
  size_t i;
} by_rsn;

/* By rsn, then by place in got: among equal rsns the first answer in got
 * wins, as a linear search of got would find it (qsort is not stable). */
static int cmp_rsn(const void *a, const void *b) {
  const by_rsn *x = a, *y = b;
  if (x->rsn != y->rsn)
    return x->rsn < y->rsn ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static by_rsn *sort_by_rsn(const recvec *got) {
  by_rsn *order = malloc((got->n ? got->n : 1) * sizeof *order);
  if (order == NULL)
    return NULL;
  for (size_t i = 0; i < got->n; i++)
    order[i] = (by_rsn){.rsn = got->recs[i].rsn, .i = i};
  if (got->n > 0)
    qsort(order, got->n, sizeof *order, cmp_rsn);
  return order;
}

/* The answer that holds delivery rsn, or NULL; *at moves along `order`
 * (rsns are asked for in increasing order). */
static mlog_record *answer_with(mlog_proc *p, const by_rsn *order, size_t *at,
                                uint64_t rsn) {
  recvec *got = &p->sb->got;
  while (*at < got->n && order[*at].rsn < rsn)
    (*at)++;
  for (size_t k = *at; k < got->n && order[k].rsn == rsn; k++) {
    mlog_record *rec = &got->recs[order[k].i];
    if (rec->type == MLOG_REC_DELIVERY &&
        rsn <= mlog_log_incarnation_end(p->log, rec->incarnation) &&
        rec->ssn == p->ch[rec->src].recv_mark + 1)
      return rec;
  }
  return NULL;
}

/* Replay the acknowledged deliveries, in rsn order, without a gap. */
static int replay_logged(mlog_proc *p) {
  int rc = send_due(p, p->rsn);
  by_rsn *order = sort_by_rsn(&p->sb->got);
  if (order == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  size_t at = 0;
  mlog_record *rec;
  while (rc == MLOG_OK &&
         (rec = answer_with(p, order, &at, p->rsn + 1)) != NULL) {
    p->ch[rec->src].recv_mark = rec->ssn;
    rec->type = MLOG_REC_CONTROL; /* consumed */
    p->next_rsn = rec->rsn;
    rc = mlogi_deliver(p, rec);
    if (rc == MLOG_OK)
      rc = send_due(p, p->rsn);
  }
  free(order);
  return rc;
}

/* Take the other answers as new deliveries, channel by channel in ssn
 * order (the normal path logs nothing, delivers and sends their rsns).
 * An answer behind a message its sender has not sent yet (still held,
 * regenerated after the ones it kept) waits for that one: the data path
 * calls this again after each message it takes. */
int mlogi_sb_deliver_answers(mlog_proc *p) {
  recvec *got = &p->sb->got;
  size_t left = 0;
  for (bool found = true; found;) {
    found = false;
    for (size_t i = 0; i < got->n; i++) {
      mlog_record *rec = &got->recs[i];
      channel *ch = &p->ch[rec->src];
      if (rec->type != MLOG_REC_DELIVERY || rec->ssn != ch->recv_mark + 1)
        continue;
      mlog_record fresh = *rec;
      fresh.incarnation = p->incarnation;
      fresh.rsn = ++p->next_rsn;
      if (mlogi_recvec_add(&p->dlv, &fresh) != MLOG_OK)
        return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
      ch->recv_mark = rec->ssn;
      rec->type = MLOG_REC_CONTROL;
      found = true;
    }
  }
  for (size_t i = 0; i < got->n; i++)
    left += got->recs[i].type == MLOG_REC_DELIVERY &&
            got->recs[i].ssn > p->ch[got->recs[i].src].recv_mark;
  if (left == 0)
    mlogi_recvec_free(got);
  return MLOG_OK;
}

int mlogi_sb_finish_recovery(mlog_proc *p) {
  sender_based *sb = p->sb;
  for (uint32_t j = 0; j < p->n; j++)
    if (j != p->id && sb->peers[j].incomplete)
      return mlogi_fail(&p->eb, MLOG_EGONE,
                        "process %u lost the rsns of messages it sent here "
                        "since this process's checkpoint (memory mode, "
                        "concurrent failures): recovery cannot replay them",
                        j);
  free(sb->got_index); /* every answer is in: no more lookups */
  sb->got_index = NULL;
  sb->got_index_cap = 0;
  mlogi_recvec_fix(&sb->got);
  int rc = replay_logged(p);
  if (rc == MLOG_OK && mlog_log_end_incarnation(p->log, p->rsn) != MLOG_OK)
    rc = mlogi_fail(&p->eb, MLOG_EIO, "ending incarnation %u: %s",
                    p->incarnation, mlog_log_errmsg(p->log));
  if (rc == MLOG_OK) {
    p->incarnation = mlog_log_incarnation(p->log);
    p->replay = NULL;
    p->stats.recovered_rsn = p->rsn;
    rc = send_due(p, UINT64_MAX);
  }
  if (rc == MLOG_OK)
    rc = mlogi_sb_deliver_answers(p);
  if (rc != MLOG_OK) {
    p->broken = true;
    return rc;
  }
  sb->recovering = false;
  sb->logged_rsn = p->rsn;
  mlogi_recvec_free(&sb->sends);
  mlogi_recvec_free(&sb->stash.values);
  for (uint32_t j = 0; j < p->n; j++)
    if (p->ch[j].out_head == NULL)
      sb->peers[j].lost = false; /* nothing of ours it could need */
  return MLOG_OK;
}

/* A kept message from the sender log (durable mode): its rsn, or the
 * message itself when replay has not regenerated it yet. */
static int restore_kept(void *arg, const mlog_record *rec) {
  mlog_proc *p = arg;
  if (rec->dst >= p->n || rec->dst == p->id)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT, "a kept message for process %u",
                      rec->dst);
  channel *ch = &p->ch[rec->dst];
  if (rec->ssn <= ch->acked)
    return MLOG_OK;
  for (outmsg *m = ch->out_head; m; m = m->next)
    if (m->ssn == rec->ssn) {
      m->rsn = rec->rsn;
      m->rsn_inc = rec->incarnation;
      return MLOG_OK;
    }
  /* Replay regenerates it later at this ssn (mlogi_send_logged keeps this
   * one): send_ssn stays where the checkpoint put it. */
  outmsg *m = malloc(sizeof *m + rec->payload_len);
  if (m == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  *m = (outmsg){.ssn = rec->ssn,
                .sent = true,
                .flags = rec->flags,
                .rsn = rec->rsn,
                .rsn_inc = rec->incarnation,
                .len = rec->payload_len};
  memcpy(m->data, rec->payload, rec->payload_len);
  mlogi_outbox_insert(ch, m);
  return MLOG_OK;
}

int mlogi_sb_start_recovery(mlog_proc *p, bool had_past) {
  sender_based *sb = p->sb;
  sb->logged_rsn = p->rsn;
  if (!had_past)
    return MLOG_OK;
  if (sb->durable) {
    int rc = mlog_log_scan_sent(p->log, restore_kept, p);
    if (rc != MLOG_OK)
      return mlogi_fail(&p->eb, rc, "the kept messages: %s",
                        mlog_log_errmsg(p->log));
  }
  if (p->replay == NULL) /* no checkpoint and an empty log: the deliveries
                            the peers send back are replayed all the same */
    p->replay = &sb->stash;
  sb->stash.tail = true; /* values never logged are produced afresh */
  for (uint32_t j = 0; j < p->n; j++)
    sb->peers[j].lost = !sb->durable && j != p->id;
  sb->recovering = p->n > 1;
  if (!sb->recovering)
    return mlogi_sb_finish_recovery(p);
  return MLOG_OK;
}
