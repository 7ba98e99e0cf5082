// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The prefetcher: vofirm-fs decides what to read ahead, per file and per
 * access stream, instead of the kernel's one blind window per mount.
 *
 * What it sees.  With --prefetch auto the mount's kernel readahead is 0,
 * so every page cache miss of a mapping is one READ of the page asked
 * for (a read() asks for its buffer): a demand miss.  The READ handler
 * feeds each demand miss to the file's detector (prefetch_read_begin),
 * which runs under the file's own mutex, in microseconds, and never
 * waits for anything.
 *
 * The detector.  A file has up to PF_STREAMS streams (a VM's vCPUs touch
 * its RAM in several places at once).  A miss joins the stream whose
 * prefetch window it lands on (or its lattice up to PF_RADIUS pages past
 * the window: a marker the page cache held made no miss, and the window
 * starts again where the stream misses next), else the stream whose last
 * miss is nearest (within PF_RADIUS pages), else it starts a new stream (the least
 * recently used one is replaced).  Each stream keeps the deltas between
 * its last --prefetch-history misses, and its trend is Leap's (ATC '20):
 * the majority delta (Boyer-Moore vote, checked) of the whole history,
 * else of its last half, quarter, ... down to two deltas; a delta of
 * one page is sequential, minus one reverse, N strided, and a read()
 * that asks for N pages at a time with a delta of N is sequential too.
 * No majority: the stream is random, and nothing is prefetched for it: a
 * random miss fetches exactly the page asked for.
 *
 * The window.  A stream with a trend prefetches `depth` accesses ahead
 * along it, but leaves one of them out, half a window ahead: the marker.
 * Pages that are prefetched become page cache hits, which vofirm-fs
 * never sees; the marker's miss says that the stream got that far, so
 * the next window is asked for while the half window behind the marker
 * is still being consumed (what the kernel does with PG_readahead, which
 * user space cannot set).  The pages the stream went past are counted
 * used; a miss on a page that was prefetched (evicted before it was
 * used) counts wasted and halves the depth; a window consumed with no
 * waste doubles it, up to --prefetch-max bytes.  A new window stops at
 * the end of its 2 MiB block until the stream has gone on across one: a
 * guest's virtual pages are contiguous in its RAM (the file) for a huge
 * page, or for a run of the buddy allocator's, and a stream that jumps
 * at a block's end would leave the rest of the window unused.  Every file's pages
 * prefetched and not yet used are bounded by --prefetch-max too, so a
 * prefetch cannot push the VM's own working set out of its budget by
 * more than that.  Windows are not asked for while more demand misses
 * are in flight than half the FUSE threads (the link is busy).
 *
 * How pages get into the page cache: the kernel reads them.  The
 * prefetch thread sends each window to a helper process, which opens the
 * file on the mount and calls posix_fadvise(POSIX_FADV_WILLNEED) on its
 * ranges: the kernel allocates page cache pages for what is not cached,
 * locked, and sends READs for them, which the READ handler serves like
 * any other (recognised as prefetches by the helper's pid, counted, and
 * failed at once when a server of the range is not up).
 *
 * Why not notify_store.  FUSE_NOTIFY_STORE (fs/fuse/dev.c,
 * fuse_notify_store) grabs each page with filemap_grab_folio (found or
 * created, locked) and copies the data over it whatever it holds: a
 * dirty page (a store through the guest's mapping not yet written back)
 * is overwritten with the server's older copy, and a store past the end
 * of file extends the kernel's i_size.  A generation per range, bumped by
 * every WRITE, punch and truncate vofirm-fs sees, cannot close that: the
 * page is dirtied in the page cache with no request to vofirm-fs (a READ
 * fault, then the store), and a READ or WRITE of the page may be queued
 * in the kernel, unseen, while the notification waits on the page's
 * lock.  The kernel's own readahead only ever fills pages that are not
 * cached, under the page lock and the mapping's invalidate lock (which a
 * punch and a truncate take exclusively), and its READs are answered with
 * the data the servers hold at that moment: a prefetched page can never
 * be older than a page it replaces, because it replaces none.  The price
 * is a FUSE round trip per window (and the helper's OPEN and RELEASE,
 * once per burst of windows), paid in the background.
 *
 * Why a helper process.  A page cache page is charged to the memory
 * cgroup of the mm that allocates it (mm->owner's): pages the worker
 * read ahead itself would be charged to vofirm-fs, outside the VM's
 * budget.  A helper is a child process put into the memory cgroup of
 * the task whose misses asked for the window (cgroup v1 or v2, from
 * /proc/TID/cgroup), one per cgroup: vofirm-fs started again by the
 * prefetch thread (posix_spawn: nothing of the worker's memory is copied,
 * no fork of a multi-threaded process), doing nothing but
 * open/fadvise/close on its socket's messages; it exits after a second
 * idle (so the cgroup can be removed) and dies with the prefetch thread
 * (PR_SET_PDEATHSIG).  Its OPENs are internal: they do
 * not count as the file's opens and save nothing (ops.c).
 *
 * Life: the thread and the helpers start when the worker serves and are
 * stopped while the FUSE loop still serves requests (loop.c), so a helper
 * waiting for its OPEN or READ is answered, then killed; a worker killed
 * outright takes its helpers with it.  Everything here is per worker: a
 * new worker starts with empty streams and counters.  A server that is
 * not up stops every window of its ranges before it is asked for (logged
 * once per outage), so a server loss gives no storm of failing
 * prefetches; demand reads follow the failure policy as before.
 *
 * The HUGEPAGE trap.  On a mapping marked MADV_HUGEPAGE the kernel reads
 * 2-4 MiB around a miss whatever the readahead (QEMU marks guest RAM so;
 * libvofirm-qemu.so drops the flag).  Demand READs that come as bursts
 * covering a whole 2 MiB-aligned block, away from the block before
 * (a sequential reader's bursts follow each other), are that trap: the
 * file's verdict says so, and the log says it loudly once a minute.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "prefetch.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define PF_STREAMS 8
#define PF_HIST_MAX 32
#define PF_RADIUS 512	 /* pages: a miss this near a stream's last one joins it */
#define PF_JOB_RANGES 64 /* ranges in one window sent at once */
#define PF_QUEUE 256	 /* windows waiting for the prefetch thread */
#define PF_HELPERS 8	 /* helper processes (memory cgroups) at once */
#define PF_HELPER_IDLE_MS 1000
#define PF_PATH_MAX 1024
#define PF_FADV_CHUNK (128u * 1024)
#define PF_MIN_DEPTH 2
#define HUGE_BLOCK (2u << 20)
#define BLOCK_PAGES (HUGE_BLOCK / FS_PAGE)

struct pf_stream {
	bool live;
	uint64_t tick; /* last miss (the file's miss count) */
	uint64_t last; /* page of its last miss */
	int64_t hist[PF_HIST_MAX];
	unsigned nh, hp;
	/* the window: position k is pages [base + k * stride, + n) */
	int64_t stride; /* 0: no window */
	uint32_t n;
	uint64_t base;
	uint64_t issued; /* positions 1..issued were asked for, the marker left out */
	uint64_t marker;
	uint64_t proven; /* positions up to here are resolved */
	unsigned depth;
	bool waste;   /* a page of the window was missed again since it was extended */
	bool crossed; /* it went on across a 2 MiB block's end (extend()) */
	uint64_t extended_tick;
};

struct pf_file {
	pthread_mutex_t mu;
	uint64_t gen; /* +1 per prefetch_forget: older windows are dropped */
	uint64_t misses;
	struct pf_stream s[PF_STREAMS];
	int lead;		  /* the stream last extended; -1: none */
	unsigned on_win, off_win; /* recent misses on a window, and not (decaying) */
	uint64_t *bits;		  /* pages prefetched and not resolved */
	uint64_t *got;		  /* of those, pages a helper's READ asked for */
	uint64_t nbits;		  /* pages the bitmaps cover */
	struct pf_counters c;
	/* the HUGEPAGE trap */
	uint64_t tr_start, tr_next, tr_run, tr_last_blk;
	bool tr_have_last, trap;
	uint64_t tr_bursts, tr_logged_ms;
};

struct pf_range {
	uint64_t page, n;
};

struct pf_job {
	fuse_ino_t ino;
	uint64_t gen;
	pid_t tid; /* whose miss asked for it */
	unsigned nr;
	struct pf_range r[PF_JOB_RANGES];
};

/* What a helper receives. */
struct pf_msg {
	uint32_t nr;
	char path[PF_PATH_MAX];
	struct {
		uint64_t off, len;
	} r[PF_JOB_RANGES];
};

struct pf_helper {
	pid_t pid; /* 0: none */
	int sock;
	char procs[PATH_MAX]; /* the cgroup.procs it was put in; "": the worker's */
	uint64_t last_ms;
};

struct prefetch {
	struct fs *fs;
	int mode;
	unsigned history, depth0;
	uint64_t max_pages;  /* per stream window and per file pending */
	unsigned busy_limit; /* demand READs in flight above which no window is asked */

	pthread_mutex_t mu; /* the queue, the helpers' table */
	pthread_cond_t cv;
	struct pf_job *q;
	unsigned qhead, qlen;
	bool stop, running;
	pthread_t thread;

	struct pf_helper h[PF_HELPERS];
	pid_t hpid[PF_HELPERS]; /* __atomic: read by the READ and OPEN handlers */
	char v1_root[PATH_MAX], v2_root[PATH_MAX];
	bool memcg_warned, down_logged;

	/* __atomic */
	unsigned demand_inflight;
	uint64_t throttled, server_down, helpers_started;
	struct pf_counters gone; /* of files freed since */
};

const char *prefetch_mode_name(int mode)
{
	return mode == PF_MODE_OFF ? "off" : mode == PF_MODE_KERNEL ? "kernel" : "auto";
}

uint64_t prefetch_mount_readahead(const struct fs *fs)
{
	return prefetch_mode_parse(fs->set.prefetch) == PF_MODE_KERNEL ? fs->set.readahead : 0;
}

/*
 * The hit rate counts the pages that were fetched: a page asked for that
 * the page cache held already (fadvise read nothing) is `cached`, one
 * missed before its READ came is `late`; neither is in the ratio.
 */
double pf_hit_rate(const struct pf_counters *c)
{
	uint64_t done = c->used + c->wasted + c->expired;

	return done ? (double)c->used / (double)done : 0.0;
}

double pf_amplification(const struct pf_counters *c)
{
	uint64_t need = c->demand_misses + c->used;

	return need ? (double)(c->demand_pages + c->prefetched_pages) / (double)need : 0.0;
}

/* ---- the bitmaps of pages prefetched and not resolved (f->mu held) ---- */

enum { PG_NONE, PG_ASKED, PG_FETCHED };

/* Resolves pg: PG_NONE if it was not pending, else whether it was fetched. */
static int bit_take(struct pf_file *f, uint64_t pg)
{
	uint64_t m = 1ull << (pg % 64);
	bool got;

	if (pg >= f->nbits || !(f->bits[pg / 64] & m))
		return PG_NONE;
	got = f->got[pg / 64] & m;
	f->bits[pg / 64] &= ~m;
	f->got[pg / 64] &= ~m;
	f->c.pending--;
	return got ? PG_FETCHED : PG_ASKED;
}

/* A helper's READ asks for pg: if it is pending, it is being fetched. */
static void bit_fetch(struct pf_file *f, uint64_t pg)
{
	uint64_t m = 1ull << (pg % 64);

	if (pg < f->nbits && (f->bits[pg / 64] & m))
		f->got[pg / 64] |= m;
}

/* Sets the bit of pg; false if it was set (or no memory). */
static bool bit_set(struct pf_file *f, uint64_t pg)
{
	if (pg >= f->nbits) {
		uint64_t n = (pg + 1 + 4095) & ~4095ull; /* pages, a multiple of 64 */
		uint64_t *b = realloc(f->bits, n / 8), *g;

		if (!b)
			return false;
		memset(b + f->nbits / 64, 0, (n - f->nbits) / 8);
		f->bits = b;
		g = realloc(f->got, n / 8);
		if (!g)
			return false; /* bits is larger than nbits says: harmless */
		memset(g + f->nbits / 64, 0, (n - f->nbits) / 8);
		f->got = g;
		f->nbits = n;
	}
	if (f->bits[pg / 64] & (1ull << (pg % 64)))
		return false;
	f->bits[pg / 64] |= 1ull << (pg % 64);
	f->c.pending++;
	return true;
}

/* ---- the detector (f->mu held) ---- */

static int64_t majority(const struct pf_stream *s, unsigned w)
{
	int64_t cand = 0;
	unsigned cnt = 0, support = 0;

	for (unsigned i = 0; i < w; i++) {
		int64_t d = s->hist[(s->hp + PF_HIST_MAX - 1 - i) % PF_HIST_MAX];

		if (!cnt) {
			cand = d;
			cnt = 1;
		} else {
			if (d == cand)
				cnt++;
			else
				cnt--;
		}
	}
	for (unsigned i = 0; i < w; i++)
		support += s->hist[(s->hp + PF_HIST_MAX - 1 - i) % PF_HIST_MAX] == cand;
	return support * 2 > w && support >= 2 ? cand : 0;
}

/* Leap's FindTrend: the majority of the whole history, else of its
 * newer half, quarter... down to two deltas. */
static int64_t trend_of(const struct pf_stream *s, unsigned history)
{
	unsigned have = s->nh < history ? s->nh : history;

	for (unsigned w = have; w >= 2; w /= 2) {
		int64_t t = majority(s, w);

		if (t)
			return t;
	}
	return 0;
}

static void push_delta(struct pf_stream *s, int64_t d)
{
	s->hist[s->hp] = d;
	s->hp = (s->hp + 1) % PF_HIST_MAX;
	if (s->nh < PF_HIST_MAX)
		s->nh++;
}

/* Pages of position k of s's window, clipped to [0, limit); false if none. */
static bool pos_pages(const struct pf_stream *s, uint64_t k, uint64_t limit, uint64_t *pg,
		      uint64_t *n)
{
	int64_t p = (int64_t)s->base + (int64_t)k * s->stride;
	uint64_t a, e;

	if (p < 0 || (uint64_t)p >= limit)
		return false;
	a = (uint64_t)p;
	e = a + s->n < limit ? a + s->n : limit;
	*pg = a;
	*n = e - a;
	return true;
}

/* The window's positions in (from, to], resolved as used when `used`
 * (the stream went past them) or expired; those the page cache held
 * when they were asked for, as cached. */
static void resolve(struct pf_file *f, struct pf_stream *s, uint64_t from, uint64_t to, bool used)
{
	uint64_t pg, n;

	for (uint64_t k = from + 1; k <= to && k <= s->issued; k++) {
		if (k == s->marker || !pos_pages(s, k, UINT64_MAX, &pg, &n))
			continue;
		for (uint64_t i = 0; i < n; i++) {
			int b = bit_take(f, pg + i);

			if (b == PG_ASKED)
				f->c.cached++;
			else if (b == PG_FETCHED && used)
				f->c.used++;
			else if (b == PG_FETCHED)
				f->c.expired++;
		}
	}
}

static void retire(struct pf_file *f, struct pf_stream *s)
{
	if (s->stride)
		resolve(f, s, s->proven, s->issued, false);
	s->stride = 0;
	s->issued = s->proven = s->marker = 0;
}

static void job_add(struct pf_job *j, uint64_t pg, uint64_t n)
{
	struct pf_range *l = j->nr ? &j->r[j->nr - 1] : NULL;

	if (l && l->page + l->n == pg) {
		l->n += n;
	} else if (l && pg + n == l->page) {
		l->page = pg;
		l->n += n;
	} else if (j->nr < PF_JOB_RANGES) {
		j->r[j->nr++] = (struct pf_range){ pg, n };
	}
}

/*
 * Extends s's window from a miss at position k: positions up to k + depth
 * asked for (the marker, half a window ahead, left out), within the
 * file's budget.  Fills job.
 */
static void extend(struct prefetch *P, struct pf_file *f, struct pf_stream *s, uint64_t k,
		   uint64_t size_pages, struct pf_job *job)
{
	uint64_t maxd = P->max_pages / s->n, to, from, room, pg, n;

	if (maxd < PF_MIN_DEPTH)
		maxd = PF_MIN_DEPTH;
	if (s->issued && !s->waste && s->depth < maxd)
		s->depth = s->depth * 2 < maxd ? s->depth * 2 : (unsigned)maxd;
	s->waste = false;
	from = s->issued > k ? s->issued : k;
	to = k + s->depth;
	if (!s->crossed && pos_pages(s, k, UINT64_MAX, &pg, &n)) {
		/* not past the end of the 2 MiB block (in the stream's
		 * direction) until the stream went on across one */
		uint64_t left =
			s->stride > 0 ? BLOCK_PAGES - 1 - pg % BLOCK_PAGES : pg % BLOCK_PAGES;
		uint64_t last = k + left / (uint64_t)llabs(s->stride);

		if (to > last)
			to = last;
	}
	room = f->c.pending < P->max_pages ? P->max_pages - f->c.pending : 0;
	if ((to - from) * s->n > room)
		to = from + room / s->n;
	if (to <= from)
		return;
	s->marker = to - s->depth / 2;
	if (s->marker <= from)
		s->marker = from + 1;
	for (uint64_t q = from + 1; q <= to; q++) {
		struct pf_range *l = job->nr ? &job->r[job->nr - 1] : NULL;

		if (q == s->marker)
			continue;
		if (!pos_pages(s, q, size_pages, &pg, &n))
			break; /* past the end of the file (or its start) */
		if (job->nr == PF_JOB_RANGES && !(l->page + l->n == pg || pg + n == l->page)) {
			/* the rest at the next marker: the first position not asked for */
			to = q - 1;
			s->marker = q;
			break;
		}
		for (uint64_t i = 0; i < n; i++)
			if (bit_set(f, pg + i)) {
				job_add(job, pg + i, 1);
				f->c.issued_pages++;
			}
	}
	s->issued = to;
	s->extended_tick = f->misses;
	f->lead = (int)(s - f->s);
}

static struct pf_stream *stream_for(struct pf_file *f, uint64_t p, uint64_t *k, bool *on_window)
{
	struct pf_stream *near = NULL, *lru = NULL;
	uint64_t best = UINT64_MAX;

	*on_window = false;
	for (unsigned i = 0; i < PF_STREAMS; i++) {
		struct pf_stream *s = &f->s[i];

		if (!s->live) {
			if (!lru || lru->live)
				lru = s;
			continue;
		}
		if (s->stride) {
			int64_t d = (int64_t)(p - s->base);
			/* beyond the window too: a stream that went past its
			 * marker without a miss (the page cache held it) misses
			 * next somewhere after the window, on the same lattice;
			 * there the window starts again */
			uint64_t past = s->depth + PF_RADIUS / (uint64_t)llabs(s->stride);

			if (d % s->stride == 0 && d / s->stride >= 1) {
				uint64_t q = (uint64_t)(d / s->stride);

				if (q > s->proven && q <= s->issued + past) {
					*k = q;
					*on_window = true;
					return s;
				}
			}
		}
		uint64_t dist = p > s->last ? p - s->last : s->last - p;

		if (dist && dist <= PF_RADIUS && dist < best) {
			best = dist;
			near = s;
		}
		if (!lru || (lru->live && s->tick < lru->tick))
			lru = s;
	}
	if (near)
		return near;
	retire(f, lru);
	memset(lru, 0, sizeof(*lru));
	return lru;
}

static void trap_note(struct fs *fs, struct inode *in, struct pf_file *f, uint64_t off, size_t len)
{
	if (len < 64 * 1024) {
		f->tr_run = 0;
		return;
	}
	if (f->tr_run && off == f->tr_next) {
		f->tr_run += len;
	} else if (off % HUGE_BLOCK == 0) {
		f->tr_start = off;
		f->tr_run = len;
	} else {
		f->tr_run = 0;
		return;
	}
	f->tr_next = off + len;
	while (f->tr_run >= HUGE_BLOCK) {
		uint64_t blk = f->tr_start / HUGE_BLOCK;

		if (!f->tr_have_last || blk != f->tr_last_blk + 1)
			f->c.huge_bursts++;
		f->tr_bursts++;
		f->tr_have_last = true;
		f->tr_last_blk = blk;
		f->tr_start += HUGE_BLOCK;
		f->tr_run -= HUGE_BLOCK;
	}
	f->trap = f->c.huge_bursts >= 4 && f->c.huge_bursts * 3 >= f->tr_bursts;
}

/* The log line for the trap (no lock held). */
static void trap_log(struct fs *fs, struct inode *in, uint64_t pages, uint64_t jumps)
{
	char *path;

	fs_mutex_lock(&fs->ns_lock);
	path = inode_path(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
	vf_warn("file %s: page cache misses read 2 MiB-aligned bursts around single pages "
		"(amplification about %" PRIu64 "x: MADV_HUGEPAGE on its mapping): is QEMU "
		"running with libvofirm-qemu.so (LD_PRELOAD)?",
		path, jumps ? pages / jumps : 0);
	g_free(path);
}

static struct pf_file *pf_file_of(struct inode *in)
{
	struct pf_file *f = __atomic_load_n(&in->pf, __ATOMIC_ACQUIRE), *n;

	if (f)
		return f;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	pthread_mutex_init(&n->mu, NULL);
	n->lead = -1;
	if (!__atomic_compare_exchange_n(&in->pf, &f, n, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&n->mu);
		free(n);
		return f;
	}
	return n;
}

static void queue_job(struct prefetch *P, struct inode *in, struct pf_file *f,
		      const struct pf_job *j);

/* A demand miss of [off, off+len) by tid. */
static void on_demand(struct prefetch *P, struct inode *in, struct pf_file *f, uint64_t off,
		      size_t len, pid_t tid)
{
	uint64_t p = off / FS_PAGE, n = (off + len + FS_PAGE - 1) / FS_PAGE - p, k = 0;
	uint64_t size_pages =
		(__atomic_load_n(&in->size, __ATOMIC_RELAXED) + FS_PAGE - 1) / FS_PAGE;
	uint64_t now = 0, bursts = 0, jumps = 0;
	struct pf_job job = { .ino = in->ino, .tid = tid };
	struct pf_stream *s;
	bool on_win, wasted = false, log_trap = false;
	int64_t t;

	pthread_mutex_lock(&f->mu);
	f->misses++;
	f->c.demand_misses++;
	f->c.demand_pages += n;
	trap_note(P->fs, in, f, off, len);
	if (f->trap) {
		now = vf_now_ms();
		if (!f->tr_logged_ms || now - f->tr_logged_ms >= 60000) {
			f->tr_logged_ms = now;
			log_trap = true;
			bursts = f->tr_bursts * (HUGE_BLOCK / FS_PAGE);
			jumps = f->c.huge_bursts;
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		int b = bit_take(f, p + i);

		/* fetched and evicted before use, or asked for too late: either
		 * way the window reached too far for the budget or the link */
		if (b == PG_FETCHED)
			f->c.wasted++;
		else if (b == PG_ASKED)
			f->c.late++;
		wasted |= b != PG_NONE;
	}
	if (P->mode != PF_MODE_AUTO)
		goto out;
	s = stream_for(f, p, &k, &on_win);
	if (on_win)
		f->on_win++;
	else
		f->off_win++;
	if (f->on_win + f->off_win > 256) {
		f->on_win /= 2;
		f->off_win /= 2;
	}
	if (!s->live) {
		s->live = true;
		s->last = p;
		s->tick = f->misses;
		goto out;
	}
	push_delta(s, on_win ? s->stride : (int64_t)(p - s->last));
	if (on_win && p / BLOCK_PAGES != s->last / BLOCK_PAGES)
		s->crossed = true;
	s->last = p;
	s->tick = f->misses;
	if (on_win) {
		/* the stream went past the positions before k without a miss */
		resolve(f, s, s->proven, k - 1, true);
		if (wasted) {
			s->waste = true;
			s->depth = s->depth / 2 > PF_MIN_DEPTH ? s->depth / 2 : PF_MIN_DEPTH;
		}
		if (k > s->proven)
			s->proven = k;
		if (k >= s->marker || k > s->issued) {
			if (__atomic_load_n(&P->demand_inflight, __ATOMIC_RELAXED) > P->busy_limit)
				__atomic_add_fetch(&P->throttled, 1, __ATOMIC_RELAXED);
			else
				extend(P, f, s, k, size_pages, &job);
		}
		goto out;
	}
	t = trend_of(s, P->history);
	if (!t || (t > 0 ? t : -t) > PF_RADIUS) {
		retire(f, s);
		goto out;
	}
	if (s->stride == t)
		goto out; /* near its window, off it: the window stays as it is */
	/* a new trend: a new window from here (the old one, if any, is done) */
	retire(f, s);
	s->stride = t;
	s->crossed = false;
	s->n = (uint32_t)(n < (uint64_t)(t > 0 ? t : -t) ? n : (uint64_t)(t > 0 ? t : -t));
	if (!s->n)
		s->n = 1;
	s->base = p;
	s->depth = P->depth0;
	s->waste = false;
	if (__atomic_load_n(&P->demand_inflight, __ATOMIC_RELAXED) > P->busy_limit)
		__atomic_add_fetch(&P->throttled, 1, __ATOMIC_RELAXED);
	else
		extend(P, f, s, 0, size_pages, &job);
out:
	job.gen = f->gen;
	pthread_mutex_unlock(&f->mu);
	if (log_trap)
		trap_log(P->fs, in, bursts, jumps);
	if (job.nr)
		queue_job(P, in, f, &job);
}

/* Takes back the pages of a window that will not be asked for. */
static void unissue(struct pf_file *f, const struct pf_job *j)
{
	pthread_mutex_lock(&f->mu);
	if (j->gen == f->gen)
		for (unsigned i = 0; i < j->nr; i++)
			for (uint64_t q = 0; q < j->r[i].n; q++)
				if (bit_take(f, j->r[i].page + q) != PG_NONE)
					f->c.dropped++;
	pthread_mutex_unlock(&f->mu);
}

static void queue_job(struct prefetch *P, struct inode *in, struct pf_file *f,
		      const struct pf_job *j)
{
	bool full;

	pthread_mutex_lock(&P->mu);
	full = P->qlen == PF_QUEUE || !P->running;
	if (!full) {
		P->q[(P->qhead + P->qlen) % PF_QUEUE] = *j;
		P->qlen++;
		pthread_cond_signal(&P->cv);
	}
	pthread_mutex_unlock(&P->mu);
	if (full)
		unissue(f, j);
}

/* ---- the READ handler's side ---- */

/*
 * Whether every extent of [off, off+len) that holds data has an
 * up-to-date copy on a server that is up (in->rw taken here).
 */
static bool range_servable(struct fs *fs, struct inode *in, uint64_t off, uint64_t len,
			   const char **down)
{
	uint64_t S = fs->slab_size;
	bool ok = true;

	if (!len)
		return true;
	fs_rwlock_rdlock(&in->rw);
	for (uint64_t i = off / S; ok && i <= (off + len - 1) / S; i++) {
		struct extent *e = map_get(in, i);
		bool any = false;

		if (!e)
			continue;
		for (unsigned k = 0; k < EXT_SLOTS && !any; k++) {
			struct copy c = copy_get(e, k);
			struct server *s;

			if (c.state != COPY_OK || c.srv >= fs_nsrv(fs))
				continue;
			s = &fs->srv[c.srv];
			fs_mutex_lock(&s->lock);
			any = s->state == SRV_UP;
			fs_mutex_unlock(&s->lock);
			if (!any && down)
				*down = s->url;
		}
		ok = any;
	}
	fs_rwlock_unlock(&in->rw);
	return ok;
}

bool prefetch_is_helper(struct fs *fs, pid_t pid)
{
	struct prefetch *P = fs->pf;

	if (!P || pid <= 0)
		return false;
	for (unsigned i = 0; i < PF_HELPERS; i++)
		if (__atomic_load_n(&P->hpid[i], __ATOMIC_ACQUIRE) == pid)
			return true;
	return false;
}

bool prefetch_read_begin(struct fs *fs, struct inode *in, uint64_t off, size_t len, pid_t pid,
			 bool *fail_fast)
{
	struct prefetch *P = fs->pf;
	struct pf_file *f;

	*fail_fast = false;
	if (!P || in->kind != INODE_FILE)
		return false;
	f = pf_file_of(in);
	if (!f)
		return false;
	if (prefetch_is_helper(fs, pid)) {
		*fail_fast = !range_servable(fs, in, off, len, NULL);
		/* the page cache did not hold these pages: they are fetched */
		pthread_mutex_lock(&f->mu);
		for (uint64_t pg = off / FS_PAGE; len && pg <= (off + len - 1) / FS_PAGE; pg++)
			bit_fetch(f, pg);
		pthread_mutex_unlock(&f->mu);
		return true;
	}
	__atomic_add_fetch(&P->demand_inflight, 1, __ATOMIC_RELAXED);
	on_demand(P, in, f, off, len, pid);
	return false;
}

void prefetch_read_end(struct fs *fs, struct inode *in, bool pf, ssize_t n)
{
	struct prefetch *P = fs->pf;
	struct pf_file *f = __atomic_load_n(&in->pf, __ATOMIC_ACQUIRE);

	if (!P || !f)
		return;
	if (!pf) {
		__atomic_sub_fetch(&P->demand_inflight, 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->c.prefetch_reads++;
	if (n < 0)
		f->c.errors++;
	else
		f->c.prefetched_pages += ((uint64_t)n + FS_PAGE - 1) / FS_PAGE;
	pthread_mutex_unlock(&f->mu);
}

void prefetch_forget(struct fs *fs, struct inode *in)
{
	struct pf_file *f = __atomic_load_n(&in->pf, __ATOMIC_ACQUIRE);

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->gen++;
	for (unsigned i = 0; i < PF_STREAMS; i++) {
		/* what was asked for there is neither used nor wasted: dropped */
		struct pf_stream *s = &f->s[i];

		s->stride = 0;
		s->issued = s->proven = s->marker = 0;
	}
	for (uint64_t w = 0; w < f->nbits / 64; w++) {
		f->c.dropped += (uint64_t)__builtin_popcountll(f->bits[w]);
		f->bits[w] = 0;
		f->got[w] = 0;
	}
	f->c.pending = 0;
	pthread_mutex_unlock(&f->mu);
}

static void add_counters(struct pf_counters *a, const struct pf_counters *b)
{
	a->demand_misses += b->demand_misses;
	a->demand_pages += b->demand_pages;
	a->prefetch_reads += b->prefetch_reads;
	a->prefetched_pages += b->prefetched_pages;
	a->issued_pages += b->issued_pages;
	a->used += b->used;
	a->wasted += b->wasted;
	a->expired += b->expired;
	a->cached += b->cached;
	a->late += b->late;
	a->pending += b->pending;
	a->dropped += b->dropped;
	a->errors += b->errors;
	a->huge_bursts += b->huge_bursts;
}

static struct prefetch *g_pf; /* for prefetch_file_free (the inode knows no fs) */

void prefetch_file_free(struct inode *in)
{
	struct pf_file *f = in->pf;

	if (!f)
		return;
	if (g_pf) {
		struct pf_counters c = f->c;

		c.pending = 0;
		pthread_mutex_lock(&g_pf->mu);
		add_counters(&g_pf->gone, &c);
		pthread_mutex_unlock(&g_pf->mu);
	}
	pthread_mutex_destroy(&f->mu);
	free(f->bits);
	free(f->got);
	free(f);
	in->pf = NULL;
}

void prefetch_file_stats(struct inode *in, struct pf_file_stats *st)
{
	struct pf_file *f = __atomic_load_n(&in->pf, __ATOMIC_ACQUIRE);

	memset(st, 0, sizeof(*st));
	snprintf(st->verdict, sizeof(st->verdict), "none");
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	st->c = f->c;
	st->hugepage_trap = f->trap;
	if (f->trap) {
		snprintf(st->verdict, sizeof(st->verdict), "hugepage-trap");
	} else if (f->lead >= 0 && f->s[f->lead].stride && f->off_win <= f->on_win + 8) {
		const struct pf_stream *s = &f->s[f->lead];

		st->depth = s->depth;
		if (s->stride == (int64_t)s->n)
			snprintf(st->verdict, sizeof(st->verdict), "sequential");
		else if (s->stride == -(int64_t)s->n)
			snprintf(st->verdict, sizeof(st->verdict), "reverse");
		else
			snprintf(st->verdict, sizeof(st->verdict), "strided %" PRId64, s->stride);
	} else if (f->misses) {
		snprintf(st->verdict, sizeof(st->verdict), "random");
	}
	pthread_mutex_unlock(&f->mu);
}

void prefetch_mount_stats(struct fs *fs, struct pf_mount_stats *st)
{
	struct prefetch *P = fs->pf;

	memset(st, 0, sizeof(*st));
	if (!P)
		return;
	pthread_mutex_lock(&P->mu);
	st->c = P->gone;
	for (unsigned i = 0; i < PF_HELPERS; i++)
		st->helpers_live += P->h[i].pid > 0;
	pthread_mutex_unlock(&P->mu);
	st->throttled = __atomic_load_n(&P->throttled, __ATOMIC_RELAXED);
	st->server_down = __atomic_load_n(&P->server_down, __ATOMIC_RELAXED);
	st->helpers = __atomic_load_n(&P->helpers_started, __ATOMIC_RELAXED);
}

/* Adds a file's counters to a mount's (stats.c sums the files it lists). */
void prefetch_mount_add(struct pf_mount_stats *m, const struct pf_file_stats *f);
void prefetch_mount_add(struct pf_mount_stats *m, const struct pf_file_stats *f)
{
	add_counters(&m->c, &f->c);
	m->trap_files += f->hugepage_trap;
}

/* ---- memory cgroups ---- */

static void find_cgroup_roots(struct prefetch *P)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), mnt[PATH_MAX], fstype[64], opts[1024];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup") && strstr(opts, "memory") && !P->v1_root[0])
			snprintf(P->v1_root, sizeof(P->v1_root), "%s", mnt);
		else if (!strcmp(fstype, "cgroup2") && !P->v2_root[0])
			snprintf(P->v2_root, sizeof(P->v2_root), "%s", mnt);
	}
	if (f)
		fclose(f);
}

/* The cgroup.procs of tid's memory cgroup; "" when unknown. */
static void memcg_procs_of(struct prefetch *P, pid_t tid, char *out, size_t outlen)
{
	char path[64], line[4096], v2[PATH_MAX] = "";
	FILE *f;

	out[0] = '\0';
	if (tid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)tid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*b = '\0';
		if (P->v1_root[0] && strstr(a + 1, "memory")) {
			if (snprintf(out, outlen, "%s%s/cgroup.procs", P->v1_root,
				     strcmp(b + 1, "/") ? b + 1 : "") >= (int)outlen)
				out[0] = '\0';
			break;
		}
		/* "0::/path": the v2 hierarchy (id 0, no controllers) */
		if (a == line + 1 && line[0] == '0' && a + 1 == b)
			snprintf(v2, sizeof(v2), "%s", b + 1);
	}
	if (f)
		fclose(f);
	if (!out[0] && v2[0] && P->v2_root[0])
		if (snprintf(out, outlen, "%s%s/cgroup.procs", P->v2_root,
			     strcmp(v2, "/") ? v2 : "") >= (int)outlen)
			out[0] = '\0';
}

/* ---- helpers ---- */

/*
 * The helper's life: vofirm-fs started again (posix_spawn, so nothing of
 * the worker's memory is copied) with VOFIRM_FS_PREFETCH_HELPER set to the
 * worker's pid, its socket at descriptor 3.
 */
int prefetch_helper_main(const char *parent_pid)
{
	static struct pf_msg m;
	static char cur[PF_PATH_MAX];
	const char *procs = getenv("VOFIRM_FS_PREFETCH_CGROUP");
	int fd = -1, sock = 3;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)atoi(parent_pid))
		_exit(0);
	syscall(SYS_close_range, 4u, ~0u, 0u);
	/*
	 * Into the requester's memory cgroup only now: what the program's
	 * start-up allocated (a sanitizer's runtime: megabytes) stays charged
	 * to vofirm-fs's cgroup, as a cgroup v1 move takes no charges along;
	 * from here on, what the kernel reads for us is the VM's.
	 */
	if (procs && procs[0]) {
		char num[24];
		int cfd = open(procs, O_WRONLY | O_CLOEXEC);

		snprintf(num, sizeof(num), "%d", (int)getpid());
		if (cfd < 0 || write(cfd, num, strlen(num)) < 0)
			fprintf(stderr,
				"vofirm-fs: prefetch helper %d: cannot join %s (%s): the pages it "
				"prefetches are charged to vofirm-fs's memory cgroup, not the VM's\n",
				(int)getpid(), procs, strerror(errno));
		if (cfd >= 0)
			close(cfd);
	}
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int r = poll(&p, 1, fd >= 0 ? 0 : PF_HELPER_IDLE_MS);
		ssize_t got;

		if (r == 0) {
			if (fd < 0)
				_exit(0);
			close(fd); /* nothing more queued: the mount is not held open */
			fd = -1;
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		got = recv(sock, &m, sizeof(m), 0);
		if (got <= 0)
			_exit(0);
		m.path[PF_PATH_MAX - 1] = '\0';
		if (fd < 0 || strcmp(cur, m.path)) {
			if (fd >= 0)
				close(fd);
			fd = open(m.path, O_RDONLY | O_CLOEXEC);
			memcpy(cur, m.path, sizeof(cur));
		}
		if (fd < 0)
			continue;
		/* the kernel reads at most max(io_pages, ra_pages) per call:
		 * 128 KiB on a FUSE mount whose readahead is off */
		for (uint32_t i = 0; i < m.nr && i < PF_JOB_RANGES; i++)
			for (uint64_t o = 0; o < m.r[i].len; o += PF_FADV_CHUNK)
				posix_fadvise(fd, (off_t)(m.r[i].off + o),
					      (off_t)(m.r[i].len - o < PF_FADV_CHUNK
							      ? m.r[i].len - o
							      : PF_FADV_CHUNK),
					      POSIX_FADV_WILLNEED);
	}
}

static void helper_end(struct prefetch *P, unsigned i, bool kill_it)
{
	struct pf_helper *h = &P->h[i];

	if (!h->pid)
		return;
	if (kill_it)
		kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	close(h->sock);
	__atomic_store_n(&P->hpid[i], 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&P->mu);
	h->pid = 0;
	pthread_mutex_unlock(&P->mu);
}

/* Reaps the helpers that ended (idle). */
static void helpers_reap(struct prefetch *P)
{
	for (unsigned i = 0; i < PF_HELPERS; i++) {
		struct pf_helper *h = &P->h[i];

		if (h->pid && waitpid(h->pid, NULL, WNOHANG) == h->pid) {
			close(h->sock);
			__atomic_store_n(&P->hpid[i], 0, __ATOMIC_RELEASE);
			pthread_mutex_lock(&P->mu);
			h->pid = 0;
			pthread_mutex_unlock(&P->mu);
		}
	}
}

/* The helper for memory cgroup `procs`, started if need be; -1 if none. */
static int helper_for(struct prefetch *P, const char *procs)
{
	unsigned i, free_i = PF_HELPERS, old = 0;
	int sv[2];
	pid_t pid;
	char env[64], cgenv[PATH_MAX + 32], *argv[] = { (char *)"vofirm-fs-prefetch", NULL };
	char *envp[] = { env, cgenv, NULL };
	posix_spawn_file_actions_t fa;
	int ret;

	for (i = 0; i < PF_HELPERS; i++) {
		if (P->h[i].pid && !strcmp(P->h[i].procs, procs))
			return (int)i;
		if (!P->h[i].pid && free_i == PF_HELPERS)
			free_i = i;
		if (P->h[i].last_ms < P->h[old].last_ms)
			old = i;
	}
	if (free_i == PF_HELPERS) {
		helper_end(P, old, true);
		free_i = old;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	snprintf(env, sizeof(env), "VOFIRM_FS_PREFETCH_HELPER=%d", (int)getpid());
	/* the helper joins the cgroup itself, once started (prefetch_helper_main) */
	snprintf(cgenv, sizeof(cgenv), "VOFIRM_FS_PREFETCH_CGROUP=%s", procs);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	ret = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (ret) {
		close(sv[0]);
		if (!P->memcg_warned) {
			P->memcg_warned = true;
			vf_warn("prefetch: cannot start a helper: %s", strerror(ret));
		}
		return -1;
	}
	pthread_mutex_lock(&P->mu);
	P->h[free_i] = (struct pf_helper){ .pid = pid, .sock = sv[0], .last_ms = vf_now_ms() };
	snprintf(P->h[free_i].procs, sizeof(P->h[free_i].procs), "%s", procs);
	pthread_mutex_unlock(&P->mu);
	__atomic_store_n(&P->hpid[free_i], pid, __ATOMIC_RELEASE);
	__atomic_add_fetch(&P->helpers_started, 1, __ATOMIC_RELAXED);
	return (int)free_i;
}

/* ---- the prefetch thread ---- */

static void run_job(struct prefetch *P, struct pf_job *j, struct pf_msg *m)
{
	struct fs *fs = P->fs;
	struct inode *in;
	struct pf_file *f;
	const char *down = NULL;
	char *path = NULL, procs[PATH_MAX];
	bool ok = true;
	int hi;

	fs_mutex_lock(&fs->ns_lock);
	in = inode_get(fs, j->ino);
	if (in && (in->kind != INODE_FILE || in->slabs_freed || !in->pf))
		in = NULL;
	if (in) {
		in->pinned++;
		path = inode_path(fs, in);
	}
	fs_mutex_unlock(&fs->ns_lock);
	if (!in)
		return;
	f = in->pf;
	if (__atomic_load_n(&f->gen, __ATOMIC_RELAXED) != j->gen || path[0] != '/')
		ok = false; /* forgotten (punched, resized), or unlinked: nothing to open */
	for (unsigned i = 0; ok && i < j->nr; i++)
		ok = range_servable(fs, in, j->r[i].page * FS_PAGE, j->r[i].n * FS_PAGE, &down);
	if (!ok && down) {
		__atomic_add_fetch(&P->server_down, 1, __ATOMIC_RELAXED);
		if (!P->down_logged) {
			P->down_logged = true;
			vf_notice("prefetch: server %s is not up: no prefetch of its ranges until "
				  "it is (misses are read on demand)",
				  down);
		}
	} else if (ok) {
		P->down_logged = false;
	}
	if (ok) {
		int n = snprintf(m->path, sizeof(m->path), "%s%s", fs->set.mountpoint, path);

		ok = n > 0 && (size_t)n < sizeof(m->path);
	}
	if (ok) {
		m->nr = j->nr;
		for (unsigned i = 0; i < j->nr; i++) {
			m->r[i].off = j->r[i].page * FS_PAGE;
			m->r[i].len = j->r[i].n * FS_PAGE;
		}
		memcg_procs_of(P, j->tid, procs, sizeof(procs));
		ok = false;
		for (int attempt = 0; attempt < 2 && !ok; attempt++) {
			hi = helper_for(P, procs);
			if (hi < 0)
				break;
			P->h[hi].last_ms = vf_now_ms();
			if (send(P->h[hi].sock, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
				ok = true;
			else if (errno == EAGAIN || errno == EWOULDBLOCK)
				break; /* the helper is behind: this window is dropped */
			else
				helper_end(P, (unsigned)hi, false); /* it ended (idle): once more */
		}
	}
	if (!ok)
		unissue(f, j);
	g_free(path);
	fs_mutex_lock(&fs->ns_lock);
	in->pinned--;
	inode_maybe_free(fs, in);
	fs_mutex_unlock(&fs->ns_lock);
}

static void *pf_thread(void *arg)
{
	struct prefetch *P = arg;
	struct pf_msg *m = calloc(1, sizeof(*m));
	struct pf_job j;

	pthread_mutex_lock(&P->mu);
	while (!P->stop) {
		if (!P->qlen) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&P->cv, &P->mu, &ts);
			pthread_mutex_unlock(&P->mu);
			helpers_reap(P);
			pthread_mutex_lock(&P->mu);
			continue;
		}
		j = P->q[P->qhead];
		P->qhead = (P->qhead + 1) % PF_QUEUE;
		P->qlen--;
		pthread_mutex_unlock(&P->mu);
		if (m)
			run_job(P, &j, m);
		pthread_mutex_lock(&P->mu);
	}
	pthread_mutex_unlock(&P->mu);
	/* the loop still serves: a helper waiting for its OPEN or READ is
	 * answered, then ends */
	for (unsigned i = 0; i < PF_HELPERS; i++)
		helper_end(P, i, true);
	free(m);
	return NULL;
}

int prefetch_init(struct fs *fs)
{
	struct prefetch *P = calloc(1, sizeof(*P));

	if (!P)
		return -ENOMEM;
	P->q = calloc(PF_QUEUE, sizeof(*P->q));
	if (!P->q) {
		free(P);
		return -ENOMEM;
	}
	P->fs = fs;
	P->mode = prefetch_mode_parse(fs->set.prefetch);
	P->history = fs->set.prefetch_history;
	if (P->history < 2)
		P->history = 2;
	if (P->history > PF_HIST_MAX)
		P->history = PF_HIST_MAX;
	P->depth0 = fs->set.prefetch_depth < PF_MIN_DEPTH ? PF_MIN_DEPTH : fs->set.prefetch_depth;
	P->max_pages = fs->set.prefetch_max / FS_PAGE;
	if (P->max_pages < PF_MIN_DEPTH)
		P->max_pages = PF_MIN_DEPTH;
	P->busy_limit = fs->set.threads / 2 ? fs->set.threads / 2 : 1;
	pthread_mutex_init(&P->mu, NULL);
	pthread_cond_init(&P->cv, NULL);
	find_cgroup_roots(P);
	fs->pf = P;
	g_pf = P;
	return 0;
}

int prefetch_start(struct fs *fs)
{
	struct prefetch *P = fs->pf;
	int ret;

	if (!P || P->mode != PF_MODE_AUTO || P->running)
		return 0;
	pthread_mutex_lock(&P->mu);
	P->stop = false;
	P->running = true;
	pthread_mutex_unlock(&P->mu);
	ret = pthread_create(&P->thread, NULL, pf_thread, P);
	if (ret) {
		P->running = false;
		vf_err("cannot start the prefetch thread: %s: no prefetch", strerror(ret));
		return -ret;
	}
	vf_info("prefetch: auto (history %u, first depth %u, at most %" PRIu64 " KiB ahead per "
		"file); the kernel's readahead is off",
		P->history, P->depth0, P->max_pages * FS_PAGE / 1024);
	return 0;
}

void prefetch_stop(struct fs *fs)
{
	struct prefetch *P = fs->pf;
	bool was;

	if (!P)
		return;
	pthread_mutex_lock(&P->mu);
	was = P->running;
	P->stop = true;
	P->running = false;
	P->qlen = 0; /* what is queued is not asked for (its pages stay pending) */
	pthread_cond_broadcast(&P->cv);
	pthread_mutex_unlock(&P->mu);
	if (was)
		pthread_join(P->thread, NULL);
}

void prefetch_free(struct fs *fs)
{
	struct prefetch *P = fs->pf;

	if (!P)
		return;
	prefetch_stop(fs);
	g_pf = NULL;
	fs->pf = NULL;
	pthread_mutex_destroy(&P->mu);
	pthread_cond_destroy(&P->cv);
	free(P->q);
	free(P);
}
