"""core_doctor.bin and voodoospark.bin boot without a fault and drive the LED."""
import sys
from sparktest import Run, check, colour_name, firmware, ok

name = sys.argv[1]
run = Run(["--firmware", firmware(name), "--run-for", "6s"])
check(not run.kind("fault"), f"{name}: faults {run.kind('fault')[:3]}")
colours = {colour_name(rgb) for t, rgb in run.led()}
check(colours - {"off"}, f"{name}: the LED was never lit")
ok(f"{name}: no fault; LED showed {sorted(colours)}")
