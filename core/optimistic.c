/* optimistic.c - optimistic logging: dependency vectors, stability, orphans */
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

/*
 * Strom and Yemini's optimistic recovery. A process delivers at once and
 * its logger persists in the background. Every message carries the
 * sender's dependency vector; a delivery merges it into the receiver's.
 * Processes exchange statuses (on ACK and HELLO frames): their incarnation
 * with where each earlier one ended (the intervals after an end were lost
 * in a crash or rolled back), and how far their log is stable. A state is
 * committed once every interval in its vector is stable: only then are its
 * outputs released, its messages acknowledged (so their senders may drop
 * them) and a checkpoint of it taken. A committed state can never be
 * rolled back, which is what makes those actions safe.
 *
 * An announcement that ends an incarnation before an interval our vector
 * names makes us an orphan: we roll back to the last state that does not
 * depend on a lost interval (never before the committed one). A message
 * that depends on a lost interval is discarded on arrival; one that names
 * an incarnation whose predecessors' ends we do not know is held (dropped
 * until its sender resends it; by then their statuses have reached us).
 */

#define STATUS_REQUEST 0x1u /* the receiver should answer with its status */

/* The vectors of pending entry i: the state's ([0, n)), then the message's
 * ([n, 2n)). */
static mlogi_interval *pend_dv(optimistic *o, size_t i, uint32_t n) {
  return o->pend_dv + ((o->head + i) % o->cap) * 2 * n;
}

int mlogi_opt_open(mlog_proc *p) {
  optimistic *o = calloc(1, sizeof *o);
  if (o == NULL || (o->dv = calloc(p->n, sizeof *o->dv)) == NULL ||
      (o->scratch = calloc(p->n, sizeof *o->scratch)) == NULL ||
      (o->views = calloc(p->n, sizeof *o->views)) == NULL) {
    if (o) {
      free(o->dv);
      free(o->scratch);
    }
    free(o);
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  }
  p->opt = o;
  return MLOG_OK;
}

void mlogi_opt_free(mlog_proc *p) {
  optimistic *o = p->opt;
  if (o == NULL)
    return;
  mlogi_opt_drop_held(p);
  for (uint32_t j = 0; j < p->n; j++)
    mlogi_view_free(&o->views[j]);
  free(o->views);
  free(o->dv);
  free(o->scratch);
  free(o->pend);
  free(o->pend_dv);
  free(o->mark_lsn);
  free(o->mark_rsn);
  free(o);
  p->opt = NULL;
}

void mlogi_opt_reset(mlog_proc *p) {
  optimistic *o = p->opt;
  mlogi_opt_drop_held(p);
  o->hold_since = o->hold_after = o->hold_backoff = 0;
  memset(o->dv, 0, p->n * sizeof *o->dv);
  o->head = o->count = o->unverified = 0;
  o->mhead = o->mcount = 0;
  o->committed_rsn = o->marked_stable = 0;
  o->orphan = false;
}

int mlogi_opt_hold_frame(mlog_proc *p, uint32_t src, const void *buf,
                         size_t len) {
  optimistic *o = p->opt;
  heldframe *h = malloc(sizeof *h + len);
  if (h == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a held frame");
  *h = (heldframe){.src = src, .len = len};
  memcpy(h->data, buf, len);
  if (o->held_tail)
    o->held_tail->next = h;
  else
    o->held_head = h;
  o->held_tail = h;
  o->held_n++;
  o->held_bytes += len;
  return MLOG_OK;
}

int mlogi_opt_release_held(mlog_proc *p) {
  optimistic *o = p->opt;
  heldframe *h = o->held_head;
  o->held_head = o->held_tail = NULL;
  o->held_n = o->held_bytes = 0;
  int rc = MLOG_OK;
  for (heldframe *next; h; h = next) {
    next = h->next;
    if (rc == MLOG_OK)
      rc = mlogi_take_frame(p, h->src, h->data, h->len);
    free(h);
  }
  return rc;
}

void mlogi_opt_drop_held(mlog_proc *p) {
  optimistic *o = p->opt;
  for (heldframe *h = o->held_head, *next; h; h = next) {
    next = h->next;
    free(h);
  }
  o->held_head = o->held_tail = NULL;
  o->held_n = o->held_bytes = 0;
}

int mlogi_opt_self(mlog_proc *p) {
  mlogi_peerview *self = &p->opt->views[p->id];
  uint32_t inc = p->incarnation;
  if (inc > self->inc) {
    uint64_t *ends = malloc((size_t)inc * sizeof *ends);
    for (uint32_t k = 0; ends && k < inc; k++)
      ends[k] = mlog_log_incarnation_end(p->log, k);
    bool ok = ends && mlogi_view_learn(self, inc, ends);
    free(ends);
    if (!ok) /* the peers would never learn our ends */
      return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  }
  if (p->opt->marked_stable < p->delivered_rsn) /* replay ran what the log
                                                   holds */
    p->opt->marked_stable = p->delivered_rsn;
  self->stable_rsn = 0; /* set again by the next settle */
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

mlogi_admit mlogi_opt_admit(mlog_proc *p, uint32_t src, uint32_t incarnation,
                            const void *payload, size_t len) {
  optimistic *o = p->opt;
  mlogi_interval *v = o->scratch;
  size_t used;
  mlogi_admit verdict = MLOGI_ACCEPT;
  if (mlogi_dv_decode(payload, len, p->n, v, &used) != MLOG_OK)
    verdict = MLOGI_BAD;
  else if (incarnation > o->views[src].inc)
    verdict = MLOGI_HOLD;
  for (uint32_t j = 0; j < p->n && verdict == MLOGI_ACCEPT; j++) {
    if (v[j].rsn == 0)
      continue;
    if (v[j].inc > o->views[j].inc)
      verdict = j == p->id ? MLOGI_BAD : MLOGI_HOLD;
    else if (mlogi_view_lost(&o->views[j], v[j]))
      verdict = MLOGI_ORPHAN;
  }
  return verdict;
}

/* Does every entry of a message's vector name an incarnation whose
 * predecessors' ends we know? (Admission holds back messages that do not;
 * replay after a crash cannot.) */
static bool names_known(const mlog_proc *p, const mlogi_interval *msgdv) {
  for (uint32_t j = 0; j < p->n; j++)
    if (msgdv[j].rsn != 0 && msgdv[j].inc > p->opt->views[j].inc)
      return false;
  return true;
}

static int grow_pending(mlog_proc *p) {
  optimistic *o = p->opt;
  if (o->count < o->cap)
    return MLOG_OK;
  size_t cap = o->cap ? 2 * o->cap : 64;
  pending *pe = malloc(cap * sizeof *pe);
  mlogi_interval *dv = malloc(cap * 2 * p->n * sizeof *dv);
  if (pe == NULL || dv == NULL) {
    free(pe);
    free(dv);
    return MLOG_ENOMEM;
  }
  for (size_t i = 0; i < o->count; i++) {
    pe[i] = o->pend[(o->head + i) % o->cap];
    memcpy(dv + i * 2 * p->n, pend_dv(o, i, p->n), 2 * p->n * sizeof *dv);
  }
  free(o->pend);
  free(o->pend_dv);
  o->pend = pe;
  o->pend_dv = dv;
  o->head = 0;
  o->cap = cap;
  return MLOG_OK;
}

int mlogi_opt_deliver(mlog_proc *p, const mlog_record *rec, const void **msg,
                      size_t *len) {
  optimistic *o = p->opt;
  *msg = rec->payload;
  *len = rec->payload_len;
  if (!(rec->flags & MLOGI_DLV_DV))
    return MLOG_OK;
  if (grow_pending(p) != MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  mlogi_interval *dv = pend_dv(o, o->count, p->n), *msgdv = dv + p->n;
  size_t used;
  if (mlogi_dv_decode(rec->payload, rec->payload_len, p->n, msgdv, &used) !=
      MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT,
                      "delivery rsn %llu: malformed dependency vector",
                      (unsigned long long)rec->rsn);
  mlogi_dv_merge(o->dv, msgdv, p->n);
  o->dv[p->id] = (mlogi_interval){rec->incarnation, rec->rsn};
  memcpy(dv, o->dv, p->n * sizeof *dv);
  bool verified = names_known(p, msgdv);
  o->pend[(o->head + o->count) % o->cap] = (pending){
      .rsn = rec->rsn, .ssn = rec->ssn, .src = rec->src, .verified = verified};
  o->unverified += !verified;
  o->count++;
  *msg = (const uint8_t *)rec->payload + used;
  *len = rec->payload_len - used;
  return MLOG_OK;
}

int mlogi_opt_wrap(mlog_proc *p, const void *msg, size_t len, uint8_t **out,
                   size_t *outlen) {
  uint8_t *buf = malloc(MLOGI_DV_MAX_BYTES(p->n) + len);
  if (buf == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a send");
  size_t k = mlogi_dv_encode(p->opt->dv, p->n, buf);
  if (k + len > MLOG_PAYLOAD_MAX) {
    free(buf);
    return mlogi_fail(&p->eb, MLOG_ETOOBIG,
                      "a send of %zu bytes with its dependency vector exceeds "
                      "the payload limit",
                      len);
  }
  if (len)
    memcpy(buf + k, msg, len);
  *out = buf;
  *outlen = k + len;
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Stability                                                                */

int mlogi_opt_marked(mlog_proc *p, uint64_t lsn, uint64_t rsn) {
  optimistic *o = p->opt;
  if (o->mcount == o->mcap) {
    size_t cap = o->mcap ? 2 * o->mcap : 64;
    uint64_t *l = malloc(cap * sizeof *l), *r = malloc(cap * sizeof *r);
    if (l == NULL || r == NULL) {
      free(l);
      free(r);
      return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < o->mcount; i++) {
      l[i] = o->mark_lsn[(o->mhead + i) % o->mcap];
      r[i] = o->mark_rsn[(o->mhead + i) % o->mcap];
    }
    free(o->mark_lsn);
    free(o->mark_rsn);
    o->mark_lsn = l;
    o->mark_rsn = r;
    o->mhead = 0;
    o->mcap = cap;
  }
  size_t at = (o->mhead + o->mcount++) % o->mcap;
  o->mark_lsn[at] = lsn;
  o->mark_rsn[at] = rsn;
  return MLOG_OK;
}

/* Are all the vectors dv[0, k*n) stable (n: the group size)? */
static bool dv_stable(const mlog_proc *p, const mlogi_interval *dv,
                      uint32_t len) {
  for (uint32_t j = 0; j < len; j++)
    if (!mlogi_view_stable(&p->opt->views[j % p->n], dv[j]))
      return false;
  return true;
}

/* Our own stable rsn: the marks the log holds durably, but not past a
 * state replay made from a message not yet checked against the ends its
 * vector needs (it may hide a lost interval). */
static void advance_own(mlog_proc *p, uint64_t durable_lsn) {
  optimistic *o = p->opt;
  while (o->mcount > 0 && o->mark_lsn[o->mhead] <= durable_lsn) {
    if (o->mark_rsn[o->mhead] > o->marked_stable)
      o->marked_stable = o->mark_rsn[o->mhead];
    o->mhead = (o->mhead + 1) % o->mcap;
    o->mcount--;
  }
  uint64_t stable = o->marked_stable;
  for (size_t i = 0; o->unverified > 0 && i < o->count; i++)
    if (!o->pend[(o->head + i) % o->cap].verified) {
      uint64_t before = o->pend[(o->head + i) % o->cap].rsn - 1;
      stable = before < stable ? before : stable;
      break;
    }
  if (stable > o->views[p->id].stable_rsn)
    o->views[p->id].stable_rsn = stable;
}

/* Commit the states whose whole vector is stable, in rsn order; their
 * messages may now be acknowledged. */
static void advance_committed(mlog_proc *p) {
  optimistic *o = p->opt;
  while (o->count > 0 && o->pend[o->head].verified &&
         dv_stable(p, pend_dv(o, 0, p->n), 2 * p->n)) {
    const pending *e = &o->pend[o->head];
    o->committed_rsn = e->rsn;
    p->ch[e->src].logged_mark = e->ssn;
    o->head = (o->head + 1) % o->cap;
    o->count--;
  }
}

/* ------------------------------------------------------------------------ */
/* Statuses                                                                 */

size_t mlogi_opt_status(mlog_proc *p, uint32_t dst, bool request, uint8_t *buf,
                        size_t cap) {
  optimistic *o = p->opt;
  const mlogi_peerview *self = &o->views[p->id], *pv = &o->views[dst];
  uint64_t head[] = {request ? STATUS_REQUEST : 0, self->stable_rsn, pv->inc,
                     pv->stable_rsn, self->inc};
  size_t at = 0;
  for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
    at += mlogi_varint_put(buf + at, head[i]);
  for (uint32_t k = 0; k < self->inc && at + 10 <= cap; k++)
    at += mlogi_varint_put(buf + at, self->ends[k]);
  return at;
}

void mlogi_opt_send_status(mlog_proc *p, uint32_t dst, uint8_t kind,
                           bool request) {
  uint32_t inc = p->opt->views[p->id].inc;
  size_t cap = 50 + (size_t)inc * 10;
  uint8_t small[512], *buf = cap <= sizeof small ? small : malloc(cap);
  if (buf == NULL)
    return; /* resent after the timeout */
  size_t len = mlogi_opt_status(p, dst, request, buf, cap);
  mlogi_send_frame(p, dst, kind, MLOGI_FRAME_F_STATUS, p->ch[dst].logged_mark,
                   buf, (uint32_t)len);
  p->ch[dst].ack_sent = p->ch[dst].logged_mark;
  mlogi_peerview *pv = &p->opt->views[dst];
  pv->status_at = mlogi_now_ms(p);
  pv->sent_inc = p->opt->views[p->id].inc;
  pv->sent_rsn = p->opt->views[p->id].stable_rsn;
  if (buf != small)
    free(buf);
}

/* New ends known: the pending entries whose messages needed them. */
static void verify_pending(mlog_proc *p) {
  optimistic *o = p->opt;
  for (size_t i = 0; o->unverified > 0 && i < o->count; i++) {
    pending *e = &o->pend[(o->head + i) % o->cap];
    if (!e->verified && names_known(p, pend_dv(o, i, p->n) + p->n)) {
      e->verified = true;
      o->unverified--;
    }
  }
}

/* A peer's new ends made the messages taken for the next commit suspect:
 * drop them all (their senders resend them; none is acknowledged yet). */
static void drop_received(mlog_proc *p) {
  for (size_t i = p->dlv.n; i-- > 0;) {
    const mlog_record *rec = &p->dlv.recs[i];
    p->ch[rec->src].recv_mark = rec->ssn - 1;
  }
  p->next_rsn -= p->dlv.n;
  mlogi_recvec_clear(&p->dlv);
}

/* Does a state not yet committed depend on a lost interval of process j?
 * Not only the current vector: replay merges a recovered log's vectors
 * before the peers' ends are known, so an earlier state may name an
 * incarnation of j that a later one has moved past. */
static bool orphaned_by(mlog_proc *p, uint32_t j) {
  optimistic *o = p->opt;
  if (mlogi_view_lost(&o->views[j], o->dv[j]))
    return true;
  for (size_t i = 0; i < o->count; i++) {
    const mlogi_interval *dv = pend_dv(o, i, p->n);
    if (mlogi_view_lost(&o->views[j], dv[j]) ||
        mlogi_view_lost(&o->views[j], dv[p->n + j]))
      return true;
  }
  return false;
}

void mlogi_opt_on_status(mlog_proc *p, uint32_t src, uint32_t incarnation,
                         const void *payload, size_t len) {
  optimistic *o = p->opt;
  const uint8_t *b = payload;
  uint64_t head[5];
  size_t at = 0, k = 0;
  for (size_t i = 0; i < 5; i++, at += k)
    if ((k = mlogi_varint_get(b + at, len - at, &head[i])) == 0) {
      p->stats.bad_frames++;
      return;
    }
  if (head[4] != incarnation || incarnation > (len - at) ||
      head[2] > UINT32_MAX) {
    p->stats.bad_frames++;
    return;
  }
  mlogi_peerview *pv = &o->views[src];
  if (incarnation > pv->inc) {
    uint64_t *ends = malloc(((size_t)incarnation + 1) * sizeof *ends);
    for (uint32_t i = 0; ends && i < incarnation; i++, at += k)
      if ((k = mlogi_varint_get(b + at, len - at, &ends[i])) == 0) {
        free(ends);
        p->stats.bad_frames++;
        return;
      }
    bool ok = ends && mlogi_view_learn(pv, incarnation, ends);
    free(ends);
    if (!ok)
      return; /* out of memory: its next status tells us again */
    if (p->dlv.n > 0)
      drop_received(p);
    o->orphan = o->orphan || orphaned_by(p, src);
    verify_pending(p);
  }
  if (incarnation == pv->inc && head[1] > pv->stable_rsn)
    pv->stable_rsn = head[1];
  pv->knows_inc = (uint32_t)head[2];
  pv->knows_rsn = head[3];
  /* Answer a request, or a stale peer only while our current status has
   * not gone out to it: one in flight informs it (answering every stale
   * status makes each answer beget another while stability moves). */
  const mlogi_peerview *self = &o->views[p->id];
  if ((head[0] & STATUS_REQUEST) ||
      ((pv->knows_inc < self->inc || pv->knows_rsn < self->stable_rsn) &&
       (pv->sent_inc != self->inc || pv->sent_rsn != self->stable_rsn)))
    mlogi_opt_send_status(p, src, MLOGI_FRAME_ACK, false);
}

void mlogi_opt_settle(mlog_proc *p, uint64_t durable_lsn) {
  optimistic *o = p->opt;
  advance_own(p, durable_lsn);
  advance_committed(p);
  const mlogi_peerview *self = &o->views[p->id];
  uint64_t now = mlogi_now_ms(p);
  for (uint32_t j = 0; j < p->n; j++) {
    mlogi_peerview *pv = &o->views[j];
    if (j == p->id ||
        (pv->knows_inc >= self->inc && pv->knows_rsn >= self->stable_rsn))
      continue;
    /* Stale: tell it what changed, then ask for a confirmation after
     * each timeout. */
    if (pv->sent_inc != self->inc || pv->sent_rsn != self->stable_rsn)
      mlogi_opt_send_status(p, j, MLOGI_FRAME_ACK, false);
    else if (now - pv->status_at >= p->cfg.retransmit_ms)
      mlogi_opt_send_status(p, j, MLOGI_FRAME_ACK, true);
  }
}

bool mlogi_opt_orphan_cut(mlog_proc *p, uint64_t *cut) {
  optimistic *o = p->opt;
  o->orphan = false;
  for (size_t i = 0; i < o->count; i++) { /* the first state that depends
                                              on a lost interval */
    const mlogi_interval *dv = pend_dv(o, i, p->n);
    for (uint32_t j = 0; j < 2 * p->n; j++)
      if (mlogi_view_lost(&o->views[j % p->n], dv[j])) {
        *cut = o->pend[(o->head + i) % o->cap].rsn - 1;
        return true;
      }
  }
  /* None: a committed state is never an orphan, so the current one (the
   * last pending, or the committed one) is not either. */
  return false;
}
