#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command 1: install the build dependencies, build hadnsd and run it in the foreground
# with the example configuration (etc/hadnsd.json: 127.0.0.1:5353; etc/README.md explains its
# policies).  Extra arguments go to hadnsd.  Try it from another terminal:
#     dig @127.0.0.1 -p 5353 www.example.com A
#
# The build is out of tree in build/ (the same build dir as contrib/run-tests.sh), because a
# configured source tree would make that script's VPATH builds refuse to configure.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

contrib/install-deps.sh build

if [ -f config.status ] || [ -f Makefile ]; then
    echo "run-demo: the source tree is configured in place; run 'make distclean' first" >&2
    exit 1
fi
if [ ! -x configure ] || [ ! -f Makefile.in ] ||
    [ -n "$(find configure.ac Makefile.am m4 -newer configure 2>/dev/null | head -n 1)" ]; then
    ./autogen.sh
fi
mkdir -p build
(cd build && ../configure)
make -C build -j"$(nproc 2>/dev/null || echo 2)"

# The geo example (etc/geo.json, started by hand beside this one) reads a small GeoIP database written from the test data
# (the real GeoLite2 files are licensed and large; etc/README.md says what this one holds).
if [ ! -s etc/demo-geo.mmdb ] || [ tests/data/mkmmdb.pl -nt etc/demo-geo.mmdb ]; then
    perl tests/data/mkmmdb.pl etc/demo-geo.mmdb
fi

echo "run-demo: starting build/src/hadnsd -c etc/hadnsd.json${*:+ $*} (Ctrl-C to stop)"
exec build/src/hadnsd -c etc/hadnsd.json "$@"
