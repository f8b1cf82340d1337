/* SPDX-License-Identifier: MIT */
/* xalloc.h: allocation that aborts with a message instead of returning NULL. */
#ifndef HADNS_XALLOC_H
#define HADNS_XALLOC_H

#include <stddef.h>

#include "compiler.h"

/* Each returns owned memory or aborts the process on exhaustion; never NULL. [any] */
void *xmalloc(size_t size) WUNUSED;
void *xcalloc(size_t n, size_t size) WUNUSED;
void *xrealloc(void *p, size_t size) WUNUSED;
char *xstrdup(const char *s) WUNUSED NONNULL;

#endif
