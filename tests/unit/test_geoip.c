/* SPDX-License-Identifier: MIT */
/* test_geoip.c: GeoIP lookups against the project's own small database (written at test start
 * by tests/data/mkmmdb.pl, whose table of networks these tests rely on), the per-worker cache,
 * refused files, and, when HADNS_MAXMIND_DIR names a folder with MaxMind's own test databases
 * (make check sets it when ../shared/data/maxmind lies beside the source tree), those too. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "geoip.h"
#include "test_util.h"

#ifndef TEST_SRC_DIR
#error "TEST_SRC_DIR must be defined (tests/unit/Makefile.inc does)"
#endif

extern char **environ;

/* Criterion runs each test in a fresh process (it re-executes the binary), so the database
 * is written once here, in the runner, and reaches the tests through the environment: the
 * only state a worker inherits. Its folder is removed again after the last test, which keeps
 * `make distcheck`'s build tree clean. */
#define ENV_DB      "HADNS_GEOIP_TEST_DB"
#define ENV_SKIP    "HADNS_GEOIP_TEST_SKIP"
#define ENV_MAXMIND "HADNS_MAXMIND_DIR"

static char tmpdir[1024];

/* Runs perl mkmmdb.pl [type_arg] out with its stderr in errfile; returns its exit status, or -1
 * when perl could not be started. No shell: the source path may hold any character. */
static int run_mkmmdb(const char *type_arg, const char *out, const char *errfile)
{
    char script[4096];
    snprintf(script, sizeof(script), "%s/tests/data/mkmmdb.pl", TEST_SRC_DIR);
    char *argv[5];
    int n = 0;
    argv[n++] = (char *)"perl";
    argv[n++] = script;
    if (type_arg)
        argv[n++] = (char *)type_arg;
    argv[n++] = (char *)out;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, "perl", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return -1; /* posix_spawnp's child could not exec perl */
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The first line of a file (perl's complaint), in a static buffer. */
static const char *first_line(const char *path)
{
    static char line[512];
    line[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(line, sizeof(line), f))
            line[strcspn(line, "\n")] = '\0';
        fclose(f);
    }
    return line[0] ? line : "no message";
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/hadns-geoip-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char why[2048] = "";
    if (!mkdtemp(tmpdir)) {
        snprintf(why, sizeof(why), "mkdtemp %s: %s", tmpdir, strerror(errno));
        tmpdir[0] = '\0';
    } else {
        char db[4200], errf[4200];
        snprintf(db, sizeof(db), "%s/test.mmdb", tmpdir);
        snprintf(errf, sizeof(errf), "%s/mkmmdb.err", tmpdir);
        int rc = run_mkmmdb(NULL, db, errf);
        if (rc == 0)
            setenv(ENV_DB, db, 1);
        else if (rc < 0)
            snprintf(why, sizeof(why), "perl not found: cannot write the test database");
        else
            snprintf(why, sizeof(why), "tests/data/mkmmdb.pl failed (exit %d): %s", rc,
                     first_line(errf));
    }
    if (why[0]) {
        /* A skip's reason shows only with --verbose; this line lands in the test's .log. */
        fprintf(stderr, "test_geoip: own database tests SKIPPED: %s\n", why);
        setenv(ENV_SKIP, why, 1);
    }
    const char *mm = getenv(ENV_MAXMIND);
    if (!mm || !*mm)
        fprintf(stderr,
                "test_geoip: MaxMind test databases SKIPPED: %s is not set (make check "
                "sets it when ../shared/data/maxmind lies beside the source tree)\n",
                ENV_MAXMIND);
}

/* Removes what the tests wrote: our folder holds only plain files. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (!tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "test_geoip: cannot remove %s: %s\n", tmpdir, strerror(errno));
}

/* ---- helpers ---- */

static const char *own_db(void)
{
    const char *skip = getenv(ENV_SKIP);
    if (skip)
        cr_skip_test("%s", skip);
    const char *db = getenv(ENV_DB);
    cr_assert(db, "the PRE_ALL hook did not run");
    return db;
}

static geoip_t *open_ok(const char *path)
{
    hadns_err_t err = {{0}};
    geoip_t *g = geoip_open(path, &err);
    cr_assert(g, "geoip_open %s: %s", path, err.msg);
    cr_assert_str_empty(err.msg);
    return g;
}

static geoip_t *open_own(void)
{
    return open_ok(own_db());
}

/* Address text -> family and bytes. */
static int parse(const char *text, uint8_t *a)
{
    if (inet_pton(AF_INET, text, a) == 1)
        return 4;
    cr_assert_eq(inet_pton(AF_INET6, text, a), 1, "bad address %s in the test", text);
    return 6;
}

static geo_loc_t look(const geoip_t *g, const char *text)
{
    uint8_t a[16];
    int fam = parse(text, a);
    geo_loc_t loc;
    memset(&loc, 0xa5, sizeof(loc)); /* the lookup must fill every field */
    cr_assert(geoip_lookup(g, fam, a, &loc), "%s: database error", text);
    return loc;
}

static void expect(const geoip_t *g, const char *addr, const char *cont, const char *country,
                   const char *sub, uint8_t prefix)
{
    geo_loc_t l = look(g, addr);
    cr_assert_str_eq(l.continent, cont, "%s: continent '%s'", addr, l.continent);
    cr_assert_str_eq(l.country, country, "%s: country '%s'", addr, l.country);
    cr_assert_str_eq(l.subdivision, sub, "%s: subdivision '%s'", addr, l.subdivision);
    cr_assert_eq(l.prefix, prefix, "%s: prefix %u, expected %u", addr, l.prefix, prefix);
}

static void expect_coords(const geoip_t *g, const char *addr, double lat, double lon)
{
    geo_loc_t l = look(g, addr);
    cr_assert(l.has_coords, "%s: no coordinates", addr);
    cr_assert_float_eq(l.lat, lat, 0.005, "%s: lat %f", addr, l.lat);
    cr_assert_float_eq(l.lon, lon, 0.005, "%s: lon %f", addr, l.lon);
}

static void expect_no_coords(const geoip_t *g, const char *addr)
{
    geo_loc_t l = look(g, addr);
    cr_assert_not(l.has_coords, "%s: coordinates %f,%f", addr, l.lat, l.lon);
}

static bool same_loc(const geo_loc_t *a, const geo_loc_t *b)
{
    return strcmp(a->continent, b->continent) == 0 && strcmp(a->country, b->country) == 0 &&
           strcmp(a->subdivision, b->subdivision) == 0 && a->has_coords == b->has_coords &&
           (!a->has_coords || (a->lat == b->lat && a->lon == b->lon)) && a->prefix == b->prefix &&
           memcmp(a->region, b->region, sizeof(a->region)) == 0;
}

/* The prefix's promise (RFC 7871 scope): the first and the last address of addr/prefix get
 * exactly addr's answer, prefix included. */
static void expect_prefix_exact(const geoip_t *g, const char *addr)
{
    uint8_t a[16], lo[16], hi[16];
    int fam = parse(addr, a);
    size_t len = fam == 4 ? 4 : 16;
    geo_loc_t l = look(g, addr);
    cr_assert_leq(l.prefix, len * 8, "%s: prefix %u", addr, l.prefix);
    for (size_t i = 0; i < len; i++) {
        size_t bit0 = i * 8;
        uint8_t keep = l.prefix >= bit0 + 8 ? 0xff
                       : l.prefix <= bit0   ? 0
                                            : (uint8_t)(0xff << (8 - (l.prefix - bit0)));
        lo[i] = a[i] & keep;
        hi[i] = (uint8_t)(a[i] | (uint8_t)~keep);
    }
    geo_loc_t llo, lhi;
    cr_assert(geoip_lookup(g, fam, lo, &llo));
    cr_assert(geoip_lookup(g, fam, hi, &lhi));
    cr_assert(same_loc(&l, &llo), "%s/%u: the network's first address answers otherwise", addr,
              l.prefix);
    cr_assert(same_loc(&l, &lhi), "%s/%u: the network's last address answers otherwise", addr,
              l.prefix);
}

static geoip_cache_t *cache_new(void)
{
    geoip_cache_t *c = calloc(1, sizeof(*c));
    cr_assert(c);
    return c;
}

static bool cached(const geoip_t *g, geoip_cache_t *c, const char *text, geo_loc_t *out)
{
    uint8_t a[16];
    int fam = parse(text, a);
    geo_loc_t scratch;
    const geo_loc_t *l = geoip_lookup_cached(g, c, fam, a, &scratch);
    *out = *l;
    return l == &scratch || (c && l >= &c->slot[0].loc && l <= &c->slot[GEOIP_CACHE_SLOTS - 1].loc);
}

/* A copy of the own database in our folder, for damaging; returns its path (static). */
static const char *copy_own(const char *name, uint8_t **data, size_t *len)
{
    const char *src = own_db();
    FILE *f = fopen(src, "rb");
    cr_assert(f, "%s: %s", src, strerror(errno));
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert(n > 0 && n < sizeof(buf), "%s: %zu bytes", src, n);
    /* Beside it, in the runner's folder (tmpdir is not set in this process: only the
     * environment crosses), named per process as tests run in parallel. */
    static char path[4200];
    const char *db = getenv(ENV_DB);
    const char *slash = strrchr(db, '/');
    snprintf(path, sizeof(path), "%.*s/%d-%s", (int)(slash - db), db, (int)getpid(), name);
    *data = buf;
    *len = n;
    return path;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* The separator between search tree and data section: 16 zero bytes at a node boundary. No
 * valid record is 0 (that would point at the root), so two whole zero records never occur
 * inside a tree. Record size 24: 6 bytes a node. */
static size_t find_separator(const uint8_t *d, size_t len)
{
    static const uint8_t zero[16];
    for (size_t o = 0; o + 16 <= len; o += 6) {
        if (memcmp(d + o, zero, 16) == 0)
            return o;
    }
    cr_assert_fail("no data section separator found");
    return 0;
}

static size_t find_metadata(const uint8_t *d, size_t len)
{
    static const char marker[] = "\xab\xcd\xefMaxMind.com";
    for (size_t o = len - (sizeof(marker) - 1); o > 0; o--) {
        if (memcmp(d + o, marker, sizeof(marker) - 1) == 0)
            return o;
    }
    cr_assert_fail("no metadata marker found");
    return 0;
}

static void expect_refused(const char *path, const char *reason)
{
    hadns_err_t err = {{0}};
    geoip_t *g = geoip_open(path, &err);
    cr_assert_null(g, "%s was accepted", path);
    cr_assert(strncmp(err.msg, path, strlen(path)) == 0 && err.msg[strlen(path)] == ':',
              "the error does not start with the path: '%s'", err.msg);
    cr_assert(strstr(err.msg, reason), "'%s' does not say '%s'", err.msg, reason);
    cr_log_info("%s", err.msg);
}

/* ---- the own database (tests/data/mkmmdb.pl) ---- */

Test(geoip_own, open_metadata)
{
    geoip_t *g = open_own();
    cr_assert_str_eq(geoip_type(g), "GeoIP2-City");
    cr_assert_str_eq(geoip_path(g), own_db());
    geoip_t *g2 = open_own();
    cr_assert_neq(geoip_generation(g), 0);
    cr_assert_neq(geoip_generation(g2), 0);
    cr_assert_neq(geoip_generation(g), geoip_generation(g2), "a generation was reused");
    geoip_unref(g2);
    geoip_unref(g);
}

Test(geoip_own, ipv4_networks)
{
    geoip_t *g = open_own();
    expect(g, "192.0.2.7", "EU", "DE", "BE", 24);
    expect_coords(g, "192.0.2.7", 52.52, 13.40);
    expect(g, "198.51.100.200", "NA", "US", "CA", 24);
    expect_coords(g, "198.51.100.200", 37.77, -122.42);
    expect(g, "203.0.113.255", "AS", "JP", "13", 24);
    expect_coords(g, "203.0.113.255", 35.69, 139.69);
    expect(g, "100.64.200.1", "EU", "GB", "", 16);
    expect_coords(g, "100.64.200.1", 51.51, -0.13);
    expect(g, "100.65.0.5", "OC", "AU", "", 25);
    expect_coords(g, "100.65.0.5", -33.87, 151.21);
    expect(g, "127.0.0.1", "NA", "US", "TX", 8);
    expect_coords(g, "127.0.0.1", 30.27, -97.74);
    geoip_unref(g);
}

Test(geoip_own, ipv6_networks)
{
    geoip_t *g = open_own();
    expect(g, "2001:db8:1::5", "EU", "FR", "", 48);
    expect_coords(g, "2001:db8:1::5", 48.86, 2.35);
    expect(g, "2001:db8:2:ffff::1", "NA", "US", "NY", 48);
    expect_coords(g, "2001:db8:2:ffff::1", 40.71, -74.01);
    geoip_unref(g);
}

/* "country" absent, "registered_country" NL: the fallback. */
Test(geoip_own, registered_country_fallback)
{
    geoip_t *g = open_own();
    expect(g, "100.66.1.1", "EU", "NL", "", 16);
    expect_no_coords(g, "100.66.1.1");
    geoip_unref(g);
}

/* Codes come out upper case; one too long for its field is left out, not cut. */
Test(geoip_own, code_case_and_length)
{
    geoip_t *g = open_own();
    expect(g, "100.67.0.1", "EU", "IE", "", 16);
    geoip_unref(g);
}

Test(geoip_own, not_found)
{
    geoip_t *g = open_own();
    /* 0.0.0.0/2 holds none of the networks (the nearest is 100.64.0.0/16 = 0b01100100...),
     * and the writer leaves an empty subtree as one empty record: the prefix is 2. */
    expect(g, "10.0.0.1", "", "", "", 2);
    expect_no_coords(g, "10.0.0.1");
    /* The other half of 100.65.0.0/24, beside the /25. */
    expect(g, "100.65.0.200", "", "", "", 25);
    /* 2001:db8:3:: differs from 2001:db8:2:: only in bit 47: that whole /48 is empty. */
    expect(g, "2001:db8:3::1", "", "", "", 48);
    expect(g, "2001:db8:4::1", "", "", "", 46);
    geo_loc_t l = look(g, "2a00::1");
    cr_assert_str_empty(l.country);
    cr_assert(l.prefix >= 1 && l.prefix <= 128, "prefix %u", l.prefix);
    geoip_unref(g);
}

Test(geoip_own, prefix_covers_its_network)
{
    geoip_t *g = open_own();
    static const char *const addrs[] = {
        "192.0.2.7",     "198.51.100.1",  "203.0.113.9",     "100.64.1.2",
        "100.65.0.1",    "100.65.0.129",  "100.66.0.1",      "100.67.9.9",
        "127.1.2.3",     "10.0.0.1",      "255.255.255.255", "0.0.0.0",
        "2001:db8:1::",  "2001:db8:2::9", "2a00::1",         "::1",
        "2001:db8:5::1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(addrs); i++)
        expect_prefix_exact(g, addrs[i]);
    geoip_unref(g);
}

/* ::ffff:a.b.c.d is the IPv4 address, prefix in IPv4 terms. */
Test(geoip_own, ipv4_mapped)
{
    geoip_t *g = open_own();
    expect(g, "::ffff:192.0.2.7", "EU", "DE", "BE", 24);
    expect(g, "::ffff:100.65.0.5", "OC", "AU", "", 25);
    expect(g, "::ffff:10.0.0.1", "", "", "", 2);
    geo_loc_t a = look(g, "::ffff:198.51.100.3"), b = look(g, "198.51.100.3");
    cr_assert(same_loc(&a, &b));
    geoip_unref(g);
}

Test(geoip_own, bad_family)
{
    geoip_t *g = open_own();
    uint8_t a[16] = {0};
    geo_loc_t l;
    cr_assert_not(geoip_lookup(g, 5, a, &l));
    cr_assert_str_empty(l.country);
    geoip_unref(g);
}

/* The regions the query path compares are the codes', per level, and 0 for an empty code. */
Test(geoip_lookup, regions_from_codes)
{
    geoip_t *g = open_own();
    geo_loc_t l = look(g, "198.51.100.1");
    cr_assert_eq(l.region[GEO_CONTINENT], geo_region(GEO_CONTINENT, "NA", ""));
    cr_assert_eq(l.region[GEO_COUNTRY], geo_region(GEO_COUNTRY, "US", ""));
    cr_assert_eq(l.region[GEO_SUBDIVISION], geo_region(GEO_SUBDIVISION, "US", "CA"));
    l = look(g, "100.64.0.1"); /* GB, no subdivision */
    cr_assert_eq(l.region[GEO_COUNTRY], geo_region(GEO_COUNTRY, "GB", ""));
    cr_assert_eq(l.region[GEO_SUBDIVISION], 0);
    l = look(g, "10.0.0.1"); /* not in the database */
    for (int i = 0; i < GEO_LEVELS; i++)
        cr_assert_eq(l.region[i], 0);
    geoip_unref(g);
    /* Distinct levels and codes never compare equal. */
    cr_assert_neq(geo_region(GEO_CONTINENT, "EU", ""), geo_region(GEO_COUNTRY, "EU", ""));
    cr_assert_neq(geo_region(GEO_SUBDIVISION, "US", "C"), geo_region(GEO_SUBDIVISION, "US", "CA"));
    cr_assert_neq(geo_region(GEO_SUBDIVISION, "US", "CA"), geo_region(GEO_SUBDIVISION, "US", "CAB"));
    cr_assert_neq(geo_region(GEO_SUBDIVISION, "JP", "13"), geo_region(GEO_SUBDIVISION, "JP", "14"));
    cr_assert_eq(geo_region(GEO_SUBDIVISION, "US", ""), 0);
}

/* ---- the cache ---- */

Test(geoip_cache, hit_equals_uncached)
{
    geoip_t *g = open_own();
    geoip_cache_t *c = cache_new();
    geo_loc_t l;
    cr_assert(cached(g, c, "192.0.2.7", &l));
    cr_assert_eq(c->misses, 1);
    cr_assert_eq(c->hits, 0);
    cr_assert(cached(g, c, "192.0.2.99", &l));
    cr_assert_eq(c->hits, 1, "same /24 was not a hit");
    geo_loc_t u = look(g, "192.0.2.99");
    cr_assert(same_loc(&l, &u), "cached answer differs");
    /* The mapped form shares the IPv4 entry. */
    cr_assert(cached(g, c, "::ffff:192.0.2.200", &l));
    cr_assert_eq(c->hits, 2);
    cr_assert(same_loc(&l, &u));
    /* Not found is cached too (10.0.0.0/2 is wider than /24). */
    cr_assert(cached(g, c, "10.0.0.1", &l));
    cr_assert(cached(g, c, "10.0.0.2", &l));
    cr_assert_eq(c->hits, 3);
    cr_assert_str_empty(l.country);
    cr_assert_eq(l.prefix, 2);
    free(c);
    geoip_unref(g);
}

Test(geoip_cache, ipv6_by_48)
{
    geoip_t *g = open_own();
    geoip_cache_t *c = cache_new();
    geo_loc_t l;
    cr_assert(cached(g, c, "2001:db8:2::1", &l));
    cr_assert(cached(g, c, "2001:db8:2:abcd::2", &l));
    cr_assert_eq(c->misses, 1);
    cr_assert_eq(c->hits, 1);
    cr_assert_str_eq(l.country, "US");
    cr_assert_str_eq(l.subdivision, "NY");
    cr_assert(cached(g, c, "2001:db8:1::1", &l));
    cr_assert_eq(c->misses, 2);
    cr_assert_str_eq(l.country, "FR");
    free(c);
    geoip_unref(g);
}

/* 192.0.2.0/24 and 100.68.0.0/15 share one data record: the record cache gives the second
 * lookup the record's fields and its own network's prefix. */
Test(geoip_cache, record_shared_by_networks)
{
    geoip_t *g = open_own();
    geoip_cache_t *c = cache_new();
    geo_loc_t l;
    cr_assert(cached(g, c, "192.0.2.5", &l));
    cr_assert_eq(l.prefix, 24);
    cr_assert(cached(g, c, "100.68.1.1", &l));
    cr_assert_eq(c->misses, 2);
    cr_assert_str_eq(l.country, "DE");
    cr_assert_str_eq(l.subdivision, "BE");
    cr_assert_eq(l.prefix, 15, "prefix %u: the record cache leaked another network's", l.prefix);
    geo_loc_t u = look(g, "100.68.1.1");
    cr_assert(same_loc(&l, &u), "record cache differs from an uncached lookup");
    free(c);
    geoip_unref(g);
}

/* Every address of a spread over the database, looked up twice through one small cache (so
 * slots and records are replaced as well as hit), answers exactly as an uncached lookup. */
static void expect_cache_agrees(const geoip_t *g)
{
    static const char *const bases[] = {"192.0.2.%u", "198.51.100.%u", "203.0.113.%u",
                                        "100.64.%u.9", "100.65.0.%u", "100.66.%u.1",
                                        "100.67.1.%u", "100.68.%u.3", "100.69.%u.200",
                                        "127.%u.0.1", "10.%u.0.1", "2001:db8:1::%x",
                                        "2001:db8:2:%x::1", "2001:db8:%x::1",
                                        "::ffff:192.0.2.%u", "81.2.69.%u", "2.125.160.%u",
                                        "216.160.83.%u", "89.160.20.%u", "2a02:cf40::%x"};
    geoip_cache_t *c = cache_new();
    for (int pass = 0; pass < 2; pass++) {
        for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
            for (unsigned i = 0; i < 256; i += 3) {
                char text[64];
                snprintf(text, sizeof(text), bases[b], i);
                geo_loc_t l;
                cached(g, c, text, &l);
                geo_loc_t u = look(g, text);
                cr_assert(same_loc(&l, &u), "%s (pass %d): cached %s/%s/%s /%u, uncached "
                          "%s/%s/%s /%u", text, pass, l.continent, l.country, l.subdivision,
                          l.prefix, u.continent, u.country, u.subdivision, u.prefix);
            }
        }
    }
    cr_assert_gt(c->hits, 0);
    free(c);
}

Test(geoip_cache, agrees_with_uncached)
{
    geoip_t *g = open_own();
    expect_cache_agrees(g);
    geoip_unref(g);
}

/* 100.65.0.0/25 is narrower than the /24 key: caching it would answer 100.65.0.200 "AU". */
Test(geoip_cache, narrow_network_not_cached)
{
    geoip_t *g = open_own();
    geoip_cache_t *c = cache_new();
    geo_loc_t l;
    cr_assert(cached(g, c, "100.65.0.5", &l));
    cr_assert_str_eq(l.country, "AU");
    cr_assert(cached(g, c, "100.65.0.5", &l));
    cr_assert_eq(c->hits, 0, "a /25 was cached");
    cr_assert_eq(c->misses, 2);
    cr_assert(cached(g, c, "100.65.0.200", &l));
    cr_assert_str_empty(l.country, "100.65.0.200 got '%s'", l.country);
    cr_assert_eq(l.prefix, 25);
    free(c);
    geoip_unref(g);
}

/* An entry from another database (same file, opened again: a reload) is not used. */
Test(geoip_cache, generation)
{
    geoip_t *g1 = open_own(), *g2 = open_own();
    geoip_cache_t *c = cache_new();
    geo_loc_t l;
    cr_assert(cached(g1, c, "203.0.113.1", &l));
    cr_assert(cached(g2, c, "203.0.113.1", &l));
    cr_assert_eq(c->hits, 0);
    cr_assert_eq(c->misses, 2);
    cr_assert(cached(g2, c, "203.0.113.2", &l));
    cr_assert_eq(c->hits, 1);
    free(c);
    geoip_unref(g1);
    geoip_unref(g2);
}

Test(geoip_cache, null_cache)
{
    geoip_t *g = open_own();
    uint8_t a[4] = {192, 0, 2, 1};
    geo_loc_t l;
    cr_assert_eq(geoip_lookup_cached(g, NULL, 4, a, &l), &l);
    cr_assert_str_eq(l.country, "DE");
    geoip_unref(g);
}

/* ---- references and refused files ---- */

Test(geoip_open, refcount)
{
    geoip_unref(NULL);
    geoip_t *g = open_own();
    geoip_ref(g);
    geoip_unref(g);
    /* Still open: under ASan a use after the close would show here. */
    expect(g, "192.0.2.1", "EU", "DE", "BE", 24);
    geoip_unref(g);
}

Test(geoip_open, missing_file)
{
    expect_refused(TEST_DATA_DIR "/no-such-file.mmdb", "cannot open GeoIP database");
    expect_refused(TEST_DATA_DIR "/no-such-file.mmdb", "No such file or directory");
}

Test(geoip_open, not_an_mmdb)
{
    expect_refused(tu_data("answer.zone"), "cannot open GeoIP database");
}

Test(geoip_open, wrong_type)
{
    own_db();
    const char *db = getenv(ENV_DB);
    char path[4200], errf[4200];
    snprintf(path, sizeof(path), "%s.anon-%d.mmdb", db, (int)getpid());
    snprintf(errf, sizeof(errf), "%s.anon-%d.err", db, (int)getpid());
    int rc = run_mkmmdb("--type=GeoIP2-Anonymous-IP", path, errf);
    cr_assert_eq(rc, 0, "mkmmdb.pl --type: exit %d: %s", rc, first_line(errf));
    expect_refused(path, "'GeoIP2-Anonymous-IP' is not a City or Country database");
    unlink(path);
    unlink(errf);
}

/* A search tree record pointing past the end of the file: MMDB_open does not look, the tree
 * scan at open must. */
Test(geoip_open, corrupt_search_tree)
{
    uint8_t *d;
    size_t len;
    const char *path = copy_own("tree.mmdb", &d, &len);
    d[3] = d[4] = d[5] = 0xff; /* node 0, right record (24-bit records: 3 bytes each) */
    write_file(path, d, len);
    expect_refused(path, "corrupt GeoIP database: search tree node 0");
    unlink(path);
}

/* A record pointing into the 16-byte separator decodes at a wrapped offset: also refused. */
Test(geoip_open, record_into_separator)
{
    uint8_t *d;
    size_t len;
    const char *path = copy_own("sep.mmdb", &d, &len);
    size_t nodes = find_separator(d, len) / 6;
    uint32_t rec = (uint32_t)nodes + 3;
    d[3] = (uint8_t)(rec >> 16);
    d[4] = (uint8_t)(rec >> 8);
    d[5] = (uint8_t)rec;
    write_file(path, d, len);
    expect_refused(path, "corrupt GeoIP database: search tree node 0");
    unlink(path);
}

/* A garbage data section: the tree is sound, the probe lookup of 127.0.0.1 (found in the own
 * database) must fail to decode its entry. */
Test(geoip_open, corrupt_data_section)
{
    uint8_t *d;
    size_t len;
    const char *path = copy_own("data.mmdb", &d, &len);
    size_t start = find_separator(d, len) + 16, end = find_metadata(d, len);
    cr_assert_lt(start, end);
    memset(d + start, 0xff, end - start);
    write_file(path, d, len);
    expect_refused(path, "corrupt GeoIP database: lookup of");
    unlink(path);
}

/* ---- MaxMind's own test databases, when HADNS_MAXMIND_DIR names them ---- */

static const char *maxmind(const char *name)
{
    const char *dir = getenv(ENV_MAXMIND);
    if (!dir || !*dir)
        cr_skip_test("%s is not set (make check sets it when ../shared/data/maxmind lies beside "
                     "the source tree): MaxMind's test databases not checked",
                     ENV_MAXMIND);
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    /* Set but wrong is a setup error, not a reason to skip quietly. */
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s=%s: %s: %s", ENV_MAXMIND, dir, name, strerror(errno));
    return path;
}

Test(geoip_maxmind, cache_agrees_with_uncached)
{
    geoip_t *g = open_ok(maxmind("GeoIP2-City-Test.mmdb"));
    expect_cache_agrees(g);
    geoip_unref(g);
}

/* shared/data/README.md's table: address, country, continent, latitude. */
static const struct {
    const char *addr, *country, *continent;
    double lat;
} MM_ADDRS[] = {
    {"2.125.160.216", "GB", "EU", 51.75}, {"81.2.69.142", "GB", "EU", 51.51},
    {"89.160.20.112", "SE", "EU", 58.42}, {"216.160.83.56", "US", "NA", 47.25},
    {"175.16.199.0", "CN", "AS", 43.88},  {"67.43.156.0", "BT", "AS", 27.50},
    {"202.196.224.0", "PH", "AS", 13.00}, {"2001:218::1", "JP", "AS", 35.69},
};

Test(geoip_maxmind, city)
{
    geoip_t *g = open_ok(maxmind("GeoIP2-City-Test.mmdb"));
    cr_assert_str_eq(geoip_type(g), "GeoIP2-City");
    for (size_t i = 0; i < ARRAY_SIZE(MM_ADDRS); i++) {
        geo_loc_t l = look(g, MM_ADDRS[i].addr);
        cr_assert_str_eq(l.country, MM_ADDRS[i].country, "%s: '%s'", MM_ADDRS[i].addr, l.country);
        cr_assert_str_eq(l.continent, MM_ADDRS[i].continent, "%s: '%s'", MM_ADDRS[i].addr,
                         l.continent);
        cr_assert(l.has_coords, "%s: no coordinates", MM_ADDRS[i].addr);
        cr_assert_float_eq(l.lat, MM_ADDRS[i].lat, 0.01, "%s: lat %f", MM_ADDRS[i].addr, l.lat);
        expect_prefix_exact(g, MM_ADDRS[i].addr);
    }
    /* Subdivision codes of 1 to 3 characters (GeoIP2-City-Test.json). */
    expect(g, "2.125.160.216", "EU", "GB", "ENG", look(g, "2.125.160.216").prefix);
    expect(g, "216.160.83.56", "NA", "US", "WA", look(g, "216.160.83.56").prefix);
    expect(g, "89.160.20.112", "EU", "SE", "E", look(g, "89.160.20.112").prefix);
    /* A network with a continent and a location but no country (2a02:d500::/29). */
    geo_loc_t l = look(g, "2a02:d500::1");
    cr_assert_str_eq(l.continent, "EU");
    cr_assert_str_empty(l.country);
    cr_assert_eq(l.prefix, 29);
    /* Not in the database. */
    l = look(g, "1.1.1.1");
    cr_assert_str_empty(l.country);
    expect_prefix_exact(g, "1.1.1.1");
    geoip_unref(g);
}

Test(geoip_maxmind, country)
{
    geoip_t *g = open_ok(maxmind("GeoIP2-Country-Test.mmdb"));
    cr_assert_str_eq(geoip_type(g), "GeoIP2-Country");
    for (size_t i = 0; i < ARRAY_SIZE(MM_ADDRS); i++) {
        geo_loc_t l = look(g, MM_ADDRS[i].addr);
        cr_assert_str_eq(l.country, MM_ADDRS[i].country, "%s: '%s'", MM_ADDRS[i].addr, l.country);
        cr_assert_str_eq(l.continent, MM_ADDRS[i].continent);
        /* A Country database has no subdivisions and no location. */
        cr_assert_str_empty(l.subdivision);
        cr_assert_not(l.has_coords);
        expect_prefix_exact(g, MM_ADDRS[i].addr);
    }
    geoip_unref(g);
}

Test(geoip_maxmind, geolite2)
{
    geoip_t *g = open_ok(maxmind("GeoLite2-City-Test.mmdb"));
    cr_assert_str_eq(geoip_type(g), "GeoLite2-City");
    expect(g, "81.2.69.142", "EU", "GB", "ENG", look(g, "81.2.69.142").prefix);
    geoip_unref(g);
    g = open_ok(maxmind("GeoLite2-Country-Test.mmdb"));
    cr_assert_str_eq(geoip_type(g), "GeoLite2-Country");
    expect(g, "81.2.69.142", "EU", "GB", "", look(g, "81.2.69.142").prefix);
    geoip_unref(g);
}

/* Deliberately corrupt (its metadata's node_count does not fit the file): refused, with the
 * path and libmaxminddb's reason. */
Test(geoip_maxmind, invalid_node_count)
{
    expect_refused(maxmind("GeoIP2-City-Test-Invalid-Node-Count.mmdb"),
                   "cannot open GeoIP database: The MaxMind DB file contains invalid metadata");
}
