/* SPDX-License-Identifier: MIT */
/* ctlproto.h: the control protocol's command and field names, shared by control.c (the
 * server side) and hadnsctl.c (the client), so that the two cannot drift apart.
 *
 * The protocol: a client connects to the unix socket and sends one JSON object per line; the
 * server answers each with one JSON object on one line, in order. Every request has "command";
 * an optional "id" (any JSON value) is echoed in the reply. Every reply has "ok" (true/false);
 * a failed one has "error" (text). Malformed JSON and unknown commands get an error reply, the
 * connection stays open. Requests longer than CTL_LINE_MAX close the connection after an error
 * reply.
 *
 *   {"command": "status"}
 *   {"command": "checks"}                      optional "check": NAME for one check
 *   {"command": "force", "check": NAME, "state": "up" | "down" | "auto"}
 *   {"command": "reload"}                      replies once the reload has finished
 */
#ifndef HADNS_CTLPROTO_H
#define HADNS_CTLPROTO_H

/* A request line longer than this is refused: every command fits in a few hundred bytes. */
#define CTL_LINE_MAX 65536

/* Commands */
#define CTL_CMD_STATUS "status"
#define CTL_CMD_CHECKS "checks"
#define CTL_CMD_FORCE  "force"
#define CTL_CMD_RELOAD "reload"
#define CTL_CMD_POLICIES "policies"

/* Request fields */
#define CTL_F_COMMAND "command"
#define CTL_F_ID      "id"
#define CTL_F_CHECK   "check" /* force, checks: the check's name */
#define CTL_F_STATE   "state" /* force: up, down, auto */

/* Reply fields, all commands */
#define CTL_F_OK    "ok"
#define CTL_F_ERROR "error"

/* status */
#define CTL_F_VERSION      "version"
#define CTL_F_PID          "pid"
#define CTL_F_UPTIME       "uptime"   /* seconds, a number */
#define CTL_F_STARTED      "started"  /* Unix time, seconds */
#define CTL_F_CONFIG       "config"   /* the config file's path */
#define CTL_F_STARTING     "starting" /* true while the first round of checks runs */
#define CTL_F_WORKERS      "workers"
#define CTL_F_ZONES        "zones" /* status: number served; reload: an object */
#define CTL_F_ZONES_FAILED "zones_failed"
#define CTL_F_NCHECKS      "checks"    /* status: number of checks; checks: the array */
#define CTL_F_LISTENERS    "listeners" /* [{"address", "ip", "port"}] */
#define CTL_F_ADDRESS      "address"   /* "127.0.0.1:5353" */
#define CTL_F_IP           "ip"
#define CTL_F_PORT         "port"
#define CTL_F_SOCKET       "socket"

/* checks: one object per check */
#define CTL_F_CHECKS      "checks"
#define CTL_F_NAME        "name"
#define CTL_F_TEMPLATE    "template"    /* the template it was made from, or null */
#define CTL_F_TARGET      "target"      /* the address probed */
#define CTL_F_TYPE        "type"        /* http, https, tcp, dns */
#define CTL_F_PROBED      "probed"      /* what the probes say (state is the effective one) */
#define CTL_F_FORCED      "forced"      /* "up", "down" or null */
#define CTL_F_LAST_RESULT "last_result" /* "ok", "failed" or null (no result yet) */
#define CTL_F_LAST_ERROR  "last_error"  /* text, "" when the last result was ok */
#define CTL_F_LAST_CHANGE "last_change" /* Unix time of the last state change */
#define CTL_F_LAST_PROBE  "last_probe"  /* Unix time of the last result, or null */
#define CTL_F_REASON      "reason"      /* why the last state change happened */
#define CTL_F_RISE        "rise"
#define CTL_F_FALL        "fall"
#define CTL_F_INTERVAL    "interval" /* seconds */
#define CTL_F_TIMEOUT     "timeout"
#define CTL_F_COUNTERS    "counters" /* {"probes","ok","failed","ups","downs"} */
#define CTL_F_PROBES      "probes"
#define CTL_F_NOK         "ok"
#define CTL_F_NFAILED     "failed"
#define CTL_F_UPS         "ups"
#define CTL_F_DOWNS       "downs"
#define CTL_F_LATE        "late"    /* runs without a verdict: the health thread was starved */
#define CTL_F_STREAK      "streak"  /* {"ok": n, "failed": n}: consecutive results */
#define CTL_F_HISTORY     "history" /* "+" ok, "-" failed, "U"/"D" went up/down, oldest first */

/* reload */
#define CTL_F_RELOADED  "reloaded"  /* zones: names reloaded */
#define CTL_F_FAILED    "failed"    /* zones: [{"zone", "error"}] */
#define CTL_F_UNCHANGED "unchanged" /* zones: names */
#define CTL_F_ZONE      "zone"
#define CTL_F_ADDED     "added"   /* checks: names of template checks added */
#define CTL_F_REMOVED   "removed" /* checks: names removed */

/* "policies": per policy */
#define CTL_F_POLICIES   "policies"
#define CTL_F_OWNER      "owner"
#define CTL_F_TTL        "ttl"
#define CTL_F_CANDIDATES "candidates" /* records that are candidates */
#define CTL_F_HEALTHY    "healthy"    /* of them, with their check up */
#define CTL_F_ALL_DOWN   "all_down"   /* every candidate down: when_all_down answers */
#define CTL_F_LOCATED    "located"    /* answers depend on the client's location */
#define CTL_F_SERVING    "serving"    /* the addresses every client gets now, or null when
                                       * the answer depends on the client or on chance */

#endif
