/* SPDX-License-Identifier: MIT */
/* snapshot.c: publish and retire snapshots. */
#include "config.h"
#include "snapshot.h"

#include <stdlib.h>
#include <time.h>

#include "xalloc.h"

snapshot_t *snapshot_new(zoneset_t *zones, overlay_t *overlay, geoip_t *geoip)
{
    snapshot_t *s = xcalloc(1, sizeof(*s));
    s->zones = zones;
    s->overlay = overlay;
    s->geoip = geoip;
    if (geoip)
        geoip_ref(geoip);
    return s;
}

void snapshot_free(snapshot_t *s)
{
    if (!s)
        return;
    overlay_free(s->overlay);
    geoip_unref(s->geoip);
    zoneset_free(s->zones);
    free(s);
}

snap_domain_t *snapshot_domain_new(unsigned nreaders, snapshot_t *initial)
{
    snap_domain_t *d = xcalloc(1, sizeof(*d));
    d->nreaders = nreaders;
    d->readers = aligned_alloc(64, sizeof(snap_reader_t) * (nreaders ? nreaders : 1));
    if (!d->readers)
        abort();
    for (unsigned i = 0; i < nreaders; i++)
        atomic_init(&d->readers[i].epoch, 0);
    atomic_init(&d->epoch, 1);
    initial->generation = 1;
    atomic_init(&d->current, initial);
    return d;
}

void snapshot_domain_free(snap_domain_t *d)
{
    if (!d)
        return;
    snapshot_free(atomic_load(&d->current));
    free(d->readers);
    free(d);
}

void snapshot_publish(snap_domain_t *d, snapshot_t *next)
{
    snapshot_t *old = atomic_load(&d->current);
    next->generation = old->generation + 1;
    atomic_store(&d->current, next);
    uint64_t e = atomic_fetch_add(&d->epoch, 1) + 1;
    /* Grace period: every reader is quiescent or has announced an epoch >= e (and so loaded
     * `next`). Readers hold a snapshot for one batch, so this spins briefly. */
    for (unsigned i = 0; i < d->nreaders; i++) {
        for (;;) {
            uint64_t r = atomic_load(&d->readers[i].epoch);
            if (r == 0 || r >= e)
                break;
            struct timespec ts = {0, 50 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    snapshot_free(old);
}
