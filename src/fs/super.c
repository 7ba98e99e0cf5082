// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The supervisor: the process the operator starts.  It mounts, keeps the
 * /dev/fuse descriptor and the state (two memfds, state.c), and runs the
 * file system in a worker process, which it starts again when it dies:
 * the mount never goes away with a worker.
 *
 * It is kept small and free of anything that can fail once the mount is
 * up: no network, no file system work, no allocation in its loop.  It
 * waits for signals (sigwaitinfo) and does, for each:
 *   SIGCHLD   the worker ended: after a handover or a crash, a new worker
 *             (FUSE_NOTIFY_RESEND first, so that the requests the old one
 *             had read and not answered go to the new one); after an
 *             unmount, the supervisor ends too
 *   SIGUSR2   a planned restart (vofirmctl restart-fs, the unit's
 *             ExecReload): the binary on disk is asked whether it reads
 *             this state's format, then the worker hands over
 *   SIGHUP    passed to the worker (it reads the config's servers again)
 *   SIGTERM, SIGINT  unmount; the worker gives the memory back and ends
 * A worker learns of the supervisor's death (PR_SET_PDEATHSIG) and ends
 * the mount loudly: the supervisor itself is the one process whose death
 * takes the mount with it (systemd's Restart= brings it back, empty).
 * To systemd (Type=notify) the supervisor alone speaks: READY=1 once the
 * first worker serves, RELOADING=1 ... READY=1 around a planned restart,
 * STOPPING=1 on SIGTERM; its workers never see $NOTIFY_SOCKET.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/mount.h"
#include "vofirm/notify.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7 /* Linux 6.9 */
#endif

/* Where a worker finds what it is given: fixed descriptor numbers. */
#define WORKER_FUSE_FD 3
#define WORKER_META_FD 4
#define WORKER_ARENA_FD 5

static struct {
	char exe[4096]; /* the binary, by path: a new worker runs what is on disk now */
	char **argv;
	int fuse_fd, meta_fd, arena_fd;
	struct state_hdr *hdr;
	pid_t worker, checker;
	bool unmounting, unmounted;
	int reloading;		 /* systemd told RELOADING=1: 1 checking, 2 a new worker started */
	uint64_t crash_times[4]; /* the last crashes, for the back-off */
} sv = { .fuse_fd = -1, .worker = -1, .checker = -1 };

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

void fs_tune_readahead(struct fs *fs)
{
	char path[256], val[24];
	dev_t dev;
	int ret;

	uint64_t ra = prefetch_mount_readahead(fs);

	/* the kernel caps FUSE_INIT's max_readahead at the bdi's own (128 KiB
	 * by default), and INIT's answer at that: only a larger one needs
	 * this, or a smaller one than the connection's INIT gave (a worker
	 * carrying on with another --prefetch: INIT is answered once) */
	if (ra == fs->set.readahead && ra <= 128 * 1024)
		return;
	ret = vf_vofirm_mount_dev(fs->set.mountpoint, &dev);
	if (ret)
		return; /* tune_bdi() said why */
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(dev), minor(dev));
	snprintf(val, sizeof(val), "%" PRIu64, ra / 1024);
	ret = write_sysfs(path, val);
	if (ret && ra)
		vf_warn("%s: %s: --readahead %" PRIu64 "K not applied; the kernel reads ahead "
			"128K%s",
			path, strerror(-ret), ra / 1024, geteuid() ? " (needs root)" : "");
}

/* Takes hdr->alive for good (state_hdr): a worker tells from it, with no
 * system call, that this process still lives.  Without it (it cannot
 * fail on Linux, but) workers ask getppid() on every request. */
static void supervisor_hold_alive(struct state_hdr *hdr)
{
	pthread_mutexattr_t a;
	int ret;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	ret = pthread_mutex_init(&hdr->alive, &a);
	pthread_mutexattr_destroy(&a);
	if (!ret)
		ret = pthread_mutex_lock(&hdr->alive);
	if (ret) {
		vf_warn("cannot take the supervisor's lock in the shared state (%s): workers "
			"ask the kernel for their parent on every request instead",
			strerror(ret));
		return;
	}
	__atomic_or_fetch(&hdr->flags, STATE_F_ALIVE, __ATOMIC_RELEASE);
}

/* Puts fd at number want, without close-on-exec (in the child, before exec). */
static int place_fd(int fd, int want)
{
	if (fd == want)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, want) < 0 ? -1 : 0;
}

/*
 * Starts `exe` as a worker (mode "worker") or as a check of the state's
 * format (mode "check").  Only async-signal-safe calls between fork and
 * exec.  The descriptors go to fixed numbers: above them first, so that
 * none is overwritten before it is moved.
 */
static pid_t spawn(const char *mode)
{
	pid_t sup = getpid(), pid;
	sigset_t none;

	pid = fork();
	if (pid != 0) {
		if (pid < 0)
			vf_err("cannot start a worker: fork: %s", strerror(errno));
		return pid;
	}
	int f = fcntl(sv.fuse_fd, F_DUPFD, 10), m = fcntl(sv.meta_fd, F_DUPFD, 10),
	    a = fcntl(sv.arena_fd, F_DUPFD, 10);

	if (f < 0 || m < 0 || a < 0 || place_fd(f, WORKER_FUSE_FD) || place_fd(m, WORKER_META_FD) ||
	    place_fd(a, WORKER_ARENA_FD))
		_exit(126);
	setenv("VOFIRM_FS_WORKER", mode, 1);
	vf_notify_forget(); /* systemd hears the supervisor only */
	/* the worker ends the mount if the supervisor dies (super.c, top) */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != sup)
		_exit(126);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(sv.exe, sv.argv);
	_exit(127);
}

static void resend(void)
{
	struct fuse_out_header oh = { .len = sizeof(oh), .error = FUSE_NOTIFY_RESEND };
	static bool told;

	if (write(sv.fuse_fd, &oh, sizeof(oh)) == (ssize_t)sizeof(oh))
		return;
	if (!told) {
		vf_warn("this kernel cannot resend FUSE requests (FUSE_NOTIFY_RESEND needs Linux "
			"6.9: %s): the requests the worker held when it died are lost, and "
			"whatever waits on them hangs",
			strerror(errno));
		told = true;
	}
}

/* A new worker after the last one ended (not by an unmount). */
static void restart(const char *why)
{
	uint64_t now = vf_now_ms();
	uint32_t n;

	/* crashing in a loop: one start a second at most */
	if (now - sv.crash_times[0] < 10000) {
		struct timespec ts = { .tv_sec = 1 };

		vf_warn("workers are dying fast (4 in %" PRIu64 " ms): waiting a second",
			now - sv.crash_times[0]);
		nanosleep(&ts, NULL);
	}
	memmove(sv.crash_times, sv.crash_times + 1, sizeof(sv.crash_times) - sizeof(uint64_t));
	sv.crash_times[3] = now;
	resend();
	__atomic_and_fetch(&sv.hdr->flags, ~(STATE_F_HANDOVER | STATE_F_SERVING), __ATOMIC_RELEASE);
	n = __atomic_add_fetch(&sv.hdr->worker_restarts, 1, __ATOMIC_RELEASE);
	sv.worker = spawn("worker");
	if (sv.worker > 0) {
		vf_notice("%s: worker %d started from %s (restart %u)", why, (int)sv.worker, sv.exe,
			  n);
		vf_notify("STATUS=%s: worker %d (restart %u)", why, (int)sv.worker, n);
	}
}

static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* The worker ended; true when the supervisor should end too. */
static bool worker_ended(int status, int *exit_status)
{
	uint32_t flags = __atomic_load_n(&sv.hdr->flags, __ATOMIC_ACQUIRE);
	char how[96];

	describe_exit(status, how, sizeof(how));
	sv.worker = -1;
	if (flags & STATE_F_UNMOUNTED) {
		*exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAILURE;
		return true;
	}
	if (sv.unmounting) {
		vf_notice("worker %s while unmounting", how);
		*exit_status = EXIT_FAILURE;
		return true;
	}
	if (flags & STATE_F_HANDOVER) {
		restart("planned restart");
		if (sv.reloading)
			sv.reloading = 2;
		return false;
	}
	vf_err("worker %s: starting another on the same mount (files and memory carry on)", how);
	restart("after a crash");
	return false;
}

/* SIGUSR2: a planned restart, if the binary on disk can read the state. */
static void planned_restart(void)
{
	if (sv.worker < 0 || sv.checker > 0) {
		vf_warn("restart asked while one is under way: ignored");
		return;
	}
	sv.hdr->restart_error[0] = '\0';
	sv.checker = spawn("check");
	if (sv.checker < 0)
		snprintf(sv.hdr->restart_error, sizeof(sv.hdr->restart_error),
			 "cannot run %.200s: fork failed", sv.exe);
	else if (!sv.reloading) {
		sv.reloading = 1;
		vf_notify("RELOADING=1\nSTATUS=planned restart: checking %s", sv.exe);
	}
}

static void checker_ended(int status)
{
	sv.checker = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		vf_notice("restart: %s reads this mount's state; the worker hands over", sv.exe);
		if (sv.worker > 0)
			kill(sv.worker, SIGUSR2);
		return;
	}
	if (!sv.hdr->restart_error[0]) {
		char how[96];

		describe_exit(status, how, sizeof(how));
		snprintf(sv.hdr->restart_error, sizeof(sv.hdr->restart_error),
			 "%.120s cannot be started (%.90s)", sv.exe, how);
	}
	vf_err("restart refused: %s; the worker keeps running", sv.hdr->restart_error);
	if (sv.reloading) {
		sv.reloading = 0;
		vf_notify("READY=1\nSTATUS=restart refused: %s", sv.hdr->restart_error);
	}
}

int supervisor_run(struct fs *fs, struct fuse_args *args, char **argv)
{
	static const struct fuse_lowlevel_ops none;
	struct fuse_session *se = NULL;
	int status_fd = -1, exit_status = EXIT_FAILURE, status;
	sigset_t set;
	siginfo_t si;
	ssize_t n;
	pid_t pid;

	n = readlink("/proc/self/exe", sv.exe, sizeof(sv.exe) - 1);
	if (n <= 0) {
		vf_err("cannot find this program's path (/proc/self/exe): %s", strerror(errno));
		return EXIT_FAILURE;
	}
	sv.exe[n] = '\0';
	sv.argv = argv;
	if (!fs->set.foreground && detach(&status_fd))
		return EXIT_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (state_create(&sv.meta_fd, &sv.arena_fd))
		goto out;
	sv.hdr = state_map_hdr(sv.meta_fd);
	if (!sv.hdr) {
		vf_err("cannot map the state: %s", strerror(errno));
		goto out;
	}
	sv.hdr->supervisor_pid = getpid();
	supervisor_hold_alive(sv.hdr);
	se = fuse_session_new(args, &none, sizeof(none), NULL);
	if (!se) {
		vf_err("cannot start a FUSE session");
		goto out;
	}
	if (fuse_session_mount(se, fs->set.mountpoint)) {
		vf_err("cannot mount at %s (is it a directory, and /dev/fuse usable?)",
		       fs->set.mountpoint);
		fuse_session_destroy(se);
		se = NULL;
		goto out;
	}
	sv.fuse_fd = fuse_session_fd(se);
	/* blocking: a worker's threads wait for requests in read() (loop.c) */
	tune_bdi(fs);

	sv.worker = spawn("worker");
	if (sv.worker < 0)
		goto unmount;
	/* the first worker: mounted once it serves, or not at all */
	for (;;) {
		struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
		int sig = sigtimedwait(&set, &si, &tick);

		if (__atomic_load_n(&sv.hdr->flags, __ATOMIC_ACQUIRE) & STATE_F_SERVING)
			break;
		if (sig == SIGTERM || sig == SIGINT) {
			vf_notice("signal %d before the mount was ready: unmounting", sig);
			goto unmount;
		}
		pid = waitpid(sv.worker, &status, WNOHANG);
		if (pid == sv.worker) {
			char how[96];

			describe_exit(status, how, sizeof(how));
			vf_err("cannot mount: the worker %s before it was ready (see above)", how);
			sv.worker = -1;
			goto unmount;
		}
	}
	report_ready(&status_fd, 0);
	vf_notify("READY=1\nSTATUS=mounted at %s", fs->set.mountpoint);

	for (;;) {
		/* after a planned restart's handover: polls for the new worker */
		struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
		int sig =
			sv.reloading == 2 ? sigtimedwait(&set, &si, &tick) : sigwaitinfo(&set, &si);

		if (sv.reloading == 2 && sv.worker > 0 &&
		    (__atomic_load_n(&sv.hdr->flags, __ATOMIC_ACQUIRE) & STATE_F_SERVING)) {
			sv.reloading = 0;
			vf_notify("READY=1\nSTATUS=mounted at %s; worker %d serves",
				  fs->set.mountpoint, (int)sv.worker);
		}

		if (sig == SIGCHLD) {
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				if (pid == sv.checker)
					checker_ended(status);
				else if (pid == sv.worker && worker_ended(status, &exit_status))
					goto done;
			}
		} else if (sig == SIGTERM || sig == SIGINT) {
			vf_notice("signal %d: unmounting %s", sig, fs->set.mountpoint);
			vf_notify("STOPPING=1");
			sv.unmounting = true;
			/* the worker sees it and ends (once QEMU has closed its
			 * files: the unmount is lazy) */
			if (!sv.unmounted) {
				fuse_session_unmount(se);
				sv.unmounted = true;
			}
			if (sv.worker < 0)
				goto done;
		} else if (sig == SIGHUP) {
			if (sv.worker > 0)
				kill(sv.worker, SIGHUP);
		} else if (sig == SIGUSR2) {
			planned_restart();
		}
	}

unmount:
	if (sv.worker > 0) {
		kill(sv.worker, SIGKILL);
		waitpid(sv.worker, NULL, 0);
	}
	fuse_session_unmount(se);
done:
	if (!sv.unmounting)
		vf_notify("STOPPING=1"); /* unmounted (fusermount3 -u, the unit's ExecStop) */
	if (se) {
		/* already unmounted, mostly: then it only frees the path */
		fuse_session_unmount(se);
		fuse_session_destroy(se);
	}
out:
	report_ready(&status_fd, 1);
	return exit_status;
}

int worker_fds(const char *spec, int *fuse_fd, int *meta_fd, int *arena_fd, bool *check)
{
	*check = !strcmp(spec, "check");
	if (!*check && strcmp(spec, "worker"))
		return -EINVAL;
	*fuse_fd = WORKER_FUSE_FD;
	*meta_fd = WORKER_META_FD;
	*arena_fd = WORKER_ARENA_FD;
	return 0;
}
