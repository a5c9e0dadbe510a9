/* simapp.c - mlog sim's application: fold messages into a hash, forward them */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simapp.h"

uint64_t simapp_key(const simmsg *m) {
  return ((uint64_t)m->origin << 48) ^ (m->id << 8) ^ m->ttl;
}

static uint64_t mix(uint64_t h, uint64_t v) { /* order-sensitive */
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static void grow(observed *o, uint64_t rsn) {
  uint64_t cap = o->cap ? o->cap : 64;
  while (cap <= rsn)
    cap *= 2;
  o->key_at = realloc(o->key_at, cap * sizeof *o->key_at);
  o->hash_at = realloc(o->hash_at, cap * sizeof *o->hash_at);
  o->inc_at = realloc(o->inc_at, cap * sizeof *o->inc_at);
  if (o->key_at == NULL || o->hash_at == NULL || o->inc_at == NULL)
    abort(); /* the driver's own bookkeeping: nothing sensible to do */
  memset(o->key_at + o->cap, 0, (cap - o->cap) * sizeof *o->key_at);
  memset(o->hash_at + o->cap, 0, (cap - o->cap) * sizeof *o->hash_at);
  memset(o->inc_at + o->cap, 0, (cap - o->cap) * sizeof *o->inc_at);
  o->cap = cap;
}

/* State interval (inc, rsn) was reached by delivering key from dep. A new
 * one is recorded; one seen before (replay) must be the same again. */
static void observe(simapp *a, uint32_t inc, uint64_t rsn, uint64_t key,
                    uint64_t dep) {
  observed *o = a->obs;
  if (rsn >= o->cap)
    grow(o, rsn);
  bool fresh = o->key_at[rsn] == 0 ||
               (a->may_undo && inc > o->inc_at[rsn]); /* replaced */
  if (fresh) {
    uint64_t prev = rsn > 1 ? simiv(a->id, o->inc_at[rsn - 1], rsn - 1) : 0;
    o->key_at[rsn] = key + 1; /* 0 means unseen */
    o->hash_at[rsn] = a->hash;
    o->inc_at[rsn] = inc;
    if (a->trace &&
        !simtrace_event(a->trace, simiv(a->id, inc, rsn), dep, prev))
      abort();
    return;
  }
  if (o->key_at[rsn] == key + 1 && o->hash_at[rsn] == a->hash &&
      o->inc_at[rsn] == inc)
    return;
  if (o->divergences++ == 0)
    snprintf(a->first_divergence, sizeof a->first_divergence,
             "process %u rsn %llu: first run delivered %016llx, now %016llx",
             a->id, (unsigned long long)rsn,
             (unsigned long long)(o->key_at[rsn] - 1), (unsigned long long)key);
}

/* Where the next hop goes: from the state, or every third hop from a
 * logged random value (so replay must return the logged one). */
static int next_hop(simapp *a, mlog_proc *p, const simmsg *m, uint32_t *dst) {
  uint64_t r = a->hash;
  if (m->ttl % 3 == 0) {
    int rc = mlog_random(p, &r);
    if (rc != MLOG_OK)
      return rc;
  }
  *dst = (uint32_t)(r % (a->n - 1));
  if (*dst >= a->id)
    (*dst)++;
  return MLOG_OK;
}

static int app_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                       size_t len) {
  simapp *a = arg;
  simmsg m;
  if (len != sizeof m)
    return 1;
  memcpy(&m, msg, sizeof m);
  uint64_t key = simapp_key(&m);
  a->hash = mix(mix(a->hash, src), key);
  a->count++;
  mlog_proc_stats st;
  mlog_proc_get_stats(p, &st);
  uint32_t inc = st.interval_incarnation;
  observe(a, inc, st.rsn, key, simiv(m.from, m.from_inc, m.from_rsn));
  uint64_t out[2] = {key, simiv(a->id, inc, st.rsn)};
  if (key % 7 == 0 && mlog_output(p, out, sizeof out) != MLOG_OK)
    return 2;
  if (m.ttl == 0 || a->n < 2)
    return 0;
  uint32_t dst;
  if (next_hop(a, p, &m, &dst) != MLOG_OK)
    return 3;
  m.ttl--;
  m.from = a->id;
  m.from_inc = inc;
  m.from_rsn = st.rsn;
  return mlog_send(p, dst, &m, sizeof m) == MLOG_OK ? 0 : 4;
}

static int app_snapshot(void *arg, mlog_buf *out) {
  simapp *a = arg;
  uint64_t s[2] = {a->hash, a->count};
  return mlog_buf_append(out, s, sizeof s) == MLOG_OK ? 0 : 1;
}

static int app_restore(void *arg, const void *state, size_t len) {
  simapp *a = arg;
  uint64_t s[2] = {0, 0};
  if (state != NULL && len != sizeof s)
    return 1;
  if (state != NULL)
    memcpy(s, state, sizeof s);
  a->hash = s[0];
  a->count = s[1];
  return 0;
}

static void app_digest(void *arg, uint8_t out[32]) {
  simapp *a = arg;
  memset(out, 0, 32);
  memcpy(out, &a->hash, 8);
  memcpy(out + 8, &a->count, 8);
}

static void app_output(void *arg, uint64_t seq, const void *buf, size_t len) {
  simapp *a = arg;
  uint64_t out[2];
  (void)seq;
  a->obs->outputs++;
  if (len == sizeof out && a->trace) {
    memcpy(out, buf, sizeof out);
    if (!simset_add(&a->trace->released, out[1]))
      abort();
  }
}

const mlog_app simapp_callbacks = {
    .deliver = app_deliver,
    .snapshot = app_snapshot,
    .restore = app_restore,
    .digest = app_digest,
    .output = app_output,
};

void observed_free(observed *o) {
  free(o->key_at);
  free(o->hash_at);
  free(o->inc_at);
  memset(o, 0, sizeof *o);
}
