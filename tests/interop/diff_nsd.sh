#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential test, automake wrapper: hadnsd and NSD serve zones/example.com.zone and
# tests/interop/zones/nasty.example.zone together; diff_nsd.py compares their answers to
# a battery generated from the zones, over UDP and TCP (see diff_nsd.py's header).
#
# Exit: 0 pass, 1 differences not in diff_nsd.py's allow-list, 77 SKIP (reason printed:
# no nsd, no python3 with dnspython, hadnsd not built), 99 hard error (a server would not
# start). Runs from the build dir; finds the sources through this script's own path, so
# VPATH builds and `make distcheck` work. Environment: abs_top_builddir (default .),
# PYTHON (a python3 with dnspython), NSD (path to nsd), DIFF_NSD_ARGS (extra arguments,
# e.g. "--verbose" or "--max-failures 500").

here=$(cd "$(dirname "$0")" && pwd) || exit 99
top_srcdir=$(cd "$here/../.." && pwd) || exit 99
hadnsd=${abs_top_builddir:-.}/src/hadnsd

if [ ! -x "$hadnsd" ]; then
    echo "SKIP: $hadnsd is not built"
    exit 77
fi

nsd=${NSD:-$(command -v nsd 2>/dev/null || true)}
[ -n "$nsd" ] || nsd=/usr/sbin/nsd
if [ ! -x "$nsd" ]; then
    echo "SKIP: nsd not found (Debian package nsd; or set NSD=/path/to/nsd)"
    exit 77
fi

# The python3 first in PATH (pyenv, venv) may lack dnspython while the system's has it.
python=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import dns.message, dns.zone, dns.edns' >/dev/null 2>&1; then
        python=$p
        break
    fi
done
if [ -z "$python" ]; then
    echo "SKIP: no python3 with dnspython (Debian package python3-dnspython; or set PYTHON)"
    exit 77
fi

set -- --zone "nasty.example=$here/zones/nasty.example.zone"
if [ -f "$top_srcdir/zones/example.com.zone" ]; then
    set -- --zone "example.com=$top_srcdir/zones/example.com.zone" "$@"
else
    echo "note: $top_srcdir/zones/example.com.zone missing; testing nasty.example only"
fi

# shellcheck disable=SC2086 # DIFF_NSD_ARGS is split on purpose
exec "$python" "$here/diff_nsd.py" --hadnsd "$hadnsd" --nsd "$nsd" "$@" ${DIFF_NSD_ARGS:-}
