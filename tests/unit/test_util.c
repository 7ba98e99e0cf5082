// SPDX-License-Identifier: GPL-2.0-or-later
/* Size, duration and URL parsing; monotonic deadlines; whole writes of
 * an iovec to a socket. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "vofirm/log.h"
#include "vofirm/net.h"
#include "vofirm/util.h"

static void test_sizes(void)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "64K", 64ull << 10 },
		{ "64k", 64ull << 10 },
		{ "64M", 64ull << 20 },
		{ "1G", 1ull << 30 },
		{ "2T", 2ull << 40 },
		{ "64MiB", 64ull << 20 },
		{ "64MB", 64ull << 20 },
		{ "3g", 3ull << 30 },
		{ "16777215T", 16777215ull << 40 },
	};
	static const char *const bad[] = {
		"", "12Q", "G", "-1", "1.5G", "64M x", " 64M", "64MiBs", "0x10", "M64",
	};
	const char *why;
	uint64_t v;

	for (unsigned i = 0; i < VF_ARRAY_SIZE(good); i++) {
		v = 12345;
		CHECK_EQ(vf_parse_size(good[i].s, &v, &why), 0);
		CHECK_EQ(v, good[i].v);
	}
	for (unsigned i = 0; i < VF_ARRAY_SIZE(bad); i++) {
		why = NULL;
		v = 777;
		CHECK_EQ(vf_parse_size(bad[i], &v, &why), -EINVAL);
		CHECK(why != NULL);
		CHECK_EQ(v, 777); /* untouched on error */
	}
	CHECK_EQ(vf_parse_size("12Q", &v, &why), -EINVAL);
	CHECK(strstr(why, "unit") != NULL);
	CHECK_EQ(vf_parse_size("99999999999999999999", &v, &why), -ERANGE);
	CHECK_EQ(vf_parse_size("16777216T", &v, &why), -ERANGE);
	CHECK_EQ(vf_parse_size(NULL, &v, &why), -EINVAL);
}

static void test_format(void)
{
	char b[32];

	CHECK_STR(vf_format_size(0, b, sizeof(b)), "0 B");
	CHECK_STR(vf_format_size(1023, b, sizeof(b)), "1023 B");
	CHECK_STR(vf_format_size(64ull << 20, b, sizeof(b)), "64 MiB");
	CHECK_STR(vf_format_size(3ull << 29, b, sizeof(b)), "1.5 GiB");
	CHECK_STR(vf_format_size(1ull << 40, b, sizeof(b)), "1 TiB");
}

static void test_durations(void)
{
	const char *why;
	uint64_t ms;

	CHECK_EQ(vf_parse_duration("60", &ms, &why), 0);
	CHECK_EQ(ms, 60000);
	CHECK_EQ(vf_parse_duration("60s", &ms, &why), 0);
	CHECK_EQ(ms, 60000);
	CHECK_EQ(vf_parse_duration("500ms", &ms, &why), 0);
	CHECK_EQ(ms, 500);
	CHECK_EQ(vf_parse_duration("2m", &ms, &why), 0);
	CHECK_EQ(ms, 120000);
	CHECK_EQ(vf_parse_duration("1h", &ms, &why), 0);
	CHECK_EQ(ms, 3600000);
	CHECK_EQ(vf_parse_duration("1d", &ms, &why), -EINVAL);
	CHECK_EQ(vf_parse_duration("", &ms, &why), -EINVAL);
	CHECK_EQ(vf_parse_duration("s", &ms, &why), -EINVAL);
	CHECK_EQ(vf_parse_duration("-5s", &ms, &why), -EINVAL);
	CHECK_EQ(vf_parse_duration("99999999999999999h", &ms, &why), -ERANGE);
	/* 30 days at most: a deadline in ns of it cannot wrap */
	CHECK_EQ(vf_parse_duration("720h", &ms, &why), 0);
	CHECK_EQ(ms, VF_DURATION_MAX_MS);
	CHECK_EQ(vf_parse_duration("721h", &ms, &why), -ERANGE);
	CHECK_EQ(vf_parse_duration("6000000h", &ms, &why), -ERANGE);
	CHECK_EQ(vf_parse_duration("2592000001ms", &ms, &why), -ERANGE);
}

static void test_urls(void)
{
	static const char *const bad[] = {
		"ftp://x:1",
		"tcp://",
		"tcp://:7471",
		"tcp://h:99999",
		"tcp://h:12x",
		"127.0.0.1:7471",
		"tcp://[::1",
		"tcp://h h:1",
		"tcp://h:",
		"tcp://h/x",
		"TCP://h:1",
		"tcp//h:1",
		"",
	};
	struct vf_url u;
	const char *why;

	CHECK_EQ(vf_url_parse("tcp://127.0.0.1:7000", &u, &why), 0);
	CHECK_EQ(u.scheme, VF_SCHEME_TCP);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_EQ(u.port, 7000);
	CHECK_STR(u.str, "tcp://127.0.0.1:7000");

	CHECK_EQ(vf_url_parse("tcp://donor1", &u, &why), 0);
	CHECK_EQ(u.port, VF_DEFAULT_PORT);
	CHECK_STR(u.str, "tcp://donor1:7471");

	CHECK_EQ(vf_url_parse("rdma://[fe80::1]:9/", &u, &why), 0);
	CHECK_EQ(u.scheme, VF_SCHEME_RDMA);
	CHECK_STR(u.host, "fe80::1");
	CHECK_EQ(u.port, 9);
	CHECK_STR(u.str, "rdma://[fe80::1]:9");

	CHECK_EQ(vf_url_parse("tcp://0.0.0.0:0", &u, &why), 0);
	CHECK_EQ(u.port, 0);

	for (unsigned i = 0; i < VF_ARRAY_SIZE(bad); i++) {
		why = NULL;
		CHECK_EQ(vf_url_parse(bad[i], &u, &why), -EINVAL);
		CHECK(why != NULL);
	}
}

static void test_all_zero(void)
{
	uint64_t buf[130] = { 0 };
	unsigned char *b = (unsigned char *)buf;

	CHECK(vf_all_zero(b, sizeof(buf)));
	CHECK(vf_all_zero(b + 3, 500));
	b[1000] = 1;
	CHECK(!vf_all_zero(b, sizeof(buf)));
	CHECK(!vf_all_zero(b + 997, 4));
	CHECK(vf_all_zero(b + 1001, 20));
}

/* Deadlines are on the monotonic clock, normalised, and a condvar made by
 * vf_cond_init() times out on them (not on the wall clock). */
static void test_deadlines(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec now, dl;
	uint64_t ns, t0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dl = vf_deadline_ms(1999);
	CHECK(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000);
	ns = (uint64_t)(dl.tv_sec - now.tv_sec) * 1000000000ull + (uint64_t)dl.tv_nsec -
	     (uint64_t)now.tv_nsec;
	CHECK(ns >= 1999000000ull && ns < 2100000000ull);
	dl = vf_deadline_at_ms(12345);
	CHECK_EQ(dl.tv_sec, 12);
	CHECK_EQ(dl.tv_nsec, 345000000);
	CHECK(vf_now_ns() / 1000000 >= vf_now_ms() - 1);

	vf_cond_init(&cv);
	t0 = vf_now_ms();
	dl = vf_deadline_ms(50);
	pthread_mutex_lock(&m);
	CHECK_EQ(pthread_cond_timedwait(&cv, &m, &dl), ETIMEDOUT);
	pthread_mutex_unlock(&m);
	CHECK(vf_now_ms() - t0 >= 49);
	pthread_cond_destroy(&cv);
}

struct sink {
	int fd;
	uint8_t *got;
	size_t cap, len;
};

static void *drain(void *arg)
{
	struct sink *k = arg;
	ssize_t n;

	/* small reads, slowly: the writer waits for room again and again */
	while (k->len < k->cap && (n = read(k->fd, k->got + k->len, 1000)) > 0) {
		k->len += (size_t)n;
		if (k->len % 16 < 4)
			usleep(200);
	}
	return NULL;
}

static void on_alarm(int sig)
{
}

static int hook_calls;

static void count_hook(void)
{
	hook_calls++;
}

/* vf_writev_unchecked() (the TCP transport's batches): every byte of 129
 * pieces, in order, through a socket whose buffer holds a few of them,
 * its sends interrupted by a signal every millisecond (no SA_RESTART: a
 * send interrupted after some bytes returns short, one before any fails
 * with EINTR, and both go on where they stopped); the hook called once,
 * before the first send that waits, and not for a send that does not
 * wait; and a peer that is gone is an error, not a SIGPIPE. */
static void test_writev_unchecked(void)
{
	enum { PIECES = 129, PIECE = 4096 + 37 };
	struct iovec iov[PIECES];
	uint8_t *src = malloc((size_t)PIECES * PIECE);
	struct sink k = { .cap = (size_t)PIECES * PIECE };
	struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
	struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } }, off = { { 0, 0 }, { 0, 0 } };
	sigset_t alrm, prev;
	int sv[2], small = 4096;
	pthread_t th;

	k.got = malloc(k.cap);
	CHECK(src && k.got);
	if (!src || !k.got)
		return;
	for (size_t i = 0; i < k.cap; i++)
		src[i] = (uint8_t)(i * 7 + i / 4099);
	for (unsigned i = 0; i < PIECES; i++)
		iov[i] = (struct iovec){ src + (size_t)i * PIECE, PIECE };
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	k.fd = sv[1];
	/* the reader never takes the signal: only the writer is interrupted */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &prev);
	CHECK_EQ(pthread_create(&th, NULL, drain, &k), 0);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	sigaction(SIGALRM, &sa, &old_sa);
	setitimer(ITIMER_REAL, &every_ms, NULL);
	CHECK_EQ(vf_writev_unchecked(sv[0], iov, PIECES, count_hook), 0);
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK_EQ(hook_calls, 1);
	sigaction(SIGALRM, &old_sa, NULL);
	close(sv[0]);
	pthread_join(th, NULL);
	CHECK_EQ(k.len, k.cap);
	CHECK(memcmp(k.got, src, k.cap) == 0);

	/* the peer has closed: -EPIPE, and the process lives on */
	iov[0] = (struct iovec){ src, PIECE };
	CHECK_EQ(vf_writev_unchecked(sv[1], iov, 1, NULL), -EPIPE);
	close(sv[1]);

	/* room for all of it: no wait, no hook */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	hook_calls = 0;
	iov[0] = (struct iovec){ src, PIECE };
	CHECK_EQ(vf_writev_unchecked(sv[0], iov, 1, count_hook), 0);
	CHECK_EQ(hook_calls, 0);
	close(sv[0]);
	close(sv[1]);
	free(src);
	free(k.got);
}

int main(void)
{
	vf_log_init("test_util", LOG_CRIT);
	UNIT_RUN(test_sizes);
	UNIT_RUN(test_format);
	UNIT_RUN(test_durations);
	UNIT_RUN(test_urls);
	UNIT_RUN(test_all_zero);
	UNIT_RUN(test_deadlines);
	UNIT_RUN(test_writev_unchecked);
	return unit_done();
}
