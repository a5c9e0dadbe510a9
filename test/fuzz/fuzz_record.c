/* fuzz_record.c - libFuzzer target for the record decoder */

/*
 * Feeds the input to mlog_record_decode and checks the codec's invariants,
 * calling abort() on any violation:
 *  - decode returns OK, ETORN, EHEADER or EVERSION, and mlog_record_check
 *    returns the same error for an input that does not decode;
 *  - a decoded record describes exactly the input (lengths, fields, payload
 *    position, tag); one byte less is torn, one byte more is a bad header;
 *  - check (with a fixed previous tag, unkeyed and keyed) is OK or EBADTAG;
 *  - re-encoding the decoded record gives a record that decodes to the same
 *    fields and checks, and for a 56-byte header the same bytes as the input
 *    (except the minor version and reserved bytes, which a 1.0 writer zeroes,
 *    and the tag, which must be the same exactly when the input's tag checks).
 * The fixed previous tag is the genesis of process 0 without a key; the fixed
 * key's byte i is i. Seeds in test/fuzz/corpus/fuzz_record/ use both.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlog/mlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR MLOG_HEADER_BYTES

static uint8_t prev_tag[MLOG_TAG_BYTES];
static mlog_key key;
static int ready;

static void setup(void) {
  if (ready)
    return;
  mlog_chain_genesis(0, NULL, prev_tag);
  for (size_t i = 0; i < MLOG_KEY_BYTES; i++)
    key.bytes[i] = (uint8_t)i;
  ready = 1;
}

static void fail(const char *what, size_t size, int rc) {
  fprintf(stderr,
          "fuzz_record: invariant violated: %s (input of %zu bytes, "
          "code %s)\n",
          what, size, mlog_errname(rc));
  abort();
}

#define REQUIRE(cond, what, rc)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      fail(what, size, rc);                                                    \
  } while (0)

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Header bytes a 1.0 writer sets to fixed values whatever the reader saw:
 * the minor version, the header length and the reserved bytes. */
static int canonical_byte(size_t i) {
  return i == 5 || i == 6 || i == 7 || i == 10 || i == 11 ||
         (i >= 28 && i < 32);
}

static int same_fields(const mlog_record *a, const mlog_record *b) {
  return a->type == b->type && a->flags == b->flags && a->src == b->src &&
         a->dst == b->dst && a->incarnation == b->incarnation &&
         a->ssn == b->ssn && a->rsn == b->rsn && a->lsn == b->lsn &&
         a->payload_len == b->payload_len &&
         (a->payload_len == 0 ||
          memcmp(a->payload, b->payload, a->payload_len) == 0);
}

/* Re-encode the decoded record under key k (NULL: unkeyed) and compare with
 * the input; checked is what mlog_record_check said about the input. */
static void reencode(const uint8_t *data, size_t size, const mlog_record *rec,
                     const mlog_key *k, int checked) {
  size_t hdr_len = (size_t)data[6] | (size_t)data[7] << 8;
  mlog_record again = *rec;
  size_t len = mlog_record_size(rec->payload_len);
  REQUIRE(len == size - (hdr_len - HDR), "record size", MLOG_OK);
  uint8_t *buf = malloc(len);
  REQUIRE(buf != NULL, "out of memory", MLOG_ENOMEM);
  int rc = mlog_record_encode(&again, prev_tag, k, buf, len);
  REQUIRE(rc == MLOG_OK, "re-encoding a decoded record", rc);
  REQUIRE(mlog_record_check(buf, len, prev_tag, k) == MLOG_OK,
          "a re-encoded record does not check", rc);
  mlog_record back;
  rc = mlog_record_decode(buf, len, &back);
  REQUIRE(rc == MLOG_OK, "decoding a re-encoded record", rc);
  REQUIRE(same_fields(rec, &back), "re-encoded fields differ", rc);
  REQUIRE(memcmp(back.tag, again.tag, MLOG_TAG_BYTES) == 0,
          "encode's tag is not the stored tag", rc);
  REQUIRE(buf[5] == MLOG_FORMAT_MINOR && buf[6] == HDR && buf[7] == 0 &&
              (buf[10] | buf[11] | buf[28] | buf[29] | buf[30] | buf[31]) == 0,
          "the writer's fixed header bytes", rc);
  for (size_t i = 0; i < HDR; i++)
    REQUIRE(canonical_byte(i) || buf[i] == data[i], "re-encoded header byte",
            rc);
  REQUIRE(rec->payload_len == 0 ||
              memcmp(buf + HDR, data + hdr_len, rec->payload_len) == 0,
          "re-encoded payload", rc);
  int same_tag = memcmp(again.tag, rec->tag, MLOG_TAG_BYTES) == 0;
  int canonical = 1; /* the input is what a 1.0 writer writes */
  for (size_t i = 0; i < HDR; i++)
    if (canonical_byte(i) && buf[i] != data[i])
      canonical = 0;
  if (canonical) {
    /* The round trip is exact when, and only when, the tag checks. */
    REQUIRE(same_tag == (checked == MLOG_OK), "tag agreement", checked);
    if (checked == MLOG_OK)
      REQUIRE(memcmp(buf, data, size) == 0, "round trip differs", rc);
  } else {
    /* The tag covers the bytes the writer normalises (or drops): the input's
     * tag cannot fit both its own bytes and the normalised ones. */
    REQUIRE(!(same_tag && checked == MLOG_OK),
            "a normalised header kept its tag", checked);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t empty[1];
  setup();
  if (data == NULL)
    data = empty;
  mlog_record rec;
  int rc = mlog_record_decode(data, size, &rec);
  REQUIRE(rc == MLOG_OK || rc == MLOG_ETORN || rc == MLOG_EHEADER ||
              rc == MLOG_EVERSION,
          "decode returned an unexpected code", rc);
  int plain = mlog_record_check(data, size, prev_tag, NULL);
  int keyed = mlog_record_check(data, size, prev_tag, &key);
  if (rc != MLOG_OK) {
    REQUIRE(plain == rc && keyed == rc, "check disagrees with decode", plain);
    return 0;
  }
  REQUIRE(plain == MLOG_OK || plain == MLOG_EBADTAG, "unkeyed check", plain);
  REQUIRE(keyed == MLOG_OK || keyed == MLOG_EBADTAG, "keyed check", keyed);
  REQUIRE(plain != MLOG_OK || keyed != MLOG_OK,
          "one tag checks with and without the key", rc);

  /* The record describes exactly the input. */
  REQUIRE(size >= 8 && le32(data) == MLOG_RECORD_MAGIC, "magic", rc);
  REQUIRE(data[4] == MLOG_FORMAT_MAJOR, "major version", rc);
  size_t hdr_len = (size_t)data[6] | (size_t)data[7] << 8;
  REQUIRE(hdr_len >= HDR, "header length", rc);
  REQUIRE(rec.payload_len <= MLOG_PAYLOAD_MAX, "payload length", rc);
  REQUIRE(size == hdr_len + rec.payload_len + MLOG_TAG_BYTES, "record length",
          rc);
  REQUIRE(rec.payload == data + hdr_len, "payload position", rc);
  REQUIRE(rec.type >= MLOG_REC_DELIVERY && rec.type <= MLOG_REC_CONTROL, "type",
          rc);
  REQUIRE(rec.type == data[8] && rec.flags == data[9] &&
              rec.src == le32(data + 12) && rec.dst == le32(data + 16) &&
              rec.incarnation == le32(data + 20) &&
              rec.payload_len == le32(data + 24) &&
              rec.ssn == le64(data + 32) && rec.rsn == le64(data + 40) &&
              rec.lsn == le64(data + 48),
          "decoded fields", rc);
  REQUIRE(memcmp(rec.tag, data + size - MLOG_TAG_BYTES, MLOG_TAG_BYTES) == 0,
          "decoded tag", rc);

  /* One byte less is torn; one byte more is a bad header. */
  mlog_record other;
  int cut = mlog_record_decode(data, size - 1, &other);
  REQUIRE(cut == MLOG_ETORN, "one byte less is not torn", cut);
  uint8_t *longer = malloc(size + 1);
  REQUIRE(longer != NULL, "out of memory", MLOG_ENOMEM);
  memcpy(longer, data, size);
  longer[size] = 0;
  int extra = mlog_record_decode(longer, size + 1, &other);
  free(longer);
  REQUIRE(extra == MLOG_EHEADER, "one byte more is not a bad header", extra);

  reencode(data, size, &rec, NULL, plain);
  reencode(data, size, &rec, &key, keyed);
  return 0;
}
