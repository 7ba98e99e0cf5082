// SPDX-License-Identifier: GPL-2.0-or-later
/* Key files and the authentication MACs (fixed vectors pin the wire format). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "vofirm/auth.h"
#include "vofirm/log.h"

/* computed independently (Python hmac) from docs/protocol.md */
#define CLIENT_VECTOR "d5dcd4f7d2c3c8cfa5e10205dfa2f9746c637462fd01427d01b844c406aa5815"
#define SERVER_VECTOR "bf7fe7eba9061dee5728d2818f03af07278f84c5a2583bd2e0760f55f3eb56df"
#define REFUSAL_VECTOR "58fa83196c312ce9a323ce2174587e7ebccefeaf19c8aca82e694c6377d953c5"

static char dir[] = "/tmp/vofirm-test-auth-XXXXXX";

static const char *write_file(const char *name, const char *content, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void test_key_files(void)
{
	struct vf_key k;

	CHECK_EQ(vf_key_load("/nonexistent/vofirm.key", 0, &k), -ENOENT);
	CHECK_EQ(vf_key_load(write_file("short", "tooshort\n", 0600), 0, &k), -EINVAL);
	CHECK_EQ(vf_key_load(write_file("good", "0123456789abcdef-key \n\n", 0600), 0, &k), 0);
	CHECK_EQ(k.len, 20);
	CHECK(!memcmp(k.bytes, "0123456789abcdef-key", 20));
	CHECK_EQ(vf_key_load(dir, 0, &k), -EINVAL); /* a directory */
	/* group or others may read it: refused, or accepted when told so */
	CHECK_EQ(vf_key_load(write_file("open", "0123456789abcdef-key\n", 0640), 0, &k), -EPERM);
	CHECK_EQ(vf_key_load(write_file("open2", "0123456789abcdef-key\n", 0604),
			     VF_KEY_INSECURE_PERMS, &k),
		 0);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_macs(void)
{
	struct vf_key k = { .len = 16 }, k2 = { .len = 16 };
	uint8_t sn[VF_NONCE_LEN], cn[VF_NONCE_LEN], tok[VF_TOKEN_LEN] = { 0 };
	uint8_t newtok[VF_TOKEN_LEN], facts[VF_HELLO_FACTS_LEN], f2[VF_HELLO_FACTS_LEN];
	uint8_t m1[VF_MAC_LEN], m2[VF_MAC_LEN];
	char h[2 * VF_MAC_LEN + 1];
	struct vf_msg hello;

	memcpy(k.bytes, "0123456789abcdef", 16);
	memcpy(k2.bytes, "0123456789abcdeg", 16);
	for (unsigned i = 0; i < VF_NONCE_LEN; i++) {
		sn[i] = (uint8_t)i;
		cn[i] = (uint8_t)(0xff - i);
	}
	for (unsigned i = 0; i < VF_TOKEN_LEN; i++)
		newtok[i] = (uint8_t)(i + 1);
	memset(&hello, 0, sizeof(hello));
	hello.hdr.type = VF_MSG_HELLO;
	hello.hdr.flags = VF_HDR_F_REPLY;
	hello.hello_rep.flags = VF_HELLO_F_AUTH;
	hello.hello_rep.lease_ms = 60000;
	hello.hello_rep.slab_size = 64 << 20;
	hello.hello_rep.capacity = 1 << 30;
	for (unsigned i = 0; i < VF_INSTANCE_LEN; i++)
		hello.hello_rep.instance[i] = (uint8_t)(0xa0 + i);
	vf_hello_facts(&hello, facts);

	/* Fixed vectors: a change here breaks every deployed peer. */
	vf_auth_client_mac(&k, sn, cn, tok, "client", m1);
	hex(m1, VF_MAC_LEN, h);
	CHECK_STR(h, CLIENT_VECTOR);
	vf_auth_server_mac(&k, cn, sn, facts, 0, 3, newtok, m1);
	hex(m1, VF_MAC_LEN, h);
	CHECK_STR(h, SERVER_VECTOR);
	vf_auth_refusal_mac(&k, cn, sn, facts, tok, ESTALE, "session unknown", m1);
	hex(m1, VF_MAC_LEN, h);
	CHECK_STR(h, REFUSAL_VECTOR);

	/* every fact of the HELLO reply and of the verdict is covered */
	memcpy(f2, facts, sizeof(f2));
	f2[4] ^= 1; /* the lease */
	vf_auth_refusal_mac(&k, cn, sn, f2, tok, ESTALE, "session unknown", m2);
	CHECK(!vf_mac_equal(m1, m2));
	memcpy(f2, facts, sizeof(f2));
	f2[VF_HELLO_FACTS_LEN - 1] ^= 1; /* the instance */
	vf_auth_refusal_mac(&k, cn, sn, f2, tok, ESTALE, "session unknown", m2);
	CHECK(!vf_mac_equal(m1, m2));
	vf_auth_refusal_mac(&k, cn, sn, facts, tok, EACCES, "session unknown", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* another status */
	vf_auth_refusal_mac(&k, cn, sn, facts, newtok, ESTALE, "session unknown", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* about another session */
	vf_auth_refusal_mac(&k, sn, cn, facts, tok, ESTALE, "session unknown", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* nonces swapped */
	vf_auth_server_mac(&k, cn, sn, facts, 0, 3, newtok, m1);
	vf_auth_server_mac(&k, cn, sn, facts, VF_LOGIN_F_RESUMED, 3, newtok, m2);
	CHECK(!vf_mac_equal(m1, m2)); /* the resumed flag */
	vf_auth_server_mac(&k, cn, sn, facts, 0, 4, newtok, m2);
	CHECK(!vf_mac_equal(m1, m2)); /* the slab count */

	vf_auth_client_mac(&k, sn, cn, tok, "client", m1);
	vf_auth_client_mac(&k2, sn, cn, tok, "client", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* another key */
	vf_auth_client_mac(&k, sn, cn, tok, "clienT", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* another name */
	tok[3] = 1;
	vf_auth_client_mac(&k, sn, cn, tok, "client", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* another token */
	tok[3] = 0;
	vf_auth_client_mac(&k, cn, sn, tok, "client", m2);
	CHECK(!vf_mac_equal(m1, m2)); /* nonces swapped */
	vf_auth_server_mac(&k, sn, cn, facts, 0, 0, tok, m2);
	CHECK(!vf_mac_equal(m1, m2)); /* server proof is not the client's */
	vf_auth_client_mac(&k, sn, cn, tok, "client", m2);
	CHECK(vf_mac_equal(m1, m2));
}

static void test_random(void)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	CHECK_EQ(vf_random(a, sizeof(a)), 0);
	CHECK_EQ(vf_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
}

int main(void)
{
	vf_log_init("test_auth", LOG_CRIT);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_key_files);
	UNIT_RUN(test_macs);
	UNIT_RUN(test_random);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
			/* leftover temp dir: harmless */
		}
	}
	return unit_done();
}
