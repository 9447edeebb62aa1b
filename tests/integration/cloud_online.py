"""Tinker with one WiFi profile, fresh keys (spark-flash keys --new) and the server key of a running
tools/spark-cloud (spark-flash server-key): blinking green, blinking cyan, then breathing cyan; the cloud
registers the device on first use and streams its events; `POST /v1/devices/<id>/digitalwrite arg=D7,HIGH`
returns 1 and the trace shows D7 go high; `digitalread D7` returns 0, as on a Core: Tinker's digitalread makes
the pin an input with its pull-down, and nothing drives D7 (its LED sinks to ground). SIGTERM stops the cloud with status 0."""
import json
import os
import tempfile
import threading
import urllib.request

from cloudtest import Cloud, Emu, cyan_levels, flashes, provision
from sparktest import check, ok

tmp = tempfile.mkdtemp(prefix="cloud-online-")
cloud = Cloud(os.path.join(tmp, "cloud"))
_, public_pem = provision(os.path.join(tmp, "state"), cloud.server_der)

events = []


def listen():
    """GET /v1/events/spark as a server-sent event stream; collects (name, data) until the cloud stops."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cloud.api_port}/v1/events/spark", timeout=60) as r:
            name = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[6:])))
    except OSError:
        pass


threading.Thread(target=listen, daemon=True).start()
emu = Emu(os.path.join(tmp, "state"), cloud.port, "14s")
i, t_green = emu.wait_led("green, blinking", 60)
i, t_cyan = emu.wait_led("cyan, blinking", 60, i)
i, t_breathing = emu.wait_led("cyan, breathing", 60, i)
_, m = cloud.log.wait(r"device ([0-9a-f]{24}): online", 10)
device = m.group(1)

status, devices = cloud.api("GET", "/v1/devices")
check(status == 200 and [d["id"] for d in devices if d["connected"]] == [device], f"/v1/devices: {devices}")
status, info = cloud.api("GET", f"/v1/devices/{device}")
check(status == 200 and "digitalwrite" in info["functions"], f"device info: {status} {info}")
status, r = cloud.api("POST", f"/v1/devices/{device}/digitalwrite", {"arg": "D7,HIGH"})
check(status == 200 and r["return_value"] == 1 and r["connected"], f"digitalwrite D7,HIGH: {status} {r}")
status, r = cloud.api("POST", f"/v1/devices/{device}/digitalread", json_body={"arg": "D7"})
check(status == 200 and r["return_value"] == 0, f"digitalread D7 (pull-down, undriven): {status} {r}")
status, r = cloud.api("POST", f"/v1/devices/{device}/nosuch", {"arg": "x"})
check(status == 404, f"an unknown function: {status} {r}")
status, r = cloud.api("POST", f"/v1/devices/{device}/digitalwrite", {"arg": "D7," + "H" * 70})
check(status == 400, f"an argument longer than the Core takes: {status} {r}")

emu.finish(60)
check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")

check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
cloud_events = {r["event"]: r["t_us"] for r in emu.kind("cloud") if r["event"] in ("connect", "handshake", "online")}
check(set(cloud_events) == {"connect", "handshake", "online"}, f"cloud records: {emu.kind('cloud')}")
led = emu.led()
check(len(flashes(led, "green")) >= 3, "no green blinking")
check(len(flashes(led, "cyan", 0, cloud_events["online"])) >= 3, "no cyan blinking before online")
levels = cyan_levels(led, cloud_events["online"])
check(len(levels) >= 20, f"breathing cyan shows many brightness levels, saw {len(levels)}")
d7 = [(r["t_us"], r["level"]) for r in emu.kind("gpio") if r["pin"] == "D7"]
check(any(level == 1 and t > cloud_events["online"] for t, level in d7), f"D7 never went high: {d7}")
with open(os.path.join(tmp, "cloud", "devices", device + ".pub.pem")) as f:
    check(f.read() == public_pem, "the registry holds another key than the one spark-flash made")
names = {n for n, _ in events}
check("spark/hardware/max_binary" in names and all(e["coreid"] == device for _, e in events),
      f"event stream: {events[:5]}")
hs = (cloud_events["online"] - cloud_events["connect"]) / 1e6
ok(f"device {device}: green at {t_green:.2f} s, cyan blinking at {t_cyan:.2f} s, breathing at {t_breathing:.2f} s "
   f"(virtual); handshake {hs:.2f} s virtual; D7 high; {len(levels)} cyan levels; {len(events)} events streamed; "
   f"wall {emu.wall:.1f} s")
