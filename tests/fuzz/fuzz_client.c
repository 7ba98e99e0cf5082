// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the client's side of the wire: what a server (or a
 * man in the middle) sends back.  The first byte picks the path:
 *
 *   even: the handshake (vf_xport_handshake) against a HELLO reply and a
 *         LOGIN reply from the input (u16 length of the first, then both).
 *         With a key the client's nonce is random, so no input can carry
 *         a valid server MAC: the handshake must neither succeed nor end
 *         in ESTALE (which would make vofirm-fs give its data up).
 *   odd:  the reply path shared by the TCP and RDMA transports: a reply
 *         decoded and applied to an operation of the type and count the
 *         next bytes pick (vf_op_from_reply), which must never write past
 *         the operation's buffers nor accept a reply that does not fit.
 *
 * The providers' tables are defined here, empty: the handshake gets its
 * replies from the input through its exchange function, not a transport.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport_i.h"
#include "vofirm/log.h"

const struct vf_xport_ops vf_tcp_ops, vf_rdma_ops, vf_mem_ops;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *replies[2];
static size_t reply_len[2];
static unsigned next_reply;

static int exchange(struct vf_xport *x __attribute__((unused)), const struct vf_msg *req,
		    struct vf_msg *rep)
{
	const char *why;
	unsigned i = next_reply++;

	if (i >= 2 || vf_msg_decode(replies[i], reply_len[i], rep, &why))
		return -EPROTO;
	if (!(rep->hdr.flags & VF_HDR_F_REPLY) || rep->hdr.type != req->hdr.type)
		return -EPROTO;
	return 0;
}

static void handshake(uint8_t mode, const uint8_t *data, size_t size)
{
	static struct vf_xport x;
	size_t first;
	int ret;

	if (size < 2)
		return;
	first = (size_t)data[0] | (size_t)data[1] << 8;
	data += 2;
	size -= 2;
	if (first > size)
		return;
	replies[0] = data;
	reply_len[0] = first;
	replies[1] = data + first;
	reply_len[1] = size - first;
	next_reply = 0;

	memset(&x, 0, sizeof(x));
	snprintf(x.url.str, sizeof(x.url.str), "tcp://fuzz:1");
	snprintf(x.name, sizeof(x.name), "fuzz");
	x.connect_log_level = LOG_DEBUG;
	x.has_key = mode & 2;
	if (x.has_key) {
		memcpy(x.key.bytes, "0123456789abcdef", 16);
		x.key.len = 16;
	}
	if (mode & 4) { /* resuming a session */
		memset(x.token, 0x11, VF_TOKEN_LEN);
		x.have_session = true;
	}
	ret = vf_xport_handshake(&x, exchange);
	if (x.has_key && (ret == 0 || ret == -ESTALE))
		__builtin_trap(); /* believed a server that did not prove the key */
}

static void reply_path(const uint8_t *data, size_t size)
{
	static const enum vf_op_type types[] = { VF_OP_READ, VF_OP_WRITE, VF_OP_ALLOC,
						 VF_OP_FREE, VF_OP_STATS, VF_OP_LIST,
						 VF_OP_BYE,  VF_OP_GRANT, VF_OP_ACCEPT,
						 VF_OP_GIVE, VF_OP_REVOKE };
	uint8_t token[VF_GRANT_LEN] = { 0 };
	static uint8_t buf[VF_MAX_IO];
	struct vf_slab_desc *descs;
	struct vf_stats st;
	struct vf_op op;
	struct vf_msg rep;
	const char *why;
	uint32_t count;

	if (size < 2)
		return;
	memset(&op, 0, sizeof(op));
	op.type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	count = (uint32_t)data[1] % 8 + 1;
	data += 2;
	size -= 2;
	if (vf_msg_decode(data, size, &rep, &why))
		return;
	/* what both transports check before vf_op_from_reply */
	if (!(rep.hdr.flags & VF_HDR_F_REPLY) || rep.hdr.type != vf_op_msg_type(op.type))
		return;
	if (rep.hdr.status) {
		memcpy(op.errmsg, rep.error.msg, sizeof(op.errmsg));
		if (strnlen(op.errmsg, sizeof(op.errmsg)) > VF_ERRMSG_MAX)
			__builtin_trap(); /* an unterminated reason */
		return;
	}
	/* exactly the room the operation asked for: ASan sees any overrun */
	descs = malloc(sizeof(*descs) * count);
	op.count = count;
	op.descs = descs;
	op.stats = &st;
	op.token = token;
	op.buf = buf;
	op.len = count * 512;
	if (vf_op_from_reply(&op, &rep) == 0) {
		if (op.type == VF_OP_ALLOC && rep.alloc_rep.count != count)
			__builtin_trap();
		if ((op.type == VF_OP_LIST || op.type == VF_OP_ACCEPT) &&
		    (op.listed > count || op.listed > op.total))
			__builtin_trap();
		if (op.type == VF_OP_READ && rep.read_rep.len != op.len)
			__builtin_trap();
	}
	free(descs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;

	if (!once) {
		vf_log_init("fuzz_client", LOG_CRIT);
		once = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		reply_path(data + 1, size - 1);
	else
		handshake(data[0], data + 1, size - 1);
	return 0;
}
