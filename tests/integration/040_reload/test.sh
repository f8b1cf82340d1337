#!/bin/sh
# SPDX-License-Identifier: MIT
# 040_reload: SIGHUP reloads changed zone files in the background and swaps them in; a zone
# that fails to parse keeps serving its previous version and the log names FILE:LINE; a zone
# that failed at start is picked up once fixed; SIGHUP storms under query load; SIGTERM during
# a reload; a server with no zones.
. "$(dirname "$0")/../lib.sh"
need_python

Z=$T/zones
mkdir -p "$Z"
ZF=$Z/reload.test.zone

# zone_v SERIAL [EXTRA-LINES]: a valid reload.test zone; the header is 6 lines.
zone_v() {
    cat <<EOF
\$ORIGIN reload.test.
\$TTL 300
@       SOA ns1 hostmaster $1 7200 3600 1209600 60
        NS  ns1
ns1     A   192.0.2.53
a       A   192.0.2.$1
EOF
    [ $# -ge 2 ] && printf '%s\n' "$2"
}

# put FILE: stdin to FILE through a temporary file and rename (a new inode, as editors do).
put() {
    cat >"$1.tmp" && mv -f "$1.tmp" "$1"
}

zone_v 1 >"$ZF"
cat >"$Z/other.test.zone" <<'EOF'
$ORIGIN other.test.
$TTL 300
@   SOA ns1 hostmaster 7 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
x   A   192.0.2.77
EOF
# late.test is broken at start (line 5) and fixed later.
cat >"$Z/late.test.zone" <<'EOF'
$ORIGIN late.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.999
EOF

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "log_level": "info",
    "zone_dir": "zones",
    "zones": [
        { "name": "reload.test", "file": "reload.test.zone" },
        { "name": "other.test", "file": "other.test.zone" },
        { "name": "late.test", "file": "late.test.zone" }
    ]
}
EOF
start_server main "$T/hadnsd.json"
LOG=$(server_log main)
NRELOAD=0

grep -q "zone late.test: load failed, not served: $Z/late.test.zone:5:" "$LOG" ||
    bad "start: no 'zone late.test: load failed, not served: $Z/late.test.zone:5:' line"
grep -q 'ready: 2 zones (1 failed)' "$LOG" || bad "start: the ready line does not say '2 zones (1 failed)'"

# expect_a NAME ADDR: NAME A is exactly ADDR, authoritatively.
expect_a() {
    q "$1" A
    expect_rcode NOERROR
    expect_flag aa
    expect_an "$1. 300 IN A $2"
}
# expect_serial ZONE N
expect_serial() {
    q "$1" SOA
    expect_rcode NOERROR
    s=$(awk '$1 == "an" && $5 == "SOA" { print $8 }' "$T/resp")
    [ "$s" = "$2" ] || bad_resp "serial $2 for $1 (got '$s')"
}
# hup: SIGHUP, then wait for the reload's summary line.
hup() {
    NRELOAD=$((NRELOAD + 1))
    signal_server main HUP
    wait_log main 'hadnsd: notice: reload: ' "$NRELOAD"
}

say "initial state"
expect_a a.reload.test 192.0.2.1
expect_serial reload.test 1
expect_a x.other.test 192.0.2.77
q ns1.late.test A
expect_noline '^rcode NOERROR$'
expect_an

say "a changed zone"
zone_v 2 'b       A   192.0.2.102' | put "$ZF"
hup
grep -q 'zone reload.test: reloaded serial 2,' "$LOG" || bad "no 'zone reload.test: reloaded serial 2' line"
grep -q 'zone other.test: reloaded' "$LOG" && bad "other.test reloaded although its file did not change"
expect_a a.reload.test 192.0.2.2
expect_a b.reload.test 192.0.2.102
expect_serial reload.test 2
expect_a x.other.test 192.0.2.77

say "nothing changed"
hup
tail -n 1 "$LOG" | grep -q 'reload: 0 zones changed, 1 failed, 2 unchanged' ||
    bad "unchanged files: last line is '$(tail -n 1 "$LOG")', expected 'reload: 0 zones changed, 1 failed, 2 unchanged' (late.test still broken)"

say "a broken zone keeps serving"
# Line 8: an A record with a bad address.
{
    zone_v 3 'b       A   192.0.2.102'
    echo 'c       A   192.0.2.300'
    echo 'd       A   192.0.2.104'
} | put "$ZF"
hup
grep -q "zone reload.test: reload failed, still serving serial 2: $ZF:8:" "$LOG" ||
    bad "broken zone: no 'zone reload.test: reload failed, still serving serial 2: $ZF:8:' line"
grep -q 'reload: 0 zones changed, 2 failed' "$LOG" ||
    bad "broken zone: no 'reload: 0 zones changed, 2 failed' line"
expect_a a.reload.test 192.0.2.2
expect_a b.reload.test 192.0.2.102
expect_serial reload.test 2
q d.reload.test A
expect_rcode NXDOMAIN

# Other kinds of breakage, each with the line it is on.
# broken_case LINE DESCRIPTION: the zone in $ZIN fails at LINE and serial 2 stays.
ZIN=$T/zone.in
broken_case() {
    put "$ZF" <"$ZIN"
    hup
    if ! grep -q "zone reload.test: reload failed, still serving serial 2: $ZF:$1:" "$LOG"; then
        bad "$2: no 'reload failed, still serving serial 2: $ZF:$1:' line; got: $(grep 'zone reload.test: reload failed' "$LOG" | tail -n 1)"
    fi
    expect_serial reload.test 2
    expect_a b.reload.test 192.0.2.102
}
{
    cat <<'EOF'
$ORIGIN reload.test.
$TTL 300
@       SOA ns1 hostmaster (
                4       ; serial
                7200 3600 1209600 60 )
        NS  ns1
ns1     A   192.0.2.53
a       A   192.0.2.4
b       BOGUSTYPE 1 2 3
EOF
} >"$ZIN"
broken_case 9 "unknown type after a multi-line SOA"
{
    zone_v 4 'b       A   192.0.2.102'
    echo 'c.other.test. A 192.0.2.3'
} >"$ZIN"
broken_case 8 "a record outside the zone"
{
    zone_v 4 'b       A   192.0.2.102'
    echo 'b       CNAME a'
} >"$ZIN"
broken_case 8 "CNAME and other data"

say "a deleted zone file"
rm -f "$ZF"
hup
grep -q "zone reload.test: reload failed, still serving serial 2: $ZF: cannot open" "$LOG" ||
    bad "deleted file: no 'reload failed, still serving serial 2: $ZF: cannot open' line"
expect_serial reload.test 2

say "fixed"
zone_v 3 'b       A   192.0.2.102
c       A   192.0.2.103' | put "$ZF"
# late.test fixed too: a zone that never loaded is loaded by the next reload.
cat >"$Z/late.test.zone" <<'EOF'
$ORIGIN late.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.99
EOF
hup
tail -n 1 "$LOG" | grep -q 'reload: 2 zones changed, 0 failed, 1 unchanged' ||
    bad "fixed: last line is '$(tail -n 1 "$LOG")', expected 'reload: 2 zones changed, 0 failed, 1 unchanged'"
expect_a a.reload.test 192.0.2.3
expect_a c.reload.test 192.0.2.103
expect_serial reload.test 3
expect_a ns1.late.test 192.0.2.99
expect_a x.other.test 192.0.2.77

say "an in-place rewrite (same inode, different size)"
zone_v 5 'b       A   192.0.2.102
c       A   192.0.2.103
e       A   192.0.2.105' >"$ZF"
hup
expect_serial reload.test 5
expect_a e.reload.test 192.0.2.105

say "SIGHUP storm under query load"
# A query loop (UDP and TCP) runs while 60 SIGHUPs arrive and the file flips between two
# versions; every answer must be one of the two, none may go missing.
"$PY" - "$PORT" "$T/stop" >"$T/load.out" 2>&1 <<'EOF' &
import os, socket, struct, sys, time
import dns.message, dns.flags
port, stopfile = int(sys.argv[1]), sys.argv[2]
ok = bad = n = 0
deadline = time.monotonic() + 60
def one(tcp):
    m = dns.message.make_query("a.reload.test", "A")
    m.flags &= ~dns.flags.RD
    w = m.to_wire()
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(struct.pack("!H", len(w)) + w)
            hdr = s.recv(2, socket.MSG_WAITALL)
            (ln,) = struct.unpack("!H", hdr)
            data = s.recv(ln, socket.MSG_WAITALL)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(w, ("127.0.0.1", port))
            data = s.recv(65535)
    r = dns.message.from_wire(data)
    addrs = sorted(rd.address for rr in r.answer for rd in rr)
    good = r.id == m.id and r.rcode() == 0 and addrs in (["192.0.2.6"], ["192.0.2.7"])
    if not good:
        print("unexpected:", r.id == m.id, r.rcode(), addrs)
    return good
while time.monotonic() < deadline and not os.path.exists(stopfile):
    try:
        if one(n % 4 == 0):
            ok += 1
        else:
            bad += 1
    except Exception as e:
        print("error:", type(e).__name__, e)
        bad += 1
    n += 1
print("ok %d bad %d" % (ok, bad))
EOF
LOADPID=$!
zone_v 6 'f       A   192.0.2.106' | put "$ZF"
i=0
while [ $i -lt 60 ]; do
    if [ $((i % 10)) -eq 0 ]; then
        if [ $((i % 20)) -eq 0 ]; then
            zone_v 7 'f       A   192.0.2.106
g       A   192.0.2.107' | put "$ZF"
        else
            zone_v 6 'f       A   192.0.2.106' | put "$ZF"
        fi
    fi
    signal_server main HUP
    sleep 0.02
    i=$((i + 1))
done
# Let the reloads settle: wait (bounded) until no new reload line appears for a second.
prev=-1 i=0
while [ $i -lt 20 ]; do
    cur=$(log_count main 'hadnsd: notice: reload: ')
    [ "$cur" = "$prev" ] && break
    prev=$cur
    sleep 1
    i=$((i + 1))
done
touch "$T/stop"
wait "$LOADPID"
server_alive main
grep -q '^ok [1-9][0-9]* bad 0$' "$T/load.out" ||
    bad "queries during the SIGHUP storm: $(tail -n 5 "$T/load.out")"
say "query loop during the storm: $(tail -n 1 "$T/load.out")"
NRELOAD=$(log_count main 'hadnsd: notice: reload: ')
# The last version written was serial 6 or 7 (i=50: 50 % 20 != 0 -> serial 6).
zone_v 8 'f       A   192.0.2.106
h       A   192.0.2.108' | put "$ZF"
hup
expect_serial reload.test 8
expect_a h.reload.test 192.0.2.108
expect_a x.other.test 192.0.2.77

stop_server main

say "SIGTERM while a large zone reloads"
# A 30000-name zone takes a while to parse; SIGTERM arriving mid-reload must still give a
# clean exit 0 (no leak of the half-done reload under the sanitizer build).
BZ=$Z/big.test.zone
{
    printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n'
    awk 'BEGIN { for (i = 0; i < 30000; i++) printf "h%d A 198.51.100.%d\n", i, i % 250 }'
} >"$BZ"
cat >"$T/big.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "big.test", "file": "big.test.zone" } ]
}
EOF
start_server big0 "$T/big.json"
expect_a h29999.big.test 198.51.100.249
stop_server big0
for round in 1 2 3; do
    echo "h$((30000 + round)) A 192.0.2.$round" >>"$BZ"
    start_server big$round "$T/big.json"
    signal_server big$round HUP
    [ $round -ge 2 ] && signal_server big$round HUP
    [ $round -eq 3 ] && sleep 0.05
    stop_server big$round
    grep -q 'SIGHUP: reloading' "$(server_log big$round)" || say "note: round $round: SIGTERM came before SIGHUP"
done
start_server big "$T/big.json"
expect_a h30003.big.test 192.0.2.3
stop_server big

say "no zones at all"
cat >"$T/none.json" <<EOF
{ "listen": ["127.0.0.1:0"], "workers": 1, "zones": [] }
EOF
start_server none "$T/none.json"
q a.reload.test A
expect_rcode REFUSED
signal_server none HUP
wait_log none 'reload: 0 zones changed, 0 failed, 0 unchanged'
q a.reload.test A
expect_rcode REFUSED
stop_server none

finish
