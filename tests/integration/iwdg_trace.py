"""A firmware that stops feeding the watchdog is reset by the IWDG: the trace has a `reset` record with cause
`iwdg`, and the ROM (roms/board/iwdg_reset.c) checks IWDGRSTF and the backup registers after the reset."""
import sys
from sparktest import Run, check, ok

run = Run(["--load", sys.argv[1], "--run-for", "2s", "--timeout-status", "3"])
check("PASS iwdg_reset" in run.stdout, f"the ROM did not pass: {run.stdout}")
causes = [r["cause"] for r in run.kind("reset")]
check(causes == ["power", "iwdg"], f"reset records: {causes}")
t = run.kind("reset")[1]["t_us"]
check(9_900 <= t <= 10_200, f"a 10 ms watchdog should expire at about 10 ms, not {t} us")
ok(f"IWDG reset at {t} us; IWDGRSTF set and BKP_DR1-10 intact after it")
