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
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/* Whether the device is a vofirm mount, from /proc/self/mountinfo. */
static int dev_is_vofirm(dev_t dev)
{
	static struct { dev_t dev; int yes; } cache[16];
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

static void *guarded(mmap_fn real, void *addr, size_t len, int prot, int flags, int fd,
		     off_t off)
{
	struct statfs sfs;
	struct stat st;

	if (fd >= 0 && (flags & MAP_SHARED) && fstatfs(fd, &sfs) == 0 &&
	    sfs.f_type == FUSE_SUPER_MAGIC && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)off + len > (uint64_t)st.st_size && dev_is_vofirm(st.st_dev)) {
		fprintf(stderr, "libvofirm-qemu: refusing to map %zu bytes at offset %lld of a "
			"vofirm file of %lld bytes: the memory pool did not cover its size "
			"(see the vofirm-fs log)\n", len, (long long)off, (long long)st.st_size);
		errno = ENOSPC;
		return MAP_FAILED;
	}
	return real(addr, len, prot, flags, fd, off);
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
