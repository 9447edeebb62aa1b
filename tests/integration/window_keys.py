"""The window's keys, driven by xdotool on a virtual X server (run under xvfb-run): M held
presses MODE for as long as the key is down, S saves a screenshot, space pauses (virtual time
stands still: two screenshots a second apart show the same instant) and resumes, R taps RESET,
a resized window draws the board larger, and Esc closes the window, which ends the run with exit 0, the trace complete and the flash
images on disk."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from sparktest import SKIP, check, emulator, fail, ok

if not os.environ.get("DISPLAY"):
    print("SKIP: no DISPLAY (run under xvfb-run)")
    sys.exit(SKIP)
if not shutil.which("xdotool"):
    print("SKIP: xdotool not found (Debian package xdotool)")
    sys.exit(SKIP)

folder = tempfile.mkdtemp(prefix="spark-emu-keys-")
trace = os.path.join(folder, "trace.jsonl")
state = os.path.join(folder, "state")
env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")
emu = subprocess.Popen([emulator(), "--state", state, "--trace", trace, "--quiet"], cwd=folder, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def xdotool(*args):
    p = subprocess.run(["xdotool"] + list(args), capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        emu.kill()
        fail(f"xdotool {' '.join(args)}: {p.stderr}")
    return p.stdout


def shots():
    """The S screenshots in the order they were saved."""
    names = [f for f in os.listdir(folder) if re.fullmatch(r"spark-emu-\d+\.\d{3}s(-\d+)?\.png", f)]
    return sorted(names, key=lambda f: os.stat(os.path.join(folder, f)).st_mtime_ns)


def wait_for(what, cond, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    emu.kill()
    fail(f"timed out waiting for {what}; stderr: {emu.stderr.read()[-2000:]}")


try:
    window = xdotool("search", "--sync", "--name", "^Spark Core - spark-emu$").split()[0]
    xdotool("windowfocus", "--sync", window)
    time.sleep(1.0)

    xdotool("keydown", "m")
    time.sleep(0.6)
    xdotool("keyup", "m")

    xdotool("key", "s")
    wait_for("the S screenshot", lambda: len(shots()) == 1)

    xdotool("key", "space")
    time.sleep(0.5)
    xdotool("key", "s")
    wait_for("the first paused screenshot", lambda: len(shots()) == 2)
    time.sleep(1.0)
    xdotool("key", "s")
    wait_for("the second paused screenshot", lambda: len(shots()) == 3)
    xdotool("key", "space")
    time.sleep(0.5)

    xdotool("key", "r")
    time.sleep(0.5)

    xdotool("windowsize", "--sync", window, "1280", "720")
    time.sleep(0.5)
    xdotool("key", "s")
    wait_for("the screenshot of the resized window", lambda: len(shots()) == 4)
    xdotool("key", "Escape")
    status = emu.wait(timeout=30)
except subprocess.TimeoutExpired:
    emu.kill()
    fail("the emulator did not end after Esc")
stderr = emu.stderr.read()
check(status == 0, f"exit status {status} after closing the window; stderr: {stderr[-2000:]}")
ok("Esc closes the window and ends the run with status 0")

records = [json.loads(line) for line in open(trace)]  # every line whole: the trace is complete
mode = [(r["t_us"], r["pressed"]) for r in records if r["kind"] == "button" and r["name"] == "mode"]
check(len(mode) == 2 and mode[0][1] and not mode[1][1], f"MODE records: {mode}")
held_ms = (mode[1][0] - mode[0][0]) / 1000
check(300 <= held_ms <= 1500, f"MODE held {held_ms} ms of virtual time for a 600 ms key press")
ok(f"M held MODE for {held_ms:.0f} ms")

resets = [r for r in records if r["kind"] == "reset"]
check(resets and resets[-1]["cause"] != "power", f"R did not reset the chip: {resets}")
ok(f"R reset the chip ({resets[-1]['cause']})")

names = shots()
times = [re.match(r"spark-emu-(\d+\.\d{3})s", n).group(1) for n in names]
check(times[1] == times[2] and names[2].endswith("-2.png"),
      f"paused screenshots should show one instant: {names}")
check(float(times[0]) < float(times[1]), f"screenshots out of order: {names}")
for i, name in enumerate(names):
    data = open(os.path.join(folder, name), "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG")
    w, h = struct.unpack(">II", data[16:24])
    expected = (1280, 720) if i == 3 else (640, 360)
    check((w, h) == expected, f"{name} is {w}x{h}, expected {expected[0]}x{expected[1]}")
ok(f"S saved {names}; paused, virtual time stood at {times[1]} s; resized, the picture is 1280x720")

for image, size in (("internal-flash.bin", 128 * 1024), ("external-flash.bin", 2 * 1024 * 1024)):
    path = os.path.join(state, image)
    check(os.path.exists(path) and os.path.getsize(path) == size, f"{path} missing or of the wrong size")
ok("the flash images are on disk")
