/* audit.c - mlog audit: offline consistency checks across a group's logs */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/depvec.h"
#include "core/internal.h"
#include "core/proc.h"
#include "groupdirs.h"
#include "tool.h"

static const char usage[] =
    "usage: mlog audit [--json] [--key FILE] DIR...\n"
    "\n"
    "Check the logs of a whole group (one DIR per process, every process of\n"
    "the group once, in any order) against each other. Every log is first\n"
    "verified (tags, hash chain); a log that fails is a problem and gets no\n"
    "other check. Then:\n"
    "  duplicate    no (src, ssn) delivered twice in a log's current history\n"
    "               (records of void intervals are skipped)\n"
    "  gap          the deliveries after the newest checkpoint continue each\n"
    "               channel from the ssn it received (receiver-based logging)\n"
    "  sender       a delivery's payload equals the sender's kept copy, when\n"
    "               the sender keeps one (pessimistic-sender, durable mode)\n"
    "  checkpoint   each checkpoint verifies and covers an lsn of the log\n"
    "  incarnation  records' incarnations never decrease along the log\n"
    "               (spontaneous sends name their state's: not checked)\n"
    "  orphan       a delivery whose dependency vector names an interval its\n"
    "               process's log says is void (optimistic logging): a\n"
    "               warning, a problem only when the delivery is not void\n"
    "One line per finding on stdout, \"pID: lsn L: CHECK: DETAIL\", then a\n"
    "summary line. Checks that do not apply to the group's protocol are\n"
    "listed as \"CHECK: not checked: REASON\". Logs are opened read-only.\n"
    "\n"
    "options:\n"
    "  -j, --json      print one JSON object: ok, procs, problems (process,\n"
    "                  lsn, check, detail), orphans, checks_skipped\n"
    "  -k, --key FILE  the log key (for keyed logs)\n"
    "  -h, --help      show this help\n"
    "\n"
    "exit status: 0 no problem, 1 problems found, 2 usage error, 3 a log\n"
    "could not be opened or read, or the logs are not those of one group.\n";

/* A message a sender keeps (sender-based logging), by (dst, ssn). */
typedef struct kept {
  uint32_t dst;
  uint64_t ssn;
  uint8_t *payload;
  uint32_t len;
} kept;

/* A delivery of the current history (not void). */
typedef struct delivery {
  uint32_t src;
  uint32_t round; /* checkpoint-only protocols: the rollback round (the
                     record's incarnation); else 0 */
  uint64_t ssn, lsn;
} delivery;

/* One process's log. */
typedef struct proc {
  const char *dir;
  mlog_log *log;
  bool good; /* opened and verified: the other checks run */
  char protocol[32];
  uint64_t records;
  kept *kept; /* sorted by (dst, ssn) */
  size_t n_kept, cap_kept;
  delivery *dlv;
  size_t n_dlv, cap_dlv;
  uint64_t covered;      /* the newest checkpoint's covered lsn */
  mlogi_chan_counts *ch; /* its channels; NULL: no checkpoint */
  uint32_t last_inc;     /* the scan's previous record's incarnation */
  uint64_t last_inc_lsn;
} proc;

typedef struct audit {
  group_dirs dirs;
  uint32_t n; /* group size */
  proc *p;    /* [n] */
  bool json;
  json_t *problems, *orphans, *skipped;
  size_t n_problems, n_orphans;
  bool nomem;
} audit;

/* ------------------------------------------------------------------------ */
/* Findings                                                                 */

static void vfinding(audit *a, json_t *list, const char *who, uint64_t lsn,
                     const char *check, bool is_void, const char *fmt,
                     va_list ap) {
  char detail[512];
  vsnprintf(detail, sizeof detail, fmt, ap);
  if (!a->json) {
    if (lsn > 0)
      printf("%s: lsn %llu: %s: %s%s\n", who, (unsigned long long)lsn, check,
             detail, list == a->orphans ? " (warning)" : "");
    else
      printf("%s: %s: %s\n", who, check, detail);
    return;
  }
  json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "process", who, "lsn",
                        (json_int_t)lsn, "check", check, "detail", detail);
  if (o != NULL && list == a->orphans)
    json_object_set_new(o, "void", json_boolean(is_void));
  if (o == NULL || json_array_append_new(list, o) != 0)
    a->nomem = true;
}

static void problem(audit *a, const char *who, uint64_t lsn, const char *check,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void problem(audit *a, const char *who, uint64_t lsn, const char *check,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfinding(a, a->problems, who, lsn, check, false, fmt, ap);
  va_end(ap);
  a->n_problems++;
}

static void orphan(audit *a, const char *who, uint64_t lsn, bool is_void,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void orphan(audit *a, const char *who, uint64_t lsn, bool is_void,
                   const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfinding(a, a->orphans, who, lsn, "orphan", is_void, fmt, ap);
  va_end(ap);
  a->n_orphans++;
  if (!is_void)
    a->n_problems++;
}

static void skipped(audit *a, const char *check, const char *reason) {
  if (!a->json) {
    printf("%s: not checked: %s\n", check, reason);
    return;
  }
  json_t *o = json_pack("{s:s, s:s}", "check", check, "reason", reason);
  if (o == NULL || json_array_append_new(a->skipped, o) != 0)
    a->nomem = true;
}

/* "p3", the name findings give process id. */
static const char *pname(uint32_t id, char buf[16]) {
  snprintf(buf, 16, "p%u", id);
  return buf;
}

/* ------------------------------------------------------------------------ */
/* The group                                                                */

/* Open the log in dir and give it its place in the group (the first log
 * sets the group size). A log whose open finds damage is a problem named
 * by its directory; anything else that fails is reported and returns
 * TOOL_UNREADABLE. */
static int join(audit *a, const char *dir, const mlog_key *key) {
  mlog_log *log;
  int rc = tool_open_log(dir, key, &log);
  if (tool_is_damage(rc)) {
    problem(a, dir, 0, "verify", "%s: %s", tool_damage_kind(rc),
            mlog_log_errmsg(NULL));
    return TOOL_PROBLEMS;
  }
  if (rc != MLOG_OK)
    return tool_log_error(dir, rc, mlog_log_errmsg(NULL)), TOOL_UNREADABLE;
  mlog_log_info info;
  uint32_t id;
  if (group_dirs_join(&a->dirs, log, dir, key != NULL, &info, &id) != TOOL_OK) {
    mlog_log_close(log);
    return TOOL_UNREADABLE;
  }
  if (a->p == NULL) {
    a->n = a->dirs.n;
    a->p = calloc(a->n > 0 ? a->n : 1, sizeof *a->p);
    if (a->p == NULL) {
      mlog_log_close(log);
      tool_error("%s: out of memory", dir);
      return TOOL_UNREADABLE;
    }
  }
  proc *p = &a->p[id];
  p->dir = dir;
  p->log = log;
  p->records = info.records;
  snprintf(p->protocol, sizeof p->protocol, "%s", info.protocol);
  return TOOL_OK;
}

/* Verify the log of process id; a failure is a problem and the log gets no
 * other check. */
static int verify(audit *a, uint32_t id) {
  proc *p = &a->p[id];
  char who[16];
  mlog_verify_report rep;
  int rc = mlog_log_verify(p->log, &rep, NULL, NULL);
  if (rc != MLOG_OK) {
    tool_log_error(p->dir, rc, mlog_log_errmsg(p->log));
    return TOOL_UNREADABLE;
  }
  if (rep.problem != MLOG_OK)
    problem(a, pname(id, who), rep.bad_lsn, "verify", "%s", rep.detail);
  p->good = rep.problem == MLOG_OK;
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */
/* Kept messages (sender-based logging)                                     */

static int take_kept(void *arg, const mlog_record *rec) {
  proc *p = arg;
  if (p->n_kept == p->cap_kept) {
    size_t cap = p->cap_kept ? 2 * p->cap_kept : 64;
    kept *k = realloc(p->kept, cap * sizeof *k);
    if (k == NULL)
      return MLOG_ENOMEM;
    p->kept = k;
    p->cap_kept = cap;
  }
  kept *k = &p->kept[p->n_kept];
  k->payload = malloc(rec->payload_len > 0 ? rec->payload_len : 1);
  if (k->payload == NULL)
    return MLOG_ENOMEM;
  memcpy(k->payload, rec->payload, rec->payload_len);
  k->len = rec->payload_len;
  k->dst = rec->dst;
  k->ssn = rec->ssn;
  p->n_kept++;
  return 0;
}

static int cmp_kept(const void *x, const void *y) {
  const kept *a = x, *b = y;
  if (a->dst != b->dst)
    return a->dst < b->dst ? -1 : 1;
  return a->ssn < b->ssn ? -1 : a->ssn > b->ssn;
}

/* Load what process id keeps; a kept message that fails its check is a
 * problem of the sender check. */
static int load_kept(audit *a, uint32_t id) {
  proc *p = &a->p[id];
  char who[16];
  int rc = mlog_log_scan_sent(p->log, take_kept, p);
  if (rc == MLOG_ENOMEM) {
    tool_error("%s: out of memory", p->dir);
    return TOOL_UNREADABLE;
  }
  if (rc != MLOG_OK)
    problem(a, pname(id, who), 0, "sender",
            "a kept message fails its check: %s", mlog_log_errmsg(p->log));
  if (p->n_kept > 0) /* qsort of NULL is undefined, even of nothing */
    qsort(p->kept, p->n_kept, sizeof *p->kept, cmp_kept);
  return TOOL_OK;
}

static const kept *find_kept(const proc *p, uint32_t dst, uint64_t ssn) {
  kept key = {.dst = dst, .ssn = ssn};
  return p->n_kept > 0
             ? bsearch(&key, p->kept, p->n_kept, sizeof *p->kept, cmp_kept)
             : NULL;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */

/* Read every checkpoint of process id: each must verify, cover an lsn the
 * log holds (or the chain base below its first record), and the newest's
 * state must decode (its channels then bound the gap check). */
static int check_checkpoints(audit *a, uint32_t id) {
  proc *p = &a->p[id];
  char who[16];
  pname(id, who);
  uint64_t *numbers;
  size_t n;
  int rc = mlog_log_checkpoint_numbers(p->log, &numbers, &n);
  if (rc != MLOG_OK) {
    tool_log_error(p->dir, rc, mlog_log_errmsg(p->log));
    return TOOL_UNREADABLE;
  }
  mlog_log_info info;
  rc = mlog_log_get_info(p->log, &info);
  if (rc != MLOG_OK) {
    free(numbers);
    tool_log_error(p->dir, rc, mlog_log_errmsg(p->log));
    return TOOL_UNREADABLE;
  }
  uint64_t hi = info.next_lsn - 1; /* (a reader's log has no append head) */
  uint64_t lo = info.records > 0 ? info.first_lsn - 1 : hi;
  for (size_t i = 0; i < n; i++) {
    unsigned long long num = numbers[i];
    mlog_log_checkpoint ck;
    rc = mlog_log_read_checkpoint(p->log, numbers[i], &ck);
    if (rc == MLOG_ENOMEM) {
      free(numbers);
      tool_error("%s: out of memory", p->dir);
      return TOOL_UNREADABLE;
    }
    if (rc != MLOG_OK) {
      problem(a, who, 0, "checkpoint", "checkpoint %llu fails verification: %s",
              num, mlog_log_errmsg(p->log));
      continue;
    }
    if (ck.covered_lsn < lo || ck.covered_lsn > hi)
      problem(
          a, who, 0, "checkpoint",
          "checkpoint %llu covers lsn %llu, outside the log (lsn %llu..%llu)",
          num, (unsigned long long)ck.covered_lsn, (unsigned long long)lo + 1,
          (unsigned long long)hi);
    if (i + 1 == n) {
      mlogi_state_view v;
      rc = mlogi_state_peek(ck.state, ck.len, a->n, &v);
      if (rc == MLOG_OK) {
        p->ch = v.ch;
        p->covered = ck.covered_lsn;
        v.ch = NULL;
      } else {
        problem(a, who, 0, "checkpoint",
                "checkpoint %llu: a malformed state (or one of another group "
                "size)",
                num);
      }
      mlogi_state_view_free(&v);
    }
    mlog_log_checkpoint_free(&ck);
  }
  free(numbers);
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */
/* The records                                                              */

typedef struct scan {
  audit *a;
  uint32_t id;
  char who[16];
  bool check_sender; /* some sender keeps messages */
  bool check_orphans;
  bool by_round;      /* a (src, ssn) may recur in a later rollback round */
  mlogi_interval *dv; /* [n] */
} scan;

static int add_delivery(proc *p, const mlog_record *rec, bool by_round) {
  if (p->n_dlv == p->cap_dlv) {
    size_t cap = p->cap_dlv ? 2 * p->cap_dlv : 256;
    delivery *d = realloc(p->dlv, cap * sizeof *d);
    if (d == NULL)
      return MLOG_ENOMEM;
    p->dlv = d;
    p->cap_dlv = cap;
  }
  p->dlv[p->n_dlv++] =
      (delivery){rec->src, by_round ? rec->incarnation : 0, rec->ssn, rec->lsn};
  return 0;
}

/* The intervals a delivery's dependency vector names that their process's
 * log says are void. */
static void check_orphan(scan *s, const mlog_record *rec, bool is_void) {
  audit *a = s->a;
  size_t used;
  if (mlogi_dv_decode(rec->payload, rec->payload_len, a->n, s->dv, &used) !=
      MLOG_OK) {
    problem(a, s->who, rec->lsn, "orphan",
            "delivery from p%u ssn %llu: a malformed dependency vector",
            rec->src, (unsigned long long)rec->ssn);
    return;
  }
  for (uint32_t j = 0; j < a->n; j++) {
    const proc *pj = &a->p[j];
    if (s->dv[j].rsn == 0 || pj->log == NULL || !pj->good)
      continue;
    uint64_t end = mlog_log_incarnation_end(pj->log, s->dv[j].inc);
    if (s->dv[j].rsn > end)
      orphan(a, s->who, rec->lsn, is_void,
             "delivery from p%u ssn %llu%s depends on interval (%u, %llu) of "
             "p%u, void (incarnation %u ended at rsn %llu)",
             rec->src, (unsigned long long)rec->ssn,
             is_void ? " (itself void)" : "", s->dv[j].inc,
             (unsigned long long)s->dv[j].rsn, j, s->dv[j].inc,
             (unsigned long long)end);
  }
}

/* A delivery's payload against its sender's kept copy. */
static void check_sender(scan *s, const mlog_record *rec) {
  audit *a = s->a;
  if (rec->src >= a->n || a->p[rec->src].log == NULL)
    return;
  const kept *k = find_kept(&a->p[rec->src], rec->dst, rec->ssn);
  if (k == NULL)
    return;
  if (k->len != rec->payload_len ||
      memcmp(k->payload, rec->payload, k->len) != 0)
    problem(a, s->who, rec->lsn, "sender",
            "delivery from p%u ssn %llu: payload (%u bytes) differs from the "
            "copy p%u keeps (%u bytes)",
            rec->src, (unsigned long long)rec->ssn, rec->payload_len, rec->src,
            k->len);
}

static int on_record(void *arg, const mlog_record *rec) {
  scan *s = arg;
  audit *a = s->a;
  proc *p = &a->p[s->id];
  /* A spontaneous send names the incarnation of the state it followed,
   * which may be older than the writer's: the others name the writer's. */
  if (rec->type != MLOG_REC_PAYLOAD) {
    if (rec->incarnation < p->last_inc)
      problem(a, s->who, rec->lsn, "incarnation",
              "incarnation %u after incarnation %u at lsn %llu",
              rec->incarnation, p->last_inc,
              (unsigned long long)p->last_inc_lsn);
    p->last_inc = rec->incarnation;
    p->last_inc_lsn = rec->lsn;
  }
  if (rec->type != MLOG_REC_DELIVERY)
    return 0;
  bool is_void = rec->rsn > mlog_log_incarnation_end(p->log, rec->incarnation);
  if (s->check_orphans && (rec->flags & MLOGI_DLV_DV))
    check_orphan(s, rec, is_void);
  if (is_void)
    return 0;
  if (s->check_sender)
    check_sender(s, rec);
  return add_delivery(p, rec, s->by_round);
}

static int cmp_delivery(const void *x, const void *y) {
  const delivery *a = x, *b = y;
  if (a->src != b->src)
    return a->src < b->src ? -1 : 1;
  if (a->round != b->round)
    return a->round < b->round ? -1 : 1;
  if (a->ssn != b->ssn)
    return a->ssn < b->ssn ? -1 : 1;
  return a->lsn < b->lsn ? -1 : a->lsn > b->lsn;
}

static int cmp_delivery_lsn(const void *x, const void *y) {
  const delivery *a = x, *b = y;
  if (a->src != b->src)
    return a->src < b->src ? -1 : 1;
  return a->lsn < b->lsn ? -1 : a->lsn > b->lsn;
}

/* No (src, ssn) twice among the deliveries of the current history. Under
 * the checkpoint-only protocols a rollback round restores the senders
 * too, which send the same ssns again: a (src, ssn) may then recur in a
 * later round (incarnation), not within one. */
static void check_duplicates(audit *a, uint32_t id) {
  proc *p = &a->p[id];
  char who[16];
  pname(id, who);
  if (p->n_dlv > 0)
    qsort(p->dlv, p->n_dlv, sizeof *p->dlv, cmp_delivery);
  for (size_t i = 1; i < p->n_dlv; i++)
    if (p->dlv[i].src == p->dlv[i - 1].src &&
        p->dlv[i].round == p->dlv[i - 1].round &&
        p->dlv[i].ssn == p->dlv[i - 1].ssn)
      problem(a, who, p->dlv[i].lsn, "duplicate",
              "delivery from p%u ssn %llu already delivered at lsn %llu",
              p->dlv[i].src, (unsigned long long)p->dlv[i].ssn,
              (unsigned long long)p->dlv[i - 1].lsn);
}

/* Per channel, the deliveries after the newest checkpoint, in lsn order,
 * continue from what it received: ssns received + 1, + 2, ... */
static void check_gaps(audit *a, uint32_t id) {
  proc *p = &a->p[id];
  char who[16];
  pname(id, who);
  if (p->n_dlv > 0)
    qsort(p->dlv, p->n_dlv, sizeof *p->dlv, cmp_delivery_lsn);
  uint32_t src = UINT32_MAX;
  uint64_t next = 0;
  for (size_t i = 0; i < p->n_dlv; i++) {
    const delivery *d = &p->dlv[i];
    if (d->lsn <= p->covered || d->src >= a->n)
      continue;
    if (d->src != src) {
      src = d->src;
      next = (p->ch != NULL ? p->ch[src].received : 0) + 1;
    }
    if (d->ssn != next)
      problem(a, who, d->lsn, "gap",
              "delivery from p%u ssn %llu, expected ssn %llu (after %s)", src,
              (unsigned long long)d->ssn, (unsigned long long)next,
              next == (p->ch != NULL ? p->ch[src].received : 0) + 1
                  ? "the newest checkpoint"
                  : "the previous delivery");
    next = d->ssn + 1;
  }
}

static int scan_log(audit *a, uint32_t id, bool check_sender_,
                    bool check_orphans, bool by_round) {
  proc *p = &a->p[id];
  scan s = {.a = a,
            .id = id,
            .check_sender = check_sender_,
            .check_orphans = check_orphans,
            .by_round = by_round,
            .dv = calloc(a->n > 0 ? a->n : 1, sizeof *s.dv)};
  pname(id, s.who);
  if (s.dv == NULL) {
    tool_error("%s: out of memory", p->dir);
    return TOOL_UNREADABLE;
  }
  int rc = mlog_log_scan(p->log, 0, on_record, &s);
  free(s.dv);
  if (rc == MLOG_ENOMEM) {
    tool_error("%s: out of memory", p->dir);
    return TOOL_UNREADABLE;
  }
  if (rc != MLOG_OK) { /* verified a moment ago: read as a problem */
    problem(a, s.who, 0, "verify", "%s", mlog_log_errmsg(p->log));
    p->good = false;
  }
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */

static bool is_receiver_based(const char *protocol) {
  return strcmp(protocol, "pessimistic-receiver") == 0 ||
         strcmp(protocol, "optimistic-receiver") == 0;
}

/* The checks of every good log. */
static int audit_group(audit *a) {
  int rc = TOOL_OK;
  const char *protocol = NULL;
  bool any_kept = false;
  for (uint32_t i = 0; i < a->n; i++) {
    proc *p = &a->p[i];
    if (p->log == NULL || !p->good)
      continue;
    if (protocol == NULL)
      protocol = p->protocol;
    else if (strcmp(protocol, p->protocol) != 0) {
      char who[16];
      problem(a, pname(i, who), 0, "group",
              "protocol %s, but another process's log says %s", p->protocol,
              protocol);
    }
    if ((rc = load_kept(a, i)) != TOOL_OK)
      return rc;
    any_kept = any_kept || p->n_kept > 0;
  }
  if (protocol == NULL)
    return TOOL_OK;
  bool gaps = is_receiver_based(protocol);
  bool by_round = !gaps && strcmp(protocol, "pessimistic-sender") != 0;
  bool opt_log = strcmp(protocol, "optimistic-receiver") == 0;
  for (uint32_t i = 0; rc == TOOL_OK && i < a->n; i++) {
    if (a->p[i].log == NULL || !a->p[i].good)
      continue;
    rc = check_checkpoints(a, i);
    if (rc == TOOL_OK)
      rc = scan_log(a, i, any_kept, opt_log, by_round);
    if (rc != TOOL_OK || !a->p[i].good)
      continue;
    check_duplicates(a, i);
    if (gaps)
      check_gaps(a, i);
  }
  char reason[160];
  if (!gaps) {
    snprintf(reason, sizeof reason, "protocol %s %s", protocol,
             strcmp(protocol, "pessimistic-sender") == 0
                 ? "keeps messages at their senders, not in the receivers' "
                   "logs"
                 : "logs no message deliveries to replay");
    skipped(a, "gap", reason);
  }
  if (!any_kept) {
    snprintf(reason, sizeof reason,
             "no log keeps sent messages (protocol %s%s)", protocol,
             strcmp(protocol, "pessimistic-sender") == 0
                 ? " without --durable, or all covered"
                 : "");
    skipped(a, "sender", reason);
  } else if (strcmp(protocol, "pessimistic-sender") == 0) {
    skipped(a, "sender",
            "protocol pessimistic-sender logs no deliveries at the receivers "
            "to compare with the kept copies");
  }
  if (!opt_log) {
    snprintf(reason, sizeof reason,
             "protocol %s sends no dependency vectors (optimistic logging "
             "only)",
             protocol);
    skipped(a, "orphan", reason);
  }
  return rc;
}

static void free_audit(audit *a) {
  for (uint32_t i = 0; a->p != NULL && i < a->n; i++) {
    proc *p = &a->p[i];
    mlog_log_close(p->log);
    for (size_t k = 0; k < p->n_kept; k++)
      free(p->kept[k].payload);
    free(p->kept);
    free(p->dlv);
    free(p->ch);
  }
  free(a->p);
  group_dirs_free(&a->dirs);
  json_decref(a->problems);
  json_decref(a->orphans);
  json_decref(a->skipped);
}

static int report(audit *a, uint32_t n_logs) {
  bool ok = a->n_problems == 0;
  if (a->nomem) {
    tool_error("out of memory");
    return TOOL_UNREADABLE;
  }
  if (a->json) {
    json_t *root =
        json_pack("{s:b, s:I, s:O, s:O, s:O}", "ok", ok, "procs",
                  (json_int_t)n_logs, "problems", a->problems, "orphans",
                  a->orphans, "checks_skipped", a->skipped);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL) {
      tool_error("out of memory");
      return TOOL_UNREADABLE;
    }
    printf("%s\n", text);
    free(text);
  } else if (ok) {
    printf("ok: %u processes%s\n", n_logs,
           a->n_orphans > 0 ? ", orphans only in void deliveries" : "");
  } else {
    printf("%zu problem%s in the logs of %u processes\n", a->n_problems,
           a->n_problems == 1 ? "" : "s", n_logs);
  }
  return ok ? TOOL_OK : TOOL_PROBLEMS;
}

int cmd_audit(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},
      {"key", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *keyfile = NULL;
  audit a = {0};
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'j':
      a.json = true;
      break;
    case 'k':
      keyfile = optarg;
      break;
    case 'h':
      return tool_help(usage);
    default:
      return TOOL_USAGE;
    }
  }
  if (optind >= argc)
    return tool_usage_error("no log directory given");
  mlog_key key;
  if (keyfile != NULL && tool_load_key(keyfile, &key) != TOOL_OK)
    return TOOL_USAGE;
  a.problems = json_array();
  a.orphans = json_array();
  a.skipped = json_array();
  int rc = a.problems && a.orphans && a.skipped ? TOOL_OK : TOOL_UNREADABLE;
  if (rc != TOOL_OK)
    tool_error("out of memory");
  /* Findings are printed as they come: in text mode, only once the group
   * is known to be whole (a line, then an exit 3, would mislead). */
  bool text = !a.json;
  a.json = true;
  bool damaged_open = false;
  for (int i = optind; rc == TOOL_OK && i < argc; i++) {
    int st = join(&a, argv[i], keyfile != NULL ? &key : NULL);
    damaged_open = damaged_open || st == TOOL_PROBLEMS;
    rc = st == TOOL_PROBLEMS ? TOOL_OK : st;
  }
  if (keyfile != NULL)
    tool_forget_key(&key);
  if (rc == TOOL_OK && a.p != NULL)
    rc = damaged_open ? TOOL_OK /* a damaged log hid its id */
                      : group_dirs_complete(&a.dirs);
  for (uint32_t i = 0; rc == TOOL_OK && i < a.n; i++)
    if (a.p[i].log != NULL)
      rc = verify(&a, i);
  if (rc == TOOL_OK && text) { /* print what the opens found, then go on */
    a.json = false;
    size_t k;
    json_t *o;
    json_array_foreach(a.problems, k, o) {
      uint64_t lsn = (uint64_t)json_integer_value(json_object_get(o, "lsn"));
      const char *who = json_string_value(json_object_get(o, "process"));
      const char *check = json_string_value(json_object_get(o, "check"));
      const char *detail = json_string_value(json_object_get(o, "detail"));
      if (lsn > 0)
        printf("%s: lsn %llu: %s: %s\n", who, (unsigned long long)lsn, check,
               detail);
      else
        printf("%s: %s: %s\n", who, check, detail);
    }
  }
  if (rc == TOOL_OK)
    rc = audit_group(&a);
  uint32_t n_logs = 0;
  for (uint32_t i = 0; a.p != NULL && i < a.n; i++)
    n_logs += a.p[i].dir != NULL;
  if (rc == TOOL_OK)
    rc = report(&a, n_logs);
  free_audit(&a);
  return rc;
}
