#!/bin/sh
# SPDX-License-Identifier: MIT
# 170_policy_failover: answer policies driven by real HTTP health checks. Three targets on
# loopback (targets.py, switched between 200, 503 and not listening) stand behind explicit
# checks (interval 1, fall 2, rise 2) that the policies map onto the zone's documentation
# addresses: a failover list (www), all_healthy with max (multi), when_all_down as a list
# (fb) and the default when_all_down "all" (open, whose RRset has a record no rule names).
# A target going bad (503, then gone) flips www to the secondary and coming back flips it
# home, each within interval x fall (or rise) + 1 s of the switch: the one timing assertion
# (the issue's bound), measured by polling from the moment the target is switched, printed.
# Also: the policy's TTL, a CNAME and an MX target leading to the policy name, `hadnsctl
# force`, the same answers over UDP and TCP, and a policy address that is not in its RRset
# refusing the start with a message naming the policy and the address.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python

INTERVAL=1
FALL=2
RISE=2
BOUND_DOWN=$((INTERVAL * FALL + 1))
BOUND_UP=$((INTERVAL * RISE + 1))

# expect_ans and await: lib.sh, over ans.py.

# react LABEL TARGET MODE NAME WANT BOUND: switches TARGET to MODE and polls NAME A until the
# answer is the set WANT; that must take at most BOUND seconds from the switch.
TIMES=
react() {
    label=$1 tgt=$2 mode=$3 name=$4 want=$5 bound=$6
    if out=$("$PY" "$ANS" -p "$PORT" --poll "$want" --deadline $((bound * 5)) \
        --mode-dir "$T/tgt/$tgt" --mode "$mode" "$name" A); then
        say "$label: $name answered $want ${out}s after $tgt went '$mode' (bound ${bound}s)"
        TIMES="$TIMES $label=${out}s"
        awk -v t="$out" -v b="$bound" 'BEGIN { exit !(t <= b) }' ||
            bad "$label: $name took ${out}s to answer $want after $tgt went '$mode'; the bound is interval x fall (rise) + 1 = ${bound}s"
    else
        bad "$label: $name: $out (after $tgt went '$mode')"
    fi
    target_mode "$tgt" "$mode"
}


target_start pri http
P1=$TPORT
target_start sec http
P2=$TPORT
target_start third http
P3=$TPORT

mkdir -p "$T/zones"
cat >"$T/zones/pol.test.zone" <<'EOF'
$ORIGIN pol.test.
$TTL 300
@     SOA   ns1 hostmaster 1 7200 3600 1209600 60
      NS    ns1
      MX    10 www
ns1   A     192.0.2.53
www   A     192.0.2.10
www   A     198.51.100.10
alias CNAME www
multi A     192.0.2.21
multi A     192.0.2.22
multi A     192.0.2.23
fb    A     192.0.2.31
fb    A     192.0.2.32
fb    A     192.0.2.39
open  A     192.0.2.41
open  A     192.0.2.42
open  A     192.0.2.43
EOF

# conf FILE WWW-ANSWER-JSON WWW-CHECKS-JSON
conf() {
    cat >"$1" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "zone_dir": "zones",
    "zones": [ { "name": "pol.test" } ],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "wait" },
    "checks": [
        { "name": "pri", "url": "http://127.0.0.1:$P1/health", "interval": $INTERVAL,
          "timeout": 0.5, "fall": $FALL, "rise": $RISE },
        { "name": "sec", "url": "http://127.0.0.1:$P2/health", "interval": $INTERVAL,
          "timeout": 0.5, "fall": $FALL, "rise": $RISE },
        { "name": "third", "url": "http://127.0.0.1:$P3/health", "interval": $INTERVAL,
          "timeout": 0.5, "fall": $FALL, "rise": $RISE }
    ],
    "policies": [
        { "name": "www-failover", "zone": "pol.test", "owner": "www", "type": "A",
          "ttl": 17, "answer": $2, "checks": $3 },
        { "name": "multi", "zone": "pol.test", "owner": "multi.pol.test.", "type": "A",
          "ttl": 20,
          "answer": { "all_healthy": ["192.0.2.21", "192.0.2.22", "192.0.2.23"], "max": 2 },
          "checks": { "192.0.2.21": "pri", "192.0.2.22": "sec", "192.0.2.23": "third" } },
        { "zone": "pol.test", "owner": "fb", "type": "A",
          "answer": ["192.0.2.31", "192.0.2.32"],
          "checks": { "192.0.2.31": "pri", "192.0.2.32": "sec" },
          "when_all_down": ["192.0.2.39"] },
        { "zone": "pol.test", "owner": "open", "type": "A", "ttl": 5,
          "answer": { "failover": ["192.0.2.41", "192.0.2.42"] },
          "checks": { "192.0.2.41": "pri", "192.0.2.42": "sec" },
          "when_all_down": "all" }
    ]
}
EOF
}
conf "$T/hadnsd.json" '["192.0.2.10", "198.51.100.10"]' \
    '{ "192.0.2.10": "pri", "198.51.100.10": "sec" }'
start_server main "$T/hadnsd.json"
LOG=$(server_log main)
grep -q '^hadnsd: info: policies: 4 of 4 apply$' "$LOG" || bad "no 'policies: 4 of 4 apply' log line"

say "every target up: the first choices, at each policy's TTL"
expect_field pri state up
expect_field sec state up
expect_field third state up
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10 ttl=17 ecs=none"
expect_ans --tcp www.pol.test A "rcode=NOERROR an=192.0.2.10 ttl=17 ecs=none"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.31 ttl=30 ecs=none"
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.41 ttl=5 ecs=none"
# A name without a policy is served as the zone has it.
expect_ans ns1.pol.test A "rcode=NOERROR an=192.0.2.53 ttl=300 ecs=none"
q www.pol.test A
expect_rcode NOERROR
expect_flags qr aa
expect_an "www.pol.test. 17 IN A 192.0.2.10"

say "a CNAME to the policy name gets the filtered A"
q alias.pol.test A
expect_rcode NOERROR
expect_an "alias.pol.test. 300 IN CNAME www.pol.test." "www.pol.test. 17 IN A 192.0.2.10"
q --tcp alias.pol.test A
expect_an "alias.pol.test. 300 IN CNAME www.pol.test." "www.pol.test. 17 IN A 192.0.2.10"

say "an MX target with a policy: its additional-section A is filtered too"
q pol.test MX
expect_an "pol.test. 300 IN MX 10 www.pol.test."
expect_ar "www.pol.test. 17 IN A 192.0.2.10"

say "all_healthy with max 2: two distinct healthy records per answer"
"$PY" "$ANS" -p "$PORT" --count 300 multi.pol.test A >"$T/multi.count" ||
    bad "ans.py --count multi failed"
awk '{ n = split($1, x, ","); if (n != 2 || x[1] == x[2]) exit 1 }' "$T/multi.count" ||
    bad "multi: an answer without exactly 2 distinct records: $(cat "$T/multi.count")"
for r in 192.0.2.21 192.0.2.22 192.0.2.23; do
    grep -q "$r" "$T/multi.count" ||
        bad "multi: $r never answered in 300 queries: $(cat "$T/multi.count")"
done
q multi.pol.test A
[ "$(grep -c '^an multi\.pol\.test\. 20 IN A ' "$T/resp")" = 2 ] ||
    bad_resp "2 records of multi at TTL 20"

say "the primary answers 503: www fails over to the secondary"
react "503-down" pri 503 www.pol.test 198.51.100.10 "$BOUND_DOWN"
wait_state pri down 5
expect_transition pri down "$FALL"
expect_ans www.pol.test A "rcode=NOERROR an=198.51.100.10 ttl=17 ecs=none"
expect_ans --tcp www.pol.test A "rcode=NOERROR an=198.51.100.10 ttl=17 ecs=none"
q alias.pol.test A
expect_an "alias.pol.test. 300 IN CNAME www.pol.test." "www.pol.test. 17 IN A 198.51.100.10"
q pol.test MX
expect_ar "www.pol.test. 17 IN A 198.51.100.10"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.32 ttl=30 ecs=none"
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.42 ttl=5 ecs=none"
"$PY" "$ANS" -p "$PORT" --count 50 multi.pol.test A >"$T/multi.count"
[ "$(cat "$T/multi.count")" = "192.0.2.22,192.0.2.23 50" ] ||
    bad "multi with pri down: expected 192.0.2.22,192.0.2.23 every time: $(cat "$T/multi.count")"

say "the primary answers 200 again: www returns to it"
react "503-up" pri ok www.pol.test 192.0.2.10 "$BOUND_UP"
wait_state pri up 5
expect_transition pri up "$RISE"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.31 ttl=30 ecs=none"
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.41 ttl=5 ecs=none"

say "the primary stops listening (gone): www fails over"
react "gone-down" pri stop www.pol.test 198.51.100.10 "$BOUND_DOWN"
wait_state pri down 5
say "it listens again"
react "gone-up" pri ok www.pol.test 192.0.2.10 "$BOUND_UP"
wait_state pri up 5

say "the secondary goes down while the primary is up: www does not change"
target_mode sec 503
wait_state sec down 10
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10 ttl=17 ecs=none"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.31 ttl=30 ecs=none"
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.41 ttl=5 ecs=none"

say "then the primary too: every candidate down, when_all_down"
react "all-down" pri stop www.pol.test 192.0.2.10,198.51.100.10 "$BOUND_DOWN"
wait_state pri down 5
# www: the default, "all": the whole RRset.
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10,198.51.100.10 ttl=17 ecs=none"
expect_ans --tcp www.pol.test A "rcode=NOERROR an=192.0.2.10,198.51.100.10 ttl=17 ecs=none"
# fb: its when_all_down list.
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.39 ttl=30 ecs=none"
expect_ans --tcp fb.pol.test A "rcode=NOERROR an=192.0.2.39 ttl=30 ecs=none"
# open: "all" is the whole RRset, the record that no rule names included, at the policy's TTL.
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.41,192.0.2.42,192.0.2.43 ttl=5 ecs=none"
# multi: third is still up.
expect_ans multi.pol.test A "rcode=NOERROR an=192.0.2.23 ttl=20 ecs=none"
target_mode third 503
wait_state third down 10
await multi.pol.test 192.0.2.21,192.0.2.22,192.0.2.23
# every one down: "all" is not capped by max.
expect_ans multi.pol.test A "rcode=NOERROR an=192.0.2.21,192.0.2.22,192.0.2.23 ttl=20 ecs=none"

say "the secondary comes back first: it answers alone"
react "sec-up" sec ok www.pol.test 198.51.100.10 "$BOUND_UP"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.32 ttl=30 ecs=none"
expect_ans open.pol.test A "rcode=NOERROR an=192.0.2.42 ttl=5 ecs=none"
expect_ans multi.pol.test A "rcode=NOERROR an=192.0.2.22 ttl=20 ecs=none"
target_mode pri ok
target_mode third ok
wait_state pri up 10
wait_state third up 10
await www.pol.test 192.0.2.10

say "hadnsctl force pri down flips the answer; auto flips it back"
hctl force pri down >/dev/null || bad "hadnsctl force pri down: exit $?"
await www.pol.test 198.51.100.10 10
expect_ans www.pol.test A "rcode=NOERROR an=198.51.100.10 ttl=17 ecs=none"
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.32 ttl=30 ecs=none"
hctl force sec down >/dev/null || bad "hadnsctl force sec down: exit $?"
await fb.pol.test 192.0.2.39 10
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10,198.51.100.10 ttl=17 ecs=none"
hctl force sec auto >/dev/null || bad "hadnsctl force sec auto: exit $?"
hctl force pri auto >/dev/null || bad "hadnsctl force pri auto: exit $?"
await www.pol.test 192.0.2.10 10
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.31 ttl=30 ecs=none"
say "force up holds the answer over a failing target; auto releases it"
hctl force pri up >/dev/null || bad "hadnsctl force pri up: exit $?"
target_mode pri 503
wait_field pri probed down 10
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10 ttl=17 ecs=none"
hctl force pri auto >/dev/null || bad "hadnsctl force pri auto: exit $?"
await www.pol.test 198.51.100.10 10
target_mode pri ok
wait_state pri up 10
await www.pol.test 192.0.2.10

say "UDP and TCP give the same answers"
for n in www alias fb open ns1; do
    q "$n.pol.test" A
    grep '^an ' "$T/resp" >"$T/udp.an"
    q --tcp "$n.pol.test" A
    grep '^an ' "$T/resp" >"$T/tcp.an"
    cmp -s "$T/udp.an" "$T/tcp.an" ||
        bad "$n.pol.test A: the UDP and TCP answers differ: $(cat "$T/udp.an") / $(cat "$T/tcp.an")"
done
q --tcp pol.test MX
expect_ar "www.pol.test. 17 IN A 192.0.2.10"

say "a reload that takes a policy's address away: the RRset is served whole until it fits"
cp "$T/zones/pol.test.zone" "$T/pol.test.zone.orig"
sed -e 's/^www   A     198\.51\.100\.10$/www   A     192.0.2.11/' \
    -e 's/ 1 7200 / 2 7200 /' "$T/pol.test.zone.orig" >"$T/zones/pol.test.zone"
grep -q '192\.0\.2\.11' "$T/zones/pol.test.zone" || fail "sed did not edit the zone"
hctl reload >/dev/null || bad "hadnsctl reload: exit $?"
grep -q '^hadnsd: warning: policy www-failover: 198\.51\.100\.10 is not a record' "$LOG" ||
    bad "no warning naming policy www-failover and 198.51.100.10 after the reload"
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10,192.0.2.11 ttl=300 ecs=none"
expect_ans --tcp www.pol.test A "rcode=NOERROR an=192.0.2.10,192.0.2.11 ttl=300 ecs=none"
# The other policies still apply.
expect_ans fb.pol.test A "rcode=NOERROR an=192.0.2.31 ttl=30 ecs=none"
sed -e 's/ 1 7200 / 3 7200 /' "$T/pol.test.zone.orig" >"$T/zones/pol.test.zone"
hctl reload >/dev/null || bad "hadnsctl reload: exit $?"
expect_ans www.pol.test A "rcode=NOERROR an=192.0.2.10 ttl=17 ecs=none"
server_alive main
stop_server main

say "a policy address that is not a record of its RRset: the server refuses to start"
conf "$T/bad.json" '["192.0.2.10", "192.0.2.77"]' '{ "192.0.2.10": "pri", "192.0.2.77": "sec" }'
"$HADNSD" --check-config -c "$T/bad.json" >"$T/checkconf.out" 2>&1
rc=$?
[ "$rc" = 1 ] || bad "--check-config with a policy address outside its RRset: exit $rc, expected 1: $(cat "$T/checkconf.out")"
grep -q 'policy www-failover: .*192\.0\.2\.77' "$T/checkconf.out" ||
    bad "--check-config does not name the policy and the address: $(cat "$T/checkconf.out")"
"$HADNSD" --check-config -c "$T/hadnsd.json" >"$T/checkconf.out" 2>&1 ||
    bad "--check-config on the good config: exit $?: $(cat "$T/checkconf.out")"
run_foreground "$T/bad.json" "$T/bad.out"
if [ "$RC" = running ]; then
    bad "hadnsd started with a policy address outside its RRset: $(cat "$T/bad.out")"
else
    rc=$RC
    [ "$rc" -ne 0 ] || bad "hadnsd with a policy address outside its RRset exited 0"
    grep -q 'policy www-failover' "$T/bad.out" ||
        bad "the start-up error does not name the policy www-failover: $(cat "$T/bad.out")"
    grep -q '192\.0\.2\.77' "$T/bad.out" ||
        bad "the start-up error does not name the address 192.0.2.77: $(cat "$T/bad.out")"
    grep -q ' ready: ' "$T/bad.out" && bad "hadnsd said ready before refusing: $(cat "$T/bad.out")"
    grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$T/bad.out" "$T/checkconf.out" &&
        bad "a sanitizer report: $(cat "$T/bad.out")"
    say "start refused, exit $rc: $(grep -E '^hadnsd: (error|warning)' "$T/bad.out" | tr '\n' ' ')"
fi

say "reaction times:$TIMES"
finish
