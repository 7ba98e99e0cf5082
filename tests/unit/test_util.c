// SPDX-License-Identifier: GPL-2.0-or-later
/* Size, duration and URL parsing; monotonic deadlines. */
#include <errno.h>

#include "unit.h"
#include "vofirm/log.h"
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

int main(void)
{
	vf_log_init("test_util", LOG_CRIT);
	UNIT_RUN(test_sizes);
	UNIT_RUN(test_format);
	UNIT_RUN(test_durations);
	UNIT_RUN(test_urls);
	UNIT_RUN(test_all_zero);
	UNIT_RUN(test_deadlines);
	return unit_done();
}
