#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The 10,000-check benchmark (DESIGN.md §4): 10,000 HTTP checks at a 1 s interval against
# loopback listeners, while dnsperf measures query latency with and without them.
#
#   contrib/bench/health_scale.sh [--build DIR] [--checks N] [--kind http|tcp] [--no-reuse]
#                                 [--listeners K] [--rate QPS] [--duration S] [--rounds R]
#                                 [--workers W] [--server-core C] [--client-core C] [--json F]
#
# Needs a built tree (default build/: src/hadnsd, src/hadnsctl), dnsperf, gcc, python3 and
# taskset (util-linux). Compiles health_scale_target.c into a temporary directory, then runs
# health_scale.py, which prints per round and a summary: p50/p99/p99.9 latency and lost
# queries without and with the checks, the health thread's CPU, TCP connections opened per
# second, and probes completed per second against those due. --no-reuse: HTTP checks open a
# connection per probe ("reuse_connection": false). Not part of `make check`: it takes minutes
# and a quiet machine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case ${1:-} in
-h | --help)
    sed -n '3,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
for tool in dnsperf gcc python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "health_scale: $tool not found (Debian: apt-get install dnsperf gcc python3)" >&2
        exit 1
    }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/health-scale-target.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -o "$tmp/health_scale_target" "$here/health_scale_target.c"
python3 "$here/health_scale.py" --target "$tmp/health_scale_target" "$@"
