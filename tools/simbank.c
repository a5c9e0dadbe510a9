/* simbank.c - transfers between branches, and snapshot conservation */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proc.h"
#include "simbank.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

int simbank_send(simbank *b, mlog_proc *p, uint32_t dst, int64_t amount,
                 uint32_t hops) {
  if (amount > b->balance)
    amount = b->balance;
  simtransfer t = {.amount = amount, .hops = hops};
  int rc = mlog_send(p, dst, &t, sizeof t);
  if (rc == MLOG_OK)
    b->balance -= amount;
  return rc;
}

static int bank_deliver(void *arg, mlog_proc *p, uint32_t src, const void *msg,
                        size_t len) {
  simbank *b = arg;
  simtransfer t;
  (void)src;
  if (len != sizeof t)
    return 1;
  memcpy(&t, msg, sizeof t);
  b->balance += t.amount;
  b->count++;
  if (t.hops == 0 || b->n < 2)
    return 0;
  uint64_t h = mix((uint64_t)b->balance ^ (b->count << 20) ^ b->id);
  uint32_t dst = (uint32_t)(h % (b->n - 1));
  dst += dst >= b->id;
  int64_t part = b->balance > 0 ? (int64_t)(h >> 32) % (b->balance / 2 + 1) : 0;
  return simbank_send(b, p, dst, part, t.hops - 1) == MLOG_OK ? 0 : 2;
}

static int bank_snapshot(void *arg, mlog_buf *out) {
  simbank *b = arg;
  int64_t s[2] = {b->balance, (int64_t)b->count};
  return mlog_buf_append(out, s, sizeof s) == MLOG_OK ? 0 : 1;
}

/* The balance in a snapshot of the application. */
static bool balance_of(const void *state, size_t len, int64_t *balance) {
  int64_t s[2] = {SIMBANK_OPENING, 0};
  if (state != NULL && len != sizeof s)
    return false;
  if (state != NULL)
    memcpy(s, state, sizeof s);
  *balance = s[0];
  return true;
}

static int bank_restore(void *arg, const void *state, size_t len) {
  simbank *b = arg;
  int64_t s[2] = {SIMBANK_OPENING, 0};
  if (state != NULL && len != sizeof s)
    return 1;
  if (state != NULL)
    memcpy(s, state, sizeof s);
  b->balance = s[0];
  b->count = (uint64_t)s[1];
  return 0;
}

const mlog_app simbank_callbacks = {
    .deliver = bank_deliver,
    .snapshot = bank_snapshot,
    .restore = bank_restore,
};

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

/* Recorded balance plus channel amounts of snapshot id in one log. */
static int snapshot_money(mlog_log *log, uint32_t n, uint64_t id,
                          int64_t *money) {
  mlogi_snap_image img;
  int rc = mlogi_snap_load(log, n, id, &img);
  if (rc != MLOG_OK)
    return rc;
  mlogi_state_view v = {0};
  int64_t balance = SIMBANK_OPENING;
  if (img.ck.state) {
    rc = mlogi_state_peek(img.ck.state, img.ck.len, n, &v);
    if (rc == MLOG_OK && !balance_of(v.app, v.app_len, &balance))
      rc = MLOG_ECORRUPT;
  }
  *money = balance;
  for (size_t i = 0; rc == MLOG_OK && i < img.channel.n; i++) {
    simtransfer t;
    if (img.channel.recs[i].payload_len != sizeof t) {
      rc = MLOG_ECORRUPT;
      break;
    }
    memcpy(&t, img.channel.recs[i].payload, sizeof t);
    *money += t.amount;
  }
  mlogi_state_view_free(&v);
  mlogi_snap_image_free(&img);
  return rc;
}

/* The newest snapshot id any checkpoint of the log names. */
static int newest_id(mlog_log *log, uint32_t n, uint64_t *newest) {
  uint64_t *numbers;
  size_t count;
  int rc = mlog_log_checkpoint_numbers(log, &numbers, &count);
  *newest = 0;
  for (size_t k = 0; rc == MLOG_OK && k < count; k++) {
    mlog_log_checkpoint ck;
    mlogi_state_view v;
    rc = mlogi_checkpoint_peek(log, numbers[k], n, &ck, &v);
    if (rc != MLOG_OK)
      break;
    if (v.snapshot > *newest)
      *newest = v.snapshot;
    mlogi_checkpoint_peek_free(&ck, &v);
  }
  free(numbers);
  return rc;
}

/* Snapshot id in every log: its money, or false when one log lacks it. */
static int group_money(mlog_log **logs, uint32_t n, uint64_t id, bool *all,
                       int64_t *money) {
  *all = true;
  *money = 0;
  for (uint32_t i = 0; i < n; i++) {
    int64_t m = 0;
    int rc = snapshot_money(logs[i], n, id, &m);
    if (rc == MLOG_ENOTFOUND) {
      *all = false;
      return MLOG_OK;
    }
    if (rc != MLOG_OK)
      return rc;
    *money += m;
  }
  return MLOG_OK;
}

bool simbank_check_snapshots(char *const *dirs, uint32_t n, const mlog_key *key,
                             uint64_t *checked, char *err, size_t errlen) {
  mlog_log **logs = calloc(n, sizeof *logs);
  mlog_log_config cfg = {.key = key};
  int rc = logs ? MLOG_OK : MLOG_ENOMEM;
  uint64_t newest = 0, top;
  *checked = 0;
  for (uint32_t i = 0; rc == MLOG_OK && i < n; i++) {
    rc = mlog_log_open(dirs[i], MLOG_LOG_RDONLY, &cfg, &logs[i]);
    if (rc == MLOG_OK)
      rc = newest_id(logs[i], n, &top);
    if (rc == MLOG_OK && top > newest)
      newest = top;
  }
  bool ok = rc == MLOG_OK;
  if (!ok)
    snprintf(err, errlen, "reading the snapshots: %s", mlog_strerror(rc));
  for (uint64_t id = 1; ok && id <= newest; id++) {
    bool all;
    int64_t money;
    rc = group_money(logs, n, id, &all, &money);
    if (rc != MLOG_OK)
      snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)id,
               mlog_strerror(rc));
    else if (all && money != (int64_t)n * SIMBANK_OPENING)
      snprintf(err, errlen,
               "snapshot %llu holds %lld in balances and channels, not %lld",
               (unsigned long long)id, (long long)money,
               (long long)n * SIMBANK_OPENING);
    ok = rc == MLOG_OK && (!all || money == (int64_t)n * SIMBANK_OPENING);
    *checked += ok && all;
  }
  for (uint32_t i = 0; logs && i < n; i++)
    mlog_log_close(logs[i]);
  free(logs);
  return ok;
}
