#!/bin/sh
# test.sh - set everything up, then run the whole test suite (unit tests, test
# ROMs on spark-emu and on qemu-system-arm, the real Core firmware) and print a
# one-line summary. Idempotent; needs no display (window tests use Xvfb).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARK_EMU_BUILD:-$top/build}
"$top/tools/setup.sh"
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
