/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus names of org.idevicesync1, in one place for the daemon and the CLI: the bus
 * name, object paths, interfaces and the named errors (daemon/org.idevicesync1.xml is the
 * contract; idevicesyncd(8) documents each error).
 */
#pragma once

#define BUS_NAME "org.idevicesync1"
#define BUS_PATH_MANAGER "/org/idevicesync1"
#define BUS_PATH_DEVICE_PREFIX "/org/idevicesync1/device"
#define BUS_PATH_JOB_PREFIX "/org/idevicesync1/job"
#define BUS_PATH_REQUEST_PREFIX "/org/idevicesync1/request"

#define BUS_IFACE_MANAGER "org.idevicesync1.Manager"
#define BUS_IFACE_DEVICE "org.idevicesync1.Device"
#define BUS_IFACE_JOB "org.idevicesync1.Job"
#define BUS_IFACE_REQUEST "org.idevicesync1.Request"

#define BUS_ERROR_POLICY_DENIED "org.idevicesync1.Error.PolicyDenied"
#define BUS_ERROR_BUSY "org.idevicesync1.Error.Busy"
#define BUS_ERROR_NOT_CONNECTED "org.idevicesync1.Error.NotConnected"
#define BUS_ERROR_NO_SUCH_SNAPSHOT "org.idevicesync1.Error.NoSuchSnapshot"
#define BUS_ERROR_NO_SUCH_DEVICE "org.idevicesync1.Error.NoSuchDevice"
#define BUS_ERROR_NO_JOB "org.idevicesync1.Error.NoJob"
