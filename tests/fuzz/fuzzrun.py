# SPDX-License-Identifier: MIT
"""Runs the libFuzzer targets of a fuzz build directory (docs/testing.md, "Fuzzing").

Used by tests/run.py's fuzz tier (and so by `make fuzz` and `make check`):
  replay(t)  runs every file in tests/fuzz/regressions/<name>/ and corpus/<name>/ once
  fuzz(t)    fuzzes for a while from a writable copy of the corpus under
             <build>/fuzz-corpus/<name>/ (kept between runs, so it grows), writing
             crash/leak/timeout inputs to <build>/fuzz-artifacts/<name>/
Each returns (ok, detail); detail says how to reproduce a failure.
"""
import glob
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


@dataclass
class Target:
    name: str      # "boot": test fuzz.boot, tests/fuzz/corpus/boot/
    binary: str    # <build>/tests/fuzz/fuzz_boot


def targets(build):
    found = []
    for path in sorted(glob.glob(os.path.join(build, "tests", "fuzz", "fuzz_*"))):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            found.append(Target(os.path.basename(path)[len("fuzz_"):], path))
    return found


def _rel(path):
    return os.path.relpath(path, os.getcwd())


def _inputs(name):
    files = []
    for kind in ("regressions", "corpus"):
        files += sorted(p for p in glob.glob(os.path.join(HERE, kind, name, "*"))
                        if os.path.isfile(p) and not os.path.basename(p).startswith("README"))
    return files


def _tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


def replay(t, timeout=300):
    """Every regression input, then every seed, run once: any crash fails."""
    files = _inputs(t.name)
    if not files:
        return False, f"no seeds in tests/fuzz/corpus/{t.name}/: every target needs some"
    try:
        p = subprocess.run([t.binary, "-runs=1"] + files, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"replaying {len(files)} inputs took over {timeout}s"
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if p.returncode == 0:
        return True, f"{len(files)} inputs"
    ran = re.findall(r"^Running: (.*)$", out, re.M)
    culprit = ran[-1] if ran else "?"
    return False, (f"{_tail(out)}\n\ninput: {_rel(culprit)}\n"
                   f"reproduce: {_rel(t.binary)} {_rel(culprit)}")


def fuzz(t, build, seconds):
    """Fuzzes t for seconds. Returns (ok, detail, stats)."""
    work = os.path.join(build, "fuzz-corpus", t.name)
    art = os.path.join(build, "fuzz-artifacts", t.name)
    os.makedirs(work, exist_ok=True)
    os.makedirs(art, exist_ok=True)
    for f in _inputs(t.name):
        dst = os.path.join(work, os.path.basename(f))
        if not os.path.exists(dst):
            shutil.copyfile(f, dst)
    before = set(os.listdir(art))
    cmd = [t.binary, work, f"-max_total_time={seconds}", f"-artifact_prefix={art}/",
           "-print_final_stats=1", "-timeout=30", "-rss_limit_mb=3072"]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=seconds + 300)
        rc, out = p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, out = -1, ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
        out += f"\nkilled after {seconds + 300}s"
    stats = {k: int(v) for k, v in re.findall(r"^stat::(\w+):\s+(\d+)", out, re.M)}
    stats["seconds"] = time.monotonic() - start
    stats["corpus"] = len(os.listdir(work))
    if rc == 0:
        return True, "", stats
    written = re.findall(r"Test unit written to (\S+)", out)
    new = sorted(set(os.listdir(art)) - before)
    artifact = written[-1] if written else (os.path.join(art, new[-1]) if new else None)
    detail = _tail(out)
    if artifact:
        detail += (f"\n\nartifact: {_rel(artifact)}\n"
                   f"reproduce: {_rel(t.binary)} {_rel(artifact)}\n"
                   f"once fixed, keep it: cp {_rel(artifact)} tests/fuzz/regressions/{t.name}/<what-it-was>")
    else:
        detail += f"\n\nexit status {rc}, no artifact written"
    return False, detail, stats


def describe(stats):
    execs = stats.get("number_of_executed_units", 0)
    rate = stats.get("average_exec_per_sec", 0)
    return (f"{execs} execs, {rate}/s, {stats.get('new_units_added', 0)} new units, "
            f"corpus {stats.get('corpus', 0)}, peak rss {stats.get('peak_rss_mb', 0)} MB")
