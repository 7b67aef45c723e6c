# SPDX-License-Identifier: MIT
"""Creation rate: VMs created, booted and exited per second with the exits
guest (code=0, 64 MiB): N one after another, and N with 8 running at once
(each of 8 workers starts the next VM when its last one has exited). Each VM
must exit with the guest's status. QEMU -M pc is left out as in bm_density."""
import threading
import time

from bm_density import PC_NA
from common import BenchError, run_to_exit

MEM = 64
SEQ, SEQ_SMOKE = 20, 2
PAR, PAR_SMOKE = 24, 4
SLOTS = 8
SYSTEMS = ("kvmm", "qemu-microvm")
ROWS = [
    dict(id="create.seq", name="VMs created+booted+exited per second, sequential",
         unit="VM/s", better="higher", na={"qemu-pc": PC_NA}),
    dict(id="create.par8", name="VMs created+booted+exited per second, 8 in parallel",
         unit="VM/s", better="higher", na={"qemu-pc": PC_NA}),
]


def rate(system, ctx, total, slots):
    todo = list(range(total))
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                if not todo or errors:
                    return
                todo.pop()
            try:
                run_to_exit(system, ctx.guest("exits"), MEM, "code=0")
            except BenchError as e:
                with lock:
                    errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return total / (time.perf_counter() - t0)


def sample(system, ctx):
    seq, par = (SEQ_SMOKE, PAR_SMOKE) if ctx.smoke else (SEQ, PAR)
    return {"create.seq": rate(system, ctx, seq, 1),
            "create.par8": rate(system, ctx, par, SLOTS)}
