#!/bin/sh
# setup.sh - make this checkout ready to run and test on Debian: install the
# packages that are missing, fetch the public Core firmware into the cache,
# configure and build. Idempotent; works as root or with sudo; needs no display.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARK_EMU_BUILD:-$top/build}

# The third line is for the USB client tests (tools/install-particle-cli.sh):
# dfu-util, udevadm and openssl are what particle-cli runs; umockdev gives it a
# mock /dev/ttyACM0; g++ and make build its native serial module. strace reads
# dfu-util's sleeps for the USB benchmark (tools/bench_dfu.py). libssl-dev: spark-flash
# reads and makes the Core's RSA keys with libcrypto; python3-cryptography: tools/spark-cloud's RSA and AES. sigrok-cli opens --vcd files in
# tests/integration/vcd.py; xdotool presses the window's keys in tests/integration/window_keys.py.
# gdb-multiarch attaches to --gdb in tests/integration/gdb_*.py.
# The last line builds the libFuzzer targets and the sanitized emulator (tests/fuzz, tools/fuzz.sh).
PKGS="meson ninja-build pkg-config gcc libc6-dev libunicorn-dev libsdl2-dev libsdl2-ttf-dev fonts-dejavu-core libpng-dev zlib1g-dev libelf-dev libcmocka-dev
gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm xvfb xauth xdotool python3
dfu-util umockdev libumockdev-dev usbip usbutils udev openssl g++ make strace sigrok-cli libssl-dev python3-cryptography gdb-multiarch
clang libfuzzer-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "setup: installing$missing" >&2
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >&2
fi

"$top/tools/fetch-firmware.sh" >/dev/null

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top" >&2
fi
ninja -C "$build" >&2
