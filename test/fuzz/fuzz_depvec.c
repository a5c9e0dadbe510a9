/* fuzz_depvec.c - libFuzzer target for the dependency-vector decoder */

/*
 * The first byte of the input picks the group size (1..64), the rest is what
 * arrives on the wire in front of an optimistic message. Invariants, abort()
 * on any violation:
 *  - decode returns OK or EPROTO and never reads past the input;
 *  - a decoded vector names processes below the group size, with rsn > 0 for
 *    every entry it sets, and says how many bytes it took (<= the input);
 *  - encoding it and decoding the encoding gives the same vector, in the
 *    bytes encode says it wrote (<= MLOGI_DV_MAX_BYTES);
 *  - merging it into itself changes nothing; merging it into a zero vector
 *    gives it back.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/depvec.h"
#include "mlog/mlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN 64

static void fail(const char *what) {
  fprintf(stderr, "fuzz_depvec: invariant violated: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint32_t n = 1 + data[0] % MAXN;
  const uint8_t *buf = data + 1;
  size_t len = size - 1;
  uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
  if (copy == NULL)
    return 0;
  if (len)
    memcpy(copy, buf, len);
  mlogi_interval dv[MAXN], again[MAXN], zero[MAXN];
  size_t used = 0;
  int rc = mlogi_dv_decode(copy, len, n, dv, &used);
  if (rc != MLOG_OK && rc != MLOG_EPROTO)
    fail("decode returned neither OK nor EPROTO");
  if (rc == MLOG_OK) {
    if (used > len)
      fail("decode took more bytes than it was given");
    for (uint32_t j = n; j < MAXN; j++)
      dv[j] = (mlogi_interval){0, 0};
    uint8_t enc[MLOGI_DV_MAX_BYTES(MAXN)];
    size_t k = mlogi_dv_encode(dv, n, enc);
    if (k > MLOGI_DV_MAX_BYTES(n))
      fail("encode wrote more than its bound");
    size_t used2 = 0;
    if (mlogi_dv_decode(enc, k, n, again, &used2) != MLOG_OK || used2 != k ||
        memcmp(dv, again, n * sizeof *dv) != 0)
      fail("encode and decode do not round-trip");
    if (mlogi_dv_merge(again, dv, n))
      fail("merging a vector into itself changed it");
    memset(zero, 0, sizeof zero);
    bool any = false;
    for (uint32_t j = 0; j < n; j++)
      any = any || dv[j].rsn != 0;
    if (mlogi_dv_merge(zero, dv, n) != any ||
        memcmp(zero, dv, n * sizeof *dv) != 0)
      fail("merging into a zero vector did not give the vector");
  }
  free(copy);
  return 0;
}
