// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * RDMA transport (client side): librdmacm for the connection, an RC queue
 * pair, control messages (the same wire protocol as TCP) as SEND/RECV,
 * and page data as one-sided RDMA READ and RDMA WRITE on the slab's
 * address and key: the server's CPU takes no part in page traffic.
 *
 * Every operation in flight owns a slot: a control send buffer and a data
 * bounce buffer, both registered once at connect time (the caller's
 * buffers are never registered: they are copied, which keeps the page
 * path free of registrations).  A work request id is (generation << 32 |
 * kind << 24 | slot), so a completion for a slot reused since is ignored.
 *
 * Who polls the completion queue: one thread at a time holds the CQ role
 * (`polling`, under `lock`), and only that thread calls ibv_poll_cq,
 * ibv_req_notify_cq, ibv_get_cq_event and ibv_ack_cq_events, and handles
 * work completions (on_wc(): its own operation's and any other's).  A
 * submitter that waits for its own operation (VF_OP_F_WAIT, then
 * vf_xport_wait()) takes the role when nobody holds it, polls the CQ for
 * busy_poll_us, then arms the completion channel, polls once more (for
 * what came before the arm) and sleeps on the channel until its operation
 * is done: one wake-up per round trip, none on a fast link, instead of the
 * completion thread's and then the submitter's.  The same design as the
 * TCP transport's receive role (tcp.c):
 *  - When the role is free and operations are in flight that nobody is on
 *    the way to complete (unclaimed(): asynchronous ones, or those of a
 *    waiter that timed out), the connection's completion thread takes it
 *    (submit() kicks it for operations without VF_OP_F_WAIT) and keeps it
 *    while any such are in flight.
 *  - Other waiters are followers: each sleeps until its own operation is
 *    done (the holder that completes it wakes it) or the role is handed to
 *    it.  A holder that gives the role up with operations still in flight
 *    hands it to a follower whose operation is not done, or else kicks
 *    the completion thread when some are unclaimed: there is always a
 *    poller while anything is in flight that a waiter is not on its way
 *    to, and a waiter is woken once, for its completion or for the role,
 *    instead of by the completion thread that took the role over.
 *  - A waiter held up between submit() and wait() leaves its completion
 *    in the CQ until it comes (nobody else waits for it), as on TCP.
 *
 * The notification state goes with the role: `armed` says a
 * ibv_req_notify_cq is outstanding whose event nobody has consumed.  The
 * holder arms only when it is not armed, and after arming polls the CQ
 * before it sleeps; a completion after the arm leaves an event in the
 * channel, whose fd stays readable until some holder takes the event
 * (ibv_get_cq_event, acked at once, `armed` false).  So an event armed by
 * one holder and delivered to nobody wakes the next holder as soon as it
 * sleeps, and no completion waits in the CQ while its holder sleeps.  An
 * event that outlives its completions (already polled) costs one
 * spurious wake-up.  Nobody sleeps on the channel without the role, so
 * an unconsumed event never spins anyone.
 *
 * The completion thread alone watches the CM event channel.  Anything
 * that ends the connection (a DISCONNECTED event, an error completion,
 * abort(), disconnect()) sets `broken` and writes wake_fd, which stays
 * readable: a holder that sees it (between polls, or in its sleep) stops
 * and gives the role up; the completion thread waits for the role, takes
 * it for good, handles what is left in the CQ unless an error completion
 * came first (a BYE's reply counts), calls on_lost for a connection lost
 * by itself, and fails every operation in flight with -ECONNRESET (as on
 * TCP; -EPROTO after a malformed reply; a refused address or key fails
 * its own operation with -EACCES first).  submit() refuses new operations
 * (-ENOTCONN) from the moment `broken` is set.
 * disconnect() joins the completion thread, so it returns only when no
 * thread polls the CQ, before the resources go.  A resumed session gets
 * its slabs' new keys with LIST (the server registers them in the new
 * connection's protection domain).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "vofirm/log.h"
#include "transport_i.h"

/* a control message: the largest is an ALLOC or LIST reply */
#define CTRL_BUF (VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE)
#define RD_ATOM 16

enum { WR_SEND = 1, WR_RECV = 2, WR_DATA = 3 };

static uint64_t wrid(unsigned kind, uint32_t idx, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)kind << 24 | idx;
}

struct rslot {
	struct vf_op *op;
	uint32_t gen;
	int next_free;
	bool send_done, reply_done; /* control ops finish with both */
	bool waited;		    /* its submitter completes it (VF_OP_F_WAIT) */
	bool sent;		    /* a control request about to be posted: a reply may come */
};

/* A thread in rdma_wait() that does not hold the CQ role. */
struct rdma_follower {
	pthread_cond_t cv;
	bool (*done)(void *arg);
	void *arg;
	bool promoted; /* the role is its: it was handed over */
	struct rdma_follower *next, *prev;
};

struct slab_key {
	uint64_t addr;
	uint32_t rkey;
};

struct rdma_xport {
	struct vf_xport x;

	/* connection resources, made by connect, freed by disconnect */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	struct ibv_mr *smr, *rmr, *dmr;
	uint8_t *sbufs, *rbufs, *dbufs;
	unsigned nrecv;
	int wake_fd; /* written when the connection ends: stays readable */
	int kick_fd; /* the completion thread is to take the CQ role */
	pthread_t thread;
	bool thread_running;
	bool closing; /* the end is expected: __atomic */
	int broken;   /* 0, or why the connection ends (-errno): __atomic */

	pthread_mutex_t lock; /* slots, free list, dead, inflight, polling */
	pthread_cond_t slot_cv;
	pthread_cond_t role_cv; /* the CQ role was given up */
	int dead;		/* 0, or the -errno every operation failed with */
	struct rslot *slots;
	struct vf_op **failed;
	int free_head;
	unsigned inflight;
	unsigned waited;  /* of those, with a submitter that waits (VF_OP_F_WAIT) */
	bool waiter_left; /* one timed out: its operation is nobody's to complete */
	bool polling;	  /* a thread holds the CQ role */
	struct rdma_follower *followers;

	/* the CQ role holder's (handed over under lock with `polling`) */
	bool armed;	    /* a notification is requested and its event not taken */
	bool wc_failed;	    /* an error completion ended it: the rest are flushes */
	bool holder_thread; /* the holder is the completion thread */
	uint64_t done_by_waiter, done_by_thread; /* completions, for the log */

	pthread_mutex_t send_lock; /* posting, and resource teardown */
	pthread_mutex_t res_lock;  /* id for abort() */

	pthread_mutex_t tlock; /* the slab table */
	GHashTable *slabs;     /* id -> struct slab_key */

	uint8_t *hs_buf; /* handshake replies, copied out of rbufs */
};

static struct rdma_xport *to_rdma(struct vf_xport *x)
{
	return vf_container_of(x, struct rdma_xport, x);
}

static struct vf_xport *rdma_create(void)
{
	struct rdma_xport *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->wake_fd = -1;
	r->kick_fd = -1;
	r->dead = -ENOTCONN;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->slot_cv, NULL);
	pthread_cond_init(&r->role_cv, NULL);
	pthread_mutex_init(&r->send_lock, NULL);
	pthread_mutex_init(&r->res_lock, NULL);
	pthread_mutex_init(&r->tlock, NULL);
	r->slabs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	r->hs_buf = malloc(CTRL_BUF);
	if (!r->hs_buf) {
		free(r);
		return NULL;
	}
	return &r->x;
}

static void rdma_destroy(struct vf_xport *x)
{
	struct rdma_xport *r = to_rdma(x);

	g_hash_table_destroy(r->slabs);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->slot_cv);
	pthread_cond_destroy(&r->role_cv);
	pthread_mutex_destroy(&r->send_lock);
	pthread_mutex_destroy(&r->res_lock);
	pthread_mutex_destroy(&r->tlock);
	free(r->slots);
	free(r->failed);
	free(r->hs_buf);
	explicit_bzero(&r->x.key, sizeof(r->x.key));
	free(r);
}

static void slab_add(struct vf_xport *x, const struct vf_slab_desc *d)
{
	struct rdma_xport *r = to_rdma(x);
	struct slab_key *k = g_new(struct slab_key, 1);

	k->addr = d->addr;
	k->rkey = d->rkey;
	pthread_mutex_lock(&r->tlock);
	g_hash_table_replace(r->slabs, GUINT_TO_POINTER(d->id), k);
	pthread_mutex_unlock(&r->tlock);
}

/* ---- connection set-up ---- */

/* Waits for the next CM event; 0 when it is `want`, else -errno. */
static int cm_wait(struct rdma_xport *r, enum rdma_cm_event_type want, unsigned tmo,
		   const char **what)
{
	struct pollfd pfd = { .fd = r->ec->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type type;
	int ret, status;

	do {
		ret = poll(&pfd, 1, (int)tmo);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0) {
		*what = "no answer in time";
		return -ETIMEDOUT;
	}
	if (rdma_get_cm_event(r->ec, &ev)) {
		*what = "rdma_get_cm_event failed";
		return -errno;
	}
	type = ev->event;
	status = ev->status;
	rdma_ack_cm_event(ev);
	if (type == want)
		return 0;
	*what = rdma_event_str(type);
	switch (type) {
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		return status < 0 ? status : -EHOSTUNREACH;
	default:
		return -ECONNRESET;
	}
}

static int post_recv(struct rdma_xport *r, unsigned i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(r->rbufs + (size_t)i * CTRL_BUF),
			       .length = CTRL_BUF,
			       .lkey = r->rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wrid(WR_RECV, i, 0), .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(r->id->qp, &wr, &bad);
}

static int post_send_ctrl(struct rdma_xport *r, uint32_t idx, uint32_t gen, size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(r->sbufs + (size_t)idx * CTRL_BUF),
			       .length = (uint32_t)len,
			       .lkey = r->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = wrid(WR_SEND, idx, gen),
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	return -ibv_post_send(r->id->qp, &wr, &bad);
}

/* Frees every resource of the connection (send_lock held or no threads). */
static void teardown(struct rdma_xport *r)
{
	pthread_mutex_lock(&r->res_lock);
	if (r->id && r->id->qp)
		rdma_destroy_qp(r->id);
	if (r->smr)
		ibv_dereg_mr(r->smr);
	if (r->rmr)
		ibv_dereg_mr(r->rmr);
	if (r->dmr)
		ibv_dereg_mr(r->dmr);
	r->smr = r->rmr = r->dmr = NULL;
	if (r->cq)
		ibv_destroy_cq(r->cq);
	if (r->ch)
		ibv_destroy_comp_channel(r->ch);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	r->cq = NULL;
	r->ch = NULL;
	r->pd = NULL;
	if (r->id)
		rdma_destroy_id(r->id);
	r->id = NULL;
	if (r->ec)
		rdma_destroy_event_channel(r->ec);
	r->ec = NULL;
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	r->wake_fd = -1;
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	r->kick_fd = -1;
	pthread_mutex_unlock(&r->res_lock);
	free(r->sbufs);
	free(r->rbufs);
	free(r->dbufs);
	r->sbufs = r->rbufs = r->dbufs = NULL;
}

/* Waits (at most tmo ms) for completions and handles them with fn. */
static int wait_cq(struct rdma_xport *r, unsigned tmo)
{
	struct pollfd pfd = { .fd = r->ch->fd, .events = POLLIN };
	struct ibv_cq *cq;
	void *ctx;
	int ret;

	do {
		ret = poll(&pfd, 1, (int)tmo);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0)
		return -ETIMEDOUT;
	if (ibv_get_cq_event(r->ch, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
	}
	return 0;
}

/*
 * The handshake's exchange, before the completion thread runs: one SEND
 * from slot 0, then wait for both its completion and a RECV.
 */
static int rdma_exchange(struct vf_xport *x, const struct vf_msg *req, struct vf_msg *rep)
{
	struct rdma_xport *r = to_rdma(x);
	bool sent = false, got = false;
	uint64_t deadline = vf_now_ms() + x->connect_timeout_ms, now;
	const char *why = "";
	struct ibv_wc wc;
	long n;
	int ret;

	n = vf_msg_encode(req, r->sbufs, CTRL_BUF);
	if (n < 0)
		return (int)n;
	ret = post_send_ctrl(r, 0, 0, (size_t)n);
	if (ret)
		return ret;
	while (!sent || !got) {
		while (ibv_poll_cq(r->cq, 1, &wc) > 0) {
			unsigned kind = (wc.wr_id >> 24) & 0xff, idx = wc.wr_id & 0xffffff;

			if (wc.status != IBV_WC_SUCCESS) {
				vf_log(x->connect_log_level, "%s: %s handshake failed: %s",
				       x->url.str, vf_msg_type_name(req->hdr.type),
				       ibv_wc_status_str(wc.status));
				return -ECONNRESET;
			}
			if (kind == WR_SEND) {
				sent = true;
			} else if (kind == WR_RECV) {
				memcpy(r->hs_buf, r->rbufs + (size_t)idx * CTRL_BUF, wc.byte_len);
				ret = post_recv(r, idx);
				if (ret)
					return ret;
				ret = vf_msg_decode(r->hs_buf, wc.byte_len, rep, &why);
				if (ret == -EPROTONOSUPPORT)
					return vf_xport_version_refused(x, &rep->hdr);
				if (ret || !(rep->hdr.flags & VF_HDR_F_REPLY) ||
				    rep->hdr.type != req->hdr.type) {
					vf_err("%s: %s handshake failed: malformed reply: %s",
					       x->url.str, vf_msg_type_name(req->hdr.type),
					       ret ? why : "reply does not match the request");
					return -EPROTO;
				}
				got = true;
			}
		}
		if (sent && got)
			break;
		now = vf_now_ms(); /* once: the ms may tick between two reads */
		if (now >= deadline || wait_cq(r, (unsigned)(deadline - now)) == -ETIMEDOUT) {
			vf_log(x->connect_log_level,
			       "%s: %s handshake failed: no answer within %u ms", x->url.str,
			       vf_msg_type_name(req->hdr.type), x->connect_timeout_ms);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/*
 * The connection is over (why: err): sets `broken` (the first reason
 * stays) and writes wake_fd, which stays readable: every thread that
 * polls the CQ stops and gives the role up, and the completion thread
 * ends the connection.  The caller keeps wake_fd open: it holds the CQ
 * role, is the completion thread, or holds res_lock.
 */
static void conn_break(struct rdma_xport *r, int err)
{
	uint64_t one = 1;
	int none = 0;

	__atomic_compare_exchange_n(&r->broken, &none, err, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_RELAXED);
	if (r->wake_fd >= 0 && write(r->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is not about to overflow: it only says "over" */
	}
}

static bool is_broken(struct rdma_xport *r)
{
	return __atomic_load_n(&r->broken, __ATOMIC_ACQUIRE) != 0;
}

/* Wakes the followers whose operation is done (r->lock held). */
static void wake_done_followers(struct rdma_xport *r)
{
	for (struct rdma_follower *f = r->followers; f; f = f->next)
		if (f->done(f->arg))
			pthread_cond_signal(&f->cv);
}

/*
 * Operations are in flight that nobody is on the way to complete (r->lock
 * held): not all of them have a submitter that waits (VF_OP_F_WAIT, then
 * wait()), or one such stopped waiting (timed out).  Those are the
 * completion thread's when the role is free.
 */
static bool unclaimed(const struct rdma_xport *r)
{
	return r->inflight > r->waited || (r->inflight && r->waiter_left);
}

/*
 * Fails every operation in flight (the CQ role holder, at the end of the
 * connection).  First the connection is marked dead and submitters that
 * wait for a slot are woken (they hold send_lock meanwhile), then
 * send_lock is taken, so that no submitter is still copying from an
 * op's buffer or posting it when that op is completed and handed back.
 */
static void fail_all(struct rdma_xport *r, int err)
{
	struct vf_op **ops = r->failed;
	unsigned n = 0;

	pthread_mutex_lock(&r->lock);
	if (!r->dead)
		r->dead = err;
	pthread_cond_broadcast(&r->slot_cv);
	pthread_mutex_unlock(&r->lock);

	pthread_mutex_lock(&r->send_lock);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->x.queue_depth; i++) {
		if (!r->slots[i].op)
			continue;
		ops[n++] = r->slots[i].op;
		r->slots[i].op = NULL;
		r->slots[i].next_free = r->free_head;
		r->free_head = (int)i;
	}
	r->inflight = r->waited = 0;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->send_lock);
	for (unsigned i = 0; i < n; i++) {
		ops[i]->status = err;
		ops[i]->done(ops[i]);
	}
	pthread_mutex_lock(&r->lock);
	wake_done_followers(r);
	pthread_mutex_unlock(&r->lock);
}

/* Finishes slot idx's op (the CQ role holder). */
static void finish(struct rdma_xport *r, uint32_t idx)
{
	struct vf_op *op;

	pthread_mutex_lock(&r->lock);
	op = r->slots[idx].op;
	if (!op) { /* cannot be: callers found it in flight; never free a slot twice */
		pthread_mutex_unlock(&r->lock);
		return;
	}
	r->slots[idx].op = NULL;
	r->slots[idx].next_free = r->free_head;
	r->free_head = (int)idx;
	r->inflight--;
	if (r->slots[idx].waited)
		r->waited--;
	pthread_cond_signal(&r->slot_cv);
	pthread_mutex_unlock(&r->lock);
	if (r->holder_thread)
		r->done_by_thread++;
	else
		r->done_by_waiter++;
	op->done(op);
	pthread_mutex_lock(&r->lock);
	if (r->followers)
		wake_done_followers(r);
	pthread_mutex_unlock(&r->lock);
}

/* The op in slot idx if the completion's generation is current. */
static struct vf_op *slot_op(struct rdma_xport *r, uint32_t idx, uint32_t gen)
{
	struct vf_op *op = NULL;

	pthread_mutex_lock(&r->lock);
	if (idx < r->x.queue_depth && r->slots[idx].gen == gen)
		op = r->slots[idx].op;
	pthread_mutex_unlock(&r->lock);
	return op;
}

/* A control reply arrived in receive buffer i.  0, or -errno to end. */
static int on_reply(struct rdma_xport *r, unsigned i, uint32_t len)
{
	const uint8_t *buf = r->rbufs + (size_t)i * CTRL_BUF;
	const char *why = "";
	struct vf_msg rep;
	struct vf_op *op;
	uint32_t idx, gen;
	bool both;
	int ret;

	ret = vf_msg_decode(buf, len, &rep, &why);
	if (ret) {
		vf_err("%s: protocol error, dropping the connection: %s", r->x.url.str, why);
		return -EPROTO;
	}
	idx = (uint32_t)rep.hdr.tag;
	gen = (uint32_t)(rep.hdr.tag >> 32);
	/* an operation in flight whose request was posted, a control one
	 * (READ and WRITE are one-sided: no reply), not answered already,
	 * and a reply of its type: anything else is a lie (a tag guessed),
	 * and would have op read as a type it is not */
	why = NULL;
	pthread_mutex_lock(&r->lock);
	op = idx < r->x.queue_depth && r->slots[idx].gen == gen ? r->slots[idx].op : NULL;
	if (!op || !(rep.hdr.flags & VF_HDR_F_REPLY))
		why = "reply to no operation in flight";
	else if (op->type == VF_OP_READ || op->type == VF_OP_WRITE)
		why = "reply to a one-sided READ or WRITE";
	else if (!r->slots[idx].sent)
		why = "reply to a request not sent yet";
	else if (r->slots[idx].reply_done)
		why = "a second reply to one request";
	else if (rep.hdr.type != vf_op_msg_type(op->type))
		why = "reply type differs from the request";
	pthread_mutex_unlock(&r->lock);
	if (why) {
		vf_err("%s: protocol error, dropping the connection: %s", r->x.url.str, why);
		return -EPROTO;
	}
	if (rep.hdr.status) {
		op->status = -(int)rep.hdr.status;
		memcpy(op->errmsg, rep.error.msg, sizeof(op->errmsg));
	} else {
		op->status = vf_op_from_reply(op, &rep);
		if (op->status) {
			vf_err("%s: protocol error: a reply that does not fit its request",
			       r->x.url.str);
			return -EPROTO;
		}
		if (op->type == VF_OP_ALLOC)
			for (uint32_t k = 0; k < op->count; k++)
				slab_add(&r->x, &op->descs[k]);
		if (op->type == VF_OP_LIST || op->type == VF_OP_ACCEPT) /* registered for us */
			for (uint32_t k = 0; k < op->listed; k++)
				slab_add(&r->x, &op->descs[k]);
		if (op->type == VF_OP_FREE) {
			pthread_mutex_lock(&r->tlock);
			for (uint32_t k = 0; k < op->count; k++)
				g_hash_table_remove(r->slabs, GUINT_TO_POINTER(op->ids[k]));
			pthread_mutex_unlock(&r->tlock);
		}
		if (op->type == VF_OP_BYE)
			__atomic_store_n(&r->closing, true, __ATOMIC_RELAXED);
	}
	ret = post_recv(r, i);
	if (ret)
		return ret;
	pthread_mutex_lock(&r->lock);
	r->slots[idx].reply_done = true;
	both = r->slots[idx].send_done;
	pthread_mutex_unlock(&r->lock);
	if (both)
		finish(r, idx);
	return 0;
}

static int on_wc(struct rdma_xport *r, const struct ibv_wc *wc)
{
	unsigned kind = (wc->wr_id >> 24) & 0xff;
	uint32_t idx = wc->wr_id & 0xffffff, gen = (uint32_t)(wc->wr_id >> 32);
	struct vf_op *op;
	bool both;

	if (wc->status != IBV_WC_SUCCESS) {
		/* a flush after the end is its consequence, not news */
		if (!__atomic_load_n(&r->closing, __ATOMIC_RELAXED) &&
		    !(wc->status == IBV_WC_WR_FLUSH_ERR && is_broken(r)))
			vf_warn("%s: %s failed: %s%s", r->x.url.str,
				kind == WR_DATA	  ? "RDMA READ/WRITE"
				: kind == WR_SEND ? "SEND"
						  : "RECV",
				ibv_wc_status_str(wc->status),
				wc->status == IBV_WC_REM_ACCESS_ERR
					? " (the server refused the address or key)"
					: "");
		op = kind == WR_RECV ? NULL : slot_op(r, idx, gen);
		if (op && wc->status == IBV_WC_REM_ACCESS_ERR) {
			op->status = -EACCES;
			finish(r, idx);
		}
		return -ECONNRESET;
	}
	switch (kind) {
	case WR_RECV:
		return on_reply(r, idx, wc->byte_len);
	case WR_SEND:
		if (!slot_op(r, idx, gen))
			return 0;
		pthread_mutex_lock(&r->lock);
		r->slots[idx].send_done = true;
		both = r->slots[idx].reply_done;
		pthread_mutex_unlock(&r->lock);
		if (both)
			finish(r, idx);
		return 0;
	case WR_DATA:
		op = slot_op(r, idx, gen);
		if (!op)
			return 0;
		if (op->type == VF_OP_READ)
			memcpy(op->buf, r->dbufs + (size_t)idx * VF_MAX_IO, op->len);
		op->status = 0;
		finish(r, idx);
		return 0;
	}
	return 0;
}

/* ---- the CQ role (see the top of the file) ---- */

/*
 * Polls the CQ once and handles what it took (the CQ role holder only).
 * The number of completions handled, or -errno when the connection ends
 * (conn_break() is done: the holder stops).
 */
static int cq_poll(struct rdma_xport *r)
{
	struct ibv_wc wc[16];
	int n = ibv_poll_cq(r->cq, 16, wc);

	if (n < 0) {
		vf_err("%s: polling the RDMA completion queue failed (%d); dropping the "
		       "connection",
		       r->x.url.str, n);
		r->wc_failed = true;
		conn_break(r, -ECONNRESET);
		return -ECONNRESET;
	}
	for (int i = 0; i < n; i++) {
		int err = on_wc(r, &wc[i]);

		if (err) {
			/* the rest of wc[] goes with the connection, as flushes do */
			r->wc_failed = true;
			conn_break(r, err);
			return err;
		}
	}
	return n;
}

/* Requests an event for the next completion (the holder, with the CQ
 * found empty: it polls again before it sleeps).  0 or -errno. */
static int cq_arm(struct rdma_xport *r)
{
	int ret = ibv_req_notify_cq(r->cq, 0);

	if (ret) {
		vf_err("%s: cannot request RDMA completion events (ibv_req_notify_cq): %s; "
		       "dropping the connection",
		       r->x.url.str, strerror(ret));
		conn_break(r, -ECONNRESET);
		return -ECONNRESET;
	}
	r->armed = true;
	return 0;
}

/* The completion channel is readable: takes its event and acks it. */
static void cq_event(struct rdma_xport *r)
{
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(r->ch, &cq, &ctx) == 0) { /* non-blocking: EAGAIN when none */
		ibv_ack_cq_events(cq, 1);
		r->armed = false;
	}
}

/* Wakes the completion thread to take the role (kick_fd is open: the
 * caller holds send_lock, or the role under lock). */
static void kick(struct rdma_xport *r)
{
	uint64_t one = 1;

	if (write(r->kick_fd, &one, sizeof(one)) < 0) {
		/* the counter is full of kicks already */
	}
}

/* Gives the CQ role up (r->lock held): with operations still in flight,
 * to a follower whose operation is not done, or else to the completion
 * thread if some are unclaimed; conn_end() may be waiting for it. */
static void role_release(struct rdma_xport *r)
{
	r->polling = false;
	if (r->inflight && !is_broken(r)) {
		for (struct rdma_follower *f = r->followers; f; f = f->next) {
			if (!f->done(f->arg)) {
				f->promoted = true;
				r->polling = true; /* the follower's from here */
				r->holder_thread = false;
				pthread_cond_signal(&f->cv);
				return;
			}
		}
	}
	pthread_cond_broadcast(&r->role_cv);
	if (unclaimed(r) && !is_broken(r))
		kick(r);
}

/*
 * The end of the connection, on the completion thread: waits for the
 * role (holders see `broken` and give it up), takes it for good, handles
 * what completed before the end, and fails the rest.
 */
static void conn_end(struct rdma_xport *r, bool holding, int lost_event)
{
	int err;

	pthread_mutex_lock(&r->lock);
	if (!holding) {
		while (r->polling)
			pthread_cond_wait(&r->role_cv, &r->lock);
		r->polling = true; /* nobody polls this CQ again */
		r->holder_thread = true;
	}
	pthread_mutex_unlock(&r->lock);
	/* completions that came with the end (a BYE's reply) count */
	if (!r->wc_failed)
		while (cq_poll(r) > 0)
			;
	if (lost_event >= 0 && !__atomic_load_n(&r->closing, __ATOMIC_RELAXED)) {
		vf_log(r->x.connect_log_level > LOG_WARNING ? r->x.connect_log_level : LOG_WARNING,
		       "%s: connection lost: %s", r->x.url.str,
		       rdma_event_str((enum rdma_cm_event_type)lost_event));
		if (r->x.on_lost)
			r->x.on_lost(r->x.on_lost_arg);
	}
	err = __atomic_load_n(&r->broken, __ATOMIC_ACQUIRE);
	fail_all(r, err ? err : -ECONNRESET);
}

/*
 * The completion thread: watches the CM event channel for the whole
 * connection, and polls the CQ while it holds the role: it takes the role
 * when it is free and unclaimed operations are in flight (unclaimed()),
 * and gives it up (to a follower if one waits) when none is.  It sleeps on
 * the completion channel only while holding the role; otherwise on the CM
 * channel, wake_fd and kick_fd.  It ends the connection (conn_end()) and
 * exits when `broken` is set.
 */
static void *completion_thread(void *arg)
{
	struct rdma_xport *r = arg;
	struct pollfd pfd[4] = {
		{ .fd = r->ch->fd, .events = POLLIN }, /* only while holding the role */
		{ .fd = r->ec->fd, .events = POLLIN },
		{ .fd = r->wake_fd, .events = POLLIN },
		{ .fd = r->kick_fd, .events = POLLIN },
	};
	struct rdma_cm_event *ev;
	bool holding = false;
	int lost_event = -1, n;
	uint64_t kicks;

	while (!is_broken(r)) {
		pthread_mutex_lock(&r->lock);
		if (!holding && !r->polling && unclaimed(r)) {
			r->polling = holding = true;
			r->holder_thread = true;
		} else if (holding && !unclaimed(r)) {
			role_release(r);
			holding = false;
		}
		pthread_mutex_unlock(&r->lock);
		if (holding) {
			n = cq_poll(r);
			if (n < 0)
				break;
			if (n > 0)
				continue; /* anything left in flight? */
			if (!r->armed) {
				if (cq_arm(r))
					break;
				continue; /* what completed before the arm */
			}
		}
		if (poll(holding ? pfd : pfd + 1, holding ? 4 : 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			vf_err("%s: the RDMA completion thread cannot wait (poll): %s; dropping "
			       "the connection",
			       r->x.url.str, strerror(errno));
			conn_break(r, -ECONNRESET);
			break;
		}
		if (holding && (pfd[0].revents & POLLIN))
			cq_event(r);
		if ((pfd[1].revents & POLLIN) && rdma_get_cm_event(r->ec, &ev) == 0) {
			enum rdma_cm_event_type type = ev->event;

			rdma_ack_cm_event(ev);
			if (type == RDMA_CM_EVENT_DISCONNECTED ||
			    type == RDMA_CM_EVENT_DEVICE_REMOVAL ||
			    type == RDMA_CM_EVENT_TIMEWAIT_EXIT) {
				lost_event = (int)type;
				conn_break(r, -ECONNRESET);
			}
		}
		if ((pfd[3].revents & POLLIN) && read(r->kick_fd, &kicks, sizeof(kicks)) < 0) {
			/* EAGAIN: another read took them */
		}
	}
	conn_end(r, holding, lost_event);
	return NULL;
}

/*
 * Waits as a follower (r->lock held) until done(arg), the deadline
 * (-ETIMEDOUT), or the role is handed to this thread (1).
 */
static int follow(struct rdma_xport *r, bool (*done)(void *arg), void *arg, uint64_t deadline_ns)
{
	struct rdma_follower f = { .done = done, .arg = arg };
	int ret = 0;

	vf_cond_init(&f.cv);
	f.next = r->followers;
	if (f.next)
		f.next->prev = &f;
	r->followers = &f;
	while (!f.promoted && !done(arg)) {
		if (deadline_ns) {
			uint64_t now = vf_now_ns();
			uint64_t ms =
				deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 0;
			struct timespec dl = vf_deadline_ms(ms);

			if (!ms || (pthread_cond_timedwait(&f.cv, &r->lock, &dl) == ETIMEDOUT &&
				    !f.promoted && !done(arg))) {
				ret = -ETIMEDOUT;
				break;
			}
		} else {
			pthread_cond_wait(&f.cv, &r->lock);
		}
	}
	if (f.prev)
		f.prev->next = f.next;
	else
		r->followers = f.next;
	if (f.next)
		f.next->prev = f.prev;
	pthread_cond_destroy(&f.cv);
	if (f.promoted) {
		if (!done(arg) && !is_broken(r))
			return 1;
		/* done as well, or the end: the role goes on (not to a follower
		 * then: conn_end() waits for it) */
		role_release(r);
		if (!done(arg))
			ret = -EBUSY; /* the end fails it: the caller waits for that */
	}
	return ret;
}

/* See vf_xport_ops.wait. */
static int rdma_wait(struct vf_xport *x, bool (*done)(void *arg), void *arg, uint64_t deadline_ns,
		     unsigned flags)
{
	struct rdma_xport *r = to_rdma(x);
	uint64_t spin_ns = flags & VF_WAIT_NO_POLL ? 0 : x->busy_poll_us * 1000ull, spin_until, now;
	int ret = 0, n;

	if (done(arg))
		return 0;
	pthread_mutex_lock(&r->lock);
	if (r->dead || is_broken(r)) {
		pthread_mutex_unlock(&r->lock);
		return -EBUSY; /* failed by now, or about to be */
	}
	if (r->polling) {
		ret = follow(r, done, arg, deadline_ns);
		if (ret <= 0) {
			/* the role is held still (a holder that gave it up would
			 * have handed it to this thread), or the connection
			 * ends: the holder's role_release() sees waiter_left
			 * and kicks the completion thread for the operation
			 * left behind */
			if (ret == -ETIMEDOUT)
				r->waiter_left = true;
			pthread_mutex_unlock(&r->lock);
			return ret;
		}
		ret = 0; /* promoted: the role is this thread's (role_release set it) */
	} else {
		r->polling = true;
		r->holder_thread = false;
	}
	pthread_mutex_unlock(&r->lock);

	spin_until = vf_now_ns() + spin_ns;
	while (!done(arg)) {
		struct pollfd pfd[2] = { { .fd = r->ch->fd, .events = POLLIN },
					 { .fd = r->wake_fd, .events = POLLIN } };
		int ms = -1;

		/* the end of the connection is the completion thread's */
		if (is_broken(r)) {
			ret = -EBUSY;
			break;
		}
		n = cq_poll(r);
		if (n < 0) {
			ret = -EBUSY;
			break;
		}
		now = vf_now_ns();
		if (n > 0 && done(arg))
			break;
		if (deadline_ns && now >= deadline_ns) {
			ret = -ETIMEDOUT;
			break;
		}
		if (n > 0) {
			spin_until = now + spin_ns; /* more may follow: poll again first */
			continue;
		}
		if (now < spin_until)
			continue;
		if (!r->armed) {
			if (cq_arm(r)) {
				ret = -EBUSY;
				break;
			}
			continue; /* what completed before the arm */
		}
		if (deadline_ns)
			ms = (int)((deadline_ns - now + 999999) / 1000000);
		n = poll(pfd, 2, ms);
		if (n < 0 && errno != EINTR) {
			vf_err("%s: cannot wait for RDMA completions (poll): %s; dropping the "
			       "connection",
			       x->url.str, strerror(errno));
			conn_break(r, -ECONNRESET);
			ret = -EBUSY;
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			cq_event(r);
		/* wake_fd: `broken` is seen above; a timeout at the deadline check */
	}
	pthread_mutex_lock(&r->lock);
	if (ret == -ETIMEDOUT)
		r->waiter_left = true;
	role_release(r);
	pthread_mutex_unlock(&r->lock);
	if (ret == -EBUSY && done(arg))
		ret = 0;
	return ret;
}

static int rdma_connect_(struct vf_xport *x)
{
	struct rdma_xport *r = to_rdma(x);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	struct ibv_qp_init_attr qa;
	struct ibv_device_attr da;
	struct rdma_conn_param cp;
	const char *what = "";
	char port[8];
	int ret;

	if (!r->slots) {
		r->slots = calloc(x->queue_depth, sizeof(*r->slots));
		r->failed = calloc(x->queue_depth, sizeof(*r->failed));
		if (!r->slots || !r->failed)
			return -ENOMEM;
	}
	pthread_mutex_lock(&r->res_lock);
	__atomic_add_fetch(&x->conn_gen, 1, __ATOMIC_RELEASE); /* an old abort: no-op now */
	__atomic_store_n(&r->broken, 0, __ATOMIC_RELEASE);     /* an abort of this one counts */
	r->ec = rdma_create_event_channel();
	pthread_mutex_unlock(&r->res_lock);
	if (!r->ec) {
		ret = -errno;
		vf_err("%s: cannot use RDMA: rdma_create_event_channel: %s (is rdma_ucm loaded "
		       "and an RDMA device configured? try ibv_devices)",
		       x->url.str, strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&r->res_lock);
	ret = rdma_create_id(r->ec, &r->id, r, RDMA_PS_TCP) ? -errno : 0;
	pthread_mutex_unlock(&r->res_lock);
	if (ret) {
		vf_err("%s: cannot use RDMA: rdma_create_id: %s", x->url.str, strerror(-ret));
		goto fail;
	}
	snprintf(port, sizeof(port), "%u", x->url.port);
	ret = getaddrinfo(x->url.host, port, &hints, &res);
	if (ret) {
		vf_log(x->connect_log_level, "%s: cannot resolve '%s': %s", x->url.str, x->url.host,
		       gai_strerror(ret));
		ret = -EHOSTUNREACH;
		goto fail;
	}
	ret = rdma_resolve_addr(r->id, NULL, res->ai_addr, (int)x->connect_timeout_ms) ? -errno : 0;
	freeaddrinfo(res);
	if (!ret)
		ret = cm_wait(r, RDMA_CM_EVENT_ADDR_RESOLVED, x->connect_timeout_ms, &what);
	if (ret) {
		vf_log(x->connect_log_level, "%s: no RDMA device reaches %s: %s (%s)", x->url.str,
		       x->url.host, strerror(-ret), what);
		goto fail;
	}
	ret = rdma_resolve_route(r->id, (int)x->connect_timeout_ms) ? -errno : 0;
	if (!ret)
		ret = cm_wait(r, RDMA_CM_EVENT_ROUTE_RESOLVED, x->connect_timeout_ms, &what);
	if (ret) {
		vf_log(x->connect_log_level, "%s: no RDMA route: %s (%s)", x->url.str,
		       strerror(-ret), what);
		goto fail;
	}

	r->nrecv = x->queue_depth + 2;
	r->pd = ibv_alloc_pd(r->id->verbs);
	r->ch = r->pd ? ibv_create_comp_channel(r->id->verbs) : NULL;
	r->cq = r->ch ? ibv_create_cq(r->id->verbs, (int)(2 * x->queue_depth + r->nrecv + 8), r,
				      r->ch, 0)
		      : NULL;
	/* ibv_req_notify_cq returns its error; the constructors set errno */
	ret = !r->cq ? -(errno ? errno : ENOMEM) : -ibv_req_notify_cq(r->cq, 0);
	if (ret) {
		vf_err("%s: cannot set up RDMA resources (PD, CQ): %s", x->url.str, strerror(-ret));
		goto fail;
	}
	fcntl(r->ch->fd, F_SETFL, fcntl(r->ch->fd, F_GETFL) | O_NONBLOCK);
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = r->cq;
	qa.recv_cq = r->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 2 * x->queue_depth + 4;
	qa.cap.max_recv_wr = r->nrecv;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(r->id, r->pd, &qa)) {
		ret = -errno;
		vf_err("%s: cannot create the RDMA queue pair: %s", x->url.str, strerror(-ret));
		goto fail;
	}
	if (posix_memalign((void **)&r->sbufs, 4096, (size_t)x->queue_depth * CTRL_BUF) ||
	    posix_memalign((void **)&r->rbufs, 4096, (size_t)r->nrecv * CTRL_BUF) ||
	    posix_memalign((void **)&r->dbufs, 4096, (size_t)x->queue_depth * VF_MAX_IO)) {
		ret = -ENOMEM;
		vf_err("%s: no memory for the RDMA buffers", x->url.str);
		goto fail;
	}
	r->smr = ibv_reg_mr(r->pd, r->sbufs, (size_t)x->queue_depth * CTRL_BUF,
			    IBV_ACCESS_LOCAL_WRITE);
	r->rmr = ibv_reg_mr(r->pd, r->rbufs, (size_t)r->nrecv * CTRL_BUF, IBV_ACCESS_LOCAL_WRITE);
	r->dmr = ibv_reg_mr(r->pd, r->dbufs, (size_t)x->queue_depth * VF_MAX_IO,
			    IBV_ACCESS_LOCAL_WRITE);
	if (!r->smr || !r->rmr || !r->dmr) {
		ret = -errno;
		vf_err("%s: cannot register the RDMA buffers: %s (ulimit -l?)", x->url.str,
		       strerror(-ret));
		goto fail;
	}
	for (unsigned i = 0; i < r->nrecv; i++) {
		ret = post_recv(r, i);
		if (ret) {
			vf_err("%s: cannot post receives: %s", x->url.str, strerror(-ret));
			goto fail;
		}
	}
	memset(&cp, 0, sizeof(cp));
	cp.initiator_depth = RD_ATOM;
	cp.responder_resources = RD_ATOM;
	if (ibv_query_device(r->id->verbs, &da) == 0) {
		if (da.max_qp_init_rd_atom < cp.initiator_depth)
			cp.initiator_depth = (uint8_t)da.max_qp_init_rd_atom;
		if (da.max_qp_rd_atom < cp.responder_resources)
			cp.responder_resources = (uint8_t)da.max_qp_rd_atom;
	}
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	ret = rdma_connect(r->id, &cp) ? -errno : 0;
	if (!ret)
		ret = cm_wait(r, RDMA_CM_EVENT_ESTABLISHED, x->connect_timeout_ms, &what);
	if (ret) {
		vf_log(x->connect_log_level, "%s: cannot connect: %s (%s)", x->url.str,
		       ret == -ECONNREFUSED ? "refused (no vofirm-memd listening there?)"
					    : strerror(-ret),
		       what);
		goto fail;
	}

	ret = vf_xport_handshake(x, rdma_exchange);
	/* the keys of the old connection are void; LIST gives the new ones */
	pthread_mutex_lock(&r->tlock);
	g_hash_table_remove_all(r->slabs);
	pthread_mutex_unlock(&r->tlock);
	if (!ret && x->resumed && x->session_slabs)
		ret = vf_xport_list_all(x, rdma_exchange, slab_add);
	if (ret)
		goto fail;

	pthread_mutex_lock(&r->res_lock);
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_unlock(&r->res_lock);
	if (r->wake_fd < 0 || r->kick_fd < 0) {
		ret = -errno;
		vf_err("%s: cannot create the completion thread's eventfds: %s", x->url.str,
		       strerror(-ret));
		goto fail;
	}
	pthread_mutex_lock(&r->lock);
	r->free_head = -1;
	for (int i = (int)x->queue_depth - 1; i >= 0; i--) {
		r->slots[i] =
			(struct rslot){ .gen = r->slots[i].gen + 1, .next_free = r->free_head };
		r->free_head = i;
	}
	r->inflight = r->waited = 0;
	r->waiter_left = false;
	r->polling = false;
	r->armed = false; /* the handshake's arm may have fired: the first sleeper re-arms */
	r->wc_failed = false;
	r->done_by_waiter = r->done_by_thread = 0;
	r->dead = 0;
	__atomic_store_n(&r->closing, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&r->lock);
	ret = pthread_create(&r->thread, NULL, completion_thread, r);
	if (ret) {
		ret = -ret;
		pthread_mutex_lock(&r->lock);
		r->dead = -ENOTCONN;
		pthread_mutex_unlock(&r->lock);
		pthread_mutex_lock(&r->send_lock); /* no submitter posts on what goes */
		rdma_disconnect(r->id);
		teardown(r);
		pthread_mutex_unlock(&r->send_lock);
		return ret;
	}
	r->thread_running = true;
	vf_info("%s: connected over RDMA (device %s, port %u)", x->url.str,
		ibv_get_device_name(r->id->verbs->device), r->id->port_num);
	return 0;
fail:
	if (r->id && r->id->qp)
		rdma_disconnect(r->id);
	teardown(r);
	return ret;
}

static void rdma_disconnect_(struct vf_xport *x)
{
	struct rdma_xport *r = to_rdma(x);

	if (!r->id)
		return;
	__atomic_store_n(&r->closing, true, __ATOMIC_RELAXED);
	pthread_mutex_lock(&r->res_lock);
	rdma_disconnect(r->id); /* the QP goes to error: what is posted flushes */
	conn_break(r, -ECONNRESET);
	pthread_mutex_unlock(&r->res_lock);
	if (r->thread_running) {
		/* it ends the connection once no other thread polls the CQ */
		pthread_join(r->thread, NULL);
		r->thread_running = false;
		vf_debug("%s: %" PRIu64 " operations completed by the threads waiting for them, "
			 "%" PRIu64 " by the completion thread",
			 x->url.str, r->done_by_waiter, r->done_by_thread);
	}
	pthread_mutex_lock(&r->send_lock);
	teardown(r);
	pthread_mutex_unlock(&r->send_lock);
}

static void rdma_abort_(struct vf_xport *x, uint64_t gen)
{
	struct rdma_xport *r = to_rdma(x);

	pthread_mutex_lock(&r->res_lock);
	if (x->conn_gen != gen) {
		pthread_mutex_unlock(&r->res_lock); /* that connection is gone already */
		return;
	}
	__atomic_store_n(&r->closing, true, __ATOMIC_RELAXED); /* the caller reports why */
	if (r->id)
		rdma_disconnect(r->id);
	conn_break(r, -ECONNRESET); /* wakes whoever polls, and the completion thread */
	pthread_mutex_unlock(&r->res_lock);
}

static int rdma_submit(struct vf_xport *x, struct vf_op *op)
{
	struct rdma_xport *r = to_rdma(x);
	struct slab_key key = { 0 };
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct vf_msg m;
	bool need_kick;
	uint32_t gen;
	int idx, ret;

	if (op->type == VF_OP_READ || op->type == VF_OP_WRITE) {
		if (op->flags & VF_OP_F_RAW) {
			key.addr = op->raw_addr - op->off;
			key.rkey = op->raw_rkey;
		} else {
			struct slab_key *k;

			pthread_mutex_lock(&r->tlock);
			k = g_hash_table_lookup(r->slabs, GUINT_TO_POINTER(op->slab));
			if (k)
				key = *k;
			pthread_mutex_unlock(&r->tlock);
			if (!k)
				return -ENOENT; /* not a slab of this session */
		}
	}

	if (pthread_mutex_trylock(&r->send_lock)) {
		vf_xport_about_to_wait();
		pthread_mutex_lock(&r->send_lock);
	}
	pthread_mutex_lock(&r->lock);
	if (!r->dead && r->free_head < 0)
		vf_xport_about_to_wait();
	while (!r->dead && r->free_head < 0)
		pthread_cond_wait(&r->slot_cv, &r->lock);
	/* broken: ending, and what is in flight is about to fail with it */
	if (r->dead || is_broken(r)) {
		pthread_mutex_unlock(&r->lock);
		pthread_mutex_unlock(&r->send_lock);
		return -ENOTCONN;
	}
	idx = r->free_head;
	r->free_head = r->slots[idx].next_free;
	r->slots[idx].gen++;
	r->slots[idx].op = op;
	r->slots[idx].send_done = r->slots[idx].reply_done = false;
	r->slots[idx].sent = false;
	r->slots[idx].waited = op->flags & VF_OP_F_WAIT;
	gen = r->slots[idx].gen;
	r->inflight++;
	r->waited += r->slots[idx].waited;
	/* nobody polls: the completion thread takes the role, unless the
	 * submitter waits for op itself (vf_xport_wait() takes it then) */
	need_kick = !r->slots[idx].waited && !r->polling;
	pthread_mutex_unlock(&r->lock);

	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (op->type == VF_OP_READ || op->type == VF_OP_WRITE) {
		uint8_t *d = r->dbufs + (size_t)idx * VF_MAX_IO;

		if (op->type == VF_OP_WRITE)
			memcpy(d, op->buf, op->len);
		sge = (struct ibv_sge){ .addr = (uintptr_t)d,
					.length = op->len,
					.lkey = r->dmr->lkey };
		wr.wr_id = wrid(WR_DATA, (uint32_t)idx, gen);
		wr.opcode = op->type == VF_OP_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = key.addr + op->off;
		wr.wr.rdma.rkey = key.rkey;
	} else {
		long n;

		vf_op_to_msg(op, &m);
		m.hdr.tag = (uint64_t)gen << 32 | (uint32_t)idx;
		n = vf_msg_encode(&m, r->sbufs + (size_t)idx * CTRL_BUF, CTRL_BUF);
		if (n < 0) {
			/* cannot happen for a checked op; fail it like a lost connection */
			n = 0;
		}
		sge = (struct ibv_sge){ .addr = (uintptr_t)(r->sbufs + (size_t)idx * CTRL_BUF),
					.length = (uint32_t)n,
					.lkey = r->smr->lkey };
		wr.wr_id = wrid(WR_SEND, (uint32_t)idx, gen);
		wr.opcode = IBV_WR_SEND;
		/* encoded: from here its reply is expected (on_reply()) */
		pthread_mutex_lock(&r->lock);
		r->slots[idx].sent = true;
		pthread_mutex_unlock(&r->lock);
	}
	/* From here a CQ poller owns op: it may complete it at once. */
	__atomic_add_fetch(&x->tx_requests, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&x->tx_calls, 1, __ATOMIC_RELAXED);
	ret = ibv_post_send(r->id->qp, &wr, &bad);
	if (ret) {
		/* this connection's, read while send_lock keeps it: once that
		 * is let go, a reconnection may bring the next one */
		uint64_t cgen = __atomic_load_n(&x->conn_gen, __ATOMIC_ACQUIRE);

		vf_warn("%s: posting a work request failed: %s; dropping the connection",
			x->url.str, strerror(ret));
		pthread_mutex_unlock(&r->send_lock);
		vf_xport_abort_gen(x, cgen); /* the completion thread fails op with the rest */
		return 0;
	}
	if (need_kick)
		kick(r); /* kick_fd lives as long as send_lock is held */
	pthread_mutex_unlock(&r->send_lock);
	return 0;
}

const struct vf_xport_ops vf_rdma_ops = {
	.scheme = "rdma",
	.caps = VF_XPORT_CAP_RAW_ADDR, /* the isolation tests aim at other keys */
	.create = rdma_create,
	.destroy = rdma_destroy,
	.connect = rdma_connect_,
	.disconnect = rdma_disconnect_,
	.submit = rdma_submit,
	.wait = rdma_wait,
	.abort = rdma_abort_,
};
