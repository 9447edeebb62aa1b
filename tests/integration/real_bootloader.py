"""The real Spark Core bootloaders (spark/bootloader commits 1756c03 and 3683099), LOCAL ONLY: they are not part of
this repository and CI cannot reach them. Set SPARK_EMU_BOOTLOADER to a build/bootloader.bin (several paths may be
given, separated by ':'); without it this test is skipped.

  erased flags -> DFU, yellow toggling every 100 ms
  bootloader + Tinker -> Tinker runs (listening blue blink)
  MODE held 3.5 s at power-on -> DFU yellow
  MODE held 10.5 s with a factory image at 0x20000 -> white fast blink, the copy, a reset, the firmware runs
"""
import os
import sys
import tempfile
from sparktest import SKIP, Run, blink_periods, check, firmware, ok

paths = [p for p in os.environ.get("SPARK_EMU_BOOTLOADER", "").split(":") if p]
if not paths:
    print("SKIP: SPARK_EMU_BOOTLOADER is not set (the real bootloaders are used locally only)")
    sys.exit(SKIP)

tinker = firmware("core_tinker.bin")
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
