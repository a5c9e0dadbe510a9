/* chaos_bank.c - the bank example under mlog chaos: when its work is done,
 * and its invariants (the total conserved, every transfer applied once) */
#include <stdio.h>

#include "chaos.h"

#define OPENING 1000 /* each branch's opening balance (examples/bank.c) */

/* Every branch sent its kicks and every transfer made is applied. */
static bool bank_done(const chaos_view *v) {
  return chaos_sum(v, "kicks") == (int64_t)(v->work * v->procs) &&
         chaos_sum(v, "made") == chaos_sum(v, "applied");
}

static bool bank_judge(const chaos_view *v, json_t *json, FILE *text) {
  int64_t made = chaos_sum(v, "made"), applied = chaos_sum(v, "applied");
  int64_t total = chaos_sum(v, "balance"), dup = chaos_sum(v, "dup");
  int64_t expected = (int64_t)v->procs * OPENING;
  int64_t lost = made > applied ? made - applied : 0;
  json_object_set_new(json, "transfers", json_integer(made));
  json_object_set_new(json, "total", json_integer(total));
  json_object_set_new(json, "expected_total", json_integer(expected));
  json_object_set_new(json, "duplicates", json_integer(dup));
  json_object_set_new(json, "lost", json_integer(lost));
  if (text != NULL)
    fprintf(text,
            "  bank: %lld transfers; total %lld of %lld%s; %lld applied "
            "twice; %lld lost\n",
            (long long)made, (long long)total, (long long)expected,
            total == expected ? " (conserved)" : "", (long long)dup,
            (long long)lost);
  return total == expected && dup == 0 && lost == 0 && made == applied;
}

static void bank_progress(const chaos_view *v, char *out, size_t cap) {
  snprintf(out, cap, "%lld transfers made, %lld applied; %lld kicks of %llu",
           (long long)chaos_sum(v, "made"), (long long)chaos_sum(v, "applied"),
           (long long)chaos_sum(v, "kicks"),
           (unsigned long long)(v->work * v->procs));
}

const chaos_app chaos_bank = {.name = "bank",
                              .binary = "bank",
                              .work = 20,
                              .done = bank_done,
                              .judge = bank_judge,
                              .progress = bank_progress};
