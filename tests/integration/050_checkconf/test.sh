#!/bin/sh
# SPDX-License-Identifier: MIT
# 050_checkconf: --check-config (exit 0 when the config and every zone load; else exit 1 with
# FILE:LINE: errors), config errors that name their key and stop the server from starting,
# zone-file errors with their line, --help / --version / bad usage.
. "$(dirname "$0")/../lib.sh"

C=$T/conf
mkdir -p "$C/zones"
OUT=$T/out

# run_check CONFIG: hadnsd --check-config -c CONFIG; status in RC, stdout+stderr in $OUT.
run_check() {
    "$HADNSD" --check-config -c "$1" >"$OUT" 2>&1
    RC=$?
}

out_has() {
    grep -q -F -- "$1" "$OUT" || bad "$2: the output does not contain '$1':
$(sed 's/^/    | /' "$OUT")"
}

cat >"$C/zones/good.test.zone" <<'EOF'
$ORIGIN good.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
EOF

# config NAME [ZONES-JSON] [EXTRA-KEYS-JSON]: writes $C/NAME.json.
config() {
    zones=${2:-'[ { "name": "good.test", "file": "good.test.zone" } ]'}
    extra=${3:-}
    cat >"$C/$1.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    $extra
    "zone_dir": "zones",
    "zones": $zones
}
EOF
}

say "the shipped configuration"
run_check "$top_srcdir/etc/hadnsd.json"
[ "$RC" = 0 ] || bad "--check-config etc/hadnsd.json: exit $RC, expected 0: $(cat "$OUT")"
out_has "configuration and 1 zones OK" "--check-config etc/hadnsd.json"
# Relative zone_dir is taken from the config file's directory, whatever the working directory.
(cd / && "$HADNSD" --check-config -c "$top_srcdir/etc/hadnsd.json" >/dev/null 2>&1) ||
    bad "--check-config etc/hadnsd.json from / fails (zone_dir not relative to the config file?)"
(cd "$top_srcdir/etc" && "$HADNSD" -n -c hadnsd.json >/dev/null 2>&1) ||
    bad "-n -c hadnsd.json from etc/ fails"

say "a good configuration"
config good
run_check "$C/good.json"
[ "$RC" = 0 ] || bad "--check-config good.json: exit $RC: $(cat "$OUT")"
out_has "configuration and 1 zones OK" "--check-config good.json"

# A zone file without $ORIGIN: relative names are relative to the configured zone name.
printf '$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\nns1 A 192.0.2.53\n' \
    >"$C/zones/noorigin.test.zone"
config noorigin '[ { "name": "noorigin.test", "file": "noorigin.test.zone" } ]'
run_check "$C/noorigin.json"
[ "$RC" = 0 ] || bad "a zone without \$ORIGIN: exit $RC, expected 0: $(cat "$OUT")"

# A zone without "file" reads NAME.zone (without the trailing dot) from zone_dir.
config nofile '[ { "name": "good.test." } ]'
run_check "$C/nofile.json"
[ "$RC" = 0 ] || bad "a zone without \"file\": exit $RC, expected 0 (good.test.zone by default): $(cat "$OUT")"
out_has "from $C/zones/good.test.zone" "a zone without \"file\""

say "zone files with errors on a known line"
# zone_error LINE WHAT TEXT: the zone in $ZIN (bad.test, header lines 1-5) has an error on
# LINE; --check-config exits 1 and prints FILE:LINE: and TEXT.
ZIN=$T/zone.in
zone_error() {
    cp "$ZIN" "$C/zones/bad.test.zone"
    config bad '[ { "name": "good.test", "file": "good.test.zone" },
                  { "name": "bad.test", "file": "bad.test.zone" } ]'
    run_check "$C/bad.json"
    [ "$RC" = 1 ] || bad "$2: --check-config exit $RC, expected 1"
    out_has "$C/zones/bad.test.zone:$1: " "$2"
    [ -n "$3" ] && out_has "$3" "$2"
    grep -q 'configuration and .* OK' "$OUT" && bad "$2: says OK"
}
zone_header() {
    cat <<'EOF'
$ORIGIN bad.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
EOF
}
{ zone_header; printf 'a   A   192.0.2.1\nb   A   192.0.2.256\nc   A   192.0.2.3\n'; } >"$ZIN"
zone_error 7 "a bad IPv4 address" ""
{ zone_header; printf 'a   A   192.0.2.1\n\n; comment\n\nb   BOGUS 1 2\n'; } >"$ZIN"
zone_error 10 "an unknown type after blank and comment lines" ""
{ zone_header; printf 'a   AAAA 192.0.2.1\n'; } >"$ZIN"
zone_error 6 "an IPv4 address in AAAA" ""
{ zone_header; printf 'a   MX  mail\n'; } >"$ZIN"
zone_error 6 "MX without preference" ""
{ zone_header; printf 'a   A   192.0.2.1 extra\n'; } >"$ZIN"
zone_error 6 "superfluous text" ""
{ zone_header; printf 'a   TYPE65280 \\# 3 0A00\n'; } >"$ZIN"
zone_error 6 "an RFC 3597 length that does not match" ""
{ zone_header; printf 'a   A   192.0.2.1\n$INCLUDE other.zone\n'; } >"$ZIN"
zone_error 7 "\$INCLUDE" "\$INCLUDE is not supported"
{ zone_header; printf 'a   CH  A 192.0.2.1\n'; } >"$ZIN"
zone_error 6 "class CH" "only class IN"
{ zone_header; printf 'x.example. A 192.0.2.1\n'; } >"$ZIN"
zone_error 6 "a record outside the zone" "outside the zone"
{ zone_header; printf 'sub SOA ns1 hostmaster 1 7200 3600 1209600 60\n'; } >"$ZIN"
zone_error 6 "SOA below the apex" "SOA record not at the zone apex"
{ zone_header; printf 'a   CNAME ns1\na   A   192.0.2.1\n'; } >"$ZIN"
zone_error 7 "CNAME and other data" "CNAME and other data"
{
    printf '$ORIGIN bad.test.\n$TTL 300\n@   SOA ns1 hostmaster (\n        1 ; serial\n        7200 3600 1209600 60 )\n'
    printf '    NS  ns1\nns1 A   192.0.2.53\na   A   192.0.2.1\nb   A   not-an-address\n'
} >"$ZIN"
zone_error 9 "an error after a multi-line SOA" ""
# A bad $TTL must be an error (RFC 2308 §4: "$TTL <TTL>"), not silently ignored.
{ zone_header; printf '$TTL abc\na   A   192.0.2.1\n'; } >"$ZIN"
zone_error 6 "\$TTL with a non-number" ""
# A quoted string that never ends (RFC 1035 §5.1) is a syntax error.
{ zone_header; printf 'a   TXT "no closing quote\nb   A   192.0.2.2\n'; } >"$ZIN"
zone_error 6 "an unterminated quoted string" ""

# Every broken zone is reported, not only the first.
{ zone_header; printf 'a   A   192.0.2.256\n'; } >"$C/zones/bad.test.zone"
{ zone_header | sed 's/bad\.test\./bad2.test./'; printf 'b   A\n'; } >"$C/zones/bad2.test.zone"
config bad2 '[ { "name": "bad.test", "file": "bad.test.zone" },
               { "name": "good.test", "file": "good.test.zone" },
               { "name": "bad2.test", "file": "bad2.test.zone" } ]'
run_check "$C/bad2.json"
[ "$RC" = 1 ] || bad "two broken zones: exit $RC, expected 1"
out_has "$C/zones/bad.test.zone:6: " "two broken zones (the first)"
out_has "$C/zones/bad2.test.zone:6: " "two broken zones (the second)"

# No line for whole-zone errors, but the file and the reason.
printf '$ORIGIN bad.test.\n$TTL 300\n@ NS ns1\nns1 A 192.0.2.53\n' >"$C/zones/bad.test.zone"
run_check "$C/bad.json"
[ "$RC" = 1 ] || bad "no SOA: exit $RC, expected 1"
out_has "$C/zones/bad.test.zone: no SOA record" "no SOA"
printf '$ORIGIN bad.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\nns1 A 192.0.2.53\n' >"$C/zones/bad.test.zone"
run_check "$C/bad.json"
[ "$RC" = 1 ] || bad "no NS: exit $RC, expected 1"
out_has "$C/zones/bad.test.zone: no NS records" "no NS"

# A warning is not an error: differing TTLs in one RRset (RFC 2181 §5.2).
{ zone_header; printf 'a   A   192.0.2.1\na   600 A   192.0.2.2\n'; } >"$C/zones/bad.test.zone"
run_check "$C/bad.json"
[ "$RC" = 0 ] || bad "differing TTLs in an RRset: exit $RC, expected 0 (a warning)"
out_has "$C/zones/bad.test.zone:7: TTL 600 differs" "differing TTLs"

say "a missing zone file"
config missing '[ { "name": "good.test", "file": "good.test.zone" },
                  { "name": "gone.test", "file": "gone.test.zone" } ]'
run_check "$C/missing.json"
[ "$RC" = 1 ] || bad "missing zone file: exit $RC, expected 1"
out_has "$C/zones/gone.test.zone: cannot open" "missing zone file"
# The server itself starts without it (the zone is logged and not served).
if find_python; then
    start_server missing "$C/missing.json"
    grep -q "zone gone.test: load failed, not served: $C/zones/gone.test.zone: cannot open" "$(server_log missing)" ||
        bad "server with a missing zone file: no 'load failed, not served' line"
    grep -q 'ready: 1 zones (1 failed)' "$(server_log missing)" || bad "ready line: not '1 zones (1 failed)'"
    q ns1.good.test A
    expect_rcode NOERROR
    q ns1.gone.test A
    expect_noline '^rcode NOERROR$'
    stop_server missing
else
    say "SKIP (part): no python3 with dnspython: the server run with a missing zone is not tested"
fi

say "config errors name their key"
# config_error KEY-TEXT DESCRIPTION: $C/e.json is bad; --check-config and a plain start both
# exit 1, printing KEY-TEXT, and the server never says ready.
config_error() {
    run_check "$C/e.json"
    [ "$RC" = 1 ] || bad "$2: --check-config exit $RC, expected 1"
    out_has "$1" "$2 (--check-config)"
    run_foreground "$C/e.json" "$OUT"
    [ "$RC" = 1 ] || bad "$2: the server: exit $RC, expected 1"
    out_has "$1" "$2 (server)"
    grep -q ' ready: ' "$OUT" && bad "$2: the server said ready"
}
# with_key JSON-KEY-VALUE: good.test config plus one extra top-level member.
with_key() {
    cat >"$C/e.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    $1,
    "zone_dir": "zones",
    "zones": [ { "name": "good.test", "file": "good.test.zone" } ]
}
EOF
}
with_key '"colour": "blue"'; config_error "colour: unknown key" "unknown key"
with_key '"udp_payload": 100'; config_error "udp_payload:" "udp_payload 100"
with_key '"udp_payload": 5000'; config_error "udp_payload:" "udp_payload 5000"
with_key '"udp_payload": "1232"'; config_error "udp_payload:" "udp_payload as a string"
with_key '"udp_payload": 1232.5'; config_error "udp_payload:" "udp_payload as a real"
with_key '"workers": -1'; config_error "workers:" "workers -1"
with_key '"workers": 100000'; config_error "workers:" "workers 100000"
with_key '"tcp_idle_timeout": 0'; config_error "tcp_idle_timeout:" "tcp_idle_timeout 0"
with_key '"tcp_max_connections": 0'; config_error "tcp_max_connections:" "tcp_max_connections 0"
with_key '"nsid": ""'; config_error "nsid:" "empty nsid"
with_key "\"nsid\": \"$(printf '%0200d' 0)\""; config_error "nsid:" "a 200-byte nsid"
with_key '"log_level": "loud"'; config_error "log_level:" "log_level loud"
echo '{ "listen": ["127.0.0.1:0"], "zone_dir": 5, "zones": [] }' >"$C/e.json"
config_error "zone_dir:" "zone_dir as a number"
with_key '"udp_payload": 1232, "udp_payload": 1400'; config_error "udp_payload" "a duplicate key"

# listen and zones
listen_error() {
    cat >"$C/e.json" <<EOF
{ "listen": $1, "zone_dir": "zones",
  "zones": [ { "name": "good.test", "file": "good.test.zone" } ] }
EOF
    config_error "$2" "listen $1"
}
listen_error '["127.0.0.1:99999"]' "listen[0]"
listen_error '["127.0.0.1:0", "localhost:53"]' "listen[1]"
listen_error '["[::1:0"]' "listen[0]"
listen_error '["127.0.0.1:-1"]' "listen[0]"
listen_error '[]' "listen:"
listen_error '"127.0.0.1:0"' "listen:"
zones_error() {
    cat >"$C/e.json" <<EOF
{ "listen": ["127.0.0.1:0"], "zone_dir": "zones", "zones": $1 }
EOF
    config_error "$2" "zones $1"
}
zones_error '[ { "name": "good.test", "file": "good.test.zone", "type": "primary" } ]' "zones[0].type: unknown key"
zones_error '[ { "file": "good.test.zone" } ]' "zones[0].name"
zones_error '[ { "name": "a..b", "file": "good.test.zone" } ]' "zones[0].name"
zones_error '[ { "name": "good.test", "file": "good.test.zone" }, { "name": "GOOD.test.", "file": "good.test.zone" } ]' "zones[1].name"
zones_error '{ "name": "good.test" }' "zones:"
echo '{ "listen": ["127.0.0.1:0"] }' >"$C/e.json"
config_error "zones: missing" "no zones key"
echo '{ "zones": [] }' >"$C/e.json"
config_error "listen: missing" "no listen key"
echo '[ "listen" ]' >"$C/e.json"
config_error "$C/e.json" "a top-level array"
# JSON syntax errors: FILE:LINE:COLUMN.
printf '{\n    "listen": ["127.0.0.1:0"],\n    "zones": [ }\n' >"$C/e.json"
config_error "$C/e.json:3:" "a JSON syntax error on line 3"
# A config file that does not exist: named.
run_check "$C/nonexistent.json"
[ "$RC" = 1 ] || bad "nonexistent config: exit $RC, expected 1"
out_has "$C/nonexistent.json" "nonexistent config"

say "--check-config does not bind; the server does, and refuses a port in use"
# Without SO_REUSEPORT on the probe, a port held by another hadnsd is an error, never silently
# shared (net.c bind_listener).
if find_python; then
    config holder
    start_server holder "$C/holder.json"
    config taken '[ { "name": "good.test", "file": "good.test.zone" } ]'
    sed "s/127.0.0.1:0/127.0.0.1:$PORT/" "$C/holder.json" >"$C/taken.json"
    run_check "$C/taken.json"
    [ "$RC" = 0 ] || bad "--check-config with a port in use: exit $RC, expected 0 (it does not bind)"
    run_foreground "$C/taken.json" "$OUT"
    [ "$RC" = 1 ] || bad "a server on a port in use: exit $RC, expected 1"
    out_has "cannot bind" "a server on a port in use"
    out_has "127.0.0.1:$PORT" "a server on a port in use"
    q ns1.good.test A
    expect_rcode NOERROR
    stop_server holder
fi

say "log_level"
# notice: no info lines (e.g. "zone ... loaded"), but the ready and stopped notices; -f is
# accepted (the foreground is the default).
config quiet '[ { "name": "good.test", "file": "good.test.zone" } ]' '"log_level": "notice",'
launch_server quiet "$C/quiet.json" -f
grep -q ': info: ' "$(server_log quiet)" && bad "log_level notice: info lines in the log"
stop_server quiet
config loud '[ { "name": "good.test", "file": "good.test.zone" } ]' '"log_level": "debug",'
launch_server loud "$C/loud.json"
grep -q '^hadnsd: [a-z]*: listening on 127.0.0.1:[1-9][0-9]* (udp+tcp)$' "$(server_log loud)" ||
    bad "log_level debug: no 'listening on' line"
stop_server loud

say "TTLs beyond 2^31-1 (RFC 2181 §8)"
# A zone whose TTL does not fit 31 bits must be refused (FILE:LINE) or clamped, never served
# with the top bit set nor silently wrapped modulo 2^32. (Needs dig for the raw wire TTL.)
if find_python && command -v dig >/dev/null 2>&1; then
    n=0
    for ttl in 2147483648 4294967295 99999999999; do
        n=$((n + 1))
        { zone_header; printf 'a   %s A 192.0.2.1\n' "$ttl"; } >"$C/zones/bad.test.zone"
        run_check "$C/bad.json"
        if [ "$RC" = 1 ]; then
            out_has "$C/zones/bad.test.zone:6: " "TTL $ttl refused"
            continue
        fi
        start_server ttl$n "$C/bad.json"
        # dig, not dnspython: dnspython reads a TTL with the top bit set as 0 (RFC 2181 §8).
        got=$(dig @127.0.0.1 -p "$PORT" +noall +answer a.bad.test A | awk '{ print $2 }')
        if [ -z "$got" ] || [ "$got" -gt 2147483647 ] ||
            { [ "$ttl" -gt 4294967295 ] && [ "$got" -ne 2147483647 ] && [ "$got" -ne 0 ]; }; then
            bad "zone TTL $ttl was accepted and is served as TTL '$got' (expected: the zone refused with $C/zones/bad.test.zone:6:, or the TTL clamped to 2147483647)"
        fi
        stop_server ttl$n
    done
fi

say "\$TTL 0 (RFC 2308 §4; RFC 2181 §8: zero is a valid TTL)"
# Records without their own TTL take $TTL, even when it is 0 (a do-not-cache name, e.g. one
# being failed over); they must not fall back to some built-in default.
if find_python; then
    printf '$ORIGIN bad.test.\n$TTL 0\n@   SOA ns1 hostmaster 1 7200 3600 1209600 60\n    NS  ns1\nns1 A   192.0.2.53\nz   A   192.0.2.1\n$TTL 0s\ny   A   192.0.2.2\n' >"$C/zones/bad.test.zone"
    run_check "$C/bad.json"
    [ "$RC" = 0 ] || bad "\$TTL 0: --check-config exit $RC, expected 0"
    start_server ttl0 "$C/bad.json"
    q z.bad.test A
    expect_an 'z.bad.test. 0 IN A 192.0.2.1'
    q y.bad.test A
    expect_an 'y.bad.test. 0 IN A 192.0.2.2'
    q bad.test SOA
    expect_an 'bad.test. 0 IN SOA ns1.bad.test. hostmaster.bad.test. 1 7200 3600 1209600 60'
    stop_server ttl0
fi

say "command line"
"$HADNSD" --help >"$OUT" 2>&1
RC=$?
[ "$RC" = 0 ] || bad "--help: exit $RC"
out_has "usage: hadnsd" "--help"
out_has "--check-config" "--help"
"$HADNSD" -h >/dev/null 2>&1 || bad "-h: exit $?"
"$HADNSD" --version >"$OUT" 2>&1
RC=$?
[ "$RC" = 0 ] || bad "--version: exit $RC"
grep -qE '^hadnsd [0-9]+\.[0-9]+' "$OUT" || bad "--version prints '$(cat "$OUT")'"
"$HADNSD" -V >/dev/null 2>&1 || bad "-V: exit $?"
"$HADNSD" --bogus-option >"$OUT" 2>&1
RC=$?
[ "$RC" = 2 ] || bad "an unknown option: exit $RC, expected 2 (usage)"
out_has "usage: hadnsd" "an unknown option"
"$HADNSD" -c "$C/good.json" extra-argument >"$OUT" 2>&1
RC=$?
[ "$RC" = 2 ] || bad "an extra argument: exit $RC, expected 2 (usage)"
"$HADNSD" -c >/dev/null 2>&1
RC=$?
[ "$RC" = 2 ] || bad "-c without a file: exit $RC, expected 2"

finish
