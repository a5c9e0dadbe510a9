/* test_store_faults.c - the log under injected store faults: all or nothing */
#include "test/testutil.h"

#include <criterion/parameterized.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/store.h"

static char dir[64];

static void setup(void) {
  tu_mkdtemp(dir, sizeof dir);
}
static void teardown(void) {
  tu_rmtree(dir);
}

/* One timeout for every test (see test_log.c). */
TestSuite(faults, .init = setup, .fini = teardown, .timeout = 60);

#define BATCH 64
#define BASE 10 /* records in the log before faults are attached */
#define ROUNDS 6

typedef struct fault_case {
  int site;       /* mlogi_fault_site */
  int kind;       /* mlogi_fault_kind */
  int nth;        /* 1-based call that fails */
  int persistent; /* every call from the nth on fails */
} fault_case;

static const char *site_name(int site) {
  return site == MLOGI_FAULT_PUT      ? "PUT"
         : site == MLOGI_FAULT_COMMIT ? "COMMIT"
                                      : "SYNC";
}

static const char *kind_name(int kind) {
  return kind == MLOGI_FAULT_ENOSPC ? "ENOSPC"
         : kind == MLOGI_FAULT_EIO  ? "EIO"
                                    : "MAP_FULL";
}

/* The code an append or discard reports when its store write hits the
 * fault. MAP_FULL makes the store grow the map and retry; only when it can
 * never succeed is it ENOSPC. */
static int expected_code(const fault_case *fc) {
  return fc->kind == MLOGI_FAULT_EIO ? MLOG_EIO : MLOG_ENOSPC;
}

static bool fault_can_pass(const fault_case *fc) {
  return fc->kind == MLOGI_FAULT_MAP_FULL && !fc->persistent;
}

/* Site x kind x nth 1..5 x once/persistent. */
static fault_case *matrix(size_t *n) {
  static fault_case cases[2 * 3 * 5 * 2];
  static const int sites[] = {MLOGI_FAULT_PUT, MLOGI_FAULT_COMMIT};
  static const int kinds[] = {MLOGI_FAULT_ENOSPC, MLOGI_FAULT_EIO,
                              MLOGI_FAULT_MAP_FULL};
  size_t k = 0;
  for (int s = 0; s < 2; s++)
    for (int t = 0; t < 3; t++)
      for (int nth = 1; nth <= 5; nth++)
        for (int p = 0; p < 2; p++)
          cases[k++] = (fault_case){sites[s], kinds[t], nth, p};
  *n = k;
  return cases;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static mlog_log *create_log(void) {
  mlog_log_config cfg = {.process_id = 0, .group_size = 2, .protocol = "t"};
  mlog_log *log;
  int rc = mlog_log_open(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg, &log);
  cr_assert_eq(rc, MLOG_OK, "create: %s: %s", mlog_errname(rc),
               mlog_log_errmsg(NULL));
  return log;
}

/* Try to append n records meant to get lsns from..; returns the code. On
 * success checks the lsns handed out. */
static int try_append(mlog_log *log, uint64_t from, size_t n) {
  static uint8_t payload[BATCH][100];
  mlog_record recs[BATCH];
  cr_assert_leq(n, (size_t)BATCH);
  for (size_t i = 0; i < n; i++) {
    tu_fill(payload[i], sizeof payload[i], from + i);
    recs[i] = tu_record(from + i, payload[i], sizeof payload[i]);
  }
  int rc = mlog_log_append(log, recs, n);
  if (rc == MLOG_OK)
    for (size_t i = 0; i < n; i++)
      cr_assert_eq(recs[i].lsn, from + i, "lsn %llu, expected %llu",
                   (unsigned long long)recs[i].lsn,
                   (unsigned long long)(from + i));
  return rc;
}

static mlog_log_info info_of(mlog_log *log) {
  mlog_log_info info;
  int rc = mlog_log_get_info(log, &info);
  cr_assert_eq(rc, MLOG_OK, "info: %s", mlog_errname(rc));
  return info;
}

typedef struct walk_state {
  uint64_t n, expect;
  int bad;
} walk_state;

static int check_record(void *arg, const mlog_record *r) {
  walk_state *w = arg;
  if (r->lsn != w->expect || r->ssn != r->lsn ||
      !tu_check_fill(r->payload, r->payload_len, r->lsn))
    w->bad = 1;
  w->expect++;
  w->n++;
  return 0;
}

/* The log holds exactly the records first..last, each intact and chained. */
static void assert_log_is(mlog_log *log, uint64_t first, uint64_t last) {
  uint64_t n = last >= first ? last - first + 1 : 0;
  mlog_log_info info = info_of(log);
  cr_assert_eq(info.records, n, "records %llu, expected %llu",
               (unsigned long long)info.records, (unsigned long long)n);
  if (n > 0) {
    cr_assert_eq(info.first_lsn, first);
    cr_assert_eq(info.last_lsn, last);
  }
  mlog_verify_report rep;
  int rc = mlog_log_verify(log, &rep, NULL, NULL);
  cr_assert_eq(rc, MLOG_OK, "verify: %s", mlog_errname(rc));
  cr_assert_eq(rep.problem, MLOG_OK, "verify: %s: %s",
               mlog_errname(rep.problem), rep.detail);
  cr_assert_eq(rep.records, n);
  walk_state w = {.expect = first};
  cr_assert_eq(mlog_log_scan(log, 0, check_record, &w), MLOG_OK);
  cr_assert_eq(w.n, n);
  cr_assert_eq(w.bad, 0, "a record with wrong contents");
}

/* ------------------------------------------------------------------------ */
/* Appends                                                                  */

ParameterizedTestParameters(faults, append) {
  size_t n;
  fault_case *cases = matrix(&n);
  return cr_make_param_array(fault_case, cases, n);
}

ParameterizedTest(fault_case *fc, faults, append) {
  char what[80];
  snprintf(what, sizeof what, "%s %s nth %d %s", site_name(fc->site),
           kind_name(fc->kind), fc->nth,
           fc->persistent ? "persistent" : "once");
  mlog_log *log = create_log();
  cr_assert_eq(try_append(log, 1, BASE), MLOG_OK);
  uint64_t map_before = info_of(log).map_bytes;

  mlogi_faults f = {.site = (mlogi_fault_site)fc->site,
                    .kind = (mlogi_fault_kind)fc->kind,
                    .nth = (uint64_t)fc->nth,
                    .persistent = fc->persistent != 0};
  mlogi_store_set_faults(mlogi_log_store(log), &f);
  uint64_t next = BASE + 1;
  int failures = 0;
  for (int round = 0; round < ROUNDS; round++) {
    uint64_t injected = f.injected;
    int rc = try_append(log, next, BATCH);
    bool hit = f.injected > injected;
    if (hit && !fault_can_pass(fc)) {
      cr_assert_eq(rc, expected_code(fc), "%s, round %d: %s (%s)", what, round,
                   mlog_errname(rc), mlog_log_errmsg(log));
      cr_assert_str_neq(mlog_log_errmsg(log), "");
      failures++;
    } else {
      cr_assert_eq(rc, MLOG_OK, "%s, round %d (fault %s): %s: %s", what, round,
                   hit ? "hit" : "missed", mlog_errname(rc),
                   mlog_log_errmsg(log));
      next += BATCH;
    }
    /* All or nothing: the log holds exactly the batches that succeeded. */
    assert_log_is(log, 1, next - 1);
  }
  cr_assert_gt(f.injected, 0u, "%s: the fault never fired", what);
  if (fault_can_pass(fc)) {
    cr_assert_eq(failures, 0);
    cr_assert_eq(f.injected, 1u);
    cr_assert_gt(info_of(log).map_bytes, map_before, "%s: a full map grows",
                 what);
  } else {
    cr_assert_gt(failures, 0, "%s: no append failed", what);
  }

  /* Faults cleared: the next append continues the lsns without a gap. */
  mlogi_store_set_faults(mlogi_log_store(log), NULL);
  cr_assert_eq(try_append(log, next, BATCH), MLOG_OK, "%s: after", what);
  next += BATCH;
  assert_log_is(log, 1, next - 1);
  mlog_log_close(log);

  int rc = mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log);
  cr_assert_eq(rc, MLOG_OK);
  assert_log_is(log, 1, next - 1);
  mlog_log_close(log);
}

/* A persistent full map must end in ENOSPC after bounded growth, and the
 * handle must stay usable. */
Test(faults, persistent_map_full_terminates) {
  mlog_log *log = create_log();
  cr_assert_eq(try_append(log, 1, BASE), MLOG_OK);
  mlogi_faults f = {.site = MLOGI_FAULT_COMMIT,
                    .kind = MLOGI_FAULT_MAP_FULL,
                    .nth = 1,
                    .persistent = true};
  mlogi_store_set_faults(mlogi_log_store(log), &f);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(try_append(log, BASE + 1, 1), MLOG_ENOSPC);
    cr_assert_leq(f.calls[MLOGI_FAULT_COMMIT], 3u * 64,
                  "too many attempts: %llu",
                  (unsigned long long)f.calls[MLOGI_FAULT_COMMIT]);
  }
  cr_assert_gt(f.injected, 1u, "the store retried after growing");
  assert_log_is(log, 1, BASE);
  mlogi_store_set_faults(mlogi_log_store(log), NULL);
  cr_assert_eq(try_append(log, BASE + 1, 1), MLOG_OK);
  assert_log_is(log, 1, BASE + 1);
  mlog_log_close(log);
}

/* An explicit sync is the SYNC fault site: a failed sync is reported, the
 * records stay (they were committed) and only the durable lsn stays behind;
 * the next sync catches up. */
Test(faults, failed_sync_leaves_durability_behind) {
  static const int kinds[] = {MLOGI_FAULT_EIO, MLOGI_FAULT_ENOSPC};
  for (int k = 0; k < 2; k++) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s/lazy%d", dir, k);
    mlog_log_config cfg = {.process_id = 0, .group_size = 1};
    mlog_log *log;
    int rc =
        mlog_log_open(sub, MLOG_LOG_CREATE | MLOG_LOG_LAZYMETA, &cfg, &log);
    cr_assert_eq(rc, MLOG_OK, "%s", mlog_errname(rc));
    cr_assert_eq(try_append(log, 1, 10), MLOG_OK);
    uint64_t durable = mlog_log_durable_lsn(log);
    cr_assert_lt(durable, 10u, "lazy meta: the last commit is not durable");
    mlogi_faults f = {.site = MLOGI_FAULT_SYNC,
                      .kind = (mlogi_fault_kind)kinds[k],
                      .nth = 1,
                      .persistent = true};
    mlogi_store_set_faults(mlogi_log_store(log), &f);
    fault_case fc = {MLOGI_FAULT_SYNC, kinds[k], 1, 1};
    for (int i = 0; i < 2; i++) {
      rc = mlog_log_sync(log);
      cr_assert_eq(rc, expected_code(&fc), "%s: %s", kind_name(kinds[k]),
                   mlog_errname(rc));
      cr_assert_eq(mlog_log_durable_lsn(log), durable);
    }
    cr_assert_eq(f.injected, 2u);
    assert_log_is(log, 1, 10);
    /* Appends do not sync by themselves; they still work. */
    cr_assert_eq(try_append(log, 11, 5), MLOG_OK);
    mlogi_store_set_faults(mlogi_log_store(log), NULL);
    cr_assert_eq(mlog_log_sync(log), MLOG_OK);
    cr_assert_eq(mlog_log_durable_lsn(log), 15u);
    assert_log_is(log, 1, 15);
    mlog_log_close(log);
  }
}

/* ------------------------------------------------------------------------ */
/* Garbage collection                                                       */

#define GC_RECORDS 20
#define GC_BEFORE 10 /* discard lsns 1..9: 9 deletions and a metadata put */

ParameterizedTestParameters(faults, discard) {
  size_t n;
  fault_case *cases = matrix(&n);
  return cr_make_param_array(fault_case, cases, n);
}

ParameterizedTest(fault_case *fc, faults, discard) {
  char what[80];
  snprintf(what, sizeof what, "%s %s nth %d %s", site_name(fc->site),
           kind_name(fc->kind), fc->nth,
           fc->persistent ? "persistent" : "once");
  mlog_log *log = create_log();
  cr_assert_eq(try_append(log, 1, GC_RECORDS), MLOG_OK);
  /* Later calls of the site than the first discard can reach. */
  fault_case late = *fc;
  late.nth = fc->site == MLOGI_FAULT_PUT ? fc->nth * 2 + 1 : fc->nth;
  for (int pass = 0; pass < 2; pass++) {
    const fault_case *c = pass == 0 ? fc : &late;
    mlogi_faults f = {.site = (mlogi_fault_site)c->site,
                      .kind = (mlogi_fault_kind)c->kind,
                      .nth = (uint64_t)c->nth,
                      .persistent = c->persistent != 0};
    mlogi_store_set_faults(mlogi_log_store(log), &f);
    int rc = mlog_log_discard_before(log, GC_BEFORE);
    mlogi_store_set_faults(mlogi_log_store(log), NULL);
    if (f.injected > 0 && !fault_can_pass(c)) {
      cr_assert_eq(rc, expected_code(c), "%s (nth %d): %s", what, c->nth,
                   mlog_errname(rc));
      assert_log_is(log, 1, GC_RECORDS); /* unchanged */
    } else {
      cr_assert_eq(rc, MLOG_OK, "%s (nth %d): %s: %s", what, c->nth,
                   mlog_errname(rc), mlog_log_errmsg(log));
      assert_log_is(log, GC_BEFORE, GC_RECORDS);
      break;
    }
  }
  /* Without faults the discard completes (or is already done). */
  cr_assert_eq(mlog_log_discard_before(log, GC_BEFORE), MLOG_OK);
  assert_log_is(log, GC_BEFORE, GC_RECORDS);
  cr_assert_eq(try_append(log, GC_RECORDS + 1, 3), MLOG_OK);
  assert_log_is(log, GC_BEFORE, GC_RECORDS + 3);
  mlog_log_close(log);
  int rc = mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &log);
  cr_assert_eq(rc, MLOG_OK);
  assert_log_is(log, GC_BEFORE, GC_RECORDS + 3);
  mlog_log_close(log);
}
