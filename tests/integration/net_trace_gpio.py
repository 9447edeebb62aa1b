"""The trace's gpio records: a tiny image (hand-assembled here) sets PA13, the user pin D7, as a push-pull
output and drives it high; the trace shows D7 go high, by its board name, once."""
import os
import struct
import tempfile

from sparktest import Run, check, ok

SP, BASE = 0x20005000, 0x08000000
code = [
    0x4804,  # ldr r0, =RCC_APB2ENR
    0x2104,  # movs r1, #4 (IOPAEN)
    0x6001,  # str r1, [r0]
    0x4804,  # ldr r0, =GPIOA_CRH
    0x4904,  # ldr r1, =0x44144444 (PA13: output 10 MHz, push-pull; the rest reset values)
    0x6001,  # str r1, [r0]
    0x4804,  # ldr r0, =GPIOA_BSRR
    0x4905,  # ldr r1, =1 << 13
    0x6001,  # str r1, [r0]
    0xE7FE,  # b .
]
literals = [0x40021018, 0x40010804, 0x44144444, 0x40010810, 1 << 13]
image = struct.pack("<II", SP, BASE + 8 + 1) + struct.pack(f"<{len(code)}H", *code) + \
    struct.pack(f"<{len(literals)}I", *literals)
path = os.path.join(tempfile.mkdtemp(prefix="gpio-"), "d7_high.bin")
with open(path, "wb") as f:
    f.write(image)

run = Run(["--load", f"{path}@0x08000000", "--run-for", "10ms"])
d7 = [(r["t_us"], r["level"]) for r in run.kind("gpio") if r["pin"] == "D7"]
check(d7 and d7[-1][1] == 1, f"D7 never went high: {d7}")
check(sum(1 for _, level in d7 if level == 1) == 1, f"D7 went high more than once: {d7}")
others = [r for r in run.kind("gpio") if r["pin"] != "D7" and r["level"] == 1]
check(not others, f"other user pins went high: {others[:3]}")
ok(f"D7 high at {d7[-1][0]} us: {d7}")
