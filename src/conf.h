/* SPDX-License-Identifier: MIT */
/* conf.h: the JSON configuration, validated into plain structs. Nothing else reads JSON config.
 * (Named conf, not config, because autoconf owns config.h.) */
#ifndef HADNS_CONF_H
#define HADNS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "compiler.h"
#include "err.h"
#include "geoip.h"
#include "health.h"
#include "log.h"

typedef struct cfg_listen {
    char *text; /* as written, for messages */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} cfg_listen_t;

typedef struct cfg_zone {
    char *name; /* presentation form, as written */
    char *file; /* resolved path */
} cfg_zone_t;

/* A check template: the check (health_spec_t without name, target or address) is applied to
 * every address of one A or AAAA RRset; server.c makes the checks "NAME/ADDRESS". */
typedef struct cfg_template {
    char *name;
    char *zone;          /* as configured; one of cfg_t.zones */
    char *owner;         /* absolute presentation form: "www.example.com." */
    uint16_t rrtype;     /* 1 (A) or 28 (AAAA) */
    uint16_t port;       /* the check's port */
    health_spec_t check; /* name, target and addr unset; host NULL = the owner name */
} cfg_template_t;

/* ---- answer policies (the overlay; DESIGN §2 "Answer policies") ---- */

/* A candidate: one record of the policy's RRset, by its address. */
typedef struct cfg_candidate {
    char *address;    /* as written */
    uint8_t addr[16]; /* the record's rdata: 4 bytes (A) or 16 (AAAA) */
    char *check;      /* a check or template name from "checks", or NULL: the policy's */
    bool no_check;    /* "checks": {ADDRESS: null}: always healthy */
    bool has_location;
    double lat, lon; /* degrees, for "nearest" */
} cfg_candidate_t;

enum cfg_rule_kind {
    RULE_CANDIDATE,   /* one candidate */
    RULE_ALL_HEALTHY, /* every healthy member, at most max (0 = no cap) */
    RULE_FAILOVER,    /* the first member with a healthy candidate */
    RULE_WEIGHTED,    /* count members drawn by weight among those with a healthy candidate */
    RULE_GEO,         /* the member for the client's region, else the default */
    RULE_NEAREST,     /* the count members nearest the client that have a healthy candidate */
};

/* Geo map keys, from the least to the most specific. */
typedef struct cfg_geo_key {
    uint8_t level;  /* enum geo_level (geoip.h) */
    char code[8];   /* "EU"; "DE"; "US-CA" (country, '-', subdivision) */
} cfg_geo_key_t;

/* A node of a policy's rule tree; rules live in one array and name their members by index. */
typedef struct cfg_rule {
    uint8_t kind;       /* enum cfg_rule_kind */
    unsigned cand;      /* RULE_CANDIDATE: index into the policy's candidates */
    unsigned *kids;     /* members (rule indices); GEO: one per key, then the default if any */
    unsigned *weights;  /* WEIGHTED: one per member */
    size_t nkids;
    unsigned count;     /* ALL_HEALTHY: cap (0 = none); WEIGHTED/NEAREST: how many to pick */
    cfg_geo_key_t *keys; /* GEO: nkeys keys, kids[i] answers keys[i] */
    size_t nkeys;
    bool has_default;   /* GEO: kids[nkeys] is the default */
    bool has_location;  /* from "locations", for "nearest" */
    double lat, lon;
    char *where;        /* the config path of the rule, for messages */
} cfg_rule_t;

typedef struct cfg_policy {
    char *name;        /* unique; default "OWNER/TYPE" */
    char *zone;        /* as configured; one of cfg_t.zones */
    char *owner;       /* absolute presentation form */
    uint16_t rrtype;   /* 1 (A) or 28 (AAAA) */
    uint32_t ttl;      /* of the dynamic answers */
    bool ttl_from_health;
    char *check;       /* default check or template for candidates, or NULL */
    cfg_candidate_t *cands;
    size_t ncands;
    cfg_rule_t *rules;
    size_t nrules;
    unsigned root;      /* the rule that answers */
    bool fallback_all;  /* every candidate down: serve the whole RRset (the default) */
    unsigned *fallback; /* ... or these candidates */
    size_t nfallback;
} cfg_policy_t;

typedef struct cfg {
    char *path;
    cfg_listen_t *listen;
    size_t nlisten;
    unsigned workers;          /* 0 in the file = one per worker_cpus entry, else one per
                                * online CPU; resolved here */
    unsigned *worker_cpus;     /* worker w runs on worker_cpus[w % n]; NULL = unpinned */
    size_t nworker_cpus;
    uint16_t udp_payload;
    unsigned tcp_idle_timeout; /* seconds */
    unsigned tcp_max_connections;
    uint8_t *nsid;             /* NULL when not configured */
    size_t nsid_len;
    enum log_level log_level;
    char *zone_dir;
    cfg_zone_t *zones;
    size_t nzones;
    char *control_socket;      /* resolved path, NULL = no control socket */
    unsigned control_mode;     /* permission bits of the socket */
    bool health_startup_wait;  /* "wait" (true) or "initial" */
    bool health_idle;          /* "priority": "idle" (true) or "normal" */
    unsigned *health_cpus;     /* the CPUs the health thread may run on; NULL = any */
    size_t nhealth_cpus;
    health_spec_t *checks;     /* explicit checks, complete */
    size_t nchecks;
    cfg_template_t *templates;
    size_t ntemplates;
    cfg_policy_t *policies;
    size_t npolicies;
    char *geoip_database;      /* resolved path, NULL = none (geo/nearest need one) */
} cfg_t;

/* Defaults, each with its reason. */
/* RFC 9715 / DNS flag day 2020: 1232 bytes avoids IP fragmentation on almost every path. */
#define CONF_DEFAULT_UDP_PAYLOAD 1232
/* RFC 7766 §6.2.3 asks for idle timeouts of "a few seconds"; 10 s lets a resolver pipeline a
 * burst and still frees the slot soon. */
#define CONF_DEFAULT_TCP_IDLE 10
/* Concurrent TCP clients across all workers; each costs two 64 KiB buffers. */
#define CONF_DEFAULT_TCP_MAX 512
/* DNS is port 53. */
#define CONF_DEFAULT_PORT 53
/* Only the user the server runs as may talk to it: the socket can force checks down. */
#define CONF_DEFAULT_CONTROL_MODE 0600
/* Check timing: a 10 s interval and 3 s timeout detect a dead endpoint in 30 s (fall 3) while
 * costing a target one request per 10 s per server; rise 2 keeps a flapping endpoint out
 * until it answered twice in a row (the thresholds relayd and HAProxy ship). */
#define CONF_DEFAULT_INTERVAL_MS 10000
#define CONF_DEFAULT_TIMEOUT_MS 3000
#define CONF_DEFAULT_RISE 2
#define CONF_DEFAULT_FALL 3

/* A dynamic answer's TTL: short, so resolvers come back soon after a failover; 30 s is what
 * gdnsd and most GSLB setups use for failover names (Route 53 recommends 60 s or less). */
#define CONF_DEFAULT_POLICY_TTL 30
/* Members of one policy: a 64-bit mask holds the candidates of an RRset. */
#define CONF_POLICY_MAX_CANDIDATES 64

/* Reads and validates the config file. Returns an owned cfg_t, or NULL with err set to
 * "path: key: reason" (or "path:line:col: reason" for JSON syntax). [main] */
cfg_t *conf_load(const char *path, hadns_err_t *err) NONNULL;
void conf_free(cfg_t *c);

/* Parses "addr", "addr:port", "[v6]:port" or "v6" into a socket address. [any] */
bool conf_parse_addr(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                     socklen_t *len) NONNULL;

#endif
