/* SPDX-License-Identifier: MIT */
/* test_health.c: the rise/fall state machine (pure functions), and the registry without a
 * probe thread: results fed by hand, a fake clock, overrides, the change listener, template
 * reconciliation and the "wait" start-up. No sockets, no sleep. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "health.h"
#include "log.h"

/* ---- the state machine ---- */

static health_sm_t sm_new(unsigned rise, unsigned fall, enum health_state initial)
{
    health_sm_t sm;
    health_sm_init(&sm, rise, fall, initial);
    return sm;
}

/* Feeds a string of results ('+' ok, '-' failed) and returns the probed state after each as
 * 'U', 'D' or '?'. */
static void feed(health_sm_t *sm, const char *results, char *states)
{
    for (size_t i = 0; results[i]; i++) {
        health_sm_result(sm, results[i] == '+');
        states[i] = sm->state == HEALTH_UP ? 'U' : sm->state == HEALTH_DOWN ? 'D' : '?';
    }
    states[strlen(results)] = '\0';
}

static void expect_trace(unsigned rise, unsigned fall, enum health_state initial,
                         const char *results, const char *want)
{
    health_sm_t sm = sm_new(rise, fall, initial);
    char got[128];
    feed(&sm, results, got);
    cr_assert_str_eq(got, want, "rise %u fall %u from %s, results %s: states %s, want %s", rise,
                     fall, health_state_name(initial), results, got, want);
}

Test(health_sm, goes_down_after_exactly_fall_failures)
{
    expect_trace(2, 3, HEALTH_UP, "---", "UUD");
    expect_trace(2, 1, HEALTH_UP, "-", "D");
    expect_trace(2, 5, HEALTH_UP, "-----", "UUUUD");
}

Test(health_sm, goes_up_after_exactly_rise_successes)
{
    expect_trace(2, 3, HEALTH_DOWN, "++", "DU");
    expect_trace(1, 3, HEALTH_DOWN, "+", "U");
    expect_trace(4, 3, HEALTH_DOWN, "++++", "DDDU");
}

Test(health_sm, a_result_of_the_other_kind_restarts_the_count)
{
    /* Two failures, a success, then three more failures: down only at the last. */
    expect_trace(2, 3, HEALTH_UP, "--+---", "UUUUUD");
    /* Down, one success, a failure, then two successes. */
    expect_trace(2, 3, HEALTH_DOWN, "+-++", "DDDU");
}

Test(health_sm, flapping_never_changes_state)
{
    expect_trace(2, 2, HEALTH_UP, "-+-+-+-+-+-+-+-+", "UUUUUUUUUUUUUUUU");
    expect_trace(2, 2, HEALTH_DOWN, "+-+-+-+-+-+-+-+-", "DDDDDDDDDDDDDDDD");
    /* rise 1 / fall 1 follows every result. */
    expect_trace(1, 1, HEALTH_UP, "-+-+", "DUDU");
}

Test(health_sm, successes_while_up_and_failures_while_down_change_nothing)
{
    expect_trace(2, 3, HEALTH_UP, "++++++", "UUUUUU");
    expect_trace(2, 3, HEALTH_DOWN, "------", "DDDDDD");
}

Test(health_sm, the_first_result_decides_from_unknown)
{
    expect_trace(5, 5, HEALTH_UNKNOWN, "+", "U");
    expect_trace(5, 5, HEALTH_UNKNOWN, "-", "D");
    /* ... and then the thresholds apply. */
    expect_trace(2, 3, HEALTH_UNKNOWN, "+---", "UUUD");
    expect_trace(2, 3, HEALTH_UNKNOWN, "-++", "DDU");
}

Test(health_sm, result_reports_changes_only)
{
    health_sm_t sm = sm_new(2, 2, HEALTH_UP);
    cr_assert_not(health_sm_result(&sm, false));
    cr_assert(health_sm_result(&sm, false));
    cr_assert_not(health_sm_result(&sm, false));
    cr_assert_not(health_sm_result(&sm, true));
    cr_assert(health_sm_result(&sm, true));
}

Test(health_sm, override_wins_and_the_probes_are_still_tracked)
{
    health_sm_t sm = sm_new(2, 2, HEALTH_UP);
    health_sm_force(&sm, HEALTH_FORCE_DOWN);
    cr_assert_eq(health_sm_effective(&sm), HEALTH_DOWN);
    cr_assert_eq(sm.state, HEALTH_UP);
    /* The endpoint dies while forced down: the probed state follows underneath. */
    health_sm_result(&sm, false);
    health_sm_result(&sm, false);
    cr_assert_eq(sm.state, HEALTH_DOWN);
    cr_assert_eq(health_sm_effective(&sm), HEALTH_DOWN);
    health_sm_force(&sm, HEALTH_FORCE_UP);
    cr_assert_eq(health_sm_effective(&sm), HEALTH_UP);
    health_sm_force(&sm, HEALTH_AUTO);
    cr_assert_eq(health_sm_effective(&sm), HEALTH_DOWN);
    /* An unknown check forced up is up. */
    health_sm_t u = sm_new(2, 2, HEALTH_UNKNOWN);
    health_sm_force(&u, HEALTH_FORCE_UP);
    cr_assert_eq(health_sm_effective(&u), HEALTH_UP);
}

Test(health_sm, streaks_saturate_and_thresholds_are_clamped)
{
    health_sm_t sm = sm_new(0, 1000, HEALTH_UP);
    cr_assert_eq(sm.rise, 1);
    cr_assert_eq(sm.fall, HEALTH_STREAK_MAX);
    for (int i = 0; i < 1000; i++)
        health_sm_result(&sm, true);
    cr_assert_eq(sm.ok_streak, HEALTH_STREAK_MAX);
    for (int i = 0; i < HEALTH_STREAK_MAX - 1; i++)
        health_sm_result(&sm, false);
    cr_assert_eq(sm.state, HEALTH_UP);
    health_sm_result(&sm, false);
    cr_assert_eq(sm.state, HEALTH_DOWN);
    cr_assert_eq(sm.ok_streak, 0);
}

Test(health_sm, steps_left_before_a_change)
{
    health_sm_t sm;
    health_sm_init(&sm, 2, 3, HEALTH_UNKNOWN);
    cr_assert_eq(health_sm_steps(&sm), 1);
    health_sm_result(&sm, true); /* UP */
    cr_assert_eq(health_sm_steps(&sm), 3);
    health_sm_result(&sm, true);
    cr_assert_eq(health_sm_steps(&sm), 3, "a success while up moves nothing");
    health_sm_result(&sm, false);
    cr_assert_eq(health_sm_steps(&sm), 2);
    health_sm_result(&sm, false);
    health_sm_result(&sm, false); /* DOWN */
    cr_assert_eq(health_sm_steps(&sm), 2);
    health_sm_result(&sm, false);
    cr_assert_eq(health_sm_steps(&sm), 2, "a failure while down moves nothing");
    health_sm_result(&sm, true);
    cr_assert_eq(health_sm_steps(&sm), 1);
    health_sm_force(&sm, HEALTH_FORCE_UP);
    cr_assert_eq(health_sm_steps(&sm), 1, "the probed state counts, not the override");
}

Test(health_sm, names)
{
    enum health_force f;
    cr_assert(health_force_parse("up", &f) && f == HEALTH_FORCE_UP);
    cr_assert(health_force_parse("down", &f) && f == HEALTH_FORCE_DOWN);
    cr_assert(health_force_parse("auto", &f) && f == HEALTH_AUTO);
    cr_assert_not(health_force_parse("UP", &f));
    cr_assert_not(health_force_parse("", &f));
    cr_assert_str_eq(health_state_name(HEALTH_UNKNOWN), "unknown");
    cr_assert_str_eq(health_kind_name(HEALTH_HTTPS), "https");
}

/* ---- the registry, with a fake clock ---- */

static int64_t fake_now;
static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

#define MAX_EVENTS 64
static struct event {
    uint32_t id;
    char name[64];
    enum health_state from, to;
    char reason[160];
} events[MAX_EVENTS];
static size_t nevents;

static void listener(void *arg, const health_change_t *c)
{
    (void)arg;
    cr_assert_lt(nevents, MAX_EVENTS);
    struct event *e = &events[nevents++];
    e->id = c->id;
    snprintf(e->name, sizeof(e->name), "%s", c->name);
    e->from = c->old_state;
    e->to = c->new_state;
    snprintf(e->reason, sizeof(e->reason), "%s", c->reason);
}

static health_spec_t spec(const char *name, const char *group, const char *ip, unsigned rise,
                          unsigned fall, enum health_state initial)
{
    health_spec_t s = {0};
    s.name = (char *)name;
    s.group = (char *)group;
    s.kind = HEALTH_HTTP;
    s.target = (char *)ip;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&s.addr;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(80);
    inet_pton(AF_INET, ip, &v4->sin_addr);
    s.addrlen = sizeof(*v4);
    s.method = (char *)"GET";
    s.path = (char *)"/healthz";
    s.interval_ms = 1000;
    s.timeout_ms = 500;
    s.rise = rise;
    s.fall = fall;
    s.initial = initial;
    return s;
}

static health_t *registry(bool wait)
{
    fake_now = 1000000;
    nevents = 0;
    log_set_level(LOG_LVL_WARNING); /* the state-change lines are info */
    health_opts_t o = {.startup_wait = wait, .clock = fake_clock};
    health_t *h = health_new(NULL, &o);
    health_set_listener(h, listener, NULL);
    return h;
}

static health_info_t info(const health_t *h, const char *name)
{
    health_info_t in;
    long i = health_find(h, name);
    cr_assert_geq(i, 0, "no check %s", name);
    cr_assert(health_info(h, (size_t)i, &in));
    return in;
}

Test(health_registry, transitions_after_exactly_fall_and_rise_results)
{
    health_t *h = registry(false);
    health_spec_t s = spec("web1", NULL, "192.0.2.10", 2, 3, HEALTH_UP);
    uint32_t id;
    cr_assert(health_check_add(h, &s, &id, NULL));
    health_info_t in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_UP);
    cr_assert_eq(in.last_result, -1);
    cr_assert_eq(in.last_change_ms, 1000000);

    health_apply_result(h, id, true, NULL);
    fake_now += 1000;
    health_apply_result(h, id, false, "status 503");
    fake_now += 1000;
    health_apply_result(h, id, false, "status 503");
    cr_assert_eq(nevents, 0, "changed after 2 of 3 failures");
    fake_now += 1000;
    health_apply_result(h, id, false, "status 503");
    cr_assert_eq(nevents, 1);
    cr_assert_eq(events[0].id, id);
    cr_assert_str_eq(events[0].name, "web1");
    cr_assert_eq(events[0].from, HEALTH_UP);
    cr_assert_eq(events[0].to, HEALTH_DOWN);
    cr_assert_str_eq(events[0].reason, "3/3 failed: status 503");

    in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_DOWN);
    cr_assert_eq(in.last_result, 0);
    cr_assert_str_eq(in.last_error, "status 503");
    cr_assert_eq(in.last_change_ms, 1003000);
    cr_assert_eq(in.last_probe_ms, 1003000);
    cr_assert_eq(in.probes, 4);
    cr_assert_eq(in.ok, 1);
    cr_assert_eq(in.failed, 3);
    cr_assert_eq(in.downs, 1);
    cr_assert_eq(in.ups, 0);
    cr_assert_eq(in.fail_streak, 3);
    cr_assert_str_eq(in.history, "+---D");

    fake_now += 1000;
    health_apply_result(h, id, true, NULL);
    cr_assert_eq(nevents, 1);
    fake_now += 1000;
    health_apply_result(h, id, true, NULL);
    cr_assert_eq(nevents, 2);
    cr_assert_eq(events[1].to, HEALTH_UP);
    cr_assert_str_eq(events[1].reason, "2/2 ok");
    in = info(h, "web1");
    cr_assert_str_eq(in.last_error, "");
    cr_assert_eq(in.last_change_ms, 1005000);
    cr_assert_str_eq(in.history, "+---D++U");
    cr_assert_eq(in.ups, 1);
    health_free(h);
}

Test(health_registry, history_keeps_the_last_results)
{
    health_t *h = registry(false);
    health_spec_t s = spec("c", NULL, "192.0.2.1", 1, 1, HEALTH_UP);
    uint32_t id;
    cr_assert(health_check_add(h, &s, &id, NULL));
    for (int i = 0; i < 100; i++)
        health_apply_result(h, id, true, NULL);
    health_info_t in = info(h, "c");
    cr_assert_eq(strlen(in.history), HEALTH_HISTORY);
    health_apply_result(h, id, false, "timeout after 0.5 s");
    in = info(h, "c");
    cr_assert_eq(strlen(in.history), HEALTH_HISTORY);
    cr_assert_eq(in.history[HEALTH_HISTORY - 2], '-');
    cr_assert_eq(in.history[HEALTH_HISTORY - 1], 'D');
    health_free(h);
}

Test(health_registry, a_late_run_gives_no_verdict)
{
    health_t *h = registry(false);
    health_spec_t s = spec("web1", NULL, "192.0.2.10", 2, 2, HEALTH_UP);
    uint32_t id;
    cr_assert(health_check_add(h, &s, &id, NULL));
    health_apply_result(h, id, false, "status 503");
    health_apply_late(h, id); /* the probe thread was starved: not a failure, not a reset */
    health_apply_late(h, id);
    health_info_t in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_UP);
    cr_assert_eq(in.late, 2);
    cr_assert_eq(in.probes, 1);
    cr_assert_eq(in.fail_streak, 1);
    cr_assert_str_eq(in.last_error, "status 503");
    health_apply_result(h, id, false, "status 503");
    in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_DOWN);
    cr_assert_str_eq(in.history, "-?" "?-D"); /* split: "??-" is a trigraph */
    health_apply_late(h, 12345); /* an unknown id: dropped */
    health_free(h);
}

static uint32_t hooked[MAX_EVENTS];
static size_t nhooked;

static void hook(void *arg, uint32_t id)
{
    (void)arg;
    cr_assert_lt(nhooked, MAX_EVENTS);
    hooked[nhooked++] = id;
}

Test(health_registry, the_result_hook_runs_only_when_the_steps_left_move)
{
    health_t *h = registry(false);
    nhooked = 0;
    health_set_result_hook(h, hook, NULL);
    health_spec_t s = spec("web1", NULL, "192.0.2.10", 2, 3, HEALTH_UP);
    uint32_t id;
    cr_assert(health_check_add(h, &s, &id, NULL));
    for (int i = 0; i < 10; i++)
        health_apply_result(h, id, true, NULL);
    cr_assert_eq(nhooked, 0, "successes of a healthy check reached the main thread");
    health_apply_result(h, id, false, "status 503");
    cr_assert_eq(nhooked, 1);
    cr_assert_eq(hooked[0], id);
    health_apply_result(h, id, true, NULL); /* the streak of failures is reset */
    cr_assert_eq(nhooked, 2);
    health_apply_result(h, id, true, NULL);
    cr_assert_eq(nhooked, 2);
    for (int i = 0; i < 3; i++)
        health_apply_result(h, id, false, "status 503");
    cr_assert_eq(nhooked, 5);
    cr_assert_eq(nevents, 1);
    for (int i = 0; i < 5; i++)
        health_apply_result(h, id, false, "status 503");
    cr_assert_eq(nhooked, 5, "failures of a down check reached the main thread");
    health_apply_late(h, id);
    cr_assert_eq(nhooked, 5);
    health_free(h);
}

Test(health_registry, override_force_down_then_auto)
{
    health_t *h = registry(false);
    health_spec_t s = spec("web1", NULL, "192.0.2.10", 2, 2, HEALTH_UP);
    uint32_t id;
    cr_assert(health_check_add(h, &s, &id, NULL));
    hadns_err_t err = {{0}};
    cr_assert(health_force(h, "web1", HEALTH_FORCE_DOWN, &err));
    cr_assert_eq(nevents, 1);
    cr_assert_eq(events[0].to, HEALTH_DOWN);
    cr_assert_str_eq(events[0].reason, "forced down");
    health_info_t in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_DOWN);
    cr_assert_eq(in.probed, HEALTH_UP);
    cr_assert_eq(in.force, HEALTH_FORCE_DOWN);
    /* Forcing again is a no-op; probes keep running but publish nothing while forced. */
    cr_assert(health_force(h, "web1", HEALTH_FORCE_DOWN, &err));
    health_apply_result(h, id, false, "x");
    health_apply_result(h, id, false, "x");
    health_apply_result(h, id, true, NULL);
    health_apply_result(h, id, true, NULL);
    cr_assert_eq(nevents, 1);
    /* Back to auto: the probed state (up) again. */
    cr_assert(health_force(h, "web1", HEALTH_AUTO, &err));
    cr_assert_eq(nevents, 2);
    cr_assert_eq(events[1].to, HEALTH_UP);
    cr_assert_str_eq(events[1].reason, "override cleared");
    in = info(h, "web1");
    cr_assert_eq(in.state, HEALTH_UP);
    cr_assert_eq(in.force, HEALTH_AUTO);
    /* Force up on an up check changes nothing visible. */
    cr_assert(health_force(h, "web1", HEALTH_FORCE_UP, &err));
    cr_assert_eq(nevents, 2);
    cr_assert_not(health_force(h, "nope", HEALTH_FORCE_UP, &err));
    cr_assert_str_eq(err.msg, "no check named nope");
    health_free(h);
}

Test(health_registry, names_are_unique_and_removed_checks_drop_results)
{
    health_t *h = registry(false);
    health_spec_t a = spec("a", NULL, "192.0.2.1", 1, 1, HEALTH_UP);
    health_spec_t b = spec("b", NULL, "192.0.2.2", 1, 1, HEALTH_DOWN);
    uint32_t ida, idb, idx;
    hadns_err_t err = {{0}};
    cr_assert(health_check_add(h, &a, &ida, &err));
    cr_assert(health_check_add(h, &b, &idb, &err));
    cr_assert_neq(ida, idb);
    cr_assert_not(health_check_add(h, &a, &idx, &err));
    cr_assert_str_eq(err.msg, "check a already exists");
    cr_assert_eq(health_count(h), 2);
    cr_assert_eq(health_state_of(h, idb), HEALTH_DOWN);
    cr_assert(health_check_remove(h, "a"));
    cr_assert_not(health_check_remove(h, "a"));
    cr_assert_eq(health_count(h), 1);
    cr_assert_eq(health_find(h, "a"), -1);
    health_apply_result(h, ida, false, "gone"); /* dropped */
    cr_assert_eq(nevents, 0);
    cr_assert_eq(health_state_of(h, ida), HEALTH_UNKNOWN);
    /* A new check never reuses an id. */
    cr_assert(health_check_add(h, &a, &idx, &err));
    cr_assert_gt(idx, idb);
    health_free(h);
}

Test(health_registry, many_checks)
{
    health_t *h = registry(false);
    char name[32], ip[32];
    uint32_t ids[2000];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250);
        health_spec_t s = spec(name, NULL, ip, 1, 1, HEALTH_UP);
        cr_assert(health_check_add(h, &s, &ids[i], NULL));
    }
    for (int i = 0; i < 2000; i += 2) {
        snprintf(name, sizeof(name), "c%d", i);
        cr_assert(health_check_remove(h, name));
    }
    cr_assert_eq(health_count(h), 1000);
    health_apply_result(h, ids[1999], false, "x");
    cr_assert_eq(nevents, 1);
    cr_assert_str_eq(events[0].name, "c1999");
    cr_assert_eq(info(h, "c1001").id, ids[1001]);
    health_free(h);
}

struct synced {
    char names[16][64];
    bool added[16];
    size_t n;
};

static void sync_cb(void *arg, const char *name, bool added)
{
    struct synced *s = arg;
    cr_assert_lt(s->n, 16);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->added[s->n++] = added;
}

Test(health_registry, template_sync_keeps_state_and_override_of_unchanged_addresses)
{
    health_t *h = registry(false);
    health_spec_t other = spec("web1", NULL, "192.0.2.99", 1, 1, HEALTH_UP);
    cr_assert(health_check_add(h, &other, NULL, NULL));
    health_spec_t v1[2] = {spec("web/192.0.2.10", "web", "192.0.2.10", 1, 1, HEALTH_UP),
                           spec("web/198.51.100.10", "web", "198.51.100.10", 1, 1, HEALTH_UP)};
    struct synced s = {0};
    health_group_sync(h, "web", v1, 2, sync_cb, &s);
    cr_assert_eq(s.n, 2);
    cr_assert(s.added[0] && s.added[1]);
    cr_assert_eq(health_count(h), 3);

    /* 192.0.2.10 goes down by its probes; 198.51.100.10 is forced down. */
    uint32_t id10 = info(h, "web/192.0.2.10").id;
    health_apply_result(h, id10, false, "connection refused");
    hadns_err_t err = {{0}};
    cr_assert(health_force(h, "web/198.51.100.10", HEALTH_FORCE_DOWN, &err));
    health_info_t in = info(h, "web/192.0.2.10");
    cr_assert_str_eq(in.group, "web");
    uint64_t probes = in.probes;

    /* The zone reloads: 198.51.100.10 stays, 192.0.2.10 goes, 203.0.113.10 arrives. */
    health_spec_t v2[2] = {spec("web/198.51.100.10", "web", "198.51.100.10", 1, 1, HEALTH_UP),
                           spec("web/203.0.113.10", "web", "203.0.113.10", 1, 1, HEALTH_DOWN)};
    memset(&s, 0, sizeof(s));
    health_group_sync(h, "web", v2, 2, sync_cb, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.names[0], "web/203.0.113.10");
    cr_assert(s.added[0]);
    cr_assert_str_eq(s.names[1], "web/192.0.2.10");
    cr_assert_not(s.added[1]);
    cr_assert_eq(health_find(h, "web/192.0.2.10"), -1);
    in = info(h, "web/198.51.100.10");
    cr_assert_eq(in.force, HEALTH_FORCE_DOWN, "the override survives the reload");
    cr_assert_eq(in.state, HEALTH_DOWN);
    in = info(h, "web/203.0.113.10");
    cr_assert_eq(in.state, HEALTH_DOWN, "a new check starts in its declared state");
    cr_assert_eq(in.last_result, -1);
    in = info(h, "web1");
    cr_assert_null(in.group);
    (void)probes;

    /* The same set again: nothing happens. */
    memset(&s, 0, sizeof(s));
    health_group_sync(h, "web", v2, 2, sync_cb, &s);
    cr_assert_eq(s.n, 0);
    /* The RRset is gone: every check of the template goes, the explicit one stays. */
    health_group_sync(h, "web", NULL, 0, sync_cb, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(health_count(h), 1);
    cr_assert_geq(health_find(h, "web1"), 0);
    /* A template address whose name an explicit check already has is skipped. */
    health_spec_t clash = spec("web1", "web", "192.0.2.1", 1, 1, HEALTH_UP);
    health_group_sync(h, "web", &clash, 1, NULL, NULL);
    cr_assert_eq(health_count(h), 1);
    cr_assert_null(info(h, "web1").group);
    health_free(h);
}

static int ready_calls;
static void on_ready(void *arg)
{
    (void)arg;
    ready_calls++;
}

Test(health_registry, wait_startup_is_ready_after_the_first_round)
{
    health_t *h = registry(true);
    health_spec_t a = spec("a", NULL, "192.0.2.1", 3, 3, HEALTH_DOWN);
    health_spec_t b = spec("b", NULL, "192.0.2.2", 3, 3, HEALTH_UP);
    uint32_t ida, idb;
    cr_assert(health_check_add(h, &a, &ida, NULL));
    cr_assert(health_check_add(h, &b, &idb, NULL));
    /* Before a result, nothing is silently down. */
    cr_assert_eq(info(h, "a").state, HEALTH_UNKNOWN);
    ready_calls = 0;
    hadns_err_t err = {{0}};
    cr_assert(health_start(h, on_ready, NULL, &err));
    cr_assert(health_starting(h));
    cr_assert_eq(ready_calls, 0);
    health_apply_result(h, ida, true, NULL);
    cr_assert_eq(ready_calls, 0);
    cr_assert_eq(info(h, "a").state, HEALTH_UP, "the first result decides (rise 3 or not)");
    health_apply_result(h, idb, false, "connection refused");
    cr_assert_eq(ready_calls, 1);
    cr_assert_not(health_starting(h));
    cr_assert_eq(info(h, "b").state, HEALTH_DOWN);
    cr_assert_eq(nevents, 2);
    cr_assert_eq(events[1].from, HEALTH_UNKNOWN);
    cr_assert_str_eq(events[1].reason, "first result: failed: connection refused");
    /* Later results follow the thresholds; a check added now starts in its declared state. */
    health_apply_result(h, idb, true, NULL);
    cr_assert_eq(info(h, "b").state, HEALTH_DOWN);
    health_spec_t c = spec("c", NULL, "192.0.2.3", 3, 3, HEALTH_DOWN);
    cr_assert(health_check_add(h, &c, NULL, NULL));
    cr_assert_eq(info(h, "c").state, HEALTH_DOWN);
    cr_assert_eq(ready_calls, 1);
    health_free(h);
}

Test(health_registry, wait_startup_ends_when_an_unknown_check_is_removed)
{
    health_t *h = registry(true);
    health_spec_t a = spec("a", NULL, "192.0.2.1", 1, 1, HEALTH_UP);
    cr_assert(health_check_add(h, &a, NULL, NULL));
    ready_calls = 0;
    cr_assert(health_start(h, on_ready, NULL, NULL));
    cr_assert_eq(ready_calls, 0);
    cr_assert(health_check_remove(h, "a"));
    cr_assert_eq(ready_calls, 1);
    health_free(h);
}

Test(health_registry, initial_startup_is_ready_at_once)
{
    health_t *h = registry(false);
    health_spec_t a = spec("a", NULL, "192.0.2.1", 1, 1, HEALTH_DOWN);
    cr_assert(health_check_add(h, &a, NULL, NULL));
    cr_assert_eq(info(h, "a").state, HEALTH_DOWN);
    cr_assert_str_eq(info(h, "a").reason, "initial state");
    ready_calls = 0;
    cr_assert(health_start(h, on_ready, NULL, NULL));
    cr_assert_eq(ready_calls, 1);
    health_free(h);
    health_free(NULL);
}

Test(health_spec, copy_is_deep)
{
    health_spec_t s = spec("n", "g", "2001:db8::1", 2, 3, HEALTH_UP);
    uint16_t expect[] = {200, 204};
    s.expect = expect;
    s.nexpect = 2;
    s.body = (char *)"ok";
    health_spec_t c;
    health_spec_copy(&c, &s);
    cr_assert_neq(c.name, s.name);
    cr_assert_str_eq(c.name, "n");
    cr_assert_str_eq(c.group, "g");
    cr_assert_str_eq(c.body, "ok");
    cr_assert_neq(c.expect, s.expect);
    cr_assert_eq(c.expect[1], 204);
    cr_assert_null(c.host);
    health_spec_fini(&c);
    cr_assert_null(c.name);
    health_spec_fini(&c);
    health_spec_fini(NULL);
}
