# SPDX-License-Identifier: MIT
"""Policy mode of contrib/bench (`run.sh --policy`, `bench.py --policy`): the CPU per query of
hadnsd's answer policies (failover, weighted, geo with and without EDNS Client Subnet) next to
static answers and the floor.  See README.md here, "Policy answers".

hadnsd only (the peers have no policies).  Two hadnsd instances and the floor run side by side,
all pinned to the server core with one worker:

  hadnsd-pol    zone pol.test with five A RRsets and three policies, a GeoIP database built
                by tests/data/mkmmdb.pl
  hadnsd-plain  the same zone, no policies and no GeoIP database
  floor         floor.c (the kernel's loopback cost)

Each variant is one dnsperf run at the fixed UDP rate asking one name (with or without an ECS
option), so its figure is the cost of that one kind of answer.  The query files are dnsperf's
binary format (-B), written here, so that every query carries the same OPT record and the ECS
queries can carry a different subnet each.  Per round, every variant runs once, in an order
rotated by one each round; the figures are medians over rounds.  Reuses bench.py's servers,
pinning, dnsperf runs and CPU accounting.
"""

import json
import os
import random
import socket
import struct
import subprocess

import bench as B

ZONE = "pol.test"
A1, A2, A3, A4 = "192.0.2.10", "192.0.2.11", "198.51.100.10", "198.51.100.11"
ALL = [A1, A2, A3, A4]
GROUPS = {"eu": [A1, A2], "us": [A3, A4], "west": [A2, A3], "asia": [A1, A4]}
NULL_CHECKS = {a: None for a in ALL}  # no check: always up, and no probe traffic at all

# The policies.  Each answers two of the RRset's four records (a group), so that its answer
# has the size of "static-2"'s, the two-record static RRset.
POLICIES = [
    {"zone": ZONE, "owner": "fov", "type": "A", "name": "failover", "checks": NULL_CHECKS,
     "groups": {g: GROUPS[g] for g in ("eu", "us")}, "answer": ["eu", "us"]},
    {"zone": ZONE, "owner": "wtd", "type": "A", "name": "weighted", "checks": NULL_CHECKS,
     "groups": {g: GROUPS[g] for g in ("eu", "us")},
     "answer": {"weighted": {"eu": 2, "us": 1}}},
    {"zone": ZONE, "owner": "geo", "type": "A", "name": "geo", "checks": NULL_CHECKS,
     "groups": dict(GROUPS),
     "answer": {"geo": {"subdivision:US-CA": "west", "country:US": "us", "continent:EU": "eu",
                        "default": "asia"}}},
]

# ECS subnets from tests/data/mkmmdb.pl's table: (network, the group the geo rule picks, the
# SCOPE PREFIX-LENGTH hadnsd must answer with: the database network's length).
ECS_FEW = [("192.0.2.0", "eu", 24),      # EU/DE: continent:EU
           ("198.51.100.0", "west", 24),  # NA/US/CA: subdivision:US-CA
           ("203.0.113.0", "asia", 24),   # AS/JP: no key matches, default
           ("127.0.0.0", "us", 8)]        # NA/US/TX (127.0.0.0/8): country:US
# 65,536 distinct /24s of 127.0.0.0/8, shuffled: more than the per-worker cache holds (4096
# slots), so most lookups go to the database.
ECS_MISS_NETS = 65536


def zone_text():
    lines = ["$ORIGIN %s." % ZONE, "$TTL 300",
             "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300", "@ IN NS ns1",
             "ns1 IN A 192.0.2.53"]
    for owner, addrs in (("www", ALL), ("two", [A1, A2]), ("fov", ALL), ("wtd", ALL),
                         ("geo", ALL)):
        lines += ["%s IN A %s" % (owner, a) for a in addrs]
    return "\n".join(lines) + "\n"


# Each variant: key, label, which server, the name asked, ECS ("few", "miss" or None), the
# answers it may give (groups or address lists), and the static variant that answers the same
# size ("matched").
VARIANTS = [
    {"key": "floor", "label": "floor (echo, REFUSED)", "server": "floor", "owner": "www",
     "ecs": None},
    {"key": "static-noconf", "label": "static, no policies configured (4 A)",
     "server": "hadnsd-plain", "owner": "www", "ecs": None, "want": [ALL], "matched": "static"},
    {"key": "static", "label": "static (4 A)", "server": "hadnsd-pol", "owner": "www",
     "ecs": None, "want": [ALL]},
    {"key": "static-2", "label": "static (2 A)", "server": "hadnsd-pol", "owner": "two",
     "ecs": None, "want": [[A1, A2]], "matched": "static"},
    {"key": "static-ecs", "label": "static + ECS, 4 /24s (2 A)", "server": "hadnsd-pol",
     "owner": "two", "ecs": "few", "want": [[A1, A2]], "matched": "static-2"},
    {"key": "failover", "label": "failover (2 of 4 A)", "server": "hadnsd-pol", "owner": "fov",
     "ecs": None, "want": ["eu"], "matched": "static-2", "policy": True},
    {"key": "weighted", "label": "weighted (2 of 4 A)", "server": "hadnsd-pol", "owner": "wtd",
     "ecs": None, "want": ["eu", "us"], "matched": "static-2", "policy": True},
    {"key": "geo", "label": "geo, by source 127.0.0.1 (2 of 4 A)", "server": "hadnsd-pol",
     "owner": "geo", "ecs": None, "want": ["us"], "matched": "static-2", "policy": True},
    {"key": "geo-ecs", "label": "geo + ECS, 4 /24s (2 of 4 A)", "server": "hadnsd-pol",
     "owner": "geo", "ecs": "few", "matched": "static-ecs", "policy": True},
    {"key": "geo-ecs-miss", "label": "geo + ECS, 65,536 /24s (2 of 4 A)",
     "server": "hadnsd-pol", "owner": "geo", "ecs": "miss", "matched": "static-ecs",
     "policy": True, "extra": True},
]


class PolHadnsd(B.Hadnsd):
    """hadnsd serving pol.test; with_policies: the policies and the GeoIP database too."""

    def __init__(self, name, opts, workdir, zonefile, mmdb=None):
        super().__init__(name, opts, workdir, zonefile)
        self.mmdb = mmdb

    def configure(self):
        cfg = {"listen": ["%s:%d" % (B.LOOPBACK, self.port)], "workers": 1, "udp_payload": 1232,
               "log_level": "notice", "zone_dir": os.path.dirname(self.zonefile),
               "zones": [{"name": ZONE, "file": os.path.basename(self.zonefile)}]}
        if self.mmdb:
            cfg["geoip"] = {"database": self.mmdb}
            cfg["policies"] = POLICIES
        self.conf = os.path.join(self.dir, "hadnsd.json")
        with open(self.conf, "w") as f:
            json.dump(cfg, f, indent=2)

    def env(self):
        return None  # hadnsd's default UDP driver (Hadnsd.env reads a driver from the name)


# ---------------------------------------------------------------------------------------------
# Queries: dnsperf's binary input (-B: a 2-byte length, then the message; dnsperf overwrites
# the ID).  Every query has an OPT record (payload 1232, as dnsperf -e would add one).

def wire_query(name, ecs_net=None, ecs_len=24):
    q = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1)
    for lab in name.split("."):
        q += bytes([len(lab)]) + lab.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    opt = b""
    if ecs_net:
        a = socket.inet_aton(ecs_net)[:(ecs_len + 7) // 8]
        opt = struct.pack("!HHHBB", 8, 4 + len(a), 1, ecs_len, 0) + a
    return q + b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(opt)) + opt


def ecs_list(kind):
    if kind == "few":
        return [(net, grp, scope) for net, grp, scope in ECS_FEW]
    if kind == "miss":
        nets = ["127.%d.%d.0" % (i >> 8, i & 255) for i in range(ECS_MISS_NETS)]
        random.Random(1).shuffle(nets)
        return [(n, "us", 8) for n in nets]
    return [None]


def sim_cache_hits(nets, slots=4096):
    """The share of lookups that would hit hadnsd's per-worker GeoIP cache (src/geoip.c: one
    direct-mapped slot per /24, Fibonacci hash) when dnsperf cycles through nets."""
    table = [None] * slots
    hits = total = 0
    for rnd in range(2):  # the second pass is the steady state
        for n in nets:
            a = socket.inet_aton(n)
            k = (4 << 24) | (a[0] << 16) | (a[1] << 8) | a[2]
            h = ((k * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32
            s = h & (slots - 1)
            if rnd:
                total += 1
                hits += table[s] == k
            table[s] = k
    return hits / total if total else 0.0


def write_qfile(path, v):
    name = "%s.%s" % (v["owner"], ZONE)
    with open(path, "wb") as f:
        ecs = ecs_list(v["ecs"])
        reps = max(1, 1000 // len(ecs))  # small files cycle; dnsperf loops over the file
        for _ in range(reps):
            for e in ecs:
                q = wire_query(name, e[0] if e else None)
                f.write(struct.pack("!H", len(q)) + q)


# ---------------------------------------------------------------------------------------------
# The pre-flight check: the answers, their ECS echo and scope, per variant.

def parse_full(m):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", m[:12])
    r = {"id": qid, "rcode": flags & 0xF, "aa": bool(flags & 0x400), "addrs": [], "ecs": None,
         "opt": False, "size": len(m)}
    off = 12
    for _ in range(qd):
        off = B.skip_name(m, off) + 4
    for sec, cnt in (("an", an), ("ns", ns), ("ar", ar)):
        for _ in range(cnt):
            off = B.skip_name(m, off)
            t, _cls, _ttl, rdlen = struct.unpack("!HHIH", m[off:off + 10])
            off += 10
            rd = m[off:off + rdlen]
            off += rdlen
            if sec == "an" and t == 1:
                r["addrs"].append(socket.inet_ntoa(rd))
            if sec == "ar" and t == 41:
                r["opt"] = True
                o = 0
                while o + 4 <= len(rd):
                    code, olen = struct.unpack("!HH", rd[o:o + 4])
                    val = rd[o + 4:o + 4 + olen]
                    o += 4 + olen
                    if code == 8 and len(val) >= 4:
                        fam, src, scope = struct.unpack("!HBB", val[:4])
                        r["ecs"] = (fam, src, scope)
    r["addrs"].sort()
    return r


def ask(port, wire, timeout=1.0, tries=3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        for _ in range(tries):
            qid = random.randrange(65536)
            s.sendto(struct.pack("!H", qid) + wire[2:], (B.LOOPBACK, port))
            try:
                while True:
                    m = s.recv(65535)
                    if len(m) >= 12 and struct.unpack("!H", m[:2])[0] == qid:
                        return parse_full(m)
            except (socket.timeout, ConnectionRefusedError):
                continue
        return None
    finally:
        s.close()


def preflight(v, port):
    """None when the server answers this variant's queries as the policy says, else why not."""
    name = "%s.%s" % (v["owner"], ZONE)
    ecs = ecs_list(v["ecs"])
    sample = ecs[:8] if v["ecs"] else [None] * (60 if v["key"] == "weighted" else 4)
    seen = set()
    for e in sample:
        r = ask(port, wire_query(name, e[0] if e else None))
        if r is None:
            return "%s: no answer" % name
        if v["server"] == "floor":
            if r["rcode"] != 5:
                return "floor did not answer REFUSED"
            continue
        if e and v["owner"] == "geo":
            want = [sorted(GROUPS[e[1]])]
        else:
            want = [sorted(GROUPS[w]) if isinstance(w, str) else sorted(w) for w in v["want"]]
        if r["rcode"] != 0 or not r["aa"] or r["addrs"] not in want:
            return "%s%s: rcode %d aa %d answer %s, expected one of %s" % (
                name, " ECS %s/24" % e[0] if e else "", r["rcode"], r["aa"], r["addrs"], want)
        if e:
            # The geo answer holds for the database network; a static one for everyone.
            scope = e[2] if v["key"].startswith("geo") else 0
            if r["ecs"] != (1, 24, scope):
                return "%s ECS %s/24: ECS echo %s, expected (1, 24, %d)" % (
                    name, e[0], r["ecs"], scope)
        elif r["ecs"] is not None:
            return "%s: ECS in the reply to a query without one" % name
        seen.add(tuple(r["addrs"]))
    if v["key"] == "weighted" and len(seen) < 2:
        return "weighted: 60 queries, always the same answer %s" % (sorted(seen),)
    return None


# ---------------------------------------------------------------------------------------------
# The mode.

def make_mmdb(opts, workdir):
    if opts.mmdb:
        return os.path.abspath(opts.mmdb)
    out = os.path.join(workdir, "geo.mmdb")
    script = os.path.join(B.HERE, "..", "..", "tests", "data", "mkmmdb.pl")
    p = subprocess.run(["perl", script, out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0:
        B.die("building the GeoIP test database failed (Debian: libmaxmind-db-writer-perl; or "
              "pass --mmdb FILE):\n" + p.stdout)
    return out


def run(opts, workdir):
    """Returns (report text, results)."""
    zdir = os.path.join(workdir, "zone-policy")
    os.makedirs(zdir, exist_ok=True)
    zonefile = os.path.join(zdir, ZONE + ".zone")
    with open(zonefile, "w") as f:
        f.write(zone_text())
    mmdb = make_mmdb(opts, workdir)
    variants = [v for v in VARIANTS if not (v.get("extra") and opts.policy_no_extra)]
    for v in variants:
        v["qfile"] = os.path.join(zdir, "q-%s.bin" % v["key"])
        write_qfile(v["qfile"], v)
    miss_hits = sim_cache_hits([n for n, _g, _s in ecs_list("miss")])

    results = {v["key"]: [] for v in variants}
    n = len(variants)
    for rnd in range(opts.rounds):
        servers = {"hadnsd-pol": PolHadnsd("hadnsd-pol", opts, workdir, zonefile, mmdb),
                   "hadnsd-plain": PolHadnsd("hadnsd-plain", opts, workdir, zonefile),
                   "floor": B.Floor("floor", opts, workdir, zonefile)}
        try:
            for name, srv in servers.items():
                srv.start()
                if name == "floor":
                    ok = B.wait_ready(srv, ZONE, "SOA", lambda r: r["rcode"] == 5, 10)
                else:
                    ok = B.wait_ready(srv, ZONE, "SOA", B.soa_ok, 60)
                if ok is None:
                    B.die("%s did not answer:\n%s" % (name, srv.log_tail()))
                srv.pin()
            for v in variants:
                why = preflight(v, servers[v["server"]].port)
                if why:
                    B.die("pre-flight check of %s failed: %s\n%s" % (
                        v["key"], why, servers[v["server"]].log_tail()))
            if rnd == 0:
                B.log("pre-flight check passed: %s" % ", ".join(v["key"] for v in variants))
            # Rotate the order by one each round, so that no variant always runs first (right
            # after the servers started) or always next to the same neighbour.
            order = variants[rnd % n:] + variants[:rnd % n]
            for v in order:
                srv = servers[v["server"]]
                if not srv.alive():
                    B.die("%s exited during the run:\n%s" % (srv.name, srv.log_tail()))
                res = B.run_dnsperf(opts, srv, v["qfile"], "udp", opts.rate, opts.duration,
                                    binary=True)
                res["round"] = rnd
                # The CPU figure: schedstat's ns when the kernel has it, else clock ticks.
                res["us_q"] = res["sched_us_q"] if res["sched_us_q"] is not None else \
                    res["cpu_us_q"]
                results[v["key"]].append(res)
                B.log("round %d %-13s %7.0f q/s  %.3f us/q  lost %d  resp %d B  server %.0f%% "
                      "(core %.0f%%)" % (rnd + 1, v["key"], res["qps"], res["us_q"],
                                         res["lost"], res["resp_size"],
                                         res["server_util"] * 100,
                                         res["server_core_busy"] * 100))
                if set(res["rcodes"]) - {"NOERROR"} and v["server"] != "floor":
                    B.log("warning: %s rcodes %s" % (v["key"], res["rcodes"]))
        finally:
            for srv in servers.values():
                srv.stop()
    text = report(opts, variants, results, miss_hits) + "\n\n" if opts.rounds else ""
    text += describe(miss_hits)
    if opts.callgrind:
        cg = callgrind_mode(opts, workdir, variants, zonefile, mmdb)
        text += "\n\n" + callgrind_report(variants, cg)
        results["callgrind"] = {k: {"queries": r["queries"], "lost": r["lost"], "ir": r["ir"],
                                    "file": r["file"]} for k, r in cg.items()}
    return text, results


def report(opts, variants, results, miss_hits):
    def per_round(key):
        return {r["round"]: r for r in results[key]}

    floor = per_round("floor")
    cpu, over, over_rng, cpu_rng, delta = {}, {}, {}, {}, {}
    for v in variants:
        k = v["key"]
        xs = [r["us_q"] for r in results[k]]
        cpu[k] = B.med(xs)
        cpu_rng[k] = (min(xs), max(xs))
        if k != "floor":
            pr = per_round(k)
            d = [pr[i]["us_q"] - floor[i]["us_q"] for i in pr if i in floor]
            over[k] = B.med(d)
            over_rng[k] = (min(d), max(d))
    st = per_round("static")
    for v in variants:
        k = v["key"]
        if k in ("floor", "static"):
            continue
        pr = per_round(k)
        d = [pr[i]["us_q"] - st[i]["us_q"] for i in pr if i in st]
        delta[k] = (B.med(d), min(d), max(d))

    ticks = any(r["sched_us_q"] is None for v in variants for r in results[v["key"]])

    def decided(b):
        """A ratio to b's overhead means something only when that overhead was above the
        floor in every round; an overhead that straddles 0 makes any ratio to it noise."""
        return b in over_rng and over_rng[b][0] > 0

    def ratio(a, b):
        return "%.2f" % (over[a] / over[b]) if decided(b) else "—"

    head = ("| variant | CPU µs/query | min–max | overhead above floor, µs/query | min–max | "
            "− static (4 A), µs/query, median (min–max) | overhead / static's | "
            "overhead / matched static's | avg response, bytes | answered q/s | lost | "
            "server core busy |")
    lines = ["**Policy answers: %d rounds, %s s per run at %d q/s, UDP, one worker, hadnsd "
             "and floor pinned to core %d, dnsperf to core %d**" % (
                 opts.rounds, opts.duration, opts.rate, opts.server_core, opts.client_core),
             "", "CPU time: the server's, from %s, per answered query." % (
                 "/proc/PID/stat utime+stime (10-ms ticks)" if ticks else
                 "/proc/PID/task/*/schedstat (to the ns)"), "", head,
             "|" + "|".join(["---"] + ["---:"] * (head.count("|") - 2)) + "|"]
    for v in variants:
        k = v["key"]
        rs = results[k]
        m = v.get("matched")
        cells = [v["label"], "%.2f" % cpu[k], "%.2f–%.2f" % cpu_rng[k]]
        if k == "floor":
            cells += ["—", "", "", "", ""]
        else:
            cells += ["%.2f" % over[k], "%.2f–%.2f" % over_rng[k]]
            cells.append("%+.2f (%+.2f to %+.2f)" % delta[k] if k in delta else "—")
            cells.append(ratio(k, "static") if k != "static" else "1")
            cells.append("%s (%s)" % (ratio(k, m), m) if m else "")
        cells += ["%d" % B.med([r["resp_size"] for r in rs]),
                  "%.1fk" % (B.med([r["qps"] for r in rs]) / 1000),
                  "%d" % sum(r["lost"] for r in rs),
                  "%.0f%%" % (100 * B.med([r["server_core_busy"] for r in rs]))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Ratios are left out (—) where the base's overhead above the floor was not "
                 "above 0 in every round: a ratio to an overhead within noise of 0 is noise.")
    lines.append("")
    lines.append("Target: a policy answer's overhead above the floor within 10 % of a static "
                 "answer's (ratio ≤ 1.10), by CPU time:")
    for v in variants:
        if not v.get("policy"):
            continue
        k = v["key"]
        for base in ["static"] + ([v["matched"]] if v["matched"] != "static" else []):
            if not decided(base):
                lines.append("- undecided: %s vs %s: %.2f vs %.2f µs/query, but %s's overhead "
                             "above the floor was not above 0 in every round (%.2f to %.2f): "
                             "noise" % (k, base, over[k], over[base], base,
                                        over_rng[base][0], over_rng[base][1]))
                continue
            r = over[k] / over[base]
            lines.append("- %s%s: %s vs %s: %.2f× (%.2f vs %.2f µs/query)" % (
                "MET" if r <= 1.10 else "MISSED", " (extra, not a target)" if v.get("extra")
                else "", k, base, r, over[k], over[base]))
    return "\n".join(lines)


def describe(miss_hits):
    return ("Variants: `static` answers the whole RRset; each policy answers a group of two of "
            "its four records (failover `[\"eu\", \"us\"]` with every check null, so always "
            "the first group; weighted eu 2 : us 1; geo by subdivision, country, continent, "
            "default).  \"matched\" is the static answer of the same size: static (2 A) for "
            "failover, weighted and geo; static (2 A) + ECS (the same ECS options, echoed with "
            "scope 0) for geo + ECS.  The 4 /24s are 192.0.2.0 (EU), 198.51.100.0 (US-CA), "
            "203.0.113.0 (JP: default) and 127.0.0.0 (US-TX), cycled; the GeoIP cache holds "
            "them all.  The 65,536 /24s are all of 127.0.0.0/8, shuffled: %.0f %% of their "
            "lookups hit the cache (simulated from src/geoip.c's hash), the rest go to the "
            "database." % (100 * miss_hits))


# ---------------------------------------------------------------------------------------------
# --callgrind: user-space instructions per query of each variant, exactly (valgrind's
# callgrind), and where a policy answer's extra instructions go, function by function.  CPU
# time on a shared 2-core machine moves by more than a policy's extra work; instruction counts
# do not move at all.  The kernel's share (the same for every variant of a size) is not counted.

def callgrind_mode(opts, workdir, variants, zonefile, mmdb):
    servers = {"hadnsd-pol": B.under_callgrind(PolHadnsd)("callgrind-hadnsd-pol", opts,
                                                            workdir, zonefile, mmdb),
               "hadnsd-plain": B.under_callgrind(PolHadnsd)("callgrind-hadnsd-plain", opts,
                                                              workdir, zonefile),
               "floor": B.under_callgrind(B.Floor)("callgrind-floor", opts, workdir, zonefile)}
    out = {}
    try:
        for name, srv in servers.items():
            srv.start()
            check = (lambda r: r["rcode"] == 5) if name == "floor" else B.soa_ok
            if B.wait_ready(srv, ZONE, "SOA", check, 120) is None:
                B.die("%s under callgrind did not answer:\n%s" % (name, srv.log_tail()))
        for v in variants:
            why = preflight(v, servers[v["server"]].port)
            if why:
                B.die("pre-flight check of %s under callgrind failed: %s" % (v["key"], why))
        for v in variants:
            srv = servers[v["server"]]
            nq = opts.callgrind_queries
            with open(v["qfile"], "rb") as f:
                per_file = 0
                data = f.read()
                i = 0
                while i < len(data):
                    per_file += 1
                    i += 2 + struct.unpack("!H", data[i:i + 2])[0]
            r = B.callgrind_count(opts, srv, v["qfile"], max(1, -(-nq // per_file)), v["key"],
                                  binary=True)
            if "error" in r:
                B.die("%s not counted: %s" % (v["key"], r["error"]))
            r["file"] = r["files"][-1]
            out[v["key"]] = r
            B.log("callgrind %-13s %d queries, %.0f instructions/query" % (
                v["key"], r["queries"], r["ir"] / r["queries"]))
    finally:
        for srv in servers.values():
            srv.stop()
    return out


def callgrind_report(variants, cg):
    per_q = {k: r["ir"] / r["queries"] for k, r in cg.items()}
    fl = per_q.get("floor", 0.0)
    st = per_q["static"] - fl
    head = ("| variant | instructions/query | − floor | − static (4 A) | − matched static | "
            "(− floor) / static's | (− floor) / matched static's |")
    lines = ["**Policy answers, user-space instructions per query (callgrind; one query at a "
             "time; every thread of the server; kernel not counted)**", "", head,
             "|" + "|".join(["---"] + ["---:"] * (head.count("|") - 2)) + "|"]
    for v in variants:
        k = v["key"]
        if k not in per_q:
            continue
        m = v.get("matched")
        x = per_q[k]
        if k == "floor":
            lines.append("| %s | %.0f | — | | | | |" % (v["label"], x))
            continue
        lines.append("| %s | %.0f | %.0f | %s | %s | %s | %s |" % (
            v["label"], x, x - fl, "%+.0f" % (x - per_q["static"]) if k != "static" else "—",
            "%+.0f (%s)" % (x - per_q[m], m) if m else "",
            "%.2f" % ((x - fl) / st) if k != "static" else "1",
            "%.2f" % ((x - fl) / (per_q[m] - fl)) if m else ""))
    lines += ["", "The same target by user-space instructions (overhead above the floor's "
              "instructions, ratio ≤ 1.10):"]
    for v in variants:
        if not v.get("policy") or v["key"] not in per_q:
            continue
        k = v["key"]
        for base in ["static"] + ([v["matched"]] if v["matched"] != "static" else []):
            r = (per_q[k] - fl) / (per_q[base] - fl)
            lines.append("- %s%s: %s vs %s: %.2f× (%.0f vs %.0f instructions/query above the "
                         "floor)" % ("MET" if r <= 1.10 else "MISSED",
                                     " (extra, not a target)" if v.get("extra") else "", k, base,
                                     r, per_q[k] - fl, per_q[base] - fl))
    lines += ["", "Where each policy answer's extra instructions go: self instructions per "
              "query by function, against its matched static answer (functions that moved by "
              "at least 3; `put_rrset` includes `put_dynamic`, inlined):", ""]
    for v in variants:
        if not v.get("policy") or v["key"] not in cg:
            continue
        k, m = v["key"], v["matched"]
        a, b = cg[m], cg[k]
        fa = {f: c / a["queries"] for f, c in a["self"].items()}
        fb = {f: c / b["queries"] for f, c in b["self"].items()}
        diffs = sorted(((fb.get(f, 0) - fa.get(f, 0), f) for f in set(fa) | set(fb)),
                       key=lambda t: -abs(t[0]))
        parts = ["`%s` %+.0f" % (f, d) for d, f in diffs if abs(d) >= 3]
        lines.append("- %s vs %s, %+.0f in all: %s" % (k, m, per_q[k] - per_q[m],
                                                      ", ".join(parts[:12])))
    return "\n".join(lines)
