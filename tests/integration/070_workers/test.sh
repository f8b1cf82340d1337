#!/bin/sh
# SPDX-License-Identifier: MIT
# 070_workers: 1, 2, 8 and "0" (one per CPU) worker threads, each with several listeners at
# once (two port-0 listeners on 127.0.0.1, 127.0.0.2 and [::1] when available); every
# listener answers over UDP and TCP, also under a concurrent load spread over them. SIGINT
# stops the server like SIGTERM. worker_cpus and health.cpus pin each thread where they say
# (read back from /proc), and a CPU the kernel refuses stops the start, naming the key.
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

# affinity PID: one "comm cpus" line per thread, cpus as the kernel lists them ("0-1,3").
affinity() {
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(cat "$t/comm")" "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status")"
    done
}

# The CPUs this test may use (a cgroup or taskset may hold fewer than the machine has).
cpus=$("$PY" -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
first=${cpus%% *}
last=${cpus##* }
w1=
[ "$first" = "$last" ] || w1=", $first"
say "pinning: worker 0 on CPU $last, worker 1 on CPU $first, the health thread on CPU $first"
cat >"$T/pin.json" <<EOF
{
    "listen": ["127.0.0.1:0", "127.0.0.1:0"],
    "workers": 2,
    "worker_cpus": [$last$w1],
    "health": {"startup": "initial", "cpus": [$first]},
    "checks": [{"name": "c", "type": "tcp", "target": "127.0.0.1", "port": 1,
                "interval": 60, "initial": "up"}],
    "zone_dir": $(json_str "$top_srcdir/zones"),
    "zones": [ { "name": "example.com", "file": "example.com.zone" } ]
}
EOF
start_server pin "$T/pin.json"
affinity "$(server_pid pin)" >"$T/aff"
# want THREAD CPUS: the thread exists and may run on exactly CPUS.
want() {
    got=$(awk -v n="$1" '$1 == n { print $2 }' "$T/aff")
    [ "$got" = "$2" ] || bad "thread $1: CPUs '$got', expected '$2' (threads: $(tr '\n' ';' <"$T/aff"))"
}
want hadnsd-w0 "$last"
want hadnsd-w1 "$first"
want hadnsd-health "$first"
# The UDP readers, when the build has them (blocking recvmmsg), follow their worker.
if grep -q '^hadnsd-u' "$T/aff"; then
    want hadnsd-u0.0 "$last"
    want hadnsd-u0.1 "$last"
    want hadnsd-u1.1 "$first"
fi
q -p "$(server_port pin)" www.example.com A
expect_rcode NOERROR
stop_server pin

# A CPU outside the process's cpuset (as in a container) cannot take a thread: the start fails
# naming the key. The test makes such a cpuset, as a child cgroup holding only $first, when it
# can (root, a cpuset hierarchy, two CPUs); taskset alone would not do: pinning may leave it.
cg=
for root in /sys/fs/cgroup/cpuset /sys/fs/cgroup; do
    [ -w "$root" ] && { [ -e "$root/cpuset.cpus" ] || [ -e "$root/cpuset.cpus.effective" ]; } ||
        continue
    cg=$root/hadnsd-test-$$
    if mkdir "$cg" 2>/dev/null && echo "$first" >"$cg/cpuset.cpus" 2>/dev/null &&
        { [ ! -e "$cg/cpuset.mems" ] || cat "$root/cpuset.mems" "$root/cpuset.mems.effective" 2>/dev/null |
            head -n 1 >"$cg/cpuset.mems"; }; then
        break
    fi
    rmdir "$cg" 2>/dev/null
    cg=
done
if [ -z "$cg" ] || [ "$first" = "$last" ]; then
    say "SKIP (part): no cpuset cgroup can be made here (or one CPU only): a refused CPU is untested"
else
    for key in worker_cpus health; do
        if [ $key = worker_cpus ]; then
            sed "s/\"worker_cpus\": \[[^]]*\]/\"worker_cpus\": [$last]/" "$T/pin.json" >"$T/refused.json"
            want_err="worker_cpus: worker 0 cannot start on CPU $last: the CPU is offline or outside"
        else
            sed -e "/worker_cpus/d" -e "s/\"cpus\": \[[^]]*\]/\"cpus\": [$last]/" "$T/pin.json" >"$T/refused.json"
            want_err="health.cpus: cannot start the health thread on CPUs $last: the CPU is offline"
        fi
        # A server that starts regardless is stopped by timeout (status 124).
        # shellcheck disable=SC2016 # $$ is the inner shell's
        timeout 10 sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" -c "$3"' sh "$cg" "$HADNSD" \
            "$T/refused.json" >"$T/refused.out" 2>&1
        rc=$?
        [ $rc = 1 ] && grep -q -F "$want_err" "$T/refused.out" ||
            bad "$key on CPU $last, outside the cpuset: exit $rc, expected 1 naming the key: $(cat "$T/refused.out")"
    done
    say "a CPU outside the cpuset ($cg holds CPU $first): worker_cpus and health.cpus refused"
    rmdir "$cg" || say "could not remove the test cgroup $cg"
fi

finish
