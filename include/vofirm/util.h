/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing and formatting helpers shared by all vofirm programs. */
#ifndef VOFIRM_UTIL_H
#define VOFIRM_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VF_DEFAULT_PORT 7471

#define VF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/*
 * "4096", "64K", "64M", "1G", "2T" (powers of 1024; "KiB", "MB" and lower
 * case accepted).  Returns 0, -EINVAL (syntax: *why says what) or -ERANGE.
 */
int vf_parse_size(const char *s, uint64_t *out, const char **why);

/* The longest duration any setting takes: 30 days.  A deadline of that
 * many ms in ns, or as an unsigned int of ms, does not overflow. */
#define VF_DURATION_MAX_MS (720ull * 3600000)

/* "60", "60s", "500ms", "2m", "1h" into milliseconds; more than
 * VF_DURATION_MAX_MS is -ERANGE (*why says so). */
int vf_parse_duration(const char *s, uint64_t *ms, const char **why);

/* "64 MiB", "1.5 GiB", "512 B": for messages.  Returns buf. */
char *vf_format_size(uint64_t bytes, char *buf, size_t len);

enum vf_scheme { VF_SCHEME_TCP = 1, VF_SCHEME_RDMA = 2, VF_SCHEME_MEM = 3 };

struct vf_url {
	enum vf_scheme scheme;
	char host[256]; /* without brackets for IPv6 */
	uint16_t port;
	char str[300]; /* canonical "tcp://host:port", for messages */
};

/*
 * "tcp://HOST[:PORT]", "rdma://HOST[:PORT]" (and "mem://SIZE", an in-process
 * pool for benchmarks), HOST a name, an IPv4
 * address or a bracketed IPv6 address; PORT defaults to 7471, 0 means
 * "any" (servers only).  Returns 0 or -EINVAL with *why set.
 */
int vf_url_parse(const char *s, struct vf_url *u, const char **why);

/* 1 when all n bytes are zero. */
int vf_all_zero(const void *p, size_t n);

/*
 * Time.  Every wait and deadline in vofirm runs on CLOCK_MONOTONIC, so a
 * wall clock stepped back (NTP, an operator) never stretches a timeout,
 * and one stepped forward never cuts it short.
 */

/* Milliseconds (nanoseconds) of CLOCK_MONOTONIC. */
uint64_t vf_now_ms(void);
uint64_t vf_now_ns(void);

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void vf_cond_init(pthread_cond_t *cv);

/* For pthread_cond_timedwait() on a vf_cond_init() condvar: the absolute
 * time `ms` from now, and the time vf_now_ms() will read as `at_ms`. */
struct timespec vf_deadline_ms(uint64_t ms);
struct timespec vf_deadline_at_ms(uint64_t at_ms);

#endif
