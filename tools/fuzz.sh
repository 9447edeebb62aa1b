#!/bin/sh
# fuzz.sh - the fuzz build and its targets (tests/fuzz/).
#
#   tools/fuzz.sh TARGET SECONDS [LIBFUZZER-OPTION]...   run one target: loader, options, flashimg, usbip,
#                                                       script, snapshot
#   tools/fuzz.sh images COUNT [SEED]                   COUNT random images on the sanitized emulator
#   tools/fuzz.sh --suite                               what tools/test.sh runs: every target for 5 s
#                                                       and 50 random images (meson suite 'fuzz')
#
# The build dir ($SPARK_EMU_FUZZ_BUILD, default build-fuzz) is configured once with clang,
# -Dfuzz=true and -Db_sanitize=address,undefined, without ROMs or the regular tests. A target's
# corpus grows in BUILD/corpus/TARGET (the seeds in tests/fuzz/TARGET stay as they are); crashes
# are written to BUILD/artifacts/ and can be replayed with BUILD/tests/fuzz/fuzz_TARGET FILE.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARK_EMU_FUZZ_BUILD:-$top/build-fuzz}

usage() {
    sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -ge 1 ] || usage

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$top" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Droms=false -Dtests=false >&2
fi
# non-fatal UBSan reports would pass unnoticed: stop at the first one
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

case "$1" in
--suite)
    ninja -C "$build" >&2
    exec meson test -C "$build" --suite fuzz --print-errorlogs --num-processes 2
    ;;
images)
    [ $# -ge 2 ] || usage
    ninja -C "$build" spark-emu >&2
    exec python3 "$top/tests/fuzz/random_images.py" "$build/spark-emu" --count "$2" --seed "${3:-7}"
    ;;
loader | options | flashimg | usbip | script | snapshot)
    [ $# -ge 2 ] || usage
    target=$1
    seconds=$2
    shift 2
    ninja -C "$build" "tests/fuzz/fuzz_$target" >&2
    mkdir -p "$build/corpus/$target" "$build/artifacts"
    dict=""
    [ -f "$top/tests/fuzz/$target.dict" ] && dict="-dict=$top/tests/fuzz/$target.dict"
    exec "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$build/artifacts/$target-" $dict "$@" \
        "$build/corpus/$target" "$top/tests/fuzz/$target"
    ;;
*)
    usage
    ;;
esac
