/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-shared key authentication (docs/protocol.md, "Authentication").
 * Both sides prove knowledge of the key with HMAC-SHA256 over both
 * nonces, so neither a client nor a server can be impersonated by a peer
 * that lacks the key, and a recorded exchange cannot be replayed.
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

/* Client proof: HMAC(key, "vofirm-login-v1" snonce cnonce token name). */
void vf_auth_client_mac(const struct vf_key *key,
			const uint8_t snonce[VF_NONCE_LEN],
			const uint8_t cnonce[VF_NONCE_LEN],
			const uint8_t token[VF_TOKEN_LEN], const char *name,
			uint8_t mac[VF_MAC_LEN]);

/* Server proof: HMAC(key, "vofirm-server-v1" cnonce snonce token). */
void vf_auth_server_mac(const struct vf_key *key,
			const uint8_t cnonce[VF_NONCE_LEN],
			const uint8_t snonce[VF_NONCE_LEN],
			const uint8_t token[VF_TOKEN_LEN],
			uint8_t mac[VF_MAC_LEN]);

/* Constant-time comparison of two MACs; 1 when equal. */
int vf_mac_equal(const uint8_t a[VF_MAC_LEN], const uint8_t b[VF_MAC_LEN]);

/* Fills buf from the kernel's CSPRNG; 0 or -errno. */
int vf_random(void *buf, size_t len);

#endif
