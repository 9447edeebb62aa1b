#!/bin/sh
# fetch-firmware.sh - fetch the public Spark Core firmware binaries that ship in
# the npm package particle-cli@2.16.0 into a cache outside the source tree, and
# print the directory. Idempotent: a complete cache is reused.
#
#   tools/fetch-firmware.sh [DIR]
#
# DIR defaults to $SPARK_EMU_FIRMWARE_DIR, else
# ${XDG_CACHE_HOME:-~/.cache}/spark-emu/firmware/particle-cli-2.16.0.
# The binaries are third-party; they are never committed to this repository.
set -eu

VERSION=2.16.0
CACHE=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}
DIR=${1:-${SPARK_EMU_FIRMWARE_DIR:-$CACHE/spark-emu/firmware/particle-cli-$VERSION}}

# sha256 of the Core binaries in particle-cli 2.16.0, so a changed package is noticed
EXPECTED="8e55851b39bcfb6a6ada1ee26fe968e36662abe7c1cee814b3f52e1d2616f051  core_tinker.bin
d37ee413578dc8d8e210d907f1298b5899869f39784acd99ec9871fefe21db93  core_doctor.bin
fd5a64395e5c454f8f0485689371141bc2297e2d1d03a90c0367c2b7734fa2f8  deep_update_2014_06.bin
7291e032472121b1f70f9daf56e4de175f21beba50172da8fbe737e2e2734670  cc3000-patch-programmer.bin
7df4ee5c284ec2bdd209398ee64068d86c57c59465f6d56018fee874517dbb45  cc3000-patch-programmer_1_14.bin
552c2201edbe15c3464c7be62992c9599f0742062f60b4bf6c33f8b5ee46d2b8  voodoospark.bin"

if [ -f "$DIR/.complete" ]; then
    echo "$DIR"
    exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "fetch-firmware: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
(cd "$tmp" && npm pack "particle-cli@$VERSION" --silent >/dev/null 2>"$tmp/npm.log") || {
    echo "fetch-firmware: 'npm pack particle-cli@$VERSION' failed:" >&2
    cat "$tmp/npm.log" >&2
    exit 1
}
tar -xzf "$tmp/particle-cli-$VERSION.tgz" -C "$tmp" package/assets/binaries
(cd "$tmp/package/assets/binaries" && echo "$EXPECTED" | sha256sum -c --quiet -) || {
    echo "fetch-firmware: the binaries in particle-cli@$VERSION are not the expected ones" >&2
    exit 1
}
mkdir -p "$DIR"
for f in $(echo "$EXPECTED" | awk '{print $2}'); do
    cp "$tmp/package/assets/binaries/$f" "$DIR/$f"
done
echo "$EXPECTED" > "$DIR/SHA256SUMS"
touch "$DIR/.complete"
echo "$DIR"
