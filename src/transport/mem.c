// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mem://SIZE: a pool in the client's own memory, behind the transport
 * interface.  No network, no server: vofirm-fs over mem:// is the floor of
 * what FUSE itself costs (the benchmarks' "FUSE floor"), and a way to try
 * vofirm-fs without a memory server.  Data lives as long as the client;
 * operations complete before submit() returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vofirm/log.h"
#include "transport_i.h"

#define MEM_SLAB (64ull << 20)

struct mem_xport {
	struct vf_xport x;
	pthread_mutex_t lock;
	uint8_t *base;
	uint32_t nslabs, nfree;
	bool *used;
	uint64_t bytes_read, bytes_written, reads, writes;
};

static struct mem_xport *to_mem(struct vf_xport *x)
{
	return vf_container_of(x, struct mem_xport, x);
}

static struct vf_xport *mem_create(void)
{
	struct mem_xport *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	return &m->x;
}

static void mem_destroy(struct vf_xport *x)
{
	struct mem_xport *m = to_mem(x);

	if (m->base)
		munmap(m->base, (size_t)m->nslabs * MEM_SLAB);
	free(m->used);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int mem_connect(struct vf_xport *x)
{
	struct mem_xport *m = to_mem(x);
	const char *why;
	uint64_t size;

	if (m->base)
		return 0; /* a reconnect: the pool is still here */
	if (vf_parse_size(x->url.host, &size, &why) || size < MEM_SLAB || size % MEM_SLAB) {
		vf_err("%s: give the pool's size as a whole number of 64M slabs (mem://4G)",
		       x->url.str);
		return -EINVAL;
	}
	m->nslabs = m->nfree = (uint32_t)(size / MEM_SLAB);
	m->used = calloc(m->nslabs, sizeof(*m->used));
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!m->used || m->base == MAP_FAILED) {
		m->base = NULL;
		vf_err("%s: cannot map %s of memory", x->url.str, x->url.host);
		return -ENOMEM;
	}
	x->info.slab_size = MEM_SLAB;
	x->info.capacity = size;
	x->info.lease_ms = UINT32_MAX;
	x->have_session = true;
	vf_info("%s: an in-process pool of %u slabs (no server)", x->url.str, m->nslabs);
	return 0;
}

static void mem_disconnect(struct vf_xport *x)
{
}

static void mem_abort(struct vf_xport *x, uint64_t gen)
{
}

static int mem_submit(struct vf_xport *x, struct vf_op *op)
{
	struct mem_xport *m = to_mem(x);
	int st = 0;

	pthread_mutex_lock(&m->lock);
	switch (op->type) {
	case VF_OP_READ:
	case VF_OP_WRITE:
		if (op->slab >= m->nslabs || !m->used[op->slab] || op->len > MEM_SLAB ||
		    op->off > MEM_SLAB - op->len) {
			st = -EPERM;
			break;
		}
		pthread_mutex_unlock(&m->lock);
		if (op->type == VF_OP_READ)
			memcpy(op->buf, m->base + op->slab * MEM_SLAB + op->off, op->len);
		else
			memcpy(m->base + op->slab * MEM_SLAB + op->off, op->buf, op->len);
		pthread_mutex_lock(&m->lock);
		if (op->type == VF_OP_READ) {
			m->bytes_read += op->len;
			m->reads++;
		} else {
			m->bytes_written += op->len;
			m->writes++;
		}
		break;
	case VF_OP_ALLOC:
		if (op->count > m->nfree) {
			st = -ENOSPC;
			break;
		}
		for (uint32_t i = 0, k = 0; k < op->count; i++)
			if (!m->used[i]) {
				m->used[i] = true;
				op->descs[k++] = (struct vf_slab_desc){ .id = i };
			}
		m->nfree -= op->count;
		break;
	case VF_OP_FREE:
		for (uint32_t k = 0; k < op->count; k++)
			if (op->ids[k] >= m->nslabs || !m->used[op->ids[k]])
				st = -EPERM;
		for (uint32_t k = 0; !st && k < op->count; k++) {
			m->used[op->ids[k]] = false;
			madvise(m->base + op->ids[k] * MEM_SLAB, MEM_SLAB, MADV_DONTNEED);
		}
		if (!st)
			m->nfree += op->count;
		break;
	case VF_OP_STATS:
		*op->stats = (struct vf_stats){ .capacity = (uint64_t)m->nslabs * MEM_SLAB,
						.slab_size = MEM_SLAB,
						.slabs_total = m->nslabs,
						.slabs_granted = m->nslabs - m->nfree,
						.slabs_free = m->nfree,
						.clients = 1,
						.sessions = 1,
						.bytes_read = m->bytes_read,
						.bytes_written = m->bytes_written,
						.reads = m->reads,
						.writes = m->writes,
						.session_slabs = m->nslabs - m->nfree };
		break;
	case VF_OP_LIST:
		op->listed = 0;
		op->total = m->nslabs - m->nfree;
		for (uint32_t i = 0, k = 0; i < m->nslabs && op->listed < op->count; i++)
			if (m->used[i] && k++ >= op->first)
				op->descs[op->listed++] = (struct vf_slab_desc){ .id = i };
		break;
	case VF_OP_BYE:
		break;
	default: /* grants: a vofirm-memd's */
		st = -EOPNOTSUPP;
		break;
	}
	pthread_mutex_unlock(&m->lock);
	op->status = st;
	op->done(op);
	return 0;
}

const struct vf_xport_ops vf_mem_ops = {
	.scheme = "mem",
	.create = mem_create,
	.destroy = mem_destroy,
	.connect = mem_connect,
	.disconnect = mem_disconnect,
	.submit = mem_submit,
	.abort = mem_abort,
};
