/* simbank.h - mlog sim's application under the checkpoint-only protocols:
 * money transfers, and the checks conservation allows */
#ifndef MLOG_TOOLS_SIMBANK_H
#define MLOG_TOOLS_SIMBANK_H

#include <stdbool.h>
#include <stdint.h>

#include "mlog/process.h"

/* What every branch holds at the start. */
#define SIMBANK_OPENING 1000

/* A transfer: `amount` moves to the receiver, which passes part of what it
 * has on while `hops` lasts. */
typedef struct simtransfer {
  int64_t amount;
  uint32_t hops, pad;
} simtransfer;

/* One branch's state. The order of its deliveries matters: what it passes
 * on depends on its balance. */
typedef struct simbank {
  uint32_t id, n;
  int64_t balance;
  uint64_t count;
} simbank;

extern const mlog_app simbank_callbacks;

/* A transfer from outside the handler: moves `amount` (at most the
 * balance) to dst. MLOG_EAGAIN while the process recovers. */
int simbank_send(simbank *b, mlog_proc *p, uint32_t dst, int64_t amount,
                 uint32_t hops);

/* Check every snapshot the logs in dirs[0..n) all hold complete: the
 * balances recorded plus the amounts in the channel states equal
 * n * SIMBANK_OPENING. *checked counts them; on a mismatch or an unreadable
 * log, returns false with the reason in err. */
bool simbank_check_snapshots(char *const *dirs, uint32_t n, const mlog_key *key,
                             uint64_t *checked, char *err, size_t errlen);

#endif /* MLOG_TOOLS_SIMBANK_H */
