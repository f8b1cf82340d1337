/* SPDX-License-Identifier: MIT */
/* server.c: the main thread. Everything slow (zone parsing) runs on a reload thread; the result
 * is published as a new snapshot in one atomic step. */
#include "config.h"
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "log.h"
#include "net.h"
#include "snapshot.h"
#include "xalloc.h"
#include "zoneload.h"

/* One run of the reload thread: for each configured zone, the version being served (may be
 * NULL if it never loaded) and what the run made of it. */
struct reload_job {
    const cfg_t *cfg;
    zone_t **old;      /* referenced; index = config zone index */
    zone_t **fresh;    /* newly parsed zone, or NULL when unchanged or failed */
    hadns_err_t *errs; /* set when parsing failed */
    struct event *done; /* activated on the main loop when the run is over */
};

typedef struct server {
    cfg_t *cfg;
    struct event_base *base;
    snap_domain_t *snap;
    net_t *net;
    struct event *ev_hup, *ev_term, *ev_int, *ev_reload_done;
    pthread_t reload_thread;
    bool reloading, reload_again;
    struct reload_job job;
} server_t;

static const char *zone_label(const cfg_zone_t *cz)
{
    return cz->name;
}

/* Finds the zone for config entry cz in a set (by origin). */
static zone_t *find_configured(const zoneset_t *zs, const cfg_zone_t *cz)
{
    uint8_t wire[DNAME_MAXLEN];
    size_t len = dname_from_str(cz->name, wire);
    return len && zs ? zoneset_get(zs, wire, len) : NULL;
}

static void log_loaded(const cfg_zone_t *cz, const zone_t *z, const char *verb)
{
    log_info("zone %s: %s serial %u, %zu records, %zu names from %s", zone_label(cz), verb,
             z->serial, z->nrecords, z->nnodes, cz->file);
}

bool server_check_zones(const cfg_t *cfg)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nzones; i++) {
        hadns_err_t err = {{0}};
        zone_t *z = zoneload_file(cfg->zones[i].name, cfg->zones[i].file, &err);
        if (!z) {
            log_errx("zone %s: %s", zone_label(&cfg->zones[i]), err.msg);
            ok = false;
            continue;
        }
        log_loaded(&cfg->zones[i], z, "checked");
        zone_unref(z);
    }
    return ok;
}

/* ---- reload ---- */

static void *reload_main(void *arg)
{
    struct reload_job *job = arg;
    for (size_t i = 0; i < job->cfg->nzones; i++) {
        const cfg_zone_t *cz = &job->cfg->zones[i];
        if (job->old[i] && !zoneload_changed(job->old[i], cz->file))
            continue;
        job->fresh[i] = zoneload_file(cz->name, cz->file, &job->errs[i]);
    }
    event_active(job->done, EV_READ, 0); /* thread-safe: evthread_use_pthreads() */
    return NULL;
}

static void reload_done_cb(evutil_socket_t fd, short what, void *arg);

static void reload_start(server_t *s)
{
    if (s->reloading) {
        s->reload_again = true; /* a SIGHUP during a reload: run once more after it */
        return;
    }
    size_t n = s->cfg->nzones;
    struct reload_job *job = &s->job;
    job->cfg = s->cfg;
    job->done = s->ev_reload_done;
    job->old = xcalloc(n ? n : 1, sizeof(zone_t *));
    job->fresh = xcalloc(n ? n : 1, sizeof(zone_t *));
    job->errs = xcalloc(n ? n : 1, sizeof(hadns_err_t));
    const zoneset_t *cur = snapshot_current(s->snap)->zones;
    for (size_t i = 0; i < n; i++) {
        job->old[i] = find_configured(cur, &s->cfg->zones[i]);
        if (job->old[i])
            zone_ref(job->old[i]);
    }
    log_info("reload: checking %zu zones", n);
    s->reloading = true;
    int rc = pthread_create(&s->reload_thread, NULL, reload_main, job);
    if (rc != 0) {
        log_errx("reload: cannot start the reload thread: %s", strerror(rc));
        /* Run it here instead: slower for queries, but the operator asked for it. */
        reload_main(job);
        s->reload_thread = pthread_self();
    }
}

/* Runs on the main loop once reload_main has finished. */
static void reload_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_t *s = arg;
    if (!pthread_equal(s->reload_thread, pthread_self()))
        pthread_join(s->reload_thread, NULL);
    struct reload_job *job = &s->job;
    size_t n = s->cfg->nzones, changed = 0, failed = 0;
    zone_t **next = xcalloc(n ? n : 1, sizeof(zone_t *));
    for (size_t i = 0; i < n; i++) {
        const cfg_zone_t *cz = &s->cfg->zones[i];
        if (job->fresh[i]) {
            next[i] = job->fresh[i];
            changed++;
            log_loaded(cz, job->fresh[i], "reloaded");
        } else {
            next[i] = job->old[i];
            if (job->errs[i].msg[0]) {
                failed++;
                if (job->old[i])
                    log_errx("zone %s: reload failed, still serving serial %u: %s",
                             zone_label(cz), job->old[i]->serial, job->errs[i].msg);
                else
                    log_errx("zone %s: load failed, not served: %s", zone_label(cz),
                             job->errs[i].msg);
            }
        }
    }
    if (changed) {
        snapshot_publish(s->snap, snapshot_new(zoneset_new(next, n)));
    }
    log_notice("reload: %zu zones changed, %zu failed, %zu unchanged", changed, failed,
               n - changed - failed);
    for (size_t i = 0; i < n; i++) {
        zone_unref(job->fresh[i]); /* the new set holds its own reference */
        zone_unref(job->old[i]);
    }
    free(next);
    free(job->old);
    free(job->fresh);
    free(job->errs);
    memset(job, 0, sizeof(*job));
    s->reloading = false;
    if (s->reload_again) {
        s->reload_again = false;
        reload_start(s);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    server_t *s = arg;
    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading changed zones");
        reload_start(s);
        return;
    }
    log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopbreak(s->base);
}

/* Loads all zones at start. A zone that fails is logged and not served; the rest start. */
static zoneset_t *initial_zones(const cfg_t *cfg, size_t *failed)
{
    zone_t **zones = xcalloc(cfg->nzones ? cfg->nzones : 1, sizeof(zone_t *));
    *failed = 0;
    for (size_t i = 0; i < cfg->nzones; i++) {
        hadns_err_t err = {{0}};
        zones[i] = zoneload_file(cfg->zones[i].name, cfg->zones[i].file, &err);
        if (zones[i]) {
            log_loaded(&cfg->zones[i], zones[i], "loaded");
        } else {
            log_errx("zone %s: load failed, not served: %s", zone_label(&cfg->zones[i]),
                     err.msg);
            (*failed)++;
        }
    }
    zoneset_t *zs = zoneset_new(zones, cfg->nzones);
    for (size_t i = 0; i < cfg->nzones; i++)
        zone_unref(zones[i]);
    free(zones);
    return zs;
}

int server_run(cfg_t *cfg)
{
    int status = 1;
    server_t srv = {.cfg = cfg};
    server_t *s = &srv;
    hadns_err_t err = {{0}};
    sigset_t all, old;

    if (evthread_use_pthreads() != 0) {
        log_errx("libevent: cannot enable thread support");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    s->base = event_base_new();
    if (!s->base) {
        log_errx("libevent: cannot create the main event base");
        goto out;
    }
    size_t failed;
    zoneset_t *zs = initial_zones(cfg, &failed);
    s->snap = snapshot_domain_new(net_readers(cfg->workers, cfg->nlisten), snapshot_new(zs));

    net_opts_t opts = {
        .workers = cfg->workers,
        .tcp_idle_timeout = cfg->tcp_idle_timeout,
        .tcp_max_per_worker = (cfg->tcp_max_connections + cfg->workers - 1) / cfg->workers,
        .answer = {.udp_payload = cfg->udp_payload,
                   .nsid = cfg->nsid,
                   .nsid_len = (uint16_t)cfg->nsid_len},
        .snap = s->snap,
    };
    struct sockaddr_storage *addrs = xcalloc(cfg->nlisten, sizeof(*addrs));
    socklen_t *lens = xcalloc(cfg->nlisten, sizeof(*lens));
    for (size_t i = 0; i < cfg->nlisten; i++) {
        addrs[i] = cfg->listen[i].addr;
        lens[i] = cfg->listen[i].addrlen;
    }
    s->net = net_new(addrs, lens, cfg->nlisten, &opts, &err);
    free(addrs);
    free(lens);
    if (!s->net) {
        log_errx("%s", err.msg);
        goto out;
    }

    s->ev_hup = evsignal_new(s->base, SIGHUP, on_signal, s);
    s->ev_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->ev_int = evsignal_new(s->base, SIGINT, on_signal, s);
    s->ev_reload_done = event_new(s->base, -1, 0, reload_done_cb, s);
    if (!s->ev_hup || !s->ev_term || !s->ev_int || !s->ev_reload_done ||
        evsignal_add(s->ev_hup, NULL) || evsignal_add(s->ev_term, NULL) ||
        evsignal_add(s->ev_int, NULL))
    {
        log_errx("libevent: cannot install signal handlers");
        goto out;
    }

    /* Workers inherit a mask with every signal blocked, so signals reach the main loop. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    bool started = net_start(s->net, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        log_errx("%s", err.msg);
        goto out;
    }
    size_t nl;
    const net_listener_t *ls = net_listeners(s->net, &nl);
    for (size_t i = 0; i < nl; i++)
        log_notice("listening on %s (udp+tcp)", ls[i].text);
    log_notice("hadnsd %s ready: %zu zones (%zu failed), %u workers", PACKAGE_VERSION,
               cfg->nzones - failed, failed, cfg->workers);

    event_base_dispatch(s->base);
    status = 0;
    if (s->reloading)
        pthread_join(s->reload_thread, NULL);
out:
    if (s->net)
        net_free(s->net);
    if (s->reloading) {
        for (size_t i = 0; i < cfg->nzones; i++) {
            zone_unref(s->job.fresh[i]);
            zone_unref(s->job.old[i]);
        }
        free(s->job.old);
        free(s->job.fresh);
        free(s->job.errs);
    }
    if (s->ev_hup)
        event_free(s->ev_hup);
    if (s->ev_term)
        event_free(s->ev_term);
    if (s->ev_int)
        event_free(s->ev_int);
    if (s->ev_reload_done)
        event_free(s->ev_reload_done);
    snapshot_domain_free(s->snap);
    if (s->base)
        event_base_free(s->base);
    conf_free(cfg);
    if (status == 0)
        log_notice("stopped");
    return status;
}
