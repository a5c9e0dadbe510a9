/* gen.c - mlog gen: writes a synthetic log for tests, demos and benchmarks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool.h"

#define BUFFER_BYTES ((uint64_t)64 << 20) /* payload bytes held per batch */
#define MAX_RECORDS ((uint64_t)1 << 40)
#define MAX_PROTOCOL 32 /* bytes the log keeps for the name, with its NUL */

static const char usage[] =
    "usage: mlog gen --out DIR --records N [--payload BYTES] [--batch N]\n"
    "                [--key FILE] [--process ID] [--group N]\n"
    "                [--protocol NAME] [--nosync]\n"
    "\n"
    "Write a synthetic log (for tests, demos and benchmarks) into DIR, which\n"
    "must not hold a log yet (it is created if missing). Record i (lsn i,\n"
    "from 1) is a delivery to process ID from the other processes in turn\n"
    "(src = (ID + 1 + (i-1) mod (N-1)) mod N, or ID when N is 1), with\n"
    "rsn i, ssn counted per sender and incarnation 0. Its payload starts with\n"
    "the marker \"<lsn=i>\" followed by the letters a..z repeated, so the\n"
    "bytes of a given record can be found in DIR/data.mdb. Prints\n"
    "\"DIR: wrote N records (lsn 1..N)\".\n"
    "\n"
    "options:\n"
    "  -o, --out DIR        the log directory to write (required)\n"
    "  -n, --records N      how many records (required)\n"
    "  -p, --payload BYTES  payload bytes per record (default 64)\n"
    "  -b, --batch N        records per commit (default 1000)\n"
    "  -k, --key FILE       write a keyed log (tags are MACs under the key)\n"
    "      --process ID     the log's process id (default 0)\n"
    "      --group N        the group size (default 1; ID < N)\n"
    "      --protocol NAME  the protocol name to record, under 32 bytes\n"
    "                       (default \"none\")\n"
    "      --nosync         do not flush commits (faster; a crash of the OS\n"
    "                       can lose them)\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 written, 2 usage error (also: a key file that cannot be\n"
    "read or is not 32 bytes), 3 the log could not be created or written\n"
    "(also: DIR already holds a log).\n";

enum { OPT_PROCESS = 256, OPT_GROUP, OPT_PROTOCOL, OPT_NOSYNC };

typedef struct gen_opts {
  const char *out, *keyfile, *protocol;
  uint64_t records, payload, batch, process, group;
  bool nosync, help;
} gen_opts;

/* The payload of the record with lsn `lsn`: marker, then a..z repeated. */
static void fill_payload(uint8_t *buf, uint64_t len, uint64_t lsn) {
  char marker[32];
  uint64_t n = (uint64_t)snprintf(marker, sizeof marker, "<lsn=%llu>",
                                  (unsigned long long)lsn);
  for (uint64_t j = 0; j < len; j++)
    buf[j] = j < n ? (uint8_t)marker[j] : (uint8_t)('a' + (j - n) % 26);
}

/* Record i (from 0) of the synthetic log. */
static void fill_record(const gen_opts *o, uint64_t i, uint8_t *buf,
                        mlog_record *rec) {
  uint64_t peers = o->group > 1 ? o->group - 1 : 1;
  uint64_t src =
      o->group > 1 ? (o->process + 1 + i % peers) % o->group : o->process;
  fill_payload(buf, o->payload, i + 1);
  *rec = (mlog_record){.type = MLOG_REC_DELIVERY,
                       .src = (uint32_t)src,
                       .dst = (uint32_t)o->process,
                       .ssn = i / peers + 1,
                       .rsn = i + 1,
                       .payload = buf,
                       .payload_len = (uint32_t)o->payload};
}

/* Append every record in batches; returns an exit status. */
static int write_records(mlog_log *log, const gen_opts *o) {
  uint64_t batch = o->batch;
  if (o->payload > 0 && batch > BUFFER_BYTES / o->payload)
    batch = BUFFER_BYTES / o->payload; /* >= 1: payloads are <= 64 MiB */
  mlog_record *recs = malloc(batch * sizeof *recs);
  uint8_t *bufs = malloc(batch * o->payload + 1);
  int status = TOOL_OK;
  if (recs == NULL || bufs == NULL) {
    tool_error("out of memory for batches of %llu records",
               (unsigned long long)batch);
    status = TOOL_UNREADABLE;
  }
  for (uint64_t done = 0; status == TOOL_OK && done < o->records;) {
    uint64_t n = o->records - done < batch ? o->records - done : batch;
    for (uint64_t j = 0; j < n; j++)
      fill_record(o, done + j, bufs + j * o->payload, &recs[j]);
    int rc = mlog_log_append(log, recs, n);
    if (rc != MLOG_OK) {
      tool_log_error(o->out, rc, mlog_log_errmsg(log));
      status = TOOL_UNREADABLE;
    }
    done += n;
    tool_progress(o->out, done, o->records);
  }
  tool_progress_end();
  free(bufs);
  free(recs);
  return status;
}

static int generate(const gen_opts *o, const mlog_key *key) {
  char path[4200];
  struct stat sb;
  snprintf(path, sizeof path, "%s/data.mdb", o->out);
  if (stat(path, &sb) == 0) {
    tool_error("%s: already holds a log: refusing to add to it", o->out);
    return TOOL_UNREADABLE;
  }
  mlog_log_config cfg = {.process_id = (uint32_t)o->process,
                         .group_size = (uint32_t)o->group,
                         .protocol = o->protocol,
                         .key = key};
  unsigned flags = MLOG_LOG_CREATE | (o->nosync ? MLOG_LOG_NOSYNC : 0);
  mlog_log *log;
  int rc = mlog_log_open(o->out, flags, &cfg, &log);
  if (rc != MLOG_OK) {
    tool_log_error(o->out, rc, mlog_log_errmsg(NULL));
    return TOOL_UNREADABLE;
  }
  int status = write_records(log, o);
  mlog_log_close(log);
  if (status == TOOL_OK && o->records == 0)
    printf("%s: wrote 0 records\n", o->out);
  else if (status == TOOL_OK)
    printf("%s: wrote %llu records (lsn 1..%llu)\n", o->out,
           (unsigned long long)o->records, (unsigned long long)o->records);
  return status;
}

/* Parse one option other than --help into *o; returns TOOL_OK or
 * TOOL_USAGE (reported). */
static int parse_option(int c, gen_opts *o) {
  bool ok = true;
  switch (c) {
  case 'o':
    o->out = optarg;
    break;
  case 'n':
    ok = tool_parse_u64("--records", optarg, 0, MAX_RECORDS, &o->records);
    break;
  case 'p':
    ok = tool_parse_u64("--payload", optarg, 0, MLOG_PAYLOAD_MAX, &o->payload);
    break;
  case 'b':
    ok = tool_parse_u64("--batch", optarg, 1, 1000000, &o->batch);
    break;
  case 'k':
    o->keyfile = optarg;
    break;
  case OPT_PROCESS:
    ok = tool_parse_u64("--process", optarg, 0, UINT32_MAX - 1, &o->process);
    break;
  case OPT_GROUP:
    ok = tool_parse_u64("--group", optarg, 1, UINT32_MAX, &o->group);
    break;
  case OPT_PROTOCOL:
    o->protocol = optarg;
    break;
  case OPT_NOSYNC:
    o->nosync = true;
    break;
  default:
    return TOOL_USAGE;
  }
  return ok ? TOOL_OK : TOOL_USAGE;
}

static int parse_args(int argc, char **argv, gen_opts *o) {
  static const struct option longopts[] = {
      {"out", required_argument, NULL, 'o'},
      {"records", required_argument, NULL, 'n'},
      {"payload", required_argument, NULL, 'p'},
      {"batch", required_argument, NULL, 'b'},
      {"key", required_argument, NULL, 'k'},
      {"process", required_argument, NULL, OPT_PROCESS},
      {"group", required_argument, NULL, OPT_GROUP},
      {"protocol", required_argument, NULL, OPT_PROTOCOL},
      {"nosync", no_argument, NULL, OPT_NOSYNC},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool have_records = false;
  int c;
  tool_opt_begin();
  while ((c = tool_getopt(argc, argv, longopts)) != -1) {
    if (c == 'h') {
      o->help = true;
      return tool_help(usage);
    }
    int status = parse_option(c, o);
    if (status != TOOL_OK)
      return status;
    have_records |= c == 'n';
  }
  if (optind < argc)
    return tool_usage_error("unexpected argument '%s'", argv[optind]);
  if (o->out == NULL || !have_records)
    return tool_usage_error("--out DIR and --records N are required");
  if (o->protocol != NULL && strlen(o->protocol) >= MAX_PROTOCOL)
    return tool_usage_error("--protocol: a name of at most %d bytes",
                            MAX_PROTOCOL - 1);
  if (o->process >= o->group)
    return tool_usage_error("--process %llu is not below --group %llu",
                            (unsigned long long)o->process,
                            (unsigned long long)o->group);
  return TOOL_OK;
}

int cmd_gen(int argc, char **argv) {
  gen_opts o = {.payload = 64, .batch = 1000, .group = 1};
  int status = parse_args(argc, argv, &o);
  if (status != TOOL_OK || o.help)
    return status;
  mlog_key key;
  if (o.keyfile != NULL && tool_load_key(o.keyfile, &key) != TOOL_OK)
    return TOOL_USAGE;
  status = generate(&o, o.keyfile ? &key : NULL);
  if (o.keyfile != NULL)
    tool_forget_key(&key);
  return status;
}
