// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-mmapio: what QEMU does to a memory file, checked.
 *
 *   fill FILE SIZE [SEED]     map FILE MAP_SHARED (growing it to SIZE if it is
 *                             smaller), write a pattern over every page, msync
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
 *
 * A SIGBUS while touching the mapping (the file system answered EIO) is
 * reported with its offset; exit status 3.  Mismatches: exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	const char *cmd, *path;
	uint64_t size, *m;
	volatile uint64_t seed = 1, bad = 0;
	double t0;

	if (argc < 4) {
		fprintf(stderr, "usage: vofirm-mmapio fill|verify|zero|check FILE SIZE [SEED] | "
				"pread FILE OFFSET LEN\n");
		return 2;
	}
	cmd = argv[1];
	path = argv[2];
	size = strtoull(argv[3], NULL, 0);
	if (argc > 4)
		seed = strtoull(argv[4], NULL, 0);
	sigaction(SIGBUS, &sa, NULL);
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
				return 1;
			}
			printf("rand: %" PRIu64 " random pages checked in %.2f s (%.0f ops/s)\n",
			       ops, secs() - t1, (double)ops / (secs() - t1));
		}
		if (argc > 5 && !strcmp(argv[5], "hold"))
			for (;;)
				pause();
		return 0;
	}
	if (map_file(path, size, !strcmp(cmd, "fill"), &m))
		return 2;
	if (sigsetjmp(bus_jmp, 1)) {
		printf("SIGBUS at offset %" PRIu64 " after %.1f s\n", cur_off, secs() - t0);
		return 3;
	}
	if (!strcmp(cmd, "fill")) {
		for (uint64_t o = 0; o < size; o += 8) {
			cur_off = o;
			m[o / 8] = word(seed, o);
		}
		if (msync(m, size, MS_SYNC) < 0) {
			printf("msync failed: %s\n", strerror(errno));
			return 1;
		}
		printf("filled %" PRIu64 " bytes in %.1f s\n", size, secs() - t0);
	} else if (!strcmp(cmd, "verify") || !strcmp(cmd, "zero")) {
		bool zero = !strcmp(cmd, "zero");

		for (uint64_t o = 0; o < size; o += 8) {
			cur_off = o;
			if (m[o / 8] != (zero ? 0 : word(seed, o))) {
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
