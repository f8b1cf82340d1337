/* SPDX-License-Identifier: MIT */
/* log.c: leveled logging to stderr, one write(2) per line. */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int cur_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

void log_set_level(enum log_level lvl)
{
    atomic_store(&cur_level, (int)lvl);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&cur_level);
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcmp(s, level_names[i])) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

static void vlog(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
    if ((int)lvl > atomic_load_explicit(&cur_level, memory_order_relaxed))
        return;
    /* 1 KiB: a log line is one message; longer text is cut, never split over lines. */
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "hadnsd: %s: ", level_names[lvl]);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    if (errnum) {
        int k = snprintf(buf + len, sizeof(buf) - len, ": %s", strerror(errnum));
        len += k < 0 ? 0 : (size_t)k;
        if (len > sizeof(buf) - 2)
            len = sizeof(buf) - 2;
    }
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, 0, fmt, ap);
    va_end(ap);
}

void log_errno(enum log_level lvl, const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, e, fmt, ap);
    va_end(ap);
    errno = e;
}
