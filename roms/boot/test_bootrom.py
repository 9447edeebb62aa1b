"""test_bootrom.py - the boot ROM's observable behaviour, checked on spark-emu with synthetic images only (no
downloaded firmware), so it runs everywhere the ROM builds.

Usage: test_bootrom.py --emu SPARK_EMU --rom bootrom.bin --sleep-request sleep_request.bin SCENARIO

Every firmware image here is a plausible vector table (MSP 0x20005000, reset vector just after it) whose code is
a branch-to-self, followed by a payload that tells the images apart. Such a firmware never feeds the watchdog the
ROM starts, so each start of it ends in an IWDG reset about 5 s later: that is how the tests see that the ROM
jumped, and it drives the watchdog-recovery ladder.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

INT_SIZE = 128 * 1024
EXT_SIZE = 2 * 1024 * 1024
FW_OFFSET = 0x5000
FW_SIZE = 0x1B000
FLAGS_OFFSET = 0x4C00
FACTORY, BACKUP, OTA = 0x20000, 0x40000, 0x60000
VECTORS = 16 + 43
USB_LP_CAN1_RX0 = 20  # IRQ number (RM0008 table 63)
BX_LR = 0x4770
ROM_BASE = 0x08000000

MS = 1000
S = 1000 * MS


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(msg):
    print("PASS: " + msg)


def firmware_image(tag):
    """A hanging firmware whose bytes after the code depend on `tag`."""
    code = struct.pack("<2IH", 0x20005000, 0x08005009, 0xE7FE) + b"\0\0"
    payload = bytes((tag * 7 + i) & 0xFF for i in range(4096))
    return code + payload


def padded(image):
    return image + b"\xff" * (FW_SIZE - len(image))


def flags_page(fw_version=0xFFFF, nvmem=0xFFFF, ota=0xFFFF, flashed=0xFFFF, factory=0xFFFF):
    return struct.pack("<5H", fw_version, nvmem, ota, flashed, factory)


class Core:
    """Internal and external flash images in a temporary directory, and runs of the emulator on them."""

    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="bootrom-test-")
        self.int_path = os.path.join(self.dir, "internal.bin")
        self.ext_path = os.path.join(self.dir, "external.bin")
        self.internal = bytearray(b"\xff" * INT_SIZE)
        self.external = bytearray(b"\xff" * EXT_SIZE)

    def put_internal(self, offset, data):
        self.internal[offset:offset + len(data)] = data

    def put_external(self, offset, data):
        self.external[offset:offset + len(data)] = data

    def run(self, run_for, *extra):
        with open(self.int_path, "wb") as f:
            f.write(self.internal)
        with open(self.ext_path, "wb") as f:
            f.write(self.external)
        trace = os.path.join(self.dir, "trace.jsonl")
        cmd = [self.args.emu, "--headless", "--bootloader", self.args.rom, "--int-flash", self.int_path,
               "--ext-flash", self.ext_path, "--state", os.path.join(self.dir, "state"),
               "--run-for", run_for, "--trace", trace] + list(extra)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"exit status {p.returncode}\ncommand: {' '.join(cmd)}\n{p.stderr[-3000:]}")
        with open(self.int_path, "rb") as f:
            self.internal = bytearray(f.read())
        with open(self.ext_path, "rb") as f:
            self.external = bytearray(f.read())
        with open(trace) as f:
            self.records = [json.loads(line) for line in f]
        return self

    def kind(self, kind):
        return [r for r in self.records if r["kind"] == kind]

    def resets(self):
        return [(r["t_us"], r["cause"]) for r in self.kind("reset")]

    def flags(self):
        return struct.unpack("<5H", bytes(self.internal[FLAGS_OFFSET:FLAGS_OFFSET + 10]))

    def firmware_area(self):
        return bytes(self.internal[FW_OFFSET:FW_OFFSET + FW_SIZE])

    def colour_ons(self, colour, start_us=0, end_us=None):
        """Times at which the LED switched to exactly `colour` (r, g, b) from something else."""
        ons, prev = [], None
        for r in self.kind("led"):
            rgb = (r["r"], r["g"], r["b"])
            if end_us is not None and r["t_us"] >= end_us:
                break
            if rgb == colour and prev != colour and r["t_us"] >= start_us:
                ons.append(r["t_us"])
            prev = rgb
        return ons


# The LED at the Core's default brightness: 255 * 96/255 of full scale.
LEVEL = 95
YELLOW, WHITE, RED, MAGENTA = (LEVEL, LEVEL, 0), (LEVEL, LEVEL, LEVEL), (LEVEL, 0, 0), (LEVEL, 0, LEVEL)


# While the ROM erases a page of the flash it runs from, the CPU stalls for the
# erase (tERASE 20 ms in the model; RM0008 3.3.3): a toggle due meanwhile comes
# when the stall ends, so blinks during a copy may move by up to that much.
COPY_JITTER = 20 * MS


def check_blink(core, colour, toggle_us, name, start_us=0, end_us=None, minimum=4, jitter=2 * MS):
    ons = core.colour_ons(colour, start_us, end_us)
    periods = [b - a for a, b in zip(ons, ons[1:])]
    check(len(periods) >= minimum and all(abs(p - 2 * toggle_us) <= jitter for p in periods)
          and abs(sum(periods) / len(periods) - 2 * toggle_us) <= 2 * MS,
          f"{name}: expected {colour} toggling every {toggle_us // MS} ms; switch-ons {ons[:10]}, "
          f"periods {sorted(periods)[:3]}..{sorted(periods)[-3:]}")
    return ons


def test_vector_table(args):
    rom = open(args.rom, "rb").read()
    words = struct.unpack_from(f"<{VECTORS}I", rom)
    check(words[0] == 0x20005000, f"initial MSP {words[0]:#x}, expected 0x20005000")
    for n, w in enumerate(words[1:], start=1):
        check(w & 1 and ROM_BASE < w < ROM_BASE + len(rom), f"vector {n} = {w:#x} is not Thumb code in the ROM")
    # SVCall (which Device OS 0.7.0 calls through a null vtable), DebugMon, PendSV, reserved slots and every IRQ
    # but DFU mode's USB_LP_CAN1_RX0 must be a plain return, right both as an exception handler and as a called
    # function.
    for n in [7, 8, 9, 10, 11, 12, 13, 14] + [v for v in range(16, VECTORS) if v != 16 + USB_LP_CAN1_RX0]:
        at = (words[n] & ~1) - ROM_BASE
        check(struct.unpack_from("<H", rom, at)[0] == BX_LR, f"vector {n} -> {words[n]:#x} is not 'bx lr'")
    check(len(rom) <= 16 * 1024, f"ROM is {len(rom)} bytes, over the 16 KiB bootloader pages")
    ok(f"{VECTORS} vectors, all Thumb code in the ROM, unused ones return; ROM {len(rom)} bytes")


def test_dfu_when_flags_erased(args):
    core = Core(args).run("2s")
    check_blink(core, YELLOW, 100 * MS, "erased flags")
    check(core.resets() == [(0, "power")], f"no reset expected in DFU mode: {core.resets()}")
    ok("erased flags page and backup registers -> DFU mode, yellow toggling every 100 ms")


def test_valid_firmware_started_with_watchdog(args):
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(1))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.run("7s")
    resets = core.resets()
    check(len(resets) >= 2 and resets[1][1] == "iwdg" and abs(resets[1][0] - 5 * S) < 100 * MS,
          f"the started firmware should be reset by the 5 s watchdog: {resets}")
    check(not core.colour_ons(YELLOW), "no DFU expected")
    ok(f"flags 0x5000 -> firmware started, IWDG reset at {resets[1][0] / S:.2f} s")


def test_implausible_stack_pointer_gives_dfu(args):
    core = Core(args)
    bad = bytearray(firmware_image(1))
    bad[0:4] = struct.pack("<I", 0x10005000)
    core.put_internal(FW_OFFSET, bad)
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.run("2s")
    check_blink(core, YELLOW, 100 * MS, "implausible MSP")
    ok("flags 0x5000 but MSP 0x10005000 -> DFU mode")


def test_ota_update_backs_up_then_installs(args):
    old, new = firmware_image(1), firmware_image(2)
    core = Core(args)
    core.put_internal(FW_OFFSET, old)
    core.put_internal(FLAGS_OFFSET, flags_page(fw_version=0x1234, ota=0x0005))
    core.put_external(OTA, new)
    core.run("5s")
    check_blink(core, MAGENTA, 50 * MS, "OTA copy", minimum=10, jitter=COPY_JITTER)
    resets = core.resets()
    check(len(resets) == 2 and resets[1][1] == "software", f"one software reset expected: {resets}")
    check(core.firmware_area() == padded(new), "internal flash should hold the OTA image")
    check(bytes(core.external[BACKUP:BACKUP + FW_SIZE]) == padded(old), "backup slot should hold the old firmware")
    flags = core.flags()
    check(flags == (0x1234, 0xFFFF, 0x5000, 0x0001, 0xFFFF), f"flags after OTA: {[hex(f) for f in flags]}")
    ok(f"flags 0x0005 -> backup, OTA image installed, flags 0x5000/OTA_FLASHED 1, reset at {resets[1][0] / S:.2f} s")


def test_interrupted_ota_restores_backup(args):
    backup = firmware_image(3)
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(4)[:100])  # a half-copied image
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5555))
    core.put_external(BACKUP, backup)
    core.run("4s")
    check_blink(core, RED, 50 * MS, "backup restore", minimum=10, jitter=COPY_JITTER)
    check(core.firmware_area() == padded(backup), "internal flash should hold the backup image")
    check(core.flags()[2] == 0x5000, f"flags after restore: {[hex(f) for f in core.flags()]}")
    ok("flags 0x5555 -> red fast blink, backup restored, flags 0x5000")


def test_factory_reset_flag(args):
    factory = firmware_image(5)
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(6))
    core.put_internal(FLAGS_OFFSET, flags_page(fw_version=0x0042, ota=0x5000, flashed=0, factory=0xAAAA))
    core.put_external(FACTORY, factory)
    core.run("4s")
    check_blink(core, WHITE, 50 * MS, "factory reset", minimum=10, jitter=COPY_JITTER)
    check(core.firmware_area() == padded(factory), "internal flash should hold the factory image")
    flags = core.flags()
    check(flags == (0x0042, 0xFFFF, 0x5000, 0x0000, 0xFFFF), f"flags after factory reset: {[hex(f) for f in flags]}")
    ok("Factory_Reset_SysFlag 0xAAAA -> white fast blink, factory image, flag back to 0xFFFF")


def test_mode_button_3s_gives_dfu(args):
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(1))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.run("6s", "--press", "mode@0+3500ms")
    ons = check_blink(core, YELLOW, 100 * MS, "MODE 3.5 s")
    check(abs(ons[0] - 3 * S) < 5 * MS, f"yellow should start 3 s into the press: {ons[0]}")
    check(core.resets() == [(0, "power")], f"DFU mode expected, not a started firmware: {core.resets()}")
    ok(f"MODE held 3.5 s at reset -> yellow from {ons[0] / S:.3f} s, DFU mode")


def test_mode_button_10s_factory_reset_wipes_wifi(args):
    factory = firmware_image(7)
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(1))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.put_external(FACTORY, factory)
    core.run("14s", "--press", "mode@0+10500ms")
    check(core.colour_ons(YELLOW, 0, 10 * S), "yellow expected from 3 s while MODE is held")
    ons = check_blink(core, WHITE, 50 * MS, "MODE 10.5 s", start_us=10 * S, minimum=10, jitter=COPY_JITTER)
    check(abs(ons[0] - 10 * S) < 5 * MS, f"white should start 10 s into the press: {ons[0]}")
    check(core.firmware_area() == padded(factory), "internal flash should hold the factory image")
    flags = core.flags()
    check(flags[1] == 0x0001 and flags[2] == 0x5000, f"NVMEM_SPARK_Reset 1 and 0x5000 expected: {flags}")
    check([c for _, c in core.resets()][:2] == ["power", "software"], f"resets: {core.resets()}")
    ok("MODE held 10.5 s -> factory image, NVMEM_SPARK_Reset_SysFlag 1, reset into it")


def test_watchdog_recovery_ladder(args):
    core = Core(args)
    core.put_internal(FW_OFFSET, firmware_image(1))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.put_external(BACKUP, firmware_image(2))
    core.put_external(FACTORY, firmware_image(3))
    core.run("40s")
    causes = [c for _, c in core.resets()]
    # DR1 0 -> healthy mark, 0xFFFF -> 1, then 1 restores the backup, 2 the factory image, 3 gives up to DFU.
    expected = ["power", "iwdg", "iwdg", "iwdg", "software", "iwdg", "software", "iwdg"]
    check(causes == expected, f"reset causes {causes}, expected {expected}")
    t = dict(enumerate(t for t, _ in core.resets()))
    check(core.colour_ons(RED, t[3], t[4]), "backup restore (red) expected after the third watchdog reset")
    check(core.colour_ons(WHITE, t[5], t[6]), "factory reset (white) expected after the next one")
    check_blink(core, YELLOW, 100 * MS, "recovery exhausted", start_us=t[7])
    check(core.firmware_area() == b"\xff" * FW_SIZE, "the firmware area should be erased at the last step")
    ok("hanging firmware -> IWDG resets, backup restored, factory image, then DFU with the firmware erased")


def sleep_request_image(args, request):
    """sleep_request.bin with its BKP_DR9 request (the word after the marker) set to `request`."""
    image = bytearray(open(args.sleep_request, "rb").read())
    at = image.find(struct.pack("<I", 0x51EE9DA7))
    check(at >= 0, f"{args.sleep_request}: request marker not found")
    image[at + 4:at + 8] = struct.pack("<I", request)
    return bytes(image)


def test_standby_request_enters_standby(args):
    core = Core(args)
    core.put_internal(FW_OFFSET, sleep_request_image(args, 0xA5A5))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.run("8s")
    # Without Standby the ROM would start the firmware again, which spins into a watchdog reset.
    causes = [c for _, c in core.resets()]
    check(causes == ["power", "software"], f"only the firmware's own reset expected, then Standby: {causes}")
    ok("BKP_DR9 0xA5A5 -> the ROM enters Standby instead of starting the firmware")


def test_stop_mode_request_skips_watchdog(args):
    core = Core(args)
    core.put_internal(FW_OFFSET, sleep_request_image(args, 0xA102))
    core.put_internal(FLAGS_OFFSET, flags_page(ota=0x5000))
    core.run("8s")
    causes = [c for _, c in core.resets()]
    check(causes == ["power", "software"], f"no watchdog reset expected after a Stop-mode request: {causes}")
    ok("BKP_DR9 0xAnnn -> firmware started without the watchdog")


SCENARIOS = {name[len("test_"):]: fn for name, fn in globals().items() if name.startswith("test_")}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emu", required=True)
    parser.add_argument("--rom", required=True)
    parser.add_argument("--sleep-request", required=True, help="sleep_request.bin (roms/boot/sleep_request.S)")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parsed = parser.parse_args()
    SCENARIOS[parsed.scenario](parsed)
