"""Bad peers that need a real handshake or a precise moment, built from tools/spark-cloud's own code with one
step changed (the argument):

  oversized    the first session goes online, then the cloud sends a frame whose length prefix says 1024
               bytes, more than the Core's 640-byte buffer: the firmware treats it as an error and drops the
               connection, then connects again (the cloud behaves from then on) and goes back online.
  nonce-close  the cloud sends the 40-byte nonce and closes at once (FIN) without reading: the Core's key
               block goes nowhere, it shows one red flash and tries again after its back-off.

The emulator neither crashes nor hangs: it ends on time with status 0 and no fault."""
import argparse
import os
import sys
import tempfile
import threading
import time

from cloudtest import Emu, flashes, load_cloud_module, provision
from sparktest import check, fail, ok

mode = sys.argv[1] if len(sys.argv) > 1 else "oversized"
mod = load_cloud_module()
sessions = []


class BadPeer(mod.Session):
    def handshake(self):
        sessions.append(self)
        if mode == "nonce-close" and len(sessions) == 1:
            self.send_raw(os.urandom(mod.NONCE_LEN))
            raise ConnectionError("closed on purpose after the nonce")
        super().handshake()

    def serve_online(self):
        if mode == "oversized" and sessions[0] is self:
            time.sleep(1.0)
            self.send_raw(b"\x04\x00" + os.urandom(1024))  # 1024 > the Core's 640-byte buffer
        super().serve_online()


tmp = tempfile.mkdtemp(prefix="cloud-bad-peer-")
cloud = mod.Cloud(argparse.Namespace(dir=os.path.join(tmp, "cloud"), strict=False), mod.Log())
cloud.session_class = BadPeer
listener = mod.listen("127.0.0.1", 0, "devices")
stop = threading.Event()
threading.Thread(target=cloud.serve_devices, args=(listener, stop), daemon=True).start()
provision(os.path.join(tmp, "state"), os.path.join(tmp, "cloud", "server.der"))

if mode not in ("oversized", "nonce-close"):
    fail(f"unknown mode {mode}")
emu = Emu(os.path.join(tmp, "state"), listener.getsockname()[1], "12s" if mode == "oversized" else "8s")
emu.finish(60)
stop.set()

check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
recs = emu.kind("cloud")
connects = [r["t_us"] for r in recs if r["event"] == "connect"]
online = [r["t_us"] for r in recs if r["event"] == "online"]
closed = [r for r in recs if r["event"] == "closed"]
check(len(connects) >= 2 and closed, f"expected the Core to close and connect again: {recs}")
if mode == "oversized":
    check(len(online) >= 2, f"expected online, dropped, online again: {recs}")
    first = closed[0]
    check(first["by"] == "core" and online[0] < first["t_us"] < online[1],
          f"the Core should drop the session with the oversized frame: {recs}")
    # it read the nonce, the session key, the Hello and the bad frame's 2-byte length, and stopped there
    check(first["received"] == 40 + 384 + 18 + 2, f"the Core read more or less than up to the bad length: {first}")
    ok(f"oversized frame: the Core dropped the session {(first['t_us'] - online[0]) / 1e6:.2f} s after going "
       f"online, back online at {online[1] / 1e6:.2f} s")
else:
    first = closed[0]
    check(first["by"] == "peer" and first["received"] == 40, f"expected the peer's close after the nonce: {first}")
    red = flashes(emu.led(), "red", connects[0], connects[1])
    check(len(red) == 1 and 200_000 <= red[0][1] - red[0][0] <= 320_000, f"expected one red flash: {red}")
    check(online and online[0] > connects[1], f"the second attempt should go online: {recs}")
    ok(f"close after the nonce: one red flash {(red[0][0] - connects[0]) / 1e6:.2f} s after the connect, "
       f"next attempt {(connects[1] - connects[0]) / 1e6:.2f} s later went online")
