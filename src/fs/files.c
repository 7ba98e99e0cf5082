// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Inodes and the data of files: slab maps, the written-page bitmaps, and
 * the read, write, resize and fallocate paths.
 *
 * A file of size N has slabs reserved for [0, N) (ftruncate and fallocate
 * reserve), and keeps them until it shrinks or goes away: a punched hole
 * keeps its slabs, so a write never needs one.  That is what makes a
 * store through a shared mapping safe: the kernel writes such a page back
 * long after the store, when nobody can be told of a failure any more,
 * so the write-back must never need memory the pool may not have.  A page
 * whose bit is clear has never been written since it was granted or
 * punched: it reads as zeros without a request, and whatever its remote
 * bytes are, they are never shown (a partial write to such a page sends
 * the whole page, padded with zeros).
 *
 * Each slab-sized range is an extent (extent.c): its data is kept in as
 * many copies as the file asks for (--replicas, user.vofirm.replicas), on
 * distinct servers, all reserved with the size.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

static const uint8_t zero_page[FS_PAGE];

/* ---- inodes ---- */

static struct inode *inode_make(struct fs *fs, fuse_ino_t ino, enum inode_kind kind, mode_t mode,
				uid_t uid, gid_t gid)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->ino = ino;
	in->kind = kind;
	in->mode = mode;
	in->uid = uid;
	in->gid = gid;
	in->nlink = kind == INODE_FILE || kind == INODE_CTL_FILE ? 1 : 2;
	clock_gettime(CLOCK_REALTIME, &in->mtime);
	in->atime = in->ctime = in->mtime;
	fs_rwlock_init(&in->rw, LOCK_INODE_RW);
	if (kind == INODE_DIR || kind == INODE_CTL_DIR)
		in->children = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_insert(fs->inodes, GUINT_TO_POINTER(in->ino), in);
	return in;
}

struct inode *inode_new(struct fs *fs, enum inode_kind kind, mode_t mode, uid_t uid, gid_t gid)
{
	fuse_ino_t ino = __atomic_fetch_add(&fs->next_ino, 1, __ATOMIC_RELAXED);

	return inode_make(fs, ino, kind, mode, uid, gid);
}

void inode_free(struct fs *fs, struct inode *in)
{
	state_drop(fs, in->ino);
	prefetch_file_free(in);
	fetchahead_file_free(fs, in);
	g_hash_table_remove(fs->inodes, GUINT_TO_POINTER(in->ino));
	for (uint32_t i = 0; i < in->nmap; i++)
		if (in->map[i])
			ext_free(fs, in->map[i]);
	free(in->map);
	handoff_free(in);
	if (in->children)
		g_hash_table_destroy(in->children);
	fs_rwlock_destroy(&in->rw);
	free(in->name);
	free(in);
}

void inode_maybe_free(struct fs *fs, struct inode *in)
{
	if (in == fs->root || in->kind == INODE_CTL_DIR || in->kind == INODE_CTL_FILE)
		return;
	if (in->nlookup || in->nlink || in->nopen || in->pinned)
		return;
	inode_free(fs, in);
}

struct inode *inode_get(struct fs *fs, fuse_ino_t ino)
{
	return g_hash_table_lookup(fs->inodes, GUINT_TO_POINTER(ino));
}

char *inode_path(struct fs *fs, struct inode *in)
{
	GString *p = g_string_new(NULL);

	if (in == fs->root)
		return g_string_free(p, TRUE), g_strdup("/");
	if (!in->parent)
		return g_string_free(p, TRUE), g_strdup_printf("(deleted) %s", in->name);
	for (struct inode *i = in; i && i != fs->root; i = i->parent) {
		g_string_prepend(p, i->name);
		g_string_prepend_c(p, '/');
	}
	return g_string_free(p, FALSE);
}

int fs_init_tree(struct fs *fs)
{
	ext_init_loss_report(fs);
	fs->inodes = g_hash_table_new(g_direct_hash, g_direct_equal);
	fs_mutex_init(&fs->ns_lock, LOCK_NS);
	fs->next_ino = FUSE_ROOT_ID;
	fs->root = inode_new(fs, INODE_DIR, S_IFDIR | 0755, 0, 0);
	fs->root->name = strdup("");
	fs->root->nlookup = 1; /* the kernel's reference, never forgotten */
	/* the mount's owner's, so that whoever mounted may drain (setxattr on
	 * it); nothing can be made in it (ops.c refuses) */
	fs->ctl_dir = inode_new(fs, INODE_CTL_DIR, S_IFDIR | 0755, geteuid(), getegid());
	fs->ctl_dir->name = strdup(FS_CTL_NAME);
	fs->ctl_dir->parent = fs->root;
	g_hash_table_insert(fs->root->children, fs->ctl_dir->name, fs->ctl_dir);
	static const char *const ctl_files[] = { "stats.json", "metrics" };
	for (int i = 0; i < 2; i++) {
		struct inode *c = inode_new(fs, INODE_CTL_FILE, S_IFREG | 0444, 0, 0);

		c->name = strdup(ctl_files[i]);
		c->parent = fs->ctl_dir;
		c->ctl_file = i;
		g_hash_table_insert(fs->ctl_dir->children, c->name, c);
	}
	return 0;
}

void fs_free_tree(struct fs *fs)
{
	GList *all = g_hash_table_get_values(fs->inodes);

	for (GList *l = all; l; l = l->next)
		inode_free(fs, l->data);
	g_list_free(all);
	g_hash_table_destroy(fs->inodes);
	fs_mutex_destroy(&fs->ns_lock);
}

/* ---- carrying on from the last worker's state ---- */

struct load_ctx {
	GHashTable *parent; /* ino -> parent ino (+0: none) */
	uint8_t *used;	    /* blocks named by a file */
	uint32_t nused;
};

static struct load_ctx lc;

static int load_global(struct fs *fs, struct rbuf *r)
{
	uint32_t n;
	int ret;

	fs->slab_size = state_r_u64(r);
	fs->next_ino = state_r_u64(r);
	n = state_r_u32(r);
	if (state_r_bad(r) || !fs->slab_size || n > FS_MAX_SERVERS)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		char url[FS_URL_MAX + 1];
		uint8_t token[VF_TOKEN_LEN];
		uint16_t ul = state_r_u16(r);
		uint64_t lease, cap;
		bool lost, draining;

		if (ul > FS_URL_MAX)
			return -EPROTO;
		state_r_bytes(r, url, ul);
		url[ul] = '\0';
		state_r_bytes(r, token, sizeof(token));
		lease = state_r_u64(r);
		cap = state_r_u64(r);
		lost = state_r_u8(r);
		draining = state_r_u8(r);
		if (state_r_bad(r))
			return -EPROTO;
		ret = server_resume(fs, i, url, token, lease, cap, lost, draining);
		if (ret)
			return ret;
	}
	return state_arena_setup(fs);
}

static int load_ns(struct fs *fs, struct rbuf *r)
{
	fuse_ino_t ino = state_r_u64(r), parent;
	enum inode_kind kind = (enum inode_kind)state_r_u8(r);
	uint32_t mode = state_r_u32(r), uid = state_r_u32(r), gid = state_r_u32(r);
	uint32_t nlink = state_r_u32(r), nopen = state_r_u32(r);
	struct timespec t[3];
	uint8_t replicas;
	uint16_t nlen;
	struct inode *in;
	char name[256];

	parent = state_r_u64(r);
	replicas = state_r_u8(r);
	for (int k = 0; k < 3; k++) {
		t[k].tv_sec = (time_t)state_r_u64(r);
		t[k].tv_nsec = (long)state_r_u64(r);
	}
	nlen = state_r_u16(r);
	if (state_r_bad(r) || nlen > 255 || (kind != INODE_FILE && kind != INODE_DIR) ||
	    replicas > FS_MAX_REPLICAS)
		return -EPROTO;
	state_r_bytes(r, name, nlen);
	name[nlen] = '\0';
	if (ino == FUSE_ROOT_ID) {
		in = fs->root;
	} else {
		if (inode_get(fs, ino))
			return -EPROTO; /* twice */
		in = inode_make(fs, ino, kind, mode, uid, gid);
		if (!in)
			return -ENOMEM;
		in->name = strdup(name);
		in->nlookup = 1ull << 40; /* the kernel's count is unknown: never forgotten */
		g_hash_table_insert(lc.parent, GUINT_TO_POINTER(ino), GUINT_TO_POINTER(parent));
	}
	in->mode = mode;
	in->uid = uid;
	in->gid = gid;
	in->nlink = nlink;
	in->nopen = nopen;
	in->replicas = replicas;
	in->atime = t[0];
	in->mtime = t[1];
	in->ctime = t[2];
	return 0;
}

static int load_data(struct fs *fs, struct rbuf *r)
{
	fuse_ino_t ino = state_r_u64(r);
	uint64_t size = state_r_u64(r);
	uint8_t replicas = state_r_u8(r);
	uint32_t nmap = state_r_u32(r);
	struct inode *in = inode_get(fs, ino);

	if (state_r_bad(r) || !in || in->kind != INODE_FILE || replicas > FS_MAX_REPLICAS)
		return -EPROTO;
	in->size = size;
	in->replicas = replicas;
	in->map = calloc(nmap ? nmap : 1, sizeof(*in->map));
	if (!in->map)
		return -ENOMEM;
	in->nmap = nmap;
	for (uint32_t i = 0; i < nmap; i++) {
		uint32_t b = state_r_u32(r);
		struct extent *e;

		if (state_r_bad(r) || b > STATE_MAX_BLOCKS ||
		    (b && (size_t)(b - 1) * fs->st.block_size >= fs->st.arena_len))
			return -EPROTO;
		if (!b)
			continue;
		if (b > lc.nused) {
			uint32_t n = MAX(b, lc.nused * 2);
			uint8_t *u = realloc(lc.used, n);

			if (!u)
				return -ENOMEM;
			memset(u + lc.nused, 0, n - lc.nused);
			lc.used = u;
			lc.nused = n;
		}
		if (lc.used[b - 1])
			return -EPROTO; /* one block, two extents */
		lc.used[b - 1] = 1;
		e = ext_load(fs, b - 1);
		if (!e)
			return -ENOMEM;
		in->map[i] = e;
		for (unsigned k = 0; k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			if (c.srv >= fs_nsrv(fs) || c.state > COPY_GONE)
				return -EPROTO;
			server_note_slab(fs, c.srv, c.id);
			in->held++;
		}
	}
	if (state_r_left(r)) {
		/* a handoff not committed yet (handoff.c) */
		uint32_t hlen = state_r_u32(r);
		uint8_t *ho = hlen <= state_r_left(r) ? malloc(hlen + 1) : NULL;
		int ret;

		if (!ho)
			return -EPROTO;
		state_r_bytes(r, ho, hlen);
		ret = state_r_bad(r) ? -EPROTO : handoff_state_load(fs, in, ho, hlen);
		free(ho);
		return ret;
	}
	return 0;
}

int fs_load_tree(struct fs *fs, unsigned *nfiles)
{
	static const struct state_loader ld = { load_global, load_ns, load_data };
	GHashTableIter it;
	gpointer k, v;
	GList *dead = NULL;
	unsigned files = 0;
	int ret;

	lc.parent = g_hash_table_new(g_direct_hash, g_direct_equal);
	ret = state_load(fs, &ld);
	if (ret) {
		vf_err("cannot carry on from the last worker's state: %s",
		       ret == -EPROTO ? "it is damaged" : strerror(-ret));
		goto out;
	}
	/* the tree, now that every inode is there */
	g_hash_table_iter_init(&it, lc.parent);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct inode *in = inode_get(fs, GPOINTER_TO_UINT(k));
		struct inode *p = inode_get(fs, GPOINTER_TO_UINT(v));

		if (in->nlink == 0) {
			if (!in->nopen)
				dead = g_list_prepend(dead, in); /* its release was cut short */
			continue;
		}
		if (!p || p->kind != INODE_DIR || g_hash_table_contains(p->children, in->name)) {
			vf_err("cannot carry on: the state puts %s (inode %" PRIu64
			       ") in a directory that is not there",
			       in->name, (uint64_t)in->ino);
			ret = -EPROTO;
			goto out;
		}
		in->parent = p;
		g_hash_table_insert(p->children, in->name, in);
		files += in->kind == INODE_FILE;
	}
	ret = state_blocks_loaded(fs, lc.used, lc.nused);
	if (ret)
		goto out;
	/* This worker's records start as the state's: every commit writes them
	 * all, so one left out would vanish from the next snapshot. */
	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct inode *in = v;

		state_put_ns(fs, in);
		state_put_data(fs, in);
	}
	/* files unlinked and closed whose slabs were still being given back */
	for (GList *l = dead; l; l = l->next) {
		struct inode *in = l->data;

		file_free_slabs(fs, in);
		inode_free(fs, in);
	}
	*nfiles = files;
out:
	g_list_free(dead);
	g_hash_table_destroy(lc.parent);
	free(lc.used);
	memset(&lc, 0, sizeof(lc));
	return ret;
}

/* ---- I/O buffers, preallocated ---- */

void *fs_buf_get(struct fs *fs)
{
	void *b;

	fs_mutex_lock(&fs->buf_lock);
	while (!fs->nbufs_free)
		fs_cond_wait(&fs->buf_cv, &fs->buf_lock);
	b = fs->bufs[--fs->nbufs_free];
	fs_mutex_unlock(&fs->buf_lock);
	return b;
}

void fs_buf_put(struct fs *fs, void *b)
{
	fs_mutex_lock(&fs->buf_lock);
	fs->bufs[fs->nbufs_free++] = b;
	pthread_cond_signal(&fs->buf_cv);
	fs_mutex_unlock(&fs->buf_lock);
}

/* ---- the written-page bits ---- */

void ext_mark_written(struct extent *e, uint64_t first, uint64_t last)
{
	for (uint64_t pg = first; pg <= last; pg++)
		__atomic_fetch_or(&e->b->written[pg / 64], 1ull << (pg % 64), __ATOMIC_RELEASE);
}

static void clear_written(struct extent *e, uint64_t first, uint64_t last)
{
	for (uint64_t pg = first; pg <= last; pg++)
		__atomic_fetch_and(&e->b->written[pg / 64], ~(1ull << (pg % 64)), __ATOMIC_RELEASE);
}

unsigned file_replicas(struct fs *fs, const struct inode *in)
{
	unsigned r = __atomic_load_n(&in->replicas, __ATOMIC_RELAXED);

	if (!r)
		r = fs->set.replicas;
	return r ? r : 1;
}

uint64_t file_reserved(struct fs *fs, struct inode *in)
{
	return (uint64_t)__atomic_load_n(&in->held, __ATOMIC_RELAXED) * fs->slab_size;
}

void file_log_io_error(struct fs *fs, struct inode *in, const char *what, uint64_t off, int err)
{
	char *path;

	fs_mutex_lock(&fs->ns_lock);
	path = inode_path(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
	vf_err("file %s: %s at offset %" PRIu64 " failed: %s", path, what, off, strerror(-err));
	g_free(path);
}

/* Makes the map at least n entries long (in->rw held exclusively). */
static int map_extend(struct inode *in, uint32_t n)
{
	struct extent **m;

	if (n <= in->nmap)
		return 0;
	m = realloc(in->map, sizeof(*m) * n);
	if (!m)
		return -ENOMEM;
	memset(m + in->nmap, 0, sizeof(*m) * (n - in->nmap));
	in->map = m;
	in->nmap = n;
	return 0;
}

static void log_refusal(struct fs *fs, struct inode *in, const char *what, const char *why)
{
	char *path;

	fs_mutex_lock(&fs->ns_lock);
	path = inode_path(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
	vf_err("file %s: %s refused: %s", path, what, why);
	g_free(path);
}

/* Saves the file's data record for the next worker (in->rw exclusive). */
static void save(struct fs *fs, struct inode *in)
{
	state_put_data(fs, in);
	state_commit(fs);
}

/*
 * Reserves slabs for every hole among map entries [first, last], as many
 * copies of each as the file asks for (in->rw held exclusively).  All or
 * nothing: the records are made before the servers are asked, so nothing
 * can fail after the grant.
 */
static int reserve_range(struct fs *fs, struct inode *in, uint64_t first, uint64_t last,
			 const char *what)
{
	uint32_t old_n = in->nmap, need = 0, k = 0;
	unsigned r;
	struct slab_grant *g = NULL;
	struct extent **rec = NULL;
	char why[512];
	int ret;

	r = file_replicas(fs, in);
	if (!in->replicas) /* fixed from the first reservation on */
		__atomic_store_n(&in->replicas, (uint8_t)r, __ATOMIC_RELAXED);
	ret = map_extend(in, (uint32_t)(last + 1));
	if (ret)
		return ret;
	for (uint64_t i = first; i <= last; i++)
		if (!in->map[i])
			need++;
	if (!need)
		return 0;
	g = calloc((size_t)need * r, sizeof(*g));
	rec = calloc(need, sizeof(*rec));
	ret = g && rec ? 0 : -ENOMEM;
	for (uint32_t q = 0; q < need && !ret; q++) {
		rec[q] = ext_new(fs);
		if (!rec[q])
			ret = -ENOMEM;
	}
	if (!ret)
		ret = servers_alloc(fs, need, r, 0, g, why, sizeof(why));
	if (ret == -ENOSPC || ret == -EIO) /* short of room, or a server is down */
		log_refusal(fs, in, what, why);
	if (ret) {
		for (uint32_t q = 0; rec && q < need; q++)
			if (rec[q])
				ext_free(fs, rec[q]);
		in->nmap = old_n < in->nmap ? old_n : in->nmap; /* past old_n all are NULL */
		goto out;
	}
	for (uint64_t i = first; i <= last; i++) {
		if (in->map[i])
			continue;
		for (unsigned c = 0; c < r; c++)
			copy_set(rec[k], c,
				 (struct copy){ .srv = g[k * r + c].srv,
						.id = g[k * r + c].id,
						.state = COPY_OK });
		in->map[i] = rec[k];
		k++;
	}
	__atomic_add_fetch(&in->held, need * r, __ATOMIC_RELAXED);
out:
	free(g);
	free(rec);
	return ret;
}

int file_set_replicas(struct fs *fs, struct inode *in, unsigned n)
{
	unsigned old;
	uint8_t *added;
	char why[512], what[64];
	int ret = 0;

	if (n < 1 || n > FS_MAX_REPLICAS)
		return -EINVAL;
	fs_rwlock_wrlock(&in->rw);
	awrite_wait_inode(fs, in);
	if (handoff_pending(in) && n != file_replicas(fs, in)) {
		snprintf(what, sizeof(what), "%u copies instead of %u", n, file_replicas(fs, in));
		log_refusal(fs, in, what, handoff_pending(in));
		fs_rwlock_unlock(&in->rw);
		return -EBUSY;
	}
	added = calloc(in->nmap + 1, 1);
	if (!added) {
		fs_rwlock_unlock(&in->rw);
		return -ENOMEM;
	}
	old = file_replicas(fs, in);
	__atomic_store_n(&in->replicas, (uint8_t)n, __ATOMIC_RELAXED);
	snprintf(what, sizeof(what), "%u copies instead of %u", n, old);
	/* more copies: reserved now, all or nothing, and filled by the repair */
	for (uint32_t i = 0; i < in->nmap && n > old && !ret; i++) {
		struct extent *e = in->map[i];
		struct slab_grant g[FS_MAX_REPLICAS];
		uint64_t exclude = 0;
		unsigned have = 0;

		if (!e)
			continue;
		for (unsigned k = 0; k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			exclude |= 1ull << c.srv;
			have += c.state != COPY_GONE;
		}
		if (have >= n)
			continue;
		if (ext_ncopies(e) + (n - have) > EXT_SLOTS) {
			snprintf(why, sizeof(why),
				 "a repair is moving copies of the file: try again");
			ret = -EBUSY;
			break;
		}
		ret = servers_alloc(fs, 1, n - have, exclude, g, why, sizeof(why));
		if (ret)
			break;
		for (unsigned k = 0, slot = 0; k < n - have; k++) {
			while (copy_get(e, slot).state != COPY_EMPTY)
				slot++;
			copy_set(e, slot,
				 (struct copy){
					 .srv = g[k].srv, .id = g[k].id, .state = COPY_FILLING });
			added[i] |= (uint8_t)(1u << slot);
		}
		__atomic_add_fetch(&in->held, n - have, __ATOMIC_RELAXED);
	}
	if (ret) {
		/* all or nothing: the copies added by this call go again */
		for (uint32_t i = 0; i < in->nmap; i++) {
			struct extent *e = in->map[i];
			struct slab_grant g[EXT_SLOTS];
			unsigned m = 0;

			for (unsigned k = 0; k < EXT_SLOTS; k++) {
				struct copy c;

				if (!(added[i] & (1u << k)))
					continue;
				c = copy_get(e, k);
				copy_set(e, k, (struct copy){ .state = COPY_EMPTY });
				g[m++] = (struct slab_grant){ .srv = c.srv, .id = c.id };
			}
			if (m) {
				__atomic_sub_fetch(&in->held, m, __ATOMIC_RELAXED);
				servers_free(fs, g, m);
			}
		}
		__atomic_store_n(&in->replicas, (uint8_t)old, __ATOMIC_RELAXED);
	} else {
		save(fs, in);
	}
	fs_rwlock_unlock(&in->rw);
	free(added);
	if (ret)
		log_refusal(fs, in, what, why);
	else if (n != old)
		fs_repair_kick(fs); /* fills the new copies, or drops the surplus */
	return ret;
}

/* Collects the slabs of map entries [first, nmap), every copy, and
 * shortens the map. */
static void release_from(struct fs *fs, struct inode *in, uint32_t first)
{
	struct slab_grant *g;
	uint32_t n = 0;

	if (first >= in->nmap)
		return;
	g = calloc((size_t)(in->nmap - first) * EXT_SLOTS, sizeof(*g));
	for (uint32_t i = first; i < in->nmap; i++) {
		struct extent *e = in->map[i];

		if (!e)
			continue;
		for (unsigned k = 0; k < EXT_SLOTS; k++) {
			struct copy c = copy_get(e, k);

			if (c.state == COPY_EMPTY)
				continue;
			if (g)
				g[n] = (struct slab_grant){ .srv = c.srv, .id = c.id };
			n++;
		}
		ext_free(fs, e);
		in->map[i] = NULL;
	}
	in->nmap = first;
	__atomic_sub_fetch(&in->held, n, __ATOMIC_RELAXED);
	/* The record that no longer names them is saved before the slabs go:
	 * a worker killed in between leaves orphans the next one frees, never
	 * a file naming slabs the servers may give to someone else. */
	state_put_data(fs, in);
	state_commit(fs);
	if (g)
		servers_free(fs, g, n);
	else
		vf_err("no memory to free %u slab(s): they stay with this mount until it unmounts",
		       n);
	free(g);
}

/* Writes [off, off+len) of extent e, in->rw held (e->fill is taken here). */
static int ext_write_locked(struct fs *fs, struct extent *e, uint64_t off, uint32_t len,
			    const void *data)
{
	int ret;

	fs_rwlock_rdlock(&e->fill);
	ret = ext_write(fs, e, off, len, data);
	fs_rwlock_unlock(&e->fill);
	return ret;
}

/* Zeroes [off, off+len) of an extent remotely; len within one page. */
static int zero_remote(struct fs *fs, struct extent *e, uint64_t off, uint32_t len)
{
	return ext_write_locked(fs, e, off, len, zero_page);
}

/*
 * Makes [a, b) of extent sl read as zeros (in->rw held exclusively): pages
 * wholly inside lose their bit, partial pages that hold data are zeroed
 * remotely.
 */
static int zero_in_slab(struct fs *fs, struct extent *sl, uint64_t a, uint64_t b)
{
	uint64_t pa = a / FS_PAGE, pb = (b - 1) / FS_PAGE;
	int ret;

	if (a >= b)
		return 0;
	if (a % FS_PAGE && page_written(sl, pa)) {
		uint64_t e = (pa + 1) * FS_PAGE < b ? (pa + 1) * FS_PAGE : b;

		ret = zero_remote(fs, sl, a, (uint32_t)(e - a));
		if (ret)
			return ret;
	}
	if (b % FS_PAGE && page_written(sl, pb) && (pb != pa || a % FS_PAGE == 0)) {
		uint64_t s = pb * FS_PAGE > a ? pb * FS_PAGE : a;

		ret = zero_remote(fs, sl, s, (uint32_t)(b - s));
		if (ret)
			return ret;
	}
	/* whole pages */
	uint64_t first = (a + FS_PAGE - 1) / FS_PAGE, end = b / FS_PAGE;

	if (first < end)
		clear_written(sl, first, end - 1);
	return 0;
}

/* ---- size ---- */

static int do_resize(struct fs *fs, struct inode *in, uint64_t size)
{
	uint64_t S = fs->slab_size;
	uint64_t new_n = (size + S - 1) / S;
	char what[96], sz[32];
	int ret;

	if (new_n > UINT32_MAX)
		return -EFBIG;
	if (size > in->size && new_n > 0) {
		snprintf(what, sizeof(what), "growing to %s", vf_format_size(size, sz, sizeof(sz)));
		/* reserve from the first entry past the old end of file */
		uint64_t first = in->size / S;

		ret = reserve_range(fs, in, first, new_n - 1, what);
		if (ret)
			return ret;
	}
	if (size < in->size) {
		/* what lies past the new end must read as zeros if it grows again */
		uint64_t end = in->size < in->nmap * S ? in->size : in->nmap * S;

		for (uint64_t i = size / S; i < new_n && i * S < end; i++) {
			struct extent *sl = in->map[i];
			uint64_t a = size > i * S ? size - i * S : 0;

			if (sl && (ret = zero_in_slab(fs, sl, a, S)))
				return ret;
		}
		release_from(fs, in, (uint32_t)new_n);
	}
	in->size = size;
	clock_gettime(CLOCK_REALTIME, &in->mtime);
	in->ctime = in->mtime;
	return 0;
}

int file_resize(struct fs *fs, struct inode *in, uint64_t size)
{
	int ret;

	fs_rwlock_wrlock(&in->rw);
	fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	awrite_wait_inode(fs, in);
	if (size != in->size && handoff_pending(in)) {
		char what[64], sz[32];

		snprintf(what, sizeof(what), "truncate to %s",
			 vf_format_size(size, sz, sizeof(sz)));
		log_refusal(fs, in, what, handoff_pending(in));
		fs_rwlock_unlock(&in->rw);
		return -EBUSY;
	}
	ret = do_resize(fs, in, size);
	if (!ret)
		save(fs, in);
	fs_rwlock_unlock(&in->rw);
	prefetch_forget(fs, in); /* its windows: the kernel truncates its cache */
	return ret;
}

/*
 * Makes [off, off+len) read as zeros (in->rw held exclusively).  The slabs
 * stay the file's: pages wholly inside lose their bit (no request), and a
 * later write or write-back into the hole never needs a slab the pool may
 * have given to someone else since.  Capacity goes back only when the file
 * shrinks or goes away.
 */
static int do_punch(struct fs *fs, struct inode *in, uint64_t off, uint64_t len)
{
	uint64_t S = fs->slab_size, end = off + len, lim = (uint64_t)in->nmap * S;
	int ret = 0;

	if (end > lim)
		end = lim;
	if (off >= end)
		return 0;
	for (uint64_t i = off / S; i <= (end - 1) / S && !ret; i++) {
		struct extent *sl = in->map[i];
		uint64_t s0 = i * S, a = off > s0 ? off : s0, b = end < s0 + S ? end : s0 + S;

		if (sl)
			ret = zero_in_slab(fs, sl, a - s0, b - s0);
	}
	return ret;
}

/*
 * May a hole be punched in in while its handoff is pending?  On the
 * source (an export) never: the destination's written-page bits would
 * still say written, and it would read what the slab held before.  On the
 * destination (an import) only of whole pages, which clears their bits
 * and sends nothing (QEMU's virtio-mem punches its unplugged blocks when
 * the migration loads): part of a page would be zeroed on the servers,
 * in slabs that are still the source's.  in->rw held.
 */
static bool punch_may(const struct inode *in, uint64_t off, uint64_t len)
{
	return handoff_pending(in) && !handoff_exported(in) && off % FS_PAGE == 0 &&
	       (len % FS_PAGE == 0 || off + len >= in->size);
}

int file_fallocate(struct fs *fs, struct inode *in, int mode, uint64_t off, uint64_t len)
{
	uint64_t S = fs->slab_size, end = off + len;
	char what[96], a[32], b[32];
	int ret;

	if (len == 0 || end < off)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((end + S - 1) / S > UINT32_MAX)
		return -EFBIG;

	fs_rwlock_wrlock(&in->rw);
	fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	awrite_wait_inode(fs, in);
	if (handoff_pending(in) && (!(mode & FALLOC_FL_PUNCH_HOLE) || !punch_may(in, off, len))) {
		snprintf(what, sizeof(what), "%s of %s at %s",
			 mode & FALLOC_FL_PUNCH_HOLE ? "punching a hole" : "fallocate",
			 vf_format_size(len, a, sizeof(a)), vf_format_size(off, b, sizeof(b)));
		log_refusal(fs, in, what, handoff_pending(in));
		fs_rwlock_unlock(&in->rw);
		return -EBUSY;
	}
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		ret = do_punch(fs, in, off, len);
		prefetch_forget(fs, in); /* the prefetcher's accounting only */
	} else {
		snprintf(what, sizeof(what), "fallocate of %s at %s",
			 vf_format_size(len, a, sizeof(a)), vf_format_size(off, b, sizeof(b)));
		ret = reserve_range(fs, in, off / S, (end - 1) / S, what);
		if (!ret && !(mode & FALLOC_FL_KEEP_SIZE) && end > in->size) {
			in->size = end;
			clock_gettime(CLOCK_REALTIME, &in->mtime);
			in->ctime = in->mtime;
		}
		if (!ret)
			save(fs, in);
	}
	fs_rwlock_unlock(&in->rw);
	return ret;
}

void file_free_slabs(struct fs *fs, struct inode *in)
{
	fs_rwlock_wrlock(&in->rw);
	fetchahead_invalidate(fs, in, 0, UINT64_MAX);
	awrite_wait_inode(fs, in);
	__atomic_store_n(&in->size, 0, __ATOMIC_RELAXED); /* no slab backs any byte now */
	release_from(fs, in, 0);
	free(in->map);
	in->map = NULL;
	fs_rwlock_unlock(&in->rw);
}

/* ---- reads and writes ---- */

ssize_t file_read_raw(struct fs *fs, struct inode *in, uint64_t off, size_t len, char *buf)
{
	uint64_t S = fs->slab_size;
	size_t pos = 0;
	int ret = 0;

	fs_rwlock_rdlock(&in->rw);
	if (off >= in->size) {
		fs_rwlock_unlock(&in->rw);
		return 0;
	}
	if (len > in->size - off)
		len = (size_t)(in->size - off);
	while (pos < len && !ret) {
		uint64_t o = off + pos, idx = o / S, so = o % S;
		size_t n = len - pos;
		struct extent *sl = map_get(in, idx);

		if (n > S - so)
			n = (size_t)(S - so);
		if (n > VF_MAX_IO)
			n = VF_MAX_IO;
		uint64_t p0 = so / FS_PAGE, p1 = (so + n - 1) / FS_PAGE;

		if (!sl || !any_written(sl, p0, p1)) {
			memset(buf + pos, 0, n); /* never written: no request */
		} else {
			ret = ext_read(fs, sl, so, (uint32_t)n, buf + pos);
			/* pages without data read as zeros whatever the server holds */
			for (uint64_t pg = p0; !ret && pg <= p1; pg++) {
				if (page_written(sl, pg))
					continue;
				uint64_t a = pg * FS_PAGE > so ? pg * FS_PAGE : so;
				uint64_t b =
					(pg + 1) * FS_PAGE < so + n ? (pg + 1) * FS_PAGE : so + n;

				memset(buf + pos + (a - so), 0, b - a);
			}
		}
		pos += n;
	}
	fs_rwlock_unlock(&in->rw);
	return ret ? ret : (ssize_t)len;
}

ssize_t file_read(struct fs *fs, struct inode *in, uint64_t off, size_t len, char *buf)
{
	ssize_t n = file_read_raw(fs, in, off, len, buf);

	if (n < 0) {
		file_log_io_error(fs, in, "read", off, (int)n);
		return -EIO;
	}
	__atomic_add_fetch(&in->io.reads, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&in->io.bytes_read, (uint64_t)n, __ATOMIC_RELAXED);
	return n;
}

/*
 * Writes [so, so+n) of extent e from data, padding data-less partial
 * pages, with e->fill held shared throughout: a rebuild sees all of it
 * or none, bits included.
 */
static int write_piece(struct fs *fs, struct extent *e, uint64_t so, size_t n, const char *data)
{
	uint64_t a = so, b = so + n;
	uint8_t page[FS_PAGE];
	int ret = 0;

	fs_rwlock_rdlock(&e->fill);
	if (a % FS_PAGE && !page_written(e, a / FS_PAGE)) {
		uint64_t ps = a / FS_PAGE * FS_PAGE, end = ps + FS_PAGE < b ? ps + FS_PAGE : b;

		memset(page, 0, sizeof(page));
		memcpy(page + (a - ps), data, end - a);
		ret = ext_write(fs, e, ps, FS_PAGE, page);
		if (ret)
			goto out;
		data += end - a;
		a = end;
	}
	if (a < b && b % FS_PAGE && !page_written(e, (b - 1) / FS_PAGE)) {
		uint64_t ps = (b - 1) / FS_PAGE * FS_PAGE;

		if (ps >= a) {
			memset(page, 0, sizeof(page));
			memcpy(page, data + (ps - a), b - ps);
			ret = ext_write(fs, e, ps, FS_PAGE, page);
			if (ret)
				goto out;
			b = ps;
		}
	}
	if (a < b) {
		ret = ext_write(fs, e, a, (uint32_t)(b - a), data);
		if (ret)
			goto out;
	}
	ext_mark_written(e, so / FS_PAGE, (so + n - 1) / FS_PAGE);
out:
	fs_rwlock_unlock(&e->fill);
	return ret;
}

ssize_t file_write(struct fs *fs, struct inode *in, uint64_t off, size_t len, const char *buf)
{
	uint64_t S = fs->slab_size;
	size_t pos = 0;
	int ret = 0;

	if (len == 0)
		return 0;
	if (off + len < off)
		return -EFBIG;
	for (;;) {
		fs_rwlock_rdlock(&in->rw);
		if (off + len <= in->size)
			break;
		/* a write past the end grows the file: reserve first */
		fs_rwlock_unlock(&in->rw);
		fs_rwlock_wrlock(&in->rw);
		awrite_wait_inode(fs, in);
		ret = off + len > in->size ? do_resize(fs, in, off + len) : 0;
		if (!ret)
			save(fs, in);
		fs_rwlock_unlock(&in->rw);
		if (ret)
			return ret;
	}
	while (pos < len && !ret) {
		uint64_t o = off + pos, idx = o / S, so = o % S;
		size_t n = len - pos;
		struct extent *sl;

		if (n > S - so)
			n = (size_t)(S - so);
		if (n > VF_MAX_IO)
			n = VF_MAX_IO;
		sl = map_get(in, idx);
		/* every byte under the size has its slab (reserved with the size,
		 * kept by a punch): a write never allocates */
		ret = sl ? write_piece(fs, sl, so, n, buf + pos) : -EIO;
		pos += n;
	}
	if (ret)
		__atomic_store_n(&in->write_error, true, __ATOMIC_RELAXED);
	fs_rwlock_unlock(&in->rw);
	if (ret) {
		file_log_io_error(fs, in, "write", off, ret);
		return -EIO;
	}
	__atomic_add_fetch(&in->io.writes, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&in->io.bytes_written, len, __ATOMIC_RELAXED);
	return (ssize_t)len;
}
