// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-pagebench: the page-path measurements, the same code for every
 * backend (tmpfs, vofirm-fs over mem://, vofirm-fs over a memory server).
 * Each prints one JSON object.
 *
 *   drop FILE                        write back and evict FILE's pages
 *   readfault FILE SIZE rand|seq|touch N [STOPFILE]
 *                                    N read faults on a cold MAP_SHARED mapping
 *                                    (rand: MADV_RANDOM, one page per miss;
 *                                    seq: the kernel's readahead; touch: as
 *                                    rand, and the word read is stored back,
 *                                    as a guest's check-and-rewrite does: a
 *                                    read fault and a write-protect fault,
 *                                    the page left dirty), per-fault
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
 *                                    (polling 50 us for the reply, as
 *                                    vofirm-fs does by default;
 *                                    $VOFIRM_PB_BUSY_POLL_US sets another)
 *   tcpping N [LEN]                  the bare TCP anchor (issue 11): a forked
 *                                    server and this process on loopback TCP
 *                                    (TCP_NODELAY, blocking calls), N
 *                                    requests of a vofirm READ request's size
 *                                    (VF_HDR_SIZE + VF_IO_HDR_SIZE) each
 *                                    answered by VF_HDR_SIZE + LEN bytes (LEN
 *                                    4 KiB), one at a time; also the server's
 *                                    CPU time per request ("cpu_server_us")
 * The first 5 % of samples (at least 100) are warm-up and not counted.
 *
 * CPU time: every measurement reports this process's CPU time (all its
 * threads: user + system) per operation ("cpu_self_us"), and that of the
 * processes named in $VOFIRM_PB_CPU, "NAME=PID[,PID...] ..." (e.g.
 * "fs=123,124 memd=200": "cpu_fs_us", "cpu_memd_us"), over the timed part
 * of the measurement (warm-up included) divided by its operations, all of
 * them ("cpu_ops": faults or pages of 4 KiB, round trips).  Read from each
 * process's CPU-time clock (clock_getcpuclockid: every thread, ended ones
 * included, to the nanosecond), else from /proc/PID/task/TID/schedstat
 * (the threads alive at the time; clock ticks of .../stat without it).
 * The whole machine's too, from /proc/stat in clock ticks: its busy CPU
 * per operation, every process and interrupt included
 * ("cpu_machine_us"), and the share of the CPUs left idle ("idle_pct").
 * For writeback the timed part is the msync alone, as for its MB/s.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/proto.h"
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

/* ---- CPU time of processes (this one, and those of $VOFIRM_PB_CPU) ---- */

#define CPU_GROUPS 8
#define CPU_PIDS 16

struct cpu_group {
	char name[16];
	unsigned npids;
	pid_t pids[CPU_PIDS];
	uint64_t t0; /* ns at cpu_start() */
	bool gone;   /* a process missing at the start or the end: no figure */
};

struct cpu {
	unsigned n; /* groups: [0] is this process ("self") */
	struct cpu_group g[CPU_GROUPS];
	uint64_t busy0, idle0; /* the machine's, from /proc/stat, in ticks */
};

/* The machine's busy and idle (idle + iowait) clock ticks so far; false if
 * /proc/stat cannot be read. */
static bool machine_ticks(uint64_t *busy, uint64_t *idle)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return false;
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*idle = v[3] + v[4];
	return true;
}

/* One thread's CPU time in ns: schedstat's first field (on-CPU time), or
 * utime + stime of stat in clock ticks. */
static uint64_t thread_cpu_ns(pid_t pid, int tid)
{
	char path[80], line[1024], *p;
	unsigned long long v = 0, ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
		return v;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	/* after "comm)": state and 10 more fields, then utime and stime */
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * A process's CPU time in ns (*gone: no such process).  Its CPU-time clock
 * first: all its threads, those that ended included, and the running ones
 * to the nanosecond; else the sum of its threads' schedstat.
 */
static uint64_t proc_cpu_ns(pid_t pid, bool *gone)
{
	char dir[64];
	struct dirent *e;
	struct timespec ts;
	uint64_t sum = 0;
	clockid_t clk;
	DIR *d;

	if (clock_getcpuclockid(pid, &clk) == 0 && clock_gettime(clk, &ts) == 0)
		return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d) {
		*gone = true;
		return 0;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.')
			sum += thread_cpu_ns(pid, atoi(e->d_name));
	}
	closedir(d);
	return sum;
}

/* The group's CPU time in ns; *gone if one of its processes is not there. */
static uint64_t group_cpu_ns(const struct cpu_group *g, bool *gone)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < g->npids; i++)
		sum += proc_cpu_ns(g->pids[i], gone);
	return sum;
}

/* this process, $VOFIRM_PB_CPU's groups, and one more (NULL: none) */
static void cpu_setup(struct cpu *c, const char *name, pid_t pid)
{
	const char *env = getenv("VOFIRM_PB_CPU");

	memset(c, 0, sizeof(*c));
	snprintf(c->g[0].name, sizeof(c->g[0].name), "self");
	c->g[0].pids[0] = getpid();
	c->g[0].npids = 1;
	c->n = 1;
	if (name) {
		snprintf(c->g[1].name, sizeof(c->g[1].name), "%s", name);
		c->g[1].pids[0] = pid;
		c->g[1].npids = 1;
		c->n = 2;
	}
	while (env && *env && c->n < CPU_GROUPS) {
		struct cpu_group *g = &c->g[c->n];
		size_t len = strcspn(env, " ");
		const char *eq = memchr(env, '=', len);

		if (eq && eq > env && (size_t)(eq - env) < sizeof(g->name)) {
			const char *p = eq + 1;

			memcpy(g->name, env, (size_t)(eq - env));
			while (p < env + len && g->npids < CPU_PIDS) {
				char *end;
				long v = strtol(p, &end, 10);

				if (end == p)
					break;
				if (v > 0)
					g->pids[g->npids++] = (pid_t)v;
				p = *end == ',' ? end + 1 : end;
			}
			if (g->npids)
				c->n++;
		}
		env += len;
		while (*env == ' ')
			env++;
	}
}

static void cpu_start(struct cpu *c)
{
	for (unsigned i = 0; i < c->n; i++)
		c->g[i].t0 = group_cpu_ns(&c->g[i], &c->g[i].gone);
	if (!machine_ticks(&c->busy0, &c->idle0))
		c->busy0 = c->idle0 = UINT64_MAX;
}

/* Appends ", \"cpu_NAME_us\": x" per group (µs per op; null if a process
 * of the group was missing) and "cpu_ops". */
static void cpu_end(struct cpu *c, uint64_t ops, char *out, size_t cap)
{
	size_t used = strlen(out);

	for (unsigned i = 0; i < c->n && used < cap; i++) {
		uint64_t t1 = group_cpu_ns(&c->g[i], &c->g[i].gone);

		if (c->g[i].gone || !ops || t1 < c->g[i].t0)
			used += (size_t)snprintf(out + used, cap - used, ", \"cpu_%s_us\": null",
						 c->g[i].name);
		else
			used += (size_t)snprintf(out + used, cap - used, ", \"cpu_%s_us\": %.3f",
						 c->g[i].name,
						 (double)(t1 - c->g[i].t0) / 1e3 / (double)ops);
	}
	if (used < cap) {
		uint64_t busy, idle;

		/* the whole machine's CPU per op, and its idle share, in clock
		 * ticks (coarse: time a pass of at least a few hundred ms) */
		if (c->busy0 != UINT64_MAX && ops && machine_ticks(&busy, &idle) &&
		    busy + idle > c->busy0 + c->idle0)
			used += (size_t)snprintf(
				out + used, cap - used,
				", \"cpu_machine_us\": %.3f, \"idle_pct\": %.1f",
				(double)(busy - c->busy0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
					(double)ops,
				100.0 * (double)(idle - c->idle0) /
					(double)(busy - c->busy0 + idle - c->idle0));
	}
	if (used < cap)
		snprintf(out + used, cap - used, ", \"cpu_ops\": %" PRIu64, ops);
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
	bool touch = !strcmp(mode, "touch"), rw = write || touch;
	uint64_t pages = size / 4096, *lat = malloc(sizeof(*lat) * n), t0, t1;
	uint64_t *order = page_order(pages, n, rw || !strcmp(mode, "rand"));
	int fd = open(path, rw ? O_RDWR : O_RDONLY);
	volatile uint8_t *m;
	uint64_t sink = 0;
	char what[64], extra[512] = "";
	struct cpu cpu;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	m = mmap(NULL, size, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (rw || !strcmp(mode, "rand"))
		madvise((void *)m, size, MADV_RANDOM);
	cpu_setup(&cpu, NULL, 0);
	cpu_start(&cpu);
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a;

		if (stop && i >= 256 && i % 64 == 0 && access(stop, F_OK) == 0) {
			n = i;
			break;
		}
		a = ns();
		if (write) {
			*(volatile uint64_t *)(m + order[i] * 4096) = i;
		} else if (touch) {
			volatile uint64_t *w = (volatile uint64_t *)(m + order[i] * 4096);

			*w = *w; /* read fault, then write-protect fault */
		} else {
			sink += m[order[i] * 4096];
		}
		lat[i] = ns() - a;
	}
	if (write && msync((void *)m, size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	t1 = ns();
	cpu_end(&cpu, n, extra, sizeof(extra));
	snprintf(what, sizeof(what), "%s-%s", write ? "writefault" : "readfault",
		 write ? "rand" : mode);
	report_x(what, lat, n, n * 4096, t1 - t0, extra);
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
	char extra[512];
	struct cpu cpu;

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
	cpu_setup(&cpu, NULL, 0);
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = ns();

		*(volatile uint64_t *)(m + order[i] * 4096 + 8) = i + 1;
		lat[i] = ns() - a;
	}
	t1 = ns();
	cpu_start(&cpu); /* the msync: the part timed for MB/s */
	if (msync((void *)m, size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	t2 = ns();
	snprintf(extra, sizeof(extra), ", \"dirty_s\": %.3f, \"dirty_mib\": %.1f",
		 (double)(t1 - t0) / 1e9, (double)n * 4096 / 1048576.0);
	cpu_end(&cpu, n, extra, sizeof(extra));
	report_x("writeback-rand", lat, n, n * 4096, t2 - t1, extra);
	munmap((void *)m, size);
	close(fd);
	free(lat);
	free(order);
	return sink == 42 ? 2 : 0; /* keeps the reads */
}

/* "rtt-4k", "rtt-1m": a name with the size */
static void size_name(char *out, size_t cap, const char *what, uint32_t len)
{
	if (len % 1048576 == 0)
		snprintf(out, cap, "%s-%um", what, len >> 20);
	else if (len % 1024 == 0)
		snprintf(out, cap, "%s-%uk", what, len >> 10);
	else
		snprintf(out, cap, "%s-%ub", what, len);
}

static int rtt(const char *url, uint64_t n, uint32_t len)
{
	/* polls as vofirm-fs does by default (--busy-poll-us) */
	struct vf_xport_opts o = { .name = "pagebench", .queue_depth = 4, .busy_poll_us = 50 };
	const char *bp = getenv("VOFIRM_PB_BUSY_POLL_US"); /* another setting, to compare */
	struct vf_slab_desc d;
	struct vf_xport *x;
	uint8_t *buf = calloc(1, VF_MAX_IO);
	uint64_t *lat = malloc(sizeof(*lat) * n), t0, t1, span;
	char what[32], extra[512] = "";
	struct cpu cpu;
	int ret;

	if (bp)
		o.busy_poll_us = (unsigned)strtoul(bp, NULL, 10);
	if (!buf || vf_xport_open(url, &o, &x) || vf_xport_alloc(x, 1, &d))
		return 1;
	/* every byte the READs will read written first, as a file's pages are
	 * before they are read: no first touch of the server's memory timed */
	span = n * len < x->info.slab_size - len ? n * len : x->info.slab_size - len;
	span += len;
	for (uint64_t off = 0; off < span; off += VF_MAX_IO) {
		struct vf_op w = { .type = VF_OP_WRITE,
				   .slab = d.id,
				   .off = off,
				   .len = (uint32_t)(span - off < VF_MAX_IO ? span - off
									    : VF_MAX_IO),
				   .buf = buf };

		if (vf_xport_run(x, &w))
			return 1;
	}
	cpu_setup(&cpu, NULL, 0);
	cpu_start(&cpu);
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
	t1 = ns();
	cpu_end(&cpu, n, extra, sizeof(extra));
	size_name(what, sizeof(what), "rtt", len);
	report_x(what, lat, n, n * len, t1 - t0, extra);
	vf_xport_close(x, 0);
	free(lat);
	free(buf);
	return 0;
}

/* ---- the bare TCP anchor ---- */

static int io_all(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, MSG_WAITALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? 1 : -1; /* 1: the peer closed */
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The server: one connection, a reply of rep bytes for every req bytes. */
static void ping_server(int lfd, size_t req, size_t rep)
{
	uint8_t *in = calloc(1, req), *out = calloc(1, rep);
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0 || !in || !out)
		_exit(1);
	close(lfd);
	nodelay(fd);
	memset(out + VF_HDR_SIZE, 0x5a, rep - VF_HDR_SIZE);
	for (;;) {
		int r = io_all(fd, in, req, false);

		if (r)
			_exit(r == 1 ? 0 : 1);
		memcpy(out, in, VF_HDR_SIZE); /* the header back, as a reply's */
		if (io_all(fd, out, rep, true))
			_exit(1);
	}
}

/*
 * A plain blocking request/response over loopback TCP between this
 * process and a forked server, TCP_NODELAY on both ends: a request of a
 * vofirm READ's size (header and READ body, VF_HDR_SIZE + VF_IO_HDR_SIZE)
 * answered by a header and len bytes, as memd answers a READ.  What the
 * transport round trip (rtt) is compared with.
 */
static int tcpping(uint64_t n, uint32_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	size_t req = VF_HDR_SIZE + VF_IO_HDR_SIZE, rep = VF_HDR_SIZE + (size_t)len;
	uint8_t *in = calloc(1, rep), *out = calloc(1, req);
	uint64_t *lat = malloc(sizeof(*lat) * n), t0, t1;
	char what[32], extra[512];
	int lfd, fd, status;
	struct cpu cpu;
	pid_t pid;

	if (!in || !out || !lat)
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("vofirm-pagebench: tcpping: listen");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("vofirm-pagebench: fork");
		return 1;
	}
	if (pid == 0)
		ping_server(lfd, req, rep);
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("vofirm-pagebench: tcpping: connect");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	nodelay(fd);
	((struct vf_hdr *)out)->magic = VF_PROTO_MAGIC;
	((struct vf_hdr *)out)->len = VF_IO_HDR_SIZE;
	cpu_setup(&cpu, "server", pid);
	cpu_start(&cpu);
	t0 = ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ns();

		((struct vf_hdr *)out)->tag = i;
		if (io_all(fd, out, req, true) || io_all(fd, in, rep, false)) {
			perror("vofirm-pagebench: tcpping");
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		lat[i] = ns() - s;
	}
	t1 = ns();
	snprintf(extra, sizeof(extra), ", \"req_bytes\": %zu, \"reply_bytes\": %zu", req, rep);
	cpu_end(&cpu, n, extra, sizeof(extra));
	close(fd); /* the server ends */
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "vofirm-pagebench: tcpping: the server failed\n");
		return 1;
	}
	size_name(what, sizeof(what), "tcpping", len);
	report_x(what, lat, n, n * len, t1 - t0, extra);
	free(lat);
	free(in);
	free(out);
	return 0;
}

int main(int argc, char **argv)
{
	vf_log_init("vofirm-pagebench", LOG_WARNING);
	if (argc == 3 && !strcmp(argv[1], "drop"))
		return drop(argv[2]);
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "readfault") && strcmp(argv[4], "rand") &&
	    strcmp(argv[4], "seq") && strcmp(argv[4], "touch")) {
		fprintf(stderr, "vofirm-pagebench: readfault: rand, seq or touch, not %s\n",
			argv[4]);
		return 2;
	}
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
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "tcpping")) {
		uint64_t len = argc == 4 ? strtoull(argv[3], NULL, 0) : 4096;

		if (len < 1 || len > VF_MAX_IO) {
			fprintf(stderr, "vofirm-pagebench: tcpping: LEN from 1 to %u\n", VF_MAX_IO);
			return 2;
		}
		return tcpping(strtoull(argv[2], NULL, 0), (uint32_t)len);
	}
	fprintf(stderr,
		"usage: vofirm-pagebench drop FILE | readfault FILE SIZE rand|seq|touch N [STOPFILE] | "
		"writefault FILE SIZE N | writeback FILE SIZE N | rtt URL N [LEN] | "
		"tcpping N [LEN]\n");
	return 2;
}
