/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What pim-records-contacts.c (which holds the public pim_from_records(),
 * pim_main_record(), pim_child_records() and dispatches by kind) calls for events, which
 * pim-records-events.c implements. Same arguments and returns as the public functions in
 * pim.h, for PIM_EVENT only.
 */
#pragma once

#include <plist/plist.h>

#include "pim.h"

int pim_event_from_records(const PimRecords *r, const char *calendar_title, PimItem **ret, char **ret_reason);
int pim_event_main_record(PimItem *it, const char *calendar_id, plist_t *ret);
int pim_event_child_records(PimItem *it, const char *parent_id, const char *child_prefix, plist_t *ret);
