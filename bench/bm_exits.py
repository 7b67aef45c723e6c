# SPDX-License-Identifier: MIT
"""Exit paths: round trips per second for a guest at CPL3 (the exitloop guest)
writing n times to an unhandled port (0xe0), to an unbacked MMIO address in the
PCI hole (0xd0000000), and to a port served by an ioeventfd. Each loop is timed
on the host between the guest's "MODE begin" line and its result line, so
start-up does not count. The ioeventfd port is the queue-notify register of a
legacy virtio-pci device (QEMU: -device virtio-rng-pci, which QEMU serves with
an ioeventfd once the driver sets DRIVER_OK). kvmm has no ioeventfd user yet
and QEMU -M microvm has no PCI bus: n/a.
Interrupt delivery latency (irqfd to guest handler) is pending: kvmm has no
irqfd user yet, and QEMU only uses irqfd for vhost and iothread (dataplane)
devices, which needs a virtio driver in the test guest."""
from common import BenchError, run_to_exit

MEM = 128
N, N_SMOKE = 20000, 2000
SYSTEMS = ("kvmm", "qemu-pc", "qemu-microvm")
TARGET = {"qemu-pc": (">=", 1.0), "qemu-microvm": (">=", 1.0)}
NO_IOEVENTFD = "n/a (no ioeventfd/irqfd user in kvmm yet)"
ROWS = [
    dict(id="exits.pio", name="port write round trips (unhandled port, CPL3)",
         unit="1/s", better="higher", plot="exits", target=TARGET, short="port (unhandled)"),
    dict(id="exits.mmio", name="MMIO write round trips (unbacked address, CPL3)",
         unit="1/s", better="higher", plot="exits", target=TARGET, short="MMIO (unbacked)"),
    dict(id="exits.ioeventfd", name="ioeventfd port write round trips (virtio notify, CPL3)",
         unit="1/s", better="higher", plot="exits", target={"qemu-pc": (">=", 1.0)},
         short="port via ioeventfd",
         na={"kvmm": NO_IOEVENTFD,
             "qemu-microvm": "n/a (microvm has no PCI bus; virtio-mmio not driven yet)"}),
    dict(id="irq.latency", name="interrupt delivery latency (irqfd to guest handler)",
         unit="us", better="lower",
         na={"kvmm": NO_IOEVENTFD,
             "qemu-pc": "pending (QEMU uses irqfd only for vhost/dataplane; needs a virtio driver in the guest)",
             "qemu-microvm": "pending (as -M pc)"}),
]


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
    modes = ["pio", "mmio"]
    extra = []
    if system.name == "qemu-pc":
        modes.append("ioeventfd")
        extra = ["-device", "virtio-rng-pci"]
    # mode=all: pio, mmio, then ioeventfd where a virtio-pci device is found.
    vm = run_to_exit(system, ctx.guest("exitloop"), MEM, f"mode=all n={n}", extra)
    return {f"exits.{m}": loop_rate(vm, m, n) for m in modes}
