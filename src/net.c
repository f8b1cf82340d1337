/* SPDX-License-Identifier: MIT */
/* net.c: binding listeners for every worker and running the worker threads. */
#include "config.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cpus.h"
#include "log.h"
#include "net_tcp.h"
#include "net_udp.h"
#include "xalloc.h"

/* A port-0 listener whose UDP port is taken for TCP by someone else gets a new port; ten
 * tries make a collision on a busy test machine vanishingly unlikely. */
#define PORT_TRIES 10
/* 4 MiB socket buffers absorb bursts while a worker finishes a batch; the kernel caps them at
 * net.core.{r,w}mem_max without failing. */
#define UDP_SOCKBUF (4 * 1024 * 1024)

struct net {
    net_opts_t opts;
    net_listener_t *listeners;
    size_t nlisteners;
    worker_t *workers;
};

bool net_addr_is_literal(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

void net_addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, ntohs(a->sin_port));
    }
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
}

static int setopt(int fd, int level, int name, int val)
{
    return setsockopt(fd, level, name, &val, sizeof(val));
}

/* Opens and binds one socket; returns the fd or -errno. reuseport makes it one of the workers'
 * shared sockets; without it the bind doubles as a check that nobody else holds the port. */
static int open_bound(const net_listener_t *l, int type, bool reuseport)
{
    int fd = socket(l->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int family = l->addr.ss_family;
    if (type == SOCK_STREAM)
        setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (reuseport && setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0)
        goto fail;
    if (family == AF_INET6 && setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) != 0)
        goto fail;
    if (type == SOCK_DGRAM && reuseport) {
        setopt(fd, SOL_SOCKET, SO_RCVBUF, UDP_SOCKBUF);
        setopt(fd, SOL_SOCKET, SO_SNDBUF, UDP_SOCKBUF);
        /* Never let path-MTU state fragment or refuse answers (spoofable ICMP). */
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_OMIT)
        if (family == AF_INET)
            setopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT);
#endif
#if defined(IPV6_MTU_DISCOVER) && defined(IPV6_PMTUDISC_OMIT)
        if (family == AF_INET6)
            setopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_OMIT);
#endif
        /* On a wildcard address, answer from the address the query was sent to. */
        if (l->is_wildcard) {
            if (family == AF_INET && setopt(fd, IPPROTO_IP, IP_PKTINFO, 1) != 0)
                goto fail;
            if (family == AF_INET6 && setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) != 0)
                goto fail;
        }
    }
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0)
        goto fail;
    /* RFC 7766 leaves the backlog to us; SOMAXCONN lets bursts of resolvers queue. */
    if (type == SOCK_STREAM && reuseport && listen(fd, SOMAXCONN) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

/* Binds listener l for every worker: probe (no SO_REUSEPORT, so a port in use by anyone is an
 * error rather than silently shared), resolve port 0, then the workers' sockets. */
static bool bind_listener(net_t *n, size_t li, const char *text, hadns_err_t *err)
{
    net_listener_t *l = &n->listeners[li];
    bool any_port = get_port(&l->addr) == 0;
    int rc = 0;
    const char *what = "udp";
    for (unsigned attempt = 0; attempt < PORT_TRIES; attempt++) {
        if (any_port)
            set_port(&l->addr, 0);
        int ufd = open_bound(l, SOCK_DGRAM, false);
        if (ufd < 0) {
            rc = ufd;
            what = "udp";
            break;
        }
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);
        getsockname(ufd, (struct sockaddr *)&bound, &blen);
        set_port(&l->addr, get_port(&bound));
        int tfd = open_bound(l, SOCK_STREAM, false);
        close(ufd);
        if (tfd < 0) {
            rc = tfd;
            what = "tcp";
            if (any_port && rc == -EADDRINUSE)
                continue;
            break;
        }
        close(tfd);
        rc = 0;
        for (unsigned w = 0; w < n->opts.workers && rc == 0; w++) {
            int u = open_bound(l, SOCK_DGRAM, true);
            int t = u < 0 ? u : open_bound(l, SOCK_STREAM, true);
            if (u < 0 || t < 0) {
                rc = u < 0 ? u : t;
                what = u < 0 ? "udp" : "tcp";
                if (u >= 0)
                    close(u);
                break;
            }
            n->workers[w].udp_fds[li] = u;
            n->workers[w].tcp_fds[li] = t;
        }
        if (rc == 0)
            break;
        for (unsigned w = 0; w < n->opts.workers; w++) {
            if (n->workers[w].udp_fds[li] >= 0)
                close(n->workers[w].udp_fds[li]);
            if (n->workers[w].tcp_fds[li] >= 0)
                close(n->workers[w].tcp_fds[li]);
            n->workers[w].udp_fds[li] = n->workers[w].tcp_fds[li] = -1;
        }
        if (!(any_port && rc == -EADDRINUSE))
            break;
    }
    if (rc != 0) {
        err_set(err, "listen %s: cannot bind %s: %s", text, what, strerror(-rc));
        return false;
    }
    net_addr_str(&l->addr, l->text, sizeof(l->text));
    return true;
}

net_t *net_new(const struct sockaddr_storage *addrs, const socklen_t *lens, size_t count,
               const net_opts_t *opts, hadns_err_t *err)
{
    net_t *n = xcalloc(1, sizeof(*n));
    n->opts = *opts;
    n->nlisteners = count;
    n->listeners = xcalloc(count ? count : 1, sizeof(net_listener_t));
    n->workers = xcalloc(opts->workers, sizeof(worker_t));
    for (unsigned w = 0; w < opts->workers; w++) {
        worker_t *wk = &n->workers[w];
        wk->id = w;
        wk->cpu = opts->ncpus ? &opts->cpus[w % opts->ncpus] : NULL;
        wk->opts = &n->opts;
        wk->listeners = n->listeners;
        wk->nlisteners = count;
        wk->udp_fds = xmalloc((count ? count : 1) * sizeof(int));
        wk->tcp_fds = xmalloc((count ? count : 1) * sizeof(int));
        for (size_t i = 0; i < count; i++)
            wk->udp_fds[i] = wk->tcp_fds[i] = -1;
    }
    for (size_t i = 0; i < count; i++) {
        net_listener_t *l = &n->listeners[i];
        memcpy(&l->addr, &addrs[i], lens[i]);
        l->addrlen = lens[i];
        l->is_wildcard = is_wildcard(&l->addr);
        char text[64];
        net_addr_str(&l->addr, text, sizeof(text));
        if (!bind_listener(n, i, text, err))
            goto fail;
    }
    for (unsigned w = 0; w < opts->workers; w++) {
        worker_t *wk = &n->workers[w];
        wk->base = event_base_new();
        if (!wk->base) {
            err_set(err, "worker %u: cannot create an event base", w);
            goto fail;
        }
        wk->actx.geo_cache = xcalloc(1, sizeof(*wk->actx.geo_cache));
        unsigned first = opts->workers + w * (unsigned)count; /* see net_readers() */
        if (!net_udp_init(wk, first, err) || !net_tcp_init(wk, err))
            goto fail;
    }
    return n;
fail:
    net_free(n);
    return NULL;
}

const net_listener_t *net_listeners(const net_t *n, size_t *count)
{
    *count = n->nlisteners;
    return n->listeners;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char name[16]; /* top -H, /proc/PID/task/TID/comm and the tests tell the threads apart */
    snprintf(name, sizeof(name), "hadnsd-w%u", w->id);
    pthread_setname_np(pthread_self(), name);
    event_base_dispatch(w->base);
    return NULL;
}

bool net_start(net_t *n, hadns_err_t *err)
{
    for (unsigned w = 0; w < n->opts.workers; w++) {
        worker_t *wk = &n->workers[w];
        int rc = cpus_thread_start(&wk->thread, wk->cpu, wk->cpu ? 1 : 0, worker_main, wk);
        if (rc != 0) {
            if (wk->cpu)
                err_set(err, "worker_cpus: worker %u cannot start on CPU %u: %s", w, *wk->cpu,
                        cpus_strerror(rc));
            else
                err_set(err, "worker %u: cannot start a thread: %s", w, strerror(rc));
            net_stop(n);
            return false;
        }
        n->workers[w].started = true;
        if (!net_udp_start(&n->workers[w], err)) {
            net_stop(n);
            return false;
        }
    }
    return true;
}

unsigned net_readers(unsigned workers, size_t nlisteners)
{
    return workers * (1 + (unsigned)nlisteners);
}

void net_stop(net_t *n)
{
    for (unsigned w = 0; w < n->opts.workers; w++) {
        if (n->workers[w].udp)
            net_udp_stop(&n->workers[w]);
    }
    for (unsigned w = 0; w < n->opts.workers; w++) {
        if (n->workers[w].started)
            event_base_loopbreak(n->workers[w].base);
    }
    for (unsigned w = 0; w < n->opts.workers; w++) {
        if (n->workers[w].started) {
            pthread_join(n->workers[w].thread, NULL);
            n->workers[w].started = false;
        }
    }
}

void net_free(net_t *n)
{
    if (!n)
        return;
    net_stop(n);
    for (unsigned w = 0; w < n->opts.workers; w++) {
        worker_t *wk = &n->workers[w];
        net_tcp_fini(wk);
        net_udp_fini(wk);
        free(wk->actx.geo_cache);
        for (size_t i = 0; i < n->nlisteners; i++) {
            if (wk->udp_fds[i] >= 0)
                close(wk->udp_fds[i]);
            if (wk->tcp_fds[i] >= 0)
                close(wk->tcp_fds[i]);
        }
        if (wk->base)
            event_base_free(wk->base);
        free(wk->udp_fds);
        free(wk->tcp_fds);
    }
    free(n->workers);
    free(n->listeners);
    free(n);
}
