/* rollback.c - an orphan's rollback (optimistic logging) */
#include "core/proc.h"

/*
 * An announcement ended an incarnation of another process before an
 * interval this state depends on. The process makes its log durable, ends
 * its own incarnation at `cut` (the last state that does not depend on a
 * lost interval) and recovers in place: restore the newest checkpoint
 * (always committed, so never an orphan), replay the log, whose records
 * after the cut are now void, and announce the new incarnation, which makes
 * the processes that depended on the undone states orphans in turn.
 * Messages received after the cut that were not orphans are received again:
 * their senders still hold them, since only committed states acknowledge.
 * A crash at any point leaves either the old incarnation (the orphan is
 * detected again) or the new one.
 */

int mlogi_rollback(mlog_proc *p, uint64_t cut) {
  uint64_t from = p->rsn;
  if (cut < p->opt->committed_rsn || cut > from)
    return mlogi_fail(&p->eb, MLOG_ECORRUPT,
                      "rollback to rsn %llu outside the uncommitted states "
                      "%llu..%llu",
                      (unsigned long long)cut,
                      (unsigned long long)p->opt->committed_rsn,
                      (unsigned long long)from);
  int rc = mlogi_commit_durably(p);
  if (rc == MLOG_OK && mlog_log_end_incarnation(p->log, cut) != MLOG_OK)
    rc = mlogi_fail(&p->eb, MLOG_EIO, "ending incarnation %u: %s",
                    p->incarnation, mlog_log_errmsg(p->log));
  if (rc != MLOG_OK) {
    p->broken = true;
    return rc;
  }
  p->incarnation = mlog_log_incarnation(p->log);
  mlogi_reset_volatile(p);
  rc = mlogi_restore_and_replay(p);
  if (rc == MLOG_OK && p->rsn != cut)
    rc = mlogi_fail(&p->eb, MLOG_ECORRUPT,
                    "rollback replay reached rsn %llu, not %llu",
                    (unsigned long long)p->rsn, (unsigned long long)cut);
  if (rc != MLOG_OK) {
    p->broken = true;
    return rc;
  }
  p->stats.rollbacks++;
  p->stats.rolled_back += from - cut;
  mlogi_channels_hello(p);
  return MLOG_OK;
}
