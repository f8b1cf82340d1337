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
    bool flat;       /* WEIGHTED or GEO whose members are all static: see nlive */
    uint16_t nkids;
    uint16_t count;  /* cap or how many to pick */
    uint32_t kids;   /* first member in p->kid (and p->weight, p->live, p->lw) */
    uint32_t keys;   /* GEO: first key in p->key; nkids - has_default keys */
    uint16_t nlive;  /* flat WEIGHTED: members listed in p->live and p->lw from kids on;
                      * flat GEO: keys with records now, from keys on (each with its mask) */
    uint32_t total;  /* flat WEIGHTED: their weights' sum */
    uint64_t mask;   /* static rules: the records they answer with now; CANDIDATE: when up;
                      * flat GEO: the default's records (0: none) */
    bool has_loc;
    double x, y, z; /* the location as a unit vector, for "nearest" */
};

/* A geo key, compiled: the region it names as a geo_region(), compared with the client's. */
struct pkey {
    uint64_t region;
    uint64_t mask; /* flat GEO: the member's records now */
    uint8_t level; /* enum geo_level */
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
    uint64_t *live; /* flat WEIGHTED: the healthy members' records ... */
    uint32_t *lw;   /* ... and weights */
    struct pkey *key; /* GEO: per node, the most specific level first */
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

/* A number below n (n > 0), by the high half of a 64 x 32-bit product: one multiply instead
 * of a division; its bias, at most n / 2^64, is far below anything a weight can express. */
static inline uint32_t rand_below(uint64_t *rng, uint32_t n)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint32_t)(((u128)next_rand(rng) * n) >> 64);
}

/* Keeps n of the set bits of m, chosen uniformly. */
static uint64_t keep_random(uint64_t m, unsigned n, uint64_t *rng)
{
    uint64_t out = 0;
    unsigned have = (unsigned)__builtin_popcountll(m);
    while (n-- && have) {
        unsigned k = rand_below(rng, have);
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

static uint64_t eval(const policy_t *p, uint32_t n, const geo_loc_t *loc, uint64_t *rng);

/* A flat geo rule: the first key of the client's regions whose member has records, else the
 * default. */
static inline uint64_t geo_flat(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc)
{
    for (unsigned i = 0; loc && i < nd->nlive; i++) {
        const struct pkey *k = &p->key[nd->keys + i];
        if (k->region == loc->region[k->level])
            return k->mask;
    }
    return nd->mask;
}

/* The records of the member in kid slot i: a static member's are ready. */
static inline uint64_t member(const policy_t *p, uint32_t i, const geo_loc_t *loc,
                              uint64_t *rng)
{
    const struct pnode *m = &p->nodes[p->kid[i]];
    return m->dynamic ? eval(p, p->kid[i], loc, rng) : m->mask;
}

/* geo: the client's most specific region first, then wider ones, then the default (Route 53's
 * geolocation order); the first that has a healthy candidate answers. The keys are sorted most
 * specific first, so this is one pass of integer compares. */
static uint64_t eval_geo(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                         uint64_t *rng)
{
    if (nd->flat)
        return geo_flat(p, nd, loc);
    unsigned nkeys = nd->nkids - nd->has_default;
    if (loc) {
        for (unsigned i = 0; i < nkeys; i++) {
            const struct pkey *k = &p->key[nd->keys + i];
            if (k->region == loc->region[k->level]) {
                uint64_t m = member(p, nd->kids + i, loc, rng);
                if (m)
                    return m;
            }
        }
    }
    return nd->has_default ? member(p, nd->kids + nkeys, loc, rng) : 0;
}

/* The index of one of n weights w (sum total > 0), chosen by weight. */
static inline unsigned pick_one(const uint32_t *w, uint32_t total, uint64_t *rng)
{
    uint32_t r = rand_below(rng, total);
    unsigned i = 0;
    while (r >= w[i])
        r -= w[i++];
    return i;
}

/* count of the n members got (weights w, sum total), drawn by weight without replacement. */
static uint64_t draw(const uint64_t *got, const uint32_t *w, unsigned n, uint32_t total,
                     unsigned count, uint64_t *rng)
{
    if (!total)
        return 0;
    if (count == 1)
        return got[pick_one(w, total, rng)];
    uint32_t left[CONF_POLICY_MAX_CANDIDATES];
    memcpy(left, w, n * sizeof(*left));
    uint64_t out = 0;
    for (unsigned k = 0; k < count && total; k++) {
        unsigned i = pick_one(left, total, rng);
        out |= got[i];
        total -= left[i];
        left[i] = 0;
    }
    return out;
}

/* The members of a weighted rule that have records now, with their weights: weight 0 members
 * only when no weighted member has any (as in Route 53), then each counts 1. Returns n. */
static unsigned weighted_live(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                              uint64_t *rng, uint64_t *got, uint32_t *w, uint32_t *total)
{
    unsigned n = 0;
    *total = 0;
    for (int zero = 0; zero < 2 && !*total; zero++) {
        n = 0;
        for (unsigned i = 0; i < nd->nkids && n < CONF_POLICY_MAX_CANDIDATES; i++) {
            uint32_t wi = p->weight[nd->kids + i];
            if ((wi == 0) != zero)
                continue;
            uint64_t m = member(p, nd->kids + i, loc, rng);
            if (!m)
                continue;
            got[n] = m;
            w[n] = zero ? 1 : wi;
            *total += w[n];
            n++;
        }
    }
    return n;
}

static uint64_t eval_weighted(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
                              uint64_t *rng)
{
    if (nd->flat)
        return draw(&p->live[nd->kids], &p->lw[nd->kids], nd->nlive, nd->total, nd->count, rng);
    uint64_t got[CONF_POLICY_MAX_CANDIDATES];
    uint32_t w[CONF_POLICY_MAX_CANDIDATES];
    uint32_t total;
    unsigned n = weighted_live(p, nd, loc, rng, got, w, &total);
    return draw(got, w, n, total, nd->count, rng);
}

/* noinline: its floating point would otherwise widen eval's frame, which every walk pays. */
static __attribute__((noinline)) uint64_t eval_nearest(const policy_t *p, const struct pnode *nd, const geo_loc_t *loc,
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
        uint64_t r = member(p, nd->kids + i, loc, rng);
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
            m = member(p, nd->kids + i, loc, rng);
        return m;
    case RULE_ALL_HEALTHY:
        for (unsigned i = 0; i < nd->nkids; i++)
            m |= member(p, nd->kids + i, loc, rng);
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
    /* The common shapes are answered here, without the walk's call and frame: a fixed answer,
     * a geo map or a weighted split over static members. */
    const struct pnode *nd = &p->nodes[p->root];
    uint64_t m;
    if (!p->varies)
        m = p->now;
    else if (nd->flat && nd->kind == RULE_GEO)
        m = geo_flat(p, nd, loc);
    else if (nd->flat && nd->count == 1 && nd->total)
        m = p->live[nd->kids + pick_one(&p->lw[nd->kids], nd->total, rng)];
    else
        m = eval(p, p->root, loc, rng);
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
        return;
    }
    /* Members that are all static: what is left per query is the draw, or the match. */
    bool flat = true;
    for (unsigned i = 0; i < nd->nkids; i++)
        flat = flat && !p->nodes[p->kid[nd->kids + i]].dynamic;
    if (flat && nd->kind == RULE_GEO) {
        /* Only the keys whose member has records can answer: keep those, in order. */
        unsigned nkeys = nd->nkids - nd->has_default, live = 0;
        for (unsigned i = 0; i < nkeys; i++) {
            struct pkey k = p->key[nd->keys + i];
            k.mask = p->nodes[p->kid[nd->kids + i]].mask;
            if (k.mask)
                p->key[nd->keys + live++] = k;
        }
        nd->nlive = (uint16_t)live;
        nd->mask = nd->has_default ? p->nodes[p->kid[nd->kids + nkeys]].mask : 0;
        nd->flat = true;
    } else if (flat && nd->kind == RULE_WEIGHTED) {
        uint64_t rng = 1;
        uint32_t total;
        nd->nlive = (uint16_t)weighted_live(p, nd, NULL, &rng, &p->live[nd->kids],
                                            &p->lw[nd->kids], &total);
        nd->total = total;
        nd->flat = true;
    }
}

/* Orders a geo node's keys (and their members with them) most specific first, declared order
 * within a level: the order eval_geo tries them in. */
static void sort_keys(policy_t *p, const struct pnode *nd)
{
    unsigned nkeys = nd->nkids - nd->has_default;
    struct pkey *k = &p->key[nd->keys];
    uint32_t *kid = &p->kid[nd->kids];
    for (unsigned i = 1; i < nkeys; i++) {
        struct pkey kk = k[i];
        uint32_t kd = kid[i];
        unsigned j = i;
        for (; j > 0 && k[j - 1].level < kk.level; j--) {
            k[j] = k[j - 1];
            kid[j] = kid[j - 1];
        }
        k[j] = kk;
        kid[j] = kd;
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
    p->live = xcalloc(nkid + 1, sizeof(*p->live));
    p->lw = xcalloc(nkid + 1, sizeof(*p->lw));
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
        for (size_t j = 0; j < r->nkeys; j++, gi++) {
            const cfg_geo_key_t *ck = &r->keys[j];
            p->key[gi].level = ck->level;
            p->key[gi].region = ck->level == GEO_SUBDIVISION
                                    ? geo_region(GEO_SUBDIVISION, ck->code, ck->code + 3)
                                    : geo_region(ck->level, ck->code, "");
        }
        if (r->kind == RULE_GEO)
            sort_keys(p, nd);
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
    free(p->live);
    free(p->lw);
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
