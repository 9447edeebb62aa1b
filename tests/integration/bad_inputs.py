"""Bad images and options: exit status 2, a message naming the file and the problem,
and the state directory untouched (nothing created in a fresh one, nothing changed in a used one)."""
import hashlib
import os
import subprocess
import tempfile
from sparktest import check, emulator, firmware, ok

tmp = tempfile.mkdtemp(prefix="spark-emu-bad-")
big = os.path.join(tmp, "big.bin")
with open(big, "wb") as f:
    f.write(open(firmware("core_tinker.bin"), "rb").read()[:8] + os.urandom(200 * 1024 - 8))
empty = os.path.join(tmp, "empty.bin")
open(empty, "wb").close()
text = os.path.join(tmp, "notes.txt")
with open(text, "w") as f:
    f.write("this is not a firmware image\n" * 100)
missing = os.path.join(tmp, "missing.bin")
# names that promise a format the bytes do not have: refused, never loaded as raw binaries
fake_elf = os.path.join(tmp, "fake.elf")
with open(fake_elf, "wb") as f:
    f.write(open(firmware("core_tinker.bin"), "rb").read()[:4096])
fake_hex = os.path.join(tmp, "fake.hex")
with open(fake_hex, "wb") as f:
    f.write(b":10000000" + bytes(range(16)) + b"\n")


def snapshot(d):
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            out[p] = (hashlib.sha256(open(p, "rb").read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out


def run(args):
    return subprocess.run([emulator(), "--headless", "--run-for", "10ms"] + args, capture_output=True,
                          text=True, timeout=60)


# a used state directory
used = os.path.join(tmp, "used")
p = run(["--state", used, "--bootloader", "none", "--firmware", firmware("core_tinker.bin")])
# Tinker leaves VTOR to the bootloader: alone, its first SysTick vector is erased flash and the core locks up
# (status 4, as a run that ends locked up exits); the run still creates and uses the state directory
check(p.returncode in (0, 4), f"a good run failed: {p.stderr}")
before = snapshot(used)
check(before, "the good run stored nothing in its state directory")

cases = [
    (["--firmware", big], "big.bin", ("108", "0x08020000", "past", "too large", "does not fit")),
    (["--firmware", empty], "empty.bin", ("empty",)),
    (["--firmware", missing], "missing.bin", ("no such file", "not found", "cannot open")),
    (["--firmware", text], "notes.txt", ("vector table", "not a", "firmware image")),
    (["--bootloader", empty], "empty.bin", ("empty",)),
    (["--ext-flash", text], "notes.txt", ("size", "2097152", "2 MiB")),
    (["--firmware", fake_elf], "fake.elf", ("not an ELF file",)),
    (["--load", fake_elf], "fake.elf", ("not an ELF file",)),
    (["--load", fake_hex + "@0x08005000"], "fake.hex", ("not Intel HEX",)),
    (["--run-for", "ten"], "--run-for", ("duration",)),
    (["--run-for", "1.s"], "--run-for", ("duration",)),
    (["--run-for", "+1s"], "--run-for", ("duration",)),
    (["--press", "boot@1s"], "boot", ("button",)),
]
for args, name, words in cases:
    for state in (used, os.path.join(tmp, "fresh")):
        p = run(["--state", state, "--bootloader", "none"] + args)
        msg = p.stderr.strip()
        check(p.returncode == 2, f"{args}: exit status {p.returncode}, expected 2; stderr: {msg}")
        check(name in msg, f"{args}: the message does not name {name!r}: {msg}")
        check(any(w.lower() in msg.lower() for w in words), f"{args}: the message does not say what is wrong: {msg}")
        check("Traceback" not in msg and "Sanitizer" not in msg, f"{args}: crashed: {msg}")
    check(snapshot(used) == before, f"{args}: the used state directory changed")
    check(not os.path.exists(os.path.join(tmp, "fresh")), f"{args}: a fresh state directory was created")
    ok(f"{' '.join(args)} -> exit 2: {msg.splitlines()[-1]}")

# a decimal part is a duration too, to the nearest cycle
p = subprocess.run([emulator(), "--headless", "--run-for", "2.5ms", "--stats", "--state", os.path.join(tmp, "dec")],
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 0 and "virtual 0.002500 s" in p.stderr, f"--run-for 2.5ms: {p.returncode} {p.stderr[-500:]}")
ok("--run-for 2.5ms runs 2.5 ms of virtual time")
