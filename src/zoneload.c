/* SPDX-License-Identifier: MIT */
/* zoneload.c: zone files parsed by ldns, converted to our wire form record by record. */
#include "config.h"
#include "zoneload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "wire.h"

/* RFC 1035 §5.1 leaves a missing TTL to the server; 3600 is what NSD and ldns assume when a
 * zone has neither $TTL nor an explicit TTL on its first record. */
#define DEFAULT_TTL 3600

/* Consumes blank and comment-only lines so that the next ldns call starts on the record's own
 * first line; that is the line an error message must name. Leading white space on a record line
 * is meaningful (it repeats the previous owner), so such lines are put back untouched. */
static void skip_blank_lines(FILE *fp, int *line)
{
    char buf[256];
    for (;;) {
        long pos = ftell(fp);
        if (pos < 0 || !fgets(buf, sizeof(buf), fp))
            return;
        const char *p = buf + strspn(buf, " \t\r");
        bool has_nl = strchr(buf, '\n') != NULL;
        if (*p == ';' && !has_nl) {
            int c;
            while ((c = getc(fp)) != EOF && c != '\n')
                ;
            has_nl = c == '\n';
        } else if (*p != '\n' && *p != ';' && *p != '\0') {
            fseek(fp, pos, SEEK_SET);
            return;
        }
        if (has_nl)
            (*line)++;
    }
}

zone_t *zoneload_file(const char *origin, const char *path, hadns_err_t *err)
{
    zone_t *zone = NULL;
    zone_builder_t *zb = NULL;
    ldns_rdf *org = NULL, *prev = NULL;
    ldns_buffer *buf = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
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

    uint32_t ttl = DEFAULT_TTL;
    int line = 0;
    hadns_err_t rerr;
    while (!feof(fp)) {
        ldns_rr *rr = NULL;
        skip_blank_lines(fp, &line);
        if (feof(fp))
            break;
        int start = line;
        ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &org, &prev, &line);
        if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
            s == LDNS_STATUS_SYNTAX_ORIGIN)
        {
            continue;
        }
        if (s == LDNS_STATUS_SYNTAX_INCLUDE) {
            err_set(err, "%s:%d: $INCLUDE is not supported", path, line);
            goto out;
        }
        if (s != LDNS_STATUS_OK) {
            /* Name the line the record starts on; an unbalanced "(" makes ldns read on, so
             * also say where it stopped. */
            if (line > start + 1)
                err_set(err, "%s:%d: %s (in the record spanning lines %d-%d)", path, start + 1,
                        ldns_get_errorstr_by_id(s), start + 1, line);
            else
                err_set(err, "%s:%d: %s", path, start + 1, ldns_get_errorstr_by_id(s));
            goto out;
        }
        int rrline = start + 1;
        if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
            ldns_rr_free(rr);
            err_set(err, "%s:%d: only class IN is served", path, rrline);
            goto out;
        }
        ldns_buffer_clear(buf);
        if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK) {
            ldns_rr_free(rr);
            err_set(err, "%s:%d: cannot convert rdata to wire form", path, rrline);
            goto out;
        }
        const ldns_rdf *owner = ldns_rr_owner(rr);
        err_clear(&rerr);
        bool ok = zone_builder_add(zb, ldns_rdf_data(owner), ldns_rdf_size(owner),
                                   (uint16_t)ldns_rr_get_type(rr), ldns_rr_ttl(rr),
                                   ldns_buffer_begin(buf), ldns_buffer_position(buf),
                                   (unsigned)rrline, &rerr);
        ldns_rr_free(rr);
        if (!ok) {
            err_set(err, "%s:%s", path, rerr.msg);
            goto out;
        }
    }
    if (ferror(fp)) {
        err_set(err, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    zone = zone_builder_finish(zb, path, err);
    zb = NULL;
    if (zone)
        zone->file_stat = st;
out:
    zone_builder_free(zb);
    ldns_buffer_free(buf);
    ldns_rdf_deep_free(org);
    ldns_rdf_deep_free(prev);
    fclose(fp);
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
