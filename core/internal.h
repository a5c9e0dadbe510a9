/* internal.h - helpers shared by the library's modules (not installed) */
#ifndef MLOG_CORE_INTERNAL_H
#define MLOG_CORE_INTERNAL_H

#include <endian.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mlog/mlog.h"

#define MLOGI_ERRMSG_BYTES 256

/* A detailed error message kept beside the code that carries it. */
typedef struct mlogi_errbuf {
  char msg[MLOGI_ERRMSG_BYTES];
} mlogi_errbuf;

/* Format the detail of `err` into eb (when eb is not NULL) and return err, so
 * error paths read `return mlogi_fail(eb, MLOG_EIO, "write %s", path);`. */
int mlogi_fail(mlogi_errbuf *eb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Translate an errno value to the closest mlog error code. */
int mlogi_from_errno(int errnum);

/* The calling thread's buffer for failures that happen before a handle
 * exists (open). */
mlogi_errbuf *mlogi_thread_errbuf(void);

/* mkdir -p with mode 0750: 0, or -1 with errno set. */
int mlogi_mkdirs(const char *path);

/* Read exactly len bytes of the regular file at path (EINVAL when its size
 * differs). */
int mlogi_read_file_exact(const char *path, void *buf, size_t len);

/* Whether the tag stored in the last MLOG_TAG_BYTES of the record
 * buf[0..len) (len at least that) is the tag of the rest chained over
 * prev_tag, under key (NULL: unkeyed). Compares in constant time; decodes
 * nothing (mlog_record_check decodes, then calls this). */
bool mlogi_tag_matches(const void *buf, size_t len,
                       const uint8_t prev_tag[MLOG_TAG_BYTES],
                       const mlog_key *key);

/* Fixed-width integers in little-endian (the record format) and big-endian
 * (store keys, which then sort in numeric order under memcmp) byte order.
 * A memcpy and a byte swap where the host needs one: one move each. */
static inline void mlogi_put_le16(uint8_t *p, uint16_t v) {
  v = htole16(v);
  memcpy(p, &v, sizeof v);
}
static inline void mlogi_put_le32(uint8_t *p, uint32_t v) {
  v = htole32(v);
  memcpy(p, &v, sizeof v);
}
static inline void mlogi_put_le64(uint8_t *p, uint64_t v) {
  v = htole64(v);
  memcpy(p, &v, sizeof v);
}
static inline uint16_t mlogi_get_le16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return le16toh(v);
}
static inline uint32_t mlogi_get_le32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return le32toh(v);
}
static inline uint64_t mlogi_get_le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return le64toh(v);
}
static inline void mlogi_put_be64(uint8_t *p, uint64_t v) {
  v = htobe64(v);
  memcpy(p, &v, sizeof v);
}
static inline uint64_t mlogi_get_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return be64toh(v);
}
static inline void mlogi_put_be32(uint8_t *p, uint32_t v) {
  v = htobe32(v);
  memcpy(p, &v, sizeof v);
}
static inline uint32_t mlogi_get_be32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return be32toh(v);
}

/* Grow *p (an array of *cap elements of elem bytes) to hold need. */
int mlogi_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif /* MLOG_CORE_INTERNAL_H */
