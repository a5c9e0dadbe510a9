/* zmq.c - the ZeroMQ transport: PUSH to each peer, PULL from all */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/internal.h"
#include "mlog/zmq.h"
#include "transport/zmq.h"

#define DEFAULT_HEARTBEAT_MS 100
#define DEFAULT_SUSPECT_MS 1000
#define SEND_HWM 100000 /* frames queued per peer before they are dropped */
/* A connection that broke (its peer died) is tried again every 10-20 ms
 * (ZeroMQ adds up to one more interval at random), not 100-200 ms: a
 * restarted peer is reached soon after it binds. */
#define RECONNECT_MS 10

#define REPORT_LINGER_MS 100 /* a supervisor's report waits at most this */

/*
 * The wire (include/mlog/zmq.h): a 5-byte header, u32 sender id (little-endian)
 * and u8 kind, then the body. A heartbeat's body names the process that sent
 * it: u32 pid, u64 life (random, per open). An exit report comes from
 * SUPERVISOR (no member's id) and names the process that exited: u32 id,
 * u32 pid (0: unknown).
 */
#define HEADER 5
#define IDENT 12    /* heartbeat body */
#define EXIT_BODY 8 /* exit report body */
#define SUPERVISOR UINT32_MAX
enum { KIND_FRAME = 0, KIND_HEARTBEAT = 1, KIND_EXIT = 2 };

/* A frame kept for a peer: header + body, and when it was sent. */
typedef struct kept {
  uint8_t *buf;
  size_t len;
  uint64_t at; /* ms */
} kept;

/*
 * The frames a peer's connection could not take when they were sent (it is
 * not up yet, its peer is down, or it is full), oldest first: a ring of
 * MLOGI_ZMQ_BACKLOG_FRAMES, allocated with the first frame kept. They leave,
 * in order and before any newer frame, once the connection takes them.
 */
typedef struct backlog {
  kept *ring;
  uint32_t head;
  bool beat_owed;       /* a heartbeat could not leave: it goes first */
  uint64_t handed;      /* heartbeats and frames that left from here */
  mlogi_zmq_backlog st; /* frames, bytes and what became of them */
} backlog;

/* What I know of a peer. */
typedef struct peer {
  uint64_t heard_at; /* ms: its last frame or heartbeat */
  uint32_t pid;      /* its process, as its last heartbeat said (0: none) */
  uint64_t life;
  /* A supervisor reported that the process (gone_pid, gone_life) exited:
   * suspected until a heartbeat of another process arrives (gone_life 0:
   * unknown, only the pid tells them apart). */
  bool gone;
  uint32_t gone_pid;
  uint64_t gone_life;
  backlog out; /* what its connection could not take yet */
} peer;

typedef struct zt {
  void *ctx;
  void *pull;  /* bound at my endpoint */
  void **push; /* [n] connected to each peer's (NULL: me) */
  uint32_t id, n;
  uint32_t heartbeat_ms, suspect_ms;
  peer *peers;                  /* [n] */
  uint8_t beat[HEADER + IDENT]; /* my heartbeat, header included */
  uint64_t beat_at;             /* ms: my last heartbeats */
  zmq_pollitem_t *items;        /* [n] scratch: the sockets a wait polls */
  uint32_t *item_peer;          /* [n]: whose PUSH socket items[k] is */
  zmq_msg_t msg;                /* the frame recv handed out last */
  bool has_msg;
  uint8_t *out; /* scratch: header + frame */
  size_t out_cap;
} zt;

static uint64_t zt_now_ms(void *self) {
  (void)self;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* End a context (its sockets closed), waiting out their linger. */
static void term(void *ctx) {
  while (zmq_ctx_term(ctx) != 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------------------ */
/* Backlogs                                                                 */

static bool pending(const backlog *b) {
  return b->st.frames > 0 || b->beat_owed;
}

static void drop_oldest(backlog *b) {
  kept *k = &b->ring[b->head];
  b->st.bytes -= k->len;
  free(k->buf);
  *k = (kept){0};
  b->head = (b->head + 1) % MLOGI_ZMQ_BACKLOG_FRAMES;
  b->st.frames--;
}

/* Drop the frames kept for longer than the age bound: the delivery layer
 * resends what still matters. */
static void expire(backlog *b, uint64_t now) {
  while (b->st.frames > 0 &&
         now - b->ring[b->head].at >= MLOGI_ZMQ_BACKLOG_AGE_MS) {
    drop_oldest(b);
    b->st.expired++;
  }
}

/* Keep a copy of buf[0..len) behind the frames already kept. A full
 * backlog refuses it (lost, as ZeroMQ would lose it): the older frames it
 * keeps are what the receiver can take first. MLOG_ENOMEM when no copy can
 * be made (the frame is lost too). */
static int keep(backlog *b, const uint8_t *buf, size_t len, uint64_t now) {
  expire(b, now);
  if (b->st.frames == MLOGI_ZMQ_BACKLOG_FRAMES ||
      len > MLOGI_ZMQ_BACKLOG_BYTES - b->st.bytes) {
    b->st.refused++;
    return MLOG_OK;
  }
  if (b->ring == NULL &&
      (b->ring = calloc(MLOGI_ZMQ_BACKLOG_FRAMES, sizeof *b->ring)) == NULL)
    return MLOG_ENOMEM;
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return MLOG_ENOMEM;
  memcpy(copy, buf, len);
  uint32_t tail = (b->head + b->st.frames) % MLOGI_ZMQ_BACKLOG_FRAMES;
  b->ring[tail] = (kept){.buf = copy, .len = len, .at = now};
  b->st.frames++;
  b->st.bytes += len;
  b->st.kept++;
  return MLOG_OK;
}

static void backlog_free(backlog *b) {
  while (b->st.frames > 0)
    drop_oldest(b);
  free(b->ring);
}

void mlogi_zmq_backlog_get(const void *self, uint32_t dst,
                           mlogi_zmq_backlog *out) {
  const zt *t = self;
  *out = dst < t->n && dst != t->id ? t->peers[dst].out.st
                                    : (mlogi_zmq_backlog){0};
}

/* ------------------------------------------------------------------------ */
/* The transport                                                            */

static void zt_close(void *self) {
  zt *t = self;
  if (t->has_msg)
    zmq_msg_close(&t->msg);
  for (uint32_t j = 0; t->push && j < t->n; j++)
    if (t->push[j])
      zmq_close(t->push[j]);
  if (t->pull)
    zmq_close(t->pull);
  if (t->ctx)
    term(t->ctx);
  for (uint32_t j = 0; t->peers && j < t->n; j++)
    backlog_free(&t->peers[j].out);
  free(t->push);
  free(t->peers);
  free(t->items);
  free(t->item_peer);
  free(t->out);
}

static void *make_socket(zt *t, int type) {
  void *s = zmq_socket(t->ctx, type);
  int zero = 0, one = 1, hwm = SEND_HWM, ivl = RECONNECT_MS;
  if (s && (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
            zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
            (type == ZMQ_PUSH &&
             (zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
              zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) != 0)))) {
    zmq_close(s);
    return NULL;
  }
  return s;
}

/* My heartbeat, whose body names this process (pid) and this open of it
 * (life). */
static void set_beat(zt *t) {
  uint64_t life = 0;
  while (life == 0) /* 0 means unknown */
    randombytes_buf(&life, sizeof life);
  mlogi_put_le32(t->beat, t->id);
  t->beat[4] = KIND_HEARTBEAT;
  mlogi_put_le32(t->beat + HEADER, (uint32_t)getpid());
  mlogi_put_le64(t->beat + HEADER + 4, life);
}

static int zt_open(void *self, const void *config, uint32_t id, uint32_t n) {
  zt *t = self;
  const mlog_zmq_config *cfg = config;
  if (cfg == NULL || cfg->group == NULL || cfg->group->size != n || id >= n)
    return MLOG_EINVAL;
  *t = (zt){.id = id,
            .n = n,
            .heartbeat_ms =
                cfg->heartbeat_ms ? cfg->heartbeat_ms : DEFAULT_HEARTBEAT_MS,
            .suspect_ms =
                cfg->suspect_ms ? cfg->suspect_ms : DEFAULT_SUSPECT_MS};
  t->ctx = zmq_ctx_new();
  t->push = calloc(n, sizeof *t->push);
  t->peers = calloc(n, sizeof *t->peers);
  t->items = calloc(n, sizeof *t->items);
  t->item_peer = calloc(n, sizeof *t->item_peer);
  int rc = t->ctx && t->push && t->peers && t->items && t->item_peer
               ? MLOG_OK
               : MLOG_ENOMEM;
  set_beat(t);
  if (rc == MLOG_OK && ((t->pull = make_socket(t, ZMQ_PULL)) == NULL ||
                        zmq_bind(t->pull, cfg->group->endpoints[id]) != 0))
    rc = MLOG_EIO; /* the endpoint is malformed or taken */
  uint64_t now = zt_now_ms(t);
  for (uint32_t j = 0; rc == MLOG_OK && j < n; j++) {
    t->peers[j].heard_at = now; /* a grace period before any suspicion */
    if (j == id)
      continue;
    t->push[j] = make_socket(t, ZMQ_PUSH);
    if (t->push[j] == NULL ||
        zmq_connect(t->push[j], cfg->group->endpoints[j]) != 0)
      rc = MLOG_EIO;
  }
  if (rc != MLOG_OK)
    zt_close(t);
  return rc;
}

/* Hand buf[0..len) to dst's connection without waiting: MLOG_OK, or
 * MLOG_EAGAIN when the connection cannot take it now (not up yet, its peer
 * down, or full), or MLOG_EIO when the context is ending. Any other failure
 * loses the frame (MLOG_OK: the delivery layer resends). */
static int hand(zt *t, uint32_t dst, const void *buf, size_t len) {
  if (zmq_send(t->push[dst], buf, len, ZMQ_DONTWAIT) >= 0)
    return MLOG_OK;
  if (errno == EAGAIN || errno == EINTR)
    return MLOG_EAGAIN;
  return errno == ETERM ? MLOG_EIO : MLOG_OK;
}

/* Send what dst's backlog holds, an owed heartbeat first, then the frames
 * oldest first, while its connection takes them. MLOG_OK once it is
 * empty, MLOG_EAGAIN while the connection cannot take more, MLOG_EIO when
 * the context is ending. */
static int flush(zt *t, uint32_t dst, uint64_t now) {
  backlog *b = &t->peers[dst].out;
  expire(b, now);
  if (b->beat_owed) {
    int rc = hand(t, dst, t->beat, sizeof t->beat);
    if (rc != MLOG_OK)
      return rc;
    b->beat_owed = false;
    b->handed++;
  }
  while (b->st.frames > 0) {
    const kept *k = &b->ring[b->head];
    int rc = hand(t, dst, k->buf, k->len);
    if (rc != MLOG_OK)
      return rc;
    drop_oldest(b);
    b->st.flushed++;
    b->handed++;
  }
  return MLOG_OK;
}

/* Send buf[0..len) (header + body) to dst without waiting at time now,
 * never ahead of what dst's backlog holds. When the connection cannot take
 * it, a frame is kept in the backlog; a heartbeat is owed instead (one is
 * enough). */
static int put(zt *t, uint32_t dst, const uint8_t *buf, size_t len,
               uint64_t now) {
  int rc = flush(t, dst, now);
  if (rc == MLOG_OK)
    rc = hand(t, dst, buf, len);
  if (rc != MLOG_EAGAIN)
    return rc;
  backlog *b = &t->peers[dst].out;
  if (buf[4] == KIND_HEARTBEAT) {
    b->beat_owed = true;
    return MLOG_OK;
  }
  return keep(b, buf, len, now);
}

/* Heartbeats to every peer, at most every heartbeat_ms. */
static void beat(zt *t, uint64_t now) {
  if (now - t->beat_at < t->heartbeat_ms)
    return;
  t->beat_at = now;
  for (uint32_t j = 0; j < t->n; j++)
    if (j != t->id)
      (void)put(t, j, t->beat, sizeof t->beat, now);
}

static int zt_send(void *self, uint32_t dst, const void *frame, size_t len) {
  zt *t = self;
  if (dst >= t->n || dst == t->id)
    return MLOG_EINVAL;
  uint64_t now = zt_now_ms(t); /* one clock read a frame: it shows in
                                   profiles */
  beat(t, now);
  if (mlogi_grow((void **)&t->out, &t->out_cap, HEADER + len, 1))
    return MLOG_ENOMEM;
  mlogi_put_le32(t->out, t->id);
  t->out[4] = KIND_FRAME;
  if (len)
    memcpy(t->out + HEADER, frame, len);
  return put(t, dst, t->out, HEADER + len, now);
}

/* A supervisor's report that process `id` (pid, 0: unknown) exited:
 * suspect it at once. A malformed report (its length, an id that is not a
 * peer's) is dropped. */
static void on_exit_report(zt *t, const uint8_t *body, size_t len) {
  if (len != EXIT_BODY)
    return;
  uint32_t id = mlogi_get_le32(body), pid = mlogi_get_le32(body + 4);
  if (id >= t->n || id == t->id)
    return;
  peer *pe = &t->peers[id];
  pe->gone = true;
  pe->gone_pid = pid ? pid : pe->pid;
  pe->gone_life = pe->pid == pe->gone_pid ? pe->life : 0;
}

/* A heartbeat: who sent it. One from a process other than the one
 * reported gone (another pid, or the same pid with another life) ends the
 * suspicion; one the dead process sent before it died does not. */
static void on_heartbeat(peer *pe, const uint8_t *body, size_t len) {
  if (len != IDENT || mlogi_get_le32(body) == 0)
    return; /* it names no process */
  pe->pid = mlogi_get_le32(body);
  pe->life = mlogi_get_le64(body + 4);
  if (pe->gone && (pe->pid != pe->gone_pid ||
                   (pe->gone_life != 0 && pe->life != pe->gone_life)))
    pe->gone = false;
}

/* Sort a message that arrived at time now: a frame for the caller
 * (MLOG_OK) or one the transport keeps to itself or drops (MLOG_EAGAIN). */
static int sort(zt *t, const uint8_t *p, size_t size, uint64_t now,
                uint32_t *src, const void **frame, size_t *len) {
  if (size < HEADER)
    return MLOG_EAGAIN;
  uint32_t sender = mlogi_get_le32(p);
  if (sender == SUPERVISOR && p[4] == KIND_EXIT) {
    on_exit_report(t, p + HEADER, size - HEADER);
    return MLOG_EAGAIN;
  }
  if (sender >= t->n || sender == t->id)
    return MLOG_EAGAIN; /* not one of ours: dropped */
  peer *pe = &t->peers[sender];
  pe->heard_at = now;
  if (p[4] == KIND_HEARTBEAT)
    on_heartbeat(pe, p + HEADER, size - HEADER);
  if (p[4] != KIND_FRAME)
    return MLOG_EAGAIN;
  *src = sender;
  *frame = p + HEADER;
  *len = size - HEADER;
  return MLOG_OK;
}

/* Poll my PULL socket and the PUSH sockets of the peers with a backlog,
 * into t->items; returns how many. */
static int poll_items(zt *t) {
  int count = 0;
  t->items[count++] = (zmq_pollitem_t){.socket = t->pull, .events = ZMQ_POLLIN};
  for (uint32_t j = 0; j < t->n; j++)
    if (j != t->id && pending(&t->peers[j].out)) {
      t->item_peer[count] = j;
      t->items[count++] =
          (zmq_pollitem_t){.socket = t->push[j], .events = ZMQ_POLLOUT};
    }
  return count;
}

/* Wait at most timeout_ms for a message, or for the connection of a peer
 * with a backlog to take frames (ZeroMQ says so once it is up: a PUSH
 * socket with ZMQ_IMMEDIATE is writable only then), and flush those
 * backlogs. MLOG_OK: a message waits; MLOG_EAGAIN: none (*flushed: a
 * backlog sent something); MLOG_EIO: ZeroMQ failed. */
static int wait_ready(zt *t, int timeout_ms, bool *flushed) {
  int count = poll_items(t);
  if (zmq_poll(t->items, count, timeout_ms) < 0)
    return errno == EINTR ? MLOG_EAGAIN : MLOG_EIO;
  uint64_t now = zt_now_ms(t);
  for (int k = 1; k < count; k++) {
    if (!(t->items[k].revents & ZMQ_POLLOUT))
      continue;
    backlog *b = &t->peers[t->item_peer[k]].out;
    uint64_t before = b->handed;
    if (flush(t, t->item_peer[k], now) == MLOG_EIO)
      return MLOG_EIO;
    *flushed = *flushed || b->handed != before;
  }
  return t->items[0].revents & ZMQ_POLLIN ? MLOG_OK : MLOG_EAGAIN;
}

/* Take one message from the socket (waiting at most timeout_ms; *now is
 * the time, read again after a wait): a frame for the caller (MLOG_OK), a
 * heartbeat, a report or garbage (MLOG_EAGAIN with *again set: look once
 * more), or nothing (MLOG_EAGAIN; *again set when a backlog was flushed
 * meanwhile). */
static int take(zt *t, int timeout_ms, uint64_t *now, uint32_t *src,
                const void **frame, size_t *len, bool *again) {
  *again = false;
  if (t->has_msg)
    zmq_msg_close(&t->msg);
  zmq_msg_init(&t->msg);
  t->has_msg = true;
  /* What has arrived is taken without a poll (a system call per frame
   * otherwise); backlogs still leave with every send and heartbeat. */
  if (zmq_msg_recv(&t->msg, t->pull, ZMQ_DONTWAIT) < 0) {
    if (errno != EAGAIN && errno != EINTR)
      return MLOG_EIO;
    int rc = wait_ready(t, timeout_ms, again);
    *now = zt_now_ms(t);
    if (rc != MLOG_OK)
      return rc;
    if (zmq_msg_recv(&t->msg, t->pull, ZMQ_DONTWAIT) < 0)
      return errno == EAGAIN || errno == EINTR ? MLOG_EAGAIN : MLOG_EIO;
  }
  *again = true;
  return sort(t, zmq_msg_data(&t->msg), zmq_msg_size(&t->msg), *now, src, frame,
              len);
}

static int zt_recv(void *self, int timeout_ms, uint32_t *src,
                   const void **frame, size_t *len) {
  zt *t = self;
  uint64_t now = zt_now_ms(t); /* read again only after a wait */
  uint64_t deadline = now + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    beat(t, now);
    uint64_t left = deadline > now ? deadline - now : 0;
    if (left > t->heartbeat_ms) /* wake up for the next heartbeats */
      left = t->heartbeat_ms;
    bool again;
    int rc = take(t, (int)left, &now, src, frame, len, &again);
    if (rc != MLOG_EAGAIN || (!again && now >= deadline))
      return rc;
  }
}

static bool zt_suspects(void *self, uint32_t id) {
  zt *t = self;
  if (id >= t->n || id == t->id)
    return false;
  const peer *pe = &t->peers[id];
  return pe->gone || zt_now_ms(t) - pe->heard_at >= t->suspect_ms;
}

const mlog_transport_ops mlog_zmq_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "zmq",
    .size = sizeof(zt),
    .open = zt_open,
    .send = zt_send,
    .recv = zt_recv,
    .now_ms = zt_now_ms,
    .close = zt_close,
    .suspects = zt_suspects,
};

/* ------------------------------------------------------------------------ */
/* A supervisor's reports                                                   */

static _Thread_local char group_err[256];

const char *mlog_zmq_errmsg(void) {
  return group_err;
}

__attribute__((format(printf, 2, 3))) static int
report_fail(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(group_err, sizeof group_err, fmt, ap);
  va_end(ap);
  return rc;
}

/* Queue frames for one member, in order on one new connection (the
 * context's end sends them, or drops them after the linger when the member
 * is down or unreachable). */
static int tell(void *ctx, const char *endpoint, const mlogi_zmq_frame *frames,
                size_t count) {
  void *s = zmq_socket(ctx, ZMQ_PUSH);
  if (s == NULL)
    return report_fail(MLOG_EIO, "a socket for %s: %s", endpoint,
                       zmq_strerror(errno));
  int linger = REPORT_LINGER_MS, rc = MLOG_OK;
  if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0)
    rc = report_fail(MLOG_EIO, "%s: %s", endpoint, zmq_strerror(errno));
  else if (zmq_connect(s, endpoint) != 0) /* it is malformed */
    rc = report_fail(MLOG_EINVAL, "connecting to %s: %s", endpoint,
                     zmq_strerror(errno));
  for (size_t k = 0; rc == MLOG_OK && k < count; k++)
    if (zmq_send(s, frames[k].buf, frames[k].len, ZMQ_DONTWAIT) < 0 &&
        errno != EAGAIN)
      rc = report_fail(MLOG_EIO, "sending to %s: %s", endpoint,
                       zmq_strerror(errno));
  zmq_close(s);
  return rc;
}

static bool group_ok(const mlog_group *g) {
  for (uint32_t j = 0; g && g->endpoints && j < g->size; j++)
    if (g->endpoints[j] == NULL)
      return false;
  return g && g->endpoints && g->size > 0;
}

int mlogi_zmq_push(const mlog_group *g, uint32_t skip,
                   const mlogi_zmq_frame *frames, size_t count) {
  if (!group_ok(g) || (count > 0 && frames == NULL))
    return report_fail(MLOG_EINVAL, "no group, or one without endpoints");
  void *ctx = zmq_ctx_new();
  if (ctx == NULL)
    return report_fail(MLOG_ENOMEM, "a ZeroMQ context: %s",
                       zmq_strerror(errno));
  int rc = MLOG_OK;
  for (uint32_t j = 0; j < g->size; j++) {
    int one = j == skip ? MLOG_OK : tell(ctx, g->endpoints[j], frames, count);
    rc = rc == MLOG_OK ? one : rc;
  }
  term(ctx); /* every socket lingers at once: REPORT_LINGER_MS at most */
  return rc;
}

int mlog_zmq_report_exit(const mlog_group *g, uint32_t id, pid_t pid) {
  if (!group_ok(g))
    return report_fail(MLOG_EINVAL, "no group, or one without endpoints");
  if (id >= g->size)
    return report_fail(MLOG_EINVAL, "no process %u in a group of %u", id,
                       g->size);
  if (pid < 0)
    return report_fail(MLOG_EINVAL, "pid %ld is not a process", (long)pid);
  uint8_t frame[HEADER + EXIT_BODY];
  mlogi_put_le32(frame, SUPERVISOR);
  frame[4] = KIND_EXIT;
  mlogi_put_le32(frame + HEADER, id);
  mlogi_put_le32(frame + HEADER + 4, (uint32_t)pid);
  return mlogi_zmq_push(g, id, &(mlogi_zmq_frame){frame, sizeof frame}, 1);
}

/* ------------------------------------------------------------------------ */
/* Group files                                                              */

void mlog_group_free(mlog_group *g) {
  for (uint32_t i = 0; g && g->endpoints && i < g->size; i++)
    free(g->endpoints[i]);
  if (g) {
    free(g->endpoints);
    *g = (mlog_group){0};
  }
}

static int group_fail(mlog_group *g, int rc, const char *path, unsigned line,
                      const char *what) {
  snprintf(group_err, sizeof group_err, "%s:%u: %s", path, line, what);
  mlog_group_free(g);
  return rc;
}

/* Add "<id> <endpoint>" (a line with its newline cut) to g. */
static const char *add_line(mlog_group *g, char *text) {
  char *end;
  errno = 0;
  unsigned long id = strtoul(text, &end, 10);
  if (end == text || errno || id > 4095 || (*end != ' ' && *end != '\t'))
    return "expected \"<id> <endpoint>\"";
  char endpoint[512];
  char extra[2];
  if (sscanf(end, "%511s %1s", endpoint, extra) != 1)
    return "expected one endpoint after the id";
  if (strncmp(endpoint, "tcp://", 6) != 0 &&
      strncmp(endpoint, "ipc://", 6) != 0)
    return "the endpoint is not tcp://host:port or ipc://path";
  if (id >= g->size) {
    char **grown = realloc(g->endpoints, (id + 1) * sizeof *grown);
    if (grown == NULL)
      return "out of memory";
    memset(grown + g->size, 0, (id + 1 - g->size) * sizeof *grown);
    g->endpoints = grown;
    g->size = (uint32_t)id + 1;
  }
  if (g->endpoints[id])
    return "a second line for this id";
  g->endpoints[id] = strdup(endpoint);
  return g->endpoints[id] ? NULL : "out of memory";
}

int mlog_group_load(const char *path, mlog_group *g) {
  *g = (mlog_group){0};
  FILE *f = path ? fopen(path, "r") : NULL;
  if (f == NULL) {
    int rc = errno == ENOENT   ? MLOG_ENOENT
             : errno == EACCES ? MLOG_EACCES
                               : MLOG_EIO;
    snprintf(group_err, sizeof group_err, "%s: %s", path ? path : "(null)",
             strerror(errno));
    return rc;
  }
  char text[1024];
  unsigned line = 0;
  const char *problem = NULL;
  while (problem == NULL && fgets(text, sizeof text, f)) {
    line++;
    size_t len = strcspn(text, "\r\n");
    if (text[len] == '\0' && !feof(f))
      problem = "line too long";
    text[len] = '\0';
    char *start = text + strspn(text, " \t");
    if (problem == NULL && *start != '\0' && *start != '#')
      problem = add_line(g, start);
  }
  bool io_error = ferror(f);
  fclose(f);
  if (problem)
    return group_fail(g, MLOG_EINVAL, path, line, problem);
  if (io_error)
    return group_fail(g, MLOG_EIO, path, line, "read error");
  for (uint32_t i = 0; i < g->size; i++)
    if (g->endpoints[i] == NULL) {
      char what[64];
      snprintf(what, sizeof what, "no line for process %u", i);
      return group_fail(g, MLOG_EINVAL, path, line, what);
    }
  if (g->size == 0)
    return group_fail(g, MLOG_EINVAL, path, line, "no process");
  return MLOG_OK;
}
