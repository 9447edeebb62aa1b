#!/usr/bin/env python3
"""usbip_client.py - the USB/IP server (emu/host/usbip.c) against the fake
device of usbip_fake_device.c, spoken to by a client written from the
protocol description (Documentation/usb/usbip_protocol.rst) with struct.pack:
OP_REQ_DEVLIST, OP_REQ_IMPORT, USBIP_CMD_SUBMIT and USBIP_CMD_UNLINK, then
hostile input (random bytes, truncated PDUs, huge lengths, unknown commands,
too many connections, clients that vanish mid-URB), after each of which the
server must still answer. Ends with `usbip list` from the usbip package when
it is installed.

usage: usbip_client.py PATH/TO/usbip_fake_device
Every wait is bounded; the fake device is killed at the end in any case.
"""
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

VERSION = 0x0111
OP_REQ_DEVLIST, OP_REP_DEVLIST = 0x8005, 0x0005
OP_REQ_IMPORT, OP_REP_IMPORT = 0x8003, 0x0003
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
NO_ISO = 0xFFFFFFFF
EPIPE, ENOENT, ENODEV, ECONNRESET, ENOSYS = 32, 2, 19, 104, 38
TIMEOUT = 5.0

DEV_DESC = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x50, 0x1D, 0x7F, 0x60, 0x00, 0x02, 1, 2, 3, 1])


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def closed_by_server(sock, within=TIMEOUT):
    """True if the server closes the connection within `within` seconds (data before it is ignored)."""
    sock.settimeout(within)
    end = time.monotonic() + within
    try:
        while time.monotonic() < end:
            if not sock.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True
    return False


def setup_packet(rtype, req, value=0, index=0, length=0):
    return struct.pack("<BBHHH", rtype, req, value, index, length)


def parse_device(b):
    path = b[:256].split(b"\0")[0].decode()
    busid = b[256:288].split(b"\0")[0].decode()
    (busnum, devnum, speed, vid, pid, bcd, cls, sub, proto, cfg, ncfg, nifs) = struct.unpack(
        ">IIIHHHBBBBBB", b[288:312])
    return dict(path=path, busid=busid, busnum=busnum, devnum=devnum, speed=speed, vid=vid, pid=pid, bcd=bcd,
                cls=cls, sub=sub, proto=proto, cfg=cfg, ncfg=ncfg, nifs=nifs)


class Server:
    def __init__(self, binary):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary, "127.0.0.1:0", "110"], stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        check(ready, "the fake device did not say which port it listens on")
        line = self.proc.stdout.readline().decode()
        check(line.startswith("listening on "), "unexpected first line %r" % line)
        self.port = int(line.split()[-1])
        self.connections = 0

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.connections += 1
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def alive(self):
        return self.proc.poll() is None

    def log_lines(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace").splitlines()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
                return None
        return self.proc.returncode


def devlist(server):
    s = server.connect()
    try:
        s.sendall(struct.pack(">HHI", VERSION, OP_REQ_DEVLIST, 0))
        version, code, status, ndev = struct.unpack(">HHII", recv_exact(s, 12))
        check((version, code, status) == (VERSION, OP_REP_DEVLIST, 0), "bad OP_REP_DEVLIST header")
        devices = []
        for _ in range(ndev):
            d = parse_device(recv_exact(s, 312))
            d["interfaces"] = [tuple(recv_exact(s, 4)[:3]) for _ in range(d["nifs"])]
            devices.append(d)
        check(closed_by_server(s), "the server did not close the connection after OP_REP_DEVLIST")
        return devices
    finally:
        s.close()


def wait_for_device(server, within=10.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        devs = devlist(server)
        if devs:
            return devs[0]
        time.sleep(0.05)
    raise Failure("the device did not show up in OP_REP_DEVLIST within %.0f s" % within)


class Client:
    """One imported connection: submits URBs and reads the replies."""

    def __init__(self, server, busid="1-1"):
        self.sock = server.connect()
        self.sock.sendall(struct.pack(">HHI32s", VERSION, OP_REQ_IMPORT, 0, busid.encode()))
        version, code, self.status = struct.unpack(">HHI", recv_exact(self.sock, 8))
        check((version, code) == (VERSION, OP_REP_IMPORT), "bad OP_REP_IMPORT header")
        self.device = parse_device(recv_exact(self.sock, 312)) if self.status == 0 else None
        self.devid = (self.device["busnum"] << 16 | self.device["devnum"]) if self.device else 0
        self.seq = 0
        self.pending = {}  # seqnum -> (in, number_of_packets)

    def close(self):
        self.sock.close()

    def submit(self, ep, direction, length, setup=bytes(8), data=b"", np=NO_ISO, iso=b"", flags=0):
        self.seq += 1
        hdr = struct.pack(">IIIIIIIiII8s", CMD_SUBMIT, self.seq, self.devid, direction, ep, flags, length, 0, np, 0,
                          setup)
        self.pending[self.seq] = (direction == 1, np)
        self.sock.sendall(hdr + data + iso)
        return self.seq

    def control(self, rtype, req, value=0, index=0, length=0, data=b""):
        return self.submit(0, 1 if rtype & 0x80 else 0, max(length, len(data)),
                           setup_packet(rtype, req, value, index, max(length, len(data))), data)

    def unlink(self, victim):
        self.seq += 1
        self.sock.sendall(struct.pack(">IIIIII24s", CMD_UNLINK, self.seq, self.devid, 0, 0, victim, bytes(24)))
        return self.seq

    def reply(self):
        h = recv_exact(self.sock, 48)
        command, seq = struct.unpack(">II", h[:8])
        if command == RET_UNLINK:
            (status,) = struct.unpack(">i", h[20:24])
            return dict(kind="unlink", seq=seq, status=status)
        check(command == RET_SUBMIT, "unknown reply command %d" % command)
        status, actual, _, np, _ = struct.unpack(">iIIII", h[20:40])
        is_in, _ = self.pending.pop(seq, (False, NO_ISO))
        data = recv_exact(self.sock, actual) if is_in and actual else b""
        iso = recv_exact(self.sock, 16 * np) if np not in (0, NO_ISO) else b""
        return dict(kind="submit", seq=seq, status=status, actual=actual, data=data, np=np, iso=iso)

    def wait(self, seq, kind="submit"):
        r = self.reply()
        check(r["kind"] == kind and r["seq"] == seq, "expected %s of #%d, got %r" % (kind, seq, r))
        return r

    def get_descriptor(self, dtype, index=0, length=255, langid=0):
        return self.wait(self.control(0x80, 6, dtype << 8 | index, langid, length))


# ---- the tests --------------------------------------------------------------

def test_devlist_lists_the_enumerated_device(server):
    d = wait_for_device(server)
    check(d["busid"] == "1-1", "busid %r" % d["busid"])
    check(d["path"].endswith("/usb1/1-1"), "path %r" % d["path"])
    check((d["busnum"], d["devnum"], d["speed"]) == (1, 2, 2), "bus/dev/speed %r" % d)
    check((d["vid"], d["pid"], d["bcd"]) == (0x1D50, 0x607F, 0x0200), "ids %r" % d)
    check((d["cfg"], d["ncfg"], d["nifs"]) == (1, 1, 2), "configuration %r" % d)
    check(d["interfaces"] == [(0xFF, 0, 0), (1, 2, 0)], "interfaces %r" % d["interfaces"])


def test_import_refuses_unknown_busid(server):
    c = Client(server, "3-7")
    check(c.status == 1, "import of 3-7 gave status %d" % c.status)
    check(closed_by_server(c.sock), "refused import left the connection open")
    c.close()


def test_import_and_descriptors(server):
    c = Client(server)
    try:
        check(c.status == 0 and c.device["busid"] == "1-1", "import failed: %r" % c.status)
        other = Client(server)
        check(other.status == 1, "a second import of an imported device gave status %d" % other.status)
        other.close()
        r = c.get_descriptor(1, length=18)
        check(r["status"] == 0 and r["data"] == DEV_DESC, "device descriptor %r" % r)
        r = c.get_descriptor(2)
        check(r["status"] == 0 and r["actual"] == 48 and r["data"][:4] == bytes([9, 2, 48, 0]), "config %r" % r)
        r = c.get_descriptor(3, 0)
        check(r["status"] == 0 and r["data"] == bytes([4, 3, 0x09, 0x04]), "langids %r" % r)
        for index, text in ((1, "Maker"), (2, "Widget"), (3, "0123456789AB")):
            r = c.get_descriptor(3, index, langid=0x0409)
            check(r["status"] == 0 and r["data"][2:].decode("utf-16-le") == text, "string %d: %r" % (index, r))
        r = c.get_descriptor(0x22)  # a HID report descriptor: the fake device stalls it
        check(r["status"] == -EPIPE, "a stalled request gave %r" % r)
        r = c.wait(c.control(0x00, 9, 1))  # SET_CONFIGURATION
        check(r["status"] == 0, "SET_CONFIGURATION %r" % r)
        r = c.wait(c.control(0x01, 11, 0, 0))  # SET_INTERFACE
        check(r["status"] == 0, "SET_INTERFACE %r" % r)
        r = c.wait(c.control(0x02, 1, 0, 0x81))  # CLEAR_FEATURE(ENDPOINT_HALT)
        check(r["status"] == 0, "CLEAR_FEATURE %r" % r)
        r = c.wait(c.submit(5, 1, 64))
        check(r["status"] == -ENOENT, "an endpoint the device lacks gave %r" % r)
        iso = struct.pack(">IIIi", 0, 64, 0, 0) + struct.pack(">IIIi", 64, 64, 0, 0)
        r = c.wait(c.submit(3, 1, 128, np=2, iso=iso))
        check(r["status"] == -ENOSYS and r["np"] == 2 and len(r["iso"]) == 32, "ISO %r" % r)
        rr = random.Random(1)
        payload = bytes(rr.randrange(256) for _ in range(100))
        r = c.wait(c.submit(2, 0, len(payload), data=payload))
        check(r["status"] == 0 and r["actual"] == 100, "bulk OUT %r" % r)
        r = c.wait(c.submit(1, 1, 512))
        check(r["status"] == 0 and r["data"] == payload, "bulk IN (loopback) %r" % r)
    finally:
        c.close()


def test_unlink(server):
    c = Client(server)
    try:
        check(c.status == 0, "import failed")
        # a bulk IN the device NAKs
        seq = c.submit(1, 1, 512)
        time.sleep(0.2)
        u = c.unlink(seq)
        r = c.wait(u, "unlink")
        check(r["status"] == -ECONNRESET, "unlink of a pending bulk IN gave %r" % r)
        # a control transfer whose data stage the device NAKs
        seq = c.control(0xC0, 0x02, 0, 0, 8)
        time.sleep(0.2)
        r = c.wait(c.unlink(seq), "unlink")
        check(r["status"] == -ECONNRESET, "unlink of a NAKed control transfer gave %r" % r)
        # no RET_SUBMIT of either follows: the next reply is the next request's
        r = c.get_descriptor(1, length=18)
        check(r["status"] == 0 and r["data"] == DEV_DESC, "after the unlinks %r" % r)
        # an URB that completed: RET_SUBMIT came first, the unlink answers 0
        seq = c.control(0x80, 6, 0x0100, 0, 18)
        c.wait(seq)
        r = c.wait(c.unlink(seq), "unlink")
        check(r["status"] == 0, "unlink of a completed URB gave %r" % r)
        # submit and unlink back to back: either cancelled, or RET_SUBMIT then RET_UNLINK 0
        for _ in range(20):
            seq = c.control(0x80, 6, 0x0200, 0, 255)
            u = c.unlink(seq)
            first = c.reply()
            if first["kind"] == "unlink":
                check(first["seq"] == u and first["status"] == -ECONNRESET, "race: %r" % first)
            else:
                check(first["seq"] == seq and first["status"] == 0, "race: %r" % first)
                r = c.wait(u, "unlink")
                check(r["status"] == 0, "race: RET_SUBMIT then %r" % r)
        r = c.get_descriptor(1, length=18)
        check(r["data"] == DEV_DESC, "after the races %r" % r)
    finally:
        c.close()


def test_port_reset(server):
    c = Client(server)
    try:
        check(c.status == 0, "import failed")
        r = c.wait(c.control(0x23, 3, 4, 1))  # SET_FEATURE(PORT_RESET)
        check(r["status"] == 0, "port reset %r" % r)
        r = c.get_descriptor(1, length=18)
        check(r["status"] == 0 and r["data"] == DEV_DESC, "after the reset %r" % r)
    finally:
        c.close()


def import_again(server, within=3.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        c = Client(server)
        if c.status == 0:
            return c
        c.close()
        time.sleep(0.05)
    raise Failure("the device could not be imported again within %.0f s" % within)


def test_disconnect_mid_urb_unlinks_it(server):
    c = Client(server)
    check(c.status == 0, "import failed")
    c.submit(1, 1, 512)  # pending: the device has nothing
    c.control(0xC0, 0x02, 0, 0, 8)
    time.sleep(0.1)
    c.close()
    c = import_again(server)
    try:
        # the dead client's bulk IN must not eat this data
        r = c.wait(c.submit(2, 0, 10, data=b"0123456789"))
        check(r["status"] == 0, "bulk OUT %r" % r)
        r = c.wait(c.submit(1, 1, 64))
        check(r["data"] == b"0123456789", "a dead client's URB took the data: %r" % r)
    finally:
        c.close()


def test_hostile_input(server):
    rnd = random.Random(7)
    # random bytes, a wrong version, an unknown operation, a truncated header
    for junk in (bytes(rnd.randrange(256) for _ in range(4096)),
                 struct.pack(">HHI", 0x0106, OP_REQ_DEVLIST, 0),
                 struct.pack(">HHI", VERSION, 0x8009, 0),
                 struct.pack(">HHI", 0, CMD_SUBMIT, 0) + bytes(40)):
        s = server.connect()
        try:
            s.sendall(junk)
        except OSError:
            pass
        check(closed_by_server(s), "junk %r... left the connection open" % junk[:8])
        s.close()
    for truncated in (b"\x01\x11\x80", struct.pack(">HHI", VERSION, OP_REQ_IMPORT, 0) + b"1-"):
        s = server.connect()
        s.sendall(truncated)
        s.close()
    # URB phase: huge length, unknown command, bad direction, a truncated header
    for pdu in (struct.pack(">IIIIIIIiII8s", CMD_SUBMIT, 1, 0x10002, 0, 2, 0, 0x7FFFFFFF, 0, NO_ISO, 0, bytes(8)),
                struct.pack(">IIIIIIIiII8s", CMD_SUBMIT, 1, 0x10002, 1, 3, 0, 64, 0, 0x7FFFFFFF, 0, bytes(8)),
                struct.pack(">II40s", 0x99, 1, bytes(40)),
                struct.pack(">II40s", RET_SUBMIT, 1, bytes(40)),
                struct.pack(">IIIII28s", CMD_SUBMIT, 1, 0x10002, 7, 0, bytes(28))):
        c = import_again(server)
        c.sock.sendall(pdu)
        check(closed_by_server(c.sock), "URB-phase PDU %r... left the connection open" % pdu[:8])
        c.close()
    c = import_again(server)
    c.sock.sendall(struct.pack(">IIII", CMD_SUBMIT, 1, 0x10002, 1))
    c.close()
    # random PDUs after a valid command word: answered or closed, never a crash
    for i in range(30):
        c = import_again(server)
        pdu = struct.pack(">I", rnd.choice([CMD_SUBMIT, CMD_UNLINK])) + bytes(rnd.randrange(256) for _ in range(44))
        c.sock.sendall(pdu + bytes(rnd.randrange(256) for _ in range(rnd.randrange(200))))
        c.close()
    # too many connections: the ninth is closed at once, and all is well after
    time.sleep(0.5)  # the server has seen the clients above go
    idle = []
    try:
        for _ in range(8):
            idle.append(server.connect())
        time.sleep(0.2)
        extra = server.connect()
        idle.append(extra)
        check(closed_by_server(extra, 2.0), "a ninth connection was kept open")
    finally:
        for s in idle:
            s.close()
    time.sleep(0.2)
    # a slow but honest client is served
    s = server.connect()
    for b in struct.pack(">HHI", VERSION, OP_REQ_DEVLIST, 0):
        s.sendall(bytes([b]))
        time.sleep(0.02)
    check(struct.unpack(">HHII", recv_exact(s, 12))[3] == 1, "a slow DEVLIST")
    s.close()
    check(server.alive(), "the server died")
    wait_for_device(server)
    c = import_again(server)
    try:
        r = c.get_descriptor(1, length=18)
        check(r["data"] == DEV_DESC, "after the hostile input %r" % r)
    finally:
        c.close()


def test_detach_fails_urbs_and_closes(server):
    c = import_again(server)
    try:
        pending = c.submit(1, 1, 64)
        replug = c.control(0x40, 0x03)
        seen = {}
        for _ in range(2):
            r = c.reply()
            seen[r["seq"]] = r["status"]
        check(seen.get(replug) == 0, "the replug request %r" % seen)
        check(seen.get(pending) == -ENODEV, "a pending URB on detach %r" % seen)
        check(closed_by_server(c.sock), "the imported connection stayed open after the device went away")
    finally:
        c.close()
    wait_for_device(server)
    c = import_again(server)
    try:
        r = c.get_descriptor(1, length=18)
        check(r["data"] == DEV_DESC, "after re-enumeration %r" % r)
    finally:
        c.close()


def test_usbip_list(server):
    usbip = shutil.which("usbip") or ("/usr/sbin/usbip" if os.path.exists("/usr/sbin/usbip") else None)
    if not usbip:
        print("SKIP usbip list: the usbip tool is not installed")
        return
    r = subprocess.run([usbip, "--tcp-port", str(server.port), "list", "-r", "127.0.0.1"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 0, "usbip list rc=%d: %s" % (r.returncode, r.stderr))
    check("1-1" in r.stdout and "1d50:607f" in r.stdout, "usbip list output:\n" + r.stdout)
    print(r.stdout.rstrip())


TESTS = [
    test_devlist_lists_the_enumerated_device,
    test_import_refuses_unknown_busid,
    test_import_and_descriptors,
    test_unlink,
    test_port_reset,
    test_disconnect_mid_urb_unlinks_it,
    test_hostile_input,
    test_detach_fails_urbs_and_closes,
    test_usbip_list,
]


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    server = Server(sys.argv[1])
    failed = 0
    try:
        for t in TESTS:
            start = time.monotonic()
            try:
                t(server)
                print("ok   %-45s %.2f s" % (t.__name__, time.monotonic() - start))
            except (Failure, EOFError, OSError) as e:
                failed += 1
                print("FAIL %-45s %s: %s" % (t.__name__, type(e).__name__, e))
        check(server.alive(), "the fake device exited")
        lines = server.log_lines()
        print("server log: %d lines for %d connections" % (len(lines), server.connections))
        if len(lines) > 2 * server.connections + 10:
            failed += 1
            print("FAIL the server flooded its log:\n" + "\n".join(lines[:20]))
    finally:
        rc = server.stop()
        if rc not in (0, None):
            failed += 1
            print("FAIL the fake device exited with %r" % rc)
        if failed or os.environ.get("USBIP_TEST_VERBOSE"):
            print("\n".join(server.log_lines()[-60:]))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
