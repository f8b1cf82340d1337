/* SPDX-License-Identifier: MIT */
/* test_health_http.c: the HTTP probe's response framing (health_http_head_parse and
 * health_http_body_feed), which decides whether a connection can carry the next check's
 * request: Content-Length, chunked, no body (HEAD, 1xx, 204, 304), Connection: close,
 * HTTP/1.0 with and without keep-alive, and malformed input, fed whole and a byte at a time.
 * Pure functions: no sockets, no sleep. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "health_probe.h"

/* Parses the head of text; returns its length (or 0/-1) and leaves the reason in *why. */
static ssize_t head(health_http_resp_t *r, const char *text, const char *method, const char **why)
{
    *why = NULL;
    return health_http_head_parse(r, text, strlen(text), method, why);
}

/* A whole response: head, then the body fed in pieces of `step` bytes (0 = all at once).
 * Returns 1 when the response ended, 0 when it still wants bytes, -1 on a framing error; the
 * decoded body goes to body (NUL-terminated), the bytes after the response's end to *extra. */
static int whole(const char *text, const char *method, size_t step, health_http_resp_t *r,
                 char *body, size_t bodycap, size_t *extra)
{
    const char *why = NULL;
    size_t len = strlen(text);
    ssize_t hl = health_http_head_parse(r, text, len, method, &why);
    cr_assert_gt(hl, 0, "head of %s: %zd (%s)", text, hl, why ? why : "");
    size_t pos = (size_t)hl, blen = 0;
    while (pos < len && !r->done) {
        size_t n = step && step < len - pos ? step : len - pos;
        ssize_t used = health_http_body_feed(r, text + pos, n, body, &blen, bodycap - 1, &why);
        if (used < 0) {
            cr_assert_not_null(why);
            return -1;
        }
        cr_assert_leq((size_t)used, n);
        if ((size_t)used < n)
            cr_assert(r->done, "fewer bytes used only at the end");
        pos += (size_t)used;
    }
    body[blen] = '\0';
    *extra = len - pos;
    return r->done ? 1 : 0;
}

/* whole() with every step from 1 to 7 and all at once: the same result each time. */
static int whole_steps(const char *text, const char *method, health_http_resp_t *r, char *body,
                       size_t bodycap, size_t *extra)
{
    int first = whole(text, method, 0, r, body, bodycap, extra);
    char *b2 = malloc(bodycap);
    for (size_t step = 1; step <= 7; step++) {
        health_http_resp_t r2;
        size_t extra2;
        int rc = whole(text, method, step, &r2, b2, bodycap, &extra2);
        cr_assert_eq(rc, first, "step %zu", step);
        if (rc >= 0) {
            cr_assert_str_eq(b2, body, "step %zu", step);
            cr_assert_eq(extra2, *extra, "step %zu", step);
        }
    }
    free(b2);
    return first;
}

Test(head, content_length_keep_alive)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n"
                    "status: ok\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.minor, 1);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_LENGTH);
    cr_assert_eq(r.length, 11);
    cr_assert(r.keep_alive);
    cr_assert_str_eq(body, "status: ok\n");
    cr_assert_eq(extra, 0);
}

Test(head, needs_more)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_eq(head(&r, "", "GET", &why), 0);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(head(&r, "HTTP/1.1 20", "GET", &why), 0);
    cr_assert_eq(r.status, 0);
    /* the status line is complete: its status is known before the head is */
    cr_assert_eq(head(&r, "HTTP/1.1 503 Busy\r\nContent-Len", "GET", &why), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_eq(head(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "GET", &why), 0);
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(head(&r, t, "GET", &why), (ssize_t)strlen(t));
    cr_assert(r.done, "an empty body ends with the head");
    cr_assert(r.keep_alive);
}

Test(head, bare_lf_lines)
{
    health_http_resp_t r;
    const char *why;
    const char *t = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
    cr_assert_eq(head(&r, t, "GET", &why), (ssize_t)strlen(t) - 2);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_LENGTH);
    cr_assert(r.keep_alive);
}

Test(head, status_line_forms)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_gt(head(&r, "HTTP/1.1 204\r\n\r\n", "GET", &why), 0, "no reason phrase");
    cr_assert_eq(r.status, 204);
    cr_assert_gt(head(&r, "HTTP/1.1 200 \r\n\r\n", "GET", &why), 0, "empty reason phrase");
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.x 200 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(head(&r, bad[i], "GET", &why), -1, "%s", bad[i]);
        cr_assert_str_eq(why, "bad status line");
    }
}

Test(head, status_line_too_long)
{
    health_http_resp_t r;
    const char *why;
    char *t = malloc(2048);
    memset(t, 'x', 2047);
    t[2047] = '\0';
    cr_assert_eq(head(&r, t, "GET", &why), -1);
    cr_assert_str_eq(why, "bad status line");
    free(t);
}

Test(head, headers_too_long)
{
    health_http_resp_t r;
    const char *why;
    size_t n = HEALTH_HTTP_HEAD_MAX + 100;
    char *t = malloc(n + 1);
    strcpy(t, "HTTP/1.1 200 OK\r\n");
    for (size_t i = strlen(t); i < n; i++)
        t[i] = (i % 64) == 63 ? '\n' : 'a';
    t[n] = '\0';
    /* lines without a colon would be malformed; make them fields */
    for (size_t i = 17; i + 2 < n; i += 64)
        t[i + 1] = ':';
    cr_assert_eq(head(&r, t, "GET", &why), -1);
    cr_assert_str_eq(why, "response headers too long");
    free(t);
}

Test(head, chunked)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    /* the substring "status: ok" spans three chunks; an extension and a trailer too */
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4\r\nstat\r\n5;ext=\"x\"\r\nus: o\r\n2\r\nk\n\r\n0\r\nX-Trailer: 1\r\n\r\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CHUNKED);
    cr_assert(r.keep_alive);
    cr_assert_str_eq(body, "status: ok\n");
    cr_assert_eq(extra, 0);
}

Test(head, chunked_upper_hex_and_big_chunk)
{
    health_http_resp_t r;
    char body[600];
    size_t extra;
    char t[1024];
    int n = snprintf(t, sizeof(t), "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n1F4\r\n");
    memset(t + n, 'b', 500);
    strcpy(t + n + 500, "\r\n0\r\n\r\n");
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_eq(strlen(body), 500);
}

Test(head, chunked_window_caps_the_copy)
{
    health_http_resp_t r;
    char body[8];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "10\r\n0123456789abcdef\r\n0\r\n\r\n";
    cr_assert_eq(whole(t, "GET", 0, &r, body, sizeof(body), &extra), 1);
    cr_assert_str_eq(body, "0123456", "the window holds the first bytes only");
}

Test(head, chunked_incomplete_wants_more)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nstat\r\n0\r\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 0,
                 "the final CRLF is missing");
}

Test(head, chunked_malformed)
{
    static const char *const bad[] = {
        "zz\r\nabc\r\n0\r\n\r\n",  /* not a size */
        "\r\nabc\r\n0\r\n\r\n",    /* no size */
        "3\r\nabcX\r\n0\r\n\r\n",  /* no CRLF after the data */
        "3\r\nabc\rX0\r\n\r\n",    /* CR without LF */
        "3x\r\nabc\r\n0\r\n\r\n",  /* junk after the size */
        "0\r\n\rX",                /* the final line */
        "fffffffffffffffffff\r\n", /* overflows */
        "10000000001\r\n",         /* past any body */
        "-1\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char t[256];
        snprintf(t, sizeof(t), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s", bad[i]);
        for (size_t step = 0; step <= 3; step++) {
            health_http_resp_t r;
            char body[64];
            size_t extra;
            cr_assert_eq(whole(t, "GET", step, &r, body, sizeof(body), &extra), -1, "%s (step %zu)",
                         bad[i], step);
        }
    }
}

Test(head, chunk_line_too_long)
{
    size_t n = 4000;
    char *t = malloc(n + 100);
    int h = sprintf(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
    memset(t + h, 'e', n);
    strcpy(t + h + n, "\r\nhello\r\n0\r\n\r\n");
    health_http_resp_t r;
    char body[64];
    size_t extra;
    cr_assert_eq(whole(t, "GET", 0, &r, body, sizeof(body), &extra), -1);
    free(t);
}

Test(head, no_body)
{
    health_http_resp_t r;
    const char *why;
    /* HEAD: Content-Length describes the GET's body, none follows (RFC 9110 §9.3.2) */
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    cr_assert_eq(head(&r, t, "HEAD", &why), (ssize_t)strlen(t));
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_NONE);
    cr_assert(r.done);
    cr_assert(r.keep_alive);
    static const char *const none[] = {
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        cr_assert_eq(head(&r, none[i], "GET", &why), (ssize_t)strlen(none[i]), "%s", none[i]);
        cr_assert_eq(r.body, HEALTH_HTTP_BODY_NONE, "%s", none[i]);
        cr_assert(r.done);
    }
    /* feeding a no-body response consumes nothing */
    char body[8];
    size_t blen = 0;
    cr_assert_eq(health_http_body_feed(&r, "HTTP/1.1 200", 12, body, &blen, sizeof(body), &why), 0);
}

Test(head, interim_is_not_reused)
{
    health_http_resp_t r;
    const char *why;
    const char *t = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n";
    cr_assert_eq(head(&r, t, "GET", &why), (ssize_t)strlen(t));
    cr_assert_eq(r.status, 103);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_NONE);
    cr_assert_not(r.keep_alive, "the final response still follows");
}

Test(head, connection_close)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_gt(
        head(&r, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", "GET", &why),
        0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_LENGTH);
    cr_assert_not(r.keep_alive);
    cr_assert_gt(head(&r,
                      "HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\nContent-Length: 2\r\n\r\n",
                      "GET", &why),
                 0);
    cr_assert_not(r.keep_alive, "close among other tokens, any case");
}

Test(head, http10)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_gt(head(&r, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.minor, 0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_LENGTH);
    cr_assert_not(r.keep_alive, "HTTP/1.0 closes unless it says keep-alive");
    cr_assert_gt(head(&r, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
                      "GET", &why),
                 0);
    cr_assert(r.keep_alive);
    cr_assert_gt(head(&r, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CLOSE);
    cr_assert_not(r.keep_alive, "no framing: the body ends at the close");
    /* Transfer-Encoding in HTTP/1.0: faulty framing (RFC 9112 §6.1) */
    cr_assert_gt(
        head(&r, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
             "GET", &why),
        0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CHUNKED);
    cr_assert_not(r.keep_alive);
}

Test(head, read_until_close)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: ok\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 0, "never ends by itself");
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CLOSE);
    cr_assert_not(r.keep_alive);
    cr_assert_str_eq(body, "status: ok\n");
    /* a final coding other than chunked: the body ends at the close too (RFC 9112 §6.3) */
    const char *why;
    cr_assert_gt(
        head(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CLOSE);
    cr_assert_not(r.keep_alive);
}

Test(head, te_overrides_length)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\nok\r\n0\r\n\r\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_CHUNKED);
    cr_assert_str_eq(body, "ok");
    cr_assert_not(r.keep_alive, "both framings: close after it (RFC 9112 §6.3)");
}

Test(head, extra_bytes_after_the_response)
{
    health_http_resp_t r;
    char body[64];
    size_t extra;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    cr_assert_eq(whole_steps(t, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(extra, strlen("HTTP/1.1 200 OK\r\n"));
    const char *c = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nXY";
    cr_assert_eq(whole_steps(c, "GET", &r, body, sizeof(body), &extra), 1);
    cr_assert_eq(extra, 2);
}

Test(head, content_length_forms)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_gt(head(&r, "HTTP/1.1 200 OK\r\nContent-Length:   42  \r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.length, 42);
    cr_assert_gt(head(&r, "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.length, 7, "a list of identical values (RFC 9110 §8.6)");
    cr_assert_gt(
        head(&r, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", "GET", &why),
        0);
    cr_assert_eq(r.length, 7);
    cr_assert_gt(
        head(&r, "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n", "GET", &why), 0);
    cr_assert_eq(r.length, 999999999999999999ull);
}

Test(head, content_length_malformed)
{
    static const char *const bad[] = {
        "Content-Length: -1",
        "Content-Length: 1e3",
        "Content-Length: ",
        "Content-Length: 0x10",
        "Content-Length: 5, 6",
        "Content-Length: 12 34",
        "Content-Length: 99999999999999999999999",
        "Content-Length: +5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char t[256];
        health_http_resp_t r;
        const char *why;
        snprintf(t, sizeof(t), "HTTP/1.1 200 OK\r\n%s\r\n\r\n", bad[i]);
        cr_assert_eq(head(&r, t, "GET", &why), -1, "%s", bad[i]);
        cr_assert_str_eq(why, "bad Content-Length", "%s", bad[i]);
    }
    /* and two lines that disagree */
    health_http_resp_t r;
    const char *why;
    cr_assert_eq(
        head(&r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "GET", &why),
        -1);
}

Test(head, malformed_fields)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_eq(head(&r, "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "GET", &why), -1);
    cr_assert_str_eq(why, "bad response header");
    cr_assert_eq(head(&r, "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "GET", &why), -1);
    /* obs-fold and whitespace before the colon: accepted, but not reused */
    cr_assert_gt(
        head(&r, "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", "GET", &why),
        0);
    cr_assert_not(r.keep_alive);
    cr_assert_gt(head(&r, "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n", "GET", &why),
                 0);
    cr_assert_not(r.keep_alive);
}

Test(head, connect_tunnel)
{
    health_http_resp_t r;
    const char *why;
    cr_assert_gt(head(&r, "HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", &why), 0);
    cr_assert_eq(r.body, HEALTH_HTTP_BODY_NONE);
    cr_assert_not(r.keep_alive);
}

Test(head, garbage_never_crashes)
{
    /* Every prefix of a few responses, and bytes flipped in them: the parser answers 0, -1 or
     * a length within the input, and the decoder never consumes past its input. */
    static const char *const base[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nstat\r\n0\r\nT: 1\r\n\r\n",
        "HTTP/1.0 503 Down\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\ndown!",
    };
    static const char flips[] = {'\0', '\r', '\n', ':', ' ', '0', 'f', ';', '\xff'};
    char buf[256], body[32];
    for (size_t b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
        size_t len = strlen(base[b]);
        for (size_t at = 0; at < len; at++) {
            for (size_t f = 0; f < sizeof(flips); f++) {
                memcpy(buf, base[b], len);
                buf[at] = flips[f];
                for (size_t cut = 0; cut <= len; cut += 7) {
                    health_http_resp_t r;
                    const char *why = NULL;
                    ssize_t hl = health_http_head_parse(&r, buf, cut, "GET", &why);
                    cr_assert(hl >= -1 && hl <= (ssize_t)cut);
                    if (hl < 0)
                        cr_assert_not_null(why);
                    if (hl <= 0)
                        continue;
                    size_t blen = 0;
                    ssize_t used = health_http_body_feed(&r, buf + hl, cut - (size_t)hl, body,
                                                         &blen, sizeof(body), &why);
                    cr_assert(used >= -1 && used <= (ssize_t)(cut - (size_t)hl));
                    cr_assert_leq(blen, sizeof(body));
                }
            }
        }
    }
}
