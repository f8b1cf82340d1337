#!/bin/sh
# Generate configure and Makefile.in from configure.ac and Makefile.am (git checkouts only;
# release tarballs ship them).  Needs autoconf, automake and pkg-config (contrib/install-deps.sh).
set -e
cd "$(dirname "$0")"
autoreconf -fi
