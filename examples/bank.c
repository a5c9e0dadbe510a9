/* bank.c - branches exchanging transfers as real processes over ZeroMQ,
 * killed with SIGKILL and recovered; checks conservation and exactly-once */
#include <errno.h>
#include <mlog/process.h>
#include <mlog/zmq.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * `bank --procs N` runs N branches, each a child process with its own log,
 * talking over ZeroMQ (ipc:// endpoints in the run directory). Each branch
 * opens with 1,000. A transfer moves an amount to another branch; the
 * branch that receives it adds it to its balance, remembers its id (a set:
 * a transfer applied twice is a duplicate) and, while the transfer's hops
 * last, passes part of its balance on: every transfer is made inside a
 * handler, so recovery makes the same ones again. The runner starts the
 * activity with `--kicks` zero-amount transfers per branch (inputs from
 * outside), kills random branches with SIGKILL (`--kills`), restarts them
 * (opening the log is recovery), and once every transfer made is applied
 * stops them all and checks: the total is conserved, no transfer applied
 * twice, none lost.
 *
 * Each branch reports on a pipe: "ready <recovery us>" after its open and
 * "status <made> <applied> <balance> <duplicates> <kicks>" every 50 ms.
 */

#define OPENING 1000
#define MAX_PROCS 16

typedef struct transfer {
  uint64_t id; /* origin << 40 | its number there; 0: a kick */
  int64_t amount;
  uint32_t hops, pad;
} transfer;

/* The application state. */
typedef struct branch {
  uint32_t id, n;
  int64_t balance;
  uint64_t made, duplicates, kicks;
  uint64_t *applied; /* sorted ids */
  size_t n_applied, cap;
} branch;

static bool applied_has(const branch *b, uint64_t id, size_t *at) {
  size_t lo = 0, hi = b->n_applied;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (b->applied[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *at = lo;
  return lo < b->n_applied && b->applied[lo] == id;
}

static int applied_add(branch *b, uint64_t id) {
  size_t at;
  if (applied_has(b, id, &at)) {
    b->duplicates++;
    return 0;
  }
  if (b->n_applied == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 256;
    uint64_t *grown = realloc(b->applied, cap * sizeof *grown);
    if (grown == NULL)
      return 1;
    b->applied = grown;
    b->cap = cap;
  }
  memmove(b->applied + at + 1, b->applied + at,
          (b->n_applied - at) * sizeof *b->applied);
  b->applied[at] = id;
  b->n_applied++;
  return 0;
}

static int deliver(void *app, mlog_proc *p, uint32_t src, const void *msg,
                   size_t len) {
  branch *b = app;
  transfer t;
  (void)src;
  if (len != sizeof t)
    return 1;
  memcpy(&t, msg, sizeof t);
  b->balance += t.amount;
  if (t.id != 0 && applied_add(b, t.id) != 0)
    return 2;
  if (t.hops == 0 || b->balance <= 0)
    return 0;
  uint64_t r;
  if (mlog_random(p, &r) != MLOG_OK) /* logged: replay takes the same */
    return 3;
  uint32_t dst = (uint32_t)(r % (b->n - 1));
  dst += dst >= b->id;
  transfer next = {.id = (uint64_t)b->id << 40 | ++b->made,
                   .amount =
                       (int64_t)((r >> 32) % (uint64_t)(b->balance / 2 + 1)),
                   .hops = t.hops - 1};
  b->balance -= next.amount;
  return mlog_send(p, dst, &next, sizeof next) == MLOG_OK ? 0 : 4;
}

/* Snapshot: balance, made, duplicates, kicks, count, ids. */
static int snapshot(void *app, mlog_buf *out) {
  branch *b = app;
  uint64_t head[5] = {(uint64_t)b->balance, b->made, b->duplicates, b->kicks,
                      b->n_applied};
  return mlog_buf_append(out, head, sizeof head) ||
         mlog_buf_append(out, b->applied, b->n_applied * sizeof *b->applied);
}

static int restore(void *app, const void *state, size_t len) {
  branch *b = app;
  uint64_t head[5] = {OPENING, 0, 0, 0, 0};
  if (state != NULL && len < sizeof head)
    return 1;
  if (state != NULL)
    memcpy(head, state, sizeof head);
  if (state != NULL && len != sizeof head + head[4] * sizeof(uint64_t))
    return 1;
  b->balance = (int64_t)head[0];
  b->made = head[1];
  b->duplicates = head[2];
  b->kicks = head[3];
  b->n_applied = 0;
  for (uint64_t i = 0; i < head[4]; i++) {
    uint64_t id;
    memcpy(&id, (const uint8_t *)state + sizeof head + i * sizeof id,
           sizeof id);
    if (applied_add(b, id) != 0)
      return 1;
  }
  return 0;
}

static const mlog_app bank_app = {
    .deliver = deliver, .snapshot = snapshot, .restore = restore};

/* ------------------------------------------------------------------------ */
/* A branch (a child process)                                               */

typedef struct options {
  uint32_t procs, kicks, hops, kills;
  uint64_t seed;
  const char *protocol, *dir;
  bool json, durable;
} options;

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void report(int fd, const branch *b) {
  char line[160];
  int n =
      snprintf(line, sizeof line, "status %llu %llu %lld %llu %llu\n",
               (unsigned long long)b->made, (unsigned long long)b->n_applied,
               (long long)b->balance, (unsigned long long)b->duplicates,
               (unsigned long long)b->kicks);
  if (write(fd, line, (size_t)n) < 0)
    _exit(5);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A kick: an input from outside, no state of its own (the count of kicks
 * sent is a plain input too: it is logged as the send itself is). */
static void kick(mlog_proc *p, branch *b, const options *o, uint64_t r) {
  uint32_t dst = (uint32_t)(r % (o->procs - 1));
  dst += dst >= b->id;
  transfer t = {.hops = o->hops};
  if (mlog_send(p, dst, &t, sizeof t) == MLOG_OK)
    b->kicks++;
}

static void run_branch(const options *o, const mlog_group *g, uint32_t id,
                       int fd) {
  signal(SIGTERM, on_term);
  branch b = {.id = id, .n = o->procs};
  char dir[512];
  snprintf(dir, sizeof dir, "%s/p%u", o->dir, id);
  mlog_zmq_config zc = {.group = g, .heartbeat_ms = 50, .suspect_ms = 500};
  mlog_proc_config cfg = {.dirpath = dir,
                          .id = id,
                          .group_size = o->procs,
                          .protocol = o->protocol,
                          .ckpt_every_deliveries = 64,
                          .transport = &mlog_zmq_ops,
                          .transport_config = &zc,
                          .retransmit_ms = 100,
                          .flags = o->durable ? MLOG_PROC_SENDER_DURABLE : 0};
  mlog_proc *p;
  if (mlog_proc_open(&cfg, &bank_app, &b, &p) != MLOG_OK) {
    fprintf(stderr, "bank: branch %u: %s\n", id, mlog_proc_errmsg(NULL));
    _exit(3);
  }
  mlog_proc_stats st;
  mlog_proc_get_stats(p, &st);
  char line[64];
  int n = snprintf(line, sizeof line, "ready %llu\n",
                   (unsigned long long)st.recovery_us);
  if (write(fd, line, (size_t)n) < 0)
    _exit(5);
  uint64_t rng = o->seed * 1000003u + id * 7919u + now_ms(), last = 0;
  while (!stopping) {
    if (mlog_proc_poll(p, 10) < 0) {
      fprintf(stderr, "bank: branch %u: %s\n", id, mlog_proc_errmsg(p));
      _exit(4);
    }
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    if (b.kicks < o->kicks && (rng >> 60) == 0)
      kick(p, &b, o, rng >> 20);
    if (now_ms() - last >= 50) {
      report(fd, &b);
      last = now_ms();
    }
  }
  report(fd, &b);
  mlog_proc_close(p);
  _exit(0);
}

/* ------------------------------------------------------------------------ */
/* The runner                                                               */

typedef struct child {
  pid_t pid;
  int fd;
  char buf[512];
  size_t used;
  uint64_t made, applied, duplicates, kicks;
  int64_t balance;
  bool ready;
  uint64_t started_ms;
} child;

typedef struct runner {
  options o;
  mlog_group g;
  child c[MAX_PROCS];
  uint64_t recovery_ms[64];
  uint32_t kills, recoveries;
} runner;

static int start(runner *r, uint32_t id) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    close(fds[0]);
    run_branch(&r->o, &r->g, id, fds[1]);
  }
  close(fds[1]);
  child *c = &r->c[id];
  c->pid = pid;
  c->fd = fds[0];
  c->used = 0;
  c->ready = false;
  c->started_ms = now_ms();
  return 0;
}

/* Take the lines a branch wrote; false when its pipe closed. */
static bool read_lines(runner *r, uint32_t id, bool restarted) {
  child *c = &r->c[id];
  ssize_t got = read(c->fd, c->buf + c->used, sizeof c->buf - 1 - c->used);
  if (got <= 0)
    return false;
  c->used += (size_t)got;
  c->buf[c->used] = '\0';
  char *line = c->buf, *nl;
  while ((nl = strchr(line, '\n')) != NULL) {
    *nl = '\0';
    unsigned long long made, applied, dup, kicks, us;
    long long balance;
    if (sscanf(line, "status %llu %llu %lld %llu %llu", &made, &applied,
               &balance, &dup, &kicks) == 5) {
      c->made = made;
      c->applied = applied;
      c->balance = balance;
      c->duplicates = dup;
      c->kicks = kicks;
    } else if (sscanf(line, "ready %llu", &us) == 1) {
      c->ready = true;
      if (restarted && r->recoveries < 64)
        r->recovery_ms[r->recoveries++] = now_ms() - c->started_ms;
    }
    line = nl + 1;
  }
  c->used = strlen(line);
  memmove(c->buf, line, c->used);
  return true;
}

static void totals(const runner *r, uint64_t *made, uint64_t *applied,
                   int64_t *money, uint64_t *dup, uint64_t *kicks) {
  *made = *applied = *dup = *kicks = 0;
  *money = 0;
  for (uint32_t i = 0; i < r->o.procs; i++) {
    *made += r->c[i].made;
    *applied += r->c[i].applied;
    *money += r->c[i].balance;
    *dup += r->c[i].duplicates;
    *kicks += r->c[i].kicks;
  }
}

/* Poll the branches' pipes for up to ms. */
static void listen_for(runner *r, int ms, bool *restarted) {
  struct pollfd fds[MAX_PROCS];
  for (uint32_t i = 0; i < r->o.procs; i++)
    fds[i] = (struct pollfd){.fd = r->c[i].fd, .events = POLLIN};
  if (poll(fds, r->o.procs, ms) <= 0)
    return;
  for (uint32_t i = 0; i < r->o.procs; i++)
    if (fds[i].revents)
      (void)read_lines(r, i, restarted[i]);
}

static void kill_one(runner *r, uint32_t id) {
  kill(r->c[id].pid, SIGKILL);
  waitpid(r->c[id].pid, NULL, 0);
  close(r->c[id].fd);
  r->kills++;
}

static int make_group(runner *r) {
  r->g.size = r->o.procs;
  r->g.endpoints = calloc(r->o.procs, sizeof *r->g.endpoints);
  if (r->g.endpoints == NULL)
    return -1;
  for (uint32_t i = 0; i < r->o.procs; i++) {
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/p%u.sock", r->o.dir, i);
    if ((r->g.endpoints[i] = strdup(ep)) == NULL)
      return -1;
  }
  return 0;
}

static void print_verdict(runner *r, bool settled, uint64_t ms) {
  uint64_t made, applied, dup, kicks;
  int64_t money;
  totals(r, &made, &applied, &money, &dup, &kicks);
  int64_t total = (int64_t)r->o.procs * OPENING;
  bool ok = settled && money == total && dup == 0 && made == applied;
  uint64_t lost = made > applied ? made - applied : 0;
  if (r->o.json) {
    printf("{\"ok\":%s,\"protocol\":\"%s\",\"procs\":%u,\"transfers\":%llu,"
           "\"total\":%lld,\"expected_total\":%lld,\"duplicates\":%llu,"
           "\"lost\":%llu,\"crashes\":%u,\"recoveries\":%u,\"recovery_ms\":[",
           ok ? "true" : "false", r->o.protocol, r->o.procs,
           (unsigned long long)made, (long long)money, (long long)total,
           (unsigned long long)dup, (unsigned long long)lost, r->kills,
           r->recoveries);
    for (uint32_t i = 0; i < r->recoveries; i++)
      printf("%s%llu", i ? "," : "", (unsigned long long)r->recovery_ms[i]);
    printf("],\"seconds\":%.1f}\n", (double)ms / 1000);
    return;
  }
  printf("%s: %u branches under %s, %llu transfers, %u SIGKILLs\n",
         ok ? "ok" : "FAILED", r->o.procs, r->o.protocol,
         (unsigned long long)made, r->kills);
  printf("  total %lld of %lld%s; %llu applied twice; %llu lost\n",
         (long long)money, (long long)total,
         money == total ? " (conserved)" : "", (unsigned long long)dup,
         (unsigned long long)lost);
  for (uint32_t i = 0; i < r->recoveries; i++)
    printf("  recovery %u: the restarted branch was ready after %llu ms\n",
           i + 1, (unsigned long long)r->recovery_ms[i]);
  if (!settled)
    printf("  the branches did not settle in time\n");
}

/* Run the group: kicks, kills at random moments, restarts; once every
 * transfer made is applied (and stays so), stop and judge. */
static int run(runner *r) {
  if (mkdir(r->o.dir, 0755) != 0 && errno != EEXIST)
    return 2;
  if (make_group(r) != 0)
    return 2;
  bool restarted[MAX_PROCS] = {false};
  for (uint32_t i = 0; i < r->o.procs; i++)
    if (start(r, i) != 0)
      return 2;
  uint64_t t0 = now_ms(), rng = r->o.seed * 2654435761u + 1, quiet_since = 0;
  uint64_t next_kill = t0 + 300 + r->o.seed % 400;
  bool settled = false;
  while (now_ms() - t0 < 60000 && !settled) {
    listen_for(r, 20, restarted);
    if (r->kills < r->o.kills && now_ms() >= next_kill) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t victim = (uint32_t)((rng >> 33) % r->o.procs);
      kill_one(r, victim);
      if (!r->o.json)
        printf("  SIGKILL branch %u; restarting it\n", victim);
      restarted[victim] = true;
      if (start(r, victim) != 0)
        return 2;
      next_kill = now_ms() + 300 + (rng >> 40) % 700;
    }
    uint64_t made, applied, dup, kicks;
    int64_t money;
    totals(r, &made, &applied, &money, &dup, &kicks);
    bool quiet = r->kills >= r->o.kills &&
                 kicks == (uint64_t)r->o.kicks * r->o.procs && made == applied;
    for (uint32_t i = 0; i < r->o.procs; i++)
      quiet = quiet && r->c[i].ready;
    if (!quiet)
      quiet_since = 0;
    else if (quiet_since == 0)
      quiet_since = now_ms();
    settled = quiet && now_ms() - quiet_since >= 500;
  }
  for (uint32_t i = 0; i < r->o.procs; i++)
    kill(r->c[i].pid, SIGTERM);
  for (uint32_t i = 0; i < r->o.procs; i++) { /* their last statuses */
    while (read_lines(r, i, false))
      ;
    waitpid(r->c[i].pid, NULL, 0);
    close(r->c[i].fd);
  }
  print_verdict(r, settled, now_ms() - t0);
  uint64_t made, applied, dup, kicks;
  int64_t money;
  totals(r, &made, &applied, &money, &dup, &kicks);
  return settled && money == (int64_t)r->o.procs * OPENING && dup == 0 &&
                 made == applied
             ? 0
             : 1;
}

static const char usage[] =
    "usage: bank [--procs N] [--protocol P] [--kicks K] [--hops H]\n"
    "            [--kills K] [--seed S] [--dir DIR] [--json] [--durable]\n"
    "N branches (default 4) as separate processes over ZeroMQ; K kicks per\n"
    "branch (default 20) start transfers that hop H times (default 8);\n"
    "K SIGKILLs (default 1) hit random branches, which restart and recover\n"
    "(--durable: pessimistic-sender's durable mode, which survives kills\n"
    "close together; memory mode survives one failure at a time).\n"
    "Exit 0 when the total is conserved and every transfer is applied once.\n";

int main(int argc, char **argv) {
  runner r = {.o = {.procs = 4,
                    .kicks = 20,
                    .hops = 8,
                    .kills = 1,
                    .seed = 1,
                    .protocol = "pessimistic-receiver",
                    .dir = NULL}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--json") == 0 || strcmp(a, "--durable") == 0) {
      *(a[2] == 'j' ? &r.o.json : &r.o.durable) = true;
      continue;
    }
    if (v == NULL) {
      fputs(usage, stderr);
      return 2;
    }
    i++;
    if (strcmp(a, "--procs") == 0)
      r.o.procs = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--protocol") == 0)
      r.o.protocol = v;
    else if (strcmp(a, "--kicks") == 0)
      r.o.kicks = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--hops") == 0)
      r.o.hops = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--kills") == 0)
      r.o.kills = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--seed") == 0)
      r.o.seed = strtoull(v, NULL, 10);
    else if (strcmp(a, "--dir") == 0)
      r.o.dir = v;
    else {
      fputs(usage, stderr);
      return 2;
    }
  }
  if (r.o.procs < 2 || r.o.procs > MAX_PROCS || r.o.dir == NULL) {
    fputs(usage, stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int rc = run(&r);
  mlog_group_free(&r.g);
  return rc;
}
