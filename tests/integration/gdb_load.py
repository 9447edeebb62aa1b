"""gdb's load through --gdb: gdb-multiarch writes an ELF into the flash with vFlash packets (the
memory map marks the flash), compare-sections matches, monitor reset halt starts it from its own
vector table, and after the run the internal flash image file holds exactly the ELF's bytes.
Arguments: the ELF and its raw binary (both built by meson from roms/)."""
import os
import re
import shutil
import struct
import sys

from gdbtest import Emulator, gdb_batch
from sparktest import SKIP, check, firmware, ok

elf, binary = sys.argv[1], sys.argv[2]
if not shutil.which("gdb-multiarch"):
    print("gdb-multiarch is not installed (tools/setup.sh installs it)")
    sys.exit(SKIP)
with open(binary, "rb") as f:
    image = f.read()
entry = struct.unpack("<I", image[4:8])[0] & ~1

emu = Emulator(["--firmware", firmware("core_tinker.bin"), "--run-for", "1s"])
out = gdb_batch(emu.port, [f"file {elf}", "load", "compare-sections", "monitor reset halt",
                           "maintenance flush register-cache", "echo ==pc\\n", "info registers pc", "detach"])
if out is None:
    emu.kill()
    sys.exit(SKIP)
check(re.search(r"Transfer rate: .* bytes/write", out), f"gdb did not load:\n{out}")
sections = re.findall(r"Section (\S+), range .*: (matched|MIS-MATCHED)", out)
check(sections and all(r == "matched" for _, r in sections), f"compare-sections: {sections}\n{out}")
m = re.search(r"==pc\n.*?^pc\s+0x([0-9a-f]+)", out, re.S | re.M)
check(m and int(m.group(1), 16) == entry, f"after monitor reset halt pc is not the ELF's entry 0x{entry:08x}:\n{out}")
ok(f"loaded {os.path.basename(elf)} ({len(image)} bytes, sections {', '.join(s for s, _ in sections)}); "
   f"reset halt at its entry 0x{entry:08x}")

status = emu.wait(timeout=60)
check(status == 0, f"spark-emu exited with {status}:\n{emu.stderr()[-2000:]}")
with open(os.path.join(emu.state, "internal-flash.bin"), "rb") as f:
    flash = f.read()
check(flash[:len(image)] == image, "the internal flash image file does not hold the loaded ELF")
ok("the internal flash image file holds the loaded program")
