/* SPDX-License-Identifier: MIT */
/* dname.h: uncompressed wire-format domain names. */
#ifndef HADNS_DNAME_H
#define HADNS_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/* RFC 1035 §3.1: 255 bytes of wire name at most, 63 per label, so at most 127 labels + root. */
#define DNAME_MAXLEN 255
#define DNAME_MAXLABELS 128
/* "a.b." text is at most 4 chars per wire byte (\DDD) plus the terminator. */
#define DNAME_MAXSTR (DNAME_MAXLEN * 4 + 1)

static inline uint8_t dname_lower(uint8_t c)
{
    return (uint8_t)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* dname_lower() of eight bytes at once: a byte gets 0x20 where, with its top bit clear, it
 * lies in 'A' (0x41) .. 'Z' (0x5a); the two additions carry into bit 7 exactly for bytes
 * >= 0x41 and >= 0x5b, and never into the next byte. [any] */
static inline uint64_t dname_lower8(uint64_t w)
{
    const uint64_t hi = 0x8080808080808080u;
    uint64_t t = w & ~hi;
    uint64_t in = (t + 0x3f3f3f3f3f3f3f3fu) & ~(t + 0x2525252525252525u) & ~w & hi;
    return w | (in >> 2);
}

/* Names are handled eight bytes at a time; the last n < 8 bytes of a run are moved as one
 * word by a 4-, a 2- and a 1-byte access as needed, never past the run's end. The word's
 * layout is the same for loading and storing, so a loaded tail stores back as it was. */
static inline uint64_t dname_load_tail(const uint8_t *s, size_t n)
{
    uint64_t w = 0;
    unsigned shift = 0;
    if (n & 4) {
        uint32_t x;
        __builtin_memcpy(&x, s, 4);
        w = x;
        s += 4;
        shift = 32;
    }
    if (n & 2) {
        uint16_t x;
        __builtin_memcpy(&x, s, 2);
        w |= (uint64_t)x << shift;
        s += 2;
        shift += 16;
    }
    if (n & 1)
        w |= (uint64_t)*s << shift;
    return w;
}

static inline void dname_store_tail(uint8_t *d, uint64_t w, size_t n)
{
    if (n & 4) {
        uint32_t x = (uint32_t)w;
        __builtin_memcpy(d, &x, 4);
        d += 4;
        w >>= 32;
    }
    if (n & 2) {
        uint16_t x = (uint16_t)w;
        __builtin_memcpy(d, &x, 2);
        d += 2;
        w >>= 16;
    }
    if (n & 1)
        *d = (uint8_t)w;
}

/* Lowercases len bytes of wire name from src into dst (the same buffer or apart, not
 * overlapping otherwise), eight bytes at a time; a run of 8 or more ends with the last eight
 * bytes (folding some twice does no harm), a shorter one is a tail. Length bytes are <= 63
 * and so never in 'A'..'Z', which makes a bytewise fold exact. [any] */
static inline void dname_tolower(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len < 8) {
        dname_store_tail(dst, dname_lower8(dname_load_tail(src, len)), len);
        return;
    }
    uint64_t w;
    for (size_t i = 0; i + 8 < len; i += 8) {
        __builtin_memcpy(&w, src + i, 8);
        w = dname_lower8(w);
        __builtin_memcpy(dst + i, &w, 8);
    }
    __builtin_memcpy(&w, src + len - 8, 8);
    w = dname_lower8(w);
    __builtin_memcpy(dst + len - 8, &w, 8);
}

/* Length in bytes of a well-formed uncompressed name, including the root label. [any] */
size_t dname_len(const uint8_t *name) NONNULL;
/* Number of labels, not counting the root (so "." is 0). [any] */
unsigned dname_labels(const uint8_t *name) NONNULL;
/* Checks that buf[0..len) is exactly one well-formed uncompressed name. [any] */
bool dname_valid(const uint8_t *buf, size_t len) NONNULL;
/* Fills off[] with the offset of each label start (off[0] = 0 ... off[n-1]) and returns n, the
 * label count without the root. The suffix from off[i] has n - i labels. [any] */
unsigned dname_label_offsets(const uint8_t *name, uint8_t off[DNAME_MAXLABELS]) NONNULL;
/* True if name equals parent or lies below it; both lowercase. [any] */
bool dname_is_subdomain(const uint8_t *name, size_t len, const uint8_t *parent, size_t plen)
    NONNULL;
/* Equality of n bytes, eight at a time, a run of 8 or more ending with its last eight bytes
 * (some compared twice), a shorter one as a tail: no call (names are short; memcmp's call
 * and setup cost more than the comparing). [any] */
static inline bool dname_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n < 8)
        return dname_load_tail(a, n) == dname_load_tail(b, n);
    uint64_t x, y;
    for (size_t i = 0; i + 8 < n; i += 8) {
        __builtin_memcpy(&x, a + i, 8);
        __builtin_memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    __builtin_memcpy(&x, a + n - 8, 8);
    __builtin_memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* Case-sensitive equality of two lowercase names. */
static inline bool dname_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && dname_bytes_eq(a, b, alen);
}
/* Name hashing: each label (its length byte included) is read eight bytes at a time (the
 * last 1-7 by dname_load_tail, never past the label) and mixed into a 64-bit state by xor
 * and a multiply, chained from the root down. A suffix's 32-bit hash folds the state's high
 * half into its low half and takes the high half of one more multiply (Fibonacci hashing),
 * so every bit of every label reaches the low bits a power-of-two table uses. Chaining from
 * the root means one pass over a qname gives the hash of every suffix, which the zone-set
 * and node lookups reuse. The multiply by an odd constant is a bijection, so two labels of
 * up to seven letters below the same suffix never share a state. [any] */
#define DNAME_HASH_SEED 0x9e3779b97f4a7c15u
#define DNAME_HASH_MUL 0xff51afd7ed558ccdu

static inline uint64_t dname_hash_label(uint64_t h, const uint8_t *label)
{
    size_t n = (size_t)label[0] + 1;
    const uint8_t *s = label;
    for (; n >= 8; n -= 8, s += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s, 8);
        h = (h ^ w) * DNAME_HASH_MUL;
    }
    return (h ^ dname_load_tail(s, n)) * DNAME_HASH_MUL;
}

static inline uint32_t dname_hash_fin(uint64_t h)
{
    return (uint32_t)(((h ^ (h >> 32)) * 0x9e3779b97f4a7c15u) >> 32);
}

/* hash[i] = the hash of the suffix starting at off[i], for i < n; hash[n] = the root's. */
static inline void dname_suffix_hashes(const uint8_t *name, const uint8_t *off, unsigned n,
                                       uint32_t *hash)
{
    uint64_t h = DNAME_HASH_SEED;
    hash[n] = dname_hash_fin(h);
    for (unsigned i = n; i-- > 0;) {
        h = dname_hash_label(h, name + off[i]);
        hash[i] = dname_hash_fin(h);
    }
}

/* The hash of a whole lowercase wire name (equal to its dname_suffix_hashes()[0]). [any] */
uint32_t dname_hash(const uint8_t *name, size_t len) NONNULL;
/* Writes the presentation form ("www.example.com.") into out (DNAME_MAXSTR bytes). [any] */
void dname_to_str(const uint8_t *name, char out[DNAME_MAXSTR]) NONNULL;
/* Parses presentation form (absolute or not; a trailing dot is optional; "\." and "\DDD" escapes)
 * into lowercase wire form. Returns the wire length, or 0 if the text is not a valid name. */
size_t dname_from_str(const char *s, uint8_t out[DNAME_MAXLEN]) NONNULL;

#endif
