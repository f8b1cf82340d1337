/* SPDX-License-Identifier: MIT */
/* snapshot.h: the immutable bundle the query path reads (the zone set, the policy overlay built
 * over it with the checks' states of its moment, the GeoIP database), published through
 * one atomic pointer and retired by quiescent-state tracking (QSBR) so that readers take no lock
 * and never see freed memory. */
#ifndef HADNS_SNAPSHOT_H
#define HADNS_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "compiler.h"
#include "geoip.h"
#include "policy.h"
#include "zonedb.h"

typedef struct snapshot {
    zoneset_t *zones;   /* owned */
    overlay_t *overlay; /* owned; NULL = no policies */
    geoip_t *geoip;     /* one reference; NULL = no database */
    uint64_t generation;
} snapshot_t;

/* One reader slot per worker thread. 64-byte aligned so workers never share a cache line. */
typedef struct snap_reader {
    _Alignas(64) _Atomic uint64_t epoch; /* 0 = quiescent (not reading) */
} snap_reader_t;

typedef struct snap_domain {
    _Atomic(snapshot_t *) current;
    _Atomic uint64_t epoch;
    unsigned nreaders;
    snap_reader_t *readers;
} snap_domain_t;

/* A domain with nreaders reader slots, publishing `initial` (taken). [main] */
snap_domain_t *snapshot_domain_new(unsigned nreaders, snapshot_t *initial) WUNUSED;
/* Frees the domain and its current snapshot; no reader may be active. NULL is a no-op. [main] */
void snapshot_domain_free(snap_domain_t *d);

/* A snapshot owning zones and overlay (both taken, overlay may be NULL) and holding a new
 * reference to geoip (may be NULL). [any] */
snapshot_t *snapshot_new(zoneset_t *zones, overlay_t *overlay, geoip_t *geoip) WUNUSED;
void snapshot_free(snapshot_t *s);

/* Reader side: between begin and end, the returned snapshot stays valid. Readers hold it for one
 * batch of packets at most; a reader blocked in epoll is quiescent. [worker] */
static inline const snapshot_t *snapshot_read_begin(snap_domain_t *d, unsigned reader)
{
    /* Announce the epoch before loading the pointer (both seq_cst): a writer that sees this
     * epoch (or a newer one) knows we load the new pointer. */
    uint64_t e = atomic_load(&d->epoch);
    atomic_store(&d->readers[reader].epoch, e);
    return atomic_load(&d->current);
}

static inline void snapshot_read_end(snap_domain_t *d, unsigned reader)
{
    atomic_store_explicit(&d->readers[reader].epoch, 0, memory_order_release);
}

/* Writer side: publishes next (taken) and waits until no reader can still hold the previous
 * snapshot, then frees it. Waits microseconds in practice (one batch). [main] */
void snapshot_publish(snap_domain_t *d, snapshot_t *next) NONNULL;

/* The current snapshot, for the writer's own reading (it is the only one that replaces it). */
static inline snapshot_t *snapshot_current(snap_domain_t *d)
{
    return atomic_load(&d->current);
}

#endif
