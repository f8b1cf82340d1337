/* SPDX-License-Identifier: MIT */
/* conf_policy.h: the config module's inside, shared by conf.c and conf_policy.c (the
 * "policies" and "geoip" keys). Nothing outside the config module includes it. */
#ifndef HADNS_CONF_POLICY_H
#define HADNS_CONF_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "conf.h"
#include "dname.h"

/* Makes the absolute presentation form of owner in zone: "@" is the apex, a name with a
 * trailing dot is absolute, anything else is relative to the zone (as in a zone file). False
 * if the result is not a valid name inside the zone. */
bool conf_owner_abs(const char *zone, const char *owner, char out[DNAME_MAXSTR]) NONNULL;

/* The "policies" key: an array of policy objects into c->policies. Errors are
 * "path: policies[i].key...: reason". [main] */
bool conf_policies_parse(cfg_t *c, const char *path, const char *key, json_t *v,
                         hadns_err_t *err) __attribute__((nonnull(1, 2, 3)));
/* Checks what needs the whole config (zones, checks, templates, geoip) once it is read. */
bool conf_policies_check(cfg_t *c, const char *path, hadns_err_t *err) NONNULL;
void conf_policies_free(cfg_t *c) NONNULL;

#endif
