"""Malformed and hostile DFU requests against the project's boot ROM, from a libusb client (ctypes) run through
--usb-host-cmd (the umockdev bridge): requests with the wrong wLength, direction, interface or bRequest, requests
the DFU state does not allow, DfuSe addresses outside both flashes, blocks that run past the end of a flash, and
clients killed with a request in flight. Each must end as DFU 1.1 / DfuSe say (a STALL, dfuERROR with the right
bStatus, recovery with CLRSTATUS or ABORT), the emulator must run on and exit normally, and no byte of either
flash outside the range a request addresses may change: the client compares the flash image files, which the
emulator maps MAP_SHARED, before and after every case.

usage: dfu_malformed.py BOOTROM.bin                (the test: prepares a state, runs spark-emu, checks the images)
       dfu_malformed.py client STATE_DIR           (the libusb client, run by --usb-host-cmd)
       dfu_malformed.py killed-client KIND         (a client that dies mid-transfer, run by the client)
"""
import ctypes
import ctypes.util
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
VID, PID = 0x1D50, 0x607F

# The flashes at power-on: the boot ROM, then in every 1 KiB page of internal flash and every 4 KiB sector of the
# external flash a first half of pseudo-random bytes (an erase there shows) and an erased second half (a write
# there shows). The system flags page stays erased, so the ROM starts in DFU mode.
INT_SIZE, EXT_SIZE = 128 * 1024, 2 * 1024 * 1024
INT_BASE = 0x08000000
FLAGS_OFFSET = 0x4C00
PAGE, SECTOR = 1024, 4096

# The targets of the requests that are allowed to change flash (the positive controls).
INT_TARGET = 0x08006000  # page 24: erased and written with one 1 KiB block
EXT_TARGET = 0x00003000  # sector 3: erased and written with 100 bytes

# DFU 1.1 requests, states and status codes
DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
STATE_NAMES = ("appIDLE", "appDETACH", "dfuIDLE", "dfuDNLOAD_SYNC", "dfuDNBUSY", "dfuDNLOAD_IDLE", "dfuMANIFEST_SYNC",
               "dfuMANIFEST", "dfuMANIFEST_WAIT_RESET", "dfuUPLOAD_IDLE", "dfuERROR")
dfuIDLE, dfuDNLOAD_SYNC, dfuDNBUSY, dfuDNLOAD_IDLE, dfuUPLOAD_IDLE, dfuERROR = 2, 3, 4, 5, 9, 10
OK, errWRITE, errADDRESS, errFIRMWARE, errUNKNOWN, errSTALLEDPKT = 0x00, 0x03, 0x08, 0x0A, 0x0E, 0x0F
TRANSFER_SIZE = 1024
# DfuSe commands (block 0)
SET_ADDRESS_POINTER, ERASE, READ_UNPROTECT = 0x21, 0x41, 0x92

# bmRequestType
CLASS_OUT, CLASS_IN = 0x21, 0xA1  # class, interface
STD_DEVICE_IN = 0x80
LIBUSB_ERROR_PIPE = -9
TIMEOUT_MS = 2000


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(msg):
    print("PASS: " + msg, flush=True)


def state_name(state):
    return STATE_NAMES[state] if state < len(STATE_NAMES) else str(state)


def pattern(seed, length):
    return random.Random(seed).randbytes(length)


def initial_images(bootrom):
    internal = bytearray(b"\xff" * INT_SIZE)
    internal[:len(bootrom)] = bootrom
    for page in range(16, INT_SIZE // PAGE):
        if page * PAGE != FLAGS_OFFSET:  # pages 0-15: the ROM, write-protected; page 19: the flags, erased
            internal[page * PAGE:page * PAGE + PAGE // 2] = pattern(page, PAGE // 2)
    external = bytearray(b"\xff" * EXT_SIZE)
    for sector in range(EXT_SIZE // SECTOR):
        external[sector * SECTOR:sector * SECTOR + SECTOR // 2] = pattern(1000 + sector, SECTOR // 2)
    return bytes(internal), bytes(external)


def changed_ranges(a, b, limit=4):
    """The first `limit` runs of differing bytes, as 'start-end' hex offsets."""
    out, i, n = [], 0, len(a)
    while i < n and len(out) < limit:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            out.append(f"0x{i:x}-0x{j - 1:x}")
            i = j
        else:
            i += 1
    return ", ".join(out)


# ---------------------------------------------------------------------------------------------------------------
# The libusb client
# ---------------------------------------------------------------------------------------------------------------

class Transfer(ctypes.Structure):
    """struct libusb_transfer, up to num_iso_packets (no isochronous packets follow)."""
    _fields_ = [("dev_handle", ctypes.c_void_p), ("flags", ctypes.c_uint8), ("endpoint", ctypes.c_ubyte),
                ("type", ctypes.c_ubyte), ("timeout", ctypes.c_uint), ("status", ctypes.c_int),
                ("length", ctypes.c_int), ("actual_length", ctypes.c_int), ("callback", ctypes.c_void_p),
                ("user_data", ctypes.c_void_p), ("buffer", ctypes.c_void_p), ("num_iso_packets", ctypes.c_int)]


def load_libusb():
    name = ctypes.util.find_library("usb-1.0") or "libusb-1.0.so.0"
    lib = ctypes.CDLL(name)
    lib.libusb_open_device_with_vid_pid.restype = ctypes.c_void_p
    lib.libusb_open_device_with_vid_pid.argtypes = [ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint16]
    lib.libusb_control_transfer.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16,
                                            ctypes.c_uint16, ctypes.c_char_p, ctypes.c_uint16, ctypes.c_uint]
    lib.libusb_claim_interface.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.libusb_release_interface.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.libusb_close.argtypes = [ctypes.c_void_p]
    lib.libusb_exit.argtypes = [ctypes.c_void_p]
    lib.libusb_alloc_transfer.restype = ctypes.POINTER(Transfer)
    lib.libusb_alloc_transfer.argtypes = [ctypes.c_int]
    lib.libusb_submit_transfer.argtypes = [ctypes.POINTER(Transfer)]
    lib.libusb_cancel_transfer.argtypes = [ctypes.POINTER(Transfer)]
    return lib


class Dfu:
    """Interface 0 of the Core in DFU mode, opened and claimed."""

    def __init__(self, lib):
        self.lib = lib
        self.open()

    def open(self):
        self.ctx = ctypes.c_void_p()
        check(self.lib.libusb_init(ctypes.byref(self.ctx)) == 0, "libusb_init failed")
        self.h = self.lib.libusb_open_device_with_vid_pid(self.ctx, VID, PID)
        check(self.h, "cannot open 1d50:607f")
        rc = self.lib.libusb_claim_interface(self.h, 0)
        check(rc == 0, f"claiming interface 0 failed: {rc}")

    def close(self):
        self.lib.libusb_release_interface(self.h, 0)
        self.lib.libusb_close(self.h)
        self.lib.libusb_exit(self.ctx)

    def reopen_after(self, run, *args, **kwargs):
        """Let go of the device while another client runs, then open it again; what run returned."""
        self.close()
        try:
            return run(*args, **kwargs)
        finally:
            self.open()

    def request(self, bm, req, value=0, index=0, payload=b""):
        """One control transfer, payload the bytes to send (OUT) or how many to ask for (IN): (libusb's result,
        the bytes read)."""
        if bm & 0x80:
            buf = ctypes.create_string_buffer(max(payload, 1))
            rc = self.lib.libusb_control_transfer(self.h, bm, req, value, index, buf, payload, TIMEOUT_MS)
            return rc, buf.raw[:max(rc, 0)]
        buf = ctypes.create_string_buffer(bytes(payload), max(len(payload), 1))
        return self.lib.libusb_control_transfer(self.h, bm, req, value, index, buf, len(payload), TIMEOUT_MS), b""

    def status(self):
        """GETSTATUS: (bStatus, bwPollTimeout, bState)."""
        rc, b = self.request(CLASS_IN, GETSTATUS, 0, 0, 6)
        check(rc == 6, f"GETSTATUS answered {rc}, not 6 bytes")
        return b[0], b[1] | b[2] << 8 | b[3] << 16, b[4]

    def state(self):
        rc, b = self.request(CLASS_IN, GETSTATE, 0, 0, 1)
        check(rc == 1, f"GETSTATE answered {rc}, not 1 byte")
        return b[0]

    def expect(self, state, status, what):
        got_status, _, got_state = self.status()
        check((got_state, got_status) == (state, status),
              f"{what}: expected {state_name(state)}/status 0x{status:02x}, "
              f"got {state_name(got_state)}/status 0x{got_status:02x}")

    def to_idle(self):
        """dfuIDLE with status OK from wherever the device is, as a careful host gets there."""
        for _ in range(4):
            status, _, state = self.status()
            if state == dfuIDLE and status == OK:
                return
            if state == dfuERROR:
                check(self.request(CLASS_OUT, CLRSTATUS)[0] == 0, "CLRSTATUS in dfuERROR failed")
            else:
                check(self.request(CLASS_OUT, ABORT)[0] == 0, f"ABORT in {state_name(state)} failed")
        fail("the device does not get back to dfuIDLE")

    def clear_error(self, what):
        check(self.request(CLASS_OUT, CLRSTATUS)[0] == 0, f"{what}: CLRSTATUS failed")
        self.expect(dfuIDLE, OK, f"{what}: after CLRSTATUS")

    def dnload(self, block, data):
        return self.request(CLASS_OUT, DNLOAD, block, 0, data)[0]

    def dfuse(self, command, address=None):
        """A DfuSe command in block 0; returns the (bStatus, bState) of the GETSTATUS after the busy one."""
        data = bytes([command]) + (address.to_bytes(4, "little") if address is not None else b"")
        rc = self.dnload(0, data)
        check(rc == len(data), f"DfuSe command {data.hex()}: DNLOAD answered {rc}")
        _, _, state = self.status()
        check(state == dfuDNBUSY, f"DfuSe command {data.hex()}: the first GETSTATUS should be dfuDNBUSY, got "
              f"{state_name(state)}")
        status, _, state = self.status()
        return status, state

    def set_pointer(self, address):
        status, state = self.dfuse(SET_ADDRESS_POINTER, address)
        check((status, state) == (OK, dfuDNLOAD_IDLE),
              f"SET_ADDRESS_POINTER 0x{address:08x}: got {state_name(state)}/0x{status:02x}")

    def write_block(self, block, data):
        """DNLOAD a data block and poll it through: the (bStatus, bState) it ends in."""
        rc = self.dnload(block, data)
        check(rc == len(data), f"DNLOAD block {block}: answered {rc}")
        _, _, state = self.status()
        check(state == dfuDNBUSY, f"DNLOAD block {block}: first GETSTATUS {state_name(state)}")
        status, _, state = self.status()
        return status, state

    def die(self):
        print("dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    def submit(self, bm, req, value, data_or_length):
        """Submit one control transfer asynchronously; the transfer (never freed: the client dies)."""
        n = data_or_length if isinstance(data_or_length, int) else len(data_or_length)
        setup = bytes([bm, req]) + value.to_bytes(2, "little") + (0).to_bytes(2, "little") + n.to_bytes(2, "little")
        payload = setup + (b"\0" * n if isinstance(data_or_length, int) else bytes(data_or_length))
        buf = ctypes.create_string_buffer(payload, len(payload))
        t = self.lib.libusb_alloc_transfer(0)
        check(bool(t), "libusb_alloc_transfer failed")
        callback = ctypes.CFUNCTYPE(None, ctypes.POINTER(Transfer))(lambda _t: None)
        t.contents.dev_handle = self.h
        t.contents.endpoint = 0
        t.contents.type = 0  # LIBUSB_TRANSFER_TYPE_CONTROL
        t.contents.timeout = 0
        t.contents.length = len(payload)
        t.contents.callback = ctypes.cast(callback, ctypes.c_void_p)
        t.contents.buffer = ctypes.cast(buf, ctypes.c_void_p)
        self.keep = (buf, callback)  # alive until the client dies
        rc = self.lib.libusb_submit_transfer(t)
        check(rc == 0, f"libusb_submit_transfer: {rc}")
        return t


class Flash:
    """The emulator's flash images (MAP_SHARED: every completed program or erase is in the file at once)."""

    def __init__(self, state_dir):
        self.paths = (os.path.join(state_dir, "internal-flash.bin"), os.path.join(state_dir, "external-flash.bin"))

    def snapshot(self):
        return tuple(open(p, "rb").read() for p in self.paths)


def expect_unchanged(flash, before, what):
    after = flash.snapshot()
    for name, a, b in zip(("internal", "external"), before, after):
        check(a == b, f"{what}: the {name} flash changed at {changed_ranges(a, b)}")


def expect_stall(rc, what):
    check(rc == LIBUSB_ERROR_PIPE, f"{what}: expected a STALL (LIBUSB_ERROR_PIPE), got {rc}")


# ---- the cases; each starts in dfuIDLE/OK and leaves the device there ----

def test_power_on_error_is_kept_by_a_stalled_dnload(d, flash):
    """The ROM starts in dfuERROR/errFIRMWARE; a DNLOAD there stalls and the first error stays reported."""
    before = flash.snapshot()
    d.expect(dfuERROR, errFIRMWARE, "at power-on")
    expect_stall(d.dnload(2, b"\0" * 64), "DNLOAD in dfuERROR")
    d.expect(dfuERROR, errFIRMWARE, "DNLOAD in dfuERROR")
    expect_stall(d.request(CLASS_IN, UPLOAD, 2, 0, 64)[0], "UPLOAD in dfuERROR")
    d.expect(dfuERROR, errFIRMWARE, "UPLOAD in dfuERROR")
    d.clear_error("power-on error")
    expect_unchanged(flash, before, "requests in dfuERROR")
    ok("power-on dfuERROR/errFIRMWARE: DNLOAD and UPLOAD stall and keep errFIRMWARE; CLRSTATUS gives dfuIDLE")


def test_wrong_wlength_stalls_with_errstalledpkt(d, flash):
    before = flash.snapshot()
    cases = [(f"GETSTATUS wLength {n}", CLASS_IN, GETSTATUS, 0, n) for n in (0, 1, 5, 7, 64)]
    cases += [(f"GETSTATE wLength {n}", CLASS_IN, GETSTATE, 0, n) for n in (0, 2, 6)]
    cases += [(f"UPLOAD wLength {n}", CLASS_IN, UPLOAD, 2, n) for n in (TRANSFER_SIZE + 1, 4096)]
    cases += [(f"DNLOAD wLength {n}", CLASS_OUT, DNLOAD, 2, bytes(n)) for n in (TRANSFER_SIZE + 1, 4096)]
    cases += [("CLRSTATUS wLength 1", CLASS_OUT, CLRSTATUS, 0, b"\0"),
              ("ABORT wLength 2", CLASS_OUT, ABORT, 0, b"\0\0")]
    for what, bm, req, value, arg in cases:
        rc = d.request(bm, req, value, 0, arg)[0]
        expect_stall(rc, what)
        d.expect(dfuERROR, errSTALLEDPKT, what)
        d.clear_error(what)
    expect_unchanged(flash, before, "requests with a wrong wLength")
    ok("wrong wLength (GETSTATUS != 6, GETSTATE != 1, UPLOAD/DNLOAD > wTransferSize 1024, CLRSTATUS/ABORT with "
       "data): STALL, dfuERROR/errSTALLEDPKT, CLRSTATUS recovers; no flash byte changes")


def test_wrong_direction_stalls_with_errstalledpkt(d, flash):
    before = flash.snapshot()
    cases = [("DNLOAD as device-to-host", CLASS_IN, DNLOAD, 2, 64),
             ("UPLOAD as host-to-device", CLASS_OUT, UPLOAD, 2, bytes(64)),
             ("GETSTATUS as host-to-device", CLASS_OUT, GETSTATUS, 0, bytes(6)),
             ("GETSTATE as host-to-device", CLASS_OUT, GETSTATE, 0, bytes(1)),
             ("CLRSTATUS as device-to-host", CLASS_IN, CLRSTATUS, 0, 0),
             ("ABORT as device-to-host", CLASS_IN, ABORT, 0, 0)]
    for what, bm, req, value, arg in cases:
        rc = d.request(bm, req, value, 0, arg)[0]
        expect_stall(rc, what)
        d.expect(dfuERROR, errSTALLEDPKT, what)
        d.clear_error(what)
    expect_unchanged(flash, before, "requests with the wrong direction")
    ok("DFU requests with the wrong direction bit: STALL, dfuERROR/errSTALLEDPKT; no flash byte changes")


def test_unknown_class_requests_and_detach_stall_with_errstalledpkt(d, flash):
    """DFU 1.1 appendix A: in dfuIDLE any other DFU class request stalls and enters dfuERROR."""
    before = flash.snapshot()
    cases = [("DETACH in DFU mode", CLASS_OUT, DETACH, 1000, b""),
             ("class request 7", CLASS_OUT, 7, 0, b""),
             ("class request 0x42 (OUT)", CLASS_OUT, 0x42, 0, b"\x41\x00\x00\x00\x08"),
             ("class request 0x42 (IN)", CLASS_IN, 0x42, 0, 6)]
    for what, bm, req, value, arg in cases:
        rc = d.request(bm, req, value, 0, arg)[0]
        expect_stall(rc, what)
        d.expect(dfuERROR, errSTALLEDPKT, what)
        d.clear_error(what)
    expect_unchanged(flash, before, "unknown class requests")
    ok("DETACH in DFU mode and unknown class requests (7, 0x42): STALL, dfuERROR/errSTALLEDPKT")


def test_requests_to_another_recipient_stall_and_keep_the_state(d, flash):
    """Not a request to the DFU interface (another interface, the device, an endpoint): a plain STALL."""
    before = flash.snapshot()
    cases = [("GETSTATUS to interface 1", CLASS_IN, GETSTATUS, 0, 1, 6),
             ("GETSTATUS to interface 0x80", CLASS_IN, GETSTATUS, 0, 0x80, 6),
             ("DNLOAD to interface 1", CLASS_OUT, DNLOAD, 2, 1, bytes(64)),
             ("ABORT to interface 1", CLASS_OUT, ABORT, 0, 1, b""),
             ("GETSTATUS to the device", 0xA0, GETSTATUS, 0, 0, 6),
             ("GETSTATUS to endpoint 0", 0xA2, GETSTATUS, 0, 0, 6),
             ("vendor request 0x01", 0xC0, 0x01, 0, 0, 4),
             ("vendor request to interface 0", 0x41, DNLOAD, 2, 0, bytes(64))]
    for what, bm, req, value, index, arg in cases:
        rc = d.request(bm, req, value, index, arg)[0]
        expect_stall(rc, what)
        d.expect(dfuIDLE, OK, what)
    expect_unchanged(flash, before, "requests to another recipient")
    ok("class requests to interface 1 or 0x80, the device or an endpoint, and vendor requests: STALL, "
       "the DFU state stays dfuIDLE/OK")


def test_bad_standard_requests_stall_and_keep_the_state(d, flash):
    before = flash.snapshot()
    cases = [("standard request 0x42", STD_DEVICE_IN, 0x42, 0, 0, 8),
             ("standard request 0x42 to interface 0", 0x01, 0x42, 0, 0, b""),
             ("GET_DESCRIPTOR device qualifier", STD_DEVICE_IN, 6, 0x0600, 0, 10),
             ("GET_DESCRIPTOR BOS", STD_DEVICE_IN, 6, 0x0F00, 0, 5),
             ("GET_DESCRIPTOR configuration 1", STD_DEVICE_IN, 6, 0x0201, 0, 36),
             ("GET_DESCRIPTOR string 6", STD_DEVICE_IN, 6, 0x0306, 0x0409, 255),
             ("GET_DESCRIPTOR string 0xEE", STD_DEVICE_IN, 6, 0x03EE, 0, 255),
             ("GET_STATUS device wLength 1", STD_DEVICE_IN, 0, 0, 0, 1),
             ("GET_STATUS endpoint 1", 0x82, 0, 0, 0x81, 2),
             ("SET_INTERFACE alternate 2", 0x01, 11, 2, 0, b""),
             ("SET_FEATURE endpoint 0 halt", 0x02, 3, 0, 0, b""),
             ("SET_DESCRIPTOR", 0x00, 7, 0x0100, 0, bytes(18))]
    for what, bm, req, value, index, arg in cases:
        rc = d.request(bm, req, value, index, arg)[0]
        expect_stall(rc, what)
        d.expect(dfuIDLE, OK, what)
    rc, desc = d.request(STD_DEVICE_IN, 6, 0x0100, 0, 18)
    check(rc == 18 and desc[8:12] == bytes([0x50, 0x1D, 0x7F, 0x60]), f"GET_DESCRIPTOR device after them: {rc}")
    expect_unchanged(flash, before, "bad standard requests")
    ok("unknown or unsupported standard requests (0x42, qualifier, BOS, string 6, SET_INTERFACE 2, SET_FEATURE, "
       "SET_DESCRIPTOR): STALL; the DFU state and the descriptors are unaffected")


def test_requests_the_state_does_not_allow(d, flash):
    before = flash.snapshot()
    # UPLOAD in dfuDNLOAD_IDLE
    d.set_pointer(INT_BASE + 0x7000)
    expect_stall(d.request(CLASS_IN, UPLOAD, 2, 0, 64)[0], "UPLOAD in dfuDNLOAD_IDLE")
    d.expect(dfuERROR, errSTALLEDPKT, "UPLOAD in dfuDNLOAD_IDLE")
    d.clear_error("UPLOAD in dfuDNLOAD_IDLE")
    # DNLOAD in dfuUPLOAD_IDLE
    rc, _ = d.request(CLASS_IN, UPLOAD, 2, 0, TRANSFER_SIZE)
    check(rc == TRANSFER_SIZE, f"UPLOAD of block 2: {rc}")
    d.expect(dfuUPLOAD_IDLE, OK, "after a full UPLOAD")
    expect_stall(d.dnload(2, pattern(1, 64)), "DNLOAD in dfuUPLOAD_IDLE")
    d.expect(dfuERROR, errSTALLEDPKT, "DNLOAD in dfuUPLOAD_IDLE")
    d.clear_error("DNLOAD in dfuUPLOAD_IDLE")
    # a second DNLOAD in dfuDNLOAD_SYNC (no GETSTATUS between): the block that waited is dropped, never written
    d.set_pointer(INT_BASE + 0x7200)  # the erased half of page 28
    check(d.dnload(2, pattern(2, 256)) == 256, "DNLOAD of block 2")
    check(d.state() == dfuDNLOAD_SYNC, "GETSTATE after DNLOAD should be dfuDNLOAD_SYNC")
    expect_stall(d.dnload(3, pattern(3, 256)), "DNLOAD in dfuDNLOAD_SYNC")
    d.expect(dfuERROR, errSTALLEDPKT, "DNLOAD in dfuDNLOAD_SYNC")
    d.clear_error("DNLOAD in dfuDNLOAD_SYNC")
    # UPLOAD of block 1, which means nothing in DfuSe
    expect_stall(d.request(CLASS_IN, UPLOAD, 1, 0, 64)[0], "UPLOAD of block 1")
    d.expect(dfuERROR, errSTALLEDPKT, "UPLOAD of block 1")
    d.clear_error("UPLOAD of block 1")
    # CLRSTATUS outside dfuERROR: the Core bootloader's answer (acknowledged, dfuERROR/errUNKNOWN), kept by the ROM
    check(d.request(CLASS_OUT, CLRSTATUS)[0] == 0, "CLRSTATUS in dfuIDLE")
    d.expect(dfuERROR, errUNKNOWN, "CLRSTATUS in dfuIDLE")
    d.clear_error("CLRSTATUS in dfuIDLE")
    expect_unchanged(flash, before, "requests in the wrong state")
    ok("UPLOAD in dfuDNLOAD_IDLE, DNLOAD in dfuUPLOAD_IDLE or dfuDNLOAD_SYNC, UPLOAD of block 1: STALL, "
       "dfuERROR/errSTALLEDPKT, the waiting block is never written; CLRSTATUS in dfuIDLE: dfuERROR/errUNKNOWN")


def test_valid_erase_and_write_change_only_their_target(d, flash):
    """The positive control: the image comparison sees exactly what a correct request changes."""
    internal, external = flash.snapshot()
    data = pattern(10, TRANSFER_SIZE)
    check(d.dfuse(ERASE, INT_TARGET) == (OK, dfuDNLOAD_IDLE), f"ERASE 0x{INT_TARGET:08x}")
    d.set_pointer(INT_TARGET)
    check(d.write_block(2, data) == (OK, dfuDNLOAD_IDLE), f"block 2 at 0x{INT_TARGET:08x}")
    d.to_idle()
    rc, back = d.request(CLASS_IN, UPLOAD, 2, 0, TRANSFER_SIZE)
    check(rc == TRANSFER_SIZE and back == data, "UPLOAD of the written block reads it back")
    d.to_idle()
    ext_data = pattern(11, 100)
    check(d.dfuse(ERASE, EXT_TARGET) == (OK, dfuDNLOAD_IDLE), f"ERASE 0x{EXT_TARGET:08x}")
    d.set_pointer(EXT_TARGET)
    check(d.write_block(2, ext_data) == (OK, dfuDNLOAD_IDLE), f"block 2 at 0x{EXT_TARGET:08x}")
    d.to_idle()
    want_int = bytearray(internal)
    off = INT_TARGET - INT_BASE
    want_int[off:off + TRANSFER_SIZE] = data
    want_ext = bytearray(external)
    want_ext[EXT_TARGET:EXT_TARGET + SECTOR] = ext_data + b"\xff" * (SECTOR - len(ext_data))
    got_int, got_ext = flash.snapshot()
    check(got_int == bytes(want_int), f"internal flash after the valid write: {changed_ranges(want_int, got_int)}")
    check(got_ext == bytes(want_ext), f"external flash after the valid write: {changed_ranges(want_ext, got_ext)}")
    ok("a valid ERASE + 1 KiB block at 0x08006000 and 100 bytes at 0x3000 change exactly those bytes")


def test_dfuse_addresses_outside_both_flashes_are_erraddress(d, flash):
    before = flash.snapshot()
    outside = (INT_BASE + INT_SIZE, 0x0BFFFC00, EXT_SIZE, 0x03FFF000, 0x20000000, 0x40000000, 0xFFFFFC00)
    for address in outside:
        what = f"SET_ADDRESS_POINTER 0x{address:08x}"
        check(d.dfuse(SET_ADDRESS_POINTER, address) == (errADDRESS, dfuERROR), f"{what}: dfuERROR/errADDRESS")
        d.clear_error(what)
        what = f"ERASE 0x{address:08x}"
        check(d.dfuse(ERASE, address) == (errADDRESS, dfuERROR), f"{what}: dfuERROR/errADDRESS")
        d.clear_error(what)
    # A refused address leaves the pointer where it was (before, 0xFFFFFC00 + 1 KiB wrapped round to SPI flash 0)
    d.set_pointer(INT_BASE + 0x7600)
    for address in outside:
        for command in (SET_ADDRESS_POINTER, ERASE):
            check(d.dfuse(command, address) == (errADDRESS, dfuERROR), f"command 0x{command:02x} 0x{address:08x}")
            d.clear_error("refused address")
    rc, back = d.request(CLASS_IN, UPLOAD, 2, 0, 16)
    check(rc == 16 and back == before[0][0x7600:0x7610], "after refused addresses, UPLOAD still reads 0x08007600")
    d.to_idle()
    expect_unchanged(flash, before, "DfuSe commands outside both flashes")
    ok("SET_ADDRESS_POINTER and ERASE at 0x08020000, 0x0BFFFC00, 0x00200000, 0x03FFF000, RAM, peripherals, "
       "0xFFFFFC00: dfuERROR/errADDRESS, the pointer keeps its last valid value; no flash byte changes")


def test_blocks_past_the_end_of_a_flash_are_erraddress(d, flash):
    """A block that does not fit its memory writes nothing at all, not even its part inside the memory."""
    before = flash.snapshot()
    cases = [(INT_BASE + INT_SIZE - 512, 2, TRANSFER_SIZE),  # 512 bytes in, 512 past the end
             (INT_BASE + INT_SIZE - 2, 2, 4),
             (INT_BASE + INT_SIZE - TRANSFER_SIZE, 3, TRANSFER_SIZE),  # starts at the end
             (INT_BASE + 0x5000, 0xFFFF, TRANSFER_SIZE),  # pointer + 0xFFFD KiB: in no memory
             (EXT_SIZE - 512, 2, TRANSFER_SIZE),
             (EXT_SIZE - 1, 2, 2),
             (EXT_SIZE - TRANSFER_SIZE, 3, TRANSFER_SIZE),
             (0, 0xFFFF, TRANSFER_SIZE)]
    for pointer, block, length in cases:
        what = f"block {block} ({length} bytes) at pointer 0x{pointer:08x}"
        d.set_pointer(pointer)
        check(d.write_block(block, pattern(pointer ^ block, length)) == (errADDRESS, dfuERROR),
              f"{what}: dfuERROR/errADDRESS")
        d.clear_error(what)
        expect_unchanged(flash, before, what)
    ok("DNLOAD blocks running past the end of the internal (0x08020000) or external (0x200000) flash, or to no "
       "memory: dfuERROR/errADDRESS and not one byte written")


def test_protected_and_odd_targets_write_nothing(d, flash):
    before = flash.snapshot()
    # Pages 0-15 hold the boot ROM and are write-protected (FLASH_WRPR, as on a shipped Core).
    check(d.dfuse(ERASE, INT_BASE) == (errWRITE, dfuERROR), "ERASE 0x08000000: dfuERROR/errWRITE")
    d.clear_error("ERASE 0x08000000")
    d.set_pointer(INT_BASE + 0x3C00)
    check(d.write_block(2, b"\0" * TRANSFER_SIZE) == (errWRITE, dfuERROR), "block at 0x08003C00: errWRITE")
    d.clear_error("block at 0x08003C00")
    # the STM32 programs half-words: an odd address is refused
    d.set_pointer(INT_BASE + 0x7A01)
    check(d.write_block(2, pattern(4, 16)) == (errADDRESS, dfuERROR), "block at 0x08007A01: errADDRESS")
    d.clear_error("block at 0x08007A01")
    expect_unchanged(flash, before, "protected and odd targets")
    ok("ERASE of 0x08000000 and a block at 0x08003C00 (write-protected boot ROM): dfuERROR/errWRITE; a block at "
       "an odd internal address: errADDRESS; no flash byte changes")


def test_unsupported_dfuse_commands_change_nothing(d, flash):
    """As on the Core bootloader: mass erase, read unprotect, unknown and short commands are ignored (OK)."""
    before = flash.snapshot()
    for data in (bytes([ERASE]), bytes([READ_UNPROTECT]), bytes([0x55, 0, 0x60, 0, 8]),
                 bytes([SET_ADDRESS_POINTER, 0, 0x60]), bytes([ERASE]) + bytes(7)):
        what = f"DfuSe command {data.hex()}"
        check(d.dnload(0, data) == len(data), f"{what}: DNLOAD")
        _, _, state = d.status()
        check(state == dfuDNBUSY, f"{what}: dfuDNBUSY first")
        d.expect(dfuDNLOAD_IDLE, OK, what)
        d.to_idle()
    expect_unchanged(flash, before, "unsupported DfuSe commands")
    ok("mass erase (1-byte ERASE), read unprotect, an unknown command and commands of the wrong length: "
       "ignored as by the Core bootloader; no flash byte changes")


def test_uploads_stop_at_the_end_of_a_flash(d, flash):
    internal, external = flash.snapshot()
    for pointer, image, offset in ((INT_BASE + INT_SIZE - 512, internal, INT_SIZE - 512),
                                   (EXT_SIZE - 512, external, EXT_SIZE - 512)):
        d.set_pointer(pointer)
        d.to_idle()
        rc, data = d.request(CLASS_IN, UPLOAD, 2, 0, TRANSFER_SIZE)
        check(rc == 512 and data == image[offset:], f"UPLOAD at 0x{pointer:08x}: {rc} bytes, not the last 512")
        d.expect(dfuIDLE, OK, "a short UPLOAD ends the upload")
        rc, _ = d.request(CLASS_IN, UPLOAD, 3, 0, TRANSFER_SIZE)
        check(rc == 0, f"UPLOAD of the block after the end: {rc} bytes")
        d.expect(dfuIDLE, OK, "an empty UPLOAD ends the upload")
    d.set_pointer(INT_BASE + 0x5000)
    d.to_idle()
    expect_stall(d.request(CLASS_IN, UPLOAD, 0xFFFF, 0, 64)[0], "UPLOAD of a block in no memory")
    d.expect(dfuERROR, errADDRESS, "UPLOAD of a block in no memory")
    d.clear_error("UPLOAD in no memory")
    ok("UPLOAD at the end of either flash: a short frame of what is there, then an empty one, dfuIDLE; "
       "a block in no memory: STALL, dfuERROR/errADDRESS")


# ---- clients that die mid-transfer ----

def run_killed(kind):
    """Run a client that dies by SIGKILL with a transfer unfinished; bounded."""
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "killed-client", kind], capture_output=True,
                       text=True, timeout=20)
    check(p.returncode == -signal.SIGKILL and p.stdout.endswith("dying\n"),
          f"killed client {kind}: it should die by SIGKILL; status {p.returncode}, out {p.stdout!r} "
          f"err {p.stderr[-500:]!r}")


def killed_client(kind):
    d = Dfu(load_libusb())
    d.to_idle()
    if kind == "after-dnload":
        d.set_pointer(INT_BASE + 0x7E00)  # the erased half of page 31
        check(d.dnload(2, pattern(20, 512)) == 512, "DNLOAD")
        d.die()  # the block waits for a GETSTATUS that never comes
    elif kind == "dnload-in-flight":
        d.set_pointer(INT_BASE + 0x7E00)
        d.submit(CLASS_OUT, DNLOAD, 2, pattern(21, 512))
        d.die()
    elif kind == "upload-in-flight":
        check(d.request(CLASS_IN, UPLOAD, 2, 0, TRANSFER_SIZE)[0] == TRANSFER_SIZE, "first UPLOAD")
        d.submit(CLASS_IN, UPLOAD, 3, TRANSFER_SIZE)
        d.die()
    elif kind == "getstatus-cut-while-erasing":
        # The ROM erases in its USB interrupt, after the status stage of the GETSTATUS that said dfuDNBUSY
        # (25 ms for an SPI flash sector). A GETSTATUS sent at once is taken by the hardware but its data
        # stage is NAKed until the erase is done; the client cancels it and dies meanwhile.
        check(d.dnload(0, bytes([ERASE]) + EXT_TARGET.to_bytes(4, "little")) == 5, "ERASE command")
        check(d.status()[2] == dfuDNBUSY, "ERASE: dfuDNBUSY")
        t = d.submit(CLASS_IN, GETSTATUS, 0, 6)
        time.sleep(0.005)
        check(d.lib.libusb_cancel_transfer(t) == 0, "libusb_cancel_transfer")
        d.die()
    fail(f"unknown killed client {kind}")


def test_client_killed_between_dnload_and_getstatus(d, flash):
    before = flash.snapshot()
    d.reopen_after(run_killed, "after-dnload")
    check(d.state() == dfuDNLOAD_SYNC, "after a client died between DNLOAD and GETSTATUS: dfuDNLOAD_SYNC")
    check(d.request(CLASS_OUT, ABORT)[0] == 0, "ABORT in dfuDNLOAD_SYNC")
    d.expect(dfuIDLE, OK, "ABORT after the dead client's DNLOAD")
    expect_unchanged(flash, before, "a client killed between DNLOAD and GETSTATUS, then ABORT")
    ok("a client killed between DNLOAD and GETSTATUS: the next client finds dfuDNLOAD_SYNC, ABORT gives dfuIDLE, "
       "the block is never written")


def test_client_killed_with_a_dnload_in_flight(d, flash):
    before = flash.snapshot()
    d.reopen_after(run_killed, "dnload-in-flight")
    state = d.state()
    check(state in (dfuDNLOAD_IDLE, dfuDNLOAD_SYNC), f"after a client died mid-DNLOAD: {state_name(state)}")
    check(d.request(CLASS_OUT, ABORT)[0] == 0, "ABORT after the dead client's DNLOAD")
    d.expect(dfuIDLE, OK, "ABORT after a DNLOAD in flight")
    expect_unchanged(flash, before, "a client killed with a DNLOAD in flight, then ABORT")
    ok("a client killed with a DNLOAD in flight: ABORT gives dfuIDLE, nothing written")


def test_client_killed_with_an_upload_in_flight(d, flash):
    before = flash.snapshot()
    d.reopen_after(run_killed, "upload-in-flight")
    check(d.state() == dfuUPLOAD_IDLE, "after a client died mid-UPLOAD: dfuUPLOAD_IDLE")
    check(d.request(CLASS_OUT, ABORT)[0] == 0, "ABORT in dfuUPLOAD_IDLE")
    d.expect(dfuIDLE, OK, "ABORT after an UPLOAD in flight")
    d.set_pointer(INT_BASE + 0x6400)
    d.to_idle()
    rc, data = d.request(CLASS_IN, UPLOAD, 2, 0, TRANSFER_SIZE)
    check(rc == TRANSFER_SIZE and data == before[0][0x6400:0x6800], "a full UPLOAD after the dead client's")
    d.to_idle()
    expect_unchanged(flash, before, "a client killed with an UPLOAD in flight")
    ok("a client killed with an UPLOAD in flight: the next client finds dfuUPLOAD_IDLE, ABORT, a 1 KiB UPLOAD "
       "reads the flash correctly")


def test_client_killed_with_a_getstatus_cut_in_its_data_stage(d, flash):
    internal, external = flash.snapshot()
    d.reopen_after(run_killed, "getstatus-cut-while-erasing")
    # dfuDNLOAD_IDLE if the ROM answered the cut GETSTATUS; dfuDNLOAD_SYNC if it never saw it (the next client's
    # SETUP, also taken by the hardware while the ROM erases, replaces it in the packet memory)
    state = d.state()
    check(state in (dfuDNLOAD_IDLE, dfuDNLOAD_SYNC), f"after the cut GETSTATUS: {state_name(state)}")
    check(d.request(CLASS_OUT, ABORT)[0] == 0, "ABORT after the cut GETSTATUS")
    d.expect(dfuIDLE, OK, "ABORT after the cut GETSTATUS")
    want = bytearray(external)
    want[EXT_TARGET:EXT_TARGET + SECTOR] = b"\xff" * SECTOR
    got_int, got_ext = flash.snapshot()
    check(got_int == internal, f"internal flash changed at {changed_ranges(internal, got_int)}")
    check(got_ext == bytes(want), f"external flash: {changed_ranges(want, got_ext)}, not just sector 0x3000 erased")
    ok("a client that dies with a GETSTATUS cut in its data stage while the ROM erases: the erase completes, "
       "ABORT gives dfuIDLE, only the erased sector changed")


def test_dfu_util_reads_back_afterwards(d, flash):
    """A real client after all that: dfu-util reads the firmware area back."""
    if not shutil.which("dfu-util"):
        return
    out = os.path.join(tempfile.mkdtemp(), "upload.bin")
    p = d.reopen_after(subprocess.run, ["dfu-util", "-d", "1d50:607f", "-a", "0", "-s", "0x08006000:4096",
                                        "-U", out], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"dfu-util -U: {p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    check(open(out, "rb").read() == flash.snapshot()[0][0x6000:0x7000], "dfu-util's upload matches the flash")
    ok("dfu-util -U 0x08006000:4096 afterwards reads the flash correctly")


CASES = (test_power_on_error_is_kept_by_a_stalled_dnload,
         test_wrong_wlength_stalls_with_errstalledpkt,
         test_wrong_direction_stalls_with_errstalledpkt,
         test_unknown_class_requests_and_detach_stall_with_errstalledpkt,
         test_requests_to_another_recipient_stall_and_keep_the_state,
         test_bad_standard_requests_stall_and_keep_the_state,
         test_requests_the_state_does_not_allow,
         test_dfuse_addresses_outside_both_flashes_are_erraddress,
         test_blocks_past_the_end_of_a_flash_are_erraddress,
         test_protected_and_odd_targets_write_nothing,
         test_unsupported_dfuse_commands_change_nothing,
         test_uploads_stop_at_the_end_of_a_flash,
         test_client_killed_between_dnload_and_getstatus,
         test_client_killed_with_a_dnload_in_flight,
         test_client_killed_with_an_upload_in_flight,
         test_client_killed_with_a_getstatus_cut_in_its_data_stage,
         test_valid_erase_and_write_change_only_their_target,  # the sector 0x3000 erase above comes first
         test_dfu_util_reads_back_afterwards)


def client(state_dir):
    flash = Flash(state_dir)
    d = Dfu(load_libusb())
    failed = 0
    for case in CASES:
        try:
            if case is not CASES[0]:  # the first case looks at the power-on state
                d.to_idle()
            case(d, flash)
            d.expect(dfuIDLE, OK, "afterwards")
        except Failure as e:  # go on with the next case, so that one run shows every difference
            failed += 1
            print(f"FAIL: {case.__name__}: {e}", flush=True)
    d.close()
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------------------
# The test: prepare the flash images, run the emulator with the client, check the result
# ---------------------------------------------------------------------------------------------------------------

def main_test(bootrom_path):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
    from sparktest import Run
    if not (ctypes.util.find_library("usb-1.0") or os.path.exists("/usr/lib/x86_64-linux-gnu/libusb-1.0.so.0")):
        print("SKIP: libusb-1.0 is not installed")
        return SKIP
    work = tempfile.mkdtemp(prefix="spark-emu-dfu-malformed-")
    os.environ["TMPDIR"] = tempfile.tempdir = work  # the run and umockdev's testbeds go here, removed with it
    state = os.path.join(work, "state")
    os.makedirs(state)
    internal, external = initial_images(open(bootrom_path, "rb").read())
    with open(os.path.join(state, "internal-flash.bin"), "wb") as f:
        f.write(internal)
    with open(os.path.join(state, "external-flash.bin"), "wb") as f:
        f.write(external)
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))} client {shlex.quote(state)}"
    run = Run(["--quiet", "--state", state, "--usb-host-cmd", cmd], expect_status=None, timeout=120)
    sys.stdout.write(run.stdout)
    check(run.status == 0, f"spark-emu exited {run.status}\n{run.stderr[-3000:]}")
    check(not run.kind("fault"), f"faults in the trace: {run.kind('fault')[:3]}")
    check([r["cause"] for r in run.kind("reset")] == ["power"], f"resets: {run.kind('reset')}")
    attaches = [r for r in run.kind("usb") if r["event"] == "attach"]
    check(len(attaches) == 1, f"the device enumerated once and never again: {attaches}")
    ok("spark-emu ran through all of it without a fault, a reset or a re-enumeration, and exited 0")
    # the trace's flash operations: only the positive controls' erases and programs, nothing even tried elsewhere
    targets = {"internal": (INT_TARGET, INT_TARGET + PAGE), "external": (EXT_TARGET, EXT_TARGET + SECTOR)}
    operations = run.kind("flash")
    for r in operations:
        start, end = targets[r["dev"]]
        length = r.get("len", PAGE if r["op"] == "erase" else 2)
        check(start <= r["addr"] and r["addr"] + length <= end, f"a flash operation outside the targets: {r}")
    check(len(operations) == 1 + PAGE // 2 + 3, f"{len(operations)} flash operations, not the expected 516")
    ok("the trace's flash operations: one page erase and 512 half-word programs in 0x08006000-0x080063FF, two "
       "sector erases and one program in 0x3000-0x3FFF, nothing else")
    # after the emulator has gone: only the two positive controls changed anything
    want_int, want_ext = bytearray(internal), bytearray(external)
    off = INT_TARGET - INT_BASE
    want_int[off:off + TRANSFER_SIZE] = pattern(10, TRANSFER_SIZE)
    want_ext[EXT_TARGET:EXT_TARGET + SECTOR] = pattern(11, 100) + b"\xff" * (SECTOR - 100)
    got_int = open(os.path.join(state, "internal-flash.bin"), "rb").read()
    got_ext = open(os.path.join(state, "external-flash.bin"), "rb").read()
    check(got_int == bytes(want_int), f"internal flash: unexpected changes at {changed_ranges(want_int, got_int)}")
    check(got_ext == bytes(want_ext), f"external flash: unexpected changes at {changed_ranges(want_ext, got_ext)}")
    ok("the stored images differ from the initial ones only in 0x08006000-0x080063FF and 0x3000-0x3FFF")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        return client(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "killed-client":
        return killed_client(sys.argv[2])
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    return main_test(sys.argv[1])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("FAIL: " + str(e), file=sys.stderr, flush=True)
        sys.exit(1)
