/* SPDX-License-Identifier: MIT */
/* test_util.h: helpers shared by the unit tests: hand-built queries, exact-size copies (so the
 * sanitizers see any read past a message), fixture paths and temporary files. */
#ifndef HADNS_TEST_UTIL_H
#define HADNS_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must be defined (tests/unit/Makefile.inc does)"
#endif

/* The fixture at TEST_DATA_DIR/name, in a static buffer (one at a time). */
static inline const char *tu_data(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
    return path;
}

/* Text -> wire name keeping the letter case (for 0x20 tests); "." or "" is the root. Labels are
 * split on dots only, no escapes. Returns the wire length. */
static inline size_t tu_name(const char *text, uint8_t *out)
{
    size_t o = 0;
    const char *s = text;
    while (*s && strcmp(s, ".") != 0) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        out[o++] = (uint8_t)l;
        memcpy(out + o, s, l);
        o += l;
        s += l;
        if (*s == '.')
            s++;
    }
    out[o++] = 0;
    return o;
}

/* A standard query (opcode QUERY, RD clear, class IN) for qname/qtype into buf; returns its
 * length. */
static inline size_t tu_query(uint8_t *buf, uint16_t id, const char *qname, uint16_t qtype)
{
    memset(buf, 0, DNS_HDR_LEN);
    wr16(buf, id);
    wr16(buf + 4, 1); /* qdcount */
    size_t len = DNS_HDR_LEN + tu_name(qname, buf + DNS_HDR_LEN);
    wr16(buf + len, qtype);
    wr16(buf + len + 2, DNS_CLASS_IN);
    return len + 4;
}

/* Appends an OPT RR (root owner) with the given fields and raw options, bumping arcount;
 * returns the new length. */
static inline size_t tu_add_opt(uint8_t *buf, size_t len, uint16_t payload, uint8_t version,
                                bool do_bit, const uint8_t *opts, size_t optlen)
{
    uint8_t *o = buf + len;
    o[0] = 0;
    wr16(o + 1, T_OPT);
    wr16(o + 3, payload);
    o[5] = 0; /* extended rcode */
    o[6] = version;
    wr16(o + 7, do_bit ? EDNS_DO : 0);
    wr16(o + 9, (uint16_t)optlen);
    if (optlen)
        memcpy(o + 11, opts, optlen);
    wr16(buf + 10, (uint16_t)(rd16(buf + 10) + 1));
    return len + 11 + optlen;
}

/* One EDNS option (code, length, data) into out; returns its length. */
static inline size_t tu_option(uint8_t *out, uint16_t code, const uint8_t *data, uint16_t len)
{
    wr16(out, code);
    wr16(out + 2, len);
    if (len)
        memcpy(out + 4, data, len);
    return 4u + len;
}

/* A heap copy of exactly len bytes, so ASan flags a read of buf[len]; tu_exact_free() it.
 * Not inlined, so the compiler does not warn about the (deliberately) empty block of len 0. */
static __attribute__((noinline, unused)) uint8_t *tu_exact(const uint8_t *src, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        abort();
    if (!len) {
        /* Hand out the end of a 1-byte block: nothing may be read at all. */
        p[0] = 0;
        return p + 1;
    }
    memcpy(p, src, len);
    return p;
}

static inline void tu_exact_free(uint8_t *p, size_t len)
{
    free(len ? p : p - 1);
}

/* Deterministic PRNG (xorshift64*) so a failing fuzz case can be replayed. */
static inline uint64_t tu_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Writes text to dir/name (dir from mkdtemp); returns the path in a static buffer. */
static inline const char *tu_write(const char *dir, const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

#endif
