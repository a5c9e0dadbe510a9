/* log.h - library-private access to the log's store */
#ifndef MLOG_CORE_LOG_H
#define MLOG_CORE_LOG_H

#include "core/store.h"

/* The store under the log (borrowed; lives as long as the log). Tests use it
 * to inject faults. */
mlogi_store *mlogi_log_store(mlog_log *log);

#endif /* MLOG_CORE_LOG_H */
