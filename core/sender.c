/* sender.c - sender-based pessimistic logging (Johnson and Zwaenepoel) */
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

/*
 * The receiver logs no message: it delivers at once, gives the delivery
 * the next rsn and sends it back (RSN); the sender records the rsn beside
 * the payload it keeps and acknowledges (RSN_ACK). The receiver sends
 * nothing (and releases no output) that depends on a delivery until every
 * delivery up to it is acknowledged: until then a crash may lose that
 * state, but nobody saw it. The receiver's own log holds only its logged
 * values, marks and spontaneous sends. A sender keeps each message until
 * the receiver's checkpoint covers it (the ordinary ACK).
 *
 * `memory` mode keeps the rsns in the sender's memory and saves them with
 * its checkpoints; `durable` mode commits payload and rsn to the sender's
 * LMDB before acknowledging. A restarted memory-mode sender has lost the
 * rsns of what it sent since its checkpoint: it asks those receivers to
 * checkpoint (HELLO with F_LOST) and, until one has (ACK with F_COVERED),
 * answers that receiver's replay requests as incomplete, which makes its
 * recovery refuse (EGONE) instead of guessing.
 */

int mlogi_sb_open(mlog_proc *p, bool durable) {
  sender_based *sb = calloc(1, sizeof *sb);
  if (sb == NULL || (sb->peers = calloc(p->n, sizeof *sb->peers)) == NULL) {
    free(sb);
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  }
  sb->durable = durable;
  p->sb = sb;
  return MLOG_OK;
}

void mlogi_sb_free(mlog_proc *p) {
  sender_based *sb = p->sb;
  if (sb == NULL)
    return;
  for (uint32_t j = 0; j < p->n; j++)
    free(sb->peers[j].wait);
  free(sb->peers);
  free(sb->acked);
  mlogi_recvec_free(&sb->persist);
  mlogi_recvec_free(&sb->got);
  free(sb->got_index);
  mlogi_recvec_free(&sb->sends);
  mlogi_recvec_free(&sb->stash.values);
  free(sb);
  p->sb = NULL;
}

static void send_small(mlog_proc *p, uint32_t dst, uint8_t kind, uint16_t flags,
                       uint64_t seq, uint64_t value) {
  uint8_t buf[10];
  size_t n = mlogi_varint_put(buf, value);
  mlogi_send_frame(p, dst, kind, flags, seq, buf, (uint32_t)n);
}

/* ------------------------------------------------------------------------ */
/* Receiver: rsns out, acknowledgements in                                  */

/* Is delivery rsn acknowledged? The ring covers logged_rsn+1 .. p->rsn. */
static uint8_t *acked_slot(sender_based *sb, uint64_t rsn) {
  return &sb->acked[rsn % sb->acap];
}

static int grow_ring(mlog_proc *p, uint64_t rsn) {
  sender_based *sb = p->sb;
  if (rsn - sb->logged_rsn < sb->acap)
    return MLOG_OK;
  size_t cap = sb->acap ? 2 * sb->acap : 256;
  while (cap <= rsn - sb->logged_rsn)
    cap *= 2;
  uint8_t *ring = calloc(cap, 1);
  if (ring == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  for (uint64_t r = sb->logged_rsn + 1; sb->acap && r <= p->rsn; r++)
    ring[r % cap] = *acked_slot(sb, r);
  free(sb->acked);
  sb->acked = ring;
  sb->acap = cap;
  return MLOG_OK;
}

static void advance_logged(mlog_proc *p) {
  sender_based *sb = p->sb;
  while (sb->logged_rsn < p->rsn && *acked_slot(sb, sb->logged_rsn + 1)) {
    *acked_slot(sb, sb->logged_rsn + 1) = 0;
    sb->logged_rsn++;
  }
}

int mlogi_sb_delivered(mlog_proc *p, const mlog_record *rec) {
  sender_based *sb = p->sb;
  sbpeer *pe = &sb->peers[rec->src];
  int rc = grow_ring(p, rec->rsn);
  if (rc == MLOG_OK)
    rc = mlogi_grow((void **)&pe->wait, &pe->capwait, pe->nwait + 1,
                    sizeof *pe->wait);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  *acked_slot(sb, rec->rsn) = 0;
  pe->wait[pe->nwait++] =
      (rsnwait){.ssn = rec->ssn, .rsn = rec->rsn, .sent_at = mlogi_now_ms(p)};
  send_small(p, rec->src, MLOGI_FRAME_RSN, 0, rec->ssn, rec->rsn);
  return MLOG_OK;
}

/* The sender recorded rsn for its message ssn (an acknowledgement names
 * both: one of an rsn given before a restart must not count for the rsn the
 * same message got since). */
static void on_rsn_ack(mlog_proc *p, uint32_t src, uint64_t ssn, uint64_t rsn) {
  sender_based *sb = p->sb;
  sbpeer *pe = &sb->peers[src];
  for (size_t i = 0; i < pe->nwait; i++) {
    if (pe->wait[i].ssn != ssn || pe->wait[i].rsn != rsn)
      continue;
    if (pe->wait[i].rsn > sb->logged_rsn)
      *acked_slot(sb, pe->wait[i].rsn) = 1;
    pe->wait[i] = pe->wait[--pe->nwait];
    advance_logged(p);
    return;
  }
}

void mlogi_sb_checkpointed(mlog_proc *p) {
  sender_based *sb = p->sb;
  for (uint32_t j = 0; j < p->n; j++) {
    sbpeer *pe = &sb->peers[j];
    pe->nwait = 0; /* the checkpoint holds what the rsns described */
    p->ch[j].logged_mark = p->ch[j].recv_mark;
    if (pe->ckpt_asked) {
      mlogi_send_frame(p, j, MLOGI_FRAME_ACK, MLOGI_FRAME_F_COVERED,
                       p->ch[j].logged_mark, NULL, 0);
      p->ch[j].ack_sent = p->ch[j].logged_mark;
      pe->ckpt_asked = false;
    }
  }
  sb->logged_rsn = p->rsn;
  sb->want_ckpt = false;
}

/* ------------------------------------------------------------------------ */
/* Sender: record rsns, answer replays                                      */

/* The outbox is in ssn order and RSNs come back in ssn order: start from
 * the message the last one named, not from the head (the outbox holds
 * everything since the receiver's last checkpoint). */
static outmsg *find_sent(mlog_proc *p, uint32_t dst, uint64_t ssn) {
  channel *ch = &p->ch[dst];
  outmsg *m =
      ch->rsn_hint && ch->rsn_hint->ssn <= ssn ? ch->rsn_hint : ch->out_head;
  for (; m && m->ssn <= ssn; m = m->next)
    if (m->ssn == ssn)
      return ch->rsn_hint = m;
  return NULL;
}

static int on_rsn(mlog_proc *p, const mlogi_frame *f) {
  uint64_t rsn;
  if (mlogi_varint_get(f->payload, f->payload_len, &rsn) == 0 || rsn == 0) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  outmsg *m = find_sent(p, f->src, f->seq);
  if (m == NULL) {
    if (f->seq <= p->ch[f->src].acked) /* covered by its checkpoint */
      send_small(p, f->src, MLOGI_FRAME_RSN_ACK, 0, f->seq, rsn);
    return MLOG_OK; /* not regenerated yet: it asks again */
  }
  if (m->rsn != 0 && f->incarnation < m->rsn_inc)
    return MLOG_OK; /* from an older incarnation of the receiver */
  bool changed = m->rsn != rsn || m->rsn_inc != f->incarnation;
  m->rsn = rsn;
  m->rsn_inc = f->incarnation;
  if (!p->sb->durable || !changed) {
    send_small(p, f->src, MLOGI_FRAME_RSN_ACK, 0, f->seq, rsn);
    return MLOG_OK;
  }
  mlog_record rec = {.type = MLOG_REC_PAYLOAD,
                     .flags = (uint8_t)m->flags,
                     .src = p->id,
                     .dst = f->src,
                     .incarnation = m->rsn_inc,
                     .ssn = m->ssn,
                     .rsn = m->rsn,
                     .payload = m->data,
                     .payload_len = m->len};
  int rc = mlogi_recvec_add(&p->sb->persist, &rec);
  return rc ? mlogi_fail(&p->eb, rc, "out of memory") : MLOG_OK;
}

int mlogi_sb_persist(mlog_proc *p) {
  recvec *v = &p->sb->persist;
  if (v->n == 0)
    return MLOG_OK;
  mlogi_recvec_fix(v);
  int rc = mlog_log_put_sent(p->log, v->recs, v->n);
  /* The log runs with lazy meta flushes (MDB_NOMETASYNC): an OS crash may
   * undo that commit until the meta page is flushed, and the RSN_ACKs let
   * the receivers send what depends on these rsns. */
  if (rc == MLOG_OK)
    rc = mlog_log_sync(p->log);
  if (rc != MLOG_OK) {
    p->broken = true;
    return mlogi_fail(&p->eb, rc, "keeping sent messages: %s",
                      mlog_log_errmsg(p->log));
  }
  for (size_t i = 0; i < v->n; i++)
    send_small(p, v->recs[i].dst, MLOGI_FRAME_RSN_ACK, 0, v->recs[i].ssn,
               v->recs[i].rsn);
  mlogi_recvec_clear(v);
  return MLOG_OK;
}

/* The runs of consecutive ssns of an answer, for its REPLAY_END: varints
 * request, number of runs, then first and last ssn of each. */
typedef struct runs {
  uint8_t *buf;
  size_t len, cap;
  uint64_t count, first, last;
  bool failed;
} runs;

static void runs_put(runs *r, uint64_t v) {
  if (r->len + 10 > r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 64;
    uint8_t *b = realloc(r->buf, cap);
    if (b == NULL) {
      r->failed = true;
      return;
    }
    r->buf = b;
    r->cap = cap;
  }
  r->len += mlogi_varint_put(r->buf + r->len, v);
}

static void runs_add(runs *r, uint64_t ssn) {
  if (r->count > 0 && ssn == r->last + 1) {
    r->last = ssn;
    return;
  }
  if (r->count > 0) {
    runs_put(r, r->first);
    runs_put(r, r->last);
  }
  r->first = r->last = ssn;
  r->count++;
}

/* A recovering receiver asks (request `req`) for what we keep for it after
 * ssn `after`: the messages that left, in ssn order, then which they were
 * (their runs of ssns). */
static void answer_replay(mlog_proc *p, uint32_t dst, uint64_t after,
                          uint64_t req) {
  runs body = {0};
  for (outmsg *m = p->ch[dst].out_head; m; m = m->next) {
    if (!m->sent || m->ssn <= after)
      continue;
    uint8_t small[256], head[30];
    size_t k = mlogi_varint_put(head, m->rsn);
    k += mlogi_varint_put(head + k, m->rsn_inc);
    k += mlogi_varint_put(head + k, req);
    uint8_t *buf = k + m->len <= sizeof small ? small : malloc(k + m->len);
    if (buf == NULL)
      continue; /* it asks again when the count falls short */
    memcpy(buf, head, k);
    memcpy(buf + k, m->data, m->len);
    mlogi_send_frame(p, dst, MLOGI_FRAME_DATA, MLOGI_FRAME_F_RSN, m->ssn, buf,
                     (uint32_t)(k + m->len));
    if (buf != small)
      free(buf);
    runs_add(&body, m->ssn);
  }
  if (body.count > 0) {
    runs_put(&body, body.first);
    runs_put(&body, body.last);
  }
  uint8_t *end = malloc(20 + body.len);
  if (end != NULL && !body.failed) { /* else it asks again */
    size_t n = mlogi_varint_put(end, req);
    n += mlogi_varint_put(end + n, body.count);
    if (body.len)
      memcpy(end + n, body.buf, body.len);
    mlogi_send_frame(p, dst, MLOGI_FRAME_REPLAY_END,
                     p->sb->peers[dst].lost ? MLOGI_FRAME_F_INCOMPLETE : 0,
                     body.count, end, (uint32_t)(n + body.len));
  }
  free(body.buf);
  free(end);
}

/* ------------------------------------------------------------------------ */
/* Recovering receiver: collect the answers                                 */

static size_t answer_slot(uint32_t src, uint64_t ssn, size_t cap) {
  uint64_t h = (ssn ^ (uint64_t)src << 40) * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

/* The slot of (src, ssn) in the index: its answer's, or the empty one
 * where it would go. */
static size_t *index_find(sender_based *sb, uint32_t src, uint64_t ssn) {
  size_t cap = sb->got_index_cap;
  for (size_t k = answer_slot(src, ssn, cap);; k = (k + 1) & (cap - 1)) {
    size_t *slot = &sb->got_index[k];
    if (*slot == 0 || (sb->got.recs[*slot - 1].src == src &&
                       sb->got.recs[*slot - 1].ssn == ssn))
      return slot;
  }
}

/* The answer already taken for (src, ssn), or NULL. Answers to repeated
 * requests overlap (a peer that restarted meanwhile may even answer less:
 * what it has not regenerated yet): the newest rsn wins, the payload is
 * the same. Only the frames of the latest request count towards its end. */
static mlog_record *answer_for(sender_based *sb, uint32_t src, uint64_t ssn) {
  if (sb->got_index_cap == 0)
    return NULL;
  size_t *slot = index_find(sb, src, ssn);
  return *slot ? &sb->got.recs[*slot - 1] : NULL;
}

/* Index the newest answer, got.recs[got.n - 1] (the index stays at most
 * half full: doubled and rebuilt when it would not). */
static int index_answer(sender_based *sb) {
  if (2 * sb->got.n > sb->got_index_cap) {
    size_t cap = sb->got_index_cap ? 2 * sb->got_index_cap : 256;
    size_t *grown = calloc(cap, sizeof *grown);
    if (grown == NULL)
      return MLOG_ENOMEM;
    free(sb->got_index);
    sb->got_index = grown;
    sb->got_index_cap = cap;
    for (size_t i = 0; i + 1 < sb->got.n; i++)
      *index_find(sb, sb->got.recs[i].src, sb->got.recs[i].ssn) = i + 1;
  }
  const mlog_record *rec = &sb->got.recs[sb->got.n - 1];
  *index_find(sb, rec->src, rec->ssn) = sb->got.n;
  return MLOG_OK;
}

/* Ask again after a timeout that doubles (answers may take longer than
 * one), up to 8 retransmit timeouts. */
static void ask_replay(mlog_proc *p, uint32_t j) {
  sbpeer *pe = &p->sb->peers[j];
  uint64_t rto = p->cfg.retransmit_ms;
  pe->ask_every = pe->ask_every == 0        ? rto
                  : pe->ask_every < 8 * rto ? 2 * pe->ask_every
                                            : pe->ask_every;
  pe->asked_at = mlogi_now_ms(p);
  pe->req++;
  uint8_t req[10];
  size_t n = mlogi_varint_put(req, pe->req);
  mlogi_send_frame(p, j, MLOGI_FRAME_HELLO,
                   MLOGI_FRAME_F_REPLAY | (pe->lost ? MLOGI_FRAME_F_LOST : 0),
                   p->ch[j].recv_mark, req, (uint32_t)n);
}

/* Varints at the start of a payload; false when malformed. */
static bool get_varints(const mlogi_frame *f, uint64_t *v, size_t n,
                        size_t *used) {
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k = mlogi_varint_get((const uint8_t *)f->payload + at,
                                f->payload_len - at, &v[i]);
    if (k == 0)
      return false;
    at += k;
  }
  *used = at;
  return true;
}

static int on_replayed(mlog_proc *p, const mlogi_frame *f) {
  sender_based *sb = p->sb;
  sbpeer *pe = &sb->peers[f->src];
  uint64_t v[3]; /* rsn, incarnation, request */
  size_t used;
  if (!get_varints(f, v, 3, &used) || v[1] > UINT32_MAX) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  if (!sb->recovering || pe->replied || f->seq <= p->ch[f->src].recv_mark)
    return MLOG_OK;
  mlog_record *had = answer_for(sb, f->src, f->seq);
  if (had) { /* what a sender records only moves forward: a late copy of
                an older answer must not take an rsn back */
    if (v[0] != 0 && (had->rsn == 0 || (uint32_t)v[1] >= had->incarnation)) {
      had->rsn = v[0];
      had->incarnation = (uint32_t)v[1];
    }
    return MLOG_OK;
  }
  mlog_record rec = {.type = MLOG_REC_DELIVERY,
                     .src = f->src,
                     .dst = p->id,
                     .incarnation = (uint32_t)v[1],
                     .ssn = f->seq,
                     .rsn = v[0],
                     .payload = (const uint8_t *)f->payload + used,
                     .payload_len = f->payload_len - (uint32_t)used};
  int rc = mlogi_recvec_add(&sb->got, &rec);
  if (rc == MLOG_OK)
    rc = index_answer(sb);
  return rc ? mlogi_fail(&p->eb, rc, "out of memory") : MLOG_OK;
}

static int on_replay_end(mlog_proc *p, const mlogi_frame *f) {
  sender_based *sb = p->sb;
  sbpeer *pe = &sb->peers[f->src];
  uint64_t head[2]; /* request, runs */
  size_t used;
  if (!get_varints(f, head, 2, &used) || head[1] != f->seq) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  if (!sb->recovering || pe->replied || head[0] != pe->req)
    return MLOG_OK;
  /* Complete once every message of the answer is here, from this answer
   * or from earlier ones (lost frames come with the next request). */
  const uint8_t *b = (const uint8_t *)f->payload + used;
  size_t left = f->payload_len - used;
  for (uint64_t r = 0; r < head[1]; r++) {
    uint64_t first, last;
    size_t k1 = mlogi_varint_get(b, left, &first), k2 = 0;
    if (k1)
      k2 = mlogi_varint_get(b + k1, left - k1, &last);
    if (k1 == 0 || k2 == 0 || last < first || last - first > UINT32_MAX) {
      p->stats.bad_frames++;
      return MLOG_OK;
    }
    b += k1 + k2;
    left -= k1 + k2;
    if (first <= p->ch[f->src].recv_mark) /* untrusted: bound the loop */
      first = p->ch[f->src].recv_mark + 1;
    for (uint64_t ssn = first; ssn <= last && ssn != 0; ssn++)
      if (ssn > p->ch[f->src].recv_mark && !answer_for(sb, f->src, ssn))
        return MLOG_OK; /* the timeout asks again */
  }
  pe->replied = true;
  pe->incomplete = (f->flags & MLOGI_FRAME_F_INCOMPLETE) != 0;
  for (uint32_t j = 0; j < p->n; j++)
    if (j != p->id && !sb->peers[j].replied)
      return MLOG_OK;
  return mlogi_sb_finish_recovery(p);
}

int mlogi_sb_on_frame(mlog_proc *p, const void *frame) {
  const mlogi_frame *f = frame;
  sbpeer *pe = &p->sb->peers[f->src];
  switch (f->kind) {
  case MLOGI_FRAME_RSN:
    return on_rsn(p, f);
  case MLOGI_FRAME_RSN_ACK: {
    uint64_t rsn;
    size_t used;
    if (get_varints(f, &rsn, 1, &used))
      on_rsn_ack(p, f->src, f->seq, rsn);
    else
      p->stats.bad_frames++;
    return MLOG_OK;
  }
  case MLOGI_FRAME_REPLAY_END:
    return on_replay_end(p, f);
  case MLOGI_FRAME_DATA:
    return on_replayed(p, f);
  case MLOGI_FRAME_ACK:
    if (f->flags & MLOGI_FRAME_F_COVERED)
      pe->lost = false;
    return MLOG_OK;
  default: /* HELLO */
    if (f->flags & MLOGI_FRAME_F_LOST) {
      pe->ckpt_asked = true;
      p->sb->want_ckpt = true;
    }
    uint64_t req;
    size_t used;
    if ((f->flags & MLOGI_FRAME_F_REPLAY) && get_varints(f, &req, 1, &used))
      answer_replay(p, f->src, f->seq, req);
    return MLOG_OK;
  }
}

void mlogi_sb_hello(mlog_proc *p, uint32_t dst) {
  sender_based *sb = p->sb;
  if (sb->recovering) {
    ask_replay(p, dst);
    return;
  }
  sbpeer *pe = &sb->peers[dst];
  if (pe->lost)
    pe->lost_asked_at = mlogi_now_ms(p);
  mlogi_send_frame(p, dst, MLOGI_FRAME_HELLO, pe->lost ? MLOGI_FRAME_F_LOST : 0,
                   p->ch[dst].logged_mark, NULL, 0);
}

void mlogi_sb_settle(mlog_proc *p) {
  sender_based *sb = p->sb;
  uint64_t now = mlogi_now_ms(p), rto = p->cfg.retransmit_ms;
  for (uint32_t j = 0; j < p->n; j++) {
    if (j == p->id)
      continue;
    sbpeer *pe = &sb->peers[j];
    for (size_t i = 0; i < pe->nwait; i++)
      if (now - pe->wait[i].sent_at >= rto) {
        send_small(p, j, MLOGI_FRAME_RSN, 0, pe->wait[i].ssn, pe->wait[i].rsn);
        pe->wait[i].sent_at = now;
      }
    if (sb->recovering && !pe->replied && now - pe->asked_at >= pe->ask_every)
      ask_replay(p, j);
    else if (!sb->recovering && pe->lost && now - pe->lost_asked_at >= rto)
      mlogi_sb_hello(p, j);
  }
}
