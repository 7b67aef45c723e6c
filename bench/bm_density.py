# SPDX-License-Identifier: MIT
"""Density: how many 64 MiB guests run at once before start-up time doubles.

Idle guests (a ready line, then halted for good, so they cost no CPU) are
started one at a time up to the cap and left running; each one's start-up
(process start to its ready line) is timed, and MemAvailable is read before
the first and after the last. Then every guest is killed. The machine is
shared and noise only ever adds delay, so start-up "now" is the minimum over a
window of W consecutive starts: the baseline is the minimum of the first W,
and the count is the number of guests that were running when the first
window whose minimum exceeds twice the baseline began (the cap when none did).
Rows: that count; the start-up with cap - W .. cap guests running (minimum of
the last W); and the host memory each idle guest costs (the drop in
MemAvailable over the sweep divided by the number of guests). Less than 2 GiB
available also ends the sweep.

A doubling is a relative criterion: with kvmm's start-up of a few ms, a few
ms of growth (or of noise from other work on the machine) doubles it, where
QEMU's ~100 ms start-up absorbs it; read the count together with the absolute
start-up at the cap.

This sweep takes a while for QEMU (~0.1 s per start), so it runs in at most
MAX_REPS of the repetitions. QEMU -M pc is left out: SeaBIOS runs interpreted
at guest ring 0 on our PVM machines (~6 s per boot), so its sweep would take
tens of minutes and measure the firmware; QEMU -M microvm is the comparison."""
from common import Vm

MEM = 64
CAP, CAP_SMOKE = 256, 3
W = 8
MAX_REPS = 3
MIN_AVAIL_KIB = 2 << 20
SYSTEMS = ("kvmm", "qemu-microvm")
PC_NA = "n/a (not run: SeaBIOS takes ~6 s per boot on PVM)"
ROWS = [
    dict(id="density.count", name=f"64 MiB idle guests running before start-up doubles (cap {CAP})",
         unit="VMs", better="higher", na={"qemu-pc": PC_NA}),
    dict(id="density.startup_at_cap", name=f"start-up with {CAP - W}-{CAP - 1} idle guests running (min of {W})",
         unit="ms", better="lower", na={"qemu-pc": PC_NA}),
    dict(id="density.mem_per_vm", name="host memory per idle 64 MiB guest (MemAvailable drop)",
         unit="MiB", better="lower", na={"qemu-pc": PC_NA}),
]


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def doubling_count(times):
    """Guests running when start-up first doubled, or None."""
    base = min(times[:W])
    for j in range(2 * W, len(times) + 1):
        if min(times[j - W:j]) > 2 * base:
            return j - W
    return None


def sample(system, ctx):
    cap = CAP_SMOKE if ctx.smoke else CAP
    vms, times, why = [], [], "cap"
    avail0 = mem_available_kib()
    try:
        while len(vms) < cap:
            if mem_available_kib() < MIN_AVAIL_KIB:
                why = "host memory"
                break
            vm = Vm(system.argv(ctx.guest("idle"), MEM))
            vms.append(vm)
            off = vm.wait_for(b"idle: ready")
            times.append(vm.time_of(off) * 1e3)
        avail1 = mem_available_kib()
    finally:
        for vm in vms:
            vm.kill()
    count = doubling_count(times) if len(times) >= 2 * W else None
    ctx.detail(system, "density", {"startup_ms": [round(t, 2) for t in times],
                                   "stopped_by": why, "cap": cap, "doubled_at": count,
                                   "mem_available_kib": [avail0, avail1]})
    return {"density.count": count if count is not None else len(times),
            "density.startup_at_cap": min(times[-W:]),
            "density.mem_per_vm": (avail0 - avail1) / len(times) / 1024}
