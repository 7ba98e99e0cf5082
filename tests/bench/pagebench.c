// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-pagebench: the page-path measurements, the same code for every
 * backend (tmpfs, vofirm-fs over mem://, vofirm-fs over a memory server).
 * Each prints one JSON object.
 *
 *   drop FILE                        write back and evict FILE's pages
 *   readfault FILE SIZE rand|seq N [STOPFILE]
 *                                    N read faults on a cold MAP_SHARED mapping
 *                                    (rand: MADV_RANDOM, one page per miss;
 *                                    seq: the kernel's readahead), per-fault
 *                                    latency and throughput; with STOPFILE,
 *                                    fewer once that file exists (reads
 *                                    while something else happens)
 *   writefault FILE SIZE N           N random write faults on a cold mapping,
 *                                    then msync: per-fault latency, and the
 *                                    throughput with the write-back included
 *   writeback FILE SIZE N            N distinct random pages, resident and
 *                                    clean, dirtied through a shared mapping
 *                                    (latency: one store, a write-protect
 *                                    fault), then msync(MS_SYNC): throughput
 *                                    of the write-back alone (no read before
 *                                    write)
 *   rtt URL N [LEN]                  N READs of LEN bytes (4 KiB; at most
 *                                    VF_MAX_IO) over the transport, one at a
 *                                    time: the round trip without FUSE
 * The first 5 % of samples (at least 100) are warm-up and not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/transport.h"

static uint64_t ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts samples (after the warm-up) and prints the summary, with `extra`
 * (more JSON members, or "") at the end. */
static void report_x(const char *what, uint64_t *lat, uint64_t n, uint64_t bytes, uint64_t total_ns,
		     const char *extra)
{
	uint64_t warm = n / 20 > 100 ? n / 20 : (n > 200 ? 100 : 0), m = n - warm, sum = 0;
	uint64_t *s = lat + warm;

	qsort(s, m, sizeof(*s), cmp_u64);
	for (uint64_t i = 0; i < m; i++)
		sum += s[i];
	printf("{\"bench\": \"%s\", \"samples\": %" PRIu64 ", \"p50_us\": %.2f, \"p99_us\": %.2f, "
	       "\"mean_us\": %.2f, \"mb_s\": %.1f%s}\n",
	       what, m, (double)s[m / 2] / 1e3, (double)s[m * 99 / 100] / 1e3,
	       (double)sum / (double)m / 1e3,
	       total_ns ? (double)bytes / 1048576.0 / ((double)total_ns / 1e9) : 0.0, extra);
}

static void report(const char *what, uint64_t *lat, uint64_t n, uint64_t bytes, uint64_t total_ns)
{
	report_x(what, lat, n, bytes, total_ns, "");
}

static uint64_t *page_order(uint64_t pages, uint64_t n, bool rand)
{
	uint64_t *o = malloc(sizeof(*o) * n);

	srand48(12345);
	for (uint64_t i = 0; i < n; i++)
		o[i] = rand ? (uint64_t)(drand48() * (double)pages) : i % pages;
	return o;
}

static int drop(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		perror(path);
		return 1;
	}
	close(fd);
	return 0;
}

static int fault(const char *path, uint64_t size, const char *mode, uint64_t n, bool write,
		 const char *stop)
{
	uint64_t pages = size / 4096, *lat = malloc(sizeof(*lat) * n), t0, t1;
	uint64_t *order = page_order(pages, n, write || !strcmp(mode, "rand"));
	int fd = open(path, write ? O_RDWR : O_RDONLY);
	volatile uint8_t *m;
	uint64_t sink = 0;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	m = mmap(NULL, size, write ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (write || !strcmp(mode, "rand"))
		madvise((void *)m, size, MADV_RANDOM);
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a;

		if (stop && i >= 256 && i % 64 == 0 && access(stop, F_OK) == 0) {
			n = i;
			break;
		}
		a = ns();
		if (write)
			*(volatile uint64_t *)(m + order[i] * 4096) = i;
		else
			sink += m[order[i] * 4096];
		lat[i] = ns() - a;
	}
	if (write && msync((void *)m, size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	t1 = ns();
	char what[64];

	snprintf(what, sizeof(what), "%s-%s", write ? "writefault" : "readfault",
		 write ? "rand" : mode);
	report(what, lat, n, n * 4096, t1 - t0);
	munmap((void *)m, size);
	close(fd);
	free(lat);
	free(order);
	return sink == 42 ? 2 : 0; /* keeps the reads */
}

/*
 * The write-back alone: N distinct random pages are made resident and
 * clean first (read, then msync), then each is dirtied with one store
 * (timed: a write-protect fault, no read from the server) and
 * msync(MS_SYNC) writes them back.  The throughput is the dirty bytes
 * over the msync alone ("dirty_s": the stores before it).
 */
static int writeback(const char *path, uint64_t size, uint64_t n)
{
	uint64_t pages = size / 4096, *lat, *order, t0, t1, t2, sink = 0;
	int fd = open(path, O_RDWR);
	volatile uint8_t *m;
	char extra[64];

	if (fd < 0) {
		perror(path);
		return 1;
	}
	if (n > pages)
		n = pages;
	lat = malloc(sizeof(*lat) * n);
	order = malloc(sizeof(*order) * pages);
	srand48(54321);
	for (uint64_t i = 0; i < pages; i++)
		order[i] = i;
	for (uint64_t i = 0; i < n; i++) { /* the first n of a random permutation */
		uint64_t j = i + (uint64_t)(drand48() * (double)(pages - i)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise((void *)m, size, MADV_RANDOM);
	for (uint64_t i = 0; i < n; i++)
		sink += m[order[i] * 4096];
	if (msync((void *)m, size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = ns();

		*(volatile uint64_t *)(m + order[i] * 4096 + 8) = i + 1;
		lat[i] = ns() - a;
	}
	t1 = ns();
	if (msync((void *)m, size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	t2 = ns();
	snprintf(extra, sizeof(extra), ", \"dirty_s\": %.3f, \"dirty_mib\": %.1f",
		 (double)(t1 - t0) / 1e9, (double)n * 4096 / 1048576.0);
	report_x("writeback-rand", lat, n, n * 4096, t2 - t1, extra);
	munmap((void *)m, size);
	close(fd);
	free(lat);
	free(order);
	return sink == 42 ? 2 : 0; /* keeps the reads */
}

static int rtt(const char *url, uint64_t n, uint32_t len)
{
	struct vf_xport_opts o = { .name = "pagebench", .queue_depth = 4 };
	struct vf_slab_desc d;
	struct vf_xport *x;
	uint8_t *buf = calloc(1, len);
	uint64_t *lat = malloc(sizeof(*lat) * n), t0;
	char what[32];
	int ret;

	if (!buf || vf_xport_open(url, &o, &x) || vf_xport_alloc(x, 1, &d))
		return 1;
	struct vf_op w = { .type = VF_OP_WRITE, .slab = d.id, .len = len, .buf = buf };

	vf_xport_run(x, &w);
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		struct vf_op op = { .type = VF_OP_READ,
				    .slab = d.id,
				    .len = len,
				    .off = (i * len) % (x->info.slab_size - len),
				    .buf = buf };
		uint64_t a = ns();

		ret = vf_xport_run(x, &op);
		lat[i] = ns() - a;
		if (ret)
			return 1;
	}
	if (len % 1048576 == 0)
		snprintf(what, sizeof(what), "rtt-%um", len >> 20);
	else
		snprintf(what, sizeof(what), "rtt-%uk", len >> 10);
	report(what, lat, n, n * len, ns() - t0);
	vf_xport_close(x, 0);
	free(lat);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	vf_log_init("vofirm-pagebench", LOG_WARNING);
	if (argc == 3 && !strcmp(argv[1], "drop"))
		return drop(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "readfault"))
		return fault(argv[2], strtoull(argv[3], NULL, 0), argv[4],
			     strtoull(argv[5], NULL, 0), false, NULL);
	if (argc == 7 && !strcmp(argv[1], "readfault"))
		return fault(argv[2], strtoull(argv[3], NULL, 0), argv[4],
			     strtoull(argv[5], NULL, 0), false, argv[6]);
	if (argc == 5 && !strcmp(argv[1], "writefault"))
		return fault(argv[2], strtoull(argv[3], NULL, 0), "rand",
			     strtoull(argv[4], NULL, 0), true, NULL);
	if (argc == 5 && !strcmp(argv[1], "writeback"))
		return writeback(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "rtt")) {
		uint64_t len = argc == 5 ? strtoull(argv[4], NULL, 0) : 4096;

		if (len < 1 || len > VF_MAX_IO) {
			fprintf(stderr, "vofirm-pagebench: rtt: LEN from 1 to %u\n", VF_MAX_IO);
			return 2;
		}
		return rtt(argv[2], strtoull(argv[3], NULL, 0), (uint32_t)len);
	}
	fprintf(stderr,
		"usage: vofirm-pagebench drop FILE | readfault FILE SIZE rand|seq N [STOPFILE] | "
		"writefault FILE SIZE N | writeback FILE SIZE N | rtt URL N [LEN]\n");
	return 2;
}
