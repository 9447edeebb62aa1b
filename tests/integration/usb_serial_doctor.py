"""core_doctor.bin, particle-cli 2.16.0's Device Doctor app (assets/binaries/doctor.ino on firmware 0.6.2), on its
USB CDC serial. The app prints nothing by itself: its loop() reads one command letter from the host and answers
one line. The test speaks the dialogue `particle doctor` has with a Core (IP mode 'id', EEPROM 'e', Wi-Fi
credentials 'c', listening mode 'l'), then answers the listening mode's Wi-Fi prompts ('w': SSID, security,
password) as a user at a terminal does.

1. --serial pty: the pty is opened at once, as a terminal program would, and the whole dialogue is typed; each
   answer must bring the next step. The trace then shows listening mode (blue, blinking) followed by the Core
   connecting with the new credentials (green).
2. --serial stdio with a file of commands on stdin: stdout holds exactly the doctor's answers.

Every wait is bounded; about 10 s of wall time."""
import json
import os
import select
import subprocess
import tempfile
import time
import tty
from sparktest import check, emulator, fail, firmware, ok, segments

STEP_TIMEOUT = 5.0  # the doctor answers within milliseconds (the first, once its loop() runs at 1.4 s); slack for a busy host

doctor = firmware("core_doctor.bin")
work = tempfile.mkdtemp(prefix="spark-emu-doctor-")


class Port:
    """The pty slave, opened as a terminal program opens a serial port (raw, 9600 8N1)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.buf = b""
        self.transcript = b""

    def read_for(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if r:
                data = os.read(self.fd, 256)
                self.buf += data
                self.transcript += data

    def expect(self, text, timeout=STEP_TIMEOUT):
        """Wait for `text`; return what came up to and including it."""
        end = time.monotonic() + timeout
        while text not in self.buf and time.monotonic() < end:
            self.read_for(min(0.05, max(0.0, end - time.monotonic())))
        i = self.buf.find(text)
        if i < 0:
            fail(f"waited {timeout} s for {text!r}; the Core sent {self.buf!r}\ntranscript: {self.transcript!r}")
        got, self.buf = self.buf[:i + len(text)], self.buf[i + len(text):]
        return got

    def ask(self, typed, answer, timeout=STEP_TIMEOUT):
        os.write(self.fd, typed)
        return self.expect(answer, timeout)

    def close(self):
        os.close(self.fd)


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- 1. the pty: a terminal program holds the port open for the whole dialogue ----
t_start = time.monotonic()
trace = os.path.join(work, "trace.jsonl")
cmd = [emulator(), "--headless", "--state", os.path.join(work, "state"), "--firmware", doctor,
       "--serial", "pty", "--speed", "max", "--run-for", "15s", "--quiet", "--trace", trace]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    line = p.stdout.readline()
    check(line.startswith("spark-emu: USB serial on /dev/"), f"expected the pty path, got {line!r}")
    port = Port(line.split()[-1])

    # the steps `particle doctor` takes for a Core (its features: wifi, cc3000), one command each
    port.ask(b"id", b"Switched to dynamic IP\r\n")
    port.ask(b"e", b"Cleared EEPROM data\r\n")
    port.ask(b"c", b"Cleared Wi-Fi credentials\r\n")
    port.ask(b"l", b"Entering listen mode\r\n")

    # The system takes the serial port over once listening mode starts; until then the doctor's loop() reads
    # (and ignores) what comes. 'v' is harmless to both, so ask it until listening mode answers.
    for attempt in range(20):
        os.write(port.fd, b"v")
        port.read_for(0.25)
        if b"system firmware version: 0.6.2" in port.buf:
            break
    else:
        fail(f"listening mode never answered 'v'; the Core sent {port.buf!r}")
    port.read_for(0.5)  # a 'v' still in flight answers too
    port.buf = b""

    # listening mode's Wi-Fi dialogue: each answer brings the next prompt
    port.ask(b"w", b"SSID: ")
    port.ask(b"Emu Lab\r", b"Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2: ")
    port.ask(b"3\r", b"Password: ")
    port.ask(b"secret\r", b"Thanks! Wait about 7 seconds while I save those credentials...")
    port.expect(b"Awesome. Now we'll connect!")
    port.close()
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0, f"spark-emu ended with {p.returncode}\nstderr: {err[-2000:]}")
finally:
    stop(p)
t_pty = time.monotonic() - t_start

records = [json.loads(line) for line in open(trace)]
faults = [r for r in records if r["kind"] == "fault"]
check(not faults, f"faults: {faults[:3]}")
led = [(r["t_us"], (r["r"], r["g"], r["b"])) for r in records if r["kind"] == "led"]
# Listening mode's blinks are 250 ms on. Leaving it, the firmware may show blue for a few ms on its way to green
# (whether a 25 ms LED sample catches that depends on when the host's answers arrive): not a blink.
blinks = [(a, b) for a, b, name in segments(led) if name == "blue" and b is not None and b - a >= 100000]
ons = [a for a, _ in blinks]
periods = [b - a for a, b in zip(ons, ons[1:])]
check(len(periods) >= 2 and all(abs(d - 500000) < 5000 for d in periods),
      f"listening mode should blink blue every 500 ms; blue came on for 100 ms or more at {ons[:8]}")
after = [name for _, _, name in segments(led, start_us=ons[-1])]
check("green" in after, f"after listening mode the Core should connect (green); the LED showed {after[:10]}")
ok(f"--serial pty: the doctor's dialogue, listening mode and its Wi-Fi prompts ({t_pty:.1f} s)")

# ---- 2. stdio, commands from a file: stdout is the doctor's answers and nothing else ----
t_start = time.monotonic()
commands = os.path.join(work, "commands")
with open(commands, "wb") as f:
    f.write(b"idecl")
with open(commands, "rb") as stdin:
    run = subprocess.run([emulator(), "--headless", "--state", os.path.join(work, "state-stdio"),
                          "--firmware", doctor, "--serial", "stdio", "--run-for", "3s"],
                         stdin=stdin, capture_output=True, timeout=60)
check(run.returncode == 0, f"--serial stdio ended with {run.returncode}\nstderr: {run.stderr[-2000:]!r}")
expected = (b"Switched to dynamic IP\r\nCleared EEPROM data\r\nCleared Wi-Fi credentials\r\n"
            b"Entering listen mode\r\n")
check(run.stdout == expected, f"--serial stdio: stdout should be the doctor's four answers; got {run.stdout!r}")
ok(f"--serial stdio: four commands from a file, four answers on stdout ({time.monotonic() - t_start:.1f} s)")
