"""spark-flash info, keys and server-key on real images: each slot named with the right verdict on a good
image, an erased one, the key-slot mistake (Tinker at 0x2000) and a PKCS#8 key; hostile inputs end with exit
status 2 and a message naming the file; the key commands change no byte outside their slots and nothing at all
when an input is bad. Keys are cross-checked with the openssl command line."""
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB2 = 2 * 1024 * 1024
KIB128 = 128 * 1024
LINE = re.compile(r"^\s+0x([0-9a-f]+)\s+(.+?)\s+(empty|valid|invalid|note)\s+(.*)$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def tool():
    path = os.environ.get("SPARK_FLASH")
    if not path:
        sys.exit("SPARK_FLASH is not set (meson passes the path of build/tools/spark-flash)")
    return path


def tinker():
    out = subprocess.run([os.path.join(TOP, "tools", "fetch-firmware.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        sys.exit("cannot fetch the firmware binaries (npm registry unreachable?)")
    return os.path.join(out.stdout.strip(), "core_tinker.bin")


def sf(*args, stdin=None):
    p = subprocess.run([tool()] + [str(a) for a in args], capture_output=True, text=True, timeout=120)
    check("Sanitizer" not in p.stderr and "Traceback" not in p.stderr, f"{args}: crashed: {p.stderr}")
    check(p.returncode in (0, 1, 2), f"{args}: exit status {p.returncode}: {p.stderr}")
    return p


def info(path):
    """{slot name: (verdict, why)} and the exit status."""
    p = sf("info", path)
    slots = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            slots[m.group(2)] = (m.group(3), m.group(4))
    return slots, p


def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        sys.exit(f"openssl {' '.join(args)} failed: {p.stderr.decode()}")
    return p.stdout


def read(path, addr=0, n=None):
    with open(path, "rb") as f:
        f.seek(addr)
        return f.read(n) if n is not None else f.read()


def digest(path):
    return hashlib.sha256(read(path)).hexdigest() if os.path.exists(path) else None


def expect(slots, name, verdict, *words):
    got = slots.get(name)
    check(got is not None, f"no line for the {name} slot: {slots}")
    if got is None:
        return
    check(got[0] == verdict, f"{name}: verdict {got[0]!r}, expected {verdict!r} ({got[1]})")
    for w in words:
        check(w.lower() in got[1].lower(), f"{name}: the reason does not say {w!r}: {got[1]}")


tmp = tempfile.mkdtemp(prefix="spark-flash-test-")
TINKER = tinker()
EXT_SLOTS = ("server public key", "server address", "core private key", "factory firmware", "backup firmware",
             "OTA download")


def fresh(name):
    path = os.path.join(tmp, name)
    p = sf("create", path)
    check(p.returncode == 0, f"create {name}: {p.stderr}")
    return path


def good_image(name):
    path = fresh(name)
    p = sf("keys", path, "--new")
    check(p.returncode == 0, f"keys --new: {p.stderr}")
    p2 = sf("put", path, "0x20000", TINKER)
    check(p2.returncode == 0, f"put Tinker at 0x20000: {p2.stderr}")
    return path, p.stdout


def test_erased_image_has_every_slot_empty():
    path = fresh("erased.bin")
    slots, p = info(path)
    check(p.returncode == 0, f"info on an erased image: exit {p.returncode}")
    for name in EXT_SLOTS:
        expect(slots, name, "empty")
    expect(slots, "server public key", "empty", "built-in")
    expect(slots, "server address", "empty", "device.spark.io")


def test_good_image_is_valid_and_its_keys_agree_with_openssl():
    path, pem = good_image("good.bin")
    slots, p = info(path)
    check(p.returncode == 0, f"info on a good image: exit {p.returncode}: {p.stdout}")
    expect(slots, "server public key", "valid", "RSA-2048")
    expect(slots, "server address", "empty")
    expect(slots, "core private key", "valid", "RSA-1024", "PKCS#1")
    expect(slots, "factory firmware", "valid", "98932 bytes", "SP 0x20005000", "Device OS 0.7.0")
    expect(slots, "backup firmware", "empty")
    expect(slots, "OTA download", "empty")

    # the core key at 0x2000 is PKCS#1 DER that openssl reads, padded with 0xff to 1024 bytes
    slot = read(path, 0x2000, 1024)
    der_len = 4 + (slot[2] << 8 | slot[3])
    check(slot[:2] == b"\x30\x82" and 600 <= der_len <= 612, f"core key slot starts {slot[:4].hex()}")
    check(slot[der_len:] == b"\xff" * (1024 - der_len), "the core key slot is not padded with 0xff")
    openssl("rsa", "-inform", "DER", "-check", "-noout", data=slot[:der_len])
    public = openssl("rsa", "-inform", "DER", "-pubout", data=slot[:der_len]).decode()
    check(public.strip() == pem.strip(), f"the printed PEM is not the key at 0x2000:\n{pem}\n{public}")
    check(slot[11:139] == openssl("rsa", "-inform", "DER", "-pubout", "-outform", "DER",
                                   data=slot[:der_len])[29:157],
          "bytes 11..138 of the slot (what the firmware sends as its public key) are not the modulus")

    # the server key at 0x1000 is the public half of the PEM file kept for a local cloud
    server_pem = path + ".server-key.pem"
    check(os.path.exists(server_pem), "keys --new kept no server private key")
    check(os.stat(server_pem).st_mode & 0o077 == 0, "the server private key is readable by others")
    spki = openssl("pkey", "-in", server_pem, "-pubout", "-outform", "DER")
    check(len(spki) == 294 and read(path, 0x1000, 294) == spki, "0x1000 does not hold the server key's SPKI")
    check(read(path, 0x1000 + 294, 384 - 294) == b"\xff" * 90, "the server key is not followed by 0xff")


def test_key_slot_mistake_is_named():
    path, _ = good_image("mistake.bin")
    p = sf("put", "--erase", path, "0x2000", TINKER)
    check(p.returncode == 0, f"put Tinker at 0x2000: {p.stderr}")
    slots, p = info(path)
    check(p.returncode == 1, f"info with an invalid slot: exit {p.returncode}, expected 1")
    expect(slots, "core private key", "invalid", "holds a firmware image, not a key",
           "written to 0x2000 instead of 0x20000?")
    expect(slots, "factory firmware", "valid")
    expect(slots, "server public key", "valid")
    expect(slots, "outside the slots", "note", "0x002400-0x01a273")


def test_pkcs8_key_is_invalid_with_the_conversion():
    path = fresh("pkcs8.bin")
    # what `particle keys new` runs: genrsa, then rsa -outform DER, which OpenSSL 3 writes as PKCS#8
    pem, p8 = os.path.join(tmp, "k.pem"), os.path.join(tmp, "k8.der")
    openssl("genrsa", "-out", pem, "1024")
    openssl("rsa", "-in", pem, "-outform", "DER", "-out", p8)
    check(len(read(p8)) > 620, f"openssl wrote no PKCS#8 key ({len(read(p8))} bytes): is it OpenSSL 3?")
    sf("put", path, "0x2000", p8)
    slots, p = info(path)
    check(p.returncode == 1, f"info with a PKCS#8 key: exit {p.returncode}")
    expect(slots, "core private key", "invalid", "PKCS#8", "PKCS#1",
           "openssl rsa -in k.der -inform DER -traditional -outform DER")
    # the conversion the message gives makes a key the Core can read (if the key's fields have full length)
    p1 = os.path.join(tmp, "k1.der")
    openssl("rsa", "-in", p8, "-inform", "DER", "-traditional", "-outform", "DER", "-out", p1)
    sf("put", "--erase", path, "0x2000", p1)
    slots, _ = info(path)
    check(slots["core private key"][0] == "valid" or "fixed offsets" in slots["core private key"][1],
          f"the converted key: {slots['core private key']}")


def test_other_keys_in_the_wrong_slot():
    path = fresh("wrong.bin")
    pem = os.path.join(tmp, "s.pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pem)
    pub1 = os.path.join(tmp, "s-pkcs1.der")
    openssl("rsa", "-in", pem, "-RSAPublicKey_out", "-outform", "DER", "-out", pub1)
    sf("put", path, "0x1000", pub1)
    sf("put", path, "0x2000", pem)
    slots, _ = info(path)
    expect(slots, "server public key", "invalid", "RSAPublicKey", "SubjectPublicKeyInfo")
    expect(slots, "core private key", "invalid", "PEM")
    priv = os.path.join(tmp, "s.der")
    openssl("rsa", "-in", pem, "-traditional", "-outform", "DER", "-out", priv)
    sf("put", "--erase", path, "0x1000", priv)
    pub1024 = os.path.join(tmp, "c-pkcs1.der")
    openssl("genrsa", "-out", os.path.join(tmp, "c.pem"), "1024")
    openssl("rsa", "-in", os.path.join(tmp, "c.pem"), "-RSAPublicKey_out", "-outform", "DER", "-out", pub1024)
    sf("put", "--erase", path, "0x2000", pub1024)
    slots, _ = info(path)
    expect(slots, "server public key", "invalid", "private key")
    expect(slots, "core private key", "invalid", "a public key")
    # a damaged core key: one bit of the modulus flipped
    good, _ = good_image("damaged.bin")
    data = bytearray(read(good))
    data[0x2000 + 60] ^= 0x01
    with open(good, "wb") as f:
        f.write(data)
    slots, _ = info(good)
    expect(slots, "core private key", "invalid", "do not agree")


def test_hostile_inputs_end_with_a_message():
    image = read(fresh("base.bin"))
    cases = {
        "truncated.bin": image[: MIB2 // 2],
        "wrong-size.bin": b"\xff" * 1000,
        "empty.bin": b"",
    }
    for name, data in cases.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        p = sf("info", path)
        check(p.returncode == 2, f"info {name}: exit {p.returncode}, expected 2")
        check(name in p.stderr and ("2 MiB" in p.stderr or "bytes" in p.stderr),
              f"info {name}: the message does not name the file and the size: {p.stderr}")
    empty_dir = os.path.join(tmp, "no-images")
    os.mkdir(empty_dir)
    p = sf("info", empty_dir)
    check(p.returncode == 2 and "no-images" in p.stderr and "internal-flash.bin" in p.stderr,
          f"info on a directory without images: {p.returncode} {p.stderr}")
    p = sf("info", os.path.join(tmp, "missing.bin"))
    check(p.returncode == 2 and "missing.bin" in p.stderr, f"info on a missing file: {p.stderr}")
    p = sf("info", "/dev/null")
    check(p.returncode == 2 and "/dev/null" in p.stderr, f"info on /dev/null: {p.stderr}")

    # random bytes: every slot still gets a line and a verdict, nothing crashes
    rng = random.Random(20141)
    for size, names in ((MIB2, EXT_SLOTS), (KIB128, ("bootloader", "flags page", "firmware"))):
        path = os.path.join(tmp, f"random-{size}.bin")
        with open(path, "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(size)))
        slots, p = info(path)
        check(p.returncode in (0, 1), f"info on random bytes: exit {p.returncode}: {p.stderr}")
        for n in names:
            check(n in slots, f"random image of {size} bytes: no line for {n}")
    # random DER-looking blobs in both key slots
    path = fresh("der-fuzz.bin")
    for i in range(150):
        data = bytearray(read(path))
        for addr, size in ((0x1000, 384), (0x2000, 1024)):
            blob = bytes(rng.getrandbits(8) for _ in range(size))
            head = bytes([0x30, 0x82, rng.randrange(0, 5), rng.randrange(256), rng.choice((0x02, 0x30))])
            data[addr:addr + size] = head + blob[len(head):]
        with open(path, "wb") as f:
            f.write(data)
        slots, p = info(path)
        check(p.returncode in (0, 1), f"DER fuzz {i}: exit {p.returncode}: {p.stderr}")
        if failures:
            break


def outside(data, ranges):
    """data with the byte ranges [(addr, len)] blanked, to compare everything else."""
    b = bytearray(data)
    for addr, n in ranges:
        b[addr:addr + n] = b"\0" * n
    return bytes(b)


def test_key_commands_touch_only_their_slots():
    path, _ = good_image("slots.bin")
    server_pem = path + ".server-key.pem"
    p = sf("server-key", path, server_pem, "--address", "127.0.0.1:15683")
    check(p.returncode == 0, f"server-key with its own key: {p.stderr}")
    slots, _ = info(path)
    expect(slots, "server address", "valid", "IPv4 127.0.0.1, port 15683")
    # particle-cli's layout: key, 0xff, the record at +384, the port at +450, 0xff to 2 KiB
    blob = read(path, 0x1000, 2048)
    check(blob[384:390] == bytes([0, 4, 127, 0, 0, 1]) and blob[450:452] == (15683).to_bytes(2, "big"),
          f"the address record: {blob[384:392].hex()} port {blob[450:452].hex()}")
    check(blob[390:450] == b"\xff" * 60 and blob[452:] == b"\xff" * (2048 - 452), "0xff around the record")

    before = read(path)
    p = sf("keys", path, "--new")
    check(p.returncode == 0 and "kept" in p.stderr, f"a second keys --new: {p.returncode} {p.stderr}")
    after = read(path)
    check(outside(before, [(0x2000, 1024)]) == outside(after, [(0x2000, 1024)]),
          "keys --new changed bytes outside the core key slot (the server key and address are kept)")
    check(before[0x2000:0x2400] != after[0x2000:0x2400], "keys --new did not replace the core key")

    before = after
    p = sf("keys", path, "--new", "--core-only")
    check(p.returncode == 0, f"keys --new --core-only: {p.stderr}")
    check(outside(before, [(0x2000, 1024)]) == outside(read(path), [(0x2000, 1024)]),
          "keys --core-only changed bytes outside the core key slot")

    p = sf("server-key", path, server_pem, "--address", "cloud.example.org")
    slots, _ = info(path)
    expect(slots, "server address", "valid", "domain name cloud.example.org, port 5683")


def test_bad_key_inputs_change_nothing():
    path, _ = good_image("keep.bin")
    garbage = os.path.join(tmp, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    small = os.path.join(tmp, "small.pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", small)
    short = os.path.join(tmp, "short.bin")
    with open(short, "wb") as f:
        f.write(b"\xff" * 4096)
    before = {p: digest(p) for p in (path, short, garbage, small)}
    bad = [
        (("keys", path, "--new", "--server-private", garbage), "garbage.pem"),
        (("keys", path, "--new", "--server-private", small), "RSA-2048"),
        (("keys", short, "--new"), "short.bin"),
        (("keys", os.path.join(tmp, "none.bin"), "--new"), "none.bin"),
        (("keys", path), "--new"),
        (("server-key", path, small), "RSA-2048"),
        (("server-key", path, garbage), "garbage.pem"),
        (("server-key", path, small, "--address", "300.1.2.3"), "300.1.2.3"),
        (("server-key", path, path + ".server-key.pem", "--address", "host:99999"), "99999"),
        (("server-key", short, path + ".server-key.pem"), "short.bin"),
    ]
    for args, word in bad:
        p = sf(*args)
        check(p.returncode == 2, f"{args}: exit {p.returncode}, expected 2")
        check(word in p.stderr, f"{args}: the message does not name {word!r}: {p.stderr}")
    check({p: digest(p) for p in before} == before, "a refused key command changed a file")
    check(not os.path.exists(os.path.join(tmp, "none.bin")), "keys made a missing image")
    check(not os.path.exists(short + ".server-key.pem"), "a refused keys --new left a server key behind")


def test_state_directory_lists_internal_and_external_slots():
    emu = os.environ.get("SPARK_EMU")
    if not emu:
        return
    state = os.path.join(tmp, "state")
    p = subprocess.run([emu, "--headless", "--quiet", "--run-for", "10ms", "--state", state],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"spark-emu made no state directory: {p.stderr}")
    slots, p = info(state)
    check(p.returncode == 0, f"info on a fresh state directory: exit {p.returncode}: {p.stdout}")
    expect(slots, "bootloader", "valid", "SP 0x2000")
    expect(slots, "flags page", "valid", "0x5000", "runs the firmware")
    expect(slots, "firmware", "valid", "98932 bytes")
    for name in EXT_SLOTS:
        check(name in slots, f"state directory: no line for {name}")
    p = sf("keys", state, "--new")
    check(p.returncode == 0 and os.path.exists(os.path.join(state, "server-key.pem")),
          f"keys --new on a state directory: {p.stderr}")
    slots, _ = info(state)
    expect(slots, "core private key", "valid")
    # the internal image alone is recognised by its size
    slots, p = info(os.path.join(state, "internal-flash.bin"))
    expect(slots, "firmware", "valid")
    # a missing external image is reported, not an error
    os.unlink(os.path.join(state, "external-flash.bin"))
    slots, p = info(state)
    check(p.returncode == 0 and "missing" in p.stdout, f"state without external-flash.bin: {p.stdout}")


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
        print(("FAIL " if failures else "ok   ") + name)
        if failures:
            break
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
