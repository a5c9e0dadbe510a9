/* test_audit.c - mlog audit on logs written by hand: a duplicated delivery,
 * a gap above the newest checkpoint, a void delivery received again (clean),
 * a decreasing incarnation, a delivery that differs from its sender's kept
 * copy, and orphans (a problem unless the delivery itself is void) */
#include "testutil.h"

#include "core/depvec.h"

static char root[64];

static void setup(void) {
  tu_mkdtemp(root, sizeof root);
}

static void teardown(void) {
  tu_rmtree(root);
}

static mlog_log *create_log(uint32_t id, uint32_t n, const char *protocol) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/p%u", root, id);
  mlog_log_config cfg = {
      .process_id = id, .group_size = n, .protocol = protocol};
  mlog_log *log;
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_CREATE, &cfg, &log), MLOG_OK, "%s",
               mlog_log_errmsg(NULL));
  return log;
}

/* Append a delivery to dst from src; returns its lsn. */
static uint64_t deliver(mlog_log *log, uint32_t src, uint32_t dst, uint64_t ssn,
                        uint64_t rsn, uint32_t inc, uint8_t flags,
                        const void *payload, uint32_t len) {
  mlog_record rec = {.type = MLOG_REC_DELIVERY,
                     .flags = flags,
                     .src = src,
                     .dst = dst,
                     .ssn = ssn,
                     .rsn = rsn,
                     .incarnation = inc,
                     .payload = payload,
                     .payload_len = len};
  cr_assert_eq(mlog_log_append(log, &rec, 1), MLOG_OK, "%s",
               mlog_log_errmsg(log));
  return rec.lsn;
}

typedef struct result {
  int status;
  char out[8192];
} result;

/* Run "mlog audit --json root/p0 root/p1" into *r. */
static void audit2(result *r) {
  const char *bin = getenv("MLOG_BIN");
  cr_assert_not_null(bin, "MLOG_BIN must name the mlog tool (CTest sets it)");
  char cmd[1024], out[128];
  snprintf(out, sizeof out, "%s/.out", root);
  snprintf(cmd, sizeof cmd, "'%s' audit --json '%s/p0' '%s/p1' >'%s'", bin,
           root, root, out);
  int st = system(cmd);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  FILE *f = fopen(out, "r");
  cr_assert_not_null(f);
  size_t n = fread(r->out, 1, sizeof r->out - 1, f);
  fclose(f);
  r->out[n] = '\0';
}

static void expect_in(const result *r, const char *want) {
  cr_expect_not_null(strstr(r->out, want), "'%s' not in: %s", want, r->out);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 30);

Test(audit, duplicate_delivery) {
  mlog_log *p0 = create_log(0, 2, "pessimistic-receiver");
  mlog_log *p1 = create_log(1, 2, "pessimistic-receiver");
  deliver(p0, 1, 0, 1, 1, 0, 0, "a", 1);
  deliver(p0, 1, 0, 2, 2, 0, 0, "b", 1);
  deliver(p0, 1, 0, 2, 3, 0, 0, "b", 1);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 1, "%s", r.out);
  expect_in(&r, "{\"process\":\"p0\",\"lsn\":3,\"check\":\"duplicate\"");
  expect_in(&r, "\"ok\":false");
}

Test(audit, gap_above_checkpoint) {
  mlog_log *p0 = create_log(0, 2, "pessimistic-receiver");
  mlog_log *p1 = create_log(1, 2, "pessimistic-receiver");
  deliver(p0, 1, 0, 1, 1, 0, 0, "a", 1);
  deliver(p0, 1, 0, 2, 2, 0, 0, "b", 1);
  deliver(p0, 1, 0, 4, 3, 0, 0, "d", 1);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 1, "%s", r.out);
  expect_in(&r, "{\"process\":\"p0\",\"lsn\":3,\"check\":\"gap\"");
  expect_in(&r, "expected ssn 3");
}

Test(audit, void_delivery_received_again_is_clean) {
  mlog_log *p0 = create_log(0, 2, "pessimistic-receiver");
  mlog_log *p1 = create_log(1, 2, "pessimistic-receiver");
  deliver(p0, 1, 0, 1, 1, 0, 0, "a", 1);
  deliver(p0, 1, 0, 2, 2, 0, 0, "b", 1); /* lost in a crash */
  cr_assert_eq(mlog_log_end_incarnation(p0, 1), MLOG_OK);
  deliver(p0, 1, 0, 2, 2, 1, 0, "b", 1);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 0, "%s", r.out);
  expect_in(&r, "\"ok\":true");
}

Test(audit, incarnation_decreases) {
  mlog_log *p0 = create_log(0, 2, "pessimistic-receiver");
  mlog_log *p1 = create_log(1, 2, "pessimistic-receiver");
  deliver(p0, 1, 0, 1, 1, 1, 0, "a", 1);
  deliver(p0, 1, 0, 2, 2, 0, 0, "b", 1);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 1, "%s", r.out);
  expect_in(&r, "{\"process\":\"p0\",\"lsn\":2,\"check\":\"incarnation\"");
}

Test(audit, delivery_differs_from_kept_copy) {
  mlog_log *p0 = create_log(0, 2, "pessimistic-sender");
  mlog_log *p1 = create_log(1, 2, "pessimistic-sender");
  mlog_record kept = {.type = MLOG_REC_PAYLOAD,
                      .src = 1,
                      .dst = 0,
                      .ssn = 1,
                      .payload = "abc",
                      .payload_len = 3};
  cr_assert_eq(mlog_log_put_sent(p1, &kept, 1), MLOG_OK, "%s",
               mlog_log_errmsg(p1));
  deliver(p0, 1, 0, 1, 1, 0, 0, "abd", 3);
  mlog_log_close(p0);
  mlog_log_close(p1);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 1, "%s", r.out);
  expect_in(&r, "{\"process\":\"p0\",\"lsn\":1,\"check\":\"sender\"");
}

/* p0 received from p1 a message that depends on p1's interval (0, 2);
 * p1's incarnation 0 ended at rsn 1. */
static void write_orphan(bool delivery_void) {
  mlog_log *p0 = create_log(0, 2, "optimistic-receiver");
  mlog_log *p1 = create_log(1, 2, "optimistic-receiver");
  deliver(p1, 0, 1, 1, 1, 0, 0, "x", 1);
  deliver(p1, 0, 1, 2, 2, 0, 0, "y", 1);
  cr_assert_eq(mlog_log_end_incarnation(p1, 1), MLOG_OK);
  uint8_t buf[64];
  mlogi_interval dv[2] = {{0, 0}, {0, 2}};
  size_t len = mlogi_dv_encode(dv, 2, buf);
  memcpy(buf + len, "m", 1);
  deliver(p0, 1, 0, 1, 1, 0, 0x1, buf, (uint32_t)len + 1);
  if (delivery_void) /* p0 rolled back past it */
    cr_assert_eq(mlog_log_end_incarnation(p0, 0), MLOG_OK);
  mlog_log_close(p0);
  mlog_log_close(p1);
}

Test(audit, orphan_delivery) {
  write_orphan(false);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 1, "%s", r.out);
  expect_in(&r, "\"orphans\":[{\"process\":\"p0\",\"lsn\":1,\"check\":"
                "\"orphan\"");
  expect_in(&r, "\"void\":false");
}

Test(audit, orphan_of_a_void_delivery_is_a_warning) {
  write_orphan(true);
  result r;
  audit2(&r);
  cr_expect_eq(r.status, 0, "%s", r.out);
  expect_in(&r, "\"ok\":true");
  expect_in(&r, "\"void\":true");
}
