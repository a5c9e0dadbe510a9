/* depvec.c - dependency vectors: codec, merge, what a process knows of others
 */
#include <stdlib.h>
#include <string.h>

#include "core/depvec.h"
#include "mlog/mlog.h"

size_t mlogi_varint_put(uint8_t *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

size_t mlogi_varint_get(const uint8_t *in, size_t len, uint64_t *v) {
  uint64_t x = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    uint64_t b = in[i] & 0x7f;
    if (i == 9 && b > 1)
      return 0; /* more than 64 bits */
    x |= b << (7 * i);
    if (!(in[i] & 0x80)) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

size_t mlogi_dv_encode(const mlogi_interval *dv, uint32_t n, uint8_t *out) {
  uint32_t count = 0;
  for (uint32_t j = 0; j < n; j++)
    count += dv[j].rsn != 0;
  size_t at = mlogi_varint_put(out, count);
  for (uint32_t j = 0; j < n; j++) {
    if (dv[j].rsn == 0)
      continue;
    at += mlogi_varint_put(out + at, j);
    at += mlogi_varint_put(out + at, dv[j].inc);
    at += mlogi_varint_put(out + at, dv[j].rsn);
  }
  return at;
}

int mlogi_dv_decode(const uint8_t *buf, size_t len, uint32_t n,
                    mlogi_interval *dv, size_t *used) {
  memset(dv, 0, (size_t)n * sizeof *dv);
  uint64_t count, id, inc, rsn;
  size_t at = mlogi_varint_get(buf, len, &count), k;
  if (at == 0 || count > n)
    return MLOG_EPROTO;
  int64_t last = -1;
  for (uint64_t e = 0; e < count; e++) {
    if ((k = mlogi_varint_get(buf + at, len - at, &id)) == 0)
      return MLOG_EPROTO;
    at += k;
    if ((k = mlogi_varint_get(buf + at, len - at, &inc)) == 0)
      return MLOG_EPROTO;
    at += k;
    if ((k = mlogi_varint_get(buf + at, len - at, &rsn)) == 0)
      return MLOG_EPROTO;
    at += k;
    if (id >= n || (int64_t)id <= last || inc > UINT32_MAX || rsn == 0)
      return MLOG_EPROTO;
    last = (int64_t)id;
    dv[id] = (mlogi_interval){(uint32_t)inc, rsn};
  }
  *used = at;
  return MLOG_OK;
}

bool mlogi_dv_merge(mlogi_interval *dv, const mlogi_interval *other,
                    uint32_t n) {
  bool changed = false;
  for (uint32_t j = 0; j < n; j++)
    if (mlogi_interval_less(dv[j], other[j])) {
      dv[j] = other[j];
      changed = true;
    }
  return changed;
}

bool mlogi_view_learn(mlogi_peerview *pv, uint32_t inc, const uint64_t *ends) {
  if (inc <= pv->inc)
    return true;
  if (inc > pv->ends_cap) {
    uint64_t *e = realloc(pv->ends, (size_t)inc * sizeof *e);
    if (e == NULL)
      return false;
    pv->ends = e;
    pv->ends_cap = inc;
  }
  /* An incarnation that ended lower cuts the earlier ones too. */
  uint64_t low = UINT64_MAX;
  for (uint32_t k = inc; k-- > 0;) {
    low = ends[k] < low ? ends[k] : low;
    pv->ends[k] = low;
  }
  pv->inc = inc;
  pv->stable_rsn = 0; /* the stable rsn it reported was of an older one */
  return true;
}

void mlogi_view_free(mlogi_peerview *pv) {
  free(pv->ends);
  memset(pv, 0, sizeof *pv);
}
