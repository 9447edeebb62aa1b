"""sparktest.py - helpers for the integration tests: run spark-emu, read its trace,
and describe what the RGB LED did (colours, blink periods, breathing)."""

import json
import os
import subprocess
import sys
import tempfile

SKIP = 77  # meson's "skipped" exit status


def emulator():
    path = os.environ.get("SPARK_EMU")
    if not path:
        sys.exit("SPARK_EMU is not set (meson passes the path of build/spark-emu)")
    return path


def firmware(name):
    """Path of a binary from particle-cli 2.16.0, fetched by tools/fetch-firmware.sh."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([os.path.join(top, "tools", "fetch-firmware.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        sys.exit("cannot fetch the firmware binaries (npm registry unreachable?)")
    path = os.path.join(out.stdout.strip(), name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing")
    return path


class Run:
    """One emulator run with a trace."""

    def __init__(self, args, expect_status=0, timeout=600):
        self.dir = tempfile.mkdtemp(prefix="spark-emu-test-")
        self.trace_path = os.path.join(self.dir, "trace.jsonl")
        cmd = [emulator(), "--headless", "--trace", self.trace_path] + list(args)
        if not any(a == "--state" or a.startswith("--state=") for a in args):
            cmd += ["--state", os.path.join(self.dir, "state")]
        self.cmd = cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        self.status, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        if expect_status is not None and p.returncode != expect_status:
            fail(f"exit status {p.returncode}, expected {expect_status}\n"
                 f"command: {' '.join(cmd)}\nstderr:\n{p.stderr[-3000:]}")
        self.records = []
        if os.path.exists(self.trace_path):
            with open(self.trace_path) as f:
                self.records = [json.loads(line) for line in f]

    def kind(self, kind):
        return [r for r in self.records if r["kind"] == kind]

    def led(self):
        """[(t_us, (r, g, b))] in order."""
        return [(r["t_us"], (r["r"], r["g"], r["b"])) for r in self.kind("led")]


def colour_name(rgb, threshold=16):
    """Name of a colour by which channels are lit: off, red, green, blue, yellow, cyan, magenta, white."""
    r, g, b = (c >= threshold for c in rgb)
    return {
        (False, False, False): "off", (True, False, False): "red", (False, True, False): "green",
        (False, False, True): "blue", (True, True, False): "yellow", (False, True, True): "cyan",
        (True, False, True): "magenta", (True, True, True): "white",
    }[(r, g, b)]


def segments(led, start_us=0, end_us=None):
    """Collapse the LED timeline into [(t_start, t_end, name)] runs of one colour name."""
    out = []
    for i, (t, rgb) in enumerate(led):
        t_next = led[i + 1][0] if i + 1 < len(led) else end_us
        name = colour_name(rgb)
        if t_next is not None and t_next <= start_us:
            continue
        if end_us is not None and t >= end_us:
            break
        if out and out[-1][2] == name:
            out[-1] = (out[-1][0], t_next, name)
        else:
            out.append((max(t, start_us), t_next, name))
    return out


def blink_periods(led, colour, start_us=0, end_us=None):
    """Times between successive switch-ons of `colour` (from another colour name) after start_us."""
    ons = []
    prev = None
    for t, rgb in led:
        if end_us is not None and t >= end_us:
            break
        name = colour_name(rgb)
        if name == colour and prev != colour and t >= start_us:
            ons.append(t)
        prev = name
    return [b - a for a, b in zip(ons, ons[1:])], ons


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(msg):
    print("PASS: " + msg)
