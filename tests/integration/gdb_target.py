"""gdb with symbols against roms/board/gdb_target.c: the ROM's BKPT in unprivileged Thread mode on the
process stack halts the core with SIGTRAP; MSP, PSP and CONTROL read right there (Unicorn hides them from
an unprivileged context), BASEPRI is written and read back, r0 and the PC are set; the ROM then passes
(semihosting), which gdb hears as the program's normal exit. Argument: the ROM's ELF."""
import re
import shutil
import sys

from gdbtest import Emulator, gdb_batch
from sparktest import SKIP, check, ok

elf = sys.argv[1]
if not shutil.which("gdb-multiarch"):
    print("gdb-multiarch is not installed (tools/setup.sh installs it)")
    sys.exit(SKIP)

emu = Emulator(["--load", elf, "--run-for", "2s", "--timeout-status", "3"])
out = gdb_batch(emu.port, [
    f"file {elf}", "continue",
    "echo ==stop\\n", "p/x $pc", "p/x (unsigned int)&gdb_bkpt",
    "echo ==regs\\n", "info registers control msp psp",
    "echo ==stack\\n", "p/x (unsigned int)&process_stack[64]",
    "set $basepri = 0x40", "echo ==basepri\\n", "p/x $basepri", "set $basepri = 0",
    "set $r0 = 0x600df00d", "set $pc = $pc + 2",
    "continue",
], timeout=120)
if out is None:
    emu.kill()
    sys.exit(SKIP)


def section(name):
    m = re.search(r"==" + re.escape(name) + r"\n(.*?)(?===|\Z)", out, re.S)
    check(m, f"no '{name}' section in gdb's output:\n{out}")
    return m.group(1)


def values(name):
    return [int(v, 16) for v in re.findall(r"= 0x([0-9a-f]+)", section(name))]


check("Program received signal SIGTRAP" in out, f"the BKPT did not stop the core with SIGTRAP:\n{out}")
pc, bkpt = values("stop")
check(pc == bkpt, f"stopped at 0x{pc:08x}, the BKPT is at 0x{bkpt:08x}")
regs = dict((n, int(v, 16)) for n, v in re.findall(r"^(\w+)\s+0x([0-9a-f]+)", section("regs"), re.M))
(stack_top,) = values("stack")
check(regs.get("control") == 3, f"CONTROL is {regs.get('control')}, expected 3 (nPRIV, SPSEL)")
check(regs.get("psp") == stack_top, f"PSP 0x{regs.get('psp', 0):08x}, the process stack's top is 0x{stack_top:08x}")
check(0x20000000 < regs.get("msp", 0) <= 0x20005000, f"MSP 0x{regs.get('msp', 0):08x} is not in SRAM")
check(values("basepri") == [0x40], f"BASEPRI written from an unprivileged context reads {values('basepri')}")
ok(f"BKPT in unprivileged Thread mode halted at 0x{pc:08x}: CONTROL 3, PSP 0x{stack_top:08x}, "
   f"MSP 0x{regs['msp']:08x}; BASEPRI written and read back")
check("[Inferior 1 (Remote target) exited normally]" in out, f"gdb did not see the ROM exit normally:\n{out}")
status = emu.wait(timeout=60)
check(status == 0 and "PASS gdb_target" in emu.stdout(),
      f"the ROM did not pass with the debugger's r0 (status {status}):\n{emu.stdout()}{emu.stderr()[-1500:]}")
ok("r0 and the PC set by the debugger: the ROM passed and exited 0, gdb saw the exit")
