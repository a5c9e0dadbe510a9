/* zmq.h - the ZeroMQ transport: a group of real processes, on one machine
 * or several */
#ifndef MLOG_ZMQ_H
#define MLOG_ZMQ_H

/*
 * Each process binds its own endpoint (a PULL socket) and connects one PUSH
 * socket to every peer's endpoint: each channel is one ZeroMQ connection,
 * FIFO while it lasts. ZeroMQ reconnects by itself (every 10-20 ms) when a
 * peer restarts and silently drops what was in flight across a crash. A
 * frame that cannot leave yet (the connection is not up, the peer is down)
 * waits in a per-peer backlog, in order, for at most 1 s (16,384 frames,
 * 4 MiB: a recovering process's whole replay answer); past those bounds
 * frames are dropped. The delivery
 * layer's ssns, resends and duplicate checks make up for every loss.
 *
 * Every frame starts with a 5-byte header: the sender's id (u32,
 * little-endian) and a kind (u8): 0 a message, 1 a heartbeat, 2 an exit
 * report. Each process sends a heartbeat to every peer at least every
 * heartbeat_ms; its body names the process: u32 pid, u64 life (random,
 * drawn at each open). A peer heard from by neither frame nor heartbeat for
 * suspect_ms is suspected (mlog_proc_suspects).
 *
 * A supervisor that sees a member exit (waitpid) may also say so at once
 * (mlog_zmq_report_exit): an exit report, sender id UINT32_MAX (no
 * member's), body u32 id, u32 pid (0: unknown). Each member that gets it
 * suspects that process until it hears a heartbeat from another process
 * (its restart): frames the dead one sent before it died, still on their
 * way, do not end the suspicion. A malformed report (its length, an id not
 * in the group, the receiver's own id) is dropped.
 */

#include <sys/types.h>

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

/* Tell every member of g but `id` that member `id` exited: the process
 * `pid` is gone. For a supervisor (not a member: any program that knows
 * the group, typically the parent that reaped the member); call it before
 * starting the member again. Each member then suspects `id` until it hears
 * a heartbeat from another process than `pid` (or from `pid` with another
 * life than the one it last heard): the restart's first heartbeat.
 *
 * Pass the pid waitpid() returned. 0 (unknown) names the process each
 * member heard from last: a member that hears the restart before the
 * report then suspects the restart until it exits in turn, and one that
 * never heard the dead process takes any heartbeat as a restart's, even
 * one the dead process sent before it died.
 *
 * The reports leave on new connections and the call waits about 100 ms at
 * most: a member that is down, or unreachable in that time, misses its
 * report (its own restart needs none). g is borrowed for the call. Returns
 * MLOG_OK once every report was queued; MLOG_EINVAL for no group, an id
 * outside it or a negative pid (nothing sent), or an endpoint ZeroMQ
 * refuses (the other members are still told); MLOG_ENOMEM or MLOG_EIO when
 * ZeroMQ fails locally. The cause is in mlog_zmq_errmsg(). */
MLOG_NODISCARD int mlog_zmq_report_exit(const mlog_group *g, uint32_t id,
                                        pid_t pid);

/* The detailed cause of this thread's last failed mlog_group_load or
 * mlog_zmq_report_exit. */
const char *mlog_zmq_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_ZMQ_H */
