// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd settings: defaults, then the config file (GKeyFile, group
 * [memd]), then the command line.  Every setting has one parser, used by
 * both the file and the command line, so both accept the same values.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "memd.h"
#include "vofirm/config.h"
#include "vofirm/log.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

void memd_settings_init(struct memd_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->slab_size = MEMD_DEFAULT_SLAB;
	s->lease_ms = MEMD_DEFAULT_LEASE_MS;
	s->max_clients = MEMD_DEFAULT_MAX_CLIENTS;
	s->log_level = LOG_INFO;
}

static void clear_listen(struct memd_settings *s)
{
	for (unsigned i = 0; i < s->nlisten; i++)
		free(s->listen[i]);
	s->nlisten = 0;
}

void memd_settings_free(struct memd_settings *s)
{
	clear_listen(s);
	free(s->key_file);
	s->key_file = NULL;
}

static int add_listen(void *ctx, const char *url, const char *origin)
{
	struct memd_settings *s = ctx;
	struct vf_url u;
	const char *why;

	if (vf_url_parse(url, &u, &why) || u.scheme == VF_SCHEME_MEM) {
		vf_err("%s: listen address '%s': %s", origin, url,
		       u.scheme == VF_SCHEME_MEM ? "mem:// is a client-side pool, not a server"
						 : why);
		return -EINVAL;
	}
	if (s->nlisten == MEMD_MAX_LISTEN) {
		vf_err("%s: more than %u listen addresses", origin, MEMD_MAX_LISTEN);
		return -EINVAL;
	}
	s->listen[s->nlisten++] = strdup(url);
	return 0;
}

int memd_settings_set(struct memd_settings *s, const char *key,
		      const char *value, const char *origin)
{
	const char *why = NULL;
	uint64_t v;
	int ret;

	if (!strcmp(key, "listen"))
		return add_listen(s, value, origin);

	if (!strcmp(key, "donate") || !strcmp(key, "slab-size")) {
		ret = vf_parse_size(value, &v, &why);
		if (ret) {
			vf_err("%s: %s '%s': %s", origin, key, value, why);
			return -EINVAL;
		}
		if (v == 0) {
			vf_err("%s: %s must be more than 0", origin, key);
			return -EINVAL;
		}
		if (key[0] == 'd')
			s->donate = v;
		else
			s->slab_size = v;
		return 0;
	}
	if (!strcmp(key, "lease")) {
		ret = vf_parse_duration(value, &s->lease_ms, &why);
		if (ret) {
			vf_err("%s: lease '%s': %s", origin, value, why);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "key-file")) {
		if (!*value) {
			vf_err("%s: key-file is empty", origin);
			return -EINVAL;
		}
		free(s->key_file);
		s->key_file = strdup(value);
		return 0;
	}
	if (!strcmp(key, "no-auth"))
		return vf_config_bool(key, value, origin, &s->no_auth);
	if (!strcmp(key, "mlock"))
		return vf_config_bool(key, value, origin, &s->mlock);
	if (!strcmp(key, "hugepages"))
		return vf_config_bool(key, value, origin, &s->hugepages);
	if (!strcmp(key, "max-clients"))
		return vf_config_uint(key, value, origin, 1, 65536, &s->max_clients);
	if (!strcmp(key, "log-level"))
		return vf_config_log_level(key, value, origin, &s->log_level);
	vf_err("%s: unknown setting '%s'", origin, key);
	return -EINVAL;
}

/* A config file's "listen" is a ';'-separated list that replaces the list so far. */
static int set_from_file(void *ctx, const char *key, const char *value, const char *origin)
{
	struct memd_settings *s = ctx;

	if (strcmp(key, "listen"))
		return memd_settings_set(s, key, value, origin);
	clear_listen(s);
	return vf_config_list(value, origin, add_listen, s);
}

int memd_settings_load(struct memd_settings *s, const char *path)
{
	return vf_config_load(path, "memd", set_from_file, s);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vofirm-memd --listen URL --donate SIZE [OPTION]...\n"
"Donate RAM of this machine, in slabs, to authenticated vofirm clients.\n"
"\n"
"  -l, --listen URL        tcp://HOST:PORT or rdma://HOST:PORT to serve (repeatable;\n"
"                          default port 7471, port 0 picks a free one and logs it)\n"
"  -d, --donate SIZE       memory to donate, a whole number of slabs (K, M, G, T)\n"
"  -s, --slab-size SIZE    unit of allocation, a power of two (default 64M)\n"
"  -k, --key-file PATH     pre-shared key that clients must prove they have\n"
"      --no-auth           accept clients without a key (trusted networks only)\n"
"      --lease DURATION    how long a disconnected client's slabs are kept for it\n"
"                          to reconnect (default 60s; units ms, s, m, h)\n"
"      --mlock             lock the donated memory (never swapped)\n"
"      --hugepages         back the donated memory with 2 MiB huge pages\n"
"      --max-clients N     connections served at once (default 256)\n"
"  -c, --config FILE       read settings from FILE ([memd] group); the command\n"
"                          line wins over the file\n"
"      --log-level LEVEL   error, warning, notice, info (default) or debug\n"
"  -v, --verbose           same as --log-level debug\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Signals: SIGTERM or SIGINT stop the server; SIGUSR1 logs the pool's stats.\n"
"See vofirm-memd(8).\n");
}

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "donate", required_argument, NULL, 'd' },
	{ "slab-size", required_argument, NULL, 's' },
	{ "key-file", required_argument, NULL, 'k' },
	{ "config", required_argument, NULL, 'c' },
	{ "no-auth", no_argument, NULL, 'A' },
	{ "lease", required_argument, NULL, 'L' },
	{ "mlock", no_argument, NULL, 'M' },
	{ "hugepages", no_argument, NULL, 'H' },
	{ "max-clients", required_argument, NULL, 'C' },
	{ "log-level", required_argument, NULL, 'g' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};


int memd_settings_parse_args(struct memd_settings *s, int argc, char **argv)
{
	const char *cfg = vf_config_arg(argc, argv);
	bool cli_listen = false;
	int c, ret = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("vofirm-memd %s (protocol %d)\n", VOFIRM_VERSION, VF_PROTO_VERSION);
			return 1;
		}
	}
	if (cfg) {
		ret = memd_settings_load(s, cfg);
		if (ret)
			return -EINVAL;
	}

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:d:s:k:c:vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!cli_listen) {
				clear_listen(s); /* the command line replaces the file's list */
				cli_listen = true;
			}
			ret = memd_settings_set(s, "listen", optarg, "--listen");
			break;
		case 'd':
			ret = memd_settings_set(s, "donate", optarg, "--donate");
			break;
		case 's':
			ret = memd_settings_set(s, "slab-size", optarg, "--slab-size");
			break;
		case 'k':
			ret = memd_settings_set(s, "key-file", optarg, "--key-file");
			break;
		case 'c':
			break; /* loaded above */
		case 'A':
			s->no_auth = true;
			break;
		case 'L':
			ret = memd_settings_set(s, "lease", optarg, "--lease");
			break;
		case 'M':
			s->mlock = true;
			break;
		case 'H':
			s->hugepages = true;
			break;
		case 'C':
			ret = memd_settings_set(s, "max-clients", optarg, "--max-clients");
			break;
		case 'g':
			ret = memd_settings_set(s, "log-level", optarg, "--log-level");
			break;
		case 'v':
			s->log_level = LOG_DEBUG;
			break;
		case ':':
			vf_err("option %s needs a value (see --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			vf_err("unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (ret)
			return -EINVAL;
	}
	if (optind < argc) {
		vf_err("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int memd_settings_check(const struct memd_settings *s)
{
	char a[32], b[32];

	if (s->nlisten == 0) {
		vf_err("no address to listen on: give --listen tcp://HOST:PORT");
		return -EINVAL;
	}
	if (s->donate == 0) {
		vf_err("no memory to donate: give --donate SIZE (e.g. --donate 4G)");
		return -EINVAL;
	}
	if (s->slab_size < MEMD_MIN_SLAB || s->slab_size > MEMD_MAX_SLAB ||
	    (s->slab_size & (s->slab_size - 1))) {
		vf_err("--slab-size %s: must be a power of two from %s to %s",
		       vf_format_size(s->slab_size, a, sizeof(a)),
		       vf_format_size(MEMD_MIN_SLAB, b, sizeof(b)), "4 GiB");
		return -EINVAL;
	}
	if (s->hugepages && s->slab_size < (2u << 20)) {
		vf_err("--hugepages needs a slab size of at least 2 MiB (the huge page size)");
		return -EINVAL;
	}
	if (s->donate < s->slab_size) {
		vf_err("--donate %s is less than one slab (%s)",
		       vf_format_size(s->donate, a, sizeof(a)),
		       vf_format_size(s->slab_size, b, sizeof(b)));
		return -EINVAL;
	}
	if (s->donate % s->slab_size) {
		vf_err("--donate %s is not a whole number of %s slabs",
		       vf_format_size(s->donate, a, sizeof(a)),
		       vf_format_size(s->slab_size, b, sizeof(b)));
		return -EINVAL;
	}
	if (s->donate / s->slab_size > (1u << 24)) {
		vf_err("--donate %s makes more than 16777216 slabs: use a larger --slab-size",
		       vf_format_size(s->donate, a, sizeof(a)));
		return -EINVAL;
	}
	{
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
		uint64_t phys = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;

		if (phys && s->donate > phys) {
			vf_err("--donate %s is more than this machine's memory (%s)",
			       vf_format_size(s->donate, a, sizeof(a)),
			       vf_format_size(phys, b, sizeof(b)));
			return -EINVAL;
		}
	}
	if (s->no_auth && s->key_file) {
		vf_err("--no-auth and --key-file contradict each other: give one");
		return -EINVAL;
	}
	if (!s->no_auth && !s->key_file) {
		vf_err("no key: give --key-file PATH, or --no-auth to accept any client "
		       "(only on a network you trust)");
		return -EINVAL;
	}
	if (s->lease_ms == 0) {
		vf_err("--lease must be more than 0");
		return -EINVAL;
	}
	return 0;
}
