/* verify.c - mlog verify: checks tags and the hash chain of logs */
#include <stdio.h>

#include "tool.h"

static const char usage[] =
    "usage: mlog verify [--key FILE] [--quiet] DIR...\n"
    "\n"
    "Check every record of the log in each DIR: its header, its tag (a MAC\n"
    "when the log is keyed) and its link in the hash chain. One line per DIR:\n"
    "  DIR: ok, N records (lsn A..B)[, K checkpoints]\n"
    "  DIR: BAD at lsn L: DETAIL\n"
    "  DIR: BAD: DETAIL                   (damage found before any record)\n"
    "DETAIL starts with the kind of problem: \"bad tag\" (an edited record),\n"
    "\"broken chain\" (deleted, reordered or duplicated records), \"torn "
    "tail\",\n"
    "\"bad header\" or \"damaged store\". Logs are opened read-only.\n"
    "\n"
    "options:\n"
    "  -k, --key FILE  the log key (needed to check the tags of a keyed log)\n"
    "  -q, --quiet     print only the lines of logs with problems\n"
    "  -h, --help      show this help\n"
    "\n"
    "exit status: 0 every log is ok, 1 a log has problems, 2 usage error\n"
    "(also: a key file that cannot be read or is not 32 bytes), 3 a log could\n"
    "not be opened or read (also: a keyed log without --key, a wrong key).\n"
    "3 wins over 1. Progress is shown on stderr when it is a terminal.\n";

static void show_progress(void *arg, uint64_t done, uint64_t total) {
  tool_progress(arg, done, total);
}

/* Print the report's line; returns the exit status it stands for. */
static int print_report(const char *dirpath, const mlog_verify_report *rep,
                        bool quiet) {
  if (rep->problem != MLOG_OK && rep->bad_lsn != 0) {
    printf("%s: BAD at lsn %llu: %s\n", dirpath,
           (unsigned long long)rep->bad_lsn, rep->detail);
    return TOOL_PROBLEMS;
  }
  if (rep->problem != MLOG_OK) {
    printf("%s: BAD: %s\n", dirpath, rep->detail);
    return TOOL_PROBLEMS;
  }
  if (quiet)
    return TOOL_OK;
  if (rep->records == 0)
    printf("%s: ok, 0 records", dirpath);
  else
    printf("%s: ok, %llu records (lsn %llu..%llu)", dirpath,
           (unsigned long long)rep->records, (unsigned long long)rep->first_lsn,
           (unsigned long long)rep->last_lsn);
  if (rep->checkpoints > 0)
    printf(", %llu checkpoint%s", (unsigned long long)rep->checkpoints,
           rep->checkpoints == 1 ? "" : "s");
  printf("\n");
  return TOOL_OK;
}

/* Damage that stops the open itself (a truncated data file, an unreadable
 * last record) is a finding like any other, not a failure to read. */
static int open_damage(const char *dirpath, int err) {
  mlog_verify_report rep = {.problem = err};
  snprintf(rep.detail, sizeof rep.detail, "%s: %s", tool_damage_kind(err),
           mlog_log_errmsg(NULL));
  return print_report(dirpath, &rep, false);
}

static int verify_one(const char *dirpath, const mlog_key *key, bool quiet) {
  mlog_log *log;
  int rc = tool_open_log(dirpath, key, &log);
  if (tool_is_damage(rc))
    return open_damage(dirpath, rc);
  if (rc != MLOG_OK)
    return tool_log_error(dirpath, rc, mlog_log_errmsg(NULL));
  mlog_verify_report rep;
  rc = mlog_log_verify(log, &rep, show_progress, (void *)dirpath);
  tool_progress_end();
  int status = rc == MLOG_OK
                   ? print_report(dirpath, &rep, quiet)
                   : tool_log_error(dirpath, rc, mlog_log_errmsg(log));
  mlog_log_close(log);
  return status;
}

int cmd_verify(int argc, char **argv) {
  static const struct option longopts[] = {
      {"key", required_argument, NULL, 'k'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *keyfile = NULL;
  bool quiet = false;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'k':
      keyfile = optarg;
      break;
    case 'q':
      quiet = true;
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
  int worst = TOOL_OK;
  for (int i = optind; i < argc; i++) {
    int status = verify_one(argv[i], keyfile ? &key : NULL, quiet);
    worst = status > worst ? status : worst;
  }
  if (keyfile != NULL)
    tool_forget_key(&key);
  return worst;
}
