# SPDX-License-Identifier: MIT
# tests/integration/100_health_lib/health.sh: helpers shared by the health and control tests
# (1NN_*), sourced after lib.sh:
#     . "$(dirname "$0")/../lib.sh"
#     . "$LIBDIR/100_health_lib/health.sh"
#
#   target_start NAME KIND [ADDR [PORT]]  a targets.py (http|https|tcp) in $T/tgt/NAME; sets
#                                         TPORT to its port (see targets.py for the modes)
#   target_mode NAME MODE                 switches it and waits until the switch is in force
#   ctl ARGS...                           ctl.py on $CTL (the control socket)
#   hctl ARGS...                          hadnsctl -s $CTL
#   wait_state CHECK STATE [TIMEOUT]      polls until the check's state is STATE (a failure
#                                         otherwise, with the check's JSON)
#   expect_field CHECK PATH VALUE         one field of the check, now
#   wait_field CHECK PATH VALUE [TIMEOUT] polls until the field has the value
#   expect_transition CHECK down|up N     the last change came after exactly N results
#
# Every target is started by this shell and stopped by its PID at exit.

HLIB=$LIBDIR/100_health_lib
HADNSCTL=${HADNSCTL:-$top_builddir/src/hadnsctl}
CTL=$T/ctl.sock
TPIDS=

[ -x "$HADNSCTL" ] || hard_error "$HADNSCTL is not built"
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the targets and the raw control client need it)"

# python3 without dnspython is enough here.
hpy() { python3 "$@"; }

health_cleanup() {
    local p
    [ -n "${T:-}" ] && [ -d "$T/tgt" ] && for p in "$T"/tgt/*/; do touch "$p/quit"; done
    for p in $TPIDS; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    TPIDS=
}

# Chain our cleanup before lib.sh's (which removes $T and exits with the status).
# cleanup reads the exit status from $?: hand it through.
trap 'hst=$?; health_cleanup; (exit $hst); cleanup' EXIT

target_start() {
    local name="$1" kind="$2" addr="${3:-127.0.0.1}" port="${4:-0}" d i extra=
    d=$T/tgt/$name
    mkdir -p "$d"
    if [ "$kind" = https ]; then
        extra="--cert $T/cert.pem --key $T/key.pem"
    fi
    # shellcheck disable=SC2086 # extra is two options or nothing
    python3 "$HLIB/targets.py" --dir "$d" --kind "$kind" --addr "$addr" --port "$port" \
        $extra >"$d/log" 2>&1 &
    TPIDS="$TPIDS $!"
    i=0
    while [ ! -s "$d/port" ]; do
        [ $i -ge 100 ] && fail "target $name did not start: $(cat "$d/log")"
        sleep 0.1
        i=$((i + 1))
    done
    TPORT=$(cat "$d/port")
}

target_mode() {
    local d="$T/tgt/$1" i=0
    printf '%s\n' "$2" >"$d/mode.tmp" && mv -f "$d/mode.tmp" "$d/mode"
    while [ "$(cat "$d/applied" 2>/dev/null)" != "$2" ]; do
        [ $i -ge 100 ] && fail "target $1 did not switch to $2: $(cat "$d/log")"
        sleep 0.05
        i=$((i + 1))
    done
}

# A self-signed certificate for www.test.example in $T/cert.pem, key in $T/key.pem.
make_cert() {
    command -v openssl >/dev/null 2>&1 || skip "openssl not found (Debian: openssl)"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
        -days 2 -subj "/CN=www.test.example" \
        -addext "subjectAltName=DNS:www.test.example" >"$T/openssl.log" 2>&1 ||
        hard_error "openssl req failed: $(cat "$T/openssl.log")"
}

ctl() { hpy "$HLIB/ctl.py" "$CTL" "$@"; }
hctl() { "$HADNSCTL" -s "$CTL" "$@"; }

check_json() { ctl send "{\"command\": \"checks\", \"check\": \"$1\"}"; }

wait_state() {
    local out
    if ! out=$(ctl wait "$1" state "$2" "${3:-30}"); then
        bad "$out; the check: $(check_json "$1")"
        return 1
    fi
    return 0
}

# wait_field CHECK PATH VALUE [TIMEOUT]: polls until the field has the value. For an error
# text right after a target went away: the run in flight then may end in "connection reset by
# peer" (its connection was queued when the listener closed) before the refusals start.
wait_field() {
    local out
    out=$(ctl wait "$1" "$2" "$3" "${4:-30}") || bad "$out"
}

expect_field() {
    local got
    got=$(ctl field "$1" "$2")
    [ "$got" = "$3" ] || bad "check $1: $2 is '$got', expected '$3'"
}

expect_transition() {
    local out
    out=$(ctl transition "$1" "$2" "$3") || bad "$out"
}
