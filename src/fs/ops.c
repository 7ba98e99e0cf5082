// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE low-level handlers.  Handlers reply with a positive errno,
 * and hold no lock when they reply.  The namespace lock is never held
 * across a network request; an open file's handle carries its inode, so
 * the page path (read, write) takes the namespace lock only to name the
 * file in an error message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define ATTR_TIMEOUT 3600.0

#ifdef VF_LOCKCHECK
/* No lock is held across a reply (fs.h): each reply checks it.  (A macro
 * does not expand inside its own expansion: these call the functions.) */
#define fuse_reply_attr(...) (lock_check_unheld("fuse_reply_attr"), fuse_reply_attr(__VA_ARGS__))
#define fuse_reply_buf(...) (lock_check_unheld("fuse_reply_buf"), fuse_reply_buf(__VA_ARGS__))
#define fuse_reply_create(...) \
	(lock_check_unheld("fuse_reply_create"), fuse_reply_create(__VA_ARGS__))
#define fuse_reply_entry(...) (lock_check_unheld("fuse_reply_entry"), fuse_reply_entry(__VA_ARGS__))
#define fuse_reply_err(...) (lock_check_unheld("fuse_reply_err"), fuse_reply_err(__VA_ARGS__))
#define fuse_reply_none(...) (lock_check_unheld("fuse_reply_none"), fuse_reply_none(__VA_ARGS__))
#define fuse_reply_open(...) (lock_check_unheld("fuse_reply_open"), fuse_reply_open(__VA_ARGS__))
#define fuse_reply_statfs(...) \
	(lock_check_unheld("fuse_reply_statfs"), fuse_reply_statfs(__VA_ARGS__))
#define fuse_reply_write(...) (lock_check_unheld("fuse_reply_write"), fuse_reply_write(__VA_ARGS__))
#define fuse_reply_xattr(...) (lock_check_unheld("fuse_reply_xattr"), fuse_reply_xattr(__VA_ARGS__))
#endif

struct handle {
	struct inode *in;
	bool foreign;  /* a stand-in for a handle an earlier worker opened */
	bool internal; /* a prefetch helper's (prefetch.c): not one of the file's opens */
	char *data;    /* control files: the content rendered at open */
	size_t len;
	struct dirent_snap {
		char *name;
		fuse_ino_t ino;
		mode_t mode;
	} * ents;
	unsigned nents;
};

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * A handle's number is its address with this worker's epoch in the top
 * 16 bits.  The kernel keeps the numbers of files opened under an earlier
 * worker (QEMU's DIMM files stay open across a restart): their epoch is
 * not ours, and they are served by a stand-in made from the inode.
 */
static uint64_t fh_make(struct fs *fs, struct handle *h)
{
	uintptr_t p = (uintptr_t)h;

	if (p >> 48)
		abort(); /* user space addresses have 47 bits on this ABI */
	/* a prefetch helper's handle has the low bit set (handles are
	 * aligned): its RELEASE counts no open, under whichever worker */
	return (uint64_t)fs->epoch << 48 | p | (h->internal ? 1 : 0);
}

#define FH_INTERNAL 1ull

static void dir_snapshot(struct handle *h, struct inode *in);

/* The handle of fi (or NULL: no such inode); handle_done() after. */
static struct handle *handle_of(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h;
	int which = -1;

	if (fi->fh >> 48 == fs->epoch)
		return (struct handle *)(uintptr_t)(fi->fh & ((1ull << 48) - 1) & ~FH_INTERNAL);
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->foreign = true;
	h->internal = fi->fh & FH_INTERNAL;
	fs_mutex_lock(&fs->ns_lock);
	h->in = inode_get(fs, ino);
	if (h->in && h->in->kind == INODE_CTL_FILE)
		which = h->in->ctl_file;
	if (h->in && (h->in->kind == INODE_DIR || h->in->kind == INODE_CTL_DIR))
		dir_snapshot(h, h->in);
	fs_mutex_unlock(&fs->ns_lock);
	if (!h->in) {
		free(h);
		return NULL;
	}
	if (which >= 0) {
		h->data = which == 0 ? fs_stats_json(fs) : fs_stats_prometheus(fs);
		h->len = strlen(h->data);
	}
	return h;
}

static void handle_free(struct handle *h)
{
	for (unsigned i = 0; i < h->nents; i++)
		free(h->ents[i].name);
	free(h->ents);
	g_free(h->data);
	free(h);
}

static void handle_done(struct handle *h)
{
	if (h && h->foreign)
		handle_free(h);
}

/* The end of a handle (RELEASE, RELEASEDIR): a local one leaves fs->handles. */
static void handle_release(struct fs *fs, struct handle *h)
{
	if (!h->foreign) {
		fs_mutex_lock(&fs->ns_lock);
		g_hash_table_remove(fs->handles, h);
		fs_mutex_unlock(&fs->ns_lock);
	}
	handle_free(h);
}

/* Saves the records of a and b (either may be NULL) and commits, with
 * this request among those done (ns_lock held). */
static void save_ns(struct fs *fs, struct inode *a, struct inode *b)
{
	if (a)
		state_put_ns(fs, a);
	if (b)
		state_put_ns(fs, b);
	state_applied(fs);
	state_commit(fs);
}

/*
 * A request the kernel sends again (FUSE_NOTIFY_RESEND, after a worker
 * died) that a dead worker had carried out and saved, but not answered:
 * answered now without doing it twice (an open counted twice would keep
 * an unlinked file's memory forever; a create done twice would fail).
 */
static bool done_before(struct fs *fs)
{
	uint64_t u = fs_req_unique();

	return (u & FS_UNIQUE_RESEND) && state_was_applied(fs, u);
}

static bool is_dir(const struct inode *in)
{
	return in->kind == INODE_DIR || in->kind == INODE_CTL_DIR;
}

/* ns_lock held */
static void fill_attr(struct fs *fs, struct inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_blksize = FS_PAGE;
	if (in->kind == INODE_FILE) {
		st->st_size = (off_t)__atomic_load_n(&in->size, __ATOMIC_RELAXED);
		st->st_blocks = (blkcnt_t)(file_reserved(fs, in) / 512);
	} else if (is_dir(in)) {
		st->st_size = 4096;
	}
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}

/*
 * ns_lock held.  When a file has neither names nor open handles its slabs
 * go back to the pool; returns true when the caller must call
 * release_slabs() after dropping ns_lock (the inode is pinned till then).
 */
static bool slabs_unused(struct inode *in)
{
	if (in->kind != INODE_FILE || in->nlink || in->nopen || in->slabs_freed)
		return false;
	in->slabs_freed = true;
	in->pinned++;
	return true;
}

static void release_slabs(struct fs *fs, struct inode *in)
{
	file_free_slabs(fs, in);
	fs_mutex_lock(&fs->ns_lock);
	in->pinned--;
	inode_maybe_free(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
}

static int entry_of(struct fs *fs, struct inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1;
	fill_attr(fs, in, &e->attr);
	e->attr_timeout = e->entry_timeout = in->kind == INODE_CTL_FILE ? 0 : ATTR_TIMEOUT;
	in->nlookup++;
	return 0;
}

static void vf_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want &=
			~FUSE_CAP_AUTO_INVAL_DATA; /* size and mtime changes must not drop the cache */
	conn->max_write = VF_MAX_IO;
	/* --prefetch auto and off: the kernel reads what is asked, nothing around */
	conn->max_readahead = (unsigned)prefetch_mount_readahead(fs);
	conn->max_background = fs->set.max_background;
	conn->congestion_threshold = fs->set.max_background * 3 / 4;
	conn->time_gran = 1;
}

static void vf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *p, *c;

	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	if (!p || !is_dir(p)) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, p ? ENOTDIR : ENOENT);
		return;
	}
	c = g_hash_table_lookup(p->children, name);
	if (!c) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	entry_of(fs, c, &e);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_entry(req, &e);
}

static void do_forget(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *in = inode_get(fs, ino);

	if (!in)
		return;
	in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
	inode_maybe_free(fs, in);
}

static void vf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	fs_mutex_lock(&fs->ns_lock);
	do_forget(fs, ino, nlookup);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

static void vf_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	struct fs *fs = fs_of(req);

	fs_mutex_lock(&fs->ns_lock);
	for (size_t i = 0; i < count; i++)
		do_forget(fs, f[i].ino, f[i].nlookup);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

static void vf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct inode *in;
	struct stat st;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (in)
		fill_attr(fs, in, &st);
	fs_mutex_unlock(&fs->ns_lock);
	if (!in)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, in->kind == INODE_CTL_FILE ? 0 : ATTR_TIMEOUT);
}

static void vf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct timespec now;
	struct inode *in;
	struct stat st;
	int ret;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (in && in->slabs_freed && (to_set & FUSE_SET_ATTR_SIZE))
		in = NULL; /* its memory is gone: it must not get more */
	fs_mutex_unlock(&fs->ns_lock);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (in->kind == INODE_CTL_DIR || in->kind == INODE_CTL_FILE) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (in->kind != INODE_FILE) {
			fuse_reply_err(req, EISDIR);
			return;
		}
		/* the kernel holds the inode for us while this request runs */
		ret = file_resize(fs, in, (uint64_t)attr->st_size);
		if (ret) {
			fuse_reply_err(req, -ret);
			return;
		}
	}
	clock_gettime(CLOCK_REALTIME, &now);
	fs_mutex_lock(&fs->ns_lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		in->mode = (in->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		in->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		in->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		in->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		in->atime = now;
	if (to_set & FUSE_SET_ATTR_MTIME)
		in->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		in->mtime = now;
	in->ctime = now;
	fill_attr(fs, in, &st);
	save_ns(fs, in, NULL);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* ns_lock held: checks that `name` may be created in parent. */
static int check_new_name(struct inode *p, const char *name)
{
	if (!p)
		return ENOENT;
	if (!is_dir(p))
		return ENOTDIR;
	if (p->kind == INODE_CTL_DIR)
		return EPERM;
	if (strlen(name) > 255)
		return ENAMETOOLONG;
	if (g_hash_table_lookup(p->children, name))
		return EEXIST;
	return 0;
}

static void link_child(struct inode *p, struct inode *c, const char *name)
{
	free(c->name);
	c->name = strdup(name);
	c->parent = p;
	g_hash_table_insert(p->children, c->name, c);
	if (is_dir(c))
		p->nlink++;
	clock_gettime(CLOCK_REALTIME, &p->mtime);
	p->ctime = p->mtime;
}

static void unlink_child(struct inode *p, struct inode *c)
{
	g_hash_table_remove(p->children, c->name);
	c->parent = NULL;
	if (is_dir(c))
		p->nlink--;
	clock_gettime(CLOCK_REALTIME, &p->mtime);
	p->ctime = p->mtime;
}

static struct inode *make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
			       enum inode_kind kind, mode_t mode, int *err)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct inode *p, *c;

	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	*err = check_new_name(p, name);
	if (*err) {
		fs_mutex_unlock(&fs->ns_lock);
		return NULL;
	}
	c = inode_new(fs, kind, mode, ctx->uid, ctx->gid);
	if (!c) {
		fs_mutex_unlock(&fs->ns_lock);
		*err = ENOMEM;
		return NULL;
	}
	c->replicas = p->replicas; /* what the directory asks for, at creation */
	link_child(p, c, name);
	return c; /* ns_lock still held */
}

/* A handle of this worker's (ns_lock held): kept in fs->handles, so that
 * those still open when the worker ends (handed over) are freed then. */
static struct handle *handle_new(struct fs *fs, struct inode *in)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->in = in;
	if (!fs->handles)
		fs->handles = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_hash_table_add(fs->handles, h);
	return h;
}

void fs_free_handles(struct fs *fs)
{
	GHashTableIter it;
	gpointer h;

	if (!fs->handles)
		return;
	g_hash_table_iter_init(&it, fs->handles);
	while (g_hash_table_iter_next(&it, &h, NULL))
		handle_free(h);
	g_hash_table_destroy(fs->handles);
	fs->handles = NULL;
}

static void vf_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *c, *p;
	struct handle *h;
	int err;

	if (done_before(fs)) {
		fs_mutex_lock(&fs->ns_lock);
		p = inode_get(fs, parent);
		c = p && p->children ? g_hash_table_lookup(p->children, name) : NULL;
		h = c && c->kind == INODE_FILE ? handle_new(fs, c) : NULL;
		if (h)
			entry_of(fs, c, &e); /* its open was counted when it was made */
		fs_mutex_unlock(&fs->ns_lock);
		if (h) {
			fi->fh = fh_make(fs, h);
			fi->keep_cache = 1;
			fuse_reply_create(req, &e, fi);
			return;
		}
	}
	c = make_node(req, parent, name, INODE_FILE, S_IFREG | (mode & 07777), &err);
	if (!c) {
		fuse_reply_err(req, err);
		return;
	}
	h = handle_new(fs, c);
	if (!h) {
		unlink_child(c->parent, c);
		c->nlink = 0;
		inode_maybe_free(fs, c);
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	c->nopen++;
	entry_of(fs, c, &e);
	save_ns(fs, c, c->parent);
	fs_mutex_unlock(&fs->ns_lock);
	fi->fh = fh_make(fs, h);
	fi->keep_cache = 1;
	fuse_reply_create(req, &e, fi);
}

/* A MKNOD or MKDIR done before (done_before): its entry, if it is there. */
static bool reply_made_before(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *p, *c;

	if (!done_before(fs))
		return false;
	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	c = p && p->children ? g_hash_table_lookup(p->children, name) : NULL;
	if (c)
		entry_of(fs, c, &e);
	fs_mutex_unlock(&fs->ns_lock);
	if (c)
		fuse_reply_entry(req, &e);
	return c != NULL;
}

static void vf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *c;
	int err;

	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM); /* only regular files and directories here */
		return;
	}
	if (reply_made_before(req, parent, name))
		return;
	c = make_node(req, parent, name, INODE_FILE, S_IFREG | (mode & 07777), &err);
	if (!c) {
		fuse_reply_err(req, err);
		return;
	}
	entry_of(fs, c, &e);
	save_ns(fs, c, c->parent);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_entry(req, &e);
}

static void vf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *c;
	int err;

	if (reply_made_before(req, parent, name))
		return;
	c = make_node(req, parent, name, INODE_DIR, S_IFDIR | (mode & 07777), &err);
	if (!c) {
		fuse_reply_err(req, err);
		return;
	}
	entry_of(fs, c, &e);
	save_ns(fs, c, c->parent);
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_entry(req, &e);
}

/* what, on c with a handoff pending, refused: logged (ns_lock held) */
static void refuse_busy(struct fs *fs, struct inode *c, const char *what)
{
	char *path = inode_path(fs, c);

	vf_err("file %s: %s refused: a handoff to or from another mount is pending (a live "
	       "migration is under way): commit or abort it first",
	       path, what);
	g_free(path);
}

static void vf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct inode *p, *c;
	bool free_now;

	if (done_before(fs)) {
		fuse_reply_err(req, 0);
		return;
	}
	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	c = p && is_dir(p) ? g_hash_table_lookup(p->children, name) : NULL;
	if (!c) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (is_dir(c) || c->kind == INODE_CTL_FILE) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, is_dir(c) ? EISDIR : EPERM);
		return;
	}
	if (handoff_busy(c)) {
		refuse_busy(fs, c, "unlink");
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, EBUSY);
		return;
	}
	unlink_child(p, c);
	c->nlink = 0;
	clock_gettime(CLOCK_REALTIME, &c->ctime);
	free_now = slabs_unused(c);
	save_ns(fs, p, c);
	fs_mutex_unlock(&fs->ns_lock);
	if (free_now)
		release_slabs(fs, c);
	fuse_reply_err(req, 0);
}

static void vf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct inode *p, *c;
	int err = 0;

	if (done_before(fs)) {
		fuse_reply_err(req, 0);
		return;
	}
	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	c = p && is_dir(p) ? g_hash_table_lookup(p->children, name) : NULL;
	if (!c)
		err = ENOENT;
	else if (c->kind == INODE_CTL_DIR)
		err = EPERM;
	else if (!is_dir(c))
		err = ENOTDIR;
	else if (g_hash_table_size(c->children))
		err = ENOTEMPTY;
	if (!err) {
		unlink_child(p, c);
		c->nlink = 0;
		state_drop(fs, c->ino);
		save_ns(fs, p, NULL);
		inode_maybe_free(fs, c);
	}
	fs_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, err);
}

static void vf_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct inode *p, *np, *c, *t = NULL;
	bool free_target = false;
	int err = 0;

	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, RENAME_WHITEOUT */
		return;
	}
	if (done_before(fs)) {
		fuse_reply_err(req, 0);
		return;
	}
	fs_mutex_lock(&fs->ns_lock);
	p = inode_get(fs, parent);
	np = inode_get(fs, newparent);
	c = p && is_dir(p) ? g_hash_table_lookup(p->children, name) : NULL;
	if (!c || !np) {
		err = ENOENT;
		goto out;
	}
	if (!is_dir(np)) {
		err = ENOTDIR;
		goto out;
	}
	if (c->kind == INODE_CTL_DIR || c->kind == INODE_CTL_FILE || np->kind == INODE_CTL_DIR) {
		err = EPERM;
		goto out;
	}
	if (strlen(newname) > 255) {
		err = ENAMETOOLONG;
		goto out;
	}
	for (struct inode *a = np; a; a = a->parent)
		if (a == c) {
			err = EINVAL; /* into its own subtree */
			goto out;
		}
	t = g_hash_table_lookup(np->children, newname);
	if (t == c)
		goto out;
	if (t) {
		if (flags & RENAME_NOREPLACE)
			err = EEXIST;
		else if (is_dir(c) && !is_dir(t))
			err = ENOTDIR;
		else if (!is_dir(c) && is_dir(t))
			err = EISDIR;
		else if (is_dir(t) && g_hash_table_size(t->children))
			err = ENOTEMPTY;
		if (!err && handoff_busy(t)) {
			refuse_busy(fs, t, "replacing it by a rename");
			err = EBUSY;
		}
		if (err)
			goto out;
		unlink_child(np, t);
		t->nlink = 0;
		free_target = slabs_unused(t);
		if (is_dir(t))
			state_drop(fs, t->ino);
		else
			state_put_ns(fs, t);
	}
	unlink_child(p, c);
	link_child(np, c, newname);
	clock_gettime(CLOCK_REALTIME, &c->ctime);
	state_put_ns(fs, p);
	save_ns(fs, np, c); /* one commit: the whole rename, or none of it */
	if (t && !free_target)
		inode_maybe_free(fs, t);
out:
	fs_mutex_unlock(&fs->ns_lock);
	if (free_target)
		release_slabs(fs, t);
	fuse_reply_err(req, err);
}

static void vf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct inode *in;
	struct handle *h;
	int which = -1;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (!in || is_dir(in)) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, in ? EISDIR : ENOENT);
		return;
	}
	if (in->slabs_freed) {
		/* unlinked, closed, its memory given back: only a handle from
		 * before (O_PATH, /proc/self/fd) can still name it */
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (in->kind == INODE_CTL_FILE && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, EACCES);
		return;
	}
	h = handle_new(fs, in);
	if (!h) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (in->kind == INODE_CTL_FILE) {
		which = in->ctl_file;
	} else if (in->kind == INODE_FILE && prefetch_is_helper(fs, fuse_req_ctx(req)->pid)) {
		h->internal = true; /* the prefetcher's, for a moment: nothing to save */
	} else if (!done_before(fs)) {
		in->nopen++;
		save_ns(fs, in, NULL); /* its handle outlives this worker */
	}
	fs_mutex_unlock(&fs->ns_lock);

	if (which >= 0) {
		/* a snapshot, rendered now, read through direct I/O: the
		 * servers' figures as fresh as they come at once */
		servers_figures(fs);
		h->data = which == 0 ? fs_stats_json(fs) : fs_stats_prometheus(fs);
		h->len = strlen(h->data);
		fi->direct_io = 1;
	} else {
		fi->keep_cache = 1; /* an open must not drop QEMU's cached pages */
		/*
		 * A prefetch helper's close must not write the file back: the
		 * kernel's flush on close (fuse_flush: write_inode_now(inode, 1))
		 * writes every dirty page of the whole file, synchronously, and
		 * write-protects it, so each page of guest RAM that the guest
		 * writes again faults once more.  The helper closes after every
		 * burst of windows; without FOPEN_NOFLUSH it made the VM's pages
		 * clean again and again (docs/performance.md, "Prefetch").
		 */
		if (h->internal)
			fi->noflush = 1;
	}
	fi->fh = fh_make(fs, h);
	fuse_reply_open(req, fi);
}

static void vf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct handle *h = handle_of(fs, ino, fi);
	uint64_t t0 = vf_now_ns();
	bool pf = false, fail_fast = false;
	struct fa_win *win = NULL; /* a window fetched ahead, held until the reply is out */
	char *buf, *data;
	ssize_t n;

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (h->data && h->foreign && (off > 0 || size < h->len)) {
		/* A snapshot opened under an earlier worker: this worker renders
		 * its own, and a read that continues the old one would splice
		 * two snapshots together.  Whole reads from the start are fine;
		 * the reader must open the file again for the rest. */
		handle_done(h);
		fuse_reply_err(req, ESTALE);
		return;
	}
	buf = data = fs_buf_get(fs);
	if (size > fs->buf_size)
		size = fs->buf_size;
	if (h->data) {
		/*
		 * From the worker's own buffer, not h->data: the reader may
		 * close the file, and RELEASE free h->data on another worker,
		 * as soon as the kernel has the reply, which can be before
		 * fuse_reply_buf() returns (ASan checks writev's buffers after
		 * the call, and caught exactly that).
		 */
		n = (size_t)off >= h->len
			    ? 0
			    : (ssize_t)(size < h->len - (size_t)off ? size : h->len - (size_t)off);
		if (n)
			memcpy(buf, h->data + off, (size_t)n);
	} else {
		/* the files are in use: a repair gives way (--repair-rate-busy) */
		__atomic_add_fetch(&fs->page_requests, 1, __ATOMIC_RELAXED);
		/* the prefetcher sees every demand miss; its own READs (a
		 * helper's) fail at once when a server of the range is down,
		 * and are not fetched ahead (they are ahead already: windows
		 * behind them were fetched twice, 19 % more bytes for a
		 * sequential scan) */
		pf = prefetch_read_begin(fs, h->in, (uint64_t)off, size, fuse_req_ctx(req)->pid,
					 &fail_fast);
		n = fail_fast ? -EIO
		    : pf      ? -ENODATA
			      : fetchahead_read(fs, h->in, (uint64_t)off, size, &data, &win);
		if (n == -ENODATA) {
			n = file_read(fs, h->in, (uint64_t)off, size, buf);
		} else if (n >= 0 && !fail_fast) {
			__atomic_add_fetch(&h->in->io.reads, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&h->in->io.bytes_read, (uint64_t)n, __ATOMIC_RELAXED);
		} else if (n < 0 && !fail_fast) {
			/* the fetch this READ waited for failed, under the failure policy */
			file_log_io_error(fs, h->in, "read", (uint64_t)off, (int)n);
			n = -EIO;
		}
		prefetch_read_end(fs, h->in, pf, n);
	}
	handle_done(h);
	if (!pf)
		hist_add(&fs->fuse_read_lat, vf_now_ns() - t0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, data, (size_t)n);
	fetchahead_done(fs, win);
	fs_buf_put(fs, buf);
}

static void vf_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct handle *h = handle_of(fs, ino, fi);
	uint64_t t0 = vf_now_ns();
	bool foreign;
	ssize_t n;

	if (!h || h->data || h->in->kind != INODE_FILE) {
		handle_done(h);
		fuse_reply_err(req, EBADF);
		return;
	}
	__atomic_add_fetch(&fs->page_requests, 1, __ATOMIC_RELAXED);
	/* Answered when the copies have it, maybe before awrite_try()
	 * returns: the file may be closed and h freed by then, so h is not
	 * touched after, unless it is this request's own (foreign). */
	foreign = h->foreign;
	/* windows fetched ahead of a reader: now, and when it is answered */
	fetchahead_invalidate(fs, h->in, (uint64_t)off, size);
	if (awrite_try(fs, req, h->in, (uint64_t)off, size, buf)) {
		if (foreign)
			handle_free(h);
		return;
	}
	loop_may_block();
	n = file_write(fs, h->in, (uint64_t)off, size, buf);
	fetchahead_invalidate(fs, h->in, (uint64_t)off, size);
	handle_done(h);
	hist_add(&fs->fuse_write_lat, vf_now_ns() - t0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Writes are remote before they are acknowledged: nothing is buffered here.
 * What remains is to report a write that failed since the last fsync. */
static void vf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fs_of(req), ino, fi);
	bool failed =
		h && !h->data && __atomic_exchange_n(&h->in->write_error, false, __ATOMIC_RELAXED);

	handle_done(h);
	fuse_reply_err(req, !h ? EBADF : failed ? EIO : 0);
}

static void vf_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fs_of(req), ino, fi);
	bool failed = h && !h->data && __atomic_load_n(&h->in->write_error, __ATOMIC_RELAXED);

	handle_done(h);
	fuse_reply_err(req, !h ? EBADF : failed ? EIO : 0);
}

static void vf_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct handle *h = handle_of(fs, ino, fi);
	struct inode *in = h ? h->in : NULL;
	bool free_now = false;

	if (in && in->kind == INODE_FILE && !h->internal && !done_before(fs)) {
		fs_mutex_lock(&fs->ns_lock);
		if (in->nopen)
			in->nopen--;
		free_now = slabs_unused(in);
		save_ns(fs, in, NULL);
		if (!free_now)
			inode_maybe_free(fs, in);
		fs_mutex_unlock(&fs->ns_lock);
		if (free_now)
			release_slabs(fs, in);
	}
	if (h)
		handle_release(fs, h);
	fuse_reply_err(req, 0);
}

static void vf_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct inode *in;
	struct handle *h;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (!in || !is_dir(in)) {
		fs_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, in ? ENOTDIR : ENOENT);
		return;
	}
	h = handle_new(fs, in);
	if (h)
		dir_snapshot(h, in);
	if (!h || !h->ents) {
		if (h)
			g_hash_table_remove(fs->handles, h);
		fs_mutex_unlock(&fs->ns_lock);
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fs_mutex_unlock(&fs->ns_lock);
	fi->fh = fh_make(fs, h);
	fuse_reply_open(req, fi);
}

/* The entries of directory in, as they are now (ns_lock held). */
static void dir_snapshot(struct handle *h, struct inode *in)
{
	GHashTableIter it;
	gpointer k, v;
	unsigned n = 0;

	h->ents = calloc(g_hash_table_size(in->children) + 2, sizeof(*h->ents));
	if (!h->ents)
		return;
	h->ents[n++] = (struct dirent_snap){ strdup("."), in->ino, S_IFDIR };
	h->ents[n++] = (struct dirent_snap){ strdup(".."), in->parent ? in->parent->ino : in->ino,
					     S_IFDIR };
	g_hash_table_iter_init(&it, in->children);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct inode *c = v;

		h->ents[n++] = (struct dirent_snap){ strdup(k), c->ino, c->mode };
	}
	h->nents = n;
}

static void vf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fs_of(req), ino, fi);
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf || !h) {
		handle_done(h);
		free(buf);
		fuse_reply_err(req, buf ? EBADF : ENOMEM);
		return;
	}
	for (unsigned i = (unsigned)off; i < h->nents; i++) {
		struct stat st = { .st_ino = h->ents[i].ino, .st_mode = h->ents[i].mode };
		size_t n = fuse_add_direntry(req, buf + used, size - used, h->ents[i].name, &st,
					     (off_t)i + 1);

		if (n > size - used)
			break;
		used += n;
	}
	handle_done(h);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void vf_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct handle *h = handle_of(fs, ino, fi);

	if (h)
		handle_release(fs, h);
	fuse_reply_err(req, 0);
}

/*
 * The most extents of r copies, each copy on a different server, that
 * servers with room[0..n) can hold: the largest e with
 * sum(min(room[i], e)) >= r * e (a server holds at most one copy of an
 * extent).  That sum less r * e only falls once it falls, so the e that
 * fit are 0..the answer: a binary search finds it.
 */
static uint64_t usable(const uint64_t *room, unsigned n, unsigned r)
{
	uint64_t lo = 0, hi = 0, mid, sum;

	for (unsigned i = 0; i < n; i++)
		hi += room[i];
	hi /= r;
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		sum = 0;
		for (unsigned i = 0; i < n; i++)
			sum += room[i] < mid ? room[i] : mid;
		if (sum / r >= mid)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * df: the pool in usable bytes at the mount's copy count (--replicas):
 * what a size request at that count can get.  Its raw capacity and free
 * memory over the count, or less when the servers are so unequal that
 * copies on distinct servers cannot use it all (fewer servers than copies:
 * nothing).  Servers lost or being drained are not in the pool; only
 * servers that are up have free memory.
 *
 * df never waits on a server: the figures are the servers' as last seen,
 * refreshed by their health threads, which this asks for fresh ones and
 * waits for FIGURES_WAIT_MS at most (servers_figures()).  A server that
 * stopped answering and is not yet marked DOWN counts with its last
 * figures (stats.json says how old they are).  No alloc_lock here: an
 * allocation holds it across its requests to a server.
 */
static void vf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	uint64_t cap[FS_MAX_SERVERS], free_slabs[FS_MAX_SERVERS];
	unsigned n = 0, nsrv;
	struct statvfs sv;

	servers_figures(fs);
	nsrv = fs_nsrv(fs);
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		int64_t free_est = __atomic_load_n(&s->free_est, __ATOMIC_RELAXED);

		fs_mutex_lock(&s->lock);
		bool lost = s->state == SRV_LOST, up = s->state == SRV_UP;

		fs_mutex_unlock(&s->lock);
		if (lost || __atomic_load_n(&s->draining, __ATOMIC_RELAXED))
			continue;
		cap[n] = __atomic_load_n(&s->capacity, __ATOMIC_RELAXED);
		free_slabs[n] = up && free_est > 0 ? (uint64_t)free_est : 0;
		n++;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FS_PAGE;
	sv.f_frsize = FS_PAGE;
	sv.f_blocks = usable(cap, n, fs->set.replicas) / FS_PAGE;
	sv.f_bfree = sv.f_bavail =
		usable(free_slabs, n, fs->set.replicas) * fs->slab_size / FS_PAGE;
	fs_mutex_lock(&fs->ns_lock);
	sv.f_files = g_hash_table_size(fs->inodes) + (1u << 20);
	fs_mutex_unlock(&fs->ns_lock);
	sv.f_ffree = sv.f_favail = 1u << 20;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/*
 * Extended attributes.  FS_XATTR_REPLICAS, on directories and regular
 * files, is the number of copies asked for: a file's copy count (set before
 * its size, or changed after, which gets or drops copies of every extent
 * now), or what a directory gives the files and directories made in it.
 * Its value is always there: the count asked for, else the mount's.
 * Removing it asks for the mount's.  FS_XATTR_DRAIN, set on the control
 * directory, drains the server it names.  No other attribute is stored.
 */

/* The value of an attribute as a log line shows it (g_free). */
static char *shown_value(const char *value, size_t size)
{
	gchar *v = g_strndup(value, size < 64 ? size : 64), *e = g_strescape(v, NULL), *t;

	g_free(v);
	if (size <= 64)
		return e;
	t = g_strconcat(e, "...", NULL);
	g_free(e);
	return t;
}

/* "1" to "3", a newline after it allowed (echo, setfattr -v from a file). */
static int parse_replicas(const char *value, size_t size, unsigned *n)
{
	if (size == 2 && value[1] == '\n')
		size = 1;
	if (size != 1 || value[0] < '1' || value[0] > (char)('0' + FS_MAX_REPLICAS))
		return -EINVAL;
	*n = (unsigned)(value[0] - '0');
	return 0;
}

/* The copies a directory asks for (ns_lock held). */
static unsigned dir_replicas(struct fs *fs, const struct inode *in)
{
	return in->replicas ? in->replicas : fs->set.replicas;
}

/*
 * in (a directory or a file, which the request holds) asks for n copies,
 * or for the mount's count when n is 0.  0 or -errno (logged).
 */
static int set_replicas(struct fs *fs, struct inode *in, unsigned n)
{
	unsigned want = n ? n : fs->set.replicas, nsrv = fs_nsrv(fs);
	struct timespec now;
	char *path;
	int ret = 0;

	if (in->kind == INODE_FILE)
		ret = file_set_replicas(fs, in, want); /* logs what it does, and why not */
	clock_gettime(CLOCK_REALTIME, &now);
	fs_mutex_lock(&fs->ns_lock);
	if (in->kind == INODE_DIR)
		in->replicas = (uint8_t)n;
	if (!ret) {
		in->ctime = now;
		save_ns(fs, in, NULL);
	}
	path = in->kind == INODE_DIR ? inode_path(fs, in) : NULL;
	fs_mutex_unlock(&fs->ns_lock);
	if (path) {
		vf_info("directory %s: what is made in it asks for %u cop%s%s",
			path[0] ? path : "/", want, want == 1 ? "y" : "ies",
			n ? "" : " (the mount's count)");
		if (want > nsrv)
			vf_warn("directory %s: %u copies but %u server%s: sizes of its new files "
				"fail until there are %u servers",
				path[0] ? path : "/", want, nsrv, nsrv == 1 ? "" : "s", want);
	}
	g_free(path);
	return ret;
}

/* Drains the server whose URL is value; only root or the mount's owner may. */
static int set_drain(fuse_req_t req, struct fs *fs, const char *value, size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char url[512], why[256] = "";
	char *shown;
	int ret;

	if (ctx->uid != 0 && ctx->uid != geteuid()) {
		vf_log_ratelimited(LOG_WARNING,
				   "drain asked by uid %u (pid %d) refused: only root or the "
				   "mount's owner may drain a server",
				   (unsigned)ctx->uid, (int)ctx->pid);
		return -EPERM;
	}
	if (size && value[size - 1] == '\n')
		size--;
	if (!size || size >= sizeof(url) || memchr(value, '\0', size)) {
		shown = shown_value(value, size);
		vf_err("drain asked by uid %u (pid %d): '%s' is not a server's URL",
		       (unsigned)ctx->uid, (int)ctx->pid, shown);
		g_free(shown);
		return -EINVAL;
	}
	memcpy(url, value, size);
	url[size] = '\0';
	vf_notice("drain of %s asked by uid %u (pid %d)", url, (unsigned)ctx->uid, (int)ctx->pid);
	ret = fs_drain(fs, url, why, sizeof(why));
	if (ret)
		vf_err("cannot drain %s: %s", url, why[0] ? why : strerror(-ret));
	return ret;
}

static void vf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	enum inode_kind kind = INODE_CTL_FILE;
	struct inode *in;
	char *path, *shown;
	unsigned n;
	int ret;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (in && in->kind == INODE_FILE && in->slabs_freed)
		in = NULL; /* its memory is gone: it must not get more */
	if (in)
		kind = in->kind;
	fs_mutex_unlock(&fs->ns_lock);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (handoff_xattr(name)) {
		ret = handoff_setxattr(req, fs, in, name, value, size);
	} else if (!strcmp(name, FS_XATTR_DRAIN)) {
		ret = kind == INODE_CTL_DIR ? set_drain(req, fs, value, size) : -ENOTSUP;
	} else if (strcmp(name, FS_XATTR_REPLICAS)) {
		ret = -ENOTSUP;
	} else if (kind != INODE_DIR && kind != INODE_FILE) {
		ret = -EPERM; /* the control files have no copies */
	} else if (flags & XATTR_CREATE) {
		ret = -EEXIST; /* it always has a value */
	} else if (parse_replicas(value, size, &n)) {
		fs_mutex_lock(&fs->ns_lock);
		path = inode_path(fs, in);
		fs_mutex_unlock(&fs->ns_lock);
		shown = shown_value(value, size);
		vf_log_ratelimited(LOG_WARNING, "%s %s: %s '%s' refused: copies are 1 to %u",
				   kind == INODE_DIR ? "directory" : "file", path[0] ? path : "/",
				   FS_XATTR_REPLICAS, shown, FS_MAX_REPLICAS);
		g_free(shown);
		g_free(path);
		ret = -EINVAL;
	} else {
		ret = set_replicas(fs, in, n);
	}
	fuse_reply_err(req, -ret);
}

static void vf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	struct inode *in;
	bool file = false;
	unsigned n = 0;
	char val[16], *hv = NULL;
	int len, err = 0;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (in && handoff_xattr(name)) {
		/* the request holds the inode */
		fs_mutex_unlock(&fs->ns_lock);
		err = -handoff_getxattr(fs, in, name, &hv);
		if (err)
			fuse_reply_err(req, err);
		else if (size == 0)
			fuse_reply_xattr(req, strlen(hv));
		else if (size < strlen(hv))
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, hv, strlen(hv));
		g_free(hv);
		return;
	}
	if (!in)
		err = ENOENT;
	else if (strcmp(name, FS_XATTR_REPLICAS) ||
		 (in->kind != INODE_DIR && in->kind != INODE_FILE))
		err = ENODATA;
	else if (in->kind == INODE_DIR)
		n = dir_replicas(fs, in);
	else
		file = true;
	fs_mutex_unlock(&fs->ns_lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (file)
		n = file_replicas(fs, in); /* the request holds the inode */
	len = snprintf(val, sizeof(val), "%u", n);
	if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if (size < (size_t)len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)len);
}

static void vf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = FS_XATTR_REPLICAS; /* each name ends with its NUL */
	struct fs *fs = fs_of(req);
	struct inode *in;
	size_t len = 0;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (in && (in->kind == INODE_DIR || in->kind == INODE_FILE))
		len = sizeof(names);
	fs_mutex_unlock(&fs->ns_lock);
	if (!in)
		fuse_reply_err(req, ENOENT);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, len);
}

static void vf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct inode *in;
	int err = 0;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, ino);
	if (!in || (in->kind == INODE_FILE && in->slabs_freed))
		err = ENOENT;
	else if (strcmp(name, FS_XATTR_REPLICAS) ||
		 (in->kind != INODE_DIR && in->kind != INODE_FILE))
		err = ENODATA;
	fs_mutex_unlock(&fs->ns_lock);
	if (!err)
		err = -set_replicas(fs, in, 0);
	fuse_reply_err(req, err);
}

static void vf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct handle *h = handle_of(fs, ino, fi);
	int ret;

	if (!h || h->data || h->in->kind != INODE_FILE)
		ret = -EBADF;
	else if (off < 0 || len <= 0)
		ret = -EINVAL;
	else
		ret = file_fallocate(fs, h->in, mode, (uint64_t)off, (uint64_t)len);
	handle_done(h);
	fuse_reply_err(req, -ret);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = vf_init,
	.lookup = vf_lookup,
	.forget = vf_forget,
	.forget_multi = vf_forget_multi,
	.getattr = vf_getattr,
	.setattr = vf_setattr,
	.mknod = vf_mknod,
	.mkdir = vf_mkdir,
	.unlink = vf_unlink,
	.rmdir = vf_rmdir,
	.rename = vf_rename,
	.create = vf_create,
	.open = vf_open,
	.read = vf_read,
	.write = vf_write,
	.flush = vf_flush,
	.release = vf_release,
	.fsync = vf_fsync,
	.opendir = vf_opendir,
	.readdir = vf_readdir,
	.releasedir = vf_releasedir,
	.statfs = vf_statfs,
	.fallocate = vf_fallocate,
	.setxattr = vf_setxattr,
	.getxattr = vf_getxattr,
	.listxattr = vf_listxattr,
	.removexattr = vf_removexattr,
};
