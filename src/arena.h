/* SPDX-License-Identifier: MIT */
/* arena.h: bump allocator that owns all data of one zone and is freed in one call. */
#ifndef HADNS_ARENA_H
#define HADNS_ARENA_H

#include <stddef.h>

#include "compiler.h"

typedef struct arena arena_t;

/* Returns an owned, empty arena. [any] */
arena_t *arena_new(void) WUNUSED;
/* Frees the arena and everything allocated from it; NULL is a no-op. [any] */
void arena_free(arena_t *a);
/* Returns size bytes aligned to 8, owned by the arena; aborts on OOM. [any, one thread at a time] */
void *arena_alloc(arena_t *a, size_t size) WUNUSED NONNULL;
/* arena_alloc + memcpy. */
void *arena_dup(arena_t *a, const void *src, size_t size) WUNUSED NONNULL;
/* A copy with no alignment, for byte strings such as names (a million owners would otherwise
 * waste several megabytes in padding). */
void *arena_dup_bytes(arena_t *a, const void *src, size_t size) WUNUSED NONNULL;
/* Total bytes handed out, for memory accounting. */
size_t arena_used(const arena_t *a) NONNULL;

#endif
