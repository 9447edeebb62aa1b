"""The real Spark Core bootloaders (spark/bootloader commits 1756c03 and 3683099), LOCAL ONLY: they are not part of
this repository and CI cannot reach them. Set SPARK_EMU_BOOTLOADER to a build/bootloader.bin (several paths may be
given, separated by ':'); without it this test is skipped.

  erased flags -> DFU, yellow toggling every 100 ms
  bootloader + Tinker -> Tinker runs (listening blue blink)
  MODE held 3.5 s at power-on -> DFU yellow
  MODE held 10.5 s with a factory image at 0x20000 -> white fast blink, the copy, a reset, the firmware runs

and over USB, with the real dfu-util and lsusb (the commands usb_dfu.py runs against the boot ROM):

  MODE held 3.5 s at power-on -> dfu-util -l lists alt 0 and 1 by name; lsusb -v shows the DFU descriptors
  608 bytes to alt 1 at 0x2000 -> reads back with -U; nothing else in the external flash changes
  609 bytes to alt 1 at 0x2000 (spark-core-hardware.md 8.4): 1756c03's old sFLASH_WritePage never ends, the core
    faults reading past the end of SRAM and spins in HardFault, the LED freezes, dfu-util exits 74 with "Error
    during download get_status", and the external flash beyond 0x2261 is overwritten with RAM; after a power-on
    the bootloader is in DFU mode again. 3683099 writes the 609 bytes and keeps blinking.
  dfu-util -a 0 -s 0x08005000:leave -D core_tinker.bin -> exit 0; Tinker runs, enumerates as 1d50:607d, blinks blue

  SPARK_EMU_BOOTLOADER=/tmp/realbl/1756c03.../bootloader.bin:/tmp/realbl/3683099.../bootloader.bin \\
      meson test -C build real_bootloader
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile
from sparktest import SKIP, Run, blink_periods, check, firmware, ok

paths = [p for p in os.environ.get("SPARK_EMU_BOOTLOADER", "").split(":") if p]
if not paths:
    print("SKIP: SPARK_EMU_BOOTLOADER is not set (the real bootloaders are used locally only)")
    sys.exit(SKIP)

tinker = firmware("core_tinker.bin")
usb_tools = bool(shutil.which("dfu-util") and shutil.which("lsusb"))
if not usb_tools:
    print("NOTE: dfu-util or lsusb is not installed (tools/setup.sh installs them): the USB checks are skipped")

# What each released bootloader does with an odd-length write to the SPI flash (spark-core-hardware.md 8.4),
# by the SHA-256 of spark/bootloader's build/bootloader.bin at that commit. True: the old sFLASH driver hangs.
ODD_WRITE_HANGS = {
    "98a6fbc35b831050d36383b54c8878493989ae8a1a5108e9e2cc7b6ce384cce4": ("1756c03", True),
    "68734604f5243f3e1fa6233b4f0dde2106c5324df5141357b3cc6d14eac8dd17": ("3683099", False),
}
DFU_UTIL = "timeout 120 dfu-util"  # dfu-util's own USB time-outs are 5 s; this bounds a stuck one
ERASED_SECTOR = 0x1000


def usb_run(bl, cmds, state, extra=()):
    args = ["--bootloader", bl, "--state", state, "--stats"]
    for c in cmds:
        args += ["--usb-host-cmd", c]
    return Run(args + list(extra), timeout=300)


def virtual_end_us(run):
    m = re.search(r"virtual ([0-9.]+) s", run.stderr)
    check(m, f"--stats should print the virtual time:\n{run.stderr[-2000:]}")
    return float(m.group(1)) * 1e6


def usb_checks(bl, tag, work):
    known, hangs = ODD_WRITE_HANGS.get(hashlib.sha256(open(bl, "rb").read()).hexdigest(), (None, None))

    # 1. MODE held at power-on over Tinker: DFU mode, the listing and the descriptors
    run = usb_run(bl, [f"{DFU_UTIL} -l > {work}/list.txt 2>&1",
                       f"timeout 60 lsusb -v -d 1d50:607f > {work}/lsusb.txt 2>&1"],
                  os.path.join(work, "state-mode"), ["--firmware", tinker, "--press", "mode@0+3500ms"])
    listing = open(os.path.join(work, "list.txt")).read()
    for alt, name in ((0, "@Internal Flash  /0x08000000/20*001Ka,108*001Kg"),
                      (1, "@SPI Flash : SST25x/0x00000000/512*04Kg")):
        lines = [l for l in listing.splitlines()
                 if l.startswith("Found DFU: [1d50:607f] ver=0200, devnum=") and f'alt={alt}, name="{name}"' in l]
        check(len(lines) == 1, f"{tag}: dfu-util -l should list alt {alt} named {name!r}; got:\n{listing}")
    desc = open(os.path.join(work, "lsusb.txt")).read()
    for needle in ("bcdUSB               1.00", "idVendor           0x1d50", "idProduct          0x607f",
                   "bcdDevice            2.00", "Spark Devices", "CORE DFU", "bmAttributes         0xc0",
                   "Device Firmware Upgrade Interface Descriptor", "wTransferSize                    1024 bytes",
                   "bcdDFUVersion                   1.1a", "Will Detach",
                   "wDetachTimeout                    255 milliseconds"):
        check(needle in desc, f"{tag}: lsusb -v should show {needle!r}:\n{desc}")
    ok(f"{tag}: MODE 3.5 s -> dfu-util -l lists [1d50:607f] alt 0 and alt 1 by name; lsusb -v shows DFU 1.1a, "
       f"1024 bytes, will detach")

    # 2. erased flags (fresh state): 608 bytes to alternate 1 at 0x2000 and back
    state = os.path.join(work, "state")
    ext = os.path.join(state, "external-flash.bin")
    keys = {n: os.urandom(n) for n in (608, 609)}
    for n, data in keys.items():
        with open(os.path.join(work, f"k{n}.der"), "wb") as f:
            f.write(data)
    Run(["--bootloader", bl, "--state", state, "--run-for", "10ms"])  # a fresh state: erased flags and sFlash
    before = open(ext, "rb").read()
    up = os.path.join(work, "up608.der")
    usb_run(bl, [f"{DFU_UTIL} -d 1d50:607f -a 1 -s 0x00002000 -D {work}/k608.der > {work}/dl608.txt 2>&1",
                 f"{DFU_UTIL} -d 1d50:607f -a 1 -s 0x00002000:608 -U {up} > {work}/up608.txt 2>&1"], state)
    check(open(up, "rb").read() == keys[608], f"{tag}: 608 bytes: the upload differs from what was written")
    expect = bytearray(before)
    expect[0x2000:0x2000 + ERASED_SECTOR] = b"\xff" * ERASED_SECTOR
    expect[0x2000:0x2000 + 608] = keys[608]
    check(open(ext, "rb").read() == bytes(expect), f"{tag}: 608 bytes: bytes outside 0x2000-0x225f changed")
    ok(f"{tag}: 608 bytes to alt 1 at 0x2000 read back identical; nothing else in the external flash changed")

    # 3. 609 bytes: the odd-length quirk, with a second of running after dfu-util to watch the LED
    before = open(ext, "rb").read()
    dl = os.path.join(work, "dl609.txt")
    up = os.path.join(work, "up609.der")
    run = usb_run(bl, [f"{DFU_UTIL} -d 1d50:607f -a 1 -s 0x00002000 -D {work}/k609.der > {dl} 2>&1; "
                       f"echo $? > {work}/rc609; true",
                       f"test $(cat {work}/rc609) != 0 || "
                       f"{DFU_UTIL} -d 1d50:607f -a 1 -s 0x00002000:609 -U {up} > {work}/up609.txt 2>&1"],
                  state, ["--run-for", "1s"])
    status = int(open(os.path.join(work, "rc609")).read())
    out = open(dl).read()
    after = open(ext, "rb").read()
    end_us = virtual_end_us(run)
    faults = run.kind("fault")
    if status == 0:
        check(open(up, "rb").read() == keys[609], f"{tag}: 609 bytes: the upload differs from what was written")
        expect = bytearray(before)
        expect[0x2000:0x2000 + ERASED_SECTOR] = b"\xff" * ERASED_SECTOR
        expect[0x2000:0x2000 + 609] = keys[609]
        check(after == bytes(expect), f"{tag}: 609 bytes: bytes outside 0x2000-0x2260 changed")
        last_setup = max(r["t_us"] for r in run.kind("usb") if r["event"] == "setup")
        toggles = [t for t, _ in run.led() if t > last_setup]
        check(not faults and len(toggles) >= 5,
              f"{tag}: after the 609-byte write the LED should go on blinking; faults {faults}, toggles {toggles}")
        what = "written and read back identical, the LED goes on blinking"
        check(hangs is not True, f"{tag}: {known} should hang on the 609-byte write (section 8.4), but {what}")
    else:
        check(status == 74 and "Error during download get_status" in out,
              f"{tag}: 609 bytes: dfu-util should exit 74 with 'Error during download get_status'; "
              f"status {status}:\n{out[-1500:]}")
        check(len(faults) == 1 and "0x20005000" in faults[0]["what"],
              f"{tag}: the hang should be one fault reading past the end of SRAM; faults {faults}")
        fault_us = faults[0]["t_us"]
        frozen = [t for t, _ in run.led() if t > fault_us]
        check(not frozen and end_us - fault_us >= 3e6,
              f"{tag}: the LED should stay frozen from the fault at {fault_us} us to the end at {end_us:.0f} us; "
              f"LED changes at {frozen[:8]}")
        written = [i for i in range(len(after)) if after[i] != before[i]]
        check(after[:0x2000] == before[:0x2000] and after[0x2000:0x2000 + 609] == keys[609] and
              written[-1] >= 0x2000 + ERASED_SECTOR and written[-1] < 0x2000 + 20 * 1024,
              f"{tag}: the key should be at 0x2000 and RAM streamed on past the erased sector "
              f"(changed 0x{written[0]:x}-0x{written[-1]:x})")
        what = (f"dfu-util exits 74 'Error during download get_status'; fault at {fault_us / 1e6:.3f} s "
                f"({faults[0]['what']}), LED frozen for {(end_us - fault_us) / 1e6:.1f} s; external flash written "
                f"0x2000-0x{written[-1]:x}")
        check(hangs is not False, f"{tag}: {known} should write the 609 bytes (section 8.4), but {what}")
    ok(f"{tag}: 609 bytes to alt 1 at 0x2000 ({known or 'unknown bootloader'}): {what}")

    # 4. after a power-on (the hang, if any, is gone): read back 0x2000, then Tinker with :leave
    ext_now = open(ext, "rb").read()
    up = os.path.join(work, "up-sector.bin")
    dl = os.path.join(work, "dl-tinker.txt")
    run = usb_run(bl, [f"{DFU_UTIL} -d 1d50:607f -a 1 -s 0x00002000:{ERASED_SECTOR} -U {up} > {work}/ups.txt 2>&1",
                       f"{DFU_UTIL} -d 1d50:607f -a 0 -i 0 -s 0x08005000:leave -D {tinker} > {dl} 2>&1"],
                  state, ["--run-for", "6s"])
    check(open(up, "rb").read() == ext_now[0x2000:0x2000 + ERASED_SECTOR],
          f"{tag}: after a power-on, -U of 0x2000 should read the external flash as it is")
    out = open(dl).read()
    check("File downloaded successfully" in out and "Transitioning to dfuMANIFEST state" in out,
          f"{tag}: dfu-util download output:\n{out[-1500:]}")
    events = [(r["event"], r.get("pid")) for r in run.kind("usb") if r["event"] in ("attach", "detach")]
    check(("attach", "607f") in events and ("attach", "607d") in events and
          events.index(("attach", "607d")) > events.index(("attach", "607f")),
          f"{tag}: trace should show DFU 607f, then Tinker's 607d: {events}")
    resets = [r for r in run.kind("reset") if r["cause"] == "software"]
    check(resets, f"{tag}: the :leave ends in a software reset")
    periods, ons = blink_periods(run.led(), "blue", start_us=resets[-1]["t_us"])
    check(len(periods) >= 3 and all(abs(p - 500_000) <= 25_000 for p in periods[:6]),
          f"{tag}: Tinker should blink blue (listening) after the download; periods {periods[:8]}")
    fw = open(os.path.join(state, "internal-flash.bin"), "rb").read()[0x5000:0x5000 + os.path.getsize(tinker)]
    check(fw == open(tinker, "rb").read(), f"{tag}: the internal flash should hold Tinker at 0x08005000")
    ok(f"{tag}: power-on -> DFU again; -a 0 -s 0x08005000:leave -D core_tinker.bin exits 0, reset at "
       f"{resets[-1]['t_us'] / 1e6:.2f} s, Tinker enumerates as 1d50:607d and blinks blue from {ons[0] / 1e6:.2f} s")


for bl in paths:
    tag = os.path.basename(os.path.dirname(bl)) + "/" + os.path.basename(bl)

    run = Run(["--bootloader", bl, "--run-for", "3s"])
    periods, ons = blink_periods(run.led(), "yellow")
    check(len(periods) >= 5 and all(abs(p - 200_000) <= 10_000 for p in periods),
          f"{tag}: erased flags should give DFU yellow toggling every 100 ms; periods {periods[:8]}")
    ok(f"{tag}: erased flags -> DFU yellow, toggles every {periods[0] / 2000:.0f} ms")

    run = Run(["--bootloader", bl, "--firmware", tinker, "--run-for", "8s"])
    periods, ons = blink_periods(run.led(), "blue")
    check(len(periods) >= 4 and all(abs(p - 500_000) <= 25_000 for p in periods),
          f"{tag}: bootloader + Tinker should reach listening mode; blue periods {periods[:8]}")
    ok(f"{tag}: bootloader + Tinker -> Tinker listening from {ons[0] / 1e6:.2f} s")

    run = Run(["--bootloader", bl, "--firmware", tinker, "--press", "mode@0+3500ms", "--run-for", "6s"])
    periods, ons = blink_periods(run.led(), "yellow", start_us=3_000_000)
    check(len(periods) >= 5 and all(abs(p - 200_000) <= 10_000 for p in periods),
          f"{tag}: MODE held 3.5 s at power-on should give DFU yellow; periods {periods[:8]}")
    ok(f"{tag}: MODE 3.5 s at power-on -> DFU yellow from {ons[0] / 1e6:.2f} s")

    ext = os.path.join(tempfile.mkdtemp(), "ext.bin")
    data = bytearray(b"\xff" * (2 * 1024 * 1024))
    fw = open(tinker, "rb").read()
    data[0x20000:0x20000 + len(fw)] = fw
    open(ext, "wb").write(data)
    run = Run(["--bootloader", bl, "--ext-flash", ext, "--press", "mode@0+10500ms", "--run-for", "25s"])
    resets = run.kind("reset")
    erases = [r for r in run.kind("flash") if r["op"] == "erase" and r["dev"] == "internal"]
    whites, white_ons = blink_periods(run.led(), "white", start_us=9_000_000)
    check(len(erases) >= 100, f"{tag}: factory reset should erase the firmware area; {len(erases)} erases")
    check(len(resets) >= 2, f"{tag}: factory reset should end with a reset; resets {resets}")
    after = resets[-1]["t_us"]
    periods, ons = blink_periods(run.led(), "blue", start_us=after)
    check(len(periods) >= 3, f"{tag}: the restored firmware should run (listening) after the reset at {after}")
    ok(f"{tag}: MODE 10.5 s -> {len(erases)} page erases, white fast blink, reset at {after / 1e6:.2f} s, "
       f"Tinker listening from {ons[0] / 1e6:.2f} s")

    if usb_tools:
        work = tempfile.mkdtemp(prefix="spark-emu-realbl-usb-")
        os.environ["TMPDIR"] = work  # umockdev testbeds go here and are removed with it
        usb_checks(bl, tag, work)
        shutil.rmtree(work, ignore_errors=True)
