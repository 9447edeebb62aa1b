"""Snapshots (--snapshot-save, --snapshot-load, docs/design.md "Snapshots").

  snapshot.py tinker                     a 10 s run of Tinker in listening mode (--wifi-profiles 0) and a run
                                         saved at 5 s then loaded and run 5 s more give the same trace records
                                         from 5 s on, byte for byte, and the same flash images at the end (and
                                         the same for a snapshot at 1.417 s, while the CC3000 starts)
  snapshot.py dfu BOOTROM                the same for the project's boot ROM in DFU mode (no firmware)
  snapshot.py factory BOOTROM            the same for a factory reset copying Tinker from the SPI flash, with
                                         the snapshot taken while the internal flash is busy
  snapshot.py damaged                    a flipped byte, a truncated file, a wrong magic, a wrong format
                                         version, another build's snapshot: exit 2 naming the problem, and the
                                         state's flash images untouched
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

from sparktest import Run, check, emulator, fail, firmware, ok

def lines_from(path, t_us):
    with open(path) as f:
        return [line for line in f if json.loads(line)["t_us"] >= t_us]


def identity(machine_args, what, splits_ms, total_ms=10000, ext_image=None, point=None):
    """A straight run against, for each split, a run saved then and a run loaded from it, to the same end.
    ext_image: every run starts from its own copy of this external flash image (--ext-flash).
    point: {split: where in the CPU loop that snapshot must have been taken} (the saving run's --verbose line)."""
    work = tempfile.mkdtemp(prefix="spark-emu-snapshot-")
    copies = []

    def ext(name):
        if not ext_image:
            return []
        path = os.path.join(work, name + "-ext.bin")
        shutil.copyfile(ext_image, path)
        copies.append(path)
        return ["--ext-flash", path]

    straight = Run(machine_args + ext("straight") + ["--run-for", f"{total_ms}ms"])
    for split_ms in splits_ms:
        split_us = split_ms * 1000
        snap = os.path.join(work, f"s{split_ms}.snap")
        saved = Run(machine_args + ext(f"saved{split_ms}") +
                    ["--run-for", f"{split_ms}ms", "--snapshot-save", f"{snap}@{split_ms}ms", "--verbose"])
        taken = [line for line in saved.stderr.splitlines() if "snapshot " + snap in line]
        where = (point or {}).get(split_ms)
        check(taken and (where is None or f"at {where}" in taken[0]),
              f"{what}: the snapshot should have been taken at {where}: {taken}")
        check(os.path.exists(snap), f"no snapshot written: {saved.stderr[-2000:]}")
        press = [a for i, a in enumerate(machine_args) if a == "--press" or (i and machine_args[i - 1] == "--press")]
        loaded = Run(["--snapshot-load", snap, "--run-for", f"{total_ms - split_ms}ms"] + press +
                     ext(f"loaded{split_ms}"))
        want = lines_from(straight.trace_path, split_us)
        got_all = lines_from(loaded.trace_path, 0)
        got = lines_from(loaded.trace_path, split_us)
        check(len(want) >= 10, f"{what}: too few records after {split_ms} ms to compare ({len(want)})")
        if want != got:
            for i, (a, b) in enumerate(zip(want, got)):
                if a != b:
                    fail(f"{what}: record {i} after {split_ms} ms differs:\n  straight: {a.strip()}\n"
                         f"  loaded:   {b.strip()}")
            fail(f"{what}: {len(want)} records after {split_ms} ms in the straight run, {len(got)} in the loaded one")
        check(len(got_all) == len(got),
              f"{what}: the loaded run traced {len(got_all) - len(got)} records before {split_ms} ms")
        images = [(os.path.join(straight.dir, "state", "internal-flash.bin"),
                   os.path.join(loaded.dir, "state", "internal-flash.bin"))]
        images.append((copies[0], copies[-1]) if ext_image else
                      (os.path.join(straight.dir, "state", "external-flash.bin"),
                       os.path.join(loaded.dir, "state", "external-flash.bin")))
        for a, b in images:
            check(filecmp.cmp(a, b, shallow=False), f"{what}: {os.path.basename(a)} differs at the end ({a} {b})")
        # saving does not change the run that saves
        check(lines_from(saved.trace_path, 0) == [l for l in lines_from(straight.trace_path, 0)
                                                  if json.loads(l)["t_us"] < split_us],
              f"{what}: the run that saved traced something else than the straight run before {split_ms} ms")
        ok(f"{what}: {len(got)} trace records from {split_ms} ms on identical after a snapshot then, "
           f"flash images identical at {total_ms} ms")
    shutil.rmtree(work, ignore_errors=True)


def run_status(args, timeout=120):
    p = subprocess.run([emulator(), "--headless"] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def damaged():
    work = tempfile.mkdtemp(prefix="spark-emu-snapshot-")
    tinker = firmware("core_tinker.bin")
    snap = os.path.join(work, "good.snap")
    Run(["--firmware", tinker, "--run-for", "1s", "--snapshot-save", snap + "@1s"])
    data = open(snap, "rb").read()
    # a state with images of its own, which a refused load must leave as they are
    state = os.path.join(work, "state")
    Run(["--firmware", tinker, "--run-for", "100ms", "--state", state])
    before = {n: open(os.path.join(state, n), "rb").read() for n in ("internal-flash.bin", "external-flash.bin")}
    idlen = int.from_bytes(data[12:14], "little")
    cases = {
        "flipped": (data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x10]) + data[len(data) // 2 + 1:],
                    "damaged: checksum"),
        "truncated": (data[:len(data) - 1000], "truncated"),
        "magic": (b"NOTASNAP" + data[8:], "not a spark-emu snapshot (bad magic)"),
        "version": (data[:8] + (99).to_bytes(4, "little") + data[12:], "snapshot format version 99"),
        "build": (data[:14] + b"X" + data[15:], "made by another build"),
        "empty": (b"", "bad magic"),
    }
    for name, (content, words) in cases.items():
        path = os.path.join(work, name + ".snap")
        with open(path, "wb") as f:
            f.write(content)
        status, err = run_status(["--snapshot-load", path, "--run-for", "100ms", "--state", state])
        check(status == 2, f"{name}: exit status {status}, expected 2\n{err}")
        check(words in err and path in err, f"{name}: expected '{words}' and the file's name in: {err.strip()}")
        for n, content_before in before.items():
            check(open(os.path.join(state, n), "rb").read() == content_before, f"{name}: {n} was changed")
        ok(f"{name}: exit 2, {err.strip().splitlines()[-1]}")
    # what a snapshot holds cannot also be given
    for extra, words in ((["--firmware", tinker], "--firmware cannot be given with --snapshot-load"),
                         (["--wifi-profiles", "1"], "the CC3000's WiFi profiles"),
                         (["--analog", "A0=1.0"], "the analog inputs")):
        status, err = run_status(["--snapshot-load", snap, "--state", state] + extra)
        check(status == 2 and words in err, f"{extra}: exit {status}, expected 2 with '{words}': {err.strip()}")
    fresh = os.path.join(work, "fresh-state")
    status, err = run_status(["--snapshot-load", snap, "--state", fresh, "--run-for", "1s",
                              "--snapshot-save", os.path.join(work, "early.snap") + "@500ms"])
    check(status == 2 and "before the loaded snapshot's instant" in err and not os.path.exists(fresh),
          f"a --snapshot-save before the loaded instant: exit {status}, state created: {os.path.exists(fresh)}: {err}")
    status, err = run_status(["--snapshot-load", os.path.join(work, "missing.snap"), "--state", state])
    check(status == 2 and "missing.snap" in err, f"a missing snapshot: exit {status}: {err.strip()}")
    status, err = run_status(["--firmware", tinker, "--run-for", "1s", "--state", state,
                              "--snapshot-save", os.path.join(work, "late.snap") + "@2s"])
    check(status == 2 and "after the end of the run" in err, f"a snapshot after --run-for: exit {status}: {err}")
    status, err = run_status(["--firmware", tinker, "--run-for", "1s", "--state", state,
                              "--snapshot-save", "/nonexistent/dir/x.snap@500ms"])
    check(status == 2 and "/nonexistent/dir" in err, f"an unwritable snapshot: exit {status}: {err}")
    ok("options that clash with a snapshot, a save before the loaded instant, a missing snapshot, one after the "
       "run, one in no folder: exit 2")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tinker":
        # 5 s: listening mode, idle-loop skips; 1417 ms: the CC3000 starting, SPI frames and DMA under way;
        # 700 ms: a skip reaches the instant, the snapshot is taken before that block's due events
        identity(["--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "0"], "Tinker in listening mode",
                 [5000, 1417, 700], point={5000: "a block's start", 1417: "a block's start", 700: "a block's events"})
    elif mode == "dfu":
        identity(["--bootloader", sys.argv[2]], "the boot ROM in DFU mode", [5000, 2345],
                 point={5000: "the run loop", 2345: "the run loop"})
    elif mode == "factory":
        # a factory reset (MODE held 11 s from power-on) copying Tinker from the SPI flash: the snapshot falls
        # while the flash is busy and code fetched from it waits, and the copy goes on from there
        image = os.path.join(tempfile.mkdtemp(prefix="spark-emu-snapshot-"), "factory.bin")
        data = bytearray(b"\xff" * (2 * 1024 * 1024))
        tinker = open(firmware("core_tinker.bin"), "rb").read()
        data[0x20000:0x20000 + len(tinker)] = tinker
        open(image, "wb").write(data)
        identity(["--bootloader", sys.argv[2], "--firmware", firmware("core_tinker.bin"), "--press", "mode@0+11s"],
                 "a factory reset in the boot ROM", [12346], total_ms=17000, ext_image=image,
                 point={12346: "a fetch stall"})
    elif mode == "damaged":
        damaged()
    else:
        sys.exit(f"unknown mode {sys.argv[1:]}")
