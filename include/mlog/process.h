/* process.h - the process API: wrap a message handler, log, checkpoint, recover
 */
#ifndef MLOG_PROCESS_H
#define MLOG_PROCESS_H

/*
 * An application process opens an mlog_proc with its callbacks, then sends
 * with mlog_send and lets mlog_proc_poll (or mlog_proc_run) receive, log and
 * deliver messages to its handler. Opening a directory that already holds a
 * log *is* recovery: the newest valid checkpoint is restored through the
 * `restore` callback and the logged deliveries are replayed through the
 * handler before mlog_proc_open returns. The application does nothing else.
 *
 * The handler must be piecewise deterministic: its effect may depend only
 * on the state and the delivered message, and on values obtained through
 * mlog_now, mlog_random and mlog_nondet, which are logged and replayed.
 * Effects on the outside world go through mlog_output.
 */

#include "mlog/mlog.h"
#include "mlog/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlog_proc mlog_proc;

/* A growable byte buffer the snapshot callback writes the state into. */
typedef struct mlog_buf {
  uint8_t *data;
  size_t len, cap;
} mlog_buf;

/* Append data[0..len) to buf; ENOMEM when it cannot grow. */
MLOG_NODISCARD int mlog_buf_append(mlog_buf *buf, const void *data, size_t len);

/* The application's callbacks; `app` is the pointer given to open. */
typedef struct mlog_app {
  /* Required. Deliver one message from `src`, in normal operation and in
   * replay alike. `msg` is borrowed for the call. Nonzero fails the poll
   * (or the recovery) with MLOG_EAPP. */
  int (*deliver)(void *app, mlog_proc *p, uint32_t src, const void *msg,
                 size_t len);
  /* Required. Append the application state to `out`. Nonzero: EAPP. */
  int (*snapshot)(void *app, mlog_buf *out);
  /* Required. Replace the state by state[0..len), a snapshot; state NULL
   * and len 0 mean the initial state. Nonzero: EAPP. */
  int (*restore)(void *app, const void *state, size_t len);
  /* Optional. A digest of the state, taken after each delivery when the
   * process has MLOG_PROC_DIGESTS: replay compares it with the logged one
   * and reports a divergence (non-determinism) as MLOG_EDIVERGED. */
  void (*digest)(void *app, uint8_t out[32]);
  /* Optional. Emit an output to the outside world, called once the output
   * can never be rolled back (output commit). `seq` numbers the outputs of
   * this process from 1: after a crash an output may be emitted again with
   * the same seq, never with another. */
  void (*output)(void *app, uint64_t seq, const void *buf, size_t len);
} mlog_app;

/* Process flags (unknown bits are rejected). */
#define MLOG_PROC_DIGESTS 0x1u /* log a state digest after each delivery */
#define MLOG_PROC_NOSYNC                                                       \
  0x2u                        /* unsafe: commits are not flushed; the          \
                                  pessimistic protocols refuse it unless       \
                                  MLOG_PROC_UNSAFE is also set */
#define MLOG_PROC_UNSAFE 0x4u /* "I know": allow MLOG_PROC_NOSYNC */
#define MLOG_PROC_SENDER_DURABLE                                               \
  0x10u /* pessimistic-sender: commit each kept message with its rsn           \
           before acknowledging the rsn (survives concurrent failures);        \
           without it rsns live in memory and in checkpoints */
#define MLOG_PROC_KOO_TOUEG                                                    \
  0x20u /* coordinated: Koo-Toueg two-phase checkpoints (tentative, then       \
           permanent or discarded; sends wait between the two) instead of      \
           Chandy-Lamport snapshots */
#define MLOG_PROC_NO_THREADS                                                   \
  0x8u /* the logger persists from the poll loop instead of a background       \
          thread (simulations: the same seed gives the same run) */

typedef struct mlog_proc_config {
  const char *dirpath;  /* the process's log directory (created if absent) */
  uint32_t id;          /* this process, 0..group_size-1 */
  uint32_t group_size;  /* processes in the group */
  const char *protocol; /* logger name; NULL: "pessimistic-receiver" */
  /* Checkpoint policy: after this many deliveries, milliseconds or bytes of
   * log since the last checkpoint, whichever comes first (0: never). */
  uint64_t ckpt_every_deliveries;
  uint64_t ckpt_every_ms;
  uint64_t ckpt_every_bytes;
  uint32_t ckpt_keep;  /* checkpoints kept; 0 means 2. Coordinated: the
                          snapshots complete everywhere kept; none and
                          Koo-Toueg keep every checkpoint (a rollback may
                          reach any) */
  const mlog_key *key; /* log key, borrowed (copied); NULL: unkeyed */
  const mlog_transport_ops *transport; /* borrowed for the process's life */
  const void *transport_config;        /* borrowed for the open call */
  uint32_t retransmit_ms; /* resend unacknowledged messages; 0 means 200 */
  unsigned flags;         /* MLOG_PROC_* */
  /* The log key as a file of MLOG_KEY_BYTES bytes (mlog keygen's log.key);
   * give `key` or `key_file`, not both. */
  const char *key_file;
  /* Optional sources of the values mlog_now and mlog_random log in normal
   * operation (NULL: the real-time clock and libsodium's randombytes). A
   * simulation passes its virtual clock and its seeded generator so that
   * the same seed gives the same run. */
  void (*clock)(void *source_arg, uint64_t *ns);
  void (*entropy)(void *source_arg, void *buf, size_t len);
  void *source_arg;
  /* Optimistic logging persists what it took at least this often, in the
   * transport's milliseconds; 0 means 5. */
  uint32_t flush_ms;
} mlog_proc_config;

/* What a process has done, for tools and tests. */
typedef struct mlog_proc_stats {
  uint32_t incarnation;
  uint64_t rsn;         /* deliveries so far (the last rsn) */
  uint64_t delivered;   /* deliveries in this incarnation, replay excluded */
  uint64_t replayed;    /* deliveries replayed by the last recovery */
  uint64_t duplicates;  /* received frames dropped as already delivered */
  uint64_t checkpoints; /* checkpoints taken by this incarnation */
  uint64_t resent;      /* frames sent again after a timeout or restart */
  uint64_t bad_frames;  /* malformed or misaddressed frames dropped */
  uint64_t outputs;     /* outputs released by this incarnation */
  bool recovered;       /* this open recovered an existing log */
  uint64_t recovery_us; /* time the recovery took */
  /* Optimistic logging. */
  uint64_t rollbacks;         /* rollbacks of this process (orphan states) */
  uint64_t rolled_back;       /* state intervals those rollbacks undid */
  uint64_t orphans_discarded; /* arriving messages that were orphans */
  uint64_t held;              /* arriving messages held back (resent later) */
  uint64_t committed_rsn;     /* states up to it can never be rolled back */
  uint32_t interval_incarnation; /* incarnation that created state rsn */
  uint64_t recovered_rsn;        /* the state the last recovery reached */
  /* Sender-based logging. */
  bool recovering;    /* waiting for the peers to send back its messages */
  uint32_t rsns_lost; /* peers whose crash now would be unrecoverable: this
                         process lost the rsns of what it sent them (memory
                         mode) and their checkpoint does not cover it yet */
  /* Checkpoint-only protocols (coordinated, none). `recovering` is set
   * while a restarted process waits for its rollback round's line. */
  uint64_t snapshot;          /* coordinated: the newest snapshot recorded */
  uint64_t snapshot_complete; /* coordinated: the newest snapshot this
                                 process knows complete at every process */
  uint64_t rounds;            /* rollback rounds whose line it applied */
  uint64_t rolled_back_past;  /* checkpoints those rollbacks discarded */
  uint64_t domino_rollbacks;  /* rollbacks past at least one checkpoint */
  uint64_t lost_messages;     /* none: messages nobody can send again
                                 (received after the receiver's line, sent
                                 before the sender's and no longer kept) */
  uint64_t redelivered;       /* coordinated: channel-state messages
                                 delivered again by rollbacks */
  bool in_round;              /* in a rollback round (frozen) */
  bool in_two_phase;          /* Koo-Toueg: in a checkpoint instance */
} mlog_proc_stats;

/* Open (or recover) process cfg->id. On success *out owns the handle. On
 * failure *out is NULL, nothing in the directory was modified, and
 * mlog_proc_errmsg(NULL) says why: EINVAL (bad config, unknown protocol),
 * a log error (EBUSY, EBADTAG naming the record that failed verification,
 * ...), EDIVERGED (replay diverged), EAPP (a callback failed). A failed
 * recovery may have called deliver/restore: the application state must be
 * discarded. */
MLOG_NODISCARD int mlog_proc_open(const mlog_proc_config *cfg,
                                  const mlog_app *app, void *app_arg,
                                  mlog_proc **out);

/* Close the process; NULL is a no-op. Unsent frames are dropped: what was
 * logged is recovered at the next open. */
void mlog_proc_close(mlog_proc *p);

/* The detailed cause of the last error on p, or with NULL of this thread's
 * last failed open. Valid until the next call on p. */
const char *mlog_proc_errmsg(const mlog_proc *p);

/* Send msg[0..len) to process dst (copied). It leaves once everything it
 * depends on is logged as the protocol requires, and is resent until dst
 * acknowledges it. During replay, regenerated sends are deduplicated.
 * Under pessimistic-sender, a send outside the handler while the process's
 * recovery waits for its peers (stats.recovering) fails with EAGAIN; under
 * coordinated and none, while a rollback round is under way. */
MLOG_NODISCARD int mlog_send(mlog_proc *p, uint32_t dst, const void *msg,
                             size_t len);

/* Receive what has arrived (waiting at most timeout_ms for the first
 * frame), log it, deliver it, resend what timed out, take a checkpoint when
 * the policy says so. Returns the number of deliveries made (>= 0) or a
 * negative mlog error code (-MLOG_E...).
 *
 * Under optimistic-receiver a poll may find the process an orphan and roll
 * it back: the restore callback gets the newest checkpoint and the logged
 * deliveries up to the cut are replayed through the handler, as in a
 * recovery (stats.rollbacks counts them). Under pessimistic-sender the
 * polls after a restart complete the recovery once the peers have sent
 * back their messages (stats.recovering); a recovery that cannot complete
 * fails the poll with -MLOG_EGONE. */
int mlog_proc_poll(mlog_proc *p, int timeout_ms);

/* Poll until *stop becomes nonzero or an error occurs. */
MLOG_NODISCARD int mlog_proc_run(mlog_proc *p, volatile int *stop);

/* Emit buf[0..len) to the outside world through app->output once it can
 * never be rolled back (copied). */
MLOG_NODISCARD int mlog_output(mlog_proc *p, const void *buf, size_t len);

/* Logged non-deterministic values: in normal operation they are produced
 * and logged; in replay the logged value is returned. Call them only from
 * the deliver callback. */
MLOG_NODISCARD int mlog_now(mlog_proc *p, uint64_t *ns);
MLOG_NODISCARD int mlog_random(mlog_proc *p, uint64_t *value);
/* Fill buf[0..len) with fill(arg, buf, len) in normal operation, with the
 * logged bytes in replay. */
MLOG_NODISCARD int mlog_nondet(mlog_proc *p, void *buf, size_t len,
                               void (*fill)(void *arg, void *buf, size_t len),
                               void *arg);

/* Take a checkpoint now (after the deliveries made so far). Under
 * coordinated it starts a snapshot (EAGAIN while one this process recorded
 * is incomplete) or, with MLOG_PROC_KOO_TOUEG, a two-phase checkpoint
 * (EAGAIN while one is under way); under the checkpoint-only protocols,
 * EAGAIN while a rollback round is under way. */
MLOG_NODISCARD int mlog_checkpoint(mlog_proc *p);

/* Fill *st. */
void mlog_proc_get_stats(const mlog_proc *p, mlog_proc_stats *st);

/* Failure detection: does p's transport suspect process id (heard nothing
 * from it for a while)? False when the transport has no failure detector
 * (the sim transport) and for p itself. */
bool mlog_proc_suspects(const mlog_proc *p, uint32_t id);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_PROCESS_H */
