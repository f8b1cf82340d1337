# SPDX-License-Identifier: MIT
# tests/integration/lib.sh: helpers for the integration tests (STYLE.md §8). POSIX sh, Linux.
#
# A test does:
#     . "$(dirname "$0")/../lib.sh"
#     need_python                       # SKIP (77) with a reason if no python3 with dnspython
#     cat >"$T/hadnsd.json" <<EOF ... EOF   # listen on 127.0.0.1:0: the kernel picks the port
#     start_server main "$T/hadnsd.json"    # waits for `ready`, sets PORT (its first listener)
#     q www.example.com A; expect_rcode NOERROR; expect_an "www.example.com. 300 IN A 192.0.2.10"
#     stop_server main                  # SIGTERM, bounded wait, asserts exit status 0
#     finish                            # exit 1 if any check failed, else 0
#
# Checks never stop the test at the first failure (`bad` counts them; `finish` reports), except
# `fail`, for when going on makes no sense. Every server is started by this shell and stopped
# by its PID; the EXIT trap stops any still running and removes the temporary directory
# (KEEP_TMP=1 keeps it).
#
# Uses `local`, which POSIX leaves out but dash, bash and busybox sh all have.
#
# Environment: abs_top_srcdir, abs_top_builddir (set by `make check`), HADNSD (the binary),
# PYTHON (a python3 with dnspython), START_TIMEOUT / STOP_TIMEOUT (seconds, default 20: the
# sanitizer build starts slowly), KEEP_TMP.

set -u

TESTDIR=$(cd "$(dirname "$0")" && pwd) || exit 99
LIBDIR=$(cd "$TESTDIR/.." && pwd) || exit 99
TEST_NAME=$(basename "$TESTDIR")
top_srcdir=${abs_top_srcdir:-$(cd "$LIBDIR/../.." && pwd)}
top_builddir=${abs_top_builddir:-/work/main/build}
HADNSD=${HADNSD:-$top_builddir/src/hadnsd}
START_TIMEOUT=${START_TIMEOUT:-20}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
QSERVER=127.0.0.1
PORT=
NBAD=0
PY=

# ---- reporting ----

say() { printf '# %s\n' "$*"; }

# A failed check: counted, reported at the end by `finish`. Counted in a file too, so that a
# check run in a subshell (a pipeline's last command, $(...)) is not lost.
bad() {
    NBAD=$((NBAD + 1))
    echo x >>"$T/bad"
    printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*"
}

# A fatal failure: the server logs, then exit 1 (the trap cleans up).
fail() {
    printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*"
    dump_logs
    exit 1
}

skip() {
    printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*"
    exit 77
}

# A broken test environment (not a hadnsd failure): automake's "hard error".
hard_error() {
    printf 'ERROR: %s: %s\n' "$TEST_NAME" "$*"
    exit 99
}

dump_logs() {
    local d
    [ -d "${T:-}/srv" ] || return 0
    for d in "$T"/srv/*/; do
        d=${d%/}
        [ -f "$d/log" ] || continue
        printf -- '--- server %s log (%s) ---\n' "$(basename "$d")" "$d/log"
        sed 's/^/    /' "$d/log" | tail -n 60
    done
}

# Ends the test: stops servers still running (asserting exit 0), then exits 0 or 1.
finish() {
    local d
    for d in "$T"/srv/*/; do
        [ -f "$d/pid" ] && [ ! -f "$d/stopped" ] && stop_server "$(basename "$d")"
    done
    [ -f "$T/bad" ] && NBAD=$(($(wc -l <"$T/bad")))
    if [ "$NBAD" -gt 0 ]; then
        dump_logs
        printf 'FAIL: %s: %d check(s) failed\n' "$TEST_NAME" "$NBAD"
        exit 1
    fi
    printf 'PASS: %s\n' "$TEST_NAME"
    exit 0
}

# ---- requirements ----

need_cmd() {
    for c; do
        command -v "$c" >/dev/null 2>&1 || skip "$c not found (install it to run this test)"
    done
}

# Sets PY to a python3 that has dnspython. The python3 first in PATH (pyenv, venv) may lack it
# while the system's has it.
find_python() {
    [ -n "$PY" ] && return 0
    for p in ${PYTHON:-} python3 /usr/bin/python3; do
        if "$p" -c 'import dns.message, dns.edns, dns.rdatatype' >/dev/null 2>&1; then
            PY=$p
            return 0
        fi
    done
    return 1
}

need_python() {
    find_python || skip "no python3 with dnspython (Debian: python3-dnspython; or set PYTHON)"
}

# Can we bind a UDP and a TCP socket on this loopback address? (::1 may be disabled.)
have_addr() {
    python_any - "$1" <<'EOF' >/dev/null 2>&1
import socket, sys
a = sys.argv[1]
fam = socket.AF_INET6 if ":" in a else socket.AF_INET
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(fam, t)
    s.bind((a, 0))
    s.close()
EOF
}

# Any python3 (no dnspython needed): for JSON editing and address probes.
python_any() {
    if find_python; then "$PY" "$@"; else python3 "$@"; fi
}

# ---- temporary directory and cleanup ----

cleanup() {
    local st=$? d pid i
    trap - EXIT
    dnsq_stop
    if [ -n "${T:-}" ] && [ -d "$T/srv" ]; then
        for d in "$T"/srv/*/; do
            [ -f "$d/pid" ] && [ ! -f "$d/stopped" ] || continue
            pid=$(cat "$d/pid")
            kill -TERM "$pid" 2>/dev/null
            i=0
            while proc_alive "$pid" && [ $i -lt 50 ]; do
                sleep 0.1
                i=$((i + 1))
            done
            proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        done
    fi
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        if [ -n "${KEEP_TMP:-}" ]; then
            echo "# kept $T"
        else
            rm -rf "$T"
        fi
    fi
    exit "$st"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/hadnsd-it-$TEST_NAME.XXXXXX") || hard_error "mktemp failed"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
mkdir -p "$T/srv"

[ -x "$HADNSD" ] || hard_error "$HADNSD is not built (set abs_top_builddir or HADNSD)"

# ---- config files ----

# json_edit IN OUT KEY=JSON...: copies a JSON config, setting top-level keys to JSON values.
json_edit() {
    python_any - "$@" <<'EOF' || fail "json_edit $*"
import json, sys
src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(src) as f:
    cfg = json.load(f)
for e in edits:
    k, _, v = e.partition("=")
    cfg[k] = json.loads(v)
with open(dst, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
EOF
}

# json_str STRING: STRING as a JSON string literal (paths with odd characters).
json_str() {
    python_any -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# ---- servers ----

# proc_alive PID: running and not a zombie (a zombie still answers kill -0).
proc_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}

# ans.py (beside lib.sh): one query, summarised; see its header.
ANS=$LIBDIR/ans.py

# expect_ans [--tcp] NAME TYPE WANT: ans.py's summary of one query is WANT.
expect_ans() {
    tcp=
    if [ "$1" = --tcp ]; then
        tcp=--tcp
        shift
    fi
    A=$("$PY" "$ANS" -p "$PORT" $tcp "$1" "$2" 2>&1) || bad "ans.py $tcp $1 $2: $A"
    [ "$A" = "$3" ] || bad "$1 $2 ${tcp:-(udp)}: expected '$3', got '$A'"
}

# await [--ecs ADDR/LEN] NAME SET [TIMEOUT]: polls until NAME A answers SET (a bounded wait,
# 20 s by default, not a timing test).
await() {
    ecs=
    if [ "$1" = --ecs ]; then
        ecs="--ecs $2"
        shift 2
    fi
    out=$("$PY" "$ANS" -p "$PORT" $ecs --poll "$2" --deadline "${3:-20}" "$1" A) ||
        bad "$1${ecs:+ $ecs}: $out"
}

# await_line NAME TYPE LINE [TIMEOUT]: polls until ans.py's whole summary of NAME TYPE is LINE
# (TTL and ECS included; a bounded wait, 20 s by default, not a timing test).
await_line() {
    out=$("$PY" "$ANS" -p "$PORT" --poll-line "$3" --deadline "${4:-20}" "$1" "$2") ||
        bad "$1 $2: $out"
    say "seen: $3"
}

# run_foreground CONFIG OUT: hadnsd -c CONFIG, which must exit by itself (bounded wait);
# output in OUT, status in RC ("running" when it had to be stopped: it started anyway).
run_foreground() {
    "$HADNSD" -c "$1" >"$2" 2>&1 &
    fg_pid=$!
    i=0
    while proc_alive "$fg_pid" && [ $i -lt $((START_TIMEOUT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if proc_alive "$fg_pid"; then
        kill -TERM "$fg_pid"
        wait "$fg_pid"
        RC=running
        return
    fi
    wait "$fg_pid"
    RC=$?
}

# expect_dnsperf_clean OUT STATUS WHAT: dnsperf (output OUT, exit STATUS) completed more than
# 1000 queries and lost none across WHAT.
expect_dnsperf_clean() {
    sed -n '/Queries sent/,/Queries lost/p' "$1" | sed 's/^/# dnsperf: /'
    [ "$2" -eq 0 ] || bad "dnsperf exited $2"
    lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1")
    completed=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1")
    [ -n "$lost" ] || bad "no 'Queries lost' line in dnsperf's output"
    [ "${lost:-1}" = 0 ] || bad "dnsperf lost $lost queries across $3"
    [ "${completed:-0}" -gt 1000 ] || bad "dnsperf completed only ${completed:-0} queries"
}

srv_dir() { printf '%s/srv/%s' "$T" "$1"; }
server_pid() { cat "$(srv_dir "$1")/pid"; }
server_log() { printf '%s/log' "$(srv_dir "$1")"; }

# server_ports NAME: "ADDR PORT" per listener, in config order.
server_ports() { cat "$(srv_dir "$1")/ports"; }

# server_port NAME [ADDR]: the port of NAME's first listener (on ADDR, if given).
server_port() {
    if [ $# -ge 2 ]; then
        awk -v a="$2" '$1 == a { print $2; exit }' "$(srv_dir "$1")/ports"
    else
        awk 'NR == 1 { print $2 }' "$(srv_dir "$1")/ports"
    fi
}

# start_server NAME CONFIG [ARGS...]: runs hadnsd -c CONFIG in the background, waits (bounded)
# for its `ready` line and records its listeners. Sets PORT to its first listener's port.
start_server() {
    launch_server "$@"
    local d
    d=$(srv_dir "$1")
    sed -n 's/^hadnsd: [a-z]*: listening on \(.*\):\([0-9][0-9]*\) (udp+tcp)$/\1 \2/p' "$d/log" |
        sed 's/^\[\(.*\)\] /\1 /' >"$d/ports"
    [ -s "$d/ports" ] || fail "server $1: no 'listening on' line (log_level must be notice or more verbose)"
    PORT=$(server_port "$1")
    say "server $1 (pid $(cat "$d/pid")) ready: $(tr '\n' ' ' <"$d/ports")"
}

# launch_server NAME CONFIG [ARGS...]: start_server without reading the listeners (for a
# log_level that hides them).
launch_server() {
    local name="$1" cfg="$2" d pid i st
    shift 2
    d=$(srv_dir "$name")
    rm -rf "$d"
    mkdir -p "$d"
    : >"$d/log" # before the background job opens it: the first grep must find it
    "$HADNSD" -c "$cfg" "$@" >>"$d/log" 2>&1 3>&- 4>&- &
    pid=$!
    echo "$pid" >"$d/pid"
    i=0
    while ! grep -q '^hadnsd: notice: hadnsd .* ready: ' "$d/log"; do
        if ! proc_alive "$pid"; then
            wait "$pid"
            st=$?
            touch "$d/stopped"
            fail "server $name exited with status $st before it was ready"
        fi
        if [ $i -ge $((START_TIMEOUT * 10)) ]; then
            fail "server $name not ready after ${START_TIMEOUT}s"
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

# The log must show no sanitizer report.
check_log_clean() {
    log=$(server_log "$1")
    if grep -q -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$log"; then
        bad "server $1: sanitizer report in its log"
    fi
}

# stop_server NAME [SIGNAL]: SIGTERM (or SIGNAL), bounded wait, asserts exit status 0 and a
# clean log. kill -9 only if it did not stop in time, and that is a failure.
stop_server() {
    local name="$1" sig="${2:-TERM}" d pid i st
    d=$(srv_dir "$name")
    pid=$(cat "$d/pid")
    [ -f "$d/stopped" ] && return 0
    kill "-$sig" "$pid" 2>/dev/null
    i=0
    while proc_alive "$pid" && [ $i -lt $((STOP_TIMEOUT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if proc_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        touch "$d/stopped"
        bad "server $name did not stop within ${STOP_TIMEOUT}s of SIG$sig (killed with SIGKILL)"
        return 1
    fi
    wait "$pid"
    st=$?
    touch "$d/stopped"
    if [ "$st" -ne 0 ]; then
        bad "server $name exited with status $st after SIG$sig (expected 0)"
    fi
    grep -q '^hadnsd: notice: stopped$' "$d/log" || bad "server $name: no 'stopped' line in its log"
    check_log_clean "$name"
}

# server_alive NAME: fails the check if the server is no longer running.
server_alive() {
    proc_alive "$(server_pid "$1")" || bad "server $1 is not running any more"
}

# signal_server NAME SIGNAL
signal_server() { kill "-$2" "$(server_pid "$1")"; }

# log_count NAME FIXED-STRING: how many log lines contain it.
log_count() { grep -c -F -- "$2" "$(server_log "$1")"; }

# wait_log NAME FIXED-STRING [COUNT [TIMEOUT]]: waits until at least COUNT lines contain it.
wait_log() {
    local n="${3:-1}" to="${4:-10}" i=0
    while [ "$(log_count "$1" "$2")" -lt "$n" ]; do
        if [ $i -ge $((to * 10)) ]; then
            bad "server $1: no $n line(s) with '$2' in its log within ${to}s"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 0
}

# ---- queries and checks on parsed responses (dnsq.py) ----

# The queries go through one `dnsq.py --serve` process per test (started by the first q,
# talking over two FIFOs on fds 3 and 4), which saves an interpreter start per query. If it
# dies, reading fd 4 hits EOF and q reports the failure: it cannot hang.
QPID=
dnsq_start() {
    mkfifo "$T/dnsq.in" "$T/dnsq.out" || fail "mkfifo failed"
    "$PY" "$LIBDIR/dnsq.py" --serve <"$T/dnsq.in" >"$T/dnsq.out" 2>"$T/dnsq.err" &
    QPID=$!
    exec 3>"$T/dnsq.in" 4<"$T/dnsq.out"
}

dnsq_stop() {
    [ -n "$QPID" ] || return 0
    exec 3>&- 4<&-
    kill "$QPID" 2>/dev/null
    wait "$QPID" 2>/dev/null
    QPID=
}

# q [dnsq.py options] QNAME QTYPE: queries QSERVER:PORT; the parsed response goes to $T/resp.
# Later -s/-p options override the defaults. Not in a subshell ($(...), a pipeline): the
# query process and the response file belong to the test's own shell.
q() {
    local line
    QDESC="$*"
    if [ -n "$QPID" ] && ! proc_alive "$QPID"; then
        # Writing to it now would kill this shell with SIGPIPE.
        bad "dnsq.py --serve is gone: $(cat "$T/dnsq.err"); starting another"
        dnsq_stop
        rm -f "$T/dnsq.in" "$T/dnsq.out"
    fi
    [ -n "$QPID" ] || dnsq_start
    printf '%s\037' -s "$QSERVER" -p "$PORT" "$@" >&3
    printf '\n' >&3
    : >"$T/resp"
    QRC=
    while IFS= read -r line <&4; do
        case $line in
        "$(printf '\036')"*)
            QRC=${line#?}
            break
            ;;
        esac
        printf '%s\n' "$line" >>"$T/resp"
    done
    if [ -z "$QRC" ]; then
        QRC=1
        bad "q $QDESC: dnsq.py --serve died: $(cat "$T/dnsq.err")"
        dnsq_stop
    elif [ "$QRC" -ne 0 ] && [ "$QRC" -ne 3 ]; then
        bad "q $QDESC: dnsq.py failed (status $QRC): $(cat "$T/resp")"
    fi
    return 0
}

bad_resp() {
    bad "[q $QDESC] expected $*; the response was:
$(sed 's/^/    | /' "$T/resp")"
}

resp_ok() {
    if [ "$QRC" -ne 0 ]; then
        bad_resp "$1 (but there was no response)"
        return 1
    fi
    return 0
}

expect_rcode() { resp_ok "rcode $1" && { grep -qx "rcode $1" "$T/resp" || bad_resp "rcode $1"; }; }

# expect_flags F...: exactly these header flags (qr aa tc rd ra z ad cd).
expect_flags() { resp_ok "flags $*" && { grep -qx "flags $*" "$T/resp" || bad_resp "flags '$*'"; }; }

expect_flag() {
    resp_ok "flag $1" && { grep -qE "^flags(.* )?$1( |\$)" "$T/resp" || bad_resp "flag $1 set"; }
}

expect_noflag() {
    resp_ok "no flag $1" && { ! grep -qE "^flags(.* )?$1( |\$)" "$T/resp" || bad_resp "flag $1 clear"; }
}

# expect_line TEXT: a line exactly TEXT. expect_noline REGEX: no line matching REGEX.
expect_line() { resp_ok "'$1'" && { grep -qxF -- "$1" "$T/resp" || bad_resp "a line '$1'"; }; }
expect_noline() { resp_ok "no '$1'" && { ! grep -qE -- "$1" "$T/resp" || bad_resp "no line matching '$1'"; }; }

# expect_section an|ns|ar [RR...]: the section holds exactly these RRs (order ignored); the
# RRs are "owner ttl class type rdata" as dnspython prints them.
expect_section() {
    local tag="$1" rr
    shift
    resp_ok "section $tag" || return 0
    grep "^$tag " "$T/resp" | LC_ALL=C sort >"$T/sect.got"
    : >"$T/sect.want"
    for rr; do printf '%s %s\n' "$tag" "$rr" >>"$T/sect.want"; done
    LC_ALL=C sort -o "$T/sect.want" "$T/sect.want"
    if ! cmp -s "$T/sect.want" "$T/sect.got"; then
        bad_resp "section $tag:
$(sed 's/^/    = /' "$T/sect.want")"
    fi
}
expect_an() { expect_section an "$@"; }
expect_ns() { expect_section ns "$@"; }
expect_ar() { expect_section ar "$@"; }

expect_timeout() { [ "$QRC" -eq 3 ] || bad_resp "no response at all"; }

# resp_field KEY: the rest of the first line starting with KEY.
resp_field() { sed -n "s/^$1 //p" "$T/resp" | head -n 1; }

# section_types an|ns|ar: the RR types in a section, sorted and unique.
section_types() { awk -v t="$1" '$1 == t { print $5 }' "$T/resp" | LC_ALL=C sort -u; }

# ---- dig / kdig: only their parsed header fields and +short data ----

# dig_hdr TOOL ARGS...: prints "status RCODE" and "flags F..." parsed from the header of
# dig's or kdig's output (dig: "status: X," "flags: qr aa;"; kdig: "status: X;" "Flags: ...;").
dig_hdr() {
    local tool="$1"
    shift
    "$tool" "$@" 2>&1 | awk '
        /->>HEADER<<-/ { for (i = 1; i <= NF; i++) if ($i == "status:") { s = $(i + 1);
                         gsub(/[,;]/, "", s); print "status " s } }
        /^;; [Ff]lags:/ { sub(/^;; [Ff]lags: */, ""); sub(/;.*/, ""); print "flags " $0 }'
}
