#!/usr/bin/env python3
"""bench_cloud.py - power-on to breathing cyan for Tinker against tools/spark-cloud on loopback: the wall
time next to the same span in virtual time, and the handshake (the cloud connection's connect to online) in
both. The floor is the firmware's own work: boot, WiFi and DHCP run as fast as the host allows (virtual time
runs ahead of the wall clock), while the cloud connection is paced in real time, and its handshake is RSA on
an emulated 72 MHz Cortex-M3 (an RSA-2048 public-key encryption, an RSA-1024 private-key decryption and an
RSA-2048 signature check), so its wall time can only exceed its virtual time by how far the emulator falls
behind real time during that arithmetic. Reported, never asserted.

usage: bench_cloud.py --emu build/spark-emu --flash build/tools/spark-flash [--repeat N]
"""
import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fetch_firmware():
    p = subprocess.run([os.path.join(TOP, "tools", "fetch-firmware.sh")], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench_cloud: cannot fetch the firmware: " + p.stderr)
    return os.path.join(p.stdout.strip(), "core_tinker.bin")


def stamp(line):
    """Wall time (epoch seconds) of a spark-cloud log line."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ", line)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp() if m else None


def one(emu, flash, tinker, work):
    cloud_dir = tempfile.mkdtemp(dir=work)
    cloud = subprocess.Popen([os.path.join(TOP, "tools", "spark-cloud"), "-v", "--dir", cloud_dir, "--port", "0",
                              "--api-port", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    log = []
    threading.Thread(target=lambda: log.extend(iter(cloud.stderr.readline, "")), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            m = next((re.search(r"devices on 127\.0\.0\.1:(\d+)", l) for l in list(log) if "devices on" in l), None)
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        if port is None:
            sys.exit("bench_cloud: spark-cloud did not start")
        state = tempfile.mkdtemp(dir=work)
        for args in (["keys", state, "--new", "--core-only"],
                     ["server-key", state, os.path.join(cloud_dir, "server.der"), "--address", "127.0.0.1"]):
            subprocess.run([flash] + args, check=True, capture_output=True, timeout=60)
        trace = os.path.join(work, "trace.jsonl")
        t0 = time.time()
        p = subprocess.Popen([emu, "--headless", "--state", state, "--firmware", tinker, "--wifi-profiles", "1",
                              "--cloud", f"127.0.0.1:{port}", "--trace", trace, "--run-for", "60s"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        virtual = wall = None
        for line in p.stdout:
            m = re.match(r"\[\s*([0-9.]+) s\] LED cyan, breathing", line)
            if m:
                wall, virtual = time.time() - t0, float(m.group(1))
                break
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        if virtual is None:
            sys.exit("bench_cloud: the Core never reached breathing cyan")
        recs = [json.loads(l) for l in open(trace)]
        cloud_t = {r["event"]: r["t_us"] / 1e6 for r in recs if r["kind"] == "cloud" and r["event"] in
                   ("connect", "online")}
        time.sleep(0.2)
        lines = list(log)
        accepted = next(stamp(l) for l in lines if "device connection from" in l)
        online = next(stamp(l) for l in lines if ": online (" in l)
        return {"virtual": virtual, "wall": wall, "hs_virtual": cloud_t["online"] - cloud_t["connect"],
                "hs_wall": online - accepted}
    finally:
        cloud.send_signal(signal.SIGTERM)
        try:
            cloud.wait(15)
        except subprocess.TimeoutExpired:
            cloud.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emu", required=True)
    ap.add_argument("--flash", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tinker = fetch_firmware()
    work = tempfile.mkdtemp(prefix="bench-cloud-")
    runs = [one(a.emu, a.flash, tinker, work) for _ in range(a.repeat)]
    print("power-on to breathing cyan (Tinker, spark-cloud on loopback):")
    print(f"{'run':>4} {'virtual s':>10} {'wall s':>8} {'handshake virtual s':>20} {'handshake wall s':>17}")
    for i, r in enumerate(runs, 1):
        print(f"{i:>4} {r['virtual']:>10.3f} {r['wall']:>8.3f} {r['hs_virtual']:>20.3f} {r['hs_wall']:>17.3f}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{'med':>4} {med['virtual']:>10.3f} {med['wall']:>8.3f} {med['hs_virtual']:>20.3f} {med['hs_wall']:>17.3f}")
    print(f"wall / virtual: power-on to breathing {med['wall'] / med['virtual']:.2f}, "
          f"handshake {med['hs_wall'] / med['hs_virtual']:.2f}")


if __name__ == "__main__":
    main()
