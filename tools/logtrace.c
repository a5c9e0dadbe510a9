/* logtrace.c - the trace of analyze and diagram from a file or from the logs
 * of a group: what each process's checkpoints and last known state say it
 * sent and received, laid out as the trace's histories and messages */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/proc.h"
#include "groupdirs.h"
#include "logtrace.h"
#include "tool.h"

/* What the errors of a trace built from logs name as its source (the
 * trace is valid by construction: out of memory only). */
#define LOGS_SOURCE "the logs"

/* What a COUNTS payload that is not 16 bytes per process stops the scan
 * with (no mlog error code is negative). */
#define MALFORMED_COUNTS (-1)

/* A state of a process whose counts its log gives: the initial state (all
 * zero), a checkpoint or its end. Channels are FIFO and ssns count from 1,
 * so the counts name the messages sent and received before it. */
typedef struct position {
  uint64_t number;       /* the checkpoint's number; 0: initial or end */
  uint64_t lsn;          /* the end's COUNTS record; 0: none (the end is then a
                            lower bound: the newest checkpoint's counts, or the
                            initial state's) */
  mlogi_chan_counts *ch; /* [group size] sent to and received from each */
} position;

/* What the log of one process says: its positions in order (the initial
 * state, its checkpoints oldest first, its end). */
typedef struct proc_log {
  const char *dir; /* NULL until the process's log is read */
  position *pos;
  size_t n_pos;
} proc_log;

/* The logs of a group, by process id. */
typedef struct group_logs {
  group_dirs dirs;
  uint32_t n;     /* group size */
  proc_log *proc; /* [n] */
} group_logs;

static void group_free(group_logs *g) {
  for (uint32_t p = 0; g->proc != NULL && p < g->n; p++) {
    for (size_t k = 0; k < g->proc[p].n_pos; k++)
      free(g->proc[p].pos[k].ch);
    free(g->proc[p].pos);
  }
  free(g->proc);
  group_dirs_free(&g->dirs);
}

/* Report "DIR: message"; returns TOOL_UNREADABLE. */
static int dir_error(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int dir_error(const char *dir, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tool_error("%s: %s", dir, msg);
  return TOOL_UNREADABLE;
}

/* Report that the library failed on the log in dir; returns
 * TOOL_UNREADABLE (damage too: these commands find no problems in logs,
 * they only read them). */
static int log_error(const char *dir, int err, const char *msg) {
  tool_log_error(dir, err, msg);
  return TOOL_UNREADABLE;
}

static int out_of_memory(const char *dir) {
  return dir_error(dir, "out of memory");
}

/* ------------------------------------------------------------------------ */
/* One process's positions                                                  */

/* "checkpoint 3", "the end at lsn 57" or "the initial state", for errors. */
static void describe(const position *pos, char *buf, size_t len) {
  if (pos->number > 0)
    snprintf(buf, len, "checkpoint %llu", (unsigned long long)pos->number);
  else if (pos->lsn > 0)
    snprintf(buf, len, "the end at lsn %llu", (unsigned long long)pos->lsn);
  else
    snprintf(buf, len, "the initial state");
}

/* Counts only grow along a history: check the last position against the
 * one before it. */
static int check_growth(const proc_log *pl, uint32_t n) {
  const position *a = &pl->pos[pl->n_pos - 2], *b = &pl->pos[pl->n_pos - 1];
  for (uint32_t j = 0; j < n; j++) {
    if (b->ch[j].sent >= a->ch[j].sent &&
        b->ch[j].received >= a->ch[j].received)
      continue;
    char was[48], now[48];
    describe(a, was, sizeof was);
    describe(b, now, sizeof now);
    return dir_error(pl->dir,
                     "%s counts fewer messages sent to or received from p%u "
                     "than %s",
                     now, j, was);
  }
  return TOOL_OK;
}

/* The most messages a trace built from logs takes on one channel: with it,
 * no count of a trace's events or messages overflows. */
#define MAX_CHANNEL_MESSAGES UINT32_MAX

/* Append pos (room for it is there; ownership of its counts passes, also
 * on failure) and check it against the position before it. */
static int add_position(proc_log *pl, uint32_t n, position pos) {
  if (pos.ch == NULL)
    return out_of_memory(pl->dir);
  pl->pos[pl->n_pos++] = pos;
  for (uint32_t j = 0; j < n; j++)
    if (pos.ch[j].sent > MAX_CHANNEL_MESSAGES ||
        pos.ch[j].received > MAX_CHANNEL_MESSAGES) {
      char at[48];
      describe(&pos, at, sizeof at);
      return dir_error(pl->dir,
                       "%s counts more than %u messages on the channel "
                       "with p%u: too many for a trace",
                       at, MAX_CHANNEL_MESSAGES, j);
    }
  return pl->n_pos > 1 ? check_growth(pl, n) : TOOL_OK;
}

/* Append the counts of checkpoint `number`, after checking it; the lsn it
 * covers goes to *covered. */
static int read_checkpoint(mlog_log *log, proc_log *pl, uint32_t n,
                           uint64_t number, uint64_t *covered) {
  unsigned long long num = number;
  mlog_log_checkpoint ck;
  int rc = mlog_log_read_checkpoint(log, number, &ck);
  if (rc == MLOG_ENOMEM)
    return out_of_memory(pl->dir);
  if (tool_is_damage(rc))
    return dir_error(pl->dir, "checkpoint %llu fails verification: %s", num,
                     tool_damage_kind(rc));
  if (rc != MLOG_OK)
    return dir_error(pl->dir, "cannot read checkpoint %llu: %s", num,
                     mlog_strerror(rc));
  mlogi_state_view v;
  rc = mlogi_state_peek(ck.state, ck.len, n, &v);
  *covered = ck.covered_lsn;
  mlog_log_checkpoint_free(&ck);
  if (rc == MLOG_ENOMEM)
    return out_of_memory(pl->dir);
  if (rc != MLOG_OK)
    return dir_error(pl->dir,
                     "checkpoint %llu: a malformed state (or one of another "
                     "group size)",
                     num);
  /* The view's channels become the position's (the rest of the view
   * points into the freed state). */
  return add_position(pl, n, (position){.number = number, .ch = v.ch});
}

/* What the scan for the last COUNTS record found. */
typedef struct counts_scan {
  uint32_t n;
  uint32_t incarnation;  /* the log's current incarnation */
  mlogi_chan_counts *ch; /* [n] the last COUNTS record's counts */
  bool found;
  uint64_t lsn;     /* its lsn, or the malformed one's */
  uint32_t bad_len; /* the malformed one's payload length */
} counts_scan;

/* Take the counts of a COUNTS record of the current incarnation (under the
 * checkpoint-only protocols: the last rollback round the process applied).
 * One of another incarnation is stale: a round since that close (a restart
 * leads one) restored an older checkpoint and the process went on from
 * there, so the record no longer describes the history the log holds. */
static int take_counts(void *arg, const mlog_record *rec) {
  counts_scan *cs = arg;
  if (rec->type != MLOG_REC_CONTROL || rec->flags != MLOGI_CTL_COUNTS)
    return 0;
  if (rec->payload_len != (uint64_t)cs->n * 16) {
    cs->lsn = rec->lsn;
    cs->bad_len = rec->payload_len;
    return MALFORMED_COUNTS;
  }
  if (rec->incarnation != cs->incarnation)
    return 0;
  cs->lsn = rec->lsn;
  const uint8_t *p = rec->payload;
  for (uint32_t j = 0; j < cs->n; j++) {
    cs->ch[j].sent = mlogi_get_le64(p + 16 * (size_t)j);
    cs->ch[j].received = mlogi_get_le64(p + 16 * (size_t)j + 8);
  }
  cs->found = true;
  return 0;
}

/* Append the end: the counts of the last COUNTS record of the current
 * incarnation after from_lsn (the newest checkpoint covers the ones
 * before), or else the last position's. */
static int read_end(mlog_log *log, proc_log *pl, uint32_t n,
                    uint64_t from_lsn) {
  counts_scan cs = {.n = n,
                    .incarnation = mlog_log_incarnation(log),
                    .ch = calloc(n > 0 ? n : 1, sizeof *cs.ch)};
  if (cs.ch == NULL)
    return out_of_memory(pl->dir);
  int rc = mlog_log_scan(log, from_lsn, take_counts, &cs);
  if (rc != MLOG_OK)
    free(cs.ch);
  if (rc == MALFORMED_COUNTS)
    return dir_error(pl->dir,
                     "lsn %llu: a malformed COUNTS control record (%u bytes, "
                     "want 16 per process: %llu)",
                     (unsigned long long)cs.lsn, cs.bad_len,
                     (unsigned long long)n * 16);
  if (rc != MLOG_OK)
    return log_error(pl->dir, rc, mlog_log_errmsg(log));
  if (!cs.found)
    memcpy(cs.ch, pl->pos[pl->n_pos - 1].ch, n * sizeof *cs.ch);
  return add_position(pl, n,
                      (position){.lsn = cs.found ? cs.lsn : 0, .ch = cs.ch});
}

/* Read the positions of the process whose log is open: the initial state,
 * every checkpoint the log holds, the end. */
static int read_positions(mlog_log *log, proc_log *pl, uint32_t n) {
  uint64_t *numbers;
  size_t n_ckpts;
  int rc = mlog_log_checkpoint_numbers(log, &numbers, &n_ckpts);
  if (rc != MLOG_OK)
    return log_error(pl->dir, rc, mlog_log_errmsg(log));
  uint64_t covered = 0;
  pl->pos = calloc(n_ckpts + 2, sizeof *pl->pos);
  rc = pl->pos == NULL
           ? out_of_memory(pl->dir)
           : add_position(pl, n,
                          (position){.ch = calloc(n > 0 ? n : 1,
                                                  sizeof(mlogi_chan_counts))});
  for (size_t i = 0; rc == TOOL_OK && i < n_ckpts; i++)
    rc = read_checkpoint(log, pl, n, numbers[i], &covered);
  free(numbers);
  return rc == TOOL_OK ? read_end(log, pl, n, covered + 1) : rc;
}

/* ------------------------------------------------------------------------ */
/* The group                                                                */

/* The place in the group of the process whose log (in dir) is open; the
 * first log read sets the group size. */
static int join_group(group_logs *g, mlog_log *log, const char *dir,
                      bool have_key, proc_log **out) {
  mlog_log_info info;
  uint32_t id;
  int rc = group_dirs_join(&g->dirs, log, dir, have_key, &info, &id);
  if (rc != TOOL_OK)
    return rc;
  if (g->proc == NULL) {
    g->n = g->dirs.n;
    g->proc = calloc(g->n > 0 ? g->n : 1, sizeof *g->proc);
    if (g->proc == NULL)
      return out_of_memory(dir);
  }
  g->proc[id].dir = dir;
  *out = &g->proc[id];
  return TOOL_OK;
}

static int read_log(group_logs *g, const char *dir, const mlog_key *key) {
  mlog_log *log;
  int rc = tool_open_log(dir, key, &log);
  if (rc != MLOG_OK)
    return log_error(dir, rc, mlog_log_errmsg(NULL));
  proc_log *pl = NULL;
  rc = join_group(g, log, dir, key != NULL, &pl);
  if (rc == TOOL_OK)
    rc = read_positions(log, pl, g->n);
  mlog_log_close(log);
  return rc;
}

static const mlogi_chan_counts *end_counts(const proc_log *pl) {
  return pl->pos[pl->n_pos - 1].ch;
}

/* Whether the end of the process is a COUNTS record: what it had sent and
 * received when it closed, not a lower bound. */
static bool end_is_recorded(const proc_log *pl) {
  return pl->pos[pl->n_pos - 1].lsn > 0;
}

/* An end that is no COUNTS record (the logging protocols write none, and a
 * process that crashed wrote none) is only a lower bound: the process may
 * have gone on sending after its newest checkpoint. Raise what it sent each
 * peer to what the peer's end received from it, the messages the peer's
 * log proves were sent. Only sent counts change and only received counts
 * are read, so the order of the processes does not matter. */
static void raise_open_ends(group_logs *g) {
  for (uint32_t i = 0; i < g->n; i++) {
    proc_log *pl = &g->proc[i];
    if (end_is_recorded(pl))
      continue;
    mlogi_chan_counts *end = pl->pos[pl->n_pos - 1].ch;
    for (uint32_t j = 0; j < g->n; j++) {
      uint64_t got = end_counts(&g->proc[j])[i].received;
      if (j != i && got > end[j].sent)
        end[j].sent = got;
    }
  }
}

/* A message received at the receiver's end was sent before the sender's
 * end (else the trace would hold a receive with no send). After the open
 * ends were raised, only a sender whose end is a COUNTS record can fail
 * this: its log contradicts the receiver's. */
static int check_receives(const group_logs *g) {
  for (uint32_t j = 0; j < g->n; j++)
    for (uint32_t i = 0; i < g->n; i++) {
      uint64_t got = end_counts(&g->proc[j])[i].received;
      uint64_t sent = end_counts(&g->proc[i])[j].sent;
      if (i != j && got > sent)
        return dir_error(g->proc[j].dir,
                         "p%u received %llu messages from p%u, but the log "
                         "of p%u (%s) ends after sending it %llu",
                         j, (unsigned long long)got, i, i, g->proc[i].dir,
                         (unsigned long long)sent);
    }
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */
/* The trace                                                                */

/*
 * The trace is built from the positions' counts, never listed event by
 * event. Process p's history between positions k-1 and k is its sends
 * (peer by peer, ssn by ssn), then its receives (likewise), then position
 * k's checkpoint (the end is no event). The counts do not say in which
 * order a process sent and received between two positions, and no order
 * can change the recovery line, which depends only on which side of each
 * checkpoint an event is. Sends first: a send then waits for nothing but
 * the checkpoint before it, so the events are in a causal order (the
 * diagram draws no arrow backwards) whenever the checkpoints allow one;
 * receives first would turn every exchange inside an interval into a
 * causality cycle.
 *
 * Messages are numbered in the order of their sends, process by process,
 * and named "p<i>-p<j>#<ssn>" only when printed (trace_msg_id). Time and
 * memory are linear in the messages (about 40 bytes each while building,
 * 32 after) plus the positions' counts.
 */

/* The most messages a trace built from logs takes in all (about 40 bytes
 * each while building): counts are read from logs, so a damaged or forged
 * count must get an error, not an allocation the system may grant and then
 * kill the process for. */
#define MAX_TRACE_MESSAGES ((uint64_t)1 << 28)

/* An array of n items of `size` bytes (NULL when out of memory, or when
 * its size does not fit a size_t). */
static void *alloc_array(uint64_t n, size_t size) {
  return n <= SIZE_MAX / size ? malloc(n > 0 ? (size_t)n * size : 1) : NULL;
}

/* The messages process `me` sends (`sent`) or receives between two of its
 * positions. */
static uint64_t between(const position *from, const position *to, uint32_t n,
                        uint32_t me, bool sent) {
  uint64_t count = 0;
  for (uint32_t j = 0; j < n; j++)
    if (j != me)
      count += sent ? to->ch[j].sent - from->ch[j].sent
                    : to->ch[j].received - from->ch[j].received;
  return count;
}

/* The first event of the interval before position k of pr (k >= 1): the
 * one after checkpoint k-1 (the initial one is no event). */
static uint64_t interval_start(const trace_proc *pr, size_t k) {
  return k == 1 ? 0 : pr->ckpt_at[k - 1] + 1;
}

/* Process p's name, checkpoints and history's length: its names go to
 * *names (room for them is there). */
static bool lay_out_process(const group_logs *g, uint32_t p, trace_proc *pr,
                            char **names) {
  const proc_log *pl = &g->proc[p];
  pr->n_ckpts = pl->n_pos - 1; /* the initial state, the checkpoints */
  pr->ckpt_at = alloc_array(pr->n_ckpts, sizeof *pr->ckpt_at);
  pr->ckpt_name = alloc_array(pr->n_ckpts, sizeof *pr->ckpt_name);
  if (pr->ckpt_at == NULL || pr->ckpt_name == NULL)
    return false;
  pr->name = *names;
  *names += sprintf(*names, "p%u", p) + 1;
  pr->ckpt_at[0] = 0;
  pr->ckpt_name[0] = "initial";
  uint64_t ev = 0;
  for (size_t k = 1; k < pl->n_pos; k++) {
    const position *from = &pl->pos[k - 1], *to = &pl->pos[k];
    ev += between(from, to, g->n, p, true) + between(from, to, g->n, p, false);
    if (k == pr->n_ckpts)
      break; /* the end */
    pr->ckpt_at[k] = ev++;
    pr->ckpt_name[k] = *names;
    *names +=
        sprintf(*names, "p%u.c%llu", p, (unsigned long long)to->number) + 1;
  }
  pr->n_events = ev;
  return true;
}

/* The processes of the trace, their checkpoints and the room for its
 * messages. */
static int lay_out(const group_logs *g, trace *t) {
  size_t len = 0;
  uint64_t n_msgs = 0;
  for (uint32_t p = 0; p < g->n; p++) {
    const proc_log *pl = &g->proc[p];
    len += sizeof "p4294967295" +
           (pl->n_pos - 2) * sizeof "p4294967295.c18446744073709551615";
    n_msgs += between(&pl->pos[0], &pl->pos[pl->n_pos - 1], g->n, p, true);
  }
  if (n_msgs > MAX_TRACE_MESSAGES)
    return trace_error(t,
                       "the logs count %llu messages, more than the %llu a "
                       "trace takes",
                       (unsigned long long)n_msgs,
                       (unsigned long long)MAX_TRACE_MESSAGES);
  t->names = malloc(len);
  t->procs = calloc(g->n, sizeof *t->procs);
  t->rl_msgs = alloc_array(n_msgs, sizeof *t->rl_msgs);
  t->ssns = alloc_array(n_msgs, sizeof *t->ssns);
  if (t->names == NULL || t->procs == NULL || t->rl_msgs == NULL ||
      t->ssns == NULL)
    return trace_out_of_memory(t);
  t->n_msgs = (size_t)n_msgs;
  char *names = t->names;
  for (uint32_t p = 0; p < g->n; p++) {
    t->n_procs = p + 1; /* trace_free frees what it got, also on failure */
    if (!lay_out_process(g, p, &t->procs[p], &names))
      return trace_out_of_memory(t);
  }
  return TOOL_OK;
}

/* Number the messages in the order of their sends, with their sender,
 * receiver, ssn and send event (none received yet). */
static void add_sends(const group_logs *g, trace *t) {
  size_t m = 0;
  for (uint32_t p = 0; p < g->n; p++) {
    const proc_log *pl = &g->proc[p];
    for (size_t k = 1; k < pl->n_pos; k++) {
      const position *from = &pl->pos[k - 1], *to = &pl->pos[k];
      uint64_t ev = interval_start(&t->procs[p], k);
      for (uint32_t j = 0; j < g->n; j++)
        for (uint64_t s = from->ch[j].sent + 1; j != p && s <= to->ch[j].sent;
             s++, m++) {
          t->rl_msgs[m] = (mlogi_rl_message){.sender = p,
                                             .receiver = j,
                                             .send_at = ev++,
                                             .recv_at = MLOGI_RL_NOT_RECEIVED};
          t->ssns[m] = s;
        }
    }
  }
}

/* The messages of each channel in ssn order: message ssn s from i to j is
 * msgs[first[i * n + j] + s - 1]. */
typedef struct channel_index {
  size_t *first; /* [n * n + 1] */
  size_t *msgs;  /* [n_msgs] */
} channel_index;

static bool index_channels(const trace *t, channel_index *ci) {
  uint64_t n = t->n_procs;
  ci->first = calloc(n * n + 1, sizeof *ci->first);
  ci->msgs = alloc_array(t->n_msgs, sizeof *ci->msgs);
  if (ci->first == NULL || ci->msgs == NULL)
    return false;
  for (size_t m = 0; m < t->n_msgs; m++)
    ci->first[t->rl_msgs[m].sender * n + t->rl_msgs[m].receiver + 1]++;
  for (uint64_t c = 0; c < n * n; c++)
    ci->first[c + 1] += ci->first[c];
  for (size_t m = 0; m < t->n_msgs; m++) {
    const mlogi_rl_message *rl = &t->rl_msgs[m];
    ci->msgs[ci->first[rl->sender * n + rl->receiver] + t->ssns[m] - 1] = m;
  }
  return true;
}

/* Give each received message its receive event. Every receive has its send
 * (check_receives). */
static void add_receives(const group_logs *g, const channel_index *ci,
                         trace *t) {
  for (uint32_t p = 0; p < g->n; p++) {
    const proc_log *pl = &g->proc[p];
    for (size_t k = 1; k < pl->n_pos; k++) {
      const position *from = &pl->pos[k - 1], *to = &pl->pos[k];
      uint64_t ev =
          interval_start(&t->procs[p], k) + between(from, to, g->n, p, true);
      for (uint32_t i = 0; i < g->n; i++) {
        size_t first = ci->first[(uint64_t)i * g->n + p];
        for (uint64_t s = from->ch[i].received + 1;
             i != p && s <= to->ch[i].received; s++)
          t->rl_msgs[ci->msgs[first + s - 1]].recv_at = ev++;
      }
    }
  }
}

/* The trace of the group, into *t. */
static int build_trace(const group_logs *g, trace *t) {
  int rc = lay_out(g, t);
  if (rc != TOOL_OK)
    return rc;
  add_sends(g, t);
  channel_index ci = {0};
  if (index_channels(t, &ci))
    add_receives(g, &ci, t);
  else
    rc = trace_out_of_memory(t);
  free(ci.first);
  free(ci.msgs);
  return rc;
}

static int load_logs(const trace_source *src, trace *t) {
  mlog_key key;
  if (src->keyfile != NULL && tool_load_key(src->keyfile, &key) != TOOL_OK)
    return TOOL_USAGE;
  group_logs g = {0};
  int rc = TOOL_OK;
  for (size_t i = 0; rc == TOOL_OK && i < src->n_dirs; i++)
    rc = read_log(&g, src->dirs[i], src->keyfile != NULL ? &key : NULL);
  if (src->keyfile != NULL)
    tool_forget_key(&key);
  if (rc == TOOL_OK)
    rc = group_dirs_complete(&g.dirs);
  if (rc == TOOL_OK) {
    raise_open_ends(&g);
    rc = check_receives(&g);
  }
  t->path = LOGS_SOURCE;
  if (rc == TOOL_OK)
    rc = build_trace(&g, t);
  group_free(&g);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The failed processes of a trace built from logs                          */

/* The id that name[0..len) gives, "p<id>" or "<id>" (decimal, no leading
 * zero), into *id; false when it names no process of a group of n. */
static bool parse_id(const char *name, size_t len, uint32_t n, uint32_t *id) {
  size_t at = len > 0 && name[0] == 'p' ? 1 : 0;
  if (at == len || len - at > 10 || (name[at] == '0' && len - at > 1))
    return false;
  uint64_t v = 0;
  for (size_t i = at; i < len; i++) {
    if (name[i] < '0' || name[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *id = (uint32_t)v;
  return v < n;
}

/* Mark the process that name[0..len) of the list `failed` gives, unless it
 * is not one of the group or already marked. */
static int mark_one(trace *t, const char *failed, const char *name,
                    size_t len) {
  uint32_t id;
  if (!parse_id(name, len, t->n_procs, &id)) {
    tool_error("--failed names an unknown process %.*s (the logs are of "
               "p0..p%u)",
               (int)len, name, t->n_procs - 1);
    return TOOL_UNREADABLE;
  }
  if (t->procs[id].failed)
    return tool_usage_error("bad --failed list '%s': process p%u named twice",
                            failed, id);
  t->procs[id].failed = true;
  return TOOL_OK;
}

/* Mark the processes of the checked list `failed`, "p<id>" or "<id>". */
static int mark_failed(trace *t, const char *failed) {
  int rc = TOOL_OK;
  for (const char *s = failed; rc == TOOL_OK; s++) {
    size_t len = strcspn(s, ",");
    rc = mark_one(t, failed, s, len);
    s += len;
    if (*s == '\0')
      break;
  }
  return rc;
}

/* ------------------------------------------------------------------------ */

int trace_source_check(const trace_source *src) {
  if (src->path != NULL && src->n_dirs > 0)
    return tool_usage_error("unexpected argument '%s' (give --trace FILE or "
                            "log directories, not both)",
                            src->dirs[0]);
  if (src->path == NULL && src->n_dirs == 0)
    return tool_usage_error(
        "no trace given (--trace FILE, or the log directories DIR...)");
  if (src->path != NULL && src->keyfile != NULL)
    return tool_usage_error("--key is for log directories, not --trace");
  return TOOL_OK;
}

int trace_source_load(const trace_source *src, const char *failed, trace *t) {
  if (src->path == NULL) {
    int rc = load_logs(src, t);
    return rc == TOOL_OK && failed != NULL ? mark_failed(t, failed) : rc;
  }
  t->path = src->path;
  int rc = trace_load(t);
  return rc == TOOL_OK && failed != NULL ? trace_mark_failed(t, failed) : rc;
}
