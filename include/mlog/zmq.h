/* zmq.h - the ZeroMQ transport: a group of real processes, on one machine
 * or several */
#ifndef MLOG_ZMQ_H
#define MLOG_ZMQ_H

/*
 * Each process binds its own endpoint (a PULL socket) and connects one PUSH
 * socket to every peer's endpoint: each channel is one ZeroMQ connection,
 * FIFO while it lasts. ZeroMQ reconnects by itself when a peer restarts and
 * silently drops what was in flight across a crash (and what is sent while
 * a peer is down): the delivery layer's ssns, resends and duplicate checks
 * make up for it.
 *
 * Every frame starts with a 4-byte little-endian sender id (and a kind:
 * message or heartbeat). Each process sends a heartbeat to every peer at
 * least every heartbeat_ms; a peer heard from by neither frame nor
 * heartbeat for suspect_ms is suspected (mlog_proc_suspects).
 */

#include "mlog/mlog.h"
#include "mlog/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const mlog_transport_ops mlog_zmq_ops;

/* A group: the endpoint of each process, by id. */
typedef struct mlog_group {
  uint32_t size;
  char **endpoints; /* [size]: "tcp://host:port" or "ipc://path" */
} mlog_group;

/* The transport's config (mlog_proc_config.transport_config). */
typedef struct mlog_zmq_config {
  const mlog_group *group; /* borrowed for the open call */
  uint32_t heartbeat_ms;   /* 0 means 100 */
  uint32_t suspect_ms;     /* 0 means 1000 */
} mlog_zmq_config;

/* Read a group file: one line per process, "<id> <endpoint>", ids 0..n-1
 * each once, in any order; blank lines and lines starting with '#' are
 * skipped. EINVAL with the line named in mlog_zmq_errmsg() for anything
 * else (a missing id, a duplicate, an endpoint that is not tcp:// or
 * ipc://, trailing words); ENOENT/EACCES/EIO when the file cannot be read.
 * Free with mlog_group_free. */
MLOG_NODISCARD int mlog_group_load(const char *path, mlog_group *out);
void mlog_group_free(mlog_group *g);

/* The detailed cause of this thread's last failed mlog_group_load. */
const char *mlog_zmq_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_ZMQ_H */
