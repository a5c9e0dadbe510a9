/* sim.c - the simulated transport: seeded scheduler, FIFO channels, crashes */
#include <stdlib.h>

#include "core/internal.h"
#include "mlog/sim.h"

typedef struct frame {
  struct frame *next;
  uint64_t arrival; /* virtual ms */
  uint32_t src, dst;
  size_t len;
  uint8_t data[];
} frame;

typedef struct queue {
  frame *head, *tail;
} queue;

struct mlog_sim {
  uint64_t rng;
  uint64_t now;
  uint32_t n;
  uint32_t min_delay, max_delay, drop_percent;
  uint64_t pending;
  queue *channels; /* n*n: src*n + dst */
  queue *inboxes;  /* n */
  bool *attached;  /* a process has the transport open */
  uint32_t *ready; /* scratch: channels whose head has arrived */
};

/* The transport's private state for one process. */
typedef struct endpoint {
  mlog_sim *sim;
  uint32_t id;
  frame *current; /* the frame recv handed out last */
} endpoint;

uint64_t mlog_sim_random(mlog_sim *sim) { /* splitmix64 */
  uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void push(queue *q, frame *f) {
  f->next = NULL;
  if (q->tail)
    q->tail->next = f;
  else
    q->head = f;
  q->tail = f;
}

static frame *pop(queue *q) {
  frame *f = q->head;
  if (f) {
    q->head = f->next;
    if (q->head == NULL)
      q->tail = NULL;
  }
  return f;
}

static void drain(mlog_sim *sim, queue *q) {
  frame *f;
  while ((f = pop(q)) != NULL) {
    sim->pending--;
    free(f);
  }
}

int mlog_sim_create(const mlog_sim_options *opt, mlog_sim **out) {
  *out = NULL;
  if (opt == NULL || opt->procs == 0 || opt->procs > 4096 ||
      opt->min_delay_ms > opt->max_delay_ms || opt->drop_percent > 100)
    return MLOG_EINVAL;
  mlog_sim *sim = calloc(1, sizeof *sim);
  if (sim == NULL)
    return MLOG_ENOMEM;
  uint32_t n = opt->procs;
  sim->n = n;
  sim->rng = opt->seed;
  sim->min_delay = opt->max_delay_ms ? opt->min_delay_ms : 1;
  sim->max_delay = opt->max_delay_ms ? opt->max_delay_ms : 20;
  sim->drop_percent = opt->drop_percent;
  sim->channels = calloc((size_t)n * n, sizeof *sim->channels);
  sim->inboxes = calloc(n, sizeof *sim->inboxes);
  sim->attached = calloc(n, sizeof *sim->attached);
  sim->ready = calloc((size_t)n * n, sizeof *sim->ready);
  if (!sim->channels || !sim->inboxes || !sim->attached || !sim->ready) {
    mlog_sim_destroy(sim);
    return MLOG_ENOMEM;
  }
  *out = sim;
  return MLOG_OK;
}

void mlog_sim_destroy(mlog_sim *sim) {
  if (sim == NULL)
    return;
  for (uint64_t i = 0; sim->channels && i < (uint64_t)sim->n * sim->n; i++)
    drain(sim, &sim->channels[i]);
  for (uint32_t i = 0; sim->inboxes && i < sim->n; i++)
    drain(sim, &sim->inboxes[i]);
  free(sim->channels);
  free(sim->inboxes);
  free(sim->attached);
  free(sim->ready);
  free(sim);
}

uint64_t mlog_sim_now(const mlog_sim *sim) {
  return sim->now;
}

uint64_t mlog_sim_pending(const mlog_sim *sim) {
  return sim->pending;
}

void mlog_sim_advance(mlog_sim *sim, uint64_t ms) {
  sim->now += ms;
}

void mlog_sim_crash(mlog_sim *sim, uint32_t id) {
  if (id >= sim->n)
    return;
  sim->attached[id] = false;
  drain(sim, &sim->inboxes[id]);
  for (uint32_t src = 0; src < sim->n; src++)
    drain(sim, &sim->channels[(size_t)src * sim->n + id]);
}

/* The earliest arrival among channel heads; false when all are empty. */
static bool earliest_arrival(const mlog_sim *sim, uint64_t *t) {
  bool any = false;
  for (uint64_t i = 0; i < (uint64_t)sim->n * sim->n; i++) {
    const frame *f = sim->channels[i].head;
    if (f && (!any || f->arrival < *t)) {
      *t = f->arrival;
      any = true;
    }
  }
  return any;
}

int mlog_sim_step(mlog_sim *sim, uint32_t *dst) {
  uint64_t t = 0; /* set when earliest_arrival returns true */
  if (!earliest_arrival(sim, &t))
    return MLOG_EAGAIN;
  if (t > sim->now)
    sim->now = t;
  uint32_t nready = 0;
  for (uint64_t i = 0; i < (uint64_t)sim->n * sim->n; i++) {
    const frame *f = sim->channels[i].head;
    if (f && f->arrival <= sim->now)
      sim->ready[nready++] = (uint32_t)i;
  }
  queue *ch = &sim->channels[sim->ready[mlog_sim_random(sim) % nready]];
  frame *f = pop(ch);
  *dst = f->dst;
  push(&sim->inboxes[f->dst], f);
  return MLOG_OK;
}

/* ------------------------------------------------------------------------ */
/* The transport ops                                                        */

static int sim_open(void *self, const void *config, uint32_t id,
                    uint32_t group_size) {
  endpoint *ep = self;
  mlog_sim *sim = (mlog_sim *)config;
  if (sim == NULL || group_size != sim->n || id >= sim->n)
    return MLOG_EINVAL;
  if (sim->attached[id])
    return MLOG_EBUSY;
  ep->sim = sim;
  ep->id = id;
  sim->attached[id] = true;
  return MLOG_OK;
}

static int sim_send(void *self, uint32_t dst, const void *buf, size_t len) {
  endpoint *ep = self;
  mlog_sim *sim = ep->sim;
  if (dst >= sim->n)
    return MLOG_EINVAL;
  if (sim->drop_percent && mlog_sim_random(sim) % 100 < sim->drop_percent)
    return MLOG_OK;
  if (!sim->attached[dst]) /* crashed: dropped until it opens again */
    return MLOG_OK;
  frame *f = malloc(sizeof *f + len);
  if (f == NULL)
    return MLOG_ENOMEM;
  queue *ch = &sim->channels[(size_t)ep->id * sim->n + dst];
  uint64_t span = sim->max_delay - sim->min_delay + 1;
  f->arrival = sim->now + sim->min_delay + mlog_sim_random(sim) % span;
  if (ch->tail && ch->tail->arrival > f->arrival)
    f->arrival = ch->tail->arrival; /* FIFO: never overtake */
  f->src = ep->id;
  f->dst = dst;
  f->len = len;
  memcpy(f->data, buf, len);
  push(ch, f);
  sim->pending++;
  return MLOG_OK;
}

static int sim_recv(void *self, int timeout_ms, uint32_t *src, const void **buf,
                    size_t *len) {
  (void)timeout_ms; /* virtual time only moves in the driver */
  endpoint *ep = self;
  free(ep->current);
  ep->current = NULL;
  if (!ep->sim->attached[ep->id])
    return MLOG_EAGAIN;
  frame *f = pop(&ep->sim->inboxes[ep->id]);
  if (f == NULL)
    return MLOG_EAGAIN;
  ep->sim->pending--;
  ep->current = f;
  *src = f->src;
  *buf = f->data;
  *len = f->len;
  return MLOG_OK;
}

static uint64_t sim_now_ms(void *self) {
  endpoint *ep = self;
  return ep->sim->now;
}

static void sim_close(void *self) {
  endpoint *ep = self;
  free(ep->current);
  ep->current = NULL;
  if (ep->sim != NULL)
    mlog_sim_crash(ep->sim, ep->id); /* an exit drops the inbox too */
}

const mlog_transport_ops mlog_sim_ops = {
    .version = MLOG_TRANSPORT_VERSION,
    .name = "sim",
    .size = sizeof(endpoint),
    .open = sim_open,
    .send = sim_send,
    .recv = sim_recv,
    .now_ms = sim_now_ms,
    .close = sim_close,
};
