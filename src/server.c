/* SPDX-License-Identifier: MIT */
/* server.c: the main thread. Everything slow (zone parsing) runs on a reload thread; the result
 * is published as a new snapshot in one atomic step. Health checks run on their own thread;
 * this file wires them to the zones (templates), the control socket and the start-up. */
#include "config.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "control.h"
#include "geoip.h"
#include "health.h"
#include "log.h"
#include "net.h"
#include "policy.h"
#include "snapshot.h"
#include "wire.h"
#include "xalloc.h"
#include "zoneload.h"

/* One run of the reload thread: for each configured zone, the version being served (may be
 * NULL if it never loaded) and what the run made of it. */
struct reload_job {
    const cfg_t *cfg;
    zone_t **old;      /* referenced; index = config zone index */
    zone_t **fresh;    /* newly parsed zone, or NULL when unchanged or failed */
    hadns_err_t *errs; /* set when parsing failed */
    /* The GeoIP database, reopened when its file changed (NULL: unchanged or failed). */
    geoip_t *geo_fresh;
    struct stat geo_stat;
    hadns_err_t geo_err;
    struct event *done; /* activated on the main loop when the run is over */
};

/* A growable list of control requests waiting for a reload. */
struct req_list {
    ctl_req_t **v;
    size_t n, cap;
};

/* Names collected while template checks are reconciled, for the reload reply. */
struct name_list {
    char **v;
    size_t n, cap;
};

typedef struct server {
    cfg_t *cfg;
    struct event_base *base;
    snap_domain_t *snap;
    net_t *net;
    health_t *health;
    control_t *ctl;
    struct event *ev_hup, *ev_term, *ev_int, *ev_reload_done;
    pthread_t reload_thread;
    bool reloading, reload_again;
    bool serving;      /* the workers run */
    bool start_failed; /* the deferred start could not start the workers */
    struct reload_job job;
    struct req_list reload_waiting; /* answered by the next reload to start */
    struct req_list reload_running; /* answered when the running reload is done */
    struct timespec started_mono;
    double started_wall;
    ctl_listener_t *ctl_listeners; /* for "status": the bound listeners, made once */
    char (*ctl_ips)[INET6_ADDRSTRLEN];
    size_t nctl_listeners;
    geoip_t *geoip;            /* the database being served (one reference), or NULL */
    struct stat geo_stat;      /* its file at open, to see whether a reload must reopen it */
    struct event *ev_overlay;  /* rebuilds the policy overlay after health changes */
    /* Checks whose streaks set a ttl_from_health TTL: any result of theirs rebuilds. */
    uint8_t *ttl_watch;        /* by check id */
    size_t nttl_watch;
} server_t;

static void names_add(struct name_list *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = xstrdup(name);
}

static void names_free(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void reqs_add(struct req_list *l, ctl_req_t *r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = r;
}

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

static void policy_warn(void *arg, const char *msg);

/* --check-config's view of a policy's check: it must exist, and a template must check the
 * policy's own RRset (its checks are made for those addresses); its state does not matter. */
static bool config_check(void *arg, const char *check, const char *address,
                         policy_check_state_t *out, hadns_err_t *err)
{
    (void)address;
    const cfg_t *cfg = arg;
    *out = (policy_check_state_t){.up = true, .fixed = true};
    for (size_t i = 0; i < cfg->nchecks; i++) {
        if (!strcmp(cfg->checks[i].name, check))
            return true;
    }
    for (size_t i = 0; i < cfg->ntemplates; i++) {
        const cfg_template_t *t = &cfg->templates[i];
        if (strcmp(t->name, check))
            continue;
        /* The template's checks are made for the addresses of its own RRset. */
        for (size_t p = 0; p < cfg->npolicies; p++) {
            const cfg_policy_t *cp = &cfg->policies[p];
            for (size_t c = 0; c < cp->ncands; c++) {
                if (!strcmp(cp->cands[c].address, address) &&
                    (cp->cands[c].check ? !strcmp(cp->cands[c].check, check)
                                        : cp->check && !strcmp(cp->check, check)) &&
                    (strcasecmp(t->owner, cp->owner) || t->rrtype != cp->rrtype))
                {
                    err_set(err, "template %s checks %s %s, not %s (no check for %s)", check,
                            t->owner, t->rrtype == T_A ? "A" : "AAAA", cp->owner, address);
                    return false;
                }
            }
        }
        return true;
    }
    err_set(err, "no check named %s", check);
    return false;
}

bool server_check_zones(const cfg_t *cfg)
{
    bool ok = true;
    zone_t **zones = xcalloc(cfg->nzones ? cfg->nzones : 1, sizeof(zone_t *));
    for (size_t i = 0; i < cfg->nzones; i++) {
        hadns_err_t err = {{0}};
        zones[i] = zoneload_file(cfg->zones[i].name, cfg->zones[i].file, &err);
        if (!zones[i]) {
            log_errx("zone %s: %s", zone_label(&cfg->zones[i]), err.msg);
            ok = false;
            continue;
        }
        log_loaded(&cfg->zones[i], zones[i], "checked");
    }
    if (cfg->geoip_database) {
        hadns_err_t err = {{0}};
        geoip_t *g = geoip_open(cfg->geoip_database, &err);
        if (g)
            log_info("geoip: %s (%s)", geoip_path(g), geoip_type(g));
        else
            log_errx("geoip: %s", err.msg);
        ok = ok && g;
        geoip_unref(g);
    }
    if (ok && cfg->npolicies) {
        /* Every policy must fit the zones as they are now, as at a start. */
        zoneset_t *zs = zoneset_new(zones, cfg->nzones);
        hadns_err_t err = {{0}};
        overlay_t *ov = overlay_build(cfg, zs, config_check, (void *)cfg, true, policy_warn,
                                      &err);
        if (ov)
            log_info("policies: %zu checked", overlay_count(ov));
        else
            log_errx("%s", err.msg);
        ok = ov != NULL;
        overlay_free(ov);
        zoneset_free(zs);
    }
    for (size_t i = 0; i < cfg->nzones; i++)
        zone_unref(zones[i]);
    free(zones);
    return ok;
}

/* ---- health checks from templates ---- */

struct sync_report {
    struct name_list added, removed;
};

static void sync_cb(void *arg, const char *name, bool added)
{
    struct sync_report *r = arg;
    names_add(added ? &r->added : &r->removed, name);
}

/* Makes the checks of every template match the addresses its RRset has in the zones being
 * served: new addresses get checks, gone ones lose theirs, the others keep state and override.
 * A zone that is not loaded yields no addresses (and so no checks) until it loads. [main] */
static void sync_templates(server_t *s, const zoneset_t *zs, struct sync_report *rep)
{
    if (!s->health)
        return;
    for (size_t t = 0; t < s->cfg->ntemplates; t++) {
        const cfg_template_t *tp = &s->cfg->templates[t];
        uint8_t zw[DNAME_MAXLEN], ow[DNAME_MAXLEN];
        size_t zl = dname_from_str(tp->zone, zw), ol = dname_from_str(tp->owner, ow);
        const zone_t *z = zl && zs ? zoneset_get(zs, zw, zl) : NULL;
        const znode_t *node = z && ol ? zone_find(z, ow, ol, dname_hash(ow, ol)) : NULL;
        const rrset_t *rr = node ? znode_rrset(node, tp->rrtype) : NULL;
        size_t n = rr ? rr->count : 0;
        health_spec_t *specs = xcalloc(n ? n : 1, sizeof(*specs));
        size_t k = 0, off = 0;
        /* Host header / TLS name default: the owner, without its trailing dot. */
        char host[DNAME_MAXSTR];
        snprintf(host, sizeof(host), "%s", tp->owner);
        size_t hl = strlen(host);
        if (hl > 1 && host[hl - 1] == '.')
            host[hl - 1] = '\0';
        for (size_t i = 0; i < n; i++) {
            uint16_t len = rd16(rr->rdata + off);
            const uint8_t *data = rr->rdata + off + 2;
            off += 2u + len;
            char ip[INET6_ADDRSTRLEN];
            int af = tp->rrtype == T_A && len == 4 ? AF_INET
                     : tp->rrtype == T_AAAA && len == 16 ? AF_INET6 : 0;
            if (!af || !inet_ntop(af, data, ip, sizeof(ip)))
                continue;
            health_spec_t *sp = &specs[k++];
            health_spec_copy(sp, &tp->check);
            size_t nl = strlen(tp->name) + 1 + strlen(ip) + 1;
            sp->name = xmalloc(nl);
            snprintf(sp->name, nl, "%s/%s", tp->name, ip);
            sp->target = xstrdup(ip);
            if (!sp->host && (sp->kind == HEALTH_HTTP || sp->kind == HEALTH_HTTPS))
                sp->host = xstrdup(host);
            memset(&sp->addr, 0, sizeof(sp->addr));
            if (af == AF_INET) {
                struct sockaddr_in *v4 = (struct sockaddr_in *)&sp->addr;
                v4->sin_family = AF_INET;
                v4->sin_port = htons(tp->port);
                memcpy(&v4->sin_addr, data, 4);
                sp->addrlen = sizeof(*v4);
            } else {
                struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sp->addr;
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons(tp->port);
                memcpy(&v6->sin6_addr, data, 16);
                sp->addrlen = sizeof(*v6);
            }
        }
        if (!rr)
            log_warnx("check template %s: %s has no %s records%s; no checks", tp->name,
                      tp->owner, tp->rrtype == T_A ? "A" : "AAAA",
                      z ? "" : " (its zone is not loaded)");
        struct sync_report local;
        memset(&local, 0, sizeof(local));
        health_group_sync(s->health, tp->name, specs, k, sync_cb, &local);
        for (size_t i = 0; i < local.added.n; i++)
            log_info("check %s: added from template %s (%s %s)", local.added.v[i], tp->name,
                     tp->owner, tp->rrtype == T_A ? "A" : "AAAA");
        for (size_t i = 0; i < local.removed.n; i++)
            log_info("check %s: removed: the address left %s", local.removed.v[i], tp->owner);
        if (rep) {
            for (size_t i = 0; i < local.added.n; i++)
                names_add(&rep->added, local.added.v[i]);
            for (size_t i = 0; i < local.removed.n; i++)
                names_add(&rep->removed, local.removed.v[i]);
        }
        names_free(&local.added);
        names_free(&local.removed);
        for (size_t i = 0; i < k; i++)
            health_spec_fini(&specs[i]);
        free(specs);
    }
}

/* ---- the policy overlay ---- */

/* The state of the check behind a policy candidate: a template's check for that address, or
 * an explicit check. */
static bool policy_check(void *arg, const char *check, const char *address,
                         policy_check_state_t *out, hadns_err_t *err)
{
    server_t *s = arg;
    bool is_template = false;
    for (size_t i = 0; i < s->cfg->ntemplates; i++)
        is_template = is_template || !strcmp(s->cfg->templates[i].name, check);
    char name[256];
    snprintf(name, sizeof(name), is_template ? "%s/%s" : "%s", check, address);
    long i = s->health ? health_find(s->health, name) : -1;
    health_info_t in;
    if (i < 0 || !health_info(s->health, (size_t)i, &in)) {
        if (is_template)
            err_set(err, "template %s has no check for %s (does it cover this RRset?)", check,
                    address);
        else
            err_set(err, "no check named %s", check);
        return false;
    }
    out->up = in.state != HEALTH_DOWN; /* UNKNOWN is never read as down */
    out->fixed = in.force != HEALTH_AUTO;
    /* The next change needs this many more results; the first of them may land at once. */
    unsigned left = in.probed == HEALTH_UP     ? in.fall - in.fail_streak
                    : in.probed == HEALTH_DOWN ? in.rise - in.ok_streak
                                               : 1;
    out->steady_ms = (left ? left - 1 : 0) * in.interval_ms;
    if (in.id >= s->nttl_watch) {
        size_t n = in.id + 64;
        s->ttl_watch = xrealloc(s->ttl_watch, n);
        memset(s->ttl_watch + s->nttl_watch, 0, n - s->nttl_watch);
        s->nttl_watch = n;
    }
    s->ttl_watch[in.id] = 1;
    return true;
}

static void policy_warn(void *arg, const char *msg)
{
    (void)arg;
    log_warnx("%s", msg);
}

/* Builds the overlay of the config's policies over zs with the checks as they are now. With
 * strict (start-up), a policy that does not fit the zones fails with err. NULL without
 * policies. */
static overlay_t *build_overlay(server_t *s, const zoneset_t *zs, bool strict, hadns_err_t *err)
{
    if (!s->cfg->npolicies)
        return NULL;
    if (s->ttl_watch)
        memset(s->ttl_watch, 0, s->nttl_watch);
    bool any_ttl = false;
    for (size_t i = 0; i < s->cfg->npolicies; i++)
        any_ttl = any_ttl || s->cfg->policies[i].ttl_from_health;
    overlay_t *ov = overlay_build(s->cfg, zs, policy_check, s, strict, policy_warn, err);
    if (!any_ttl && s->ttl_watch)
        memset(s->ttl_watch, 0, s->nttl_watch);
    return ov;
}

/* Publishes the zones being served with a fresh overlay (a health change). */
static void overlay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_t *s = arg;
    const snapshot_t *cur = snapshot_current(s->snap);
    zoneset_t *zs = cur->zones ? zoneset_new(cur->zones->zones, cur->zones->nzones) : NULL;
    overlay_t *ov = build_overlay(s, zs, false, NULL);
    snapshot_publish(s->snap, snapshot_new(zs, ov, s->geoip));
    log_debug("policies: answers rebuilt (%zu policies)", ov ? overlay_count(ov) : (size_t)0);
}

/* State changes reach the rest of the server here, on the main thread (the registry has
 * already logged them): the answers are rebuilt once the current batch of results is in. */
static void on_health_change(void *arg, const health_change_t *c)
{
    server_t *s = arg;
    log_debug("check %s (id %u): %s -> %s published", c->name, c->id,
              health_state_name(c->old_state), health_state_name(c->new_state));
    if (s->cfg->npolicies && s->ev_overlay)
        event_active(s->ev_overlay, EV_TIMEOUT, 0);
}

/* A result that moved the steps left before a change of a check behind a ttl_from_health
 * policy moves its TTL. */
static void on_health_result(void *arg, uint32_t id)
{
    server_t *s = arg;
    if (id < s->nttl_watch && s->ttl_watch[id] && s->ev_overlay)
        event_active(s->ev_overlay, EV_TIMEOUT, 0);
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
    const char *db = job->cfg->geoip_database;
    struct stat st;
    if (db && stat(db, &st) == 0 && st.st_mtim.tv_sec == job->geo_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == job->geo_stat.st_mtim.tv_nsec &&
        st.st_size == job->geo_stat.st_size && st.st_ino == job->geo_stat.st_ino)
        db = NULL; /* unchanged */
    if (db) {
        if (stat(db, &st) != 0)
            memset(&st, 0, sizeof(st));
        job->geo_fresh = geoip_open(db, &job->geo_err);
        job->geo_stat = st;
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
    /* Requests made before this run starts are answered when it ends. */
    for (size_t i = 0; i < s->reload_waiting.n; i++)
        reqs_add(&s->reload_running, s->reload_waiting.v[i]);
    s->reload_waiting.n = 0;
    size_t n = s->cfg->nzones;
    struct reload_job *job = &s->job;
    job->cfg = s->cfg;
    job->done = s->ev_reload_done;
    job->geo_stat = s->geo_stat;
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
    bool geo_changed = false;
    if (job->geo_fresh) {
        log_notice("geoip: reloaded %s (%s)", geoip_path(job->geo_fresh),
                   geoip_type(job->geo_fresh));
        geoip_unref(s->geoip);
        s->geoip = job->geo_fresh;
        s->geo_stat = job->geo_stat;
        job->geo_fresh = NULL;
        geo_changed = true;
    } else if (job->geo_err.msg[0]) {
        log_errx("geoip: reload failed, still serving the previous database: %s",
                 job->geo_err.msg);
        failed++;
    }
    struct sync_report rep;
    memset(&rep, 0, sizeof(rep));
    if (changed || geo_changed) {
        /* Checks follow the new zones first, so that the overlay built over them finds a
         * check for every address; then zones and overlay go out together. */
        zoneset_t *zs = zoneset_new(next, n);
        if (changed)
            sync_templates(s, zs, &rep);
        overlay_t *ov = build_overlay(s, zs, false, NULL);
        snapshot_publish(s->snap, snapshot_new(zs, ov, s->geoip));
    }
    log_notice("reload: %zu zones changed, %zu failed, %zu unchanged", changed, failed,
               n - changed - failed);
    if (s->reload_running.n) {
        const char **reloaded = xcalloc(n ? n : 1, sizeof(char *));
        const char **unchanged = xcalloc(n ? n : 1, sizeof(char *));
        ctl_zone_error_t *errs = xcalloc(n ? n : 1, sizeof(*errs));
        ctl_reload_result_t res = {.reloaded = reloaded,
                                   .unchanged = unchanged,
                                   .failed = errs,
                                   .checks_added = (const char *const *)rep.added.v,
                                   .nchecks_added = rep.added.n,
                                   .checks_removed = (const char *const *)rep.removed.v,
                                   .nchecks_removed = rep.removed.n};
        for (size_t i = 0; i < n; i++) {
            const char *name = zone_label(&s->cfg->zones[i]);
            if (job->fresh[i])
                reloaded[res.nreloaded++] = name;
            else if (job->errs[i].msg[0])
                errs[res.nfailed++] = (ctl_zone_error_t){name, job->errs[i].msg};
            else
                unchanged[res.nunchanged++] = name;
        }
        for (size_t i = 0; i < s->reload_running.n; i++)
            control_reply_reload(s->reload_running.v[i], &res);
        s->reload_running.n = 0;
        free(reloaded);
        free(unchanged);
        free(errs);
    }
    names_free(&rep.added);
    names_free(&rep.removed);
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

/* ---- the control socket's hooks ---- */

/* The listeners as "status" reports them; they never change while the server runs. */
static void make_ctl_listeners(server_t *s)
{
    size_t nl = 0;
    const net_listener_t *l = net_listeners(s->net, &nl);
    s->ctl_listeners = xcalloc(nl ? nl : 1, sizeof(*s->ctl_listeners));
    s->ctl_ips = xcalloc(nl ? nl : 1, sizeof(*s->ctl_ips));
    s->nctl_listeners = nl;
    for (size_t i = 0; i < nl; i++) {
        const struct sockaddr_storage *ss = &l[i].addr;
        unsigned port = 0;
        if (ss->ss_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
            inet_ntop(AF_INET, &v4->sin_addr, s->ctl_ips[i], sizeof(s->ctl_ips[i]));
            port = ntohs(v4->sin_port);
        } else {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
            inet_ntop(AF_INET6, &v6->sin6_addr, s->ctl_ips[i], sizeof(s->ctl_ips[i]));
            port = ntohs(v6->sin6_port);
        }
        s->ctl_listeners[i] =
            (ctl_listener_t){.address = l[i].text, .ip = s->ctl_ips[i], .port = port};
    }
}

static void ctl_status(void *arg, ctl_status_t *st)
{
    server_t *s = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const zoneset_t *zs = snapshot_current(s->snap)->zones;
    size_t loaded = zs ? zs->nzones : 0;
    *st = (ctl_status_t){
        .version = PACKAGE_VERSION,
        .config = s->cfg->path,
        .pid = (long)getpid(),
        .uptime = (double)(now.tv_sec - s->started_mono.tv_sec) +
                  (double)(now.tv_nsec - s->started_mono.tv_nsec) / 1e9,
        .started = s->started_wall,
        .starting = !s->serving,
        .workers = s->cfg->workers,
        .zones = loaded,
        .zones_failed = s->cfg->nzones - loaded,
        .checks = s->health ? health_count(s->health) : 0,
        .listeners = s->ctl_listeners,
        .nlisteners = s->nctl_listeners,
    };
}

static void ctl_checks(void *arg, void (*each)(void *cbarg, const health_info_t *info),
                       void *cbarg)
{
    server_t *s = arg;
    if (!s->health)
        return;
    health_info_t in;
    for (size_t i = 0; health_info(s->health, i, &in); i++)
        each(cbarg, &in);
}

static bool ctl_force(void *arg, const char *check, enum health_force f, hadns_err_t *err)
{
    server_t *s = arg;
    if (!s->health) {
        err_set(err, "no check named %s (no checks are configured)", check);
        return false;
    }
    return health_force(s->health, check, f, err);
}

static void ctl_policies(void *arg, void (*each)(void *cbarg, const ctl_policy_t *p),
                         void *cbarg)
{
    server_t *s = arg;
    const overlay_t *ov = snapshot_current(s->snap)->overlay;
    for (size_t i = 0; ov && i < overlay_count(ov); i++) {
        policy_info_t in;
        overlay_info(ov, i, &in);
        char text[CONF_POLICY_MAX_CANDIDATES][INET6_ADDRSTRLEN];
        const char *serving[CONF_POLICY_MAX_CANDIDATES];
        size_t n = 0;
        for (unsigned r = 0; !in.varies && r < in.nrec; r++) {
            if (!(in.serving >> r & 1))
                continue;
            unsigned len = rd16(in.rec[r]);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (af && inet_ntop(af, in.rec[r] + 2, text[n], sizeof(text[n])))
                serving[n] = text[n], n++;
        }
        ctl_policy_t p = {.name = in.name,
                          .owner = in.owner,
                          .type = in.rrtype == T_A ? "A" : "AAAA",
                          .ttl = in.ttl,
                          .candidates = in.candidates,
                          .healthy = in.healthy,
                          .all_down = in.all_down,
                          .located = in.located,
                          .serving = in.varies ? NULL : serving,
                          .nserving = n};
        each(cbarg, &p);
    }
}

static void ctl_reload(void *arg, ctl_req_t *req)
{
    server_t *s = arg;
    log_info("control: reloading changed zones");
    reqs_add(&s->reload_waiting, req);
    reload_start(s);
}

/* ---- start-up ---- */

/* The overlay over the zones loaded at start, strict: a policy that does not fit its zone
 * (an address that is not a record, a signed zone, a missing check) stops the start. */
static bool publish_first_overlay(server_t *s, hadns_err_t *err)
{
    if (!s->cfg->npolicies)
        return true;
    const snapshot_t *cur = snapshot_current(s->snap);
    zoneset_t *zs = zoneset_new(cur->zones->zones, cur->zones->nzones);
    overlay_t *ov = build_overlay(s, zs, true, err);
    if (!ov) {
        log_errx("%s", err->msg);
        zoneset_free(zs);
        return false;
    }
    log_info("policies: %zu of %zu apply", overlay_count(ov), s->cfg->npolicies);
    snapshot_publish(s->snap, snapshot_new(zs, ov, s->geoip));
    return true;
}

/* Starts the workers: at once, or once the first round of checks is over ("wait"). */
static void start_serving(void *arg)
{
    server_t *s = arg;
    hadns_err_t err = {{0}};
    sigset_t all, old;
    /* The first round's results may still wait for their rebuild: answer from them. */
    if (s->cfg->npolicies && s->health)
        overlay_cb(-1, 0, s);
    /* Workers inherit a mask with every signal blocked, so signals reach the main loop. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    bool started = net_start(s->net, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        log_errx("%s", err.msg);
        s->start_failed = true;
        event_base_loopbreak(s->base);
        return;
    }
    s->serving = true;
    size_t nl;
    const net_listener_t *ls = net_listeners(s->net, &nl);
    for (size_t i = 0; i < nl; i++)
        log_notice("listening on %s (udp+tcp)", ls[i].text);
    const zoneset_t *zs = snapshot_current(s->snap)->zones;
    size_t loaded = zs ? zs->nzones : 0;
    log_notice("hadnsd %s ready: %zu zones (%zu failed), %u workers", PACKAGE_VERSION, loaded,
               s->cfg->nzones - loaded, s->cfg->workers);
}

int server_run(cfg_t *cfg)
{
    int status = 1;
    server_t srv = {.cfg = cfg};
    server_t *s = &srv;
    hadns_err_t err = {{0}};
    sigset_t all, old;

    clock_gettime(CLOCK_MONOTONIC, &s->started_mono);
    struct timeval wall;
    gettimeofday(&wall, NULL);
    s->started_wall = (double)wall.tv_sec + wall.tv_usec / 1e6;
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
    if (cfg->geoip_database) {
        /* A missing or corrupt database is a start-up error: geo answers would all be the
         * default without anyone noticing. */
        if (stat(cfg->geoip_database, &s->geo_stat) != 0)
            memset(&s->geo_stat, 0, sizeof(s->geo_stat));
        s->geoip = geoip_open(cfg->geoip_database, &err);
        if (!s->geoip) {
            log_errx("geoip: %s", err.msg);
            goto out;
        }
        log_info("geoip: %s (%s)", geoip_path(s->geoip), geoip_type(s->geoip));
    }
    size_t failed;
    zoneset_t *zs = initial_zones(cfg, &failed);
    s->snap = snapshot_domain_new(net_readers(cfg->workers, cfg->nlisten),
                                  snapshot_new(zs, NULL, s->geoip));

    net_opts_t opts = {
        .workers = cfg->workers,
        .tcp_idle_timeout = cfg->tcp_idle_timeout,
        .tcp_max_per_worker = (cfg->tcp_max_connections + cfg->workers - 1) / cfg->workers,
        .answer = {.udp_payload = cfg->udp_payload,
                   .nsid = cfg->nsid,
                   .nsid_len = (uint16_t)cfg->nsid_len},
        .snap = s->snap,
        .cpus = cfg->worker_cpus,
        .ncpus = cfg->nworker_cpus,
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
    s->ev_overlay = event_new(s->base, -1, 0, overlay_cb, s);
    if (!s->ev_hup || !s->ev_term || !s->ev_int || !s->ev_reload_done || !s->ev_overlay ||
        evsignal_add(s->ev_hup, NULL) || evsignal_add(s->ev_term, NULL) ||
        evsignal_add(s->ev_int, NULL))
    {
        log_errx("libevent: cannot install signal handlers");
        goto out;
    }

    /* The control socket first, so that operators can watch a "wait" start-up. */
    if (cfg->control_socket) {
        make_ctl_listeners(s);
        ctl_ops_t ops = {.arg = s,
                         .status = ctl_status,
                         .checks = ctl_checks,
                         .force = ctl_force,
                         .reload = ctl_reload,
                         .policies = ctl_policies};
        s->ctl = control_new(s->base, cfg->control_socket, cfg->control_mode, &ops, &err);
        if (!s->ctl) {
            log_errx("%s", err.msg);
            goto out;
        }
    }

    if (cfg->nchecks || cfg->ntemplates) {
        health_opts_t hopts = {.startup_wait = cfg->health_startup_wait,
                               .idle_priority = cfg->health_idle,
                               .cpus = cfg->health_cpus,
                               .ncpus = cfg->nhealth_cpus};
        s->health = health_new(s->base, &hopts);
        health_set_listener(s->health, on_health_change, s);
        health_set_result_hook(s->health, on_health_result, s);
        for (size_t i = 0; i < cfg->nchecks; i++) {
            if (!health_check_add(s->health, &cfg->checks[i], NULL, &err)) {
                log_errx("%s", err.msg);
                goto out;
            }
        }
        sync_templates(s, snapshot_current(s->snap)->zones, NULL);
        if (!publish_first_overlay(s, &err))
            goto out;
        /* The health thread inherits a mask with every signal blocked, like the workers. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        bool ok = health_start(s->health, start_serving, s, &err);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!ok) {
            log_errx("%s", err.msg);
            goto out;
        }
        log_notice("health: %zu checks, start-up policy \"%s\"", health_count(s->health),
                   cfg->health_startup_wait ? "wait" : "initial");
    } else {
        if (!publish_first_overlay(s, &err))
            goto out;
        start_serving(s);
        if (s->start_failed)
            goto out;
    }

    event_base_dispatch(s->base);
    status = s->start_failed ? 1 : 0;
    if (s->reloading)
        pthread_join(s->reload_thread, NULL);
out:
    if (s->net)
        net_free(s->net);
    health_free(s->health); /* joins the health thread */
    if (s->reloading) {
        for (size_t i = 0; i < cfg->nzones; i++) {
            zone_unref(s->job.fresh[i]);
            zone_unref(s->job.old[i]);
        }
        free(s->job.old);
        free(s->job.fresh);
        free(s->job.errs);
    }
    /* Control clients waiting for a reload get an answer before the socket goes. */
    for (size_t i = 0; i < s->reload_running.n; i++)
        control_reply_error(s->reload_running.v[i], "the server is shutting down");
    for (size_t i = 0; i < s->reload_waiting.n; i++)
        control_reply_error(s->reload_waiting.v[i], "the server is shutting down");
    free(s->reload_running.v);
    free(s->reload_waiting.v);
    control_free(s->ctl);
    free(s->ctl_listeners);
    free(s->ctl_ips);
    if (s->ev_hup)
        event_free(s->ev_hup);
    if (s->ev_term)
        event_free(s->ev_term);
    if (s->ev_int)
        event_free(s->ev_int);
    if (s->ev_reload_done)
        event_free(s->ev_reload_done);
    if (s->ev_overlay)
        event_free(s->ev_overlay);
    if (s->reloading)
        geoip_unref(s->job.geo_fresh);
    snapshot_domain_free(s->snap);
    geoip_unref(s->geoip);
    free(s->ttl_watch);
    if (s->base)
        event_base_free(s->base);
    conf_free(cfg);
    if (status == 0)
        log_notice("stopped");
    return status;
}
