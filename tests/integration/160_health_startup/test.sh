#!/bin/sh
# SPDX-License-Identifier: MIT
# 160_health_startup: the two start-up policies. "wait": the control socket answers at once
# and says "starting", queries are not answered before the first round of checks is over
# (bounded by the timeouts: a target that hangs yields a timeout result), and every check has
# a result when the server is ready. "initial": the server is ready at once and each check is
# in its declared initial state, up or down, with no result yet - never silently down.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python

target_start slow http
SP=$TPORT
target_mode slow hang
target_start fast tcp
FP=$TPORT

mkdir -p "$T/zones"
cat >"$T/zones/s.test.zone" <<'EOF'
$ORIGIN s.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
EOF

# conf FILE POLICY: two checks on a target that hangs (timeout 3 s) and one on a live port.
conf() {
    cat >"$1" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "s.test" } ],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "$2" },
    "checks": [
        { "name": "hang-up", "type": "http", "target": "127.0.0.1", "port": $SP,
          "interval": 30, "timeout": 3, "initial": "up" },
        { "name": "hang-down", "type": "http", "target": "127.0.0.1", "port": $SP,
          "interval": 30, "timeout": 3, "initial": "down" },
        { "name": "live", "type": "tcp", "target": "127.0.0.1", "port": $FP,
          "interval": 30, "timeout": 3, "initial": "down" }
    ]
}
EOF
}

say "wait"
conf "$T/wait.json" wait
d=$(srv_dir wait)
mkdir -p "$d"
"$HADNSD" -c "$T/wait.json" >"$d/log" 2>&1 &
echo $! >"$d/pid"
# The control socket comes up before the first round ends (it takes 3 s: the timeout).
i=0
while ! hctl --json status >"$T/st.json" 2>/dev/null; do
    [ $i -ge 100 ] && fail "no control socket within 10 s"
    sleep 0.1
    i=$((i + 1))
done
if grep -q '"starting":true' "$T/st.json"; then
    hctl status | grep -q '^state: *starting' || bad "hadnsctl status does not say starting"
    expect_field hang-up state unknown
    expect_field hang-up last_result null
    grep -q ' ready: ' "$d/log" && bad "ready while a check has no result"
else
    say "note: the first round was over before the first status (a slow machine?)"
fi
# launch_server's wait for the ready line (pid already recorded).
i=0
while ! grep -q '^hadnsd: notice: hadnsd .* ready: ' "$d/log"; do
    proc_alive "$(cat "$d/pid")" || fail "the wait server died: $(cat "$d/log")"
    [ $i -ge $((START_TIMEOUT * 10)) ] && fail "not ready after ${START_TIMEOUT}s"
    sleep 0.1
    i=$((i + 1))
done
sed -n 's/^hadnsd: [a-z]*: listening on \(.*\):\([0-9][0-9]*\) (udp+tcp)$/\1 \2/p' "$d/log" >"$d/ports"
PORT=$(server_port wait)
# Every check has its first result, decided at once (a timeout: down, whatever "initial").
expect_field hang-up state down
expect_field hang-up last_error "timeout after 3.0 s"
expect_field hang-up reason "first result: failed: timeout after 3.0 s"
expect_field hang-down state down
expect_field live state up
expect_field live last_result ok
hctl --json status | grep -q '"starting":false' || bad "status still says starting"
ready=$(grep -n ' ready: ' "$d/log" | head -n 1 | cut -d: -f1)
for c in hang-up hang-down live; do
    l=$(grep -n "check $c: state unknown -> " "$d/log" | head -n 1 | cut -d: -f1)
    if [ -z "$l" ] || [ "$l" -gt "$ready" ]; then
        bad "check $c: no first result before the ready line"
    fi
done
grep -q 'health: waiting for the first result of 3 checks' "$d/log" || bad "no 'waiting for the first result' line"
q s.test SOA
expect_rcode NOERROR
stop_server wait

say "initial"
conf "$T/initial.json" initial
start_server initial "$T/initial.json"
# The hanging target cannot give a result before its 3 s timeout: the declared states hold.
expect_field hang-up state up
expect_field hang-up last_result null
expect_field hang-up reason "initial state"
expect_field hang-down state down
expect_field hang-down last_result null
expect_field hang-down probed down
grep -q 'waiting for the first result' "$(server_log initial)" && bad "initial: the server waited"
q s.test SOA
expect_rcode NOERROR
stop_server initial

finish
