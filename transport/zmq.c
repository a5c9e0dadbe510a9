/* zmq.c - the ZeroMQ transport: PUSH to each peer, PULL from all */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "core/internal.h"
#include "mlog/zmq.h"

#define DEFAULT_HEARTBEAT_MS 100
#define DEFAULT_SUSPECT_MS 1000
#define SEND_HWM 100000 /* frames queued per peer before they are dropped */

#define HEADER 5 /* u32 sender id, u8 kind */
enum { KIND_FRAME = 0, KIND_HEARTBEAT = 1 };

typedef struct zt {
  void *ctx;
  void *pull;  /* bound at my endpoint */
  void **push; /* [n] connected to each peer's (NULL: me) */
  uint32_t id, n;
  uint32_t heartbeat_ms, suspect_ms;
  uint64_t *heard_at; /* [n] ms: the last frame or heartbeat from each */
  uint64_t beat_at;   /* ms: my last heartbeats */
  zmq_msg_t msg;      /* the frame recv handed out last */
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
    zmq_ctx_term(t->ctx);
  free(t->push);
  free(t->heard_at);
  free(t->out);
}

static void *make_socket(zt *t, int type) {
  void *s = zmq_socket(t->ctx, type);
  int zero = 0, one = 1, hwm = SEND_HWM;
  if (s && (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
            zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
            (type == ZMQ_PUSH &&
             zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one) != 0))) {
    zmq_close(s);
    return NULL;
  }
  return s;
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
  t->heard_at = calloc(n, sizeof *t->heard_at);
  int rc = t->ctx && t->push && t->heard_at ? MLOG_OK : MLOG_ENOMEM;
  if (rc == MLOG_OK && ((t->pull = make_socket(t, ZMQ_PULL)) == NULL ||
                        zmq_bind(t->pull, cfg->group->endpoints[id]) != 0))
    rc = MLOG_EIO; /* the endpoint is malformed or taken */
  uint64_t now = zt_now_ms(t);
  for (uint32_t j = 0; rc == MLOG_OK && j < n; j++) {
    t->heard_at[j] = now; /* a grace period before any suspicion */
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

/* Send header + body to dst without waiting: a peer that is down or
 * slow loses it (the delivery layer resends). */
static int put(zt *t, uint32_t dst, uint8_t kind, const void *body,
               size_t len) {
  if (mlogi_grow((void **)&t->out, &t->out_cap, HEADER + len, 1))
    return MLOG_ENOMEM;
  mlogi_put_le32(t->out, t->id);
  t->out[4] = kind;
  if (len)
    memcpy(t->out + HEADER, body, len);
  if (zmq_send(t->push[dst], t->out, HEADER + len, ZMQ_DONTWAIT) < 0 &&
      errno != EAGAIN)
    return errno == ETERM ? MLOG_EIO : MLOG_OK;
  return MLOG_OK;
}

/* Heartbeats to every peer, at most every heartbeat_ms. */
static void beat(zt *t, uint64_t now) {
  if (now - t->beat_at < t->heartbeat_ms)
    return;
  t->beat_at = now;
  for (uint32_t j = 0; j < t->n; j++)
    if (j != t->id)
      (void)put(t, j, KIND_HEARTBEAT, NULL, 0);
}

static int zt_send(void *self, uint32_t dst, const void *frame, size_t len) {
  zt *t = self;
  if (dst >= t->n || dst == t->id)
    return MLOG_EINVAL;
  beat(t, zt_now_ms(t));
  return put(t, dst, KIND_FRAME, frame, len);
}

/* Take one message from the socket (waiting at most timeout_ms): a frame
 * for the caller (MLOG_OK), a heartbeat or garbage (MLOG_EAGAIN with
 * *again set: look once more), or nothing (MLOG_EAGAIN). */
static int take(zt *t, int timeout_ms, uint32_t *src, const void **frame,
                size_t *len, bool *again) {
  *again = false;
  zmq_pollitem_t item = {.socket = t->pull, .events = ZMQ_POLLIN};
  int n = zmq_poll(&item, 1, timeout_ms);
  if (n < 0)
    return errno == EINTR ? MLOG_EAGAIN : MLOG_EIO;
  if (n == 0)
    return MLOG_EAGAIN;
  if (t->has_msg)
    zmq_msg_close(&t->msg);
  zmq_msg_init(&t->msg);
  t->has_msg = true;
  if (zmq_msg_recv(&t->msg, t->pull, ZMQ_DONTWAIT) < 0)
    return errno == EAGAIN || errno == EINTR ? MLOG_EAGAIN : MLOG_EIO;
  const uint8_t *p = zmq_msg_data(&t->msg);
  size_t size = zmq_msg_size(&t->msg);
  *again = true;
  if (size < HEADER || mlogi_get_le32(p) >= t->n || mlogi_get_le32(p) == t->id)
    return MLOG_EAGAIN; /* not one of ours: dropped */
  *src = mlogi_get_le32(p);
  t->heard_at[*src] = zt_now_ms(t);
  if (p[4] != KIND_FRAME)
    return MLOG_EAGAIN;
  *frame = p + HEADER;
  *len = size - HEADER;
  return MLOG_OK;
}

static int zt_recv(void *self, int timeout_ms, uint32_t *src,
                   const void **frame, size_t *len) {
  zt *t = self;
  uint64_t deadline =
      zt_now_ms(t) + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    uint64_t now = zt_now_ms(t);
    beat(t, now);
    uint64_t left = deadline > now ? deadline - now : 0;
    if (left > t->heartbeat_ms) /* wake up for the next heartbeats */
      left = t->heartbeat_ms;
    bool again;
    int rc = take(t, (int)left, src, frame, len, &again);
    if (rc != MLOG_EAGAIN || (!again && zt_now_ms(t) >= deadline))
      return rc;
  }
}

static bool zt_suspects(void *self, uint32_t id) {
  zt *t = self;
  return id < t->n && id != t->id &&
         zt_now_ms(t) - t->heard_at[id] >= t->suspect_ms;
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
/* Group files                                                              */

static _Thread_local char group_err[256];

const char *mlog_zmq_errmsg(void) {
  return group_err;
}

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
