"""Tinker with one WiFi profile and --cloud 127.0.0.1:PORT of a peer in this test, which misbehaves in one way
(the argument): the firmware shows the signal spark-cloud.md gives for that failure, the trace's cloud records
say what the wire showed, and the emulator ends on time.

  silent   accepts and never sends: the handshake's 20 s time-out, one red flash, the Core closes
  close    closes at once: one red flash, the Core tries again
  garbage  sends a nonce, then 384 random bytes for the session key: one orange (decryption) or red flash
  vanish   sends a nonce, reads the Core's 256-byte key block, then resets the connection mid-handshake
  none     --net none (with --cloud given): nothing reaches the peer, connects fail as on a network without an
           uplink, and the firmware blinks orange twice (its "no Internet" signal)

Everything stays on loopback; every loop here is bounded by a time-out."""
import os
import socket
import struct
import sys
import threading
import time

from sparktest import Run, check, fail, firmware, ok, segments

HANDSHAKE_TIMEOUT_S = 20  # the firmware's blocking_receive time-out for the nonce and the session key
FLASH_US = (200_000, 320_000)  # the ≈250 ms busy-wait flash of a handshake error


class Peer(threading.Thread):
    """A TCP server on 127.0.0.1 that plays one bad cloud."""

    def __init__(self, behaviour):
        super().__init__(daemon=True)
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = []  # bytes received per connection
        self.done = threading.Event()

    def read(self, c, n, deadline):
        data = b""
        while len(data) < n and time.monotonic() < deadline and not self.done.is_set():
            try:
                chunk = c.recv(n - len(data))
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def serve(self, c):
        c.settimeout(0.2)
        deadline = time.monotonic() + 60
        got = b""
        if self.behaviour == "close":
            c.close()
            return got
        if self.behaviour in ("garbage", "vanish"):
            c.sendall(os.urandom(40))  # the nonce
            got += self.read(c, 256, deadline)  # the Core's RSA block
            if self.behaviour == "vanish":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()  # a reset, mid-handshake
                return got
            c.sendall(os.urandom(384))
        got += self.read(c, 1 << 20, deadline)  # whatever comes until the Core closes
        c.close()
        return got

    def run(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            self.received.append(self.serve(c))
        self.sock.close()


def colour(rgb):
    r, g, b = rgb
    if b == 0 and r >= 16 and g < 8:
        return "red"
    if b == 0 and r >= 16 and 0.2 * r <= g <= 0.6 * r:
        return "orange"
    return "other"


def flashes(led, name, start_us=0):
    """[(t_on, t_off)] of the LED showing `name` (red/orange)."""
    out = []
    for i, (t, rgb) in enumerate(led):
        if t < start_us or colour(rgb) != name:
            continue
        t_off = led[i + 1][0] if i + 1 < len(led) else None
        if t_off is not None:
            out.append((t, t_off))
    return out


behaviour = sys.argv[1] if len(sys.argv) > 1 else "silent"
run_for = {"silent": 25, "close": 8, "garbage": 12, "vanish": 12, "none": 20}[behaviour]
peer = Peer(behaviour)
peer.start()
args = ["--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "1", "--run-for", f"{run_for}s",
        "--cloud", f"127.0.0.1:{peer.port}"]
if behaviour == "none":
    args += ["--net", "none"]
started = time.monotonic()
run = Run(args, timeout=run_for + 60)
wall = time.monotonic() - started
peer.done.set()
peer.join(2)

check(not run.kind("fault"), f"faults: {run.kind('fault')[:3]}")
# Ends on time: real-time pacing while a socket is open, never much slower than that.
check(wall < run_for + 20, f"the run took {wall:.1f} s of wall time for {run_for} s of virtual time")
led = run.led()
cloud = run.kind("cloud")
events = [r["event"] for r in cloud]
connects = [r["t_us"] for r in cloud if r["event"] == "connect"]
closed = [r for r in cloud if r["event"] == "closed"]

if behaviour == "none":
    check(peer.connections == 0, f"--net none: the peer saw {peer.connections} connections")
    check(not connects, f"--net none: cloud records {cloud[:3]}")
    ops = [r["op"] for r in run.kind("cc3000")]
    check(ops.count("0x1007") >= 2, "the firmware never tried the cloud and its Internet test")
    blinks = flashes(led, "orange")
    check(len(blinks) >= 2, f"expected the 2 orange blinks of 'no Internet', saw {blinks}")
    a, b = blinks[0], blinks[1]
    check(all(200_000 <= off - on <= 300_000 for on, off in (a, b)) and 400_000 <= b[0] - a[0] <= 600_000,
          f"the orange blinks are not 250 ms on / 250 ms off: {blinks[:2]}")
    ok(f"--net none: no connection left the machine; 2 orange blinks at {a[0] / 1e6:.2f} s "
       f"(wall {wall:.1f} s for {run_for} s)")
    sys.exit(0)

check(peer.connections >= 1, "the peer never saw the Core connect")
check(connects, f"no cloud connect record: {cloud[:5]}")
check(closed, f"no cloud closed record: {events}")
first = closed[0]

if behaviour == "silent":
    red = flashes(led, "red", connects[0])
    check(red, "no red flash after the handshake time-out")
    on, off = red[0]
    waited = (on - connects[0]) / 1e6
    check(HANDSHAKE_TIMEOUT_S - 0.5 <= waited <= HANDSHAKE_TIMEOUT_S + 1.5,
          f"the red flash came {waited:.2f} s after the connect, not after the 20 s time-out")
    check(FLASH_US[0] <= off - on <= FLASH_US[1], f"the red flash lasted {(off - on) / 1000:.0f} ms")
    check(first["by"] == "core" and first["received"] == 0, f"expected the Core to close: {first}")
    check("error" in events and cloud[events.index("error")]["stage"] == "nonce", f"{cloud}")
    check(wall >= HANDSHAKE_TIMEOUT_S - 1, f"20 s of handshake time-out took only {wall:.1f} s of wall time")
    ok(f"silent peer: red flash {waited:.2f} s after the connect ({(off - on) / 1000:.0f} ms), "
       f"closed by the Core; wall {wall:.1f} s for {run_for} s")
elif behaviour == "close":
    check(first["by"] == "peer" and first["received"] == 0, f"expected the peer's close: {first}")
    red = flashes(led, "red", connects[0])
    check(red and red[0][0] - connects[0] < 3_000_000, f"no red flash soon after the peer closed: {red[:2]}")
    check(len(connects) >= 2, f"the firmware did not connect again: {events}")
    # each attempt ends at once: the Core hears the close (0x8800) even when it came before the connect reply
    ends = [r["t_us"] for r in closed]
    for t in connects[:-1]:
        check(any(0 <= e - t <= 1_500_000 for e in ends), f"the connect at {t} us did not end within 1.5 s: {cloud}")
    ok(f"closing peer: red flash {(red[0][0] - connects[0]) / 1e6:.2f} s after the connect, "
       f"{len(connects)} connects in {run_for} s")
elif behaviour in ("garbage", "vanish"):
    check("handshake" in events, f"the Core never answered the nonce: {events}")
    check(peer.received and len(peer.received[0]) >= 256, f"the peer got {len(peer.received[0])} bytes")
    want = ("red", "orange") if behaviour == "garbage" else ("red",)
    seen = {name: flashes(led, name, connects[0]) for name in ("red", "orange")}
    hit = [(name, f) for name in want for f in seen[name]]
    check(hit, f"no {'/'.join(want)} flash after the handshake went wrong: {seen}")
    name, (on, off) = min(hit, key=lambda x: x[1][0])
    check(FLASH_US[0] <= off - on <= FLASH_US[1], f"the {name} flash lasted {(off - on) / 1000:.0f} ms")
    check(first["by"] == ("core" if behaviour == "garbage" else "peer"), f"closed record: {first}")
    check("online" not in events, "online without a server Hello")
    ok(f"{behaviour} peer: {name} flash {(on - connects[0]) / 1e6:.2f} s after the connect, "
       f"closed by the {first['by']} after {first['sent']} bytes sent / {first['received']} received")
else:
    fail(f"unknown behaviour {behaviour}")
