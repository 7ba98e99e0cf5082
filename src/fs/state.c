// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state a worker leaves to the next one: what vofirm-fs needs to carry
 * on after its worker process dies or is replaced (docs/architecture.md,
 * "Surviving the worker").
 *
 * It lives in two memfds the supervisor creates and keeps open, so it
 * outlives any worker:
 *
 *   meta   a header page (format, the FUSE INIT request, the worker's pid
 *          and restarts, the active snapshot) and two snapshot slots;
 *   arena  the extents' blocks: each extent's copies (one 64-bit word per
 *          slot: server, slab, state) and its written-page bits.
 *
 * The blocks change in place, a word at a time, with atomic stores: a
 * copy's state, a page's bit.  Each is consistent at any instant, and
 * each is set only once what it says is true (a bit after every copy has
 * the page; a copy's slot once its slab is granted, EMPTY before the slab
 * is freed).
 *
 * Everything else (the namespace, sizes, modes, each file's map of
 * blocks, the servers and their sessions' tokens) is a snapshot: every
 * change renders the records it touches (state_put_*) and commits
 * (state_commit), which writes the whole snapshot into the slot not in
 * use and then flips the header's `active` word (one atomic store).  A
 * worker killed at any instant leaves either the old snapshot or the new
 * one, both whole.  A change is committed before it is acknowledged to
 * the kernel.  A block freed by a change is reused only after a commit
 * that no longer names it; a slab granted but not yet in a committed
 * record is an orphan the next worker frees (servers.c, free_orphans).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

#define SNAP_MAGIC 0x4e534656u /* "VFSN" */
#define SLOT_MIN (64u << 10)

static size_t meta_size(struct fs_state *st)
{
	struct stat sb;

	return fstat(st->meta_fd, &sb) ? 0 : (size_t)sb.st_size;
}

int state_create(int *meta_fd, int *arena_fd)
{
	struct state_hdr *h;

	*meta_fd = memfd_create("vofirm-fs-state", MFD_CLOEXEC);
	*arena_fd = memfd_create("vofirm-fs-blocks", MFD_CLOEXEC);
	if (*meta_fd < 0 || *arena_fd < 0 || ftruncate(*meta_fd, STATE_HDR_SIZE) < 0) {
		vf_err("cannot create the state the workers share (memfd): %s", strerror(errno));
		return -errno;
	}
	h = mmap(NULL, STATE_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *meta_fd, 0);
	if (h == MAP_FAILED) {
		vf_err("cannot map the state: %s", strerror(errno));
		return -errno;
	}
	memcpy(h->magic, STATE_MAGIC, sizeof(h->magic));
	h->format = FS_STATE_FORMAT;
	munmap(h, STATE_HDR_SIZE);
	return 0;
}

struct state_hdr *state_map_hdr(int meta_fd)
{
	struct state_hdr *h =
		mmap(NULL, STATE_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, meta_fd, 0);

	return h == MAP_FAILED ? NULL : h;
}

int state_check_format(const struct state_hdr *h, char *why, size_t whylen)
{
	if (memcmp(h->magic, STATE_MAGIC, sizeof(h->magic))) {
		snprintf(why, whylen, "not a vofirm-fs state");
		return -EINVAL;
	}
	if (h->format != FS_STATE_FORMAT) {
		snprintf(why, whylen,
			 "its state is format %u, and this vofirm-fs (%s) reads format %u only",
			 h->format, VOFIRM_VERSION, FS_STATE_FORMAT);
		return -EPROTO;
	}
	return 0;
}

int state_attach(struct fs *fs, int meta_fd, int arena_fd)
{
	struct fs_state *st = &fs->st;
	char why[160];

	memset(st, 0, sizeof(*st));
	st->meta_fd = meta_fd;
	st->arena_fd = arena_fd;
	fs_mutex_init(&st->lock, LOCK_STATE);
	st->ns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	st->data = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	st->hdr = state_map_hdr(meta_fd);
	if (!st->hdr) {
		vf_err("cannot map the state: %s", strerror(errno));
		return -errno;
	}
	if (state_check_format(st->hdr, why, sizeof(why))) {
		vf_err("cannot carry on: %s", why);
		return -EPROTO;
	}
	return 0;
}

void state_detach(struct fs *fs)
{
	struct fs_state *st = &fs->st;

	if (st->meta)
		munmap(st->meta, st->meta_len);
	if (st->arena)
		munmap(st->arena, st->arena_reserve);
	if (st->hdr)
		munmap(st->hdr, STATE_HDR_SIZE);
	if (st->ns) {
		g_hash_table_destroy(st->ns);
		g_hash_table_destroy(st->data);
		fs_mutex_destroy(&st->lock);
	}
	g_free(st->global);
	free(st->free_blocks);
	free(st->pending);
	memset(st, 0, sizeof(*st));
}

bool state_has_snapshot(struct fs *fs)
{
	return __atomic_load_n(&fs->st.hdr->active, __ATOMIC_ACQUIRE) != 0;
}

/* ---- blocks ---- */

size_t state_block_size(uint64_t slab_size)
{
	size_t bits = (slab_size / FS_PAGE + 63) / 64 * 8;

	return (sizeof(struct ext_block) + bits + 63) / 64 * 64;
}

int state_arena_setup(struct fs *fs)
{
	struct fs_state *st = &fs->st;
	size_t bs = state_block_size(fs->slab_size);
	struct stat sb;

	if (st->hdr->block_size && st->hdr->block_size != bs) {
		vf_err("cannot carry on: the state's blocks are of %" PRIu64 " bytes, slabs of %s "
		       "need %zu (the servers' slab size changed?)",
		       st->hdr->block_size, "this size", bs);
		return -EPROTO;
	}
	st->hdr->block_size = bs;
	st->block_size = bs;
	st->nblocks_max = STATE_MAX_BLOCKS;
	st->arena_reserve = (size_t)STATE_MAX_BLOCKS * bs;
	st->arena = mmap(NULL, st->arena_reserve, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_NORESERVE, st->arena_fd, 0);
	if (st->arena == MAP_FAILED) {
		st->arena = NULL;
		vf_err("cannot map the blocks of the state (%zu bytes reserved): %s",
		       st->arena_reserve, strerror(errno));
		return -errno;
	}
	if (fstat(st->arena_fd, &sb)) {
		vf_err("fstat of the state's blocks: %s", strerror(errno));
		return -errno;
	}
	st->arena_len = (size_t)sb.st_size;
	return 0;
}

struct ext_block *state_block(struct fs *fs, uint32_t idx)
{
	return (struct ext_block *)(fs->st.arena + (size_t)idx * fs->st.block_size);
}

/* Makes room for blocks [0, n) (st->lock held). */
static int arena_grow(struct fs_state *st, uint32_t n)
{
	size_t need = (size_t)n * st->block_size, len;

	if (need <= st->arena_len)
		return 0;
	if (n > st->nblocks_max)
		return -ENOSPC;
	len = MAX(need, st->arena_len * 2);
	len = MIN(MAX(len, (size_t)(1u << 20)), st->arena_reserve);
	if (ftruncate(st->arena_fd, (off_t)len) < 0)
		return -errno;
	st->arena_len = len;
	return 0;
}

int state_block_alloc(struct fs *fs, uint32_t *idx)
{
	struct fs_state *st = &fs->st;
	uint32_t i;
	int ret = 0;

	fs_mutex_lock(&st->lock);
	if (st->nfree) {
		i = st->free_blocks[--st->nfree];
	} else {
		i = st->next_block;
		ret = arena_grow(st, i + 1);
		if (!ret)
			st->next_block++;
	}
	fs_mutex_unlock(&st->lock);
	if (ret) {
		vf_err("no room for another extent in the state (%u extents at most): %s",
		       st->nblocks_max, strerror(-ret));
		return ret;
	}
	memset(state_block(fs, i), 0, st->block_size);
	*idx = i;
	return 0;
}

static int push(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v)
{
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 256, *p = realloc(*a, sizeof(*p) * c);

		if (!p)
			return -ENOMEM;
		*a = p;
		*cap = c;
	}
	(*a)[(*n)++] = v;
	return 0;
}

void state_block_free(struct fs *fs, uint32_t idx)
{
	struct fs_state *st = &fs->st;

	fs_mutex_lock(&st->lock);
	if (push(&st->pending, &st->npending, &st->cap_pending, idx))
		vf_warn("no memory to remember a free block of the state: it is not reused");
	fs_mutex_unlock(&st->lock);
}

/* ---- records ---- */

struct wbuf {
	GByteArray *a;
};

static void w_u8(GByteArray *a, uint8_t v)
{
	g_byte_array_append(a, &v, 1);
}

static void w_u16(GByteArray *a, uint16_t v)
{
	g_byte_array_append(a, (const guint8 *)&v, sizeof(v));
}

static void w_u32(GByteArray *a, uint32_t v)
{
	g_byte_array_append(a, (const guint8 *)&v, sizeof(v));
}

static void w_u64(GByteArray *a, uint64_t v)
{
	g_byte_array_append(a, (const guint8 *)&v, sizeof(v));
}

static void w_bytes(GByteArray *a, const void *p, size_t n)
{
	g_byte_array_append(a, p, (guint)n);
}

/* A record is its length (u32) and its bytes. */
static void *record(GByteArray *a)
{
	uint32_t len = a->len - 4;

	memcpy(a->data, &len, 4);
	return g_byte_array_free(a, FALSE);
}

static GByteArray *record_new(void)
{
	GByteArray *a = g_byte_array_sized_new(128);

	w_u32(a, 0); /* the length, set by record() */
	return a;
}

static void put(struct fs *fs, GHashTable *t, fuse_ino_t ino, void *rec)
{
	fs_mutex_lock(&fs->st.lock);
	g_hash_table_replace(t, GUINT_TO_POINTER(ino), rec);
	fs_mutex_unlock(&fs->st.lock);
}

void state_put_ns(struct fs *fs, struct inode *in)
{
	GByteArray *a;
	size_t nlen = in->name ? strlen(in->name) : 0;

	if (!fs->st.hdr || in->kind == INODE_CTL_DIR || in->kind == INODE_CTL_FILE)
		return;
	a = record_new();
	w_u64(a, in->ino);
	w_u8(a, (uint8_t)in->kind);
	w_u32(a, in->mode);
	w_u32(a, in->uid);
	w_u32(a, in->gid);
	w_u32(a, in->nlink);
	w_u32(a, in->nopen);
	w_u64(a, in->parent ? in->parent->ino : 0);
	w_u8(a, in->replicas);
	w_u64(a, (uint64_t)in->atime.tv_sec);
	w_u64(a, (uint64_t)in->atime.tv_nsec);
	w_u64(a, (uint64_t)in->mtime.tv_sec);
	w_u64(a, (uint64_t)in->mtime.tv_nsec);
	w_u64(a, (uint64_t)in->ctime.tv_sec);
	w_u64(a, (uint64_t)in->ctime.tv_nsec);
	w_u16(a, (uint16_t)nlen);
	w_bytes(a, in->name, nlen);
	put(fs, fs->st.ns, in->ino, record(a));
}

void state_put_data(struct fs *fs, struct inode *in)
{
	GByteArray *a;

	if (!fs->st.hdr || in->kind != INODE_FILE)
		return;
	a = record_new();
	w_u64(a, in->ino);
	w_u64(a, in->size);
	w_u8(a, in->replicas);
	w_u32(a, in->nmap);
	for (uint32_t i = 0; i < in->nmap; i++)
		w_u32(a, in->map[i] ? in->map[i]->blk + 1 : 0);
	{
		/* a handoff not committed yet (an optional trailer) */
		size_t hlen = 0;
		void *ho = handoff_state(in, &hlen);

		if (ho) {
			w_u32(a, (uint32_t)hlen);
			w_bytes(a, ho, hlen);
			g_free(ho);
		}
	}
	put(fs, fs->st.data, in->ino, record(a));
}

void state_drop(struct fs *fs, fuse_ino_t ino)
{
	if (!fs->st.hdr)
		return;
	fs_mutex_lock(&fs->st.lock);
	g_hash_table_remove(fs->st.ns, GUINT_TO_POINTER(ino));
	g_hash_table_remove(fs->st.data, GUINT_TO_POINTER(ino));
	fs_mutex_unlock(&fs->st.lock);
}

/*
 * The global record: the slab size, the next inode number, the servers
 * and our sessions' tokens.  Read without locks (callers may hold any):
 * each field is set once, or is a word read whole.
 */
static void *render_global(struct fs *fs)
{
	unsigned n = fs_nsrv(fs);
	GByteArray *a = record_new();

	w_u64(a, fs->slab_size);
	w_u64(a, __atomic_load_n(&fs->next_ino, __ATOMIC_RELAXED));
	w_u32(a, n);
	for (unsigned i = 0; i < n; i++) {
		struct server *s = &fs->srv[i];
		size_t ul = strlen(s->url);
		/* first: a LOST entry taken by its server's next instance gets
		 * a new token before lost is cleared (servers.c, server_reuse) */
		bool lost = __atomic_load_n(&s->lost, __ATOMIC_ACQUIRE);

		w_u16(a, (uint16_t)ul);
		w_bytes(a, s->url, ul);
		w_bytes(a, s->x->token, VF_TOKEN_LEN);
		w_u64(a, s->lease_ms);
		w_u64(a, __atomic_load_n(&s->capacity, __ATOMIC_RELAXED));
		w_u8(a, lost);
		w_u8(a, __atomic_load_n(&s->draining, __ATOMIC_RELAXED));
	}
	return record(a);
}

void state_applied(struct fs *fs)
{
	struct fs_state *st = &fs->st;
	uint64_t u = fs_req_unique() & ~FS_UNIQUE_RESEND;

	if (!st->hdr || !u)
		return;
	fs_mutex_lock(&st->lock);
	st->applied[st->applied_pos] = u;
	st->applied_pos = (st->applied_pos + 1) % STATE_APPLIED;
	if (st->napplied < STATE_APPLIED)
		st->napplied++;
	fs_mutex_unlock(&st->lock);
}

bool state_was_applied(struct fs *fs, uint64_t unique)
{
	struct fs_state *st = &fs->st;
	uint64_t u = unique & ~FS_UNIQUE_RESEND;
	bool found = false;

	if (!st->hdr || !u)
		return false;
	fs_mutex_lock(&st->lock);
	for (uint32_t i = 0; i < st->napplied && !found; i++)
		found = st->applied[i] == u;
	fs_mutex_unlock(&st->lock);
	return found;
}

static uint32_t rec_len(const void *rec)
{
	uint32_t len;

	memcpy(&len, rec, 4);
	return len + 4;
}

/* Maps the meta file whole, again if it grew (st->lock held). */
static int meta_map(struct fs_state *st, size_t len)
{
	void *m;

	if (st->meta && st->meta_len >= len)
		return 0;
	if (st->meta)
		munmap(st->meta, st->meta_len);
	st->meta = NULL;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, st->meta_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	st->meta = m;
	st->meta_len = len;
	return 0;
}

int state_commit(struct fs *fs)
{
	struct fs_state *st = &fs->st;
	struct state_hdr *h = st->hdr;
	uint64_t active, len = 0, gen;
	void *global;
	unsigned slot;
	GHashTableIter it;
	gpointer v;
	uint8_t *p;
	int ret;

	if (!h)
		return 0;
	global = render_global(fs);
	fs_mutex_lock(&st->lock);
	g_free(st->global);
	st->global = global;
	/* header of the snapshot, the global record, the requests applied, the
	 * counts, the records */
	len = 16 + (st->global ? rec_len(st->global) : 4) + 4 + 8 * (uint64_t)st->napplied + 8;
	g_hash_table_iter_init(&it, st->ns);
	while (g_hash_table_iter_next(&it, NULL, &v))
		len += rec_len(v);
	g_hash_table_iter_init(&it, st->data);
	while (g_hash_table_iter_next(&it, NULL, &v))
		len += rec_len(v);

	active = __atomic_load_n(&h->active, __ATOMIC_ACQUIRE);
	gen = (active >> 1) + 1;
	slot = active ? 1 - (unsigned)(active & 1) : 0;
	if (h->slot[slot].cap < len) {
		/* a bigger place at the end of the file; the old one is left */
		size_t end = MAX(meta_size(st), (size_t)STATE_HDR_SIZE);
		size_t cap = MAX((size_t)len * 2, (size_t)SLOT_MIN);

		if (ftruncate(st->meta_fd, (off_t)(end + cap)) < 0) {
			ret = -errno;
			goto fail;
		}
		h->slot[slot].off = end;
		h->slot[slot].cap = cap;
	}
	ret = meta_map(st, h->slot[slot].off + h->slot[slot].cap);
	if (ret)
		goto fail;
	p = st->meta + h->slot[slot].off;
	{
		uint32_t magic = SNAP_MAGIC, nns = g_hash_table_size(st->ns),
			 ndata = g_hash_table_size(st->data);

		memcpy(p, &magic, 4);
		memcpy(p + 4, &h->format, 4);
		memcpy(p + 8, &gen, 8);
		p += 16;
		if (st->global) {
			memcpy(p, st->global, rec_len(st->global));
			p += rec_len(st->global);
		} else {
			memset(p, 0, 4);
			p += 4;
		}
		memcpy(p, &st->napplied, 4);
		memcpy(p + 4, st->applied, 8 * (size_t)st->napplied);
		p += 4 + 8 * (size_t)st->napplied;
		memcpy(p, &nns, 4);
		memcpy(p + 4, &ndata, 4);
		p += 8;
		g_hash_table_iter_init(&it, st->ns);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			memcpy(p, v, rec_len(v));
			p += rec_len(v);
		}
		g_hash_table_iter_init(&it, st->data);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			memcpy(p, v, rec_len(v));
			p += rec_len(v);
		}
	}
	h->slot[slot].len = len;
	h->slot[slot].gen = gen;
	/* the flip: one store; the snapshot above is whole before it */
	__atomic_store_n(&h->active, gen << 1 | slot, __ATOMIC_RELEASE);
	/* the blocks no record names any more can be reused now */
	for (uint32_t k = 0; k < st->npending; k++)
		if (push(&st->free_blocks, &st->nfree, &st->cap_free, st->pending[k]))
			break;
	st->npending = 0;
	fs_mutex_unlock(&st->lock);
	return 0;
fail:
	fs_mutex_unlock(&st->lock);
	vf_log_ratelimited(LOG_ERR,
			   "cannot save the state for the next worker: %s: a worker that dies "
			   "now loses the latest changes to the files' names and sizes",
			   strerror(-ret));
	return ret;
}

/* ---- loading ---- */

struct rbuf {
	const uint8_t *p, *end;
	bool bad;
};

static void r_take(struct rbuf *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

#define R(r, T)                               \
	({                                    \
		T v_;                         \
		r_take((r), &v_, sizeof(v_)); \
		v_;                           \
	})

/* The records of the active snapshot: calls the loaders in order. */
int state_load(struct fs *fs, const struct state_loader *ld)
{
	struct fs_state *st = &fs->st;
	struct state_hdr *h = st->hdr;
	uint64_t active = __atomic_load_n(&h->active, __ATOMIC_ACQUIRE), gen;
	unsigned slot = (unsigned)(active & 1);
	struct rbuf r;
	uint32_t magic, format, glen, nns, ndata;
	int ret;

	if (!active)
		return -ENOENT;
	fs_mutex_lock(&st->lock);
	ret = meta_map(st, h->slot[slot].off + h->slot[slot].cap);
	fs_mutex_unlock(&st->lock);
	if (ret)
		return ret;
	r.p = st->meta + h->slot[slot].off;
	r.end = r.p + h->slot[slot].len;
	r.bad = false;
	magic = R(&r, uint32_t);
	format = R(&r, uint32_t);
	gen = R(&r, uint64_t);
	if (r.bad || magic != SNAP_MAGIC || format != FS_STATE_FORMAT || gen != active >> 1) {
		vf_err("the state's snapshot %" PRIu64 " is damaged (magic %08x, format %u)",
		       active >> 1, magic, format);
		return -EPROTO;
	}
	glen = R(&r, uint32_t);
	if (glen) {
		struct rbuf g = { r.p, r.p + glen, false };

		if ((size_t)(r.end - r.p) < glen)
			return -EPROTO;
		ret = ld->global(fs, &g);
		if (ret || g.bad)
			return ret ? ret : -EPROTO;
		r.p += glen;
	}
	st->napplied = R(&r, uint32_t);
	if (st->napplied > STATE_APPLIED)
		return -EPROTO;
	r_take(&r, st->applied, 8 * (size_t)st->napplied);
	st->applied_pos = st->napplied % STATE_APPLIED;
	nns = R(&r, uint32_t);
	ndata = R(&r, uint32_t);
	for (uint32_t k = 0; k < nns + ndata && !r.bad; k++) {
		uint32_t len = R(&r, uint32_t);
		struct rbuf one = { r.p, r.p + len, false };

		if (r.bad || (size_t)(r.end - r.p) < len)
			return -EPROTO;
		ret = k < nns ? ld->ns(fs, &one) : ld->data(fs, &one);
		if (ret || one.bad)
			return ret ? ret : -EPROTO;
		r.p += len;
	}
	return r.bad ? -EPROTO : 0;
}

uint8_t state_r_u8(struct rbuf *r)
{
	return R(r, uint8_t);
}

uint16_t state_r_u16(struct rbuf *r)
{
	return R(r, uint16_t);
}

uint32_t state_r_u32(struct rbuf *r)
{
	return R(r, uint32_t);
}

uint64_t state_r_u64(struct rbuf *r)
{
	return R(r, uint64_t);
}

void state_r_bytes(struct rbuf *r, void *out, size_t n)
{
	r_take(r, out, n);
}

size_t state_r_left(const struct rbuf *r)
{
	return r->bad ? 0 : (size_t)(r->end - r->p);
}

bool state_r_bad(const struct rbuf *r)
{
	return r->bad;
}

/* After loading: blocks [0, n) in use are `used`; the others are free. */
int state_blocks_loaded(struct fs *fs, const uint8_t *used, uint32_t n)
{
	struct fs_state *st = &fs->st;

	st->next_block = n;
	for (uint32_t i = n; i-- > 0;)
		if (!used[i] && push(&st->free_blocks, &st->nfree, &st->cap_free, i))
			return -ENOMEM;
	return 0;
}
