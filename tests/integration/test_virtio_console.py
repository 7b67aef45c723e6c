# SPDX-License-Identifier: MIT
"""virtio-console on PCI (kvmm run --console virtio): hvc0 next to the UART. The
virtio_console test guest drives the device from ring 3: it writes a known text through
the transmitq (several chains, some of many buffers), echoes the lines piped to kvmm's
stdin, streams one 4 MiB chain, follows the terminal's size, and breaks the rules on
purpose. Output of hvc0 and ttyS0 both goes to stdout; it is compared byte for byte."""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time

from harness import Result, expect, test

DEBUG_EXIT_OK = 1              # the guest wrote 0 to port 0xf4
DEBUG_EXIT_FAIL = (3 << 1) | 1
EXIT_USAGE = 64
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")

# What the guest's "text" step writes to hvc0 (guest/tests/virtio_console.c).
TEXT = (b"virtio-console: hello from hvc0\n"
        b"line two: split over three buffers\n"
        b"\tbytes \xc3\xa9\xc3\xb6 \x01\x7f\xfe\xff end\nline three\n"
        b"line four\nlast line\n")
BIG_LINE = b"hvc0 big: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\n"
BIG_BYTES = 4 << 20
# The guest's own lines on the UART. They reach stdout by another path than hvc0's bytes,
# so their order against hvc0's is only as good as the guest's pause before each.
UART_LINE = re.compile(rb"virtio-console: (slot |text ok|echoed |big: |loop: |nowrite: |resized "
                       rb"|resetting|FAIL ).*\n")


def hvc0(r):
    """stdout without the guest's UART lines: what came through hvc0."""
    return UART_LINE.sub(b"", r.raw)


def run_console(ctx, mode, stdin=b"", extra=(), guest="virtio_console", timeout=60):
    """kvmm run --console virtio with the guest; stdin's bytes are piped in (then EOF)."""
    ctx.need_kvm()
    args = [ctx.kvmm, "run", "--kernel", ctx.guest(guest), "--console", "virtio",
            "--memory", "64M"] + list(extra)
    if mode:
        args += ["--cmdline", "mode=" + mode]
    start = time.monotonic()
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"kvmm did not exit within {timeout}s\n--- stdout ---\n"
                             f"{(e.stdout or b'')[-3000:]!r}\n--- stderr ---\n"
                             f"{(e.stderr or b'').decode(errors='replace')[-3000:]}")
    r = Result(p.returncode, p.stdout.decode(errors="replace"),
               p.stderr.decode(errors="replace"), time.monotonic() - start)
    r.raw = p.stdout
    return r


def expect_clean(r, rc=DEBUG_EXIT_OK):
    expect("FAIL" not in r.out and "kit: FATAL" not in r.out, "the guest reported a failure", r)
    for mark in SANITIZER:
        expect(mark not in r.err, f"sanitizer report ({mark})", r)
    expect(r.rc == rc, "wrong exit status", r)


@test()
def console_text_byte_exact(ctx):
    """Four transmit chains (one, three, four with a zero-length one, two buffers; three
    of them in one notification) arrive on stdout in order, byte for byte, between the
    UART's lines."""
    r = run_console(ctx, "text")
    m = re.search(r"virtio-console: slot \d+, class 0x([0-9a-f]{6}), features 0x([0-9a-f]+), "
                  r"size (\d+)x(\d+)\n", r.out)
    expect(m, "no device line from the guest", r)
    expect(m.group(1) == "078000", "not a communication controller (class 0780h)", r)
    expect(int(m.group(2), 16) & 7 == 1, "features: SIZE only (no MULTIPORT, EMERG_WRITE)", r)
    expect((m.group(3), m.group(4)) == ("0", "0"), "a size although stdout is no terminal", r)
    expect(hvc0(r) == TEXT, "hvc0's output is not the text, byte for byte", r)
    # The first UART line was out before the guest wrote anything to hvc0.
    expect(r.raw.startswith(m.group(0).encode()), "output out of order", r)
    expect("virtio-console: text ok" in r.out, "the guest did not finish", r)
    expect_clean(r)


@test()
def console_input_echo(ctx):
    """Lines piped to kvmm's stdin reach the guest through the receiveq (before the guest
    posts its buffers, kvmm holds them back) and come back through the transmitq."""
    lines = [b"hello world", b"second line with some more bytes than one buffer takes, "
             b"so that it spans two receive buffers", b"x"]
    r = run_console(ctx, "echo", stdin=b"\n".join(lines) + b"\nquit\n")
    want = b"".join(b"echo: " + line + b"\n" for line in lines) + b"bye\n"
    expect(hvc0(r) == want, "the echo is not what was sent", r)
    expect(f"virtio-console: echoed {len(lines)} lines" in r.out, "wrong line count", r)
    expect_clean(r)


@test()
def console_without_driver(ctx):
    """--console virtio with a guest that has no virtio driver: the UART's output still
    shows, input waits unread without stopping anything, and Ctrl-A x still quits."""
    r = run_console(ctx, None, stdin=b"typed at a guest that never reads\n", guest="hello")
    expect("Hello from the kvmm test guest" in r.out, "no UART output", r)
    expect_clean(r)
    # Typed once the guest runs: kvmm reads it (into what it holds back) to see the escape.
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("idle"), "--console", "virtio",
                          "--memory", "64M"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        expect(b"idle: ready" in line, f"no UART output: {line!r}")
        p.stdin.write(b"abc\x01x")
        p.stdin.flush()
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    expect(rc == 0, f"Ctrl-A x did not quit: {rc} {p.stderr.read().decode(errors='replace')}")


@test()
def console_absent_by_default(ctx):
    ctx.need_kvm()
    r = ctx.kvmm_run(["--kernel", ctx.guest("virtio_console"), "--memory", "64M"])
    expect("virtio-console: FAIL no virtio-console device" in r.out,
           "found a device nobody asked for", r)
    expect(r.rc == DEBUG_EXIT_FAIL, "wrong exit status", r)
    r = ctx.kvmm_run(["--kernel", ctx.guest("virtio_console"), "--memory", "64M",
                      "--console", "serial"])
    expect(r.rc == DEBUG_EXIT_FAIL, "--console serial added a device", r)


@test()
def console_hostile(ctx):
    """A transmit chain that loops and a receive chain with nothing writable: each puts the
    device in DEVICE_NEEDS_RESET (with a configuration interrupt) while the VM and the
    UART go on; after a reset hvc0 works again, and the input that met the broken receive
    chain was kept for the recovered driver, not dropped."""
    r = run_console(ctx, "text,loop,nowrite,echo", stdin=b"kept\nquit\n")
    for mode in ("loop", "nowrite"):
        expect(f"virtio-console: {mode}: needs reset ok, recovered" in r.out,
               f"{mode}: no recovery", r)
    expect(r.err.count("device needs reset:") == 2, "NEEDS_RESET not logged twice", r)
    expect("visited twice" in r.err, "the loop was not named", r)
    expect("has no device-writable byte" in r.err, "the receive chain was not named", r)
    expect(hvc0(r) == TEXT + b"recovered after loop\nrecovered after nowrite\necho: kept\nbye\n",
           "hvc0's output, or the input kept across the reset, is wrong", r)
    expect_clean(r)


@test()
def console_big_chain(ctx):
    """One 4 MiB chain (16 descriptors of 256 KiB) streams through the device's 64 KiB
    buffer: all of it arrives, in order, and the guest goes on."""
    r = run_console(ctx, "big,text")
    expect(hvc0(r) == BIG_LINE * (BIG_BYTES // len(BIG_LINE)) + TEXT,
           "the 4 MiB and the text after them did not arrive whole and in order", r)
    m = re.search(r"virtio-console: big: (\d+) bytes in (\d+) us", r.out)
    expect(m and int(m.group(1)) == BIG_BYTES, "no big step", r)
    print(f"    4 MiB chain used after {int(m.group(2)) / 1000:.1f} ms "
          f"({BIG_BYTES / max(int(m.group(2)), 1):.0f} MB/s to a pipe)")
    expect_clean(r)


@test()
def console_blocked_stdout(ctx):
    """Nobody reads stdout while the guest streams 4 MiB: kvmm's main loop is not stuck
    behind it, so SIGINT still stops the VM at once and kvmm exits 130."""
    ctx.need_kvm()
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_console"),
                          "--console", "virtio", "--memory", "64M", "--cmdline", "mode=big"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=15)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read().decode(errors="replace")
    p.stdout.close()
    expect(rc == 128 + signal.SIGINT, f"SIGINT should exit 130, got {rc}\n{err}")
    expect(took < 5, f"stopping took {took:.1f}s\n{err}")
    for mark in SANITIZER:
        expect(mark not in err, f"sanitizer report ({mark})\n{err}")


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@test()
def console_size_follows_terminal(ctx):
    """With stdout on a terminal, hvc0's configuration says its size (VIRTIO_CONSOLE_F_SIZE);
    after a resize, SIGWINCH makes it a configuration change the guest sees."""
    ctx.need_kvm()
    master, slave = pty.openpty()
    set_winsize(slave, 30, 100)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_console"),
                          "--console", "virtio", "--memory", "64M", "--cmdline",
                          "mode=resize"],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30
        resized = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not resized and b"size 100x30" in out:
                set_winsize(master, 40, 120)
                p.send_signal(signal.SIGWINCH)
                resized = True
            if p.poll() is not None and not ready:
                break
        rc = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    err = p.stderr.read().decode(errors="replace")
    text = out.decode(errors="replace")
    detail = f"\n--- terminal ---\n{text[-2000:]}\n--- stderr ---\n{err[-2000:]}"
    expect("size 100x30" in text, "the guest did not see the terminal's size" + detail)
    expect(re.search(r"resized to 120x40, [1-9]\d* config interrupts", text),
           "no configuration change after SIGWINCH" + detail)
    expect(rc == DEBUG_EXIT_OK, f"exit status {rc}" + detail)


@test()
def console_option_errors(ctx):
    r = ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--console", "hvc0"], need_kvm=False)
    expect(r.rc == EXIT_USAGE and "--console 'hvc0': expected serial or virtio" in r.err,
           "bad --console accepted", r)
    r = ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--console"], need_kvm=False)
    expect(r.rc == EXIT_USAGE, "--console without a value accepted", r)
    r = ctx.kvmm_run(["--restore", os.path.join(ctx.tmp, "none.snap"), "--console", "virtio"],
                     need_kvm=False)
    expect(r.rc == EXIT_USAGE and "--console virtio" in r.err,
           "--restore with --console virtio accepted", r)


@test()
def console_reboots(ctx):
    """The guest writes its text and resets, again and again: every boot builds hvc0 anew
    (from the second on under the main thread's seccomp filter, next to a virtio-rng),
    each boot's text arrives whole, and SIGINT ends it with 130."""
    ctx.need_kvm()
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_console"),
                          "--device", "virtio-rng", "--console", "virtio", "--memory", "64M",
                          "--cmdline", "mode=text reset=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((p.stdout, out), (p.stderr, err))]
    for t in readers:
        t.start()
    try:
        time.sleep(2.0)
        expect(p.poll() is None, f"kvmm exited early with {p.returncode}")
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for t in readers:
        t.join(timeout=10)
    raw = b"".join(out)
    text = raw.decode(errors="replace")
    errs = b"".join(err).decode(errors="replace")
    detail = f"\n--- stdout ---\n{text[-1500:]}\n--- stderr ---\n{errs[-3000:]}"
    boots = text.count("virtio-console: resetting")
    expect(rc == 128 + signal.SIGINT, f"SIGINT should exit 130, got {rc}" + detail)
    expect(boots >= 2, "expected several boots" + detail)
    expect(UART_LINE.sub(b"", raw).startswith(TEXT * boots), "a boot's text did not arrive whole"
           + detail)
    expect("FAIL" not in text and "kit: FATAL" not in text, "a boot failed" + detail)
    expect("sandbox" not in errs.replace("kvmm: sandbox: info", ""), "a seccomp kill" + detail)
    for mark in SANITIZER:
        expect(mark not in errs, f"sanitizer report ({mark})" + detail)
