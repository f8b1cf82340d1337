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

/* ---- construction ----
 *
 * Records are collected with their owner names in one growing buffer, each name once under a
 * provisional id that the hash table already maps it to. finish() sorts the records by id,
 * adds the empty non-terminals, sizes every node's block, and writes the blocks into the node
 * buffer in one allocation that never moves, so the pointers written into it (RRsets, rdata,
 * targets, cuts) are final when written. The table of ids is dropped before the blocks are
 * written and made again, of refs, once the builder's memory is freed: a large zone's peak
 * holds one table, not two. */

/* One record while the zone is built: 20 bytes, since a large zone has millions. */
struct rec {
    uint32_t owner; /* provisional node id: one per name, so equal ids mean equal owners */
    uint32_t rdata; /* offset into zb->data: grows with insertion, so (rdata, rdlen) orders
                     * records as added (an empty one shares its successor's offset and comes
                     * first) */
    uint32_t ttl;
    uint32_t line;
    uint16_t type;
    uint16_t rdlen;
};

struct zone_builder {
    zone_t *z; /* under construction; while records are added, its table maps names to ids */
    uint8_t origin[DNAME_MAXLEN];
    size_t olen;
    unsigned olabels;
    struct rec *recs;
    size_t nrecs, caprecs;
    /* The rdata of every record and each owner name (as a length byte, then the name). */
    uint8_t *data;
    size_t datalen, datacap;
    /* Per id (from 1): where its name is in data, and the line of its first record (0 for an
     * empty non-terminal). */
    uint32_t *names, *lines;
    size_t nids, idcap;
    size_t nreal; /* ids above this are empty non-terminals */
};

static inline const uint8_t *id_name(const zone_builder_t *zb, uint32_t id, size_t *len)
{
    const uint8_t *p = zb->data + zb->names[id];
    *len = p[-1];
    return p;
}

/* Room for n more bytes in data; false if offsets would outgrow 32 bits. */
static bool data_reserve(zone_builder_t *zb, size_t n)
{
    if (zb->datalen + n > UINT32_MAX)
        return false;
    if (zb->datalen + n > zb->datacap) {
        /* Grow by half: a million-record zone should not hold twice its records' room. */
        zb->datacap = (zb->datacap ? zb->datacap + zb->datacap / 2 : 65536) + n;
        zb->data = xrealloc(zb->data, zb->datacap);
    }
    return true;
}

static void table_reserve(zone_t *z, size_t nodes);

zone_builder_t *zone_builder_new(const uint8_t *origin, size_t len)
{
    zone_builder_t *zb = xcalloc(1, sizeof(*zb));
    zone_t *z = zb->z = xcalloc(1, sizeof(*z));
    atomic_init(&z->refs, 1);
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
    free(zb->names);
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
 * hashes and so never reads a name. */
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

/* The id of the name (lowercase), or 0. */
static uint32_t find_id(const zone_builder_t *zb, const uint8_t *name, size_t len, uint32_t hash)
{
    const zone_t *z = zb->z;
    for (uint32_t i = hash & z->mask;; i = (i + 1) & z->mask) {
        const struct zslot *sl = &z->table[i];
        if (!sl->ref)
            return 0;
        if (sl->hash != hash)
            continue; /* a probe that misses reads no name */
        size_t l;
        const uint8_t *n = id_name(zb, sl->ref, &l);
        if (dname_eq(n, l, name, len))
            return sl->ref;
    }
}

/* Gives name (lowercase, not yet known) an id, or returns 0 if the zone is too large. data may
 * move: name must not point into it. */
static uint32_t add_id(zone_builder_t *zb, const uint8_t *name, size_t len, uint32_t hash,
                       unsigned line)
{
    if (zb->nids + 1 >= UINT32_MAX || !data_reserve(zb, len + 1))
        return 0;
    if (zb->nids + 1 >= zb->idcap) {
        zb->idcap = zb->idcap ? zb->idcap + zb->idcap / 2 : 256;
        zb->names = xrealloc(zb->names, zb->idcap * sizeof(uint32_t));
        zb->lines = xrealloc(zb->lines, zb->idcap * sizeof(uint32_t));
    }
    uint32_t id = (uint32_t)++zb->nids;
    zb->data[zb->datalen] = (uint8_t)len;
    memcpy(zb->data + zb->datalen + 1, name, len);
    zb->names[id] = (uint32_t)(zb->datalen + 1);
    zb->lines[id] = line;
    zb->datalen += len + 1;
    table_reserve(zb->z, zb->nids);
    slot_insert(zb->z, hash, id);
    return id;
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
    /* Zone files group records by owner, so the previous record's id is tried first. */
    uint32_t id = 0;
    if (zb->nrecs) {
        size_t l;
        uint32_t prev = zb->recs[zb->nrecs - 1].owner;
        const uint8_t *n = id_name(zb, prev, &l);
        if (dname_eq(n, l, lc, olen))
            id = prev;
    }
    if (!id) {
        uint32_t h = dname_hash(lc, olen);
        id = find_id(zb, lc, olen, h);
        if (!id)
            id = add_id(zb, lc, olen, h, line);
    }
    if (!id || !data_reserve(zb, rdlen)) {
        err_set(err, "%u: zone too large", line);
        return false;
    }
    if (zb->nrecs == zb->caprecs) {
        zb->caprecs = zb->caprecs ? zb->caprecs + zb->caprecs / 2 : 256;
        zb->recs = xrealloc(zb->recs, zb->caprecs * sizeof(struct rec));
    }
    struct rec *r = &zb->recs[zb->nrecs++];
    r->owner = id;
    r->type = type;
    r->ttl = ttl;
    r->line = line;
    r->rdata = (uint32_t)zb->datalen;
    r->rdlen = (uint16_t)rdlen;
    memcpy(zb->data + zb->datalen, rdata, rdlen);
    zb->datalen += rdlen;
    return true;
}

/* Groups records by owner (ids, in the order names first appeared), then by type, then as
 * added. */
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

static bool has_targets(uint16_t type)
{
    return zone_target_offset(type) >= 0;
}

/* Removes duplicate records (RFC 2181 §5: an RRset has none), warns of TTLs that differ within
 * an RRset (the first is kept, RFC 2181 §5.2), and checks each owner's RRsets: one SOA, at the
 * apex; a CNAME alone (RFC 1034 §3.6.2, RFC 2181 §10.1; DNSSEC records aside). The records are
 * sorted; the survivors are packed to the front. */
static bool check_records(zone_builder_t *zb, const char *file, hadns_err_t *err)
{
    struct rec *recs = zb->recs;
    size_t out = 0;
    for (size_t lo = 0; lo < zb->nrecs;) {
        uint32_t owner = recs[lo].owner;
        size_t nl;
        const uint8_t *name = id_name(zb, owner, &nl);
        bool is_apex = dname_eq(name, nl, zb->origin, zb->olen);
        bool has_cname = false, has_other = false;
        size_t ntypes = 0, first = out;
        size_t i = lo;
        for (; i < zb->nrecs && recs[i].owner == owner;) {
            size_t j = i, kept = out;
            for (; j < zb->nrecs && recs[j].owner == owner && recs[j].type == recs[i].type; j++) {
                const struct rec *a = &recs[j];
                bool dup = false;
                for (size_t b = kept; b < out && !dup; b++)
                    dup = recs[b].rdlen == a->rdlen &&
                          !memcmp(zb->data + recs[b].rdata, zb->data + a->rdata, a->rdlen);
                if (dup)
                    continue;
                if (a->ttl != recs[kept].ttl && out > kept)
                    log_warnx("%s:%u: TTL %u differs from %u earlier in the RRset; using %u",
                              file, a->line, a->ttl, recs[kept].ttl, recs[kept].ttl);
                recs[out++] = *a; /* out <= j: never overwrites a record not yet read */
            }
            uint16_t type = recs[kept].type;
            size_t count = out - kept;
            unsigned line2 = count > 1 ? recs[kept + 1].line : 0;
            ntypes++;
            if (count > 65535) {
                err_set(err, "%s:%u: RRset too large", file, recs[kept].line);
                return false;
            }
            if (type == T_SOA && !is_apex) {
                err_set(err, "%s:%u: SOA record not at the zone apex", file, recs[kept].line);
                return false;
            }
            if (type == T_SOA && count > 1) {
                err_set(err, "%s:%u: more than one SOA record", file, line2);
                return false;
            }
            if (type == T_CNAME) {
                has_cname = true;
                if (count > 1) {
                    err_set(err, "%s:%u: more than one CNAME record at one name", file, line2);
                    return false;
                }
            } else if (type != T_RRSIG && type != T_NSEC) {
                has_other = true;
            }
            if (has_cname && has_other) {
                unsigned l1 = recs[first].line, l2 = recs[kept].line;
                err_set(err, "%s:%u: CNAME and other data at the same name (see line %u)", file,
                        l1 > l2 ? l1 : l2, l1 > l2 ? l2 : l1);
                return false;
            }
            i = j;
        }
        if (ntypes > 65535) {
            err_set(err, "%s:%u: too many types at one name", file, recs[first].line);
            return false;
        }
        lo = i;
    }
    zb->nrecs = out;
    return true;
}

/* Bytes of the block for node id, whose records (checked, sorted) start at recs[*at]; *at
 * moves past them. The block: the node and its name, its RRsets, the target arrays of its
 * NS/MX/SRV RRsets, then their rdata. */
static size_t block_size(const zone_builder_t *zb, uint32_t id, size_t *at)
{
    size_t len;
    id_name(zb, id, &len);
    size_t size = (offsetof(znode_t, name) + len + 7) & ~(size_t)7;
    const struct rec *recs = zb->recs;
    size_t i = *at;
    for (; i < zb->nrecs && recs[i].owner == id; i++) {
        if (i == *at || recs[i].type != recs[i - 1].type)
            size += sizeof(rrset_t);
        size += (has_targets(recs[i].type) ? sizeof(znode_t *) : 0) + 2u + recs[i].rdlen;
    }
    *at = i;
    return (size + 7) & ~(size_t)7;
}

/* Writes node id's block at n from recs[*at...] (*at moves past them) and returns its size,
 * which block_size gave before. */
static size_t write_block(const zone_builder_t *zb, uint32_t id, znode_t *n, size_t *at)
{
    size_t len;
    const uint8_t *name = id_name(zb, id, &len);
    size_t head = (offsetof(znode_t, name) + len + 7) & ~(size_t)7;
    memset(n, 0, head);
    memcpy(n->name, name, len);
    n->name_len = (uint8_t)len;
    n->labels = (uint8_t)dname_labels(name);
    n->flags = id > zb->nreal ? ZN_ENT : 0;
    if (dname_eq(name, len, zb->origin, zb->olen))
        n->flags |= ZN_APEX;
    const struct rec *recs = zb->recs;
    size_t lo = *at, hi = lo, ntypes = 0, ntargets = 0;
    for (; hi < zb->nrecs && recs[hi].owner == id; hi++) {
        ntypes += hi == lo || recs[hi].type != recs[hi - 1].type;
        ntargets += has_targets(recs[hi].type);
    }
    *at = hi;
    if (!ntypes)
        return head;
    rrset_t *sets = (rrset_t *)((uint8_t *)n + head);
    const znode_t **targets = (const znode_t **)(sets + ntypes);
    uint8_t *data = (uint8_t *)(targets + ntargets);
    n->rrsets = sets;
    n->nrrsets = (uint16_t)ntypes;
    rrset_t *s = sets;
    for (size_t i = lo; i < hi; i++) {
        const struct rec *r = &recs[i];
        if (i == lo || r->type != recs[i - 1].type) {
            if (i > lo)
                s++;
            *s = (rrset_t){.type = r->type, .ttl = r->ttl, .rdata = data};
            if (has_targets(r->type))
                s->targets = targets; /* filled, or dropped, once every node exists */
            if (r->type == T_A || r->type == T_AAAA)
                n->flags |= ZN_ADDR;
            if (r->type == T_NS && !(n->flags & ZN_APEX))
                n->flags |= ZN_DELEG;
            if (r->type == T_DNAME)
                n->flags |= ZN_DNAME;
        }
        s->count++;
        if (has_targets(r->type))
            *targets++ = NULL;
        wr16(data, r->rdlen);
        memcpy(data + 2, zb->data + r->rdata, r->rdlen);
        data += 2u + r->rdlen;
    }
    size_t size = (size_t)(data - (uint8_t *)n);
    size_t padded = (size + 7) & ~(size_t)7;
    memset(data, 0, padded - size);
    return padded;
}

/* A construction-time mark: below a DNAME (an error unless only empty non-terminals). */
#define ZN_BELOW_DNAME 0x80

/* Name minus its first label (for a name below the origin). */
static const uint8_t *parent_of(const uint8_t *name, size_t len, size_t *plen)
{
    *plen = len - name[0] - 1;
    return name + name[0] + 1;
}

/* Empty non-terminals: every name between a node and the apex exists (RFC 4592 §2.2.2).
 * Returns each id's parent id (0 for the apex), or NULL if the zone grows too large. */
static uint32_t *add_ents(zone_builder_t *zb)
{
    size_t real = zb->nreal = zb->nids, pcap = real + real / 4 + 16;
    uint32_t *parent = xmalloc(pcap * sizeof(uint32_t));
    for (uint32_t id = 1; id <= real; id++) {
        uint8_t copy[DNAME_MAXLEN];
        size_t len;
        const uint8_t *name = id_name(zb, id, &len);
        memcpy(copy, name, len); /* a new id may move data */
        name = copy;
        uint32_t child = id;
        parent[child] = 0;
        while (len > zb->olen) {
            name = parent_of(name, len, &len);
            uint32_t h = dname_hash(name, len);
            uint32_t p = find_id(zb, name, len, h);
            if (p) {
                parent[child] = p;
                break;
            }
            uint32_t e = add_id(zb, name, len, h, 0);
            if (!e) {
                free(parent);
                return NULL;
            }
            if (e >= pcap) {
                pcap += pcap / 2;
                parent = xrealloc(parent, pcap * sizeof(uint32_t));
            }
            parent[child] = e;
            parent[e] = 0;
            child = e;
        }
    }
    return parent;
}

zone_t *zone_builder_finish(zone_builder_t *zb, const char *file, hadns_err_t *err)
{
    uint32_t *parent = NULL, *ref = NULL, *byd = NULL;
    zone_t *z = zb->z;
    z->file = xstrdup(file);
    z->nrecords = zb->nrecs;

    if (zb->nrecs)
        qsort(zb->recs, zb->nrecs, sizeof(struct rec), rec_cmp);
    if (!check_records(zb, file, err))
        goto fail;
    parent = add_ents(zb);
    if (!parent) {
        err_set(err, "%s: zone too large", file);
        goto fail;
    }
    free(z->table);
    z->table = NULL;

    /* Size every block, then write them all into one buffer that never moves. Records are
     * sorted by id and empty non-terminals have none, so one cursor serves every id. */
    size_t total = 8; /* ref 0 is no node */
    for (size_t id = 1, at = 0; id <= zb->nids; id++)
        total += block_size(zb, (uint32_t)id, &at);
    if (total / 8 > UINT32_MAX) {
        err_set(err, "%s: zone too large", file);
        goto fail;
    }
    z->nodebuf = xmalloc(total);
    memset(z->nodebuf, 0, 8);
    ref = xmalloc((zb->nids + 1) * sizeof(uint32_t));
    ref[0] = 0;
    size_t off = 8;
    for (size_t id = 1, at = 0; id <= zb->nids; id++) {
        ref[id] = (uint32_t)(off / 8);
        off += write_block(zb, (uint32_t)id, node_at(z, ref[id]), &at);
    }
    assert(off == total);
    z->nnodes = zb->nids;
    /* Names and rdata are in the blocks now: give the builder's memory back. */
    free(zb->recs);
    free(zb->data);
    free(zb->names);
    zb->recs = NULL;
    zb->data = NULL;
    zb->names = NULL;
    table_reserve(z, z->nnodes);
    for (uint32_t id = 1; id <= z->nnodes; id++) {
        const znode_t *n = node_at(z, ref[id]);
        slot_insert(z, dname_hash(n->name, n->name_len), ref[id]);
    }

    /* Any record in the zone makes the apex a node (an empty non-terminal at least). */
    char oname[DNAME_MAXSTR];
    dname_to_str(zb->origin, oname);
    const znode_t *apex = zone_find(z, zb->origin, zb->olen, dname_hash(zb->origin, zb->olen));
    const rrset_t *soa = apex ? znode_rrset(apex, T_SOA) : NULL;
    if (!soa) {
        err_set(err, "%s: no SOA record at the zone apex %s", file, oname);
        goto fail;
    }
    if (!znode_rrset(apex, T_NS)) {
        err_set(err, "%s: no NS records at the zone apex %s", file, oname);
        goto fail;
    }
    z->apex = apex;
    z->soa = soa;
    z->name = apex->name;
    z->name_len = apex->name_len;
    z->labels = apex->labels;
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

    /* Cuts, wildcards and DNAME scope, shallow nodes first so each inherits from its parent
     * (a counting sort by label count). */
    {
        size_t n = z->nnodes, k = 0;
        byd = xmalloc(n * sizeof(uint32_t));
        size_t counts[DNAME_MAXLABELS + 1] = {0}, start[DNAME_MAXLABELS + 1];
        for (uint32_t id = 1; id <= n; id++)
            counts[node_at(z, ref[id])->labels]++;
        for (unsigned d = 0; d <= DNAME_MAXLABELS; d++) {
            start[d] = k;
            k += counts[d];
        }
        for (uint32_t id = 1; id <= n; id++)
            byd[start[node_at(z, ref[id])->labels]++] = id;
        for (size_t i = 0; i < n; i++) {
            uint32_t id = byd[i];
            znode_t *nd = node_at(z, ref[id]);
            if (!parent[id])
                continue; /* the apex: no cut above it inside this zone */
            znode_t *p = node_at(z, ref[parent[id]]);
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
                            zb->lines[id], o);
                    goto fail;
                }
            }
        }
    }

    /* Additional-section targets of NS, MX and SRV, resolved once here into the arrays their
     * blocks hold; an RRset with none in the zone drops its array. */
    for (uint32_t id = 1; id <= z->nnodes; id++) {
        znode_t *nd = node_at(z, ref[id]);
        for (unsigned s = 0; s < nd->nrrsets; s++) {
            rrset_t *rs = (rrset_t *)&nd->rrsets[s];
            int toff = zone_target_offset(rs->type);
            if (toff < 0)
                continue;
            const znode_t **t = (const znode_t **)rs->targets;
            bool any = false;
            const uint8_t *p = rs->rdata;
            for (unsigned r = 0; r < rs->count; r++) {
                size_t rdlen = rd16(p);
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
            if (!any)
                rs->targets = NULL;
        }
    }
    free(parent);
    free(ref);
    free(byd);
    zb->z = NULL;
    zone_builder_free(zb);
    return z;
fail:
    free(parent);
    free(ref);
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
    free(z->nodebuf);
    free(z->table);
    free(z->file);
    free(z);
}
