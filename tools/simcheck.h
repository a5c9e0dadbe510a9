/* simcheck.h - mlog sim's independent check of orphans and outputs */
#ifndef MLOG_TOOLS_SIMCHECK_H
#define MLOG_TOOLS_SIMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the driver records, knowing nothing of the protocol's vectors:
 * every state interval created (process, incarnation, rsn), the interval
 * of the sender its message came from and the interval it followed; the
 * intervals lost in crashes (not recovered by the restart); the intervals
 * outputs were released from. From that alone it computes which intervals
 * were orphans (depend, through messages or their own past, on a lost one)
 * and compares with what the protocol rolled back.
 */

/* An interval packed in 64 bits: process (6), incarnation (18), rsn (40). */
uint64_t simiv(uint32_t proc, uint32_t inc, uint64_t rsn);

typedef struct simevent {
  uint64_t iv, dep, prev; /* dep, prev: 0 when none */
} simevent;

typedef struct simset {
  uint64_t *slots; /* open addressing; 0 is empty */
  size_t n, cap;
} simset;

typedef struct simtrace {
  simevent *ev; /* in creation order */
  size_t n, cap;
  simset lost;     /* lost in crashes */
  simset released; /* outputs released from */
} simtrace;

bool simset_add(simset *s, uint64_t v);
bool simset_has(const simset *s, uint64_t v);
void simset_free(simset *s);

bool simtrace_event(simtrace *t, uint64_t iv, uint64_t dep, uint64_t prev);
void simtrace_free(simtrace *t);

typedef struct simcheck {
  uint64_t orphans;     /* orphan intervals the check computed */
  uint64_t rolled_back; /* intervals the protocol undid by rollback */
  uint64_t missed;      /* orphans that were not rolled back */
  uint64_t spurious;    /* rolled back without being orphans */
  uint64_t bad_outputs; /* released from an interval that did not survive */
} simcheck;

/* surviving: the final history of every process. */
bool simcheck_run(const simtrace *t, const simset *surviving, simcheck *out);

#endif /* MLOG_TOOLS_SIMCHECK_H */
