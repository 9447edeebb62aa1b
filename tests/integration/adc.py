"""--analog sets pin voltages that ADC1 converts (roms/board/adc_read.c checks the values)."""
import sys
from sparktest import Run, check, ok

run = Run(["--load", sys.argv[1], "--analog", "A0=1.65", "--analog", "A7=3.0", "--run-for", "1s",
           "--timeout-status", "3"])
check("PASS adc_read" in run.stdout, f"the ROM did not pass: {run.stdout}{run.stderr}")
ok(run.stdout.strip().splitlines()[0])
