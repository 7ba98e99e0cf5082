// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-memd's connection engine, the same on every transport: one
 * thread per connection that runs the handshake (HELLO, LOGIN) and then
 * serves requests in order.  Clients pipeline requests (tags), so one
 * connection keeps many in flight.  Every request is decoded and checked
 * before it touches the pool; a malformed message ends the connection
 * (its framing can no longer be trusted), a well-formed but refused one
 * gets an error reply.  How messages move, and how a granted slab is
 * made reachable, is the transport's (struct memd_conn_ops: tcp.c,
 * rdma.c); how connections arrive is its listener's
 * (struct memd_listener_ops).
 *
 * Connection life cycle:
 *   accepted -> HELLO -> LOGIN (auth, session) -> serving -> closed
 *   closed with a session: the session is detached and its lease starts,
 *   unless the client said BYE.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "memd.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

int server_init(struct memd_server *srv, struct memd_pool *pool, const struct vf_key *key,
		unsigned max_clients, unsigned max_pending)
{
	memset(srv, 0, sizeof(*srv));
	srv->pool = pool;
	if (key) {
		srv->key = *key;
		srv->auth = true;
	}
	srv->max_clients = max_clients;
	srv->max_pending = max_pending;
	srv->max_pending_per_source = MEMD_PENDING_PER_SOURCE;
	pthread_mutex_init(&srv->lock, NULL);
	vf_cond_init(&srv->idle_cv);
	return 0;
}

int server_listen(struct memd_server *srv, const char *url,
		  const struct memd_listener_ops *const *ops, unsigned nops)
{
	struct memd_listener *l;
	struct vf_url u;
	const char *why;
	int ret;

	if (vf_url_parse(url, &u, &why)) {
		vf_err("listen address '%s': %s", url, why);
		return -EINVAL;
	}
	if (srv->nlisten >= MEMD_MAX_LISTEN) {
		vf_err("cannot listen on %s: at most %u listeners", u.str, MEMD_MAX_LISTEN);
		return -E2BIG;
	}
	for (unsigned i = 0; i < nops; i++) {
		if (ops[i]->scheme != u.scheme)
			continue;
		ret = ops[i]->start(srv, &u, &l);
		if (ret)
			return ret;
		srv->listeners[srv->nlisten++] = l;
		return 0;
	}
	vf_err("cannot listen on %s: this vofirm-memd serves no such transport", u.str);
	return -EPROTONOSUPPORT;
}

void memd_conn_init(struct memd_conn *c, struct memd_server *srv, const struct memd_conn_ops *ops,
		    const char *peer)
{
	char *colon;

	c->srv = srv;
	c->ops = ops;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->who, sizeof(c->who), "at %s", c->peer);
	snprintf(c->source, sizeof(c->source), "%s", peer);
	colon = strrchr(c->source, ':');
	if (colon && colon != c->source && !strchr(colon, ']'))
		*colon = '\0';
}

/*
 * A LOGIN passed authentication: does it get in?  Resuming always does;
 * a new session only below max_clients.  0 (now counted as a client) or
 * -EUSERS.
 */
static int login_admit(struct memd_conn *c, bool resume)
{
	struct memd_server *srv = c->srv;
	int ret = 0;

	pthread_mutex_lock(&srv->lock);
	if (!resume && srv->nclients >= srv->max_clients) {
		ret = -EUSERS;
	} else {
		c->logged_in = true;
		srv->npending--;
		srv->nclients++;
	}
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

uint64_t server_expire_handshakes(struct memd_server *srv)
{
	uint64_t now = vf_now_ms(), next = UINT64_MAX;

	pthread_mutex_lock(&srv->lock);
	for (struct memd_conn *c = srv->conns; c; c = c->next) {
		if (c->logged_in || c->dropped)
			continue;
		if (now >= c->deadline) {
			c->dropped = "handshake not finished in time";
			c->ops->kick(c);
		} else if (c->deadline - now < next) {
			next = c->deadline - now;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return next;
}

/* Sends an error reply; the text tells the client why. */
static int reply_err(struct memd_conn *c, const struct vf_hdr *req, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int reply_err(struct memd_conn *c, const struct vf_hdr *req, int err, const char *fmt, ...)
{
	struct vf_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.hdr.type = req->type;
	m.hdr.version = req->version; /* an older peer's refusal: its framing */
	m.hdr.flags = VF_HDR_F_REPLY;
	m.hdr.tag = req->tag;
	m.hdr.status = (uint32_t)err;
	va_start(ap, fmt);
	vsnprintf(m.error.msg, sizeof(m.error.msg), fmt, ap);
	va_end(ap);
	for (char *p = m.error.msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return c->ops->send(c, &m);
}

/* What a LOGIN refusal's MAC binds: this connection's HELLO and LOGIN. */
struct login_ctx {
	uint8_t snonce[VF_NONCE_LEN];
	uint8_t facts[VF_HELLO_FACTS_LEN];
	const struct vf_msg *login;
};

/*
 * Refuses a LOGIN with a MAC over the verdict, so that a client can tell
 * it from a forgery (an ESTALE makes a client give its data up).  Without
 * a key the MAC is zero and a client believes the verdict as it is.
 */
static int login_refuse(struct memd_conn *c, const struct login_ctx *lc, int err, const char *fmt,
			...) __attribute__((format(printf, 4, 5)));

static int login_refuse(struct memd_conn *c, const struct login_ctx *lc, int err, const char *fmt,
			...)
{
	const struct vf_msg *req = lc->login;
	struct vf_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.hdr.type = VF_MSG_LOGIN;
	m.hdr.flags = VF_HDR_F_REPLY;
	m.hdr.tag = req->hdr.tag;
	m.hdr.status = (uint32_t)err;
	va_start(ap, fmt);
	vsnprintf(m.error.msg, sizeof(m.error.msg), fmt, ap);
	va_end(ap);
	for (char *p = m.error.msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (c->srv->auth)
		vf_auth_refusal_mac(&c->srv->key, req->login.nonce, lc->snonce, lc->facts,
				    req->login.token, (uint32_t)err, m.error.msg, m.error.mac);
	return c->ops->send(c, &m);
}

static void reply_init(struct vf_msg *m, const struct vf_hdr *req)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = req->type;
	m->hdr.flags = VF_HDR_F_REPLY;
	m->hdr.tag = req->tag;
}

/* Called with the pool lock held by a new connection taking over the session. */
static void conn_kick(void *arg)
{
	struct memd_conn *c = arg;

	c->ops->kick(c);
}

/* HELLO and LOGIN.  0 with c->sess set, or -errno (connection to close). */
static int conn_handshake(struct memd_conn *c)
{
	struct memd_server *srv = c->srv;
	struct memd_pool *p = srv->pool;
	uint8_t mac[VF_MAC_LEN];
	char name[VF_NAME_MAX + 1];
	const char *why = "", *dropped;
	struct vf_msg m, r;
	struct login_ctx lc = { .login = &m };
	bool resumed;
	int ret;

	ret = c->ops->recv(c, &m, &why);
	if (ret)
		goto recv_failed;
	if (m.hdr.type != VF_MSG_HELLO || (m.hdr.flags & VF_HDR_F_REPLY)) {
		vf_log_ratelimited(LOG_WARNING, "client at %s: sent %s before HELLO; closing",
				   c->peer, vf_msg_type_name(m.hdr.type));
		reply_err(c, &m.hdr, EPROTO, "HELLO expected");
		return -EPROTO;
	}
	snprintf(name, sizeof(name), "%s", m.hello.name);
	snprintf(c->who, sizeof(c->who), "'%s' at %s", name, c->peer);

	ret = vf_random(lc.snonce, sizeof(lc.snonce));
	if (ret)
		return ret;
	reply_init(&r, &m.hdr);
	r.hello_rep.flags = srv->auth ? VF_HELLO_F_AUTH : 0;
	r.hello_rep.slab_size = p->slab_size;
	r.hello_rep.capacity = p->size;
	r.hello_rep.lease_ms = p->lease_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)p->lease_ms;
	memcpy(r.hello_rep.instance, p->instance, VF_INSTANCE_LEN);
	memcpy(r.hello_rep.nonce, lc.snonce, VF_NONCE_LEN);
	vf_hello_facts(&r, lc.facts);
	ret = c->ops->send(c, &r);
	if (ret)
		return ret;

	ret = c->ops->recv(c, &m, &why);
	if (ret)
		goto recv_failed;
	if (m.hdr.type != VF_MSG_LOGIN || (m.hdr.flags & VF_HDR_F_REPLY)) {
		vf_log_ratelimited(LOG_WARNING, "client %s: sent %s where LOGIN belongs; closing",
				   c->who, vf_msg_type_name(m.hdr.type));
		reply_err(c, &m.hdr, EPROTO, "LOGIN expected");
		return -EPROTO;
	}
	if (srv->auth) {
		vf_auth_client_mac(&srv->key, lc.snonce, m.login.nonce, m.login.token, name, mac);
		if (!vf_mac_equal(mac, m.login.mac)) {
			vf_log_ratelimited(LOG_WARNING,
					   "client %s: authentication failed "
					   "(wrong key); refused",
					   c->who);
			login_refuse(c, &lc, EACCES, "the key does not match the server's");
			return -EACCES;
		}
	}
	ret = login_admit(c, !vf_all_zero(m.login.token, VF_TOKEN_LEN));
	if (ret) {
		vf_log_ratelimited(LOG_WARNING,
				   "client %s: new session refused: %u clients "
				   "already (--max-clients)",
				   c->who, srv->max_clients);
		login_refuse(c, &lc, -ret, "too many clients (%u, the server's --max-clients)",
			     srv->max_clients);
		return ret;
	}

	ret = pool_login(p, m.login.token, name, c->peer, c, conn_kick, &c->sess, &resumed);
	if (ret == -ESTALE) {
		vf_notice("client %s: asked to resume a session that does not exist "
			  "(lease ran out, or another memd issued it)",
			  c->who);
		login_refuse(c, &lc, ESTALE,
			     "session unknown: its lease ran out or this server restarted");
		return ret;
	}
	if (ret) {
		vf_warn("client %s: cannot open a session: %s", c->who, strerror(-ret));
		login_refuse(c, &lc, -ret, "cannot open a session: %s", strerror(-ret));
		return ret;
	}
	snprintf(c->who, sizeof(c->who), "'%s' at %s (session %" PRIu64 ")", name, c->peer,
		 c->sess->id);
	if (c->ops->logged_in) {
		/* before the reply: the client may send requests right after it */
		ret = c->ops->logged_in(c);
		if (ret) {
			vf_err("client %s: cannot set the connection up for requests: %s", c->who,
			       strerror(-ret));
			return ret;
		}
	}

	reply_init(&r, &m.hdr);
	r.login_rep.flags = resumed ? VF_LOGIN_F_RESUMED : 0;
	pthread_mutex_lock(&p->lock);
	c->sess->onesided = !c->ops->data_path;
	r.login_rep.nslabs = c->sess->nslabs + c->sess->nshared;
	memcpy(r.login_rep.token, c->sess->token, VF_TOKEN_LEN);
	pthread_mutex_unlock(&p->lock);
	if (srv->auth)
		vf_auth_server_mac(&srv->key, m.login.nonce, lc.snonce, lc.facts, r.login_rep.flags,
				   r.login_rep.nslabs, r.login_rep.token, r.login_rep.mac);
	vf_notice("client %s: %s over %s (%u slabs held)", c->who,
		  resumed ? "resumed its session" : "new session", c->ops->name,
		  r.login_rep.nslabs);
	return c->ops->send(c, &r);

recv_failed:
	if (ret == -EPROTONOSUPPORT) {
		/* in the peer's own framing when it is older: it can read that */
		struct vf_hdr h = { .type = VF_MSG_HELLO,
				    .tag = m.hdr.tag,
				    .version =
					    m.hdr.version < VF_PROTO_VERSION ? m.hdr.version : 0 };

		reply_err(c, &h, EPROTONOSUPPORT,
			  "this server speaks vofirm protocol version %d, "
			  "the client version %u: run the same vofirm protocol on both sides",
			  VF_PROTO_VERSION, m.hdr.version);
		vf_log_ratelimited(LOG_WARNING,
				   "client at %s: speaks vofirm protocol version %u, "
				   "this server version %d: refused",
				   c->peer, m.hdr.version, VF_PROTO_VERSION);
		return ret;
	}
	pthread_mutex_lock(&srv->lock);
	dropped = c->dropped;
	pthread_mutex_unlock(&srv->lock);
	if (dropped)
		vf_log_ratelimited(LOG_WARNING, "client at %s: %s; closed", c->peer, dropped);
	else if (ret == -EBADMSG || ret == -EMSGSIZE)
		vf_log_ratelimited(LOG_WARNING, "client at %s: malformed handshake: %s; closing",
				   c->peer, why);
	else if (ret == -ETIMEDOUT)
		vf_log_ratelimited(LOG_WARNING,
				   "client at %s: handshake not finished within "
				   "%u s; closing",
				   c->peer, MEMD_HANDSHAKE_MS / 1000);
	else if (ret != -ECONNRESET)
		vf_log_ratelimited(LOG_INFO,
				   "client at %s: connection failed during handshake: "
				   "%s",
				   c->peer, strerror(-ret));
	return ret;
}

/* Serves one request.  0 to go on, 1 after BYE, or -errno to close. */
static int conn_serve(struct memd_conn *c, const struct vf_msg *m)
{
	struct memd_pool *p = c->srv->pool;
	char why[VF_ERRMSG_MAX];
	struct vf_msg r;
	uint8_t *mem;
	uint64_t t0;
	int ret;

	if (m->hdr.flags & VF_HDR_F_REPLY) {
		vf_warn("client %s: sent a reply where requests belong; closing", c->who);
		return -EPROTO;
	}
	reply_init(&r, &m->hdr);
	switch (m->hdr.type) {
	case VF_MSG_READ:
	case VF_MSG_WRITE:
		if (!c->ops->data_path) {
			vf_warn("client %s: sent %s on %s, where data moves by one-sided verbs; "
				"closing",
				c->who, vf_msg_type_name(m->hdr.type), c->ops->name);
			reply_err(c, &m->hdr, EPROTO, "%s carries no READ/WRITE messages",
				  c->ops->name);
			return -EPROTO;
		}
		ret = pool_io_check(p, c->sess, m->io.slab, m->io.off, m->io.len, &mem, why,
				    sizeof(why));
		if (ret) {
			vf_warn("client %s: %s refused: %s", c->who, vf_msg_type_name(m->hdr.type),
				why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		if (m->hdr.type == VF_MSG_WRITE) {
			memcpy(mem, m->io.data, m->io.len);
			__atomic_add_fetch(&p->bytes_written, m->io.len, __ATOMIC_RELAXED);
			__atomic_add_fetch(&p->writes, 1, __ATOMIC_RELAXED);
		} else {
			r.read_rep.len = m->io.len;
			r.read_rep.data = mem;
			__atomic_add_fetch(&p->bytes_read, m->io.len, __ATOMIC_RELAXED);
			__atomic_add_fetch(&p->reads, 1, __ATOMIC_RELAXED);
		}
		return c->ops->send(c, &r);

	case VF_MSG_ALLOC:
		ret = pool_alloc(p, c->sess, m->alloc.count, c->ids, why, sizeof(why));
		if (ret) {
			vf_notice("client %s: allocation of %u slabs refused: %s", c->who,
				  m->alloc.count, why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		t0 = vf_now_ns();
		ret = c->ops->grant(c, c->ids, m->alloc.count, c->descs);
		if (ret) {
			pool_free(p, c->sess, m->alloc.count, c->ids, why, sizeof(why));
			vf_err("client %s: cannot make %u granted slabs accessible: %s; nothing "
			       "granted",
			       c->who, m->alloc.count, strerror(-ret));
			return reply_err(c, &m->hdr, -ret, "cannot register the slabs: %s",
					 strerror(-ret));
		}
		r.alloc_rep.count = m->alloc.count;
		r.alloc_rep.descs = c->descs;
		/* on RDMA the time is that of registering them, which faults in
		 * memory never touched (docs/rdma.md, "Allocation time") */
		vf_info("client %s: granted %u slab%s (first %u) in %" PRIu64 " ms", c->who,
			m->alloc.count, m->alloc.count == 1 ? "" : "s", c->ids[0],
			(vf_now_ns() - t0) / 1000000);
		return c->ops->send(c, &r);

	case VF_MSG_FREE:
		for (uint32_t i = 0; i < m->free.count; i++)
			c->ids[i] = vf_msg_free_id(m, i);
		ret = pool_check_owned(p, c->sess, m->free.count, c->ids, why, sizeof(why));
		if (!ret) {
			/* remote access ends before the memory is zeroed and reused */
			c->ops->revoke(c, c->ids, m->free.count);
			ret = pool_free(p, c->sess, m->free.count, c->ids, why, sizeof(why));
		}
		if (ret) {
			vf_warn("client %s: free refused: %s", c->who, why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		vf_info("client %s: freed %u slab%s", c->who, m->free.count,
			m->free.count == 1 ? "" : "s");
		return c->ops->send(c, &r);

	case VF_MSG_STATS:
		pool_stats(p, c->sess, &r.stats_rep);
		return c->ops->send(c, &r);

	case VF_MSG_LIST:
		r.list_rep.count = pool_list(p, c->sess, m->list.first, m->list.max, c->ids,
					     &r.list_rep.total);
		ret = c->ops->grant(c, c->ids, r.list_rep.count, c->descs);
		if (ret)
			return reply_err(c, &m->hdr, -ret, "cannot register the slabs: %s",
					 strerror(-ret));
		r.list_rep.descs = c->descs;
		return c->ops->send(c, &r);

	case VF_MSG_GRANT:
		for (uint32_t i = 0; i < m->grant.count; i++)
			c->ids[i] = vf_msg_grant_id(m, i);
		memcpy(r.grant_rep.token, m->grant.token, VF_GRANT_LEN);
		ret = pool_grant(p, c->sess, r.grant_rep.token, m->grant.ttl_ms, m->grant.count,
				 c->ids, &r.grant_rep.total, why, sizeof(why));
		if (ret) {
			vf_warn("client %s: GRANT of %u slab(s) refused: %s", c->who,
				m->grant.count, why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		return c->ops->send(c, &r);

	case VF_MSG_ACCEPT:
		ret = pool_accept(p, c->sess, m->accept.token, m->accept.first, m->accept.max,
				  c->ids, &r.list_rep.count, &r.list_rep.total, why, sizeof(why));
		if (ret) {
			vf_log_ratelimited(LOG_WARNING, "client %s: ACCEPT refused: %s", c->who,
					   why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		ret = c->ops->grant(c, c->ids, r.list_rep.count, c->descs);
		if (ret)
			return reply_err(c, &m->hdr, -ret, "cannot register the slabs: %s",
					 strerror(-ret));
		r.list_rep.descs = c->descs;
		return c->ops->send(c, &r);

	case VF_MSG_GIVE:
	case VF_MSG_REVOKE: {
		uint32_t *ids, n;

		ret = m->hdr.type == VF_MSG_GIVE
			      ? pool_give(p, c->sess, m->give.token, &ids, &n, why, sizeof(why))
			      : pool_revoke(p, c->sess, m->give.token, &ids, &n, why, sizeof(why));
		if (ret) {
			vf_log_ratelimited(LOG_WARNING, "client %s: %s refused: %s", c->who,
					   vf_msg_type_name(m->hdr.type), why);
			return reply_err(c, &m->hdr, -ret, "%s", why);
		}
		/* the slabs this session may no longer reach */
		for (uint32_t k = 0; k < n; k += VF_MAX_SLABS_PER_MSG)
			c->ops->revoke(c, ids + k, MIN(n - k, VF_MAX_SLABS_PER_MSG));
		free(ids);
		return c->ops->send(c, &r);
	}

	case VF_MSG_BYE:
		vf_notice("client %s: ended its session; freeing %u slabs", c->who,
			  c->sess->nslabs);
		c->ops->revoke_all(c);
		pool_end_session(p, c->sess);
		c->sess = NULL;
		ret = c->ops->send(c, &r);
		return ret ? ret : 1;

	default:
		vf_warn("client %s: sent %s after login; closing", c->who,
			vf_msg_type_name(m->hdr.type));
		reply_err(c, &m->hdr, EPROTO, "%s is only valid in the handshake",
			  vf_msg_type_name(m->hdr.type));
		return -EPROTO;
	}
}

static void *memd_conn_main(void *arg)
{
	struct memd_conn *c = arg;
	struct memd_server *srv = c->srv;
	const char *why = "";
	struct vf_msg m;
	int ret;

	/* each receive is bounded too, in case the main loop is late */
	c->ops->set_timeout(c, MEMD_HANDSHAKE_MS);
	ret = conn_handshake(c);
	if (!ret) {
		c->ops->set_timeout(c, 0);
		for (;;) {
			ret = c->ops->recv(c, &m, &why);
			if (ret)
				break;
			ret = conn_serve(c, &m);
			if (ret)
				break;
		}
		if (ret == -EBADMSG || ret == -EPROTONOSUPPORT)
			vf_warn("client %s: malformed message: %s; closing", c->who, why);
		else if (ret == -ETIMEDOUT)
			vf_notice("client %s: no request for a long time (a client that died "
				  "silently?); closing",
				  c->who);
		else if (ret < 0 && ret != -ECONNRESET && ret != -EPROTO)
			vf_info("client %s: connection failed: %s", c->who, strerror(-ret));
	}
	if (c->sess) {
		/* slabs stay the session's; remote access goes with the connection */
		c->ops->revoke_all(c);
		vf_notice("client %s: disconnected; its %u slabs are kept for %" PRIu64
			  " ms for it to reconnect",
			  c->who, c->sess->nslabs, srv->pool->lease_ms);
		pool_detach(srv->pool, c->sess);
	}
	memd_conn_abandon(c);
	return NULL;
}

/* Takes c off the list (srv->lock held). */
static void do_unlist(struct memd_server *srv, struct memd_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->logged_in)
		srv->nclients--;
	else
		srv->npending--;
	pthread_cond_broadcast(&srv->idle_cv);
}

int memd_conn_admit(struct memd_server *srv, struct memd_conn *c)
{
	struct memd_conn *oldest = NULL;
	unsigned same = 0;

	pthread_mutex_lock(&srv->lock);
	for (struct memd_conn *o = srv->conns; o; o = o->next) {
		if (o->logged_in || o->dropped)
			continue;
		if (!strcmp(o->source, c->source))
			same++;
		if (!oldest || o->deadline < oldest->deadline)
			oldest = o;
	}
	if (srv->stopping || same >= srv->max_pending_per_source) {
		pthread_mutex_unlock(&srv->lock);
		if (srv->stopping)
			vf_warn("client at %s refused: shutting down", c->peer);
		else
			vf_log_ratelimited(LOG_WARNING,
					   "client at %s refused: %u connections "
					   "from %s are not logged in yet",
					   c->peer, same, c->source);
		return -EBUSY;
	}
	if (srv->npending >= srv->max_pending && oldest) {
		/* the oldest handshake makes room: a flood cannot keep a
		 * real client out for longer than it keeps flooding */
		vf_log_ratelimited(LOG_WARNING,
				   "%u connections are not logged in yet: "
				   "dropping the oldest, from %s",
				   srv->npending, oldest->peer);
		oldest->dropped = "dropped for a newer connection (too many not logged in)";
		oldest->ops->kick(oldest);
	}
	c->deadline = vf_now_ms() + MEMD_HANDSHAKE_MS;
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	srv->npending++;
	pthread_mutex_unlock(&srv->lock);
	vf_debug("client at %s: connected over %s", c->peer, c->ops->name);
	return 0;
}

int memd_conn_run(struct memd_conn *c)
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&c->thread, &attr, memd_conn_main, c);
	pthread_attr_destroy(&attr);
	if (ret) {
		vf_err("client at %s: cannot start a thread: %s", c->peer, strerror(ret));
		memd_conn_abandon(c);
		return -ret;
	}
	/* not c from here: its thread may be done with it already */
	return 0;
}

void memd_conn_abandon(struct memd_conn *c)
{
	struct memd_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	do_unlist(srv, c);
	pthread_mutex_unlock(&srv->lock);
	c->ops->destroy(c);
}

int memd_conn_start(struct memd_server *srv, struct memd_conn *c)
{
	int ret = memd_conn_admit(srv, c);

	if (ret) {
		c->ops->destroy(c);
		return ret;
	}
	return memd_conn_run(c);
}

unsigned server_stop(struct memd_server *srv, unsigned timeout_ms)
{
	struct timespec deadline = vf_deadline_ms(timeout_ms);
	unsigned left;

	for (unsigned i = 0; i < srv->nlisten; i++)
		if (srv->listeners[i]->ops->close)
			srv->listeners[i]->ops->close(srv->listeners[i]);

	pthread_mutex_lock(&srv->lock);
	srv->stopping = true; /* no new connection starts */
	for (struct memd_conn *c = srv->conns; c; c = c->next)
		c->ops->kick(c);
	while (srv->nconns)
		if (pthread_cond_timedwait(&srv->idle_cv, &srv->lock, &deadline))
			break;
	left = srv->nconns;
	pthread_mutex_unlock(&srv->lock);
	if (left) {
		/* a listener may still be needed to end a connection still
		 * running (RDMA delivers DISCONNECTED through it): keep them */
		vf_warn("%u connection%s did not close in time", left, left == 1 ? "" : "s");
		return left;
	}
	for (unsigned i = 0; i < srv->nlisten; i++)
		srv->listeners[i]->ops->destroy(srv->listeners[i]);
	srv->nlisten = 0;
	return 0;
}
