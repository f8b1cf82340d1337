/* SPDX-License-Identifier: MIT */
/* compiler.h: attribute macros shared by every module. */
#ifndef HADNS_COMPILER_H
#define HADNS_COMPILER_H

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NONNULL __attribute__((nonnull))
#define WUNUSED __attribute__((warn_unused_result))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#define HOT __attribute__((hot))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define COLD __attribute__((cold))
#define UNUSED __attribute__((unused))
#define NORETURN __attribute__((noreturn))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
