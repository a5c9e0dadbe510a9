/* depvec.h - state intervals, dependency vectors, incarnation ends */
#ifndef MLOG_CORE_DEPVEC_H
#define MLOG_CORE_DEPVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A state interval of a process starts with a delivery and is named by the
 * incarnation it was created in and that delivery's rsn (rsn 0: the initial
 * state). A dependency vector holds, per process, the latest interval the
 * current state depends on, directly or through other processes.
 *
 * Wire and log encoding (compact: only nonzero entries): LEB128 varints
 * count, then per entry process id, incarnation, rsn; ids strictly
 * increasing.
 */

typedef struct mlogi_interval {
  uint32_t inc;
  uint64_t rsn;
} mlogi_interval;

/* What one process knows of another: where its ended incarnations ended
 * and how far its log is stable. */
typedef struct mlogi_peerview {
  uint32_t inc;        /* its incarnation as far as ends are known */
  uint64_t *ends;      /* ends[k] for k < inc: last valid rsn of k (a
                          later incarnation that ended lower cuts it) */
  uint32_t ends_cap;   /* entries allocated */
  uint64_t stable_rsn; /* its log holds every interval up to it (in inc) */
  uint32_t knows_inc;  /* what it told us it knows of our incarnation */
  uint64_t knows_rsn;  /* ... and of our stable rsn */
  uint64_t status_at;  /* ms: last status sent to it */
  uint32_t sent_inc;   /* our incarnation and stable rsn in that status */
  uint64_t sent_rsn;
} mlogi_peerview;

#define MLOGI_DV_MAX_BYTES(n) (10 + (size_t)(n)*24)

/* a < b in the lineage order (incarnation, then rsn). */
static inline bool mlogi_interval_less(mlogi_interval a, mlogi_interval b) {
  return a.inc < b.inc || (a.inc == b.inc && a.rsn < b.rsn);
}

/* LEB128 varints; get returns bytes taken, 0 on truncation or overflow. */
size_t mlogi_varint_put(uint8_t *out, uint64_t v);
size_t mlogi_varint_get(const uint8_t *in, size_t len, uint64_t *v);

/* True when buf[0..len) is exactly one varint, then in *v (get takes 0
 * bytes of an empty buffer: "!= len" alone accepts it, *v unset). */
static inline bool mlogi_varint_only(const uint8_t *buf, size_t len,
                                     uint64_t *v) {
  return len > 0 && mlogi_varint_get(buf, len, v) == len;
}

/* Encode dv[0..n) into out (MLOGI_DV_MAX_BYTES(n)); returns bytes. */
size_t mlogi_dv_encode(const mlogi_interval *dv, uint32_t n, uint8_t *out);

/* Decode a vector at the start of buf into dv[0..n) (zeroed first); *used
 * gets its bytes. MLOG_EPROTO when malformed or naming a process >= n. */
int mlogi_dv_decode(const uint8_t *buf, size_t len, uint32_t n,
                    mlogi_interval *dv, size_t *used);

/* dv = max(dv, other), entry by entry; true when dv changed. */
bool mlogi_dv_merge(mlogi_interval *dv, const mlogi_interval *other,
                    uint32_t n);

/* Interval iv of the process seen through pv: was it lost (its incarnation
 * ended before it)? */
static inline bool mlogi_view_lost(const mlogi_peerview *pv,
                                   mlogi_interval iv) {
  return iv.rsn > 0 && iv.inc < pv->inc && iv.rsn > pv->ends[iv.inc];
}

/* Is interval iv stable (logged for good) as far as pv says? The stable rsn
 * a process announces bounds its intervals of earlier incarnations too:
 * after a crash it vouches for its replayed states only once it has checked
 * them against its peers' ends. */
static inline bool mlogi_view_stable(const mlogi_peerview *pv,
                                     mlogi_interval iv) {
  if (iv.rsn == 0)
    return true;
  if (iv.rsn > pv->stable_rsn)
    return false;
  return iv.inc < pv->inc ? iv.rsn <= pv->ends[iv.inc] : iv.inc == pv->inc;
}

/* Learn that the process is in incarnation inc with ends[0..inc) (as it
 * announced them); false on out of memory. */
bool mlogi_view_learn(mlogi_peerview *pv, uint32_t inc, const uint64_t *ends);

void mlogi_view_free(mlogi_peerview *pv);

#endif /* MLOG_CORE_DEPVEC_H */
