// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fetch-ahead: a sequential reader's next windows are on their way from
 * the servers while the kernel is still being answered the current one.
 *
 * Why.  The kernel's readahead on a FUSE mount keeps about one READ in
 * flight: it asks for the next window when the reader reaches the
 * current one.  Over mem:// a window costs the FUSE round trip; over a
 * network it costs that plus the server's round trip, one after the
 * other, while the CPUs wait (docs/performance.md, "Sequential reads").
 * Here the servers' part of the next windows overlaps the FUSE part of
 * the current one.
 *
 * What.  Per file, where its last READ ended and how many READs in a row
 * started there (the streak).  From the FA_STREAK'th such READ of at
 * least FA_MIN bytes on (a random fault, even with the kernel's
 * read-around, does not make a streak, and 4 KiB misses are below
 * FA_MIN; nor does a prefetch helper's READ, ahead of the reader
 * already: ops.c), the file keeps FA_WINS windows of --fetch-ahead bytes each
 * ahead of the reader, fetched by the fetch threads with file_read()
 * into buffers of the I/O pool.  A READ inside a window is answered
 * straight from its buffer (no copy: the window is held while the reply
 * is written); one that comes while its window is being fetched waits
 * for it; one that finds it queued takes it back and reads for itself.
 * Windows behind the reader are recycled for the range after the last
 * one; windows away from it are dropped, and so are those of a reader
 * that asked for nothing in FA_ABANDONED_NS.
 *
 * Never stale.  A write to the file marks the windows over its range
 * spoiled when it starts and again when it is answered, and a truncate,
 * a punch or a hand-off marks them all (fetchahead_invalidate); a
 * spoiled window is never served.  So a window served
 * was handed to the fetch thread, so its request sent, after every
 * write that could touch it had reached the servers, and none started
 * since.  (The kernel never READs a page it holds dirty: a READ's range
 * is not being written back.)  tests/cases/fs/fetch_ahead.sh races a
 * writer with a reader over the windows.
 *
 * Bounded.  FA_WINS windows per file, FA_BUFS buffers per mount (the I/O
 * pool has that many more; a window no READ came for in
 * FA_ABANDONED_NS gives its buffer to another file), FA_THREADS fetch
 * threads.  A fetch is a read like any other (the read timeout, the
 * copies); a fetch that failed answers the READ that waited for it with
 * its error, and is dropped if nobody did.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fetchahead.h"
#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define FA_MIN (32u * 1024)		   /* smaller READs neither start nor continue a streak */
#define FA_STREAK 2			   /* READs in a row that make a sequential reader */
#define FA_WINS 2			   /* windows per file */
#define FA_ABANDONED_NS (200 * 1000000ull) /* a window nobody asked for this long */

enum fa_state {
	FA_IDLE,     /* no range (buf, if any, is free for the next) */
	FA_QUEUED,   /* [off, off+len) handed to a fetch thread, not started */
	FA_FETCHING, /* being read into buf */
	FA_READY,    /* buf holds got bytes from off (or got < 0: the error) */
};

struct fa_file;

struct fa_win {
	struct fa_file *f;
	enum fa_state state;
	uint64_t off;
	size_t len;
	ssize_t got;
	bool spoiled;	  /* written since it was handed over (fetchahead_invalidate) */
	bool used;	  /* a READ was answered from it */
	unsigned readers; /* READs replying from buf */
	char *buf;	  /* from the I/O pool, or NULL */
	/* the queue (struct fetchahead's lock) */
	struct fa_win *qnext;
	bool inq;
	unsigned claimed; /* fetch threads that took it from the queue */
};

struct fa_file {
	pthread_mutex_t mu; /* everything here but the queue's fields */
	pthread_cond_t cv;  /* a fetch ended, or a reader let go */
	struct inode *in;
	uint64_t next;	  /* where the file's last READ ended */
	unsigned streak;  /* READs in a row that started there */
	uint64_t last_ns; /* the last READ */
	struct fa_win w[FA_WINS];
};

struct fetchahead {
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* the queue has work, or stop */
	pthread_cond_t done_cv; /* a fetch thread let go of a window */
	struct fa_win *head, *tail;
	pthread_t tid[FA_THREADS];
	unsigned nthreads;
	bool stop;
	struct fa_win *holder[FA_BUFS]; /* the windows that have a buffer */
	struct fa_stats st;		/* __atomic */
};

static void count(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/* w's range is dropped (f->mu held; not FETCHING, no reader). */
static void drop(struct fs *fs, struct fa_win *w)
{
	if (w->state == FA_READY && !w->used)
		count(&fs->fa->st.dropped_bytes, w->got > 0 ? (uint64_t)w->got : 0);
	w->state = FA_IDLE;
}

/*
 * A buffer for w (its f->mu held): a free one of the pool's share for
 * windows, or that of another file's window no READ has come for in
 * FA_ABANDONED_NS (a reader that stopped half-way leaves its windows).
 */
static char *buf_take(struct fs *fs, struct fa_win *w)
{
	struct fetchahead *fa = fs->fa;
	uint64_t now = vf_now_ns();
	char *b = NULL;

	pthread_mutex_lock(&fa->mu);
	for (unsigned i = 0; i < FA_BUFS && !b; i++)
		if (!fa->holder[i]) {
			b = fs_buf_get(fs); /* the pool has FA_BUFS more than the threads use */
			fa->holder[i] = w;
		}
	for (unsigned i = 0; i < FA_BUFS && !b; i++) {
		struct fa_win *v = fa->holder[i];

		/* trylock: an f->mu comes before fa->mu (hand_over) */
		if (v->f == w->f || pthread_mutex_trylock(&v->f->mu))
			continue;
		if ((v->state == FA_READY || v->state == FA_IDLE) && !v->readers &&
		    now - v->f->last_ns > FA_ABANDONED_NS) {
			drop(fs, v);
			b = v->buf;
			v->buf = NULL;
			fa->holder[i] = w;
			count(&fa->st.reclaimed, 1);
		}
		pthread_mutex_unlock(&v->f->mu);
	}
	pthread_mutex_unlock(&fa->mu);
	return b;
}

/* w's buffer back to the pool (f->mu held, w idle, no reader). */
static void buf_give(struct fs *fs, struct fa_win *w)
{
	struct fetchahead *fa = fs->fa;

	if (!w->buf)
		return;
	pthread_mutex_lock(&fa->mu);
	for (unsigned i = 0; i < FA_BUFS; i++)
		if (fa->holder[i] == w)
			fa->holder[i] = NULL;
	pthread_mutex_unlock(&fa->mu);
	fs_buf_put(fs, w->buf);
	w->buf = NULL;
}

static struct fa_file *file_of(struct inode *in)
{
	struct fa_file *f = __atomic_load_n(&in->fa, __ATOMIC_ACQUIRE), *n;

	if (f)
		return f;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	n->in = in;
	for (unsigned k = 0; k < FA_WINS; k++)
		n->w[k].f = n;
	if (!__atomic_compare_exchange_n(&in->fa, &f, n, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pthread_cond_destroy(&n->cv);
		pthread_mutex_destroy(&n->mu);
		free(n);
		return f;
	}
	return n;
}

/* Hands [off, off+len) to a fetch thread (f->mu held, w idle, no
 * reader); false if no buffer is to be had. */
static bool hand_over(struct fs *fs, struct fa_win *w, uint64_t off, size_t len)
{
	struct fetchahead *fa = fs->fa;

	if (!w->buf)
		w->buf = buf_take(fs, w);
	if (!w->buf)
		return false;
	w->off = off;
	w->len = len;
	w->used = false;
	w->spoiled = false;
	w->state = FA_QUEUED;
	pthread_mutex_lock(&fa->mu);
	if (!w->inq) {
		w->inq = true;
		w->qnext = NULL;
		if (fa->tail)
			fa->tail->qnext = w;
		else
			fa->head = w;
		fa->tail = w;
		pthread_cond_signal(&fa->cv);
	}
	pthread_mutex_unlock(&fa->mu);
	return true;
}

static bool within(const struct fa_win *w, uint64_t off, size_t size)
{
	return w->state != FA_IDLE && off >= w->off && off + size <= w->off + w->len;
}

/*
 * The windows around a READ of [off, off+size) that was not answered
 * from one (f->mu held): those behind it or away from it go, those
 * ahead of it stay.
 */
static void settle(struct fs *fs, struct fa_file *f, uint64_t off, size_t size)
{
	uint64_t reach = off + size + FA_WINS * fs->set.fetch_ahead;

	for (unsigned k = 0; k < FA_WINS; k++) {
		struct fa_win *w = &f->w[k];

		if (w->state == FA_IDLE || w->readers || w->state == FA_FETCHING)
			continue;
		if (w->off + w->len <= off || w->off >= reach || w->off < off)
			drop(fs, w); /* a QUEUED one too: the thread skips it */
	}
}

/*
 * The windows of a reader that stopped FA_ABANDONED_NS ago go (f->mu
 * held): it made no use of them in time, and the reader that comes next
 * starts a streak of its own.  Not stale (a write spoils a window), but a
 * window is a bet on the next few milliseconds, not a cache: the data a
 * READ gets after a pause comes from the servers as they are then.
 */
static void abandon(struct fs *fs, struct fa_file *f)
{
	for (unsigned k = 0; k < FA_WINS; k++) {
		struct fa_win *w = &f->w[k];

		if (w->state != FA_IDLE && w->state != FA_FETCHING && !w->readers)
			drop(fs, w); /* a QUEUED one too: the thread skips it */
	}
}

ssize_t fetchahead_read(struct fs *fs, struct inode *in, uint64_t off, size_t size, char **data,
			struct fa_win **held)
{
	struct fetchahead *fa = fs->fa;
	struct fa_win *hit = NULL;
	struct fa_file *f;
	ssize_t n = -ENODATA;
	uint64_t frontier, now;

	*held = NULL;
	if (!fa || size < FA_MIN)
		return -ENODATA;
	f = file_of(in);
	if (!f)
		return -ENODATA;
	pthread_mutex_lock(&f->mu);
	now = vf_now_ns();
	if (now - f->last_ns > FA_ABANDONED_NS)
		abandon(fs, f);
	f->streak = off == f->next ? f->streak + 1 : 0;
	f->next = off + size;
	f->last_ns = now;
	for (bool waited = false;;) {
		struct fa_win *w = NULL;

		for (unsigned k = 0; k < FA_WINS && !w; k++)
			if (within(&f->w[k], off, size))
				w = &f->w[k];
		if (w && w->state == FA_FETCHING) {
			if (!waited)
				count(&fa->st.waits, 1);
			waited = true;
			/* and look again: the windows may have moved meanwhile */
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		if (w && w->state == FA_READY && !w->spoiled && (w->got >= 0 || waited)) {
			uint64_t at = off - w->off;

			if (w->got < 0)
				n = w->got;
			else
				n = (uint64_t)w->got <= at ? 0 : (ssize_t)((uint64_t)w->got - at);
			if (n > (ssize_t)size)
				n = (ssize_t)size;
			if (n > 0)
				count(&fa->st.used_bytes, (uint64_t)n);
			*data = w->buf + at;
			w->readers++;
			w->used = true;
			hit = *held = w;
		} else if (w && w->state == FA_READY) {
			/* written since; or a fetch that failed before this READ
			 * came: it reads for itself, under the failure policy */
			if (w->spoiled)
				count(&fa->st.stale, 1);
			drop(fs, w);
		} else if (w) {
			drop(fs, w); /* queued: this READ reads for itself, now */
		}
		break;
	}
	if (!hit) {
		settle(fs, f, off, size);
	} else {
		/* the windows wholly behind this READ are done with */
		for (unsigned k = 0; k < FA_WINS; k++) {
			struct fa_win *w = &f->w[k];

			if (w != hit && w->state == FA_READY && !w->readers &&
			    w->off + w->len <= off)
				drop(fs, w);
		}
	}
	/* the windows ahead: from the end of the chain that starts here,
	 * without those written since they were fetched */
	for (unsigned k = 0; k < FA_WINS; k++) {
		struct fa_win *w = &f->w[k];

		if (w->state == FA_READY && w->spoiled && !w->readers) {
			count(&fa->st.stale, 1);
			drop(fs, w);
		}
	}
	frontier = off + size;
	for (bool moved = true; moved;) {
		moved = false;
		for (unsigned k = 0; k < FA_WINS; k++) {
			struct fa_win *w = &f->w[k];

			if (w->state != FA_IDLE && w->off <= frontier &&
			    w->off + w->len > frontier) {
				frontier = w->off + w->len;
				moved = true;
			}
		}
	}
	if ((f->streak >= FA_STREAK || hit) && size <= fs->set.fetch_ahead) {
		for (unsigned k = 0; k < FA_WINS; k++) {
			struct fa_win *w = &f->w[k];

			if (w->state != FA_IDLE || w->readers ||
			    frontier >= __atomic_load_n(&in->size, __ATOMIC_RELAXED))
				continue;
			if (!hand_over(fs, w, frontier, (size_t)fs->set.fetch_ahead))
				break;
			frontier += fs->set.fetch_ahead;
		}
	}
	for (unsigned k = 0; k < FA_WINS; k++)
		if (f->w[k].state == FA_IDLE && !f->w[k].readers)
			buf_give(fs, &f->w[k]);
	pthread_mutex_unlock(&f->mu);
	return n;
}

void fetchahead_invalidate(struct fs *fs, struct inode *in, uint64_t off, uint64_t len)
{
	struct fa_file *f = __atomic_load_n(&in->fa, __ATOMIC_ACQUIRE);
	uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;

	if (!f)
		return; /* no window yet: those handed over later see the write's end */
	pthread_mutex_lock(&f->mu);
	for (unsigned k = 0; k < FA_WINS; k++) {
		struct fa_win *w = &f->w[k];

		if (w->state != FA_IDLE && w->off < end && off < w->off + w->len)
			w->spoiled = true;
	}
	pthread_mutex_unlock(&f->mu);
}

void fetchahead_done(struct fs *fs, struct fa_win *w)
{
	struct fa_file *f;

	if (!w)
		return;
	f = w->f;
	pthread_mutex_lock(&f->mu);
	w->readers--;
	if (w->state == FA_IDLE && !w->readers)
		buf_give(fs, w);
	pthread_mutex_unlock(&f->mu);
}

static void *fa_thread(void *arg)
{
	struct fs *fs = arg;
	struct fetchahead *fa = fs->fa;

	pthread_mutex_lock(&fa->mu);
	for (;;) {
		struct fa_win *w;
		struct fa_file *f;
		uint64_t off;
		size_t len;
		ssize_t got;
		char *b;

		while (!fa->head && !fa->stop)
			pthread_cond_wait(&fa->cv, &fa->mu);
		if (fa->stop)
			break;
		w = fa->head;
		fa->head = w->qnext;
		if (!fa->head)
			fa->tail = NULL;
		w->inq = false;
		w->claimed++; /* fetchahead_file_free() waits for it */
		f = w->f;
		pthread_mutex_unlock(&fa->mu);
		/* never f->mu under fa->mu: hand_over() takes them the other way */
		pthread_mutex_lock(&f->mu);
		if (w->state != FA_QUEUED) {
			pthread_mutex_unlock(&f->mu);
			goto next;
		}
		w->state = FA_FETCHING;
		off = w->off, len = w->len, b = w->buf;
		pthread_mutex_unlock(&f->mu);

		got = file_read_raw(fs, f->in, off, len, b);
		count(&fa->st.windows, 1);
		if (got > 0)
			count(&fa->st.bytes, (uint64_t)got);
		else if (got < 0)
			count(&fa->st.errors, 1);

		pthread_mutex_lock(&f->mu);
		w->got = got;
		w->state = FA_READY;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
next:
		pthread_mutex_lock(&fa->mu);
		w->claimed--;
		pthread_cond_broadcast(&fa->done_cv);
	}
	pthread_mutex_unlock(&fa->mu);
	return NULL;
}

int fetchahead_start(struct fs *fs)
{
	struct fetchahead *fa;
	int ret;

	if (!fs->set.fetch_ahead)
		return 0;
	fa = calloc(1, sizeof(*fa));
	if (!fa)
		return -ENOMEM;
	pthread_mutex_init(&fa->mu, NULL);
	pthread_cond_init(&fa->cv, NULL);
	pthread_cond_init(&fa->done_cv, NULL);
	fs->fa = fa;
	for (; fa->nthreads < FA_THREADS; fa->nthreads++) {
		ret = pthread_create(&fa->tid[fa->nthreads], NULL, fa_thread, fs);
		if (ret) {
			vf_warn("cannot start a fetch-ahead thread (%s): sequential reads wait "
				"for each window",
				strerror(ret));
			break;
		}
	}
	if (!fa->nthreads) {
		fs->fa = NULL;
		pthread_cond_destroy(&fa->done_cv);
		pthread_cond_destroy(&fa->cv);
		pthread_mutex_destroy(&fa->mu);
		free(fa);
	}
	return 0;
}

void fetchahead_stop(struct fs *fs)
{
	struct fetchahead *fa = fs->fa;

	if (!fa || fa->stop)
		return;
	pthread_mutex_lock(&fa->mu);
	fa->stop = true;
	pthread_cond_broadcast(&fa->cv);
	pthread_mutex_unlock(&fa->mu);
	for (unsigned i = 0; i < fa->nthreads; i++)
		pthread_join(fa->tid[i], NULL);
	fa->nthreads = 0;
	/* Every window's buffer back to the pool, which is freed before the
	 * files are (its slots of buffers in use are stale).  No READ comes
	 * any more: an f->mu may be taken under fa->mu. */
	pthread_mutex_lock(&fa->mu);
	for (unsigned i = 0; i < FA_BUFS; i++) {
		struct fa_win *w = fa->holder[i];

		if (!w)
			continue;
		pthread_mutex_lock(&w->f->mu);
		drop(fs, w);
		fs_buf_put(fs, w->buf);
		w->buf = NULL;
		fa->holder[i] = NULL;
		pthread_mutex_unlock(&w->f->mu);
	}
	pthread_mutex_unlock(&fa->mu);
}

void fetchahead_file_free(struct fs *fs, struct inode *in)
{
	struct fa_file *f = in->fa;
	struct fetchahead *fa = fs->fa;

	if (!f)
		return;
	if (fa) {
		pthread_mutex_lock(&fa->mu);
		for (unsigned k = 0; k < FA_WINS; k++) {
			struct fa_win *w = &f->w[k];

			if (w->inq) {
				struct fa_win **p = &fa->head, *prev = NULL;

				while (*p != w)
					prev = *p, p = &(*p)->qnext;
				*p = w->qnext;
				if (fa->tail == w)
					fa->tail = prev;
				w->inq = false;
			}
			while (w->claimed)
				pthread_cond_wait(&fa->done_cv, &fa->mu);
		}
		pthread_mutex_unlock(&fa->mu);
	}
	pthread_mutex_lock(&f->mu);
	for (unsigned k = 0; k < FA_WINS; k++) {
		drop(fs, &f->w[k]);
		buf_give(fs, &f->w[k]); /* no READ is left: the file is closed */
	}
	pthread_mutex_unlock(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
	in->fa = NULL;
}

void fetchahead_free(struct fs *fs)
{
	struct fetchahead *fa = fs->fa;

	if (!fa)
		return;
	fetchahead_stop(fs);
	pthread_cond_destroy(&fa->done_cv);
	pthread_cond_destroy(&fa->cv);
	pthread_mutex_destroy(&fa->mu);
	free(fa);
	fs->fa = NULL;
}

void fetchahead_stats(struct fs *fs, struct fa_stats *st)
{
	struct fetchahead *fa = fs->fa;

	memset(st, 0, sizeof(*st));
	if (!fa)
		return;
	st->windows = __atomic_load_n(&fa->st.windows, __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&fa->st.bytes, __ATOMIC_RELAXED);
	st->used_bytes = __atomic_load_n(&fa->st.used_bytes, __ATOMIC_RELAXED);
	st->dropped_bytes = __atomic_load_n(&fa->st.dropped_bytes, __ATOMIC_RELAXED);
	st->waits = __atomic_load_n(&fa->st.waits, __ATOMIC_RELAXED);
	st->stale = __atomic_load_n(&fa->st.stale, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&fa->st.errors, __ATOMIC_RELAXED);
	st->reclaimed = __atomic_load_n(&fa->st.reclaimed, __ATOMIC_RELAXED);
}
