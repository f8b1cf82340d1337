#!/bin/sh
# SPDX-License-Identifier: MIT
# 140_health_tcp_dns: TCP connect checks against a listener that comes and goes (IPv4, and
# IPv6 when ::1 works), and DNS checks against a second hadnsd: NOERROR is up, REFUSED and
# NXDOMAIN are down with the rcode as the error, a stopped server is down; every transition
# after exactly fall/rise results.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

target_start tcp4 tcp
P4=$TPORT
V6=
if have_addr ::1; then
    V6=yes
    target_start tcp6 tcp ::1
    P6=$TPORT
else
    say "SKIP (part): ::1 is not available here; no IPv6 check"
fi

# The DNS target: another hadnsd with one zone.
mkdir -p "$T/dns"
cat >"$T/dns/dns.test.zone" <<'EOF'
$ORIGIN dns.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
EOF
cat >"$T/dns/dns.json" <<'EOF'
{ "listen": ["127.0.0.1:0"], "workers": 1, "zones": [ { "name": "dns.test" } ] }
EOF
start_server dns "$T/dns/dns.json"
DPORT=$PORT

v6check=
if [ -n "$V6" ]; then
    v6check="{ \"name\": \"tcp6\", \"type\": \"tcp\", \"target\": \"::1\", \"port\": $P6,
          \"interval\": 0.3, \"timeout\": 0.3, \"rise\": 1, \"fall\": 1 },"
fi
cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zones": [],
    "control": { "socket": "ctl.sock" },
    "checks": [
        { "name": "tcp4", "type": "tcp", "target": "127.0.0.1", "port": $P4,
          "interval": 0.3, "timeout": 0.3, "rise": 3, "fall": 2 },
        $v6check
        { "name": "soa", "type": "dns", "target": "127.0.0.1", "port": $DPORT,
          "query": "dns.test", "interval": 0.3, "timeout": 0.3, "rise": 2, "fall": 2 },
        { "name": "ns1", "type": "dns", "target": "127.0.0.1", "port": $DPORT,
          "query": "ns1.dns.test.", "qtype": "A", "interval": 0.3, "timeout": 0.3 },
        { "name": "refused", "type": "dns", "target": "127.0.0.1", "port": $DPORT,
          "query": "example.invalid", "interval": 0.3, "timeout": 0.3 },
        { "name": "nx", "type": "dns", "target": "127.0.0.1", "port": $DPORT,
          "query": "nope.dns.test", "qtype": "AAAA", "interval": 0.3, "timeout": 0.3 }
    ]
}
EOF
start_server main "$T/hadnsd.json"

say "tcp"
expect_field tcp4 state up
[ -n "$V6" ] && expect_field tcp6 state up
for round in 1 2; do
    target_mode tcp4 stop
    wait_state tcp4 down
    expect_transition tcp4 down 2
    wait_field tcp4 last_error "connection refused"
    target_mode tcp4 ok
    wait_state tcp4 up
    expect_transition tcp4 up 3
    expect_field tcp4 last_error ""
done
expect_field tcp4 counters.downs 2
if [ -n "$V6" ]; then
    target_mode tcp6 stop
    wait_state tcp6 down
    wait_field tcp6 last_error "connection refused"
    target_mode tcp6 ok
    wait_state tcp6 up
fi

say "dns"
expect_field soa state up
expect_field ns1 state up
expect_field refused state down
expect_field refused last_error "rcode REFUSED"
expect_field nx state down
expect_field nx last_error "rcode NXDOMAIN"
expect_field soa type dns
say "the DNS server stops"
stop_server dns
wait_state soa down
expect_transition soa down 2
case $(ctl field soa last_error) in
"connection refused" | "timeout after 0.3 s") ;;
*) bad "soa: last_error '$(ctl field soa last_error)' after the server stopped" ;;
esac
say "and starts again on the same port"
cat >"$T/dns/dns2.json" <<EOF
{ "listen": ["127.0.0.1:$DPORT"], "workers": 1, "zones": [ { "name": "dns.test" } ] }
EOF
start_server dns2 "$T/dns/dns2.json"
wait_state soa up
expect_transition soa up 2
expect_field refused state down

stop_server main
stop_server dns2
finish
