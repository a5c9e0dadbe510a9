/* snapshot.c - `coordinated`: Chandy-Lamport snapshots of the group */
#include <stdlib.h>

#include "core/proc.h"
#include "core/wire.h"

/*
 * A process starts snapshot s (the newest it has seen, plus one) by
 * recording its state and sending a marker on every outgoing channel. A
 * marker is a frame of the channel's ssn order, so it stays behind every
 * message sent before it however the transport delays and resends
 * frames. A process taking its first marker of s records its state first
 * (the marker's channel is then empty), then sends its own markers; until
 * s's marker has come on a channel, every message taken from that channel
 * is kept for the log: the channel's state. Snapshot s is complete here
 * when every channel's marker came and those records are durable (they go
 * with the COMPLETE record, one commit per snapshot); it is complete
 * everywhere when every process says so (SNAP_DONE frames).
 *
 * In the log: the checkpoint of s (its state names s), the DELIVERY records
 * of the channel states, a MARKER record per channel (its ssn), and the
 * COMPLETE record. The channel state of j in s is then the messages from j
 * with ssn between what s's state had received and the marker.
 *
 * Outputs leave once a snapshot complete everywhere covers the state that
 * made them. A rollback round restores the newest snapshot complete
 * everywhere and delivers its channel states again; snapshots complete
 * everywhere and older than the `ckpt_keep` newest are dropped.
 */

/* ------------------------------------------------------------------------ */
/* The log                                                                  */

/* Snapshot ids of checkpoints: find `id`, newest first. */
static int find_checkpoint(mlog_log *log, uint32_t n, uint64_t id,
                           mlog_log_checkpoint *ck, mlogi_state_view *v) {
  uint64_t *numbers;
  size_t count;
  int rc = mlog_log_checkpoint_numbers(log, &numbers, &count);
  for (size_t k = count; rc == MLOG_OK && k-- > 0;) {
    rc = mlogi_checkpoint_peek(log, numbers[k], n, ck, v);
    if (rc == MLOG_OK && v->snapshot == id)
      break;
    if (rc == MLOG_OK)
      mlogi_checkpoint_peek_free(ck, v);
    if (rc == MLOG_OK && k == 0)
      rc = MLOG_ENOTFOUND;
  }
  free(numbers);
  return count == 0 && rc == MLOG_OK ? MLOG_ENOTFOUND : rc;
}

typedef struct channel_scan {
  uint64_t id;
  uint32_t n;
  uint64_t *marker; /* [n] ssn of each channel's marker (0: none) */
  recvec *msgs;
  bool complete;
} channel_scan;

static int scan_channel_state(void *arg, const mlog_record *rec) {
  channel_scan *cs = arg;
  if (rec->type == MLOG_REC_DELIVERY && rec->src < cs->n)
    return mlogi_recvec_add(cs->msgs, rec);
  if (rec->type != MLOG_REC_CONTROL || rec->rsn != cs->id)
    return 0;
  if (rec->flags == MLOGI_CTL_MARKER && rec->src < cs->n)
    cs->marker[rec->src] = rec->ssn;
  cs->complete = rec->flags == MLOGI_CTL_COMPLETE;
  return cs->complete ? 1 : 0; /* stop there */
}

/* Keep the messages of the channel states: from j, after what the state
 * received and before j's marker. */
static void keep_channel_states(recvec *msgs, const mlogi_state_view *v,
                                const uint64_t *marker) {
  size_t kept = 0;
  for (size_t i = 0; i < msgs->n; i++) {
    const mlog_record *r = &msgs->recs[i];
    if (r->ssn > v->ch[r->src].received && r->ssn < marker[r->src]) {
      msgs->recs[kept] = *r;
      msgs->offs[kept++] = msgs->offs[i];
    }
  }
  msgs->n = kept;
  mlogi_recvec_fix(msgs);
}

int mlogi_snap_load(mlog_log *log, uint32_t n, uint64_t id,
                    mlogi_snap_image *img) {
  memset(img, 0, sizeof *img);
  if (id == 0)
    return MLOG_OK; /* the initial state: nothing in transit */
  mlogi_state_view v = {0};
  int rc = find_checkpoint(log, n, id, &img->ck, &v);
  if (rc != MLOG_OK)
    return rc;
  channel_scan cs = {.id = id, .n = n, .msgs = &img->channel};
  cs.marker = img->marker = calloc(n, sizeof *cs.marker);
  rc = cs.marker ? mlog_log_scan(log, img->ck.covered_lsn + 1,
                                 scan_channel_state, &cs)
                 : MLOG_ENOMEM;
  if (rc == 1)
    rc = MLOG_OK;
  if (rc == MLOG_OK && !cs.complete)
    rc = MLOG_ENOTFOUND;
  if (rc == MLOG_OK)
    keep_channel_states(&img->channel, &v, cs.marker);
  mlogi_state_view_free(&v);
  if (rc != MLOG_OK)
    mlogi_snap_image_free(img);
  return rc;
}

void mlogi_snap_image_free(mlogi_snap_image *img) {
  mlog_log_checkpoint_free(&img->ck);
  mlogi_recvec_free(&img->channel);
  free(img->marker);
  img->marker = NULL;
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */

static int keep(snapshots *s, snapinfo info) {
  if (mlogi_grow((void **)&s->kept, &s->capkept, s->nkept + 1, sizeof *s->kept))
    return MLOG_ENOMEM;
  s->kept[s->nkept++] = info;
  return MLOG_OK;
}

static const snapinfo *kept(const snapshots *s, uint64_t id) {
  for (size_t k = 0; k < s->nkept; k++)
    if (s->kept[k].id == id)
      return &s->kept[k];
  return NULL;
}

static int load_kept(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  uint64_t *numbers;
  size_t count;
  int rc = mlog_log_checkpoint_numbers(p->log, &numbers, &count);
  for (size_t k = 0; rc == MLOG_OK && k < count; k++) {
    mlog_log_checkpoint ck;
    mlogi_state_view v;
    rc = mlogi_checkpoint_peek(p->log, numbers[k], p->n, &ck, &v);
    if (rc != MLOG_OK)
      break;
    rc = keep(s, (snapinfo){v.snapshot, numbers[k], v.rsn, ck.covered_lsn});
    mlogi_checkpoint_peek_free(&ck, &v);
  }
  free(numbers);
  if (rc == MLOG_OK && s->nkept > 0)
    s->recorded = s->kept[s->nkept - 1].id;
  return rc;
}

/* The newest kept snapshot with its COMPLETE record after its checkpoint. */
static int find_complete(void *arg, const mlog_record *rec) {
  snapshots *s = arg;
  const snapinfo *si;
  if (rec->type == MLOG_REC_CONTROL && rec->flags == MLOGI_CTL_COMPLETE &&
      (si = kept(s, rec->rsn)) != NULL && rec->lsn > si->covered_lsn &&
      rec->rsn > s->complete)
    s->complete = rec->rsn;
  return 0;
}

int mlogi_snap_open(mlog_proc *p) {
  snapshots *s = calloc(1, sizeof *s);
  if (s == NULL)
    return MLOG_ENOMEM;
  p->grp->snap = s;
  s->closed = calloc(p->n, sizeof *s->closed);
  s->done = calloc(p->n, sizeof *s->done);
  s->echo = calloc(p->n, sizeof *s->echo);
  s->told = calloc(p->n, sizeof *s->told);
  s->asked = calloc(p->n, sizeof *s->asked);
  if (!s->closed || !s->done || !s->echo || !s->told || !s->asked)
    return MLOG_ENOMEM;
  int rc = load_kept(p);
  if (rc == MLOG_OK && s->nkept > 0)
    rc = mlog_log_scan(p->log, s->kept[0].covered_lsn + 1, find_complete, s);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "reading the snapshots: %s",
                      mlog_log_errmsg(p->log));
  for (uint32_t j = 0; j < p->n; j++)
    s->closed[j] = s->recorded;
  return MLOG_OK;
}

void mlogi_snap_free(mlog_proc *p) {
  snapshots *s = p->grp ? p->grp->snap : NULL;
  if (s == NULL)
    return;
  free(s->closed);
  free(s->done);
  free(s->echo);
  free(s->told);
  free(s->asked);
  free(s->kept);
  mlogi_recvec_free(&s->channel);
  free(s);
  p->grp->snap = NULL;
}

/* ------------------------------------------------------------------------ */
/* Completion                                                               */

/* Snapshots complete everywhere beyond the `ckpt_keep` newest go. */
static int collect(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  size_t complete = 0, first = 0;
  while (complete < s->nkept && s->kept[complete].id <= s->global)
    complete++;
  if (complete > p->cfg.ckpt_keep)
    first = complete - p->cfg.ckpt_keep;
  if (first == 0)
    return MLOG_OK;
  int rc = mlog_log_drop_checkpoints_before(p->log, s->kept[first].number);
  if (rc != MLOG_OK) {
    p->broken = true;
    return mlogi_fail(&p->eb, rc, "dropping old snapshots: %s",
                      mlog_log_errmsg(p->log));
  }
  memmove(s->kept, s->kept + first, (s->nkept - first) * sizeof *s->kept);
  s->nkept -= first;
  return MLOG_OK;
}

static int update_global(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  uint64_t g = s->complete;
  for (uint32_t j = 0; j < p->n; j++)
    if (j != p->id && s->done[j] < g)
      g = s->done[j];
  if (g <= s->global)
    return MLOG_OK;
  s->global = g;
  const snapinfo *si = kept(s, g);
  if (si)
    s->committed_rsn = si->rsn;
  return collect(p);
}

static mlog_record control(mlog_proc *p, uint8_t flags, uint32_t src,
                           uint64_t ssn, uint64_t id) {
  return (mlog_record){.type = MLOG_REC_CONTROL,
                       .flags = flags,
                       .src = src,
                       .dst = p->id,
                       .incarnation = p->incarnation,
                       .ssn = ssn,
                       .rsn = id};
}

/* The channel states and markers taken so far, then COMPLETE records up to
 * `upto`, in one durable commit. */
static int log_completion(mlog_proc *p, uint64_t upto) {
  snapshots *s = p->grp->snap;
  int rc = MLOG_OK;
  mlogi_recvec_fix(&s->channel);
  for (size_t i = 0; rc == MLOG_OK && i < s->channel.n; i++)
    rc = mlogi_add_record(p, &s->channel.recs[i]);
  for (uint64_t id = s->complete + 1; rc == MLOG_OK && id <= upto; id++) {
    mlog_record rec = control(p, MLOGI_CTL_COMPLETE, p->id, 0, id);
    rc = mlogi_add_record(p, &rec);
  }
  if (rc == MLOG_OK)
    rc = mlogi_commit_durably(p);
  if (rc == MLOG_OK)
    mlogi_recvec_clear(&s->channel);
  return rc;
}

/* Every channel's marker of the snapshots up to some id came: they are
 * complete here once their records are durable. */
static int check_complete(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  uint64_t upto = s->recorded;
  for (uint32_t j = 0; j < p->n; j++)
    if (j != p->id && s->closed[j] < upto)
      upto = s->closed[j];
  if (upto <= s->complete)
    return MLOG_OK;
  int rc = log_completion(p, upto);
  if (rc != MLOG_OK)
    return rc;
  s->complete = upto;
  s->told_at = 0; /* say so now */
  return update_global(p);
}

/* ------------------------------------------------------------------------ */
/* Recording                                                                */

/* Record snapshot id (after a marker from src, or src == my id when I start
 * it): markers queued behind what I sent, then the state (outboxes and
 * markers included). */
static int record(mlog_proc *p, uint64_t id, uint32_t src) {
  snapshots *s = p->grp->snap;
  uint8_t payload[10];
  size_t len = mlogi_varint_put(payload, id);
  for (uint32_t j = 0; j < p->n; j++) {
    if (j == p->id)
      continue;
    channel *ch = &p->ch[j];
    int rc = mlogi_outbox_push(p, j, ch->send_ssn + 1, MLOGI_FRAME_F_MARKER,
                               payload, len);
    if (rc != MLOG_OK)
      return rc;
    ch->send_ssn++;
  }
  p->snapshot = s->recorded = id;
  if (src != p->id)
    s->closed[src] = id;
  uint64_t number;
  int rc = mlogi_write_checkpoint(p, &number);
  if (rc != MLOG_OK)
    return rc;
  rc = keep(s, (snapinfo){id, number, p->rsn, mlog_log_next_lsn(p->log) - 1});
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "out of memory");
  return check_complete(p);
}

int mlogi_snap_start(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  if (s->recorded > s->complete || s->marker)
    return mlogi_fail(&p->eb, MLOG_EAGAIN, "snapshot %llu is in progress",
                      (unsigned long long)s->recorded);
  return record(p, s->recorded + 1, p->id);
}

bool mlogi_snap_recording(const mlog_proc *p, uint32_t src) {
  const snapshots *s = p->grp->snap;
  return s->closed[src] < s->recorded;
}

int mlogi_snap_on_marker(mlog_proc *p, uint32_t src, uint64_t ssn,
                         const void *payload, size_t len) {
  snapshots *s = p->grp->snap;
  uint64_t id;
  /* Ids come in order on a channel, and a marker names a snapshot recorded
   * here or the next one (its sender recorded every id before it). */
  if (!mlogi_varint_only(payload, len, &id) || id <= s->closed[src] ||
      id > s->recorded + 1)
    return MLOG_EPROTO;
  s->marker = true;
  s->marker_src = src;
  s->marker_ssn = ssn;
  s->marker_id = id;
  return MLOG_OK;
}

int mlogi_snap_take_marker(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  if (!s->marker)
    return MLOG_OK;
  s->marker = false;
  uint32_t src = s->marker_src;
  int rc = MLOG_OK;
  if (s->marker_id > s->recorded)
    rc = record(p, s->marker_id, src);
  if (rc != MLOG_OK)
    return rc;
  if (s->marker_id > s->closed[src])
    s->closed[src] = s->marker_id;
  p->ch[src].logged_mark = s->marker_ssn; /* acknowledged */
  mlog_record rec =
      control(p, MLOGI_CTL_MARKER, src, s->marker_ssn, s->marker_id);
  if (mlogi_recvec_add(&s->channel, &rec) != MLOG_OK)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  return check_complete(p);
}

/* ------------------------------------------------------------------------ */
/* Telling the others                                                       */

int mlogi_snap_on_done(mlog_proc *p, uint32_t src, uint16_t flags, uint64_t seq,
                       const void *payload, size_t len) {
  snapshots *s = p->grp->snap;
  uint64_t echo;
  /* It completed only snapshots I recorded (it took my markers). */
  if (!mlogi_varint_only(payload, len, &echo) || seq > s->recorded) {
    p->stats.bad_frames++;
    return MLOG_OK;
  }
  if (seq > s->done[src])
    s->done[src] = seq;
  if (echo > s->echo[src] && echo <= s->complete)
    s->echo[src] = echo;
  s->asked[src] = s->asked[src] || (flags & MLOGI_FRAME_F_ASK);
  return update_global(p);
}

/* Tell j what is new, answer what it asked, and ask again (every resend
 * timeout) until j has said it knows my newest complete snapshot. */
int mlogi_snap_settle(mlog_proc *p) {
  snapshots *s = p->grp->snap;
  uint64_t now = mlogi_now_ms(p);
  bool due = s->told_at == 0 || now - s->told_at >= p->cfg.retransmit_ms;
  bool asking = false;
  for (uint32_t j = 0; j < p->n; j++) {
    bool ask = s->complete > s->echo[j];
    if (j == p->id || !((due && ask) || s->done[j] > s->told[j] || s->asked[j]))
      continue;
    uint8_t payload[10];
    size_t len = mlogi_varint_put(payload, s->done[j]);
    mlogi_send_frame(p, j, MLOGI_FRAME_SNAP_DONE, ask ? MLOGI_FRAME_F_ASK : 0,
                     s->complete, payload, (uint32_t)len);
    s->told[j] = s->done[j];
    s->asked[j] = false;
    asking = asking || ask;
  }
  if (due && asking)
    s->told_at = now;
  return p->broken ? MLOG_EIO : MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Rollback rounds                                                          */

int mlogi_snap_info(mlog_proc *p, uint8_t **out, size_t *len) {
  uint64_t complete = p->grp->snap->complete;
  *out = malloc(10);
  if (*out == NULL)
    return MLOG_ENOMEM;
  *len = mlogi_varint_put(*out, complete);
  return MLOG_OK;
}

int mlogi_snap_decide(mlog_proc *p, uint8_t **out, size_t *len) {
  grp_state *g = p->grp;
  uint64_t line = UINT64_MAX;
  for (uint32_t j = 0; j < p->n; j++) {
    uint64_t c;
    if (mlogi_varint_get(g->info[j], g->info_len[j], &c) != g->info_len[j] ||
        g->info_len[j] == 0)
      return MLOG_EPROTO;
    line = c < line ? c : line;
  }
  *out = malloc(10);
  if (*out == NULL)
    return MLOG_ENOMEM;
  *len = mlogi_varint_put(*out, line);
  return MLOG_OK;
}

/* Every process has snapshot id complete: start again from there. */
static void reset_snapshots(mlog_proc *p, uint64_t id) {
  snapshots *s = p->grp->snap;
  s->recorded = s->complete = s->global = id;
  for (uint32_t j = 0; j < p->n; j++)
    s->closed[j] = s->done[j] = s->echo[j] = s->told[j] = id;
  memset(s->asked, 0, p->n * sizeof *s->asked);
  s->marker = false;
  mlogi_recvec_clear(&s->channel);
  while (s->nkept > 0 && s->kept[s->nkept - 1].id > id)
    s->nkept--;
  const snapinfo *si = kept(s, id);
  s->committed_rsn = si ? si->rsn : 0;
  s->told_at = 0;
}

/* Restore the image's state and deliver its channel states again. */
static int restore_image(mlog_proc *p, mlogi_snap_image *img) {
  uint64_t before = p->rsn;
  mlogi_reset_volatile(p);
  int rc = img->ck.state
               ? mlogi_state_restore(p, img->ck.state, img->ck.len)
               : (p->app.restore(p->app_arg, NULL, 0) ? MLOG_EAPP : MLOG_OK);
  if (rc == MLOG_EAPP && img->ck.state == NULL)
    return mlogi_fail(&p->eb, rc, "the restore callback failed");
  p->stats.rollbacks++;
  p->stats.rolled_back += before > p->rsn ? before - p->rsn : 0;
  for (size_t i = 0; rc == MLOG_OK && i < img->channel.n; i++) {
    rc = mlogi_deliver_again(p, &img->channel.recs[i]);
    p->stats.redelivered++;
  }
  for (uint32_t j = 0; img->marker && j < p->n; j++) {
    channel *ch = &p->ch[j]; /* the marker itself was taken */
    if (img->marker[j] > ch->recv_mark)
      ch->recv_mark = ch->logged_mark = img->marker[j];
  }
  return rc;
}

int mlogi_snap_apply(mlog_proc *p, const uint8_t *line, size_t len) {
  snapshots *s = p->grp->snap;
  uint64_t id;
  if (len == 0 || mlogi_varint_get(line, len, &id) != len || id > s->complete)
    return MLOG_EPROTO;
  mlogi_snap_image img;
  int rc = mlogi_snap_load(p->log, p->n, id, &img);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc == MLOG_ENOTFOUND ? MLOG_ECORRUPT : rc,
                      "snapshot %llu of the line is not in the log: %s",
                      (unsigned long long)id, mlog_log_errmsg(p->log));
  rc = mlog_log_drop_checkpoints_after(p->log, img.ck.number);
  if (rc == MLOG_OK) {
    reset_snapshots(p, id);
    rc = restore_image(p, &img);
    p->snapshot = id;
  }
  mlogi_snap_image_free(&img);
  return rc;
}
