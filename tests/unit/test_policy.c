/* SPDX-License-Identifier: MIT */
/* test_policy.c: the answer overlay: each rule's choice (failover, all_healthy, weighted, geo,
 * nearest), composition, every candidate down, TTLs from health, the checks a build refuses,
 * and the whole path through answer_query (filtered records, ECS echo and scope). The checks'
 * states come from a table the tests set, the config from JSON text through conf_load. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "answer.h"
#include "conf.h"
#include "policy.h"
#include "snapshot.h"
#include "test_util.h"
#include "zoneload.h"

/* ---- fixtures ---- */

static char dir[] = "/tmp/hadns-policy-XXXXXX";
static zoneset_t *zs;
static cfg_t *cfg;
static overlay_t *ov;

/* Check states by name: "c1".."c8"; a name not listed does not exist. */
static struct {
    const char *name;
    bool up, fixed;
    uint32_t steady_ms;
} checks[8];
static unsigned nwarn;
static char last_warn[600];

static void set_check(const char *name, bool up)
{
    for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
        if (checks[i].name && !strcmp(checks[i].name, name)) {
            checks[i].up = up;
            return;
        }
    }
    cr_assert_fail("no check %s", name);
}

static bool fake_check(void *arg, const char *check, const char *address,
                       policy_check_state_t *out, hadns_err_t *err)
{
    (void)arg;
    (void)address;
    for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
        if (checks[i].name && !strcmp(checks[i].name, check)) {
            out->up = checks[i].up;
            out->fixed = checks[i].fixed;
            out->steady_ms = checks[i].steady_ms;
            return true;
        }
    }
    err_set(err, "no check named %s", check);
    return false;
}

static void warn(void *arg, const char *msg)
{
    (void)arg;
    nwarn++;
    snprintf(last_warn, sizeof(last_warn), "%s", msg);
}

static void setup(void)
{
    cr_assert(mkdtemp(dir));
    hadns_err_t err = {{0}};
    zone_t *z[2];
    z[0] = zoneload_file("p.test.", tu_data("policy.zone"), &err);
    cr_assert(z[0], "%s", err.msg);
    z[1] = zoneload_file("s.test.", tu_data("signed.zone"), &err);
    cr_assert(z[1], "%s", err.msg);
    zs = zoneset_new(z, 2);
    zone_unref(z[0]);
    zone_unref(z[1]);
    static const char *const names[] = {"c1", "c2", "c3", "c4", "c5", "c6"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        checks[i] = (typeof(checks[0])){.name = names[i], .up = true, .steady_ms = 60000};
}

static void teardown(void)
{
    overlay_free(ov);
    ov = NULL;
    conf_free(cfg);
    cfg = NULL;
    zoneset_free(zs);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

/* A config with the given policies (JSON array text) and checks c1..c6. */
static cfg_t *config(const char *policies, hadns_err_t *err)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    fprintf(f, "{\"listen\": [\"127.0.0.1:0\"],\n"
               " \"zones\": [{\"name\": \"p.test\", \"file\": \"p.zone\"},\n"
               "           {\"name\": \"s.test\", \"file\": \"s.zone\"}],\n"
               " \"geoip\": {\"database\": \"geo.mmdb\"},\n \"checks\": [");
    for (int i = 1; i <= 6; i++)
        fprintf(f, "%s{\"name\": \"c%d\", \"type\": \"tcp\", \"target\": \"127.0.0.1\", "
                   "\"port\": %d}", i > 1 ? ", " : "", i, 1000 + i);
    fprintf(f, "],\n \"policies\": %s}\n", policies);
    fclose(f);
    cfg_t *c = conf_load(tu_write(dir, "hadnsd.json", text), err);
    free(text);
    return c;
}

/* Builds the overlay for one policy; fails the test if the config or the build does. */
static void build(const char *policies)
{
    hadns_err_t err = {{0}};
    conf_free(cfg);
    cfg = config(policies, &err);
    cr_assert(cfg, "config refused: %s", err.msg);
    overlay_free(ov);
    ov = overlay_build(cfg, zs, fake_check, NULL, true, warn, &err);
    cr_assert(ov, "build failed: %s", err.msg);
}

/* Rebuilds with the same config after check states changed (what a health change does). */
static void rebuild(void)
{
    hadns_err_t err = {{0}};
    overlay_free(ov);
    ov = overlay_build(cfg, zs, fake_check, NULL, true, warn, &err);
    cr_assert(ov, "rebuild failed: %s", err.msg);
}

static const rrset_t *rrset(const char *owner, uint16_t type)
{
    uint8_t w[DNAME_MAXLEN];
    size_t l = dname_from_str(owner, w);
    const zone_t *z = zoneset_find(zs, w, l, (uint8_t[DNAME_MAXLABELS]){0}, 0,
                                   (uint32_t[1]){0}, 0);
    (void)z;
    uint8_t zw[DNAME_MAXLEN];
    size_t zl = dname_from_str(strstr(owner, "s.test") ? "s.test." : "p.test.", zw);
    const zone_t *zz = zoneset_get(zs, zw, zl);
    const znode_t *n = zone_find(zz, w, l, dname_hash(w, l));
    cr_assert(n, "no node %s", owner);
    const rrset_t *rs = znode_rrset(n, type);
    cr_assert(rs);
    return rs;
}

/* The records picked, as a mask over www.p.test A: bit i = 192.0.2.(i+1). */
static uint64_t pick_with(const geo_loc_t *loc, uint64_t *rng, uint32_t *ttl)
{
    const policy_t *p = overlay_find(ov, rrset("www.p.test.", T_A));
    cr_assert(p, "www.p.test A has no policy");
    policy_pick_t out;
    policy_pick(p, loc, rng, &out);
    cr_assert_neq(out.mask, 0, "an empty answer");
    if (ttl)
        *ttl = out.ttl;
    return out.mask;
}

static uint64_t pick(void)
{
    uint64_t rng = 42;
    return pick_with(NULL, &rng, NULL);
}

static geo_loc_t loc(const char *continent, const char *country, const char *sub, double lat,
                     double lon)
{
    geo_loc_t l;
    memset(&l, 0, sizeof(l));
    memcpy(l.continent, continent, 2);
    memcpy(l.country, country, 2);
    snprintf(l.subdivision, sizeof(l.subdivision), "%s", sub);
    l.has_coords = true;
    l.lat = lat;
    l.lon = lon;
    l.prefix = 24;
    geo_loc_regions(&l);
    return l;
}

#define B(n) (1ull << ((n) - 1)) /* 192.0.2.n */
#define ALL (B(1) | B(2) | B(3) | B(4))

/* ---- failover ---- */

#define FAILOVER                                                                            \
    "[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\", \"ttl\": 20,"             \
    " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\"},"   \
    " \"answer\": [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]}]"

Test(failover, first_healthy_in_order, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    cr_assert_eq(pick(), B(1));
    set_check("c1", false);
    rebuild();
    cr_assert_eq(pick(), B(2));
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick(), B(3));
    set_check("c1", true);
    rebuild();
    cr_assert_eq(pick(), B(1), "back to the primary when it is up again");
}

Test(failover, all_down_serves_the_whole_rrset, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    set_check("c1", false);
    set_check("c2", false);
    set_check("c3", false);
    rebuild();
    /* Fail open (Route 53): every record, 192.0.2.4 (not a candidate) included. */
    cr_assert_eq(pick(), ALL);
}

Test(failover, all_down_serves_the_declared_fallback, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\"},"
          " \"when_all_down\": [\"192.0.2.4\"],"
          " \"answer\": [\"192.0.2.1\", \"192.0.2.2\"]}]");
    cr_assert_eq(pick(), B(1));
    set_check("c1", false);
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick(), B(4));
}

Test(failover, groups_answer_together, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\","
          "              \"192.0.2.4\": \"c4\"},"
          " \"groups\": {\"dc1\": [\"192.0.2.1\", \"192.0.2.2\"],"
          "              \"dc2\": [\"192.0.2.3\", \"192.0.2.4\"]},"
          " \"answer\": [\"dc1\", \"dc2\"]}]");
    cr_assert_eq(pick(), B(1) | B(2));
    set_check("c1", false);
    rebuild();
    cr_assert_eq(pick(), B(2), "a group with one healthy member still answers");
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick(), B(3) | B(4), "the whole group down: the next group");
}

Test(failover, static_answers_are_precomputed, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    uint64_t rng = 99;
    uint32_t ttl;
    cr_assert_eq(pick_with(NULL, &rng, &ttl), B(1));
    cr_assert_eq(rng, 99, "a static rule walked per query (drew a random number)");
    cr_assert_eq(ttl, 20, "the policy's TTL");
}

Test(failover, unknown_state_is_not_down, .init = setup, .fini = teardown)
{
    /* The server reports UNKNOWN as up (policy_check_state_t.up); no check at all is up. */
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": null}, \"answer\": [\"192.0.2.1\", \"192.0.2.2\"]}]");
    cr_assert_eq(pick(), B(1));
}

/* ---- all_healthy ---- */

Test(all_healthy, every_healthy_member, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\", \"check\": \"c1\","
          " \"checks\": {\"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\"},"
          " \"answer\": {\"all_healthy\": [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]}}]");
    cr_assert_eq(pick(), B(1) | B(2) | B(3));
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick(), B(1) | B(3));
}

Test(all_healthy, capped_at_max_spreads_over_members, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"answer\": {\"all_healthy\": [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\","
          "                                \"192.0.2.4\"], \"max\": 2}}]");
    uint64_t rng = 7;
    unsigned seen[4] = {0};
    for (int i = 0; i < 4000; i++) {
        uint64_t m = pick_with(NULL, &rng, NULL);
        cr_assert_eq(__builtin_popcountll(m), 2, "max 2 gave %d records",
                     __builtin_popcountll(m));
        for (int b = 0; b < 4; b++)
            seen[b] += (m >> b) & 1;
    }
    /* Each member is in half the answers (2000); 5 sigma of a binomial(4000, 1/2) is 158. */
    for (int b = 0; b < 4; b++)
        cr_assert(seen[b] > 2000 - 160 && seen[b] < 2000 + 160, "member %d in %u answers", b,
                  seen[b]);
}

/* ---- weighted ---- */

Test(weighted, split_follows_the_weights, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"answer\": {\"weighted\": {\"192.0.2.1\": 3, \"192.0.2.2\": 1}}}]");
    uint64_t rng = 12345;
    unsigned n1 = 0, n = 40000;
    for (unsigned i = 0; i < n; i++) {
        uint64_t m = pick_with(NULL, &rng, NULL);
        cr_assert(m == B(1) || m == B(2), "picked %#llx", (unsigned long long)m);
        n1 += m == B(1);
    }
    /* Expect 3/4: 30000, sigma = sqrt(n p (1-p)) = 86.6; allow 5 sigma. */
    cr_assert(fabs((double)n1 - 30000.0) < 5 * 86.6, "192.0.2.1 chosen %u of %u times", n1, n);
}

Test(weighted, only_healthy_members_and_count, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\"},"
          " \"answer\": {\"weighted\": {\"192.0.2.1\": 1, \"192.0.2.2\": 1, \"192.0.2.3\": 1},"
          "              \"count\": 2}}]");
    set_check("c2", false);
    rebuild();
    uint64_t rng = 5;
    for (int i = 0; i < 500; i++)
        cr_assert_eq(pick_with(NULL, &rng, NULL), B(1) | B(3),
                     "count 2 of the two healthy members");
    set_check("c1", false);
    rebuild();
    cr_assert_eq(pick_with(NULL, &rng, NULL), B(3), "fewer healthy than count: all of them");
}

Test(weighted, zero_weight_only_when_no_other, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\"},"
          " \"answer\": {\"weighted\": {\"192.0.2.1\": 5, \"192.0.2.2\": 0}}}]");
    uint64_t rng = 77;
    for (int i = 0; i < 500; i++)
        cr_assert_eq(pick_with(NULL, &rng, NULL), B(1));
    set_check("c1", false);
    rebuild();
    cr_assert_eq(pick_with(NULL, &rng, NULL), B(2));
}

/* ---- geo ---- */

#define GEO                                                                                 \
    "[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","                          \
    " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\","    \
    "              \"192.0.2.4\": \"c4\"},"                                                 \
    " \"answer\": {\"geo\": {\"continent:EU\": \"192.0.2.1\", \"country:US\": \"192.0.2.2\"," \
    "                        \"subdivision:US-CA\": \"192.0.2.3\", \"default\": \"192.0.2.4\"}}}]"

Test(geo, most_specific_region, .init = setup, .fini = teardown)
{
    build(GEO);
    uint64_t rng = 1;
    geo_loc_t de = loc("EU", "DE", "BE", 52.5, 13.4), tx = loc("NA", "US", "TX", 30.3, -97.7),
              ca = loc("NA", "US", "CA", 37.8, -122.4), jp = loc("AS", "JP", "13", 35.7, 139.7);
    cr_assert_eq(pick_with(&de, &rng, NULL), B(1), "EU continent");
    cr_assert_eq(pick_with(&tx, &rng, NULL), B(2), "US country");
    cr_assert_eq(pick_with(&ca, &rng, NULL), B(3), "US-CA subdivision over US");
    cr_assert_eq(pick_with(&jp, &rng, NULL), B(4), "no region: default");
    cr_assert_eq(pick_with(NULL, &rng, NULL), B(4), "unknown client: default");
    geo_loc_t none;
    memset(&none, 0, sizeof(none));
    cr_assert_eq(pick_with(&none, &rng, NULL), B(4), "not in the database: default");
}

Test(geo, region_down_falls_to_wider_region, .init = setup, .fini = teardown)
{
    build(GEO);
    uint64_t rng = 1;
    geo_loc_t ca = loc("NA", "US", "CA", 37.8, -122.4);
    set_check("c3", false);
    rebuild();
    cr_assert_eq(pick_with(&ca, &rng, NULL), B(2), "US-CA down: the US answer");
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick_with(&ca, &rng, NULL), B(4), "US down too: the default");
}

Test(geo, composes_with_failover_groups, .init = setup, .fini = teardown)
{
    /* The example: geo picks a region's group, failover within it falls back to the
     * next group when the whole region is down. */
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\","
          "              \"192.0.2.4\": \"c4\"},"
          " \"groups\": {\"eu\": [\"192.0.2.1\", \"192.0.2.2\"], \"us\": [\"192.0.2.3\", \"192.0.2.4\"]},"
          " \"answer\": {\"geo\": {\"continent:EU\": [\"eu\", \"us\"], \"default\": [\"us\", \"eu\"]}}}]");
    uint64_t rng = 1;
    geo_loc_t de = loc("EU", "DE", "", 52.5, 13.4), us = loc("NA", "US", "", 40, -100);
    cr_assert_eq(pick_with(&de, &rng, NULL), B(1) | B(2));
    cr_assert_eq(pick_with(&us, &rng, NULL), B(3) | B(4));
    set_check("c1", false);
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick_with(&de, &rng, NULL), B(3) | B(4), "EU down: the US group");
    cr_assert_eq(pick_with(&us, &rng, NULL), B(3) | B(4));
}

/* A member that varies per query keeps the geo rule on the general walk (a map of static
 * members is answered from a precomputed key list): both must answer alike. */
Test(geo, member_that_varies, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\","
          "              \"192.0.2.4\": \"c4\"},"
          " \"answer\": {\"geo\": {\"continent:EU\": {\"weighted\": {\"192.0.2.1\": 1, \"192.0.2.2\": 1}},"
          "                        \"subdivision:US-CA\": \"192.0.2.3\", \"default\": \"192.0.2.4\"}}}]");
    uint64_t rng = 9;
    geo_loc_t de = loc("EU", "DE", "", 52.5, 13.4), ca = loc("NA", "US", "CA", 37.8, -122.4),
              tx = loc("NA", "US", "TX", 30.3, -97.7);
    uint64_t seen = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t m = pick_with(&de, &rng, NULL);
        cr_assert(m == B(1) || m == B(2), "EU got %#llx", (unsigned long long)m);
        seen |= m;
    }
    cr_assert_eq(seen, B(1) | B(2), "the EU split never picked one of its two");
    cr_assert_eq(pick_with(&ca, &rng, NULL), B(3));
    cr_assert_eq(pick_with(&tx, &rng, NULL), B(4), "US-TX: no key, the default");
    set_check("c1", false);
    set_check("c2", false);
    rebuild();
    cr_assert_eq(pick_with(&de, &rng, NULL), B(4), "EU all down: the default");
}

/* A weighted member that varies itself (a capped all_healthy group) keeps the weighted rule
 * on the general walk; a split over static members is drawn from a precomputed list. */
Test(weighted, member_that_varies, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\"},"
          " \"groups\": {\"pair\": {\"all_healthy\": [\"192.0.2.1\", \"192.0.2.2\"], \"max\": 1}},"
          " \"answer\": {\"weighted\": {\"pair\": 1, \"192.0.2.3\": 1}}}]");
    uint64_t rng = 3, seen = 0;
    for (int i = 0; i < 400; i++) {
        uint64_t m = pick_with(NULL, &rng, NULL);
        cr_assert(m == B(1) || m == B(2) || m == B(3), "got %#llx", (unsigned long long)m);
        seen |= m;
    }
    cr_assert_eq(seen, B(1) | B(2) | B(3));
    set_check("c3", false);
    rebuild();
    for (int i = 0; i < 100; i++) {
        uint64_t m = pick_with(NULL, &rng, NULL);
        cr_assert(m == B(1) || m == B(2), "c3 down, got %#llx", (unsigned long long)m);
    }
}

/* ---- nearest ---- */

Test(nearest, by_great_circle_distance, .init = setup, .fini = teardown)
{
    /* 1: Frankfurt, 2: New York, 3: Tokyo, 4: Sydney. */
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\", \"192.0.2.3\": \"c3\","
          "              \"192.0.2.4\": \"c4\"},"
          " \"locations\": {\"192.0.2.1\": [50.1, 8.7], \"192.0.2.2\": [40.7, -74.0],"
          "               \"192.0.2.3\": [35.7, 139.7], \"192.0.2.4\": [-33.9, 151.2]},"
          " \"answer\": {\"nearest\": [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\", \"192.0.2.4\"]}}]");
    uint64_t rng = 1;
    geo_loc_t berlin = loc("EU", "DE", "", 52.5, 13.4), sf = loc("NA", "US", "CA", 37.8, -122.4),
              seoul = loc("AS", "KR", "", 37.6, 127.0), auckland = loc("OC", "NZ", "", -36.8, 174.8),
              /* across the antimeridian: Fiji is nearer Sydney than Tokyo */
        fiji = loc("OC", "FJ", "", -18.1, 178.4);
    cr_assert_eq(pick_with(&berlin, &rng, NULL), B(1));
    cr_assert_eq(pick_with(&sf, &rng, NULL), B(2));
    cr_assert_eq(pick_with(&seoul, &rng, NULL), B(3));
    cr_assert_eq(pick_with(&auckland, &rng, NULL), B(4));
    cr_assert_eq(pick_with(&fiji, &rng, NULL), B(4));
    set_check("c1", false);
    rebuild();
    cr_assert_eq(pick_with(&berlin, &rng, NULL), B(2), "Frankfurt down: New York is next");
    cr_assert_eq(pick_with(NULL, &rng, NULL), B(2), "no location: declared order");
}

Test(nearest, count, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"locations\": {\"192.0.2.1\": [50.1, 8.7], \"192.0.2.2\": [40.7, -74.0],"
          "               \"192.0.2.3\": [35.7, 139.7]},"
          " \"answer\": {\"nearest\": [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"], \"count\": 2}}]");
    uint64_t rng = 1;
    geo_loc_t london = loc("EU", "GB", "", 51.5, -0.1);
    cr_assert_eq(pick_with(&london, &rng, NULL), B(1) | B(2));
}

/* ---- TTLs ---- */

Test(ttl, from_health_never_past_the_next_possible_change, .init = setup, .fini = teardown)
{
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\", \"ttl\": 300,"
          " \"ttl_from_health\": true, \"checks\": {\"192.0.2.1\": \"c1\", \"192.0.2.2\": \"c2\"},"
          " \"answer\": [\"192.0.2.1\", \"192.0.2.2\"]}]");
    uint32_t ttl;
    uint64_t rng = 1;
    pick_with(NULL, &rng, &ttl);
    cr_assert_eq(ttl, 60, "min(300, c1/c2 steady 60 s) = %u", ttl);
    checks[1].steady_ms = 4500; /* c2: one more failure away from a change, 5 s interval */
    rebuild();
    pick_with(NULL, &rng, &ttl);
    cr_assert_eq(ttl, 4);
    checks[1].fixed = true; /* forced: it cannot change on its own */
    rebuild();
    pick_with(NULL, &rng, &ttl);
    cr_assert_eq(ttl, 60);
}

/* ---- what a build refuses ---- */

static void expect_refused(const char *policies, const char *part)
{
    hadns_err_t err = {{0}};
    conf_free(cfg);
    cfg = config(policies, &err);
    cr_assert(cfg, "config refused: %s", err.msg);
    overlay_t *o = overlay_build(cfg, zs, fake_check, NULL, true, warn, &err);
    cr_assert_null(o, "accepted: %s", policies);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
    /* Not strict (a reload): the policy is left out with a warning, the rest applies. */
    nwarn = 0;
    err_clear(&err);
    o = overlay_build(cfg, zs, fake_check, NULL, false, warn, &err);
    cr_assert(o);
    cr_assert_eq(overlay_count(o), 0);
    cr_assert_eq(nwarn, 1);
    cr_assert(strstr(last_warn, part), "warning '%s' lacks '%s'", last_warn, part);
    overlay_free(o);
}

Test(refused, address_not_in_rrset, .init = setup, .fini = teardown)
{
    expect_refused("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                   " \"answer\": [\"192.0.2.1\", \"192.0.2.99\"]}]",
                   "192.0.2.99 is not a record of www.p.test. A");
}

Test(refused, no_such_rrset, .init = setup, .fini = teardown)
{
    expect_refused("[{\"zone\": \"p.test\", \"owner\": \"nothere\", \"type\": \"A\","
                   " \"answer\": [\"192.0.2.1\"]}]",
                   "no A records at nothere.p.test.");
}

Test(refused, signed_zone, .init = setup, .fini = teardown)
{
    expect_refused("[{\"zone\": \"s.test\", \"owner\": \"www\", \"type\": \"A\","
                   " \"answer\": [\"192.0.2.1\", \"192.0.2.2\"]}]",
                   "DNSSEC-signed");
}

Test(refused, check_that_does_not_exist, .init = setup, .fini = teardown)
{
    checks[0].name = "gone"; /* c1 is configured but the registry has no such check */
    expect_refused("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\", \"check\": \"c1\","
                   " \"answer\": [\"192.0.2.1\"]}]",
                   "no check named c1");
}

Test(refused, zone_not_loaded_is_never_fatal, .init = setup, .fini = teardown)
{
    hadns_err_t err = {{0}};
    cfg = config("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                 " \"answer\": [\"192.0.2.1\"]}]", &err);
    cr_assert(cfg, "%s", err.msg);
    zoneset_t *empty = zoneset_new(NULL, 0);
    nwarn = 0;
    overlay_t *o = overlay_build(cfg, empty, fake_check, NULL, true, warn, &err);
    cr_assert(o, "a zone that failed to load stopped the start: %s", err.msg);
    cr_assert_eq(overlay_count(o), 0);
    cr_assert_eq(nwarn, 1);
    overlay_free(o);
    zoneset_free(empty);
}

/* ---- the config's own checks ---- */

static void expect_config_error(const char *policies, const char *part)
{
    hadns_err_t err = {{0}};
    cfg_t *c = config(policies, &err);
    cr_assert_null(c, "accepted: %s", policies);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
}

Test(config, errors_name_the_key, .init = setup, .fini = teardown)
{
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"MX\","
                        " \"answer\": \"192.0.2.1\"}]", "policies[0].type");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": \"2001:db8::1\"}]", "policies[0].answer");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": \"nogroup\"}]", "neither a group");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": {\"geo\": {\"continent:XX\": \"192.0.2.1\"}}}]",
                        "answer.geo.continent:XX");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"groups\": {\"a\": [\"b\"], \"b\": [\"a\"]}, \"answer\": \"a\"}]",
                        "contains itself");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"groups\": {\"a\": [\"192.0.2.1\"], \"unused\": [\"192.0.2.2\"]},"
                        " \"answer\": \"a\"}]", "groups.unused");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": {\"nearest\": [\"192.0.2.1\"]}}]", "no entry in \"locations\"");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"check\": \"nosuch\", \"answer\": \"192.0.2.1\"}]",
                        "policies[0].check: no check or check template named nosuch");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": {\"weighted\": {\"192.0.2.1\": -1}}}]", "weight");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": {\"failover\": [\"192.0.2.1\"], \"count\": 2}}]",
                        "does not take \"count\"");
    expect_config_error("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": \"192.0.2.1\", \"colour\": 1}]", "policies[0].colour");
    expect_config_error("[{\"zone\": \"q.test\", \"owner\": \"www\", \"type\": \"A\","
                        " \"answer\": \"192.0.2.1\"}]", "zone q.test is not in");
}

/* ---- through answer_query ---- */

static size_t ask(const snapshot_t *snap, const char *name, uint16_t type, const uint8_t *ecs,
                  size_t ecslen, uint8_t *resp)
{
    static answer_ctx_t ctx;
    answer_opts_t opts = {.udp_payload = 1232};
    uint8_t req[512];
    size_t len = tu_query(req, 0x1234, name, type);
    if (ecs) {
        uint8_t opt[64];
        size_t ol = tu_option(opt, EDNS_OPT_ECS, ecs, (uint16_t)ecslen);
        len = tu_add_opt(req, len, 1232, 0, false, opt, ol);
    }
    return answer_query(&ctx, snap, &opts, req, len, NULL, resp, ANSWER_MAX, false);
}

Test(answer, filtered_rrset_and_ttl, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    snapshot_t snap = {.zones = zs, .overlay = ov};
    uint8_t resp[ANSWER_MAX];
    size_t n = ask(&snap, "www.p.test.", T_A, NULL, 0, resp);
    cr_assert_gt(n, 12);
    cr_assert_eq(rd16(resp + 6), 1, "ancount %u", rd16(resp + 6));
    /* header 12, qname "www.p.test." 12, qtype+qclass 4; then pointer, type, class, ttl,
     * rdlength, rdata */
    const uint8_t *rr = resp + 12 + 12 + 4;
    cr_assert_eq(rd32(rr + 6), 20, "ttl %u", rd32(rr + 6));
    cr_assert_eq(memcmp(rr + 12, (uint8_t[]){192, 0, 2, 1}, 4), 0);
    /* Through a CNAME: the target's policy applies. */
    n = ask(&snap, "alias.p.test.", T_A, NULL, 0, resp);
    cr_assert_eq(rd16(resp + 6), 2, "CNAME + one A, got %u", rd16(resp + 6));
    /* AAAA has no policy: static, both records. */
    n = ask(&snap, "www.p.test.", T_AAAA, NULL, 0, resp);
    cr_assert_eq(rd16(resp + 6), 2);
}

Test(answer, ecs_echoed_with_scope_zero_for_static_answers, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    snapshot_t snap = {.zones = zs, .overlay = ov};
    uint8_t resp[ANSWER_MAX];
    /* family 1, source /24, scope 0, 192.0.2 */
    const uint8_t ecs[] = {0, 1, 24, 0, 192, 0, 2};
    size_t n = ask(&snap, "www.p.test.", T_A, ecs, sizeof(ecs), resp);
    cr_assert_eq(answer_rcode(resp), RCODE_NOERROR);
    /* The OPT is the last record: ... option code 8, len 7, family, source, scope, address */
    const uint8_t *o = resp + n - 11;
    cr_assert_eq(rd16(o), EDNS_OPT_ECS, "last option %u", rd16(o));
    cr_assert_eq(rd16(o + 2), 7);
    cr_assert_eq(rd16(o + 4), 1);
    cr_assert_eq(o[6], 24, "source");
    cr_assert_eq(o[7], 0, "scope of an answer that does not depend on the client");
    cr_assert_eq(memcmp(o + 8, ecs + 4, 3), 0);
    /* Malformed ECS (scope set in a query): FORMERR. */
    const uint8_t bad[] = {0, 1, 24, 8, 192, 0, 2};
    ask(&snap, "www.p.test.", T_A, bad, sizeof(bad), resp);
    cr_assert_eq(answer_rcode(resp), RCODE_FORMERR);
}

/* ---- what "policies" on the control socket reports ---- */

Test(info, serving_now, .init = setup, .fini = teardown)
{
    build(FAILOVER);
    policy_info_t in;
    cr_assert_eq(overlay_count(ov), 1);
    overlay_info(ov, 0, &in);
    cr_assert_str_eq(in.name, "www.p.test./A");
    cr_assert_eq(in.candidates, 3);
    cr_assert_eq(in.healthy, 3);
    cr_assert_not(in.varies);
    cr_assert_eq(in.serving, B(1));
    cr_assert_eq(in.nrec, 4);
    set_check("c1", false);
    set_check("c2", false);
    set_check("c3", false);
    rebuild();
    overlay_info(ov, 0, &in);
    cr_assert(in.all_down);
    cr_assert_eq(in.serving, ALL, "all down: the fallback is what is served");
    build("[{\"zone\": \"p.test\", \"owner\": \"www\", \"type\": \"A\","
          " \"answer\": {\"weighted\": {\"192.0.2.1\": 1, \"192.0.2.2\": 1}}}]");
    overlay_info(ov, 0, &in);
    cr_assert(in.varies);
    cr_assert_not(in.located);
}
