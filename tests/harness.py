# SPDX-License-Identifier: MIT
"""Integration-test harness: registration, skips, and running kvmm.

A test is a function taking a Ctx, registered with @test(tier, params). It
fails by raising (assert), is skipped by raising Skip(reason). Tests start the
real kvmm binary and assert on what the guest printed and on the exit status.
"""
import os
import subprocess
import time

TESTS = []


class Skip(Exception):
    """Raised by a test that cannot run on this machine; the reason is printed."""


def test(tier="integration", params=None):
    """Registers fn once, or once per element of params (fn(ctx, param))."""
    def wrap(fn):
        name = fn.__module__.split(".")[-1] + "." + fn.__name__
        if params is None:
            TESTS.append((tier, name, lambda ctx: fn(ctx)))
        else:
            for p in params:
                label = p if isinstance(p, str) else ",".join(str(x) for x in p) \
                    if isinstance(p, tuple) else str(p)
                TESTS.append((tier, f"{name}[{label}]", lambda ctx, p=p: fn(ctx, p)))
        return fn
    return wrap


class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    def __repr__(self):
        return (f"exit {self.rc} after {self.seconds:.1f}s\n--- stdout ---\n"
                f"{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}")


class Ctx:
    def __init__(self, root, build, tmp, kvmm_build=None):
        self.root = root
        self.build = build
        # The kvmm under test may come from another build (the sanitizer one);
        # guests and caches always come from the main build.
        self.kvmm = os.path.join(kvmm_build or build, "kvmm")
        self.guests = os.path.join(build, "guest")
        self.tmp = tmp

    def guest(self, name):
        path = os.path.join(self.guests, name + ".elf")
        if not os.path.exists(path):
            raise AssertionError(f"test guest {path} was not built")
        return path

    def need_kvm(self):
        if not os.path.exists("/dev/kvm"):
            raise Skip("/dev/kvm does not exist on this machine")
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            raise Skip("no read/write access to /dev/kvm")

    def kvmm_run(self, args, timeout=60, stdin=subprocess.DEVNULL, need_kvm=True):
        """Runs `kvmm run ARGS`; returns a Result. A hang past timeout fails the test."""
        if need_kvm:
            self.need_kvm()
        start = time.monotonic()
        try:
            p = subprocess.run([self.kvmm, "run"] + list(args), stdin=stdin,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            err = (e.stderr or b"").decode(errors="replace")
            raise AssertionError(f"kvmm did not exit within {timeout}s\n--- stdout ---\n"
                                 f"{out[-3000:]}\n--- stderr ---\n{err[-3000:]}")
        return Result(p.returncode, p.stdout.decode(errors="replace"),
                      p.stderr.decode(errors="replace"), time.monotonic() - start)


def expect(cond, msg, result=None):
    if not cond:
        raise AssertionError(msg + ("\n" + repr(result) if result is not None else ""))
