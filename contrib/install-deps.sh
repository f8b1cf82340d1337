#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages hadnsd needs.  Idempotent: when everything is
# already installed it exits at once, without root and without apt-get update.
#
#   contrib/install-deps.sh [build|test|bench]     (default: build)
#
# build: compilers, autotools and the -dev packages to build hadnsd and its unit tests, and
#        the MaxMind DB writer for the demo's and the tests' own GeoIP database.
# test:  build + the peers and tools the integration/interop tests drive (dig, kdig, NSD,
#        Knot, dnspython, mmdb writer).  Tests SKIP (exit 77) when a tool is missing, but
#        CI installs them all so nothing is skipped there.
set -euo pipefail

BUILD_PKGS=(
    build-essential autoconf automake libtool pkg-config autoconf-archive
    libldns-dev libevent-dev libmaxminddb-dev libjansson-dev libcriterion-dev libssl-dev
    bind9-dnsutils libmaxmind-db-writer-perl
)
TEST_PKGS=(
    "${BUILD_PKGS[@]}"
    knot-dnsutils ldnsutils nsd knot dnsperf python3 python3-dnspython mmdb-bin openssl
)
# Packages that ship a daemon: we need their binaries as test peers, never a running
# service (it would take port 53 and survive the tests).
# bench: the peers and the load generator contrib/bench/run.sh compares hadnsd with.
BENCH_PKGS=(dnsperf nsd knot gdnsd python3 gcc libc6-dev util-linux)
SERVICE_PKGS=(nsd knot gdnsd)

usage() { echo "usage: $0 [build|test|bench]" >&2; exit 2; }

set_name=${1:-build}
case $set_name in
build) pkgs=("${BUILD_PKGS[@]}") ;;
test) pkgs=("${TEST_PKGS[@]}") ;;
bench) pkgs=("${BENCH_PKGS[@]}") ;;
-h | --help) usage ;;
*) echo "install-deps: unknown package set '$set_name'" >&2; usage ;;
esac

# One dpkg-query for all packages; unknown names make it exit 1, which is fine here.
missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null || true)
for p in "${pkgs[@]}"; do
    grep -qx "$p installed" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} '$set_name' packages are installed"
    exit 0
fi
echo "install-deps: missing: ${missing[*]}"

apt_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    # -n: never wait for a password prompt nobody can answer (CI has no stdin).
    as_root=(sudo -n)
    [ -t 0 ] && as_root=(sudo)
else
    echo "install-deps: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive $apt_cmd" >&2
    exit 1
fi
root() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@"; }

# Do not race a running apt/dpkg (unattended-upgrades, a provisioning script): wait for it.
# /proc is used because a fresh image may lack pgrep/fuser.  DPkg::Lock::Timeout below
# covers the remaining window for the dpkg lock.
apt_busy() {
    local c n
    for c in /proc/[0-9]*/comm; do
        n=$(cat "$c" 2>/dev/null) || continue
        case $n in apt | apt-get | aptitude | dpkg | unattended-upgr) return 0 ;; esac
    done
    return 1
}
waited=0
while apt_busy; do
    [ $waited -eq 0 ] && echo "install-deps: waiting for another apt/dpkg to finish..."
    [ $waited -ge 900 ] && { echo "install-deps: apt/dpkg still busy after 900 s" >&2; exit 1; }
    sleep 5
    waited=$((waited + 5))
done

# Keep packages like nsd/knot from starting their service while they are installed.
# Only ours if none exists, and removed again on exit so the machine's policy is unchanged.
policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
    root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    trap 'root rm -f '"$policy" EXIT
fi

apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
          -o Dpkg::Options::=--force-confold)

# apt-get update only when needed: no package lists yet, or a missing package without an
# install candidate.  If the install from the existing lists fails (stale lists: the mirror
# dropped a superseded version), update and retry once.
need_update=false
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    need_update=true
else
    for p in "${missing[@]}"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=true; break; fi
    done
fi
if $need_update; then
    root apt-get "${apt_opts[@]}" update
fi
if ! root apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"; then
    $need_update && exit 1
    echo "install-deps: install failed; running apt-get update and retrying"
    root apt-get "${apt_opts[@]}" update
    root apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# On a systemd machine the packages enable their units for the next boot; we only want the
# binaries, so disable the units of service packages this run installed.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for p in "${SERVICE_PKGS[@]}"; do
        case " ${missing[*]} " in
        *" $p "*) root systemctl disable "$p.service" >/dev/null 2>&1 || true ;;
        esac
    done
fi
echo "install-deps: '$set_name' packages installed"
