/* SPDX-License-Identifier: MIT */
/* net.h: listeners and worker threads. Each worker has its own event base, its own
 * SO_REUSEPORT UDP and TCP sockets for every listener, and reads the zone data through the
 * snapshot domain only. */
#ifndef HADNS_NET_H
#define HADNS_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "answer.h"
#include "compiler.h"
#include "err.h"
#include "snapshot.h"

struct event_base;
struct udp_state;
struct tcp_state;

typedef struct net_opts {
    unsigned workers;
    unsigned tcp_idle_timeout;   /* seconds */
    unsigned tcp_max_per_worker; /* open client connections per worker */
    answer_opts_t answer;
    snap_domain_t *snap;         /* borrowed; outlives the net */
    const unsigned *cpus;        /* borrowed; worker w's threads run on cpus[w % ncpus] */
    size_t ncpus;                /* 0 = unpinned */
} net_opts_t;

/* One bound address (UDP and TCP share its port). */
typedef struct net_listener {
    struct sockaddr_storage addr; /* with the port actually bound (port 0 resolved) */
    socklen_t addrlen;
    bool is_wildcard;             /* 0.0.0.0 or ::, so replies need IP(V6)_PKTINFO */
    char text[64];                /* "127.0.0.1:5353" or "[::1]:5353" */
} net_listener_t;

typedef struct worker {
    unsigned id;
    const unsigned *cpu; /* the CPU its threads are pinned to, NULL = none */
    pthread_t thread;
    bool started;
    struct event_base *base;
    const net_opts_t *opts;
    const net_listener_t *listeners;
    size_t nlisteners;
    int *udp_fds; /* one per listener */
    int *tcp_fds;
    answer_ctx_t actx; /* TCP's */
    struct udp_state *udp;
    struct tcp_state *tcp;
} worker_t;

typedef struct net net_t;

/* Binds every address for every worker (port 0 becomes one free port shared by UDP and TCP)
 * and prepares the workers. Returns NULL with err naming the address on failure. [main] */
net_t *net_new(const struct sockaddr_storage *addrs, const socklen_t *lens, size_t n,
               const net_opts_t *opts, hadns_err_t *err) WUNUSED;
/* The bound listeners, for logs and status. */
const net_listener_t *net_listeners(const net_t *n, size_t *count) NONNULL;
/* Starts the worker threads. False with err if a thread cannot start. [main] */
bool net_start(net_t *n, hadns_err_t *err) NONNULL;
/* Snapshot reader slots the workers need: one per worker thread, one per UDP socket thread
 * (blocking mode). Slot w is worker w's; slot workers + w * nlisteners + i is the thread of
 * worker w's socket i. [any] */
unsigned net_readers(unsigned workers, size_t nlisteners);
/* Stops and joins the workers; open TCP connections are closed. [main] */
void net_stop(net_t *n) NONNULL;
/* Frees everything, closing sockets; NULL is a no-op. [main] */
void net_free(net_t *n);

/* True if s is an IPv4 or IPv6 address literal ("192.0.2.1", "2001:db8::1"). [any] */
bool net_addr_is_literal(const char *s) NONNULL;
/* Formats a socket address as "1.2.3.4:53" / "[::1]:53". [any] */
void net_addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen) NONNULL;

#endif
