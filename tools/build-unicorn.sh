#!/bin/sh
# build-unicorn.sh - build another Unicorn release (default 2.1.1, what Debian 13 ships) from the public
# unicorn-engine/unicorn repository, ARM only, into a cache outside the tree, and print the PKG_CONFIG_PATH
# that makes meson build spark-emu against it:
#
#   tools/build-unicorn.sh [VERSION]
#   PKG_CONFIG_PATH=$(tools/build-unicorn.sh) meson setup build-uc21 -Dc_link_args=-Wl,-rpath,<prefix>/lib
#
# (easier: the last line printed on stderr is the whole meson command). Idempotent: a finished build is reused.
# Needs git, cmake and a C compiler (tools/setup.sh installs them); takes a few minutes on 2 CPUs.
# Without access to github.com, give the source yourself: UNICORN_SRC=DIR (an unpacked tree of that tag).
set -eu
VERSION=${1:-2.1.1}
CACHE=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/spark-emu/unicorn-$VERSION
prefix=$CACHE/prefix
if [ ! -f "$prefix/lib/pkgconfig/unicorn.pc" ]; then
    for tool in git cmake cc; do
        command -v $tool >/dev/null 2>&1 || { echo "build-unicorn: $tool is needed (tools/setup.sh installs it)" >&2; exit 1; }
    done
    rm -rf "$CACHE/src" "$CACHE/build"
    mkdir -p "$CACHE"
    src=${UNICORN_SRC:-$CACHE/src}
    if [ -z "${UNICORN_SRC:-}" ]; then
        git clone -q --depth 1 --branch "$VERSION" https://github.com/unicorn-engine/unicorn.git "$src" >&2 || {
            echo "build-unicorn: cannot fetch unicorn $VERSION from github.com (or give UNICORN_SRC=DIR)" >&2
            exit 1
        }
    fi
    [ -f "$src/CMakeLists.txt" ] || { echo "build-unicorn: $src is not a Unicorn source tree" >&2; exit 1; }
    cmake -S "$src" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DUNICORN_ARCH=arm \
        -DUNICORN_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >&2
    cmake --build "$CACHE/build" -j "$(nproc)" >&2
    cmake --install "$CACHE/build" >&2
fi
echo "build-unicorn: PKG_CONFIG_PATH=$prefix/lib/pkgconfig meson setup build-unicorn-$VERSION" \
    "-Dc_link_args=-Wl,-rpath,$prefix/lib" >&2
echo "$prefix/lib/pkgconfig"
