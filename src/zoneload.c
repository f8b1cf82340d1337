/* SPDX-License-Identifier: MIT */
/* zoneload.c: zone files read as logical records by our own reader (RFC 1035 §5.1: comments,
 * parentheses, quotes, $ORIGIN, $TTL), each record's text parsed by ldns and converted to our
 * wire form at once. Reading the records ourselves gives exact line numbers, catches a "("
 * never closed before the end of the file, and implements RFC 1035's TTL defaults, all of
 * which ldns's file reader gets wrong or does not report. */
#include "config.h"
#include "zoneload.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#include "wire.h"
#include "xalloc.h"

/* With neither $TTL nor an earlier explicit TTL, NSD and ldns assume an hour; so do we. */
#define DEFAULT_TTL 3600

/* A logical record: the lines of one entry joined, comments and parentheses removed. */
struct reader {
    FILE *fp;
    const char *path;
    char *line;
    size_t linecap;
    int lineno;
    char *rec;
    size_t reclen, reccap;
    int start, end; /* first and last line of the record */
};

static void rec_put(struct reader *r, char c)
{
    if (r->reclen + 2 > r->reccap) {
        r->reccap = r->reccap ? r->reccap * 2 : 1024;
        r->rec = xrealloc(r->rec, r->reccap);
    }
    r->rec[r->reclen++] = c;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isspace((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Reads the next logical record into r->rec (NUL-terminated, may start with white space when
 * the owner is omitted). Returns 1 for a record, 0 at the end, -1 with err set. */
static int next_record(struct reader *r, hadns_err_t *err)
{
    int depth = 0;
    bool quoted = false;
    r->reclen = 0;
    r->start = 0;
    for (;;) {
        ssize_t n = getline(&r->line, &r->linecap, r->fp);
        if (n < 0) {
            if (ferror(r->fp)) {
                err_set(err, "%s: read error: %s", r->path, strerror(errno));
                return -1;
            }
            if (depth > 0) {
                err_set(err, "%s:%d: '(' is never closed (the file ends first)", r->path,
                        r->start);
                return -1;
            }
            if (r->reclen && !blank(r->rec, r->reclen))
                break;
            return 0;
        }
        r->lineno++;
        if (depth == 0 && !quoted) {
            r->reclen = 0;
            r->start = r->lineno;
        }
        for (ssize_t i = 0; i < n; i++) {
            char c = r->line[i];
            if (quoted) {
                if (c == '\n') {
                    err_set(err, "%s:%d: a quoted string runs past the end of the line", r->path,
                            r->lineno);
                    return -1;
                }
                rec_put(r, c);
                if (c == '\\' && i + 1 < n && r->line[i + 1] != '\n')
                    rec_put(r, r->line[++i]);
                else if (c == '"')
                    quoted = false;
                continue;
            }
            if (c == ';' || c == '\n')
                break;
            if (c == '\\') {
                rec_put(r, c);
                if (i + 1 < n && r->line[i + 1] != '\n')
                    rec_put(r, r->line[++i]);
            } else if (c == '"') {
                quoted = true;
                rec_put(r, c);
            } else if (c == '(') {
                depth++;
                rec_put(r, ' ');
            } else if (c == ')') {
                if (--depth < 0) {
                    err_set(err, "%s:%d: ')' without a matching '('", r->path, r->lineno);
                    return -1;
                }
                rec_put(r, ' ');
            } else {
                rec_put(r, c == '\r' || c == '\t' ? ' ' : c);
            }
        }
        if (depth > 0) {
            rec_put(r, ' ');
            continue;
        }
        if (!blank(r->rec, r->reclen))
            break;
    }
    r->rec[r->reclen] = '\0';
    r->end = r->lineno;
    return 1;
}

/* The text of the next token from *p (white-space separated), advancing *p. */
static size_t token(const char **p, const char **tok)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    *tok = s;
    while (*s && *s != ' ')
        s++;
    *p = s;
    return (size_t)(s - *tok);
}

static bool is_class(const char *t, size_t n)
{
    static const char *const classes[] = {"IN", "CH", "CS", "HS"};
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        if (n == strlen(classes[i]) && !strncasecmp(t, classes[i], n))
            return true;
    }
    return n > 5 && !strncasecmp(t, "CLASS", 5) && isdigit((unsigned char)t[5]);
}

/* RFC 1035 §5.1 allows "[<TTL>] [<class>]" in either order; ldns wants the TTL first. Reports
 * whether the record states a TTL, and swaps "CLASS TTL" in place into "TTL CLASS". */
static bool head_has_ttl(char *rec)
{
    const char *p = rec, *t1, *t2;
    if (*p != ' ') {
        const char *own;
        token(&p, &own);
    }
    size_t n1 = token(&p, &t1);
    if (n1 && isdigit((unsigned char)t1[0]))
        return true;
    if (!is_class(t1, n1))
        return false;
    size_t n2 = token(&p, &t2);
    if (!n2 || !isdigit((unsigned char)t2[0]))
        return false;
    /* "IN 300" -> "300 IN": both tokens and the gap between them are rewritten. */
    char tmp[64];
    size_t span = (size_t)(t2 + n2 - t1);
    if (span >= sizeof(tmp))
        return true;
    snprintf(tmp, sizeof(tmp), "%.*s %.*s", (int)n2, t2, (int)n1, t1);
    memcpy((char *)t1, tmp, strlen(tmp));
    memset((char *)t1 + strlen(tmp), ' ', span - strlen(tmp));
    return true;
}

/* RFC 2181 §8: a TTL is at most 2^31 - 1. ldns wraps larger numbers silently, so the stated
 * TTL token (after head_has_ttl put it first) is checked here, units ("1w2d") included. */
static bool ttl_value(const char *t, size_t n, uint64_t *out)
{
    uint64_t total = 0, cur = 0;
    bool digits = false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (isdigit((unsigned char)c)) {
            cur = cur * 10 + (uint64_t)(c - '0');
            digits = true;
            if (cur > 0xffffffffull)
                return false;
            continue;
        }
        static const char units[] = "smhdw";
        static const uint64_t mult[] = {1, 60, 3600, 86400, 604800};
        const char *u = strchr(units, tolower((unsigned char)c));
        if (!u || !*u || !digits)
            return false;
        total += cur * mult[u - units];
        cur = 0;
        digits = false;
    }
    total += cur;
    *out = total;
    return total <= 0x7fffffffull;
}

static bool ttl_in_range(const char *rec)
{
    const char *p = rec, *t;
    if (*p != ' ')
        token(&p, &t);
    size_t n = token(&p, &t);
    uint64_t v;
    return ttl_value(t, n, &v);
}

/* Handles $ORIGIN and $TTL. Returns false with err for a bad or unsupported directive. */
static bool directive(struct reader *r, ldns_rdf **origin, uint32_t *ttl, bool *have_ttl,
                      hadns_err_t *err)
{
    const char *p = r->rec, *name, *arg, *extra;
    size_t nl = token(&p, &name), al = token(&p, &arg), el = token(&p, &extra);
    char buf[DNAME_MAXSTR + 1];
    if (!al || al >= sizeof(buf) ||
        (el && !(nl == 8 && !strncasecmp(name, "$INCLUDE", 8))))
    {
        err_set(err, "%s:%d: %.*s needs exactly one argument", r->path, r->start, (int)nl, name);
        return false;
    }
    memcpy(buf, arg, al);
    buf[al] = '\0';
    if (nl == 7 && !strncasecmp(name, "$ORIGIN", 7)) {
        ldns_rdf *o = ldns_dname_new_frm_str(buf);
        if (o && buf[al - 1] != '.' && ldns_dname_cat(o, *origin) != LDNS_STATUS_OK) {
            ldns_rdf_deep_free(o);
            o = NULL;
        }
        if (!o) {
            err_set(err, "%s:%d: $ORIGIN: '%s' is not a domain name", r->path, r->start, buf);
            return false;
        }
        ldns_rdf_deep_free(*origin);
        *origin = o;
        return true;
    }
    if (nl == 4 && !strncasecmp(name, "$TTL", 4)) {
        uint64_t v;
        if (!isdigit((unsigned char)buf[0]) || !ttl_value(buf, al, &v)) {
            err_set(err, "%s:%d: $TTL: '%s' is not a TTL", r->path, r->start, buf);
            return false;
        }
        *ttl = (uint32_t)v;
        *have_ttl = true;
        return true;
    }
    err_set(err, "%s:%d: %.*s is not supported", r->path, r->start, (int)nl, name);
    return false;
}

zone_t *zoneload_file(const char *origin, const char *path, hadns_err_t *err)
{
    zone_t *zone = NULL;
    zone_builder_t *zb = NULL;
    ldns_rdf *org = NULL, *prev = NULL;
    ldns_buffer *buf = NULL;
    struct reader r = {.path = path};
    r.fp = fopen(path, "r");
    if (!r.fp) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(r.fp), &st) != 0) {
        err_set(err, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    org = ldns_dname_new_frm_str(origin);
    if (!org) {
        err_set(err, "%s: invalid zone name '%s'", path, origin);
        goto out;
    }
    ldns_dname2canonical(org);
    prev = ldns_rdf_clone(org);
    buf = ldns_buffer_new(4096);
    zb = zone_builder_new(ldns_rdf_data(org), ldns_rdf_size(org));

    /* RFC 1035 §5.1: an omitted TTL is the last one stated explicitly; RFC 2308 §4: $TTL,
     * once given, is the default instead. */
    uint32_t dollar_ttl = 0, last_ttl = DEFAULT_TTL;
    bool have_dollar = false;
    hadns_err_t rerr;
    int rc;
    while ((rc = next_record(&r, err)) > 0) {
        if (r.rec[0] == '$') {
            if (!directive(&r, &org, &dollar_ttl, &have_dollar, err))
                goto out;
            continue;
        }
        bool explicit_ttl = head_has_ttl(r.rec);
        ldns_rr *rr = NULL;
        ldns_status s = ldns_rr_new_frm_str(&rr, r.rec, 0, org, &prev);
        if (s != LDNS_STATUS_OK) {
            if (r.end > r.start)
                err_set(err, "%s:%d: %s (in the record on lines %d-%d)", path, r.start,
                        ldns_get_errorstr_by_id(s), r.start, r.end);
            else
                err_set(err, "%s:%d: %s", path, r.start, ldns_get_errorstr_by_id(s));
            goto out;
        }
        if (explicit_ttl && !ttl_in_range(r.rec)) {
            ldns_rr_free(rr);
            err_set(err, "%s:%d: TTL out of range: at most 2147483647 (RFC 2181 §8)", path,
                    r.start);
            goto out;
        }
        if (explicit_ttl)
            last_ttl = ldns_rr_ttl(rr);
        else
            ldns_rr_set_ttl(rr, have_dollar ? dollar_ttl : last_ttl);
        if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
            ldns_rr_free(rr);
            err_set(err, "%s:%d: only class IN is served", path, r.start);
            goto out;
        }
        ldns_buffer_clear(buf);
        if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK) {
            ldns_rr_free(rr);
            err_set(err, "%s:%d: cannot convert rdata to wire form", path, r.start);
            goto out;
        }
        const ldns_rdf *owner = ldns_rr_owner(rr);
        err_clear(&rerr);
        bool ok = zone_builder_add(zb, ldns_rdf_data(owner), ldns_rdf_size(owner),
                                   (uint16_t)ldns_rr_get_type(rr), ldns_rr_ttl(rr),
                                   ldns_buffer_begin(buf), ldns_buffer_position(buf),
                                   (unsigned)r.start, &rerr);
        ldns_rr_free(rr);
        if (!ok) {
            err_set(err, "%s:%s", path, rerr.msg);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    zone = zone_builder_finish(zb, path, err);
    zb = NULL;
    if (zone)
        zone->file_stat = st;
out:
    zone_builder_free(zb);
    ldns_buffer_free(buf);
    ldns_rdf_deep_free(org);
    ldns_rdf_deep_free(prev);
    free(r.line);
    free(r.rec);
    fclose(r.fp);
    return zone;
}

bool zoneload_changed(const zone_t *zone, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return true;
    const struct stat *o = &zone->file_stat;
    return st.st_ino != o->st_ino || st.st_dev != o->st_dev || st.st_size != o->st_size ||
           st.st_mtim.tv_sec != o->st_mtim.tv_sec || st.st_mtim.tv_nsec != o->st_mtim.tv_nsec ||
           st.st_ctim.tv_sec != o->st_ctim.tv_sec || st.st_ctim.tv_nsec != o->st_ctim.tv_nsec;
}
