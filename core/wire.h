/* wire.h - the envelope of every frame the delivery layer sends */
#ifndef MLOG_CORE_WIRE_H
#define MLOG_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MLOGI_WIRE_VERSION 1
#define MLOGI_FRAME_HEADER 32

typedef enum mlogi_frame_kind {
  MLOGI_FRAME_DATA = 1,  /* an application message: seq is its ssn */
  MLOGI_FRAME_ACK = 2,   /* seq: the sender logged our messages up to it
                            (none, Koo-Toueg: a checkpoint covers them;
                            F_RECEIVED: how far it delivered them) */
  MLOGI_FRAME_HELLO = 3, /* a (re)started process: seq is how far it has
                            delivered our messages; resend what follows */
  /* Sender-based logging. */
  MLOGI_FRAME_RSN = 4,        /* seq: an ssn of yours; payload: varint rsn I
                                 gave it (incarnation: mine when I did) */
  MLOGI_FRAME_RSN_ACK = 5,    /* seq: the ssn whose rsn I recorded */
  MLOGI_FRAME_REPLAY_END = 6, /* seq: runs of ssns I sent back for your
                                 replay request (payload: varints request,
                                 runs, first and last ssn of each; flags:
                                 F_INCOMPLETE) */
  /* Checkpoint-only protocols (coordinated, none). */
  MLOGI_FRAME_SNAP_DONE = 7,     /* seq: the newest snapshot complete here;
                                    payload: varint, yours as I know it */
  MLOGI_FRAME_ROUND_QUERY = 8,   /* seq: a rollback round I lead: freeze,
                                    send me your positions */
  MLOGI_FRAME_ROUND_INFO = 9,    /* seq: the round; payload: my positions */
  MLOGI_FRAME_ROUND_DECIDE = 10, /* seq: the round; payload: the line */
  MLOGI_FRAME_ROUND_DONE = 11,   /* seq: the round whose line I applied */
  MLOGI_FRAME_ROUND_STALE = 12,  /* seq: a newer round than the one you
                                    asked about */
  MLOGI_FRAME_ROUND_GO = 13,     /* seq: every process applied the round's
                                    line: go on */
  /* coordinated with MLOG_PROC_KOO_TOUEG */
  MLOGI_FRAME_KT_REQUEST = 14,  /* seq: an instance; payload: varint the
                                   last ssn I received from you */
  MLOGI_FRAME_KT_REPLY = 15,    /* seq: the instance; flags F_YES */
  MLOGI_FRAME_KT_DECISION = 16, /* seq: the instance; flags F_YES: make
                                   your tentative checkpoint permanent */
  MLOGI_FRAME_KT_DONE = 17,     /* seq: the instance whose decision I have */
} mlogi_frame_kind;

#define MLOGI_FRAME_KIND_MAX MLOGI_FRAME_KT_DONE

/* Frame flags. */
#define MLOGI_FRAME_F_DV                                                       \
  0x1                            /* DATA: the payload starts with the sender's \
                                    dependency vector */
#define MLOGI_FRAME_F_STATUS 0x2 /* ACK, HELLO: the payload is a status */
#define MLOGI_FRAME_F_RSN                                                      \
  0x4 /* DATA sent back for a replay: the payload                              \
         starts with varints rsn (0: none), the                                \
         receiver's incarnation, the request */
#define MLOGI_FRAME_F_REPLAY                                                   \
  0x8 /* HELLO: send back what you keep for me                                 \
         (I am recovering), then REPLAY_END;                                   \
         payload: varint request number */
#define MLOGI_FRAME_F_LOST                                                     \
  0x10 /* HELLO: I lost the rsns of messages I                                 \
          sent you: checkpoint, then ACK with                                  \
          MLOGI_FRAME_F_COVERED */
#define MLOGI_FRAME_F_COVERED                                                  \
  0x20 /* ACK: my checkpoint covers every                                      \
          message of yours I delivered */
#define MLOGI_FRAME_F_INCOMPLETE                                               \
  0x40 /* REPLAY_END: rsns you may need are                                    \
          gone (I lost them in a crash) */
#define MLOGI_FRAME_F_ASK                                                      \
  0x100 /* SNAP_DONE: answer with what you know                                \
           (I have not seen you know mine) */
#define MLOGI_FRAME_F_MARKER                                                   \
  0x80 /* DATA under coordinated: a Chandy-Lamport                             \
          marker, not a message (payload: varint                               \
          snapshot id); it takes its place in the                              \
          channel's ssn order */
#define MLOGI_FRAME_F_RECEIVED                                                 \
  0x200 /* ACK, HELLO under none and Koo-Toueg (and                            \
           only there, always): payload varint: the                            \
           last ssn I delivered (>= seq: stop                                  \
           resending up to it); seq stays the last                             \
           one a checkpoint that no rollback drops                             \
           covers (discard up to it) */

#define MLOGI_FRAME_F_YES 0x1 /* KT_REPLY: yes; KT_DECISION: commit */

typedef struct mlogi_frame {
  uint8_t kind;
  uint16_t flags;
  uint32_t src, dst;
  uint32_t incarnation; /* the sender's (checkpoint-only protocols: the
                           group's rollback round it is in) */
  uint64_t seq;
  const void *payload; /* borrowed: points into the decoded buffer */
  uint32_t payload_len;
} mlogi_frame;

/* Bytes the frame takes on the wire. */
size_t mlogi_frame_size(const mlogi_frame *f);

/* Encode f into buf (mlogi_frame_size(f) bytes). */
void mlogi_frame_encode(const mlogi_frame *f, void *buf);

/* Decode buf[0..len); lengths are checked, never trusted. MLOG_EPROTO for
 * anything that is not exactly one well-formed frame. */
int mlogi_frame_decode(const void *buf, size_t len, mlogi_frame *f);

#endif /* MLOG_CORE_WIRE_H */
