/* SPDX-License-Identifier: MIT */
/* health_tcp.c: the "tcp" probe: a non-blocking connect that must succeed. The engine owns the
 * timeout; this file owns the socket and its one event. */
#include "config.h"
#include "health_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "xalloc.h"

struct tcp_run {
    int fd;
    struct event *ev;
};

static void run_free(health_probe_t *p)
{
    struct tcp_run *r = p->run;
    if (!r)
        return;
    if (r->ev)
        event_free(r->ev);
    if (r->fd >= 0) {
        /* Reset instead of FIN: a checker that opens thousands of connections a second must
         * not leave each one in TIME_WAIT (HAProxy's tcp-check does the same). */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(r->fd);
    }
    free(r);
    p->run = NULL;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    health_probe_t *p = arg;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    run_free(p);
    char buf[128];
    if (soerr)
        health_probe_done(p, false, "%s", health_strerror(soerr, buf, sizeof(buf)));
    else
        health_probe_done(p, true, NULL);
}

static void tcp_start(health_probe_t *p)
{
    struct tcp_run *r = xcalloc(1, sizeof(*r));
    p->run = r;
    r->fd = socket(p->spec.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        char buf[128];
        health_strerror(errno, buf, sizeof(buf));
        run_free(p);
        health_probe_done(p, false, "socket: %s", buf);
        return;
    }
    if (connect(r->fd, (const struct sockaddr *)&p->spec.addr, p->spec.addrlen) == 0) {
        run_free(p);
        health_probe_done(p, true, NULL);
        return;
    }
    if (errno != EINPROGRESS) {
        char buf[128];
        health_strerror(errno, buf, sizeof(buf));
        run_free(p);
        health_probe_done(p, false, "%s", buf);
        return;
    }
    r->ev = event_new(p->base, r->fd, EV_WRITE, on_writable, p);
    if (!r->ev || event_add(r->ev, NULL) < 0) {
        run_free(p);
        health_probe_done(p, false, "cannot watch the socket");
    }
}

static void tcp_cancel(health_probe_t *p)
{
    run_free(p);
}

const health_kind_ops_t health_tcp_ops = {.start = tcp_start, .cancel = tcp_cancel};
