# SPDX-License-Identifier: MIT
"""Boots each test guest (guest/) with several CPU counts and memory sizes and
asserts on what the guest reports and on kvmm's exit status."""
import re

from harness import expect, test

DEBUG_EXIT_OK = 1  # the guests write 0 to port 0xf4: (0 << 1) | 1


@test(params=[1, 2, 4])
def hello(ctx, cpus):
    r = ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--cmdline", "alpha beta=1",
                      "--cpus", str(cpus), "--memory", "64M"])
    expect("Hello from the kvmm test guest" in r.out, "no greeting", r)
    # Multiboot passes "<kernel path> <args>".
    expect(re.search(r"cmdline: \S*hello\.elf alpha beta=1", r.out), "command line not passed", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=[1, 2, 4, 8])
def smp(ctx, cpus):
    r = ctx.kvmm_run(["--kernel", ctx.guest("smp"), "--cpus", str(cpus), "--memory", "128M"],
                     timeout=120)
    expect(f"smp: {cpus}/{cpus} cpus online" in r.out, "not every CPU checked in", r)
    for i in range(cpus):
        expect(re.search(rf"cpu {i} online apic_id {i}\b", r.out), f"cpu {i} missing", r)
    expect("FAIL" not in r.out, "guest reported a failure", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=[1, 2])
def timer(ctx, cpus):
    r = ctx.kvmm_run(["--kernel", ctx.guest("timer"), "--cpus", str(cpus), "--memory", "64M"],
                     timeout=120)
    expect(re.search(r"timer: lapic \d+ ok", r.out), "LAPIC timer interrupts missing", r)
    expect(re.search(r"timer: pit \d+ ok", r.out), "PIT interrupts missing", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=["16M", "128M", "1G", "3G", "4200M"])
def memory(ctx, size):
    mib = {"16M": 16, "128M": 128, "1G": 1024, "3G": 3072, "4200M": 4200}[size]
    r = ctx.kvmm_run(["--kernel", ctx.guest("memory"), "--memory", size], timeout=180)
    m = re.search(r"memory: total ram (\d+) MiB", r.out)
    expect(m, "no RAM total reported", r)
    # The e820 map hides the EBDA and the BIOS area below 1 MiB (under 1 MiB in all).
    expect(mib - 1 <= int(m.group(1)) <= mib, f"guest saw {m.group(1)} MiB of {mib}", r)
    expect(re.search(r"memory: tested \d+ MiB in \d+ ranges, 0 errors", r.out),
           "pattern test failed", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=[0, 5, 127, 200])
def exit_codes(ctx, code):
    r = ctx.kvmm_run(["--kernel", ctx.guest("exits"), "--cmdline", f"code={code}"])
    expect(f"exits: code {code}" in r.out, "guest did not report", r)
    expect(r.rc == ((code << 1) | 1) & 0xFF, "exit status is not (code << 1) | 1", r)


@test()
def multiboot_initrd_is_module(ctx):
    """--initrd reaches a multiboot kernel as its single module, intact in size and untouched."""
    import os
    initrd = os.path.join(ctx.tmp, "initrd.bin")
    with open(initrd, "wb") as f:
        f.write(os.urandom(100000))
    r = ctx.kvmm_run(["--kernel", ctx.guest("memory"), "--initrd", initrd, "--memory", "64M"])
    m = re.search(r"memory: skip 0x([0-9a-f]+)-0x([0-9a-f]+) module initrd", r.out)
    expect(m, "no module reported", r)
    start, end = int(m.group(1), 16), int(m.group(2), 16)
    expect(end - start + 1 == 100000 and start % 4096 == 0, "module has the wrong size/alignment", r)
    expect(re.search(r"memory: tested \d+ MiB in \d+ ranges, 0 errors", r.out), "pattern test", r)
