"""The cloud goes away mid-session and comes back (the argument says how):

  stop  (default) Tinker goes online with tools/spark-cloud; then the cloud is stopped (SIGSTOP: its connections stay open but
nothing answers, as when the path to a cloud dies without a close). The firmware notices by its keepalive
rules alone: having heard nothing for 15 s it pings, and 10 s after an unanswered ping it drops the
connection (≈25 s after the last message), going back to blinking cyan. The cloud is then killed and started
again on the same port and directory: it keeps its server key and registry (no new key, no new registration),
and the Core reconnects to breathing cyan.
  kill  the cloud is killed (SIGKILL): the kernel closes its connections, so the Core hears the close at once
        and goes back to blinking cyan; its connects are refused until the cloud is started again (on the
        same port and directory), then it goes back online."""
import os
import signal
import sys
import tempfile
import time

from cloudtest import Cloud, Emu, provision
from sparktest import check, ok

mode = sys.argv[1] if len(sys.argv) > 1 else "stop"
tmp = tempfile.mkdtemp(prefix="cloud-restart-")
cloud_dir = os.path.join(tmp, "cloud")
cloud = Cloud(cloud_dir)
provision(os.path.join(tmp, "state"), cloud.server_der)
emu = Emu(os.path.join(tmp, "state"), cloud.port, "42s" if mode == "stop" else "20s", extra=["--speed", "realtime"])
i, t_on = emu.wait_led("cyan, breathing", 60)
cloud.log.wait(r"device ([0-9a-f]{24}): online", 10)
if mode == "kill":
    cloud.kill()
    killed = time.monotonic()
    i, t_dropped = emu.wait_led("cyan, blinking", 10, i)
    time.sleep(2)
    cloud = Cloud(cloud_dir, port=cloud.port)
    _, m = cloud.log.wait(r"device ([0-9a-f]{24}): online", 60)
    i, t_back = emu.wait_led("cyan, breathing", 20, i)
    emu.finish(90)
    check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")
    check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
    recs = emu.kind("cloud")
    first_close = next(r for r in recs if r["event"] == "closed")
    check(first_close["by"] == "peer", f"the Core should see the killed cloud's close: {first_close}")
    check(sum(r["event"] == "online" for r in recs) == 2, f"expected two sessions: {recs}")
    ok(f"online at {t_on:.1f} s; cloud killed: blinking cyan at {t_dropped:.1f} s (the close seen at "
       f"{first_close['t_us'] / 1e6:.1f} s); restarted 2 s later, breathing cyan again at {t_back:.1f} s")
    sys.exit(0)
cloud.proc.send_signal(signal.SIGSTOP)
stopped = time.monotonic()
i, t_dropped = emu.wait_led("cyan, blinking", 45, i)
silent = time.monotonic() - stopped
cloud.kill()
cloud = Cloud(cloud_dir, port=cloud.port)
_, m = cloud.log.wait(r"device ([0-9a-f]{24}): online", 40)
i, t_back = emu.wait_led("cyan, breathing", 20, i)
emu.finish(60)
check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")

check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
recs = emu.kind("cloud")
online = [r["t_us"] for r in recs if r["event"] == "online"]
check(len(online) == 2, f"expected two sessions: {recs}")
first_close = next(r for r in recs if r["event"] == "closed")
check(first_close["by"] == "core", f"the Core should drop the silent connection itself: {first_close}")
kept = (first_close["t_us"] - online[0]) / 1e6
check(24.0 <= kept <= 27.5, f"the Core dropped the connection {kept:.1f} s after going online, not after 15 s + 10 s")
check(not cloud.log.find(r"registered on first use|made a new server key"),
      "the restarted cloud made a new key or registered the device again")
ok(f"online at {t_on:.1f} s; cloud stopped; the Core dropped it {kept:.1f} s after going online "
   f"(ping after 15 s, 10 s without its ACK; blinking cyan seen {silent:.1f} s after the stop); "
   f"cloud restarted, breathing cyan again at {t_back:.1f} s")
