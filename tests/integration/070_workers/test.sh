#!/bin/sh
# SPDX-License-Identifier: MIT
# 070_workers: 1, 2, 8 and "0" (one per CPU) worker threads, each with several listeners at
# once (two port-0 listeners on 127.0.0.1, 127.0.0.2 and [::1] when available); every
# listener answers over UDP and TCP, also under a concurrent load spread over them. SIGINT
# stops the server like SIGTERM.
. "$(dirname "$0")/../lib.sh"
need_python

listen='"127.0.0.1:0", "127.0.0.1:0"'
nl=2
if have_addr 127.0.0.2; then
    listen="$listen, \"127.0.0.2:0\""
    nl=$((nl + 1))
else
    say "SKIP (part): 127.0.0.2 is not usable here"
fi
if have_addr ::1; then
    listen="$listen, \"[::1]:0\""
    nl=$((nl + 1))
else
    say "SKIP (part): ::1 is not available here"
fi

# load ADDR PORT...: concurrent UDP (a window of 64 queries in flight per listener) and TCP
# (pipelined) queries to every listener; prints "ok N" or the problems.
load() {
    "$PY" - "$@" <<'EOF'
import socket, struct, sys, threading
import dns.flags, dns.message
args = sys.argv[1:]
targets = [(args[i], int(args[i + 1])) for i in range(0, len(args), 2)]
problems, counts = [], []
lock = threading.Lock()

def check(wire, qid, what):
    r = dns.message.from_wire(wire)
    addrs = sorted(rd.address for rr in r.answer for rd in rr)
    if r.id != qid or r.rcode() != 0 or not (r.flags & dns.flags.AA) or \
            addrs != ["192.0.2.10", "198.51.100.10"]:
        with lock:
            problems.append("%s: id %d/%d rcode %d answers %s" % (what, r.id, qid, r.rcode(), addrs))

def udp(addr, port, n=400, window=64):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((addr, port))
    s.settimeout(5)
    pending, got, nxt = {}, 0, 0
    try:
        while got < n:
            while nxt < n and len(pending) < window:
                m = dns.message.make_query("www.example.com", "A")
                m.id = nxt
                pending[nxt] = True
                s.send(m.to_wire())
                nxt += 1
            wire = s.recv(65535)
            qid = struct.unpack("!H", wire[:2])[0]
            if pending.pop(qid, None):
                check(wire, qid, "udp %s:%d" % (addr, port))
                got += 1
    except socket.timeout:
        with lock:
            problems.append("udp %s:%d: %d of %d answered" % (addr, port, got, n))
    with lock:
        counts.append(got)

def tcp(addr, port, n=50):
    try:
        with socket.create_connection((addr, port), timeout=5) as s:
            buf = b""
            for i in range(n):
                m = dns.message.make_query("www.example.com", "A")
                m.id = i
                w = m.to_wire()
                buf += struct.pack("!H", len(w)) + w
            s.sendall(buf)
            f = s.makefile("rb")
            for i in range(n):
                (ln,) = struct.unpack("!H", f.read(2))
                wire = f.read(ln)
                check(wire, struct.unpack("!H", wire[:2])[0], "tcp %s:%d" % (addr, port))
            with lock:
                counts.append(n)
    except (OSError, struct.error) as e:
        with lock:
            problems.append("tcp %s:%d: %s" % (addr, port, e))

threads = []
for a, p in targets:
    for _ in range(2):
        threads.append(threading.Thread(target=udp, args=(a, p)))
    for _ in range(3):
        threads.append(threading.Thread(target=tcp, args=(a, p)))
for t in threads:
    t.start()
for t in threads:
    t.join(60)
if problems:
    print("\n".join(problems[:20]))
else:
    print("ok %d" % sum(counts))
EOF
}

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
[ "$ncpu" -gt 256 ] && ncpu=256
for w in 1 2 8 0; do
    cat >"$T/w$w.json" <<EOF
{
    "listen": [$listen],
    "workers": $w,
    "zone_dir": $(json_str "$top_srcdir/zones"),
    "zones": [ { "name": "example.com", "file": "example.com.zone" } ]
}
EOF
    start_server w$w "$T/w$w.json"
    want=$w
    [ "$w" -eq 0 ] && want=$ncpu
    grep -q "ready: 1 zones (0 failed), $want workers\$" "$(server_log w$w)" ||
        bad "workers $w: the ready line does not say '$want workers': $(grep ready "$(server_log w$w)")"
    n=$(wc -l <"$(srv_dir w$w)/ports")
    [ "$n" -eq "$nl" ] || bad "workers $w: $n 'listening on' lines, expected $nl"
    # The two port-0 listeners on 127.0.0.1 got two different ports.
    p1=$(awk 'NR == 1 { print $2 }' "$(srv_dir w$w)/ports")
    p2=$(awk 'NR == 2 { print $2 }' "$(srv_dir w$w)/ports")
    [ "$p1" != "$p2" ] || bad "workers $w: both 127.0.0.1:0 listeners got port $p1"
    targets=
    while read -r addr port; do
        targets="$targets $addr $port"
        for tr in "" --tcp; do
            q -s "$addr" -p "$port" $tr www.example.com A
            expect_rcode NOERROR
            expect_flags qr aa
            expect_an 'www.example.com. 300 IN A 192.0.2.10' 'www.example.com. 300 IN A 198.51.100.10'
            q -s "$addr" -p "$port" $tr nope.example.com A
            expect_rcode NXDOMAIN
        done
    done <"$(srv_dir w$w)/ports"
    # shellcheck disable=SC2086 # one word per address and port
    out=$(load $targets)
    case $out in
    ok\ *) say "workers $w: load over $nl listeners: $out answers" ;;
    *) bad "workers $w: load: $out" ;;
    esac
    server_alive w$w
    # SIGINT stops it as cleanly as SIGTERM (a background job of a non-interactive shell
    # starts with SIGINT ignored: the daemon must install its own handler).
    if [ "$w" -eq 1 ]; then
        stop_server w$w INT
        grep -q 'SIGINT: shutting down' "$(server_log w$w)" || bad "SIGINT: no 'SIGINT: shutting down' line"
    else
        stop_server w$w
    fi
done

finish
