# SPDX-License-Identifier: MIT
"""kvmm run's command line, exit statuses and stop paths, with hand-made guests."""
import os
import re
import signal
import subprocess
import time

import rawguest
from harness import expect, test


def raw(ctx, name, code):
    return rawguest.write(os.path.join(ctx.tmp, name + ".bin"), code)


@test()
def poweroff_exits_0(ctx):
    r = ctx.kvmm_run(["--kernel", raw(ctx, "off", rawguest.POWEROFF)])
    expect(r.rc == 0, "ACPI S5 should exit 0", r)


@test(params=["8042", "cf9"])
def reset_with_no_reboot_exits_0(ctx, how):
    code = rawguest.RESET_8042 if how == "8042" else rawguest.RESET_CF9
    r = ctx.kvmm_run(["--kernel", raw(ctx, "reset", code), "--no-reboot"])
    expect(r.rc == 0, "reset with --no-reboot should exit 0", r)


@test()
def reset_reboots(ctx):
    """Without --no-reboot a reset boots the guest again: it prints once per boot."""
    ctx.need_kvm()
    kernel = raw(ctx, "loop", rawguest.PRINT_THEN_RESET)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", kernel], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    expect(out.count(b"R") >= 3, f"expected several boots, got output {out[:80]!r} {err[-500:]!r}")
    expect(p.returncode == 128 + signal.SIGINT, f"SIGINT should exit 130, got {p.returncode}")


@test()
def crash_exits_2_with_dump(ctx):
    r = ctx.kvmm_run(["--kernel", raw(ctx, "crash", rawguest.CRASH)])
    expect(r.rc == 2, "a guest crash should exit 2", r)
    expect("guest crash" in r.err and "RIP=" in r.err, "no register dump", r)
    expect(re.search(r"code at RIP \(gpa 0+100020\): 0f 0b", r.err),
           "failing instruction bytes not shown", r)


@test()
def unhandled_io_is_not_fatal(ctx):
    r = ctx.kvmm_run(["--kernel", raw(ctx, "io", rawguest.UNHANDLED_THEN_EXIT),
                      "--log-level", "info"])
    expect(r.rc == (0x2A << 1) | 1, "debug exit after unhandled I/O", r)
    expect(r.err.count("unhandled port write at 0x80") == 1, "unhandled write not logged once", r)
    expect("unhandled port read at 0x2f8" in r.err, "unhandled read not logged", r)


@test()
def sigterm_then_hard_stop(ctx):
    """SIGTERM presses the power button; a guest that ignores it is stopped after the timeout."""
    ctx.need_kvm()
    kernel = raw(ctx, "spin", rawguest.SPIN)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", kernel, "--shutdown-timeout", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    start = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    took = time.monotonic() - start
    expect(p.returncode == 128 + signal.SIGTERM, f"exit {p.returncode}, stderr {err[-500:]!r}")
    expect(0.8 < took < 10, f"hard stop after {took:.1f}s, expected about 1s")
    expect(b"did not power off" in err, f"no message: {err[-500:]!r}")


@test()
def console_escape_quits(ctx):
    ctx.need_kvm()
    kernel = raw(ctx, "spin", rawguest.SPIN)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", kernel], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.PIPE)
    time.sleep(0.3)
    out, err = p.communicate(input=b"\x01x", timeout=20)
    expect(p.returncode == 0, f"Ctrl-A x should exit 0, got {p.returncode} {err[-500:]!r}")


# --- command-line and input errors: clear messages, documented statuses ---

@test(params=[
    ([], 64, "--kernel FILE is required"),
    (["--kernel", "x", "--memory", "lots"], 64, "--memory 'lots'"),
    (["--kernel", "x", "--memory", "1M"], 64, "between 4M and 1T"),
    (["--kernel", "x", "--cpus", "0"], 64, "--cpus '0'"),
    (["--kernel", "x", "--cpus", "255"], 64, "--cpus '255'"),
    (["--kernel", "x", "--bogus"], 64, "unknown option '--bogus'"),
    (["--kernel"], 64, "needs a value"),
    (["--kernel", "x", "extra"], 64, "unexpected argument 'extra'"),
    (["--kernel", "x", "--log-level", "loud"], 64, "--log-level 'loud'"),
])
def usage_errors(ctx, case):
    args, status, msg = case
    r = ctx.kvmm_run(args, need_kvm=False)
    expect(r.rc == status, f"expected exit {status}", r)
    expect(msg in r.err, f"expected {msg!r} in the message", r)


@test()
def missing_kernel_66(ctx):
    path = os.path.join(ctx.tmp, "nope")
    r = ctx.kvmm_run(["--kernel", path])
    expect(r.rc == 66 and path in r.err and "No such file" in r.err, "missing kernel", r)


@test()
def garbage_kernel_66(ctx):
    path = os.path.join(ctx.tmp, "garbage")
    with open(path, "wb") as f:
        f.write(os.urandom(8192).replace(b"\x02\xb0\xad\x1b", b"") + b"\x00" * 10)
    r = ctx.kvmm_run(["--kernel", path])
    expect(r.rc == 66 and path in r.err, "garbage kernel should exit 66 naming the file", r)


@test()
def empty_and_missing_initrd_66(ctx):
    kernel = raw(ctx, "off", rawguest.POWEROFF)
    empty = os.path.join(ctx.tmp, "empty")
    open(empty, "wb").close()
    r = ctx.kvmm_run(["--kernel", kernel, "--initrd", empty])
    expect(r.rc == 66 and "initrd" in r.err and "empty" in r.err, "empty initrd", r)
    r = ctx.kvmm_run(["--kernel", kernel, "--initrd", empty + ".none"])
    expect(r.rc == 66 and empty + ".none" in r.err, "missing initrd", r)


@test()
def no_kvm_69(ctx):
    r = ctx.kvmm_run(["--kernel", "x", "--kvm", os.path.join(ctx.tmp, "kvm")], need_kvm=False)
    expect(r.rc == 69 and "does not exist" in r.err, "missing KVM device should exit 69", r)


@test()
def help_documents_everything(ctx):
    p = subprocess.run([ctx.kvmm, "run", "--help"], capture_output=True, text=True)
    expect(p.returncode == 0, "--help should exit 0")
    for word in ["--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--no-reboot",
                 "Ctrl-A", "Exit status", "0xf4"]:
        expect(word in p.stdout, f"--help does not mention {word}")
    p = subprocess.run([ctx.kvmm, "help"], capture_output=True, text=True)
    expect(p.returncode == 0 and "run" in p.stdout, "kvmm help")
    p = subprocess.run([ctx.kvmm, "help", "run"], capture_output=True, text=True)
    expect(p.returncode == 0 and "--kernel" in p.stdout, "kvmm help run")


@test(params=["128M", "64G"])
def memory_is_lazy(ctx, size):
    """Guest RAM is reserved, not allocated: a big guest that touches little costs little."""
    ctx.need_kvm()
    if not os.path.exists("/usr/bin/time"):
        from harness import Skip
        raise Skip("/usr/bin/time (Debian package 'time') is not installed")
    kernel = raw(ctx, "off", rawguest.POWEROFF)
    p = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", ctx.kvmm, "run", "--kernel", kernel,
                        "--memory", size], capture_output=True, text=True, timeout=60)
    m = re.search(r"maxrss=(\d+)", p.stderr)
    expect(p.returncode == 0 and m, f"exit {p.returncode}: {p.stderr[-500:]}")
    expect(int(m.group(1)) < 32 * 1024, f"peak RSS {m.group(1)} KiB for a {size} guest")
