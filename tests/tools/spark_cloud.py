"""tools/spark-cloud on its own, against a fake Core written here from the protocol's byte layouts
(../shared/docs/spark-cloud.md), not from spark-cloud's code, and against garbage:

- usage errors exit 2 naming the option; a port in use exits 2;
- DIR: the server key pair made once (key 0600, server.der the 294-byte SubjectPublicKeyInfo) and kept;
- the handshake and session: the fake Core registers on first use; a function call, variable reads of all four
  types, an event from the Core on the event stream, an event published through the API reaching the Core's
  subscription, the time, a ping;
- --strict refuses an unknown device, the provisioning call registers it, a different key is refused;
- garbage on the device port (random bytes, a key block of zeros, an oversized frame after the handshake) and
  on the API port (a malformed request line, a huge Content-Length, bad JSON, unknown paths, a bad PEM): each is
  logged and closed, and the cloud goes on serving;
- SIGTERM with a device connected and an event stream open: exit status 0 within a few seconds.

Loopback only; every socket has a time-out."""
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLOUD = os.path.join(TOP, "tools", "spark-cloud")
procs = []


def fail(msg):
    for p in procs:
        if p.poll() is None:
            p.kill()
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Cloud:
    def __init__(self, directory, *extra):
        self.proc = subprocess.Popen([CLOUD, "--dir", directory, "--port", "0", "--api-port", "0"] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        procs.append(self.proc)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait(r"devices on 127.0.0.1:(\d+)").group(1))
        self.api_port = int(self.wait(r"API on http://127.0.0.1:(\d+)").group(1))

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait(self, pattern, timeout=20):
        import re
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                if time.monotonic() > deadline:
                    fail(f"spark-cloud never logged {pattern!r}; log:\n" + "\n".join(self.lines[-20:]))
                self.cond.wait(0.2)

    def api(self, method, path, params=None, json_body=None, timeout=20):
        data, headers = None, {}
        if json_body is not None:
            data, headers = json.dumps(json_body).encode(), {"Content-Type": "application/json"}
        elif params is not None:
            data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def raw_http(self, data, timeout=10):
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=timeout) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out
                out += chunk

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            fail("spark-cloud did not exit within 10 s of SIGTERM")


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


class FakeCore:
    """The device side of the 0.7.0 handshake and session, from the documented layouts."""

    SPKI_HEADER = bytes.fromhex("30819f300d06092a864886f70d010101050003818d0030818902818100")

    def __init__(self, port, server_der, device_id, key, variables=None):
        self.device_id, self.key = device_id, key
        self.server = serialization.load_der_public_key(server_der)
        self.variables = variables or {}
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.mid = 100

    def handshake(self):
        nonce = recv_exact(self.s, 40)
        n = self.key.public_key().public_numbers().n.to_bytes(128, "big")
        spki = self.SPKI_HEADER + n + bytes.fromhex("0203010001")
        check(len(spki) == 162, "fake Core: SPKI length")
        self.s.sendall(self.server.encrypt(nonce + self.device_id + spki, padding.PKCS1v15()))
        reply = recv_exact(self.s, 384)
        session = self.key.decrypt(reply[:128], padding.PKCS1v15())
        check(len(session) == 40, f"session key of {len(session)} bytes, expected 40")
        h = hmac.new(session, reply[:128], hashlib.sha1).digest()
        pub = self.server.public_numbers()
        em = pow(int.from_bytes(reply[128:], "big"), pub.e, pub.n).to_bytes(256, "big")
        check(em == b"\x00\x01" + b"\xff" * 233 + b"\x00" + h, "the server's signature does not verify")
        self.aes = session[:16]
        self.iv_send = self.iv_recv = session[16:32]
        self.mid = struct.unpack(">H", session[32:34])[0]
        self.send(bytes([0x50, 0x02]) + self.next_mid() + b"\xb1h\xff" + bytes([0, 0, 0, 3, 0, 0, 0, 0]))
        hello = self.recv()
        check(hello[1] == 0x02 and hello[5 + (hello[0] & 15)] == ord("h"), f"server Hello: {hello.hex()}")

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return struct.pack(">H", self.mid)

    def send(self, plain):
        pad = 16 - len(plain) % 16
        plain += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.aes), modes.CBC(self.iv_send)).encryptor()
        c = enc.update(plain) + enc.finalize()
        self.iv_send = c[:16]
        self.s.sendall(struct.pack(">H", len(c)) + c)

    def recv(self):
        n = struct.unpack(">H", recv_exact(self.s, 2))[0]
        c = recv_exact(self.s, n)
        dec = Cipher(algorithms.AES(self.aes), modes.CBC(self.iv_recv)).decryptor()
        p = dec.update(c) + dec.finalize()
        self.iv_recv = c[:16]
        return p[:-p[-1]]

    def serve(self, stop, log):
        """Answer the cloud until stop is set: describe, functions (return len(arg)), variables, events."""
        self.s.settimeout(0.5)
        while not stop.is_set():
            try:
                m = self.recv()
            except socket.timeout:
                continue
            except (ConnectionError, OSError):
                return
            log.append(m)
            tkl = m[0] & 15
            mid, tok = m[2:4], m[4:4 + tkl]
            path = m[5 + tkl:6 + tkl]
            if m[1] == 0x01 and path == b"d":
                desc = {"f": ["len"], "v": {k: t for k, (t, _) in self.variables.items()}}
                self.send(bytes([0x61, 0x45]) + mid + tok + b"\xff" + json.dumps(desc).encode())
            elif m[1] == 0x02 and path == b"f":
                name_len = m[7] & 15
                arg_hdr = 8 + name_len
                arg_len = m[arg_hdr] & 15
                arg = m[arg_hdr + 1:arg_hdr + 1 + arg_len]
                self.send(bytes([0x60, 0x00]) + mid)
                self.send(bytes([0x51, 0x44]) + self.next_mid() + tok + b"\xff" + struct.pack(">i", len(arg)))
            elif m[1] == 0x01 and path == b"v":
                name = m[8:8 + (m[7] & 15)].decode()
                _, value = self.variables[name]
                self.send(bytes([0x61, 0x45]) + mid + tok + b"\xff" + value)
            # events (POST e/E) and ACKs need no answer


def main():
    tmp = tempfile.mkdtemp(prefix="spark-cloud-test-")
    cloud_dir = os.path.join(tmp, "cloud")

    # usage errors
    for args, word in ((["--port", "70000"], "--port"), (["--api-port", "x"], "--api-port"), (["--bogus"], "--bogus")):
        p = subprocess.run([CLOUD, "--dir", cloud_dir] + args, capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and word in p.stderr, f"{args}: exit {p.returncode}, stderr {p.stderr!r}")
    a_file = os.path.join(tmp, "file")
    open(a_file, "w").close()
    p = subprocess.run([CLOUD, "--dir", a_file], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "not a directory" in p.stderr, f"--dir FILE: {p.returncode} {p.stderr!r}")
    check(not os.path.exists(cloud_dir), "a usage error created the directory")

    cloud = Cloud(cloud_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        p = subprocess.run([CLOUD, "--dir", cloud_dir, "--port", str(busy.getsockname()[1]), "--api-port", "0"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and "cannot listen" in p.stderr, f"port in use: {p.returncode} {p.stderr!r}")
    key_path = os.path.join(cloud_dir, "server-key.pem")
    check(os.stat(key_path).st_mode & 0o777 == 0o600, "server-key.pem is not mode 0600")
    with open(os.path.join(cloud_dir, "server.der"), "rb") as f:
        server_der = f.read()
    check(len(server_der) == 294 and server_der[:33] == bytes.fromhex(
        "30820122300d06092a864886f70d01010105000382010f003082010a0282010100"), "server.der is not the firmware's form")

    # a device, registered on first use
    device_id = bytes.fromhex("0123456789abcdef01234567")
    dev_hex = device_id.hex()
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    variables = {"count": (2, struct.pack(">i", -42)), "name": (4, b"core"),
                 "temp": (9, struct.pack("<d", 21.5)), "on": (1, b"\x01")}
    core = FakeCore(cloud.port, server_der, device_id, key, variables)
    core.handshake()
    cloud.wait(f"device {dev_hex}: registered on first use")
    cloud.wait(f"device {dev_hex}: online")
    got, stop = [], threading.Event()
    threading.Thread(target=core.serve, args=(stop, got), daemon=True).start()

    events = []

    def listen():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{cloud.api_port}/v1/devices/{dev_hex}/events/my",
                                        timeout=30) as r:
                for raw in r:
                    if raw.startswith(b"event: "):
                        events.append(raw[7:].decode().strip())
        except OSError:
            pass

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.5)
    # the Core's time request, its subscription, an event, a ping (CON empty)
    core.send(bytes([0x41, 0x01]) + core.next_mid() + b"\x07\xb1t")
    core.send(bytes([0x40, 0x01]) + core.next_mid() + b"\xb1e\x05my/in")
    core.send(bytes([0x50, 0x02]) + core.next_mid() + b"\xb1e\x08my/event\xffhello")
    core.send(bytes([0x40, 0x00]) + core.next_mid())

    status, r = cloud.api("POST", f"/v1/devices/{dev_hex}/len", {"arg": "D7,HIGH"})
    check(status == 200 and r["return_value"] == 7 and r["id"] == dev_hex, f"function call: {status} {r}")
    status, r = cloud.api("POST", f"/v1/devices/{dev_hex}/len", json_body={"arg": ""})
    check(status == 200 and r["return_value"] == 0, f"function call with an empty argument: {status} {r}")
    want = {"count": -42, "name": "core", "temp": 21.5, "on": True}
    for name, value in want.items():
        status, r = cloud.api("GET", f"/v1/devices/{dev_hex}/{name}")
        check(status == 200 and r["result"] == value and r["name"] == name, f"variable {name}: {status} {r}")
    status, r = cloud.api("POST", "/v1/devices/events", {"name": "my/in/x", "data": "42"})
    check(status == 200, f"publish: {status} {r}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(m[4:6] == b"\xb1e" and b"my/in/x" in m for m in got):
        time.sleep(0.1)
    check(any(m[4:6] == b"\xb1e" and b"my/in/x" in m and m.endswith(b"42") for m in got),
          "the published event did not reach the Core's subscription")
    check(any(m[1] == 0x45 and len(m) == 4 + 1 + 1 + 4 for m in got), "no time reply")
    check(any(m[:2] == b"\x60\x00" and len(m) == 4 for m in got), "no ACK to the ping / subscription")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "my/event" not in events:
        time.sleep(0.1)
    check("my/event" in events, f"the Core's event did not reach the event stream: {events}")
    status, devices = cloud.api("GET", "/v1/devices")
    check(status == 200 and devices[0]["id"] == dev_hex and devices[0]["connected"], f"/v1/devices: {devices}")
    status, r = cloud.api("GET", f"/v1/devices/{dev_hex}")
    check(status == 200 and r["functions"] == ["len"] and r["variables"]["temp"] == "double", f"info: {r}")

    # API garbage: each answered with an error, the cloud goes on
    check(cloud.raw_http(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.0 400"), "a malformed request line")
    check(b" 413 " in cloud.raw_http(b"POST /v1/devices/events HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"),
          "a huge Content-Length")
    status, r = cloud.api("POST", "/v1/devices/events", json_body=None, params=None)
    check(status == 400, f"publish without a name: {status} {r}")
    req = urllib.request.Request(f"http://127.0.0.1:{cloud.api_port}/v1/devices/{dev_hex}/len", data=b"{bad json",
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        fail("bad JSON accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 400, f"bad JSON: {e.code}")
    for method, path, code in (("GET", "/nowhere", 404), ("GET", "/v1/devices/ffffffffffffffffffffffff", 404),
                               ("GET", f"/v1/devices/{dev_hex}/nosuchvar", 404), ("DELETE", "/v1/devices", 405)):
        status, r = cloud.api(method, path)
        check(status == code and r["ok"] is False, f"{method} {path}: {status} {r}")
    status, r = cloud.api("POST", "/v1/provisioning/xyz", {"public_key": "x"})
    check(status == 400, f"provisioning a bad ID: {status} {r}")
    status, r = cloud.api("POST", f"/v1/provisioning/{dev_hex}", {"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n"})
    check(status == 400, f"provisioning a bad PEM: {status} {r}")
    big = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    status, r = cloud.api("POST", f"/v1/provisioning/{dev_hex}", json_body={"publicKey": big})
    check(status == 400 and "RSA-1024" in r["error"], f"provisioning an RSA-2048 key: {status} {r}")

    # device garbage: random bytes, a key block of zeros, an oversized frame after the handshake
    with socket.create_connection(("127.0.0.1", cloud.port), timeout=10) as s:
        recv_exact(s, 40)
        s.sendall(os.urandom(300))
    with socket.create_connection(("127.0.0.1", cloud.port), timeout=10) as s:
        recv_exact(s, 40)
        s.sendall(bytes(256))
    cloud.wait(r"does not decrypt with the server key")
    other = FakeCore(cloud.port, server_der, bytes.fromhex("00112233445566778899aabb"),
                     rsa.generate_private_key(public_exponent=65537, key_size=1024))
    other.handshake()
    other.s.sendall(b"\xff\xf0" + os.urandom(64))
    cloud.wait(r"device 00112233445566778899aabb: connection closed: a frame of 65520 bytes")

    # the first device still works after all that
    status, r = cloud.api("POST", f"/v1/devices/{dev_hex}/len", {"arg": "abc"})
    check(status == 200 and r["return_value"] == 3, f"function call after the garbage: {status} {r}")

    # SIGTERM with the device connected and the stream open
    t = time.monotonic()
    check(cloud.stop() == 0, "SIGTERM: non-zero exit")
    check(time.monotonic() - t < 8, "SIGTERM took more than 8 s")
    stop.set()

    # restart: same key, the device known; --strict refuses an unknown device and a different key
    cloud = Cloud(cloud_dir, "--strict")
    with open(os.path.join(cloud_dir, "server.der"), "rb") as f:
        check(f.read() == server_der, "the restart made a new server key")
    check(not any("made a new server key" in line for line in cloud.lines), "the restart made a new server key")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    c = FakeCore(cloud.port, server_der, bytes.fromhex("aaaaaaaaaaaaaaaaaaaaaaaa"), stranger)
    try:
        c.handshake()
        fail("--strict accepted an unknown device")
    except ConnectionError:
        pass
    cloud.wait(r"device aaaaaaaaaaaaaaaaaaaaaaaa: REFUSED: unknown device \(--strict\)")
    pem = stranger.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    status, r = cloud.api("POST", "/v1/provisioning/aaaaaaaaaaaaaaaaaaaaaaaa", {"public_key": pem})
    check(status == 200, f"provisioning: {status} {r}")
    c = FakeCore(cloud.port, server_der, bytes.fromhex("aaaaaaaaaaaaaaaaaaaaaaaa"), stranger)
    c.handshake()
    cloud.wait(r"device aaaaaaaaaaaaaaaaaaaaaaaa: online")
    c = FakeCore(cloud.port, server_der, device_id, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    try:
        c.handshake()
        fail("a different key was accepted")
    except ConnectionError:
        pass
    cloud.wait(rf"device {dev_hex}: REFUSED: offers a different key")
    check(cloud.stop() == 0, "SIGTERM: non-zero exit")
    print("PASS: spark-cloud: usage errors, keys kept, handshake, function, 4 variable types, events both ways, "
          "API and device garbage survived, --strict and provisioning, SIGTERM")


main()
