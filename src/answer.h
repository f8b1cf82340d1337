/* SPDX-License-Identifier: MIT */
/* answer.h: builds the response to one query (RFC 1034 §4.3.2) into a caller's buffer. */
#ifndef HADNS_ANSWER_H
#define HADNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "geoip.h"
#include "snapshot.h"
#include "wire.h"
#include "zonedb.h"

struct sockaddr;

/* Server-wide answer settings, fixed while the server runs. */
typedef struct answer_opts {
    uint16_t udp_payload;  /* our EDNS payload: the largest UDP response we send (512..4096) */
    const uint8_t *nsid;   /* RFC 5001 NSID payload, or NULL when not configured */
    uint16_t nsid_len;
} answer_opts_t;

/* Distinct target nodes whose addresses go into the additional section. An NS set of 13 plus a
 * few MX or SRV targets fits; past that the remaining targets are left out, as RFC 2181 §9
 * allows for additional data. */
#define ANSWER_MAX_ADDITIONAL 32
/* Names whose offset in the response is remembered, so that an owner repeating them is
 * written as a pointer without searching: targets of NS, MX and SRV records, a chain's names,
 * a referral's cut. Past that, owners are compressed by searching. */
#define ANSWER_MAX_KNOWN 16

/* Per-worker scratch: the parsed query, the packet writer, the nodes already in the
 * additional section and the names at known offsets, reset by every call (kept here, not in
 * the response under construction, so that starting a response zeroes a few words, not these
 * arrays); the worker's random state (weighted answers) and GeoIP cache, which persist. */
typedef struct answer_ctx {
    query_t q;
    pkt_t pkt;
    uint64_t rng;             /* xorshift state; 0 = seed on first use */
    geoip_cache_t *geo_cache; /* NULL = look every client up in the database */
    geo_loc_t geo_scratch;    /* a location that did not come from the cache */
    const znode_t *added[ANSWER_MAX_ADDITIONAL];
    struct {
        const uint8_t *name; /* the address of the bytes we hold for the name */
        uint16_t off;
    } known[ANSWER_MAX_KNOWN];
} answer_ctx_t;

/* Largest response we ever build: TCP's 16-bit length prefix bounds it. */
#define ANSWER_MAX 65535

/* Answers the message req[0..len) from src (the client's address for GeoIP when the query has
 * no EDNS Client Subnet; may be NULL) into resp[0..resp_cap). For UDP the size is further
 * bounded by the client's EDNS payload (or 512) and opts->udp_payload; over TCP by resp_cap.
 * snap may be NULL or hold no zones (nothing loaded: every name is REFUSED). Returns the
 * response length, or 0 when nothing must be sent (not a query). Allocates nothing, takes no
 * lock. [worker] */
size_t answer_query(answer_ctx_t *ctx, const snapshot_t *snap, const answer_opts_t *opts,
                    const uint8_t *req, size_t len, const struct sockaddr *src, uint8_t *resp,
                    size_t resp_cap, bool tcp) HOT;

/* The rcode of a response built by answer_query (low 4 bits plus the OPT extension). */
static inline unsigned answer_rcode(const uint8_t *resp)
{
    return resp[3] & 0xfu;
}

#endif
