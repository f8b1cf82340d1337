#!/bin/sh
# SPDX-License-Identifier: MIT
# 060_malformed: malformed, odd and random queries (raw UDP and TCP from malformed.py):
# FORMERR / NOTIMP / no reply as due, never a crash; the server still answers afterwards and
# exits 0 on SIGTERM (under the sanitizer build: no error report, no leak).
. "$(dirname "$0")/../lib.sh"
need_python

cat >"$T/hadnsd.json" <<EOF2
{
    "listen": ["127.0.0.1:0"],
    "workers": 2,
    "zone_dir": $(json_str "$top_srcdir/zones"),
    "zones": [ { "name": "example.com", "file": "example.com.zone" } ]
}
EOF2
start_server main "$T/hadnsd.json"

"$PY" "$TESTDIR/malformed.py" "$PORT" >"$T/malformed.out" 2>&1
rc=$?
grep -v '^ok: ' "$T/malformed.out"
say "$(grep -c '^ok: ' "$T/malformed.out") checks passed in malformed.py"
[ $rc -eq 0 ] || bad "malformed.py: $(grep -c '^FAIL' "$T/malformed.out") failure(s) (status $rc)"

server_alive main
for tr in "" --tcp; do
    q $tr www.example.com A
    expect_rcode NOERROR
    expect_flags qr aa
    expect_an 'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'
done
stop_server main
finish
