/* SPDX-License-Identifier: MIT */
/* health_probe.h: inside the health module only. The probe engine (health_engine.c: the health
 * thread, its event base, one timer and one deadline per check) and the probe kinds
 * (health_http.c, health_tcp.c, health_dns.c), as relayd splits hce.c from check_*.c. The
 * registry (health.c) talks to the engine through health_engine_*; a kind sees only its probe. */
#ifndef HADNS_HEALTH_PROBE_H
#define HADNS_HEALTH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compiler.h"
#include "err.h"
#include "health.h"

struct event;
struct event_base;
typedef struct health_engine health_engine_t;
typedef struct health_probe health_probe_t;

/* One result, handed by the engine to the registry on the health thread. */
typedef struct health_result {
    uint32_t id;
    bool ok;
    bool late;         /* no verdict: the health thread itself ran too late to judge (starved) */
    uint32_t ms;       /* how long the probe took */
    const char *error; /* why it failed ("" when ok); borrowed for the call */
} health_result_t;

/* What a probe kind implements. start() begins one run on p->base and must end it by calling
 * health_probe_done() exactly once, later (from an event callback) or before it returns;
 * cancel() aborts a run in flight (the engine's deadline passed, or the check is removed or
 * the thread stops), freeing its resources without calling health_probe_done(). A kind keeps
 * its per-run state in p->run, and what it keeps between runs (the HTTP kind's idle
 * connection) in p->keep; drop() (NULL for kinds that keep nothing) frees p->keep as the check
 * is removed or the thread stops, after cancel(). [health] */
typedef struct health_kind_ops {
    void (*start)(health_probe_t *p);
    void (*cancel)(health_probe_t *p);
    void (*drop)(health_probe_t *p);
} health_kind_ops_t;

extern const health_kind_ops_t health_http_ops; /* http and https */
extern const health_kind_ops_t health_tcp_ops;
extern const health_kind_ops_t health_dns_ops;

/* One check as the health thread sees it. */
struct health_probe {
    uint32_t id;
    health_spec_t spec; /* owned copy */
    health_engine_t *eng;
    struct event_base *base; /* the health thread's */
    struct event *timer;     /* the next run */
    struct event *deadline;  /* the running probe's timeout */
    const health_kind_ops_t *ops;
    bool running;
    int64_t started_ms; /* monotonic, for the result's duration */
    void *run;          /* the kind's state of the run in flight */
    void *keep;         /* the kind's state between runs (an idle HTTP connection), or NULL */
};

/* Ends the run of p: ok, or failed with a printf-style reason (NULL fmt when ok). Called by
 * the kinds, after they freed their run state. [health] */
void health_probe_done(health_probe_t *p, bool ok, const char *fmt, ...) PRINTF(3, 4);
/* A random 32-bit value from the health thread's generator (DNS ids). [health] */
uint32_t health_probe_random(health_probe_t *p) NONNULL;

/* Kept connections hold a file descriptor each between runs, so the engine budgets them
 * against RLIMIT_NOFILE. acquire() before keeping one: false when the budget is spent (close
 * the connection instead; the next run connects afresh); release() when a kept connection is
 * taken for a run or closed. [health] */
bool health_probe_keep_acquire(health_probe_t *p) NONNULL;
void health_probe_keep_release(health_probe_t *p) NONNULL;

/* The HTTPS kind keeps its TLS contexts (one per CA file, made on first use) in this slot of
 * the engine; the engine passes the slot to health_http_tls_free as the thread stops. [health] */
void **health_probe_tls_slot(health_probe_t *p) NONNULL;
void health_http_tls_free(void *tls);

/* ---- HTTP response framing (health_http.c): pure functions, no I/O [any] ---- */

/* A response head (status line and header fields) longer than this is not a health page's:
 * give up rather than buffer a misbehaving server. */
#define HEALTH_HTTP_HEAD_MAX 16384

/* How the body of a response ends (RFC 9112 §6.3). */
enum health_http_body {
    HEALTH_HTTP_BODY_NONE,    /* no body: HEAD, 1xx, 204, 304, a CONNECT's 2xx */
    HEALTH_HTTP_BODY_LENGTH,  /* Content-Length bytes */
    HEALTH_HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked (RFC 9112 §7.1) */
    HEALTH_HTTP_BODY_CLOSE,   /* whatever comes until the server closes */
};

/* One response as far as it has been read. Zero it before the head. */
typedef struct health_http_resp {
    int status;     /* from the status line; 0 until it is complete */
    unsigned minor; /* HTTP/1.minor */
    enum health_http_body body;
    bool keep_alive; /* the connection can carry another request once this response ends */
    uint64_t length; /* BODY_LENGTH: Content-Length */
    bool done;       /* the response ended (no body, or its last byte was fed) */
    /* the body decoder */
    uint64_t left; /* bytes left of the body (LENGTH) or of the current chunk (CHUNKED) */
    unsigned cstate;
    size_t cline; /* bytes of the current chunk-size line, or of the trailer section */
} health_http_resp_t;

/* Parses the head of a response at the start of buf[0..len): the status line and the header
 * fields up to the empty line. method is the request's (a HEAD's response has no body, a
 * CONNECT's 2xx no framing). Returns the head's length once it is complete; 0 when more bytes
 * are needed (r->status is set as soon as the status line is complete); -1 when it is
 * malformed or longer than HEALTH_HTTP_HEAD_MAX, with a reason in *why ("bad status line",
 * "bad Content-Length", ...). r is filled from scratch on every call. */
ssize_t health_http_head_parse(health_http_resp_t *r, const char *buf, size_t len,
                               const char *method, const char **why)
    __attribute__((nonnull(1, 2, 5)));

/* Feeds body bytes in[0..len) to the decoder of r (after its head): the decoded body goes to
 * win[*winlen..wincap) (win may be NULL: the body is only skipped), *winlen advances by what
 * fitted. Returns the bytes of in consumed, fewer than len only when the response ended
 * (r->done; the rest is not part of it), or -1 with a reason in *why when the chunked framing
 * is malformed. */
ssize_t health_http_body_feed(health_http_resp_t *r, const char *in, size_t len, char *win,
                              size_t *winlen, size_t wincap, const char **why);

/* ---- the engine, driven by the registry [main unless noted] ---- */

/* A stopped engine. result(arg, r) runs on the health thread with every result, as the probe
 * ends; flush(arg) runs on the main loop after health_engine_notify. */
health_engine_t *health_engine_new(struct event_base *main,
                                   void (*result)(void *arg, const health_result_t *r),
                                   void (*flush)(void *arg), void *arg) WUNUSED NONNULL;
/* Asks for flush() on the main loop, 25 ms (FLUSH_MS) after the first request not yet
 * flushed: the registry has something for the main thread (a state change). [health] */
void health_engine_notify(health_engine_t *e) NONNULL;
/* Starts the health thread (signals should be blocked by the caller), at idle scheduling
 * priority when idle is set, on the ncpus CPUs of cpus (0: any). False with err. */
bool health_engine_start(health_engine_t *e, bool idle, const unsigned *cpus, size_t ncpus,
                         hadns_err_t *err) __attribute__((nonnull(1, 5)));
/* Starts probing a check (spec copied): the first run after first_ms, then every interval.
 * Queued until the thread runs. */
void health_engine_add(health_engine_t *e, uint32_t id, const health_spec_t *spec,
                       unsigned first_ms) NONNULL;
/* Stops probing a check; a run in flight is cancelled, its result never delivered. */
void health_engine_remove(health_engine_t *e, uint32_t id) NONNULL;
/* Stops and joins the thread, frees everything; NULL is a no-op. */
void health_engine_free(health_engine_t *e);

/* strerror(e) with a lowercase first letter, as our messages are ("connection refused"). buf
 * holds at least 64 bytes. [any] */
const char *health_strerror(int e, char *buf, size_t len) NONNULL;

/* Monotonic milliseconds. [any] */
int64_t health_mono_ms(void);

#endif
