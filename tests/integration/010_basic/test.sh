#!/bin/sh
# SPDX-License-Identifier: MIT
# 010_basic: the shipped etc/hadnsd.json and zones/example.com.zone, listening on 127.0.0.1:0
# (and [::1]:0 when the host has IPv6 loopback); RFC 1034 §4.3.2 answers over UDP and TCP.
. "$(dirname "$0")/../lib.sh"
need_python

ZONE="$top_srcdir/zones/example.com.zone"
[ -f "$top_srcdir/etc/hadnsd.json" ] || hard_error "no $top_srcdir/etc/hadnsd.json"
[ -f "$ZONE" ] || hard_error "no $ZONE"

V6=yes
if ! have_addr ::1; then
    V6=
    say "SKIP (part): ::1 is not available here; the IPv6 listener is not tested"
fi
if [ -n "$V6" ]; then
    listen='["127.0.0.1:0", "[::1]:0"]'
else
    listen='["127.0.0.1:0"]'
fi
# The shipped policies and their checks (HTTP on 127.0.0.1:8080/8081, whatever happens to listen
# there) are left out: this test is about the zone's data; 170-190 test policies.
json_edit "$top_srcdir/etc/hadnsd.json" "$T/hadnsd.json" "listen=$listen" \
    "zone_dir=$(json_str "$top_srcdir/zones")" "policies=[]" "checks=[]"
start_server main "$T/hadnsd.json"

SOA_RR='example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2026112102 7200 3600 1209600 300'

# NXDOMAIN / NODATA: RFC 2308 §3 SOA in authority, TTL = min(SOA TTL, SOA MINIMUM) (§5).
expect_negative() {
    expect_rcode "$1"
    expect_flag aa
    expect_an
    expect_ns "$SOA_RR"
}

# basic_checks TRANSPORT-OPTION...: the whole battery, over one transport.
basic_checks() {
    say "checks: $*"
    # SOA and NS at the apex; NS targets' addresses in the additional section (§4.3.2 step 6),
    # not the out-of-zone ns.provider.example.net.
    q "$@" example.com SOA
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026112102 7200 3600 1209600 300'
    expect_ns

    q "$@" example.com NS
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'example.com. 3600 IN NS ns1.example.com.' 'example.com. 3600 IN NS ns2.example.com.' \
        'example.com. 3600 IN NS ns.provider.example.net.'
    expect_ar 'ns1.example.com. 3600 IN A 192.0.2.53' 'ns1.example.com. 3600 IN AAAA 2001:db8::53' \
        'ns2.example.com. 3600 IN A 198.51.100.53' 'ns2.example.com. 3600 IN AAAA 2001:db8:1::53'

    # RD is copied (RFC 1035 §4.1.1), RA never set by an authoritative-only server, ID echoed.
    q "$@" --rd --id 4242 www.example.com A
    expect_rcode NOERROR
    expect_flags qr aa rd
    expect_line 'id 4242'
    expect_line 'question www.example.com. IN A'
    expect_an 'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'
    expect_ns
    expect_ar

    q "$@" www.example.com AAAA
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'www.example.com. 300 IN AAAA 2001:db8::10'

    q "$@" example.com MX
    expect_rcode NOERROR
    expect_flag aa
    expect_an 'example.com. 3600 IN MX 10 mail1.example.com.' 'example.com. 3600 IN MX 20 mail2.example.com.'
    expect_ar 'mail1.example.com. 3600 IN A 192.0.2.25' 'mail2.example.com. 3600 IN A 198.51.100.25'

    q "$@" example.com TXT
    expect_rcode NOERROR
    expect_an 'example.com. 3600 IN TXT "v=spf1 mx -all"'

    q "$@" _sip._tcp.example.com SRV
    expect_rcode NOERROR
    expect_flag aa
    expect_an '_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com.'
    expect_ar 'sip.example.com. 3600 IN A 192.0.2.60'

    q "$@" example.com CAA
    expect_rcode NOERROR
    expect_an 'example.com. 3600 IN CAA 0 issue "letsencrypt.org"' \
        'example.com. 3600 IN CAA 0 iodef "mailto:security@example.com"'

    q "$@" _https.example.com HTTPS
    expect_rcode NOERROR
    expect_flag aa
    expect_an '_https.example.com. 3600 IN HTTPS 1 . alpn="h2,h3"'

    # CNAME chain inside the zone, followed to the end (§4.3.2 step 3a).
    q "$@" cdn.example.com A
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'cdn.example.com. 3600 IN CNAME api.example.com.' \
        'api.example.com. 3600 IN CNAME www.example.com.' \
        'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'
    # ... ending in NODATA: the chain, then the SOA (RFC 2308 §2.2).
    q "$@" cdn.example.com MX
    expect_rcode NOERROR
    expect_an 'cdn.example.com. 3600 IN CNAME api.example.com.' \
        'api.example.com. 3600 IN CNAME www.example.com.'
    expect_ns "$SOA_RR"
    # A CNAME query gets the CNAME itself, not the chain.
    q "$@" api.example.com CNAME
    expect_rcode NOERROR
    expect_an 'api.example.com. 3600 IN CNAME www.example.com.'
    # A CNAME leaving the zone: only the CNAME, AA set.
    q "$@" status.example.com A
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'status.example.com. 3600 IN CNAME status.provider.example.net.'

    # Wildcards (RFC 4592): synthesized with the query name as owner.
    q "$@" foo.apps.example.com A
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'foo.apps.example.com. 3600 IN A 192.0.2.80'
    q "$@" a.b.apps.example.com TXT
    expect_rcode NOERROR
    expect_an 'a.b.apps.example.com. 3600 IN TXT "wildcard"'
    q "$@" foo.apps.example.com MX # the wildcard owns the name: NODATA
    expect_negative NOERROR
    q "$@" blog.apps.example.com A # an existing name is not overridden
    expect_rcode NOERROR
    expect_an 'blog.apps.example.com. 3600 IN A 192.0.2.81'
    q "$@" blog.apps.example.com TXT
    expect_negative NOERROR
    q "$@" x.blog.apps.example.com A # closest encloser blog.apps has no wildcard (§3.3.1)
    expect_negative NXDOMAIN
    q "$@" apps.example.com A # the wildcard's parent is an empty non-terminal
    expect_negative NOERROR

    # NXDOMAIN and NODATA.
    q "$@" nope.example.com A
    expect_negative NXDOMAIN
    q "$@" deeper.nope.example.com AAAA
    expect_negative NXDOMAIN
    q "$@" www.example.com TXT
    expect_negative NOERROR
    q "$@" example.com SRV
    expect_negative NOERROR

    # Empty non-terminals (RFC 8020: NODATA, never NXDOMAIN).
    q "$@" b.ent.example.com TXT
    expect_negative NOERROR
    q "$@" ent.example.com A
    expect_negative NOERROR
    q "$@" a.b.ent.example.com TXT
    expect_rcode NOERROR
    expect_an 'a.b.ent.example.com. 3600 IN TXT "deep"'
    q "$@" x.b.ent.example.com TXT
    expect_negative NXDOMAIN

    # Referral (§4.3.2 step 3b): AA clear, NS in authority, in-bailiwick glue in additional.
    for name in child.example.com www.child.example.com a.b.child.example.com ns1.child.example.com; do
        q "$@" $name A
        expect_rcode NOERROR
        expect_flags qr
        expect_an
        expect_ns 'child.example.com. 3600 IN NS ns1.child.example.com.' \
            'child.example.com. 3600 IN NS ns2.child.example.com.'
        expect_ar 'ns1.child.example.com. 3600 IN A 192.0.2.201' \
            'ns2.child.example.com. 3600 IN AAAA 2001:db8::202'
    done
    q "$@" child.example.com NS
    expect_rcode NOERROR
    expect_noflag aa
    expect_an
    expect_section ns 'child.example.com. 3600 IN NS ns1.child.example.com.' \
        'child.example.com. 3600 IN NS ns2.child.example.com.'
    # With DO, the DS goes with the referral (RFC 4035 §3.1.4).
    q "$@" --do www.child.example.com A
    expect_rcode NOERROR
    expect_noflag aa
    expect_ns 'child.example.com. 3600 IN NS ns1.child.example.com.' \
        'child.example.com. 3600 IN NS ns2.child.example.com.' \
        'child.example.com. 3600 IN DS 12345 13 2 3490a6806d47f17a34c29e2ce80e8a999ffbe4be7d0f7a6d5b9e5e9c9c0e9c1d'
    # DS is answered authoritatively by the parent side of the cut (RFC 4035 §3.1.4.1).
    q "$@" child.example.com DS
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'child.example.com. 3600 IN DS 12345 13 2 3490a6806d47f17a34c29e2ce80e8a999ffbe4be7d0f7a6d5b9e5e9c9c0e9c1d'
    # DS of a name with no DS, not at a cut: NODATA.
    q "$@" www.example.com DS
    expect_negative NOERROR

    # Outside our zones: REFUSED, AA clear, nothing else.
    for name in example.org www.example.net com .; do
        q "$@" $name A
        expect_rcode REFUSED
        expect_noflag aa
        expect_line 'counts 1 0 0 0'
    done

    # ANY: one RRset of the name (RFC 8482 §4.1), not all of them.
    q "$@" example.com ANY
    expect_rcode NOERROR
    expect_flag aa
    n=$(section_types an | wc -l)
    [ "$n" -eq 1 ] || bad_resp "ANY answered with exactly one RRset type (got $n)"
    q "$@" www.example.com ANY
    expect_rcode NOERROR
    n=$(section_types an | wc -l)
    [ "$n" -eq 1 ] || bad_resp "ANY answered with exactly one RRset type (got $n)"
    q "$@" nope.example.com ANY
    expect_negative NXDOMAIN

    # Unknown types (RFC 3597): served as stored; another unknown type is NODATA.
    q "$@" unknown.example.com TYPE65280
    expect_rcode NOERROR
    expect_flag aa
    expect_an 'unknown.example.com. 3600 IN TYPE65280 \# 4 0a000001'
    q "$@" unknown.example.com TYPE65281
    expect_negative NOERROR

    # Names are case-insensitive (RFC 4343).
    q "$@" WWW.EXAMPLE.COM AAAA
    expect_rcode NOERROR
    expect_line 'question WWW.EXAMPLE.COM. IN AAAA'
    n=$(grep -c '^an .* IN AAAA 2001:db8::10$' "$T/resp")
    [ "$n" -eq 1 ] || bad_resp "one AAAA 2001:db8::10 record"

    # CD is copied (RFC 4035 §3.1.6); AD is never set by us.
    q "$@" --cd www.example.com AAAA
    expect_flags qr aa cd
}

basic_checks
basic_checks --tcp

# Zone transfers: no transfer peers are configured, so AXFR and IXFR are refused.
q --tcp example.com AXFR
expect_rcode REFUSED

if [ -n "$V6" ]; then
    P6=$(server_port main ::1)
    [ -n "$P6" ] || bad "no 'listening on [::1]:PORT' line"
    if [ -n "$P6" ]; then
        say "IPv6 listener [::1]:$P6"
        QSERVER=::1 PORT=$P6
        for tr in "" --tcp; do
            q $tr www.example.com AAAA
            expect_rcode NOERROR
            expect_flags qr aa
            expect_an 'www.example.com. 300 IN AAAA 2001:db8::10'
            q $tr nope.example.com A
            expect_negative NXDOMAIN
            q $tr www.child.example.com A
            expect_noflag aa
        done
        QSERVER=127.0.0.1 PORT=$(server_port main 127.0.0.1)
    fi
fi

# Real clients: dig and kdig parse our answers (header fields and +short data only).
for tool in dig kdig; do
    command -v $tool >/dev/null 2>&1 || { say "SKIP (part): $tool not found"; continue; }
    for tr in +notcp +tcp; do
        out=$($tool @127.0.0.1 -p "$PORT" $tr +short www.example.com A 2>&1 | LC_ALL=C sort | tr '\n' ' ')
        [ "$out" = "192.0.2.10 198.51.100.10 " ] || bad "$tool $tr +short www A: got '$out'"
        out=$($tool @127.0.0.1 -p "$PORT" $tr +short cdn.example.com A 2>&1 | LC_ALL=C sort | tr '\n' ' ')
        [ "$out" = "192.0.2.10 198.51.100.10 api.example.com. www.example.com. " ] ||
            bad "$tool $tr +short cdn A: got '$out'"
        hdr=$(dig_hdr $tool @127.0.0.1 -p "$PORT" $tr +norec nope.example.com A)
        echo "$hdr" | grep -qx 'status NXDOMAIN' || bad "$tool $tr nope A: status, got: $hdr"
        echo "$hdr" | grep -qx 'flags qr aa' || bad "$tool $tr nope A: flags, got: $hdr"
        hdr=$(dig_hdr $tool @127.0.0.1 -p "$PORT" $tr +norec example.org A)
        echo "$hdr" | grep -qx 'status REFUSED' || bad "$tool $tr example.org A: status, got: $hdr"
    done
done

server_alive main
stop_server main
finish
