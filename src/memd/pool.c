// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The donated memory: one mapping divided into slabs, granted to
 * sessions.  A session belongs to one client identity (its token); it
 * has at most one connection at a time and outlives a lost connection
 * for the lease.  Slabs are zeroed when they are freed (those of expired
 * sessions by the zeroer thread, off the main loop), so a slab is always
 * zero when it is granted: no client ever reads another's data.
 *
 * Locking: p->lock guards the free stack, the zeroer's queue, the session
 * list and every session's fields.  A slab's owner is written under p->lock and read
 * without it on the data path (__atomic): a connection only ever needs
 * to know whether a slab is its own, and only its own thread (or the
 * reaper, once the connection is gone) can change that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/resource.h>
#include <time.h>

#include "memd.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

#define TAKEOVER_TIMEOUT_MS 5000
#define ZERO_WAIT_MS 10000 /* an allocation waits this long for the zeroer */
#define ZERO_BATCH 64u

static void *zeroer_main(void *arg);

static struct memd_session *owner_of(struct memd_pool *p, uint32_t id)
{
	return __atomic_load_n(&p->slabs[id].owner, __ATOMIC_ACQUIRE);
}

static void set_owner(struct memd_pool *p, uint32_t id, struct memd_session *s)
{
	__atomic_store_n(&p->slabs[id].owner, s, __ATOMIC_RELEASE);
}

static struct memd_session *shared_with(struct memd_pool *p, uint32_t id)
{
	return __atomic_load_n(&p->slabs[id].shared, __ATOMIC_ACQUIRE);
}

static void set_shared(struct memd_pool *p, uint32_t id, struct memd_session *s)
{
	__atomic_store_n(&p->slabs[id].shared, s, __ATOMIC_RELEASE);
}

/* May s read and write slab id?  Its owner, or the grantee it is shared with. */
static bool reaches(struct memd_pool *p, uint32_t id, struct memd_session *s)
{
	return owner_of(p, id) == s || shared_with(p, id) == s;
}

static unsigned long read_ulong(const char *path)
{
	unsigned long v = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

int pool_init(struct memd_pool *p, uint64_t size, uint64_t slab_size, uint64_t lease_ms,
	      unsigned flags)
{
	int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
	char a[32], b[32];
	int err;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	vf_cond_init(&p->detached_cv);
	vf_cond_init(&p->dirty_cv);
	vf_cond_init(&p->zeroed_cv);
	p->size = size;
	p->slab_size = slab_size;
	p->nslabs = (uint32_t)(size / slab_size);
	p->lease_ms = lease_ms;
	p->flags = flags;
	p->next_session_id = 1;

	if (flags & MEMD_POOL_HUGEPAGES)
		mflags |= MAP_HUGETLB | MAP_HUGE_2MB;
	else if (!(flags & MEMD_POOL_MLOCK))
		mflags |= MAP_NORESERVE;
	p->base = mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, -1, 0);
	if (p->base == MAP_FAILED) {
		err = errno;
		p->base = NULL;
		if (flags & MEMD_POOL_HUGEPAGES)
			vf_err("cannot back %s with 2 MiB huge pages: %s (vm.nr_hugepages is "
			       "%lu, %lu free; %" PRIu64 " needed: sysctl vm.nr_hugepages=N)",
			       vf_format_size(size, a, sizeof(a)), strerror(err),
			       read_ulong("/proc/sys/vm/nr_hugepages"),
			       read_ulong(
				       "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"),
			       size >> 21);
		else
			vf_err("cannot map %s to donate: %s", vf_format_size(size, a, sizeof(a)),
			       strerror(err));
		return -err;
	}
	/* clients' data has no business in a core dump of ours */
	madvise(p->base, size, MADV_DONTDUMP);
	/* Clients touch the pool at random: transparent huge pages (where the
	 * system offers them on request) save a TLB miss, and a page-table
	 * walk, on almost every request.  Best effort. */
	if (!(flags & MEMD_POOL_HUGEPAGES))
		madvise(p->base, size, MADV_HUGEPAGE);

	if (flags & MEMD_POOL_MLOCK) {
		uint64_t t0 = vf_now_ms();

		/* faults every page in: registering a slab for RDMA then only
		 * pins it (docs/rdma.md, "Allocation time") */
		if (mlock(p->base, size) < 0) {
			struct rlimit rl = { 0 };

			err = errno;
			getrlimit(RLIMIT_MEMLOCK, &rl);
			if (rl.rlim_cur == RLIM_INFINITY)
				snprintf(b, sizeof(b), "unlimited");
			else
				vf_format_size(rl.rlim_cur, b, sizeof(b));
			vf_err("cannot lock the donated %s in memory: %s (the locked-memory "
			       "limit RLIMIT_MEMLOCK is %s: raise it with ulimit -l or "
			       "LimitMEMLOCK=, grant CAP_IPC_LOCK, or drop --mlock)",
			       vf_format_size(size, a, sizeof(a)), strerror(err), b);
			munmap(p->base, size);
			p->base = NULL;
			return -err;
		}
		vf_info("locked the donated %s in memory in %" PRIu64 " ms",
			vf_format_size(size, a, sizeof(a)), vf_now_ms() - t0);
	}

	p->slabs = calloc(p->nslabs, sizeof(*p->slabs));
	p->free_ids = calloc(p->nslabs, sizeof(*p->free_ids));
	p->dirty_ids = calloc(p->nslabs, sizeof(*p->dirty_ids));
	if (!p->slabs || !p->free_ids || !p->dirty_ids) {
		vf_err("cannot allocate the table of %u slabs", p->nslabs);
		pool_destroy(p);
		return -ENOMEM;
	}
	/* stack order: slab 0 is granted first */
	for (uint32_t i = 0; i < p->nslabs; i++)
		p->free_ids[i] = p->nslabs - 1 - i;
	p->nfree = p->nslabs;
	err = vf_random(p->instance, sizeof(p->instance));
	if (err) {
		vf_err("cannot read random bytes for the instance id: %s", strerror(-err));
		pool_destroy(p);
		return err;
	}
	err = pthread_create(&p->zeroer, NULL, zeroer_main, p);
	if (err) {
		vf_err("cannot start the thread that zeroes freed slabs: %s", strerror(err));
		pool_destroy(p);
		return -err;
	}
	p->zeroer_running = true;
	return 0;
}

void pool_destroy(struct memd_pool *p)
{
	struct memd_session *s, *next;

	if (p->zeroer_running) {
		pthread_mutex_lock(&p->lock);
		p->stopping = true;
		pthread_cond_broadcast(&p->dirty_cv);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->zeroer, NULL);
		p->zeroer_running = false;
	}

	for (s = p->sessions; s; s = next) {
		next = s->next;
		free(s);
	}
	while (p->grants) {
		struct memd_grant *g = p->grants;

		p->grants = g->next;
		free(g->ids);
		free(g);
	}
	p->sessions = NULL;
	if (p->base)
		munmap(p->base, p->size);
	p->base = NULL;
	free(p->slabs);
	free(p->free_ids);
	free(p->dirty_ids);
	p->slabs = NULL;
	p->free_ids = NULL;
	p->dirty_ids = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->detached_cv);
	pthread_cond_destroy(&p->dirty_cv);
	pthread_cond_destroy(&p->zeroed_cv);
}

uint8_t *pool_slab_mem(struct memd_pool *p, uint32_t id)
{
	return p->base + (uint64_t)id * p->slab_size;
}

/*
 * Zero a slab that no one owns.  A private anonymous mapping reads as
 * zeros after MADV_DONTNEED and gives the memory back to the system;
 * locked or huge-page memory is cleared by hand.
 */
static void zero_slab(struct memd_pool *p, uint32_t id)
{
	uint8_t *mem = pool_slab_mem(p, id);

	if (!(p->flags & (MEMD_POOL_MLOCK | MEMD_POOL_HUGEPAGES)) &&
	    madvise(mem, p->slab_size, MADV_DONTNEED) == 0)
		return;
	memset(mem, 0, p->slab_size);
}

/* Zero `n` slabs taken from their owner (p->lock not held) and return them. */
static void release_slabs(struct memd_pool *p, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		zero_slab(p, ids[i]);
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++)
		p->free_ids[p->nfree++] = ids[i];
	pthread_mutex_unlock(&p->lock);
}

/* Hands slabs taken from their owner to the zeroer (p->lock held). */
static void do_queue_dirty(struct memd_pool *p, const uint32_t *ids, uint32_t n)
{
	memcpy(p->dirty_ids + p->ndirty, ids, sizeof(*ids) * n);
	p->ndirty += n;
	pthread_cond_signal(&p->dirty_cv);
}

/* Zeroes queued slabs and puts them on the free stack, a batch at a time. */
static void *zeroer_main(void *arg)
{
	struct memd_pool *p = arg;
	uint32_t batch[ZERO_BATCH], n, done = 0;
	uint64_t start = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (!p->ndirty && done) {
			vf_info("zeroed %u freed slab%s in %" PRIu64 " ms", done,
				done == 1 ? "" : "s", vf_now_ms() - start);
			done = 0;
		}
		while (!p->ndirty && !p->stopping)
			pthread_cond_wait(&p->dirty_cv, &p->lock);
		if (p->stopping)
			break; /* the memory goes with the process: no need */
		if (!done)
			start = vf_now_ms();
		done += MIN(p->ndirty, ZERO_BATCH);
		n = MIN(p->ndirty, ZERO_BATCH);
		p->ndirty -= n;
		memcpy(batch, p->dirty_ids + p->ndirty, sizeof(*batch) * n);
		p->nzeroing = n;
		pthread_mutex_unlock(&p->lock);
		for (uint32_t i = 0; i < n; i++)
			zero_slab(p, batch[i]);
		pthread_mutex_lock(&p->lock);
		for (uint32_t i = 0; i < n; i++)
			p->free_ids[p->nfree++] = batch[i];
		p->nzeroing = 0;
		pthread_cond_broadcast(&p->zeroed_cv);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Takes every slab of s away from it into ids[] (p->lock held). */
static uint32_t do_take_all(struct memd_pool *p, struct memd_session *s, uint32_t *ids)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->nslabs && n < s->nslabs; i++) {
		if (owner_of(p, i) == s) {
			set_owner(p, i, NULL);
			ids[n++] = i;
		}
	}
	p->ngranted -= n;
	s->nslabs = 0;
	return n;
}

/* Ends grant g (p->lock held): its slabs are shared no more. */
static void do_grant_end(struct memd_pool *p, struct memd_grant *g)
{
	struct memd_grant **pp = &p->grants;

	for (uint32_t i = 0; i < g->n; i++) {
		p->slabs[g->ids[i]].grant = NULL;
		if (g->grantee && shared_with(p, g->ids[i]) == g->grantee)
			set_shared(p, g->ids[i], NULL);
	}
	if (g->grantee)
		g->grantee->nshared -= g->n;
	g->issuer->ngrants--;
	while (*pp && *pp != g)
		pp = &(*pp)->next;
	if (*pp)
		*pp = g->next;
	free(g->ids);
	free(g);
}

/* Gives g's slabs to its grantee and ends g (p->lock held). */
static void do_grant_give(struct memd_pool *p, struct memd_grant *g)
{
	for (uint32_t i = 0; i < g->n; i++) {
		set_owner(p, g->ids[i], g->grantee);
		set_shared(p, g->ids[i], NULL);
	}
	g->issuer->nslabs -= g->n;
	g->grantee->nslabs += g->n;
	g->grantee->nshared -= g->n;
	g->grantee = NULL; /* nothing shared left to undo */
	do_grant_end(p, g);
}

/*
 * Session s ends (p->lock held): the grants it took end (the issuers keep
 * the slabs); those it issued end too, except that the slabs of an
 * accepted one go to its grantee, who may already run on them (a migrated
 * VM): ending a session never takes memory from another.
 */
static void do_session_grants(struct memd_pool *p, struct memd_session *s)
{
	struct memd_grant *g = p->grants, *next;

	for (; g; g = next) {
		next = g->next;
		if (g->issuer == s && g->grantee) {
			vf_notice("session %" PRIu64 " '%s' ends with grant %" PRIu64
				  " accepted: its %u slab(s) go to session %" PRIu64 " '%s'",
				  s->id, s->name, g->id, g->n, g->grantee->id, g->grantee->name);
			do_grant_give(p, g);
		} else if (g->issuer == s || g->grantee == s) {
			do_grant_end(p, g);
		}
	}
}

static void do_unlink(struct memd_pool *p, struct memd_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		p->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	p->nsessions--;
}

static struct memd_session *do_find(struct memd_pool *p, const uint8_t *token)
{
	for (struct memd_session *s = p->sessions; s; s = s->next)
		if (!memcmp(s->token, token, VF_TOKEN_LEN))
			return s;
	return NULL;
}

int pool_login(struct memd_pool *p, const uint8_t token[VF_TOKEN_LEN], const char *name,
	       const char *peer, void *conn, void (*kick)(void *conn), struct memd_session **out,
	       bool *resumed)
{
	struct memd_session *s;
	struct timespec deadline;
	int ret;

	if (vf_all_zero(token, VF_TOKEN_LEN)) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		do {
			ret = vf_random(s->token, sizeof(s->token));
		} while (!ret && vf_all_zero(s->token, VF_TOKEN_LEN));
		if (ret) {
			free(s);
			return ret;
		}
		pthread_mutex_lock(&p->lock);
		s->id = p->next_session_id++;
		s->next = p->sessions;
		if (s->next)
			s->next->prev = s;
		p->sessions = s;
		p->nsessions++;
		*resumed = false;
		goto attach;
	}

	pthread_mutex_lock(&p->lock);
	s = do_find(p, token);
	if (s && s->conn) {
		/* The client came back before we noticed it was gone (or a
		 * second process holds its token): the newest connection wins. */
		vf_notice("session %" PRIu64 " '%s': taken over by a new connection "
			  "from %s; dropping the old one from %s",
			  s->id, s->name, peer, s->peer);
		s->kick(s->conn);
		deadline = vf_deadline_ms(TAKEOVER_TIMEOUT_MS);
		while ((s = do_find(p, token)) && s->conn)
			if (pthread_cond_timedwait(&p->detached_cv, &p->lock, &deadline))
				break;
		if (s && s->conn) {
			pthread_mutex_unlock(&p->lock);
			return -EBUSY;
		}
	}
	if (!s) {
		pthread_mutex_unlock(&p->lock);
		return -ESTALE;
	}
	*resumed = true;
attach:
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->conn = conn;
	s->kick = kick;
	p->nclients++;
	*out = s;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void pool_detach(struct memd_pool *p, struct memd_session *s)
{
	pthread_mutex_lock(&p->lock);
	s->conn = NULL;
	s->kick = NULL;
	s->detached_at = vf_now_ms();
	p->nclients--;
	pthread_cond_broadcast(&p->detached_cv);
	pthread_mutex_unlock(&p->lock);
}

void pool_end_session(struct memd_pool *p, struct memd_session *s)
{
	uint32_t *ids, n;

	/* sized under the lock: until then another session's GIVE (or the
	 * reaper giving a lapsed issuer's grant) may add slabs to s; from
	 * here only do_session_grants() moves any, and only away from s */
	pthread_mutex_lock(&p->lock);
	ids = malloc(sizeof(*ids) * (s->nslabs ? s->nslabs : 1));
	if (!ids) {
		/* cannot zero them now: leave them to the lease */
		pthread_mutex_unlock(&p->lock);
		pool_detach(p, s);
		return;
	}
	do_session_grants(p, s);
	n = do_take_all(p, s, ids);
	do_unlink(p, s);
	p->nclients--;
	pthread_cond_broadcast(&p->detached_cv);
	pthread_mutex_unlock(&p->lock);
	release_slabs(p, ids, n);
	free(ids);
	free(s);
}

int pool_alloc(struct memd_pool *p, struct memd_session *s, uint32_t n, uint32_t *ids, char *why,
	       size_t whylen)
{
	struct timespec deadline;

	pthread_mutex_lock(&p->lock);
	if (n > p->nfree && n <= p->nfree + p->ndirty + p->nzeroing) {
		/* enough once the zeroer is through the expired ones */
		deadline = vf_deadline_ms(ZERO_WAIT_MS);
		while (n > p->nfree && p->ndirty + p->nzeroing)
			if (pthread_cond_timedwait(&p->zeroed_cv, &p->lock, &deadline))
				break;
	}
	if (n > p->nfree) {
		snprintf(why, whylen, "pool has %u free slab%s of %u, %u asked for", p->nfree,
			 p->nfree == 1 ? "" : "s", p->nslabs, n);
		pthread_mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = p->free_ids[--p->nfree];
		set_owner(p, ids[i], s);
	}
	s->nslabs += n;
	p->ngranted += n;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int pool_free(struct memd_pool *p, struct memd_session *s, uint32_t n, const uint32_t *ids,
	      char *why, size_t whylen)
{
	uint32_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++) {
		if (ids[i] >= p->nslabs || owner_of(p, ids[i]) != s) {
			snprintf(why, whylen, "slab %u is not granted to this session", ids[i]);
			pthread_mutex_unlock(&p->lock);
			return -EPERM;
		}
		if (p->slabs[ids[i]].grant) {
			snprintf(why, whylen,
				 "slab %u is in grant %" PRIu64
				 ": give it or revoke the grant first",
				 ids[i], p->slabs[ids[i]].grant->id);
			pthread_mutex_unlock(&p->lock);
			return -EBUSY;
		}
	}
	for (i = 0; i < n; i++) {
		if (owner_of(p, ids[i]) != s)
			break; /* listed twice */
		set_owner(p, ids[i], NULL);
	}
	if (i < n) {
		snprintf(why, whylen, "slab %u is listed twice", ids[i]);
		while (i--)
			set_owner(p, ids[i], s);
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	s->nslabs -= n;
	p->ngranted -= n;
	pthread_mutex_unlock(&p->lock);
	release_slabs(p, ids, n);
	return 0;
}

int pool_check_owned(struct memd_pool *p, struct memd_session *s, uint32_t n, const uint32_t *ids,
		     char *why, size_t whylen)
{
	uint32_t i;
	int ret = 0;

	/* everything pool_free() would refuse, so that a FREE it refuses
	 * changes nothing, its slabs' remote access included */
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n && !ret; i++) {
		if (ids[i] >= p->nslabs || owner_of(p, ids[i]) != s) {
			snprintf(why, whylen, "slab %u is not granted to this session", ids[i]);
			ret = -EPERM;
		} else if (p->slabs[ids[i]].grant) {
			snprintf(why, whylen,
				 "slab %u is in grant %" PRIu64
				 ": give it or revoke the grant first",
				 ids[i], p->slabs[ids[i]].grant->id);
			ret = -EBUSY;
		}
	}
	/* listed twice: the second sight finds it unowned (and back after) */
	for (i = 0; i < n && !ret; i++) {
		if (owner_of(p, ids[i]) != s) {
			snprintf(why, whylen, "slab %u is listed twice", ids[i]);
			ret = -EINVAL;
			break;
		}
		set_owner(p, ids[i], NULL);
	}
	if (!ret || ret == -EINVAL)
		while (i--)
			set_owner(p, ids[i], s);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

uint32_t pool_list(struct memd_pool *p, struct memd_session *s, uint32_t first, uint32_t max,
		   uint32_t *ids, uint32_t *total)
{
	uint32_t seen = 0, n = 0;

	pthread_mutex_lock(&p->lock);
	*total = s->nslabs + s->nshared;
	for (uint32_t i = 0; i < p->nslabs && n < max && seen < first + max; i++) {
		if (!reaches(p, i, s))
			continue;
		if (seen++ >= first)
			ids[n++] = i;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

int pool_io_check(struct memd_pool *p, struct memd_session *s, uint32_t slab, uint64_t off,
		  uint32_t len, uint8_t **mem, char *why, size_t whylen)
{
	if (slab >= p->nslabs || !reaches(p, slab, s)) {
		snprintf(why, whylen, "slab %u is not granted to this session", slab);
		return -EPERM;
	}
	if (len > p->slab_size || off > p->slab_size - len) {
		snprintf(why, whylen,
			 "%u bytes at offset %" PRIu64 " go past the end of "
			 "slab %u (%" PRIu64 " bytes)",
			 len, off, slab, p->slab_size);
		return -EINVAL;
	}
	*mem = pool_slab_mem(p, slab) + off;
	return 0;
}

uint64_t pool_reap(struct memd_pool *p)
{
	uint64_t now = vf_now_ms(), next = UINT64_MAX;
	struct memd_session *s, *dead = NULL, *n;
	uint32_t *ids;
	uint32_t k;

	pthread_mutex_lock(&p->lock);
	for (struct memd_grant *g = p->grants, *gn; g; g = gn) {
		gn = g->next;
		if (g->grantee)
			continue;
		if (now >= g->expires) {
			vf_notice("grant %" PRIu64 " of session %" PRIu64 " '%s' (%u slab(s)) "
				  "expired unaccepted: the slabs stay the issuer's",
				  g->id, g->issuer->id, g->issuer->name, g->n);
			do_grant_end(p, g);
		} else if (g->expires - now < next) {
			next = g->expires - now;
		}
	}
	for (s = p->sessions; s; s = n) {
		n = s->next;
		if (s->conn)
			continue;
		if (now - s->detached_at >= p->lease_ms) {
			do_session_grants(p, s);
			do_unlink(p, s);
			s->next = dead;
			dead = s;
		} else if (s->detached_at + p->lease_ms - now < next) {
			next = s->detached_at + p->lease_ms - now;
		}
	}
	pthread_mutex_unlock(&p->lock);

	for (s = dead; s; s = n) {
		n = s->next;
		ids = malloc(sizeof(*ids) * (s->nslabs ? s->nslabs : 1));
		pthread_mutex_lock(&p->lock);
		if (!ids) {
			/* keep it for the next round */
			s->next = p->sessions;
			s->prev = NULL;
			if (s->next)
				s->next->prev = s;
			p->sessions = s;
			p->nsessions++;
			pthread_mutex_unlock(&p->lock);
			next = 1000;
			continue;
		}
		k = do_take_all(p, s, ids);
		/* not zeroed here: thousands of slabs at once would stall the
		 * main loop (accepting, handshakes, leases) */
		do_queue_dirty(p, ids, k);
		pthread_mutex_unlock(&p->lock);
		vf_notice("session %" PRIu64 " '%s' (%s): no reconnect within the lease "
			  "(%" PRIu64 " ms): freed its %u slab%s",
			  s->id, s->name, s->peer, p->lease_ms, k, k == 1 ? "" : "s");
		free(ids);
		free(s);
	}
	return next;
}

void pool_stats(struct memd_pool *p, struct memd_session *s, struct vf_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->lock);
	st->capacity = p->size;
	st->slab_size = p->slab_size;
	st->slabs_total = p->nslabs;
	st->slabs_granted = p->ngranted;
	st->slabs_free = p->nslabs - p->ngranted;
	st->clients = p->nclients;
	st->sessions = p->nsessions;
	st->session_slabs = s ? s->nslabs : 0;
	pthread_mutex_unlock(&p->lock);
	st->bytes_read = __atomic_load_n(&p->bytes_read, __ATOMIC_RELAXED);
	st->bytes_written = __atomic_load_n(&p->bytes_written, __ATOMIC_RELAXED);
	st->reads = __atomic_load_n(&p->reads, __ATOMIC_RELAXED);
	st->writes = __atomic_load_n(&p->writes, __ATOMIC_RELAXED);
}

void pool_log_stats(struct memd_pool *p)
{
	struct vf_stats st;
	char cap[32], ss[32], rd[32], wr[32];

	pool_stats(p, NULL, &st);
	vf_notice("stats: capacity %s in %" PRIu64 " slabs of %s: %" PRIu64 " granted, %" PRIu64
		  " free; %" PRIu64 " clients connected, %" PRIu64 " sessions; read %s "
		  "in %" PRIu64 " requests, written %s in %" PRIu64 " requests",
		  vf_format_size(st.capacity, cap, sizeof(cap)), st.slabs_total,
		  vf_format_size(st.slab_size, ss, sizeof(ss)), st.slabs_granted, st.slabs_free,
		  st.clients, st.sessions, vf_format_size(st.bytes_read, rd, sizeof(rd)), st.reads,
		  vf_format_size(st.bytes_written, wr, sizeof(wr)), st.writes);
}

/* ---- grants ---- */

/* The grant the token names (p->lock held), compared in constant time. */
static struct memd_grant *do_find_grant(struct memd_pool *p, const uint8_t token[VF_GRANT_LEN])
{
	struct memd_grant *found = NULL;

	for (struct memd_grant *g = p->grants; g; g = g->next)
		if (vf_mac_equal(g->token, token))
			found = g;
	return found;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int pool_grant(struct memd_pool *p, struct memd_session *s, uint8_t token[VF_GRANT_LEN],
	       uint32_t ttl_ms, uint32_t n, const uint32_t *ids, uint32_t *total, char *why,
	       size_t whylen)
{
	struct memd_grant *g = NULL;
	bool fresh = vf_all_zero(token, VF_GRANT_LEN);
	uint32_t i;
	int ret;

	pthread_mutex_lock(&p->lock);
	if (!fresh) {
		g = do_find_grant(p, token);
		if (!g || g->issuer != s) {
			snprintf(why, whylen, "no grant of this session has that token");
			ret = -EACCES;
			goto out;
		}
		if (g->grantee) {
			snprintf(why, whylen,
				 "grant %" PRIu64 " is accepted: it takes no more slabs", g->id);
			ret = -EBUSY;
			goto out;
		}
	} else if (s->ngrants >= MEMD_MAX_GRANTS) {
		snprintf(why, whylen, "this session has %u grants open already (at most %u)",
			 s->ngrants, MEMD_MAX_GRANTS);
		ret = -EMFILE;
		goto out;
	}
	ret = 0;
	for (i = 0; i < n && !ret; i++) {
		if (ids[i] >= p->nslabs || owner_of(p, ids[i]) != s) {
			snprintf(why, whylen, "slab %u is not granted to this session", ids[i]);
			ret = -EPERM;
		} else if (p->slabs[ids[i]].grant) {
			snprintf(why, whylen, "slab %u is in a grant already (or listed twice)",
				 ids[i]);
			ret = -EBUSY;
		} else {
			/* a mark against a slab listed twice, undone below */
			p->slabs[ids[i]].grant = (struct memd_grant *)1;
		}
	}
	for (uint32_t j = 0; j < (ret ? i - 1 : n); j++)
		p->slabs[ids[j]].grant = NULL;
	if (ret)
		goto out;
	if (fresh) {
		g = calloc(1, sizeof(*g));
		ret = g ? vf_random(g->token, VF_GRANT_LEN) : -ENOMEM;
		if (ret) {
			free(g);
			snprintf(why, whylen, "cannot make a grant: %s", strerror(-ret));
			goto out;
		}
		g->id = ++p->next_grant_id;
		g->issuer = s;
		g->expires = vf_now_ms() + ttl_ms;
		g->next = p->grants;
		p->grants = g;
		s->ngrants++;
	}
	if (g->n + n > g->cap) {
		uint32_t cap = MAX(g->n + n, g->cap * 2);
		uint32_t *ids2 = realloc(g->ids, sizeof(*ids2) * cap);

		if (!ids2) {
			snprintf(why, whylen, "no memory for %u more slabs in a grant", n);
			if (!g->n)
				do_grant_end(p, g);
			ret = -ENOMEM;
			goto out;
		}
		g->ids = ids2;
		g->cap = cap;
	}
	for (i = 0; i < n; i++) {
		g->ids[g->n++] = ids[i];
		p->slabs[ids[i]].grant = g;
	}
	qsort(g->ids, g->n, sizeof(*g->ids), cmp_u32);
	memcpy(token, g->token, VF_GRANT_LEN);
	*total = g->n;
	vf_info("session %" PRIu64 " '%s': grant %" PRIu64 " now shares %u slab(s), "
		"to be accepted within %u ms",
		s->id, s->name, g->id, g->n, ttl_ms);
	ret = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_accept(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
		uint32_t first, uint32_t max, uint32_t *ids, uint32_t *count, uint32_t *total,
		char *why, size_t whylen)
{
	struct memd_grant *g;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	g = do_find_grant(p, token);
	if (!g) {
		snprintf(why, whylen,
			 "no such grant: a forged token, or one used or withdrawn "
			 "already");
		ret = -EACCES;
		goto out;
	}
	if (g->grantee && g->grantee != s) {
		snprintf(why, whylen, "grant %" PRIu64 " was accepted by another session", g->id);
		ret = -EACCES;
		goto out;
	}
	if (g->issuer == s) {
		snprintf(why, whylen, "a session cannot accept its own grant");
		ret = -EACCES;
		goto out;
	}
	if (!g->grantee) {
		if (vf_now_ms() >= g->expires) {
			snprintf(why, whylen, "grant %" PRIu64 " expired before it was accepted",
				 g->id);
			vf_notice("grant %" PRIu64 " of session %" PRIu64 " '%s': expired; "
				  "the slabs stay the issuer's",
				  g->id, g->issuer->id, g->issuer->name);
			do_grant_end(p, g);
			ret = -ETIME;
			goto out;
		}
		g->grantee = s;
		s->nshared += g->n;
		for (uint32_t i = 0; i < g->n; i++)
			set_shared(p, g->ids[i], s);
		vf_notice("grant %" PRIu64 ": session %" PRIu64 " '%s' shares %u slab(s) of "
			  "session %" PRIu64 " '%s'",
			  g->id, s->id, s->name, g->n, g->issuer->id, g->issuer->name);
	}
	*total = g->n;
	*count = 0;
	for (uint32_t i = first; i < g->n && *count < max; i++)
		ids[(*count)++] = g->ids[i];
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_give(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
	      uint32_t **ids, uint32_t *n, char *why, size_t whylen)
{
	struct memd_grant *g;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&p->lock);
	g = do_find_grant(p, token);
	if (!g || g->issuer != s) {
		snprintf(why, whylen, "no grant of this session has that token");
		ret = -EACCES;
		goto out;
	}
	if (!g->grantee) {
		snprintf(why, whylen, "grant %" PRIu64 " is not accepted: nobody to give it to",
			 g->id);
		ret = -EINVAL;
		goto out;
	}
	*ids = malloc(sizeof(**ids) * g->n);
	if (!*ids) {
		ret = -ENOMEM;
		snprintf(why, whylen, "no memory");
		goto out;
	}
	memcpy(*ids, g->ids, sizeof(**ids) * g->n);
	*n = g->n;
	vf_notice("grant %" PRIu64 ": session %" PRIu64 " '%s' gives its %u slab(s) to session "
		  "%" PRIu64 " '%s'",
		  g->id, s->id, s->name, g->n, g->grantee->id, g->grantee->name);
	do_grant_give(p, g);
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_revoke(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
		uint32_t **ids, uint32_t *n, char *why, size_t whylen)
{
	struct memd_grant *g;
	struct memd_session *grantee;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&p->lock);
	g = do_find_grant(p, token);
	if (!g || (g->issuer != s && g->grantee != s)) {
		snprintf(why, whylen, "no grant of this session has that token");
		ret = -EACCES;
		goto out;
	}
	grantee = g->grantee;
	if (grantee == s) {
		*ids = malloc(sizeof(**ids) * g->n);
		if (*ids) {
			memcpy(*ids, g->ids, sizeof(**ids) * g->n);
			*n = g->n;
		}
	} else if (grantee && grantee->conn && grantee->onesided) {
		/* its registrations of these slabs go with its connection: it
		 * resumes, and learns what it may still reach (LIST) */
		grantee->kick(grantee->conn);
	}
	vf_notice("grant %" PRIu64 " of session %" PRIu64 " '%s' (%u slab(s)) revoked by %s", g->id,
		  g->issuer->id, g->issuer->name, g->n,
		  g->issuer == s ? "its issuer" : "its grantee");
	do_grant_end(p, g);
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}
