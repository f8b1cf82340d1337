#!/bin/sh
# SPDX-License-Identifier: MIT
# 090_reload_load: SIGHUP reloads under dnsperf load lose no query, and no answer ever comes
# from a half-built zone. Two versions of a 3,000-name zone alternate on disk (renamed into
# place, as an editor would) while SIGHUPs arrive every 100 ms; dnsperf loads the server and a
# checker verifies every single answer: each name present in both versions must answer NOERROR
# with its address (never NXDOMAIN, SERVFAIL, REFUSED or a timeout), and the version marker and
# a CNAME chain must come whole from one version. Correctness, not speed: no timing asserted.
. "$(dirname "$0")/../lib.sh"
need_python
need_cmd dnsperf

Z=$T/zones
mkdir -p "$Z"
N=3000

# zone VERSION: the same names and addresses in both versions; only the marker TXT, the SOA
# serial and the chain's final address differ.
zone() {
    "$PY" - "$1" "$N" <<'EOF'
import sys
v, n = int(sys.argv[1]), int(sys.argv[2])
print("$ORIGIN load.test.\n$TTL 300")
print(f"@ SOA ns1 hostmaster {v} 7200 3600 1209600 60")
print("@ NS ns1\nns1 A 192.0.2.53")
print(f'ver TXT "v{v}"')
print("chain CNAME hop1\nhop1 CNAME hop2")
print(f"hop2 A 198.51.100.{v}")
for i in range(n):
    print(f"n{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
EOF
}
put() { cat >"$1.tmp" && mv -f "$1.tmp" "$1"; }

zone 1 | put "$Z/load.test.zone"
cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "log_level": "notice",
    "zone_dir": "zones",
    "zones": [ { "name": "load.test", "file": "load.test.zone" } ]
}
EOF
start_server main "$T/hadnsd.json"

"$PY" - "$N" >"$T/queries" <<'EOF'
import random, sys
n = int(sys.argv[1])
r = random.Random(90)
for _ in range(20000):
    print(f"n{r.randrange(n)}.load.test A")
EOF

# Load: dnsperf keeps at most 100 queries outstanding (its default), for 8 s.
dnsperf -s 127.0.0.1 -p "$PORT" -d "$T/queries" -l 8 -c 4 >"$T/dnsperf.out" 2>&1 &
PERF=$!

# Reloads: alternate the two versions and HUP every 100 ms, 50 times.
(
    i=0
    while [ $i -lt 50 ]; do
        zone $((i % 2 + 1)) | put "$Z/load.test.zone"
        kill -HUP "$(server_pid main)" 2>/dev/null || exit 0
        sleep 0.1
        i=$((i + 1))
    done
) &
HUP=$!

# The checker: every answer must come from one complete version.
"$PY" - "$PORT" "$N" >"$T/check.out" 2>&1 <<'EOF'
import random, socket, sys, time
import dns.message, dns.rdatatype, dns.rcode
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
r = random.Random(91)
errors, count, versions = [], 0, set()
deadline = time.monotonic() + 6
while time.monotonic() < deadline and len(errors) < 20:
    kind = r.randrange(10)
    if kind == 0:
        name, qtype = "ver.load.test.", "TXT"
    elif kind == 1:
        name, qtype = "chain.load.test.", "A"
    else:
        i = r.randrange(n)
        name, qtype = f"n{i}.load.test.", "A"
    q = dns.message.make_query(name, qtype)
    s.sendto(q.to_wire(), ("127.0.0.1", port))
    try:
        while True:
            resp = dns.message.from_wire(s.recv(65535))
            if resp.id == q.id:
                break
    except socket.timeout:
        errors.append(f"{name} {qtype}: timeout (lost)")
        continue
    count += 1
    rc = resp.rcode()
    if rc != dns.rcode.NOERROR:
        errors.append(f"{name} {qtype}: {dns.rcode.to_text(rc)}")
        continue
    got = sorted(rd.to_text() for rrset in resp.answer for rd in rrset)
    if kind == 0:
        if got not in (['"v1"'], ['"v2"']):
            errors.append(f"ver: {got}")
        else:
            versions.add(got[0])
    elif kind == 1:
        # the whole chain, ending in one version's address
        if got not in (sorted(["hop1.load.test.", "hop2.load.test.", "198.51.100.1"]),
                       sorted(["hop1.load.test.", "hop2.load.test.", "198.51.100.2"])):
            errors.append(f"chain: {got}")
    else:
        want = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        if got != [want]:
            errors.append(f"{name}: {got}, want {want}")
print(f"checked {count} answers, versions seen {sorted(versions)}")
for e in errors:
    print("ERROR", e)
sys.exit(1 if errors else 0)
EOF
CHECK=$?
wait $HUP
wait $PERF
PERFST=$?

cat "$T/check.out" | sed 's/^/# /'
[ $CHECK -eq 0 ] || bad "checker found answers not from one complete version (above)"
grep -q 'versions seen \[.*v1.*v2' "$T/check.out" ||
    bad "the checker did not see both zone versions: the reloads did not take effect"

expect_dnsperf_clean "$T/dnsperf.out" "$PERFST" "the reloads"
nrel=$(log_count main "reload: 1 zones changed")
say "$nrel reloads swapped a new version in"
[ "$nrel" -ge 5 ] || bad "only $nrel reloads took effect"
finish
