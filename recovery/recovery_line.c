/* recovery_line.c - the recovery line by rollback propagation */
#include <stdlib.h>

#include "recovery/recovery_line.h"

/*
 * Every process starts at its starting position: a failed one at its
 * newest checkpoint, a live one at its end. While some message is received
 * inside the cut and sent outside it, its receiver moves back to its latest
 * checkpoint at or before that receive. Every move is forced (no consistent
 * cut below the current one keeps the receiver further ahead), and the
 * initial checkpoints receive nothing, so this ends at the maximum
 * consistent cut.
 *
 * Positions only move back, so a message becomes "sent outside" once, when
 * its sender's position passes below its send: each sender keeps its
 * messages sorted by send event and a cursor below which they are all sent
 * inside. A worklist holds the processes whose cursor is behind their
 * position. Every message is looked at once, every rollback is one binary
 * search over the receiver's checkpoints.
 *
 * Complexity: O(P + M log M) time for the sort plus O(M log C) for the
 * propagation (P processes, M messages, C checkpoints per process), and
 * O(P + M) memory besides the input and the result. No term grows with the
 * number of rollbacks.
 */

/* A message in its sender's list: the key it is sorted by, and its index. */
typedef struct sent_msg {
  uint64_t send_at;
  size_t msg;
} sent_msg;

/* The state of the propagation. */
typedef struct propagation {
  const mlogi_rl_process *procs;
  const mlogi_rl_message *msgs;
  uint64_t *pos;      /* [P] event position of each process in the cut */
  uint64_t *ckpt;     /* [P] its checkpoint number, or MLOGI_RL_END */
  size_t *first_sent; /* [P + 1] each sender's range in `sent` */
  size_t *cursor;     /* [P] sent[first_sent[p] .. cursor[p]) is inside */
  sent_msg *sent;     /* [M] messages grouped by sender, by send event */
  uint32_t *work;     /* [P] processes whose cursor may be behind */
  bool *queued;       /* [P] */
  uint32_t n_work;
} propagation;

static int check_process(const mlogi_rl_process *pr, uint32_t p,
                         mlogi_errbuf *eb) {
  if (pr->n_checkpoints == 0 || pr->ckpt_at == NULL)
    return mlogi_fail(eb, MLOG_EINVAL, "process %u has no checkpoints", p);
  if (pr->ckpt_at[0] != 0)
    return mlogi_fail(eb, MLOG_EINVAL,
                      "process %u: its initial checkpoint is not at event 0",
                      p);
  for (uint64_t k = 0; k < pr->n_checkpoints; k++) {
    if (pr->ckpt_at[k] > pr->n_events)
      return mlogi_fail(
          eb, MLOG_EINVAL, "process %u: checkpoint %llu past its %llu events",
          p, (unsigned long long)k, (unsigned long long)pr->n_events);
    if (k > 0 && pr->ckpt_at[k] < pr->ckpt_at[k - 1])
      return mlogi_fail(eb, MLOG_EINVAL,
                        "process %u: checkpoint %llu before the one before it",
                        p, (unsigned long long)k);
  }
  return MLOG_OK;
}

static int check_message(const mlogi_rl_process *procs, uint32_t n_procs,
                         const mlogi_rl_message *m, size_t i,
                         mlogi_errbuf *eb) {
  if (m->sender >= n_procs || m->receiver >= n_procs)
    return mlogi_fail(eb, MLOG_EINVAL, "message %zu: unknown process", i);
  if (m->send_at >= procs[m->sender].n_events)
    return mlogi_fail(eb, MLOG_EINVAL,
                      "message %zu: sent past its sender's events", i);
  if (m->recv_at != MLOGI_RL_NOT_RECEIVED &&
      m->recv_at >= procs[m->receiver].n_events)
    return mlogi_fail(eb, MLOG_EINVAL,
                      "message %zu: received past its receiver's events", i);
  return MLOG_OK;
}

static int check_input(const mlogi_rl_process *procs, uint32_t n_procs,
                       const mlogi_rl_message *msgs, size_t n_msgs,
                       mlogi_errbuf *eb) {
  if ((n_procs > 0 && procs == NULL) || (n_msgs > 0 && msgs == NULL))
    return mlogi_fail(eb, MLOG_EINVAL, "no processes or messages given");
  for (uint32_t p = 0; p < n_procs; p++) {
    int rc = check_process(&procs[p], p, eb);
    if (rc != MLOG_OK)
      return rc;
  }
  for (size_t i = 0; i < n_msgs; i++) {
    int rc = check_message(procs, n_procs, &msgs[i], i, eb);
    if (rc != MLOG_OK)
      return rc;
  }
  return MLOG_OK;
}

static int by_send_event(const void *a, const void *b) {
  const sent_msg *x = a, *y = b;
  return (x->send_at > y->send_at) - (x->send_at < y->send_at);
}

/* Whether list[0..n) is in send order already: a trace lists each
 * process's sends in order, and the counting sort below keeps it, so the
 * sort is mostly not needed (the check is linear, the sort is not). */
static bool in_send_order(const sent_msg *list, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (list[i].send_at < list[i - 1].send_at)
      return false;
  return true;
}

/* Group the messages by sender (a counting sort, which keeps their order),
 * each group by send event. */
static void sort_by_sender(propagation *pg, uint32_t n_procs, size_t n_msgs) {
  for (size_t i = 0; i < n_msgs; i++)
    pg->first_sent[pg->msgs[i].sender + 1]++;
  for (uint32_t p = 0; p < n_procs; p++)
    pg->first_sent[p + 1] += pg->first_sent[p];
  for (uint32_t p = 0; p < n_procs; p++)
    pg->cursor[p] = pg->first_sent[p];
  for (size_t i = 0; i < n_msgs; i++) {
    uint32_t s = pg->msgs[i].sender;
    pg->sent[pg->cursor[s]++] = (sent_msg){pg->msgs[i].send_at, i};
  }
  for (uint32_t p = 0; p < n_procs; p++) {
    sent_msg *list = pg->sent + pg->first_sent[p];
    size_t n = pg->first_sent[p + 1] - pg->first_sent[p];
    if (!in_send_order(list, n))
      qsort(list, n, sizeof *list, by_send_event);
  }
}

static void enqueue(propagation *pg, uint32_t p) {
  if (!pg->queued[p]) {
    pg->queued[p] = true;
    pg->work[pg->n_work++] = p;
  }
}

/* Start every process at its starting position, all of them queued (their
 * cursors are at the end of their lists). */
static void start(propagation *pg, uint32_t n_procs) {
  for (uint32_t p = 0; p < n_procs; p++) {
    const mlogi_rl_process *pr = &pg->procs[p];
    pg->ckpt[p] = pr->failed ? pr->n_checkpoints - 1 : MLOGI_RL_END;
    pg->pos[p] = pr->failed ? pr->ckpt_at[pr->n_checkpoints - 1] : pr->n_events;
    enqueue(pg, p);
  }
}

/* The latest checkpoint of `pr` that sits at or before event `at`
 * (checkpoint 0 sits at 0). */
static uint64_t latest_checkpoint_at_or_before(const mlogi_rl_process *pr,
                                               uint64_t at) {
  uint64_t lo = 0, hi = pr->n_checkpoints; /* answer in [lo, hi) */
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (pr->ckpt_at[mid] <= at)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* Message m is now sent outside the cut: if it is received inside, move
 * its receiver back before the receive. */
static void undo_receive(propagation *pg, const mlogi_rl_message *m) {
  uint32_t q = m->receiver;
  if (m->recv_at == MLOGI_RL_NOT_RECEIVED || m->recv_at >= pg->pos[q])
    return;
  const mlogi_rl_process *pr = &pg->procs[q];
  uint64_t k = latest_checkpoint_at_or_before(pr, m->recv_at);
  pg->ckpt[q] = k;
  pg->pos[q] = pr->ckpt_at[k]; /* at most recv_at: below pos[q] */
  enqueue(pg, q);
}

/* Bring p's cursor down to its position, undoing the receives of every
 * message it passes. */
static void catch_up(propagation *pg, uint32_t p) {
  while (pg->cursor[p] > pg->first_sent[p] &&
         pg->sent[pg->cursor[p] - 1].send_at >= pg->pos[p]) {
    pg->cursor[p]--;
    undo_receive(pg, &pg->msgs[pg->sent[pg->cursor[p]].msg]);
  }
}

static void propagate(propagation *pg) {
  while (pg->n_work > 0) {
    uint32_t p = pg->work[--pg->n_work];
    pg->queued[p] = false;
    catch_up(pg, p);
  }
}

/* Rolled back past, and the domino flag. */
static void count_rollbacks(const propagation *pg, uint32_t n_procs,
                            mlogi_rl_result *out) {
  out->domino = false;
  for (uint32_t p = 0; p < n_procs; p++) {
    uint64_t k = pg->ckpt[p];
    out->line[p] = k;
    out->rolled_back_past[p] =
        k == MLOGI_RL_END ? 0 : pg->procs[p].n_checkpoints - 1 - k;
    out->domino |= out->rolled_back_past[p] > 0;
  }
}

static uint64_t starting_pos(const mlogi_rl_process *pr) {
  return pr->failed ? pr->ckpt_at[pr->n_checkpoints - 1] : pr->n_events;
}

static bool is_orphan(const propagation *pg, const mlogi_rl_message *m) {
  return m->recv_at != MLOGI_RL_NOT_RECEIVED &&
         m->recv_at < starting_pos(&pg->procs[m->receiver]) &&
         m->send_at >= pg->pos[m->sender];
}

static bool is_lost(const propagation *pg, const mlogi_rl_message *m) {
  return m->recv_at != MLOGI_RL_NOT_RECEIVED &&
         m->send_at < pg->pos[m->sender] && m->recv_at >= pg->pos[m->receiver];
}

/* The orphan and lost messages, in index order. */
static int list_messages(const propagation *pg, size_t n_msgs,
                         mlogi_rl_result *out) {
  size_t n_orphans = 0, n_lost = 0;
  for (size_t i = 0; i < n_msgs; i++) {
    n_orphans += is_orphan(pg, &pg->msgs[i]);
    n_lost += is_lost(pg, &pg->msgs[i]);
  }
  out->orphans = malloc((n_orphans > 0 ? n_orphans : 1) * sizeof(size_t));
  out->lost = malloc((n_lost > 0 ? n_lost : 1) * sizeof(size_t));
  if (out->orphans == NULL || out->lost == NULL)
    return MLOG_ENOMEM;
  for (size_t i = 0; i < n_msgs; i++) {
    if (is_orphan(pg, &pg->msgs[i]))
      out->orphans[out->n_orphans++] = i;
    if (is_lost(pg, &pg->msgs[i]))
      out->lost[out->n_lost++] = i;
  }
  return MLOG_OK;
}

static void free_propagation(propagation *pg) {
  free(pg->pos);
  free(pg->ckpt);
  free(pg->first_sent);
  free(pg->cursor);
  free(pg->sent);
  free(pg->work);
  free(pg->queued);
}

/* calloc that never asks for 0 bytes. */
static void *zalloc(size_t n, size_t size) {
  return calloc(n > 0 ? n : 1, size);
}

static bool alloc_propagation(propagation *pg, uint32_t n_procs,
                              size_t n_msgs) {
  pg->pos = zalloc(n_procs, sizeof *pg->pos);
  pg->ckpt = zalloc(n_procs, sizeof *pg->ckpt);
  pg->first_sent = zalloc((size_t)n_procs + 1, sizeof *pg->first_sent);
  pg->cursor = zalloc(n_procs, sizeof *pg->cursor);
  pg->sent = zalloc(n_msgs, sizeof *pg->sent);
  pg->work = zalloc(n_procs, sizeof *pg->work);
  pg->queued = zalloc(n_procs, sizeof *pg->queued);
  return pg->pos && pg->ckpt && pg->first_sent && pg->cursor && pg->sent &&
         pg->work && pg->queued;
}

int mlogi_recovery_line(const mlogi_rl_process *procs, uint32_t n_procs,
                        const mlogi_rl_message *msgs, size_t n_msgs,
                        mlogi_rl_result *out, mlogi_errbuf *eb) {
  *out = (mlogi_rl_result){0};
  int rc = check_input(procs, n_procs, msgs, n_msgs, eb);
  if (rc != MLOG_OK)
    return rc;
  propagation pg = {.procs = procs, .msgs = msgs};
  out->line = zalloc(n_procs, sizeof *out->line);
  out->rolled_back_past = zalloc(n_procs, sizeof *out->rolled_back_past);
  if (!alloc_propagation(&pg, n_procs, n_msgs) || out->line == NULL ||
      out->rolled_back_past == NULL) {
    rc = mlogi_fail(eb, MLOG_ENOMEM, "out of memory");
    goto free_propagation;
  }
  sort_by_sender(&pg, n_procs, n_msgs);
  start(&pg, n_procs);
  propagate(&pg);
  count_rollbacks(&pg, n_procs, out);
  rc = list_messages(&pg, n_msgs, out);
  if (rc != MLOG_OK)
    rc = mlogi_fail(eb, rc, "out of memory");
free_propagation:
  free_propagation(&pg);
  return rc;
}

void mlogi_rl_result_free(mlogi_rl_result *r) {
  free(r->line);
  free(r->rolled_back_past);
  free(r->orphans);
  free(r->lost);
  *r = (mlogi_rl_result){0};
}
