// SPDX-License-Identifier: GPL-2.0-or-later
/* vofirm-fs settings: defaults, config file, command line, precedence, checks. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/fs/fs.h"
#include "unit.h"
#include "vofirm/log.h"

static char dir[] = "/tmp/vofirm-test-fs-settings-XXXXXX";

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

/* argv is NULL-terminated; s starts from the defaults. */
static int parse_argv(struct fs_settings *s, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	fs_settings_free(s);
	fs_settings_init(s);
	return fs_settings_parse_args(s, argc, argv);
}

#define parse(s, ...) parse_argv(s, (char *[]){ "vofirm-fs", __VA_ARGS__, NULL })

static void test_defaults(void)
{
	struct fs_settings s;

	fs_settings_init(&s);
	CHECK_EQ(s.read_timeout_ms, 10000);
	CHECK_EQ(s.io_timeout_ms, 5000);
	CHECK_EQ(s.connect_timeout_ms, 3000);
	CHECK_EQ(s.readahead, 128 << 10);
	CHECK_EQ(s.max_background, 64);
	CHECK_EQ(s.threads, 8);
	CHECK_EQ(s.bdi_max_ratio, 50);
	CHECK(s.mlock);
	CHECK(!s.foreground);
	CHECK(!s.debug);
	CHECK_EQ(s.log_level, LOG_INFO);
	CHECK_EQ(s.nservers, 0);
	CHECK(s.key_file == NULL && s.name == NULL && s.mountpoint == NULL && s.fuse_opts == NULL);
	CHECK_EQ(fs_settings_check(&s), -EINVAL); /* no mount point, no server */
	fs_settings_free(&s);
}

static void test_config_file(void)
{
	struct fs_settings s;
	const char *p =
		conf("good.conf",
		     "[fs]\nserver = tcp://a:7471; rdma://b:7471\nkey-file = /k\nname = host1\n"
		     "read-timeout = 7s\nio-timeout = 500ms\nconnect-timeout = 1m\nreadahead = 1M\n"
		     "max-background = 12\nthreads = 2\nbdi-max-ratio = 0\nmlock = false\n"
		     "log-level = warning\n");

	fs_settings_init(&s);
	CHECK_EQ(fs_settings_load(&s, p), 0);
	CHECK_EQ(s.nservers, 2);
	CHECK_STR(s.servers[0], "tcp://a:7471");
	CHECK_STR(s.servers[1], "rdma://b:7471");
	CHECK_STR(s.key_file, "/k");
	CHECK_STR(s.name, "host1");
	CHECK_EQ(s.read_timeout_ms, 7000);
	CHECK_EQ(s.io_timeout_ms, 500);
	CHECK_EQ(s.connect_timeout_ms, 60000);
	CHECK_EQ(s.readahead, 1 << 20);
	CHECK_EQ(s.max_background, 12);
	CHECK_EQ(s.threads, 2);
	CHECK_EQ(s.bdi_max_ratio, 0);
	CHECK(!s.mlock);
	CHECK_EQ(s.log_level, LOG_WARNING);
	fs_settings_free(&s);
}

static void test_config_errors(void)
{
	static const char *const bad[] = {
		"[fs]\nserver = nowhere\n",
		"[fs]\nserver = tcp://a:0\n",
		"[fs]\nread-timeout = soon\n",
		"[fs]\nio-timeout = 0\n",
		"[fs]\nreadahead = 12Q\n",
		"[fs]\nreadahead = 32M\n",
		"[fs]\nthreads = 0\n",
		"[fs]\nthreads = 257\n",
		"[fs]\nmax-background = 65536\n",
		"[fs]\nbdi-max-ratio = 101\n",
		"[fs]\nmlock = maybe\n",
		"[fs]\nname = \n",
		"[fs]\nname = 0123456789012345678901234567890123456789012345678901234567890123x\n",
		"[fs]\nno-mlock = true\n",   /* the key is mlock */
		"[fs]\nforeground = true\n", /* command line only */
		"[fs]\nverbose = true\n",
		"[memd]\nthreads = 2\n",
	};
	struct fs_settings s;

	fs_settings_init(&s);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = fs_settings_load(&s, conf("bad.conf", bad[i]));

		if (ret != -EINVAL)
			fprintf(stderr, "accepted: %s", bad[i]);
		CHECK_EQ(ret, -EINVAL);
	}
	CHECK_EQ(fs_settings_load(&s, "/nonexistent/fs.conf"), -ENOENT);
	fs_settings_free(&s);
}

static void test_command_line(void)
{
	struct fs_settings s = { 0 };
	const char *p =
		conf("base.conf",
		     "[fs]\nserver = tcp://a:1;tcp://b:1\nread-timeout = 7s\nthreads = 3\n");

	CHECK_EQ(parse(&s, "mnt", "--config", (char *)p, "-S", "tcp://c:1", "--read-timeout", "4s",
		       "--no-mlock", "-f", "-o", "allow_other", "-o", "ro", "-n", "me", "-v"),
		 0);
	CHECK_STR(s.mountpoint, "mnt");
	CHECK_EQ(s.nservers, 1); /* the command line's list replaces the file's */
	CHECK_STR(s.servers[0], "tcp://c:1");
	CHECK_EQ(s.read_timeout_ms, 4000);
	CHECK_EQ(s.threads, 3); /* from the file */
	CHECK(!s.mlock);
	CHECK(s.foreground);
	CHECK(!s.debug);
	CHECK_STR(s.fuse_opts, "allow_other,ro");
	CHECK_STR(s.name, "me");
	CHECK_EQ(s.log_level, LOG_DEBUG);
	CHECK_EQ(fs_settings_check(&s), 0);

	/* the file's list stays when the command line has none; -d implies -f */
	CHECK_EQ(parse(&s, "-c", (char *)p, "-d", "mnt"), 0);
	CHECK_EQ(s.nservers, 2);
	CHECK(s.debug && s.foreground);
	CHECK(s.mlock);

	/* several --server add up */
	CHECK_EQ(parse(&s, "mnt", "--server", "tcp://a:1", "--server=rdma://b:2"), 0);
	CHECK_EQ(s.nservers, 2);
	CHECK_STR(s.servers[1], "rdma://b:2");
	fs_settings_free(&s);
}

static void test_bad_command_lines(void)
{
	struct fs_settings s = { 0 };

	CHECK_EQ(parse(&s, "mnt", "--read-timeout", "soon"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--readahead", "12Q"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--frob"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--mlock"), -EINVAL); /* only --no-mlock */
	CHECK_EQ(parse(&s, "mnt", "other", "-S", "tcp://a:1"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "-S"), -EINVAL);
	CHECK(s.nservers == 0); /* -S did not take the mount point as its value */
	CHECK_EQ(parse(&s, "mnt", "--config", "/nonexistent.conf"), -EINVAL);
	fs_settings_free(&s);
}

static void test_checks(void)
{
	struct fs_settings s = { 0 };

	CHECK_EQ(parse(&s, "-S", "tcp://a:1"), 0);
	CHECK_EQ(fs_settings_check(&s), -EINVAL); /* no mount point */
	CHECK_EQ(parse(&s, "mnt"), 0);
	CHECK_EQ(fs_settings_check(&s), -EINVAL); /* no server */
	CHECK_EQ(parse(&s, "mnt", "-S", "tcp://a:1", "-S", "tcp://a:1"), 0);
	CHECK_EQ(fs_settings_check(&s), -EINVAL); /* the same server twice */
	CHECK_EQ(parse(&s, "mnt", "-S", "tcp://a:1", "--readahead", "6K"), 0);
	CHECK_EQ(fs_settings_check(&s), -EINVAL); /* not whole pages */
	CHECK_EQ(parse(&s, "mnt", "-S", "tcp://a:1", "--readahead", "0"), 0);
	CHECK_EQ(fs_settings_check(&s), 0);
	fs_settings_free(&s);
}

/* The copy count and the repair's rate: defaults, file, command line, limits. */
static void test_replication(void)
{
	struct fs_settings s;
	const char *path;

	fs_settings_init(&s);
	CHECK_EQ(s.replicas, 1);
	CHECK_EQ(s.repair_rate, 256ull << 20);
	CHECK(s.config_path == NULL);
	fs_settings_free(&s);

	path = conf("repl.conf", "[fs]\nreplicas = 3\nrepair-rate = 0\nserver = tcp://a:1\n");
	CHECK_EQ(parse(&s, "mnt", "-c", (char *)path), 0);
	CHECK_EQ(s.replicas, 3);
	CHECK_EQ(s.repair_rate, 0);
	CHECK(s.config_path && s.config_path[0] == '/'); /* kept for SIGHUP, absolute */
	CHECK_EQ(parse(&s, "mnt", "-c", (char *)path, "--replicas", "2"), 0);
	CHECK_EQ(s.replicas, 2); /* the command line wins */
	CHECK_EQ(parse(&s, "mnt", "--replicas", "0"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--replicas", "4"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--repair-rate", "lots"), -EINVAL);
	CHECK_EQ(parse(&s, "mnt", "--repair-rate", "64M"), 0);
	CHECK_EQ(s.repair_rate, 64ull << 20);
	fs_settings_free(&s);
}

int main(void)
{
	vf_log_init("test_fs_settings", LOG_CRIT);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_config_file);
	UNIT_RUN(test_config_errors);
	UNIT_RUN(test_command_line);
	UNIT_RUN(test_bad_command_lines);
	UNIT_RUN(test_checks);
	UNIT_RUN(test_replication);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
			/* a leftover temp dir is harmless */
		}
	}
	return unit_done();
}
