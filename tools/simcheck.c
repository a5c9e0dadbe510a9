/* simcheck.c - orphans computed from the recorded dependencies alone */
#include <stdlib.h>
#include <string.h>

#include "simcheck.h"

uint64_t simiv(uint32_t proc, uint32_t inc, uint64_t rsn) {
  return ((uint64_t)proc << 58) | ((uint64_t)(inc & 0x3ffff) << 40) |
         (rsn & 0xffffffffffull);
}

static uint64_t hash(uint64_t v) {
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdull;
  return v ^ (v >> 33);
}

static bool insert(uint64_t *slots, size_t cap, uint64_t v) {
  for (size_t i = hash(v) & (cap - 1);; i = (i + 1) & (cap - 1)) {
    if (slots[i] == v)
      return false;
    if (slots[i] == 0) {
      slots[i] = v;
      return true;
    }
  }
}

bool simset_add(simset *s, uint64_t v) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 256;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
      return false;
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i])
        insert(slots, cap, s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  s->n += insert(s->slots, s->cap, v);
  return true;
}

bool simset_has(const simset *s, uint64_t v) {
  if (s->cap == 0 || v == 0)
    return false;
  for (size_t i = hash(v) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->slots[i] == v)
      return true;
    if (s->slots[i] == 0)
      return false;
  }
}

void simset_free(simset *s) {
  free(s->slots);
  memset(s, 0, sizeof *s);
}

bool simtrace_event(simtrace *t, uint64_t iv, uint64_t dep, uint64_t prev) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 1024;
    simevent *ev = realloc(t->ev, cap * sizeof *ev);
    if (ev == NULL)
      return false;
    t->ev = ev;
    t->cap = cap;
  }
  t->ev[t->n++] = (simevent){iv, dep, prev};
  return true;
}

void simtrace_free(simtrace *t) {
  free(t->ev);
  simset_free(&t->lost);
  simset_free(&t->released);
  memset(t, 0, sizeof *t);
}

bool simcheck_run(const simtrace *t, const simset *surviving, simcheck *out) {
  memset(out, 0, sizeof *out);
  simset orphan = {0};
  bool ok = true;
  /* Creation order: what an interval depends on was created before it. */
  for (size_t i = 0; i < t->n && ok; i++) {
    const simevent *e = &t->ev[i];
    bool bad = simset_has(&t->lost, e->dep) || simset_has(&orphan, e->dep) ||
               simset_has(&t->lost, e->prev) || simset_has(&orphan, e->prev);
    if (bad && !simset_has(&orphan, e->iv)) {
      ok = simset_add(&orphan, e->iv);
      out->orphans++;
    }
  }
  for (size_t i = 0; i < t->n && ok; i++) {
    uint64_t iv = t->ev[i].iv;
    bool is_orphan = simset_has(&orphan, iv), lost = simset_has(&t->lost, iv);
    bool undone = !simset_has(surviving, iv) && !lost;
    out->rolled_back += undone;
    out->missed += is_orphan && !lost && !undone;
    out->spurious += undone && !is_orphan;
  }
  for (size_t i = 0; i < t->released.cap; i++) {
    uint64_t iv = t->released.slots[i];
    out->bad_outputs += iv != 0 && !simset_has(surviving, iv);
  }
  simset_free(&orphan);
  return ok;
}
