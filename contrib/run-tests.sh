#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command 2: install the test dependencies, build hadnsd and run its whole test suite.
#
#   contrib/run-tests.sh [--sanitizers] [--distcheck] [--all] [--no-deps]
#
#   (no option)    build in build/ and run `make check`
#   --sanitizers   the same in build-san/, configured with --enable-sanitizers (ASan+UBSan)
#   --distcheck    `make distcheck` from build/ (tarball, clean VPATH build, check, uninstall)
#   --all          all three, in that order
#   --no-deps      skip contrib/install-deps.sh (e.g. not root and the packages are present)
#
# Both builds are out of tree (VPATH), so they never clobber each other and need no
# `make distclean` in between; the source tree itself is never configured.
# Environment: JOBS (default: nproc), CONFIGURE_ARGS (extra ./configure arguments).
set -euo pipefail

usage() { sed -n '3,12s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

phases=() deps=true
for arg; do
    case $arg in
    --sanitizers) phases+=(sanitizers) ;;
    --distcheck) phases+=(distcheck) ;;
    --all) phases+=(check sanitizers distcheck) ;;
    --no-deps) deps=false ;;
    -h | --help) usage 0 ;;
    *) echo "run-tests: unknown option '$arg'" >&2; usage 2 ;;
    esac
done
[ ${#phases[@]} -gt 0 ] || phases=(check)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a extra_args <<<"${CONFIGURE_ARGS:-}"

say() { printf '\n=== run-tests: %s\n' "$*"; }
die() { printf 'run-tests: FAILED: %s\n' "$*" >&2; exit 1; }

if $deps; then
    contrib/install-deps.sh test
fi

# A VPATH configure refuses to run when the source dir itself is configured.
if [ -f config.status ] || [ -f Makefile ]; then
    die "the source tree is configured in place; run 'make distclean' in $top first"
fi
# autogen.sh only when configure is missing or older than its inputs; afterwards automake's
# own rebuild rules keep configure and Makefile.in current.
if [ ! -x configure ] || [ ! -f Makefile.in ] ||
    [ -n "$(find configure.ac Makefile.am m4 -newer configure 2>/dev/null | head -n 1)" ]; then
    say "autogen.sh"
    ./autogen.sh
fi

configure_in() { # DIR ARGS...: (re)configure the build dir; cheap when nothing changed
    local dir=$1
    shift
    say "configure in $dir/ $*"
    mkdir -p "$dir"
    if ! (cd "$dir" && ../configure "$@" ${extra_args[@]+"${extra_args[@]}"}); then
        [ -f "$dir/config.log" ] && tail -n 60 "$dir/config.log"
        die "configure in $dir/ (full log: $dir/config.log)"
    fi
}

show_failures() { # DIR: print the harness' summary, which holds the log of every failed test
    local dir=$1 log=$1/test-suite.log
    # after a failed distcheck the suite ran in DIR/hadnsd-*/_build/sub/
    [ -f "$log" ] || log=$(find "$dir" -path '*/_build/*' -name test-suite.log | head -n 1)
    if [ -n "$log" ] && [ -f "$log" ]; then
        echo "----- $log -----"
        cat "$log"
        echo "----- logs of failed tests:"
        find "${log%/*}" -name '*.trs' -exec grep -lE '^:test-result: (FAIL|XPASS|ERROR)' {} + |
            sed 's/\.trs$/.log/' || true
    else
        echo "(no test-suite.log: the failure happened before or while building the tests)"
    fi
}

build_and_check() { # DIR: make + make check
    local dir=$1
    say "make -j$jobs in $dir/"
    make -C "$dir" -j"$jobs" || die "build in $dir/"
    say "make -j$jobs check in $dir/"
    rm -f "$dir/test-suite.log" # so a test build failure does not show a stale summary
    local rc=0
    make -C "$dir" -j"$jobs" check || rc=$?
    summary "$dir"
    if [ $rc -ne 0 ]; then
        show_failures "$dir"
        die "make check in $dir/"
    fi
}

summary() { # DIR: the harness' counts as one plain line ("N passed, N failed, N skipped")
    local log=$1/test-suite.log p f s
    [ -f "$log" ] || return 0
    p=$(sed -n 's/^# PASS: *//p' "$log")
    f=$(( $(sed -n 's/^# FAIL: *//p' "$log") + $(sed -n 's/^# ERROR: *//p' "$log") + $(sed -n 's/^# XPASS: *//p' "$log") ))
    s=$(sed -n 's/^# SKIP: *//p' "$log")
    printf '%s: %s passed, %s failed, %s skipped\n' "${1##*/}" "${p:-0}" "$f" "${s:-0}"
}

for phase in "${phases[@]}"; do
    start=$SECONDS
    case $phase in
    check)
        configure_in build
        build_and_check build
        ;;
    sanitizers)
        configure_in build-san --enable-sanitizers
        # configure only warns about an unknown --enable-*: make sure it really took effect.
        grep -q -- '-fsanitize=' build-san/Makefile ||
            die "build-san/: --enable-sanitizers added no -fsanitize= flag (configure.ac?)"
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        build_and_check build-san
        ;;
    distcheck)
        [ -f build/Makefile ] || configure_in build
        say "make -j$jobs distcheck in build/"
        if ! make -C build -j"$jobs" distcheck; then
            show_failures build
            die "make distcheck"
        fi
        ;;
    esac
    say "$phase: OK ($((SECONDS - start)) s)"
done
