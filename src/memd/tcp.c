// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd over TCP: a listening socket that the main loop polls, and
 * connections whose messages, page data included, travel on one stream.
 * The handshake and requests are the connection engine's (conn.c); this
 * file only moves bytes.  TCP reaches slabs by id, so granting a slab to
 * a connection registers nothing.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "memd.h"
#include "vofirm/log.h"
#include "vofirm/net.h"

/* Until login a connection may send only HELLO and LOGIN: a peer without
 * the key gets no more memory than these need. */
#define HANDSHAKE_BUF 256u
#define FULL_BUF (VF_HDR_SIZE + VF_MAX_PAYLOAD)

/* How far a receive may read past the message it needs: the next
 * requests a pipelining client already sent come in the same call. */
#define READ_AHEAD 65536u

/* Replies kept back (tcp_send()) while the next request is here already:
 * up to OUT_KEEP bytes of them go out in one send.  OUT_CAP holds the
 * longest head of any reply (ALLOC: a list of slabs) behind them. */
#define OUT_KEEP 16384u
#define OUT_CAP (OUT_KEEP + VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE)

struct tcp_conn {
	struct memd_conn c;
	int fd;
	uint8_t *buf; /* one message: HANDSHAKE_BUF, FULL_BUF once logged in */
	size_t cap;
	size_t pos, have; /* buf[pos, have): received, not yet decoded */
	uint8_t *out;	  /* OUT_CAP once logged in: replies not sent yet */
	size_t out_len;
};

struct tcp_listener {
	struct memd_listener l; /* l.fd: the listening socket */
	char name[320];		/* "tcp://host:port" as bound */
};

static struct tcp_conn *tcp_of(struct memd_conn *c)
{
	return vf_container_of(c, struct tcp_conn, c);
}

/*
 * Makes buf[pos, pos + need) received, reading at most READ_AHEAD bytes
 * more than that (what is there already: recv() does not wait for them).
 * 0, -ECONNRESET at a clean end, -ETIMEDOUT, or -errno.
 */
static int fill(struct tcp_conn *t, size_t need)
{
	while (t->have - t->pos < need) {
		size_t want = t->pos + need - t->have + READ_AHEAD;
		ssize_t n;

		if (want > t->cap - t->have)
			want = t->cap - t->have;
		n = recv(t->fd, t->buf + t->have, want, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		t->have += (size_t)n;
	}
	return 0;
}

/* Moves what is left of the buffer to its start. */
static void compact(struct tcp_conn *t)
{
	memmove(t->buf, t->buf + t->pos, t->have - t->pos);
	t->have -= t->pos;
	t->pos = 0;
}

/* Sends the replies kept back. */
static int flush_out(struct tcp_conn *t)
{
	struct iovec v = { t->out, t->out_len };

	if (!t->out_len)
		return 0;
	t->out_len = 0;
	return vf_writev_flags(t->fd, &v, 1, 0);
}

/*
 * One message, decoded in place (its pointers are valid until the next
 * call).  One recv() per request when requests are small, however many
 * a client pipelines; the same checks as vf_recv_msg().
 */
static int recv_msg(struct tcp_conn *t, struct vf_msg *m, const char **why);

static int tcp_recv(struct memd_conn *c, struct vf_msg *m, const char **why)
{
	struct tcp_conn *t = tcp_of(c);
	int ret = recv_msg(t, m, why);

	/* a reply kept back was meant to go with the next, which will not
	 * come: the connection ends (it is not kept back while a request
	 * may still have to be waited for: next_is_io()) */
	if (ret && t->out_len)
		flush_out(t);
	return ret;
}

static int recv_msg(struct tcp_conn *t, struct vf_msg *m, const char **why)
{
	struct vf_hdr h;
	uint8_t *p;
	int ret;

	/* the previous message is done with (t->pos is past it) */
	if (t->pos == t->have)
		t->pos = t->have = 0;
	else if (t->cap - t->pos < VF_HDR_SIZE)
		compact(t);
	ret = fill(t, VF_HDR_SIZE);
	if (ret)
		return ret;
	ret = vf_hdr_decode(t->buf + t->pos, &h, why);
	if (ret) {
		m->hdr = h; /* the version, for a refusal the peer can read */
		return ret;
	}
	if (h.len > t->cap - VF_HDR_SIZE) {
		if (why)
			*why = "message longer than this receiver accepts here";
		return -EMSGSIZE;
	}
	/* a whole message always fits from the buffer's start */
	if (h.len > t->cap - t->pos - VF_HDR_SIZE)
		compact(t);
	ret = fill(t, VF_HDR_SIZE + h.len);
	if (ret)
		return ret == -ECONNRESET ? -EPIPE : ret;
	p = t->buf + t->pos;
	t->pos += VF_HDR_SIZE + h.len;
	return vf_msg_decode_body(&h, p + VF_HDR_SIZE, h.len, m, why);
}

/* Is the next request here whole already?  Then the reply to this one
 * can wait for the next reply (MSG_MORE): one segment, and one wake-up
 * of the client, for a batch of pipelined requests. */
static bool another_buffered(const struct tcp_conn *t, struct vf_hdr *h)
{
	if (t->have - t->pos < VF_HDR_SIZE || vf_hdr_decode(t->buf + t->pos, h, NULL))
		return false;
	return t->have - t->pos - VF_HDR_SIZE >= h->len;
}

/* ... and a READ or WRITE, served at once, without waiting on anything
 * (an ALLOC may wait for the zeroer): a reply can be kept back for it. */
static bool next_is_io(const struct tcp_conn *t)
{
	struct vf_hdr h;

	return another_buffered(t, &h) && (h.type == VF_MSG_READ || h.type == VF_MSG_WRITE);
}

static int tcp_logged_in(struct memd_conn *c)
{
	struct tcp_conn *t = tcp_of(c);
	uint8_t *big = malloc(FULL_BUF);

	if (!big)
		return -ENOMEM;
	/* a request the client sent right behind LOGIN may be here already */
	memcpy(big, t->buf + t->pos, t->have - t->pos);
	t->have -= t->pos;
	t->pos = 0;
	free(t->buf);
	t->buf = big;
	t->cap = FULL_BUF;
	if (!t->out)
		t->out = malloc(OUT_CAP);
	return t->out ? 0 : -ENOMEM;
}

/*
 * A reply.  After login, the reply to a request followed by a READ or
 * WRITE that is here already is kept back and goes out with the next
 * (replies to write-back: dozens in one send, one wake-up of the
 * client).  A reply with data (READ) goes at once, with those kept back
 * before it: the slab may change under a reply that waits.
 */
static int tcp_send(struct memd_conn *c, const struct vf_msg *m)
{
	struct tcp_conn *t = tcp_of(c);
	struct iovec v[2];
	struct vf_hdr next;
	size_t bulk;
	long n;

	if (!t->out)
		return vf_send_msg_more(t->fd, m, another_buffered(t, &next));
	n = vf_msg_encode_head(m, t->out + t->out_len, OUT_CAP - t->out_len, &bulk);
	if (n == -ENOSPC && t->out_len) {
		int ret = flush_out(t);

		if (ret)
			return ret;
		n = vf_msg_encode_head(m, t->out, OUT_CAP, &bulk);
	}
	if (n < 0)
		return (int)n;
	t->out_len += (size_t)n;
	if (bulk) {
		v[0] = (struct iovec){ t->out, t->out_len };
		v[1] = (struct iovec){ (void *)m->read_rep.data, bulk };
		t->out_len = 0;
		return vf_writev_flags(t->fd, v, 2, another_buffered(t, &next) ? MSG_MORE : 0);
	}
	if (t->out_len <= OUT_KEEP && next_is_io(t))
		return 0;
	return flush_out(t);
}

static void tcp_set_timeout(struct memd_conn *c, unsigned ms)
{
	vf_sock_set_timeout(tcp_of(c)->fd, ms);
}

static void tcp_kick(struct memd_conn *c)
{
	shutdown(tcp_of(c)->fd, SHUT_RDWR);
}

/* TCP reaches slabs by id: nothing to register */
static int tcp_grant(struct memd_conn *c, const uint32_t *ids, uint32_t n, struct vf_slab_desc *d)
{
	for (uint32_t i = 0; i < n; i++)
		d[i] = (struct vf_slab_desc){ .id = ids[i] };
	return 0;
}

static void tcp_revoke(struct memd_conn *c, const uint32_t *ids, uint32_t n)
{
}

static void tcp_revoke_all(struct memd_conn *c)
{
}

static void tcp_destroy(struct memd_conn *c)
{
	struct tcp_conn *t = tcp_of(c);

	close(t->fd);
	free(t->buf);
	free(t->out);
	free(t);
}

static const struct memd_conn_ops tcp_conn_ops = {
	.name = "tcp",
	.data_path = true,
	.recv = tcp_recv,
	.send = tcp_send,
	.set_timeout = tcp_set_timeout,
	.kick = tcp_kick,
	.grant = tcp_grant,
	.revoke = tcp_revoke,
	.revoke_all = tcp_revoke_all,
	.logged_in = tcp_logged_in,
	.destroy = tcp_destroy,
};

static void tcp_accept(struct memd_listener *ml)
{
	struct tcp_listener *l = vf_container_of(ml, struct tcp_listener, l);
	struct tcp_conn *t;
	char peer[64];
	int fd;

	fd = accept4(ml->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			vf_warn("accept on %s: %s", l->name, strerror(errno));
		return;
	}
	vf_sock_tune(fd, 10);
	vf_peer_name(fd, peer, sizeof(peer));
	t = calloc(1, sizeof(*t));
	if (t)
		t->buf = malloc(HANDSHAKE_BUF);
	if (!t || !t->buf) {
		vf_err("client at %s: no memory for a new connection; closing it", peer);
		free(t);
		close(fd);
		return;
	}
	memd_conn_init(&t->c, ml->srv, &tcp_conn_ops, peer);
	t->fd = fd;
	t->cap = HANDSHAKE_BUF;
	memd_conn_start(ml->srv, &t->c); /* destroys t if refused */
}

static int tcp_start(struct memd_server *srv, const struct vf_url *u, struct memd_listener **out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8], host[NI_MAXHOST], serv[NI_MAXSERV];
	struct tcp_listener *l;
	int fd, ret, one = 1;

	snprintf(port, sizeof(port), "%u", u->port);
	ret = getaddrinfo(u->host, port, &hints, &res);
	if (ret) {
		vf_err("listen address %s: cannot resolve '%s': %s", u->str, u->host,
		       gai_strerror(ret));
		return -EADDRNOTAVAIL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		ret = -ENOMEM;
		goto out;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		goto out;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(l->name, sizeof(l->name), strchr(host, ':') ? "tcp://[%s]:%s" : "tcp://%s:%s",
		 host, serv);
	l->l = (struct memd_listener){ .ops = &memd_tcp_listener, .srv = srv, .fd = fd };
	vf_notice("listening on %s", l->name);
	*out = &l->l;
	l = NULL;
	ret = 0;
out:
	freeaddrinfo(res);
	free(l);
	if (ret)
		vf_err("cannot listen on %s: %s", u->str, strerror(-ret));
	return ret;
}

static void tcp_close(struct memd_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static void tcp_destroy_listener(struct memd_listener *l)
{
	tcp_close(l);
	free(vf_container_of(l, struct tcp_listener, l));
}

const struct memd_listener_ops memd_tcp_listener = {
	.name = "tcp",
	.scheme = VF_SCHEME_TCP,
	.start = tcp_start,
	.accept = tcp_accept,
	.close = tcp_close,
	.destroy = tcp_destroy_listener,
};
