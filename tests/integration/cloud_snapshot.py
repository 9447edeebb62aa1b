"""A snapshot of a Core that is online with tools/spark-cloud: the cloud connection's host socket is not in the
snapshot, so a run loaded from it reports the socket closed to the firmware (trace: cloud closed by
"snapshot"); with the cloud still there Tinker connects again and is online within seconds, without a reset;
with no network it goes back to looking for the cloud (blinking cyan) and never comes online."""
import json
import os
import subprocess
import tempfile

from cloudtest import Cloud, Emu, provision
from sparktest import check, emulator, ok

tmp = tempfile.mkdtemp(prefix="cloud-snapshot-")
cloud = Cloud(os.path.join(tmp, "cloud"))
provision(os.path.join(tmp, "state"), cloud.server_der)
snap = os.path.join(tmp, "online.snap")
emu = Emu(os.path.join(tmp, "state"), cloud.port, "8s", ["--snapshot-save", snap + "@7s"])
emu.wait_led("cyan, breathing", 60)
emu.finish(60)
check(os.path.exists(snap), "no snapshot written")


def load(name, extra, run_for):
    trace = os.path.join(tmp, name + ".jsonl")
    p = subprocess.run([emulator(), "--headless", "--snapshot-load", snap, "--state", os.path.join(tmp, name),
                        "--run-for", run_for, "--trace", trace] + extra, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"{name}: exit status {p.returncode}\n{p.stderr[-2000:]}")
    return [json.loads(line) for line in open(trace)]


records = load("with-cloud", ["--cloud", f"127.0.0.1:{cloud.port}"], "3s")
cloud_events = [r for r in records if r["kind"] == "cloud"]
check(cloud_events and cloud_events[0]["event"] == "closed" and cloud_events[0].get("by") == "snapshot",
      f"the first cloud record should be the socket closed by the snapshot: {cloud_events[:2]}")
check(any(r["event"] == "online" for r in cloud_events), f"not online again after the load: {cloud_events}")
check(not any(r["kind"] == "reset" for r in records), "the load should not reset the Core")
online = next(r["t_us"] for r in cloud_events if r["event"] == "online")
check(online > 7_000_000, f"online at {online} us, before the snapshot's instant")
ok(f"loaded with the cloud: socket reported closed, online again at {online / 1e6:.3f} s")

records = load("no-network", [], "3s")
cloud_events = [r for r in records if r["kind"] == "cloud"]
check(not any(r["event"] == "online" for r in cloud_events), f"online with no network: {cloud_events}")
check(cloud_events and cloud_events[0].get("by") == "snapshot", f"no closed record: {cloud_events[:2]}")
ok("loaded with no network: socket reported closed, not online")
cloud.stop()
