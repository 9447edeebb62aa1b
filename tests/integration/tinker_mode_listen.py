"""MODE held 3.5 s while Tinker runs with a WiFi profile: it enters listening mode (blue blinking)."""
from sparktest import Run, blink_periods, check, firmware, ok

run = Run(["--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "1",
           "--press", "mode@4s+3500ms", "--run-for", "12s"])
led = run.led()
presses = run.kind("button")
check([(p["name"], p["pressed"]) for p in presses] == [("mode", True), ("mode", False)],
      f"button records: {presses}")
before, ons_before = blink_periods(led, "blue", end_us=4_000_000)
check(not ons_before, "no blue blinking expected before the press (it has a profile)")
periods, ons = blink_periods(led, "blue", start_us=4_000_000)
check(ons and ons[0] <= 7_600_000, f"blue blinking must start by the end of the 3.5 s hold; first at {ons[:1]}")
check(len(periods) >= 6 and all(abs(p - 500_000) <= 25_000 for p in periods[1:]),
      f"listening blink periods: {periods[:8]}")
ok(f"listening mode from {ons[0] / 1e6:.2f} s after MODE at 4 s")
