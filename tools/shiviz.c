/* shiviz.c - mlog diagram --shiviz: a trace as a ShiViz log (vector clocks
 * computed from the trace, events in an order consistent with causality) */
#include <stdlib.h>
#include <string.h>

#include "shiviz.h"
#include "tool.h"

static int by_column(const void *a, const void *b) {
  const shiviz_event *x = a, *y = b;
  if (x->col != y->col)
    return x->col < y->col ? -1 : 1;
  return x->proc < y->proc ? -1 : x->proc > y->proc;
}

/* calloc(n * m, size), NULL when the product overflows. */
static void *calloc_2d(size_t n, size_t m, size_t size) {
  if (n == 0 || m == 0)
    return calloc(1, size);
  return n <= SIZE_MAX / size / m ? calloc(n * m, size) : NULL;
}

int shiviz_prepare(shiviz *s, const trace *t, uint64_t *const *col) {
  *s = (shiviz){.t = t};
  for (uint32_t p = 0; p < t->n_procs; p++)
    s->n += t->procs[p].n_events;
  s->order = calloc(s->n > 0 ? s->n : 1, sizeof *s->order);
  s->clock = calloc_2d(t->n_procs, t->n_procs, sizeof *s->clock);
  s->sent = calloc_2d(t->n_msgs, t->n_procs, sizeof *s->sent);
  s->sent_done = calloc(t->n_msgs > 0 ? t->n_msgs : 1, 1);
  if (s->order == NULL || s->clock == NULL || s->sent == NULL ||
      s->sent_done == NULL)
    return trace_out_of_memory(t);
  size_t i = 0;
  for (uint32_t p = 0; p < t->n_procs; p++)
    for (uint64_t k = 0; k < t->procs[p].n_events; k++)
      s->order[i++] = (shiviz_event){.col = col[p][k], .proc = p, .k = k};
  qsort(s->order, s->n, sizeof *s->order, by_column);
  return TOOL_OK;
}

void shiviz_free(shiviz *s) {
  free(s->order);
  free(s->clock);
  free(s->sent);
  free(s->sent_done);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

/* The length of the UTF-8 sequence at c that a JavaScript regular
 * expression takes for white space or a line end (\s, not '.'), or a C1
 * control character; 0 for other characters. */
static size_t unicode_space(const unsigned char *c) {
  if (c[0] == 0xC2 && (c[1] <= 0x9F || c[1] == 0xA0))
    return c[1] >= 0x80 ? 2 : 0; /* U+0080..U+009F, U+00A0 */
  if (c[0] == 0xE1 && c[1] == 0x9A && c[2] == 0x80)
    return 3; /* U+1680 */
  if (c[0] == 0xE2 && c[1] == 0x80 &&
      (c[2] <= 0x8A || c[2] == 0xA8 || c[2] == 0xA9 || c[2] == 0xAF))
    return c[2] >= 0x80 ? 3 : 0; /* U+2000..U+200A, U+2028, U+2029, U+202F */
  if ((c[0] == 0xE2 && c[1] == 0x81 && c[2] == 0x9F) ||
      (c[0] == 0xE3 && c[1] == 0x80 && c[2] == 0x80) ||
      (c[0] == 0xEF && c[1] == 0xBB && c[2] == 0xBF))
    return 3; /* U+205F, U+3000, U+FEFF */
  return 0;
}

/* Write a name (process, message, checkpoint) without white space or
 * control characters, so that it fits one line and `\S+`: those and '%'
 * as %XX (UTF-8 bytes). In a JSON string, '"' and '\' escaped too. */
static void put_name(FILE *f, const char *s, bool json) {
  for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
    size_t n = unicode_space(c);
    if (n == 0 && (*c <= 0x20 || *c == 0x7F || *c == '%'))
      n = 1;
    for (size_t i = 0; i < n; i++)
      fprintf(f, "%%%02X", c[i]);
    if (n > 0) {
      c += n - 1;
      continue;
    }
    if (json && (*c == '"' || *c == '\\'))
      fputc('\\', f);
    fputc(*c, f);
  }
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                    */

/* {"P":n,...}: the nonzero entries, in the order of "processes". */
static void put_clock(FILE *f, const shiviz *s, const uint64_t *c) {
  fputc('{', f);
  for (uint32_t q = 0, n = 0; q < s->t->n_procs; q++)
    if (c[q] != 0) {
      fputs(n++ > 0 ? ",\"" : "\"", f);
      put_name(f, s->t->procs[q].name, true);
      fprintf(f, "\":%llu", (unsigned long long)c[q]);
    }
  fputc('}', f);
}

/* Advance the clock of process p for its event ev: its own entry, then for
 * a receive whose send is written the componentwise max with the send's
 * clock; a send's clock is kept for its receive. False for a receive
 * written before its send (a causality cycle): not linked to it. */
static bool tick(shiviz *s, uint32_t p, const trace_event *ev) {
  uint32_t n = s->t->n_procs;
  uint64_t *c = s->clock + (size_t)p * n;
  c[p]++;
  if (ev->kind == TRACE_SEND) {
    memcpy(s->sent + ev->index * n, c, n * sizeof *c);
    s->sent_done[ev->index] = 1;
  } else if (ev->kind == TRACE_RECV) {
    if (!s->sent_done[ev->index])
      return false;
    const uint64_t *sc = s->sent + ev->index * n;
    for (uint32_t q = 0; q < n; q++)
      c[q] = sc[q] > c[q] ? sc[q] : c[q];
  }
  return true;
}

/* "checkpoint NAME", "send ID to P", "recv ID from P[ (cycle...)]". */
static void put_event(FILE *f, const shiviz *s, uint32_t p,
                      const trace_event *ev, bool linked) {
  const trace *t = s->t;
  if (ev->kind == TRACE_CHECKPOINT) {
    fputs("checkpoint ", f);
    put_name(f, t->procs[p].ckpt_name[ev->index], false);
    return;
  }
  const mlogi_rl_message *m = &t->rl_msgs[ev->index];
  char buf[TRACE_ID_MAX];
  fputs(ev->kind == TRACE_SEND ? "send " : "recv ", f);
  put_name(f, trace_msg_id(t, ev->index, buf), false);
  fputs(ev->kind == TRACE_SEND ? " to " : " from ", f);
  put_name(f, t->procs[ev->kind == TRACE_SEND ? m->receiver : m->sender].name,
           false);
  if (!linked)
    fputs(" (causality cycle: written before its send, not linked)", f);
}

void shiviz_write(FILE *f, void *arg) {
  shiviz *s = arg;
  fputs(SHIVIZ_REGEX "\n\n", f);
  for (size_t i = 0; i < s->n; i++) {
    uint32_t p = s->order[i].proc;
    const trace_event *ev = &s->t->procs[p].events[s->order[i].k];
    bool linked = tick(s, p, ev);
    put_name(f, s->t->procs[p].name, false);
    fputc(' ', f);
    put_clock(f, s, s->clock + (size_t)p * s->t->n_procs);
    fputc(' ', f);
    put_event(f, s, p, ev, linked);
    fputc('\n', f);
  }
}
