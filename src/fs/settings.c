// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-fs settings: defaults, then the config file (GKeyFile, group
 * [fs]), then the command line.  One table below says every option once;
 * the command line, the file and --help are all made from it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "vofirm/config.h"
#include "vofirm/log.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

static void clear_servers(void *settings)
{
	struct fs_settings *s = settings;

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
	free(s->config_path);
	free(s->prefetch);
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

/* -o: FUSE mount options, comma-joined over every -o. */
static int add_fuse_opts(void *settings, const char *opts)
{
	struct fs_settings *s = settings;
	char *n;

	if (s->fuse_opts) {
		n = g_strdup_printf("%s,%s", s->fuse_opts, opts);
		free(s->fuse_opts);
		s->fuse_opts = strdup(n);
		g_free(n);
	} else {
		s->fuse_opts = strdup(opts);
	}
	return 0;
}

static int foreground(void *settings, const char *value)
{
	((struct fs_settings *)settings)->foreground = true;
	return 0;
}

static int debug(void *settings, const char *value)
{
	struct fs_settings *s = settings;

	s->debug = s->foreground = true;
	return 0;
}

static int verbose(void *settings, const char *value)
{
	((struct fs_settings *)settings)->log_level = LOG_DEBUG;
	return 0;
}

/* -c FILE, once it is loaded: its absolute path, for SIGHUP to read it
 * again after the daemon has moved to / (detached). */
static int config_loaded(void *settings, const char *path)
{
	struct fs_settings *s = settings;
	gchar *abs = g_canonicalize_filename(path, NULL);

	free(s->config_path);
	s->config_path = strdup(abs);
	g_free(abs);
	return s->config_path ? 0 : -ENOMEM;
}

static void usage(FILE *f);

static int help(void *settings, const char *value)
{
	usage(stdout);
	return 0;
}

static int version(void *settings, const char *value)
{
	printf("vofirm-fs %s (protocol %d, libfuse %d)\n", VOFIRM_VERSION, VF_PROTO_VERSION,
	       fuse_version());
	return 0;
}

#define AT(field) offsetof(struct fs_settings, field)

/* Every option, in the order of --help; a long name is also an [fs] key
 * (--no-mlock's is "mlock"). */
static const struct vf_opt fs_opt[] = {
	{ "server", 'S', VF_OPT_LIST, .add = add_server, .clear = clear_servers, .metavar = "URL",
	  .help = "tcp:// or rdma://HOST:PORT of a vofirm-memd (repeatable)" },
	{ "key-file", 'k', VF_OPT_STRING, AT(key_file), .metavar = "PATH",
	  .help = "the servers' pre-shared key" },
	{ "insecure-key-perms", 0, VF_OPT_BOOL, AT(insecure_key_perms),
	  .help = "accept a key file that group or others may read (a warning, not a refusal)" },
	{ "name", 'n', VF_OPT_STRING, AT(name), .hi = VF_NAME_MAX, .metavar = "NAME",
	  .help = "this client's name in the servers' logs" },
	{ "read-timeout", 0, VF_OPT_DURATION, AT(read_timeout_ms), .lo = 1, .def = "10s",
	  .metavar = "T",
	  .help = "a read whose server does not answer fails with EIO after T; "
		  "writes wait for the server as long as its lease" },
	{ "io-timeout", 0, VF_OPT_DURATION, AT(io_timeout_ms), .lo = 1, .def = "5s", .metavar = "T",
	  .help = "one request's wait before the connection is redone (a large "
		  "allocation is asked for in pieces that fit well within it)" },
	{ "connect-timeout", 0, VF_OPT_DURATION, AT(connect_timeout_ms), .lo = 1, .def = "3s",
	  .metavar = "T", .help = "how long connecting to a server, and its handshake, may take" },
	{ "readahead", 0, VF_OPT_SIZE, AT(readahead), .hi = 16 << 20, .def = "128K",
	  .metavar = "SIZE",
	  .help = "the kernel's readahead for the files with --prefetch kernel" },
	{ "fetch-ahead", 0, VF_OPT_SIZE, AT(fetch_ahead), .hi = VF_MAX_IO, .def = "1M",
	  .metavar = "SIZE",
	  .help = "a sequential reader's next READ (one of up to SIZE) is read from the servers "
		  "while its current one is answered; 0: off" },
	{ "prefetch", 0, VF_OPT_STRING, AT(prefetch), .def = "auto", .metavar = "MODE",
	  .help = "auto: vofirm-fs detects trends in each file's misses (sequential, strided, "
		  "majority) and reads ahead for them, the kernel's readahead off; kernel: the "
		  "kernel's readahead window (--readahead); off: no readahead at all" },
	{ "prefetch-max", 0, VF_OPT_SIZE, AT(prefetch_max), .lo = 1, .hi = 1ull << 30, .def = "4M",
	  .metavar = "SIZE",
	  .help = "auto: the most a stream reads ahead, and a file's prefetched pages not yet "
		  "used" },
	{ "prefetch-depth", 0, VF_OPT_UINT, AT(prefetch_depth), .lo = 2, .hi = 4096, .def = "8",
	  .metavar = "N", .help = "auto: accesses a new stream's first window reads ahead" },
	{ "prefetch-history", 0, VF_OPT_UINT, AT(prefetch_history), .lo = 2, .hi = 32, .def = "8",
	  .metavar = "N",
	  .help = "auto: misses in a stream's history, whose majority delta is its trend" },
	{ "max-background", 0, VF_OPT_UINT, AT(max_background), .lo = 1, .hi = 65535, .def = "64",
	  .metavar = "N", .help = "FUSE requests in flight from readahead and write-back" },
	{ "busy-poll-us", 0, VF_OPT_UINT, AT(busy_poll_us), .hi = 1000000, .def = "50",
	  .metavar = "US",
	  .help = "a thread waiting for a server's reply to a read polls the connection this "
		  "many microseconds before it sleeps; 0: sleep at once" },
	{ "write-depth", 0, VF_OPT_UINT, AT(write_depth), .hi = 4096, .def = "64", .metavar = "N",
	  .help = "writes (write-back of dirty pages) in flight to the servers with no thread "
		  "waiting for each; 0: each waits on its FUSE thread" },
	{ "threads", 0, VF_OPT_UINT, AT(threads), .lo = 1, .hi = 256, .def = "8", .metavar = "N",
	  .help = "FUSE worker threads" },
	{ "bdi-max-ratio", 0, VF_OPT_UINT, AT(bdi_max_ratio), .lo = 0, .hi = 100, .def = "50",
	  .metavar = "P",
	  .help = "percent of the dirty-page limit this mount may use; "
		  "0 keeps FUSE's 1%; needs root" },
	{ "replicas", 0, VF_OPT_UINT, AT(replicas), .lo = 1, .hi = FS_MAX_REPLICAS, .def = "1",
	  .metavar = "N",
	  .help = "copies of every slab-sized extent of a file, each on a different server; "
		  "a directory or file may ask for its own (xattr " FS_XATTR_REPLICAS ")" },
	{ "repair-rate", 0, VF_OPT_SIZE, AT(repair_rate), .def = "256M", .metavar = "RATE",
	  .help = "bytes per second that rebuilding lost copies and draining a server may "
		  "copy; 0: no limit" },
	{ "repair-rate-busy", 0, VF_OPT_SIZE, AT(repair_rate_busy), .def = "0", .metavar = "RATE",
	  .help = "the same while the files are read or written, if lower (the guests "
		  "first); 0: --repair-rate always" },
	{ "mlock", 0, VF_OPT_BOOL, AT(mlock), .off = true, .def = "true",
	  .help = "do not lock the daemon's memory" },
	{ "config", 'c', VF_OPT_CONFIG, .act = config_loaded, .metavar = "FILE",
	  .help = "settings from FILE ([fs] group); the command line wins; SIGHUP "
		  "reads its server list again" },
	{ "foreground", 'f', VF_OPT_ACTION, .act = foreground, .help = "do not detach" },
	{ "debug", 'd', VF_OPT_ACTION, .act = debug, .help = "FUSE debug output (implies -f)" },
	{ NULL, 'o', VF_OPT_ACTION, .act = add_fuse_opts, .metavar = "OPTIONS",
	  .help = "FUSE mount options (e.g. allow_other)" },
	{ "log-level", 0, VF_OPT_LOG_LEVEL, AT(log_level), .def = "info", .metavar = "LEVEL",
	  .help = "error, warning, notice, info or debug" },
	{ "verbose", 'v', VF_OPT_ACTION, .act = verbose, .help = "same as --log-level debug" },
	{ "help", 'h', VF_OPT_ANSWER, .act = help, .help = "show this help and exit" },
	{ "version", 'V', VF_OPT_ANSWER, .act = version, .help = "show the version and exit" },
	{ NULL },
};

static const struct vf_opts fs_opts = { "fs", fs_opt };

void fs_settings_init(struct fs_settings *s)
{
	memset(s, 0, sizeof(*s));
	vf_opts_defaults(&fs_opts, s);
}

int fs_settings_set(struct fs_settings *s, const char *key, const char *value, const char *origin)
{
	return vf_opts_set(&fs_opts, s, key, value, origin);
}

int fs_settings_load(struct fs_settings *s, const char *path)
{
	return vf_opts_load(&fs_opts, s, path);
}

static void usage(FILE *f)
{
	fputs("Usage: vofirm-fs MOUNTPOINT --server URL [--server URL]... [OPTION]...\n"
	      "Mount a file system whose files keep their data on vofirm memory servers,\n"
	      "for QEMU to map as guest RAM (memory-backend-file, share=on).\n"
	      "\n",
	      f);
	vf_opts_help(&fs_opts, f);
	fputs("\n"
	      "Pool statistics: MOUNTPOINT/" FS_CTL_NAME
	      "/stats.json and .../metrics (Prometheus).\n"
	      "Unmount with fusermount3 -u MOUNTPOINT: every file's remote memory is freed.\n"
	      "See vofirm-fs(8).\n",
	      f);
}

int fs_settings_parse_args(struct fs_settings *s, int argc, char **argv)
{
	int ret, operands;

	ret = vf_opts_parse_args(&fs_opts, s, argc, argv, &operands);
	if (ret)
		return ret;
	if (operands < argc) {
		if (operands + 1 < argc) {
			vf_err("unexpected argument '%s' (one mount point only; see --help)",
			       argv[operands + 1]);
			return -EINVAL;
		}
		s->mountpoint = strdup(argv[operands]);
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
	if (prefetch_mode_parse(s->prefetch) < 0) {
		vf_err("--prefetch %s: give off, kernel or auto", s->prefetch);
		return -EINVAL;
	}
	if (s->readahead % FS_PAGE) {
		vf_err("--readahead must be a multiple of 4K");
		return -EINVAL;
	}
	if (s->replicas > s->nservers)
		vf_warn("--replicas %u with %u server%s: every size request (ftruncate, "
			"fallocate) fails until there are %u servers (%s)",
			s->replicas, s->nservers, s->nservers == 1 ? "" : "s", s->replicas,
			s->config_path ? "add them to the config file and send SIGHUP"
				       : "give more --server");
	return 0;
}
