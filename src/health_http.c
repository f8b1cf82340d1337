/* SPDX-License-Identifier: MIT */
/* health_http.c: the "http" and "https" probes: a bufferevent (OpenSSL's for https), the status
 * line checked against the expected codes, and optionally a substring searched in the first
 * HEALTH_BODY_WINDOW bytes of the body. The engine owns the timeout.
 *
 * With reuse_connection (the default) the request is HTTP/1.1 with "Connection: keep-alive",
 * the response is framed (Content-Length, chunked, or no body) by the pure parser below, and a
 * connection that ended a successful run at a response boundary is kept, idle, for the next
 * run: one per check, in p->keep, watched for the server closing it. A kept connection that
 * turns out dead when the next run uses it (closed before any byte of the response) is
 * replaced once within that run. Without it, each run opens a connection, sends HTTP/1.0 with
 * "Connection: close" and reads until the verdict, as before. */
#include "config.h"
#include "health_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
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
#define HEADERS_MAX HEALTH_HTTP_HEAD_MAX
/* A chunk-size line (size and extensions) longer than this is not a health page's. */
#define CHUNK_LINE_MAX 1024
/* Chunk sizes past this are framing errors, not bodies (and cannot overflow the count). */
#define CHUNK_SIZE_MAX (UINT64_C(1) << 40)
/* The longest body read to its end so that the connection can carry the next request; a
 * longer one (a status page of megabytes) is cheaper to close than to drain every run. */
#define DRAIN_MAX 65536

/* One connection and the run that uses it. A kept connection is the same object, parked in
 * p->keep between runs. */
struct http_run {
    struct bufferevent *bev;
    SSL *ssl;        /* owned by bev once it exists */
    int status;      /* 0 until the status line is read */
    size_t body_off; /* where the body starts; 0 until the headers end */
    /* reuse_connection only */
    health_http_resp_t resp; /* the response being read */
    bool in_body;            /* the head was parsed: resp's body decoder runs */
    bool got_byte;           /* a byte of this response arrived */
    bool reused;             /* this run's request went on a kept connection */
    uint64_t drained;        /* body bytes read */
    char *win;               /* body checks: the first HEALTH_BODY_WINDOW bytes of the body */
    size_t winlen;
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

/* ---- one run ---- */

/* Closes a connection and frees its state. */
static void conn_free(struct http_run *r)
{
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
    free(r->win);
    free(r);
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

/* ---- reuse_connection: framed responses and kept connections ---- */

/* Feeds what has arrived of the body to the decoder (and to the window of a body check).
 * False with *why when the chunked framing is malformed. */
static bool feed(struct http_run *r, const char **why)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    while (!r->resp.done && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t used = health_http_body_feed(&r->resp, v.iov_base, v.iov_len, r->win, &r->winlen,
                                             r->win ? HEALTH_BODY_WINDOW : 0, why);
        if (used < 0)
            return false;
        evbuffer_drain(in, (size_t)used);
        r->drained += (uint64_t)used;
    }
    return true;
}

/* Can the connection carry another request, now or once the rest of the body is read? */
static bool keepable(const struct http_run *r)
{
    if (!r->in_body || !r->resp.keep_alive)
        return false;
    if (r->resp.done) /* bytes past the response: HTTP/1.1 has no unsolicited responses */
        return evbuffer_get_length(bufferevent_get_input(r->bev)) == 0;
    if (r->resp.body == HEALTH_HTTP_BODY_LENGTH)
        return r->resp.length <= DRAIN_MAX;
    return r->drained <= DRAIN_MAX;
}

static void idle_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    health_probe_t *p = arg;
    const char *why;
    /* The rest of the last response's body may still come; anything else closes. */
    if (!feed(p->keep, &why) || !keepable(p->keep))
        keep_drop(p);
}

static void idle_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    /* The server closed the idle connection (its keep-alive timeout) or it broke: the next
     * run connects afresh, which is no failure. */
    keep_drop(arg);
}

/* Ends a successful run; the connection is kept for the next one when it can carry it. */
static void succeed(health_probe_t *p)
{
    struct http_run *r = p->run;
    const char *why;
    p->run = NULL;
    free(r->win);
    r->win = NULL;
    r->winlen = 0;
    if (p->spec.reuse_connection && feed(r, &why) && keepable(r) && health_probe_keep_acquire(p)) {
        p->keep = r;
        bufferevent_setcb(r->bev, idle_read, NULL, idle_event, p);
    } else {
        conn_free(r);
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

/* Looks at what has arrived, framing the response: the verdict once the head is complete
 * (a status outside the expected codes as soon as the status line is), or once the body
 * substring is found, the window is full or the body has ended. */
static void evaluate_keep(health_probe_t *p, bool eof)
{
    struct http_run *r = p->run;
    const health_spec_t *s = &p->spec;
    struct evbuffer *in = bufferevent_get_input(r->bev);
    size_t len = evbuffer_get_length(in);
    const char *why = "";

    if (len)
        r->got_byte = true;
    if (!r->in_body) {
        size_t n = len < HEADERS_MAX ? len : HEADERS_MAX;
        const char *buf = n ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : "";
        ssize_t hl = health_http_head_parse(&r->resp, buf, n, s->method, &why);
        if (hl < 0) {
            fail(p, "%s", why);
            return;
        }
        if (r->resp.status && !status_expected(s, r->resp.status)) {
            fail(p, "status %d", r->resp.status);
            return;
        }
        if (!hl) {
            if (eof)
                fail(p, "%s",
                     r->resp.status ? "connection closed in the response headers"
                     : len          ? "bad status line"
                                    : "connection closed before the status line");
            return;
        }
        evbuffer_drain(in, (size_t)hl);
        r->in_body = true;
        if (!s->body) {
            succeed(p);
            return;
        }
        if (r->resp.body == HEALTH_HTTP_BODY_NONE) {
            fail(p, "body mismatch (status %d)", r->resp.status);
            return;
        }
        r->win = xmalloc(HEALTH_BODY_WINDOW);
    }
    size_t before = r->winlen;
    if (!feed(r, &why)) {
        fail(p, "%s", why);
        return;
    }
    /* Search only what is new, plus the tail of the old that a match could start in. */
    size_t blen = strlen(s->body);
    size_t from = before >= blen ? before - blen + 1 : 0;
    if (r->winlen >= from + blen && memmem(r->win + from, r->winlen - from, s->body, blen)) {
        succeed(p);
        return;
    }
    if (eof || r->resp.done || r->winlen >= HEALTH_BODY_WINDOW)
        fail(p, "body mismatch (status %d)", r->resp.status);
}

static void connect_fresh(health_probe_t *p);

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    health_probe_t *p = arg;
    if (p->spec.reuse_connection)
        evaluate_keep(p, false);
    else
        evaluate(p, false);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    health_probe_t *p = arg;
    struct http_run *r = p->run;
    bool keep = p->spec.reuse_connection;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (keep && r->reused && !r->got_byte && !evbuffer_get_length(bufferevent_get_input(bev))) {
        /* The kept connection died before a byte of the response: the server closed it as
         * it idled (its keep-alive timeout crossed our request), which says nothing about
         * the target. Once per run, on a new connection, within the same deadline. */
        run_free(p);
        connect_fresh(p); /* not a reused one: no second retry */
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (keep)
            evaluate_keep(p, true);
        else
            evaluate(p, true);
        return;
    }
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
        } else if (keep ? r->resp.status != 0 : r->status != 0) {
            /* The connection broke after the status line: judge what arrived. */
            if (keep)
                evaluate_keep(p, true);
            else
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

/* Queues the request on r's output. With reuse_connection HTTP/1.1 and keep-alive, else
 * HTTP/1.0 and "Connection: close" (so that the server ends the response by closing). */
static void send_request(health_probe_t *p, struct http_run *r)
{
    const health_spec_t *s = &p->spec;
    const char *host = s->host ? s->host : s->target;
    uint16_t port =
        ntohs(s->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&s->addr)->sin6_port
                                            : ((const struct sockaddr_in *)&s->addr)->sin_port);
    bool default_port = port == (s->kind == HEALTH_HTTPS ? 443 : 80);
    bool v6 = strchr(host, ':') != NULL;
    struct evbuffer *out = bufferevent_get_output(r->bev);
    evbuffer_add_printf(out, "%s %s HTTP/1.%c\r\nHost: %s%s%s", s->method ? s->method : "GET",
                        s->path ? s->path : "/", s->reuse_connection ? '1' : '0', v6 ? "[" : "",
                        host, v6 ? "]" : "");
    if (!default_port)
        evbuffer_add_printf(out, ":%u", port);
    evbuffer_add_printf(out,
                        "\r\nUser-Agent: hadnsd/%s health check\r\nAccept: */*\r\n"
                        "Connection: %s\r\n\r\n",
                        PACKAGE_VERSION, s->reuse_connection ? "keep-alive" : "close");
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void connect_fresh(health_probe_t *p)
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

    send_request(p, r);
    if (bufferevent_socket_connect(r->bev, (const struct sockaddr *)&s->addr, (int)s->addrlen) <
            0 &&
        p->running && p->run == r) {
        /* (libevent may already have reported the failure through on_event, which ended the
         * run; then p->run is gone.) */
        char buf[96];
        health_strerror(errno, buf, sizeof(buf));
        run_free(p);
        health_probe_done(p, false, "%s", buf);
    }
}

static void http_start(health_probe_t *p)
{
    struct http_run *r = p->keep;
    if (r) {
        p->keep = NULL;
        health_probe_keep_release(p);
        /* A kept connection still reading the last response's body is not worth waiting
         * for: a new one costs less than a late verdict. */
        if (p->spec.reuse_connection && r->resp.done &&
            !evbuffer_get_length(bufferevent_get_input(r->bev))) {
            r->status = 0;
            r->body_off = 0;
            memset(&r->resp, 0, sizeof(r->resp));
            r->in_body = false;
            r->got_byte = false;
            r->reused = true;
            r->drained = 0;
            p->run = r;
            bufferevent_setcb(r->bev, on_read, NULL, on_event, p);
            send_request(p, r);
            return;
        }
        conn_free(r);
    }
    connect_fresh(p);
}

static void http_cancel(health_probe_t *p)
{
    run_free(p);
}

const health_kind_ops_t health_http_ops = {
    .start = http_start, .cancel = http_cancel, .drop = keep_drop};
