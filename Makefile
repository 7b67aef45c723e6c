# Thin wrapper over meson/ninja and the test runner. `make help` lists targets.
BUILD   ?= build
PYTHON  ?= python3
FUZZ_SECONDS ?= 60
MESON_OPTS ?=

.PHONY: all kvmm guests deps check check-quick unit integration clean help format sanitize-build clang-build fuzz fuzz-build

all: kvmm guests

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

kvmm: $(BUILD)/build.ninja
	ninja -C $(BUILD)

guests:
	$(MAKE) -C guest OUT=$(abspath $(BUILD))/guest

# Debian packages the build and tests need (run as root; skips what is installed).
deps:
	@sh tools/install-deps.sh

# Everything CI runs: unit, integration (several CPU counts and memory sizes),
# the Linux boot test, the whole suite again under ASan+UBSan+LSan, and a clang
# -Werror build. Ends with "N passed, N failed[, N skipped]".
check: all sanitize-build clang-build fuzz-build
	$(PYTHON) tests/run.py --build $(BUILD) --tier all --sanitize-build $(BUILD)-asan --fuzz-build $(BUILD)-fuzz

# The same sources built with ASan+UBSan (LeakSanitizer included) for the sanitizer tier.
sanitize-build:
	[ -f $(BUILD)-asan/build.ninja ] || CC=clang meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan

# gcc and clang must both build warning-free.
clang-build:
	[ -f $(BUILD)-clang/build.ninja ] || CC=clang meson setup $(BUILD)-clang
	ninja -C $(BUILD)-clang

# libFuzzer targets (tests/fuzz/, docs/testing.md "Fuzzing"), ASan+UBSan; without
# clang there is nothing to build and the fuzz tier reports SKIP.
fuzz-build:
	@if command -v clang >/dev/null; then \
	  [ -f $(BUILD)-fuzz/build.ninja ] || CC=clang meson setup $(BUILD)-fuzz -Dfuzz=true \
	    -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false; \
	  ninja -C $(BUILD)-fuzz fuzz; \
	else echo "fuzz-build: clang not found, skipping"; fi

# Replays every seed and regression input, then fuzzes each target FUZZ_SECONDS
# (default 60; 0 = replay only), two at a time. Crashes land in $(BUILD)-fuzz/fuzz-artifacts/.
fuzz: fuzz-build
	KVMM_FUZZ_SECONDS=$(FUZZ_SECONDS) $(PYTHON) tests/run.py --build $(BUILD) --tier fuzz --fuzz-build $(BUILD)-fuzz

# The fast edit-test loop (under 5 minutes): unit and integration tests.
check-quick: all
	$(PYTHON) tests/run.py --build $(BUILD) --tier quick

unit: kvmm
	$(PYTHON) tests/run.py --build $(BUILD) --tier unit

integration: all
	$(PYTHON) tests/run.py --build $(BUILD) --tier integration

# Benchmarks, kvmm side by side with QEMU/KVM in the same run (docs/performance.md).
# Not a test: prints a table and writes $(BUILD)/bench/results.{csv,json} and plots.
# Installs qemu-system-x86 and gnuplot-nox when missing (as root).
.PHONY: bench bench-smoke
bench: all
	@sh bench/install-deps.sh
	$(PYTHON) bench/run.py --build $(BUILD) $(BENCH_OPTS)

# Every benchmark once with tiny sizes; fails only when a row produced no kvmm
# numbers (QEMU columns are n/a when QEMU is not installed). Under 2 minutes.
bench-smoke: all
	$(PYTHON) bench/run.py --build $(BUILD) --smoke

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'guest/*.c' 'guest/*.h')

clean:
	rm -rf $(BUILD) build-*

help:
	@echo "make            build build/kvmm and the test guests (build/guest/*.elf)"
	@echo "make deps       install the Debian packages kvmm needs (as root)"
	@echo "make check      run every test tier CI runs"
	@echo "make check-quick  unit + integration tests (< 5 minutes)"
	@echo "make fuzz       replay the fuzz corpora, then fuzz each target FUZZ_SECONDS (default 60)"
	@echo "make unit | integration | format | clean"
