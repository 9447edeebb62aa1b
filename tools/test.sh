#!/bin/sh
# test.sh - set everything up, then run the whole test suite (unit tests, test
# ROMs on spark-emu and on qemu-system-arm, the real Core firmware, the USB
# clients) and print a one-line summary. Idempotent; needs no display (window
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
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    counts[r["result"]] = counts.get(r["result"], 0) + 1
passed = counts.get("OK", 0) + counts.get("EXPECTEDFAIL", 0)
skipped = counts.get("SKIP", 0)
failed = sum(v for k, v in counts.items() if k not in ("OK", "EXPECTEDFAIL", "SKIP"))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
