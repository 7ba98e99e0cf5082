// SPDX-License-Identifier: GPL-2.0-or-later
/* vofirm-memd settings: config file, command line, precedence, checks. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/memd/memd.h"
#include "unit.h"
#include "vofirm/log.h"

static char dir[] = "/tmp/vofirm-test-settings-XXXXXX";

static const char *conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int parse(struct memd_settings *s, int argc, const char **argv)
{
	memd_settings_free(s);
	memd_settings_init(s);
	return memd_settings_parse_args(s, argc, (char **)argv);
}

static void test_defaults(void)
{
	struct memd_settings s;

	memd_settings_init(&s);
	CHECK_EQ(s.slab_size, 64 << 20);
	CHECK_EQ(s.lease_ms, 60000);
	CHECK_EQ(s.max_clients, 256);
	CHECK_EQ(s.log_level, LOG_INFO);
	CHECK_EQ(s.nlisten, 0);
	CHECK_EQ(s.donate, 0);
	CHECK(s.key_file == NULL);
	CHECK(!s.no_auth);
	CHECK(!s.mlock);
	CHECK(!s.hugepages);
	CHECK_EQ(memd_settings_check(&s), -EINVAL); /* nothing to listen on */
	memd_settings_free(&s);
}

static void test_config_file(void)
{
	struct memd_settings s;
	const char *p = conf("good.conf",
			     "# a comment\n[memd]\nlisten=tcp://127.0.0.1:7000;tcp://[::1]:7001\n"
			     "donate=1G\nslab-size=16M\nkey-file=/etc/vofirm/key\nlease=90s\n"
			     "mlock=true\nhugepages=no\nmax-clients=10\nlog-level=debug\n");

	memd_settings_init(&s);
	CHECK_EQ(memd_settings_load(&s, p), 0);
	CHECK_EQ(s.nlisten, 2);
	CHECK_STR(s.listen[0], "tcp://127.0.0.1:7000");
	CHECK_STR(s.listen[1], "tcp://[::1]:7001");
	CHECK_EQ(s.donate, 1 << 30);
	CHECK_EQ(s.slab_size, 16 << 20);
	CHECK_STR(s.key_file, "/etc/vofirm/key");
	CHECK_EQ(s.lease_ms, 90000);
	CHECK(s.mlock);
	CHECK(!s.hugepages);
	CHECK_EQ(s.max_clients, 10);
	CHECK_EQ(s.log_level, LOG_DEBUG);
	memd_settings_free(&s);
}

static void test_config_errors(void)
{
	struct memd_settings s;

	memd_settings_init(&s);
	CHECK_EQ(memd_settings_load(&s, "/nonexistent/memd.conf"), -ENOENT);
	CHECK_EQ(memd_settings_load(&s, conf("nogroup.conf", "[other]\ndonate=1G\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("unknown.conf", "[memd]\ndonat=1G\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("badsize.conf", "[memd]\ndonate=12Q\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("zero.conf", "[memd]\ndonate=0\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("badbool.conf", "[memd]\nmlock=maybe\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("badurl.conf", "[memd]\nlisten=udp://x:1\n")),
		 -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("badlease.conf", "[memd]\nlease=soon\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("syntax.conf", "[memd\ndonate=1G\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("clients.conf", "[memd]\nmax-clients=0\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("nokey.conf", "[memd]\nkey-file=\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("level.conf", "[memd]\nlog-level=loud\n")), -EINVAL);
	memd_settings_free(&s);
}

/* The flags of the command line are the booleans of the file. */
static void test_flags(void)
{
	struct memd_settings s;
	const char *argv[] = { "vofirm-memd", "--no-auth", "--mlock", "--hugepages", "-v", NULL };
	const char *p = conf("flags.conf", "[memd]\nno-auth=yes\nmlock=1\nhugepages=false\n");

	memd_settings_init(&s);
	CHECK_EQ(parse(&s, 5, argv), 0);
	CHECK(s.no_auth);
	CHECK(s.mlock);
	CHECK(s.hugepages);
	CHECK_EQ(s.log_level, LOG_DEBUG);
	memd_settings_free(&s);

	memd_settings_init(&s);
	CHECK_EQ(memd_settings_load(&s, p), 0);
	CHECK(s.no_auth);
	CHECK(s.mlock);
	CHECK(!s.hugepages);
	/* command-line-only options are not settings */
	CHECK_EQ(memd_settings_load(&s, conf("verbose.conf", "[memd]\nverbose=true\n")), -EINVAL);
	CHECK_EQ(memd_settings_load(&s, conf("config.conf", "[memd]\nconfig=x\n")), -EINVAL);
	memd_settings_free(&s);
}

static void test_listen(void)
{
	struct memd_settings s;
	char url[64];

	memd_settings_init(&s);
	CHECK_EQ(memd_settings_set(&s, "listen", "mem://1G", "t"), -EINVAL);
	CHECK_EQ(memd_settings_set(&s, "listen", "rdma://[::1]:7", "t"), 0);
	for (unsigned i = 1; i < MEMD_MAX_LISTEN; i++) {
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", 7000 + i);
		CHECK_EQ(memd_settings_set(&s, "listen", url, "t"), 0);
	}
	CHECK_EQ(s.nlisten, MEMD_MAX_LISTEN);
	CHECK_EQ(memd_settings_set(&s, "listen", "tcp://127.0.0.1:1", "t"), -EINVAL);
	CHECK_EQ(s.nlisten, MEMD_MAX_LISTEN);
	memd_settings_free(&s);
}

static void test_command_line_wins(void)
{
	struct memd_settings s;
	const char *p = conf("base.conf",
			     "[memd]\nlisten=tcp://127.0.0.1:7000;tcp://127.0.0.1:7001\ndonate=1G\n"
			     "no-auth=true\nlease=10s\n");
	const char *argv[] = {
		"vofirm-memd",		"--config",   p,   "--donate", "2G", "--listen",
		"tcp://127.0.0.1:9000", "--lease=5s", NULL
	};

	memd_settings_init(&s);
	CHECK_EQ(parse(&s, 8, argv), 0);
	CHECK_EQ(s.donate, 2ull << 30);
	CHECK_EQ(s.nlisten, 1); /* the command line's list replaces the file's */
	CHECK_STR(s.listen[0], "tcp://127.0.0.1:9000");
	CHECK_EQ(s.lease_ms, 5000);
	CHECK(s.no_auth); /* from the file */
	CHECK_EQ(memd_settings_check(&s), 0);

	/* the file alone */
	const char *argv2[] = { "vofirm-memd", "-c", p, NULL };

	CHECK_EQ(parse(&s, 3, argv2), 0);
	CHECK_EQ(s.nlisten, 2);
	CHECK_EQ(s.donate, 1ull << 30);
	memd_settings_free(&s);
}

static void test_bad_command_lines(void)
{
	struct memd_settings s;
	const char *a1[] = { "m", "--donate", "12Q", NULL };
	const char *a2[] = { "m", "--listen", "nonsense", NULL };
	const char *a3[] = { "m", "--bogus", NULL };
	const char *a4[] = { "m", "--donate", NULL };
	const char *a5[] = { "m", "--config", "/nonexistent.conf", NULL };
	const char *a6[] = { "m", "extra", NULL };
	const char *a7[] = { "m", "--donate", "0", NULL };
	const char *a8[] = { "m", "--max-clients", "65537", NULL };
	const char *a9[] = { "m", "--mlock=yes", NULL };

	memd_settings_init(&s);
	CHECK_EQ(parse(&s, 3, a1), -EINVAL);
	CHECK_EQ(parse(&s, 3, a2), -EINVAL);
	CHECK_EQ(parse(&s, 2, a3), -EINVAL);
	CHECK_EQ(parse(&s, 2, a4), -EINVAL);
	CHECK_EQ(parse(&s, 3, a5), -EINVAL);
	CHECK_EQ(parse(&s, 2, a6), -EINVAL);
	CHECK_EQ(parse(&s, 3, a7), -EINVAL);
	CHECK_EQ(parse(&s, 3, a8), -EINVAL);
	CHECK_EQ(parse(&s, 2, a9), -EINVAL);
	memd_settings_free(&s);
}

static void test_checks(void)
{
	struct memd_settings s;

	memd_settings_init(&s);
	memd_settings_set(&s, "listen", "tcp://127.0.0.1:0", "t");
	s.no_auth = true;
	s.donate = 256 << 20;
	CHECK_EQ(memd_settings_check(&s), 0);
	s.donate = 100 << 20; /* not whole slabs */
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.donate = 32 << 20; /* less than a slab */
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.donate = 256 << 20;
	s.slab_size = 48 << 20; /* not a power of two */
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.slab_size = 4096; /* too small */
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.slab_size = 1 << 20;
	s.hugepages = true; /* slab smaller than a huge page */
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.hugepages = false;
	s.key_file = strdup("/k");
	CHECK_EQ(memd_settings_check(&s), -EINVAL); /* key and --no-auth */
	s.no_auth = false;
	CHECK_EQ(memd_settings_check(&s), 0);
	free(s.key_file);
	s.key_file = NULL;
	CHECK_EQ(memd_settings_check(&s), -EINVAL); /* neither key nor --no-auth */
	s.no_auth = true;
	s.donate = 1ull << 50; /* more than this machine has */
	s.slab_size = 1ull << 30;
	CHECK_EQ(memd_settings_check(&s), -EINVAL);
	s.donate = 256 << 20;
	s.slab_size = 1 << 20;
	memd_settings_set(&s, "listen", "rdma://127.0.0.1:0", "t");
	CHECK_EQ(memd_settings_check(&s), 0); /* whether RDMA works is found out at listen */
	memd_settings_free(&s);
}

int main(void)
{
	vf_log_init("test_memd_settings", LOG_CRIT);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_config_file);
	UNIT_RUN(test_config_errors);
	UNIT_RUN(test_flags);
	UNIT_RUN(test_listen);
	UNIT_RUN(test_command_line_wins);
	UNIT_RUN(test_bad_command_lines);
	UNIT_RUN(test_checks);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
			/* a leftover temp dir is harmless */
		}
	}
	return unit_done();
}
