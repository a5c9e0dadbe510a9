/* checkpoint.c - what a checkpoint holds: mlog's state and the application's */
#include <stdlib.h>

#include "core/proc.h"

#define STATE_MAGIC 0x54534c4du /* "MLST" */
#define STATE_VERSION 2

/*
 * Layout (little-endian): magic, version, group size (u32 each); rsn,
 * output seq, outputs released (u64 each); the incarnation that created
 * state rsn (u32); the dependency vector (per process u32 incarnation, u64
 * rsn; zeros outside optimistic logging); per peer: send ssn, acked ssn,
 * received ssn (u64 each), unacknowledged sends (u32 count, then u64 ssn,
 * u32 frame flags, u64 rsn and u32 incarnation the receiver gave it
 * (sender-based), u32 len, bytes each); the application's snapshot (u64
 * len, bytes). The incarnation is not in it: the log's metadata is its only
 * source.
 */

static int put32(mlog_buf *b, uint32_t v) {
  uint8_t x[4];
  mlogi_put_le32(x, v);
  return mlog_buf_append(b, x, 4);
}

static int put64(mlog_buf *b, uint64_t v) {
  uint8_t x[8];
  mlogi_put_le64(x, v);
  return mlog_buf_append(b, x, 8);
}

static int encode_channel(mlog_buf *b, const channel *ch) {
  uint32_t count = 0;
  for (const outmsg *m = ch->out_head; m; m = m->next)
    count++;
  int rc = put64(b, ch->send_ssn) | put64(b, ch->acked) |
           put64(b, ch->recv_mark) | put32(b, count);
  for (const outmsg *m = ch->out_head; rc == MLOG_OK && m; m = m->next)
    rc = put64(b, m->ssn) | put32(b, m->flags) | put64(b, m->rsn) |
         put32(b, m->rsn_inc) | put32(b, m->len) |
         mlog_buf_append(b, m->data, m->len);
  return rc ? MLOG_ENOMEM : MLOG_OK;
}

int mlogi_state_encode(mlog_proc *p, mlog_buf *buf) {
  int rc = put32(buf, STATE_MAGIC) | put32(buf, STATE_VERSION) |
           put32(buf, p->n) | put64(buf, p->rsn) | put64(buf, p->output_seq) |
           put64(buf, p->output_logged) | put32(buf, p->interval_inc);
  for (uint32_t j = 0; rc == MLOG_OK && j < p->n; j++) {
    mlogi_interval iv = p->opt ? p->opt->dv[j] : (mlogi_interval){0, 0};
    rc = put32(buf, iv.inc) | put64(buf, iv.rsn);
  }
  for (uint32_t j = 0; rc == MLOG_OK && j < p->n; j++)
    rc = encode_channel(buf, &p->ch[j]);
  size_t at = buf->len;
  if (rc == MLOG_OK)
    rc = put64(buf, 0); /* the snapshot's length, set below */
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a checkpoint");
  if (p->app.snapshot(p->app_arg, buf) != 0)
    return mlogi_fail(&p->eb, MLOG_EAPP, "the snapshot callback failed");
  mlogi_put_le64(buf->data + at, buf->len - at - 8);
  return MLOG_OK;
}

/* A bounds-checked reader over untrusted bytes. */
typedef struct reader {
  const uint8_t *p;
  size_t left;
  bool bad;
} reader;

static const uint8_t *take(reader *r, size_t n) {
  if (r->bad || n > r->left) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *at = r->p;
  r->p += n;
  r->left -= n;
  return at;
}

static uint32_t get32(reader *r) {
  const uint8_t *x = take(r, 4);
  return x ? mlogi_get_le32(x) : 0;
}

static uint64_t get64(reader *r) {
  const uint8_t *x = take(r, 8);
  return x ? mlogi_get_le64(x) : 0;
}

static int restore_channel(mlog_proc *p, uint32_t j, reader *r) {
  channel *ch = &p->ch[j];
  ch->send_ssn = get64(r);
  ch->acked = get64(r);
  ch->recv_mark = ch->logged_mark = ch->ack_sent = get64(r);
  uint32_t count = get32(r);
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    uint64_t ssn = get64(r);
    uint32_t flags = get32(r);
    uint64_t rsn = get64(r);
    uint32_t rsn_inc = get32(r), len = get32(r);
    const uint8_t *data = take(r, len);
    if (flags > UINT16_MAX)
      r->bad = true;
    if (data && !r->bad &&
        mlogi_outbox_push(p, j, ssn, (uint16_t)flags, data, len) != MLOG_OK)
      return MLOG_ENOMEM;
    if (data && !r->bad) {
      ch->out_tail->rsn = rsn;
      ch->out_tail->rsn_inc = rsn_inc;
      /* Sender-based: it left before the checkpoint; a replay answer
       * includes it. */
      ch->out_tail->sent = p->sb != NULL;
    }
  }
  return MLOG_OK;
}

int mlogi_state_restore(mlog_proc *p, const void *buf, size_t len) {
  reader r = {.p = buf, .left = len};
  if (get32(&r) != STATE_MAGIC || get32(&r) != STATE_VERSION ||
      get32(&r) != p->n)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT,
                      "checkpoint state of another version or group size");
  p->rsn = p->next_rsn = p->delivered_rsn = p->marked_rsn = get64(&r);
  p->output_seq = get64(&r);
  p->output_logged = get64(&r);
  p->interval_inc = get32(&r);
  for (uint32_t j = 0; j < p->n && !r.bad; j++) {
    mlogi_interval iv = {get32(&r), 0};
    iv.rsn = get64(&r);
    if (p->opt)
      p->opt->dv[j] = iv;
  }
  if (p->opt) /* only committed states are checkpointed */
    p->opt->committed_rsn = p->rsn;
  for (uint32_t j = 0; j < p->n && !r.bad; j++)
    if (restore_channel(p, j, &r) != MLOG_OK)
      return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  uint64_t app_len = get64(&r);
  const uint8_t *app = take(&r, app_len);
  if (r.bad || r.left != 0)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT, "checkpoint state is malformed");
  if (p->app.restore(p->app_arg, app, app_len) != 0)
    return mlogi_fail(&p->eb, MLOG_EAPP, "the restore callback failed");
  return MLOG_OK;
}
