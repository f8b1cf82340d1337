#!/bin/sh
# SPDX-License-Identifier: MIT
# 200_policy_flip_load: health flips under dnsperf load lose no query, and every answer comes
# whole from one state of the checks. Two policies (a failover www and an all_healthy multi)
# stand on two HTTP checks; while dnsperf loads the server over two workers, `hadnsctl force`
# flips the primary down and back every 100 ms (each flip rebuilds the policies' answers and
# publishes them with a new snapshot) and SIGHUPs reload a zone whose serial alternates (each
# reload rebuilds them over new zones). A checker verifies every single answer: www is exactly
# one of its two addresses, multi a non-empty set of its candidates, the rcode NOERROR, never
# a timeout. Correctness, not speed: no timing asserted.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python
need_cmd dnsperf

target_start pri http
P1=$TPORT
target_start sec http
P2=$TPORT

Z=$T/zones
mkdir -p "$Z"
zone() {
    cat <<EOF
\$ORIGIN flip.test.
\$TTL 300
@     SOA   ns1 hostmaster $1 7200 3600 1209600 60
      NS    ns1
ns1   A     192.0.2.53
www   A     192.0.2.10
www   A     198.51.100.10
multi A     192.0.2.21
multi A     192.0.2.22
static A    203.0.113.5
EOF
}
put() { cat >"$1.tmp" && mv -f "$1.tmp" "$1"; }
zone 1 | put "$Z/flip.test.zone"

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "log_level": "info",
    "zone_dir": "zones",
    "zones": [ { "name": "flip.test" } ],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "wait" },
    "checks": [
        { "name": "pri", "url": "http://127.0.0.1:$P1/health", "interval": 1, "timeout": 0.5 },
        { "name": "sec", "url": "http://127.0.0.1:$P2/health", "interval": 1, "timeout": 0.5 }
    ],
    "policies": [
        { "name": "www", "zone": "flip.test", "owner": "www", "type": "A",
          "answer": ["192.0.2.10", "198.51.100.10"],
          "checks": { "192.0.2.10": "pri", "198.51.100.10": "sec" } },
        { "name": "multi", "zone": "flip.test", "owner": "multi", "type": "A",
          "answer": { "all_healthy": ["192.0.2.21", "192.0.2.22"] },
          "checks": { "192.0.2.21": "pri", "192.0.2.22": "sec" } }
    ]
}
EOF
start_server main "$T/hadnsd.json"
wait_state pri up
wait_state sec up

"$PY" - >"$T/queries" <<'EOF'
names = ["www.flip.test A", "multi.flip.test A", "static.flip.test A"]
for i in range(3000):
    print(names[i % 3])
EOF

# Load: dnsperf, at most 100 queries outstanding (its default), for 8 s.
dnsperf -s 127.0.0.1 -p "$PORT" -d "$T/queries" -l 8 -c 4 >"$T/dnsperf.out" 2>&1 &
PERF=$!

# Flips: force the primary down and back to auto every 100 ms, 50 times; a SIGHUP with a new
# serial every fifth flip.
(
    i=0
    while [ $i -lt 50 ]; do
        if [ $((i % 2)) -eq 0 ]; then st=down; else st=auto; fi
        "$HADNSCTL" -s "$CTL" force pri $st >/dev/null || { echo "force pri $st failed" >&2; exit 1; }
        if [ $((i % 5)) -eq 4 ]; then
            zone $((i + 2)) | put "$Z/flip.test.zone"
            kill -HUP "$(server_pid main)" 2>/dev/null || exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
) 2>"$T/flips.err" &
FLIPS=$!

"$PY" - "$PORT" >"$T/check.out" 2>&1 <<'EOF'
import random, socket, sys, time
import dns.message, dns.rcode
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
r = random.Random(200)
WWW = (["192.0.2.10"], ["198.51.100.10"])
MULTI = (["192.0.2.21"], ["192.0.2.22"], ["192.0.2.21", "192.0.2.22"])
errors, count, seen = [], 0, set()
deadline = time.monotonic() + 6
while time.monotonic() < deadline and len(errors) < 20:
    name = r.choice(["www", "multi", "static"]) + ".flip.test."
    q = dns.message.make_query(name, "A")
    s.sendto(q.to_wire(), ("127.0.0.1", port))
    try:
        while True:
            resp = dns.message.from_wire(s.recv(65535))
            if resp.id == q.id:
                break
    except socket.timeout:
        errors.append(f"{name}: timeout (lost)")
        continue
    count += 1
    if resp.rcode() != dns.rcode.NOERROR:
        errors.append(f"{name}: {dns.rcode.to_text(resp.rcode())}")
        continue
    got = sorted(rd.to_text() for rrset in resp.answer for rd in rrset)
    if name.startswith("www"):
        if got not in WWW:
            errors.append(f"www: {got}")
        seen.add(tuple(got))
    elif name.startswith("multi"):
        if got not in MULTI:
            errors.append(f"multi: {got}")
    elif got != ["203.0.113.5"]:
        errors.append(f"static: {got}")
print(f"checked {count} answers, www answers seen {sorted(seen)}")
for e in errors:
    print("ERROR", e)
sys.exit(1 if errors else 0)
EOF
CHECK=$?
wait $FLIPS
FLIPST=$?
wait $PERF
PERFST=$?

sed 's/^/# /' "$T/check.out"
[ $CHECK -eq 0 ] || bad "checker found answers not from one state of the checks (above)"
[ $FLIPST -eq 0 ] || bad "the flips failed: $(cat "$T/flips.err")"
grep -q "www answers seen \[('192.0.2.10',), ('198.51.100.10',)\]" "$T/check.out" ||
    bad "the checker did not see both www answers: the flips did not take effect"

expect_dnsperf_clean "$T/dnsperf.out" "$PERFST" "the flips"
nrel=$(log_count main "reload: 1 zones changed")
say "$nrel reloads swapped a new zone in"
[ "$nrel" -ge 3 ] || bad "only $nrel reloads took effect"
finish
