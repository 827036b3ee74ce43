/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restore-offer (issue 17): a device the daemon never backed up attaches while other
 * devices have committed snapshots, so it is probably a new phone replacing one of them.
 * Unlike the other requests it is the daemon's decision, not sync.db's (restore-offer.c):
 *
 *   probe ok → device_evaluate() → restore_offer_check(): NewDevice=ask and candidates →
 *   a restore-offer request (waiting-for-decision, no backup); new → the backup goes on;
 *   restore-latest / restore-from:<UDID> → the restore job starts by itself.
 *   Answer("new") → remembered ([NewDevice] Answer= in the state file), the plan goes on.
 *   Answer("restore:<UDID>") → the restore job of that candidate's snapshot; the offer
 *   stays until it ends "done" (a failed pre-check or transfer leaves it answerable).
 *
 * The offer keeps its number in the state file ([Requests] Request=<n> restore-offer …),
 * and comes back after a restart once every device is loaded (restore_offer_resume()).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "device.h"
#include "request.h"

/* Before the first backup of a connection: 1 when the backup must not run (an offer is
 * open, or a restore was started instead), 0 when it may. */
int restore_offer_check(Device *d);
/* A saved offer of d with no request yet: put it back (1), or 0. */
int restore_offer_resume(Device *d);
/* Answer(choice) to r, a restore-offer. 0 or -errno with error set. */
int restore_offer_answer(Request *r, const char *choice, sd_bus_error *error);
/* The restore job of target d ended (before device_after_side_job()). Done: the answer is
 * remembered and the offer goes. Not done: an open offer stays open; a restore the policy
 * started unasked (restore-latest, restore-from:) puts up the offer instead. */
void restore_offer_job_ended(Device *d, Job *j);
/* Whether j may be cancelled: a restore in transfer or device-restoring only when force
 * (a half-restored phone is worse than a finished one). 0, or -EBUSY with error set. */
int restore_cancel_check(Job *j, bool force, sd_bus_error *error);
