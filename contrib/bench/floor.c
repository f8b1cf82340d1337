/* SPDX-License-Identifier: MIT */
/* floor.c: the benchmark's "floor", a UDP responder that does no DNS work at all.
 *
 *   floor ADDR PORT [epoll]
 *
 * It takes a batch of datagrams with recvmmsg, turns each into a REFUSED reply in place (QR set,
 * RCODE 5, the rest of the message echoed) and sends the batch back with sendmmsg.  Its CPU time
 * per query is what the kernel's loopback UDP path costs a server; a DNS server's CPU per query
 * minus this is the cost of its own work.
 *
 * By default a single thread blocks in recvmmsg (MSG_WAITFORONE), as gdnsd does.  With "epoll"
 * the socket is non-blocking and the thread waits in epoll_wait and drains the socket on each
 * wake-up, as an event-loop server (libevent) does; the difference between the two is the cost
 * of that wait.  Prints "floor ready" on stderr once bound; SIGTERM stops it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define BUFSZ 4096

static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static struct sockaddr_storage addrs[BATCH];
static unsigned char bufs[BATCH][BUFSZ];

/* Points header i at its buffers; recvmmsg rewrites only lengths and flags, and serve_batch
 * the iov length and (compacting) whole headers below the batch size, so only those headers
 * need this again, as in hadnsd's own loop. */
static void reset(int i)
{
    iovs[i].iov_base = bufs[i];
    iovs[i].iov_len = BUFSZ;
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = NULL;
    msgs[i].msg_hdr.msg_controllen = 0;
    msgs[i].msg_hdr.msg_flags = 0;
}

/* Receives up to one batch with the given flags and answers it; returns the batch size, 0 when
 * nothing was there (non-blocking), -1 on a hard error. */
static int serve_batch(int fd, int flags)
{
    int n = recvmmsg(fd, msgs, BATCH, flags, NULL);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    int out = 0;
    for (int i = 0; i < n; i++) {
        unsigned len = msgs[i].msg_len;
        if (len < 12)
            continue; /* not even a header: drop */
        bufs[i][2] |= 0x80;                       /* QR */
        bufs[i][3] = (unsigned char)((bufs[i][3] & 0xf0) | 5); /* RCODE REFUSED */
        iovs[i].iov_len = len;
        if (out != i) {
            msgs[out] = msgs[i];
        }
        out++;
    }
    for (int sent = 0; sent < out;) {
        int k = sendmmsg(fd, msgs + sent, (unsigned)(out - sent), 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            sent++; /* skip the datagram that failed */
            continue;
        }
        sent += k;
    }
    for (int i = 0; i < n; i++)
        reset(i);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [epoll]\n", argv[0]);
        return 2;
    }
    int use_epoll = argc > 3 && strcmp(argv[3], "epoll") == 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
        fprintf(stderr, "floor: bad IPv4 address %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | (use_epoll ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        perror("floor: socket");
        return 1;
    }
    int buf = 4 * 1024 * 1024; /* the same socket buffers as hadnsd asks for */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        perror("floor: bind");
        return 1;
    }
    for (int i = 0; i < BATCH; i++)
        reset(i);
    fprintf(stderr, "floor ready on %s:%s (%s)\n", argv[1], argv[2],
            use_epoll ? "epoll + non-blocking recvmmsg" : "blocking recvmmsg");
    if (!use_epoll) {
        for (;;) {
            if (serve_batch(fd, MSG_WAITFORONE) < 0) {
                perror("floor: recvmmsg");
                return 1;
            }
        }
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("floor: epoll");
        return 1;
    }
    for (;;) {
        struct epoll_event got;
        int r = epoll_wait(ep, &got, 1, -1);
        if (r < 0 && errno != EINTR) {
            perror("floor: epoll_wait");
            return 1;
        }
        int n;
        while ((n = serve_batch(fd, MSG_DONTWAIT)) == BATCH)
            ;
        if (n < 0) {
            perror("floor: recvmmsg");
            return 1;
        }
    }
}
