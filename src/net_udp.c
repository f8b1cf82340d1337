/* SPDX-License-Identifier: MIT */
/* net_udp.c: batched UDP service. Between recvmmsg and sendmmsg nothing allocates or locks. */
#include "config.h"
#include "net_udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "log.h"
#include "xalloc.h"

/* Datagrams taken per recvmmsg: enough to amortise the syscall under load (gdnsd uses 16,
 * NSD 100), small enough that a batch's buffers stay in L2 and a reload's grace period (one
 * batch) stays short. */
#define UDP_BATCH 32
/* Largest query we accept: a question and an OPT with options fit in far less; a larger
 * datagram arrives truncated (MSG_TRUNC) and is answered FORMERR or dropped. */
#define UDP_RX_SIZE 4096
/* Largest UDP answer: udp_payload is capped at 4096 by the config. */
#define UDP_TX_SIZE 4096

/* Control-message room for one IPv6 packet-info (the larger of the two families). */
#define UDP_CMSG_SIZE CMSG_SPACE(sizeof(struct in6_pktinfo))

struct udp_sock {
    worker_t *w;
    int fd;
    bool pktinfo;
    struct event *ev;
};

struct udp_state {
    struct udp_sock *socks;
    struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
    struct iovec riov[UDP_BATCH], tiov[UDP_BATCH];
    struct sockaddr_storage src[UDP_BATCH];
    _Alignas(struct cmsghdr) uint8_t rcmsg[UDP_BATCH][UDP_CMSG_SIZE];
    _Alignas(struct cmsghdr) uint8_t tcmsg[UDP_BATCH][UDP_CMSG_SIZE];
    uint8_t rbuf[UDP_BATCH][UDP_RX_SIZE];
    uint8_t tbuf[UDP_BATCH][UDP_TX_SIZE];
};

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

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct udp_sock *s = arg;
    worker_t *w = s->w;
    struct udp_state *u = w->udp;
    const net_opts_t *o = w->opts;

    for (;;) {
        for (unsigned i = 0; i < UDP_BATCH; i++) {
            struct msghdr *h = &u->rx[i].msg_hdr;
            h->msg_name = &u->src[i];
            h->msg_namelen = sizeof(u->src[i]);
            h->msg_iov = &u->riov[i];
            h->msg_iovlen = 1;
            h->msg_control = s->pktinfo ? u->rcmsg[i] : NULL;
            h->msg_controllen = s->pktinfo ? UDP_CMSG_SIZE : 0;
            h->msg_flags = 0;
        }
        int n = recvmmsg(fd, u->rx, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("udp recvmmsg");
            return;
        }
        unsigned out = 0;
        const snapshot_t *snap = snapshot_read_begin(o->snap, w->id);
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &u->rx[i].msg_hdr;
            size_t len = u->rx[i].msg_len;
            if (h->msg_flags & MSG_TRUNC)
                len = 0; /* larger than any query: drop rather than parse a fragment */
            size_t rlen = answer_query(&w->actx, snap->zones, &o->answer, u->rbuf[i], len,
                                       u->tbuf[out], UDP_TX_SIZE, false);
            if (!rlen)
                continue;
            struct msghdr *t = &u->tx[out].msg_hdr;
            u->tiov[out].iov_base = u->tbuf[out];
            u->tiov[out].iov_len = rlen;
            t->msg_name = &u->src[i];
            t->msg_namelen = h->msg_namelen;
            t->msg_iov = &u->tiov[out];
            t->msg_iovlen = 1;
            t->msg_flags = 0;
            t->msg_control = NULL;
            t->msg_controllen = 0;
            if (s->pktinfo) {
                size_t cl = reply_cmsg(h, u->tcmsg[out]);
                if (cl) {
                    t->msg_control = u->tcmsg[out];
                    t->msg_controllen = cl;
                }
            }
            out++;
        }
        snapshot_read_end(o->snap, w->id);
        for (unsigned sent = 0; sent < out;) {
            int k = sendmmsg(fd, u->tx + sent, out - sent, 0);
            if (k <= 0) {
                if (k < 0 && errno == EINTR)
                    continue;
                /* A full send buffer or an unreachable client: skip that one datagram. */
                sent++;
                continue;
            }
            sent += (unsigned)k;
        }
        if (n < UDP_BATCH)
            return; /* drained */
    }
}

bool net_udp_init(worker_t *w, hadns_err_t *err)
{
    struct udp_state *u = xcalloc(1, sizeof(*u));
    w->udp = u;
    for (unsigned i = 0; i < UDP_BATCH; i++) {
        u->riov[i].iov_base = u->rbuf[i];
        u->riov[i].iov_len = UDP_RX_SIZE;
    }
    u->socks = xcalloc(w->nlisteners ? w->nlisteners : 1, sizeof(struct udp_sock));
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct udp_sock *s = &u->socks[i];
        s->w = w;
        s->fd = w->udp_fds[i];
        s->pktinfo = w->listeners[i].is_wildcard;
        s->ev = event_new(w->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
        if (!s->ev || event_add(s->ev, NULL) != 0) {
            err_set(err, "worker %u: cannot add udp event for %s", w->id, w->listeners[i].text);
            return false;
        }
    }
    return true;
}

void net_udp_fini(worker_t *w)
{
    struct udp_state *u = w->udp;
    if (!u)
        return;
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (u->socks[i].ev)
            event_free(u->socks[i].ev);
    }
    free(u->socks);
    free(u);
    w->udp = NULL;
}
