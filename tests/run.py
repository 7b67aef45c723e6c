#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kvmm's test runner: every tier, one summary line.

Tiers: unit (cmocka programs), integration (boots test guests with the real
binary), linux (boots a Debian kernel; slow), firmware (GRUB through SeaBIOS
from a disk image; slow), fuzz (the libFuzzer targets of
--fuzz-build: replays their corpora, then fuzzes each $KVMM_FUZZ_SECONDS).
--tier quick = unit+integration, --tier all = everything CI runs. The last
line is always "N passed, N failed" (plus ", N skipped" when any were skipped).
"""
import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

TIERS = {
    "unit": ["unit"],
    "integration": ["integration"],
    "linux": ["linux"],
    "firmware": ["firmware"],
    "fuzz": ["fuzz"],
    "bench": ["bench"],
    "quick": ["unit", "integration"],
    "all": ["unit", "integration", "linux", "firmware", "fuzz", "bench"],
}

# Sanitizer findings must change the exit status, which tests check exactly.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=86:abort_on_error=0")
os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=87")
os.environ.setdefault("LSAN_OPTIONS", "exitcode=88")


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def record(self, status, name, detail="", seconds=0.0):
        if status == "PASS":
            self.passed += 1
            print(f"PASS {name} ({seconds:.1f}s)", flush=True)
        elif status == "SKIP":
            self.skipped += 1
            print(f"SKIP {name}: {detail}", flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL {name}\n{detail}", flush=True)


def run_unit(build, tally, filt, prefix="unit"):
    progs = sorted(glob.glob(os.path.join(build, "tests", "unit", "unit-*")))
    progs = [p for p in progs if os.access(p, os.X_OK) and not p.endswith(".p")]
    if not progs:
        tally.record("FAIL", "unit", f"no unit test programs under {build}/tests/unit")
        return
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    for prog in progs:
        mod = os.path.basename(prog)[len("unit-"):]
        if filt and not re.search(filt, f"{prefix}.{mod}"):
            continue
        start = time.monotonic()
        try:
            p = subprocess.run([prog], capture_output=True, timeout=120, env=env)
        except subprocess.TimeoutExpired:
            tally.record("FAIL", f"{prefix}.{mod}", "timed out after 120s")
            continue
        out = p.stdout.decode(errors="replace")
        seen = 0
        for line in out.splitlines():
            m = re.match(r"(not ok|ok) \d+ - (\S+)", line)
            if m:
                seen += 1
                status = "PASS" if m.group(1) == "ok" else "FAIL"
                tally.record(status, f"{prefix}.{mod}.{m.group(2)}", out + p.stderr.decode(errors="replace"),
                             time.monotonic() - start)
        if p.returncode != 0 and seen == 0:
            tally.record("FAIL", f"{prefix}.{mod}", f"exit {p.returncode}\n{out}\n{p.stderr.decode(errors='replace')}")


def run_fuzz(fuzz_build, tally, filt):
    """fuzz.<t>.replay runs tests/fuzz/{regressions,corpus}/<t>/ once; fuzz.<t> then fuzzes
    for $KVMM_FUZZ_SECONDS (default 60; 0 = replay only), two targets at a time."""
    import shutil
    sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
    import fuzzrun

    seconds = int(os.environ.get("KVMM_FUZZ_SECONDS", "60"))
    if not shutil.which("clang"):
        tally.record("SKIP", "fuzz", "clang is not installed (libFuzzer comes with it)")
        return
    targets = fuzzrun.targets(fuzz_build) if fuzz_build else []
    if not targets:
        tally.record("SKIP", "fuzz", f"no fuzz targets under {fuzz_build or '--fuzz-build'}/tests/fuzz "
                     "(make fuzz-build)")
        return
    targets = [t for t in targets if not filt or re.search(filt, f"fuzz.{t.name}")]
    for t in targets:
        start = time.monotonic()
        ok, detail = fuzzrun.replay(t)
        tally.record("PASS" if ok else "FAIL", f"fuzz.{t.name}.replay", detail, time.monotonic() - start)
    if seconds <= 0:
        return

    def one(t):
        return t, fuzzrun.fuzz(t, fuzz_build, seconds)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for t, (ok, detail, stats) in pool.map(one, targets):
            print(f"fuzz.{t.name}: {fuzzrun.describe(stats)}", flush=True)
            tally.record("PASS" if ok else "FAIL", f"fuzz.{t.name}", detail, stats["seconds"])


def load_integration():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "integration", "test_*.py"))):
        name = "integration." + os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)


def run_one(ctx_factory, name, fn):
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kvmm-test-") as tmp:
        ctx = ctx_factory(tmp)
        try:
            fn(ctx)
            return ("PASS", name, "", time.monotonic() - start)
        except harness.Skip as e:
            return ("SKIP", name, str(e), 0.0)
        except Exception:  # noqa: BLE001 - any error is a test failure
            return ("FAIL", name, traceback.format_exc(), time.monotonic() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    ap.add_argument("--tier", default="quick", choices=sorted(TIERS))
    ap.add_argument("-k", dest="filter", help="only tests whose name matches this regex")
    ap.add_argument("-j", dest="jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--sanitize-build", help="also run unit and integration tests with the "
                    "kvmm of this ASan/UBSan build directory (test names get an asan. prefix)")
    ap.add_argument("--fuzz-build", help="the clang -Dfuzz=true build directory for the fuzz tier")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tally = Tally()
    tiers = TIERS[args.tier]

    if "unit" in tiers:
        run_unit(build, tally, args.filter)
    load_integration()
    selected = [(n, f) for (t, n, f) in harness.TESTS if t in tiers
                and (not args.filter or re.search(args.filter, n))]

    jobs = [(lambda tmp: harness.Ctx(ROOT, build, tmp), n, f) for n, f in selected]
    if args.sanitize_build:
        san = os.path.abspath(args.sanitize_build)
        run_unit(san, tally, args.filter, prefix="asan.unit")
        for tier, n, f in harness.TESTS:
            if tier == "integration" and (not args.filter or re.search(args.filter, "asan." + n)):
                jobs.append((lambda tmp, san=san: harness.Ctx(ROOT, build, tmp, kvmm_build=san),
                             "asan." + n, f))

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for status, name, detail, secs in pool.map(lambda j: run_one(*j), jobs):
            tally.record(status, name, detail, secs)

    if "fuzz" in tiers:
        run_fuzz(os.path.abspath(args.fuzz_build) if args.fuzz_build else None, tally, args.filter)

    if tally.failures:
        print("\nfailed:\n  " + "\n  ".join(tally.failures))
    line = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        line += f", {tally.skipped} skipped"
    print(line)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
