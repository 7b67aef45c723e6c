# SPDX-License-Identifier: MIT
"""Hostile guests (guest/tests/hostile.c): every port, the MMIO hole, fw_cfg DMA
with bad descriptors, a UART flood, resets in a loop, bad INIT/SIPI sequences and
all CPUs at the devices at once. kvmm must keep running (or stop the VM with a
clear guest-crash report, exit 2), never crash or hang, print no sanitizer
report (these run again against the ASan build), and leave the files it reads
(kernel, initrd) as they were: the guest scribbles over its copy of the initrd."""
import fcntl
import hashlib
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time

from harness import expect, test

OK = 1     # the guest wrote 0 to the debug-exit port: (0 << 1) | 1
CRASH = 2  # kvmm stopped the VM with a guest-crash report
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")
# Bytes the UART flood must bring to stdout. Here (PVM) each byte is one exit of
# about 30 us, as `rep outsb` is not batched; on a host with hardware
# virtualization KVM hands over up to a page per exit, so 10 MiB is quick there.
UART_KB = int(os.environ.get("KVMM_HOSTILE_UART_KB", "256"))


class Run:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds
        self.text = out.decode(errors="replace")

    def __repr__(self):
        lines = [ln for ln in self.text.splitlines() if "hostile" in ln or "kit:" in ln]
        return (f"exit {self.rc} after {self.seconds:.1f}s\n--- guest lines ---\n"
                + "\n".join(lines[-40:]) + f"\n--- stderr ---\n{self.err[-3000:]}")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def host_files(ctx):
    """The kernel and an initrd for the guest to scribble over, with their hashes."""
    initrd = os.path.join(ctx.tmp, "initrd.bin")
    if not os.path.exists(initrd):
        with open(initrd, "wb") as f:
            f.write(os.urandom(65536 + 123))
    files = [ctx.guest("hostile"), initrd]
    return files, {p: sha256(p) for p in files}


def check_files(files, hashes, what):
    for p in files:
        expect(sha256(p) == hashes[p], f"{what}: {p} changed while the hostile guest ran")


def check_stderr(err, r):
    for mark in SANITIZER:
        expect(mark not in err, f"sanitizer report ({mark}) in kvmm's stderr", r)


def hostile(ctx, cmdline, cpus=1, timeout=120, extra=(), watch=()):
    """Runs kvmm with the hostile guest (--no-reboot); checks the promises every mode keeps.
    watch: more host files (disk images) that must not change."""
    ctx.need_kvm()
    files, hashes = host_files(ctx)
    files = files + list(watch)
    hashes.update({p: sha256(p) for p in watch})
    args = [ctx.kvmm, "run", "--kernel", files[0], "--initrd", files[1], "--memory", "64M",
            "--cpus", str(cpus), "--no-reboot", "--cmdline", cmdline] + list(extra)
    start = time.monotonic()
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"kvmm hung: no exit within {timeout}s ({cmdline})\n"
                             + repr(Run(None, e.stdout or b"", (e.stderr or b"").decode(
                                 errors="replace"), timeout)))
    r = Run(p.returncode, p.stdout, p.stderr.decode(errors="replace"), time.monotonic() - start)
    expect(r.rc >= 0, f"kvmm died from signal {-r.rc}", r)
    check_stderr(r.err, r)
    check_files(files, hashes, cmdline)
    expect("hostile: scribbled over module 0" in r.text, "the guest did not get its initrd", r)
    return r


def survived(r, *lines):
    """The guest finished: exit 0 through the debug port, its lines, no failure."""
    expect(r.rc == OK, f"expected exit {OK} (guest exit 0)", r)
    for line in lines + ("hostile: all done",):
        expect(line in r.text, f"missing {line!r}", r)
    expect("hostile: FAIL" not in r.text, "the guest saw a device misbehave", r)
    expect("kit: FATAL" not in r.text, "the guest took an exception", r)
    expect(": error:" not in r.err, "kvmm logged an error", r)


def crashed_cleanly(r):
    """kvmm stopped the VM itself: exit 2 with the guest-crash report and registers."""
    expect(r.rc == CRASH, f"expected exit {CRASH} (guest crash)", r)
    expect("guest crash" in r.err and "RIP=" in r.err, "no guest-crash report", r)


@test()
def ports(ctx):
    """Every port 0-0xffff at every width (the debug-exit port and the values that would
    legitimately reset or power off excepted), every pattern and string I/O on device ports."""
    r = hostile(ctx, "mode=ports", timeout=180)
    survived(r, "hostile: ports done", "hostile: fw_cfg still answers QEMU")


@test(params=[1, 2])
def pci_bars_misplaced(ctx, cpus):
    """BARs of a virtio-rng and two virtio-blk devices over RAM, the APICs, ECAM, each other,
    the top of 4 GiB and far above RAM, with decoding on; random configuration writes. RAM,
    the LAPIC and the devices must read as before, and the disk images stay as they were."""
    disks = []
    for i in range(2):
        path = os.path.join(ctx.tmp, f"disk{i}.img")
        with open(path, "wb") as f:
            f.write(os.urandom(1 << 20))
        disks.append(path)
    extra = ["--device", "virtio-rng", "--disk", disks[0], "--disk", disks[1] + ",readonly=on"]
    r = hostile(ctx, "mode=pci", cpus, extra=extra, watch=disks)
    survived(r, "hostile: pci done (3 devices")
    # Refused placements are logged, but a device's warnings are capped (then debug level).
    warned = r.err.count("overlaps another range")
    expect(0 < warned <= 3 * 8, f"{warned} overlap warnings for 3 devices", r)


@test()
def fw_cfg_dma(ctx):
    """DMA descriptors outside RAM, straddling its end, transfers to bad addresses (must
    fail with the error bit and write nothing), every selector."""
    r = hostile(ctx, "mode=fwcfg")
    survived(r, "hostile: fwcfg done")


@test()
def mmio_hole(ctx):
    """Every width across the MMIO hole, misaligned, page-crossing, half RAM; IOAPIC and
    LAPIC registers abused and restored."""
    r = hostile(ctx, "mode=mmio")
    survived(r, "hostile: mmio done")


@test(params=["rmw", "string", "sse", "stack", "fxsave", "cmpxchg16b", "exec"])
def mmio_instructions(ctx, step):
    """Instructions the host must emulate against MMIO. The platform's emulator may
    refuse one (PVM: fxsave, cmpxchg16b): then kvmm must report a guest crash. Executing
    from the hole can only end in one."""
    r = hostile(ctx, f"mode=mmioinsn insn={step}")
    if step == "exec" or r.rc != OK:
        crashed_cleanly(r)
        expect(f"hostile: mmioinsn {step}\n" in r.text, "crashed before the step", r)
    else:
        survived(r, f"hostile: mmioinsn {step} ok")


@test()
def uart_flood(ctx):
    """A flood to THR with the other UART registers abused in between (DLAB, loopback,
    FIFO resets, interrupts): exactly the bytes sent with DLAB and loopback off arrive."""
    r = hostile(ctx, f"mode=uart uart_kb={UART_KB}", timeout=300)
    survived(r, "hostile: uart done")
    begin = re.search(rb"hostile: uart flood of (\d+) bytes begins after this line\n", r.out)
    end = re.search(rb"\nhostile: uart flood end: (\d+) bytes reached the host, (\d+) written",
                    r.out)
    expect(begin and end, "flood markers missing", r)
    want = int(begin.group(1))
    expect(int(end.group(1)) == want == UART_KB * 1024, "guest did not deliver the target", r)
    got = end.start() - begin.end()
    expect(got == want, f"{got} flood bytes on stdout, the guest sent {want} through", r)


@test()
def all_cpus_at_once(ctx):
    """Two vCPUs (this machine has two cores) at kvmm's devices at the same time."""
    r = hostile(ctx, "mode=race ms=2000", cpus=2)
    survived(r, "hostile: race done: 2 cpus")


@test()
def bad_mode_is_reported(ctx):
    r = hostile(ctx, "mode=bogus")
    expect(r.rc == (6 << 1) | 1 and "hostile: unknown mode bogus" in r.text, "bad mode", r)


SIPI_CASES = ["sipi-without-init", "sipi-to-page-of-zeros", "sipi-to-page-of-ff",
              "sipi-to-triple-fault", "init-storm", "nonexistent-destinations",
              "broadcast-init-sipi", "init-to-self", "nmi-before-start", "nmi-to-running",
              "restart-running-ap", "odd-delivery-modes", "smi-to-self"]


@test(params=[f"{k}-{name}" for k, name in enumerate(SIPI_CASES, 1)])
def bad_init_sipi(ctx, case):
    """Bad INIT/SIPI sequences from the BSP to 3 vCPUs: the guest survives, and its APs
    still start the proper way afterwards, or an AP (or the BSP, reset by an INIT to
    itself) runs into garbage and kvmm stops the VM with a crash report."""
    k = int(case.split("-")[0])
    r = hostile(ctx, f"mode=sipi sipi={k}", cpus=3, timeout=90)
    expect(f"hostile: sipi {k} {case.split('-', 1)[1]} begin (3 cpus)" in r.text, "no start", r)
    if r.rc == OK:
        survived(r, f"hostile: sipi {k} survived", "hostile: sipi done")
        expect(re.search(r"hostile: sipi 2/2 APs (online afterwards|started first)", r.text),
               "the APs did not start after the bad sequence", r)
    else:
        crashed_cleanly(r)


def proc_sample(pid):
    """(VmRSS KiB, open fds, threads) of a running process."""
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    return (int(st["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")),
            int(st["Threads"]))


def proc_max(pid, n=8, gap=0.05):
    """Element-wise maximum of n samples: a reboot may be half done at any one."""
    samples = []
    for _ in range(n):
        samples.append(proc_sample(pid))
        time.sleep(gap)
    return tuple(max(s[i] for s in samples) for i in range(3))


@test()
def reset_loop(ctx):
    """The guest resets at once (i8042, 0xcf9 or the output port, picked at random) while
    its second vCPU hammers the devices; kvmm reboots it again and again. Memory, fds and
    threads stay bounded across reboots; SIGINT then exits 130 cleanly."""
    ctx.need_kvm()
    files, hashes = host_files(ctx)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", files[0], "--initrd", files[1],
                          "--memory", "64M", "--cpus", "2", "--cmdline", "mode=resetloop aps=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((p.stdout, out), (p.stderr, err))]
    for t in readers:
        t.start()
    try:
        time.sleep(1.5)
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        early = proc_max(p.pid)
        time.sleep(4.5)
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
    boots = text.count("hostile: resetloop boot")
    detail = (f"\nboots {boots}, early (rss KiB, fds, threads) {early}, late {late}\n"
              f"--- stdout ---\n{text[-1500:]}\n--- stderr ---\n{errs[-3000:]}")
    expect(rc == 128 + signal.SIGINT, f"SIGINT should exit 130, got {rc}" + detail)
    for mark in SANITIZER:
        expect(mark not in errs, f"sanitizer report ({mark})" + detail)
    expect(boots >= 10, "expected many boots" + detail)
    expect("hostile: FAIL" not in text and "kit: FATAL" not in text, "a reset failed" + detail)
    # The guest picks the way at random (the TSC): with enough boots, each shows up.
    ways = set(re.findall(r"reset via (\w+), \d+ aps busy", text))
    expect(ways == {"8042", "cf9", "outport"} or boots < 40, f"reset ways seen: {ways}" + detail)
    expect(text.count(", 1 aps busy") * 2 >= boots, "the AP was rarely up to hammer" + detail)
    # A leak of one descriptor, thread or mapping per boot would show dozens here.
    # ASan's allocator keeps freed memory in quarantine for a while: allow it more.
    slack_kib = 65536 if ctx.kvmm != os.path.join(ctx.build, "kvmm") else 8192
    expect(late[0] <= early[0] + slack_kib, "RSS grows across reboots" + detail)
    expect(late[1] <= early[1] + 2, "file descriptors leak across reboots" + detail)
    expect(late[2] <= early[2], "threads leak across reboots" + detail)
    check_files(files, hashes, "resetloop")


@test()
def stalled_console_still_stops(ctx):
    """The guest floods the UART into a stdout pipe that nobody reads, so its vCPU blocks
    in write(2). SIGINT must still stop kvmm promptly with exit 130, not hang it."""
    ctx.need_kvm()
    files, hashes = host_files(ctx)
    rfd, wfd = os.pipe()
    try:
        fcntl.fcntl(wfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    except OSError:
        pass  # the default 64 KiB only takes longer to fill
    size = fcntl.fcntl(wfd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
    try:
        p = subprocess.Popen([ctx.kvmm, "run", "--kernel", files[0], "--initrd", files[1],
                              "--memory", "64M", "--no-reboot", "--cmdline",
                              "mode=uart uart_kb=1000000"],
                             stdin=subprocess.DEVNULL, stdout=wfd, stderr=subprocess.PIPE)
    finally:
        os.close(wfd)
    try:
        # The guest floods without pause: once the bytes in the pipe stop growing
        # for a second, kvmm's output is stuck on the full pipe.
        deadline = time.monotonic() + 60
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
            queued = struct.unpack("i", fcntl.ioctl(rfd, termios.FIONREAD, b"\0" * 4))[0]
            if queued != last:
                last, since = queued, time.monotonic()
            elif queued > 0 and time.monotonic() - since > 1.0:
                break
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        expect(last > 0 and time.monotonic() < deadline,
               f"stdout never stalled ({last} bytes in a {size}-byte pipe)")
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            raise AssertionError("kvmm hung after SIGINT while a vCPU was blocked writing the "
                                 "console to a full stdout pipe (killed it)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(rfd)
    err = err.decode(errors="replace")
    for mark in SANITIZER:
        expect(mark not in err, f"sanitizer report ({mark}): {err[-3000:]}")
    expect(p.returncode == 128 + signal.SIGINT,
           f"SIGINT should exit 130, got {p.returncode}: {err[-1000:]}")
    check_files(files, hashes, "stalled console")
