/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Consistency check of a device's Manifest.db against its backup directory (manifest.c). */
#pragma once

#include <stddef.h>

typedef struct sqlite3 sqlite3;

/* backup_dir is the <UDID> directory holding Manifest.db and xx/<fileID>. 0 when every row
 * is safe, matches its fileID and has its data; -EBADMSG with a sentence in why otherwise;
 * -ENOMEM. Unencrypted backups only (an encrypted Manifest.db needs the password). */
int manifest_check(const char *backup_dir, char *why, size_t why_len);
/* The same on an open Manifest.db (for an encrypted backup: the decrypted copy, see
 * crypt_manifest_db_open()); backup_dir holds the xx/<fileID> files. Borrows db. */
int manifest_check_db(sqlite3 *db, const char *backup_dir, char *why, size_t why_len);
