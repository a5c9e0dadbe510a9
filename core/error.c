/* error.c - the error table's messages and names, and detailed messages */
#include <errno.h>
#include <stdio.h>

#include "core/internal.h"

static const char *const messages[] = {[MLOG_OK] = "success",
#define MESSAGE(name, msg) [MLOG_##name] = msg,
                                       MLOG_ERRNO_MAP(MESSAGE)
#undef MESSAGE
};

static const char *const names[] = {[MLOG_OK] = "OK",
#define NAME(name, msg) [MLOG_##name] = #name,
                                    MLOG_ERRNO_MAP(NAME)
#undef NAME
};

const char *mlog_version(void) {
  return MLOG_VERSION_STRING;
}

const char *mlog_strerror(int err) {
  if (err < 0 || err >= MLOG_ERR_COUNT_)
    return "unknown error";
  return messages[err];
}

const char *mlog_errname(int err) {
  if (err < 0 || err >= MLOG_ERR_COUNT_)
    return "EUNKNOWN";
  return names[err];
}

int mlogi_fail(mlogi_errbuf *eb, int err, const char *fmt, ...) {
  if (eb != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
    va_end(ap);
  }
  return err;
}

int mlogi_from_errno(int errnum) {
  switch (errnum) {
  case ENOMEM:
    return MLOG_ENOMEM;
  case ENOSPC:
  case EDQUOT:
    return MLOG_ENOSPC;
  case EACCES:
  case EPERM:
  case EROFS:
    return MLOG_EACCES;
  case ENOENT:
    return MLOG_ENOENT;
  case ENOTDIR:
    return MLOG_ENOTDIR;
  case EEXIST:
    return MLOG_EEXIST;
  case EINVAL:
    return MLOG_EINVAL;
  default:
    return MLOG_EIO;
  }
}

mlogi_errbuf *mlogi_thread_errbuf(void) {
  static _Thread_local mlogi_errbuf eb;
  return &eb;
}
