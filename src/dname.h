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

/* Lowercases len bytes of wire name from src into dst (may alias). Length bytes are <= 63 and so
 * never in 'A'..'Z', which makes a bytewise fold exact. [any] */
static inline void dname_tolower(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = dname_lower(src[i]);
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
/* Case-sensitive equality of two lowercase names. */
static inline bool dname_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && __builtin_memcmp(a, b, alen) == 0;
}
/* Name hashing: FNV-1a over each label (its length byte included), chained from the root
 * down, then murmur3's finalizer (FNV's low bits, the ones a power-of-two table uses, mix
 * poorly for names that differ in a few digits). Chaining from the root means one pass over a
 * qname gives the hash of every suffix, which the zone-set and node lookups reuse. [any] */
#define DNAME_HASH_SEED 2166136261u

static inline uint32_t dname_hash_label(uint32_t h, const uint8_t *label)
{
    for (unsigned i = 0; i <= label[0]; i++)
        h = (h ^ label[i]) * 16777619u;
    return h;
}

static inline uint32_t dname_hash_fin(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* hash[i] = the hash of the suffix starting at off[i], for i < n; hash[n] = the root's. */
static inline void dname_suffix_hashes(const uint8_t *name, const uint8_t *off, unsigned n,
                                       uint32_t *hash)
{
    uint32_t h = DNAME_HASH_SEED;
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
