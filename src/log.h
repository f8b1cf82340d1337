/* SPDX-License-Identifier: MIT */
/* log.h: leveled logging to stderr. */
#ifndef HADNS_LOG_H
#define HADNS_LOG_H

#include <stdbool.h>

#include "compiler.h"

enum log_level { LOG_LVL_ERR, LOG_LVL_WARNING, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the most verbose level printed; the default is info. [main, before threads start] */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "error|warning|notice|info|debug"; false if unknown. [any] */
bool log_level_parse(const char *s, enum log_level *out) NONNULL;

/* Writes one line "hadnsd: LEVEL: message" to stderr. The *_warn variants append
 * ": strerror(errno)". [any thread; one write(2) per line so threads do not interleave] */
void log_msg(enum log_level lvl, const char *fmt, ...) PRINTF(2, 3);
void log_errno(enum log_level lvl, const char *fmt, ...) PRINTF(2, 3);

#define log_err(...) log_errno(LOG_LVL_ERR, __VA_ARGS__)
#define log_errx(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_errno(LOG_LVL_WARNING, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
