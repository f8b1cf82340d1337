/* SPDX-License-Identifier: MIT */
/* test_wire.c: the query parser (RFC 1035 §4.1, RFC 6891, RFC 7871) and the response name
 * writer (RFC 1035 §4.1.4 compression). Every message is handed to the parser in a heap block
 * of exactly its size, so a sanitizer build catches any read past the end. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "test_util.h"
#include "wire.h"

static query_t q;

/* Parses buf[0..len) from an exact-size copy. */
static enum wire_status parse(const uint8_t *buf, size_t len)
{
    uint8_t *copy = tu_exact(buf, len);
    memset(&q, 0xa5, sizeof(q)); /* stale garbage that the parser must reset */
    enum wire_status st = wire_parse_query(copy, len, &q);
    tu_exact_free(copy, len);
    return st;
}

#define ASSERT_STATUS(buf, len, want)                                               \
    do {                                                                            \
        enum wire_status st_ = parse((buf), (len));                                 \
        cr_assert_eq(st_, (want), "status %d, expected %d", (int)st_, (int)(want)); \
    } while (0)

/* ---- valid queries ---- */

Test(wire, valid_query)
{
    uint8_t b[512];
    size_t n = tu_query(b, 0x1234, "www.ExAmple.COM", T_AAAA);
    b[2] |= F_RD >> 8;
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert_eq(q.id, 0x1234);
    cr_assert_eq(q.flags, F_RD);
    cr_assert(q.has_question);
    cr_assert_eq(q.qtype, T_AAAA);
    cr_assert_eq(q.qclass, DNS_CLASS_IN);
    cr_assert_eq(q.qname_len, 17);
    cr_assert(memcmp(q.qname, "\3www\7example\3com", 17) == 0, "qname is lowercased");
    cr_assert_eq(q.qname_labels, 3);
    cr_assert_eq(q.label_off[0], 0);
    cr_assert_eq(q.label_off[1], 4);
    cr_assert_eq(q.label_off[2], 12);
    cr_assert_eq(q.question_end, n);
    cr_assert_not(q.has_edns);
    cr_assert_not(q.edns_do);
    cr_assert_not(q.nsid_requested);
    cr_assert_not(q.has_ecs);
    cr_assert_eq(q.edns_payload, 512);
}

Test(wire, root_qname)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, ".", T_NS);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert_eq(q.qname_len, 1);
    cr_assert_eq(q.qname[0], 0);
    cr_assert_eq(q.qname_labels, 0);
    cr_assert_eq(q.question_end, 12 + 1 + 4);
}

Test(wire, binary_label_bytes_lowercased_only_for_letters)
{
    /* Only 'A'..'Z' fold; bytes like 0xC1 or '[' (0x5b) stay as they are. */
    uint8_t b[512];
    size_t n = tu_query(b, 1, "aZ[\xc1", T_A);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(memcmp(q.qname, "\4az[\xc1", 6) == 0);
}

Test(wire, longest_legal_name)
{
    /* 255 bytes: labels of 63, 63, 63, 61 plus the root. */
    uint8_t b[600];
    memset(b, 0, 12);
    wr16(b + 4, 1);
    size_t p = 12;
    for (int i = 0; i < 4; i++) {
        unsigned l = i < 3 ? 63 : 61;
        b[p++] = (uint8_t)l;
        memset(b + p, 'A' + i, l);
        p += l;
    }
    b[p++] = 0;
    wr16(b + p, T_A);
    wr16(b + p + 2, 1);
    p += 4;
    ASSERT_STATUS(b, p, WIRE_OK);
    cr_assert_eq(q.qname_len, 255);
    cr_assert_eq(q.qname_labels, 4);
    cr_assert_eq(q.label_off[3], 192);
    cr_assert_eq(q.qname[193], 'd');
    /* 127 one-byte labels: the most labels a name can have. */
    p = 12;
    for (int i = 0; i < 127; i++) {
        b[p++] = 1;
        b[p++] = 'x';
    }
    b[p++] = 0;
    wr16(b + p, T_A);
    wr16(b + p + 2, 1);
    p += 4;
    ASSERT_STATUS(b, p, WIRE_OK);
    cr_assert_eq(q.qname_labels, 127);
    cr_assert_eq(q.label_off[126], 252);
}

/* ---- EDNS (RFC 6891) ---- */

Test(wire, edns_fields)
{
    uint8_t b[512];
    size_t n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 4096, 0, true, NULL, 0);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(q.has_edns);
    cr_assert(q.edns_do);
    cr_assert_eq(q.edns_version, 0);
    cr_assert_eq(q.edns_payload, 4096);
    cr_assert_not(q.nsid_requested);
    cr_assert_not(q.has_ecs);

    n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 1, false, NULL, 0);
    ASSERT_STATUS(b, n, WIRE_OK); /* BADVERS is the answerer's decision */
    cr_assert(q.has_edns);
    cr_assert_not(q.edns_do);
    cr_assert_eq(q.edns_version, 1);
    cr_assert_eq(q.edns_payload, 1232);
}

Test(wire, edns_do_is_only_the_top_flag_bit)
{
    uint8_t b[512];
    size_t n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, NULL, 0);
    wr16(b + n - 4, 0x7fff); /* every other Z bit set */
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert_not(q.edns_do);
}

Test(wire, edns_payload_raised_to_512)
{
    static const uint16_t in[] = {0, 1, 100, 511, 512, 513, 65535};
    static const uint16_t out[] = {512, 512, 512, 512, 512, 513, 65535};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        uint8_t b[512];
        size_t n = tu_query(b, 7, "example.com", T_A);
        n = tu_add_opt(b, n, in[i], 0, false, NULL, 0);
        ASSERT_STATUS(b, n, WIRE_OK);
        cr_assert_eq(q.edns_payload, out[i], "payload %u read as %u", in[i], q.edns_payload);
    }
}

Test(wire, edns_nsid)
{
    uint8_t b[512], o[64];
    size_t n = tu_query(b, 7, "example.com", T_A);
    size_t ol = tu_option(o, EDNS_OPT_NSID, NULL, 0);
    n = tu_add_opt(b, n, 1232, 0, false, o, ol);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(q.nsid_requested);

    /* Among unknown options, which are skipped. */
    ol = tu_option(o, 65001, (const uint8_t *)"abc", 3);
    ol += tu_option(o + ol, EDNS_OPT_NSID, NULL, 0);
    ol += tu_option(o + ol, 10, (const uint8_t *)"12345678", 8); /* a client cookie */
    n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, o, ol);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(q.nsid_requested);
    cr_assert_not(q.has_ecs);
}

Test(wire, edns_option_overruns)
{
    uint8_t b[512], o[64];
    /* An option whose length runs past the OPT rdata (but not past the message). */
    size_t ol = tu_option(o, EDNS_OPT_NSID, (const uint8_t *)"abcd", 4);
    size_t n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, o, ol);
    wr16(b + n - ol + 2, 5); /* option says 5, rdata holds 4 */
    memset(b + n, 0, 8);     /* bytes after the OPT so only the rdata bound can catch it */
    ASSERT_STATUS(b, n + 8, WIRE_FORMERR);
    /* Rdata of 2 bytes: not even an option header. */
    n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, (const uint8_t *)"\0\3", 2);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

/* ---- ECS (RFC 7871 §6) ---- */

static enum wire_status parse_ecs(const uint8_t *ecs, uint16_t len)
{
    uint8_t b[512], o[300];
    size_t n = tu_query(b, 9, "example.com", T_A);
    size_t ol = tu_option(o, EDNS_OPT_ECS, ecs, len);
    n = tu_add_opt(b, n, 1232, 0, false, o, ol);
    return parse(b, n);
}

Test(wire, ecs_valid)
{
    cr_assert_eq(parse_ecs((const uint8_t *)"\0\1\30\0\xc0\0\2", 7), WIRE_OK);
    cr_assert(q.has_ecs);
    cr_assert_eq(q.ecs_family, 1);
    cr_assert_eq(q.ecs_source_prefix, 24);
    cr_assert(memcmp(q.ecs_addr, "\xc0\0\2\0", 4) == 0);

    /* IPv6 /56: 7 address bytes; the rest of ecs_addr is zero. */
    cr_assert_eq(parse_ecs((const uint8_t *)"\0\2\70\0\x20\x01\x0d\xb8\x12\x34\x56", 11), WIRE_OK);
    cr_assert(q.has_ecs);
    cr_assert_eq(q.ecs_family, 2);
    cr_assert_eq(q.ecs_source_prefix, 56);
    cr_assert(memcmp(q.ecs_addr, "\x20\x01\x0d\xb8\x12\x34\x56\0\0\0\0\0\0\0\0\0", 16) == 0);

    /* /0 carries no address (RFC 7871 §7.1.2: the client asks for no tailoring). */
    cr_assert_eq(parse_ecs((const uint8_t *)"\0\1\0\0", 4), WIRE_OK);
    cr_assert(q.has_ecs);
    cr_assert_eq(q.ecs_source_prefix, 0);

    /* /23: the last byte may use its top 7 bits. */
    cr_assert_eq(parse_ecs((const uint8_t *)"\0\1\27\0\xc0\0\xfe", 7), WIRE_OK);
    /* /32 and /128: full addresses. */
    cr_assert_eq(parse_ecs((const uint8_t *)"\0\1\40\0\xc0\0\2\1", 8), WIRE_OK);
    uint8_t v6[20] = {0, 2, 128, 0};
    memset(v6 + 4, 0xff, 16);
    cr_assert_eq(parse_ecs(v6, 20), WIRE_OK);
    cr_assert_eq(q.ecs_source_prefix, 128);
}

Test(wire, ecs_malformed_is_formerr)
{
    struct {
        const char *why;
        const char *data;
        uint16_t len;
    } bad[] = {
        {"shorter than the fixed part", "\0\1\30", 3},
        {"empty option", "", 0},
        {"unknown family", "\0\3\0\0", 4},
        {"family 0", "\0\0\0\0", 4},
        {"v4 prefix > 32", "\0\1\41\0\xc0\0\2\1\0", 9},
        {"v6 prefix > 128", "\0\2\201\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 21},
        {"scope != 0 in a query", "\0\1\30\1\xc0\0\2", 7},
        {"address too long for /24", "\0\1\30\0\xc0\0\2\0", 8},
        {"address too short for /24", "\0\1\30\0\xc0\0", 6},
        {"address bytes for /0", "\0\1\0\0\xc0", 5},
        {"bits set beyond /23", "\0\1\27\0\xc0\0\3", 7},
        {"bits set beyond /1", "\0\1\1\0\xc0", 5},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum wire_status st = parse_ecs((const uint8_t *)bad[i].data, bad[i].len);
        cr_assert_eq(st, WIRE_FORMERR, "%s: status %d", bad[i].why, (int)st);
    }
}

Test(wire, ecs_twice_is_formerr)
{
    uint8_t b[512], o[64];
    size_t ol = tu_option(o, EDNS_OPT_ECS, (const uint8_t *)"\0\1\30\0\xc0\0\2", 7);
    ol += tu_option(o + ol, EDNS_OPT_ECS, (const uint8_t *)"\0\1\30\0\xc0\0\2", 7);
    size_t n = tu_query(b, 7, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, o, ol);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

/* ---- truncation ---- */

/* A query with OPT (NSID + ECS) and a second additional record with a compressed owner. */
static size_t rich_query(uint8_t *b)
{
    uint8_t o[64];
    size_t n = tu_query(b, 0xbeef, "www.example.com", T_A);
    size_t ol = tu_option(o, EDNS_OPT_NSID, NULL, 0);
    ol += tu_option(o + ol, EDNS_OPT_ECS, (const uint8_t *)"\0\1\30\0\xc0\0\2", 7);
    n = tu_add_opt(b, n, 1232, 0, true, o, ol);
    /* An A record owned by a pointer to "example.com" in the question. */
    static const uint8_t rr[] = {0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    memcpy(b + n, rr, sizeof(rr));
    wr16(b + 10, 2);
    return n + sizeof(rr);
}

Test(wire, rich_query_parses)
{
    uint8_t b[512];
    size_t n = rich_query(b);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(q.has_edns);
    cr_assert(q.edns_do);
    cr_assert(q.nsid_requested);
    cr_assert(q.has_ecs);
    cr_assert_eq(q.id, 0xbeef);
}

Test(wire, truncated_at_every_length)
{
    uint8_t b[512];
    size_t full = rich_query(b);
    for (size_t len = 0; len <= full; len++) {
        enum wire_status st = parse(b, len);
        enum wire_status want = len < DNS_HDR_LEN ? WIRE_DROP : len < full ? WIRE_FORMERR : WIRE_OK;
        cr_assert_eq(st, want, "length %zu of %zu: status %d, expected %d", len, full, (int)st,
                     (int)want);
    }
    /* The same cut short with the counts fixed up to what is present is still parsed fully:
     * dropping the whole additional section gives a plain query. */
    wr16(b + 10, 0);
    ASSERT_STATUS(b, 33, WIRE_OK);
}

/* ---- names in the question ---- */

Test(wire, label_longer_than_63_is_formerr)
{
    uint8_t b[512];
    memset(b, 0, 12);
    wr16(b + 4, 1);
    b[12] = 64;
    memset(b + 13, 'a', 64);
    b[77] = 0;
    wr16(b + 78, T_A);
    wr16(b + 80, 1);
    ASSERT_STATUS(b, 82, WIRE_FORMERR);
    /* 0x40 and 0x80 prefixes (RFC 6891 §5 extended label types) are not lengths either. */
    b[12] = 0x41;
    ASSERT_STATUS(b, 82, WIRE_FORMERR);
    b[12] = 0x80;
    ASSERT_STATUS(b, 82, WIRE_FORMERR);
}

Test(wire, name_longer_than_255_is_formerr)
{
    /* Labels of 63, 63, 63, 62 plus the root: 256 bytes. */
    uint8_t b[600];
    memset(b, 0, 12);
    wr16(b + 4, 1);
    size_t p = 12;
    for (int i = 0; i < 4; i++) {
        unsigned l = i < 3 ? 63 : 62;
        b[p++] = (uint8_t)l;
        memset(b + p, 'a', l);
        p += l;
    }
    b[p++] = 0;
    wr16(b + p, T_A);
    wr16(b + p + 2, 1);
    p += 4;
    ASSERT_STATUS(b, p, WIRE_FORMERR);
    /* 128 one-byte labels: 257 bytes. */
    p = 12;
    for (int i = 0; i < 128; i++) {
        b[p++] = 1;
        b[p++] = 'x';
    }
    b[p++] = 0;
    wr16(b + p, T_A);
    wr16(b + p + 2, 1);
    p += 4;
    ASSERT_STATUS(b, p, WIRE_FORMERR);
}

Test(wire, compression_pointer_in_question_is_formerr)
{
    uint8_t b[512];
    /* "\3www" then a pointer back to the header: nothing legal to point at. */
    memset(b, 0, 12);
    wr16(b + 4, 1);
    memcpy(b + 12, "\3www\xc0\x0c", 6);
    wr16(b + 18, T_A);
    wr16(b + 20, 1);
    ASSERT_STATUS(b, 22, WIRE_FORMERR);
    /* A bare pointer as the whole qname. */
    memcpy(b + 12, "\xc0\x0c", 2);
    wr16(b + 14, T_A);
    wr16(b + 16, 1);
    ASSERT_STATUS(b, 18, WIRE_FORMERR);
}

/* ---- names in the additional section ---- */

/* The plain query for "www.example.com" A plus an additional A record whose owner is the raw
 * bytes given; returns the length. */
static size_t append_rr(uint8_t *b, size_t n, const uint8_t *owner, size_t olen)
{
    memcpy(b + n, owner, olen);
    n += olen;
    static const uint8_t rest[] = {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    memcpy(b + n, rest, sizeof(rest));
    wr16(b + 10, (uint16_t)(rd16(b + 10) + 1));
    return n + sizeof(rest);
}

static size_t with_additional_owner(uint8_t *b, const uint8_t *owner, size_t olen)
{
    return append_rr(b, tu_query(b, 1, "www.example.com", T_A), owner, olen);
}

Test(wire, additional_backward_pointer_ok)
{
    uint8_t b[512];
    size_t n = with_additional_owner(b, (const uint8_t *)"\4mail\xc0\x10", 7);
    ASSERT_STATUS(b, n, WIRE_OK);
    n = with_additional_owner(b, (const uint8_t *)"\xc0\x0c", 2);
    ASSERT_STATUS(b, n, WIRE_OK);
}

Test(wire, additional_self_pointer_is_formerr)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "www.example.com", T_A); /* 33 bytes; the owner starts there */
    uint8_t self[2] = {0xc0, (uint8_t)n};
    n = with_additional_owner(b, self, 2);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, additional_forward_pointer_is_formerr)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "www.example.com", T_A);
    /* Points at the rdata of its own record, which would parse as a name. */
    uint8_t fwd[2] = {0xc0, (uint8_t)(n + 2 + 10)};
    n = with_additional_owner(b, fwd, 2);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, additional_pointer_loop_is_formerr)
{
    /* R1 (owner ".") carries rdata that reads as "\1a" + pointer; R2's owner points back into
     * that rdata, whose pointer leads back to R2's owner: R2 -> R1.rdata -> R2. The loop is
     * only seen after a jump. */
    uint8_t b[512];
    size_t n = with_additional_owner(b, (const uint8_t *)"\0", 1);
    size_t rdata = n - 4, r2 = n;
    uint8_t back[2] = {0xc0, (uint8_t)rdata};
    n = append_rr(b, n, back, 2);
    b[rdata] = 1;
    b[rdata + 1] = 'a';
    b[rdata + 2] = 0xc0;
    b[rdata + 3] = (uint8_t)r2;
    ASSERT_STATUS(b, n, WIRE_FORMERR);
    /* The same R2 pointing at a proper name is fine: the rdata pointer is what breaks it. */
    b[rdata + 3] = 12;
    ASSERT_STATUS(b, n, WIRE_OK);
}

Test(wire, additional_pointer_chain_capped_at_255)
{
    /* Each owner is a 63-byte label plus a pointer to the previous owner; the first points at
     * the qname (17 bytes). Three such owners are 3 * 64 + 17 = 209 bytes; four are 273. */
    uint8_t b[1024];
    size_t n = tu_query(b, 1, "www.example.com", T_A);
    size_t prev = 12;
    size_t len3 = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t owner[66];
        owner[0] = 63;
        memset(owner + 1, 'a' + i, 63);
        owner[64] = 0xc0;
        owner[65] = (uint8_t)prev;
        cr_assert_lt(prev, 256);
        prev = n;
        n = append_rr(b, n, owner, 66);
        if (i == 2)
            len3 = n;
    }
    uint16_t ar = rd16(b + 10);
    wr16(b + 10, 3);
    ASSERT_STATUS(b, len3, WIRE_OK);
    wr16(b + 10, ar);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, additional_rdata_past_end_is_formerr)
{
    uint8_t b[512];
    size_t n = with_additional_owner(b, (const uint8_t *)"\0", 1);
    wr16(b + n - 6, 5); /* rdlength 5, 4 bytes present */
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, additional_other_types_are_skipped)
{
    /* A TSIG-like record before the OPT: skipped; the OPT after it still counts. */
    uint8_t b[512];
    size_t n = tu_query(b, 1, "www.example.com", T_A);
    static const uint8_t rr[] = {3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 3, 1, 2, 3};
    memcpy(b + n, rr, sizeof(rr));
    n += sizeof(rr);
    wr16(b + 10, 1);
    n = tu_add_opt(b, n, 2048, 0, false, NULL, 0);
    ASSERT_STATUS(b, n, WIRE_OK);
    cr_assert(q.has_edns);
    cr_assert_eq(q.edns_payload, 2048);
}

/* ---- OPT placement (RFC 6891 §6.1.1) ---- */

Test(wire, two_opts_is_formerr)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "example.com", T_A);
    n = tu_add_opt(b, n, 1232, 0, false, NULL, 0);
    n = tu_add_opt(b, n, 1232, 0, false, NULL, 0);
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, opt_with_non_root_owner_is_formerr)
{
    /* type OPT, payload 1232, ttl 0, rdlen 0: the OPT RR after its owner */
    static const uint8_t body[] = {0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
    uint8_t b[512];
    size_t n = tu_query(b, 1, "example.com", T_A);
    memcpy(b + n, "\1a\0", 3); /* owner "a." */
    memcpy(b + n + 3, body, sizeof(body));
    wr16(b + 10, 1);
    ASSERT_STATUS(b, n + 3 + sizeof(body), WIRE_FORMERR);
    /* The root written as a pointer to the qname's root label is not a plain "0" either. */
    size_t root = n - 5;
    cr_assert_eq(b[root], 0);
    b[n] = 0xc0;
    b[n + 1] = (uint8_t)root;
    memcpy(b + n + 2, body, sizeof(body));
    ASSERT_STATUS(b, n + 2 + sizeof(body), WIRE_FORMERR);
    /* Control: the plain root owner is accepted. */
    b[n] = 0;
    memcpy(b + n + 1, body, sizeof(body));
    ASSERT_STATUS(b, n + 1 + sizeof(body), WIRE_OK);
    cr_assert(q.has_edns);
    cr_assert_eq(q.edns_payload, 1232);
}

/* ---- header ---- */

Test(wire, qdcount_zero_is_formerr)
{
    uint8_t b[512];
    memset(b, 0, 12);
    wr16(b, 77);
    ASSERT_STATUS(b, 12, WIRE_FORMERR);
    cr_assert_not(q.has_question);
    cr_assert_eq(q.id, 77, "the id is read for the FORMERR answer");
}

Test(wire, qdcount_two_is_formerr)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "example.com", T_A);
    size_t qlen = n - 12;
    memcpy(b + n, b + 12, qlen);
    wr16(b + 4, 2);
    ASSERT_STATUS(b, n + qlen, WIRE_FORMERR);
}

Test(wire, answer_or_authority_records_are_formerr)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "example.com", T_A);
    static const uint8_t rr[] = {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    memcpy(b + n, rr, sizeof(rr));
    wr16(b + 6, 1); /* ancount */
    ASSERT_STATUS(b, n + sizeof(rr), WIRE_FORMERR);
    wr16(b + 6, 0);
    wr16(b + 8, 1); /* nscount */
    ASSERT_STATUS(b, n + sizeof(rr), WIRE_FORMERR);
    /* Only the counts matter: nscount 1 with nothing there is as wrong. */
    ASSERT_STATUS(b, n, WIRE_FORMERR);
}

Test(wire, responses_are_dropped)
{
    uint8_t b[512];
    size_t n = tu_query(b, 1, "example.com", T_A);
    b[2] |= F_QR >> 8;
    ASSERT_STATUS(b, n, WIRE_DROP);
    /* Even a malformed response is dropped, never answered with FORMERR. */
    wr16(b + 4, 0);
    ASSERT_STATUS(b, 12, WIRE_DROP);
}

Test(wire, short_messages_are_dropped)
{
    uint8_t b[12] = {0};
    for (size_t len = 0; len < 12; len++)
        ASSERT_STATUS(b, len, WIRE_DROP);
}

Test(wire, opcodes_other_than_query_are_notimp)
{
    static const unsigned ops[] = {1, 2, 4, 5, 6, 15};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        uint8_t b[512];
        size_t n = tu_query(b, 1, "example.com", T_SOA);
        b[2] = (uint8_t)(b[2] | ops[i] << 3);
        enum wire_status st = parse(b, n);
        cr_assert_eq(st, WIRE_NOTIMP, "opcode %u: status %d", ops[i], (int)st);
        cr_assert(q.has_question, "opcode %u: the question is parsed for the echo", ops[i]);
        cr_assert_eq(F_OPCODE(q.flags), ops[i]);
    }
}

Test(wire, parse_resets_previous_state)
{
    uint8_t b[512], o[64];
    size_t ol = tu_option(o, EDNS_OPT_NSID, NULL, 0);
    ol += tu_option(o + ol, EDNS_OPT_ECS, (const uint8_t *)"\0\1\30\0\xc0\0\2", 7);
    size_t n = tu_query(b, 1, "example.com", T_A);
    n = tu_add_opt(b, n, 4096, 3, true, o, ol);
    uint8_t *copy = tu_exact(b, n);
    cr_assert_eq(wire_parse_query(copy, n, &q), WIRE_OK);
    tu_exact_free(copy, n);
    cr_assert(q.has_edns && q.nsid_requested && q.has_ecs && q.edns_do);
    /* Same query_t, no EDNS now. */
    n = tu_query(b, 2, "example.com", T_A);
    copy = tu_exact(b, n);
    cr_assert_eq(wire_parse_query(copy, n, &q), WIRE_OK);
    tu_exact_free(copy, n);
    cr_assert_not(q.has_edns);
    cr_assert_not(q.nsid_requested);
    cr_assert_not(q.has_ecs);
    cr_assert_not(q.edns_do);
    cr_assert_eq(q.edns_version, 0);
    cr_assert_eq(q.edns_payload, 512);
    /* And a question-less message does not keep the old question. */
    memset(b, 0, 12);
    copy = tu_exact(b, 12);
    cr_assert_eq(wire_parse_query(copy, 12, &q), WIRE_FORMERR);
    tu_exact_free(copy, 12);
    cr_assert_not(q.has_question);
}

/* ---- fuzz ---- */

/* Invariants of any message the parser accepts. */
static void check_accepted(size_t len)
{
    cr_assert(q.has_question);
    cr_assert(q.qname_len >= 1);
    cr_assert(dname_valid(q.qname, q.qname_len), "accepted qname is not a valid name");
    cr_assert_eq(dname_labels(q.qname), q.qname_labels);
    uint8_t off[DNAME_MAXLABELS];
    cr_assert_eq(dname_label_offsets(q.qname, off), q.qname_labels);
    cr_assert(memcmp(off, q.label_off, q.qname_labels) == 0);
    for (unsigned i = 0; i < q.qname_len; i++)
        cr_assert(q.qname[i] < 'A' || q.qname[i] > 'Z', "qname not lowercased");
    cr_assert_leq(q.question_end, len);
    cr_assert_geq(q.edns_payload, 512);
    if (q.has_ecs) {
        cr_assert(q.ecs_family == 1 || q.ecs_family == 2);
        cr_assert_leq(q.ecs_source_prefix, q.ecs_family == 1 ? 32 : 128);
    }
}

Test(wire, fuzz_mutations)
{
    uint8_t base[512];
    size_t blen = rich_query(base);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    static const uint8_t special[] = {0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xff, 0x29, 0x3e};
    unsigned counts[4] = {0};
    for (unsigned iter = 0; iter < 20000; iter++) {
        uint8_t b[600];
        memcpy(b, base, blen);
        size_t len = blen;
        unsigned nmut = 1 + (unsigned)(tu_rand(&seed) % 4);
        for (unsigned m = 0; m < nmut; m++) {
            uint64_t r = tu_rand(&seed);
            size_t pos = (size_t)(r >> 8) % (len ? len : 1);
            switch (r % 6) {
            case 0: /* random byte */
                if (len)
                    b[pos] = (uint8_t)(r >> 40);
                break;
            case 1: /* interesting byte */
                if (len)
                    b[pos] = special[(r >> 32) % sizeof(special)];
                break;
            case 2: /* bit flip */
                if (len)
                    b[pos] ^= (uint8_t)(1u << ((r >> 32) % 8));
                break;
            case 3: /* truncate */
                len = pos;
                break;
            case 4: /* append random bytes */
                for (unsigned k = (unsigned)((r >> 32) % 16); k && len < sizeof(b); k--)
                    b[len++] = (uint8_t)tu_rand(&seed);
                break;
            case 5: /* bump a count */
                if (len >= 12) {
                    size_t c = 4 + 2 * ((r >> 32) % 4);
                    wr16(b + c, (uint16_t)(rd16(b + c) + ((r >> 40) % 3) - 1));
                }
                break;
            }
        }
        enum wire_status st = parse(b, len);
        cr_assert(st == WIRE_OK || st == WIRE_DROP || st == WIRE_FORMERR || st == WIRE_NOTIMP,
                  "iteration %u: status %d", iter, (int)st);
        counts[st]++;
        if (len < 12)
            cr_assert_eq(st, WIRE_DROP, "iteration %u", iter);
        if (st == WIRE_OK)
            check_accepted(len);
    }
    /* The mutations must reach every outcome, or the loop tests little. */
    for (int s = 0; s < 4; s++)
        cr_assert_gt(counts[s], 50, "status %d reached only %u times", s, counts[s]);
}

/* ---- name compression (RFC 1035 §4.1.4) ---- */

static uint8_t pbuf[0x5000];
static pkt_t pk;

static void put(const char *text, bool compress)
{
    uint8_t n[DNAME_MAXLEN];
    size_t l = tu_name(text, n);
    cr_assert(pkt_put_name(&pk, n, l, compress), "'%s' fits", text);
}

/* Decompresses the name at buf[off] into text (lowercase as written), checking that every
 * pointer goes backwards. Returns the bytes the name occupies at off. */
static size_t decode(const uint8_t *buf, size_t off, char *out)
{
    size_t o = 0, used = 0, p = off;
    bool jumped = false;
    for (int hops = 0; hops < 130; hops++) {
        uint8_t l = buf[p];
        if ((l & 0xc0) == 0xc0) {
            size_t t = (size_t)(l & 0x3f) << 8 | buf[p + 1];
            cr_assert_lt(t, p, "pointer at %zu to %zu is not backwards", p, t);
            if (!jumped)
                used = p + 2 - off;
            jumped = true;
            p = t;
            continue;
        }
        cr_assert_leq(l, 63);
        if (!l) {
            if (!jumped)
                used = p + 1 - off;
            if (!o)
                out[o++] = '.';
            out[o] = '\0';
            return used;
        }
        memcpy(out + o, buf + p + 1, l);
        o += l;
        out[o++] = '.';
        p += l + 1u;
    }
    cr_assert_fail("pointer loop");
    return 0;
}

static void init_pkt(size_t cap)
{
    memset(pbuf, 0xee, sizeof(pbuf));
    pkt_init(&pk, pbuf, cap);
    pk.len = 12;
}

Test(compress, against_earlier_name)
{
    init_pkt(512);
    put("www.example.com", true);
    cr_assert_eq(pk.len, 12 + 17);
    cr_assert(memcmp(pbuf + 12, "\3www\7example\3com", 17) == 0, "first name is literal");
    put("www.example.com", true);
    cr_assert_eq(pk.len, 29 + 2);
    cr_assert_eq(pbuf[29], 0xc0);
    cr_assert_eq(pbuf[30], 12, "the same name is a pointer to offset 12");
}

Test(compress, suffixes)
{
    init_pkt(512);
    put("www.example.com", true);
    size_t at = pk.len;
    put("mail.example.com", true);
    cr_assert_eq(pk.len, at + 5 + 2);
    cr_assert(memcmp(pbuf + at, "\4mail\xc0\x10", 7) == 0, "mail + pointer to example.com @16");
    at = pk.len;
    put("example.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x10", 2) == 0);
    at = pk.len;
    put("com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x18", 2) == 0, "com is at 12 + 12 = 0x18");
    /* A name below the second one: its literal part points at mail's start (offset 29). */
    at = pk.len;
    put("x.mail.example.com", true);
    cr_assert(memcmp(pbuf + at, "\1x\xc0\x1d", 4) == 0);
    /* Different names sharing no suffix stay literal; the root is one byte. */
    at = pk.len;
    put("example.net", true);
    cr_assert(memcmp(pbuf + at, "\7example\3net", 13) == 0);
    at = pk.len;
    put(".", true);
    cr_assert_eq(pk.len, at + 1);
    cr_assert_eq(pbuf[at], 0);
    /* Everything still decodes to what was written. */
    char t[DNAME_MAXSTR];
    size_t o = 12;
    static const char *want[] = {"www.example.com.",
                                 "mail.example.com.",
                                 "example.com.",
                                 "com.",
                                 "x.mail.example.com.",
                                 "example.net.",
                                 "."};
    for (size_t i = 0; i < 7; i++) {
        o += decode(pbuf, o, t);
        cr_assert_str_eq(t, want[i]);
    }
    cr_assert_eq(o, pk.len);
}

Test(compress, not_on_partial_labels)
{
    init_pkt(512);
    put("example.com", true);
    size_t at = pk.len;
    /* "xample.com" ends the same bytes but is not a label suffix of anything written. */
    put("xample.com", true);
    cr_assert_eq(pk.len, at + 1 + 6 + 2);
    cr_assert(memcmp(pbuf + at, "\6xample\xc0\x14", 9) == 0, "only com is shared");
}

Test(compress, case_insensitive)
{
    init_pkt(512);
    put("WWW.Example.COM", true);
    size_t at = pk.len;
    put("www.example.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x0c", 2) == 0);
    at = pk.len;
    put("MAIL.EXAMPLE.com", true);
    cr_assert(memcmp(pbuf + at, "\4MAIL\xc0\x10", 7) == 0, "literal part keeps its case");
    cr_assert(memcmp(pbuf + 12, "\3WWW\7Example\3COM", 17) == 0, "first name untouched");
}

Test(compress, never_when_not_asked)
{
    init_pkt(512);
    put("www.example.com", true);
    size_t at = pk.len;
    put("www.example.com", false);
    cr_assert_eq(pk.len, at + 17, "compress=false writes the whole name");
    cr_assert(memcmp(pbuf + at, "\3www\7example\3com", 17) == 0);
    /* And a name written uncompressed is no target either. */
    init_pkt(512);
    put("example.org", false);
    at = pk.len;
    put("example.org", true);
    cr_assert(memcmp(pbuf + at, "\7example\3org", 13) == 0);
}

/* A fresh packet whose question is the three-label name qname (17 bytes of wire, any case),
 * registered as answer_query registers it. */
static void question(const char *qname)
{
    static const uint8_t loff[] = {0, 4, 12};
    init_pkt(512);
    memcpy(pbuf + 12, qname, 17);
    pk.len = 12 + 17 + 4;
    pkt_set_question(&pk, loff, 3);
}

Test(compress, against_added_question)
{
    /* answer_query echoes the question and registers it with pkt_set_question. */
    question("\3Www\7example\3com");
    size_t at = pk.len;
    put("www.example.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x0c", 2) == 0);
}

/* A name known to end in a base already in the packet (a zone's origin in the question):
 * the base is used without comparing it, and a longer suffix is still preferred. */
Test(compress, under_a_known_base)
{
    question("\3Www\7ExAmple\3com"); /* as the client cased it */
    uint8_t n[DNAME_MAXLEN];
    size_t l = tu_name("Mail.example.com", n);
    size_t at = pk.len;
    cr_assert(pkt_put_name_under(&pk, n, l, 16, 2));
    cr_assert(memcmp(pbuf + at, "\4Mail\xc0\x10", 7) == 0, "Mail + pointer to the origin");
    /* The same name again: the whole of it is now in the packet, at `at`. */
    size_t again = pk.len;
    cr_assert(pkt_put_name_under(&pk, n, l, 16, 2));
    cr_assert_eq(pk.len, again + 2);
    cr_assert_eq(pbuf[again], 0xc0);
    cr_assert_eq(pbuf[again + 1], at);
    /* The qname itself; and the origin alone. */
    l = tu_name("www.example.com", n);
    at = pk.len;
    cr_assert(pkt_put_name_under(&pk, n, l, 16, 2));
    cr_assert(memcmp(pbuf + at, "\xc0\x0c", 2) == 0);
    l = tu_name("example.com", n);
    at = pk.len;
    cr_assert(pkt_put_name_under(&pk, n, l, 16, 2));
    cr_assert(memcmp(pbuf + at, "\xc0\x10", 2) == 0);
    /* It respects the cap like pkt_put_name. */
    pk.cap = pk.len + 6;
    l = tu_name("other.example.com", n);
    cr_assert_not(pkt_put_name_under(&pk, n, l, 16, 2));
}

/* The question as answer_query registers it: its suffixes are targets without table
 * entries, the longest matching one wins, and they outlive a rewind of everything after. */
Test(compress, against_the_question)
{
    question("\3Www\7example\3com");
    size_t at = pk.len;
    put("www.EXAMPLE.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x0c", 2) == 0, "the whole question");
    at = pk.len;
    put("mail.example.com", true);
    cr_assert(memcmp(pbuf + at, "\4mail\xc0\x10", 7) == 0, "mail + the question's example.com");
    size_t mail = at;
    at = pk.len;
    put("com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x18", 2) == 0);
    /* A longer match in the table beats a shorter one in the question. */
    at = pk.len;
    put("a.mail.example.com", true);
    cr_assert(memcmp(pbuf + at, "\1a\xc0", 3) == 0 && pbuf[at + 3] == mail);
    pkt_rewind(&pk, 12 + 17 + 4);
    at = pk.len;
    put("example.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x10", 2) == 0, "the question survives a rewind");
    /* Nothing of it counts once a new response starts. */
    pkt_init(&pk, pbuf, 512);
    pk.len = 40;
    at = pk.len;
    put("example.com", true);
    cr_assert(memcmp(pbuf + at, "\7example", 8) == 0);
}

Test(compress, respects_cap)
{
    init_pkt(40);
    put("www.example.com", true); /* 12 + 17 = 29 */
    uint8_t n[DNAME_MAXLEN];
    size_t l = tu_name("longer.name.example.org", n); /* 25 bytes, does not fit in 11 */
    unsigned ncomp = pk.ncomp;
    cr_assert_not(pkt_put_name(&pk, n, l, true));
    cr_assert_eq(pk.len, 29, "nothing kept");
    cr_assert_eq(pk.ncomp, ncomp, "no compression target added");
    /* A compressible name that needs 7 bytes fits in the 11 left... */
    l = tu_name("mail.example.com", n);
    cr_assert(pkt_put_name(&pk, n, l, true));
    cr_assert_eq(pk.len, 36);
    /* ...and one needing exactly the 4 remaining bytes fits; one more byte does not. */
    l = tu_name("a.www.example.com", n);
    cr_assert(pkt_put_name(&pk, n, l, true));
    cr_assert_eq(pk.len, 40);
    l = tu_name("com", n);
    cr_assert_not(pkt_put_name(&pk, n, l, true));
    cr_assert_eq(pk.len, 40);
    /* Uncompressed: exact fit at the limit. */
    init_pkt(12 + 17);
    l = tu_name("www.example.com", n);
    cr_assert(pkt_put_name(&pk, n, l, false));
    init_pkt(12 + 16);
    cr_assert_not(pkt_put_name(&pk, n, l, false));
    cr_assert_eq(pk.len, 12);
}

Test(compress, rewind_forgets_later_targets)
{
    init_pkt(512);
    put("example.com", true);
    size_t mark = pk.len;
    put("www.other.net", true);
    unsigned ncomp = pk.ncomp;
    pkt_rewind(&pk, mark);
    cr_assert_eq(pk.len, mark);
    cr_assert_lt(pk.ncomp, ncomp);
    /* Overwrite the rewound bytes with something else, then ask for other.net again. */
    memset(pbuf + mark, 0x11, 40);
    size_t at = pk.len;
    put("other.net", true);
    cr_assert(memcmp(pbuf + at, "\5other\3net", 11) == 0, "no pointer into rewound bytes");
    /* Nor to the rewound name's own start: written again at the mark, it must be literal (a
     * pointer there would point at itself). */
    pkt_rewind(&pk, mark);
    put("www.other.net", true);
    cr_assert(memcmp(pbuf + mark, "\3www\5other\3net", 15) == 0, "stale target at the mark");
    /* Targets before the mark are kept. */
    at = pk.len;
    put("ftp.example.com", true);
    cr_assert(memcmp(pbuf + at, "\3ftp\xc0\x0c", 6) == 0);
}

Test(compress, no_pointers_past_14_bits)
{
    /* A name first written at offset >= 0x4000 cannot be pointed at. */
    init_pkt(sizeof(pbuf));
    pk.len = 0x4000;
    put("far.example.com", true);
    size_t at = pk.len;
    put("far.example.com", true);
    cr_assert(memcmp(pbuf + at, "\3far\7example\3com", 17) == 0);
    /* But one written below 0x4000 still can be, from anywhere. */
    init_pkt(sizeof(pbuf));
    put("near.example.com", true);
    pk.len = 0x4800;
    at = pk.len;
    put("near.example.com", true);
    cr_assert(memcmp(pbuf + at, "\xc0\x0c", 2) == 0);
}

Test(compress, many_names_past_the_table)
{
    /* More distinct names than PKT_COMP_MAX: later ones are written literally or compressed,
     * but every one must decode to itself. */
    init_pkt(sizeof(pbuf));
    char names[200][40];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "h%d.z%d.example.com", i, i % 7);
        put(names[i], true);
    }
    for (int i = 0; i < 200; i++)
        put(names[(i * 37) % 200], true);
    size_t o = 12;
    char t[DNAME_MAXSTR], want[48];
    for (int i = 0; i < 400; i++) {
        o += decode(pbuf, o, t);
        snprintf(want, sizeof(want), "%s.", names[i < 200 ? i : ((i - 200) * 37) % 200]);
        cr_assert_str_eq(t, want, "name %d", i);
    }
    cr_assert_eq(o, pk.len);
    cr_assert_leq(pk.ncomp, PKT_COMP_MAX);
}

/* wire_copy copies every length exactly, writes nothing past the end and reads nothing past
 * the source (exact-size buffers: ASan builds check that). */
Test(wire, copy_every_length)
{
    for (size_t n = 0; n <= 100; n++) {
        uint8_t *src = malloc(n ? n : 1), *dst = malloc(n + 8);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)(i * 13 + 1);
        memset(dst, 0xee, n + 8);
        wire_copy(dst, src, n);
        cr_assert(n == 0 || memcmp(dst, src, n) == 0, "length %zu", n);
        for (size_t i = n; i < n + 8; i++)
            cr_assert_eq(dst[i], 0xee, "length %zu: byte %zu written", n, i);
        free(src);
        free(dst);
    }
}
