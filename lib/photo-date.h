/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When a photo was taken, as its camera wrote it (photo-date.c): EXIF DateTimeOriginal,
 * else DateTimeDigitized, else IFD0 DateTime, from a JPEG's APP1 segment or an HEIF/HEIC
 * file's Exif item. The EXIF itself is parsed by libexif; this file only finds it. Every
 * size in the file is untrusted: reads are bounded, nothing is allocated from a declared
 * size, and a truncated or lying file gives -ENODATA, never a crash.
 */
#pragma once

typedef struct PhotoDate {
        int year, month, day, hour, minute, second;     /* wall-clock time of the camera */
} PhotoDate;

/* Capture date of the image in fd (read with pread from 0; the offset is not used).
 * 0 and *ret set; -ENODATA when there is no usable date (not JPEG/HEIF, no Exif, a zero
 * or out-of-range date); -errno on read errors. */
int photo_capture_date(int fd, PhotoDate *ret);
