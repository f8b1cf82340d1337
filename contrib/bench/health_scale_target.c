/* SPDX-License-Identifier: MIT */
/* health_scale_target.c: the endpoints for contrib/bench/health_scale.sh. One epoll thread
 * listens on PORT at every ADDR given; each request that arrives gets a fixed 200 (nothing is
 * sent for a plain TCP connect check) and the connection is closed when the client closes or
 * resets it. An HTTP/1.1 request (hadnsd's "reuse_connection", the default) gets an HTTP/1.1
 * answer, so the client may keep the connection for its next request, as nginx or any
 * keep-alive server lets it; an HTTP/1.0 one ("Connection: close") an HTTP/1.0 answer. Cheap on
 * purpose: the benchmark measures hadnsd, not this.
 *
 *   health_scale_target PORT ADDR...     (PORT 0: a free port, the same for every ADDR)
 *
 * Prints "port N" once every address listens, then runs until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESP10[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 11\r\n\r\nstatus: ok\n";
static const char RESP11[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 11\r\n\r\nstatus: ok\n";

#define MAXL 1024

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT ADDR...\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int nl = argc - 2;
    if (nl > MAXL) {
        fprintf(stderr, "at most %d addresses\n", MAXL);
        return 2;
    }
    int lfd[MAXL];
    int ep = epoll_create1(0);
    for (int i = 0; i < nl; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, argv[i + 2], &sa.sin_addr) != 1) {
            fprintf(stderr, "%s: not an IPv4 address\n", argv[i + 2]);
            return 2;
        }
        lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(lfd[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd[i], 4096) != 0) {
            fprintf(stderr, "%s:%d: %s\n", argv[i + 2], port, strerror(errno));
            return 1;
        }
        if (port == 0) {
            socklen_t len = sizeof(sa);
            getsockname(lfd[i], (struct sockaddr *)&sa, &len);
            port = ntohs(sa.sin_port);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i | 1ull << 63};
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
    }
    printf("port %d\n", port);
    fflush(stdout);
    struct epoll_event evs[256];
    char buf[4096];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 >> 63) {
                int l = lfd[evs[k].data.u64 & 0xffff];
                for (;;) {
                    int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0)
                        break;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                             .data.u64 = (uint64_t)c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            int c = (int)evs[k].data.u64;
            ssize_t r = read(c, buf, sizeof(buf));
            if (r > 0) {
                /* A request (one read holds it): answer; the client closes, or sends its
                 * next request on this connection. */
                bool v11 = memmem(buf, (size_t)r, " HTTP/1.1\r\n", 11) &&
                           !memmem(buf, (size_t)r, "Connection: close", 17);
                ssize_t w = v11 ? write(c, RESP11, sizeof(RESP11) - 1)
                                : write(c, RESP10, sizeof(RESP10) - 1);
                (void)w;
                if (!(evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                    continue;
            } else if (r < 0 && errno == EAGAIN) {
                continue;
            }
            close(c); /* EOF, reset or error */
        }
    }
}
