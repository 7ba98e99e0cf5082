// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The worker's FUSE loop, on a connection the supervisor holds.
 *
 * A worker does not mount: it is given the supervisor's /dev/fuse
 * descriptor (fuse_session_mount(se, "/dev/fd/N") takes it as is), and
 * the connection may have been set up by an earlier worker.  libfuse 3.14
 * answers every request with EIO until its session has seen FUSE_INIT,
 * and the kernel sends INIT once per connection.  So the first worker
 * keeps the INIT request in the state before it processes it, and every
 * later one feeds that copy to its own session first: do_init() sets the
 * session up exactly as the first did (same binary, same options, same
 * init callback) and writes a reply the kernel drops (its request was
 * answered long ago: ENOENT, which libfuse ignores).  That is the only
 * public way into an initialised session in 3.14 (got_init is private);
 * fuse_session_custom_io() would only hide the stray reply.  If a worker
 * died between keeping INIT and answering it, the supervisor's
 * FUSE_NOTIFY_RESEND puts INIT back in the queue: the next worker then
 * sees INIT as its first message and answers it.
 *
 * The loop is ours, not fuse_session_loop_mt(): libfuse's drops a
 * request it has read once the session is told to exit, and a planned
 * handover must lose none.  Every thread blocks in read() on the
 * descriptor: the kernel queues its readers exclusively, so a request
 * wakes exactly one idle thread, as in a single-threaded server (poll()
 * or epoll would wake every waiting thread for every request, and all
 * but one would find nothing to read: on a machine with few CPUs that
 * herd cost more than the request).  To stop, the loop's own thread sees
 * the stop eventfd, raises `stopping`, and interrupts with a signal the
 * threads that are waiting for a request (never one that is serving
 * one): read() returns EINTR having taken nothing, every thread finishes
 * the request it holds and reads no other, and the requests still queued
 * wait in the kernel for the next worker.
 */
#include <errno.h>
#include <linux/futex.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs.h"
#include "vofirm/log.h"

/* The unique of the request this thread is processing (fs_req_unique()). */
static __thread uint64_t cur_unique;

uint64_t fs_req_unique(void)
{
	return cur_unique;
}

/* fuse_session_process_buf(), with the request's unique noted first. */
static void process(struct fuse_session *se, const struct fuse_buf *b)
{
	const struct fuse_in_header *in = b->mem;

	cur_unique = !(b->flags & FUSE_BUF_IS_FD) && b->size >= sizeof(*in) ? in->unique : 0;
	fuse_session_process_buf(se, b);
	cur_unique = 0;
}

/*
 * At most this many threads wait in read() at a time; the others are
 * parked, the last parked first out.  The kernel wakes its readers in
 * the order they came (FIFO): with every thread in read(), requests made
 * one at a time would go round all of them, each time to the thread idle
 * the longest (on 2 vCPUs, 8 threads in rotation cost a cold fault about
 * a fifth more than 1 or 2).  A parked thread is woken only when every
 * reader is busy with a request, which is when more concurrency helps.
 */
#define LOOP_READERS 2

struct loop_thread {
	struct loop *l;
	pthread_t tid;
	void *rbuf;		  /* the receive buffer (recv_buf_alloc()) */
	pthread_cond_t cv;	  /* parked here */
	struct loop_thread *next; /* in the parked stack */
	bool is_parked;		  /* in that stack (under loop.mu) */
	bool waiting;		  /* in read(), or about to be (__atomic) */
	bool done;		  /* the thread ended (__atomic) */
};

struct loop {
	struct fuse_session *se;
	int fd, stop_fd;
	pid_t supervisor;	/* a request read once it is gone is not served */
	pthread_mutex_t *alive; /* the lock it holds (state_hdr), or NULL */
	bool stopping;		/* __atomic */
	bool unmounted;		/* __atomic */

	pthread_mutex_t mu;	    /* parked */
	unsigned readers;	    /* threads in read(), or on their way (__atomic) */
	unsigned nparked;	    /* threads parked, or about to be (__atomic) */
	struct loop_thread *parked; /* top: the last parked */
};

/*
 * Takes a reader's place, or parks the calling thread until one is free;
 * false when the loop stops.  The places are counted without the lock
 * (two per request, on every request, would make the lock the hottest
 * in the daemon); only parking takes it.  A thread about to park counts
 * itself in nparked and then looks at readers again, and a reader that
 * leaves the last place looks at nparked: one of the two sees the other,
 * so a thread never parks with nobody left to wake it.
 */
static bool become_reader(struct loop_thread *lt)
{
	struct loop *l = lt->l;

	for (;;) {
		unsigned r = __atomic_load_n(&l->readers, __ATOMIC_SEQ_CST);

		if (__atomic_load_n(&l->stopping, __ATOMIC_SEQ_CST))
			return false;
		if (r < LOOP_READERS) {
			if (__atomic_compare_exchange_n(&l->readers, &r, r + 1, false,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				return true;
			continue;
		}
		pthread_mutex_lock(&l->mu);
		__atomic_add_fetch(&l->nparked, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&l->readers, __ATOMIC_SEQ_CST) >= LOOP_READERS &&
		    !__atomic_load_n(&l->stopping, __ATOMIC_SEQ_CST)) {
			lt->next = l->parked;
			l->parked = lt;
			lt->is_parked = true;
			/* whoever wakes this thread takes it off the stack */
			while (lt->is_parked)
				pthread_cond_wait(&lt->cv, &l->mu);
		}
		__atomic_sub_fetch(&l->nparked, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&l->mu);
	}
}

/* With no reader left, the last parked thread becomes one. */
static void hand_on(struct loop *l)
{
	struct loop_thread *p;

	if (__atomic_load_n(&l->readers, __ATOMIC_SEQ_CST) ||
	    !__atomic_load_n(&l->nparked, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&l->mu);
	if (!__atomic_load_n(&l->readers, __ATOMIC_SEQ_CST) && (p = l->parked)) {
		l->parked = p->next;
		p->is_parked = false;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

/* The loop whose reader's place this thread left without handing it on. */
static __thread struct loop *owed;

/*
 * The calling thread has left read().  It hands its place on at once,
 * unless it took a WRITE (defer): the write-back's are answered
 * asynchronously and the thread is back in a few microseconds, while
 * waking a parked thread for each (when both readers hold one, as in a
 * stream of them) costs a wake-up per page and a thread that then parks
 * again.  A WRITE that has to wait hands the place on first
 * (loop_may_block()): the synchronous way (vf_write), a lock held long
 * (awrite_try), the transport's own waits (vf_xport_set_wait_hook()).
 */
static void leave_reader(struct loop *l, bool defer)
{
	__atomic_sub_fetch(&l->readers, 1, __ATOMIC_SEQ_CST);
	if (defer)
		owed = l;
	else
		hand_on(l);
}

void loop_may_block(void)
{
	struct loop *l = owed;

	if (l) {
		owed = NULL;
		hand_on(l);
	}
}

/* Wakes every parked thread (the loop stops). */
static void unpark_all(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	for (struct loop_thread *p = l->parked; p; p = p->next) {
		p->is_parked = false;
		pthread_cond_signal(&p->cv);
	}
	l->parked = NULL;
	pthread_mutex_unlock(&l->mu);
}

/* Waits for a message or the stop; true if there may be a message. */
static bool wait_msg(int fd, int stop_fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = stop_fd, .events = POLLIN } };

	for (;;) {
		if (poll(p, stop_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (stop_fd >= 0 && p[1].revents)
			return false;
		return true; /* POLLIN, or POLLERR: the read says which */
	}
}

/*
 * The supervisor is gone.  Asked after every request read, so without a
 * system call when the supervisor holds its robust lock (state_hdr.alive):
 * the lock word holds the owner's thread id (its main thread's: its pid)
 * until the kernel, as the supervisor exits and before its children are
 * reparented or signalled, replaces it with FUTEX_OWNER_DIED
 * (Documentation/locking/robust-futex-ABI.rst).  getppid() otherwise.
 */
static bool supervisor_gone(const struct loop *l)
{
	if (l->alive) {
		unsigned w = (unsigned)__atomic_load_n(&l->alive->__data.__lock, __ATOMIC_ACQUIRE);

		return (w & FUTEX_TID_MASK) != (unsigned)l->supervisor;
	}
	return getppid() != l->supervisor;
}

/* The signal that interrupts a waiting read(): its handler does nothing,
 * and it is installed without SA_RESTART. */
#define LOOP_WAKE_SIG SIGRTMIN

static void wake_handler(int sig)
{
}

/*
 * A thread's receive buffer, for the whole request the kernel may send:
 * a WRITE of max_write (VF_MAX_IO) and its headers, or a SETXATTR's
 * 64 KiB value and name.
 *
 * Every page of it is there before the first read, and stays.  The
 * kernel copies a request into the reader's buffer after taking it off
 * its queue, and if that copy fails it ends the request with EIO
 * (fs/fuse/dev.c, fuse_dev_do_read) instead of keeping it for the next
 * worker, whom FUSE_NOTIFY_RESEND would give it.  The copy pins the
 * buffer's pages: one not present and writable takes the slow path,
 * which gives up at once when the thread has a fatal signal pending.  So
 * a worker killed (a crash, the OOM killer) while a thread read a WRITE
 * into pages it had not touched yet failed that WRITE: for write-back,
 * the pages are then clean and their data is gone when they are evicted
 * (tests/cases/crash/kill_writes.sh; a guest lost 1 MiB so).  Hence:
 * populated and locked at once (libfuse's malloc()ed buffer was filled
 * on demand, by those very copies), never part of a huge page
 * (khugepaged's collapse unmaps the pages for a moment), never shared
 * copy-on-write with a child.  Migration of a locked page (compaction)
 * is the one moment left, as rare as the kill that would meet it.
 */
#define LOOP_BUF (VF_MAX_IO + 65536u)

static void *recv_buf_alloc(void)
{
	void *b = mmap(NULL, LOOP_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	madvise(b, LOOP_BUF, MADV_NOHUGEPAGE);
	madvise(b, LOOP_BUF, MADV_DONTFORK);
	/* populated now (mlock() does so too, where it is allowed) */
	memset(b, 0, LOOP_BUF);
	if (mlock(b, LOOP_BUF) < 0) {
		/* RLIMIT_MEMLOCK: the pages are there, only not locked */
	}
	return b;
}

/*
 * Reads one request into rbuf, as fuse_session_receive_buf() does: its
 * size, 0 when the connection is gone (or the session ended), -EINTR or
 * -EAGAIN to try again, or another -errno.
 */
static int receive(struct fuse_session *se, void *rbuf, struct fuse_buf *b)
{
	for (;;) {
		ssize_t n = read(fuse_session_fd(se), rbuf, LOOP_BUF);
		int err = errno;

		if (fuse_session_exited(se))
			return 0;
		if (n < 0) {
			if (err == ENOENT)
				continue; /* the request was interrupted: the next one */
			return err == ENODEV ? 0 : -err;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			return -EIO;
		*b = (struct fuse_buf){ .mem = rbuf, .size = (size_t)n };
		return (int)n;
	}
}

static void *loop_thread(void *arg)
{
	struct loop_thread *lt = arg;
	struct loop *l = lt->l;
	struct fuse_buf buf;
	uint64_t one = 1;
	sigset_t wake;

	sigemptyset(&wake);
	sigaddset(&wake, LOOP_WAKE_SIG);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	while (become_reader(lt)) {
		int r;

		/* seq_cst, as the stopper's: either this thread sees
		 * `stopping`, or the stopper sees `waiting` and signals */
		__atomic_store_n(&lt->waiting, true, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&l->stopping, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&lt->waiting, false, __ATOMIC_SEQ_CST);
			leave_reader(l, false);
			break;
		}
		r = receive(l->se, lt->rbuf, &buf);
		__atomic_store_n(&lt->waiting, false, __ATOMIC_SEQ_CST);
		leave_reader(l, r > 0 && ((const struct fuse_in_header *)buf.mem)->opcode ==
						 FUSE_WRITE);
		if (r == -EINTR || r == -EAGAIN)
			continue; /* the stop's signal, or another thread took it */
		if (r <= 0) {
			/* 0: the connection is gone (unmounted, or aborted) */
			if (r < 0 && r != -ENODEV)
				vf_err("reading /dev/fuse: %s", strerror(-r));
			__atomic_store_n(&l->unmounted, true, __ATOMIC_RELEASE);
			if (write(l->stop_fd, &one, sizeof(one)) < 0) {
				/* an eventfd written by many: the count only grows */
			}
			break;
		}
		if (supervisor_gone(l)) {
			/* The supervisor died (its death signal may not have been
			 * taken yet): the mount ends, and the request with it (the
			 * kernel fails it when the last descriptor closes). */
			__atomic_store_n(&l->stopping, true, __ATOMIC_SEQ_CST);
			if (write(l->stop_fd, &one, sizeof(one)) < 0) {
				/* an eventfd: the count only grows */
			}
			break;
		}
		process(l->se, &buf);
		owed = NULL; /* back for the place at once */
	}
	pthread_sigmask(SIG_BLOCK, &wake, NULL);
	__atomic_store_n(&lt->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Blocking reads from here on (see the top): an older supervisor made
 * the descriptor non-blocking for the poll() loop it expected. */
static void make_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

int loop_run(struct fs *fs, struct fuse_session *se, int fd, int stop_fd, unsigned nthreads)
{
	struct loop l = {
		.se = se, .fd = fd, .stop_fd = stop_fd, .supervisor = fs->st.hdr->supervisor_pid
	};
	struct loop_thread *t = calloc(nthreads, sizeof(*t));
	struct sigaction sa = { .sa_handler = wake_handler }; /* no SA_RESTART */
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };
	unsigned started = 0;
	bool all_done;
	int ret;

	if (!t)
		return -ENOMEM;
	if (__atomic_load_n(&fs->st.hdr->flags, __ATOMIC_ACQUIRE) & STATE_F_ALIVE)
		l.alive = &fs->st.hdr->alive;
	sigemptyset(&sa.sa_mask);
	sigaction(LOOP_WAKE_SIG, &sa, NULL);
	make_blocking(fd);
	pthread_mutex_init(&l.mu, NULL);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_cond_init(&t[i].cv, NULL);
	for (; started < nthreads; started++) {
		t[started].l = &l;
		t[started].rbuf = recv_buf_alloc();
		if (!t[started].rbuf) {
			vf_err("cannot map FUSE worker thread %u's receive buffer: %s", started,
			       strerror(errno));
			break;
		}
		ret = pthread_create(&t[started].tid, NULL, loop_thread, &t[started]);
		if (ret) {
			vf_err("cannot start FUSE worker thread %u: %s", started, strerror(ret));
			break;
		}
	}
	if (started) {
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		/* the prefetcher's helpers open and read through this mount:
		 * they are stopped while it still serves them */
		prefetch_stop(fs);
		__atomic_store_n(&l.stopping, true, __ATOMIC_SEQ_CST);
		unpark_all(&l);
		/* A signal can come just before its thread enters read(): send
		 * it again until every thread has ended. */
		do {
			all_done = true;
			for (unsigned i = 0; i < started; i++) {
				if (__atomic_load_n(&t[i].done, __ATOMIC_ACQUIRE))
					continue;
				all_done = false;
				if (__atomic_load_n(&t[i].waiting, __ATOMIC_SEQ_CST))
					pthread_kill(t[i].tid, LOOP_WAKE_SIG);
			}
			if (!all_done)
				usleep(2000);
		} while (!all_done);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i].tid, NULL);
	for (unsigned i = 0; i < nthreads; i++)
		if (t[i].rbuf)
			munmap(t[i].rbuf, LOOP_BUF);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_cond_destroy(&t[i].cv);
	pthread_mutex_destroy(&l.mu);
	free(t);
	if (!started)
		return -EAGAIN;
	return __atomic_load_n(&l.unmounted, __ATOMIC_ACQUIRE) ? LOOP_UNMOUNTED : LOOP_STOPPED;
}

/* Reads one message, waiting for it (before loop_run(), the descriptor may
 * be non-blocking). */
static int read_one(struct fuse_session *se, int fd, struct fuse_buf *b)
{
	for (;;) {
		int r;

		if (!wait_msg(fd, -1))
			return -errno;
		r = fuse_session_receive_buf(se, b);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		return r == 0 ? -ENODEV : r;
	}
}

static void replay_init(struct fs *fs, struct fuse_session *se)
{
	struct state_hdr *h = fs->st.hdr;
	uint32_t len = __atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE);
	void *copy = malloc(len);
	struct fuse_buf b = { .size = len, .mem = copy };

	memcpy(copy, h->init, len);
	fuse_session_process_buf(se, &b);
	free(copy);
}

int loop_init(struct fs *fs, struct fuse_session *se, int fd)
{
	struct state_hdr *h = fs->st.hdr;
	struct fuse_buf b = { .mem = NULL };
	const struct fuse_in_header *in;
	int r;

	if (__atomic_load_n(&h->flags, __ATOMIC_ACQUIRE) & STATE_F_INIT_DONE) {
		replay_init(fs, se);
		return 0;
	}
	/* The first worker, or one after a worker that died around INIT. */
	r = read_one(se, fd, &b);
	if (r < 0) {
		free(b.mem);
		vf_err("reading the first FUSE request: %s", strerror(-r));
		return r;
	}
	in = b.mem;
	if ((size_t)r >= sizeof(*in) && in->opcode == FUSE_INIT) {
		if ((size_t)r > STATE_INIT_MAX) {
			free(b.mem);
			vf_err("the kernel's FUSE_INIT request is %d bytes: more than the state "
			       "keeps (%u)",
			       r, STATE_INIT_MAX);
			return -EPROTO;
		}
		if (!__atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE)) {
			memcpy(h->init, b.mem, (size_t)r);
			__atomic_store_n(&h->init_len, (uint32_t)r, __ATOMIC_RELEASE);
		}
		fuse_session_process_buf(se, &b);
	} else if (__atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE)) {
		/* INIT was answered, just before its worker died */
		replay_init(fs, se);
		process(se, &b);
	} else {
		unsigned op = (size_t)r >= sizeof(*in) ? in->opcode : 0;

		free(b.mem);
		vf_err("the first FUSE request is not FUSE_INIT (opcode %u), and no earlier "
		       "worker kept one: this connection cannot be served",
		       op);
		return -EPROTO;
	}
	__atomic_or_fetch(&h->flags, STATE_F_INIT_DONE, __ATOMIC_RELEASE);
	free(b.mem);
	return 0;
}
