"""A Core pointed at spark-cloud over DFU, as on a real Core: spark-cloud writes DIR/server-region.bin (the 2 KiB
at external-flash 0x1000 that `particle keys server` writes: its public key, then the address record for its
device port; with --port 0, as here, 5683), byte for byte what `spark-flash server-key --address 127.0.0.1` lays
out; the real dfu-util
writes it to alternate 1 at 0x1000 of the Core in DFU mode (MODE held at power-on); Tinker then comes online
(breathing cyan) against that cloud."""
import os
import shutil
import subprocess
import sys
import tempfile

from cloudtest import Cloud, Emu, flash
from sparktest import SKIP, check, emulator, ok

if not shutil.which("dfu-util"):
    print("SKIP: dfu-util is not installed (tools/setup.sh installs it)")
    sys.exit(SKIP)

tmp = tempfile.mkdtemp(prefix="cloud-dfu-")
cloud = Cloud(os.path.join(tmp, "cloud"))
region_path = os.path.join(cloud.dir, "server-region.bin")
with open(region_path, "rb") as f:
    region = f.read()

# the same bytes as spark-flash's layout of the key and address
ref = os.path.join(tmp, "ref.bin")
flash("create", ref)
flash("server-key", ref, cloud.server_der, "--address", "127.0.0.1")
with open(ref, "rb") as f:
    f.seek(0x1000)
    check(f.read(2048) == region, "server-region.bin differs from spark-flash server-key --address's 0x1000 region")
ok("server-region.bin: the key and the address record for 127.0.0.1 (port 5683), as spark-flash lays them out")

# a Core with a key and no server key: write the region over DFU with the real dfu-util
state = os.path.join(tmp, "state")
os.makedirs(state)
flash("keys", state, "--new", "--core-only")
dfu = subprocess.run([emulator(), "--headless", "--state", state, "--press", "mode@0+3500ms", "--usb-host-cmd",
                      f"timeout 120 dfu-util -d 1d50:607f -a 1 -s 0x1000 -D {region_path}"],
                     stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240,
                     env=dict(os.environ, TMPDIR=tmp))
check(dfu.returncode == 0, f"dfu-util to alt 1 at 0x1000 ended {dfu.returncode}:\n{dfu.stderr[-2000:]}")
with open(os.path.join(state, "external-flash.bin"), "rb") as f:
    f.seek(0x1000)
    check(f.read(2048) == region, "the Core's 0x1000 region is not server-region.bin after the DFU download")
ok("dfu-util -a 1 -s 0x1000 -D server-region.bin wrote the region")

emu = Emu(state, cloud.port, "8s")
emu.wait_led("cyan, breathing", 60)
cloud.log.wait(r"device [0-9a-f]{24}: online", 10)
emu.finish(60)
check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")
ok("Tinker came online (breathing cyan) with the server key and address written over DFU")
