#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""health_scale.py: does the health thread keep up with 10,000 checks at a 1 s interval, and
what does it do to query latency? Run it through contrib/bench/health_scale.sh (which builds
the target); Python standard library only.

Each round starts hadnsd twice on the demo zone, once without checks ("base") and once with
N checks ("checks") against a few loopback listeners (127.0.1.1..K, one port: the small epoll
server health_scale_target.c), and runs dnsperf at a fixed rate against it, recording every
query's latency (dnsperf -v). Reported per mode, as the median over the rounds:

  - query latency p50 / p99 / p99.9 and lost queries, as dnsperf sees it;
  - the server-side latency p50 / p99 / p99.9: from the query's to the answer's timestamp on
    the loopback interface (tcpdump, kernel timestamps taken as dnsperf sends the query and as
    hadnsd sends the answer). dnsperf's own figure also holds the delay before dnsperf reads
    the answer, on the client core, where the target runs too (it stands in for machines
    elsewhere); this one holds only hadnsd's side;
  - the health thread's CPU (utime+stime of the thread named "hadnsd-health", from
    /proc/PID/task/*/stat) over the dnsperf run, in % of one core;
  - probes completed per second over the run, against N / interval (does it keep up?), and
    how many checks are up;
  - TCP connections opened per second over the run (the kernel's ActiveOpens, machine-wide):
    about one per probe without connection reuse, about none with it.

HTTP checks reuse their connection (hadnsd's "reuse_connection", the default); --no-reuse
turns it off, which is the behaviour before it existed: a connection per probe.

hadnsd is pinned to --server-core (its workers, main and health threads share it: the worst
case for interference), dnsperf and the target to --client-core.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")

QUERIES = [("www.example.com", "A"), ("www.example.com", "AAAA"), ("api.example.com", "A"),
           ("example.com", "MX"), ("example.com", "SOA"), ("mail1.example.com", "A"),
           ("nonexistent.example.com", "A"), ("blog.apps.example.com", "A"),
           ("x.apps.example.com", "TXT"), ("_sip._tcp.example.com", "SRV")]


def log(msg):
    print("health_scale: " + msg, file=sys.stderr, flush=True)


def taskset(core):
    return ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []


def thread_cpu(pid, name):
    """utime+stime in seconds of the threads of pid whose comm is name (all threads if None)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
                if name and comm != name:
                    continue
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                continue
    except OSError:
        pass
    return total / CLK_TCK


def ctl(hadnsctl, sock, *args):
    out = subprocess.run([hadnsctl, "-s", sock, "--json", *args], capture_output=True,
                         text=True, timeout=120)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def checks_summary(hadnsctl, sock):
    r = ctl(hadnsctl, sock, "checks")
    cs = r.get("checks", [])
    probes = sum(c["counters"]["probes"] for c in cs)
    up = sum(1 for c in cs if c["state"] == "up")
    errors = {}
    for c in cs:
        if c["last_error"]:
            errors[c["last_error"]] = errors.get(c["last_error"], 0) + 1
    return len(cs), probes, up, errors


def tcp_active_opens():
    """The kernel's count of TCP connections opened by connect() since boot (/proc/net/snmp)."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("ActiveOpens")])
    except (OSError, ValueError, IndexError):
        return 0


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


FOREIGN = ("dnsperf", "nsd", "knotd", "gdnsd", "floor", "resperf", "kdig")


def foreign_load(ours):
    """Names of other benchmarks running now (another session's dnsperf, peers, valgrind):
    a round that overlaps one measures them, not us."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in ours:
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
            # Only the names that can match read further: this runs twice a second beside the
            # measurement.
            if not (comm in FOREIGN or comm.startswith(("valgrind", "python", "hadnsd"))):
                continue
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            # Our own dnsperf between its fork and the moment run_dnsperf records its pid.
            if ppid in ours:
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if comm in FOREIGN or comm.startswith("valgrind") or "bench.py" in cmd or \
                ("hadnsd" in comm and "health-scale-" not in cmd):
            found.add(comm)
    return found


class Watch:
    """Samples foreign_load() every half second while a round runs."""

    def __init__(self, ours):
        import threading
        self.ours, self.seen, self.stop = ours, set(), False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.seen |= foreign_load(self.ours())
            time.sleep(0.5)

    def end(self):
        self.stop = True
        self.t.join()
        return self.seen


def wait_quiet(ours, limit):
    """Waits (up to limit seconds) for 10 quiet seconds in a row."""
    deadline = time.monotonic() + limit
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if foreign_load(ours()):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 10:
            return True
        time.sleep(0.5)
    return False


def run_dnsperf(args, port, qfile, procs):
    rt = ["chrt", "-f", "1"] if args.client_rt else []
    cmd = taskset(args.client_core) + rt + [
        "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(args.duration),
        "-Q", str(args.rate), "-c", "4", "-T", "1", "-t", "2", "-v"]
    dp = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(dp)
    stdout, _ = dp.communicate(timeout=args.duration + 60)

    class Out:
        pass
    out = Out()
    out.stdout = stdout
    lat = []
    for line in out.stdout.splitlines():
        if line.startswith("> "):
            parts = line.split()
            try:
                lat.append(float(parts[-1]) * 1e6)  # microseconds
            except ValueError:
                pass
    lost = 0
    m = re.search(r"Queries lost:\s+(\d+)", out.stdout)
    if m:
        lost = int(m.group(1))
    sent = 0
    m = re.search(r"Queries sent:\s+(\d+)", out.stdout)
    if m:
        sent = int(m.group(1))
    lat.sort()
    return {"n": len(lat), "sent": sent, "lost": lost, "p50": percentile(lat, 50),
            "p99": percentile(lat, 99), "p999": percentile(lat, 99.9),
            "mean": statistics.fmean(lat) if lat else float("nan")}


def start_capture(args, port, path, procs):
    """tcpdump of the queries to and answers from port on lo, pinned to the client core (it
    is the observer, not the server), nanosecond kernel timestamps, 80 bytes a packet."""
    cmd = taskset(args.client_core) + ["tcpdump", "-i", "lo", "-n", "-s", "80", "-B", "65536",
                                       "--time-stamp-precision=nano", "-w", path,
                                       "udp and port %d" % port]
    cp = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs.append(cp)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (os.path.exists(path) and
                                               os.path.getsize(path) >= 24):
        if cp.poll() is not None:
            raise SystemExit("tcpdump failed: " + cp.stderr.read())
        time.sleep(0.05)
    time.sleep(0.5)  # the filter is attached before the file header is written; be sure
    return cp


def stop_capture(cp):
    cp.send_signal(signal.SIGINT)
    _, err = cp.communicate(timeout=30)
    m = re.search(r"(\d+) packets? dropped by kernel", err)
    return int(m.group(1)) if m else 0


def capture_latency(path, port):
    """Per query: the answer's timestamp less the query's, matched by client port and DNS id,
    in microseconds, from a pcap of lo (Ethernet framing, IPv4 UDP)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xa1b23c4d, 0xa1b2c3d4):
        raise SystemExit("%s: not a little-endian pcap file" % path)
    div = 1e3 if magic == 0xa1b23c4d else 1.0  # to microseconds
    sent, lat = {}, []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 + 8 + 2 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 15) * 4
        sport, dport = struct.unpack_from(">HH", pkt, 14 + ihl)
        qid = pkt[14 + ihl + 8:14 + ihl + 10]
        t = sec * 1e6 + frac / div
        if dport == port:
            sent[(sport, qid)] = t
        elif sport == port:
            t0 = sent.pop((dport, qid), None)
            if t0 is not None:
                lat.append(t - t0)
    lat.sort()
    return lat


def start_server(args, cfg, logpath):
    logf = open(logpath, "w")
    p = subprocess.Popen(taskset(args.server_core) + [args.hadnsd, "-c", cfg], stdout=logf,
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    port = None
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise SystemExit("hadnsd exited: " + open(logpath).read()[-2000:])
        text = open(logpath).read()
        if " ready: " in text:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(udp\+tcp\)", text)
            port = int(m.group(1))
            break
        time.sleep(0.1)
    if port is None:
        p.kill()
        raise SystemExit("hadnsd not ready: " + open(logpath).read()[-2000:])
    return p, port


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"),
                    help="build directory with src/hadnsd and src/hadnsctl (default: build/)")
    ap.add_argument("--target", required=True, help="the compiled health_scale_target")
    ap.add_argument("--checks", type=int, default=10000)
    ap.add_argument("--kind", choices=("http", "tcp"), default="http")
    ap.add_argument("--no-reuse", action="store_true",
                    help="http checks with \"reuse_connection\": false (a connection per probe)")
    ap.add_argument("--listeners", type=int, default=16,
                    help="loopback addresses 127.0.1.1..N the checks are spread over")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--rate", type=int, default=10000, help="dnsperf queries per second")
    ap.add_argument("--duration", type=int, default=20, help="seconds of dnsperf per run")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="seconds between ready and dnsperf (checks settle)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--server-core", type=int, default=1)
    ap.add_argument("--client-core", type=int, default=0)
    ap.add_argument("--target-core", type=int, default=None,
                    help="core of the target (default: the client core)")
    ap.add_argument("--health-core", type=int, default=None,
                    help="run hadnsd's health thread on this core (\"health\": {\"cpus\": [C]}; "
                         "default: it stays with the rest of hadnsd on --server-core)")
    ap.add_argument("--client-rt", action="store_true",
                    help="run dnsperf at SCHED_FIFO 1, so that nothing else on its core (the "
                         "target, a health thread moved there) delays it but the kernel itself")
    ap.add_argument("--no-capture", dest="capture", action="store_false",
                    help="no server-side latency (it needs tcpdump and root)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--max-tries", type=int, default=5,
                    help="runs of a round that overlapped another benchmark are repeated "
                         "up to this many times (then kept, marked noisy)")
    ap.add_argument("--quiet-wait", type=int, default=600,
                    help="seconds to wait for other benchmarks to finish before a run")
    args = ap.parse_args()
    args.hadnsd = os.path.join(args.build, "src", "hadnsd")
    hadnsctl = os.path.join(args.build, "src", "hadnsctl")
    for tool in (args.hadnsd, hadnsctl, args.target):
        if not os.access(tool, os.X_OK):
            raise SystemExit("%s is not built" % tool)
    if not shutil.which("dnsperf"):
        raise SystemExit("dnsperf not found (Debian: apt-get install dnsperf)")
    if args.capture and not shutil.which("tcpdump"):
        log("tcpdump not found (Debian: apt-get install tcpdump): no server-side latency")
        args.capture = False
    if os.cpu_count() and os.cpu_count() < 2:
        args.server_core = args.client_core = None
    # This script too (the watch thread, the control-socket summaries) stays off the server's
    # core: unpinned, the scheduler puts it there as often as not, and its bursts show up in
    # the server's latency tail in base and checks runs alike.
    if args.client_core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_core})

    tmp = tempfile.mkdtemp(prefix="health-scale-")
    procs = []

    def cleanup(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        addrs = ["127.0.1.%d" % (i + 1) for i in range(args.listeners)]
        # The endpoints stand in for machines elsewhere: on this box they run at idle
        # priority, so that their CPU does not show up as dnsperf's (client-side) latency.
        idle = ["chrt", "--idle", "0"] if shutil.which("chrt") else ["nice", "-n", "19"]
        tcore = args.client_core if args.target_core is None else args.target_core
        tp = subprocess.Popen(taskset(tcore) + idle + [args.target, "0"] + addrs,
                              stdout=subprocess.PIPE, text=True)
        procs.append(tp)
        line = tp.stdout.readline()
        tport = int(line.split()[1])
        log("target: %d listeners on 127.0.1.1-%d port %d" % (len(addrs), len(addrs), tport))

        shutil.copy(os.path.join(TOP, "zones", "example.com.zone"), tmp)
        qfile = os.path.join(tmp, "queries")
        with open(qfile, "w") as f:
            for name, t in QUERIES:
                f.write("%s %s\n" % (name, t))
        base = {"listen": ["127.0.0.1:0"], "workers": args.workers, "log_level": "notice",
                "zones": [{"name": "example.com", "file": "example.com.zone"}],
                "control": {"socket": "ctl.sock"}}
        checks = dict(base)
        checks["health"] = {"startup": "initial"}
        if args.health_core is not None:
            checks["health"]["cpus"] = [args.health_core]
        checks["checks"] = [{"name": "c%d" % i, "type": args.kind,
                             "target": addrs[i % len(addrs)], "port": tport,
                             "interval": args.interval, "timeout": args.timeout,
                             "rise": 2, "fall": 3, **({"path": "/healthz"}
                                                      if args.kind == "http" else {}),
                             **({"reuse_connection": False} if args.no_reuse and
                                args.kind == "http" else {})}
                            for i in range(args.checks)]
        cfgs = {}
        for mode, cfg in (("base", base), ("checks", checks)):
            cfgs[mode] = os.path.join(tmp, mode + ".json")
            with open(cfgs[mode], "w") as f:
                json.dump(cfg, f)
        sock = os.path.join(tmp, "ctl.sock")

        def ours():
            return {os.getpid()} | {p.pid for p in procs}

        results = {"base": [], "checks": []}
        for rnd in range(args.rounds):
            for mode in ("base", "checks"):
                for attempt in range(args.max_tries):
                    if not wait_quiet(ours, args.quiet_wait):
                        log("other benchmarks keep running; measuring anyway")
                    p, port = start_server(args, cfgs[mode], os.path.join(tmp, "%s.log" % mode))
                    procs.append(p)
                    time.sleep(args.warmup)
                    r = {}
                    if mode == "checks":
                        ta = time.monotonic()
                        _, probes0, _, _ = checks_summary(hadnsctl, sock)
                        mid0 = (ta + time.monotonic()) / 2
                    h0 = thread_cpu(p.pid, "hadnsd-health")
                    all0 = thread_cpu(p.pid, None)
                    opens0 = tcp_active_opens()
                    t0 = time.monotonic()
                    pcap = os.path.join(tmp, "q.pcap")
                    cap = start_capture(args, port, pcap, procs) if args.capture else None
                    watch = Watch(ours)
                    r.update(run_dnsperf(args, port, qfile, procs))
                    elapsed = time.monotonic() - t0
                    noise = watch.end()
                    if cap:
                        r["cap_dropped"] = stop_capture(cap)
                        lat = capture_latency(pcap, port)
                        os.unlink(pcap)
                        r.update({"srv_n": len(lat), "srv_p50": percentile(lat, 50),
                                  "srv_p99": percentile(lat, 99),
                                  "srv_p999": percentile(lat, 99.9)})
                    r["noisy"] = sorted(noise)
                    r["health_cpu_pct"] = 100.0 * (thread_cpu(p.pid, "hadnsd-health") - h0) / elapsed
                    r["server_cpu_pct"] = 100.0 * (thread_cpu(p.pid, None) - all0) / elapsed
                    r["tcp_opens_per_s"] = (tcp_active_opens() - opens0) / elapsed
                    if mode == "checks":
                        ta = time.monotonic()
                        n, probes1, up, errors = checks_summary(hadnsctl, sock)
                        # Each summary takes a moment (a few MiB of JSON): time it by its middle.
                        span = (ta + time.monotonic()) / 2 - mid0
                        r["probes_per_s"] = (probes1 - probes0) / span
                        r["expected_per_s"] = args.checks / args.interval
                        r["checks"] = n
                        r["up"] = up
                        r["errors"] = errors
                    p.send_signal(signal.SIGTERM)
                    p.wait(60)
                    if noise and attempt + 1 < args.max_tries:
                        log("round %d %s overlapped %s: again" % (rnd + 1, mode, ", ".join(noise)))
                        continue
                    results[mode].append(r)
                    log("round %d %-6s p50 %6.0f us  p99 %6.0f us  p99.9 %6.0f us  lost %d/%d  "
                        "%sserver CPU %5.1f%%  health thread %5.1f%%  TCP opens/s %.0f%s" % (
                            rnd + 1, mode, r["p50"], r["p99"], r["p999"], r["lost"], r["sent"],
                            "server-side p50 %.0f p99 %.0f p99.9 %.0f us (%d, %d dropped)  " % (
                                r["srv_p50"], r["srv_p99"], r["srv_p999"], r["srv_n"],
                                r["cap_dropped"]) if "srv_n" in r else "",
                            r["server_cpu_pct"], r["health_cpu_pct"], r["tcp_opens_per_s"],
                            "  probes/s %.0f of %.0f, %d/%d up %s" % (
                                r["probes_per_s"], r["expected_per_s"], r["up"], r["checks"],
                                r["errors"] or "") if mode == "checks" else ""))
                    break

        def med(mode, key):
            return statistics.median(x[key] for x in results[mode])

        print()
        print("health_scale: %d %s checks%s at %g s (timeout %g s) over %d loopback listeners; "
              "dnsperf %d q/s for %d s, %d rounds; hadnsd %d worker(s) on core %s%s, dnsperf on "
              "core %s, the target on core %s" % (
                  args.checks, args.kind, " without reuse" if args.no_reuse else "",
                  args.interval, args.timeout, args.listeners, args.rate, args.duration,
                  args.rounds, args.workers, args.server_core,
                  "" if args.health_core is None else
                  " (its health thread on core %s)" % args.health_core,
                  args.client_core,
                  args.client_core if args.target_core is None else args.target_core))
        print("%-8s %9s %9s %9s %9s %11s %11s %12s" % ("mode", "p50 us", "p99 us", "p99.9 us",
                                                        "lost", "server CPU", "health CPU",
                                                        "TCP opens/s"))
        for mode in ("base", "checks"):
            print("%-8s %9.0f %9.0f %9.0f %9.0f %10.1f%% %10.1f%% %12.0f" % (
                mode, med(mode, "p50"), med(mode, "p99"), med(mode, "p999"), med(mode, "lost"),
                med(mode, "server_cpu_pct"), med(mode, "health_cpu_pct"),
                med(mode, "tcp_opens_per_s")))
        d = 100.0 * (med("checks", "p99") - med("base", "p99")) / med("base", "p99")
        ratios = sorted(c["p99"] / b["p99"] for b, c in zip(results["base"], results["checks"]))
        print("p99 change with checks: %+.1f %% (target: less than 10 %%); per round, checks/base "
              "%s" % (d, " ".join("%.2f" % x for x in ratios)))
        if args.capture:
            print("server side  %9s %9s %9s" % ("p50 us", "p99 us", "p99.9 us"))
            for mode in ("base", "checks"):
                print("%-12s %9.0f %9.0f %9.0f" % (mode, med(mode, "srv_p50"),
                                                  med(mode, "srv_p99"), med(mode, "srv_p999")))
            d = 100.0 * (med("checks", "srv_p99") - med("base", "srv_p99")) / med("base",
                                                                                   "srv_p99")
            ratios = sorted(c["srv_p99"] / b["srv_p99"]
                            for b, c in zip(results["base"], results["checks"]))
            print("server-side p99 change with checks: %+.1f %%; per round, checks/base %s" % (
                d, " ".join("%.2f" % x for x in ratios)))
        print("probes completed: %.0f/s of %.0f/s due (%.1f %%); checks up: %d of %d" % (
            med("checks", "probes_per_s"), args.checks / args.interval,
            100.0 * med("checks", "probes_per_s") * args.interval / args.checks,
            min(x["up"] for x in results["checks"]), args.checks))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=2)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
