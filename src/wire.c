/* SPDX-License-Identifier: MIT */
/* wire.c: query parsing and response name compression. */
#include "config.h"
#include "wire.h"

#include <string.h>

/* Skips one possibly compressed name at pkt[*pos], leaving *pos just past it. Compressed names
 * are only legal outside the question; pointers must point strictly backwards, which bounds the
 * walk without a hop counter, but we still cap the total name length at 255. */
static bool skip_name(const uint8_t *pkt, size_t len, size_t *pos)
{
    size_t p = *pos, end = 0, total = 0;
    bool jumped = false;
    for (;;) {
        if (p >= len)
            return false;
        uint8_t l = pkt[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 1 >= len)
                return false;
            size_t target = (size_t)(l & 0x3f) << 8 | pkt[p + 1];
            if (target >= p)
                return false; /* forward or self pointer: a loop or garbage */
            if (!jumped)
                end = p + 2;
            jumped = true;
            p = target;
            continue;
        }
        if (l & 0xc0)
            return false; /* 0x40/0x80: extended label types (RFC 6891 §5) are not supported */
        total += (size_t)l + 1;
        if (total > DNAME_MAXLEN)
            return false;
        if (l == 0) {
            *pos = jumped ? end : p + 1;
            return true;
        }
        p += (size_t)l + 1;
    }
}

/* RFC 7871 §6: a query's ECS option must carry SCOPE 0, an address no longer than the source
 * prefix needs, and zero bits past the prefix; anything else is FORMERR. */
static bool parse_ecs(const uint8_t *o, size_t olen, query_t *q)
{
    if (olen < 4)
        return false;
    uint16_t family = rd16(o);
    uint8_t source = o[2], scope = o[3];
    size_t alen = olen - 4;
    unsigned maxbits = family == 1 ? 32 : family == 2 ? 128 : 0;
    if (!maxbits || source > maxbits || scope != 0 || alen != ((size_t)source + 7) / 8)
        return false;
    if (alen && (source % 8) && (o[4 + alen - 1] & (0xff >> (source % 8))))
        return false;
    q->has_ecs = true;
    q->ecs_family = family;
    q->ecs_source_prefix = source;
    memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
    memcpy(q->ecs_addr, o + 4, alen);
    return true;
}

static bool parse_opt(const uint8_t *pkt, size_t rr, size_t rdata, size_t rdlen, query_t *q)
{
    q->has_edns = true;
    uint16_t payload = rd16(pkt + rr + 3); /* owner(1) type(2) then CLASS = payload */
    q->edns_payload = payload < EDNS_MIN_PAYLOAD ? EDNS_MIN_PAYLOAD : payload;
    q->edns_version = pkt[rr + 1 + 4 + 1];
    q->edns_do = (rd16(pkt + rr + 1 + 4 + 2) & EDNS_DO) != 0;
    size_t p = rdata, end = rdata + rdlen;
    while (p < end) {
        if (end - p < 4)
            return false;
        uint16_t code = rd16(pkt + p), olen = rd16(pkt + p + 2);
        p += 4;
        if (end - p < olen)
            return false;
        if (code == EDNS_OPT_NSID) {
            q->nsid_requested = true;
        } else if (code == EDNS_OPT_ECS) {
            if (q->has_ecs || !parse_ecs(pkt + p, olen, q))
                return false;
        }
        p += olen;
    }
    return true;
}

enum wire_status wire_parse_query(const uint8_t *pkt, size_t len, query_t *q)
{
    q->has_question = false;
    q->has_edns = false;
    q->edns_do = false;
    q->edns_version = 0;
    q->edns_payload = EDNS_MIN_PAYLOAD;
    q->nsid_requested = false;
    q->has_ecs = false;

    if (unlikely(len < DNS_HDR_LEN))
        return WIRE_DROP;
    q->id = rd16(pkt);
    q->flags = rd16(pkt + 2);
    if (unlikely(q->flags & F_QR))
        return WIRE_DROP;
    uint16_t qdcount = rd16(pkt + 4), ancount = rd16(pkt + 6), nscount = rd16(pkt + 8),
             arcount = rd16(pkt + 10);

    /* The question: one uncompressed name (nothing precedes it to point at), type, class.
     * The labels are walked first (offsets and bounds), then the name is lowercased whole. */
    if (qdcount == 1) {
        size_t p = DNS_HDR_LEN;
        unsigned labels = 0;
        for (;;) {
            if (p >= len)
                return WIRE_FORMERR;
            uint8_t l = pkt[p];
            if (!l)
                break;
            /* Room for this label and at least the root after it. */
            if (l > 63 || p - DNS_HDR_LEN + l + 2 > DNAME_MAXLEN)
                return WIRE_FORMERR;
            q->label_off[labels++] = (uint8_t)(p - DNS_HDR_LEN);
            p += (size_t)l + 1;
        }
        p++;
        size_t n = p - DNS_HDR_LEN;
        dname_tolower(q->qname, pkt + DNS_HDR_LEN, n);
        if (len - p < 4)
            return WIRE_FORMERR;
        q->qname_len = (uint8_t)n;
        q->qname_labels = (uint8_t)labels;
        dname_suffix_hashes(q->qname, q->label_off, labels, q->qhash);
        q->qtype = rd16(pkt + p);
        q->qclass = rd16(pkt + p + 2);
        q->question_end = (uint16_t)(p + 4);
        q->has_question = true;
    }

    bool notimp = F_OPCODE(q->flags) != OPCODE_QUERY;
    if (!notimp && (qdcount != 1 || ancount != 0 || nscount != 0))
        return WIRE_FORMERR;
    if (notimp && qdcount > 1)
        return WIRE_NOTIMP;

    /* Skip the answer and authority records (only other opcodes have them), then find the OPT
     * in the additional section; anything else there is skipped (TSIG comes with transfers).
     * For an opcode we do not serve, a malformed remainder just means no OPT to echo. */
    size_t p = q->has_question ? q->question_end : DNS_HDR_LEN;
    for (unsigned i = 0; i < (unsigned)ancount + nscount; i++) {
        if (!skip_name(pkt, len, &p) || len - p < 10 || len - p - 10 < rd16(pkt + p + 8))
            return notimp ? WIRE_NOTIMP : WIRE_FORMERR;
        p += 10u + rd16(pkt + p + 8);
    }
    for (unsigned i = 0; i < arcount; i++) {
        size_t rr = p;
        if (p < len && pkt[p] == 0)
            p++; /* the root, as an OPT's owner is: no name to walk */
        else if (!skip_name(pkt, len, &p))
            goto bad;
        if (len - p < 10)
            goto bad;
        uint16_t type = rd16(pkt + p);
        size_t rdlen = rd16(pkt + p + 8);
        size_t rdata = p + 10;
        if (len - rdata < rdlen)
            goto bad;
        if (type == T_OPT) {
            /* RFC 6891 §6.1.1: exactly one OPT, owned by the root. */
            if (q->has_edns || p != rr + 1 || pkt[rr] != 0)
                goto bad;
            if (!parse_opt(pkt, rr, rdata, rdlen, q))
                goto bad;
        }
        p = rdata + rdlen;
    }
    return notimp ? WIRE_NOTIMP : WIRE_OK;
bad:
    if (notimp) {
        q->has_edns = false;
        return WIRE_NOTIMP;
    }
    return WIRE_FORMERR;
}

void pkt_rewind(pkt_t *p, size_t len)
{
    p->len = len;
    while (p->ncomp && p->comp[p->ncomp - 1].off >= len)
        p->ncomp--;
}

static void comp_add(pkt_t *p, size_t off, unsigned labels)
{
    /* Offsets must fit the 14-bit pointer field. */
    if (p->ncomp < PKT_COMP_MAX && off < 0x4000) {
        p->comp[p->ncomp].off = (uint16_t)off;
        p->comp[p->ncomp].labels = (uint8_t)labels;
        p->ncomp++;
    }
}

/* Does the name at buf[off] (following pointers) equal name (case-insensitively)? Names in the
 * packet were written by us, so pointers are well formed; still, bound the hops. Most
 * candidates differ in their first length byte or letter, so a mismatch costs a few
 * instructions; bytes are folded only when they differ as sent. */
static bool name_eq_at(const uint8_t *buf, size_t off, const uint8_t *name)
{
    for (unsigned hops = 0; hops < 128;) {
        uint8_t l = buf[off];
        if ((l & 0xc0) == 0xc0) {
            off = (size_t)(l & 0x3f) << 8 | buf[off + 1];
            hops++;
            continue;
        }
        if (l != *name)
            return false;
        if (!l)
            return true;
        for (unsigned i = 1; i <= l; i++) {
            uint8_t a = buf[off + i], b = name[i];
            if (a != b && dname_lower(a) != dname_lower(b))
                return false;
        }
        off += (size_t)l + 1;
        name += (size_t)l + 1;
    }
    return false;
}

/* Writes name (n labels at off[]) with its labels from `match` on replaced by a pointer to
 * ptr (match == n: no pointer yet), after looking for a longer suffix among the remembered
 * names with more than min_k labels; remembers the labels written out. */
static bool put_name(pkt_t *p, const uint8_t *name, size_t len, const uint8_t *off, unsigned n,
                     unsigned match, uint16_t ptr, unsigned min_k)
{
    /* The question's suffixes first, longest first: the first that matches is the longest
     * there. Then one pass over the remembered names: a candidate with k labels can only
     * stand for the suffix of name with k labels, and is compared only if that suffix is
     * longer than the best match so far. The table holds each suffix once (a name adds only
     * the labels it writes out), so it stays short. */
    for (unsigned k = n < p->qlabels ? n : p->qlabels; k > min_k && n - k < match; k--) {
        size_t qo = DNS_HDR_LEN + p->qloff[p->qlabels - k];
        if (name_eq_at(p->buf, qo, name + off[n - k])) {
            match = n - k;
            ptr = (uint16_t)qo;
            break;
        }
    }
    for (unsigned c = 0; c < p->ncomp && match; c++) {
        unsigned k = p->comp[c].labels;
        if (k <= min_k || k > n || n - k >= match)
            continue;
        if (name_eq_at(p->buf, p->comp[c].off, name + off[n - k])) {
            match = n - k;
            ptr = p->comp[c].off;
        }
    }
    size_t lit = match == n ? len : off[match];
    size_t need = lit + (match == n ? 0 : 2);
    if (unlikely(p->len + need > p->cap))
        return false;
    size_t start = p->len;
    wire_copy(p->buf + start, name, lit);
    p->len += lit;
    if (match != n) {
        wr16(p->buf + p->len, (uint16_t)(0xc000 | ptr));
        p->len += 2;
    }
    for (unsigned i = 0; i < match; i++)
        comp_add(p, start + off[i], n - i);
    return true;
}

bool pkt_put_name(pkt_t *p, const uint8_t *name, size_t len, bool compress)
{
    if (!compress)
        return pkt_put(p, name, len);
    uint8_t off[DNAME_MAXLABELS];
    unsigned n = dname_label_offsets(name, off);
    return put_name(p, name, len, off, n, n, 0, 0);
}

bool pkt_put_name_under(pkt_t *p, const uint8_t *name, size_t len, uint16_t base_off,
                        unsigned base_labels)
{
    uint8_t off[DNAME_MAXLABELS];
    unsigned n = dname_label_offsets(name, off);
    return put_name(p, name, len, off, n, n - base_labels, base_off, base_labels);
}
