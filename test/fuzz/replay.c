/* replay.c - runs fuzz corpora as regression tests without libFuzzer */

/*
 * Linked with one fuzz_*.c in place of libFuzzer's driver: every path on the
 * command line is a file (one input) or a directory (walked recursively, in
 * name order, so runs are reproducible). Each input is read into a heap
 * buffer of exactly its size, so that ASan catches any read past the end, and
 * handed to LLVMFuzzerTestOneInput. A crash, sanitizer report or abort inside
 * the target fails the test; the input's path is printed just before it
 * runs so the failing input is named. A path that cannot be read is an error
 * (exit 1): a corpus must never be skipped silently. Exit 2: usage.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* scandir, alphasort outside the build system */
#endif

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a fuzz target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long n_replayed;

/* Reads the regular file at path and runs it; returns 0 or -1 (reported). */
static int replay_file(const char *path, off_t expect) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t len = (size_t)expect;
  /* Never malloc(0): a NULL data pointer is not what libFuzzer passes. */
  uint8_t *buf = malloc(len > 0 ? len : 1);
  if (buf == NULL) {
    fprintf(stderr, "replay: %s: out of memory (%zu bytes)\n", path, len);
    fclose(f);
    return -1;
  }
  size_t got = fread(buf, 1, len, f);
  int err = ferror(f);
  /* A file that grew while being read would be replayed truncated. */
  int extra = !err && got == len && fgetc(f) != EOF;
  fclose(f);
  if (err || got != len || extra) {
    fprintf(stderr, "replay: %s: could not read %zu bytes\n", path, len);
    free(buf);
    return -1;
  }
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  (void)LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  n_replayed++;
  return 0;
}

static int replay_path(const char *path);

/* Replays every entry of the directory at path in name order. */
static int replay_dir(const char *path) {
  struct dirent **names = NULL;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
      size_t sz = strlen(path) + 1 + strlen(name) + 1;
      char *child = malloc(sz);
      if (child == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        rc = -1;
      } else {
        snprintf(child, sz, "%s/%s", path, name);
        rc = replay_path(child);
        free(child);
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

/* Replays a file or a directory tree; other kinds of files are an error. */
static int replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode))
    return replay_dir(path);
  if (S_ISREG(st.st_mode))
    return replay_file(path, st.st_size);
  fprintf(stderr, "replay: %s: not a regular file or directory\n", path);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize != NULL)
    (void)LLVMFuzzerInitialize(&argc, &argv);
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++)
    rc = replay_path(argv[i]);
  printf("%lu inputs replayed\n", n_replayed);
  return rc == 0 ? 0 : 1;
}
