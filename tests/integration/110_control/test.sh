#!/bin/sh
# SPDX-License-Identifier: MIT
# 110_control: the control socket, through hadnsctl and through the raw socket: every command
# (status, checks, force, reload), malformed JSON, unknown commands, pipelined requests, an
# over-long line, idle clients and many clients at once, the socket's permission bits, a
# stale socket from a killed server (replaced) and a live server's socket (refused), force
# down -> forced DOWN -> auto -> the probed state, reload replies (also while a reload runs),
# and hadnsctl's exit statuses.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

Z=$T/zones
mkdir -p "$Z"
# zone SERIAL [BROKEN]: the ctl.test zone; BROKEN puts a bad address on line 6.
zone() {
    cat <<EOF
\$ORIGIN ctl.test.
\$TTL 300
@   SOA ns1 hostmaster $1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
a   A   192.0.2.${2:-1}
EOF
}
zone 1 >"$Z/ctl.test.zone"
# A zone big enough that its reload takes a moment, so that requests overlap a running reload.
{
    printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n'
    awk 'BEGIN { for (i = 0; i < 40000; i++) printf "h%d A 198.51.100.%d\n", i, i % 250 }'
} >"$Z/big.test.zone"

target_start tcp1 tcp
TCPPORT=$TPORT

# jfield FILE PATH: one field of the JSON object in FILE (dotted path, [N] for arrays).
jfield() {
    hpy - "$1" "$2" <<'EOF'
import json, re, sys
o = json.load(open(sys.argv[1]))
for part in re.findall(r"[^.\[\]]+|\[\d+\]", sys.argv[2]):
    o = o[int(part[1:-1])] if part.startswith("[") else o.get(part, "<missing>")
print("null" if o is None else ("true" if o is True else ("false" if o is False else o)))
EOF
}

# expect_j FILE PATH VALUE
expect_j() {
    got=$(jfield "$1" "$2")
    [ "$got" = "$3" ] || bad "$(basename "$1"): $2 is '$got', expected '$3' in: $(cat "$1")"
}

conf() { # conf FILE [CONTROL-EXTRA]
    cat >"$1" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "ctl.test" }, { "name": "big.test" } ],
    "control": { "socket": "ctl.sock"${2:-} },
    "checks": [
        { "name": "tcp1", "type": "tcp", "target": "127.0.0.1", "port": $TCPPORT,
          "interval": 0.3, "timeout": 0.3, "rise": 1, "fall": 1 }
    ]
}
EOF
}
conf "$T/hadnsd.json"
start_server main "$T/hadnsd.json"
LOG=$(server_log main)

say "the socket"
[ -S "$CTL" ] || bad "$CTL is not a socket"
mode=$(stat -c %a "$CTL")
[ "$mode" = 600 ] || bad "socket mode $mode, expected 600"
grep -q "control socket $CTL (mode 0600)" "$LOG" || bad "no 'control socket $CTL (mode 0600)' log line"

say "status"
hctl status >"$T/status.txt" || bad "hadnsctl status: exit $?"
grep -q "^listening: 127.0.0.1:$PORT (udp+tcp port $PORT)\$" "$T/status.txt" ||
    bad "status does not list 127.0.0.1:$PORT: $(cat "$T/status.txt")"
grep -q '^state: *serving$' "$T/status.txt" || bad "status: not serving: $(cat "$T/status.txt")"
hctl --json status >"$T/status.json" || bad "hadnsctl --json status: exit $?"
expect_j "$T/status.json" ok true
expect_j "$T/status.json" listeners[0].port "$PORT"
expect_j "$T/status.json" listeners[0].ip 127.0.0.1
expect_j "$T/status.json" listeners[0].address "127.0.0.1:$PORT"
expect_j "$T/status.json" config "$T/hadnsd.json"
expect_j "$T/status.json" socket "$CTL"
expect_j "$T/status.json" pid "$(server_pid main)"
expect_j "$T/status.json" zones 2
expect_j "$T/status.json" zones_failed 0
expect_j "$T/status.json" checks 1
expect_j "$T/status.json" starting false
expect_j "$T/status.json" workers 1
[ "$(jfield "$T/status.json" version)" = "$("$HADNSD" --version | cut -d' ' -f2)" ] ||
    bad "status: version $(jfield "$T/status.json" version)"

say "checks"
wait_state tcp1 up
hctl --json checks >"$T/checks.json" || bad "hadnsctl --json checks: exit $?"
expect_j "$T/checks.json" checks[0].name tcp1
expect_j "$T/checks.json" checks[0].type tcp
expect_j "$T/checks.json" checks[0].target 127.0.0.1
expect_j "$T/checks.json" checks[0].port "$TCPPORT"
expect_j "$T/checks.json" checks[0].template null
expect_j "$T/checks.json" checks[0].state up
expect_j "$T/checks.json" checks[0].forced null
expect_j "$T/checks.json" checks[0].last_result ok
expect_j "$T/checks.json" checks[0].last_error ""
expect_j "$T/checks.json" checks[0].rise 1
expect_j "$T/checks.json" checks[0].fall 1
expect_j "$T/checks.json" checks[0].interval 0.3
for k in last_change last_probe counters.probes counters.ok counters.failed counters.ups \
    counters.downs streak.ok streak.failed history reason; do
    [ "$(jfield "$T/checks.json" "checks[0].$k")" != "<missing>" ] || bad "checks: no $k"
done
hctl checks tcp1 >"$T/checks.txt" || bad "hadnsctl checks tcp1: exit $?"
grep -q "^tcp1  *127.0.0.1:$TCPPORT  *tcp  *up  *-  *ok " "$T/checks.txt" ||
    bad "checks table: $(cat "$T/checks.txt")"

say "force down -> forced DOWN -> auto -> the probed state"
hctl force tcp1 down >"$T/force.txt" || bad "hadnsctl force tcp1 down: exit $?"
grep -qx 'tcp1: forced down (state down)' "$T/force.txt" || bad "force output: $(cat "$T/force.txt")"
expect_field tcp1 state down
expect_field tcp1 forced down
expect_field tcp1 probed up
hctl checks tcp1 | grep -q '^tcp1 .* down (probes: up)  *down ' || bad "table: no forced row: $(hctl checks tcp1)"
grep -q '^hadnsd: notice: check tcp1: forced down by the operator$' "$LOG" || bad "no 'forced down' log line"
grep -q '^hadnsd: info: check tcp1: state up -> down (forced down)$' "$LOG" || bad "no 'state up -> down (forced down)' log line"
# The probes go on underneath and change nothing.
p0=$(ctl field tcp1 counters.probes)
ctl wait tcp1 counters.probes ">=$((p0 + 3))" >/dev/null || bad "no probes while forced"
expect_field tcp1 state down
hctl --json force tcp1 auto >"$T/auto.json" || bad "force auto: exit $?"
expect_j "$T/auto.json" forced null
expect_j "$T/auto.json" state up
expect_field tcp1 state up
expect_field tcp1 forced null
grep -q '^hadnsd: info: check tcp1: state down -> up (override cleared)$' "$LOG" || bad "no 'override cleared' log line"
say "force up over a dead target, then auto"
target_mode tcp1 stop
wait_state tcp1 down
hctl force tcp1 up >/dev/null || bad "force up: exit $?"
expect_field tcp1 state up
expect_field tcp1 probed down
hctl force tcp1 auto >/dev/null || bad "force auto: exit $?"
expect_field tcp1 state down
target_mode tcp1 ok
wait_state tcp1 up

say "raw socket: errors get a reply and the connection stays open"
ctl send '{"command": "status", "id": 7}' >"$T/r1"
expect_j "$T/r1" id 7
expect_j "$T/r1" ok true
ctl send '{"command": ' '{"command": "status", "id": "second"}' >"$T/r2"
[ "$(wc -l <"$T/r2")" -eq 2 ] || bad "malformed then good: $(cat "$T/r2")"
head -n 1 "$T/r2" >"$T/r2a"
tail -n 1 "$T/r2" >"$T/r2b"
expect_j "$T/r2a" ok false
jfield "$T/r2a" error | grep -q '^malformed JSON at column ' || bad "malformed: $(cat "$T/r2a")"
expect_j "$T/r2b" ok true
expect_j "$T/r2b" id second
# raw_error REQUEST MESSAGE-PREFIX
raw_error() {
    ctl send "$1" >"$T/re"
    expect_j "$T/re" ok false
    jfield "$T/re" error | grep -q -F -- "$2" || bad "request $1: error '$(jfield "$T/re" error)', expected '$2...'"
}
raw_error '[1, 2]' 'a request must be a JSON object'
raw_error '"status"' 'a request must be a JSON object'
raw_error '{"cmd": "status"}' 'a request needs "command"'
raw_error '{"command": 3}' 'a request needs "command"'
raw_error '{"command": "stats"}' "unknown command 'stats' (known: status, checks, policies, force, reload)"
raw_error '{"command": "status", "command": "checks"}' 'malformed JSON'
raw_error '{"command": "force", "check": "tcp1"}' 'force: "state" must be "up", "down" or "auto"'
raw_error '{"command": "force", "state": "up"}' 'force: "check" must name a check'
raw_error '{"command": "force", "check": "nope", "state": "up"}' 'no check named nope'
raw_error '{"command": "checks", "check": "nope"}' 'no check named nope'
raw_error '{"command": "checks", "check": 1}' '"check" must be a check name'
raw_error '{"command": "force", "check": "tcp1", "state": "sideways"}' 'force: "state" must be'
say "pipelined requests, blank lines"
hpy - "$CTL" >"$T/pipe" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(b'{"command":"status","id":1}\n\n  \n{"command":"checks","id":2}\n{"command":"bogus","id":3}\n')
data = b""
while data.count(b"\n") < 3:
    c = s.recv(65536)
    if not c:
        break
    data += c
print(" ".join("%s:%s" % (json.loads(l)["id"], json.loads(l)["ok"]) for l in data.decode().splitlines()))
EOF
[ "$(cat "$T/pipe")" = "1:True 2:True 3:False" ] || bad "pipelined: '$(cat "$T/pipe")', expected '1:True 2:True 3:False'"
say "an over-long request is refused and closed"
hpy - "$CTL" >"$T/long" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"command": "status", "x": "' + b"a" * 70000)
except OSError:
    pass
data = b""
while True:
    try:
        c = s.recv(65536)
    except OSError:
        break
    if not c:
        break
    data += c
print(json.loads(data.splitlines()[0])["error"])
EOF
grep -qx 'request longer than 65536 bytes' "$T/long" || bad "long request: $(cat "$T/long")"

say "idle clients and many clients at once"
hpy - "$CTL" "$T/idle.ready" "$T/idle.stop" >"$T/idle.out" 2>&1 <<'EOF' &
import json, os, socket, sys, time
path, ready, stop = sys.argv[1:4]
idle = []
for i in range(5):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    idle.append(s)
idle[0].sendall(b'{"command": "sta')  # half a request, then silence
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    time.sleep(0.05)
# The half-sent client is still being served: finish its line.
idle[0].settimeout(20)
idle[0].sendall(b'tus"}\n')
r = json.loads(idle[0].makefile().readline())
print("idle client:", "ok" if r.get("ok") else r)
EOF
IDLEPID=$!
i=0
while [ ! -f "$T/idle.ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ -f "$T/idle.ready" ] || bad "the idle clients did not connect: $(cat "$T/idle.out")"
hctl status >/dev/null || bad "hadnsctl status with idle clients connected: exit $?"
need_python
q a.ctl.test A
expect_rcode NOERROR
hpy - "$CTL" >"$T/many" <<'EOF'
import json, socket, sys, threading
path = sys.argv[1]
ok = []
def one(i):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    s.sendall(json.dumps({"command": "checks", "id": i}).encode() + b"\n")
    r = json.loads(s.makefile().readline())
    if r.get("ok") and r.get("id") == i:
        ok.append(i)
    s.close()
ts = [threading.Thread(target=one, args=(i,)) for i in range(30)]
for t in ts: t.start()
for t in ts: t.join()
print(len(ok))
EOF
[ "$(cat "$T/many")" = 30 ] || bad "30 clients at once: $(cat "$T/many") answered"
touch "$T/idle.stop"
wait "$IDLEPID"
grep -qx 'idle client: ok' "$T/idle.out" || bad "the half-sent idle client: $(cat "$T/idle.out")"

say "reload"
# put_zone: stdin to ctl.test.zone through a new file (a new inode, as editors do).
put_zone() { cat >"$Z/ctl.test.zone.tmp" && mv -f "$Z/ctl.test.zone.tmp" "$Z/ctl.test.zone"; }
zone 2 | put_zone
hctl reload >"$T/reload.txt" || bad "hadnsctl reload: exit $?"
grep -qx 'zones reloaded: ctl.test' "$T/reload.txt" || bad "reload output: $(cat "$T/reload.txt")"
grep -qx 'zones unchanged: big.test' "$T/reload.txt" || bad "reload output: $(cat "$T/reload.txt")"
q ctl.test SOA
grep -q ' SOA ns1.ctl.test. hostmaster.ctl.test. 2 ' "$T/resp" || bad "serial 2 not served after the reply"
hctl --json reload >"$T/reload.json" || bad "hadnsctl --json reload: exit $?"
expect_j "$T/reload.json" ok true
expect_j "$T/reload.json" zones.unchanged[0] ctl.test
expect_j "$T/reload.json" zones.unchanged[1] big.test
say "a reload that fails"
zone 3 999 | put_zone
hctl reload >"$T/reload.txt" 2>"$T/reload.err"
rc=$?
[ "$rc" -eq 1 ] || bad "a failed reload: exit $rc, expected 1"
grep -q "^zone ctl.test failed: $Z/ctl.test.zone:6:" "$T/reload.txt" || bad "failed reload output: $(cat "$T/reload.txt")"
grep -q '^hadnsctl: reload: 1 zone failed to load$' "$T/reload.err" || bad "failed reload stderr: $(cat "$T/reload.err")"
hctl --json reload >"$T/reload.json"
expect_j "$T/reload.json" ok false
expect_j "$T/reload.json" zones.failed[0].zone ctl.test
jfield "$T/reload.json" 'zones.failed[0].error' | grep -q "^$Z/ctl.test.zone:6: " || bad "failed reload JSON: $(cat "$T/reload.json")"
zone 4 | put_zone
say "reload requests while a reload runs"
n0=$(log_count main 'hadnsd: notice: reload: ')
hpy - "$CTL" "$Z/big.test.zone" >"$T/overlap" <<'EOF'
import json, os, socket, sys, threading, time
path, big = sys.argv[1], sys.argv[2]
socks = []
for i in range(4):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    socks.append(s)
res = {}
def ask(i):
    os.utime(big)  # a changed file: every run parses the big zone again
    socks[i].sendall(json.dumps({"command": "reload", "id": i}).encode() + b"\n")
    r = json.loads(socks[i].makefile().readline())
    res[i] = r
ts = []
for i in range(4):
    t = threading.Thread(target=ask, args=(i,))
    t.start()
    ts.append(t)
    time.sleep(0.02)
for t in ts: t.join()
print(" ".join("%d:%s" % (i, res[i]["ok"] and res[i]["id"] == i) for i in sorted(res)))
EOF
[ "$(cat "$T/overlap")" = "0:True 1:True 2:True 3:True" ] || bad "overlapping reloads: '$(cat "$T/overlap")'"
n1=$(log_count main 'hadnsd: notice: reload: ')
[ $((n1 - n0)) -ge 2 ] || bad "overlapping reload requests ran $((n1 - n0)) reload(s), expected at least 2"
say "SIGHUP with a reload request pending"
hpy - "$CTL" >"$T/hup" <<'EOF' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(b'{"command": "reload"}\n')
print(json.loads(s.makefile().readline())["ok"])
EOF
HUPPID=$!
signal_server main HUP
wait "$HUPPID"
grep -qx True "$T/hup" || bad "reload request around a SIGHUP: $(cat "$T/hup")"

say "hadnsctl exit statuses"
"$HADNSCTL" -s "$T/nope.sock" status >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 3 ] || bad "unreachable server: exit $rc, expected 3"
grep -q "cannot connect to $T/nope.sock" "$T/err" || bad "unreachable: $(cat "$T/err")"
hctl bogus >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || bad "unknown command: exit $rc, expected 2"
hctl force tcp1 sideways >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || bad "force sideways: exit $rc, expected 2"
hctl force nope up >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || bad "force of an unknown check: exit $rc, expected 1"
grep -q 'no check named nope' "$T/err" || bad "force nope: $(cat "$T/err")"
hctl --json checks nope >"$T/out" 2>/dev/null
rc=$?
[ "$rc" -eq 1 ] || bad "checks nope: exit $rc, expected 1"
expect_j "$T/out" ok false
HADNSCTL_SOCKET=$CTL "$HADNSCTL" status >/dev/null || bad "HADNSCTL_SOCKET is not used"
"$HADNSCTL" --help | grep -q '^usage: hadnsctl' || bad "hadnsctl --help"

say "a live server's socket is not taken"
cp "$T/hadnsd.json" "$T/second.json"
"$HADNSD" -c "$T/second.json" >"$T/second.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || bad "a second server on a live socket: exit $rc, expected 1"
grep -q "control socket $CTL: another server is listening on it" "$T/second.log" ||
    bad "second server: $(cat "$T/second.log")"
hctl status >/dev/null || bad "the first server lost its socket"

say "a stale socket from a killed server is replaced"
kill -KILL "$(server_pid main)"
wait "$(server_pid main)" 2>/dev/null
touch "$(srv_dir main)/stopped"
[ -S "$CTL" ] || bad "a killed server's socket file is gone (the test needs it)"
start_server again "$T/hadnsd.json"
grep -q "control socket $CTL: replaced a stale socket" "$(server_log again)" || bad "no 'replaced a stale socket' line"
hctl status >/dev/null || bad "status after replacing a stale socket"
stop_server again
[ -e "$CTL" ] && bad "the socket file is left after a clean stop"

say "a path that is not a socket"
: >"$CTL"
"$HADNSD" -c "$T/hadnsd.json" >"$T/file.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || bad "a regular file at the socket path: exit $rc, expected 1"
grep -q "control socket $CTL: the path exists and is not a socket" "$T/file.log" || bad "file: $(cat "$T/file.log")"
rm -f "$CTL"

say "mode 0660"
conf "$T/mode.json" ', "mode": "0660"'
start_server mode "$T/mode.json"
mode=$(stat -c %a "$CTL")
[ "$mode" = 660 ] || bad "socket mode $mode, expected 660"
stop_server mode

finish
