/* replay.c - recovery by replay: the logged deliveries, through the handler */
#include <stdlib.h>

#include "core/proc.h"

/*
 * The log holds, commit by commit: the values and digests of handlers that
 * ran, a MARK naming the last delivery whose handler had run, then the
 * deliveries received for that commit. A delivery's values are therefore
 * logged after it (in a later commit). Replay walks the log once, verifying
 * every record, buffers deliveries, and runs those up to a MARK's rsn when
 * it reaches the MARK: their values are all behind it. What follows the
 * last MARK (the tail) runs at the end; the values it asks for that were
 * never logged are produced and logged afresh, as in normal operation.
 * Under optimistic logging the tail is not run: peers may depend on those
 * states as they first were, so they are lost (the incarnation ends before
 * them) and their messages are received again.
 *
 * Records describing a void state interval (its incarnation ended before
 * it: lost in a crash or rolled back) are skipped, except a spontaneous
 * send: an input from outside is never void, it is sent again from where
 * replay has got, with the channel's next ssn.
 */

typedef struct replay {
  mlog_proc *p;
  recvec buffer; /* deliveries not yet run */
  size_t next;   /* first one not yet run */
  bool stopped;  /* replay stopped the scan (its reason is in p->eb) */
} replay;

/* Drop what has been consumed: run deliveries, values of rsn <= done. */
static void compact(replay *r, uint64_t done) {
  replay_stash *rs = r->p->replay;
  while (rs->head < rs->values.n && rs->values.recs[rs->head].rsn <= done)
    rs->head++;
  if (rs->head == rs->values.n) {
    mlogi_recvec_clear(&rs->values);
    rs->head = 0;
  }
  if (r->next == r->buffer.n) {
    mlogi_recvec_clear(&r->buffer);
    r->next = 0;
  }
}

/* Run the buffered deliveries with rsn <= upto. */
static int run_upto(replay *r, uint64_t upto) {
  mlog_proc *p = r->p;
  mlogi_recvec_fix(&r->buffer);
  mlogi_recvec_fix(&p->replay->values);
  uint64_t done = 0;
  while (r->next < r->buffer.n && r->buffer.recs[r->next].rsn <= upto) {
    const mlog_record *rec = &r->buffer.recs[r->next++];
    channel *ch = &p->ch[rec->src];
    ch->recv_mark = rec->ssn;
    if (p->opt == NULL) /* optimistic: acknowledged once committed */
      ch->logged_mark = ch->ack_sent = rec->ssn;
    int rc = mlogi_deliver(p, rec);
    if (rc != MLOG_OK)
      return rc;
    done = rec->rsn;
  }
  compact(r, done);
  return MLOG_OK;
}

static int on_delivery(replay *r, const mlog_record *rec) {
  mlog_proc *p = r->p;
  if (rec->dst != p->id || rec->src >= p->n || rec->src == p->id ||
      rec->rsn != p->next_rsn + 1)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT,
                      "record %llu: delivery rsn %llu from %u out of "
                      "sequence (expected rsn %llu)",
                      (unsigned long long)rec->lsn,
                      (unsigned long long)rec->rsn, rec->src,
                      (unsigned long long)(p->next_rsn + 1));
  p->next_rsn = rec->rsn;
  return mlogi_recvec_add(&r->buffer, rec);
}

/* Does rec describe a void state interval? */
static bool is_void(const mlog_proc *p, const mlog_record *rec) {
  return rec->rsn > mlog_log_incarnation_end(p->log, rec->incarnation);
}

static int on_spontaneous(replay *r, const mlog_record *rec) {
  mlog_proc *p = r->p;
  bool again = is_void(p, rec);
  if (rec->src != p->id || rec->dst >= p->n || rec->dst == p->id ||
      (!again && rec->ssn != p->ch[rec->dst].send_ssn + 1))
    return mlogi_fail(&p->eb, MLOG_EDIVERGED,
                      "record %llu: logged send %llu to %u does not follow "
                      "the replayed sends",
                      (unsigned long long)rec->lsn,
                      (unsigned long long)rec->ssn, rec->dst);
  return mlogi_send_logged(p, rec->dst, p->ch[rec->dst].send_ssn + 1,
                           rec->payload, rec->payload_len);
}

static int replay_record(replay *r, const mlog_record *rec) {
  mlog_proc *p = r->p;
  replay_stash *rs = p->replay;
  if (rec->type == MLOG_REC_PAYLOAD && p->sb) /* sent where replay gets */
    return mlogi_recvec_add(&p->sb->sends, rec);
  if (rec->type == MLOG_REC_PAYLOAD) /* after the MARK before it */
    return on_spontaneous(r, rec);
  if (rec->type == MLOG_REC_CONTROL && rec->flags == MLOGI_CTL_MARK) {
    uint64_t end = mlog_log_incarnation_end(p->log, rec->incarnation);
    p->marked_rsn = rec->rsn < end ? rec->rsn : end;
    return run_upto(r, p->marked_rsn);
  }
  if (is_void(p, rec))
    return MLOG_OK;
  switch (rec->type) {
  case MLOG_REC_DELIVERY:
    return on_delivery(r, rec);
  case MLOG_REC_NONDET:
    return mlogi_recvec_add(&rs->values, rec);
  case MLOG_REC_CONTROL:
    if (rec->flags == MLOGI_CTL_DIGEST)
      return mlogi_recvec_add(&rs->values, rec);
    if (rec->flags == MLOGI_CTL_OUTPUT && rec->ssn > rs->outputs)
      rs->outputs = rec->ssn;
    return MLOG_OK;
  default:
    return MLOG_OK;
  }
}

/* The scan's callback: a verified record. */
static int on_record(void *arg, const mlog_record *rec) {
  replay *r = arg;
  int rc = replay_record(r, rec);
  if (rc == MLOG_ENOMEM)
    mlogi_fail(&r->p->eb, rc, "out of memory replaying record %llu",
               (unsigned long long)rec->lsn);
  r->stopped = rc != MLOG_OK;
  return rc;
}

int mlogi_replay(mlog_proc *p, uint64_t covered_lsn) {
  replay_stash stash = {.values = {0}};
  replay r = {.p = p};
  p->replay = &stash;
  int rc = mlog_log_scan(p->log, covered_lsn + 1, on_record, &r);
  if (rc != MLOG_OK && !r.stopped) /* a record failed its check */
    mlogi_fail(&p->eb, rc, "recovery stopped: %s", mlog_log_errmsg(p->log));
  if (rc == MLOG_OK && p->opt == NULL) {
    stash.tail = true;
    rc = run_upto(&r, UINT64_MAX);
  }
  p->next_rsn = p->delivered_rsn; /* an unrun tail is received again */
  if (stash.outputs > p->output_logged)
    p->output_logged = stash.outputs;
  /* A handler replayed before the scan reached the record of its output's
   * release queued it again: the log says it left, so it stays released. */
  while (p->out_head && p->out_head->seq <= stash.outputs) {
    outq *o = p->out_head;
    p->out_head = o->next;
    free(o);
  }
  if (p->out_head == NULL)
    p->out_tail = NULL;
  p->replay = NULL;
  if (p->sb && rc == MLOG_OK) { /* its deliveries come from the senders */
    stash.tail = true;          /* values never logged: produced afresh */
    p->sb->stash = stash;
    p->replay = &p->sb->stash;
  } else {
    mlogi_recvec_free(&stash.values);
  }
  mlogi_recvec_free(&r.buffer);
  return rc;
}
