/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first hop of a plug, as udev sees the cable: a libudev monitor (netlink "udev",
 * usb/usb_device) on the event loop, started before the devices already present are
 * enumerated so that none falls into the gap. An Apple phone or tablet (vendor 05ac,
 * products 0x1290…0x12af, what usbmuxd handles) is mapped to its UDID from its USB serial
 * as usbmuxd does it, and handed to manager_on_usb_plugged()/_unplugged().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libudev.h>

#include "log.h"
#include "manager.h"
#include "udid.h"

static void handle_udev_device(Manager *m, struct udev_device *dev, const char *action) {
        const char *syspath = udev_device_get_syspath(dev);
        const char *vendor, *product, *serial;
        char udid[UDID_MAX + 1];

        /* unbind/offline come just before remove on a real unplug: not a plug. */
        if (action && strcmp(action, "add") != 0 && strcmp(action, "change") != 0 &&
            strcmp(action, "bind") != 0 && strcmp(action, "remove") != 0)
                return;
        if (action && strcmp(action, "remove") == 0) {
                manager_on_usb_unplugged(m, syspath);
                return;
        }
        vendor = udev_device_get_property_value(dev, "ID_VENDOR_ID");
        if (!vendor)
                vendor = udev_device_get_sysattr_value(dev, "idVendor");
        product = udev_device_get_property_value(dev, "ID_MODEL_ID");
        if (!product)
                product = udev_device_get_sysattr_value(dev, "idProduct");
        if (!vendor || strcasecmp(vendor, "05ac") != 0 || !product)
                return;
        /* iPhone, iPad, iPod touch: 0x1290…0x12af (what usbmuxd handles). */
        unsigned long pid = strtoul(product, NULL, 16);
        if (pid < 0x1290 || pid > 0x12af)
                return;
        serial = udev_device_get_property_value(dev, "ID_SERIAL_SHORT");
        if (!serial)
                serial = udev_device_get_sysattr_value(dev, "serial");
        if (!udid_from_usb_serial(serial, udid, sizeof(udid)))
                return;
        manager_on_usb_plugged(m, udid, syspath);
}

static int on_udev(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct udev_device *dev;

        while ((dev = udev_monitor_receive_device(m->udev_monitor))) {
                handle_udev_device(m, dev, udev_device_get_action(dev));
                udev_device_unref(dev);
        }
        return 0;
}

int manager_udev_start(Manager *m) {
        struct udev_enumerate *en;
        struct udev_list_entry *e;
        int r;

        m->udev = udev_new();
        if (!m->udev)
                return -ENOMEM;
        m->udev_monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        if (!m->udev_monitor)
                log_warning("No udev monitor, USB plugs are only seen through usbmuxd");
        else {
                (void) udev_monitor_filter_add_match_subsystem_devtype(m->udev_monitor, "usb",
                                                                       "usb_device");
                /* A burst (a hub with several phones) must not overflow the socket. */
                (void) udev_monitor_set_receive_buffer_size(m->udev_monitor, 4 * 1024 * 1024);
                r = udev_monitor_enable_receiving(m->udev_monitor);
                if (r < 0)
                        log_warning_errno(r, "Cannot receive udev events, ignoring: %m");
                else {
                        r = sd_event_add_io(m->event, &m->udev_source,
                                            udev_monitor_get_fd(m->udev_monitor), EPOLLIN,
                                            on_udev, m);
                        if (r < 0)
                                return r;
                }
        }

        /* Monitor first, then enumerate: nothing falls into the gap. */
        en = udev_enumerate_new(m->udev);
        if (!en)
                return -ENOMEM;
        (void) udev_enumerate_add_match_subsystem(en, "usb");
        (void) udev_enumerate_add_match_property(en, "DEVTYPE", "usb_device");
        (void) udev_enumerate_scan_devices(en);
        udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en)) {
                struct udev_device *dev =
                        udev_device_new_from_syspath(m->udev, udev_list_entry_get_name(e));
                if (dev) {
                        handle_udev_device(m, dev, NULL);
                        udev_device_unref(dev);
                }
        }
        udev_enumerate_unref(en);
        return 0;
}

void manager_udev_stop(Manager *m) {
        m->udev_source = sd_event_source_disable_unref(m->udev_source);
        if (m->udev_monitor)
                m->udev_monitor = udev_monitor_unref(m->udev_monitor);
        if (m->udev)
                m->udev = udev_unref(m->udev);
}
