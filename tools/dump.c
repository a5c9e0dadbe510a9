/* dump.c - mlog dump: prints a log's records as text or JSON lines */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define TEXT_PAYLOAD_BYTES 64 /* payload bytes shown in text without --full */
#define NO_MEMORY (-1)        /* the callback stopped the scan: no memory */
#define NO_OUTPUT (-2)        /* the callback stopped the scan: stdout failed */

static const char usage[] =
    "usage: mlog dump [--json] [--full] [--key FILE] DIR\n"
    "\n"
    "Print the records of the log in DIR, one per line in lsn order. Each\n"
    "record's tag and chain link are checked before it is printed, so a\n"
    "keyed log needs its key. Text lines look like\n"
    "  lsn=1 type=delivery src=0 dst=1 ssn=1 rsn=1 inc=0 flags=0x00 len=5 "
    "payload=68656c6c6f\n"
    "with the payload in hex; past 64 bytes it is cut and ends in "
    "\"\xe2\x80\xa6(LEN)\".\n"
    "With --json each line is an object with the keys lsn, type, src, dst,\n"
    "ssn, rsn, incarnation, flags, payload_len, payload_hex (always the whole\n"
    "payload) and tag (hex); numbers above 2^63-1 are written as strings.\n"
    "\n"
    "options:\n"
    "  -j, --json      JSON Lines instead of text\n"
    "  -f, --full      print whole payloads in text too\n"
    "  -k, --key FILE  the log key (required for keyed logs)\n"
    "  -h, --help      show this help\n"
    "\n"
    "exit status: 0 every record printed, 1 a bad record stopped the dump\n"
    "(the records before it are printed, the error names it on stderr),\n"
    "2 usage error (also: a key file that cannot be read or is not 32 bytes),\n"
    "3 the log could not be opened or read (also: a keyed log without --key,\n"
    "a wrong key) or the output could not be written.\n";

typedef struct dump_state {
  bool json, full;
  char *hex; /* scratch for hex encoding, grown as needed */
  size_t hex_cap;
} dump_state;

static const char *type_name(uint8_t type) {
  switch (type) {
  case MLOG_REC_DELIVERY:
    return "delivery";
  case MLOG_REC_PAYLOAD:
    return "payload";
  case MLOG_REC_NONDET:
    return "nondet";
  case MLOG_REC_CHECKPOINT:
    return "checkpoint";
  case MLOG_REC_CONTROL:
    return "control";
  default:
    return "unknown";
  }
}

/* Hex of buf[0..len) in the state's scratch; NULL when out of memory. */
static const char *to_hex(dump_state *st, const void *buf, size_t len) {
  static const char digits[] = "0123456789abcdef";
  if (2 * len + 1 > st->hex_cap) {
    char *p = realloc(st->hex, 2 * len + 1);
    if (p == NULL)
      return NULL;
    st->hex = p;
    st->hex_cap = 2 * len + 1;
  }
  const uint8_t *in = buf;
  for (size_t i = 0; i < len; i++) {
    st->hex[2 * i] = digits[in[i] >> 4];
    st->hex[2 * i + 1] = digits[in[i] & 15];
  }
  st->hex[2 * len] = '\0';
  return st->hex;
}

static int print_text(dump_state *st, const mlog_record *rec) {
  bool cut = !st->full && rec->payload_len > TEXT_PAYLOAD_BYTES;
  const char *hex =
      to_hex(st, rec->payload, cut ? TEXT_PAYLOAD_BYTES : rec->payload_len);
  if (hex == NULL)
    return NO_MEMORY;
  printf("lsn=%llu type=%s src=%u dst=%u ssn=%llu rsn=%llu inc=%u "
         "flags=0x%02x len=%u payload=%s",
         (unsigned long long)rec->lsn, type_name(rec->type), rec->src, rec->dst,
         (unsigned long long)rec->ssn, (unsigned long long)rec->rsn,
         rec->incarnation, rec->flags, rec->payload_len, hex);
  if (cut)
    printf("\xe2\x80\xa6(%u)", rec->payload_len);
  putchar('\n');
  return 0;
}

/* A JSON number, or a decimal string above what jansson's integers hold. */
static json_t *json_u64(uint64_t v) {
  if (v <= INT64_MAX)
    return json_integer((json_int_t)v);
  char buf[24];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  return json_string(buf);
}

static int print_json(dump_state *st, const mlog_record *rec) {
  char tag[2 * MLOG_TAG_BYTES + 1];
  const char *hex = to_hex(st, rec->tag, MLOG_TAG_BYTES);
  if (hex == NULL)
    return NO_MEMORY;
  memcpy(tag, hex, sizeof tag);
  hex = to_hex(st, rec->payload, rec->payload_len);
  if (hex == NULL)
    return NO_MEMORY;
  json_t *obj =
      json_pack("{s:o, s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:s, s:s}",
                "lsn", json_u64(rec->lsn), "type", type_name(rec->type), "src",
                (json_int_t)rec->src, "dst", (json_int_t)rec->dst, "ssn",
                json_u64(rec->ssn), "rsn", json_u64(rec->rsn), "incarnation",
                (json_int_t)rec->incarnation, "flags", (json_int_t)rec->flags,
                "payload_len", (json_int_t)rec->payload_len, "payload_hex", hex,
                "tag", tag);
  if (obj == NULL)
    return NO_MEMORY;
  int rc = json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  putchar('\n');
  return rc == 0 ? 0 : NO_OUTPUT;
}

static int dump_record(void *arg, const mlog_record *rec) {
  dump_state *st = arg;
  int rc = st->json ? print_json(st, rec) : print_text(st, rec);
  return rc == 0 && ferror(stdout) ? NO_OUTPUT : rc;
}

static int dump_log(const char *dirpath, const mlog_key *key, dump_state *st) {
  mlog_log *log;
  int rc = tool_open_log(dirpath, key, &log);
  if (rc != MLOG_OK)
    return tool_log_error(dirpath, rc, mlog_log_errmsg(NULL));
  rc = mlog_log_scan(log, 0, dump_record, st);
  int status = TOOL_OK;
  if (rc == NO_MEMORY) {
    tool_error("%s: out of memory", dirpath);
    status = TOOL_UNREADABLE;
  } else if (rc == NO_OUTPUT) {
    if (!ferror(stdout)) /* else reported once, when the tool exits */
      tool_error("%s: cannot encode a record", dirpath);
    status = TOOL_UNREADABLE;
  } else if (rc != MLOG_OK) {
    status = tool_log_error(dirpath, rc, mlog_log_errmsg(log));
  }
  mlog_log_close(log);
  return status;
}

int cmd_dump(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},
      {"full", no_argument, NULL, 'f'},
      {"key", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  dump_state st = {0};
  const char *keyfile = NULL;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    switch (c) {
    case 'j':
      st.json = true;
      break;
    case 'f':
      st.full = true;
      break;
    case 'k':
      keyfile = optarg;
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
  mlog_key key;
  if (keyfile != NULL && tool_load_key(keyfile, &key) != TOOL_OK)
    return TOOL_USAGE;
  int status = dump_log(argv[optind], keyfile ? &key : NULL, &st);
  if (keyfile != NULL)
    tool_forget_key(&key);
  free(st.hex);
  return status;
}
