"""The real particle-cli 2.16.0 against Tinker's USB serial port in listening mode, through --usb-host-cmd: the
port appears as /dev/ttyACM0 with the Core's USB ids (as the kernel's cdc_acm makes it; no --serial needed), so
`particle serial list` finds it, `serial identify` reads the device ID, and `serial wifi --file` gives the Core a
network: it stores the profile in the CC3000, leaves listening mode and starts connecting.

usage: usb_particle_serial.py BOOTROM.bin
"""
import json
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
    if out.returncode != 0:
        print("SKIP: particle-cli is not installed (tools/test.sh installs it)\n" + out.stderr[-2000:])
        sys.exit(SKIP)
    particle = out.stdout.strip().splitlines()[-1]
if not shutil.which("udevadm"):
    print("SKIP: udevadm is missing (particle lists serial ports with it; tools/setup.sh installs udev)")
    sys.exit(SKIP)

DEVICE_ID = "36ffd6054755333528412243"  # from the emulated STM32's UID, as Tinker prints it
bootrom = sys.argv[1]
work = tempfile.mkdtemp(prefix="spark-emu-particle-serial-")
os.environ["TMPDIR"] = work
home = os.path.join(work, "home")
os.makedirs(home)
with open(os.path.join(work, "creds.json"), "w") as f:
    json.dump({"network": "HomeNet", "security": "WPA2_AES", "password": "s3cret-pass"}, f)


def step(name, args):
    """One particle command as its own --usb-host-cmd (they run in order), its output in NAME.txt."""
    return ["--usb-host-cmd", f"cd {work} && HOME={home} {particle} {args} > {name}.txt 2>&1"]


run = Run(["--bootloader", bootrom, "--firmware", firmware("core_tinker.bin"), "--state", os.path.join(work, "state"),
           "--run-for", "5s"]
          + step("list", "serial list") + step("identify", "serial identify")
          + step("wifi", "serial wifi --file creds.json"),
          timeout=300)


def output(name):
    with open(os.path.join(work, name + ".txt")) as f:
        return f.read()


out = output("list")
check("Found 1 device connected via serial:" in out and f"/dev/ttyACM0 - Core - {DEVICE_ID}" in out,
      f"particle serial list:\n{out}")
ok(f"particle serial list: /dev/ttyACM0 - Core - {DEVICE_ID}")

out = output("identify")
check(f"Your device id is {DEVICE_ID}" in out, f"particle serial identify:\n{out}")
ok(f"particle serial identify: Your device id is {DEVICE_ID}")

out = output("wifi")
check("Done! Your device should now restart." in out, f"particle serial wifi --file:\n{out}")
adds = [r["t_us"] for r in run.kind("cc3000") if r["op"] == "0x0005"]  # HCI_CMND_WLAN_IOCTL_ADD_PROFILE
check(adds, "the Core never stored a WiFi profile in the CC3000")
led = run.led()
_, blue_ons = blink_periods(led, "blue")
check(blue_ons and blue_ons[0] < adds[0], f"listening mode (blue) before the profile; blue {blue_ons[:3]}, add {adds}")
_, green_ons = blink_periods(led, "green", start_us=adds[0])
check(green_ons, "the Core does not start connecting (green) after serial wifi")
ok(f"particle serial wifi --file: Done!, profile stored at {adds[0] / 1e6:.2f} s, connecting (green) from "
   f"{green_ons[0] / 1e6:.2f} s")
check(not run.kind("fault"), f"faults: {run.kind('fault')[:3]}")
shutil.rmtree(work, ignore_errors=True)
