// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-fs's lock order check (src/fs/lockcheck.c): locks taken in order
 * pass; a lock taken out of order, a second lock of one rank, a release of
 * a lock not held and a reply under a lock abort, naming the locks.  Each
 * case runs in a child process, which is expected to die of SIGABRT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/fs/lock.h"
#include "unit.h"
#include "vofirm/log.h"

static struct fs_rwlock rw;
static struct fs_mutex alloc_lock, srv[2], ns, buf;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* Runs fn in a child; returns its wait status and what it logged. */
static int in_child(void (*fn)(void), char *log, size_t len)
{
	int p[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core); /* the aborts are expected */
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (n + 1 < len && (r = read(p[0], log + n, len - 1 - n)) > 0)
		n += (size_t)r;
	log[n] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return status;
}

static bool aborted(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void every_lock_in_order(void)
{
	struct timespec past = { 0, 0 };

	fs_rwlock_rdlock(&rw);
	fs_mutex_lock(&alloc_lock);
	fs_mutex_lock(&srv[0]);
	/* a wait gives the mutex back and takes it again: still in order */
	fs_cond_timedwait(&cv, &srv[0], &past);
	fs_mutex_unlock(&srv[0]);
	fs_mutex_lock(&srv[1]); /* one server after the other */
	fs_mutex_unlock(&srv[1]);
	fs_mutex_lock(&ns);
	fs_mutex_lock(&buf);
	fs_mutex_unlock(&buf);
	fs_mutex_unlock(&ns);
	fs_mutex_unlock(&alloc_lock);
	fs_rwlock_unlock(&rw);
	/* released in any order, then taken again in order */
	fs_rwlock_wrlock(&rw);
	fs_mutex_lock(&ns);
	fs_rwlock_unlock(&rw);
	fs_mutex_unlock(&ns);
	lock_check_unheld("a reply");
}

static void ns_then_rw(void)
{
	fs_mutex_lock(&ns);
	fs_rwlock_rdlock(&rw);
}

static void server_then_alloc(void)
{
	fs_rwlock_wrlock(&rw);
	fs_mutex_lock(&srv[0]);
	fs_mutex_lock(&alloc_lock);
}

static void two_servers(void)
{
	fs_mutex_lock(&srv[0]);
	fs_mutex_lock(&srv[1]);
}

static void unlock_unheld(void)
{
	fs_mutex_unlock(&ns);
}

static void reply_under_lock(void)
{
	fs_mutex_lock(&alloc_lock);
	lock_check_unheld("fuse_reply_err");
}

static void *hold_ns(void *arg)
{
	fs_mutex_lock(&ns);
	return NULL; /* the thread ends holding it: only its own view counts */
}

static void other_thread_holds_ns(void)
{
	pthread_t t;

	pthread_create(&t, NULL, hold_ns, NULL);
	pthread_join(t, NULL);
	fs_rwlock_rdlock(&rw);
	fs_rwlock_unlock(&rw);
}

static void test_in_order(void)
{
	char log[4096];
	int st;

	st = in_child(every_lock_in_order, log, sizeof(log));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_STR(log, "");
}

static void test_per_thread(void)
{
	char log[4096];
	int st;

	st = in_child(other_thread_holds_ns, log, sizeof(log));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_STR(log, "");
}

static void test_out_of_order(void)
{
	char log[4096];

	CHECK(aborted(in_child(ns_then_rw, log, sizeof(log))));
	CHECK(strstr(log, "lock order violated: taking inode->rw while holding fs->ns_lock"));
	CHECK(strstr(log,
		     "inode->rw < extent->fill < fs->alloc_lock < server->lock < fs->ns_lock < "
		     "fs->repair_lock < fs->st.lock < fs->buf_lock"));
	CHECK(aborted(in_child(server_then_alloc, log, sizeof(log))));
	CHECK(strstr(log, "taking fs->alloc_lock while holding server->lock"));
}

static void test_same_rank(void)
{
	char log[4096];

	CHECK(aborted(in_child(two_servers, log, sizeof(log))));
	CHECK(strstr(log, "taking server->lock while holding server->lock"));
}

static void test_misuse(void)
{
	char log[4096];

	CHECK(aborted(in_child(unlock_unheld, log, sizeof(log))));
	CHECK(strstr(log, "releasing fs->ns_lock, which this thread does not hold"));
	CHECK(aborted(in_child(reply_under_lock, log, sizeof(log))));
	CHECK(strstr(log, "fuse_reply_err while holding fs->alloc_lock"));
}

int main(void)
{
	vf_log_init("test_fs_lock", LOG_INFO);
	fs_rwlock_init(&rw, LOCK_INODE_RW);
	fs_mutex_init(&alloc_lock, LOCK_ALLOC);
	fs_mutex_init(&srv[0], LOCK_SERVER);
	fs_mutex_init(&srv[1], LOCK_SERVER);
	fs_mutex_init(&ns, LOCK_NS);
	fs_mutex_init(&buf, LOCK_BUF);
	UNIT_RUN(test_in_order);
	UNIT_RUN(test_per_thread);
	UNIT_RUN(test_out_of_order);
	UNIT_RUN(test_same_rank);
	UNIT_RUN(test_misuse);
	return unit_done();
}
