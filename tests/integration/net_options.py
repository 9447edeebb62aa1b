"""--cloud and --net: a value that is not HOST:PORT with a port 1-65535, or a --net other than none, cloud or
host, exits 2 naming the option, with nothing stored created. (No name is resolved here: CI stays offline.)"""
import os
import subprocess
import tempfile

from sparktest import check, emulator, ok

cases = [
    (["--cloud", "localhost"], "--cloud localhost: expected HOST:PORT"),
    (["--cloud", ":5683"], "--cloud :5683: expected HOST:PORT"),
    (["--cloud", "127.0.0.1:0"], "the port must be 1-65535"),
    (["--cloud", "127.0.0.1:65536"], "the port must be 1-65535"),
    (["--cloud", "127.0.0.1:56x"], "the port must be 1-65535"),
    (["--net", "all"], "--net all: expected none, cloud or host"),
]
for args, message in cases:
    state = os.path.join(tempfile.mkdtemp(prefix="net-options-"), "state")
    p = subprocess.run([emulator(), "--headless", "--state", state, "--run-for", "1ms"] + args,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2, f"{args}: exit {p.returncode}, expected 2; stderr: {p.stderr}")
    check(message in p.stderr, f"{args}: stderr does not say '{message}': {p.stderr}")
    check(not os.path.exists(state), f"{args}: the state directory was created")
ok(f"{len(cases)} bad --cloud/--net values exit 2 with their message and nothing created")
