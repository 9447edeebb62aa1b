#!/bin/sh
# run.sh - set everything up, then run the emulator on its default images
# (the project's boot ROM and Tinker from the npm cache). Extra arguments go to
# spark-emu, e.g. tools/run.sh --run-for 10s. Without a display it runs headless
# and prints the LED's pattern as it changes, in real time (as on a desk) unless
# --speed is given.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh"
case " $* " in
*" --speed "*) exec "${SPARK_EMU_BUILD:-$top/build}/spark-emu" "$@" ;;
*) exec "${SPARK_EMU_BUILD:-$top/build}/spark-emu" --speed realtime "$@" ;;
esac
