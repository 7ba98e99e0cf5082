// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd over RDMA.  A listener thread takes librdmacm events; each
 * connection gets its own protection domain, completion queue and RC
 * queue pair, and runs the same handshake and request code as TCP
 * (the connection engine, conn.c) with control messages as SEND/RECV.  Page data never passes
 * through here: clients RDMA READ and WRITE granted slabs directly.
 *
 * Isolation: a slab is registered (ibv_reg_mr, remote read/write) only in
 * the protection domain of the connection whose session holds it, when it
 * is granted or listed, and deregistered before it is freed, when the
 * session ends, and when the connection goes (a resumed session gets new
 * keys through LIST).  A key therefore reaches only its own client's
 * slabs, and never memory that is being zeroed or granted again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "memd.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define CTRL_BUF (VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE)
#define NRECV 70 /* a client keeps at most its queue depth (64) in flight */
/* Until login a connection has two small receive buffers, one for HELLO
 * and one for LOGIN, never reposted: a connection request from a peer
 * without the key pins a few hundred bytes, not NRECV * CTRL_BUF.  The
 * full set is registered and posted after LOGIN, before its reply. */
#define NHS 2
#define HS_BUF 256u
/* RC has no keepalive: a client that died silently would hold its session
 * (and its slabs' registrations) forever.  Clients send a request at least
 * every 15 s (vofirm-fs: a STATS heartbeat); after this long with none the
 * connection is closed and the session's lease starts. */
#define IDLE_MS 60000

struct rconn {
	struct memd_conn c;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	struct ibv_mr *rmr, *smr, *hmr;
	uint8_t *rbufs, *sbuf, *hbufs; /* rbufs: NRECV after login; hbufs: NHS */
	int wake_fd;
	bool dead; /* __atomic: the CM said it is over */
	unsigned timeout_ms;
	int cur;		/* receive buffer handed out last, reposted at the next recv;
			     * wr_id i < NRECV: rbufs[i], else hbufs[i - NRECV] */
	int ready[NRECV + NHS]; /* receive buffers holding requests, in order */
	uint32_t ready_len[NRECV + NHS];
	unsigned nready;
	GHashTable *mrs; /* slab id -> struct ibv_mr *, in this connection's PD */
};

struct rlistener {
	struct memd_listener l; /* l.fd is -1: events come to its own thread */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	int wake_fd;
	pthread_t thread;
};

static struct rconn *rc_of(struct memd_conn *c)
{
	return vf_container_of(c, struct rconn, c);
}

static int post_recv(struct rconn *rc, int i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(rc->rbufs + (size_t)i * CTRL_BUF),
			       .length = CTRL_BUF,
			       .lkey = rc->rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return -ibv_post_recv(rc->id->qp, &wr, &bad);
}

static int post_handshake_recv(struct rconn *rc, int k)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(rc->hbufs + (size_t)k * HS_BUF),
			       .length = HS_BUF,
			       .lkey = rc->hmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)(NRECV + k), .sg_list = &sge, .num_sge = 1 },
			   *bad;

	return -ibv_post_recv(rc->id->qp, &wr, &bad);
}

/*
 * Waits for completions: until a send has completed (want_send: *sent is
 * set), or else until a request has arrived (queued in rc->ready, in
 * order).  0, -ETIMEDOUT, or -ECONNRESET.
 */
static int pump(struct rconn *rc, bool *sent, bool want_send)
{
	struct pollfd pfd[2] = { { .fd = rc->ch->fd, .events = POLLIN },
				 { .fd = rc->wake_fd, .events = POLLIN } };
	struct ibv_wc wc[16];
	struct ibv_cq *cq;
	void *ctx;
	int n, ret;

	for (;;) {
		while ((n = ibv_poll_cq(rc->cq, 16, wc)) > 0) {
			for (int i = 0; i < n; i++) {
				if (wc[i].status != IBV_WC_SUCCESS)
					return -ECONNRESET; /* flushed: the connection is over */
				if (wc[i].opcode == IBV_WC_SEND) {
					*sent = true;
				} else if (wc[i].opcode == IBV_WC_RECV &&
					   rc->nready < NRECV + NHS) {
					rc->ready[rc->nready] = (int)wc[i].wr_id;
					rc->ready_len[rc->nready++] = wc[i].byte_len;
				}
			}
		}
		if (want_send ? *sent : rc->nready > 0)
			return 0;
		if (__atomic_load_n(&rc->dead, __ATOMIC_ACQUIRE))
			return -ECONNRESET;
		do {
			ret = poll(pfd, 2,
				   want_send	    ? 10000
				   : rc->timeout_ms ? (int)rc->timeout_ms
						    : IDLE_MS);
		} while (ret < 0 && errno == EINTR);
		if (ret == 0)
			return -ETIMEDOUT;
		if (pfd[1].revents & POLLIN)
			return -ECONNRESET;
		if (ibv_get_cq_event(rc->ch, &cq, &ctx) == 0) {
			ibv_ack_cq_events(cq, 1);
			ibv_req_notify_cq(cq, 0);
		}
	}
}

static int rdma_recv(struct memd_conn *c, struct vf_msg *m, const char **why)
{
	struct rconn *rc = rc_of(c);
	bool sent = false;
	uint32_t len;
	int i, ret;

	if (rc->cur >= 0 && rc->cur < NRECV) {
		ret = post_recv(rc, rc->cur); /* the previous request is done with */
		if (ret)
			return ret;
	}
	rc->cur = -1;
	ret = pump(rc, &sent, false);
	if (ret)
		return ret;
	i = rc->ready[0];
	len = rc->ready_len[0];
	memmove(rc->ready, rc->ready + 1, sizeof(int) * --rc->nready);
	memmove(rc->ready_len, rc->ready_len + 1, sizeof(uint32_t) * rc->nready);
	rc->cur = i;
	if (i >= NRECV)
		return vf_msg_decode(rc->hbufs + (size_t)(i - NRECV) * HS_BUF, len, m, why);
	return vf_msg_decode(rc->rbufs + (size_t)i * CTRL_BUF, len, m, why);
}

static int rdma_send(struct memd_conn *c, const struct vf_msg *m)
{
	struct rconn *rc = rc_of(c);
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	bool sent = false;
	long n = vf_msg_encode(m, rc->sbuf, CTRL_BUF);
	int ret;

	if (n < 0)
		return (int)n;
	sge = (struct ibv_sge){ .addr = (uintptr_t)rc->sbuf,
				.length = (uint32_t)n,
				.lkey = rc->smr->lkey };
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	ret = ibv_post_send(rc->id->qp, &wr, &bad);
	if (ret)
		return -ret;
	return pump(rc, &sent, true);
}

static void rdma_set_timeout(struct memd_conn *c, unsigned ms)
{
	rc_of(c)->timeout_ms = ms;
}

static void rdma_kick(struct memd_conn *c)
{
	struct rconn *rc = rc_of(c);
	uint64_t one = 1;

	rdma_disconnect(rc->id);
	if (write(rc->wake_fd, &one, sizeof(one)) < 0) {
		/* already woken */
	}
}

static int rdma_grant(struct memd_conn *c, const uint32_t *ids, uint32_t n, struct vf_slab_desc *d)
{
	struct rconn *rc = rc_of(c);
	struct memd_pool *p = c->srv->pool;
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		struct ibv_mr *mr = g_hash_table_lookup(rc->mrs, GUINT_TO_POINTER(ids[i]));
		uint8_t *mem = pool_slab_mem(p, ids[i]);

		if (!mr) {
			mr = ibv_reg_mr(rc->pd, mem, p->slab_size,
					IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
						IBV_ACCESS_REMOTE_WRITE);
			if (!mr) {
				ret = -errno;
				vf_err("client %s: cannot register slab %u for RDMA: %s", c->who,
				       ids[i], strerror(-ret));
				/* undo this call's registrations */
				for (uint32_t k = 0; k < i; k++) {
					struct ibv_mr *m = g_hash_table_lookup(
						rc->mrs, GUINT_TO_POINTER(ids[k]));
					if (m && m->addr == pool_slab_mem(p, ids[k])) {
						g_hash_table_remove(rc->mrs,
								    GUINT_TO_POINTER(ids[k]));
						ibv_dereg_mr(m);
					}
				}
				return ret;
			}
			g_hash_table_insert(rc->mrs, GUINT_TO_POINTER(ids[i]), mr);
		}
		d[i] = (struct vf_slab_desc){ .id = ids[i],
					      .rkey = mr->rkey,
					      .addr = (uint64_t)(uintptr_t)mem };
	}
	return 0;
}

static void rdma_revoke(struct memd_conn *c, const uint32_t *ids, uint32_t n)
{
	struct rconn *rc = rc_of(c);

	for (uint32_t i = 0; i < n; i++) {
		struct ibv_mr *mr = g_hash_table_lookup(rc->mrs, GUINT_TO_POINTER(ids[i]));

		if (mr) {
			g_hash_table_remove(rc->mrs, GUINT_TO_POINTER(ids[i]));
			ibv_dereg_mr(mr);
		}
	}
}

static void rdma_revoke_all(struct memd_conn *c)
{
	struct rconn *rc = rc_of(c);
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, rc->mrs);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		ibv_dereg_mr(v);
		g_hash_table_iter_remove(&it);
	}
}

static void rconn_free(struct rconn *rc)
{
	if (rc->mrs) {
		GHashTableIter it;
		gpointer v;

		g_hash_table_iter_init(&it, rc->mrs);
		while (g_hash_table_iter_next(&it, NULL, &v))
			ibv_dereg_mr(v);
		g_hash_table_destroy(rc->mrs);
	}
	if (rc->id && rc->id->qp)
		rdma_destroy_qp(rc->id);
	if (rc->rmr)
		ibv_dereg_mr(rc->rmr);
	if (rc->hmr)
		ibv_dereg_mr(rc->hmr);
	if (rc->smr)
		ibv_dereg_mr(rc->smr);
	if (rc->cq)
		ibv_destroy_cq(rc->cq);
	if (rc->ch)
		ibv_destroy_comp_channel(rc->ch);
	if (rc->pd)
		ibv_dealloc_pd(rc->pd);
	if (rc->id)
		rdma_destroy_id(rc->id);
	if (rc->wake_fd >= 0)
		close(rc->wake_fd);
	free(rc->rbufs);
	free(rc->hbufs);
	free(rc->sbuf);
	free(rc);
}

/* Logged in: the receive buffers that requests need, posted before the
 * LOGIN reply lets the client send them.  The two handshake buffers are
 * used up by then (HELLO, LOGIN), so every request lands in a full one. */
static int rdma_logged_in(struct memd_conn *c)
{
	struct rconn *rc = rc_of(c);
	int ret;

	rc->rbufs = malloc((size_t)NRECV * CTRL_BUF);
	if (!rc->rbufs)
		return -ENOMEM;
	rc->rmr = ibv_reg_mr(rc->pd, rc->rbufs, (size_t)NRECV * CTRL_BUF, IBV_ACCESS_LOCAL_WRITE);
	if (!rc->rmr)
		return -(errno ? errno : ENOMEM);
	for (int i = 0; i < NRECV; i++) {
		ret = post_recv(rc, i);
		if (ret)
			return ret;
	}
	return 0;
}

static void rdma_destroy_conn(struct memd_conn *c)
{
	struct rconn *rc = rc_of(c);

	rdma_disconnect(rc->id);
	rconn_free(rc);
}

static const struct memd_conn_ops rdma_conn_ops = {
	.name = "rdma",
	.data_path = false,
	.recv = rdma_recv,
	.send = rdma_send,
	.set_timeout = rdma_set_timeout,
	.kick = rdma_kick,
	.grant = rdma_grant,
	.revoke = rdma_revoke,
	.revoke_all = rdma_revoke_all,
	.logged_in = rdma_logged_in,
	.destroy = rdma_destroy_conn,
};

/*
 * A CONNECT_REQUEST: admitted as a pending connection first (counted and
 * limited like any other before it costs anything), then a protection
 * domain, CQ and QP with two small receive buffers, then accept.  A
 * refused or failed request is rejected here and its id destroyed.
 */
static void accept_conn(struct rlistener *l, struct rdma_cm_id *id, uint8_t initiator_depth)
{
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	struct ibv_device_attr da;
	struct rconn *rc;
	char host[NI_MAXHOST], serv[NI_MAXSERV], peer[64];
	int ret;

	getnameinfo(rdma_get_peer_addr(id), sizeof(struct sockaddr_storage), host, sizeof(host),
		    serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(peer, sizeof(peer), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
	rc = calloc(1, sizeof(*rc));
	if (!rc) {
		vf_log_ratelimited(LOG_WARNING,
				   "RDMA connection request from %s refused: "
				   "no memory",
				   peer);
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return;
	}
	memd_conn_init(&rc->c, l->l.srv, &rdma_conn_ops, peer);
	rc->id = id;
	rc->cur = -1;
	rc->wake_fd = -1;
	if (memd_conn_admit(l->l.srv, &rc->c)) {
		rdma_reject(id, NULL, 0);
		rconn_free(rc); /* destroys the id */
		return;
	}

	errno = 0;
	rc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc->mrs = g_hash_table_new(g_direct_hash, g_direct_equal);
	rc->pd = ibv_alloc_pd(id->verbs); /* one per client: its keys reach only its slabs */
	rc->ch = rc->pd ? ibv_create_comp_channel(id->verbs) : NULL;
	rc->cq = rc->ch ? ibv_create_cq(id->verbs, NRECV + NHS + 8, rc, rc->ch, 0) : NULL;
	if (!rc->cq || rc->wake_fd < 0)
		goto fail;
	ret = ibv_req_notify_cq(rc->cq, 0);
	if (ret) {
		errno = ret; /* verbs return the error, they do not set errno */
		goto fail;
	}
	fcntl(rc->ch->fd, F_SETFL, fcntl(rc->ch->fd, F_GETFL) | O_NONBLOCK);
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = rc->cq;
	qa.recv_cq = rc->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 8;
	qa.cap.max_recv_wr = NRECV + NHS;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, rc->pd, &qa))
		goto fail;
	rc->hbufs = malloc((size_t)NHS * HS_BUF);
	rc->sbuf = malloc(CTRL_BUF);
	if (!rc->hbufs || !rc->sbuf)
		goto fail;
	rc->hmr = ibv_reg_mr(rc->pd, rc->hbufs, (size_t)NHS * HS_BUF, IBV_ACCESS_LOCAL_WRITE);
	rc->smr = ibv_reg_mr(rc->pd, rc->sbuf, CTRL_BUF, IBV_ACCESS_LOCAL_WRITE);
	if (!rc->hmr || !rc->smr)
		goto fail;
	for (int k = 0; k < NHS; k++) {
		ret = post_handshake_recv(rc, k);
		if (ret) {
			errno = -ret;
			goto fail;
		}
	}
	id->context = &rc->c;

	memset(&cp, 0, sizeof(cp));
	/* the client reads our memory: let it keep that many READs in flight */
	cp.responder_resources = initiator_depth;
	if (ibv_query_device(id->verbs, &da) == 0 && da.max_qp_rd_atom < cp.responder_resources)
		cp.responder_resources = (uint8_t)da.max_qp_rd_atom;
	cp.initiator_depth = 0;
	cp.rnr_retry_count = 7;
	if (rdma_accept(id, &cp)) {
		ret = errno;
		vf_log_ratelimited(LOG_WARNING, "client at %s: rdma_accept: %s", rc->c.peer,
				   strerror(ret));
		id->context = NULL;
		memd_conn_abandon(&rc->c); /* destroys the id */
		return;
	}
	return;
fail:
	ret = errno ? errno : ENOMEM;
	vf_log_ratelimited(LOG_WARNING,
			   "RDMA connection request from %s refused: cannot set up "
			   "its resources: %s",
			   peer, strerror(ret));
	id->context = NULL;
	rdma_reject(id, NULL, 0);
	memd_conn_abandon(&rc->c); /* destroys the id */
}

static void *listener_thread(void *arg)
{
	struct rlistener *l = arg;
	struct pollfd pfd[2] = { { .fd = l->ec->fd, .events = POLLIN },
				 { .fd = l->wake_fd, .events = POLLIN } };
	struct rdma_cm_event *ev;

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if (!(pfd[0].revents & POLLIN) || rdma_get_cm_event(l->ec, &ev))
			continue;

		enum rdma_cm_event_type type = ev->event;
		struct rdma_cm_id *id = ev->id;
		uint8_t depth = ev->param.conn.initiator_depth;
		struct memd_conn *c = id == l->id ? NULL : id->context;

		if (id == l->id && type != RDMA_CM_EVENT_CONNECT_REQUEST) {
			/* the listener's own (a device going away) */
			vf_warn("RDMA listener: %s", rdma_event_str(type));
			rdma_ack_cm_event(ev);
			continue;
		}

		if (type == RDMA_CM_EVENT_DISCONNECTED || type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			/* before the ack: until then the connection's thread cannot
			 * finish rdma_destroy_id(), so c is still there */
			if (c) {
				struct rconn *rc = rc_of(c);
				uint64_t one = 1;

				__atomic_store_n(&rc->dead, true, __ATOMIC_RELEASE);
				if (write(rc->wake_fd, &one, sizeof(one)) < 0) {
					/* already woken */
				}
			}
			rdma_ack_cm_event(ev);
			continue;
		}
		/* the rest after the ack: handling them may destroy the id, which
		 * waits for its events to be acknowledged */
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			accept_conn(l, id, depth);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			if (c)
				memd_conn_run(c); /* admitted at CONNECT_REQUEST */
			break;
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
			/* accepted but never established: nobody else owns it */
			if (c) {
				memd_conn_abandon(c);
			} else {
				rdma_destroy_id(id);
			}
			break;
		default:
			break;
		}
	}
	return NULL;
}

static int rdma_start(struct memd_server *srv, const struct vf_url *url, struct memd_listener **out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	struct rlistener *l = calloc(1, sizeof(*l));
	const struct vf_url u = *url;
	char port[8], host[NI_MAXHOST];
	int ret;

	if (!l)
		return -ENOMEM;
	/* before the thread starts: it reads them */
	l->l = (struct memd_listener){ .ops = &memd_rdma_listener, .srv = srv, .fd = -1 };
	l->wake_fd = -1;
	l->ec = rdma_create_event_channel();
	if (!l->ec) {
		ret = -errno;
		vf_err("cannot listen on %s: no RDMA: rdma_create_event_channel: %s (load "
		       "rdma_ucm and configure a device; ibv_devices lists them)",
		       u.str, strerror(-ret));
		free(l);
		return ret;
	}
	/* no context: a connection's id inherits it, and NULL means "not yet
	 * a connection" to the listener thread */
	if (rdma_create_id(l->ec, &l->id, NULL, RDMA_PS_TCP)) {
		ret = -errno;
		vf_err("cannot listen on %s: rdma_create_id: %s", u.str, strerror(-ret));
		goto fail;
	}
	snprintf(port, sizeof(port), "%u", u.port);
	ret = getaddrinfo(u.host, port, &hints, &res);
	if (ret) {
		vf_err("listen address %s: cannot resolve '%s': %s", u.str, u.host,
		       gai_strerror(ret));
		ret = -EADDRNOTAVAIL;
		goto fail;
	}
	ret = rdma_bind_addr(l->id, res->ai_addr) ? -errno : 0;
	freeaddrinfo(res);
	if (ret) {
		vf_err("cannot listen on %s: %s%s", u.str, strerror(-ret),
		       ret == -ENODEV || ret == -EADDRNOTAVAIL
			       ? " (no RDMA device has that address; ibv_devices, rdma link)"
			       : "");
		goto fail;
	}
	if (rdma_listen(l->id, 64)) {
		ret = -errno;
		vf_err("cannot listen on %s: rdma_listen: %s", u.str, strerror(-ret));
		goto fail;
	}
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = pthread_create(&l->thread, NULL, listener_thread, l);
	if (ret) {
		ret = -ret;
		goto fail;
	}
	getnameinfo(rdma_get_local_addr(l->id), sizeof(struct sockaddr_storage), host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST);
	vf_notice(strchr(host, ':') ? "listening on rdma://[%s]:%u" : "listening on rdma://%s:%u",
		  host, ntohs(rdma_get_src_port(l->id)));
	*out = &l->l;
	return 0;
fail:
	if (l->id)
		rdma_destroy_id(l->id);
	rdma_destroy_event_channel(l->ec);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	free(l);
	return ret;
}

static void rdma_destroy_listener(struct memd_listener *ml)
{
	struct rlistener *l = vf_container_of(ml, struct rlistener, l);
	uint64_t one = 1;

	if (write(l->wake_fd, &one, sizeof(one)) < 0) {
		/* already woken */
	}
	pthread_join(l->thread, NULL);
	rdma_destroy_id(l->id);
	rdma_destroy_event_channel(l->ec);
	close(l->wake_fd);
	free(l);
}

const struct memd_listener_ops memd_rdma_listener = {
	.name = "rdma",
	.scheme = VF_SCHEME_RDMA,
	.start = rdma_start,
	.destroy = rdma_destroy_listener,
};
