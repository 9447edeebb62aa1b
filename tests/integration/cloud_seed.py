"""The seed's mistake: Tinker's binary written at 0x2000 (over the Core's private key) with
`spark-flash put --erase`, against `spark-cloud --strict`.

The firmware takes bytes 11..138 of whatever is in the slot as its public key, so the cloud sees a key it
does not know: it logs the unknown device (no key registered yet), then, once the device's real key is
registered through the API (POST /v1/provisioning/<id>), that the device offers a different key. Each time the
cloud hangs up after the Core's key block and the Core shows one red flash (≈250 ms, a generic handshake error)
and tries again after its back-off (1 s for attempts 1-5, then 2 s). Writing the key back with spark-flash and
pressing RESET (the firmware reads its keys once, at start-up, as after a DFU write) brings breathing cyan back.

--speed realtime keeps virtual time with the wall clock between attempts too, so the RESET scheduled in
virtual time comes after the key is back."""
import os
import tempfile

from cloudtest import Cloud, Emu, flash, flashes, provision
from sparktest import check, firmware, ok

RESET_S = 14

tmp = tempfile.mkdtemp(prefix="cloud-seed-")
state = os.path.join(tmp, "state")
ext = os.path.join(state, "external-flash.bin")
cloud = Cloud(os.path.join(tmp, "cloud"), strict=True)
slot, public_pem = provision(state, cloud.server_der)
key_file = os.path.join(tmp, "core-key-slot.bin")
with open(key_file, "wb") as f:
    f.write(slot)
flash("put", "--erase", ext, "0x2000", firmware("core_tinker.bin"))  # the mistake: 0x2000, not 0x20000

emu = Emu(state, cloud.port, "21s", extra=["--speed", "realtime", "--press", f"reset@{RESET_S}s"])
_, m = cloud.log.wait(r"device ([0-9a-f]{24}): REFUSED: unknown device \(--strict\)", 60)
device = m.group(1)
status, r = cloud.api("POST", f"/v1/provisioning/{device}", {"public_key": public_pem})
check(status == 200 and r["ok"], f"key upload: {status} {r}")
i = 0
for n in range(4):
    i, _ = cloud.log.wait(rf"device {device}: REFUSED: offers a different key", 30, i + 1 if n else 0,
                          what=f"refusal {n + 1} of the different key")
flash("put", "--erase", ext, "0x2000", key_file)  # the right key back, before the RESET at 14 s
i, _ = cloud.log.wait(rf"device {device}: online", 40, i)
_, t_breathing = emu.wait_led("cyan, breathing", 20)
emu.finish(60)
check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")

check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
resets = [r["t_us"] for r in emu.kind("reset") if r["cause"] == "button"]
check(len(resets) == 1, f"reset records: {emu.kind('reset')}")
t_reset = resets[0]
cloud_recs = emu.kind("cloud")
before = [r for r in cloud_recs if r["t_us"] < t_reset]
connects = [r["t_us"] for r in before if r["event"] == "connect"]
check(len(connects) >= 6, f"expected at least 6 attempts before the RESET: {before}")
check(not any(r["event"] == "online" for r in before), "online with a firmware image for a key")
errors = [r for r in before if r["event"] == "error"]
check(errors and all(r["stage"] == "session-key" and r["by"] == "peer" for r in errors),
      f"every attempt should end with the cloud hanging up after the key block: {errors}")
led = emu.led()
for t in connects[:-1]:
    red = flashes(led, "red", t, t + 1_000_000)
    check(red and 200_000 <= red[0][1] - red[0][0] <= 320_000, f"no ≈250 ms red flash after the connect at {t} us: {red}")
gaps = [(b - a) / 1e6 for a, b in zip(connects, connects[1:])]
check(all(0.9 <= g <= 1.6 for g in gaps[:5]), f"attempts 1-5 are not 1 s apart: {gaps}")
check(any(1.9 <= g <= 2.6 for g in gaps[5:]), f"the back-off never grew to 2 s: {gaps}")
after = [r for r in cloud_recs if r["t_us"] > t_reset]
check(any(r["event"] == "online" for r in after), f"not online after the key was written back: {after}")
check(t_breathing * 1e6 > t_reset, f"breathing cyan at {t_breathing} s, before the RESET")
ok(f"device {device}: {len(connects)} refused attempts (red flashes; gaps {', '.join(f'{g:.2f}' for g in gaps)} s), "
   f"key written back, RESET at {t_reset / 1e6:.1f} s, breathing cyan at {t_breathing:.2f} s")
