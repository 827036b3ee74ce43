/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batched, rate-limited PropertiesChanged (see bus-object.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-object.h"

int bus_object_flush(BusObject *o, sd_bus *bus, const char *path, const char *interface,
                     const char *const *names, unsigned n_names, uint64_t now) {
        const char *list[65];
        uint64_t send = o->dirty;
        bool too_soon;
        unsigned n = 0;

        if (!o->dirty || !bus)
                return 0;
        too_soon = now != UINT64_MAX && !o->forced &&
                   now - o->last_progress_emit < BUS_OBJECT_PROGRESS_INTERVAL_USEC;
        /* Only counters changed, and the last batch is less than 250 ms old: later. */
        if (too_soon && !(send & ~o->progress_mask))
                return 1;
        /* Other changes go out now, without dragging the counters along too early. */
        if (too_soon)
                send &= ~o->progress_mask;
        for (unsigned p = 0; p < n_names && p < 64; p++)
                if (send & (UINT64_C(1) << p))
                        list[n++] = names[p];
        list[n] = NULL;
        o->dirty &= ~send;
        if (send & o->progress_mask) {
                o->last_progress_emit = now == UINT64_MAX ? 0 : now;
                o->forced = false;
        }
        if (n > 0)
                (void) sd_bus_emit_properties_changed_strv(bus, path, interface, (char **) list);
        return o->dirty ? 1 : 0;
}

int bus_object_node_list(void *objects, size_t n, const char *(*path_of)(void *objects, size_t i),
                         char ***ret) {
        char **l = calloc(n + 1, sizeof(char *));
        size_t k = 0;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *p = path_of(objects, i);

                if (!p)
                        continue;
                l[k] = strdup(p);
                if (!l[k]) {
                        while (k > 0)
                                free(l[--k]);
                        free(l);
                        return -ENOMEM;
                }
                k++;
        }
        *ret = l;
        return 0;
}
