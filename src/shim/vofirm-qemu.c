// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libvofirm-qemu.so: a companion for QEMU, loaded with LD_PRELOAD.  It
 * changes nothing but mappings of vofirm files.
 *
 * QEMU ignores a failed ftruncate() of a new memory-backend-file (QEMU 7.2
 * file_ram_alloc: "don't bother bailing out on errors") and maps the file
 * anyway; the guest would then get SIGBUS on every page the pool could not
 * cover.  vofirm-fs refuses the size with ENOSPC; this shim turns that into
 * a failed object-add: a MAP_SHARED mapping of a file on a vofirm mount
 * that reaches past the file's end fails with ENOSPC, and QEMU reports
 * "unable to map backing store for guest RAM: No space left on device".
 *
 * QEMU also marks every RAM block MADV_HUGEPAGE, file-backed ones included,
 * and for such a file mapping the kernel reads 2-4 MiB around every page
 * cache miss whatever the readahead says: under a local memory budget that
 * multiplies remote traffic many times.  The shim drops MADV_HUGEPAGE on
 * the mappings of vofirm files it has seen (guest base RAM keeps it).
 * VOFIRM_QEMU_FILE_ADVICE=none (default: drop it), random (MADV_RANDOM
 * instead: a miss reads one page) or keep (QEMU's own choice).
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*madvise_fn)(void *, size_t, int);

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int madvise(void *addr, size_t len, int advice);

/* The shared mappings of vofirm files (guest RAM blocks: a handful). */
#define MAX_MAPS 256
static struct {
	uintptr_t start, end;
} maps[MAX_MAPS];
static unsigned nmaps;
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(void *addr, size_t len)
{
	pthread_mutex_lock(&maps_lock);
	if (nmaps < MAX_MAPS)
		maps[nmaps++] = (__typeof__(maps[0])){ (uintptr_t)addr, (uintptr_t)addr + len };
	pthread_mutex_unlock(&maps_lock);
}

static int is_vofirm_range(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, e = a + len;
	int yes = 0;

	pthread_mutex_lock(&maps_lock);
	for (unsigned i = 0; i < nmaps && !yes; i++)
		yes = a >= maps[i].start && e <= maps[i].end;
	pthread_mutex_unlock(&maps_lock);
	return yes;
}

/*
 * Whether the device is a vofirm mount, from /proc/self/mountinfo: the scan
 * of src/lib/mount.c again, for a device and cached, as this runs on every
 * shared mapping QEMU makes.  A copy, because this library is preloaded into
 * QEMU and so is built from this file alone against libc: libvofirm.a is
 * instrumented in `make asan`, and a sanitized library cannot be preloaded
 * into an uninstrumented QEMU; and every global symbol linked in here would
 * be interposed on QEMU's own.
 */
static int dev_is_vofirm(dev_t dev)
{
	static struct {
		dev_t dev;
		int yes;
	} cache[16];
	static unsigned ncache;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char line[4096], want[32];
	int yes = 0;
	FILE *f;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ncache; i++)
		if (cache[i].dev == dev) {
			yes = cache[i].yes;
			pthread_mutex_unlock(&lock);
			return yes;
		}
	snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, want) && strstr(line, " - fuse.vofirm "))
			yes = 1;
	if (f)
		fclose(f);
	if (ncache < 16)
		cache[ncache++] = (__typeof__(cache[0])){ dev, yes };
	pthread_mutex_unlock(&lock);
	return yes;
}

static void *guarded(mmap_fn real, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct statfs sfs;
	struct stat st;
	void *p;

	if (fd < 0 || !(flags & MAP_SHARED) || fstatfs(fd, &sfs) ||
	    sfs.f_type != FUSE_SUPER_MAGIC || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    !dev_is_vofirm(st.st_dev))
		return real(addr, len, prot, flags, fd, off);
	if ((uint64_t)off + len > (uint64_t)st.st_size) {
		fprintf(stderr,
			"libvofirm-qemu: refusing to map %zu bytes at offset %lld of a "
			"vofirm file of %lld bytes: the memory pool did not cover its size "
			"(see the vofirm-fs log)\n",
			len, (long long)off, (long long)st.st_size);
		errno = ENOSPC;
		return MAP_FAILED;
	}
	p = real(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		remember(p, len);
	return p;
}

int madvise(void *addr, size_t len, int advice)
{
	static madvise_fn real;
	const char *how;

	if (!real)
		real = (madvise_fn)dlsym(RTLD_NEXT, "madvise");
	if (advice == MADV_HUGEPAGE && is_vofirm_range(addr, len)) {
		how = getenv("VOFIRM_QEMU_FILE_ADVICE");
		if (!how || !strcmp(how, "none"))
			return 0; /* a miss reads the normal readahead, not 2-4 MiB */
		if (!strcmp(how, "random"))
			return real(addr, len, MADV_RANDOM);
	}
	return real(addr, len, advice);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static mmap_fn real;

	if (!real)
		real = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
	return guarded(real, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static mmap_fn real;

	if (!real)
		real = (mmap_fn)dlsym(RTLD_NEXT, "mmap64");
	return guarded(real, addr, len, prot, flags, fd, off);
}
