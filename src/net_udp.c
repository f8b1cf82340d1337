/* SPDX-License-Identifier: MIT */
/* net_udp.c: batched UDP service. Between recvmmsg and sendmmsg nothing allocates or locks.
 * Two drivers share one batch routine: the worker's libevent loop (readable -> recvmmsg with
 * MSG_DONTWAIT until drained), or a thread per socket blocking in recvmmsg(MSG_WAITFORONE),
 * gdnsd's design, which saves the epoll_wait per wake-up. */
#include "config.h"
#include "net_udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "cpus.h"
#include "log.h"
#include "xalloc.h"

/* Datagrams taken per recvmmsg: enough to amortise the syscall under load (gdnsd uses 16,
 * NSD 100), small enough that a batch's buffers stay in L2 and a reload's grace period (one
 * batch) stays short. */
#define UDP_BATCH 32
/* Largest query we accept: a question and an OPT with options fit in far less; a larger
 * datagram arrives truncated (MSG_TRUNC) and is dropped. */
#define UDP_RX_SIZE 4096
/* Largest UDP answer: udp_payload is capped at 4096 by the config. */
#define UDP_TX_SIZE 4096

/* Control-message room for one IPv6 packet-info (the larger of the two families). */
#define UDP_CMSG_SIZE CMSG_SPACE(sizeof(struct in6_pktinfo))

/* One UDP socket with everything its batches need, so that a socket can be served by a
 * thread of its own. */
struct udp_sock {
    worker_t *w;
    unsigned listener;     /* its index in w->listeners */
    int fd;
    bool pktinfo;
    unsigned reader;       /* snapshot reader slot of the thread serving it */
    struct event *ev;      /* event driver */
    pthread_t thread;      /* blocking driver */
    bool started;
    atomic_bool stop;
    answer_ctx_t actx;
    struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
    struct iovec riov[UDP_BATCH], tiov[UDP_BATCH];
    struct sockaddr_storage src[UDP_BATCH];
    _Alignas(struct cmsghdr) uint8_t rcmsg[UDP_BATCH][UDP_CMSG_SIZE];
    _Alignas(struct cmsghdr) uint8_t tcmsg[UDP_BATCH][UDP_CMSG_SIZE];
    uint8_t rbuf[UDP_BATCH][UDP_RX_SIZE];
    uint8_t tbuf[UDP_BATCH][UDP_TX_SIZE];
};

struct udp_state {
    struct udp_sock **socks;
};

/* recvmmsg and sendmmsg as bare system calls. glibc's wrappers make each call a
 * cancellation point (about 50 instructions a call, as much as a quarter of a small answer's
 * own work); these threads are never cancelled (net_udp_stop() wakes them with shutdown()). */
static int sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    return (int)syscall(SYS_recvmmsg, fd, v, n, flags, NULL);
}

static int sys_sendmmsg(int fd, struct mmsghdr *v, unsigned n)
{
    return (int)syscall(SYS_sendmmsg, fd, v, n, 0);
}

/* Builds the reply's source-address control message from the query's destination. */
static size_t reply_cmsg(const struct msghdr *in, uint8_t *out)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c; c = CMSG_NXTHDR((struct msghdr *)in, c)) {
        struct msghdr m = {.msg_control = out, .msg_controllen = UDP_CMSG_SIZE};
        struct cmsghdr *o = CMSG_FIRSTHDR(&m);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            pi.ipi_spec_dst = pi.ipi_addr;
            pi.ipi_ifindex = 0;
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(o), &pi, sizeof(pi));
            return CMSG_SPACE(sizeof(pi));
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
            memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
            return CMSG_SPACE(sizeof(struct in6_pktinfo));
        }
    }
    return 0;
}

/* Points slot i's receive and send headers at their buffers, once: the kernel rewrites only
 * a receive header's lengths and flags (rx_reset), and a reply sets only its address, length
 * and, on a wildcard listener, its source-address message. */
static void slot_init(struct udp_sock *s, unsigned i)
{
    struct msghdr *h = &s->rx[i].msg_hdr;
    s->riov[i].iov_base = s->rbuf[i];
    s->riov[i].iov_len = UDP_RX_SIZE;
    h->msg_name = &s->src[i];
    h->msg_iov = &s->riov[i];
    h->msg_iovlen = 1;
    h->msg_control = s->pktinfo ? s->rcmsg[i] : NULL;
    struct msghdr *t = &s->tx[i].msg_hdr;
    s->tiov[i].iov_base = s->tbuf[i];
    t->msg_iov = &s->tiov[i];
    t->msg_iovlen = 1;
    t->msg_control = NULL;
    t->msg_controllen = 0;
    t->msg_flags = 0;
}

/* Readies receive header i for the next recvmmsg. */
static void rx_reset(struct udp_sock *s, unsigned i)
{
    struct msghdr *h = &s->rx[i].msg_hdr;
    h->msg_namelen = sizeof(s->src[i]);
    h->msg_controllen = s->pktinfo ? UDP_CMSG_SIZE : 0;
    h->msg_flags = 0;
}

/* Receives one batch (flags: MSG_DONTWAIT or MSG_WAITFORONE), answers it, sends the answers.
 * Returns the number of datagrams received, or -1 when nothing was (errno set). */
static int udp_batch(struct udp_sock *s, int flags)
{
    const net_opts_t *o = s->w->opts;
    int n = sys_recvmmsg(s->fd, s->rx, UDP_BATCH, flags);
    if (n <= 0)
        return n < 0 ? -1 : 0;
    unsigned out = 0;
    const snapshot_t *snap = snapshot_read_begin(o->snap, s->reader);
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &s->rx[i].msg_hdr;
        size_t len = s->rx[i].msg_len;
        if (h->msg_flags & MSG_TRUNC)
            len = 0; /* larger than any query: drop rather than parse a fragment */
        size_t rlen = answer_query(&s->actx, snap, &o->answer, s->rbuf[i], len,
                                   (const struct sockaddr *)&s->src[i], s->tbuf[out],
                                   UDP_TX_SIZE, false);
        if (!rlen)
            continue;
        struct msghdr *t = &s->tx[out].msg_hdr;
        s->tiov[out].iov_len = rlen;
        t->msg_name = &s->src[i];
        t->msg_namelen = h->msg_namelen;
        if (s->pktinfo) {
            size_t cl = reply_cmsg(h, s->tcmsg[out]);
            t->msg_control = cl ? s->tcmsg[out] : NULL;
            t->msg_controllen = cl;
        }
        out++;
    }
    snapshot_read_end(o->snap, s->reader);
    for (int i = 0; i < n; i++)
        rx_reset(s, (unsigned)i); /* only the headers the kernel wrote to */
    for (unsigned sent = 0; sent < out;) {
        int k = sys_sendmmsg(s->fd, s->tx + sent, out - sent);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            sent++; /* a full send buffer or an unreachable client: skip that datagram */
            continue;
        }
        sent += (unsigned)k;
    }
    return n;
}

/* Event driver: drain the socket, then back to the loop. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct udp_sock *s = arg;
    for (;;) {
        int n = udp_batch(s, MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            log_warn("udp recvmmsg");
        if (n < UDP_BATCH)
            return;
    }
}

/* Blocking driver: sleep in the kernel until at least one datagram is there, then take what
 * has arrived (MSG_WAITFORONE). net_udp_fini() wakes it with shutdown(). */
static void *udp_thread(void *arg)
{
    struct udp_sock *s = arg;
    char name[16];
    snprintf(name, sizeof(name), "hadnsd-u%u.%u", s->w->id, s->listener);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        if (udp_batch(s, MSG_WAITFORONE) < 0 && errno != EINTR && errno != EAGAIN &&
            !atomic_load(&s->stop))
            log_warn("udp recvmmsg");
    }
    return NULL;
}

bool net_udp_blocking(void)
{
    /* Measured in contrib/bench (see its README); HADNSD_UDP_LOOP overrides for measuring. */
    const char *e = getenv("HADNSD_UDP_LOOP");
    if (e && !strcmp(e, "event"))
        return false;
    if (e && !strcmp(e, "blocking"))
        return true;
    return NET_UDP_DEFAULT_BLOCKING;
}

bool net_udp_init(worker_t *w, unsigned first_reader, hadns_err_t *err)
{
    struct udp_state *u = xcalloc(1, sizeof(*u));
    w->udp = u;
    bool blocking = net_udp_blocking();
    u->socks = xcalloc(w->nlisteners ? w->nlisteners : 1, sizeof(struct udp_sock *));
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct udp_sock *s = xcalloc(1, sizeof(*s));
        u->socks[i] = s;
        s->w = w;
        s->listener = (unsigned)i;
        s->fd = w->udp_fds[i];
        s->pktinfo = w->listeners[i].is_wildcard;
        s->actx.geo_cache = xcalloc(1, sizeof(*s->actx.geo_cache));
        atomic_init(&s->stop, false);
        for (unsigned b = 0; b < UDP_BATCH; b++) {
            slot_init(s, b);
            rx_reset(s, b);
        }
        if (blocking) {
            s->reader = first_reader + (unsigned)i;
            int fl = fcntl(s->fd, F_GETFL);
            if (fl < 0 || fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                err_set(err, "worker %u: cannot make the udp socket for %s blocking", w->id,
                        w->listeners[i].text);
                return false;
            }
            continue;
        }
        s->reader = w->id;
        s->ev = event_new(w->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
        if (!s->ev || event_add(s->ev, NULL) != 0) {
            err_set(err, "worker %u: cannot add udp event for %s", w->id, w->listeners[i].text);
            return false;
        }
    }
    return true;
}

bool net_udp_start(worker_t *w, hadns_err_t *err)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct udp_sock *s = w->udp->socks[i];
        if (s->ev)
            continue;
        int rc = cpus_thread_start(&s->thread, w->cpu, w->cpu ? 1 : 0, udp_thread, s);
        if (rc != 0) {
            if (w->cpu)
                err_set(err, "worker_cpus: worker %u cannot start a udp thread on CPU %u: %s",
                        w->id, *w->cpu, cpus_strerror(rc));
            else
                err_set(err, "worker %u: cannot start a udp thread: %s", w->id, strerror(rc));
            return false;
        }
        s->started = true;
    }
    return true;
}

void net_udp_stop(worker_t *w)
{
    struct udp_state *u = w->udp;
    if (!u)
        return;
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct udp_sock *s = u->socks[i];
        if (!s || !s->started)
            continue;
        atomic_store(&s->stop, true);
        shutdown(s->fd, SHUT_RDWR); /* wakes recvmmsg (it fails with ENOTCONN, harmlessly) */
        pthread_join(s->thread, NULL);
        s->started = false;
    }
}

void net_udp_fini(worker_t *w)
{
    struct udp_state *u = w->udp;
    if (!u)
        return;
    net_udp_stop(w);
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (u->socks[i] && u->socks[i]->ev)
            event_free(u->socks[i]->ev);
        if (u->socks[i])
            free(u->socks[i]->actx.geo_cache);
        free(u->socks[i]);
    }
    free(u->socks);
    free(u);
    w->udp = NULL;
}
