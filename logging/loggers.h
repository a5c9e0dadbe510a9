/* loggers.h - the built-in loggers */
#ifndef MLOG_LOGGING_LOGGERS_H
#define MLOG_LOGGING_LOGGERS_H

#include "mlog/logger.h"

extern const mlog_logger_ops mlogi_pessimistic_receiver;
extern const mlog_logger_ops mlogi_optimistic_receiver;
extern const mlog_logger_ops mlogi_pessimistic_sender;
extern const mlog_logger_ops mlogi_coordinated;
extern const mlog_logger_ops mlogi_none;

#endif /* MLOG_LOGGING_LOGGERS_H */
