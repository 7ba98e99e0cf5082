// SPDX-License-Identifier: GPL-2.0-or-later
/* Wire protocol: every message round-trips; malformed input is refused. */
#include <errno.h>
#include <stdlib.h>

#include "unit.h"
#include "vofirm/log.h"
#include "vofirm/proto.h"
#include "vofirm/util.h"

static uint8_t buf[VF_HDR_SIZE + VF_MAX_PAYLOAD + 64];
static uint8_t data[VF_MAX_IO];

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Encodes m, decodes it back into out; returns the encoded length. */
static long roundtrip(struct vf_msg *m, struct vf_msg *out)
{
	const char *why = NULL;
	long n = vf_msg_encode(m, buf, sizeof(buf));
	int ret;

	CHECK(n >= (long)VF_HDR_SIZE);
	if (n < 0)
		return n;
	ret = vf_msg_decode(buf, (size_t)n, out, &why);
	if (ret)
		fprintf(stderr, "decode of %s: %s\n", vf_msg_type_name(m->hdr.type), why);
	CHECK_EQ(ret, 0);
	CHECK_EQ(out->hdr.type, m->hdr.type);
	CHECK_EQ(out->hdr.tag, m->hdr.tag);
	CHECK_EQ(out->hdr.flags, m->hdr.flags);
	CHECK_EQ(out->hdr.len, (size_t)n - VF_HDR_SIZE);
	return n;
}

static struct vf_msg *msg(unsigned type, int reply, uint64_t tag)
{
	static struct vf_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = (uint8_t)type;
	m.hdr.flags = reply ? VF_HDR_F_REPLY : 0;
	m.hdr.tag = tag;
	return &m;
}

static void test_roundtrip(void)
{
	struct vf_msg *m, d;
	struct vf_slab_desc descs[3] = { { 7, 0x1234, 0xdeadbeef000ull },
					 { 8, 1, 2 },
					 { 0, 0, 0 } };
	uint32_t ids[3] = { 5, 6, 4000000 };
	struct vf_slab_desc got;

	m = msg(VF_MSG_HELLO, 0, 1);
	strcpy(m->hello.name, "vofirm-fs@host1");
	roundtrip(m, &d);
	CHECK_STR(d.hello.name, "vofirm-fs@host1");

	m = msg(VF_MSG_HELLO, 1, 1);
	m->hello_rep.flags = VF_HELLO_F_AUTH;
	m->hello_rep.slab_size = 64 << 20;
	m->hello_rep.capacity = 64ull << 30;
	m->hello_rep.lease_ms = 60000;
	memset(m->hello_rep.nonce, 0xab, VF_NONCE_LEN);
	memset(m->hello_rep.instance, 0x11, VF_INSTANCE_LEN);
	roundtrip(m, &d);
	CHECK_EQ(d.hello_rep.flags, VF_HELLO_F_AUTH);
	CHECK_EQ(d.hello_rep.slab_size, 64 << 20);
	CHECK_EQ(d.hello_rep.capacity, 64ull << 30);
	CHECK_EQ(d.hello_rep.lease_ms, 60000);
	CHECK(!memcmp(d.hello_rep.nonce, m->hello_rep.nonce, VF_NONCE_LEN));
	CHECK(!memcmp(d.hello_rep.instance, m->hello_rep.instance, VF_INSTANCE_LEN));

	m = msg(VF_MSG_LOGIN, 0, 2);
	memset(m->login.token, 3, VF_TOKEN_LEN);
	memset(m->login.nonce, 4, VF_NONCE_LEN);
	memset(m->login.mac, 5, VF_MAC_LEN);
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + 80);
	CHECK(!memcmp(d.login.mac, m->login.mac, VF_MAC_LEN));
	CHECK(!memcmp(d.login.token, m->login.token, VF_TOKEN_LEN));

	m = msg(VF_MSG_LOGIN, 1, 2);
	m->login_rep.flags = VF_LOGIN_F_RESUMED;
	m->login_rep.nslabs = 9;
	memset(m->login_rep.token, 6, VF_TOKEN_LEN);
	roundtrip(m, &d);
	CHECK_EQ(d.login_rep.nslabs, 9);
	CHECK_EQ(d.login_rep.flags, VF_LOGIN_F_RESUMED);

	m = msg(VF_MSG_ALLOC, 0, 3);
	m->alloc.count = 3;
	roundtrip(m, &d);
	CHECK_EQ(d.alloc.count, 3);

	m = msg(VF_MSG_ALLOC, 1, 3);
	m->alloc_rep.count = 3;
	m->alloc_rep.descs = descs;
	roundtrip(m, &d);
	CHECK_EQ(d.alloc_rep.count, 3);
	vf_msg_slab_desc(&d, 0, &got);
	CHECK_EQ(got.id, 7);
	CHECK_EQ(got.rkey, 0x1234);
	CHECK_EQ(got.addr, 0xdeadbeef000ull);
	vf_msg_slab_desc(&d, 1, &got);
	CHECK_EQ(got.id, 8);

	m = msg(VF_MSG_FREE, 0, 4);
	m->free.count = 3;
	m->free.ids = ids;
	roundtrip(m, &d);
	CHECK_EQ(d.free.count, 3);
	CHECK_EQ(vf_msg_free_id(&d, 2), 4000000);

	m = msg(VF_MSG_STATS, 1, 5);
	m->stats_rep.capacity = 1;
	m->stats_rep.session_slabs = 12;
	m->stats_rep.bytes_written = 1ull << 40;
	roundtrip(m, &d);
	CHECK_EQ(d.stats_rep.capacity, 1);
	CHECK_EQ(d.stats_rep.session_slabs, 12);
	CHECK_EQ(d.stats_rep.bytes_written, 1ull << 40);

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	m = msg(VF_MSG_WRITE, 0, ~0ull);
	m->io.slab = 2;
	m->io.off = 4096;
	m->io.len = VF_MAX_IO;
	m->io.data = data;
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + VF_IO_HDR_SIZE + VF_MAX_IO);
	CHECK_EQ(d.io.len, VF_MAX_IO);
	CHECK_EQ(d.io.off, 4096);
	CHECK(!memcmp(d.io.data, data, VF_MAX_IO));

	m = msg(VF_MSG_READ, 0, 6);
	m->io.slab = 1;
	m->io.len = 4096;
	m->io.off = 8192;
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + VF_IO_HDR_SIZE);
	CHECK_EQ(d.io.slab, 1);

	m = msg(VF_MSG_READ, 1, 6);
	m->read_rep.len = 4096;
	m->read_rep.data = data;
	roundtrip(m, &d);
	CHECK_EQ(d.read_rep.len, 4096);
	CHECK(!memcmp(d.read_rep.data, data, 4096));

	m = msg(VF_MSG_BYE, 0, 7);
	roundtrip(m, &d);

	m = msg(VF_MSG_LIST, 0, 9);
	m->list.first = 4096;
	m->list.max = 100;
	roundtrip(m, &d);
	CHECK_EQ(d.list.first, 4096);
	CHECK_EQ(d.list.max, 100);
	m = msg(VF_MSG_LIST, 1, 9);
	m->list_rep.count = 2;
	m->list_rep.total = 5000;
	m->list_rep.descs = descs;
	roundtrip(m, &d);
	CHECK_EQ(d.list_rep.total, 5000);
	vf_msg_slab_desc(&d, 1, &got);
	CHECK_EQ(got.id, 8);
	m->list_rep.count = 0;
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + 8);
	m->list_rep.total = 0;
	roundtrip(m, &d); /* an empty session lists nothing */

	m = msg(VF_MSG_ALLOC, 1, 8);
	m->hdr.status = ENOSPC;
	strcpy(m->error.msg, "pool has 3 free slabs of 4, 5 asked for");
	roundtrip(m, &d);
	CHECK_EQ(d.hdr.status, ENOSPC);
	CHECK_STR(d.error.msg, "pool has 3 free slabs of 4, 5 asked for");

	/* a LOGIN refusal carries the server's MAC before its text */
	m = msg(VF_MSG_LOGIN, 1, 9);
	m->hdr.status = ESTALE;
	memset(m->error.mac, 0x5a, VF_MAC_LEN);
	strcpy(m->error.msg, "session unknown");
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + VF_MAC_LEN + 15);
	CHECK(!memcmp(d.error.mac, m->error.mac, VF_MAC_LEN));
	CHECK_STR(d.error.msg, "session unknown");
	m->error.msg[0] = '\0';
	CHECK_EQ(roundtrip(m, &d), VF_HDR_SIZE + VF_MAC_LEN);

	/* the refusal of an older peer, in its framing; nothing else is */
	m = msg(VF_MSG_HELLO, 1, 1);
	m->hdr.status = EPROTONOSUPPORT;
	m->hdr.version = 1;
	strcpy(m->error.msg, "this server speaks version 2");
	CHECK(vf_msg_encode(m, buf, sizeof(buf)) > 0);
	CHECK_EQ(buf[4], 1);
	m->hdr.status = 0;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	m = msg(VF_MSG_STATS, 0, 1);
	m->hdr.version = 1;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
}

/* Decodes buf[0..len) and expects refusal with `err`. */
static void refuse(size_t len, int err, const char *what)
{
	struct vf_msg d;
	const char *why = NULL;
	int ret = vf_msg_decode(buf, len, &d, &why);

	if (ret != err)
		fprintf(stderr, "%s: expected %d, got %d\n", what, err, ret);
	CHECK_EQ(ret, err);
	CHECK(why != NULL);
}

static long enc(struct vf_msg *m)
{
	long n = vf_msg_encode(m, buf, sizeof(buf));

	CHECK(n > 0);
	return n;
}

static void test_malformed_header(void)
{
	struct vf_msg *m = msg(VF_MSG_STATS, 0, 1);
	long n = enc(m);

	refuse(0, -EBADMSG, "empty");
	refuse(VF_HDR_SIZE - 1, -EBADMSG, "short header");
	buf[0] ^= 1;
	refuse((size_t)n, -EBADMSG, "magic");
	buf[0] ^= 1;
	buf[4] = 1;
	refuse((size_t)n, -EPROTONOSUPPORT, "version 1");
	{
		struct vf_msg d;

		vf_msg_decode(buf, (size_t)n, &d, NULL);
		CHECK_EQ(d.hdr.version, 1); /* for a refusal in its framing */
	}
	buf[4] = VF_PROTO_VERSION + 1;
	refuse((size_t)n, -EPROTONOSUPPORT, "a newer version");
	buf[4] = VF_PROTO_VERSION;
	buf[5] = 0;
	refuse((size_t)n, -EBADMSG, "type 0");
	buf[5] = VF_MSG_TYPE_MAX + 1;
	refuse((size_t)n, -EBADMSG, "type too big");
	buf[5] = VF_MSG_STATS;
	buf[6] = 0x02;
	refuse((size_t)n, -EBADMSG, "flags");
	buf[6] = 0;
	buf[12] = 5;
	refuse((size_t)n, -EBADMSG, "request with status");
	buf[12] = 0;
	put32(buf + 8, VF_MAX_PAYLOAD + 1);
	refuse((size_t)n, -EBADMSG, "oversized length");
	put32(buf + 8, 0);
	refuse((size_t)n + 1, -EBADMSG, "trailing bytes");
	put32(buf + 8, 1);
	refuse((size_t)n, -EBADMSG, "length beyond buffer");
}

/* Every proper prefix of a valid message is refused as truncated. */
static void test_truncated(void)
{
	struct vf_msg *m = msg(VF_MSG_HELLO, 1, 9);
	long n;

	m->hello_rep.slab_size = 1 << 20;
	m->hello_rep.capacity = 8 << 20;
	n = enc(m);
	for (long len = 0; len < n; len++)
		refuse((size_t)len, -EBADMSG, "prefix");

	/* a header that claims less than its type needs */
	m = msg(VF_MSG_LOGIN, 0, 1);
	n = enc(m);
	put32(buf + 8, 79);
	refuse((size_t)n - 1, -EBADMSG, "LOGIN 79 bytes");
	m = msg(VF_MSG_READ, 0, 1);
	m->io.len = 1;
	n = enc(m);
	put32(buf + 8, 8);
	refuse((size_t)n - 8, -EBADMSG, "READ 8 bytes");
}

static void test_bad_bodies(void)
{
	struct vf_msg *m;
	uint32_t ids[2] = { 1, 2 };
	long n;

	/* HELLO name: length field, printable, empty */
	m = msg(VF_MSG_HELLO, 0, 1);
	strcpy(m->hello.name, "abc");
	n = enc(m);
	buf[VF_HDR_SIZE + 4] = 4; /* name length 4, 3 bytes present */
	refuse((size_t)n, -EBADMSG, "HELLO name length");
	buf[VF_HDR_SIZE + 4] = 3;
	buf[VF_HDR_SIZE + 9] = '\n';
	refuse((size_t)n, -EBADMSG, "HELLO name control char");
	buf[VF_HDR_SIZE + 9] = 'b';
	buf[VF_HDR_SIZE + 6] = 1;
	refuse((size_t)n, -EBADMSG, "HELLO reserved");
	buf[VF_HDR_SIZE + 6] = 0;
	buf[VF_HDR_SIZE] = 1;
	refuse((size_t)n, -EBADMSG, "HELLO features");
	m->hello.name[0] = '\0';
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	memset(m->hello.name, 'x', VF_NAME_MAX);
	m->hello.name[VF_NAME_MAX] = '\0';
	CHECK(vf_msg_encode(m, buf, sizeof(buf)) > 0);

	/* ALLOC counts */
	m = msg(VF_MSG_ALLOC, 0, 1);
	m->alloc.count = 0;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	m->alloc.count = VF_MAX_SLABS_PER_MSG + 1;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	m->alloc.count = 1;
	n = enc(m);
	put32(buf + VF_HDR_SIZE, 0);
	refuse((size_t)n, -EBADMSG, "ALLOC count 0");
	put32(buf + VF_HDR_SIZE, VF_MAX_SLABS_PER_MSG + 1);
	refuse((size_t)n, -EBADMSG, "ALLOC count too big");
	put32(buf + VF_HDR_SIZE, 1);
	put32(buf + VF_HDR_SIZE + 4, 1);
	refuse((size_t)n, -EBADMSG, "ALLOC reserved");

	/* FREE count must match the length */
	m = msg(VF_MSG_FREE, 0, 1);
	m->free.count = 2;
	m->free.ids = ids;
	n = enc(m);
	put32(buf + VF_HDR_SIZE, 3);
	refuse((size_t)n, -EBADMSG, "FREE count > ids");
	put32(buf + VF_HDR_SIZE, 1);
	refuse((size_t)n, -EBADMSG, "FREE count < ids");

	/* READ/WRITE lengths and offsets */
	m = msg(VF_MSG_READ, 0, 1);
	m->io.len = VF_MAX_IO + 1;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	m->io.len = 4096;
	m->io.off = UINT64_MAX - 100;
	n = enc(m);
	refuse((size_t)n, -EBADMSG, "READ offset overflow");
	m->io.off = 0;
	n = enc(m);
	put32(buf + VF_HDR_SIZE + 4, 0);
	refuse((size_t)n, -EBADMSG, "READ length 0");
	put32(buf + VF_HDR_SIZE + 4, VF_MAX_IO + 1);
	refuse((size_t)n, -EBADMSG, "READ length too big");

	m = msg(VF_MSG_WRITE, 0, 1);
	m->io.len = 100;
	m->io.data = data;
	n = enc(m);
	put32(buf + VF_HDR_SIZE + 4, 101);
	refuse((size_t)n, -EBADMSG, "WRITE data shorter than its length");
	put32(buf + VF_HDR_SIZE + 4, 99);
	refuse((size_t)n, -EBADMSG, "WRITE data longer than its length");

	m = msg(VF_MSG_READ, 1, 1);
	m->read_rep.len = 0;
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);

	/* STATS reply field count */
	m = msg(VF_MSG_STATS, 1, 1);
	n = enc(m);
	put32(buf + VF_HDR_SIZE, VF_STATS_NFIELDS - 1);
	refuse((size_t)n, -EBADMSG, "STATS too few fields");

	/* LOGIN reply with a zero token */
	m = msg(VF_MSG_LOGIN, 1, 1);
	n = enc(m);
	refuse((size_t)n, -EBADMSG, "LOGIN zero token");

	/* HELLO reply whose capacity is not whole slabs */
	m = msg(VF_MSG_HELLO, 1, 1);
	m->hello_rep.slab_size = 3;
	m->hello_rep.capacity = 10;
	n = enc(m);
	refuse((size_t)n, -EBADMSG, "HELLO capacity");
	m->hello_rep.slab_size = 0;
	n = enc(m);
	refuse((size_t)n, -EBADMSG, "HELLO slab size 0");

	/* error text */
	m = msg(VF_MSG_FREE, 1, 1);
	m->hdr.status = EPERM;
	strcpy(m->error.msg, "no");
	n = enc(m);
	buf[VF_HDR_SIZE + 1] = 0x7f;
	refuse((size_t)n, -EBADMSG, "error text not printable");
	put32(buf + 12, 5000);
	refuse((size_t)n, -EBADMSG, "status not an errno");

	/* a LOGIN refusal shorter than its MAC, or with a bad text after it */
	m = msg(VF_MSG_LOGIN, 1, 1);
	m->hdr.status = ESTALE;
	strcpy(m->error.msg, "gone");
	n = enc(m);
	put32(buf + 8, VF_MAC_LEN - 1);
	refuse(VF_HDR_SIZE + VF_MAC_LEN - 1, -EBADMSG, "LOGIN refusal without its MAC");
	n = enc(m);
	buf[VF_HDR_SIZE + VF_MAC_LEN] = 0x01;
	refuse((size_t)n, -EBADMSG, "LOGIN refusal text not printable");
	memset(m->error.msg, 'x', VF_ERRMSG_MAX);
	m->error.msg[VF_ERRMSG_MAX] = '\0';
	n = enc(m);
	CHECK_EQ(n, VF_HDR_SIZE + VF_MAC_LEN + VF_ERRMSG_MAX);
	put32(buf + 8, VF_MAC_LEN + VF_ERRMSG_MAX + 1);
	refuse((size_t)n + 1, -EBADMSG, "LOGIN refusal too long");

	/* BYE flags */
	m = msg(VF_MSG_BYE, 0, 1);
	n = enc(m);
	buf[VF_HDR_SIZE] = 1;
	refuse((size_t)n, -EBADMSG, "BYE flags");

	/* empty replies must be empty */
	m = msg(VF_MSG_WRITE, 1, 1);
	n = enc(m);
	put32(buf + 8, 1);
	refuse((size_t)n + 1, -EBADMSG, "WRITE reply with payload");
}

static void test_encode_limits(void)
{
	struct vf_msg *m = msg(VF_MSG_ALLOC, 1, 1);
	static struct vf_slab_desc many[VF_MAX_SLABS_PER_MSG];
	size_t bulk = 99;
	long n;

	m->alloc_rep.count = VF_MAX_SLABS_PER_MSG;
	m->alloc_rep.descs = many;
	n = vf_msg_encode_head(m, buf, sizeof(buf), &bulk);
	CHECK_EQ(n, VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE);
	CHECK_EQ(bulk, 0);
	CHECK_EQ(vf_msg_encode_head(m, buf, 100, &bulk), -ENOSPC);

	m = msg(VF_MSG_WRITE, 0, 1);
	m->io.len = 512;
	m->io.data = data;
	n = vf_msg_encode_head(m, buf, sizeof(buf), &bulk);
	CHECK_EQ(n, VF_HDR_SIZE + VF_IO_HDR_SIZE);
	CHECK_EQ(bulk, 512);

	m = msg(0, 0, 1);
	CHECK_EQ(vf_msg_encode(m, buf, sizeof(buf)), -EINVAL);
	CHECK_STR(vf_msg_type_name(VF_MSG_WRITE), "WRITE");
	CHECK_STR(vf_msg_type_name(77), "?");
}

int main(void)
{
	vf_log_init("test_proto", LOG_CRIT);
	UNIT_RUN(test_roundtrip);
	UNIT_RUN(test_malformed_header);
	UNIT_RUN(test_truncated);
	UNIT_RUN(test_bad_bodies);
	UNIT_RUN(test_encode_limits);
	return unit_done();
}
