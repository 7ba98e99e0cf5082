// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-barefuse: the bare FUSE anchor of `make bench` (issue 11).  A
 * minimal single-threaded low-level libfuse3 server (fuse_session_new,
 * fuse_session_mount, fuse_session_loop: one thread, blocking reads of
 * /dev/fuse) that serves one regular file, `data`, from anonymous memory.
 * What a page fault costs through FUSE with nothing behind it: the floor
 * vofirm-fs over mem:// is compared with.
 *
 *   vofirm-barefuse MOUNTPOINT SIZE [--readahead SIZE] [--max-background N]
 *                   [--max-write SIZE] [--bdi-max-ratio PCT] [--no-mlock]
 *                   [-o FUSE_OPTIONS] [-d]
 *
 * It runs in the foreground until the mount goes (fusermount3 -u) or a
 * SIGTERM/SIGINT/SIGHUP.  SIZE (and the other sizes) take K, M, G.
 *
 * What it mirrors of vofirm-fs (the same defaults, so that the two differ
 * only in what vofirm-fs does per request):
 *   - mount options (src/fs/main.c fuse_args_of): fsname=barefuse,
 *     subtype=barefuse (vofirm-fs: vofirm), default_permissions, and
 *     allow_other when run as root;
 *   - FUSE_INIT (src/fs/ops.c vf_init): FUSE_CAP_AUTO_INVAL_DATA off,
 *     max_write = --max-write (VF_MAX_IO, 1 MiB), max_readahead =
 *     --readahead (128K), max_background = --max-background (64),
 *     congestion_threshold = 3/4 of it, time_gran = 1 (the kernel offers
 *     the bdi's 128 KiB as max_readahead and keeps the smaller of the two:
 *     a larger --readahead has no effect, here as in vofirm-fs);
 *   - open (vf_open): keep_cache = 1; entry and attribute timeouts of
 *     3600 s (ATTR_TIMEOUT); st_blksize 4096;
 *   - flush and fsync answered (the kernel sends them, as to vofirm-fs);
 *   - the mount's bdi (src/fs/super.c tune_bdi): max_ratio =
 *     --bdi-max-ratio (50; 0 leaves the kernel's) and strict_limit 0;
 *   - the process (src/fs/main.c tune_process): mlockall(MCL_CURRENT |
 *     MCL_FUTURE | MCL_ONFAULT) unless --no-mlock, PR_SET_IO_FLUSHER.
 * What it does not have: vofirm-fs's worker threads (--threads; this is
 * one thread, libfuse's own loop), its supervisor, its state, xattrs
 * (GETXATTR answers ENOSYS once and the kernel stops asking), other
 * files and directories (`data` cannot be removed or renamed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312 /* as vofirm-fs (src/fs/fs.h) */
#include <fuse_lowlevel.h>

#include "vofirm/proto.h"

#define ATTR_TIMEOUT 3600.0 /* vofirm-fs's (src/fs/ops.c) */
#define DATA_INO 2
#define DATA_NAME "data"

static struct {
	uint8_t *mem;  /* the file's bytes: cap bytes mapped */
	uint64_t size; /* the file's size */
	uint64_t cap;  /* bytes mapped, a multiple of the page size */
	mode_t mode;   /* the file's permission bits */
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	uint64_t readahead, max_write;
	unsigned max_background;
} bf;

static void attr_of(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = bf.uid;
	st->st_gid = bf.gid;
	st->st_blksize = 4096;
	st->st_atim = bf.atime;
	st->st_mtim = bf.mtime;
	st->st_ctim = bf.ctime;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_size = 4096;
	} else {
		st->st_mode = S_IFREG | bf.mode;
		st->st_nlink = 1;
		st->st_size = (off_t)bf.size;
		st->st_blocks = (blkcnt_t)((bf.size + 511) / 512);
	}
}

/* Sets the file's size: grows the mapping if needed, zeroes what a
 * shrink drops (a later growth reads zeros there). */
static int resize(uint64_t size)
{
	if (size > bf.cap) {
		uint64_t cap = bf.cap * 2 > size ? bf.cap * 2 : size;
		void *m;

		cap = (cap + 4095) & ~4095ull;
		m = mremap(bf.mem, bf.cap, cap, MREMAP_MAYMOVE);
		if (m == MAP_FAILED)
			return errno == ENOMEM ? ENOSPC : errno;
		bf.mem = m;
		bf.cap = cap;
	}
	if (size < bf.size)
		memset(bf.mem + size, 0, bf.size - size);
	bf.size = size;
	clock_gettime(CLOCK_REALTIME, &bf.mtime);
	bf.ctime = bf.mtime;
	return 0;
}

static void bf_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_write = (unsigned)bf.max_write;
	conn->max_readahead = (unsigned)bf.readahead;
	conn->max_background = bf.max_background;
	conn->congestion_threshold = bf.max_background * 3 / 4;
	conn->time_gran = 1;
}

static void bf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, DATA_NAME)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = DATA_INO;
	e.generation = 1;
	attr_of(DATA_INO, &e.attr);
	e.attr_timeout = e.entry_timeout = ATTR_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void bf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void bf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != DATA_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	attr_of(ino, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void bf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct timespec now;
	struct stat st;
	int err;

	if (ino != DATA_INO) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ENOENT);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = resize((uint64_t)attr->st_size);
		if (err) {
			fuse_reply_err(req, err);
			return;
		}
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		bf.mode = attr->st_mode & 07777;
	if (to_set & FUSE_SET_ATTR_UID)
		bf.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		bf.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		bf.atime = to_set & FUSE_SET_ATTR_ATIME_NOW ? now : attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		bf.mtime = to_set & FUSE_SET_ATTR_MTIME_NOW ? now : attr->st_mtim;
	bf.ctime = now;
	attr_of(ino, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void bf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != DATA_INO) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
		resize(0);  /* FUSE_CAP_ATOMIC_O_TRUNC */
	fi->keep_cache = 1; /* as vofirm-fs: an open must not drop cached pages */
	fuse_reply_open(req, fi);
}

static void bf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	uint64_t o = (uint64_t)off;

	if (o >= bf.size)
		size = 0;
	else if (size > bf.size - o)
		size = (size_t)(bf.size - o);
	fuse_reply_buf(req, size ? (const char *)bf.mem + o : NULL, size);
}

static void bf_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	uint64_t o = (uint64_t)off;

	if (o + size > bf.size) {
		int err = resize(o + size);

		if (err) {
			fuse_reply_err(req, err);
			return;
		}
	}
	memcpy(bf.mem + o, buf, size);
	fuse_reply_write(req, size);
}

static void bf_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void bf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void bf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
		mode_t mode;
	} ents[] = { { ".", FUSE_ROOT_ID, S_IFDIR },
		     { "..", FUSE_ROOT_ID, S_IFDIR },
		     { DATA_NAME, DATA_INO, S_IFREG } };
	char buf[512];
	size_t used = 0;

	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (off_t i = off; i >= 0 && i < (off_t)(sizeof(ents) / sizeof(ents[0])); i++) {
		struct stat st = { .st_ino = ents[i].ino, .st_mode = ents[i].mode };
		size_t n =
			fuse_add_direntry(req, buf + used, size - used, ents[i].name, &st, i + 1);

		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void bf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	s.f_blocks = bf.cap / 4096;
	s.f_bfree = s.f_bavail = (bf.cap - (bf.size < bf.cap ? bf.size : bf.cap)) / 4096;
	s.f_files = 2;
	fuse_reply_statfs(req, &s);
}

static const struct fuse_lowlevel_ops bf_ops = {
	.init = bf_init,
	.lookup = bf_lookup,
	.forget = bf_forget,
	.getattr = bf_getattr,
	.setattr = bf_setattr,
	.open = bf_open,
	.read = bf_read,
	.write = bf_write,
	.flush = bf_ok,
	.release = bf_ok,
	.fsync = bf_fsync,
	.readdir = bf_readdir,
	.statfs = bf_statfs,
};

/* A size: a number with an optional K, M or G (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	if (*end || (shift && v > (ULLONG_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Unescapes a mountinfo path (' ', '\t', '\n', '\\' are written \ooo). */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

static int write_sysfs(const char *path, const char *val)
{
	FILE *f = fopen(path, "we");
	int ret = 0;

	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/*
 * The mount's bdi as vofirm-fs sets it (src/fs/super.c tune_bdi): FUSE
 * mounts get a strict 1 % share of the dirty limit otherwise.  From
 * /proc/self/mountinfo: a stat() of the mount point would ask this very
 * server, which is not serving yet (so `real`, the mount point's real
 * path, is found before the mount).
 */
static void tune_bdi(const char *real, unsigned ratio)
{
	char line[4096], bdi[32] = "", path[256], val[16];
	FILE *f;
	int err;

	if (!ratio)
		return;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		fprintf(stderr, "vofirm-barefuse: cannot read /proc/self/mountinfo\n");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mp[PATH_MAX], *dash = strstr(line, " - ");

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mp) != 3 || !dash ||
		    strncmp(dash + 3, "fuse.barefuse ", 14))
			continue;
		unescape(mp);
		if (!strcmp(mp, real))
			snprintf(bdi, sizeof(bdi), "%u:%u", maj, min); /* the last one wins */
	}
	fclose(f);
	if (!bdi[0]) {
		fprintf(stderr,
			"vofirm-barefuse: %s not found in /proc/self/mountinfo: "
			"dirty-page limits left as the kernel set them\n",
			real);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/max_ratio", bdi);
	snprintf(val, sizeof(val), "%u", ratio);
	err = write_sysfs(path, val);
	if (err) {
		fprintf(stderr, "vofirm-barefuse: %s: %s\n", path, strerror(-err));
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/strict_limit", bdi);
	write_sysfs(path, "0");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vofirm-barefuse MOUNTPOINT SIZE [--readahead SIZE (128K)] "
		"[--max-background N (64)] [--max-write SIZE (1M)] [--bdi-max-ratio PCT (50)] "
		"[--no-mlock] [-o FUSE_OPTIONS] [-d]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "readahead", required_argument, NULL, 'r' },
		{ "max-background", required_argument, NULL, 'b' },
		{ "max-write", required_argument, NULL, 'w' },
		{ "bdi-max-ratio", required_argument, NULL, 'R' },
		{ "no-mlock", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const char *extra = NULL;
	char *mnt;
	unsigned bdi_ratio = 50;
	bool mlock = true, debug = false;
	struct fuse_session *se;
	char opts[4096];
	uint64_t v;
	int c, ret = 1;

	bf.readahead = 128 << 10;
	bf.max_write = VF_MAX_IO;
	bf.max_background = 64;
	while ((c = getopt_long(argc, argv, "o:dh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_size(optarg, &bf.readahead) || bf.readahead % 4096 ||
			    bf.readahead > (16 << 20)) {
				fprintf(stderr, "vofirm-barefuse: --readahead: a multiple of 4K, "
						"at most 16M\n");
				return 2;
			}
			break;
		case 'b':
			if (parse_size(optarg, &v) || v < 1 || v > 65535) {
				fprintf(stderr, "vofirm-barefuse: --max-background: 1 to 65535\n");
				return 2;
			}
			bf.max_background = (unsigned)v;
			break;
		case 'w':
			if (parse_size(optarg, &bf.max_write) || bf.max_write < 4096 ||
			    bf.max_write > VF_MAX_IO) {
				fprintf(stderr, "vofirm-barefuse: --max-write: 4K to 1M\n");
				return 2;
			}
			break;
		case 'R':
			if (parse_size(optarg, &v) || v > 100) {
				fprintf(stderr, "vofirm-barefuse: --bdi-max-ratio: 0 to 100\n");
				return 2;
			}
			bdi_ratio = (unsigned)v;
			break;
		case 'L':
			mlock = false;
			break;
		case 'o':
			extra = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 2 || parse_size(argv[optind + 1], &bf.size)) {
		usage();
		return 2;
	}
	mnt = realpath(argv[optind], NULL); /* not once mounted: see tune_bdi() */
	if (!mnt) {
		fprintf(stderr, "vofirm-barefuse: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}

	bf.cap = bf.size > 4096 ? (bf.size + 4095) & ~4095ull : 4096;
	bf.mem = mmap(NULL, bf.cap, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (bf.mem == MAP_FAILED) {
		perror("vofirm-barefuse: mmap");
		return 1;
	}
	bf.mode = 0644;
	bf.uid = geteuid();
	bf.gid = getegid();
	clock_gettime(CLOCK_REALTIME, &bf.mtime);
	bf.atime = bf.ctime = bf.mtime;
	if (mlock && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		fprintf(stderr, "vofirm-barefuse: mlockall: %s (--no-mlock to silence this)\n",
			strerror(errno));
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "vofirm-barefuse: PR_SET_IO_FLUSHER: %s\n", strerror(errno));

	snprintf(opts, sizeof(opts), "fsname=barefuse,subtype=barefuse,default_permissions%s%s%s",
		 geteuid() == 0 ? ",allow_other" : "", extra ? "," : "", extra ? extra : "");
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts) || (debug && fuse_opt_add_arg(&args, "-d"))) {
		fprintf(stderr, "vofirm-barefuse: cannot build the FUSE arguments\n");
		return 1;
	}
	se = fuse_session_new(&args, &bf_ops, sizeof(bf_ops), NULL);
	if (!se) {
		fuse_opt_free_args(&args);
		return 1;
	}
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, mnt)) {
		fprintf(stderr, "vofirm-barefuse: cannot mount at %s\n", mnt);
		goto out_signals;
	}
	tune_bdi(mnt, bdi_ratio);
	ret = fuse_session_loop(se) < 0 ? 1 : 0;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	munmap(bf.mem, bf.cap);
	free(mnt);
	return ret;
}
