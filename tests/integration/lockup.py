"""A fault in the HardFault handler locks the core up: exit status 4, a report on stderr with the PC, the symbol
from the ELF and the fault registers, and a trace record of kind fault whose `what` starts with lockup."""
import sys
from sparktest import Run, check, ok

run = Run(["--load", sys.argv[1]], expect_status=4)
err = run.stderr
check("lockup" in err and "HardFault_Handler" in err and "CFSR 0x" in err and "HFSR 0x" in err,
      f"the report should name the lockup, the handler's symbol and the fault registers: {err}")
faults = run.kind("fault")
check(faults and faults[-1]["what"].startswith("lockup"), f"fault records: {faults}")
check("PASS" not in run.stdout and "FAIL" not in run.stdout, f"the ROM ran past the faults: {run.stdout}")
ok(err.strip().splitlines()[-1])
