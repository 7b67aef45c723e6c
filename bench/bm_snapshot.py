# SPDX-License-Identifier: MIT
"""Snapshot save and restore: guests of 256 MiB, 1 GiB and 4 GiB whose RAM is
fully written (the memtouch guest: a non-zero pattern in every qword of every
page above its image, then endless passes that read and rewrite one qword per
page, each ending in a "memtouch: pass K N MiB T us" line).

Per size and system, one repetition:
- Boot, wait for "memtouch: filled", QMP "stop".
- Save. kvmm: QMP "snapshot-save path=FILE", timed from the request to its
  reply (kvmm scans for zero pages, leaves them as holes, writes and
  checksums the rest and fdatasyncs before it replies). QEMU:
  "migrate-set-parameters max-bandwidth" lifted (QEMU throttles migration to
  128 MiB/s by default; "virsh save" lifts it too), then "migrate" with uri
  "exec:cat > FILE", timed from the request until "query-migrate" (polled
  every 2 ms) says "completed". Nothing syncs QEMU's file, so a second row
  adds the fdatasync the bench does on it afterwards ("until on disk"; for
  kvmm the same number as its save time). Save throughput is the guest RAM
  size over the save time. Then the file's apparent size and its allocated
  size (st_blocks * 512), and the saved monitor is killed.
- Restore, with the page cache warm (the file was just written; we do not
  drop caches: that needs root and hurts other work on the machine). kvmm:
  "kvmm run --restore FILE --log-level info"; restore to first guest
  instruction is kvmm's own "restore: vCPUs start X ms after kvmm started"
  (from the top of main(), so exec and dynamic linking, ~1 ms, are not in
  it), the median of that restore and RESTORE_EXTRA more of the same file,
  each killed once it has printed that line (a few ms each: one sample of a
  few ms is at the mercy of the scheduler on a loaded 2-CPU machine; all of
  them are in results.json). QEMU: the saved command line plus -incoming
  "exec:cat FILE"; a VM saved while stopped stays paused after the incoming
  migration (QEMU keeps the source's run state), so we poll "query-status"
  (2 ms) until it leaves "inmigrate", send "cont", and take the time of its
  reply, counted from just before the process was spawned.
- Restore to all memory touched: from just before the restoring process was
  spawned to the arrival of the line of the first pass that ran wholly after
  the restore (the pass in progress at the save is skipped).

Sizes run one after another and systems in turn, so at most one guest and its
snapshot exist at a time (4 GiB: ~4 GiB of anonymous memory and ~4 GiB of page
cache for the file, then the same for the restored guest); files are deleted
after each sample. 256 MiB and 1 GiB run in MAX_REPS repetitions, 4 GiB in
MAX_REPS_4G, for kvmm and QEMU -M microvm only, and not when MemAvailable is
below MIN_AVAIL_4G: at 4 GiB kvmm's touch-after-restore alone takes 35-85 s
on PVM, and QEMU -M pc, whose migration code is microvm's, would add ~1
minute (SeaBIOS boot included). QEMU -M pc boots SeaBIOS (~5 s on PVM) before
each save, which is in no row; an incoming migration does not run the
firmware. Smoke: one 64 MiB guest per system, whose numbers fill the rows of
every size."""
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from common import BenchError, Vm

SYSTEMS = ("kvmm", "qemu-pc", "qemu-microvm")
SIZES = ((256, "256 MiB"), (1024, "1 GiB"), (4096, "4 GiB"))
SMOKE_MIB = 64
MAX_REPS = 3     # repetitions for 256 MiB and 1 GiB
MAX_REPS_4G = 1  # and for 4 GiB
RESTORE_EXTRA = 4  # kvmm: quick restores after the one that touches all memory
MIN_AVAIL_4G = 12 << 20  # KiB of MemAvailable: guest + file + restored guest, with room
POLL = 0.002
UNLIMITED = 1 << 40  # bytes/s: QEMU's max-bandwidth for the save
SAVE_TIMEOUT = 300.0
MARK_FILLED = b"memtouch: filled "
MARK_PASS = b"memtouch: pass "

PC_NA_4G = "n/a (4 GiB: microvm only)"
ROWS = []
for _mib, _label in SIZES:
    _na = {"qemu-pc": PC_NA_4G} if _mib >= 4096 else {}
    ROWS += [
        dict(id=f"snapshot.save_{_mib}M", name=f"snapshot save time, {_label} written",
             unit="ms", better="lower", na=_na),
        dict(id=f"snapshot.save_durable_{_mib}M",
             name=f"snapshot save until on disk (QEMU: + fdatasync), {_label}",
             unit="ms", better="lower", na=_na),
        dict(id=f"snapshot.save_rate_{_mib}M", name=f"snapshot save throughput, {_label}",
             unit="MiB/s", better="higher", na=_na,
             target={"qemu-pc": (">=", 1.0), "qemu-microvm": (">=", 1.0)}),
        dict(id=f"snapshot.file_{_mib}M", name=f"snapshot file size (apparent), {_label}",
             unit="MiB", better="lower", na=_na),
        dict(id=f"snapshot.file_alloc_{_mib}M", name=f"snapshot file size (allocated), {_label}",
             unit="MiB", better="lower", na=_na),
        dict(id=f"snapshot.restore_{_mib}M",
             name=f"restore to first guest instruction, {_label}",
             unit="ms", better="lower", na=_na, limit=("<", 10.0)),
        dict(id=f"snapshot.touch_{_mib}M",
             name=f"restore to all guest memory touched again, {_label}",
             unit="ms", better="lower", na=_na),
    ]


def exited(vm):
    """Whether the monitor has exited (without reaping it: Vm does that)."""
    if vm.status is not None:
        return True
    try:
        with open(f"/proc/{vm.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


class Qmp:
    """Minimal QMP client: connect (retrying until the socket is served),
    negotiate, run commands; events are dropped."""

    def __init__(self, path, vm, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if exited(vm):
                    raise BenchError(f"{vm.argv[0]}: exited before serving QMP: {vm.tail()}")
                if time.monotonic() > deadline:
                    raise BenchError(f"no QMP socket at {path} within {timeout:.0f} s")
                time.sleep(POLL)
        self.sock = s
        self.sock.settimeout(SAVE_TIMEOUT)
        self.buf = b""
        self._recv()  # greeting
        self.cmd("qmp_capabilities")

    def _recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise BenchError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self._recv()
            if "event" in msg:
                continue
            if "error" in msg:
                raise BenchError(f"QMP {name}: {msg['error'].get('desc')}")
            return msg["return"]

    def close(self):
        self.sock.close()


def drain(vm, quiet=0.05, timeout=5.0):
    """Reads console output until none arrives for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and vm._read_some(quiet):
        pass


def file_sizes(path):
    st = os.stat(path)
    return st.st_size / 2**20, st.st_blocks * 512 / 2**20


def wait_stable_size(path, timeout=30.0):
    """QEMU's 'completed' can come just before `cat` has written its last
    bytes and exited: waits until the file stops growing."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = os.stat(path).st_size if os.path.exists(path) else -1
        if size == last and size > 0:
            return
        last = size
        time.sleep(0.05)
    raise BenchError(f"{path}: still growing after {timeout:.0f} s")


def touched_again(vm, ended_mid_line, timeout):
    """Arrival time of the line of the first pass that ran wholly after the
    restore. Unless the save fell in the middle of a console line, the first
    pass line after the restore ends the pass that was in progress at the
    save, so the next one is taken."""
    need = 1 if ended_mid_line else 2
    pos, found = 0, 0
    deadline = time.monotonic() + timeout
    while True:
        i = vm.out.find(MARK_PASS, pos)
        j = vm.out.find(b"\n", i) if i >= 0 else -1
        if j >= 0:
            found += 1
            pos = j + 1
            if found == need:
                return vm.time_of(j)
            continue
        if b"memtouch: FAIL" in vm.out:
            raise BenchError(f"guest memory wrong after restore: {vm.tail()}")
        left = deadline - time.monotonic()
        if vm.eof or left <= 0:
            raise BenchError(f"no complete pass after the restore: {vm.tail()}")
        vm._read_some(min(left, 1.0))


def boot_and_stop(system, ctx, mib, sock, extra):
    vm = Vm(system.argv(ctx.guest("memtouch"), mib, "", extra))
    try:
        i = vm.wait_for(MARK_FILLED, timeout=300)
        vm.wait_for(b"\n", start=i)
        q = Qmp(sock, vm)
        q.cmd("stop")
    except BaseException:
        vm.kill()
        raise
    return vm, q


def save_kvmm(system, ctx, mib, tmp, snap):
    sock = os.path.join(tmp, "qmp.sock")
    vm, q = boot_and_stop(system, ctx, mib, sock, ["--control", sock])
    try:
        t0 = time.perf_counter()
        q.cmd("snapshot-save", {"path": snap})
        save = time.perf_counter() - t0
        drain(vm)
        q.close()
    finally:
        vm.kill()
    return save, save, vm


def save_qemu(system, ctx, mib, tmp, snap):
    sock = os.path.join(tmp, "qmp.sock")
    extra = ["-qmp", f"unix:{sock},server=on,wait=off"]
    vm, q = boot_and_stop(system, ctx, mib, sock, extra)
    try:
        # QEMU throttles migration to 128 MiB/s by default; a save to a file
        # lifts that, as libvirt's "virsh save" does.
        q.cmd("migrate-set-parameters", {"max-bandwidth": UNLIMITED})
        t0 = time.perf_counter()
        q.cmd("migrate", {"uri": f"exec:cat > {snap}"})
        while True:
            st = q.cmd("query-migrate")
            if st.get("status") == "completed":
                save = time.perf_counter() - t0
                break
            if st.get("status") in ("failed", "cancelled"):
                raise BenchError(f"migration {st.get('status')}: {st.get('error-desc', '')}")
            if time.perf_counter() - t0 > SAVE_TIMEOUT:
                raise BenchError("migration not completed in time")
            time.sleep(POLL)
        ctx.detail(system, f"snapshot.migrate_{mib}M", {
            "qemu_total_time_ms": st.get("total-time"), "downtime_ms": st.get("downtime"),
            "ram": st.get("ram")})
        drain(vm)
        try:
            q.cmd("quit")
        except (BenchError, OSError):
            pass
        q.close()
        vm.finish(timeout=30)
    finally:
        vm.kill()
    wait_stable_size(snap)
    # What making QEMU's file durable adds (kvmm's save includes its fdatasync).
    t0 = time.perf_counter()
    fd = os.open(snap, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
    sync = time.perf_counter() - t0
    ctx.detail(system, f"snapshot.fdatasync_{mib}M", {"ms": sync * 1e3})
    return save, save + sync, vm


def vcpus_start(text):
    """kvmm's own restore time (s) from its --log-level info output, or None."""
    for line in text.splitlines(keepends=True):
        if "restore: vCPUs start" in line and line.endswith("\n"):
            return float(line.split("vCPUs start", 1)[1].split()[0]) / 1e3
    return None


def quick_restore(argv, timeout=30.0):
    """Restores, reads kvmm's start-up line and kills it: restore time only."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    err = b""
    try:
        deadline = time.monotonic() + timeout
        while vcpus_start(err.decode(errors="replace")) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([p.stderr], [], [], left)[0]:
                break
            data = os.read(p.stderr.fileno(), 4096)
            if not data:
                break
            err += data
    finally:
        p.kill()
        p.wait()
        p.stderr.close()
    start = vcpus_start(err.decode(errors="replace"))
    if start is None:
        raise BenchError(f"kvmm printed no 'restore: vCPUs start' line: {err[-300:]!r}")
    return start


def restore_kvmm(system, ctx, mib, snap, ended_mid_line, timeout):
    """The restore that touches all memory, then RESTORE_EXTRA quick ones of
    the same file: the row takes the median of their start-up times, which
    are a few ms, the scale of scheduling noise on a loaded 2-CPU machine."""
    argv = [system.argv("", 0)[0], "run", "--restore", snap, "--log-level", "info"]
    vm = Vm(argv)
    try:
        touch = touched_again(vm, ended_mid_line, timeout)
    finally:
        vm.kill()
    start = vcpus_start(vm.stderr())
    if start is None:
        raise BenchError(f"kvmm printed no 'restore: vCPUs start' line: {vm.tail()}")
    starts = [start] + [quick_restore(argv) for _ in range(RESTORE_EXTRA)]
    ctx.detail(system, f"snapshot.restores_{mib}M", {"vcpus_start_ms": [t * 1e3 for t in starts]})
    return statistics.median(starts), touch


def restore_qemu(system, ctx, mib, tmp, snap, ended_mid_line, timeout):
    sock = os.path.join(tmp, "qmp-in.sock")
    vm = Vm(system.argv(ctx.guest("memtouch"), mib, "", [
        "-qmp", f"unix:{sock},server=on,wait=off", "-incoming", f"exec:cat {snap}"]))
    try:
        q = Qmp(sock, vm)
        while True:
            st = q.cmd("query-status")["status"]
            if st != "inmigrate":
                break
            time.sleep(POLL)
        loaded = vm.now()
        if st == "paused":
            q.cmd("cont")
        elif st != "running":
            raise BenchError(f"after the incoming migration the VM is {st}")
        start = vm.now()
        ctx.detail(system, f"snapshot.incoming_{mib}M", {"loaded_ms": loaded * 1e3,
                                                         "running_ms": start * 1e3})
        touch = touched_again(vm, ended_mid_line, timeout)
        q.close()
    finally:
        vm.kill()
    return start, touch


def measure(system, ctx, mib):
    tmp = tempfile.mkdtemp(prefix="kvmm-bench-snap-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    snap = os.path.join(tmp, "vm.snap")
    try:
        if system.is_qemu:
            save, durable, src = save_qemu(system, ctx, mib, tmp, snap)
        else:
            save, durable, src = save_kvmm(system, ctx, mib, tmp, snap)
        apparent, alloc = file_sizes(snap)
        ended_mid_line = not src.out.endswith(b"\n")
        timeout = 120 + mib / 16
        if system.is_qemu:
            start, touch = restore_qemu(system, ctx, mib, tmp, snap, ended_mid_line, timeout)
        else:
            start, touch = restore_kvmm(system, ctx, mib, snap, ended_mid_line, timeout)
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    ctx.detail(system, f"snapshot.{mib}M", {"mib": mib, "save_ms": save * 1e3,
                                            "file_mib": apparent, "file_alloc_mib": alloc,
                                            "restore_ms": start * 1e3, "touch_ms": touch * 1e3,
                                            "save_ended_mid_line": ended_mid_line})
    return {"save": save * 1e3, "save_durable": durable * 1e3, "save_rate": mib / save,
            "file": apparent, "file_alloc": alloc, "restore": start * 1e3, "touch": touch * 1e3}


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def sample(system, ctx):
    res = {}
    if ctx.smoke:
        vals = measure(system, ctx, SMOKE_MIB)
        for mib, _ in SIZES:
            res.update({f"snapshot.{k}_{mib}M": v for k, v in vals.items()})
        return res
    errors = []
    for mib, label in SIZES:
        if mib >= 4096:
            if ctx.rep >= MAX_REPS_4G or system.name == "qemu-pc":
                continue
            if mem_available_kib() < MIN_AVAIL_4G:
                errors.append(f"{label}: skipped, MemAvailable below "
                              f"{MIN_AVAIL_4G >> 20} GiB")
                continue
        try:
            vals = measure(system, ctx, mib)
        except BenchError as e:
            errors.append(f"{label}: {e}")
            print(f"\nbench: snapshot {label} {system.name}: {e}", file=sys.stderr)
            continue
        res.update({f"snapshot.{k}_{mib}M": v for k, v in vals.items()})
    if errors and not res:
        raise BenchError("; ".join(errors))
    return res
