"""USB DFU with the real dfu-util 0.11 and lsusb against the project's boot ROM, through --usb-host-cmd
(the umockdev bridge): the listing and descriptors of spark-core-hardware.md section 8.1, a DfuSe download of
Tinker with :leave (Tinker then runs and enumerates as a CDC device), and odd/even writes to the SPI-flash
alternate that change nothing else in the external flash.

usage: usb_dfu.py BOOTROM.bin
"""
import os
import shutil
import sys
import tempfile
from sparktest import SKIP, Run, blink_periods, check, firmware, ok

if not shutil.which("dfu-util") or not shutil.which("lsusb"):
    print("SKIP: dfu-util or lsusb is not installed (tools/setup.sh installs them)")
    sys.exit(SKIP)

bootrom = sys.argv[1]
work = tempfile.mkdtemp(prefix="spark-emu-dfu-")
os.environ["TMPDIR"] = work  # umockdev testbeds go here and are removed with it


def dfu_run(cmds, extra=(), state=None, expect_status=0):
    args = ["--bootloader", bootrom, "--verbose"]
    if state:
        args += ["--state", state]
    for c in cmds:
        args += ["--usb-host-cmd", c]
    return Run(args + list(extra), expect_status=expect_status, timeout=300)


# 1. the listing: both alternates with their exact names
state = os.path.join(work, "state")
run = dfu_run(["dfu-util -l > %s/list.txt 2>&1" % work], state=state)
listing = open(os.path.join(work, "list.txt")).read()
for alt, name in ((0, "@Internal Flash  /0x08000000/20*001Ka,108*001Kg"),
                  (1, "@SPI Flash : SST25x/0x00000000/512*04Kg")):
    want = 'Found DFU: [1d50:607f] ver=0200, devnum='
    lines = [l for l in listing.splitlines() if l.startswith(want) and f'alt={alt}, name="{name}"' in l]
    check(len(lines) == 1, f"dfu-util -l should list alt {alt} named {name!r}; got:\n{listing}")
check('serial="' in listing, "the DFU serial string is listed")
ok("dfu-util -l lists [1d50:607f] alt 0 and alt 1 with the names of section 8.1")
attaches = [r for r in run.kind("usb") if r.get("event") == "attach"]
check(attaches and attaches[0]["pid"] == "607f", f"trace: usb attach 1d50:607f, got {attaches}")

# 2. lsusb -v: the DFU functional descriptor, strings
run = dfu_run(["lsusb -v -d 1d50:607f > %s/lsusb.txt 2>&1" % work], state=state)
desc = open(os.path.join(work, "lsusb.txt")).read()
for needle in ("idVendor           0x1d50", "idProduct          0x607f", "bcdDevice            2.00",
               "Device Firmware Upgrade Interface Descriptor", "wTransferSize                    1024 bytes",
               "bcdDFUVersion                   1.1a", "Spark Devices", "CORE DFU",
               "Will Detach", "wDetachTimeout                    255 milliseconds"):
    check(needle in desc, f"lsusb -v should show {needle!r}:\n{desc}")
ok("lsusb -v -d 1d50:607f shows the DFU functional descriptor (1.1a, 1024 bytes, will detach)")

# 3. alternate 1: a 609-byte and a 608-byte key to 0x2000, read back; nothing else in the external flash changes
ext = os.path.join(state, "external-flash.bin")
before = open(ext, "rb").read()
key609 = os.urandom(609)
key608 = os.urandom(608)
for name, data in (("k609.der", key609), ("k608.der", key608)):
    with open(os.path.join(work, name), "wb") as f:
        f.write(data)
for name, data in (("k609.der", key609), ("k608.der", key608)):
    up = os.path.join(work, "up-" + name)
    run = dfu_run([f"dfu-util -d 1d50:607f -a 1 -s 0x00002000 -D {work}/{name}",
                   f"dfu-util -d 1d50:607f -a 1 -s 0x00002000:{len(data)} -U {up}"], state=state)
    got = open(up, "rb").read()
    check(got == data, f"{name}: uploaded bytes differ from the {len(data)} written")
    after = open(ext, "rb").read()
    expect = bytearray(before)
    expect[0x2000:0x3000] = b"\xff" * 0x1000  # the 4 KiB sector was erased, then written
    expect[0x2000:0x2000 + len(data)] = data
    check(after == bytes(expect), f"{name}: bytes outside 0x2000-0x{0x2000 + len(data):x} changed")
    ok(f"alt 1: a {len(data)}-byte file at 0x2000 reads back identical; no other byte of the external flash changed")

# 4. Tinker through DfuSe with :leave: dfu-util exits 0, the Core resets into Tinker, which enumerates as 607d
tinker = firmware("core_tinker.bin")
run = dfu_run([f"dfu-util -d 1d50:607f -a 0 -i 0 -s 0x08005000:leave -D {tinker} > {work}/dl.txt 2>&1"],
              extra=["--run-for", "6s"], state=state)
out = open(os.path.join(work, "dl.txt")).read()
check("File downloaded successfully" in out, f"dfu-util download output:\n{out}")
events = [(r["event"], r.get("pid")) for r in run.kind("usb") if r["event"] in ("attach", "detach")]
check(("attach", "607f") in events and ("attach", "607d") in events and
      events.index(("attach", "607d")) > events.index(("attach", "607f")),
      f"trace should show DFU 607f, then Tinker's 607d: {events}")
check(any(r["cause"] == "software" for r in run.kind("reset")), "the :leave ends in a software reset")
periods, ons = blink_periods(run.led(), "blue")
check(len(periods) >= 3 and all(abs(p - 500_000) <= 25_000 for p in periods[:6]),
      f"Tinker should blink blue (listening) after the download; periods {periods[:8]}")
fw = open(os.path.join(state, "internal-flash.bin"), "rb").read()[0x5000:0x5000 + os.path.getsize(tinker)]
check(fw == open(tinker, "rb").read(), "the internal flash holds Tinker at 0x08005000")
ok("dfu-util -a 0 -s 0x08005000:leave -D core_tinker.bin exits 0; Tinker runs, enumerates as 1d50:607d and blinks blue")
shutil.rmtree(work, ignore_errors=True)
