/* SPDX-License-Identifier: MIT */
/* cpus.c: see cpus.h. */
#include "config.h"
#include "cpus.h"

#include <sched.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int cpus_thread_start(pthread_t *t, const unsigned *cpu, size_t n, void *(*fn)(void *),
                      void *arg)
{
    if (!n)
        return pthread_create(t, NULL, fn, arg);
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (size_t i = 0; i < n; i++)
        if (cpu[i] < CPU_SETSIZE)
            CPU_SET(cpu[i], &set);
    rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    if (rc == 0)
        rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

const char *cpus_strerror(int rc)
{
    if (rc == EINVAL)
        return "the CPU is offline or outside the CPUs this process may use (its cpuset)";
    return strerror(rc);
}

void cpus_str(const unsigned *cpu, size_t n, char *buf, size_t size)
{
    size_t off = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < n && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%u", i ? "," : "", cpu[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}
