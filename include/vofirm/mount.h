/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finding vofirm-fs mounts (FUSE, subtype "vofirm") in /proc/self/mountinfo. */
#ifndef VOFIRM_MOUNT_H
#define VOFIRM_MOUNT_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Whether path is on a vofirm-fs mount.  It stats path, so it is not for
 * vofirm-fs itself on its own mount; false also when path cannot be
 * looked at.
 */
bool vf_on_vofirm(const char *path);

/*
 * The device (st_dev; its bdi is "MAJOR:MINOR") of the newest vofirm-fs
 * mount at mountpoint, found without touching the mount, which vofirm-fs
 * may not be serving yet.  0, -ENOENT (no vofirm-fs mount there) or -errno.
 */
int vf_vofirm_mount_dev(const char *mountpoint, dev_t *dev);

#endif
