// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-xtest: a client of vofirm-memd built only on the transport
 * interface (include/vofirm/transport.h), so that the same checks run
 * over every transport.  Used by the test suite and the demo.
 *
 * Exit status: 0 success, 1 failure (e.g. data mismatch), 2 usage,
 * 3 allocation refused (ENOSPC), 4 session gone (ESTALE),
 * 5 access refused (EPERM, EACCES), 6 cannot connect.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/transport.h"
#include "vofirm/util.h"

enum {
	XT_OK = 0,
	XT_FAIL = 1,
	XT_USAGE = 2,
	XT_NOSPC = 3,
	XT_STALE = 4,
	XT_DENIED = 5,
	XT_CONNECT = 6
};

static struct {
	const char *server;
	const char *key_file;
	const char *name;
	const char *session_file;
	unsigned depth;
	uint32_t slabs;
	uint32_t io_size;
	uint64_t seed;
	uint32_t slab;
	uint64_t raw_addr;
	uint64_t raw_rkey;
	bool raw;
	uint64_t pause_ms;
	uint64_t seconds;
	unsigned threads;
	unsigned busy_poll_us;
	uint64_t abort_ms;
	uint64_t op_timeout_ms;
	int byte;
	bool keep;
	bool json;
	bool write;
} opt = { .depth = 64, .io_size = 64 << 10, .seed = 1, .byte = 0xa5 };

static int exit_for(int err)
{
	switch (err) {
	case 0:
		return XT_OK;
	case -ENOSPC:
		return XT_NOSPC;
	case -ESTALE:
		return XT_STALE;
	case -EPERM:
	case -EACCES:
		return XT_DENIED;
	default:
		return XT_FAIL;
	}
}

/* ---- deterministic contents: a word depends on seed, slab and offset ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void pattern(uint64_t *w, uint32_t len, uint32_t slab, uint64_t off)
{
	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = mix(opt.seed ^ ((uint64_t)slab << 40) ^ (off + i * 8ull));
}

/* ---- many operations in flight ---- */

struct job {
	struct vf_op op;
	struct job *next;
	uint64_t *buf;
};

struct engine {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct job *done; /* completed, not yet looked at */
	unsigned inflight, max_inflight;
};

static void job_done(struct vf_op *op)
{
	struct job *j = vf_container_of(op, struct job, op);
	struct engine *e = op->priv;

	pthread_mutex_lock(&e->lock);
	j->next = e->done;
	e->done = j;
	e->inflight--;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->lock);
}

/*
 * Writes (or reads and verifies) every slab in ids[] in io_size pieces,
 * interleaving slabs, with up to opt.depth operations in flight.
 * Returns 0, the first -errno, or 1 when data did not match.
 */
static int run_io(struct vf_xport *x, const uint32_t *ids, uint32_t n, uint64_t slab_size,
		  enum vf_op_type type, bool expect_zero, uint64_t *mismatches)
{
	uint64_t per_slab = slab_size / opt.io_size, total = per_slab * n, next = 0, ended = 0;
	struct engine e = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0 };
	struct job *jobs = calloc(opt.depth, sizeof(*jobs)), *free_jobs = NULL, *j;
	uint64_t *want = malloc(opt.io_size);
	int err = 0;

	*mismatches = 0;
	for (unsigned i = 0; i < opt.depth; i++) {
		jobs[i].buf = malloc(opt.io_size);
		jobs[i].next = free_jobs;
		free_jobs = &jobs[i];
	}
	while (ended < total) {
		/* submit while there is room */
		while (free_jobs && next < total && !err) {
			j = free_jobs;
			free_jobs = j->next;
			memset(&j->op, 0, sizeof(j->op));
			j->op.type = type;
			j->op.slab = ids[next % n];
			j->op.off = (next / n) * opt.io_size;
			j->op.len = opt.io_size;
			j->op.buf = j->buf;
			j->op.done = job_done;
			j->op.priv = &e;
			if (type == VF_OP_WRITE)
				pattern(j->buf, opt.io_size, j->op.slab, j->op.off);
			pthread_mutex_lock(&e.lock);
			e.inflight++;
			if (e.inflight > e.max_inflight)
				e.max_inflight = e.inflight;
			pthread_mutex_unlock(&e.lock);
			int r = vf_xport_submit(x, &j->op);

			if (r) {
				pthread_mutex_lock(&e.lock);
				e.inflight--;
				pthread_mutex_unlock(&e.lock);
				j->next = free_jobs;
				free_jobs = j;
				err = r;
				total = next; /* nothing more will be submitted */
				break;
			}
			next++;
		}
		if (ended >= next)
			break;
		/* reap what completed */
		pthread_mutex_lock(&e.lock);
		while (!e.done)
			pthread_cond_wait(&e.cv, &e.lock);
		struct job *list = e.done;

		e.done = NULL;
		pthread_mutex_unlock(&e.lock);
		while (list) {
			j = list;
			list = j->next;
			ended++;
			if (j->op.status && !err) {
				err = j->op.status;
				fprintf(stderr,
					"vofirm-xtest: %s of slab %u at %" PRIu64
					" failed: %s%s%s\n",
					type == VF_OP_READ ? "read" : "write", j->op.slab,
					j->op.off, strerror(-err), j->op.errmsg[0] ? ": " : "",
					j->op.errmsg);
				total = next;
			} else if (!j->op.status && type == VF_OP_READ) {
				if (expect_zero) {
					if (!vf_all_zero(j->buf, opt.io_size))
						(*mismatches)++;
				} else {
					pattern(want, opt.io_size, j->op.slab, j->op.off);
					if (memcmp(want, j->buf, opt.io_size)) {
						if (!*mismatches)
							fprintf(stderr,
								"vofirm-xtest: slab %u offset %" PRIu64
								": data differs from what was written\n",
								j->op.slab, j->op.off);
						(*mismatches)++;
					}
				}
			}
			j->next = free_jobs;
			free_jobs = j;
		}
	}
	printf("%s %" PRIu64 " requests of %u bytes over %u slabs, max_inflight=%u\n",
	       type == VF_OP_READ ? "read" : "wrote", ended, opt.io_size, n, e.max_inflight);
	for (unsigned i = 0; i < opt.depth; i++)
		free(jobs[i].buf);
	free(jobs);
	free(want);
	if (err)
		return err;
	return *mismatches ? 1 : 0;
}

static struct vf_slab_desc *granted; /* the last allocation's descriptors */

/* ---- session files: what a later process needs to resume ---- */

static int save_session(const struct vf_xport *x, const uint32_t *ids, uint32_t n)
{
	FILE *f = fopen(opt.session_file, "w");

	if (!f) {
		fprintf(stderr, "vofirm-xtest: session file %s: %s\n", opt.session_file,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "token=");
	for (unsigned i = 0; i < VF_TOKEN_LEN; i++)
		fprintf(f, "%02x", x->token[i]);
	fprintf(f, "\nseed=%" PRIu64 "\nio_size=%u\nslabs=", opt.seed, opt.io_size);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? "," : "", ids[i]);
	/* where they are, for isolation tests: id:rkey:addr (0 on TCP) */
	fprintf(f, "\nkeys=");
	for (uint32_t i = 0; granted && i < n; i++)
		fprintf(f, "%s%u:%u:0x%" PRIx64, i ? "," : "", granted[i].id, granted[i].rkey,
			granted[i].addr);
	fprintf(f, "\n");
	return fclose(f) ? -errno : 0;
}

static int load_session(uint8_t *token, uint32_t **ids, uint32_t *n)
{
	char line[65536];
	FILE *f = fopen(opt.session_file, "r");

	*n = 0;
	*ids = NULL;
	if (!f) {
		fprintf(stderr, "vofirm-xtest: session file %s: %s\n", opt.session_file,
			strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "token=", 6)) {
			for (unsigned i = 0; i < VF_TOKEN_LEN; i++)
				sscanf(line + 6 + 2 * i, "%2hhx", &token[i]);
		} else if (!strncmp(line, "seed=", 5)) {
			opt.seed = strtoull(line + 5, NULL, 10);
		} else if (!strncmp(line, "io_size=", 8)) {
			opt.io_size = (uint32_t)strtoul(line + 8, NULL, 10);
		} else if (!strncmp(line, "slabs=", 6)) {
			for (char *p = strtok(line + 6, ","); p; p = strtok(NULL, ",")) {
				*ids = realloc(*ids, sizeof(**ids) * (*n + 1));
				(*ids)[(*n)++] = (uint32_t)strtoul(p, NULL, 10);
			}
		}
	}
	fclose(f);
	return *n ? 0 : -EINVAL;
}

/* ---- commands ---- */

static int connect_server(struct vf_xport **x, const uint8_t *token)
{
	static struct vf_key key;
	struct vf_xport_opts o = { .name = opt.name,
				   .queue_depth = opt.depth,
				   .busy_poll_us = opt.busy_poll_us,
				   .resume_token = token };

	if (opt.key_file) {
		if (vf_key_load(opt.key_file, 0, &key))
			return -EINVAL;
		o.key = &key;
	}
	return vf_xport_open(opt.server, &o, x);
}

static void print_stats(const struct vf_stats *s)
{
	const char *names[] = { "capacity",	 "slab_size", "slabs_total", "slabs_granted",
				"slabs_free",	 "clients",   "sessions",    "bytes_read",
				"bytes_written", "reads",     "writes",	     "session_slabs" };
	const uint64_t *v = &s->capacity;

	if (opt.json) {
		printf("{");
		for (unsigned i = 0; i < VF_ARRAY_SIZE(names); i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", names[i], v[i]);
		printf("}\n");
		return;
	}
	for (unsigned i = 0; i < VF_ARRAY_SIZE(names); i++)
		printf("%s=%" PRIu64 "\n", names[i], v[i]);
}

static int alloc_slabs(struct vf_xport *x, uint32_t n, uint32_t **ids)
{
	struct vf_slab_desc *d = calloc(n, sizeof(*d));
	int ret = vf_xport_alloc(x, n, d);

	*ids = calloc(n, sizeof(**ids));
	for (uint32_t i = 0; !ret && i < n; i++)
		(*ids)[i] = d[i].id;
	free(granted);
	granted = d;
	return ret;
}

static int finish(struct vf_xport *x, const uint32_t *ids, uint32_t n, int ret)
{
	if (!ret && opt.session_file)
		ret = save_session(x, ids, n);
	vf_xport_close(x, opt.keep || opt.session_file ? VF_CLOSE_KEEP_SESSION : 0);
	return ret;
}

static int cmd_stats(struct vf_xport *x)
{
	struct vf_stats s;
	int ret = vf_xport_stats(x, &s);

	if (!ret)
		print_stats(&s);
	vf_xport_close(x, 0);
	return ret;
}

/* alloc: grant --slabs and print their ids. */
static int cmd_alloc(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret) {
		printf("granted");
		for (uint32_t i = 0; i < opt.slabs; i++)
			printf(" %u", ids[i]);
		printf("\n");
	}
	ret = finish(x, ids, ret ? 0 : opt.slabs, ret);
	free(ids);
	return ret;
}

/* rw: grant --slabs, write the pattern over all of them, read back, verify. */
static int cmd_rw(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint64_t bad = 0;
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_WRITE, false, &bad);
	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_READ, false, &bad);
	if (!ret)
		printf("verified %u slabs of %" PRIu64 " bytes\n", opt.slabs, x->info.slab_size);
	else if (bad)
		fprintf(stderr, "vofirm-xtest: %" PRIu64 " pieces differ\n", bad);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	return ret;
}

/*
 * burstwait: the slabs written with --depth operations in flight (the
 * transport's receiver thread takes their replies), then read back one
 * operation at a time (vf_xport_run()), verified.  With --verbose the
 * transport logs at the end who received the replies: the reads' waiting
 * thread should have received its own, not followed the receiver thread.
 */
static int cmd_burstwait(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint64_t bad = 0, reads = 0;
	uint64_t *buf = malloc(opt.io_size), *want = malloc(opt.io_size);
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_WRITE, false, &bad);
	for (uint32_t i = 0; !ret && i < opt.slabs; i++) {
		for (uint64_t off = 0; !ret && off < x->info.slab_size; off += opt.io_size) {
			struct vf_op op = { .type = VF_OP_READ,
					    .slab = ids[i],
					    .off = off,
					    .len = opt.io_size,
					    .buf = buf };

			ret = vf_xport_run(x, &op);
			if (ret)
				break;
			reads++;
			pattern(want, opt.io_size, ids[i], off);
			if (memcmp(buf, want, opt.io_size))
				bad++;
		}
	}
	if (!ret && bad)
		ret = 1;
	if (!ret)
		printf("burstwait: verified %u slabs: written with up to %u in flight, then %" PRIu64
		       " reads one at a time\n",
		       opt.slabs, opt.depth, reads);
	else if (bad)
		fprintf(stderr, "vofirm-xtest: %" PRIu64 " pieces differ\n", bad);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	free(buf);
	free(want);
	return ret;
}

static void late_done(struct vf_op *op)
{
	__atomic_store_n((bool *)op->priv, true, __ATOMIC_RELEASE);
}

static bool late_is_done(void *arg)
{
	return __atomic_load_n((bool *)arg, __ATOMIC_ACQUIRE);
}

/*
 * latewait: the slabs written, then read one piece at a time by a
 * submitter that says it waits for each (VF_OP_F_WAIT) but is held up for
 * up to LATE_MS before it does: the reply is left to it (nobody else
 * waits for it), and it gets it when it comes.  Prints how many replies
 * were still left when it came; verified.
 */
#define LATE_MS 50
static int cmd_latewait(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint64_t bad = 0, reads = 0, late = 0, worst_us = 0;
	uint64_t *buf = malloc(opt.io_size), *want = malloc(opt.io_size);
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_WRITE, false, &bad);
	for (uint32_t i = 0; !ret && i < opt.slabs; i++) {
		for (uint64_t off = 0; !ret && off < x->info.slab_size; off += opt.io_size) {
			bool done = false;
			struct vf_op op = { .type = VF_OP_READ,
					    .slab = ids[i],
					    .off = off,
					    .len = opt.io_size,
					    .buf = buf,
					    .flags = VF_OP_F_WAIT,
					    .done = late_done,
					    .priv = &done };
			uint64_t t0 = vf_now_ns(), us;

			ret = vf_xport_submit(x, &op);
			if (ret)
				break;
			while (!late_is_done(&done) && vf_now_ns() - t0 < LATE_MS * 1000000ull)
				usleep(200);
			us = (vf_now_ns() - t0) / 1000;
			if (!late_is_done(&done))
				late++;
			if (us > worst_us)
				worst_us = us;
			ret = vf_xport_wait(x, late_is_done, &done, 0, 0);
			if (!ret && !late_is_done(&done))
				ret = -EIO; /* wait() returned 0 before done */
			if (!ret)
				ret = op.status;
			if (ret)
				break;
			reads++;
			pattern(want, opt.io_size, ids[i], off);
			if (memcmp(buf, want, opt.io_size))
				bad++;
		}
	}
	if (!ret && bad)
		ret = 1;
	if (!ret)
		printf("latewait: verified %u slabs: %" PRIu64 " reads, %" PRIu64
		       " left to their submitter for %d ms, the longest wait %" PRIu64 " us\n",
		       opt.slabs, reads, late, LATE_MS, worst_us);
	else if (bad)
		fprintf(stderr, "vofirm-xtest: %" PRIu64 " pieces differ\n", bad);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	free(buf);
	free(want);
	return ret;
}

/*
 * heldwrite: two write-back WRITEs (VF_OP_F_BATCH) to the first slab; the
 * second submitted 100 ms after the first, when the receiver is waiting for
 * the first's reply, so the transport holds it back until that reply.
 * Each is given 3 s.  A server (or a man in the middle) that answers the
 * second before it was sent must be taken for a liar: the connection
 * dropped and both failed, never the second believed done.
 */
struct held {
	struct vf_op op;
	bool done; /* __atomic */
};

static void held_done(struct vf_op *op)
{
	__atomic_store_n(&((struct held *)op->priv)->done, true, __ATOMIC_RELEASE);
}

static int cmd_heldwrite(struct vf_xport *x)
{
	struct held w[2];
	uint32_t *ids = NULL;
	uint64_t *buf = malloc(2ull * opt.io_size);
	int ret = buf ? alloc_slabs(x, 1, &ids) : -ENOMEM;

	for (unsigned i = 0; !ret && i < 2; i++) {
		w[i] = (struct held){ .op = { .type = VF_OP_WRITE,
					      .flags = VF_OP_F_BATCH,
					      .slab = ids[0],
					      .off = (uint64_t)i * opt.io_size,
					      .len = opt.io_size,
					      .buf = buf + (size_t)i * opt.io_size / 8,
					      .done = held_done } };
		w[i].op.priv = &w[i];
		pattern(w[i].op.buf, opt.io_size, ids[0], w[i].op.off);
		if (i)
			usleep(100000);
		ret = vf_xport_submit(x, &w[i].op);
		if (ret)
			fprintf(stderr, "vofirm-xtest: heldwrite: submit %u: %s\n", i + 1,
				strerror(-ret));
	}
	if (!ret) {
		uint64_t t0 = vf_now_ns();

		while ((!__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE) ||
			!__atomic_load_n(&w[1].done, __ATOMIC_ACQUIRE)) &&
		       vf_now_ns() - t0 < 3000000000ull)
			usleep(1000);
		for (unsigned i = 0; i < 2; i++) {
			bool done = __atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE);

			printf("heldwrite: write %u: %s\n", i + 1,
			       !done		? "no reply within 3 s"
			       : w[i].op.status ? strerror(-w[i].op.status)
						: "done");
		}
		/* the second believed done while the first, sent before it, is
		 * not: it was answered before it could have been sent */
		if (__atomic_load_n(&w[1].done, __ATOMIC_ACQUIRE) && !w[1].op.status &&
		    !(__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE) && !w[0].op.status)) {
			fprintf(stderr, "vofirm-xtest: heldwrite: write 2 believed done before "
					"write 1: an answer to a request not sent\n");
			ret = 1;
		}
		/* not done: the transport still has them; the close fails them */
	}
	vf_xport_close(x, 0);
	for (unsigned i = 0; !ret && i < 2; i++)
		if (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE))
			ret = 1; /* the close must have ended it */
	free(ids);
	free(buf);
	return ret;
}

/* verify: resume the --session and check its slabs hold the pattern. */
static int cmd_verify(struct vf_xport *x, uint32_t *ids, uint32_t n)
{
	uint64_t bad = 0;
	int ret = run_io(x, ids, n, x->info.slab_size, VF_OP_READ, false, &bad);

	if (!ret)
		printf("verified %u slabs after %s\n", n,
		       x->resumed ? "resuming the session" : "login");
	else if (bad)
		fprintf(stderr, "vofirm-xtest: %" PRIu64 " pieces differ\n", bad);
	vf_xport_close(x, opt.keep ? VF_CLOSE_KEEP_SESSION : 0);
	return ret;
}

/* zero: grant --slabs and check they read as zeros. */
static int cmd_zero(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint64_t bad = 0;
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_READ, true, &bad);
	if (!ret)
		printf("all %u slabs read as zeros\n", opt.slabs);
	else if (bad)
		fprintf(stderr, "vofirm-xtest: %" PRIu64 " pieces of %u bytes are not zero\n", bad,
			opt.io_size);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	return ret;
}

/* fill: grant --slabs, fill them with --byte, then end the session (freeing them). */
static int cmd_fill(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint8_t *buf = malloc(opt.io_size);
	int ret = alloc_slabs(x, opt.slabs, &ids);

	memset(buf, opt.byte, opt.io_size);
	for (uint32_t i = 0; !ret && i < opt.slabs; i++) {
		for (uint64_t off = 0; !ret && off < x->info.slab_size; off += opt.io_size) {
			struct vf_op op = { .type = VF_OP_WRITE,
					    .slab = ids[i],
					    .off = off,
					    .len = opt.io_size,
					    .buf = buf };
			ret = vf_xport_run(x, &op);
		}
	}
	if (!ret)
		printf("filled %u slabs with 0x%02x\n", opt.slabs, opt.byte);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	free(buf);
	return ret;
}

/* poke: read (or --write) 4 KiB of slab --slab, which need not be ours. */
static int cmd_poke(struct vf_xport *x)
{
	uint8_t buf[4096];
	struct vf_op op = { .type = opt.write ? VF_OP_WRITE : VF_OP_READ,
			    .slab = opt.slab,
			    .off = 0,
			    .len = sizeof(buf),
			    .buf = buf,
			    .flags = opt.raw ? VF_OP_F_RAW : 0,
			    .raw_addr = opt.raw_addr,
			    .raw_rkey = (uint32_t)opt.raw_rkey };
	int ret;

	memset(buf, 0x5a, sizeof(buf));
	ret = vf_xport_run(x, &op);
	if (ret)
		printf("%s of slab %u refused: %s (%s)\n", opt.write ? "write" : "read", opt.slab,
		       op.errmsg[0]	? op.errmsg
		       : ret == -ENOENT ? "not a slab of this session"
					: "refused",
		       strerror(-ret));
	else
		printf("%s of slab %u succeeded\n", opt.write ? "write" : "read", opt.slab);
	vf_xport_close(x, 0);
	return ret;
}

/* reconnect: grant, write, drop the connection, wait --pause, resume, verify. */
static int cmd_reconnect(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	uint64_t bad = 0;
	int ret = alloc_slabs(x, opt.slabs, &ids);

	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_WRITE, false, &bad);
	if (!ret) {
		vf_xport_disconnect(x);
		printf("disconnected; pausing %" PRIu64 " ms\n", opt.pause_ms);
		fflush(stdout);
		usleep((useconds_t)(opt.pause_ms * 1000));
		ret = vf_xport_reconnect(x);
		if (!ret && !x->resumed)
			ret = -EPROTO;
	}
	if (!ret)
		ret = run_io(x, ids, opt.slabs, x->info.slab_size, VF_OP_READ, false, &bad);
	if (!ret)
		printf("verified %u slabs after reconnecting\n", opt.slabs);
	if (ret == -ESTALE) {
		vf_xport_close(x, VF_CLOSE_KEEP_SESSION);
	} else {
		vf_xport_close(x, 0);
	}
	free(ids);
	return ret;
}

/* hold: keep a session and its connection open for --seconds. */
static int cmd_hold(struct vf_xport *x)
{
	uint32_t *ids = NULL;
	int ret = 0;

	if (opt.slabs)
		ret = alloc_slabs(x, opt.slabs, &ids);
	printf("holding the connection for %" PRIu64 " s\n", opt.seconds);
	fflush(stdout);
	sleep((unsigned)opt.seconds);
	free(ids);
	vf_xport_close(x, 0);
	return ret;
}

/* ---- race: threads that wait for their own operations, and many in flight ---- */

struct racer {
	pthread_t tid;
	struct vf_xport *x;
	uint32_t slab;
	uint64_t slab_size, ops, mismatches;
	int err;
};

/* Writes its slab in io_size pieces, each read back at once and checked,
 * every operation with vf_xport_run() (or, with --op-timeout, with that
 * limit: an operation late past it aborts the connection). */
static int race_run(struct vf_xport *x, struct vf_op *op)
{
	if (opt.op_timeout_ms)
		return vf_xport_run_timeout(x, op, (unsigned)opt.op_timeout_ms);
	return vf_xport_run(x, op);
}

static void *racer_main(void *arg)
{
	struct racer *rc = arg;
	uint64_t *buf = malloc(opt.io_size), *want = malloc(opt.io_size);

	for (uint64_t off = 0; !rc->err && off < rc->slab_size; off += opt.io_size) {
		struct vf_op op = { .type = VF_OP_WRITE,
				    .slab = rc->slab,
				    .off = off,
				    .len = opt.io_size,
				    .buf = want };

		pattern(want, opt.io_size, rc->slab, off);
		rc->err = race_run(rc->x, &op);
		if (rc->err)
			break;
		memset(buf, 0, opt.io_size);
		op = (struct vf_op){ .type = VF_OP_READ,
				     .slab = rc->slab,
				     .off = off,
				     .len = opt.io_size,
				     .buf = buf };
		rc->err = race_run(rc->x, &op);
		if (rc->err)
			break;
		rc->ops += 2;
		if (memcmp(buf, want, opt.io_size))
			rc->mismatches++;
	}
	free(buf);
	free(want);
	return NULL;
}

static void *aborter_main(void *arg)
{
	usleep((useconds_t)(opt.abort_ms * 1000));
	vf_xport_abort(arg);
	return NULL;
}

static bool connection_error(int err)
{
	return err == -ECONNRESET || err == -ENOTCONN || (opt.op_timeout_ms && err == -ETIMEDOUT);
}

/*
 * race: --threads T threads that each wait for their own operations
 * (vf_xport_run()), on a slab of their own, while this one keeps --depth
 * operations in flight on the other slabs (none when --slabs is T: only
 * waiting threads then): every byte verified.  With
 * --abort-after D the connection is aborted after D, and with
 * --op-timeout D the waiting threads abort it when a reply is later than
 * D: then every operation must end, with success or a connection error
 * (none hangs).
 */
static int cmd_race(struct vf_xport *x)
{
	uint32_t *ids = NULL, t = opt.threads;
	uint64_t bad = 0, sync_ops = 0, sync_bad = 0;
	struct racer *rc = calloc(t, sizeof(*rc));
	pthread_t aborter;
	int ret, async_ret = 0, err = 0;

	ret = alloc_slabs(x, opt.slabs, &ids);
	if (ret) {
		free(rc);
		return finish(x, ids, opt.slabs, ret);
	}
	for (uint32_t i = 0; i < t; i++) {
		rc[i] = (struct racer){ .x = x, .slab = ids[i], .slab_size = x->info.slab_size };
		ret = pthread_create(&rc[i].tid, NULL, racer_main, &rc[i]);
		if (ret) {
			fprintf(stderr, "vofirm-xtest: cannot start a thread: %s\n", strerror(ret));
			exit(XT_FAIL);
		}
	}
	if (opt.abort_ms && (ret = pthread_create(&aborter, NULL, aborter_main, x))) {
		fprintf(stderr, "vofirm-xtest: cannot start a thread: %s\n", strerror(ret));
		exit(XT_FAIL);
	}
	async_ret = run_io(x, ids + t, opt.slabs - t, x->info.slab_size, VF_OP_WRITE, false, &bad);
	if (!async_ret)
		async_ret = run_io(x, ids + t, opt.slabs - t, x->info.slab_size, VF_OP_READ, false,
				   &bad);
	for (uint32_t i = 0; i < t; i++) {
		pthread_join(rc[i].tid, NULL);
		sync_ops += rc[i].ops;
		sync_bad += rc[i].mismatches;
		if (rc[i].err && !err)
			err = rc[i].err;
	}
	if (opt.abort_ms)
		pthread_join(aborter, NULL);
	printf("race: %u waiting threads did %" PRIu64 " operations (%" PRIu64 " mismatched)%s%s\n",
	       t, sync_ops, sync_bad, err ? ", then " : "", err ? strerror(-err) : "");
	if (sync_bad || async_ret > 0) {
		ret = 1;
	} else if (opt.abort_ms || opt.op_timeout_ms) {
		/* the abort may come after the end: then nothing failed */
		if ((err && !connection_error(err)) ||
		    (async_ret && !connection_error(async_ret))) {
			fprintf(stderr,
				"vofirm-xtest: an operation failed with %s after the abort\n",
				strerror(-(err && !connection_error(err) ? err : async_ret)));
			ret = 1;
		} else {
			printf("race: %s: every operation ended\n",
			       err || async_ret ? "the connection was aborted" : "nothing failed");
		}
	} else {
		ret = err ? err : async_ret;
		if (!ret)
			printf("race: verified %u slabs\n", opt.slabs);
	}
	free(rc);
	ret = finish(x, ids, opt.slabs, ret);
	free(ids);
	return ret;
}

/* Counts, ids, seeds, bytes: decimal or 0x hex. */
static int parse_number(const char *s, uint64_t *v, const char **why)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		*why = "not a number";
		return -EINVAL;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vofirm-xtest --server URL [--key-file F] [--name N] [--depth D] COMMAND [OPTIONS]\n"
		"A test client of vofirm-memd that uses only the transport interface.\n"
		"\n"
		"Commands:\n"
		"  stats [--json]                      print the server's counters\n"
		"  alloc --slabs N [--keep] [--session F]   grant N slabs, print their ids\n"
		"  rw --slabs N [--io-size S] [--seed X] [--session F]\n"
		"                                      write a pattern over N slabs, read back, verify\n"
		"                                      (with --session the session is kept and saved)\n"
		"  verify --session F [--keep]         resume a saved session and verify its slabs\n"
		"  zero --slabs N                      grant N slabs and check that they read as zeros\n"
		"  fill --slabs N [--byte B]           grant N slabs, fill them, end the session\n"
		"  poke --slab ID [--write]            read or write 4 KiB of slab ID (expect refusal)\n"
		"       [--raw-addr A --raw-rkey K]    RDMA: at address A with key K, not the slab's\n"
		"  reconnect --slabs N --pause MS      write, drop the connection, resume, verify\n"
		"  hold --seconds S [--slabs N]        keep a connection open\n"
		"  burstwait --slabs N [--io-size S]  write N slabs with --depth in flight, then\n"
		"                                      read them back one at a time, verified\n"
		"  latewait --slabs N [--io-size S]   read N slabs one at a time, each waited for\n"
		"                                      only after the reply came (at most 50 ms)\n"
		"  heldwrite --slabs 1 [--io-size S]   two write-back WRITEs, the second held back\n"
		"                                      for the first's reply; each given 3 s\n"
		"  race --slabs N --threads T [--abort-after D] [--op-timeout D]\n"
		"                                      T threads waiting for their own operations\n"
		"                                      and --depth in flight at once (on the N - T\n"
		"                                      other slabs: none if N = T), verified;\n"
		"                                      aborted after D, or by a reply later than\n"
		"                                      --op-timeout: every operation must end\n"
		"Options: --busy-poll-us U             poll U us for a reply before sleeping\n"
		"\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 3 no space, 4 session gone, 5 refused,\n"
		"6 cannot connect.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 'S' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "depth", required_argument, NULL, 'D' },
		{ "slabs", required_argument, NULL, 's' },
		{ "io-size", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 'x' },
		{ "session", required_argument, NULL, 'f' },
		{ "slab", required_argument, NULL, 'I' },
		{ "raw-addr", required_argument, NULL, 'a' },
		{ "raw-rkey", required_argument, NULL, 'r' },
		{ "pause", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 't' },
		{ "byte", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 'T' },
		{ "busy-poll-us", required_argument, NULL, 'B' },
		{ "abort-after", required_argument, NULL, 'A' },
		{ "op-timeout", required_argument, NULL, 'O' },
		{ "keep", no_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'j' },
		{ "write", no_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vf_xport *x = NULL;
	uint8_t token[VF_TOKEN_LEN];
	uint32_t *ids = NULL, n = 0;
	const char *cmd, *why;
	uint64_t v;
	int c, ret;

	vf_log_init("vofirm-xtest", LOG_NOTICE);
	/* GNU getopt permutes: options may come before or after the command */
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'S':
			opt.server = optarg;
			break;
		case 'k':
			opt.key_file = optarg;
			break;
		case 'n':
			opt.name = optarg;
			break;
		case 'f':
			opt.session_file = optarg;
			break;
		case 'K':
			opt.keep = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'w':
			opt.write = true;
			break;
		case 'v':
			vf_log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'D':
		case 's':
		case 'i':
		case 'x':
		case 'I':
		case 'p':
		case 't':
		case 'b':
		case 'a':
		case 'r':
		case 'T':
		case 'B':
		case 'A':
		case 'O':
			if (c == 'p' || c == 'A' || c == 'O' ? vf_parse_duration(optarg, &v, &why)
			    : c == 'i'			     ? vf_parse_size(optarg, &v, &why)
							     : parse_number(optarg, &v, &why)) {
				fprintf(stderr, "vofirm-xtest: bad value '%s': %s\n", optarg, why);
				return XT_USAGE;
			}
			if (c == 'D')
				opt.depth = (unsigned)v;
			if (c == 's')
				opt.slabs = (uint32_t)v;
			if (c == 'i')
				opt.io_size = (uint32_t)v;
			if (c == 'x')
				opt.seed = v;
			if (c == 'I')
				opt.slab = (uint32_t)v;
			if (c == 'p')
				opt.pause_ms = v;
			if (c == 't')
				opt.seconds = v;
			if (c == 'b')
				opt.byte = (int)v;
			if (c == 'a')
				opt.raw_addr = v, opt.raw = true;
			if (c == 'r')
				opt.raw_rkey = v, opt.raw = true;
			if (c == 'T')
				opt.threads = (unsigned)v;
			if (c == 'B')
				opt.busy_poll_us = (unsigned)v;
			if (c == 'A')
				opt.abort_ms = v;
			if (c == 'O')
				opt.op_timeout_ms = v;
			break;
		default:
			usage(stderr);
			return XT_USAGE;
		}
	}
	if (optind + 1 != argc || !opt.server) {
		usage(stderr);
		return XT_USAGE;
	}
	cmd = argv[optind];
	if (!strcmp(cmd, "race") && (opt.threads == 0 || opt.slabs < opt.threads)) {
		fprintf(stderr, "vofirm-xtest: race needs --threads T > 0 and --slabs >= T\n");
		return XT_USAGE;
	}
	if (opt.depth == 0 || opt.io_size == 0 || opt.io_size > VF_MAX_IO || opt.io_size % 8) {
		fprintf(stderr, "vofirm-xtest: --depth must be > 0, --io-size a multiple of 8 "
				"up to 1M\n");
		return XT_USAGE;
	}

	if (!strcmp(cmd, "verify")) {
		if (!opt.session_file || load_session(token, &ids, &n)) {
			fprintf(stderr, "vofirm-xtest: verify needs a valid --session file\n");
			return XT_USAGE;
		}
		ret = connect_server(&x, token);
	} else {
		if (strcmp(cmd, "stats") && strcmp(cmd, "poke") && strcmp(cmd, "hold") &&
		    opt.slabs == 0) {
			fprintf(stderr, "vofirm-xtest: %s needs --slabs N\n", cmd);
			return XT_USAGE;
		}
		ret = connect_server(&x, NULL);
	}
	if (ret) {
		free(ids);
		return ret == -ESTALE ? XT_STALE : ret == -EACCES ? XT_DENIED : XT_CONNECT;
	}
	if (x->info.slab_size % opt.io_size) {
		fprintf(stderr, "vofirm-xtest: --io-size must divide the slab size\n");
		vf_xport_close(x, 0);
		return XT_USAGE;
	}

	if (!strcmp(cmd, "stats"))
		ret = cmd_stats(x);
	else if (!strcmp(cmd, "alloc"))
		ret = cmd_alloc(x);
	else if (!strcmp(cmd, "rw"))
		ret = cmd_rw(x);
	else if (!strcmp(cmd, "verify"))
		ret = cmd_verify(x, ids, n);
	else if (!strcmp(cmd, "zero"))
		ret = cmd_zero(x);
	else if (!strcmp(cmd, "fill"))
		ret = cmd_fill(x);
	else if (!strcmp(cmd, "poke"))
		ret = cmd_poke(x);
	else if (!strcmp(cmd, "reconnect"))
		ret = cmd_reconnect(x);
	else if (!strcmp(cmd, "hold"))
		ret = cmd_hold(x);
	else if (!strcmp(cmd, "heldwrite"))
		ret = cmd_heldwrite(x);
	else if (!strcmp(cmd, "race"))
		ret = cmd_race(x);
	else if (!strcmp(cmd, "burstwait"))
		ret = cmd_burstwait(x);
	else if (!strcmp(cmd, "latewait"))
		ret = cmd_latewait(x);
	else {
		fprintf(stderr, "vofirm-xtest: unknown command '%s'\n", cmd);
		vf_xport_close(x, 0);
		ret = -EINVAL;
		free(ids);
		return XT_USAGE;
	}
	free(ids);
	free(granted);
	return ret > 0 ? XT_FAIL : exit_for(ret);
}
