/* tool.c - what the subcommands share: options, errors, keys, logs */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const char *tool_name; /* the running subcommand, or NULL */
static bool progress_shown;

void tool_set_name(const char *sub) {
  tool_name = sub;
}

/* Print "mlog <sub>: message" with control characters (a newline in a
 * path, say) replaced, so that an error is always exactly one line. */
static void error_line(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void error_line(const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  for (char *p = msg; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  tool_progress_end();
  fflush(stdout); /* data printed so far comes before the error */
  if (tool_name != NULL)
    fprintf(stderr, "mlog %s: %s\n", tool_name, msg);
  else
    fprintf(stderr, "mlog: %s\n", msg);
}

void tool_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_line(fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

void tool_opt_begin(void) {
  optind = 0; /* GNU getopt: 0 also resets its internal state */
  opterr = 0; /* errors are reported by tool_getopt, as one line */
}

/* ":" (report missing arguments as ':') and every printable val. */
static void short_options(const struct option *longopts, char *buf,
                          size_t len) {
  size_t n = 0;
  buf[n++] = ':';
  for (const struct option *o = longopts; o->name != NULL; o++) {
    if (o->flag != NULL || o->val <= ' ' || o->val > '~' || n + 3 > len)
      continue;
    buf[n++] = (char)o->val;
    if (o->has_arg == required_argument)
      buf[n++] = ':';
  }
  buf[n] = '\0';
}

/* True when `arg` ("quiet=3") gives an argument to a long option (or an
 * abbreviation of one) that takes none. */
static bool takes_no_argument(const char *arg, const struct option *longopts) {
  size_t n = strcspn(arg, "=");
  if (arg[n] != '=')
    return false;
  for (const struct option *o = longopts; o->name != NULL; o++)
    if (strncmp(o->name, arg, n) == 0)
      return o->has_arg == no_argument;
  return false;
}

/* Report the error getopt_long returned as c ('?' or ':'). GNU getopt sets
 * optopt to 0 for an unknown long option and leaves it in argv[optind-1]. */
static void option_error(int c, char **argv, const struct option *longopts) {
  const char *arg = argv[optind - 1];
  bool is_long = strncmp(arg, "--", 2) == 0;
  if (c == '?' && optopt == 0)
    tool_usage_error("unknown option '%s'", arg);
  else if (c == '?' && is_long && takes_no_argument(arg + 2, longopts))
    tool_usage_error("option '%.*s' takes no argument", (int)strcspn(arg, "="),
                     arg);
  else if (c == '?')
    tool_usage_error("unknown option '-%c'", optopt);
  else if (is_long)
    tool_usage_error("option '%s' needs an argument", arg);
  else
    tool_usage_error("option '-%c' needs an argument", optopt);
}

int tool_getopt(int argc, char **argv, const struct option *longopts) {
  char shortopts[128];
  short_options(longopts, shortopts, sizeof shortopts);
  int c = getopt_long(argc, argv, shortopts, longopts, NULL);
  if (c == '?' || c == ':') {
    option_error(c, argv, longopts);
    return '?';
  }
  return c;
}

int tool_help(const char *usage) {
  fputs(usage, stdout);
  return TOOL_OK;
}

int tool_usage_error(const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (tool_name != NULL)
    tool_error("%s (see 'mlog %s --help')", msg, tool_name);
  else
    tool_error("%s (see 'mlog --help')", msg);
  return TOOL_USAGE;
}

bool tool_parse_u64(const char *name, const char *text, uint64_t min,
                    uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  bool ok = text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0 &&
            v >= min && v <= max;
  if (!ok) {
    tool_usage_error("bad %s '%s': want a number from %llu to %llu", name, text,
                     (unsigned long long)min, (unsigned long long)max);
    return false;
  }
  *out = v;
  return true;
}

/* ------------------------------------------------------------------------ */
/* Keys and logs                                                            */

int tool_load_key(const char *path, mlog_key *key) {
  int rc = mlog_key_load(path, key);
  if (rc == MLOG_EINVAL) {
    tool_usage_error("%s: not a key file (a key file holds exactly %d bytes)",
                     path, MLOG_KEY_BYTES);
    return TOOL_USAGE;
  }
  if (rc != MLOG_OK) {
    tool_usage_error("cannot read key file %s: %s", path, mlog_strerror(rc));
    return TOOL_USAGE;
  }
  return TOOL_OK;
}

void tool_forget_key(mlog_key *key) {
  explicit_bzero(key, sizeof *key);
}

bool tool_is_damage(int err) {
  return tool_damage_kind(err) != NULL;
}

const char *tool_damage_kind(int err) {
  switch (err) {
  case MLOG_ETORN:
    return "torn tail";
  case MLOG_ECORRUPT:
    return "damaged store";
  case MLOG_EHEADER:
    return "bad header";
  case MLOG_EBADTAG:
    return "bad tag";
  case MLOG_ECHAIN:
    return "broken chain";
  default:
    return NULL;
  }
}

/* True when msg starts with dirpath followed by ':' or '/'. */
static bool names_dir(const char *msg, const char *dirpath) {
  size_t n = strlen(dirpath);
  return strncmp(msg, dirpath, n) == 0 && (msg[n] == ':' || msg[n] == '/');
}

int tool_log_error(const char *dirpath, int err, const char *msg) {
  if (err == MLOG_ENOKEY)
    msg = "the log is keyed: pass its key with --key FILE";
  else if (msg == NULL || msg[0] == '\0')
    msg = mlog_strerror(err);
  if (names_dir(msg, dirpath))
    tool_error("%s", msg);
  else
    tool_error("%s: %s", dirpath, msg);
  return tool_is_damage(err) ? TOOL_PROBLEMS : TOOL_UNREADABLE;
}

int tool_open_log(const char *dirpath, const mlog_key *key, mlog_log **out) {
  mlog_log_config cfg = {.key = key};
  return mlog_log_open(dirpath, MLOG_LOG_RDONLY, key ? &cfg : NULL, out);
}

/* ------------------------------------------------------------------------ */
/* Progress                                                                 */

void tool_progress(const char *what, uint64_t done, uint64_t total) {
  if (!isatty(STDERR_FILENO))
    return;
  fprintf(stderr, "\r\033[K%s: %llu/%llu records", what,
          (unsigned long long)done, (unsigned long long)total);
  fflush(stderr);
  progress_shown = true;
}

void tool_progress_end(void) {
  if (!progress_shown)
    return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  progress_shown = false;
}

static int remove_entry(const char *path, const struct stat *sb, int type,
                        struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(path);
}

void tool_rmtree(const char *path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
