/* SPDX-License-Identifier: MIT */
/* health_dns.c: the "dns" probe: one UDP query (built here by hand, RD clear) for a configured
 * name and type; the check passes when a matching response says NOERROR. */
#include "config.h"
#include "health_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "dname.h"
#include "wire.h"
#include "xalloc.h"

/* A response we read: header, question and an answer or two; anything longer is truncated by
 * recv, which is fine since only the header matters. */
#define DNS_RESP_MAX 512

struct dns_run {
    int fd;
    struct event *ev;
    uint16_t qid;
};

static const char *const rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                          "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                          "NXRRSET", "NOTAUTH", "NOTZONE"};

static void run_free(health_probe_t *p)
{
    struct dns_run *r = p->run;
    if (!r)
        return;
    if (r->ev)
        event_free(r->ev);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
    p->run = NULL;
}

static void fail_errno(health_probe_t *p, const char *what)
{
    char buf[128];
    health_strerror(errno, buf, sizeof(buf));
    run_free(p);
    health_probe_done(p, false, "%s%s", what, buf);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    health_probe_t *p = arg;
    struct dns_run *r = p->run;
    uint8_t buf[DNS_RESP_MAX];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* keep waiting: the engine's deadline bounds it */
            if (errno == EINTR)
                continue;
            fail_errno(p, "");
            return;
        }
        /* Anything that is not the response to our query (too short, another id, not a
         * response) is ignored, as a resolver would. */
        if (n < DNS_HDR_LEN || rd16(buf) != r->qid || !(rd16(buf + 2) & F_QR))
            continue;
        unsigned rcode = buf[3] & 0xfu;
        run_free(p);
        if (rcode == RCODE_NOERROR)
            health_probe_done(p, true, NULL);
        else if (rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
            health_probe_done(p, false, "rcode %s", rcode_names[rcode]);
        else
            health_probe_done(p, false, "rcode %u", rcode);
        return;
    }
}

static void dns_start(health_probe_t *p)
{
    struct dns_run *r = xcalloc(1, sizeof(*r));
    p->run = r;
    uint8_t q[DNS_HDR_LEN + DNAME_MAXLEN + 4];
    size_t nlen = dname_from_str(p->spec.dns_name ? p->spec.dns_name : ".", q + DNS_HDR_LEN);
    if (!nlen) { /* the config validated it */
        run_free(p);
        health_probe_done(p, false, "bad query name");
        return;
    }
    r->qid = (uint16_t)health_probe_random(p);
    memset(q, 0, DNS_HDR_LEN);
    wr16(q, r->qid);
    wr16(q + 2, 0); /* a plain query, RD clear: we ask the authority itself */
    wr16(q + 4, 1); /* QDCOUNT */
    wr16(q + DNS_HDR_LEN + nlen, p->spec.dns_type);
    wr16(q + DNS_HDR_LEN + nlen + 2, DNS_CLASS_IN);
    size_t qlen = DNS_HDR_LEN + nlen + 4;

    r->fd = socket(p->spec.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        fail_errno(p, "socket: ");
        return;
    }
    /* connect(): the kernel then drops datagrams from anyone else, and an ICMP port
     * unreachable comes back as ECONNREFUSED. */
    if (connect(r->fd, (const struct sockaddr *)&p->spec.addr, p->spec.addrlen) < 0 ||
        send(r->fd, q, qlen, 0) < 0) {
        fail_errno(p, "");
        return;
    }
    r->ev = event_new(p->base, r->fd, EV_READ | EV_PERSIST, on_readable, p);
    if (!r->ev || event_add(r->ev, NULL) < 0) {
        run_free(p);
        health_probe_done(p, false, "cannot watch the socket");
    }
}

static void dns_cancel(health_probe_t *p)
{
    run_free(p);
}

const health_kind_ops_t health_dns_ops = {.start = dns_start, .cancel = dns_cancel};
