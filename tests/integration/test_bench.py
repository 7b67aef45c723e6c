# SPDX-License-Identifier: MIT
"""make bench-smoke as a CI test: every benchmark runs once with tiny sizes and
must produce numbers for kvmm (bench/run.py --smoke exits non-zero otherwise).
Nothing here judges performance."""
import os
import subprocess
import sys

from harness import expect, test


@test(tier="bench")
def bench_smoke(ctx):
    ctx.need_kvm()
    out = os.path.join(ctx.tmp, "bench")
    p = subprocess.run([sys.executable, os.path.join(ctx.root, "bench", "run.py"), "--build",
                        ctx.build, "--smoke", "--out", out], capture_output=True, text=True,
                       timeout=600)
    expect(p.returncode == 0, f"bench-smoke failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n"
           f"{p.stderr[-3000:]}")
