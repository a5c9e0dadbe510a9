#!/usr/bin/env bash
# run.sh - run every benchmark of a build and merge their JSON results
#
# Usage: bash bench/run.sh BUILD_DIR [quick|full]      (default: quick)
#
# Runs each bench_NAME program that BUILD_DIR holds (CMake puts them in
# BUILD_DIR/bench/) with --quick or --full and --json BUILD_DIR/bench-NAME.json,
# then merges those arrays into BUILD_DIR/bench-results.json (with jq, else
# python3, else plain bash). Set MLOG_BENCH_DIR to choose the directory the
# benchmarks write their scratch files in (it must be on a real disk).
# Exits non-zero when no benchmark is found or any benchmark fails.
set -u -o pipefail

usage() {
  echo "usage: bash bench/run.sh BUILD_DIR [quick|full]" >&2
  exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
build_dir=$1
mode=${2:-quick}
case $mode in
quick | full) ;;
*) usage ;;
esac
if [ ! -d "$build_dir" ]; then
  echo "bench: $build_dir: no such build directory (build first)" >&2
  exit 2
fi
build_dir=$(cd "$build_dir" && pwd)

# The benchmark programs: BUILD_DIR/bench/bench_* first, else anywhere under
# BUILD_DIR (another generator or layout), never CMake's own files.
benches=()
if [ -d "$build_dir/bench" ]; then
  while IFS= read -r -d '' f; do
    benches+=("$f")
  done < <(find "$build_dir/bench" -maxdepth 1 -type f -name 'bench_*' \
    -perm -u+x -print0 | sort -z)
fi
if [ ${#benches[@]} -eq 0 ]; then
  while IFS= read -r -d '' f; do
    benches+=("$f")
  done < <(find "$build_dir" -path '*/CMakeFiles' -prune -o -type f \
    -name 'bench_*' ! -name '*.*' -perm -u+x -print0 | sort -z)
fi
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench: no bench_* programs under $build_dir (configured with" \
    "MLOG_BENCH=OFF, or not built?)" >&2
  exit 1
fi

extra=()
if [ -n "${MLOG_BENCH_DIR:-}" ]; then
  extra=(--dir "$MLOG_BENCH_DIR")
fi

results=$build_dir/bench-results.json
rm -f "$build_dir"/bench-*.json "$build_dir"/bench-*.txt
jsons=()
failed=()
timings=()
for exe in "${benches[@]}"; do
  name=$(basename "$exe")
  out=$build_dir/bench-${name#bench_}.json
  echo "==> $name --$mode"
  start=$SECONDS
  if "$exe" "--$mode" --json "$out" "${extra[@]}" |
    tee "$build_dir/bench-${name#bench_}.txt" && [ -s "$out" ]; then
    jsons+=("$out")
  else
    echo "bench: $name failed" >&2
    failed+=("$name")
  fi
  echo "==> $name: $((SECONDS - start)) s"
  timings+=("$name $((SECONDS - start)) s")
done

# Merge the arrays into one. The bash fallback relies on each file being one
# JSON array, which every benchmark writes.
merge_bash() {
  local f body sep="" all=""
  for f in "$@"; do
    body=$(<"$f")
    body=${body#"${body%%[![:space:]]*}"}
    body=${body%"${body##*[![:space:]]}"}
    if [ "${body:0:1}" != "[" ] || [ "${body: -1}" != "]" ]; then
      echo "bench: $f is not a JSON array" >&2
      return 1
    fi
    body=${body:1:${#body}-2}
    body=${body#"${body%%[![:space:]]*}"}
    body=${body%"${body##*[![:space:]]}"}
    if [ -n "$body" ]; then
      all+="$sep$body"
      sep=$',\n'
    fi
  done
  printf '[\n%s\n]\n' "$all"
}

merge() {
  if [ $# -eq 0 ]; then
    echo "[]"
  elif command -v jq >/dev/null 2>&1; then
    jq -s 'add' "$@"
  elif command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import json' >/dev/null 2>&1; then
    python3 - "$@" <<'EOF'
import json, sys
merged = []
for path in sys.argv[1:]:
    with open(path) as f:
        merged.extend(json.load(f))
json.dump(merged, sys.stdout, indent=2)
print()
EOF
  else
    merge_bash "$@"
  fi
}

if ! merge "${jsons[@]}" >"$results.tmp"; then
  echo "bench: cannot merge the results" >&2
  rm -f "$results.tmp"
  exit 1
fi
mv "$results.tmp" "$results"
# The verdicts on the targets that the benchmarks printed, together.
echo
echo "Targets and verdicts (each benchmark's tables above; all figures in" \
  "$results):"
for exe in "${benches[@]}"; do
  name=$(basename "$exe")
  grep -E '\b(met|MISSED)\b|^  [a-z_ 0-9]+: (bounded|GROWS)' \
    "$build_dir/bench-${name#bench_}.txt" 2>/dev/null |
    sed "s/^ */  $name: /" || true
done
echo
echo "bench: ${#jsons[@]} of ${#benches[@]} benchmark(s) ran ($(
  IFS=,
  echo "${timings[*]}" | sed 's/,/, /g'
)); results in $results"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
exit 0
