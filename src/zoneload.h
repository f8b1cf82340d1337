/* SPDX-License-Identifier: MIT */
/* zoneload.h: RFC 1035 zone files -> zone_t, with errors that name the file and line. */
#ifndef HADNS_ZONELOAD_H
#define HADNS_ZONELOAD_H

#include <stdbool.h>
#include <sys/stat.h>

#include "compiler.h"
#include "err.h"
#include "zonedb.h"

/* Parses the zone file at path for the zone named origin (presentation form). Returns an owned
 * zone with one reference, or NULL with err set to "path:line: reason". Never touches a zone
 * being served. [any thread; the reload thread in practice] */
zone_t *zoneload_file(const char *origin, const char *path, hadns_err_t *err) NONNULL;

/* True if the file at path differs (inode, size, mtime or ctime) from what zone was loaded
 * from, or cannot be read (so that the reload reports why). [any] */
bool zoneload_changed(const zone_t *zone, const char *path) NONNULL;

#endif
