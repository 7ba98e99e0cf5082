/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm-fs internals.
 *
 * Files live in memory here (names, attributes, extent maps); their data
 * lives in slabs on the memory servers, each extent in as many copies as
 * the file asks for (extent.c).  A file's size is backed by
 * reserved slabs (ftruncate/fallocate reserve, never a page fault or a
 * write-back), kept until the file shrinks or goes away: a punched hole
 * keeps its slabs.  A per-page bitmap says which pages may hold data
 * remotely, so pages never written (or punched) read as zeros without any
 * network traffic.
 *
 * Locks, in the order they are taken: a thread that holds one may take
 * only locks further down this list (lock.h has the ranks; a build with
 * LOCKCHECK=1 checks the order at run time and aborts naming both locks).
 *   inode->rw       a file's size and extent map, and each extent's list of
 *                   copies: shared for reads and writes, exclusive for
 *                   resize, fallocate, freeing and adding or dropping a
 *                   copy; held across their network requests
 *   extent->fill    shared by a write across its requests to every copy;
 *                   exclusive while the repair copies one chunk
 *   fs->alloc_lock  placement, the servers' free-slab estimates and held
 *                   counts, queued frees, draining; held across ALLOC and
 *                   FREE requests
 *   server->lock    a server's state (server->cv waits on it); never held
 *                   across a request
 *   fs->ns_lock     the namespace: inode table, directories, names,
 *                   lookup/open/link/pin counts; held briefly, never
 *                   across a request or a wait.  It comes after the file
 *                   locks so that a file's code can name the file in a
 *                   message; a walk of the namespace that needs files'
 *                   maps pins the files and drops it before taking rw
 *   fs->repair_lock the repair thread's wake-ups (fs->repair_cv)
 *   fs->buf_lock    the free I/O buffers (fs->buf_cv waits on it)
 * In practice nothing is taken under ns_lock, repair_lock or buf_lock.  No lock is held
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
#define FS_MAX_REPLICAS 3u
#define FS_XATTR_REPLICAS "user.vofirm.replicas"
#define FS_XATTR_DRAIN "user.vofirm.drain" /* on .vofirm: a server's URL */

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
	unsigned replicas;	/* copies of each extent, unless a file says */
	uint64_t repair_rate;	/* bytes/s a repair may copy; 0: no limit */
	char *config_path;	/* -c, re-read on SIGHUP */
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
	char *url_owned; /* added at run time */
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

	/* read latency, an average of recent reads (__atomic): reads go to
	 * the copy whose server answers faster */
	uint64_t read_ewma_ns;
	/* away longer than its lease: its copies are replaced (health thread) */
	bool gone;

	/* under fs->alloc_lock */
	bool draining;	     /* no new slabs; its copies are moved off */
	int64_t free_est;    /* the server's free slabs, as last seen */
	uint32_t held;	     /* slabs this mount holds there */
	GHashTable *granted; /* their ids (+1): the others are orphans */
	uint64_t capacity;

	struct io_counters io;
	struct hist read_lat, write_lat;
};

/*
 * The redundancy of a file's data lives behind one interface (extent.c):
 * a file's extent (one slab-sized range) is kept in slabs on distinct
 * servers, each a copy today.  A copy's state says what it may do:
 */
enum copy_state {
	COPY_OK,      /* up to date: serves reads, takes writes */
	COPY_FILLING, /* being rebuilt: takes writes, serves no read */
	COPY_STALE,   /* missed a write: neither, until it is rebuilt in place */
	COPY_GONE,    /* its server lost it, or is away past its lease, or is
		      * drained: replaced by a new copy elsewhere, then dropped */
};

struct copy {
	uint16_t srv;
	uint32_t id;
	uint8_t state; /* enum copy_state, __atomic */
};

/* One slab-sized range of a file: its copies, and which pages hold data. */
struct extent {
	/* Writes hold it shared across their requests to every copy; a
	 * rebuild holds it exclusively while it copies a chunk, so that no
	 * write lands between its read of a copy and its write of another. */
	struct fs_rwlock fill;
	uint8_t ncopies; /* entries of c; one more than asked while one is
			  * being replaced (changed under inode->rw, exclusive) */
	struct copy c[FS_MAX_REPLICAS + 1];
	uint64_t *written; /* one bit per page, __atomic */
};

struct slab_grant {
	uint16_t srv;
	uint32_t id;
};

int servers_open(struct fs *fs);
void servers_close(struct fs *fs);
/*
 * Grants n extents' worth of r slabs each, all or nothing: out[e * r + k]
 * is copy k of extent e, the r copies of one extent on r distinct servers,
 * none of them in `exclude` (a bit per server index; 0 for none).
 */
int servers_alloc(struct fs *fs, uint32_t n, unsigned r, uint64_t exclude, struct slab_grant *out,
		  char *why, size_t whylen);
/* Gives slabs back (queued if their server is away). */
void servers_free(struct fs *fs, const struct slab_grant *g, uint32_t n);
/* Remote READ/WRITE with the failure policy (timeouts, retries, EIO). */
int server_rw(struct server *s, enum vf_op_type type, uint32_t slab, uint64_t off, uint32_t len,
	      void *buf);
/* One attempt within io_timeout, no waiting for a server that is not UP
 * (-EAGAIN then): what a request with another copy to turn to wants. */
int server_rw_once(struct server *s, enum vf_op_type type, uint32_t slab, uint64_t off,
		   uint32_t len, void *buf);

/* One request of a batch run on distinct servers at once. */
struct srv_io {
	struct server *s;
	enum vf_op_type type;
	uint32_t slab, len;
	uint64_t off;
	void *buf;
	int status; /* out: 0 or -errno (-EAGAIN: the server was not UP) */
};

/* Runs every request of io[n] at once, one attempt each within io_timeout. */
void servers_rw_all(struct fs *fs, struct srv_io *io, unsigned n);
/* Adds a server at run time (SIGHUP); 0, -EEXIST or -errno (logged). */
int servers_add(struct fs *fs, const char *url);
/* The server with that URL, or NULL. */
struct server *server_by_url(struct fs *fs, const char *url);
/* Number of servers (they are only ever added: __atomic). */
static inline unsigned fs_nsrv(const struct fs *fs);
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

	uint8_t replicas; /* copies asked for (files and dirs; 0: the mount's) */

	struct fs_rwlock rw;
	uint64_t size;
	uint32_t nmap;	     /* entries in map */
	struct extent **map; /* entry i covers [i*slab, (i+1)*slab); NULL (only
				  * past size): nothing reserved */
	uint32_t held;	     /* slabs held, every copy counted (__atomic) */
	bool write_error;    /* a write failed since the last fsync */

	struct io_counters io;
	int ctl_file; /* which control file */
};

struct fs {
	struct fs_settings set;
	struct vf_key key;
	bool has_key;
	uint64_t slab_size;
	struct fuse_session *se;

	struct server *srv; /* FS_MAX_SERVERS entries, nsrv of them in use */
	unsigned nsrv;	    /* __atomic: servers are added at run time */
	struct fs_mutex alloc_lock;
	/*
	 * Set by the files (fs_init_tree) for the servers, which know nothing
	 * of files: called with no lock held once server srv is LOST (or,
	 * with past_lease, away longer than its lease), it marks the copies
	 * there GONE, has them rebuilt where other copies survive, and
	 * returns the report (g_free): the files and ranges whose only copy
	 * was there (whose next fsync fails), and those being rebuilt.
	 */
	char *(*describe_loss)(struct fs *fs, unsigned srv, bool past_lease, char **rebuilt);

	/* the repair thread (extent.c): rebuilds and moves copies */
	pthread_t repair;
	struct fs_mutex repair_lock;
	pthread_cond_t repair_cv;
	bool repair_stop, repair_kick;
	uint64_t repair_done_bytes; /* __atomic */
	uint64_t repair_rate_bps;   /* measured over the last window, __atomic */
	uint64_t repair_blocked;    /* extents that found no room for a copy */

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

/* ---- extent.c: the redundancy scheme (copies) and its repair ---- */

struct extent *ext_new(struct fs *fs);
void ext_free(struct extent *e);
/* Reads [so, so+n) of e from an up-to-date copy, turning to another on
 * an error or a timeout; -EIO once no copy can answer. */
int ext_read(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, void *buf);
/* Writes [so, so+n) to every copy that takes writes, at once; done once
 * every copy that is up has it (e->fill held shared by the caller).  A
 * copy that misses it is STALE from then on; -EIO if no up-to-date copy
 * took it. */
int ext_write(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, const void *buf);
/* Sets fs->describe_loss (fs_init_tree). */
void ext_init_loss_report(struct fs *fs);
/* Copies of e in a state (COPY_*). */
unsigned ext_count(const struct extent *e, enum copy_state st);

static inline bool page_written(const struct extent *e, uint64_t pg)
{
	return __atomic_load_n(&e->written[pg / 64], __ATOMIC_ACQUIRE) & (1ull << (pg % 64));
}

bool any_written(const struct extent *e, uint64_t first, uint64_t last);

static inline struct extent *map_get(struct inode *in, uint64_t idx)
{
	return idx < in->nmap ? __atomic_load_n(&in->map[idx], __ATOMIC_ACQUIRE) : NULL;
}

/* The copies a file asks for (its own, else the mount's). */
unsigned file_replicas(struct fs *fs, const struct inode *in);
/* Sets a file's copy count; a file with a size gets (or drops) copies of
 * every extent now: -ENOSPC (logged) when the pool is short. */
int file_set_replicas(struct fs *fs, struct inode *in, unsigned n);
/* Bytes of the file with fewer healthy copies than asked, and with one. */
void file_degraded(struct fs *fs, struct inode *in, uint64_t *degraded, uint64_t *unprotected);

/* Drains a server: no new slabs there, every copy there moves elsewhere
 * (logged; why says what is wrong on failure). */
int fs_drain(struct fs *fs, const char *url, char *why, size_t whylen);
/* Wakes the repair thread. */
void fs_repair_kick(struct fs *fs);
/* The repair thread: started by servers_open, stopped by servers_close
 * (both may be called again: they do nothing then). */
int fs_repair_start(struct fs *fs);
void fs_repair_stop(struct fs *fs);

struct repl_stats {
	uint64_t degraded_bytes;    /* file bytes with fewer healthy copies than asked */
	uint64_t unprotected_bytes; /* ... with one healthy copy left of more asked */
	uint64_t lost_bytes;	    /* ... with none */
	uint64_t repair_done_bytes;
	uint64_t repair_rate_bps;
	uint64_t repair_blocked;
};
void fs_repl_stats(struct fs *fs, struct repl_stats *st);

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

static inline unsigned fs_nsrv(const struct fs *fs)
{
	return __atomic_load_n(&fs->nsrv, __ATOMIC_ACQUIRE);
}

#endif
