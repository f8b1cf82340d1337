/* SPDX-License-Identifier: MIT */
/* health_http.c: the "http" and "https" probes: the status line checked against the expected
 * codes, and optionally a substring searched in the first HEALTH_BODY_WINDOW bytes of the
 * body. The engine owns the timeout.
 *
 * With reuse_connection (the default) the request is HTTP/1.1 with "Connection: keep-alive",
 * the response is framed (Content-Length, chunked, or no body) by the pure parser below, and a
 * connection that ended a successful run at a response boundary is kept, idle, for the next
 * run: one per check, in p->keep, watched for the server closing it. A kept connection that
 * turns out dead when the next run uses it (closed before any byte of the response) is
 * replaced once within that run. Without it, each run opens a connection, sends HTTP/1.0 with
 * "Connection: close" and reads until the verdict.
 *
 * The I/O. Plain http works on the socket itself, https on OpenSSL's bufferevent. With
 * 10,000 checks a second, system calls are most of the health thread's cost, and a plain
 * bufferevent made five per probe on a kept connection: epoll_ctl to add write interest as
 * the request was queued and again to remove it once drained, the writev, ioctl(FIONREAD)
 * before the read, and the readv. Here the socket's read event (EV_READ|EV_PERSIST) is added
 * as the connection opens and stays registered until it closes, through the runs and the idle
 * time between them: no probe touches epoll, and a server closing an idle connection is still
 * noticed. The request (formatted once per connection) goes out with one send(); only what a
 * full socket buffer refused, or all of it while the connection is being made, waits for a
 * one-shot write event. The response is recv()'d into the run's own buffer. A probe on a kept
 * connection is one send() and one recv().
 *
 * https keeps the bufferevent: it runs the TLS state machine (the handshake, a read that
 * wants a write and the reverse), which would otherwise be a second copy of libevent's code
 * here, and a TLS probe costs more in crypto than in system calls. The two paths differ only
 * in how bytes move (plain_* and tls_* below); the request, the response buffer, the framing
 * and the verdict (judge), the kept-connection bookkeeping and the error texts are shared. */
#include "config.h"
#include "health_probe.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net.h"
#include "xalloc.h"

/* A status line longer than this is not HTTP. */
#define STATUS_LINE_MAX 1024
/* Response headers past this size: give up rather than buffer a misbehaving server. */
#define HEADERS_MAX HEALTH_HTTP_HEAD_MAX
/* A chunk-size line (size and extensions) longer than this is not a health page's. */
#define CHUNK_LINE_MAX 1024
/* Chunk sizes past this are framing errors, not bodies (and cannot overflow the count). */
#define CHUNK_SIZE_MAX (UINT64_C(1) << 40)
/* The longest body read to its end so that the connection can carry the next request; a
 * longer one (a status page of megabytes) is cheaper to close than to drain every run. */
#define DRAIN_MAX 65536
/* The run's response buffer starts this big: a health page's head and body fit, so that the
 * response is one recv(). It doubles while a longer head (up to HEADERS_MAX) or the start of
 * the body (up to HEALTH_BODY_WINDOW past the head, without reuse_connection) comes in. Also
 * the stack buffer the rest of a body is read into while the connection idles. */
#define IN_FIRST 4096
/* Each recv() gets at least this much room, so that a response does not trickle in a few
 * bytes per call as the buffer fills. */
#define READ_MIN 1024

/* One request and its response. */
struct exchange {
    size_t unsent; /* plain http: the bytes at the end of the request not written yet */
    char *in;      /* what was read of the response and not yet consumed */
    size_t inlen, incap;
    bool got_byte; /* a byte of the response arrived */
    bool reused;   /* the request went on a kept connection */
    /* without reuse_connection: the status (0 until its line is read), then where the body
     * starts in `in` (0 until the head ends) */
    int status;
    size_t body_off;
    /* reuse_connection: the response framed; its head is consumed from `in` once parsed
     * (in_body), then its body as the decoder reads it. This part outlives the run: the rest
     * of a body may arrive once the verdict is in and the connection idles. */
    health_http_resp_t resp;
    bool in_body;
    uint64_t drained; /* body bytes read */
    char *win;        /* body checks: the first HEALTH_BODY_WINDOW bytes of the body */
    size_t winlen;
};

/* One connection and the run that uses it. A kept connection is the same object, parked in
 * p->keep between runs; its callbacks tell the two apart by p->keep being set (a probe has
 * one connection at a time, in p->run or in p->keep). */
struct http_conn {
    char *req; /* the request: the same for every run on the connection */
    size_t reqlen;
    /* plain http */
    int fd;            /* -1 for https (the bufferevent owns the socket) */
    struct event *rev; /* EV_READ|EV_PERSIST, registered for the connection's life */
    struct event *wev; /* EV_WRITE once: the connection is made, or the socket takes more */
    bool connecting;
    /* https */
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev once it exists */
    struct exchange x;
};

/* ---- response framing (pure; tests/unit/test_health_http.c) ---- */

enum chunk_state {
    CS_SIZE_FIRST, /* the first hex digit of a chunk size */
    CS_SIZE,       /* more hex digits, or what ends the size */
    CS_EXT,        /* chunk extensions or whitespace, up to the LF */
    CS_DATA,       /* resp->left bytes of chunk data */
    CS_DATA_CR,    /* the CRLF after the data */
    CS_DATA_LF,
    CS_TRAILER,      /* the start of a trailer line (or of the final empty line) */
    CS_TRAILER_LINE, /* inside a trailer field line */
    CS_END_LF,       /* the LF of the final empty line */
};

static bool is_hex(char c, unsigned *v)
{
    if (c >= '0' && c <= '9')
        *v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        *v = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
        *v = (unsigned)(c - 'A' + 10);
    else
        return false;
    return true;
}

/* Case-insensitive comparison of s[0..n) with a lowercase word. */
static bool word_is(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != word[i])
            return false;
    }
    return true;
}

/* The next comma-separated element of a field value, OWS-trimmed (RFC 9110 §5.6.1); false at
 * the end. *pos walks v[0..n). */
static bool next_elem(const char *v, size_t n, size_t *pos, const char **e, size_t *elen)
{
    while (*pos < n) {
        size_t start = *pos;
        while (*pos < n && v[*pos] != ',')
            (*pos)++;
        size_t end = *pos;
        if (*pos < n)
            (*pos)++; /* the comma */
        while (start < end && (v[start] == ' ' || v[start] == '\t'))
            start++;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end > start) {
            *e = v + start;
            *elen = end - start;
            return true;
        }
    }
    return false;
}

/* Content-Length (RFC 9110 §8.6): 1*DIGIT; a list of identical values is that value. False
 * when malformed or when it disagrees with *len (already set when *have). */
static bool parse_length(const char *v, size_t n, bool *have, uint64_t *len)
{
    size_t pos = 0, elen;
    const char *e;
    bool any = false;
    while (next_elem(v, n, &pos, &e, &elen)) {
        uint64_t x = 0;
        /* 18 digits cannot overflow and are more than any body */
        if (elen > 18)
            return false;
        for (size_t i = 0; i < elen; i++) {
            if (e[i] < '0' || e[i] > '9')
                return false;
            x = x * 10 + (uint64_t)(e[i] - '0');
        }
        if (*have && x != *len)
            return false;
        *have = true;
        *len = x;
        any = true;
    }
    return any;
}

ssize_t health_http_head_parse(health_http_resp_t *r, const char *buf, size_t len,
                               const char *method, const char **why)
{
    memset(r, 0, sizeof(*r));
    size_t scan = len < HEALTH_HTTP_HEAD_MAX ? len : HEALTH_HTTP_HEAD_MAX;
    const char *lf = memchr(buf, '\n', scan < STATUS_LINE_MAX ? scan : STATUS_LINE_MAX);
    if (!lf) {
        if (scan >= STATUS_LINE_MAX) {
            *why = "bad status line";
            return -1;
        }
        return 0;
    }
    /* "HTTP/1.x SSS[ reason]" (RFC 9112 §4), as the HTTP/1.0 path accepts it */
    size_t llen = (size_t)(lf - buf);
    if (llen && buf[llen - 1] == '\r')
        llen--;
    if (llen < 12 || memcmp(buf, "HTTP/1.", 7) || buf[7] < '0' || buf[7] > '9' || buf[8] != ' ' ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9' || (llen > 12 && buf[12] != ' ')) {
        *why = "bad status line";
        return -1;
    }
    r->minor = (unsigned)(buf[7] - '0');
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

    bool have_len = false, te = false, chunked = false, close = false, ka = false, odd = false;
    uint64_t clen = 0;
    size_t pos = (size_t)(lf - buf) + 1;
    for (;;) {
        const char *end = memchr(buf + pos, '\n', scan - pos);
        if (!end) {
            if (scan >= HEALTH_HTTP_HEAD_MAX) {
                *why = "response headers too long";
                return -1;
            }
            return 0;
        }
        const char *line = buf + pos;
        size_t n = (size_t)(end - line);
        pos = (size_t)(end - buf) + 1;
        if (n && line[n - 1] == '\r')
            n--;
        if (!n)
            break; /* the empty line: the head is complete */
        if (line[0] == ' ' || line[0] == '\t') {
            /* obs-fold (RFC 9112 §5.2): a continuation of the previous field. Framing that
             * relies on one is not worth trusting for another request. */
            odd = true;
            continue;
        }
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line) {
            *why = "bad response header";
            return -1;
        }
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = n - nlen - 1;
        if (word_is(line, nlen, "content-length")) {
            if (!parse_length(v, vlen, &have_len, &clen)) {
                *why = "bad Content-Length";
                return -1;
            }
        } else if (word_is(line, nlen, "transfer-encoding")) {
            /* chunked only counts as the last coding (RFC 9112 §6.3 item 4) */
            size_t p2 = 0, elen;
            const char *e;
            while (next_elem(v, vlen, &p2, &e, &elen)) {
                te = true;
                chunked = word_is(e, elen, "chunked");
            }
        } else if (word_is(line, nlen, "connection")) {
            size_t p2 = 0, elen;
            const char *e;
            while (next_elem(v, vlen, &p2, &e, &elen)) {
                if (word_is(e, elen, "close"))
                    close = true;
                else if (word_is(e, elen, "keep-alive"))
                    ka = true;
            }
        } else if (memchr(line, ' ', nlen) || memchr(line, '\t', nlen)) {
            odd = true; /* whitespace before the colon (RFC 9112 §5.1) */
        }
    }

    bool is_head = method && !strcmp(method, "HEAD");
    bool tunnel = method && !strcmp(method, "CONNECT") && r->status / 100 == 2;
    bool keep = r->minor >= 1 ? !close : ka && !close;
    /* RFC 9112 §6.3: in this order */
    if (is_head || r->status < 200 || r->status == 204 || r->status == 304 || tunnel) {
        r->body = HEALTH_HTTP_BODY_NONE;
    } else if (te) {
        r->body = chunked ? HEALTH_HTTP_BODY_CHUNKED : HEALTH_HTTP_BODY_CLOSE;
        /* with Content-Length too, or in HTTP/1.0: faulty framing, close after it (§6.1, §6.3
         * item 3) */
        if (have_len || r->minor == 0)
            keep = false;
    } else if (have_len) {
        r->body = HEALTH_HTTP_BODY_LENGTH;
        r->length = r->left = clen;
    } else {
        r->body = HEALTH_HTTP_BODY_CLOSE;
    }
    /* An interim response (1xx) is followed by the final one; a tunnel carries no more HTTP. */
    if (r->body == HEALTH_HTTP_BODY_CLOSE || r->status < 200 || tunnel || odd)
        keep = false;
    r->keep_alive = keep;
    r->done = r->body == HEALTH_HTTP_BODY_NONE || (r->body == HEALTH_HTTP_BODY_LENGTH && !clen);
    r->cstate = CS_SIZE_FIRST;
    return (ssize_t)pos;
}

static void win_add(char *win, size_t *winlen, size_t wincap, const char *p, size_t n)
{
    if (!win || *winlen >= wincap)
        return;
    if (n > wincap - *winlen)
        n = wincap - *winlen;
    memcpy(win + *winlen, p, n);
    *winlen += n;
}

ssize_t health_http_body_feed(health_http_resp_t *r, const char *in, size_t len, char *win,
                              size_t *winlen, size_t wincap, const char **why)
{
    size_t i = 0;
    if (r->body == HEALTH_HTTP_BODY_CLOSE) {
        win_add(win, winlen, wincap, in, len);
        return (ssize_t)len;
    }
    if (r->body == HEALTH_HTTP_BODY_LENGTH) {
        size_t n = r->left < len ? (size_t)r->left : len;
        win_add(win, winlen, wincap, in, n);
        r->left -= n;
        r->done = r->left == 0;
        return (ssize_t)n;
    }
    if (r->body != HEALTH_HTTP_BODY_CHUNKED) {
        r->done = true;
        return 0;
    }
    /* RFC 9112 §7.1: chunk-size [chunk-ext] CRLF chunk-data CRLF ... 0 CRLF trailers CRLF.
     * Bare LFs are taken for CRLFs, as most clients do. */
    while (i < len && !r->done) {
        char c = in[i];
        unsigned v;
        switch ((enum chunk_state)r->cstate) {
        case CS_SIZE_FIRST:
            if (!is_hex(c, &v))
                goto bad;
            r->left = v;
            r->cline = 1;
            r->cstate = CS_SIZE;
            i++;
            break;
        case CS_SIZE:
            if (is_hex(c, &v)) {
                r->left = r->left * 16 + v;
                if (r->left > CHUNK_SIZE_MAX)
                    goto bad;
                i++;
                r->cline++;
                break;
            }
            if (c != ';' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
                goto bad;
            r->cstate = CS_EXT;
            break; /* the same byte again, in CS_EXT */
        case CS_EXT:
            i++;
            if (++r->cline > CHUNK_LINE_MAX)
                goto bad;
            if (c != '\n')
                break;
            if (r->left) {
                r->cstate = CS_DATA;
            } else {
                r->cstate = CS_TRAILER; /* the last chunk */
                r->cline = 0;
            }
            break;
        case CS_DATA: {
            size_t n = r->left < len - i ? (size_t)r->left : len - i;
            win_add(win, winlen, wincap, in + i, n);
            i += n;
            r->left -= n;
            if (!r->left)
                r->cstate = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
            if (c == '\r')
                r->cstate = CS_DATA_LF;
            else if (c == '\n')
                r->cstate = CS_SIZE_FIRST;
            else
                goto bad;
            i++;
            break;
        case CS_DATA_LF:
            if (c != '\n')
                goto bad;
            r->cstate = CS_SIZE_FIRST;
            i++;
            break;
        case CS_TRAILER:
            if (c == '\r')
                r->cstate = CS_END_LF;
            else if (c == '\n')
                r->done = true;
            else
                r->cstate = CS_TRAILER_LINE;
            i++;
            if (++r->cline > HEALTH_HTTP_HEAD_MAX)
                goto bad;
            break;
        case CS_TRAILER_LINE:
            if (c == '\n')
                r->cstate = CS_TRAILER;
            i++;
            if (++r->cline > HEALTH_HTTP_HEAD_MAX)
                goto bad;
            break;
        case CS_END_LF:
            if (c != '\n')
                goto bad;
            r->done = true;
            i++;
            break;
        }
    }
    return (ssize_t)i;
bad:
    *why = "bad chunked body";
    return -1;
}

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

/* ---- connections ---- */

/* Frees what a run buffered. The framing state stays: a connection parked for the next run
 * may still be reading the last body. */
static void exchange_release(struct exchange *x)
{
    free(x->in);
    free(x->win);
    x->in = x->win = NULL;
    x->inlen = x->incap = x->winlen = 0;
}

/* Closes a connection and frees its state. */
static void conn_free(struct http_conn *c)
{
    if (!c)
        return;
    /* Reset rather than FIN once we know the result: thousands of checks a second must not
     * leave a TIME_WAIT behind each (HAProxy closes its checks the same way). */
    evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : c->fd;
    if (fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->fd >= 0)
        close(c->fd);
    if (c->bev)
        bufferevent_free(c->bev); /* closes the socket and frees the SSL (CLOSE_ON_FREE) */
    else if (c->ssl)
        SSL_free(c->ssl);
    exchange_release(&c->x);
    free(c->req);
    free(c);
}

static void run_free(health_probe_t *p)
{
    conn_free(p->run);
    p->run = NULL;
}

/* Closes the kept connection, if any. */
static void keep_drop(health_probe_t *p)
{
    if (!p->keep)
        return;
    conn_free(p->keep);
    p->keep = NULL;
    health_probe_keep_release(p);
}

/* Room for at least need more bytes in x->in. */
static void grow(struct exchange *x, size_t need)
{
    if (x->incap - x->inlen >= need)
        return;
    size_t cap = x->incap ? x->incap : IN_FIRST;
    while (cap - x->inlen < need)
        cap *= 2;
    x->in = xrealloc(x->in, cap);
    x->incap = cap;
}

/* Drops the first n bytes of x->in. */
static void consume(struct exchange *x, size_t n)
{
    memmove(x->in, x->in + n, x->inlen - n);
    x->inlen -= n;
}

/* ---- the verdict, for http and https alike ---- */

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

/* Feeds what has been read of the body to the decoder (and to the window of a body check).
 * False with *why when the chunked framing is malformed. */
static bool feed(struct exchange *x, const char **why)
{
    if (!x->inlen)
        return true;
    ssize_t used = health_http_body_feed(&x->resp, x->in, x->inlen, x->win, &x->winlen,
                                         x->win ? HEALTH_BODY_WINDOW : 0, why);
    if (used < 0)
        return false;
    consume(x, (size_t)used);
    x->drained += (uint64_t)used;
    return true;
}

/* Can the connection carry another request, now or once the rest of the body is read? */
static bool keepable(const struct exchange *x)
{
    if (!x->in_body || !x->resp.keep_alive)
        return false;
    /* A server that answered before it read the whole request would take the rest of it
     * for the next one. */
    if (x->unsent)
        return false;
    if (x->resp.done) /* bytes past the response: HTTP/1.1 has no unsolicited responses */
        return x->inlen == 0;
    if (x->resp.body == HEALTH_HTTP_BODY_LENGTH)
        return x->resp.length <= DRAIN_MAX;
    return x->drained <= DRAIN_MAX;
}

/* Bytes that arrived on an idle connection: the rest of the last response's body, or stray
 * ones. True when the connection can still be kept. */
static bool idle_feed(struct exchange *x, const char *buf, size_t n)
{
    const char *why;
    size_t winlen = 0; /* no window: the verdict is in, the body is only skipped */
    ssize_t used = health_http_body_feed(&x->resp, buf, n, NULL, &winlen, 0, &why);
    if (used < 0 || (size_t)used < n)
        return false;
    x->drained += n;
    return keepable(x);
}

/* Ends a successful run; the connection is kept for the next one when it can carry it. */
static void succeed(health_probe_t *p)
{
    struct http_conn *c = p->run;
    const char *why;
    p->run = NULL;
    if (p->spec.reuse_connection && feed(&c->x, &why) && keepable(&c->x) &&
        health_probe_keep_acquire(p)) {
        exchange_release(&c->x);
        p->keep = c;
    } else {
        conn_free(c);
    }
    health_probe_done(p, true, NULL);
}

static void PRINTF(2, 3) fail(health_probe_t *p, const char *fmt, ...)
{
    char msg[HEALTH_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    run_free(p);
    health_probe_done(p, false, "%s", msg);
}

static void fail_errno(health_probe_t *p, int e)
{
    char buf[96];
    fail(p, "%s", health_strerror(e, buf, sizeof(buf)));
}

/* Without reuse_connection: the verdict once the status line is in (or, for a body check,
 * once the substring is found, the window is full or the server closed). */
static void evaluate(health_probe_t *p, bool eof)
{
    struct exchange *x = &((struct http_conn *)p->run)->x;
    const health_spec_t *s = &p->spec;
    const char *in = x->in ? x->in : "";
    size_t len = x->inlen;

    if (!x->status) {
        const char *lf = memchr(in, '\n', len);
        if (!lf) {
            if (len > STATUS_LINE_MAX)
                fail(p, "bad status line");
            else if (eof)
                fail(p, "%s", len ? "bad status line" : "connection closed before the status line");
            return;
        }
        size_t n = (size_t)(lf - in);
        if (n && in[n - 1] == '\r')
            n--;
        char line[64];
        if (n > sizeof(line) - 1)
            n = sizeof(line) - 1;
        memcpy(line, in, n);
        line[n] = '\0';
        int minor, status, used = 0;
        if (sscanf(line, "HTTP/1.%d %3d%n", &minor, &status, &used) != 2 || used != 12 ||
            status < 100 || status > 599 || (line[12] != ' ' && line[12] != '\0')) {
            fail(p, "bad status line");
            return;
        }
        x->status = status;
        if (!status_expected(s, status)) {
            fail(p, "status %d", status);
            return;
        }
        if (!s->body) {
            succeed(p);
            return;
        }
    }

    if (!x->body_off) {
        const char *end = memmem(in, len, "\r\n\r\n", 4);
        if (!end) {
            if (len > HEADERS_MAX || eof)
                fail(p, "%s", eof ? "body mismatch (no body)" : "response headers too long");
            return;
        }
        x->body_off = (size_t)(end - in) + 4;
    }
    size_t blen = strlen(s->body);
    size_t window_end = x->body_off + HEALTH_BODY_WINDOW;
    size_t avail_end = len < window_end ? len : window_end;
    if (avail_end >= x->body_off + blen &&
        memmem(in + x->body_off, avail_end - x->body_off, s->body, blen)) {
        succeed(p);
        return;
    }
    if (eof || len >= window_end)
        fail(p, "body mismatch (status %d)", x->status);
}

/* With reuse_connection: frames the response; the verdict once the head is complete (a status
 * outside the expected codes as soon as the status line is), or once the body substring is
 * found, the window is full or the body has ended. */
static void evaluate_keep(health_probe_t *p, bool eof)
{
    struct exchange *x = &((struct http_conn *)p->run)->x;
    const health_spec_t *s = &p->spec;
    const char *why = "";

    if (!x->in_body) {
        size_t n = x->inlen < HEADERS_MAX ? x->inlen : HEADERS_MAX;
        ssize_t hl = health_http_head_parse(&x->resp, x->in ? x->in : "", n, s->method, &why);
        if (hl < 0) {
            fail(p, "%s", why);
            return;
        }
        if (x->resp.status && !status_expected(s, x->resp.status)) {
            fail(p, "status %d", x->resp.status);
            return;
        }
        if (!hl) {
            if (eof)
                fail(p, "%s",
                     x->resp.status ? "connection closed in the response headers"
                     : x->inlen     ? "bad status line"
                                    : "connection closed before the status line");
            return;
        }
        consume(x, (size_t)hl);
        x->in_body = true;
        if (!s->body) {
            succeed(p);
            return;
        }
        if (x->resp.body == HEALTH_HTTP_BODY_NONE) {
            fail(p, "body mismatch (status %d)", x->resp.status);
            return;
        }
        x->win = xmalloc(HEALTH_BODY_WINDOW);
    }
    size_t before = x->winlen;
    if (!feed(x, &why)) {
        fail(p, "%s", why);
        return;
    }
    /* Search only what is new, plus the tail of the old that a match could start in. */
    size_t blen = strlen(s->body);
    size_t from = before >= blen ? before - blen + 1 : 0;
    if (x->winlen >= from + blen && memmem(x->win + from, x->winlen - from, s->body, blen)) {
        succeed(p);
        return;
    }
    if (eof || x->resp.done || x->winlen >= HEALTH_BODY_WINDOW)
        fail(p, "body mismatch (status %d)", x->resp.status);
}

/* Judges what has been read of the response; eof: the server closed the connection. */
static void judge(health_probe_t *p, bool eof)
{
    if (p->spec.reuse_connection)
        evaluate_keep(p, eof);
    else
        evaluate(p, eof);
}

static void connect_fresh(health_probe_t *p);

/* The run's connection ended: the server closed it (err 0, no tls_error), or it broke with
 * errno err or a TLS error text. */
static void lost(health_probe_t *p, int err, const char *tls_error)
{
    struct http_conn *c = p->run;
    if (c->x.reused && !c->x.got_byte) {
        /* The kept connection died before a byte of the response: the server closed it as
         * it idled (its keep-alive timeout crossed our request), which says nothing about
         * the target. Once per run, on a new connection, within the same deadline. */
        run_free(p);
        connect_fresh(p); /* not a reused one: no second retry */
        return;
    }
    if (tls_error)
        fail(p, "%s", tls_error);
    else if (err)
        fail_errno(p, err);
    else
        judge(p, true);
}

/* ---- the request ---- */

static char *PRINTF(2, 3) format_new(size_t *len, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    *len = (size_t)n;
    return s;
}

/* The request, owned by the caller. With reuse_connection HTTP/1.1 and keep-alive, else
 * HTTP/1.0 and "Connection: close" (so that the server ends the response by closing). */
static char *request_new(const health_probe_t *p, size_t *len)
{
    const health_spec_t *s = &p->spec;
    const char *host = s->host ? s->host : s->target;
    uint16_t port =
        ntohs(s->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&s->addr)->sin6_port
                                            : ((const struct sockaddr_in *)&s->addr)->sin_port);
    /* RFC 9110 §7.2: the port only when it is not the scheme's default */
    char port_s[8] = "";
    if (port != (s->kind == HEALTH_HTTPS ? 443 : 80))
        snprintf(port_s, sizeof(port_s), ":%u", port);
    bool v6 = strchr(host, ':') != NULL;
    return format_new(len,
                      "%s %s HTTP/1.%c\r\nHost: %s%s%s%s\r\n"
                      "User-Agent: hadnsd/%s health check\r\nAccept: */*\r\n"
                      "Connection: %s\r\n\r\n",
                      s->method ? s->method : "GET", s->path ? s->path : "/",
                      s->reuse_connection ? '1' : '0', v6 ? "[" : "", host, v6 ? "]" : "", port_s,
                      PACKAGE_VERSION, s->reuse_connection ? "keep-alive" : "close");
}

static struct http_conn *conn_new(const health_probe_t *p)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->req = request_new(p, &c->reqlen);
    c->fd = -1;
    return c;
}

static void plain_send(health_probe_t *p);

/* Sends the run's request: queued on an https connection, written at once on a plain one
 * unless it is still being made. */
static void send_request(health_probe_t *p)
{
    struct http_conn *c = p->run;
    if (c->bev) {
        bufferevent_write(c->bev, c->req, c->reqlen);
        return;
    }
    c->x.unsent = c->reqlen;
    if (!c->connecting)
        plain_send(p);
}

/* ---- plain http: the socket, one persistent read event, a write event when needed ---- */

/* Writes what is left of the request; the rest waits for the socket to take more. */
static void plain_send(health_probe_t *p)
{
    struct http_conn *c = p->run;
    struct exchange *x = &c->x;
    ssize_t n = send(c->fd, c->req + c->reqlen - x->unsent, x->unsent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            lost(p, errno, NULL);
            return;
        }
        n = 0;
    }
    x->unsent -= (size_t)n;
    if (x->unsent && event_add(c->wev, NULL) < 0)
        fail(p, "cannot watch the socket");
}

static void plain_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    health_probe_t *p = arg;
    struct http_conn *c = p->run;
    assert(c && c->fd == fd);
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            lost(p, err, NULL);
            return;
        }
        c->connecting = false;
    }
    plain_send(p);
}

static void plain_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    health_probe_t *p = arg;
    if (p->keep) {
        struct http_conn *c = p->keep;
        assert(c->fd == fd);
        char buf[IN_FIRST];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        /* The server closed the idle connection (its keep-alive timeout), it broke, or bytes
         * came that are no part of the last response: the next run connects afresh, which is
         * no failure. */
        if (n <= 0 || !idle_feed(&c->x, buf, (size_t)n))
            keep_drop(p);
        return;
    }
    struct http_conn *c = p->run;
    assert(c && c->fd == fd);
    struct exchange *x = &c->x;
    grow(x, READ_MIN);
    ssize_t n = recv(fd, x->in + x->inlen, x->incap - x->inlen, 0);
    if (n > 0) {
        x->inlen += (size_t)n;
        x->got_byte = true;
        judge(p, false);
    } else if (n == 0) {
        lost(p, 0, NULL);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        lost(p, errno, NULL); /* also a failed connect: "connection refused" */
    }
}

static void plain_connect(health_probe_t *p, struct http_conn *c)
{
    const health_spec_t *s = &p->spec;
    c->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail_errno(p, errno);
        return;
    }
    c->rev = event_new(p->base, c->fd, EV_READ | EV_PERSIST, plain_readable, p);
    c->wev = event_new(p->base, c->fd, EV_WRITE, plain_writable, p);
    if (!c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
        fail(p, "cannot watch the socket");
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&s->addr, s->addrlen) < 0) {
        if (errno != EINPROGRESS) {
            fail_errno(p, errno);
            return;
        }
        c->connecting = true;
        if (event_add(c->wev, NULL) < 0) {
            fail(p, "cannot watch the socket");
            return;
        }
    }
    send_request(p);
}

/* ---- https: OpenSSL's bufferevent ---- */

/* Moves what the bufferevent decrypted into the run's buffer. */
static void tls_take(struct http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);
    if (!n)
        return;
    grow(&c->x, n);
    c->x.inlen += (size_t)evbuffer_remove(in, c->x.in + c->x.inlen, n);
    c->x.got_byte = true;
}

static void tls_readable(struct bufferevent *bev, void *arg)
{
    health_probe_t *p = arg;
    if (p->keep) {
        struct http_conn *c = p->keep;
        char buf[IN_FIRST];
        size_t n;
        while ((n = bufferevent_read(bev, buf, sizeof(buf))) > 0) {
            if (!idle_feed(&c->x, buf, n)) {
                keep_drop(p); /* as in plain_readable */
                return;
            }
        }
        return;
    }
    tls_take(p->run);
    judge(p, false);
}

static void tls_event(struct bufferevent *bev, short what, void *arg)
{
    health_probe_t *p = arg;
    if (p->keep) {
        keep_drop(p); /* closed or broken while idle: no failure */
        return;
    }
    struct http_conn *c = p->run;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    int sockerr = EVUTIL_SOCKET_ERROR();
    tls_take(c);
    if (what & BEV_EVENT_EOF) {
        lost(p, 0, NULL);
        return;
    }
    char msg[HEALTH_ERR_MAX] = "";
    unsigned long e, first = 0;
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        /* libevent also queues SSL_get_error() codes (library 0): an I/O error, whose errno
         * tells more. */
        if (!first && ERR_GET_LIB(e) != 0)
            first = e;
    }
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK && p->spec.tls_verify) {
        snprintf(msg, sizeof(msg), "TLS error: certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    } else if (first) {
        char reason[96];
        snprintf(msg, sizeof(msg), "TLS error: %s", tls_reason(first, reason, sizeof(reason)));
    }
    if (msg[0])
        lost(p, 0, msg);
    else if (sockerr)
        lost(p, sockerr, NULL);
    else if (c->x.status || c->x.resp.status)
        lost(p, 0, NULL); /* it broke after the status line: judge what arrived */
    else
        lost(p, 0, "TLS error: handshake failed");
}

static void tls_connect(health_probe_t *p, struct http_conn *c)
{
    const health_spec_t *s = &p->spec;
    const char *host = s->host ? s->host : s->target;
    char err[HEALTH_ERR_MAX];
    SSL_CTX *ctx = tls_ctx(p, err, sizeof(err));
    if (!ctx) {
        fail(p, "%s", err);
        return;
    }
    c->ssl = SSL_new(ctx);
    if (!c->ssl) {
        fail(p, "TLS error: cannot create a session");
        return;
    }
    bool ip = net_addr_is_literal(host);
    if (!ip)
        SSL_set_tlsext_host_name(c->ssl, host); /* SNI takes names only (RFC 6066 §3) */
    if (s->tls_verify) {
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
        else
            SSL_set1_host(c->ssl, host);
    } else {
        SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
    }
    c->bev = bufferevent_openssl_socket_new(p->base, -1, c->ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        fail(p, "cannot create a bufferevent");
        return;
    }
    bufferevent_setcb(c->bev, tls_readable, NULL, tls_event, p);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    send_request(p);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&s->addr, (int)s->addrlen) <
            0 &&
        p->running && p->run == c) {
        /* (libevent may already have reported the failure through tls_event, which ended the
         * run; then p->run is gone.) */
        fail_errno(p, errno);
    }
}

/* ---- the kind ---- */

static void connect_fresh(health_probe_t *p)
{
    struct http_conn *c = conn_new(p);
    p->run = c;
    if (p->spec.kind == HEALTH_HTTPS)
        tls_connect(p, c);
    else
        plain_connect(p, c);
}

static void http_start(health_probe_t *p)
{
    struct http_conn *c = p->keep;
    if (c) {
        p->keep = NULL;
        health_probe_keep_release(p);
        /* A kept connection still reading the last response's body is not worth waiting
         * for: a new one costs less than a late verdict. */
        if (c->x.resp.done && !(c->bev && evbuffer_get_length(bufferevent_get_input(c->bev)))) {
            assert(!c->x.in && !c->x.win); /* released as it was parked */
            c->x = (struct exchange){.reused = true};
            p->run = c;
            send_request(p);
            return;
        }
        conn_free(c);
    }
    connect_fresh(p);
}

static void http_cancel(health_probe_t *p)
{
    run_free(p);
}

const health_kind_ops_t health_http_ops = {
    .start = http_start, .cancel = http_cancel, .drop = keep_drop};
