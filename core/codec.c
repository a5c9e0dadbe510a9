/* codec.c - the record codec: header, payload and the chained BLAKE2b tag */
#include <sodium.h>
#include <stdlib.h>

#include "core/internal.h"

/* Header field offsets of format 1.0 (docs/format.md). */
enum {
  OFF_MAGIC = 0,
  OFF_MAJOR = 4,
  OFF_MINOR = 5,
  OFF_HDRLEN = 6,
  OFF_TYPE = 8,
  OFF_FLAGS = 9,
  OFF_SRC = 12,
  OFF_DST = 16,
  OFF_INCARNATION = 20,
  OFF_PAYLOAD_LEN = 24,
  OFF_SSN = 32,
  OFF_RSN = 40,
  OFF_LSN = 48,
};

_Static_assert(OFF_LSN + 8 == MLOG_HEADER_BYTES, "header layout");

size_t mlog_record_size(uint32_t payload_len) {
  return (size_t)MLOG_HEADER_BYTES + payload_len + MLOG_TAG_BYTES;
}

static bool type_known(uint8_t type) {
  return type >= MLOG_REC_DELIVERY && type <= MLOG_REC_CONTROL;
}

/* BLAKE2b-256 over body[0..len) and prev_tag, keyed when key is set. */
static void compute_tag(const uint8_t *body, size_t len,
                        const uint8_t prev_tag[MLOG_TAG_BYTES],
                        const mlog_key *key, uint8_t out[MLOG_TAG_BYTES]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key ? key->bytes : NULL,
                          key ? MLOG_KEY_BYTES : 0, MLOG_TAG_BYTES);
  crypto_generichash_update(&st, body, len);
  crypto_generichash_update(&st, prev_tag, MLOG_TAG_BYTES);
  crypto_generichash_final(&st, out, MLOG_TAG_BYTES);
}

int mlog_record_encode(mlog_record *rec, const uint8_t prev_tag[MLOG_TAG_BYTES],
                       const mlog_key *key, void *buf, size_t buflen) {
  if (rec == NULL || prev_tag == NULL || buf == NULL)
    return MLOG_EINVAL;
  if (rec->payload_len > MLOG_PAYLOAD_MAX ||
      (rec->payload_len > 0 && rec->payload == NULL) ||
      !type_known(rec->type) || buflen < mlog_record_size(rec->payload_len))
    return MLOG_EINVAL;
  uint8_t *p = buf;
  memset(p, 0, MLOG_HEADER_BYTES);
  mlogi_put_le32(p + OFF_MAGIC, MLOG_RECORD_MAGIC);
  p[OFF_MAJOR] = MLOG_FORMAT_MAJOR;
  p[OFF_MINOR] = MLOG_FORMAT_MINOR;
  mlogi_put_le16(p + OFF_HDRLEN, MLOG_HEADER_BYTES);
  p[OFF_TYPE] = rec->type;
  p[OFF_FLAGS] = rec->flags;
  mlogi_put_le32(p + OFF_SRC, rec->src);
  mlogi_put_le32(p + OFF_DST, rec->dst);
  mlogi_put_le32(p + OFF_INCARNATION, rec->incarnation);
  mlogi_put_le32(p + OFF_PAYLOAD_LEN, rec->payload_len);
  mlogi_put_le64(p + OFF_SSN, rec->ssn);
  mlogi_put_le64(p + OFF_RSN, rec->rsn);
  mlogi_put_le64(p + OFF_LSN, rec->lsn);
  if (rec->payload_len > 0)
    memcpy(p + MLOG_HEADER_BYTES, rec->payload, rec->payload_len);
  size_t body = (size_t)MLOG_HEADER_BYTES + rec->payload_len;
  compute_tag(p, body, prev_tag, key, rec->tag);
  memcpy(p + body, rec->tag, MLOG_TAG_BYTES);
  return MLOG_OK;
}

int mlog_record_decode(const void *buf, size_t len, mlog_record *rec) {
  if (buf == NULL || rec == NULL)
    return MLOG_EINVAL;
  const uint8_t *p = buf;
  /* A buffer that ends inside the fixed header is torn unless the bytes it
   * does have already contradict a record. */
  if (len >= 4 && mlogi_get_le32(p + OFF_MAGIC) != MLOG_RECORD_MAGIC)
    return MLOG_EHEADER;
  if (len < OFF_HDRLEN + 2)
    return MLOG_ETORN;
  if (p[OFF_MAJOR] != MLOG_FORMAT_MAJOR)
    return MLOG_EVERSION;
  size_t hdr_len = mlogi_get_le16(p + OFF_HDRLEN);
  if (hdr_len < MLOG_HEADER_BYTES)
    return MLOG_EHEADER;
  if (len < hdr_len)
    return MLOG_ETORN;
  uint32_t payload_len = mlogi_get_le32(p + OFF_PAYLOAD_LEN);
  if (payload_len > MLOG_PAYLOAD_MAX || !type_known(p[OFF_TYPE]))
    return MLOG_EHEADER;
  size_t total = hdr_len + payload_len + MLOG_TAG_BYTES;
  if (len < total)
    return MLOG_ETORN;
  if (len > total)
    return MLOG_EHEADER;
  rec->type = p[OFF_TYPE];
  rec->flags = p[OFF_FLAGS];
  rec->src = mlogi_get_le32(p + OFF_SRC);
  rec->dst = mlogi_get_le32(p + OFF_DST);
  rec->incarnation = mlogi_get_le32(p + OFF_INCARNATION);
  rec->payload_len = payload_len;
  rec->ssn = mlogi_get_le64(p + OFF_SSN);
  rec->rsn = mlogi_get_le64(p + OFF_RSN);
  rec->lsn = mlogi_get_le64(p + OFF_LSN);
  rec->payload = p + hdr_len;
  memcpy(rec->tag, p + total - MLOG_TAG_BYTES, MLOG_TAG_BYTES);
  return MLOG_OK;
}

int mlog_record_check(const void *buf, size_t len,
                      const uint8_t prev_tag[MLOG_TAG_BYTES],
                      const mlog_key *key) {
  mlog_record rec;
  int rc = mlog_record_decode(buf, len, &rec);
  if (rc != MLOG_OK)
    return rc;
  if (prev_tag == NULL)
    return MLOG_EINVAL;
  return mlogi_tag_matches(buf, len, prev_tag, key) ? MLOG_OK : MLOG_EBADTAG;
}

bool mlogi_tag_matches(const void *buf, size_t len,
                       const uint8_t prev_tag[MLOG_TAG_BYTES],
                       const mlog_key *key) {
  _Static_assert(MLOG_TAG_BYTES == crypto_verify_32_BYTES, "tag size");
  uint8_t tag[MLOG_TAG_BYTES];
  size_t body = len - MLOG_TAG_BYTES;
  compute_tag(buf, body, prev_tag, key, tag);
  return crypto_verify_32(tag, (const uint8_t *)buf + body) == 0;
}

void mlog_chain_genesis(uint32_t process_id, const mlog_key *key,
                        uint8_t tag[MLOG_TAG_BYTES]) {
  static const char label[] = "mlog chain genesis v1";
  uint8_t msg[sizeof label + 4];
  memcpy(msg, label, sizeof label);
  mlogi_put_le32(msg + sizeof label, process_id);
  crypto_generichash(tag, MLOG_TAG_BYTES, msg, sizeof msg,
                     key ? key->bytes : NULL, key ? MLOG_KEY_BYTES : 0);
}

/* libsodium picks its fastest implementations once, before any use. */
__attribute__((constructor)) static void sodium_ready(void) {
  if (sodium_init() < 0)
    abort();
}
