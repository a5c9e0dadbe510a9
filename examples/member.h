/* member.h - what an example needs to run as one process of a group under
 * `mlog chaos` (the member protocol of tools/chaos.h) */
#ifndef MLOG_EXAMPLES_MEMBER_H
#define MLOG_EXAMPLES_MEMBER_H

#include <errno.h>
#include <limits.h>
#include <mlog/process.h>
#include <mlog/zmq.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The command line mlog chaos starts a member with. */
typedef struct member_opts {
  uint32_t id;
  const char *group, *dir, *protocol;
  uint64_t seed, work, stall_ms;
  bool durable, koo_toueg;
} member_opts;

static volatile sig_atomic_t member_stopping; /* SIGTERM arrived */
static uint64_t member_stalled_ms; /* lingered on purpose (member_stall) */

static inline void member_on_term(int sig) {
  (void)sig;
  member_stopping = 1;
}

/* One line to the harness, in one write (a SIGKILL loses nothing
 * buffered). */
__attribute__((format(printf, 1, 2))) static inline void
member_say(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  if (write(STDOUT_FILENO, line, (size_t)n) < 0)
    _exit(5); /* the harness is gone */
}

/* Tell the harness a checkpoint or a recovery is under way, then linger
 * so that a kill can land inside it. */
static inline void member_stall(const member_opts *o, const char *what) {
  member_say("%s", what);
  struct timespec ts = {.tv_sec = (time_t)(o->stall_ms / 1000),
                        .tv_nsec = (long)(o->stall_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  member_stalled_ms += o->stall_ms;
}

static inline uint64_t member_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --member ID --group FILE --dir DIR --protocol P --seed S --work W
 * --stall-ms MS [--durable] [--koo-toueg]; false on anything else. */
static inline bool member_parse(int argc, char **argv, member_opts *o) {
  *o = (member_opts){.id = UINT32_MAX};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--durable") == 0 || strcmp(a, "--koo-toueg") == 0) {
      *(a[2] == 'd' ? &o->durable : &o->koo_toueg) = true;
      continue;
    }
    if (v == NULL)
      return false;
    i++;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    bool number = *v != '\0' && *end == '\0';
    if (strcmp(a, "--group") == 0)
      o->group = v;
    else if (strcmp(a, "--dir") == 0)
      o->dir = v;
    else if (strcmp(a, "--protocol") == 0)
      o->protocol = v;
    else if (number && strcmp(a, "--member") == 0 && n < UINT32_MAX)
      o->id = (uint32_t)n;
    else if (number && strcmp(a, "--seed") == 0)
      o->seed = n;
    else if (number && strcmp(a, "--work") == 0)
      o->work = n;
    else if (number && strcmp(a, "--stall-ms") == 0)
      o->stall_ms = n;
    else
      return false;
  }
  return o->id != UINT32_MAX && o->group && o->dir && o->protocol;
}

/* Read the group file (the application's state may need the group's size
 * before its process opens). Exits 3 on failure, with the reason on
 * stderr. */
static inline void member_group(const member_opts *o, const char *name,
                                mlog_group *g) {
  if (mlog_group_load(o->group, g) != MLOG_OK || o->id >= g->size) {
    fprintf(stderr, "%s: %s: %s\n", name, o->group,
            o->id >= g->size ? "no such member" : mlog_zmq_errmsg());
    exit(3);
  }
}

/* Open (that is, recover) this member's process over ZeroMQ, wait until
 * its recovery is over (a rollback round, or the peers' replies under
 * sender-based logging), then say "ready US MS" (US: how long that took,
 * MS: how long of it the callbacks lingered on purpose). Exits 3 on failure,
 * with the reason on stderr. */
static inline mlog_proc *member_open(const member_opts *o, const char *name,
                                     const mlog_app *app, void *state,
                                     const mlog_group *g) {
  signal(SIGTERM, member_on_term);
  mlog_zmq_config zc = {.group = g, .heartbeat_ms = 50, .suspect_ms = 500};
  mlog_proc_config cfg = {
      .dirpath = o->dir,
      .id = o->id,
      .group_size = g->size,
      .protocol = o->protocol,
      .ckpt_every_deliveries = 64,
      .ckpt_every_ms = 250, /* an idle member's outputs still get committed
                               (coordinated: the next snapshot covers them) */
      .transport = &mlog_zmq_ops,
      .transport_config = &zc,
      .retransmit_ms = 100,
      .flags = (o->durable ? MLOG_PROC_SENDER_DURABLE : 0) |
               (o->koo_toueg ? MLOG_PROC_KOO_TOUEG : 0)};
  uint64_t t0 = member_now_ms();
  mlog_proc *p;
  if (mlog_proc_open(&cfg, app, state, &p) != MLOG_OK) {
    fprintf(stderr, "%s: member %u: %s\n", name, o->id, mlog_proc_errmsg(NULL));
    exit(3);
  }
  mlog_proc_stats st;
  mlog_proc_get_stats(p, &st);
  while (st.recovering && !member_stopping) {
    if (mlog_proc_poll(p, 10) < 0) {
      fprintf(stderr, "%s: member %u: %s\n", name, o->id, mlog_proc_errmsg(p));
      exit(4);
    }
    mlog_proc_get_stats(p, &st);
  }
  member_say("ready %llu %llu",
             (unsigned long long)(member_now_ms() - t0) * 1000u,
             (unsigned long long)member_stalled_ms);
  return p;
}

/* Run the whole group: exec `mlog chaos --app APP` (found in ../bin/
 * beside this program) with this program as the application, a kill by
 * default, a duration of 1 + kills seconds unless given, and the rest of
 * argv (after renaming each renames[2i] to renames[2i + 1]: later options
 * win over the defaults). --help prints `usage`. Returns only on failure. */
static inline int member_run_chaos(int argc, char **argv, const char *app,
                                   const char *const *renames,
                                   const char *usage) {
  char self[PATH_MAX], mlog[PATH_MAX + 16], duration[32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("/proc/self/exe");
    return 2;
  }
  self[n] = '\0';
  char *args[80] = {"mlog",       "chaos", "--app",      (char *)app,
                    "--app-path", self,    "--protocol", "pessimistic-receiver",
                    "--kills",    "1"};
  int k = 10, kills = 1;
  bool has_duration = false;
  for (int i = 1; i < argc && k < 76; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    for (size_t r = 0; renames[r] != NULL; r += 2)
      if (strcmp(a, renames[r]) == 0)
        a = renames[r + 1];
    has_duration = has_duration || strcmp(a, "--duration") == 0;
    if (strcmp(a, "--kills") == 0 && i + 1 < argc)
      kills = atoi(argv[i + 1]);
    args[k++] = (char *)a;
  }
  if (!has_duration) {
    snprintf(duration, sizeof duration, "%d", 1 + (kills > 0 ? kills : 0));
    args[k++] = "--duration";
    args[k++] = duration;
  }
  args[k] = NULL;
  int dir_len = (int)(strrchr(self, '/') - self);
  snprintf(mlog, sizeof mlog, "%.*s/../bin/mlog", dir_len, self);
  execv(mlog, args);
  fprintf(stderr, "%s: cannot run %s: %s\n", app, mlog, strerror(errno));
  return 2;
}

#endif /* MLOG_EXAMPLES_MEMBER_H */
