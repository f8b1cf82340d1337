/* SPDX-License-Identifier: MIT */
/* policy.c: the answer overlay: building it from the config, the zones and the checks' states
 * [main], and picking a dynamic answer's records [worker]. */
#include "config.h"
#include "policy.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dname.h"
#include "wire.h"
#include "xalloc.h"

#define T_DNSKEY 48

/* A rule of one policy, compiled. Members are indices into the policy's kid array. */
struct pnode {
    uint8_t kind;    /* enum cfg_rule_kind */
    bool dynamic;    /* the result depends on the client or on chance: walk it per query */
    bool has_default;
    uint16_t nkids;
    uint16_t count;  /* cap or how many to pick */
    uint32_t kids;   /* first member in p->kid (and p->weight for WEIGHTED) */
    uint32_t keys;   /* GEO: first key in p->key; nkids - has_default keys */
    uint64_t mask;   /* static rules: the records they answer with now; CANDIDATE: when up */
    bool has_loc;
    double x, y, z; /* the location as a unit vector, for "nearest" */
};

struct policy {
    const rrset_t *rs;
    char *name;
    char *owner;
    uint16_t rrtype;
    uint32_t ttl;
    bool located;
    unsigned ncand;         /* records that are candidates */
    uint64_t cand;          /* their bits */
    uint64_t up;            /* of them, the healthy ones */
    uint64_t fallback;      /* every candidate down: these */
    bool varies;            /* the answer depends on the client or on chance */
    uint64_t now;           /* when !varies: the answer, fallback applied */
    uint32_t root;
    struct pnode *nodes;
    uint32_t *kid;
    uint32_t *weight;
    cfg_geo_key_t *key;
    const uint8_t *rec[CONF_POLICY_MAX_CANDIDATES];
};

struct overlay {
    size_t n;
    policy_t *pol;
    uint32_t mask; /* table size - 1 */
    const policy_t **table; /* open addressing by RRset pointer */
};

/* ---- the query path ---- */

static inline uint32_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(x >> 32);
}

const policy_t *overlay_find(const overlay_t *ov, const rrset_t *rs)
{
    if (!ov || !ov->n)
        return NULL;
    for (uint32_t i = ptr_hash(rs) & ov->mask;; i = (i + 1) & ov->mask) {
        const policy_t *p = ov->table[i];
        if (!p || p->rs == rs)
            return p;
    }
}

bool policy_located(const policy_t *p)
{
    return p->located;
}

static inline uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: plenty for spreading load, and no shared state between workers. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Keeps n of the set bits of m, chosen uniformly. */
static uint64_t keep_random(uint64_t m, unsigned n, uint64_t *rng)
{
    uint64_t out = 0;
    unsigned have = (unsigned)__builtin_popcountll(m);
    while (n-- && have) {
        unsigned k = (unsigned)(next_rand(rng) % have);
        uint64_t b = m;
        while (k--)
            b &= b - 1;
        b &= -b;
        out |= b;
        m &= ~b;
        have--;
    }
    return out;
}

static bool geo_match(const cfg_geo_key_t *k, const geo_loc_t *loc)
{
    switch (k->level) {
    case GEO_CONTINENT:
        return k->code[0] == loc->continent[0] && k->code[1] == loc->continent[1];
    case GEO_COUNTRY:
        return k->code[0] == loc->country[0] && k->code[1] == loc->country[1];
    default:
        return k->code[0] == loc->country[0] && k->code[1] == loc->country[1] &&
               !strcmp(k->code + 3, loc->subdivision);
    }
}

static uint64_t eval(const policy_t *p, uint32_t n, const geo_loc_t *loc, uint64_t *rng);

/* geo: the client's most specific region first, then wider ones, then the default (Route 53's
 * geolocation order); the first that has a healthy candidate answers. */
static uint64_t eval_geo(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                         uint64_t *rng)
{
    unsigned nkeys = nd->nkids - nd->has_default;
    if (loc && loc->country[0] | loc->continent[0]) {
        for (int level = GEO_SUBDIVISION; level >= GEO_CONTINENT; level--) {
            for (unsigned i = 0; i < nkeys; i++) {
                const cfg_geo_key_t *k = &p->key[nd->keys + i];
                if (k->level == level && geo_match(k, loc)) {
                    uint64_t m = eval(p, p->kid[nd->kids + i], loc, rng);
                    if (m)
                        return m;
                }
            }
        }
    }
    return nd->has_default ? eval(p, p->kid[nd->kids + nkeys], loc, rng) : 0;
}

static uint64_t eval_weighted(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                              uint64_t *rng)
{
    uint64_t got[CONF_POLICY_MAX_CANDIDATES];
    uint32_t w[CONF_POLICY_MAX_CANDIDATES];
    unsigned n = 0;
    uint64_t total = 0;
    /* Weight 0 members serve only when no weighted member is healthy (as in Route 53). */
    for (int zero = 0; zero < 2 && !total; zero++) {
        n = 0;
        for (unsigned i = 0; i < nd->nkids && n < CONF_POLICY_MAX_CANDIDATES; i++) {
            uint32_t wi = p->weight[nd->kids + i];
            if ((wi == 0) != zero)
                continue;
            uint64_t m = eval(p, p->kid[nd->kids + i], loc, rng);
            if (!m)
                continue;
            got[n] = m;
            w[n] = zero ? 1 : wi;
            total += w[n];
            n++;
        }
    }
    uint64_t out = 0;
    for (unsigned pick = 0; pick < nd->count && total; pick++) {
        uint64_t r = next_rand(rng) % total;
        unsigned i = 0;
        while (r >= w[i])
            r -= w[i++];
        out |= got[i];
        total -= w[i];
        w[i] = 0; /* drawn without replacement */
    }
    return out;
}

static uint64_t eval_nearest(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                             uint64_t *rng)
{
    double cx = 0, cy = 0, cz = 0;
    bool where = loc && loc->has_coords;
    if (where) {
        double la = loc->lat * (M_PI / 180), lo = loc->lon * (M_PI / 180);
        cx = cos(la) * cos(lo);
        cy = cos(la) * sin(lo);
        cz = sin(la);
    }
    uint64_t got[CONF_POLICY_MAX_CANDIDATES];
    double d[CONF_POLICY_MAX_CANDIDATES];
    unsigned n = 0;
    for (unsigned i = 0; i < nd->nkids && n < CONF_POLICY_MAX_CANDIDATES; i++) {
        const struct pnode *m = &p->nodes[p->kid[nd->kids + i]];
        uint64_t r = eval(p, p->kid[nd->kids + i], loc, rng);
        if (!r)
            continue;
        got[n] = r;
        /* Great-circle order is the order of the dot product of unit vectors (the angle's
         * cosine); without a client position, the declared order. */
        d[n] = where ? -(m->x * cx + m->y * cy + m->z * cz) : (double)i;
        n++;
    }
    uint64_t out = 0;
    for (unsigned pick = 0; pick < nd->count && pick < n; pick++) {
        unsigned best = pick;
        for (unsigned i = pick + 1; i < n; i++)
            best = d[i] < d[best] ? i : best;
        out |= got[best];
        got[best] = got[pick];
        d[best] = d[pick];
    }
    return out;
}

static uint64_t eval(const policy_t *p, uint32_t n, const geo_loc_t *loc, uint64_t *rng)
{
    const struct pnode *nd = &p->nodes[n];
    if (!nd->dynamic)
        return nd->mask;
    uint64_t m = 0;
    switch (nd->kind) {
    case RULE_FAILOVER:
        for (unsigned i = 0; i < nd->nkids && !m; i++)
            m = eval(p, p->kid[nd->kids + i], loc, rng);
        return m;
    case RULE_ALL_HEALTHY:
        for (unsigned i = 0; i < nd->nkids; i++)
            m |= eval(p, p->kid[nd->kids + i], loc, rng);
        if (nd->count && (unsigned)__builtin_popcountll(m) > nd->count)
            m = keep_random(m, nd->count, rng);
        return m;
    case RULE_WEIGHTED:
        return eval_weighted(p, nd, loc, rng);
    case RULE_GEO:
        return eval_geo(p, nd, loc, rng);
    case RULE_NEAREST:
        return eval_nearest(p, nd, loc, rng);
    default:
        return nd->mask;
    }
}

void policy_pick(const policy_t *p, const geo_loc_t *loc, uint64_t *rng, policy_pick_t *out)
{
    uint64_t m = p->varies ? eval(p, p->root, loc, rng) : p->now;
    out->mask = m ? m : p->fallback;
    out->ttl = p->ttl;
    out->rec = p->rec;
}

/* ---- building [main] ---- */

struct build {
    const cfg_t *cfg;
    const cfg_policy_t *cp;
    policy_t *p;
    policy_check_fn check;
    void *arg;
    bool strict;
    void (*warn)(void *arg, const char *msg);
    hadns_err_t *err;
    bool soft; /* the problem is the zone's (not loaded), not the config's: never fatal */
    uint64_t cand_bit[CONF_POLICY_MAX_CANDIDATES]; /* per config candidate: its record's bit */
};

static bool report(struct build *b, const char *fmt, ...) PRINTF(2, 3);
static bool report(struct build *b, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (b->strict && !b->soft) {
        err_set(b->err, "policy %s: %s", b->cp->name, msg);
    } else if (b->warn) {
        char full[560];
        snprintf(full, sizeof(full), "policy %s: %s", b->cp->name, msg);
        b->warn(b->arg, full);
    }
    return false;
}

/* Results of the static rules with the checks as they are now; marks the dynamic ones. */
static void settle(policy_t *p, uint32_t n)
{
    struct pnode *nd = &p->nodes[n];
    if (nd->kind == RULE_CANDIDATE) {
        nd->mask &= p->up;
        return;
    }
    bool dyn = nd->kind == RULE_GEO || nd->kind == RULE_NEAREST || nd->kind == RULE_WEIGHTED ||
               (nd->kind == RULE_ALL_HEALTHY && nd->count);
    for (unsigned i = 0; i < nd->nkids; i++) {
        settle(p, p->kid[nd->kids + i]);
        dyn = dyn || p->nodes[p->kid[nd->kids + i]].dynamic;
    }
    nd->dynamic = dyn;
    if (!dyn) {
        uint64_t rng = 1;
        nd->dynamic = true; /* evaluate it once through the walk */
        nd->mask = eval(p, n, NULL, &rng);
        nd->dynamic = false;
    }
}

static bool compile(struct build *b, const zoneset_t *zs)
{
    const cfg_policy_t *cp = b->cp;
    policy_t *p = b->p;
    uint8_t zw[DNAME_MAXLEN], ow[DNAME_MAXLEN];
    size_t zl = dname_from_str(cp->zone, zw), ol = dname_from_str(cp->owner, ow);
    const char *tname = cp->rrtype == T_A ? "A" : "AAAA";
    const zone_t *z = zs ? zoneset_get(zs, zw, zl) : NULL;
    if (!z) {
        b->soft = true;
        return report(b, "zone %s is not loaded; the policy waits for it", cp->zone);
    }
    const znode_t *node = zone_find(z, ow, ol, dname_hash(ow, ol));
    const rrset_t *rs = node ? znode_rrset(node, cp->rrtype) : NULL;
    if (!rs)
        return report(b, "zone %s has no %s records at %s", cp->zone, tname, cp->owner);
    /* DESIGN §2: filtering a signed RRset hands validating resolvers a bogus answer. */
    if (znode_rrset(z->apex, T_DNSKEY) || znode_rrset(node, T_RRSIG))
        return report(b, "zone %s is DNSSEC-signed: filtering %s %s would break validation "
                      "(served as signed, without the policy)", cp->zone, cp->owner, tname);
    if (rs->count > CONF_POLICY_MAX_CANDIDATES)
        return report(b, "%s %s has %u records; a policy chooses among at most %d", cp->owner,
                      tname, rs->count, CONF_POLICY_MAX_CANDIDATES);
    p->rs = rs;
    p->rrtype = cp->rrtype;
    p->name = xstrdup(cp->name);
    p->owner = xstrdup(cp->owner);
    const uint8_t *rd = rs->rdata;
    for (unsigned i = 0; i < rs->count; i++) {
        p->rec[i] = rd;
        rd += 2 + rd16(rd);
    }
    uint64_t all = rs->count == 64 ? ~0ull : (1ull << rs->count) - 1;
    size_t alen = cp->rrtype == T_A ? 4 : 16;
    /* Each candidate is a record of the RRset; its check says whether it is up. */
    p->ttl = cp->ttl;
    uint32_t steady = UINT32_MAX;
    for (size_t c = 0; c < cp->ncands; c++) {
        const cfg_candidate_t *cd = &cp->cands[c];
        b->cand_bit[c] = 0;
        for (unsigned i = 0; i < rs->count; i++) {
            if (rd16(p->rec[i]) == alen && !memcmp(p->rec[i] + 2, cd->addr, alen))
                b->cand_bit[c] = 1ull << i;
        }
        if (!b->cand_bit[c])
            return report(b, "%s is not a record of %s %s in zone %s", cd->address, cp->owner,
                          tname, cp->zone);
        p->cand |= b->cand_bit[c];
        const char *check = cd->no_check ? NULL : cd->check ? cd->check : cp->check;
        if (!check) {
            p->up |= b->cand_bit[c]; /* no check: always up */
            continue;
        }
        policy_check_state_t st;
        hadns_err_t cerr = {{0}};
        if (!b->check(b->arg, check, cd->address, &st, &cerr))
            return report(b, "%s", cerr.msg);
        if (st.up)
            p->up |= b->cand_bit[c];
        if (!st.fixed && st.steady_ms < steady)
            steady = st.steady_ms;
    }
    p->ncand = (unsigned)__builtin_popcountll(p->cand);
    if (cp->ttl_from_health && steady != UINT32_MAX && steady / 1000 < p->ttl)
        p->ttl = steady / 1000;
    if (cp->fallback_all) {
        p->fallback = all;
    } else {
        for (size_t i = 0; i < cp->nfallback; i++)
            p->fallback |= b->cand_bit[cp->fallback[i]];
    }

    /* The rules, in the config's numbering. */
    size_t nkid = 0, nkey = 0;
    for (size_t i = 0; i < cp->nrules; i++) {
        nkid += cp->rules[i].nkids;
        nkey += cp->rules[i].nkeys;
    }
    p->nodes = xcalloc(cp->nrules, sizeof(*p->nodes));
    p->kid = xcalloc(nkid + 1, sizeof(*p->kid));
    p->weight = xcalloc(nkid + 1, sizeof(*p->weight));
    p->key = xcalloc(nkey + 1, sizeof(*p->key));
    size_t ki = 0, gi = 0;
    for (size_t i = 0; i < cp->nrules; i++) {
        const cfg_rule_t *r = &cp->rules[i];
        struct pnode *nd = &p->nodes[i];
        nd->kind = r->kind;
        nd->nkids = (uint16_t)r->nkids;
        nd->count = (uint16_t)r->count;
        nd->has_default = r->has_default;
        nd->kids = (uint32_t)ki;
        nd->keys = (uint32_t)gi;
        for (size_t j = 0; j < r->nkids; j++) {
            p->kid[ki] = r->kids[j];
            p->weight[ki++] = r->weights ? r->weights[j] : 1;
        }
        for (size_t j = 0; j < r->nkeys; j++)
            p->key[gi++] = r->keys[j];
        if (r->kind == RULE_CANDIDATE)
            nd->mask = b->cand_bit[r->cand];
        if (r->kind == RULE_GEO || r->kind == RULE_NEAREST)
            p->located = true;
        if (r->has_location) {
            double la = r->lat * (M_PI / 180), lo = r->lon * (M_PI / 180);
            nd->has_loc = true;
            nd->x = cos(la) * cos(lo);
            nd->y = cos(la) * sin(lo);
            nd->z = sin(la);
        }
    }
    p->root = cp->root;
    settle(p, p->root);
    p->varies = p->nodes[p->root].dynamic;
    p->now = p->varies || !p->nodes[p->root].mask ? p->fallback : p->nodes[p->root].mask;
    return true;
}

static void policy_fini(policy_t *p)
{
    free(p->name);
    free(p->owner);
    free(p->nodes);
    free(p->kid);
    free(p->weight);
    free(p->key);
}

overlay_t *overlay_build(const cfg_t *cfg, const zoneset_t *zs, policy_check_fn check,
                         void *arg, bool strict, void (*warn)(void *arg, const char *msg),
                         hadns_err_t *err)
{
    overlay_t *ov = xcalloc(1, sizeof(*ov));
    ov->pol = xcalloc(cfg->npolicies ? cfg->npolicies : 1, sizeof(*ov->pol));
    for (size_t i = 0; i < cfg->npolicies; i++) {
        struct build b = {.cfg = cfg, .cp = &cfg->policies[i], .p = &ov->pol[ov->n],
                          .check = check, .arg = arg, .strict = strict, .warn = warn,
                          .err = err};
        if (compile(&b, zs)) {
            ov->n++;
            continue;
        }
        policy_fini(b.p);
        memset(b.p, 0, sizeof(*b.p));
        if (strict && !b.soft) {
            overlay_free(ov);
            return NULL;
        }
    }
    /* Load factor at most 1/2. */
    size_t size = 4;
    while (size < 2 * ov->n)
        size *= 2;
    ov->mask = (uint32_t)size - 1;
    ov->table = xcalloc(size, sizeof(*ov->table));
    for (size_t i = 0; i < ov->n; i++) {
        uint32_t h = ptr_hash(ov->pol[i].rs) & ov->mask;
        while (ov->table[h])
            h = (h + 1) & ov->mask;
        ov->table[h] = &ov->pol[i];
    }
    return ov;
}

void overlay_free(overlay_t *ov)
{
    if (!ov)
        return;
    for (size_t i = 0; i < ov->n; i++)
        policy_fini(&ov->pol[i]);
    free(ov->pol);
    free(ov->table);
    free(ov);
}

size_t overlay_count(const overlay_t *ov)
{
    return ov->n;
}

void overlay_info(const overlay_t *ov, size_t i, policy_info_t *out)
{
    const policy_t *p = &ov->pol[i];
    *out = (policy_info_t){.name = p->name,
                           .owner = p->owner,
                           .rrtype = p->rrtype,
                           .candidates = p->ncand,
                           .healthy = (unsigned)__builtin_popcountll(p->up & p->cand),
                           .ttl = p->ttl,
                           .all_down = !(p->up & p->cand),
                           /* Every candidate down: the fallback, whatever the rules. */
                           .varies = (p->up & p->cand) && p->varies,
                           .serving = (p->up & p->cand) ? p->now : p->fallback,
                           .nrec = p->rs->count,
                           .rec = p->rec,
                           .located = p->located};
}
