/* process.c - the process runtime: receive, log, deliver, send, acknowledge */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/proc.h"

#define MAX_COMMITS_PER_POLL 8
#define DEFAULT_RETRANSMIT_MS 200
#define DEFAULT_KEEP 2
#define DEFAULT_FLUSH_MS 5
#define HOLD_MAX_FRAMES 65536      /* held for a checkpoint, at most */
#define HOLD_MAX_BYTES (64u << 20) /* ... and their bytes */
#define HOLD_MAX_BACKOFF 64        /* holds' time between two, at most */

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

static int add_control(mlog_proc *p, uint8_t flags, uint64_t ssn, uint64_t rsn,
                       const void *payload, uint32_t len) {
  mlog_record rec = {.type = MLOG_REC_CONTROL,
                     .flags = flags,
                     .src = p->id,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .ssn = ssn,
                     .rsn = rsn,
                     .payload = payload,
                     .payload_len = len};
  return mlogi_add_record(p, &rec);
}

int mlogi_add_record(mlog_proc *p, const mlog_record *rec) {
  int rc = mlogi_recvec_add(&p->ctl, rec);
  return rc ? mlogi_fail(&p->eb, rc, "out of memory for a log record") : 0;
}

/* Sends and outputs that waited for the values now appended up to lsn. */
static void resolve_holds(mlog_proc *p, uint64_t lsn) {
  if (p->pending_values == 0)
    return; /* holds are made only while values are pending */
  for (uint32_t j = 0; j < p->n; j++)
    for (outmsg *m = p->ch[j].out_head; m; m = m->next)
      if (m->needs_lsn == MLOGI_AFTER_NEXT_APPEND)
        m->needs_lsn = lsn;
  for (outq *o = p->out_head; o; o = o->next)
    if (o->needs_lsn == MLOGI_AFTER_NEXT_APPEND)
      o->needs_lsn = lsn;
  p->pending_values = 0;
}

static int queue_deliveries(mlog_proc *p, uint64_t last);

/* Append the control records and the received deliveries as one commit:
 * [values and digests of handlers that ran] [MARK] [new deliveries]. */
static int commit(mlog_proc *p) {
  /* Optimistic logging: the MARK of the handlers that ran is what makes
   * their states stable, even when nothing else is to be logged. */
  bool mark_due = p->opt != NULL && p->delivered_rsn > p->marked_rsn;
  if (p->ctl.n == 0 && p->dlv.n == 0 && !mark_due)
    return MLOG_OK;
  int rc = MLOG_OK;
  size_t mark = SIZE_MAX; /* index of this commit's MARK */
  /* Sender-based: the deliveries are not in this log (recovery takes them
   * from their senders, in rsn order), so a MARK goes only with records it
   * orders, never as a commit (and a flush) of its own. */
  if (p->delivered_rsn > p->marked_rsn && p->grp == NULL &&
      (p->sb == NULL || p->ctl.n > 0)) {
    rc = add_control(p, MLOGI_CTL_MARK, 0, p->delivered_rsn, NULL, 0);
    p->marked_rsn = p->delivered_rsn;
    mark = p->ctl.n - 1;
  }
  /* The commit's records are the ctl and dlv records themselves: their
   * payloads stay in those vectors' arenas (no copy). Sender-based: the
   * senders keep the messages, only ctl is logged; checkpoint-only
   * protocols log no message (channel states go through ctl). */
  size_t ndlv = p->sb || p->grp ? 0 : p->dlv.n, n = p->ctl.n + ndlv;
  if (n == 0)
    return queue_deliveries(p, 0);
  if (rc == MLOG_OK)
    rc = mlogi_grow((void **)&p->all, &p->all_cap, n, sizeof *p->all);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "out of memory for a commit");
  mlogi_recvec_fix(&p->ctl);
  mlogi_recvec_fix(&p->dlv);
  if (p->ctl.n)
    memcpy(p->all, p->ctl.recs, p->ctl.n * sizeof *p->all);
  if (ndlv)
    memcpy(p->all + p->ctl.n, p->dlv.recs, ndlv * sizeof *p->all);
  rc = p->logger->append(p->logger_self, p->all, n);
  if (rc != MLOG_OK) {
    p->broken = true;
    return mlogi_fail(&p->eb, rc, "logging %zu records: %s", n,
                      mlog_log_errmsg(p->log));
  }
  uint64_t last = p->all[n - 1].lsn;
  if (p->opt && mark != SIZE_MAX)
    rc = mlogi_opt_marked(p, p->all[mark].lsn, p->all[mark].rsn);
  if (rc != MLOG_OK) {
    p->broken = true; /* the records are logged, the runtime lags behind */
    return rc;
  }
  for (size_t i = 0; i < n; i++)
    p->since_bytes += mlog_record_size(p->all[i].payload_len);
  resolve_holds(p, last);
  mlogi_recvec_clear(&p->ctl);
  p->output_marks = false;
  for (size_t i = 0; i < ndlv; i++) /* take the lsns assigned */
    p->dlv.recs[i].lsn = p->all[n - ndlv + i].lsn;
  return queue_deliveries(p, ndlv ? last : 0);
}

/* The deliveries received for this commit wait until the log is durable
 * up to last_lsn (0: nothing to wait for). */
static int queue_deliveries(mlog_proc *p, uint64_t last) {
  if (p->dlv.n == 0)
    return MLOG_OK;
  waiting *w = calloc(1, sizeof *w);
  if (w == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory");
  w->recs = p->dlv; /* the batch moves, the vector starts empty */
  memset(&p->dlv, 0, sizeof p->dlv);
  w->last_lsn = last;
  if (p->wait_tail)
    p->wait_tail->next = w;
  else
    p->wait_head = w;
  p->wait_tail = w;
  return MLOG_OK;
}

static uint64_t durable_lsn(mlog_proc *p) {
  if ((p->logger->flags & MLOG_LOGGER_EAGER) || p->grp)
    return UINT64_MAX;
  return p->logger->durable_lsn(p->logger_self);
}

static int flush(mlog_proc *p) {
  int rc = p->logger->flush(p->logger_self);
  if (rc != MLOG_OK) {
    p->broken = true;
    return mlogi_fail(&p->eb, rc, "flushing the log: %s",
                      mlog_log_errmsg(p->log));
  }
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Delivering                                                               */

/* A record replay found ahead: a logged value or digest of delivery rsn. */
static const mlog_record *stashed(mlog_proc *p, uint8_t type, uint8_t flags,
                                  uint64_t rsn, uint64_t seq) {
  replay_stash *rs = p->replay;
  for (size_t i = rs->head; i < rs->values.n; i++) {
    const mlog_record *r = &rs->values.recs[i];
    if (r->type == type && r->flags == flags && r->rsn == rsn && r->ssn == seq)
      return r;
  }
  return NULL;
}

static void hex(char *out, const uint8_t *d, size_t n) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* After delivery rsn: log the state digest, or in replay compare it with
 * the logged one (non-determinism detection). */
static int check_digest(mlog_proc *p, uint64_t rsn) {
  if (!(p->cfg.flags & MLOG_PROC_DIGESTS) || p->app.digest == NULL ||
      p->grp) /* nothing is replayed */
    return MLOG_OK;
  uint8_t d[32];
  p->app.digest(p->app_arg, d);
  const mlog_record *logged =
      p->replay ? stashed(p, MLOG_REC_CONTROL, MLOGI_CTL_DIGEST, rsn, 0) : NULL;
  if (logged == NULL)
    return p->replay && !p->replay->tail
               ? MLOG_OK /* logged without digests */
               : add_control(p, MLOGI_CTL_DIGEST, 0, rsn, d, sizeof d);
  if (logged->payload_len == sizeof d &&
      memcmp(logged->payload, d, sizeof d) == 0)
    return MLOG_OK;
  char want[65] = "", got[65];
  if (logged->payload_len == sizeof d)
    hex(want, logged->payload, sizeof d);
  hex(got, d, sizeof d);
  return mlogi_fail(&p->eb, MLOG_EDIVERGED,
                    "replay diverged at rsn %llu: logged digest %s, replay "
                    "gives %s",
                    (unsigned long long)rsn, want, got);
}

int mlogi_deliver(mlog_proc *p, const mlog_record *rec) {
  const void *msg = rec->payload;
  size_t len = rec->payload_len;
  if (p->opt) {
    int rc = mlogi_opt_deliver(p, rec, &msg, &len);
    if (rc != MLOG_OK)
      return rc;
  }
  p->in_handler = true;
  p->nondet_seq = 0;
  p->nondet_diverged = false;
  p->rsn = rec->rsn;
  p->interval_inc = rec->incarnation;
  int rc = p->app.deliver(p->app_arg, p, rec->src, msg, len);
  p->in_handler = false;
  if (p->nondet_diverged) /* even if the handler ignored the error */
    return MLOG_EDIVERGED;
  if (rc != 0)
    return mlogi_fail(&p->eb, MLOG_EAPP, "the handler failed (%d) at rsn %llu",
                      rc, (unsigned long long)rec->rsn);
  p->delivered_rsn = rec->rsn;
  p->since_deliveries++;
  if (p->replay)
    p->stats.replayed++;
  return check_digest(p, rec->rsn);
}

int mlogi_deliver_again(mlog_proc *p, mlog_record *rec) {
  rec->rsn = ++p->next_rsn;
  rec->incarnation = p->incarnation;
  int rc = mlogi_deliver(p, rec);
  if (rc == MLOG_OK) {
    channel *ch = &p->ch[rec->src];
    ch->recv_mark = ch->logged_mark = rec->ssn;
    p->stats.delivered++;
  }
  return rc;
}

/* Deliver the batches that are durable (all of them for eager loggers). */
static int deliver_ready(mlog_proc *p, uint64_t *count) {
  uint64_t durable = durable_lsn(p);
  while (p->wait_head && p->wait_head->last_lsn <= durable) {
    waiting *w = p->wait_head;
    mlogi_recvec_fix(&w->recs);
    for (size_t i = 0; i < w->recs.n; i++) {
      const mlog_record *rec = &w->recs.recs[i];
      if (mlogi_two_acks(p)) /* received; stable with a checkpoint */
        p->ch[rec->src].rcvd_mark = rec->ssn;
      else if (p->opt == NULL && p->sb == NULL) /* the others: later */
        p->ch[rec->src].logged_mark = rec->ssn;
      int rc = mlogi_deliver(p, rec);
      if (rc == MLOG_OK && p->sb)
        rc = mlogi_sb_delivered(p, rec);
      if (rc != MLOG_OK)
        return rc;
      p->stats.delivered++;
      (*count)++;
    }
    p->wait_head = w->next;
    if (p->wait_head == NULL)
      p->wait_tail = NULL;
    if (p->dlv.n == 0 && p->dlv.cap == 0) { /* reuse its memory */
      mlogi_recvec_free(&p->dlv);
      mlogi_recvec_clear(&w->recs);
      p->dlv = w->recs;
    } else {
      mlogi_recvec_free(&w->recs);
    }
    free(w);
  }
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Leaving: sends, acknowledgements, outputs                                */

static void release_output(mlog_proc *p, outq *o) {
  if (p->app.output)
    p->app.output(p->app_arg, o->seq, o->data, o->len);
  p->stats.outputs++;
  if (o->seq > p->output_logged && p->grp == NULL) {
    p->output_logged = o->seq;
    p->output_marks =
        add_control(p, MLOGI_CTL_OUTPUT, o->seq, 0, NULL, 0) == MLOG_OK;
  }
}

/* May output o leave? Pessimistic: once the values it depends on are
 * durable; optimistic: once the state it was made in is committed. */
static bool output_committed(const mlog_proc *p, const outq *o,
                             uint64_t durable) {
  if (p->opt)
    return o->rsn <= p->opt->committed_rsn;
  if (p->grp && p->grp->kt) /* a permanent checkpoint covers it */
    return o->rsn <= p->grp->kt->perm_rsn;
  if (p->grp) /* none: nothing keeps an output from a rollback */
    return !p->grp->snap || o->rsn <= p->grp->snap->committed_rsn;
  return o->needs_lsn <= durable && (!p->sb || o->rsn <= p->sb->logged_rsn);
}

/* Send what may leave, resend what timed out, acknowledge what is logged,
 * emit committed outputs. */
static void settle(mlog_proc *p) {
  uint64_t durable = durable_lsn(p);
  if (p->opt)
    mlogi_opt_settle(p, p->logger->durable_lsn(p->logger_self));
  if (p->sb)
    mlogi_sb_settle(p);
  if (p->grp && p->grp->frozen)
    return; /* nothing leaves before the round's line */
  mlogi_channels_settle(p, durable);
  while (p->out_head && output_committed(p, p->out_head, durable)) {
    outq *o = p->out_head;
    p->out_head = o->next;
    if (p->out_head == NULL)
      p->out_tail = NULL;
    release_output(p, o);
    free(o);
  }
}

/* True when a send or an output waits for values not yet appended. */
static bool holds_waiting(const mlog_proc *p) {
  if (p->pending_values == 0)
    return false;
  if (p->out_tail && p->out_tail->needs_lsn == MLOGI_AFTER_NEXT_APPEND)
    return true;
  for (uint32_t j = 0; j < p->n; j++)
    if (p->ch[j].out_tail &&
        p->ch[j].out_tail->needs_lsn == MLOGI_AFTER_NEXT_APPEND)
      return true;
  return false;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */

/* Deliver and log everything received, so the state and the log agree. */
static int quiesce(mlog_proc *p, uint64_t *count) {
  for (int round = 0; round < 4; round++) {
    int rc = commit(p);
    if (rc == MLOG_OK)
      rc = flush(p);
    if (rc == MLOG_OK)
      rc = deliver_ready(p, count);
    if (rc != MLOG_OK)
      return rc;
    if (p->wait_head == NULL && p->dlv.n == 0 && p->ctl.n == 0)
      return MLOG_OK;
  }
  int rc = commit(p); /* the last handlers' digests and marks */
  return rc == MLOG_OK ? flush(p) : rc;
}

int mlogi_commit_durably(mlog_proc *p) {
  int rc = commit(p);
  return rc == MLOG_OK ? flush(p) : rc;
}

/* Optimistic logging checkpoints only a committed state (one that can never
 * be rolled back): a rollback always finds its checkpoint valid. */
static int ready_optimistic(mlog_proc *p) {
  int rc = mlogi_commit_durably(p);
  if (rc != MLOG_OK)
    return rc;
  settle(p);
  return p->rsn <= p->opt->committed_rsn ? MLOG_OK : MLOG_EAGAIN;
}

/* Under none every checkpoint is kept (a rollback drops it only in a
 * domino past it), so a checkpoint covering deliveries not yet stable makes
 * them stable, and their senders drop them. Koo-Toueg waits for the
 * decision: a tentative checkpoint may be discarded. */
static bool makes_stable(const mlog_proc *p) {
  if (!mlogi_two_acks(p) || p->grp->kt)
    return false;
  for (uint32_t j = 0; j < p->n; j++)
    if (p->ch[j].rcvd_mark > p->ch[j].logged_mark)
      return true;
  return false;
}

/* Deliver what is received, log what is pending, store the state. */
static int write_checkpoint(mlog_proc *p, uint64_t *count, uint64_t *number) {
  int rc = p->opt ? ready_optimistic(p) : quiesce(p, count);
  if (rc == MLOG_EAGAIN)
    return mlogi_fail(&p->eb, rc, "the state is not committed yet");
  if (rc != MLOG_OK)
    return rc;
  settle(p);
  /* The output records settle may have added, durable before the
   * checkpoint covers them (and an eager logger's thread idle). */
  rc = mlogi_commit_durably(p);
  mlog_buf buf = {0};
  if (rc == MLOG_OK)
    rc = mlogi_state_encode(p, &buf);
  uint64_t covered = mlog_log_next_lsn(p->log) - 1;
  /* Checkpoint-only protocols keep them by their own rules. */
  uint32_t keep = p->grp ? UINT32_MAX : p->cfg.ckpt_keep;
  if (rc == MLOG_OK)
    rc = mlog_log_put_checkpoint(p->log, covered, p->incarnation, buf.data,
                                 buf.len, keep, number);
  free(buf.data);
  /* Sender-based, and none when the checkpoint makes deliveries stable: the
   * ACKs that follow let the senders drop what the checkpoint covers; under
   * lazy meta flushes an OS crash may still undo it until the meta page is
   * flushed. (Otherwise a checkpoint-only protocol's next commit makes it
   * durable; one lost in an OS crash is not a position.) */
  bool stable = rc == MLOG_OK && makes_stable(p);
  if (rc == MLOG_OK && (p->sb || stable))
    rc = mlog_log_sync(p->log);
  if (rc != MLOG_OK) {
    p->broken = rc != MLOG_EAPP;
    return mlogi_fail(&p->eb, rc, "checkpoint: %s",
                      rc == MLOG_EAPP ? p->eb.msg : mlog_log_errmsg(p->log));
  }
  p->stats.checkpoints++;
  if (p->sb)
    mlogi_sb_checkpointed(p);
  if (stable)
    mlogi_channels_stable(p, NULL);
  p->since_deliveries = p->since_bytes = 0;
  p->last_ckpt_ms = mlogi_now_ms(p);
  return MLOG_OK;
}

int mlogi_write_checkpoint(mlog_proc *p, uint64_t *number) {
  uint64_t count = 0;
  return write_checkpoint(p, &count, number);
}

static int take_checkpoint(mlog_proc *p, uint64_t *count) {
  if (p->sb && p->sb->recovering)
    return mlogi_fail(&p->eb, MLOG_EAGAIN, "recovery is not complete");
  if (p->grp) { /* a snapshot, or a checkpoint after the deliveries made */
    int rc = quiesce(p, count);
    return rc == MLOG_OK ? mlogi_grp_checkpoint(p) : rc;
  }
  uint64_t number;
  return write_checkpoint(p, count, &number);
}

static bool checkpoint_due(mlog_proc *p) {
  const mlog_proc_config *c = &p->cfg;
  return (c->ckpt_every_deliveries &&
          p->since_deliveries >= c->ckpt_every_deliveries) ||
         (c->ckpt_every_bytes && p->since_bytes >= c->ckpt_every_bytes) ||
         (c->ckpt_every_ms &&
          mlogi_now_ms(p) - p->last_ckpt_ms >= c->ckpt_every_ms);
}

int mlog_checkpoint(mlog_proc *p) {
  if (p == NULL || p->in_handler || p->broken)
    return p ? mlogi_fail(&p->eb, MLOG_EINVAL, "checkpoint not allowed now")
             : MLOG_EINVAL;
  uint64_t count = 0;
  int rc = take_checkpoint(p, &count);
  if (rc == MLOG_OK && p->opt) /* what a due checkpoint held goes on at the
                                  next poll */
    p->opt->hold_since = 0;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The poll loop                                                            */

/* An announcement made this process an orphan: roll back. */
static int roll_back_orphan(mlog_proc *p) {
  uint64_t cut;
  if (p->opt == NULL || !p->opt->orphan || !mlogi_opt_orphan_cut(p, &cut))
    return MLOG_OK;
  return mlogi_rollback(p, cut);
}

/* Optimistic logging: the marks (and values) of the handlers that ran go to
 * the logger at the end of each poll, so that stability follows them; the
 * logger persists them when it is due. */
static int persist_optimistic(mlog_proc *p) {
  int rc =
      p->delivered_rsn > p->marked_rsn || p->ctl.n > 0 ? commit(p) : MLOG_OK;
  if (rc == MLOG_OK && p->logger->poll)
    rc = p->logger->poll(p->logger_self, mlogi_now_ms(p));
  if (rc != MLOG_OK && !p->broken) {
    p->broken = true;
    mlogi_fail(&p->eb, rc, "persisting the log: %s", mlog_log_errmsg(p->log));
  }
  return rc;
}

/* Optimistic logging checkpoints a committed state only. While a due
 * checkpoint waits for that, data frames are held (status frames still
 * come in), for at most half a resend timeout, HOLD_MAX_FRAMES frames and
 * HOLD_MAX_BYTES. A hold that gives up lets deliveries go on for as long,
 * twice as long after the next one that gives up, and so on up to
 * HOLD_MAX_BACKOFF holds' time (a peer down for long costs the process
 * little), until a checkpoint is taken. */
static void hold_for_checkpoint(mlog_proc *p, bool wait_commit) {
  optimistic *o = p->opt;
  uint64_t now = mlogi_now_ms(p), most = p->cfg.retransmit_ms / 2;
  if (!wait_commit) {
    o->hold_since = o->hold_backoff = 0;
  } else if (o->hold_since == 0) {
    if (now >= o->hold_after)
      o->hold_since = now + 1; /* 0 means not holding, also at time 0 */
  } else if (now + 1 - o->hold_since >= most || o->held_n >= HOLD_MAX_FRAMES ||
             o->held_bytes >= HOLD_MAX_BYTES) {
    o->hold_since = 0;
    o->hold_backoff = o->hold_backoff ? 2 * o->hold_backoff : 1;
    if (o->hold_backoff > HOLD_MAX_BACKOFF)
      o->hold_backoff = HOLD_MAX_BACKOFF;
    o->hold_after = now + o->hold_backoff * most;
  }
}

static int poll_once(mlog_proc *p, int timeout_ms, uint64_t *count) {
  if (p->opt && p->opt->hold_since == 0 && p->opt->held_n > 0) {
    int rc = mlogi_opt_release_held(p);
    if (rc != MLOG_OK)
      return rc;
  }
  bool busy = false; /* the cap stopped a loop that still found frames */
  for (int i = 0; i < MAX_COMMITS_PER_POLL; i++) {
    size_t frames;
    /* Deliveries waiting (pipelined, or frames released from a hold just
     * now) must not wait for the first frame's timeout. */
    bool pipelined = p->wait_head != NULL || p->dlv.n > 0;
    int rc = mlogi_receive(p, i == 0 && !pipelined ? timeout_ms : 0, &frames);
    if (rc == MLOG_OK)
      rc = roll_back_orphan(p);
    if (rc == MLOG_OK && p->sb)
      rc = mlogi_sb_persist(p);
    if (rc == MLOG_OK && p->dlv.n > 0)
      rc = commit(p); /* also makes the previous commit durable */
    if (rc == MLOG_OK)
      rc = deliver_ready(p, count);
    if (rc == MLOG_OK && p->grp && p->grp->snap)
      rc = mlogi_snap_take_marker(p);
    if (rc != MLOG_OK)
      return rc;
    if (frames == 0 || p->wait_head == NULL)
      break;
    busy = i + 1 == MAX_COMMITS_PER_POLL;
  }
  /* Idle: one flush makes the rest deliverable. Busy: the next poll's
   * commit makes it durable, or its idle flush does. */
  if (p->wait_head && !busy) {
    int rc = flush(p);
    if (rc == MLOG_OK)
      rc = deliver_ready(p, count);
    if (rc != MLOG_OK)
      return rc;
  }
  /* Values the handlers took are logged before the poll returns (under
   * pessimistic logging even when nothing depends on them yet), so that a
   * crash between polls recovers exactly the state the process had. */
  if (holds_waiting(p) ||
      (p->pending_values && !(p->logger->flags & MLOG_LOGGER_EAGER))) {
    int rc = commit(p);
    if (rc == MLOG_OK)
      rc = flush(p);
    if (rc != MLOG_OK)
      return rc;
  }
  if (p->opt) {
    int rc = persist_optimistic(p);
    if (rc != MLOG_OK)
      return rc;
  }
  settle(p);
  /* The marks of outputs released here are committed before the poll
   * returns, so that a crash of the process does not release them again
   * (an OS crash still may: same seq). Digests wait for the next commit.
   * An eager logger takes them into its buffer and persists them when it is
   * due. */
  if (p->output_marks) {
    int rc = commit(p);
    if (rc != MLOG_OK)
      return rc;
  }
  if (p->grp) {
    int rc = mlogi_grp_settle(p);
    if (rc != MLOG_OK)
      return rc;
    settle(p); /* what the round or the snapshot queued */
  }
  bool due = checkpoint_due(p) || (p->sb && p->sb->want_ckpt);
  int rc = due ? take_checkpoint(p, count) : MLOG_OK;
  if (p->opt)
    hold_for_checkpoint(p, rc == MLOG_EAGAIN);
  return rc == MLOG_EAGAIN ? MLOG_OK : rc; /* optimistic: try again later */
}

int mlog_proc_poll(mlog_proc *p, int timeout_ms) {
  if (p == NULL)
    return -MLOG_EINVAL;
  if (p->broken || p->in_handler)
    return -mlogi_fail(&p->eb, MLOG_EINVAL,
                       p->broken ? "the process must be reopened after a "
                                   "failed log write"
                                 : "poll called from the handler");
  uint64_t count = 0;
  int rc = poll_once(p, timeout_ms, &count);
  return rc == MLOG_OK ? (int)(count > INT32_MAX ? INT32_MAX : count) : -rc;
}

int mlog_proc_run(mlog_proc *p, volatile int *stop) {
  while (stop == NULL || !*stop) {
    int rc = mlog_proc_poll(p, 50);
    if (rc < 0)
      return -rc;
  }
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* What the handler calls                                                   */

/* A send outside the handler is an input from the outside world: it is
 * logged (after a MARK of the handlers that ran before it, which fixes its
 * place among their sends) and durable before it leaves, and replay sends
 * it again. */
static int send_spontaneous(mlog_proc *p, uint32_t dst, const void *msg,
                            size_t len) {
  if (p->broken)
    return mlogi_fail(&p->eb, MLOG_EINVAL, "the process must be reopened");
  if (p->sb && p->sb->recovering) /* its place among the replayed sends is
                                     not known yet */
    return mlogi_fail(&p->eb, MLOG_EAGAIN,
                      "recovering: waiting for the peers' messages");
  if (p->grp && p->grp->frozen) /* a rolled back process would reuse the
                                   ssns of the messages it undid before
                                   every process has dropped them */
    return mlogi_fail(&p->eb, MLOG_EAGAIN, "a rollback round is under way");
  if (p->grp) /* nothing is replayed: nothing to log */
    return mlogi_send_logged(p, dst, p->ch[dst].send_ssn + 1, msg, len);
  channel *ch = &p->ch[dst];
  int rc = MLOG_OK;
  if (p->delivered_rsn > p->marked_rsn) {
    rc = add_control(p, MLOGI_CTL_MARK, 0, p->delivered_rsn, NULL, 0);
    p->marked_rsn = p->delivered_rsn;
  }
  /* Its place: after delivery rsn of interval incarnation (if that
   * interval is rolled back, replay sends it again with the next ssn). */
  mlog_record rec = {.type = MLOG_REC_PAYLOAD,
                     .src = p->id,
                     .dst = dst,
                     .incarnation = p->interval_inc,
                     .ssn = ch->send_ssn + 1,
                     .rsn = p->delivered_rsn,
                     .payload = msg,
                     .payload_len = (uint32_t)len};
  if (rc == MLOG_OK && mlogi_recvec_add(&p->ctl, &rec) != MLOG_OK)
    rc = mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for a send");
  if (rc == MLOG_OK)
    rc = commit(p);
  if (rc == MLOG_OK)
    rc = flush(p);
  if (rc != MLOG_OK)
    return rc;
  return mlogi_send_logged(p, dst, rec.ssn, msg, len);
}

/* The payload room the protocol leaves a message: optimistic frames carry a
 * dependency vector, sender-based replay answers an rsn header. */
static size_t send_room(const mlog_proc *p) {
  size_t header = p->opt  ? MLOGI_DV_MAX_BYTES(p->n)
                  : p->sb ? MLOGI_RSN_HEADER_MAX
                          : 0;
  return MLOG_PAYLOAD_MAX - header;
}

int mlog_send(mlog_proc *p, uint32_t dst, const void *msg, size_t len) {
  if (p == NULL || dst >= p->n || dst == p->id || (len && msg == NULL))
    return p ? mlogi_fail(&p->eb, MLOG_EINVAL, "bad send to %u", dst)
             : MLOG_EINVAL;
  if (len > send_room(p))
    return mlogi_fail(&p->eb, MLOG_ETOOBIG,
                      "a send of %zu bytes: at most %zu under %s", len,
                      send_room(p), p->logger->name);
  if (!p->in_handler) /* replay sends its spontaneous ones itself */
    return send_spontaneous(p, dst, msg, len);
  return mlogi_send_logged(p, dst, p->ch[dst].send_ssn + 1, msg, len);
}

void mlogi_proc_set_faults(mlog_proc *p, mlogi_faults *faults) {
  mlogi_store_set_faults(mlogi_log_store(p->log), faults);
}

int mlog_output(mlog_proc *p, const void *buf, size_t len) {
  if (p == NULL || (len && buf == NULL) || len > MLOG_PAYLOAD_MAX)
    return MLOG_EINVAL;
  uint64_t seq = ++p->output_seq;
  if (p->replay && seq <= p->replay->outputs)
    return MLOG_OK; /* released before the crash */
  outq *o = malloc(sizeof *o + len);
  if (o == NULL)
    return mlogi_fail(&p->eb, MLOG_ENOMEM, "out of memory for an output");
  *o = (outq){.seq = seq,
              .needs_lsn = p->pending_values ? MLOGI_AFTER_NEXT_APPEND : 0,
              .rsn = p->rsn,
              .len = (uint32_t)len};
  if (len)
    memcpy(o->data, buf, len);
  if (p->out_tail)
    p->out_tail->next = o;
  else
    p->out_head = o;
  p->out_tail = o;
  return MLOG_OK;
}

int mlog_nondet(mlog_proc *p, void *buf, size_t len,
                void (*fill)(void *arg, void *buf, size_t len), void *arg) {
  if (p == NULL || buf == NULL || fill == NULL || len > MLOG_PAYLOAD_MAX ||
      !p->in_handler)
    return p ? mlogi_fail(&p->eb, MLOG_EINVAL,
                          "non-deterministic values are taken in the handler")
             : MLOG_EINVAL;
  uint64_t seq = p->nondet_seq++;
  if (p->grp) { /* nothing is replayed: nothing to log */
    fill(arg, buf, len);
    return MLOG_OK;
  }
  if (p->replay) {
    const mlog_record *r = stashed(p, MLOG_REC_NONDET, 0, p->rsn, seq);
    if (r && r->payload_len == len) {
      memcpy(buf, r->payload, len);
      return MLOG_OK;
    }
    p->nondet_diverged = r != NULL || !p->replay->tail;
    if (p->nondet_diverged)
      return mlogi_fail(&p->eb, MLOG_EDIVERGED,
                        "replay diverged at rsn %llu: value %llu of %zu bytes "
                        "is not the one logged",
                        (unsigned long long)p->rsn, (unsigned long long)seq,
                        len);
  }
  fill(arg, buf, len);
  mlog_record rec = {.type = MLOG_REC_NONDET,
                     .src = p->id,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .ssn = seq,
                     .rsn = p->rsn,
                     .payload = buf,
                     .payload_len = (uint32_t)len};
  int rc = mlogi_recvec_add(&p->ctl, &rec);
  if (rc != MLOG_OK)
    return mlogi_fail(&p->eb, rc, "out of memory for a logged value");
  p->pending_values++;
  return MLOG_OK;
}

static void fill_clock(void *arg, void *buf, size_t len) {
  const mlog_proc_config *c = arg;
  uint64_t ns;
  if (c->clock) {
    c->clock(c->source_arg, &ns);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  }
  memcpy(buf, &ns, len);
}

static void fill_random(void *arg, void *buf, size_t len) {
  const mlog_proc_config *c = arg;
  if (c->entropy)
    c->entropy(c->source_arg, buf, len);
  else
    randombytes_buf(buf, len);
}

int mlog_now(mlog_proc *p, uint64_t *ns) {
  if (p == NULL || ns == NULL)
    return MLOG_EINVAL;
  return mlog_nondet(p, ns, sizeof *ns, fill_clock, &p->cfg);
}

int mlog_random(mlog_proc *p, uint64_t *value) {
  if (p == NULL || value == NULL)
    return MLOG_EINVAL;
  return mlog_nondet(p, value, sizeof *value, fill_random, &p->cfg);
}

int mlog_buf_append(mlog_buf *buf, const void *data, size_t len) {
  if (buf == NULL || (len && data == NULL))
    return MLOG_EINVAL;
  int rc = mlogi_grow((void **)&buf->data, &buf->cap, buf->len + len, 1);
  if (rc != MLOG_OK)
    return rc;
  if (len)
    memcpy(buf->data + buf->len, data, len);
  buf->len += len;
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* Open, recover, close                                                     */

static int check_config(const mlog_proc_config *cfg, const mlog_app *app,
                        mlogi_errbuf *eb) {
  const unsigned known = MLOG_PROC_DIGESTS | MLOG_PROC_NOSYNC |
                         MLOG_PROC_UNSAFE | MLOG_PROC_NO_THREADS |
                         MLOG_PROC_SENDER_DURABLE | MLOG_PROC_KOO_TOUEG;
  if (cfg == NULL || app == NULL || app->deliver == NULL ||
      app->snapshot == NULL || app->restore == NULL)
    return mlogi_fail(eb, MLOG_EINVAL,
                      "a config and the deliver, snapshot "
                      "and restore callbacks are required");
  if (cfg->dirpath == NULL || cfg->transport == NULL)
    return mlogi_fail(eb, MLOG_EINVAL, "no log directory or no transport");
  if (cfg->group_size == 0 || cfg->id >= cfg->group_size)
    return mlogi_fail(eb, MLOG_EINVAL, "process id %u in a group of %u",
                      cfg->id, cfg->group_size);
  if (cfg->key && cfg->key_file)
    return mlogi_fail(eb, MLOG_EINVAL, "give a key or a key file, not both");
  if (cfg->flags & ~known)
    return mlogi_fail(eb, MLOG_EINVAL, "unknown process flags 0x%x",
                      cfg->flags & ~known);
  if ((cfg->flags & MLOG_PROC_NOSYNC) && !(cfg->flags & MLOG_PROC_UNSAFE))
    return mlogi_fail(eb, MLOG_EINVAL,
                      "MLOG_PROC_NOSYNC loses logged "
                      "messages in an OS crash: add MLOG_PROC_UNSAFE to "
                      "insist");
  const mlog_transport_ops *t = cfg->transport;
  if (t->version < 1 || t->version > MLOG_TRANSPORT_VERSION || !t->open ||
      !t->send || !t->recv || !t->now_ms || !t->close)
    return mlogi_fail(eb, MLOG_EINVAL, "incomplete transport ops");
  return MLOG_OK;
}

static int open_log(mlog_proc *p, mlogi_errbuf *eb) {
  mlog_log_config lc = {.process_id = p->id,
                        .group_size = p->n,
                        .protocol = p->logger->name,
                        .key = p->cfg.key ? &p->key : NULL};
  unsigned flags = MLOG_LOG_CREATE | p->logger->log_flags;
  if (p->cfg.flags & MLOG_PROC_NOSYNC)
    flags |= MLOG_LOG_NOSYNC;
  int rc = mlog_log_open(p->cfg.dirpath, flags, &lc, &p->log);
  if (rc != MLOG_OK)
    return mlogi_fail(eb, rc, "%s", mlog_log_errmsg(NULL));
  mlog_log_info info;
  rc = mlog_log_get_info(p->log, &info);
  if (rc != MLOG_OK)
    return mlogi_fail(eb, rc, "%s", mlog_log_errmsg(p->log));
  if (info.process_id != p->id || info.group_size != p->n ||
      strcmp(info.protocol, p->logger->name) != 0)
    return mlogi_fail(eb, MLOG_EINVAL,
                      "%s holds the log of process %u of %u under '%s', not "
                      "%u of %u under '%s'",
                      p->cfg.dirpath, info.process_id, info.group_size,
                      info.protocol, p->id, p->n, p->logger->name);
  p->incarnation = info.incarnation;
  return MLOG_OK;
}

/* The transport opens before the log is touched: a transport that refuses
 * its config must not leave a new log behind. */
static int open_transport(mlog_proc *p, const void *transport_config,
                          mlogi_errbuf *eb) {
  p->tp_self = calloc(1, p->tp->size ? p->tp->size : 1);
  if (p->tp_self == NULL)
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  int rc = p->tp->open(p->tp_self, transport_config, p->id, p->n);
  if (rc != MLOG_OK) {
    free(p->tp_self);
    p->tp_self = NULL;
    return mlogi_fail(eb, rc, "transport '%s' failed to open: %s", p->tp->name,
                      mlog_strerror(rc));
  }
  return MLOG_OK;
}

static int open_logger(mlog_proc *p, mlogi_errbuf *eb) {
  p->logger_self = calloc(1, p->logger->size ? p->logger->size : 1);
  if (p->logger_self == NULL)
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  mlog_logger_params params = {
      .inline_flush = (p->cfg.flags & MLOG_PROC_NO_THREADS) != 0,
      .flush_ms = p->cfg.flush_ms ? p->cfg.flush_ms : DEFAULT_FLUSH_MS};
  int rc = p->logger->open(p->logger_self, p->log, &params);
  if (rc != MLOG_OK) {
    free(p->logger_self);
    p->logger_self = NULL;
    return mlogi_fail(eb, rc, "logger '%s' failed to open", p->logger->name);
  }
  return MLOG_OK;
}

int mlogi_restore_and_replay(mlog_proc *p) {
  mlog_log_checkpoint ck;
  int rc = mlog_log_get_checkpoint(p->log, &ck);
  uint64_t covered = 0;
  if (rc == MLOG_OK) {
    covered = ck.covered_lsn;
    rc = mlogi_state_restore(p, ck.state, ck.len);
    mlog_log_checkpoint_free(&ck);
  } else if (rc == MLOG_ENOTFOUND) {
    rc = p->app.restore(p->app_arg, NULL, 0) ? MLOG_EAPP : MLOG_OK;
    if (rc == MLOG_EAPP)
      mlogi_fail(&p->eb, rc, "the restore callback failed");
  } else {
    mlogi_fail(&p->eb, rc, "restoring a checkpoint: %s",
               mlog_log_errmsg(p->log));
  }
  if (rc == MLOG_OK && (covered > 0 || mlog_log_next_lsn(p->log) > 1))
    rc = mlogi_replay(p, covered);
  if (rc == MLOG_OK && p->opt) /* what replay ran is in the log */
    rc = mlogi_opt_self(p);
  return rc;
}

/* Restore the newest valid checkpoint (or the initial state), replay what
 * the log holds after it, and start a new incarnation. */
static int recover(mlog_proc *p, mlogi_errbuf *eb) {
  uint64_t t0 = mlogi_now_ms(p);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  /* A log that existed had a process before: even with no record in it
   * (an optimistic one may have delivered and sent before persisting), its
   * incarnation ends. */
  bool has_past = !mlog_log_created(p->log);
  /* Replay writes nothing: what the replayed tail logged (fresh values,
   * digests) goes with the next commit, and the sends and outputs that
   * depend on it wait for that commit. Ending the incarnation is then
   * recovery's only write, so a failed recovery leaves the log as it was. */
  int rc =
      p->grp ? mlogi_grp_recover(p, has_past) : mlogi_restore_and_replay(p);
  if (rc == MLOG_OK && p->sb) /* it goes on when the peers answer */
    rc = mlogi_sb_start_recovery(p, has_past);
  if (rc != MLOG_OK)
    return mlogi_fail(eb, rc, "%s", p->eb.msg);
  p->stats.recovered_rsn = p->rsn;
  if (has_past && p->sb == NULL && p->grp == NULL) {
    rc = mlog_log_end_incarnation(p->log, p->delivered_rsn);
    if (rc != MLOG_OK)
      return mlogi_fail(eb, rc, "%s", mlog_log_errmsg(p->log));
    p->incarnation = mlog_log_incarnation(p->log);
    if (p->opt && mlogi_opt_self(p) != MLOG_OK)
      return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  p->stats.recovered = has_past;
  p->stats.recovery_us = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u +
                         (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000u;
  p->last_ckpt_ms = t0;
  return MLOG_OK;
}

/* Open or recover; the detail of a failure goes to *eb. */
static int proc_open(const mlog_proc_config *cfg, const mlog_app *app,
                     void *app_arg, mlog_proc **out, mlogi_errbuf *eb) {
  int rc = check_config(cfg, app, eb);
  if (rc != MLOG_OK)
    return rc;
  const char *proto = cfg->protocol ? cfg->protocol : "pessimistic-receiver";
  const mlog_logger_ops *logger = mlog_logger_find(proto);
  if (logger == NULL)
    return mlogi_fail(eb, MLOG_EINVAL, "unknown protocol '%s'", proto);
  if ((cfg->flags & MLOG_PROC_KOO_TOUEG) &&
      !(logger->flags & MLOG_LOGGER_COORDINATED))
    return mlogi_fail(eb, MLOG_EINVAL,
                      "MLOG_PROC_KOO_TOUEG is an option of 'coordinated', "
                      "not of '%s'",
                      proto);
  mlog_proc *p = calloc(1, sizeof *p);
  if (p == NULL || (p->ch = calloc(cfg->group_size, sizeof *p->ch)) == NULL) {
    free(p);
    return mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  }
  p->cfg = *cfg;
  p->cfg.key_file = NULL; /* borrowed for the open call only */
  if (cfg->key) {
    p->key = *cfg->key;
    p->cfg.key = &p->key;
  } else if (cfg->key_file) {
    rc = mlog_key_load(cfg->key_file, &p->key);
    if (rc != MLOG_OK) {
      free(p->ch);
      free(p);
      return mlogi_fail(eb, rc, "key file %s: %s", cfg->key_file,
                        rc == MLOG_EINVAL ? "not a 32-byte key"
                                          : mlog_strerror(rc));
    }
    p->cfg.key = &p->key;
  }
  p->cfg.transport_config = NULL; /* borrowed for the open call only */
  p->cfg.retransmit_ms =
      cfg->retransmit_ms ? cfg->retransmit_ms : DEFAULT_RETRANSMIT_MS;
  p->cfg.ckpt_keep = cfg->ckpt_keep ? cfg->ckpt_keep : DEFAULT_KEEP;
  p->app = *app;
  p->app_arg = app_arg;
  p->id = cfg->id;
  p->n = cfg->group_size;
  p->logger = logger;
  p->tp = cfg->transport;
  rc = open_transport(p, cfg->transport_config, eb);
  if (rc == MLOG_OK)
    rc = open_log(p, eb);
  if (rc == MLOG_OK && (logger->flags & MLOG_LOGGER_SENDER))
    rc = mlogi_sb_open(p, (cfg->flags & MLOG_PROC_SENDER_DURABLE) != 0) ==
                 MLOG_OK
             ? MLOG_OK
             : mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  if (rc == MLOG_OK &&
      (logger->flags & (MLOG_LOGGER_COORDINATED | MLOG_LOGGER_INDEPENDENT)))
    rc = mlogi_grp_open(p, (logger->flags & MLOG_LOGGER_COORDINATED) != 0,
                        (cfg->flags & MLOG_PROC_KOO_TOUEG) != 0);
  if (rc != MLOG_OK && p->grp && *eb->msg == '\0')
    rc = mlogi_fail(eb, rc, "%s", *p->eb.msg ? p->eb.msg : "out of memory");
  if (rc == MLOG_OK && (logger->flags & MLOG_LOGGER_EAGER))
    rc = mlogi_opt_open(p) == MLOG_OK ? MLOG_OK
                                      : mlogi_fail(eb, MLOG_ENOMEM,
                                                   "out of "
                                                   "memory");
  if (rc == MLOG_OK && p->opt && mlogi_opt_self(p) != MLOG_OK)
    rc = mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
  if (rc == MLOG_OK)
    rc = open_logger(p, eb);
  if (rc == MLOG_OK)
    rc = recover(p, eb);
  if (rc != MLOG_OK) {
    p->broken = true; /* a failed open writes nothing (no COUNTS record) */
    mlog_proc_close(p);
    return rc;
  }
  mlogi_channels_hello(p);
  settle(p);
  *out = p;
  return MLOG_OK;
}

int mlog_proc_open(const mlog_proc_config *cfg, const mlog_app *app,
                   void *app_arg, mlog_proc **out) {
  mlogi_errbuf eb = {{0}}; /* the library's own calls use the thread's */
  if (out == NULL)
    return mlogi_fail(mlogi_thread_errbuf(), MLOG_EINVAL,
                      "no place for the handle");
  *out = NULL;
  int rc = proc_open(cfg, app, app_arg, out, &eb);
  if (rc != MLOG_OK)
    *mlogi_thread_errbuf() = eb;
  return rc;
}

void mlogi_reset_volatile(mlog_proc *p) {
  for (uint32_t j = 0; p->ch && j < p->n; j++) {
    for (outmsg *m = p->ch[j].out_head, *next; m; m = next) {
      next = m->next;
      free(m);
    }
    p->ch[j] = (channel){0};
  }
  for (outq *o = p->out_head, *next; o; o = next) {
    next = o->next;
    free(o);
  }
  p->out_head = p->out_tail = NULL;
  for (waiting *w = p->wait_head, *next; w; w = next) {
    next = w->next;
    mlogi_recvec_free(&w->recs);
    free(w);
  }
  p->wait_head = p->wait_tail = NULL;
  mlogi_recvec_clear(&p->ctl);
  mlogi_recvec_clear(&p->dlv);
  p->rsn = p->next_rsn = p->delivered_rsn = p->marked_rsn = 0;
  p->interval_inc = 0;
  p->pending_values = p->output_seq = p->output_logged = 0;
  p->output_marks = false;
  if (p->opt)
    mlogi_opt_reset(p);
}

/* Checkpoint-only protocols: a clean close leaves the process's counts in
 * its log (offline analysis: the state it ended in). Best effort: a failure
 * loses only that. (The logging protocols' close is a crash: what is not
 * durable stays so.) */
static void log_counts(mlog_proc *p) {
  if (p->grp == NULL || p->broken || p->logger_self == NULL || p->in_handler)
    return;
  uint8_t *buf = calloc(p->n, 16);
  if (buf == NULL)
    return;
  for (uint32_t j = 0; j < p->n; j++) {
    mlogi_put_le64(buf + 16 * j, p->ch[j].send_ssn);
    mlogi_put_le64(buf + 16 * j + 8, p->ch[j].recv_mark);
  }
  mlog_record rec = {.type = MLOG_REC_CONTROL,
                     .flags = MLOGI_CTL_COUNTS,
                     .src = p->id,
                     .dst = p->id,
                     .incarnation = p->incarnation,
                     .rsn = p->rsn,
                     .payload = buf,
                     .payload_len = 16 * p->n};
  if (p->logger->append(p->logger_self, &rec, 1) == MLOG_OK)
    (void)p->logger->flush(p->logger_self);
  free(buf);
}

void mlog_proc_close(mlog_proc *p) {
  if (p == NULL)
    return;
  log_counts(p);
  if (p->tp_self) {
    p->tp->close(p->tp_self);
    free(p->tp_self);
  }
  if (p->logger_self) {
    if (p->logger->close)
      p->logger->close(p->logger_self);
    free(p->logger_self);
  }
  mlog_log_close(p->log);
  mlogi_reset_volatile(p);
  mlogi_opt_free(p);
  mlogi_sb_free(p);
  mlogi_grp_free(p);
  mlogi_recvec_free(&p->ctl);
  mlogi_recvec_free(&p->dlv);
  free(p->all);
  sodium_memzero(&p->key, sizeof p->key);
  free(p->ch);
  free(p);
}

void mlogi_proc_crash(mlog_proc *p) {
  if (p == NULL)
    return;
  p->broken = true; /* writes nothing more */
  mlogi_proc_set_faults(p, NULL);
  mlog_proc_close(p);
}

const char *mlog_proc_errmsg(const mlog_proc *p) {
  return p ? p->eb.msg : mlogi_thread_errbuf()->msg;
}

bool mlog_proc_suspects(const mlog_proc *p, uint32_t id) {
  if (p == NULL || id >= p->n || id == p->id || p->tp->version < 2 ||
      p->tp->suspects == NULL)
    return false;
  return p->tp->suspects(p->tp_self, id);
}

void mlog_proc_get_stats(const mlog_proc *p, mlog_proc_stats *st) {
  *st = p->stats;
  st->incarnation = p->incarnation;
  st->rsn = p->rsn;
  st->interval_incarnation = p->interval_inc;
  st->committed_rsn = p->opt ? p->opt->committed_rsn : p->delivered_rsn;
  st->recovering = p->sb && p->sb->recovering;
  st->rsns_lost = 0;
  for (uint32_t j = 0; p->sb && j < p->n; j++)
    st->rsns_lost += p->sb->peers[j].lost;
  if (p->grp) {
    st->recovering = p->grp->restarted;
    st->committed_rsn = p->grp->snap ? p->grp->snap->committed_rsn : p->rsn;
    st->snapshot = p->grp->snap ? p->grp->snap->recorded : 0;
    st->snapshot_complete = p->grp->snap ? p->grp->snap->global : 0;
    st->in_round = p->grp->frozen;
    st->in_two_phase =
        p->grp->kt && (p->grp->kt->busy || p->grp->kt->forwarding);
  }
}
