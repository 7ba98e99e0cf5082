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
#include "fetchahead.h"
#include "prefetch.h"
#include "vofirm/auth.h"
#include "vofirm/transport.h"

#define FS_PAGE 4096u
#define FS_MAX_SERVERS 64u
#define FS_CTL_NAME ".vofirm"
#define FS_URL_MAX 512u /* a server URL in the state */
#define FS_MAX_REPLICAS 3u
#define FS_XATTR_REPLICAS "user.vofirm.replicas"
#define FS_XATTR_DRAIN "user.vofirm.drain"   /* on .vofirm: a server's URL */
#define FS_XATTR_EXPORT "user.vofirm.export" /* handoff.c */
#define FS_XATTR_IMPORT "user.vofirm.import"

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
	uint64_t readahead;	   /* bytes */
	uint64_t fetch_ahead;	   /* bytes: the largest READ fetch-ahead follows; 0 off */
	char *prefetch;		   /* off, kernel or auto (prefetch.h) */
	uint64_t prefetch_max;	   /* bytes ahead per stream, and pending per file */
	unsigned prefetch_depth;   /* accesses in a stream's first window */
	unsigned prefetch_history; /* misses in the trend's history window */
	unsigned max_background;
	unsigned threads;
	unsigned busy_poll_us;	   /* the transport's poll before sleeping on a reply */
	unsigned write_depth;	   /* asynchronous writes in flight at most; 0: none */
	unsigned bdi_max_ratio;	   /* percent; 0 leaves the kernel's */
	unsigned replicas;	   /* copies of each extent, unless a file says */
	uint64_t repair_rate;	   /* bytes/s a repair may copy; 0: no limit */
	uint64_t repair_rate_busy; /* ... while the files are in use; 0: repair_rate */
	char *config_path;	   /* -c, re-read on SIGHUP */
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
	uint64_t sum_ns; /* for the mean */
};

void hist_add(struct hist *h, uint64_t ns);
/* Upper bound of the bucket that holds quantile q (0..1), in ns; 0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* The mean, in ns; 0 if empty. */
uint64_t hist_mean(const struct hist *h);

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
	bool lost;	 /* state == SRV_LOST, readable without the lock (__atomic) */
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
	/* LOST, its health thread in rejoin(): the entry may be taken again
	 * by its server's next instance once no copy names it (s->lock) */
	bool rejoining;
	uint64_t lost_at; /* vf_now_ms() when it was found LOST; 0: before this worker */
	int rejoin_err;	  /* the last failure to rejoin, logged once (add_lock) */
	uint32_t rejoins; /* times a new instance took this entry again (__atomic) */
	/* A request naming slabs (ALLOC, LIST, ACCEPT) has the server register
	 * them for RDMA: the time per slab of the last one and how many it
	 * named, which size the next (server_slab_batch(); __atomic, 0: none) */
	uint64_t slab_op_ns;
	uint32_t slab_op_last;

	/* Fresh figures (STATS) for df and the stats files, asked of the
	 * health thread (servers_figures()): under lock, refresh_done reaches
	 * refresh_want when a STATS asked for then has been answered or has
	 * failed.  silent_since: vf_now_ms() when the STATS still unanswered
	 * (or the one that failed) was sent, 0 while the server answers;
	 * figures_ms: when capacity and free_est were last set from the
	 * server's word (both __atomic, read without a lock). */
	uint64_t refresh_want, refresh_done;
	uint64_t silent_since;
	uint64_t figures_ms;

	/* Changed under fs->alloc_lock, and stored __atomic: the stats files
	 * and df read them without it, as alloc_lock is held across requests
	 * to a server (ALLOC), which may not answer for io_timeout. */
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
	COPY_EMPTY,   /* no copy in this slot */
	COPY_OK,      /* up to date: serves reads, takes writes */
	COPY_FILLING, /* being rebuilt: takes writes, serves no read */
	COPY_STALE,   /* missed a write: neither, until it is rebuilt in place */
	COPY_GONE,    /* its server lost it, or is away past its lease, or is
		       * drained: replaced by a new copy elsewhere, then dropped */
};

struct copy {
	uint16_t srv;
	uint32_t id;
	enum copy_state state;
};

#define EXT_SLOTS (FS_MAX_REPLICAS + 1) /* one more than asked while one is replaced */

/*
 * What an extent keeps in the state the workers share (state.c): its
 * copies, one word per slot (slab id, server, state: changed with one
 * atomic store, so that a worker killed at any instant leaves each slot
 * whole), and its written-page bits.
 */
struct ext_block {
	uint64_t slot[EXT_SLOTS];
	uint64_t written[]; /* one bit per page, __atomic */
};

/* One slab-sized range of a file. */
struct extent {
	/* Writes hold it shared across their requests to every copy; a
	 * rebuild holds it exclusively while it copies a chunk, so that no
	 * write lands between its read of a copy and its write of another. */
	struct fs_rwlock fill;
	uint32_t blk;	     /* its block in the state */
	struct ext_block *b; /* the block; slots change under inode->rw, at least shared */
	/* Asynchronous writes in flight (awrite.c, __atomic): each holds
	 * fill and inode->rw shared in effect; whoever takes either
	 * exclusively waits for them (awrite_wait_extent, _inode). */
	unsigned awrites;
};

static inline struct copy copy_get(const struct extent *e, unsigned k)
{
	uint64_t w = __atomic_load_n(&e->b->slot[k], __ATOMIC_ACQUIRE);

	return (struct copy){ .id = (uint32_t)w,
			      .srv = (uint16_t)(w >> 32),
			      .state = (enum copy_state)((w >> 48) & 0xff) };
}

static inline uint64_t copy_word(struct copy c)
{
	return (uint64_t)c.id | (uint64_t)c.srv << 32 | (uint64_t)c.state << 48;
}

static inline void copy_set(struct extent *e, unsigned k, struct copy c)
{
	__atomic_store_n(&e->b->slot[k], copy_word(c), __ATOMIC_RELEASE);
}

/* Slot k from state `from` to `to`, if it still is `from`. */
static inline bool copy_cas_state(struct extent *e, unsigned k, enum copy_state from,
				  enum copy_state to)
{
	uint64_t w = __atomic_load_n(&e->b->slot[k], __ATOMIC_ACQUIRE);

	while (((w >> 48) & 0xff) == (uint64_t)from) {
		uint64_t n = (w & ~(0xffull << 48)) | (uint64_t)to << 48;

		if (__atomic_compare_exchange_n(&e->b->slot[k], &w, n, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	}
	return false;
}

struct slab_grant {
	uint16_t srv;
	uint32_t id;
};

/* The server table (both paths below start with it). */
int servers_init(struct fs *fs);
/* A new mount: connects every --server, any failure fatal; starts them. */
int servers_open(struct fs *fs);
/* Carrying on: server i as the last worker left it, not connected yet
 * (DOWN; its health thread resumes the session), or LOST. */
int server_resume(struct fs *fs, unsigned i, const char *url, const uint8_t *token,
		  uint64_t lease_ms, uint64_t capacity, bool lost, bool draining);
/* A slab of ours at server srv, from the state (loading, before start). */
void server_note_slab(struct fs *fs, unsigned srv, uint32_t id);
/* Starts the health threads not yet running, and the repair thread. */
int servers_start(struct fs *fs);
/* Ends every session (BYE: the servers free the mount's slabs), or with
 * keep_sessions leaves them to their leases for the next worker. */
void servers_close(struct fs *fs, bool keep_sessions);
/*
 * Grants n extents' worth of r slabs each, all or nothing: out[e * r + k]
 * is copy k of extent e, the r copies of one extent on r distinct servers,
 * none of them in `exclude` (a bit per server index; 0 for none).
 * -ENOSPC when the pool is short; -EIO when it is short of what the
 * servers that are up have and a server that is down (not lost, drained
 * or excluded) might have the rest: why names it.
 */
int servers_alloc(struct fs *fs, uint32_t n, unsigned r, uint64_t exclude, struct slab_grant *out,
		  char *why, size_t whylen);
/* Gives slabs back (queued if their server is away). */
void servers_free(struct fs *fs, const struct slab_grant *g, uint32_t n);
/* One control request (GRANT, ACCEPT, GIVE, REVOKE, ...), one attempt
 * within io_timeout; -EAGAIN when the server is not up. */
int server_op(struct server *s, struct vf_op *op);
/* A request naming up to op->count slabs (ALLOC, LIST, ACCEPT), with
 * op->count cut to as many as the server registers well within
 * io_timeout: the caller asks again for the rest (servers.c). */
int server_slab_op(struct server *s, struct vf_op *op);
/* Slabs that are no longer this mount's to free (handed over): forgotten. */
void servers_forget(struct fs *fs, const struct slab_grant *g, uint32_t n);
/* Slabs this mount may reach now (an import): counted as held. */
void servers_adopt(struct fs *fs, const struct slab_grant *g, uint32_t n);
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
/* The outcome of one request op to s, sent while s was UP in generation
 * sgen at t0 (vf_now_ns), as servers_rw_all takes it: accounted, the
 * server failed when the connection was lost, a refusal logged; returns
 * its status (-ETIMEDOUT if it failed after timed_out). */
int server_io_done(struct server *s, const struct vf_op *op, uint64_t sgen, uint64_t t0,
		   bool timed_out);
/* A request to s (generation sgen) waited timeout_ms: s is failed (logged);
 * the caller then aborts its connection. */
void server_timed_out(struct server *s, uint64_t sgen, uint64_t timeout_ms);
/* Adds a server at run time (SIGHUP, or a lost one back with a new
 * session), in an entry of its URL that is LOST and that no copy names
 * any more if there is one, else in a new entry; 0, -EEXIST or -errno
 * (logged; -ENOSPC: every entry is in use, and why). */
int servers_add(struct fs *fs, const char *url);
/* The server with that URL, or NULL. */
struct server *server_by_url(struct fs *fs, const char *url);
/* Number of server entries (only ever added: __atomic; a LOST one may be
 * taken again by its server's next instance, servers.c). */
static inline unsigned fs_nsrv(const struct fs *fs);
/* Fresh free counts from every server that is up, each waiting up to
 * io_timeout: for allocation only (it holds no lock the page path needs). */
void servers_refresh(struct fs *fs);
/* For df and the stats files: asks the health threads for fresh figures
 * and waits for them at most FIGURES_WAIT_MS in all, not at all for a
 * server already seen not answering; holds no lock meanwhile. */
#define FIGURES_WAIT_MS 250
void servers_figures(struct fs *fs);
/* A server's STATS has waited this long unanswered: shown not answering. */
#define SILENT_MS (FIGURES_WAIT_MS / 2)
const char *srv_state_name(enum srv_state st);

/* ---- state.c: what the next worker needs (see state.c) ---- */

#ifndef FS_STATE_FORMAT
#define FS_STATE_FORMAT 1 /* what this binary writes and reads; a test builds another */
#endif
#define STATE_MAGIC "VOFIRMFS"
#define STATE_HDR_SIZE 4096u
#define STATE_MAX_BLOCKS (1u << 20) /* extents, every file together */
#define STATE_INIT_MAX 2048u
#define STATE_APPLIED 256u /* far more than the requests a worker holds */

/* flags of the header: how the last worker ended, set by it */
#define STATE_F_HANDOVER 0x1  /* handed over (a planned restart): start the next */
#define STATE_F_UNMOUNTED 0x2 /* the mount is gone: the supervisor ends too */
#define STATE_F_SERVING 0x4   /* the worker is serving requests */
#define STATE_F_INIT_DONE 0x8 /* FUSE_INIT was answered (init[] holds it) */
#define STATE_F_ALIVE 0x10    /* the supervisor holds `alive` (set by it) */

struct state_hdr {
	char magic[8];
	uint32_t format;
	uint32_t flags;	 /* STATE_F_*, __atomic */
	uint64_t active; /* gen << 1 | slot of the snapshot in use; 0: none (__atomic) */
	struct {
		uint64_t off, cap, len, gen;
	} slot[2];
	uint64_t block_size;
	int32_t supervisor_pid, worker_pid; /* __atomic */
	uint32_t worker_restarts;	    /* __atomic, counted by the supervisor */
	uint32_t init_len;		    /* the FUSE INIT request, once read */
	char restart_error[256];	    /* why the last planned restart was refused */
	uint8_t init[STATE_INIT_MAX];
	/* Held by the supervisor for its whole life: a robust, process-shared
	 * mutex.  When it dies the kernel marks the lock word (the robust
	 * futex ABI: the owner's TID, FUTEX_OWNER_DIED) before its children
	 * learn of it, so a worker tells it is alive from one load
	 * (loop.c).  Appended: a header without it is format 1 still, and a
	 * worker falls back to getppid() unless STATE_F_ALIVE is set. */
	pthread_mutex_t alive;
};

struct fs_state {
	int meta_fd, arena_fd;
	struct state_hdr *hdr; /* NULL: no state kept */
	uint8_t *meta;	       /* the meta file, mapped whole (st->lock) */
	size_t meta_len;
	uint8_t *arena; /* the blocks: STATE_MAX_BLOCKS reserved */
	size_t arena_reserve, arena_len, block_size;
	uint32_t nblocks_max;

	struct fs_mutex lock;  /* everything below */
	GHashTable *ns, *data; /* ino -> record */
	void *global;	       /* the servers, the slab size, the next inode number */
	uint32_t *free_blocks; /* reusable */
	uint32_t nfree, cap_free;
	uint32_t next_block; /* blocks [0, next_block) were handed out */
	uint32_t *pending;   /* freed since the last commit */
	uint32_t npending, cap_pending;
	/* the requests whose change the snapshot holds, the latest of them:
	 * one sent again to the next worker is not done twice */
	uint64_t applied[STATE_APPLIED];
	uint32_t napplied, applied_pos;
};

struct rbuf;
struct inode;
struct state_loader {
	int (*global)(struct fs *fs, struct rbuf *r);
	int (*ns)(struct fs *fs, struct rbuf *r);
	int (*data)(struct fs *fs, struct rbuf *r);
};

/* The supervisor's part: the two memfds, with an empty header. */
int state_create(int *meta_fd, int *arena_fd);
struct state_hdr *state_map_hdr(int meta_fd);
/* 0 if this binary reads the state's format; else why not. */
int state_check_format(const struct state_hdr *h, char *why, size_t whylen);
/* The worker's part. */
int state_attach(struct fs *fs, int meta_fd, int arena_fd);
void state_detach(struct fs *fs);
bool state_has_snapshot(struct fs *fs);
size_t state_block_size(uint64_t slab_size);
int state_arena_setup(struct fs *fs); /* once fs->slab_size is known */
int state_block_alloc(struct fs *fs, uint32_t *idx);
void state_block_free(struct fs *fs, uint32_t idx); /* reused after the next commit */
struct ext_block *state_block(struct fs *fs, uint32_t idx);
/* Records: ns under fs->ns_lock, data under inode->rw (exclusive for a
 * change).  The servers' record is made by every commit. */
void state_put_ns(struct fs *fs, struct inode *in);
void state_put_data(struct fs *fs, struct inode *in);
void state_drop(struct fs *fs, fuse_ino_t ino);
/* The request being processed changes what the next commit saves. */
void state_applied(struct fs *fs);
/* Was this request (sent again by the kernel) saved by a worker before? */
bool state_was_applied(struct fs *fs, uint64_t unique);
/* Writes every record as the new snapshot; 0 or -errno (logged). */
int state_commit(struct fs *fs);
int state_load(struct fs *fs, const struct state_loader *ld);
int state_blocks_loaded(struct fs *fs, const uint8_t *used, uint32_t n);
uint8_t state_r_u8(struct rbuf *r);
uint16_t state_r_u16(struct rbuf *r);
uint32_t state_r_u32(struct rbuf *r);
uint64_t state_r_u64(struct rbuf *r);
void state_r_bytes(struct rbuf *r, void *out, size_t n);
bool state_r_bad(const struct rbuf *r);
size_t state_r_left(const struct rbuf *r);

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
	unsigned awrites;    /* asynchronous writes in flight (__atomic; struct extent) */
	/* its degraded, unprotected and lost bytes as last counted
	 * (__atomic): the stats files show them while the file is held
	 * exclusively (a resize waiting on a server) */
	uint64_t seen_degraded, seen_unprotected, seen_lost;

	struct io_counters io;
	int ctl_file;	       /* which control file */
	struct pf_file *pf;    /* the prefetcher's (prefetch.c; __atomic, made at the first read) */
	struct fa_file *fa;    /* fetch-ahead's windows (fetchahead.c; __atomic) */
	struct fs_handoff *ho; /* exported or imported, not committed (handoff.c; in->rw) */
};

struct fs {
	struct fs_settings set;
	/* FUSE READ and WRITE handlers, from the request to its reply: with
	 * the servers' own latencies, where a page's time goes (stats.json) */
	struct hist fuse_read_lat, fuse_write_lat;
	struct awq *aw; /* asynchronous writes (awrite.c) */
	struct vf_key key;
	bool has_key;
	uint64_t slab_size;
	struct fuse_session *se;
	struct prefetch *pf;   /* prefetch.c */
	struct fetchahead *fa; /* fetchahead.c; NULL: off */

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
	uint64_t page_requests;	    /* FUSE READs and WRITEs of files, __atomic */
	bool repair_yields;	    /* the last chunk went at repair_rate_busy, __atomic */
	uint64_t repair_blocked;    /* extents that found no room for a copy */
	uint64_t repair_waiting;    /* extents whose new copy waits for a server that is down */
	uint64_t repair_handoff;    /* extents whose copies wait for a pending handoff */

	struct fs_state st; /* what the next worker needs */
	uint16_t epoch;	    /* this worker's, in the top bits of its handles */

	struct fs_mutex ns_lock;
	GHashTable *inodes;  /* ino -> struct inode * */
	GHashTable *handles; /* this worker's open handles (ops.c) */
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
/* Frees the handles still open (the worker ends; the kernel keeps them). */
void fs_free_handles(struct fs *fs);

int fs_init_tree(struct fs *fs);
/* Carrying on: the servers and files the last worker left in the state
 * (after servers_init and fs_init_tree; before servers_start). */
int fs_load_tree(struct fs *fs, unsigned *nfiles);
void fs_free_tree(struct fs *fs);
struct inode *inode_new(struct fs *fs, enum inode_kind kind, mode_t mode, uid_t uid, gid_t gid);
void inode_free(struct fs *fs, struct inode *in);
/* ns_lock held: frees in if nothing refers to it any more. */
void inode_maybe_free(struct fs *fs, struct inode *in);
struct inode *inode_get(struct fs *fs, fuse_ino_t ino); /* ns_lock held */
char *inode_path(struct fs *fs, struct inode *in);	/* ns_lock held; g_free */

/* ---- extent.c: the redundancy scheme (copies) and its repair ---- */

/* A new extent on a new block of the state; one on block blk (loading). */
struct extent *ext_new(struct fs *fs);
struct extent *ext_load(struct fs *fs, uint32_t blk);
/* Frees e; its block is reused once a commit no longer names it. */
void ext_free(struct fs *fs, struct extent *e);
/* Slots in use. */
unsigned ext_ncopies(const struct extent *e);
/* Reads [so, so+n) of e from an up-to-date copy, turning to another on
 * an error or a timeout; -EIO once no copy can answer. */
int ext_read(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, void *buf);
/* Writes [so, so+n) to every copy that takes writes, at once; done once
 * every copy that is up has it (e->fill held shared by the caller).  A
 * copy that misses it is STALE from then on; -EIO if no up-to-date copy
 * took it. */
int ext_write(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, const void *buf);
/* What follows a write of [so, so+n) sent to copies idx[cnt] (was_ok[i]:
 * copy i was up to date then) with results status[cnt]: a copy that
 * missed it goes STALE; if no up-to-date copy took it, one is waited for
 * (server_rw); -EIO or -errno if none takes it. */
int ext_write_settle(struct fs *fs, struct extent *e, uint64_t so, uint32_t n, const void *buf,
		     unsigned cnt, const unsigned *idx, const bool *was_ok, const int *status);
/* Sets fs->describe_loss (fs_init_tree). */
void ext_init_loss_report(struct fs *fs);
/* Copies of e in a state (COPY_*). */
unsigned ext_count(const struct extent *e, enum copy_state st);

static inline bool page_written(const struct extent *e, uint64_t pg)
{
	return __atomic_load_n(&e->b->written[pg / 64], __ATOMIC_ACQUIRE) & (1ull << (pg % 64));
}

bool any_written(const struct extent *e, uint64_t first, uint64_t last);

static inline struct extent *map_get(struct inode *in, uint64_t idx)
{
	return idx < in->nmap ? __atomic_load_n(&in->map[idx], __ATOMIC_ACQUIRE) : NULL;
}

/* The copies a file asks for (its own, else the mount's). */
unsigned file_replicas(struct fs *fs, const struct inode *in);
/* Sets a file's copy count; a file with a size gets (or drops) copies of
 * every extent now: -ENOSPC (logged) when the pool is short, -EIO when
 * a server that is down might have the room (servers_alloc). */
int file_set_replicas(struct fs *fs, struct inode *in, unsigned n);
/* Bytes of the file with fewer healthy copies than asked, with one, and
 * with none.  Waits for the file's rw until dl (NULL: for as long as it
 * takes); past it, gives the figures last counted and returns false. */
bool file_degraded(struct fs *fs, struct inode *in, const struct timespec *dl, uint64_t *degraded,
		   uint64_t *unprotected, uint64_t *lost);

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
	uint64_t repair_rate_limit; /* in force: repair_rate, or repair_rate_busy */
	uint64_t repair_blocked;
	uint64_t repair_waiting;
	uint64_t repair_handoff;
};
/* dl: as file_degraded's */
void fs_repl_stats(struct fs *fs, struct repl_stats *st, const struct timespec *dl);

int file_resize(struct fs *fs, struct inode *in, uint64_t size);
int file_fallocate(struct fs *fs, struct inode *in, int mode, uint64_t off, uint64_t len);
ssize_t file_read(struct fs *fs, struct inode *in, uint64_t off, size_t len, char *buf);
/* The same without the file's counters and the error's log line: -errno. */
ssize_t file_read_raw(struct fs *fs, struct inode *in, uint64_t off, size_t len, char *buf);

ssize_t file_write(struct fs *fs, struct inode *in, uint64_t off, size_t len, const char *buf);
void file_free_slabs(struct fs *fs, struct inode *in);
uint64_t file_reserved(struct fs *fs, struct inode *in);

/* Marks pages [first, last] of e written (they read from the servers). */
void ext_mark_written(struct extent *e, uint64_t first, uint64_t last);
/* Logs "file PATH: what at offset off failed: err". */
void file_log_io_error(struct fs *fs, struct inode *in, const char *what, uint64_t off, int err);

/* ---- awrite.c: writes answered when their copies have them, no thread
 * waiting (write-back of dirty pages) ---- */

/* Takes a FUSE WRITE of one extent whose copies are all up, and replies
 * to req when every copy has it (or, after a failure, as ext_write would);
 * false: not taken (the caller writes as usual). */
bool awrite_try(struct fs *fs, fuse_req_t req, struct inode *in, uint64_t off, size_t len,
		const char *buf);
/* With in->rw (e->fill) held exclusively: waits for the asynchronous
 * writes to the file (to e) to end. */
void awrite_wait_inode(struct fs *fs, struct inode *in);
void awrite_wait_extent(struct fs *fs, struct extent *e);
/* The threads that settle failed writes and time out silent ones. */
int awrite_start(struct fs *fs);
/* After the FUSE loop: every write in flight ends (and is answered); the
 * queue stays for whoever still waits on a count (the repair) or is
 * finishing a completion (a transport's thread). */
void awrite_stop(struct fs *fs);
/* Once neither can run any more (the repair stopped, the servers closed). */
void awrite_free(struct fs *fs);
struct awrite_stats {
	uint64_t in_flight, taken, retried;
};
void awrite_stats(struct fs *fs, struct awrite_stats *st);

void *fs_buf_get(struct fs *fs);
void fs_buf_put(struct fs *fs, void *buf);

/* ---- loop.c: the worker's FUSE loop ---- */

#define LOOP_UNMOUNTED 1 /* the connection is gone */
#define LOOP_STOPPED 2	 /* stop_fd was written: requests left wait in the kernel */

/* The kernel's mark on a request it sends again (FUSE_NOTIFY_RESEND). */
#define FS_UNIQUE_RESEND (1ull << 63)
/* The unique of the request the calling thread is processing (0: none). */
uint64_t fs_req_unique(void);
/* Brings the session up to the connection's FUSE_INIT (see loop.c). */
int loop_init(struct fs *fs, struct fuse_session *se, int fd);
/* Serves requests with nthreads threads until unmounted or stopped. */
int loop_run(struct fs *fs, struct fuse_session *se, int fd, int stop_fd, unsigned nthreads);
/* The calling thread is about to wait (a WRITE gone the synchronous way,
 * a lock held long, the transport's waits): the reader's place a FUSE
 * thread left without handing on (it took a WRITE) goes to a parked
 * thread.  Nothing on any other thread. */
void loop_may_block(void);

/* ---- super.c: the supervisor ---- */

/* Mounts, runs workers, ends when the mount does; the exit status. */
int supervisor_run(struct fs *fs, struct fuse_args *args, char **argv);
/* In a worker, once FUSE_INIT is answered (which sets the mount's
 * readahead to at most 128 KiB): a larger --readahead, through the bdi. */
void fs_tune_readahead(struct fs *fs);
/* In a worker: the descriptors the supervisor gave, from VOFIRM_FS_WORKER. */
int worker_fds(const char *spec, int *fuse_fd, int *meta_fd, int *arena_fd, bool *check);

/* ---- handoff.c: a file handed from one mount to another ---- */

struct fs_handoff;
bool handoff_xattr(const char *name);
/* FS_XATTR_EXPORT / FS_XATTR_IMPORT set on a file or the control
 * directory: 0 or -errno (logged). */
int handoff_setxattr(fuse_req_t req, struct fs *fs, struct inode *in, const char *name,
		     const char *value, size_t size);
/* Their value (g_free), or -ENODATA / -E2BIG / -EBUSY / -EINVAL (logged);
 * FS_XATTR_EXPORT ".N": piece N of the handoff (handoff.c). */
int handoff_getxattr(struct fs *fs, struct inode *in, const char *name, char **value);
/* What the state keeps of a pending handoff (g_free; NULL: none), and back. */
void *handoff_state(const struct inode *in, size_t *len);
int handoff_state_load(struct fs *fs, struct inode *in, const uint8_t *p, size_t len);
void handoff_free(struct inode *in);
/* Why in, which has a handoff not committed, must keep its size, extents
 * and name; NULL: it has none (in->rw held). */
const char *handoff_pending(const struct inode *in);
/* Is in exported (the source of a pending handoff)?  in->rw held. */
bool handoff_exported(const struct inode *in);
/* Has in a handoff not committed?  Without in->rw (a snapshot). */
bool handoff_busy(const struct inode *in);

/* ---- stats.c ---- */

/* prefetch.c, for stats.c: a file's counters added to the mount's */
void prefetch_mount_add(struct pf_mount_stats *m, const struct pf_file_stats *f);

char *fs_stats_json(struct fs *fs);
char *fs_stats_prometheus(struct fs *fs);

static inline unsigned fs_nsrv(const struct fs *fs)
{
	return __atomic_load_n(&fs->nsrv, __ATOMIC_ACQUIRE);
}

#endif
