// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-fs: files whose pages live on vofirm memory servers.
 *
 * Life cycle: settings (defaults < [fs] config file < command line) ->
 * key -> (detach: fork before any thread, the parent waits for the child
 * to say it is mounted) -> process settings (mlockall, PR_SET_IO_FLUSHER)
 * -> connect every server (any failure: no mount) -> mount -> the mount's
 * bdi limits -> FUSE loop, multi-threaded -> unmounted (fusermount3 -u,
 * SIGTERM, SIGINT): every file's slabs go back to their servers.  The
 * repair thread (extent.c) runs while the servers do; SIGHUP adds the
 * servers the config file has gained.
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
#include <sys/prctl.h>
#include <sys/sysmacros.h>
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

/* Forks; the parent exits with the status the child reports. */
static int detach(int *status_fd)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe(p) < 0) {
		vf_err("cannot detach: pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		vf_err("cannot detach: fork: %s", strerror(errno));
		return -errno;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	*status_fd = p[1];
	return 0;
}

static void report_ready(int *status_fd, char st)
{
	int fd;

	if (*status_fd < 0)
		return;
	if (write(*status_fd, &st, 1) != 1) {
		/* the parent is gone: nobody to tell */
	}
	close(*status_fd);
	*status_fd = -1;
	if (st)
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
	if (chdir("/")) {
		/* the mount does not depend on the working directory */
	}
}

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

static int write_sysfs(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * FUSE mounts get a strict 1 % share of the dirty-page limit, which
 * throttles QEMU's write-back hard (PEERS.md): raise it for this mount.
 */
static void tune_bdi(struct fs *fs)
{
	char bdi[64], path[256], val[16];
	dev_t dev;
	int ret;

	if (!fs->set.bdi_max_ratio)
		return;
	ret = vf_vofirm_mount_dev(fs->set.mountpoint, &dev);
	if (ret) {
		vf_warn("cannot find the bdi of %s in /proc/self/mountinfo (%s): dirty-page "
			"limits left as the kernel set them",
			fs->set.mountpoint,
			ret == -ENOENT ? "no vofirm-fs mount there" : strerror(-ret));
		return;
	}
	snprintf(bdi, sizeof(bdi), "%u:%u", major(dev), minor(dev));
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/max_ratio", bdi);
	snprintf(val, sizeof(val), "%u", fs->set.bdi_max_ratio);
	ret = write_sysfs(path, val);
	if (ret) {
		vf_warn("%s: %s: write-back stays throttled to FUSE's 1%% of the dirty limit%s",
			path, strerror(-ret), geteuid() ? " (needs root)" : "");
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/strict_limit", bdi);
	ret = write_sysfs(path, "0");
	if (ret && ret != -ENOENT)
		vf_warn("%s: %s", path, strerror(-ret));
	vf_info("bdi %s: max_ratio %u%%%s", bdi, fs->set.bdi_max_ratio,
		ret ? "" : ", strict_limit off");
}

static int alloc_buffers(struct fs *fs)
{
	fs->nbufs = fs->set.threads + 4;
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
 * SIGHUP reads the config file's server list again and adds the servers
 * that are new (libfuse would unmount on it).  It is blocked in every
 * thread (main() blocks it before the first one, and they inherit the
 * mask) and taken by sigwait() in a thread of its own.  A handler is
 * installed too, before libfuse's: libfuse leaves a signal alone that
 * has one, and a SIGHUP that reached a thread without the mask is passed
 * on to the thread instead of ending the mount.
 */
static struct {
	pthread_t thread;
	bool started;
	bool stop; /* __atomic */
} hup;

static void hup_forward(int sig)
{
	int saved = errno;

	if (__atomic_load_n(&hup.started, __ATOMIC_ACQUIRE))
		pthread_kill(hup.thread, SIGHUP); /* async-signal-safe */
	errno = saved;
}

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

static void *hup_main(void *arg)
{
	struct fs *fs = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (__atomic_load_n(&hup.stop, __ATOMIC_ACQUIRE))
			break;
		hup_reload(fs);
	}
	return NULL;
}

static int hup_start(struct fs *fs)
{
	struct sigaction sa = { .sa_handler = hup_forward };
	int ret;

	ret = pthread_create(&hup.thread, NULL, hup_main, fs);
	if (ret) {
		vf_err("cannot start the SIGHUP thread: %s", strerror(ret));
		return -ret;
	}
	__atomic_store_n(&hup.started, true, __ATOMIC_RELEASE);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

static void hup_stop(void)
{
	if (!hup.started)
		return;
	__atomic_store_n(&hup.stop, true, __ATOMIC_RELEASE);
	pthread_kill(hup.thread, SIGHUP);
	pthread_join(hup.thread, NULL);
	__atomic_store_n(&hup.started, false, __ATOMIC_RELEASE);
}

static void free_buffers(struct fs *fs)
{
	for (unsigned i = 0; fs->bufs && i < fs->nbufs; i++)
		free(fs->bufs[i]);
	free(fs->bufs);
}

int main(int argc, char **argv)
{
	static struct fs fs;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	char opts[4096], cap[32];
	int ret, status_fd = -1, status = EXIT_FAILURE;
	bool repairing = false;
	uint64_t total = 0;
	unsigned nsrv;
	sigset_t hupset;

	vf_log_init("vofirm-fs", LOG_INFO);
	fs_settings_init(&fs.set);
	ret = fs_settings_parse_args(&fs.set, argc, argv);
	if (ret == 1)
		return 0;
	if (ret || fs_settings_check(&fs.set))
		return EXIT_USAGE;
	vf_log_set_level(fs.set.log_level);
	/* before any thread, which inherits the mask: SIGHUP is sigwait()ed (hup_main) */
	sigemptyset(&hupset);
	sigaddset(&hupset, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hupset, NULL);
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
	if (!fs.set.name) {
		char host[64] = "localhost", name[VF_NAME_MAX + 1];

		gethostname(host, sizeof(host) - 1);
		snprintf(name, sizeof(name), "vofirm-fs@%.40s:%d", host, (int)getpid());
		fs.set.name = strdup(name);
	}
	if (!fs.set.foreground && detach(&status_fd))
		return EXIT_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	tune_process(&fs);

	/* the tree first: a server's health thread reports a loss by file */
	fs_init_tree(&fs);
	if (servers_open(&fs))
		goto out_servers;
	ret = fs_repair_start(&fs);
	if (ret) {
		vf_err("cannot start the repair thread: %s", strerror(-ret));
		goto out_servers;
	}
	repairing = true;
	if (hup_start(&fs))
		goto out_servers;
	if (alloc_buffers(&fs)) {
		vf_err("cannot allocate the I/O buffers");
		goto out_servers;
	}

	snprintf(opts, sizeof(opts), "fsname=vofirm,subtype=vofirm,default_permissions%s%s%s",
		 geteuid() == 0 ? ",allow_other" : "", fs.set.fuse_opts ? "," : "",
		 fs.set.fuse_opts ? fs.set.fuse_opts : "");
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts) || (fs.set.debug && fuse_opt_add_arg(&args, "-d"))) {
		vf_err("cannot build the FUSE arguments");
		goto out_args;
	}
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		vf_err("cannot start a FUSE session (options: %s)", opts);
		goto out_args;
	}
	if (fuse_set_signal_handlers(fs.se)) {
		vf_err("cannot install signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(fs.se, fs.set.mountpoint)) {
		vf_err("cannot mount at %s (is it a directory, and /dev/fuse usable?)",
		       fs.set.mountpoint);
		goto out_signals;
	}
	tune_bdi(&fs);
	nsrv = fs_nsrv(&fs);
	for (unsigned i = 0; i < nsrv; i++)
		total += fs.srv[i].capacity;
	vf_notice("vofirm-fs %s mounted at %s: %u server%s, %s in all; %u cop%s of each extent; "
		  "read timeout %" PRIu64 " ms",
		  VOFIRM_VERSION, fs.set.mountpoint, nsrv, nsrv == 1 ? "" : "s",
		  vf_format_size(total, cap, sizeof(cap)), fs.set.replicas,
		  fs.set.replicas == 1 ? "y" : "ies", fs.set.read_timeout_ms);
	report_ready(&status_fd, 0);

	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, fs.set.threads);
	ret = fuse_session_loop_mt(fs.se, cfg);
	fuse_loop_cfg_destroy(cfg);
	status = ret ? EXIT_FAILURE : EXIT_SUCCESS;
	fuse_session_unmount(fs.se);
	vf_notice("unmounted %s; giving every file's memory back to the servers",
		  fs.set.mountpoint);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_args:
	fuse_opt_free_args(&args);
out_servers:
	hup_stop(); /* adds no server once the servers go */
	if (repairing)
		fs_repair_stop(&fs);
	servers_close(&fs);
	free_buffers(&fs);
	fs_free_tree(&fs); /* once no health thread can report a loss by file */
	report_ready(&status_fd, 1);
	explicit_bzero(&fs.key, sizeof(fs.key));
	fs_settings_free(&fs.set);
	return status;
}
