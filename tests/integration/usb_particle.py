"""The real particle-cli 2.16.0 (from the npm registry, installed by tools/install-particle-cli.sh) against the
emulated Core through --usb-host-cmd, as users run it: `keys load` of a 609-byte key (padded to 610, the old key
backed up first), `keys save`, and `flash --usb` of Tinker (it counts only dfu-util's exit status after :leave).

usage: usb_particle.py BOOTROM.bin
"""
import os
import shutil
import subprocess
import sys
import tempfile
from sparktest import SKIP, Run, blink_periods, check, firmware, ok

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
particle = os.environ.get("SPARK_EMU_PARTICLE")
if not particle:
    out = subprocess.run([os.path.join(top, "tools", "install-particle-cli.sh")], capture_output=True, text=True)
    if out.returncode != 0 or not shutil.which("dfu-util"):
        print("SKIP: particle-cli or dfu-util is not installed (tools/test.sh installs both)\n" + out.stderr[-2000:])
        sys.exit(SKIP)
    particle = out.stdout.strip().splitlines()[-1]

bootrom = sys.argv[1]
work = tempfile.mkdtemp(prefix="spark-emu-particle-")
os.environ["TMPDIR"] = work
home = os.path.join(work, "home")
os.makedirs(home)
state = os.path.join(work, "state")


def particle_run(cmd, extra=()):
    return Run(["--bootloader", bootrom, "--state", state,
                "--usb-host-cmd", f"cd {work} && HOME={home} {particle} {cmd} > {work}/out.txt 2>&1"] + list(extra),
               timeout=300)


# keys load: 609 bytes -> padded to 610 in place, the old key saved first, then written to 0x2000
key = os.urandom(609)
with open(os.path.join(work, "core.der"), "wb") as f:
    f.write(key)
particle_run("keys load core.der")
out = open(os.path.join(work, "out.txt")).read()
check(os.path.getsize(os.path.join(work, "core.der")) == 610, "particle pads the key to 610 bytes")
check(os.path.exists(os.path.join(work, "backup_rsa_core.der")), f"a backup of the old key is made first:\n{out}")
ext = open(os.path.join(state, "external-flash.bin"), "rb").read()
check(ext[0x2000:0x2000 + 610] == key + b"\0", "the padded key is at 0x2000 in the external flash")
ok("particle keys load core.der (609 bytes): padded to 610, old key backed up, written to 0x2000")

# keys save: the key comes back
particle_run("keys save saved.der")
saved = open(os.path.join(work, "saved.der"), "rb").read()
check(saved[:610] == key + b"\0" and len(saved) == 1024, "particle keys save reads the 1024-byte key slot back")
ok("particle keys save: the key slot reads back")

# flash --usb: Flash success!, Tinker runs and enumerates as 607d
shutil.copy(firmware("core_tinker.bin"), os.path.join(work, "tinker.bin"))
run = particle_run("flash --usb tinker.bin", extra=["--run-for", "5s"])
out = open(os.path.join(work, "out.txt")).read()
check("Flash success!" in out, f"particle flash --usb output:\n{out}")
pids = [r["pid"] for r in run.kind("usb") if r["event"] == "attach"]
check(pids[-1:] == ["607d"], f"Tinker enumerates as 607d after the flash: {pids}")
periods, _ = blink_periods(run.led(), "blue")
check(len(periods) >= 2, f"Tinker blinks blue after the flash; periods {periods}")
ok("particle flash --usb tinker.bin: Flash success!, Tinker runs as 1d50:607d and blinks blue")
shutil.rmtree(work, ignore_errors=True)
