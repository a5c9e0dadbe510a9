/* tool.h - what the subcommands of the mlog tool share */
#ifndef MLOG_TOOLS_TOOL_H
#define MLOG_TOOLS_TOOL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "mlog/mlog.h"

/* Exit statuses of every subcommand (docs/cli.md). */
enum tool_status {
  TOOL_OK = 0,         /* clean */
  TOOL_PROBLEMS = 1,   /* problems found in the data */
  TOOL_USAGE = 2,      /* bad command line or unusable key file */
  TOOL_UNREADABLE = 3, /* the input could not be opened or read */
};

/* A subcommand: argv[0] is its name, the options follow. Returns an exit
 * status. */
typedef int (*tool_fn)(int argc, char **argv);

int cmd_verify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_diagram(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_chaos(int argc, char **argv);

/* Name the running subcommand ("verify"; NULL for the bare tool), for the
 * "mlog verify: " prefix of error messages. */
void tool_set_name(const char *sub);

/* Print exactly one line "mlog <sub>: message" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

/* Start parsing a subcommand's options (getopt keeps global state). */
void tool_opt_begin(void);

/* getopt_long with the short options derived from `longopts` (each entry
 * whose val is a printable character). Unknown options and missing
 * arguments are reported as one line and returned as '?'. */
int tool_getopt(int argc, char **argv, const struct option *longopts);

/* Print `usage` on stdout for --help; returns TOOL_OK. */
int tool_help(const char *usage);

/* Report a usage error as one line naming the subcommand's --help; returns
 * TOOL_USAGE. */
int tool_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Parse a decimal count in [min, max] given to option `name`; reports a
 * usage error and returns false when it is not one. */
bool tool_parse_u64(const char *name, const char *text, uint64_t min,
                    uint64_t max, uint64_t *out);

/* ------------------------------------------------------------------------ */
/* Keys and logs                                                            */

/* Load the key file at `path` into *key. A file that cannot be read or is
 * not MLOG_KEY_BYTES long is a usage error: reports it and returns
 * TOOL_USAGE; TOOL_OK otherwise. */
int tool_load_key(const char *path, mlog_key *key);

/* Wipe a key that is no longer needed. */
void tool_forget_key(mlog_key *key);

/* True for the error codes that mean the log's data is damaged (torn tail,
 * damaged store, bad header, bad tag, broken chain) rather than unreadable. */
bool tool_is_damage(int err);

/* The kind of damage `err` names, as verify reports it ("torn tail"). */
const char *tool_damage_kind(int err);

/* Report that working on the log in `dirpath` failed with `err`, as one
 * line whose detail is `msg` (the library's message; NULL or empty: the
 * code's message), prefixed with dirpath unless msg already names it.
 * Returns the exit status for err: TOOL_PROBLEMS for damage, else
 * TOOL_UNREADABLE. */
int tool_log_error(const char *dirpath, int err, const char *msg);

/* Open the log in `dirpath` read-only, never creating or changing anything
 * in it; key may be NULL. Returns the library's code (MLOG_OK or the open's
 * error, whose detail is in mlog_log_errmsg(NULL)). */
int tool_open_log(const char *dirpath, const mlog_key *key, mlog_log **out);

/* rm -rf, best effort. */
void tool_rmtree(const char *path);

/* ------------------------------------------------------------------------ */
/* Progress (shown only when stderr is a terminal)                          */

/* Overwrite the progress line with "what: done/total". */
void tool_progress(const char *what, uint64_t done, uint64_t total);

/* Erase the progress line, if one was shown. */
void tool_progress_end(void);

#endif /* MLOG_TOOLS_TOOL_H */
