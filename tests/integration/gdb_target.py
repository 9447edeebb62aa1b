"""gdb with symbols against roms/board/gdb_target.c: the ROM's BKPT in unprivileged Thread mode on the
process stack halts the core with SIGTRAP; MSP, PSP and CONTROL read right there (Unicorn hides them from
an unprivileged context), BASEPRI is written and read back, r0 and the PC are set. Then a breakpoint on the
instruction after a 0.5 s CYCCNT delay loop that the emulator proves idle and skips through, finding its
end with speculative passes (which meet the breakpoint and are undone): the core stops there once, at the
instant the loop ends, and the run ends at the same instant as a run without the breakpoint. The ROM then
passes (semihosting), which gdb hears as the program's normal exit. Argument: the ROM's ELF."""
import re
import shutil
import sys

from gdbtest import Emulator, gdb_batch
from sparktest import SKIP, check, ok

elf = sys.argv[1]
if not shutil.which("gdb-multiarch"):
    print("gdb-multiarch is not installed (tools/setup.sh installs it)")
    sys.exit(SKIP)


def run(break_after_delay):
    emu = Emulator(["--load", elf, "--run-for", "2s", "--timeout-status", "3", "--stats"])
    out = gdb_batch(emu.port, commands(break_after_delay), timeout=120)
    if out is None:
        emu.kill()
        sys.exit(SKIP)
    return emu, out


def commands(break_after_delay):
    return [
        f"file {elf}", "continue",
        "echo ==stop\\n", "p/x $pc", "p/x (unsigned int)&gdb_bkpt",
        "echo ==regs\\n", "info registers control msp psp",
        "echo ==stack\\n", "p/x (unsigned int)&process_stack[64]",
        "set $basepri = 0x40", "echo ==basepri\\n", "p/x $basepri", "set $basepri = 0",
        "set $r0 = 0x600df00d", "set $pc = $pc + 2",
    ] + (["break *gdb_after_delay", "continue", "echo ==delay\\n", "p/x $pc",
          "p/x (unsigned int)&gdb_after_delay", "monitor time", "delete"] if break_after_delay else []) + ["continue"]


emu, out = run(True)


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

pc, after_delay = values("delay")
m = re.search(r"virtual time (\d+\.\d+) s", section("delay"))
check(pc == after_delay and m and float(m.group(1)) > 0.49,
      f"the breakpoint after the delay loop: pc 0x{pc:08x} (expected 0x{after_delay:08x}), {section('delay')}")
check(out.count("Breakpoint 1, ") == 1, f"the breakpoint after the delay stopped the core more than once:\n{out}")
stats = re.search(r"virtual (\d+\.\d+) s in .* idle-loop skips \((\d+) timed\)", emu.stderr())
check(stats and int(stats.group(2)) > 0, f"the delay loop was not skipped as a timed idle loop: {emu.stderr()[-600:]}")
plain, _ = run(False)
plain_stats = re.search(r"virtual (\d+\.\d+) s in", plain.stderr())
check(plain.wait(timeout=60) == 0 and plain_stats and plain_stats.group(1) == stats.group(1),
      f"with the breakpoint the run ended at {stats.group(1)} s, without at {plain_stats and plain_stats.group(1)} s")
ok(f"the breakpoint after a skipped 0.5 s delay loop stopped the core at {m.group(1)} s "
   f"({stats.group(2)} timed idle-loop skips); the run ended at {stats.group(1)} s with or without it")
