/* recovery_line.h - the newest consistent checkpoints after failures */
#ifndef MLOG_RECOVERY_RECOVERY_LINE_H
#define MLOG_RECOVERY_RECOVERY_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

/*
 * The recovery line of a group of processes without message logging: after
 * some processes failed, the newest set of checkpoints, one per process,
 * that no message crosses backwards. Pure computation: no I/O, no
 * allocation left behind but the result.
 *
 * Each process has a history of events numbered from 0 (its sends, its
 * receives and anything else it did). A checkpoint holds the state before
 * the event it sits at: the events numbered below it happened in it. The
 * end of the history (its current state) sits at the number of events.
 * Checkpoint 0 is the initial state and sits at 0.
 */

/* A position in a line that is the process's current state, not one of
 * its checkpoints. */
#define MLOGI_RL_END UINT64_MAX

/* The receive event of a message nobody received (it is in transit). */
#define MLOGI_RL_NOT_RECEIVED UINT64_MAX

/* One process of the group. */
typedef struct mlogi_rl_process {
  uint64_t n_events;       /* the length of its history */
  uint64_t n_checkpoints;  /* at least 1: checkpoint 0 is the initial state */
  const uint64_t *ckpt_at; /* [n_checkpoints]: the event each checkpoint sits
                              at; 0 first, non-decreasing, at most n_events;
                              borrowed for the call */
  bool failed; /* restarts from its newest checkpoint (its current state is
                  lost); a live process starts from its current state */
} mlogi_rl_process;

/* One message: sent by event send_at of process `sender`, received by event
 * recv_at of `receiver` (or MLOGI_RL_NOT_RECEIVED). */
typedef struct mlogi_rl_message {
  uint32_t sender, receiver;
  uint64_t send_at, recv_at;
} mlogi_rl_message;

/* What the computation finds. Arrays are owned by the result: free them
 * with mlogi_rl_result_free. */
typedef struct mlogi_rl_result {
  uint64_t *line; /* [n_procs] the checkpoint number of each process in the
                     line, or MLOGI_RL_END for a live process that keeps its
                     current state (never for a failed one) */
  uint64_t *rolled_back_past; /* [n_procs] its checkpoints newer than its
                                 position in the line (0 at END) */
  bool domino;     /* some process rolled back past at least one checkpoint */
  size_t *orphans; /* message indices, ascending: received before the
                      receiver's starting position, sent after the sender's
                      position in the line */
  size_t n_orphans;
  size_t *lost; /* message indices, ascending: received, sent inside the
                   line and received outside it */
  size_t n_lost;
} mlogi_rl_result;

/* Compute the recovery line of `procs` (n_procs of them) given `msgs`
 * (n_msgs), both borrowed for the call, into *out (which the caller frees
 * with mlogi_rl_result_free, also after a failure).
 *
 * The line is the maximum consistent cut of checkpoint positions (END
 * allowed for live processes) at or below every process's starting
 * position: no message is received inside it (before the receiver's
 * position) and sent outside it (at or after the sender's position).
 *
 * Fails with MLOG_EINVAL (detail in eb, which may be NULL) when the input
 * breaks the rules above (a process without checkpoints, a first checkpoint
 * not at 0, checkpoints out of order or past the end, a message naming an
 * unknown process or an event past the end of a history), and with MLOG_ENOMEM.
 */
int mlogi_recovery_line(const mlogi_rl_process *procs, uint32_t n_procs,
                        const mlogi_rl_message *msgs, size_t n_msgs,
                        mlogi_rl_result *out, mlogi_errbuf *eb)
    __attribute__((warn_unused_result));

/* Free what *r holds and clear it; a cleared result is a no-op. */
void mlogi_rl_result_free(mlogi_rl_result *r);

#endif /* MLOG_RECOVERY_RECOVERY_LINE_H */
