/* chaos_token.c - the token-ring example under mlog chaos: when its work is
 * done, and its invariant (exactly one token in every snapshot) */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"

/* No hop for so long, and in no member: the token is lost. */
#define STUCK_MS 5000

/*
 * Each member of examples/token_ring.c reports its part of Chandy-Lamport
 * snapshot K as the output "snap K token=T chan=C src=S hop=H": T tokens
 * in the state it recorded, C tokens recorded in its incoming channels (S:
 * the channel of the last of them, -1 for none), H the recorded token's
 * hop count. A snapshot every member reported is complete: the tokens it
 * holds, summed over the members, must be exactly one. A member that
 * reports K twice (under two output numbers) must say the same both times.
 * At the end, the token must have made its W hops and be in one member.
 */

/* One member's report of its part of a snapshot. */
typedef struct report {
  uint64_t k, token, chan, hop;
  int64_t src;
  uint32_t member;
  const char *text;
} report;

/* What the snapshots say. */
typedef struct tally {
  uint64_t checked;     /* complete snapshots */
  uint64_t lost;        /* complete, without a token */
  uint64_t duplicates;  /* complete, with two tokens or more */
  uint64_t conflicting; /* a member reported them twice, differently */
  uint64_t bad;         /* snapshots with any of those problems */
} tally;

static bool parse_report(const chaos_output *o, report *r) {
  unsigned long long k, token, chan, hop;
  long long src;
  int end = -1;
  if (sscanf(o->text, "snap %llu token=%llu chan=%llu src=%lld hop=%llu%n", &k,
             &token, &chan, &src, &hop, &end) != 5 ||
      o->text[end] != '\0')
    return false;
  *r = (report){.k = k,
                .token = token,
                .chan = chan,
                .hop = hop,
                .src = src,
                .member = o->member,
                .text = o->text};
  return true;
}

static int by_snapshot(const void *a, const void *b) {
  const report *x = a, *y = b;
  if (x->k != y->k)
    return x->k < y->k ? -1 : 1;
  return x->member < y->member ? -1 : x->member > y->member;
}

/* The members' reports sorted by snapshot then member (NULL, with *n 0,
 * when there are none or no memory). Outputs that are not reports are
 * left out. */
static report *collect(const chaos_view *v, size_t *n) {
  *n = 0;
  report *all = v->n_outputs ? malloc(v->n_outputs * sizeof *all) : NULL;
  if (all == NULL)
    return NULL;
  for (size_t i = 0; i < v->n_outputs; i++)
    *n += parse_report(&v->outputs[i], &all[*n]);
  if (*n > 0)
    qsort(all, *n, sizeof *all, by_snapshot);
  return all;
}

/* Where the tokens of one member's report are, appended to `where`. */
static void describe(const report *r, char *where, size_t cap) {
  size_t used = strlen(where);
  if (r->token > 0 && used < cap)
    used += (size_t)snprintf(where + used, cap - used, "%sp%" PRIu32,
                             used ? ", " : "", r->member);
  if (r->chan == 1 && used < cap)
    snprintf(where + used, cap - used, "%schannel p%" PRId64 "->p%" PRIu32,
             used ? ", " : "", r->src, r->member);
  else if (r->chan > 1 && used < cap)
    snprintf(where + used, cap - used, "%s%" PRIu64 " in channels to p%" PRIu32,
             used ? ", " : "", r->chan, r->member);
}

/* One snapshot as its reports tell it. */
typedef struct snapshot {
  uint64_t k, members, tokens, hop; /* members: bit i, i reported it */
  bool conflict;                    /* a member reported it differently */
  char where[256];                  /* where its tokens are */
} snapshot;

/* Sum up the reports of one snapshot, rs[0..n) (sorted by member). */
static void sum_up(const report *rs, size_t n, snapshot *s) {
  *s = (snapshot){.k = rs[0].k};
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && rs[i].member == rs[i - 1].member) {
      s->conflict |= strcmp(rs[i].text, rs[i - 1].text) != 0;
      continue;
    }
    s->members |= UINT64_C(1) << rs[i].member;
    s->tokens += rs[i].token + rs[i].chan;
    if (rs[i].token + rs[i].chan > 0)
      s->hop = rs[i].hop;
    describe(&rs[i], s->where, sizeof s->where);
  }
}

/* "  snapshot 3: token in p2 (hop 17)" and the like. */
static void print_snapshot(const snapshot *s, bool complete, FILE *text) {
  fprintf(text, "  snapshot %" PRIu64 ": ", s->k);
  if (!complete)
    fprintf(text, "incomplete");
  else if (s->tokens == 1)
    fprintf(text, "token in %s (hop %" PRIu64 ")", s->where, s->hop);
  else if (s->tokens == 0)
    fprintf(text, "NO TOKEN (lost)");
  else
    fprintf(text, "%" PRIu64 " TOKENS: %s", s->tokens, s->where);
  fprintf(text, "%s\n",
          s->conflict ? "; a member reported it twice, differently" : "");
}

/* Judge the reports of one snapshot, rs[0..n) (sorted by member). */
static void judge_snapshot(const chaos_view *v, const report *rs, size_t n,
                           tally *t, FILE *text) {
  snapshot s;
  sum_up(rs, n, &s);
  bool complete = s.members == (UINT64_C(1) << v->procs) - 1;
  t->conflicting += s.conflict;
  t->checked += complete;
  t->lost += complete && s.tokens == 0;
  t->duplicates += complete && s.tokens > 1;
  t->bad += s.conflict || (complete && s.tokens != 1);
  if (text != NULL && (complete || s.conflict))
    print_snapshot(&s, complete, text);
}

/* The highest hop count any member saw. */
static int64_t max_hops(const chaos_view *v) {
  int64_t hops = 0;
  for (uint32_t i = 0; i < v->procs; i++)
    if (chaos_status(v, i, "hops") > hops)
      hops = chaos_status(v, i, "hops");
  return hops;
}

/* The token made its last hop and one member keeps it. */
static bool token_done(const chaos_view *v) {
  return max_hops(v) >= (int64_t)v->work && chaos_sum(v, "token") == 1;
}

/* In no member, and no hop for STUCK_MS while every member is up: the
 * token is lost (under `none`, a domino past the checkpoint that made its
 * message stable can lose it) or stuck, and waiting longer tells nothing
 * more. (The harness runs one application, so
 * one tracker will do.) */
static bool token_stuck(const chaos_view *v) {
  static int64_t last_hops = -1;
  static uint64_t since_ms;
  int64_t hops = max_hops(v);
  if (hops != last_hops || chaos_sum(v, "token") != 0) {
    last_hops = hops;
    since_ms = chaos_now_ms();
    return false;
  }
  return chaos_now_ms() - since_ms >= STUCK_MS;
}

/* The run may stop once the token is done, or lost. */
static bool token_may_stop(const chaos_view *v) {
  return token_done(v) || token_stuck(v);
}

/* Where the token ended: "in p2", "LOST: in no member", "in 2 members". */
static void print_holder(const chaos_view *v, FILE *text) {
  int64_t holders = chaos_sum(v, "token");
  for (uint32_t i = 0; i < v->procs && holders == 1; i++)
    if (chaos_status(v, i, "token") == 1)
      fprintf(text, "is in p%" PRIu32, i);
  if (holders == 0)
    fprintf(text,
            "is LOST: in no member (the rollbacks since the members' last "
            "starts found %" PRId64 " messages nobody can send again)",
            chaos_sum(v, "lostmsgs"));
  else if (holders != 1)
    fprintf(text, "is in %" PRId64 " members", holders);
}

static void print_summary(const chaos_view *v, const tally *t, FILE *text) {
  fprintf(text,
          "  token-ring: the token made %" PRId64 " of %" PRIu64 " hops and ",
          max_hops(v), v->work);
  print_holder(v, text);
  fprintf(text,
          "; %" PRIu64 " complete snapshots: %" PRIu64
          " with one token, %" PRIu64 " lost it, %" PRIu64
          " with two or more; %" PRIu64 " reported twice differently\n",
          t->checked, t->checked - t->lost - t->duplicates, t->lost,
          t->duplicates, t->conflicting);
}

static bool token_judge(const chaos_view *v, json_t *json, FILE *text) {
  size_t n;
  report *rs = collect(v, &n);
  tally t = {0};
  for (size_t a = 0, b; a < n; a = b) {
    for (b = a + 1; b < n && rs[b].k == rs[a].k; b++)
      ;
    judge_snapshot(v, rs + a, b - a, &t, text);
  }
  bool unreadable = v->n_outputs > 0 && rs == NULL; /* no memory */
  free(rs);
  json_object_set_new(json, "hops", json_integer(max_hops(v)));
  json_object_set_new(json, "snapshots", json_integer((json_int_t)t.checked));
  json_object_set_new(json, "snapshots_bad", json_integer((json_int_t)t.bad));
  json_object_set_new(json, "lost", json_integer((json_int_t)t.lost));
  json_object_set_new(json, "duplicates",
                      json_integer((json_int_t)t.duplicates));
  json_object_set_new(json, "conflicting",
                      json_integer((json_int_t)t.conflicting));
  json_object_set_new(json, "holders", json_integer(chaos_sum(v, "token")));
  if (text != NULL)
    print_summary(v, &t, text);
  return !unreadable && t.bad == 0 && token_done(v);
}

static void token_progress(const chaos_view *v, char *out, size_t cap) {
  int64_t snaps = 0;
  for (uint32_t i = 0; i < v->procs; i++)
    if (i == 0 || chaos_status(v, i, "snaps") < snaps)
      snaps = chaos_status(v, i, "snaps");
  snprintf(out, cap,
           "hop %" PRId64 " of %" PRIu64 ", %" PRId64
           " snapshots reported by every member",
           max_hops(v), v->work, snaps);
}

const chaos_app chaos_token_ring = {.name = "token-ring",
                                    .binary = "token_ring",
                                    .work = 2000,
                                    .done = token_may_stop,
                                    .judge = token_judge,
                                    .progress = token_progress};
