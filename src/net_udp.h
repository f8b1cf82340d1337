/* SPDX-License-Identifier: MIT */
/* net_udp.h: a worker's UDP loop: readable -> recvmmsg batch -> answers -> sendmmsg. */
#ifndef HADNS_NET_UDP_H
#define HADNS_NET_UDP_H

#include "net.h"

/* Sets up buffers and read events for every UDP socket of w. False with err. [main] */
bool net_udp_init(worker_t *w, hadns_err_t *err) NONNULL;
/* Frees what net_udp_init made (sockets stay with net.c). NULL state is a no-op. [main] */
void net_udp_fini(worker_t *w) NONNULL;

#endif
