/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for photo_capture_date() (lib/photo-date.c): the input is a file a
 * device sent as a photo. Whatever it holds, the reader must not crash, read out of
 * bounds or leak, and a date it returns must be in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "photo-date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PhotoDate d;
        int fd = memfd_create("fuzz", MFD_CLOEXEC);

        if (fd < 0)
                return 0;
        if (size > 0 && write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return 0;
        }
        if (photo_capture_date(fd, &d) == 0 &&
            (d.year < 1900 || d.year > 2200 || d.month < 1 || d.month > 12 || d.day < 1 ||
             d.day > 31 || d.hour > 23 || d.minute > 59 || d.second > 60))
                abort();
        close(fd);
        return 0;
}
