/* SPDX-License-Identifier: MIT */
/* err.h: error text carried out of the input layers (config, zone files, reload). */
#ifndef HADNS_ERR_H
#define HADNS_ERR_H

#include <stdarg.h>
#include <stdio.h>

#include "compiler.h"

/* 512 bytes holds "path:line: message" for any realistic path and reason. */
typedef struct hadns_err {
    char msg[512];
} hadns_err_t;

/* Fill err (may be NULL) with a printf-style message; the first call wins so the innermost,
 * most precise cause is what the operator reads. [any] */
static inline PRINTF(2, 3) void err_set(hadns_err_t *err, const char *fmt, ...)
{
    if (!err || err->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

static inline void err_clear(hadns_err_t *err)
{
    if (err)
        err->msg[0] = '\0';
}

#endif
