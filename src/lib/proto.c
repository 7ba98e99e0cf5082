// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Wire protocol encoder and decoder.  The decoder is strict: every length
 * is checked against the type, reserved fields must be zero, strings must
 * be printable ASCII.  A message that decodes re-encodes to the same
 * bytes (the fuzz target checks that).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vofirm/proto.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static const char *const type_names[] = {
	[VF_MSG_HELLO] = "HELLO",   [VF_MSG_LOGIN] = "LOGIN",	[VF_MSG_ALLOC] = "ALLOC",
	[VF_MSG_FREE] = "FREE",	    [VF_MSG_STATS] = "STATS",	[VF_MSG_READ] = "READ",
	[VF_MSG_WRITE] = "WRITE",   [VF_MSG_BYE] = "BYE",	[VF_MSG_LIST] = "LIST",
	[VF_MSG_GRANT] = "GRANT",   [VF_MSG_ACCEPT] = "ACCEPT", [VF_MSG_GIVE] = "GIVE",
	[VF_MSG_REVOKE] = "REVOKE",
};

const char *vf_msg_type_name(unsigned type)
{
	if (type == 0 || type > VF_MSG_TYPE_MAX)
		return "?";
	return type_names[type];
}

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EBADMSG;
}

static int printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

void vf_hdr_encode(void *buf, const struct vf_hdr *h)
{
	uint8_t *p = buf;

	put32(p, h->magic);
	p[4] = h->version;
	p[5] = h->type;
	put16(p + 6, h->flags);
	put32(p + 8, h->len);
	put32(p + 12, h->status);
	put64(p + 16, h->tag);
}

uint32_t vf_hdr_max_len(const struct vf_hdr *h)
{
	bool reply = h->flags & VF_HDR_F_REPLY;

	if (reply && h->status)
		return h->type == VF_MSG_LOGIN ? VF_MAC_LEN + VF_ERRMSG_MAX : VF_ERRMSG_MAX;
	switch (h->type) {
	case VF_MSG_HELLO:
		return reply ? 72 : 8 + VF_NAME_MAX;
	case VF_MSG_LOGIN:
		return reply ? 56 : 80;
	case VF_MSG_ALLOC:
	case VF_MSG_LIST:
		return reply ? 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE : 8;
	case VF_MSG_FREE:
		return reply ? 0 : 8 + VF_MAX_SLABS_PER_MSG * 4;
	case VF_MSG_STATS:
		return reply ? 8 + VF_STATS_MAX_NFIELDS * 8 : 0;
	case VF_MSG_READ:
		return reply ? VF_MAX_IO : VF_IO_HDR_SIZE;
	case VF_MSG_WRITE:
		return reply ? 0 : VF_IO_HDR_SIZE + VF_MAX_IO;
	case VF_MSG_BYE:
		return reply ? 0 : 8;
	case VF_MSG_GRANT:
		return reply ? VF_GRANT_LEN + 8 : VF_GRANT_LEN + 8 + VF_MAX_SLABS_PER_MSG * 4;
	case VF_MSG_ACCEPT:
		return reply ? 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE : VF_GRANT_LEN + 8;
	case VF_MSG_GIVE:
	case VF_MSG_REVOKE:
		return reply ? 0 : VF_GRANT_LEN;
	}
	return 0;
}

int vf_hdr_decode(const void *buf, struct vf_hdr *h, const char **why)
{
	const uint8_t *p = buf;

	h->magic = get32(p);
	h->version = p[4];
	h->type = p[5];
	h->flags = get16(p + 6);
	h->len = get32(p + 8);
	h->status = get32(p + 12);
	h->tag = get64(p + 16);

	if (h->magic != VF_PROTO_MAGIC)
		return bad(why, "bad magic (not a vofirm peer)");
	if (h->version != VF_PROTO_VERSION) {
		if (why)
			*why = "unsupported protocol version";
		return -EPROTONOSUPPORT;
	}
	if (h->type == 0 || h->type > VF_MSG_TYPE_MAX)
		return bad(why, "unknown message type");
	if (h->flags & ~VF_HDR_F_REPLY)
		return bad(why, "unknown header flags");
	if (!(h->flags & VF_HDR_F_REPLY) && h->status)
		return bad(why, "request with a non-zero status");
	if (h->status > 4095)
		return bad(why, "status is not an errno value");
	/* before a receiver reads (or makes room for) the payload */
	if (h->len > vf_hdr_max_len(h))
		return bad(why, "payload longer than its message type allows");
	return 0;
}

/* Payload length of a request or successful reply, by type. */
static long body_len(const struct vf_msg *m, int reply)
{
	switch (m->hdr.type) {
	case VF_MSG_HELLO:
		if (reply)
			return 72;
		return 8 + (long)strnlen(m->hello.name, VF_NAME_MAX + 1);
	case VF_MSG_LOGIN:
		return reply ? 56 : 80;
	case VF_MSG_ALLOC:
		return reply ? 8 + (long)m->alloc_rep.count * VF_SLAB_DESC_SIZE : 8;
	case VF_MSG_FREE:
		return reply ? 0 : 8 + (long)m->free.count * 4;
	case VF_MSG_STATS:
		return reply ? 8 + VF_STATS_NFIELDS * 8 : 0;
	case VF_MSG_READ:
		return reply ? (long)m->read_rep.len : VF_IO_HDR_SIZE;
	case VF_MSG_WRITE:
		return reply ? 0 : VF_IO_HDR_SIZE + (long)m->io.len;
	case VF_MSG_BYE:
		return reply ? 0 : 8;
	case VF_MSG_LIST:
		return reply ? 8 + (long)m->list_rep.count * VF_SLAB_DESC_SIZE : 8;
	case VF_MSG_GRANT:
		return reply ? VF_GRANT_LEN + 8 : VF_GRANT_LEN + 8 + (long)m->grant.count * 4;
	case VF_MSG_ACCEPT:
		return reply ? 8 + (long)m->list_rep.count * VF_SLAB_DESC_SIZE : VF_GRANT_LEN + 8;
	case VF_MSG_GIVE:
	case VF_MSG_REVOKE:
		return reply ? 0 : VF_GRANT_LEN;
	}
	return -EINVAL;
}

static int count_ok(uint32_t n)
{
	return n >= 1 && n <= VF_MAX_SLABS_PER_MSG;
}

long vf_msg_payload_len(const struct vf_msg *m)
{
	int reply = !!(m->hdr.flags & VF_HDR_F_REPLY);

	if (m->hdr.type == 0 || m->hdr.type > VF_MSG_TYPE_MAX)
		return -EINVAL;
	if (reply && m->hdr.status) {
		size_t n = strnlen(m->error.msg, VF_ERRMSG_MAX + 1);

		if (n > VF_ERRMSG_MAX)
			return -EINVAL;
		return (long)n + (m->hdr.type == VF_MSG_LOGIN ? VF_MAC_LEN : 0);
	}
	switch (m->hdr.type) {
	case VF_MSG_HELLO:
		if (!reply) {
			size_t n = strnlen(m->hello.name, VF_NAME_MAX + 1);

			if (n == 0 || n > VF_NAME_MAX)
				return -EINVAL;
		}
		break;
	case VF_MSG_ALLOC:
		if (!count_ok(reply ? m->alloc_rep.count : m->alloc.count))
			return -EINVAL;
		break;
	case VF_MSG_FREE:
		if (!reply && !count_ok(m->free.count))
			return -EINVAL;
		break;
	case VF_MSG_READ:
		if (reply ? (m->read_rep.len == 0 || m->read_rep.len > VF_MAX_IO)
			  : (m->io.len == 0 || m->io.len > VF_MAX_IO))
			return -EINVAL;
		break;
	case VF_MSG_WRITE:
		if (!reply && (m->io.len == 0 || m->io.len > VF_MAX_IO))
			return -EINVAL;
		break;
	case VF_MSG_LIST:
		if (reply ? m->list_rep.count > VF_MAX_SLABS_PER_MSG : !count_ok(m->list.max))
			return -EINVAL;
		break;
	case VF_MSG_GRANT:
		if (reply ? all_zero(m->grant_rep.token, VF_GRANT_LEN)
			  : (!count_ok(m->grant.count) || m->grant.ttl_ms == 0 ||
			     m->grant.ttl_ms > VF_GRANT_TTL_MAX))
			return -EINVAL;
		break;
	case VF_MSG_ACCEPT:
		if (reply ? (m->list_rep.count > VF_MAX_SLABS_PER_MSG ||
			     m->list_rep.count > m->list_rep.total)
			  : (!count_ok(m->accept.max) || all_zero(m->accept.token, VF_GRANT_LEN)))
			return -EINVAL;
		break;
	case VF_MSG_GIVE:
	case VF_MSG_REVOKE:
		if (!reply && all_zero(m->give.token, VF_GRANT_LEN))
			return -EINVAL;
		break;
	}
	return body_len(m, reply);
}

long vf_msg_encode_head(const struct vf_msg *m, void *buf, size_t cap, size_t *data_len)
{
	int reply = !!(m->hdr.flags & VF_HDR_F_REPLY);
	long plen = vf_msg_payload_len(m);
	struct vf_hdr h = m->hdr;
	uint8_t *p = buf, *b = p + VF_HDR_SIZE;
	size_t head, bulk = 0;

	if (plen < 0)
		return plen;
	if (m->hdr.type == VF_MSG_WRITE && !reply)
		bulk = m->io.len;
	else if (m->hdr.type == VF_MSG_READ && reply && !m->hdr.status)
		bulk = m->read_rep.len;
	head = VF_HDR_SIZE + (size_t)plen - bulk;
	if (head > cap)
		return -ENOSPC;

	h.magic = VF_PROTO_MAGIC;
	if (h.version && h.version < VF_PROTO_VERSION) {
		/* an older peer's refusal: the only message it must still read */
		if (m->hdr.type != VF_MSG_HELLO || !reply || !m->hdr.status)
			return -EINVAL;
	} else {
		h.version = VF_PROTO_VERSION;
	}
	h.len = (uint32_t)plen;
	vf_hdr_encode(p, &h);
	memset(b, 0, head - VF_HDR_SIZE);

	if (reply && m->hdr.status) {
		if (m->hdr.type == VF_MSG_LOGIN) {
			memcpy(b, m->error.mac, VF_MAC_LEN);
			memcpy(b + VF_MAC_LEN, m->error.msg, (size_t)plen - VF_MAC_LEN);
		} else {
			memcpy(b, m->error.msg, (size_t)plen);
		}
		goto out;
	}
	switch (m->hdr.type) {
	case VF_MSG_HELLO:
		if (reply) {
			put32(b, m->hello_rep.flags);
			put32(b + 4, m->hello_rep.lease_ms);
			put64(b + 8, m->hello_rep.slab_size);
			put64(b + 16, m->hello_rep.capacity);
			memcpy(b + 24, m->hello_rep.instance, VF_INSTANCE_LEN);
			memcpy(b + 40, m->hello_rep.nonce, VF_NONCE_LEN);
		} else {
			put32(b, m->hello.features);
			put16(b + 4, (uint16_t)(plen - 8));
			memcpy(b + 8, m->hello.name, (size_t)plen - 8);
		}
		break;
	case VF_MSG_LOGIN:
		if (reply) {
			put32(b, m->login_rep.flags);
			put32(b + 4, m->login_rep.nslabs);
			memcpy(b + 8, m->login_rep.token, VF_TOKEN_LEN);
			memcpy(b + 24, m->login_rep.mac, VF_MAC_LEN);
		} else {
			memcpy(b, m->login.token, VF_TOKEN_LEN);
			memcpy(b + 16, m->login.nonce, VF_NONCE_LEN);
			memcpy(b + 48, m->login.mac, VF_MAC_LEN);
		}
		break;
	case VF_MSG_ALLOC:
		if (reply) {
			put32(b, m->alloc_rep.count);
			for (uint32_t i = 0; i < m->alloc_rep.count; i++) {
				uint8_t *d = b + 8 + i * VF_SLAB_DESC_SIZE;

				put32(d, m->alloc_rep.descs[i].id);
				put32(d + 4, m->alloc_rep.descs[i].rkey);
				put64(d + 8, m->alloc_rep.descs[i].addr);
			}
		} else {
			put32(b, m->alloc.count);
		}
		break;
	case VF_MSG_FREE:
		if (!reply) {
			put32(b, m->free.count);
			for (uint32_t i = 0; i < m->free.count; i++)
				put32(b + 8 + i * 4, m->free.ids[i]);
		}
		break;
	case VF_MSG_STATS:
		if (reply) {
			const uint64_t *f = &m->stats_rep.capacity;

			put32(b, VF_STATS_NFIELDS);
			for (unsigned i = 0; i < VF_STATS_NFIELDS; i++)
				put64(b + 8 + i * 8, f[i]);
		}
		break;
	case VF_MSG_READ:
	case VF_MSG_WRITE:
		if (!reply) {
			put32(b, m->io.slab);
			put32(b + 4, m->io.len);
			put64(b + 8, m->io.off);
		}
		break;
	case VF_MSG_BYE:
		if (!reply)
			put32(b, m->bye.flags);
		break;
	case VF_MSG_GRANT:
		if (reply) {
			memcpy(b, m->grant_rep.token, VF_GRANT_LEN);
			put32(b + VF_GRANT_LEN, m->grant_rep.total);
		} else {
			memcpy(b, m->grant.token, VF_GRANT_LEN);
			put32(b + VF_GRANT_LEN, m->grant.ttl_ms);
			put32(b + VF_GRANT_LEN + 4, m->grant.count);
			for (uint32_t i = 0; i < m->grant.count; i++)
				put32(b + VF_GRANT_LEN + 8 + i * 4, m->grant.ids[i]);
		}
		break;
	case VF_MSG_GIVE:
	case VF_MSG_REVOKE:
		if (!reply)
			memcpy(b, m->give.token, VF_GRANT_LEN);
		break;
	case VF_MSG_ACCEPT:
		if (!reply) {
			memcpy(b, m->accept.token, VF_GRANT_LEN);
			put32(b + VF_GRANT_LEN, m->accept.first);
			put32(b + VF_GRANT_LEN + 4, m->accept.max);
			break;
		}
		__attribute__((fallthrough)); /* the reply is a LIST reply */
	case VF_MSG_LIST:
		if (reply) {
			put32(b, m->list_rep.count);
			put32(b + 4, m->list_rep.total);
			for (uint32_t i = 0; i < m->list_rep.count; i++) {
				uint8_t *d = b + 8 + i * VF_SLAB_DESC_SIZE;

				put32(d, m->list_rep.descs[i].id);
				put32(d + 4, m->list_rep.descs[i].rkey);
				put64(d + 8, m->list_rep.descs[i].addr);
			}
		} else {
			put32(b, m->list.first);
			put32(b + 4, m->list.max);
		}
		break;
	}
out:
	if (data_len)
		*data_len = bulk;
	return (long)head;
}

long vf_msg_encode(const struct vf_msg *m, void *buf, size_t cap)
{
	size_t bulk;
	long head = vf_msg_encode_head(m, buf, cap, &bulk);
	const void *data;

	if (head < 0)
		return head;
	if ((size_t)head + bulk > cap)
		return -ENOSPC;
	if (bulk) {
		data = m->hdr.type == VF_MSG_WRITE ? m->io.data : m->read_rep.data;
		memcpy((uint8_t *)buf + head, data, bulk);
	}
	return (long)(head + bulk);
}

/* Checks that the payload length is exactly `want`. */
#define EXPECT_LEN(want)                                                                  \
	do {                                                                              \
		if (len != (size_t)(want))                                                \
			return bad(why, len < (size_t)(want)                              \
						? "payload truncated"                     \
						: "payload longer than its type allows"); \
	} while (0)

#define EXPECT_EMPTY()                                                          \
	do {                                                                    \
		if (len)                                                        \
			return bad(why, "payload longer than its type allows"); \
	} while (0)

int vf_msg_decode_body(const struct vf_hdr *h, const void *payload, size_t len, struct vf_msg *m,
		       const char **why)
{
	const uint8_t *b = payload;
	int reply = !!(h->flags & VF_HDR_F_REPLY);
	uint32_t n;

	memset(m, 0, sizeof(*m));
	m->hdr = *h;
	if (len != h->len)
		return bad(why, "payload length differs from the header");

	if (reply && h->status) {
		if (h->type == VF_MSG_LOGIN) {
			if (len < VF_MAC_LEN)
				return bad(why, "LOGIN refusal without its MAC");
			memcpy(m->error.mac, b, VF_MAC_LEN);
			b += VF_MAC_LEN;
			len -= VF_MAC_LEN;
		}
		if (len > VF_ERRMSG_MAX)
			return bad(why, "error text too long");
		if (!printable(b, len))
			return bad(why, "error text is not printable ASCII");
		memcpy(m->error.msg, b, len);
		m->error.msg[len] = '\0';
		return 0;
	}

	switch (h->type) {
	case VF_MSG_HELLO:
		if (reply) {
			EXPECT_LEN(72);
			m->hello_rep.flags = get32(b);
			m->hello_rep.lease_ms = get32(b + 4);
			if (m->hello_rep.flags & ~VF_HELLO_F_AUTH)
				return bad(why, "unknown HELLO flags");
			m->hello_rep.slab_size = get64(b + 8);
			m->hello_rep.capacity = get64(b + 16);
			if (m->hello_rep.slab_size == 0 ||
			    m->hello_rep.capacity % m->hello_rep.slab_size)
				return bad(why, "capacity is not a whole number of slabs");
			memcpy(m->hello_rep.instance, b + 24, VF_INSTANCE_LEN);
			memcpy(m->hello_rep.nonce, b + 40, VF_NONCE_LEN);
			return 0;
		}
		if (len < 8)
			return bad(why, "payload truncated");
		m->hello.features = get32(b);
		n = get16(b + 4);
		if (m->hello.features)
			return bad(why, "unknown HELLO features");
		if (get16(b + 6))
			return bad(why, "reserved field is not zero");
		if (n == 0 || n > VF_NAME_MAX)
			return bad(why, "client name empty or too long");
		EXPECT_LEN(8 + n);
		if (!printable(b + 8, n))
			return bad(why, "client name is not printable ASCII");
		memcpy(m->hello.name, b + 8, n);
		m->hello.name[n] = '\0';
		return 0;

	case VF_MSG_LOGIN:
		if (reply) {
			EXPECT_LEN(56);
			m->login_rep.flags = get32(b);
			if (m->login_rep.flags & ~VF_LOGIN_F_RESUMED)
				return bad(why, "unknown LOGIN flags");
			m->login_rep.nslabs = get32(b + 4);
			memcpy(m->login_rep.token, b + 8, VF_TOKEN_LEN);
			memcpy(m->login_rep.mac, b + 24, VF_MAC_LEN);
			if (all_zero(m->login_rep.token, VF_TOKEN_LEN))
				return bad(why, "session token is zero");
			return 0;
		}
		EXPECT_LEN(80);
		memcpy(m->login.token, b, VF_TOKEN_LEN);
		memcpy(m->login.nonce, b + 16, VF_NONCE_LEN);
		memcpy(m->login.mac, b + 48, VF_MAC_LEN);
		return 0;

	case VF_MSG_ALLOC:
		if (len < 8)
			return bad(why, "payload truncated");
		n = get32(b);
		if (get32(b + 4))
			return bad(why, "reserved field is not zero");
		if (!count_ok(n))
			return bad(why, "slab count out of range");
		if (reply) {
			EXPECT_LEN(8 + (size_t)n * VF_SLAB_DESC_SIZE);
			m->alloc_rep.count = n;
			m->alloc_rep.raw = b + 8;
		} else {
			EXPECT_LEN(8);
			m->alloc.count = n;
		}
		return 0;

	case VF_MSG_FREE:
		if (reply) {
			EXPECT_EMPTY();
			return 0;
		}
		if (len < 8)
			return bad(why, "payload truncated");
		n = get32(b);
		if (get32(b + 4))
			return bad(why, "reserved field is not zero");
		if (!count_ok(n))
			return bad(why, "slab count out of range");
		EXPECT_LEN(8 + (size_t)n * 4);
		m->free.count = n;
		m->free.raw = b + 8;
		return 0;

	case VF_MSG_STATS:
		if (!reply) {
			EXPECT_EMPTY();
			return 0;
		}
		if (len < 8)
			return bad(why, "payload truncated");
		n = get32(b);
		if (get32(b + 4))
			return bad(why, "reserved field is not zero");
		if (n < VF_STATS_NFIELDS || n > VF_STATS_MAX_NFIELDS)
			return bad(why, "stats field count out of range");
		EXPECT_LEN(8 + (size_t)n * 8);
		for (unsigned i = 0; i < VF_STATS_NFIELDS; i++)
			(&m->stats_rep.capacity)[i] = get64(b + 8 + i * 8);
		if (n != VF_STATS_NFIELDS)
			return bad(why, "stats fields this version does not know");
		return 0;

	case VF_MSG_READ:
	case VF_MSG_WRITE:
		if (reply) {
			if (h->type == VF_MSG_WRITE) {
				EXPECT_EMPTY();
				return 0;
			}
			if (len == 0 || len > VF_MAX_IO)
				return bad(why, "READ reply length out of range");
			m->read_rep.len = (uint32_t)len;
			m->read_rep.data = b;
			return 0;
		}
		if (len < VF_IO_HDR_SIZE)
			return bad(why, "payload truncated");
		m->io.slab = get32(b);
		m->io.len = get32(b + 4);
		m->io.off = get64(b + 8);
		if (m->io.len == 0 || m->io.len > VF_MAX_IO)
			return bad(why, "I/O length out of range");
		if (m->io.off > UINT64_MAX - m->io.len)
			return bad(why, "I/O offset overflows");
		if (h->type == VF_MSG_READ) {
			EXPECT_LEN(VF_IO_HDR_SIZE);
		} else {
			EXPECT_LEN(VF_IO_HDR_SIZE + m->io.len);
			m->io.data = b + VF_IO_HDR_SIZE;
		}
		return 0;

	case VF_MSG_BYE:
		if (reply) {
			EXPECT_EMPTY();
			return 0;
		}
		EXPECT_LEN(8);
		m->bye.flags = get32(b);
		if (m->bye.flags || get32(b + 4))
			return bad(why, "unknown BYE flags");
		return 0;

	case VF_MSG_GRANT:
		if (reply) {
			EXPECT_LEN(VF_GRANT_LEN + 8);
			memcpy(m->grant_rep.token, b, VF_GRANT_LEN);
			m->grant_rep.total = get32(b + VF_GRANT_LEN);
			if (all_zero(m->grant_rep.token, VF_GRANT_LEN))
				return bad(why, "grant token is zero");
			if (get32(b + VF_GRANT_LEN + 4))
				return bad(why, "reserved field is not zero");
			return 0;
		}
		if (len < VF_GRANT_LEN + 8)
			return bad(why, "payload truncated");
		memcpy(m->grant.token, b, VF_GRANT_LEN);
		m->grant.ttl_ms = get32(b + VF_GRANT_LEN);
		n = get32(b + VF_GRANT_LEN + 4);
		if (m->grant.ttl_ms == 0 || m->grant.ttl_ms > VF_GRANT_TTL_MAX)
			return bad(why, "grant lifetime out of range");
		if (!count_ok(n))
			return bad(why, "slab count out of range");
		EXPECT_LEN(VF_GRANT_LEN + 8 + (size_t)n * 4);
		m->grant.count = n;
		m->grant.raw = b + VF_GRANT_LEN + 8;
		return 0;

	case VF_MSG_GIVE:
	case VF_MSG_REVOKE:
		if (reply) {
			EXPECT_EMPTY();
			return 0;
		}
		EXPECT_LEN(VF_GRANT_LEN);
		memcpy(m->give.token, b, VF_GRANT_LEN);
		if (all_zero(m->give.token, VF_GRANT_LEN))
			return bad(why, "grant token is zero");
		return 0;

	case VF_MSG_ACCEPT:
		if (!reply) {
			EXPECT_LEN(VF_GRANT_LEN + 8);
			memcpy(m->accept.token, b, VF_GRANT_LEN);
			m->accept.first = get32(b + VF_GRANT_LEN);
			m->accept.max = get32(b + VF_GRANT_LEN + 4);
			if (all_zero(m->accept.token, VF_GRANT_LEN))
				return bad(why, "grant token is zero");
			if (!count_ok(m->accept.max))
				return bad(why, "slab count out of range");
			return 0;
		}
		__attribute__((fallthrough)); /* the reply is a LIST reply */
	case VF_MSG_LIST:
		if (len < 8)
			return bad(why, "payload truncated");
		if (!reply) {
			EXPECT_LEN(8);
			m->list.first = get32(b);
			m->list.max = get32(b + 4);
			if (!count_ok(m->list.max))
				return bad(why, "slab count out of range");
			return 0;
		}
		n = get32(b);
		m->list_rep.total = get32(b + 4);
		if (n > VF_MAX_SLABS_PER_MSG || n > m->list_rep.total)
			return bad(why, "slab count out of range");
		EXPECT_LEN(8 + (size_t)n * VF_SLAB_DESC_SIZE);
		m->list_rep.count = n;
		m->list_rep.raw = b + 8;
		return 0;
	}
	return bad(why, "unknown message type");
}

int vf_msg_decode(const void *buf, size_t len, struct vf_msg *m, const char **why)
{
	struct vf_hdr h;
	int ret;

	if (len < VF_HDR_SIZE)
		return bad(why, "shorter than a header");
	ret = vf_hdr_decode(buf, &h, why);
	if (ret) {
		m->hdr = h; /* the version, for a refusal the peer can read */
		return ret;
	}
	if (len - VF_HDR_SIZE != h.len)
		return bad(why, len - VF_HDR_SIZE < h.len ? "payload truncated"
							  : "bytes after the payload");
	return vf_msg_decode_body(&h, (const uint8_t *)buf + VF_HDR_SIZE, h.len, m, why);
}

void vf_msg_slab_desc(const struct vf_msg *m, uint32_t i, struct vf_slab_desc *d)
{
	const uint8_t *raw = m->hdr.type == VF_MSG_ALLOC ? m->alloc_rep.raw : m->list_rep.raw;
	const uint8_t *p = raw + (size_t)i * VF_SLAB_DESC_SIZE;

	d->id = get32(p);
	d->rkey = get32(p + 4);
	d->addr = get64(p + 8);
}

void vf_hello_facts(const struct vf_msg *m, uint8_t facts[VF_HELLO_FACTS_LEN])
{
	put32(facts, m->hello_rep.flags);
	put32(facts + 4, m->hello_rep.lease_ms);
	put64(facts + 8, m->hello_rep.slab_size);
	put64(facts + 16, m->hello_rep.capacity);
	memcpy(facts + 24, m->hello_rep.instance, VF_INSTANCE_LEN);
}

uint32_t vf_msg_free_id(const struct vf_msg *m, uint32_t i)
{
	return get32(m->free.raw + (size_t)i * 4);
}

uint32_t vf_msg_grant_id(const struct vf_msg *m, uint32_t i)
{
	return get32(m->grant.raw + (size_t)i * 4);
}
