# Makefile - one-command entry points around the CMake presets:
#   make build | demo | test | asan-test | tsan-test | bench | fuzz | format | clean
# Each target first makes sure the Debian packages it needs are installed
# (installing them when run as root or with passwordless sudo).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

JOBS ?= 2
BENCH_MODE ?= quick
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_MERGE ?= 0

# Debian packages, per purpose. A target requires only what it needs.
PKGS_BUILD := build-essential cmake pkg-config liblmdb-dev libsodium-dev \
              libzmq3-dev libjansson-dev
PKGS_TEST := $(PKGS_BUILD) libcriterion-dev lmdb-utils
PKGS_ASAN := $(PKGS_TEST)
PKGS_FUZZ := $(PKGS_BUILD) clang libclang-rt-14-dev
PKGS_BENCH := $(PKGS_BUILD) libsqlite3-dev librocksdb-dev
PKGS_FORMAT := clang-format
PKGS_ALL := $(sort $(PKGS_TEST) $(PKGS_FUZZ) $(PKGS_BENCH))

FORMAT_DIRS := include core logging recovery transport tools examples bench test

# $(call ensure_pkgs,PKG...): install what is missing, or explain and fail.
define ensure_pkgs
if ! command -v dpkg-query >/dev/null 2>&1; then \
  echo "mlog: not a Debian system, not checking packages ($(strip $(1)))"; \
else \
  missing=""; \
  for p in $(1); do \
    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null \
      | grep -q 'install ok installed' || missing="$$missing $$p"; \
  done; \
  missing="$${missing# }"; \
  if [ -n "$$missing" ]; then \
    if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
      sudo="sudo"; \
    else \
      echo "mlog: missing Debian packages: $$missing; run 'sudo apt-get install $$missing' (or make deps as root)" >&2; \
      exit 1; \
    fi; \
    echo "==> deps: installing $$missing"; \
    $$sudo apt-get update -qq </dev/null; \
    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      -o DPkg::Lock::Timeout=300 $$missing </dev/null; \
  fi; \
fi
endef

# $(call configure,PRESET): configure once, and again when the presets change
# (CMakeLists.txt changes are picked up by 'cmake --build' itself).
define configure
stamp=build/$(1)/.mlog-configured; \
if [ ! -f "$$stamp" ] || [ CMakePresets.json -nt "$$stamp" ]; then \
  echo "==> configure: cmake --preset $(1)"; \
  cmake --preset $(1); \
  touch "$$stamp"; \
fi
endef

.PHONY: help deps deps-build deps-test deps-asan deps-fuzz deps-bench \
        deps-format build demo test asan-test tsan-test bench fuzz format \
        format-check clean

help:
	@echo "make build      release build (build/release)"
	@echo "make demo       build, then run examples/demo.sh"
	@echo "make test       debug build + all tests (build/dev)"
	@echo "make asan-test  tests under AddressSanitizer + UBSan (build/asan)"
	@echo "make tsan-test  tests under ThreadSanitizer (build/tsan; TSAN_LABEL=smoke: threaded ones only)"
	@echo "make bench      release build, then bench/run.sh (BENCH_MODE=$(BENCH_MODE))"
	@echo "make fuzz       libFuzzer, FUZZ_SECONDS=$(FUZZ_SECONDS) per target (FUZZ_MERGE=1 to grow test/fuzz/corpus)"
	@echo "make format     clang-format -i on every .c/.h"
	@echo "make deps       install every Debian package any target needs"
	@echo "make clean      rm -rf build"

deps:
	@$(call ensure_pkgs,$(PKGS_ALL))
deps-build:
	@$(call ensure_pkgs,$(PKGS_BUILD))
deps-test:
	@$(call ensure_pkgs,$(PKGS_TEST))
deps-asan:
	@$(call ensure_pkgs,$(PKGS_ASAN))
deps-fuzz:
	@$(call ensure_pkgs,$(PKGS_FUZZ))
deps-bench:
	@$(call ensure_pkgs,$(PKGS_BENCH))
deps-format:
	@$(call ensure_pkgs,$(PKGS_FORMAT))

build: deps-build
	@echo "==> build: release (build/release)"
	@$(call configure,release)
	cmake --build --preset release -j$(JOBS)

demo: build
	@echo "==> demo: examples/demo.sh build/release"
	bash examples/demo.sh build/release

test: deps-test
	@echo "==> test: debug build + ctest (build/dev)"
	@$(call configure,dev)
	cmake --build --preset dev -j$(JOBS)
	ctest --preset dev -j$(JOBS)

asan-test: deps-asan
	@echo "==> asan-test: ASan + UBSan build + ctest (build/asan)"
	@$(call configure,asan)
	cmake --build --preset asan -j$(JOBS)
	ctest --preset asan -j$(JOBS)

tsan-test: deps-asan
	@echo "==> tsan-test: TSan build + ctest (build/tsan)"
	@$(call configure,tsan)
	cmake --build --preset tsan -j$(JOBS)
	ctest --preset tsan -j$(JOBS) $(if $(TSAN_LABEL),-L $(TSAN_LABEL))

bench: deps-bench
	@echo "==> bench: release build, then bench/run.sh ($(BENCH_MODE))"
	@# Configure again: CMake finds the peers (MLOG_BENCH_WITH_*=AUTO) only
	@# when it configures, and deps-bench may just have installed them.
	@rm -f build/release/.mlog-configured
	@$(call configure,release)
	cmake --build --preset release -j$(JOBS)
	bash bench/run.sh build/release $(BENCH_MODE)

# Each target fuzzes a scratch copy of its committed corpus. Inputs that add
# coverage beyond the committed corpus are merged into
# build/fuzz/corpus-new/<target>/ (and into test/fuzz/corpus/<target>/ only
# with FUZZ_MERGE=1). Crashes, leaks and timeouts land in
# build/fuzz/artifacts/<target>/ and fail the run after all targets ran.
fuzz: deps-fuzz
	@echo "==> fuzz: clang libFuzzer build (build/fuzz)"
	@$(call configure,fuzz)
	cmake --build --preset fuzz -j$(JOBS)
	@shopt -s nullglob; failed=(); ran=0; \
	for src in test/fuzz/fuzz_*.c; do \
	  name=$$(basename "$$src" .c); bin=build/fuzz/test/fuzz/$$name; \
	  [ -x "$$bin" ] || { echo "fuzz: $$name was not built, skipped"; continue; }; \
	  seeds=test/fuzz/corpus/$$name; work=build/fuzz/corpus-work/$$name; \
	  merged=build/fuzz/corpus-merge/$$name; new=build/fuzz/corpus-new/$$name; \
	  art=build/fuzz/artifacts/$$name; \
	  rm -rf "$$work" "$$merged"; mkdir -p "$$work" "$$merged" "$$new" "$$art"; \
	  if [ -d "$$seeds" ]; then cp -R "$$seeds/." "$$work/"; cp -R "$$seeds/." "$$merged/"; fi; \
	  echo "==> fuzz: $$name for $(FUZZ_SECONDS)s"; ran=$$((ran + 1)); \
	  if ! "$$bin" -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	      -print_final_stats=1 -artifact_prefix="$$art/" "$$work" \
	      >"$$art/fuzz.log" 2>&1; then \
	    tail -n 60 "$$art/fuzz.log"; \
	    echo "fuzz: $$name FAILED; log and reproducer in $$art/" >&2; \
	    failed+=("$$name"); \
	  else \
	    grep -E '^(stat::|Done )' "$$art/fuzz.log" || true; \
	  fi; \
	  if "$$bin" -merge=1 -timeout=$(FUZZ_TIMEOUT) -artifact_prefix="$$art/" \
	      "$$merged" "$$work" >"$$art/merge.log" 2>&1; then \
	    added=0; \
	    for f in "$$merged"/*; do \
	      b=$$(basename "$$f"); \
	      [ -e "$$seeds/$$b" ] && continue; \
	      cp "$$f" "$$new/$$b"; added=$$((added + 1)); \
	      if [ "$(FUZZ_MERGE)" = 1 ]; then mkdir -p "$$seeds"; cp "$$f" "$$seeds/$$b"; fi; \
	    done; \
	    echo "fuzz: $$name: $$added new input(s) -> $$new/"; \
	    [ "$(FUZZ_MERGE)" = 1 ] && [ $$added -gt 0 ] && echo "fuzz: $$name: merged into $$seeds/"; true; \
	  else \
	    echo "fuzz: $$name: corpus merge failed, see $$art/merge.log" >&2; \
	  fi; \
	done; \
	[ $$ran -gt 0 ] || echo "fuzz: no fuzz targets (test/fuzz/fuzz_*.c)"; \
	if [ $${#failed[@]} -gt 0 ]; then \
	  echo "fuzz: FAILED: $${failed[*]}" >&2; exit 1; \
	fi; \
	echo "==> fuzz: $$ran target(s), no crash"

format: deps-format
	@echo "==> format: clang-format -i"
	@find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) -print0 \
	  | xargs -0 -r clang-format -i

format-check: deps-format
	@echo "==> format-check: clang-format --dry-run -Werror"
	@find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) -print0 \
	  | xargs -0 -r clang-format --dry-run -Werror

clean:
	@echo "==> clean: rm -rf build"
	rm -rf build
