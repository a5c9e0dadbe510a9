/* token_ring.c - a token passed around a ring of real processes, with
 * Chandy-Lamport snapshots taken by the application; a member of mlog chaos */
#include <stdint.h>

#include "member.h"

/*
 * `token_ring --member I --group FILE ...` (the command line of tools/chaos.h)
 * is member I of a ring of N processes over ZeroMQ. A token goes round the
 * ring 0 -> 1 -> ... -> N-1 -> 0 carrying its hop count; each member that
 * receives it passes it on with the count plus one, until the member that
 * receives hop W (--work) keeps it.
 *
 * Everything that changes the state happens in the deliver callback, which
 * recovery replays, except the token's very first hop: member 0's initial
 * state holds the token, and member 0 sends hop 1 from its main loop (an
 * input from outside, a spontaneous send) and then sets `started`. That
 * state change is outside any handler, so a crash after the send and before
 * the next checkpoint recovers a state that still holds the unsent token.
 * The logging protocols log the spontaneous send before it leaves and
 * replay sends it again with its ssn (the receiver drops it as already
 * delivered), and then the main loop, seeing `started` unset, sends hop 1 a
 * second time: a new message with the next ssn. So member 1 makes the first
 * hop idempotent: its state remembers that hop 1 arrived (`got_first`, set
 * by the handler, hence recovered by every protocol) and it drops any later
 * hop 1 without passing it on or recording it in a snapshot. There can
 * never be a second token: a repeated hop 1 dies at member 1, and member 0
 * can send one only while it has delivered no token since its start (a
 * delivered token sets `started` in the handler, so replay restores it).
 * Under `coordinated` nothing is replayed: the whole group rolls back to a
 * consistent snapshot, where member 0's `started` agrees with whether hop 1
 * was sent (checkpoints are taken in the poll, never between the send and
 * the flag), and messages sent after it are undone. (Under `none` and
 * Koo-Toueg the line is consistent too and senders keep each message until
 * its receiver's checkpoint covers it, so the token survives; but `none`
 * releases outputs at once, so a rollback can undo a snapshot already
 * reported, and chaos says so.)
 *
 * Snapshots are Chandy-Lamport at the application level, over the complete
 * graph of channels. Member 0 starts snapshot k at every second visit of
 * the token (every 2N hops): it records its state and sends a marker to
 * every other member; for odd k it does so before passing the token on
 * (the token is recorded in p0's state), for even k after (the token is
 * recorded in a channel). A member taking its first marker of k records its
 * state and sends its own markers; then, until the marker of k came on a
 * channel, each token it receives on that channel is recorded as k's
 * channel state. When every other member's marker has come, its part of k
 * is complete and it emits "snap K token=T chan=C src=S hop=H" through
 * mlog_output (T tokens in its state, C in its incoming channels, S the
 * channel of the last of those or -1, H the recorded token's hop count or
 * 0): an output leaves only once it can never be rolled back. Summed over
 * the members, T + C must be 1 for every snapshot.
 *
 * The algorithm needs FIFO channels. mlog gives them: the delivery layer
 * takes from each channel (src, dst) only the frame with the next ssn
 * (core/delivery.c drops a duplicate and waits for a resend to fill a
 * gap), deliveries run in that order, and recovery replays them in rsn
 * order (sender-based recovery takes each channel's answers in ssn order),
 * so a marker is delivered after every token sent before it on its channel
 * and before every token sent after it.
 *
 * Several snapshots may be in progress at once, at most MAX_ACTIVE at any
 * member. Since member 0 starts them in order and every member relays
 * markers in the order it started them, every member starts snapshots in
 * increasing k, and (FIFO) completes them in that order too. So each other
 * member tells member 0 the snapshots it completes (DONE k), and member 0
 * starts k only when every member has completed every snapshot up to
 * k - MAX_ACTIVE: then no member ever has more than MAX_ACTIVE in progress.
 * (A slow channel slows the snapshots down instead.) Should a member still
 * find its table full, which takes a lost message (`none`), it gives up
 * its oldest snapshot (`abandoned`: never reported, so never judged). A
 * marker of k at most `latest` with no slot belongs to a snapshot
 * completed or given up here and changes nothing.
 */

#define MAX_MEMBERS 16        /* the markers' bitmask; chaos runs <= 16 */
#define MAX_ACTIVE 8          /* snapshots in progress at one member */
#define VISITS_PER_SNAPSHOT 2 /* member 0: one snapshot per 2 rounds */
#define STATUS_MS 50          /* the status line's period */
#define STATE_MAGIC 0x31474e4952544bull /* "KTRING1" as le64 bytes */

enum { MSG_TOKEN = 1, MSG_MARKER = 2, MSG_DONE = 3 };
#define MSG_BYTES 16 /* kind, then hop count or snapshot: two le64 */

/* This member's part of one snapshot. */
typedef struct local_snap {
  uint64_t k;        /* the snapshot; 0: a free slot */
  uint64_t markers;  /* bit j: j's marker came (channel j->here done) */
  uint64_t token;    /* tokens in the recorded state: 0 or 1 */
  uint64_t chan;     /* tokens recorded in the incoming channels */
  uint64_t chan_src; /* the channel of the last of those */
  uint64_t hop;      /* the recorded token's hop count (0: none) */
} local_snap;

#define SNAP_WORDS 6

typedef struct ring {
  /* The configuration: the same at every start of the member. */
  const member_opts *opts; /* --stall-ms */
  uint32_t id, n;
  uint64_t work;
  /* The state, snapshotted and restored whole. */
  uint64_t holding;   /* the token is here */
  uint64_t hop;       /* its hop count when it was last here */
  uint64_t started;   /* member 0: hop 1 has been sent */
  uint64_t got_first; /* member 1: hop 1 arrived */
  uint64_t visits;    /* tokens delivered here */
  uint64_t dropped;   /* member 1: repeated hops 1 dropped */
  uint64_t latest;    /* the newest snapshot started here */
  uint64_t snaps;     /* parts of snapshots completed here (outputs) */
  uint64_t abandoned; /* snapshots given up to bound the table */
  local_snap active[MAX_ACTIVE];
  /* Member 0: the newest snapshot each member said it completed. */
  uint64_t done_upto[MAX_MEMBERS];
} ring;

#define HEAD_WORDS 11 /* magic, configuration, then the 9 counters */
#define STATE_WORDS (HEAD_WORDS + MAX_ACTIVE * SNAP_WORDS + MAX_MEMBERS)

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

static void put_le64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)b[i] << (8 * i);
  return v;
}

static int send_msg(mlog_proc *p, uint32_t dst, uint32_t kind, uint64_t value) {
  uint8_t buf[MSG_BYTES];
  put_le64(buf, kind);
  put_le64(buf + 8, value);
  return mlog_send(p, dst, buf, sizeof buf);
}

/* Nonzero for anything this ring does not send. */
static int decode_msg(const void *msg, size_t len, uint32_t *kind,
                      uint64_t *value) {
  if (len != MSG_BYTES)
    return 1;
  uint64_t head = get_le64(msg);
  if (head != MSG_TOKEN && head != MSG_MARKER && head != MSG_DONE)
    return 1;
  *kind = (uint32_t)head;
  *value = get_le64((const uint8_t *)msg + 8);
  return 0;
}

static uint32_t next_member(const ring *r) {
  return (r->id + 1) % r->n;
}

static uint32_t prev_member(const ring *r) {
  return (r->id + r->n - 1) % r->n;
}

/* The markers a part of a snapshot waits for: every other member's. */
static uint64_t others_mask(const ring *r) {
  return ((UINT64_C(1) << r->n) - 1) & ~(UINT64_C(1) << r->id);
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

static local_snap *find_snap(ring *r, uint64_t k) {
  for (int i = 0; i < MAX_ACTIVE; i++)
    if (r->active[i].k == k)
      return &r->active[i];
  return NULL;
}

static int count_active(const ring *r) {
  int n = 0;
  for (int i = 0; i < MAX_ACTIVE; i++)
    n += r->active[i].k != 0;
  return n;
}

/* A free slot, or the oldest snapshot's, given up (the table is bounded). */
static local_snap *take_slot(ring *r) {
  local_snap *oldest = &r->active[0];
  for (int i = 0; i < MAX_ACTIVE; i++) {
    if (r->active[i].k == 0)
      return &r->active[i];
    if (r->active[i].k < oldest->k)
      oldest = &r->active[i];
  }
  r->abandoned++;
  return oldest;
}

/* Record this member's state for snapshot k and send its markers. */
static int start_snapshot(ring *r, mlog_proc *p, uint64_t k, local_snap **out) {
  local_snap *s = take_slot(r);
  *s =
      (local_snap){.k = k, .token = r->holding, .hop = r->holding ? r->hop : 0};
  r->latest = k;
  *out = s;
  for (uint32_t j = 0; j < r->n; j++)
    if (j != r->id && send_msg(p, j, MSG_MARKER, k) != MLOG_OK)
      return 20;
  return 0;
}

/* Once every channel's marker came, report this part of the snapshot. */
static int finish_if_complete(ring *r, mlog_proc *p, local_snap *s) {
  if (s->markers != others_mask(r))
    return 0;
  char text[128];
  int len = snprintf(
      text, sizeof text, "snap %llu token=%llu chan=%llu src=%lld hop=%llu",
      (unsigned long long)s->k, (unsigned long long)s->token,
      (unsigned long long)s->chan, s->chan ? (long long)s->chan_src : -1LL,
      (unsigned long long)s->hop);
  uint64_t k = s->k;
  *s = (local_snap){0};
  r->snaps++;
  if (mlog_output(p, text, (size_t)len) != MLOG_OK)
    return 21;
  if (r->id != 0 && send_msg(p, 0, MSG_DONE, k) != MLOG_OK)
    return 22;
  return 0;
}

/* A token taken from channel src belongs to the channel state of every
 * snapshot recorded here whose marker has not come on that channel. */
static void record_in_channels(ring *r, uint32_t src, uint64_t hop) {
  for (int i = 0; i < MAX_ACTIVE; i++) {
    local_snap *s = &r->active[i];
    if (s->k != 0 && !(s->markers & (UINT64_C(1) << src))) {
      s->chan++;
      s->chan_src = src;
      s->hop = hop;
    }
  }
}

static int on_marker(ring *r, mlog_proc *p, uint32_t src, uint64_t k) {
  if (k == 0)
    return 30;
  local_snap *s = find_snap(r, k);
  if (s == NULL && k <= r->latest)
    return 0; /* completed or abandoned here: a late marker */
  if (s == NULL) {
    int rc = start_snapshot(r, p, k, &s);
    if (rc != 0)
      return rc;
  }
  s->markers |= UINT64_C(1) << src;
  return finish_if_complete(r, p, s);
}

/* Member 0: member src completed its part of snapshot k (in order). A
 * snapshot this state never started can only come from a rollback the
 * others did not follow (`none`): it tells nothing, it is ignored. */
static int on_done(ring *r, uint32_t src, uint64_t k) {
  if (r->id != 0 || k == 0)
    return 31;
  if (k <= r->latest && k > r->done_upto[src])
    r->done_upto[src] = k;
  return 0;
}

/* May member 0 start snapshot k? Only when no member can have more than
 * MAX_ACTIVE in progress with it. */
static bool may_start(const ring *r, uint64_t k) {
  if (count_active(r) >= MAX_ACTIVE)
    return false;
  for (uint32_t j = 1; j < r->n; j++)
    if (k - r->done_upto[j] > MAX_ACTIVE)
      return false;
  return true;
}

/* ------------------------------------------------------------------------ */
/* The token                                                                */

static int pass_token(ring *r, mlog_proc *p) {
  if (send_msg(p, next_member(r), MSG_TOKEN, r->hop + 1) != MLOG_OK)
    return 40;
  r->holding = 0;
  return 0;
}

/* Member 0 holds the token: at every second visit it starts a snapshot,
 * recording its state before passing the token on for odd k (the token is
 * recorded in p0) and after for even k (it is recorded in a channel, or in
 * the member that keeps it at the end). */
static int visit_member0(ring *r, mlog_proc *p) {
  r->started = 1; /* a token came back: hop 1 was sent */
  if (r->hop == r->work)
    return 0; /* the last hop: it stays here */
  uint64_t k = r->latest + 1;
  if (r->visits % VISITS_PER_SNAPSHOT != 0 || !may_start(r, k))
    return pass_token(r, p);
  local_snap *s;
  int rc;
  if (k % 2 == 0) {
    rc = pass_token(r, p);
    return rc != 0 ? rc : start_snapshot(r, p, k, &s);
  }
  rc = start_snapshot(r, p, k, &s);
  return rc != 0 ? rc : pass_token(r, p);
}

static int on_token(ring *r, mlog_proc *p, uint32_t src, uint64_t hop) {
  if (src != prev_member(r) || hop == 0 || hop > r->work)
    return 50;                    /* not a token of this ring */
  if (hop == 1 && r->got_first) { /* member 0's start, sent again */
    r->dropped++;
    return 0;
  }
  r->got_first |= hop == 1;
  record_in_channels(r, src, hop);
  r->holding = 1;
  r->hop = hop;
  r->visits++;
  if (r->id == 0)
    return visit_member0(r, p);
  return hop < r->work ? pass_token(r, p) : 0;
}

static int deliver(void *app, mlog_proc *p, uint32_t src, const void *msg,
                   size_t len) {
  ring *r = app;
  uint32_t kind;
  uint64_t value;
  if (decode_msg(msg, len, &kind, &value) != 0)
    return 1;
  if (kind == MSG_TOKEN)
    return on_token(r, p, src, value);
  if (kind == MSG_MARKER)
    return on_marker(r, p, src, value);
  return on_done(r, src, value);
}

/* ------------------------------------------------------------------------ */
/* The state: a fixed array of little-endian words                          */

/* The state's words after the magic and the configuration, in order. */
static void state_fields(ring *r, uint64_t *f[STATE_WORDS - 2]) {
  uint64_t *head[] = {&r->holding,   &r->hop,    &r->started,
                      &r->got_first, &r->visits, &r->dropped,
                      &r->latest,    &r->snaps,  &r->abandoned};
  _Static_assert(sizeof head / sizeof head[0] == HEAD_WORDS - 2,
                 "HEAD_WORDS counts the magic, the configuration and these");
  size_t n = 0;
  for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
    f[n++] = head[i];
  for (int i = 0; i < MAX_ACTIVE; i++) {
    local_snap *s = &r->active[i];
    uint64_t *words[SNAP_WORDS] = {&s->k,    &s->markers,  &s->token,
                                   &s->chan, &s->chan_src, &s->hop};
    for (int w = 0; w < SNAP_WORDS; w++)
      f[n++] = words[w];
  }
  for (int j = 0; j < MAX_MEMBERS; j++)
    f[n++] = &r->done_upto[j];
}

static uint64_t config_word(const ring *r) {
  return (uint64_t)r->n << 32 | r->id;
}

static int snapshot(void *app, mlog_buf *out) {
  ring *r = app;
  member_stall(r->opts, "ckpt"); /* a kill may land inside it */
  uint8_t buf[STATE_WORDS * 8];
  uint64_t *f[STATE_WORDS - 2];
  state_fields(r, f);
  put_le64(buf, STATE_MAGIC);
  put_le64(buf + 8, config_word(r));
  for (size_t i = 0; i < STATE_WORDS - 2; i++)
    put_le64(buf + 8 * (i + 2), *f[i]);
  return mlog_buf_append(out, buf, sizeof buf);
}

/* Is a part of a snapshot one this member could have made? */
static bool valid_snap(const ring *r, const local_snap *s) {
  if (s->k == 0)
    return s->markers == 0 && s->token == 0 && s->chan == 0 &&
           s->chan_src == 0 && s->hop == 0;
  return s->k <= r->latest && (s->markers & ~others_mask(r)) == 0 &&
         s->markers != others_mask(r) && s->token <= 1 && s->chan_src < r->n &&
         s->hop <= r->work;
}

static bool valid_state(const ring *r) {
  if (r->holding > 1 || r->started > 1 || r->got_first > 1 || r->hop > r->work)
    return false;
  for (uint32_t j = 0; j < MAX_MEMBERS; j++)
    if (r->done_upto[j] > (r->id == 0 && j > 0 && j < r->n ? r->latest : 0))
      return false;
  for (int i = 0; i < MAX_ACTIVE; i++) {
    if (!valid_snap(r, &r->active[i]))
      return false;
    for (int j = 0; j < i && r->active[i].k != 0; j++)
      if (r->active[j].k == r->active[i].k)
        return false;
  }
  return true;
}

/* The initial state: member 0 holds the token, not yet started. */
static void initial_state(ring *r) {
  ring fresh = {.opts = r->opts,
                .id = r->id,
                .n = r->n,
                .work = r->work,
                .holding = r->id == 0};
  *r = fresh;
}

/* Replace the state by a snapshot's; a malformed one (another member's, a
 * different format, values this member could not have made) is refused
 * and the state left as it was. */
static int restore(void *app, const void *state, size_t len) {
  ring *r = app;
  member_stall(r->opts, "restore"); /* a kill may land inside it */
  if (state == NULL) {
    initial_state(r);
    return 0;
  }
  const uint8_t *b = state;
  if (len != STATE_WORDS * 8 || get_le64(b) != STATE_MAGIC ||
      get_le64(b + 8) != config_word(r))
    return 1;
  ring next = *r;
  uint64_t *f[STATE_WORDS - 2];
  state_fields(&next, f);
  for (size_t i = 0; i < STATE_WORDS - 2; i++)
    *f[i] = get_le64(b + 8 * (i + 2));
  if (!valid_state(&next))
    return 1;
  *r = next;
  return 0;
}

static void output(void *app, uint64_t seq, const void *buf, size_t len) {
  (void)app;
  member_say("out %llu %.*s", (unsigned long long)seq, (int)len,
             (const char *)buf);
}

static const mlog_app ring_app = {.deliver = deliver,
                                  .snapshot = snapshot,
                                  .restore = restore,
                                  .output = output};

/* ------------------------------------------------------------------------ */
/* The member                                                               */

/* The status line; lostmsgs: messages this incarnation's rollbacks found
 * nobody can send again (`none`, Koo-Toueg), which may be the token. */
static void report(const ring *r, mlog_proc *p) {
  mlog_proc_stats st;
  mlog_proc_get_stats(p, &st);
  member_say("status hops=%llu snaps=%llu token=%llu visits=%llu "
             "dropped=%llu abandoned=%llu latest=%llu lostmsgs=%llu",
             (unsigned long long)r->hop, (unsigned long long)r->snaps,
             (unsigned long long)r->holding, (unsigned long long)r->visits,
             (unsigned long long)r->dropped, (unsigned long long)r->abandoned,
             (unsigned long long)r->latest,
             (unsigned long long)st.lost_messages);
}

/* Member 0's start: hop 1, a spontaneous send (see the top). Sends are
 * refused while a recovery or a rollback round is under way: later. */
static int start_token(ring *r, mlog_proc *p) {
  if (r->id != 0 || r->started || !r->holding)
    return MLOG_OK;
  int rc = send_msg(p, next_member(r), MSG_TOKEN, 1);
  if (rc == MLOG_EAGAIN)
    return MLOG_OK;
  if (rc == MLOG_OK) {
    r->started = 1;
    r->holding = 0;
  }
  return rc;
}

/* Poll until SIGTERM; 0, or 4 when the process fails. */
static int run(ring *r, mlog_proc *p) {
  int rc = 0;
  for (uint64_t last = 0; !member_stopping && rc == 0;) {
    if (mlog_proc_poll(p, 10) < 0 || start_token(r, p) != MLOG_OK) {
      fprintf(stderr, "token_ring: member %u: %s\n", r->id,
              mlog_proc_errmsg(p));
      rc = 4;
    }
    if (member_now_ms() - last >= STATUS_MS) {
      report(r, p);
      last = member_now_ms();
    }
  }
  report(r, p);
  return rc;
}

static const char usage[] =
    "usage: token_ring [--procs N] [--protocol P] [--hops W] [--kills K]\n"
    "                  [--seed S] [--duration SECONDS] [--dir DIR] [--json]\n"
    "                  [--durable] [--koo-toueg]\n"
    "A token hops W times (default 2000) round a ring of N processes\n"
    "(default 4) over ZeroMQ; member 0 takes Chandy-Lamport snapshots as it\n"
    "moves and each prints where the token was recorded (in a process or in\n"
    "a channel); K SIGKILLs (default 1) hit random members, which restart\n"
    "and recover. Runs 'mlog chaos --app token-ring' (found in ../bin/\n"
    "beside this program). Exit 0 when every snapshot holds exactly one\n"
    "token. (As a member: token_ring --member ID --group FILE --dir DIR\n"
    "--protocol P --work W ..., the command line of tools/chaos.h.)\n";

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--member") != 0) {
    static const char *const renames[] = {"--hops", "--work", NULL};
    return member_run_chaos(argc, argv, "token-ring", renames, usage);
  }
  member_opts o;
  if (!member_parse(argc, argv, &o) || o.work == 0 || o.work > UINT32_MAX) {
    fputs(usage, stderr);
    return 2;
  }
  mlog_group g;
  member_group(&o, "token_ring", &g);
  if (g.size < 2 || g.size > MAX_MEMBERS) {
    fprintf(stderr, "token_ring: a ring of 2 to %d members, not %u\n",
            MAX_MEMBERS, g.size);
    mlog_group_free(&g);
    return 2;
  }
  ring r = {.opts = &o, .id = o.id, .n = g.size, .work = o.work};
  mlog_proc *p = member_open(&o, "token_ring", &ring_app, &r, &g);
  int rc = run(&r, p);
  mlog_proc_close(p);
  mlog_group_free(&g);
  return rc;
}
