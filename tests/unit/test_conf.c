/* SPDX-License-Identifier: MIT */
/* test_conf.c: listen addresses, the JSON config, its defaults, path resolution, and that every
 * error names its key (or line, for JSON syntax). */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "test_util.h"

/* ---- conf_parse_addr ---- */

static void expect_v4(const char *s, const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert(conf_parse_addr(s, 53, &ss, &len), "'%s' rejected", s);
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
    cr_assert_eq(v4->sin_family, AF_INET, "'%s' is not IPv4", s);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf));
    cr_assert_str_eq(buf, addr);
    cr_assert_eq(ntohs(v4->sin_port), port, "'%s': port %u", s, ntohs(v4->sin_port));
}

static void expect_v6(const char *s, const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert(conf_parse_addr(s, 53, &ss, &len), "'%s' rejected", s);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(v6->sin6_family, AF_INET6, "'%s' is not IPv6", s);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
    cr_assert_str_eq(buf, addr);
    cr_assert_eq(ntohs(v6->sin6_port), port, "'%s': port %u", s, ntohs(v6->sin6_port));
}

static void expect_bad_addr(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert_not(conf_parse_addr(s, 53, &ss, &len), "'%s' accepted", s);
}

Test(conf_addr, ipv4)
{
    expect_v4("127.0.0.1:53", "127.0.0.1", 53);
    expect_v4("192.0.2.1:5353", "192.0.2.1", 5353);
    expect_v4("127.0.0.1", "127.0.0.1", 53);
    expect_v4("0.0.0.0:0", "0.0.0.0", 0);
    expect_v4("10.0.0.1:65535", "10.0.0.1", 65535);
}

Test(conf_addr, ipv6)
{
    expect_v6("[::1]:5353", "::1", 5353);
    expect_v6("::1", "::1", 53);
    expect_v6("[::1]", "::1", 53);
    expect_v6("::", "::", 53);
    expect_v6("[2001:db8::53]:8053", "2001:db8::53", 8053);
    expect_v6("2001:db8::53", "2001:db8::53", 53);
    expect_v6("[::ffff:192.0.2.1]:53", "::ffff:192.0.2.1", 53);
}

Test(conf_addr, default_port_is_the_callers)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(conf_parse_addr("127.0.0.1", 8053, &ss, &len));
    cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8053);
    cr_assert(conf_parse_addr("::1", 8053, &ss, &len));
    cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8053);
}

Test(conf_addr, bad)
{
    static const char *bad[] = {
        "",
        "localhost:53",    /* names are not resolved */
        "127.0.0.1:",      /* empty port */
        "127.0.0.1:65536", /* port out of range */
        "127.0.0.1:99999999999999999999",
        "127.0.0.1:-1",
        "127.0.0.1:+53",
        "127.0.0.1:53x",
        "127.0.0.1:0x35",
        "127.0.0.1:53 ",
        "1.2.3.4.5",
        "256.0.0.1",
        "[::1", /* unclosed bracket */
        "[::1]x",
        "[::1]:",
        "[::1]:65536",
        "[]:53",
        "[localhost]:53",
        ":::1",
        "2001:db8::1::2",
        "127.0.0.1:53:53",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000]:53", /* longer than any address */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_addr(bad[i]);
}

Test(conf_addr, port_must_be_digits)
{
    /* The parser turns away "-1" and "+53" although strtoul takes them: only digits make a
     * port. strtoul also skips leading white space, which must be refused the same way. */
    expect_bad_addr("127.0.0.1: 53");
    expect_bad_addr("[::1]: 53");
    expect_bad_addr("127.0.0.1:\t53");
}

/* ---- conf_load ---- */

static char dir[64];

static void mk_dir(void)
{
    strcpy(dir, "/tmp/hadns-conf-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(conf, .init = mk_dir, .fini = rm_dir);

static char path[4096];

/* Writes json as dir/hadnsd.json and loads it; the error text goes to msg. */
static cfg_t *load_json(const char *json, char msg[512])
{
    snprintf(path, sizeof(path), "%s", tu_write(dir, "hadnsd.json", json));
    hadns_err_t err = {{0}};
    cfg_t *c = conf_load(path, &err);
    strcpy(msg, err.msg);
    if (c)
        cr_assert_eq(msg[0], '\0', "loaded, but err says '%s'", msg);
    else
        cr_assert_neq(msg[0], '\0', "failed without a message");
    return c;
}

/* The config must be refused with "<path>: <want>..." */
static void expect_error(const char *json, const char *want)
{
    char msg[512], full[4200];
    cfg_t *c = load_json(json, msg);
    conf_free(c); /* before asserting, so a failure leaks nothing */
    cr_assert_null(c, "accepted; expected '%s'", want);
    snprintf(full, sizeof(full), "%s: %s", path, want);
    cr_assert(strncmp(msg, full, strlen(full)) == 0, "'%s' does not start with '%s'", msg, full);
}

#define MIN_LISTEN "\"listen\": [\"127.0.0.1:5353\"]"
#define MIN_ZONES  "\"zones\": []"

Test(conf, good_fixture)
{
    hadns_err_t err = {{0}};
    const char *p = tu_data("conf/good.json");
    char pdir[4096];
    snprintf(pdir, sizeof(pdir), "%s/conf", TEST_DATA_DIR);
    cfg_t *c = conf_load(p, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_str_eq(c->path, p);
    cr_assert_eq(c->nlisten, 4);
    cr_assert_str_eq(c->listen[0].text, "127.0.0.1:5353");
    cr_assert_eq(c->listen[0].addr.ss_family, AF_INET);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&c->listen[0].addr)->sin_port), 5353);
    cr_assert_eq(c->listen[1].addr.ss_family, AF_INET6);
    cr_assert_eq(c->listen[1].addrlen, sizeof(struct sockaddr_in6));
    cr_assert_eq(ntohs(((struct sockaddr_in *)&c->listen[2].addr)->sin_port), CONF_DEFAULT_PORT);
    cr_assert_eq(c->listen[3].addr.ss_family, AF_INET6);
    cr_assert_eq(c->workers, 3);
    cr_assert_eq(c->udp_payload, 4096);
    cr_assert_eq(c->tcp_idle_timeout, 30);
    cr_assert_eq(c->tcp_max_connections, 100);
    cr_assert_eq(c->nsid_len, 9);
    cr_assert(memcmp(c->nsid, "ns-test-1", 9) == 0);
    cr_assert_eq(c->log_level, LOG_LVL_DEBUG);
    /* zone_dir is relative to the config file's directory; files are relative to zone_dir. */
    char want[8192];
    snprintf(want, sizeof(want), "%s/../zones", pdir);
    cr_assert_str_eq(c->zone_dir, want);
    cr_assert_eq(c->nzones, 3);
    cr_assert_str_eq(c->zones[0].name, "example.com.");
    snprintf(want, sizeof(want), "%s/../zones/example.com.zone", pdir);
    cr_assert_str_eq(c->zones[0].file, want);
    cr_assert_str_eq(c->zones[1].name, "Example.NET", "the name as written");
    cr_assert_str_eq(c->zones[1].file, "/var/lib/hadnsd/example.net.zone", "absolute kept");
    /* No "file": the zone name without its trailing dot, plus ".zone". */
    snprintf(want, sizeof(want), "%s/../zones/example.org.zone", pdir);
    cr_assert_str_eq(c->zones[2].file, want);
    conf_free(c);
    conf_free(NULL);
}

Test(conf, defaults)
{
    hadns_err_t err = {{0}};
    cfg_t *c = conf_load(tu_data("conf/minimal.json"), &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->udp_payload, CONF_DEFAULT_UDP_PAYLOAD);
    cr_assert_eq(c->udp_payload, 1232);
    cr_assert_eq(c->tcp_idle_timeout, CONF_DEFAULT_TCP_IDLE);
    cr_assert_eq(c->tcp_max_connections, CONF_DEFAULT_TCP_MAX);
    cr_assert_null(c->nsid);
    cr_assert_eq(c->nsid_len, 0);
    cr_assert_eq(c->log_level, LOG_LVL_INFO);
    cr_assert_eq(c->nzones, 0);
    /* workers 0 (the default) is one per online CPU, at least one. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(c->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus);
    /* No zone_dir: the config file's own directory (compared resolved: "dir/." is fine). */
    char want[4096], a[PATH_MAX], b[PATH_MAX];
    snprintf(want, sizeof(want), "%s/conf", TEST_DATA_DIR);
    cr_assert_not_null(realpath(c->zone_dir, a), "%s", c->zone_dir);
    cr_assert_not_null(realpath(want, b));
    cr_assert_str_eq(a, b);
    cr_assert_eq(c->nlisten, 1);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&c->listen[0].addr)->sin_port), 53);
    conf_free(c);
}

Test(conf, json_syntax_error_names_the_line)
{
    hadns_err_t err = {{0}};
    const char *p = tu_data("conf/syntax.json");
    cr_assert_null(conf_load(p, &err));
    char want[4200];
    snprintf(want, sizeof(want), "%s:3:", p);
    cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "'%s' does not start with '%s'", err.msg,
              want);
}

Test(conf, json_syntax_errors)
{
    char msg[512];
    cr_assert_null(load_json("{\n\"listen\": [\"127.0.0.1\"],\n\n\"zones\": [],\n}\n", msg));
    char want[4200];
    snprintf(want, sizeof(want), "%s:5:", path);
    cr_assert(strncmp(msg, want, strlen(want)) == 0, "'%s' does not name line 5", msg);
    /* A key given twice is refused, not silently overridden. */
    cr_assert_null(load_json("{\"listen\": [\"127.0.0.1\"],\n\"zones\": [],\n"
                             "\"workers\": 1,\n\"workers\": 2}\n",
                             msg));
    snprintf(want, sizeof(want), "%s:4:", path);
    cr_assert(strncmp(msg, want, strlen(want)) == 0, "'%s' does not name line 4", msg);
    /* Empty file, missing file. */
    cr_assert_null(load_json("", msg));
    hadns_err_t err = {{0}};
    cr_assert_null(conf_load("/nonexistent/hadnsd.json", &err));
    cr_assert(strncmp(err.msg, "/nonexistent/hadnsd.json: ", 26) == 0, "%s", err.msg);
}

Test(conf, top_level_must_be_an_object)
{
    expect_error("[1, 2]", "the top level must be a JSON object");
}

Test(conf, unknown_key)
{
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"listne\": 1}", "listne: unknown key");
}

Test(conf, required_keys)
{
    expect_error("{" MIN_ZONES "}", "listen: missing (required)");
    expect_error("{" MIN_LISTEN "}", "zones: missing (required)");
}

Test(conf, listen_errors)
{
    expect_error("{\"listen\": \"127.0.0.1\", " MIN_ZONES "}", "listen: must be");
    expect_error("{\"listen\": [], " MIN_ZONES "}", "listen: must be");
    expect_error("{\"listen\": [\"127.0.0.1\", \"localhost:53\"], " MIN_ZONES "}",
                 "listen[1]: not an \"address:port\"");
    expect_error("{\"listen\": [\"127.0.0.1\", 53], " MIN_ZONES "}", "listen[1]: ");
}

Test(conf, number_ranges)
{
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"udp_payload\": 100}",
                 "udp_payload: must be an integer from 512 to 4096");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"udp_payload\": 4097}", "udp_payload: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"udp_payload\": \"1232\"}", "udp_payload: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"udp_payload\": 1232.5}", "udp_payload: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"workers\": 257}", "workers: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"workers\": -1}", "workers: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"tcp_idle_timeout\": 0}", "tcp_idle_timeout: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"tcp_max_connections\": 0}",
                 "tcp_max_connections: ");
    /* The limits themselves are fine. */
    char msg[512];
    cfg_t *c = load_json("{" MIN_LISTEN ", " MIN_ZONES ", \"udp_payload\": 512, \"workers\": 256,"
                         " \"tcp_idle_timeout\": 3600, \"tcp_max_connections\": 100000}",
                         msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_eq(c->udp_payload, 512);
    cr_assert_eq(c->workers, 256);
    conf_free(c);
}

Test(conf, string_keys)
{
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"log_level\": \"loud\"}", "log_level: must be");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"log_level\": 3}", "log_level: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"nsid\": \"\"}", "nsid: ");
    char json[512];
    snprintf(json, sizeof(json), "{" MIN_LISTEN ", " MIN_ZONES ", \"nsid\": \"%0129d\"}", 0);
    expect_error(json, "nsid: at most 128 bytes");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"zone_dir\": \"\"}", "zone_dir: ");
}

Test(conf, zone_errors)
{
    expect_error("{" MIN_LISTEN ", \"zones\": {}}", "zones: must be an array");
    expect_error("{" MIN_LISTEN ", \"zones\": [\"example.com\"]}", "zones[0]: must be an object");
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"a..b\"}]}",
                 "zones[0].name: not a valid domain name");
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"file\": \"x.zone\"}]}", "zones[0].name: missing");
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"ok.\"}, {\"name\": 5}]}",
                 "zones[1].name: must be a non-empty string");
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"ok.\", \"fiel\": \"x\"}]}",
                 "zones[0].fiel: unknown key");
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"ok.\", \"file\": \"\"}]}",
                 "zones[0].file: must be a non-empty string");
    char name[300];
    memset(name, 'a', 64);
    name[64] = '\0';
    char json[600];
    snprintf(json, sizeof(json), "{" MIN_LISTEN ", \"zones\": [{\"name\": \"%s.com\"}]}", name);
    expect_error(json, "zones[0].name: not a valid domain name");
}

Test(conf, duplicate_zone)
{
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"example.com\"}, {\"name\": \"a.\"},"
                 " {\"name\": \"example.com\"}]}",
                 "zones[2].name: zone example.com is already configured");
    /* Case and the trailing dot do not make a different zone. */
    expect_error("{" MIN_LISTEN ", \"zones\": [{\"name\": \"example.com\"},"
                 " {\"name\": \"EXAMPLE.com.\"}]}",
                 "zones[1].name: zone EXAMPLE.com. is already configured");
}

Test(conf, relative_paths)
{
    /* Config in <dir>/etc/, zone_dir "../zones" -> <dir>/etc/../zones/<file>. */
    char sub[128], cfgpath[4096], msg[512];
    snprintf(sub, sizeof(sub), "%s/etc", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(cfgpath, sizeof(cfgpath), "%s",
             tu_write(sub, "h.json",
                      "{" MIN_LISTEN ", \"zone_dir\": \"../zones\","
                      " \"zones\": [{\"name\": \"a.\", \"file\": "
                      "\"a.zone\"}, {\"name\": \"b.\", \"file\": "
                      "\"sub/b.zone\"}]}"));
    hadns_err_t err = {{0}};
    cfg_t *c = conf_load(cfgpath, &err);
    cr_assert_not_null(c, "%s", err.msg);
    char want[512];
    snprintf(want, sizeof(want), "%s/etc/../zones/a.zone", dir);
    cr_assert_str_eq(c->zones[0].file, want);
    snprintf(want, sizeof(want), "%s/etc/../zones/sub/b.zone", dir);
    cr_assert_str_eq(c->zones[1].file, want);
    conf_free(c);

    /* An absolute zone_dir is used as it is. */
    c = load_json("{" MIN_LISTEN ", \"zone_dir\": \"/srv/zones\", \"zones\": [{\"name\": \"a.\"}]}",
                  msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_str_eq(c->zone_dir, "/srv/zones");
    cr_assert_str_eq(c->zones[0].file, "/srv/zones/a.zone");
    conf_free(c);

    /* A config named relative to the working directory: paths stay relative to it, so they
     * work from there, with no "./" noise. */
    char cwd[PATH_MAX];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(sub), 0);
    err = (hadns_err_t){{0}};
    c = conf_load("h.json", &err);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_str_eq(c->zones[0].file, "../zones/a.zone");
    conf_free(c);
    tu_write(sub, "i.json", "{" MIN_LISTEN ", \"zones\": [{\"name\": \"a.\"}]}");
    cr_assert_eq(chdir(sub), 0);
    err = (hadns_err_t){{0}};
    c = conf_load("i.json", &err);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_str_eq(c->zones[0].file, "a.zone");
    conf_free(c);
}

Test(conf, error_names_the_first_bad_key_only)
{
    /* The first error wins (err_set keeps it): the message is about listen, not workers. */
    expect_error("{\"listen\": 5, \"workers\": 1000, " MIN_ZONES "}", "listen: ");
}

Test(conf, reuse_connection)
{
    /* http(s) checks and templates reuse their connection unless told not to; the key means
     * nothing to (and is refused for) other types, whose specs say false. */
    char msg[512];
    cfg_t *c = load_json(
        "{" MIN_LISTEN ", \"zones\": [{\"name\": \"a.\", \"file\": \"a.zone\"}], \"checks\": ["
        "{\"name\": \"d\", \"type\": \"http\", \"target\": \"192.0.2.1\"},"
        "{\"name\": \"off\", \"type\": \"https\", \"target\": \"192.0.2.1\","
        " \"reuse_connection\": false},"
        "{\"name\": \"on\", \"url\": \"http://192.0.2.1/\", \"reuse_connection\": true},"
        "{\"name\": \"t\", \"type\": \"tcp\", \"target\": \"192.0.2.1\", \"port\": 1}],"
        "\"check_templates\": [{\"name\": \"w\", \"zone\": \"a.\", \"owner\": \"@\","
        " \"type\": \"A\", \"check\": {\"type\": \"http\", \"reuse_connection\": false}}]}",
        msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_eq(c->nchecks, 4);
    cr_assert(c->checks[0].reuse_connection, "the default");
    cr_assert_not(c->checks[1].reuse_connection);
    cr_assert(c->checks[2].reuse_connection);
    cr_assert_not(c->checks[3].reuse_connection, "not an HTTP check");
    cr_assert_eq(c->ntemplates, 1);
    cr_assert_not(c->templates[0].check.reuse_connection);
    conf_free(c);
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"checks\": [{\"name\": \"c\", \"type\": "
                 "\"http\", \"target\": \"192.0.2.1\", \"reuse_connection\": 1}]}",
                 "checks[0].reuse_connection: must be true or false");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"checks\": [{\"name\": \"c\", \"type\": "
                 "\"tcp\", \"target\": \"192.0.2.1\", \"port\": 1, \"reuse_connection\": false}]}",
                 "checks[0].reuse_connection: only for http and https checks, this one is tcp");
}

Test(conf, cpu_lists)
{
    /* worker_cpus sets the worker count when workers is absent; health.cpus is a set. CPU 0
     * exists on every machine. */
    char msg[512];
    cfg_t *c = load_json("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": [0],"
                         " \"health\": {\"cpus\": [0]}}",
                         msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_eq(c->nworker_cpus, 1);
    cr_assert_eq(c->worker_cpus[0], 0);
    cr_assert_eq(c->workers, 1, "one worker per listed CPU");
    cr_assert_eq(c->nhealth_cpus, 1);
    cr_assert_eq(c->health_cpus[0], 0);
    conf_free(c);
    /* An explicit count wins: the workers take the CPUs in turn. */
    c = load_json("{" MIN_LISTEN ", " MIN_ZONES ", \"workers\": 3, \"worker_cpus\": [0]}", msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_eq(c->workers, 3);
    conf_free(c);
    /* Unset: nothing pinned. */
    c = load_json("{" MIN_LISTEN ", " MIN_ZONES "}", msg);
    cr_assert_not_null(c, "%s", msg);
    cr_assert_null(c->worker_cpus);
    cr_assert_null(c->health_cpus);
    conf_free(c);

    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": []}",
                 "worker_cpus: must be a non-empty array of CPU numbers");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": 0}", "worker_cpus: ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": [-1]}",
                 "worker_cpus[0]: must be a CPU number from 0 to ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": [0, \"1\"]}",
                 "worker_cpus[1]: must be a CPU number");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"worker_cpus\": [100000]}", "worker_cpus[0]: ");
    /* One more than this machine has. */
    char json[512];
    snprintf(json, sizeof(json), "{" MIN_LISTEN ", " MIN_ZONES ", \"health\": {\"cpus\": [%ld]}}",
             sysconf(_SC_NPROCESSORS_CONF));
    expect_error(json, "health.cpus[0]: must be a CPU number from 0 to ");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"health\": {\"cpus\": [0, 0]}}",
                 "health.cpus[1]: CPU 0 is listed twice");
    expect_error("{" MIN_LISTEN ", " MIN_ZONES ", \"health\": {\"cpus\": \"0\"}}", "health.cpus: ");
}
