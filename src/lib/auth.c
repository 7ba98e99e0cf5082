// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "vofirm/auth.h"
#include "vofirm/log.h"

int vf_key_load(const char *path, unsigned flags, struct vf_key *key)
{
	uint8_t buf[VF_KEY_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, err;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		err = errno;
		vf_err("key file %s: cannot open: %s", path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		err = errno;
		vf_err("key file %s: cannot stat: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		vf_err("key file %s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		vf_err("key file %s: owned by uid %u, not by this user (uid %u) or root: "
		       "anyone who can write it chooses the key",
		       path, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		if (!(flags & VF_KEY_INSECURE_PERMS)) {
			vf_err("key file %s: accessible by group or others (mode %04o): chmod 600 "
			       "it (or accept the risk with --insecure-key-perms)",
			       path, (unsigned)(st.st_mode & 07777));
			close(fd);
			return -EPERM;
		}
		vf_warn("key file %s is accessible by group or others (mode %04o); accepted "
			"(--insecure-key-perms)",
			path, (unsigned)(st.st_mode & 07777));
	}
	n = read(fd, buf, sizeof(buf));
	err = errno;
	close(fd);
	if (n < 0) {
		vf_err("key file %s: cannot read: %s", path, strerror(err));
		return -err;
	}
	if ((size_t)n > VF_KEY_MAX) {
		vf_err("key file %s: longer than %u bytes", path, VF_KEY_MAX);
		return -EINVAL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	if (n < VF_KEY_MIN) {
		vf_err("key file %s: key too short (%zd bytes, need at least %d; "
		       "make one with: head -c 32 /dev/urandom | base64 > %s)",
		       path, n, VF_KEY_MIN, path);
		return -EINVAL;
	}
	memcpy(key->bytes, buf, (size_t)n);
	key->len = (size_t)n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* HMAC-SHA256 over a label (its NUL included: it separates the domains)
 * and then (pointer, length) pairs up to a NULL pointer. */
static void hmac(const struct vf_key *key, const char *label, uint8_t mac[VF_MAC_LEN], ...)
{
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key->bytes, key->len);
	gsize len = VF_MAC_LEN;
	const uint8_t *p;
	va_list ap;

	g_hmac_update(h, (const guchar *)label, (gssize)strlen(label) + 1);
	va_start(ap, mac);
	while ((p = va_arg(ap, const uint8_t *)))
		g_hmac_update(h, p, (gssize)va_arg(ap, size_t));
	va_end(ap);
	g_hmac_get_digest(h, mac, &len);
	g_hmac_unref(h);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void vf_auth_client_mac(const struct vf_key *key, const uint8_t snonce[VF_NONCE_LEN],
			const uint8_t cnonce[VF_NONCE_LEN], const uint8_t token[VF_TOKEN_LEN],
			const char *name, uint8_t mac[VF_MAC_LEN])
{
	hmac(key, "vofirm-login-v2", mac, snonce, (size_t)VF_NONCE_LEN, cnonce,
	     (size_t)VF_NONCE_LEN, token, (size_t)VF_TOKEN_LEN, (const uint8_t *)name, strlen(name),
	     NULL);
}

void vf_auth_server_mac(const struct vf_key *key, const uint8_t cnonce[VF_NONCE_LEN],
			const uint8_t snonce[VF_NONCE_LEN], const uint8_t facts[VF_HELLO_FACTS_LEN],
			uint32_t flags, uint32_t nslabs, const uint8_t token[VF_TOKEN_LEN],
			uint8_t mac[VF_MAC_LEN])
{
	uint8_t f[4], n[4];

	le32(f, flags);
	le32(n, nslabs);
	hmac(key, "vofirm-server-v2", mac, cnonce, (size_t)VF_NONCE_LEN, snonce,
	     (size_t)VF_NONCE_LEN, facts, (size_t)VF_HELLO_FACTS_LEN, f, sizeof(f), n, sizeof(n),
	     token, (size_t)VF_TOKEN_LEN, NULL);
}

void vf_auth_refusal_mac(const struct vf_key *key, const uint8_t cnonce[VF_NONCE_LEN],
			 const uint8_t snonce[VF_NONCE_LEN],
			 const uint8_t facts[VF_HELLO_FACTS_LEN], const uint8_t token[VF_TOKEN_LEN],
			 uint32_t status, const char *text, uint8_t mac[VF_MAC_LEN])
{
	uint8_t st[4];

	le32(st, status);
	hmac(key, "vofirm-refusal-v2", mac, cnonce, (size_t)VF_NONCE_LEN, snonce,
	     (size_t)VF_NONCE_LEN, facts, (size_t)VF_HELLO_FACTS_LEN, token, (size_t)VF_TOKEN_LEN,
	     st, sizeof(st), (const uint8_t *)text, strlen(text), NULL);
}

int vf_mac_equal(const uint8_t a[VF_MAC_LEN], const uint8_t b[VF_MAC_LEN])
{
	uint8_t d = 0;

	for (unsigned i = 0; i < VF_MAC_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int vf_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
