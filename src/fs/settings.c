// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-fs settings: defaults, then the config file (GKeyFile, group
 * [fs]), then the command line.  One parser per setting, shared by both.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/config.h"
#include "vofirm/log.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

void fs_settings_init(struct fs_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->read_timeout_ms = 10000;
	s->io_timeout_ms = 5000;
	s->connect_timeout_ms = 3000;
	s->readahead = 128 << 10;
	s->max_background = 64;
	s->threads = 8;
	s->bdi_max_ratio = 50;
	s->mlock = true;
	s->log_level = LOG_INFO;
}

static void clear_servers(struct fs_settings *s)
{
	for (unsigned i = 0; i < s->nservers; i++)
		free(s->servers[i]);
	s->nservers = 0;
}

void fs_settings_free(struct fs_settings *s)
{
	clear_servers(s);
	free(s->mountpoint);
	free(s->key_file);
	free(s->name);
	free(s->fuse_opts);
	memset(s, 0, sizeof(*s));
}

static int add_server(void *ctx, const char *url, const char *origin)
{
	struct fs_settings *s = ctx;
	struct vf_url u;
	const char *why;

	if (vf_url_parse(url, &u, &why)) {
		vf_err("%s: server address '%s': %s", origin, url, why);
		return -EINVAL;
	}
	if (u.port == 0) {
		vf_err("%s: server address '%s': give the server's port", origin, url);
		return -EINVAL;
	}
	if (s->nservers == FS_MAX_SERVERS) {
		vf_err("%s: more than %u servers", origin, FS_MAX_SERVERS);
		return -EINVAL;
	}
	s->servers[s->nservers++] = strdup(url);
	return 0;
}

int fs_settings_set(struct fs_settings *s, const char *key, const char *value,
		    const char *origin)
{
	const char *why;
	uint64_t v;

	if (!strcmp(key, "server"))
		return add_server(s, value, origin);
	if (!strcmp(key, "key-file") || !strcmp(key, "name")) {
		char **dst = key[0] == 'k' ? &s->key_file : &s->name;

		if (!*value || (key[0] == 'n' && strlen(value) > VF_NAME_MAX)) {
			vf_err("%s: %s '%s': empty or too long", origin, key, value);
			return -EINVAL;
		}
		free(*dst);
		*dst = strdup(value);
		return 0;
	}
	if (!strcmp(key, "read-timeout") || !strcmp(key, "io-timeout") ||
	    !strcmp(key, "connect-timeout")) {
		if (vf_parse_duration(value, &v, &why)) {
			vf_err("%s: %s '%s': %s", origin, key, value, why);
			return -EINVAL;
		}
		if (v == 0) {
			vf_err("%s: %s '%s': must be more than 0", origin, key, value);
			return -EINVAL;
		}
		if (key[0] == 'r')
			s->read_timeout_ms = v;
		else if (key[0] == 'i')
			s->io_timeout_ms = v;
		else
			s->connect_timeout_ms = v;
		return 0;
	}
	if (!strcmp(key, "readahead")) {
		if (vf_parse_size(value, &v, &why)) {
			vf_err("%s: readahead '%s': %s", origin, value, why);
			return -EINVAL;
		}
		if (v > (16u << 20)) {
			vf_err("%s: readahead '%s': at most 16M", origin, value);
			return -EINVAL;
		}
		s->readahead = v;
		return 0;
	}
	if (!strcmp(key, "max-background"))
		return vf_config_uint(key, value, origin, 1, 65535, &s->max_background);
	if (!strcmp(key, "threads"))
		return vf_config_uint(key, value, origin, 1, 256, &s->threads);
	if (!strcmp(key, "bdi-max-ratio"))
		return vf_config_uint(key, value, origin, 0, 100, &s->bdi_max_ratio);
	if (!strcmp(key, "mlock"))
		return vf_config_bool(key, value, origin, &s->mlock);
	if (!strcmp(key, "log-level"))
		return vf_config_log_level(key, value, origin, &s->log_level);
	vf_err("%s: unknown setting '%s'", origin, key);
	return -EINVAL;
}

/* A config file's "server" is a ';'-separated list that replaces the list so far. */
static int set_from_file(void *ctx, const char *key, const char *value, const char *origin)
{
	struct fs_settings *s = ctx;

	if (strcmp(key, "server"))
		return fs_settings_set(s, key, value, origin);
	clear_servers(s);
	return vf_config_list(value, origin, add_server, s);
}

int fs_settings_load(struct fs_settings *s, const char *path)
{
	return vf_config_load(path, "fs", set_from_file, s);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vofirm-fs MOUNTPOINT --server URL [--server URL]... [OPTION]...\n"
"Mount a file system whose files keep their data on vofirm memory servers,\n"
"for QEMU to map as guest RAM (memory-backend-file, share=on).\n"
"\n"
"  -S, --server URL          tcp:// or rdma://HOST:PORT of a vofirm-memd (repeatable)\n"
"  -k, --key-file PATH       the servers' pre-shared key\n"
"  -n, --name NAME           this client's name in the servers' logs\n"
"      --read-timeout T      a read whose server does not answer fails with EIO\n"
"                            after T (default 10s); writes wait for the server\n"
"                            as long as its lease\n"
"      --io-timeout T        one request's wait before the connection is redone\n"
"                            (default 5s)\n"
"      --connect-timeout T   default 3s\n"
"      --readahead SIZE      kernel readahead for the files (default 128K)\n"
"      --max-background N    FUSE requests in flight from readahead and\n"
"                            write-back (default 64)\n"
"      --threads N           FUSE worker threads (default 8)\n"
"      --bdi-max-ratio P     percent of the dirty-page limit this mount may use\n"
"                            (default 50; 0 keeps FUSE's 1%%; needs root)\n"
"      --no-mlock            do not lock the daemon's memory\n"
"  -c, --config FILE         settings from FILE ([fs] group); the command line wins\n"
"  -f, --foreground          do not detach\n"
"  -d, --debug               FUSE debug output (implies -f)\n"
"  -o OPTIONS                FUSE mount options (e.g. allow_other)\n"
"      --log-level LEVEL     error, warning, notice, info (default) or debug\n"
"  -v, --verbose             same as --log-level debug\n"
"  -h, --help, -V, --version\n"
"\n"
"Pool statistics: MOUNTPOINT/" FS_CTL_NAME "/stats.json and .../metrics (Prometheus).\n"
"Unmount with fusermount3 -u MOUNTPOINT: every file's remote memory is freed.\n"
"See vofirm-fs(8).\n");
}

static const struct option long_opts[] = {
	{ "server", required_argument, NULL, 'S' },
	{ "key-file", required_argument, NULL, 'k' },
	{ "name", required_argument, NULL, 'n' },
	{ "config", required_argument, NULL, 'c' },
	{ "read-timeout", required_argument, NULL, 'R' },
	{ "io-timeout", required_argument, NULL, 'I' },
	{ "connect-timeout", required_argument, NULL, 'C' },
	{ "readahead", required_argument, NULL, 'A' },
	{ "max-background", required_argument, NULL, 'B' },
	{ "threads", required_argument, NULL, 'T' },
	{ "bdi-max-ratio", required_argument, NULL, 'M' },
	{ "no-mlock", no_argument, NULL, 'L' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "debug", no_argument, NULL, 'd' },
	{ "log-level", required_argument, NULL, 'g' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};


static void add_fuse_opts(struct fs_settings *s, const char *opts)
{
	char *n;

	if (s->fuse_opts) {
		n = g_strdup_printf("%s,%s", s->fuse_opts, opts);
		free(s->fuse_opts);
		s->fuse_opts = strdup(n);
		g_free(n);
	} else {
		s->fuse_opts = strdup(opts);
	}
}

int fs_settings_parse_args(struct fs_settings *s, int argc, char **argv)
{
	const char *cfg = vf_config_arg(argc, argv);
	bool cli_servers = false;
	const char *origin;
	int c, ret = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("vofirm-fs %s (protocol %d, libfuse %d)\n", VOFIRM_VERSION,
			       VF_PROTO_VERSION, fuse_version());
			return 1;
		}
	}
	if (cfg && fs_settings_load(s, cfg))
		return -EINVAL;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":S:k:n:c:o:fdvhV", long_opts, NULL)) != -1) {
		origin = argv[optind - 1];
		switch (c) {
		case 'S':
			if (!cli_servers) {
				clear_servers(s); /* the command line replaces the file's list */
				cli_servers = true;
			}
			ret = fs_settings_set(s, "server", optarg, "--server");
			break;
		case 'k': ret = fs_settings_set(s, "key-file", optarg, "--key-file"); break;
		case 'n': ret = fs_settings_set(s, "name", optarg, "--name"); break;
		case 'c': break; /* loaded above */
		case 'R': ret = fs_settings_set(s, "read-timeout", optarg, "--read-timeout"); break;
		case 'I': ret = fs_settings_set(s, "io-timeout", optarg, "--io-timeout"); break;
		case 'C': ret = fs_settings_set(s, "connect-timeout", optarg, "--connect-timeout"); break;
		case 'A': ret = fs_settings_set(s, "readahead", optarg, "--readahead"); break;
		case 'B': ret = fs_settings_set(s, "max-background", optarg, "--max-background"); break;
		case 'T': ret = fs_settings_set(s, "threads", optarg, "--threads"); break;
		case 'M': ret = fs_settings_set(s, "bdi-max-ratio", optarg, "--bdi-max-ratio"); break;
		case 'L': s->mlock = false; break;
		case 'g': ret = fs_settings_set(s, "log-level", optarg, "--log-level"); break;
		case 'v': s->log_level = LOG_DEBUG; break;
		case 'f': s->foreground = true; break;
		case 'd': s->debug = s->foreground = true; break;
		case 'o': add_fuse_opts(s, optarg); break;
		case ':':
			vf_err("option %s needs a value (see --help)", origin);
			return -EINVAL;
		default:
			vf_err("unknown option '%s' (see --help)", origin);
			return -EINVAL;
		}
		if (ret)
			return -EINVAL;
	}
	if (optind < argc) {
		if (optind + 1 < argc) {
			vf_err("unexpected argument '%s' (one mount point only; see --help)",
			       argv[optind + 1]);
			return -EINVAL;
		}
		s->mountpoint = strdup(argv[optind]);
	}
	return 0;
}

int fs_settings_check(const struct fs_settings *s)
{
	if (!s->mountpoint) {
		vf_err("no mount point: vofirm-fs MOUNTPOINT --server URL (see --help)");
		return -EINVAL;
	}
	if (s->nservers == 0) {
		vf_err("no memory server: give --server tcp://HOST:PORT");
		return -EINVAL;
	}
	for (unsigned i = 0; i < s->nservers; i++) {
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(s->servers[i], s->servers[j])) {
				vf_err("--server %s is given twice", s->servers[i]);
				return -EINVAL;
			}
	}
	if (s->readahead % FS_PAGE) {
		vf_err("--readahead must be a multiple of 4K");
		return -EINVAL;
	}
	return 0;
}
