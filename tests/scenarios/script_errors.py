"""script_errors.py - malformed scenario lines: spark-emu exits 2 naming the file, line and column, and
creates nothing (the state directory stays absent)."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from sparktest import check, emulator, ok  # noqa: E402

CASES = [
    # (script, "line:column: start of the message")
    ("wait 1s\nexpect led grean solid within 3s\n", "2:12: unknown colour 'grean'"),
    ("wait 10 s\n", "1:6: '10' is not a duration"),
    ("# comment\n\npress start\n", "3:7: unknown button 'start'"),
    ("hold mode\n", "1:10: expected a duration"),
    ("expect led blue blinking 500ms\n", "1:31: expected 'within DURATION'"),
    ("expect led blue blinking 500ms±x% within 6s\n", "1:33: expected a tolerance in percent"),
    ("expect led blue flashing within 6s\n", "1:17: unknown pattern 'flashing'"),
    ("expect led off blinking 500ms within 2s\n", "1:12: an LED that is off does not blink"),
    ("expect reset sometimes within 1s\n", "1:14: unknown reset cause 'sometimes'"),
    ("expect usb attach 1d50 within 5s\n", "1:19: '1d50' is not VID:PID"),
    ("expect smoke within 1s\n", "1:8: cannot expect 'smoke'"),
    ("wait 1s\nwifi-profiles 1\n", "2:1: wifi-profiles is the CC3000's state at power-on"),
    ("wifi-profiles 9\n", "1:15: expected a number of profiles, 0 to 7"),
    ("screenshot\n", "1:11: expected one file name"),
    ("  snapshot load s1.snap\n", "1:12: snapshot load: a scenario starts from a snapshot with --snapshot-load"),
    ("snapshot\n", "1:9: expected 'snapshot save FILE'"),
    ("snapshot save\n", "1:14: expected one file name"),
    ("snapshot save a.snap b.snap\n", "1:22: expected one file name"),
    ("jump 3\n", "1:1: unknown step 'jump'"),
]

work = tempfile.mkdtemp(prefix="spark-emu-script-errors-")
for i, (text, want) in enumerate(CASES):
    path = os.path.join(work, f"case{i}.scn")
    with open(path, "w") as f:
        f.write(text)
    state = os.path.join(work, f"state{i}")
    p = subprocess.run([emulator(), "--headless", "--state", state, "--script", path],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2, f"{text!r}: exit status {p.returncode}, expected 2; stderr {p.stderr!r}")
    check(f"{path}:{want}" in p.stderr, f"{text!r}: stderr should say {path}:{want}; it says {p.stderr!r}")
    check(not os.path.exists(state), f"{text!r}: the state directory was created")
ok(f"{len(CASES)} malformed scripts: exit 2 with line and column, nothing created")
p = subprocess.run([emulator(), "--headless", "--script", os.path.join(work, "missing.scn")],
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "missing.scn: cannot open" in p.stderr, f"a missing script: {p.returncode} {p.stderr!r}")
ok("a missing script: exit 2")
