#!/bin/sh
# SPDX-License-Identifier: MIT
# 100_health_conf: the "control", "health", "checks" and "check_templates" keys are validated
# at start: unknown keys, bad URLs, bad thresholds, keys that do not fit the check's type,
# templates naming zones that are not served... each refuses to start with the JSON path of
# the key. A complete, valid config passes --check-config.
. "$(dirname "$0")/../lib.sh"

C=$T/conf
mkdir -p "$C/zones"
OUT=$T/out
cat >"$C/zones/tmpl.test.zone" <<'EOF'
$ORIGIN tmpl.test.
$TTL 300
@   SOA ns1 hostmaster 1 7200 3600 1209600 60
    NS  ns1
ns1 A   192.0.2.53
www A   192.0.2.10
EOF
printf 'not a certificate\n' >"$C/ca.pem"

# config NAME EXTRA-KEYS: $C/NAME.json with one zone and the extra top-level keys.
config() {
    cat >"$C/$1.json" <<EOF
{
    "listen": ["127.0.0.1:0"],
    "zone_dir": "zones",
    "zones": [ { "name": "tmpl.test" } ],
    $2
}
EOF
}

# refused NAME EXTRA-KEYS MESSAGE: --check-config exits 1 naming the key (MESSAGE is a fixed
# string after "config: PATH: ").
refused() {
    config "$1" "$2"
    "$HADNSD" --check-config -c "$C/$1.json" >"$OUT" 2>&1
    rc=$?
    [ "$rc" -eq 1 ] || bad "$1: exit status $rc, expected 1: $(cat "$OUT")"
    grep -q -F -- "config: $C/$1.json: $3" "$OUT" ||
        bad "$1: expected 'config: $C/$1.json: $3', got: $(cat "$OUT")"
}

CHK='"name": "c", "type": "http", "target": "192.0.2.10"'
TPL='"name": "t", "zone": "tmpl.test", "owner": "www", "type": "A"'

say "checks"
refused unknown "\"checks\": [ { $CHK, \"bogus\": 1 } ]" 'checks[0].bogus: unknown key'
refused second "\"checks\": [ { $CHK }, { $CHK, \"intervall\": 3 } ]" 'checks[1].intervall: unknown key'
refused notarray '"checks": { "name": "c" }' 'checks: must be an array of check objects'
refused notobj '"checks": [ 3 ]' 'checks[0]: must be an object'
refused noname '"checks": [ { "type": "tcp", "target": "192.0.2.1", "port": 1 } ]' 'checks[0].name: missing (required)'
refused badname '"checks": [ { "name": "a/b", "type": "tcp", "target": "192.0.2.1", "port": 1 } ]' "checks[0].name: must be 1 to 64 letters, digits, '.', '_' or '-'"
refused dupname "\"checks\": [ { $CHK }, { $CHK } ]" 'checks[1].name: check c is already defined in checks[0]'
refused notype '"checks": [ { "name": "c", "target": "192.0.2.1" } ]' 'checks[0].type: missing (required unless "url" gives it)'
refused badtype '"checks": [ { "name": "c", "type": "icmp", "target": "192.0.2.1" } ]' 'checks[0].type: must be one of http, https, tcp, dns'
refused notarget '"checks": [ { "name": "c", "type": "http" } ]' 'checks[0].target: missing'
refused hostname '"checks": [ { "name": "c", "type": "http", "target": "www.example.com" } ]' "checks[0].target: 'www.example.com' is not an IPv4 or IPv6 address (host names are not resolved)"
refused tcpport '"checks": [ { "name": "c", "type": "tcp", "target": "192.0.2.1" } ]' 'checks[0].port: missing (required for tcp checks)'
refused port0 "\"checks\": [ { $CHK, \"port\": 0 } ]" 'checks[0].port: must be an integer from 1 to 65535'

say "URLs"
refused ftp '"checks": [ { "name": "c", "url": "ftp://192.0.2.1/" } ]' "checks[0].url: 'ftp://192.0.2.1/' is not an http:// or https:// URL"
refused urlport '"checks": [ { "name": "c", "url": "http://192.0.2.1:99999/" } ]' "checks[0].url: 'http://192.0.2.1:99999/': bad port"
refused urlspace '"checks": [ { "name": "c", "url": "http://192.0.2.1/a b" } ]' "checks[0].url: 'http://192.0.2.1/a b': bad path"
refused urluser '"checks": [ { "name": "c", "url": "http://u@192.0.2.1/" } ]' "checks[0].url: 'http://u@192.0.2.1/': bad host part"
refused urlhost '"checks": [ { "name": "c", "url": "http://www.example.com/" } ]' 'checks[0].target: missing (the address to probe; required unless "url" names an address)'
refused urltype '"checks": [ { "name": "c", "type": "https", "url": "http://192.0.2.1/" } ]' 'checks[0].url: the URL'"'"'s scheme does not match "type": https'
refused urltcp '"checks": [ { "name": "c", "type": "tcp", "port": 1, "target": "192.0.2.1", "url": "http://192.0.2.1/" } ]' 'checks[0].url: only for http and https checks, this one is tcp'
refused path "\"checks\": [ { $CHK, \"path\": \"healthz\" } ]" "checks[0].path: must start with '/'"
refused crlfhost "\"checks\": [ { $CHK, \"host\": \"a\\r\\nX: y\" } ]" "checks[0].host: must be a host name or an address"
refused method "\"checks\": [ { $CHK, \"method\": \"get\" } ]" 'checks[0].method: must be an HTTP method in capitals'
refused headbody "\"checks\": [ { $CHK, \"method\": \"HEAD\", \"body\": \"ok\" } ]" 'checks[0].body: a HEAD request has no body to search'

say "thresholds and timing"
refused rise0 "\"checks\": [ { $CHK, \"rise\": 0 } ]" 'checks[0].rise: must be an integer from 1 to 100'
refused fall101 "\"checks\": [ { $CHK, \"fall\": 101 } ]" 'checks[0].fall: must be an integer from 1 to 100'
refused fallstr "\"checks\": [ { $CHK, \"fall\": \"3\" } ]" 'checks[0].fall: must be an integer from 1 to 100'
refused interval0 "\"checks\": [ { $CHK, \"interval\": 0 } ]" 'checks[0].interval: must be a number of seconds from 0.1 to 3600'
refused timeout "\"checks\": [ { $CHK, \"interval\": 2, \"timeout\": 3 } ]" 'checks[0].timeout: must not exceed the interval (2 s)'
refused initial "\"checks\": [ { $CHK, \"initial\": \"unknown\" } ]" 'checks[0].initial: must be "up" or "down"'

say "keys that do not fit the type"
refused tcpbody '"checks": [ { "name": "c", "type": "tcp", "target": "192.0.2.1", "port": 1, "body": "x" } ]' 'checks[0].body: only for http and https checks, this one is tcp'
refused httpverify "\"checks\": [ { $CHK, \"tls_verify\": false } ]" 'checks[0].tls_verify: only for https checks, this one is http'
refused tcpreuse '"checks": [ { "name": "c", "type": "tcp", "target": "192.0.2.1", "port": 1, "reuse_connection": true } ]' 'checks[0].reuse_connection: only for http and https checks, this one is tcp'
refused reusestr "\"checks\": [ { $CHK, \"reuse_connection\": \"yes\" } ]" 'checks[0].reuse_connection: must be true or false'
refused treuse "\"check_templates\": [ { $TPL, \"check\": { \"type\": \"dns\", \"query\": \"tmpl.test\", \"reuse_connection\": false } } ]" 'check_templates[0].check.reuse_connection: only for http and https checks, this one is dns'
refused expect "\"checks\": [ { $CHK, \"expect\": [200, 700] } ]" 'checks[0].expect[1]: must be an HTTP status code from 100 to 599'
refused expect0 "\"checks\": [ { $CHK, \"expect\": [] } ]" 'checks[0].expect: must be an array of 1 to 32 HTTP status codes'
refused verifystr '"checks": [ { "name": "c", "type": "https", "target": "192.0.2.1", "tls_verify": "no" } ]' 'checks[0].tls_verify: must be true or false'
refused ca '"checks": [ { "name": "c", "type": "https", "target": "192.0.2.1", "tls_ca": "nonexistent.pem" } ]' "checks[0].tls_ca: cannot read $C/nonexistent.pem: No such file or directory"
refused dnsquery '"checks": [ { "name": "c", "type": "dns", "target": "192.0.2.1" } ]' 'checks[0].query: missing (the name a dns check asks for)'
refused qtype '"checks": [ { "name": "c", "type": "dns", "target": "192.0.2.1", "query": "tmpl.test", "qtype": "BOGUS" } ]' 'checks[0].qtype: must be a record type'
refused qname '"checks": [ { "name": "c", "type": "dns", "target": "192.0.2.1", "query": "a..b" } ]' "checks[0].query: 'a..b' is not a valid domain name"

say "templates"
refused tzone "\"check_templates\": [ { \"name\": \"t\", \"zone\": \"other.test\", \"owner\": \"www\", \"type\": \"A\", \"check\": { \"type\": \"http\" } } ]" 'check_templates[0].zone: zone other.test is not in "zones"'
refused towner "\"check_templates\": [ { \"name\": \"t\", \"zone\": \"tmpl.test\", \"owner\": \"www.other.test.\", \"type\": \"A\", \"check\": { \"type\": \"http\" } } ]" "check_templates[0].owner: 'www.other.test.' is not a name in zone tmpl.test"
refused ttype "\"check_templates\": [ { \"name\": \"t\", \"zone\": \"tmpl.test\", \"owner\": \"www\", \"type\": \"CNAME\", \"check\": { \"type\": \"http\" } } ]" 'check_templates[0].type: must be A or AAAA'
refused tname "\"check_templates\": [ { $TPL, \"check\": { \"type\": \"http\", \"name\": \"x\" } } ]" "check_templates[0].check.name: not allowed in a template's check"
refused ttarget "\"check_templates\": [ { $TPL, \"check\": { \"type\": \"http\", \"target\": \"192.0.2.1\" } } ]" "check_templates[0].check.target: not allowed in a template's check"
refused tcheck "\"check_templates\": [ { $TPL } ]" 'check_templates[0].check: missing (required)'
refused tfall "\"check_templates\": [ { $TPL, \"check\": { \"type\": \"tcp\", \"port\": 80, \"fall\": 0 } } ]" 'check_templates[0].check.fall: must be an integer from 1 to 100'
refused tunknown "\"check_templates\": [ { $TPL, \"chek\": {} } ]" 'check_templates[0].chek: unknown key'
refused tdup "\"check_templates\": [ { $TPL, \"check\": { \"type\": \"http\" } }, { $TPL, \"check\": { \"type\": \"http\" } } ]" 'check_templates[1].name: template t is already defined'

say "control and health"
refused csock '"control": { "mode": "0600" }' 'control.socket: missing (required)'
refused cmode '"control": { "socket": "c.sock", "mode": "600x" }' 'control.mode: must be an octal string such as "0600"'
refused cmodeint '"control": { "socket": "c.sock", "mode": 384 }' 'control.mode: must be an octal string'
refused ckey '"control": { "socket": "c.sock", "user": "x" }' 'control.user: unknown key'
refused clong "\"control\": { \"socket\": \"$(printf 'x%.0s' $(seq 1 120))\" }" 'control.socket: '
refused hstart '"health": { "startup": "later" }' 'health.startup: must be "wait" or "initial"'
refused hkey '"health": { "startups": "wait" }' 'health.startups: unknown key'
refused hprio '"health": { "priority": "high" }' 'health.priority: must be "idle" or "normal"'

say "a config error stops the server from starting, naming the key"
config run "\"checks\": [ { $CHK, \"rise\": 0 } ]"
run_foreground "$C/run.json" "$OUT"
[ "$RC" != running ] || bad "the server started with a bad check"
[ "$RC" = 1 ] || bad "a bad check: exit status $RC, expected 1"
grep -q -F "checks[0].rise: must be an integer from 1 to 100" "$OUT" || bad "no checks[0].rise error: $(cat "$OUT")"

say "a complete config passes"
config good "\"control\": { \"socket\": \"run/ctl.sock\", \"mode\": \"0660\" },
    \"health\": { \"startup\": \"initial\", \"priority\": \"normal\" },
    \"checks\": [
        { \"name\": \"web1\", \"type\": \"https\", \"target\": \"192.0.2.10\", \"port\": 8443,
          \"path\": \"/healthz?full=1\", \"host\": \"www.tmpl.test\", \"expect\": [200, 204],
          \"body\": \"ok\", \"tls_verify\": false, \"interval\": 5, \"timeout\": 2, \"rise\": 2,
          \"fall\": 3, \"initial\": \"down\" },
        { \"name\": \"web2\", \"url\": \"https://[2001:db8::10]:8443/healthz\" },
        { \"name\": \"web3\", \"url\": \"http://www.tmpl.test/\", \"target\": \"192.0.2.11\",
          \"reuse_connection\": false },
        { \"name\": \"web4\", \"type\": \"https\", \"target\": \"192.0.2.12\", \"tls_ca\": \"ca.pem\" },
        { \"name\": \"smtp\", \"type\": \"tcp\", \"target\": \"2001:db8::25\", \"port\": 25 },
        { \"name\": \"ns\", \"type\": \"dns\", \"target\": \"192.0.2.53\", \"query\": \"tmpl.test\",
          \"qtype\": \"soa\", \"interval\": 0.5 }
    ],
    \"check_templates\": [
        { \"name\": \"web\", \"zone\": \"tmpl.test.\", \"owner\": \"www\", \"type\": \"A\",
          \"check\": { \"type\": \"http\", \"port\": 80, \"path\": \"/healthz\", \"rise\": 1,
                     \"reuse_connection\": true } },
        { \"name\": \"apex\", \"zone\": \"tmpl.test\", \"owner\": \"@\", \"type\": \"aaaa\",
          \"check\": { \"url\": \"https://tmpl.test/\" } }
    ]"
"$HADNSD" --check-config -c "$C/good.json" >"$OUT" 2>&1 || bad "the complete config was refused: $(cat "$OUT")"
grep -q 'configuration and 1 zones OK' "$OUT" || bad "no OK line: $(cat "$OUT")"

finish
