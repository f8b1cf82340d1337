/* SPDX-License-Identifier: MIT */
/* dname.c: uncompressed wire-format domain names. */
#include "config.h"
#include "dname.h"

#include <stdio.h>
#include <string.h>

size_t dname_len(const uint8_t *name)
{
    size_t i = 0;
    while (name[i])
        i += (size_t)name[i] + 1;
    return i + 1;
}

uint32_t dname_hash(const uint8_t *name, size_t len)
{
    (void)len;
    uint8_t off[DNAME_MAXLABELS];
    unsigned n = dname_label_offsets(name, off);
    uint64_t h = DNAME_HASH_SEED;
    while (n-- > 0)
        h = dname_hash_label(h, name + off[n]);
    return dname_hash_fin(h);
}

unsigned dname_labels(const uint8_t *name)
{
    unsigned n = 0;
    for (size_t i = 0; name[i]; i += (size_t)name[i] + 1)
        n++;
    return n;
}

bool dname_valid(const uint8_t *buf, size_t len)
{
    if (len == 0 || len > DNAME_MAXLEN)
        return false;
    size_t i = 0;
    while (i < len) {
        uint8_t l = buf[i];
        if (l == 0)
            return i + 1 == len;
        if (l > 63)
            return false;
        i += (size_t)l + 1;
    }
    return false;
}

unsigned dname_label_offsets(const uint8_t *name, uint8_t off[DNAME_MAXLABELS])
{
    unsigned n = 0;
    for (size_t i = 0; name[i]; i += (size_t)name[i] + 1)
        off[n++] = (uint8_t)i;
    return n;
}

bool dname_is_subdomain(const uint8_t *name, size_t len, const uint8_t *parent, size_t plen)
{
    if (plen > len)
        return false;
    size_t i = 0;
    /* Walk label boundaries so "xample.com" never matches inside "example.com". */
    while (len - i > plen)
        i += (size_t)name[i] + 1;
    return len - i == plen && memcmp(name + i, parent, plen) == 0;
}

void dname_to_str(const uint8_t *name, char out[DNAME_MAXSTR])
{
    size_t o = 0;
    if (!name[0]) {
        strcpy(out, ".");
        return;
    }
    for (size_t i = 0; name[i]; i += (size_t)name[i] + 1) {
        for (size_t j = 1; j <= name[i]; j++) {
            uint8_t c = name[i + j];
            if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
                c == '@' || c == '$')
            {
                out[o++] = '\\';
                out[o++] = (char)c;
            } else if (c <= 0x20 || c >= 0x7f) {
                o += (size_t)snprintf(out + o, 5, "\\%03u", c);
            } else {
                out[o++] = (char)c;
            }
        }
        out[o++] = '.';
    }
    out[o] = '\0';
}

size_t dname_from_str(const char *s, uint8_t out[DNAME_MAXLEN])
{
    size_t o = 0;
    if (!strcmp(s, "."))
        s = "";
    while (*s) {
        size_t lpos = o++;
        if (lpos >= DNAME_MAXLEN - 1)
            return 0;
        while (*s && *s != '.') {
            unsigned c = (unsigned char)*s++;
            if (c == '\\') {
                if (s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
                    s[2] <= '9')
                {
                    c = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
                        (unsigned)(s[2] - '0');
                    if (c > 255)
                        return 0;
                    s += 3;
                } else if (*s >= '0' && *s <= '9') {
                    return 0; /* RFC 1035 §5.1: \DDD takes exactly three digits */
                } else if (*s) {
                    c = (unsigned char)*s++;
                } else {
                    return 0;
                }
            }
            if (o >= DNAME_MAXLEN - 1 || o - lpos > 63)
                return 0;
            out[o++] = dname_lower((uint8_t)c);
        }
        if (o - lpos - 1 == 0)
            return 0; /* empty label: "a..b" or a leading dot */
        out[lpos] = (uint8_t)(o - lpos - 1);
        if (*s == '.')
            s++;
    }
    out[o++] = 0;
    return o;
}
