# SPDX-License-Identifier: MIT
"""The sandbox (docs/security.md): every thread is filtered, a forbidden call kills
with a clear line, --sandbox off works, and kvmm runs as an ordinary user.

Every other integration test runs with the sandbox on (the default), so the
guests, reboots, crash dumps, snapshots and QMP all pass through the filters.
"""
import fcntl
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import rawguest
from harness import Skip, expect, test
from qmpclient import QMP

SIGSYS_LINE = (r"kvmm: sandbox: thread {role} \(tid \d+\) made forbidden system call socket "
               r"\(nr 41, arguments 0x2 0x1 0x0\); killed\. Run with --sandbox off to debug\.")


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(ctx, args, env=None, timeout=60):
    ctx.need_kvm()
    p = subprocess.run([ctx.kvmm, "run"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})), preexec_fn=no_core)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def help_text(ctx):
    return subprocess.run([ctx.kvmm, "run", "--help"], capture_output=True, text=True).stdout


@test(params=["vcpu", "main", "control", "io", "disk", "disk-threads"])
def forbidden_call_kills_with_log_line(ctx, role):
    """KVMM_SANDBOX_SELFTEST=<role> makes that thread call socket(2) after its filter."""
    args = ["--kernel", ctx.guest("hello"), "--cpus", "2", "--memory", "64M"]
    if role == "control":
        args += ["--control", os.path.join(ctx.tmp, "qmp.sock")]
    if role == "io":
        if "virtio-rng" not in help_text(ctx):
            raise Skip("this kvmm has no virtio device, so no I/O thread")
        args += ["--device", "virtio-rng"]
    env = {"KVMM_SANDBOX_SELFTEST": role}
    if role.startswith("disk"):
        # The io_uring reaper, or (KVMM_AIO=threads) one of the pool's workers.
        disk = os.path.join(ctx.tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        args += ["--disk", disk]
        if role == "disk-threads":
            env["KVMM_AIO"] = "threads"
        role = env["KVMM_SANDBOX_SELFTEST"] = "disk"
    rc, out, err = run(ctx, args, env=env)
    detail = f"\nexit {rc}\n--- stdout ---\n{out[-1000:]}\n--- stderr ---\n{err[-2000:]}"
    expect(rc == -signal.SIGSYS, "a forbidden call must kill with SIGSYS" + detail)
    expect(re.search(SIGSYS_LINE.format(role=role), err), "no sandbox line naming the thread" + detail)
    expect(err.count("kvmm: sandbox: thread") == 1, "one line, from one thread" + detail)


@test()
def sandbox_off_installs_nothing(ctx):
    """With --sandbox off the self-test's socket() is just a call: the guest runs to its end."""
    rc, out, err = run(ctx, ["--kernel", ctx.guest("hello"), "--cpus", "2", "--sandbox", "off"],
                       env={"KVMM_SANDBOX_SELFTEST": "vcpu"})
    expect(rc == 1 and "Hello from the kvmm test guest" in out and "sandbox" not in err,
           f"exit {rc}, stderr {err[-1000:]}")
    rc, _, err = run(ctx, ["--kernel", ctx.guest("hello"), "--sandbox", "maybe"])
    expect(rc == 64 and "--sandbox 'maybe': expected on or off" in err, f"exit {rc}: {err}")
    expect("--sandbox on|off" in help_text(ctx), "--help does not document --sandbox")


@test(params=["quit", "killed"])
def terminal_restored(ctx, how):
    """On a terminal (raw mode, tcsetattr under the filters): Ctrl-A h, Ctrl-A x quit
    cleanly, and a sandbox kill restores the terminal too."""
    import pty
    import termios
    ctx.need_kvm()
    kernel = rawguest.write(os.path.join(ctx.tmp, "spin.bin"), rawguest.SPIN)
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        env = dict(os.environ)
        if how == "killed":
            env["KVMM_SANDBOX_SELFTEST"] = "main"
        p = subprocess.Popen([ctx.kvmm, "run", "--kernel", kernel], stdin=slave, stdout=slave,
                             stderr=subprocess.PIPE, env=env, preexec_fn=no_core)
        if how == "quit":
            time.sleep(1)
            os.write(master, b"\x01h\x01x")
        _, err = p.communicate(timeout=20)
        want = -signal.SIGSYS if how == "killed" else 0
        expect(p.returncode == want, f"exit {p.returncode}: {err[-1000:]!r}")
        expect(termios.tcgetattr(slave) == before, "terminal left in raw mode")
    finally:
        os.close(master)
        os.close(slave)


def seccomp_state(pid):
    """{thread name: (Seccomp mode, filter count)} for each thread of pid."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except FileNotFoundError:
            continue
        name = re.search(r"^Name:\s*(\S+)", status, re.M).group(1)
        mode = int(re.search(r"^Seccomp:\s*(\d+)", status, re.M).group(1))
        filters = re.search(r"^Seccomp_filters:\s*(\d+)", status, re.M)
        key = "main" if tid == str(pid) else name
        threads[key] = (mode, int(filters.group(1)) if filters else None)
    return threads


@test()
def every_thread_is_filtered(ctx):
    """Main, each vCPU, the I/O thread, the disk's io_uring reaper and the control thread
    run in seccomp filter mode (2)."""
    ctx.need_kvm()
    kernel = rawguest.write(os.path.join(ctx.tmp, "spin.bin"), rawguest.SPIN)
    sock = os.path.join(ctx.tmp, "qmp.sock")
    disk = os.path.join(ctx.tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", kernel, "--cpus", "2", "--control", sock,
                          "--disk", disk],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        q = QMP(sock)
        deadline = time.monotonic() + 20
        while True:
            state = seccomp_state(p.pid)
            vcpus = [k for k in state if k.startswith("vcpu")]
            if len(vcpus) == 2 and "disk-uring" in state and all(
                    m == 2 for m, _ in state.values()):
                break
            expect(time.monotonic() < deadline, f"threads not all filtered: {state}")
            time.sleep(0.05)
        for name, (mode, filters) in state.items():
            # One filter each: the first boot's threads start before main has its own.
            expect(filters in (None, 1), f"{name} has {filters} filters: {state}")
        expect(len(state) >= 6,
               f"expected main, 2 vCPUs, virtio-io, disk-uring and the control thread: {state}")
        expect(q.cmd("quit") == {"return": {}}, "quit")
        _, err = p.communicate(timeout=20)
        expect(p.returncode == 0 and b"sandbox" not in err,
               f"exit {p.returncode}: {err[-1000:]!r}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- as an ordinary user ---

def acl_text(path):
    return subprocess.run(["getfacl", "--absolute-names", "--omit-header", path],
                          capture_output=True, text=True, check=True).stdout


class ThrowawayUser:
    """A system user with no home, removed again on exit."""

    def __init__(self):
        self.name = f"kvmmt{os.getpid() % 100000}x{int(time.monotonic() * 1000) % 1000}"

    def __enter__(self):
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                        "--shell", "/usr/sbin/nologin", self.name], check=True,
                       capture_output=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["userdel", self.name], capture_output=True)
        subprocess.run(["groupdel", self.name], capture_output=True)

    def run(self, cmd, timeout=60):
        p = subprocess.run(["runuser", "-u", self.name, "--"] + cmd, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, preexec_fn=no_core)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


@test()
def runs_as_ordinary_user(ctx):
    """No root needed: with read/write on /dev/kvm (an ACL here) the user boots a guest,
    serves QMP and saves a snapshot; each missing permission is named."""
    ctx.need_kvm()
    if os.geteuid() != 0:
        raise Skip("needs root to create a throwaway user and grant it /dev/kvm")
    for tool in ("useradd", "userdel", "runuser", "setfacl", "getfacl"):
        if not shutil.which(tool):
            raise Skip(f"{tool} is not installed (packages passwd, util-linux, acl)")
    kvm = "/dev/kvm"
    work = tempfile.mkdtemp(prefix="kvmm-user-")
    try:
        os.chmod(work, 0o755)
        kvmm = os.path.join(work, "kvmm")
        shutil.copy(ctx.kvmm, kvmm)
        guest = os.path.join(work, "hello.elf")
        shutil.copy(ctx.guest("hello"), guest)
        secret = os.path.join(work, "secret.elf")
        shutil.copy(ctx.guest("hello"), secret)
        os.chmod(secret, 0o600)
        with ThrowawayUser() as user:
            mine = os.path.join(work, "mine")
            os.mkdir(mine)
            shutil.chown(mine, user.name, user.name)
            # Without access to /dev/kvm: the message names the device and the permission.
            mode = os.stat(kvm).st_mode
            if not mode & 0o006:
                rc, _, err = user.run([kvmm, "run", "--kernel", guest])
                expect(rc == 69 and "permission denied opening /dev/kvm" in err and
                       "read and write permission" in err, f"exit {rc}: {err}")
            with open(os.path.join(ctx.build, "test-dev-kvm-acl.lock"), "w") as lock:
                # Tests run in parallel (the sanitizer build's twin too): one ACL at a time.
                fcntl.flock(lock, fcntl.LOCK_EX)
                before = acl_text(kvm)
                subprocess.run(["setfacl", "-m", f"u:{user.name}:rw", kvm], check=True)
                try:
                    rc, out, err = user.run([kvmm, "run", "--kernel", guest, "--memory", "64M"])
                    expect(rc == 1 and "Hello from the kvmm test guest" in out,
                           f"as {user.name}: exit {rc}\n{out[-500:]}\n{err[-2000:]}")
                    rc, _, err = user.run([kvmm, "run", "--kernel", secret])
                    expect(rc == 66 and f"kernel {secret}: Permission denied" in err,
                           f"unreadable kernel: exit {rc}: {err}")
                    rc, _, err = user.run([kvmm, "run", "--kernel", guest, "--control",
                                           os.path.join(work, "qmp.sock")])
                    expect(rc == 64 and "Permission denied" in err and "qmp.sock" in err,
                           f"unwritable socket directory: exit {rc}: {err}")
                    check_snapshot_as(user, kvmm, mine, work)
                finally:
                    # Exactly as before (no extended ACL at all if there was none).
                    subprocess.run(["setfacl", "--set-file=-", kvm], input=before, text=True,
                                   check=True)
                    after = acl_text(kvm)
                    expect(after == before and os.stat(kvm).st_mode == mode,
                           f"/dev/kvm's ACL not restored:\n{before}\n{after}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_snapshot_as(user, kvmm, mine, work):
    """QMP as the user: snapshot-save works in its directory, and names the directory
    it cannot write."""
    sock = os.path.join(mine, "qmp.sock")
    spin = rawguest.write(os.path.join(mine, "spin.bin"), rawguest.SPIN)
    shutil.chown(spin, user.name, user.name)
    p = subprocess.Popen(["runuser", "-u", user.name, "--", kvmm, "run", "--kernel", spin,
                          "--memory", "16M", "--control", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=no_core)
    try:
        q = QMP(sock)
        r = q.cmd("snapshot-save", {"path": os.path.join(mine, "vm.snap")})
        expect(r == {"return": {}}, f"snapshot-save as {user.name}: {r}")
        expect(os.stat(os.path.join(mine, "vm.snap")).st_uid != 0, "snapshot owned by root")
        r = q.cmd("snapshot-save", {"path": os.path.join(work, "vm.snap")})
        desc = r.get("error", {}).get("desc", "")
        expect(f"cannot create a temporary file in {work}: Permission denied" in desc,
               f"snapshot-save into an unwritable directory: {r}")
        expect(q.cmd("quit") == {"return": {}}, "quit")
        _, err = p.communicate(timeout=20)
        expect(b"sandbox" not in err, f"stderr: {err[-1000:]!r}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
