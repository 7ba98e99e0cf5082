/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm-fs's fetch-ahead (fetchahead.c): a sequential reader's next
 * window is read from the servers while the current one is answered.
 */
#ifndef VOFIRM_FS_FETCHAHEAD_H
#define VOFIRM_FS_FETCHAHEAD_H

#include <stdint.h>
#include <sys/types.h>

struct fa_win;
struct fs;
struct inode;

#define FA_BUFS 4    /* windows with a buffer, mount-wide (the I/O pool has as many more) */
#define FA_THREADS 2 /* fetch threads */

struct fa_stats {
	uint64_t windows;	/* ranges fetched ahead */
	uint64_t bytes;		/* bytes they read from the servers */
	uint64_t used_bytes;	/* of those, bytes a READ was answered with */
	uint64_t dropped_bytes; /* fetched and not used: the reader went elsewhere */
	uint64_t waits;		/* READs that waited for their window's fetch */
	uint64_t stale;		/* windows dropped because their range was written since */
	uint64_t errors;	/* fetches that failed */
	uint64_t reclaimed;	/* windows nobody came for, whose buffer went to another file */
};

/* The worker's: the threads (with --fetch-ahead above 0); stop gives every
 * window's buffer back to the pool and is idempotent; free is after the
 * files are gone. */
int fetchahead_start(struct fs *fs);
void fetchahead_stop(struct fs *fs);
void fetchahead_free(struct fs *fs);

/*
 * The READ handler, before it reads itself: returns the bytes of
 * [off, off+size) from a window of the file fetched ahead, with *data
 * where they are and *win held until fetchahead_done() (after the
 * reply), or a fetch's error; -ENODATA when the caller must read.
 * Either way it has the windows ahead fetched when the file's READs go
 * sequentially.
 */
ssize_t fetchahead_read(struct fs *fs, struct inode *in, uint64_t off, size_t size, char **data,
			struct fa_win **win);
void fetchahead_done(struct fs *fs, struct fa_win *win);
/* Windows over [off, off+len) of the file are not to be served: a write
 * there starts or is answered, or the file is truncated or punched. */
void fetchahead_invalidate(struct fs *fs, struct inode *in, uint64_t off, uint64_t len);
/* The file goes (inode_free): its window and its buffer with it. */
void fetchahead_file_free(struct fs *fs, struct inode *in);
void fetchahead_stats(struct fs *fs, struct fa_stats *st);

#endif
