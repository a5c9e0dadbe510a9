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
#define MLOGI_CTL_COUNTS                                                       \
  4 /* rsn: the state at a clean close; payload: per process j, u64 sent to    \
       j and u64 received from j (little-endian), for offline analysis */
#define MLOGI_CTL_MARKER                                                       \
  5 /* coordinated: src's marker of snapshot rsn arrived with ssn */
#define MLOGI_CTL_COMPLETE                                                     \
  6 /* coordinated: snapshot rsn is complete here (every marker arrived) */
#define MLOGI_CTL_PERMANENT                                                    \
  7 /* Koo-Toueg: checkpoint rsn is permanent (the decision, or a rollback     \
       round's line, kept it) */

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

/* The channels with one peer. Under none and Koo-Toueg (mlogi_two_acks)
 * "logged" means covered by a checkpoint no rollback drops (stable), and a
 * delivery is acknowledged apart (received). */
typedef struct channel {
  uint64_t send_ssn;    /* last ssn assigned to me -> peer */
  uint64_t acked;       /* the peer logged my messages up to this ssn */
  uint64_t rcvd_acked;  /* two acks: the peer delivered my messages up to
                           this ssn: no resend on a timeout, but kept until
                           `acked` (its rollback may need them again) */
  uint64_t recv_mark;   /* last ssn accepted from the peer (peer -> me) */
  uint64_t logged_mark; /* last ssn from the peer durable in my log */
  uint64_t ack_sent;    /* last logged_mark I acknowledged */
  uint64_t rcvd_mark;   /* two acks: last ssn from the peer delivered */
  uint64_t rcvd_sent;   /* two acks: last rcvd_mark I acknowledged */
  outmsg *out_head, *out_tail;
  outmsg *rsn_hint;  /* sender-based: the message the last RSN named (NULL:
                        none); RSNs come back in ssn order */
  outmsg *rcvd_last; /* two acks: the newest kept message at or below
                        rcvd_acked (NULL: none); nothing up to it is sent
                        again, so settling starts after it */
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
  recvec persist;       /* durable: rsns to commit before acknowledging them */
  bool recovering;      /* waiting for the peers' replay answers */
  recvec got;           /* their answers: DELIVERY records (rsn 0: none); after
                           recovery, those still waiting for their turn */
  size_t *got_index;    /* while recovering: open addressing by (src, ssn),
                           each slot 0 or 1 + an index into got */
  size_t got_index_cap; /* a power of two, at least twice got.n */
  recvec sends;         /* spontaneous sends of the log, replayed in place */
  size_t next_send;
  replay_stash stash; /* values of the log, for the replayed deliveries */
  bool want_ckpt;     /* a peer that lost rsns asked for a checkpoint */
} sender_based;

/* A data frame held while a checkpoint waits (optimistic logging). */
typedef struct heldframe {
  struct heldframe *next;
  uint32_t src;
  size_t len;
  uint8_t data[];
} heldframe;

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
  /* A due checkpoint waits for the state to be committed: meanwhile data
   * frames wait here, in order, so that deliveries stop carrying the state
   * ahead of its commitment (under a steady stream it never would be, and
   * the log would never be collected). */
  uint64_t hold_since;   /* 1 + the ms it began; 0: not holding */
  uint64_t hold_after;   /* ms: no holding before (after one gave up) */
  uint64_t hold_backoff; /* holds' time before the next, after those that
                            gave up in a row (0: none gave up) */
  heldframe *held_head, *held_tail;
  size_t held_n, held_bytes;
} optimistic;

/* A snapshot recorded here and still kept (coordinated). */
typedef struct snapinfo {
  uint64_t id, number, rsn; /* its checkpoint's number; the state's rsn */
  uint64_t covered_lsn;     /* its checkpoint's place in the log */
} snapinfo;

/* Chandy-Lamport snapshots (recovery/snapshot.c). Ids grow by one: a
 * process starts snapshot `recorded + 1`, and concurrent initiations of
 * the same id are one snapshot with several initiators. Snapshot 0 is the
 * initial state, complete everywhere. */
typedef struct snapshots {
  uint64_t recorded;      /* the newest snapshot recorded here */
  uint64_t *closed;       /* [n] the newest snapshot whose marker from j came */
  uint64_t complete;      /* the newest complete here (every marker came), with
                             its records durable */
  uint64_t *done;         /* [n] the newest j says is complete at j */
  uint64_t *echo;         /* [n] the newest of mine j says it knows complete */
  uint64_t *told;         /* [n] the newest of j's I told j I know */
  bool *asked;            /* [n] j asked what I know */
  uint64_t global;        /* complete everywhere: min of complete and done[] */
  uint64_t committed_rsn; /* the state of snapshot `global`: outputs up to
                             it leave */
  uint64_t told_at;       /* ms: the last gossip */
  recvec channel;         /* channel-state and MARKER records, logged with
                             the next COMPLETE (one commit per snapshot) */
  snapinfo *kept;         /* snapshots kept, oldest first */
  size_t nkept, capkept;
  bool marker;                    /* a marker was taken and waits for the
                                     deliveries before it */
  uint32_t marker_src;            /* its channel, */
  uint64_t marker_ssn, marker_id; /* ssn and snapshot */
} snapshots;

/* Koo-Toueg two-phase checkpointing (recovery/koo_toueg.c). */
typedef struct koo_toueg {
  uint64_t perm; /* the newest permanent checkpoint (0: initial) */
  uint64_t perm_rsn, tent_rsn; /* the rsn of its state; of the tentative one */
  uint64_t *base_sent; /* [n] counts at it: a message sent or received */
  uint64_t *base_recv; /* after them is newer than the checkpoint */
  uint32_t seq;        /* instances I started */
  bool busy;           /* in instance `inst`, its decision not yet known */
  uint64_t inst;       /* initiator << 32 | its seq */
  uint32_t parent;     /* who asked me (myself: I started it) */
  uint64_t tentative;  /* my tentative checkpoint in it (0: none) */
  uint64_t *tent_sent; /* [n] counts at the tentative checkpoint */
  uint64_t *tent_recv;
  uint8_t *asked;     /* [n] KT_* answer states of my requests */
  uint32_t *finished; /* [n] the newest instance of initiator j whose
                         decision I know (this round): a late request of
                         it must not start it again here */
  bool forwarding;    /* the decision is known: tell the children */
  bool commit;
  uint64_t sent_at;
} koo_toueg;

/* The checkpoint-only protocols (core/group.c): delivery without logging,
 * and rollback rounds. A restarted process leads a round: every process
 * freezes (delivers nothing, checkpoints nothing) and sends the leader its
 * positions; the leader computes the line (coordinated: the newest
 * snapshot complete everywhere; none: the recovery line of the
 * checkpoints, Juang-Venkatesan style) and every process rolls back to it.
 * Rounds are numbered r with r % n == leader; the incarnation of every
 * process is the last round it applied, and frames of another round are
 * dropped. */
typedef struct grp_state {
  bool coordinated;
  uint32_t round;    /* the newest round seen */
  uint32_t leader;   /* of `round` */
  bool frozen;       /* in `round`, until every process applied its line */
  bool restarted;    /* recovering: waits for a round's line */
  uint64_t heard_at; /* ms: the round's last frame (a silent round is
                        taken over) */
  uint64_t life;     /* random, per open: a line computed from an earlier
                        life's answer (before a crash) is never applied */
  uint8_t *mine;     /* my answer for `round`: life, positions */
  size_t mine_len;
  /* leading `round` */
  bool leading;
  uint8_t **info; /* [n] the positions answered (NULL: not yet) */
  size_t *info_len;
  uint64_t *lives; /* [n] the life of each answer */
  uint8_t *line;   /* the decision, once every answer came */
  size_t line_len;
  bool *applied; /* [n] */
  uint64_t sent_at;
  snapshots *snap; /* coordinated */
  koo_toueg *kt;   /* coordinated, Koo-Toueg: the line is computed as under
                      none, from permanent checkpoints */
} grp_state;

/* A position a process offers a round (none): a checkpoint (0: the
 * initial state) or its current state (number MLOGI_POS_END). */
#define MLOGI_POS_END UINT64_MAX

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
  grp_state *grp;       /* the checkpoint-only protocols' state */
  uint64_t snapshot;    /* coordinated: the snapshot the state is (set at
                           recording; read from checkpoints) */
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

/* One channel as a checkpoint saw it. */
typedef struct mlogi_chan_counts {
  uint64_t sent;       /* messages sent to the peer (its last ssn) */
  uint64_t acked;      /* the peer acknowledged them up to this ssn */
  uint64_t received;   /* messages received from the peer (last ssn) */
  uint64_t first_kept; /* the first ssn still kept for resending (sent + 1:
                          none) */
} mlogi_chan_counts;

/* What a checkpoint state says without restoring it (tools, protocols). */
typedef struct mlogi_state_view {
  uint32_t n; /* group size */
  uint64_t rsn, snapshot;
  mlogi_chan_counts *ch; /* [n], owned */
  const uint8_t *app;    /* the application's snapshot, borrowed */
  uint64_t app_len;
} mlogi_state_view;

/* Read checkpoint state buf[0..len) of a group of n: MLOG_ECORRUPT when it
 * is malformed or of another group size, ENOMEM. Free with
 * mlogi_state_view_free (also after a failure). */
int mlogi_state_peek(const void *buf, size_t len, uint32_t n,
                     mlogi_state_view *v);
void mlogi_state_view_free(mlogi_state_view *v);

/* Read checkpoint `number` of log (verified) into *ck and its state into
 * *v (whose app points into ck->state). On failure both are freed; after
 * success free them with mlogi_checkpoint_peek_free. */
int mlogi_checkpoint_peek(mlog_log *log, uint64_t number, uint32_t n,
                          mlog_log_checkpoint *ck, mlogi_state_view *v);
void mlogi_checkpoint_peek_free(mlog_log_checkpoint *ck, mlogi_state_view *v);

/* Replay the log after covered_lsn through the handler (recovery). */
int mlogi_replay(mlog_proc *p, uint64_t covered_lsn);

/* Deliver one logged delivery to the application (normal run and replay):
 * the shared path that keeps both executions identical. */
int mlogi_deliver(mlog_proc *p, const mlog_record *rec);

/* Send on the channel to dst with this ssn: a handler's send (in normal
 * operation or regenerated by replay) or a logged spontaneous one. */
int mlogi_send_logged(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len);

/* Does the protocol acknowledge a message twice? Under none and Koo-Toueg
 * a rollback can put a message the receiver delivered in transit again
 * (the receiver rolls back before its receipt, the sender stays after its
 * send), and nothing but the sender holds it: the receiver acknowledges it
 * as received on delivery (the sender stops resending it) and as stable
 * once a checkpoint that no rollback drops covers the delivery (the sender
 * drops it). Chandy-Lamport's channel states hold what a rollback puts in
 * transit again, and the logging protocols log before they acknowledge:
 * one acknowledgement is enough there. */
static inline bool mlogi_two_acks(const mlog_proc *p) {
  return p->grp != NULL && !p->grp->coordinated;
}

/* Two acks: a checkpoint that no rollback drops covers the deliveries up to
 * received[j] from each j (NULL: everything received so far); the next
 * acknowledgements say so. */
void mlogi_channels_stable(mlog_proc *p, const uint64_t *received);

/* Two acks, after a rollback round's line: what each peer acknowledged as
 * received may be undone, so kept messages are resent on timeouts again
 * until it says so anew, and I tell every peer again what I received. */
void mlogi_channels_rolled_back(mlog_proc *p);

/* The transport's clock, in ms. */
static inline uint64_t mlogi_now_ms(mlog_proc *p) {
  return p->tp->now_ms(p->tp_self);
}

/* Take what has arrived (waiting at most timeout_ms for the first frame):
 * data for the next commit, acknowledgements, hellos. */
int mlogi_receive(mlog_proc *p, int timeout_ms, size_t *frames);

/* Take one frame buf[0..len) from src (malformed ones are counted and
 * dropped). */
int mlogi_take_frame(mlog_proc *p, uint32_t src, const void *buf, size_t len);

/* Send or resend what may leave (the log is durable up to `durable`) and
 * acknowledge what is logged. */
void mlogi_channels_settle(mlog_proc *p, uint64_t durable);

/* Tell every peer how far its messages are logged here (after a start). */
void mlogi_channels_hello(mlog_proc *p);

/* Route the process's store calls through faults (tests and mlog sim). */
void mlogi_proc_set_faults(mlog_proc *p, mlogi_faults *faults);

/* Close p as a crash leaves it: nothing more is written (a clean close of
 * the checkpoint-only protocols appends the process's counts). Tests and
 * mlog sim. */
void mlogi_proc_crash(mlog_proc *p);

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

/* Hold the data frame buf[0..len) from src while a checkpoint waits. */
int mlogi_opt_hold_frame(mlog_proc *p, uint32_t src, const void *buf,
                         size_t len);

/* Take the held frames, in order, as if they arrived now. */
int mlogi_opt_release_held(mlog_proc *p);

/* Forget the held frames (their senders resend them). */
void mlogi_opt_drop_held(mlog_proc *p);

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

/* ------------------------------------------------------------------------ */
/* Checkpoint-only protocols (core/group.c, recovery/snapshot.c,            */
/* recovery/independent.c)                                                  */

int mlogi_grp_open(mlog_proc *p, bool coordinated, bool two_phase);
void mlogi_grp_free(mlog_proc *p);

/* At open: restore the newest state the log offers; a log with a past
 * freezes and leads a rollback round. */
int mlogi_grp_recover(mlog_proc *p, bool had_past);

/* May this frame (not a round frame) be taken now? Frames of another
 * round, and data and acknowledgements while frozen, are dropped. */
bool mlogi_grp_admit(mlog_proc *p, const void *frame);

/* Round and snapshot frames. */
int mlogi_grp_on_frame(mlog_proc *p, const void *frame);

/* After the deliveries of a receive: a marker that waited for them. */
int mlogi_grp_after_deliveries(mlog_proc *p);

/* Resend round frames, gossip snapshots, take over a silent round. */
int mlogi_grp_settle(mlog_proc *p);

/* The checkpoint policy or mlog_checkpoint asks for one: under coordinated
 * a snapshot starts (EAGAIN while one is in progress here). */
int mlogi_grp_checkpoint(mlog_proc *p);

/* Store a checkpoint of the current state (number in *number). */
int mlogi_write_checkpoint(mlog_proc *p, uint64_t *number);

/* Deliver rec (a message of a channel state) as a new delivery, with the
 * next rsn. */
int mlogi_deliver_again(mlog_proc *p, mlog_record *rec);

/* Add a record to the next commit. */
int mlogi_add_record(mlog_proc *p, const mlog_record *rec);

/* Coordinated (recovery/snapshot.c). */
int mlogi_snap_open(mlog_proc *p);
void mlogi_snap_free(mlog_proc *p);
int mlogi_snap_start(mlog_proc *p);
bool mlogi_snap_recording(const mlog_proc *p, uint32_t src);
int mlogi_snap_on_marker(mlog_proc *p, uint32_t src, uint64_t ssn,
                         const void *payload, size_t len);
int mlogi_snap_take_marker(mlog_proc *p);
int mlogi_snap_on_done(mlog_proc *p, uint32_t src, uint16_t flags, uint64_t seq,
                       const void *payload, size_t len);
int mlogi_snap_settle(mlog_proc *p);
/* My position for a round (varint: the newest snapshot complete here). */
int mlogi_snap_info(mlog_proc *p, uint8_t **out, size_t *len);
/* The line: the newest snapshot complete at every process. */
int mlogi_snap_decide(mlog_proc *p, uint8_t **out, size_t *len);
/* Roll back to the snapshot of the line and deliver its channel states. */
int mlogi_snap_apply(mlog_proc *p, const uint8_t *line, size_t len);

/* Snapshot `id` as a log holds it: its checkpoint (number 0 and no state
 * for snapshot 0, the initial state) and the messages of its channel
 * states, in log order (the process delivers them again after restoring
 * it). ENOTFOUND when the log does not hold it complete. */
typedef struct mlogi_snap_image {
  mlog_log_checkpoint ck;
  recvec channel;
  uint64_t *marker; /* [n] the ssn of each channel's marker (0: it came
                       before the state was recorded) */
} mlogi_snap_image;
int mlogi_snap_load(mlog_log *log, uint32_t n, uint64_t id,
                    mlogi_snap_image *img);
void mlogi_snap_image_free(mlogi_snap_image *img);

/* Koo-Toueg (recovery/koo_toueg.c). */
int mlogi_kt_open(mlog_proc *p);
void mlogi_kt_free(mlog_proc *p);
int mlogi_kt_start(mlog_proc *p);
int mlogi_kt_on_frame(mlog_proc *p, const void *frame);
int mlogi_kt_settle(mlog_proc *p);
/* Sends wait between a tentative checkpoint and the decision. */
bool mlogi_kt_holding(const mlog_proc *p);
/* A rollback round cuts the instance off (its tentative checkpoint stays
 * tentative: the round's line decides). */
void mlogi_kt_abort(mlog_proc *p);
/* The line put this process at checkpoint `number` (it becomes permanent)
 * or at its current state (MLOGI_POS_END: tentative ones go). */
int mlogi_kt_applied(mlog_proc *p, uint64_t number);

/* None (recovery/independent.c). */
int mlogi_indep_info(mlog_proc *p, uint8_t **out, size_t *len);
int mlogi_indep_decide(mlog_proc *p, uint8_t **out, size_t *len);
int mlogi_indep_apply(mlog_proc *p, const uint8_t *line, size_t len);

#endif /* MLOG_CORE_PROC_H */
