/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-device lock (see lock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "fs-util.h"
#include "lock.h"
#include "udid.h"
#include "util.h"

int device_lock_take(const char *state_dir, const char *udid) {
        _cleanup_(closep) int state_fd = -EBADF, device_fd = -EBADF, fd = -EBADF;
        int r;

        if (!state_dir || !*state_dir || !udid_is_valid(udid))
                return -EINVAL;
        r = fs_mkdir_parents(state_dir, 0700);
        if (r < 0)
                return r;
        state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0)
                return -errno;
        device_fd = fs_open_subdir(state_fd, udid, true);
        if (device_fd < 0)
                return device_fd;
        fd = openat(device_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        return TAKE_FD(fd);
}
