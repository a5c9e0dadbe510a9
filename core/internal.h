/* internal.h - helpers shared by the library's modules (not installed) */
#ifndef MLOG_CORE_INTERNAL_H
#define MLOG_CORE_INTERNAL_H

#include <stdarg.h>
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

static inline void mlogi_put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void mlogi_put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void mlogi_put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t mlogi_get_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t mlogi_get_le32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static inline uint64_t mlogi_get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
/* Big-endian 8-byte keys sort in numeric order under memcmp. */
static inline void mlogi_put_be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint64_t mlogi_get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}
static inline void mlogi_put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline uint32_t mlogi_get_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* Grow *p (an array of *cap elements of elem bytes) to hold need. */
int mlogi_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif /* MLOG_CORE_INTERNAL_H */
