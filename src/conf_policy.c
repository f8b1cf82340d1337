/* SPDX-License-Identifier: MIT */
/* conf_policy.c: the "policies" config key -> cfg_policy_t rule trees. Every error names the
 * JSON path of the offending value ("policies[0].answer.geo.country:DE[1]"). */
#include "config.h"
#include "conf_policy.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net.h"
#include "xalloc.h"

/* A rule tree deeper than this is a config mistake, and the query path walks it recursively:
 * the bound keeps that walk's stack small. */
#define RULE_DEPTH_MAX 8
/* Rules per policy: a few groups of a few members each; the bound keeps a typo (a group
 * referenced from everywhere) from building a huge tree. */
#define RULES_MAX 256
/* Group names share the check-name alphabet; 63 is one DNS label. */
#define GROUP_NAME_MAX 63

bool conf_owner_abs(const char *zone, const char *owner, char out[DNAME_MAXSTR])
{
    char abs[2 * DNAME_MAXSTR];
    size_t zlen = strlen(zone), olen = strlen(owner);
    bool zdot = zlen && zone[zlen - 1] == '.';
    if (!olen)
        return false;
    if (!strcmp(owner, "@"))
        snprintf(abs, sizeof(abs), "%s%s", zone, zdot ? "" : ".");
    else if (owner[olen - 1] == '.')
        snprintf(abs, sizeof(abs), "%s", owner);
    else
        snprintf(abs, sizeof(abs), "%s.%s%s", owner, zone, zdot ? "" : ".");
    uint8_t zw[DNAME_MAXLEN], ow[DNAME_MAXLEN];
    size_t zl = dname_from_str(zone, zw), ol = dname_from_str(abs, ow);
    if (!zl || !ol || !dname_is_subdomain(ow, ol, zw, zl))
        return false;
    dname_to_str(ow, out);
    return true;
}

/* JSON paths in messages ("answer.geo.country:DE[1]"); deeper ones are cut short. */
#define AT_MAX 300

static PRINTF(2, 3) void at_fmt(char out[AT_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, AT_MAX, fmt, ap);
    va_end(ap);
}

/* One policy being parsed. */
struct pctx {
    const char *path;
    hadns_err_t *err;
    cfg_policy_t *p;
    char where[64]; /* "policies[3]" */
    json_t *groups; /* the "groups" object, or NULL */
    /* per group (in json_object_iter order): its rule index once parsed, or a state */
    const char **gname;
    long *grule; /* -1 not parsed yet, -2 being parsed (a cycle if met again) */
    size_t ngroups;
    unsigned depth;
};

static PRINTF(3, 4) bool perr(struct pctx *x, const char *at, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(x->err, "%s: %s.%s: %s", x->path, x->where, at, msg);
    return false;
}

/* The address as rdata of the policy's type; false if it is not one. */
static bool parse_address(const cfg_policy_t *p, const char *s, uint8_t out[16])
{
    return inet_pton(p->rrtype == 1 ? AF_INET : AF_INET6, s, out) == 1;
}

/* The candidate for this address, made on first use. */
static long candidate(struct pctx *x, const char *at, const char *s)
{
    cfg_policy_t *p = x->p;
    uint8_t a[16];
    if (!parse_address(p, s, a)) {
        if (net_addr_is_literal(s))
            perr(x, at, "'%s' is not an %s address (the policy's type)", s,
                 p->rrtype == 1 ? "IPv4" : "IPv6");
        else
            perr(x, at, "'%s' is neither a group of this policy nor an address", s);
        return -1;
    }
    size_t alen = p->rrtype == 1 ? 4 : 16;
    for (size_t i = 0; i < p->ncands; i++) {
        if (!memcmp(p->cands[i].addr, a, alen))
            return (long)i;
    }
    if (p->ncands == CONF_POLICY_MAX_CANDIDATES) {
        perr(x, at, "more than %d candidates in one policy", CONF_POLICY_MAX_CANDIDATES);
        return -1;
    }
    p->cands = xrealloc(p->cands, (p->ncands + 1) * sizeof(*p->cands));
    cfg_candidate_t *c = &p->cands[p->ncands];
    memset(c, 0, sizeof(*c));
    c->address = xstrdup(s);
    memcpy(c->addr, a, alen);
    return (long)p->ncands++;
}

static long new_rule(struct pctx *x, const char *at, uint8_t kind)
{
    cfg_policy_t *p = x->p;
    if (p->nrules == RULES_MAX) {
        perr(x, at, "more than %d rules in one policy", RULES_MAX);
        return -1;
    }
    p->rules = xrealloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
    cfg_rule_t *r = &p->rules[p->nrules];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->where = xstrdup(at);
    return (long)p->nrules++;
}

static void add_kid(cfg_policy_t *p, long rule, unsigned kid)
{
    cfg_rule_t *r = &p->rules[rule];
    r->kids = xrealloc(r->kids, (r->nkids + 1) * sizeof(*r->kids));
    r->kids[r->nkids++] = kid;
}

static long parse_rule(struct pctx *x, const char *at, json_t *v);

/* A name in a rule: a group of the policy, else an address (a candidate's one-member rule). */
static long name_rule(struct pctx *x, const char *at, const char *s)
{
    for (size_t g = 0; g < x->ngroups; g++) {
        if (strcmp(x->gname[g], s))
            continue;
        if (x->grule[g] == -2) {
            perr(x, at, "group '%s' contains itself", s);
            return -1;
        }
        if (x->grule[g] >= 0)
            return x->grule[g];
        x->grule[g] = -2;
        char gat[AT_MAX];
        at_fmt(gat, "groups.%s", s);
        json_t *gv = json_object_get(x->groups, s);
        long r;
        if (json_is_array(gv)) {
            /* A group written as a list: its members answer together (every healthy one). */
            r = new_rule(x, gat, RULE_ALL_HEALTHY);
            for (size_t i = 0; r >= 0 && i < json_array_size(gv); i++) {
                char mat[AT_MAX];
                at_fmt(mat, "%s[%zu]", gat, i);
                long k = parse_rule(x, mat, json_array_get(gv, i));
                if (k < 0)
                    return -1;
                add_kid(x->p, r, (unsigned)k);
            }
            if (r >= 0 && !x->p->rules[r].nkids) {
                perr(x, gat, "an empty group");
                return -1;
            }
        } else {
            r = parse_rule(x, gat, gv);
        }
        if (r < 0)
            return -1;
        x->grule[g] = r;
        return r;
    }
    long c = candidate(x, at, s);
    if (c < 0)
        return -1;
    cfg_policy_t *p = x->p;
    for (size_t i = 0; i < p->nrules; i++) {
        if (p->rules[i].kind == RULE_CANDIDATE && p->rules[i].cand == (unsigned)c)
            return (long)i;
    }
    long r = new_rule(x, at, RULE_CANDIDATE);
    if (r >= 0)
        p->rules[r].cand = (unsigned)c;
    return r;
}

/* A list of rules as the members of rule r. */
static bool list_into(struct pctx *x, const char *at, json_t *v, long r, bool allow_empty)
{
    if (!json_is_array(v) || (!allow_empty && !json_array_size(v)))
        return perr(x, at, "must be a non-empty list of groups or addresses");
    for (size_t i = 0; i < json_array_size(v); i++) {
        char mat[AT_MAX];
        at_fmt(mat, "%s[%zu]", at, i);
        long k = parse_rule(x, mat, json_array_get(v, i));
        if (k < 0)
            return false;
        add_kid(x->p, r, (unsigned)k);
    }
    return true;
}

static bool count_key(struct pctx *x, const char *at, json_t *o, const char *key, unsigned dflt,
                      unsigned *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > CONF_POLICY_MAX_CANDIDATES)
    {
        char kat[AT_MAX];
        at_fmt(kat, "%s.%s", at, key);
        return perr(x, kat, "must be an integer from 1 to %d", CONF_POLICY_MAX_CANDIDATES);
    }
    *out = (unsigned)json_integer_value(v);
    return true;
}

/* "continent:EU", "country:DE", "subdivision:US-CA". */
static bool geo_key(const char *s, cfg_geo_key_t *k)
{
    static const char *const continents[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
    const char *c;
    memset(k, 0, sizeof(*k));
    if (!strncmp(s, "continent:", 10)) {
        c = s + 10;
        for (size_t i = 0; i < ARRAY_SIZE(continents); i++) {
            if (!strcasecmp(c, continents[i])) {
                k->level = GEO_CONTINENT;
                memcpy(k->code, continents[i], 2);
                return true;
            }
        }
        return false;
    }
    size_t n;
    if (!strncmp(s, "country:", 8)) {
        c = s + 8;
        n = strlen(c);
        if (n != 2 || strspn(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != 2)
            return false;
        k->level = GEO_COUNTRY;
    } else if (!strncmp(s, "subdivision:", 12)) {
        c = s + 12;
        n = strlen(c);
        /* ISO 3166-2: the country, '-', then one to three letters or digits. */
        if (n < 4 || n > 6 || c[2] != '-' ||
            strspn(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != 2 ||
            strspn(c + 3, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                n - 3)
            return false;
        k->level = GEO_SUBDIVISION;
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        k->code[i] = (char)(c[i] >= 'a' && c[i] <= 'z' ? c[i] - 32 : c[i]);
    return true;
}

static long parse_object_rule(struct pctx *x, const char *at, json_t *o)
{
    static const char *const kinds[] = {"failover", "all_healthy", "weighted", "geo", "nearest"};
    const char *kind = NULL;
    const char *k;
    json_t *val;
    json_object_foreach(o, k, val) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
            if (!strcmp(k, kinds[i])) {
                if (kind) {
                    perr(x, at, "one of failover, all_healthy, weighted, geo, nearest per "
                         "rule (found %s and %s)", kind, k);
                    return -1;
                }
                kind = kinds[i];
                known = true;
            }
        }
        if (!known && strcmp(k, "max") && strcmp(k, "count")) {
            char kat[AT_MAX];
            at_fmt(kat, "%s.%s", at, k);
            perr(x, kat, "unknown key");
            return -1;
        }
    }
    if (!kind) {
        perr(x, at, "a rule object needs one of failover, all_healthy, weighted, geo, nearest");
        return -1;
    }
    char kat[AT_MAX];
    at_fmt(kat, "%s.%s", at, kind);
    json_t *body = json_object_get(o, kind);
    bool wants_max = !strcmp(kind, "all_healthy");
    bool wants_count = !strcmp(kind, "weighted") || !strcmp(kind, "nearest");
    if ((json_object_get(o, "max") && !wants_max) || (json_object_get(o, "count") && !wants_count))
    {
        perr(x, at, "\"%s\" does not take \"%s\"", kind,
             json_object_get(o, "max") ? "max" : "count");
        return -1;
    }
    long r;
    if (!strcmp(kind, "failover") || !strcmp(kind, "all_healthy") || !strcmp(kind, "nearest")) {
        uint8_t rk = kind[0] == 'f' ? RULE_FAILOVER : kind[0] == 'a' ? RULE_ALL_HEALTHY
                                                                      : RULE_NEAREST;
        r = new_rule(x, at, rk);
        if (r < 0 || !list_into(x, kat, body, r, false))
            return -1;
        unsigned n;
        if (!count_key(x, at, o, wants_max ? "max" : "count", wants_max ? 0 : 1, &n))
            return -1;
        x->p->rules[r].count = n;
        return r;
    }
    if (!strcmp(kind, "weighted")) {
        /* {"weighted": {"NAME": weight, ...}}: names of groups or addresses. */
        if (!json_is_object(body) || !json_object_size(body)) {
            perr(x, kat, "must be an object of group or address: weight");
            return -1;
        }
        r = new_rule(x, at, RULE_WEIGHTED);
        if (r < 0)
            return -1;
        unsigned n;
        if (!count_key(x, at, o, "count", 1, &n))
            return -1;
        x->p->rules[r].count = n;
        json_object_foreach(body, k, val) {
            char mat[AT_MAX];
            at_fmt(mat, "%s.%s", kat, k);
            if (!json_is_integer(val) || json_integer_value(val) < 0 ||
                json_integer_value(val) > 1000000)
            {
                perr(x, mat, "a weight must be an integer from 0 to 1000000");
                return -1;
            }
            long kid = name_rule(x, mat, k);
            if (kid < 0)
                return -1;
            cfg_rule_t *rr = &x->p->rules[r];
            rr->weights = xrealloc(rr->weights, (rr->nkids + 1) * sizeof(*rr->weights));
            rr->weights[rr->nkids] = (unsigned)json_integer_value(val);
            add_kid(x->p, r, (unsigned)kid);
        }
        return r;
    }
    /* geo: {"continent:EU": RULE, "country:DE": RULE, ..., "default": RULE}; a list is an
     * ordered failover list (the first member with a healthy candidate answers). */
    if (!json_is_object(body) || !json_object_size(body)) {
        perr(x, kat, "must be an object of \"continent:XX\" / \"country:XX\" / "
             "\"subdivision:XX-YY\" / \"default\": rule");
        return -1;
    }
    r = new_rule(x, at, RULE_GEO);
    if (r < 0)
        return -1;
    json_t *dflt = NULL;
    json_object_foreach(body, k, val) {
        char mat[AT_MAX];
        at_fmt(mat, "%s.%s", kat, k);
        if (!strcmp(k, "default")) {
            dflt = val;
            continue;
        }
        cfg_geo_key_t gk;
        if (!geo_key(k, &gk)) {
            perr(x, mat, "not a region: use \"continent:EU\" (AF AN AS EU NA OC SA), "
                 "\"country:DE\" (ISO 3166-1) or \"subdivision:US-CA\" (ISO 3166-2)");
            return -1;
        }
        cfg_rule_t *rr = &x->p->rules[r];
        for (size_t i = 0; i < rr->nkeys; i++) {
            if (rr->keys[i].level == gk.level && !strcmp(rr->keys[i].code, gk.code)) {
                perr(x, mat, "the same region twice");
                return -1;
            }
        }
        long kid = parse_rule(x, mat, val);
        if (kid < 0)
            return -1;
        rr = &x->p->rules[r];
        rr->keys = xrealloc(rr->keys, (rr->nkeys + 1) * sizeof(*rr->keys));
        rr->keys[rr->nkeys++] = gk;
        add_kid(x->p, r, (unsigned)kid);
    }
    if (dflt) {
        char mat[AT_MAX];
        at_fmt(mat, "%s.default", kat);
        long kid = parse_rule(x, mat, dflt);
        if (kid < 0)
            return -1;
        add_kid(x->p, r, (unsigned)kid);
        x->p->rules[r].has_default = true;
    }
    return r;
}

static long parse_rule(struct pctx *x, const char *at, json_t *v)
{
    if (++x->depth > RULE_DEPTH_MAX) {
        perr(x, at, "rules nested more than %d deep", RULE_DEPTH_MAX);
        return -1;
    }
    long r = -1;
    if (json_is_string(v) && json_string_length(v)) {
        r = name_rule(x, at, json_string_value(v));
    } else if (json_is_array(v)) {
        /* A list in a rule is an ordered failover list. */
        r = new_rule(x, at, RULE_FAILOVER);
        if (r >= 0 && !list_into(x, at, v, r, false))
            r = -1;
    } else if (json_is_object(v)) {
        r = parse_object_rule(x, at, v);
    } else {
        perr(x, at, "a rule is a group or address name, a list (failover order) or an object "
             "with one of failover, all_healthy, weighted, geo, nearest");
    }
    x->depth--;
    return r;
}

static bool location(json_t *v, double *lat, double *lon)
{
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1)))
        return false;
    *lat = json_number_value(json_array_get(v, 0));
    *lon = json_number_value(json_array_get(v, 1));
    return isfinite(*lat) && isfinite(*lon) && fabs(*lat) <= 90 && fabs(*lon) <= 180;
}

static bool parse_policy(struct pctx *x, json_t *o)
{
    cfg_policy_t *p = x->p;
    static const char *const known[] = {"name", "zone", "owner", "type", "ttl",
                                        "ttl_from_health", "check", "checks", "locations",
                                        "groups", "answer", "when_all_down"};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(known); i++)
            ok = ok || !strcmp(k, known[i]);
        if (!ok)
            return perr(x, k, "unknown key");
    }
    static const char *const required[] = {"zone", "owner", "type", "answer"};
    for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
        if (!json_object_get(o, required[i]))
            return perr(x, required[i], "missing (required)");
    }
    static const char *const strings[] = {"name", "zone", "owner", "type", "check"};
    for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
        v = json_object_get(o, strings[i]);
        if (v && (!json_is_string(v) || !json_string_length(v)))
            return perr(x, strings[i], "must be a non-empty string");
    }
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!strcasecmp(type, "A"))
        p->rrtype = 1;
    else if (!strcasecmp(type, "AAAA"))
        p->rrtype = 28;
    else
        return perr(x, "type", "must be A or AAAA (policies choose among addresses)");
    const char *zone = json_string_value(json_object_get(o, "zone"));
    const char *owner = json_string_value(json_object_get(o, "owner"));
    uint8_t zw[DNAME_MAXLEN];
    if (!dname_from_str(zone, zw))
        return perr(x, "zone", "not a valid domain name");
    char abs[DNAME_MAXSTR];
    if (!conf_owner_abs(zone, owner, abs))
        return perr(x, "owner", "'%s' is not a name in zone %s", owner, zone);
    p->zone = xstrdup(zone);
    p->owner = xstrdup(abs);
    v = json_object_get(o, "name");
    if (v) {
        const char *n = json_string_value(v);
        if (strlen(n) > GROUP_NAME_MAX * 4 ||
            strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") !=
                strlen(n))
            return perr(x, "name", "must be letters, digits, '.', '_', '/' or '-'");
        p->name = xstrdup(n);
    } else {
        char n[DNAME_MAXSTR + 8];
        snprintf(n, sizeof(n), "%s/%s", abs, p->rrtype == 1 ? "A" : "AAAA");
        p->name = xstrdup(n);
    }
    p->ttl = CONF_DEFAULT_POLICY_TTL;
    v = json_object_get(o, "ttl");
    if (v) {
        /* RFC 2181 §8: TTLs are 0..2^31-1. */
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 2147483647)
            return perr(x, "ttl", "must be an integer from 0 to 2147483647 (seconds)");
        p->ttl = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "ttl_from_health");
    if (v) {
        if (!json_is_boolean(v))
            return perr(x, "ttl_from_health", "must be true or false");
        p->ttl_from_health = json_is_true(v);
    }
    v = json_object_get(o, "check");
    if (v)
        p->check = xstrdup(json_string_value(v));

    /* Groups first: the rules refer to them by name. */
    x->groups = json_object_get(o, "groups");
    if (x->groups) {
        if (!json_is_object(x->groups))
            return perr(x, "groups", "must be an object of name: list or rule");
        x->ngroups = json_object_size(x->groups);
        x->gname = xcalloc(x->ngroups + 1, sizeof(*x->gname));
        x->grule = xcalloc(x->ngroups + 1, sizeof(*x->grule));
        size_t g = 0;
        json_object_foreach(x->groups, k, v) {
            char gat[AT_MAX];
            at_fmt(gat, "groups.%s", k);
            if (!*k || strlen(k) > GROUP_NAME_MAX ||
                strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                    strlen(k) || net_addr_is_literal(k))
                return perr(x, gat, "a group name is 1 to %d letters, digits, '.', '_' or '-' "
                            "and not an address", GROUP_NAME_MAX);
            x->gname[g] = k;
            x->grule[g] = -1;
            g++;
        }
    }
    long root = parse_rule(x, "answer", json_object_get(o, "answer"));
    if (root < 0)
        return false;
    p->root = (unsigned)root;
    /* A group nothing uses is most likely a typo in a rule. */
    for (size_t g = 0; g < x->ngroups; g++) {
        if (x->grule[g] == -1) {
            char gat[AT_MAX];
            at_fmt(gat, "groups.%s", x->gname[g]);
            return perr(x, gat, "defined but not used by \"answer\"");
        }
    }

    v = json_object_get(o, "when_all_down");
    p->fallback_all = true;
    if (v) {
        if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
            p->fallback_all = true;
        } else if (json_is_array(v) && json_array_size(v)) {
            p->fallback_all = false;
            p->fallback = xcalloc(json_array_size(v), sizeof(*p->fallback));
            for (size_t i = 0; i < json_array_size(v); i++) {
                char mat[AT_MAX];
                at_fmt(mat, "when_all_down[%zu]", i);
                json_t *e = json_array_get(v, i);
                if (!json_is_string(e))
                    return perr(x, mat, "must be an address");
                long c = candidate(x, mat, json_string_value(e));
                if (c < 0)
                    return false;
                p->fallback[p->nfallback++] = (unsigned)c;
            }
        } else {
            return perr(x, "when_all_down", "must be \"all\" (serve every candidate) or a "
                        "non-empty list of addresses to serve");
        }
    }

    /* Per-address checks: {"192.0.2.10": "site-a", "192.0.2.99": null}. */
    v = json_object_get(o, "checks");
    if (v) {
        if (!json_is_object(v))
            return perr(x, "checks", "must be an object of address: check name (or null)");
        json_t *cv;
        json_object_foreach(v, k, cv) {
            char mat[AT_MAX];
            at_fmt(mat, "checks.%s", k);
            long c = -1;
            for (size_t i = 0; i < p->ncands; i++)
                c = strcmp(p->cands[i].address, k) ? c : (long)i;
            if (c < 0) {
                uint8_t a[16];
                if (!parse_address(p, k, a))
                    return perr(x, mat, "not an %s address", p->rrtype == 1 ? "IPv4" : "IPv6");
                for (size_t i = 0; i < p->ncands; i++)
                    c = memcmp(p->cands[i].addr, a, p->rrtype == 1 ? 4 : 16) ? c : (long)i;
                if (c < 0)
                    return perr(x, mat, "not a candidate of this policy's answer");
            }
            if (json_is_null(cv))
                p->cands[c].no_check = true;
            else if (json_is_string(cv) && json_string_length(cv))
                p->cands[c].check = xstrdup(json_string_value(cv));
            else
                return perr(x, mat, "must be a check name or null (no check: always up)");
        }
    }
    /* Coordinates for "nearest": {"192.0.2.10": [52.52, 13.40], "eu": [50.1, 8.7]}. */
    v = json_object_get(o, "locations");
    if (v) {
        if (!json_is_object(v))
            return perr(x, "locations", "must be an object of group or address: [lat, lon]");
        json_t *lv;
        json_object_foreach(v, k, lv) {
            char mat[AT_MAX];
            at_fmt(mat, "locations.%s", k);
            double lat, lon;
            if (!location(lv, &lat, &lon))
                return perr(x, mat, "must be [latitude, longitude] in degrees");
            long r = -1;
            for (size_t g = 0; g < x->ngroups; g++)
                r = strcmp(x->gname[g], k) ? r : x->grule[g];
            if (r < 0) {
                uint8_t a[16];
                if (parse_address(p, k, a)) {
                    for (size_t i = 0; i < p->nrules; i++) {
                        if (p->rules[i].kind == RULE_CANDIDATE &&
                            !memcmp(p->cands[p->rules[i].cand].addr, a,
                                    p->rrtype == 1 ? 4 : 16))
                            r = (long)i;
                    }
                }
            }
            if (r < 0)
                return perr(x, mat, "not a group or candidate of this policy");
            p->rules[r].has_location = true;
            p->rules[r].lat = lat;
            p->rules[r].lon = lon;
        }
    }
    /* "nearest" needs a position for each member. */
    for (size_t i = 0; i < p->nrules; i++) {
        const cfg_rule_t *r = &p->rules[i];
        for (size_t j = 0; r->kind == RULE_NEAREST && j < r->nkids; j++) {
            const cfg_rule_t *m = &p->rules[r->kids[j]];
            if (!m->has_location)
                return perr(x, r->where, "member %s has no entry in \"locations\"", m->where);
        }
    }
    return true;
}

bool conf_policies_parse(cfg_t *c, const char *path, const char *key, json_t *v,
                         hadns_err_t *err)
{
    if (!json_is_array(v)) {
        err_set(err, "%s: %s: must be an array of policy objects", path, key);
        return false;
    }
    size_t n = json_array_size(v);
    c->policies = xcalloc(n ? n : 1, sizeof(*c->policies));
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(v, i);
        struct pctx x = {.path = path, .err = err, .p = &c->policies[i]};
        snprintf(x.where, sizeof(x.where), "%s[%zu]", key, i);
        c->npolicies = i + 1;
        bool ok;
        if (!json_is_object(o)) {
            err_set(err, "%s: %s: must be an object", path, x.where);
            ok = false;
        } else {
            ok = parse_policy(&x, o);
        }
        free(x.gname);
        free(x.grule);
        if (!ok)
            return false;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->policies[j].name, c->policies[i].name)) {
                err_set(err, "%s: %s.name: policy %s is already defined", path, x.where,
                        c->policies[i].name);
                return false;
            }
            if (!strcasecmp(c->policies[j].owner, c->policies[i].owner) &&
                c->policies[j].rrtype == c->policies[i].rrtype)
            {
                err_set(err, "%s: %s: %s %s already has a policy (%s)", path, x.where,
                        c->policies[i].owner, c->policies[i].rrtype == 1 ? "A" : "AAAA",
                        c->policies[j].name);
                return false;
            }
        }
    }
    return true;
}

static bool names_check(const cfg_t *c, const char *name)
{
    for (size_t i = 0; i < c->nchecks; i++) {
        if (!strcmp(c->checks[i].name, name))
            return true;
    }
    for (size_t i = 0; i < c->ntemplates; i++) {
        if (!strcmp(c->templates[i].name, name))
            return true;
    }
    return false;
}

bool conf_policies_check(cfg_t *c, const char *path, hadns_err_t *err)
{
    for (size_t i = 0; i < c->npolicies; i++) {
        cfg_policy_t *p = &c->policies[i];
        uint8_t pw[DNAME_MAXLEN], zw[DNAME_MAXLEN];
        size_t pl = dname_from_str(p->zone, pw);
        bool found = false;
        for (size_t j = 0; j < c->nzones && !found; j++) {
            size_t zl = dname_from_str(c->zones[j].name, zw);
            found = dname_eq(pw, pl, zw, zl);
        }
        if (!found) {
            err_set(err, "%s: policies[%zu].zone: zone %s is not in \"zones\"", path, i,
                    p->zone);
            return false;
        }
        if (p->check && !names_check(c, p->check)) {
            err_set(err, "%s: policies[%zu].check: no check or check template named %s", path,
                    i, p->check);
            return false;
        }
        for (size_t j = 0; j < p->ncands; j++) {
            const cfg_candidate_t *cd = &p->cands[j];
            if (cd->check && !names_check(c, cd->check)) {
                err_set(err, "%s: policies[%zu].checks.%s: no check or check template named %s",
                        path, i, cd->address, cd->check);
                return false;
            }
        }
        for (size_t j = 0; j < p->nrules; j++) {
            uint8_t k = p->rules[j].kind;
            if ((k == RULE_GEO || k == RULE_NEAREST) && !c->geoip_database) {
                err_set(err, "%s: policies[%zu].%s: a %s rule needs \"geoip\".\"database\"",
                        path, i, p->rules[j].where, k == RULE_GEO ? "geo" : "nearest");
                return false;
            }
        }
    }
    return true;
}

void conf_policies_free(cfg_t *c)
{
    for (size_t i = 0; i < c->npolicies; i++) {
        cfg_policy_t *p = &c->policies[i];
        free(p->name);
        free(p->zone);
        free(p->owner);
        free(p->check);
        for (size_t j = 0; j < p->ncands; j++) {
            free(p->cands[j].address);
            free(p->cands[j].check);
        }
        free(p->cands);
        for (size_t j = 0; j < p->nrules; j++) {
            free(p->rules[j].kids);
            free(p->rules[j].weights);
            free(p->rules[j].keys);
            free(p->rules[j].where);
        }
        free(p->rules);
        free(p->fallback);
    }
    free(c->policies);
    c->policies = NULL;
    c->npolicies = 0;
}
