/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What pim-records-contacts.c (the dispatch on PimKind) calls in pim-records-events.c.
 */
#pragma once

#include "pim.h"

int pim_event_from_records(const PimRecords *r, const char *calendar_title, PimItem **ret,
                           char **ret_reason);
int pim_event_main_record(PimItem *it, const char *calendar_id, plist_t *ret);
int pim_event_child_records(PimItem *it, const char *parent_id, const char *child_prefix,
                            plist_t *ret);
