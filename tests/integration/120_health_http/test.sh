#!/bin/sh
# SPDX-License-Identifier: MIT
# 120_health_http: HTTP checks against a local target that answers 200, 503, a wrong body,
# hangs past the timeout or stops listening. Each transition must come after exactly `fall`
# failures or `rise` successes (read from the check's history over the control socket), with
# the right error text; a status-only check and an expect-503 check watch the same target.
# Nothing is timed: every wait polls with a generous bound.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

target_start web http
WPORT=$TPORT

# interval 0.5 s, timeout 0.4 s: a "hang" fails by timeout before the next run is due.
cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zones": [],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "wait" },
    "checks": [
        { "name": "web", "type": "http", "target": "127.0.0.1", "port": $WPORT,
          "path": "/healthz", "host": "www.test.example", "body": "status: ok",
          "interval": 0.5, "timeout": 0.4, "rise": 2, "fall": 3 },
        { "name": "status-only", "url": "http://127.0.0.1:$WPORT/", "interval": 0.5,
          "timeout": 0.4, "rise": 1, "fall": 2 },
        { "name": "maint", "type": "http", "target": "127.0.0.1", "port": $WPORT,
          "expect": [503], "method": "HEAD", "interval": 0.5, "timeout": 0.4, "rise": 1,
          "fall": 1 }
    ]
}
EOF
start_server main "$T/hadnsd.json"
LOG=$(server_log main)

say "start-up: the first round decided before ready"
expect_field web state up
expect_field web reason "first result: ok"
expect_field web last_result ok
expect_field maint state down
expect_field maint last_error "status 200"
grep -q '^hadnsd: info: check web: state unknown -> up (first result: ok)$' "$LOG" ||
    bad "no 'check web: state unknown -> up (first result: ok)' log line"
# The first results come before the server answers (the ready line is after them).
first_ready=$(grep -n ' ready: ' "$LOG" | head -n 1 | cut -d: -f1)
first_check=$(grep -n 'check web: state unknown' "$LOG" | head -n 1 | cut -d: -f1)
if [ -z "$first_check" ] || [ "$first_check" -gt "$first_ready" ]; then
    bad "the first result of web is not logged before the ready line"
fi
grep -q 'Host: ' "$T/tgt/web/hosts" 2>/dev/null && bad "Host: prefix kept"
# The Host header carries the port when it is not the scheme's default (RFC 9110 §7.2).
grep -qx "www.test.example:$WPORT" "$T/tgt/web/hosts" ||
    bad "no request with Host: www.test.example:$WPORT"
grep -qx "127.0.0.1:$WPORT" "$T/tgt/web/hosts" ||
    bad "no request with Host: 127.0.0.1:$WPORT (the URL's host and port)"

# flip MODE STATE ERROR: switches the target, waits for web to reach STATE, checks the
# transition's exactness, the error text and the log line.
flip() {
    mode=$1 want=$2 err=$3
    downs=$(ctl field web counters.downs)
    target_mode web "$mode"
    wait_state web "$want" || return
    if [ "$want" = down ]; then
        expect_transition web down 3
        expect_field web counters.downs $((downs + 1))
        if [ "$mode" = stop ]; then
            # The run in flight as the listener closed may see its queued connection reset.
            wait_field web last_error "$err"
            grep -Eq '^hadnsd: info: check web: state up -> down \(3/3 failed: connection (refused|reset by peer)\)$' "$LOG" ||
                bad "no 'check web: state up -> down (3/3 failed: connection refused)' log line"
        else
            expect_field web last_error "$err"
            grep -qxF "hadnsd: info: check web: state up -> down (3/3 failed: $err)" "$LOG" ||
                bad "no 'check web: state up -> down (3/3 failed: $err)' log line"
        fi
    else
        expect_transition web up 2
        expect_field web last_error ""
        grep -q '^hadnsd: info: check web: state down -> up (2/2 ok)$' "$LOG" ||
            bad "no 'check web: state down -> up (2/2 ok)' log line"
    fi
}

say "503"
flip 503 down "status 503"
wait_state status-only down
wait_state maint up
expect_field maint probed up
say "back to 200"
flip ok up ""
wait_state status-only up
wait_state maint down

say "a wrong body"
flip body down "body mismatch (status 200)"
# The status-only check passes on a 200 whatever the body says.
expect_field status-only state up
expect_field status-only counters.downs 1
say "back"
flip ok up ""

say "a target that hangs past the timeout"
flip hang down "timeout after 0.4 s"
wait_state status-only down
say "back"
flip ok up ""
wait_state status-only up

say "a target that stops listening"
flip stop down "connection refused"
wait_state maint down
wait_field maint last_error "connection refused"
say "listening again"
flip ok up ""

say "counters"
check_json web >"$T/web.json"
hpy - "$T/web.json" <<'EOF' || bad "counters: $(cat "$T/web.json")"
import json, sys
c = json.load(open(sys.argv[1]))["checks"][0]["counters"]
assert c["probes"] == c["ok"] + c["failed"], c
EOF
expect_field web counters.ups 5 # the first result counts as going up
expect_field web counters.downs 4
expect_field web forced null

say "the human table"
hctl checks >"$T/table" || bad "hadnsctl checks failed"
grep -q '^NAME ' "$T/table" || bad "no header in: $(cat "$T/table")"
grep -q "^web  *127.0.0.1:$WPORT  *http  *up " "$T/table" || bad "no web row in: $(cat "$T/table")"
grep -q "^maint .* down .*status 200" "$T/table" || bad "no maint row in: $(cat "$T/table")"

stop_server main
finish
