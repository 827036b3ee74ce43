/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PropertiesChanged bookkeeping every bus object shares (bus-object.c): setters only
 * mark a property dirty; the manager's flush sends one PropertiesChanged per object per
 * loop iteration. Progress counters are rate-limited to four batches a second, except when
 * forced (0 % and 100 % always go out at once); any other change goes out at once and does
 * not drag the counters along early.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#define BUS_OBJECT_PROGRESS_INTERVAL_USEC 250000u

typedef struct BusObject {
        uint64_t dirty;                         /* bit n: property names[n] changed */
        uint64_t progress_mask;                 /* the rate-limited properties */
        bool forced;                            /* send the counters with the next batch */
        uint64_t last_progress_emit;            /* CLOCK_MONOTONIC µs */
} BusObject;

static inline void bus_object_mark(BusObject *o, unsigned prop) {
        o->dirty |= UINT64_C(1) << prop;
}

/* Emit PropertiesChanged on path/interface for what is dirty; names[n] is property n.
 * now = UINT64_MAX sends everything (the last values before an object goes away). Returns
 * 1 if something was held back by the rate limit (flush again later), else 0. */
int bus_object_flush(BusObject *o, sd_bus *bus, const char *path, const char *interface,
                     const char *const *names, unsigned n_names, uint64_t now);

/* An sd-bus node enumerator's answer: the paths of n objects, path_of(objects, i) each
 * (NULL: that one has no object on the bus), as a NULL-terminated strv in *ret. */
int bus_object_node_list(void *objects, size_t n, const char *(*path_of)(void *objects, size_t i),
                         char ***ret);
