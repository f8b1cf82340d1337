#!/bin/sh
# SPDX-License-Identifier: MIT
# 175_policy_ttl_health: "ttl_from_health" through the real health thread. The TTL of a
# policy answer is capped by how soon its checks could change: (results left before a change
# - 1) x interval. A failed probe of a check that is still up moves that bound without a state
# change, so the health thread must tell the main loop and the answer must be rebuilt with the
# shorter TTL; a success of a healthy check moves nothing. The TTL is the least bound of the
# policy's checks. With interval 3, fall 3, rise 2:
#   both up                          -> www answers pri, TTL (3-1) x 3 = 6
#   pri 503, 1 failure (still up)    -> pri, TTL 3;   2 failures -> pri, TTL 0
#   pri down (rise 2 to go)          -> sec, TTL 3
#   pri ok, 1 success (still down)   -> sec, TTL 0
#   pri up again                     -> pri, TTL 6
# Each state is awaited by polling (a bounded wait, not a timing assertion).
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"
need_python

target_start pri http
P1=$TPORT
target_start sec http
P2=$TPORT

mkdir -p "$T/zones"
cat >"$T/zones/ttl.test.zone" <<'EOF2'
$ORIGIN ttl.test.
$TTL 300
@     SOA   ns1 hostmaster 1 7200 3600 1209600 60
      NS    ns1
ns1   A     192.0.2.53
www   A     192.0.2.10
www   A     198.51.100.10
EOF2
cat >"$T/hadnsd.json" <<EOF2
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "ttl.test" } ],
    "control": { "socket": "ctl.sock" },
    "health": { "startup": "wait" },
    "checks": [
        { "name": "pri", "url": "http://127.0.0.1:$P1/health", "interval": 3,
          "timeout": 0.5, "fall": 3, "rise": 2 },
        { "name": "sec", "url": "http://127.0.0.1:$P2/health", "interval": 3,
          "timeout": 0.5, "fall": 3, "rise": 2 }
    ],
    "policies": [
        { "name": "www", "zone": "ttl.test", "owner": "www", "type": "A", "ttl": 300,
          "ttl_from_health": true, "answer": ["192.0.2.10", "198.51.100.10"],
          "checks": { "192.0.2.10": "pri", "198.51.100.10": "sec" } }
    ]
}
EOF2
start_server main "$T/hadnsd.json"

say "both up: the TTL is the bound of fall 3 at interval 3"
await_line www.ttl.test A "rcode=NOERROR an=192.0.2.10 ttl=6 ecs=none" 30
# Healthy probes go on; the answer stays as it is.
sleep 4
expect_ans www.ttl.test A "rcode=NOERROR an=192.0.2.10 ttl=6 ecs=none"

say "pri fails: its bound shrinks with each failure before the state changes"
target_mode pri 503
await_line www.ttl.test A "rcode=NOERROR an=192.0.2.10 ttl=3 ecs=none" 30
await_line www.ttl.test A "rcode=NOERROR an=192.0.2.10 ttl=0 ecs=none" 30
await_line www.ttl.test A "rcode=NOERROR an=198.51.100.10 ttl=3 ecs=none" 30
expect_field pri state down

say "pri recovers: one success shortens the bound, the second brings it back"
target_mode pri ok
await_line www.ttl.test A "rcode=NOERROR an=198.51.100.10 ttl=0 ecs=none" 30
await_line www.ttl.test A "rcode=NOERROR an=192.0.2.10 ttl=6 ecs=none" 30
expect_field pri state up
finish
