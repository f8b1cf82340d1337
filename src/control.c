/* SPDX-License-Identifier: MIT */
/* control.c: the control socket. A unix stream socket on the main loop, one bufferevent per
 * client, one JSON request per line answered by one JSON line, commands from a table. A client
 * that says nothing costs one idle bufferevent until CTL_IDLE_TIMEOUT; it never blocks the
 * loop, since nothing here waits for a client. */
#include "config.h"
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "ctlproto.h"
#include "log.h"
#include "xalloc.h"

/* Operators and scripts; a few dozen at once is plenty, and the cap bounds what a runaway
 * script can cost us. */
#define CTL_MAX_CLIENTS 64
/* A client idle this long is closed: a forgotten `hadnsctl` or `nc` must not hold a slot
 * forever, and a person typing into `nc -U` gets five minutes per line. */
#define CTL_IDLE_TIMEOUT 300
/* A client that sends requests faster than it reads the replies (a "checks" reply of 10,000
 * checks is a few MiB) is not read from while this much output waits for it. */
#define CTL_OUTPUT_HIGH (16 * 1024 * 1024)

struct client {
    control_t *ctl;
    struct bufferevent *bev;
    struct client *prev, *next;
    ctl_req_t *pending; /* a request waiting for its reply (reload) */
    bool eof;           /* the client will send nothing more */
    bool closing;       /* close once the output is flushed */
};

struct ctl_req {
    struct client *cl; /* NULL once the client has gone */
    json_t *id;        /* echoed in the reply, or NULL */
};

struct control {
    struct event_base *base;
    struct evconnlistener *lev;
    char *path;
    dev_t dev;
    ino_t ino;
    ctl_ops_t ops;
    struct client *clients;
    size_t nclients;
};

/* ---- clients ---- */

static void client_free(struct client *cl)
{
    control_t *c = cl->ctl;
    if (cl->pending)
        cl->pending->cl = NULL; /* its reply will be dropped */
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        c->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    c->nclients--;
    bufferevent_free(cl->bev);
    free(cl);
}

/* Closes the client now if it is done and its output is flushed. True if it was freed. */
static bool maybe_close(struct client *cl)
{
    if (cl->eof && !cl->pending)
        cl->closing = true;
    if (cl->closing && !cl->pending && evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
        client_free(cl);
        return true;
    }
    return false;
}

static void send_reply(struct client *cl, json_t *reply, json_t *id)
{
    if (id)
        json_object_set(reply, CTL_F_ID, id);
    /* 15 digits: millisecond Unix times and 0.3 s both print exactly. */
    char *text = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text) { /* only on OOM inside jansson */
        log_errx("control: cannot encode a reply");
        return;
    }
    bufferevent_write(cl->bev, text, strlen(text));
    bufferevent_write(cl->bev, "\n", 1);
    free(text);
}

static void send_error(struct client *cl, json_t *id, const char *fmt, ...) PRINTF(3, 4);
static void send_error(struct client *cl, json_t *id, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *r = json_pack("{s:b, s:s}", CTL_F_OK, 0, CTL_F_ERROR, msg);
    send_reply(cl, r, id);
    json_decref(r);
}

/* ---- commands ---- */

/* What a handler did: filled the reply for the caller to send, sent a reply of its own (an
 * error), or left the request pending for a later control_reply_*. */
enum cmd_rv { CMD_REPLY, CMD_SENT, CMD_PENDING };

typedef enum cmd_rv (*cmd_fn)(struct client *cl, json_t *req, json_t *reply, json_t *id);

static enum cmd_rv cmd_status(struct client *cl, json_t *req, json_t *reply, json_t *id)
{
    (void)req;
    (void)id;
    control_t *c = cl->ctl;
    ctl_status_t st = {0};
    c->ops.status(c->ops.arg, &st);
    json_t *ls = json_array();
    for (size_t i = 0; i < st.nlisteners; i++) {
        json_array_append_new(ls, json_pack("{s:s, s:s, s:i}", CTL_F_ADDRESS,
                                            st.listeners[i].address, CTL_F_IP, st.listeners[i].ip,
                                            CTL_F_PORT, (json_int_t)st.listeners[i].port));
    }
    json_object_set_new(reply, CTL_F_VERSION, json_string(st.version ? st.version : ""));
    json_object_set_new(reply, CTL_F_PID, json_integer(st.pid));
    json_object_set_new(reply, CTL_F_UPTIME, json_real(st.uptime));
    json_object_set_new(reply, CTL_F_STARTED, json_real(st.started));
    json_object_set_new(reply, CTL_F_CONFIG, json_string(st.config ? st.config : ""));
    json_object_set_new(reply, CTL_F_SOCKET, json_string(c->path));
    json_object_set_new(reply, CTL_F_STARTING, json_boolean(st.starting));
    json_object_set_new(reply, CTL_F_WORKERS, json_integer(st.workers));
    json_object_set_new(reply, CTL_F_ZONES, json_integer((json_int_t)st.zones));
    json_object_set_new(reply, CTL_F_ZONES_FAILED, json_integer((json_int_t)st.zones_failed));
    json_object_set_new(reply, CTL_F_NCHECKS, json_integer((json_int_t)st.checks));
    json_object_set_new(reply, CTL_F_LISTENERS, ls);
    return CMD_REPLY;
}

static json_t *time_or_null(int64_t ms)
{
    return ms ? json_real((double)ms / 1000.0) : json_null();
}

static json_t *check_json(const health_info_t *in)
{
    json_t *o = json_object();
    json_object_set_new(o, CTL_F_NAME, json_string(in->name));
    json_object_set_new(o, CTL_F_TEMPLATE, in->group ? json_string(in->group) : json_null());
    json_object_set_new(o, CTL_F_TARGET, json_string(in->target));
    json_object_set_new(o, CTL_F_PORT, json_integer(in->port));
    json_object_set_new(o, CTL_F_TYPE, json_string(health_kind_name(in->kind)));
    json_object_set_new(o, CTL_F_STATE, json_string(health_state_name(in->state)));
    json_object_set_new(o, CTL_F_PROBED, json_string(health_state_name(in->probed)));
    json_object_set_new(o, CTL_F_FORCED,
                        in->force == HEALTH_AUTO ? json_null()
                                                 : json_string(health_force_name(in->force)));
    json_object_set_new(o, CTL_F_LAST_RESULT,
                        in->last_result < 0 ? json_null()
                                            : json_string(in->last_result ? "ok" : "failed"));
    json_object_set_new(o, CTL_F_LAST_ERROR, json_string(in->last_error));
    json_object_set_new(o, CTL_F_LAST_CHANGE, time_or_null(in->last_change_ms));
    json_object_set_new(o, CTL_F_LAST_PROBE, time_or_null(in->last_probe_ms));
    json_object_set_new(o, CTL_F_REASON, json_string(in->reason));
    json_object_set_new(o, CTL_F_RISE, json_integer(in->rise));
    json_object_set_new(o, CTL_F_FALL, json_integer(in->fall));
    json_object_set_new(o, CTL_F_INTERVAL, json_real(in->interval_ms / 1000.0));
    json_object_set_new(o, CTL_F_TIMEOUT, json_real(in->timeout_ms / 1000.0));
    json_object_set_new(o, CTL_F_COUNTERS,
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", CTL_F_PROBES,
                                  (json_int_t)in->probes, CTL_F_NOK, (json_int_t)in->ok,
                                  CTL_F_NFAILED, (json_int_t)in->failed, CTL_F_UPS,
                                  (json_int_t)in->ups, CTL_F_DOWNS, (json_int_t)in->downs,
                                  CTL_F_LATE, (json_int_t)in->late));
    json_object_set_new(o, CTL_F_STREAK,
                        json_pack("{s:i, s:i}", CTL_F_NOK, (json_int_t)in->ok_streak, CTL_F_NFAILED,
                                  (json_int_t)in->fail_streak));
    json_object_set_new(o, CTL_F_HISTORY, json_string(in->history));
    return o;
}

struct checks_walk {
    json_t *arr;
    const char *only; /* one check's name, or NULL */
};

static void each_check(void *arg, const health_info_t *in)
{
    struct checks_walk *w = arg;
    if (!w->only || !strcmp(w->only, in->name))
        json_array_append_new(w->arr, check_json(in));
}

static enum cmd_rv cmd_checks(struct client *cl, json_t *req, json_t *reply, json_t *id)
{
    control_t *c = cl->ctl;
    json_t *only = json_object_get(req, CTL_F_CHECK);
    if (only && !json_is_string(only)) {
        send_error(cl, id, "\"%s\" must be a check name", CTL_F_CHECK);
        return CMD_SENT;
    }
    struct checks_walk w = {json_array(), only ? json_string_value(only) : NULL};
    c->ops.checks(c->ops.arg, each_check, &w);
    if (w.only && !json_array_size(w.arr)) {
        json_decref(w.arr);
        send_error(cl, id, "no check named %s", w.only);
        return CMD_SENT;
    }
    json_object_set_new(reply, CTL_F_CHECKS, w.arr);
    return CMD_REPLY;
}

static enum cmd_rv cmd_force(struct client *cl, json_t *req, json_t *reply, json_t *id)
{
    control_t *c = cl->ctl;
    json_t *name = json_object_get(req, CTL_F_CHECK);
    json_t *state = json_object_get(req, CTL_F_STATE);
    enum health_force f;
    if (!json_is_string(name) || !json_string_length(name)) {
        send_error(cl, id, "force: \"%s\" must name a check", CTL_F_CHECK);
        return CMD_SENT;
    }
    if (!json_is_string(state) || !health_force_parse(json_string_value(state), &f)) {
        send_error(cl, id, "force: \"%s\" must be \"up\", \"down\" or \"auto\"", CTL_F_STATE);
        return CMD_SENT;
    }
    hadns_err_t err = {{0}};
    if (!c->ops.force(c->ops.arg, json_string_value(name), f, &err)) {
        send_error(cl, id, "%s", err.msg);
        return CMD_SENT;
    }
    struct checks_walk w = {json_array(), json_string_value(name)};
    c->ops.checks(c->ops.arg, each_check, &w);
    json_t *one = json_array_get(w.arr, 0);
    json_object_set_new(reply, CTL_F_CHECK, json_string(json_string_value(name)));
    json_object_set_new(reply, CTL_F_FORCED,
                        f == HEALTH_AUTO ? json_null() : json_string(health_force_name(f)));
    if (one) {
        json_object_set(reply, CTL_F_STATE, json_object_get(one, CTL_F_STATE));
        json_object_set(reply, CTL_F_PROBED, json_object_get(one, CTL_F_PROBED));
    }
    json_decref(w.arr);
    return CMD_REPLY;
}

static enum cmd_rv cmd_reload(struct client *cl, json_t *req, json_t *reply, json_t *id)
{
    (void)req;
    (void)reply;
    control_t *c = cl->ctl;
    ctl_req_t *r = xcalloc(1, sizeof(*r));
    r->cl = cl;
    r->id = id ? json_incref(id) : NULL;
    cl->pending = r;
    c->ops.reload(c->ops.arg, r); /* may answer at once */
    return CMD_PENDING;
}

static void each_policy(void *arg, const ctl_policy_t *p)
{
    json_t *arr = arg;
    json_t *serving = json_null();
    if (p->serving) {
        serving = json_array();
        for (size_t i = 0; i < p->nserving; i++)
            json_array_append_new(serving, json_string(p->serving[i]));
    }
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:o}", CTL_F_NAME, p->name,
                       CTL_F_OWNER, p->owner, CTL_F_TYPE, p->type, CTL_F_TTL,
                       (json_int_t)p->ttl, CTL_F_CANDIDATES, (json_int_t)p->candidates,
                       CTL_F_HEALTHY, (json_int_t)p->healthy, CTL_F_ALL_DOWN, p->all_down,
                       CTL_F_LOCATED, p->located, CTL_F_SERVING, serving));
}

static enum cmd_rv cmd_policies(struct client *cl, json_t *req, json_t *reply, json_t *id)
{
    (void)req;
    (void)id;
    control_t *c = cl->ctl;
    json_t *arr = json_array();
    if (c->ops.policies)
        c->ops.policies(c->ops.arg, each_policy, arr);
    json_object_set_new(reply, CTL_F_POLICIES, arr);
    return CMD_REPLY;
}

/* The command table: later commands (zones, stats) are one line here and one handler. */
static const struct command {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {CTL_CMD_STATUS, cmd_status},
    {CTL_CMD_CHECKS, cmd_checks},
    {CTL_CMD_FORCE, cmd_force},
    {CTL_CMD_RELOAD, cmd_reload},
    {CTL_CMD_POLICIES, cmd_policies},
};

static void handle_line(struct client *cl, const char *line, size_t len)
{
    size_t sp = strspn(line, " \t\r");
    if (sp == len)
        return; /* blank lines are allowed between requests */
    json_error_t je;
    /* DECODE_ANY: a bare string or number is valid JSON, just not a request. */
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!req) {
        send_error(cl, NULL, "malformed JSON at column %d: %s", je.column, je.text);
        return;
    }
    json_t *id = NULL;
    if (!json_is_object(req)) {
        send_error(cl, NULL, "a request must be a JSON object");
        goto out;
    }
    id = json_object_get(req, CTL_F_ID);
    json_t *cmd = json_object_get(req, CTL_F_COMMAND);
    if (!json_is_string(cmd)) {
        send_error(cl, id, "a request needs \"%s\": one of status, checks, force, reload",
                   CTL_F_COMMAND);
        goto out;
    }
    const struct command *found = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(commands[i].name, json_string_value(cmd)))
            found = &commands[i];
    }
    if (!found) {
        send_error(cl, id, "unknown command '%s' (known: status, checks, policies, force, reload)",
                   json_string_value(cmd));
        goto out;
    }
    json_t *reply = json_object();
    json_object_set_new(reply, CTL_F_OK, json_true());
    if (found->fn(cl, req, reply, id) == CMD_REPLY)
        send_reply(cl, reply, id);
    json_decref(reply);
out:
    json_decref(req);
}

/* Handles every complete line, unless a request is pending (replies keep request order).
 * Returns false if the client was freed. */
static bool process(struct client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    struct evbuffer *out = bufferevent_get_output(cl->bev);
    bool full = false;
    while (!cl->pending && !cl->closing) {
        if (evbuffer_get_length(out) > CTL_OUTPUT_HIGH) {
            full = true; /* on_write resumes once the client has read its replies */
            break;
        }
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
        if (!line && cl->eof && evbuffer_get_length(in)) {
            /* The last request may lack its newline when the client shut down writing. */
            n = evbuffer_get_length(in);
            line = xmalloc(n + 1);
            evbuffer_remove(in, line, n);
            line[n] = '\0';
        }
        if (!line) {
            if (evbuffer_get_length(in) > CTL_LINE_MAX) {
                send_error(cl, NULL, "request longer than %d bytes", CTL_LINE_MAX);
                cl->closing = true;
            }
            break;
        }
        if (n > CTL_LINE_MAX) {
            send_error(cl, NULL, "request longer than %d bytes", CTL_LINE_MAX);
            cl->closing = true;
        } else {
            handle_line(cl, line, n);
        }
        free(line);
    }
    if (cl->pending || cl->closing || full)
        bufferevent_disable(cl->bev, EV_READ);
    return !maybe_close(cl);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process(arg);
}

/* The output has drained (the write low-water mark is 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct client *cl = arg;
    if (maybe_close(cl))
        return;
    if (!cl->pending && !cl->closing && !cl->eof) {
        bufferevent_enable(bev, EV_READ);
        process(cl); /* lines held back while the output was full */
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct client *cl = arg;
    if (what & BEV_EVENT_EOF) {
        cl->eof = true;
        process(cl);
        return;
    }
    /* an error or the idle timeout */
    client_free(cl);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lev;
    (void)sa;
    (void)salen;
    control_t *c = arg;
    struct bufferevent *bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        return;
    }
    struct client *cl = xcalloc(1, sizeof(*cl));
    cl->ctl = c;
    cl->bev = bev;
    cl->next = c->clients;
    if (c->clients)
        c->clients->prev = cl;
    c->clients = cl;
    c->nclients++;
    bufferevent_setcb(bev, on_read, on_write, on_event, cl);
    struct timeval idle = {.tv_sec = CTL_IDLE_TIMEOUT, .tv_usec = 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    if (c->nclients > CTL_MAX_CLIENTS) {
        send_error(cl, NULL, "too many control clients (%d)", CTL_MAX_CLIENTS);
        cl->closing = true;
        bufferevent_enable(bev, EV_WRITE);
        return;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    (void)arg;
    /* EMFILE and friends: libevent retries on the next readiness. */
    log_warn("control: accept");
}

/* ---- deferred replies ---- */

/* Sends reply (taken) to req's client if it is still there, then frees req. */
static void finish_req(ctl_req_t *req, json_t *reply)
{
    struct client *cl = req->cl;
    if (cl) {
        send_reply(cl, reply, req->id);
        cl->pending = NULL;
        if (!cl->eof && !cl->closing) {
            bufferevent_enable(cl->bev, EV_READ);
            /* Lines that arrived meanwhile: handle them from the loop, not from inside the
             * caller (which may be iterating its own list of pending requests). */
            bufferevent_trigger(cl->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
        } else {
            maybe_close(cl);
        }
    }
    json_decref(reply);
    json_decref(req->id);
    free(req);
}

void control_reply_error(ctl_req_t *req, const char *msg)
{
    finish_req(req, json_pack("{s:b, s:s}", CTL_F_OK, 0, CTL_F_ERROR, msg));
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

void control_reply_reload(ctl_req_t *req, const ctl_reload_result_t *res)
{
    json_t *r = json_object();
    json_object_set_new(r, CTL_F_OK, json_boolean(res->nfailed == 0));
    if (res->nfailed) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%zu zone%s failed to load", res->nfailed,
                 res->nfailed == 1 ? "" : "s");
        json_object_set_new(r, CTL_F_ERROR, json_string(msg));
    }
    json_t *failed = json_array();
    for (size_t i = 0; i < res->nfailed; i++)
        json_array_append_new(failed, json_pack("{s:s, s:s}", CTL_F_ZONE, res->failed[i].zone,
                                                CTL_F_ERROR, res->failed[i].error));
    json_object_set_new(r, CTL_F_ZONES,
                        json_pack("{s:o, s:o, s:o}", CTL_F_RELOADED,
                                  str_array(res->reloaded, res->nreloaded), CTL_F_FAILED, failed,
                                  CTL_F_UNCHANGED, str_array(res->unchanged, res->nunchanged)));
    json_object_set_new(r, CTL_F_CHECKS,
                        json_pack("{s:o, s:o}", CTL_F_ADDED,
                                  str_array(res->checks_added, res->nchecks_added), CTL_F_REMOVED,
                                  str_array(res->checks_removed, res->nchecks_removed)));
    finish_req(req, r);
}

/* ---- the socket ---- */

/* A socket file at path: stale (no one accepts on it: remove it) or live (refuse). */
static bool clear_stale(const char *path, hadns_err_t *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? true
                   : (err_set(err, "control socket %s: %s", path, strerror(errno)), false);
    if (!S_ISSOCK(st.st_mode)) {
        err_set(err, "control socket %s: the path exists and is not a socket", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err_set(err, "control socket %s: socket: %s", path, strerror(errno));
        return false;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    int e = errno;
    close(fd);
    /* EAGAIN: a live server whose backlog is full. */
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        err_set(err, "control socket %s: another server is listening on it", path);
        return false;
    }
    if (e != ECONNREFUSED) {
        err_set(err, "control socket %s: connect: %s", path, strerror(e));
        return false;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        err_set(err, "control socket %s: cannot remove the stale socket: %s", path,
                strerror(errno));
        return false;
    }
    log_notice("control socket %s: replaced a stale socket", path);
    return true;
}

control_t *control_new(struct event_base *base, const char *path, unsigned mode,
                       const ctl_ops_t *ops, hadns_err_t *err)
{
    control_t *c = NULL;
    int fd = -1;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        err_set(err, "control socket %s: path too long", path);
        goto bad;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if (!clear_stale(path, err))
        goto bad;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err_set(err, "control socket %s: socket: %s", path, strerror(errno));
        goto bad;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        err_set(err, "control socket %s: bind: %s", path, strerror(errno));
        goto bad;
    }
    /* Before listen(): until then a connect is refused, so no one gets in through the
     * umask's permissions in between. */
    struct stat st;
    if (chmod(path, mode) != 0 || stat(path, &st) != 0) {
        err_set(err, "control socket %s: chmod: %s", path, strerror(errno));
        unlink(path);
        goto bad;
    }
    if (listen(fd, 16) != 0) {
        err_set(err, "control socket %s: listen: %s", path, strerror(errno));
        unlink(path);
        goto bad;
    }
    c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->path = xstrdup(path);
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->ops = *ops;
    c->lev = evconnlistener_new(base, on_accept, c, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (!c->lev) {
        err_set(err, "control socket %s: cannot watch it", path);
        unlink(path);
        free(c->path);
        free(c);
        c = NULL;
        goto bad;
    }
    evconnlistener_set_error_cb(c->lev, on_accept_error);
    log_notice("control socket %s (mode %04o)", path, mode);
    return c;
bad:
    if (fd >= 0)
        close(fd);
    return NULL;
}

void control_free(control_t *c)
{
    if (!c)
        return;
    while (c->clients)
        client_free(c->clients);
    evconnlistener_free(c->lev);
    /* Remove the file only if it is still the one we made (not a successor's). */
    struct stat st;
    if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
        unlink(c->path);
    free(c->path);
    free(c);
}
