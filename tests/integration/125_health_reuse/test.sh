#!/bin/sh
# SPDX-License-Identifier: MIT
# 125_health_reuse: HTTP(S) checks keep their connection between runs ("reuse_connection",
# true by default) against real keep-alive servers (kaserver.py: python's http.server speaking
# HTTP/1.1, logging every connection and request). Many probes go over one connection, for
# http and https; responses framed by Content-Length and by chunks (the body substring spanning
# chunks); a server that closes idle connections, or closes one just as the next request
# arrives, causes no failure, and its close is noticed while the connection idles (no socket
# waits in CLOSE_WAIT for the next run); a byte after the response drops the connection without
# a failure; 503 and a wrong body still go down after exactly `fall` results and up after
# `rise`, each failure dropping its connection; "reuse_connection": false opens a connection
# per probe with HTTP/1.0 and "Connection: close"; a check removed by a reload closes its kept
# connection. Nothing is timed: every wait polls with a generous bound.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

KPY=/usr/bin/python3
[ -x "$KPY" ] || KPY=python3

# ka_start NAME [https]: a kaserver.py in $T/ka/NAME; sets KPORT.
ka_start() {
    local d=$T/ka/$1 i=0 extra=
    mkdir -p "$d"
    [ "${2:-}" = https ] && extra="--cert $T/cert.pem --key $T/key.pem"
    # shellcheck disable=SC2086 # extra is two options or nothing
    "$KPY" "$TESTDIR/kaserver.py" --dir "$d" $extra >"$d/log" 2>&1 &
    TPIDS="$TPIDS $!"
    while [ ! -s "$d/port" ]; do
        [ $i -ge 100 ] && fail "kaserver $1 did not start: $(cat "$d/log")"
        sleep 0.1
        i=$((i + 1))
    done
    KPORT=$(cat "$d/port")
}

ka_mode() {
    printf '%s\n' "$2" >"$T/ka/$1/mode.tmp" && mv -f "$T/ka/$1/mode.tmp" "$T/ka/$1/mode"
}

# count NAME FILE ERE: lines of $T/ka/NAME/FILE matching ERE.
count() {
    local f=$T/ka/$1/$2
    if [ -f "$f" ]; then grep -cE "$3" "$f"; else echo 0; fi
}

# odd_lines NAME FILE ERE: the first lines of FILE that do not match ERE. One read of the
# file, so a request logged meanwhile cannot make two counts disagree.
odd_lines() { grep -vE "$3" "$T/ka/$1/$2" 2>/dev/null | head -n 3; }

# wait_count NAME FILE ERE MIN: polls (30 s at most) until count reaches MIN.
wait_count() {
    local i=0
    while [ "$(count "$1" "$2" "$3")" -lt "$4" ]; do
        if [ $i -ge 300 ]; then
            bad "kaserver $1: fewer than $4 lines matching '$3' in $2: $(tail -n 5 "$T/ka/$1/$2" 2>/dev/null)"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

probes() { ctl field "$1" counters.probes; }

# close_wait PORT: our TCP sockets to 127.0.0.1:PORT that the server closed and we did not
# (state 08, CLOSE_WAIT, in /proc/net/tcp; the remote address is the third column).
close_wait() {
    awk -v p="$(printf '0100007F:%04X' "$1")" '$3 == p && $4 == "08"' /proc/net/tcp | wc -l
}

make_cert
ka_start web
WPORT=$KPORT
ka_start plain
PPORT=$KPORT
ka_start tls https
SPORT=$KPORT
ka_start tpl
TPORT2=$KPORT
ka_start lazy
LPORT=$KPORT
ka_mode lazy idle

Z=$T/zones
mkdir -p "$Z"
# zone SERIAL [ADDR]: reuse.test, with www A ADDR when given.
zone() {
    {
        printf '$ORIGIN reuse.test.\n$TTL 300\n@ SOA ns1 hostmaster %s 7200 3600 1209600 60\n' "$1"
        printf '  NS ns1\nns1 A 192.0.2.53\n'
        [ $# -ge 2 ] && printf 'www A %s\n' "$2"
    } >"$Z/reuse.test.zone.tmp"
    mv -f "$Z/reuse.test.zone.tmp" "$Z/reuse.test.zone"
}
zone 1 127.0.0.1

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "reuse.test" } ],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "wait" },
    "checks": [
        { "name": "web", "type": "http", "target": "127.0.0.1", "port": $WPORT,
          "path": "/healthz", "body": "status: ok", "interval": 0.3, "timeout": 0.25,
          "rise": 2, "fall": 3 },
        { "name": "plain", "type": "http", "target": "127.0.0.1", "port": $PPORT,
          "reuse_connection": false, "interval": 0.3, "timeout": 0.25, "rise": 1, "fall": 1 },
        { "name": "tls", "type": "https", "target": "127.0.0.1", "port": $SPORT,
          "host": "www.test.example", "tls_ca": "cert.pem", "body": "status: ok",
          "interval": 0.3, "timeout": 0.25 },
        { "name": "lazy", "type": "http", "target": "127.0.0.1", "port": $LPORT,
          "interval": 60, "timeout": 1, "rise": 1, "fall": 1 }
    ],
    "check_templates": [
        { "name": "tpl", "zone": "reuse.test", "owner": "www", "type": "A",
          "check": { "type": "http", "port": $TPORT2, "method": "HEAD", "interval": 0.3,
                     "timeout": 0.25 } }
    ]
}
EOF
start_server main "$T/hadnsd.json"

say "(a) with reuse, the probes share one connection"
expect_field web state up
expect_field tls state up
ctl wait web counters.probes ">=10" >/dev/null || bad "web: fewer than 10 probes"
ctl wait tls counters.probes ">=6" >/dev/null || bad "tls: fewer than 6 probes"
ctl wait tpl/127.0.0.1 counters.probes ">=6" >/dev/null || bad "tpl: fewer than 6 probes"
wait_count web requests . 10
[ "$(count web conns '^open')" -eq 1 ] ||
    bad "web: $(count web conns '^open') connections for $(count web requests .) requests, expected 1"
odd=$(odd_lines web requests ' HTTP/1.1 keep-alive$')
[ -z "$odd" ] || bad "web: not every request was HTTP/1.1 with Connection: keep-alive: $odd"
wait_count tls requests . 6
[ "$(count tls conns '^open')" -eq 1 ] ||
    bad "tls: $(count tls conns '^open') connections for $(count tls requests .) requests, expected 1"
wait_count tpl requests . 6
[ "$(count tpl conns '^open')" -eq 1 ] ||
    bad "tpl (HEAD): $(count tpl conns '^open') connections for $(count tpl requests .) requests, expected 1"
expect_field web counters.failed 0
expect_field tls counters.failed 0

say "a server's close of an idle connection is noticed as it idles, not at the next run"
# lazy's first run was before ready, its next one is a minute away; its server closes a
# connection after 0.1 s idle. Were the socket not watched while idle, it would wait in
# CLOSE_WAIT until that next run.
expect_field lazy state up
wait_count lazy conns '^close' 1
i=0
while [ "$(close_wait "$LPORT")" -gt 0 ]; do
    if [ $i -ge 100 ]; then
        bad "lazy: the server closed the idle connection and it still waits in CLOSE_WAIT"
        break
    fi
    sleep 0.1
    i=$((i + 1))
done
expect_field lazy counters.probes 1

say "(d) reuse_connection false: one connection per probe, HTTP/1.0, Connection: close"
ctl wait plain counters.probes ">=6" >/dev/null || bad "plain: fewer than 6 probes"
wait_count plain requests . 6
# A probe may have connected and not yet sent its request as we count.
r=$(count plain requests .)
o=$(count plain conns '^open')
[ "$o" -ge "$r" ] && [ "$o" -le $((r + 1)) ] ||
    bad "plain: $o connections for $r requests, expected one each"
odd=$(odd_lines plain requests ' HTTP/1.0 close$')
[ -z "$odd" ] || bad "plain: not every request was HTTP/1.0 with Connection: close: $odd"
expect_field plain state up
expect_field plain counters.failed 0

# flip MODE STATE N ERROR: switches web's server, waits for STATE, checks that the change came
# after exactly N results and the error text.
flip() {
    ka_mode web "$1"
    wait_state web "$2" || return
    expect_transition web "$2" "$3"
    expect_field web last_error "$4"
}

say "(c) 503 goes down after exactly fall results, chunked ok up after rise"
opens=$(count web conns '^open')
flip 503 down 3 "status 503"
# The first 503 came on the kept connection; each failure drops its connection.
now=$(count web conns '^open')
[ "$now" -ge $((opens + 2)) ] || bad "web: failures kept their connection ($opens -> $now opens)"
flip chunked up 2 ""
say "chunked responses keep the connection too"
opens=$(count web conns '^open')
p=$(probes web)
ctl wait web counters.probes ">=$((p + 5))" >/dev/null || bad "web: probes stopped"
[ "$(count web conns '^open')" -eq "$opens" ] ||
    bad "web: chunked responses did not reuse the connection ($opens -> $(count web conns '^open') connections)"
say "a wrong body (chunked) goes down after exactly fall results"
flip body down 3 "body mismatch (status 200)"
flip ok up 2 ""

say "(b) a server that closes idle connections causes no failure"
failed=$(ctl field web counters.failed)
opens=$(count web conns '^open')
ka_mode web idle
p=$(probes web)
ctl wait web counters.probes ">=$((p + 8))" >/dev/null || bad "web: probes stopped"
expect_field web counters.failed "$failed"
expect_field web state up
[ "$(count web conns '^open')" -ge $((opens + 4)) ] ||
    bad "web: the server's closes did not lead to new connections ($opens -> $(count web conns '^open'))"

say "(b) nor one that closes a connection just as the next request arrives"
ka_mode web race
p=$(probes web)
races=$(count web requests '^[0-9]+ 2 ')
ctl wait web counters.probes ">=$((p + 8))" >/dev/null || bad "web: probes stopped"
wait_count web requests '^[0-9]+ 2 ' $((races + 4))
expect_field web counters.failed "$failed"
expect_field web state up

say "a byte after the response drops the kept connection, which is no failure"
ka_mode web stray
opens=$(count web conns '^open')
p=$(probes web)
ctl wait web counters.probes ">=$((p + 6))" >/dev/null || bad "web: probes stopped"
expect_field web counters.failed "$failed"
expect_field web state up
now=$(count web conns '^open')
[ "$now" -ge $((opens + 4)) ] || bad "web: a stray byte kept the connection ($opens -> $now opens)"
ka_mode web ok

say "a check removed by a reload closes its kept connection"
[ "$(count tpl conns '^close')" -eq 0 ] || bad "tpl: a connection closed before the reload"
zone 2
hctl reload >"$T/reload.out" 2>&1 || bad "reload failed: $(cat "$T/reload.out")"
grep -q 'tpl/127.0.0.1' "$T/reload.out" || bad "the reload did not remove tpl/127.0.0.1: $(cat "$T/reload.out")"
wait_count tpl conns '^close' 1
[ "$(count tpl conns '^open')" -eq 1 ] || bad "tpl: $(count tpl conns '^open') connections"

say "shutdown closes every kept connection"
stop_server main
wait_count web conns '^close' "$(count web conns '^open')"
wait_count tls conns '^close' "$(count tls conns '^open')"
finish
