/* wire.h - the envelope of every frame the delivery layer sends */
#ifndef MLOG_CORE_WIRE_H
#define MLOG_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MLOGI_WIRE_VERSION 1
#define MLOGI_FRAME_HEADER 32

typedef enum mlogi_frame_kind {
  MLOGI_FRAME_DATA = 1,  /* an application message: seq is its ssn */
  MLOGI_FRAME_ACK = 2,   /* seq: the sender logged our messages up to it */
  MLOGI_FRAME_HELLO = 3, /* a (re)started process: seq is how far it has
                            delivered our messages; resend what follows */
} mlogi_frame_kind;

/* Frame flags. */
#define MLOGI_FRAME_F_DV 0x1     /* DATA: the payload starts with the sender's \
                                    dependency vector */
#define MLOGI_FRAME_F_STATUS 0x2 /* ACK, HELLO: the payload is a status */

typedef struct mlogi_frame {
  uint8_t kind;
  uint16_t flags;
  uint32_t src, dst;
  uint32_t incarnation; /* the sender's */
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
