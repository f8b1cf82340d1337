/* SPDX-License-Identifier: MIT */
/* net_tcp.h: a worker's DNS-over-TCP service per RFC 7766: several queries per connection
 * answered in order, an idle timeout, and a cap on open connections. */
#ifndef HADNS_NET_TCP_H
#define HADNS_NET_TCP_H

#include "net.h"

/* Sets up accept events for every TCP listening socket of w. False with err. [main] */
bool net_tcp_init(worker_t *w, hadns_err_t *err) NONNULL;
/* Closes every open connection and frees the state. [main, after the worker stopped] */
void net_tcp_fini(worker_t *w) NONNULL;

#endif
