/* SPDX-License-Identifier: MIT */
/* wire.h: the bounds-checked query parser (the attack surface) and the response packet writer. */
#ifndef HADNS_WIRE_H
#define HADNS_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "dname.h"

#define DNS_HDR_LEN 12
#define DNS_CLASS_IN 1
#define DNS_CLASS_CH 3
#define DNS_CLASS_ANY 255

enum dns_type {
    T_A = 1, T_NS = 2, T_MD = 3, T_MF = 4, T_CNAME = 5, T_SOA = 6, T_MB = 7, T_MG = 8, T_MR = 9,
    T_NULL = 10, T_WKS = 11, T_PTR = 12, T_HINFO = 13, T_MINFO = 14, T_MX = 15, T_TXT = 16,
    T_AAAA = 28, T_SRV = 33, T_DNAME = 39, T_OPT = 41, T_DS = 43, T_RRSIG = 46, T_NSEC = 47,
    T_NSEC3 = 50, T_SVCB = 64, T_HTTPS = 65, T_TKEY = 249, T_TSIG = 250, T_IXFR = 251,
    T_AXFR = 252, T_MAILB = 253, T_MAILA = 254, T_ANY = 255
};

enum dns_rcode {
    RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3,
    RCODE_NOTIMP = 4, RCODE_REFUSED = 5, RCODE_YXDOMAIN = 6, RCODE_NOTAUTH = 9,
    RCODE_BADVERS = 16 /* extended: upper 8 bits live in the OPT TTL */
};

enum dns_opcode { OPCODE_QUERY = 0, OPCODE_NOTIFY = 4 };

/* Header flag bits in the 16-bit flags word. */
#define F_QR 0x8000u
#define F_AA 0x0400u
#define F_TC 0x0200u
#define F_RD 0x0100u
#define F_RA 0x0080u
#define F_Z 0x0040u
#define F_AD 0x0020u
#define F_CD 0x0010u
#define F_OPCODE(f) (((f) >> 11) & 0xfu)

/* EDNS0 option codes we read. */
#define EDNS_OPT_NSID 3
#define EDNS_OPT_ECS 8
/* RFC 6891 §6.1.4: the DO bit in the OPT TTL field. */
#define EDNS_DO 0x8000u
/* RFC 6891 §6.2.5: a requestor's payload below 512 is treated as 512. */
#define EDNS_MIN_PAYLOAD 512

/* Copies n bytes (src and dst apart) inline, eight at a time, a run of 8 or more ending with
 * its last eight bytes: answers copy short runs (the question, a name's labels, an address),
 * for which a call to memcpy costs more than the copying. Long runs go to memcpy. [any] */
static inline void wire_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n < 8) {
        dname_store_tail(dst, dname_load_tail(src, n), n);
        return;
    }
    if (n > 64) {
        __builtin_memcpy(dst, src, n);
        return;
    }
    uint64_t w;
    for (size_t i = 0; i + 8 < n; i += 8) {
        __builtin_memcpy(&w, src + i, 8);
        __builtin_memcpy(dst + i, &w, 8);
    }
    __builtin_memcpy(&w, src + n - 8, 8);
    __builtin_memcpy(dst + n - 8, &w, 8);
}

/* Network byte order at any alignment: one load or store and a byte swap each. */
static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return be16toh(v);
}
static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return be32toh(v);
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    v = htobe16(v);
    __builtin_memcpy(p, &v, 2);
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    __builtin_memcpy(p, &v, 4);
}

/* What the parser decided about a message. */
enum wire_status {
    WIRE_OK,      /* a query to answer */
    WIRE_DROP,    /* no answer at all: too short for a header, or QR=1 (never answer responses) */
    WIRE_FORMERR, /* malformed; answer FORMERR */
    WIRE_NOTIMP,  /* an opcode we do not serve; answer NOTIMP */
};

/* A parsed query. Reset by wire_parse_query(); holds no pointers into the packet. */
typedef struct query {
    uint16_t id;
    uint16_t flags;            /* the request's flags word */
    bool has_question;         /* the question parsed (so it can be echoed, even on errors) */
    uint16_t qtype, qclass;
    uint8_t qname_len;         /* wire length including the root label */
    uint8_t qname_labels;      /* labels, root excluded */
    uint16_t question_end;     /* offset just past the question in the request */
    uint8_t qname[DNAME_MAXLEN];         /* lowercased wire qname */
    uint8_t label_off[DNAME_MAXLABELS];  /* offsets of each label in qname */
    uint32_t qhash[DNAME_MAXLABELS + 1]; /* hash of each suffix (dname_suffix_hashes) */
    bool has_edns;
    bool edns_do;
    uint8_t edns_version;
    uint16_t edns_payload;     /* the requestor's payload, already raised to 512 */
    bool nsid_requested;
    bool has_ecs;              /* RFC 7871 option present and well formed */
    uint8_t ecs_source_prefix;
    uint16_t ecs_family;
    uint8_t ecs_addr[16];
} query_t;

/* Parses a received message into q. Never reads outside pkt[0..len). [worker] */
enum wire_status wire_parse_query(const uint8_t *pkt, size_t len, query_t *q) NONNULL HOT;

/* Response writer: a fixed buffer with a compression table, reset per response. */
/* 64 remembered names: an answer, authority and a dozen glue names never need more; past that,
 * names are simply written uncompressed. */
#define PKT_COMP_MAX 64

typedef struct pkt {
    uint8_t *buf;
    size_t cap;   /* bytes that may be used (the transport limit minus the OPT we will append) */
    size_t len;
    /* The question's name, uncompressed at DNS_HDR_LEN: its suffixes are compression
     * targets without entries in comp[] (pkt_set_question). qlabels 0: none. */
    const uint8_t *qloff; /* its label offsets */
    unsigned qlabels;
    unsigned ncomp;
    struct {
        uint16_t off;    /* where a (possibly compressed) name starts in buf */
        uint8_t labels;  /* its label count */
    } comp[PKT_COMP_MAX];
} pkt_t;

/* Starts a response in buf; nothing written yet. [worker] */
static inline void pkt_init(pkt_t *p, uint8_t *buf, size_t cap)
{
    p->buf = buf;
    p->cap = cap;
    p->len = 0;
    p->qlabels = 0;
    p->ncomp = 0;
}

/* Makes the question's name (labels labels at loff[], uncompressed at DNS_HDR_LEN) and its
 * suffixes compression targets; loff must stay valid while names are written. [worker] */
static inline void pkt_set_question(pkt_t *p, const uint8_t *loff, unsigned labels)
{
    p->qloff = loff;
    p->qlabels = labels;
}

/* Drops everything written after len and forgets compression targets there. [worker] */
void pkt_rewind(pkt_t *p, size_t len) NONNULL;
/* Writes a lowercase-or-not wire name, compressed against earlier names when compress is set.
 * False (and nothing kept) if it does not fit. [worker] */
bool pkt_put_name(pkt_t *p, const uint8_t *name, size_t len, bool compress) NONNULL WUNUSED;
/* The same, compressed, for a name the caller knows ends in a name of base_labels labels
 * (base_labels <= the name's) standing at base_off in the packet (a zone's origin inside the
 * question): that suffix is not compared, only longer ones are looked for. [worker] */
bool pkt_put_name_under(pkt_t *p, const uint8_t *name, size_t len, uint16_t base_off,
                        unsigned base_labels) NONNULL WUNUSED;

static inline bool pkt_put(pkt_t *p, const void *data, size_t n)
{
    if (unlikely(p->len + n > p->cap))
        return false;
    wire_copy(p->buf + p->len, data, n);
    p->len += n;
    return true;
}

#endif
