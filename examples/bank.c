/* bank.c - branches exchanging transfers as real processes over ZeroMQ,
 * killed with SIGKILL and recovered; checks conservation and exactly-once */
#include "member.h"

/*
 * `bank --procs N --dir DIR` runs N branches, each a separate process with
 * its own log, talking over ZeroMQ (ipc:// endpoints in DIR). Each branch
 * opens with 1,000. A transfer moves an amount to another branch; the
 * branch that receives it adds it to its balance, remembers its id (a set:
 * a transfer applied twice is a duplicate) and, while the transfer's hops
 * last, passes part of its balance on: every transfer is made inside a
 * handler, so recovery makes the same ones again. Each branch starts
 * `--kicks` zero-amount transfers (inputs from outside) at random moments.
 *
 * The group is run by `mlog chaos --app bank` (tools/chaos.c), which this
 * program execs: it starts the branches (this program again, with
 * --member), kills random ones with SIGKILL, restarts them (opening the
 * log is recovery), and once every transfer made is applied stops them all
 * and checks: the total is conserved, no transfer applied twice, none lost;
 * then `mlog audit` of the logs.
 */

#define OPENING 1000 /* tools/chaos_bank.c checks the total against it */
#define HOPS 8       /* a kick's transfer goes on for this many hops */

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

static member_opts opts;

/* Snapshot: balance, made, duplicates, kicks, count, ids. */
static int snapshot(void *app, mlog_buf *out) {
  branch *b = app;
  member_stall(&opts, "ckpt");
  uint64_t head[5] = {(uint64_t)b->balance, b->made, b->duplicates, b->kicks,
                      b->n_applied};
  return mlog_buf_append(out, head, sizeof head) ||
         mlog_buf_append(out, b->applied, b->n_applied * sizeof *b->applied);
}

static int restore(void *app, const void *state, size_t len) {
  branch *b = app;
  member_stall(&opts, "restore");
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
/* A branch (one member of the group)                                       */

static void report(const branch *b) {
  member_say("status made=%llu applied=%llu balance=%lld dup=%llu kicks=%llu",
             (unsigned long long)b->made, (unsigned long long)b->n_applied,
             (long long)b->balance, (unsigned long long)b->duplicates,
             (unsigned long long)b->kicks);
}

/* A kick: an input from outside, no state of its own (the count of kicks
 * sent is a plain input too: it is logged as the send itself is). */
static void kick(mlog_proc *p, branch *b, uint64_t r) {
  uint32_t dst = (uint32_t)(r % (b->n - 1));
  dst += dst >= b->id;
  transfer t = {.hops = HOPS};
  if (mlog_send(p, dst, &t, sizeof t) == MLOG_OK)
    b->kicks++;
}

static int run_branch(void) {
  mlog_group g;
  member_group(&opts, "bank", &g);
  branch b = {.id = opts.id, .n = g.size};
  mlog_proc *p = member_open(&opts, "bank", &bank_app, &b, &g);
  uint64_t rng = opts.seed * 1000003u + b.id * 7919u + member_now_ms();
  uint64_t last = 0;
  while (!member_stopping) {
    if (mlog_proc_poll(p, 10) < 0) {
      fprintf(stderr, "bank: branch %u: %s\n", b.id, mlog_proc_errmsg(p));
      return 4;
    }
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    if (b.kicks < opts.work && (rng >> 60) == 0)
      kick(p, &b, rng >> 20);
    if (member_now_ms() - last >= 50) {
      report(&b);
      last = member_now_ms();
    }
  }
  report(&b);
  mlog_proc_close(p);
  mlog_group_free(&g);
  free(b.applied);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The group: mlog chaos --app bank                                         */

static const char usage[] =
    "usage: bank [--dir DIR] [--procs N] [--protocol P] [--kicks K] [--kills K]\n"
    "            [--seed S] [--duration SECONDS] [--json] [--durable]\n"
    "            [--koo-toueg]\n"
    "N branches (default 4) as separate processes over ZeroMQ, each starting\n"
    "K transfers (default 20); K SIGKILLs (default 1) within SECONDS (default\n"
    "1 + kills) hit random branches, which restart and recover. Runs\n"
    "'mlog chaos --app bank' (found in ../bin/ beside this program).\n"
    "(--durable: pessimistic-sender's durable mode, which survives kills\n"
    "close together; memory mode survives one failure at a time.)\n"
    "Exit 0 when the total is conserved and every transfer is applied once.\n";

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--member") == 0) {
    if (!member_parse(argc, argv, &opts)) {
      fputs("bank: bad member arguments (see tools/chaos.h)\n", stderr);
      return 2;
    }
    return run_branch();
  }
  static const char *const renames[] = {"--kicks", "--work", NULL};
  return member_run_chaos(argc, argv, "bank", renames, usage);
}
