/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For transport providers only (tcp.c, rdma.c, mem.c): the ops table a
 * provider implements and the transport-independent pieces it builds on.
 * Users of a transport include vofirm/transport.h and never this file.
 */
#ifndef VOFIRM_TRANSPORT_I_H
#define VOFIRM_TRANSPORT_I_H

#include "vofirm/proto.h"
#include "vofirm/transport.h"

/* What a provider can do beyond the common interface. */
#define VF_XPORT_CAP_RAW_ADDR 0x1 /* READ/WRITE with VF_OP_F_RAW (RDMA) */

struct vf_xport_ops {
	const char *scheme;
	unsigned caps; /* VF_XPORT_CAP_* */
	struct vf_xport *(*create)(void);
	void (*destroy)(struct vf_xport *x);
	/* Open the connection and log in (resuming x->token if x->have_session). */
	int (*connect)(struct vf_xport *x);
	/* Drop the connection; in-flight operations fail with -ECONNRESET. */
	void (*disconnect)(struct vf_xport *x);
	/* Start an operation.  0: done() will be called.  <0: it will not.
	 * With VF_OP_F_WAIT the submitter calls wait() next. */
	int (*submit)(struct vf_xport *x, struct vf_op *op);
	/* Optional.  Completes operations on the calling thread until
	 * done(arg) is true, as long as no other thread is receiving on the
	 * connection: 0 once done(arg); -EBUSY when another thread receives
	 * (it completes the operations: wait for their done()); -ETIMEDOUT
	 * at deadline_ns (CLOCK_MONOTONIC; 0: none), operations still in
	 * flight.  Without it, every completion comes from the transport's
	 * own thread.  flags: VF_WAIT_*. */
	int (*wait)(struct vf_xport *x, bool (*done)(void *arg), void *arg, uint64_t deadline_ns,
		    unsigned flags);
	/* Break connection `gen` (see vf_xport.conn_gen) from any thread:
	 * every operation in flight completes (with -ECONNRESET) soon after;
	 * no wait here.  A later connection is left alone. */
	void (*abort)(struct vf_xport *x, uint64_t gen);
};

/* The hook of vf_xport_set_wait_hook(), or nothing. */
void vf_xport_about_to_wait(void);

extern const struct vf_xport_ops vf_tcp_ops;
extern const struct vf_xport_ops vf_rdma_ops;
extern const struct vf_xport_ops vf_mem_ops;

/*
 * The HELLO/LOGIN exchange, the same on every transport.  `exchange`
 * sends a request and returns its decoded reply (whose pointers stay
 * valid until the next call).
 */
typedef int (*vf_exchange_fn)(struct vf_xport *x, const struct vf_msg *req, struct vf_msg *rep);
int vf_xport_handshake(struct vf_xport *x, vf_exchange_fn exchange);

/* A handshake reply in another protocol version (h as received): logs
 * both versions, returns -EPROTONOSUPPORT. */
int vf_xport_version_refused(struct vf_xport *x, const struct vf_hdr *h);

/* The message type that carries an operation, request and reply. */
enum vf_msg_type vf_op_msg_type(enum vf_op_type type);

/* The message that starts op (everything but the tag). */
void vf_op_to_msg(const struct vf_op *op, struct vf_msg *m);

/* Fills op from its successful reply; 0 or -EBADMSG. */
int vf_op_from_reply(struct vf_op *op, const struct vf_msg *rep);

/* For transports that reach slabs by address: the session's slabs with
 * their current address and key (LIST), after a resumed login. */
int vf_xport_list_all(struct vf_xport *x, vf_exchange_fn exchange,
		      void (*add)(struct vf_xport *x, const struct vf_slab_desc *d));

#endif
