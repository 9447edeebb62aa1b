"""Tinker with one stored WiFi profile: green blinking (connecting), then cyan blinking (cloud connecting).

With the argument `usb`, the same with a USB host attached (its serial port open, so SOF
interrupts every 1 ms): the cloud attempt must go on blinking, as it does on a Core plugged
into a computer (it once froze solid cyan at 2.8 s: an undone idle-loop probe left PRIMASK set)."""
import os
import sys
import tempfile

from sparktest import Run, blink_periods, check, firmware, ok

usb = sys.argv[1:] == ["usb"]
extra = []
if usb:
    serial_out = os.path.join(tempfile.mkdtemp(prefix="tinker-usb-"), "serial.out")
    extra = ["--serial", serial_out]  # the host enumerates the CDC device and opens its port
run = Run(["--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "1",
           "--run-for", "7s" if usb else "10s"] + extra)
led = run.led()
if usb:
    attached = [r for r in run.kind("usb") if r.get("event") == "attach" and r.get("pid") == "607d"]
    check(attached, "the USB host never saw the Core attach")
g_periods, g_ons = blink_periods(led, "green")
check(len(g_ons) >= 3, f"expected green blinking, saw {len(g_ons)} green flashes")
c_periods, c_ons = blink_periods(led, "cyan", start_us=g_ons[0])
check(len(c_ons) >= 5, f"expected cyan blinking after green, saw {len(c_ons)} cyan flashes")
check(c_ons[0] > g_ons[0], "cyan must come after green")
check(not run.kind("fault"), f"faults: {run.kind('fault')[:3]}")
ops = [r["op"] for r in run.kind("cc3000")]
for op in ("0x1010", "0x1001", "0x1007"):
    check(op in ops, f"the firmware never sent {op} (gethostbyname/socket/connect): {sorted(set(ops))}")
ok(f"green from {g_ons[0] / 1e6:.2f} s ({len(g_ons)} flashes), cyan from {c_ons[0] / 1e6:.2f} s "
   f"({len(c_ons)} flashes, periods {min(c_periods) / 1000:.0f}-{max(c_periods) / 1000:.0f} ms)")
