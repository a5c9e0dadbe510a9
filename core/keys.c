/* keys.c - log keys and Ed25519 signing keys on disk */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

int mlog_key_load(const char *path, mlog_key *key) {
  if (path == NULL || key == NULL)
    return MLOG_EINVAL;
  return mlogi_read_file_exact(path, key->bytes, MLOG_KEY_BYTES);
}

/* Write buf to DIR/name, failing if it exists; mode is the file's mode. */
static int write_new_file(const char *dirpath, const char *name,
                          const void *buf, size_t len, mode_t mode) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dirpath, name) >= (int)sizeof path)
    return MLOG_EINVAL;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return mlogi_from_errno(errno);
  int rc = MLOG_OK;
  if (write(fd, buf, len) != (ssize_t)len || fsync(fd) != 0)
    rc = mlogi_from_errno(errno ? errno : EIO);
  if (close(fd) != 0 && rc == MLOG_OK)
    rc = mlogi_from_errno(errno);
  if (rc != MLOG_OK)
    unlink(path);
  return rc;
}

static void unlink_in(const char *dirpath, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dirpath, name);
  unlink(path);
}

static bool exists_in(const char *dirpath, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dirpath, name);
  return access(path, F_OK) == 0;
}

int mlog_keygen(const char *dirpath) {
  static const char *const names[] = {"log.key", "sign.key", "sign.pub"};
  if (dirpath == NULL)
    return MLOG_EINVAL;
  if (mkdir(dirpath, 0700) != 0 && errno != EEXIST)
    return mlogi_from_errno(errno);
  for (size_t i = 0; i < 3; i++)
    if (exists_in(dirpath, names[i]))
      return MLOG_EEXIST;
  unsigned char logkey[MLOG_KEY_BYTES];
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  randombytes_buf(logkey, sizeof logkey);
  int rc = crypto_sign_keypair(pk, sk) == 0 ? MLOG_OK : MLOG_ECRYPTO;
  const struct {
    const void *buf;
    size_t len;
    mode_t mode;
  } files[3] = {{logkey, sizeof logkey, 0600},
                {sk, sizeof sk, 0600},
                {pk, sizeof pk, 0644}};
  size_t written = 0;
  for (; rc == MLOG_OK && written < 3; written++)
    rc = write_new_file(dirpath, names[written], files[written].buf,
                        files[written].len, files[written].mode);
  if (rc != MLOG_OK) /* all three or none: remove what was written */
    for (size_t i = 0; i + 1 < written; i++)
      unlink_in(dirpath, names[i]);
  sodium_memzero(logkey, sizeof logkey);
  sodium_memzero(sk, sizeof sk);
  return rc;
}
