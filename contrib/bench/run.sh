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

# --- the peers and tools, from Debian ------------------------------------------------------
PKGS=(dnsperf nsd knot gdnsd python3 gcc libc6-dev util-linux)
SERVICE_PKGS=(nsd knot gdnsd)

install_pkgs() {
    local missing=() installed p
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)
    for p in "${PKGS[@]}"; do
        grep -qx "$p installed" <<<"$installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "bench: installing ${missing[*]}"
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo -n)
            [ -t 0 ] && as_root=(sudo)
        else
            echo "bench: not root and no sudo; as root, run:" >&2
            echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
            exit 1
        fi
    fi
    root() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@"; }
    # Wait for a running apt/dpkg (bounded), as contrib/install-deps.sh does.
    local waited=0 c n busy
    while :; do
        busy=false
        for c in /proc/[0-9]*/comm; do
            n=$(cat "$c" 2>/dev/null) || continue
            case $n in apt | apt-get | aptitude | dpkg | unattended-upgr) busy=true ;; esac
        done
        $busy || break
        [ $waited -ge 900 ] && { echo "bench: apt/dpkg still busy after 900 s" >&2; exit 1; }
        sleep 5
        waited=$((waited + 5))
    done
    # Packages must not start their services (port 53, surviving us): policy-rc.d says no,
    # ours only if none exists, and removed again afterwards.
    local policy=/usr/sbin/policy-rc.d ours=false
    if [ ! -e $policy ]; then
        root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        ours=true
        trap 'root rm -f '"$policy" EXIT
    fi
    local opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
                -o Dpkg::Options::=--force-confold)
    if ! root apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}"; then
        echo "bench: install failed; running apt-get update and retrying"
        root apt-get "${opts[@]}" update
        root apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}"
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        for p in "${SERVICE_PKGS[@]}"; do
            case " ${missing[*]} " in
            *" $p "*) root systemctl disable --now "$p.service" >/dev/null 2>&1 || true ;;
            esac
        done
    fi
    if $ours; then
        root rm -f $policy
        trap - EXIT
    fi
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
