// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * TCP transport (client side).
 *
 * Replies are matched to operations by tag.  A tag is (generation << 32 |
 * slot): a slot's generation changes each time it is reused, so a stray
 * reply can never complete the wrong operation.
 *
 * Sending: a submitter queues its request (the slot) and, unless another
 * thread is sending already, becomes the sender: under send_lock it
 * writes everything queued, in batches of up to SEND_BATCH requests per
 * sendmsg(), until the queue is empty.  Requests that arrive while a
 * batch is on its way are sent by the same thread in the next one: many
 * FUSE threads writing back pages make one system call, and one segment
 * for the server to receive, instead of one each and a queue on a lock.
 * Writes nobody waits on (VF_OP_F_BATCH: the write-back) go further: while
 * a request already sent is unanswered they are held in the queue, and
 * the reader sends them after the next reply with everything that queued
 * up meanwhile (rx_flush(), which says why that cannot block it): the
 * replies clock the sends, a system call and a wake-up of the server for
 * a batch of pages instead of for each.
 *
 * Receiving: replies are read ahead into rxbuf (up to RX_AHEAD bytes
 * beyond the one being read), so a burst of small replies costs one
 * recv(); READ data beyond what was read ahead is received straight into
 * the operation's buffer.
 *
 * Who reads the socket: one thread at a time holds the receive role
 * (`reading`).  A submitter that waits for its own operation (VF_OP_F_WAIT,
 * then vf_xport_wait()) takes the role itself when nobody holds it, and
 * reads replies (its own, and any other that comes first) until its
 * operation is done: one wake-up per round trip, the one the reply
 * causes, instead of waking a receiver thread that then wakes the
 * submitter.  When the role is free and operations are in flight that
 * nobody is on the way to receive (rx_unclaimed(): asynchronous ones, or
 * those of a waiter that timed out), the connection's receiver thread
 * takes it and
 * keeps it until nothing is in flight, and a little longer for the next
 * burst (rx_linger()); a waiter that comes while it only lingers takes
 * the role from it.  Other waiters are followers:
 * each sleeps until its own operation is done (the reader that completes
 * it wakes it) or the role is handed to it.  A thread that gives the role
 * up with operations still in flight hands it to a follower whose
 * operation is not done, or else wakes the receiver thread: there is
 * always a reader while anything is in flight (or a waiter on its way),
 * and a waiter is woken once, for its reply or for the role.
 *
 * A waiter held up between submit() and wait() (blocked on a full queue
 * of another connection, on a lock) leaves its reply in the socket until
 * it comes: nobody else waits for that reply, and a reply that somebody
 * does wait for is received by that somebody (a waiter that comes takes
 * the free role and receives whatever comes first) or by the receiver
 * thread (an asynchronous submit kicks it, and rx_unclaimed() holds).
 * Waking the receiver thread for every waited submit, to receive for a
 * waiter that might be late, would cost every round trip a wake-up.
 *
 * When the connection breaks, the reader that sees it marks it dead under
 * `lock` and fails every operation in flight with -ECONNRESET; submit()
 * checks `dead` under the same lock, so no operation is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/net.h"
#include "transport_i.h"

struct tcp_slot {
	struct vf_op *op; /* NULL when free */
	uint32_t gen;
	int next_free;
	int next_send; /* in the send queue: the next queued slot, or -1 */
	bool waited;   /* its submitter receives it (VF_OP_F_WAIT) */
	bool sent;     /* taken off the queue by a sender: a reply may come */
};

/* A request of a batch being sent: what send_batch() needs of its slot,
 * taken under t->lock (a forged early reply may free the slot meanwhile). */
struct tcp_sending {
	struct vf_op *op;
	uint32_t idx, gen;
};

#define SEND_BATCH 64u			      /* requests in one sendmsg() at most */
#define RX_CAP (VF_HDR_SIZE + VF_MAX_PAYLOAD) /* a whole non-READ reply fits */
#define RX_AHEAD 65536u			      /* read ahead this much at most */
#define RX_LINGER_US 500u /* the receiver thread keeps the role this long (rx_linger()) */
/* the largest head of any request (FREE, GRANT: a list of slabs) */
#define HEAD_MAX (VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE)
#define TXBUF_CAP (16384u + HEAD_MAX) /* the heads of a batch (payloads go from their buffers) */

/* A thread in tcp_wait() that does not hold the receive role. */
struct tcp_follower {
	pthread_cond_t cv;
	bool (*done)(void *arg);
	void *arg;
	bool promoted; /* the role is its: it was handed over */
	struct tcp_follower *next, *prev;
};

struct tcp_xport {
	struct vf_xport x;
	int fd;
	pthread_t rx;
	bool rx_running;
	bool closing; /* the end is expected (disconnect, BYE); __atomic */

	pthread_mutex_t lock; /* slots, free list, dead, reading, rx_stop */
	pthread_cond_t slot_cv;
	pthread_cond_t rx_cv; /* disconnect() waits here for the role */
	int rx_efd;	      /* wakes the receiver thread (rx_kick()) */
	bool rx_watch;	      /* it watches the idle socket for its end */
	int dead;	      /* 0, or the -errno that broke the connection */
	struct tcp_slot *slots;
	struct vf_op **failed; /* fail_all()'s list, preallocated */
	int free_head;
	unsigned inflight;
	unsigned waited;   /* of them, operations their submitter receives (VF_OP_F_WAIT) */
	bool reading;	   /* a thread holds the receive role */
	bool rx_lingering; /* the receiver thread holds it only to linger (rx_linger()) */
	bool waiter_left;  /* one timed out: its operation is nobody's to receive */
	/* replies received by the threads waiting for an operation, and by
	 * the receiver thread (the role's holder's only; logged at the end) */
	uint64_t rx_by_waiter, rx_by_thread;
	bool rx_stop; /* the receiver thread is to end */
	struct tcp_follower *followers;

	/* the send queue (under lock): slots whose request is not sent yet */
	int send_head, send_tail; /* -1: empty */
	unsigned nqueued;	  /* in it (inflight - nqueued: sent, or being sent) */
	unsigned big;		  /* operations in flight other than WRITEs (their replies */
	unsigned big_queued;	  /* may be large: rx_flush()), and those of them queued */
	bool sending;		  /* a thread is draining it (send_queued()) */

	pthread_mutex_t send_lock; /* the sender's: from the `dead` check to the end of a send */
	pthread_mutex_t fd_lock;   /* the fd's lifetime, for abort(): never held long */
	uint8_t *txbuf;		   /* TXBUF_CAP: request heads, the sender's only */
	uint8_t *rxbuf;		   /* RX_CAP; the receive role's, or the handshake's */
	size_t rx_pos, rx_have;	   /* rxbuf[rx_pos, rx_have): received, not consumed */
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
	pthread_cond_init(&t->rx_cv, NULL);
	t->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&t->send_lock, NULL);
	pthread_mutex_init(&t->fd_lock, NULL);
	t->send_head = t->send_tail = -1;
	t->rxbuf = malloc(RX_CAP);
	t->txbuf = malloc(TXBUF_CAP);
	if (!t->rxbuf || !t->txbuf || t->rx_efd < 0) {
		if (t->rx_efd >= 0)
			close(t->rx_efd);
		free(t->rxbuf);
		free(t->txbuf);
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
	pthread_cond_destroy(&t->rx_cv);
	close(t->rx_efd);
	pthread_mutex_destroy(&t->send_lock);
	pthread_mutex_destroy(&t->fd_lock);
	free(t->slots);
	free(t->failed);
	free(t->rxbuf);
	free(t->txbuf);
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

/* Makes the receiver thread look again at what it should do. */
static void rx_kick(struct tcp_xport *t)
{
	uint64_t one = 1;

	if (write(t->rx_efd, &one, sizeof(one)) < 0) {
		/* the counter is full: it is awake anyway */
	}
}

/* Wakes the followers whose operation is done (t->lock held). */
static void wake_done_followers(struct tcp_xport *t)
{
	for (struct tcp_follower *f = t->followers; f; f = f->next)
		if (f->done(f->arg))
			pthread_cond_signal(&f->cv);
}

/*
 * Fails every operation in flight; the connection is unusable after.
 * First the connection is marked dead and submitters waiting for a slot
 * are woken, then send_lock is taken so that no sender is still sending
 * from an op's buffer when that op is completed and its buffer handed
 * back (and a sender that takes it later sees `dead`).
 */
static void fail_all(struct tcp_xport *t, int err)
{
	struct vf_op **ops = t->failed;
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	if (!t->dead)
		t->dead = err;
	pthread_cond_broadcast(&t->slot_cv);
	pthread_cond_broadcast(&t->rx_cv);
	pthread_mutex_unlock(&t->lock);
	rx_kick(t);

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
	t->inflight = t->waited = 0;
	t->send_head = t->send_tail = -1;
	t->nqueued = t->big = t->big_queued = 0;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->send_lock);

	for (unsigned i = 0; i < n; i++) {
		ops[i]->status = err;
		ops[i]->done(ops[i]);
	}
	pthread_mutex_lock(&t->lock);
	wake_done_followers(t);
	pthread_mutex_unlock(&t->lock);
}

/*
 * recv() of at least one byte and at most len, with a deadline
 * (CLOCK_MONOTONIC ns; 0: none, block): a waiter must not block past its
 * own timeout in the middle of a message.  The count, -ECONNRESET at the
 * end of the stream, -ETIMEDOUT once the deadline passes, or -errno.
 */
static ssize_t recv_some(struct tcp_xport *t, void *buf, size_t len, uint64_t deadline_ns)
{
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, deadline_ns ? MSG_DONTWAIT : 0);
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		uint64_t now;

		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (!deadline_ns)
			return -ETIMEDOUT; /* SO_RCVTIMEO */
		now = vf_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline_ns - now + 999999) / 1000000)) < 0 &&
		    errno != EINTR)
			return -errno;
	}
}

/* Makes rxbuf hold `need` (<= RX_CAP) bytes not consumed yet, reading
 * up to RX_AHEAD more if they are there.  0 or -errno (recv_some()). */
static int rx_fill(struct tcp_xport *t, size_t need, uint64_t deadline_ns)
{
	if (t->rx_pos == t->rx_have) {
		t->rx_pos = t->rx_have = 0;
	} else if (RX_CAP - t->rx_pos < need) {
		memmove(t->rxbuf, t->rxbuf + t->rx_pos, t->rx_have - t->rx_pos);
		t->rx_have -= t->rx_pos;
		t->rx_pos = 0;
	}
	while (t->rx_have - t->rx_pos < need) {
		size_t want = need - (t->rx_have - t->rx_pos) + RX_AHEAD;
		ssize_t n;

		if (want > RX_CAP - t->rx_have)
			want = RX_CAP - t->rx_have;
		n = recv_some(t, t->rxbuf + t->rx_have, want, deadline_ns);
		if (n < 0)
			return (int)n;
		t->rx_have += (size_t)n;
	}
	return 0;
}

/* The next len bytes of the stream into buf: what was read ahead, then
 * the rest straight from the socket.  0 or -errno (recv_some()). */
static int rx_take(struct tcp_xport *t, void *buf, size_t len, uint64_t deadline_ns)
{
	size_t k = t->rx_have - t->rx_pos;
	char *p = buf;

	if (k > len)
		k = len;
	memcpy(p, t->rxbuf + t->rx_pos, k);
	t->rx_pos += k;
	p += k;
	len -= k;
	while (len) {
		ssize_t n = recv_some(t, p, len, deadline_ns);

		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A whole reply has been read ahead: rx_one() needs nothing from the
 * socket (and a waiter must not wait for the socket to say so). */
static bool rx_buffered(const struct tcp_xport *t)
{
	struct vf_hdr h;

	if (t->rx_have - t->rx_pos < VF_HDR_SIZE)
		return false;
	/* a head that does not decode: rx_one() says so without the socket */
	if (vf_hdr_decode(t->rxbuf + t->rx_pos, &h, NULL))
		return true;
	return t->rx_have - t->rx_pos - VF_HDR_SIZE >= h.len;
}

/*
 * Sending.  send_lock is held from the `dead` check to the end of each
 * send, so a request is never written to a socket that disconnect() has
 * closed (and whose number the kernel may have given to another socket),
 * and no operation is failed (fail_all()) while its buffer is being sent.
 * A queued operation cannot complete otherwise: its reply cannot come
 * before it is sent, and rx_one() takes one that does (a forged reply, its
 * tag guessed) for the protocol error it is.
 *
 * But it can complete, and its buffer go back to its owner, while the
 * sendmsg() that carried it is still sending the requests behind it: the
 * kernel has copied its bytes by then (it copies in order, and a partial
 * send leaves only later bytes to send), so that is safe.  Payloads are
 * therefore sent from the operations' own buffers, heads from txbuf, one
 * iovec each: write-back pages are not copied a second time on their way
 * to the socket (twice with two copies of an extent).  What must not
 * happen is a look at the buffers after the call, which is what a
 * sanitizer's sendmsg() check does: vf_writev_unchecked() checks them
 * before the call instead.
 */

#define SEND_IOV (2u * SEND_BATCH + 1) /* heads and payloads of one batch */

/* Takes the queue's first requests, up to SEND_BATCH (t->lock held);
 * with writes_only, it stops at the first that is not a WRITE.  From here
 * a reply to them is accepted (rx_one()): one to a request still queued
 * is a lie. */
static unsigned take_batch(struct tcp_xport *t, struct tcp_sending *batch, bool writes_only)
{
	unsigned n = 0;

	while (t->send_head >= 0 && n < SEND_BATCH) {
		struct tcp_slot *sl = &t->slots[t->send_head];

		if (sl->op->type != VF_OP_WRITE) {
			if (writes_only)
				break;
			t->big_queued--;
		}
		sl->sent = true;
		batch[n++] = (struct tcp_sending){ sl->op, (uint32_t)t->send_head, sl->gen };
		t->send_head = sl->next_send;
	}
	if (t->send_head < 0)
		t->send_tail = -1;
	t->nqueued -= n;
	return n;
}

/* Writes iov[0, niov) whole and counts the call (send_lock held). */
static int send_iov(struct tcp_xport *t, struct iovec *iov, unsigned niov)
{
	if (!niov)
		return 0;
	__atomic_add_fetch(&t->x.tx_calls, 1, __ATOMIC_RELAXED);
	return vf_writev_unchecked(t->fd, iov, (int)niov, vf_xport_about_to_wait);
}

/* Writes the requests of batch (send_lock held).  0 or -errno. */
static int send_batch(struct tcp_xport *t, const struct tcp_sending *batch, unsigned n)
{
	struct iovec iov[SEND_IOV];
	unsigned niov = 0;
	size_t used = 0, head0 = 0; /* txbuf[head0, used): heads not in iov yet */
	int ret = 0;

	for (unsigned i = 0; i < n && !ret; i++) {
		struct vf_msg m;
		size_t bulk;
		long len;

		vf_op_to_msg(batch[i].op, &m);
		m.hdr.tag = (uint64_t)batch[i].gen << 32 | batch[i].idx;
		len = vf_msg_encode_head(&m, t->txbuf + used, TXBUF_CAP - used, &bulk);
		if (len == -ENOSPC && used) {
			/* txbuf is full of heads (long ones: FREE, GRANT): send
			 * what is ready, then this */
			if (used > head0)
				iov[niov++] = (struct iovec){ t->txbuf + head0, used - head0 };
			ret = send_iov(t, iov, niov);
			niov = 0;
			used = head0 = 0;
			if (ret)
				break;
			len = vf_msg_encode_head(&m, t->txbuf, TXBUF_CAP, &bulk);
		}
		if (len < 0) {
			/* no request this client makes is refused here */
			vf_err("%s: cannot encode a %s request: %s", t->x.url.str,
			       vf_msg_type_name(m.hdr.type), strerror((int)-len));
			ret = (int)len;
			break;
		}
		used += (size_t)len;
		if (bulk) {
			/* the head, then the payload from its own buffer */
			iov[niov++] = (struct iovec){ t->txbuf + head0, used - head0 };
			iov[niov++] = (struct iovec){ (void *)m.io.data, bulk };
			head0 = used;
		}
	}
	if (!ret && used > head0)
		iov[niov++] = (struct iovec){ t->txbuf + head0, used - head0 };
	if (!ret)
		ret = send_iov(t, iov, niov);
	if (!ret)
		__atomic_add_fetch(&t->x.tx_requests, n, __ATOMIC_RELAXED);
	return ret;
}

/* A send failed (send_lock held): the reader sees the shutdown and fails
 * every operation in flight, those still queued included. */
static void send_failed(struct tcp_xport *t, int ret)
{
	if (!__atomic_load_n(&t->closing, __ATOMIC_RELAXED))
		vf_warn("%s: send failed: %s", t->x.url.str, strerror(-ret));
	shutdown(t->fd, SHUT_RDWR);
	pthread_mutex_lock(&t->lock);
	t->send_head = t->send_tail = -1;
	t->nqueued = t->big_queued = 0;
	t->sending = false;
	pthread_mutex_unlock(&t->lock);
}

/* Sends what is queued, batch after batch, until the queue is empty (the
 * caller set t->sending). */
static void send_queued(struct tcp_xport *t)
{
	struct tcp_sending batch[SEND_BATCH];

	if (pthread_mutex_trylock(&t->send_lock)) {
		vf_xport_about_to_wait(); /* the last sender is still in its call */
		pthread_mutex_lock(&t->send_lock);
	}
	for (;;) {
		unsigned n;
		int ret;

		pthread_mutex_lock(&t->lock);
		if (t->dead || t->send_head < 0) {
			/* dead: fail_all() fails what is queued, with the rest */
			t->sending = false;
			pthread_mutex_unlock(&t->lock);
			break;
		}
		n = take_batch(t, batch, false);
		pthread_mutex_unlock(&t->lock);
		ret = send_batch(t, batch, n);
		if (ret) {
			send_failed(t, ret);
			break;
		}
	}
	pthread_mutex_unlock(&t->send_lock);
}

/*
 * The reader sends the writes held back for a reply (VF_OP_F_BATCH), from
 * rx_one().  It must never block on the socket for long: while it sends,
 * nobody reads, and a server blocked writing replies into a full socket
 * reads no more requests, so a full send would wait for ever.  So it
 * sends only when every request the server has (or is being sent) is a
 * WRITE, whose reply is a header: all of those replies fit in the socket
 * whatever this thread does, and the server keeps reading.  It sends one
 * batch of WRITEs, and never waits for a sender: one that is sending
 * sends the queue.  Anything else queued has a sender of its own (its
 * submitter became one: only held writes wait in the queue with nobody
 * sending).  And it must not leave held writes behind when nothing else
 * is in flight: no reply would come to send them.  So when send_lock is
 * taken by someone who is not sending (a sender past its last look at
 * the queue, fail_all(), disconnect(): each lets go at once), it waits.
 */
static void rx_flush(struct tcp_xport *t)
{
	struct tcp_sending batch[SEND_BATCH];
	unsigned n = 0;
	int ret;

	while (pthread_mutex_trylock(&t->send_lock)) {
		bool sender;

		pthread_mutex_lock(&t->lock);
		sender = t->sending;
		pthread_mutex_unlock(&t->lock);
		if (sender)
			return; /* it sends until the queue is empty */
		/* a sender past its last look at the queue, or fail_all(),
		 * or disconnect(): each lets go at once */
		sched_yield();
	}
	pthread_mutex_lock(&t->lock);
	if (!t->dead && t->big == t->big_queued)
		n = take_batch(t, batch, true);
	pthread_mutex_unlock(&t->lock);
	ret = n ? send_batch(t, batch, n) : 0;
	if (ret)
		send_failed(t, ret);
	pthread_mutex_unlock(&t->send_lock);
}

/*
 * Reads one reply and completes its operation (the caller holds the
 * receive role); a waiter passes its deadline (0: none).  0, or -errno when the connection is to be dropped;
 * *why says what was wrong with a reply that was not acceptable
 * (-EPROTO).
 */
static int rx_one(struct tcp_xport *t, const char **why, uint64_t deadline_ns)
{
	struct vf_msg rep;
	struct vf_hdr h;
	struct vf_op *op;
	uint8_t *body;
	uint32_t idx;
	bool flush;
	int ret;

	ret = rx_fill(t, VF_HDR_SIZE, deadline_ns);
	if (ret)
		return ret;
	ret = vf_hdr_decode(t->rxbuf + t->rx_pos, &h, why);
	if (ret)
		return -EPROTO;
	t->rx_pos += VF_HDR_SIZE;
	idx = (uint32_t)h.tag;
	op = NULL;
	pthread_mutex_lock(&t->lock);
	if (idx < t->x.queue_depth && t->slots[idx].op &&
	    t->slots[idx].gen == (uint32_t)(h.tag >> 32)) {
		op = t->slots[idx].op;
		if (!t->slots[idx].sent) {
			/* still in the send queue: the server cannot have it */
			pthread_mutex_unlock(&t->lock);
			*why = "reply to a request not sent yet";
			return -EPROTO;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!op) {
		*why = "reply to no operation in flight";
		return -EPROTO;
	}
	if (!(h.flags & VF_HDR_F_REPLY)) {
		*why = "request where a reply was expected";
		return -EPROTO;
	}

	if (h.type == VF_MSG_READ && op->type == VF_OP_READ && !h.status) {
		if (h.len != op->len) {
			*why = "READ reply of the wrong length";
			return -EPROTO;
		}
		ret = rx_take(t, op->buf, h.len, deadline_ns);
		if (ret)
			return ret;
		op->status = 0;
	} else {
		if (h.len > RX_CAP - VF_HDR_SIZE) {
			*why = "reply longer than any this client asks for";
			return -EPROTO;
		}
		ret = rx_fill(t, h.len, deadline_ns);
		if (ret)
			return ret;
		body = t->rxbuf + t->rx_pos;
		t->rx_pos += h.len;
		ret = vf_msg_decode_body(&h, body, h.len, &rep, why);
		if (ret)
			return -EPROTO;
		if (h.type != vf_op_msg_type(op->type)) {
			*why = "reply type differs from the request";
			return -EPROTO;
		}
		if (h.status) {
			op->status = -(int)h.status;
			memcpy(op->errmsg, rep.error.msg, sizeof(op->errmsg));
		} else {
			op->status = vf_op_from_reply(op, &rep);
			if (op->status) {
				*why = "reply does not fit the request";
				return -EPROTO;
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
	if (t->slots[idx].waited)
		t->waited--;
	if (op->type != VF_OP_WRITE)
		t->big--;
	pthread_cond_signal(&t->slot_cv);
	pthread_mutex_unlock(&t->lock);
	op->done(op);
	pthread_mutex_lock(&t->lock);
	if (t->followers)
		wake_done_followers(t);
	/* writes held back for a reply (VF_OP_F_BATCH) go now, unless
	 * another reply is here already: they go after it, with more */
	flush = t->send_head >= 0 && !t->sending && !rx_buffered(t);
	pthread_mutex_unlock(&t->lock);
	if (flush)
		rx_flush(t);
	return 0;
}

/* The reader saw the connection fail (ret from rx_one): says why, drops
 * it, and fails everything in flight.  Called holding the receive role. */
static void rx_failed(struct tcp_xport *t, int ret, const char *why)
{
	if (ret == -EPROTO) {
		vf_err("%s: protocol error, dropping the connection: %s", t->x.url.str, why);
		shutdown(t->fd, SHUT_RDWR);
		fail_all(t, -EPROTO);
		return;
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
}

/* Gives the receive role up (t->lock held): with operations still in
 * flight, to a follower whose operation is not done, or else to the
 * receiver thread; disconnect() may be waiting. */
static void rx_release(struct tcp_xport *t)
{
	t->reading = false;
	if (t->inflight && !t->dead) {
		for (struct tcp_follower *f = t->followers; f; f = f->next) {
			if (!f->done(f->arg)) {
				f->promoted = true;
				t->reading = true; /* the follower's from here */
				pthread_cond_signal(&f->cv);
				return;
			}
		}
	}
	if (t->inflight || t->dead || t->rx_stop ||
	    __atomic_load_n(&t->closing, __ATOMIC_RELAXED)) {
		pthread_cond_broadcast(&t->rx_cv);
		rx_kick(t); /* it takes what is in flight, or ends */
	} else if (!t->rx_watch) {
		rx_kick(t); /* it watches the idle connection again */
	}
}

/*
 * Operations are in flight that nobody is on the way to receive (t->lock
 * held): not all of them have a submitter that waits (VF_OP_F_WAIT, then
 * wait()), or one such stopped waiting (timed out).  Those are the
 * receiver thread's to receive when the role is free.
 */
static bool rx_unclaimed(const struct tcp_xport *t)
{
	return t->inflight > t->waited || (t->inflight && t->waiter_left);
}

/*
 * The receiver thread has received every reply in flight (t->lock held,
 * and held again on return).  Asynchronous submitters (write-back) come
 * in bursts, and while nobody holds the receive role each of them must
 * kick this thread awake: a system call and a wake-up per request, more
 * than the request costs.  So it keeps the role a little longer
 * (RX_LINGER_US), watching the socket: submitters see a reader and do not
 * kick, and their replies find it waiting.  True when operations came in
 * flight meanwhile (receive on).  A waiter that comes meanwhile takes the
 * role over (tcp_wait()): it would otherwise follow, and each of its round
 * trips would cost two wake-ups (this thread's for the reply, then its
 * own) instead of one, for as long as its requests keep this thread
 * lingering.  Then *lost is set, and the role is no longer this thread's
 * to give up.
 *
 * When every operation in flight is one whose submitter receives it
 * (VF_OP_F_WAIT), this thread gives the role up, even with a reply
 * waiting: that submitter sent the request and is on its way to wait(),
 * where it takes the free role.  It is late only when the server's
 * thread, woken by its request, took its vCPU; receiving its reply here
 * would make it follow, woken a second time, and the same again at every
 * round trip for as long as the scheduler keeps the three threads so.
 */
static bool rx_linger(struct tcp_xport *t, bool *lost)
{
	struct pollfd p[2] = { { .fd = t->fd, .events = POLLIN },
			       { .fd = t->rx_efd, .events = POLLIN } };
	struct timespec ts = { 0, RX_LINGER_US * 1000 };
	uint64_t n;
	int r;

	if (__atomic_load_n(&t->closing, __ATOMIC_RELAXED))
		return false;
	t->rx_lingering = true;
	pthread_mutex_unlock(&t->lock);
	r = ppoll(p, 2, &ts, NULL);
	if (r > 0 && p[1].revents && read(t->rx_efd, &n, sizeof(n)) < 0) {
		/* non-blocking: someone else drained it */
	}
	pthread_mutex_lock(&t->lock);
	if (!t->rx_lingering) {
		*lost = true; /* a waiter took the role over, and kicked */
		return false;
	}
	t->rx_lingering = false;
	/* nothing in flight but the socket readable: its end, or a reply
	 * to nothing; the idle watch below sees either */
	return rx_unclaimed(t) && !t->dead;
}

/*
 * The receiver thread: takes the role when it is free and operations are
 * in flight, and keeps it until none is left.  It ends with the
 * connection.  Submitters of VF_OP_F_WAIT operations do not wake it: they
 * receive for themselves.
 */
static void *tcp_rx_thread(void *arg)
{
	struct tcp_xport *t = arg;
	const char *why = "";
	int ret;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (t->rx_stop || t->dead)
			break;
		if (!t->reading && rx_unclaimed(t)) {
			bool failed = false, lost = false;

			t->reading = true;
			do {
				while (t->inflight && !t->dead) {
					pthread_mutex_unlock(&t->lock);
					ret = rx_one(t, &why, 0);
					if (ret) {
						rx_failed(t, ret, why);
						pthread_mutex_lock(&t->lock);
						failed = true;
						break;
					}
					t->rx_by_thread++;
					pthread_mutex_lock(&t->lock);
				}
			} while (!failed && !t->dead && !t->rx_stop && rx_linger(t, &lost));
			if (!lost)
				rx_release(t);
			continue;
		}
		/*
		 * Nothing to receive for anyone.  While nobody reads, watch the
		 * connection for its end (POLLRDHUP: not for data, which a
		 * waiter reads itself), so that a server that goes away is
		 * noticed at once, not at the next request.
		 *
		 * Operations in flight with the role free are those of
		 * submitters on their way to wait(), which receive for
		 * themselves (rx_unclaimed(); see the top of the file).
		 */
		{
			bool idle = !t->reading;
			struct pollfd p[2] = { { .fd = t->rx_efd, .events = POLLIN },
					       { .fd = t->fd, .events = POLLRDHUP } };
			uint64_t n;

			t->rx_watch = idle;
			pthread_mutex_unlock(&t->lock);
			while (poll(p, idle ? 2 : 1, -1) < 0 && errno == EINTR)
				;
			if (p[0].revents && read(t->rx_efd, &n, sizeof(n)) < 0) {
				/* non-blocking: someone else drained it */
			}
			pthread_mutex_lock(&t->lock);
			t->rx_watch = false;
			if (idle && p[1].revents && !t->reading && !t->dead && !t->rx_stop) {
				/* the end (or a reply to nothing, a protocol error) */
				t->reading = true;
				pthread_mutex_unlock(&t->lock);
				ret = rx_one(t, &why, 0);
				if (ret)
					rx_failed(t, ret, why);
				pthread_mutex_lock(&t->lock);
				rx_release(t);
			}
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/*
 * Waits as a follower (t->lock held) until done(arg), the deadline
 * (-ETIMEDOUT), or the role is handed to this thread (1).
 */
static int follow(struct tcp_xport *t, bool (*done)(void *arg), void *arg, uint64_t deadline_ns)
{
	struct tcp_follower f = { .done = done, .arg = arg };
	int ret = 0;

	vf_cond_init(&f.cv);
	f.next = t->followers;
	if (f.next)
		f.next->prev = &f;
	t->followers = &f;
	while (!f.promoted && !done(arg)) {
		if (deadline_ns) {
			uint64_t now = vf_now_ns();
			uint64_t ms =
				deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 0;
			struct timespec dl = vf_deadline_ms(ms);

			if (!ms || (pthread_cond_timedwait(&f.cv, &t->lock, &dl) == ETIMEDOUT &&
				    !f.promoted && !done(arg))) {
				ret = -ETIMEDOUT;
				break;
			}
		} else {
			pthread_cond_wait(&f.cv, &t->lock);
		}
	}
	if (f.prev)
		f.prev->next = f.next;
	else
		t->followers = f.next;
	if (f.next)
		f.next->prev = f.prev;
	pthread_cond_destroy(&f.cv);
	if (f.promoted) {
		if (!done(arg))
			return 1;
		/* done as well: the role goes on to someone else */
		rx_release(t);
	}
	return ret;
}

/* See vf_xport_ops.wait. */
static int tcp_wait(struct vf_xport *x, bool (*done)(void *arg), void *arg, uint64_t deadline_ns,
		    unsigned flags)
{
	struct tcp_xport *t = to_tcp(x);
	const char *why = "";
	int ret = 0;

	if (done(arg))
		return 0;
	pthread_mutex_lock(&t->lock);
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		return -EBUSY; /* failed by now, or about to be */
	}
	if (t->reading && t->rx_lingering) {
		/* the receiver thread only lingers: the role is this thread's,
		 * and the kick sends the receiver back to its watch */
		t->rx_lingering = false;
		rx_kick(t);
	} else if (t->reading) {
		ret = follow(t, done, arg, deadline_ns);
		if (ret <= 0) {
			if (ret == -ETIMEDOUT)
				t->waiter_left = true;
			pthread_mutex_unlock(&t->lock);
			return ret;
		}
		ret = 0; /* promoted: the role is this thread's */
	}
	t->reading = true;
	pthread_mutex_unlock(&t->lock);

	while (!done(arg)) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		int ms = -1, n;

		if (deadline_ns) {
			uint64_t now = vf_now_ns();

			if (now >= deadline_ns) {
				ret = -ETIMEDOUT;
				break;
			}
			ms = (int)((deadline_ns - now + 999999) / 1000000);
		}
		n = rx_buffered(t); /* then the socket has nothing to say */
		if (!n && x->busy_poll_us && !(flags & VF_WAIT_NO_POLL)) {
			uint64_t until = vf_now_ns() + x->busy_poll_us * 1000ull;

			do
				n = poll(&pfd, 1, 0);
			while (n == 0 && vf_now_ns() < until);
		}
		if (n == 0)
			n = poll(&pfd, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			continue; /* the deadline is checked above */
		ret = n < 0 ? -errno : rx_one(t, &why, deadline_ns);
		if (!ret)
			t->rx_by_waiter++;
		if (ret == -ETIMEDOUT) {
			/* The deadline passed in the middle of a reply: the stream
			 * cannot be read on, so the connection goes, quietly (the
			 * caller reports the timeout, then aborts). */
			__atomic_store_n(&t->closing, true, __ATOMIC_RELAXED);
			shutdown(t->fd, SHUT_RDWR);
			fail_all(t, -ECONNRESET);
			break;
		}
		if (ret) {
			rx_failed(t, ret, why);
			ret = 0; /* every operation in flight is completed */
			break;
		}
	}
	pthread_mutex_lock(&t->lock);
	if (ret == -ETIMEDOUT)
		t->waiter_left = true;
	rx_release(t);
	pthread_mutex_unlock(&t->lock);
	return ret;
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
	t->inflight = t->waited = 0;
	t->send_head = t->send_tail = -1;
	t->sending = false;
	t->rx_pos = t->rx_have = 0; /* the handshake read no more than it used */
	t->reading = false;
	t->rx_lingering = t->waiter_left = false;
	t->rx_by_waiter = t->rx_by_thread = 0;
	t->rx_stop = false;
	t->rx_watch = false;
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
	/* A reader sees the shutdown, fails what is in flight and gives the
	 * role up; with nobody reading, the connection is failed here. */
	pthread_mutex_lock(&t->lock);
	while (t->reading)
		pthread_cond_wait(&t->rx_cv, &t->lock);
	t->reading = true; /* nobody reads from here */
	pthread_mutex_unlock(&t->lock);
	fail_all(t, -ECONNRESET);
	pthread_mutex_lock(&t->lock);
	t->rx_stop = true;
	t->reading = false;
	pthread_cond_broadcast(&t->rx_cv);
	pthread_mutex_unlock(&t->lock);
	rx_kick(t);
	if (t->rx_running) {
		pthread_join(t->rx, NULL);
		t->rx_running = false;
		vf_debug("%s: %" PRIu64 " replies received by the threads waiting for them, "
			 "%" PRIu64 " by the receiver thread",
			 x->url.str, t->rx_by_waiter, t->rx_by_thread);
	}
	/* dead is set: no submitter gets past its check any more */
	pthread_mutex_lock(&t->send_lock);
	pthread_mutex_lock(&t->fd_lock);
	close(t->fd);
	t->fd = -1;
	pthread_mutex_unlock(&t->fd_lock);
	pthread_mutex_unlock(&t->send_lock);
}

static int tcp_submit(struct vf_xport *x, struct vf_op *op)
{
	struct tcp_xport *t = to_tcp(x);
	bool send, hold;
	int idx;

	pthread_mutex_lock(&t->lock);
	if (!t->dead && t->free_head < 0)
		vf_xport_about_to_wait();
	while (!t->dead && t->free_head < 0)
		pthread_cond_wait(&t->slot_cv, &t->lock);
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		return -ENOTCONN;
	}
	idx = t->free_head;
	t->free_head = t->slots[idx].next_free;
	t->slots[idx].gen++;
	t->slots[idx].op = op;
	t->slots[idx].next_send = -1;
	t->slots[idx].sent = false;
	t->slots[idx].waited = op->flags & VF_OP_F_WAIT;
	t->waited += t->slots[idx].waited;
	if (t->send_tail >= 0)
		t->slots[t->send_tail].next_send = idx;
	else
		t->send_head = idx;
	t->send_tail = idx;
	/* held back (VF_OP_F_BATCH): a request already sent is unanswered,
	 * so a reader is waiting for its reply and sends this after it
	 * (rx_one()), with what queues up meanwhile */
	hold = (op->flags & VF_OP_F_BATCH) && op->type == VF_OP_WRITE && t->reading &&
	       t->inflight > t->nqueued;
	t->nqueued++;
	t->inflight++;
	if (op->type != VF_OP_WRITE) {
		t->big++;
		t->big_queued++;
	}
	if (!(op->flags & VF_OP_F_WAIT) && !t->reading)
		rx_kick(t);
	send = !hold && !t->sending;
	if (send)
		t->sending = true;
	pthread_mutex_unlock(&t->lock);

	/* From here the receiver owns op: it may complete it as soon as the
	 * server has the whole request, even before this returns.  Unless
	 * this thread is the sender, another sends it in its next batch. */
	if (send)
		send_queued(t);
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
	.wait = tcp_wait,
	.abort = tcp_abort,
};
