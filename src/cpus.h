/* SPDX-License-Identifier: MIT */
/* cpus.h: CPU lists from the config ("worker_cpus", "health.cpus") and starting a thread pinned
 * to one. Pinning is set at pthread_create, so the thread never runs a first instruction
 * elsewhere and a CPU the kernel refuses is an error of the start, not a warning later. */
#ifndef HADNS_CPUS_H
#define HADNS_CPUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

/* CPU numbers as the kernel counts them (taskset -c, /proc/cpuinfo). */
#define CPUS_MAX 1024

/* Starts fn(arg) as a thread allowed to run only on the n CPUs of cpu (n == 0: anywhere, as
 * plain pthread_create). Returns pthread_create's result: 0, or an errno value (EINVAL when
 * none of the CPUs is online or allowed to this process). [any] */
int cpus_thread_start(pthread_t *t, const unsigned *cpu, size_t n, void *(*fn)(void *),
                      void *arg) WUNUSED;

/* rc from cpus_thread_start as text; EINVAL gets its likely cause spelled out. [any] */
const char *cpus_strerror(int rc);

/* Writes "0,2,5" into buf (truncated to size, always terminated); for logs and errors. [any] */
void cpus_str(const unsigned *cpu, size_t n, char *buf, size_t size);

#endif
