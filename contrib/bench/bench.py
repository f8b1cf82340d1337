#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hadnsd benchmark driver: hadnsd against NSD, Knot and gdnsd, and a do-nothing UDP "floor".

Run it through contrib/bench/run.sh (which installs the peers and compiles floor.c); see
contrib/bench/README.md for what is measured and why.  Python standard library only.

Every server runs pinned to one core (--server-core, default 1) with one worker; dnsperf runs
pinned to the other (--client-core, default 0).  The servers are measured interleaved: per
round, each server in turn is started, checked against a sample of the query mix, measured
(UDP at a fixed rate, UDP unthrottled, TCP at a fixed rate, TCP unthrottled) and stopped.  The
primary figure is server CPU time (utime+stime from /proc/PID/stat, summed over the server's
processes and so over all its threads) per answered query at the fixed rate.
"""

import argparse
import atexit
import datetime
import glob
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import gen  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ZONE = gen.ORIGIN
LOOPBACK = "127.0.0.1"
PEERS = ["nsd", "knot", "gdnsd"]
ALL_SERVERS = ["hadnsd"] + PEERS + ["floor"]
LABEL = {"hadnsd": "hadnsd", "nsd": "NSD", "knot": "Knot", "gdnsd": "gdnsd", "floor": "floor"}


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg):
    log("error: " + msg)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# A minimal DNS client (pre-flight checks, readiness, load mode).

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


def build_query(qid, name, qtype, edns=True):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1 if edns else 0)
    for lab in name.rstrip(".").split("."):
        q += bytes([len(lab)]) + lab.encode()
    q += b"\0" + struct.pack("!HH", QTYPES[qtype], 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return q


def skip_name(m, off):
    while True:
        if off >= len(m):
            raise ValueError("name runs past the message")
        n = m[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse_response(m):
    """Returns dict(id, rcode, aa, tc, qr, an, ns, ar, answers=[(type, rdata)]) or None."""
    if len(m) < 12:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", m[:12])
    r = {"id": qid, "qr": bool(flags & 0x8000), "aa": bool(flags & 0x0400),
         "tc": bool(flags & 0x0200), "rcode": flags & 0xF, "an": an, "ns": ns, "ar": ar,
         "answers": []}
    try:
        off = 12
        for _ in range(qd):
            off = skip_name(m, off) + 4
        for _ in range(an):
            off = skip_name(m, off)
            t, _c, _ttl, rdlen = struct.unpack("!HHIH", m[off:off + 10])
            off += 10
            r["answers"].append((t, m[off:off + rdlen]))
            off += rdlen
    except (ValueError, struct.error):
        pass
    return r


def udp_query(port, name, qtype, timeout=1.0, tries=3, edns=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        for _ in range(tries):
            qid = random.randrange(65536)
            s.sendto(build_query(qid, name, qtype, edns), (LOOPBACK, port))
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    m = s.recv(65535)
                except (socket.timeout, ConnectionRefusedError):
                    break
                r = parse_response(m)
                if r and r["id"] == qid and r["qr"]:
                    return r
        return None
    finally:
        s.close()


def tcp_query(port, name, qtype, timeout=2.0):
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            q = build_query(random.randrange(65536), name, qtype)
            s.sendall(struct.pack("!H", len(q)) + q)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    return None
                buf += chunk
            return parse_response(buf[2:2 + struct.unpack("!H", buf[:2])[0]])
    except OSError:
        return None


RCODE = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def check_answer(r, qtype, cat, server):
    """Returns None when the response fits the query's category, else what is wrong."""
    if r is None:
        return "no answer"
    rc = RCODE.get(r["rcode"], str(r["rcode"]))
    first = r["answers"][0][0] if r["answers"] else None
    want_t = QTYPES[qtype]
    if cat in ("existing", "wildcard"):
        ok = rc == "NOERROR" and r["aa"] and r["an"] >= 1 and first == want_t
    elif cat == "cname":
        # gdnsd does not chase in-zone CNAMEs: its answer is the CNAME alone.
        ok = rc == "NOERROR" and r["aa"] and first == QTYPES["CNAME"] and (
            r["an"] >= 2 or server == "gdnsd")
    elif cat == "nxdomain":
        ok = rc == "NXDOMAIN" and r["aa"] and r["an"] == 0 and r["ns"] >= 1
    elif cat == "referral":
        ok = rc == "NOERROR" and not r["aa"] and r["an"] == 0 and r["ns"] >= 1
    else:
        ok = False
    if ok:
        return None
    return "%s aa=%d an=%d ns=%d first=%s" % (rc, r["aa"], r["an"], r["ns"], first)


# ---------------------------------------------------------------------------------------------
# /proc readings.

def proc_children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def proc_tree(pid):
    """pid and all its descendants (NSD serves from forked children)."""
    kids = proc_children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_cpu_ticks(pids):
    """utime+stime (fields 14 and 15 of /proc/PID/stat, all threads of the process)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        total += int(fields[11]) + int(fields[12])
    return total


def proc_sched_ns(pids):
    """CPU time in ns, to the ns (the first field of /proc/PID/task/TID/schedstat, the
    scheduler's sum_exec_runtime), summed over every live thread of the processes; None when
    the kernel has no schedstat.  /proc/PID/stat counts in clock ticks (10 ms)."""
    total = 0
    for p in pids:
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return None
    return total


def proc_hwm_kb(pids):
    """Largest VmHWM (peak RSS) among the processes; forked children share the parent's pages,
    so a sum would count them twice."""
    best = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


def udp_rcvbuf_errors():
    """The kernel's count of UDP datagrams dropped for a full socket receive buffer (all
    sockets: on a quiet loopback, the server's or dnsperf's)."""
    with open("/proc/net/snmp") as f:
        lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    head, vals = lines[0], lines[1]
    return int(vals[head.index("RcvbufErrors")])


def cpu_times():
    """{cpuN: (busy, total)} from /proc/stat; busy excludes idle and iowait."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:9]]  # user nice system idle iowait irq softirq steal
                out[p[0]] = (sum(v) - v[3] - v[4], sum(v), v[7])
    return out


def cpu_util(before, after, core):
    k = "cpu%d" % core
    if k not in before or k not in after:
        return float("nan"), float("nan")
    db = after[k][0] - before[k][0]
    dt = after[k][1] - before[k][1]
    ds = after[k][2] - before[k][2]
    return (db / dt if dt else float("nan")), (ds / dt if dt else float("nan"))


# ---------------------------------------------------------------------------------------------
# Servers.

def free_port():
    """A port free for both UDP and TCP on the loopback address."""
    for _ in range(100):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((LOOPBACK, 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((LOOPBACK, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    die("no free port")


class Server:
    def __init__(self, name, opts, workdir, zonefile):
        self.name = name
        self.opts = opts
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.zonefile = zonefile
        self.proc = None
        self.port = None
        self.logfile = None

    def argv(self):
        raise NotImplementedError

    def env(self):
        return None  # inherit

    def configure(self):
        pass

    def start(self):
        self.port = free_port()
        self.configure()
        self.logpath = os.path.join(self.dir, "server.log")
        self.logfile = open(self.logpath, "ab")
        argv = self.opts.prio + ["taskset", "-c", str(self.opts.server_core)] + self.argv()
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                     env=self.env(),
                                     stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        STARTED.append(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return proc_tree(self.proc.pid) if self.alive() else []

    def pin(self):
        """Re-pin every thread of every process of the server (knotd pins its own UDP workers,
        overriding the affinity it inherited)."""
        for p in self.pids():
            subprocess.run(["taskset", "-a", "-p", "-c", str(self.opts.server_core), str(p)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc is None:
            return
        pids = self.pids()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # Descendants that outlived the main process (in the session we created for it).
        for p in pids:
            if p != self.proc.pid and os.path.exists("/proc/%d" % p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None
        if self in STARTED:
            STARTED.remove(self)

    def log_tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Hadnsd(Server):
    def configure(self):
        cfg = {"listen": ["%s:%d" % (LOOPBACK, self.port)], "workers": 1, "udp_payload": 1232,
               "log_level": "notice", "zone_dir": os.path.dirname(self.zonefile),
               "zones": [{"name": ZONE, "file": os.path.basename(self.zonefile)}]}
        self.conf = os.path.join(self.dir, "hadnsd.json")
        with open(self.conf, "w") as f:
            json.dump(cfg, f, indent=2)

    def argv(self):
        # hadnsd-base: another build (--hadnsd-base), to weigh a change against its base in
        # the same interleaved run.
        binary = self.opts.hadnsd_base if self.name == "hadnsd-base" else self.opts.hadnsd
        return [binary, "-c", self.conf]

    def env(self):
        # hadnsd-event / hadnsd-blocking: the UDP driver forced through HADNSD_UDP_LOOP (a
        # measuring knob of hadnsd's); plain "hadnsd" runs with hadnsd's default.
        loop = self.name.partition("-")[2]
        if loop not in ("event", "blocking"):
            return None
        e = dict(os.environ)
        e["HADNSD_UDP_LOOP"] = loop
        return e


class Nsd(Server):
    def configure(self):
        d = self.dir
        self.conf = os.path.join(d, "nsd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""server:
    server-count: 1
    ip-address: {LOOPBACK}@{self.port}
    port: {self.port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{os.path.dirname(self.zonefile)}"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    verbosity: 0
    hide-version: yes
    # Debian's build turns response-rate limiting on; it would drop most of the load.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    tcp-count: 100
    tcp-query-count: 0
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: "{os.path.basename(self.zonefile)}"
""")

    def argv(self):
        return [self.opts.nsd, "-d", "-c", self.conf]


class Knot(Server):
    def configure(self):
        d = self.dir
        self.conf = os.path.join(d, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""server:
    rundir: "{d}"
    listen: {LOOPBACK}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{d}"
control:
    listen: "{d}/knot.sock"
template:
  - id: default
    storage: "{d}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {ZONE}
    file: "{self.zonefile}"
""")

    def argv(self):
        return [self.opts.knotd, "-c", self.conf]


class Gdnsd(Server):
    def configure(self):
        d = self.dir
        self.confdir = os.path.join(d, "etc")
        zd = os.path.join(self.confdir, "zones")
        os.makedirs(zd, exist_ok=True)
        # gdnsd's layout: CONFDIR/config and CONFDIR/zones/<zone name>.
        link = os.path.join(zd, ZONE)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(self.zonefile, link)
        with open(os.path.join(self.confdir, "config"), "w") as f:
            f.write(f"""options => {{
    listen => [ {LOOPBACK}:{self.port} ]
    udp_threads => 1
    tcp_threads => 1
    run_dir => {d}/run
    state_dir => {d}/state
}}
""")

    def argv(self):
        return [self.opts.gdnsd, "-c", self.confdir, "start"]


class Floor(Server):
    def argv(self):
        return [self.opts.floor, LOOPBACK, str(self.port)] + (
            ["epoll"] if self.name == "floor-epoll" else [])


CLASSES = {"hadnsd": Hadnsd, "hadnsd-event": Hadnsd, "hadnsd-blocking": Hadnsd,
           "hadnsd-base": Hadnsd, "nsd": Nsd,
           "knot": Knot, "gdnsd": Gdnsd, "floor": Floor, "floor-epoll": Floor}
STARTED = []


def cleanup():
    for s in list(STARTED):
        try:
            s.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def wait_ready(srv, name, qtype, check, timeout, interval=0.002):
    """Polls until check(response) is true; returns seconds since exec or None."""
    end = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(interval)
    qid = 0
    try:
        while time.monotonic() < end:
            if not srv.alive():
                return None
            qid = (qid + 1) & 0xFFFF
            try:
                s.sendto(build_query(qid, name, qtype), (LOOPBACK, srv.port))
                m = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError, BlockingIOError):
                continue
            now = time.monotonic()
            # Any answer on this socket is to one of our (identical) queries: a slow server
            # may answer the previous one after we sent the next.
            r = parse_response(m)
            if r and r["qr"] and check(r):
                return now - srv.t_exec
        return None
    finally:
        s.close()


def soa_ok(r):
    return r["rcode"] == 0 and r["aa"] and r["an"] >= 1


def preflight(srv, sample):
    """Checks the server's answers to the sample against the categories; floor: REFUSED."""
    bad = []
    for name, qtype, cat in sample:
        r = udp_query(srv.port, name, qtype)
        if srv.name.startswith("floor"):
            if r is None or r["rcode"] != 5:
                bad.append("%s %s: floor did not answer REFUSED" % (name, qtype))
            continue
        why = check_answer(r, qtype, cat, srv.name)
        if why:
            bad.append("%s %s (%s): %s" % (name, qtype, cat, why))
    if not srv.name.startswith("floor") and srv.opts.tcp:
        name, qtype, cat = sample[0]
        why = check_answer(tcp_query(srv.port, name, qtype), qtype, cat, srv.name)
        if why:
            bad.append("TCP %s %s: %s" % (name, qtype, why))
    return bad


# ---------------------------------------------------------------------------------------------
# dnsperf.

def run_dnsperf(opts, srv, qfile, proto, rate, duration, binary=False):
    """binary: qfile is dnsperf's binary format (-B), whole messages with their own OPT."""
    argv = opts.prio + ["taskset", "-c", str(opts.client_core), opts.dnsperf, "-s", LOOPBACK,
            "-p", str(srv.port), "-d", qfile, "-l", str(duration), "-t", "2",
            "-q", str(opts.outstanding if rate else opts.max_outstanding),
            # The client's own socket must not drop answers when dnsperf falls behind.
            "-b", "4096"]
    if proto == "tcp":
        argv += ["-m", "tcp", "-c", str(opts.tcp_clients)]
    else:
        argv += ["-c", "1"]
    if rate:
        argv += ["-Q", str(rate)]
    if binary:
        argv += ["-B"]
    elif opts.edns:
        argv += ["-e"]
    pids = srv.pids()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, w0, t0 = proc_cpu_ticks(pids), cpu_times(), time.monotonic()
    ns0 = proc_sched_ns(pids)
    rb0 = udp_rcvbuf_errors()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=duration + 60)
    pids1 = srv.pids()
    ns1 = proc_sched_ns(pids1)
    c1, w1, t1 = proc_cpu_ticks(pids1), cpu_times(), time.monotonic()
    rb1 = udp_rcvbuf_errors()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # dnsperf's own CPU (taskset execs it: one child process).
    client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    out = p.stdout
    with open(os.path.join(srv.dir, "dnsperf.log"), "a") as f:
        f.write("$ %s\n%s\n" % (" ".join(argv), out))

    def num(pat, cast=float, default=None):
        m = re.search(pat, out)
        return cast(m.group(1)) if m else default

    completed = num(r"Queries completed:\s+(\d+)", int, 0)
    res = {
        "sent": num(r"Queries sent:\s+(\d+)", int, 0),
        "completed": completed,
        "lost": num(r"Queries lost:\s+(\d+)", int, 0),
        "interrupted": num(r"Queries interrupted:\s+(\d+)", int, 0),
        "qps": num(r"Queries per second:\s+([\d.]+)", float, 0.0),
        "lat_avg": num(r"Average Latency \(s\):\s+([\d.]+)", float, float("nan")),
        "lat_max": num(r"Average Latency \(s\):.*max ([\d.]+)", float, float("nan")),
        "resp_size": num(r"Average packet size:.*response (\d+)", int, 0),
        "rcodes": dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+) \([\d.]+%\)",
                                                          out.split("Response codes:")[-1]
                                                          .split("\n")[0])),
        "wall": t1 - t0,
        "rcvbuf_drops": rb1 - rb0,
        "cpu_s": (c1 - c0) / CLK_TCK,
    }
    if p.returncode != 0 or completed == 0:
        log("dnsperf against %s (%s) failed:\n%s" % (srv.name, proto, out[-2000:]))
    res["cpu_us_q"] = res["cpu_s"] * 1e6 / completed if completed else float("nan")
    # The same to the ns (schedstat), when the process tree did not change during the run.
    res["sched_us_q"] = (ns1 - ns0) / 1e3 / completed if (
        completed and ns0 is not None and ns1 is not None and pids1 == pids) else None
    res["server_util"] = res["cpu_s"] / res["wall"] if res["wall"] else float("nan")
    res["client_util"] = client_cpu / res["wall"] if res["wall"] else float("nan")
    res["client_core_busy"], res["client_steal"] = cpu_util(w0, w1, opts.client_core)
    res["server_core_busy"], res["server_steal"] = cpu_util(w0, w1, opts.server_core)
    return res


# ---------------------------------------------------------------------------------------------
# Formatting.

def med(xs):
    xs = [x for x in xs if x is not None and x == x]
    return statistics.median(xs) if xs else None


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "us":
        return "%.2f" % v
    if kind == "us0":
        return "%.0f" % v
    if kind == "kqps":
        return "%.1fk" % (v / 1000)
    if kind == "int":
        return "%d" % v
    if kind == "mib":
        return "%.1f" % (v / 1024)
    if kind == "s":
        return "%.2f" % v
    if kind == "pct":
        return "%.0f%%" % (v * 100)
    return str(v)


def ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return "—"  # a ratio of a negative overhead (within noise of the floor) means nothing
    return "%.2f" % (a / b)


def hadnsd_variants(servers):
    return [s for s in servers if s.startswith("hadnsd")]


def table(rows, servers, title):
    """rows: list of (label, kind, {server: value}, ratio?).  Ratio columns: every hadnsd
    variant present against every peer present."""
    peers = [s for s in servers if s in PEERS]
    pairs = [(h, p) for h in hadnsd_variants(servers) for p in peers]
    cols = ["metric"] + [LABEL.get(s, s) for s in servers]
    cols += ["%s/%s" % (h, LABEL[p]) for h, p in pairs]
    # A change against its base build, when both ran.
    if "hadnsd" in servers and "hadnsd-base" in servers:
        pairs.append(("hadnsd", "hadnsd-base"))
        cols.append("hadnsd/hadnsd-base")
    lines = ["**%s**" % title, "", "| " + " | ".join(cols) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
    for label, kind, vals, want_ratio in rows:
        cells = [label] + [vals.get(s) if isinstance(vals.get(s), str) else fmt(vals.get(s),
                                                                                kind)
                           for s in servers]
        cells += [ratio(vals.get(h), vals.get(p)) if want_ratio and not
                  isinstance(vals.get(h), str) else "" for h, p in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The two modes.

def throughput_mode(opts, workdir, servers):
    gdir = os.path.join(workdir, "zone")
    info = gen.generate(gdir, seed=opts.seed, names=opts.names, queries=opts.queries)
    log("zone: %d names, %d records; %d queries in the mix" % (
        info["names"], info["records"], info["queries"]))
    zonefile = info["zone"]
    qfile = os.path.join(gdir, "queries.txt")
    with open(os.path.join(gdir, "sample.tsv")) as f:
        sample = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]

    tests = [("udp", opts.rate, opts.duration), ("udp", 0, opts.max_duration)]
    if opts.tcp:
        tests += [("tcp", opts.tcp_rate, opts.duration), ("tcp", 0, opts.max_duration)]
    results = {s: [] for s in servers}  # per round: {test key: res, "hwm": kB}
    failed = {}
    for rnd in range(opts.rounds):
        # All servers of the round run side by side (each on its own port, all pinned to the
        # server core, idle but for the one under test), so that consecutive measurements of
        # one kind are seconds apart and the machine's drift hits every server alike.
        live = []
        try:
            for name in servers:
                if name in failed:
                    continue
                srv = CLASSES[name](name, opts, workdir, zonefile)
                srv.start()
                if name.startswith("floor"):
                    ok = wait_ready(srv, ZONE, "SOA", lambda r: r["rcode"] == 5, 10)
                else:
                    ok = wait_ready(srv, ZONE, "SOA", soa_ok, 60)
                if ok is None:
                    failed[name] = "did not answer within the time limit:\n" + srv.log_tail()
                    log("%s: %s" % (name, failed[name]))
                    srv.stop()
                    continue
                srv.pin()
                bad = preflight(srv, sample)
                if bad:
                    failed[name] = "wrong answers in the pre-flight check:\n  " + \
                        "\n  ".join(bad[:10])
                    log("%s: %s" % (name, failed[name]))
                    srv.stop()
                    continue
                live.append(srv)
            if rnd == 0:
                log("pre-flight check passed: %s (%d queries of the mix each)" % (
                    ", ".join(s.name for s in live), len(sample)))
            per_round = {srv.name: {} for srv in live}
            for proto, rate, dur in tests:
                key = "%s-%s" % (proto, "fixed" if rate else "max")
                for srv in live:
                    if srv.name.startswith("floor") and proto == "tcp":
                        continue
                    if not srv.alive():
                        failed[srv.name] = "exited during the run:\n" + srv.log_tail()
                        continue
                    res = run_dnsperf(opts, srv, qfile, proto, rate, dur)
                    per_round[srv.name][key] = res
                    log("round %d %-7s %-9s %7.0f q/s  %.2f us/q  lost %d  server %.0f%% "
                        "(core %.0f%%)  dnsperf %.0f%% (core %.0f%%)" % (
                            rnd + 1, srv.name, key, res["qps"], res["cpu_us_q"], res["lost"],
                            res["server_util"] * 100, res["server_core_busy"] * 100,
                            res["client_util"] * 100, res["client_core_busy"] * 100))
                    if res["rcodes"].get("REFUSED") and not srv.name.startswith("floor"):
                        log("warning: %s answered REFUSED %d times" % (
                            srv.name, res["rcodes"]["REFUSED"]))
            for srv in live:
                if srv.name in failed:
                    continue
                per_round[srv.name]["hwm"] = proc_hwm_kb(srv.pids())
                results[srv.name].append(per_round[srv.name])
        finally:
            for srv in live:
                srv.stop()
    return results, failed, info, tests


def load_mode(opts, workdir, servers):
    servers = [s for s in servers if not s.startswith("floor")]
    gdir = os.path.join(workdir, "zone-load")
    log("generating a %d-record zone..." % opts.load_records)
    info = gen.generate(gdir, seed=opts.seed, records=opts.load_records, queries=1000)
    log("zone: %d names, %d records, %.0f MiB" % (
        info["names"], info["records"], os.path.getsize(info["zone"]) / 2**20))
    with open(os.path.join(gdir, "last.tsv")) as f:
        lname, ltype, laddr = f.readline().rstrip("\n").split("\t")
    want = socket.inet_aton(laddr)

    def correct(r):
        return r["rcode"] == 0 and r["aa"] and any(t == 1 and d == want for t, d in
                                                    r["answers"])

    results = {s: [] for s in servers}
    failed = {}
    for rnd in range(opts.load_rounds):
        for name in servers:
            if name in failed:
                continue
            srv = CLASSES[name](name, opts, workdir, info["zone"])
            srv.start()
            try:
                t = wait_ready(srv, lname, ltype, correct, opts.load_timeout)
                if t is None:
                    failed[name] = "no correct answer for %s within %d s:\n%s" % (
                        lname, opts.load_timeout, srv.log_tail())
                    log("%s: %s" % (name, failed[name]))
                    continue
                hwm = proc_hwm_kb(srv.pids())
                time.sleep(1)  # work a server finishes after its first answer counts too
                hwm = max(hwm, proc_hwm_kb(srv.pids()))
                results[name].append({"load_s": t, "hwm": hwm})
                log("round %d %-7s load %.2f s  peak RSS %.1f MiB" % (
                    rnd + 1, name, t, hwm / 1024))
            finally:
                srv.stop()
    return results, failed, info


def saturated(res):
    """Which core was full in an unthrottled run: the server's or dnsperf's (by the core's
    busy time, which on a shared machine may include other processes)."""
    sides = []
    if res["server_core_busy"] >= 0.95 or res["server_util"] >= 0.95:
        sides.append("server")
    if res["client_core_busy"] >= 0.95 or res["client_util"] >= 0.95:
        sides.append("dnsperf")
    return "+".join(sides) if sides else "neither: -q bound"


def report_throughput(opts, results, failed, info, servers):
    ok = [s for s in servers if results.get(s)]
    out = []

    def per(name, key, field):
        return [r[key][field] for r in results[name] if key in r]

    rows = []
    for proto in (["udp", "tcp"] if opts.tcp else ["udp"]):
        P = proto.upper()
        fk, mk = proto + "-fixed", proto + "-max"
        rate = opts.rate if proto == "udp" else opts.tcp_rate
        names = [s for s in ok if any(fk in r for r in results[s])]
        cpu = {s: med(per(s, fk, "cpu_us_q")) for s in names}
        rows.append(("%s CPU µs/query at %dk q/s" % (P, rate // 1000), "us", cpu, True))
        rows.append(("  min–max over rounds", "str",
                     {s: "%.2f–%.2f" % (min(per(s, fk, "cpu_us_q")), max(per(s, fk, "cpu_us_q")))
                      for s in names if per(s, fk, "cpu_us_q")}, False))
        if proto == "udp" and "floor" in names:
            over = {}
            for s in names:
                if s == "floor":
                    continue
                diffs = [a - b for a, b in zip(per(s, fk, "cpu_us_q"),
                                               per("floor", fk, "cpu_us_q"))]
                over[s] = med(diffs)
            rows.append(("%s overhead above floor, µs/query" % P, "us", over, True))
        if proto == "tcp":
            # Who pays for a send depends on Nagle (see README.md, "Reading the results"):
            # the sum of both sides is the fair figure.
            both = {}
            for s in names:
                xs = [r[fk]["cpu_us_q"] + r[fk]["client_util"] * r[fk]["wall"] * 1e6 /
                      r[fk]["completed"] for r in results[s] if fk in r and r[fk]["completed"]]
                if xs:
                    both[s] = med(xs)
            rows.append(("%s CPU µs/query at %dk, server + dnsperf" % (P, rate // 1000), "us",
                         both, True))
        rows.append(("%s answered q/s at %dk offered" % (P, rate // 1000), "kqps",
                     {s: med(per(s, fk, "qps")) for s in names}, False))
        rows.append(("%s avg latency µs at %dk" % (P, rate // 1000), "us0",
                     {s: med([x * 1e6 for x in per(s, fk, "lat_avg")]) for s in names}, True))
        rows.append(("%s max latency µs at %dk" % (P, rate // 1000), "us0",
                     {s: med([x * 1e6 for x in per(s, fk, "lat_max")]) for s in names}, True))
        rows.append(("%s server core busy at %dk, all processes" % (P, rate // 1000), "pct",
                     {s: med(per(s, fk, "server_core_busy")) for s in names}, False))
        rows.append(("%s lost at %dk (sum of rounds)" % (P, rate // 1000), "int",
                     {s: sum(per(s, fk, "lost")) for s in names}, False))
        mx = {}
        for s in names:
            q = med(per(s, mk, "qps"))
            runs = [r[mk] for r in results[s] if mk in r]
            if q is None or not runs:
                continue
            sides = [saturated(x) for x in runs]
            side = max(sorted(set(sides)), key=sides.count)  # the most frequent
            mx[s] = "%.1fk (%s)" % (q / 1000, side)
        rows.append(("%s max q/s (saturated side)" % P, "str", mx, False))
        rows.append(("%s at max: CPU use, %% of a core, server / dnsperf" % P, "str",
                     {s: "%.0f / %.0f" % (100 * med(per(s, mk, "server_util")),
                                         100 * med(per(s, mk, "client_util")))
                      for s in names if per(s, mk, "server_util")}, False))
        rows.append(("%s CPU µs/query at max" % P, "us",
                     {s: med(per(s, mk, "cpu_us_q")) for s in names}, True))
        rows.append(("%s lost at max (sum of rounds)" % P, "int",
                     {s: sum(per(s, mk, "lost")) for s in names}, False))
        if proto == "udp":
            rows.append(("UDP socket receive-buffer drops at max (kernel count)", "int",
                         {s: sum(per(s, mk, "rcvbuf_drops")) for s in names}, False))
        rows.append(("%s avg response size, bytes" % P, "int",
                     {s: med(per(s, fk, "resp_size")) for s in names}, False))
    rows.append(("peak RSS (VmHWM) MiB", "mib",
                 {s: med([r["hwm"] for r in results[s]]) for s in ok}, True))
    title = ("Throughput: %d rounds, %s s per fixed-rate run, %s s per max run, zone of %d "
             "names / %d records, %s" % (opts.rounds, opts.duration, opts.max_duration,
                                         info["names"], info["records"],
                                         "EDNS" if opts.edns else "no EDNS"))
    out.append(table(rows, ok, title))
    for s, why in failed.items():
        out.append("\n%s was not measured: %s" % (LABEL.get(s, s), why))
    return "\n".join(out), rows


def profile_mode(opts, workdir, servers):
    """One UDP fixed-rate run per server under `perf record -e cpu-clock`: how the server's CPU
    splits between the kernel and its own code, and its hottest user-space symbols.  perf's
    sampling inflates the CPU figures a little; the shares are what this mode is for."""
    perf = shutil.which("perf")
    if not perf:
        die("--profile needs perf (linux-perf)")
    gdir = os.path.join(workdir, "zone")
    info = gen.generate(gdir, seed=opts.seed, names=opts.names, queries=opts.queries)
    qfile = os.path.join(gdir, "queries.txt")
    out = []
    rows = {"cpu": {}, "kern": {}, "user": {}, "user_us": {}}
    for name in servers:
        srv = CLASSES[name](name, opts, workdir, info["zone"])
        srv.start()
        try:
            check = (lambda r: r["rcode"] == 5) if name.startswith("floor") else soa_ok
            if wait_ready(srv, ZONE, "SOA", check, 60) is None:
                log("%s did not start:\n%s" % (name, srv.log_tail()))
                continue
            srv.pin()
            data = os.path.join(srv.dir, "perf.data")
            dur = max(3, opts.duration)
            rec = subprocess.Popen(
                ["taskset", "-c", str(opts.client_core), perf, "record", "-q", "-e",
                 "cpu-clock", "-F", "4000", "-o", data, "-p",
                 ",".join(str(p) for p in srv.pids()), "--", "sleep", str(dur - 1)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            res = run_dnsperf(opts, srv, qfile, "udp", opts.rate, dur)
            rec.wait(timeout=30)

            def report(*args):
                p = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children"] +
                                   list(args), stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
                return [ln for ln in p.stdout.splitlines() if re.match(r"^\s+[\d.]+%", ln)]
            dsos = report("--sort", "dso")
            kern = sum(float(ln.split("%")[0]) for ln in dsos if "[kernel" in ln) / 100
            user_dsos = [ln.split()[-1] for ln in dsos if "[kernel" not in ln]
            syms = report("--sort", "dso,sym", "--dsos", ",".join(user_dsos)) if user_dsos \
                else []
            with open(os.path.join(srv.dir, "perf.txt"), "w") as f:
                f.write("\n".join(dsos + [""] + syms) + "\n")
            rows["cpu"][name] = res["cpu_us_q"]
            rows["kern"][name] = kern
            rows["user"][name] = 1 - kern
            rows["user_us"][name] = (1 - kern) * res["cpu_us_q"]
            out.append("%s: %.2f µs/query under perf; kernel %.0f%%, user space %.0f%% "
                       "(%.2f µs/query); hottest user-space symbols (%% of all samples):\n%s"
                       % (LABEL.get(name, name), res["cpu_us_q"], 100 * kern, 100 * (1 - kern),
                          (1 - kern) * res["cpu_us_q"],
                          "\n".join("    " + ln.strip() for ln in syms[:12])))
            log("profiled %s: kernel %.0f%%" % (name, 100 * kern))
        finally:
            srv.stop()
    trows = [("UDP CPU µs/query at %dk (under perf)" % (opts.rate // 1000), "us", rows["cpu"],
              True),
             ("kernel share of the server's CPU", "pct", rows["kern"], False),
             ("user-space µs/query (the server's own work)", "us", rows["user_us"], True)]
    ok = [s for s in servers if s in rows["cpu"]]
    return table(trows, ok, "Profile: one %s-s run per server at %d q/s, perf cpu-clock "
                 "sampling" % (max(3, opts.duration), opts.rate)) + "\n\n" + "\n\n".join(out)


# ---------------------------------------------------------------------------------------------
# Callgrind: user-space instructions per query, exactly.  CPU time on a shared 2-core machine
# moves by ±1 µs/query from run to run, more than a server's whole user-space work; valgrind's
# instruction counts do not move at all.  The kernel's share is not counted: for the loopback
# path it is what the floor's CPU time shows, and it differs between servers only by the
# syscalls they make and the bytes they send.

def under_callgrind(cls):
    """The server class cls, started under callgrind (every thread, and forked children: one
    dump file per process)."""
    vg = shutil.which("valgrind")
    if not (vg and shutil.which("callgrind_control")):
        die("--callgrind needs valgrind (Debian: valgrind)")

    class CG(cls):
        def argv(self):
            return [vg, "--tool=callgrind", "--compress-strings=no", "--compress-pos=no",
                    "--callgrind-out-file=" + os.path.join(self.dir, "callgrind.out.%p")
                    ] + super().argv()
    return CG


def callgrind_selfcost(path):
    """Self cost (Ir) per function of one callgrind dump (--compress-strings=no), recursion
    levels (eval'2) merged, functions without a symbol named OBJECT+0xADDRESS; and the
    total."""
    self, fn, after, total, ob = {}, None, False, 0, "?"
    with open(path) as f:
        for line in f:
            if line.startswith("ob="):
                ob = os.path.basename(line[3:].strip())
                continue
            if line.startswith("fn="):
                fn = line[3:].strip().split("'")[0]
                if fn.startswith("0x"):  # no symbol (a library without debug symbols)
                    fn = "%s+0x%x" % (ob, int(fn, 16))
                continue
            if line.startswith("calls="):
                after = True  # the next cost line is the call's inclusive cost
                continue
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                if after:
                    after = False
                    continue
                v = int(parts[1])
                self[fn] = self.get(fn, 0) + v
                total += v
    return self, total


def callgrind_count(opts, srv, qfile, runs, label, binary=False, tcp=False):
    """Zeroes the counters of every process of srv (started under callgrind), sends qfile
    `runs` times one query at a time (dnsperf -q 1: every query its own batch, for every server
    alike; tcp: over one connection, reused), dumps the counters and returns {"queries",
    "lost", "ir", "self", "files"}: the user-space instructions of all the server's processes
    and threads over the run."""
    ctl = shutil.which("callgrind_control")
    pids = [str(p) for p in srv.pids()]
    # callgrind_control reaches a process through valgrind's gdbserver, which a forked child
    # (NSD's serving process) does not start: such a server cannot be counted this way.
    listed = subprocess.run([ctl], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True).stdout
    reachable = set(re.findall(r"^PID (\d+):", listed, re.M))
    if set(pids) - reachable:
        return {"error": "callgrind_control cannot reach its process%s %s (forked children "
                "run no valgrind gdbserver)" % ("es" if len(set(pids) - reachable) > 1 else "",
                                               ", ".join(sorted(set(pids) - reachable)))}
    pattern = os.path.join(srv.dir, "callgrind.out.*")
    before = set(glob.glob(pattern))
    for pid in pids:
        subprocess.run([ctl, "-z", pid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    argv = opts.prio + ["taskset", "-c", str(opts.client_core), opts.dnsperf, "-s", LOOPBACK,
                        "-p", str(srv.port), "-d", qfile, "-n", str(runs), "-q", "1", "-t",
                        "5"]
    argv += ["-B"] if binary else (["-e"] if opts.edns else [])
    if tcp:
        argv += ["-m", "tcp", "-c", "1"]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for pid in pids:
        subprocess.run([ctl, "-d", label, pid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    m = re.search(r"Queries completed:\s+(\d+)", p.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", p.stdout)
    done = int(m.group(1)) if m else 0
    if not done:
        die("dnsperf against %s under callgrind failed:\n%s" % (srv.name, p.stdout))
    # One new dump per process that callgrind runs in (a process it cannot reach, such as
    # one that exec'd a helper, writes none).
    new = []
    for _ in range(200):
        new = sorted(set(glob.glob(pattern)) - before)
        if len(new) >= len(pids):
            break
        time.sleep(0.05)
    if not new:
        die("callgrind wrote no dump for %s" % label)
    time.sleep(0.2)  # let the dumps finish writing
    self, total = {}, 0
    for path in new:
        s, t = callgrind_selfcost(path)
        total += t
        for fn, v in s.items():
            self[fn] = self.get(fn, 0) + v
    return {"queries": done, "lost": int(lost.group(1)) if lost else 0, "ir": total,
            "self": self, "files": new}


def callgrind_mode(opts, workdir, servers):
    """Every server under callgrind, one after another, answering the same slice of the query
    mix one query at a time: user-space instructions per query, and each one's overhead above
    the floor's."""
    gdir = os.path.join(workdir, "zone")
    info = gen.generate(gdir, seed=opts.seed, names=opts.names, queries=opts.queries)
    with open(os.path.join(gdir, "queries.txt")) as f:
        lines = f.readlines()
    qfile = os.path.join(gdir, "queries-callgrind.txt")
    with open(qfile, "w") as f:
        f.writelines(lines[:opts.callgrind_queries])
    with open(os.path.join(gdir, "sample.tsv")) as f:
        sample = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]
    res, skipped = {}, {}
    cgdir = os.path.join(workdir, "callgrind")
    for name in servers:
        srv = under_callgrind(CLASSES[name])(name, opts, cgdir, info["zone"])
        srv.start()
        try:
            check = (lambda r: r["rcode"] == 5) if name.startswith("floor") else soa_ok
            if wait_ready(srv, ZONE, "SOA", check, 300, interval=0.05) is None:
                skipped[name] = "did not answer under callgrind"
                log("%s %s:\n%s" % (name, skipped[name], srv.log_tail()))
                continue
            bad = preflight(srv, sample[:10])
            if bad:
                skipped[name] = "wrong answers under callgrind: " + "; ".join(bad[:3])
                log("%s: %s" % (name, skipped[name]))
                continue
            r = callgrind_count(opts, srv, qfile, 1, name)
            if "error" in r:
                log("%s not counted: %s" % (name, r["error"]))
                skipped[name] = r["error"]
                continue
            res[name] = r
            log("callgrind %-7s %d queries, %.0f instructions/query" % (
                name, r["queries"], r["ir"] / r["queries"]))
            if opts.tcp and not name.startswith("floor"):
                t = callgrind_count(opts, srv, qfile, 1, name + "-tcp", tcp=True)
                if "error" not in t:
                    r["tcp"] = t
                    log("callgrind %-7s %d TCP queries, %.0f instructions/query" % (
                        name, t["queries"], t["ir"] / t["queries"]))
        finally:
            srv.stop()
    return callgrind_table(res, skipped, servers)


def callgrind_table(res, skipped, servers):
    ok = [s for s in servers if s in res]
    per_q = {s: res[s]["ir"] / res[s]["queries"] for s in ok}
    fl = per_q.get("floor")
    over = {s: per_q[s] - fl for s in ok if fl is not None and not s.startswith("floor")}
    rows = [("user-space instructions/query", "us0", per_q, True)]
    if over:
        rows.append(("— above the floor's", "us0", over, True))
    rows.append(("lost", "int", {s: res[s]["lost"] for s in ok}, False))
    tcp = {s: res[s]["tcp"]["ir"] / res[s]["tcp"]["queries"] for s in ok if "tcp" in res[s]}
    if tcp:
        rows.append(("TCP (one connection, reused): user-space instructions/query", "us0", tcp,
                     True))
    text = table(rows, ok, "User-space instructions per query (callgrind; %d queries of the "
                 "mix, one at a time; every thread and process of the server; the kernel not "
                 "counted)" % max(res[s]["queries"] for s in ok)) if ok else "(no server ran)"
    for s in ok:
        q = res[s]["queries"]
        top = sorted(res[s]["self"].items(), key=lambda t: -t[1])[:12]
        text += "\n\n%s, self instructions per query, top functions: %s" % (
            LABEL.get(s, s), ", ".join("`%s` %.0f" % (fn, v / q) for fn, v in top))
    peers = {s: v for s, v in over.items() if s in PEERS}
    for h in hadnsd_variants(ok):
        if h in over and peers:
            best = min(peers, key=peers.get)
            r = over[h] / peers[best] if peers[best] > 0 else float("inf")
            text += ("\n\n%s: user-space overhead above the floor ≤ half the best peer's "
                     "(%s): %s, %.0f vs %.0f instructions/query (%.2f×)" % (
                         h, LABEL.get(best, best), "MET" if r <= 0.5 else "MISSED", over[h],
                         peers[best], r))
    peers_tcp = {s: v for s, v in tcp.items() if s in PEERS}
    for h in hadnsd_variants(ok):
        if h in tcp and peers_tcp:
            best = min(peers_tcp, key=peers_tcp.get)
            r = tcp[h] / peers_tcp[best]
            text += ("\n\n%s: TCP user-space instructions/query ≤ the best peer's (%s): %s, "
                     "%.0f vs %.0f (%.2f×)" % (h, LABEL.get(best, best),
                                              "MET" if r <= 1 else "MISSED", tcp[h],
                                              peers_tcp[best], r))
    for s, why in skipped.items():
        text += "\n\n%s: not counted: %s" % (LABEL.get(s, s), why)
    return text


def report_load(opts, results, failed, info, servers):
    ok = [s for s in servers if results.get(s)]
    rows = [("time from exec to correct answer, s", "s",
             {s: med([r["load_s"] for r in results[s]]) for s in ok}, True),
            ("peak RSS (VmHWM) MiB", "mib",
             {s: med([r["hwm"] for r in results[s]]) for s in ok}, True)]
    title = "Load: %d records (%d names), %d rounds, server pinned to one core" % (
        info["records"], info["names"], opts.load_rounds)
    out = [table(rows, ok, title)]
    for s, why in failed.items():
        out.append("\n%s was not measured: %s" % (LABEL.get(s, s), why))
    return "\n".join(out), rows


def targets(opts, trows, lrows, servers):
    """The issue's targets for each hadnsd variant, each MET or MISSED (or not measured)."""
    lines = []

    def row(rows, prefix):
        for label, _k, vals, _r in rows or []:
            if label.startswith(prefix):
                return vals
        return {}

    def best_peer(vals):
        pv = [(vals[p], p) for p in PEERS if isinstance(vals.get(p), (int, float))]
        return min(pv) if pv else (None, None)

    for h in hadnsd_variants(servers):
        def verdict(what, hv, bound, unit="", scale=1.0):
            if hv is None or bound is None:
                lines.append("- n/a: %s (not measured)" % what)
            else:
                lines.append("- %s: %s (%s %.2f%s vs %.2f%s)" % (
                    "MET" if hv <= bound else "MISSED", what, h, hv * scale, unit,
                    bound * scale, unit))

        if trows:
            v = row(trows, "UDP CPU µs/query at")
            b, p = best_peer(v)
            verdict("UDP CPU/query ≤ the best peer's (%s)" % LABEL.get(p, "?"), v.get(h), b,
                    " µs")
            v = row(trows, "UDP overhead above floor")
            b, p = best_peer(v)
            if b is not None and b <= 0:
                lines.append("- n/a: UDP overhead above the floor ≤ half the best peer's: %s's "
                             "is %.2f µs, within noise of the floor (run more rounds)" % (
                                 LABEL.get(p, p), b))
            else:
                verdict("UDP overhead above the floor ≤ half the best peer's (%s)" %
                        LABEL.get(p, "?"), v.get(h), None if b is None else b / 2, " µs")
            if opts.tcp:
                v = row(trows, "TCP CPU µs/query at")
                b, p = best_peer(v)
                verdict("TCP CPU/query ≤ the best peer's (%s)" % LABEL.get(p, "?"), v.get(h),
                        b, " µs")
            lost = sum(vals.get(h) or 0 for label, _k, vals, _r in trows
                       if label.startswith(("UDP lost", "TCP lost")))
            lines.append("- %s: no lost queries (%s lost %d in all runs)" % (
                "MET" if lost == 0 else "MISSED", h, lost))
        if lrows:
            v = row(lrows, "time from exec")
            verdict("1M-record zone load time ≤ Knot's", v.get(h), v.get("knot"), " s")
            v = row(lrows, "peak RSS")
            verdict("1M-record zone peak RSS ≤ gdnsd's", v.get(h), v.get("gdnsd"), " MiB",
                    1 / 1024)
    return "\n".join(lines)


def versions(opts, servers):
    """One line naming what was measured: binaries and versions."""
    def first_line(argv, pat):
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        m = re.search(pat, p.stdout)
        return m.group(1) if m else "?"
    out = []
    builds = [("hadnsd", opts.hadnsd)] if set(hadnsd_variants(servers)) - {"hadnsd-base"} else []
    if "hadnsd-base" in servers:
        builds.append(("hadnsd-base", opts.hadnsd_base))
    for label, binary in builds:
        st = os.stat(binary)
        out.append("%s %s (%s, built %s UTC)" % (
            label, first_line([binary, "-V"], r"hadnsd (\S+)"), binary,
            datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M")))
    if "nsd" in servers:
        out.append("NSD " + first_line([opts.nsd, "-v"], r"NSD version (\S+)"))
    if "knot" in servers:
        out.append("Knot " + first_line([opts.knotd, "-V"], r"version (\S+)"))
    if "gdnsd" in servers:
        out.append("gdnsd " + first_line([opts.gdnsd, "-V"], r"gdnsd version (\S+)"))
    return "Servers: " + "; ".join(out)


def main():
    ap = argparse.ArgumentParser(description="hadnsd vs NSD, Knot, gdnsd (see README.md)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 5; --quick 1)")
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds per fixed-rate run (default 8; --quick 3)")
    ap.add_argument("--max-duration", type=float, default=None,
                    help="seconds per unthrottled run (default: half of --duration)")
    ap.add_argument("--rate", type=int, default=50000, help="UDP offered rate, q/s")
    ap.add_argument("--tcp-rate", type=int, default=20000, help="TCP offered rate, q/s")
    ap.add_argument("--tcp-clients", type=int, default=10,
                    help="dnsperf TCP connections (each reused for the whole run)")
    ap.add_argument("--outstanding", type=int, default=100,
                    help="dnsperf -q for the fixed-rate runs")
    ap.add_argument("--max-outstanding", type=int, default=500,
                    help="dnsperf -q for the unthrottled runs")
    ap.add_argument("--no-tcp", dest="tcp", action="store_false")
    ap.add_argument("--no-edns", dest="edns", action="store_false")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS),
                    help="comma-separated subset of %s; also floor-epoll, and hadnsd-event "
                    "and hadnsd-blocking (hadnsd with HADNSD_UDP_LOOP set)" % ",".join(
                        ALL_SERVERS))
    ap.add_argument("--quick", action="store_true", help="1 round of short runs (smoke test)")
    ap.add_argument("--load", action="store_true", help="run only the 1M-record load mode")
    ap.add_argument("--all", action="store_true", help="throughput and load modes")
    ap.add_argument("--profile", action="store_true",
                    help="only profile each server (perf) during a UDP fixed-rate run")
    ap.add_argument("--policy", action="store_true",
                    help="only the policy mode: hadnsd's policy answers (failover, weighted, "
                    "geo with and without ECS) against static answers and the floor")
    ap.add_argument("--mmdb", default=None,
                    help="policy mode: the GeoIP database (default: built by "
                    "tests/data/mkmmdb.pl)")
    ap.add_argument("--callgrind", action="store_true",
                    help="count each server's user-space instructions per query under "
                    "valgrind's callgrind (exact, unlike CPU time), one query of the mix at a "
                    "time; with --policy: each variant's, and where a policy's extra ones go")
    ap.add_argument("--callgrind-queries", type=int, default=20000,
                    help="queries per server (or policy variant) under callgrind")
    ap.add_argument("--policy-no-extra", action="store_true",
                    help="policy mode: leave out the geo + ECS cache-miss variant")
    ap.add_argument("--load-records", type=int, default=1000000)
    ap.add_argument("--load-rounds", type=int, default=None)
    ap.add_argument("--load-timeout", type=int, default=300)
    ap.add_argument("--names", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-10,
                    help="run servers and dnsperf at this nice level (root only; 0: as is), "
                    "so that other work on a shared machine interrupts them less")
    ap.add_argument("--server-core", type=int, default=1)
    ap.add_argument("--client-core", type=int, default=0)
    ap.add_argument("--hadnsd", default=os.path.join(HERE, "..", "..", "build", "src",
                                                     "hadnsd"))
    ap.add_argument("--hadnsd-base", default=None,
                    help="a second hadnsd build, run as server hadnsd-base beside hadnsd, with "
                    "a hadnsd/hadnsd-base column (a change against its base, in one run)")
    ap.add_argument("--floor", default=None, help="the compiled floor.c")
    ap.add_argument("--workdir", default=None, help="keep configs, logs and results here")
    ap.add_argument("--out", default=None, help="also write the report (markdown) here")
    opts = ap.parse_args()

    if opts.rounds is None:
        opts.rounds = 1 if opts.quick else 5
    if opts.duration is None:
        opts.duration = 3 if opts.quick else 8
    if opts.load_rounds is None and opts.quick:
        opts.load_rounds = 1
    if opts.max_duration is None:
        opts.max_duration = max(2, opts.duration / 2)
    if opts.load_rounds is None:
        opts.load_rounds = 3
    servers = [s.strip() for s in opts.servers.split(",") if s.strip()]
    if opts.policy:
        servers = ["hadnsd", "floor"]  # the peers have no policies
    for s in servers:
        if s not in CLASSES:
            die("unknown server %s" % s)
    opts.hadnsd = os.path.abspath(opts.hadnsd)
    if opts.hadnsd_base:
        opts.hadnsd_base = os.path.abspath(opts.hadnsd_base)
        if "hadnsd-base" not in servers:
            servers.insert(servers.index("hadnsd") + 1 if "hadnsd" in servers else 0,
                           "hadnsd-base")
        if not os.access(opts.hadnsd_base, os.X_OK):
            die("--hadnsd-base %s is not an executable" % opts.hadnsd_base)
    elif "hadnsd-base" in servers:
        die("server hadnsd-base needs --hadnsd-base BIN")
    opts.prio = []
    if opts.nice and (opts.nice > 0 or os.geteuid() == 0):
        opts.prio = ["nice", "-n", str(opts.nice)]
    tools = {"dnsperf": "dnsperf", "nsd": "nsd", "knotd": "knotd", "gdnsd": "gdnsd"}
    for attr, prog in tools.items():
        setattr(opts, attr, shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/sbin"))
    if not opts.dnsperf:
        die("dnsperf not found (contrib/bench/run.sh installs it)")
    need = {"nsd": opts.nsd, "knot": opts.knotd, "gdnsd": opts.gdnsd}
    for s in list(servers):
        if s in need and not need[s]:
            log("warning: %s not installed; skipping it" % s)
            servers.remove(s)
    if hadnsd_variants(servers) and not os.access(opts.hadnsd, os.X_OK):
        die("%s is not built (build hadnsd first, e.g. contrib/run-demo.sh, or pass --hadnsd)"
            % opts.hadnsd)
    if any(s.startswith("floor") for s in servers) and not (
            opts.floor and os.access(opts.floor, os.X_OK)):
        die("floor binary missing (contrib/bench/run.sh compiles floor.c; or pass --floor)")
    ncpu = os.cpu_count()
    for c in (opts.server_core, opts.client_core):
        if c >= ncpu:
            die("core %d does not exist (nproc %d); see --server-core/--client-core" % (c, ncpu))

    workdir = opts.workdir or tempfile.mkdtemp(prefix="hadnsd-bench.")
    os.makedirs(workdir, exist_ok=True)
    keep = opts.workdir is not None
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(130))

    started = datetime.datetime.now(datetime.timezone.utc)
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    header = ("hadnsd benchmark, %s UTC, nproc %d, load average at start %s; server on core "
              "%d, dnsperf on core %d%s; dnsperf %s" % (
                  started.strftime("%Y-%m-%d %H:%M"), ncpu, " ".join(load0),
                  opts.server_core, opts.client_core,
                  ", both at nice %d" % opts.nice if opts.prio else "",
                  subprocess.run([opts.dnsperf, "-h"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True).stdout
                  .strip().splitlines()[-1]))
    header += "\n\n" + versions(opts, servers)
    log(header)
    log("workdir %s" % workdir)
    parts = [header, ""]
    trows = lrows = None
    try:
        if opts.policy:
            import policy  # noqa: E402 - only this mode needs it
            text, res = policy.run(opts, workdir)
            parts += [text, ""]
            with open(os.path.join(workdir, "policy.json"), "w") as f:
                json.dump(res, f, indent=1)
        elif opts.profile:
            parts += [profile_mode(opts, workdir, servers), ""]
        elif opts.callgrind:
            parts += [callgrind_mode(opts, workdir, servers), ""]
        elif not opts.load or opts.all:
            res, failed, info, _ = throughput_mode(opts, workdir, servers)
            text, trows = report_throughput(opts, res, failed, info, servers)
            parts += [text, ""]
            with open(os.path.join(workdir, "throughput.json"), "w") as f:
                json.dump(res, f, indent=1)
        if (opts.load or opts.all) and not (opts.profile or opts.policy or opts.callgrind):
            res, failed, info = load_mode(opts, workdir, servers)
            text, lrows = report_load(opts, res, failed, info, servers)
            parts += [text, ""]
            with open(os.path.join(workdir, "load.json"), "w") as f:
                json.dump(res, f, indent=1)
    finally:
        cleanup()
    elapsed = time.monotonic() - T0
    if trows or lrows:
        parts += ["Targets:", targets(opts, trows, lrows, servers), ""]
    parts.append("(%.0f s in all; one run on a shared machine)" % elapsed)
    report = "\n".join(parts)
    print(report)
    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write(report + "\n")
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(report + "\n")
    if not keep:
        # The zones are large in load mode; keep only the report and the logs.
        for d in ("zone", "zone-load"):
            shutil.rmtree(os.path.join(workdir, d), ignore_errors=True)
    log("report and logs in %s" % workdir)
    return 0


T0 = time.monotonic()

if __name__ == "__main__":
    # policy.py imports this module as "bench": let it find this one (its server list and
    # cleanup), not a second copy.
    sys.modules.setdefault("bench", sys.modules[__name__])
    sys.exit(main())
