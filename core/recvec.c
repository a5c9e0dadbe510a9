/* recvec.c - growable vectors of records whose payloads live in an arena */
#include <stdlib.h>

#include "core/proc.h"

int mlogi_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return MLOG_OK;
  size_t c = *cap ? *cap : 16;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, c * elem);
  if (q == NULL)
    return MLOG_ENOMEM;
  *p = q;
  *cap = c;
  return MLOG_OK;
}

int mlogi_recvec_add(recvec *v, const mlog_record *rec) {
  size_t cap = v->cap;
  int rc = mlogi_grow((void **)&v->recs, &cap, v->n + 1, sizeof *v->recs);
  if (rc == MLOG_OK)
    rc = mlogi_grow((void **)&v->offs, &v->cap, v->n + 1, sizeof *v->offs);
  if (rc == MLOG_OK)
    rc = mlogi_grow((void **)&v->arena, &v->arena_cap,
                    v->used + rec->payload_len, 1);
  if (rc != MLOG_OK)
    return rc;
  v->recs[v->n] = *rec;
  v->offs[v->n] = v->used;
  if (rec->payload_len)
    memcpy(v->arena + v->used, rec->payload, rec->payload_len);
  v->used += rec->payload_len;
  v->n++;
  return MLOG_OK;
}

void mlogi_recvec_fix(recvec *v) {
  for (size_t i = 0; i < v->n; i++)
    v->recs[i].payload = v->arena + v->offs[i];
}

void mlogi_recvec_clear(recvec *v) {
  v->n = 0;
  v->used = 0;
}

void mlogi_recvec_free(recvec *v) {
  free(v->recs);
  free(v->offs);
  free(v->arena);
  memset(v, 0, sizeof *v);
}
