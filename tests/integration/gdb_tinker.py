"""gdb-multiarch against Tinker halted at the reset vector (--gdb --gdb-wait): the registers, the
vector tables of the boot ROM and the firmware, a hardware breakpoint on the firmware's reset handler,
continue, three single steps, virtual time standing still while halted, monitor reset halt, detach;
then the run goes on to its end and exits 0 with Tinker's LED in the trace."""
import json
import re
import shutil
import struct
import sys

from gdbtest import Emulator, gdb_batch
from sparktest import SKIP, check, fail, firmware, ok

if not shutil.which("gdb-multiarch"):
    print("gdb-multiarch is not installed (tools/setup.sh installs it)")
    sys.exit(SKIP)

fw_path = firmware("core_tinker.bin")
with open(fw_path, "rb") as f:
    fw = f.read()
words = struct.unpack("<4I", fw[:16])
reset_handler = words[1] & ~1

emu = Emulator(["--firmware", fw_path, "--run-for", "3s"])
out = gdb_batch(emu.port, [
    "echo ==regs\\n", "info registers",
    "echo ==boot\\n", "x/2wx 0x08000000",
    "echo ==vectors\\n", "x/4wx 0x08005000",
    "echo ==t0\\n", "monitor time",
    "shell sleep 0.3",
    "echo ==t1\\n", "monitor time",
    f"hbreak *(*(unsigned int *)0x08005004 & ~1)",
    "continue",
    "echo ==stopped\\n", "info registers pc",
    "echo ==t2\\n", "monitor time",
    "stepi", "echo ==step1\\n", "info registers pc",
    "stepi", "echo ==step2\\n", "info registers pc",
    "stepi", "echo ==step3\\n", "info registers pc",
    "echo ==t3\\n", "monitor time",
    "delete",
    "echo ==reset\\n", "monitor reset halt",
    "maintenance flush register-cache",
    "echo ==after-reset\\n", "info registers pc",
    "detach",
])
if out is None:
    emu.kill()
    print("gdb-multiarch could not be started")
    sys.exit(SKIP)


def section(name):
    m = re.search(r"==" + re.escape(name) + r"\n(.*?)(?===|\Z)", out, re.S)
    if not m:
        emu.kill()
        fail(f"no '{name}' section in gdb's output:\n{out}")
    return m.group(1)


def pc_of(name):
    m = re.search(r"^pc\s+0x([0-9a-f]+)", section(name), re.M)
    if not m:
        emu.kill()
        fail(f"no pc in section '{name}':\n{out}")
    return int(m.group(1), 16)


def time_of(name):
    m = re.search(r"virtual time (\d+\.\d+) s", section(name))
    if not m:
        emu.kill()
        fail(f"no virtual time in section '{name}':\n{out}")
    return float(m.group(1))


regs = section("regs")
for name in ["r0", "r12", "sp", "lr", "pc", "xpsr", "msp", "psp", "primask", "basepri", "faultmask", "control"]:
    check(re.search(r"^" + name + r"\s+0x", regs, re.M), f"'info registers' does not show {name}:\n{regs}")
boot = [int(x, 16) for x in re.findall(r"0x([0-9a-f]+)", section("boot"))[1:]]
check(len(boot) == 2, f"x/2wx 0x08000000 did not give two words:\n{out}")
check(pc_of("regs") == boot[1] & ~1,
      f"halted at 0x{pc_of('regs'):08x}, not at the boot ROM's reset vector 0x{boot[1] & ~1:08x}")
check(re.search(r"^sp\s+0x" + format(boot[0], "x") + r"\b", regs, re.M),
      f"sp is not the boot ROM's initial MSP 0x{boot[0]:08x}:\n{regs}")
ok(f"halted at the reset vector 0x{boot[1] & ~1:08x}, SP 0x{boot[0]:08x}; all 23 registers shown")

vec = [int(x, 16) for x in re.findall(r"0x([0-9a-f]+)", section("vectors"))[1:]]
check(vec == list(words), f"x/4wx 0x08005000 gave {[hex(v) for v in vec]}, the image has {[hex(w) for w in words]}")
ok(f"firmware vector table read: {' '.join(f'0x{v:08x}' for v in vec)}")

check(time_of("t0") == time_of("t1") == 0.0, f"virtual time moved while halted: {time_of('t0')} -> {time_of('t1')}")
check(re.search(r"Breakpoint 1, 0x0*" + format(reset_handler, "x"), out),
      f"no stop at the hardware breakpoint on 0x{reset_handler:08x}:\n{out}")
check(pc_of("stopped") == reset_handler, f"stopped at 0x{pc_of('stopped'):08x}, not 0x{reset_handler:08x}")
t2 = time_of("t2")
check(t2 > 0, "no virtual time passed between the reset vector and the firmware's reset handler")
ok(f"hardware breakpoint on the reset handler 0x{reset_handler:08x} hit at {t2:.6f} s of virtual time")

steps = [pc_of(f"step{i}") for i in (1, 2, 3)]
prev = reset_handler
for i, pc in enumerate(steps, 1):
    check(pc != prev and 0x08005000 <= pc < 0x08020000,
          f"stepi {i} went from 0x{prev:08x} to 0x{pc:08x}")
    prev = pc
t3 = time_of("t3")
check(t2 < t3 < t2 + 0.0001, f"three steps took virtual time {t2} -> {t3}")
ok(f"three single steps: {' '.join(f'0x{p:08x}' for p in steps)}, {round((t3 - t2) * 1e6, 3)} us")

check(re.search(r"reset: halted at 0x0*" + format(boot[1] & ~1, "x"), section("reset")),
      f"monitor reset halt did not report the reset vector:\n{section('reset')}")
check(pc_of("after-reset") == boot[1] & ~1, f"after monitor reset halt pc is 0x{pc_of('after-reset'):08x}")
check("[Inferior 1 (Remote target) detached]" in out, f"gdb did not detach:\n{out}")
ok("monitor reset halt put the core back at the reset vector; detached")

status = emu.wait()
check(status == 0, f"spark-emu exited with {status} after the debugger detached:\n{emu.stderr()[-2000:]}")
with open(emu.trace) as f:
    records = [json.loads(line) for line in f]
resets = [r for r in records if r["kind"] == "reset"]
check(any(r.get("cause") == "software" for r in resets), f"no software reset in the trace: {resets}")
leds = [r for r in records if r["kind"] == "led"]
check(leds and leds[-1]["t_us"] > 1_000_000, "Tinker's LED did not run on after the detach")
check(not [r for r in records if r["kind"] == "fault"], "faults in the trace")
ok(f"the run went on after the detach and ended at --run-for with status 0 ({len(leds)} LED records)")
