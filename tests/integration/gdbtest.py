"""gdbtest.py - helpers for the --gdb tests: start spark-emu with a GDB server on a free port and
find the port it printed."""

import json
import os
import re
import subprocess
import tempfile
import time

from sparktest import emulator, fail


class Emulator:
    """spark-emu running in the background with --gdb 127.0.0.1:0."""

    def __init__(self, args, gdb_wait=True):
        self.dir = tempfile.mkdtemp(prefix="spark-emu-gdb-")
        self.state = os.path.join(self.dir, "state")
        self.trace = os.path.join(self.dir, "trace.jsonl")
        self.err_path = os.path.join(self.dir, "stderr.txt")
        self.out_path = os.path.join(self.dir, "stdout.txt")
        cmd = [emulator(), "--headless", "--state", self.state, "--trace", self.trace,
               "--gdb", "127.0.0.1:0"] + (["--gdb-wait"] if gdb_wait else []) + list(args)
        self.cmd = cmd
        self.err = open(self.err_path, "w")
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err)
        self.port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"gdb: listening on 127\.0\.0\.1:(\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                fail(f"spark-emu exited with {self.proc.returncode} before listening:\n{self.stderr()}")
            else:
                time.sleep(0.05)
        if self.port is None:
            self.kill()
            fail("spark-emu did not print its gdb port within 60 s")

    def records(self):
        with open(self.trace) as f:
            return [json.loads(line) for line in f]

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def wait(self, timeout=120):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail(f"spark-emu did not end within {timeout} s after the debugger went:\n{self.stderr()[-2000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def gdb_batch(port, commands, timeout=120):
    """gdb-multiarch -batch -nx with one -ex per command; returns its output (stdout and stderr)."""
    cmd = ["gdb-multiarch", "-batch", "-nx", "-ex", "set architecture arm",
           "-ex", f"target extended-remote 127.0.0.1:{port}"]
    for c in commands:
        cmd += ["-ex", c]
    try:
        # one stream, so that monitor output (gdb's stderr) stays in order with the rest
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except FileNotFoundError:
        return None
    return p.stdout
