// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the fuzzers' seeds into DIR: one valid message of each kind
 * (fuzz_proto), or with --client the inputs of fuzz_client: handshakes
 * whose LOGIN replies carry forged, zero and truncated MACs, and replies
 * to each kind of operation.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vofirm/proto.h"

static uint8_t buf[VF_HDR_SIZE + VF_MAX_PAYLOAD];
static uint8_t in[2 * (VF_HDR_SIZE + 1024)];

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(p, 1, n, f) != n)
		return 1;
	return fclose(f) != 0;
}

/* A handshake input of fuzz_client: mode, u16 length of the HELLO reply,
 * the HELLO reply, the LOGIN reply (cut to `cut` bytes if not 0). */
static int put_handshake(const char *dir, const char *name, uint8_t mode, bool auth,
			 struct vf_msg *login, size_t cut)
{
	struct vf_msg h;
	long a, b;

	memset(&h, 0, sizeof(h));
	h.hdr.type = VF_MSG_HELLO;
	h.hdr.flags = VF_HDR_F_REPLY;
	h.hello_rep.flags = auth ? VF_HELLO_F_AUTH : 0;
	h.hello_rep.lease_ms = 60000;
	h.hello_rep.slab_size = 1 << 20;
	h.hello_rep.capacity = 16 << 20;
	memset(h.hello_rep.instance, 0x42, VF_INSTANCE_LEN);
	memset(h.hello_rep.nonce, 0x17, VF_NONCE_LEN);
	a = vf_msg_encode(&h, in + 3, sizeof(in) - 3);
	if (a < 0)
		return 1;
	b = vf_msg_encode(login, in + 3 + a, sizeof(in) - 3 - (size_t)a);
	if (b < 0)
		return 1;
	if (cut) {
		/* a header that says the payload is that short (u32 LE) */
		uint8_t *len = in + 3 + a + 8;

		len[0] = (uint8_t)(cut - VF_HDR_SIZE);
		len[1] = len[2] = len[3] = 0;
		b = (long)cut;
	}
	in[0] = mode;
	in[1] = (uint8_t)a;
	in[2] = (uint8_t)(a >> 8);
	return write_file(dir, name, in, 3 + (size_t)a + (size_t)b);
}

/* A reply-path input of fuzz_client: odd mode, op type index, count byte. */
static int put_reply(const char *dir, const char *name, uint8_t type_idx, uint8_t count,
		     struct vf_msg *m)
{
	long n = vf_msg_encode(m, in + 3, sizeof(in) - 3);

	if (n < 0)
		return 1;
	in[0] = 1;
	in[1] = type_idx;
	in[2] = count;
	return write_file(dir, name, in, 3 + (size_t)n);
}

static int client_seeds(const char *dir)
{
	struct vf_slab_desc d[2] = { { 1, 2, 3 }, { 4, 5, 6 } };
	static uint8_t data[512];
	struct vf_msg m;
	int bad = 0;

#define REP(t) (memset(&m, 0, sizeof(m)), m.hdr.type = (t), m.hdr.flags = VF_HDR_F_REPLY)
	REP(VF_MSG_LOGIN);
	m.hdr.status = 116;
	memset(m.error.mac, 0xee, VF_MAC_LEN);
	strcpy(m.error.msg, "session unknown");
	bad |= put_handshake(dir, "estale-forged-mac", 6, true, &m, 0);
	bad |= put_handshake(dir, "estale-truncated-mac", 6, true, &m, VF_HDR_SIZE + 20);
	memset(m.error.mac, 0, VF_MAC_LEN);
	bad |= put_handshake(dir, "estale-zero-mac", 6, true, &m, 0);
	bad |= put_handshake(dir, "estale-no-auth", 4, false, &m, 0);
	REP(VF_MSG_LOGIN);
	m.hdr.status = 13;
	strcpy(m.error.msg, "wrong key");
	bad |= put_handshake(dir, "eacces-forged", 2, true, &m, 0);
	REP(VF_MSG_LOGIN);
	m.login_rep.token[0] = 1;
	memset(m.login_rep.mac, 0x33, VF_MAC_LEN);
	bad |= put_handshake(dir, "login-forged-mac", 2, true, &m, 0);
	m.login_rep.flags = VF_LOGIN_F_RESUMED;
	m.login_rep.nslabs = 3;
	bad |= put_handshake(dir, "resume-forged-mac", 6, true, &m, 0);
	bad |= put_handshake(dir, "resume-truncated-mac", 6, true, &m, VF_HDR_SIZE + 40);
	bad |= put_handshake(dir, "resume-no-auth", 4, false, &m, 0);

	/* op types: READ, WRITE, ALLOC, FREE, STATS, LIST, BYE, GRANT, ACCEPT,
	 * GIVE, REVOKE (fuzz_client.c) */
	REP(VF_MSG_READ);
	m.read_rep.len = 512;
	m.read_rep.data = data;
	bad |= put_reply(dir, "read-rep", 0, 0, &m);
	REP(VF_MSG_WRITE);
	bad |= put_reply(dir, "write-rep", 1, 0, &m);
	REP(VF_MSG_ALLOC);
	m.alloc_rep.count = 2;
	m.alloc_rep.descs = d;
	bad |= put_reply(dir, "alloc-rep", 2, 1, &m);
	REP(VF_MSG_FREE);
	m.hdr.status = 1;
	strcpy(m.error.msg, "not yours");
	bad |= put_reply(dir, "free-refused", 3, 0, &m);
	REP(VF_MSG_STATS);
	m.stats_rep.capacity = 7;
	bad |= put_reply(dir, "stats-rep", 4, 0, &m);
	REP(VF_MSG_LIST);
	m.list_rep.count = 2;
	m.list_rep.total = 9;
	m.list_rep.descs = d;
	bad |= put_reply(dir, "list-rep", 5, 3, &m);
	REP(VF_MSG_BYE);
	bad |= put_reply(dir, "bye-rep", 6, 0, &m);
	REP(VF_MSG_GRANT);
	memset(m.grant_rep.token, 0x5a, VF_GRANT_LEN);
	m.grant_rep.total = 3;
	bad |= put_reply(dir, "grant-rep", 7, 0, &m);
	REP(VF_MSG_ACCEPT);
	m.list_rep.count = 2;
	m.list_rep.total = 2;
	m.list_rep.descs = d;
	bad |= put_reply(dir, "accept-rep", 8, 3, &m);
	REP(VF_MSG_GIVE);
	bad |= put_reply(dir, "give-rep", 9, 0, &m);
	if (bad)
		perror("gen_corpus");
	return bad;
}

static int put(const char *dir, const char *name, struct vf_msg *m)
{
	long n = vf_msg_encode(m, buf, sizeof(buf));

	if (n < 0)
		return 1;
	return write_file(dir, name, buf, (size_t)n);
}

int main(int argc, char **argv)
{
	static uint8_t data[4096];
	struct vf_slab_desc d[2] = { { 1, 2, 3 }, { 4, 5, 6 } };
	uint32_t ids[2] = { 1, 2 };
	struct vf_msg m;
	int bad = 0;

	if (argc == 3 && !strcmp(argv[1], "--client"))
		return client_seeds(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: %s [--client] DIR\n", argv[0]);
		return 2;
	}
#define MSG(t, r) (memset(&m, 0, sizeof(m)), m.hdr.type = (t), m.hdr.flags = (r), m.hdr.tag = 42)
	MSG(VF_MSG_HELLO, 0);
	strcpy(m.hello.name, "seed");
	bad |= put(argv[1], "hello", &m);
	MSG(VF_MSG_HELLO, 1);
	m.hello_rep.slab_size = 1 << 20;
	m.hello_rep.capacity = 4 << 20;
	bad |= put(argv[1], "hello-rep", &m);
	MSG(VF_MSG_LOGIN, 0);
	bad |= put(argv[1], "login", &m);
	MSG(VF_MSG_LOGIN, 1);
	m.login_rep.token[0] = 1;
	bad |= put(argv[1], "login-rep", &m);
	MSG(VF_MSG_ALLOC, 0);
	m.alloc.count = 2;
	bad |= put(argv[1], "alloc", &m);
	MSG(VF_MSG_ALLOC, 1);
	m.alloc_rep.count = 2;
	m.alloc_rep.descs = d;
	bad |= put(argv[1], "alloc-rep", &m);
	MSG(VF_MSG_FREE, 0);
	m.free.count = 2;
	m.free.ids = ids;
	bad |= put(argv[1], "free", &m);
	MSG(VF_MSG_FREE, 1);
	bad |= put(argv[1], "free-rep", &m);
	MSG(VF_MSG_STATS, 0);
	bad |= put(argv[1], "stats", &m);
	MSG(VF_MSG_STATS, 1);
	m.stats_rep.capacity = 7;
	bad |= put(argv[1], "stats-rep", &m);
	MSG(VF_MSG_READ, 0);
	m.io.len = 4096;
	bad |= put(argv[1], "read", &m);
	MSG(VF_MSG_READ, 1);
	m.read_rep.len = 64;
	m.read_rep.data = data;
	bad |= put(argv[1], "read-rep", &m);
	MSG(VF_MSG_WRITE, 0);
	m.io.len = 64;
	m.io.data = data;
	bad |= put(argv[1], "write", &m);
	MSG(VF_MSG_WRITE, 1);
	bad |= put(argv[1], "write-rep", &m);
	MSG(VF_MSG_BYE, 0);
	bad |= put(argv[1], "bye", &m);
	MSG(VF_MSG_LIST, 0);
	m.list.max = 16;
	bad |= put(argv[1], "list", &m);
	MSG(VF_MSG_LIST, 1);
	m.list_rep.count = 2;
	m.list_rep.total = 5;
	m.list_rep.descs = d;
	bad |= put(argv[1], "list-rep", &m);
	MSG(VF_MSG_GRANT, 0);
	m.grant.ttl_ms = 60000;
	m.grant.count = 2;
	m.grant.ids = ids;
	bad |= put(argv[1], "grant", &m);
	MSG(VF_MSG_GRANT, 1);
	memset(m.grant_rep.token, 0x5a, VF_GRANT_LEN);
	m.grant_rep.total = 2;
	bad |= put(argv[1], "grant-rep", &m);
	MSG(VF_MSG_ACCEPT, 0);
	memset(m.accept.token, 0x5a, VF_GRANT_LEN);
	m.accept.max = 16;
	bad |= put(argv[1], "accept", &m);
	MSG(VF_MSG_ACCEPT, 1);
	m.list_rep.count = 2;
	m.list_rep.total = 2;
	m.list_rep.descs = d;
	bad |= put(argv[1], "accept-rep", &m);
	MSG(VF_MSG_GIVE, 0);
	memset(m.give.token, 0x5a, VF_GRANT_LEN);
	bad |= put(argv[1], "give", &m);
	MSG(VF_MSG_REVOKE, 0);
	memset(m.give.token, 0x5a, VF_GRANT_LEN);
	bad |= put(argv[1], "revoke", &m);
	MSG(VF_MSG_GIVE, 1);
	bad |= put(argv[1], "give-rep", &m);
	MSG(VF_MSG_ALLOC, 1);
	m.hdr.status = 28;
	strcpy(m.error.msg, "pool full");
	bad |= put(argv[1], "error", &m);
	MSG(VF_MSG_LOGIN, 1);
	m.hdr.status = 116;
	memset(m.error.mac, 0xee, VF_MAC_LEN);
	strcpy(m.error.msg, "session unknown");
	bad |= put(argv[1], "login-refused", &m);
	if (bad)
		perror("gen_corpus");
	return bad;
}
