"""The GDB remote protocol on a raw socket, against Tinker (--gdb --gdb-wait): binary garbage, bad
checksums and an over-long packet are refused without harm; registers and memory; M, X and vFlash
writes land in the internal flash image file; holes and system memory refuse writes; a watchpoint
stops the core; a breakpoint, a continue from it and a step; Ctrl-C while running; a client that
vanishes in the middle of a packet; two reconnects (the core ran in between, and halts when a new
client speaks); detach; the run then ends at --run-for with status 0."""
import os
import random
import re
import socket
import struct
import subprocess
import tempfile
import time

from gdbtest import Emulator
from sparktest import check, emulator, fail, firmware, ok


def checksum(data):
    return sum(data) & 0xFF


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as gdb does: an ack and a packet go at once
        self.buf = b""
        self.no_ack = False

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        self.send_raw(b"$" + payload + b"#" + b"%02x" % checksum(payload))

    def byte(self, timeout=20):
        deadline = time.monotonic() + timeout
        while not self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no reply from the GDB server within the time-out")
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                fail("the GDB server closed the connection")
            self.buf += chunk
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def ack(self):
        b = self.byte()
        check(b in (b"+", b"-"), f"expected an ack, got {b!r}")
        return b

    def packet(self, timeout=20):
        """The next packet's payload (acks before it skipped), checksum verified, acked."""
        while self.byte(timeout) != b"$":
            pass
        data = b""
        while True:
            b = self.byte(timeout)
            if b == b"#":
                break
            data += b
        cs = int(self.byte() + self.byte(), 16)
        check(cs == checksum(data), f"bad checksum from the server on {data[:60]!r}")
        if not self.no_ack:
            self.send_raw(b"+")
        out, i = b"", 0
        while i < len(data):  # binary escapes
            if data[i:i + 1] == b"}":
                out += bytes([data[i + 1] ^ 0x20])
                i += 2
            else:
                out += data[i:i + 1]
                i += 1
        return out.decode("latin-1")

    def cmd(self, payload, timeout=20):
        self.send(payload)
        if not self.no_ack:
            check(self.ack() == b"+", f"packet {str(payload)[:40]!r} was refused")
        return self.packet(timeout)

    def monitor(self, text):
        self.send("qRcmd," + text.encode().hex())
        if not self.no_ack:
            self.ack()
        out = ""
        while True:
            p = self.packet()
            if p.startswith("O") and p != "OK":
                out += bytes.fromhex(p[1:]).decode()
            else:
                return p, out

    def drain(self, quiet=0.5):
        """Everything the server sends until it has been quiet for `quiet` seconds."""
        got = self.buf
        self.buf = b""
        self.s.settimeout(quiet)
        while True:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return got
            if not chunk:
                fail("the GDB server closed the connection")
            got += chunk

    def close(self):
        self.s.close()


def le32(hexstr, i):
    return struct.unpack("<I", bytes.fromhex(hexstr[8 * i:8 * i + 8]))[0]


def vtime(c):
    reply, text = c.monitor("time")
    check(reply == "OK", f"monitor time replied {reply!r}")
    m = re.search(r"virtual time (\d+)\.(\d{9}) s", text)
    check(m, f"monitor time printed {text!r}")
    return int(m.group(1)) * 1_000_000_000 + int(m.group(2))  # ns


fw_path = firmware("core_tinker.bin")
with open(fw_path, "rb") as f:
    fw = f.read()
reset_handler = struct.unpack("<I", fw[4:8])[0] & ~1

# --- bad options: exit 2 with the reason, before anything is created
for args, words in [(["--gdb-wait"], "--gdb-wait needs --gdb"),
                    (["--gdb", "70000"], "is not a TCP port"),
                    (["--gdb", "localhost:"], "is not a TCP port"),
                    (["--gdb", "1.2.3.4.5:3333"], "cannot"),
                    (["--gdb", "a:b:3333"], "IPv6 address in brackets")]:
    state = os.path.join(tempfile.mkdtemp(prefix="spark-emu-gdb-bad-"), "state")
    p = subprocess.run([emulator(), "--headless", "--state", state, "--run-for", "1s"] + args,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and words in p.stderr and not os.path.exists(state),
          f"{' '.join(args)}: status {p.returncode}, stderr {p.stderr.strip()!r}, state created: {os.path.exists(state)}")
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
state = os.path.join(tempfile.mkdtemp(prefix="spark-emu-gdb-bad-"), "state")
p = subprocess.run([emulator(), "--headless", "--state", state, "--gdb", f"127.0.0.1:{busy.getsockname()[1]}"],
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "cannot listen" in p.stderr and not os.path.exists(state),
      f"--gdb on a port in use: status {p.returncode}, {p.stderr.strip()!r}")
busy.close()
ok("bad --gdb values and a port in use exit 2 with the reason, creating nothing")

emu = Emulator(["--firmware", fw_path, "--run-for", "3s", "--speed", "realtime"])
try:
    c = Client(emu.port)

    # --- hostile input first: nothing of it may stick
    rnd = random.Random(9)
    c.send_raw(bytes(rnd.randrange(256) for _ in range(8192)))
    c.send_raw(b"$?#00")  # a bad checksum
    c.send_raw(b"$" + b"q" * 6000 + b"#" + b"%02x" % checksum(b"q" * 6000))  # over-long, good checksum
    answers = c.drain()
    check(b"$E01#" in answers, f"the over-long packet was not answered with E01: {answers[-200:]!r}")
    reply = c.cmd("?")
    check(reply.startswith("T05"), f"'?' after garbage answered {reply!r}")
    ok("8 KiB of binary garbage, a bad checksum and a 6000-byte packet left the server working")
    c.send_raw(b"$?#00")
    check(c.byte() == b"-", "a bad checksum was not answered with '-'")
    c.send_raw(b"$" + b"m" * 6000 + b"#" + b"%02x" % checksum(b"m" * 6000))
    check(c.ack() == b"+" and c.packet() == "E01", "an over-long packet was not refused with E01")
    ok("bad checksum -> '-', over-long packet -> E01")

    # random packets with good checksums: every one answered, none harmful (no writes, no resumes among them)
    alphabet = "0123456789abcdefABCDEF,:;=.-+xyz?tT"
    for i in range(1500):
        first = rnd.choice("gpmqHT?QZzv")
        body = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 40)))
        if first in "Zz":  # malformed breakpoint packets only (a type or an address that does not parse)
            body = rnd.choice(["9", "0,", "1,zz", "2,1,", "0,,2", "4," + "f" * 12 + ",4"]) + body
        if first == "v":  # a garbled vCont/vFlash/vRun would resume, write or reset: only unknown v packets
            body = "X" + body
        if first == "q" and rnd.random() < 0.3:
            body = rnd.choice(["Xfer:features:read:target.xml:", "Xfer:memory-map:read::", "Rcmd,", "Supported:",
                               "Xfer:bogus:read::"]) + body
        reply = c.cmd(first + body)
        check(isinstance(reply, str), f"no reply to {first + body!r}")
    check(c.cmd("?").startswith("T05"), "the server stopped answering after random packets")
    check(le32(c.cmd("g"), 15) == struct.unpack("<I", bytes.fromhex(c.cmd("m8000004,4")))[0] & ~1,
          "random packets moved the PC")
    ok("1500 random packets (malformed arguments, unknown kinds) each answered; the core untouched")

    feats = c.cmd("qSupported:swbreak+;hwbreak+")
    check("PacketSize=" in feats and "qXfer:features:read+" in feats, f"qSupported: {feats}")
    xml = c.cmd("qXfer:features:read:target.xml:0,fff")
    for name in ["org.gnu.gdb.arm.m-profile", "org.gnu.gdb.arm.m-system", '"xpsr"', '"msp"', '"psp"',
                 '"primask"', '"basepri"', '"faultmask"', '"control"']:
        check(name in xml, f"the target description lacks {name}")
    check(xml.startswith("l"), "the target description did not fit one reply")
    mm = c.cmd("qXfer:memory-map:read::0,fff")
    check('type="flash" start="0x08000000"' in mm, f"memory map: {mm[:200]}")
    ok("qSupported, the target description (m-profile, m-system) and the memory map")

    regs = c.cmd("g")
    check(len(regs) == 23 * 8, f"'g' gave {len(regs)} hex digits, not 23 registers")
    boot_vectors = bytes.fromhex(c.cmd("m8000000,8"))
    boot_sp, boot_pc = struct.unpack("<II", boot_vectors)
    check(le32(regs, 15) == boot_pc & ~1 and le32(regs, 13) == boot_sp,
          f"pc 0x{le32(regs, 15):08x} sp 0x{le32(regs, 13):08x}, expected the boot ROM's reset vector")
    check(c.cmd("p10") == regs[16 * 8:17 * 8], "'p10' (xpsr) differs from 'g'")
    check(bytes.fromhex(c.cmd("m8005000,40")) == fw[:0x40], "the firmware's first 64 bytes differ")
    check(c.cmd("m20006000,4").startswith("E"), "a read of the hole after SRAM did not fail")
    ok(f"registers (pc 0x{le32(regs, 15):08x}) and memory; a hole reads as an error")

    # --- writes into the flash image
    check(c.cmd("M801f000,4:0df0feca") == "OK", "M into flash failed")
    binary = bytes([0x7D, 0x23, 0x24, 0x2A, 0x00, 0x03, 0xFF, 0x41])
    escaped = b"".join(b"}" + bytes([x ^ 0x20]) if x in b"}#$*" else bytes([x]) for x in binary)
    check(c.cmd(b"X801f010,8:" + escaped) == "OK", "X into flash failed")
    check(c.cmd("m801f000,4") == "0df0feca" and bytes.fromhex(c.cmd("m801f010,8")) == binary,
          "flash does not read back what M and X wrote")
    check(c.cmd("vFlashErase:0801f400,400") == "OK", "vFlashErase failed")
    check(c.cmd("m801f400,4") == "ffffffff", "vFlashErase did not erase")
    flash_data = bytes(range(64))
    fesc = b"".join(b"}" + bytes([x ^ 0x20]) if x in b"}#$*" else bytes([x]) for x in flash_data)
    check(c.cmd(b"vFlashWrite:801f400:" + fesc) == "OK", "vFlashWrite failed")
    check(c.cmd("vFlashDone") == "OK", "vFlashDone failed")
    check(c.cmd("M1ffff000,4:00000000").startswith("E"), "a write to system memory did not fail")
    check(c.cmd("M20006000,4:00000000").startswith("E"), "a write to a hole did not fail")
    check(c.cmd("M20000000,4:efbeadde") == "OK" and c.cmd("m20000000,4") == "efbeadde", "SRAM write")
    ok("M, X (escaped binary) and vFlash writes into the flash; system memory and holes refuse writes")

    # --- a watchpoint: the stack just below the boot ROM's initial SP is written soon
    check(c.cmd("Z2,20004ff0,10") == "OK", "Z2 refused")
    stop = c.cmd("vCont;c")
    m = re.match(r"T05watch:([0-9a-f]+);", stop)
    check(m and 0x20004FF0 <= int(m.group(1), 16) < 0x20005000, f"write watchpoint: stop {stop!r}")
    check(c.cmd("z2,20004ff0,10") == "OK", "z2 refused")
    ok(f"write watchpoint on 0x20004ff0+16 hit: {stop[:40]}")

    # --- a breakpoint on the firmware's reset handler, a continue from it, a step
    check(c.cmd(f"Z0,{reset_handler:x},2") == "OK", "Z0 refused")
    stop = c.cmd("c")
    check(stop.startswith("T05") and "swbreak" in stop, f"breakpoint: stop {stop!r}")
    pc = le32(c.cmd("g"), 15)
    check(pc == reset_handler, f"stopped at 0x{pc:08x}, not the reset handler 0x{reset_handler:08x}")
    stop = c.cmd("s")
    pc2 = le32(c.cmd("g"), 15)
    check(stop.startswith("T05") and pc2 != pc, f"a step from the breakpoint: {stop!r} pc 0x{pc2:08x}")
    check(c.cmd(f"z0,{reset_handler:x},2") == "OK", "z0 refused")
    ok(f"breakpoint at 0x{reset_handler:08x} hit, stepped to 0x{pc2:08x}")

    # --- a step with an exception pending enters its handler, as the hardware does
    vtor = struct.unpack("<I", bytes.fromhex(c.cmd("me000ed08,4")))[0]
    pendsv = struct.unpack("<I", bytes.fromhex(c.cmd(f"m{vtor + 0x38:x},4")))[0] & ~1
    check(c.cmd("Me000ed04,4:00000010") == "OK", "ICSR.PENDSVSET write refused")  # 1 << 28
    stop = c.cmd("s")
    regs = c.cmd("g")
    check(stop.startswith("T05") and le32(regs, 15) == pendsv and le32(regs, 16) & 0x1FF == 14,
          f"a step with PendSV pending: pc 0x{le32(regs, 15):08x} xpsr 0x{le32(regs, 16):08x}, "
          f"expected the handler 0x{pendsv:08x} with IPSR 14")
    ok(f"a step with PendSV pending entered its handler at 0x{pendsv:08x} (IPSR 14)")

    # --- Ctrl-C while running
    t_before = vtime(c)
    c.send("c")
    check(c.ack() == b"+", "'c' was refused")
    time.sleep(0.3)
    c.send_raw(b"\x03")
    stop = c.packet(timeout=20)
    check(stop.startswith("T02"), f"Ctrl-C: stop {stop!r}")
    t_after = vtime(c)
    check(t_after > t_before, f"virtual time did not run while continuing: {t_before} -> {t_after}")
    time.sleep(0.3)
    check(vtime(c) == t_after, "virtual time ran while halted")
    ok(f"Ctrl-C halted the running core at {t_after / 1e9:.6f} s; time stands still while halted")
    reply, text = c.monitor("press mode 200ms")
    check(reply == "OK" and "MODE pressed" in text, f"monitor press: {reply!r} {text!r}")
    reply, text = c.monitor("press sideways")
    check(reply.startswith("E") and "unknown button" in text, f"monitor press sideways: {reply!r} {text!r}")
    reply, text = c.monitor("frobnicate")
    check(reply.startswith("E") and "unknown monitor command" in text, f"unknown monitor command: {reply!r}")

    # --- a breakpoint where the core was idling is hit at once: idle-time skipping never jumps over it
    pc_idle = le32(c.cmd("g"), 15)
    check(c.cmd(f"Z0,{pc_idle:x},2") == "OK", "Z0 refused")
    stop = c.cmd("c")
    t_bp = vtime(c)
    pc = le32(c.cmd("g"), 15)
    check(stop.startswith("T05") and "swbreak" in stop and pc == pc_idle and t_bp - t_after < 20_000_000,
          f"breakpoint at the idle pc 0x{pc_idle:08x}: {stop[:30]!r} at 0x{pc:08x}, {(t_bp - t_after) / 1e6} ms later")
    check(c.cmd(f"z0,{pc_idle:x},2") == "OK", "z0 refused")
    ok(f"a breakpoint at the idle pc 0x{pc_idle:08x} was hit {(t_bp - t_after) / 1e6:.3f} ms later")

    # --- one debugger at a time
    extra = socket.create_connection(("127.0.0.1", emu.port), timeout=10)
    extra.settimeout(10)
    check(extra.recv(16) == b"", "a second client was not turned away")
    extra.close()
    check(c.cmd("?").startswith("T05"), "the first client lost its connection to a second one")
    ok("a second client is turned away while one is connected")

    # --- the client vanishes in the middle of a packet: the core runs on
    c.send_raw(b"$m0800")
    c.close()
    time.sleep(0.3)

    # --- reconnect: no-ack mode; the first packet halts the running core
    c2 = Client(emu.port)
    c2.send_raw(b"+")
    check(c2.cmd("QStartNoAckMode") == "OK", "QStartNoAckMode refused")
    c2.no_ack = True
    stop = c2.cmd("?")
    check(stop.startswith("T05"), f"'?' on reconnect: {stop!r}")
    t2 = vtime(c2)
    check(t2 > t_bp, f"the core did not run while no debugger was there: {t_bp} -> {t2}")
    c2.close()  # gone without a detach
    ok(f"reconnected after the vanished client; the core had run on to {t2 / 1e9:.6f} s")
    time.sleep(0.3)

    c3 = Client(emu.port)
    stop = c3.cmd("?")
    t3 = vtime(c3)
    check(stop.startswith("T05") and t3 > t2, f"second reconnect: {stop!r} at {t3}")
    check(c3.cmd("D") == "OK", "detach refused")
    c3.close()
    ok(f"second reconnect at {t3 / 1e9:.6f} s, detached")

    status = emu.wait(timeout=60)
    check(status == 0, f"spark-emu exited with {status}:\n{emu.stderr()[-2000:]}")
    with open(os.path.join(emu.state, "internal-flash.bin"), "rb") as f:
        image = f.read()
    check(image[0x1F000:0x1F004] == bytes.fromhex("0df0feca") and image[0x1F010:0x1F018] == binary,
          f"M and X writes are not in the image file: {image[0x1F000:0x1F018].hex()}")
    check(image[0x1F400:0x1F440] == flash_data and image[0x1F440:0x1F800] == b"\xff" * 0x3C0,
          "the vFlash page is not in the image file")
    ok("the run ended at --run-for with status 0; the flash writes are in the image file")
    presses = [(r["t_us"], r["pressed"]) for r in emu.records() if r["kind"] == "button" and r["name"] == "mode"]
    t_press = t_after // 1000
    check(presses == [(t_press, True), (t_press + 200_000, False)],
          f"monitor press mode 200ms at {t_press} us: the trace has {presses}")
    ok(f"monitor press mode 200ms: MODE down at {t_press} us and up 200 ms of virtual time later")
finally:
    emu.kill()
