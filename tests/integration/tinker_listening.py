"""Tinker (Device OS 0.7.0) alone, no WiFi profiles: white breathing while it starts,
then listening mode: blue 250 ms on / 250 ms off (period 500 ms +- 5 %) from no later than 4 s."""
from sparktest import Run, blink_periods, check, colour_name, firmware, ok, segments

run = Run(["--firmware", firmware("core_tinker.bin"), "--run-for", "10s"])
led = run.led()
check(led, "no LED records in the trace")

whites = sorted({rgb[0] for t, rgb in led if t < 1_400_000 and colour_name(rgb) == "white"})
check(len(whites) >= 8, f"expected white breathing (many white levels) before 1.4 s, saw levels {whites}")
ok(f"white breathing at start-up: {len(whites)} levels from {whites[0]} to {whites[-1]}")

periods, ons = blink_periods(led, "blue", start_us=0)
check(ons and ons[0] <= 4_000_000, f"blue blinking must start by 4 s; first blue at {ons[:1]}")
check(len(periods) >= 10, f"expected steady blue blinking until 10 s, saw {len(periods)} periods")
bad = [p for p in periods if abs(p - 500_000) > 25_000]
check(not bad, f"blue blink periods outside 500 ms +- 5 %: {bad[:5]} (of {len(periods)})")
on_times = [e - s for s, e, n in segments(led, ons[0], 10_000_000) if n == "blue" and e and e < 10_000_000]
bad_on = [d for d in on_times if abs(d - 250_000) > 25_000]
check(on_times and not bad_on, f"blue on-times not 250 ms +- 10 %: {bad_on[:5]} (of {len(on_times)})")
check(not run.kind("fault"), f"faults: {run.kind('fault')[:3]}")
ok(f"listening mode from {ons[0] / 1e6:.3f} s: {len(periods)} periods, "
   f"{min(periods) / 1000:.1f}-{max(periods) / 1000:.1f} ms")
