#!/bin/sh
# install-particle-cli.sh - install the real particle-cli 2.16.0 from the npm
# registry into a cache outside the source tree (for the client tests), and
# print the path of a `particle` wrapper on stdout. Idempotent: a complete
# install (marker file) is reused in a few milliseconds.
#
#   tools/install-particle-cli.sh [DIR]
#
# DIR defaults to $SPARK_EMU_PARTICLE_DIR, else
# ${XDG_CACHE_HOME:-~/.cache}/spark-emu/particle-cli-2.16.0.
#
# particle-cli 2.16.0 names three dependencies as GitHub tarballs, which cannot
# be fetched here; npm `overrides` replace them with registry releases (see
# docs/usb-clients.md section 0 in shared/). Its native module
# @serialport/bindings is compiled by node-gyp against the Node headers on
# disk (needs g++, make, python3 and <nodedir>/include/node).
#
# The printed wrapper runs particle with --no-update-check (otherwise every run
# asks the npm registry for a newer version) and refuses an unwritable HOME
# (particle keeps its state in $HOME/.particle). Everything else goes to stderr.
set -eu

VERSION=2.16.0
CACHE=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}
DIR=${1:-${SPARK_EMU_PARTICLE_DIR:-$CACHE/spark-emu/particle-cli-$VERSION}}
WRAPPER=$DIR/particle

die() { echo "install-particle-cli: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is needed (tools/setup.sh installs it; or apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm is needed (tools/setup.sh installs it; or apt-get install npm)"

# The native module is built for one Node ABI: a new Node means a new install.
abi=$(node -p 'process.versions.modules + " " + process.arch + " " + process.version') ||
    die "node does not run"
stamp="particle-cli $VERSION node-abi $abi"

if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$stamp" ] && [ -x "$WRAPPER" ]; then
    echo "$WRAPPER"
    exit 0
fi

# --- what node-gyp needs to build @serialport/bindings without a download ---
nodedir=""
for d in "${npm_config_nodedir:-}" "$(dirname "$(dirname "$(command -v node)")")" /usr /usr/local; do
    [ -n "$d" ] && [ -f "$d/include/node/node_version.h" ] && { nodedir=$d; break; }
done
need=""
command -v g++ >/dev/null 2>&1 || need="$need g++"
command -v make >/dev/null 2>&1 || need="$need make"
command -v python3 >/dev/null 2>&1 || need="$need python3"
[ -n "$nodedir" ] || need="$need libnode-dev"
if [ -n "$need" ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "install-particle-cli: installing$need (to build @serialport/bindings)" >&2
    { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -q --no-install-recommends $need; } >&2 </dev/null ||
        die "apt-get install$need failed"
    [ -n "$nodedir" ] || for d in /usr /usr/local; do
        [ -f "$d/include/node/node_version.h" ] && { nodedir=$d; break; }
    done
fi
[ -n "$nodedir" ] || die "no Node headers (include/node/node_version.h) for $(command -v node); node-gyp would try to download them"
hv=$(sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' "$nodedir/include/node/node_version.h" | paste -sd.)
[ "v$hv" = "$(node -p process.version)" ] ||
    echo "install-particle-cli: warning: headers in $nodedir/include/node are v$hv, node is $(node -p process.version)" >&2

# --- install into a staging directory, then move it into place ---
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9 || die "cannot lock $DIR.lock"
    # another run may have finished while we waited
    if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$stamp" ] && [ -x "$WRAPPER" ]; then
        echo "$WRAPPER"
        exit 0
    fi
fi

stage=$DIR.new.$$
# leftovers of runs that were killed (we hold the lock, so none is running)
[ -n "$(command -v flock)" ] && rm -rf "$DIR".new.* "$DIR".old.*
rm -rf "$stage"
trap 'rm -rf "$stage"' EXIT INT TERM
mkdir -p "$stage"
cat > "$stage/package.json" <<EOF
{
  "name": "spark-emu-particle-cli",
  "private": true,
  "description": "particle-cli $VERSION for the spark-emu client tests (tools/install-particle-cli.sh)",
  "dependencies": { "particle-cli": "$VERSION" },
  "overrides": {
    "request": "2.75.0",
    "stream-http": "2.2.1",
    "particle-api-js@^6": { "form-data": "1.0.0-rc4" }
  }
}
EOF

echo "install-particle-cli: npm install particle-cli@$VERSION into $DIR (about a minute)" >&2
start=$(date +%s)
# No retries (a registry that is not reachable answers at once; npm's back-off
# would otherwise wait ~15 minutes), no audit/fund/update-notifier requests,
# no prompts, metadata from npm's cache when it has it, bounded by `timeout`.
status=0
(cd "$stage" && env npm_config_nodedir="$nodedir" npm_config_update_notifier=false \
    timeout 420 npm install --foreground-scripts --fetch-retries=0 --fetch-timeout=60000 --prefer-offline \
    --no-audit --no-fund --no-update-notifier --ignore-scripts=false --omit=dev \
    --loglevel=warn --yes >"$stage/npm-install.log" 2>&1 </dev/null) || status=$?
if [ $status -ne 0 ]; then
    tail -n 40 "$stage/npm-install.log" >&2
    [ $status -eq 124 ] && die "npm install timed out after 420 s (it takes about a minute; is the npm registry reachable?)"
    die "npm install particle-cli@$VERSION failed (exit $status); the last 40 lines of its log are above"
fi

pkg=$stage/node_modules/particle-cli
[ -f "$pkg/package.json" ] || die "npm install finished but $pkg is missing"
got=$(node -p "require('$pkg/package.json').version")
[ "$got" = "$VERSION" ] || die "installed particle-cli is $got, not $VERSION"
(cd "$stage" && node -e "require('@serialport/bindings')" >/dev/null 2>&1) || {
    grep -n -i -E 'gyp (ERR|info spawn)|error' "$stage/npm-install.log" | tail -n 30 >&2
    die "the native module @serialport/bindings did not build or does not load (needs g++, make, python3, $nodedir/include/node)"
}
[ -x "$stage/node_modules/.bin/particle" ] || die "node_modules/.bin/particle is missing"

cat > "$stage/particle" <<'EOF'
#!/bin/sh
# particle-cli for the spark-emu tests: no update check (it would ask the npm
# registry on every run); needs a writable HOME (state in $HOME/.particle).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${HOME:-}" ] || ! [ -d "$HOME" ] || ! [ -w "$HOME" ]; then
    echo "particle (spark-emu wrapper): HOME (${HOME:-unset}) must be a writable directory" >&2
    exit 2
fi
exec node "$here/node_modules/particle-cli/dist/index.js" --no-update-check "$@"
EOF
chmod +x "$stage/particle"

# smoke test with a scratch HOME
h=$(mktemp -d)
v=$(HOME=$h timeout 60 "$stage/particle" --version 2>&1) || { rm -rf "$h"; die "particle --version failed: $v"; }
rm -rf "$h"
[ "$v" = "$VERSION" ] || die "particle --version printed '$v', not $VERSION"

echo "$stamp" > "$stage/.complete"
rm -rf "$DIR.old.$$"
[ -e "$DIR" ] && mv "$DIR" "$DIR.old.$$"
mv "$stage" "$DIR" || die "cannot move $stage to $DIR"
trap - EXIT INT TERM
rm -rf "$DIR.old.$$"
echo "install-particle-cli: done in $(( $(date +%s) - start )) s" >&2
echo "$WRAPPER"
