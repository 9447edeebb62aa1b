"""--vcd: Tinker in listening mode with MODE pressed from 1 s to 1.5 s. The file is checked
against the VCD grammar (IEEE 1364 section 18: declarations, then time-ordered value changes
of declared identifiers), the LED_B duty shows the listening blink (about 0.37 for 250 ms, 0
for 250 ms), the trace's LED records agree with it, and sigrok-cli opens the file and sees
MODE low for those 500 ms."""
import os
import re
import shutil
import subprocess
import tempfile

from sparktest import Run, blink_periods, check, fail, firmware, ok

PINS = ["D%d" % i for i in range(8)] + ["A%d" % i for i in range(8)] + \
    ["MODE", "SFLASH_CS", "WLAN_CS", "USB_PULLUP"]
LEDS = ["LED_R", "LED_G", "LED_B"]


def parse_vcd(path):
    """Returns ({name: (kind, id)}, {id: [(t_ns, value)]}, end_ns); fails on anything malformed."""
    text = open(path).read()
    head, sep, body = text.partition("$enddefinitions $end")
    check(sep, "no $enddefinitions")
    check(re.search(r"\$timescale\s+1ns\s+\$end", head), "timescale is not 1ns")
    decls = re.findall(r"\$var\s+(\w+)\s+(\d+)\s+(\S+)\s+(\S+)\s+\$end", head)
    check(decls, "no $var declarations")
    for section in re.findall(r"\$(\w+)", head):
        check(section in ("version", "comment", "timescale", "scope", "var", "upscope", "end", "date"),
              f"unexpected section ${section} in the header")
    names, ids = {}, {}
    for kind, width, ident, name in decls:
        check(kind in ("wire", "real"), f"{name}: kind {kind}")
        check((kind, width) in (("wire", "1"), ("real", "64")), f"{name}: {kind} of width {width}")
        check(ident not in ids, f"identifier {ident} declared twice")
        names[name] = (kind, ident)
        ids[ident] = kind
    changes = {ident: [] for ident in ids}
    t = None
    in_dumpvars = False
    for tok_line in body.split("\n"):
        line = tok_line.strip()
        if not line:
            continue
        if line == "$dumpvars":
            check(t == 0, "$dumpvars not at #0")
            in_dumpvars = True
            continue
        if line == "$end":
            check(in_dumpvars, "$end outside $dumpvars")
            in_dumpvars = False
            continue
        if line.startswith("#"):
            now = int(line[1:])
            check(t is None or now > t, f"time goes from {t} to {now}")
            t = now
            continue
        check(t is not None, f"value change before the first time stamp: {line}")
        if line.startswith("r"):
            value, ident = line[1:].split()
            check(ids.get(ident) == "real", f"real value for {ident}, not a real variable")
            changes[ident].append((t, float(value)))
        else:
            check(line[0] in "01xz" and ids.get(line[1:]) == "wire", f"bad value change: {line}")
            changes[line[1:]].append((t, line[0]))
    check(not in_dumpvars, "$dumpvars never ends")
    return names, changes, t


folder = tempfile.mkdtemp(prefix="spark-emu-vcd-")
vcd = os.path.join(folder, "pins.vcd")
run = Run(["--firmware", firmware("core_tinker.bin"), "--run-for", "8s", "--press", "mode@1s+500ms",
           "--vcd", vcd])
names, changes, end = parse_vcd(vcd)
for name in PINS + LEDS:
    check(name in names, f"{name} is not in the VCD")
check(all(names[n][0] == "real" for n in LEDS), "the LED channels must be real variables")
check(abs(end - 8_000_000_000) < 1000, f"the file should end at 8 s (#8000000000), ends at #{end}")
ok(f"{len(names)} signals, {sum(len(c) for c in changes.values())} changes, well formed")

blue = changes[names["LED_B"][1]]
red, green = (changes[names[n][1]] for n in ("LED_R", "LED_G"))
listening = [(t, v) for t, v in blue if t >= 4_000_000_000]
ons = [t for t, v in listening if v > 0.3]
offs = [t for t, v in listening if v == 0]
check(len(ons) >= 7 and len(offs) >= 7, f"LED_B should blink from 4 s: on at {ons[:3]}, off at {offs[:3]}")
duties = {round(v, 3) for t, v in listening if v > 0}
check(duties == {0.373} or all(abs(d - 0.373) < 0.01 for d in duties), f"listening duty {duties}, not about 0.37 (PWM 96/256)")
periods = [b - a for a, b in zip(ons, ons[1:])]
check(all(abs(p - 500_000_000) < 25_000_000 for p in periods), f"blink periods (ns): {periods}")
check(all(v == 0 for t, v in red + green if t >= 4_000_000_000), "red or green lit while listening")
ok(f"LED_B blinks at duty {sorted(duties)} every {min(periods) / 1e6:.1f}-{max(periods) / 1e6:.1f} ms")

# the trace's LED records and the VCD tell the same story
_, trace_ons = blink_periods(run.led(), "blue", start_us=4_000_000)
vcd_ons_us = [t // 1000 for t in ons]
check(trace_ons[:len(vcd_ons_us)] == vcd_ons_us[:len(trace_ons)],
      f"trace blue-on times {trace_ons[:4]} differ from the VCD's {vcd_ons_us[:4]}")

mode = changes[names["MODE"][1]]
presses = [(t, v) for t, v in mode if 0 < t]
check(("0" in [v for t, v in presses]) and
      any(t == 1_000_000_000 and v == "0" for t, v in presses), f"MODE changes: {presses[:4]}")
ok("MODE goes low at 1 s")

sigrok = shutil.which("sigrok-cli")
if not sigrok:
    print("NOTE: sigrok-cli is not installed (Debian package sigrok-cli): grammar checked only")
else:
    p = subprocess.run([sigrok, "-I", "vcd:downsample=1000000", "-i", vcd, "--show"],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"sigrok-cli --show failed: {p.stderr}")
    for name in PINS:
        check(re.search(r"- %s: logic" % name, p.stdout), f"sigrok-cli does not list {name}:\n{p.stdout}")
    p = subprocess.run([sigrok, "-I", "vcd:downsample=1000000", "-i", vcd, "-C", "MODE",
                        "-O", "bits:width=1000000"], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"sigrok-cli -O bits failed: {p.stderr}")
    bits = "".join(line.split(":", 1)[1].replace(" ", "") for line in p.stdout.splitlines()
                   if line.startswith("MODE:"))
    low = [i for i, b in enumerate(bits) if b == "0"]
    if not low:
        fail(f"sigrok-cli sees MODE never low ({len(bits)} samples)")
    check(abs(low[0] - 1000) <= 1 and abs(low[-1] - 1499) <= 1 and len(low) == low[-1] - low[0] + 1,
          f"sigrok-cli sees MODE low from {low[0]} to {low[-1]} ms, expected 1000 to 1499")
    ok(f"sigrok-cli opens it: {len(PINS)} logic channels, MODE low {low[0]}-{low[-1]} ms")
