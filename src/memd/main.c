// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd: donates RAM of this machine to vofirm clients.
 *
 * Life cycle: settings (defaults < config file < command line) -> key ->
 * pool (map, lock) -> listeners -> main loop (accept, signals, lease
 * expiry) -> SIGTERM/SIGINT: drop connections, free the pool, exit 0.
 * Exit status: 0 clean stop, 1 could not start, 2 bad command line or
 * settings.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "memd.h"
#include "vofirm/log.h"
#include "vofirm/notify.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

#define EXIT_USAGE 2

/* The transports this vofirm-memd serves, by URL scheme. */
static const struct memd_listener_ops *const transports[] = {
	&memd_tcp_listener,
	&memd_rdma_listener,
};

static int run(struct memd_server *srv, struct memd_pool *pool, int sigfd)
{
	struct pollfd pfd[MEMD_MAX_LISTEN + 1];
	struct memd_listener *polled[MEMD_MAX_LISTEN];
	struct signalfd_siginfo si;
	uint64_t next;
	unsigned n = 0;

	/* listeners with a descriptor are served here; the others run
	 * their own thread */
	for (unsigned i = 0; i < srv->nlisten; i++) {
		if (srv->listeners[i]->fd < 0)
			continue;
		polled[n] = srv->listeners[i];
		pfd[n++] = (struct pollfd){ .fd = srv->listeners[i]->fd, .events = POLLIN };
	}
	pfd[n] = (struct pollfd){ .fd = sigfd, .events = POLLIN };

	for (;;) {
		next = pool_reap(pool);
		next = MIN(next, server_expire_handshakes(srv));
		if (next > 1000)
			next = 1000;
		if (poll(pfd, n + 1, (int)next) < 0) {
			if (errno == EINTR)
				continue;
			vf_err("poll: %s", strerror(errno));
			return -errno;
		}
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				polled[i]->ops->accept(polled[i]);
		if (!(pfd[n].revents & POLLIN))
			continue;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			vf_notice("SIG%s: stopping", sigabbrev_np((int)si.ssi_signo));
			vf_notify("STOPPING=1");
			return 0;
		case SIGUSR1:
			pool_log_stats(pool);
			break;
		case SIGHUP:
			vf_notice("SIGHUP: there is nothing to reload; ignored");
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct memd_settings set;
	struct memd_pool pool;
	struct memd_server srv;
	struct vf_key key;
	sigset_t mask;
	char a[32], b[32];
	int ret, sigfd, status = EXIT_FAILURE;
	unsigned left;

	vf_log_init("vofirm-memd", LOG_INFO);
	memd_settings_init(&set);
	ret = memd_settings_parse_args(&set, argc, argv);
	if (ret == 1) {
		memd_settings_free(&set);
		return 0;
	}
	if (ret || memd_settings_check(&set)) {
		memd_settings_free(&set);
		return EXIT_USAGE;
	}
	vf_log_set_level(set.log_level);
	if (!set.no_auth &&
	    vf_key_load(set.key_file, set.insecure_key_perms ? VF_KEY_INSECURE_PERMS : 0, &key)) {
		memd_settings_free(&set);
		return EXIT_USAGE;
	}

	/* Signals go to the main loop through a signalfd; every thread
	 * inherits the blocked mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		vf_err("signalfd: %s", strerror(errno));
		goto out_settings;
	}

	ret = pool_init(&pool, set.donate, set.slab_size, set.lease_ms,
			(set.mlock ? MEMD_POOL_MLOCK : 0) |
				(set.hugepages ? MEMD_POOL_HUGEPAGES : 0));
	if (ret)
		goto out_sigfd;
	server_init(&srv, &pool, set.no_auth ? NULL : &key, set.max_clients, set.max_pending);
	explicit_bzero(&key, sizeof(key));
	for (unsigned i = 0; i < set.nlisten; i++) {
		ret = server_listen(&srv, set.listen[i], transports, VF_ARRAY_SIZE(transports));
		if (ret) {
			server_stop(&srv, 0);
			goto out_pool;
		}
	}
	vf_notice("vofirm-memd %s: donating %s in %u slabs of %s; lease %" PRIu64 " ms; %s%s%s",
		  VOFIRM_VERSION, vf_format_size(set.donate, a, sizeof(a)), pool.nslabs,
		  vf_format_size(set.slab_size, b, sizeof(b)), set.lease_ms,
		  set.no_auth ? "NO authentication (--no-auth)"
			      : "clients authenticate with the key",
		  set.mlock ? "; memory locked" : "", set.hugepages ? "; huge pages" : "");
	for (unsigned i = 0; i < set.nlisten && !set.mlock; i++) {
		if (!strncmp(set.listen[i], "rdma://", 7)) {
			/* registering a slab faults in what was never touched */
			vf_notice("%s without --mlock: a slab's memory is faulted in when it "
				  "is granted and registered for RDMA, which makes large ALLOCs "
				  "slow; --mlock faults the whole pool in at start "
				  "(vofirm-memd(8))",
				  set.listen[i]);
			break;
		}
	}

	/* systemd (Type=notify): started once every listener listens */
	vf_notify("READY=1\nSTATUS=donating %s in %u slabs", a, pool.nslabs);
	ret = run(&srv, &pool, sigfd);
	left = server_stop(&srv, 3000);
	pool_log_stats(&pool);
	if (left) {
		/* threads still use the pool: let exit() take it */
		vf_notice("stopped");
		status = ret ? EXIT_FAILURE : EXIT_SUCCESS;
		goto out_sigfd;
	}
	status = ret ? EXIT_FAILURE : EXIT_SUCCESS;
	vf_notice("stopped");
out_pool:
	pool_destroy(&pool);
out_sigfd:
	close(sigfd);
out_settings:
	memd_settings_free(&set);
	return status;
}
