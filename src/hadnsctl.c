/* SPDX-License-Identifier: MIT */
/* hadnsctl.c: the control client. One request line to hadnsd's control socket, one reply line
 * back; printed as a table for people or passed through raw with --json. Exit status: 0 done,
 * 1 the server refused or the command failed, 2 usage, 3 the server is unreachable or did not
 * answer. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctlproto.h"

#ifndef HADNSD_DEFAULT_SOCKET
#define HADNSD_DEFAULT_SOCKET "/run/hadnsd/control.sock"
#endif

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* A reload of large zones takes seconds; a minute covers a million-record zone on a slow
 * machine without leaving a script hanging forever. */
#define DEFAULT_TIMEOUT 60

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hadnsctl [-s SOCKET] [--json] [-t SECONDS] COMMAND [ARGS]\n"
            "\n"
            "Talks to a running hadnsd over its control socket.\n"
            "\n"
            "Commands:\n"
            "  status                    version, uptime, config, listeners and their ports\n"
            "  checks [NAME]             health checks: state, override, last result, counters\n"
            "  policies                  answer policies: healthy candidates, TTL, what is served\n"
            "  force NAME up|down|auto   override a check's state (auto: follow the probes)\n"
            "  reload                    reload changed zones (as SIGHUP); waits for the result\n"
            "\n"
            "Options:\n"
            "  -s, --socket SOCKET   the control socket (default: $HADNSCTL_SOCKET, else %s)\n"
            "  -j, --json            print the server's JSON reply as is (one line)\n"
            "  -t, --timeout SECONDS how long to wait for the reply (default %d)\n"
            "  -h, --help            this text\n"
            "  -V, --version         print the version\n"
            "\n"
            "Exit status: 0 done, 1 the command failed, 2 usage error, 3 the server could not be\n"
            "reached or did not answer.\n",
            HADNSD_DEFAULT_SOCKET, DEFAULT_TIMEOUT);
}

/* ---- talking to the server ---- */

static int ctl_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "hadnsctl: %s: socket path too long\n", path);
        return -1;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "hadnsctl: socket: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        fprintf(stderr,
                "hadnsctl: cannot connect to %s: %s (is hadnsd running with this "
                "control socket?)\n",
                path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads one line (without its newline) within timeout seconds. Returns it owned, or NULL. */
static char *read_line(int fd, int timeout)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = (long)timeout * 1000 -
                    ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) {
            fprintf(stderr, "hadnsctl: no reply within %d s\n", timeout);
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline check above ends it */
        if (len + 1024 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "hadnsctl: the server closed the connection%s%s\n",
                    r < 0 ? ": " : " without a reply", r < 0 ? strerror(errno) : "");
            break;
        }
        len += (size_t)r;
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            *nl = '\0';
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/* ---- printing for people ---- */

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v)
           : json_is_real(v)  ? (long long)json_real_value(v)
                              : 0;
}

/* "45s", "3m12s", "2h05m", "4d03h". */
static void fmt_duration(double secs, char *out, size_t len)
{
    long s = secs < 0 ? 0 : (long)secs;
    if (s < 60)
        snprintf(out, len, "%lds", s);
    else if (s < 3600)
        snprintf(out, len, "%ldm%02lds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, len, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, len, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

static void print_status(json_t *r)
{
    char up[32];
    fmt_duration(json_number_value(json_object_get(r, CTL_F_UPTIME)), up, sizeof(up));
    printf("hadnsd %s, pid %lld, up %s\n", str(r, CTL_F_VERSION), num(r, CTL_F_PID), up);
    printf("state:     %s\n", json_is_true(json_object_get(r, CTL_F_STARTING))
                                  ? "starting (waiting for the first round of checks)"
                                  : "serving");
    printf("config:    %s\n", str(r, CTL_F_CONFIG));
    printf("socket:    %s\n", str(r, CTL_F_SOCKET));
    printf("zones:     %lld served, %lld failed\n", num(r, CTL_F_ZONES),
           num(r, CTL_F_ZONES_FAILED));
    printf("checks:    %lld\n", num(r, CTL_F_NCHECKS));
    printf("workers:   %lld\n", num(r, CTL_F_WORKERS));
    json_t *ls = json_object_get(r, CTL_F_LISTENERS);
    size_t i;
    json_t *l;
    json_array_foreach(ls, i, l)
    {
        printf("%s %s (udp+tcp port %lld)\n",
               i ? "          " : "listening:", str(l, CTL_F_ADDRESS), num(l, CTL_F_PORT));
    }
}

enum {
    C_NAME,
    C_TARGET,
    C_TYPE,
    C_STATE,
    C_FORCED,
    C_LAST,
    C_CHANGED,
    C_PROBES,
    C_FAILED,
    C_ERROR,
    NCOLS
};
static const char *const col_names[NCOLS] = {"NAME", "TARGET",  "TYPE",   "STATE",  "FORCED",
                                             "LAST", "CHANGED", "PROBES", "FAILED", "ERROR"};

static void print_policies(json_t *r)
{
    json_t *ps = json_object_get(r, CTL_F_POLICIES);
    size_t n = json_array_size(ps);
    if (!n) {
        printf("no policies\n");
        return;
    }
    size_t w = strlen("NAME");
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(str(json_array_get(ps, i), CTL_F_NAME));
        w = l > w ? l : w;
    }
    printf("%-*s  %-7s  %-6s  %s\n", (int)w, "NAME", "HEALTHY", "TTL", "SERVING");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(ps, i);
        char healthy[32], serving[1024] = "";
        snprintf(healthy, sizeof(healthy), "%lld/%lld", num(o, CTL_F_HEALTHY),
                 num(o, CTL_F_CANDIDATES));
        json_t *sv = json_object_get(o, CTL_F_SERVING);
        if (!json_is_array(sv)) {
            snprintf(serving, sizeof(serving), "%s",
                     json_is_true(json_object_get(o, CTL_F_LOCATED)) ? "(by client location)"
                                                                   : "(varies per query)");
        } else {
            for (size_t k = 0; k < json_array_size(sv); k++) {
                size_t used = strlen(serving);
                snprintf(serving + used, sizeof(serving) - used, "%s%s", k ? " " : "",
                         json_string_value(json_array_get(sv, k)));
            }
        }
        if (json_is_true(json_object_get(o, CTL_F_ALL_DOWN))) {
            size_t used = strlen(serving);
            snprintf(serving + used, sizeof(serving) - used, " [all down: fallback]");
        }
        printf("%-*s  %-7s  %-6lld  %s\n", (int)w, str(o, CTL_F_NAME), healthy,
               num(o, CTL_F_TTL), serving);
    }
}

static void print_checks(json_t *r)
{
    json_t *checks = json_object_get(r, CTL_F_CHECKS);
    size_t n = json_array_size(checks);
    if (!n) {
        printf("no checks\n");
        return;
    }
    char *(*cells)[NCOLS] = calloc(n, sizeof(*cells));
    if (!cells)
        return;
    size_t width[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        width[c] = strlen(col_names[c]);
    double now = (double)time(NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(checks, i);
        char buf[512];
        const char *target = str(o, CTL_F_TARGET);
        snprintf(buf, sizeof(buf), strchr(target, ':') ? "[%s]:%lld" : "%s:%lld", target,
                 num(o, CTL_F_PORT));
        cells[i][C_TARGET] = strdup(buf);
        cells[i][C_NAME] = strdup(str(o, CTL_F_NAME));
        cells[i][C_TYPE] = strdup(str(o, CTL_F_TYPE));
        /* The state acted on; when the probes disagree (an override), say so. */
        const char *state = str(o, CTL_F_STATE), *probed = str(o, CTL_F_PROBED);
        if (strcmp(state, probed))
            snprintf(buf, sizeof(buf), "%s (probes: %s)", state, probed);
        else
            snprintf(buf, sizeof(buf), "%s", state);
        cells[i][C_STATE] = strdup(buf);
        json_t *forced = json_object_get(o, CTL_F_FORCED);
        cells[i][C_FORCED] = strdup(json_is_string(forced) ? json_string_value(forced) : "-");
        json_t *last = json_object_get(o, CTL_F_LAST_RESULT);
        cells[i][C_LAST] = strdup(json_is_string(last) ? json_string_value(last) : "none");
        json_t *lc = json_object_get(o, CTL_F_LAST_CHANGE);
        if (json_is_number(lc)) {
            char d[32];
            fmt_duration(now - json_number_value(lc), d, sizeof(d));
            snprintf(buf, sizeof(buf), "%s ago", d);
        } else {
            snprintf(buf, sizeof(buf), "-");
        }
        cells[i][C_CHANGED] = strdup(buf);
        json_t *cnt = json_object_get(o, CTL_F_COUNTERS);
        snprintf(buf, sizeof(buf), "%lld", num(cnt, CTL_F_PROBES));
        cells[i][C_PROBES] = strdup(buf);
        snprintf(buf, sizeof(buf), "%lld", num(cnt, CTL_F_NFAILED));
        cells[i][C_FAILED] = strdup(buf);
        const char *err = str(o, CTL_F_LAST_ERROR);
        cells[i][C_ERROR] = strdup(err[0] ? err : "-");
        for (int c = 0; c < NCOLS; c++) {
            if (cells[i][c] && strlen(cells[i][c]) > width[c])
                width[c] = strlen(cells[i][c]);
        }
    }
    for (int c = 0; c < NCOLS; c++) {
        if (c == NCOLS - 1)
            printf("%s\n", col_names[c]);
        else
            printf("%-*s  ", (int)width[c], col_names[c]);
    }
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < NCOLS; c++) {
            const char *v = cells[i][c] ? cells[i][c] : "";
            if (c == NCOLS - 1)
                printf("%s\n", v);
            else
                printf("%-*s  ", (int)width[c], v);
            free(cells[i][c]);
        }
    }
    free(cells);
}

static void print_list(const char *label, json_t *arr)
{
    if (!json_array_size(arr))
        return;
    printf("%s", label);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        printf("%s%s", i ? ", " : " ", json_string_value(v));
    }
    printf("\n");
}

static void print_reload(json_t *r)
{
    json_t *z = json_object_get(r, CTL_F_ZONES);
    print_list("zones reloaded:", json_object_get(z, CTL_F_RELOADED));
    print_list("zones unchanged:", json_object_get(z, CTL_F_UNCHANGED));
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(z, CTL_F_FAILED), i, f)
    {
        printf("zone %s failed: %s\n", str(f, CTL_F_ZONE), str(f, CTL_F_ERROR));
    }
    json_t *c = json_object_get(r, CTL_F_CHECKS);
    print_list("checks added:", json_object_get(c, CTL_F_ADDED));
    print_list("checks removed:", json_object_get(c, CTL_F_REMOVED));
    if (!json_array_size(json_object_get(z, CTL_F_RELOADED)) &&
        !json_array_size(json_object_get(z, CTL_F_FAILED)))
        printf("nothing changed\n");
}

static void print_force(json_t *r)
{
    json_t *forced = json_object_get(r, CTL_F_FORCED);
    if (json_is_string(forced))
        printf("%s: forced %s (state %s)\n", str(r, CTL_F_CHECK), json_string_value(forced),
               str(r, CTL_F_STATE));
    else
        printf("%s: following the probes (state %s)\n", str(r, CTL_F_CHECK), str(r, CTL_F_STATE));
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
    };
    const char *sock = getenv("HADNSCTL_SOCKET");
    if (!sock || !*sock)
        sock = HADNSD_DEFAULT_SOCKET;
    bool raw = false;
    int timeout = DEFAULT_TIMEOUT;
    int c;
    while ((c = getopt_long(argc, argv, "+s:jt:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            sock = optarg;
            break;
        case 'j':
            raw = true;
            break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 86400) {
                fprintf(stderr, "hadnsctl: -t: seconds from 1 to 86400\n");
                return EXIT_USAGE;
            }
            timeout = (int)t;
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("hadnsctl %s\n", PACKAGE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = args[0];
    json_t *req = NULL;
    if (!strcmp(cmd, "status") && nargs == 1) {
        req = json_pack("{s:s}", CTL_F_COMMAND, CTL_CMD_STATUS);
    } else if (!strcmp(cmd, "checks") && nargs <= 2) {
        req = json_pack("{s:s}", CTL_F_COMMAND, CTL_CMD_CHECKS);
        if (nargs == 2)
            json_object_set_new(req, CTL_F_CHECK, json_string(args[1]));
    } else if (!strcmp(cmd, "force") && nargs == 3) {
        if (strcmp(args[2], "up") && strcmp(args[2], "down") && strcmp(args[2], "auto")) {
            fprintf(stderr, "hadnsctl: force %s: the state must be up, down or auto\n", args[1]);
            return EXIT_USAGE;
        }
        req = json_pack("{s:s, s:s, s:s}", CTL_F_COMMAND, CTL_CMD_FORCE, CTL_F_CHECK, args[1],
                        CTL_F_STATE, args[2]);
    } else if (!strcmp(cmd, "policies") && nargs == 1) {
        req = json_pack("{s:s}", CTL_F_COMMAND, CTL_CMD_POLICIES);
    } else if (!strcmp(cmd, "reload") && nargs == 1) {
        req = json_pack("{s:s}", CTL_F_COMMAND, CTL_CMD_RELOAD);
    } else {
        fprintf(stderr, "hadnsctl: unknown command or wrong arguments: %s\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!req || (json_is_object(req) && json_object_size(req) == 0)) {
        fprintf(stderr, "hadnsctl: cannot build the request (a name that is not UTF-8?)\n");
        json_decref(req);
        return EXIT_USAGE;
    }
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line)
        return EXIT_USAGE;

    int status = EXIT_UNREACHABLE;
    int fd = ctl_connect(sock);
    if (fd < 0) {
        free(line);
        return EXIT_UNREACHABLE;
    }
    char *reply = NULL;
    json_t *r = NULL;
    if (!write_all(fd, line, strlen(line)) || !write_all(fd, "\n", 1)) {
        fprintf(stderr, "hadnsctl: cannot send to %s: %s\n", sock, strerror(errno));
        goto out;
    }
    reply = read_line(fd, timeout);
    if (!reply)
        goto out;
    json_error_t je;
    r = json_loads(reply, 0, &je);
    if (!json_is_object(r)) {
        fprintf(stderr, "hadnsctl: the reply is not a JSON object: %s\n", reply);
        goto out;
    }
    bool ok = json_is_true(json_object_get(r, CTL_F_OK));
    status = ok ? EXIT_OK : EXIT_FAILED;
    if (raw) {
        printf("%s\n", reply);
        goto out;
    }
    if (!strcmp(cmd, "status"))
        print_status(r);
    else if (!strcmp(cmd, "checks") && ok)
        print_checks(r);
    else if (!strcmp(cmd, "force") && ok)
        print_force(r);
    else if (!strcmp(cmd, "policies") && ok)
        print_policies(r);
    else if (!strcmp(cmd, "reload"))
        print_reload(r);
    if (!ok)
        fprintf(stderr, "hadnsctl: %s: %s\n", cmd, str(r, CTL_F_ERROR));
out:
    json_decref(r);
    free(reply);
    free(line);
    close(fd);
    return status;
}
