/* keygen.c - mlog keygen: writes a new log key and Ed25519 key pair */
#include <stdio.h>
#include <unistd.h>

#include "tool.h"

static const char *const key_files[] = {"log.key", "sign.key", "sign.pub"};
#define N_KEY_FILES (sizeof key_files / sizeof key_files[0])

static const char usage[] =
    "usage: mlog keygen --out DIR\n"
    "\n"
    "Write a new random log key to DIR/log.key (32 bytes, mode 0600) and an\n"
    "Ed25519 key pair to DIR/sign.key (secret, mode 0600) and DIR/sign.pub\n"
    "(mode 0644), creating DIR (mode 0700, not its parents) if needed, and\n"
    "print the three paths. Existing key files are never overwritten.\n"
    "\n"
    "options:\n"
    "  -o, --out DIR  where to write the keys (required)\n"
    "  -h, --help     show this help\n"
    "\n"
    "exit status: 0 keys written, 2 usage error, 3 the keys could not be\n"
    "written (also: DIR already holds one of the three files).\n";

/* The first key file that already exists in dirpath, for the message. */
static const char *existing_file(const char *dirpath) {
  char path[4200];
  for (size_t i = 0; i < N_KEY_FILES; i++) {
    snprintf(path, sizeof path, "%s/%s", dirpath, key_files[i]);
    if (access(path, F_OK) == 0)
      return key_files[i];
  }
  return "a key file";
}

static int keygen(const char *dirpath) {
  int rc = mlog_keygen(dirpath);
  if (rc == MLOG_EEXIST) {
    tool_error("refusing to overwrite %s/%s", dirpath, existing_file(dirpath));
    return TOOL_UNREADABLE;
  }
  if (rc != MLOG_OK) {
    tool_error("%s: cannot write keys: %s", dirpath, mlog_strerror(rc));
    return TOOL_UNREADABLE;
  }
  for (size_t i = 0; i < N_KEY_FILES; i++)
    printf("%s/%s\n", dirpath, key_files[i]);
  return TOOL_OK;
}

int cmd_keygen(int argc, char **argv) {
  static const struct option longopts[] = {
      {"out", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *out = NULL;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'o':
      out = optarg;
      break;
    case 'h':
      return tool_help(usage);
    default:
      return TOOL_USAGE;
    }
  }
  if (optind < argc)
    return tool_usage_error("unexpected argument '%s'", argv[optind]);
  if (out == NULL)
    return tool_usage_error("--out DIR is required");
  return keygen(out);
}
