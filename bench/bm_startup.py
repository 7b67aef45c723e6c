# SPDX-License-Identifier: MIT
"""Start-up: process start to the guest's first serial byte (hello guest), and
process start to the monitor's exit for a guest that exits at once (exits
guest, code=0). Both 128 MiB, 1 vCPU. The clock starts just before the
monitor process is spawned; the first byte is the first byte of the guest's
own output ("Hello ..."), so QEMU -M pc's SeaBIOS banner before it counts as
start-up. The exit time is when the monitor has been reaped."""
from common import run_to_exit

MEM = 128
SYSTEMS = ("kvmm", "qemu-pc", "qemu-microvm")
ROWS = [
    dict(id="startup.first_byte", name="start-up to first guest serial byte (hello)",
         unit="ms", better="lower", plot="startup", short="to first serial byte",
         target={"qemu-pc": ("<=", 0.2), "qemu-microvm": ("<", 1.0)}),
    dict(id="startup.exit", name="start-up to exit (guest exits at once)",
         unit="ms", better="lower", plot="startup", short="to exit",
         target={"qemu-pc": ("<=", 0.2), "qemu-microvm": ("<", 1.0)}),
]


def sample(system, ctx):
    vm = run_to_exit(system, ctx.guest("hello"), MEM)
    first = vm.time_of(vm.out.index(b"Hello from the kvmm test guest"))
    ex = run_to_exit(system, ctx.guest("exits"), MEM, "code=0")
    return {"startup.first_byte": first * 1e3, "startup.exit": ex.t_exit * 1e3}
