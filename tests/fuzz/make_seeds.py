"""make_seeds.py - write the seed corpora (tests/fuzz/<target>/) the fuzz targets start from.

Run once when a format changes; the files are committed (named without .bin/.elf/.hex, which
.gitignore hides; the loader tells formats by content). loader/rom-sleep_request is roms/boot/
sleep_request.S as arm-none-eabi-gcc builds it. Every seed is small and valid, so the
fuzzer starts from inputs that reach deep into each parser."""
import os
import struct

top = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(top, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- loader: raw binary, ELF, Intel HEX ----
SP, FLASH = 0x20005000, 0x08000000
code = bytes.fromhex("0120" "0130" "fde7")  # movs r0,#1; adds r0,#1; b .-2
vectors = struct.pack("<2I", SP, FLASH + 0x41) + b"\0" * 56 + code
put("loader", "vectors", vectors)


def elf(segments, symbols):
    """ET_EXEC ARM ELF32: PT_LOAD per (addr, bytes), a .symtab of (name, value, size, type)."""
    ehsize, phsize, shsize = 52, 32, 40
    off = ehsize + phsize * len(segments)
    body, phdrs = b"", b""
    for addr, data in segments:
        phdrs += struct.pack("<8I", 1, off + len(body), addr, addr, len(data), len(data), 5, 4)
        body += data
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n, *_ in symbols)
    symtab = b"\0" * 16
    pos = 1
    for n, value, size, typ in symbols:
        symtab += struct.pack("<IIIBBH", pos, value, size, 0x10 | typ, 0, 1)
        pos += len(n) + 1
    shstr = b"\0.symtab\0.strtab\0.shstrtab\0"
    sym_off = off + len(body)
    str_off = sym_off + len(symtab)
    shs_off = str_off + len(strtab)
    sh_off = shs_off + len(shstr)
    shdrs = b"\0" * shsize
    shdrs += struct.pack("<10I", 1, 2, 0, 0, sym_off, len(symtab), 2, 1, 4, 16)
    shdrs += struct.pack("<10I", 9, 3, 0, 0, str_off, len(strtab), 0, 0, 1, 0)
    shdrs += struct.pack("<10I", 17, 3, 0, 0, shs_off, len(shstr), 0, 0, 1, 0)
    ident = b"\x7fELF\x01\x01\x01" + b"\0" * 9
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, FLASH + 0x41, ehsize, sh_off, 0x05000000,
                               ehsize, phsize, len(segments), shsize, 4, 3)
    return ehdr + phdrs + body + symtab + strtab + shstr + shdrs


put("loader", "tiny-elf", elf([(FLASH, vectors), (0x20000000, b"\x11\x22\x33\x44")],
                              [("Reset_Handler", FLASH + 0x41, 6, 2), ("counter", 0x20000000, 4, 1)]))


def ihex(records):
    out = ""
    for addr, typ, data in records:
        rec = bytes([len(data), addr >> 8, addr & 0xFF, typ]) + data
        out += ":" + rec.hex().upper() + "%02X" % (-sum(rec) & 0xFF) + "\n"
    return out.encode()


put("loader", "tiny-ihex", ihex([(0, 4, b"\x08\x00"), (0, 0, vectors[:16]), (0x10, 0, vectors[16:32]),
                                (0, 2, b"\x10\x00"), (0xFFF8, 0, b"\xAA" * 16),
                                (0, 5, struct.pack(">I", FLASH + 0x41)), (0, 1, b"")]))

# ---- options: argv without the program name, NUL-separated ----
for name, argv in {
    "load": ["--load", "fw.elf", "--load", "data.bin@0x20000000", "--run-for", "50ms", "--headless"],
    "boot": ["--bootloader", "none", "--firmware", "tinker.bin", "--press", "mode@0+11s",
             "--press", "reset@2s", "--timeout-status", "3", "--speed", "realtime"],
    "io": ["--analog", "A0=1.65", "--uart-rx", "in.txt", "--screenshot", "b.png@3s", "--wifi-profiles", "2",
           "--serial", "pty", "--usbip", "[::1]:3240", "--speed", "2.5", "--verbose", "--quiet", "--stats"],
    "usb": ["--usb-host-cmd", "dfu-util -l", "--usb", "umockdev", "--trace", "t.jsonl", "--run-for=250us",
            "--state", "dir", "--int-flash", "i.bin", "--ext-flash", "e.bin"],
}.items():
    put("options", name, b"\0".join(a.encode() for a in argv))

# ---- flashimg: u32 address, flags (bit 0: --erase), data ----
der_key = bytes.fromhex("3082002502010002010102010102010102010102010102010102010102010102010102010102010102")
put("flashimg", "key", struct.pack("<IB", 0x2000, 0) + der_key)
put("flashimg", "firmware", struct.pack("<IB", 0x20000, 1) + vectors)
put("flashimg", "past-end", struct.pack("<IB", 0x1FFFF8, 0) + b"\0" * 16)

# ---- usbip: OP header, URB header, configuration descriptors ----
config = bytes([9, 2, 41, 0, 1, 1, 0, 0x80, 50,
                9, 4, 0, 0, 2, 0x0A, 0, 0, 0,
                7, 5, 0x01, 2, 64, 0, 0,
                7, 5, 0x82, 1, 64, 0, 1,
                9, 4, 0, 1, 0, 0xFF, 0, 0, 0])


def urb(command, seqnum, direction, ep, length, np=0xFFFFFFFF, setup=b"\0" * 8):
    return struct.pack(">10I", command, seqnum, 0x10002, direction, ep, 0, length, 0, np, 0) + setup


put("usbip", "devlist-bulk-out", struct.pack(">HHI", 0x0111, 0x8005, 0) + urb(1, 1, 0, 1, 64) + config)
put("usbip", "import-control-in", struct.pack(">HHI", 0x0111, 0x8003, 0) +
    urb(1, 2, 1, 0, 18, 0, bytes.fromhex("8006000100001200")) + config)
put("usbip", "iso-in", struct.pack(">HHI", 0x0111, 0x8005, 0) + urb(1, 3, 1, 2, 192, 3) + config)
put("usbip", "unlink", struct.pack(">HHI", 0x0111, 0x8003, 0) + urb(2, 4, 0, 0, 0, 0) + config)
