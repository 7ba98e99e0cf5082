// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-fs: files whose pages live on vofirm memory servers.
 *
 * One program, two roles (docs/architecture.md, "Surviving the worker"):
 * started by the operator it is the supervisor (super.c), which mounts and
 * runs this same program again as its worker, with VOFIRM_FS_WORKER set
 * and the mount's descriptor and state at fixed numbers.
 *
 * The worker's life: settings (defaults < [fs] config file < command
 * line, as the supervisor's) -> key -> mlockall, PR_SET_IO_FLUSHER -> the
 * state: carry on from it (the servers' sessions resumed, the files as
 * they were), or a new mount (connect every server; any failure: no
 * mount) -> FUSE on the supervisor's descriptor (INIT kept or replayed:
 * loop.c) -> serve, multi-threaded -> the end: unmounted (every file's
 * slabs go back to their servers), or a handover (the state saved, the
 * sessions kept for the next worker), or the supervisor gone (the mount
 * ends).  The repair thread (extent.c) runs while the servers do; SIGHUP
 * adds the servers the config file has gained.
 * Exit status: 0 after an unmount, 1 could not mount, 2 bad settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/mount.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define EXIT_USAGE 2

/* Memory of the daemon must never wait on the reclaim it serves. */
static void tune_process(struct fs *fs)
{
#if defined(__SANITIZE_ADDRESS__)
	vf_notice("sanitizer build: not locking memory (ASan's shadow is terabytes)");
#else
	if (fs->set.mlock && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		vf_warn("mlockall: %s: the daemon's memory may be swapped or reclaimed while "
			"it serves page faults (run as root or raise RLIMIT_MEMLOCK, or "
			"--no-mlock to silence this)",
			strerror(errno));
#endif
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		vf_warn("PR_SET_IO_FLUSHER: %s: memory allocations of the daemon may recurse "
			"into write-back (needs CAP_SYS_RESOURCE)",
			strerror(errno));
}

static int alloc_buffers(struct fs *fs)
{
	fs->nbufs = fs->set.threads + 4 + FA_BUFS; /* FA_BUFS: windows fetched ahead */
	fs->buf_size = VF_MAX_IO;
	fs->bufs = calloc(fs->nbufs, sizeof(*fs->bufs));
	if (!fs->bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < fs->nbufs; i++) {
		fs->bufs[i] = malloc(fs->buf_size);
		if (!fs->bufs[i])
			return -ENOMEM;
		memset(fs->bufs[i], 0, fs->buf_size); /* fault it in now */
	}
	fs->nbufs_free = fs->nbufs;
	fs_mutex_init(&fs->buf_lock, LOCK_BUF);
	pthread_cond_init(&fs->buf_cv, NULL);
	return 0;
}

/*
 * The worker's signals, blocked in every thread (main() blocks them
 * before the first, and threads inherit the mask) and taken by sigwait()
 * in a thread of their own:
 *   SIGHUP   the config file's server list is read again, new servers added
 *   SIGUSR2  hand over to the next worker (the supervisor asks)
 *   SIGTERM  from the supervisor's death (PR_SET_PDEATHSIG): the mount
 *            ends; from anyone else, nothing (the supervisor unmounts)
 */
enum worker_end { END_NONE, END_HANDOVER, END_ORPHANED };

static struct {
	pthread_t thread;
	bool started;
	bool stop;	     /* __atomic */
	int stop_fd;	     /* the FUSE loop's eventfd */
	enum worker_end end; /* __atomic */
} sig;

static bool in_list(char *const *list, unsigned n, const char *url)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(list[i], url))
			return true;
	return false;
}

static void hup_reload(struct fs *fs)
{
	const char *path = fs->set.config_path;
	GString *added = g_string_new(NULL);
	struct fs_settings n;
	unsigned nadded = 0, nsrv;
	int ret;

	if (!path) {
		vf_notice("SIGHUP: no config file (--config) to read again: the servers stay as "
			  "they are");
		g_string_free(added, TRUE);
		return;
	}
	fs_settings_init(&n);
	if (fs_settings_load(&n, path)) {
		vf_err("SIGHUP: config file %s not read again (above): the servers stay as they are",
		       path);
		goto out;
	}
	if (!n.nservers) {
		vf_warn("SIGHUP: config file %s lists no server: nothing to add", path);
		goto out;
	}
	for (unsigned i = 0; i < n.nservers; i++) {
		if (server_by_url(fs, n.servers[i]))
			continue;
		if (in_list(n.servers, i, n.servers[i]))
			continue;		     /* the file names it twice */
		ret = servers_add(fs, n.servers[i]); /* logs why not */
		if (ret == 0) {
			g_string_append_printf(added, "%s%s", nadded ? ", " : "", n.servers[i]);
			nadded++;
		}
	}
	nsrv = fs_nsrv(fs);
	if (nadded)
		vf_notice("SIGHUP: config file %s read again: added %s; %u servers now", path,
			  added->str, nsrv);
	else
		vf_notice("SIGHUP: config file %s read again: no new server (%u servers)", path,
			  nsrv);
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		bool draining;

		if (in_list(n.servers, n.nservers, s->url))
			continue;
		fs_mutex_lock(&fs->alloc_lock);
		draining = s->draining;
		fs_mutex_unlock(&fs->alloc_lock);
		if (draining)
			vf_info("SIGHUP: %s is no longer in %s and is being drained", s->url, path);
		else
			vf_warn("SIGHUP: %s is no longer in %s, but the mount keeps using it: drain "
				"it first (vofirmctl drain --mount %s --server %s), then stop it",
				s->url, path, fs->set.mountpoint, s->url);
	}
	if (fs->set.replicas > nsrv)
		vf_warn("--replicas %u with %u server%s: size requests still fail",
			fs->set.replicas, nsrv, nsrv == 1 ? "" : "s");
out:
	g_string_free(added, TRUE);
	fs_settings_free(&n);
}

static void stop_loop(enum worker_end why)
{
	uint64_t one = 1;

	__atomic_store_n(&sig.end, why, __ATOMIC_RELEASE);
	if (write(sig.stop_fd, &one, sizeof(one)) < 0) {
		/* an eventfd: the count only grows */
	}
}

static void *sig_main(void *arg)
{
	struct fs *fs = arg;
	sigset_t set;
	int s;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &s))
			continue;
		if (__atomic_load_n(&sig.stop, __ATOMIC_ACQUIRE))
			break;
		if (s == SIGHUP) {
			hup_reload(fs);
		} else if (s == SIGUSR2) {
			vf_notice("handing over to a new worker: no new request is taken; those "
				  "under way finish");
			stop_loop(END_HANDOVER);
		} else if (getppid() != fs->st.hdr->supervisor_pid) {
			vf_err("the supervisor (PID %d) is gone: the mount %s ends now, and with it "
			       "the memory of every VM using it (systemd restarts vofirm-fs; see "
			       "vofirm-fs(8), \"When vofirm-fs dies\")",
			       fs->st.hdr->supervisor_pid, fs->set.mountpoint);
			stop_loop(END_ORPHANED);
		} else {
			vf_info("signal %d: the supervisor unmounts; serving until it has", s);
		}
	}
	return NULL;
}

static int sig_start(struct fs *fs)
{
	int ret = pthread_create(&sig.thread, NULL, sig_main, fs);

	if (ret) {
		vf_err("cannot start the signal thread: %s", strerror(ret));
		return -ret;
	}
	sig.started = true;
	return 0;
}

static void sig_stop(void)
{
	if (!sig.started)
		return;
	__atomic_store_n(&sig.stop, true, __ATOMIC_RELEASE);
	pthread_kill(sig.thread, SIGHUP);
	pthread_join(sig.thread, NULL);
	sig.started = false;
}

static void free_buffers(struct fs *fs)
{
	for (unsigned i = 0; fs->bufs && i < fs->nbufs; i++)
		free(fs->bufs[i]);
	free(fs->bufs);
}

/* The FUSE arguments, the same for the supervisor and every worker. */
static int fuse_args_of(struct fs *fs, const char *argv0, struct fuse_args *args)
{
	char opts[4096];

	snprintf(opts, sizeof(opts), "fsname=vofirm,subtype=vofirm,default_permissions%s%s%s",
		 geteuid() == 0 ? ",allow_other" : "", fs->set.fuse_opts ? "," : "",
		 fs->set.fuse_opts ? fs->set.fuse_opts : "");
	if (fuse_opt_add_arg(args, argv0) || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts) || (fs->set.debug && fuse_opt_add_arg(args, "-d"))) {
		vf_err("cannot build the FUSE arguments");
		return -ENOMEM;
	}
	return 0;
}

/* Once serving, a detached worker logs to syslog like its supervisor. */
static void quiet_stdio(struct fs *fs)
{
	int fd;

	if (fs->set.foreground)
		return;
	vf_log_to_syslog();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > 2)
			close(fd);
	}
}

/* The mount's servers and files: carried on from the state, or new. */
static int start_servers(struct fs *fs, bool *carried_on)
{
	unsigned files = 0;
	int ret;

	/* a FUSE thread that kept its reader's place (a WRITE) hands it on
	 * before the transport makes it wait (loop.c) */
	vf_xport_set_wait_hook(loop_may_block);
	*carried_on = state_has_snapshot(fs);
	if (!*carried_on) {
		ret = servers_open(fs);
		if (ret)
			return ret;
		ret = state_arena_setup(fs);
		return ret ? ret : state_commit(fs);
	}
	ret = servers_init(fs);
	if (!ret)
		ret = fs_load_tree(fs, &files);
	if (!ret)
		ret = servers_start(fs);
	if (ret)
		return ret;
	vf_notice("carrying on from the last worker: %u file%s, %u server%s (their sessions are "
		  "resumed)",
		  files, files == 1 ? "" : "s", fs_nsrv(fs), fs_nsrv(fs) == 1 ? "" : "s");
	/* servers the settings name and the state does not (-S, a config edited) */
	for (unsigned i = 0; i < fs->set.nservers; i++)
		if (!server_by_url(fs, fs->set.servers[i]))
			servers_add(fs, fs->set.servers[i]);
	return 0;
}

/* Checks that this binary reads the state (a planned restart asks). */
static int check_state(int meta_fd)
{
	struct state_hdr *h = state_map_hdr(meta_fd);
	char why[200];

	if (!h) {
		vf_err("restart check: cannot map the state: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	if (state_check_format(h, why, sizeof(why))) {
		snprintf(h->restart_error, sizeof(h->restart_error), "%s", why);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static int worker_main(struct fs *fs, int argc, char **argv, const char *spec)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int fuse_fd, meta_fd, arena_fd, ret, status = EXIT_FAILURE;
	bool check, carried_on = false, unmounted = false;
	char devfd[32];
	sigset_t sigs;

	if (worker_fds(spec, &fuse_fd, &meta_fd, &arena_fd, &check)) {
		vf_err("VOFIRM_FS_WORKER=%s: not something the supervisor sets", spec);
		return EXIT_USAGE;
	}
	if (check)
		return check_state(meta_fd);
	/* before any thread, which inherits the mask (sig_main takes them) */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (state_attach(fs, meta_fd, arena_fd))
		return EXIT_FAILURE;
	fs->epoch = (uint16_t)(fs->st.hdr->worker_restarts % 0xffff + 1);
	__atomic_store_n(&fs->st.hdr->worker_pid, getpid(), __ATOMIC_RELEASE);
	if (!fs->set.name) {
		char host[64] = "localhost", name[VF_NAME_MAX + 1];

		gethostname(host, sizeof(host) - 1);
		snprintf(name, sizeof(name), "vofirm-fs@%.40s:%d", host,
			 (int)fs->st.hdr->supervisor_pid);
		fs->set.name = strdup(name);
	}
	tune_process(fs);
	sig.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (sig.stop_fd < 0) {
		vf_err("eventfd: %s", strerror(errno));
		goto out;
	}

	/* the tree first: a server's health thread reports a loss by file */
	fs_init_tree(fs);
	if (start_servers(fs, &carried_on))
		goto out_servers;
	if (sig_start(fs))
		goto out_servers;
	if (alloc_buffers(fs)) {
		vf_err("cannot allocate the I/O buffers");
		goto out_servers;
	}
	if (fuse_args_of(fs, argv[0], &args))
		goto out_args;
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!se) {
		vf_err("cannot start a FUSE session");
		goto out_args;
	}
	fs->se = se;
	/* the supervisor's descriptor: libfuse takes "/dev/fd/N" as mounted */
	snprintf(devfd, sizeof(devfd), "/dev/fd/%d", fuse_fd);
	if (fuse_session_mount(se, devfd)) {
		vf_err("cannot take the mount's descriptor from the supervisor");
		goto out_session;
	}
	if (loop_init(fs, se, fuse_fd))
		goto out_session;
	fs_tune_readahead(fs);
	if (!prefetch_init(fs))
		prefetch_start(fs);
	__atomic_or_fetch(&fs->st.hdr->flags, STATE_F_SERVING, __ATOMIC_RELEASE);
	if (!carried_on) {
		uint64_t total = 0;
		unsigned nsrv = fs_nsrv(fs);
		char cap[32];

		for (unsigned i = 0; i < nsrv; i++)
			total += fs->srv[i].capacity;
		vf_notice("vofirm-fs %s mounted at %s: %u server%s, %s in all; %u cop%s of each "
			  "extent; read timeout %" PRIu64 " ms",
			  VOFIRM_VERSION, fs->set.mountpoint, nsrv, nsrv == 1 ? "" : "s",
			  vf_format_size(total, cap, sizeof(cap)), fs->set.replicas,
			  fs->set.replicas == 1 ? "y" : "ies", fs->set.read_timeout_ms);
	} else {
		vf_notice("worker %d serves %s (restart %u)", (int)getpid(), fs->set.mountpoint,
			  fs->st.hdr->worker_restarts);
	}
	quiet_stdio(fs);

	ret = awrite_start(fs);
	if (ret == 0) {
		ret = fetchahead_start(fs);
		if (ret == 0)
			ret = loop_run(fs, se, fuse_fd, sig.stop_fd, fs->set.threads);
		fetchahead_stop(fs);
		awrite_stop(fs); /* every write taken is answered, and in the state */
	}
	unmounted = ret == LOOP_UNMOUNTED;
	status = ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out_session:
	prefetch_stop(fs);	  /* done in loop_run already, unless it did not run */
	fuse_session_destroy(se); /* closes our copy of the descriptor only */
	fs->se = NULL;
out_args:
	fuse_opt_free_args(&args);
out_servers:
	sig_stop(); /* adds no server once the servers go */
	fs_repair_stop(fs);
	if (unmounted) {
		vf_notice("unmounted %s; giving every file's memory back to the servers",
			  fs->set.mountpoint);
		servers_close(fs, false);
		__atomic_or_fetch(&fs->st.hdr->flags, STATE_F_UNMOUNTED, __ATOMIC_RELEASE);
	} else if (__atomic_load_n(&sig.end, __ATOMIC_ACQUIRE) == END_HANDOVER) {
		/* everything is in the state; the sessions stay for the next worker */
		state_commit(fs);
		servers_close(fs, true);
		__atomic_or_fetch(&fs->st.hdr->flags, STATE_F_HANDOVER, __ATOMIC_RELEASE);
		vf_notice("handed over: the next worker carries on");
	} else if (__atomic_load_n(&sig.end, __ATOMIC_ACQUIRE) == END_ORPHANED || carried_on) {
		/* the supervisor gone (the connection ends with this process: the
		 * mount answers ENOTCONN, as a dead FUSE daemon's does), or a
		 * worker that carried on and failed: the sessions are left to
		 * their leases, which a next worker, if any, resumes */
		servers_close(fs, true);
		status = EXIT_FAILURE;
	} else {
		/* a new mount that never served: nothing is kept */
		servers_close(fs, false);
		status = EXIT_FAILURE;
	}
	fetchahead_stop(fs); /* if the loop did not run: its windows' buffers back */
	awrite_free(fs);     /* no repair, no transport's thread left to touch it */
	free_buffers(fs);
	fs_free_handles(fs);
	fs_free_tree(fs); /* once no health thread can report a loss by file */
	prefetch_free(fs);
	fetchahead_free(fs);
out:
	explicit_bzero(&fs->key, sizeof(fs->key));
	fs_settings_free(&fs->set);
	return status;
}

int main(int argc, char **argv)
{
	static struct fs fs;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const char *worker = getenv("VOFIRM_FS_WORKER");
	int ret;

	if (getenv("VOFIRM_FS_PREFETCH_HELPER"))
		return prefetch_helper_main(getenv("VOFIRM_FS_PREFETCH_HELPER"));

	vf_log_init("vofirm-fs", LOG_INFO);
	fs_settings_init(&fs.set);
	ret = fs_settings_parse_args(&fs.set, argc, argv);
	if (ret == 1)
		return 0;
	if (ret || fs_settings_check(&fs.set))
		return EXIT_USAGE;
	vf_log_set_level(fs.set.log_level);
	if (fs.set.mountpoint[0] != '/') {
		/* the daemon moves to / when it detaches; libfuse unmounts by this path */
		gchar *abs = g_canonicalize_filename(fs.set.mountpoint, NULL);

		free(fs.set.mountpoint);
		fs.set.mountpoint = strdup(abs);
		g_free(abs);
	}
	if (fs.set.key_file) {
		if (vf_key_load(fs.set.key_file,
				fs.set.insecure_key_perms ? VF_KEY_INSECURE_PERMS : 0, &fs.key))
			return EXIT_USAGE;
		fs.has_key = true;
	}
	if (worker)
		return worker_main(&fs, argc, argv, worker);
	if (fuse_args_of(&fs, argv[0], &args))
		return EXIT_FAILURE;
	explicit_bzero(&fs.key, sizeof(fs.key)); /* the worker reads it itself */
	ret = supervisor_run(&fs, &args, argv);
	fuse_opt_free_args(&args);
	fs_settings_free(&fs.set);
	return ret;
}
