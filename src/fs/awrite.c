// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Asynchronous writes: a FUSE WRITE answered when its copies have it,
 * with no thread waiting for the servers meanwhile.
 *
 * The write-back of dirty guest pages is a stream of independent 4 KiB
 * WRITEs (up to --max-background in flight).  Waiting for each on a FUSE
 * thread costs a sleep and a wake-up per page and caps the pages in
 * flight at --threads; here the FUSE thread copies the data, sends it to
 * every copy and goes back to /dev/fuse, and the reply to the kernel is
 * sent by whichever thread completes the last copy's request (the
 * transport's).  The reply still says what it always said: every copy
 * that is up has the data.
 *
 * Only the plain case is taken: one extent, every copy up to date on a
 * server that is UP, no page to pad, fewer than --write-depth in flight.
 * Anything else, and every failure, goes the synchronous way
 * (ext_write_settle on this module's thread for a failure: stale copies,
 * the wait for a server up to its lease), so the failure model is
 * ext_write's exactly.
 *
 * Locks: a write takes inode->rw and extent->fill shared only while it
 * checks and counts itself in (in->awrites, e->awrites); whoever takes
 * one of them exclusively (resize, punch, freeing, a rebuild's chunk)
 * waits for those counts to drain before it changes anything, so an
 * asynchronous write holds both in effect until it is answered.  A
 * completion touches the inode and extent only before it drops their
 * counts: after that they may be freed.
 *
 * Two threads: one settles failed writes (ext_write_settle can wait for
 * a server up to its lease), the other watches deadlines meanwhile: a
 * write whose copies have not all answered within --io-timeout has those
 * connections aborted (completing them with an error), exactly as
 * servers_rw_all does.  A write is watched once all its copies are sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

/* Larger writes (sequential write-back) are few and go the usual way. */
#define AW_MAX (64u << 10)

struct awrite;

struct aw_copy {
	struct vf_op op;
	struct awrite *w;
	struct server *s;
	unsigned k;	/* its slot in the extent */
	uint64_t sgen;	/* the server's generation when sent */
	uint64_t xgen;	/* the connection's, for an abort */
	bool done;	/* __atomic */
	bool timed_out; /* set under q->lock, before its abort */
};

struct awrite {
	struct fs *fs;
	fuse_req_t req;
	struct inode *in;
	struct extent *e;
	uint64_t off, so, t0, deadline;
	uint32_t n;
	unsigned cnt;
	unsigned left;		    /* copies outstanding, +1 while sending (__atomic) */
	bool listed;		    /* on q's in-flight list (q->lock) */
	struct awrite *prev, *next; /* in flight, oldest first */
	struct awrite *qnext;	    /* q's queue of failed writes */
	struct aw_copy c[EXT_SLOTS];
	char data[];
};

struct awq {
	pthread_mutex_t lock;
	pthread_cond_t cv;	  /* the watchdog: a first deadline, stop */
	pthread_cond_t settle_cv; /* the settler: a failed write, stop */
	pthread_cond_t idle_cv;	  /* a count of in-flight writes reached zero */
	unsigned waiters;	  /* threads in aw_wait (__atomic) */
	unsigned in_flight;	  /* __atomic */
	bool idle_wait;		  /* the watchdog waits with no deadline (lock) */
	struct awrite *head, *tail;
	struct awrite *failed, *failed_tail;
	bool stop;
	pthread_t thread, settler;
	uint64_t taken, retried; /* __atomic */
};

static void unlist(struct awq *q, struct awrite *w)
{
	if (!w->listed)
		return;
	w->listed = false;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
}

static void drop_count(struct awq *q, unsigned *count)
{
	if (__atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&q->waiters, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&q->lock);
		pthread_cond_broadcast(&q->idle_cv);
		pthread_mutex_unlock(&q->lock);
	}
}

/* Answers w (ret: 0 or -errno) and frees it.  Never blocks. */
static void complete(struct awrite *w, int ret)
{
	struct fs *fs = w->fs;
	struct awq *q = fs->aw;
	fuse_req_t req = w->req;
	uint32_t n = w->n;

	if (ret == 0) {
		ext_mark_written(w->e, w->so / FS_PAGE, (w->so + n - 1) / FS_PAGE);
		__atomic_add_fetch(&w->in->io.writes, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&w->in->io.bytes_written, n, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&w->in->write_error, true, __ATOMIC_RELAXED);
	}
	hist_add(&fs->fuse_write_lat, vf_now_ns() - w->t0);
	fetchahead_invalidate(fs, w->in, w->off, n); /* windows fetched meanwhile */
	/* the extent and the inode may go from here on */
	drop_count(q, &w->e->awrites);
	drop_count(q, &w->in->awrites);
	free(w);
	if (ret)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_write(req, n);
	drop_count(q, &q->in_flight);
}

/* Every copy has answered (or failed): the reply, or the settler's turn. */
static void finish(struct awrite *w)
{
	struct awq *q = w->fs->aw;
	bool ok = true;

	/* under the lock: the watchdog's timed_out, set under it, keeps w
	 * alive for the thread that set it */
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < w->cnt; i++)
		ok = ok && w->c[i].op.status == 0 && !w->c[i].timed_out;
	unlist(q, w);
	if (!ok) {
		w->qnext = NULL;
		if (q->failed_tail)
			q->failed_tail->qnext = w;
		else
			q->failed = w;
		q->failed_tail = w;
		pthread_cond_signal(&q->settle_cv);
	}
	pthread_mutex_unlock(&q->lock);
	if (!ok)
		return;
	for (unsigned i = 0; i < w->cnt; i++)
		server_io_done(w->c[i].s, &w->c[i].op, w->c[i].sgen, w->t0, false);
	complete(w, 0);
}

static void put(struct awrite *w)
{
	if (__atomic_sub_fetch(&w->left, 1, __ATOMIC_ACQ_REL) == 0)
		finish(w);
}

/* The transport's done(): takes no lock a waiting submitter may hold. */
static void copy_done(struct vf_op *op)
{
	struct aw_copy *c = op->priv;

	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	put(c->w);
}

bool awrite_try(struct fs *fs, fuse_req_t req, struct inode *in, uint64_t off, size_t len,
		const char *buf)
{
	struct awq *q = fs->aw;
	uint64_t S = fs->slab_size, so = off % S;
	struct extent *e;
	struct awrite *w;

	if (!q || len == 0 || len > AW_MAX || so + len > S ||
	    __atomic_load_n(&q->in_flight, __ATOMIC_RELAXED) >= fs->set.write_depth)
		return false;
	w = malloc(sizeof(*w) + len);
	if (!w)
		return false;
	memset(w, 0, sizeof(*w));
	/* a lock held long (a resize, a rebuild's chunk): not with the
	 * reader's place kept (loop.c) */
	fs_rwlock_rdlock_or(&in->rw, loop_may_block);
	e = off + len <= in->size ? map_get(in, off / S) : NULL;
	if (!e)
		goto no_rw;
	fs_rwlock_rdlock_or(&e->fill, loop_may_block);
	/* a partial page without data is padded with zeros: ext_write's way */
	if ((so % FS_PAGE && !page_written(e, so / FS_PAGE)) ||
	    ((so + len) % FS_PAGE && !page_written(e, (so + len - 1) / FS_PAGE)))
		goto no;
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);
		struct aw_copy *ac = &w->c[w->cnt];
		struct server *s;
		bool up;

		if (c.state == COPY_FILLING)
			goto no; /* a rebuild's chunk order: the synchronous way */
		if (c.state != COPY_OK)
			continue; /* stale, gone, empty: ext_write skips them too */
		s = &fs->srv[c.srv];
		if (s->x->url.scheme == VF_SCHEME_MEM)
			goto no; /* done at once anyway */
		fs_mutex_lock(&s->lock);
		up = s->state == SRV_UP;
		ac->sgen = s->gen;
		fs_mutex_unlock(&s->lock);
		if (!up)
			goto no;
		ac->s = s;
		ac->k = k;
		ac->w = w;
		ac->op.type = VF_OP_WRITE;
		ac->op.flags = VF_OP_F_BATCH;
		ac->op.slab = c.id;
		ac->op.off = so;
		ac->op.len = (uint32_t)len;
		ac->op.buf = w->data;
		ac->op.done = copy_done;
		ac->op.priv = ac;
		w->cnt++;
	}
	if (!w->cnt)
		goto no;
	memcpy(w->data, buf, len);
	w->fs = fs;
	w->req = req;
	w->in = in;
	w->e = e;
	w->off = off;
	w->so = so;
	w->n = (uint32_t)len;
	w->left = w->cnt + 1;
	w->t0 = vf_now_ns();
	w->deadline = w->t0 + fs->set.io_timeout_ms * 1000000ull;
	__atomic_add_fetch(&e->awrites, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&in->awrites, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&q->in_flight, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&q->taken, 1, __ATOMIC_RELAXED);
	fs_rwlock_unlock(&e->fill);
	fs_rwlock_unlock(&in->rw);

	for (unsigned i = 0; i < w->cnt; i++) {
		struct aw_copy *ac = &w->c[i];
		int ret;

		ret = vf_xport_submit(ac->s->x, &ac->op);
		/* the connection it went out on: read after the submit (see
		 * vf_xport_run()), before the watchdog can see w */
		ac->xgen = __atomic_load_n(&ac->s->x->conn_gen, __ATOMIC_ACQUIRE);
		if (ret) {
			ac->op.status = ret;
			copy_done(&ac->op);
		}
	}
	/* watched from here (its deadline counts from t0): this thread's
	 * reference keeps w from finishing before it is listed.  The list
	 * stays in deadline order: one whose submit waited goes before
	 * those listed meanwhile */
	pthread_mutex_lock(&q->lock);
	w->listed = true;
	w->prev = q->tail;
	while (w->prev && w->prev->deadline > w->deadline)
		w->prev = w->prev->prev;
	w->next = w->prev ? w->prev->next : q->head;
	if (w->prev)
		w->prev->next = w;
	else
		q->head = w;
	if (w->next)
		w->next->prev = w;
	else
		q->tail = w;
	/* a first deadline for a watchdog that has none, or one earlier
	 * than the one it waits for */
	if (q->head == w && (q->idle_wait || w->next))
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->lock);
	put(w);
	return true;
no:
	fs_rwlock_unlock(&e->fill);
no_rw:
	fs_rwlock_unlock(&in->rw);
	free(w);
	return false;
}

/* A write that failed somewhere: ext_write's way, on the settler. */
static void settle(struct fs *fs, struct awrite *w)
{
	unsigned idx[EXT_SLOTS];
	bool was_ok[EXT_SLOTS];
	int status[EXT_SLOTS], ret;

	__atomic_add_fetch(&fs->aw->retried, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < w->cnt; i++) {
		struct aw_copy *c = &w->c[i];

		idx[i] = c->k;
		was_ok[i] = true;
		status[i] = server_io_done(c->s, &c->op, c->sgen, w->t0, c->timed_out);
	}
	ret = ext_write_settle(fs, w->e, w->so, w->n, w->data, w->cnt, idx, was_ok, status);
	if (ret)
		file_log_io_error(fs, w->in, "write", w->off, ret);
	complete(w, ret ? -EIO : 0);
}

/* The settler: failed writes, one after the other, in the order they
 * failed.  Until stopped and every write is answered. */
static void *settle_thread(void *arg)
{
	struct fs *fs = arg;
	struct awq *q = fs->aw;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct awrite *w = q->failed;

		if (w) {
			q->failed = w->qnext;
			if (!q->failed)
				q->failed_tail = NULL;
			pthread_mutex_unlock(&q->lock);
			settle(fs, w);
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (q->stop && !__atomic_load_n(&q->in_flight, __ATOMIC_SEQ_CST))
			break;
		if (q->stop) {
			/* the last writes may still come back failed */
			struct timespec dl = vf_deadline_ms(10);

			pthread_cond_timedwait(&q->settle_cv, &q->lock, &dl);
		} else {
			pthread_cond_wait(&q->settle_cv, &q->lock);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* The watchdog: the oldest write's deadline, then the next one's. */
static void *aw_thread(void *arg)
{
	struct fs *fs = arg;
	struct awq *q = fs->aw;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct awrite *w = q->head;
		uint64_t now;

		if (!w) {
			/* stopping: the last writes may still come back failed
			 * (aborted, not yet completed) */
			if (q->stop && !__atomic_load_n(&q->in_flight, __ATOMIC_SEQ_CST))
				break;
			if (q->stop) {
				struct timespec dl = vf_deadline_ms(10);

				pthread_cond_timedwait(&q->cv, &q->lock, &dl);
			} else {
				q->idle_wait = true;
				pthread_cond_wait(&q->cv, &q->lock);
				q->idle_wait = false;
			}
			continue;
		}
		now = vf_now_ns();
		if (now < w->deadline) {
			struct timespec dl = vf_deadline_ms((w->deadline - now) / 1000000 + 1);

			pthread_cond_timedwait(&q->cv, &q->lock, &dl);
			continue;
		}
		/* Silent past --io-timeout: abort what has not answered, which
		 * completes it; the write then comes back here as a failure
		 * (timed_out keeps it off the fast path, and alive till then). */
		unlist(q, w);
		/* what to abort, copied: once the lock is dropped, w is not
		 * touched (with no copy timed out its completer frees it) */
		struct {
			struct server *s;
			uint64_t sgen, xgen;
		} late[EXT_SLOTS];
		unsigned nlate = 0;

		for (unsigned i = 0; i < w->cnt; i++) {
			struct aw_copy *c = &w->c[i];

			c->timed_out = !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
			if (c->timed_out) {
				late[nlate].s = c->s;
				late[nlate].sgen = c->sgen;
				late[nlate++].xgen = c->xgen;
			}
		}
		pthread_mutex_unlock(&q->lock);
		for (unsigned i = 0; i < nlate; i++) {
			server_timed_out(late[i].s, late[i].sgen, fs->set.io_timeout_ms);
			vf_xport_abort_gen(late[i].s->x, late[i].xgen);
		}
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int awrite_start(struct fs *fs)
{
	struct awq *q;
	int ret;

	if (!fs->set.write_depth || fs->aw)
		return 0;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	vf_cond_init(&q->cv);
	vf_cond_init(&q->settle_cv);
	pthread_cond_init(&q->idle_cv, NULL);
	fs->aw = q;
	ret = pthread_create(&q->thread, NULL, aw_thread, fs);
	if (ret) {
		vf_err("cannot start the watchdog of asynchronous writes: %s", strerror(ret));
		awrite_free(fs);
		return -ret;
	}
	ret = pthread_create(&q->settler, NULL, settle_thread, fs);
	if (ret) {
		vf_err("cannot start the thread that settles failed writes: %s", strerror(ret));
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
		awrite_free(fs);
		return -ret;
	}
	return 0;
}

static void aw_wait(struct fs *fs, unsigned *count)
{
	struct awq *q = fs->aw;

	if (!q || !__atomic_load_n(count, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&q->lock);
	__atomic_add_fetch(&q->waiters, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(count, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&q->idle_cv, &q->lock);
	__atomic_sub_fetch(&q->waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&q->lock);
}

void awrite_wait_inode(struct fs *fs, struct inode *in)
{
	aw_wait(fs, &in->awrites);
}

void awrite_wait_extent(struct fs *fs, struct extent *e)
{
	aw_wait(fs, &e->awrites);
}

void awrite_stop(struct fs *fs)
{
	struct awq *q = fs->aw;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->cv);
	pthread_cond_signal(&q->settle_cv);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_join(q->settler, NULL);
	/* the last completions may still be answering */
	aw_wait(fs, &q->in_flight);
}

void awrite_free(struct fs *fs)
{
	struct awq *q = fs->aw;

	if (!q)
		return;
	fs->aw = NULL;
	pthread_cond_destroy(&q->idle_cv);
	pthread_cond_destroy(&q->settle_cv);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

void awrite_stats(struct fs *fs, struct awrite_stats *st)
{
	struct awq *q = fs->aw;

	memset(st, 0, sizeof(*st));
	if (!q)
		return;
	st->in_flight = __atomic_load_n(&q->in_flight, __ATOMIC_RELAXED);
	st->taken = __atomic_load_n(&q->taken, __ATOMIC_RELAXED);
	st->retried = __atomic_load_n(&q->retried, __ATOMIC_RELAXED);
}
