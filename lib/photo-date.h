/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
typedef struct PhotoDate { int year, month, day, hour, minute, second; } PhotoDate;
int photo_capture_date(int fd, PhotoDate *ret);
