// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * TCP transport (client side).
 *
 * Submitters send requests under send_lock; one receiver thread per
 * connection reads replies, matches them to operations by tag and
 * completes them.  A tag is (generation << 32 | slot): a slot's
 * generation changes each time it is reused, so a stray reply can never
 * complete the wrong operation.  READ data is received straight into the
 * operation's buffer.
 *
 * When the connection breaks, the receiver marks it dead under `lock`
 * and fails every operation in flight with -ECONNRESET; submit() checks
 * `dead` under the same lock, so no operation is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/net.h"
#include "transport_i.h"

struct tcp_slot {
	struct vf_op *op; /* NULL when free */
	uint32_t gen;
	int next_free;
};

struct tcp_xport {
	struct vf_xport x;
	int fd;
	pthread_t rx;
	bool rx_running;
	bool closing; /* the end is expected (disconnect, BYE); __atomic */

	pthread_mutex_t lock; /* slots, free list, dead */
	pthread_cond_t slot_cv;
	int dead; /* 0, or the -errno that broke the connection */
	struct tcp_slot *slots;
	struct vf_op **failed; /* fail_all()'s list, preallocated */
	int free_head;
	unsigned inflight;

	pthread_mutex_t send_lock;
	pthread_mutex_t fd_lock; /* the fd's lifetime, for abort(): never held long */
	uint8_t *rxbuf;		 /* VF_HDR_SIZE + VF_MAX_PAYLOAD; receiver or handshake only */
};

static struct tcp_xport *to_tcp(struct vf_xport *x)
{
	return vf_container_of(x, struct tcp_xport, x);
}

static struct vf_xport *tcp_create(void)
{
	struct tcp_xport *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = -1;
	t->dead = -ENOTCONN;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->slot_cv, NULL);
	pthread_mutex_init(&t->send_lock, NULL);
	pthread_mutex_init(&t->fd_lock, NULL);
	t->rxbuf = malloc(VF_HDR_SIZE + VF_MAX_PAYLOAD);
	if (!t->rxbuf) {
		free(t);
		return NULL;
	}
	return &t->x;
}

static void tcp_destroy(struct vf_xport *x)
{
	struct tcp_xport *t = to_tcp(x);

	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->slot_cv);
	pthread_mutex_destroy(&t->send_lock);
	pthread_mutex_destroy(&t->fd_lock);
	free(t->slots);
	free(t->failed);
	free(t->rxbuf);
	explicit_bzero(&t->x.key, sizeof(t->x.key));
	free(t);
}

static int connect_one(const struct addrinfo *ai, unsigned timeout_ms, int *out)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, err = 0, flags;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto out_close;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			err = poll(&pfd, 1, (int)timeout_ms);
		} while (err < 0 && errno == EINTR);
		if (err == 0) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err) {
			err = -err;
			goto out_close;
		}
	}
	fcntl(fd, F_SETFL, flags);
	*out = fd;
	return 0;

out_close:
	close(fd);
	return err;
}

static int tcp_exchange(struct vf_xport *x, const struct vf_msg *req, struct vf_msg *rep)
{
	struct tcp_xport *t = to_tcp(x);
	const char *why = "";
	int ret;

	ret = vf_send_msg(t->fd, req);
	if (ret)
		goto fail;
	ret = vf_recv_msg(t->fd, t->rxbuf, VF_HDR_SIZE + VF_MAX_PAYLOAD, rep, &why);
	if (ret == -EPROTONOSUPPORT)
		return vf_xport_version_refused(x, &rep->hdr);
	if (ret)
		goto fail;
	if (!(rep->hdr.flags & VF_HDR_F_REPLY) || rep->hdr.type != req->hdr.type) {
		why = "reply does not match the request";
		ret = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	if (ret == -EBADMSG || ret == -EPROTO)
		vf_err("%s: %s handshake failed: malformed reply: %s", x->url.str,
		       vf_msg_type_name(req->hdr.type), why);
	else if (ret == -ECONNRESET && req->hdr.type == VF_MSG_LOGIN)
		vf_log(x->connect_log_level, "%s: the server closed the connection during login",
		       x->url.str);
	else
		vf_log(x->connect_log_level, "%s: %s handshake failed: %s", x->url.str,
		       vf_msg_type_name(req->hdr.type), strerror(-ret));
	return ret;
}

/*
 * Fails every operation in flight; the connection is unusable after.
 * First the connection is marked dead and waiting submitters are woken
 * (they hold send_lock while they wait for a slot), then send_lock is
 * taken so that no submitter is still sending from an op's buffer when
 * that op is completed and its buffer handed back.
 */
static void fail_all(struct tcp_xport *t, int err)
{
	struct vf_op **ops = t->failed;
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	if (!t->dead)
		t->dead = err;
	pthread_cond_broadcast(&t->slot_cv);
	pthread_mutex_unlock(&t->lock);

	pthread_mutex_lock(&t->send_lock);
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->x.queue_depth; i++) {
		if (!t->slots[i].op)
			continue;
		ops[n++] = t->slots[i].op;
		t->slots[i].op = NULL;
		t->slots[i].next_free = t->free_head;
		t->free_head = (int)i;
	}
	t->inflight = 0;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->send_lock);

	for (unsigned i = 0; i < n; i++) {
		ops[i]->status = err;
		ops[i]->done(ops[i]);
	}
}

static void *tcp_rx_thread(void *arg)
{
	struct tcp_xport *t = arg;
	uint8_t *buf = t->rxbuf;
	const char *why = "";
	struct vf_msg rep;
	struct vf_hdr h;
	struct vf_op *op;
	uint32_t idx;
	int ret;

	for (;;) {
		ret = vf_read_full(t->fd, buf, VF_HDR_SIZE);
		if (ret)
			break;
		ret = vf_hdr_decode(buf, &h, &why);
		if (ret)
			goto proto;
		idx = (uint32_t)h.tag;
		op = NULL;
		pthread_mutex_lock(&t->lock);
		if (idx < t->x.queue_depth && t->slots[idx].op &&
		    t->slots[idx].gen == (uint32_t)(h.tag >> 32))
			op = t->slots[idx].op;
		pthread_mutex_unlock(&t->lock);
		if (!op) {
			why = "reply to no operation in flight";
			ret = -EPROTO;
			goto proto;
		}
		if (!(h.flags & VF_HDR_F_REPLY)) {
			why = "request where a reply was expected";
			ret = -EPROTO;
			goto proto;
		}

		if (h.type == VF_MSG_READ && op->type == VF_OP_READ && !h.status) {
			if (h.len != op->len) {
				why = "READ reply of the wrong length";
				ret = -EPROTO;
				goto proto;
			}
			ret = vf_read_full(t->fd, op->buf, h.len);
			if (ret)
				break;
			op->status = 0;
		} else {
			ret = vf_read_full(t->fd, buf + VF_HDR_SIZE, h.len);
			if (ret)
				break;
			ret = vf_msg_decode_body(&h, buf + VF_HDR_SIZE, h.len, &rep, &why);
			if (ret)
				goto proto;
			if (h.type != vf_op_msg_type(op->type)) {
				why = "reply type differs from the request";
				ret = -EPROTO;
				goto proto;
			}
			if (h.status) {
				op->status = -(int)h.status;
				memcpy(op->errmsg, rep.error.msg, sizeof(op->errmsg));
			} else {
				op->status = vf_op_from_reply(op, &rep);
				if (op->status) {
					why = "reply does not fit the request";
					ret = -EPROTO;
					goto proto;
				}
			}
		}

		if (op->type == VF_OP_BYE)
			__atomic_store_n(&t->closing, true,
					 __ATOMIC_RELAXED); /* the server closes after BYE */
		pthread_mutex_lock(&t->lock);
		t->slots[idx].op = NULL;
		t->slots[idx].next_free = t->free_head;
		t->free_head = (int)idx;
		t->inflight--;
		pthread_cond_signal(&t->slot_cv);
		pthread_mutex_unlock(&t->lock);
		op->done(op);
	}

	if (!__atomic_load_n(&t->closing, __ATOMIC_RELAXED)) {
		vf_log(t->x.connect_log_level > LOG_WARNING ? t->x.connect_log_level : LOG_WARNING,
		       "%s: connection lost: %s", t->x.url.str,
		       ret == -ECONNRESET ? "closed by the server" : strerror(-ret));
		if (t->x.on_lost)
			t->x.on_lost(t->x.on_lost_arg);
	}
	shutdown(t->fd, SHUT_RDWR);
	fail_all(t, -ECONNRESET);
	return NULL;

proto:
	vf_err("%s: protocol error, dropping the connection: %s", t->x.url.str, why);
	shutdown(t->fd, SHUT_RDWR);
	fail_all(t, -EPROTO);
	return NULL;
}

static int tcp_connect(struct vf_xport *x)
{
	struct tcp_xport *t = to_tcp(x);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int ret, fd = -1;

	if (!t->slots) {
		t->slots = calloc(x->queue_depth, sizeof(*t->slots));
		t->failed = calloc(x->queue_depth, sizeof(*t->failed));
		if (!t->slots || !t->failed)
			return -ENOMEM;
	}
	snprintf(port, sizeof(port), "%u", x->url.port);
	ret = getaddrinfo(x->url.host, port, &hints, &res);
	if (ret) {
		vf_log(x->connect_log_level, "%s: cannot resolve '%s': %s", x->url.str, x->url.host,
		       gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		ret = connect_one(ai, x->connect_timeout_ms, &fd);
		if (!ret)
			break;
	}
	freeaddrinfo(res);
	if (ret) {
		vf_log(x->connect_log_level, "%s: cannot connect: %s", x->url.str, strerror(-ret));
		return ret;
	}

	vf_sock_tune(fd, 10);
	vf_sock_set_timeout(fd, x->connect_timeout_ms);
	pthread_mutex_lock(&t->fd_lock);
	t->fd = fd;
	__atomic_add_fetch(&x->conn_gen, 1, __ATOMIC_RELEASE); /* under fd_lock: abort checks it */
	pthread_mutex_unlock(&t->fd_lock);
	ret = vf_xport_handshake(x, tcp_exchange);
	if (ret)
		goto out_close;
	/* From here the receiver waits as long as it takes; keepalive probes
	 * notice a dead peer.  Sends time out so a stuck server cannot hang
	 * a submitter forever. */
	{
		struct timeval none = { 0 }, send_to = { .tv_sec = 30 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_to, sizeof(send_to));
	}

	pthread_mutex_lock(&t->lock);
	t->free_head = -1;
	for (int i = (int)x->queue_depth - 1; i >= 0; i--) {
		t->slots[i].op = NULL;
		t->slots[i].next_free = t->free_head;
		t->free_head = i;
	}
	t->inflight = 0;
	__atomic_store_n(&t->closing, false, __ATOMIC_RELAXED);
	t->dead = 0;
	pthread_mutex_unlock(&t->lock);
	ret = pthread_create(&t->rx, NULL, tcp_rx_thread, t);
	if (ret) {
		pthread_mutex_lock(&t->lock);
		t->dead = -ENOTCONN;
		pthread_mutex_unlock(&t->lock);
		ret = -ret;
		vf_err("%s: cannot start the receiver thread: %s", x->url.str, strerror(-ret));
		goto out_close;
	}
	t->rx_running = true;
	return 0;

out_close:
	pthread_mutex_lock(&t->fd_lock);
	close(fd);
	t->fd = -1;
	pthread_mutex_unlock(&t->fd_lock);
	return ret;
}

static void tcp_disconnect(struct vf_xport *x)
{
	struct tcp_xport *t = to_tcp(x);

	if (t->fd < 0)
		return;
	__atomic_store_n(&t->closing, true, __ATOMIC_RELAXED);
	shutdown(t->fd, SHUT_RDWR);
	if (t->rx_running) {
		pthread_join(t->rx, NULL);
		t->rx_running = false;
	}
	/* dead is set: no submitter gets past its check any more */
	pthread_mutex_lock(&t->send_lock);
	pthread_mutex_lock(&t->fd_lock);
	close(t->fd);
	t->fd = -1;
	pthread_mutex_unlock(&t->fd_lock);
	pthread_mutex_unlock(&t->send_lock);
}

/*
 * send_lock is held from the `dead` check to the end of the send, so a
 * request is never written to a socket that disconnect() has closed (and
 * whose number the kernel may have given to another socket).
 */
static int tcp_submit(struct vf_xport *x, struct vf_op *op)
{
	struct tcp_xport *t = to_tcp(x);
	struct vf_msg m;
	int idx, ret;

	pthread_mutex_lock(&t->send_lock);
	pthread_mutex_lock(&t->lock);
	while (!t->dead && t->free_head < 0)
		pthread_cond_wait(&t->slot_cv, &t->lock);
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_unlock(&t->send_lock);
		return -ENOTCONN;
	}
	idx = t->free_head;
	t->free_head = t->slots[idx].next_free;
	t->slots[idx].gen++;
	t->slots[idx].op = op;
	t->inflight++;
	vf_op_to_msg(op, &m);
	m.hdr.tag = (uint64_t)t->slots[idx].gen << 32 | (uint32_t)idx;
	pthread_mutex_unlock(&t->lock);

	/* From here the receiver owns op: it may complete it as soon as the
	 * server has the whole request, even before this send returns. */
	ret = vf_send_msg(t->fd, &m);
	if (ret) {
		if (!__atomic_load_n(&t->closing, __ATOMIC_RELAXED))
			vf_warn("%s: send failed: %s", x->url.str, strerror(-ret));
		/* the receiver sees the shutdown and fails op with the rest */
		shutdown(t->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&t->send_lock);
	return 0;
}

static void tcp_abort(struct vf_xport *x, uint64_t gen)
{
	struct tcp_xport *t = to_tcp(x);

	/* under fd_lock: disconnect() closes the fd under it, so this can
	 * never shut down a socket number the kernel has given to another.
	 * Not send_lock: a sender stuck on a full socket holds that. */
	pthread_mutex_lock(&t->fd_lock);
	if (x->conn_gen == gen)
		__atomic_store_n(&t->closing, true, __ATOMIC_RELAXED); /* the caller reports why */
	if (t->fd >= 0 && x->conn_gen == gen)
		shutdown(t->fd, SHUT_RDWR);
	pthread_mutex_unlock(&t->fd_lock);
}

const struct vf_xport_ops vf_tcp_ops = {
	.scheme = "tcp",
	.create = tcp_create,
	.destroy = tcp_destroy,
	.connect = tcp_connect,
	.disconnect = tcp_disconnect,
	.submit = tcp_submit,
	.abort = tcp_abort,
};
