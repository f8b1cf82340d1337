/* SPDX-License-Identifier: MIT */
/* net_udp.h: a worker's UDP service: recvmmsg batch -> answers -> sendmmsg, driven either by
 * the worker's event loop or by one thread per socket blocking in recvmmsg. */
#ifndef HADNS_NET_UDP_H
#define HADNS_NET_UDP_H

#include "net.h"

/* The blocking driver is the default: in contrib/bench (2026-11-21, one pinned core, 50k
 * q/s) it cost 0.68 us/query above the kernel floor against 0.92 us for the event loop, which
 * pays an epoll_wait per wake-up. */
#define NET_UDP_DEFAULT_BLOCKING true

/* True when UDP sockets get threads of their own (HADNSD_UDP_LOOP=event|blocking overrides
 * the default, for benchmarks). [main] */
bool net_udp_blocking(void);
/* Sets up every UDP socket of w. In blocking mode socket i uses snapshot reader slot
 * first_reader + i; in event mode the worker's own slot. False with err. [main] */
bool net_udp_init(worker_t *w, unsigned first_reader, hadns_err_t *err) NONNULL;
/* Starts the blocking threads (nothing to do in event mode). False with err. [main] */
bool net_udp_start(worker_t *w, hadns_err_t *err) NONNULL;
/* Stops and joins the blocking threads. [main] */
void net_udp_stop(worker_t *w) NONNULL;
/* Stops, then frees what net_udp_init made (the sockets stay with net.c). [main] */
void net_udp_fini(worker_t *w) NONNULL;

#endif
