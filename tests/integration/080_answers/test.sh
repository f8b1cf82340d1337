#!/bin/sh
# SPDX-License-Identifier: MIT
# 080_answers: corner cases of the answer algorithm (RFC 1034 §4.3.2, RFC 4592, RFC 6604,
# RFC 4035 §3.1.4.1, RFC 4343) on zones made for them: CNAME loops and long chains, a CNAME
# to a missing name, into a wildcard or a delegation; wildcards blocked by an empty
# non-terminal; occluded data; a child zone served next to its parent (DS from the parent);
# label boundaries; escaped and non-ASCII labels; a root zone.
. "$(dirname "$0")/../lib.sh"
need_python

cat >"$T/a.json" <<EOF2
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "zone_dir": $(json_str "$TESTDIR/zones"),
    "zones": [
        { "name": "answers.test", "file": "answers.test.zone" },
        { "name": "sub.answers.test", "file": "sub.answers.test.zone" }
    ]
}
EOF2
cat >"$T/root.json" <<EOF2
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": $(json_str "$TESTDIR/zones"),
    "zones": [
        { "name": ".", "file": "root.zone" },
        { "name": "answers.test", "file": "answers.test.zone" }
    ]
}
EOF2
start_server root "$T/root.json"
PORT_ROOT=$PORT
start_server a "$T/a.json"

SOA='answers.test. 60 IN SOA ns1.answers.test. hostmaster.answers.test. 1 7200 3600 1209600 60'
END='end.answers.test. 300 IN A 192.0.2.99'

for tr in "" --tcp; do
    say "CNAME corner cases ${tr:-(udp)}"
    q $tr loop1.answers.test A
    expect_rcode NOERROR
    expect_flag aa
    expect_an 'loop1.answers.test. 300 IN CNAME loop2.answers.test.' \
        'loop2.answers.test. 300 IN CNAME loop1.answers.test.'
    q $tr self.answers.test A
    expect_rcode NOERROR
    expect_an 'self.answers.test. 300 IN CNAME self.answers.test.'
    # A long chain: followed some way, never past its end; what is there is the chain's prefix.
    q $tr c0.answers.test A
    expect_rcode NOERROR
    n=$(grep -c '^an ' "$T/resp")
    [ "$n" -ge 1 ] && [ "$n" -le 13 ] || bad_resp "between 1 and 13 answer records (got $n)"
    i=0
    while [ $i -lt "$n" ] && [ $i -lt 12 ]; do
        grep -qxF "an c$i.answers.test. 300 IN CNAME $([ $i -lt 11 ] && echo "c$((i + 1))" || echo end).answers.test." "$T/resp" ||
            bad_resp "c$i's CNAME in a prefix of the chain"
        i=$((i + 1))
    done
    # RFC 6604 §3: the rcode is that of the last name in the chain.
    q $tr dangling.answers.test A
    expect_rcode NXDOMAIN
    expect_flag aa
    expect_an 'dangling.answers.test. 300 IN CNAME nowhere.answers.test.'
    expect_ns "$SOA"
    q $tr tow.answers.test A
    expect_rcode NOERROR
    expect_an 'tow.answers.test. 300 IN CNAME foo.wild.answers.test.' \
        'foo.wild.answers.test. 300 IN A 192.0.2.70'
    q $tr x.wc.answers.test A
    expect_rcode NOERROR
    expect_an 'x.wc.answers.test. 300 IN CNAME end.answers.test.' "$END"
    q $tr x.wc.answers.test CNAME
    expect_an 'x.wc.answers.test. 300 IN CNAME end.answers.test.'
    q $tr tochild.answers.test A
    expect_rcode NOERROR
    expect_an 'tochild.answers.test. 300 IN CNAME www.deleg.answers.test.'
    expect_ns 'deleg.answers.test. 300 IN NS ns.deleg.answers.test.'
    expect_ar 'ns.deleg.answers.test. 300 IN A 192.0.2.200'

    say "wildcards and empty non-terminals ${tr:-(udp)}"
    q $tr b.wild.answers.test A
    expect_an 'b.wild.answers.test. 300 IN A 192.0.2.70'
    q $tr a.sub.wild.answers.test A
    expect_an 'a.sub.wild.answers.test. 300 IN A 192.0.2.71'
    q $tr sub.wild.answers.test A # an ENT: NODATA, not the wildcard
    expect_rcode NOERROR
    expect_an
    expect_ns "$SOA"
    q $tr x.sub.wild.answers.test A # closest encloser sub.wild has no wildcard child
    expect_rcode NXDOMAIN
    expect_an
    expect_ns "$SOA"
    q $tr '*.wild.answers.test' TXT # the wildcard owner itself
    expect_an '*.wild.answers.test. 300 IN TXT "w"'
    q $tr wild.answers.test A
    expect_rcode NOERROR
    expect_an

    say "delegations ${tr:-(udp)}"
    q $tr occluded.deleg.answers.test TXT
    expect_rcode NOERROR
    expect_noflag aa
    expect_an
    expect_ns 'deleg.answers.test. 300 IN NS ns.deleg.answers.test.'
    q $tr ns.deleg.answers.test A # glue is not an authoritative answer
    expect_noflag aa
    expect_an
    q $tr deleg.answers.test DS # no DS at this cut: NODATA from the parent
    expect_rcode NOERROR
    expect_flag aa
    expect_an
    expect_ns "$SOA"
    q $tr x.deleg.answers.test DS # below the cut: a referral
    expect_noflag aa
    expect_ns 'deleg.answers.test. 300 IN NS ns.deleg.answers.test.'
    q $tr deleg.answers.test ANY
    expect_noflag aa
    expect_an

    say "a child zone served next to its parent ${tr:-(udp)}"
    q $tr www.sub.answers.test A
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'www.sub.answers.test. 300 IN A 192.0.2.211'
    q $tr sub.answers.test NS
    expect_flags qr aa
    expect_an 'sub.answers.test. 300 IN NS ns1.sub.answers.test.'
    q $tr sub.answers.test SOA
    expect_an 'sub.answers.test. 300 IN SOA ns1.sub.answers.test. hostmaster.sub.answers.test. 5 7200 3600 1209600 60'
    # RFC 4035 §3.1.4.1: DS is the parent's.
    q $tr sub.answers.test DS
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'sub.answers.test. 300 IN DS 12345 13 2 3490a6806d47f17a34c29e2ce80e8a999ffbe4be7d0f7a6d5b9e5e9c9c0e9c1d'
    q $tr SUB.Answers.TEST DS
    expect_rcode NOERROR
    n=$(grep -c '^an .* IN DS 12345 ' "$T/resp")
    [ "$n" -eq 1 ] || bad_resp "the parent's DS (query in mixed case)"
    q $tr sub.answers.test DNSKEY # the child's apex, no DNSKEY: NODATA with the child's SOA
    expect_rcode NOERROR
    expect_an
    expect_ns 'sub.answers.test. 60 IN SOA ns1.sub.answers.test. hostmaster.sub.answers.test. 5 7200 3600 1209600 60'
    q $tr ns1.sub.answers.test A
    expect_flags qr aa
    expect_an 'ns1.sub.answers.test. 300 IN A 192.0.2.210'

    say "label boundaries and odd labels ${tr:-(udp)}"
    for name in xanswers.test answers.testx test sub.answersxtest; do
        q $tr $name A
        expect_rcode REFUSED
        expect_noflag aa
    done
    q $tr 'a\.b.answers.test' TXT
    expect_rcode NOERROR
    expect_an 'a\.b.answers.test. 300 IN TXT "dot"'
    q $tr a.b.answers.test TXT # two labels, not the one with a dot in it
    expect_rcode NXDOMAIN
    q $tr '\196x.answers.test' TXT
    expect_rcode NOERROR
    expect_an '\196x.answers.test. 300 IN TXT "c4"'
    # RFC 4343 §3: only ASCII letters fold; 0xE4 is not 0xC4 in another case.
    q $tr '\228x.answers.test' TXT
    expect_rcode NXDOMAIN
    q $tr '\196X.answers.test' TXT
    expect_rcode NOERROR
    q $tr mx.answers.test MX
    expect_rcode NOERROR
    expect_an 'mx.answers.test. 300 IN MX 10 alias.answers.test.'
    expect_ar
done

say "a root zone"
PORT=$PORT_ROOT
for tr in "" --tcp; do
    q $tr . SOA
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an '. 300 IN SOA a.root-servers.test. hostmaster.root-servers.test. 3 7200 3600 1209600 60'
    q $tr . NS
    expect_an '. 300 IN NS a.root-servers.test.'
    expect_ar 'a.root-servers.test. 300 IN A 192.0.2.4'
    q $tr www.tld A
    expect_rcode NOERROR
    expect_flags qr
    expect_ns 'tld. 300 IN NS ns.tld.'
    expect_ar 'ns.tld. 300 IN A 192.0.2.5'
    q $tr nonexistent A
    expect_rcode NXDOMAIN
    expect_flag aa
    expect_ns '. 60 IN SOA a.root-servers.test. hostmaster.root-servers.test. 3 7200 3600 1209600 60'
    q $tr root-servers.test A # an empty non-terminal of the root zone
    expect_rcode NOERROR
    expect_an
    q $tr . DS # the root has no parent: NODATA
    expect_rcode NOERROR
    expect_an
    # The more specific zone wins.
    q $tr end.answers.test A
    expect_flags qr aa
    expect_an "$END"
    q $tr nope.answers.test A
    expect_rcode NXDOMAIN
    expect_ns "$SOA"
done

server_alive a
server_alive root
stop_server a
stop_server root
finish
