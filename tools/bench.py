#!/usr/bin/env python3
"""bench.py - spark-emu's benchmarks, every figure measured in this one run.

  CPU:  guest MIPS of spark-emu on bench_cpu (CRC32, memcpy, a mixed loop with ~14 % loads and
        ~14 % stores), of the same ROM on bare Unicorn with one empty block hook, and on
        qemu-system-arm; target spark-emu >= 0.9 x bare Unicorn.
  Idle: real-time factor (virtual s per wall s) of bench_idle (SysTick + WFI); target >= 200 x.
  Tinker: real-time factor of core_tinker.bin in listening mode over 60 s virtual, headless,
        --speed max, default boot ROM; target >= 50 x.

Targets are reported, never asserted: a benchmark informs, the test suite decides.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def run(cmd, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p, time.perf_counter() - t0


def best_of(n, fn):
    return min((fn() for _ in range(n)), key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emu", required=True)
    ap.add_argument("--bare", required=True)
    ap.add_argument("--cpu-rom", required=True)
    ap.add_argument("--idle-rom", required=True)
    ap.add_argument("--tinker", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    # guest instruction count: the ROM measures its own work with DWT CYCCNT (1 cycle per instruction here)
    p, _ = run([a.emu, "--load", a.cpu_rom, "--headless"])
    m = re.search(r"total cycles \(DWT CYCCNT\) (\d+)", p.stdout)
    if p.returncode != 0 or not m:
        sys.exit(f"bench_cpu failed on spark-emu: {p.stdout}{p.stderr}")
    insns = int(m.group(1))

    def emu_cpu():
        # the emulator's own measure of its run (machine set-up and exit excluded), as for bare Unicorn
        p, wall = run([a.emu, "--load", a.cpu_rom, "--headless", "--stats"])
        if p.returncode != 0 or "checksum" not in p.stdout:
            sys.exit(f"bench_cpu failed on spark-emu: {p.stdout}{p.stderr}")
        inner = re.search(r"in ([0-9.]+) s wall", p.stderr)
        return (float(inner.group(1)) if inner else wall), p

    def bare_cpu():
        p, wall = run([a.bare, a.cpu_rom])
        if p.returncode != 0 or "checksum" not in p.stdout:
            sys.exit(f"bench_cpu failed on bare Unicorn: {p.stdout}{p.stderr}")
        inner = re.search(r"wall_seconds ([0-9.]+)", p.stdout)
        return (float(inner.group(1)) if inner else wall), p

    emu_wall, _ = best_of(a.repeat, emu_cpu)
    bare_wall, _ = best_of(a.repeat, bare_cpu)
    print(f"guest instructions per run: {insns}")
    print(f"spark-emu     {insns / emu_wall / 1e6:8.1f} MIPS  ({emu_wall:.3f} s, emulation only)")
    print(f"bare Unicorn  {insns / bare_wall / 1e6:8.1f} MIPS  ({bare_wall:.3f} s, emulation only)")
    ratio = bare_wall / emu_wall
    print(f"spark-emu / bare Unicorn: {ratio:.3f} (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})")

    qemu = shutil.which("qemu-system-arm")
    if qemu:
        def qemu_cpu():
            p, wall = run([qemu, "-M", "stm32vldiscovery", "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-kernel", a.cpu_rom])
            if p.returncode != 0 or "checksum" not in p.stdout + p.stderr:  # qemu's semihosting writes to stderr
                sys.exit(f"bench_cpu failed on qemu (exit status {p.returncode}): {p.stdout}{p.stderr}")
            return wall, p
        qemu_wall, _ = best_of(a.repeat, qemu_cpu)
        print(f"qemu-system-arm {insns / qemu_wall / 1e6:6.1f} MIPS  ({qemu_wall:.3f} s, whole process)")

    def idle():
        p, wall = run([a.emu, "--load", a.idle_rom, "--headless", "--stats"])
        if p.returncode != 0:
            sys.exit(f"bench_idle failed on spark-emu: {p.stdout}{p.stderr}")
        v = re.search(r"virtual ([0-9.]+) s in ([0-9.]+) s wall", p.stderr)
        return float(v.group(2)), float(v.group(1))

    wall, virt = best_of(a.repeat, idle)
    print(f"idle ROM real-time factor: {virt / wall:.0f} x ({virt:.1f} s virtual in {wall:.3f} s; "
          f"target >= 200: {'met' if virt / wall >= 200 else 'NOT met'})")

    if not a.tinker:
        fetch = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fetch-firmware.sh")
        p, _ = run([fetch])
        a.tinker = os.path.join(p.stdout.strip(), "core_tinker.bin") if p.returncode == 0 else None
    if a.tinker and os.path.exists(a.tinker):
        def tinker():
            state = tempfile.mkdtemp(prefix="spark-emu-bench-")
            p, wall = run([a.emu, "--headless", "--quiet", "--state", state, "--firmware", a.tinker,
                           "--run-for", "60s", "--speed", "max", "--stats"])
            shutil.rmtree(state, ignore_errors=True)
            v = re.search(r"virtual ([0-9.]+) s in ([0-9.]+) s wall", p.stderr)
            if p.returncode != 0 or not v or float(v.group(1)) < 59.9:
                sys.exit(f"Tinker run failed: {p.stderr}")
            return float(v.group(2)), float(v.group(1))
        wall, virt = best_of(a.repeat, tinker)
        print(f"Tinker listening-mode real-time factor: {virt / wall:.0f} x ({virt:.0f} s virtual in {wall:.3f} s; "
              f"target >= 50: {'met' if virt / wall >= 50 else 'NOT met'})")
    else:
        print("Tinker: core_tinker.bin not in the cache (tools/fetch-firmware.sh); skipped")


if __name__ == "__main__":
    main()
