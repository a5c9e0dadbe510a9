/* fault.h - fault injection for the store, in the spirit of SQLite's test VFS
 */
#ifndef MLOG_CORE_FAULT_H
#define MLOG_CORE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

/* The store calls that can be made to fail. */
typedef enum mlogi_fault_site {
  MLOGI_FAULT_PUT,
  MLOGI_FAULT_COMMIT,
  MLOGI_FAULT_SYNC,
  MLOGI_FAULT_SITES
} mlogi_fault_site;

/* What the failing call reports, as the real call would. */
typedef enum mlogi_fault_kind {
  MLOGI_FAULT_ENOSPC,
  MLOGI_FAULT_EIO,
  MLOGI_FAULT_MAP_FULL,
} mlogi_fault_kind;

/* Fail the nth call (1-based) at `site` with `kind`; with `persistent`,
 * every call from the nth on fails. The store counts calls in `calls`. */
typedef struct mlogi_faults {
  mlogi_fault_site site;
  mlogi_fault_kind kind;
  uint64_t nth;
  bool persistent;
  uint64_t calls[MLOGI_FAULT_SITES];
  uint64_t injected; /* how many calls were failed */
} mlogi_faults;

/* Count a call at `site` and say whether it must fail. NULL never fails. */
bool mlogi_fault_hit(mlogi_faults *f, mlogi_fault_site site);

#endif /* MLOG_CORE_FAULT_H */
