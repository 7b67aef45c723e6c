# SPDX-License-Identifier: MIT
"""Exit paths: round trips per second for a guest at CPL3 (the exitloop guest)
writing n times to an unhandled port (0xe0), to an unbacked MMIO address in the
PCI hole (0xd0000000), and to virtio queue-notify registers that the monitor
serves with an ioeventfd; and interrupt delivery latency from a virtio notify
to the guest's MSI-X handler. Each write loop is timed on the host between the
guest's "MODE begin" line and its result line, so start-up does not count.

- "virtio notify via ioeventfd": a modern virtio-rng device (kvmm --device
  virtio-rng; QEMU -device virtio-rng-pci,disable-legacy=on), queue 0 set up
  empty, then 16-bit writes to its notification address in a memory BAR. Both
  monitors bind it with KVM_IOEVENTFD (any length), so the write finishes in
  the kernel; the device thread wakes and finds nothing to do.
- "ioeventfd port write": the legacy (transitional) virtio-pci queue-notify
  port, QEMU -M pc only (-device virtio-rng-pci): kvmm's virtio devices are
  modern only, as Firecracker's and Cloud Hypervisor's are.
- "interrupt delivery latency": the same modern device with MSI-X; per sample
  the guest publishes one 8-byte buffer, notifies, and spins in ring 3 until
  the interrupt is taken; it reports the median, over n/10 requests, of the
  TSC at its ring-0 handler's entry minus the TSC before the notify. The
  sample of a run is that median. Both monitors raise this device's MSI with
  KVM_SIGNAL_MSI from the device thread (QEMU sets up irqfds only for vhost
  and dataplane devices).
QEMU -M microvm has no PCI bus: n/a for the virtio rows."""
import re

from common import BenchError, run_to_exit

MEM = 128
N, N_SMOKE = 20000, 2000
SYSTEMS = ("kvmm", "qemu-pc", "qemu-microvm")
TARGET = {"qemu-pc": (">=", 1.0), "qemu-microvm": (">=", 1.0)}
TARGET_PC = {"qemu-pc": (">=", 1.0)}
NA_MICROVM = "n/a (microvm has no PCI bus; virtio-mmio not driven yet)"
ROWS = [
    dict(id="exits.pio", name="port write round trips (unhandled port, CPL3)",
         unit="1/s", better="higher", plot="exits", target=TARGET, short="port (unhandled)"),
    dict(id="exits.mmio", name="MMIO write round trips (unbacked address, CPL3)",
         unit="1/s", better="higher", plot="exits", target=TARGET, short="MMIO (unbacked)"),
    dict(id="exits.notify", name="virtio notify writes via ioeventfd (modern, MMIO, CPL3)",
         unit="1/s", better="higher", plot="exits", target=TARGET_PC,
         short="virtio notify (ioeventfd)", na={"qemu-microvm": NA_MICROVM}),
    dict(id="exits.ioeventfd", name="ioeventfd port write round trips (legacy virtio notify, CPL3)",
         unit="1/s", better="higher",
         na={"kvmm": "n/a (kvmm's virtio devices are modern only: no legacy I/O BAR)",
             "qemu-microvm": NA_MICROVM}),
    dict(id="irq.latency", name="interrupt delivery latency (virtio notify to MSI-X handler)",
         unit="us", better="lower", target={"qemu-pc": ("<=", 1.0)},
         na={"qemu-microvm": NA_MICROVM}),
]
IRQ_RE = re.compile(rb"exitloop: irq (\d+) interrupts median (\d+) ns min (\d+) p90 (\d+) max (\d+)")


def loop_rate(vm, mode, n):
    begin = vm.out.find(f"exitloop: {mode} begin\n".encode())
    if begin < 0:
        raise BenchError(f"no '{mode} begin' line: {vm.tail()}")
    end = begin + len(f"exitloop: {mode} begin\n")
    if not vm.out.startswith(f"exitloop: {mode} {n} writes".encode(), end):
        raise BenchError(f"no '{mode}' result line: {vm.tail()}")
    t = vm.time_of(end) - vm.time_of(end - 1)
    if t <= 0:  # both lines came in one read: the loop was too short to time
        raise BenchError(f"{mode}: loop of {n} writes too short to time on the host")
    return n / t


def sample(system, ctx):
    n = N_SMOKE if ctx.smoke else N
    nfast = 5 * n
    rates = {"exits.pio": n, "exits.mmio": n}
    extra = []
    if system.name == "kvmm":
        extra = ["--device", "virtio-rng"]
        rates["exits.notify"] = nfast
    elif system.name == "qemu-pc":
        # A transitional device for the legacy port row, a modern one for the rest.
        extra = ["-device", "virtio-rng-pci", "-device", "virtio-rng-pci,disable-legacy=on"]
        rates["exits.ioeventfd"] = nfast
        rates["exits.notify"] = nfast
    # mode=all: pio, mmio, then each virtio mode whose device is there.
    vm = run_to_exit(system, ctx.guest("exitloop"), MEM, f"mode=all n={n} nfast={nfast}", extra)
    out = {row: loop_rate(vm, row.split(".")[1], count) for row, count in rates.items()}
    if system.name != "qemu-microvm":
        m = IRQ_RE.search(vm.out)
        if not m:
            raise BenchError(f"{system.name}: no irq result line: {vm.tail()}")
        out["irq.latency"] = int(m.group(2)) / 1000.0
    return out
