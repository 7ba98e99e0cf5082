// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Handing a file from one mount to another (live migration that leaves
 * the memory where it is; docs/architecture.md, "Handing a file over").
 *
 * The source exports a file: every server that holds a copy of one of its
 * extents is asked for a one-time grant of those slabs (GRANT), and the
 * handoff names the servers, the grants' tokens, the file's extents as
 * runs of slab ids (not pages: a TiB file in contiguous slabs is a few
 * runs) and its written-page bits as run lengths.  It is MAC'd with the
 * mount's key, so a destination with the same key takes nothing from a
 * handoff someone changed.  The destination imports it: it redeems every
 * grant (ACCEPT: from then on both mounts reach the slabs) and makes a
 * new file of its own on them, a new inode, so the kernel has nothing of
 * it cached.  Until the migration commits, both have access:
 *
 *   source "commit"   GIVE: the slabs become the destination session's;
 *                     the source file disappears without freeing them
 *   source "abort"    REVOKE: the destination loses access; nothing moves
 *   dest   "update"   the source's final written-page bits (taken at the
 *                     switchover, once every dirty page is flushed),
 *                     before the destination guest runs
 *   dest   "commit"   the import is the file's for good
 *   dest   "abort"    REVOKE, and the file disappears without freeing
 *
 * What is pending (role and tokens) is kept in the file's state record,
 * so a new worker carries on with it.
 *
 * The interface is extended attributes, as for drain and replicas:
 *   FILE  user.vofirm.export   set "" or a lifetime in ms: export; get:
 *                              the handoff text; set "commit" / "abort"
 *   .vofirm user.vofirm.import set "NAME\nHANDOFF": import as NAME in the
 *                              mount's root
 *   FILE  user.vofirm.import   set "update\nHANDOFF", "commit", "abort";
 *                              get: "pending" while there is something to
 *                              commit
 *
 * A handoff longer than an extended attribute's value (64 KiB: a large
 * file whose written pages are scattered) goes in pieces of 64 KiB:
 *   FILE  user.vofirm.export.N get piece N; piece 0 renders the text
 *                              afresh and keeps it, pieces 1... are of
 *                              that text; the last piece is shorter than
 *                              64 KiB (empty if need be)
 *   user.vofirm.import.N       set: piece N of any value of
 *                              user.vofirm.import, on the same inode, by
 *                              the same thread; the last (shorter) one
 *                              applies the whole value
 *
 * While a handoff is pending the file keeps its size, its extents and its
 * name (files.c, extent.c, ops.c ask handoff_pending()/handoff_busy()):
 * the other mount's copy of the map must stay true.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define HO_MAGIC 0x4f484656u /* "VFHO" */
#define HO_VERSION 2	     /* 1: the written bits as one stream of run lengths (still read) */
#define HO_BITS_RUNS 0	     /* an extent's bits: alternating run lengths */
#define HO_BITS_MAP 1	     /* an extent's bits: its bitmap, 64-bit words */
#define HO_PREFIX "vofirm-handoff-1 "
#define HO_LABEL "vofirm-handoff-v1" /* the MAC's label, its NUL included */
#define HO_TTL_DEFAULT_MS 600000u
#define HO_TEXT_MAX 65536u /* an extended attribute's value, at most: a piece */
#define HO_STAGED_MAX 16u  /* imports being sent in pieces at once */
#define HO_STAGED_TTL_MS 600000u
#define HO_STAGED_BYTES (1024u << 20) /* a value sent in pieces, at most */

struct ho_grant {
	uint16_t srv; /* this mount's server index */
	uint8_t token[VF_GRANT_LEN];
	uint32_t n; /* slabs in the grant */
};

struct fs_handoff {
	enum { HO_EXPORT = 1, HO_IMPORT = 2 } role;
	unsigned n;
	struct ho_grant g[FS_MAX_SERVERS];
	char *snap; /* the text piece 0 rendered, for pieces 1...; not kept in the state */
	size_t snap_len;
};

static void ho_free(struct fs_handoff *ho)
{
	if (ho)
		g_free(ho->snap);
	free(ho);
}

/* in->ho changes under in->rw; handoff_busy() reads it without */
static void set_ho(struct inode *in, struct fs_handoff *ho)
{
	__atomic_store_n(&in->ho, ho, __ATOMIC_RELEASE);
}

/* ---- little-endian buffers ---- */

static void w8(GByteArray *a, uint8_t v)
{
	g_byte_array_append(a, &v, 1);
}

static void w16(GByteArray *a, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	g_byte_array_append(a, b, 2);
}

static void w32(GByteArray *a, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	g_byte_array_append(a, b, 4);
}

static void w64(GByteArray *a, uint64_t v)
{
	w32(a, (uint32_t)v);
	w32(a, (uint32_t)(v >> 32));
}

static void wvar(GByteArray *a, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (v)
			b |= 0x80;
		g_byte_array_append(a, &b, 1);
	} while (v);
}

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static uint64_t rle(struct rd *r, int n)
{
	const uint8_t *p = take(r, (size_t)n);
	uint64_t v = 0;

	for (int i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t rvar(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		const uint8_t *p = take(r, 1);

		if (!p)
			return 0;
		v |= (uint64_t)(*p & 0x7f) << shift;
		if (!(*p & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/* ---- the handoff's contents ---- */

struct ho_srv {
	char url[FS_URL_MAX + 1];
	uint8_t token[VF_GRANT_LEN];
	uint32_t n;
	int local; /* this mount's index of that server, or -1 */
};

struct ho_doc {
	uint64_t slab_size, size;
	uint32_t mode;
	uint8_t replicas;
	unsigned nsrv;
	struct ho_srv srv[FS_MAX_SERVERS];
	uint32_t nmap;
	/* per map entry: its copies (handoff server index, slab id); 0 copies: a hole */
	uint8_t *ncopies;
	struct copy *copies; /* nmap * FS_MAX_REPLICAS, .srv a handoff index */
	uint64_t *written;   /* nmap * words_per_extent */
	size_t words;	     /* per extent */
};

static void doc_free(struct ho_doc *d)
{
	free(d->ncopies);
	free(d->copies);
	free(d->written);
	memset(d, 0, sizeof(*d));
}

static void mac_of(struct fs *fs, const uint8_t *body, size_t len, uint8_t mac[VF_MAC_LEN])
{
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, fs->key.bytes, fs->key.len);
	gsize n = VF_MAC_LEN;

	g_hmac_update(h, (const guchar *)HO_LABEL, sizeof(HO_LABEL));
	g_hmac_update(h, body, len);
	g_hmac_get_digest(h, mac, &n);
	g_hmac_unref(h);
}

/*
 * The handoff of in (in->rw held): the servers of in->ho with their
 * tokens, the extents as runs, the written bits as run lengths.  NULL
 * with why set when it cannot be made.
 */
static char *render(struct fs *fs, struct inode *in, char *why, size_t whylen)
{
	const struct fs_handoff *ho = in->ho;
	GByteArray *a = g_byte_array_sized_new(4096);
	uint64_t pages = fs->slab_size / FS_PAGE;
	uint8_t mac[VF_MAC_LEN] = { 0 };
	int hidx[FS_MAX_SERVERS];
	uint32_t i, nruns = 0;
	size_t runs_at;
	bool cur = false;
	uint64_t run = 0;
	char *text, *b64;
	GByteArray *bits;

	for (unsigned k = 0; k < FS_MAX_SERVERS; k++)
		hidx[k] = -1;
	w32(a, HO_MAGIC);
	w16(a, HO_VERSION);
	w16(a, fs->has_key ? 1 : 0);
	w64(a, fs->slab_size);
	w64(a, in->size);
	w32(a, in->mode);
	w8(a, (uint8_t)file_replicas(fs, in));
	w16(a, (uint16_t)ho->n);
	for (unsigned k = 0; k < ho->n; k++) {
		const char *url = fs->srv[ho->g[k].srv].url;

		hidx[ho->g[k].srv] = (int)k;
		w16(a, (uint16_t)strlen(url));
		g_byte_array_append(a, (const guint8 *)url, (guint)strlen(url));
		g_byte_array_append(a, ho->g[k].token, VF_GRANT_LEN);
		w32(a, ho->g[k].n);
	}
	/* the extents as runs: entries whose copies are on the same servers
	 * with slab ids one apart */
	w32(a, in->nmap);
	runs_at = a->len;
	w32(a, 0);
	for (i = 0; i < in->nmap;) {
		struct extent *e = in->map[i];
		struct copy c0[EXT_SLOTS];
		unsigned nc = 0;
		uint32_t len = 1;

		for (unsigned k = 0; e && k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			if (c.state != COPY_OK || hidx[c.srv] < 0) {
				snprintf(
					why, whylen,
					"extent %u has a copy that is not up to date (a repair or a "
					"drain is under way): try again when it is done",
					i);
				g_byte_array_free(a, TRUE);
				return NULL;
			}
			c0[nc++] = c;
		}
		while (i + len < in->nmap) {
			struct extent *f = in->map[i + len];
			unsigned m = 0;
			bool same = true;

			if (!e != !f)
				break;
			for (unsigned k = 0; f && k < EXT_SLOTS && same; k++) {
				struct copy c = copy_get(f, k);

				if (c.state == COPY_EMPTY)
					continue;
				same = m < nc && c.state == COPY_OK && c.srv == c0[m].srv &&
				       c.id == c0[m].id + len;
				m++;
			}
			if (!same || m != nc)
				break;
			len++;
		}
		w32(a, len);
		w8(a, (uint8_t)nc);
		for (unsigned k = 0; k < nc; k++) {
			w16(a, (uint16_t)hidx[c0[k].srv]);
			w32(a, c0[k].id);
		}
		nruns++;
		i += len;
	}
	memcpy(a->data + runs_at, &nruns, 4); /* little-endian hosts only (x86, arm) */
	/* the written bits of each extent there is: its pages as alternating
	 * run lengths, starting with pages not written, or a plain bitmap
	 * when that is shorter (scattered pages: a bit a page at most, 32 MiB
	 * for a TiB) */
	bits = g_byte_array_new();
	for (i = 0; i < in->nmap; i++) {
		struct extent *e = in->map[i];
		size_t words = (size_t)((pages + 63) / 64);

		if (!e)
			continue;
		g_byte_array_set_size(bits, 0);
		cur = false;
		run = 0;
		for (uint64_t pg = 0; pg < pages; pg++) {
			bool w = page_written(e, pg);

			if (w != cur) {
				wvar(bits, run);
				run = 0;
				cur = w;
			}
			run++;
		}
		wvar(bits, run);
		if (bits->len <= words * 8) {
			w8(a, HO_BITS_RUNS);
			g_byte_array_append(a, bits->data, bits->len);
		} else {
			w8(a, HO_BITS_MAP);
			for (size_t k = 0; k < words; k++)
				w64(a, __atomic_load_n(&e->b->written[k], __ATOMIC_ACQUIRE));
		}
	}
	g_byte_array_free(bits, TRUE);
	if (fs->has_key)
		mac_of(fs, a->data, a->len, mac);
	g_byte_array_append(a, mac, VF_MAC_LEN);
	b64 = g_base64_encode(a->data, a->len);
	g_byte_array_free(a, TRUE);
	text = g_strconcat(HO_PREFIX, b64, NULL);
	g_free(b64);
	return text;
}

/* Version 1's written bits: one stream of run lengths over the extents there are. */
static int bits_v1(struct fs *fs, struct rd *r, struct ho_doc *d)
{
	uint64_t pages = fs->slab_size / FS_PAGE, total, at = 0, run;
	uint32_t *pres = calloc(d->nmap + 1, sizeof(*pres)), np = 0;
	bool w = false;

	if (!pres)
		return -ENOMEM;
	for (uint32_t e = 0; e < d->nmap; e++)
		if (d->ncopies[e])
			pres[np++] = e;
	total = (uint64_t)np * pages;
	for (;;) {
		run = rvar(r);
		if (r->bad || run > total - at) {
			free(pres);
			return -EINVAL;
		}
		for (uint64_t n = at; w && n < at + run; n++) {
			uint64_t pg = n % pages;

			d->written[(size_t)pres[n / pages] * d->words + pg / 64] |= 1ull
										    << (pg % 64);
		}
		at += run;
		w = !w;
		if (at == total)
			break;
	}
	free(pres);
	return 0;
}

/* Version 2's: per extent there is, its run lengths or its bitmap. */
static int bits_v2(struct fs *fs, struct rd *r, struct ho_doc *d)
{
	uint64_t pages = fs->slab_size / FS_PAGE;

	for (uint32_t e = 0; e < d->nmap; e++) {
		uint64_t *bm = d->written + (size_t)e * d->words;
		uint8_t mode;

		if (!d->ncopies[e])
			continue;
		mode = (uint8_t)rle(r, 1);
		if (mode == HO_BITS_MAP) {
			for (size_t k = 0; k < d->words; k++)
				bm[k] = rle(r, 8);
			if (pages % 64)
				bm[d->words - 1] &= (1ull << (pages % 64)) - 1;
		} else if (mode == HO_BITS_RUNS) {
			uint64_t at = 0;

			for (bool w = false; !r->bad; w = !w) {
				uint64_t run = rvar(r);

				if (r->bad || run > pages - at)
					return -EINVAL;
				for (uint64_t pg = at; w && pg < at + run; pg++)
					bm[pg / 64] |= 1ull << (pg % 64);
				at += run;
				if (at == pages)
					break;
			}
		} else {
			r->bad = true;
		}
		if (r->bad)
			return -EINVAL;
	}
	return 0;
}

/* Parses and checks a handoff.  0 or -errno with why set. */
static int parse(struct fs *fs, const char *text, size_t len, struct ho_doc *d, char *why,
		 size_t whylen)
{
	size_t plen = strlen(HO_PREFIX), blen;
	uint8_t mac[VF_MAC_LEN];
	guchar *bin = NULL;
	uint32_t nruns, i = 0;
	unsigned version;
	struct rd r;
	bool keyed;
	char *b64;
	int ret = -EINVAL;

	memset(d, 0, sizeof(*d));
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len <= plen || memcmp(text, HO_PREFIX, plen)) {
		snprintf(why, whylen, "not a vofirm handoff (it starts '%s')", HO_PREFIX);
		return -EINVAL;
	}
	b64 = g_strndup(text + plen, len - plen);
	bin = g_base64_decode(b64, &blen);
	g_free(b64);
	if (!bin || blen < 12 + VF_MAC_LEN) {
		snprintf(why, whylen, "the handoff is truncated or not base64");
		goto out;
	}
	r = (struct rd){ bin, bin + blen - VF_MAC_LEN, false };
	if (rle(&r, 4) != HO_MAGIC) {
		snprintf(why, whylen, "not a vofirm handoff (its magic number)");
		goto out;
	}
	version = (unsigned)rle(&r, 2);
	if (version != 1 && version != HO_VERSION) {
		snprintf(why, whylen, "a handoff of version %u: this vofirm-fs reads 1 and %u",
			 version, HO_VERSION);
		goto out;
	}
	keyed = rle(&r, 2) & 1;
	if (keyed != fs->has_key) {
		snprintf(why, whylen,
			 keyed ? "the handoff is MAC'd with a key and this mount has none"
			       : "the handoff carries no MAC and this mount has a key: it comes "
				 "from a mount without one");
		ret = -EACCES;
		goto out;
	}
	if (keyed) {
		mac_of(fs, bin, blen - VF_MAC_LEN, mac);
		if (!vf_mac_equal(mac, bin + blen - VF_MAC_LEN)) {
			snprintf(why, whylen,
				 "the handoff's MAC is wrong: it was changed, or made with another "
				 "key");
			ret = -EACCES;
			goto out;
		}
	}
	d->slab_size = rle(&r, 8);
	d->size = rle(&r, 8);
	d->mode = (uint32_t)rle(&r, 4);
	d->replicas = (uint8_t)rle(&r, 1);
	d->nsrv = (unsigned)rle(&r, 2);
	if (r.bad || d->slab_size != fs->slab_size || d->nsrv > FS_MAX_SERVERS || d->replicas < 1 ||
	    d->replicas > FS_MAX_REPLICAS) {
		snprintf(why, whylen,
			 d->slab_size != fs->slab_size
				 ? "the handoff's slabs are of another size than this mount's"
				 : "the handoff is damaged");
		goto out;
	}
	for (unsigned k = 0; k < d->nsrv; k++) {
		uint16_t ul = (uint16_t)rle(&r, 2);
		const uint8_t *u = ul <= FS_URL_MAX ? take(&r, ul) : NULL;
		const uint8_t *t = take(&r, VF_GRANT_LEN);
		struct server *s;

		if (!u || !t) {
			snprintf(why, whylen, "the handoff is damaged");
			goto out;
		}
		memcpy(d->srv[k].url, u, ul);
		d->srv[k].url[ul] = '\0';
		memcpy(d->srv[k].token, t, VF_GRANT_LEN);
		d->srv[k].n = (uint32_t)rle(&r, 4);
		s = server_by_url(fs, d->srv[k].url);
		d->srv[k].local = s ? (int)s->idx : -1;
	}
	d->nmap = (uint32_t)rle(&r, 4);
	nruns = (uint32_t)rle(&r, 4);
	if (r.bad || d->nmap > STATE_MAX_BLOCKS || nruns > d->nmap ||
	    (uint64_t)d->nmap * fs->slab_size < d->size) {
		snprintf(why, whylen, "the handoff is damaged");
		goto out;
	}
	d->words = (size_t)((fs->slab_size / FS_PAGE + 63) / 64);
	d->ncopies = calloc(d->nmap + 1, 1);
	d->copies = calloc((size_t)d->nmap * FS_MAX_REPLICAS + 1, sizeof(*d->copies));
	d->written = calloc((size_t)d->nmap * d->words + 1, sizeof(*d->written));
	if (!d->ncopies || !d->copies || !d->written) {
		ret = -ENOMEM;
		snprintf(why, whylen, "no memory");
		goto out;
	}
	for (uint32_t q = 0; q < nruns; q++) {
		uint32_t rlen = (uint32_t)rle(&r, 4);
		uint8_t nc = (uint8_t)rle(&r, 1);
		struct copy c0[FS_MAX_REPLICAS];

		if (r.bad || !rlen || rlen > d->nmap - i || nc > FS_MAX_REPLICAS) {
			snprintf(why, whylen, "the handoff is damaged");
			goto out;
		}
		for (unsigned k = 0; k < nc; k++) {
			c0[k].srv = (uint16_t)rle(&r, 2);
			c0[k].id = (uint32_t)rle(&r, 4);
			if (c0[k].srv >= d->nsrv || (uint64_t)c0[k].id + rlen > UINT32_MAX)
				r.bad = true;
		}
		if (r.bad) {
			snprintf(why, whylen, "the handoff is damaged");
			goto out;
		}
		for (uint32_t j = 0; j < rlen; j++, i++) {
			d->ncopies[i] = nc;
			for (unsigned k = 0; k < nc; k++)
				d->copies[(size_t)i * FS_MAX_REPLICAS + k] = (struct copy){
					.srv = c0[k].srv, .id = c0[k].id + j, .state = COPY_OK
				};
		}
	}
	if (i != d->nmap) {
		snprintf(why, whylen, "the handoff is damaged (its extents do not add up)");
		goto out;
	}
	ret = version == 1 ? bits_v1(fs, &r, d) : bits_v2(fs, &r, d);
	if (ret) {
		snprintf(why, whylen,
			 ret == -ENOMEM ? "no memory" : "the handoff is damaged (its page bits)");
		goto out;
	}
	if (r.p != r.end) {
		ret = -EINVAL;
		snprintf(why, whylen, "the handoff is damaged (bytes after its end)");
		goto out;
	}
	ret = 0;
out:
	g_free(bin);
	if (ret)
		doc_free(d);
	return ret;
}

/* ---- requests to the servers ---- */

static int grant_op(struct fs *fs, unsigned srv, enum vf_op_type type, uint8_t *token, char *why,
		    size_t whylen)
{
	struct server *s = &fs->srv[srv];
	struct vf_op op = { .type = type, .token = token };
	int ret = server_op(s, &op);

	if (ret)
		snprintf(why, whylen, "server %s: %s refused: %s", s->url,
			 type == VF_OP_GIVE ? "GIVE" : "REVOKE",
			 op.errmsg[0] ? op.errmsg : strerror(-ret));
	return ret;
}

/* Ends every grant of ho (REVOKE), logging the failures; 0 or the first error. */
static int revoke_all(struct fs *fs, const struct fs_handoff *ho, const char *path)
{
	char why[256];
	int ret = 0, r;

	for (unsigned k = 0; k < ho->n; k++) {
		uint8_t t[VF_GRANT_LEN];

		memcpy(t, ho->g[k].token, VF_GRANT_LEN);
		r = grant_op(fs, ho->g[k].srv, VF_OP_REVOKE, t, why, sizeof(why));
		if (r == -EACCES) {
			/* the grant is gone already (expired, or revoked by the other side) */
			vf_info("file %s: %s", path, why);
			r = 0;
		}
		if (r) {
			vf_err("file %s: %s", path, why);
			if (!ret)
				ret = r;
		}
	}
	return ret;
}

/* ---- the file's end without freeing its slabs ---- */

/*
 * The slabs of in are no longer this mount's to free (given to another
 * mount, or never ours): the map goes, the servers forget them, and the
 * file leaves the namespace (its last handle frees nothing).  in->rw held
 * exclusively.
 */
static void let_go(struct fs *fs, struct inode *in)
{
	struct slab_grant *g = calloc((size_t)in->nmap * EXT_SLOTS + 1, sizeof(*g));
	uint32_t n = 0;
	fuse_ino_t parent = 0;
	char *name = NULL;

	for (uint32_t i = 0; i < in->nmap; i++) {
		struct extent *e = in->map[i];

		if (!e)
			continue;
		for (unsigned k = 0; k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state != COPY_EMPTY && g)
				g[n++] = (struct slab_grant){ .srv = c.srv, .id = c.id };
		}
		ext_free(fs, e);
	}
	free(in->map);
	in->map = NULL;
	in->nmap = 0; /* the size stays: a late write-back fails, never allocates */
	__atomic_store_n(&in->held, 0, __ATOMIC_RELAXED);
	if (g)
		servers_forget(fs, g, n);
	free(g);
	ho_free(in->ho);
	set_ho(in, NULL);

	fs_mutex_lock(&fs->ns_lock);
	in->slabs_freed = true; /* nothing to free at the last close */
	if (in->parent) {
		parent = in->parent->ino;
		name = g_strdup(in->name);
		g_hash_table_remove(in->parent->children, in->name);
		clock_gettime(CLOCK_REALTIME, &in->parent->mtime);
		in->parent->ctime = in->parent->mtime;
		state_put_ns(fs, in->parent);
		in->parent = NULL;
	}
	in->nlink = 0;
	state_put_ns(fs, in);
	state_put_data(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
	state_commit(fs);
	if (name && fs->se)
		fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
	g_free(name);
}

/* ---- export (the source) ---- */

static int do_export(struct fs *fs, struct inode *in, uint32_t ttl_ms, const char *path, char *why,
		     size_t whylen)
{
	struct fs_handoff *ho;
	uint32_t *ids[FS_MAX_SERVERS] = { 0 }, cnt[FS_MAX_SERVERS] = { 0 };
	unsigned nsrv = fs_nsrv(fs);
	int ret = 0;

	if (in->ho) {
		snprintf(why, whylen, "it is %s already",
			 in->ho->role == HO_EXPORT ? "exported" : "an import not committed yet");
		return -EBUSY;
	}
	ho = calloc(1, sizeof(*ho));
	if (!ho)
		return -ENOMEM;
	ho->role = HO_EXPORT;
	for (uint32_t i = 0; i < in->nmap && !ret; i++) {
		struct extent *e = in->map[i];

		for (unsigned k = 0; e && k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			if (c.state != COPY_OK) {
				snprintf(why, whylen,
					 "extent %u has a copy that is not up to date (a repair or "
					 "a drain is under way): try again when it is done",
					 i);
				ret = -EBUSY;
				break;
			}
			if (!ids[c.srv])
				ids[c.srv] = calloc(in->nmap, sizeof(uint32_t));
			if (!ids[c.srv]) {
				ret = -ENOMEM;
				snprintf(why, whylen, "no memory");
				break;
			}
			ids[c.srv][cnt[c.srv]++] = c.id;
		}
	}
	for (unsigned s = 0; s < nsrv && !ret; s++) {
		struct ho_grant *hg;

		if (!cnt[s])
			continue;
		hg = &ho->g[ho->n++];
		hg->srv = (uint16_t)s;
		for (uint32_t done = 0; done < cnt[s] && !ret;) {
			uint32_t m = MIN(cnt[s] - done, VF_MAX_SLABS_PER_MSG);
			struct vf_op op = { .type = VF_OP_GRANT,
					    .token = hg->token,
					    .ttl_ms = ttl_ms,
					    .count = m,
					    .ids = ids[s] + done };

			ret = server_op(&fs->srv[s], &op);
			if (ret) {
				snprintf(why, whylen, "server %s refused a grant of %u slab(s): %s",
					 fs->srv[s].url, m,
					 op.errmsg[0] ? op.errmsg : strerror(-ret));
				if (vf_all_zero(hg->token, VF_GRANT_LEN))
					ho->n--; /* nothing was granted there */
				break;
			}
			done += m;
			hg->n = op.total;
		}
	}
	for (unsigned s = 0; s < FS_MAX_SERVERS; s++)
		free(ids[s]);
	if (ret) {
		revoke_all(fs, ho, path);
		free(ho);
		return ret;
	}
	set_ho(in, ho);
	state_put_data(fs, in);
	state_commit(fs);
	vf_notice("file %s: exported to another mount through %u grant(s), %" PRIu64
		  " bytes; waiting for commit or abort",
		  path, ho->n, in->size);
	return 0;
}

/* ---- import (the destination) ---- */

static int do_import(fuse_req_t req, struct fs *fs, const char *name, const char *text, size_t len,
		     char *why, size_t whylen)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct vf_slab_desc *descs = NULL;
	struct fs_handoff *ho = NULL;
	struct ho_doc d;
	struct inode *in = NULL, *dir;
	const char *base;
	unsigned accepted = 0;
	uint32_t nheld = 0;
	int ret;

	ret = parse(fs, text, len, &d, why, whylen);
	if (ret)
		return ret;
	ho = calloc(1, sizeof(*ho));
	descs = calloc(VF_MAX_SLABS_PER_MSG, sizeof(*descs));
	if (!ho || !descs) {
		ret = -ENOMEM;
		goto fail;
	}
	ho->role = HO_IMPORT;
	for (unsigned k = 0; k < d.nsrv; k++) {
		if (d.srv[k].local < 0) {
			snprintf(why, whylen,
				 "server %s is not one of this mount's: give it to the mount "
				 "(--server, or add it to the config and send SIGHUP)",
				 d.srv[k].url);
			ret = -ENXIO;
			goto fail;
		}
	}
	/* redeem every grant: from here both mounts reach the slabs */
	for (unsigned k = 0; k < d.nsrv; k++) {
		struct server *s = &fs->srv[d.srv[k].local];
		uint32_t seen = 0;

		for (uint32_t first = 0;;) {
			struct vf_op op = { .type = VF_OP_ACCEPT,
					    .token = d.srv[k].token,
					    .first = first,
					    .count = VF_MAX_SLABS_PER_MSG,
					    .descs = descs };

			ret = server_slab_op(s, &op);
			if (ret) {
				snprintf(why, whylen, "server %s refused the grant: %s", s->url,
					 op.errmsg[0] ? op.errmsg : strerror(-ret));
				goto fail;
			}
			if (first == 0) {
				ho->g[ho->n].srv = (uint16_t)s->idx;
				memcpy(ho->g[ho->n].token, d.srv[k].token, VF_GRANT_LEN);
				ho->g[ho->n].n = op.total;
				ho->n++;
				accepted++;
			}
			seen += op.listed;
			first += op.listed;
			if (!op.listed || first >= op.total)
				break;
		}
		if (seen != d.srv[k].n) {
			snprintf(why, whylen,
				 "server %s: the grant holds %u slab(s), the handoff names %u",
				 s->url, seen, d.srv[k].n);
			ret = -EINVAL;
			goto fail;
		}
	}

	/* the file: a new inode, so that nothing of it is in the kernel's cache */
	fs_mutex_lock(&fs->ns_lock);
	dir = fs->root;
	base = name;
	for (const char *sl = strchr(name, '/'); sl; sl = strchr(base, '/')) {
		char *part = g_strndup(base, (size_t)(sl - base));
		struct inode *c = g_hash_table_lookup(dir->children, part);

		g_free(part);
		if (!c || c->kind != INODE_DIR) {
			fs_mutex_unlock(&fs->ns_lock);
			snprintf(why, whylen, "directory %.*s is not there", (int)(sl - name),
				 name);
			ret = -ENOENT;
			goto fail;
		}
		dir = c;
		base = sl + 1;
	}
	if (!*base || g_hash_table_contains(dir->children, base)) {
		fs_mutex_unlock(&fs->ns_lock);
		snprintf(why, whylen, "a file named /%s is there already", name);
		ret = *base ? -EEXIST : -EINVAL;
		goto fail;
	}
	in = inode_new(fs, INODE_FILE, S_IFREG | (d.mode & 07777), ctx->uid, ctx->gid);
	if (!in) {
		fs_mutex_unlock(&fs->ns_lock);
		ret = -ENOMEM;
		goto fail;
	}
	in->name = strdup(base);
	in->parent = dir;
	in->pinned++; /* worked on below without ns_lock */
	g_hash_table_insert(dir->children, in->name, in);
	clock_gettime(CLOCK_REALTIME, &dir->mtime);
	dir->ctime = dir->mtime;
	fs_mutex_unlock(&fs->ns_lock);

	fs_rwlock_wrlock(&in->rw);
	awrite_wait_inode(fs, in);
	fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	in->replicas = d.replicas;
	in->size = d.size;
	in->map = calloc(d.nmap + 1, sizeof(*in->map));
	ret = in->map ? 0 : -ENOMEM;
	for (uint32_t i = 0; i < d.nmap && !ret; i++) {
		struct extent *e;

		if (!d.ncopies[i])
			continue;
		e = ext_new(fs);
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		for (unsigned k = 0; k < d.ncopies[i]; k++) {
			struct copy c = d.copies[(size_t)i * FS_MAX_REPLICAS + k];

			c.srv = (uint16_t)d.srv[c.srv].local;
			copy_set(e, k, c);
		}
		memcpy(e->b->written, d.written + (size_t)i * d.words, d.words * sizeof(uint64_t));
		in->map[i] = e;
		in->nmap = i + 1;
		nheld += d.ncopies[i];
	}
	in->nmap = d.nmap;
	if (!ret) {
		struct slab_grant *g = calloc((size_t)nheld + 1, sizeof(*g));
		uint32_t n = 0;

		for (uint32_t i = 0; g && i < d.nmap; i++)
			for (unsigned k = 0; in->map[i] && k < EXT_SLOTS; k++) {
				struct copy c = copy_get(in->map[i], k);

				if (c.state != COPY_EMPTY)
					g[n++] = (struct slab_grant){ .srv = c.srv, .id = c.id };
			}
		if (g)
			servers_adopt(fs, g, n);
		else
			ret = -ENOMEM;
		free(g);
		__atomic_store_n(&in->held, n, __ATOMIC_RELAXED);
	}
	if (ret) {
		/* nothing of it is ours: it goes without freeing anything */
		set_ho(in, NULL);
		let_go(fs, in);
		fs_rwlock_unlock(&in->rw);
		fs_mutex_lock(&fs->ns_lock);
		in->pinned--;
		inode_maybe_free(fs, in);
		fs_mutex_unlock(&fs->ns_lock);
		in = NULL;
		snprintf(why, whylen, "no memory for the file's map");
		goto fail;
	}
	set_ho(in, ho);
	ho = NULL;
	state_put_data(fs, in);
	fs_mutex_lock(&fs->ns_lock);
	state_put_ns(fs, in);
	state_put_ns(fs, dir);
	in->pinned--;
	fs_mutex_unlock(&fs->ns_lock);
	state_commit(fs);
	fs_rwlock_unlock(&in->rw);
	vf_notice("file /%s: imported from another mount (%" PRIu64
		  " bytes, %u slab(s) through %u grant(s)); waiting for commit or abort",
		  name, d.size, nheld, accepted);
	free(descs);
	doc_free(&d);
	return 0;

fail:
	if (ho && ho->n)
		revoke_all(fs, ho, name);
	free(ho);
	free(descs);
	doc_free(&d);
	return ret;
}

/* The destination's written bits become the source's final ones. */
static int do_update(struct fs *fs, struct inode *in, const char *text, size_t len, char *why,
		     size_t whylen)
{
	struct ho_doc d;
	int ret;

	if (!in->ho || in->ho->role != HO_IMPORT) {
		snprintf(why, whylen, "it is not an import waiting for its commit");
		return -EINVAL;
	}
	ret = parse(fs, text, len, &d, why, whylen);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (d.nmap != in->nmap || d.size != in->size) {
		snprintf(why, whylen, "the handoff is of another file (size or extents differ)");
		goto out;
	}
	for (uint32_t i = 0; i < d.nmap; i++) {
		struct extent *e = in->map[i];

		if (!e != !d.ncopies[i]) {
			snprintf(why, whylen, "the handoff is of another file (extent %u)", i);
			goto out;
		}
		for (unsigned k = 0; e && k < d.ncopies[i]; k++) {
			struct copy c = d.copies[(size_t)i * FS_MAX_REPLICAS + k];
			struct copy o = copy_get(e, k);

			if (d.srv[c.srv].local != (int)o.srv || c.id != o.id) {
				snprintf(why, whylen,
					 "the handoff is of another file (extent %u's slabs)", i);
				goto out;
			}
		}
	}
	for (uint32_t i = 0; i < d.nmap; i++) {
		struct extent *e = in->map[i];

		for (size_t w = 0; e && w < d.words; w++)
			__atomic_store_n(&e->b->written[w], d.written[i * d.words + w],
					 __ATOMIC_RELEASE);
	}
	ret = 0;
out:
	doc_free(&d);
	return ret;
}

/* ---- the extended attributes ---- */

/* name is base "." N, N a piece number (decimal, no leading zero): *n */
static bool piece_of(const char *name, const char *base, unsigned long *n)
{
	size_t bl = strlen(base);
	const char *p = name + bl + 1;
	char *end;

	if (strncmp(name, base, bl) || name[bl] != '.' || !g_ascii_isdigit(*p) ||
	    (*p == '0' && p[1]))
		return false;
	errno = 0;
	*n = strtoul(p, &end, 10);
	return !*end && !errno && *n < (1ul << 24);
}

bool handoff_xattr(const char *name)
{
	unsigned long n;

	return !strcmp(name, FS_XATTR_EXPORT) || !strcmp(name, FS_XATTR_IMPORT) ||
	       piece_of(name, FS_XATTR_EXPORT, &n) || piece_of(name, FS_XATTR_IMPORT, &n);
}

bool handoff_busy(const struct inode *in)
{
	return __atomic_load_n(&in->ho, __ATOMIC_ACQUIRE) != NULL;
}

bool handoff_exported(const struct inode *in)
{
	return in->ho && in->ho->role == HO_EXPORT;
}

const char *handoff_pending(const struct inode *in)
{
	if (!in->ho)
		return NULL;
	return in->ho->role == HO_EXPORT
		       ? "it is exported to another mount and not committed yet (a live "
			 "migration is under way): commit or abort the export first"
		       : "it is an import from another mount not committed yet (a live "
			 "migration is under way): commit or abort the import first";
}

/*
 * A value of user.vofirm.import longer than an extended attribute holds
 * comes in pieces: user.vofirm.import.0, .1, ..., each HO_TEXT_MAX bytes
 * but the last, which is shorter (empty if need be) and ends it.  The
 * pieces are kept per inode and calling thread until then.
 */
struct staged {
	fuse_ino_t ino;
	pid_t pid;
	unsigned long next;
	uint64_t t;
	GByteArray *buf;
};

static struct staged staged[HO_STAGED_MAX];
static pthread_mutex_t staged_lock = PTHREAD_MUTEX_INITIALIZER;

/* Piece n; *whole (g_byte_array_free) once the last one came.  0 or -errno, why set. */
static int stage(fuse_ino_t ino, pid_t pid, unsigned long n, const char *v, size_t size,
		 GByteArray **whole, char *why, size_t whylen)
{
	uint64_t now = vf_now_ms();
	struct staged *s = NULL;
	int ret = 0;

	pthread_mutex_lock(&staged_lock);
	for (unsigned i = 0; i < HO_STAGED_MAX; i++) {
		struct staged *t = &staged[i];

		if (t->buf && now - t->t > HO_STAGED_TTL_MS) {
			g_byte_array_free(t->buf, TRUE);
			t->buf = NULL;
		}
		if (t->buf && t->ino == ino && t->pid == pid)
			s = t;
	}
	if (n == 0) {
		for (unsigned i = 0; !s && i < HO_STAGED_MAX; i++)
			if (!staged[i].buf)
				s = &staged[i];
		if (!s) {
			snprintf(why, whylen,
				 "%u values are being sent in pieces already: try again later",
				 HO_STAGED_MAX);
			ret = -EBUSY;
			goto out;
		}
		if (s->buf)
			g_byte_array_free(s->buf, TRUE); /* a value begun again */
		*s = (struct staged){ .ino = ino, .pid = pid, .buf = g_byte_array_new() };
	} else if (!s || s->next != n) {
		snprintf(why, whylen,
			 "piece %lu out of order (%s): pieces are sent 0, 1, 2, ... by one thread",
			 n, s ? "not the next one" : "no piece 0 before it");
		ret = -EINVAL;
		goto drop;
	}
	if (s->buf->len + size > HO_STAGED_BYTES) {
		snprintf(why, whylen, "the value is longer than %u MiB", HO_STAGED_BYTES >> 20);
		ret = -E2BIG;
		goto drop;
	}
	g_byte_array_append(s->buf, (const guint8 *)v, (guint)size);
	s->next = n + 1;
	s->t = now;
	if (size < HO_TEXT_MAX) {
		*whole = s->buf;
		s->buf = NULL;
	}
	goto out;
drop:
	if (s && s->buf) {
		g_byte_array_free(s->buf, TRUE);
		s->buf = NULL;
	}
out:
	pthread_mutex_unlock(&staged_lock);
	return ret;
}

static bool is_word(const char *value, size_t size, const char *word)
{
	size_t n = strlen(word);

	if (size && value[size - 1] == '\n')
		size--;
	return size == n && !memcmp(value, word, n);
}

int handoff_setxattr(fuse_req_t req, struct fs *fs, struct inode *in, const char *name,
		     const char *value, size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char why[512] = "", *path;
	const char *what = "";
	bool export = !strcmp(name, FS_XATTR_EXPORT);
	unsigned long piece;
	int ret;

	if (ctx->uid != 0 && ctx->uid != geteuid()) {
		vf_log_ratelimited(LOG_WARNING,
				   "%s asked by uid %u (pid %d) refused: only root or the mount's "
				   "owner may hand files over",
				   name, (unsigned)ctx->uid, (int)ctx->pid);
		return -EPERM;
	}
	if (piece_of(name, FS_XATTR_EXPORT, &piece))
		return -ENOTSUP; /* read in pieces, never set */
	if (piece_of(name, FS_XATTR_IMPORT, &piece)) {
		GByteArray *whole = NULL;

		ret = stage(in->ino, ctx->pid, piece, value, size, &whole, why, sizeof(why));
		if (ret)
			vf_err("%s asked by pid %d refused: %s", name, (int)ctx->pid, why);
		if (ret || !whole)
			return ret;
		ret = handoff_setxattr(req, fs, in, FS_XATTR_IMPORT, (const char *)whole->data,
				       whole->len);
		g_byte_array_free(whole, TRUE);
		return ret;
	}
	if (in->kind == INODE_CTL_DIR) {
		const char *nl = memchr(value, '\n', size);
		char fname[1024];

		if (export)
			return -ENOTSUP;
		if (!nl || nl == value || (size_t)(nl - value) >= sizeof(fname) ||
		    value[0] == '/' || memchr(value, '\0', (size_t)(nl - value))) {
			vf_err("import asked by uid %u (pid %d) refused: the value must be "
			       "'PATH\\nHANDOFF', PATH a new file's path in the mount, in a "
			       "directory that is there",
			       (unsigned)ctx->uid, (int)ctx->pid);
			return -EINVAL;
		}
		memcpy(fname, value, (size_t)(nl - value));
		fname[nl - value] = '\0';
		if (strstr(fname, "..") || !strncmp(fname, FS_CTL_NAME, strlen(FS_CTL_NAME)) ||
		    strstr(fname, "//") || fname[strlen(fname) - 1] == '/' || !strcmp(fname, "."))
			return -EINVAL;
		ret = do_import(req, fs, fname, nl + 1, size - (size_t)(nl + 1 - value), why,
				sizeof(why));
		if (ret)
			vf_err("cannot import /%s: %s", fname, why[0] ? why : strerror(-ret));
		return ret;
	}
	if (in->kind != INODE_FILE)
		return -ENOTSUP;
	fs_mutex_lock(&fs->ns_lock);
	path = inode_path(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
	fs_rwlock_wrlock(&in->rw);
	awrite_wait_inode(fs, in);
	fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	if (export && is_word(value, size, "commit")) {
		what = "commit of the export";
		ret = in->ho && in->ho->role == HO_EXPORT ? 0 : -EINVAL;
		if (ret)
			snprintf(why, sizeof(why), "it is not exported");
		/* every grant is given; one that fails keeps the file here */
		for (unsigned k = 0; !ret && k < in->ho->n; k++) {
			uint8_t t[VF_GRANT_LEN];

			if (vf_all_zero(in->ho->g[k].token, VF_GRANT_LEN))
				continue; /* given already */
			memcpy(t, in->ho->g[k].token, VF_GRANT_LEN);
			ret = grant_op(fs, in->ho->g[k].srv, VF_OP_GIVE, t, why, sizeof(why));
			if (!ret) {
				memset(in->ho->g[k].token, 0, VF_GRANT_LEN);
				state_put_data(fs, in);
				state_commit(fs);
			}
		}
		if (!ret) {
			vf_notice("file %s: handed over to the other mount; it leaves this one "
				  "(its slabs are the other mount's now)",
				  path);
			let_go(fs, in);
		}
	} else if (export && is_word(value, size, "abort")) {
		what = "abort of the export";
		ret = in->ho && in->ho->role == HO_EXPORT ? 0 : -EINVAL;
		if (ret) {
			snprintf(why, sizeof(why), "it is not exported");
		} else {
			ret = revoke_all(fs, in->ho, path);
			if (!ret) {
				ho_free(in->ho);
				set_ho(in, NULL);
				state_put_data(fs, in);
				state_commit(fs);
				vf_notice("file %s: export aborted; the file stays this mount's",
					  path);
			}
		}
	} else if (export) {
		char *end = NULL;
		unsigned long ttl = HO_TTL_DEFAULT_MS;

		what = "export";
		if (size && !is_word(value, size, "")) {
			char buf[16] = "";

			if (size < sizeof(buf))
				memcpy(buf, value, size);
			ttl = strtoul(buf, &end, 10);
			if (!end || end == buf || (*end && *end != '\n') || ttl == 0 ||
			    ttl > VF_GRANT_TTL_MAX) {
				snprintf(why, sizeof(why),
					 "the value is a lifetime in ms, 1 to %u, or commit or "
					 "abort",
					 VF_GRANT_TTL_MAX);
				ret = -EINVAL;
				goto out;
			}
		}
		ret = do_export(fs, in, (uint32_t)ttl, path, why, sizeof(why));
	} else if (is_word(value, size, "commit")) {
		what = "commit of the import";
		ret = in->ho && in->ho->role == HO_IMPORT ? 0 : -EINVAL;
		if (ret) {
			snprintf(why, sizeof(why), "it is not an import waiting for its commit");
		} else {
			ho_free(in->ho);
			set_ho(in, NULL);
			state_put_data(fs, in);
			state_commit(fs);
			vf_notice("file %s: import committed: it is this mount's", path);
		}
	} else if (is_word(value, size, "abort")) {
		what = "abort of the import";
		ret = in->ho && in->ho->role == HO_IMPORT ? 0 : -EINVAL;
		if (ret) {
			snprintf(why, sizeof(why), "it is not an import waiting for its commit");
		} else {
			ret = revoke_all(fs, in->ho, path);
			if (!ret) {
				vf_notice("file %s: import aborted; it leaves this mount (the "
					  "slabs stay the other mount's)",
					  path);
				let_go(fs, in);
			}
		}
	} else if (size > 7 && !memcmp(value, "update\n", 7)) {
		what = "update of the import";
		ret = do_update(fs, in, value + 7, size - 7, why, sizeof(why));
	} else {
		what = "import";
		snprintf(why, sizeof(why),
			 "on a file the value is commit, abort or 'update\\nHANDOFF'; an import "
			 "is set on the mount's " FS_CTL_NAME " directory");
		ret = -EINVAL;
	}
out:
	fs_rwlock_unlock(&in->rw);
	if (ret)
		vf_err("file %s: %s refused: %s", path, what, why[0] ? why : strerror(-ret));
	g_free(path);
	return ret;
}

int handoff_getxattr(struct fs *fs, struct inode *in, const char *name, char **value)
{
	char why[512] = "", *path;
	unsigned long piece = 0;
	bool pieces = piece_of(name, FS_XATTR_EXPORT, &piece);
	int ret = 0;

	if (in->kind != INODE_FILE)
		return -ENODATA;
	if (pieces && piece == 0) {
		/* a new snapshot, which the next pieces are read from */
		fs_rwlock_wrlock(&in->rw);
		awrite_wait_inode(fs, in);
		fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	} else {
		fs_rwlock_rdlock(&in->rw);
	}
	if (!strcmp(name, FS_XATTR_IMPORT) || piece_of(name, FS_XATTR_IMPORT, &piece)) {
		if (in->ho && in->ho->role == HO_IMPORT)
			*value = g_strdup("pending");
		else
			ret = -ENODATA;
	} else if (!in->ho || in->ho->role != HO_EXPORT) {
		ret = -ENODATA;
	} else if (pieces && piece == 0) {
		char *text = render(fs, in, why, sizeof(why));

		if (text) {
			g_free(in->ho->snap);
			in->ho->snap = text;
			in->ho->snap_len = strlen(text);
			*value = g_strndup(text, MIN(in->ho->snap_len, HO_TEXT_MAX));
		} else {
			ret = -EBUSY;
		}
	} else if (pieces) {
		if (!in->ho->snap || piece * HO_TEXT_MAX > in->ho->snap_len) {
			snprintf(why, sizeof(why), "piece %lu: %s", piece,
				 in->ho->snap ? "past the end of the handoff"
					      : "read piece 0 first (it takes the snapshot)");
			ret = -EINVAL;
		} else {
			size_t at = piece * HO_TEXT_MAX;

			*value = g_strndup(in->ho->snap + at,
					   MIN(in->ho->snap_len - at, HO_TEXT_MAX));
		}
	} else {
		*value = render(fs, in, why, sizeof(why));
		if (!*value) {
			ret = -EBUSY;
		} else if (strlen(*value) > HO_TEXT_MAX) {
			snprintf(
				why, sizeof(why),
				"its handoff takes %zu bytes, more than an extended attribute holds "
				"(%u): read it in pieces, " FS_XATTR_EXPORT ".0, .1, ...",
				strlen(*value), HO_TEXT_MAX);
			g_free(*value);
			*value = NULL;
			ret = -E2BIG;
		}
	}
	fs_rwlock_unlock(&in->rw);
	if (ret && ret != -ENODATA) {
		fs_mutex_lock(&fs->ns_lock);
		path = inode_path(fs, in);
		fs_mutex_unlock(&fs->ns_lock);
		vf_err("file %s: no handoff: %s", path, why);
		g_free(path);
	}
	return ret;
}

/* ---- the state ---- */

void *handoff_state(const struct inode *in, size_t *len)
{
	const struct fs_handoff *ho = in->ho;
	GByteArray *a;

	if (!ho)
		return NULL;
	a = g_byte_array_new();
	w8(a, (uint8_t)ho->role);
	w16(a, (uint16_t)ho->n);
	for (unsigned k = 0; k < ho->n; k++) {
		w16(a, ho->g[k].srv);
		g_byte_array_append(a, ho->g[k].token, VF_GRANT_LEN);
		w32(a, ho->g[k].n);
	}
	*len = a->len;
	return g_byte_array_free(a, FALSE);
}

int handoff_state_load(struct fs *fs, struct inode *in, const uint8_t *p, size_t len)
{
	struct rd r = { p, p + len, false };
	struct fs_handoff *ho = calloc(1, sizeof(*ho));

	if (!ho)
		return -ENOMEM;
	ho->role = (int)rle(&r, 1);
	ho->n = (unsigned)rle(&r, 2);
	if (r.bad || (ho->role != HO_EXPORT && ho->role != HO_IMPORT) || ho->n > FS_MAX_SERVERS) {
		free(ho);
		return -EPROTO;
	}
	for (unsigned k = 0; k < ho->n; k++) {
		const uint8_t *t;

		ho->g[k].srv = (uint16_t)rle(&r, 2);
		t = take(&r, VF_GRANT_LEN);
		ho->g[k].n = (uint32_t)rle(&r, 4);
		if (!t || ho->g[k].srv >= fs_nsrv(fs)) {
			free(ho);
			return -EPROTO;
		}
		memcpy(ho->g[k].token, t, VF_GRANT_LEN);
	}
	if (r.p != r.end) {
		free(ho);
		return -EPROTO;
	}
	set_ho(in, ho);
	return 0;
}

void handoff_free(struct inode *in)
{
	ho_free(in->ho);
	set_ho(in, NULL);
}
