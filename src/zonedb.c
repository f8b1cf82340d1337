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

static inline znode_t *node_at(const zone_t *z, uint32_t ref)
{
    return (znode_t *)(z->nodebuf + (size_t)ref * 8);
}

/* The ref of the node with this name, or 0. */
static uint32_t find_ref(const zone_t *z, const uint8_t *name, size_t len, uint32_t hash)
{
    for (uint32_t i = hash & z->mask;; i = (i + 1) & z->mask) {
        const struct zslot *sl = &z->table[i];
        if (!sl->ref)
            return 0;
        if (sl->hash == hash) {
            const znode_t *n = node_at(z, sl->ref);
            if (dname_eq(n->name, n->name_len, name, len))
                return sl->ref;
        }
    }
}

const znode_t *zone_find(const zone_t *z, const uint8_t *name, size_t len, uint32_t hash)
{
    uint32_t r = find_ref(z, name, len, hash);
    return r ? node_at(z, r) : NULL;
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
                              const uint8_t *off, unsigned nlabels, const uint32_t *hash,
                              bool is_ds, const znode_t **node)
{
    const znode_t *n = zone_find(z, qname, qlen, hash[0]);
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
        n = zone_find(z, qname + o, qlen - o, hash[i]);
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
    if (n->flags & ZN_WILD) {
        *node = znode_wild(z, n);
        return ZL_WILDCARD;
    }
    *node = n;
    return ZL_NXDOMAIN;
}

const znode_t *znode_wild(const zone_t *z, const znode_t *n)
{
    if (!(n->flags & ZN_WILD) || n->name_len + 2 > DNAME_MAXLEN)
        return NULL;
    uint8_t w[DNAME_MAXLEN];
    w[0] = 1;
    w[1] = '*';
    memcpy(w + 2, n->name, n->name_len);
    return zone_find(z, w, n->name_len + 2u, dname_hash(w, n->name_len + 2u));
}

size_t rrset_rdata_len(const rrset_t *rs)
{
    size_t o = 0;
    for (unsigned i = 0; i < rs->count; i++)
        o += 2u + rd16(rs->rdata + o);
    return o;
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
        if (!zs->nzones || z->labels < zs->min_labels)
            zs->min_labels = z->labels;
        if (!zs->nzones || z->labels > zs->max_labels)
            zs->max_labels = z->labels;
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

static zone_t *get_hashed(const zoneset_t *zs, const uint8_t *name, size_t len, uint32_t h)
{
    for (uint32_t j = h & zs->mask;; j = (j + 1) & zs->mask) {
        zone_t *z = zs->table[j];
        if (!z)
            return NULL;
        if (dname_eq(z->name, z->name_len, name, len))
            return z;
    }
}

zone_t *zoneset_get(const zoneset_t *zs, const uint8_t *name, size_t len)
{
    return get_hashed(zs, name, len, dname_hash(name, len));
}

const zone_t *zoneset_find(const zoneset_t *zs, const uint8_t *qname, size_t qlen,
                           const uint8_t *off, unsigned nlabels, const uint32_t *hash,
                           unsigned from)
{
    if (!zs->nzones || nlabels < zs->min_labels)
        return NULL;
    /* Only suffixes with as many labels as some origin can match: from the longest origin's
     * count (the longest match wins) down to the shortest's. */
    if (nlabels > zs->max_labels && from < nlabels - zs->max_labels)
        from = nlabels - zs->max_labels;
    for (unsigned i = from; i <= nlabels - zs->min_labels; i++) {
        size_t o = suffix_off(off, nlabels, qlen, i);
        const zone_t *z = get_hashed(zs, qname + o, qlen - o, hash[i]);
        if (z)
            return z;
    }
    return NULL;
}

/* ---- construction ---- */

/* One record while the zone is built: 20 bytes, since a large zone has millions. */
struct rec {
    uint32_t owner; /* ref of the owner's node: one per name, so equal refs mean equal owners */
    uint32_t rdata; /* offset into zb->data: grows with insertion, so (rdata, rdlen) orders
                     * records as added (an empty one shares its successor's offset and comes
                     * first) */
    uint32_t ttl;
    uint32_t line;
    uint16_t type;
    uint16_t rdlen;
};

struct zone_builder {
    zone_t *z; /* under construction: its node buffer and table fill as records are added */
    size_t nodelen, nodecap; /* of z->nodebuf */
    uint8_t origin[DNAME_MAXLEN];
    size_t olen;
    unsigned olabels;
    struct rec *recs;
    size_t nrecs, caprecs;
    uint8_t *data; /* rdata of all records, freed once the nodes are built */
    size_t datalen, datacap;
    uint32_t *lines; /* per node, in node order: the line of its first record, for messages */
    size_t linecap;
};

/* Bytes of the block holding a node with a name of this length. */
static size_t block_size(size_t name_len)
{
    return (offsetof(znode_t, name) + name_len + 7) & ~(size_t)7;
}

static void table_reserve(zone_t *z, size_t nodes);

zone_builder_t *zone_builder_new(const uint8_t *origin, size_t len)
{
    zone_builder_t *zb = xcalloc(1, sizeof(*zb));
    zone_t *z = zb->z = xcalloc(1, sizeof(*z));
    z->arena = arena_new();
    atomic_init(&z->refs, 1);
    zb->nodecap = 4096;
    z->nodebuf = xcalloc(1, zb->nodecap);
    zb->nodelen = 8; /* ref 0 means "no node" */
    table_reserve(z, 0);
    dname_tolower(zb->origin, origin, len);
    zb->olen = len;
    zb->olabels = dname_labels(zb->origin);
    return zb;
}

void zone_builder_free(zone_builder_t *zb)
{
    if (!zb)
        return;
    zone_unref(zb->z);
    free(zb->recs);
    free(zb->data);
    free(zb->lines);
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

static void slot_insert(zone_t *z, uint32_t hash, uint32_t ref)
{
    uint32_t i = hash & z->mask;
    while (z->table[i].ref)
        i = (i + 1) & z->mask;
    z->table[i].hash = hash;
    z->table[i].ref = ref;
}

/* Keeps the load factor at or below 1/2 so probes stay short; rehashing uses the stored
 * hashes and so never reads a node. */
static void table_reserve(zone_t *z, size_t nodes)
{
    if (z->table && nodes * 2 <= (size_t)z->mask + 1)
        return;
    uint32_t size = pow2_at_least(nodes * 2);
    struct zslot *old = z->table;
    uint32_t oldsize = old ? z->mask + 1 : 0;
    z->table = xcalloc(size, sizeof(struct zslot));
    z->mask = size - 1;
    for (uint32_t i = 0; i < oldsize; i++) {
        if (old[i].ref)
            slot_insert(z, old[i].hash, old[i].ref);
    }
    free(old);
}

/* Appends a node named name (lowercase) to the node buffer and the table and returns its ref,
 * or 0 if the buffer would outgrow 32-bit refs. The buffer may move: hold refs, not pointers,
 * until the zone is complete. */
static uint32_t add_node(zone_builder_t *zb, const uint8_t *name, size_t len, uint32_t hash,
                         unsigned line)
{
    zone_t *z = zb->z;
    size_t size = block_size(len);
    if ((zb->nodelen + size) / 8 > UINT32_MAX)
        return 0;
    if (zb->nodelen + size > zb->nodecap) {
        /* Grow by half; the untouched tail of a large buffer costs address space, not RSS. */
        zb->nodecap += zb->nodecap / 2 + size;
        z->nodebuf = xrealloc(z->nodebuf, zb->nodecap);
    }
    uint32_t ref = (uint32_t)(zb->nodelen / 8);
    znode_t *n = node_at(z, ref);
    memset(n, 0, size);
    n->name_len = (uint8_t)len;
    n->labels = (uint8_t)dname_labels(name);
    memcpy(n->name, name, len);
    zb->nodelen += size;
    if (z->nnodes == zb->linecap) {
        zb->linecap = zb->linecap ? zb->linecap + zb->linecap / 2 : 256;
        zb->lines = xrealloc(zb->lines, zb->linecap * sizeof(uint32_t));
    }
    zb->lines[z->nnodes++] = line;
    table_reserve(z, z->nnodes);
    slot_insert(z, hash, ref);
    return ref;
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
    if (zb->datalen + rdlen > UINT32_MAX) {
        err_set(err, "%u: zone too large", line);
        return false;
    }
    /* Each name gets one node, made when it first owns a record. Zone files group records by
     * owner, so the previous record's node is tried before the table. */
    uint32_t ref = 0;
    if (zb->nrecs) {
        const znode_t *prev = node_at(zb->z, zb->recs[zb->nrecs - 1].owner);
        if (dname_eq(prev->name, prev->name_len, lc, olen))
            ref = zb->recs[zb->nrecs - 1].owner;
    }
    if (!ref) {
        uint32_t h = dname_hash(lc, olen);
        ref = find_ref(zb->z, lc, olen, h);
        if (!ref)
            ref = add_node(zb, lc, olen, h, line);
        if (!ref) {
            err_set(err, "%u: zone too large", line);
            return false;
        }
    }
    /* Grow by half: a million-record zone should not hold twice its records' room. */
    if (zb->nrecs == zb->caprecs) {
        zb->caprecs = zb->caprecs ? zb->caprecs + zb->caprecs / 2 : 256;
        zb->recs = xrealloc(zb->recs, zb->caprecs * sizeof(struct rec));
    }
    if (zb->datalen + rdlen > zb->datacap) {
        zb->datacap = (zb->datacap ? zb->datacap + zb->datacap / 2 : 65536) + rdlen;
        zb->data = xrealloc(zb->data, zb->datacap);
    }
    struct rec *r = &zb->recs[zb->nrecs];
    r->owner = ref;
    r->type = type;
    r->ttl = ttl;
    r->line = line;
    r->rdata = (uint32_t)zb->datalen;
    r->rdlen = (uint16_t)rdlen;
    memcpy(zb->data + zb->datalen, rdata, rdlen);
    zb->datalen += rdlen;
    zb->nrecs++;
    return true;
}

/* Groups records by node (in the order names first appeared), then by type, then as added. */
static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->owner != y->owner)
        return x->owner < y->owner ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->rdata != y->rdata)
        return x->rdata < y->rdata ? -1 : 1;
    return x->rdlen < y->rdlen ? -1 : x->rdlen > y->rdlen;
}

/* Fills the node of recs[lo..hi) (one owner, sorted by type) with its RRsets. */
static bool build_node(zone_builder_t *zb, const struct rec *recs, size_t lo, size_t hi,
                       const char *file, hadns_err_t *err)
{
    zone_t *z = zb->z;
    size_t ntypes = 0;
    for (size_t i = lo; i < hi; i++) {
        if (i == lo || recs[i].type != recs[i - 1].type)
            ntypes++;
    }
    if (ntypes > 65535) {
        err_set(err, "%s:%u: too many types at one name", file, recs[lo].line);
        return false;
    }
    znode_t *n = node_at(z, recs[lo].owner);
    bool is_apex = dname_eq(n->name, n->name_len, zb->origin, zb->olen);
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

/* The line of the first record owned by node idx (0 for an empty non-terminal). */
static unsigned owner_line(const zone_builder_t *zb, size_t idx)
{
    return zb->lines[idx];
}

/* Name minus its first label (for a name below the origin). */
static const uint8_t *parent_of(const uint8_t *name, size_t len, size_t *plen)
{
    *plen = len - name[0] - 1;
    return name + name[0] + 1;
}

zone_t *zone_builder_finish(zone_builder_t *zb, const char *file, hadns_err_t *err)
{
    uint32_t *refs = NULL, *parent = NULL, *byd = NULL;
    zone_t *z = zb->z;
    z->file = xstrdup(file);
    z->name = arena_dup(z->arena, zb->origin, zb->olen);
    z->name_len = (uint8_t)zb->olen;
    z->labels = (uint8_t)zb->olabels;
    z->nrecords = zb->nrecs;

    if (zb->nrecs)
        qsort(zb->recs, zb->nrecs, sizeof(struct rec), rec_cmp);
    for (size_t lo = 0; lo < zb->nrecs;) {
        size_t hi = lo + 1;
        while (hi < zb->nrecs && zb->recs[hi].owner == zb->recs[lo].owner)
            hi++;
        if (!build_node(zb, zb->recs, lo, hi, file, err))
            goto fail;
        lo = hi;
    }
    /* The records are in the nodes now: give their memory back before the passes below
     * allocate, so a large zone's peak is not both at once. */
    free(zb->recs);
    free(zb->data);
    zb->recs = NULL;
    zb->data = NULL;

    char oname[DNAME_MAXSTR];
    dname_to_str(z->name, oname);
    uint32_t apex = find_ref(z, z->name, z->name_len, dname_hash(z->name, z->name_len));
    const rrset_t *soa = apex ? znode_rrset(node_at(z, apex), T_SOA) : NULL;
    if (!soa) {
        err_set(err, "%s: no SOA record at the zone apex %s", file, oname);
        goto fail;
    }
    if (!znode_rrset(node_at(z, apex), T_NS)) {
        err_set(err, "%s: no NS records at the zone apex %s", file, oname);
        goto fail;
    }
    /* SOA rdata: mname, rname, then serial refresh retry expire minimum. */
    {
        const uint8_t *rd = soa->rdata + 2;
        size_t rdlen = rd16(soa->rdata);
        z->serial = rd32(rd + rdlen - 20);
        uint32_t minimum = rd32(rd + rdlen - 4);
        z->neg_ttl = soa->ttl < minimum ? soa->ttl : minimum;
        /* Which of MNAME and RNAME a negative answer can compress to the origin unsearched. */
        size_t o = 0;
        for (unsigned i = 0; i < 2; i++) {
            uint8_t lc[DNAME_MAXLEN];
            size_t nl = dname_len(rd + o);
            dname_tolower(lc, rd + o, nl);
            if (dname_is_subdomain(lc, nl, z->name, z->name_len))
                z->soa_names_in_zone |= (uint8_t)(1u << i);
            o += nl;
        }
    }

    /* Empty non-terminals: every name between a node and the apex exists (RFC 4592 §2.2.2).
     * Each node's ref and its parent's are noted on the way (by node index), for the passes
     * below. A new node may move the buffer, so each name is walked in a copy. */
    size_t real = z->nnodes, pcap = real + real / 4 + 16;
    refs = xmalloc(pcap * sizeof(uint32_t));
    parent = xmalloc(pcap * sizeof(uint32_t));
    for (size_t i = 0, at = 8; i < real; i++) {
        uint32_t child = (uint32_t)i;
        const znode_t *nd = node_at(z, (uint32_t)(at / 8));
        refs[i] = (uint32_t)(at / 8);
        at += block_size(nd->name_len);
        uint8_t copy[DNAME_MAXLEN];
        size_t len = nd->name_len;
        memcpy(copy, nd->name, len);
        const uint8_t *name = copy;
        parent[child] = 0;
        while (len > z->name_len) {
            name = parent_of(name, len, &len);
            uint32_t h = dname_hash(name, len);
            uint32_t p = find_ref(z, name, len, h);
            if (p) {
                parent[child] = p;
                break;
            }
            uint32_t e = add_node(zb, name, len, h, 0);
            if (!e) {
                err_set(err, "%s: zone too large", file);
                goto fail;
            }
            node_at(z, e)->flags |= ZN_ENT;
            if (z->nnodes > pcap) {
                pcap += pcap / 2;
                refs = xrealloc(refs, pcap * sizeof(uint32_t));
                parent = xrealloc(parent, pcap * sizeof(uint32_t));
            }
            refs[z->nnodes - 1] = e;
            parent[child] = e;
            parent[z->nnodes - 1] = 0;
            child = (uint32_t)(z->nnodes - 1);
        }
    }
    /* The node buffer is final from here on: pointers into it stay valid. */
    z->nodebuf = xrealloc(z->nodebuf, zb->nodelen);
    zb->nodecap = zb->nodelen;
    z->apex = node_at(z, apex);
    z->soa = soa;

    /* Cuts, wildcards and DNAME scope, shallow nodes first so each inherits from its parent
     * (a counting sort by label count). */
    {
        size_t n = z->nnodes, k = 0;
        byd = xmalloc(n * sizeof(uint32_t));
        size_t counts[DNAME_MAXLABELS + 1] = {0}, start[DNAME_MAXLABELS + 1];
        for (size_t i = 0; i < n; i++)
            counts[node_at(z, refs[i])->labels]++;
        for (unsigned d = 0; d <= DNAME_MAXLABELS; d++) {
            start[d] = k;
            k += counts[d];
        }
        for (size_t i = 0; i < n; i++)
            byd[start[node_at(z, refs[i])->labels]++] = (uint32_t)i;
        for (size_t i = 0; i < n; i++) {
            znode_t *nd = node_at(z, refs[byd[i]]);
            if (!parent[byd[i]])
                continue; /* the apex: no cut above it inside this zone */
            znode_t *p = node_at(z, parent[byd[i]]);
            nd->cut = p->cut ? p->cut : (nd->flags & ZN_DELEG) ? nd : NULL;
            if (nd->name[0] == 1 && nd->name[1] == '*')
                p->flags |= ZN_WILD;
            /* RFC 6672 §2.4: nothing exists below a DNAME (it could never be reached). */
            if (p->flags & (ZN_DNAME | ZN_BELOW_DNAME)) {
                nd->flags |= ZN_BELOW_DNAME;
                if (!(nd->flags & ZN_ENT)) {
                    char o[DNAME_MAXSTR];
                    dname_to_str(nd->name, o);
                    err_set(err, "%s:%u: %s lies below a DNAME (RFC 6672 §2.4)", file,
                            owner_line(zb, byd[i]), o);
                    goto fail;
                }
            }
        }
    }

    /* Additional-section targets of NS, MX and SRV, resolved once here. */
    for (size_t i = 0; i < z->nnodes; i++) {
        znode_t *nd = node_at(z, refs[i]);
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
    free(refs);
    free(parent);
    free(byd);
    zb->z = NULL;
    zone_builder_free(zb);
    return z;
fail:
    free(refs);
    free(parent);
    free(byd);
    zone_builder_free(zb); /* and the zone with it */
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
    free(z->nodebuf);
    free(z->table);
    free(z->file);
    free(z);
}
