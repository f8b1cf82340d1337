#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hadnsd benchmark: hadnsd against NSD, Knot and gdnsd (and a do-nothing UDP "floor"), all
# serving the same generated zone on loopback, measured interleaved.  See README.md here.
#
#   contrib/bench/run.sh [--quick] [--load | --all] [--rounds N] [--duration S] [--rate Q]
#                        [--servers hadnsd,nsd,knot,gdnsd,floor] [--no-install] [...]
#
# Installs dnsperf, nsd, knot and gdnsd from Debian when missing (services kept from starting,
# as contrib/install-deps.sh does), compiles floor.c into a temp dir, then runs bench.py, which
# takes the remaining options (contrib/bench/bench.py --help).  Not part of `make check`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

install=true
args=()
for a in "$@"; do
    case $a in
    --no-install) install=false ;;
    -h | --help)
        sed -n '3,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        echo
        exec python3 "$here/bench.py" --help
        ;;
    *) args+=("$a") ;;
    esac
done

# --- the peers and tools, from Debian: the project's one installer, set "bench" ------------
install_pkgs() {
    "$(dirname "${BASH_SOURCE[0]}")/../install-deps.sh" bench
}
$install && install_pkgs

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
