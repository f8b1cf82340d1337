/* SPDX-License-Identifier: MIT */
/* conf.c: JSON config -> cfg_t through a table of keys; every error names its key. */
#include "config.h"
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "conf_policy.h"
#include "cpus.h"
#include "dname.h"
#include "net.h"
#include "xalloc.h"

bool conf_parse_addr(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (size_t)(close - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return false;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* bare IPv6 address, no port */
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl >= sizeof(host))
            return false;
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (colon)
            port = colon + 1;
    }
    unsigned long p = default_port;
    if (port) {
        char *end;
        if (strspn(port, "0123456789") != strlen(port) || !*port || strlen(port) > 5)
            return false;
        p = strtoul(port, &end, 10);
        if (*end || p > 65535)
            return false;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof(*v4);
        return true;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*v6);
        return true;
    }
    return false;
}

/* ---- the key table ---- */

struct ctx {
    cfg_t *c;
    const char *path;
    const char *dir; /* the config file's directory: relative paths start there */
    hadns_err_t *err;
};

typedef bool (*key_fn)(struct ctx *x, const char *key, json_t *v);

static bool get_uint(struct ctx *x, const char *key, json_t *v, long long min, long long max,
                     unsigned *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        err_set(x->err, "%s: %s: must be an integer from %lld to %lld", x->path, key, min, max);
        return false;
    }
    *out = (unsigned)json_integer_value(v);
    return true;
}

static bool get_string(struct ctx *x, const char *key, json_t *v, const char **out)
{
    if (!json_is_string(v) || !json_string_length(v)) {
        err_set(x->err, "%s: %s: must be a non-empty string", x->path, key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool k_listen(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_array(v) || !json_array_size(v)) {
        err_set(x->err, "%s: %s: must be a non-empty array of \"address:port\" strings", x->path,
                key);
        return false;
    }
    cfg_t *c = x->c;
    c->nlisten = json_array_size(v);
    c->listen = xcalloc(c->nlisten, sizeof(cfg_listen_t));
    for (size_t i = 0; i < c->nlisten; i++) {
        json_t *e = json_array_get(v, i);
        cfg_listen_t *l = &c->listen[i];
        if (!json_is_string(e) || !conf_parse_addr(json_string_value(e), CONF_DEFAULT_PORT,
                                                  &l->addr, &l->addrlen))
        {
            err_set(x->err, "%s: %s[%zu]: not an \"address:port\" (IPv6 as \"[::1]:53\")",
                    x->path, key, i);
            return false;
        }
        l->text = xstrdup(json_string_value(e));
    }
    return true;
}

/* A CPU list: a non-empty array of distinct CPU numbers this machine has. */
static bool get_cpus(struct ctx *x, const char *key, json_t *v, unsigned **out, size_t *n)
{
    long have = sysconf(_SC_NPROCESSORS_CONF);
    if (have < 1 || have > CPUS_MAX)
        have = CPUS_MAX;
    /* No length cap: more entries than CPUs must repeat one, and that is refused below. */
    if (!json_is_array(v) || !json_array_size(v)) {
        err_set(x->err, "%s: %s: must be a non-empty array of CPU numbers, e.g. [0, 1]", x->path,
                key);
        return false;
    }
    free(*out);
    *n = json_array_size(v);
    *out = xcalloc(*n, sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) >= have)
        {
            err_set(x->err, "%s: %s[%zu]: must be a CPU number from 0 to %ld (this machine's)",
                    x->path, key, i, have - 1);
            return false;
        }
        (*out)[i] = (unsigned)json_integer_value(e);
        for (size_t j = 0; j < i; j++) {
            if ((*out)[j] == (*out)[i]) {
                err_set(x->err, "%s: %s[%zu]: CPU %u is listed twice", x->path, key, i,
                        (*out)[i]);
                return false;
            }
        }
    }
    return true;
}

static bool k_worker_cpus(struct ctx *x, const char *key, json_t *v)
{
    return get_cpus(x, key, v, &x->c->worker_cpus, &x->c->nworker_cpus);
}

static bool k_workers(struct ctx *x, const char *key, json_t *v)
{
    return get_uint(x, key, v, 0, 256, &x->c->workers);
}

static bool k_udp_payload(struct ctx *x, const char *key, json_t *v)
{
    unsigned u;
    if (!get_uint(x, key, v, 512, 4096, &u))
        return false;
    x->c->udp_payload = (uint16_t)u;
    return true;
}

static bool k_tcp_idle(struct ctx *x, const char *key, json_t *v)
{
    return get_uint(x, key, v, 1, 3600, &x->c->tcp_idle_timeout);
}

static bool k_tcp_max(struct ctx *x, const char *key, json_t *v)
{
    return get_uint(x, key, v, 1, 100000, &x->c->tcp_max_connections);
}

static bool k_nsid(struct ctx *x, const char *key, json_t *v)
{
    const char *s;
    if (!get_string(x, key, v, &s))
        return false;
    /* RFC 5001 leaves the payload opaque; keep it short enough to fit any response. */
    if (strlen(s) > 128) {
        err_set(x->err, "%s: %s: at most 128 bytes", x->path, key);
        return false;
    }
    x->c->nsid_len = strlen(s);
    x->c->nsid = (uint8_t *)xstrdup(s);
    return true;
}

static bool k_log_level(struct ctx *x, const char *key, json_t *v)
{
    const char *s;
    if (!get_string(x, key, v, &s))
        return false;
    if (!log_level_parse(s, &x->c->log_level)) {
        err_set(x->err, "%s: %s: must be one of error, warning, notice, info, debug", x->path,
                key);
        return false;
    }
    return true;
}

static bool k_zone_dir(struct ctx *x, const char *key, json_t *v)
{
    const char *s;
    if (!get_string(x, key, v, &s))
        return false;
    x->c->zone_dir = xstrdup(s);
    return true;
}

static char *join(const char *dir, const char *file)
{
    if (file[0] == '/' || !dir[0] || !strcmp(dir, "."))
        return xstrdup(file);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static bool k_zones(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_array(v)) {
        err_set(x->err, "%s: %s: must be an array of {\"name\": ..., \"file\": ...}", x->path,
                key);
        return false;
    }
    cfg_t *c = x->c;
    c->nzones = json_array_size(v);
    c->zones = xcalloc(c->nzones ? c->nzones : 1, sizeof(cfg_zone_t));
    for (size_t i = 0; i < c->nzones; i++) {
        json_t *z = json_array_get(v, i);
        if (!json_is_object(z)) {
            err_set(x->err, "%s: %s[%zu]: must be an object", x->path, key, i);
            return false;
        }
        const char *k;
        json_t *val;
        json_object_foreach(z, k, val) {
            if (strcmp(k, "name") && strcmp(k, "file")) {
                err_set(x->err, "%s: %s[%zu].%s: unknown key", x->path, key, i, k);
                return false;
            }
            if (!json_is_string(val) || !json_string_length(val)) {
                err_set(x->err, "%s: %s[%zu].%s: must be a non-empty string", x->path, key, i, k);
                return false;
            }
        }
        const char *name = json_string_value(json_object_get(z, "name"));
        uint8_t wire[DNAME_MAXLEN], other[DNAME_MAXLEN];
        if (!name || !dname_from_str(name, wire)) {
            err_set(x->err, "%s: %s[%zu].name: %s", x->path, key, i,
                    name ? "not a valid domain name" : "missing");
            return false;
        }
        size_t wl = dname_from_str(name, wire);
        for (size_t j = 0; j < i; j++) {
            size_t ol = dname_from_str(c->zones[j].name, other);
            if (dname_eq(wire, wl, other, ol)) {
                err_set(x->err, "%s: %s[%zu].name: zone %s is already configured", x->path, key,
                        i, name);
                return false;
            }
        }
        c->zones[i].name = xstrdup(name);
        const char *file = json_string_value(json_object_get(z, "file"));
        char def[DNAME_MAXSTR + 8];
        if (!file) {
            /* Default file name: the zone name without its trailing dot, plus ".zone". */
            size_t nl = strlen(name);
            int keep = (int)(nl > 1 && name[nl - 1] == '.' ? nl - 1 : nl);
            snprintf(def, sizeof(def), "%.*s.zone", keep, name);
            file = def;
        }
        c->zones[i].file = xstrdup(file); /* made relative to zone_dir once all keys are read */
    }
    return true;
}

/* ---- control socket and health start-up ---- */

static bool k_control(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        err_set(x->err, "%s: %s: must be an object {\"socket\": PATH, \"mode\": \"0600\"}",
                x->path, key);
        return false;
    }
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (!strcmp(k, "socket")) {
            if (!json_is_string(val) || !json_string_length(val)) {
                err_set(x->err, "%s: %s.socket: must be a non-empty string", x->path, key);
                return false;
            }
            char *p = join(x->dir, json_string_value(val));
            /* struct sockaddr_un's sun_path holds 108 bytes with the terminator. */
            if (strlen(p) > 107) {
                err_set(x->err, "%s: %s.socket: %s is longer than 107 bytes", x->path, key, p);
                free(p);
                return false;
            }
            free(x->c->control_socket);
            x->c->control_socket = p;
        } else if (!strcmp(k, "mode")) {
            const char *m = json_is_string(val) ? json_string_value(val) : "";
            size_t ml = strlen(m);
            if (ml < 1 || ml > 4 || strspn(m, "01234567") != ml ||
                strtoul(m, NULL, 8) > 0777)
            {
                err_set(x->err, "%s: %s.mode: must be an octal string such as \"0600\"", x->path,
                        key);
                return false;
            }
            x->c->control_mode = (unsigned)strtoul(m, NULL, 8);
        } else {
            err_set(x->err, "%s: %s.%s: unknown key", x->path, key, k);
            return false;
        }
    }
    if (!x->c->control_socket) {
        err_set(x->err, "%s: %s.socket: missing (required)", x->path, key);
        return false;
    }
    return true;
}

static bool k_health(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        err_set(x->err,
                "%s: %s: must be an object {\"startup\": ..., \"priority\": ..., \"cpus\": ...}",
                x->path, key);
        return false;
    }
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        const char *m = json_is_string(val) ? json_string_value(val) : "";
        if (!strcmp(k, "startup")) {
            if (strcmp(m, "wait") && strcmp(m, "initial")) {
                err_set(x->err, "%s: %s.startup: must be \"wait\" or \"initial\"", x->path,
                        key);
                return false;
            }
            x->c->health_startup_wait = !strcmp(m, "wait");
        } else if (!strcmp(k, "priority")) {
            if (strcmp(m, "idle") && strcmp(m, "normal")) {
                err_set(x->err, "%s: %s.priority: must be \"idle\" or \"normal\"", x->path,
                        key);
                return false;
            }
            x->c->health_idle = !strcmp(m, "idle");
        } else if (!strcmp(k, "cpus")) {
            char sub[64];
            snprintf(sub, sizeof(sub), "%s.cpus", key);
            if (!get_cpus(x, sub, val, &x->c->health_cpus, &x->c->nhealth_cpus))
                return false;
        } else {
            err_set(x->err, "%s: %s.%s: unknown key", x->path, key, k);
            return false;
        }
    }
    return true;
}

/* ---- checks: a schema table of check keys ---- */

/* Which check types a key applies to, as a bit per enum health_kind. */
#define KB(k) (1u << (k))
#define KB_WEB (KB(HEALTH_HTTP) | KB(HEALTH_HTTPS))
#define KB_ALL (KB_WEB | KB(HEALTH_TCP) | KB(HEALTH_DNS))
/* Where a key may appear: in an explicit check, in a template's "check" object. */
#define IN_CHECK 1u
#define IN_TEMPLATE 2u
#define IN_BOTH (IN_CHECK | IN_TEMPLATE)

/* Names of checks and templates: they appear in logs, in hadnsctl tables and as the first half
 * of "TEMPLATE/ADDRESS", so no '/' and nothing a shell or a log reader would trip on. */
#define CHECK_NAME_MAX 64

struct cctx {
    struct ctx *x;
    const char *where; /* "checks[2]", "check_templates[0].check" */
    health_spec_t *s;
    bool is_template;
    bool has_port;
    uint16_t port;
    char *url_host;  /* the host of "url", owned */
    bool url_is_ip;
};

static PRINTF(3, 4) bool cerr(struct cctx *cx, const char *key, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(cx->x->err, "%s: %s.%s: %s", cx->x->path, cx->where, key, msg);
    return false;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= CHECK_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* A DNS host name for the Host header and the TLS server name, or an address literal. */
static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (net_addr_is_literal(s))
        return true;
    return n >= 1 && n <= 253 && s[0] != '.' && s[0] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

/* An origin-form request target: "/" then visible ASCII (no spaces, no CR/LF). */
static bool valid_path(const char *s)
{
    if (s[0] != '/')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '#')
            return false;
    }
    return strlen(s) <= 1024;
}

static bool cstr(struct cctx *cx, const char *key, json_t *v, const char **out)
{
    if (!json_is_string(v) || !json_string_length(v) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cerr(cx, key, "must be a non-empty string");
    *out = json_string_value(v);
    return true;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static bool c_seconds(struct cctx *cx, const char *key, json_t *v, unsigned min_ms,
                      unsigned max_ms, unsigned *out)
{
    double d = json_is_number(v) ? json_number_value(v) : -1;
    double ms = d * 1000.0;
    if (!json_is_number(v) || ms + 0.5 < min_ms || ms - 0.5 > max_ms)
        return cerr(cx, key, "must be a number of seconds from %g to %g", min_ms / 1000.0,
                    max_ms / 1000.0);
    *out = (unsigned)(ms + 0.5);
    return true;
}

static bool c_uint(struct cctx *cx, const char *key, json_t *v, long long min, long long max,
                   unsigned *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return cerr(cx, key, "must be an integer from %lld to %lld", min, max);
    *out = (unsigned)json_integer_value(v);
    return true;
}

static bool ck_name(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (!valid_name(s))
        return cerr(cx, key, "must be 1 to %d letters, digits, '.', '_' or '-'",
                    CHECK_NAME_MAX);
    set_str(&cx->s->name, s);
    return true;
}

static bool parse_kind(const char *s, enum health_kind *k)
{
    static const enum health_kind all[] = {HEALTH_HTTP, HEALTH_HTTPS, HEALTH_TCP, HEALTH_DNS};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        if (!strcmp(s, health_kind_name(all[i]))) {
            *k = all[i];
            return true;
        }
    }
    return false;
}

static bool ck_type(struct cctx *cx, const char *key, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!parse_kind(s, &cx->s->kind))
        return cerr(cx, key, "must be one of http, https, tcp, dns");
    return true;
}

/* "http[s]://HOST[:PORT][/PATH]": sets type, host, port and path. The host names the Host
 * header and TLS server name; it is not resolved (a check needs a target address, which an
 * address literal in the URL supplies). */
static bool ck_url(struct cctx *cx, const char *key, json_t *v)
{
    const char *u;
    if (!cstr(cx, key, v, &u))
        return false;
    enum health_kind kind;
    const char *rest;
    if (!strncmp(u, "http://", 7)) {
        kind = HEALTH_HTTP;
        rest = u + 7;
    } else if (!strncmp(u, "https://", 8)) {
        kind = HEALTH_HTTPS;
        rest = u + 8;
    } else {
        return cerr(cx, key, "'%s' is not an http:// or https:// URL", u);
    }
    if (cx->s->kind != (enum health_kind)-1 && cx->s->kind != kind)
        return cerr(cx, key, "the URL's scheme does not match \"type\": %s",
                    health_kind_name(cx->s->kind));
    cx->s->kind = kind;
    size_t alen = strcspn(rest, "/");
    char auth[300];
    if (alen == 0 || alen >= sizeof(auth) || memchr(rest, '@', alen))
        return cerr(cx, key, "'%s': bad host part", u);
    memcpy(auth, rest, alen);
    auth[alen] = '\0';
    char *host = auth, *port = NULL;
    if (auth[0] == '[') {
        char *close = strchr(auth, ']');
        if (!close)
            return cerr(cx, key, "'%s': bad host part", u);
        *close = '\0';
        host = auth + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return cerr(cx, key, "'%s': bad host part", u);
        unsigned char b[16];
        if (inet_pton(AF_INET6, host, b) != 1)
            return cerr(cx, key, "'%s': bad IPv6 address", u);
    } else {
        char *colon = strchr(auth, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (!valid_host(host))
        return cerr(cx, key, "'%s': bad host name '%s'", u, host);
    if (port) {
        char *end;
        unsigned long pn = strtoul(port, &end, 10);
        if (!*port || *end || pn < 1 || pn > 65535 || strspn(port, "0123456789") != strlen(port))
            return cerr(cx, key, "'%s': bad port", u);
        cx->port = (uint16_t)pn;
        cx->has_port = true;
    }
    const char *path = rest[alen] ? rest + alen : "/";
    if (!valid_path(path))
        return cerr(cx, key, "'%s': bad path (visible ASCII, no spaces or '#')", u);
    set_str(&cx->s->path, path);
    free(cx->url_host);
    cx->url_host = xstrdup(host);
    cx->url_is_ip = net_addr_is_literal(host);
    return true;
}

static bool ck_target(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (!net_addr_is_literal(s))
        return cerr(cx, key, "'%s' is not an IPv4 or IPv6 address (host names are not "
                    "resolved)", s);
    set_str(&cx->s->target, s);
    return true;
}

static bool ck_port(struct cctx *cx, const char *key, json_t *v)
{
    unsigned p = 0;
    if (!c_uint(cx, key, v, 1, 65535, &p))
        return false;
    cx->port = (uint16_t)p;
    cx->has_port = true;
    return true;
}

static bool ck_method(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (strlen(s) > 16 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(s))
        return cerr(cx, key, "must be an HTTP method in capitals, such as GET or HEAD");
    set_str(&cx->s->method, s);
    return true;
}

static bool ck_path(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (!valid_path(s))
        return cerr(cx, key, "must start with '/' and hold visible ASCII only (no spaces, no "
                    "'#')");
    set_str(&cx->s->path, s);
    return true;
}

static bool ck_host(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (!valid_host(s))
        return cerr(cx, key, "must be a host name or an address (letters, digits, '.', '-')");
    set_str(&cx->s->host, s);
    return true;
}

/* 32 accepted status codes is more than any health page needs. */
#define EXPECT_MAX 32

static bool ck_expect(struct cctx *cx, const char *key, json_t *v)
{
    if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > EXPECT_MAX)
        return cerr(cx, key, "must be an array of 1 to %d HTTP status codes", EXPECT_MAX);
    health_spec_t *s = cx->s;
    free(s->expect);
    s->nexpect = json_array_size(v);
    s->expect = xcalloc(s->nexpect, sizeof(uint16_t));
    for (size_t i = 0; i < s->nexpect; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 100 || json_integer_value(e) > 599) {
            char k[64];
            snprintf(k, sizeof(k), "%s[%zu]", key, i);
            return cerr(cx, k, "must be an HTTP status code from 100 to 599");
        }
        s->expect[i] = (uint16_t)json_integer_value(e);
    }
    return true;
}

static bool ck_body(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    if (strlen(s) > HEALTH_BODY_MAX)
        return cerr(cx, key, "at most %d bytes", HEALTH_BODY_MAX);
    set_str(&cx->s->body, s);
    return true;
}

static bool ck_tls_verify(struct cctx *cx, const char *key, json_t *v)
{
    if (!json_is_boolean(v))
        return cerr(cx, key, "must be true or false");
    cx->s->tls_verify = json_is_true(v);
    return true;
}

static bool ck_reuse_connection(struct cctx *cx, const char *key, json_t *v)
{
    if (!json_is_boolean(v))
        return cerr(cx, key, "must be true or false");
    cx->s->reuse_connection = json_is_true(v);
    return true;
}

static bool ck_tls_ca(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    if (!cstr(cx, key, v, &s))
        return false;
    char *p = join(cx->x->dir, s);
    if (access(p, R_OK) != 0) {
        cerr(cx, key, "cannot read %s: %s", p, strerror(errno));
        free(p);
        return false;
    }
    free(cx->s->tls_ca);
    cx->s->tls_ca = p;
    return true;
}

static bool ck_query(struct cctx *cx, const char *key, json_t *v)
{
    const char *s;
    uint8_t wire[DNAME_MAXLEN];
    if (!cstr(cx, key, v, &s))
        return false;
    if (!dname_from_str(s, wire))
        return cerr(cx, key, "'%s' is not a valid domain name", s);
    set_str(&cx->s->dns_name, s);
    return true;
}

static const struct {
    const char *name;
    uint16_t type;
} qtypes[] = {{"A", 1},      {"NS", 2},    {"CNAME", 5}, {"SOA", 6},    {"PTR", 12},
              {"MX", 15},    {"TXT", 16},  {"AAAA", 28}, {"SRV", 33},   {"DS", 43},
              {"DNSKEY", 48}, {"SVCB", 64}, {"HTTPS", 65}, {"CAA", 257}};

static bool ck_qtype(struct cctx *cx, const char *key, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    for (size_t i = 0; i < ARRAY_SIZE(qtypes); i++) {
        if (!strcasecmp(s, qtypes[i].name)) {
            cx->s->dns_type = qtypes[i].type;
            return true;
        }
    }
    char *end;
    if (!strncasecmp(s, "TYPE", 4) && s[4] >= '0' && s[4] <= '9') {
        unsigned long t = strtoul(s + 4, &end, 10);
        if (!*end && t >= 1 && t <= 65535) {
            cx->s->dns_type = (uint16_t)t;
            return true;
        }
    }
    return cerr(cx, key, "must be a record type such as SOA, A, AAAA, NS or TYPE65280");
}

/* An interval from 0.1 s (tests; a health page probed ten times a second) to an hour. */
#define INTERVAL_MIN_MS 100
#define INTERVAL_MAX_MS 3600000

static bool ck_interval(struct cctx *cx, const char *key, json_t *v)
{
    return c_seconds(cx, key, v, INTERVAL_MIN_MS, INTERVAL_MAX_MS, &cx->s->interval_ms);
}

static bool ck_timeout(struct cctx *cx, const char *key, json_t *v)
{
    return c_seconds(cx, key, v, 50, INTERVAL_MAX_MS, &cx->s->timeout_ms);
}

static bool ck_rise(struct cctx *cx, const char *key, json_t *v)
{
    return c_uint(cx, key, v, 1, 100, &cx->s->rise);
}

static bool ck_fall(struct cctx *cx, const char *key, json_t *v)
{
    return c_uint(cx, key, v, 1, 100, &cx->s->fall);
}

static bool ck_initial(struct cctx *cx, const char *key, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "up"))
        cx->s->initial = HEALTH_UP;
    else if (!strcmp(s, "down"))
        cx->s->initial = HEALTH_DOWN;
    else
        return cerr(cx, key, "must be \"up\" or \"down\"");
    return true;
}

typedef bool (*ckey_fn)(struct cctx *cx, const char *key, json_t *v);

/* The check schema: key, parser, where it may appear, which types it applies to. "type" and
 * "url" come first: the others are validated against the type. */
static const struct ckey {
    const char *name;
    ckey_fn fn;
    unsigned in;
    unsigned kinds;
} check_keys[] = {
    {"type", ck_type, IN_BOTH, KB_ALL},
    {"url", ck_url, IN_BOTH, KB_WEB},
    {"name", ck_name, IN_CHECK, KB_ALL},
    {"target", ck_target, IN_CHECK, KB_ALL},
    {"port", ck_port, IN_BOTH, KB_ALL},
    {"method", ck_method, IN_BOTH, KB_WEB},
    {"path", ck_path, IN_BOTH, KB_WEB},
    {"host", ck_host, IN_BOTH, KB_WEB},
    {"expect", ck_expect, IN_BOTH, KB_WEB},
    {"body", ck_body, IN_BOTH, KB_WEB},
    {"reuse_connection", ck_reuse_connection, IN_BOTH, KB_WEB},
    {"tls_verify", ck_tls_verify, IN_BOTH, KB(HEALTH_HTTPS)},
    {"tls_ca", ck_tls_ca, IN_BOTH, KB(HEALTH_HTTPS)},
    {"query", ck_query, IN_BOTH, KB(HEALTH_DNS)},
    {"qtype", ck_qtype, IN_BOTH, KB(HEALTH_DNS)},
    {"interval", ck_interval, IN_BOTH, KB_ALL},
    {"timeout", ck_timeout, IN_BOTH, KB_ALL},
    {"rise", ck_rise, IN_BOTH, KB_ALL},
    {"fall", ck_fall, IN_BOTH, KB_ALL},
    {"initial", ck_initial, IN_BOTH, KB_ALL},
};

static const char *kinds_text(unsigned kinds)
{
    if (kinds == KB_WEB)
        return "http and https";
    if (kinds == KB(HEALTH_HTTPS))
        return "https";
    if (kinds == KB(HEALTH_DNS))
        return "dns";
    return "other";
}

static uint16_t default_port(enum health_kind k)
{
    return k == HEALTH_HTTP ? 80 : k == HEALTH_HTTPS ? 443 : k == HEALTH_DNS ? 53 : 0;
}

/* Sets addr from an address literal and a port. */
static void set_addr(health_spec_t *s, const char *ip, uint16_t port)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&s->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s->addr;
    memset(&s->addr, 0, sizeof(s->addr));
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        s->addrlen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        s->addrlen = sizeof(*v6);
    }
}

/* Parses one check object at `where` into s (zeroed by the caller). A template's check has no
 * name or target; its port goes to *port. */
static bool parse_check(struct ctx *x, const char *where, json_t *obj, bool is_template,
                        health_spec_t *s, uint16_t *port)
{
    struct cctx cx = {.x = x, .where = where, .s = s, .is_template = is_template};
    bool ok = false;
    if (!json_is_object(obj)) {
        err_set(x->err, "%s: %s: must be an object", x->path, where);
        return false;
    }
    s->kind = (enum health_kind)-1;
    s->tls_verify = true;
    /* Keep-alive by default, as Envoy's HTTP health checker does: a probe on an open
     * connection costs the target and us a request, not a TCP (and TLS) handshake. */
    s->reuse_connection = true;
    s->interval_ms = CONF_DEFAULT_INTERVAL_MS;
    s->rise = CONF_DEFAULT_RISE;
    s->fall = CONF_DEFAULT_FALL;
    s->initial = HEALTH_UP;
    s->dns_type = 6; /* SOA: every zone has one at its apex */
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        const struct ckey *ck = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(check_keys); i++) {
            if (!strcmp(check_keys[i].name, k))
                ck = &check_keys[i];
        }
        if (!ck) {
            cerr(&cx, k, "unknown key");
            goto out;
        }
        if (!(ck->in & (is_template ? IN_TEMPLATE : IN_CHECK))) {
            cerr(&cx, k, "not allowed in a template's check (the template names it, the zone "
                 "gives the address)");
            goto out;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(check_keys); i++) {
        const struct ckey *ck = &check_keys[i];
        json_t *val = json_object_get(obj, ck->name);
        if (!val)
            continue;
        if (s->kind != (enum health_kind)-1 && !(ck->kinds & KB(s->kind))) {
            cerr(&cx, ck->name, "only for %s checks, this one is %s", kinds_text(ck->kinds),
                 health_kind_name(s->kind));
            goto out;
        }
        if (!ck->fn(&cx, ck->name, val))
            goto out;
    }
    if (s->kind == (enum health_kind)-1) {
        cerr(&cx, "type", "missing (required unless \"url\" gives it)");
        goto out;
    }
    if (!is_template && !s->name) {
        cerr(&cx, "name", "missing (required)");
        goto out;
    }
    if (cx.url_host && !s->host)
        s->host = xstrdup(cx.url_host);
    if (!is_template && !s->target) {
        if (cx.url_host && cx.url_is_ip) {
            s->target = xstrdup(cx.url_host);
        } else {
            cerr(&cx, "target", "missing (the address to probe; required unless \"url\" "
                 "names an address)");
            goto out;
        }
    }
    if (!cx.has_port) {
        cx.port = default_port(s->kind);
        if (!cx.port) {
            cerr(&cx, "port", "missing (required for %s checks)", health_kind_name(s->kind));
            goto out;
        }
    }
    if (s->kind == HEALTH_DNS && !s->dns_name) {
        cerr(&cx, "query", "missing (the name a dns check asks for)");
        goto out;
    }
    if (s->body && s->method && !strcmp(s->method, "HEAD")) {
        cerr(&cx, "body", "a HEAD request has no body to search");
        goto out;
    }
    if (!json_object_get(obj, "timeout"))
        s->timeout_ms = s->interval_ms < CONF_DEFAULT_TIMEOUT_MS ? s->interval_ms
                                                                 : CONF_DEFAULT_TIMEOUT_MS;
    if (s->timeout_ms > s->interval_ms) {
        cerr(&cx, "timeout", "must not exceed the interval (%g s)", s->interval_ms / 1000.0);
        goto out;
    }
    if (s->kind == HEALTH_HTTP || s->kind == HEALTH_HTTPS) {
        if (!s->method)
            s->method = xstrdup("GET");
        if (!s->path)
            s->path = xstrdup("/");
    }
    if (s->kind != HEALTH_HTTPS)
        s->tls_verify = false;
    if (s->kind != HEALTH_HTTP && s->kind != HEALTH_HTTPS)
        s->reuse_connection = false;
    *port = cx.port;
    if (!is_template)
        set_addr(s, s->target, cx.port);
    ok = true;
out:
    free(cx.url_host);
    return ok;
}

static bool k_checks(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_array(v)) {
        err_set(x->err, "%s: %s: must be an array of check objects", x->path, key);
        return false;
    }
    cfg_t *c = x->c;
    size_t n = json_array_size(v);
    c->checks = xcalloc(n ? n : 1, sizeof(health_spec_t));
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", key, i);
        uint16_t port;
        c->nchecks = i + 1; /* so that conf_free frees a half-parsed one too */
        if (!parse_check(x, where, json_array_get(v, i), false, &c->checks[i], &port))
            return false;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->checks[j].name, c->checks[i].name)) {
                err_set(x->err, "%s: %s.name: check %s is already defined in %s[%zu]", x->path,
                        where, c->checks[i].name, key, j);
                return false;
            }
        }
    }
    return true;
}

static bool k_templates(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_array(v)) {
        err_set(x->err, "%s: %s: must be an array of template objects", x->path, key);
        return false;
    }
    cfg_t *c = x->c;
    size_t n = json_array_size(v);
    c->templates = xcalloc(n ? n : 1, sizeof(cfg_template_t));
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(v, i);
        cfg_template_t *t = &c->templates[i];
        c->ntemplates = i + 1;
        if (!json_is_object(o)) {
            err_set(x->err, "%s: %s[%zu]: must be an object", x->path, key, i);
            return false;
        }
        const char *k;
        json_t *val;
        json_object_foreach(o, k, val) {
            if (strcmp(k, "name") && strcmp(k, "zone") && strcmp(k, "owner") &&
                strcmp(k, "type") && strcmp(k, "check"))
            {
                err_set(x->err, "%s: %s[%zu].%s: unknown key", x->path, key, i, k);
                return false;
            }
            if (strcmp(k, "check") && (!json_is_string(val) || !json_string_length(val))) {
                err_set(x->err, "%s: %s[%zu].%s: must be a non-empty string", x->path, key, i,
                        k);
                return false;
            }
        }
        static const char *const required[] = {"name", "zone", "owner", "type", "check"};
        for (size_t r = 0; r < ARRAY_SIZE(required); r++) {
            if (!json_object_get(o, required[r])) {
                err_set(x->err, "%s: %s[%zu].%s: missing (required)", x->path, key, i,
                        required[r]);
                return false;
            }
        }
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!valid_name(name)) {
            err_set(x->err, "%s: %s[%zu].name: must be 1 to %d letters, digits, '.', '_' or '-'",
                    x->path, key, i, CHECK_NAME_MAX);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->templates[j].name, name)) {
                err_set(x->err, "%s: %s[%zu].name: template %s is already defined", x->path,
                        key, i, name);
                return false;
            }
        }
        t->name = xstrdup(name);
        const char *type = json_string_value(json_object_get(o, "type"));
        if (!strcasecmp(type, "A")) {
            t->rrtype = 1;
        } else if (!strcasecmp(type, "AAAA")) {
            t->rrtype = 28;
        } else {
            err_set(x->err, "%s: %s[%zu].type: must be A or AAAA (the RRset whose addresses "
                    "are checked)", x->path, key, i);
            return false;
        }
        const char *zone = json_string_value(json_object_get(o, "zone"));
        const char *owner = json_string_value(json_object_get(o, "owner"));
        uint8_t zw[DNAME_MAXLEN];
        size_t zl = dname_from_str(zone, zw);
        if (!zl) {
            err_set(x->err, "%s: %s[%zu].zone: not a valid domain name", x->path, key, i);
            return false;
        }
        t->zone = xstrdup(zone);
        char text[DNAME_MAXSTR];
        if (!dname_from_str(zone, zw) || !conf_owner_abs(zone, owner, text)) {
            err_set(x->err, "%s: %s[%zu].owner: '%s' is not a name in zone %s", x->path, key, i,
                    owner, zone);
            return false;
        }
        t->owner = xstrdup(text);
        char where[80];
        snprintf(where, sizeof(where), "%s[%zu].check", key, i);
        if (!parse_check(x, where, json_object_get(o, "check"), true, &t->check, &t->port))
            return false;
        t->check.group = xstrdup(name);
    }
    return true;
}

static bool k_policies(struct ctx *x, const char *key, json_t *v)
{
    return conf_policies_parse(x->c, x->path, key, v, x->err);
}

/* "geoip": {"database": "GeoLite2-City.mmdb"}; the file is opened by the server (a missing or
 * corrupt database stops the start with its own message). */
static bool k_geoip(struct ctx *x, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        err_set(x->err, "%s: %s: must be an object with \"database\"", x->path, key);
        return false;
    }
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (strcmp(k, "database")) {
            err_set(x->err, "%s: %s.%s: unknown key", x->path, key, k);
            return false;
        }
        if (!json_is_string(val) || !json_string_length(val)) {
            err_set(x->err, "%s: %s.%s: must be the path of a .mmdb file", x->path, key, k);
            return false;
        }
        free(x->c->geoip_database);
        x->c->geoip_database = join(x->dir, json_string_value(val));
    }
    if (!x->c->geoip_database) {
        err_set(x->err, "%s: %s.database: missing (required)", x->path, key);
        return false;
    }
    return true;
}

static const struct key {
    const char *name;
    key_fn fn;
    bool required;
} keys[] = {
    {"listen", k_listen, true},
    {"workers", k_workers, false},
    {"worker_cpus", k_worker_cpus, false},
    {"udp_payload", k_udp_payload, false},
    {"tcp_idle_timeout", k_tcp_idle, false},
    {"tcp_max_connections", k_tcp_max, false},
    {"nsid", k_nsid, false},
    {"log_level", k_log_level, false},
    {"zone_dir", k_zone_dir, false},
    {"zones", k_zones, true},
    {"control", k_control, false},
    {"health", k_health, false},
    {"checks", k_checks, false},
    {"check_templates", k_templates, false},
    {"policies", k_policies, false},
    {"geoip", k_geoip, false},
};

cfg_t *conf_load(const char *path, hadns_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0)
            err_set(err, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        else
            err_set(err, "%s: %s", path, jerr.text);
        return NULL;
    }
    cfg_t *c = xcalloc(1, sizeof(*c));
    c->path = xstrdup(path);
    c->udp_payload = CONF_DEFAULT_UDP_PAYLOAD;
    c->tcp_idle_timeout = CONF_DEFAULT_TCP_IDLE;
    c->tcp_max_connections = CONF_DEFAULT_TCP_MAX;
    c->log_level = LOG_LVL_INFO;
    c->control_mode = CONF_DEFAULT_CONTROL_MODE;
    c->health_startup_wait = true;
    c->health_idle = true;
    /* Relative paths (zone_dir, the control socket, CA files) start at the config file's
     * directory, so the config works from any working directory. */
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        strcpy(dir, ".");
    struct ctx x = {c, path, dir, err};
    bool ok = false;

    if (!json_is_object(root)) {
        err_set(err, "%s: the top level must be a JSON object", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        const struct key *found = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            if (!strcmp(keys[i].name, k))
                found = &keys[i];
        }
        if (!found) {
            err_set(err, "%s: %s: unknown key", path, k);
            goto out;
        }
        if (!found->fn(&x, k, v))
            goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (keys[i].required && !json_object_get(root, keys[i].name)) {
            err_set(err, "%s: %s: missing (required)", path, keys[i].name);
            goto out;
        }
    }
    if (c->workers == 0 && c->nworker_cpus)
        c->workers = (unsigned)(c->nworker_cpus < 256 ? c->nworker_cpus : 256);
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
    }
    /* Zone files are relative to zone_dir, itself relative to the config file's directory. */
    {
        char *zd = join(dir, c->zone_dir ? c->zone_dir : ".");
        free(c->zone_dir);
        c->zone_dir = zd;
        for (size_t i = 0; i < c->nzones; i++) {
            char *f = join(c->zone_dir, c->zones[i].file);
            free(c->zones[i].file);
            c->zones[i].file = f;
        }
    }
    /* A template names a zone this server serves. */
    for (size_t i = 0; i < c->ntemplates; i++) {
        uint8_t tw[DNAME_MAXLEN], zw[DNAME_MAXLEN];
        size_t tl = dname_from_str(c->templates[i].zone, tw);
        bool found = false;
        for (size_t j = 0; j < c->nzones && !found; j++) {
            size_t zl = dname_from_str(c->zones[j].name, zw);
            found = dname_eq(tw, tl, zw, zl);
        }
        if (!found) {
            err_set(err, "%s: check_templates[%zu].zone: zone %s is not in \"zones\"", path, i,
                    c->templates[i].zone);
            goto out;
        }
    }
    if (!conf_policies_check(c, path, err))
        goto out;
    ok = true;
out:
    free(dir);
    json_decref(root);
    if (!ok) {
        conf_free(c);
        return NULL;
    }
    return c;
}

void conf_free(cfg_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nlisten; i++)
        free(c->listen[i].text);
    free(c->listen);
    for (size_t i = 0; i < c->nzones; i++) {
        free(c->zones[i].name);
        free(c->zones[i].file);
    }
    free(c->zones);
    for (size_t i = 0; i < c->nchecks; i++)
        health_spec_fini(&c->checks[i]);
    free(c->checks);
    for (size_t i = 0; i < c->ntemplates; i++) {
        free(c->templates[i].name);
        free(c->templates[i].zone);
        free(c->templates[i].owner);
        health_spec_fini(&c->templates[i].check);
    }
    free(c->templates);
    conf_policies_free(c);
    free(c->geoip_database);
    free(c->worker_cpus);
    free(c->health_cpus);
    free(c->control_socket);
    free(c->nsid);
    free(c->zone_dir);
    free(c->path);
    free(c);
}
