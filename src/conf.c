/* SPDX-License-Identifier: MIT */
/* conf.c: JSON config -> cfg_t through a table of keys; every error names its key. */
#include "config.h"
#include "conf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dname.h"
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
            snprintf(def, sizeof(def), "%.*s.zone", (int)(nl > 1 && name[nl - 1] == '.' ? nl - 1 : nl),
                     name);
            file = def;
        }
        c->zones[i].file = xstrdup(file); /* made relative to zone_dir once all keys are read */
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
    {"udp_payload", k_udp_payload, false},
    {"tcp_idle_timeout", k_tcp_idle, false},
    {"tcp_max_connections", k_tcp_max, false},
    {"nsid", k_nsid, false},
    {"log_level", k_log_level, false},
    {"zone_dir", k_zone_dir, false},
    {"zones", k_zones, true},
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
    struct ctx x = {c, path, err};
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
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
    }
    /* Relative paths: zone_dir against the config file's directory, zone files against
     * zone_dir, so the config works from any working directory. */
    {
        char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        else
            strcpy(dir, ".");
        char *zd = join(dir, c->zone_dir ? c->zone_dir : ".");
        free(dir);
        free(c->zone_dir);
        c->zone_dir = zd;
        for (size_t i = 0; i < c->nzones; i++) {
            char *f = join(c->zone_dir, c->zones[i].file);
            free(c->zones[i].file);
            c->zones[i].file = f;
        }
    }
    ok = true;
out:
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
    free(c->nsid);
    free(c->zone_dir);
    free(c->path);
    free(c);
}
