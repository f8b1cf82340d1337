/* SPDX-License-Identifier: MIT */
/* net_tcp.c: RFC 7766 DNS over TCP with fixed per-connection buffers reused across
 * connections, so answering allocates nothing. */
#include "config.h"
#include "net_tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xalloc.h"

/* When accept fails for lack of descriptors the listener stays readable; pausing it this long
 * keeps the worker from spinning while connections close. */
#define ACCEPT_PAUSE_MS 100

struct tcp_conn {
    worker_t *w;
    struct tcp_conn *next_free;
    struct event *ev;
    int fd;
    bool writing;
    struct sockaddr_storage peer; /* the client, for GeoIP */
    size_t rlen;       /* bytes buffered in rx */
    size_t tlen, toff; /* pending response in tx: total, written */
    uint8_t rx[2 + ANSWER_MAX];
    uint8_t tx[2 + ANSWER_MAX];
};

struct tcp_listen {
    worker_t *w;
    const char *text; /* the listener's address, for messages */
    int fd;
    struct event *ev;
    struct event *pause;
};

struct tcp_state {
    struct tcp_listen *ls;
    struct tcp_conn **all; /* every connection slot ever made, for shutdown */
    size_t nall;
    struct tcp_conn *free_list;
    unsigned open;
};

static void on_conn(evutil_socket_t fd, short what, void *arg);

static void conn_close(struct tcp_conn *c)
{
    struct tcp_state *t = c->w->tcp;
    event_del(c->ev);
    close(c->fd);
    c->fd = -1;
    c->next_free = t->free_list;
    t->free_list = c;
    t->open--;
}

/* Switches the connection's event between reading and writing, re-arming the idle timeout. */
static bool conn_watch(struct tcp_conn *c, bool writing)
{
    struct timeval idle = {(time_t)c->w->opts->tcp_idle_timeout, 0};
    c->writing = writing;
    event_del(c->ev);
    event_assign(c->ev, c->w->base, c->fd, (short)((writing ? EV_WRITE : EV_READ) | EV_PERSIST),
                 on_conn, c);
    return event_add(c->ev, &idle) == 0;
}

/* Writes what is pending. Returns 1 when all is written, 0 when the socket is full, -1 on error. */
static int conn_flush(struct tcp_conn *c)
{
    while (c->toff < c->tlen) {
        ssize_t n = send(c->fd, c->tx + c->toff, c->tlen - c->toff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->toff += (size_t)n;
    }
    c->tlen = c->toff = 0;
    return 1;
}

/* Answers every complete query in rx, in order, until output blocks (RFC 7766 §6.2.1.1:
 * pipelined queries are all answered). Returns false if the connection must close. */
static bool conn_process(struct tcp_conn *c)
{
    worker_t *w = c->w;
    while (c->tlen == 0 && c->rlen >= 2) {
        size_t mlen = rd16(c->rx);
        if (c->rlen < 2 + mlen)
            break;
        const snapshot_t *snap = snapshot_read_begin(w->opts->snap, w->id);
        size_t rlen = answer_query(&w->actx, snap, &w->opts->answer, c->rx + 2, mlen,
                                   (const struct sockaddr *)&c->peer, c->tx + 2, ANSWER_MAX,
                                   true);
        snapshot_read_end(w->opts->snap, w->id);
        memmove(c->rx, c->rx + 2 + mlen, c->rlen - 2 - mlen);
        c->rlen -= 2 + mlen;
        if (!rlen)
            return false; /* not a query: nothing sensible to say on this stream */
        wr16(c->tx, (uint16_t)rlen);
        c->tlen = 2 + rlen;
        c->toff = 0;
        int f = conn_flush(c);
        if (f < 0)
            return false;
        if (f == 0)
            return conn_watch(c, true);
    }
    if (c->writing)
        return conn_watch(c, false);
    return true;
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_close(c); /* RFC 7766 §6.2.3: idle connections are closed by the server */
        return;
    }
    if (what & EV_WRITE) {
        int f = conn_flush(c);
        if (f < 0 || (f == 1 && !conn_process(c)))
            conn_close(c);
        return;
    }
    for (;;) {
        ssize_t n = recv(fd, c->rx + c->rlen, sizeof(c->rx) - c->rlen, 0);
        if (n == 0) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c);
            return;
        }
        c->rlen += (size_t)n;
        if (!conn_process(c)) {
            conn_close(c);
            return;
        }
        if (c->writing || c->rlen == sizeof(c->rx))
            return;
    }
}

static struct tcp_conn *conn_get(worker_t *w)
{
    struct tcp_state *t = w->tcp;
    struct tcp_conn *c = t->free_list;
    if (c) {
        t->free_list = c->next_free;
    } else {
        /* A new slot the first time this many clients are open at once; reused after. */
        c = xcalloc(1, sizeof(*c));
        c->w = w;
        c->ev = event_new(w->base, -1, 0, on_conn, c);
        if (!c->ev)
            abort();
        t->all = xrealloc(t->all, (t->nall + 1) * sizeof(*t->all));
        t->all[t->nall++] = c;
    }
    c->rlen = c->tlen = c->toff = 0;
    c->writing = false;
    t->open++;
    return c;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tcp_listen *l = arg;
    event_add(l->ev, NULL);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tcp_listen *l = arg;
    worker_t *w = l->w;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("tcp accept on %s (pausing %d ms)", l->text,
                         ACCEPT_PAUSE_MS);
                struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
                event_del(l->ev);
                evtimer_add(l->pause, &tv);
            }
            return;
        }
        if (w->tcp->open >= w->opts->tcp_max_per_worker) {
            /* At the cap: refuse at once rather than leave the client waiting in the backlog. */
            close(cfd);
            continue;
        }
        /* Each answer goes out in one send(); Nagle would hold a pipelined answer back until
         * the client's delayed ACK (tens of milliseconds). */
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct tcp_conn *c = conn_get(w);
        c->fd = cfd;
        c->peer = peer;
        if (!conn_watch(c, false))
            conn_close(c);
    }
}

bool net_tcp_init(worker_t *w, hadns_err_t *err)
{
    struct tcp_state *t = xcalloc(1, sizeof(*t));
    w->tcp = t;
    t->ls = xcalloc(w->nlisteners ? w->nlisteners : 1, sizeof(struct tcp_listen));
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct tcp_listen *l = &t->ls[i];
        l->w = w;
        l->text = w->listeners[i].text;
        l->fd = w->tcp_fds[i];
        l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, on_accept, l);
        l->pause = evtimer_new(w->base, on_resume, l);
        if (!l->ev || !l->pause || event_add(l->ev, NULL) != 0) {
            err_set(err, "worker %u: cannot add tcp event for %s", w->id, w->listeners[i].text);
            return false;
        }
    }
    return true;
}

void net_tcp_fini(worker_t *w)
{
    struct tcp_state *t = w->tcp;
    if (!t)
        return;
    for (size_t i = 0; i < t->nall; i++) {
        struct tcp_conn *c = t->all[i];
        if (c->fd >= 0) {
            event_del(c->ev);
            close(c->fd);
        }
        event_free(c->ev);
        free(c);
    }
    free(t->all);
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (t->ls[i].ev)
            event_free(t->ls[i].ev);
        if (t->ls[i].pause)
            event_free(t->ls[i].pause);
    }
    free(t->ls);
    free(t);
    w->tcp = NULL;
}
