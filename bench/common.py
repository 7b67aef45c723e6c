# SPDX-License-Identifier: MIT
"""Shared pieces of the benchmarks: the systems under test (kvmm and QEMU with
KVM), starting a VM with time-stamped console output, and reading a running
monitor's memory from /proc. Python 3 standard library only."""
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time


QEMU_VARIANTS = ("pc", "microvm")
VM_TIMEOUT = 120.0  # seconds; QEMU -M pc spends ~6 s in SeaBIOS on PVM


class BenchError(Exception):
    """One sample could not be taken (bad exit status, timeout, missing line)."""


class System:
    """How to start a VM on one system: kvmm, or QEMU with one machine type."""

    def __init__(self, name, label, argv_fn, disk_argv_fn=None):
        self.name = name      # "kvmm", "qemu-pc", "qemu-microvm"
        self.label = label    # for tables and plots
        self._argv = argv_fn
        self._disk_argv = disk_argv_fn

    @property
    def is_qemu(self):
        return self.name.startswith("qemu")

    @property
    def variant(self):
        return self.name.split("-", 1)[1] if self.is_qemu else None

    def argv(self, kernel, mem_mib, append="", extra=()):
        return self._argv(kernel, mem_mib, append, list(extra))

    def disk_argv(self, disk, mem_mib):
        """A PC booted from a raw disk image on virtio-blk through SeaBIOS, or None."""
        return self._disk_argv(disk, mem_mib) if self._disk_argv else None

    def __repr__(self):
        return self.name


def kvmm_system(kvmm):
    def argv(kernel, mem, append, extra):
        cmd = [kvmm, "run", "--kernel", kernel, "--memory", f"{mem}M"]
        if append:
            cmd += ["--cmdline", append]
        return cmd + extra

    def disk_argv(disk, mem):
        return [kvmm, "run", "--disk", disk, "--memory", f"{mem}M"]
    return System("kvmm", "kvmm", argv, disk_argv)


def qemu_system(qemu, machine):
    def argv(kernel, mem, append, extra):
        cmd = [qemu, "-accel", "kvm", "-M", machine, "-m", str(mem), "-nodefaults",
               "-nographic", "-no-reboot", "-display", "none", "-monitor", "none",
               "-serial", "stdio", "-kernel", kernel,
               "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        if append:
            cmd += ["-append", append]
        return cmd + extra

    def disk_argv(disk, mem):
        # SeaBIOS (QEMU's default firmware for pc and q35) and the same virtio disk.
        return [qemu, "-accel", "kvm", "-M", machine, "-m", str(mem), "-nodefaults",
                "-nographic", "-no-reboot", "-display", "none", "-monitor", "none",
                "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-drive", f"file={disk},if=none,id=d0,format=raw,cache=writeback",
                "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"]
    return System(f"qemu-{machine}", f"QEMU -M {machine}", argv,
                  disk_argv if machine in ("pc", "q35") else None)


def find_qemu():
    return shutil.which("qemu-system-x86_64")


class Vm:
    """A running monitor process whose console (stdout) is read with a host
    time stamp on every chunk. Times are seconds since just before the
    process was started."""

    def __init__(self, argv):
        self.argv = argv
        self.chunks = []          # (time, bytes)
        self.out = b""
        self.eof = False
        self.status = None        # exit status (os.waitstatus_to_exitcode)
        self.t_exit = None
        self.rusage = None
        self._err = tempfile.TemporaryFile()
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err, close_fds=True)
        self.pid = self.proc.pid
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)

    def now(self):
        return time.perf_counter() - self.t0

    def _read_some(self, timeout):
        if self.eof:
            return False
        # poll, not select: density runs hundreds of VMs, past select's fd limit
        p = select.poll()
        p.register(self._fd, select.POLLIN)
        if not p.poll(max(timeout, 0) * 1000):
            return False
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return False
        t = self.now()
        if not data:
            self.eof = True
            return False
        self.chunks.append((t, data))
        self.out += data
        return True

    def time_of(self, offset):
        """Arrival time of the console byte at offset."""
        pos = 0
        for t, data in self.chunks:
            pos += len(data)
            if offset < pos:
                return t
        raise BenchError(f"no console byte at offset {offset}")

    def wait_for(self, marker, timeout=VM_TIMEOUT, start=0):
        """Reads until marker (bytes) appears at or after start; returns its offset."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.out.find(marker, start)
            if i >= 0:
                return i
            if self.eof:
                raise BenchError(f"{self.argv[0]}: exited before printing {marker!r}: "
                                 f"{self.tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.argv[0]}: no {marker!r} within {timeout:.0f} s")
            self._read_some(min(left, 1.0))

    def finish(self, timeout=VM_TIMEOUT):
        """Reads the console to its end and reaps the process; returns the exit status."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise BenchError(f"{self.argv[0]}: still running after {timeout:.0f} s")
            self._read_some(min(left, 1.0))
        return self._reap()

    def _reap(self):
        if self.status is None:
            _, st, ru = os.wait4(self.pid, 0)
            self.t_exit = self.now()
            self.rusage = ru
            self.status = os.waitstatus_to_exitcode(st)
            self.proc.returncode = self.status
            self.proc.stdout.close()
        return self.status

    def kill(self):
        """Stops the monitor at once (SIGKILL: the same for every system)."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def tail(self):
        return (self.out[-200:].decode(errors="replace") + " | " + self.stderr()[-300:]).strip()


def run_to_exit(system, kernel, mem, append="", extra=(), want_status=1):
    """Boots, waits for the monitor to exit, checks its status; returns the Vm."""
    vm = Vm(system.argv(kernel, mem, append, extra))
    st = vm.finish()
    if want_status is not None and st != want_status:
        raise BenchError(f"{system.name}: exit status {st}, expected {want_status}: {vm.tail()}")
    return vm


# ---- memory of a running monitor -------------------------------------------------

_VMA = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$")


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


def guest_ram_rss_kib(pid, ram_bytes):
    """Resident KiB of the guest RAM mapping(s) of a monitor: the anonymous,
    writable mappings whose size is the guest RAM size. kvmm and QEMU both map
    guest RAM that way (QEMU's pc.ram / microvm.ram RAM block; kvmm's slot 0
    below the 3 GiB MMIO hole), which is true for the sizes we measure."""
    total, found, cur = 0, 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = _VMA.match(line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                anon = m.group(4) == "0" and not m.group(5)
                cur = anon and "w" in m.group(3) and size == ram_bytes
                continue
            if cur and line.startswith("Rss:"):
                total += int(line.split()[1])
                found += 1
                cur = False
    if not found:
        raise BenchError(f"pid {pid}: no {ram_bytes >> 20} MiB anonymous guest RAM mapping")
    return total
