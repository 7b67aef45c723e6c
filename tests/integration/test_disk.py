# SPDX-License-Identifier: MIT
"""kvmm run --disk: the command line and the checks made before the guest starts (a missing,
unreadable, empty, misaligned or locked image is refused with a message naming it and exit
status 66, bad option values with 64), and the image lock held for the process's life. What
the guest does with the disk is tested by test_virtio_blk.py."""
import os
import shutil
import subprocess
import time

from harness import Skip, expect, test

EXIT_USAGE = 64
EXIT_NOINPUT = 66
DEBUG_EXIT_OK = 1


def image(ctx, name="disk.img", size=1 << 20):
    path = os.path.join(ctx.tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def hello(ctx, extra):
    return ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--memory", "32M"] + list(extra))


@test()
def disk_boots_with_disks(ctx):
    """Two disks (one read-only) and the hello guest: the VM runs and exits normally."""
    a, b = image(ctx, "a.img"), image(ctx, "b.img", 4 << 20)
    r = hello(ctx, ["--disk", a, "--disk", f"path={b},readonly=on,serial=S1,queues=4",
                    "--log-level", "info"])
    expect(r.rc == DEBUG_EXIT_OK, "the guest did not run to its end", r)
    expect("disk 0: " + a in r.err and "disk 1: " + b in r.err and "read-only" in r.err,
           "the disks are not logged", r)


@test(params=["missing", "directory", "empty", "misaligned", "unreadable"])
def disk_bad_image_refused(ctx, kind):
    """Each bad image gives one line naming the file and exit status 66, before any guest
    output."""
    path = os.path.join(ctx.tmp, "bad.img")
    want = {"missing": "No such file", "directory": "Is a directory",
            "empty": "is empty", "misaligned": "not a multiple of 512",
            "unreadable": "Permission denied"}[kind]
    if kind == "directory":
        os.mkdir(path)
    elif kind == "empty":
        image(ctx, "bad.img", 0)
    elif kind == "misaligned":
        image(ctx, "bad.img", 1000)
    elif kind == "unreadable":
        if os.geteuid() == 0:
            # root reads anything: use a path below a file, which nobody can open.
            path = os.path.join(image(ctx, "plain.img"), "x")
            want = "Not a directory"
        else:
            image(ctx, "bad.img")
            os.chmod(path, 0)
    r = hello(ctx, ["--disk", path])
    expect(r.rc == EXIT_NOINPUT, "wrong exit status", r)
    expect(path in r.err and want in r.err, f"the message must name {path} and say {want!r}", r)
    expect("Hello" not in r.out, "the guest must not start", r)


@test(params=["path=", "path=x,readonly=maybe", "path=x,serial=123456789012345678901",
              "path=x,queues=0", "path=x,queues=65", "path=x,colour=red", "readonly=on",
              "path=x,boot=maybe",
              "path=x,", ",path=x"])
def disk_bad_option_is_usage_error(ctx, spec):
    r = ctx.kvmm_run(["--kernel", ctx.guest("hello"), "--disk", spec], need_kvm=False)
    expect(r.rc == EXIT_USAGE, "wrong exit status", r)
    expect("--disk" in r.err and "Try 'kvmm run --help'" in r.err, "no usage message", r)


@test()
def disk_too_many(ctx):
    disk = image(ctx)
    args = ["--kernel", ctx.guest("hello")]
    for _ in range(17):
        args += ["--disk", f"{disk},readonly=on"]
    r = ctx.kvmm_run(args, need_kvm=False)
    expect(r.rc == EXIT_USAGE and "at most 16 disks" in r.err, "17 disks accepted", r)


@test()
def disk_comma_in_path(ctx):
    """,, is a literal comma, as in QEMU's -drive file=."""
    path = image(ctx, "a,b.img")
    r = hello(ctx, ["--disk", path.replace(",", ",,") + ",readonly=on"])
    expect(r.rc == DEBUG_EXIT_OK, "the image with a comma in its name was not opened", r)


@test(params=["rw-rw", "rw-ro", "ro-rw"])
def disk_locked_by_running_vm(ctx, modes):
    """A second kvmm cannot write an image the first uses, nor read one it writes; two
    read-only users share it."""
    ctx.need_kvm()
    path = image(ctx)
    first, second = modes.split("-")
    ro = lambda m: ",readonly=on" if m == "ro" else ""
    # The idle guest runs until killed.
    holder = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("idle"), "--memory", "32M",
                               "--disk", path + ro(first)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        expect(holder.poll() is None, "the first VM did not keep running")
        r = hello(ctx, ["--disk", path + ro(second)])
        expect(r.rc == EXIT_NOINPUT and "locked" in r.err and path in r.err,
               "the second VM must be refused with a message about the lock", r)
    finally:
        holder.kill()
        holder.wait()
    # Once the holder is gone the image is free again.
    r = hello(ctx, ["--disk", path])
    expect(r.rc == DEBUG_EXIT_OK, "the lock outlived its VM", r)


@test()
def disk_shared_read_only(ctx):
    path = image(ctx)
    ctx.need_kvm()
    holder = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("idle"), "--memory", "32M",
                               "--disk", path + ",readonly=on"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        r = hello(ctx, ["--disk", path + ",readonly=on"])
        expect(r.rc == DEBUG_EXIT_OK, "two read-only users must share an image", r)
    finally:
        holder.kill()
        holder.wait()


@test()
def disk_options_not_with_restore(ctx):
    """With --restore a --disk only names another image for the snapshot's disk: its other
    settings are the snapshot's (tests/integration/test_snapshot_virtio.py restores disks)."""
    for opt in ("readonly=on", "serial=x", "queues=2"):
        r = ctx.kvmm_run(["--restore", "x.snap", "--disk", "x.img," + opt], need_kvm=False)
        expect(r.rc == EXIT_USAGE and "--disk" in r.err and "readonly, serial and queues" in r.err,
               f"--restore with --disk ...,{opt} accepted", r)
    r = ctx.kvmm_run(["--restore", os.path.join(ctx.tmp, "none.snap"), "--disk", "x.img"],
                     need_kvm=False)
    expect(r.rc == EXIT_NOINPUT and "none.snap" in r.err, "a path-only --disk is for the snapshot", r)


@test()
def disk_help(ctx):
    out = subprocess.run([ctx.kvmm, "run", "--help"], capture_output=True, text=True).stdout
    for word in ("--disk path=FILE", "readonly=on", "serial=S", "queues=N", "boot=on"):
        expect(word in out, f"--help does not document {word}")


@test(params=["kvmm-holds", "qemu-holds"])
def disk_lock_interop_with_qemu(ctx, who):
    """kvmm's lock and QEMU's (qemu-io, from qemu-utils, locks bytes of the image with OFD
    locks) exclude each other both ways: neither writes an image the other has open."""
    if not shutil.which("qemu-io"):
        raise Skip("qemu-io is not installed (package qemu-utils; make deps installs it)")
    ctx.need_kvm()
    path = image(ctx)
    if who == "kvmm-holds":
        holder = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("idle"), "--memory",
                                   "32M", "--disk", path], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    else:
        # qemu-io keeps the image open while it waits for commands on stdin.
        holder = subprocess.Popen(["qemu-io", "-f", "raw", path], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        expect(holder.poll() is None, "the holder did not keep the image open")
        if who == "kvmm-holds":
            p = subprocess.run(["qemu-io", "-f", "raw", "-c", "write 0 512", path],
                               capture_output=True, text=True, timeout=30)
            expect(p.returncode != 0 and "lock" in p.stderr,
                   f"QEMU wrote an image kvmm uses: {p.returncode} {p.stderr}")
        else:
            r = hello(ctx, ["--disk", path])
            expect(r.rc == EXIT_NOINPUT and "locked" in r.err,
                   "kvmm opened an image QEMU has open", r)
    finally:
        holder.kill()
        holder.wait()
