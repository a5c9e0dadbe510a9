/* chaos.c - mlog chaos: run a group of real processes, SIGKILL random ones
 * at random moments (also inside checkpoints and recoveries), restart them,
 * then check the application's invariants and mlog audit */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos.h"
#include "mlog/logger.h"
#include "tool.h"

#ifdef MLOG_HAVE_ZMQ
#include "mlog/zmq.h"
#endif

static const char usage[] =
    "usage: mlog chaos --app APP --protocol P [--procs N] [--kills K]\n"
    "                  [--seed S] [--duration SECONDS] [--work W] [--dir DIR]\n"
    "                  [--json] [--durable] [--koo-toueg] [--stall-ms MS]\n"
    "                  [--tcp] [--app-path FILE]\n"
    "\n"
    "Run APP (bank or token-ring) as N separate processes over ZeroMQ\n"
    "(ipc:// endpoints in DIR), each with its own log in DIR/pID. For\n"
    "SECONDS, SIGKILL K random processes at random moments and restart them\n"
    "at once (opening the log is recovery). A third of the kills wait for a\n"
    "process to begin a checkpoint and land inside it; a third kill a\n"
    "process, then kill it again while it recovers. Once the kills are over\n"
    "and the application's work is done, stop every process (SIGTERM) and\n"
    "judge: the application's invariants (bank: the total is conserved and\n"
    "every transfer applied once; token-ring: exactly one token in every\n"
    "snapshot), no output released twice with different contents, and\n"
    "'mlog audit' of the logs (its report is DIR/audit.txt).\n"
    "\n"
    "options:\n"
    "  -a, --app APP        bank or token-ring\n"
    "  -P, --protocol P     the logging protocol of every process\n"
    "  -n, --procs N        processes, 2 to 16 (default 4)\n"
    "  -K, --kills K        SIGKILLs (default 3)\n"
    "  -s, --seed S         the seed of the kills' choices (default 1)\n"
    "  -t, --duration SECS  the kills happen within this many seconds\n"
    "                       (default 5)\n"
    "  -w, --work W         the application's work: bank: transfers each\n"
    "                       branch starts; token-ring: hops of the token\n"
    "  -d, --dir DIR        the run directory (default: a new one in $TMPDIR,\n"
    "                       removed after a run that passed)\n"
    "  -j, --json           make the last stdout line one JSON object: ok,\n"
    "                       app, protocol, koo_toueg, transport, procs,\n"
    "                       kills, crashes (= kills), kills_in_checkpoint,\n"
    "                       kills_in_recovery, recoveries, recovery_ms "
    "(list),\n"
    "                       audit_ok, outputs_changed, failed_members,\n"
    "                       exit_reports_failed, settled, seconds, and the\n"
    "                       application's keys (lost, duplicates, ...)\n"
    "      --durable        pessimistic-sender's durable mode\n"
    "      --koo-toueg      coordinated with Koo-Toueg checkpoints\n"
    "      --stall-ms MS    how long a process lingers in its snapshot and\n"
    "                       restore callbacks (default 10), so that kills can\n"
    "                       land inside checkpoints and recoveries\n"
    "      --tcp            tcp://127.0.0.1 endpoints on free ports instead\n"
    "                       of ipc:// ones\n"
    "      --app-path FILE  the application's program (default: found beside\n"
    "                       mlog, in ../examples/)\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 every check passed, 1 a check failed, 2 usage error,\n"
    "3 the run could not be set up.\n";

static const chaos_app *const apps[] = {&chaos_bank, &chaos_token_ring};

/* The run directory holds the ipc:// sockets (DIR/pID.sock), whose paths
 * must fit in a sockaddr_un. */
#define MAX_DIR_LEN 90

typedef struct chaos_opts {
  const chaos_app *app;
  const char *protocol, *dir, *app_path;
  uint64_t procs, kills, seed, duration, work, stall_ms;
  bool json, durable, koo_toueg, tcp;
} chaos_opts;

/* A member process as the harness sees it. */
typedef struct member {
  pid_t pid; /* 0: not running */
  int fd;    /* its stdout */
  char buf[4096];
  size_t used;
  uint64_t started_ms; /* when it was (re)started */
  uint64_t ckpt_ms;    /* when it last said "ckpt" (0: not since) */
  uint64_t restore_ms; /* when it last said "restore" */
  bool restarted;      /* this run of it is a recovery */
} member;

/* A kill waiting for its moment. */
typedef enum kill_kind {
  KILL_NOW,
  KILL_IN_CHECKPOINT,
  KILL_IN_RECOVERY
} kill_kind;

typedef struct chaos_run {
  chaos_opts o;
  char app_bin[PATH_MAX], group_file[PATH_MAX];
  member m[CHAOS_MAX_PROCS];
  chaos_view v;
  uint64_t rng, t0;
  /* kills */
  uint64_t kills, in_checkpoint, in_recovery, next_kill_ms;
  kill_kind pending;     /* the kind of the next kill */
  int64_t second_victim; /* KILL_IN_RECOVERY: the member to kill again */
  uint64_t pending_since;
  uint64_t lag_ms; /* the random delay inside the window */
  /* results */
  uint64_t recovery_ms[256];
  uint32_t recoveries, outputs_changed, failed_members, reports_failed;
#ifdef MLOG_HAVE_ZMQ
  mlog_group group; /* read back from the group file, for exit reports */
#endif
} chaos_run;

/* out = dir/name (name a printf format); false when it does not fit. */
__attribute__((format(printf, 4, 5))) static bool
path_in(char *out, size_t cap, const char *dir, const char *name, ...) {
  char tail[64];
  va_list ap;
  va_start(ap, name);
  int n = vsnprintf(tail, sizeof tail, name, ap);
  va_end(ap);
  int m = snprintf(out, cap, "%s/%s", dir, tail);
  return n >= 0 && (size_t)n < sizeof tail && m >= 0 && (size_t)m < cap;
}

uint64_t chaos_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t next_random(chaos_run *r) {
  r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
  return r->rng >> 33;
}

/* ------------------------------------------------------------------------ */
/* What the applications read                                               */

int64_t chaos_status(const chaos_view *v, uint32_t i, const char *key) {
  for (uint32_t k = 0; k < v->n_keys[i]; k++)
    if (strcmp(v->keys[i][k], key) == 0)
      return v->vals[i][k];
  return 0;
}

int64_t chaos_sum(const chaos_view *v, const char *key) {
  int64_t sum = 0;
  for (uint32_t i = 0; i < v->procs; i++)
    sum += chaos_status(v, i, key);
  return sum;
}

/* ------------------------------------------------------------------------ */
/* Members' lines                                                           */

/* "status K=V K=V ...": replaces member i's last status. */
static void take_status(chaos_view *v, uint32_t i, char *words) {
  uint32_t n = 0;
  for (char *save, *w = strtok_r(words, " ", &save);
       w != NULL && n < CHAOS_MAX_KEYS; w = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(w, '=');
    if (eq == NULL || eq - w >= (ptrdiff_t)sizeof v->keys[i][n])
      continue;
    memcpy(v->keys[i][n], w, (size_t)(eq - w));
    v->keys[i][n][eq - w] = '\0';
    v->vals[i][n++] = strtoll(eq + 1, NULL, 10);
  }
  v->n_keys[i] = n;
}

/* "out SEQ TEXT": a released output; the same (member, seq) again must
 * bring the same text. */
static void take_output(chaos_run *r, uint32_t i, const char *rest) {
  char *text;
  unsigned long long seq = strtoull(rest, &text, 10);
  text += *text == ' ';
  for (size_t k = 0; k < r->v.n_outputs; k++) {
    chaos_output *o = &r->v.outputs[k];
    if (o->member == i && o->seq == seq) {
      r->outputs_changed += strcmp(o->text, text) != 0;
      return;
    }
  }
  chaos_output *grown =
      realloc(r->v.outputs, (r->v.n_outputs + 1) * sizeof *grown);
  char *copy = strdup(text);
  if (grown == NULL || copy == NULL) {
    free(copy);
    if (grown != NULL)
      r->v.outputs = grown;
    r->outputs_changed++; /* cannot keep it: count it against the run */
    return;
  }
  r->v.outputs = grown;
  r->v.outputs[r->v.n_outputs++] =
      (chaos_output){.member = i, .seq = seq, .text = copy};
}

static void take_line(chaos_run *r, uint32_t i, char *line) {
  member *m = &r->m[i];
  if (strncmp(line, "status ", 7) == 0) {
    take_status(&r->v, i, line + 7);
  } else if (strncmp(line, "out ", 4) == 0) {
    take_output(r, i, line + 4);
  } else if (strcmp(line, "ckpt") == 0) {
    m->ckpt_ms = chaos_now_ms();
  } else if (strcmp(line, "restore") == 0) {
    m->restore_ms = chaos_now_ms();
  } else if (strncmp(line, "ready ", 6) == 0 && !r->v.ready[i]) {
    r->v.ready[i] = true;
    unsigned long long us = 0, stalled = 0;
    if (sscanf(line, "ready %llu %llu", &us, &stalled) != 2)
      stalled = 0; /* a member of another make: nothing to subtract */
    uint64_t ms = chaos_now_ms() - m->started_ms;
    if (m->restarted && r->recoveries < sizeof r->recovery_ms / 8)
      r->recovery_ms[r->recoveries++] = ms > stalled ? ms - stalled : 0;
  }
}

/* Read what member i wrote; false at the end of its stdout. */
static bool read_member(chaos_run *r, uint32_t i) {
  member *m = &r->m[i];
  ssize_t got = read(m->fd, m->buf + m->used, sizeof m->buf - 1 - m->used);
  if (got <= 0)
    return false;
  m->used += (size_t)got;
  m->buf[m->used] = '\0';
  char *line = m->buf, *nl;
  while ((nl = strchr(line, '\n')) != NULL) {
    *nl = '\0';
    take_line(r, i, line);
    line = nl + 1;
  }
  m->used = strlen(line);
  if (m->used == sizeof m->buf - 1) /* a line too long: drop it */
    m->used = 0;
  memmove(m->buf, line, m->used);
  return true;
}

/* ------------------------------------------------------------------------ */
/* Starting, killing, stopping members                                      */

static void exec_member(chaos_run *r, uint32_t id) {
  char ids[16], seed[32], work[32], stall[32], dir[PATH_MAX], err[PATH_MAX];
  snprintf(ids, sizeof ids, "%u", id);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->o.seed);
  snprintf(work, sizeof work, "%llu", (unsigned long long)r->o.work);
  snprintf(stall, sizeof stall, "%llu", (unsigned long long)r->o.stall_ms);
  int fd = path_in(err, sizeof err, r->o.dir, "p%u.err", id)
               ? open(err, O_WRONLY | O_CREAT | O_APPEND, 0644)
               : -1;
  if (!path_in(dir, sizeof dir, r->o.dir, "p%u", id))
    _exit(127); /* cannot happen: cmd_chaos bounds the run directory */
  if (fd >= 0 && fd != STDERR_FILENO) {
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  char *argv[20] = {r->app_bin, "--member",    ids,
                    "--group",  r->group_file, "--dir",
                    dir,        "--protocol",  (char *)r->o.protocol,
                    "--seed",   seed,          "--work",
                    work,       "--stall-ms",  stall};
  int n = 15;
  if (r->o.durable)
    argv[n++] = "--durable";
  if (r->o.koo_toueg)
    argv[n++] = "--koo-toueg";
  argv[n] = NULL;
  execv(r->app_bin, argv);
  fprintf(stderr, "mlog chaos: cannot run %s: %s\n", r->app_bin,
          strerror(errno));
  _exit(127);
}

static int start_member(chaos_run *r, uint32_t id, bool restarted) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[1]);
    exec_member(r, id);
  }
  close(fds[1]);
  member *m = &r->m[id];
  *m = (member){.pid = pid,
                .fd = fds[0],
                .started_ms = chaos_now_ms(),
                .restarted = restarted};
  r->v.ready[id] = false;
  return 0;
}

/* Tell the survivors that process id (pid) is gone: a supervisor's report
 * of a process exit, so that they suspect it at once rather than after
 * their heartbeats' timeout. Best effort: a member that misses it still
 * finds out by the timeout. */
static void report_exit(chaos_run *r, uint32_t id, pid_t pid) {
#ifdef MLOG_HAVE_ZMQ
  if (r->group.size == r->v.procs &&
      mlog_zmq_report_exit(&r->group, id, pid) != MLOG_OK)
    r->reports_failed++;
#else
  (void)r, (void)id, (void)pid;
#endif
}

/* Wait for member id's end and close its pipe; returns its wait status. */
static int reap(chaos_run *r, uint32_t id) {
  member *m = &r->m[id];
  int status = 0;
  waitpid(m->pid, &status, 0);
  close(m->fd);
  m->pid = 0;
  return status;
}

/* SIGKILL member id, reap it and start it again; `why` says when. */
static int kill_and_restart(chaos_run *r, uint32_t id, const char *why) {
  member *m = &r->m[id];
  pid_t pid = m->pid;
  if (pid <= 0) /* reaped (it failed the run): kill(0) is the process group */
    return 0;
  kill(pid, SIGKILL);
  while (read_member(r, id)) /* what it wrote before it died */
    ;
  reap(r, id);
  r->kills++;
  report_exit(r, id, pid);
  if (m->restarted && !r->v.ready[id]) { /* it was still recovering */
    r->in_recovery++;
    why = " while it recovers";
  }
  if (!r->o.json)
    printf("  %5.1f s  SIGKILL p%u%s; restarting it\n",
           (double)(chaos_now_ms() - r->t0) / 1000, id, why);
  fflush(stdout);
  return start_member(r, id, true);
}

/* A member that ended by itself (not killed by us) failed the run. */
static void reap_failed(chaos_run *r, uint32_t id) {
  int status = reap(r, id);
  r->failed_members++;
  tool_error("p%u stopped by itself (%s %d; its stderr: %s/p%u.err)", id,
             WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
             r->o.dir, id);
}

/* Wait up to ms for lines from the members. */
static void listen_members(chaos_run *r, int ms) {
  struct pollfd fds[CHAOS_MAX_PROCS];
  for (uint32_t i = 0; i < r->v.procs; i++)
    fds[i] =
        (struct pollfd){.fd = r->m[i].pid ? r->m[i].fd : -1, .events = POLLIN};
  if (poll(fds, r->v.procs, ms) <= 0)
    return;
  for (uint32_t i = 0; i < r->v.procs; i++)
    if (fds[i].revents && !read_member(r, i))
      reap_failed(r, i);
}

/* ------------------------------------------------------------------------ */
/* The kills                                                                */

static void plan_next_kill(chaos_run *r) {
  uint64_t span = r->o.duration * 1000 / (r->o.kills + 1);
  r->next_kill_ms = chaos_now_ms() + span / 2 + next_random(r) % (span + 1);
  r->pending = (kill_kind)(next_random(r) % 3);
  r->pending_since = 0;
  r->lag_ms = next_random(r) % (r->o.stall_ms + 1);
}

/* A member that began a checkpoint lag_ms ago and is still in it (or just
 * out: the store's write and commit follow the callback). */
static int64_t in_checkpoint(const chaos_run *r, uint64_t now) {
  for (uint32_t i = 0; i < r->v.procs; i++) {
    const member *m = &r->m[i];
    if (m->pid && m->ckpt_ms && m->ckpt_ms >= r->pending_since &&
        now >= m->ckpt_ms + r->lag_ms)
      return i;
  }
  return -1;
}

static int kill_now(chaos_run *r, uint32_t victim, const char *why) {
  if (kill_and_restart(r, victim, why) != 0)
    return -1;
  if (r->pending == KILL_IN_RECOVERY && r->second_victim < 0 &&
      r->kills < r->o.kills) {
    r->second_victim = victim; /* again, while it recovers */
    r->pending_since = chaos_now_ms();
    return 0;
  }
  r->second_victim = -1;
  plan_next_kill(r);
  return 0;
}

/* The second kill of KILL_IN_RECOVERY: once the restarted member restores
 * its checkpoint (plus the lag), or at a random moment before it is ready
 * when it has none to restore. */
static int kill_recovering(chaos_run *r, uint64_t now) {
  member *m = &r->m[r->second_victim];
  uint32_t id = (uint32_t)r->second_victim;
  bool restoring = m->restore_ms && now >= m->restore_ms + r->lag_ms;
  bool early = !r->v.ready[id] && now >= m->started_ms + r->lag_ms;
  if (!restoring && !early && !r->v.ready[id])
    return 0;
  return kill_now(r, id, "");
}

static int maybe_kill(chaos_run *r) {
  uint64_t now = chaos_now_ms();
  if (r->kills >= r->o.kills)
    return 0;
  if (r->second_victim >= 0)
    return kill_recovering(r, now);
  if (now < r->next_kill_ms)
    return 0;
  if (r->pending == KILL_IN_CHECKPOINT) {
    if (r->pending_since == 0)
      r->pending_since = now;
    int64_t victim = in_checkpoint(r, now);
    if (victim >= 0) {
      r->in_checkpoint++;
      return kill_now(r, (uint32_t)victim, " inside a checkpoint");
    }
    if (now - r->pending_since < 3000) /* no checkpoint yet: wait a bit */
      return 0;
    r->pending = KILL_NOW;
  }
  return kill_now(r, (uint32_t)(next_random(r) % r->v.procs), "");
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */

/* A TCP port of the loopback nobody listens on now (the kernel's pick),
 * or -1. */
static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
                     getsockname(s, (struct sockaddr *)&a, &len) == 0
                 ? ntohs(a.sin_port)
                 : -1;
  if (s >= 0)
    close(s);
  return port;
}

static int write_group_file(chaos_run *r) {
  FILE *f = path_in(r->group_file, sizeof r->group_file, r->o.dir, "group")
                ? fopen(r->group_file, "w")
                : NULL;
  if (f == NULL)
    return -1;
  fprintf(f, "# mlog chaos: %u processes of %s\n", r->v.procs, r->o.app->name);
  int port = 0;
  for (uint32_t i = 0; i < r->v.procs; i++)
    if (!r->o.tcp)
      fprintf(f, "%u ipc://%s/p%u.sock\n", i, r->o.dir, i);
    else if ((port = free_port()) > 0)
      fprintf(f, "%u tcp://127.0.0.1:%d\n", i, port);
  if (fclose(f) != 0 || port < 0)
    return -1;
#ifdef MLOG_HAVE_ZMQ
  if (mlog_group_load(r->group_file, &r->group) != MLOG_OK) {
    errno = EINVAL; /* a run directory whose name makes no endpoint */
    return -1;
  }
#endif
  return 0;
}

static bool all_ready(const chaos_run *r) {
  for (uint32_t i = 0; i < r->v.procs; i++)
    if (!r->m[i].pid || !r->v.ready[i])
      return false;
  return true;
}

static void show_progress(const chaos_run *r) {
  char what[160] = "";
  if (r->o.app->progress != NULL)
    r->o.app->progress(&r->v, what, sizeof what);
  printf("  %5.1f s  %s\n", (double)(chaos_now_ms() - r->t0) / 1000, what);
  fflush(stdout);
}

/* Kill and restart until the kills are over, then wait for the application
 * to be done and stay done for 500 ms (or for a minute past the kills'
 * window). */
static bool drive(chaos_run *r) {
  uint64_t limit = r->t0 + r->o.duration * 1000 + 60000, done_since = 0;
  uint64_t shown = r->t0;
  while (chaos_now_ms() < limit && r->failed_members == 0) {
    listen_members(r, 10);
    if (r->failed_members != 0)
      break; /* a member reaped: no kill may name it */
    if (!r->o.json && chaos_now_ms() - shown >= 1000) {
      shown = chaos_now_ms();
      show_progress(r);
    }
    if (maybe_kill(r) != 0) {
      tool_error("cannot restart a process: %s", strerror(errno));
      r->failed_members++;
      return false;
    }
    r->v.killing = r->kills < r->o.kills;
    bool done = !r->v.killing && all_ready(r) && r->o.app->done(&r->v);
    if (!done)
      done_since = 0;
    else if (done_since == 0)
      done_since = chaos_now_ms();
    else if (chaos_now_ms() - done_since >= 500)
      return true;
  }
  return false;
}

/* SIGTERM every member and take its last lines. */
static void stop_members(chaos_run *r) {
  for (uint32_t i = 0; i < r->v.procs; i++)
    if (r->m[i].pid)
      kill(r->m[i].pid, SIGTERM);
  for (uint32_t i = 0; i < r->v.procs; i++) {
    member *m = &r->m[i];
    if (!m->pid)
      continue;
    uint64_t until =
        chaos_now_ms() + 10000; /* a wedged member must not hang us */
    struct pollfd pf = {.fd = m->fd, .events = POLLIN};
    while (chaos_now_ms() < until &&
           poll(&pf, 1, (int)(until - chaos_now_ms())) > 0 && read_member(r, i))
      ;
    if (chaos_now_ms() >= until) {
      tool_error("p%u did not stop within 10 s: SIGKILL", i);
      kill(m->pid, SIGKILL);
    }
    int status = reap(r, i);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      r->failed_members++;
      tool_error("p%u did not stop cleanly (see %s/p%u.err)", i, r->o.dir, i);
    }
  }
}

/* mlog audit of the run's logs, by this same program; its report goes to
 * DIR/audit.txt. */
static bool audit(const chaos_run *r) {
  char out[PATH_MAX], *argv[CHAOS_MAX_PROCS + 3] = {"mlog", "audit"};
  char dirs[CHAOS_MAX_PROCS][PATH_MAX];
  for (uint32_t i = 0; i < r->v.procs; i++) {
    if (!path_in(dirs[i], sizeof dirs[i], r->o.dir, "p%u", i))
      return false;
    argv[2 + i] = dirs[i];
  }
  argv[2 + r->v.procs] = NULL;
  if (!path_in(out, sizeof out, r->o.dir, "audit.txt"))
    return false;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
      _exit(3);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execv("/proc/self/exe", argv);
    _exit(3);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0)
    return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static json_t *recovery_list(const chaos_run *r) {
  json_t *list = json_array();
  for (uint32_t i = 0; i < r->recoveries; i++)
    json_array_append_new(list, json_integer((json_int_t)r->recovery_ms[i]));
  return list;
}

static void print_text(const chaos_run *r, bool ok, bool settled,
                       bool audit_ok) {
  printf("%s: %s, %u processes under %s%s, %llu SIGKILLs (%llu inside a "
         "checkpoint, %llu during a recovery)\n",
         ok ? "ok" : "FAILED", r->o.app->name, r->v.procs, r->o.protocol,
         r->o.koo_toueg ? " (Koo-Toueg)" : "", (unsigned long long)r->kills,
         (unsigned long long)r->in_checkpoint,
         (unsigned long long)r->in_recovery);
  for (uint32_t i = 0; i < r->recoveries; i++)
    printf("  recovery %u: ready after %llu ms\n", i + 1,
           (unsigned long long)r->recovery_ms[i]);
  printf("  mlog audit: %s (%s/audit.txt)\n", audit_ok ? "clean" : "PROBLEMS",
         r->o.dir);
  if (r->outputs_changed)
    printf("  %u outputs released twice with different contents\n",
           r->outputs_changed);
  if (!settled)
    printf("  the run did not settle in time\n");
}

static bool judge(chaos_run *r, bool settled) {
  json_t *j = json_object();
  bool app_ok = r->o.app->judge(&r->v, j, r->o.json ? NULL : stdout);
  bool audit_ok = r->failed_members == 0 && audit(r);
  bool ok = settled && app_ok && audit_ok && r->outputs_changed == 0 &&
            r->failed_members == 0;
  if (!r->o.json) {
    print_text(r, ok, settled, audit_ok);
    json_decref(j);
    return ok;
  }
  json_t *head = json_pack(
      "{s:b, s:s, s:s, s:b, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:i, "
      "s:i, s:i, s:b, s:f}",
      "ok", ok, "app", r->o.app->name, "protocol", r->o.protocol, "koo_toueg",
      r->o.koo_toueg, "transport", r->o.tcp ? "tcp" : "ipc", "procs",
      (int)r->v.procs, "kills", (json_int_t)r->kills, "crashes",
      (json_int_t)r->kills, "kills_in_checkpoint", (json_int_t)r->in_checkpoint,
      "kills_in_recovery", (json_int_t)r->in_recovery, "recoveries",
      (json_int_t)r->recoveries, "recovery_ms", recovery_list(r), "audit_ok",
      audit_ok, "outputs_changed", (int)r->outputs_changed, "failed_members",
      (int)r->failed_members, "exit_reports_failed", (int)r->reports_failed,
      "settled", settled, "seconds", (double)(chaos_now_ms() - r->t0) / 1000);
  json_object_update(head, j);
  char *text = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                    JSON_REAL_PRECISION(4));
  if (text != NULL)
    puts(text);
  free(text);
  json_decref(head);
  json_decref(j);
  return ok;
}

static int run(chaos_run *r) {
  r->t0 = chaos_now_ms();
  r->rng = r->o.seed * 2654435761u + 1;
  r->second_victim = -1;
  plan_next_kill(r);
  if (!r->o.json)
    printf("mlog chaos: %s, %u processes under %s, %llu kills within %llu "
           "s, in %s\n",
           r->o.app->name, r->v.procs, r->o.protocol,
           (unsigned long long)r->o.kills, (unsigned long long)r->o.duration,
           r->o.dir);
  for (uint32_t i = 0; i < r->v.procs; i++)
    if (start_member(r, i, false) != 0) {
      tool_error("cannot start a process: %s", strerror(errno));
      stop_members(r);
      return TOOL_UNREADABLE;
    }
  bool settled = drive(r);
  stop_members(r);
  return judge(r, settled) ? TOOL_OK : TOOL_PROBLEMS;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

enum { OPT_DURABLE = 256, OPT_KT, OPT_STALL, OPT_APP_PATH, OPT_TCP };

static const chaos_app *find_app(const char *name) {
  for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++)
    if (strcmp(apps[i]->name, name) == 0)
      return apps[i];
  return NULL;
}

static int parse_option(int c, chaos_opts *o) {
  switch (c) {
  case 'a':
    if ((o->app = find_app(optarg)) == NULL)
      return tool_usage_error("unknown app '%s' (bank or token-ring)", optarg);
    return TOOL_OK;
  case 'P':
    o->protocol = optarg;
    return TOOL_OK;
  case 'd':
    o->dir = optarg;
    return TOOL_OK;
  case 'j':
    o->json = true;
    return TOOL_OK;
  case OPT_DURABLE:
    o->durable = true;
    return TOOL_OK;
  case OPT_KT:
    o->koo_toueg = true;
    return TOOL_OK;
  case OPT_TCP:
    o->tcp = true;
    return TOOL_OK;
  case OPT_APP_PATH:
    o->app_path = optarg;
    return TOOL_OK;
  }
  bool ok =
      c == 'n'
          ? tool_parse_u64("--procs", optarg, 2, CHAOS_MAX_PROCS, &o->procs)
      : c == 'K' ? tool_parse_u64("--kills", optarg, 0, 100, &o->kills)
      : c == 's' ? tool_parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed)
      : c == 't' ? tool_parse_u64("--duration", optarg, 1, 3600, &o->duration)
      : c == 'w' ? tool_parse_u64("--work", optarg, 1, 1000000, &o->work)
      : c == OPT_STALL
          ? tool_parse_u64("--stall-ms", optarg, 0, 1000, &o->stall_ms)
          : false;
  return ok ? TOOL_OK : TOOL_USAGE;
}

/* The application's program: --app-path, or ../examples/BINARY beside the
 * running mlog. */
static int find_app_binary(chaos_run *r) {
  if (r->o.app_path != NULL) {
    snprintf(r->app_bin, sizeof r->app_bin, "%s", r->o.app_path);
  } else {
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
      return tool_usage_error("cannot find the running program: use "
                              "--app-path");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    int len = snprintf(r->app_bin, sizeof r->app_bin, "%s/../examples/%s", self,
                       r->o.app->binary);
    if (len < 0 || (size_t)len >= sizeof r->app_bin)
      return tool_usage_error("path too long: use --app-path");
  }
  if (access(r->app_bin, X_OK) != 0)
    return tool_usage_error("cannot run %s: %s (build the examples, or "
                            "use --app-path)",
                            r->app_bin, strerror(errno));
  return TOOL_OK;
}

static int check_options(const chaos_opts *o) {
  if (o->app == NULL)
    return tool_usage_error("--app is required (bank or token-ring)");
  if (o->protocol == NULL)
    return tool_usage_error("--protocol is required");
  if (mlog_logger_find(o->protocol) == NULL)
    return tool_usage_error("unknown protocol '%s'", o->protocol);
  if (o->koo_toueg && strcmp(o->protocol, "coordinated") != 0)
    return tool_usage_error("--koo-toueg is an option of coordinated");
  if (o->durable && strcmp(o->protocol, "pessimistic-sender") != 0)
    return tool_usage_error("--durable is an option of pessimistic-sender");
  return TOOL_OK;
}

/* The run directory: --dir (created if missing), or a new temporary one. */
static int make_run_dir(chaos_opts *o, char *tmp, size_t cap) {
  if (o->dir == NULL) {
    const char *base = getenv("TMPDIR");
    if (!path_in(tmp, cap, base ? base : "/tmp", "mlog-chaos.XXXXXX") ||
        strlen(tmp) > MAX_DIR_LEN)
      return tool_usage_error("$TMPDIR is too long for ipc:// socket paths: "
                              "give a short --dir");
    if (mkdtemp(tmp) == NULL) {
      tool_error("cannot create a run directory in %s: %s",
                 base ? base : "/tmp", strerror(errno));
      return TOOL_UNREADABLE;
    }
    o->dir = tmp;
    return TOOL_OK;
  }
  if (strlen(o->dir) > MAX_DIR_LEN)
    return tool_usage_error("--dir %s: at most %d characters (its ipc:// "
                            "sockets' paths must fit in 107 bytes)",
                            o->dir, MAX_DIR_LEN);
  if (mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
    tool_error("cannot create %s: %s", o->dir, strerror(errno));
    return TOOL_UNREADABLE;
  }
  char p0[PATH_MAX];
  if (path_in(p0, sizeof p0, o->dir, "p0") && access(p0, F_OK) == 0)
    return tool_usage_error("%s holds the logs of an earlier run: give a new "
                            "--dir (a run starts from empty logs)",
                            o->dir);
  return TOOL_OK;
}

static void free_run(chaos_run *r) {
#ifdef MLOG_HAVE_ZMQ
  mlog_group_free(&r->group);
#endif
  for (size_t k = 0; k < r->v.n_outputs; k++)
    free(r->v.outputs[k].text);
  free(r->v.outputs);
}

int cmd_chaos(int argc, char **argv) {
  static const struct option longopts[] = {
      {"app", required_argument, NULL, 'a'},
      {"protocol", required_argument, NULL, 'P'},
      {"procs", required_argument, NULL, 'n'},
      {"kills", required_argument, NULL, 'K'},
      {"seed", required_argument, NULL, 's'},
      {"duration", required_argument, NULL, 't'},
      {"work", required_argument, NULL, 'w'},
      {"dir", required_argument, NULL, 'd'},
      {"json", no_argument, NULL, 'j'},
      {"durable", no_argument, NULL, OPT_DURABLE},
      {"koo-toueg", no_argument, NULL, OPT_KT},
      {"stall-ms", required_argument, NULL, OPT_STALL},
      {"app-path", required_argument, NULL, OPT_APP_PATH},
      {"tcp", no_argument, NULL, OPT_TCP},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  static chaos_run r; /* large: not on the stack */
  memset(&r, 0, sizeof r);
  r.o = (chaos_opts){
      .procs = 4, .kills = 3, .seed = 1, .duration = 5, .stall_ms = 10};
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    if (c == 'h')
      return tool_help(usage);
    if (parse_option(c, &r.o) != TOOL_OK)
      return TOOL_USAGE;
  }
  if (optind < argc)
    return tool_usage_error("unexpected argument '%s'", argv[optind]);
  int status = check_options(&r.o);
  if (status == TOOL_OK)
    status = find_app_binary(&r);
  if (status != TOOL_OK)
    return status;
  if (r.o.work == 0)
    r.o.work = r.o.app->work;
  r.v.procs = (uint32_t)r.o.procs;
  r.v.work = r.o.work;
  char tmp[PATH_MAX];
  bool temporary = r.o.dir == NULL;
  if ((status = make_run_dir(&r.o, tmp, sizeof tmp)) != TOOL_OK)
    return status;
  if (write_group_file(&r) != 0) {
    tool_error("cannot write %s: %s", r.group_file, strerror(errno));
    return TOOL_UNREADABLE;
  }
  signal(SIGPIPE, SIG_IGN);
  status = run(&r);
  if (temporary && status == TOOL_OK)
    tool_rmtree(r.o.dir);
  else if (temporary)
    fprintf(stderr, "mlog chaos: the run's logs are kept in %s\n", r.o.dir);
  free_run(&r);
  return status;
}
