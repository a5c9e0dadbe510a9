/* delivery.c - reliable delivery over a lossy transport: ssn, resend, dedup */
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

#define MAX_FRAMES_PER_BATCH 1024 /* frames taken into one commit */

/*
 * Every protocol shares it. Each channel numbers its messages (ssn); the
 * sender keeps a message until the receiver acknowledges that it is logged,
 * resends it after a timeout and when the receiver says hello after a
 * restart; the receiver accepts only the next ssn of each channel, so it
 * drops what it already has, across crashes, since its marks are rebuilt
 * from its log.
 *
 * Under none and Koo-Toueg nothing is logged: a message is "logged" once a
 * checkpoint that no rollback drops covers its delivery (stable), and an
 * acknowledgement says besides how far the receiver delivered (received,
 * flag F_RECEIVED). The sender stops resending a received message on
 * timeouts but keeps it, in its outbox and its checkpoints, until it is
 * stable: a rollback of the receiver to before its delivery, with the
 * sender staying after the send, puts it in transit again, and the sender
 * is the only one who still has it.
 */

/* ------------------------------------------------------------------------ */
/* Frames                                                                   */

void mlogi_send_frame(mlog_proc *p, uint32_t dst, uint8_t kind, uint16_t flags,
                      uint64_t seq, const void *payload, uint32_t len) {
  mlogi_frame f = {.kind = kind,
                   .flags = flags,
                   .src = p->id,
                   .dst = dst,
                   .incarnation = p->incarnation,
                   .seq = seq,
                   .payload = payload,
                   .payload_len = len};
  uint8_t small[MLOGI_FRAME_HEADER + 256];
  size_t size = mlogi_frame_size(&f);
  uint8_t *buf = size <= sizeof small ? small : malloc(size);
  if (buf == NULL)
    return; /* a lost frame: the resend timer covers it */
  mlogi_frame_encode(&f, buf);
  p->tp->send(p->tp_self, dst, buf, size);
  if (buf != small)
    free(buf);
}

/* Two acks: our logged (stable) mark in seq, our received mark in the
 * payload. */
static void send_two_marks(mlog_proc *p, uint32_t dst, uint8_t kind) {
  channel *ch = &p->ch[dst];
  uint8_t rcvd[10];
  size_t len = mlogi_varint_put(rcvd, ch->rcvd_mark);
  mlogi_send_frame(p, dst, kind, MLOGI_FRAME_F_RECEIVED, ch->logged_mark, rcvd,
                   (uint32_t)len);
  ch->rcvd_sent = ch->rcvd_mark;
}

/* Acknowledge (ACK) or announce ourselves (HELLO) with our logged mark;
 * under optimistic logging the frame carries our status too, under two
 * acks our received mark. */
static void send_ack(mlog_proc *p, uint32_t dst, uint8_t kind) {
  if (p->opt)
    mlogi_opt_send_status(p, dst, kind, kind == MLOGI_FRAME_HELLO);
  else if (mlogi_two_acks(p))
    send_two_marks(p, dst, kind);
  else
    mlogi_send_frame(p, dst, kind, 0, p->ch[dst].logged_mark, NULL, 0);
  p->ch[dst].ack_sent = p->ch[dst].logged_mark;
}

/* The last ssn of the peer's that we acknowledge having: under two acks,
 * delivered is enough to stop its resends. */
static uint64_t ack_mark(const mlog_proc *p, const channel *ch) {
  return mlogi_two_acks(p) ? ch->rcvd_mark : ch->logged_mark;
}

static void transmit(mlog_proc *p, uint32_t dst, outmsg *m) {
  if (m->sent)
    p->stats.resent++;
  mlogi_send_frame(p, dst, MLOGI_FRAME_DATA, m->flags, m->ssn, m->data, m->len);
  m->sent = true;
  m->sent_at = mlogi_now_ms(p);
}

/* Drop the messages the peer has logged. */
static void prune_outbox(channel *ch) {
  while (ch->out_head && ch->out_head->ssn <= ch->acked) {
    outmsg *m = ch->out_head;
    ch->out_head = m->next;
    if (m == ch->rsn_hint)
      ch->rsn_hint = NULL;
    if (m == ch->rcvd_last)
      ch->rcvd_last = NULL;
    free(m);
  }
  if (ch->out_head == NULL)
    ch->out_tail = NULL;
}

int mlogi_outbox_push(mlog_proc *p, uint32_t dst, uint64_t ssn, uint16_t flags,
                      const void *data, size_t len) {
  outmsg *m = malloc(sizeof *m + len);
  if (m == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a send");
  *m = (outmsg){.ssn = ssn,
                .needs_lsn = p->pending_values ? MLOGI_AFTER_NEXT_APPEND : 0,
                .needs_rsn = p->rsn,
                .flags = flags,
                .len = (uint32_t)len};
  if (len)
    memcpy(m->data, data, len);
  mlogi_outbox_insert(&p->ch[dst], m);
  return MLOG_OK;
}

void mlogi_outbox_insert(channel *ch, outmsg *m) {
  outmsg **at = &ch->out_head;
  if (ch->out_tail && ch->out_tail->ssn < m->ssn)
    at = &ch->out_tail->next; /* the usual case: the newest */
  while (*at && (*at)->ssn < m->ssn)
    at = &(*at)->next;
  m->next = *at;
  *at = m;
  if (m->next == NULL)
    ch->out_tail = m;
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */

/* Under optimistic logging: may this message be taken? */
static bool admit(mlog_proc *p, const mlogi_frame *f) {
  if (p->opt == NULL)
    return f->flags == 0;
  if (f->flags != MLOGI_FRAME_F_DV) {
    p->stats.bad_frames++;
    return false;
  }
  switch (
      mlogi_opt_admit(p, f->src, f->incarnation, f->payload, f->payload_len)) {
  case MLOGI_ACCEPT:
    return true;
  case MLOGI_HOLD:
    p->stats.held++;
    return false;
  case MLOGI_ORPHAN:
    p->stats.orphans_discarded++;
    return false;
  default:
    p->stats.bad_frames++;
    return false;
  }
}

static int on_data(mlog_proc *p, const mlogi_frame *f) {
  channel *ch = &p->ch[f->src];
  if (p->sb && (p->sb->recovering || f->flags != 0))
    return f->flags == MLOGI_FRAME_F_RSN ? mlogi_sb_on_frame(p, f) : MLOG_OK;
  if (f->seq <= ch->recv_mark) {
    p->stats.duplicates++;
    if (ack_mark(p, ch) >= f->seq) /* it may have lost our ack */
      send_ack(p, f->src, MLOGI_FRAME_ACK);
    return MLOG_OK;
  }
  if (f->seq != ch->recv_mark + 1)
    return MLOG_OK; /* a gap: an earlier frame was lost, resends fill it */
  if (p->grp && p->grp->snap && (f->flags & MLOGI_FRAME_F_MARKER)) {
    if (mlogi_snap_on_marker(p, f->src, f->seq, f->payload, f->payload_len)) {
      p->stats.bad_frames++;
      return MLOG_OK;
    }
    ch->recv_mark = f->seq; /* taken once the deliveries before it ran */
    return MLOG_OK;
  }
  if (!admit(p, f))
    return MLOG_OK;
  mlog_record rec = {.type = MLOG_REC_DELIVERY,
                     .flags = p->opt ? MLOGI_DLV_DV : 0,
                     .src = f->src,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .ssn = f->seq,
                     .rsn = p->next_rsn + 1,
                     .payload = f->payload,
                     .payload_len = f->payload_len};
  int rc = mlogi_recvec_add(&p->dlv, &rec);
  /* Coordinated: a message taken before the channel's marker of a snapshot
   * recorded here is in that snapshot's channel state. */
  if (rc == MLOG_OK && p->grp && p->grp->snap &&
      mlogi_snap_recording(p, f->src))
    rc = mlogi_recvec_add(&p->grp->snap->channel, &rec);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "out of memory for a received message");
  ch->recv_mark = f->seq;
  p->next_rsn++;
  if (p->sb && p->sb->got.n > 0) /* replay answers that waited for it */
    return mlogi_sb_deliver_answers(p);
  return MLOG_OK;
}

/* Two acks: move rcvd_last to the newest kept message at or below
 * rcvd_acked (amortized O(1): it only moves forward, and from the head
 * after a prune freed it). */
static void note_received(channel *ch) {
  outmsg *m = ch->rcvd_last ? ch->rcvd_last : ch->out_head;
  if (m == NULL || m->ssn > ch->rcvd_acked)
    return;
  while (m->next && m->next->ssn <= ch->rcvd_acked)
    m = m->next;
  ch->rcvd_last = m;
}

/* seq: the peer logged our messages up to it (drop them); rcvd (two acks,
 * else 0): it delivered them up to it (stop resending them). */
static void on_ack(mlog_proc *p, const mlogi_frame *f, uint64_t rcvd) {
  channel *ch = &p->ch[f->src];
  if (rcvd > ch->rcvd_acked && rcvd <= ch->send_ssn)
    ch->rcvd_acked = rcvd;
  if (f->seq > ch->acked && f->seq <= ch->send_ssn) {
    ch->acked = f->seq;
    prune_outbox(ch);
    /* Sender-based, durable: its checkpoint covers them, drop them (a
     * failed drop leaves them to the next one, which covers them too). */
    if (p->sb && p->sb->durable) {
      int rc = mlog_log_drop_sent(p->log, f->src, f->seq);
      (void)rc;
    }
  }
  note_received(ch);
}

/* A peer (re)started and has our messages up to f->seq: drop those, send
 * the rest again, and tell it how far we have logged its messages. */
static void on_hello(mlog_proc *p, const mlogi_frame *f, uint64_t rcvd) {
  on_ack(p, f, rcvd);
  channel *ch = &p->ch[f->src];
  bool answered = p->sb && (f->flags & MLOGI_FRAME_F_REPLAY);
  for (outmsg *m = ch->out_head; m && !answered; m = m->next)
    if (m->sent)
      transmit(p, f->src, m);
  if (p->opt == NULL) /* a status answered its hello already */
    send_ack(p, f->src, MLOGI_FRAME_ACK);
}

/* The received mark of an ACK or HELLO in *rcvd (0 when it has none).
 * Under two acks these frames carry exactly F_RECEIVED and one varint not
 * below seq (nothing is stable that was not delivered); elsewhere never
 * F_RECEIVED. False for a frame that breaks the rule. */
static bool received_mark(const mlog_proc *p, const mlogi_frame *f,
                          uint64_t *rcvd) {
  *rcvd = 0;
  if (f->kind != MLOGI_FRAME_ACK && f->kind != MLOGI_FRAME_HELLO)
    return true;
  if (!mlogi_two_acks(p))
    return (f->flags & MLOGI_FRAME_F_RECEIVED) == 0;
  return f->flags == MLOGI_FRAME_F_RECEIVED &&
         mlogi_varint_only(f->payload, f->payload_len, rcvd) && *rcvd >= f->seq;
}

int mlogi_take_frame(mlog_proc *p, uint32_t src, const void *buf, size_t len) {
  mlogi_frame f;
  if (mlogi_frame_decode(buf, len, &f) != MLOG_OK || f.src != src ||
      f.dst != p->id || src >= p->n || src == p->id) {
    p->stats.bad_frames++;
    return MLOG_OK; /* never trust the network: drop it */
  }
  if (f.kind == MLOGI_FRAME_DATA && p->opt && p->opt->hold_since)
    return mlogi_opt_hold_frame(p, src, buf, len);
  if (f.kind >= MLOGI_FRAME_SNAP_DONE) {
    if (p->grp)
      return mlogi_grp_on_frame(p, &f);
    p->stats.bad_frames++; /* a checkpoint-only protocol's frame */
    return MLOG_OK;
  }
  if (p->grp && !mlogi_grp_admit(p, &f))
    return MLOG_OK; /* another round, or frozen: resent later */
  if (f.kind != MLOGI_FRAME_DATA && p->opt) {
    if (f.flags != MLOGI_FRAME_F_STATUS) {
      p->stats.bad_frames++;
      return MLOG_OK;
    }
    mlogi_opt_on_status(p, src, f.incarnation, f.payload, f.payload_len);
  }
  uint64_t rcvd;
  if (!received_mark(p, &f, &rcvd)) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  if (p->sb && f.kind != MLOGI_FRAME_DATA) {
    int rc = mlogi_sb_on_frame(p, &f);
    if (rc != MLOG_OK || f.kind > MLOGI_FRAME_HELLO)
      return rc;
  } else if (f.kind > MLOGI_FRAME_HELLO) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  switch (f.kind) {
  case MLOGI_FRAME_DATA:
    return on_data(p, &f);
  case MLOGI_FRAME_ACK:
    on_ack(p, &f, rcvd);
    return MLOG_OK;
  default:
    on_hello(p, &f, rcvd);
    return MLOG_OK;
  }
}

/* Take what has arrived, waiting at most timeout_ms for the first frame. */
int mlogi_receive(mlog_proc *p, int timeout_ms, size_t *frames) {
  *frames = 0;
  while (*frames < MAX_FRAMES_PER_BATCH) {
    uint32_t src;
    const void *buf;
    size_t len;
    int rc =
        p->tp->recv(p->tp_self, *frames ? 0 : timeout_ms, &src, &buf, &len);
    if (rc == MLOG_EAGAIN)
      return MLOG_OK;
    if (rc != MLOG_OK)
      return mlogi_fail(&p->eb, rc, "transport receive: %s", mlog_strerror(rc));
    (*frames)++;
    rc = mlogi_take_frame(p, src, buf, len);
    if (rc != MLOG_OK)
      return rc;
    if (p->grp && p->grp->snap && p->grp->snap->marker)
      return MLOG_OK; /* the state is recorded before anything after it */
  }
  return MLOG_OK;
}

/* May m leave, the log being durable up to `durable`? (Sender-based: and
 * once the deliveries before its send have their rsns recorded.) */
static bool may_leave(const mlog_proc *p, const outmsg *m, uint64_t durable) {
  return m->needs_lsn <= durable &&
         (p->sb == NULL || m->needs_rsn <= p->sb->logged_rsn);
}

/* Does the outbox hold ssn already (kept from a sender log)? */
static bool kept(const channel *ch, uint64_t ssn) {
  if (ch->out_tail == NULL || ch->out_tail->ssn < ssn)
    return false;
  for (const outmsg *m = ch->out_head; m && m->ssn <= ssn; m = m->next)
    if (m->ssn == ssn)
      return true;
  return false;
}

int mlogi_send_logged(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len) {
  channel *ch = &p->ch[dst];
  uint64_t before = ch->send_ssn;
  ch->send_ssn = ssn;
  if (ssn <= ch->acked || kept(ch, ssn))
    return MLOG_OK; /* replay regenerated a send the peer logged, or one
                       the sender log kept */
  outmsg *prev = ch->out_tail;
  bool newest = prev == NULL || prev->ssn < ssn;
  int rc;
  if (p->opt) {
    uint8_t *data;
    size_t n;
    rc = mlogi_opt_wrap(p, msg, len, &data, &n);
    if (rc == MLOG_OK) {
      rc = mlogi_outbox_push(p, dst, ssn, MLOGI_FRAME_F_DV, data, n);
      free(data);
    }
  } else {
    rc = mlogi_outbox_push(p, dst, ssn, 0, msg, len);
  }
  if (rc != MLOG_OK) {
    ch->send_ssn = before; /* no message, no ssn: the channel has no gap */
    return rc;
  }
  /* Leave at once unless it must wait (FIFO: behind an unsent one; one
   * placed among kept messages leaves with the next settle). */
  if (rc == MLOG_OK && newest && may_leave(p, ch->out_tail, 0) &&
      p->replay == NULL && (prev == NULL || prev->sent) &&
      !mlogi_kt_holding(p) && !(p->grp && p->grp->frozen))
    transmit(p, dst, ch->out_tail);
  return rc;
}

/* Send or resend what may leave and acknowledge what is logged. */
void mlogi_channels_settle(mlog_proc *p, uint64_t durable) {
  uint64_t now = mlogi_now_ms(p), rto = p->cfg.retransmit_ms;
  bool hold = mlogi_kt_holding(p); /* between tentative and decision */
  for (uint32_t j = 0; j < p->n; j++) {
    channel *ch = &p->ch[j];
    /* Two acks: the peer delivered the messages up to rcvd_last in this
     * round (frames of others are dropped), so none of them leaves again;
     * they stay only until stable. */
    outmsg *first = ch->rcvd_last ? ch->rcvd_last->next : ch->out_head;
    bool go_back = false;
    for (outmsg *m = first; m && !hold; m = m->next) {
      if (!may_leave(p, m, durable))
        break; /* FIFO: nothing after it may overtake it */
      /* A message with an rsn (sender-based) or acknowledged as received
       * (two acks) has been delivered: no timeout resends it. */
      bool delivered = m->rsn != 0 || m->ssn <= ch->rcvd_acked;
      /* Go back N: once one times out, the ones sent after it go again at
       * once, behind it. The receiver takes only the next ssn, so it
       * dropped them; each waiting for its own timeout would let every
       * newer send arrive after a gap, and be dropped, too. */
      bool timed_out = now - m->sent_at >= rto || go_back;
      if (!m->sent || (timed_out && !delivered)) {
        go_back = go_back || m->sent;
        transmit(p, j, m);
      }
    }
    if (ch->logged_mark > ch->ack_sent || ch->rcvd_mark > ch->rcvd_sent)
      send_ack(p, j, MLOGI_FRAME_ACK);
  }
}

void mlogi_channels_stable(mlog_proc *p, const uint64_t *received) {
  for (uint32_t j = 0; j < p->n; j++) {
    channel *ch = &p->ch[j];
    uint64_t s = received ? received[j] : ch->recv_mark;
    if (s > ch->rcvd_mark) /* never ahead of the deliveries (the frame's
                              rule); a checkpoint comes after them */
      s = ch->rcvd_mark;
    if (s > ch->logged_mark)
      ch->logged_mark = s;
  }
}

void mlogi_channels_rolled_back(mlog_proc *p) {
  for (uint32_t j = 0; j < p->n; j++) {
    p->ch[j].rcvd_acked = p->ch[j].acked; /* nothing at or below is kept */
    p->ch[j].rcvd_last = NULL;
    p->ch[j].rcvd_sent = 0;
  }
}

/* Announce the (new) incarnation: tell every peer how far its messages are
 * logged here, so that it resends what follows. */
void mlogi_channels_hello(mlog_proc *p) {
  for (uint32_t j = 0; j < p->n; j++) {
    if (j == p->id)
      continue;
    if (p->grp && p->grp->restarted)
      continue; /* its rollback round speaks for it */
    if (p->sb) {
      mlogi_sb_hello(p, j);
      p->ch[j].ack_sent = p->ch[j].logged_mark;
    } else {
      send_ack(p, j, MLOGI_FRAME_HELLO);
    }
  }
}
