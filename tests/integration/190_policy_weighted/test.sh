#!/bin/sh
# SPDX-License-Identifier: MIT
# 190_policy_weighted: weighted policies, counted over thousands of UDP queries from one
# dnspython process. A 3:1 split must land within 5 standard deviations of the binomial mean
# (a bound that does not flake, yet catches a wrong weight or a uniform choice); "count": 2
# answers two distinct records, every pair about equally often; a weight-0 member is never
# chosen while a weighted member is up and answers alone when every weighted one is down
# (TCP checks against loopback ports the test closes, and hadnsctl force); weighted groups
# answer with all their healthy members; "checks" null means always up.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python

# expect_ans and await: lib.sh, over ans.py.

# count NAME N: N queries for NAME A; "ANSWER COUNT" lines in $T/NAME.count.
count() {
    "$PY" "$ANS" -p "$PORT" --count "$2" "$1" A >"$T/$1.count" 2>&1 ||
        bad "ans.py --count $2 $1 failed: $(cat "$T/$1.count")"
}
# got NAME ANSWER: how often ANSWER (sorted, comma-separated) came in the last count of NAME.
got() { awk -v a="$2" '$1 == a { print $2; f = 1 } END { if (!f) print 0 }' "$T/$1.count"; }

# within LABEL K N P: K successes in N draws are within 5 standard deviations of N x P.
within() {
    awk -v k="$2" -v n="$3" -v p="$4" 'BEGIN {
        m = n * p; sd = sqrt(n * p * (1 - p)); d = k - m; if (d < 0) d = -d
        printf "%d of %d (expected %.0f +- %.0f, 5 sd)\n", k, n, m, 5 * sd
        exit !(d <= 5 * sd) }' >"$T/within" 2>&1
    st=$?
    say "$1: $(cat "$T/within")"
    [ "$st" = 0 ] || bad "$1: $(cat "$T/within"): outside 5 standard deviations"
}


# settle NAME SET: polls (bounded) until 30 answers in a row are SET: for a change that makes
# an answer certain which was already possible before it.
settle() {
    i=0
    while :; do
        count "$1" 30
        [ "$(cat "$T/$1.count")" = "$2 30" ] && return 0
        if [ $i -ge 100 ]; then
            bad "$1: not always $2 after 10 s: $(cat "$T/$1.count")"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

target_start ta tcp
PA=$TPORT
target_start tb tcp
PB=$TPORT

mkdir -p "$T/zones"
cat >"$T/zones/w.test.zone" <<'EOF'
$ORIGIN w.test.
$TTL 300
@     SOA   ns1 hostmaster 1 7200 3600 1209600 60
      NS    ns1
ns1   A     192.0.2.53
www   A     192.0.2.1
www   A     192.0.2.2
two   A     192.0.2.11
two   A     192.0.2.12
two   A     192.0.2.13
two   A     192.0.2.14
zero  A     192.0.2.21
zero  A     192.0.2.22
zero  A     192.0.2.23
grp   A     192.0.2.31
grp   A     192.0.2.32
grp   A     192.0.2.33
EOF

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "zone_dir": "zones",
    "zones": [ { "name": "w.test" } ],
    "control": { "socket": "ctl.sock" },
    "checks": [
        { "name": "a", "type": "tcp", "target": "127.0.0.1", "port": $PA, "interval": 0.5,
          "timeout": 0.4, "rise": 1, "fall": 1 },
        { "name": "b", "type": "tcp", "target": "127.0.0.1", "port": $PB, "interval": 0.5,
          "timeout": 0.4, "rise": 1, "fall": 1 }
    ],
    "policies": [
        { "name": "www", "zone": "w.test", "owner": "www", "type": "A", "ttl": 10,
          "check": "a", "checks": { "192.0.2.1": null, "192.0.2.2": null },
          "answer": { "weighted": { "192.0.2.1": 3, "192.0.2.2": 1 } } },
        { "name": "two", "zone": "w.test", "owner": "two", "type": "A",
          "answer": { "weighted": { "192.0.2.11": 1, "192.0.2.12": 1, "192.0.2.13": 1,
                                    "192.0.2.14": 1 }, "count": 2 } },
        { "name": "zero", "zone": "w.test", "owner": "zero", "type": "A",
          "checks": { "192.0.2.21": "a", "192.0.2.22": "b", "192.0.2.23": null },
          "answer": { "weighted": { "192.0.2.21": 2, "192.0.2.22": 1, "192.0.2.23": 0 } } },
        { "name": "grp", "zone": "w.test", "owner": "grp", "type": "A",
          "groups": { "g1": ["192.0.2.31", "192.0.2.32"], "g2": ["192.0.2.33"] },
          "answer": { "weighted": { "g1": 1, "g2": 1 } } }
    ]
}
EOF
start_server main "$T/hadnsd.json"
LOG=$(server_log main)
grep -q '^hadnsd: info: policies: 4 of 4 apply$' "$LOG" || bad "no 'policies: 4 of 4 apply' log line"
expect_field a state up
expect_field b state up

N=4000
say "weighted 3:1 over $N queries"
count www.w.test $N
k1=$(got www.w.test 192.0.2.1)
k2=$(got www.w.test 192.0.2.2)
[ $((k1 + k2)) = $N ] || bad "www: $((k1 + k2)) of $N answers were one record of the two: $(cat "$T/www.w.test.count")"
within "www 192.0.2.1 (weight 3 of 4)" "$k1" $N 0.75
A=$("$PY" "$ANS" -p "$PORT" www.w.test A)
case $A in
"rcode=NOERROR an=192.0.2."[12]" ttl=10 ecs=none") ;;
*) bad "www: expected one record at TTL 10, got '$A'" ;;
esac
# Over TCP the same policy answers (one record, TTL 10).
A=$("$PY" "$ANS" -p "$PORT" --tcp www.w.test A)
case $A in
"rcode=NOERROR an=192.0.2."[12]" ttl=10 ecs=none") ;;
*) bad "www over TCP: expected one record at TTL 10, got '$A'" ;;
esac

say "checks null: always up, whatever the policy's own check says"
hctl force a down >/dev/null || bad "force a down: exit $?"
settle zero.w.test 192.0.2.22 # the answers have been rebuilt with a down
count www.w.test 1000
k1=$(got www.w.test 192.0.2.1)
k2=$(got www.w.test 192.0.2.2)
[ $((k1 + k2)) = 1000 ] || bad "www with check a down: $(cat "$T/www.w.test.count")"
within "www 192.0.2.1 with check a forced down" "$k1" 1000 0.75
hctl force a auto >/dev/null || bad "force a auto: exit $?"
wait_state a up
await zero.w.test 192.0.2.21

say "count 2: two distinct records per answer, each pair about as often"
count two.w.test 1200
awk '{ n = split($1, x, ","); if (n != 2 || x[1] == x[2]) exit 1 }' "$T/two.w.test.count" ||
    bad "two: an answer without exactly 2 distinct records: $(cat "$T/two.w.test.count")"
[ "$(wc -l <"$T/two.w.test.count")" -eq 6 ] ||
    bad "two: not all 6 pairs of 4 records came: $(cat "$T/two.w.test.count")"
while read -r pair k; do
    within "two: $pair" "$k" 1200 0.16666667
done <"$T/two.w.test.count"
A=$("$PY" "$ANS" -p "$PORT" --tcp two.w.test A)
case $A in
"rcode=NOERROR an=192.0.2.1"[1-4]",192.0.2.1"[1-4]" ttl=30 ecs=none") ;;
*) bad "two over TCP: expected 2 records at TTL 30, got '$A'" ;;
esac

say "weight 0: never while a weighted member is up"
count zero.w.test 3000
[ "$(got zero.w.test 192.0.2.23)" = 0 ] ||
    bad "zero: the weight-0 record came while the others were up: $(cat "$T/zero.w.test.count")"
k21=$(got zero.w.test 192.0.2.21)
k22=$(got zero.w.test 192.0.2.22)
[ $((k21 + k22)) = 3000 ] || bad "zero: $(cat "$T/zero.w.test.count")"
within "zero 192.0.2.21 (weight 2 of 3)" "$k21" 3000 0.66666667

say "one weighted member down (its port closed): the other alone, never the weight-0 one"
target_mode tb stop
wait_state b down
settle zero.w.test 192.0.2.21
count zero.w.test 500
[ "$(cat "$T/zero.w.test.count")" = "192.0.2.21 500" ] ||
    bad "zero with b down: expected 192.0.2.21 every time: $(cat "$T/zero.w.test.count")"

say "every weighted member down: the weight-0 member answers"
target_mode ta stop
wait_state a down
await zero.w.test 192.0.2.23
count zero.w.test 500
[ "$(cat "$T/zero.w.test.count")" = "192.0.2.23 500" ] ||
    bad "zero with a and b down: expected 192.0.2.23 every time: $(cat "$T/zero.w.test.count")"
expect_ans --tcp zero.w.test A "rcode=NOERROR an=192.0.2.23 ttl=30 ecs=none"

say "hadnsctl force a up: the weighted member again, not the weight-0 one"
hctl force a up >/dev/null || bad "force a up: exit $?"
await zero.w.test 192.0.2.21
count zero.w.test 500
[ "$(cat "$T/zero.w.test.count")" = "192.0.2.21 500" ] ||
    bad "zero with a forced up: expected 192.0.2.21 every time: $(cat "$T/zero.w.test.count")"
hctl force a auto >/dev/null || bad "force a auto: exit $?"
await zero.w.test 192.0.2.23

say "the ports open again: the weighted split returns"
target_mode ta ok
target_mode tb ok
wait_state a up
wait_state b up
await zero.w.test 192.0.2.22
await zero.w.test 192.0.2.21
count zero.w.test 3000
[ "$(got zero.w.test 192.0.2.23)" = 0 ] ||
    bad "zero: the weight-0 record came after the others were back: $(cat "$T/zero.w.test.count")"
within "zero 192.0.2.21 again" "$(got zero.w.test 192.0.2.21)" 3000 0.66666667

say "weighted groups: a list group answers with all its healthy members"
count grp.w.test 2000
kg1=$(got grp.w.test 192.0.2.31,192.0.2.32)
kg2=$(got grp.w.test 192.0.2.33)
[ $((kg1 + kg2)) = 2000 ] || bad "grp: other answers than g1 or g2: $(cat "$T/grp.w.test.count")"
within "grp g1 (weight 1 of 2)" "$kg1" 2000 0.5

server_alive main
stop_server main
finish
