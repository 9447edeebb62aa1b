"""The RESET button (NRST) resets the chip: a `reset` record with cause `button`, the firmware starts again
(white breathing, then listening mode), and the internal flash is kept (no erase or program records)."""
from sparktest import Run, blink_periods, check, colour_name, firmware, ok

run = Run(["--firmware", firmware("core_tinker.bin"), "--press", "reset@4s", "--run-for", "8s"])
resets = run.kind("reset")
check([r["cause"] for r in resets] == ["power", "button"], f"reset records: {resets}")
t = resets[1]["t_us"]
check(abs(t - 4_000_000) < 1000, f"the reset should follow the press at 4 s, not {t} us")
whites = {rgb for ts, rgb in run.led() if t < ts < t + 1_300_000 and colour_name(rgb) == "white"}
check(len(whites) >= 5, "after the reset the firmware should start again (white breathing)")
periods, ons = blink_periods(run.led(), "blue", start_us=t)
check(ons and ons[0] - t < 4_000_000, f"listening mode again after the reset: {ons[:2]}")
check(not run.kind("flash"), f"a pin reset must not touch flash: {run.kind('flash')[:3]}")
ok(f"RESET at {t / 1e6:.3f} s; firmware restarted, listening again at {ons[0] / 1e6:.2f} s")
