#!/bin/sh
# SPDX-License-Identifier: MIT
# 130_health_https: HTTPS checks against a local target with a self-signed certificate for
# www.test.example (made with the openssl CLI): verification on by default (fails against the
# system store), off per check (passes), against the certificate as CA file (passes; a wrong
# host name fails), status and body checked through TLS, plain HTTP to the TLS port, and a
# target that goes away and comes back, with exact fall/rise counts.
. "$(dirname "$0")/../lib.sh"
. "$LIBDIR/100_health_lib/health.sh"

make_cert
target_start tls https
P=$TPORT

# check NAME EXTRA: one https check on the target, interval 0.5 s, rise 2, fall 2.
check() {
    printf '{ "name": "%s", "type": "https", "target": "127.0.0.1", "port": %s, "interval": 0.5, "timeout": 0.5, "rise": 2, "fall": 2%s }' \
        "$1" "$P" "$2"
}
cat >"$T/hadnsd.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "workers": 1,
    "zones": [],
    "control": { "socket": "ctl.sock" },
    "checks": [
        $(check noverify ', "host": "www.test.example", "tls_verify": false, "body": "status: ok"'),
        $(check sysstore ', "host": "www.test.example"'),
        $(check ca ', "host": "www.test.example", "tls_ca": "cert.pem", "path": "/healthz", "body": "status: ok"'),
        $(check wrongname ', "host": "other.test.example", "tls_ca": "cert.pem"'),
        $(check byip ', "tls_ca": "cert.pem"'),
        { "name": "plain", "type": "http", "target": "127.0.0.1", "port": $P,
          "interval": 0.5, "timeout": 0.5, "rise": 1, "fall": 1 }
    ]
}
EOF
start_server main "$T/hadnsd.json"
LOG=$(server_log main)

say "verification"
expect_field noverify state up
expect_field ca state up
expect_field ca last_error ""
expect_field sysstore state down
got=$(ctl field sysstore last_error)
case $got in
"TLS error: certificate verify failed: self-signed certificate" | "TLS error: certificate verify failed: self signed certificate") ;;
*) bad "sysstore: last_error '$got', expected a self-signed certificate failure" ;;
esac
expect_field wrongname state down
expect_field wrongname last_error "TLS error: certificate verify failed: hostname mismatch"
# No host: the certificate must name the address (it does not: IP address mismatch).
expect_field byip state down
expect_field byip last_error "TLS error: certificate verify failed: IP address mismatch"
expect_field plain state down
# The SNI carried the configured host name: the Host header of verified requests too.
grep -qx "www.test.example:$P" "$T/tgt/tls/hosts" || bad "no Host: www.test.example:$P"

say "status and body through TLS"
target_mode tls 503
wait_state ca down
expect_transition ca down 2
expect_field ca last_error "status 503"
target_mode tls body
wait_state ca down
target_mode tls ok
wait_state ca up
expect_transition ca up 2
target_mode tls body
wait_state ca down
expect_field ca last_error "body mismatch (status 200)"
target_mode tls ok
wait_state ca up

say "the target goes away and comes back"
target_mode tls stop
wait_state ca down
expect_transition ca down 2
wait_field ca last_error "connection refused"
wait_state noverify down
target_mode tls ok
wait_state ca up
expect_transition ca up 2
wait_state noverify up
expect_field sysstore state down

say "a target that accepts and never speaks TLS"
target_mode tls hang
wait_state ca down
expect_field ca last_error "timeout after 0.5 s"
target_mode tls ok
wait_state ca up

grep -Eq '^hadnsd: info: check ca: state up -> down \(2/2 failed: connection (refused|reset by peer)\)$' "$LOG" ||
    bad "no 'check ca: state up -> down (2/2 failed: connection refused)' log line"
stop_server main
finish
