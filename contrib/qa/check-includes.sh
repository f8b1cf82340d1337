#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Enforce STYLE.md §2's include matrix on src/*.c and src/*.h (direct #include lines only).
#   contrib/qa/check-includes.sh [SRCDIR]      (default: this script's ../../src)
# Exit 0 when clean, 1 listing every violation, 77 (automake SKIP) when SRCDIR has no sources.
set -euo pipefail
src=${1:-$(dirname "$0")/../../src}

# "HEADER|FILES": only FILES may include HEADER.  Globs; headers without their <> or "".
ONLY=(
    'ldns/*|zoneload.c xfr_*.c'
    'jansson.h|conf.c conf_*.[ch] control.c hadnsctl.c'
    'maxminddb.h|geoip.c'
    # the control protocol's names: the server side and the client only
    'ctlproto.h|control.c hadnsctl.c'
    # the health module's inside: the engine and the probe kinds
    'health_probe.h|health.c health_*.c'
    'event2/bufferevent_ssl.h|health_http.c'
)
# "FILES|HEADERS": FILES must never include any of HEADERS.
NEVER=(
    # the query path: no config module, no health internals, no ldns/jansson, no evhttp
    'net_udp.[ch] net_tcp.[ch] answer.[ch] wire.[ch] zonedb.[ch]|conf.h health.h ldns/* jansson.h event2/http*'
    # the zone is static; the policy overlay sits beside it
    'zonedb.[ch]|policy.h geoip.h'
    # upward calls are callbacks injected by server.c, never includes
    'health.[ch] health_*.[ch] control.[ch]|server.h policy.h'
)

in_list() { # NAME "GLOB GLOB..." -> true if NAME matches one glob
    local g
    # shellcheck disable=SC2053 # unquoted $g on purpose: glob match
    for g in $2; do [[ $1 == $g ]] && return 0; done
    return 1
}

shopt -s nullglob
sources=("$src"/*.c "$src"/*.h)
set -f # from here on the rule lists' globs must not expand against the cwd
files=0 bad=0
for f in "${sources[@]}"; do
    files=$((files + 1))
    base=${f##*/}
    while IFS=: read -r line hdr; do
        for r in "${ONLY[@]}"; do
            if in_list "$hdr" "${r%%|*}" && ! in_list "$base" "${r#*|}"; then
                echo "src/$base:$line: #include $hdr: only ${r#*|} may include it"
                bad=$((bad + 1))
            fi
        done
        for r in "${NEVER[@]}"; do
            if in_list "$base" "${r%%|*}" && in_list "$hdr" "${r#*|}"; then
                echo "src/$base:$line: #include $hdr: not allowed in ${r%%|*}"
                bad=$((bad + 1))
            fi
        done
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f" |
        sed -E 's/^([0-9]+):[^<"]*[<"]([^>"]*).*/\1:\2/')
done
if [ $files -eq 0 ]; then
    echo "check-includes: no *.c/*.h in $src: SKIP"
    exit 77
fi
echo "check-includes: $files files checked, $bad violations"
[ $bad -eq 0 ]
