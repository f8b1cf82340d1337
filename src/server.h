/* SPDX-License-Identifier: MIT */
/* server.h: wiring of config, zones, snapshot and workers; the main event loop with its signals
 * and the background zone reload. */
#ifndef HADNS_SERVER_H
#define HADNS_SERVER_H

#include <stdbool.h>

#include "compiler.h"
#include "conf.h"

/* Loads the zones, binds the listeners, runs until SIGTERM/SIGINT. Takes cfg. Returns the
 * process exit status (0 after a clean stop, 1 if it could not start). [main] */
int server_run(cfg_t *cfg);

/* Loads every configured zone and reports each failure ("file:line: reason") on stderr;
 * true if all loaded. For --check-config. [main] */
bool server_check_zones(const cfg_t *cfg);

#endif
