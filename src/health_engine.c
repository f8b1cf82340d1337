/* SPDX-License-Identifier: MIT */
/* health_engine.c: the health thread. One event base; per check a timer for the next run and a
 * deadline for the run in flight; the kinds (health_http.c, health_tcp.c, health_dns.c) do the
 * I/O. Commands arrive from the main thread through a locked queue and event_active(). Results
 * go to the registry's callback here, on this thread; the main loop is woken only when the
 * registry asks (health_engine_notify). Nothing here blocks: a slow target costs a pending
 * socket, not time. */
#include "config.h"
#include "health_probe.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cpus.h"
#include "log.h"
#include "xalloc.h"

enum cmd_op { CMD_ADD, CMD_REMOVE };

struct cmd {
    enum cmd_op op;
    uint32_t id;
    unsigned first_ms;
    health_spec_t spec; /* CMD_ADD: owned until the thread takes it */
};

/* What the registry has for the main loop (state changes) waits this long before it crosses,
 * so that 10,000 checks changing state together cost the main thread ~40 wake-ups (and answer
 * rebuilds) a second, not 10,000. A change reaches the rest of the server at most this much
 * later: nothing next to a check interval of seconds. */
#define FLUSH_MS 25

/* A deadline that fires this much after it was due means the health thread had no CPU for a
 * while (at idle priority, busy workers come first): the run's timeout says nothing about the
 * target then, so it is reported as late, without a verdict. libevent's timers are otherwise
 * a few milliseconds late at most. */
#define LATE_MS 100

/* libevent keeps at most 256 "common timeouts" per base (a queue instead of the heap for
 * events that share a duration: O(1) adds for 10,000 checks with the same interval). Past this
 * many distinct durations we fall back to plain timeouts. */
#define COMMON_MAX 64

/* Descriptors left to everything but kept probe connections: DNS clients over TCP
 * (tcp_max_connections, 512 by default), listeners, the control socket, zone files being read
 * and the probes in flight. Below twice this, half the limit is left instead. */
#define FD_RESERVE 2048

struct health_engine {
    /* main side */
    struct event_base *main;
    struct event *main_ev; /* on the main base: the registry has something for main */
    void (*result)(void *arg, const health_result_t *r); /* on the health thread */
    void (*flush)(void *arg);                            /* on the main loop */
    void *arg;
    pthread_t thread;
    bool started;
    bool idle; /* run the thread at SCHED_IDLE */

    /* shared, under lock */
    pthread_mutex_t lock;
    struct cmd *cmds;
    size_t ncmds, capcmds;
    bool stopping;

    /* the health thread's */
    struct event_base *base;
    struct event *cmd_ev;
    struct event *flush_ev;  /* wakes the main loop for the registry */
    bool flush_armed;
    health_probe_t **probes; /* sorted by id (ids only grow, so adds append) */
    size_t nprobes, capprobes;
    uint64_t rng;
    void *tls;
    size_t nkept;     /* kept connections held by the probes */
    size_t kept_max;  /* their budget (RLIMIT_NOFILE less FD_RESERVE) */
    bool kept_warned; /* the budget was reached once (logged once) */
    struct {
        unsigned ms;
        const struct timeval *tv;
    } common[COMMON_MAX];
    size_t ncommon;
};

int64_t health_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *health_strerror(int e, char *buf, size_t len)
{
    char tmp[128];
    /* GNU strerror_r returns its text, not always in tmp. */
    const char *t = strerror_r(e, tmp, sizeof(tmp));
    snprintf(buf, len, "%s", t);
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] + ('a' - 'A'));
    return buf;
}

/* xorshift64*: DNS ids need to be unpredictable to a blind spoofer only as much as any
 * resolver's 16-bit id; this is not a security boundary (the checks talk to our own
 * endpoints). */
uint32_t health_probe_random(health_probe_t *p)
{
    uint64_t x = p->eng->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->eng->rng = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

bool health_probe_keep_acquire(health_probe_t *p)
{
    health_engine_t *e = p->eng;
    if (e->nkept >= e->kept_max) {
        if (!e->kept_warned) {
            e->kept_warned = true;
            log_warnx("health: %zu kept connections reached (the open file limit); further "
                      "checks reconnect every run",
                      e->kept_max);
        }
        return false;
    }
    e->nkept++;
    return true;
}

void health_probe_keep_release(health_probe_t *p)
{
    assert(p->eng->nkept > 0);
    p->eng->nkept--;
}

void **health_probe_tls_slot(health_probe_t *p)
{
    return &p->eng->tls;
}

static struct timeval ms_tv(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* The common timeout for ms, made on first use. [health] */
static const struct timeval *common_tv(health_engine_t *e, unsigned ms, struct timeval *plain)
{
    for (size_t i = 0; i < e->ncommon; i++) {
        if (e->common[i].ms == ms)
            return e->common[i].tv;
    }
    *plain = ms_tv(ms);
    if (e->ncommon == COMMON_MAX)
        return plain;
    const struct timeval *tv = event_base_init_common_timeout(e->base, plain);
    if (!tv)
        return plain;
    e->common[e->ncommon].ms = ms;
    e->common[e->ncommon].tv = tv;
    e->ncommon++;
    return tv;
}

/* ---- results: to the registry, and main woken when it asks ---- */

static void push_result(health_engine_t *e, uint32_t id, bool ok, bool late, unsigned ms,
                        const char *err)
{
    health_result_t r = {.id = id, .ok = ok, .late = late, .ms = ms, .error = err ? err : ""};
    e->result(e->arg, &r);
}

void health_engine_notify(health_engine_t *e)
{
    if (!e->flush_armed) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = FLUSH_MS * 1000};
        e->flush_armed = true;
        event_add(e->flush_ev, &tv);
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_engine_t *e = arg;
    e->flush_armed = false;
    event_active(e->main_ev, EV_READ, 0);
}

static void main_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_engine_t *e = arg;
    e->flush(e->arg);
}

/* ---- one run ---- */

void health_probe_done(health_probe_t *p, bool ok, const char *fmt, ...)
{
    char err[HEALTH_ERR_MAX] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, sizeof(err), fmt, ap);
        va_end(ap);
    }
    if (!p->running) {
        log_errx("BUG: check %s: result without a run", p->spec.name);
        return;
    }
    p->running = false;
    event_del(p->deadline);
    int64_t ms = health_mono_ms() - p->started_ms;
    push_result(p->eng, p->id, ok, false, ms < 0 ? 0 : (unsigned)ms, ok ? NULL : err);
}

static void run_timeout(health_probe_t *p)
{
    p->ops->cancel(p);
    p->running = false;
    event_del(p->deadline);
    int64_t late = health_mono_ms() - (p->started_ms + p->spec.timeout_ms);
    if (late > LATE_MS) {
        push_result(p->eng, p->id, false, true, p->spec.timeout_ms, NULL);
        return;
    }
    char err[64];
    snprintf(err, sizeof(err), "timeout after %u.%u s", p->spec.timeout_ms / 1000,
             p->spec.timeout_ms % 1000 / 100);
    push_result(p->eng, p->id, false, false, p->spec.timeout_ms, err);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_probe_t *p = arg;
    if (p->running)
        run_timeout(p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_probe_t *p = arg;
    health_engine_t *e = p->eng;
    struct timeval plain;
    /* The next run is due an interval after this one started, whatever this one takes. */
    event_add(p->timer, common_tv(e, p->spec.interval_ms, &plain));
    if (p->running) /* timeout == interval and the timer fired first */
        run_timeout(p);
    p->running = true;
    p->started_ms = health_mono_ms();
    event_add(p->deadline, common_tv(e, p->spec.timeout_ms, &plain));
    p->ops->start(p); /* may call health_probe_done before it returns */
}

/* ---- commands: main -> health thread ---- */

static const health_kind_ops_t *kind_ops(enum health_kind k)
{
    switch (k) {
    case HEALTH_HTTP:
    case HEALTH_HTTPS:
        return &health_http_ops;
    case HEALTH_TCP:
        return &health_tcp_ops;
    case HEALTH_DNS:
        return &health_dns_ops;
    }
    return &health_tcp_ops;
}

static void probe_free(health_probe_t *p)
{
    if (p->running)
        p->ops->cancel(p);
    if (p->keep && p->ops->drop)
        p->ops->drop(p);
    if (p->timer)
        event_free(p->timer);
    if (p->deadline)
        event_free(p->deadline);
    health_spec_fini(&p->spec);
    free(p);
}

static long probe_index(const health_engine_t *e, uint32_t id)
{
    size_t lo = 0, hi = e->nprobes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->probes[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->nprobes && e->probes[lo]->id == id ? (long)lo : -1;
}

static void do_add(health_engine_t *e, struct cmd *c)
{
    health_probe_t *p = xcalloc(1, sizeof(*p));
    p->id = c->id;
    p->spec = c->spec; /* taken */
    memset(&c->spec, 0, sizeof(c->spec));
    p->eng = e;
    p->base = e->base;
    p->ops = kind_ops(p->spec.kind);
    p->timer = event_new(e->base, -1, 0, timer_cb, p);
    p->deadline = event_new(e->base, -1, 0, deadline_cb, p);
    if (!p->timer || !p->deadline) {
        log_errx("check %s: cannot create its timers; not probed", p->spec.name);
        probe_free(p);
        return;
    }
    struct timeval first = ms_tv(c->first_ms);
    event_add(p->timer, &first);
    if (e->nprobes == e->capprobes) {
        e->capprobes = e->capprobes ? e->capprobes * 2 : 64;
        e->probes = xrealloc(e->probes, e->capprobes * sizeof(*e->probes));
    }
    /* Ids grow, so this is an append; keep the order anyway if it ever is not. */
    size_t i = e->nprobes;
    while (i > 0 && e->probes[i - 1]->id > p->id) {
        e->probes[i] = e->probes[i - 1];
        i--;
    }
    e->probes[i] = p;
    e->nprobes++;
}

static void do_remove(health_engine_t *e, uint32_t id)
{
    long i = probe_index(e, id);
    if (i < 0)
        return;
    probe_free(e->probes[i]);
    memmove(&e->probes[i], &e->probes[i + 1], (e->nprobes - (size_t)i - 1) * sizeof(*e->probes));
    e->nprobes--;
}

static void cmd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_engine_t *e = arg;
    pthread_mutex_lock(&e->lock);
    struct cmd *cmds = e->cmds;
    size_t n = e->ncmds;
    bool stop = e->stopping;
    e->cmds = NULL;
    e->ncmds = e->capcmds = 0;
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < n; i++) {
        if (!stop && cmds[i].op == CMD_ADD)
            do_add(e, &cmds[i]);
        else if (!stop && cmds[i].op == CMD_REMOVE)
            do_remove(e, cmds[i].id);
        health_spec_fini(&cmds[i].spec);
    }
    free(cmds);
    if (stop) {
        for (size_t i = 0; i < e->nprobes; i++)
            probe_free(e->probes[i]);
        free(e->probes);
        e->probes = NULL;
        e->nprobes = e->capprobes = 0;
        health_http_tls_free(e->tls);
        e->tls = NULL;
        event_base_loopbreak(e->base);
    }
}

static void post(health_engine_t *e, struct cmd *c)
{
    pthread_mutex_lock(&e->lock);
    if (e->ncmds == e->capcmds) {
        e->capcmds = e->capcmds ? e->capcmds * 2 : 64;
        e->cmds = xrealloc(e->cmds, e->capcmds * sizeof(*e->cmds));
    }
    e->cmds[e->ncmds++] = *c;
    bool wake = e->ncmds == 1 && e->started;
    pthread_mutex_unlock(&e->lock);
    if (wake)
        event_active(e->cmd_ev, EV_READ, 0);
}

void health_engine_add(health_engine_t *e, uint32_t id, const health_spec_t *spec,
                       unsigned first_ms)
{
    struct cmd c = {.op = CMD_ADD, .id = id, .first_ms = first_ms};
    health_spec_copy(&c.spec, spec);
    post(e, &c);
}

void health_engine_remove(health_engine_t *e, uint32_t id)
{
    struct cmd c = {.op = CMD_REMOVE, .id = id};
    post(e, &c);
}

/* ---- the thread ---- */

static void *engine_main(void *arg)
{
    health_engine_t *e = arg;
    /* Named, so that top -H and the benchmark can tell its CPU time from the workers'. */
    pthread_setname_np(pthread_self(), "hadnsd-health");
    /* SCHED_IDLE: a query worker that shares this CPU preempts the thread the moment a packet
     * wakes it (under Linux's EEVDF a nice-0 thread would first finish its slice, ~3 ms). */
    struct sched_param sp = {.sched_priority = 0};
    if (e->idle && pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        log_warnx("health: cannot run the health thread at idle priority");
    /* No events may be pending between commands: keep looping until told to stop. */
    event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

health_engine_t *health_engine_new(struct event_base *main,
                                   void (*result)(void *arg, const health_result_t *r),
                                   void (*flush)(void *arg), void *arg)
{
    health_engine_t *e = xcalloc(1, sizeof(*e));
    e->main = main;
    e->result = result;
    e->flush = flush;
    e->arg = arg;
    pthread_mutex_init(&e->lock, NULL);
    e->main_ev = event_new(main, -1, 0, main_cb, e);
    if (!e->main_ev) {
        log_errx("libevent: cannot create the health result event");
        abort();
    }
    e->rng = ((uint64_t)health_mono_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32) | 1;
    return e;
}

/* The budget of kept connections. Raises the soft open-file limit to the hard one first: with
 * connection reuse each HTTP check holds a descriptor between runs, and systemd's default soft
 * limit (1024) would otherwise cap a server at about a thousand checks with EMFILE failures
 * (false downs) past it. Nothing here uses select(), so a high limit costs nothing. */
static size_t kept_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    /* RLIM_INFINITY and the kernel's own ceiling (fs.nr_open, 1M by default) alike. */
    rlim_t n = rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    return n >= 2 * FD_RESERVE ? (size_t)(n - FD_RESERVE) : (size_t)(n / 2);
}

bool health_engine_start(health_engine_t *e, bool idle, const unsigned *cpus, size_t ncpus,
                         hadns_err_t *err)
{
    e->idle = idle;
    e->kept_max = kept_budget();
    e->base = event_base_new();
    if (!e->base) {
        err_set(err, "health: cannot create the event base");
        return false;
    }
    e->cmd_ev = event_new(e->base, -1, 0, cmd_cb, e);
    e->flush_ev = event_new(e->base, -1, 0, flush_cb, e);
    if (!e->cmd_ev || !e->flush_ev) {
        err_set(err, "health: cannot create the command event");
        return false;
    }
    pthread_mutex_lock(&e->lock);
    e->started = true;
    bool pending = e->ncmds > 0;
    pthread_mutex_unlock(&e->lock);
    if (pending)
        event_active(e->cmd_ev, EV_READ, 0);
    int rc = cpus_thread_start(&e->thread, cpus, ncpus, engine_main, e);
    if (rc != 0) {
        e->started = false;
        if (ncpus) {
            char list[128];
            cpus_str(cpus, ncpus, list, sizeof(list));
            err_set(err, "health.cpus: cannot start the health thread on CPUs %s: %s", list,
                    cpus_strerror(rc));
        } else {
            err_set(err, "health: cannot start the health thread: %s", strerror(rc));
        }
        return false;
    }
    return true;
}

void health_engine_free(health_engine_t *e)
{
    if (!e)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->lock);
        e->stopping = true;
        pthread_mutex_unlock(&e->lock);
        event_active(e->cmd_ev, EV_READ, 0);
        pthread_join(e->thread, NULL);
    }
    for (size_t i = 0; i < e->ncmds; i++)
        health_spec_fini(&e->cmds[i].spec);
    free(e->cmds);
    if (e->cmd_ev)
        event_free(e->cmd_ev);
    if (e->flush_ev)
        event_free(e->flush_ev);
    if (e->base)
        event_base_free(e->base);
    if (e->main_ev)
        event_free(e->main_ev);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
