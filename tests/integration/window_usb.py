"""The board's USB connector shows what the host enumerated: the boot ROM's DFU device
(1d50:607f, MODE held at power-on, a libusb host running) in yellow, Tinker's CDC serial port
(1d50:607d, --serial) in green, and no host on a charger. Checked on headless screenshots at
the connector's indicator dot (canvas pixel 152,225)."""
import os
import struct
import tempfile
import zlib

from sparktest import Run, check, firmware, ok

DOT = (152, 225)
COLOURS = {"dfu": (250, 200, 60), "serial": (70, 220, 100), "no host": (170, 170, 178)}


def pixel(path, x, y):
    """One pixel of an 8-bit RGB/RGBA PNG, decoded with zlib alone."""
    data = open(path, "rb").read()
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour_type = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and colour_type in (2, 6), f"{path}: unexpected PNG format")
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev = bytearray(stride)
    for row in range(y + 1):
        f = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            if f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            elif f == 4:
                q = a + b - c
                p = a if abs(q - a) <= abs(q - b) and abs(q - a) <= abs(q - c) else (b if abs(q - b) <= abs(q - c) else c)
            else:
                p = 0
            line[i] = (line[i] + p) & 0xFF
        prev = line
    return tuple(prev[x * channels:x * channels + 3])


folder = tempfile.mkdtemp(prefix="spark-emu-usb-window-")

dfu = os.path.join(folder, "dfu.png")
Run(["--press", "mode@0+3500ms", "--usb-host-cmd", "sleep 3", "--run-for", "1s", "--screenshot", dfu + "@5s"])
check(pixel(dfu, *DOT) == COLOURS["dfu"], f"DFU: the USB dot is {pixel(dfu, *DOT)}, expected {COLOURS['dfu']}")
ok("the boot ROM's DFU device (607f) shows as DFU")

serial = os.path.join(folder, "serial.png")
Run(["--firmware", firmware("core_tinker.bin"), "--serial", os.path.join(folder, "serial.txt"), "--run-for", "6s",
     "--screenshot", serial + "@5s"])
check(pixel(serial, *DOT) == COLOURS["serial"],
      f"serial: the USB dot is {pixel(serial, *DOT)}, expected {COLOURS['serial']}")
ok("Tinker's CDC serial port (607d) shows as serial")

charger = os.path.join(folder, "charger.png")
Run(["--firmware", firmware("core_tinker.bin"), "--run-for", "6s", "--screenshot", charger + "@5s"])
check(pixel(charger, *DOT) == COLOURS["no host"],
      f"charger: the USB dot is {pixel(charger, *DOT)}, expected {COLOURS['no host']}")
ok("on a charger the connector says no host")
