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
 */

/* ------------------------------------------------------------------------ */
/* Frames                                                                   */

static void send_frame(mlog_proc *p, uint32_t dst, uint8_t kind, uint64_t seq,
                       const void *payload, uint32_t len) {
  mlogi_frame f = {.kind = kind,
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

static void transmit(mlog_proc *p, uint32_t dst, outmsg *m) {
  if (m->sent)
    p->stats.resent++;
  send_frame(p, dst, MLOGI_FRAME_DATA, m->ssn, m->data, m->len);
  m->sent = true;
  m->sent_at = mlogi_now_ms(p);
}

/* Drop the messages the peer has logged. */
static void prune_outbox(channel *ch) {
  while (ch->out_head && ch->out_head->ssn <= ch->acked) {
    outmsg *m = ch->out_head;
    ch->out_head = m->next;
    free(m);
  }
  if (ch->out_head == NULL)
    ch->out_tail = NULL;
}

int mlogi_outbox_push(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len) {
  outmsg *m = malloc(sizeof *m + len);
  if (m == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a send");
  *m = (outmsg){.ssn = ssn,
                .needs_lsn = p->pending_values ? MLOGI_AFTER_NEXT_APPEND : 0,
                .len = (uint32_t)len};
  memcpy(m->data, msg, len);
  channel *ch = &p->ch[dst];
  if (ch->out_tail)
    ch->out_tail->next = m;
  else
    ch->out_head = m;
  ch->out_tail = m;
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */

static int on_data(mlog_proc *p, const mlogi_frame *f) {
  channel *ch = &p->ch[f->src];
  if (f->seq <= ch->recv_mark) {
    p->stats.duplicates++;
    if (ch->logged_mark >= f->seq) /* it may have lost our ack */
      send_frame(p, f->src, MLOGI_FRAME_ACK, ch->logged_mark, NULL, 0);
    return MLOG_OK;
  }
  if (f->seq != ch->recv_mark + 1)
    return MLOG_OK; /* a gap: an earlier frame was lost, resends fill it */
  mlog_record rec = {.type = MLOG_REC_DELIVERY,
                     .src = f->src,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .ssn = f->seq,
                     .rsn = p->next_rsn + 1,
                     .payload = f->payload,
                     .payload_len = f->payload_len};
  int rc = mlogi_recvec_add(&p->dlv, &rec);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "out of memory for a received message");
  ch->recv_mark = f->seq;
  p->next_rsn++;
  return MLOG_OK;
}

static void on_ack(mlog_proc *p, const mlogi_frame *f) {
  channel *ch = &p->ch[f->src];
  if (f->seq > ch->acked && f->seq <= ch->send_ssn) {
    ch->acked = f->seq;
    prune_outbox(ch);
  }
}

/* A peer (re)started and has our messages up to f->seq: drop those, send
 * the rest again, and tell it how far we have logged its messages. */
static void on_hello(mlog_proc *p, const mlogi_frame *f) {
  on_ack(p, f);
  channel *ch = &p->ch[f->src];
  for (outmsg *m = ch->out_head; m; m = m->next)
    if (m->sent)
      transmit(p, f->src, m);
  send_frame(p, f->src, MLOGI_FRAME_ACK, ch->logged_mark, NULL, 0);
}

static int on_frame(mlog_proc *p, uint32_t src, const void *buf, size_t len) {
  mlogi_frame f;
  if (mlogi_frame_decode(buf, len, &f) != MLOG_OK || f.src != src ||
      f.dst != p->id || src >= p->n || src == p->id) {
    p->stats.bad_frames++;
    return MLOG_OK; /* never trust the network: drop it */
  }
  switch (f.kind) {
  case MLOGI_FRAME_DATA:
    return on_data(p, &f);
  case MLOGI_FRAME_ACK:
    on_ack(p, &f);
    return MLOG_OK;
  default:
    on_hello(p, &f);
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
    rc = on_frame(p, src, buf, len);
    if (rc != MLOG_OK)
      return rc;
  }
  return MLOG_OK;
}

int mlogi_send_logged(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len) {
  channel *ch = &p->ch[dst];
  ch->send_ssn = ssn;
  if (ssn <= ch->acked)
    return MLOG_OK; /* replay regenerated a send the peer already logged */
  outmsg *prev = ch->out_tail;
  int rc = mlogi_outbox_push(p, dst, ssn, msg, len);
  /* Leave at once unless it must wait (FIFO: behind an unsent one). */
  if (rc == MLOG_OK && ch->out_tail->needs_lsn == 0 && p->replay == NULL &&
      (prev == NULL || prev->sent))
    transmit(p, dst, ch->out_tail);
  return rc;
}

/* Send or resend what may leave and acknowledge what is logged. */
void mlogi_channels_settle(mlog_proc *p, uint64_t durable) {
  uint64_t now = mlogi_now_ms(p), rto = p->cfg.retransmit_ms;
  for (uint32_t j = 0; j < p->n; j++) {
    channel *ch = &p->ch[j];
    for (outmsg *m = ch->out_head; m; m = m->next) {
      if (m->needs_lsn > durable)
        break; /* FIFO: nothing after it may overtake it */
      if (!m->sent || now - m->sent_at >= rto)
        transmit(p, j, m);
    }
    if (ch->logged_mark > ch->ack_sent) {
      send_frame(p, j, MLOGI_FRAME_ACK, ch->logged_mark, NULL, 0);
      ch->ack_sent = ch->logged_mark;
    }
  }
}

/* Announce the (new) incarnation: tell every peer how far its messages are
 * logged here, so that it resends what follows. */
void mlogi_channels_hello(mlog_proc *p) {
  for (uint32_t j = 0; j < p->n; j++) {
    if (j == p->id)
      continue;
    send_frame(p, j, MLOGI_FRAME_HELLO, p->ch[j].logged_mark, NULL, 0);
    p->ch[j].ack_sent = p->ch[j].logged_mark;
  }
}
