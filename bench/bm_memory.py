# SPDX-License-Identifier: MIT
"""Monitor memory: the idle guest (prints a ready line, then halts) with 128 MiB
and 2 GiB of RAM. Once it is ready we read the monitor's peak RSS (VmHWM in
/proc/PID/status) and the resident size of its guest RAM mapping
(/proc/PID/smaps: the anonymous mapping of exactly the guest RAM size, which
is how both kvmm and QEMU map RAM) and report the difference: what the monitor
itself used at its peak beyond the guest memory that was touched (by the
loader, firmware and guest). The same subtraction for both systems; file-backed
pages (the binary, shared libraries) count, as the kernel counts them in RSS.
A second row gives the private (anonymous) RSS beyond guest RAM, which leaves
out shared file pages (what an extra VM costs on a host running many)."""
from common import BenchError, Vm, guest_ram_rss_kib, proc_status_kib

SYSTEMS = ("kvmm", "qemu-pc", "qemu-microvm")
SIZES = ((128, "128 MiB"), (2048, "2 GiB"))
TARGET = {"qemu-pc": ("<=", 0.25), "qemu-microvm": ("<=", 0.25)}
ROWS = [dict(id=f"memory.peak_{mib}M", name=f"monitor peak RSS beyond touched guest RAM, {label}",
             unit="MiB", better="lower", plot="memory", target=TARGET,
             short=f"peak beyond guest RAM, {label}")
        for mib, label in SIZES]
ROWS.append(dict(id="memory.anon_128M", name="monitor private RSS beyond guest RAM, 128 MiB",
                 unit="MiB", better="lower", plot="memory",
                 short="private beyond guest RAM, 128 MiB"))


def measure(system, ctx, mib):
    vm = Vm(system.argv(ctx.guest("idle"), mib))
    try:
        vm.wait_for(b"idle: ready")
        hwm = proc_status_kib(vm.pid, "VmHWM")
        anon = proc_status_kib(vm.pid, "RssAnon")
        guest = guest_ram_rss_kib(vm.pid, mib << 20)
    finally:
        vm.kill()
    if guest > hwm:
        raise BenchError(f"{system.name}: guest RSS {guest} KiB above peak {hwm} KiB")
    ctx.detail(system, f"memory.{mib}M", {"vmhwm_kib": hwm, "rss_anon_kib": anon,
                                           "guest_ram_rss_kib": guest})
    return (hwm - guest) / 1024, (anon - guest) / 1024


def sample(system, ctx):
    res = {}
    for mib, _ in SIZES:
        peak, anon = measure(system, ctx, mib)
        res[f"memory.peak_{mib}M"] = peak
        if mib == 128:
            res["memory.anon_128M"] = anon
    return res
