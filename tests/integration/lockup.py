"""Lockup: a fault inside the HardFault handler, and hostile images that lock the core up.

1. The lockup ROM: exit status 4, a report on stderr with the PC, the symbol from the ELF and the fault registers,
   and a trace record of kind fault whose `what` starts with lockup.
2. The same ROM with --run-for, with or without --timeout-status: still 4, since the run ends locked up.
3. Images that lock up at once (a reset vector into an execute-never region; random bytes): the report is printed
   exactly once, the run ends within --run-for with status 0 or 4, and costs next to no host CPU. Random 4 KiB
   images once printed the lockup report about a million times at virtual time 0 and never ended."""
import os
import random
import resource
import struct
import sys
import tempfile
from sparktest import Run, check, ok


def lockup_lines(err):
    return [line for line in err.splitlines() if "lockup:" in line]


run = Run(["--load", sys.argv[1]], expect_status=4)
err = run.stderr
check("lockup" in err and "HardFault_Handler" in err and "CFSR 0x" in err and "HFSR 0x" in err,
      f"the report should name the lockup, the handler's symbol and the fault registers: {err}")
faults = run.kind("fault")
check(faults and faults[-1]["what"].startswith("lockup"), f"fault records: {faults}")
check("PASS" not in run.stdout and "FAIL" not in run.stdout, f"the ROM ran past the faults: {run.stdout}")
check(len(lockup_lines(err)) == 1, f"the lockup is reported once: {err}")

for extra in (["--run-for", "50ms"], ["--run-for", "50ms", "--timeout-status", "3"]):
    r = Run(["--load", sys.argv[1]] + extra, expect_status=4)
    check(len(lockup_lines(r.stderr)) == 1, f"{extra}: the lockup is reported once: {r.stderr}")

work = tempfile.mkdtemp(prefix="spark-emu-lockup-")
# SP in SRAM, reset vector in the System region (execute-never): HardFault at once, whose vector is the same: lockup
xn = os.path.join(work, "xn.bin")
with open(xn, "wb") as f:
    f.write(struct.pack("<4I", 0x20005000, 0xE0000001, 0xE0000001, 0xE0000001) + b"\xff" * 240)
# a HardFault vector at 0xF0000000 and above, which Unicorn takes for an exception return in Handler mode: an
# illegal return and the HardFault entry once called each other forever, without a block ever running
xn_handler = os.path.join(work, "xn_handler.bin")
with open(xn_handler, "wb") as f:
    f.write(struct.pack("<4I", 0x20005000, 0xF5389637, 0xF5389637, 0xF5389637) + b"\xff" * 240)
images = [xn, xn_handler]
rng = random.Random(7)  # fixed: the same images every run
for i in range(12):
    path = os.path.join(work, f"random{i}.bin")
    with open(path, "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(4096)))
    images.append(path)

before = resource.getrusage(resource.RUSAGE_CHILDREN)
statuses = {}
for path in images:
    r = Run(["--load", path, "--run-for", "10ms"], expect_status=None, timeout=60)
    name = os.path.basename(path)
    check(r.status in (0, 4), f"{name}: exit status {r.status}, expected 0 or 4\n{r.stderr[-2000:]}")
    n = len(lockup_lines(r.stderr))
    check(n == (1 if r.status == 4 else 0), f"{name}: status {r.status} with {n} lockup reports\n{r.stderr[-2000:]}")
    statuses[r.status] = statuses.get(r.status, 0) + 1
after = resource.getrusage(resource.RUSAGE_CHILDREN)
check(statuses.get(4, 0) >= 1, f"no image locked up: {statuses}")
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
check(cpu < 2.0 * len(images), f"{len(images)} short runs took {cpu:.1f} s of host CPU")
ok(f"lockup reported once; {len(images)} hostile images ended with statuses {statuses} in {cpu:.1f} s of CPU")
