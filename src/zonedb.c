/* SPDX-License-Identifier: MIT */
/* zonedb.c: zone construction, node hash, lookup, and the zone set. */
#include "config.h"
#include "zonedb.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"
#include "xalloc.h"

/* ---- lookup (the hot part) ---- */

static inline size_t suffix_off(const uint8_t *off, unsigned nlabels, size_t qlen, unsigned i)
{
    return i < nlabels ? off[i] : qlen - 1; /* i == nlabels is the root label */
}

const znode_t *zone_find(const zone_t *z, const uint8_t *name, size_t len, uint32_t hash)
{
    for (uint32_t i = hash & z->mask;; i = (i + 1) & z->mask) {
        const znode_t *n = z->table[i];
        if (!n)
            return NULL;
        if (n->name_len == len && memcmp(n->name, name, len) == 0)
            return n;
    }
}

const rrset_t *znode_rrset(const znode_t *n, uint16_t type)
{
    for (unsigned i = 0; i < n->nrrsets; i++) {
        if (n->rrsets[i].type == type)
            return &n->rrsets[i];
    }
    return NULL;
}

enum zlookup_kind zone_lookup(const zone_t *z, const uint8_t *qname, size_t qlen,
                              const uint8_t *off, unsigned nlabels, bool is_ds,
                              const znode_t **node)
{
    const znode_t *n = zone_find(z, qname, qlen, dname_hash(qname, qlen));
    if (n) {
        /* A cut node is parent-side data only for DS (RFC 4035 §3.1.4.1). */
        if (n->cut && !(n->cut == n && is_ds)) {
            *node = n->cut;
            return ZL_DELEGATION;
        }
        *node = n;
        return ZL_EXACT;
    }
    /* Walk up to the closest encloser; nodes exist for every ENT, so the first hit is it. */
    for (unsigned i = 1; i <= nlabels - z->labels; i++) {
        size_t o = suffix_off(off, nlabels, qlen, i);
        n = zone_find(z, qname + o, qlen - o, dname_hash(qname + o, qlen - o));
        if (n)
            break;
    }
    assert(n); /* the apex always exists */
    if (n->cut) {
        *node = n->cut;
        return ZL_DELEGATION;
    }
    if (n->flags & ZN_DNAME) {
        *node = n;
        return ZL_DNAME;
    }
    /* RFC 4592 §3.3.1: only the closest encloser's own wildcard child may synthesize. */
    if (n->wild) {
        *node = n->wild;
        return ZL_WILDCARD;
    }
    *node = n;
    return ZL_NXDOMAIN;
}

int zone_target_offset(uint16_t type)
{
    switch (type) {
    case T_NS:
        return 0;
    case T_MX:
        return 2; /* preference */
    case T_SRV:
        return 6; /* priority, weight, port */
    default:
        return -1;
    }
}

/* ---- zone set ---- */

static uint32_t pow2_at_least(size_t n)
{
    uint32_t s = 16;
    while (s < n)
        s <<= 1;
    return s;
}

zoneset_t *zoneset_new(zone_t *const *zones, size_t n)
{
    zoneset_t *zs = xcalloc(1, sizeof(*zs));
    zs->zones = xcalloc(n ? n : 1, sizeof(zone_t *));
    zs->mask = pow2_at_least(2 * n) - 1;
    zs->table = xcalloc((size_t)zs->mask + 1, sizeof(zone_t *));
    for (size_t i = 0; i < n; i++) {
        zone_t *z = zones[i];
        if (!z)
            continue;
        zone_ref(z);
        zs->zones[zs->nzones++] = z;
        uint32_t h = dname_hash(z->name, z->name_len);
        uint32_t j = h & zs->mask;
        while (zs->table[j])
            j = (j + 1) & zs->mask;
        zs->table[j] = z;
    }
    return zs;
}

void zoneset_free(zoneset_t *zs)
{
    if (!zs)
        return;
    for (size_t i = 0; i < zs->nzones; i++)
        zone_unref(zs->zones[i]);
    free(zs->zones);
    free(zs->table);
    free(zs);
}

zone_t *zoneset_get(const zoneset_t *zs, const uint8_t *name, size_t len)
{
    for (uint32_t j = dname_hash(name, len) & zs->mask;; j = (j + 1) & zs->mask) {
        zone_t *z = zs->table[j];
        if (!z)
            return NULL;
        if (dname_eq(z->name, z->name_len, name, len))
            return z;
    }
}

const zone_t *zoneset_find(const zoneset_t *zs, const uint8_t *qname, size_t qlen,
                           const uint8_t *off, unsigned nlabels, unsigned from)
{
    for (unsigned i = from; i <= nlabels; i++) {
        size_t o = suffix_off(off, nlabels, qlen, i);
        const zone_t *z = zoneset_get(zs, qname + o, qlen - o);
        if (z)
            return z;
    }
    return NULL;
}

/* ---- construction ---- */

struct rec {
    const uint8_t *owner; /* lowercase, in the zone arena */
    uint8_t olen;
    uint16_t type;
    uint32_t ttl;
    uint32_t line;
    size_t rdata; /* offset into zb->data */
    uint16_t rdlen;
    size_t seq; /* insertion order, to keep zone-file order inside an RRset */
};

struct zone_builder {
    arena_t *arena;
    uint8_t origin[DNAME_MAXLEN];
    size_t olen;
    unsigned olabels;
    struct rec *recs;
    size_t nrecs, caprecs;
    uint8_t *data; /* rdata of all records, freed when the builder is */
    size_t datalen, datacap;
};

zone_builder_t *zone_builder_new(const uint8_t *origin, size_t len)
{
    zone_builder_t *zb = xcalloc(1, sizeof(*zb));
    zb->arena = arena_new();
    dname_tolower(zb->origin, origin, len);
    zb->olen = len;
    zb->olabels = dname_labels(zb->origin);
    return zb;
}

void zone_builder_free(zone_builder_t *zb)
{
    if (!zb)
        return;
    arena_free(zb->arena);
    free(zb->recs);
    free(zb->data);
    free(zb);
}

/* Length of the uncompressed name at rd[off..len), or 0 if there is none. */
static size_t name_at(const uint8_t *rd, size_t len, size_t off)
{
    size_t i = off;
    while (i < len && rd[i] && rd[i] <= 63)
        i += (size_t)rd[i] + 1;
    if (i >= len || rd[i] != 0 || i + 1 - off > DNAME_MAXLEN)
        return 0;
    return i + 1 - off;
}

/* The answer path copies and compresses names inside these types' rdata, so their layout must
 * be exact; a zone may write any type in RFC 3597 "\#" form, which ldns takes on trust
 * (RFC 3597 §5: a known type in that form is still that type). Returns false if malformed. */
static bool rdata_ok(uint16_t type, const uint8_t *rd, size_t len)
{
    size_t skip = 0, names = 1, tail = 0;
    switch (type) {
    case T_NS: case T_CNAME: case T_PTR: case T_MD: case T_MF: case T_MB: case T_MG:
    case T_MR: case T_DNAME:
        break;
    case T_SOA:
        names = 2;
        tail = 20;
        break;
    case T_MINFO:
        names = 2;
        break;
    case T_MX:
        skip = 2;
        break;
    case T_SRV:
        skip = 6;
        break;
    default:
        return true;
    }
    size_t o = skip;
    if (o > len)
        return false;
    for (size_t i = 0; i < names; i++) {
        size_t n = name_at(rd, len, o);
        if (!n)
            return false;
        o += n;
    }
    return o + tail == len;
}

bool zone_builder_add(zone_builder_t *zb, const uint8_t *owner, size_t olen, uint16_t type,
                      uint32_t ttl, const uint8_t *rdata, size_t rdlen, unsigned line,
                      hadns_err_t *err)
{
    uint8_t lc[DNAME_MAXLEN];
    dname_tolower(lc, owner, olen);
    if (!dname_is_subdomain(lc, olen, zb->origin, zb->olen)) {
        char o[DNAME_MAXSTR], z[DNAME_MAXSTR];
        dname_to_str(lc, o);
        dname_to_str(zb->origin, z);
        err_set(err, "%u: %s is outside the zone %s", line, o, z);
        return false;
    }
    if (rdlen > 65535) {
        err_set(err, "%u: rdata too long", line);
        return false;
    }
    if (!rdata_ok(type, rdata, rdlen)) {
        err_set(err, "%u: malformed rdata for its type (TYPE%u)", line, type);
        return false;
    }
    if (zb->nrecs == zb->caprecs) {
        zb->caprecs = zb->caprecs ? zb->caprecs * 2 : 256;
        zb->recs = xrealloc(zb->recs, zb->caprecs * sizeof(struct rec));
    }
    if (zb->datalen + rdlen > zb->datacap) {
        zb->datacap = (zb->datacap ? zb->datacap * 2 : 65536) + rdlen;
        zb->data = xrealloc(zb->data, zb->datacap);
    }
    struct rec *r = &zb->recs[zb->nrecs];
    /* Zone files group records by owner: share the previous owner's copy when it is the same. */
    const struct rec *prev = zb->nrecs ? &zb->recs[zb->nrecs - 1] : NULL;
    if (prev && dname_eq(prev->owner, prev->olen, lc, olen))
        r->owner = prev->owner;
    else
        r->owner = arena_dup(zb->arena, lc, olen);
    r->olen = (uint8_t)olen;
    r->type = type;
    r->ttl = ttl;
    r->line = line;
    r->rdata = zb->datalen;
    r->rdlen = (uint16_t)rdlen;
    r->seq = zb->nrecs;
    memcpy(zb->data + zb->datalen, rdata, rdlen);
    zb->datalen += rdlen;
    zb->nrecs++;
    return true;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->olen != y->olen)
        return x->olen < y->olen ? -1 : 1;
    if (x->owner != y->owner) {
        int c = memcmp(x->owner, y->owner, x->olen);
        if (c)
            return c;
    }
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}



static void table_insert(zone_t *z, const znode_t *n)
{
    uint32_t i = dname_hash(n->name, n->name_len) & z->mask;
    while (z->table[i])
        i = (i + 1) & z->mask;
    z->table[i] = n;
}

/* Keeps the load factor at or below 1/2 so probes stay short. */
static void table_reserve(zone_t *z, size_t nodes)
{
    if (z->table && nodes * 2 <= (size_t)z->mask + 1)
        return;
    uint32_t size = pow2_at_least(nodes * 2);
    const znode_t **old = z->table;
    uint32_t oldsize = old ? z->mask + 1 : 0;
    z->table = xcalloc(size, sizeof(znode_t *));
    z->mask = size - 1;
    for (uint32_t i = 0; i < oldsize; i++) {
        if (old[i])
            table_insert(z, old[i]);
    }
    free(old);
}

static znode_t *new_node(zone_t *z, const uint8_t *name, size_t len)
{
    znode_t *n = arena_alloc(z->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->name = name;
    n->name_len = (uint8_t)len;
    n->labels = (uint8_t)dname_labels(name);
    z->nnodes++;
    table_reserve(z, z->nnodes);
    table_insert(z, n);
    return n;
}

/* Builds the node for recs[lo..hi) (one owner, sorted by type). */
static bool build_node(zone_builder_t *zb, zone_t *z, const struct rec *recs, size_t lo,
                       size_t hi, const char *file, hadns_err_t *err)
{
    size_t ntypes = 0;
    for (size_t i = lo; i < hi; i++) {
        if (i == lo || recs[i].type != recs[i - 1].type)
            ntypes++;
    }
    if (ntypes > 65535) {
        err_set(err, "%s:%u: too many types at one name", file, recs[lo].line);
        return false;
    }
    bool is_apex = dname_eq(recs[lo].owner, recs[lo].olen, zb->origin, zb->olen);
    const uint8_t *name = recs[lo].owner;
    znode_t *n = (znode_t *)zone_find(z, name, recs[lo].olen, dname_hash(name, recs[lo].olen));
    if (!n)
        n = new_node(z, name, recs[lo].olen);
    rrset_t *sets = arena_alloc(z->arena, ntypes * sizeof(rrset_t));
    n->rrsets = sets;
    n->nrrsets = (uint16_t)ntypes;
    bool has_cname = false, has_other = false;
    size_t k = 0;
    for (size_t i = lo; i < hi;) {
        size_t j = i;
        while (j < hi && recs[j].type == recs[i].type)
            j++;
        uint16_t type = recs[i].type;
        /* Deduplicate (RFC 2181 §5: an RRset has no duplicate records) and size the rdata. */
        size_t total = 0, count = 0;
        bool *dup = xcalloc(j - i, sizeof(bool));
        for (size_t a = i; a < j; a++) {
            for (size_t b = i; b < a; b++) {
                if (!dup[b - i] && recs[a].rdlen == recs[b].rdlen &&
                    !memcmp(zb->data + recs[a].rdata, zb->data + recs[b].rdata, recs[a].rdlen))
                {
                    dup[a - i] = true;
                    break;
                }
            }
            if (!dup[a - i]) {
                total += 2u + recs[a].rdlen;
                count++;
                if (recs[a].ttl != recs[i].ttl) {
                    /* RFC 2181 §5.2: one TTL per RRset; keep the first and say so. */
                    log_warnx("%s:%u: TTL %u differs from %u earlier in the RRset; using %u", file,
                              recs[a].line, recs[a].ttl, recs[i].ttl, recs[i].ttl);
                }
            }
        }
        if (count > 65535) {
            free(dup);
            err_set(err, "%s:%u: RRset too large", file, recs[i].line);
            return false;
        }
        uint8_t *data = arena_alloc(z->arena, total ? total : 1);
        size_t o = 0;
        for (size_t a = i; a < j; a++) {
            if (dup[a - i])
                continue;
            wr16(data + o, recs[a].rdlen);
            memcpy(data + o + 2, zb->data + recs[a].rdata, recs[a].rdlen);
            o += 2u + recs[a].rdlen;
        }
        free(dup);
        rrset_t *s = &sets[k++];
        s->type = type;
        s->count = (uint16_t)count;
        s->ttl = recs[i].ttl;
        s->rdata = data;
        s->rdata_len = (uint32_t)total;
        s->targets = NULL;

        if (type == T_SOA && !is_apex) {
            err_set(err, "%s:%u: SOA record not at the zone apex", file, recs[i].line);
            return false;
        }
        if (type == T_SOA && count > 1) {
            err_set(err, "%s:%u: more than one SOA record", file, recs[i + 1].line);
            return false;
        }
        if (type == T_CNAME) {
            has_cname = true;
            if (count > 1) {
                err_set(err, "%s:%u: more than one CNAME record at one name", file,
                        recs[i + 1].line);
                return false;
            }
        } else if (type != T_RRSIG && type != T_NSEC) {
            /* RFC 1034 §3.6.2, RFC 2181 §10.1: a CNAME stands alone (DNSSEC records aside). */
            has_other = true;
        }
        if (has_cname && has_other) {
            unsigned l1 = recs[lo].line, l2 = recs[i].line;
            err_set(err, "%s:%u: CNAME and other data at the same name (see line %u)", file,
                    l1 > l2 ? l1 : l2, l1 > l2 ? l2 : l1);
            return false;
        }
        if (type == T_A || type == T_AAAA)
            n->flags |= ZN_ADDR;
        if (type == T_NS)
            n->flags |= is_apex ? 0 : ZN_DELEG;
        if (type == T_DNAME)
            n->flags |= ZN_DNAME;
        i = j;
    }
    if (is_apex)
        n->flags |= ZN_APEX;
    return true;
}

/* A construction-time mark: below a DNAME (an error unless only empty non-terminals). */
#define ZN_BELOW_DNAME 0x80

/* The line of the first record owned by n, for messages. */
static unsigned owner_line(const zone_builder_t *zb, const znode_t *n)
{
    for (size_t i = 0; i < zb->nrecs; i++) {
        if (dname_eq(zb->recs[i].owner, zb->recs[i].olen, n->name, n->name_len))
            return zb->recs[i].line;
    }
    return 0;
}

/* Name minus its first label (for a name below the origin). */
static const uint8_t *parent_of(const uint8_t *name, size_t len, size_t *plen)
{
    *plen = len - name[0] - 1;
    return name + name[0] + 1;
}

zone_t *zone_builder_finish(zone_builder_t *zb, const char *file, hadns_err_t *err)
{
    zone_t *z = xcalloc(1, sizeof(*z));
    z->arena = zb->arena;
    zb->arena = NULL;
    z->file = xstrdup(file);
    atomic_init(&z->refs, 1);
    z->name = arena_dup(z->arena, zb->origin, zb->olen);
    z->name_len = (uint8_t)zb->olen;
    z->labels = (uint8_t)zb->olabels;
    z->nrecords = zb->nrecs;
    table_reserve(z, 16);

    if (zb->nrecs)
        qsort(zb->recs, zb->nrecs, sizeof(struct rec), rec_cmp);
    for (size_t lo = 0; lo < zb->nrecs;) {
        size_t hi = lo + 1;
        while (hi < zb->nrecs && dname_eq(zb->recs[hi].owner, zb->recs[hi].olen,
                                          zb->recs[lo].owner, zb->recs[lo].olen))
            hi++;
        if (!build_node(zb, z, zb->recs, lo, hi, file, err))
            goto fail;
        lo = hi;
    }

    char oname[DNAME_MAXSTR];
    dname_to_str(z->name, oname);
    z->apex = zone_find(z, z->name, z->name_len, dname_hash(z->name, z->name_len));
    z->soa = z->apex ? znode_rrset(z->apex, T_SOA) : NULL;
    if (!z->soa) {
        err_set(err, "%s: no SOA record at the zone apex %s", file, oname);
        goto fail;
    }
    if (!znode_rrset(z->apex, T_NS)) {
        err_set(err, "%s: no NS records at the zone apex %s", file, oname);
        goto fail;
    }
    /* SOA rdata: mname, rname, then serial refresh retry expire minimum. */
    {
        const uint8_t *rd = z->soa->rdata + 2;
        size_t rdlen = rd16(z->soa->rdata);
        if (rdlen < 22) {
            err_set(err, "%s: malformed SOA record", file);
            goto fail;
        }
        z->serial = rd32(rd + rdlen - 20);
        uint32_t minimum = rd32(rd + rdlen - 4);
        z->neg_ttl = z->soa->ttl < minimum ? z->soa->ttl : minimum;
    }

    /* Empty non-terminals: every name between a node and the apex exists (RFC 4592 §2.2.2). */
    size_t real = z->nnodes;
    znode_t **all = xmalloc(real * sizeof(znode_t *));
    {
        size_t k = 0;
        for (uint32_t i = 0; i <= z->mask; i++) {
            if (z->table[i])
                all[k++] = (znode_t *)z->table[i];
        }
    }
    for (size_t i = 0; i < real; i++) {
        const uint8_t *name = all[i]->name;
        size_t len = all[i]->name_len;
        while (len > z->name_len) {
            name = parent_of(name, len, &len);
            if (zone_find(z, name, len, dname_hash(name, len)))
                break;
            znode_t *e = new_node(z, name, len);
            e->flags |= ZN_ENT;
        }
    }
    free(all);

    /* Cuts and wildcards, shallow nodes first so each node can inherit from its parent. */
    {
        size_t n = z->nnodes, k = 0;
        znode_t **byd = xmalloc(n * sizeof(znode_t *));
        size_t counts[DNAME_MAXLABELS + 1] = {0};
        for (uint32_t i = 0; i <= z->mask; i++) {
            if (z->table[i])
                counts[z->table[i]->labels]++;
        }
        size_t start[DNAME_MAXLABELS + 1];
        for (unsigned d = 0; d <= DNAME_MAXLABELS; d++) {
            start[d] = k;
            k += counts[d];
        }
        for (uint32_t i = 0; i <= z->mask; i++) {
            if (z->table[i])
                byd[start[z->table[i]->labels]++] = (znode_t *)z->table[i];
        }
        for (size_t i = 0; i < n; i++) {
            znode_t *nd = byd[i];
            if (nd->name_len == z->name_len)
                continue; /* the apex: no cut above it inside this zone */
            size_t plen;
            const uint8_t *pn = parent_of(nd->name, nd->name_len, &plen);
            znode_t *p = (znode_t *)zone_find(z, pn, plen, dname_hash(pn, plen));
            assert(p);
            nd->cut = p->cut ? p->cut : (nd->flags & ZN_DELEG) ? nd : NULL;
            /* RFC 6672 §2.4: nothing exists below a DNAME (it could never be reached). */
            if (p->flags & (ZN_DNAME | ZN_BELOW_DNAME)) {
                nd->flags |= ZN_BELOW_DNAME;
                if (!(nd->flags & ZN_ENT)) {
                    char o[DNAME_MAXSTR];
                    dname_to_str(nd->name, o);
                    err_set(err, "%s:%u: %s lies below a DNAME (RFC 6672 §2.4)", file,
                            owner_line(zb, nd), o);
                    free(byd);
                    goto fail;
                }
            }
            if (nd->name[0] == 1 && nd->name[1] == '*')
                p->wild = nd;
        }
        free(byd);
    }

    /* Additional-section targets of NS, MX and SRV, resolved once here. */
    for (uint32_t i = 0; i <= z->mask; i++) {
        znode_t *nd = (znode_t *)z->table[i];
        if (!nd)
            continue;
        for (unsigned s = 0; s < nd->nrrsets; s++) {
            rrset_t *rs = (rrset_t *)&nd->rrsets[s];
            int toff = zone_target_offset(rs->type);
            if (toff < 0)
                continue;
            const znode_t **t = arena_alloc(z->arena, rs->count * sizeof(znode_t *));
            bool any = false;
            const uint8_t *p = rs->rdata;
            for (unsigned r = 0; r < rs->count; r++) {
                size_t rdlen = rd16(p);
                t[r] = NULL;
                if (rdlen > (size_t)toff && dname_valid(p + 2 + toff, rdlen - (size_t)toff)) {
                    uint8_t lc[DNAME_MAXLEN];
                    size_t tl = rdlen - (size_t)toff;
                    dname_tolower(lc, p + 2 + toff, tl);
                    const znode_t *tn = zone_find(z, lc, tl, dname_hash(lc, tl));
                    if (tn && (tn->flags & ZN_ADDR)) {
                        t[r] = tn;
                        any = true;
                    }
                }
                p += 2 + rdlen;
            }
            rs->targets = any ? t : NULL;
        }
    }
    zone_builder_free(zb);
    return z;
fail:
    zone_builder_free(zb);
    zone_unref(z);
    return NULL;
}

void zone_ref(zone_t *z)
{
    atomic_fetch_add(&z->refs, 1);
}

void zone_unref(zone_t *z)
{
    if (!z || atomic_fetch_sub(&z->refs, 1) != 1)
        return;
    arena_free(z->arena);
    free(z->table);
    free(z->file);
    free(z);
}
