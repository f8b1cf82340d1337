/* SPDX-License-Identifier: MIT */
/* health.h: health checks. The registry (check specs, rise/fall state machines, admin
 * overrides, counters, the change listener) is owned by the main thread; the probes run on the
 * health thread, on its own event base, which also applies their results to the registry
 * (under the registry's lock), so that a result that changes nothing costs the main thread
 * nothing. Only state changes cross to the main loop (batched, event_active()), where the
 * listener runs. A query worker never calls in here. */
#ifndef HADNS_HEALTH_H
#define HADNS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "compiler.h"
#include "err.h"

struct event_base;

/* Only the first argument must not be NULL. */
#define NONNULL1 __attribute__((nonnull(1)))

/* The state a check reports. UNKNOWN only while a check waits for its first result under the
 * "wait" start-up policy; it is never read as DOWN. */
enum health_state { HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DOWN };
/* Administrative override: AUTO follows the probes. */
enum health_force { HEALTH_AUTO, HEALTH_FORCE_UP, HEALTH_FORCE_DOWN };
enum health_kind { HEALTH_HTTP, HEALTH_HTTPS, HEALTH_TCP, HEALTH_DNS };

/* "unknown", "up", "down"; "auto", "up", "down"; "http", "https", "tcp", "dns". [any] */
const char *health_state_name(enum health_state s);
const char *health_force_name(enum health_force f);
const char *health_kind_name(enum health_kind k);
/* Parses "up"/"down"/"auto" into a force value; false if unknown. [any] */
bool health_force_parse(const char *s, enum health_force *out) NONNULL;

/* ---- the state machine: pure functions over a compact state, no clock, no I/O ---- */

/* Consecutive results are counted up to this and then saturate; rise and fall are at most this
 * (the config allows 1..100). */
#define HEALTH_STREAK_MAX 255

typedef struct health_sm {
    uint8_t state;       /* enum health_state: what the probes say */
    uint8_t force;       /* enum health_force */
    uint8_t rise, fall;  /* thresholds, >= 1 */
    uint8_t ok_streak;   /* consecutive successes (0 after a failure) */
    uint8_t fail_streak; /* consecutive failures (0 after a success) */
} health_sm_t;

/* A machine in state `initial` (UNKNOWN, UP or DOWN) with no results yet. [any] */
void health_sm_init(health_sm_t *sm, unsigned rise, unsigned fall,
                    enum health_state initial) NONNULL;
/* Feeds one probe result. UP -> DOWN after `fall` consecutive failures, DOWN -> UP after `rise`
 * consecutive successes; from UNKNOWN the first result decides at once (so a "wait" start-up
 * costs one round, not `rise` rounds). Returns true when the probed state changed. [any] */
bool health_sm_result(health_sm_t *sm, bool ok) NONNULL;
/* Sets the override; the probed state keeps being tracked underneath. [any] */
void health_sm_force(health_sm_t *sm, enum health_force f) NONNULL;
/* The state the rest of the server acts on: the override if any, else the probed state. */
static inline enum health_state health_sm_effective(const health_sm_t *sm)
{
    if (sm->force == HEALTH_FORCE_UP)
        return HEALTH_UP;
    if (sm->force == HEALTH_FORCE_DOWN)
        return HEALTH_DOWN;
    return (enum health_state)sm->state;
}

/* The results left before the next change of the probed state: fall less the failures in a
 * row when UP, rise less the successes in a row when DOWN, 1 when UNKNOWN. [any] */
static inline unsigned health_sm_steps(const health_sm_t *sm)
{
    if (sm->state == HEALTH_UP)
        return sm->fall > sm->fail_streak ? (unsigned)(sm->fall - sm->fail_streak) : 0;
    if (sm->state == HEALTH_DOWN)
        return sm->rise > sm->ok_streak ? (unsigned)(sm->rise - sm->ok_streak) : 0;
    return 1;
}

/* ---- check specs (filled by the config module, copied by the registry) ---- */

/* Longest HTTP body substring, and how much of the body is searched for it: "the first few
 * KiB" of a health page is where a status word lives; reading more only costs memory. */
#define HEALTH_BODY_MAX    1024
#define HEALTH_BODY_WINDOW 4096

typedef struct health_spec {
    char *name;  /* unique; template checks are "TEMPLATE/ADDRESS" */
    char *group; /* the template's name for template checks, else NULL */
    enum health_kind kind;
    struct sockaddr_storage addr; /* target address with the port */
    socklen_t addrlen;
    char *target; /* the address as text, without the port */
    /* http/https */
    char *method;     /* "GET" */
    char *path;       /* "/" */
    char *host;       /* Host header and TLS server name; NULL = the target address */
    char *body;       /* substring the body must contain, or NULL */
    uint16_t *expect; /* accepted status codes; none (NULL) = 200..399 */
    size_t nexpect;
    bool tls_verify; /* https: verify the certificate chain and name */
    char *tls_ca;    /* https: CA file to verify against, NULL = the system store */
    /* http/https: keep the connection open between runs (HTTP/1.1 keep-alive, one idle
     * connection per check); false: a new connection and HTTP/1.0 "Connection: close" per run */
    bool reuse_connection;
    /* dns */
    char *dns_name; /* presentation form */
    uint16_t dns_type;
    /* timing and thresholds */
    unsigned interval_ms, timeout_ms; /* timeout_ms <= interval_ms */
    unsigned rise, fall;              /* 1..100 */
    enum health_state initial;        /* UP or DOWN */
} health_spec_t;

/* Deep copy into dst (owned by the caller, freed with health_spec_fini). [any] */
void health_spec_copy(health_spec_t *dst, const health_spec_t *src) NONNULL;
/* Frees what a spec owns (not the struct); a zeroed spec is fine. [any] */
void health_spec_fini(health_spec_t *s);

/* ---- the registry [main] ---- */

typedef struct health health_t;

/* Milliseconds since the Unix epoch; tests pass a fake. */
typedef int64_t (*health_clock_fn)(void *arg);

typedef struct health_opts {
    /* "wait" start-up: checks added before health_start begin UNKNOWN and health_start's ready
     * callback runs once each has a result (bounded by the timeouts); otherwise every check
     * begins in its declared initial state and the callback runs at once. */
    bool startup_wait;
    /* The probe thread at idle scheduling priority: query workers always come first; when
     * every CPU is busy, runs are late rather than the workers (late runs give no verdict). */
    bool idle_priority;
    /* The CPUs the probe thread may run on (borrowed until health_start returns); 0 = any.
     * A set the query workers leave free keeps the checks off their cores altogether. */
    const unsigned *cpus;
    size_t ncpus;
    health_clock_fn clock; /* NULL = the real clock */
    void *clock_arg;
} health_opts_t;

/* A state change of the state the server acts on (health_sm_effective), as the listener sees
 * it. name and reason are borrowed for the duration of the call. */
typedef struct health_change {
    uint32_t id;
    const char *name;
    enum health_state old_state, new_state;
    const char *reason; /* "3/3 failed: status 503", "forced down", "2/2 ok" ... */
} health_change_t;

typedef void (*health_listener_fn)(void *arg, const health_change_t *c);

/* A new registry. main is the main thread's event base (results are delivered there); NULL
 * makes a registry without a probe thread, fed by health_apply_result (unit tests). Returns
 * an owned registry. [main] */
health_t *health_new(struct event_base *main, const health_opts_t *opts) WUNUSED;
/* Stops the probe thread if it runs and frees everything; NULL is a no-op. [main] */
void health_free(health_t *h);

/* Sets the one listener for state changes (NULL to remove). It runs on the main thread after
 * the change is applied and logged. [main] */
void health_set_listener(health_t *h, health_listener_fn cb, void *arg) NONNULL1;

/* Sets the one hook (NULL to remove) called on the main thread, with the check's id, after
 * results moved a check's health_sm_steps (or its probed state): for what depends on streaks,
 * not only on states (TTLs derived from health). Results that leave both as they were (the
 * usual success of a healthy check) do not call it. [main] */
void health_set_result_hook(health_t *h, void (*cb)(void *arg, uint32_t id), void *arg)
    NONNULL1;

/* Starts the probe thread (call it with every signal blocked, so that signals keep reaching
 * the main loop) and hands it every registered check. ready(arg) then runs once on the main
 * loop: at once, or under "wait" when the first round is over. False with err if the thread
 * cannot start. [main] */
bool health_start(health_t *h, void (*ready)(void *arg), void *arg, hadns_err_t *err) NONNULL1;
/* True between health_start and the ready callback. [main] */
bool health_starting(const health_t *h) NONNULL;

/* Adds a check (spec is copied). Fails with err if the name exists. id (may be NULL) gets the
 * check's id; ids are never reused. [main] */
bool health_check_add(health_t *h, const health_spec_t *spec, uint32_t *id,
                      hadns_err_t *err) NONNULL1;
/* Removes the named check; false if there is none. [main] */
bool health_check_remove(health_t *h, const char *name) NONNULL;
/* Makes the checks of group exactly specs[0..n) by name: checks of the group whose name is
 * not among them are removed, missing ones are added, existing ones keep their state,
 * counters and override. Names added/removed are reported through cb (may be NULL). [main] */
void health_group_sync(health_t *h, const char *group, const health_spec_t *specs, size_t n,
                       void (*cb)(void *arg, const char *name, bool added), void *arg) NONNULL1;

/* Sets or clears the override of the named check. False with err if there is no such check.
 * [main] */
bool health_force(health_t *h, const char *name, enum health_force f, hadns_err_t *err) NONNULL1;

/* Applies one probe result as the health thread does, then runs what it changed (log lines,
 * listener, hook) at once (error text: NULL or "" when ok). Results for unknown ids (removed
 * checks) are dropped. For a registry without a probe thread (unit tests). [main] */
void health_apply_result(health_t *h, uint32_t id, bool ok, const char *error) NONNULL1;
/* Records a run without a verdict (the probe thread was starved past the run's deadline):
 * counted as late and shown as '?' in the history; the state machine does not see it. [main] */
void health_apply_late(health_t *h, uint32_t id) NONNULL1;

/* ---- reading the registry [main] ---- */

/* Error text of one result: "connection refused", "status 503", "TLS error: certificate
 * verify failed: self-signed certificate" fit; longer OpenSSL texts are cut. */
#define HEALTH_ERR_MAX 128
/* Why the last change happened: "3/3 failed: " and the error text. */
#define HEALTH_REASON_MAX (HEALTH_ERR_MAX + 48)

/* Results kept per check for "history": '+' ok, '-' failed, '?' late (no verdict), 'U'/'D'
 * the probed state going up/down. 32 covers fall + rise of any sane setting with context. */
#define HEALTH_HISTORY 32

typedef struct health_info {
    uint32_t id;
    const char *name, *group, *target; /* group NULL for explicit checks */
    uint16_t port;
    enum health_kind kind;
    enum health_state state;  /* effective */
    enum health_state probed; /* what the probes say */
    enum health_force force;
    int last_result;        /* -1 none yet, 0 failed, 1 ok */
    char last_error[HEALTH_ERR_MAX]; /* "" when none */
    char reason[HEALTH_REASON_MAX];  /* why the last change happened */
    int64_t last_change_ms; /* when the effective state last changed (or the check was added) */
    int64_t last_probe_ms;  /* when the last result arrived; 0 = never */
    uint64_t probes, ok, failed, ups, downs;
    uint64_t late; /* runs without a verdict (not in probes) */
    unsigned ok_streak, fail_streak, rise, fall;
    unsigned interval_ms, timeout_ms;
    char history[HEALTH_HISTORY + 1];
} health_info_t;

/* Number of checks; checks are numbered 0..n-1 in id order for health_info. [main] */
size_t health_count(const health_t *h) NONNULL;
/* Fills out for check i (0..count-1), a copy taken under the registry's lock; name, group and
 * target are borrowed until the check is removed. False if i is out of range. [main] */
bool health_info(const health_t *h, size_t i, health_info_t *out) NONNULL;
/* Index of the named check for health_info, or -1. [main] */
long health_find(const health_t *h, const char *name) NONNULL;
/* The effective state of check id (UNKNOWN if there is none). [main] */
enum health_state health_state_of(const health_t *h, uint32_t id) NONNULL;

#endif
