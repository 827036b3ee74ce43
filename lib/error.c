/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error meanings: every foreign error (libimobiledevice's lockdownd, mobilebackup2, AFC,
 * the device's final MBErrorDomain code) is translated here once, into a negative errno
 * or a named IDS_E_* outcome with one word and one sentence for the user.
 */
#include <errno.h>
#include <string.h>

#include <libimobiledevice/afc.h>
#include <libimobiledevice/lockdown.h>
#include <libimobiledevice/mobilebackup2.h>

#include "error.h"
#include "idevicesync.h"
#include "util.h"

static const struct {
        const char *word;
        const char *message;
} results[_IDS_E_MAX] = {
        [0] = { "done", "The operation finished." },
        [IDS_E_NOT_PAIRED] = { "not-trusted", "The device does not know this computer and "
                               "cannot pair now; unlock it and reconnect." },
        [IDS_E_TRUST_PENDING] = { "not-trusted", "Waiting for \"Trust This Computer?\" to be "
                                  "answered on the device." },
        [IDS_E_NOT_TRUSTED] = { "not-trusted", "The user tapped \"Don't Trust\" on the device." },
        [IDS_E_LOCKED] = { "locked", "The device is locked with a passcode; unlock it." },
        [IDS_E_PASSCODE_TIMEOUT] = { "passcode-timeout", "Nobody entered the passcode on the "
                                     "device in time (error 208)." },
        [IDS_E_WRONG_PASSWORD] = { "wrong-password", "The backup password is wrong or missing "
                                   "(error 207)." },
        [IDS_E_DISK_FULL] = { "disk-full", "Not enough free space for the backup on this "
                              "computer." },
        [IDS_E_NEEDS_REBOOT] = { "needs-reboot", "The device has a stale snapshot; restart the "
                                 "device and try again (error 3)." },
        [IDS_E_SETUP_NOT_DONE] = { "failed", "The device cannot be backed up until its setup "
                                   "is finished (error 212)." },
        [IDS_E_BUSY] = { "busy", "Another program or operation is using the device." },
        [IDS_E_CANCELLED] = { "cancelled", "The operation was cancelled." },
        [IDS_E_DISCONNECTED] = { "disconnected", "The device was disconnected." },
        [IDS_E_PROTOCOL] = { "protocol-error", "The device broke the backup protocol; nothing "
                             "it sent was kept." },
        [IDS_E_ENCRYPTION_REQUIRED] = { "encryption-required", "Policy requires an encrypted "
                                        "backup but the device's backups are not encrypted." },
        [IDS_E_DEVICE_ERROR] = { "failed", "The device ended the backup with an error." },
        [IDS_E_TIMEOUT] = { "failed", "The device stopped answering." },
        [IDS_E_WAITING_DECISION] = { "waiting-for-decision", "A question on the bus must be "
                                     "answered first (idevicesync requests)." },
        [IDS_E_UNSUPPORTED] = { "unsupported", "This device or its iOS version does not allow "
                                "it; the reason says why." },
        [IDS_E_BACKUP_DAMAGED] = { "backup-damaged", "The backup does not verify; nothing was "
                                   "sent to the device." },
        [IDS_E_IOS_TOO_OLD] = { "ios-too-old", "The device runs an older iOS than the backup; "
                                "update the device first." },
        [IDS_E_TARGET_FULL] = { "target-full", "The device has less free space than the "
                                "backup needs." },
        [IDS_E_FIND_MY] = { "find-my-enabled", "Find My is on: turn it off on the device "
                            "(Settings, your name, Find My) and try again." },
};

_public_ const char *ids_result_to_string(int r) {
        if (r < 0 || r >= _IDS_E_MAX)
                return "failed";
        return results[r].word;
}

_public_ const char *ids_result_message(int r) {
        if (r < 0 || r >= _IDS_E_MAX)
                return "The operation failed.";
        return results[r].message;
}

static const char *const phases[_IDS_PHASE_MAX] = {
        [IDS_PHASE_CONNECTING] = "connecting",
        [IDS_PHASE_WAITING_PASSCODE] = "waiting-for-passcode",
        [IDS_PHASE_PREPARING] = "preparing",
        [IDS_PHASE_TRANSFER] = "transfer",
        [IDS_PHASE_FINISHING] = "finishing",
        [IDS_PHASE_COMMITTING] = "committing",
        [IDS_PHASE_VERIFYING] = "verifying",
        [IDS_PHASE_SCANNING] = "scanning",
        [IDS_PHASE_COPYING] = "copying",
        [IDS_PHASE_VERIFYING_BACKUP] = "verifying-backup",
        [IDS_PHASE_DEVICE_RESTORING] = "device-restoring",
};

_public_ const char *ids_phase_to_string(ids_phase p) {
        if ((unsigned) p >= _IDS_PHASE_MAX)
                return "unknown";
        return phases[p];
}

int lockdown_error_to_result(lockdownd_error_t e) {
        switch (e) {
        case LOCKDOWN_E_SUCCESS:
                return 0;
        case LOCKDOWN_E_PAIRING_DIALOG_RESPONSE_PENDING:
                return IDS_E_TRUST_PENDING;
        case LOCKDOWN_E_USER_DENIED_PAIRING:
                return IDS_E_NOT_TRUSTED;
        case LOCKDOWN_E_PASSWORD_PROTECTED:
        case LOCKDOWN_E_ESCROW_LOCKED:
                return IDS_E_LOCKED;
        case LOCKDOWN_E_INVALID_HOST_ID:
        case LOCKDOWN_E_MISSING_HOST_ID:
        case LOCKDOWN_E_PAIRING_FAILED:
        case LOCKDOWN_E_INVALID_PAIR_RECORD:
        case LOCKDOWN_E_MISSING_PAIR_RECORD:
                return IDS_E_NOT_PAIRED;
        case LOCKDOWN_E_MUX_ERROR:
        case LOCKDOWN_E_SSL_ERROR:
                return IDS_E_DISCONNECTED;
        case LOCKDOWN_E_RECEIVE_TIMEOUT:
                return IDS_E_TIMEOUT;
        case LOCKDOWN_E_INVALID_ARG:
                return -EINVAL;
        case LOCKDOWN_E_PLIST_ERROR:
        case LOCKDOWN_E_INVALID_RESPONSE:
                return IDS_E_PROTOCOL;
        case LOCKDOWN_E_INVALID_SERVICE:
        case LOCKDOWN_E_MISSING_SERVICE:
        case LOCKDOWN_E_SERVICE_PROHIBITED:
                return -EOPNOTSUPP;
        case LOCKDOWN_E_SERVICE_LIMIT:
                return IDS_E_BUSY;
        default:
                return -EIO;
        }
}

int mb2_error_to_result(mobilebackup2_error_t e) {
        switch (e) {
        case MOBILEBACKUP2_E_SUCCESS:
                return 0;
        case MOBILEBACKUP2_E_INVALID_ARG:
                return -EINVAL;
        case MOBILEBACKUP2_E_PLIST_ERROR:
        case MOBILEBACKUP2_E_BAD_VERSION:
        case MOBILEBACKUP2_E_NO_COMMON_VERSION:
        case MOBILEBACKUP2_E_REPLY_NOT_OK:
                return IDS_E_PROTOCOL;
        case MOBILEBACKUP2_E_MUX_ERROR:
        case MOBILEBACKUP2_E_SSL_ERROR:
                return IDS_E_DISCONNECTED;
        case MOBILEBACKUP2_E_RECEIVE_TIMEOUT:
                return IDS_E_TIMEOUT;
        default:
                return -EIO;
        }
}

int device_code_to_result(int code) {
        switch (code) {
        case 0:
                return 0;
        case 1:                 /* keychain: the device got locked during the backup */
                return IDS_E_LOCKED;
        case 3:
                return IDS_E_NEEDS_REBOOT;
        case 105:
                return IDS_E_DISK_FULL;
        case 207:
                return IDS_E_WRONG_PASSWORD;
        case 208:
                return IDS_E_PASSCODE_TIMEOUT;
        case 211:               /* "Find My iPhone must be disabled before restoring" */
                return IDS_E_FIND_MY;
        case 212:
                return IDS_E_SETUP_NOT_DONE;
        default:
                return IDS_E_DEVICE_ERROR;
        }
}

int errno_to_dl_status(int r) {
        /* Device-side DeviceLink error codes (protocols.md §3.4). */
        switch (-r) {
        case ENOENT: return -6;
        case EEXIST: return -7;
        case ENOTDIR: return -8;
        case EISDIR: return -9;
        case ELOOP: return -10;
        case EIO: return -11;
        case ENOSPC: return -15;
        default: return -1;
        }
}
