/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm-fs's prefetcher (prefetch.c): per file, a detector of trends in
 * the stream of page cache misses (sequential, strided, Leap's majority
 * vote over a short history), an adaptive depth, and the pages ahead
 * brought into the page cache by asking the kernel to read them
 * (POSIX_FADV_WILLNEED from a helper process in the requester's memory
 * cgroup): the kernel reads only pages that are not cached, so a
 * prefetch can never overwrite a newer page (see prefetch.c, "Why not
 * notify_store").
 */
#ifndef VOFIRM_FS_PREFETCH_H
#define VOFIRM_FS_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct fs;
struct inode;
struct pf_file;
struct prefetch;

enum pf_mode {
	PF_MODE_OFF,	/* no readahead at all: a miss reads the page asked for */
	PF_MODE_KERNEL, /* the kernel's readahead window (--readahead), as before */
	PF_MODE_AUTO,	/* kernel readahead off; vofirm-fs's detector prefetches */
};

/* "off", "kernel", "auto" (NULL: auto) -> mode; -1 if none. */
static inline int prefetch_mode_parse(const char *s)
{
	if (!s || !strcmp(s, "auto"))
		return PF_MODE_AUTO;
	if (!strcmp(s, "kernel"))
		return PF_MODE_KERNEL;
	if (!strcmp(s, "off"))
		return PF_MODE_OFF;
	return -1;
}
const char *prefetch_mode_name(int mode);
/* The readahead the mount gets in this mode (bytes). */
uint64_t prefetch_mount_readahead(const struct fs *fs);

/* The worker's: set up (before serving), start the thread, stop it (and
 * its helpers) while the FUSE loop still serves; stop is idempotent. */
int prefetch_init(struct fs *fs);
int prefetch_start(struct fs *fs);
void prefetch_stop(struct fs *fs);
void prefetch_free(struct fs *fs);

/*
 * The READ handler, around its file_read(): begin says whether the
 * request comes from a prefetch helper (true) or is a demand miss, and
 * feeds the detector with demand misses; *fail_fast is set for a
 * prefetch of a range whose servers are not up (answer EIO at once: the
 * page is read on demand later, under the failure policy).
 */
bool prefetch_read_begin(struct fs *fs, struct inode *in, uint64_t off, size_t len, pid_t pid,
			 bool *fail_fast);
void prefetch_read_end(struct fs *fs, struct inode *in, bool pf, ssize_t n);
/* Whether pid is one of the prefetch helpers (their OPENs are internal). */
bool prefetch_is_helper(struct fs *fs, pid_t pid);
/* A punch or a size change: what was prefetched or queued there is forgotten. */
void prefetch_forget(struct fs *fs, struct inode *in);
void prefetch_file_free(struct inode *in);
/* main() of a helper process (VOFIRM_FS_PREFETCH_HELPER=the worker's pid). */
int prefetch_helper_main(const char *parent_pid);

struct pf_counters {
	uint64_t demand_misses;	   /* demand READs */
	uint64_t demand_pages;	   /* pages they asked for */
	uint64_t prefetch_reads;   /* READs from the helpers */
	uint64_t prefetched_pages; /* pages they read */
	uint64_t issued_pages;	   /* pages asked for by the detector */
	uint64_t used;		   /* prefetched pages the stream went past without a miss */
	uint64_t wasted;	   /* prefetched pages missed again (evicted before use) */
	uint64_t expired;	   /* prefetched pages whose stream ended before them */
	uint64_t cached;	   /* pages asked for that the page cache held (none read) */
	uint64_t late;		   /* pages asked for, missed before the prefetch read them */
	uint64_t pending;	   /* prefetched pages not resolved yet */
	uint64_t dropped;	   /* pages not prefetched: busy link, server down, queue full */
	uint64_t errors;	   /* prefetch READs that failed */
	uint64_t huge_bursts;	   /* 2 MiB-aligned read bursts away from the last one */
};

struct pf_file_stats {
	struct pf_counters c;
	char verdict[32]; /* the detector's current verdict */
	unsigned depth;	  /* of its leading stream, in accesses */
	bool hugepage_trap;
};

struct pf_mount_stats {
	struct pf_counters c;
	uint64_t throttled;    /* windows not issued: demand misses busy the link */
	uint64_t server_down;  /* jobs dropped: a server of the range is not up */
	uint64_t helpers;      /* helper processes started */
	unsigned helpers_live; /* running now */
	unsigned trap_files;   /* files with the HUGEPAGE trap seen */
};

void prefetch_file_stats(struct inode *in, struct pf_file_stats *st);
void prefetch_mount_stats(struct fs *fs, struct pf_mount_stats *st);
/* hit rate (used / resolved) and amplification (pages read per page needed) */
double pf_hit_rate(const struct pf_counters *c);
double pf_amplification(const struct pf_counters *c);

#endif
