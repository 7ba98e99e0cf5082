// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The run-time check of the lock order (LOCKCHECK=1; lock.h).  Each
 * thread keeps a bit per rank it holds; a thread never holds two locks of
 * one rank (that would need an order among them, and there is none), so
 * a bit is enough.  A violation is a bug in the program: it is logged
 * with both locks and the process aborts, before the acquisition that
 * could deadlock.
 */
#include <stdlib.h>

#include "lock.h"
#include "vofirm/log.h"

static const char *const lock_names[LOCK_RANKS] = {
	[LOCK_INODE_RW] = "inode->rw",	 [LOCK_EXTENT] = "extent->fill",
	[LOCK_ALLOC] = "fs->alloc_lock", [LOCK_SERVER] = "server->lock",
	[LOCK_NS] = "fs->ns_lock",	 [LOCK_REPAIR] = "fs->repair_lock",
	[LOCK_STATE] = "fs->st.lock",	 [LOCK_BUF] = "fs->buf_lock",
};

#define LOCK_ORDER                                                                  \
	"inode->rw < extent->fill < fs->alloc_lock < server->lock < fs->ns_lock < " \
	"fs->repair_lock < fs->st.lock < fs->buf_lock"

static __thread unsigned lock_held;

/* The held lock of the highest rank: the one taken last. */
static enum lock_rank innermost(unsigned held)
{
	return (enum lock_rank)(31 - __builtin_clz(held));
}

void lock_check_take(enum lock_rank r)
{
	unsigned conflict = lock_held & ~((1u << r) - 1);

	if (conflict) {
		vf_err("lock order violated: taking %s while holding %s (the order is " LOCK_ORDER
		       ")",
		       lock_names[r], lock_names[innermost(conflict)]);
		abort();
	}
	lock_held |= 1u << r;
}

void lock_check_drop(enum lock_rank r)
{
	if (!(lock_held & (1u << r))) {
		vf_err("lock check: releasing %s, which this thread does not hold", lock_names[r]);
		abort();
	}
	lock_held &= ~(1u << r);
}

void lock_check_unheld(const char *what)
{
	if (lock_held) {
		vf_err("lock check: %s while holding %s: no lock is held there", what,
		       lock_names[innermost(lock_held)]);
		abort();
	}
}
