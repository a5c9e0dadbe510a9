/* transport.h - the transport plug-in interface */
#ifndef MLOG_TRANSPORT_H
#define MLOG_TRANSPORT_H

/*
 * A transport moves opaque frames between the processes of a group. It may
 * lose, delay or duplicate frames (a peer crashes, a connection drops): the
 * delivery layer above it numbers, acknowledges, resends and deduplicates.
 * It must keep the frames of one channel (src -> dst) in order when it does
 * deliver them.
 *
 * A transport is one `static const mlog_transport_ops` table. The framework
 * allocates `size` bytes of zeroed private state and passes them as `self`.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLOG_TRANSPORT_VERSION 2 /* 2 added `suspects`; 1 is accepted */

typedef struct mlog_transport_ops {
  /* MLOG_TRANSPORT_VERSION the table was written against. */
  uint32_t version;
  /* Name chosen in configs ("sim", "zmq"); static storage. */
  const char *name;
  /* Bytes of private state the framework allocates for `self`. */
  size_t size;

  /* Required. Set up process `id` of a group of `group_size`; `config` is
   * the transport's own configuration (borrowed for the call; NULL allowed
   * when the transport needs none). On failure, close is not called. */
  int (*open)(void *self, const void *config, uint32_t id, uint32_t group_size);

  /* Required. Queue frame[0..len) for `dst` (copied before returning). A
   * frame that cannot be delivered may be dropped silently; errors are for
   * local failures only. */
  int (*send)(void *self, uint32_t dst, const void *frame, size_t len);

  /* Required. Wait at most timeout_ms (0: do not wait) for the next frame.
   * On MLOG_OK, *frame points to it, valid until the next recv or close, and
   * *src names its sender. MLOG_EAGAIN when none arrived in time. */
  int (*recv)(void *self, int timeout_ms, uint32_t *src, const void **frame,
              size_t *len);

  /* Required. Milliseconds of a monotonic clock: the simulation's virtual
   * clock in `sim`. Timeouts (retransmission, heartbeats) are measured
   * with it. */
  uint64_t (*now_ms)(void *self);

  /* Required. Release everything; `self` itself is freed by the caller. */
  void (*close)(void *self);

  /* Optional (version 2). Failure detection: does the transport suspect
   * process `id` (no sign of life for a while)? NULL: it never does. */
  bool (*suspects)(void *self, uint32_t id);
} mlog_transport_ops;

#ifdef __cplusplus
}
#endif
#endif /* MLOG_TRANSPORT_H */
