"""A server key at ext-flash 0x1000 that does not belong to the cloud (the argument says which way):

  wrong-key      0x1000 holds some other RSA-2048 public key, against tools/spark-cloud: the Core encrypts its
                 key block to that key, the cloud cannot decrypt it, logs that the Core has another server key,
                 and hangs up: one red flash (a generic handshake error), then the back-off and another try.
  bad-signature  a cloud that decrypts the key block and sends a session key the Core can decrypt, but signs
                 it with a key other than the one at 0x1000 (spark-cloud's own handshake code with its signing
                 key swapped, in this test): the signature check fails, AUTHENTICATION_ERROR, one magenta flash.
                 This is the only way to the magenta flash: a cloud able to read the key block holds the
                 private half of the key at 0x1000, and an honest one signs with it.

Either way the Core never goes online, keeps retrying, and the emulator ends on time."""
import argparse
import os
import sys
import tempfile
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudtest import Cloud, Emu, flash, flashes, load_cloud_module, provision
from sparktest import check, fail, ok

FLASH_US = (200_000, 320_000)

mode = sys.argv[1] if len(sys.argv) > 1 else "wrong-key"
tmp = tempfile.mkdtemp(prefix="cloud-server-key-")
state = os.path.join(tmp, "state")
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

if mode == "wrong-key":
    cloud = Cloud(os.path.join(tmp, "cloud"))
    provision(state, cloud.server_der)
    other_der = os.path.join(tmp, "other.der")
    with open(other_der, "wb") as f:
        f.write(other.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    flash("server-key", state, other_der, "--address", "127.0.0.1")
    port = cloud.port
elif mode == "bad-signature":
    mod = load_cloud_module()

    class BadSignature(mod.Session):
        def signature(self, digest):
            return mod.rsa_sign_raw(other, digest)

    args = argparse.Namespace(dir=os.path.join(tmp, "cloud"), strict=False)
    peer = mod.Cloud(args, mod.Log())
    peer.session_class = BadSignature
    listener = mod.listen("127.0.0.1", 0, "devices")
    stop = threading.Event()
    threading.Thread(target=peer.serve_devices, args=(listener, stop), daemon=True).start()
    provision(state, os.path.join(tmp, "cloud", "server.der"))
    port = listener.getsockname()[1]
else:
    fail(f"unknown mode {mode}")

emu = Emu(state, port, "8s")
emu.finish(60)
if mode == "wrong-key":
    check(cloud.stop() == 0, "spark-cloud did not exit 0 on SIGTERM")
    check(cloud.log.find(r"does not decrypt with the server key"), "the cloud did not log the undecryptable key block")
else:
    stop.set()

check(not emu.kind("fault"), f"faults: {emu.kind('fault')[:3]}")
recs = emu.kind("cloud")
events = [r["event"] for r in recs]
connects = [r["t_us"] for r in recs if r["event"] == "connect"]
check(len(connects) >= 2 and "online" not in events, f"expected retries and never online: {recs}")
errors = [r for r in recs if r["event"] == "error"]
want, stage, by = ("red", "session-key", "peer") if mode == "wrong-key" else ("magenta", "session-key", "core")
check(errors and errors[0]["stage"] == stage and errors[0]["by"] == by, f"expected an error in {stage} by {by}: {recs}")
led = emu.led()
seen = flashes(led, want, connects[0], connects[1])
check(len(seen) == 1 and FLASH_US[0] <= seen[0][1] - seen[0][0] <= FLASH_US[1],
      f"expected one ≈250 ms {want} flash after the first attempt: {seen}")
for colour in {"red", "orange", "magenta"} - {want}:
    check(not flashes(led, colour, connects[0]), f"a {colour} flash too: {flashes(led, colour, connects[0])[:3]}")
ok(f"{mode}: one {want} flash {(seen[0][0] - connects[0]) / 1e6:.2f} s after the connect "
   f"({(seen[0][1] - seen[0][0]) / 1000:.0f} ms), {len(connects)} attempts, never online")
