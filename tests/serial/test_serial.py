#!/usr/bin/env python3
"""test_serial.py - the USB serial adapter seen from a terminal program.

Runs serial_fake (a virtual USB host with a fake CDC ACM Core that echoes in
upper case and prints the class requests it gets) and uses its pty as
particle-cli and terminal programs do: raw 9600 8N1, then a non-standard baud
rate through termios2 (BOTHER), as serialport sets 14400 for the DFU trigger.

Usage: test_serial.py SERIAL_FAKE
"""
import fcntl
import os
import queue
import select
import struct
import subprocess
import sys
import termios
import threading
import time
import tty

TIMEOUT = 5.0

# struct termios2 (asm-generic): 4 flags, c_line, c_cc[19], c_ispeed, c_ospeed = 44 bytes
TERMIOS2_SIZE = 44
TCGETS2 = (2 << 30) | (TERMIOS2_SIZE << 16) | (ord("T") << 8) | 0x2A
TCSETS2 = (1 << 30) | (TERMIOS2_SIZE << 16) | (ord("T") << 8) | 0x2B
CBAUD = 0o010017
BOTHER = 0o010000


class Fake:
    def __init__(self, exe):
        self.proc = subprocess.Popen([exe, "60"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        self.unclaimed = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, wanted, timeout=TIMEOUT):
        """Wait for a line starting with `wanted` that no earlier expect took, in any order; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.unclaimed):
                if line.startswith(wanted):
                    return self.unclaimed.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted!r} from serial_fake within {timeout} s; saw {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            self.unclaimed.append(line)

    def stop(self):
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("serial_fake did not stop when its stdin closed")


def open_like_a_terminal_program(path):
    """As serialport opens a port: raw 8N1 at 9600, then tcflush."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = termios.B9600
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    termios.tcflush(fd, termios.TCIOFLUSH)
    return fd


def set_custom_baud(fd, baud):
    t = bytearray(fcntl.ioctl(fd, TCGETS2, bytes(TERMIOS2_SIZE)))
    iflag, oflag, cflag, lflag = struct.unpack_from("=4I", t)
    cflag = (cflag & ~CBAUD) | BOTHER
    struct.pack_into("=4I", t, 0, iflag, oflag, cflag, lflag)
    struct.pack_into("=2I", t, TERMIOS2_SIZE - 8, baud, baud)
    fcntl.ioctl(fd, TCSETS2, bytes(t))


def read_until(fd, wanted, timeout=TIMEOUT):
    got = b""
    deadline = time.monotonic() + timeout
    while wanted not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"read {got!r}, wanted {wanted!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            got += os.read(fd, 256)
    return got


def main():
    fake = Fake(sys.argv[1])
    failed = False
    try:
        pty = fake.expect("PTY ").split(" ", 1)[1]
        assert pty.startswith("/dev/pts/"), pty

        # test_opening_the_port_sends_line_coding_and_raises_dtr
        fd = open_like_a_terminal_program(pty)
        fake.expect("LINE_CODING 9600 0 0 8")
        fake.expect("CONTROL_LINE_STATE 3")
        fake.expect("HOLD 1")
        print("ok - opening the port sends SET_LINE_CODING 9600 8N1 and DTR|RTS, and holds real time")

        # test_typed_bytes_reach_the_core_and_its_answer_comes_back
        os.write(fd, b"hello")
        fake.expect("OUT hello")
        got = read_until(fd, b"HELLO")
        assert got == b"HELLO", got
        print("ok - typed bytes reach the Core and its answer comes back")

        # test_a_new_baud_rate_sends_set_line_coding (14400: the firmware's DFU trigger)
        set_custom_baud(fd, 14400)
        fake.expect("LINE_CODING 14400 0 0 8")
        print("ok - a new baud rate on the slave sends SET_LINE_CODING 14400")

        # test_closing_the_port_drops_dtr
        os.close(fd)
        fake.expect("CONTROL_LINE_STATE 0")
        fake.expect("HOLD 0")
        print("ok - closing the port drops DTR|RTS and the real-time hold")

        # test_a_short_open_write_close_still_delivers (echo i > /dev/pts/N)
        fd = os.open(pty, os.O_WRONLY | os.O_NOCTTY)
        os.write(fd, b"i")
        os.close(fd)
        fake.expect("LINE_CODING")
        fake.expect("CONTROL_LINE_STATE 3")
        fake.expect("OUT i")
        fake.expect("CONTROL_LINE_STATE 0")
        print("ok - a short open, write and close still delivers the byte")

        # test_stop_joins_the_io_thread
        rc = fake.stop()
        assert rc == 0, rc
        fake.expect("STOPPED", 1)
        print("ok - stopping joins the I/O thread and exits cleanly")
    except AssertionError as e:
        print(f"not ok - {e}")
        failed = True
    finally:
        if fake.proc.poll() is None:
            fake.proc.kill()
            fake.proc.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
