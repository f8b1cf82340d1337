/* SPDX-License-Identifier: MIT */
/* geoip.c: the one file that speaks libmaxminddb: open and check a MaxMind DB, look addresses up
 * without allocating, and the per-worker /24 and /48 cache in front of the lookups. */
#include "config.h"
#include "geoip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <maxminddb.h>

#include "xalloc.h"

struct geoip {
    MMDB_s mmdb;
    char *path;
    uint64_t gen;
    atomic_uint refs;
};

/* The one mutable global here, against STYLE §3's rule: a generation must never repeat in the
 * process, or a worker's cache would take entries from a closed database for one opened later
 * at the same address. Only geoip_open touches it, with one atomic increment; 0 is kept for
 * "empty cache slot". */
static atomic_uint_fast64_t next_gen = 1;

/* Lookup paths for MMDB_aget_value. Not MMDB_get_value: its varargs form calloc()s and frees a
 * copy of the path on every call (libmaxminddb 1.7 and later), which the query path must not
 * do; the array form walks the given path as it is. */
static const char *const P_CONTINENT[] = {"continent", "code", NULL};
static const char *const P_COUNTRY[] = {"country", "iso_code", NULL};
static const char *const P_REG_COUNTRY[] = {"registered_country", "iso_code", NULL};
static const char *const P_SUBDIVISION[] = {"subdivisions", "0", "iso_code", NULL};
static const char *const P_LAT[] = {"location", "latitude", NULL};
static const char *const P_LON[] = {"location", "longitude", NULL};

/* Addresses looked up at open (one per tree region that real databases fill differently): the
 * IPv4 subtree at both ends and in the middle, MaxMind's own test addresses, an IPv6 network
 * and loopback. The full tree scan in check_tree() already proves every search path sound;
 * these decode real entries so a broken data section is found at open too. */
static const char *const PROBES[] = {
    "0.0.0.0",     "1.1.1.1",
    "8.8.8.8",     "81.2.69.142",
    "127.0.0.1",   "255.255.255.255",
    "2001:218::1", "2a00:1450::1",
    "::1",         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
};

/* What a lookup path found: a value, nothing (the key is absent, a normal case: Country
 * databases have no location, many entries have no subdivision), or a database error. */
enum got { GOT_NONE, GOT_VALUE, GOT_ERROR };

static enum got get(MMDB_entry_s *e, const char *const *path, MMDB_entry_data_s *d, int *st)
{
    int rc = MMDB_aget_value(e, d, path);
    /* An absent key or array index is LOOKUP_PATH_DOES_NOT_MATCH_DATA, not success with
     * has_data false; both mean "not there". */
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
        return GOT_NONE;
    if (rc != MMDB_SUCCESS) {
        *st = rc;
        return GOT_ERROR;
    }
    return d->has_data ? GOT_VALUE : GOT_NONE;
}

/* Copies a code upper-cased into dst (size n, NUL-padded). A value that does not fit, or is
 * not a string of letters and digits, is left out rather than cut: a truncated code would be a
 * wrong answer, an empty one is only "unknown". Returns false on a database error. */
static bool get_code(MMDB_entry_s *e, const char *const *path, char *dst, size_t n, int *st)
{
    MMDB_entry_data_s d;
    memset(dst, 0, n);
    enum got g = get(e, path, &d, st);
    if (g != GOT_VALUE)
        return g != GOT_ERROR;
    if (d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0 || d.data_size >= n)
        return true;
    char tmp[8];
    for (uint32_t i = 0; i < d.data_size; i++) {
        char c = d.utf8_string[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return true;
        tmp[i] = c;
    }
    memcpy(dst, tmp, d.data_size);
    return true;
}

static bool get_degrees(MMDB_entry_s *e, const char *const *path, double *out, bool *ok, int *st)
{
    MMDB_entry_data_s d;
    enum got g = get(e, path, &d, st);
    if (g != GOT_VALUE) {
        *ok = false;
        return g != GOT_ERROR;
    }
    if (d.type == MMDB_DATA_TYPE_DOUBLE)
        *out = d.double_value;
    else if (d.type == MMDB_DATA_TYPE_FLOAT)
        *out = d.float_value;
    else
        *ok = false;
    return true;
}

/* Reads the fields of a found entry into out (whose codes are already empty). Returns an
 * MMDB status; on error out's codes are emptied again. */
static int read_entry(MMDB_entry_s *e, geo_loc_t *out)
{
    int st = MMDB_SUCCESS;
    if (!get_code(e, P_CONTINENT, out->continent, sizeof(out->continent), &st) ||
        !get_code(e, P_COUNTRY, out->country, sizeof(out->country), &st))
        goto fail;
    /* MaxMind leaves "country" out where it has not placed a network (its GeoLite2 CSVs have
     * rows with only a registered country) but still names the country the network is
     * registered to. That is a better guess than nothing. (Its GeoIP2-City-Test data has no
     * such entry; tests/data/mkmmdb.pl writes one.) */
    if (!out->country[0] && !get_code(e, P_REG_COUNTRY, out->country, sizeof(out->country), &st))
        goto fail;
    /* The first subdivision is the largest (state before county), the one policies name. */
    if (!get_code(e, P_SUBDIVISION, out->subdivision, sizeof(out->subdivision), &st))
        goto fail;
    bool ok = true;
    double lat = 0, lon = 0;
    if (!get_degrees(e, P_LAT, &lat, &ok, &st) || !get_degrees(e, P_LON, &lon, &ok, &st))
        goto fail;
    /* Range checks, which NaN fails too: a broken coordinate must not reach a distance sum. */
    if (ok && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
        out->has_coords = true;
        out->lat = lat;
        out->lon = lon;
    }
    geo_loc_regions(out);
    return MMDB_SUCCESS;
fail:
    memset(out->continent, 0, sizeof(out->continent));
    memset(out->country, 0, sizeof(out->country));
    memset(out->subdivision, 0, sizeof(out->subdivision));
    out->has_coords = false;
    return st;
}

static bool is_v4_mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* A data record's decoded fields from the cache c (NULL: none), else read and kept there.
 * Many networks share one record (every network of a city points at the city's), so after the
 * tree walk this spares the decoding, most of a lookup's cost. */
static int read_entry_cached(const geoip_t *g, geoip_cache_t *c, MMDB_entry_s *e,
                             geo_loc_t *out)
{
    if (!c)
        return read_entry(e, out);
    uint64_t h = ((uint64_t)e->offset * UINT64_C(0x9E3779B97F4A7C15)) >> 32;
    geoip_record_entry_t *s = &c->record[h & (GEOIP_CACHE_RECORDS - 1)];
    uint8_t prefix = out->prefix;
    if (s->gen == g->gen && s->offset == e->offset) {
        *out = s->loc;
        out->prefix = prefix;
        return MMDB_SUCCESS;
    }
    int st = read_entry(e, out);
    if (st == MMDB_SUCCESS) {
        s->gen = g->gen;
        s->offset = e->offset;
        s->loc = *out;
    }
    return st;
}

/* The lookup proper, with c's record cache (c may be NULL); returns an MMDB status (success for
 * "not found" too). */
static int lookup(const geoip_t *g, geoip_cache_t *c, int family, const uint8_t *addr,
                  geo_loc_t *out)
{
    memset(out, 0, sizeof(*out));
    if (family == 6 && is_v4_mapped(addr)) {
        family = 4;
        addr += 12;
    }
    uint8_t bits = family == 4 ? 32 : 128;
    /* On an error the answer ("not found") is scoped to this address alone, so a resolver
     * that caches it by ECS scope does not spread it to its neighbours. */
    out->prefix = bits;

    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } sa;
    memset(&sa, 0, sizeof(sa));
    if (family == 4) {
        sa.in4.sin_family = AF_INET;
        memcpy(&sa.in4.sin_addr, addr, 4);
    } else if (family == 6) {
        if (g->mmdb.metadata.ip_version == 4) {
            /* An IPv4-only database knows nothing about IPv6, all of it alike. */
            out->prefix = 0;
            return MMDB_SUCCESS;
        }
        sa.in6.sin6_family = AF_INET6;
        memcpy(&sa.in6.sin6_addr, addr, 16);
    } else {
        return MMDB_INVALID_LOOKUP_PATH_ERROR; /* no such family: the caller's bug */
    }

    int st = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->mmdb, &sa.sa, &st);
    if (st != MMDB_SUCCESS)
        return st;
    /* netmask counts bits in the tree, not in the address: an IPv4 address walks an IPv6 tree
     * from ::/96 on, so its netmask is 96 + the IPv4 prefix. It can be below 96 when the tree
     * ends above the IPv4 subtree (::/64 empty: every IPv4 address alike, prefix 0). */
    int prefix = r.netmask;
    if (family == 4 && g->mmdb.metadata.ip_version == 6)
        prefix -= 96;
    out->prefix = (uint8_t)(prefix < 0 ? 0 : prefix > bits ? bits : prefix);
    if (!r.found_entry)
        return MMDB_SUCCESS;
    return read_entry_cached(g, c, &r.entry, out);
}

bool geoip_lookup(const geoip_t *g, int family, const uint8_t *addr, geo_loc_t *out)
{
    return lookup(g, NULL, family, addr, out) == MMDB_SUCCESS;
}

/* Reads every search node once, in file order: no record may point at the root, past the
 * data section or into the 16-byte separator before it. Afterwards no lookup of any address can
 * fail in the tree walk (MMDB_CORRUPT_SEARCH_TREE_ERROR); only a bad data section can still
 * hurt, and the decoder bounds-checks every read there. Linear in the node count, with no
 * recursion, so a hostile file cannot make it loop or recurse deep; about 21 ms at open for a
 * 1.8-million-node tree (a GeoLite2-City has a few million). */
static int check_tree(const MMDB_s *m, uint32_t *bad_node)
{
    uint32_t n = m->metadata.node_count;
    for (uint32_t i = 0; i < n; i++) {
        MMDB_search_node_s node;
        int rc = MMDB_read_node(m, i, &node);
        if (rc != MMDB_SUCCESS) {
            *bad_node = i;
            return rc;
        }
        uint64_t rec[2] = {node.left_record, node.right_record};
        uint8_t type[2] = {node.left_record_type, node.right_record_type};
        for (int k = 0; k < 2; k++) {
            if (type[k] == MMDB_RECORD_TYPE_INVALID ||
                (type[k] == MMDB_RECORD_TYPE_DATA && rec[k] < (uint64_t)n + 16)) {
                *bad_node = i;
                return MMDB_CORRUPT_SEARCH_TREE_ERROR;
            }
        }
    }
    return MMDB_SUCCESS;
}

/* Checks libmaxminddb's own open-time checks again in 64 bits: a node count whose tree would not
 * fit in the file is refused (1.7's MMDB_open multiplies in 32 bits, so a huge count can wrap
 * and pass there). */
static bool check_metadata(const MMDB_s *m, const char *path, hadns_err_t *err)
{
    const MMDB_metadata_s *md = &m->metadata;
    const char *type = md->database_type ? md->database_type : "";
    if (!strstr(type, "City") && !strstr(type, "Country")) {
        err_set(err, "%s: GeoIP database type '%s' is not a City or Country database", path, type);
        return false;
    }
    if (md->ip_version != 4 && md->ip_version != 6) {
        err_set(err, "%s: corrupt GeoIP database: ip_version %u", path, md->ip_version);
        return false;
    }
    if (md->record_size != 24 && md->record_size != 28 && md->record_size != 32) {
        err_set(err, "%s: corrupt GeoIP database: record_size %u", path, md->record_size);
        return false;
    }
    uint64_t tree = (uint64_t)md->node_count * (md->record_size / 4u);
    if (md->node_count == 0 || m->file_size < 0 || tree + 16 + 3 > (uint64_t)m->file_size) {
        err_set(err, "%s: corrupt GeoIP database: node_count %u does not fit a %lld-byte file",
                path, md->node_count, (long long)m->file_size);
        return false;
    }
    return true;
}

geoip_t *geoip_open(const char *path, hadns_err_t *err)
{
    geoip_t *g = xcalloc(1, sizeof(*g));
    bool opened = false;
    errno = 0;
    int rc = MMDB_open(path, MMDB_MODE_MMAP, &g->mmdb);
    if (rc != MMDB_SUCCESS) {
        if ((rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR) && errno)
            err_set(err, "%s: cannot open GeoIP database: %s: %s", path, MMDB_strerror(rc),
                    strerror(errno));
        else
            err_set(err, "%s: cannot open GeoIP database: %s", path, MMDB_strerror(rc));
        goto fail;
    }
    opened = true;
    if (!check_metadata(&g->mmdb, path, err))
        goto fail;

    uint32_t bad_node = 0;
    rc = check_tree(&g->mmdb, &bad_node);
    if (rc != MMDB_SUCCESS) {
        err_set(err, "%s: corrupt GeoIP database: search tree node %u: %s", path, bad_node,
                MMDB_strerror(rc));
        goto fail;
    }
    for (size_t i = 0; i < ARRAY_SIZE(PROBES); i++) {
        uint8_t a[16];
        int family = strchr(PROBES[i], ':') ? 6 : 4;
        if (inet_pton(family == 4 ? AF_INET : AF_INET6, PROBES[i], a) != 1)
            abort(); /* the table above is wrong */
        geo_loc_t loc;
        rc = lookup(g, NULL, family, a, &loc);
        if (rc != MMDB_SUCCESS) {
            err_set(err, "%s: corrupt GeoIP database: lookup of %s: %s", path, PROBES[i],
                    MMDB_strerror(rc));
            goto fail;
        }
    }

    g->path = xstrdup(path);
    g->gen = atomic_fetch_add(&next_gen, 1);
    atomic_init(&g->refs, 1);
    return g;
fail:
    if (opened)
        MMDB_close(&g->mmdb);
    free(g);
    return NULL;
}

void geoip_ref(geoip_t *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void geoip_unref(geoip_t *g)
{
    if (!g)
        return;
    /* acq_rel: the thread that frees must see every other holder's last reads finished. */
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    MMDB_close(&g->mmdb);
    free(g->path);
    free(g);
}

const char *geoip_path(const geoip_t *g)
{
    return g->path;
}

const char *geoip_type(const geoip_t *g)
{
    return g->mmdb.metadata.database_type;
}

uint64_t geoip_generation(const geoip_t *g)
{
    return g->gen;
}

_Static_assert((GEOIP_CACHE_SLOTS & (GEOIP_CACHE_SLOTS - 1)) == 0,
               "GEOIP_CACHE_SLOTS must be a power of two (slot = hash & mask)");
_Static_assert((GEOIP_CACHE_RECORDS & (GEOIP_CACHE_RECORDS - 1)) == 0,
               "GEOIP_CACHE_RECORDS must be a power of two (slot = hash & mask)");

/* /24 for IPv4 and /48 for IPv6: the widths RFC 7871 §11.1 recommends a client send, so one
 * resolver's queries share a slot, and networks are rarely split finer than this in GeoIP
 * data, so most lookups are cacheable. */
#define CACHE_V4_BITS 24
#define CACHE_V6_BITS 48

/* A miss: the lookup, kept in slot s when it holds for the whole /24 or /48. Out of line, so
 * that the hit path stays a small leaf function. */
static __attribute__((noinline)) const geo_loc_t *
cache_miss(const geoip_t *g, geoip_cache_t *c, geoip_cache_entry_t *s, uint64_t key, int family,
           const uint8_t *addr, geo_loc_t *scratch)
{
    c->misses++;
    if (lookup(g, c, family, addr, scratch) != MMDB_SUCCESS)
        return scratch;
    /* Only a network at least as wide as the key is the same for every address under it;
     * a narrower one (a /25 inside the /24) would answer its neighbours wrongly. */
    if (scratch->prefix <= (family == 4 ? CACHE_V4_BITS : CACHE_V6_BITS)) {
        s->gen = g->gen;
        s->key = key;
        s->loc = *scratch;
    }
    return scratch;
}

const geo_loc_t *geoip_lookup_cached(const geoip_t *g, geoip_cache_t *c, int family,
                                     const uint8_t *addr, geo_loc_t *scratch)
{
    if (!c || (family != 4 && family != 6)) {
        geoip_lookup(g, family, addr, scratch);
        return scratch;
    }
    if (family == 6 && is_v4_mapped(addr)) {
        family = 4;
        addr += 12;
    }
    /* The key: the family above the /24's or the /48's bytes (never 0). */
    uint64_t key = (uint64_t)family << 48;
    if (family == 4)
        key |= (uint64_t)addr[0] << 16 | (uint64_t)addr[1] << 8 | addr[2];
    else
        for (int i = 0; i < CACHE_V6_BITS / 8; i++)
            key |= (uint64_t)addr[i] << (40 - 8 * i);
    /* Fibonacci hashing: the multiply spreads neighbouring /24s over the table; the top bits
     * are the well-mixed ones. */
    uint64_t h = (key * UINT64_C(0x9E3779B97F4A7C15)) >> 32;
    geoip_cache_entry_t *s = &c->slot[h & (GEOIP_CACHE_SLOTS - 1)];
    if (s->gen == g->gen && s->key == key) {
        c->hits++;
        return &s->loc;
    }
    return cache_miss(g, c, s, key, family, addr, scratch);
}
