// SPDX-License-Identifier: GPL-2.0-or-later
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vofirm/util.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

/* Leading decimal digits into *v; returns the rest or NULL on overflow. */
static const char *parse_uint(const char *s, uint64_t *v, int *ndigits)
{
	uint64_t x = 0;
	int n = 0;

	for (; isdigit((unsigned char)*s); s++, n++) {
		unsigned d = (unsigned)(*s - '0');

		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
	}
	*v = x;
	*ndigits = n;
	return s;
}

int vf_parse_size(const char *s, uint64_t *out, const char **why)
{
	static const char units[] = "KMGT";
	uint64_t v;
	const char *p;
	const char *u;
	int nd, shift = 0;

	if (!s || !*s)
		return fail(why, "empty size");
	p = parse_uint(s, &v, &nd);
	if (!p) {
		if (why)
			*why = "size too large";
		return -ERANGE;
	}
	if (nd == 0)
		return fail(why, "size must start with a number");
	if (*p) {
		u = strchr(units, toupper((unsigned char)*p));
		if (!u)
			return fail(why, "unknown unit suffix (use K, M, G or T)");
		shift = 10 * (int)(u - units + 1);
		p++;
		if (!strcasecmp(p, "iB") || !strcasecmp(p, "B"))
			p += strlen(p);
		if (*p)
			return fail(why, "unexpected characters after the unit");
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		if (why)
			*why = "size too large";
		return -ERANGE;
	}
	*out = v << shift;
	return 0;
}

int vf_parse_duration(const char *s, uint64_t *ms, const char **why)
{
	uint64_t v, mul;
	const char *p;
	int nd;

	if (!s || !*s)
		return fail(why, "empty duration");
	p = parse_uint(s, &v, &nd);
	if (!p || nd == 0)
		return fail(why,
			    "duration must be a whole number with an optional unit (ms, s, m, h)");
	if (!*p || !strcmp(p, "s"))
		mul = 1000;
	else if (!strcmp(p, "ms"))
		mul = 1;
	else if (!strcmp(p, "m"))
		mul = 60000;
	else if (!strcmp(p, "h"))
		mul = 3600000;
	else
		return fail(why, "unknown duration unit (use ms, s, m or h)");
	if (v > VF_DURATION_MAX_MS / mul) {
		if (why)
			*why = "duration too large (at most 720h)";
		return -ERANGE;
	}
	*ms = v * mul;
	return 0;
}

char *vf_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;

	while (u + 1 < VF_ARRAY_SIZE(units) && bytes >= (1ull << (10 * (u + 1))))
		u++;
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else if (bytes % (1ull << (10 * u)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", bytes >> (10 * u), units[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ull << (10 * u)), units[u]);
	return buf;
}

int vf_url_parse(const char *s, struct vf_url *u, const char **why)
{
	const char *p, *host, *end;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	if (!s)
		return fail(why, "empty address");
	if (!strncmp(s, "tcp://", 6)) {
		u->scheme = VF_SCHEME_TCP;
		p = s + 6;
	} else if (!strncmp(s, "rdma://", 7)) {
		u->scheme = VF_SCHEME_RDMA;
		p = s + 7;
	} else if (!strncmp(s, "mem://", 6)) {
		u->scheme = VF_SCHEME_MEM;
		p = s + 6;
	} else {
		return fail(
			why,
			"address must start with tcp://, rdma:// or (a client's own pool) mem://");
	}

	if (*p == '[') {
		host = p + 1;
		end = strchr(host, ']');
		if (!end)
			return fail(why, "missing ']' after an IPv6 address");
		hlen = (size_t)(end - host);
		p = end + 1;
	} else {
		host = p;
		hlen = strcspn(p, ":/");
		p += hlen;
		for (size_t i = 0; i < hlen; i++) {
			char c = host[i];

			if (!isalnum((unsigned char)c) && c != '.' && c != '-' && c != '_')
				return fail(why,
					    "host name has characters a host name cannot have");
		}
	}
	if (hlen == 0)
		return fail(why, "no host in the address");
	if (hlen >= sizeof(u->host))
		return fail(why, "host name too long");
	memcpy(u->host, host, hlen);

	u->port = VF_DEFAULT_PORT;
	if (*p == ':') {
		uint64_t port;
		int nd;
		const char *q = parse_uint(p + 1, &port, &nd);

		if (!q || nd == 0 || port > 65535)
			return fail(why, "port must be a number from 0 to 65535");
		u->port = (uint16_t)port;
		p = q;
	}
	if (*p == '/' && p[1] == '\0')
		p++;
	if (*p)
		return fail(why, "unexpected characters after host:port");

	if (u->scheme == VF_SCHEME_MEM)
		snprintf(u->str, sizeof(u->str), "mem://%s", u->host);
	else
		snprintf(u->str, sizeof(u->str),
			 strchr(u->host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
			 u->scheme == VF_SCHEME_TCP ? "tcp" : "rdma", u->host, u->port);
	return 0;
}

int vf_all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	/* word at a time: zero checks run over whole slabs */
	while (n && ((uintptr_t)c & 7)) {
		if (*c++)
			return 0;
		n--;
	}
	for (; n >= 8; n -= 8, c += 8)
		if (*(const uint64_t *)(const void *)c)
			return 0;
	while (n--)
		if (*c++)
			return 0;
	return 1;
}

uint64_t vf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t vf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vf_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

struct timespec vf_deadline_ms(uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

struct timespec vf_deadline_at_ms(uint64_t at_ms)
{
	return (struct timespec){ .tv_sec = (time_t)(at_ms / 1000),
				  .tv_nsec = (long)(at_ms % 1000) * 1000000 };
}
