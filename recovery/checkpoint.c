/* checkpoint.c - what a checkpoint holds: mlog's state and the application's */
#include <stdlib.h>

#include "core/proc.h"

#define STATE_MAGIC 0x54534c4du /* "MLST" */
#define STATE_VERSION 3

/*
 * Layout (little-endian): magic, version, group size (u32 each); rsn,
 * output seq, outputs released (u64 each); the incarnation that created
 * state rsn (u32); the Chandy-Lamport snapshot it is (u64, since version
 * 3; 0 outside the coordinated protocol); the dependency vector (per process
 * u32 incarnation, u64 rsn; zeros outside optimistic logging); per peer: send
 * ssn, acked ssn, received ssn (u64 each), the sends still kept (not
 * acknowledged as logged; none and Koo-Toueg: not yet stable) (u32 count,
 * then u64 ssn, u32 frame flags, u64 rsn and u32 incarnation the receiver gave
 * it (sender-based), u32 len, bytes each); the application's snapshot (u64 len,
 * bytes). The incarnation is not in it: the log's metadata is its only source.
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
           put64(buf, p->output_logged) | put32(buf, p->interval_inc) |
           put64(buf, p->snapshot);
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

/* Parse one channel; with p, rebuild its outbox too. */
static int parse_channel(mlog_proc *p, uint32_t j, reader *r,
                         mlogi_chan_counts *c) {
  c->sent = get64(r);
  c->acked = get64(r);
  c->received = get64(r);
  c->first_kept = c->sent + 1;
  uint32_t count = get32(r);
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    uint64_t ssn = get64(r);
    uint32_t flags = get32(r);
    uint64_t rsn = get64(r);
    uint32_t rsn_inc = get32(r), len = get32(r);
    const uint8_t *data = take(r, len);
    if (flags > UINT16_MAX)
      r->bad = true;
    if (data == NULL || r->bad)
      break;
    if (i == 0)
      c->first_kept = ssn;
    if (p == NULL)
      continue;
    if (mlogi_outbox_push(p, j, ssn, (uint16_t)flags, data, len) != MLOG_OK)
      return MLOG_ENOMEM;
    channel *ch = &p->ch[j];
    ch->out_tail->rsn = rsn;
    ch->out_tail->rsn_inc = rsn_inc;
    /* Sender-based: it left before the checkpoint; a replay answer
     * includes it. */
    ch->out_tail->sent = p->sb != NULL;
  }
  return MLOG_OK;
}

/* Parse a checkpoint state into *v (its channels into v->ch, n of them);
 * with p, restore p's runtime state from it. */
static int parse_state(mlog_proc *p, const void *buf, size_t len,
                       mlogi_state_view *v) {
  reader r = {.p = buf, .left = len};
  uint32_t version;
  if (get32(&r) != STATE_MAGIC || (version = get32(&r)) < 2 ||
      version > STATE_VERSION || get32(&r) != v->n)
    return MLOG_ECORRUPT;
  v->rsn = get64(&r);
  uint64_t output_seq = get64(&r), output_logged = get64(&r);
  uint32_t interval_inc = get32(&r);
  v->snapshot = version >= 3 ? get64(&r) : 0;
  if (p) {
    p->rsn = p->next_rsn = p->delivered_rsn = p->marked_rsn = v->rsn;
    p->output_seq = output_seq;
    p->output_logged = output_logged;
    p->interval_inc = interval_inc;
  }
  for (uint32_t j = 0; j < v->n && !r.bad; j++) {
    mlogi_interval iv = {get32(&r), 0};
    iv.rsn = get64(&r);
    if (p && p->opt)
      p->opt->dv[j] = iv;
  }
  for (uint32_t j = 0; j < v->n && !r.bad; j++)
    if (parse_channel(p, j, &r, &v->ch[j]) != MLOG_OK)
      return MLOG_ENOMEM;
  v->app_len = get64(&r);
  v->app = take(&r, v->app_len);
  return r.bad || r.left != 0 ? MLOG_ECORRUPT : MLOG_OK;
}

int mlogi_state_peek(const void *buf, size_t len, uint32_t n,
                     mlogi_state_view *v) {
  *v = (mlogi_state_view){.n = n};
  v->ch = calloc(n ? n : 1, sizeof *v->ch);
  if (v->ch == NULL)
    return MLOG_ENOMEM;
  int rc = parse_state(NULL, buf, len, v);
  if (rc != MLOG_OK)
    mlogi_state_view_free(v);
  return rc;
}

void mlogi_state_view_free(mlogi_state_view *v) {
  free(v->ch);
  v->ch = NULL;
}

int mlogi_checkpoint_peek(mlog_log *log, uint64_t number, uint32_t n,
                          mlog_log_checkpoint *ck, mlogi_state_view *v) {
  *v = (mlogi_state_view){.n = n};
  int rc = mlog_log_read_checkpoint(log, number, ck);
  if (rc == MLOG_OK)
    rc = mlogi_state_peek(ck->state, ck->len, n, v);
  if (rc != MLOG_OK)
    mlogi_checkpoint_peek_free(ck, v);
  return rc;
}

void mlogi_checkpoint_peek_free(mlog_log_checkpoint *ck, mlogi_state_view *v) {
  mlogi_state_view_free(v);
  mlog_log_checkpoint_free(ck);
}

/* The marks of channel j from the checkpoint's counts. What it received
 * is logged (stable) for the protocols that acknowledge twice too, except
 * under Koo-Toueg above the newest permanent checkpoint: a tentative one
 * may be discarded (a restart restores it before the round's line, which
 * makes it permanent or drops it). What the peer acknowledged as received
 * is not in it: kept messages are resent on timeouts until the peer says
 * so again. */
static void restore_channel(mlog_proc *p, uint32_t j,
                            const mlogi_chan_counts *c) {
  channel *ch = &p->ch[j];
  ch->send_ssn = c->sent;
  ch->acked = ch->rcvd_acked = c->acked;
  ch->rcvd_last = NULL; /* what it keeps is above acked */
  ch->recv_mark = ch->logged_mark = ch->ack_sent = c->received;
  ch->rcvd_mark = ch->rcvd_sent = c->received;
  const koo_toueg *kt = p->grp ? p->grp->kt : NULL;
  if (kt && ch->logged_mark > kt->base_recv[j])
    ch->logged_mark = ch->ack_sent = kt->base_recv[j];
}

int mlogi_state_restore(mlog_proc *p, const void *buf, size_t len) {
  mlogi_state_view v = {.n = p->n};
  v.ch = calloc(p->n, sizeof *v.ch);
  if (v.ch == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  int rc = parse_state(p, buf, len, &v);
  for (uint32_t j = 0; rc == MLOG_OK && j < p->n; j++)
    restore_channel(p, j, &v.ch[j]);
  const uint8_t *app = v.app;
  uint64_t app_len = v.app_len;
  p->snapshot = v.snapshot;
  mlogi_state_view_free(&v);
  if (rc == MLOG_ENOMEM)
    return mlogi_fail(&p->eb, rc, "out of memory");
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT,
                      "checkpoint state is malformed, of another version or "
                      "of another group size");
  if (p->opt) /* only committed states are checkpointed */
    p->opt->committed_rsn = p->rsn;
  if (p->app.restore(p->app_arg, app, app_len) != 0)
    return mlogi_fail(&p->eb, MLOG_EAPP, "the restore callback failed");
  return MLOG_OK;
}
