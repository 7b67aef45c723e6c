# SPDX-License-Identifier: MIT
"""Pause/resume, snapshot save/restore, clones, and the QMP control socket.

The state guest (guest/tests/state.c) prints one line per lockstep step with
every CPU's checksum, one byte at a time, so the output of an interrupted run
(saved, killed, restored) must equal an uninterrupted run's byte for byte.
"""
import os
import signal
import subprocess
import time

from harness import expect, test
from qmpclient import QMP, wait_for_output

STEPS = 12


def state_args(ctx, cpus, steps=STEPS, delay_us=1500):
    """The output does not depend on delay_us: runs to be snapshotted print
    slower so there is time to stop them mid-run even on a loaded machine."""
    return ["--kernel", ctx.guest("state"), "--cmdline", f"steps={steps} delay_us={delay_us}",
            "--cpus", str(cpus), "--memory", "64M"]


def deterministic(text):
    """The lines of the state guest that do not depend on timing."""
    return text


class VM:
    """kvmm run in the background, stdout to a file, with a control socket."""

    def __init__(self, ctx, args, name):
        ctx.need_kvm()
        self.sock = os.path.join(ctx.tmp, name + ".sock")
        self.out = os.path.join(ctx.tmp, name + ".out")
        self.err = os.path.join(ctx.tmp, name + ".err")
        self.p = subprocess.Popen([ctx.kvmm, "run", "--control", self.sock] + args,
                                  stdout=open(self.out, "wb"), stderr=open(self.err, "wb"),
                                  stdin=subprocess.DEVNULL)

    def qmp(self, **kw):
        return QMP(self.sock, **kw)

    def output(self):
        with open(self.out, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.err, "rb") as f:
            return f.read().decode(errors="replace")

    def wait(self, timeout=60):
        return self.p.wait(timeout=timeout)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=20)


def reference_output(ctx, cpus, steps=STEPS):
    r = ctx.kvmm_run(state_args(ctx, cpus, steps), timeout=120)
    expect(r.rc == 1 and "state: done" in r.out, "reference run failed", r)
    return r.out.encode()


def save_and_kill(ctx, vm, snap, after):
    wait_for_output(vm.out, after)
    q = vm.qmp()
    expect(q.cmd("stop") == {"return": {}}, "stop failed")
    q.wait_event("STOP")
    r = q.cmd("snapshot-save", {"path": snap})
    expect(r == {"return": {}}, f"snapshot-save failed: {r}")
    vm.kill()
    return vm.output()


@test(params=[1, 2, 4])
def save_kill_restore_is_exact(ctx, cpus):
    want = reference_output(ctx, cpus)
    snap = os.path.join(ctx.tmp, "snap")
    vm = VM(ctx, state_args(ctx, cpus, delay_us=4000), "a")
    before = save_and_kill(ctx, vm, snap, b"step 3:")
    r = ctx.kvmm_run(["--restore", snap], timeout=120)
    expect(r.rc == 1, "restored guest did not finish", r)
    got = before + r.out.encode()
    expect(got == want, f"output differs after restore:\n--- want\n{want.decode()}\n--- got\n"
           f"{got.decode()}", r)
    expect(b"state: timer ok" in got, "timer interrupts stopped after restore", r)


@test()
def three_generations(ctx):
    want = reference_output(ctx, 2, steps=16)
    out = b""
    args = state_args(ctx, 2, steps=16, delay_us=4000)
    for gen, marker in enumerate([b"step 2:", b"step 6:", b"step 10:"]):
        snap = os.path.join(ctx.tmp, f"snap{gen}")
        vm = VM(ctx, args, f"g{gen}")
        out += save_and_kill(ctx, vm, snap, marker)
        args = ["--restore", snap]
        # The next generation's output file starts empty: markers are searched in it.
    r = ctx.kvmm_run(args, timeout=120)
    out += r.out.encode()
    expect(r.rc == 1 and out == want, f"three generations differ:\n{out.decode()}", r)


@test()
def pause_stops_the_guest(ctx):
    vm = VM(ctx, state_args(ctx, 2, steps=200), "p")
    wait_for_output(vm.out, b"step 1:")
    q = vm.qmp()
    expect(q.cmd("query-status")["return"]["status"] == "running", "not running")
    q.cmd("stop")
    q.wait_event("STOP")
    st = q.cmd("query-status")["return"]
    expect(st == {"running": False, "singlestep": False, "status": "paused"}, f"{st}")
    n = len(vm.output())
    time.sleep(0.6)
    expect(len(vm.output()) == n, "guest printed while paused")
    q.cmd("cont")
    q.wait_event("RESUME")
    time.sleep(0.6)
    expect(len(vm.output()) > n, "guest did not continue after cont")
    expect(q.cmd("quit") == {"return": {}}, "quit")
    ev = q.wait_event("SHUTDOWN")
    expect(ev["data"] == {"guest": False, "reason": "host-qmp-quit"}, f"{ev}")
    expect("seconds" in ev["timestamp"] and "microseconds" in ev["timestamp"], f"{ev}")
    expect(vm.wait() == 0, "quit should exit 0")


@test()
def clones_run_concurrently(ctx):
    """One snapshot restored 20 times at once: each clone finishes independently."""
    want = reference_output(ctx, 1, steps=8)
    snap = os.path.join(ctx.tmp, "snap")
    vm = VM(ctx, state_args(ctx, 1, steps=8, delay_us=4000), "src")
    before = save_and_kill(ctx, vm, snap, b"step 2:")
    procs = [subprocess.Popen([ctx.kvmm, "run", "--restore", snap], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for _ in range(20)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=180)
        expect(p.returncode == 1, f"clone {i} exit {p.returncode}: {err.decode()[-800:]}")
        expect(before + out == want, f"clone {i} printed something else:\n{out.decode()}")


@test()
def restore_refuses_bad_files(ctx):
    snap = os.path.join(ctx.tmp, "snap")
    vm = VM(ctx, state_args(ctx, 2, delay_us=4000), "src")
    save_and_kill(ctx, vm, snap, b"step 1:")
    with open(snap, "rb") as f:
        good = f.read()
    size = os.path.getsize(snap)
    cases = {
        "truncated": good[:size // 2],
        "truncated-tail": good[:-7],
        "empty": b"",
        "bad-magic": b"X" + good[1:],
    }
    # A flipped byte inside the "vcpu1" state section, found through the section
    # table (docs/snapshot-format.md: table offset at 48, count at 56, 128-byte entries).
    import struct
    table, count = struct.unpack_from("<QI", good, 48)
    for i in range(count):
        name = good[table + i * 128:table + i * 128 + 64].rstrip(b"\0")
        if name == b"vcpu1":
            off, length = struct.unpack_from("<QQ", good, table + i * 128 + 72)
    flipped = bytearray(good)
    flipped[off + length // 2] ^= 0x55
    cases["flipped"] = bytes(flipped)
    version = bytearray(good)
    version[8] ^= 0x02  # the format version follows the 8-byte magic
    cases["version"] = bytes(version)
    for name, data in cases.items():
        path = os.path.join(ctx.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        r = ctx.kvmm_run(["--restore", path], timeout=30)
        expect(r.rc == 66, f"{name}: expected exit 66", r)
        expect(path in r.err or "snapshot" in r.err, f"{name}: message should name the file", r)
        if name == "flipped":
            expect("vcpu1" in r.err, "a corrupted section is named", r)
    r = ctx.kvmm_run(["--restore", snap, "--cpus", "2"], need_kvm=False)
    expect(r.rc == 64 and "--restore" in r.err, "--restore with machine options", r)


@test()
def qmp_errors_keep_the_connection(ctx):
    vm = VM(ctx, state_args(ctx, 1, steps=400), "q")
    q = vm.qmp(negotiate=False)
    expect(set(q.greeting["QMP"]) == {"version", "capabilities"}, f"{q.greeting}")
    r = q.cmd("query-status")
    expect(r["error"]["class"] == "CommandNotFound", f"before negotiation: {r}")
    expect(q.cmd("qmp_capabilities") == {"return": {}}, "negotiation")
    q.send_raw(b'{"execute": ')  # half a request, then garbage
    q.send_raw(b'nonsense}\n')
    r = q.reply()
    expect("error" in r, f"garbage should be an error: {r}")
    expect(q.cmd("no-such-command")["error"]["class"] == "CommandNotFound", "unknown command")
    r = q.cmd("stop", {"bogus": 1})
    expect(r["error"]["class"] == "GenericError" and "bogus" in r["error"]["desc"], f"{r}")
    r = q.cmd("snapshot-save", {"path": 7})
    expect(r["error"]["class"] == "GenericError", f"{r}")
    r = q.cmd("snapshot-save", {"path": os.path.join(ctx.tmp, "no", "such", "dir", "s")})
    expect("error" in r, f"unwritable path: {r}")
    r = q.cmd("query-status", id={"tag": [1, 2]})
    expect(r.get("id") == {"tag": [1, 2]} and r["return"]["running"], f"id echo: {r}")
    cmds = {c["name"] for c in q.cmd("query-commands")["return"]}
    for c in ["query-version", "query-status", "query-cpus-fast", "query-block", "stop", "cont",
              "system_powerdown", "system_reset", "quit", "snapshot-save"]:
        expect(c in cmds, f"query-commands lacks {c}")
    expect(len(q.cmd("query-cpus-fast")["return"]) == 1, "query-cpus-fast")
    expect(q.cmd("query-block")["return"] == [], "query-block")
    # A second client and a client that vanishes mid-request harm nothing.
    q2 = vm.qmp()
    q3 = vm.qmp()
    q3.send_raw(b'{"execute": "query-st')
    q3.close()
    expect(q2.cmd("system_powerdown") == {"return": {}}, "powerdown")
    q.wait_event("POWERDOWN")
    r = q2.cmd("system_reset")
    ev = q.wait_event("RESET")
    expect(ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}, f"{ev}")
    wait_for_output(vm.out, b"state: 1 cpus, 400 steps", timeout=20)
    q.cmd("quit")
    expect(vm.wait() == 0, "quit")


@test()
def guest_poweroff_event(ctx):
    import rawguest
    kernel = rawguest.write(os.path.join(ctx.tmp, "spin.bin"), rawguest.SPIN)
    vm = VM(ctx, ["--kernel", kernel, "--shutdown-timeout", "1"], "s")
    q = vm.qmp()
    vm.p.send_signal(signal.SIGTERM)
    q.wait_event("POWERDOWN")
    ev = q.wait_event("SHUTDOWN")
    expect(ev["data"]["guest"] is False, f"{ev}")
    expect(vm.wait() == 128 + signal.SIGTERM, "hard stop after timeout")
