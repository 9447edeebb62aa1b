#!/bin/sh
# run-rom.sh NAME COMMAND... - run a test ROM on an emulator. It passes only if the
# command exits 0 AND the ROM itself printed "PASS NAME", so an emulator that exits 0
# without running the guest cannot pass.
name=$1
shift
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
if ! printf '%s\n' "$out" | grep -qx "PASS $name"; then
    echo "run-rom: exit status 0 but the ROM never printed 'PASS $name'"
    exit 1
fi
