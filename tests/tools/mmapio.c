// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-mmapio: what QEMU does to a memory file, checked.
 *
 *   fill FILE SIZE [SEED]     map FILE MAP_SHARED (growing it to SIZE if it is
 *                             smaller), write a pattern over every page, msync
 *   rewrite FILE SIZE SEED [MIB_S]
 *                             fill, then fill again with SEED+1, SEED+2, ...
 *                             until killed, in one mapping: a long-lived
 *                             workload that keeps dirtying its memory (its
 *                             page tables are written once, not per pass),
 *                             at most MIB_S MiB per second if given
 *   verify FILE SIZE [SEED]   map FILE MAP_SHARED and check every byte
 *   zero FILE SIZE            map FILE and check that it reads as zeros
 *   anon - SIZE [SEED] [hold|rand OPS]
 *                             anonymous memory (a guest's workload): write the
 *                             pattern, verify it; "hold": keep it until killed;
 *                             "rand OPS": then OPS random pages read, checked and
 *                             rewritten, timed (a memory-bound random workload)
 *   pread FILE OFFSET LEN     drop the range from the page cache, pread it:
 *                             prints "ok" or the error (exit 5 on EIO)
 *   check FILE SIZE [SEED]    drop the file from the page cache, read it with
 *                             pread (from the file system, not a mapping) and
 *                             check every byte; exit 5 on a read error
 *   scan FILE SIZE SEED PATTERN OPS
 *                             map FILE MAP_SHARED read-only and touch OPS pages
 *                             in PATTERN (below), checking each; timed
 *   anon - SIZE SEED pat PATTERN OPS
 *                             anonymous memory filled as above, then OPS pages
 *                             touched in PATTERN, each checked and rewritten
 *   anon - SIZE SEED pats P1[:OPS1],P2... OPS DIR
 *                             the same for several patterns in turn, paced by
 *                             the host: DIR/filled once the memory is filled,
 *                             then pattern i runs once DIR/go.I exists, and its
 *                             line is written to DIR/done.I (the bench counts
 *                             each pattern's traffic apart); a pattern named
 *                             again goes on where it stopped (seq, rev,
 *                             strideN) or draws other pages (rand, zipf,
 *                             chase)
 *   anon - SIZE SEED timed TICK_MS DIR
 *                             anonymous memory filled as above (DIR/filled then),
 *                             then random pages read, checked and rewritten
 *                             (one word of each, a new version each time)
 *                             until DIR/stop exists, one line per TICK_MS
 *                             (a stall: one long one): "tick T OPS BAD", T the
 *                             tick's end in
 *                             seconds of CLOCK_REALTIME (the bench sets the ticks
 *                             against a repair on the host: "clock" below)
 *   clock                     print CLOCK_REALTIME in seconds (ns digits): with
 *                             the host's time around it, the guest's offset
 *   stamp FILE SIZE SEED MOD  write every page p with p % MOD == 0 with SEED's
 *                             pattern through a shared mapping (msync at the end)
 *   verifymod FILE SIZE SEED SEED2 MOD
 *                             verify: pages p % MOD == 0 hold SEED2's pattern
 *   fsync FILE                every dirty page of FILE written back (fsync)
 *   xattr-get FILE NAME       print the extended attribute NAME of FILE and a
 *                             newline; a value longer than one attribute
 *                             (E2BIG) is read in pieces NAME.0, NAME.1, ...
 *                             until a piece shorter than 64 KiB (vofirm-fs's
 *                             handoffs, src/fs/handoff.c)
 *   xattr-set FILE NAME       set NAME to standard input, its trailing
 *                             newlines dropped; 64 KiB or more goes in pieces
 *                             NAME.0, NAME.1, ..., the last shorter
 * (The test guest has neither python nor getfattr: these drive vofirm-fs's
 * handoff attributes there, as tests/tools/handoff.py does on the host.)
 * PATTERN: seq (every word of each page, in order), rev, rand, strideN (every
 * Nth page, wrapping with an offset), zipf (theta 0.99 over the pages, hot
 * pages scattered), chase (a pointer chase: each page's successor in a random
 * cycle depends on the word just read).  VOFIRM_MMAPIO_ADVICE=huge|random|seq
 * madvises the file mapping first; VOFIRM_MMAPIO_HOLES=OFF:LEN,... makes
 * verify, verifymod and scan expect zeros there (punched ranges).
 *
 * A SIGBUS while touching the mapping (the file system answered EIO) is
 * reported with its offset; exit status 3.  Mismatches: exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf bus_jmp;
static volatile uint64_t cur_off;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

static uint64_t word(uint64_t seed, uint64_t off)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ off;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The word of page p that "timed" rewrites. */
static uint64_t hot_word(uint64_t p)
{
	return p * 7919 % 512;
}

/*
 * anon ... timed: random pages of m read, checked and rewritten until
 * DIR/stop exists (or an hour has passed), a line per tick, ticks at
 * least tick_ms apart (a stall is one long tick).  Each page has one word
 * the touches rewrite, each time with the page's next version of the
 * pattern (seed + its count of rewrites, in ver[]): a write lost on the
 * way (a copy rebuilt from old data) shows at the next read of that page,
 * and in the check of every word at the end.  Returns the words found
 * wrong.
 */
static uint64_t run_timed(uint64_t *m, uint64_t size, uint64_t seed, unsigned tick_ms,
			  const char *dir)
{
	uint64_t pages = size / 4096, x = 0x2545f4914f6cdd1dull, ops = 0, bad = 0, all = 0,
		 after = 0, first = UINT64_MAX;
	uint16_t *ver = calloc(pages, sizeof(*ver));
	double tick = tick_ms / 1e3, start = secs(), next = start + tick, now, secs_run;
	char stop[512];

	if (!ver) {
		fprintf(stderr, "vofirm-mmapio: no memory for %" PRIu64 " page versions\n", pages);
		return 1;
	}
	snprintf(stop, sizeof(stop), "%s/stop", dir);
	for (;;) {
		for (unsigned k = 0; k < 64; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t p = x % pages, o = p * 4096 + hot_word(p) * 8;

			if (m[o / 8] != word(seed + ver[p], o)) {
				bad++;
				first = first < o ? first : o;
			}
			ver[p]++;
			m[o / 8] = word(seed + ver[p], o);
		}
		ops += 64;
		if ((now = secs()) < next)
			continue;
		printf("tick %.6f %" PRIu64 " %" PRIu64 "\n", realtime(), ops, bad);
		fflush(stdout);
		all += ops;
		ops = 0;
		next = now + tick; /* a late tick is long, not followed by a short one */
		if (!access(stop, F_OK) || now - start > 3600)
			break;
	}
	secs_run = secs() - start;
	for (uint64_t p = 0; p < pages; p++)
		for (uint64_t w = 0; w < 512; w++) {
			uint64_t o = p * 4096 + w * 8;

			if (m[o / 8] != word(w == hot_word(p) ? seed + ver[p] : seed, o)) {
				after++;
				first = first < o ? first : o;
			}
		}
	free(ver);
	if (bad || after)
		printf("first bad word at offset %" PRIu64 "\n", first);
	printf("timed: %" PRIu64 " random pages checked and rewritten in %.2f s, %" PRIu64
	       " bad; every word checked after: %" PRIu64 " bad\n",
	       all, secs_run, bad, after);
	return bad + after;
}

static int map_file(const char *path, uint64_t size, int writable, uint64_t **map)
{
	int fd = open(path, writable ? O_RDWR | O_CREAT : O_RDONLY, 0644);
	struct stat st;

	if (fd < 0) {
		fprintf(stderr, "vofirm-mmapio: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (writable && fstat(fd, &st) == 0 && (uint64_t)st.st_size < size &&
	    ftruncate(fd, (off_t)size) < 0) {
		fprintf(stderr, "vofirm-mmapio: ftruncate %s to %" PRIu64 ": %s\n", path, size,
			strerror(errno));
		close(fd);
		return -1;
	}
	*map = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (*map == MAP_FAILED) {
		fprintf(stderr, "vofirm-mmapio: mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Punched ranges (VOFIRM_MMAPIO_HOLES): their words must read zero. */
static struct {
	uint64_t off, len;
} holes[64];
static unsigned nholes;

static void load_holes(void)
{
	const char *h = getenv("VOFIRM_MMAPIO_HOLES");

	while (h && *h && nholes < 64) {
		char *end;

		holes[nholes].off = strtoull(h, &end, 0);
		if (*end != ':')
			break;
		holes[nholes].len = strtoull(end + 1, &end, 0);
		nholes++;
		h = *end == ',' ? end + 1 : end;
	}
}

/* The physical frame behind the page at p (/proc/self/pagemap, as root),
 * or 0 if unknown: in a guest, which memory (a DIMM's file offset) held it. */
static uint64_t pfn_of(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / 4096 * 8)) != sizeof(e))
		e = 0;
	close(fd);
	return (e >> 63) & 1 ? e & ((1ull << 55) - 1) : 0;
}

/*
 * After a failed check of an anonymous mapping: where the wrong words are
 * (the first and last offsets, the pages, and their physical frames), and
 * what they hold instead (zeros, or the pattern of another offset nearby,
 * of this seed or the one before): enough to tell a lost write from a
 * misplaced one.
 */
static void report_bad(const uint64_t *m, uint64_t size, uint64_t seed)
{
	uint64_t first = UINT64_MAX, last = 0, pages = 0, zeros = 0, bad = 0,
		 prev_page = UINT64_MAX;

	for (uint64_t o = 0; o < size; o += 8) {
		if (m[o / 8] == word(seed, o))
			continue;
		bad++;
		zeros += m[o / 8] == 0;
		if (first == UINT64_MAX)
			first = o;
		last = o;
		if (o / 4096 != prev_page) {
			pages++;
			prev_page = o / 4096;
		}
	}
	if (!bad)
		return;
	printf("bad words from offset %" PRIu64 " to %" PRIu64 " (%" PRIu64 " pages), %" PRIu64
	       " of them zero; pfn of the first bad page 0x%" PRIx64 ", of the last 0x%" PRIx64
	       "\n",
	       first, last, pages, zeros, pfn_of((const char *)m + first),
	       pfn_of((const char *)m + last));
	printf("at %" PRIu64 ": 0x%016" PRIx64 " instead of 0x%016" PRIx64 "\n", first,
	       m[first / 8], word(seed, first));
	/* the pattern of another offset within 64 MiB, of this seed or the last */
	for (uint64_t s2 = seed - 1; s2 <= seed; s2++) {
		for (int64_t d = -(64 << 20); d <= (64 << 20); d += 8) {
			int64_t o2 = (int64_t)first + d;

			if (o2 < 0 || (d == 0 && s2 == seed))
				continue;
			if (word(s2, (uint64_t)o2) == m[first / 8]) {
				printf("which is the word of offset %" PRId64 " (%+" PRId64
				       " bytes), seed %" PRIu64 "\n",
				       o2, d, s2);
				return;
			}
		}
	}
}

static uint64_t expect(uint64_t seed, uint64_t off)
{
	for (unsigned i = 0; i < nholes; i++)
		if (off >= holes[i].off && off < holes[i].off + holes[i].len)
			return 0;
	return word(seed, off);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Zipf over [0, n) with theta (Gray et al., as YCSB's generator). */
struct zipf {
	uint64_t n;
	double theta, alpha, zetan, eta;
};

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	double zeta2 = 0;

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		z->zetan += 1.0 / pow((double)i, theta);
	for (uint64_t i = 1; i <= 2; i++)
		zeta2 += 1.0 / pow((double)i, theta);
	z->alpha = 1.0 / (1.0 - theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
}

static uint64_t zipf_next(struct zipf *z, uint64_t *x)
{
	double u = (double)(xorshift(x) >> 11) / 9007199254740992.0, uz = u * z->zetan;

	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + pow(0.5, z->theta))
		return 1;
	return (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha)) % z->n;
}

/*
 * Touches ops pages of m (size bytes) in `pat`, checking each against
 * seed's pattern (and rewriting it when `rw`); prints the rate.  The
 * number of bad words.
 */
static uint64_t run_pattern(uint64_t *m, uint64_t size, uint64_t seed, const char *pat,
			    uint64_t ops, bool rw, uint64_t rep)
{
	/* a repetition (rep > 0) of a pattern goes on where the last one
	 * stopped (scans, strides) or draws other pages (the random ones) */
	uint64_t pages = size / 4096, x = 88172645463325252ull ^ rep * 0x9e3779b97f4a7c15ull,
		 bad = 0, stride = 0, cur = 0, base = rep * ops;
	uint32_t *next = NULL;
	struct zipf z = { 0 };
	double t1;
	bool seq = !strcmp(pat, "seq"), rev = !strcmp(pat, "rev"), rnd = !strcmp(pat, "rand");
	bool zf = !strcmp(pat, "zipf"), chase = !strcmp(pat, "chase");

	if (!strncmp(pat, "stride", 6))
		stride = strtoull(pat + 6, NULL, 0);
	if (!seq && !rev && !rnd && !zf && !chase && !stride) {
		fprintf(stderr, "vofirm-mmapio: unknown pattern %s\n", pat);
		exit(2);
	}
	if (zf)
		zipf_init(&z, pages, 0.99);
	if (chase) {
		/* a random cycle over the pages (Sattolo), kept outside m */
		next = malloc(pages * sizeof(*next));
		if (!next)
			exit(2);
		for (uint64_t i = 0; i < pages; i++)
			next[i] = (uint32_t)i;
		for (uint64_t i = pages - 1; i > 0; i--) {
			uint64_t j = xorshift(&x) % i, t = next[i];

			next[i] = next[j];
			next[j] = (uint32_t)t;
		}
	}
	t1 = secs();
	for (uint64_t i = base; i < base + ops; i++) {
		uint64_t pg, o;

		if (seq)
			pg = i % pages;
		else if (rev)
			pg = pages - 1 - i % pages;
		else if (stride)
			pg = (i * stride + i * stride / pages) % pages;
		else if (zf)
			pg = (zipf_next(&z, &x) * 0x9e3779b97f4a7c15ull) % pages; /* scattered */
		else if (chase)
			pg = cur;
		else
			pg = xorshift(&x) % pages;
		o = pg * 4096;
		cur_off = o;
		if (seq || rev) {
			/* a scan reads the whole page */
			for (uint64_t k = 0; k < 512; k++)
				if (m[o / 8 + k] != expect(seed, o + k * 8))
					bad++;
		} else {
			o += (xorshift(&x) >> 40) % 512 * 8;
			uint64_t v = m[o / 8];

			if (v != expect(seed, o))
				bad++;
			if (chase)
				cur = next[pg] ^
				      (v ^ expect(seed, o)) % pages; /* depends on the load */
		}
		if (rw)
			m[o / 8] = expect(seed, o);
	}
	double t = secs() - t1;

	free(next);
	if (bad)
		printf("%s: %" PRIu64 " bad words in %" PRIu64 " pages\n", pat, bad, ops);
	printf("%s: %" PRIu64 " pages checked in %.3f s (%.0f ops/s)\n", pat, ops, t,
	       (double)ops / t);
	fflush(stdout);
	return bad;
}

#define XATTR_PIECE 65536u /* an extended attribute's value, at most */

/* fsync / xattr-get / xattr-set (above); -1 if CMD is none of them */
static int xattr_cmd(int argc, char **argv)
{
	const char *cmd = argv[1], *path = argv[2], *name = argc > 3 ? argv[3] : NULL;
	char piece[300];
	size_t len = 0, cap = 1 << 20;
	char *v;

	if (!strcmp(cmd, "fsync")) {
		int fd = open(path, O_RDONLY);

		if (fd < 0 || fsync(fd)) {
			fprintf(stderr, "vofirm-mmapio: fsync %s: %s\n", path, strerror(errno));
			return 1;
		}
		close(fd);
		return 0;
	}
	if (strcmp(cmd, "xattr-get") && strcmp(cmd, "xattr-set"))
		return -1;
	if (!name) {
		fprintf(stderr, "usage: vofirm-mmapio xattr-get|xattr-set FILE NAME\n");
		return 2;
	}
	v = malloc(cap);
	if (!v) {
		fprintf(stderr, "vofirm-mmapio: %s: out of memory\n", cmd);
		return 1;
	}
	if (!strcmp(cmd, "xattr-get")) {
		ssize_t n = getxattr(path, name, v, XATTR_PIECE);

		if (n < 0 && errno == E2BIG) {
			for (unsigned k = 0;; k++) {
				if (cap - len < XATTR_PIECE) {
					char *nv = realloc(v, cap *= 2);

					if (!nv) {
						fprintf(stderr,
							"vofirm-mmapio: %s: out of memory\n", cmd);
						free(v);
						return 1;
					}
					v = nv;
				}
				snprintf(piece, sizeof(piece), "%s.%u", name, k);
				n = getxattr(path, piece, v + len, XATTR_PIECE);
				if (n < 0) {
					fprintf(stderr, "vofirm-mmapio: cannot read %s of %s: %s\n",
						piece, path, strerror(errno));
					free(v);
					return 1;
				}
				len += (size_t)n;
				if ((size_t)n < XATTR_PIECE)
					break;
			}
		} else if (n < 0) {
			fprintf(stderr, "vofirm-mmapio: cannot read %s of %s: %s\n", name, path,
				strerror(errno));
			free(v);
			return 1;
		} else {
			len = (size_t)n;
		}
		fwrite(v, 1, len, stdout);
		putchar('\n');
		free(v);
		return fflush(stdout) ? 1 : 0;
	}
	for (size_t n; (n = fread(v + len, 1, cap - len, stdin)) > 0;) {
		len += n;
		if (len == cap) {
			char *nv = realloc(v, cap *= 2);

			if (!nv) {
				fprintf(stderr, "vofirm-mmapio: %s: out of memory\n", cmd);
				free(v);
				return 1;
			}
			v = nv;
		}
	}
	while (len && v[len - 1] == '\n')
		len--;
	if (len < XATTR_PIECE) {
		if (setxattr(path, name, v, len, 0)) {
			fprintf(stderr, "vofirm-mmapio: cannot set %s of %s: %s\n", name, path,
				strerror(errno));
			free(v);
			return 1;
		}
		free(v);
		return 0;
	}
	for (size_t k = 0; k <= len / XATTR_PIECE; k++) {
		size_t off = k * XATTR_PIECE, n = len - off < XATTR_PIECE ? len - off : XATTR_PIECE;

		snprintf(piece, sizeof(piece), "%s.%zu", name, k);
		if (setxattr(path, piece, v + off, n, 0)) {
			fprintf(stderr, "vofirm-mmapio: cannot set %s of %s: %s\n", piece, path,
				strerror(errno));
			free(v);
			return 1;
		}
	}
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	const char *cmd, *path;
	uint64_t size, *m;
	volatile uint64_t seed = 1, bad = 0;
	double t0;
	int ret = argc >= 3 ? xattr_cmd(argc, argv) : -1;

	if (ret >= 0)
		return ret;
	if (argc == 2 && !strcmp(argv[1], "clock")) {
		printf("%.6f\n", realtime());
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr,
			"usage: vofirm-mmapio fill|verify|zero|check FILE SIZE [SEED] | "
			"pread FILE OFFSET LEN | fsync FILE | xattr-get|xattr-set FILE NAME | clock\n");
		return 2;
	}
	cmd = argv[1];
	path = argv[2];
	size = strtoull(argv[3], NULL, 0);
	if (argc > 4)
		seed = strtoull(argv[4], NULL, 0);
	sigaction(SIGBUS, &sa, NULL);
	load_holes();
	t0 = secs();

	if (!strcmp(cmd, "pread")) {
		uint64_t len = argc > 4 ? strtoull(argv[4], NULL, 0) : 4096;
		char *buf = malloc(len);
		int fd = open(path, O_RDONLY);
		ssize_t n;

		if (fd < 0 || !buf) {
			fprintf(stderr, "vofirm-mmapio: %s: %s\n", path, strerror(errno));
			return 2;
		}
		posix_fadvise(fd, (off_t)size, (off_t)len, POSIX_FADV_DONTNEED);
		n = pread(fd, buf, len, (off_t)size);
		int e = errno;

		free(buf);
		close(fd);
		if (n < 0) {
			printf("pread failed after %.1f s: %s\n", secs() - t0, strerror(e));
			return e == EIO ? 5 : 1;
		}
		printf("ok: %zd bytes in %.1f s\n", n, secs() - t0);
		return 0;
	}

	if (!strcmp(cmd, "check")) {
		size_t chunk = 1u << 20;
		uint64_t *buf = malloc(chunk);
		int fd = open(path, O_RDONLY);

		if (fd < 0 || !buf || size % 8) {
			fprintf(stderr, "vofirm-mmapio: %s: %s\n", path,
				size % 8 ? "SIZE must be a multiple of 8" : strerror(errno));
			return 2;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		for (uint64_t o = 0; o < size; o += chunk) {
			size_t want = size - o < chunk ? (size_t)(size - o) : chunk;
			ssize_t n = pread(fd, buf, want, (off_t)o);

			if (n < 0 || (size_t)n != want) {
				printf("pread at offset %" PRIu64 " failed after %.1f s: %s\n", o,
				       secs() - t0, n < 0 ? strerror(errno) : "short read");
				return n < 0 && errno == EIO ? 5 : 1;
			}
			for (size_t k = 0; k < want / 8; k++) {
				if (buf[k] == word(seed, o + k * 8))
					continue;
				if (!bad)
					printf("first mismatch at offset %" PRIu64 "\n", o + k * 8);
				bad++;
			}
		}
		close(fd);
		free(buf);
		if (bad) {
			printf("%" PRIu64 " of %" PRIu64 " words differ\n", bad, size / 8);
			return 1;
		}
		printf("read and checked %" PRIu64 " bytes in %.1f s\n", size, secs() - t0);
		return 0;
	}
	if (size % 8 || size == 0) {
		fprintf(stderr, "vofirm-mmapio: SIZE must be a positive multiple of 8\n");
		return 2;
	}
	if (!strcmp(cmd, "anon")) {
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			fprintf(stderr, "vofirm-mmapio: cannot map %" PRIu64 " bytes: %s\n", size,
				strerror(errno));
			return 2;
		}
		for (uint64_t o = 0; o < size; o += 8)
			m[o / 8] = word(seed, o);
		for (uint64_t o = 0; o < size; o += 8)
			if (m[o / 8] != word(seed, o))
				bad++;
		if (bad) {
			printf("%" PRIu64 " of %" PRIu64 " words differ\n", bad, size / 8);
			report_bad(m, size, seed);
			return 1;
		}
		printf("anon: wrote and verified %" PRIu64 " MiB in %.1f s\n", size >> 20,
		       secs() - t0);
		fflush(stdout);
		if (argc > 6 && !strcmp(argv[5], "rand")) {
			uint64_t ops = strtoull(argv[6], NULL, 0), pages = size / 4096,
				 x = 88172645463325252ull;
			double t1 = secs();

			for (uint64_t i = 0; i < ops; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				uint64_t o = (x % pages) * 4096 + (x >> 40) % 512 * 8;

				if (m[o / 8] != word(seed, o))
					bad++;
				m[o / 8] = word(seed, o);
			}
			if (bad) {
				printf("rand: %" PRIu64 " of %" PRIu64 " reads differ\n", bad, ops);
				report_bad(m, size, seed);
				return 1;
			}
			printf("rand: %" PRIu64 " random pages checked in %.2f s (%.0f ops/s)\n",
			       ops, secs() - t1, (double)ops / (secs() - t1));
		}
		if (argc > 7 && !strcmp(argv[5], "pat") &&
		    run_pattern(m, size, seed, argv[6], strtoull(argv[7], NULL, 0), true, 0))
			return 1;
		if (argc > 8 && !strcmp(argv[5], "pats")) {
			char *list = strdup(argv[6]), *save = NULL, sp[512];
			static char names[64][32];
			unsigned i = 0;

			for (char *it = strtok_r(list, ",", &save); it;
			     it = strtok_r(NULL, ",", &save), i++) {
				char *colon = strchr(it, ':');
				uint64_t ops = colon ? strtoull(colon + 1, NULL, 0)
						     : strtoull(argv[7], NULL, 0);
				FILE *f;

				if (colon)
					*colon = '\0';
				if (i == 0) {
					snprintf(sp, sizeof(sp), "%s/filled", argv[8]);
					fclose(fopen(sp, "w"));
				}
				snprintf(sp, sizeof(sp), "%s/go.%u", argv[8], i);
				while (access(sp, F_OK))
					usleep(50000);
				snprintf(sp, sizeof(sp), "%s/done.%u.tmp", argv[8], i);
				f = freopen(sp, "w", stdout);
				if (!f)
					return 2;
				/* the how-manieth time this pattern runs */
				uint64_t rep = 0;

				for (unsigned j = 0; j < i; j++)
					rep += !strcmp(names[j], it);
				if (i < 64)
					snprintf(names[i], sizeof(names[i]), "%s", it);
				if (run_pattern(m, size, seed, it, ops, true, rep))
					printf("%s: BAD\n", it);
				fflush(stdout);
				char done[512];

				snprintf(done, sizeof(done), "%s/done.%u", argv[8], i);
				rename(sp, done);
			}
			free(list);
			return 0;
		}
		if (argc > 7 && !strcmp(argv[5], "timed")) {
			char sp[512];
			unsigned tick = (unsigned)strtoul(argv[6], NULL, 0);

			FILE *f;

			snprintf(sp, sizeof(sp), "%s/filled", argv[7]);
			f = fopen(sp, "w");
			if (!f) {
				fprintf(stderr, "vofirm-mmapio: cannot create %s: %s\n", sp,
					strerror(errno));
				return 2;
			}
			fclose(f);
			return run_timed(m, size, seed, tick ? tick : 250, argv[7]) ? 1 : 0;
		}
		if (argc > 5 && !strcmp(argv[5], "hold"))
			for (;;)
				pause();
		return 0;
	}
	if (map_file(path, size,
		     !strcmp(cmd, "fill") || !strcmp(cmd, "stamp") || !strcmp(cmd, "rewrite"), &m))
		return 2;
	{
		const char *adv = getenv("VOFIRM_MMAPIO_ADVICE");
		int a = !adv			 ? -1
			: !strcmp(adv, "huge")	 ? MADV_HUGEPAGE
			: !strcmp(adv, "random") ? MADV_RANDOM
			: !strcmp(adv, "seq")	 ? MADV_SEQUENTIAL
						 : -1;

		if (a >= 0 && madvise(m, size, a) < 0)
			printf("madvise %s: %s\n", adv, strerror(errno));
	}
	if (sigsetjmp(bus_jmp, 1)) {
		printf("SIGBUS at offset %" PRIu64 " after %.1f s\n", cur_off, secs() - t0);
		return 3;
	}
	if (!strcmp(cmd, "rewrite")) {
		double rate = argc > 5 ? strtod(argv[5], NULL) * 1048576 : 0, done = 0;

		for (;; seed++)
			for (uint64_t o = 0; o < size; o += 8) {
				cur_off = o;
				m[o / 8] = word(seed, o);
				if (rate > 0 && o % 65536 == 0) {
					/* paced: 64 KiB at a time */
					double ahead = (done += 65536) / rate - (secs() - t0);

					if (ahead > 0)
						usleep((useconds_t)(ahead * 1e6));
				}
			}
	} else if (!strcmp(cmd, "fill")) {
		for (uint64_t o = 0; o < size; o += 8) {
			cur_off = o;
			m[o / 8] = word(seed, o);
		}
		if (msync(m, size, MS_SYNC) < 0) {
			printf("msync failed: %s\n", strerror(errno));
			return 1;
		}
		printf("filled %" PRIu64 " bytes in %.1f s\n", size, secs() - t0);
	} else if (!strcmp(cmd, "scan")) {
		if (argc < 7) {
			fprintf(stderr, "usage: vofirm-mmapio scan FILE SIZE SEED PATTERN OPS\n");
			return 2;
		}
		bad = run_pattern(m, size, seed, argv[5], strtoull(argv[6], NULL, 0), false, 0);
	} else if (!strcmp(cmd, "stamp")) {
		uint64_t mod = argc > 5 ? strtoull(argv[5], NULL, 0) : 1;

		for (uint64_t pg = 0; pg < size / 4096; pg += mod)
			for (uint64_t k = 0; k < 512; k++) {
				cur_off = pg * 4096 + k * 8;
				m[cur_off / 8] = word(seed, cur_off);
			}
		if (msync(m, size, MS_SYNC) < 0) {
			printf("msync failed: %s\n", strerror(errno));
			return 1;
		}
		printf("stamped the pages p %% %" PRIu64 " == 0 in %.1f s\n", mod, secs() - t0);
	} else if (!strcmp(cmd, "verifymod")) {
		uint64_t seed2 = argc > 5 ? strtoull(argv[5], NULL, 0) : 2;
		uint64_t mod = argc > 6 ? strtoull(argv[6], NULL, 0) : 1;

		for (uint64_t o = 0; o < size; o += 8) {
			cur_off = o;
			if (m[o / 8] != expect(o / 4096 % mod == 0 ? seed2 : seed, o)) {
				if (!bad)
					printf("first mismatch at offset %" PRIu64 "\n", o);
				bad++;
			}
		}
		if (bad)
			printf("%" PRIu64 " of %" PRIu64 " words differ\n", bad, size / 8);
		else
			printf("verified %" PRIu64 " bytes (pages p %% %" PRIu64
			       " == 0: seed %" PRIu64 ") in %.1f s\n",
			       size, mod, seed2, secs() - t0);
	} else if (!strcmp(cmd, "verify") || !strcmp(cmd, "zero")) {
		bool zero = !strcmp(cmd, "zero");

		for (uint64_t o = 0; o < size; o += 8) {
			cur_off = o;
			if (m[o / 8] != (zero ? 0 : expect(seed, o))) {
				if (!bad)
					printf("first mismatch at offset %" PRIu64 "\n", o);
				bad++;
			}
		}
		if (bad)
			printf("%" PRIu64 " of %" PRIu64 " words differ\n", bad, size / 8);
		else
			printf("verified %" PRIu64 " bytes%s in %.1f s\n", size,
			       zero ? " of zeros" : "", secs() - t0);
	} else {
		fprintf(stderr, "vofirm-mmapio: unknown command %s\n", cmd);
		return 2;
	}
	munmap(m, size);
	return bad ? 1 : 0;
}
