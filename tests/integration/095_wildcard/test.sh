#!/bin/sh
# SPDX-License-Identifier: MIT
# 095_wildcard: listeners on the wildcard addresses 0.0.0.0 and [::] answer from the address
# each query was sent to (IP_PKTINFO / IPV6_PKTINFO), over UDP in both drivers and over TCP.
# A resolver drops an answer from any other source, so a multi-homed server that got this
# wrong would look dead on all but one address.
. "$(dirname "$0")/../lib.sh"
need_python

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["0.0.0.0:0", "[::]:0"],
    "workers": 2,
    "log_level": "info",
    "zone_dir": "$top_srcdir/zones",
    "zones": [ { "name": "example.com", "file": "example.com.zone" } ]
}
EOF

# udp_from ADDR PORT: sends one query to ADDR from an unconnected socket and prints the
# source address of the reply (or "timeout").
udp_from() {
    "$PY" - "$1" "$2" <<'EOF'
import socket, sys
import dns.message
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
q = dns.message.make_query("www.example.com", "A")
s.sendto(q.to_wire(), (addr, port))
try:
    data, src = s.recvfrom(65535)
except socket.timeout:
    print("timeout")
    sys.exit(0)
r = dns.message.from_wire(data)
ok = r.id == q.id and any(rr.rdtype == 1 for rr in r.answer)
print(src[0] if ok else "bad-answer")
EOF
}

for loop in blocking event; do
    HADNSD_UDP_LOOP=$loop
    export HADNSD_UDP_LOOP
    start_server main "$T/hadnsd.json"
    p4=$(server_port main 0.0.0.0)
    p6=$(server_port main ::)
    [ -n "$p4" ] || fail "no 0.0.0.0 listener in: $(server_ports main)"
    for a in 127.0.0.1 127.0.0.2 127.0.0.53; do
        got=$(udp_from "$a" "$p4")
        [ "$got" = "$a" ] || bad "$loop: udp query to $a:$p4 answered from '$got'"
        QSERVER=$a PORT=$p4 q www.example.com A --tcp
        expect_rcode NOERROR
    done
    if have_addr ::1 && [ -n "$p6" ]; then
        got=$(udp_from ::1 "$p6")
        [ "$got" = "::1" ] || bad "$loop: udp query to [::1]:$p6 answered from '$got'"
    else
        say "SKIP part: ::1 is not available here, IPv6 wildcard not checked"
    fi
    stop_server main
done
finish
