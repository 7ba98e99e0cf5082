// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "vofirm/mount.h"

/* mountinfo writes ' ', '\t', '\n' and '\\' in paths as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * With mountpoint: the device of the vofirm-fs mount there, the last one
 * listed (a later mount at the same place is on top).  Without: whether
 * *dev is a vofirm-fs mount.  0, -ENOENT or -errno.
 */
static int scan(const char *mountpoint, dev_t *dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
	while (getline(&line, &cap, f) > 0) {
		int mp = -1, mp_end = -1;
		unsigned maj, min;
		char *sep;

		if (sscanf(line, "%*s %*s %u:%u %*s %n%*s%n", &maj, &min, &mp, &mp_end) != 2 ||
		    mp_end < 0)
			continue;
		/* nothing before the separator holds " - ": paths are escaped */
		sep = strstr(line + mp_end, " - ");
		if (!sep || strncmp(sep + 3, "fuse.vofirm ", 12))
			continue;
		if (!mountpoint) {
			if (makedev(maj, min) == *dev) {
				ret = 0;
				break;
			}
			continue;
		}
		line[mp_end] = '\0';
		unescape(line + mp);
		if (!strcmp(line + mp, mountpoint)) {
			*dev = makedev(maj, min);
			ret = 0;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

bool vf_on_vofirm(const char *path)
{
	struct statfs sfs;
	struct stat st;

	/* statfs first: only a FUSE mount is worth reading mountinfo for */
	if (statfs(path, &sfs) || sfs.f_type != FUSE_SUPER_MAGIC || stat(path, &st))
		return false;
	return scan(NULL, &st.st_dev) == 0;
}

int vf_vofirm_mount_dev(const char *mountpoint, dev_t *dev)
{
	char *real = realpath(mountpoint, NULL);
	int ret;

	if (!real)
		return -errno;
	ret = scan(real, dev);
	free(real);
	return ret;
}
