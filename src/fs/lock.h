/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The locks of vofirm-fs, each with its rank in the lock order (fs.h says
 * what each guards and why the order is this one).  A thread may take a
 * lock only while it holds locks of lower rank alone.
 *
 * Built with LOCKCHECK=1 (VF_LOCKCHECK, lockcheck.c), every acquisition
 * checks that against the locks the thread holds, and aborts naming both
 * locks if it is taken out of order; fuse_reply_*() checks that no lock
 * is held.  Otherwise these are the plain pthread calls.  The rank is
 * stored in either build, so objects built with and without the check
 * agree on the layout of every structure.
 */
#ifndef VOFIRM_FS_LOCK_H
#define VOFIRM_FS_LOCK_H

#include <pthread.h>
#include <time.h>

enum lock_rank {
	LOCK_INODE_RW, /* inode->rw */
	LOCK_EXTENT,   /* extent->fill */
	LOCK_ALLOC,    /* fs->alloc_lock */
	LOCK_SERVER,   /* server->lock */
	LOCK_NS,       /* fs->ns_lock */
	LOCK_REPAIR,   /* fs->repair_lock */
	LOCK_STATE,    /* fs->st.lock */
	LOCK_BUF,      /* fs->buf_lock */
	LOCK_RANKS
};

struct fs_mutex {
	pthread_mutex_t m;
	enum lock_rank rank;
};

struct fs_rwlock {
	pthread_rwlock_t l;
	enum lock_rank rank;
};

#ifdef VF_LOCKCHECK
/* Aborts unless the thread holds no lock of rank r or later; then records r. */
void lock_check_take(enum lock_rank r);
/* Aborts unless the thread holds a lock of rank r; then forgets it. */
void lock_check_drop(enum lock_rank r);
/* Aborts if the thread holds any lock: what must not run under one. */
void lock_check_unheld(const char *what);
#else
static inline void lock_check_take(enum lock_rank r)
{
}

static inline void lock_check_drop(enum lock_rank r)
{
}
#endif

static inline void fs_mutex_init(struct fs_mutex *l, enum lock_rank r)
{
	pthread_mutex_init(&l->m, NULL);
	l->rank = r;
}

static inline void fs_mutex_destroy(struct fs_mutex *l)
{
	pthread_mutex_destroy(&l->m);
}

static inline void fs_mutex_lock(struct fs_mutex *l)
{
	lock_check_take(l->rank);
	pthread_mutex_lock(&l->m);
}

static inline void fs_mutex_unlock(struct fs_mutex *l)
{
	lock_check_drop(l->rank);
	pthread_mutex_unlock(&l->m);
}

/* The thread holds l again when these return: its held locks are unchanged. */
static inline void fs_cond_wait(pthread_cond_t *cv, struct fs_mutex *l)
{
	pthread_cond_wait(cv, &l->m);
}

static inline int fs_cond_timedwait(pthread_cond_t *cv, struct fs_mutex *l,
				    const struct timespec *deadline)
{
	return pthread_cond_timedwait(cv, &l->m, deadline);
}

static inline void fs_rwlock_init(struct fs_rwlock *l, enum lock_rank r)
{
	pthread_rwlock_init(&l->l, NULL);
	l->rank = r;
}

/* Writers first: a rebuild waiting for its chunk is not starved by a
 * stream of writes (a thread never takes such a lock shared twice). */
static inline void fs_rwlock_init_wpref(struct fs_rwlock *l, enum lock_rank r)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&l->l, &a);
	pthread_rwlockattr_destroy(&a);
	l->rank = r;
}

static inline void fs_rwlock_destroy(struct fs_rwlock *l)
{
	pthread_rwlock_destroy(&l->l);
}

static inline void fs_rwlock_rdlock(struct fs_rwlock *l)
{
	lock_check_take(l->rank);
	pthread_rwlock_rdlock(&l->l);
}

/* A shared hold; if it has to wait for one, about_to_wait() is called
 * first (a FUSE thread hands its reader's place on: loop_may_block()),
 * which must take no lock of these ranks. */
static inline void fs_rwlock_rdlock_or(struct fs_rwlock *l, void (*about_to_wait)(void))
{
	lock_check_take(l->rank);
	if (pthread_rwlock_tryrdlock(&l->l)) {
		about_to_wait();
		pthread_rwlock_rdlock(&l->l);
	}
}

/* A shared hold by `dl` (CLOCK_MONOTONIC): 0, or ETIMEDOUT (not held). */
static inline int fs_rwlock_rdlock_by(struct fs_rwlock *l, const struct timespec *dl)
{
	int ret = pthread_rwlock_clockrdlock(&l->l, CLOCK_MONOTONIC, dl);

	if (ret == 0)
		lock_check_take(l->rank);
	return ret;
}

static inline void fs_rwlock_wrlock(struct fs_rwlock *l)
{
	lock_check_take(l->rank);
	pthread_rwlock_wrlock(&l->l);
}

static inline void fs_rwlock_unlock(struct fs_rwlock *l)
{
	lock_check_drop(l->rank);
	pthread_rwlock_unlock(&l->l);
}

#endif
