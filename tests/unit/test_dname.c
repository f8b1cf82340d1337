/* SPDX-License-Identifier: MIT */
/* test_dname.c: presentation <-> wire names, validity, label walks, subdomain tests. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dname.h"

/* Wire form of a literal like "\3www\7example\3com" (the string's own NUL is the root). */
#define W(lit) ((const uint8_t *)(lit)), sizeof(lit)
#define P(lit) ((const uint8_t *)(lit))

static size_t from(const char *s, uint8_t out[DNAME_MAXLEN])
{
    memset(out, 0xee, DNAME_MAXLEN);
    return dname_from_str(s, out);
}

static void expect_wire(const char *text, const uint8_t *wire, size_t wlen)
{
    uint8_t out[DNAME_MAXLEN];
    size_t n = from(text, out);
    cr_assert_eq(n, wlen, "'%s': wire length %zu, expected %zu", text, n, wlen);
    cr_assert(memcmp(out, wire, wlen) == 0, "'%s': wrong wire bytes", text);
}

static void expect_invalid(const char *text)
{
    uint8_t out[DNAME_MAXLEN];
    cr_assert_eq(from(text, out), 0, "'%s' must be rejected", text);
}

static void expect_str(const uint8_t *wire, const char *text)
{
    char out[DNAME_MAXSTR];
    dname_to_str(wire, out);
    cr_assert_str_eq(out, text);
}

/* A name of `labels` labels of `each` bytes ('a'..) in text form, without a trailing dot. */
static void long_name(char *buf, unsigned labels, unsigned each)
{
    size_t o = 0;
    for (unsigned i = 0; i < labels; i++) {
        if (i)
            buf[o++] = '.';
        memset(buf + o, 'a' + (int)(i % 26), each);
        o += each;
    }
    buf[o] = '\0';
}

Test(dname, from_str_basic)
{
    expect_wire("www.example.com.", W("\3www\7example\3com"));
    expect_wire("www.example.com", W("\3www\7example\3com")); /* relative = absolute here */
    expect_wire(".", W(""));
    expect_wire("a", W("\1a"));
}

Test(dname, from_str_lowercases)
{
    expect_wire("WwW.ExAmPlE.COM.", W("\3www\7example\3com"));
}

Test(dname, from_str_escapes)
{
    expect_wire("a\\.b.example.", W("\3a.b\7example"));
    expect_wire("a\\032b.", W("\3a b"));
    expect_wire("\\000.", (const uint8_t *)"\1\0\0", 3);
    expect_wire("\\255x.", (const uint8_t *)"\2\377x\0", 4);
    expect_wire("a\\\\b.", W("\3a\\b"));
    /* \DDD is decimal, and an escaped uppercase letter is still folded (names are lowercase). */
    expect_wire("\\065.", W("\1a"));
}

Test(dname, from_str_invalid)
{
    expect_invalid("a..b");
    expect_invalid(".a");
    expect_invalid("..");
    expect_invalid("a..");
    expect_invalid("a\\");    /* dangling escape */
    expect_invalid("\\256."); /* decimal escape out of range */
    expect_invalid("\\999.");
}

Test(dname, from_str_short_decimal_escape_is_invalid)
{
    /* RFC 1035 §5.1: "\X" quotes a character "other than a digit"; a digit after the backslash
     * starts "\DDD", which takes exactly three digits. "\1" or "\12x" is neither. */
    expect_invalid("\\1.example.");
    expect_invalid("a\\12x.example.");
    expect_invalid("a\\1");
}

Test(dname, from_str_label_limits)
{
    char buf[600];
    uint8_t out[DNAME_MAXLEN];
    long_name(buf, 1, 63);
    cr_assert_eq(from(buf, out), 65, "a 63-byte label is legal");
    cr_assert_eq(out[0], 63);
    long_name(buf, 1, 64);
    expect_invalid(buf);
    /* A 64-byte label made of escapes counts decoded bytes, not characters. */
    char esc[64 * 4 + 2] = "";
    for (int i = 0; i < 63; i++)
        strcat(esc, "\\097");
    cr_assert_eq(from(esc, out), 65);
    strcat(esc, "a");
    expect_invalid(esc);
}

Test(dname, from_str_name_limits)
{
    char buf[600];
    uint8_t out[DNAME_MAXLEN];
    /* 3 x 63 + 1 x 61 bytes of labels: 4 * 64 - 2 + 1 (root) = 255 bytes exactly. */
    long_name(buf, 3, 63);
    strcat(buf, ".");
    size_t o = strlen(buf);
    memset(buf + o, 'z', 61);
    buf[o + 61] = '\0';
    cr_assert_eq(from(buf, out), 255, "a 255-byte name is legal");
    cr_assert_eq(out[254], 0);
    cr_assert_eq(out[192], 61);
    /* One more byte in the last label: 256 bytes. */
    buf[o + 61] = 'z';
    buf[o + 62] = '\0';
    expect_invalid(buf);
    /* 128 one-byte labels: 257 bytes. */
    long_name(buf, 128, 1);
    expect_invalid(buf);
    /* 127 one-byte labels: 255 bytes, the most labels a name can have. */
    long_name(buf, 127, 1);
    cr_assert_eq(from(buf, out), 255);
    cr_assert_eq(dname_labels(out), 127);
}

Test(dname, to_str)
{
    expect_str(P("\3www\7example\3com"), "www.example.com.");
    expect_str(P(""), ".");
    expect_str(P("\3a.b\7example"), "a\\.b.example.");
    expect_str(P("\3a b"), "a\\032b.");
    expect_str((const uint8_t *)"\2\377\0\0", "\\255\\000.");
    expect_str(P("\4a\"()"), "a\\\"\\(\\).");
    expect_str(P("\3@$;"), "\\@\\$\\;.");
}

Test(dname, round_trips)
{
    static const char *names[] = {
        ".",
        "example.",
        "a\\.b.example.",
        "a\\032b.c.",
        "\\000\\001\\255.x.",
        "x\\\\y.",
        "_sip._tcp.example.com.",
        "*.example.",
        "xn--bcher-kva.example.",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint8_t wire[DNAME_MAXLEN], again[DNAME_MAXLEN];
        char text[DNAME_MAXSTR];
        size_t n = from(names[i], wire);
        cr_assert(n > 0, "'%s' parses", names[i]);
        cr_assert(dname_valid(wire, n));
        cr_assert_eq(dname_len(wire), n);
        dname_to_str(wire, text);
        cr_assert_str_eq(text, names[i]);
        cr_assert_eq(from(text, again), n);
        cr_assert(memcmp(wire, again, n) == 0);
    }
}

Test(dname, to_str_longest)
{
    /* The worst case for the text buffer: every byte of a 255-byte name escaped as \DDD. */
    uint8_t wire[DNAME_MAXLEN];
    size_t o = 0;
    for (int l = 0; l < 4; l++) {
        unsigned n = l < 3 ? 63 : 61;
        wire[o++] = (uint8_t)n;
        memset(wire + o, 0x01, n);
        o += n;
    }
    wire[o++] = 0;
    cr_assert_eq(o, 255);
    char text[DNAME_MAXSTR];
    dname_to_str(wire, text);
    cr_assert_eq(strlen(text), 250 * 4 + 4);
    uint8_t again[DNAME_MAXLEN];
    cr_assert_eq(from(text, again), 255);
    cr_assert(memcmp(wire, again, 255) == 0);
}

Test(dname, valid)
{
    cr_assert(dname_valid(W("\3www\7example\3com")));
    cr_assert(dname_valid(W("")));
    cr_assert_not(dname_valid((const uint8_t *)"", 0));
    /* Length disagrees with the labels. */
    cr_assert_not(dname_valid((const uint8_t *)"\3www\7example\3com", 16));
    cr_assert_not(dname_valid((const uint8_t *)"\3www\7example\3com\0\0", 18));
    /* Label runs off the end. */
    cr_assert_not(dname_valid((const uint8_t *)"\7exa", 4));
    /* 0x40 and compression-pointer bytes are not label lengths. */
    cr_assert_not(dname_valid((const uint8_t *)"\x40", 2));
    cr_assert_not(dname_valid((const uint8_t *)"\xc0\x0c", 2));
    uint8_t big[256];
    memset(big, 1, sizeof(big));
    big[255] = 0;
    cr_assert_not(dname_valid(big, 256), "256 bytes is too long");
}

Test(dname, labels_and_offsets)
{
    uint8_t off[DNAME_MAXLABELS];
    cr_assert_eq(dname_labels((const uint8_t *)""), 0);
    cr_assert_eq(dname_label_offsets((const uint8_t *)"", off), 0);
    const uint8_t *n = (const uint8_t *)"\3www\7example\3com";
    cr_assert_eq(dname_labels(n), 3);
    cr_assert_eq(dname_label_offsets(n, off), 3);
    cr_assert_eq(off[0], 0);
    cr_assert_eq(off[1], 4);
    cr_assert_eq(off[2], 12);
    cr_assert_eq(dname_len(n), 17);
    cr_assert_eq(dname_len((const uint8_t *)""), 1);
}

Test(dname, is_subdomain)
{
    cr_assert(dname_is_subdomain(W("\3www\7example\3com"), W("\7example\3com")));
    cr_assert(dname_is_subdomain(W("\7example\3com"), W("\7example\3com")),
              "a name is under itself");
    cr_assert(dname_is_subdomain(W("\7example\3com"), W("")), "everything is under the root");
    cr_assert(dname_is_subdomain(W(""), W("")));
    cr_assert_not(dname_is_subdomain(W("\7example\3com"), W("\3www\7example\3com")));
    /* Label boundaries: the bytes of "example.com" end "aexample.com" but it is not below. */
    cr_assert_not(dname_is_subdomain(W("\10aexample\3com"), W("\7example\3com")));
    cr_assert_not(dname_is_subdomain(W("\3www\10aexample\3com"), W("\7example\3com")));
    /* "xample.com" sits inside "example.com"'s bytes at a non-boundary. */
    cr_assert_not(dname_is_subdomain(W("\7example\3com"), W("\6xample\3com")));
    cr_assert_not(dname_is_subdomain(W("\3com"), W("\3net")));
    cr_assert_not(dname_is_subdomain(W("\7example\3net"), W("\3com")));
    /* A label whose bytes look like a name: "\3com" inside one label is not the label com. */
    cr_assert_not(dname_is_subdomain(W("\5x\3com"), W("\3com")));
}

Test(dname, lower_and_hash)
{
    uint8_t a[] = "\3WwW\7ExAmple\3COM";
    uint8_t b[sizeof(a)];
    dname_tolower(b, a, sizeof(a));
    cr_assert(memcmp(b, "\3www\7example\3com", sizeof(a)) == 0);
    /* Length bytes are never letters; 'A'..'Z' are 65..90 > 63. */
    cr_assert_eq(dname_lower(63), 63);
    dname_tolower(a, a, sizeof(a)); /* may alias */
    cr_assert(memcmp(a, b, sizeof(a)) == 0);
    cr_assert_eq(dname_hash(a, sizeof(a)), dname_hash(b, sizeof(b)));
    cr_assert_neq(dname_hash(W("\1a")), dname_hash(W("\1b")));
    cr_assert(dname_eq(W("\1a"), W("\1a")));
    cr_assert_not(dname_eq(W("\1a"), W("\1A")), "dname_eq is for lowercase names");
}

/* The eight-bytes-at-once fold agrees with the bytewise one for every byte value, in every
 * position of a word, and for every length (the tail is folded bytewise). */
Test(dname, lower8_every_byte)
{
    for (unsigned pos = 0; pos < 8; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            uint8_t in[8], want[8];
            for (unsigned i = 0; i < 8; i++)
                in[i] = (uint8_t)(i == pos ? v : (v * 7 + i * 37) & 0xff);
            for (unsigned i = 0; i < 8; i++)
                want[i] = dname_lower(in[i]);
            uint64_t w;
            memcpy(&w, in, 8);
            w = dname_lower8(w);
            cr_assert(memcmp(&w, want, 8) == 0, "byte 0x%02x at %u", v, pos);
        }
    }
    uint8_t src[40], dst[40];
    for (unsigned i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)("@AZ[`az{\x80\xc1\xda"[i % 12]);
    for (size_t len = 0; len <= sizeof(src); len++) {
        memset(dst, 0xee, sizeof(dst));
        dname_tolower(dst, src, len);
        for (size_t i = 0; i < len; i++)
            cr_assert_eq(dst[i], dname_lower(src[i]), "len %zu, byte %zu", len, i);
        for (size_t i = len; i < sizeof(dst); i++)
            cr_assert_eq(dst[i], 0xee, "len %zu: wrote past the end", len);
    }
}

/* The low bits a power-of-two table uses are spread evenly, for names that differ only in a
 * few digits (in short labels, and at every position of a long one): the share of empty
 * buckets is what a random hash gives, e^(-n/m), and no bucket is crowded. */
Test(dname, hash_spreads_similar_names)
{
    enum { BITS = 17, M = 1u << BITS, N = 100000 };
    static uint8_t load[M];
    const char *forms[] = {"host%05u.example.com", "a.b.c%u.example", "%u",
                           "abcdefghijklmnopqrstuvwxyz%06u.example", "%06uabcdefghijklmnop"};
    for (unsigned f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        memset(load, 0, sizeof(load));
        unsigned crowded = 0;
        for (unsigned i = 0; i < N; i++) {
            char text[80];
            uint8_t w[DNAME_MAXLEN];
            snprintf(text, sizeof(text), forms[f], i);
            size_t l = dname_from_str(text, w);
            cr_assert_gt(l, 0);
            uint8_t *b = &load[dname_hash(w, l) & (M - 1)];
            if (++*b > crowded)
                crowded = *b;
        }
        unsigned empty = 0;
        for (unsigned i = 0; i < M; i++)
            empty += !load[i];
        double want = M * 0.46620; /* e^(-100000/131072) */
        cr_assert(empty > want * 0.98 && empty < want * 1.02, "%s: %u empty buckets, want about %.0f",
                  forms[f], empty, want);
        cr_assert_leq(crowded, 10, "%s: a bucket holds %u names", forms[f], crowded);
    }
}

/* dname_bytes_eq agrees with memcmp for every length up to a long name and a difference at
 * every position, and reads nothing past either end (ASan builds check that). */
Test(dname, bytes_eq_every_length_and_position)
{
    for (size_t n = 0; n <= 40; n++) {
        uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] = (uint8_t)(i * 29 + 3);
        cr_assert(dname_bytes_eq(a, b, n), "equal, length %zu", n);
        for (size_t d = 0; d < n; d++) {
            b[d] ^= 0x20;
            cr_assert_not(dname_bytes_eq(a, b, n), "length %zu, differs at %zu", n, d);
            b[d] ^= 0x20;
        }
        free(a);
        free(b);
    }
}
