/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm-fs internals.
 *
 * Files live in memory here (names, attributes, slab maps); their data
 * lives in slabs on the memory servers.  A file's size is backed by
 * reserved slabs (ftruncate/fallocate reserve, never a page fault or a
 * write-back), kept until the file shrinks or goes away: a punched hole
 * keeps its slabs.  A per-page bitmap says which pages may hold data
 * remotely, so pages never written (or punched) read as zeros without any
 * network traffic.
 *
 * Locks, in the order they are taken: a thread that holds one may take
 * only locks further down this list (lock.h has the ranks; a build with
 * LOCKCHECK=1 checks the order at run time and aborts naming both locks).
 *   inode->rw       a file's size and slab map: shared for reads and
 *                   writes, exclusive for resize, fallocate and freeing;
 *                   held across their network requests
 *   fs->alloc_lock  placement, the servers' free-slab estimates and held
 *                   counts, queued frees; held across ALLOC and FREE
 *                   requests
 *   server->lock    a server's state (server->cv waits on it); never held
 *                   across a request
 *   fs->ns_lock     the namespace: inode table, directories, names,
 *                   lookup/open/link/pin counts; held briefly, never
 *                   across a request or a wait.  It comes after the file
 *                   locks so that a file's code can name the file in a
 *                   message; a walk of the namespace that needs files'
 *                   maps pins the files and drops it before taking rw
 *   fs->buf_lock    the free I/O buffers (fs->buf_cv waits on it)
 * In practice nothing is taken under ns_lock or buf_lock.  No lock is held
 * across fuse_reply_*() (LOCKCHECK checks that too).
 */
#ifndef VOFIRM_FS_H
#define VOFIRM_FS_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "lock.h"
#include "vofirm/auth.h"
#include "vofirm/transport.h"

#define FS_PAGE 4096u
#define FS_MAX_SERVERS 64u
#define FS_CTL_NAME ".vofirm"

/* ---- settings.c ---- */

struct fs_settings {
	char *mountpoint;
	char *servers[FS_MAX_SERVERS];
	unsigned nservers;
	char *key_file;
	bool insecure_key_perms;
	char *name;		  /* client name at the servers */
	uint64_t read_timeout_ms; /* a read fails with EIO after this */
	uint64_t io_timeout_ms;	  /* one attempt; then the connection is redone */
	uint64_t connect_timeout_ms;
	uint64_t readahead; /* bytes */
	unsigned max_background;
	unsigned threads;
	unsigned bdi_max_ratio; /* percent; 0 leaves the kernel's */
	bool mlock;
	bool foreground;
	bool debug;
	int log_level;
	char *fuse_opts; /* -o, comma-joined */
};

void fs_settings_init(struct fs_settings *s);
void fs_settings_free(struct fs_settings *s);
int fs_settings_set(struct fs_settings *s, const char *key, const char *value, const char *origin);
int fs_settings_load(struct fs_settings *s, const char *path);
/* 0 run, 1 answered --help/--version, -EINVAL bad command line (logged). */
int fs_settings_parse_args(struct fs_settings *s, int argc, char **argv);
int fs_settings_check(const struct fs_settings *s);

/* ---- hist.c: latency histograms ---- */

#define HIST_BUCKETS 128

struct hist {
	uint64_t count[HIST_BUCKETS]; /* __atomic */
	uint64_t max_ns;
};

void hist_add(struct hist *h, uint64_t ns);
/* Upper bound of the bucket that holds quantile q (0..1), in ns; 0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);

struct io_counters { /* __atomic */
	uint64_t reads, writes, bytes_read, bytes_written, errors;
};

/* ---- servers.c ---- */

enum srv_state {
	SRV_UP,	  /* connected, session alive */
	SRV_DOWN, /* lost the connection or stopped answering; reconnecting */
	SRV_LOST, /* its session is gone: the data in its slabs is lost */
};

struct fs;

struct server {
	struct fs *fs;
	unsigned idx;
	const char *url;
	struct vf_xport *x;

	struct fs_mutex lock;
	pthread_cond_t cv; /* state changes; wakes the health thread too */
	enum srv_state state;
	uint64_t gen;	     /* +1 per connection; stale failures are ignored */
	uint64_t down_since; /* vf_now_ms() */
	uint64_t lease_ms;
	char down_reason[160];
	bool stop;
	pthread_t health;
	uint32_t *pending_free; /* slabs to free once reconnected */
	uint32_t npending, cap_pending;

	/* under fs->alloc_lock */
	int64_t free_est;    /* the server's free slabs, as last seen */
	uint32_t held;	     /* slabs this mount holds there */
	GHashTable *granted; /* their ids (+1): the others are orphans */
	uint64_t capacity;

	struct io_counters io;
	struct hist read_lat, write_lat;
};

/* A slab of a file: where it lives, and which of its pages hold data. */
struct fslab {
	uint16_t srv;
	uint32_t id;
	uint64_t *written; /* one bit per page, __atomic */
};

struct slab_grant {
	uint16_t srv;
	uint32_t id;
};

int servers_open(struct fs *fs);
void servers_close(struct fs *fs);
/* Grants n slabs placed over the servers, all or nothing. */
int servers_alloc(struct fs *fs, uint32_t n, struct slab_grant *out, char *why, size_t whylen);
/* Gives slabs back (queued if their server is away). */
void servers_free(struct fs *fs, const struct slab_grant *g, uint32_t n);
/* Remote READ/WRITE with the failure policy (timeouts, retries, EIO). */
int server_rw(struct server *s, enum vf_op_type type, uint32_t slab, uint64_t off, uint32_t len,
	      void *buf);
/* Asks every reachable server for its stats (bounded wait); updates estimates. */
void servers_refresh(struct fs *fs);
const char *srv_state_name(enum srv_state st);

/* ---- inodes and data: files.c ---- */

enum inode_kind { INODE_DIR, INODE_FILE, INODE_CTL_DIR, INODE_CTL_FILE };

struct inode {
	fuse_ino_t ino;
	enum inode_kind kind;
	char *name;	      /* in parent; "" for the root */
	struct inode *parent; /* NULL for the root and for unlinked files */
	GHashTable *children; /* dirs: name -> struct inode * */

	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	unsigned nlink;
	uint64_t nlookup;
	unsigned nopen;
	unsigned pinned; /* worked on without ns_lock (freeing its slabs,
				 * a loss report): not to be freed */
	bool slabs_freed;

	struct fs_rwlock rw;
	uint64_t size;
	uint32_t nmap;	    /* entries in map */
	struct fslab **map; /* entry i covers [i*slab, (i+1)*slab); NULL (only
				 * past size): nothing reserved */
	uint32_t held;	    /* non-NULL entries of map (__atomic) */
	bool write_error;   /* a write failed since the last fsync */

	struct io_counters io;
	int ctl_file; /* which control file */
};

struct fs {
	struct fs_settings set;
	struct vf_key key;
	bool has_key;
	uint64_t slab_size;
	struct fuse_session *se;

	struct server *srv;
	unsigned nsrv;
	struct fs_mutex alloc_lock;
	/*
	 * Set by the files (fs_init_tree) for the servers, which know nothing
	 * of files: called with no lock held once server srv is LOST, it
	 * returns the files with data there and their ranges (g_free) for the
	 * report, and makes the next fsync of those files fail.
	 */
	char *(*describe_loss)(struct fs *fs, unsigned srv);

	struct fs_mutex ns_lock;
	GHashTable *inodes; /* ino -> struct inode * */
	fuse_ino_t next_ino;
	struct inode *root, *ctl_dir;

	/* preallocated I/O buffers, one per worker */
	struct fs_mutex buf_lock;
	pthread_cond_t buf_cv;
	void **bufs;
	unsigned nbufs_free, nbufs;
	size_t buf_size;
};

extern const struct fuse_lowlevel_ops fs_ops;

int fs_init_tree(struct fs *fs);
void fs_free_tree(struct fs *fs);
struct inode *inode_new(struct fs *fs, enum inode_kind kind, mode_t mode, uid_t uid, gid_t gid);
void inode_free(struct fs *fs, struct inode *in);
/* ns_lock held: frees in if nothing refers to it any more. */
void inode_maybe_free(struct fs *fs, struct inode *in);
struct inode *inode_get(struct fs *fs, fuse_ino_t ino); /* ns_lock held */
char *inode_path(struct fs *fs, struct inode *in);	/* ns_lock held; g_free */

int file_resize(struct fs *fs, struct inode *in, uint64_t size);
int file_fallocate(struct fs *fs, struct inode *in, int mode, uint64_t off, uint64_t len);
ssize_t file_read(struct fs *fs, struct inode *in, uint64_t off, size_t len, char *buf);
ssize_t file_write(struct fs *fs, struct inode *in, uint64_t off, size_t len, const char *buf);
void file_free_slabs(struct fs *fs, struct inode *in);
uint64_t file_reserved(struct fs *fs, struct inode *in);

void *fs_buf_get(struct fs *fs);
void fs_buf_put(struct fs *fs, void *buf);

/* ---- stats.c ---- */

char *fs_stats_json(struct fs *fs);
char *fs_stats_prometheus(struct fs *fs);

#endif
