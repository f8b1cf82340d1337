/* SPDX-License-Identifier: MIT */
/* health.c: the check registry: rise/fall state machines, overrides, counters, the start-up
 * policy and the change listener. Probing is health_engine.c's.
 *
 * Threads. The main thread owns the registry's shape (adds, removes, the name hash) and runs
 * the listener; the health thread applies each result as its probe ends. What both touch, the
 * checks array and each check's state and counters, is under h->lock, held for one result or
 * one read at a time. A result that changes the state (or the steps left before a change)
 * leaves a note in h->notes; the main loop takes the notes, in order, once per flush and logs
 * them and tells the listener. 10,000 healthy checks thus cost the main thread nothing, where
 * handing it every result cost ~1 µs each at normal priority, next to the query workers. */
#include "config.h"
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "health_probe.h"
#include "log.h"
#include "xalloc.h"

/* ---- names ---- */

static const char *const state_names[] = {"unknown", "up", "down"};
static const char *const force_names[] = {"auto", "up", "down"};
static const char *const kind_names[] = {"http", "https", "tcp", "dns"};

const char *health_state_name(enum health_state s)
{
    return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

const char *health_force_name(enum health_force f)
{
    return (unsigned)f < ARRAY_SIZE(force_names) ? force_names[f] : "?";
}

const char *health_kind_name(enum health_kind k)
{
    return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

bool health_force_parse(const char *s, enum health_force *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(force_names); i++) {
        if (!strcmp(s, force_names[i])) {
            *out = (enum health_force)i;
            return true;
        }
    }
    return false;
}

/* ---- the state machine ---- */

static uint8_t clamp_threshold(unsigned v)
{
    return (uint8_t)(v < 1 ? 1 : v > HEALTH_STREAK_MAX ? HEALTH_STREAK_MAX : v);
}

void health_sm_init(health_sm_t *sm, unsigned rise, unsigned fall, enum health_state initial)
{
    memset(sm, 0, sizeof(*sm));
    sm->state = (uint8_t)initial;
    sm->force = HEALTH_AUTO;
    sm->rise = clamp_threshold(rise);
    sm->fall = clamp_threshold(fall);
}

bool health_sm_result(health_sm_t *sm, bool ok)
{
    if (ok) {
        sm->fail_streak = 0;
        if (sm->ok_streak < HEALTH_STREAK_MAX)
            sm->ok_streak++;
    } else {
        sm->ok_streak = 0;
        if (sm->fail_streak < HEALTH_STREAK_MAX)
            sm->fail_streak++;
    }
    enum health_state next = (enum health_state)sm->state;
    switch ((enum health_state)sm->state) {
    case HEALTH_UNKNOWN:
        next = ok ? HEALTH_UP : HEALTH_DOWN;
        break;
    case HEALTH_UP:
        if (!ok && sm->fail_streak >= sm->fall)
            next = HEALTH_DOWN;
        break;
    case HEALTH_DOWN:
        if (ok && sm->ok_streak >= sm->rise)
            next = HEALTH_UP;
        break;
    }
    if (next == sm->state)
        return false;
    sm->state = (uint8_t)next;
    return true;
}

void health_sm_force(health_sm_t *sm, enum health_force f)
{
    sm->force = (uint8_t)f;
}

/* ---- specs ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void health_spec_copy(health_spec_t *dst, const health_spec_t *src)
{
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->group = dup_or_null(src->group);
    dst->target = dup_or_null(src->target);
    dst->method = dup_or_null(src->method);
    dst->path = dup_or_null(src->path);
    dst->host = dup_or_null(src->host);
    dst->body = dup_or_null(src->body);
    dst->tls_ca = dup_or_null(src->tls_ca);
    dst->dns_name = dup_or_null(src->dns_name);
    dst->expect = NULL;
    if (src->nexpect) {
        dst->expect = xcalloc(src->nexpect, sizeof(uint16_t));
        memcpy(dst->expect, src->expect, src->nexpect * sizeof(uint16_t));
    }
}

void health_spec_fini(health_spec_t *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->group);
    free(s->target);
    free(s->method);
    free(s->path);
    free(s->host);
    free(s->body);
    free(s->tls_ca);
    free(s->dns_name);
    free(s->expect);
    memset(s, 0, sizeof(*s));
}

/* ---- the registry ---- */

struct check {
    uint32_t id;
    health_spec_t spec; /* immutable while the check exists */
    /* under h->lock */
    health_sm_t sm;
    int last_result; /* -1 none, 0 failed, 1 ok */
    char last_error[HEALTH_ERR_MAX];
    char reason[HEALTH_REASON_MAX];
    int64_t last_change_ms, last_probe_ms;
    uint64_t probes, ok, failed, ups, downs, late;
    char hist[HEALTH_HISTORY];
    unsigned hlen;
    /* the main thread's */
    bool mark;               /* scratch for health_group_sync */
    struct check *next_name; /* hash chain */
};

/* What the main thread learns of a change, in the order changes happened. */
enum note_kind {
    NOTE_CHANGE, /* the effective state changed: log it, tell the listener */
    NOTE_HELD,   /* the probed state changed under an override: log it */
    NOTE_STEPS,  /* the steps left before a change moved: the result hook */
};

struct note {
    enum note_kind kind;
    uint32_t id;
    enum health_state old_state, new_state;
    /* owned copies, the check may be gone when the note is read; NULL for NOTE_STEPS, which
     * the hook reads by id */
    char *name, *reason;
};

struct health {
    struct event_base *main;
    health_opts_t opts;
    health_engine_t *eng; /* NULL without a probe thread */
    pthread_mutex_t lock;
    /* under lock (written by the main thread only) */
    struct check **checks; /* sorted by id */
    uint32_t *ids;         /* checks[i]->id, for a binary search that touches one array */
    size_t n, cap;
    /* under lock */
    struct note *notes;
    size_t nnotes, capnotes;
    size_t late_runs;    /* results without a verdict since the last flush */
    size_t unknown_left; /* checks still UNKNOWN during a "wait" start-up */
    bool round_done;     /* unknown_left reached 0: the first round is complete */
    /* the main thread's */
    struct check **byname; /* chained hash table */
    size_t nbuckets;
    uint32_t next_id;
    health_listener_fn listener;
    void *listener_arg;
    void (*result_hook)(void *arg, uint32_t id);
    void *result_hook_arg;
    bool started, starting;
    void (*ready)(void *arg);
    void *ready_arg;
    struct event *ready_ev;
    uint64_t rng;
};

/* The readers take the lock too, which changes nothing the const promises. */
static pthread_mutex_t *lock_of(const health_t *h)
{
    return (pthread_mutex_t *)&h->lock;
}

static int64_t real_clock(void *arg)
{
    (void)arg;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t now_ms(const health_t *h)
{
    return h->opts.clock(h->opts.clock_arg);
}

static uint32_t next_random(health_t *h)
{
    uint64_t x = h->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    h->rng = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

static uint32_t name_hash(const char *s)
{
    uint32_t hv = 2166136261u;
    for (; *s; s++)
        hv = (hv ^ (uint8_t)*s) * 16777619u;
    return hv;
}

static struct check *find_name(const health_t *h, const char *name)
{
    if (!h->nbuckets)
        return NULL;
    for (struct check *c = h->byname[name_hash(name) & (h->nbuckets - 1)]; c; c = c->next_name) {
        if (!strcmp(c->spec.name, name))
            return c;
    }
    return NULL;
}

static void hash_insert(health_t *h, struct check *c)
{
    if (h->n + 1 > h->nbuckets) {
        size_t nb = h->nbuckets ? h->nbuckets * 2 : 64;
        struct check **t = xcalloc(nb, sizeof(*t));
        for (size_t i = 0; i < h->nbuckets; i++) {
            struct check *x = h->byname[i];
            while (x) {
                struct check *next = x->next_name;
                size_t b = name_hash(x->spec.name) & (nb - 1);
                x->next_name = t[b];
                t[b] = x;
                x = next;
            }
        }
        free(h->byname);
        h->byname = t;
        h->nbuckets = nb;
    }
    size_t b = name_hash(c->spec.name) & (h->nbuckets - 1);
    c->next_name = h->byname[b];
    h->byname[b] = c;
}

static void hash_remove(health_t *h, struct check *c)
{
    struct check **pp = &h->byname[name_hash(c->spec.name) & (h->nbuckets - 1)];
    while (*pp && *pp != c)
        pp = &(*pp)->next_name;
    if (*pp)
        *pp = c->next_name;
}

static long index_of(const health_t *h, uint32_t id)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n && h->ids[lo] == id ? (long)lo : -1;
}

static void hist_push(struct check *c, char ch)
{
    if (c->hlen == HEALTH_HISTORY) {
        memmove(c->hist, c->hist + 1, HEALTH_HISTORY - 1);
        c->hlen--;
    }
    c->hist[c->hlen++] = ch;
}

/* Leaves a note for the main thread. [under lock] */
static void note(health_t *h, enum note_kind kind, const struct check *c, enum health_state old,
                 enum health_state now)
{
    if (h->nnotes == h->capnotes) {
        h->capnotes = h->capnotes ? h->capnotes * 2 : 16;
        h->notes = xrealloc(h->notes, h->capnotes * sizeof(*h->notes));
    }
    h->notes[h->nnotes++] = (struct note){.kind = kind,
                                          .id = c->id,
                                          .old_state = old,
                                          .new_state = now,
                                          .name = kind == NOTE_STEPS ? NULL
                                                                     : xstrdup(c->spec.name),
                                          .reason = kind == NOTE_STEPS ? NULL
                                                                       : xstrdup(c->reason)};
}

/* Records a change of the effective state: counters and time now, the log line and the
 * listener when the main thread reads the note. [under lock] */
static void effective_changed(health_t *h, struct check *c, enum health_state old)
{
    enum health_state now = health_sm_effective(&c->sm);
    if (now == old)
        return;
    c->last_change_ms = now_ms(h);
    if (now == HEALTH_UP)
        c->ups++;
    else if (now == HEALTH_DOWN)
        c->downs++;
    note(h, NOTE_CHANGE, c, old, now);
}

/* A check left UNKNOWN (its first result, or removed). [under lock] */
static void left_unknown(health_t *h)
{
    if (h->unknown_left > 0 && --h->unknown_left == 0)
        h->round_done = true;
}

static void fire_ready(health_t *h)
{
    if (!h->starting)
        return;
    h->starting = false;
    if (h->ready_ev)
        event_del(h->ready_ev);
    if (h->ready)
        h->ready(h->ready_arg);
}

/* Applies one result. Returns true when it left something for the main thread. [under lock] */
static bool apply_result(health_t *h, uint32_t id, bool ok, const char *error)
{
    long i = index_of(h, id);
    if (i < 0)
        return false; /* removed while its probe ran */
    struct check *c = h->checks[i];
    enum health_state old_eff = health_sm_effective(&c->sm);
    enum health_state old_probed = (enum health_state)c->sm.state;
    unsigned old_steps = health_sm_steps(&c->sm);
    size_t old_notes = h->nnotes;
    c->probes++;
    if (ok)
        c->ok++;
    else
        c->failed++;
    c->last_result = ok;
    c->last_probe_ms = now_ms(h);
    /* Most results are a success with no text: no formatting on that path. */
    if (ok || !error || !error[0])
        error = ok ? "" : "failed";
    size_t elen = strnlen(error, sizeof(c->last_error) - 1);
    memcpy(c->last_error, error, elen);
    c->last_error[elen] = '\0';
    hist_push(c, ok ? '+' : '-');
    if (!health_sm_result(&c->sm, ok)) {
        if (health_sm_steps(&c->sm) != old_steps)
            note(h, NOTE_STEPS, c, old_probed, old_probed);
        return h->nnotes != old_notes;
    }
    enum health_state probed = (enum health_state)c->sm.state;
    hist_push(c, probed == HEALTH_UP ? 'U' : 'D');
    if (old_probed == HEALTH_UNKNOWN)
        snprintf(c->reason, sizeof(c->reason), "first result: %s%s%s", ok ? "ok" : "failed",
                 ok ? "" : ": ", c->last_error);
    else if (ok)
        snprintf(c->reason, sizeof(c->reason), "%u/%u ok", c->sm.rise, c->sm.rise);
    else
        snprintf(c->reason, sizeof(c->reason), "%u/%u failed: %s", c->sm.fall, c->sm.fall,
                 c->last_error);
    if (c->sm.force != HEALTH_AUTO)
        note(h, NOTE_HELD, c, old_eff, probed);
    effective_changed(h, c, old_eff);
    note(h, NOTE_STEPS, c, old_probed, probed);
    if (old_probed == HEALTH_UNKNOWN)
        left_unknown(h);
    return true;
}

/* A run without a verdict. [under lock] */
static void apply_late(health_t *h, uint32_t id)
{
    long i = index_of(h, id);
    if (i < 0)
        return;
    h->checks[i]->late++;
    hist_push(h->checks[i], '?');
    h->late_runs++;
}

/* The main thread's side of the notes: log lines, the listener and the hook, in the order the
 * changes happened; then the end of a "wait" start-up. [main] */
static void flush_notes(void *arg)
{
    health_t *h = arg;
    pthread_mutex_lock(&h->lock);
    struct note *notes = h->notes;
    size_t n = h->nnotes;
    size_t late = h->late_runs;
    bool round_done = h->round_done;
    h->notes = NULL;
    h->nnotes = h->capnotes = 0;
    h->late_runs = 0;
    h->round_done = false;
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < n; i++) {
        const struct note *t = &notes[i];
        if (t->kind == NOTE_CHANGE) {
            log_info("check %s: state %s -> %s (%s)", t->name, health_state_name(t->old_state),
                     health_state_name(t->new_state), t->reason);
            if (h->listener) {
                health_change_t ch = {.id = t->id,
                                      .name = t->name,
                                      .old_state = t->old_state,
                                      .new_state = t->new_state,
                                      .reason = t->reason};
                h->listener(h->listener_arg, &ch);
            }
        } else if (t->kind == NOTE_HELD) {
            log_info("check %s: probes say %s (%s); held %s by the override", t->name,
                     health_state_name(t->new_state), t->reason, health_state_name(t->old_state));
        } else if (h->result_hook) {
            h->result_hook(h->result_hook_arg, t->id);
        }
        free(t->name);
        free(t->reason);
    }
    free(notes);
    if (late)
        log_notice("health: %zu check run%s without a verdict: the health thread had no CPU "
                   "before %s deadline (every CPU busy?)",
                   late, late == 1 ? "" : "s", late == 1 ? "its" : "their");
    if (round_done && h->starting) {
        log_info("health: first round complete");
        fire_ready(h);
    }
}

void health_apply_result(health_t *h, uint32_t id, bool ok, const char *error)
{
    pthread_mutex_lock(&h->lock);
    apply_result(h, id, ok, error);
    pthread_mutex_unlock(&h->lock);
    flush_notes(h);
}

void health_apply_late(health_t *h, uint32_t id)
{
    pthread_mutex_lock(&h->lock);
    apply_late(h, id);
    pthread_mutex_unlock(&h->lock);
}

/* Every result, on the health thread as its probe ends. The main loop is woken only for a
 * note, the end of the first round, or runs without a verdict. [health] */
static void result_cb(void *arg, const health_result_t *r)
{
    health_t *h = arg;
    bool wake;
    pthread_mutex_lock(&h->lock);
    if (r->late) {
        apply_late(h, r->id);
        wake = true;
    } else {
        wake = apply_result(h, r->id, r->ok, r->error) || h->round_done;
    }
    pthread_mutex_unlock(&h->lock);
    if (wake)
        health_engine_notify(h->eng);
}

/* When the first run of a check is due: spread over the interval so that checks added
 * together do not fire in lockstep; during a "wait" start-up over at most one second, so
 * that the first round is over soon. */
static unsigned first_delay(health_t *h, const health_spec_t *s)
{
    unsigned spread = s->interval_ms;
    if (h->starting && h->opts.startup_wait && spread > 1000)
        spread = 1000;
    return spread ? next_random(h) % spread : 0;
}

bool health_check_add(health_t *h, const health_spec_t *spec, uint32_t *id, hadns_err_t *err)
{
    if (find_name(h, spec->name)) {
        err_set(err, "check %s already exists", spec->name);
        return false;
    }
    struct check *c = xcalloc(1, sizeof(*c));
    c->id = ++h->next_id;
    health_spec_copy(&c->spec, spec);
    /* Under "wait", a check registered before the start waits for its first result; every
     * other check starts in its declared state (never silently down). */
    bool wait = h->opts.startup_wait && !h->started;
    health_sm_init(&c->sm, spec->rise, spec->fall, wait ? HEALTH_UNKNOWN : spec->initial);
    c->last_result = -1;
    c->last_change_ms = now_ms(h);
    snprintf(c->reason, sizeof(c->reason), "%s",
             wait ? "waiting for the first result" : "initial state");
    pthread_mutex_lock(&h->lock);
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->checks = xrealloc(h->checks, h->cap * sizeof(*h->checks));
        h->ids = xrealloc(h->ids, h->cap * sizeof(*h->ids));
    }
    h->checks[h->n] = c; /* ids only grow: stays sorted */
    h->ids[h->n++] = c->id;
    pthread_mutex_unlock(&h->lock);
    hash_insert(h, c);
    if (id)
        *id = c->id;
    if (h->started && h->eng)
        health_engine_add(h->eng, c->id, &c->spec, first_delay(h, &c->spec));
    return true;
}

static void remove_at(health_t *h, size_t i)
{
    struct check *c = h->checks[i];
    if (h->started && h->eng)
        health_engine_remove(h->eng, c->id); /* a result still on its way finds no check */
    hash_remove(h, c);
    pthread_mutex_lock(&h->lock);
    if (c->sm.state == HEALTH_UNKNOWN)
        left_unknown(h);
    memmove(&h->checks[i], &h->checks[i + 1], (h->n - i - 1) * sizeof(*h->checks));
    memmove(&h->ids[i], &h->ids[i + 1], (h->n - i - 1) * sizeof(*h->ids));
    h->n--;
    bool round_done = h->round_done;
    pthread_mutex_unlock(&h->lock);
    health_spec_fini(&c->spec);
    free(c);
    if (round_done)
        flush_notes(h);
}

bool health_check_remove(health_t *h, const char *name)
{
    struct check *c = find_name(h, name);
    if (!c)
        return false;
    remove_at(h, (size_t)index_of(h, c->id));
    return true;
}

void health_group_sync(health_t *h, const char *group, const health_spec_t *specs, size_t n,
                       void (*cb)(void *arg, const char *name, bool added), void *arg)
{
    for (size_t i = 0; i < h->n; i++)
        h->checks[i]->mark = false;
    for (size_t i = 0; i < n; i++) {
        struct check *c = find_name(h, specs[i].name);
        if (c && c->spec.group && !strcmp(c->spec.group, group)) {
            c->mark = true; /* unchanged: keeps its state, counters and override */
            continue;
        }
        if (c) {
            log_warnx("check %s: exists already, not made from template %s", specs[i].name, group);
            continue;
        }
        hadns_err_t err = {{0}};
        uint32_t id;
        if (health_check_add(h, &specs[i], &id, &err)) {
            h->checks[h->n - 1]->mark = true;
            if (cb)
                cb(arg, specs[i].name, true);
        }
    }
    for (size_t i = h->n; i-- > 0;) {
        struct check *c = h->checks[i];
        if (c->mark || !c->spec.group || strcmp(c->spec.group, group))
            continue;
        if (cb)
            cb(arg, c->spec.name, false);
        remove_at(h, i);
    }
}

bool health_force(health_t *h, const char *name, enum health_force f, hadns_err_t *err)
{
    struct check *c = find_name(h, name);
    if (!c) {
        err_set(err, "no check named %s", name);
        return false;
    }
    flush_notes(h); /* changes the probes made before this one are told first */
    pthread_mutex_lock(&h->lock);
    if (c->sm.force == f) {
        pthread_mutex_unlock(&h->lock);
        return true;
    }
    enum health_state old = health_sm_effective(&c->sm);
    enum health_state probed = (enum health_state)c->sm.state;
    health_sm_force(&c->sm, f);
    if (f == HEALTH_AUTO)
        snprintf(c->reason, sizeof(c->reason), "override cleared");
    else
        snprintf(c->reason, sizeof(c->reason), "forced %s", health_force_name(f));
    effective_changed(h, c, old);
    pthread_mutex_unlock(&h->lock);
    if (f == HEALTH_AUTO)
        log_notice("check %s: override cleared, following the probes (%s)", name,
                   health_state_name(probed));
    else
        log_notice("check %s: forced %s by the operator", name, health_force_name(f));
    flush_notes(h);
    return true;
}

void health_set_result_hook(health_t *h, void (*cb)(void *arg, uint32_t id), void *arg)
{
    h->result_hook = cb;
    h->result_hook_arg = arg;
}

void health_set_listener(health_t *h, health_listener_fn cb, void *arg)
{
    h->listener = cb;
    h->listener_arg = arg;
}

/* The "wait" start-up is over: checks that still have no result take their declared state. */
static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_t *h = arg;
    flush_notes(h); /* results already in, and the first round if it just completed */
    if (!h->starting)
        return;
    pthread_mutex_lock(&h->lock);
    size_t left = h->unknown_left;
    for (size_t i = 0; left && i < h->n; i++) {
        struct check *c = h->checks[i];
        if (c->sm.state != HEALTH_UNKNOWN)
            continue;
        enum health_state old = health_sm_effective(&c->sm);
        c->sm.state = (uint8_t)c->spec.initial;
        snprintf(c->reason, sizeof(c->reason), "no result at start-up: initial state");
        effective_changed(h, c, old);
    }
    h->unknown_left = 0;
    h->round_done = false;
    pthread_mutex_unlock(&h->lock);
    if (left)
        log_warnx("health: %zu checks without a result when start-up ended; they start in "
                  "their initial state",
                  left);
    flush_notes(h);
    fire_ready(h);
}

bool health_start(health_t *h, void (*ready)(void *arg), void *arg, hadns_err_t *err)
{
    h->ready = ready;
    h->ready_arg = arg;
    h->starting = true;
    size_t unknown = 0;
    /* The wait is bounded: the longest first-run spread (1 s) plus the longest timeout, plus a
     * second for the results to cross threads on a loaded machine. */
    unsigned bound = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct check *c = h->checks[i];
        if (c->sm.state == HEALTH_UNKNOWN) /* no thread runs yet: no lock needed to read */
            unknown++;
        unsigned b =
            (c->spec.interval_ms < 1000 ? c->spec.interval_ms : 1000) + c->spec.timeout_ms + 1000;
        if (b > bound)
            bound = b;
    }
    if (h->main) {
        h->ready_ev = event_new(h->main, -1, 0, ready_cb, h);
        if (!h->ready_ev) {
            err_set(err, "libevent: cannot create the health start-up event");
            return false;
        }
    }
    pthread_mutex_lock(&h->lock);
    h->unknown_left = unknown;
    h->round_done = false;
    pthread_mutex_unlock(&h->lock);
    if (h->eng) {
        for (size_t i = 0; i < h->n; i++)
            health_engine_add(h->eng, h->checks[i]->id, &h->checks[i]->spec,
                              first_delay(h, &h->checks[i]->spec));
        if (!health_engine_start(h->eng, h->opts.idle_priority, h->opts.cpus, h->opts.ncpus,
                                 err))
            return false;
    }
    h->started = true;
    if (unknown)
        log_info("health: waiting for the first result of %zu checks (at most %u.%u s)", unknown,
                 bound / 1000, bound % 1000 / 100);
    if (h->ready_ev) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 0};
        if (unknown) {
            tv.tv_sec = bound / 1000;
            tv.tv_usec = (suseconds_t)(bound % 1000) * 1000;
        }
        event_add(h->ready_ev, &tv); /* the callback always runs from the loop, never here */
    } else if (!unknown) {
        fire_ready(h);
    }
    return true;
}

bool health_starting(const health_t *h)
{
    return h->starting;
}

health_t *health_new(struct event_base *main, const health_opts_t *opts)
{
    health_t *h = xcalloc(1, sizeof(*h));
    h->main = main;
    if (opts)
        h->opts = *opts;
    if (!h->opts.clock)
        h->opts.clock = real_clock;
    h->rng = ((uint64_t)now_ms(h) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid()) | 1;
    pthread_mutex_init(&h->lock, NULL);
    if (main)
        h->eng = health_engine_new(main, result_cb, flush_notes, h);
    return h;
}

void health_free(health_t *h)
{
    if (!h)
        return;
    health_engine_free(h->eng); /* joins the thread before the registry goes */
    if (h->ready_ev)
        event_free(h->ready_ev);
    for (size_t i = 0; i < h->n; i++) {
        health_spec_fini(&h->checks[i]->spec);
        free(h->checks[i]);
    }
    for (size_t i = 0; i < h->nnotes; i++) {
        free(h->notes[i].name);
        free(h->notes[i].reason);
    }
    free(h->notes);
    free(h->checks);
    free(h->ids);
    free(h->byname);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- reading ---- */

size_t health_count(const health_t *h)
{
    return h->n;
}

static uint16_t addr_port(const health_spec_t *s)
{
    const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&s->addr)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&s->addr)->sin6_port);
    return 0;
}

bool health_info(const health_t *h, size_t i, health_info_t *out)
{
    if (i >= h->n)
        return false;
    const struct check *c = h->checks[i];
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(lock_of(h));
    out->id = c->id;
    out->name = c->spec.name;
    out->group = c->spec.group;
    out->target = c->spec.target ? c->spec.target : "";
    out->port = addr_port(&c->spec);
    out->kind = c->spec.kind;
    out->state = health_sm_effective(&c->sm);
    out->probed = (enum health_state)c->sm.state;
    out->force = (enum health_force)c->sm.force;
    out->last_result = c->last_result;
    memcpy(out->last_error, c->last_error, sizeof(out->last_error));
    memcpy(out->reason, c->reason, sizeof(out->reason));
    out->last_change_ms = c->last_change_ms;
    out->last_probe_ms = c->last_probe_ms;
    out->probes = c->probes;
    out->ok = c->ok;
    out->failed = c->failed;
    out->ups = c->ups;
    out->downs = c->downs;
    out->late = c->late;
    out->ok_streak = c->sm.ok_streak;
    out->fail_streak = c->sm.fail_streak;
    out->rise = c->sm.rise;
    out->fall = c->sm.fall;
    out->interval_ms = c->spec.interval_ms;
    out->timeout_ms = c->spec.timeout_ms;
    memcpy(out->history, c->hist, c->hlen);
    out->history[c->hlen] = '\0';
    pthread_mutex_unlock(lock_of(h));
    return true;
}

long health_find(const health_t *h, const char *name)
{
    const struct check *c = find_name(h, name);
    return c ? index_of(h, c->id) : -1;
}

enum health_state health_state_of(const health_t *h, uint32_t id)
{
    pthread_mutex_lock(lock_of(h));
    long i = index_of(h, id);
    enum health_state st = i < 0 ? HEALTH_UNKNOWN : health_sm_effective(&h->checks[i]->sm);
    pthread_mutex_unlock(lock_of(h));
    return st;
}
