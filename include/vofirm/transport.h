/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport interface: a connection from a client (vofirm-fs, tools)
 * to one vofirm-memd, chosen by URL scheme.  Every operation is
 * asynchronous: the caller fills a struct vf_op, submits it, and its
 * done() callback runs once with op->status set; many operations may be
 * in flight on one connection (opts.queue_depth).  vf_xport_run() waits
 * for one operation.
 *
 * A connection belongs to a session at the server.  The session (and the
 * slabs granted to it) outlives a dropped connection for the server's
 * lease: vf_xport_reconnect() resumes it, as does vf_xport_open() with
 * opts.resume_token from another process.  vf_xport_close() ends the
 * session and frees its slabs unless told to keep them.
 *
 * A transport that is asked for and cannot run fails with a message that
 * says so; there is never a silent fall-back to another transport.
 */
#ifndef VOFIRM_TRANSPORT_H
#define VOFIRM_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "vofirm/auth.h"
#include "vofirm/proto.h"
#include "vofirm/util.h"

enum vf_op_type {
	VF_OP_READ = 1, /* len bytes at off of slab into buf */
	VF_OP_WRITE,	/* len bytes from buf to off of slab */
	VF_OP_ALLOC,	/* count slabs into descs[count], all or nothing */
	VF_OP_FREE,	/* ids[count] back to the pool, all or nothing */
	VF_OP_STATS,	/* counters into *stats */
	VF_OP_BYE,	/* end the session (used by vf_xport_close) */
	VF_OP_LIST,	/* up to count of the session's slabs from first, into descs */
	VF_OP_GRANT,	/* ids[count] into the grant *token (zero: new); total out */
	VF_OP_ACCEPT,	/* redeem *token: up to count of its slabs from first, into descs */
	VF_OP_GIVE,	/* hand the accepted grant *token over to its grantee */
	VF_OP_REVOKE,	/* end the grant *token */
};

struct vf_op {
	enum vf_op_type type;
	uint32_t slab;		    /* READ, WRITE */
	uint32_t len;		    /* READ, WRITE: 1..VF_MAX_IO */
	uint64_t off;		    /* READ, WRITE */
	void *buf;		    /* READ, WRITE */
	uint32_t count;		    /* ALLOC, FREE, LIST: 1..VF_MAX_SLABS_PER_MSG */
	struct vf_slab_desc *descs; /* ALLOC, LIST: filled on success */
	uint32_t first;		    /* LIST: index in the session's slabs, by id */
	uint32_t listed;	    /* LIST: entries filled */
	uint32_t total;		    /* LIST: slabs the session holds; GRANT, ACCEPT: in the grant */
	const uint32_t *ids;	    /* FREE, GRANT */
	uint8_t *token;		    /* GRANT (in/out), ACCEPT, GIVE, REVOKE: VF_GRANT_LEN bytes */
	uint32_t ttl_ms;	    /* GRANT */
	struct vf_stats *stats;	    /* STATS: filled on success */
	/* For tests of isolation (RDMA only): with VF_OP_F_RAW a READ or
	 * WRITE goes to raw_addr with raw_rkey instead of the slab's own. */
	uint32_t flags;
	uint32_t raw_rkey;
	uint64_t raw_addr;

	/* Called once when the operation ends: from a transport thread, or
	 * from a thread in vf_xport_wait() (which may complete others'
	 * operations as well as its own), so it must not take locks a
	 * waiting submitter may hold.  The transport does not touch the op
	 * after calling it. */
	void (*done)(struct vf_op *op);
	void *priv;

	int status;			/* 0 or -errno */
	char errmsg[VF_ERRMSG_MAX + 1]; /* the server's reason, or "" */
};

#define VF_OP_F_RAW 0x1
/* The submitter waits for this operation with vf_xport_wait() right
 * after submitting it (vf_xport_run() sets it): the transport may leave
 * its completion to that thread instead of waking one of its own. */
#define VF_OP_F_WAIT 0x2
/* Nobody waits on this operation's latency (write-back): while others
 * sent on the same connection are unanswered, the transport may hold it
 * back until the next reply comes and send it with whatever queued up
 * meanwhile, one system call (and one wake-up of the server) for many.
 * It is still sent within one round trip. */
#define VF_OP_F_BATCH 0x4

struct vf_xport_opts {
	const char *name;	     /* shown in server logs; default "vofirm@HOST" */
	const struct vf_key *key;    /* NULL: the server must run --no-auth */
	const uint8_t *resume_token; /* VF_TOKEN_LEN bytes: resume that session */
	unsigned connect_timeout_ms; /* default 5000 */
	unsigned queue_depth;	     /* operations in flight; default 64 */
	/* A thread waiting for its reply (vf_xport_run(), vf_xport_wait())
	 * polls the connection this long before it sleeps: on a fast link
	 * the reply comes before a sleep and a wake-up would end.  0: none. */
	unsigned busy_poll_us;
};

/* What the server said about itself in HELLO. */
struct vf_server_info {
	uint64_t slab_size;
	uint64_t capacity;
	uint64_t lease_ms;		   /* the server keeps a lost session this long */
	uint8_t instance[VF_INSTANCE_LEN]; /* changes when memd restarts */
	bool auth;
};

struct vf_xport;
struct vf_xport_ops; /* the provider's; see src/transport/transport_i.h */

/* Common part of every transport's connection; transports embed it.
 * Callers read info and the session fields; the rest is the transport's. */
struct vf_xport {
	const struct vf_xport_ops *ops;
	struct vf_url url;
	char name[VF_NAME_MAX + 1];
	struct vf_key key;
	bool has_key;
	unsigned connect_timeout_ms;
	unsigned queue_depth;
	unsigned busy_poll_us;
	int connect_log_level; /* vf_xport_set_connect_log_level() */

	struct vf_server_info info;
	uint64_t conn_gen; /* +1 per connection (__atomic): aborts name theirs */
	uint8_t token[VF_TOKEN_LEN];
	bool have_session;
	bool resumed;		/* the last login resumed the session */
	uint32_t session_slabs; /* slabs the session held at the last login */
	/* vf_xport_set_on_lost() */
	void (*on_lost)(void *arg);
	void *on_lost_arg;
	/* requests sent (READ, WRITE and the rest, not the handshake), and
	 * the calls that sent them: a sendmsg() carries a batch on TCP, an
	 * RDMA work request one request (__atomic) */
	uint64_t tx_requests, tx_calls;
};

/* Parses url, picks its transport, connects and logs in.  Logs why not. */
int vf_xport_open(const char *url, const struct vf_xport_opts *opts, struct vf_xport **out);
/* The same without connecting: vf_xport_reconnect() connects (and, with
 * opts.resume_token, resumes that session).  For a client that carries on
 * from another process's state and must not wait for a server now. */
int vf_xport_new(const char *url, const struct vf_xport_opts *opts, struct vf_xport **out);

/* Drops and re-opens the connection, resuming the session. */
int vf_xport_reconnect(struct vf_xport *x);

/* Forgets the session (one the server said is gone): the next
 * vf_xport_reconnect() starts a new one. */
void vf_xport_forget_session(struct vf_xport *x);

/* Drops the connection; the session lives on for the server's lease. */
void vf_xport_disconnect(struct vf_xport *x);

#define VF_CLOSE_KEEP_SESSION 0x1

/* Ends the session (freeing its slabs) and the connection, and frees x.
 * With VF_CLOSE_KEEP_SESSION the session is left to its lease. */
void vf_xport_close(struct vf_xport *x, unsigned flags);

int vf_xport_submit(struct vf_xport *x, struct vf_op *op);

/*
 * A function every transport calls on the submitting thread just before
 * that thread may wait in vf_xport_submit() (no free slot, another thread
 * sending, a full socket send buffer): vofirm-fs's FUSE loop hands the
 * calling thread's place among the readers of /dev/fuse on
 * (loop_may_block()).  Process-wide, set once before any connection;
 * NULL (the default): nothing.  It must not block, nor take a lock a
 * transport may hold.
 */
void vf_xport_set_wait_hook(void (*about_to_wait)(void));

/* Submits op and waits for it; returns op->status. */
int vf_xport_run(struct vf_xport *x, struct vf_op *op);

/*
 * For a submitter that waits for its own operations (submitted with
 * VF_OP_F_WAIT): receives and completes operations of x on the calling
 * thread until done(arg) is true, as long as no other thread receives on
 * the connection; that saves a thread hop per round trip.  0 once
 * done(arg) is true; -EBUSY when another thread receives (wait for the
 * done() callbacks as usual); -ETIMEDOUT at deadline_ns (CLOCK_MONOTONIC,
 * 0 for none) with the operations still in flight.  A broken connection
 * completes every operation in flight (0 is returned once done(arg)).
 */
int vf_xport_wait(struct vf_xport *x, bool (*done)(void *arg), void *arg, uint64_t deadline_ns,
		  unsigned flags);
/* vf_xport_wait() flags: sleep at once, without busy_poll_us (a wait
 * that nobody is blocked on, such as the write-back of dirty pages, is
 * not worth a CPU that others may need). */
#define VF_WAIT_NO_POLL 0x1

/*
 * The same with a limit: when op has not completed within timeout_ms the
 * connection is aborted (which completes op) and -ETIMEDOUT is returned,
 * unless op had succeeded by then.  Nothing waits on a silent server.
 */
int vf_xport_run_timeout(struct vf_xport *x, struct vf_op *op, unsigned timeout_ms);

/* The same, calling on_timeout(arg) just before the connection is aborted
 * (so the caller can record why before others see the abort). */
int vf_xport_run_timeout_cb(struct vf_xport *x, struct vf_op *op, unsigned timeout_ms,
			    void (*on_timeout)(void *arg), void *arg);

/* Breaks the connection; see vf_xport_ops.abort. */
void vf_xport_abort(struct vf_xport *x);
/* Breaks connection number gen (x->conn_gen when an op went out on it),
 * and only that one: a newer connection is left alone. */
void vf_xport_abort_gen(struct vf_xport *x, uint64_t gen);

/* Synchronous control operations; they log the server's reason. */
int vf_xport_alloc(struct vf_xport *x, uint32_t count, struct vf_slab_desc *descs);
int vf_xport_free(struct vf_xport *x, uint32_t count, const uint32_t *ids);
int vf_xport_stats(struct vf_xport *x, struct vf_stats *stats);

/*
 * Called from the transport's thread when the connection breaks by itself
 * (the server closed it, a reset, an RDMA disconnect), not when the caller
 * drops it: a caller that only notices failures on its requests learns of
 * it at once, before anything needs the server.
 */
void vf_xport_set_on_lost(struct vf_xport *x, void (*cb)(void *arg), void *arg);
/* How loudly failures to (re)connect are logged (default LOG_ERR): a
 * caller that retries on its own may want them quieter. */
void vf_xport_set_connect_log_level(struct vf_xport *x, int level);

#endif
