"""run_scenario.py - run one scenario (tests/scenarios/*.scn) with spark-emu --script, as CI does.

Comments at the top of a scenario set up its test run (spark-emu ignores them, as all comments):
  # test-args: ARG...        more spark-emu options, e.g. --press mode@0+3500ms
  # test-factory: FILE       an external flash holding FILE as the factory image at 0x20000 (--ext-flash)
  # test-needs: PROGRAM      skip (status 77) unless PROGRAM is installed, e.g. dfu-util
  # test-exit: N             the exit status expected (default 0)
  # test-stderr: TEXT        text stderr must contain; repeatable
  # test-file: NAME          a PNG the scenario must have written next to it
  # test-snapshot: NAME      a snapshot the scenario must have written next to it; a second run loads it
                             (--snapshot-load NAME --run-for 1s) and must exit 0 with a trace that goes on

The scenario runs from a fresh folder holding a copy of it and links to the Core firmware binaries
(tools/fetch-firmware.sh fetches them into a cache; they are never committed), so its relative paths
(run dfu-util ... -D core_tinker.bin, screenshot x.png) resolve as they would for a user.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from sparktest import SKIP, check, emulator, fail, firmware, ok  # noqa: E402


def directives(path):
    out = {"args": [], "factory": None, "needs": [], "exit": 0, "stderr": [], "files": [], "snapshots": []}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("# test-"):
                continue
            key, _, value = line[len("# test-"):].partition(":")
            value = value.strip()
            if key == "args":
                out["args"] += shlex.split(value)
            elif key in ("factory",):
                out[key] = value
            elif key == "needs":
                out["needs"].append(value)
            elif key == "exit":
                out["exit"] = int(value)
            elif key == "stderr":
                out["stderr"].append(value)
            elif key == "file":
                out["files"].append(value)
            elif key == "snapshot":
                out["snapshots"].append(value)
            else:
                fail(f"{path}: unknown directive test-{key}")
    return out


def main():
    scenario = os.path.abspath(sys.argv[1])
    name = os.path.basename(scenario)
    d = directives(scenario)
    for program in d["needs"]:
        if not shutil.which(program):
            print(f"SKIP: {name} needs {program}")
            sys.exit(SKIP)
    work = tempfile.mkdtemp(prefix="spark-emu-scenario-")
    try:
        shutil.copy(scenario, work)
        cache = os.path.dirname(firmware("core_tinker.bin"))
        for binary in os.listdir(cache):
            if binary.endswith(".bin"):
                os.symlink(os.path.join(cache, binary), os.path.join(work, binary))
        args = [emulator(), "--headless", "--state", os.path.join(work, "state")] + d["args"]
        if d["factory"]:
            image = bytearray(b"\xff" * (2 * 1024 * 1024))
            data = open(os.path.join(work, d["factory"]), "rb").read()
            image[0x20000:0x20000 + len(data)] = data
            ext = os.path.join(work, "ext.bin")
            open(ext, "wb").write(image)
            args += ["--ext-flash", ext]
        args += ["--script", os.path.join(work, name)]
        env = dict(os.environ, TMPDIR=work)  # umockdev testbeds go here and are removed with it
        p = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=240, env=env)
        shown = f"command: {' '.join(args)}\nstdout:\n{p.stdout[-2000:]}\nstderr:\n{p.stderr[-3000:]}"
        check(p.returncode == d["exit"], f"{name}: exit status {p.returncode}, expected {d['exit']}\n{shown}")
        for text in d["stderr"]:
            check(text in p.stderr, f"{name}: stderr should contain {text!r}\n{shown}")
        for f in d["files"]:
            with open(os.path.join(work, f), "rb") as png:
                check(png.read(8) == b"\x89PNG\r\n\x1a\n", f"{name}: {f} is not a PNG")
        for f in d["snapshots"]:
            path = os.path.join(work, f)
            with open(path, "rb") as snap:
                check(snap.read(8) == b"SPKSNAP\0", f"{name}: {f} is not a snapshot")
            trace = os.path.join(work, f + ".jsonl")
            load = [emulator(), "--headless", "--state", os.path.join(work, "state-loaded"), "--snapshot-load", path,
                    "--run-for", "1s", "--trace", trace]
            q = subprocess.run(load, cwd=work, capture_output=True, text=True, timeout=120)
            check(q.returncode == 0, f"{name}: loading {f}: exit status {q.returncode}\n{q.stderr[-2000:]}")
            records = [json.loads(line) for line in open(trace)]
            check(records and records[0]["t_us"] > 1000000 and all(r["kind"] != "reset" for r in records),
                  f"{name}: the run from {f} should go on from the snapshot's time, without a reset: {records[:3]}")
        if d["exit"] == 2:
            check(not os.path.exists(os.path.join(work, "state")),
                  f"{name}: a malformed script must not create or change the state")
        ok(f"{name}: exit status {p.returncode}" + (f"; {p.stderr.strip().splitlines()[-1]}" if d["exit"] else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)


main()
