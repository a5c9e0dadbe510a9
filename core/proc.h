/* proc.h - the process runtime's state, shared by the runtime, checkpoints and
 * replay */
#ifndef MLOG_CORE_PROC_H
#define MLOG_CORE_PROC_H

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
  uint32_t len;
  uint8_t data[];
} outmsg;

/* An output waiting for output commit. */
typedef struct outq {
  struct outq *next;
  uint64_t seq, needs_lsn;
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
} channel;

/* What replay found in the log ahead of the deliveries it replays. */
typedef struct replay_stash {
  recvec values;    /* NONDET and DIGEST records not yet consumed */
  size_t head;      /* first unconsumed in values */
  uint64_t outputs; /* outputs released before the crash */
  bool tail;        /* replaying the deliveries after the last mark */
} replay_stash;

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

/* Queue a send on the channel to dst (the runtime transmits it). */
int mlogi_outbox_push(mlog_proc *p, uint32_t dst, uint64_t ssn, const void *msg,
                      size_t len);

#endif /* MLOG_CORE_PROC_H */
