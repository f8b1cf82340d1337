#!/bin/sh
# SPDX-License-Identifier: MIT
# 030_tcp: DNS over TCP per RFC 7766: pipelining, a slow reader, split segments, idle timeout,
# the connection cap, junk. The checks themselves are in tcp.py (a small socket client).
. "$(dirname "$0")/../lib.sh"
need_python

zones="\"zone_dir\": $(json_str "$top_srcdir/zones"),
    \"zones\": [ { \"name\": \"example.com\", \"file\": \"example.com.zone\" } ]"

# main: one worker, the default idle timeout (10 s) and cap (512).
cat >"$T/main.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    $zones
}
EOF
# small: one worker, idle timeout 1 s, at most 2 connections.
cat >"$T/small.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "tcp_idle_timeout": 1,
    "tcp_max_connections": 2,
    $zones
}
EOF
start_server main "$T/main.json"
PORT_MAIN=$PORT
start_server small "$T/small.json"
PORT_SMALL=$PORT

run() {
    say "tcp.py $1 ($2)"
    "$PY" "$TESTDIR/tcp.py" "$1" "$3" || bad "tcp.py $1: $2"
}

run pipeline "pipelined queries in one write" "$PORT_MAIN"
run burst "1000 pipelined queries, slow reader" "$PORT_MAIN"
run halfclose "queries then SHUT_WR" "$PORT_MAIN"
run bytewise "one byte per segment" "$PORT_MAIN"
run many "50 concurrent connections" "$PORT_MAIN"
run junk "nonsense over TCP" "$PORT_MAIN"
run idle "idle timeout" "$PORT_SMALL"
run cap "connection cap" "$PORT_SMALL"

# Both still answer normally, over TCP and UDP.
for p in "$PORT_MAIN" "$PORT_SMALL"; do
    for tr in "" --tcp; do
        q -p "$p" $tr www.example.com AAAA
        expect_rcode NOERROR
        expect_an 'www.example.com. 300 IN AAAA 2001:db8::10'
    done
done

server_alive main
server_alive small
stop_server main
stop_server small
finish
