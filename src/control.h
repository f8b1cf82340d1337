/* SPDX-License-Identifier: MIT */
/* control.h: the unix-domain control socket: JSON lines in and out (ctlproto.h), a table of
 * commands, several clients at once on the main loop. What a command does is server.c's: it
 * comes in through the ctl_ops vtable, so that control never includes server.h. */
#ifndef HADNS_CONTROL_H
#define HADNS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "err.h"
#include "health.h"

struct event_base;

typedef struct control control_t;
/* A request whose reply comes later (reload). Owned by control; see control_reply_reload. */
typedef struct ctl_req ctl_req_t;

typedef struct ctl_listener {
    const char *address; /* "127.0.0.1:5353" */
    const char *ip;
    unsigned port;
} ctl_listener_t;

/* What "status" reports; pointers are borrowed for the duration of the call. */
typedef struct ctl_status {
    const char *version;
    const char *config;
    long pid;
    double uptime;  /* seconds */
    double started; /* Unix time */
    bool starting;  /* the first round of checks is still running */
    unsigned workers;
    size_t zones, zones_failed, checks;
    const ctl_listener_t *listeners;
    size_t nlisteners;
} ctl_status_t;

typedef struct ctl_zone_error {
    const char *zone;
    const char *error;
} ctl_zone_error_t;

/* What "reload" reports once the reload is over. */
typedef struct ctl_reload_result {
    const char *const *reloaded;
    size_t nreloaded;
    const ctl_zone_error_t *failed;
    size_t nfailed;
    const char *const *unchanged;
    size_t nunchanged;
    const char *const *checks_added;
    size_t nchecks_added;
    const char *const *checks_removed;
    size_t nchecks_removed;
} ctl_reload_result_t;

/* What "policies" reports of one policy; pointers are borrowed for the call. */
typedef struct ctl_policy {
    const char *name, *owner, *type;
    unsigned ttl, candidates, healthy;
    bool all_down, located;
    const char *const *serving; /* NULL when the answer varies by client or chance */
    size_t nserving;
} ctl_policy_t;

/* The hooks a command calls, all on the main thread. arg is ctl_ops.arg. */
typedef struct ctl_ops {
    void *arg;
    /* Fills st. */
    void (*status)(void *arg, ctl_status_t *st);
    /* Calls each(cbarg, info) for every check, in id order. */
    void (*checks)(void *arg, void (*each)(void *cbarg, const health_info_t *info), void *cbarg);
    /* Sets an override; false with err if the check does not exist. */
    bool (*force)(void *arg, const char *check, enum health_force f, hadns_err_t *err);
    /* Starts a reload (or joins the next one if a reload is running) and later answers req
     * with control_reply_reload (or control_reply_error). */
    void (*reload)(void *arg, ctl_req_t *req);
    /* Calls each(cbarg, p) for every policy that applies now. */
    void (*policies)(void *arg, void (*each)(void *cbarg, const ctl_policy_t *p), void *cbarg);
} ctl_ops_t;

/* Creates the socket at path with the given permission bits and starts accepting on base. A
 * socket file left by a dead server is replaced; if a server answers on it, or the path is not
 * a socket, this fails with err naming the path. ops is copied. [main] */
control_t *control_new(struct event_base *base, const char *path, unsigned mode,
                       const ctl_ops_t *ops, hadns_err_t *err) WUNUSED;
/* Closes every client and the socket, and removes the socket file if it is still ours. Every
 * pending request must have been answered first. NULL is a no-op. [main] */
void control_free(control_t *c);

/* Answers a pending reload request; req is spent (freed here, also when its client has gone
 * away meanwhile). [main] */
void control_reply_reload(ctl_req_t *req, const ctl_reload_result_t *res) NONNULL;
/* Answers a pending request with {"ok": false, "error": msg}; req is spent. [main] */
void control_reply_error(ctl_req_t *req, const char *msg) NONNULL;

#endif
