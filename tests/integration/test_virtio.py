# SPDX-License-Identifier: MIT
"""virtio-rng on PCI (kvmm run --device virtio-rng). The virtio_rng test guest finds the
device through ECAM, drives the modern virtio-pci transport from ring 3 (capabilities,
common configuration, a split ring, MSI-X or INTx) and reads 64 KiB of entropy; its
hostile modes break the rules and expect DEVICE_NEEDS_RESET while kvmm keeps running.
kvmm's debug log tells whether notifications took the ioeventfd or the exit path."""
import os
import re
import signal
import subprocess
import threading
import time

from harness import expect, test

DEBUG_EXIT_OK = 1            # the guest wrote 0 to port 0xf4
DEBUG_EXIT_FAIL = (3 << 1) | 1
EXIT_USAGE = 64
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")
HOSTILE = ("loop", "nowrite", "badring")


def run_rng(ctx, cmdline, cpus=1, extra=()):
    return ctx.kvmm_run(["--kernel", ctx.guest("virtio_rng"), "--device", "virtio-rng",
                         "--cpus", str(cpus), "--memory", "64M", "--cmdline", cmdline]
                        + list(extra))


def interrupts(r):
    """The interrupt count of a successful 64 KiB read."""
    m = re.search(r"virtio-rng: 65536 bytes ok, (\d+) interrupts", r.out)
    expect(m, "the guest did not read its 64 KiB", r)
    return int(m.group(1))


def expect_clean(r):
    expect("FAIL" not in r.out and "kit: FATAL" not in r.out, "the guest reported a failure", r)
    for mark in SANITIZER:
        expect(mark not in r.err, f"sanitizer report ({mark})", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=[1, 2])
def rng_msix(ctx, cpus):
    """64 KiB in 16 requests, completions signalled by MSI-X (to CPU 1 when there are two,
    while it reads the device's registers in a loop)."""
    r = run_rng(ctx, "mode=read irq=msix", cpus)
    expect(interrupts(r) > 0, "no MSI-X interrupt arrived", r)
    if cpus > 1:
        expect(re.search(r"virtio-rng: cpu 1 made [1-9]\d* config reads", r.out),
               "cpu 1 did not read the device meanwhile", r)
    expect_clean(r)


@test(params=[1, 2])
def rng_intx(ctx, cpus):
    """MSI-X left off: INTA# through the I/O APIC, ISR read-to-clear after each batch."""
    r = run_rng(ctx, "mode=read irq=intx", cpus)
    expect(interrupts(r) > 0, "no INTx interrupt arrived", r)
    expect_clean(r)


@test()
def rng_polling(ctx):
    r = run_rng(ctx, "mode=read irq=none")
    expect(interrupts(r) == 0, "interrupts without any being asked for", r)
    expect_clean(r)


@test()
def rng_notify_paths(ctx):
    """Notifications go through the ioeventfd, also after the guest moves the BAR; through
    the PCI configuration access capability they exit and still work."""
    r = run_rng(ctx, "mode=read relocate=1", extra=["--log-level", "debug"])
    expect("virtio-rng: BAR 4 moved to 0xc8000000" in r.out, "the BAR did not move", r)
    expect(re.search(r"queue 0 notify at 0x[0-9a-f]+3000 via ioeventfd", r.err),
           "no ioeventfd at the first BAR address", r)
    expect("queue 0 notify at 0xc8003000 via ioeventfd" in r.err,
           "the ioeventfd did not follow the BAR", r)
    expect("notified by an MMIO exit" not in r.err, "a notification exited", r)
    interrupts(r)
    expect_clean(r)
    r = run_rng(ctx, "mode=read cfgwin=1", extra=["--log-level", "debug"])
    expect("queue 0 notified by an MMIO exit" in r.err, "the window did not notify", r)
    interrupts(r)
    expect_clean(r)


@test(params=[(1, "msix"), (2, "msix"), (1, "intx")])
def rng_hostile(ctx, p):
    """A looping chain, a request with nothing to write, rings outside RAM: each puts the
    device in DEVICE_NEEDS_RESET (with MSI-X, plus a configuration interrupt), kvmm logs
    it and keeps running, and after a reset the device serves requests again."""
    cpus, irq = p
    r = run_rng(ctx, f"mode=all irq={irq}", cpus)
    interrupts(r)
    for mode in HOSTILE:
        expect(f"virtio-rng: {mode}: needs reset ok, recovered" in r.out,
               f"{mode}: no recovery", r)
    expect(r.err.count("device needs reset:") == len(HOSTILE), "NEEDS_RESET not logged", r)
    expect("descriptor 0 visited twice" in r.err, "the loop was not named", r)
    expect_clean(r)


@test()
def rng_absent_without_option(ctx):
    r = ctx.kvmm_run(["--kernel", ctx.guest("virtio_rng"), "--memory", "64M"])
    expect("virtio-rng: FAIL no virtio-rng device" in r.out, "found a device nobody asked for", r)
    expect(r.rc == DEBUG_EXIT_FAIL, "wrong exit status", r)


@test()
def device_option_errors(ctx):
    r = ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--device", "virtio-bogus"],
                     need_kvm=False)
    expect(r.rc == EXIT_USAGE and "--device 'virtio-bogus'" in r.err, "bad --device accepted", r)
    r = ctx.kvmm_run(["--restore", os.path.join(ctx.tmp, "none.snap"), "--device", "virtio-rng"],
                     need_kvm=False)
    expect(r.rc == EXIT_USAGE and "--device" in r.err, "--restore with --device accepted", r)


def proc_sample(pid):
    """(threads, open descriptors) of a live process."""
    with open(f"/proc/{pid}/status") as f:
        threads = int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def proc_max(pid, n=8, gap=0.05):
    """Element-wise maximum of n samples: a reboot may be half done at any one."""
    samples = []
    for _ in range(n):
        samples.append(proc_sample(pid))
        time.sleep(gap)
    return tuple(max(s[i] for s in samples) for i in range(2))


@test()
def rng_reboots(ctx):
    """The guest reads, then resets through 0xcf9, again and again: every boot builds the
    device, its eventfds and the I/O thread anew (under the main thread's seccomp filter
    from the second boot on). Threads and descriptors stay bounded; SIGINT exits 130."""
    ctx.need_kvm()
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_rng"), "--device",
                          "virtio-rng", "--cpus", "2", "--memory", "64M", "--cmdline",
                          "mode=read reset=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((p.stdout, out), (p.stderr, err))]
    for t in readers:
        t.start()
    try:
        time.sleep(1.0)
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        early = proc_max(p.pid)
        time.sleep(2.0)
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        late = proc_max(p.pid)
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for t in readers:
        t.join(timeout=10)
    text = b"".join(out).decode(errors="replace")
    errs = b"".join(err).decode(errors="replace")
    boots = text.count("virtio-rng: 65536 bytes ok")
    detail = (f"\nboots {boots}, early (threads, fds) {early}, late {late}\n"
              f"--- stdout ---\n{text[-1500:]}\n--- stderr ---\n{errs[-3000:]}")
    expect(rc == 128 + signal.SIGINT, f"SIGINT should exit 130, got {rc}" + detail)
    for mark in SANITIZER:
        expect(mark not in errs, f"sanitizer report ({mark})" + detail)
    expect("sandbox" not in errs.replace("kvmm: sandbox: info", ""), "a seccomp kill" + detail)
    expect(boots >= 3, "expected several boots" + detail)
    expect("FAIL" not in text and "kit: FATAL" not in text, "a boot failed" + detail)
    expect(late[0] <= early[0], "threads leak across reboots" + detail)
    expect(late[1] <= early[1] + 2, "file descriptors leak across reboots" + detail)


EXITLOOP_IRQ = re.compile(r"exitloop: irq (\d+) interrupts median (\d+) ns min (\d+) p90 (\d+) "
                          r"max (\d+) \((\d+) tsc khz\)")


@test()
def exitloop_notify_irq(ctx):
    """The benchmark guest's virtio modes (bench/bm_exits.py): notify writes served by the
    ioeventfd, and the interrupt latency it measures per request (the ring-0 stub's TSC at
    entry minus the TSC before the notify) come out ordered and plausible."""
    r = ctx.kvmm_run(["--kernel", ctx.guest("exitloop"), "--device", "virtio-rng",
                      "--memory", "64M", "--log-level", "debug",
                      "--cmdline", "mode=notify n=1000 nfast=3000"])
    expect_clean(r)
    expect("exitloop: notify 3000 writes in" in r.out, "no notify result", r)
    expect(re.search(r"queue 0 notify at 0x[0-9a-f]+ via ioeventfd", r.err),
           "notifications did not take the ioeventfd", r)
    r = ctx.kvmm_run(["--kernel", ctx.guest("exitloop"), "--device", "virtio-rng",
                      "--memory", "64M", "--cmdline", "mode=irq n=1000"])
    expect_clean(r)
    m = EXITLOOP_IRQ.search(r.out)
    expect(m, "no irq result line", r)
    count, med, lo, p90, hi, khz = map(int, m.groups())
    expect(count == 100, "n=1000 should take 100 interrupts", r)
    expect(0 < lo <= med <= p90 <= hi, "latencies out of order", r)
    # Each sample is bounded by the guest's 2 s timeout; a stale or unwritten handler
    # timestamp would give a difference near 2^64 cycles.
    expect(hi < 2_000_000_000, "a latency beyond the guest's timeout", r)
    expect(khz > 0, "no TSC frequency", r)


@test()
def exitloop_without_device(ctx):
    """Without a virtio device the virtio modes say n/a and the rest still runs."""
    r = ctx.kvmm_run(["--kernel", ctx.guest("exitloop"), "--memory", "64M",
                      "--cmdline", "mode=all n=200"])
    expect_clean(r)
    for line in ("exitloop: pio 200 writes", "exitloop: mmio 200 writes",
                 "exitloop: ioeventfd n/a", "exitloop: notify n/a", "exitloop: irq n/a"):
        expect(line in r.out, f"missing '{line}'", r)


@test()
def io_poll_option(ctx):
    """--io-poll-max: the I/O thread polls for the next request only when asked to (the
    debug log counts the waits it ended by polling), and bad values are refused."""
    base = ["--kernel", ctx.guest("exitloop"), "--device", "virtio-rng", "--memory", "64M",
            "--log-level", "debug", "--cmdline", "mode=irq n=1000"]
    r = ctx.kvmm_run(["--io-poll-max", "100000"] + base)
    expect_clean(r)
    m = re.search(r"virtio-io: debug: (\d+) waits ended while polling, (\d+) after sleeping "
                  r"\(--io-poll-max 100000\)", r.err)
    expect(m, "no polling statistics", r)
    expect(int(m.group(1)) > 0, "a 100 ms window caught no request", r)
    r = ctx.kvmm_run(["--io-poll-max", "0"] + base)
    expect_clean(r)
    expect("waits ended while polling" not in r.err, "statistics although polling is off", r)
    for bad in ("-1", "100001", "fast", ""):
        r = ctx.kvmm_run(["--io-poll-max", bad] + base)
        expect(r.rc == EXIT_USAGE, f"--io-poll-max '{bad}' was accepted", r)
        expect(f"--io-poll-max '{bad}': expected microseconds (0-100000)" in r.err,
               "the error does not say what was wrong", r)
