# SPDX-License-Identifier: MIT
"""A small QMP client for tests: connect, negotiate, run commands, collect events."""
import json
import os
import socket
import time


class QMP:
    def __init__(self, path, timeout=20, negotiate=True):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()
        if negotiate:
            assert self.cmd("qmp_capabilities") == {"return": {}}

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """The next command reply; events seen on the way are kept in self.events."""
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def cmd(self, name, args=None, id=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        if id is not None:
            req["id"] = id
        self.send_raw(json.dumps(req).encode())
        return self.reply()

    def wait_event(self, name, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e)
                    return e
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)

    def close(self):
        self.sock.close()


def wait_for_output(path, needle, timeout=30):
    """Waits until the file at path (a guest's captured stdout) contains needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                if needle in f.read():
                    return
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} did not appear in {path} within {timeout}s")
