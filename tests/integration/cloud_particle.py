"""The real particle-cli 2.16.0 (tools/install-particle-cli.sh) against tools/spark-cloud, with the emulated
Tinker online: `particle config set apiUrl` points it at the local API, `particle login --token` stores any
token (every token is accepted), `particle list` shows the Core online with Tinker's four functions, and
`particle call <id> digitalwrite D7,HIGH` prints 1 (the Core's return value, as the cloud logs it)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from cloudtest import Cloud, Emu, provision
from sparktest import SKIP, check, ok

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
particle = os.environ.get("SPARK_EMU_PARTICLE")
if not particle:
    out = subprocess.run([os.path.join(top, "tools", "install-particle-cli.sh")], capture_output=True, text=True)
    if out.returncode != 0 or not shutil.which("node"):
        print("SKIP: particle-cli is not installed (tools/test.sh installs it)\n" + out.stderr[-2000:])
        sys.exit(SKIP)
    particle = out.stdout.strip().splitlines()[-1]

tmp = tempfile.mkdtemp(prefix="cloud-particle-")
home = os.path.join(tmp, "home")
os.makedirs(home)


def run(*args):
    p = subprocess.run([particle] + list(args), capture_output=True, text=True, timeout=90,
                       env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL)
    # particle's spinner writes terminal escapes even into a pipe
    out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", p.stdout)
    check(p.returncode == 0, f"particle {' '.join(args)}: exit {p.returncode}\n{out}\n{p.stderr}")
    return out


cloud = Cloud(os.path.join(tmp, "cloud"))
provision(os.path.join(tmp, "state"), cloud.server_der)
emu = Emu(os.path.join(tmp, "state"), cloud.port, "30s")
run("config", "set", "apiUrl", f"http://127.0.0.1:{cloud.api_port}")
run("login", "--token", "any-token-is-accepted")
emu.wait_led("cyan, breathing", 60)
_, m = cloud.log.wait(r"device ([0-9a-f]{24}): online", 10)
device = m.group(1)
listed = run("list")
check(re.search(rf"{device} .*\(Core\) is online", listed) and "int digitalwrite (String args)" in listed,
      f"particle list:\n{listed}")
called = run("call", device, "digitalwrite", "D7,HIGH")
check(called.strip().splitlines()[-1] == "1", f"particle call printed {called!r}")
cloud.log.wait(rf"device {device}: function digitalwrite\('D7,HIGH'\) returned 1", 10)
emu.kill()
cloud.stop()
ok(f"particle list shows {device} online with Tinker's functions; particle call digitalwrite D7,HIGH printed 1")
