// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-rmix: a Redis load for the case study, over a unix socket.
 *   fill SOCKET NKEYS VALSIZE            SET key:0..N-1 (values derived from the key)
 *   mix SOCKET OPS GETPCT NKEYS VALSIZE  OPS random requests, GETPCT % GETs, the rest
 *                                        SETs, 32 in flight; every GET value checked
 * Prints ops/s.  Exit 1 when a value read back is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd;
static char in[1 << 20];
static size_t inlen, inpos;
static unsigned vsize;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void value(unsigned long k, char *v)
{
	for (unsigned i = 0; i < vsize; i++)
		v[i] = (char)('a' + (k * 31 + i) % 26);
}

static void put(const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			perror("write");
			exit(2);
		}
		b += w;
		n -= (size_t)w;
	}
}

static int getc_(void)
{
	if (inpos == inlen) {
		ssize_t r = read(fd, in, sizeof(in));

		if (r <= 0) {
			fprintf(stderr, "rmix: connection closed\n");
			exit(2);
		}
		inlen = (size_t)r;
		inpos = 0;
	}
	return in[inpos++];
}

/* One reply; for a bulk string its bytes go to out (len in *n). */
static char reply(char *out, long *n)
{
	char t = (char)getc_(), line[64];
	int i = 0;

	while ((line[i] = (char)getc_()) != '\n' && i < 62)
		i++;
	line[i] = 0;
	*n = -1;
	if (t == '$') {
		*n = atol(line);
		for (long k = 0; k < *n; k++)
			out[k < (long)vsize ? k : vsize] = (char)getc_();
		if (*n >= 0) {
			getc_();
			getc_();
		}
	}
	return t;
}

static void send_cmd(int get, unsigned long k, char *v)
{
	char key[32], buf[256 + 65536];
	int kl = snprintf(key, sizeof(key), "key:%lu", k), n;

	if (get) {
		n = snprintf(buf, sizeof(buf), "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
	} else {
		n = snprintf(buf, sizeof(buf), "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%u\r\n", kl, key,
			     vsize);
		value(k, v);
		memcpy(buf + n, v, vsize);
		n += (int)vsize;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	put(buf, (size_t)n);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *v, *got, *want;
	unsigned long ops, nkeys, bad = 0;
	unsigned getpct = 0;
	double t0;

	if (argc < 5) {
		fprintf(stderr,
			"usage: rmix fill SOCKET NKEYS VALSIZE | mix SOCKET OPS GETPCT NKEYS VALSIZE\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror(argv[2]);
		return 2;
	}
	if (!strcmp(argv[1], "fill")) {
		nkeys = strtoul(argv[3], NULL, 0);
		ops = nkeys;
		vsize = (unsigned)strtoul(argv[4], NULL, 0);
	} else {
		ops = strtoul(argv[3], NULL, 0);
		getpct = (unsigned)strtoul(argv[4], NULL, 0);
		nkeys = strtoul(argv[5], NULL, 0);
		vsize = (unsigned)strtoul(argv[6], NULL, 0);
	}
	v = malloc(vsize + 1);
	got = malloc(vsize + 1);
	want = malloc(vsize + 1);
	unsigned long *q = calloc(32, sizeof(*q)), x = 2463534242ul;
	int *isget = calloc(32, sizeof(*isget));
	unsigned long sent = 0, done = 0;

	t0 = now();
	while (done < ops) {
		while (sent < ops && sent - done < 32) {
			unsigned long k;
			int g;

			if (!strcmp(argv[1], "fill")) {
				k = sent;
				g = 0;
			} else {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				k = x % nkeys;
				g = (x >> 20) % 100 < getpct;
			}
			q[sent % 32] = k;
			isget[sent % 32] = g;
			send_cmd(g, k, v);
			sent++;
		}
		long n;
		char t = reply(got, &n);

		if (isget[done % 32]) {
			value(q[done % 32], want);
			if (t != '$' || n != (long)vsize || memcmp(got, want, vsize))
				bad++;
		} else if (t != '+') {
			bad++;
		}
		done++;
	}
	double dt = now() - t0;

	printf("rmix %s: %lu requests (%u%% GET) in %.2f s: %.0f ops/s, %lu bad\n", argv[1], ops,
	       getpct, dt, (double)ops / dt, bad);
	return bad ? 1 : 0;
}
