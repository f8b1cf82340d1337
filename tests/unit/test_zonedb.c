/* SPDX-License-Identifier: MIT */
/* test_zonedb.c: zone construction, the RFC 1034 §4.3.2 / RFC 4592 lookup, the zone set, and
 * zone-file loading with its file:line errors. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dname.h"
#include "test_util.h"
#include "wire.h"
#include "zonedb.h"
#include "zoneload.h"

/* ---- helpers ---- */

static zone_t *load(const char *file, const char *origin)
{
    hadns_err_t err = {{0}};
    zone_t *z = zoneload_file(origin, tu_data(file), &err);
    cr_assert_not_null(z, "%s: %s", file, err.msg);
    cr_assert_eq(err.msg[0], '\0');
    return z;
}

struct hit {
    enum zlookup_kind kind;
    const znode_t *node;
    char name[DNAME_MAXSTR]; /* the node's name */
};

static struct hit lookup(const zone_t *z, const char *qname, bool is_ds)
{
    uint8_t name[DNAME_MAXLEN], off[DNAME_MAXLABELS];
    size_t len = dname_from_str(qname, name);
    cr_assert(len, "'%s'", qname);
    unsigned n = dname_label_offsets(name, off);
    struct hit h = {.node = NULL};
    uint32_t hash[DNAME_MAXLABELS + 1];
    dname_suffix_hashes(name, off, n, hash);
    h.kind = zone_lookup(z, name, len, off, n, hash, is_ds, &h.node);
    cr_assert_not_null(h.node, "%s: no node", qname);
    dname_to_str(h.node->name, h.name);
    return h;
}

static const char *kind_name(enum zlookup_kind k)
{
    static const char *names[] = {"EXACT", "WILDCARD", "DELEGATION", "NXDOMAIN"};
    return (unsigned)k < 4 ? names[k] : "?";
}

static void expect(const zone_t *z, const char *qname, bool is_ds, enum zlookup_kind kind,
                   const char *node)
{
    struct hit h = lookup(z, qname, is_ds);
    cr_assert_eq(h.kind, kind, "%s%s: %s at %s, expected %s at %s", qname, is_ds ? " (DS)" : "",
                 kind_name(h.kind), h.name, kind_name(kind), node);
    cr_assert_str_eq(h.name, node, "%s: node %s, expected %s", qname, h.name, node);
}

static const znode_t *find(const zone_t *z, const char *text)
{
    uint8_t name[DNAME_MAXLEN];
    size_t len = dname_from_str(text, name);
    return zone_find(z, name, len, dname_hash(name, len));
}

/* ---- RFC 4592 §2.2.1 ---- */

Test(rfc4592, synthesized)
{
    zone_t *z = load("rfc4592.zone", "example.");
    /* "QNAME=host3.example. QTYPE=MX ... the answer will be a 'host3.example. IN MX ...'" */
    expect(z, "host3.example.", false, ZL_WILDCARD, "*.example.");
    struct hit h = lookup(z, "host3.example.", false);
    cr_assert_not_null(znode_rrset(h.node, T_MX));
    /* "QNAME=host3.example. QTYPE=A ... 'no error, but no data'": the wildcard matches but
     * holds no A. */
    cr_assert_null(znode_rrset(h.node, T_A));
    /* "QNAME=foo.bar.example. QTYPE=TXT ... 'foo.bar.example. IN TXT ...' because
     * bar.example. does not exist, but the wildcard does." */
    expect(z, "foo.bar.example.", false, ZL_WILDCARD, "*.example.");
    cr_assert_not_null(znode_rrset(lookup(z, "foo.bar.example.", false).node, T_TXT));
    zone_unref(z);
}

Test(rfc4592, not_synthesized)
{
    zone_t *z = load("rfc4592.zone", "example.");
    /* "QNAME=host1.example., QTYPE=MX ... because host1.example. exists" */
    expect(z, "host1.example.", false, ZL_EXACT, "host1.example.");
    cr_assert_null(znode_rrset(lookup(z, "host1.example.", false).node, T_MX));
    /* "QNAME=sub.*.example., QTYPE=MX ... because sub.*.example. exists" */
    expect(z, "sub.*.example.", false, ZL_EXACT, "sub.*.example.");
    /* "QNAME=_telnet._tcp.host1.example., QTYPE=SRV ... because _tcp.host1.example. exists
     * (without data)": the closest encloser is that empty non-terminal, which has no
     * wildcard child. */
    expect(z, "_telnet._tcp.host1.example.", false, ZL_NXDOMAIN, "_tcp.host1.example.");
    struct hit h = lookup(z, "_tcp.host1.example.", false);
    cr_assert_eq(h.kind, ZL_EXACT);
    cr_assert(h.node->flags & ZN_ENT);
    cr_assert_eq(h.node->nrrsets, 0);
    /* "QNAME=host.subdel.example., QTYPE=A ... because subdel.example. exists (and is a zone
     * cut)" */
    expect(z, "host.subdel.example.", false, ZL_DELEGATION, "subdel.example.");
    /* "QNAME=ghost.*.example., QTYPE=MX ... because *.example. exists": the closest encloser
     * is *.example., which has no "*" child of its own. */
    expect(z, "ghost.*.example.", false, ZL_NXDOMAIN, "*.example.");
    zone_unref(z);
}

Test(rfc4592, wildcard_itself_and_ents)
{
    zone_t *z = load("rfc4592.zone", "example.");
    /* RFC 4592 §2.1.1: a query for the wildcard name itself is an ordinary exact match. */
    expect(z, "*.example.", false, ZL_EXACT, "*.example.");
    /* host2.example. exists only as an ENT (for _ssh._tcp.host2): it blocks the wildcard. */
    expect(z, "host2.example.", false, ZL_EXACT, "host2.example.");
    cr_assert(lookup(z, "host2.example.", false).node->flags & ZN_ENT);
    expect(z, "x.host2.example.", false, ZL_NXDOMAIN, "host2.example.");
    /* A name below a non-existent name below the apex: still the apex's wildcard. */
    expect(z, "a.b.c.d.example.", false, ZL_WILDCARD, "*.example.");
    zone_unref(z);
}

/* ---- the other lookup cases ---- */

Test(lookup, exact_and_apex)
{
    zone_t *z = load("zonedb.zone", "example.");
    expect(z, "www.example.", false, ZL_EXACT, "www.example.");
    expect(z, "example.", false, ZL_EXACT, "example.");
    const znode_t *apex = lookup(z, "example.", false).node;
    cr_assert_eq(apex, z->apex);
    cr_assert(apex->flags & ZN_APEX);
    cr_assert_not(apex->flags & ZN_DELEG, "NS at the apex is not a cut");
    cr_assert_null(apex->cut);
    cr_assert_not_null(znode_rrset(apex, T_SOA));
    cr_assert_not_null(znode_rrset(apex, T_NS));
    cr_assert_null(znode_rrset(apex, T_MX));
    zone_unref(z);
}

Test(lookup, cname_node)
{
    zone_t *z = load("zonedb.zone", "example.");
    struct hit h = lookup(z, "alias.example.", false);
    cr_assert_eq(h.kind, ZL_EXACT);
    const rrset_t *cn = znode_rrset(h.node, T_CNAME);
    cr_assert_not_null(cn);
    cr_assert_eq(cn->count, 1);
    cr_assert_eq(h.node->nrrsets, 1);
    cr_assert_eq(rrset_rdata_len(cn), 2 + 13);
    cr_assert(memcmp(cn->rdata, "\0\15\3www\7example", 15) == 0);
    zone_unref(z);
}

Test(lookup, wildcard_and_blocking_name)
{
    zone_t *z = load("zonedb.zone", "example.");
    expect(z, "foo.wild.example.", false, ZL_WILDCARD, "*.wild.example.");
    expect(z, "a.b.foo.wild.example.", false, ZL_WILDCARD, "*.wild.example.");
    /* "wild" is an ENT (only names below it exist): it is the closest encloser of the above. */
    expect(z, "wild.example.", false, ZL_EXACT, "wild.example.");
    /* An existing name is answered from itself and blocks the wildcard below it too. */
    expect(z, "exists.wild.example.", false, ZL_EXACT, "exists.wild.example.");
    expect(z, "x.exists.wild.example.", false, ZL_NXDOMAIN, "exists.wild.example.");
    const znode_t *w = find(z, "*.wild.example.");
    cr_assert_not_null(w);
    cr_assert_eq(znode_wild(z, find(z, "wild.example.")), w);
    cr_assert_null(znode_wild(z, z->apex));
    zone_unref(z);
}

Test(lookup, nxdomain_closest_encloser)
{
    zone_t *z = load("zonedb.zone", "example.");
    expect(z, "nope.example.", false, ZL_NXDOMAIN, "example.");
    expect(z, "a.b.nope.example.", false, ZL_NXDOMAIN, "example.");
    expect(z, "x.www.example.", false, ZL_NXDOMAIN, "www.example.");
    expect(z, "x.b.ent.example.", false, ZL_NXDOMAIN, "b.ent.example.");
    /* Not a label-boundary match: "aent" is not "ent". */
    expect(z, "aent.example.", false, ZL_NXDOMAIN, "example.");
    zone_unref(z);
}

Test(lookup, empty_non_terminals)
{
    zone_t *z = load("zonedb.zone", "example.");
    static const char *ents[] = {"ent.example.", "b.ent.example."};
    for (int i = 0; i < 2; i++) {
        struct hit h = lookup(z, ents[i], false);
        cr_assert_eq(h.kind, ZL_EXACT, "%s", ents[i]);
        cr_assert_str_eq(h.name, ents[i]);
        cr_assert(h.node->flags & ZN_ENT);
        cr_assert_eq(h.node->nrrsets, 0);
    }
    expect(z, "a.b.ent.example.", false, ZL_EXACT, "a.b.ent.example.");
    cr_assert_not(lookup(z, "a.b.ent.example.", false).node->flags & ZN_ENT);
    zone_unref(z);
}

Test(lookup, delegation)
{
    zone_t *z = load("zonedb.zone", "example.");
    const znode_t *cut = find(z, "child.example.");
    cr_assert_not_null(cut);
    cr_assert(cut->flags & ZN_DELEG);
    cr_assert_eq(cut->cut, cut);
    /* At the cut, for anything but DS: the referral. */
    expect(z, "child.example.", false, ZL_DELEGATION, "child.example.");
    /* DS at the cut is the parent's own data (RFC 4035 §3.1.4.1). */
    expect(z, "child.example.", true, ZL_EXACT, "child.example.");
    cr_assert_not_null(znode_rrset(cut, T_DS));
    /* Below the cut: glue, occluded data, ENTs, names that do not exist, DS too. */
    expect(z, "ns1.child.example.", false, ZL_DELEGATION, "child.example.");
    expect(z, "ns1.child.example.", true, ZL_DELEGATION, "child.example.");
    expect(z, "deep.below.child.example.", false, ZL_DELEGATION, "child.example.");
    expect(z, "below.child.example.", false, ZL_DELEGATION, "child.example.");
    expect(z, "nothere.child.example.", false, ZL_DELEGATION, "child.example.");
    expect(z, "a.b.nothere.child.example.", true, ZL_DELEGATION, "child.example.");
    /* The wildcard under the cut never synthesizes. */
    expect(z, "*.child.example.", false, ZL_DELEGATION, "child.example.");
    cr_assert_eq(find(z, "deep.below.child.example.")->cut, cut);
    cr_assert_eq(find(z, "below.child.example.")->cut, cut);
    cr_assert_null(find(z, "www.example.")->cut);
    zone_unref(z);
}

Test(lookup, nested_cuts_use_the_highest)
{
    /* A cut below a cut: everything below child answers with child's referral. */
    char dir[] = "/tmp/hadns-zonedb-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const char *p = tu_write(dir, "z",
                             "$ORIGIN example.\n$TTL 60\n"
                             "@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
                             "child NS ns.child\nns.child A 192.0.2.2\n"
                             "grand.child NS ns.grand.child\n");
    hadns_err_t err = {{0}};
    zone_t *z = zoneload_file("example.", p, &err);
    cr_assert_not_null(z, "%s", err.msg);
    expect(z, "grand.child.example.", false, ZL_DELEGATION, "child.example.");
    expect(z, "grand.child.example.", true, ZL_DELEGATION, "child.example.");
    expect(z, "x.grand.child.example.", false, ZL_DELEGATION, "child.example.");
    zone_unref(z);
    unlink(p);
    rmdir(dir);
}

Test(lookup, case_and_merging)
{
    zone_t *z = load("zonedb.zone", "example.");
    /* "www" and "WWW" are one owner: one A RRset of two records, in file order. */
    const znode_t *n = find(z, "www.example.");
    cr_assert_not_null(n);
    cr_assert_eq(n->nrrsets, 1);
    const rrset_t *a = znode_rrset(n, T_A);
    cr_assert_eq(a->count, 2);
    cr_assert_eq(rrset_rdata_len(a), 12);
    cr_assert(memcmp(a->rdata, "\0\4\xc0\0\2\1\0\4\xc0\0\2\2", 12) == 0);
    cr_assert_eq(a->ttl, 3600);
    cr_assert(n->flags & ZN_ADDR);
    /* zone_find is for lowercase names only. */
    cr_assert_null(zone_find(z, (const uint8_t *)"\3WWW\7example", 13,
                             dname_hash((const uint8_t *)"\3WWW\7example", 13)));
    zone_unref(z);
}

Test(lookup, zone_fields_and_targets)
{
    zone_t *z = load("zonedb.zone", "example.");
    cr_assert_eq(z->serial, 2024010101u);
    cr_assert_eq(z->neg_ttl, 300, "RFC 2308 §5: min(SOA TTL 3600, MINIMUM 300)");
    cr_assert_eq(z->labels, 1);
    cr_assert_eq(z->name_len, 9);
    cr_assert_str_eq(z->file, tu_data("zonedb.zone"));
    /* Apex NS: ns1 is in the zone with addresses, ns2.example.net. is not. */
    const rrset_t *ns = znode_rrset(z->apex, T_NS);
    cr_assert_not_null(ns->targets);
    cr_assert_eq(ns->targets[0], find(z, "ns1.example."));
    cr_assert_null(ns->targets[1]);
    /* Delegation NS: the glue node is the target. */
    const rrset_t *cns = znode_rrset(find(z, "child.example."), T_NS);
    cr_assert_eq(cns->targets[0], find(z, "ns1.child.example."));
    cr_assert_null(cns->targets[1]);
    /* MX: in zone, out of zone, below the cut (resolved; answer.c decides it is glue). */
    const rrset_t *mx = znode_rrset(find(z, "mx.example."), T_MX);
    cr_assert_eq(mx->count, 3);
    cr_assert_eq(mx->targets[0], find(z, "www.example."));
    cr_assert_null(mx->targets[1]);
    cr_assert_eq(mx->targets[2], find(z, "ns1.child.example."));
    /* Types without additional processing have no targets. */
    cr_assert_null(znode_rrset(find(z, "alias.example."), T_CNAME)->targets);
    cr_assert_eq(zone_target_offset(T_NS), 0);
    cr_assert_eq(zone_target_offset(T_MX), 2);
    cr_assert_eq(zone_target_offset(T_SRV), 6);
    cr_assert_eq(zone_target_offset(T_CNAME), -1);
    cr_assert_eq(zone_target_offset(T_A), -1);
    zone_unref(z);
}

/* ---- the builder ---- */

/* SOA rdata "root root serial 7200 3600 1209600 minimum". */
static size_t soa_rdata(uint8_t *rd, uint32_t serial, uint32_t minimum)
{
    rd[0] = 0;
    rd[1] = 0;
    wr32(rd + 2, serial);
    wr32(rd + 6, 7200);
    wr32(rd + 10, 3600);
    wr32(rd + 14, 1209600);
    wr32(rd + 18, minimum);
    return 22;
}

/* A minimal zone at origin (text) built through the builder: SOA (ttl soa_ttl), NS, plus an A
 * at "www". */
static zone_t *mkzone(const char *origin, uint32_t soa_ttl, uint32_t minimum)
{
    uint8_t o[DNAME_MAXLEN], rd[64], www[DNAME_MAXLEN + 4];
    size_t ol = dname_from_str(origin, o);
    zone_builder_t *zb = zone_builder_new(o, ol);
    hadns_err_t err = {{0}};
    size_t rl = soa_rdata(rd, 1, minimum);
    cr_assert(zone_builder_add(zb, o, ol, T_SOA, soa_ttl, rd, rl, 1, &err), "%s", err.msg);
    cr_assert(zone_builder_add(zb, o, ol, T_NS, 3600, (const uint8_t *)"\2ns\0", 4, 2, &err));
    memcpy(www, "\3www", 4);
    memcpy(www + 4, o, ol);
    cr_assert(
        zone_builder_add(zb, www, ol + 4, T_A, 60, (const uint8_t *)"\xc0\0\2\1", 4, 3, &err));
    zone_t *z = zone_builder_finish(zb, "built", &err);
    cr_assert_not_null(z, "%s", err.msg);
    return z;
}

Test(builder, negative_ttl_is_the_minimum_of_both)
{
    zone_t *z = mkzone("example.", 60, 600);
    cr_assert_eq(z->neg_ttl, 60, "SOA TTL 60 < MINIMUM 600");
    zone_unref(z);
    z = mkzone("example.", 3600, 300);
    cr_assert_eq(z->neg_ttl, 300);
    zone_unref(z);
}

Test(builder, owner_outside_the_zone)
{
    uint8_t o[DNAME_MAXLEN];
    size_t ol = dname_from_str("example.com.", o);
    zone_builder_t *zb = zone_builder_new(o, ol);
    hadns_err_t err = {{0}};
    /* "aexample.com." shares bytes with the origin but is not below it. */
    cr_assert_not(zone_builder_add(zb, (const uint8_t *)"\10aexample\3com", 14, T_A, 1,
                                   (const uint8_t *)"\1\2\3\4", 4, 42, &err));
    cr_assert_str_eq(err.msg, "42: aexample.com. is outside the zone example.com.");
    err_clear(&err);
    cr_assert_not(zone_builder_add(zb, (const uint8_t *)"\3com", 5, T_A, 1,
                                   (const uint8_t *)"\1\2\3\4", 4, 43, &err));
    cr_assert_not_null(strstr(err.msg, "43: com. is outside"));
    /* A mixed-case owner inside the zone is fine. */
    err_clear(&err);
    cr_assert(zone_builder_add(zb, (const uint8_t *)"\3WwW\7EXAMPLE\3com", 17, T_A, 1,
                               (const uint8_t *)"\1\2\3\4", 4, 44, &err),
              "%s", err.msg);
    zone_builder_free(zb);
}

Test(builder, empty_zone_has_no_soa)
{
    uint8_t o[DNAME_MAXLEN];
    size_t ol = dname_from_str("example.", o);
    hadns_err_t err = {{0}};
    cr_assert_null(zone_builder_finish(zone_builder_new(o, ol), "empty.zone", &err));
    cr_assert_str_eq(err.msg, "empty.zone: no SOA record at the zone apex example.");
}

Test(builder, refcounts)
{
    zone_t *z = mkzone("example.", 60, 60);
    cr_assert_eq(atomic_load(&z->refs), 1);
    zone_ref(z);
    cr_assert_eq(atomic_load(&z->refs), 2);
    zone_unref(z);
    cr_assert_eq(atomic_load(&z->refs), 1);
    zone_unref(z); /* freed; the leak checker of a sanitizer build would see it otherwise */
    zone_unref(NULL);
}

/* ---- the zone set ---- */

static const zone_t *zs_find(const zoneset_t *zs, const char *qname, unsigned from)
{
    uint8_t name[DNAME_MAXLEN], off[DNAME_MAXLABELS];
    size_t len = dname_from_str(qname, name);
    unsigned n = dname_label_offsets(name, off);
    uint32_t hash[DNAME_MAXLABELS + 1];
    dname_suffix_hashes(name, off, n, hash);
    return zoneset_find(zs, name, len, off, n, hash, from);
}

Test(zoneset, longest_match)
{
    zone_t *z[3] = {mkzone("example.com.", 60, 60), mkzone("sub.example.com.", 60, 60),
                    mkzone("a.b.sub.example.com.", 60, 60)};
    zoneset_t *zs = zoneset_new(z, 3);
    cr_assert_eq(zs->nzones, 3);
    cr_assert_eq(zs_find(zs, "www.example.com.", 0), z[0]);
    cr_assert_eq(zs_find(zs, "example.com.", 0), z[0]);
    cr_assert_eq(zs_find(zs, "sub.example.com.", 0), z[1]);
    cr_assert_eq(zs_find(zs, "x.sub.example.com.", 0), z[1]);
    cr_assert_eq(zs_find(zs, "b.sub.example.com.", 0), z[1]);
    cr_assert_eq(zs_find(zs, "a.b.sub.example.com.", 0), z[2]);
    cr_assert_eq(zs_find(zs, "X.Y.a.b.sub.example.com.", 0), z[2]);
    cr_assert_null(zs_find(zs, "example.org.", 0));
    cr_assert_null(zs_find(zs, "com.", 0));
    cr_assert_null(zs_find(zs, ".", 0));
    cr_assert_null(zs_find(zs, "aexample.com.", 0));
    /* `from` skips the first labels: the parent of a zone's apex (DS answering). */
    cr_assert_eq(zs_find(zs, "sub.example.com.", 1), z[0]);
    cr_assert_eq(zs_find(zs, "a.b.sub.example.com.", 1), z[1]);
    cr_assert_null(zs_find(zs, "example.com.", 1));
    /* zoneset_get is exact. */
    uint8_t n[DNAME_MAXLEN];
    size_t l = dname_from_str("sub.example.com.", n);
    cr_assert_eq(zoneset_get(zs, n, l), z[1]);
    l = dname_from_str("x.sub.example.com.", n);
    cr_assert_null(zoneset_get(zs, n, l));
    /* The set holds its own references. */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&z[i]->refs), 2);
        zone_unref(z[i]);
    }
    zoneset_free(zs);
    zoneset_free(NULL);
}

/* Twenty-two zones in one set, nested and side by side: the longest origin still wins. */
Test(zoneset, nested_among_many)
{
    enum { N = 20 };
    zone_t *z[N + 2];
    for (int i = 0; i < N; i++) {
        char o[32];
        snprintf(o, sizeof(o), "z%d.example.", i);
        z[i] = mkzone(o, 60, 60);
    }
    z[N] = mkzone("example.", 60, 60);
    z[N + 1] = mkzone("a.z3.example.", 60, 60);
    zoneset_t *zs = zoneset_new(z, N + 2);
    cr_assert_eq(zs_find(zs, "www.z7.example.", 0), z[7]);
    cr_assert_eq(zs_find(zs, "z19.example.", 0), z[19]);
    cr_assert_eq(zs_find(zs, "z20.example.", 0), z[N], "not a zone: the parent");
    cr_assert_eq(zs_find(zs, "x.y.a.z3.example.", 0), z[N + 1]);
    cr_assert_eq(zs_find(zs, "b.z3.example.", 0), z[3]);
    cr_assert_eq(zs_find(zs, "a.z3.example.", 1), z[3], "DS: the parent side");
    cr_assert_null(zs_find(zs, "example.org.", 0));
    cr_assert_null(zs_find(zs, "example.", 1));
    for (int i = 0; i < N + 2; i++)
        zone_unref(z[i]);
    zoneset_free(zs);
}

Test(zoneset, root_zone_catches_all)
{
    zone_t *z[2] = {mkzone(".", 60, 60), mkzone("example.", 60, 60)};
    zoneset_t *zs = zoneset_new(z, 2);
    cr_assert_eq(zs_find(zs, "www.example.", 0), z[1]);
    cr_assert_eq(zs_find(zs, "www.example.org.", 0), z[0]);
    cr_assert_eq(zs_find(zs, ".", 0), z[0]);
    cr_assert_eq(zs_find(zs, "example.", 1), z[0]);
    zone_unref(z[0]);
    zone_unref(z[1]);
    zoneset_free(zs);
}

Test(zoneset, null_entries_and_shared_zones)
{
    zone_t *a = mkzone("example.", 60, 60);
    zone_t *in[3] = {NULL, a, NULL};
    zoneset_t *s1 = zoneset_new(in, 3);
    zoneset_t *s2 = zoneset_new(in, 3);
    cr_assert_eq(s1->nzones, 1);
    cr_assert_eq(atomic_load(&a->refs), 3);
    zone_unref(a);
    zoneset_free(s1);
    cr_assert_eq(atomic_load(&a->refs), 1, "still held by the second set");
    cr_assert_eq(zs_find(s2, "www.example.", 0), a);
    zoneset_free(s2);
    zoneset_t *empty = zoneset_new(NULL, 0);
    cr_assert_null(zs_find(empty, "example.", 0));
    zoneset_free(empty);
}

Test(zoneset, many_zones)
{
    /* Enough zones to make the set's table probe and wrap. */
    enum { N = 300 };
    zone_t *z[N];
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "z%d.example.", i);
        z[i] = mkzone(name, 60, 60);
    }
    zoneset_t *zs = zoneset_new(z, N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "www.z%d.example.", i);
        cr_assert_eq(zs_find(zs, name, 0), z[i], "%s", name);
        zone_unref(z[i]);
    }
    cr_assert_null(zs_find(zs, "www.z300.example.", 0));
    zoneset_free(zs);
}

/* ---- zone files: errors name the file and line ---- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/hadns-zoneload-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(zoneload, .init = mk_tmpdir, .fini = rm_tmpdir);

#define HEAD "$ORIGIN example.\n$TTL 3600\n@ IN SOA ns1 hm 1 7200 3600 1209600 300\n@ NS ns1\n"
/* HEAD is lines 1-4; the first record after it is on line 5. */

/* Loads text as zone "example."; returns the zone (or NULL with *msg set to the error). */
static zone_t *load_text(const char *text, char *msg)
{
    const char *p = tu_write(tmpdir, "test.zone", text);
    hadns_err_t err = {{0}};
    zone_t *z = zoneload_file("example.", p, &err);
    strcpy(msg, err.msg);
    if (z)
        cr_assert_eq(msg[0], '\0', "loaded but err set: %s", msg);
    else
        cr_assert_neq(msg[0], '\0', "failed without a message");
    return z;
}

static void expect_error(const char *text, const char *where, const char *what)
{
    char msg[512], prefix[300];
    zone_t *z = load_text(text, msg);
    zone_unref(z); /* before asserting, so a failure leaks nothing */
    cr_assert_null(z, "loaded, expected '%s%s'", where, what);
    snprintf(prefix, sizeof(prefix), "%s/test.zone%s", tmpdir, where);
    cr_assert(strncmp(msg, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", msg,
              prefix);
    cr_assert_not_null(strstr(msg, what), "'%s' does not say '%s'", msg, what);
}

Test(zoneload, good_head_loads)
{
    char msg[512];
    zone_t *z = load_text(HEAD "www A 192.0.2.1\n", msg);
    cr_assert_not_null(z, "%s", msg);
    cr_assert_eq(z->nnodes, 2); /* the apex and www */
    zone_unref(z);
}

Test(zoneload, syntax_error_line)
{
    expect_error(HEAD "www A 192.0.2.1\nbad A not-an-address\nok A 192.0.2.2\n", ":6: ", "");
    expect_error(HEAD "\n; comment\n\nbad IN NOSUCHTYPE x\n", ":8: ", "");
    /* After a multi-line record the count is still right. */
    expect_error("$ORIGIN example.\n$TTL 3600\n@ IN SOA ns1 hm (\n 1 ; serial\n 7200\n 3600\n"
                 " 1209600\n 300 )\n@ NS ns1\nbad A 1.2.3\n",
                 ":10: ", "");
    /* A "(" that runs into the next record and the end of the file: the line it opened on. */
    expect_error(HEAD "ok A 192.0.2.1\nbad A ( 192.0.2.9\n\nc A 192.0.2.3\n",
                 ":6: ", "never closed");
    /* A closed multi-line record with an error: its first line, and the span. */
    expect_error(HEAD "ok A 192.0.2.1\nbad A ( 192.0.2.9\n\nc ) A 192.0.2.3\n",
                 ":6: ", "lines 6-8");
}

Test(zoneload, unbalanced_parenthesis_at_eof_is_an_error)
{
    /* RFC 1035 §5.1: "( )" group data that crosses a line boundary; a group never closed is a
     * syntax error. Accepting it would silently fold the following records into the rdata:
     * here "c A 192.0.2.3" would become two more TXT strings and c.example. would vanish. */
    expect_error(HEAD "ok A 192.0.2.1\nbad TXT ( \"a\"\n \"b\"\nc A 192.0.2.3\n", ":6: ", "");
    expect_error(HEAD "ok A 192.0.2.1\nd A ( 192.0.2.4\n", ":6: ", "");
}

Test(zoneload, data_below_a_dname)
{
    /* RFC 6672 §2.4: a DNAME owner has no descendants; they could never be reached. */
    expect_error(HEAD "d DNAME target.example.\nsub.d A 192.0.2.1\n", ":6: ", "DNAME");
}

Test(zoneload, cname_and_other_data)
{
    /* RFC 1034 §3.6.2 / RFC 2181 §10.1: the later of the two clashing lines is named, and the
     * other one is pointed at. */
    expect_error(HEAD "www A 192.0.2.1\nwww CNAME elsewhere.net.\n",
                 ":6: ", "CNAME and other data at the same name (see line 5)");
    expect_error(HEAD "www CNAME elsewhere.net.\nwww MX 10 mail\n",
                 ":6: ", "CNAME and other data at the same name (see line 5)");
    expect_error(HEAD "www CNAME elsewhere.net.\nns1 A 192.0.2.1\nwww TXT \"x\"\n",
                 ":7: ", "(see line 5)");
    expect_error(HEAD "www CNAME a.net.\nwww CNAME b.net.\n", ":6: ", "more than one CNAME");
    /* CNAME at the apex collides with SOA and NS. */
    expect_error(HEAD "@ CNAME elsewhere.net.\n", ":5: ", "CNAME and other data");
}

Test(zoneload, cname_with_dnssec_records_is_fine)
{
    /* RFC 2181 §10.1 / RFC 4035 §2.5: RRSIG and NSEC may sit beside a CNAME. */
    char msg[512];
    zone_t *z = load_text(HEAD "www CNAME a.net.\nwww NSEC z.example. CNAME RRSIG NSEC\n", msg);
    cr_assert_not_null(z, "%s", msg);
    zone_unref(z);
}

Test(zoneload, soa_rules)
{
    expect_error(HEAD "www SOA ns1 hm 1 2 3 4 5\n", ":5: ", "SOA record not at the zone apex");
    expect_error(HEAD "@ SOA ns1 hm 2 7200 3600 1209600 300\n", ":5: ", "more than one SOA");
    expect_error("$ORIGIN example.\n$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n", ": ",
                 "no SOA record at the zone apex example.");
}

Test(zoneload, empty_file)
{
    /* No records at all: "no SOA", through the same checks (and no undefined behaviour on the
     * empty record list, which a sanitizer build reports). */
    expect_error("; nothing here\n\n", ": ", "no SOA record at the zone apex example.");
    expect_error("", ": ", "no SOA record");
}

Test(zoneload, no_ns_at_apex)
{
    expect_error("$ORIGIN example.\n$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nns1 A 192.0.2.1\n", ": ",
                 "no NS records at the zone apex example.");
    /* NS only at a delegation does not count. */
    expect_error("$ORIGIN example.\n$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nsub NS ns1\n", ": ",
                 "no NS records at the zone apex");
}

Test(zoneload, out_of_zone_record)
{
    expect_error(HEAD "www A 192.0.2.1\nwww.example.org. A 192.0.2.1\n",
                 ":6: ", "www.example.org. is outside the zone example.");
    expect_error(HEAD "aexample. A 192.0.2.1\n", ":5: ", "aexample. is outside");
}

Test(zoneload, other_classes_and_include)
{
    expect_error(HEAD "txt CH TXT \"x\"\n", ":5: ", "class IN");
    expect_error(HEAD "$INCLUDE other.zone\n", ":", "$INCLUDE is not supported");
}

Test(zoneload, missing_file)
{
    hadns_err_t err = {{0}};
    cr_assert_null(zoneload_file("example.", "/nonexistent/x.zone", &err));
    cr_assert_str_eq(err.msg, "/nonexistent/x.zone: cannot open: No such file or directory");
}

Test(zoneload, duplicates_removed)
{
    char msg[512];
    zone_t *z = load_text(HEAD "www A 192.0.2.1\nwww A 192.0.2.2\nwww A 192.0.2.1\n"
                               "WWW 60 A 192.0.2.2\n",
                          msg);
    cr_assert_not_null(z, "%s", msg);
    const rrset_t *a = znode_rrset(find(z, "www.example."), T_A);
    cr_assert_eq(a->count, 2, "RFC 2181 §5: an RRset holds no duplicates");
    cr_assert_eq(rrset_rdata_len(a), 12);
    cr_assert(memcmp(a->rdata, "\0\4\xc0\0\2\1\0\4\xc0\0\2\2", 12) == 0);
    zone_unref(z);
}

Test(zoneload, ttl_mismatch_keeps_the_first)
{
    char msg[512];
    zone_t *z = load_text(HEAD "www 300 A 192.0.2.1\nwww 600 A 192.0.2.2\n", msg);
    cr_assert_not_null(z, "%s", msg);
    const rrset_t *a = znode_rrset(find(z, "www.example."), T_A);
    cr_assert_eq(a->count, 2);
    cr_assert_eq(a->ttl, 300, "RFC 2181 §5.2: one TTL per RRset, the first");
    zone_unref(z);
    /* The first in file order, even when a later line sorts first by owner case. */
    z = load_text(HEAD "www 600 A 192.0.2.1\nWWW 300 A 192.0.2.2\n", msg);
    cr_assert_eq(znode_rrset(find(z, "www.example."), T_A)->ttl, 600);
    zone_unref(z);
}

Test(zoneload, ttl_defaults)
{
    char msg[512];
    /* $TTL applies to records without a TTL; an explicit TTL wins. */
    zone_t *z = load_text("$ORIGIN example.\n$TTL 120\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\n"
                          "a A 192.0.2.1\nb 7 A 192.0.2.1\n",
                          msg);
    cr_assert_not_null(z, "%s", msg);
    cr_assert_eq(znode_rrset(find(z, "a.example."), T_A)->ttl, 120);
    cr_assert_eq(znode_rrset(find(z, "b.example."), T_A)->ttl, 7);
    cr_assert_eq(z->soa->ttl, 120);
    zone_unref(z);
}

Test(zoneload, ttl_without_dollar_ttl_is_the_last_explicit_one)
{
    /* RFC 1035 §5.1: "Omitted class and TTL values are default to the last explicitly stated
     * values." Without $TTL (RFC 2308 §4), a record with no TTL takes the previous record's. */
    char msg[512];
    zone_t *z = load_text("$ORIGIN example.\n@ 600 IN SOA ns1 hm 1 7200 3600 1209600 300\n"
                          "  NS ns1\nns1 60 A 192.0.2.1\nns2 A 192.0.2.2\n",
                          msg);
    cr_assert_not_null(z, "%s", msg);
    uint32_t soa = z->soa->ttl, ns = znode_rrset(z->apex, T_NS)->ttl,
             a = znode_rrset(find(z, "ns2.example."), T_A)->ttl;
    zone_unref(z);
    cr_assert_eq(soa, 600);
    cr_assert_eq(ns, 600, "NS after 'SOA 600' has TTL %u", ns);
    cr_assert_eq(a, 60, "A after 'ns1 60 A' has TTL %u", a);
}

Test(zoneload, unknown_types_rfc3597)
{
    char msg[512];
    zone_t *z = load_text(HEAD "u TYPE65280 \\# 4 0A000001\nv TYPE999 \\# 0\n", msg);
    cr_assert_not_null(z, "%s", msg);
    const rrset_t *u = znode_rrset(find(z, "u.example."), 65280);
    cr_assert_not_null(u);
    cr_assert_eq(rrset_rdata_len(u), 6);
    cr_assert(memcmp(u->rdata, "\0\4\x0a\0\0\1", 6) == 0);
    const rrset_t *v = znode_rrset(find(z, "v.example."), 999);
    cr_assert_not_null(v);
    cr_assert_eq(v->count, 1);
    cr_assert_eq(rrset_rdata_len(v), 2);
    zone_unref(z);
}

Test(zoneload, known_types_in_generic_form_are_validated)
{
    /* RFC 3597 §5: a known type written as "\# n hex" is still that type, and "all further
     * processing by the server MUST treat it as a known type": its rdata must have the type's
     * layout. ldns checks the names that are present but accepts rdata that stops before one;
     * answer.c then reads the missing name from whatever follows the record (see
     * answer.truncated_generic_rdata). */
    expect_error(HEAD "mx MX \\# 2 000a\n", ":5: ", "");
    expect_error(HEAD "ns2 NS \\# 0\n", ":5: ", "");
    expect_error(HEAD "c CNAME \\# 0\n", ":5: ", "");
    expect_error(HEAD "p PTR \\# 0\n", ":5: ", "");
    /* The well-formed generic form of a known type loads as that type. */
    char msg[512];
    zone_t *z = load_text(HEAD "mx MX \\# 5 000a016100\n", msg);
    cr_assert_not_null(z, "%s", msg);
    const rrset_t *mx = znode_rrset(find(z, "mx.example."), T_MX);
    cr_assert_not_null(mx);
    cr_assert_eq(rrset_rdata_len(mx), 7);
    cr_assert(memcmp(mx->rdata, "\0\5\0\12\1a\0", 7) == 0);
    zone_unref(z);
}

Test(zoneload, origin_and_relative_names)
{
    char msg[512];
    /* The zone's origin (given by the caller) is the default $ORIGIN; names are lowercased. */
    zone_t *z = load_text("$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n@ NS NS1\nNS1 A 192.0.2.1\n"
                          "Mixed.Case CNAME WWW\n",
                          msg);
    cr_assert_not_null(z, "%s", msg);
    cr_assert_not_null(find(z, "ns1.example."));
    const znode_t *m = find(z, "mixed.case.example.");
    cr_assert_not_null(m);
    /* rdata names keep their case (RFC 4343 §4.1: preserve it where possible). */
    const rrset_t *cn = znode_rrset(m, T_CNAME);
    cr_assert(memcmp(cn->rdata + 2, "\3WWW\7example", 13) == 0 ||
              memcmp(cn->rdata + 2, "\3www\7example", 13) == 0);
    zone_unref(z);
}

Test(zoneload, changed)
{
    char msg[512];
    zone_t *z = load_text(HEAD, msg);
    cr_assert_not_null(z, "%s", msg);
    char path[300];
    snprintf(path, sizeof(path), "%s/test.zone", tmpdir);
    cr_assert_not(zoneload_changed(z, path));
    tu_write(tmpdir, "test.zone", HEAD "www A 192.0.2.1\n");
    cr_assert(zoneload_changed(z, path));
    cr_assert(zoneload_changed(z, "/nonexistent/x.zone"), "unreadable counts as changed");
    zone_unref(z);
}

/* Which SOA names end in the origin (negative answers compress those without comparing). */
Test(builder, soa_names_in_zone)
{
    uint8_t o[DNAME_MAXLEN], rd[128];
    size_t ol = dname_from_str("example.", o);
    const char *mname[] = {"\3NS1\7Example", "\3ns1\7example", "\3ns1\5other", ""};
    const char *rname[] = {"\5admin\11elsewhere", "\12hostmaster\7EXAMPLE", "\7example", ""};
    const uint8_t want[] = {1, 3, 2, 0}; /* the origin itself is in the zone */
    for (unsigned i = 0; i < 4; i++) {
        zone_builder_t *zb = zone_builder_new(o, ol);
        hadns_err_t err = {{0}};
        size_t ml = strlen(mname[i]) + 1, rl = strlen(rname[i]) + 1;
        memcpy(rd, mname[i], ml);
        memcpy(rd + ml, rname[i], rl);
        uint8_t tail[22];
        soa_rdata(tail, 1, 300);
        memcpy(rd + ml + rl, tail + 2, 20);
        cr_assert(zone_builder_add(zb, o, ol, T_SOA, 60, rd, ml + rl + 20, 1, &err), "%s",
                  err.msg);
        cr_assert(zone_builder_add(zb, o, ol, T_NS, 60, (const uint8_t *)"\2ns\0", 4, 2, &err));
        zone_t *z = zone_builder_finish(zb, "built", &err);
        cr_assert_not_null(z, "%s", err.msg);
        cr_assert_eq(z->soa_names_in_zone, want[i], "case %u: %u", i, z->soa_names_in_zone);
        zone_unref(z);
    }
}

/* Thousands of long names, each with two empty non-terminals above it and its records split in
 * two passes (the second in upper case), beside a delegation with glue: the builder's buffer of
 * names and rdata moves many times while records are added and again while the empty
 * non-terminals are made. Every name must come back whole, once, with its records merged in
 * file order (ASan catches a pointer kept across a move), and laid out as one block: the node,
 * its name, its RRsets, their target arrays, their rdata. */
Test(builder, many_long_names_as_blocks)
{
    enum { N = 3000 };
    uint8_t o[DNAME_MAXLEN], rd[64];
    size_t ol = dname_from_str("example.", o);
    zone_builder_t *zb = zone_builder_new(o, ol);
    hadns_err_t err = {{0}};
    cr_assert(zone_builder_add(zb, o, ol, T_SOA, 60, rd, soa_rdata(rd, 1, 300), 1, &err));
    cr_assert(zone_builder_add(zb, o, ol, T_NS, 60, (const uint8_t *)"\2ns\0", 4, 2, &err));
    char text[DNAME_MAXSTR];
    uint8_t name[DNAME_MAXLEN];
    unsigned line = 3;
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < N; i++) {
            /* 63 + 63 + "n<i>" labels: about 150 bytes a name. */
            snprintf(text, sizeof(text), "%c%062u.%c%062u.n%u.example.", pass ? 'A' : 'a', i,
                     pass ? 'B' : 'b', i, i);
            size_t len = dname_from_str(text, name);
            cr_assert(len, "%s", text);
            uint8_t a[4] = {10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)(pass + 1)};
            cr_assert(zone_builder_add(zb, name, len, T_A, 60, a, 4, line++, &err), "%s",
                      err.msg);
        }
    }
    /* A cut with glue: its NS target is the glue node. */
    size_t cl = dname_from_str("cut.n7.example.", name);
    cr_assert(zone_builder_add(zb, name, cl, T_NS, 60, (const uint8_t *)"\2ns\3cut\2n7\7example",
                               19, line++, &err), "%s", err.msg);
    size_t gl = dname_from_str("ns.cut.n7.example.", name);
    cr_assert(zone_builder_add(zb, name, gl, T_A, 60, (const uint8_t *)"\xc0\0\2\7", 4, line++,
                               &err));
    /* An MX whose one target is outside the zone keeps no target array. */
    size_t ml = dname_from_str("mx.n9.example.", name);
    cr_assert(zone_builder_add(zb, name, ml, T_MX, 60, (const uint8_t *)"\0\1\2mx\3net", 10,
                               line++, &err), "%s", err.msg);
    zone_t *z = zone_builder_finish(zb, "long.zone", &err);
    cr_assert_not_null(z, "%s", err.msg);
    /* apex + N names + 2N empty non-terminals + the cut, its glue and the MX */
    cr_assert_eq(z->nnodes, 1 + 3 * (size_t)N + 3, "%zu nodes", z->nnodes);
    for (unsigned i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "a%062u.b%062u.n%u.example.", i, i, i);
        const znode_t *n = find(z, text);
        cr_assert_not_null(n, "%s", text);
        char back[DNAME_MAXSTR];
        dname_to_str(n->name, back);
        cr_assert_str_eq(back, text);
        cr_assert_eq(n->labels, 4);
        const rrset_t *a = znode_rrset(n, T_A);
        cr_assert_eq(n->nrrsets, 1, "%s", text);
        cr_assert_eq(a->count, 2, "%s: both passes in one RRset", text);
        uint8_t want[12] = {0, 4, 10, (uint8_t)(i >> 8), (uint8_t)i, 1,
                            0, 4, 10, (uint8_t)(i >> 8), (uint8_t)i, 2};
        cr_assert(memcmp(a->rdata, want, 12) == 0, "%s: records in file order", text);
        const uint8_t *block = (const uint8_t *)n;
        cr_assert_eq((const uint8_t *)n->rrsets,
                     block + ((offsetof(znode_t, name) + n->name_len + 7) & ~(size_t)7));
        cr_assert_eq(a->rdata, (const uint8_t *)(n->rrsets + 1), "%s: rdata after the RRset",
                     text);
        snprintf(text, sizeof(text), "b%062u.n%u.example.", i, i);
        const znode_t *e1 = find(z, text);
        snprintf(text, sizeof(text), "n%u.example.", i);
        const znode_t *e2 = find(z, text);
        cr_assert(e1 && e2 && (e1->flags & ZN_ENT) && (e2->flags & ZN_ENT), "n%u: ENTs", i);
        cr_assert_eq(e1->nrrsets + e2->nrrsets, 0);
        cr_assert_eq(n->cut, NULL);
    }
    const znode_t *cut = find(z, "cut.n7.example."), *glue = find(z, "ns.cut.n7.example.");
    cr_assert(cut && glue);
    cr_assert_eq(cut->cut, cut);
    cr_assert_eq(glue->cut, cut);
    const rrset_t *ns = znode_rrset(cut, T_NS);
    cr_assert_eq(ns->targets[0], glue);
    cr_assert_eq((const void *)ns->targets, (const void *)(ns + 1), "targets after the RRsets");
    cr_assert_eq((const void *)ns->rdata, (const void *)(ns->targets + 1), "then the rdata");
    const znode_t *mx = find(z, "mx.n9.example.");
    cr_assert_not_null(mx);
    cr_assert_null(znode_rrset(mx, T_MX)->targets);
    cr_assert_eq(mx->cut, NULL);
    cr_assert_eq(z->apex, find(z, "example."));
    zone_unref(z);
}
