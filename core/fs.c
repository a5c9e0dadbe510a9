/* fs.c - small file-system helpers shared by the library and its tool */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

int mlogi_mkdirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return errno = ENAMETOOLONG, -1;
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
      return -1;
    *s = '/';
  }
  return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

int mlogi_read_file_exact(const char *path, void *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mlogi_from_errno(errno);
  struct stat sb;
  int rc = MLOG_OK;
  if (fstat(fd, &sb) != 0)
    rc = mlogi_from_errno(errno);
  else if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size != len)
    rc = MLOG_EINVAL;
  else if (read(fd, buf, len) != (ssize_t)len)
    rc = MLOG_EIO;
  close(fd);
  return rc;
}
