"""Tinker's USB CDC serial on a pty (--serial pty): the host opens the port as a terminal program does (line
coding, DTR), and in listening mode 'i' answers with the 24-hex-digit device ID derived from the chip's UID."""
import os
import select
import subprocess
import sys
import tempfile
import time
import tty
from sparktest import check, emulator, firmware, ok

work = tempfile.mkdtemp(prefix="spark-emu-serial-")
cmd = [emulator(), "--headless", "--state", os.path.join(work, "state"), "--firmware", firmware("core_tinker.bin"),
       "--serial", "pty", "--speed", "realtime", "--run-for", "20s", "--quiet"]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    line = p.stdout.readline()
    check(line.startswith("spark-emu: USB serial on /dev/"), f"expected the pty path, got {line!r}")
    path = line.split()[-1]
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    time.sleep(4)  # Tinker reaches listening mode at about 3 s
    os.write(fd, b"i")
    buf, t0 = b"", time.time()
    while time.time() - t0 < 10 and b"\n" not in buf:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            buf += os.read(fd, 256)
    os.close(fd)
    check(b"Your core id is 36ffd6054755333528412243" in buf, f"'i' in listening mode should print the ID; got {buf!r}")
    ok(f"listening mode over the USB serial pty: {buf.strip().decode()}")
finally:
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
