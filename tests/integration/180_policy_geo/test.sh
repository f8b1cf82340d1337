#!/bin/sh
# SPDX-License-Identifier: MIT
# 180_policy_geo: geo and nearest policies with EDNS Client Subnet (RFC 7871), against the
# project's own GeoIP2-City-format database (tests/data/mkmmdb.pl). Clients "in" different
# regions (ECS addresses sent with dnspython) get different answers; the reply echoes the ECS
# option with the query's family, source prefix and address and SCOPE PREFIX-LENGTH equal to
# the database network's prefix (0 for answers that do not depend on the client); a query
# without ECS is placed by its source address (127.0.0.1: US/TX in the test database); ECS
# source 0 gets scope 0; malformed ECS options get FORMERR; a region whose groups are all
# down (forced through hadnsctl) falls to the next group, then to wider regions, then to
# the default. With MaxMind's own test databases (HADNS_MAXMIND_DIR, or
# $abs_top_srcdir/../shared/data/maxmind): a geo policy against GeoIP2-City-Test.mmdb, SIGHUP
# onto it, and the refusal of GeoIP2-City-Test-Invalid-Node-Count.mmdb. A missing, corrupt or
# wrong-kind database refuses the start (and --check-config) naming the file.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python

MKMMDB=$top_srcdir/tests/data/mkmmdb.pl
[ -f "$MKMMDB" ] || skip "$MKMMDB is missing (it builds the test GeoIP database)"
need_cmd perl
if ! perl -MMaxMind::DB::Writer::Tree -e1 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing libmaxmind-db-writer-perl"
        DEBIAN_FRONTEND=noninteractive apt-get install -y libmaxmind-db-writer-perl \
            >"$T/apt.log" 2>&1 || say "apt-get install failed: $(tail -n 3 "$T/apt.log")"
    fi
    perl -MMaxMind::DB::Writer::Tree -e1 >/dev/null 2>&1 ||
        skip "perl's MaxMind::DB::Writer::Tree is missing (Debian: libmaxmind-db-writer-perl)"
fi
perl "$MKMMDB" "$T/geo.mmdb" >"$T/mkmmdb.log" 2>&1 ||
    hard_error "mkmmdb.pl failed: $(cat "$T/mkmmdb.log")"
cp "$T/geo.mmdb" "$T/geo-orig.mmdb"
perl "$MKMMDB" --type=GeoLite2-ASN "$T/asn.mmdb" >"$T/mkmmdb.log" 2>&1 ||
    hard_error "mkmmdb.pl --type failed: $(cat "$T/mkmmdb.log")"

MAXMIND=${HADNS_MAXMIND_DIR:-}
if [ -z "$MAXMIND" ] && [ -d "$top_srcdir/../shared/data/maxmind" ]; then
    MAXMIND=$(cd "$top_srcdir/../shared/data/maxmind" && pwd)
fi
if [ -n "$MAXMIND" ] && [ ! -f "$MAXMIND/GeoIP2-City-Test.mmdb" ]; then
    say "no GeoIP2-City-Test.mmdb in $MAXMIND"
    MAXMIND=
fi

# ans.py (beside lib.sh; $ANS): one query, summarised; see its header. await: lib.sh.
# e [--tcp] NAME TYPE ECS|- WANT: one query with ECS ADDR/LEN (dnspython's ECSOption; "-": no
# ECS option); ans.py's summary must match WANT (a shell pattern: * matches anything).
e() {
    tcp=
    if [ "$1" = --tcp ]; then
        tcp=--tcp
        shift
    fi
    if [ "$3" = - ]; then
        A=$("$PY" "$ANS" -p "$PORT" $tcp "$1" "$2" 2>&1) || bad "ans.py $*: $A"
    else
        A=$("$PY" "$ANS" -p "$PORT" $tcp --ecs "$3" "$1" "$2" 2>&1) || bad "ans.py $*: $A"
    fi
    # shellcheck disable=SC2254 # WANT is a pattern: * stands for a value any will do
    case $A in
    $4) ;;
    *) bad "$1 $2 ECS $3 ${tcp:-(udp)}: expected '$4', got '$A'" ;;
    esac
}
# raw NAME HEX WANT: the ECS option's data as is.
raw() {
    A=$("$PY" "$ANS" -p "$PORT" --rawecs "$2" "$1" A 2>&1) || bad "ans.py --rawecs $2: $A"
    [ "$A" = "$3" ] || bad "$1 A raw ECS $2: expected '$3', got '$A'"
}

# run_refused NAME CONFIG PATTERN: hadnsd -c CONFIG must exit non-zero by itself (bounded
# wait) with PATTERN (grep -F) in its output; so must --check-config.
run_refused() {
    "$HADNSD" --check-config -c "$2" >"$T/$1.check" 2>&1
    rc=$?
    [ "$rc" = 1 ] || bad "$1: --check-config: exit $rc, expected 1: $(cat "$T/$1.check")"
    grep -qF -- "$3" "$T/$1.check" || bad "$1: --check-config does not say '$3': $(cat "$T/$1.check")"
    run_foreground "$2" "$T/$1.out"
    if [ "$RC" = running ]; then
        bad "$1: hadnsd started: $(cat "$T/$1.out")"
        return
    fi
    rc=$RC
    [ "$rc" -ne 0 ] || bad "$1: hadnsd exited 0"
    grep -qF -- "$3" "$T/$1.out" || bad "$1: the error does not say '$3': $(cat "$T/$1.out")"
    grep -q ' ready: ' "$T/$1.out" && bad "$1: hadnsd said ready before refusing"
    grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$T/$1.out" "$T/$1.check" &&
        bad "$1: a sanitizer report: $(cat "$T/$1.check" "$T/$1.out")"
    say "$1: refused, exit $rc: $(grep '^hadnsd: error' "$T/$1.out" | tr '\n' ' ')"
}

target_start t tcp
TP=$TPORT

mkdir -p "$T/zones"
cat >"$T/zones/geo.test.zone" <<'EOF'
$ORIGIN geo.test.
$TTL 300
@      SOA   ns1 hostmaster 1 7200 3600 1209600 60
       NS    ns1
ns1    A     192.0.2.53
www    A     192.0.2.1
www    A     192.0.2.2
www    A     198.51.100.1
www    A     198.51.100.2
www    A     203.0.113.1
www    AAAA  2001:db8:1::1
www    AAAA  2001:db8:2::1
alias  CNAME www
near   A     192.0.2.50
near   A     198.51.100.50
near   A     203.0.113.50
near2  A     192.0.2.50
near2  A     198.51.100.50
near2  A     203.0.113.50
fo     A     192.0.2.60
fo     A     192.0.2.61
mm     A     192.0.2.81
mm     A     192.0.2.82
mm     A     192.0.2.83
mm     A     192.0.2.84
mm     A     192.0.2.85
mm     A     192.0.2.86
mm     A     192.0.2.87
EOF

# conf FILE DATABASE
conf() {
    cat >"$1" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "zone_dir": "zones",
    "zones": [ { "name": "geo.test" } ],
    "control": { "socket": "ctl.sock" },
    "geoip": { "database": $(json_str "$2") },
    "checks": [
        { "name": "eu1", "type": "tcp", "target": "127.0.0.1", "port": $TP, "interval": 1 },
        { "name": "eu2", "type": "tcp", "target": "127.0.0.1", "port": $TP, "interval": 1 },
        { "name": "us", "type": "tcp", "target": "127.0.0.1", "port": $TP, "interval": 1 },
        { "name": "ca", "type": "tcp", "target": "127.0.0.1", "port": $TP, "interval": 1 },
        { "name": "sf", "type": "tcp", "target": "127.0.0.1", "port": $TP, "interval": 1 }
    ],
    "policies": [
        { "name": "www-geo", "zone": "geo.test", "owner": "www", "type": "A", "ttl": 60,
          "groups": { "eu": ["192.0.2.1", "192.0.2.2"], "us": ["198.51.100.1"],
                      "ca": ["198.51.100.2"], "ap": ["203.0.113.1"] },
          "answer": { "geo": { "continent:EU": ["eu", "us"], "country:US": ["us", "eu"],
                               "subdivision:US-CA": ["ca", "us"], "default": ["ap", "us"] } },
          "checks": { "192.0.2.1": "eu1", "192.0.2.2": "eu2", "198.51.100.1": "us",
                      "198.51.100.2": "ca", "203.0.113.1": null } },
        { "name": "www-geo6", "zone": "geo.test", "owner": "www", "type": "AAAA",
          "answer": { "geo": { "continent:EU": "2001:db8:1::1", "default": "2001:db8:2::1" } } },
        { "name": "near", "zone": "geo.test", "owner": "near", "type": "A",
          "answer": { "nearest": ["192.0.2.50", "198.51.100.50", "203.0.113.50"] },
          "locations": { "192.0.2.50": [52.52, 13.40], "198.51.100.50": [37.77, -122.42],
                         "203.0.113.50": [35.69, 139.69] },
          "checks": { "198.51.100.50": "sf" } },
        { "name": "near2", "zone": "geo.test", "owner": "near2", "type": "A",
          "answer": { "nearest": ["192.0.2.50", "198.51.100.50", "203.0.113.50"], "count": 2 },
          "locations": { "192.0.2.50": [52.52, 13.40], "198.51.100.50": [37.77, -122.42],
                         "203.0.113.50": [35.69, 139.69] } },
        { "name": "fo", "zone": "geo.test", "owner": "fo", "type": "A",
          "answer": ["192.0.2.60", "192.0.2.61"] },
        { "name": "mm", "zone": "geo.test", "owner": "mm", "type": "A",
          "answer": { "geo": { "country:GB": "192.0.2.81", "continent:EU": "192.0.2.82",
                               "subdivision:US-WA": "192.0.2.83", "continent:NA": "192.0.2.84",
                               "country:CN": "192.0.2.85", "continent:AS": "192.0.2.86",
                               "default": "192.0.2.87" } } }
    ]
}
EOF
}

say "a missing, wrong-kind or corrupt database refuses the start, naming the file"
conf "$T/missing.json" "$T/nonexistent.mmdb"
run_refused missing-db "$T/missing.json" "$T/nonexistent.mmdb"
conf "$T/asn.json" "$T/asn.mmdb"
run_refused asn-db "$T/asn.json" "$T/asn.mmdb"
head -c 1000 "$T/geo.mmdb" >"$T/truncated.mmdb"
conf "$T/trunc.json" "$T/truncated.mmdb"
run_refused truncated-db "$T/trunc.json" "$T/truncated.mmdb"
if [ -n "$MAXMIND" ] && [ -f "$MAXMIND/GeoIP2-City-Test-Invalid-Node-Count.mmdb" ]; then
    cp "$MAXMIND/GeoIP2-City-Test-Invalid-Node-Count.mmdb" "$T/invalid-node-count.mmdb"
    conf "$T/inc.json" "$T/invalid-node-count.mmdb"
    run_refused invalid-node-count "$T/inc.json" "$T/invalid-node-count.mmdb"
else
    say "SKIP part: GeoIP2-City-Test-Invalid-Node-Count.mmdb: no MaxMind test databases (set HADNS_MAXMIND_DIR)"
fi

conf "$T/hadnsd.json" "$T/geo.mmdb"
start_server main "$T/hadnsd.json"
LOG=$(server_log main)
grep -q '^hadnsd: info: policies: 6 of 6 apply$' "$LOG" || bad "no 'policies: 6 of 6 apply' log line"

say "geo: regions by ECS, each reply's scope the database network's prefix"
# 192.0.2.0/24: EU/DE -> the eu group (both members).
e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"
# A /32 source in the same /24 network: scope 24 (the answer holds for the whole /24).
e www.geo.test A 192.0.2.77/32 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/32/24/192.0.2.77"
# 100.64.0.0/16: EU/GB (no subdivision): eu, scope 16.
e www.geo.test A 100.64.7.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/16/100.64.7.0"
# 100.66.0.0/16 has only a registered country (NL), 100.67.0.0/16 lower-case codes (eu/ie):
# both are Europe.
e www.geo.test A 100.66.1.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/16/100.66.1.0"
e www.geo.test A 100.67.1.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/16/100.67.1.0"
# 198.51.100.0/24: US-CA, the most specific rule: ca.
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=198.51.100.2 ttl=60 ecs=1/24/24/198.51.100.0"
# 203.0.113.0/24: AS/JP, no rule: the default, ap.
e www.geo.test A 203.0.113.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/24/203.0.113.0"
# 100.65.0.0/25: OC/AU, narrower than the source /24: the default, scope 25.
e www.geo.test A 100.65.0.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/25/100.65.0.0"
# IPv6: 2001:db8:1::/48 is EU/FR, 2001:db8:2::/48 US/NY (country:US).
e www.geo.test A 2001:db8:1::/48 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=2/48/48/2001:db8:1::"
e www.geo.test A 2001:db8:2:ab00::/56 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=2/56/48/2001:db8:2:ab00::"
# An IPv4-mapped address in an IPv6 (FAMILY 2) option is placed as the IPv4 address, and the
# scope counts bits of the option's own family (RFC 7871 §6: SCOPE PREFIX-LENGTH is "the
# leftmost number of significant bits of ADDRESS"): 96 + 24. A scope of 24 would claim the
# answer for all of ::/24, every IPv4-mapped client included.
e www.geo.test A ::ffff:192.0.2.0/120 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=2/120/120/::ffff:192.0.2.0"
e www.geo.test A ::ffff:198.51.100.7/128 "rcode=NOERROR an=198.51.100.2 ttl=60 ecs=2/128/120/::ffff:198.51.100.7"
# ANY goes through the policy too (one RRset, RFC 8482).
q www.geo.test ANY --opt 8:00011800c00002
expect_rcode NOERROR
expect_line "option ECS 00011818c00002"
grep '^an ' "$T/resp" | grep -v ' IN A 192\.0\.2\.[12]$' | grep -q ' IN A ' &&
    bad_resp "no A record outside the eu group"
# An AAAA geo policy on the same name.
e www.geo.test AAAA 192.0.2.0/24 "rcode=NOERROR an=2001:db8:1::1 ttl=30 ecs=1/24/24/192.0.2.0"
e www.geo.test AAAA 2001:db8:1::/48 "rcode=NOERROR an=2001:db8:1::1 ttl=30 ecs=2/48/48/2001:db8:1::"
e www.geo.test AAAA 198.51.100.0/24 "rcode=NOERROR an=2001:db8:2::1 ttl=30 ecs=1/24/24/198.51.100.0"
# Over TCP: the same.
e --tcp www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"
e --tcp www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=198.51.100.2 ttl=60 ecs=1/24/24/198.51.100.0"
e --tcp www.geo.test A 2001:db8:1::/48 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=2/48/48/2001:db8:1::"
# A CNAME to the policy name: the same choice, the same scope.
q alias.geo.test A --opt 8:00011800c00002
expect_rcode NOERROR
expect_an "alias.geo.test. 300 IN CNAME www.geo.test." "www.geo.test. 60 IN A 192.0.2.1" "www.geo.test. 60 IN A 192.0.2.2"
expect_line "option ECS 00011818c00002"

say "no ECS: the client is its source address, 127.0.0.1 (US/TX: country:US)"
e www.geo.test A - "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=none"
e --tcp www.geo.test A - "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=none"
e www.geo.test AAAA - "rcode=NOERROR an=2001:db8:2::1 ttl=30 ecs=none"
q www.geo.test A --edns 0
expect_noline '^option ECS'

say "ECS source prefix 0: scope 0 (the source address places the client)"
e www.geo.test A 0.0.0.0/0 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=1/0/0/0.0.0.0"
e www.geo.test A ::/0 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=2/0/0/::"

say "answers that do not depend on the client: scope 0"
e ns1.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.53 ttl=300 ecs=1/24/0/192.0.2.0"
e fo.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.60 ttl=30 ecs=1/24/0/192.0.2.0"
e fo.geo.test A 2001:db8:1::/48 "rcode=NOERROR an=192.0.2.60 ttl=30 ecs=2/48/0/2001:db8:1::"
e --tcp fo.geo.test A 198.51.100.0/24 "rcode=NOERROR an=192.0.2.60 ttl=30 ecs=1/24/0/198.51.100.0"
e nope.geo.test A 192.0.2.0/24 "rcode=NXDOMAIN an=- ttl=- ecs=1/24/0/192.0.2.0"

say "an address the database does not know: the default (any scope that covers it)"
e www.geo.test A 10.1.2.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/*/10.1.2.0"
say "  (10.1.2.0/24: $A)"

say "malformed ECS options: FORMERR"
raw www.geo.test 00031800c00002 "rcode=FORMERR an=- ttl=- ecs=none"          # family 3
raw www.geo.test 00011808c00002 "rcode=FORMERR an=- ttl=- ecs=none"          # scope 8 in a query
raw www.geo.test 00011700c00003 "rcode=FORMERR an=- ttl=- ecs=none"          # a bit past /23
raw www.geo.test 00011800c0000201 "rcode=FORMERR an=- ttl=- ecs=none"        # 4 bytes for /24
raw www.geo.test 00011800c000 "rcode=FORMERR an=- ttl=- ecs=none"            # 2 bytes for /24
raw www.geo.test 00012100c000020100 "rcode=FORMERR an=- ttl=- ecs=none"      # /33 in IPv4
raw www.geo.test 0001 "rcode=FORMERR an=- ttl=- ecs=none"                    # truncated
raw www.geo.test 000281000000000000000000000000000000000000 "rcode=FORMERR an=- ttl=- ecs=none" # /129
# Two ECS options in one query.
A=$("$PY" "$ANS" -p "$PORT" --ecs 192.0.2.0/24 --rawecs 00011800c63364 www.geo.test A 2>&1)
[ "$A" = "rcode=FORMERR an=- ttl=- ecs=none" ] || bad "two ECS options: expected FORMERR, got '$A'"
q www.geo.test A --opt 8:00031800c00002
expect_rcode FORMERR
# A well-formed one after all that still works.
raw www.geo.test 00011800c00002 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"

say "nearest: by great-circle distance from the client's location"
# London (100.64.0.0/16) -> Berlin; Austin (127.0.0.1) -> San Francisco; Tokyo -> Tokyo;
# Sydney (100.65.0.0/25) -> Tokyo; Paris -> Berlin; New York -> San Francisco.
e near.geo.test A 100.64.0.0/16 "rcode=NOERROR an=192.0.2.50 ttl=30 ecs=1/16/16/100.64.0.0"
e near.geo.test A - "rcode=NOERROR an=198.51.100.50 ttl=30 ecs=none"
e near.geo.test A 203.0.113.0/24 "rcode=NOERROR an=203.0.113.50 ttl=30 ecs=1/24/24/203.0.113.0"
e near.geo.test A 100.65.0.0/24 "rcode=NOERROR an=203.0.113.50 ttl=30 ecs=1/24/25/100.65.0.0"
e near.geo.test A 2001:db8:1::/48 "rcode=NOERROR an=192.0.2.50 ttl=30 ecs=2/48/48/2001:db8:1::"
e near.geo.test A 2001:db8:2::/48 "rcode=NOERROR an=198.51.100.50 ttl=30 ecs=2/48/48/2001:db8:2::"
# Not in the database: the declared order. The /25 next to Sydney's must not come from a
# cached /24 (100.65.0.0/25 was just looked up).
e near.geo.test A 100.65.0.128/25 "rcode=NOERROR an=192.0.2.50 ttl=30 ecs=1/25/25/100.65.0.128"
e near.geo.test A 100.65.0.0/25 "rcode=NOERROR an=203.0.113.50 ttl=30 ecs=1/25/25/100.65.0.0"
# count 2: the two nearest.
e near2.geo.test A - "rcode=NOERROR an=192.0.2.50,198.51.100.50 ttl=30 ecs=none"
e near2.geo.test A 100.65.0.0/25 "rcode=NOERROR an=198.51.100.50,203.0.113.50 ttl=30 ecs=1/25/25/100.65.0.0"
e near2.geo.test A 100.64.0.0/16 "rcode=NOERROR an=192.0.2.50,198.51.100.50 ttl=30 ecs=1/16/16/100.64.0.0"
# The nearest one down: the next nearest.
hctl force sf down >/dev/null || bad "force sf down: exit $?"
await near.geo.test 192.0.2.50 10
e near.geo.test A 2001:db8:2::/48 "rcode=NOERROR an=192.0.2.50 ttl=30 ecs=2/48/48/2001:db8:2::"
hctl force sf auto >/dev/null || bad "force sf auto: exit $?"
await near.geo.test 198.51.100.50 10

say "geo with the region's groups down: the next group, then wider regions, then the default"
hctl force ca down >/dev/null || bad "force ca down: exit $?"
await --ecs 198.51.100.0/24 www.geo.test 198.51.100.1
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=1/24/24/198.51.100.0"
# ca and us down: subdivision:US-CA has nothing healthy; country:US (us, eu) answers with eu.
hctl force us down >/dev/null || bad "force us down: exit $?"
await --ecs 198.51.100.0/24 www.geo.test 192.0.2.1,192.0.2.2
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/198.51.100.0"
e www.geo.test A - "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=none"
# A list group answers with its healthy members.
hctl force eu1 down >/dev/null || bad "force eu1 down: exit $?"
await --ecs 192.0.2.0/24 www.geo.test 192.0.2.2
e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=192.0.2.2 ttl=60 ecs=1/24/24/198.51.100.0"
# eu, us and ca down: Europe falls to the default (ap); so does California.
hctl force eu2 down >/dev/null || bad "force eu2 down: exit $?"
await --ecs 192.0.2.0/24 www.geo.test 203.0.113.1
e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/24/192.0.2.0"
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/24/198.51.100.0"
e --tcp www.geo.test A 2001:db8:1::/48 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=2/48/48/2001:db8:1::"
# us back: Europe's failover list reaches it before the default.
hctl force us auto >/dev/null || bad "force us auto: exit $?"
await --ecs 192.0.2.0/24 www.geo.test 198.51.100.1
e www.geo.test A 198.51.100.0/24 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=1/24/24/198.51.100.0"
e www.geo.test A 203.0.113.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/24/203.0.113.0"
for c in eu1 eu2 ca; do hctl force "$c" auto >/dev/null || bad "force $c auto: exit $?"; done
await --ecs 192.0.2.0/24 www.geo.test 192.0.2.1,192.0.2.2
await --ecs 198.51.100.0/24 www.geo.test 198.51.100.2

say "SIGHUP with a database that does not open keeps the previous one serving"
n=$(log_count main 'hadnsd: notice: reload: ')
cp "$T/asn.mmdb" "$T/geo.tmp" && mv -f "$T/geo.tmp" "$T/geo.mmdb"
signal_server main HUP
wait_log main 'hadnsd: notice: reload: ' $((n + 1))
grep -q "^hadnsd: error: geoip: reload failed, still serving the previous database: .*$T/geo.mmdb" "$LOG" ||
    bad "no 'geoip: reload failed, still serving the previous database' line naming the file"
e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"
e www.geo.test A 100.64.7.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/16/100.64.7.0"
server_alive main

if [ -n "$MAXMIND" ]; then
    say "SIGHUP onto MaxMind's GeoIP2-City-Test.mmdb: answers follow the new database"
    # Before: 81.2.69.142 is unknown to the test database (the default).
    e mm.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.87 ttl=30 ecs=1/32/*/81.2.69.142"
    n=$(log_count main 'hadnsd: notice: geoip: reloaded ')
    cp "$MAXMIND/GeoIP2-City-Test.mmdb" "$T/geo.tmp" && mv -f "$T/geo.tmp" "$T/geo.mmdb"
    signal_server main HUP
    wait_log main 'hadnsd: notice: geoip: reloaded ' $((n + 1))
    e mm.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.81 ttl=30 ecs=1/32/31/81.2.69.142"
    # 192.0.2.0/24 is not in MaxMind's test database: www's default now.
    e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=203.0.113.1 ttl=60 ecs=1/24/24/192.0.2.0"
    say "and back to the project's database"
    n=$(log_count main 'hadnsd: notice: geoip: reloaded ')
    cp "$T/geo-orig.mmdb" "$T/geo.tmp" && mv -f "$T/geo.tmp" "$T/geo.mmdb"
    signal_server main HUP
    wait_log main 'hadnsd: notice: geoip: reloaded ' $((n + 1))
    e www.geo.test A 192.0.2.0/24 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/24/24/192.0.2.0"
    e mm.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.87 ttl=30 ecs=1/32/*/81.2.69.142"
else
    say "SKIP part: SIGHUP onto a database with other data: no MaxMind test databases (set HADNS_MAXMIND_DIR), and mkmmdb.pl writes one data set only"
fi
server_alive main
stop_server main

if [ -n "$MAXMIND" ]; then
    say "a geo policy against MaxMind's GeoIP2-City-Test.mmdb"
    cp "$MAXMIND/GeoIP2-City-Test.mmdb" "$T/maxmind.mmdb"
    conf "$T/mm.json" "$T/maxmind.mmdb"
    start_server mm "$T/mm.json"
    # The networks (GeoIP2-City-Test.json): 81.2.69.142/31 GB, 89.160.20.112/28 SE,
    # 216.160.83.56/29 US-WA, 175.16.199.0/24 CN, 2001:218::/32 JP.
    e mm.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.81 ttl=30 ecs=1/32/31/81.2.69.142"
    e mm.geo.test A 89.160.20.112/32 "rcode=NOERROR an=192.0.2.82 ttl=30 ecs=1/32/28/89.160.20.112"
    e mm.geo.test A 216.160.83.56/32 "rcode=NOERROR an=192.0.2.83 ttl=30 ecs=1/32/29/216.160.83.56"
    e mm.geo.test A 175.16.199.0/24 "rcode=NOERROR an=192.0.2.85 ttl=30 ecs=1/24/24/175.16.199.0"
    e mm.geo.test A 2001:218::1/128 "rcode=NOERROR an=192.0.2.86 ttl=30 ecs=2/128/32/2001:218::1"
    e mm.geo.test A 2001:218::/48 "rcode=NOERROR an=192.0.2.86 ttl=30 ecs=2/48/32/2001:218::"
    e --tcp mm.geo.test A 89.160.20.112/32 "rcode=NOERROR an=192.0.2.82 ttl=30 ecs=1/32/28/89.160.20.112"
    # 127.0.0.1 is not in it: the default.
    e mm.geo.test A - "rcode=NOERROR an=192.0.2.87 ttl=30 ecs=none"
    # GB and SE are both Europe: www's eu group.
    e www.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.1,192.0.2.2 ttl=60 ecs=1/32/31/81.2.69.142"
    e www.geo.test A 216.160.83.56/32 "rcode=NOERROR an=198.51.100.1 ttl=60 ecs=1/32/29/216.160.83.56"
    # London (51.51, -0.09) -> Berlin; Milton, WA (47.25, -122.31) -> San Francisco.
    e near.geo.test A 81.2.69.142/32 "rcode=NOERROR an=192.0.2.50 ttl=30 ecs=1/32/31/81.2.69.142"
    e near.geo.test A 216.160.83.56/32 "rcode=NOERROR an=198.51.100.50 ttl=30 ecs=1/32/29/216.160.83.56"
    server_alive mm
    stop_server mm
else
    say "SKIP part: MaxMind's GeoIP2-City-Test.mmdb: no MaxMind test databases (set HADNS_MAXMIND_DIR)"
fi

finish
