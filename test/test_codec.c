/* test_codec.c - unit tests of the record codec, the hash chain and errors */
#include <limits.h>
#include <sodium.h>

#include "test/testutil.h"

/* One timeout for every test: Criterion 2.4.1's runner leaks (an LSan report
 * that fails the sanitizer build) when tests of one executable that run in
 * parallel have different timeouts. */
TestSuite(codec, .timeout = 60);
TestSuite(errors, .timeout = 60);

static const uint32_t lens[] = {0, 1, 63, 64, 1000, 65536};
#define N_LENS (sizeof lens / sizeof lens[0])

static const uint8_t prev0[MLOG_TAG_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

static mlog_key key_of(uint8_t seed) {
  mlog_key k;
  for (size_t i = 0; i < MLOG_KEY_BYTES; i++)
    k.bytes[i] = (uint8_t)(seed + 13 * i);
  return k;
}

/* Two field sets at the edges of their ranges. */
static mlog_record extreme(int which, uint8_t type, const void *payload,
                           uint32_t len) {
  mlog_record r;
  memset(&r, 0, sizeof r);
  r.type = type;
  r.payload = payload;
  r.payload_len = len;
  if (which == 0) {
    r.flags = 0xff;
    r.src = UINT32_MAX;
    r.dst = 0;
    r.incarnation = UINT32_MAX;
    r.ssn = UINT64_MAX;
    r.rsn = 0;
    r.lsn = UINT64_MAX;
  } else {
    r.flags = 0;
    r.src = 0;
    r.dst = UINT32_MAX;
    r.incarnation = 0;
    r.ssn = 0;
    r.rsn = UINT64_MAX;
    r.lsn = 0x8000000000000001ull;
  }
  return r;
}

/* Encode rec into a heap buffer of exactly its size. */
static uint8_t *encode(mlog_record *rec, const uint8_t *prev,
                       const mlog_key *key, size_t *size) {
  *size = mlog_record_size(rec->payload_len);
  uint8_t *buf = malloc(*size);
  cr_assert_not_null(buf);
  int rc = mlog_record_encode(rec, prev, key, buf, *size);
  cr_assert_eq(rc, MLOG_OK, "encode: %s", mlog_errname(rc));
  return buf;
}

static void assert_same_fields(const mlog_record *a, const mlog_record *b) {
  cr_assert_eq(a->type, b->type);
  cr_assert_eq(a->flags, b->flags);
  cr_assert_eq(a->src, b->src);
  cr_assert_eq(a->dst, b->dst);
  cr_assert_eq(a->incarnation, b->incarnation);
  cr_assert_eq(a->ssn, b->ssn);
  cr_assert_eq(a->rsn, b->rsn);
  cr_assert_eq(a->lsn, b->lsn);
  cr_assert_eq(a->payload_len, b->payload_len);
  cr_assert_eq(memcmp(a->tag, b->tag, MLOG_TAG_BYTES), 0);
  if (a->payload_len > 0)
    cr_assert_eq(memcmp(a->payload, b->payload, a->payload_len), 0);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */

Test(codec, round_trip_every_type_length_and_extreme) {
  uint8_t *payload = malloc(65536);
  cr_assert_not_null(payload);
  tu_fill(payload, 65536, 7);
  mlog_key k1 = key_of(1), k2 = key_of(2);
  for (uint8_t type = MLOG_REC_DELIVERY; type <= MLOG_REC_CONTROL; type++)
    for (size_t li = 0; li < N_LENS; li++)
      for (int which = 0; which < 2; which++)
        for (int keyed = 0; keyed < 2; keyed++) {
          const mlog_key *key = keyed ? &k1 : NULL;
          mlog_record in = extreme(which, type, payload, lens[li]);
          size_t size;
          uint8_t *buf = encode(&in, prev0, key, &size);
          cr_assert_eq(size,
                       (size_t)MLOG_HEADER_BYTES + lens[li] + MLOG_TAG_BYTES);
          /* The byte layout of docs/format.md. */
          cr_assert_eq(memcmp(buf, "MLGR", 4), 0);
          cr_assert_eq(buf[4], MLOG_FORMAT_MAJOR);
          cr_assert_eq(buf[5], MLOG_FORMAT_MINOR);
          cr_assert_eq(buf[6] | (buf[7] << 8), MLOG_HEADER_BYTES);
          cr_assert_eq(buf[8], type);
          cr_assert_eq(buf[10] | buf[11] | buf[28] | buf[29] | buf[30] |
                           buf[31],
                       0, "reserved bytes are zero");
          cr_assert_eq(buf[24] | (buf[25] << 8) | (buf[26] << 16) |
                           ((uint32_t)buf[27] << 24),
                       lens[li]);
          cr_assert_eq(
              memcmp(buf + size - MLOG_TAG_BYTES, in.tag, MLOG_TAG_BYTES), 0,
              "the tag trails the record");

          mlog_record out;
          memset(&out, 0xa5, sizeof out);
          int rc = mlog_record_decode(buf, size, &out);
          cr_assert_eq(rc, MLOG_OK, "decode: %s", mlog_errname(rc));
          assert_same_fields(&in, &out);
          cr_assert_eq(out.payload, buf + MLOG_HEADER_BYTES,
                       "payload points into the buffer");

          cr_assert_eq(mlog_record_check(buf, size, prev0, key), MLOG_OK);
          uint8_t other_prev[MLOG_TAG_BYTES] = {0};
          cr_assert_eq(mlog_record_check(buf, size, other_prev, key),
                       MLOG_EBADTAG);
          cr_assert_eq(mlog_record_check(buf, size, prev0, keyed ? NULL : &k1),
                       MLOG_EBADTAG, "keyed and unkeyed tags differ");
          if (keyed)
            cr_assert_eq(mlog_record_check(buf, size, prev0, &k2), MLOG_EBADTAG,
                         "another key gives another tag");

          /* Encoding is deterministic. */
          uint8_t *again = malloc(size);
          cr_assert_not_null(again);
          mlog_record in2 = extreme(which, type, payload, lens[li]);
          cr_assert_eq(mlog_record_encode(&in2, prev0, key, again, size),
                       MLOG_OK);
          cr_assert_eq(memcmp(buf, again, size), 0);
          free(again);
          free(buf);
        }
  free(payload);
}

Test(codec, keyed_and_unkeyed_tags_differ) {
  uint8_t payload[32] = {9};
  mlog_key k1 = key_of(1), k2 = key_of(2);
  mlog_record a = extreme(0, MLOG_REC_NONDET, payload, sizeof payload);
  mlog_record b = a, c = a;
  size_t sa, sb, sc;
  uint8_t *ba = encode(&a, prev0, NULL, &sa);
  uint8_t *bb = encode(&b, prev0, &k1, &sb);
  uint8_t *bc = encode(&c, prev0, &k2, &sc);
  cr_assert_neq(memcmp(a.tag, b.tag, MLOG_TAG_BYTES), 0);
  cr_assert_neq(memcmp(b.tag, c.tag, MLOG_TAG_BYTES), 0);
  cr_assert_neq(memcmp(a.tag, c.tag, MLOG_TAG_BYTES), 0);
  /* Only the tag differs: the header and payload are the same bytes. */
  size_t body = sa - MLOG_TAG_BYTES;
  cr_assert_eq(memcmp(ba, bb, body), 0);
  cr_assert_eq(memcmp(bb, bc, body), 0);
  /* The unkeyed tag is plain BLAKE2b-256(header || payload || prev). */
  uint8_t want[MLOG_TAG_BYTES];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, MLOG_TAG_BYTES);
  crypto_generichash_update(&st, ba, body);
  crypto_generichash_update(&st, prev0, MLOG_TAG_BYTES);
  crypto_generichash_final(&st, want, MLOG_TAG_BYTES);
  cr_assert_eq(memcmp(want, a.tag, MLOG_TAG_BYTES), 0);
  free(ba);
  free(bb);
  free(bc);
}

Test(codec, encode_rejects_bad_input) {
  uint8_t buf[256];
  uint8_t payload[8] = {0};
  mlog_record r = extreme(0, MLOG_REC_DELIVERY, payload, sizeof payload);
  size_t need = mlog_record_size(sizeof payload);
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, need - 1), MLOG_EINVAL,
               "buffer one byte short");
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, 0), MLOG_EINVAL);
  cr_assert_eq(mlog_record_encode(NULL, prev0, NULL, buf, need), MLOG_EINVAL);
  cr_assert_eq(mlog_record_encode(&r, NULL, NULL, buf, need), MLOG_EINVAL);
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, NULL, need), MLOG_EINVAL);
  r.type = 0;
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, need), MLOG_EINVAL);
  r.type = MLOG_REC_CONTROL + 1;
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, need), MLOG_EINVAL);
  r.type = MLOG_REC_DELIVERY;
  r.payload = NULL;
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, need), MLOG_EINVAL,
               "payload bytes without a payload");
  r.payload = payload;
  r.payload_len = MLOG_PAYLOAD_MAX + 1;
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, sizeof buf),
               MLOG_EINVAL, "payload over the maximum");
  /* An empty payload needs no pointer. */
  r.payload = NULL;
  r.payload_len = 0;
  cr_assert_eq(mlog_record_encode(&r, prev0, NULL, buf, sizeof buf), MLOG_OK);
  mlog_record out;
  cr_assert_eq(mlog_record_decode(NULL, 10, &out), MLOG_EINVAL);
  cr_assert_eq(mlog_record_decode(buf, mlog_record_size(0), NULL), MLOG_EINVAL);
  cr_assert_eq(mlog_record_check(buf, mlog_record_size(0), NULL, NULL),
               MLOG_EINVAL, "check needs a previous tag");
}

/* ------------------------------------------------------------------------ */
/* Damage: bit flips, truncation, trailing bytes, bad header fields         */

static bool is_detected(int rc) {
  return rc == MLOG_EBADTAG || rc == MLOG_ETORN || rc == MLOG_EHEADER ||
         rc == MLOG_EVERSION;
}

Test(codec, every_single_bit_flip_is_detected) {
  uint8_t payload[64];
  tu_fill(payload, sizeof payload, 3);
  mlog_key k = key_of(5);
  uint64_t flips = 0;
  for (uint32_t len = 0; len <= 64; len++)
    for (int keyed = 0; keyed < 2; keyed++) {
      const mlog_key *key = keyed ? &k : NULL;
      mlog_record r = extreme(len % 2, (uint8_t)(1 + len % 5), payload, len);
      size_t size;
      uint8_t *buf = encode(&r, prev0, key, &size);
      cr_assert_eq(mlog_record_check(buf, size, prev0, key), MLOG_OK);
      for (size_t bit = 0; bit < size * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = mlog_record_check(buf, size, prev0, key);
        cr_assert(is_detected(rc),
                  "payload %u keyed %d: flip of bit %zu (byte %zu) not "
                  "detected: %s",
                  len, keyed, bit % 8, bit / 8, mlog_errname(rc));
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        flips++;
      }
      cr_assert_eq(mlog_record_check(buf, size, prev0, key), MLOG_OK);
      free(buf);
    }
  cr_assert_gt(flips, 100000u);
}

Test(codec, truncation_at_every_length_is_torn) {
  static const uint32_t tlens[] = {0, 1, 64, 1000};
  uint8_t payload[1000];
  tu_fill(payload, sizeof payload, 11);
  for (size_t li = 0; li < 4; li++) {
    mlog_record r = extreme(0, MLOG_REC_PAYLOAD, payload, tlens[li]);
    size_t size;
    uint8_t *buf = encode(&r, prev0, NULL, &size);
    for (size_t cut = 0; cut < size; cut++) {
      /* An exact-size copy: ASan catches any read past the cut. */
      uint8_t *part = tu_dup(buf, cut);
      mlog_record out;
      int rc = mlog_record_decode(part, cut, &out);
      cr_assert_eq(rc, MLOG_ETORN, "payload %u cut at %zu: %s", tlens[li], cut,
                   mlog_errname(rc));
      rc = mlog_record_check(part, cut, prev0, NULL);
      cr_assert_eq(rc, MLOG_ETORN, "check of a cut record: %s",
                   mlog_errname(rc));
      free(part);
    }
    free(buf);
  }
}

/* A valid unkeyed record with an n-byte payload in a heap buffer of exactly
 * its size. */
static uint8_t *valid_record(uint32_t n, size_t *size) {
  uint8_t payload[256];
  tu_fill(payload, sizeof payload, n);
  mlog_record r = extreme(1, MLOG_REC_DELIVERY, payload, n);
  return encode(&r, prev0, NULL, size);
}

static int decode_rc(const uint8_t *buf, size_t len) {
  uint8_t *copy = tu_dup(buf, len);
  mlog_record out;
  int rc = mlog_record_decode(copy, len, &out);
  free(copy);
  return rc;
}

Test(codec, trailing_bytes_are_a_bad_header) {
  size_t size;
  uint8_t *buf = valid_record(10, &size);
  uint8_t *longer = calloc(1, size + 100);
  cr_assert_not_null(longer);
  memcpy(longer, buf, size);
  cr_assert_eq(decode_rc(longer, size + 1), MLOG_EHEADER);
  cr_assert_eq(decode_rc(longer, size + 100), MLOG_EHEADER);
  cr_assert_eq(mlog_record_check(longer, size + 1, prev0, NULL), MLOG_EHEADER);
  cr_assert_eq(decode_rc(longer, size), MLOG_OK);
  free(longer);
  free(buf);
}

Test(codec, wrong_magic_is_a_bad_header) {
  size_t size;
  uint8_t *buf = valid_record(5, &size);
  for (size_t i = 0; i < 4; i++) {
    buf[i] ^= 0x20;
    cr_assert_eq(decode_rc(buf, size), MLOG_EHEADER, "magic byte %zu", i);
    /* A short buffer whose first 4 bytes contradict the magic is no torn
     * record: it is not a record at all. */
    for (size_t len = 4; len < 8; len++)
      cr_assert_eq(decode_rc(buf, len), MLOG_EHEADER);
    buf[i] ^= 0x20;
  }
  /* Fewer than 4 bytes are torn, whatever they are. */
  uint8_t junk[3] = {0xff, 0xff, 0xff};
  for (size_t len = 0; len < 4; len++)
    cr_assert_eq(decode_rc(junk, len), MLOG_ETORN);
  free(buf);
}

Test(codec, unknown_major_version) {
  size_t size;
  uint8_t *buf = valid_record(5, &size);
  static const uint8_t majors[] = {0, 2, 3, 0x7f, 0xff};
  for (size_t i = 0; i < sizeof majors; i++) {
    buf[4] = majors[i];
    cr_assert_eq(decode_rc(buf, size), MLOG_EVERSION, "major %u", majors[i]);
    cr_assert_eq(mlog_record_check(buf, size, prev0, NULL), MLOG_EVERSION);
  }
  free(buf);
}

Test(codec, newer_minor_version_and_longer_header_are_read) {
  /* A 1.3 record with an 8-byte header extension: the reader skips the
   * unknown header bytes, and the tag still covers them. */
  uint8_t payload[20];
  tu_fill(payload, sizeof payload, 77);
  mlog_record r = extreme(0, MLOG_REC_CONTROL, payload, sizeof payload);
  size_t size;
  uint8_t *std = encode(&r, prev0, NULL, &size);
  size_t hlen = MLOG_HEADER_BYTES + 8, xsize = size + 8;
  uint8_t *x = malloc(xsize);
  cr_assert_not_null(x);
  memcpy(x, std, MLOG_HEADER_BYTES);
  x[5] = 3;
  x[6] = (uint8_t)hlen;
  x[7] = 0;
  memset(x + MLOG_HEADER_BYTES, 0xee, 8);
  memcpy(x + hlen, payload, sizeof payload);
  mlog_key k = key_of(9);
  crypto_generichash_state st;
  crypto_generichash_init(&st, k.bytes, MLOG_KEY_BYTES, MLOG_TAG_BYTES);
  crypto_generichash_update(&st, x, hlen + sizeof payload);
  crypto_generichash_update(&st, prev0, MLOG_TAG_BYTES);
  crypto_generichash_final(&st, x + hlen + sizeof payload, MLOG_TAG_BYTES);
  mlog_record out;
  cr_assert_eq(mlog_record_decode(x, xsize, &out), MLOG_OK);
  cr_assert_eq(out.payload, x + hlen, "payload after the longer header");
  cr_assert_eq(out.payload_len, sizeof payload);
  cr_assert_eq(out.lsn, r.lsn);
  cr_assert_eq(mlog_record_check(x, xsize, prev0, &k), MLOG_OK);
  x[MLOG_HEADER_BYTES + 3] ^= 1; /* an unknown header byte is covered */
  cr_assert_eq(mlog_record_check(x, xsize, prev0, &k), MLOG_EBADTAG);
  /* Nonzero reserved bytes or another minor in a 56-byte header decode but
   * fail the tag. */
  std[5] = 1;
  cr_assert_eq(decode_rc(std, size), MLOG_OK);
  cr_assert_eq(mlog_record_check(std, size, prev0, NULL), MLOG_EBADTAG);
  free(x);
  free(std);
}

Test(codec, unknown_type_is_a_bad_header) {
  size_t size;
  uint8_t *buf = valid_record(5, &size);
  static const uint8_t types[] = {0, 6, 0x80, 0xff};
  for (size_t i = 0; i < sizeof types; i++) {
    buf[8] = types[i];
    cr_assert_eq(decode_rc(buf, size), MLOG_EHEADER, "type %u", types[i]);
  }
  free(buf);
}

Test(codec, header_length_below_56_is_a_bad_header) {
  size_t size;
  uint8_t *buf = valid_record(5, &size);
  static const uint16_t hl[] = {0, 1, 8, 32, 55};
  for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
    buf[6] = (uint8_t)hl[i];
    buf[7] = (uint8_t)(hl[i] >> 8);
    cr_assert_eq(decode_rc(buf, size), MLOG_EHEADER, "header length %u", hl[i]);
    /* Even when the buffer ends right after the length field. */
    cr_assert_eq(decode_rc(buf, 8), MLOG_EHEADER);
  }
  /* A header length beyond the buffer is torn, never read. */
  buf[6] = 0xff;
  buf[7] = 0xff;
  cr_assert_eq(decode_rc(buf, size), MLOG_ETORN);
  free(buf);
}

Test(codec, payload_length_beyond_the_buffer_is_torn) {
  size_t size;
  uint8_t *buf = valid_record(0, &size);
  static const uint32_t pl[] = {1, 32, 1000, 1u << 20, MLOG_PAYLOAD_MAX};
  for (size_t i = 0; i < sizeof pl / sizeof pl[0]; i++) {
    buf[24] = (uint8_t)pl[i];
    buf[25] = (uint8_t)(pl[i] >> 8);
    buf[26] = (uint8_t)(pl[i] >> 16);
    buf[27] = (uint8_t)(pl[i] >> 24);
    /* decode_rc copies into an exact-size heap buffer: an out-of-bounds
     * read of the claimed payload or tag would be an ASan report. */
    cr_assert_eq(decode_rc(buf, size), MLOG_ETORN, "payload length %u", pl[i]);
    uint8_t *copy = tu_dup(buf, size);
    cr_assert_eq(mlog_record_check(copy, size, prev0, NULL), MLOG_ETORN);
    free(copy);
  }
  /* Over the maximum it is a lie, not a tear. */
  static const uint32_t over[] = {MLOG_PAYLOAD_MAX + 1, UINT32_MAX};
  for (size_t i = 0; i < 2; i++) {
    buf[24] = (uint8_t)over[i];
    buf[25] = (uint8_t)(over[i] >> 8);
    buf[26] = (uint8_t)(over[i] >> 16);
    buf[27] = (uint8_t)(over[i] >> 24);
    cr_assert_eq(decode_rc(buf, size), MLOG_EHEADER);
  }
  free(buf);
}

/* ------------------------------------------------------------------------ */
/* The hash chain                                                           */

Test(codec, chain_detects_deletion_swap_and_duplication) {
  mlog_key k = key_of(42);
  for (int keyed = 0; keyed < 2; keyed++) {
    const mlog_key *key = keyed ? &k : NULL;
    uint8_t genesis[MLOG_TAG_BYTES];
    mlog_chain_genesis(3, key, genesis);
    uint8_t payload[3][16];
    mlog_record r[3];
    uint8_t *buf[3];
    size_t size[3];
    const uint8_t *prev = genesis;
    for (int i = 0; i < 3; i++) {
      tu_fill(payload[i], 16, (uint64_t)i);
      r[i] = tu_record((uint64_t)i, payload[i], 16);
      r[i].lsn = (uint64_t)i + 1;
      buf[i] = encode(&r[i], prev, key, &size[i]);
      prev = r[i].tag;
    }
    /* The intact chain. */
    cr_assert_eq(mlog_record_check(buf[0], size[0], genesis, key), MLOG_OK);
    cr_assert_eq(mlog_record_check(buf[1], size[1], r[0].tag, key), MLOG_OK);
    cr_assert_eq(mlog_record_check(buf[2], size[2], r[1].tag, key), MLOG_OK);
    /* Record 1 deleted: record 2 follows the genesis. */
    cr_assert_eq(mlog_record_check(buf[1], size[1], genesis, key),
                 MLOG_EBADTAG);
    /* Records 2 and 3 swapped: 1, 3, 2. */
    cr_assert_eq(mlog_record_check(buf[2], size[2], r[0].tag, key),
                 MLOG_EBADTAG);
    cr_assert_eq(mlog_record_check(buf[1], size[1], r[2].tag, key),
                 MLOG_EBADTAG);
    /* Record 2 duplicated: 1, 2, 2. */
    cr_assert_eq(mlog_record_check(buf[1], size[1], r[1].tag, key),
                 MLOG_EBADTAG);
    /* The chain of another process, or under another key. */
    uint8_t other[MLOG_TAG_BYTES];
    mlog_chain_genesis(4, key, other);
    cr_assert_eq(mlog_record_check(buf[0], size[0], other, key), MLOG_EBADTAG);
    for (int i = 0; i < 3; i++)
      free(buf[i]);
  }
}

Test(codec, genesis_binds_process_and_key) {
  mlog_key k1 = key_of(1), k2 = key_of(2);
  uint8_t a[MLOG_TAG_BYTES], b[MLOG_TAG_BYTES], c[MLOG_TAG_BYTES],
      d[MLOG_TAG_BYTES], e[MLOG_TAG_BYTES], a2[MLOG_TAG_BYTES];
  mlog_chain_genesis(0, NULL, a);
  mlog_chain_genesis(0, NULL, a2);
  mlog_chain_genesis(1, NULL, b);
  mlog_chain_genesis(0, &k1, c);
  mlog_chain_genesis(0, &k2, d);
  mlog_chain_genesis(UINT32_MAX, &k1, e);
  cr_assert_eq(memcmp(a, a2, MLOG_TAG_BYTES), 0, "deterministic");
  const uint8_t *all[] = {a, b, c, d, e};
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      cr_assert_neq(memcmp(all[i], all[j], MLOG_TAG_BYTES), 0,
                    "genesis %d == genesis %d", i, j);
  /* docs/format.md: BLAKE2b-256(key?, "mlog chain genesis v1" 0x00 u32le). */
  static const char label[] = "mlog chain genesis v1";
  uint8_t msg[sizeof label + 4], want[MLOG_TAG_BYTES];
  memcpy(msg, label, sizeof label);
  msg[sizeof label] = 1;
  msg[sizeof label + 1] = msg[sizeof label + 2] = msg[sizeof label + 3] = 0;
  crypto_generichash(want, sizeof want, msg, sizeof msg, NULL, 0);
  cr_assert_eq(memcmp(want, b, MLOG_TAG_BYTES), 0);
  msg[sizeof label] = 0;
  crypto_generichash(want, sizeof want, msg, sizeof msg, k1.bytes,
                     MLOG_KEY_BYTES);
  cr_assert_eq(memcmp(want, c, MLOG_TAG_BYTES), 0);
}

/* ------------------------------------------------------------------------ */
/* The error table                                                          */

Test(errors, every_code_has_a_distinct_name_and_a_message) {
  static const struct {
    int code;
    const char *name;
  } table[] = {
#define ROW(name, msg) {MLOG_##name, #name},
      MLOG_ERRNO_MAP(ROW)
#undef ROW
  };
  size_t n = sizeof table / sizeof table[0];
  cr_assert_eq(n, (size_t)MLOG_ERR_COUNT_ - 1);
  cr_assert_str_eq(mlog_errname(MLOG_OK), "OK");
  cr_assert_str_neq(mlog_strerror(MLOG_OK), "");
  for (size_t i = 0; i < n; i++) {
    int c = table[i].code;
    cr_assert_eq(c, (int)i + 1, "codes are dense from 1");
    cr_assert_str_eq(mlog_errname(c), table[i].name);
    cr_assert_not_null(mlog_strerror(c));
    cr_assert_str_neq(mlog_strerror(c), "");
    cr_assert_str_neq(mlog_strerror(c), "unknown error");
    cr_assert_str_neq(mlog_errname(c), "EUNKNOWN");
    for (int j = 0; j < c; j++) {
      cr_assert_str_neq(mlog_errname(c), mlog_errname(j), "%s twice",
                        mlog_errname(c));
      cr_assert_str_neq(mlog_strerror(c), mlog_strerror(j));
    }
  }
  static const int bad[] = {
      -1, -1000, INT_MIN, MLOG_ERR_COUNT_, MLOG_ERR_COUNT_ + 1, INT_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_str_eq(mlog_errname(bad[i]), "EUNKNOWN");
    cr_assert_str_eq(mlog_strerror(bad[i]), "unknown error");
  }
  cr_assert_str_eq(mlog_version(), MLOG_VERSION_STRING);
}
