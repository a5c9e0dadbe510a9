/* diagram.c - mlog diagram: the space-time diagram of a trace (or of the
 * logs of a group) as SVG, with the recovery line, orphan and lost messages
 * after failures; and the trace as a ShiViz log (shiviz.c) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logtrace.h"
#include "shiviz.h"
#include "tool.h"
#include "trace.h"

static const char usage[] =
    "usage: mlog diagram [--failed P[,Q...]] --trace FILE [-o OUT.svg]\n"
    "                    [--shiviz OUT.log]\n"
    "       mlog diagram [--failed P[,Q...]] [--key FILE] DIR...\n"
    "                    [-o OUT.svg] [--shiviz OUT.log]\n"
    "\n"
    "Draw the space-time diagram of a trace (the JSON trace of 'mlog\n"
    "analyze', or the logs of a group, one DIR per process, read as 'mlog\n"
    "analyze' reads them) as an SVG file: one horizontal line per process,\n"
    "time flowing left to right, messages as arrows from their send to their\n"
    "receive (dashed to the right edge: never received), checkpoints as\n"
    "boxes.\n"
    "With --failed, also the recovery line after the processes P, Q...\n"
    "failed (dashed, purple), the orphan messages (red) and the lost\n"
    "messages (orange), as 'mlog analyze' finds them, and the checkpoints\n"
    "rolled back past (grey).\n"
    "With --shiviz, also (or instead) the trace as a ShiViz log: one line\n"
    "'HOST {VECTOR CLOCK} EVENT' per event, causes before effects, after\n"
    "the regular expression to give ShiViz and an empty line (ShiViz reads\n"
    "them from an uploaded file). At least one of -o and --shiviz.\n"
    "\n"
    "options:\n"
    "  -f, --failed LIST  the failed processes, separated by commas\n"
    "  -t, --trace FILE   the trace\n"
    "  -k, --key FILE     the log key (keyed logs)\n"
    "  -o, --output FILE  the SVG file to write (replaced atomically)\n"
    "      --shiviz FILE  the ShiViz log to write (replaced atomically)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 written, 2 usage error (also: a key file that cannot be\n"
    "read or is not 32 bytes), 3 the trace or a log could not be read or is\n"
    "not valid, or the output could not be written.\n";

/* Colours and marks (docs/cli.md, "mlog diagram"). */
#define INK "#222222"
#define MESSAGE_COLOUR "#555555"
#define ORPHAN_COLOUR "#d62728"
#define LOST_COLOUR "#ff7f0e"
#define LINE_COLOUR "#9467bd"
#define ROLLED_BACK_FILL "#d9d9d9"
#define FAILED_COLOUR "#d62728"

/* Layout: pixels. */
#define NAME_FONT 14.0      /* process names */
#define NAME_CHAR_WIDTH 8.5 /* a generous average at NAME_FONT */
#define ROW_HEIGHT 80.0
#define TOP 60.0
#define LEGEND_ROW 20.0
#define LEGEND_WIDTH 560.0

typedef enum msg_class {
  MSG_NORMAL,
  MSG_TRANSIT,
  MSG_ORPHAN,
  MSG_LOST,
} msg_class;

static const char *const class_name[] = {"normal", "transit", "orphan", "lost"};
static const char *const class_colour[] = {MESSAGE_COLOUR, MESSAGE_COLOUR,
                                           ORPHAN_COLOUR, LOST_COLOUR};

/* A trace laid out for drawing. */
typedef struct diagram {
  const trace *t;
  const mlogi_rl_result *res; /* NULL without --failed */
  uint64_t *cols;             /* every event's column, process by process */
  uint64_t **col;             /* [proc][event] into cols */
  uint64_t n_cols;
  msg_class *msg_class; /* [n_msgs] */
  double left, dx, x_end, small_font, width, height, legend_top;
} diagram;

static void diagram_free(diagram *d) {
  free(d->cols);
  free(d->col);
  free(d->msg_class);
}

/* ------------------------------------------------------------------------ */
/* Columns: a topological order that puts every receive after its send     */

/* The column of event next[p] of process p, in *c: after the process's
 * previous event and after the send of what it receives. False when that
 * send is not placed yet. */
static bool earliest_column(const diagram *d, const uint64_t *next, uint32_t p,
                            uint64_t *c) {
  uint64_t k = next[p];
  *c = k > 0 ? d->col[p][k - 1] + 1 : 0;
  const trace_event *ev = &d->t->procs[p].events[k];
  if (ev->kind != TRACE_RECV)
    return true;
  const mlogi_rl_message *m = &d->t->rl_msgs[ev->index];
  if (next[m->sender] <= m->send_at)
    return false;
  uint64_t after_send = d->col[m->sender][m->send_at] + 1;
  if (after_send > *c)
    *c = after_send;
  return true;
}

/* Place the events of process p that can be placed now; returns how many. */
static size_t advance(diagram *d, uint64_t *next, uint32_t p) {
  size_t placed = 0;
  uint64_t c;
  while (next[p] < d->t->procs[p].n_events && earliest_column(d, next, p, &c)) {
    d->col[p][next[p]++] = c;
    placed++;
  }
  return placed;
}

/* Every process waits for a send that comes after its own next event: a
 * causality cycle (analyze does not refuse them). Place the blocked
 * receive listed first without waiting for its send: its arrow points
 * back. */
static void break_cycle(diagram *d, uint64_t *next) {
  uint32_t first = 0;
  size_t first_event = SIZE_MAX;
  for (uint32_t p = 0; p < d->t->n_procs; p++) {
    const trace_proc *pr = &d->t->procs[p];
    if (next[p] < pr->n_events && pr->events[next[p]].event < first_event) {
      first = p;
      first_event = pr->events[next[p]].event;
    }
  }
  uint64_t k = next[first]++;
  d->col[first][k] = k > 0 ? d->col[first][k - 1] + 1 : 0;
}

static int place_events(diagram *d) {
  const trace *t = d->t;
  size_t total = 0;
  for (uint32_t p = 0; p < t->n_procs; p++)
    total += t->procs[p].n_events;
  d->cols = calloc(total > 0 ? total : 1, sizeof *d->cols);
  d->col = calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *d->col);
  uint64_t *next = calloc(t->n_procs > 0 ? t->n_procs : 1, sizeof *next);
  if (d->cols == NULL || d->col == NULL || next == NULL) {
    free(next);
    return trace_out_of_memory(t);
  }
  for (uint32_t p = 0, at = 0; p < t->n_procs; at += t->procs[p++].n_events)
    d->col[p] = d->cols + at;
  for (size_t unplaced = total; unplaced > 0;) {
    size_t placed = 0;
    for (uint32_t p = 0; p < t->n_procs; p++)
      placed += advance(d, next, p);
    if (placed == 0) {
      break_cycle(d, next);
      placed = 1;
    }
    unplaced -= placed;
  }
  free(next);
  for (size_t i = 0; i < total; i++)
    if (d->cols[i] + 1 > d->n_cols)
      d->n_cols = d->cols[i] + 1;
  return TOOL_OK;
}

/* ------------------------------------------------------------------------ */
/* Layout                                                                   */

static double clamp(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* The characters (not bytes) of a UTF-8 string. */
static size_t utf8_length(const char *s) {
  size_t n = 0;
  for (; *s != '\0'; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int classify_messages(diagram *d) {
  const trace *t = d->t;
  d->msg_class = calloc(t->n_msgs > 0 ? t->n_msgs : 1, sizeof *d->msg_class);
  if (d->msg_class == NULL)
    return trace_out_of_memory(t);
  for (size_t m = 0; m < t->n_msgs; m++)
    d->msg_class[m] = trace_msg_received(t, m) ? MSG_NORMAL : MSG_TRANSIT;
  if (d->res == NULL)
    return TOOL_OK;
  for (size_t i = 0; i < d->res->n_orphans; i++)
    d->msg_class[d->res->orphans[i]] = MSG_ORPHAN;
  for (size_t i = 0; i < d->res->n_lost; i++)
    d->msg_class[d->res->lost[i]] = MSG_LOST;
  return TOOL_OK;
}

static size_t legend_rows(const diagram *d) {
  return d->res != NULL ? 8 : 3; /* write_legend */
}

/* Sizes: the width grows with the columns, the fonts stay readable. */
static void lay_out(diagram *d) {
  size_t longest = 0;
  for (uint32_t p = 0; p < d->t->n_procs; p++) {
    size_t n = utf8_length(d->t->procs[p].name);
    longest = n > longest ? n : longest;
  }
  d->left = 30.0 + NAME_CHAR_WIDTH * (double)longest;
  d->dx = clamp(900.0 / (double)(d->n_cols + 1), 24.0, 64.0);
  d->small_font = clamp(d->dx * 0.45, 9.0, 12.0);
  d->x_end = d->left + (double)(d->n_cols + 1) * d->dx;
  uint32_t rows = d->t->n_procs > 0 ? d->t->n_procs : 1;
  d->legend_top = TOP + (double)(rows - 1) * ROW_HEIGHT + 50.0;
  d->width = d->x_end + 40.0;
  if (d->width < 20.0 + LEGEND_WIDTH)
    d->width = 20.0 + LEGEND_WIDTH;
  d->height = d->legend_top + (double)legend_rows(d) * LEGEND_ROW + 10.0;
}

static double x_of_column(const diagram *d, uint64_t c) {
  return d->left + (double)(c + 1) * d->dx;
}

static double y_of(uint32_t p) {
  return TOP + (double)p * ROW_HEIGHT;
}

/* Where checkpoint k of process p is drawn: `initial` at the start. */
static double checkpoint_x(const diagram *d, uint32_t p, size_t k) {
  if (k == 0)
    return d->left;
  return x_of_column(d, d->col[p][d->t->procs[p].ckpt_at[k]]);
}

/* ------------------------------------------------------------------------ */
/* SVG                                                                      */

/* Write s as XML character data or attribute value: the five special
 * characters escaped, characters XML 1.0 forbids (control characters,
 * U+FFFE, U+FFFF) replaced by '?'. */
static void put_escaped(FILE *f, const char *s) {
  for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
    if (*c == '&')
      fputs("&amp;", f);
    else if (*c == '<')
      fputs("&lt;", f);
    else if (*c == '>')
      fputs("&gt;", f);
    else if (*c == '"')
      fputs("&quot;", f);
    else if (*c == '\'')
      fputs("&apos;", f);
    else if (*c == '\t' || *c == '\n' || *c == '\r')
      fprintf(f, "&#%d;", *c);
    else if (*c < 0x20 || *c == 0x7F)
      fputc('?', f);
    else if (c[0] == 0xEF && c[1] == 0xBF && (c[2] == 0xBE || c[2] == 0xBF))
      fputc('?', f), c += 2;
    else
      fputc(*c, f);
  }
}

static void write_arrowhead(FILE *f, const char *id, const char *colour) {
  fprintf(f,
          "<marker id=\"%s\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
          "markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" "
          "markerHeight=\"9\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 "
          "z\" fill=\"%s\"/></marker>\n",
          id, colour);
}

static void write_header(FILE *f, const diagram *d) {
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
          "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
          "font-family=\"sans-serif\">\n"
          "<title>mlog diagram</title>\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<defs>\n",
          d->width, d->height, d->width, d->height);
  for (int c = MSG_NORMAL; c <= MSG_LOST; c++) {
    char id[32];
    snprintf(id, sizeof id, "arrow-%s", class_name[c]);
    write_arrowhead(f, id, class_colour[c]);
  }
  fputs("</defs>\n", f);
}

/* "3 processes, 5 messages, 4 checkpoints[; failed: X, Y; domino: yes]" */
static void write_caption(FILE *f, const diagram *d) {
  size_t n_ckpts = 0;
  for (uint32_t p = 0; p < d->t->n_procs; p++)
    n_ckpts += d->t->procs[p].n_ckpts;
  fprintf(f,
          "<text class=\"caption\" x=\"10\" y=\"20\" font-size=\"%.0f\" "
          "fill=\"%s\">%lu process%s, %zu message%s, %zu checkpoint%s",
          NAME_FONT, INK, (unsigned long)d->t->n_procs,
          d->t->n_procs == 1 ? "" : "es", d->t->n_msgs,
          d->t->n_msgs == 1 ? "" : "s", n_ckpts, n_ckpts == 1 ? "" : "s");
  if (d->res != NULL) {
    fputs("; failed:", f);
    for (uint32_t p = 0, n = 0; p < d->t->n_procs; p++)
      if (d->t->procs[p].failed) {
        fputs(n++ > 0 ? ", " : " ", f);
        put_escaped(f, d->t->procs[p].name);
      }
    fprintf(f, "; domino: %s", d->res->domino ? "yes" : "no");
  }
  fputs("</text>\n", f);
}

static void write_processes(FILE *f, const diagram *d) {
  for (uint32_t p = 0; p < d->t->n_procs; p++) {
    const trace_proc *pr = &d->t->procs[p];
    double y = y_of(p);
    fputs("<g class=\"process\" data-proc=\"", f);
    put_escaped(f, pr->name);
    fprintf(f,
            "\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"%s\" stroke-width=\"1.5\"/><text x=\"%.1f\" "
            "y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"end\" "
            "fill=\"%s\">",
            d->left, y, d->x_end, y, INK, d->left - 12.0, y + 5.0, NAME_FONT,
            pr->failed ? FAILED_COLOUR : INK);
    put_escaped(f, pr->name);
    fputs("</text></g>\n", f);
  }
}

/* True when the recovery line rolled process p back past checkpoint k. */
static bool rolled_back_past(const diagram *d, uint32_t p, size_t k) {
  return d->res != NULL && d->res->line[p] != MLOGI_RL_END &&
         k > d->res->line[p];
}

/* The marks, shared by the diagram and its legend. */

static void write_box(FILE *f, double x, double y, bool rolled_back) {
  fprintf(f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"16\" "
          "fill=\"%s\" stroke=\"%s\"/>",
          x - 4.0, y - 8.0, rolled_back ? ROLLED_BACK_FILL : "white", INK);
}

static void write_arrow(FILE *f, msg_class c, double x1, double y1, double x2,
                        double y2) {
  fprintf(f,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
          "stroke=\"%s\" stroke-width=\"%s\"%s marker-end=\"url(#arrow-%s)\"/>",
          x1, y1, x2, y2, class_colour[c], c >= MSG_ORPHAN ? "2" : "1.2",
          c == MSG_TRANSIT ? " stroke-dasharray=\"6,4\"" : "", class_name[c]);
}

static void write_line_style(FILE *f) {
  fprintf(f,
          "fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
          "stroke-dasharray=\"8,5\"",
          LINE_COLOUR);
}

static void write_cross(FILE *f, double x, double y) {
  fprintf(f,
          "<path d=\"M%.1f,%.1f l12,12 m0,-12 l-12,12\" stroke=\"%s\" "
          "stroke-width=\"3\"/>",
          x - 6.0, y - 6.0, FAILED_COLOUR);
}

/* ------------------------------------------------------------------------ */
/* The diagram                                                              */

static void write_checkpoint(FILE *f, const diagram *d, uint32_t p, size_t k) {
  const trace_proc *pr = &d->t->procs[p];
  bool rolled = rolled_back_past(d, p, k);
  double x = checkpoint_x(d, p, k), y = y_of(p);
  fprintf(f, "<g class=\"checkpoint%s\" data-proc=\"",
          rolled ? " rolled-back" : "");
  put_escaped(f, pr->name);
  fputs("\" data-name=\"", f);
  put_escaped(f, pr->ckpt_name[k]);
  fputs("\">", f);
  write_box(f, x, y, rolled);
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
          "text-anchor=\"middle\" fill=\"%s\">",
          x, y - 13.0, d->small_font, INK);
  put_escaped(f, pr->ckpt_name[k]);
  fputs("</text></g>\n", f);
}

static void write_checkpoints(FILE *f, const diagram *d) {
  for (uint32_t p = 0; p < d->t->n_procs; p++)
    for (size_t k = 0; k < d->t->procs[p].n_ckpts; k++)
      write_checkpoint(f, d, p, k);
}

static const char *const class_note[] = {"", " (in transit)", " (orphan)",
                                         " (lost)"};

static void write_message(FILE *f, const diagram *d, size_t m) {
  const trace *t = d->t;
  const mlogi_rl_message *rl = &t->rl_msgs[m];
  msg_class c = d->msg_class[m];
  char buf[TRACE_ID_MAX];
  const char *id = trace_msg_id(t, m, buf);
  double x1 = x_of_column(d, d->col[rl->sender][rl->send_at]);
  double x2 = c == MSG_TRANSIT
                  ? d->x_end
                  : x_of_column(d, d->col[rl->receiver][rl->recv_at]);
  double y1 = y_of(rl->sender), y2 = y_of(rl->receiver);
  fprintf(f, "<g class=\"msg %s\" data-msg=\"", class_name[c]);
  put_escaped(f, id);
  fputs("\"><title>", f);
  put_escaped(f, id);
  fputs(": ", f);
  put_escaped(f, t->procs[rl->sender].name);
  fputs(" to ", f);
  put_escaped(f, t->procs[rl->receiver].name);
  fprintf(f, "%s</title>", class_note[c]);
  write_arrow(f, c, x1, y1, x2, y2);
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
          "text-anchor=\"middle\" fill=\"%s\" stroke=\"white\" "
          "stroke-width=\"3\" paint-order=\"stroke\">",
          (x1 + x2) / 2.0, (y1 + y2) / 2.0 - 3.0, d->small_font,
          class_colour[c]);
  put_escaped(f, id);
  fputs("</text></g>\n", f);
}

static void write_messages(FILE *f, const diagram *d) {
  for (size_t m = 0; m < d->t->n_msgs; m++)
    write_message(f, d, m);
}

/* The recovery line through every process's position, and a cross at the
 * end of every failed process. */
static void write_recovery_line(FILE *f, const diagram *d) {
  if (d->res == NULL || d->t->n_procs == 0)
    return;
  fputs("<polyline class=\"recovery-line\" ", f);
  write_line_style(f);
  fputs(" points=\"", f);
  for (uint32_t p = 0; p < d->t->n_procs; p++) {
    uint64_t k = d->res->line[p];
    fprintf(f, "%s%.1f,%.1f", p > 0 ? " " : "",
            k == MLOGI_RL_END ? d->x_end : checkpoint_x(d, p, k), y_of(p));
  }
  fputs("\"/>\n", f);
  for (uint32_t p = 0; p < d->t->n_procs; p++)
    if (d->t->procs[p].failed) {
      fputs("<g class=\"failed\">", f);
      write_cross(f, d->x_end + 12.0, y_of(p));
      fputs("</g>\n", f);
    }
}

/* ------------------------------------------------------------------------ */
/* The legend                                                               */

typedef enum sample {
  /* MSG_NORMAL ... MSG_LOST: their arrows */
  SAMPLE_CHECKPOINT = MSG_LOST + 1,
  SAMPLE_ROLLED_BACK,
  SAMPLE_LINE,
  SAMPLE_FAILED,
} sample;

static const char *const sample_text[] = {
    "message, from its send to its receive",
    "message in transit (never received)",
    "orphan message: received before the receiver's line, sent after the "
    "sender's",
    "lost message: sent inside the line, received outside it",
    "checkpoint, named above it (initial: the start)",
    "checkpoint the recovery line rolled back past",
    "recovery line: where each process restarts (a checkpoint, or the end)",
    "failed process (its name in red)",
};

/* Row `row` of the legend: sample s, 40 pixels wide, and its text. */
static void write_legend_row(FILE *f, const diagram *d, size_t row, int s) {
  double x = 20.0, y = d->legend_top + (double)row * LEGEND_ROW;
  fputs("<g class=\"legend-item\">", f);
  if (s <= MSG_LOST) {
    write_arrow(f, (msg_class)s, x, y, x + 40.0, y);
  } else if (s == SAMPLE_CHECKPOINT || s == SAMPLE_ROLLED_BACK) {
    write_box(f, x + 20.0, y, s == SAMPLE_ROLLED_BACK);
  } else if (s == SAMPLE_LINE) {
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" ", x, y,
            x + 40.0, y);
    write_line_style(f);
    fputs("/>", f);
  } else {
    write_cross(f, x + 20.0, y);
  }
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">%s"
          "</text></g>\n",
          x + 52.0, y + 4.0, INK, sample_text[s]);
}

/* Without --failed: messages, messages in transit and checkpoints. */
static void write_legend(FILE *f, const diagram *d) {
  static const int plain[] = {MSG_NORMAL, MSG_TRANSIT, SAMPLE_CHECKPOINT};
  fprintf(f,
          "<text class=\"legend-title\" x=\"20\" y=\"%.1f\" font-size=\"12\" "
          "font-weight=\"bold\" fill=\"%s\">legend</text>\n",
          d->legend_top - 18.0, INK);
  for (size_t row = 0; row < legend_rows(d); row++)
    write_legend_row(f, d, row, d->res != NULL ? (int)row : plain[row]);
}

static void write_svg(FILE *f, const diagram *d) {
  write_header(f, d);
  write_caption(f, d);
  write_processes(f, d);
  write_messages(f, d);
  write_checkpoints(f, d);
  write_recovery_line(f, d);
  write_legend(f, d);
  fputs("</svg>\n", f);
}

/* ------------------------------------------------------------------------ */
/* Writing the file atomically                                              */

static int cannot_write(const char *path, int err) {
  tool_error("%s: cannot write: %s", path, strerror(err));
  return TOOL_UNREADABLE;
}

/* A file to write: `write` fills it through a temporary file next to it
 * (tmp), renamed over it once every output is written. */
typedef struct output {
  const char *path;
  void (*write)(FILE *f, void *ctx);
  void *ctx;
  char *tmp;
} output;

/* Write o into a new temporary file; on failure, reports it and leaves no
 * temporary file. */
static int write_temp(output *o) {
  struct stat st;
  if (stat(o->path, &st) == 0 && S_ISDIR(st.st_mode))
    return cannot_write(o->path, EISDIR); /* before renaming any output */
  size_t n = strlen(o->path) + sizeof ".tmp.XXXXXX";
  o->tmp = malloc(n);
  if (o->tmp == NULL)
    return cannot_write(o->path, ENOMEM);
  snprintf(o->tmp, n, "%s.tmp.XXXXXX", o->path);
  int fd = mkstemp(o->tmp);
  if (fd < 0) {
    int err = errno;
    free(o->tmp);
    o->tmp = NULL;
    return cannot_write(o->path, err);
  }
  mode_t mask = umask(0);
  umask(mask);
  FILE *f = fdopen(fd, "w");
  int err = f == NULL || fchmod(fd, 0666 & ~mask) != 0 ? errno : 0;
  if (f != NULL) {
    o->write(f, o->ctx);
    if (err == 0 && (fflush(f) != 0 || ferror(f) || fsync(fd) != 0))
      err = errno != 0 ? errno : EIO;
    if (fclose(f) != 0 && err == 0)
      err = errno;
  } else {
    close(fd);
  }
  if (err == 0)
    return TOOL_OK;
  unlink(o->tmp);
  free(o->tmp);
  o->tmp = NULL;
  return cannot_write(o->path, err);
}

static void drop_temp(output *o) {
  if (o->tmp != NULL)
    unlink(o->tmp);
  free(o->tmp);
  o->tmp = NULL;
}

/* Write every output into its temporary file, then rename them over the
 * outputs: a failure to write (a directory in the way included) leaves
 * every output as it was and no temporary file. */
static int write_files(output *outs, size_t n) {
  int rc = TOOL_OK;
  for (size_t i = 0; i < n && rc == TOOL_OK; i++)
    rc = write_temp(&outs[i]);
  for (size_t i = 0; i < n && rc == TOOL_OK; i++) {
    if (rename(outs[i].tmp, outs[i].path) != 0)
      rc = cannot_write(outs[i].path, errno);
    else
      free(outs[i].tmp), outs[i].tmp = NULL;
  }
  for (size_t i = 0; i < n; i++)
    drop_temp(&outs[i]);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void write_svg_file(FILE *f, void *d) {
  write_svg(f, d);
}

/* The SVG into `svg`, the ShiViz log into `log` (either may be NULL). */
static int draw(const trace *t, const mlogi_rl_result *res, const char *svg,
                const char *log) {
  diagram d = {.t = t, .res = res};
  shiviz s = {0};
  output outs[2];
  size_t n = 0;
  int rc = place_events(&d);
  if (rc == TOOL_OK)
    rc = classify_messages(&d);
  if (rc == TOOL_OK && svg != NULL) {
    lay_out(&d);
    outs[n++] = (output){.path = svg, .write = write_svg_file, .ctx = &d};
  }
  if (rc == TOOL_OK && log != NULL) {
    rc = shiviz_prepare(&s, t, d.col);
    outs[n++] = (output){.path = log, .write = shiviz_write, .ctx = &s};
  }
  if (rc == TOOL_OK)
    rc = write_files(outs, n);
  shiviz_free(&s);
  diagram_free(&d);
  return rc;
}

static int run_diagram(const trace_source *src, const char *failed,
                       const char *svg, const char *log) {
  trace t = {0};
  mlogi_rl_result res = {0};
  int rc = trace_source_load(src, failed, &t);
  if (rc == TOOL_OK)
    rc = trace_list_events(&t);
  if (rc == TOOL_OK && failed != NULL)
    rc = trace_recovery_line(&t, &res);
  if (rc == TOOL_OK)
    rc = draw(&t, failed != NULL ? &res : NULL, svg, log);
  mlogi_rl_result_free(&res);
  trace_free(&t);
  return rc;
}

enum { OPT_SHIVIZ = 256 };

/* Set *slot to optarg, or report that the option came twice. */
static int once(const char **slot, const char *option) {
  if (*slot != NULL)
    return tool_usage_error("%s given twice", option);
  *slot = optarg;
  return TOOL_OK;
}

int cmd_diagram(int argc, char **argv) {
  static const struct option longopts[] = {
      {"failed", required_argument, NULL, 'f'},
      {"trace", required_argument, NULL, 't'},
      {"key", required_argument, NULL, 'k'},
      {"output", required_argument, NULL, 'o'},
      {"shiviz", required_argument, NULL, OPT_SHIVIZ},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *failed = NULL, *out = NULL, *log = NULL;
  trace_source src = {0};
  int c, rc = TOOL_OK;
  tool_opt_begin();
  while (rc == TOOL_OK && (c = tool_getopt(argc, argv, longopts)) != -1) {
    if (c == 'f')
      rc = once(&failed, "--failed");
    else if (c == 't')
      rc = once(&src.path, "--trace");
    else if (c == 'k')
      rc = once(&src.keyfile, "--key");
    else if (c == 'o')
      rc = once(&out, "--output");
    else if (c == OPT_SHIVIZ)
      rc = once(&log, "--shiviz");
    else if (c == 'h')
      return tool_help(usage);
    else
      return TOOL_USAGE;
  }
  if (rc != TOOL_OK)
    return rc;
  src.dirs = argv + optind;
  src.n_dirs = (size_t)(argc - optind);
  if ((rc = trace_source_check(&src)) != TOOL_OK)
    return rc;
  if (out == NULL && log == NULL)
    return tool_usage_error("no output given (-o OUT.svg, --shiviz OUT.log)");
  if ((out != NULL && out[0] == '\0') || (log != NULL && log[0] == '\0'))
    return tool_usage_error("an empty output path");
  if (out != NULL && log != NULL && strcmp(out, log) == 0)
    return tool_usage_error("-o and --shiviz name the same file '%s'", out);
  if (failed != NULL && (rc = trace_check_failed_list(failed)) != TOOL_OK)
    return rc;
  return run_diagram(&src, failed, out, log);
}
