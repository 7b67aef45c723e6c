# Thin wrapper over meson/ninja and the test runner. `make help` lists targets.
BUILD   ?= build
PYTHON  ?= python3
MESON_OPTS ?=

.PHONY: all kvmm guests deps check check-quick unit integration clean help format sanitize-build clang-build

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
check: all sanitize-build clang-build
	$(PYTHON) tests/run.py --build $(BUILD) --tier all --sanitize-build $(BUILD)-asan

# The same sources built with ASan+UBSan (LeakSanitizer included) for the sanitizer tier.
sanitize-build:
	[ -f $(BUILD)-asan/build.ninja ] || CC=clang meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan

# gcc and clang must both build warning-free.
clang-build:
	[ -f $(BUILD)-clang/build.ninja ] || CC=clang meson setup $(BUILD)-clang
	ninja -C $(BUILD)-clang

# The fast edit-test loop (under 5 minutes): unit and integration tests.
check-quick: all
	$(PYTHON) tests/run.py --build $(BUILD) --tier quick

unit: kvmm
	$(PYTHON) tests/run.py --build $(BUILD) --tier unit

integration: all
	$(PYTHON) tests/run.py --build $(BUILD) --tier integration

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'guest/*.c' 'guest/*.h')

clean:
	rm -rf $(BUILD) build-*

help:
	@echo "make            build build/kvmm and the test guests (build/guest/*.elf)"
	@echo "make deps       install the Debian packages kvmm needs (as root)"
	@echo "make check      run every test tier CI runs"
	@echo "make check-quick  unit + integration tests (< 5 minutes)"
	@echo "make unit | integration | format | clean"
