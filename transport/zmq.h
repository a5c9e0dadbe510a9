/* zmq.h - the ZeroMQ transport's library-private part: raw frames */
#ifndef MLOG_TRANSPORT_ZMQ_H
#define MLOG_TRANSPORT_ZMQ_H

#include <stddef.h>
#include <stdint.h>

#include "mlog/zmq.h"

/* One frame as it travels: header and body (include/mlog/zmq.h). */
typedef struct mlogi_zmq_frame {
  const void *buf;
  size_t len;
} mlogi_zmq_frame;

/*
 * The backlog: a frame the connection to its peer cannot take when it is
 * sent (the connection is not up yet, the peer is down, or its queue is
 * full) is kept, at most MLOGI_ZMQ_BACKLOG_FRAMES frames and
 * MLOGI_ZMQ_BACKLOG_BYTES bytes (headers included) per peer, and for
 * MLOGI_ZMQ_BACKLOG_AGE_MS at most; once the connection takes frames, the
 * kept ones leave first, oldest first. A frame that does not fit is refused
 * (lost); one kept too long expires (lost). The delivery layer resends what
 * is lost.
 */
#define MLOGI_ZMQ_BACKLOG_FRAMES 16384u
#define MLOGI_ZMQ_BACKLOG_BYTES (4u * 1024u * 1024u)
#define MLOGI_ZMQ_BACKLOG_AGE_MS 1000u

/* One peer's backlog: what it holds now, and what became of the frames it
 * was given since the transport opened (kept = flushed + expired + frames,
 * refused apart). */
typedef struct mlogi_zmq_backlog {
  uint32_t frames;  /* kept now */
  size_t bytes;     /* their size, headers included */
  uint64_t kept;    /* frames kept */
  uint64_t flushed; /* kept frames that left, in order */
  uint64_t expired; /* kept frames dropped: older than the age bound */
  uint64_t refused; /* frames not kept: the backlog was full */
} mlogi_zmq_backlog;

/* The backlog towards dst of an open mlog_zmq_ops transport (self: its
 * private state, borrowed for the call); all zeros when dst is not a peer.
 * For tests. */
void mlogi_zmq_backlog_get(const void *self, uint32_t dst,
                           mlogi_zmq_backlog *out);

/* Push frames[0..count), in this order on one new connection per member,
 * to every member of g but `skip` (UINT32_MAX: none), waiting about
 * 100 ms at most; a member that is down misses them. What
 * mlog_zmq_report_exit sends with, and what tests forge frames with.
 * Returns as mlog_zmq_report_exit does (EINVAL for no group or a malformed
 * endpoint, the cause in mlog_zmq_errmsg()). */
int mlogi_zmq_push(const mlog_group *g, uint32_t skip,
                   const mlogi_zmq_frame *frames, size_t count);

#endif /* MLOG_TRANSPORT_ZMQ_H */
