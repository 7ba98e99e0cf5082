/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-shared key authentication (docs/protocol.md, "Authentication").
 * Both sides prove knowledge of the key with HMAC-SHA256 over both
 * nonces, so neither a client nor a server can be impersonated by a peer
 * that lacks the key, and a recorded exchange cannot be replayed.  The
 * server's proofs also cover what it said in HELLO and its verdict on the
 * LOGIN, accepted or refused.
 */
#ifndef VOFIRM_AUTH_H
#define VOFIRM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "vofirm/proto.h"

#define VF_KEY_MIN 16
#define VF_KEY_MAX 1024

struct vf_key {
	size_t len;
	uint8_t bytes[VF_KEY_MAX];
};

/*
 * Reads a key file: its contents less trailing white space, at least
 * VF_KEY_MIN bytes.  The file must be a regular file (a FIFO or device
 * never blocks the caller), owned by this user or root, and not
 * accessible by group or others unless VF_KEY_INSECURE_PERMS (then a
 * warning).  Logs what is wrong (naming the file) and returns -errno.
 */
#define VF_KEY_INSECURE_PERMS 0x1
int vf_key_load(const char *path, unsigned flags, struct vf_key *key);

/* Client proof: HMAC(key, "vofirm-login-v2" snonce cnonce token name). */
void vf_auth_client_mac(const struct vf_key *key, const uint8_t snonce[VF_NONCE_LEN],
			const uint8_t cnonce[VF_NONCE_LEN], const uint8_t token[VF_TOKEN_LEN],
			const char *name, uint8_t mac[VF_MAC_LEN]);

/*
 * Server proof of an accepted LOGIN: HMAC(key, "vofirm-server-v2" cnonce
 * snonce facts flags nslabs token), facts being the HELLO reply's
 * (vf_hello_facts), flags and nslabs the LOGIN reply's, little-endian.
 * It authenticates what the HELLO reply said as well.
 */
void vf_auth_server_mac(const struct vf_key *key, const uint8_t cnonce[VF_NONCE_LEN],
			const uint8_t snonce[VF_NONCE_LEN], const uint8_t facts[VF_HELLO_FACTS_LEN],
			uint32_t flags, uint32_t nslabs, const uint8_t token[VF_TOKEN_LEN],
			uint8_t mac[VF_MAC_LEN]);

/*
 * Server proof of a refused LOGIN: HMAC(key, "vofirm-refusal-v2" cnonce
 * snonce facts token status text), token being the one the LOGIN asked
 * for and status little-endian.  Without it a client cannot tell the
 * server's verdict ("that session is gone") from a forgery.
 */
void vf_auth_refusal_mac(const struct vf_key *key, const uint8_t cnonce[VF_NONCE_LEN],
			 const uint8_t snonce[VF_NONCE_LEN],
			 const uint8_t facts[VF_HELLO_FACTS_LEN], const uint8_t token[VF_TOKEN_LEN],
			 uint32_t status, const char *text, uint8_t mac[VF_MAC_LEN]);

/* Constant-time comparison of two MACs; 1 when equal. */
int vf_mac_equal(const uint8_t a[VF_MAC_LEN], const uint8_t b[VF_MAC_LEN]);

/* Fills buf from the kernel's CSPRNG; 0 or -errno. */
int vf_random(void *buf, size_t len);

#endif
