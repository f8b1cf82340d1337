#!/bin/sh
# SPDX-License-Identifier: MIT
# 020_edns: EDNS(0) (RFC 6891), NSID (RFC 5001), truncation over UDP (RFC 1035 §4.2.1,
# RFC 2181 §9, RFC 9471) and the full answer over TCP, 0x20 letter case in the question.
# Two servers: "a" with an NSID and the default udp_payload (1232), "b" with udp_payload 1400
# and no NSID.
. "$(dirname "$0")/../lib.sh"
need_python

NSID=hadnsd-test-nsid
NSID_HEX=$(printf %s "$NSID" | od -An -tx1 | tr -d ' \n')

cat >"$T/a.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "nsid": "$NSID",
    "log_level": "info",
    "zone_dir": $(json_str "$TESTDIR/zones"),
    "zones": [
        { "name": "edns.test", "file": "edns.test.zone" },
        { "name": "example.com", "file": $(json_str "$top_srcdir/zones/example.com.zone") }
    ]
}
EOF
cat >"$T/b.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "udp_payload": 1400,
    "zone_dir": $(json_str "$TESTDIR/zones"),
    "zones": [
        { "name": "edns.test", "file": "edns.test.zone" },
        { "name": "example.com", "file": $(json_str "$top_srcdir/zones/example.com.zone") }
    ]
}
EOF
start_server b "$T/b.json"
PORT_B=$PORT
start_server a "$T/a.json"
PORT_A=$PORT

# expect_size_max N: the response is at most N bytes.
expect_size_max() {
    s=$(resp_field size)
    [ -n "$s" ] && [ "$s" -le "$1" ] || bad_resp "a response of at most $1 bytes"
}
# expect_an_count N
expect_an_count() {
    n=$(grep -c '^an ' "$T/resp")
    [ "$n" -eq "$1" ] || bad_resp "$1 answer records (got $n)"
}

say "OPT echo"
# RFC 6891 §6.1.1/§6.2.3: an OPT in the reply, version 0, our payload (not the client's).
for tr in "" --tcp; do
    q $tr --edns 0 --payload 4096 www.example.com A
    expect_rcode NOERROR
    expect_line 'edns 0'
    expect_line 'payload 1232'
    expect_line 'ednsflags'
    expect_noline '^option '
    # No EDNS in the query: none in the reply (RFC 6891 §7).
    q $tr www.example.com A
    expect_line 'edns none'
    expect_line 'counts 1 2 0 0'
    # Negative answers and refusals carry the OPT too.
    q $tr --edns 0 nope.example.com A
    expect_rcode NXDOMAIN
    expect_line 'edns 0'
    q $tr --edns 0 example.org A
    expect_rcode REFUSED
    expect_line 'edns 0'
done
q -p "$PORT_B" --edns 0 --payload 4096 www.example.com A
expect_line 'payload 1400'
q -p "$PORT_B" --edns 0 --payload 512 www.example.com A
expect_line 'payload 1400'

say "DO bit"
# RFC 3225 §3: the DO bit is copied into the response.
for tr in "" --tcp; do
    q $tr --do www.example.com A
    expect_rcode NOERROR
    expect_line 'ednsflags do'
    q $tr --edns 0 www.example.com A
    expect_line 'ednsflags'
done

say "BADVERS"
# RFC 6891 §6.1.3: an unsupported version gets BADVERS (extended rcode 16) and version 0.
for v in 1 2 255; do
    for tr in "" --tcp; do
        q $tr --edns $v www.example.com A
        expect_rcode BADVERS
        expect_line 'edns 0'
        expect_an
    done
done

say "NSID"
# RFC 5001 §2.3: the NSID option is returned only when requested, only when configured.
for tr in "" --tcp; do
    q $tr --nsid www.example.com A
    expect_rcode NOERROR
    expect_line "option NSID $NSID_HEX"
    q $tr --nsid nope.example.com A
    expect_rcode NXDOMAIN
    expect_line "option NSID $NSID_HEX"
    q $tr --edns 0 www.example.com A
    expect_noline '^option NSID'
    q $tr -p "$PORT_B" --nsid www.example.com A
    expect_rcode NOERROR
    expect_line 'edns 0'
    expect_noline '^option NSID'
done

say "unknown options"
# RFC 6891 §6.1.2: unknown options are ignored (and not echoed); a client COOKIE (RFC 7873)
# to a server without cookies is ignored too.
q --opt 65001:0102030405 www.example.com A
expect_rcode NOERROR
expect_line 'edns 0'
expect_noline '^option '
q --opt 10:0102030405060708 www.example.com A
expect_rcode NOERROR
expect_an 'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'
# A well-formed ECS option (RFC 7871 §6) does not make the query fail.
q --opt 8:00011800c00002 www.example.com A
expect_rcode NOERROR
expect_an 'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'

say "truncation"
# big.example.com: 7 TXT, about 900 bytes: over 512, under 1232.
q big.example.com TXT
expect_rcode NOERROR
expect_flag tc
expect_flag aa
expect_line 'question big.example.com. IN TXT'
expect_size_max 512
q --edns 0 --payload 1232 big.example.com TXT
expect_rcode NOERROR
expect_noflag tc
expect_an_count 7
# RFC 6891 §6.2.5: payloads below 512 are treated as 512.
q --edns 0 --payload 100 big.example.com TXT
expect_flag tc
expect_size_max 512
q --edns 0 --payload 600 big.example.com TXT
expect_flag tc
expect_size_max 600
q --tcp big.example.com TXT
expect_rcode NOERROR
expect_noflag tc
expect_an_count 7
# huge.edns.test: 20 TXT, about 2.3 KB: over our payload whatever the client offers.
q --edns 0 --payload 4096 huge.edns.test TXT
expect_flag tc
expect_line 'edns 0'
expect_size_max 1232
q -p "$PORT_B" --edns 0 --payload 4096 huge.edns.test TXT
expect_flag tc
expect_size_max 1400
q -p "$PORT_B" --edns 0 --payload 1300 huge.edns.test TXT
expect_flag tc
expect_size_max 1300
for p in "$PORT_A" "$PORT_B"; do
    q -p "$p" --tcp --edns 0 huge.edns.test TXT
    expect_rcode NOERROR
    expect_noflag tc
    expect_an_count 20
    q -p "$p" --tcp huge.edns.test TXT
    expect_noflag tc
    expect_an_count 20
done

say "referral glue (RFC 9471)"
# In-domain glue that does not fit: TC=1 (RFC 9471 §3).
q www.deleg.edns.test A
expect_noflag aa
expect_flag tc
expect_size_max 512
for o in "--edns 0" --tcp; do
    q $o www.deleg.edns.test A
    expect_rcode NOERROR
    expect_noflag aa
    expect_noflag tc
    n=$(grep -c '^ns .* IN NS ' "$T/resp")
    [ "$n" -eq 10 ] || bad_resp "10 NS records in authority"
    n=$(grep -c '^ar ' "$T/resp")
    [ "$n" -eq 20 ] || bad_resp "20 glue records in additional"
done
# Sibling glue and additional data for MX are optional: partial, never TC (RFC 2181 §9).
q www.sib.edns.test A
expect_rcode NOERROR
expect_noflag aa
expect_noflag tc
n=$(grep -c '^ns .* IN NS ' "$T/resp")
[ "$n" -eq 10 ] || bad_resp "10 NS records in authority"
expect_size_max 512
q mx.edns.test MX
expect_rcode NOERROR
expect_flag aa
expect_noflag tc
expect_an_count 10
expect_size_max 512

say "0x20"
# RFC 1035 §7.3 / draft-vixie-dnsext-dns0x20: the question comes back byte for byte.
for tr in "" --tcp; do
    q $tr WwW.ExAmPlE.cOm A
    expect_rcode NOERROR
    expect_line 'question WwW.ExAmPlE.cOm. IN A'
    n=$(grep -ci '^an www\.example\.com\. 300 IN A ' "$T/resp")
    [ "$n" -eq 2 ] || bad_resp "two A records for www.example.com (any case)"
    q $tr NoPe.ExAmPlE.CoM A
    expect_rcode NXDOMAIN
    expect_line 'question NoPe.ExAmPlE.CoM. IN A'
    q $tr CdN.eXaMpLe.CoM A
    expect_line 'question CdN.eXaMpLe.CoM. IN A'
    n=$(grep -c '^an ' "$T/resp")
    [ "$n" -eq 4 ] || bad_resp "the 4-record CNAME chain"
    q $tr FoO.ApPs.ExAmPlE.CoM A
    expect_line 'question FoO.ApPs.ExAmPlE.CoM. IN A'
    n=$(grep -ci '^an foo\.apps\.example\.com\. 3600 IN A 192\.0\.2\.80$' "$T/resp")
    [ "$n" -eq 1 ] || bad_resp "the wildcard A for foo.apps.example.com (any case)"
    q $tr eXaMpLe.OrG A
    expect_rcode REFUSED
    expect_line 'question eXaMpLe.OrG. IN A'
done

# dig: TC over UDP without EDNS (+ignore keeps the truncated answer), the full RRset over TCP.
if command -v dig >/dev/null 2>&1; then
    hdr=$(dig_hdr dig @127.0.0.1 -p "$PORT_A" +noedns +ignore +norec big.example.com TXT)
    echo "$hdr" | grep -qx 'flags qr tc aa\|flags qr aa tc' || bad "dig +noedns +ignore big TXT: flags, got: $hdr"
    n=$(dig @127.0.0.1 -p "$PORT_A" +tcp +short big.example.com TXT | wc -l)
    [ "$n" -eq 7 ] || bad "dig +tcp +short big TXT: 7 records, got $n"
    n=$(dig @127.0.0.1 -p "$PORT_A" +bufsize=4096 +short huge.edns.test TXT | wc -l)
    [ "$n" -eq 20 ] || bad "dig (UDP, TC, retried over TCP) huge TXT: 20 records, got $n"
else
    say "SKIP (part): dig not found"
fi

server_alive a
server_alive b
stop_server a
stop_server b
finish
