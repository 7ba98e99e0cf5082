// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The redundancy of a file's data, and its repair.
 *
 * A file is a map of extents, one per slab-sized range; an extent keeps
 * its data in slabs on distinct servers.  Today each is a full copy (the
 * scheme "copies", --replicas N); everything the page path asks of a
 * scheme is in the four calls ext_read(), ext_write(), ext_count() and
 * rebuild_chunk(), so that a k+m erasure code can take its place (see
 * docs/architecture.md, "Redundancy").
 *
 * Copies and their states (fs.h, enum copy_state):
 *   - a write goes to every OK or FILLING copy at once and is done once
 *     every one that is up has it; one that misses it (down, refused, or
 *     silent past io_timeout) is STALE from that moment, before the write
 *     is acknowledged, so it never serves a read it would answer wrongly;
 *   - a read goes to the OK copy whose server answers faster, and turns
 *     to another on an error or a timeout within the same request;
 *   - a copy whose server is lost (it said so), or away longer than its
 *     lease, or drained, is GONE: it is replaced.
 *
 * The repair thread rebuilds: a STALE copy in place once its server is
 * back, a GONE one (or one short of the count asked, or one on a server
 * being drained) as a new copy on a server that holds none of the
 * extent.  The new copy takes writes from the moment it exists (FILLING)
 * and is filled behind a cursor, one chunk at a time, with e->fill held
 * exclusively for the chunk: a write is either wholly before the chunk's
 * copy (and copied with it) or wholly after (and written to it directly).
 * It serves reads once full.  The rate is limited (--repair-rate); reads
 * and writes go on meanwhile.  When no server has room, the extent stays
 * degraded, and the log and stats say so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define CHUNK (1u << 20) /* a rebuild's unit: VF_MAX_IO */
#define RESCAN_MS 2000	 /* how often work left undone is looked at again */

static enum copy_state cstate(const struct extent *e, unsigned k)
{
	return copy_get(e, k).state;
}

static void set_cstate(struct extent *e, unsigned k, enum copy_state st)
{
	struct copy c = copy_get(e, k);

	c.state = st;
	copy_set(e, k, c);
}

static struct server *srv_of(struct fs *fs, struct copy c)
{
	return &fs->srv[c.srv];
}

static bool srv_lost(struct server *s)
{
	enum srv_state st;

	fs_mutex_lock(&s->lock);
	st = s->state;
	fs_mutex_unlock(&s->lock);
	return st == SRV_LOST;
}

static bool srv_up(struct server *s)
{
	enum srv_state st;

	fs_mutex_lock(&s->lock);
	st = s->state;
	fs_mutex_unlock(&s->lock);
	return st == SRV_UP;
}

/* An extent on block blk of the state (a new one: allocated and zeroed). */
static struct extent *ext_on(struct fs *fs, uint32_t blk)
{
	struct extent *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->blk = blk;
	e->b = state_block(fs, blk);
	fs_rwlock_init_wpref(&e->fill, LOCK_EXTENT);
	return e;
}

struct extent *ext_new(struct fs *fs)
{
	struct extent *e;
	uint32_t blk;

	if (state_block_alloc(fs, &blk))
		return NULL;
	e = ext_on(fs, blk);
	if (!e)
		state_block_free(fs, blk);
	return e;
}

struct extent *ext_load(struct fs *fs, uint32_t blk)
{
	return ext_on(fs, blk);
}

void ext_free(struct fs *fs, struct extent *e)
{
	state_block_free(fs, e->blk);
	fs_rwlock_destroy(&e->fill);
	free(e);
}

unsigned ext_ncopies(const struct extent *e)
{
	unsigned n = 0;

	for (unsigned k = 0; k < EXT_SLOTS; k++)
		n += cstate(e, k) != COPY_EMPTY;
	return n;
}

bool any_written(const struct extent *e, uint64_t first, uint64_t last)
{
	for (uint64_t pg = first; pg <= last; pg++) {
		if (pg % 64 == 0 && pg + 63 <= last) {
			if (__atomic_load_n(&e->b->written[pg / 64], __ATOMIC_ACQUIRE))
				return true;
			pg += 63;
			continue;
		}
		if (page_written(e, pg))
			return true;
	}
	return false;
}

unsigned ext_count(const struct extent *e, enum copy_state st)
{
	unsigned n = 0;

	for (unsigned k = 0; k < EXT_SLOTS; k++)
		n += cstate(e, k) == st;
	return n;
}

/* ---- the page path ---- */

static unsigned explore; /* reads that went through read_order (__atomic) */

/*
 * The OK copies of e other than `skip` (-1: none), those whose server is
 * up first, faster first.  Returns how many.
 */
static unsigned read_order(struct fs *fs, struct extent *e, int skip, unsigned *order)
{
	uint64_t key[FS_MAX_REPLICAS + 1];
	unsigned n = 0;

	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct server *s;

		if ((int)k == skip || cstate(e, k) != COPY_OK)
			continue;
		s = srv_of(fs, copy_get(e, k));
		key[n] = __atomic_load_n(&s->read_ewma_ns, __ATOMIC_RELAXED) +
			 (srv_up(s) ? 0 : UINT64_MAX / 2);
		order[n++] = k;
	}
	for (unsigned i = 1; i < n; i++) /* at most four: insertion sort */
		for (unsigned j = i; j > 0 && key[j] < key[j - 1]; j--) {
			uint64_t tk = key[j];
			unsigned to = order[j];

			key[j] = key[j - 1];
			order[j] = order[j - 1];
			key[j - 1] = tk;
			order[j - 1] = to;
		}
	/* One read in 16 goes to the second best, if it is up: a server only
	 * ever measured by the reads it gets must get some, or one slow early
	 * sample would keep it out for good. */
	if (n > 1 && key[1] < UINT64_MAX / 2 &&
	    __atomic_fetch_add(&explore, 1, __ATOMIC_RELAXED) % 16 == 0) {
		unsigned t = order[0];

		order[0] = order[1];
		order[1] = t;
	}
	return n;
}

static int read_from(struct fs *fs, struct extent *e, int skip, uint64_t so, uint32_t n, void *buf,
		     bool may_wait)
{
	unsigned order[EXT_SLOTS], cnt = read_order(fs, e, skip, order);
	struct copy c;
	int ret = -EIO;

	if (cnt == 0)
		return -EIO; /* no copy left */
	if (cnt == 1 && may_wait) {
		/* one copy: the single-copy policy (wait up to read_timeout) */
		c = copy_get(e, order[0]);
		return server_rw(srv_of(fs, c), VF_OP_READ, c.id, so, n, buf);
	}
	for (unsigned i = 0; i < cnt; i++) {
		c = copy_get(e, order[i]);
		ret = server_rw_once(srv_of(fs, c), VF_OP_READ, c.id, so, n, buf);
		if (ret == 0)
			return 0;
		if (i + 1 < cnt)
			vf_info("server %s: read of slab %u at %" PRIu64
				" failed (%s): turning to another copy",
				srv_of(fs, c)->url, c.id, so, strerror(-ret));
	}
	if (!may_wait)
		return ret;
	/* none answered at once: wait for the best one, as a single copy would */
	c = copy_get(e, order[0]);
	return server_rw(srv_of(fs, c), VF_OP_READ, c.id, so, n, buf);
}

int ext_read(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, void *buf)
{
	return read_from(fs, e, -1, so, n, buf, true);
}

static void mark_stale(struct fs *fs, struct extent *e, unsigned k, const char *why)
{
	struct copy c = copy_get(e, k);

	if (copy_cas_state(e, k, COPY_OK, COPY_STALE) ||
	    copy_cas_state(e, k, COPY_FILLING, COPY_STALE)) {
		vf_log_ratelimited(LOG_WARNING,
				   "server %s: the copy in slab %u missed a write (%s): stale "
				   "until it is rebuilt",
				   srv_of(fs, c)->url, c.id, why);
		fs_repair_kick(fs);
	}
}

int ext_write_settle(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, const void *buf,
		     unsigned cnt, const unsigned *idx, const bool *was_ok, const int *status)
{
	bool took[EXT_SLOTS] = { false };
	unsigned ok_took = 0;
	int ret = -EIO;

	for (unsigned i = 0; i < cnt; i++) {
		took[i] = status[i] == 0;
		ok_took += took[i] && was_ok[i];
	}
	if (!ok_took) {
		/* No up-to-date copy took it at once: wait for one, as a single
		 * copy would (up to its server's lease). */
		for (unsigned i = 0; i < cnt && !ok_took; i++) {
			struct copy c = copy_get(e, idx[i]);

			if (!was_ok[i])
				continue;
			ret = server_rw(srv_of(fs, c), VF_OP_WRITE, c.id, so, n, (void *)buf);
			if (ret == 0)
				took[i] = true, ok_took = 1;
		}
		if (!ok_took)
			return ret ? ret : -EIO; /* nothing is marked: nothing has it */
	}
	for (unsigned i = 0; i < cnt; i++)
		if (!took[i])
			mark_stale(fs, e, idx[i],
				   status[i] == -EAGAIN ? "its server is down"
							: strerror(-status[i]));
	return 0;
}

int ext_write(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, const void *buf)
{
	struct srv_io io[EXT_SLOTS];
	unsigned idx[EXT_SLOTS], cnt = 0;
	bool was_ok[EXT_SLOTS];
	int status[EXT_SLOTS];

	struct copy c0 = copy_get(e, 0);

	if (c0.state == COPY_OK && ext_ncopies(e) == 1) /* the single-copy path */
		return server_rw(srv_of(fs, c0), VF_OP_WRITE, c0.id, so, n, (void *)buf);
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);
		enum copy_state st = c.state;

		if (st != COPY_OK && st != COPY_FILLING)
			continue;
		was_ok[cnt] = st == COPY_OK;
		idx[cnt] = k;
		io[cnt] = (struct srv_io){ .s = srv_of(fs, c),
					   .type = VF_OP_WRITE,
					   .slab = c.id,
					   .off = so,
					   .len = n,
					   .buf = (void *)buf };
		cnt++;
	}
	if (cnt == 0)
		return -EIO; /* no copy left to write to */
	servers_rw_all(fs, io, cnt);
	for (unsigned i = 0; i < cnt; i++)
		status[i] = io[i].status;
	return ext_write_settle(fs, e, so, n, buf, cnt, idx, was_ok, status);
}

/* ---- walking the files ---- */

struct pinned_file {
	struct inode *in;
	char *path;
};

/* Every file, pinned and named (ns_lock taken here). */
static GArray *pin_files(struct fs *fs)
{
	GArray *files = g_array_new(FALSE, FALSE, sizeof(struct pinned_file));
	GHashTableIter it;
	gpointer v;

	fs_mutex_lock(&fs->ns_lock);
	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct pinned_file f = { .in = v };

		if (f.in->kind != INODE_FILE)
			continue;
		f.in->pinned++;
		f.path = inode_path(fs, f.in);
		g_array_append_val(files, f);
	}
	fs_mutex_unlock(&fs->ns_lock);
	return files;
}

static void unpin_files(struct fs *fs, GArray *files)
{
	fs_mutex_lock(&fs->ns_lock);
	for (guint k = 0; k < files->len; k++) {
		struct pinned_file *f = &g_array_index(files, struct pinned_file, k);

		f->in->pinned--;
		inode_maybe_free(fs, f->in);
		g_free(f->path);
	}
	fs_mutex_unlock(&fs->ns_lock);
	g_array_free(files, TRUE);
}

/* Appends " [aM, bM)" runs of the extents flagged in hit[0..n) to out,
 * after the file's name the first time. */
static void append_runs(GString *out, const char *path, const bool *hit, uint32_t n, uint64_t S)
{
	bool any = false;
	int64_t run = -1;

	for (uint32_t i = 0; i <= n; i++) {
		bool here = i < n && hit[i];

		if (here && run < 0)
			run = i;
		if (!here && run >= 0) {
			if (!any) {
				g_string_append_printf(out, "%s%s at", out->len ? "; " : "", path);
				any = true;
			}
			g_string_append_printf(out, " [%" PRIu64 "M, %" PRIu64 "M)",
					       (uint64_t)run * S >> 20, (uint64_t)i * S >> 20);
			run = -1;
		}
	}
}

/*
 * fs->describe_loss: the copies on server srv are GONE where another
 * copy is up to date (they are rebuilt from it); where none is, they are
 * the data's last copy: lost (srv LOST: reported, and the file's next
 * fsync fails) or waited for (srv away past its lease: it may come
 * back).  A map is read under its file's rw, which comes before ns_lock:
 * the files are pinned and named under ns_lock, and their maps read
 * after it is dropped.
 */
static char *describe_loss(struct fs *fs, unsigned srv, bool past_lease, char **rebuilt)
{
	GArray *files = pin_files(fs);
	GString *lost = g_string_new(NULL), *moved = g_string_new(NULL);

	for (guint k = 0; k < files->len; k++) {
		struct pinned_file *f = &g_array_index(files, struct pinned_file, k);
		struct inode *in = f->in;
		bool *hit_lost, *hit_moved, any_lost = false;

		fs_rwlock_rdlock(&in->rw);
		hit_lost = calloc(in->nmap + 1, sizeof(bool));
		hit_moved = calloc(in->nmap + 1, sizeof(bool));
		for (uint32_t i = 0; hit_lost && hit_moved && i < in->nmap; i++) {
			struct extent *e = map_get(in, i);
			unsigned others = 0;
			int here = -1;

			/* Past the lease, a copy is given up only for another that
			 * can be read now: two servers away at once (a partition)
			 * must not each be given up for the other.  Lost, any other
			 * up-to-date copy counts: its server may come back. */
			for (unsigned c = 0; e && c < EXT_SLOTS; c++) {
				struct copy cp = copy_get(e, c);

				if (cp.state == COPY_EMPTY)
					continue;
				if (cp.srv == srv && cp.state != COPY_GONE)
					here = (int)c;
				else if (cp.state == COPY_OK &&
					 (!past_lease || srv_up(srv_of(fs, cp))))
					others++;
			}
			if (here < 0)
				continue;
			if (others) {
				set_cstate(e, (unsigned)here, COPY_GONE);
				hit_moved[i] = true;
			} else if (!past_lease) {
				set_cstate(e, (unsigned)here, COPY_GONE);
				hit_lost[i] = any_lost = true;
			}
		}
		if (hit_lost && hit_moved) {
			append_runs(lost, f->path, hit_lost, in->nmap, fs->slab_size);
			append_runs(moved, f->path, hit_moved, in->nmap, fs->slab_size);
		}
		fs_rwlock_unlock(&in->rw);
		free(hit_lost);
		free(hit_moved);
		if (any_lost)
			__atomic_store_n(&in->write_error, true, __ATOMIC_RELAXED);
	}
	unpin_files(fs, files);
	*rebuilt = g_string_free(moved, FALSE);
	return g_string_free(lost, FALSE);
}

/* ---- stats ---- */

bool file_degraded(struct fs *fs, struct inode *in, const struct timespec *dl, uint64_t *degraded,
		   uint64_t *unprotected, uint64_t *lost)
{
	uint64_t S = fs->slab_size, d = 0, u = 0, l = 0;
	unsigned want = file_replicas(fs, in);

	if (!dl) {
		fs_rwlock_rdlock(&in->rw);
	} else if (fs_rwlock_rdlock_by(&in->rw, dl)) {
		/* held exclusively, maybe by a resize waiting on a server
		 * that does not answer: the stats must not wait for it */
		*degraded = __atomic_load_n(&in->seen_degraded, __ATOMIC_RELAXED);
		if (unprotected)
			*unprotected = __atomic_load_n(&in->seen_unprotected, __ATOMIC_RELAXED);
		if (lost)
			*lost = __atomic_load_n(&in->seen_lost, __ATOMIC_RELAXED);
		return false;
	}
	for (uint32_t i = 0; i < in->nmap; i++) {
		struct extent *e = map_get(in, i);
		uint64_t bytes, end = (uint64_t)(i + 1) * S;
		unsigned ok;

		if (!e || (uint64_t)i * S >= in->size)
			continue;
		bytes = (end < in->size ? end : in->size) - (uint64_t)i * S;
		ok = ext_count(e, COPY_OK);
		if (ok < want)
			d += bytes;
		if (ok == 1 && want > 1)
			u += bytes;
		if (ok == 0)
			l += bytes;
	}
	fs_rwlock_unlock(&in->rw);
	__atomic_store_n(&in->seen_degraded, d, __ATOMIC_RELAXED);
	__atomic_store_n(&in->seen_unprotected, u, __ATOMIC_RELAXED);
	__atomic_store_n(&in->seen_lost, l, __ATOMIC_RELAXED);
	*degraded = d;
	if (unprotected)
		*unprotected = u;
	if (lost)
		*lost = l;
	return true;
}

/* The rate in force: --repair-rate-busy while the files are in use (read
 * or written since the last chunk), as md's resync gives way to other
 * I/O, never above --repair-rate; --repair-rate otherwise.  0: no limit. */
static uint64_t rate_in_force(const struct fs *fs, bool in_use)
{
	uint64_t idle = fs->set.repair_rate, busy = fs->set.repair_rate_busy;

	return in_use && busy && (!idle || busy < idle) ? busy : idle;
}

void fs_repl_stats(struct fs *fs, struct repl_stats *st, const struct timespec *dl)
{
	GArray *files = pin_files(fs);

	memset(st, 0, sizeof(*st));
	for (guint k = 0; k < files->len; k++) {
		struct inode *in = g_array_index(files, struct pinned_file, k).in;
		uint64_t d, u, l;

		file_degraded(fs, in, dl, &d, &u, &l);
		st->degraded_bytes += d;
		st->unprotected_bytes += u;
		st->lost_bytes += l;
	}
	unpin_files(fs, files);
	st->repair_done_bytes = __atomic_load_n(&fs->repair_done_bytes, __ATOMIC_RELAXED);
	st->repair_rate_bps = __atomic_load_n(&fs->repair_rate_bps, __ATOMIC_RELAXED);
	st->repair_rate_limit =
		rate_in_force(fs, __atomic_load_n(&fs->repair_yields, __ATOMIC_RELAXED));
	st->repair_blocked = __atomic_load_n(&fs->repair_blocked, __ATOMIC_RELAXED);
	st->repair_waiting = __atomic_load_n(&fs->repair_waiting, __ATOMIC_RELAXED);
	st->repair_handoff = __atomic_load_n(&fs->repair_handoff, __ATOMIC_RELAXED);
}

/* ---- the repair ---- */

void fs_repair_kick(struct fs *fs)
{
	fs_mutex_lock(&fs->repair_lock);
	fs->repair_kick = true;
	pthread_cond_signal(&fs->repair_cv);
	fs_mutex_unlock(&fs->repair_lock);
}

static bool repair_stopping(struct fs *fs)
{
	bool stop;

	fs_mutex_lock(&fs->repair_lock);
	stop = fs->repair_stop;
	fs_mutex_unlock(&fs->repair_lock);
	return stop;
}

struct rate {
	uint64_t next_ns;	    /* when the next chunk may start, at the rate in force */
	uint64_t seen;		    /* fs->page_requests at the last chunk */
	uint64_t win_ns, win_bytes; /* for the measured rate */
};

/* A chunk may run this far behind its schedule (after a pause, a pass
 * with nothing to copy): a burst of at most this long at the rate. */
#define RATE_SLACK_NS 100000000ull

/* Sleeps as long as the rate in force asks after `bytes` more were copied. */
static void rate_limit(struct fs *fs, struct rate *r, uint64_t bytes)
{
	uint64_t now = vf_now_ns(), limit,
		 seen = __atomic_load_n(&fs->page_requests, __ATOMIC_RELAXED);
	bool in_use = seen != r->seen;

	r->seen = seen;
	limit = rate_in_force(fs, in_use);
	__atomic_store_n(&fs->repair_yields, in_use && limit != fs->set.repair_rate,
			 __ATOMIC_RELAXED);
	__atomic_add_fetch(&fs->repair_done_bytes, bytes, __ATOMIC_RELAXED);
	if (!r->win_ns) {
		/* the measured rate counts what is copied after its start */
		r->win_ns = now;
		r->win_bytes = 0;
	} else {
		r->win_bytes += bytes;
	}
	if (now - r->win_ns >= 500000000ull) {
		__atomic_store_n(&fs->repair_rate_bps,
				 r->win_bytes * 1000000000ull / (now - r->win_ns),
				 __ATOMIC_RELAXED);
		r->win_ns = now;
		r->win_bytes = 0;
	}
	if (!limit)
		return;
	/* each chunk's time at the rate, from where the last one's ended */
	if (r->next_ns + RATE_SLACK_NS < now)
		r->next_ns = now - RATE_SLACK_NS;
	r->next_ns += bytes * 1000000000ull / limit;
	/* the pause ends early when the repair is stopped (an unmount) */
	fs_mutex_lock(&fs->repair_lock);
	while (!fs->repair_stop && (now = vf_now_ns()) < r->next_ns) {
		struct timespec dl = vf_deadline_ms((r->next_ns - now + 999999) / 1000000);

		fs_cond_timedwait(&fs->repair_cv, &fs->repair_lock, &dl);
	}
	fs_mutex_unlock(&fs->repair_lock);
}

/* RB_AGAIN: looked at again now; RB_WAIT: in the next pass, and counted
 * apart (a server it needs is down); RB_HANDOFF: in the next pass, and
 * counted apart (a handoff of its file is pending); RB_BLOCKED: in the
 * next pass, and counted (no room) */
enum rebuild_result { RB_DONE, RB_AGAIN, RB_WAIT, RB_HANDOFF, RB_BLOCKED, RB_GONE };

/*
 * Copies chunk [off, off+CHUNK) of e into copy k, from an OK copy:
 * in->rw shared (the map stays), e->fill exclusive (no write in between).
 */
static int rebuild_chunk(struct fs *fs, struct extent *e, unsigned k, uint64_t off, uint32_t len,
			 void *buf)
{
	struct copy t = copy_get(e, k);
	int ret;

	ret = read_from(fs, e, (int)k, off, len, buf, false);
	if (ret) {
		vf_warn("rebuilding a copy in slab %u on %s: no other copy answered (%s)", t.id,
			srv_of(fs, t)->url, strerror(-ret));
		return ret;
	}
	ret = server_rw_once(srv_of(fs, t), VF_OP_WRITE, t.id, off, len, buf);
	if (ret)
		mark_stale(fs, e, k, "a rebuild's write failed");
	return ret;
}

/* Fills copy k (FILLING) of extent idx of in, chunk by chunk. */
static enum rebuild_result fill(struct fs *fs, struct inode *in, uint32_t idx, struct extent *e,
				unsigned k, struct rate *r, void *buf)
{
	uint64_t S = fs->slab_size, chunk = MIN((uint64_t)CHUNK, S), ppc = chunk / FS_PAGE;
	bool alive = true, copied;
	int ret = 0;

	for (uint64_t off = 0; off < S && !ret; off += chunk) {
		if (repair_stopping(fs))
			return RB_AGAIN;
		fs_rwlock_rdlock(&in->rw);
		alive = map_get(in, idx) == e;
		if (!alive || cstate(e, k) != COPY_FILLING) {
			fs_rwlock_unlock(&in->rw);
			return alive ? RB_AGAIN : RB_GONE;
		}
		fs_rwlock_wrlock(&e->fill);
		awrite_wait_extent(fs, e);
		copied = any_written(e, off / FS_PAGE, off / FS_PAGE + ppc - 1);
		if (copied)
			ret = rebuild_chunk(fs, e, k, off, (uint32_t)chunk, buf);
		fs_rwlock_unlock(&e->fill);
		fs_rwlock_unlock(&in->rw);
		/* the pause, with no lock held: writes and resizes go on */
		if (copied && !ret)
			rate_limit(fs, r, chunk);
	}
	if (ret)
		return RB_AGAIN;
	fs_rwlock_rdlock(&in->rw);
	if (map_get(in, idx) != e) {
		fs_rwlock_unlock(&in->rw);
		return RB_GONE;
	}
	fs_rwlock_wrlock(&e->fill);
	awrite_wait_extent(fs, e);
	ret = copy_cas_state(e, k, COPY_FILLING, COPY_OK) ? 0 : -EAGAIN;
	fs_rwlock_unlock(&e->fill);
	fs_rwlock_unlock(&in->rw);
	return ret ? RB_AGAIN : RB_DONE;
}

/* Is the copy where it may stay: not GONE, its server not drained? */
static bool copy_keeps(struct fs *fs, struct copy c)
{
	bool draining;

	if (c.state == COPY_GONE || c.state == COPY_EMPTY)
		return false;
	fs_mutex_lock(&fs->alloc_lock);
	draining = fs->srv[c.srv].draining;
	fs_mutex_unlock(&fs->alloc_lock);
	return !draining;
}

/*
 * Drops the copies of e that are GONE or drained (once enough others
 * are up to date) and those beyond the count asked (in->rw exclusive).
 * Their slabs go back (queued if their server is away).
 */
static void drop_copies(struct fs *fs, struct inode *in, struct extent *e, unsigned want)
{
	struct slab_grant g[EXT_SLOTS];
	unsigned n = 0, ok_kept = 0;
	bool drop[EXT_SLOTS] = { false };

	for (unsigned k = 0; k < EXT_SLOTS; k++)
		ok_kept += cstate(e, k) == COPY_OK && copy_keeps(fs, copy_get(e, k));
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);

		if (c.state == COPY_GONE && (ok_kept >= want || srv_lost(srv_of(fs, c))))
			drop[k] = true; /* replaced, or its server lost it */
		else if (c.state != COPY_EMPTY && c.state != COPY_GONE && !copy_keeps(fs, c) &&
			 ok_kept >= want)
			drop[k] = true; /* drained, and safe elsewhere */
	}
	/* more than asked (the count was lowered): the surplus OK copies */
	for (unsigned k = EXT_SLOTS; k-- > 0 && ok_kept > want;)
		if (!drop[k] && cstate(e, k) == COPY_OK && copy_keeps(fs, copy_get(e, k))) {
			drop[k] = true;
			ok_kept--;
		}
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);

		if (!drop[k])
			continue;
		g[n++] = (struct slab_grant){ .srv = c.srv, .id = c.id };
		/* EMPTY before the slab goes: a worker killed in between leaves
		 * an orphan the next one frees, never a copy naming a free slab */
		copy_set(e, k, (struct copy){ .state = COPY_EMPTY });
	}
	if (!n)
		return;
	__atomic_sub_fetch(&in->held, n, __ATOMIC_RELAXED);
	servers_free(fs, g, n);
}

/*
 * One step of work on extent idx of in: drop what is to go, then rebuild
 * a stale copy in place or add a copy where one is short.
 */
static enum rebuild_result repair_extent(struct fs *fs, struct pinned_file *f, uint32_t idx,
					 struct rate *r, void *buf)
{
	struct inode *in = f->in;
	unsigned want = file_replicas(fs, in), keep = 0, ok = 0;
	uint64_t exclude = 0;
	struct extent *e;
	struct slab_grant g;
	int target = -1, ret;
	unsigned tsrv;
	bool busy, full;
	char why[512];
	enum rebuild_result rr;
	uint64_t t0 = vf_now_ms(), S = fs->slab_size;

	fs_rwlock_wrlock(&in->rw);
	awrite_wait_inode(fs, in);
	e = map_get(in, idx);
	if (!e || !ext_count(e, COPY_OK)) {
		/* nothing, or nothing left to rebuild from */
		fs_rwlock_unlock(&in->rw);
		return RB_DONE;
	}
	if (handoff_pending(in)) {
		bool moves = false;

		/* the other mount's map names these slabs: they stay until the
		 * handoff is committed or aborted, even on a drained server */
		for (unsigned k = 0; k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			ok += c.state == COPY_OK;
			if (c.state != COPY_OK || !copy_keeps(fs, c))
				moves = true;
		}
		fs_rwlock_unlock(&in->rw);
		if (!moves && ok == want)
			return RB_DONE;
		vf_log_ratelimited(LOG_WARNING,
				   "file %s [%" PRIu64 "M, %" PRIu64 "M): its copies wait: %s",
				   f->path, (uint64_t)idx * S >> 20, (uint64_t)(idx + 1) * S >> 20,
				   "a handoff to another mount is pending (a live migration); "
				   "they move once it is committed or aborted");
		return RB_HANDOFF;
	}
	/* A copy given up while its server was away, still here now that it
	 * is back (its session resumed: the slab is still ours): a stale copy,
	 * rebuilt in place, which is cheaper than a new one and the only way
	 * when no other server has room. */
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);

		if (c.state == COPY_GONE && srv_up(srv_of(fs, c)) &&
		    copy_keeps(fs, (struct copy){ .srv = c.srv, .state = COPY_STALE }))
			set_cstate(e, k, COPY_STALE);
	}
	drop_copies(fs, in, e, want);
	for (unsigned k = 0; k < EXT_SLOTS; k++) {
		struct copy c = copy_get(e, k);
		enum copy_state st = c.state;

		if (st == COPY_EMPTY)
			continue;
		exclude |= 1ull << c.srv;
		ok += st == COPY_OK;
		if (copy_keeps(fs, c))
			keep++;
		/* A FILLING copy is filled by nothing else (this thread fills
		 * inside this call): one added by file_set_replicas, or one
		 * whose fill stopped.  Then a stale one, in place. */
		if ((st == COPY_FILLING || st == COPY_STALE) && copy_keeps(fs, c) &&
		    srv_up(srv_of(fs, c)) && (target < 0 || st == COPY_FILLING))
			target = (int)k;
	}
	if (target >= 0) {
		/* it takes writes from now, and is filled behind them */
		set_cstate(e, (unsigned)target, COPY_FILLING);
		tsrv = copy_get(e, (unsigned)target).srv;
		fs_rwlock_unlock(&in->rw);
		goto fill;
	}
	busy = ext_count(e, COPY_STALE) || ext_count(e, COPY_FILLING);
	full = ext_ncopies(e) >= EXT_SLOTS;
	fs_rwlock_unlock(&in->rw);
	if (busy)
		return RB_AGAIN; /* a stale or new copy's server is away */
	if (keep >= want && ok >= want)
		return RB_DONE;
	if (full)
		return RB_AGAIN;

	/* a new copy, on a server that holds none of this extent, nor is away
	 * longer than its lease (its copies are the ones being replaced) */
	for (unsigned i = 0; i < fs_nsrv(fs); i++)
		if (__atomic_load_n(&fs->srv[i].gone, __ATOMIC_RELAXED))
			exclude |= 1ull << i;
	ret = servers_alloc(fs, 1, 1, exclude, &g, why, sizeof(why));
	if (ret == -EIO) {
		/* not NO ROOM: a server that is down may have it (or the
		 * connection to one broke): tried again in the next pass */
		vf_log_ratelimited(LOG_WARNING,
				   "file %s [%" PRIu64 "M, %" PRIu64
				   "M): a new copy waits: %s; it stays with %u up-to-date copies "
				   "of %u asked",
				   f->path, (uint64_t)idx * S >> 20, (uint64_t)(idx + 1) * S >> 20,
				   why, ok, want);
		return RB_WAIT;
	}
	if (ret) {
		vf_log_ratelimited(LOG_ERR,
				   "file %s [%" PRIu64 "M, %" PRIu64
				   "M): NO ROOM for a new copy (%s); it stays with %u up-to-date "
				   "copies of %u asked",
				   f->path, (uint64_t)idx * S >> 20, (uint64_t)(idx + 1) * S >> 20,
				   why, ok, want);
		return RB_BLOCKED;
	}
	fs_rwlock_wrlock(&in->rw);
	awrite_wait_inode(fs, in);
	target = -1;
	for (unsigned k = 0; map_get(in, idx) == e && k < EXT_SLOTS && target < 0; k++)
		if (cstate(e, k) == COPY_EMPTY)
			target = (int)k;
	if (target < 0) {
		fs_rwlock_unlock(&in->rw);
		servers_free(fs, &g, 1);
		return map_get(in, idx) == e ? RB_AGAIN : RB_GONE;
	}
	tsrv = g.srv;
	copy_set(e, (unsigned)target,
		 (struct copy){ .srv = g.srv, .id = g.id, .state = COPY_FILLING });
	__atomic_add_fetch(&in->held, 1, __ATOMIC_RELAXED);
	fs_rwlock_unlock(&in->rw);

fill:
	rr = fill(fs, in, idx, e, (unsigned)target, r, buf);
	if (rr == RB_DONE) {
		vf_notice("file %s [%" PRIu64 "M, %" PRIu64 "M): copy on %s rebuilt in %" PRIu64
			  " ms",
			  f->path, (uint64_t)idx * S >> 20, (uint64_t)(idx + 1) * S >> 20,
			  fs->srv[tsrv].url, vf_now_ms() - t0);
		/* what it replaces goes now */
		fs_rwlock_wrlock(&in->rw);
		awrite_wait_inode(fs, in);
		if (map_get(in, idx) == e)
			drop_copies(fs, in, e, want);
		fs_rwlock_unlock(&in->rw);
		return RB_AGAIN; /* more may be needed: looked at again */
	}
	return rr;
}

/*
 * A count of the pass so far (n), shown in *shown: as it grows past the
 * last pass's count, which stands until then while nothing moves (a reader,
 * vofirmctl drain or Prometheus, must not see it fall to 0 and climb back
 * at every pass), and as it is once copies move (the room may have come).
 */
static void show_count(struct fs *fs, uint64_t *shown, uint64_t n, uint64_t done0)
{
	if (n > __atomic_load_n(shown, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&fs->repair_done_bytes, __ATOMIC_RELAXED) != done0)
		__atomic_store_n(shown, n, __ATOMIC_RELAXED);
}

/* One pass over every file; true if work is left that may be done later. */
static bool repair_pass(struct fs *fs, struct rate *r, void *buf)
{
	GArray *files = pin_files(fs);
	bool left = false;
	uint64_t blocked = 0, waiting = 0, handoff = 0;
	uint64_t done0 = __atomic_load_n(&fs->repair_done_bytes, __ATOMIC_RELAXED);

	for (guint k = 0; k < files->len && !repair_stopping(fs); k++) {
		struct pinned_file *f = &g_array_index(files, struct pinned_file, k);
		uint32_t n;

		fs_rwlock_rdlock(&f->in->rw);
		n = f->in->nmap;
		fs_rwlock_unlock(&f->in->rw);
		for (uint32_t i = 0; i < n && !repair_stopping(fs); i++) {
			enum rebuild_result rr;
			int guard = 0;

			do
				rr = repair_extent(fs, f, i, r, buf);
			while (rr == RB_AGAIN && ++guard < 4 && !repair_stopping(fs));
			if (rr == RB_AGAIN || rr == RB_WAIT || rr == RB_HANDOFF || rr == RB_BLOCKED)
				left = true;
			blocked += rr == RB_BLOCKED;
			waiting += rr == RB_WAIT;
			handoff += rr == RB_HANDOFF;
			/* counted afresh by each pass */
			show_count(fs, &fs->repair_blocked, blocked, done0);
			show_count(fs, &fs->repair_waiting, waiting, done0);
			show_count(fs, &fs->repair_handoff, handoff, done0);
		}
	}
	if (!repair_stopping(fs)) {
		__atomic_store_n(&fs->repair_blocked, blocked, __ATOMIC_RELAXED);
		__atomic_store_n(&fs->repair_waiting, waiting, __ATOMIC_RELAXED);
		__atomic_store_n(&fs->repair_handoff, handoff, __ATOMIC_RELAXED);
	}
	unpin_files(fs, files);
	return left;
}

static void *repair_thread(void *arg)
{
	struct fs *fs = arg;
	struct rate r = { 0 };
	void *buf = malloc(CHUNK);
	bool left = false;
	struct timespec dl;

	if (!buf) {
		vf_err("no memory for the repair thread: copies are not rebuilt");
		return NULL;
	}
	fs_mutex_lock(&fs->repair_lock);
	while (!fs->repair_stop) {
		if (!fs->repair_kick) {
			dl = vf_deadline_ms(left ? RESCAN_MS : 10 * RESCAN_MS);
			fs_cond_timedwait(&fs->repair_cv, &fs->repair_lock, &dl);
			if (fs->repair_stop)
				break;
		}
		fs->repair_kick = false;
		fs_mutex_unlock(&fs->repair_lock);
		left = repair_pass(fs, &r, buf);
		if (!left)
			__atomic_store_n(&fs->repair_rate_bps, 0, __ATOMIC_RELAXED);
		fs_mutex_lock(&fs->repair_lock);
	}
	fs_mutex_unlock(&fs->repair_lock);
	free(buf);
	return NULL;
}

int fs_repair_start(struct fs *fs)
{
	int ret;

	if (fs->repair)
		return 0;
	ret = pthread_create(&fs->repair, NULL, repair_thread, fs);
	if (ret) {
		vf_err("cannot start the repair thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

void fs_repair_stop(struct fs *fs)
{
	if (!fs->repair)
		return;
	fs_mutex_lock(&fs->repair_lock);
	fs->repair_stop = true;
	pthread_cond_signal(&fs->repair_cv);
	fs_mutex_unlock(&fs->repair_lock);
	pthread_join(fs->repair, NULL);
	fs->repair = 0;
}

int fs_drain(struct fs *fs, const char *url, char *why, size_t whylen)
{
	struct server *s = server_by_url(fs, url);
	uint32_t held;

	if (!s) {
		bool lost = false;

		for (unsigned i = 0; i < fs_nsrv(fs); i++)
			lost = lost || !strcmp(fs->srv[i].url, url);
		snprintf(why, whylen,
			 lost ? "server %s is lost: nothing of this mount is left there to move"
			      : "no server %s in this mount",
			 url);
		return -ENOENT;
	}
	fs_mutex_lock(&fs->alloc_lock);
	__atomic_store_n(&s->draining, true, __ATOMIC_RELAXED);
	held = s->held;
	fs_mutex_unlock(&fs->alloc_lock);
	vf_notice("server %s: draining: no new slabs there; the %u slab(s) of this mount there "
		  "move to other servers",
		  url, held);
	fs_repair_kick(fs);
	return 0;
}

void ext_init_loss_report(struct fs *fs)
{
	fs->describe_loss = describe_loss;
	fs_mutex_init(&fs->repair_lock, LOCK_REPAIR);
	vf_cond_init(&fs->repair_cv);
}
