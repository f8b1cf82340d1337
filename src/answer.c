/* SPDX-License-Identifier: MIT */
/* answer.c: the authoritative answer algorithm, writing wire data straight into the packet. */
#include "config.h"
#include "answer.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* RFC 1034 §3.6.2 leaves chain length to the server; 8 in-zone hops is more than any sane zone
 * needs (NSD and Knot stop at similar depths) and bounds the work a looped zone can cause. */
#define MAX_CHAIN 8

/* One response under construction. */
struct resp {
    answer_ctx_t *ctx;
    pkt_t *p;
    const snapshot_t *snap;
    const struct sockaddr *src;
    const zone_t *zone;
    /* The client's location, looked up once, when a policy first needs it (NULL: unknown). */
    bool located;
    const geo_loc_t *loc;
    uint8_t scope; /* RFC 7871 SCOPE PREFIX-LENGTH of the answer */
    uint16_t flags;
    unsigned rcode;
    uint16_t an, ns, ar;
    bool full; /* the answer or authority did not fit: TC set, nothing more is added */
    unsigned nadd; /* of ctx->added */
    /* Where the last put_rr wrote its record's first rdata name (a pointer's target if the
     * name went out as a bare pointer); 0: it wrote none (an SRV's target, which is never
     * compressed, included). */
    uint16_t rdname;
    unsigned nknown; /* of ctx->known */
};

/* Where the zone's origin stands in the packet: inside the question, which every qname in
 * the zone ends with, so at the qname's length minus its own. */
static uint16_t origin_ptr(const struct resp *r)
{
    return (uint16_t)(DNS_HDR_LEN + r->ctx->q.qname_len - r->zone->name_len);
}

/* RFC 3597 §4: only the RFC 1035 types may have names in their rdata compressed. Returns how
 * the rdata is laid out: the number of leading names (after `skip` fixed bytes). */
static unsigned rdata_names(uint16_t type, size_t *skip)
{
    *skip = 0;
    switch (type) {
    case T_NS:
    case T_CNAME:
    case T_PTR:
    case T_MD:
    case T_MF:
    case T_MB:
    case T_MG:
    case T_MR:
        return 1;
    case T_SOA:
    case T_MINFO:
        return 2;
    case T_MX:
        *skip = 2;
        return 1;
    default:
        return 0;
    }
}

/* Writes one RR: owner (compressed), type, class IN, ttl, rdata (names compressed for the
 * types that allow it). Bit i of in_zone says rdata name i is known to end in the zone's
 * origin (an NS or MX target node, the SOA's names), which then needs no comparing. False
 * if it does not fit; the caller rewinds. */
static ALWAYS_INLINE bool put_rr(struct resp *r, const uint8_t *owner, size_t olen,
                                  uint16_t optr, uint16_t type, uint32_t ttl, const uint8_t *rd,
                                  size_t rdlen, unsigned in_zone)
{
    pkt_t *p = r->p;
    r->rdname = 0; /* set below only if a name is written through the compressor */
    if (optr) {
        uint8_t ptr[2];
        wr16(ptr, (uint16_t)(0xc000 | optr));
        if (!pkt_put(p, ptr, 2))
            return false;
    } else if (!pkt_put_name(p, owner, olen, true)) {
        return false;
    }
    if (p->len + 10 > p->cap)
        return false;
    uint8_t *h = p->buf + p->len;
    wr16(h, type);
    wr16(h + 2, DNS_CLASS_IN);
    wr32(h + 4, ttl);
    p->len += 10;
    size_t start = p->len;
    size_t skip;
    unsigned names = rdata_names(type, &skip);
    if (!names) {
        if (!pkt_put(p, rd, rdlen))
            return false;
    } else {
        if (!pkt_put(p, rd, skip))
            return false;
        size_t at = p->len;
        size_t o = skip;
        for (unsigned i = 0; i < names; i++) {
            size_t nl = dname_len(rd + o);
            bool ok = (in_zone >> i) & 1
                          ? pkt_put_name_under(p, rd + o, nl, origin_ptr(r), r->zone->labels)
                          : pkt_put_name(p, rd + o, nl, true);
            if (!ok)
                return false;
            o += nl;
        }
        if (o > rdlen || !pkt_put(p, rd + o, rdlen - o))
            return false; /* cannot happen: the loader checks these layouts */
        if ((p->buf[at] & 0xc0) == 0xc0)
            at = rd16(p->buf + at) & 0x3fffu;
        r->rdname = at < 0x4000 ? (uint16_t)at : 0;
    }
    wr16(h + 8, (uint16_t)(p->len - start));
    return true;
}

/* Remembers that name (the bytes at this address: a node's name, a chain's next name) stands
 * at off in the packet. */
static void known_add(struct resp *r, const uint8_t *name, uint16_t off)
{
    if (off && r->nknown < ANSWER_MAX_KNOWN) {
        r->ctx->known[r->nknown].name = name;
        r->ctx->known[r->nknown].off = off;
        r->nknown++;
    }
}

/* Where owner already stands in the packet, so it can be written as a pointer without
 * searching: the qname itself, the zone's origin (a suffix of every qname in the zone, so its
 * offset is the qname's length minus its own), or a name remembered by known_add(). 0 if
 * none. An entry past the packet's end was rewound; nothing is written after a rewind (the
 * response is full), but the check keeps a stale entry from ever being used. */
static ALWAYS_INLINE uint16_t known_ptr(const struct resp *r, const uint8_t *owner)
{
    const query_t *q = &r->ctx->q;
    if (owner == q->qname)
        return DNS_HDR_LEN;
    if (r->zone && owner == r->zone->name)
        return origin_ptr(r);
    for (unsigned i = 0; i < r->nknown; i++) {
        if (r->ctx->known[i].name == owner && r->ctx->known[i].off < r->p->len)
            return r->ctx->known[i].off;
    }
    return 0;
}

/* The client's location: the EDNS Client Subnet's address when the query has one (RFC 7871
 * §7.1.1), else the address the query came from. Sets the answer's scope. */
static const geo_loc_t *locate(struct resp *r)
{
    if (r->located)
        return r->loc;
    r->located = true;
    const geoip_t *g = r->snap->geoip;
    if (!g)
        return NULL;
    const query_t *q = &r->ctx->q;
    int family = 0;
    const uint8_t *addr = NULL;
    bool ecs = q->has_ecs && q->ecs_source_prefix > 0;
    if (ecs) {
        family = q->ecs_family == 1 ? 4 : 6;
        addr = q->ecs_addr;
    } else if (r->src && r->src->sa_family == AF_INET) {
        family = 4;
        addr = (const uint8_t *)&((const struct sockaddr_in *)r->src)->sin_addr;
    } else if (r->src && r->src->sa_family == AF_INET6) {
        family = 6;
        addr = ((const struct sockaddr_in6 *)r->src)->sin6_addr.s6_addr;
    }
    if (!addr)
        return NULL;
    r->loc = geoip_lookup_cached(g, r->ctx->geo_cache, family, addr, &r->ctx->geo_scratch);
    /* The answer holds for every client in the database network the address fell in; with
     * SOURCE 0 (the resolver keeps its clients private) the answer is for everyone. */
    if (ecs) {
        /* An IPv4-mapped ECS address was looked up as IPv4; the scope counts in the option's
         * own (IPv6) bits. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        bool v4m = family == 6 && !memcmp(addr, mapped, sizeof(mapped));
        r->scope = (uint8_t)(r->loc->prefix + (v4m ? 96 : 0));
    }
    return r->loc;
}

/* A policy's RRset: the records it picks for this client, with the policy's TTL. */
static bool put_dynamic(struct resp *r, const uint8_t *owner, size_t olen, const rrset_t *rs,
                        const policy_t *pol, uint16_t *count)
{
    const geo_loc_t *loc = policy_located(pol) ? locate(r) : NULL;
    if (!r->ctx->rng)
        r->ctx->rng = 0x9e3779b97f4a7c15ull ^ (uintptr_t)r->ctx;
    policy_pick_t pick;
    policy_pick(pol, loc, &r->ctx->rng, &pick);
    size_t mark = r->p->len;
    uint16_t optr = known_ptr(r, owner);
    uint16_t n = 0;
    for (uint64_t m = pick.mask; m; m &= m - 1, n++) {
        const uint8_t *rd = pick.rec[__builtin_ctzll(m)];
        if (!put_rr(r, owner, olen, optr, rs->type, pick.ttl, rd + 2, rd16(rd), 0)) {
            pkt_rewind(r->p, mark);
            return false;
        }
    }
    *count = (uint16_t)(*count + n);
    return true;
}

/* Writes a whole RRset with the given owner and TTL; on overflow rewinds and returns false. */
static bool put_rrset(struct resp *r, const uint8_t *owner, size_t olen, const rrset_t *rs,
                      uint32_t ttl, uint16_t *count)
{
    if ((rs->type == T_A || rs->type == T_AAAA) && r->snap->overlay) {
        const policy_t *pol = overlay_find(r->snap->overlay, rs);
        if (pol)
            return put_dynamic(r, owner, olen, rs, pol, count);
    }
    size_t mark = r->p->len;
    const uint8_t *rd = rs->rdata;
    uint16_t optr = known_ptr(r, owner);
    for (unsigned i = 0; i < rs->count; i++) {
        size_t rdlen = rd16(rd);
        const znode_t *t = rs->targets ? rs->targets[i] : NULL;
        unsigned in_zone = t ? 1u : rs == r->zone->soa ? r->zone->soa_names_in_zone : 0u;
        if (!put_rr(r, owner, olen, optr, rs->type, ttl, rd + 2, rdlen, in_zone)) {
            pkt_rewind(r->p, mark);
            return false;
        }
        if (t)
            known_add(r, t->name, r->rdname);
        rd += 2 + rdlen;
    }
    *count = (uint16_t)(*count + rs->count);
    return true;
}

/* Answer or authority data that does not fit truncates the response (RFC 2181 §9). */
static bool must_put(struct resp *r, const uint8_t *owner, size_t olen, const rrset_t *rs,
                     uint32_t ttl, uint16_t *count)
{
    if (r->full)
        return false;
    if (put_rrset(r, owner, olen, rs, ttl, count))
        return true;
    r->flags |= F_TC;
    r->full = true;
    return false;
}

/* A and AAAA of one target node into the additional section. */
static void add_addresses(struct resp *r, const znode_t *t, bool required)
{
    if (r->full)
        return;
    for (unsigned i = 0; i < r->nadd; i++) {
        if (r->ctx->added[i] == t)
            return;
    }
    if (r->nadd == ANSWER_MAX_ADDITIONAL)
        return;
    r->ctx->added[r->nadd++] = t;
    size_t mark = r->p->len;
    uint16_t ar = r->ar;
    static const uint16_t types[] = {T_A, T_AAAA};
    for (unsigned i = 0; i < 2; i++) {
        const rrset_t *rs = znode_rrset(t, types[i]);
        if (rs && !put_rrset(r, t->name, t->name_len, rs, rs->ttl, &ar)) {
            pkt_rewind(r->p, mark);
            /* RFC 9471 §3: glue for in-domain name servers must be sent, so its absence
             * truncates; other additional data is simply dropped (RFC 2181 §9). */
            if (required)
                r->flags |= F_TC;
            r->full = true;
            return;
        }
    }
    r->ar = ar;
}

/* Additional-section processing for NS, MX and SRV answers (RFC 1034 §4.3.2 step 6). Targets
 * below a zone cut are glue, not authoritative data, and are not offered here. */
static void additional_for(struct resp *r, const rrset_t *rs)
{
    if (!rs->targets)
        return;
    for (unsigned i = 0; i < rs->count; i++) {
        const znode_t *t = rs->targets[i];
        if (t && !t->cut)
            add_addresses(r, t, false);
    }
}

/* RFC 2308 §3: NXDOMAIN and NODATA carry the zone's SOA in the authority section, with the
 * negative TTL (§5). */
static void negative(struct resp *r)
{
    const zone_t *z = r->zone;
    must_put(r, z->name, z->name_len, z->soa, z->neg_ttl, &r->ns);
}

/* RFC 1034 §4.3.2 step 3b: a referral to the child zone at cut, an ancestor of the qname
 * when at_qname (no CNAME or DNAME was followed), and so a suffix of it in the packet. */
static void referral(struct resp *r, const znode_t *cut, bool at_qname)
{
    if (at_qname)
        known_add(r, cut->name,
                  (uint16_t)(DNS_HDR_LEN + r->ctx->q.qname_len - cut->name_len));
    const rrset_t *ns = znode_rrset(cut, T_NS);
    if (!must_put(r, cut->name, cut->name_len, ns, ns->ttl, &r->ns))
        return;
    /* RFC 4035 §3.1.4: a signed delegation's DS goes with the referral for DNSSEC clients. */
    const rrset_t *ds = znode_rrset(cut, T_DS);
    if (ds && r->ctx->q.edns_do && !must_put(r, cut->name, cut->name_len, ds, ds->ttl, &r->ns))
        return;
    if (!ns->targets)
        return;
    for (unsigned i = 0; i < ns->count; i++) {
        const znode_t *t = ns->targets[i];
        if (t) {
            bool in_domain = dname_is_subdomain(t->name, t->name_len, cut->name, cut->name_len);
            add_addresses(r, t, in_domain);
        }
    }
}

/* RFC 8482 §4.1: ANY gets one RRset of the name rather than all of them. */
static const rrset_t *any_rrset(const znode_t *n)
{
    for (unsigned i = 0; i < n->nrrsets; i++) {
        if (n->rrsets[i].type != T_RRSIG)
            return &n->rrsets[i];
    }
    return NULL;
}

/* Whether a chain goes on to next (lowercase): only inside the zone, and not into a loop
 * (every name in a loop has been answered once by then). */
static bool follow(const struct resp *r, const query_t *q, uint8_t names[][DNAME_MAXLEN],
                   unsigned hop, const uint8_t *next, size_t len)
{
    if (!dname_is_subdomain(next, len, r->zone->name, r->zone->name_len))
        return false;
    if (dname_eq(next, len, q->qname, q->qname_len))
        return false;
    for (unsigned i = 0; i < hop; i++) {
        if (dname_eq(next, len, names[i], dname_len(names[i])))
            return false;
    }
    return true;
}

/* The name being resolved: the qname, then each in-zone CNAME or DNAME target, with the label
 * offsets and suffix hashes the lookups need. */
struct cur {
    const uint8_t *name;
    size_t len;
    unsigned nl;
    const uint8_t *off;
    const uint32_t *hash;
    uint8_t toff[DNAME_MAXLABELS];
    uint32_t thash[DNAME_MAXLABELS + 1];
};

/* Makes next (lowercase wire, len bytes) the name being resolved. */
static void retarget(struct cur *c, const uint8_t *next, size_t len)
{
    c->name = next;
    c->len = len;
    c->nl = dname_label_offsets(next, c->toff);
    c->off = c->toff;
    dname_suffix_hashes(next, c->toff, c->nl, c->thash);
    c->hash = c->thash;
}

static void resolve(struct resp *r)
{
    query_t *q = &r->ctx->q;
    const zone_t *z = r->zone;
    uint8_t names[MAX_CHAIN][DNAME_MAXLEN];
    /* Field by field: an initializer would zero the 640 bytes of toff and thash, which only a
     * CNAME hop (retarget) fills and reads, on every query. */
    struct cur cur;
    cur.name = q->qname;
    cur.len = q->qname_len;
    cur.nl = q->qname_labels;
    cur.off = q->label_off;
    cur.hash = q->qhash;
    uint16_t qtype = q->qtype;

    for (unsigned hop = 0;; hop++) {
        const znode_t *node;
        enum zlookup_kind kind =
            zone_lookup(z, cur.name, cur.len, cur.off, cur.nl, cur.hash, qtype == T_DS, &node);
        if (kind == ZL_DELEGATION) {
            if (hop == 0)
                r->flags &= (uint16_t)~F_AA;
            referral(r, node, hop == 0);
            return;
        }
        if (kind == ZL_DNAME) {
            /* RFC 6672 §3.2: the DNAME, a CNAME from this name to the name with the DNAME's
             * owner replaced by its target, then that name if it is in the zone. */
            const rrset_t *dn = znode_rrset(node, T_DNAME);
            if (!must_put(r, node->name, node->name_len, dn, dn->ttl, &r->an))
                return;
            const uint8_t *target = dn->rdata + 2;
            size_t tlen = rd16(dn->rdata), prefix = cur.len - node->name_len;
            if (prefix + tlen > DNAME_MAXLEN) {
                r->rcode = RCODE_YXDOMAIN; /* RFC 6672 §2.2 */
                return;
            }
            if (hop + 1 >= MAX_CHAIN)
                return;
            uint8_t *next = names[hop];
            memcpy(next, cur.name, prefix);
            memcpy(next + prefix, target, tlen);
            size_t mark = r->p->len;
            if (!put_rr(r, cur.name, cur.len, known_ptr(r, cur.name), T_CNAME, dn->ttl, next,
                        prefix + tlen, 0)) {
                pkt_rewind(r->p, mark);
                r->flags |= F_TC;
                r->full = true;
                return;
            }
            r->an++;
            if (qtype == T_CNAME)
                return; /* the synthesized CNAME is the answer itself */
            dname_tolower(next, next, prefix + tlen);
            if (!follow(r, q, names, hop, next, prefix + tlen))
                return;
            known_add(r, next, r->rdname);
            retarget(&cur, next, prefix + tlen);
            continue;
        }
        if (kind == ZL_NXDOMAIN) {
            /* RFC 6604 §3: the rcode speaks of the last name in the chain. */
            r->rcode = RCODE_NXDOMAIN;
            negative(r);
            return;
        }
        /* An exact node or a wildcard synthesizing this name (RFC 4592 §3.4: owner = name). */
        const rrset_t *rs = qtype == T_ANY ? any_rrset(node) : znode_rrset(node, qtype);
        if (rs) {
            if (must_put(r, cur.name, cur.len, rs, rs->ttl, &r->an))
                additional_for(r, rs);
            return;
        }
        const rrset_t *cn = znode_rrset(node, T_CNAME);
        if (!cn) {
            negative(r); /* NODATA, including empty non-terminals */
            return;
        }
        if (!must_put(r, cur.name, cur.len, cn, cn->ttl, &r->an))
            return;
        /* Follow the CNAME while its target is in this zone (RFC 1034 §4.3.2 step 3a). */
        const uint8_t *target = cn->rdata + 2;
        size_t tlen = rd16(cn->rdata);
        if (hop + 1 >= MAX_CHAIN || !dname_valid(target, tlen))
            return;
        uint8_t *next = names[hop];
        dname_tolower(next, target, tlen);
        if (!follow(r, q, names, hop, next, tlen))
            return;
        known_add(r, next, r->rdname);
        retarget(&cur, next, tlen);
    }
}

static bool is_unanswerable_qtype(uint16_t t)
{
    /* RFC 6895 §3.1: meta types and the mailbox QTYPEs are not data we hold. */
    return t == T_OPT || t == T_MAILA || t == T_MAILB || t == T_TKEY || t == T_TSIG ||
           (t >= 128 && t <= 248);
}

static void put_opt(struct resp *r, const answer_opts_t *opts, size_t limit)
{
    const query_t *q = &r->ctx->q;
    pkt_t *p = r->p;
    p->cap = limit; /* the room reserved for OPT */
    uint8_t *o = p->buf + p->len;
    o[0] = 0; /* root owner */
    wr16(o + 1, T_OPT);
    wr16(o + 3, opts->udp_payload);
    o[5] = (uint8_t)(r->rcode >> 4); /* extended rcode: upper 8 bits */
    o[6] = 0;                        /* version 0 */
    wr16(o + 7, q->edns_do ? EDNS_DO : 0);
    size_t rdlen = 0;
    if (q->nsid_requested && opts->nsid) {
        wr16(o + 11, EDNS_OPT_NSID);
        wr16(o + 13, opts->nsid_len);
        memcpy(o + 15, opts->nsid, opts->nsid_len);
        rdlen = 4u + opts->nsid_len;
    }
    if (q->has_ecs) {
        /* RFC 7871 §7.2.1: echo FAMILY, SOURCE PREFIX-LENGTH and ADDRESS, with the scope our
         * answer holds for (0: the same for every client). */
        uint8_t *e = o + 11 + rdlen;
        size_t alen = ((size_t)q->ecs_source_prefix + 7) / 8;
        wr16(e, EDNS_OPT_ECS);
        wr16(e + 2, (uint16_t)(4 + alen));
        wr16(e + 4, q->ecs_family);
        e[6] = q->ecs_source_prefix;
        e[7] = r->scope;
        memcpy(e + 8, q->ecs_addr, alen);
        rdlen += 8 + alen;
    }
    wr16(o + 9, (uint16_t)rdlen);
    p->len += 11 + rdlen;
    r->ar++;
}

/* Bytes of the OPT record we append: header, NSID if asked for, ECS echo if sent. */
static size_t opt_len(const query_t *q, const answer_opts_t *opts)
{
    size_t n = 11;
    if (q->nsid_requested && opts->nsid)
        n += 4u + opts->nsid_len;
    if (q->has_ecs)
        n += 8 + ((size_t)q->ecs_source_prefix + 7) / 8;
    return n;
}

size_t answer_query(answer_ctx_t *ctx, const snapshot_t *snap, const answer_opts_t *opts,
                    const uint8_t *req, size_t len, const struct sockaddr *src, uint8_t *resp,
                    size_t resp_cap, bool tcp)
{
    static const snapshot_t empty;
    if (!snap)
        snap = &empty;
    const zoneset_t *zs = snap->zones;
    query_t *q = &ctx->q;
    enum wire_status st = wire_parse_query(req, len, q);
    if (st == WIRE_DROP)
        return 0;

    /* RFC 6891 §6.2.5 / RFC 1035 §4.2.1: UDP answers fit the client's payload, ours, or 512. */
    size_t limit = resp_cap;
    if (!tcp) {
        size_t udp = q->has_edns ? q->edns_payload : 512;
        if (udp > opts->udp_payload)
            udp = opts->udp_payload < 512 ? 512 : opts->udp_payload;
        if (udp < limit)
            limit = udp;
    }
    /* RFC 6891 §6.1.1: a response to a request with OPT carries OPT, NOTIMP included. */
    bool edns = (st == WIRE_OK || st == WIRE_NOTIMP) && q->has_edns;
    size_t optlen = edns ? opt_len(q, opts) : 0;

    struct resp r = {.ctx = ctx, .p = &ctx->pkt, .snap = snap, .src = src, .zone = NULL};
    pkt_init(r.p, resp, limit - optlen);
    r.p->len = DNS_HDR_LEN;
    /* RFC 1035 §4.1.1: copy ID, opcode and RD; RFC 4035 §3.1.6: copy CD; Z, AD and RA clear. */
    r.flags = (uint16_t)(F_QR | (q->flags & (0x7800u | F_RD | F_CD)));
    uint16_t qd = 0;
    if (q->has_question) {
        /* Echo the question exactly as sent, letter case included (0x20). */
        wire_copy(resp + DNS_HDR_LEN, req + DNS_HDR_LEN, q->question_end - DNS_HDR_LEN);
        r.p->len = q->question_end;
        pkt_set_question(r.p, q->label_off, q->qname_labels);
        qd = 1;
    }

    if (st == WIRE_FORMERR) {
        r.rcode = RCODE_FORMERR;
    } else if (st == WIRE_NOTIMP) {
        r.rcode = RCODE_NOTIMP;
    } else if (q->has_edns && q->edns_version > 0) {
        r.rcode = RCODE_BADVERS; /* RFC 6891 §6.1.3 */
    } else if (q->qclass != DNS_CLASS_IN) {
        r.rcode = RCODE_REFUSED;
    } else if (is_unanswerable_qtype(q->qtype)) {
        r.rcode = RCODE_NOTIMP;
    } else if (q->qtype == T_AXFR || q->qtype == T_IXFR) {
        r.rcode = RCODE_REFUSED; /* no transfer peers are configured */
    } else {
        const zone_t *z =
            zs ? zoneset_find(zs, q->qname, q->qname_len, q->label_off, q->qname_labels,
                              q->qhash, 0)
               : NULL;
        /* RFC 4035 §3.1.4.1: DS at a zone's apex belongs to the parent; answer from the parent
         * when we serve it. */
        if (z && q->qtype == T_DS && q->qname_len == z->name_len && z->labels > 0) {
            const zone_t *parent =
                zoneset_find(zs, q->qname, q->qname_len, q->label_off, q->qname_labels, q->qhash,
                             q->qname_labels - z->labels + 1);
            if (parent)
                z = parent;
        }
        if (!z) {
            r.rcode = RCODE_REFUSED;
        } else {
            r.zone = z;
            r.flags |= F_AA;
            resolve(&r);
        }
    }

    if (edns)
        put_opt(&r, opts, limit);
    wr16(resp, q->id);
    wr16(resp + 2, (uint16_t)(r.flags | (r.rcode & 0xfu)));
    wr16(resp + 4, qd);
    wr16(resp + 6, r.an);
    wr16(resp + 8, r.ns);
    wr16(resp + 10, r.ar);
    return r.p->len;
}
