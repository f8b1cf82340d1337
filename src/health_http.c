/* SPDX-License-Identifier: MIT */
/* health_http.c: the "http" and "https" probes: one bufferevent (OpenSSL's for https) per run,
 * an HTTP/1.0 request (so no chunked body to undo before the substring search), the status
 * line checked against the expected codes, and optionally a substring searched in the first
 * HEALTH_BODY_WINDOW bytes of the body. The engine owns the timeout. */
#include "config.h"
#include "health_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "xalloc.h"

/* A status line longer than this is not HTTP. */
#define STATUS_LINE_MAX 1024
/* Response headers past this size: give up rather than buffer a misbehaving server. */
#define HEADERS_MAX 16384

struct http_run {
    struct bufferevent *bev;
    SSL *ssl;        /* owned by bev once it exists */
    int status;      /* 0 until the status line is read */
    size_t body_off; /* where the body starts; 0 until the headers end */
};

/* ---- TLS contexts, one per CA file, on the health thread ---- */

struct tls_entry {
    char *ca; /* NULL = the system store */
    SSL_CTX *ctx;
};

struct tls_cache {
    struct tls_entry *e;
    size_t n;
};

void health_http_tls_free(void *tls)
{
    struct tls_cache *t = tls;
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        SSL_CTX_free(t->e[i].ctx);
        free(t->e[i].ca);
    }
    free(t->e);
    free(t);
}

static const char *tls_reason(unsigned long e, char *buf, size_t len)
{
    const char *r = ERR_reason_error_string(e);
    if (r)
        snprintf(buf, len, "%s", r);
    else
        ERR_error_string_n(e, buf, len);
    return buf;
}

static SSL_CTX *tls_ctx(health_probe_t *p, char *err, size_t errlen)
{
    struct tls_cache **slot = (struct tls_cache **)health_probe_tls_slot(p);
    if (!*slot)
        *slot = xcalloc(1, sizeof(**slot));
    struct tls_cache *t = *slot;
    const char *ca = p->spec.tls_ca;
    for (size_t i = 0; i < t->n; i++) {
        if ((!ca && !t->e[i].ca) || (ca && t->e[i].ca && !strcmp(ca, t->e[i].ca)))
            return t->e[i].ctx;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS error: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* Many servers close without a TLS close_notify once the response is sent (HTTP/1.0 with
     * Connection: close): a plain end of the response, not an error. (libevent's own "dirty
     * shutdown" switch would also turn a refused connection into an EOF.) */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok =
        ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char r[128];
        snprintf(err, errlen, "TLS error: cannot load %.40s: %.40s",
                 ca ? ca : "the system CA store", tls_reason(ERR_get_error(), r, sizeof(r)));
        SSL_CTX_free(ctx);
        return NULL; /* tried again next run: the file may get fixed */
    }
    t->e = xrealloc(t->e, (t->n + 1) * sizeof(*t->e));
    t->e[t->n].ca = ca ? xstrdup(ca) : NULL;
    t->e[t->n].ctx = ctx;
    t->n++;
    return ctx;
}

/* ---- one run ---- */

static void run_free(health_probe_t *p)
{
    struct http_run *r = p->run;
    if (!r)
        return;
    if (r->bev) {
        /* Reset rather than FIN once we know the result: thousands of checks a second must
         * not leave a TIME_WAIT behind each (HAProxy closes its checks the same way). */
        evutil_socket_t fd = bufferevent_getfd(r->bev);
        if (fd >= 0) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        bufferevent_free(r->bev); /* closes the socket and frees the SSL (CLOSE_ON_FREE) */
    } else if (r->ssl)
        SSL_free(r->ssl);
    free(r);
    p->run = NULL;
}

static bool status_expected(const health_spec_t *s, int status)
{
    if (!s->nexpect)
        return status >= 200 && status <= 399;
    for (size_t i = 0; i < s->nexpect; i++) {
        if (s->expect[i] == status)
            return true;
    }
    return false;
}

/* Looks at what has arrived. Returns true when the run is over (done was called). */
static bool evaluate(health_probe_t *p, bool eof)
{
    struct http_run *r = p->run;
    struct evbuffer *in = bufferevent_get_input(r->bev);
    size_t len = evbuffer_get_length(in);
    const health_spec_t *s = &p->spec;

    if (!r->status) {
        size_t eol_len = 0;
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
        if (eol.pos < 0) {
            if (len > STATUS_LINE_MAX) {
                run_free(p);
                health_probe_done(p, false, "bad status line");
                return true;
            }
            if (eof) {
                run_free(p);
                health_probe_done(
                    p, false, len ? "bad status line" : "connection closed before the status line");
                return true;
            }
            return false;
        }
        char line[64];
        size_t n = (size_t)eol.pos < sizeof(line) - 1 ? (size_t)eol.pos : sizeof(line) - 1;
        evbuffer_copyout(in, line, n);
        line[n] = '\0';
        int minor, status, used = 0;
        if (sscanf(line, "HTTP/1.%d %3d%n", &minor, &status, &used) != 2 || used != 12 ||
            status < 100 || status > 599 || (line[12] != ' ' && line[12] != '\0')) {
            run_free(p);
            health_probe_done(p, false, "bad status line");
            return true;
        }
        r->status = status;
        if (!status_expected(s, status)) {
            run_free(p);
            health_probe_done(p, false, "status %d", status);
            return true;
        }
        if (!s->body) {
            run_free(p);
            health_probe_done(p, true, NULL);
            return true;
        }
    }

    if (!r->body_off) {
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0) {
            if (len > HEADERS_MAX || eof) {
                run_free(p);
                health_probe_done(p, false,
                                  eof ? "body mismatch (no body)" : "response headers too long");
                return true;
            }
            return false;
        }
        r->body_off = (size_t)end.pos + 4;
    }
    size_t blen = strlen(s->body);
    size_t window_end = r->body_off + HEALTH_BODY_WINDOW;
    size_t avail_end = len < window_end ? len : window_end;
    if (avail_end >= r->body_off + blen) {
        struct evbuffer_ptr from, to;
        evbuffer_ptr_set(in, &from, r->body_off, EVBUFFER_PTR_SET);
        evbuffer_ptr_set(in, &to, avail_end, EVBUFFER_PTR_SET);
        struct evbuffer_ptr hit = evbuffer_search_range(in, s->body, blen, &from, &to);
        if (hit.pos >= 0) {
            run_free(p);
            health_probe_done(p, true, NULL);
            return true;
        }
    }
    if (eof || len >= window_end) {
        int status = r->status;
        run_free(p);
        health_probe_done(p, false, "body mismatch (status %d)", status);
        return true;
    }
    return false;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    evaluate(arg, false);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    health_probe_t *p = arg;
    struct http_run *r = p->run;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_EOF) {
        evaluate(p, true);
        return;
    }
    if (!(what & BEV_EVENT_ERROR))
        return;
    int sockerr = EVUTIL_SOCKET_ERROR();
    char msg[HEALTH_ERR_MAX] = "";
    if (r->ssl) {
        unsigned long e, first = 0;
        while ((e = bufferevent_get_openssl_error(bev)) != 0) {
            /* libevent also queues SSL_get_error() codes (library 0): an I/O error, whose
             * errno tells more. */
            if (!first && ERR_GET_LIB(e) != 0)
                first = e;
        }
        long v = SSL_get_verify_result(r->ssl);
        if (v != X509_V_OK && p->spec.tls_verify) {
            snprintf(msg, sizeof(msg), "TLS error: certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
        } else if (first) {
            char reason[96];
            snprintf(msg, sizeof(msg), "TLS error: %s", tls_reason(first, reason, sizeof(reason)));
        }
    }
    if (!msg[0]) {
        if (sockerr) {
            char buf[96];
            snprintf(msg, sizeof(msg), "%s", health_strerror(sockerr, buf, sizeof(buf)));
        } else if (r->status) {
            /* The connection broke after the status line: judge what arrived. */
            evaluate(p, true);
            return;
        } else {
            snprintf(msg, sizeof(msg), "%s",
                     r->ssl ? "TLS error: handshake failed" : "connection error");
        }
    }
    run_free(p);
    health_probe_done(p, false, "%s", msg);
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void http_start(health_probe_t *p)
{
    const health_spec_t *s = &p->spec;
    struct http_run *r = xcalloc(1, sizeof(*r));
    p->run = r;
    const char *host = s->host ? s->host : s->target;
    if (s->kind == HEALTH_HTTPS) {
        char err[HEALTH_ERR_MAX];
        SSL_CTX *ctx = tls_ctx(p, err, sizeof(err));
        if (!ctx) {
            run_free(p);
            health_probe_done(p, false, "%s", err);
            return;
        }
        r->ssl = SSL_new(ctx);
        if (!r->ssl) {
            run_free(p);
            health_probe_done(p, false, "TLS error: cannot create a session");
            return;
        }
        bool ip = is_ip_literal(host);
        if (!ip)
            SSL_set_tlsext_host_name(r->ssl, host); /* SNI takes names only (RFC 6066 §3) */
        if (s->tls_verify) {
            if (ip)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r->ssl), host);
            else
                SSL_set1_host(r->ssl, host);
        } else {
            SSL_set_verify(r->ssl, SSL_VERIFY_NONE, NULL);
        }
        r->bev = bufferevent_openssl_socket_new(p->base, -1, r->ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
    } else {
        r->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!r->bev) {
        run_free(p);
        health_probe_done(p, false, "cannot create a bufferevent");
        return;
    }
    bufferevent_setcb(r->bev, on_read, NULL, on_event, p);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);

    uint16_t port =
        ntohs(s->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&s->addr)->sin6_port
                                            : ((const struct sockaddr_in *)&s->addr)->sin_port);
    bool default_port = port == (s->kind == HEALTH_HTTPS ? 443 : 80);
    bool v6 = strchr(host, ':') != NULL;
    struct evbuffer *out = bufferevent_get_output(r->bev);
    evbuffer_add_printf(out, "%s %s HTTP/1.0\r\nHost: %s%s%s", s->method ? s->method : "GET",
                        s->path ? s->path : "/", v6 ? "[" : "", host, v6 ? "]" : "");
    if (!default_port)
        evbuffer_add_printf(out, ":%u", port);
    evbuffer_add_printf(out,
                        "\r\nUser-Agent: hadnsd/%s health check\r\nAccept: */*\r\n"
                        "Connection: close\r\n\r\n",
                        PACKAGE_VERSION);
    if (bufferevent_socket_connect(r->bev, (const struct sockaddr *)&s->addr, (int)s->addrlen) <
            0 &&
        p->running) {
        /* (libevent may already have reported the failure through on_event, which ended the
         * run; then p->run is gone.) */
        char buf[96];
        health_strerror(errno, buf, sizeof(buf));
        run_free(p);
        health_probe_done(p, false, "%s", buf);
    }
}

static void http_cancel(health_probe_t *p)
{
    run_free(p);
}

const health_kind_ops_t health_http_ops = {.start = http_start, .cancel = http_cancel};
