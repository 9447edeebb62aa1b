#!/bin/sh
# test.sh - set everything up, then run the whole test suite (unit tests, test
# ROMs on spark-emu and on qemu-system-arm, the real Core firmware, the USB
# clients, then briefly the fuzzers and random images under ASan/UBSan) and
# print a one-line summary. Idempotent; needs no display (window
# tests use Xvfb). The tests find particle-cli in $SPARK_EMU_PARTICLE.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARK_EMU_BUILD:-$top/build}
"$top/tools/setup.sh"
# the real particle-cli for the USB client tests (cached outside the tree;
# about a minute the first time, instant after that)
SPARK_EMU_PARTICLE=$("$top/tools/install-particle-cli.sh") || {
    echo "test: could not install particle-cli (tools/install-particle-cli.sh, see above)" >&2
    exit 1
}
export SPARK_EMU_PARTICLE
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?
logs="$build/meson-logs/testlog.json"
# The fuzz suite (tests/fuzz) in a clang ASan/UBSan build dir of its own: each fuzz target for 5 s
# and 50 random images on the sanitized emulator. Only in a full run, not when tests are named.
if [ $# -eq 0 ]; then
    fuzz_build=${SPARK_EMU_FUZZ_BUILD:-$top/build-fuzz}
    rm -f "$fuzz_build/meson-logs/testlog.json"
    SPARK_EMU_FUZZ_BUILD=$fuzz_build "$top/tools/fuzz.sh" --suite || status=$?
    logs="$logs $fuzz_build/meson-logs/testlog.json"
fi
python3 - $logs <<'PY'
import json, sys
counts = {}
for log in sys.argv[1:]:
    try:
        lines = open(log).readlines()
    except FileNotFoundError:
        print(f"test: {log} is missing: that suite did not run (see above)")
        lines = ['{"result": "ERROR"}']
    for line in lines:
        r = json.loads(line)
        counts[r["result"]] = counts.get(r["result"], 0) + 1
passed = counts.get("OK", 0) + counts.get("EXPECTEDFAIL", 0)
skipped = counts.get("SKIP", 0)
failed = sum(v for k, v in counts.items() if k not in ("OK", "EXPECTEDFAIL", "SKIP"))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
