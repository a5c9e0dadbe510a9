/* test_reader_race.c - a reader's open meets a writer's map growth, exactly */

/*
 * A reader maps the data file with the map size the writer last committed.
 * When the writer (another process) grows the map and commits past that size
 * between the reader's environment open and its first transaction, LMDB says
 * MDB_MAP_RESIZED and the reader must adopt the new size. Hitting that window
 * by chance is rare, so this test places the growth there: it interposes
 * mdb_txn_begin (the test executable's definition wins over liblmdb's, for
 * the library's calls too) and, when armed, has a writer child grow the map
 * and commit before the reader's read-only transaction begins.
 */

#include <dlfcn.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>

#include "test/testutil.h"

static char dir[64];
static pid_t child;     /* the writer, not yet reaped (0: none) */
static int cmd_fd = -1; /* parent -> writer */
static int ack_fd = -1; /* writer -> parent */
static int armed;       /* grow the map before the next read-only begin */
static int fired;       /* how often the hook ran */

static void setup(void) {
  tu_mkdtemp(dir, sizeof dir);
}

static void teardown(void) {
  tu_reap(&child);
  tu_rmtree(dir);
}

/* One timeout for every test (see test_log.c). */
TestSuite(race, .init = setup, .fini = teardown, .timeout = 60);

/* Ask the writer for one command and wait for its answer (0: failure). */
static char ask(char cmd) {
  char c = 0;
  if (write(cmd_fd, &cmd, 1) != 1)
    return 0;
  while (read(ack_fd, &c, 1) < 0 && errno == EINTR)
    ;
  return c;
}

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags,
                  MDB_txn **txn) {
  static int (*real)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **);
  if (real == NULL)
    *(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_begin");
  if (real == NULL)
    abort();
  if (armed && (flags & MDB_RDONLY)) {
    armed = 0;
    fired++;
    if (ask('g') != 'G') /* the writer grew the map and committed */
      abort();
  }
  return real(env, parent, flags, txn);
}

/* The writer: opens the log, then on 'g' appends until the data file holds
 * more than its map held before (so the map grew and the growth is
 * committed), answering 'G'; exits on 'q' or when the parent is gone. */
static void writer(int cmd, int ack) {
  mlog_log_config cfg = {
      .process_id = 0, .group_size = 1, .map_size = 64 * 1024};
  mlog_log *w;
  char c = 'o';
  if (mlog_log_open(dir, MLOG_LOG_NOSYNC, &cfg, &w) != MLOG_OK)
    _exit(2);
  static uint8_t payload[64 * 1024];
  uint64_t lsn = 1;
  mlog_log_info info;
  if (mlog_log_get_info(w, &info) != MLOG_OK)
    _exit(3);
  lsn = info.records + 1;
  if (write(ack, &c, 1) != 1)
    _exit(4);
  while (read(cmd, &c, 1) == 1 && c == 'g') {
    if (mlog_log_get_info(w, &info) != MLOG_OK)
      _exit(5);
    uint64_t map_before = info.map_bytes;
    do {
      tu_fill(payload, sizeof payload, lsn);
      mlog_record r = tu_record(lsn, payload, sizeof payload);
      if (mlog_log_append(w, &r, 1) != MLOG_OK || r.lsn != lsn)
        _exit(6);
      lsn++;
      if (mlog_log_get_info(w, &info) != MLOG_OK)
        _exit(7);
    } while (info.used_bytes <= map_before);
    c = 'G';
    if (write(ack, &c, 1) != 1)
      _exit(8);
  }
  mlog_log_close(w);
  _exit(0);
}

static void start_writer(void) {
  mlog_log_config cfg = {
      .process_id = 0, .group_size = 1, .map_size = 64 * 1024};
  mlog_log *log;
  cr_assert_eq(
      mlog_log_open(dir, MLOG_LOG_CREATE | MLOG_LOG_NOSYNC, &cfg, &log),
      MLOG_OK);
  uint8_t p[100];
  tu_fill(p, sizeof p, 1);
  mlog_record r = tu_record(1, p, sizeof p);
  cr_assert_eq(mlog_log_append(log, &r, 1), MLOG_OK);
  mlog_log_close(log);
  int down[2], up[2];
  cr_assert_eq(pipe(down), 0);
  cr_assert_eq(pipe(up), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    armed = 0;
    close(down[1]);
    close(up[0]);
    writer(down[0], up[1]);
  }
  child = pid;
  close(down[0]);
  close(up[1]);
  cmd_fd = down[1];
  ack_fd = up[0];
  char c = 0;
  cr_assert_eq(read(ack_fd, &c, 1), 1, "the writer died");
  cr_assert_eq(c, 'o');
}

static void stop_writer(void) {
  char c = 'q';
  cr_assert_eq(write(cmd_fd, &c, 1), 1);
  int status;
  cr_assert_eq(waitpid(child, &status, 0), child);
  child = 0;
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the writer failed (status %d)", status);
  close(cmd_fd);
  close(ack_fd);
}

static void verify_all(mlog_log *log) {
  mlog_verify_report rep;
  cr_assert_eq(mlog_log_verify(log, &rep, NULL, NULL), MLOG_OK);
  cr_assert_eq(rep.problem, MLOG_OK, "%s", rep.detail);
  cr_assert_geq(rep.records, 1u);
  cr_assert_eq(rep.first_lsn, 1u);
  cr_assert_eq(rep.last_lsn, rep.records);
}

Test(race, open_while_the_writer_grows_the_map) {
  start_writer();
  armed = 1;
  mlog_log *r = NULL;
  int rc = mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &r);
  cr_assert_eq(fired, 1, "the hook did not run");
  cr_assert_eq(rc, MLOG_OK, "read-only open while the map grew: %s: %s",
               mlog_errname(rc), mlog_log_errmsg(NULL));
  verify_all(r);
  mlog_log_close(r);
  stop_writer();
}

Test(race, view_while_the_writer_grows_the_map) {
  start_writer();
  mlog_log *r = NULL;
  cr_assert_eq(mlog_log_open(dir, MLOG_LOG_RDONLY, NULL, &r), MLOG_OK);
  verify_all(r);
  for (int i = 0; i < 3; i++) {
    armed = 1;
    mlog_log_info info;
    int rc = mlog_log_get_info(r, &info);
    cr_assert_eq(fired, i + 1);
    cr_assert_eq(rc, MLOG_OK, "a view while the map grew: %s: %s",
                 mlog_errname(rc), mlog_log_errmsg(r));
    cr_assert_gt(info.records, 1u);
    verify_all(r);
  }
  mlog_log_close(r);
  stop_writer();
}
