/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translation of foreign error codes into negative errno or IDS_E_* (error.c). */
#pragma once

#include <libimobiledevice/lockdown.h>
#include <libimobiledevice/mobilebackup2.h>

/* lockdownd_error_t → 0, IDS_E_* or -errno. */
int lockdown_error_to_result(lockdownd_error_t e);
/* mobilebackup2_error_t → 0, IDS_E_* or -errno. */
int mb2_error_to_result(mobilebackup2_error_t e);
/* The device's final ErrorCode (MBErrorDomain) → 0 or IDS_E_*. */
int device_code_to_result(int code);
/* Negative errno → the DeviceLink status a device understands (-6 ENOENT, …, -1 other). */
int errno_to_dl_status(int r);
