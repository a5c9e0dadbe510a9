/* info.c - mlog info: shows what a log holds */
#include <jansson.h>
#include <stdio.h>

#include "tool.h"

static const char usage[] =
    "usage: mlog info [--json] DIR\n"
    "\n"
    "Show what the log in DIR holds, as \"key: value\" lines in this order:\n"
    "process_id, group_size, protocol, incarnation, format_version, keyed\n"
    "(yes/no), records, first_lsn, last_lsn (0 when there are no records),\n"
    "checkpoints, sender_payloads, file_bytes (size of data.mdb), map_bytes\n"
    "(the LMDB map) and used_bytes (pages in use). Tags are not checked (see\n"
    "mlog verify), so no key is needed. The log is opened read-only.\n"
    "\n"
    "options:\n"
    "  -j, --json  one JSON object with the same keys (keyed is a boolean,\n"
    "              format_version a string such as \"1.0\")\n"
    "  -h, --help  show this help\n"
    "\n"
    "exit status: 0 ok, 1 the log is damaged (a torn or corrupt store),\n"
    "2 usage error, 3 the log could not be opened or read.\n";

/* The log's information as one JSON object (NULL when out of memory). */
static json_t *info_object(const mlog_log_info *in) {
  char version[16];
  snprintf(version, sizeof version, "%u.%u", in->format_major,
           in->format_minor);
  return json_pack(
      "{s:I, s:I, s:s, s:I, s:s, s:b, s:I, s:I, s:I, s:I, s:I, "
      "s:I, s:I, s:I}",
      "process_id", (json_int_t)in->process_id, "group_size",
      (json_int_t)in->group_size, "protocol", in->protocol, "incarnation",
      (json_int_t)in->incarnation, "format_version", version, "keyed",
      (int)in->keyed, "records", (json_int_t)in->records, "first_lsn",
      (json_int_t)in->first_lsn, "last_lsn", (json_int_t)in->last_lsn,
      "checkpoints", (json_int_t)in->checkpoints, "sender_payloads",
      (json_int_t)in->sender_payloads, "file_bytes", (json_int_t)in->file_bytes,
      "map_bytes", (json_int_t)in->map_bytes, "used_bytes",
      (json_int_t)in->used_bytes);
}

/* "key: value" lines, from the same object as --json so both agree. */
static void print_text(json_t *obj) {
  const char *name;
  json_t *val;
  json_object_foreach(obj, name, val) {
    if (json_is_boolean(val))
      printf("%s: %s\n", name, json_is_true(val) ? "yes" : "no");
    else if (json_is_string(val))
      printf("%s: %s\n", name, json_string_value(val));
    else
      printf("%s: %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(val));
  }
}

static int print_info(const char *dirpath, const mlog_log_info *in, bool json) {
  json_t *obj = info_object(in);
  if (obj == NULL) {
    tool_error("%s: out of memory", dirpath);
    return TOOL_UNREADABLE;
  }
  if (json) {
    json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    putchar('\n');
  } else {
    print_text(obj);
  }
  json_decref(obj);
  return TOOL_OK;
}

int cmd_info(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool json = false;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'j':
      json = true;
      break;
    case 'h':
      return tool_help(usage);
    default:
      return TOOL_USAGE;
    }
  }
  if (optind >= argc)
    return tool_usage_error("no log directory given");
  if (argc - optind > 1)
    return tool_usage_error("one log directory at a time");
  const char *dirpath = argv[optind];
  mlog_log *log;
  int rc = tool_open_log(dirpath, NULL, &log);
  if (rc != MLOG_OK)
    return tool_log_error(dirpath, rc, mlog_log_errmsg(NULL));
  mlog_log_info info;
  rc = mlog_log_get_info(log, &info);
  int status = rc == MLOG_OK
                   ? print_info(dirpath, &info, json)
                   : tool_log_error(dirpath, rc, mlog_log_errmsg(log));
  mlog_log_close(log);
  return status;
}
