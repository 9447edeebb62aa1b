"""SIGTERM and SIGINT end a run cleanly at the current virtual instant: exit status 128 + the signal, a trace whose
every line is complete JSON, the state images on disk; with --usb umockdev (serve mode, which Ctrl-C ends) status 0
and the testbed directory removed."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from sparktest import check, emulator, firmware, ok

work = tempfile.mkdtemp(prefix="spark-emu-signal-")
for sig, extra in ((signal.SIGTERM, ["--serial", "pty"]), (signal.SIGINT, [])):
    trace = os.path.join(work, f"trace-{sig.name}.jsonl")
    state = os.path.join(work, f"state-{sig.name}")
    p = subprocess.Popen([emulator(), "--headless", "--quiet", "--state", state, "--firmware",
                          firmware("core_tinker.bin"), "--speed", "realtime", "--trace", trace] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, f"{sig.name}: the run did not end within 10 s")
    took = time.monotonic() - t0
    check(p.returncode == 128 + sig, f"{sig.name}: exit status {p.returncode}, want {128 + sig}\n{err}")
    with open(trace) as f:
        records = [json.loads(line) for line in f]  # a cut line would not parse
    check(records and records[0]["kind"] == "reset", f"{sig.name}: trace starts {records[:1]}")
    check(os.path.getsize(os.path.join(state, "internal-flash.bin")) == 128 * 1024, f"{sig.name}: internal flash image")
    ok(f"{sig.name}: status {p.returncode} after {took * 1000:.0f} ms, {len(records)} complete trace records")

# serve mode: Ctrl-C is its normal end
env = dict(os.environ, TMPDIR=work)
p = subprocess.Popen([emulator(), "--headless", "--quiet", "--state", os.path.join(work, "serve"), "--usb", "umockdev"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
line = p.stdout.readline()
m = re.search(r"UMOCKDEV_DIR='?([^' ]+)'?", line)
check(m and os.path.isdir(m.group(1)), f"serve mode prints its testbed: {line!r}")
p.send_signal(signal.SIGINT)
try:
    p.communicate(timeout=10)
except subprocess.TimeoutExpired:
    p.kill()
    check(False, "--usb umockdev did not end within 10 s of SIGINT")
check(p.returncode == 0, f"--usb umockdev after SIGINT: status {p.returncode}")
check(not os.path.exists(m.group(1)), "the testbed directory is removed")
ok("--usb umockdev: SIGINT ends serve mode with status 0 and removes the testbed")
