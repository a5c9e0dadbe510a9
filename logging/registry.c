/* registry.c - loggers by name: the built-in ones and registered ones */
#include <pthread.h>
#include <string.h>

#include "logging/loggers.h"

#define MAX_LOGGERS 32

static const mlog_logger_ops *const builtins[] = {
    &mlogi_pessimistic_receiver,
    &mlogi_optimistic_receiver,
    &mlogi_pessimistic_sender,
    &mlogi_coordinated,
    &mlogi_none,
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const mlog_logger_ops *registered[MAX_LOGGERS];
static size_t nregistered;

static const mlog_logger_ops *find_locked(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i]->name, name) == 0)
      return builtins[i];
  for (size_t i = 0; i < nregistered; i++)
    if (strcmp(registered[i]->name, name) == 0)
      return registered[i];
  return NULL;
}

int mlog_logger_register(const mlog_logger_ops *ops) {
  if (ops == NULL || ops->version != MLOG_LOGGER_VERSION || ops->name == NULL ||
      ops->open == NULL || ops->append == NULL || ops->durable_lsn == NULL ||
      ops->flush == NULL)
    return MLOG_EINVAL;
  pthread_mutex_lock(&lock);
  int rc = MLOG_OK;
  if (find_locked(ops->name) != NULL)
    rc = MLOG_EEXIST;
  else if (nregistered == MAX_LOGGERS)
    rc = MLOG_ENOMEM;
  else
    registered[nregistered++] = ops;
  pthread_mutex_unlock(&lock);
  return rc;
}

const mlog_logger_ops *mlog_logger_find(const char *name) {
  if (name == NULL)
    return NULL;
  pthread_mutex_lock(&lock);
  const mlog_logger_ops *ops = find_locked(name);
  pthread_mutex_unlock(&lock);
  return ops;
}
