/* SPDX-License-Identifier: MIT */
/* policy.h: the answer overlay. For each configured policy it ties the records of one A/AAAA
 * RRset of a served zone to health checks and a rule tree (failover, all_healthy, weighted,
 * geo, nearest). The overlay is built on the main thread whenever the zones, the config or a
 * check's state change, and published with the snapshot; everything that depends only on
 * health is computed then. At query time a worker finds the RRset's policy (one probe of a
 * small pointer-keyed table) and picks the records: a precomputed mask for static rules, a
 * short walk of the rule tree for the ones that depend on the client (geo, nearest) or on
 * chance (weighted, a capped all_healthy). */
#ifndef HADNS_POLICY_H
#define HADNS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "err.h"
#include "geoip.h"
#include "zonedb.h"

struct cfg;

typedef struct policy policy_t;
typedef struct overlay overlay_t;

/* ---- building [main] ---- */

/* What the overlay needs to know about the check behind a candidate. */
typedef struct policy_check_state {
    bool up;            /* effective state UP, or still UNKNOWN (never read as down) */
    bool fixed;         /* forced: it cannot change on its own */
    uint32_t steady_ms; /* the shortest time before the state can change: (results still
                         * needed - 1) x interval; a probe may land at any moment */
} policy_check_state_t;

/* Resolves a check name from the config for the candidate at address (text form): an explicit
 * check, or a template's check for that address. False with err when there is no such check.
 * Implemented by server.c over the health registry. */
typedef bool (*policy_check_fn)(void *arg, const char *check, const char *address,
                                policy_check_state_t *out, hadns_err_t *err);

/* Builds the overlay of cfg's policies over zs. A policy that cannot apply (its zone is not
 * loaded, its RRset is missing or signed, a candidate is not in the RRset, a check does not
 * exist) is left out, and its reason is reported through warn (one call per problem); with
 * strict, the first problem fails the build instead (NULL with err: the start-up path, where
 * a mismatch between config and zones must stop the server). Returns an owned overlay (empty
 * when there are no policies). */
overlay_t *overlay_build(const struct cfg *cfg, const zoneset_t *zs, policy_check_fn check,
                         void *arg, bool strict, void (*warn)(void *arg, const char *msg),
                         hadns_err_t *err) __attribute__((nonnull(1, 3)));
void overlay_free(overlay_t *ov);

/* Policies in the overlay, and what "checks"-style status needs of each. [main] */
size_t overlay_count(const overlay_t *ov) NONNULL;
typedef struct policy_info {
    const char *name;
    const char *owner; /* presentation form */
    uint16_t rrtype;
    unsigned candidates, healthy; /* records that are candidates; of them healthy */
    uint32_t ttl;                 /* of the answers now (after ttl_from_health) */
    bool all_down;                /* answers come from when_all_down */
    bool located;                 /* answers depend on the client's location */
    bool varies;                  /* answers depend on the client or on chance */
    uint64_t serving;             /* when !varies: the records every client gets now */
    unsigned nrec;                /* records in the RRset */
    const uint8_t *const *rec;    /* rec[i]: record i's rdata with its length prefix */
} policy_info_t;
void overlay_info(const overlay_t *ov, size_t i, policy_info_t *out) NONNULL;

/* ---- the query path [worker] ---- */

/* The policy for this RRset, or NULL (a static RRset). */
const policy_t *overlay_find(const overlay_t *ov, const rrset_t *rs) HOT;

/* Whether policy_pick will read the client's location (a geo or nearest rule). */
bool policy_located(const policy_t *p) NONNULL;

typedef struct policy_pick {
    uint64_t mask;           /* bit i: record i of the RRset (in rdata order) is served */
    uint32_t ttl;
    const uint8_t *const *rec; /* rec[i]: record i's rdata with its 16-bit length prefix */
} policy_pick_t;

/* Picks the records to serve. loc is the client's location (NULL when unknown: geo answers
 * with its default, nearest in declared order). rng is the caller's xorshift state (never 0).
 * Never an empty mask: when every candidate is down it is the when_all_down set. Allocates
 * nothing. */
void policy_pick(const policy_t *p, const geo_loc_t *loc, uint64_t *rng, policy_pick_t *out)
    __attribute__((nonnull(1, 3, 4))) HOT;

#endif
