/* chaos.h - mlog chaos: a group of real processes, SIGKILLed and restarted;
 * what an application brings to it */
#ifndef MLOG_TOOLS_CHAOS_H
#define MLOG_TOOLS_CHAOS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * mlog chaos runs an application's members as separate processes over
 * ZeroMQ. A member is the application's program started as
 *
 *   APP --member ID --group FILE --dir DIR --protocol P --seed S
 *       --work W --stall-ms MS [--durable] [--koo-toueg]
 *
 * (DIR is the member's own log directory). It opens its process (which is
 * recovery after a restart), runs until SIGTERM, closes and exits 0. On
 * stdout, one line at a time, it tells the harness:
 *
 *   ready US MS         its open returned and its recovery is over (US:
 *                       how long it took, MS: how long of it its callbacks
 *                       lingered on purpose, see below)
 *   status K=V K=V ...  its progress (integers), every 50 ms and at exit
 *   ckpt                its snapshot callback began: a checkpoint is being
 *                       taken (the callback then sleeps MS ms, so that a kill
 *                       can land inside)
 *   restore             its restore callback began (recovery; it sleeps
 *                       MS ms too)
 *   out SEQ TEXT        an output released (the app's output callback)
 *
 * The harness knows each application it can run by a chaos_app: when the
 * run may stop, and the verdict on the members' last statuses and outputs.
 */

#define CHAOS_MAX_PROCS 16
#define CHAOS_MAX_KEYS 12

/* One output a member released: (member, seq) names it; an output emitted
 * again after a crash must repeat the same text. */
typedef struct chaos_output {
  uint32_t member;
  uint64_t seq;
  char *text;
} chaos_output;

/* What the harness knows about a run (read-only for the applications). */
typedef struct chaos_view {
  uint32_t procs;
  uint64_t work; /* --work */
  bool killing;  /* kills are still to come */
  /* Each member's last status line: keys[i][k] = vals[i][k], k < n_keys[i]. */
  char keys[CHAOS_MAX_PROCS][CHAOS_MAX_KEYS][16];
  int64_t vals[CHAOS_MAX_PROCS][CHAOS_MAX_KEYS];
  uint32_t n_keys[CHAOS_MAX_PROCS];
  bool ready[CHAOS_MAX_PROCS];
  chaos_output *outputs; /* each (member, seq) once, in arrival order */
  size_t n_outputs;
} chaos_view;

/* The value of `key` in member i's last status (0 when absent). */
int64_t chaos_status(const chaos_view *v, uint32_t i, const char *key);

/* The sum of `key` over every member's last status. */
int64_t chaos_sum(const chaos_view *v, const char *key);

/* Milliseconds of the monotonic clock. */
uint64_t chaos_now_ms(void);

typedef struct chaos_app {
  const char *name;   /* --app NAME */
  const char *binary; /* the program, found beside mlog in ../examples/ */
  uint64_t work;      /* the default of --work */
  /* May the run stop? (Called after the kills, while every member is
   * ready: true once the application's work is done.) */
  bool (*done)(const chaos_view *v);
  /* The verdict after the members stopped: add the application's keys to
   * `json` and, unless json output was asked for, a few lines to `text`
   * (NULL then). Returns whether the application's invariants hold. */
  bool (*judge)(const chaos_view *v, json_t *json, FILE *text);
  /* Progress so far in a few words ("1,234 transfers applied"), printed
   * every second of a run without --json. */
  void (*progress)(const chaos_view *v, char *out, size_t cap);
} chaos_app;

extern const chaos_app chaos_bank;
extern const chaos_app chaos_token_ring;

#endif /* MLOG_TOOLS_CHAOS_H */
