/* proc.h - the process runtime's state, shared by the runtime, checkpoints and
 * replay */
#ifndef MLOG_CORE_PROC_H
#define MLOG_CORE_PROC_H

#include "core/depvec.h"
#include "core/fault.h"
#include "core/internal.h"
#include "mlog/logger.h"
#include "mlog/process.h"

/* Flags of CONTROL records. */
#define MLOGI_CTL_MARK                                                         \
  1                        /* rsn: every handler up to it has run, and its     \
                              logged values are in this commit or earlier */
#define MLOGI_CTL_DIGEST 2 /* rsn: the state digest after that delivery */
#define MLOGI_CTL_OUTPUT 3 /* ssn: outputs up to this seq were released */

/* Flags of DELIVERY records: the payload starts with the message's
 * dependency vector (optimistic logging). */
#define MLOGI_DLV_DV 0x1

/* Bytes a sender-based replay answer puts before a message (varints rsn,
 * incarnation, request). */
#define MLOGI_RSN_HEADER_MAX 30

/* needs_lsn of a send or output that waits for values not yet appended. */
#define MLOGI_AFTER_NEXT_APPEND UINT64_MAX

/* A growable vector of records whose payloads live in its own arena. */
typedef struct recvec {
  mlog_record *recs;
  size_t *offs; /* payload offset of each record in arena */
  size_t n, cap;
  uint8_t *arena;
  size_t used, arena_cap;
} recvec;

/* Grow *p (an array of *cap elements of elem bytes) to hold need. */
int mlogi_grow(void **p, size_t *cap, size_t need, size_t elem);

int mlogi_recvec_add(recvec *v, const mlog_record *rec);
/* Point every record's payload into the arena (after the last add). */
void mlogi_recvec_fix(recvec *v);
void mlogi_recvec_clear(recvec *v);
void mlogi_recvec_free(recvec *v);

/* A sent message kept until its receiver acknowledges it. */
typedef struct outmsg {
  struct outmsg *next;
  uint64_t ssn;
  uint64_t needs_lsn; /* leaves once the log is durable up to it */
  uint64_t sent_at;   /* ms; valid when sent */
  bool sent;
  uint16_t flags;     /* frame flags (MLOGI_FRAME_F_DV: data starts with one) */
  uint64_t needs_rsn; /* sender-based: leaves once the deliveries up to it
                         have their rsns recorded by their senders */
  uint64_t rsn;       /* sender-based: the rsn the receiver gave it (0: none
                         yet), in the receiver's incarnation rsn_inc */
  uint32_t rsn_inc;
  uint32_t len;
  uint8_t data[];
} outmsg;

/* An output waiting for output commit. */
typedef struct outq {
  struct outq *next;
  uint64_t seq, needs_lsn;
  uint64_t rsn; /* the state interval it was made in (optimistic) */
  uint32_t len;
  uint8_t data[];
} outq;

/* A batch of logged deliveries waiting to be durable. */
typedef struct waiting {
  struct waiting *next;
  recvec recs;
  uint64_t last_lsn;
} waiting;

/* The channels with one peer. */
typedef struct channel {
  uint64_t send_ssn;    /* last ssn assigned to me -> peer */
  uint64_t acked;       /* the peer logged my messages up to this ssn */
  uint64_t recv_mark;   /* last ssn accepted from the peer (peer -> me) */
  uint64_t logged_mark; /* last ssn from the peer durable in my log */
  uint64_t ack_sent;    /* last logged_mark I acknowledged */
  outmsg *out_head, *out_tail;
  outmsg *rsn_hint; /* sender-based: the message the last RSN named (NULL:
                       none); RSNs come back in ssn order */
} channel;

/* What replay found in the log ahead of the deliveries it replays. */
typedef struct replay_stash {
  recvec values;    /* NONDET and DIGEST records not yet consumed */
  size_t head;      /* first unconsumed in values */
  uint64_t outputs; /* outputs released before the crash */
  bool tail;        /* replaying the deliveries after the last mark */
} replay_stash;

/* A delivery whose state interval is not yet committed (optimistic): its
 * sender's message is acknowledged once it is. */
typedef struct pending {
  uint64_t rsn, ssn;
  uint32_t src;
  bool verified; /* its message names no incarnation whose predecessors'
                    ends we do not know (replay after a crash merges
                    vectors before the peers' ends are known) */
} pending;

/* Sender-based logging: a delivery whose rsn its sender has not recorded
 * yet (the receiver sends nothing that depends on it until it has). */
typedef struct rsnwait {
  uint64_t ssn, rsn, sent_at;
} rsnwait;

/* What sender-based logging tracks per peer. */
typedef struct sbpeer {
  rsnwait *wait; /* my deliveries of its messages waiting for RSN_ACK */
  size_t nwait, capwait;
  bool lost; /* I lost the rsns of messages I sent it: until its
                checkpoint covers them, its crash is unrecoverable */
  uint64_t lost_asked_at;
  bool ckpt_asked; /* it lost rsns of messages it sent me: checkpoint */
  /* my recovery: what it sent back */
  bool replied, incomplete;
  uint64_t asked_at, ask_every;
  uint64_t req; /* my latest replay request to it */
} sbpeer;

/* The state of sender-based logging (NULL under the other protocols). */
typedef struct sender_based {
  sbpeer *peers;
  bool durable;        /* the sender commits payload + rsn before RSN_ACK */
  uint64_t logged_rsn; /* every delivery up to it has its rsn recorded */
  uint8_t *acked;      /* ring: acked[(r) % cap] for r > logged_rsn */
  size_t acap;
  recvec persist;  /* durable: rsns to commit before acknowledging them */
  bool recovering; /* waiting for the peers' replay answers */
  recvec got;      /* their answers: DELIVERY records (rsn 0: none); after
                      recovery, those still waiting for their turn */
  recvec sends;    /* spontaneous sends of the log, replayed in place */
  size_t next_send;
  replay_stash stash; /* values of the log, for the replayed deliveries */
  bool want_ckpt;     /* a peer that lost rsns asked for a checkpoint */
} sender_based;

/* The state of optimistic logging (NULL under the other protocols). */
typedef struct optimistic {
  mlogi_interval *dv;      /* n: the current state's dependency vector */
  mlogi_interval *scratch; /* n: a decoded arriving vector */
  mlogi_peerview *views;   /* n: what we know of each process (self too) */
  pending *pend;           /* ring of uncommitted deliveries */
  mlogi_interval *pend_dv; /* cap * 2n: after each, the state's vector and
                              the message's */
  size_t unverified;       /* pending entries not verified */
  uint64_t marked_stable;  /* our last rsn whose MARK is durable */
  size_t head, count, cap;
  uint64_t *mark_lsn, *mark_rsn; /* ring: MARK records not yet durable */
  size_t mhead, mcount, mcap;
  uint64_t committed_rsn; /* every state up to it is stable for good */
  bool orphan;            /* an announcement made us an orphan */
} optimistic;

struct mlog_proc {
  mlog_proc_config cfg;
  mlog_key key;
  mlog_app app;
  void *app_arg;
  mlog_log *log;
  const mlog_logger_ops *logger;
  void *logger_self;
  const mlog_transport_ops *tp;
  void *tp_self;
  uint32_t id, n, incarnation;
  uint32_t interval_inc;  /* incarnation that created the current interval */
  uint64_t rsn;           /* last delivered */
  uint64_t next_rsn;      /* last assigned (logged or about to be) */
  uint64_t delivered_rsn; /* last whose handler completed */
  uint64_t marked_rsn;    /* last rsn covered by a MARK record */
  channel *ch;
  recvec ctl;       /* control and value records for the next commit */
  recvec dlv;       /* deliveries received for the next commit */
  mlog_record *all; /* scratch: the records of one commit, pointing into
                        the arenas of ctl and dlv */
  size_t all_cap;
  waiting *wait_head, *wait_tail;
  outq *out_head, *out_tail;
  uint64_t pending_values; /* value records in ctl: sends/outputs wait */
  uint64_t output_seq;     /* last output number assigned */
  uint64_t output_logged;  /* last output seq recorded as released */
  bool output_marks;       /* ctl holds marks of released outputs */
  bool in_handler;
  uint64_t nondet_seq;  /* values taken by the current delivery */
  bool nondet_diverged; /* replay asked for a value that was not logged */
  replay_stash *replay; /* non-NULL while recovering */
  optimistic *opt;      /* optimistic logging's state */
  sender_based *sb;     /* sender-based logging's state */
  /* checkpoint policy */
  uint64_t since_deliveries, since_bytes, last_ckpt_ms;
  bool broken; /* a log write failed: the process must be reopened */
  mlog_proc_stats stats;
  mlogi_errbuf eb;
};

/* Encode the runtime's state plus the application's snapshot (checkpoint
 * payload) into buf; decode it back into p, restoring the application. */
int mlogi_state_encode(mlog_proc *p, mlog_buf *buf);
int mlogi_state_restore(mlog_proc *p, const void *buf, size_t len);

/* Replay the log after covered_lsn through the handler (recovery). */
int mlogi_replay(mlog_proc *p, uint64_t covered_lsn);

/* Deliver one logged delivery to the application (normal run and replay):
 * the shared path that keeps both executions identical. */
int mlogi_deliver(mlog_proc *p, const mlog_record *rec);

/* Send on the channel to dst with this ssn: a handler's send (in normal
 * operation or regenerated by replay) or a logged spontaneous one. */
int mlogi_send_logged(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len);

/* The transport's clock, in ms. */
static inline uint64_t mlogi_now_ms(mlog_proc *p) {
  return p->tp->now_ms(p->tp_self);
}

/* Take what has arrived (waiting at most timeout_ms for the first frame):
 * data for the next commit, acknowledgements, hellos. */
int mlogi_receive(mlog_proc *p, int timeout_ms, size_t *frames);

/* Send or resend what may leave (the log is durable up to `durable`) and
 * acknowledge what is logged. */
void mlogi_channels_settle(mlog_proc *p, uint64_t durable);

/* Tell every peer how far its messages are logged here (after a start). */
void mlogi_channels_hello(mlog_proc *p);

/* Route the process's store calls through faults (tests and mlog sim). */
void mlogi_proc_set_faults(mlog_proc *p, mlogi_faults *faults);

/* Queue a send on the channel to dst (the runtime transmits it); data is
 * the frame's payload, with frame flags. */
int mlogi_outbox_push(mlog_proc *p, uint32_t dst, uint64_t ssn, uint16_t flags,
                      const void *data, size_t len);

/* Put m into the channel's outbox, which is kept in ssn order. */
void mlogi_outbox_insert(channel *ch, outmsg *m);

/* Send one control frame. */
void mlogi_send_frame(mlog_proc *p, uint32_t dst, uint8_t kind, uint16_t flags,
                      uint64_t seq, const void *payload, uint32_t len);

/* Restore the newest checkpoint (or the initial state) and replay the log
 * after it; the caller ends the incarnation. */
int mlogi_restore_and_replay(mlog_proc *p);

/* Drop every volatile part of the runtime state (outboxes, queues, batches)
 * before a restore. */
void mlogi_reset_volatile(mlog_proc *p);

/* Commit what is pending and wait until the log holds it durably. */
int mlogi_commit_durably(mlog_proc *p);

/* ------------------------------------------------------------------------ */
/* Optimistic logging (core/optimistic.c)                                   */

int mlogi_opt_open(mlog_proc *p);
void mlogi_opt_free(mlog_proc *p);
void mlogi_opt_reset(mlog_proc *p);

/* Bring what we know of ourselves up to date with the log (incarnation
 * ends) and the state replay reached (stable). */
int mlogi_opt_self(mlog_proc *p);

/* What to do with an arriving data frame. */
typedef enum mlogi_admit {
  MLOGI_ACCEPT,
  MLOGI_HOLD,   /* it names an incarnation whose predecessors' ends we do not
                   know yet: drop it, the sender resends it */
  MLOGI_ORPHAN, /* it depends on a lost interval: discard it */
  MLOGI_BAD,    /* malformed */
} mlogi_admit;
mlogi_admit mlogi_opt_admit(mlog_proc *p, uint32_t src, uint32_t incarnation,
                            const void *payload, size_t len);

/* Delivering rec: merge its vector, remember it until committed; *msg and
 * *len get the application's payload. */
int mlogi_opt_deliver(mlog_proc *p, const mlog_record *rec, const void **msg,
                      size_t *len);

/* The frame payload of a send from the current state: [dv][msg]. */
int mlogi_opt_wrap(mlog_proc *p, const void *msg, size_t len, uint8_t **out,
                   size_t *outlen);

/* A MARK record of rsn was appended at lsn. */
int mlogi_opt_marked(mlog_proc *p, uint64_t lsn, uint64_t rsn);

/* A status from a peer (ACK and HELLO frames carry one). */
void mlogi_opt_on_status(mlog_proc *p, uint32_t src, uint32_t incarnation,
                         const void *payload, size_t len);

/* Advance stability and the committed frontier (the log is durable up to
 * durable_lsn); send the statuses that are due. */
void mlogi_opt_settle(mlog_proc *p, uint64_t durable_lsn);

/* Encode our status for dst into buf[0..cap). */
size_t mlogi_opt_status(mlog_proc *p, uint32_t dst, bool request, uint8_t *buf,
                        size_t cap);

/* Send an ACK or HELLO frame carrying our status (and our logged mark). */
void mlogi_opt_send_status(mlog_proc *p, uint32_t dst, uint8_t kind,
                           bool request);

/* When an announcement made us an orphan: the last rsn not depending on a
 * lost interval. */
bool mlogi_opt_orphan_cut(mlog_proc *p, uint64_t *cut);

/* Roll back to the state after delivery cut (recovery/rollback.c). */
int mlogi_rollback(mlog_proc *p, uint64_t cut);

/* ------------------------------------------------------------------------ */
/* Sender-based logging (core/sender.c, recovery/sender_replay.c)           */

int mlogi_sb_open(mlog_proc *p, bool durable);
void mlogi_sb_free(mlog_proc *p);

/* After a delivery in normal operation: tell its sender the rsn. */
int mlogi_sb_delivered(mlog_proc *p, const mlog_record *rec);

/* Frames only sender-based logging uses (and its part of HELLO, ACK and
 * DATA). */
int mlogi_sb_on_frame(mlog_proc *p, const void *frame);

/* After a receive: commit the rsns to persist (durable mode) and
 * acknowledge them. */
int mlogi_sb_persist(mlog_proc *p);

/* Resend what timed out: rsns, replay requests, lost-rsn hellos. */
void mlogi_sb_settle(mlog_proc *p);

/* A checkpoint covers every delivery so far. */
void mlogi_sb_checkpointed(mlog_proc *p);

/* Recovery: keep the log's values and spontaneous sends and ask every peer
 * for what it keeps for us. */
int mlogi_sb_start_recovery(mlog_proc *p, bool had_past);

/* Every peer answered: replay the logged deliveries in rsn order, end the
 * incarnation, deliver the rest anew (recovery/sender_replay.c). */
int mlogi_sb_finish_recovery(mlog_proc *p);

/* Deliver, as new deliveries, the replay answers whose turn has come. */
int mlogi_sb_deliver_answers(mlog_proc *p);

/* The HELLO a (re)started process sends each peer. */
void mlogi_sb_hello(mlog_proc *p, uint32_t dst);

#endif /* MLOG_CORE_PROC_H */
