// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd settings: defaults, then the config file (GKeyFile, group
 * [memd]), then the command line.  One table below says every option
 * once; the command line, the file and --help are all made from it, so
 * both accept the same values.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memd.h"
#include "vofirm/config.h"
#include "vofirm/log.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

static void clear_listen(void *settings)
{
	struct memd_settings *s = settings;

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

static void usage(FILE *f);

static int help(void *settings, const char *value)
{
	usage(stdout);
	return 0;
}

static int version(void *settings, const char *value)
{
	printf("vofirm-memd %s (protocol %d)\n", VOFIRM_VERSION, VF_PROTO_VERSION);
	return 0;
}

static int verbose(void *settings, const char *value)
{
	((struct memd_settings *)settings)->log_level = LOG_DEBUG;
	return 0;
}

#define AT(field) offsetof(struct memd_settings, field)

/* Every option, in the order of --help; a long name is also a [memd] key. */
static const struct vf_opt memd_opt[] = {
	{ "listen", 'l', VF_OPT_LIST, .add = add_listen, .clear = clear_listen, .metavar = "URL",
	  .help = "tcp://HOST:PORT or rdma://HOST:PORT to serve (repeatable; default port "
		  "7471, port 0 picks a free one and logs it)" },
	{ "donate", 'd', VF_OPT_SIZE, AT(donate), .lo = 1, .metavar = "SIZE",
	  .help = "memory to donate, a whole number of slabs (K, M, G, T)" },
	{ "slab-size", 's', VF_OPT_SIZE, AT(slab_size), .lo = 1, .def = "64M", .metavar = "SIZE",
	  .help = "unit of allocation, a power of two" },
	{ "key-file", 'k', VF_OPT_STRING, AT(key_file), .metavar = "PATH",
	  .help = "pre-shared key that clients must prove they have" },
	{ "insecure-key-perms", 0, VF_OPT_BOOL, AT(insecure_key_perms),
	  .help = "accept a key file that group or others may read (a warning, not a refusal)" },
	{ "no-auth", 0, VF_OPT_BOOL, AT(no_auth),
	  .help = "accept clients without a key (trusted networks only)" },
	{ "lease", 0, VF_OPT_DURATION, AT(lease_ms), .def = "60s", .metavar = "DURATION",
	  .help = "how long a disconnected client's slabs are kept for it to reconnect; "
		  "units ms, s, m, h" },
	{ "mlock", 0, VF_OPT_BOOL, AT(mlock),
	  .help = "lock the donated memory (never swapped), faulting it all in at start: "
		  "recommended on rdma://, where registering a slab otherwise faults it in" },
	{ "hugepages", 0, VF_OPT_BOOL, AT(hugepages),
	  .help = "back the donated memory with 2 MiB huge pages" },
	{ "max-clients", 0, VF_OPT_UINT, AT(max_clients), .lo = 1, .hi = 65536, .def = "256",
	  .metavar = "N",
	  .help = "clients logged in at once; one resuming its session always "
		  "gets in" },
	{ "max-pending", 0, VF_OPT_UINT, AT(max_pending), .lo = 1, .hi = 65536, .def = "64",
	  .metavar = "N",
	  .help = "connections not logged in yet (at most 8 from one address); "
		  "the oldest makes room for a new one" },
	{ "config", 'c', VF_OPT_CONFIG, .metavar = "FILE",
	  .help = "read settings from FILE ([memd] group); the command line wins over the file" },
	{ "log-level", 0, VF_OPT_LOG_LEVEL, AT(log_level), .def = "info", .metavar = "LEVEL",
	  .help = "error, warning, notice, info or debug" },
	{ "verbose", 'v', VF_OPT_ACTION, .act = verbose, .help = "same as --log-level debug" },
	{ "help", 'h', VF_OPT_ANSWER, .act = help, .help = "show this help and exit" },
	{ "version", 'V', VF_OPT_ANSWER, .act = version, .help = "show the version and exit" },
	{ NULL },
};

static const struct vf_opts memd_opts = { "memd", memd_opt };

void memd_settings_init(struct memd_settings *s)
{
	memset(s, 0, sizeof(*s));
	vf_opts_defaults(&memd_opts, s);
}

int memd_settings_set(struct memd_settings *s, const char *key, const char *value,
		      const char *origin)
{
	return vf_opts_set(&memd_opts, s, key, value, origin);
}

int memd_settings_load(struct memd_settings *s, const char *path)
{
	return vf_opts_load(&memd_opts, s, path);
}

static void usage(FILE *f)
{
	fputs("Usage: vofirm-memd --listen URL --donate SIZE [OPTION]...\n"
	      "Donate RAM of this machine, in slabs, to authenticated vofirm clients.\n"
	      "\n",
	      f);
	vf_opts_help(&memd_opts, f);
	fputs("\n"
	      "Signals: SIGTERM or SIGINT stop the server; SIGUSR1 logs the pool's stats.\n"
	      "See vofirm-memd(8).\n",
	      f);
}

int memd_settings_parse_args(struct memd_settings *s, int argc, char **argv)
{
	int ret, operands;

	ret = vf_opts_parse_args(&memd_opts, s, argc, argv, &operands);
	if (ret)
		return ret;
	if (operands < argc) {
		vf_err("unexpected argument '%s' (see --help)", argv[operands]);
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
