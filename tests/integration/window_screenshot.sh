#!/bin/sh
# window_screenshot.sh - runs a program that opens the emulator's window under
# a virtual X server (Xvfb) and saves a screenshot, then checks the PNG: valid
# file, expected size, and the expected colour at one pixel (the RGB LED's
# centre).
#
# Design decision: the PNG is decoded here with nothing but python3's zlib
# module (full PNG filters, CRCs and chunk order), so the check does not trust
# the emulator's own PNG writer and needs no imaging package.
#
# Usage: window_screenshot.sh PNG WIDTH HEIGHT X Y R,G,B COMMAND [ARGS...]
#   PNG      the file COMMAND writes (removed first, so a stale one cannot pass)
#   WIDTH HEIGHT   the expected image size
#   X Y      the pixel to check (the panel's LED centre is 362 165)
#   R,G,B    its expected colour, e.g. 0,0,255
# Exit: 0 pass, 1 fail, 77 skip (no xvfb-run or python3).

set -u

if [ $# -lt 7 ]; then
    echo "usage: $0 PNG WIDTH HEIGHT X Y R,G,B COMMAND [ARGS...]" >&2
    exit 1
fi
png=$1 width=$2 height=$3 x=$4 y=$5 colour=$6
shift 6

if ! command -v xvfb-run >/dev/null 2>&1; then
    echo "SKIP: xvfb-run not found (Debian package xvfb)"
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not found, cannot decode the screenshot"
    exit 77
fi

rm -f "$png"
# No session bus under Xvfb: without this SDL asks libdbus to find (or
# autolaunch) one, and libdbus keeps a buffer that LeakSanitizer reports when
# the tests are built with -Db_sanitize=address.
DBUS_SESSION_BUS_ADDRESS=disabled:
export DBUS_SESSION_BUS_ADDRESS
# 24-bit screen: a lower depth would change the colours the window shows.
if ! xvfb-run -a -s "-screen 0 1024x768x24 -nolisten tcp" "$@"; then
    echo "FAIL: the command exited with an error: $*" >&2
    exit 1
fi
if [ ! -s "$png" ]; then
    echo "FAIL: no screenshot at $png" >&2
    exit 1
fi

exec python3 - "$png" "$width" "$height" "$x" "$y" "$colour" <<'PYTHON'
import struct
import sys
import zlib

path, width, height, px, py, colour = sys.argv[1:7]
width, height, px, py = int(width), int(height), int(px), int(py)
expected = tuple(int(v) for v in colour.split(","))


def fail(msg):
    print("FAIL: %s: %s" % (path, msg), file=sys.stderr)
    sys.exit(1)


data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    fail("not a PNG (bad signature)")
pos, chunks = 8, []
while pos < len(data):
    if len(data) - pos < 12:
        fail("truncated chunk at offset %d" % pos)
    (length,) = struct.unpack(">I", data[pos:pos + 4])
    ctype = data[pos + 4:pos + 8]
    body = data[pos + 8:pos + 8 + length]
    if len(body) != length or pos + 12 + length > len(data):
        fail("chunk %r runs past the end of the file" % ctype)
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
        fail("bad CRC in chunk %r" % ctype)
    chunks.append((ctype, body))
    pos += 12 + length
if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
    fail("chunks must start with IHDR and end with IEND")

w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
if (w, h) != (width, height):
    fail("size %dx%d, expected %dx%d" % (w, h, width, height))
channels = {2: 3, 6: 4}.get(ctype)
if depth != 8 or channels is None or comp != 0 or filt != 0 or interlace != 0:
    fail("unsupported format: depth %d colour type %d interlace %d" % (depth, ctype, interlace))

try:
    raw = zlib.decompress(b"".join(body for t, body in chunks if t == b"IDAT"))
except zlib.error as e:
    fail("IDAT does not inflate: %s" % e)
stride = w * channels
if len(raw) != h * (stride + 1):
    fail("image data is %d bytes, expected %d" % (len(raw), h * (stride + 1)))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


prev = bytearray(stride)
rows = []
for row in range(h):
    f = raw[row * (stride + 1)]
    line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
    for i in range(stride):
        left = line[i - channels] if i >= channels else 0
        up = prev[i]
        upleft = prev[i - channels] if i >= channels else 0
        if f == 0:
            pred = 0
        elif f == 1:
            pred = left
        elif f == 2:
            pred = up
        elif f == 3:
            pred = (left + up) // 2
        elif f == 4:
            pred = paeth(left, up, upleft)
        else:
            fail("row %d has unknown filter type %d" % (row, f))
        line[i] = (line[i] + pred) & 0xFF
    rows.append(line)
    prev = line

if not (0 <= px < w and 0 <= py < h):
    fail("pixel (%d, %d) is outside the %dx%d image" % (px, py, w, h))
got = tuple(rows[py][px * channels:px * channels + 3])
if got != expected:
    fail("pixel (%d, %d) is %s, expected %s" % (px, py, ",".join(map(str, got)), colour))
print("PASS: %s is %dx%d, pixel (%d, %d) = %s" % (path, w, h, px, py, colour))
PYTHON
