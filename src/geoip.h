/* SPDX-License-Identifier: MIT */
/* geoip.h: client locations from a MaxMind DB (.mmdb: GeoLite2/GeoIP2 City or Country) through
 * libmaxminddb. A database is opened on the main or reload thread and then only read; any
 * number of workers may look up in it at once. Workers keep a small per-thread cache so that a
 * busy resolver's address costs one table probe, not a tree walk. */
#ifndef HADNS_GEOIP_H
#define HADNS_GEOIP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "err.h"

/* The levels of a region, widest first: what a geo policy's keys name. */
enum geo_level { GEO_CONTINENT, GEO_COUNTRY, GEO_SUBDIVISION, GEO_LEVELS };

/* A region as one integer, so that the query path compares regions with one instruction: the
 * level, then the code's characters (continent or country: code is two letters; subdivision:
 * code is the country and sub the one to three characters after ISO 3166-2's '-'). 0 when the
 * code is empty: no region, which no key equals. */
static inline uint64_t geo_region(int level, const char *code, const char *sub)
{
    if (!code[0] || (level == GEO_SUBDIVISION && !sub[0]))
        return 0;
    uint64_t r = (uint64_t)(level + 1) << 56 | (uint64_t)(uint8_t)code[0] << 48 |
                 (uint64_t)(uint8_t)code[1] << 40;
    for (int i = 0; level == GEO_SUBDIVISION && i < 3 && sub[i]; i++)
        r |= (uint64_t)(uint8_t)sub[i] << (32 - 8 * i);
    return r;
}

/* Where an address is, as far as the database knows. Codes are upper case and NUL-padded; an
 * empty code means "not in the database". */
typedef struct geo_loc {
    char continent[3];   /* "EU", "NA", ... (MaxMind's continent codes) */
    char country[3];     /* ISO 3166-1 alpha-2: "DE" */
    char subdivision[4]; /* ISO 3166-2 part after the country, of the first (largest) one
                          * MaxMind lists: "CA" for US-CA */
    uint64_t region[GEO_LEVELS]; /* the codes as geo_region()s, by enum geo_level */
    bool has_coords;
    double lat, lon; /* degrees, when has_coords */
    /* Prefix length (in the address's own family: 0..32 for IPv4 and for an IPv4-mapped IPv6
     * address, 0..128 for IPv6) of the database network the address fell in, found or not:
     * every address sharing that prefix gets the same answer (RFC 7871 SCOPE PREFIX-LENGTH).
     * After a database error it is the full length: the answer is this address's alone. */
    uint8_t prefix;
} geo_loc_t;

/* Sets l's regions from its codes. */
static inline void geo_loc_regions(geo_loc_t *l)
{
    l->region[GEO_CONTINENT] = geo_region(GEO_CONTINENT, l->continent, "");
    l->region[GEO_COUNTRY] = geo_region(GEO_COUNTRY, l->country, "");
    l->region[GEO_SUBDIVISION] = geo_region(GEO_SUBDIVISION, l->country, l->subdivision);
}

typedef struct geoip geoip_t;

/* Opens and checks the database at path: it must be a valid MaxMind DB whose metadata
 * database_type names a City or Country database (GeoLite2-City, GeoIP2-Country, DBIP-...).
 * Every search tree node is read and a few addresses are looked up at open, so that a corrupt
 * tree or data section is found here, not by a worker. The file is mmap()ed: replace it by
 * rename, never rewrite it in place while open. Returns an owned database with one
 * reference, or NULL with err set to "path: reason". [main/reload] */
geoip_t *geoip_open(const char *path, hadns_err_t *err) WUNUSED NONNULL;
/* Takes one more reference (a snapshot holding the database). [any] */
void geoip_ref(geoip_t *g) NONNULL;
/* Drops a reference; the last one closes the database. NULL is a no-op. [any] */
void geoip_unref(geoip_t *g);

/* The database's path and its type string from the metadata ("GeoIP2-City"). [any] */
const char *geoip_path(const geoip_t *g) NONNULL;
const char *geoip_type(const geoip_t *g) NONNULL;
/* A number unique to this open database in this process (never reused, never 0), for
 * caches. [any] */
uint64_t geoip_generation(const geoip_t *g) NONNULL;

/* Looks up an address: family 4 with 4 bytes or 6 with 16 bytes (an IPv4-mapped IPv6 address
 * ::ffff:a.b.c.d is looked up as IPv4). Always fills out (codes empty when not found, prefix
 * set). False only on a database error (or a family other than 4 and 6), which the caller
 * treats as "not found". Allocates nothing. [worker] */
bool geoip_lookup(const geoip_t *g, int family, const uint8_t *addr, geo_loc_t *out) NONNULL;

/* Per-worker cache of lookups by /24 (IPv4) or /48 (IPv6), direct-mapped. Only networks at
 * least that wide are cached, so a cached entry is exact for every address it covers. Behind
 * it, a cache of decoded data records by their offset in the database: a new /24 in a known
 * city costs the tree walk only. */
#define GEOIP_CACHE_SLOTS 4096
#define GEOIP_CACHE_RECORDS 1024

typedef struct geoip_cache_entry {
    uint64_t gen; /* geoip_generation of the database the entry came from; 0 = empty */
    uint64_t key; /* the family and the /24 or /48 */
    geo_loc_t loc;
} geoip_cache_entry_t;

typedef struct geoip_record_entry {
    uint64_t gen; /* as above */
    uint32_t offset; /* the record's offset in the data section */
    geo_loc_t loc;   /* its fields (prefix: of the lookup that read it, not used) */
} geoip_record_entry_t;

typedef struct geoip_cache {
    geoip_cache_entry_t slot[GEOIP_CACHE_SLOTS];
    geoip_record_entry_t record[GEOIP_CACHE_RECORDS];
    uint64_t hits, misses;
} geoip_cache_t;

/* geoip_lookup through the cache c (NULL: no caching). Returns the location: a cache entry
 * (valid until the next lookup through c) or scratch, never NULL; after a database error it is
 * "not found" with the full prefix, as geoip_lookup leaves it. Entries carry the database's
 * generation, so a cache needs no flush when the database is replaced. A cache is plain memory
 * (zero it to start: all slots empty); every lookup that is not a hit counts as a miss.
 * Allocates nothing. [worker, one cache per thread] */
const geo_loc_t *geoip_lookup_cached(const geoip_t *g, geoip_cache_t *c, int family,
                                     const uint8_t *addr, geo_loc_t *scratch)
    __attribute__((nonnull(1, 4, 5), returns_nonnull));

#endif
