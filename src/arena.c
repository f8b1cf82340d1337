/* SPDX-License-Identifier: MIT */
/* arena.c: chunked bump allocator. */
#include "config.h"
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* 1 MiB chunks: few enough mallocs for a million-record zone, small enough that a tiny zone
 * does not waste much. Larger requests get a chunk of their own. */
#define CHUNK_SIZE (1024 * 1024)

struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct arena {
    struct chunk *head;
    size_t total;
};

arena_t *arena_new(void)
{
    return xcalloc(1, sizeof(arena_t));
}

void arena_free(arena_t *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

static void *bump(arena_t *a, size_t size, size_t align)
{
    struct chunk *c = a->head;
    if (c)
        c->used = (c->used + align - 1) & ~(align - 1);
    if (!c || c->used > c->size || c->size - c->used < size) {
        size_t csize = size > CHUNK_SIZE / 4 ? size : CHUNK_SIZE;
        struct chunk *n = xmalloc(sizeof(*n) + csize);
        n->size = csize;
        n->used = 0;
        if (c && csize != CHUNK_SIZE) {
            /* A big one-off block goes behind the current chunk so its free space stays usable. */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->total += size;
    return p;
}

void *arena_alloc(arena_t *a, size_t size)
{
    return bump(a, size, 8);
}

void *arena_dup(arena_t *a, const void *src, size_t size)
{
    void *p = arena_alloc(a, size);
    if (size)
        memcpy(p, src, size);
    return p;
}

void *arena_dup_bytes(arena_t *a, const void *src, size_t size)
{
    void *p = bump(a, size, 1);
    if (size)
        memcpy(p, src, size);
    return p;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}
