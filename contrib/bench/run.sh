#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hadnsd benchmark: hadnsd against NSD, Knot and gdnsd (and a do-nothing UDP "floor"), all
# serving the same generated zone on loopback, measured interleaved.  See README.md here.
#
#   contrib/bench/run.sh [--quick] [--load | --all | --policy] [--rounds N] [--duration S]
#                        [--rate Q] [--servers hadnsd,nsd,knot,gdnsd,floor] [--build REV]
#                        [--build-base REV] [--no-install] [...]
#
# Installs dnsperf, nsd, knot and gdnsd from Debian when missing (services kept from starting,
# as contrib/install-deps.sh does), compiles floor.c into a temp dir, then runs bench.py, which
# takes the remaining options (contrib/bench/bench.py --help).  --build REV measures a binary
# that cannot change under the run: commit REV (e.g. HEAD) from `git archive`, built in
# ${TMPDIR:-/tmp}/hadnsd-bench-build-SHA (kept, and reused by the next run of that commit).
# --build-base REV builds REV the same way and runs it beside hadnsd as "hadnsd-base", with a
# hadnsd/hadnsd-base column: a change weighed against its base in one interleaved run.
# --policy: the policy-answer mode (README.md here).  Not part of `make check`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

install=true
build_rev=
base_rev=
policy=false
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --no-install) install=false ;;
    --build)
        [ $# -ge 2 ] || { echo "bench: --build needs a revision" >&2; exit 2; }
        build_rev=$2
        shift
        ;;
    --build=*) build_rev=${1#--build=} ;;
    --build-base)
        [ $# -ge 2 ] || { echo "bench: --build-base needs a revision" >&2; exit 2; }
        base_rev=$2
        shift
        ;;
    --build-base=*) base_rev=${1#--build-base=} ;;
    -h | --help)
        sed -n '3,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        echo
        exec python3 "$here/bench.py" --help
        ;;
    *)
        [ "$1" = --policy ] && policy=true
        args+=("$1")
        ;;
    esac
    shift
done

# --- the peers and tools, from Debian: the project's one installer, set "bench" ------------
install_pkgs() {
    "$(dirname "${BASH_SOURCE[0]}")/../install-deps.sh" bench
}
$install && install_pkgs
# Building a commit, and the policy mode's GeoIP test database (tests/data/mkmmdb.pl), need
# the build set (compilers, -dev packages, the MaxMind DB writer).
if $install && { [ -n "$build_rev$base_rev" ] || $policy; }; then
    "$top/contrib/install-deps.sh" build
fi

# --- a pinned hadnsd: commit REV from git archive, built outside the working tree -----------
# Prints the binary's path.
build_commit() {
    local rev=$1 sha bdir
    sha=$(git -C "$top" rev-parse --verify "$rev^{commit}")
    bdir=${TMPDIR:-/tmp}/hadnsd-bench-build-${sha:0:12}
    if [ ! -x "$bdir/build/src/hadnsd" ]; then
        echo "bench: building $rev (${sha:0:12}) in $bdir (log: $bdir.log)" >&2
        rm -rf "$bdir"
        mkdir -p "$bdir/src" "$bdir/build"
        git -C "$top" archive "$sha" | tar -x -C "$bdir/src"
        if ! (cd "$bdir/src" && ./autogen.sh && cd "$bdir/build" && ../src/configure &&
            make -j"$(nproc)") >"$bdir.log" 2>&1; then
            tail -20 "$bdir.log" >&2
            echo "bench: building $rev failed; see $bdir.log" >&2
            return 1
        fi
    fi
    echo "bench: hadnsd of commit ${sha:0:12}: $bdir/build/src/hadnsd" >&2
    echo "$bdir/build/src/hadnsd"
}
if [ -n "$build_rev" ]; then
    bin=$(build_commit "$build_rev") || exit 1
    args+=(--hadnsd "$bin")
fi
if [ -n "$base_rev" ]; then
    bin=$(build_commit "$base_rev") || exit 1
    args+=(--hadnsd-base "$bin")
fi

# --- the floor -------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hadnsd-bench-floor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -o "$tmp/floor" "$here/floor.c"

# --- hadnsd ----------------------------------------------------------------------------------
have_hadnsd=false
for a in "${args[@]}"; do
    case $a in --hadnsd | --hadnsd=*) have_hadnsd=true ;; esac
done
if ! $have_hadnsd && [ ! -x "$top/build/src/hadnsd" ]; then
    echo "bench: $top/build/src/hadnsd is not built; build it first (contrib/run-demo.sh" \
        "builds in build/), or pass --hadnsd PATH" >&2
    exit 1
fi

python3 "$here/bench.py" --floor "$tmp/floor" "${args[@]}"
