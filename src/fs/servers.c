// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The memory servers of a mount: connections, placement, and the failure
 * policy of the page path.
 *
 * A server is UP, DOWN or LOST.  An I/O thread whose request fails or
 * does not complete within io_timeout marks the server DOWN (once per
 * connection generation) and wakes its health thread, which drops the
 * connection (completing every request in flight with an error, so no
 * request outlives its buffer) and reconnects with backoff, resuming the
 * session.  While a server is DOWN:
 *   - writes wait and are retried: a failed write-back would silently drop
 *     guest memory, so they wait as long as the server's lease, within
 *     which it still holds our data;
 *   - reads wait at most read_timeout, then fail with EIO.
 * Only the server can say that our data is gone: a server that comes
 * back without our session (ESTALE at LOGIN: its lease ran out, or it
 * restarted), authenticated when there is a key, is LOST.  That is logged
 * as DATA LOST with every file and range affected (fs->describe_loss: the
 * files are the layer above, this file never calls into it), and I/O to
 * it fails.  A server away longer than its lease is not declared lost by
 * our clock: its lease started when it noticed we were gone, which may be
 * much later than when we noticed it (a hang, a partition).  It stays
 * DOWN (reads fail fast, writes fail) and is tried for as long as the
 * mount lives; if it resumes our session, everything works again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "vofirm/log.h"

#include "vofirm/util.h"

#define HEARTBEAT_MS 15000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define AWAY_NOTE_MS 10000

/*
 * How often a server away longer than its lease is tried: less often, as
 * it has likely lost our data, yet often enough to reach it within its
 * lease if its lease started late (at most half the lease, when that is
 * more than the usual cap).
 */
static uint64_t slow_retry_ms(const struct server *s)
{
	return MAX((uint64_t)BACKOFF_MAX_MS, MIN((uint64_t)5000, s->lease_ms / 2));
}

const char *srv_state_name(enum srv_state st)
{
	return st == SRV_UP ? "up" : st == SRV_DOWN ? "down" : "lost";
}

/* Marks s DOWN if the failure is news for connection `gen`. */
static void server_fail(struct server *s, uint64_t gen, const char *why)
{
	fs_mutex_lock(&s->lock);
	if (s->state == SRV_UP && s->gen == gen) {
		s->state = SRV_DOWN;
		s->down_since = vf_now_ms();
		snprintf(s->down_reason, sizeof(s->down_reason), "%s", why);
		vf_warn("server %s: %s; reconnecting (writes wait up to its lease of %" PRIu64
			" ms, reads fail after %" PRIu64 " ms)",
			s->url, why, s->lease_ms, s->fs->set.read_timeout_ms);
		pthread_cond_broadcast(&s->cv);
	}
	fs_mutex_unlock(&s->lock);
}

/* Logs what a lost (or long-gone) server meant for the files. */
static void report_copies(struct server *s, const char *why, bool past_lease)
{
	char *rebuilt = NULL, *where = s->fs->describe_loss(s->fs, s->idx, past_lease, &rebuilt);

	if (where[0] || !past_lease) {
		if (where[0] || !rebuilt[0])
			vf_err("server %s: DATA LOST: %s; the data of this mount's %u slab(s) there "
			       "is gone%s%s",
			       s->url, why, s->held, where[0] ? "; files affected: " : "", where);
	}
	if (rebuilt[0])
		vf_warn("server %s: %s; every copy there is rebuilt from another copy: %s", s->url,
			past_lease ? "away longer than its lease" : why, rebuilt);
	g_free(where);
	g_free(rebuilt);
	fs_repair_kick(s->fs);
}

/* Data loss: the state is LOST first (waiters give up), then the report. */
static void server_lost(struct server *s, const char *why)
{
	fs_mutex_lock(&s->lock);
	if (s->state == SRV_LOST) {
		fs_mutex_unlock(&s->lock);
		return;
	}
	s->state = SRV_LOST;
	s->lost_at = vf_now_ms();
	__atomic_store_n(&s->lost, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->cv);
	fs_mutex_unlock(&s->lock);
	report_copies(s, why, false);
	state_commit(s->fs); /* the next worker knows it is lost */
}

/* The transport saw the connection break: DOWN now, not at the next request. */
static void on_lost(void *arg)
{
	struct server *s = arg;
	uint64_t gen;

	fs_mutex_lock(&s->lock);
	gen = s->gen;
	fs_mutex_unlock(&s->lock);
	server_fail(s, gen, "connection lost");
}

struct timeout_note {
	struct server *s;
	uint64_t gen;
	uint64_t timeout_ms;
};

/* The request timed out: the server is DOWN, with that reason, before the
 * abort makes every other request fail with a reset. */
static void note_timeout(void *arg)
{
	struct timeout_note *n = arg;
	char why[96];

	snprintf(why, sizeof(why), "not answering (a request waited %" PRIu64 " ms)",
		 n->timeout_ms);
	server_fail(n->s, n->gen, why);
}

/*
 * One attempt at op on the current connection.  Returns op's status,
 * -EAGAIN when the server is not UP (unless any_state), or -ETIMEDOUT
 * when it did not answer in time: then this thread breaks the connection
 * itself, which completes op, so it never waits on another thread.
 * Whatever is returned, op is finished and its buffer free.  A timeout
 * that loses the race to a successful reply counts as a success (an
 * ALLOC must not leak).  A failure of the connection marks the server
 * DOWN for that connection's generation.
 */
static int server_try(struct server *s, struct vf_op *op, uint64_t timeout_ms, bool any_state)
{
	struct timeout_note note = { .s = s, .timeout_ms = timeout_ms };
	int ret;

	fs_mutex_lock(&s->lock);
	if (!any_state && s->state != SRV_UP) {
		fs_mutex_unlock(&s->lock);
		return -EAGAIN;
	}
	note.gen = s->gen;
	fs_mutex_unlock(&s->lock);

	ret = vf_xport_run_timeout_cb(s->x, op, (unsigned)timeout_ms, note_timeout, &note);
	if (ret == -ECONNRESET || ret == -ENOTCONN || ret == -EPROTO || ret == -EPIPE)
		server_fail(s, note.gen, "connection lost");
	return ret;
}

static bool connection_error(int ret)
{
	return ret == -EAGAIN || ret == -ETIMEDOUT || ret == -ECONNRESET || ret == -ENOTCONN ||
	       ret == -EPROTO || ret == -EPIPE;
}

static void account(struct server *s, bool is_write, uint32_t len, uint64_t ns)
{
	if (is_write) {
		hist_add(&s->write_lat, ns);
		__atomic_add_fetch(&s->io.writes, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->io.bytes_written, len, __ATOMIC_RELAXED);
	} else {
		uint64_t old = __atomic_load_n(&s->read_ewma_ns, __ATOMIC_RELAXED);

		__atomic_store_n(&s->read_ewma_ns, old ? (old * 7 + ns) / 8 : ns, __ATOMIC_RELAXED);
		hist_add(&s->read_lat, ns);
		__atomic_add_fetch(&s->io.reads, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->io.bytes_read, len, __ATOMIC_RELAXED);
	}
}

static void log_refused(struct server *s, bool is_write, uint32_t slab, uint64_t off, uint32_t len,
			const struct vf_op *op, int ret)
{
	/* The server refused: this mount's map and the server disagree. */
	vf_err("server %s: %s of slab %u at %" PRIu64 " (%u bytes) refused: %s (%s)", s->url,
	       is_write ? "write" : "read", slab, off, len,
	       op->errmsg[0] ? op->errmsg : "no reason given", strerror(-ret));
	__atomic_add_fetch(&s->io.errors, 1, __ATOMIC_RELAXED);
}

int server_io_done(struct server *s, const struct vf_op *op, uint64_t sgen, uint64_t t0,
		   bool timed_out)
{
	bool is_write = op->type == VF_OP_WRITE;
	int ret = op->status;

	if (ret && timed_out)
		ret = -ETIMEDOUT;
	if (ret == 0)
		account(s, is_write, op->len, vf_now_ns() - t0);
	else if (ret == -ECONNRESET || ret == -ENOTCONN || ret == -EPROTO || ret == -EPIPE)
		server_fail(s, sgen, "connection lost");
	else if (!connection_error(ret))
		log_refused(s, is_write, op->slab, op->off, op->len, op, ret);
	return ret;
}

void server_timed_out(struct server *s, uint64_t sgen, uint64_t timeout_ms)
{
	struct timeout_note note = { .s = s, .gen = sgen, .timeout_ms = timeout_ms };

	note_timeout(&note);
}

struct rw_all {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned left;
};

struct rw_slot {
	struct vf_op op;
	struct rw_all *all;
	uint64_t sgen, xgen, t0;
	bool running, done, timed_out;
};

static void rw_all_done(struct vf_op *op)
{
	struct rw_slot *sl = op->priv;

	pthread_mutex_lock(&sl->all->lock);
	__atomic_store_n(&sl->done, true, __ATOMIC_RELEASE);
	sl->all->left--;
	pthread_cond_signal(&sl->all->cv);
	pthread_mutex_unlock(&sl->all->lock);
}

static bool slot_done(void *arg)
{
	struct rw_slot *sl = arg;

	return __atomic_load_n(&sl->done, __ATOMIC_ACQUIRE);
}

/*
 * Every request goes out at once, on its own server, and is waited for
 * within io_timeout; one that has not completed by then has its
 * connection aborted (which completes it), exactly as server_try does
 * for one request.  A server that is not UP is not waited for.  The
 * first request's reply is received on this thread when its connection
 * has no other reader (vf_xport_wait()), the others by their transports.
 */
void servers_rw_all(struct fs *fs, struct srv_io *io, unsigned n)
{
	struct rw_slot slot[FS_MAX_REPLICAS + 1];
	struct rw_all all = { .left = 0 };
	struct timespec dl;
	bool late = false;
	int lead = -1; /* the slot this thread receives for */

	if (n > FS_MAX_REPLICAS + 1)
		abort();
	pthread_mutex_init(&all.lock, NULL);
	vf_cond_init(&all.cv);
	for (unsigned i = 0; i < n; i++) {
		struct server *s = io[i].s;
		struct rw_slot *sl = &slot[i];
		int ret;

		memset(sl, 0, sizeof(*sl));
		fs_mutex_lock(&s->lock);
		ret = s->state == SRV_UP ? 0 : -EAGAIN;
		sl->sgen = s->gen;
		fs_mutex_unlock(&s->lock);
		io[i].status = ret;
		if (ret)
			continue;
		sl->all = &all;
		sl->op.type = io[i].type;
		sl->op.slab = io[i].slab;
		sl->op.off = io[i].off;
		sl->op.len = io[i].len;
		sl->op.buf = io[i].buf;
		sl->op.done = rw_all_done;
		sl->op.priv = sl;
		if (lead < 0) {
			lead = (int)i;
			sl->op.flags = VF_OP_F_WAIT;
		}
		sl->t0 = vf_now_ns();
		pthread_mutex_lock(&all.lock);
		all.left++;
		pthread_mutex_unlock(&all.lock);
		ret = vf_xport_submit(s->x, &sl->op);
		/* the connection it went out on (vf_xport_run()'s way) */
		sl->xgen = __atomic_load_n(&s->x->conn_gen, __ATOMIC_ACQUIRE);
		if (ret) {
			pthread_mutex_lock(&all.lock);
			all.left--;
			pthread_mutex_unlock(&all.lock);
			sl->op.status = ret;
			sl->done = true;
		}
		sl->running = true;
	}
	dl = vf_deadline_ms(fs->set.io_timeout_ms);
	/* on a timeout here, the timed wait below ends at once and aborts */
	if (lead >= 0 && slot[lead].running)
		vf_xport_wait(io[lead].s->x, slot_done, &slot[lead],
			      vf_now_ns() + fs->set.io_timeout_ms * 1000000ull,
			      /* a fault waits on a read, nobody on write-back */
			      io[lead].type == VF_OP_WRITE ? VF_WAIT_NO_POLL : 0);
	pthread_mutex_lock(&all.lock);
	while (all.left) {
		if (!late && pthread_cond_timedwait(&all.cv, &all.lock, &dl) == ETIMEDOUT &&
		    all.left) {
			late = true;
			for (unsigned i = 0; i < n; i++) {
				struct rw_slot *sl = &slot[i];
				struct timeout_note note = { .s = io[i].s,
							     .gen = sl->sgen,
							     .timeout_ms = fs->set.io_timeout_ms };

				if (!sl->running || sl->done)
					continue;
				sl->timed_out = true;
				pthread_mutex_unlock(&all.lock);
				note_timeout(&note);
				vf_xport_abort_gen(io[i].s->x, sl->xgen);
				pthread_mutex_lock(&all.lock);
			}
		} else if (late) {
			pthread_cond_wait(&all.cv, &all.lock);
		}
	}
	pthread_mutex_unlock(&all.lock);
	for (unsigned i = 0; i < n; i++) {
		struct rw_slot *sl = &slot[i];

		if (sl->running)
			io[i].status =
				server_io_done(io[i].s, &sl->op, sl->sgen, sl->t0, sl->timed_out);
	}
	pthread_cond_destroy(&all.cv);
	pthread_mutex_destroy(&all.lock);
}

int server_rw_once(struct server *s, enum vf_op_type type, uint32_t slab, uint64_t off,
		   uint32_t len, void *buf)
{
	struct srv_io io = {
		.s = s, .type = type, .slab = slab, .off = off, .len = len, .buf = buf
	};

	servers_rw_all(s->fs, &io, 1);
	return io.status;
}

int server_rw(struct server *s, enum vf_op_type type, uint32_t slab, uint64_t off, uint32_t len,
	      void *buf)
{
	struct fs *fs = s->fs;
	bool is_write = type == VF_OP_WRITE;
	uint64_t start = vf_now_ms(), read_deadline = start + fs->set.read_timeout_ms;
	uint64_t t0, deadline, timeout;
	struct vf_op op;
	enum srv_state st;
	int ret;

	for (;;) {
		fs_mutex_lock(&s->lock);
		for (;;) {
			st = s->state;
			/* A read waits at most read_timeout, and not at all once
			 * the server has been away that long: a dead server must
			 * not stall every page for the whole timeout. */
			deadline = is_write ? s->down_since + s->lease_ms
					    : MIN(read_deadline,
						  s->down_since + fs->set.read_timeout_ms);
			if (st != SRV_DOWN || vf_now_ms() >= deadline)
				break;
			struct timespec dl = vf_deadline_at_ms(deadline);

			fs_cond_timedwait(&s->cv, &s->lock, &dl);
		}
		fs_mutex_unlock(&s->lock);

		if (st == SRV_LOST)
			return -EIO;
		if (st == SRV_DOWN) {
			if (!is_write) {
				vf_err("server %s: read of slab %u at %" PRIu64
				       " failed: no answer "
				       "for %" PRIu64 " ms (--read-timeout)",
				       s->url, slab, off, vf_now_ms() - start);
				__atomic_add_fetch(&s->io.errors, 1, __ATOMIC_RELAXED);
				return -EIO;
			}
			/* A write waited the whole lease: the server has probably
			 * dropped our slabs, though only it can say so (the health
			 * thread keeps asking, and declares a loss it is told of). */
			vf_err("server %s: write of slab %u at %" PRIu64 " failed: unreachable for "
			       "longer than its lease (%" PRIu64 " ms)",
			       s->url, slab, off, s->lease_ms);
			__atomic_add_fetch(&s->io.errors, 1, __ATOMIC_RELAXED);
			return -EIO;
		}

		timeout = fs->set.io_timeout_ms;
		if (!is_write) {
			uint64_t now = vf_now_ms();

			if (now >= read_deadline)
				timeout = 1;
			else if (read_deadline - now < timeout)
				timeout = read_deadline - now;
		}
		memset(&op, 0, sizeof(op));
		op.type = type;
		op.slab = slab;
		op.off = off;
		op.len = len;
		op.buf = buf;
		t0 = vf_now_ns();
		ret = server_try(s, &op, timeout, false);
		if (ret == 0) {
			account(s, is_write, len, vf_now_ns() - t0);
			return 0;
		}
		if (!connection_error(ret)) {
			log_refused(s, is_write, slab, off, len, &op, ret);
			return -EIO;
		}
		/* connection trouble: the loop waits for the reconnect */
	}
}

/* Runs a control op (FREE, STATS) with one attempt of io_timeout. */
static int server_ctl(struct server *s, struct vf_op *op)
{
	return server_try(s, op, s->fs->set.io_timeout_ms, false);
}

/*
 * A request that names slabs (ALLOC; LIST and ACCEPT, which return their
 * keys) has an RDMA memd register each of them, and registering memory
 * that was never touched faults it in: 3 to 6 ms per MiB in the
 * Soft-RoCE test guest, where an ALLOC of 320 MiB on a fresh memd went
 * past a 1 s io_timeout and the server was marked DOWN for being slow,
 * not dead.  Such a
 * request is still held to io_timeout, so that a server that stalls is
 * noticed in that time; a large one is split instead.  Each piece names as
 * many slabs as the last one's time per slab says fit in a quarter of
 * io_timeout, growing at most fourfold from one to the next, and the first
 * names 32 MiB worth.  A piece whose slabs cost up to four times the last
 * one's per slab still fits, and a control request queued behind one at
 * the server (a heartbeat) waits a quarter of io_timeout at most.  A piece
 * that times out leaves its time per slab as a floor: after the reconnect,
 * pieces are a quarter of its size.  On TCP a piece costs a round trip,
 * and the pieces grow fourfold each to VF_MAX_SLABS_PER_MSG.
 */
#define SLAB_OP_SHARE 4
#define SLAB_OP_GROWTH 4
#define SLAB_OP_FIRST_BYTES (32ull << 20)

/* How many of `want` slabs the next request naming slabs to s may name. */
static uint32_t server_slab_batch(struct server *s, uint32_t want)
{
	uint64_t per = __atomic_load_n(&s->slab_op_ns, __ATOMIC_RELAXED);
	uint64_t last = __atomic_load_n(&s->slab_op_last, __ATOMIC_RELAXED);
	uint64_t first = MAX(1ull, SLAB_OP_FIRST_BYTES / MAX(s->fs->slab_size, 1ull));
	uint64_t m = first;

	if (per) {
		m = s->fs->set.io_timeout_ms * 1000000ull / SLAB_OP_SHARE / per;
		m = MIN(m, SLAB_OP_GROWTH * MAX(last, first));
	}
	m = MIN(m, (uint64_t)VF_MAX_SLABS_PER_MSG);
	return (uint32_t)MAX(1ull, MIN(m, (uint64_t)want));
}

/*
 * Runs op, a request naming up to op->count slabs (ALLOC, LIST, ACCEPT),
 * with op->count cut to server_slab_batch(): the caller reads how many it
 * asked for there (ALLOC) or how many came back (op->listed), and asks
 * again for the rest.  One attempt of io_timeout, as server_try.
 */
static int slab_op(struct server *s, struct vf_op *op, bool any_state)
{
	uint64_t t0, ns;
	uint32_t n;
	int ret;

	op->count = server_slab_batch(s, op->count);
	t0 = vf_now_ns();
	ret = server_try(s, op, s->fs->set.io_timeout_ms, any_state);
	ns = vf_now_ns() - t0;
	n = ret == 0 && op->type != VF_OP_ALLOC ? op->listed : op->count;
	if ((ret == 0 || ret == -ETIMEDOUT) && n) {
		__atomic_store_n(&s->slab_op_ns, MAX(ns / n, 1ull), __ATOMIC_RELAXED);
		__atomic_store_n(&s->slab_op_last, n, __ATOMIC_RELAXED);
	}
	if (ret == -ETIMEDOUT)
		vf_warn("server %s: %s of %u slab(s) not answered within --io-timeout; the "
			"next ones name fewer",
			s->url,
			op->type == VF_OP_ALLOC	 ? "ALLOC"
			: op->type == VF_OP_LIST ? "LIST"
						 : "ACCEPT",
			op->count);
	return ret;
}

int server_slab_op(struct server *s, struct vf_op *op)
{
	return slab_op(s, op, false);
}

int server_op(struct server *s, struct vf_op *op)
{
	return server_ctl(s, op);
}

static int free_batch(struct server *s, const uint32_t *ids, uint32_t n)
{
	struct vf_op op = { .type = VF_OP_FREE, .count = n, .ids = ids };

	/* any_state: the health thread frees before it marks the server UP */
	return server_try(s, &op, s->fs->set.io_timeout_ms, true);
}

/*
 * Frees the slabs queued for s (fs->alloc_lock held, so this mount makes
 * no allocation meanwhile).  A connection failure keeps the rest queued
 * and is returned.  A refused batch is retried one id at a time: a FREE
 * whose reply was lost may have freed some of them already, and those are
 * refused now (not ours); the others are freed.
 */
static int flush_pending_frees(struct server *s)
{
	uint32_t done = 0;
	int ret = 0;

	while (done < s->npending) {
		uint32_t n = s->npending - done;

		if (n > VF_MAX_SLABS_PER_MSG)
			n = VF_MAX_SLABS_PER_MSG;
		ret = free_batch(s, s->pending_free + done, n);
		if (connection_error(ret))
			break;
		for (uint32_t k = 0; ret && k < n; k++) {
			int r = free_batch(s, s->pending_free + done + k, 1);

			if (connection_error(r)) {
				done += k;
				goto out;
			}
			if (r)
				vf_info("server %s: slab %u is no longer ours (freed before the "
					"connection broke)",
					s->url, s->pending_free[done + k]);
		}
		ret = 0;
		done += n;
	}
out:
	if (done) {
		memmove(s->pending_free, s->pending_free + done,
			sizeof(uint32_t) * (s->npending - done));
		s->npending -= done;
	}
	return connection_error(ret) ? ret : 0;
}

static void *grant_key(uint32_t id)
{
	return GUINT_TO_POINTER(id + 1); /* slab 0 is not NULL */
}

/*
 * Frees the slabs the server granted to our session that this mount never
 * heard of: an ALLOC whose reply was lost with the connection (fs->alloc_lock
 * held, queued frees flushed, so every other slab is in s->granted).  A
 * connection failure is returned, and the next reconnect tries again.
 */
static int free_orphans(struct server *s)
{
	struct vf_slab_desc *descs = malloc(sizeof(*descs) * VF_MAX_SLABS_PER_MSG);
	uint32_t *orphans = NULL, norphans = 0, cap = 0;
	struct vf_op op;
	int ret = 0;

	if (!descs)
		return -ENOMEM;
	for (uint32_t first = 0;;) {
		op = (struct vf_op){ .type = VF_OP_LIST,
				     .first = first,
				     .count = VF_MAX_SLABS_PER_MSG,
				     .descs = descs };
		ret = slab_op(s, &op, true);
		if (ret) {
			vf_err("server %s: listing our session's slabs failed: %s", s->url,
			       op.errmsg[0] ? op.errmsg : strerror(-ret));
			goto out;
		}
		for (uint32_t k = 0; k < op.listed; k++) {
			if (g_hash_table_contains(s->granted, grant_key(descs[k].id)))
				continue;
			if (norphans == cap) {
				uint32_t *p;

				cap = cap ? cap * 2 : 64;
				p = realloc(orphans, sizeof(*p) * cap);
				if (!p) {
					ret = -ENOMEM;
					goto out;
				}
				orphans = p;
			}
			orphans[norphans++] = descs[k].id;
		}
		first += op.listed;
		if (op.listed == 0 || first >= op.total)
			break;
	}
	for (uint32_t done = 0; done < norphans && !ret;) {
		uint32_t n = MIN(norphans - done, VF_MAX_SLABS_PER_MSG);

		ret = free_batch(s, orphans + done, n);
		done += n;
	}
	if (ret)
		vf_err("server %s: freeing %u slab(s) this mount never heard of failed: %s; "
		       "tried again at the next reconnect",
		       s->url, norphans, strerror(-ret));
	else if (norphans)
		vf_notice("server %s: freed %u orphan slab(s): granted to this mount by an "
			  "ALLOC whose reply was lost with the connection",
			  s->url, norphans);
out:
	free(orphans);
	free(descs);
	return ret;
}

/*
 * After a resumed login: the queued frees, then the orphans if the server
 * counts more slabs for our session than this mount holds and frees
 * (fs->alloc_lock held, the server still DOWN: nothing allocates there).
 */
static int reconcile(struct server *s)
{
	uint64_t ours = (uint64_t)s->held + s->npending;
	int ret = flush_pending_frees(s);

	if (ret || s->x->session_slabs <= ours)
		return ret;
	vf_warn("server %s: our session holds %u slab(s) there, this mount knows of %" PRIu64
		": looking for orphans",
		s->url, s->x->session_slabs, ours);
	return free_orphans(s);
}

/*
 * A server that said our session is gone (s LOST, s->lock held, and held
 * on return) is there all the same: a new instance, or one whose lease ran
 * out.  What it held stays lost, and so does this entry for as long as a
 * copy names it (copies name a server by its entry: such a copy must
 * never be read from the new instance).  The server itself joins the pool
 * again, empty, with a new session (servers_add()), so that placements and
 * the repair can use it: two servers and two copies are whole again after
 * one of them restarts.  It takes a LOST entry of its URL that no copy
 * names any more (this one, or one an earlier instance left) if there is
 * one, else a new entry: entries are not used up by restarts, however
 * many.  Tried until it works (it may be restarting again, or every entry
 * may be in use), or the mount ends; while another entry is in use for
 * the URL, this one waits, LOST, to be taken by a later instance.
 * Returns with s UP again (taken) or stopping.
 */
static bool rejoin_turn(struct server *s);

static void rejoin(struct server *s)
{
	struct fs *fs = s->fs;
	struct timespec dl;
	int ret;

	s->rejoining = true;
	while (!s->stop && s->state == SRV_LOST) {
		fs_mutex_unlock(&s->lock);
		/* one try at a time for a URL: that of its last lost entry */
		ret = rejoin_turn(s) ? servers_add(fs, s->url) : -EEXIST;
		fs_mutex_lock(&s->lock);
		if (ret == -ESHUTDOWN) {
			while (!s->stop)
				fs_cond_wait(&s->cv, &s->lock);
			break;
		}
		if (s->stop || s->state != SRV_LOST)
			break;
		dl = vf_deadline_ms(slow_retry_ms(s));
		fs_cond_timedwait(&s->cv, &s->lock, &dl);
	}
	s->rejoining = false;
}

/* A server's word on its capacity and free slabs (fs->alloc_lock held,
 * or the health thread: the figures are estimates either way). */
static void set_figures(struct server *s, const struct vf_stats *st)
{
	__atomic_store_n(&s->free_est, (int64_t)st->slabs_free, __ATOMIC_RELAXED);
	__atomic_store_n(&s->capacity, st->capacity, __ATOMIC_RELAXED);
	__atomic_store_n(&s->figures_ms, vf_now_ms(), __ATOMIC_RELAXED);
}

/*
 * A STATS by the health thread (s->lock held, dropped meanwhile): a
 * heartbeat, and the figures df and the stats files show.  Not under
 * fs->alloc_lock, which a request waiting on another server may hold: the
 * health thread must be free to notice that this one stopped answering.
 * While it waits (io_timeout at most), silent_since says since when.
 */
static void stats_now(struct server *s)
{
	struct vf_stats st;
	struct vf_op op = { .type = VF_OP_STATS, .stats = &st };
	uint64_t want = s->refresh_want;
	int ret;

	fs_mutex_unlock(&s->lock);
	__atomic_store_n(&s->silent_since, vf_now_ms(), __ATOMIC_RELAXED);
	ret = server_ctl(s, &op);
	if (ret == 0) {
		set_figures(s, &st);
		__atomic_store_n(&s->silent_since, 0, __ATOMIC_RELAXED);
	}
	fs_mutex_lock(&s->lock);
	if (want > s->refresh_done)
		s->refresh_done = want;
	pthread_cond_broadcast(&s->cv);
}

static void *health_thread(void *arg)
{
	struct server *s = arg;
	struct fs *fs = s->fs;
	uint64_t backoff, last_note, away;
	bool past_lease;
	struct timespec dl;
	int ret;

	fs_mutex_lock(&s->lock);
	for (;;) {
		if (s->state == SRV_LOST && !s->stop) {
			/* lost before this worker (the state says so) */
			rejoin(s);
			continue;
		}
		while (s->state == SRV_UP && !s->stop) {
			if (s->refresh_want != s->refresh_done) {
				stats_now(s); /* for df or the stats files */
				continue;
			}
			/* a heartbeat: a server that died is noticed before a page
			 * fault needs it, and an RDMA server sees we are alive */
			dl = vf_deadline_ms(HEARTBEAT_MS);
			if (fs_cond_timedwait(&s->cv, &s->lock, &dl) == ETIMEDOUT &&
			    s->state == SRV_UP && !s->stop)
				stats_now(s);
		}
		if (s->stop)
			break;
		if (s->state != SRV_DOWN)
			continue;
		fs_mutex_unlock(&s->lock);

		/* Every request in flight completes (with an error) here. */
		vf_xport_disconnect(s->x);
		backoff = BACKOFF_MIN_MS;
		last_note = vf_now_ms();
		past_lease = false;
		vf_xport_set_connect_log_level(s->x, LOG_DEBUG);
		for (;;) {
			ret = vf_xport_reconnect(s->x);
			if (ret == 0) {
				/* Queued frees and orphans go first, before anything of
				 * this mount can allocate there again (alloc_lock, state
				 * DOWN). */
				fs_mutex_lock(&fs->alloc_lock);
				ret = reconcile(s);
				if (ret == 0) {
					fs_mutex_lock(&s->lock);
					s->state = SRV_UP;
					s->gen++;
					__atomic_store_n(&s->gone, false, __ATOMIC_RELAXED);
					__atomic_store_n(&s->silent_since, 0, __ATOMIC_RELAXED);
					/* its figures are refreshed next */
					s->refresh_want++;
					vf_notice("server %s: back after %" PRIu64
						  " ms; session resumed "
						  "(%u slabs held)",
						  s->url, vf_now_ms() - s->down_since,
						  s->x->session_slabs);
					pthread_cond_broadcast(&s->cv);
					fs_mutex_unlock(&fs->alloc_lock);
					/* stale copies there can be rebuilt in place */
					fs_mutex_unlock(&s->lock);
					fs_repair_kick(fs);
					fs_mutex_lock(&s->lock);
					break; /* s->lock held */
				}
				fs_mutex_unlock(&fs->alloc_lock);
				vf_xport_disconnect(s->x);
			}
			fs_mutex_lock(&s->lock);
			if (s->stop)
				goto out;
			if (ret == -ESTALE) {
				/* the server's own word (authenticated when there is
				 * a key: the transport believes nothing else) */
				fs_mutex_unlock(&s->lock);
				server_lost(s, "it came back without our session (it restarted, "
					       "or its lease ran out)");
				fs_mutex_lock(&s->lock);
				rejoin(s);
				break; /* s->lock held: UP again, or stopping */
			}
			away = vf_now_ms() - s->down_since;
			if (!past_lease && away > s->lease_ms) {
				past_lease = true;
				backoff = slow_retry_ms(s);
				vf_warn("server %s: unreachable for %" PRIu64
					" ms, longer than its "
					"lease: writes to it fail from now; whether it still holds "
					"our data only it can say, so it is tried every %" PRIu64
					" ms for as long as the mount lives (%s)",
					s->url, away, backoff, strerror(-ret));
				last_note = vf_now_ms();
				/* copies there with another copy elsewhere are
				 * replaced; a sole copy waits for the server */
				__atomic_store_n(&s->gone, true, __ATOMIC_RELAXED);
				fs_mutex_unlock(&s->lock);
				report_copies(s, "away longer than its lease", true);
				fs_mutex_lock(&s->lock);
			} else if (vf_now_ms() - last_note >= AWAY_NOTE_MS) {
				vf_warn("server %s: still unreachable after %" PRIu64 " ms (%s)",
					s->url, away, strerror(-ret));
				last_note = vf_now_ms();
			}
			dl = vf_deadline_ms(backoff);
			fs_cond_timedwait(&s->cv, &s->lock, &dl);
			if (s->stop)
				goto out;
			fs_mutex_unlock(&s->lock);
			if (!past_lease)
				backoff = MIN(backoff * 2, (uint64_t)BACKOFF_MAX_MS);
		}
	}
out:
	fs_mutex_unlock(&s->lock);
	return NULL;
}

/* The part of a server's setup common to a new mount and carrying on. */
static void server_init(struct fs *fs, unsigned i, const char *url)
{
	struct server *s = &fs->srv[i];

	memset(s, 0, sizeof(*s));
	s->fs = fs;
	s->idx = i;
	s->url = url;
	fs_mutex_init(&s->lock, LOCK_SERVER);
	vf_cond_init(&s->cv);
	s->granted = g_hash_table_new(g_direct_hash, g_direct_equal);
}

/* Connects server i (its URL owned by the caller) and starts its health
 * thread; on failure everything of it is undone. */
static int server_start(struct fs *fs, unsigned i, const char *url)
{
	struct vf_xport_opts o = {
		.name = fs->set.name,
		.key = fs->has_key ? &fs->key : NULL,
		.connect_timeout_ms = (unsigned)fs->set.connect_timeout_ms,
		.queue_depth = 64,
		.busy_poll_us = fs->set.busy_poll_us,
	};
	struct server *s = &fs->srv[i];
	struct vf_stats st;
	struct vf_op op = { .type = VF_OP_STATS, .stats = &st };
	char a[32], b[32];
	int ret;

	server_init(fs, i, url);
	ret = vf_xport_open(s->url, &o, &s->x);
	if (ret) {
		vf_err("memory server %s is not usable", s->url);
		s->x = NULL;
		goto fail_locks;
	}
	s->state = SRV_UP;
	s->gen = 1;
	vf_xport_set_on_lost(s->x, on_lost, s);
	s->lease_ms = s->x->info.lease_ms;
	s->capacity = s->x->info.capacity;
	if (fs->slab_size == 0) {
		fs->slab_size = s->x->info.slab_size;
	} else if (s->x->info.slab_size != fs->slab_size) {
		vf_err("server %s has %s slabs and %s has %s: give every vofirm-memd of a mount "
		       "the same --slab-size",
		       s->url, vf_format_size(s->x->info.slab_size, a, sizeof(a)), fs->srv[0].url,
		       vf_format_size(fs->slab_size, b, sizeof(b)));
		ret = -EINVAL;
		goto fail_locks;
	}
	ret = server_ctl(s, &op);
	if (ret) {
		vf_err("server %s does not answer a stats request", s->url);
		goto fail_locks;
	}
	s->free_est = (int64_t)st.slabs_free;
	s->figures_ms = vf_now_ms();
	ret = -pthread_create(&s->health, NULL, health_thread, s);
	if (ret) {
		vf_err("cannot start a thread for server %s: %s", s->url, strerror(-ret));
		goto fail_locks;
	}
	vf_notice("server %s: %s in slabs of %s, %" PRIu64 " free; lease %" PRIu64 " ms", s->url,
		  vf_format_size(s->capacity, a, sizeof(a)),
		  vf_format_size(fs->slab_size, b, sizeof(b)), st.slabs_free, s->lease_ms);
	return 0;

fail_locks:
	if (s->x)
		vf_xport_close(s->x, 0);
	s->x = NULL;
	g_hash_table_destroy(s->granted);
	pthread_cond_destroy(&s->cv);
	fs_mutex_destroy(&s->lock);
	return ret;
}

int servers_init(struct fs *fs)
{
	fs->srv = calloc(FS_MAX_SERVERS, sizeof(*fs->srv));
	if (!fs->srv)
		return -ENOMEM;
	fs_mutex_init(&fs->alloc_lock, LOCK_ALLOC);
	return 0;
}

int server_resume(struct fs *fs, unsigned i, const char *url, const uint8_t *token,
		  uint64_t lease_ms, uint64_t capacity, bool lost, bool draining)
{
	struct vf_xport_opts o = {
		.name = fs->set.name,
		.key = fs->has_key ? &fs->key : NULL,
		.connect_timeout_ms = (unsigned)fs->set.connect_timeout_ms,
		.queue_depth = 64,
		.busy_poll_us = fs->set.busy_poll_us,
		.resume_token = token,
	};
	struct server *s = &fs->srv[i];
	char *u;
	int ret;

	if (i >= FS_MAX_SERVERS)
		return -EINVAL;
	u = strdup(url);
	if (!u)
		return -ENOMEM;
	server_init(fs, i, u);
	s->url_owned = u;
	ret = vf_xport_new(u, &o, &s->x);
	if (ret) {
		vf_err("server %s, which the last worker used: %s", u, strerror(-ret));
		return ret;
	}
	vf_xport_set_on_lost(s->x, on_lost, s);
	s->lease_ms = lease_ms;
	s->capacity = capacity; /* figures_ms 0: not from the server yet */
	s->draining = draining;
	s->gen = 1;
	s->down_since = vf_now_ms();
	snprintf(s->down_reason, sizeof(s->down_reason), "a new worker carries on");
	s->state = lost ? SRV_LOST : SRV_DOWN; /* its health thread resumes the session */
	__atomic_store_n(&s->lost, lost, __ATOMIC_RELEASE);
	__atomic_store_n(&fs->nsrv, i + 1, __ATOMIC_RELEASE);
	return 0;
}

void server_note_slab(struct fs *fs, unsigned srv, uint32_t id)
{
	struct server *s = &fs->srv[srv];

	if (srv >= fs_nsrv(fs))
		return;
	__atomic_add_fetch(&s->held, 1, __ATOMIC_RELAXED);
	g_hash_table_add(s->granted, grant_key(id));
}

int servers_start(struct fs *fs)
{
	unsigned n = fs_nsrv(fs);
	int ret;

	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];

		if (s->health)
			continue;
		ret = -pthread_create(&s->health, NULL, health_thread, s);
		if (ret) {
			vf_err("cannot start a thread for server %s: %s", s->url, strerror(-ret));
			return ret;
		}
	}
	return fs_repair_start(fs);
}

int servers_open(struct fs *fs)
{
	int ret = servers_init(fs);

	if (ret)
		return ret;
	for (unsigned i = 0; i < fs->set.nservers; i++) {
		ret = server_start(fs, i, fs->set.servers[i]);
		if (ret) {
			vf_err("cannot mount: memory server %s is not usable", fs->set.servers[i]);
			return ret;
		}
		__atomic_store_n(&fs->nsrv, i + 1, __ATOMIC_RELEASE);
	}
	return fs_repair_start(fs);
}

/* The entry in use for url: a LOST one is not (the server may have
 * joined again as a later entry, rejoin()). */
struct server *server_by_url(struct fs *fs, const char *url)
{
	unsigned n = fs_nsrv(fs);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(fs->srv[i].url, url) &&
		    !__atomic_load_n(&fs->srv[i].lost, __ATOMIC_ACQUIRE))
			return &fs->srv[i];
	return NULL;
}

/* Is it s's turn to bring its server back (s LOST, in rejoin(), s->lock
 * not held)?  Of the LOST entries of its URL waiting in rejoin(), the one
 * found LOST last tries (the last index among those lost before this
 * worker); it may take another of them (servers_add()). */
static bool rejoin_turn(struct server *s)
{
	struct fs *fs = s->fs;
	unsigned n = fs_nsrv(fs);
	uint64_t mine;

	fs_mutex_lock(&s->lock);
	mine = s->lost_at;
	fs_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++) {
		struct server *o = &fs->srv[i];
		bool later;

		if (o == s || strcmp(o->url, s->url) ||
		    !__atomic_load_n(&o->lost, __ATOMIC_ACQUIRE))
			continue;
		fs_mutex_lock(&o->lock);
		later = o->state == SRV_LOST && o->rejoining &&
			(o->lost_at > mine || (o->lost_at == mine && o->idx > s->idx));
		fs_mutex_unlock(&o->lock);
		if (later)
			return false;
	}
	return true;
}

/* Adding servers (servers_add()) and the end of them (servers_close()). */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
static bool servers_closing; /* add_lock */
static char full_note[512];  /* add_lock: the last "cannot rejoin" logged */

/*
 * A LOST entry of url that its server's next instance may take (add_lock
 * held): nothing refers to it any more.  Every copy that names it (GONE,
 * or STALE on a server gone for good), every slab being placed there, and
 * every slab of a pending handoff there is counted in held until its copy
 * is dropped and its slab given back (servers_free: a LOST server's are
 * forgotten at once), and held does not grow while the entry is LOST
 * (nothing is placed on a server that is not up, and an import names
 * servers by URL, server_by_url()).  Its health thread waits in rejoin(),
 * so the transport is free, and the loss report is done.  NULL if none;
 * *pinned: the entries of url that copies still name.
 */
static struct server *reusable(struct fs *fs, const char *url, unsigned *pinned)
{
	unsigned n = fs_nsrv(fs);
	struct server *found = NULL;

	*pinned = 0;
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];
		bool rejoining, idle;

		if (strcmp(s->url, url) || !__atomic_load_n(&s->lost, __ATOMIC_ACQUIRE))
			continue;
		fs_mutex_lock(&fs->alloc_lock);
		fs_mutex_lock(&s->lock);
		rejoining = s->state == SRV_LOST && s->rejoining;
		idle = s->held == 0;
		fs_mutex_unlock(&s->lock);
		fs_mutex_unlock(&fs->alloc_lock);
		if (!idle)
			(*pinned)++;
		else if (rejoining && !found)
			found = s;
	}
	return found;
}

/*
 * Entry r, LOST, that nothing refers to (reusable()), taken by its
 * server's new instance with a new session (add_lock held).  The old
 * instance's slabs are forgotten: none is named by a copy, those queued
 * to be freed were its own, and the new instance has none of them, so
 * nothing of the old one can be read from the new.  Its counters carry
 * on (they are the server's, by its URL); rejoins counts the instances.
 */
static int server_reuse(struct fs *fs, struct server *r)
{
	struct vf_stats st;
	struct vf_op op = { .type = VF_OP_STATS, .stats = &st };
	char a[32], b[32];
	int ret;

	vf_xport_forget_session(r->x);
	vf_xport_set_connect_log_level(r->x, LOG_DEBUG); /* a failure is logged below, once */
	ret = vf_xport_reconnect(r->x);
	if (ret == 0 && r->x->info.slab_size != fs->slab_size) {
		if (r->rejoin_err != -EINVAL)
			vf_err("server %s has %s slabs now, and this mount %s: it cannot join the "
			       "pool again (give every vofirm-memd of a mount the same "
			       "--slab-size)",
			       r->url, vf_format_size(r->x->info.slab_size, a, sizeof(a)),
			       vf_format_size(fs->slab_size, b, sizeof(b)));
		ret = -EINVAL;
	} else if (ret == 0) {
		ret = server_try(r, &op, fs->set.io_timeout_ms, true);
	}
	if (ret) {
		if (ret != r->rejoin_err && ret != -EINVAL)
			vf_warn("server %s: not back in the pool yet (%s): tried again every "
				"%" PRIu64 " ms",
				r->url, strerror(-ret), slow_retry_ms(r));
		r->rejoin_err = ret;
		vf_xport_disconnect(r->x);
		return ret;
	}
	r->rejoin_err = 0;
	fs_mutex_lock(&fs->alloc_lock);
	fs_mutex_lock(&r->lock);
	if (r->held || r->state != SRV_LOST) {
		/* cannot be (reusable()): never mix the instances */
		fs_mutex_unlock(&r->lock);
		fs_mutex_unlock(&fs->alloc_lock);
		vf_err("server %s: entry %u is in use after all: not taken", r->url, r->idx);
		vf_xport_disconnect(r->x);
		return -EBUSY;
	}
	g_hash_table_remove_all(r->granted);
	r->npending = 0;
	set_figures(r, &st); /* the new instance's, for allocation and df */
	__atomic_store_n(&r->silent_since, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->draining, false, __ATOMIC_RELAXED);
	r->lease_ms = r->x->info.lease_ms;
	r->state = SRV_UP;
	r->gen++;
	__atomic_store_n(&r->gone, false, __ATOMIC_RELAXED);
	__atomic_store_n(&r->read_ewma_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->slab_op_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->slab_op_last, 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->rejoins, 1, __ATOMIC_RELAXED);
	/* the new session's token is written before lost is cleared (state.c
	 * reads lost first) */
	__atomic_store_n(&r->lost, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&r->cv);
	fs_mutex_unlock(&r->lock);
	fs_mutex_unlock(&fs->alloc_lock);
	vf_notice("server %s: rejoined in entry %u, which its lost instance held and no copy "
		  "names any more (its data is gone): a new session, %s in slabs of %s, "
		  "%" PRIu64 " free; new slabs may be placed there",
		  r->url, r->idx, vf_format_size(r->capacity, a, sizeof(a)),
		  vf_format_size(fs->slab_size, b, sizeof(b)), st.slabs_free);
	return 0;
}

/* Every entry is in use: why url cannot join (add_lock held), logged once
 * for as long as it stays so. */
static void say_full(struct fs *fs, const char *url, unsigned pinned_url)
{
	unsigned n = fs_nsrv(fs), live = 0, pinned = 0, waiting = 0;
	uint64_t slabs = 0;
	char note[sizeof(full_note)];

	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];

		if (!__atomic_load_n(&s->lost, __ATOMIC_ACQUIRE)) {
			live++;
			continue;
		}
		fs_mutex_lock(&fs->alloc_lock);
		if (s->held) {
			pinned++;
			slabs += s->held;
		} else {
			waiting++;
		}
		fs_mutex_unlock(&fs->alloc_lock);
	}
	snprintf(note, sizeof(note),
		 "server %s cannot join the pool: the mount's %u server entries are all "
		 "in use: %u by servers in the pool, %u by lost servers whose copies still name "
		 "them (%" PRIu64 " slab(s), %u entries of this URL; an entry is free once the "
		 "repair has replaced its copies or their files are gone), %u by lost servers "
		 "of other URLs (taken again when they come back); a lost server is tried again "
		 "every few seconds",
		 url, n, live, pinned, slabs, pinned_url, waiting);
	if (strcmp(note, full_note)) {
		vf_err("%s", note);
		snprintf(full_note, sizeof(full_note), "%s", note);
	}
}

int servers_add(struct fs *fs, const char *url)
{
	struct server *r;
	unsigned n, pinned;
	char *u;
	int ret;

	pthread_mutex_lock(&add_lock);
	n = fs_nsrv(fs);
	if (servers_closing) {
		ret = -ESHUTDOWN; /* a server added now would outlive the mount */
		goto out;
	}
	if (server_by_url(fs, url)) {
		ret = -EEXIST;
		goto out;
	}
	r = reusable(fs, url, &pinned);
	if (r) {
		ret = server_reuse(fs, r);
		if (ret == 0) {
			full_note[0] = '\0';
			state_commit(fs);   /* the next worker resumes the new session */
			fs_repair_kick(fs); /* extents short of a copy may find room there */
		}
		goto out;
	}
	if (n == FS_MAX_SERVERS) {
		say_full(fs, url, pinned);
		ret = -ENOSPC;
		goto out;
	}
	u = strdup(url);
	if (!u) {
		ret = -ENOMEM;
		goto out;
	}
	ret = server_start(fs, n, u);
	if (ret) {
		vf_err("server %s not added: see above", url);
		free(u);
		goto out;
	}
	fs->srv[n].url_owned = u;
	__atomic_store_n(&fs->nsrv, n + 1, __ATOMIC_RELEASE);
	vf_notice("server %s added: new slabs may be placed there", url);
	state_commit(fs);   /* the next worker resumes its session too */
	fs_repair_kick(fs); /* extents short of a copy may find room there */
out:
	pthread_mutex_unlock(&add_lock);
	return ret;
}

void servers_close(struct fs *fs, bool keep_sessions)
{
	unsigned n;

	pthread_mutex_lock(&add_lock);
	servers_closing = true;
	n = fs_nsrv(fs);
	pthread_mutex_unlock(&add_lock);

	fs_repair_stop(fs);
	/* every health thread ends before any entry goes: one in rejoin()
	 * reads the other entries (rejoin_turn()) */
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];

		if (!s->x || !s->health)
			continue;
		fs_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_broadcast(&s->cv);
		fs_mutex_unlock(&s->lock);
	}
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];

		if (s->x && s->health)
			pthread_join(s->health, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];

		if (!s->x)
			continue;
		/* BYE frees everything this mount held there */
		vf_xport_close(s->x,
			       s->state == SRV_UP && !keep_sessions ? 0 : VF_CLOSE_KEEP_SESSION);
		s->x = NULL;
		free(s->pending_free);
		g_hash_table_destroy(s->granted);
		pthread_cond_destroy(&s->cv);
		fs_mutex_destroy(&s->lock);
		free(s->url_owned);
	}
	free(fs->srv);
	fs->srv = NULL;
}

void servers_refresh(struct fs *fs)
{
	unsigned nsrv = fs_nsrv(fs);

	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		struct vf_stats st;
		struct vf_op op = { .type = VF_OP_STATS, .stats = &st };

		if (server_ctl(s, &op) == 0) {
			fs_mutex_lock(&fs->alloc_lock);
			set_figures(s, &st);
			fs_mutex_unlock(&fs->alloc_lock);
		}
	}
}

void servers_figures(struct fs *fs)
{
	unsigned nsrv = fs_nsrv(fs);
	uint64_t want[FS_MAX_SERVERS] = { 0 }, now = vf_now_ms();
	struct timespec dl = vf_deadline_ms(FIGURES_WAIT_MS);

	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		uint64_t silent = __atomic_load_n(&s->silent_since, __ATOMIC_RELAXED);

		fs_mutex_lock(&s->lock);
		if (s->state == SRV_UP && !s->stop && s->health) {
			/* one STATS asked for and not yet answered does for
			 * everyone waiting */
			if (s->refresh_want == s->refresh_done)
				s->refresh_want++;
			/* a server already seen not answering is not waited for */
			if (!silent || now < silent + SILENT_MS)
				want[i] = s->refresh_want;
			pthread_cond_broadcast(&s->cv);
		}
		fs_mutex_unlock(&s->lock);
	}
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];

		if (!want[i])
			continue;
		fs_mutex_lock(&s->lock);
		while (s->refresh_done < want[i] && s->state == SRV_UP && !s->stop)
			if (fs_cond_timedwait(&s->cv, &s->lock, &dl) == ETIMEDOUT)
				break;
		fs_mutex_unlock(&s->lock);
	}
}

/*
 * Power of two choices over the servers that are up, by free slabs left,
 * among those not in `taken` (a bit per server).
 */
static int place(unsigned nsrv, const bool *up, const int64_t *left, uint64_t taken)
{
	int cand[FS_MAX_SERVERS], n = 0, a, b;

	for (unsigned i = 0; i < nsrv; i++)
		if (up[i] && left[i] > 0 && !(taken & (1ull << i)))
			cand[n++] = (int)i;
	if (n == 0)
		return -1;
	if (n == 1)
		return cand[0];
	a = cand[g_random_int_range(0, n)];
	do {
		b = cand[g_random_int_range(0, n)];
	} while (b == a);
	return left[a] >= left[b] ? a : b;
}

/*
 * Starts why with the servers in `down` (a bit per server index), whose
 * free room cannot be counted while they are down (fs->alloc_lock held);
 * returns the length written.
 */
static size_t say_down(struct fs *fs, uint64_t down, char *why, size_t whylen)
{
	size_t len = 0;
	bool many = down & (down - 1);

	for (unsigned i = 0; i < fs_nsrv(fs) && len < whylen; i++) {
		struct server *s = &fs->srv[i];

		if (!(down & (1ull << i)))
			continue;
		fs_mutex_lock(&s->lock);
		len += (size_t)snprintf(why + len, whylen - len, "%s%s (%s)",
					len    ? ", "
					: many ? "servers "
					       : "server ",
					s->url, s->down_reason);
		fs_mutex_unlock(&s->lock);
	}
	if (len < whylen)
		len += (size_t)snprintf(why + len, whylen - len,
					" %s down, so %s free room cannot be counted; ",
					many ? "are" : "is", many ? "their" : "its");
	return len < whylen ? len : whylen - 1;
}

/*
 * -ENOSPC when the pool is short of room (or of distinct servers for the
 * copies), -EIO when it may not be: a server that is down within reach
 * (not lost, drained or excluded) might have the room, which cannot be
 * counted until it is back.  Its capacity bounds that room, so a request
 * larger than the whole pool (or asking more copies than there are
 * servers) is ENOSPC all the same.
 */
static int alloc_once(struct fs *fs, uint32_t n, unsigned r, uint64_t exclude,
		      struct slab_grant *out, char *why, size_t whylen)
{
	unsigned nsrv = fs_nsrv(fs);
	uint32_t count[FS_MAX_SERVERS] = { 0 }, done = 0, total_slabs = n * r;
	int64_t left[FS_MAX_SERVERS], total = 0, down_room = 0;
	bool up[FS_MAX_SERVERS];
	struct vf_slab_desc *descs = NULL;
	uint8_t *where = NULL;
	uint64_t down = 0; /* down now: their free room is unknown */
	unsigned nup = 0;
	size_t pre = 0; /* why's length, once the down servers are named */
	int ret = 0;
	char a[32], b[32], c[32];

	where = malloc(total_slabs ? total_slabs : 1);
	if (!where)
		return -ENOMEM;
	fs_mutex_lock(&fs->alloc_lock);
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		bool usable = !s->draining && !(exclude & (1ull << i));

		fs_mutex_lock(&s->lock);
		up[i] = s->state == SRV_UP && usable;
		if (s->state == SRV_DOWN && usable) {
			down |= 1ull << i;
			down_room += (int64_t)(s->capacity / fs->slab_size);
		}
		fs_mutex_unlock(&s->lock);
		left[i] = up[i] ? s->free_est : 0;
		total += left[i];
		nup += up[i] && left[i] > 0;
	}
	if ((int64_t)total_slabs > total) {
		if ((int64_t)total_slabs <= total + down_room) {
			pre = say_down(fs, down, why, whylen);
			ret = -EIO;
		} else {
			ret = -ENOSPC;
		}
		snprintf(why + pre, whylen - pre,
			 "needs %u slab(s) (%s%s), the servers that are up have %" PRId64
			 " free (%s): short by %" PRId64 " (%s)",
			 total_slabs,
			 vf_format_size((uint64_t)total_slabs * fs->slab_size, a, sizeof(a)),
			 r > 1 ? ", every copy counted" : "", total,
			 vf_format_size((uint64_t)total * fs->slab_size, b, sizeof(b)),
			 (int64_t)total_slabs - total,
			 vf_format_size((uint64_t)((int64_t)total_slabs - total) * fs->slab_size, c,
					sizeof(c)));
		goto out;
	}
	for (uint32_t e = 0; e < n; e++) {
		uint64_t taken = 0;

		for (unsigned k = 0; k < r; k++) {
			int i = place(nsrv, up, left, taken);

			if (i < 0) {
				/* a server down now may be the one missing, unless
				 * too few servers are left even counting those */
				if (nup + (unsigned)__builtin_popcountll(down) < r)
					down = 0;
				pre = down ? say_down(fs, down, why, whylen) : 0;
				snprintf(why + pre, whylen - pre,
					 "needs %u copies of each slab on distinct servers, and "
					 "only %u server(s) that are up have room%s",
					 r, nup,
					 down ? ""
					      : " (short of servers, not of memory: add one, "
						"or ask for fewer copies)");
				ret = down ? -EIO : -ENOSPC;
				goto out;
			}
			taken |= 1ull << i;
			where[e * r + k] = (uint8_t)i;
			count[i]++;
			left[i]--;
		}
	}
	descs = calloc(total_slabs < VF_MAX_SLABS_PER_MSG ? total_slabs : VF_MAX_SLABS_PER_MSG,
		       sizeof(*descs));
	if (!descs) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < nsrv && !ret; i++) {
		struct server *s = &fs->srv[i];
		uint32_t slot = 0; /* the next of out[] placed on server i */

		while (count[i] && !ret) {
			struct vf_op op = { .type = VF_OP_ALLOC,
					    .count = count[i],
					    .descs = descs };
			uint32_t m;

			ret = slab_op(s, &op, false);
			m = op.count; /* as many as fit in a piece (slab_op) */
			if (connection_error(ret)) {
				/* not a refusal: the server may well have granted them */
				snprintf(why, whylen,
					 "server %s: connection lost during an allocation "
					 "of %u slab(s) (%s); any it granted are freed when it "
					 "reconnects",
					 s->url, m, strerror(-ret));
				vf_err("%s", why);
				ret = -EIO;
				break;
			}
			if (ret) {
				snprintf(why, whylen, "server %s refused %u slab(s): %s", s->url, m,
					 op.errmsg[0] ? op.errmsg : strerror(-ret));
				if (ret == -ENOSPC)
					/* the estimate was stale */
					__atomic_store_n(&s->free_est, 0, __ATOMIC_RELAXED);
				break;
			}
			for (uint32_t k = 0; k < m; k++) {
				while (where[slot] != i)
					slot++;
				out[slot++] = (struct slab_grant){ .srv = (uint16_t)i,
								   .id = descs[k].id };
				g_hash_table_add(s->granted, grant_key(descs[k].id));
				done++;
			}
			__atomic_sub_fetch(&s->free_est, m, __ATOMIC_RELAXED);
			__atomic_add_fetch(&s->held, m, __ATOMIC_RELAXED);
			count[i] -= m;
		}
	}
	if (ret) {
		/* all or nothing: give back what this call got */
		struct slab_grant *got = malloc(sizeof(*got) * (done ? done : 1));
		uint32_t m = 0;

		fs_mutex_unlock(&fs->alloc_lock);
		/* out[] was filled with 0xff first: what was granted has a server */
		for (uint32_t k = 0; got && k < total_slabs; k++)
			if (out[k].srv != 0xffff)
				got[m++] = out[k];
		if (got)
			servers_free(fs, got, m);
		free(got);
		free(descs);
		free(where);
		return ret;
	}
out:
	fs_mutex_unlock(&fs->alloc_lock);
	free(descs);
	free(where);
	return ret;
}

/*
 * Placement works on fresh free counts (allocation is rare: ftruncate,
 * fallocate, a repair); if another client took slabs between the count
 * and the grant, it is tried once more.
 */
int servers_alloc(struct fs *fs, uint32_t n, unsigned r, uint64_t exclude, struct slab_grant *out,
		  char *why, size_t whylen)
{
	int ret;

	for (int attempt = 0;; attempt++) {
		servers_refresh(fs);
		memset(out, 0xff, sizeof(*out) * n * r);
		ret = alloc_once(fs, n, r, exclude, out, why, whylen);
		if (ret != -ENOSPC || attempt == 1 || strstr(why, "short by") ||
		    strstr(why, "distinct servers"))
			return ret;
	}
}

void servers_free(struct fs *fs, const struct slab_grant *g, uint32_t n)
{
	uint32_t *ids = malloc(sizeof(*ids) * (n ? n : 1));

	if (!ids) {
		vf_err("no memory to free %u slab(s): they stay with this mount", n);
		return;
	}
	unsigned nsrv = fs_nsrv(fs);

	fs_mutex_lock(&fs->alloc_lock);
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		uint32_t m = 0;

		for (uint32_t k = 0; k < n; k++)
			if (g[k].srv == i)
				ids[m++] = g[k].id;
		if (!m)
			continue;
		__atomic_sub_fetch(&s->held, m, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->free_est, m, __ATOMIC_RELAXED);
		for (uint32_t k = 0; k < m; k++)
			g_hash_table_remove(s->granted, grant_key(ids[k]));
		fs_mutex_lock(&s->lock);
		enum srv_state st = s->state;

		fs_mutex_unlock(&s->lock);
		if (st == SRV_LOST)
			continue; /* nothing left to free there */
		if (s->npending + m > s->cap_pending) {
			uint32_t cap = (s->npending + m) * 2;
			uint32_t *p = realloc(s->pending_free, sizeof(*p) * cap);

			if (!p) {
				vf_err("server %s: no memory to remember %u slab(s) to free",
				       s->url, m);
				continue;
			}
			s->pending_free = p;
			s->cap_pending = cap;
		}
		memcpy(s->pending_free + s->npending, ids, sizeof(*ids) * m);
		s->npending += m;
		/* DOWN: the health thread frees them, under alloc_lock, before
		 * it marks the server UP */
		if (st == SRV_UP)
			flush_pending_frees(s);
	}
	fs_mutex_unlock(&fs->alloc_lock);
	free(ids);
}

void servers_forget(struct fs *fs, const struct slab_grant *g, uint32_t n)
{
	unsigned nsrv = fs_nsrv(fs);

	fs_mutex_lock(&fs->alloc_lock);
	for (uint32_t k = 0; k < n; k++) {
		struct server *s = &fs->srv[g[k].srv];

		if (g[k].srv >= nsrv || !g_hash_table_remove(s->granted, grant_key(g[k].id)))
			continue;
		__atomic_sub_fetch(&s->held, 1, __ATOMIC_RELAXED);
	}
	fs_mutex_unlock(&fs->alloc_lock);
}

void servers_adopt(struct fs *fs, const struct slab_grant *g, uint32_t n)
{
	unsigned nsrv = fs_nsrv(fs);

	fs_mutex_lock(&fs->alloc_lock);
	for (uint32_t k = 0; k < n; k++) {
		struct server *s = &fs->srv[g[k].srv];

		if (g[k].srv >= nsrv || g_hash_table_contains(s->granted, grant_key(g[k].id)))
			continue;
		g_hash_table_add(s->granted, grant_key(g[k].id));
		__atomic_add_fetch(&s->held, 1, __ATOMIC_RELAXED);
	}
	fs_mutex_unlock(&fs->alloc_lock);
}
