/* simapp.h - the application mlog sim runs, and the oracle that watches it */
#ifndef MLOG_TOOLS_SIMAPP_H
#define MLOG_TOOLS_SIMAPP_H

#include <stdbool.h>
#include <stdint.h>

#include "mlog/process.h"
#include "simcheck.h"

/* A message: it hops `ttl` more times after this delivery. */
typedef struct simmsg {
  uint32_t origin;
  uint32_t ttl;
  uint64_t id;
  uint32_t from, from_inc; /* the state interval that sent it */
  uint64_t from_rsn;
} simmsg;

/* What the driver observes of one process across all its incarnations:
 * the key and the state after each rsn, as first seen. Replay must see
 * the same again (the oracle's own divergence check, beside mlog's). */
typedef struct observed {
  uint64_t *key_at, *hash_at; /* index: rsn */
  uint32_t *inc_at;           /* the incarnation that created it */
  uint64_t cap;
  uint64_t divergences;
  uint64_t outputs; /* outputs released, over all incarnations */
} observed;

/* The application's state in one process: an order-sensitive running hash
 * of what it delivered, and how many it delivered. */
typedef struct simapp {
  uint32_t id, n;
  uint64_t hash, count;
  observed *obs;   /* borrowed from the driver */
  simtrace *trace; /* borrowed: every interval created, for simcheck */
  bool may_undo;   /* optimistic: a newer incarnation may replace a state */
  char first_divergence[160];
} simapp;

/* The callbacks, with `app` a simapp. */
extern const mlog_app simapp_callbacks;

/* The key naming one hop of one message (unique across the run). */
uint64_t simapp_key(const simmsg *m);

void observed_free(observed *o);

#endif /* MLOG_TOOLS_SIMAPP_H */
