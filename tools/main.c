/* main.c - mlog: the tool's entry point, dispatching to its subcommands */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

typedef struct command {
  const char *name;
  tool_fn run;
  const char *summary;
} command;

static const command commands[] = {
    {"verify", cmd_verify, "check the tags and the hash chain of logs"},
    {"dump", cmd_dump, "print a log's records as text or JSON lines"},
    {"info", cmd_info, "show what a log holds"},
    {"keygen", cmd_keygen, "write a new log key and Ed25519 key pair"},
    {"gen", cmd_gen, "write a synthetic log (for tests, demos and benchmarks)"},
    {"sim", cmd_sim, "run a protocol in simulation with crashes and check it"},
    {"analyze", cmd_analyze,
     "find the recovery line of a trace or a group's logs after failures"},
    {"diagram", cmd_diagram,
     "draw the space-time diagram of a trace or a group's logs as SVG"},
    {"audit", cmd_audit,
     "check the logs of a group against each other (duplicates, gaps, ...)"},
    {"chaos", cmd_chaos,
     "run a group of real processes, SIGKILL and restart them, check it"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static int help(void) {
  printf("usage: mlog <command> [options] [args]\n"
         "       mlog --version\n"
         "\n"
         "Offline tools for mlog logs (one log per process directory),\n"
         "which they only ever open read-only; chaos runs a group of real\n"
         "processes, whose logs it then checks.\n"
         "\n"
         "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    printf("  %-8s %s\n", commands[i].name, commands[i].summary);
  printf("\n"
         "'mlog <command> --help' or 'mlog help <command>' describes one.\n"
         "\n"
         "exit status: 0 clean, 1 problems found in the data, 2 usage error,\n"
         "3 could not open or read the input.\n");
  return TOOL_OK;
}

/* mlog help [COMMAND] */
static int help_command(int argc, char **argv) {
  if (argc < 3)
    return help();
  const command *cmd = find_command(argv[2]);
  if (cmd == NULL || argc > 3)
    return tool_usage_error("help: unknown command '%s'", argv[2]);
  char *sub_argv[] = {(char *)cmd->name, "--help", NULL};
  tool_set_name(cmd->name);
  return cmd->run(2, sub_argv);
}

/* Make sure everything printed reached stdout: a failed write (a full disk,
 * a closed pipe) must not pass for a clean run. */
static int finish(int status) {
  errno = 0;
  bool failed = fflush(stdout) != 0 || ferror(stdout);
  if (!failed)
    return status;
  tool_error("cannot write the output: %s",
             errno != 0 ? strerror(errno) : "write error");
  return status == TOOL_OK ? TOOL_UNREADABLE : status;
}

static int run(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: mlog <command> [options] [args] (see 'mlog --help')\n",
          stderr);
    return TOOL_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
    return argc == 2 ? help() : tool_usage_error("--help takes no arguments");
  if (strcmp(name, "help") == 0)
    return help_command(argc, argv);
  if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
    if (argc > 2)
      return tool_usage_error("--version takes no arguments");
    printf("mlog %s\n", mlog_version());
    return TOOL_OK;
  }
  if (name[0] == '-')
    return tool_usage_error("unknown option '%s'", name);
  const command *cmd = find_command(name);
  if (cmd == NULL)
    return tool_usage_error("unknown command '%s'", name);
  tool_set_name(cmd->name);
  return cmd->run(argc - 1, argv + 1);
}

int main(int argc, char **argv) {
  return finish(run(argc, argv));
}
