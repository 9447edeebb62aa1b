"""cloudtest.py - helpers for the tests against tools/spark-cloud: run the cloud as a program, provision a
state directory's external flash with spark-flash, run the emulator in the background and watch its LED lines
(the headless `[ t s] LED ...` lines, flushed as they happen) while a test talks to the cloud's API.

Everything is on 127.0.0.1 and every wait has a time-out."""
import atexit
import importlib.machinery
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from sparktest import emulator, fail, firmware

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPARK_CLOUD = os.path.join(TOP, "tools", "spark-cloud")
EXT_KEY_SLOT = 0x2000

_children = []  # processes to kill if the test ends early (a failed check exits at once)


@atexit.register
def _kill_children():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def spark_flash():
    path = os.environ.get("SPARK_FLASH")
    if not path:
        sys.exit("SPARK_FLASH is not set (meson passes the path of build/tools/spark-flash)")
    return path


def flash(*args):
    p = subprocess.run([spark_flash()] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"spark-flash {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}")
    return p.stdout


def load_cloud_module():
    """tools/spark-cloud as a module, for test peers that misbehave in ways the program never does."""
    loader = importlib.machinery.SourceFileLoader("spark_cloud", SPARK_CLOUD)
    spec = importlib.util.spec_from_loader("spark_cloud", loader)
    mod = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True  # no tools/__pycache__ in the source tree
    loader.exec_module(mod)
    return mod


class Lines:
    """A pipe read line by line on a thread; wait() for a line matching a pattern."""

    def __init__(self, pipe, echo_prefix=None):
        self.lines = []
        self.cond = threading.Condition()
        self.echo_prefix = echo_prefix
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        for line in iter(pipe.readline, ""):
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()
            if self.echo_prefix:
                print(self.echo_prefix + line.rstrip("\n"), file=sys.stderr)
        pipe.close()

    def find(self, pattern, start=0):
        rx = re.compile(pattern)
        with self.cond:
            for i in range(start, len(self.lines)):
                m = rx.search(self.lines[i][1])
                if m:
                    return i, m
        return None

    def wait(self, pattern, timeout, start=0, what=None):
        """(index, match) of the first line from `start` on matching pattern; fails the test on time-out."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(l for _, l in self.lines[-15:])
                    fail(f"waited {timeout:.0f} s for {what or pattern!r}; last lines:\n{tail}")
                self.cond.wait(min(left, 0.5))

    def count(self):
        with self.cond:
            return len(self.lines)


class Cloud:
    """tools/spark-cloud on free loopback ports (or the given device port), its log read live."""

    def __init__(self, directory, strict=False, port=0, api_port=0):
        self.dir = directory
        cmd = [SPARK_CLOUD, "--dir", directory, "--port", str(port), "--api-port", str(api_port)]
        if strict:
            cmd.append("--strict")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        _children.append(self.proc)
        self.log = Lines(self.proc.stderr, echo_prefix="cloud| ")
        _, m = self.log.wait(r"devices on 127\.0\.0\.1:(\d+), API on http://127\.0\.0\.1:(\d+)", 30,
                             what="spark-cloud to start")
        self.port, self.api_port = int(m.group(1)), int(m.group(2))
        self.server_der = os.path.join(directory, "server.der")

    def api(self, method, path, params=None, json_body=None, timeout=30):
        """(status, decoded JSON) of one API call."""
        url = f"http://127.0.0.1:{self.api_port}{path}"
        data, headers = None, {"Authorization": "Bearer any-token-is-accepted"}
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif params is not None:
            data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "null")

    def stop(self):
        """SIGTERM: the cloud must exit 0 promptly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("spark-cloud did not exit within 15 s of SIGTERM")
        self.log.thread.join(5)
        return status

    def kill(self):
        self.proc.kill()
        self.proc.wait(15)
        self.log.thread.join(5)


def provision(state, server_der, address="127.0.0.1"):
    """A fresh core key at 0x2000 and the cloud's server key + address at 0x1000 of state's external flash.
    Returns the 1024 bytes of the key slot (to write back later) and the core's public key in PEM."""
    os.makedirs(state, exist_ok=True)
    public_pem = flash("keys", state, "--new", "--core-only")
    flash("server-key", state, server_der, "--address", address)
    with open(os.path.join(state, "external-flash.bin"), "rb") as f:
        f.seek(EXT_KEY_SLOT)
        return f.read(1024), public_pem


class Emu:
    """spark-emu running Tinker in the background with one WiFi profile, --cloud, a trace."""

    def __init__(self, state, cloud_port, run_for, extra=()):
        self.dir = tempfile.mkdtemp(prefix="spark-cloud-test-")
        self.trace_path = os.path.join(self.dir, "trace.jsonl")
        self.cmd = [emulator(), "--headless", "--trace", self.trace_path, "--state", state,
                    "--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "1",
                    "--cloud", f"127.0.0.1:{cloud_port}", "--run-for", run_for] + list(extra)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        _children.append(self.proc)
        self.out = Lines(self.proc.stdout, echo_prefix="emu| ")
        self.err = Lines(self.proc.stderr)
        self.records = []

    def wait_led(self, pattern, timeout, start=0):
        """Wait for a headless LED line (`[ t s] LED <pattern>`); returns (index, virtual seconds)."""
        i, m = self.out.wait(r"\[\s*([0-9.]+) s\] LED " + pattern, timeout, start, what=f"LED {pattern}")
        return i, float(m.group(1))

    def finish(self, timeout):
        """Wait for the run to end (its --run-for), read the trace; fails on a non-zero exit."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            fail(f"spark-emu did not end within {timeout:.0f} s: {' '.join(self.cmd)}")
        self.out.thread.join(5)
        self.err.thread.join(5)
        self.wall = time.monotonic() - self.started
        if status != 0:
            errs = "\n".join(l for _, l in self.err.lines[-20:])
            fail(f"spark-emu exited {status}\ncommand: {' '.join(self.cmd)}\nstderr:\n{errs}")
        with open(self.trace_path) as f:
            self.records = [json.loads(line) for line in f]
        return self.records

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def kind(self, kind):
        return [r for r in self.records if r["kind"] == kind]

    def led(self):
        return [(r["t_us"], (r["r"], r["g"], r["b"])) for r in self.kind("led")]


def hue(rgb):
    """red / orange / magenta / cyan / green / blue / other for a lit LED colour (the handshake signals)."""
    r, g, b = rgb
    if max(rgb) < 16:
        return "off"
    if b < 8 and r >= 16 and g < 8:
        return "red"
    if b < 8 and r >= 16 and 0.2 * r <= g <= 0.7 * r:
        return "orange"
    if g < 8 and r >= 16 and b >= 16 and 0.5 <= r / b <= 2:
        return "magenta"
    if r < 8 and g >= 16 and b >= 16:
        return "cyan"
    if r < 8 and b < 8 and g >= 16:
        return "green"
    return "other"


def flashes(led, name, start_us=0, end_us=None):
    """[(t_on, t_off)] of the LED showing colour `name` (hue()) between start_us and end_us."""
    out = []
    for i, (t, rgb) in enumerate(led):
        if t < start_us or (end_us is not None and t >= end_us) or hue(rgb) != name:
            continue
        t_off = led[i + 1][0] if i + 1 < len(led) else None
        if t_off is not None:
            if out and out[-1][1] == t:
                out[-1] = (out[-1][0], t_off)
            else:
                out.append((t, t_off))
    return out


def cyan_levels(led, start_us, end_us=None):
    """Distinct brightness levels of cyan after start_us: breathing shows dozens, blinking two."""
    return {rgb for t, rgb in led if t >= start_us and (end_us is None or t < end_us) and hue(rgb) == "cyan"}
