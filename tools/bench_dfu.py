#!/usr/bin/env python3
"""bench_dfu.py - the wall time of a real `dfu-util -D` of Tinker (98 932 bytes, :leave) through umockdev
against the project's boot ROM, next to its floor: the sum of the bwPollTimeout sleeps the device itself asked
for, which is what a real Core takes at least. dfu-util sleeps exactly bwPollTimeout after every GETSTATUS
(dfu-util -v -v prints only some of them), so the floor is the sum of its sleeps, read with strace
(--seccomp-bpf: only those system calls stop). Both figures come from this one run.
Target: wall <= 1.1 x floor. Reported, never asserted.

usage: bench_dfu.py --emu build/spark-emu --bootrom build/roms/bootrom.bin [--repeat N]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

TARGET = 1.1


def fetch_firmware():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([os.path.join(top, "tools", "fetch-firmware.sh")], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench_dfu: cannot fetch the firmware: " + p.stderr)
    return os.path.join(p.stdout.strip(), "core_tinker.bin")


def one(emu, bootrom, tinker, work):
    state = tempfile.mkdtemp(dir=work)
    out = os.path.join(work, "dfu.out")
    times = os.path.join(work, "times")
    sleeps = os.path.join(work, "sleeps")
    cmd = (f"t0=$(date +%s%N); strace -f -qq --seccomp-bpf -e trace=nanosleep,clock_nanosleep -e signal=none "
           f"-o {sleeps} dfu-util -d 1d50:607f -a 0 -s 0x08005000:leave -D {tinker} > {out} 2>&1; "
           f"rc=$?; t1=$(date +%s%N); echo $t0 $t1 $rc > {times}; exit $rc")
    p = subprocess.run([emu, "--headless", "--quiet", "--state", state, "--bootloader", bootrom,
                        "--usb-host-cmd", cmd], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, TMPDIR=work))
    if p.returncode != 0:
        sys.exit(f"bench_dfu: the download failed (status {p.returncode}):\n{p.stderr[-2000:]}\n"
                 + (open(out).read()[-2000:] if os.path.exists(out) else ""))
    t0, t1, _ = open(times).read().split()
    wall = (int(t1) - int(t0)) / 1e9
    text = open(sleeps).read()
    polls = [int(s) * 10**9 + int(ns) for s, ns in re.findall(r"tv_sec=(\d+), tv_nsec=(\d+)", text)]
    polls = [p / 1e6 for p in polls if p > 0]  # dfu-util's milli_sleep(0) after a zero bwPollTimeout costs nothing
    shutil.rmtree(state, ignore_errors=True)
    return wall, sum(polls) / 1000.0, len(polls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emu", required=True)
    ap.add_argument("--bootrom", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    for tool in ("dfu-util", "strace"):
        if not shutil.which(tool):
            print(f"bench_dfu: {tool} is not installed (tools/setup.sh installs it); skipped")
            return 0
    tinker = fetch_firmware()
    work = tempfile.mkdtemp(prefix="spark-emu-bench-dfu-")
    try:
        best = min((one(a.emu, a.bootrom, tinker, work) for _ in range(a.repeat)), key=lambda r: r[0] / r[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall, floor, n = best
    ratio = wall / floor
    print(f"dfu-util -D core_tinker.bin ({os.path.getsize(tinker)} bytes, :leave) through umockdev: "
          f"{wall:.2f} s wall; floor (the {n} non-zero bwPollTimeout sleeps the device asked for) {floor:.2f} s; "
          f"{(wall - floor) * 1000 / n:.2f} ms per busy period above the floor")
    print(f"dfu-util wall / floor: {ratio:.3f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
