// SPDX-License-Identifier: GPL-2.0-or-later
/* Transport-independent parts of a connection to vofirm-memd. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "transport_i.h"

static const struct vf_xport_ops *xport_find(enum vf_scheme scheme)
{
	switch (scheme) {
	case VF_SCHEME_TCP:
		return &vf_tcp_ops;
	case VF_SCHEME_RDMA:
		return &vf_rdma_ops;
	case VF_SCHEME_MEM:
		return &vf_mem_ops;
	}
	return NULL;
}

int vf_xport_new(const char *url, const struct vf_xport_opts *opts, struct vf_xport **out)
{
	const struct vf_xport_ops *ops;
	struct vf_xport *x;
	struct vf_url u;
	const char *why;
	int ret;

	ret = vf_url_parse(url, &u, &why);
	if (ret) {
		vf_err("server address '%s': %s", url, why);
		return ret;
	}
	if (u.port == 0) {
		vf_err("server address '%s': port 0 is for listening, not connecting", url);
		return -EINVAL;
	}
	ops = xport_find(u.scheme);

	x = ops->create();
	if (!x)
		return -ENOMEM;
	x->ops = ops;
	x->url = u;
	if (opts->name) {
		snprintf(x->name, sizeof(x->name), "%s", opts->name);
	} else {
		char host[64] = "localhost";

		gethostname(host, sizeof(host) - 1);
		snprintf(x->name, sizeof(x->name), "vofirm@%.56s", host);
	}
	if (opts->key) {
		x->key = *opts->key;
		x->has_key = true;
	}
	x->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 5000;
	x->queue_depth = opts->queue_depth ? opts->queue_depth : 64;
	x->busy_poll_us = opts->busy_poll_us;
	x->connect_log_level = LOG_ERR;
	if (opts->resume_token) {
		memcpy(x->token, opts->resume_token, VF_TOKEN_LEN);
		x->have_session = true;
	}

	*out = x;
	return 0;
}

int vf_xport_open(const char *url, const struct vf_xport_opts *opts, struct vf_xport **out)
{
	struct vf_xport *x;
	int ret = vf_xport_new(url, opts, &x);

	if (ret)
		return ret;
	ret = x->ops->connect(x);
	if (ret) {
		x->ops->destroy(x);
		return ret;
	}
	*out = x;
	return 0;
}

int vf_xport_reconnect(struct vf_xport *x)
{
	x->ops->disconnect(x);
	return x->ops->connect(x);
}

void vf_xport_forget_session(struct vf_xport *x)
{
	memset(x->token, 0, sizeof(x->token));
	x->have_session = false;
	x->resumed = false;
	x->session_slabs = 0;
}

void vf_xport_disconnect(struct vf_xport *x)
{
	x->ops->disconnect(x);
}

void vf_xport_close(struct vf_xport *x, unsigned flags)
{
	if (!x)
		return;
	if (!(flags & VF_CLOSE_KEEP_SESSION) && x->have_session) {
		struct vf_op op = { .type = VF_OP_BYE };
		int ret = vf_xport_run_timeout(x, &op, x->connect_timeout_ms);

		if (ret && ret != -ENOTCONN)
			vf_warn("%s: could not end the session (%s): its slabs stay "
				"granted until the server's lease ends",
				x->url.str, op.errmsg[0] ? op.errmsg : strerror(-ret));
	}
	x->ops->disconnect(x);
	x->ops->destroy(x);
}

static void (*wait_hook)(void);

void vf_xport_set_wait_hook(void (*about_to_wait)(void))
{
	__atomic_store_n(&wait_hook, about_to_wait, __ATOMIC_RELEASE);
}

void vf_xport_about_to_wait(void)
{
	void (*fn)(void) = __atomic_load_n(&wait_hook, __ATOMIC_ACQUIRE);

	if (fn)
		fn();
}

int vf_xport_submit(struct vf_xport *x, struct vf_op *op)
{
	op->status = 0;
	op->errmsg[0] = '\0';
	switch (op->type) {
	case VF_OP_READ:
	case VF_OP_WRITE:
		if (!op->buf || op->len == 0 || op->len > VF_MAX_IO ||
		    op->off > UINT64_MAX - op->len)
			return -EINVAL;
		if ((op->flags & VF_OP_F_RAW) && !(x->ops->caps & VF_XPORT_CAP_RAW_ADDR))
			return -EOPNOTSUPP;
		break;
	case VF_OP_GIVE:
	case VF_OP_REVOKE:
		if (!op->token)
			return -EINVAL;
		break;
	case VF_OP_ACCEPT:
	case VF_OP_GRANT:
		if (!op->token)
			return -EINVAL;
		/* fall through */
	case VF_OP_ALLOC:
	case VF_OP_LIST:
		if (!op->descs && op->type != VF_OP_GRANT)
			return -EINVAL;
		/* fall through */
	case VF_OP_FREE:
		if (op->count == 0 || op->count > VF_MAX_SLABS_PER_MSG ||
		    ((op->type == VF_OP_FREE || op->type == VF_OP_GRANT) && !op->ids))
			return -EINVAL;
		break;
	case VF_OP_STATS:
		if (!op->stats)
			return -EINVAL;
		break;
	case VF_OP_BYE:
		break;
	default:
		return -EINVAL;
	}
	return x->ops->submit(x, op);
}

int vf_xport_wait(struct vf_xport *x, bool (*done)(void *arg), void *arg, uint64_t deadline_ns,
		  unsigned flags)
{
	if (!x->ops->wait)
		return done(arg) ? 0 : -EBUSY;
	return x->ops->wait(x, done, arg, deadline_ns, flags);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done; /* __atomic, and under lock for the condvar */
};

static void waiter_done(struct vf_op *op)
{
	struct waiter *w = op->priv;

	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static bool waiter_is_done(void *arg)
{
	struct waiter *w = arg;

	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

static int run(struct vf_xport *x, struct vf_op *op, unsigned timeout_ms,
	       void (*on_timeout)(void *arg), void *arg)
{
	struct waiter w = { .done = false };
	uint64_t gen;
	bool timed_out = false;
	struct timespec dl;
	int ret;

	pthread_mutex_init(&w.lock, NULL);
	vf_cond_init(&w.cond);
	op->done = waiter_done;
	op->priv = &w;
	op->flags |= VF_OP_F_WAIT;
	ret = vf_xport_submit(x, op);
	if (ret) {
		op->status = ret;
		goto out;
	}
	/* the connection op went out on: read after the submit, since a
	 * reconnection in between would have it on the next one (a submit
	 * succeeds only once the generation is that of the connection it
	 * queues on; a later one fails op first) */
	gen = __atomic_load_n(&x->conn_gen, __ATOMIC_ACQUIRE);
	dl = vf_deadline_ms(timeout_ms);
	/* The reply is received on this thread when nobody else receives;
	 * otherwise, or after a timeout, the condvar below. */
	if (vf_xport_wait(x, waiter_is_done, &w,
			  timeout_ms ? vf_now_ns() + timeout_ms * 1000000ull : 0,
			  0) == -ETIMEDOUT) {
		timed_out = true;
		if (on_timeout)
			on_timeout(arg);
		x->ops->abort(x, gen);
	}
	pthread_mutex_lock(&w.lock);
	while (!w.done) {
		if (timeout_ms && !timed_out &&
		    pthread_cond_timedwait(&w.cond, &w.lock, &dl) == ETIMEDOUT && !w.done) {
			timed_out = true;
			pthread_mutex_unlock(&w.lock);
			if (on_timeout)
				on_timeout(arg);
			/* the connection the op went out on, and only that one
			 * (on_timeout may have had it replaced already) */
			x->ops->abort(x, gen);
			pthread_mutex_lock(&w.lock);
		} else if (!timeout_ms || timed_out) {
			pthread_cond_wait(&w.cond, &w.lock);
		}
	}
	pthread_mutex_unlock(&w.lock);
	if (timed_out && op->status)
		op->status = -ETIMEDOUT;
out:
	op->flags &= ~(uint32_t)VF_OP_F_WAIT; /* done: the op is the caller's again */
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return op->status;
}

int vf_xport_run(struct vf_xport *x, struct vf_op *op)
{
	return run(x, op, 0, NULL, NULL);
}

int vf_xport_run_timeout(struct vf_xport *x, struct vf_op *op, unsigned timeout_ms)
{
	return run(x, op, timeout_ms ? timeout_ms : 1, NULL, NULL);
}

int vf_xport_run_timeout_cb(struct vf_xport *x, struct vf_op *op, unsigned timeout_ms,
			    void (*on_timeout)(void *arg), void *arg)
{
	return run(x, op, timeout_ms ? timeout_ms : 1, on_timeout, arg);
}

void vf_xport_abort(struct vf_xport *x)
{
	x->ops->abort(x, __atomic_load_n(&x->conn_gen, __ATOMIC_ACQUIRE));
}

void vf_xport_abort_gen(struct vf_xport *x, uint64_t gen)
{
	x->ops->abort(x, gen);
}

static int run_ctl(struct vf_xport *x, struct vf_op *op, const char *what)
{
	int ret = vf_xport_run(x, op);

	if (ret)
		vf_err("%s: %s failed: %s (%s)", x->url.str, what,
		       op->errmsg[0] ? op->errmsg : "no reason given", strerror(-ret));
	return ret;
}

int vf_xport_alloc(struct vf_xport *x, uint32_t count, struct vf_slab_desc *descs)
{
	struct vf_op op = { .type = VF_OP_ALLOC, .count = count, .descs = descs };
	char what[64];

	snprintf(what, sizeof(what), "allocation of %u slab%s", count, count == 1 ? "" : "s");
	return run_ctl(x, &op, what);
}

int vf_xport_free(struct vf_xport *x, uint32_t count, const uint32_t *ids)
{
	struct vf_op op = { .type = VF_OP_FREE, .count = count, .ids = ids };
	char what[64];

	snprintf(what, sizeof(what), "freeing %u slab%s", count, count == 1 ? "" : "s");
	return run_ctl(x, &op, what);
}

int vf_xport_stats(struct vf_xport *x, struct vf_stats *stats)
{
	struct vf_op op = { .type = VF_OP_STATS, .stats = stats };

	return run_ctl(x, &op, "stats request");
}

void vf_xport_set_on_lost(struct vf_xport *x, void (*cb)(void *arg), void *arg)
{
	x->on_lost_arg = arg;
	x->on_lost = cb;
}

void vf_xport_set_connect_log_level(struct vf_xport *x, int level)
{
	x->connect_log_level = level;
}

enum vf_msg_type vf_op_msg_type(enum vf_op_type type)
{
	switch (type) {
	case VF_OP_READ:
		return VF_MSG_READ;
	case VF_OP_WRITE:
		return VF_MSG_WRITE;
	case VF_OP_ALLOC:
		return VF_MSG_ALLOC;
	case VF_OP_FREE:
		return VF_MSG_FREE;
	case VF_OP_STATS:
		return VF_MSG_STATS;
	case VF_OP_LIST:
		return VF_MSG_LIST;
	case VF_OP_GRANT:
		return VF_MSG_GRANT;
	case VF_OP_ACCEPT:
		return VF_MSG_ACCEPT;
	case VF_OP_GIVE:
		return VF_MSG_GIVE;
	case VF_OP_REVOKE:
		return VF_MSG_REVOKE;
	case VF_OP_BYE:
		break;
	}
	return VF_MSG_BYE;
}

void vf_op_to_msg(const struct vf_op *op, struct vf_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = vf_op_msg_type(op->type);
	switch (op->type) {
	case VF_OP_READ:
	case VF_OP_WRITE:
		m->io.slab = op->slab;
		m->io.len = op->len;
		m->io.off = op->off;
		m->io.data = op->buf;
		break;
	case VF_OP_ALLOC:
		m->alloc.count = op->count;
		break;
	case VF_OP_FREE:
		m->free.count = op->count;
		m->free.ids = op->ids;
		break;
	case VF_OP_LIST:
		m->list.first = op->first;
		m->list.max = op->count;
		break;
	case VF_OP_GRANT:
		memcpy(m->grant.token, op->token, VF_GRANT_LEN);
		m->grant.ttl_ms = op->ttl_ms;
		m->grant.count = op->count;
		m->grant.ids = op->ids;
		break;
	case VF_OP_ACCEPT:
		memcpy(m->accept.token, op->token, VF_GRANT_LEN);
		m->accept.first = op->first;
		m->accept.max = op->count;
		break;
	case VF_OP_GIVE:
	case VF_OP_REVOKE:
		memcpy(m->give.token, op->token, VF_GRANT_LEN);
		break;
	case VF_OP_STATS:
	case VF_OP_BYE:
		break;
	}
}

int vf_op_from_reply(struct vf_op *op, const struct vf_msg *rep)
{
	switch (op->type) {
	case VF_OP_ALLOC:
		if (rep->alloc_rep.count != op->count)
			return -EBADMSG;
		for (uint32_t i = 0; i < op->count; i++)
			vf_msg_slab_desc(rep, i, &op->descs[i]);
		return 0;
	case VF_OP_GRANT:
		memcpy(op->token, rep->grant_rep.token, VF_GRANT_LEN);
		op->total = rep->grant_rep.total;
		return 0;
	case VF_OP_ACCEPT:
	case VF_OP_LIST:
		if (rep->list_rep.count > op->count)
			return -EBADMSG;
		for (uint32_t i = 0; i < rep->list_rep.count; i++)
			vf_msg_slab_desc(rep, i, &op->descs[i]);
		op->listed = rep->list_rep.count;
		op->total = rep->list_rep.total;
		return 0;
	case VF_OP_STATS:
		*op->stats = rep->stats_rep;
		return 0;
	case VF_OP_READ:
		/* transports place READ data straight into op->buf */
		return rep->read_rep.len == op->len ? 0 : -EBADMSG;
	default:
		return 0;
	}
}

int vf_xport_version_refused(struct vf_xport *x, const struct vf_hdr *h)
{
	vf_err("%s: the server speaks vofirm protocol version %u, this client version %d: "
	       "refused; run the same vofirm protocol on both sides",
	       x->url.str, h->version, VF_PROTO_VERSION);
	return -EPROTONOSUPPORT;
}

/* A failed handshake reply: log the server's words, return -status. */
static int refused(struct vf_xport *x, const struct vf_msg *rep, const char *what)
{
	int err = (int)rep->hdr.status;

	vf_err("%s: %s refused by the server: %s (%s)", x->url.str, what,
	       rep->error.msg[0] ? rep->error.msg : "no reason given", strerror(err));
	return -err;
}

/*
 * Is a LOGIN refusal the server's own word?  With a key, only when it
 * carries the server's MAC over the verdict, this connection's nonces and
 * HELLO: a man in the middle can neither forge one nor replay an old one.
 * Without a key nothing can be told apart, and the verdict is believed.
 */
static bool refusal_authentic(struct vf_xport *x, const struct vf_msg *rep,
			      const uint8_t cnonce[VF_NONCE_LEN],
			      const uint8_t snonce[VF_NONCE_LEN],
			      const uint8_t facts[VF_HELLO_FACTS_LEN],
			      const uint8_t token[VF_TOKEN_LEN])
{
	uint8_t mac[VF_MAC_LEN];

	if (!x->has_key)
		return true;
	vf_auth_refusal_mac(&x->key, cnonce, snonce, facts, token, rep->hdr.status, rep->error.msg,
			    mac);
	return vf_mac_equal(mac, rep->error.mac);
}

int vf_xport_handshake(struct vf_xport *x, vf_exchange_fn exchange)
{
	uint8_t cnonce[VF_NONCE_LEN], snonce[VF_NONCE_LEN], mac[VF_MAC_LEN];
	uint8_t facts[VF_HELLO_FACTS_LEN], token[VF_TOKEN_LEN];
	struct vf_server_info info;
	struct vf_msg req, rep;
	int ret;

	memset(&req, 0, sizeof(req));
	req.hdr.type = VF_MSG_HELLO;
	snprintf(req.hello.name, sizeof(req.hello.name), "%s", x->name);
	ret = exchange(x, &req, &rep);
	if (ret)
		return ret;
	if (rep.hdr.status) {
		/* before any nonce: nothing in it can be authenticated, so
		 * it never says that our session is gone (memd never does) */
		ret = refused(x, &rep, "HELLO");
		return ret == -ESTALE ? -EPROTO : ret;
	}

	/* Nothing of the HELLO reply is taken for true before the LOGIN
	 * reply's MAC, which covers it, is checked. */
	memset(&info, 0, sizeof(info));
	info.slab_size = rep.hello_rep.slab_size;
	info.capacity = rep.hello_rep.capacity;
	info.lease_ms = rep.hello_rep.lease_ms;
	info.auth = rep.hello_rep.flags & VF_HELLO_F_AUTH;
	memcpy(info.instance, rep.hello_rep.instance, VF_INSTANCE_LEN);
	memcpy(snonce, rep.hello_rep.nonce, VF_NONCE_LEN);
	vf_hello_facts(&rep, facts);

	if (info.auth && !x->has_key) {
		vf_err("%s: the server requires authentication, and no key was given "
		       "(--key-file)",
		       x->url.str);
		return -EACCES;
	}
	if (!info.auth && x->has_key) {
		vf_err("%s: the server does not authenticate clients (--no-auth) but a key "
		       "is configured: refusing to trust a server that cannot prove it "
		       "has the key",
		       x->url.str);
		return -EACCES;
	}

	memset(&req, 0, sizeof(req));
	req.hdr.type = VF_MSG_LOGIN;
	if (x->have_session)
		memcpy(req.login.token, x->token, VF_TOKEN_LEN);
	memcpy(token, req.login.token, VF_TOKEN_LEN);
	ret = vf_random(cnonce, sizeof(cnonce));
	if (ret)
		return ret;
	memcpy(req.login.nonce, cnonce, VF_NONCE_LEN);
	if (x->has_key)
		vf_auth_client_mac(&x->key, snonce, cnonce, req.login.token, x->name,
				   req.login.mac);
	ret = exchange(x, &req, &rep);
	if (ret)
		return ret;
	if (rep.hdr.status && !refusal_authentic(x, &rep, cnonce, snonce, facts, token)) {
		if (rep.hdr.status == EACCES) {
			vf_err("%s: authentication failed: the server refused our key (%s; "
			       "the refusal is not signed with our key either)",
			       x->url.str, rep.error.msg[0] ? rep.error.msg : "wrong key");
			return -EACCES;
		}
		/* someone between us and the server, or a server with another
		 * key: either way not the server's verdict on our session.
		 * Logged however quiet reconnects are: it may be an attack. */
		vf_warn("%s: LOGIN refused with %s (%s), but the refusal does not carry the "
			"server's MAC: not believed",
			x->url.str, strerror((int)rep.hdr.status),
			rep.error.msg[0] ? rep.error.msg : "no reason given");
		return -EPROTO;
	}
	if (rep.hdr.status == ESTALE) {
		bool restarted = !vf_all_zero(x->info.instance, sizeof(x->info.instance)) &&
				 memcmp(x->info.instance, info.instance, sizeof(info.instance));

		x->info = info;
		/* the user says what it means (a copy elsewhere, or data lost) */
		vf_warn("%s: our session is gone, and the slabs it held with it (%s)", x->url.str,
			restarted	   ? "the server restarted"
			: rep.error.msg[0] ? rep.error.msg
					   : "lease expired or server restarted");
		return -ESTALE;
	}
	if (rep.hdr.status == EACCES) {
		vf_err("%s: authentication failed: the server refused our key (%s)", x->url.str,
		       rep.error.msg[0] ? rep.error.msg : "wrong key");
		return -EACCES;
	}
	if (rep.hdr.status)
		return refused(x, &rep, "LOGIN");
	if (x->has_key) {
		vf_auth_server_mac(&x->key, cnonce, snonce, facts, rep.login_rep.flags,
				   rep.login_rep.nslabs, rep.login_rep.token, mac);
		if (!vf_mac_equal(mac, rep.login_rep.mac)) {
			vf_err("%s: authentication failed: the server could not prove it "
			       "knows the key: refusing it",
			       x->url.str);
			return -EACCES;
		}
	}
	if (x->have_session && !(rep.login_rep.flags & VF_LOGIN_F_RESUMED)) {
		vf_err("%s: protocol error: the server started a new session instead of "
		       "resuming ours",
		       x->url.str);
		return -EPROTO;
	}
	x->info = info;
	memcpy(x->token, rep.login_rep.token, VF_TOKEN_LEN);
	x->have_session = true;
	x->resumed = rep.login_rep.flags & VF_LOGIN_F_RESUMED;
	x->session_slabs = rep.login_rep.nslabs;
	vf_info("%s: %s session as '%s' (%u slab%s held)", x->url.str,
		x->resumed ? "resumed" : "started", x->name, x->session_slabs,
		x->session_slabs == 1 ? "" : "s");
	return 0;
}

int vf_xport_list_all(struct vf_xport *x, vf_exchange_fn exchange,
		      void (*add)(struct vf_xport *x, const struct vf_slab_desc *d))
{
	struct vf_msg req, rep;
	struct vf_slab_desc d;
	uint32_t first = 0;
	int ret;

	for (;;) {
		memset(&req, 0, sizeof(req));
		req.hdr.type = VF_MSG_LIST;
		req.list.first = first;
		req.list.max = VF_MAX_SLABS_PER_MSG;
		ret = exchange(x, &req, &rep);
		if (ret)
			return ret;
		if (rep.hdr.status) {
			vf_err("%s: listing the session's slabs failed: %s (%s)", x->url.str,
			       rep.error.msg, strerror((int)rep.hdr.status));
			return -(int)rep.hdr.status;
		}
		for (uint32_t i = 0; i < rep.list_rep.count; i++) {
			vf_msg_slab_desc(&rep, i, &d);
			add(x, &d);
		}
		first += rep.list_rep.count;
		if (rep.list_rep.count == 0 || first >= rep.list_rep.total)
			return 0;
	}
}
