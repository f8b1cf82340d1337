/* SPDX-License-Identifier: MIT */
/* zonedb.h: immutable zones (hashed name nodes with wire-format RRsets), the zone set, and the
 * RFC 1034 §4.3.2 lookup. Knows nothing of health, policy or GeoIP. */
#ifndef HADNS_ZONEDB_H
#define HADNS_ZONEDB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "compiler.h"
#include "dname.h"
#include "err.h"

typedef struct znode znode_t;

/* One RRset. rdata holds count records, each as a 16-bit big-endian length then the rdata in
 * uncompressed wire form, in zone-file order with duplicates removed. */
typedef struct rrset {
    uint16_t type;
    uint16_t count;
    uint32_t ttl;
    const uint8_t *rdata;
    /* NS, MX, SRV: per record, the in-zone node of its target name if that node has address
     * records, else NULL; resolved at load so additional-section processing does no lookups.
     * NULL for other types. */
    const znode_t *const *targets;
} rrset_t;

/* Node flags. */
#define ZN_APEX 0x01   /* the zone's origin */
#define ZN_DELEG 0x02  /* NS at a name other than the apex: a zone cut */
#define ZN_ENT 0x04    /* empty non-terminal: exists only because names below it do */
#define ZN_ADDR 0x08   /* has A or AAAA */
#define ZN_DNAME 0x10  /* has a DNAME: names below it are synthesized (RFC 6672) */
#define ZN_WILD 0x20   /* "*.<this name>" exists (znode_wild finds it) */

/* A node leads its block in the zone's node buffer: its name follows it, then its RRsets and
 * their rdata. A lookup pays for the hash slot and the block, where the slot, the node, its
 * name and its RRsets were each a separate dependent cache miss. */
struct znode {
    const rrset_t *rrsets; /* sorted by type */
    const znode_t *cut;    /* the highest zone cut at or above this node, or NULL */
    uint16_t nrrsets;
    uint8_t name_len;
    uint8_t labels;
    uint8_t flags;
    uint8_t name[]; /* lowercase wire, name_len bytes */
};

typedef struct zone {
    const uint8_t *name; /* the apex node's name */
    uint8_t name_len;
    uint8_t labels;
    const znode_t *apex;
    const rrset_t *soa;
    uint8_t soa_names_in_zone; /* bit 0: MNAME, bit 1: RNAME ends in the origin */
    uint32_t serial;
    uint32_t neg_ttl; /* RFC 2308 §5: min(SOA TTL, SOA MINIMUM), for negative answers */
    size_t nnodes, nrecords;
    /* Every node's block, 8-byte aligned: the node and its name, its RRsets, their target
     * arrays and rdata, so a lookup's slot leads to one contiguous run of memory. A block is
     * named by its offset / 8 (a "ref"); ref 0 is never a node. */
    uint8_t *nodebuf;
    uint32_t mask; /* hash table size - 1 */
    /* Open addressing with linear probing. A slot keeps the name's hash beside the node's ref
     * (0 = empty), so a probe that misses never touches node memory. */
    struct zslot {
        uint32_t hash, ref;
    } *table;
    char *file;              /* the file it was loaded from, for reload and messages */
    struct stat file_stat;   /* its stat at load, to see whether a reload must parse it again */
    atomic_uint refs;        /* zone sets sharing this zone */
} zone_t;

/* Returns the node with this exact lowercase name, or NULL. [any] */
const znode_t *zone_find(const zone_t *z, const uint8_t *name, size_t len, uint32_t hash)
    NONNULL HOT;
/* Returns the RRset of this type at the node, or NULL. [any] */
const rrset_t *znode_rrset(const znode_t *n, uint16_t type) NONNULL HOT;
/* Returns the node "*.<n's name>" if n has one (ZN_WILD), else NULL. [any] */
const znode_t *znode_wild(const zone_t *z, const znode_t *n) NONNULL;
/* Bytes of rdata (length prefixes included) in the RRset. [any] */
size_t rrset_rdata_len(const rrset_t *rs) NONNULL;

enum zlookup_kind {
    ZL_EXACT,      /* node is the qname's node (authoritative data or an ENT) */
    ZL_WILDCARD,   /* node is the wildcard node that synthesizes the qname (RFC 4592) */
    ZL_DELEGATION, /* node is the zone cut at or above the qname: answer with a referral */
    ZL_NXDOMAIN,   /* node is the closest encloser; no name and no wildcard */
    ZL_DNAME,      /* node is a DNAME owner above the qname: substitute (RFC 6672 §3.2) */
};

/* RFC 1034 §4.3.2 steps 3a-3c inside one zone. qname is lowercase wire with label offsets off[]
 * and nlabels labels, at or below the zone's origin. A DS query at a cut is answered from this
 * (the parent) side, so is_ds keeps the cut node itself authoritative. [worker] */
enum zlookup_kind zone_lookup(const zone_t *z, const uint8_t *qname, size_t qlen,
                              const uint8_t *off, unsigned nlabels, const uint32_t *hash,
                              bool is_ds, const znode_t **node) NONNULL HOT;

/* The zones being served: an immutable set, looked up by longest match. */
typedef struct zoneset {
    size_t nzones;
    zone_t **zones; /* each holds a reference */
    uint32_t mask;
    zone_t **table; /* by origin hash */
    unsigned min_labels, max_labels; /* of the origins: the suffixes worth looking up */
} zoneset_t;

/* Builds a set from n zones, taking a new reference to each; NULL entries are skipped. [main] */
zoneset_t *zoneset_new(zone_t *const *zones, size_t n) WUNUSED;
/* Drops the set and its zone references, freeing zones no other set uses; NULL is a no-op. */
void zoneset_free(zoneset_t *zs);
/* The zone whose origin is the longest suffix of qname considering at most the suffixes from
 * label index `from` on (0 = the whole name); NULL if none. [worker] */
const zone_t *zoneset_find(const zoneset_t *zs, const uint8_t *qname, size_t qlen,
                           const uint8_t *off, unsigned nlabels, const uint32_t *hash,
                           unsigned from) HOT;
/* The zone with exactly this origin, or NULL. [any] */
zone_t *zoneset_get(const zoneset_t *zs, const uint8_t *name, size_t len);

/* Zone construction, used by zoneload (files) and later by transfers. */
typedef struct zone_builder zone_builder_t;

/* A builder for the zone at origin (lowercase wire). [any thread, one builder per thread] */
zone_builder_t *zone_builder_new(const uint8_t *origin, size_t len) WUNUSED NONNULL;
void zone_builder_free(zone_builder_t *zb);
/* Adds one IN-class record. owner is wire (any case); rdata is uncompressed wire. line is where it
 * came from, for messages. False with err set if the owner lies outside the zone. */
bool zone_builder_add(zone_builder_t *zb, const uint8_t *owner, size_t olen, uint16_t type,
                      uint32_t ttl, const uint8_t *rdata, size_t rdlen, unsigned line,
                      hadns_err_t *err) NONNULL;
/* Checks the zone (one SOA at the apex, NS at the apex, CNAME alone at its name) and builds the
 * immutable zone. file is copied and used in messages ("file:line: ..."). Returns an owned zone
 * with one reference, or NULL with err set. The builder is spent either way. */
zone_t *zone_builder_finish(zone_builder_t *zb, const char *file, hadns_err_t *err) NONNULL;

/* Reference counting for sharing a zone between sets. [main] */
void zone_ref(zone_t *z) NONNULL;
void zone_unref(zone_t *z);

/* Offset of the target name in rdata of NS/MX/SRV (the types with additional-section
 * processing), or -1 for other types. [any] */
int zone_target_offset(uint16_t type);

#endif
