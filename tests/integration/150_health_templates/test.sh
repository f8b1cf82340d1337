#!/bin/sh
# SPDX-License-Identifier: MIT
# 150_health_templates: a check template applied to the A RRset www.tmpl.test (127.0.0.2 and
# 127.0.0.3, each with its own HTTP target on loopback) makes one check per address, named
# TEMPLATE/ADDRESS. A zone reload that drops an address removes its check, a new address gets
# a new check, and the address that stays keeps its state, counters and override; the reload
# reply (hadnsctl reload) names what was added and removed. SIGHUP reconciles the same way.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

have_addr 127.0.0.2 && have_addr 127.0.0.3 || skip "127.0.0.2 and 127.0.0.3 cannot be bound here"
target_start w2 http 127.0.0.2
P=$TPORT
target_start w3 http 127.0.0.3 "$P"

Z=$T/zones
mkdir -p "$Z"
# zone SERIAL ADDR...: tmpl.test with www A ADDR...
zone() {
    serial=$1
    shift
    {
        printf '$ORIGIN tmpl.test.\n$TTL 300\n@ SOA ns1 hostmaster %s 7200 3600 1209600 60\n' "$serial"
        printf '  NS ns1\nns1 A 192.0.2.53\nmail A 192.0.2.25\n'
        for a; do printf 'www A %s\n' "$a"; done
    } >"$Z/tmpl.test.zone.tmp"
    mv -f "$Z/tmpl.test.zone.tmp" "$Z/tmpl.test.zone"
}
zone 1 127.0.0.2 127.0.0.3

cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zone_dir": "zones",
    "zones": [ { "name": "tmpl.test" } ],
    "control": { "socket": "ctl.sock" },
    "checks": [
        { "name": "explicit", "type": "tcp", "target": "127.0.0.2", "port": $P,
          "interval": 0.3, "timeout": 0.3 }
    ],
    "check_templates": [
        { "name": "web", "zone": "tmpl.test", "owner": "www", "type": "A",
          "check": { "type": "http", "port": $P, "path": "/healthz", "body": "status: ok",
                     "interval": 0.3, "timeout": 0.3, "rise": 1, "fall": 2 } },
        { "name": "nomail", "zone": "tmpl.test", "owner": "mail.tmpl.test.", "type": "AAAA",
          "check": { "type": "tcp", "port": 25 } }
    ]
}
EOF
start_server main "$T/hadnsd.json"
LOG=$(server_log main)

say "one check per address"
expect_field web/127.0.0.2 state up
expect_field web/127.0.0.3 state up
expect_field web/127.0.0.2 template web
expect_field web/127.0.0.2 target 127.0.0.2
expect_field web/127.0.0.2 port "$P"
expect_field web/127.0.0.3 target 127.0.0.3
expect_field explicit template null
hctl --json status >"$T/status.json"
grep -q '"checks":3' "$T/status.json" || bad "status: not 3 checks: $(cat "$T/status.json")"
# The Host header is the owner name.
grep -qx "www.tmpl.test:$P" "$T/tgt/w2/hosts" || bad "w2: no Host: www.tmpl.test:$P"
grep -qx "www.tmpl.test:$P" "$T/tgt/w3/hosts" || bad "w3: no Host: www.tmpl.test:$P"
grep -q '^hadnsd: info: check web/127.0.0.2: added from template web (www.tmpl.test. A)$' "$LOG" ||
    bad "no 'check web/127.0.0.2: added from template web' log line"
grep -q '^hadnsd: warning: check template nomail: mail.tmpl.test. has no AAAA records; no checks$' "$LOG" ||
    bad "no 'check template nomail: ... has no AAAA records' warning"

say "each address is its own target"
target_mode w3 503
wait_state web/127.0.0.3 down
expect_transition web/127.0.0.3 down 2
expect_field web/127.0.0.2 state up
hctl force web/127.0.0.2 down >/dev/null || bad "force web/127.0.0.2 down: exit $?"
probes2=$(ctl field web/127.0.0.2 counters.probes)

say "a reload drops 127.0.0.3 and adds 127.0.0.4"
zone 2 127.0.0.2 127.0.0.4
hctl --json reload >"$T/reload.json" || bad "hadnsctl reload: exit $?"
hpy - "$T/reload.json" <<'EOF' || bad "reload reply: $(cat "$T/reload.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True, r
assert r["zones"]["reloaded"] == ["tmpl.test"], r
assert r["checks"]["added"] == ["web/127.0.0.4"], r
assert r["checks"]["removed"] == ["web/127.0.0.3"], r
EOF
expect_field web/127.0.0.3 state "<no check>"
expect_field web/127.0.0.2 forced down
expect_field web/127.0.0.2 state down
expect_field web/127.0.0.2 probed up
p=$(ctl field web/127.0.0.2 counters.probes)
[ "$p" -ge "$probes2" ] || bad "web/127.0.0.2: probes went from $probes2 to $p: its counters were reset"
# The new address has no target: it starts in its declared state (up) and falls.
wait_state web/127.0.0.4 down
case $(ctl field web/127.0.0.4 history) in
--D*) ;; # its first two results
*) bad "web/127.0.0.4: history $(ctl field web/127.0.0.4 history), expected --D..." ;;
esac
expect_field web/127.0.0.4 last_error "connection refused"
grep -q '^hadnsd: info: check web/127.0.0.3: removed: the address left www.tmpl.test.$' "$LOG" ||
    bad "no 'check web/127.0.0.3: removed' log line"
hctl reload >"$T/reload.txt" || bad "reload: exit $?"
grep -q 'checks' "$T/reload.txt" && bad "an unchanged zone added or removed checks: $(cat "$T/reload.txt")"

say "the override survives; auto returns to the probes"
hctl force web/127.0.0.2 auto >/dev/null || bad "force auto: exit $?"
expect_field web/127.0.0.2 state up

say "SIGHUP reconciles too"
zone 3 127.0.0.2 127.0.0.3 127.0.0.4
n=$(log_count main 'hadnsd: notice: reload: ')
signal_server main HUP
wait_log main 'hadnsd: notice: reload: ' $((n + 1))
ctl wait web/127.0.0.3 state down >/dev/null || bad "web/127.0.0.3 did not come back (down: w3 answers 503)"
target_mode w3 ok
wait_state web/127.0.0.3 up

say "a broken zone keeps the checks"
printf 'www A 127.0.0.300\n' >>"$Z/tmpl.test.zone"
hctl reload >/dev/null 2>&1 && bad "a broken zone reloaded"
expect_field web/127.0.0.3 state up
expect_field web/127.0.0.4 state down

say "the RRset goes away"
zone 4
hctl --json reload >"$T/reload.json" || bad "reload: exit $?"
hpy - "$T/reload.json" <<'EOF' || bad "reload reply: $(cat "$T/reload.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert sorted(r["checks"]["removed"]) == ["web/127.0.0.2", "web/127.0.0.3", "web/127.0.0.4"], r
EOF
expect_field explicit state up
hctl --json status | grep -q '"checks":1' || bad "status: not 1 check left"

stop_server main
finish
