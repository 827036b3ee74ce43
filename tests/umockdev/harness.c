/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * umockdev-harness: a umockdev testbed whose USB devices a shell test plugs and pulls,
 * step by step (testing.md §1.3).
 *
 *   umockdev-wrapper umockdev-harness [-d RECORD]... [--] COMMAND [ARG...]
 *
 * It creates the testbed (which sets UMOCKDEV_DIR), adds the devices of each RECORD (a
 * .umockdev file: present before anything starts, i.e. coldplug), then runs COMMAND as its
 * child. Everything COMMAND starts (the bus, the daemon) inherits LD_PRELOAD and
 * UMOCKDEV_DIR, so it sees the mock /sys and receives the testbed's uevents on its
 * "udev" netlink monitor.
 *
 * COMMAND writes commands to fd 8 and reads one answer line per command from fd 9:
 * "ok [VALUE]" or "error MESSAGE".
 *
 *   add SERIAL [VID PID [PRODUCT]]   plug a USB device (default 05ac 12a8 iPhone) into the
 *                                    first free port of the root hub ("-": no serial);
 *                                    answers "ok SYSPATH" after the "add" uevent was sent
 *   load FILE                        add the devices of a .umockdev record that are not in
 *                                    the testbed yet ("add" uevents)
 *   remove SYSPATH                   "remove" uevent, then the device leaves the testbed
 *   uevent SYSPATH ACTION            any other uevent
 *
 * Exit status: COMMAND's (128 + signal if it was killed); 77 when not run under
 * umockdev-wrapper; 2 on bad usage or a setup error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <umockdev.h>

#define CMD_FD 8    /* the child writes commands here */
#define ANSWER_FD 9 /* and reads the answers here */
#define ROOT_HUB "/sys/devices/pci0000:00/0000:00:14.0/usb1"

static UMockdevTestbed *tb;
static char *hub; /* syspath of the hub new devices are plugged into */
static unsigned next_devnum = 10;

static int answer(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int answer(int fd, const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n > sizeof(buf) - 2)
                n = (int) sizeof(buf) - 2;
        buf[n++] = '\n';
        return write(fd, buf, (size_t) n) == n ? 0 : -errno;
}

static bool in_testbed(const char *syspath) {
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        g_autofree char *p = g_build_filename(root, syspath, NULL);

        return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* The records give usb1 under an xHCI controller; without one, make a bare root hub. */
static const char *get_hub(void) {
        if (hub)
                return hub;
        if (in_testbed(ROOT_HUB))
                hub = g_strdup(ROOT_HUB);
        else
                hub = umockdev_testbed_add_device(
                        tb, "usb", "usb1", NULL, "idVendor", "1d6b", "idProduct", "0002", "busnum",
                        "1", "devnum", "1", NULL, "DEVTYPE", "usb_device", "DRIVER", "usb", NULL);
        return hub;
}

/* Roughly what the kernel and udev's usb_id builtin give an iPhone (iphone.umockdev). */
static char *add_usb(const char *serial, const char *vid, const char *pid, const char *product) {
        unsigned long v = strtoul(vid, NULL, 16), p = strtoul(pid, NULL, 16);
        unsigned devnum = next_devnum++;
        g_autofree char *name = NULL, *devnum_s = g_strdup_printf("%u", devnum);
        g_autofree char *devname = g_strdup_printf("/dev/bus/usb/001/%03u", devnum);
        g_autofree char *prod = g_strdup_printf("%lx/%lx/1507", v, p);
        g_autofree char *devnum3 = g_strdup_printf("%03u", devnum);
        g_autofree char *id_serial = NULL;
        GPtrArray *attrs = g_ptr_array_new(), *props = g_ptr_array_new();
        const char *parent = get_hub();
        char *sys;

        if (!parent)
                return NULL;
        for (unsigned port = 1; port < 128 && !name; port++) {
                g_autofree char *s = g_strdup_printf("%s/1-%u", parent, port);

                if (!in_testbed(s))
                        name = g_strdup_printf("1-%u", port);
        }
        id_serial = g_strdup_printf("%s_%s%s%s", v == 0x5ac ? "Apple_Inc." : "Vendor", product,
                                    serial ? "_" : "", serial ?: "");
        g_strdelimit(id_serial, " ", '_');

        g_ptr_array_add(attrs, (char *) "idVendor");
        g_ptr_array_add(attrs, (char *) vid);
        g_ptr_array_add(attrs, (char *) "idProduct");
        g_ptr_array_add(attrs, (char *) pid);
        g_ptr_array_add(attrs, (char *) "bcdDevice");
        g_ptr_array_add(attrs, (char *) "1507");
        g_ptr_array_add(attrs, (char *) "product");
        g_ptr_array_add(attrs, (char *) product);
        g_ptr_array_add(attrs, (char *) "manufacturer");
        g_ptr_array_add(attrs, (char *) (v == 0x5ac ? "Apple Inc." : "Vendor"));
        g_ptr_array_add(attrs, (char *) "busnum");
        g_ptr_array_add(attrs, (char *) "1");
        g_ptr_array_add(attrs, (char *) "devnum");
        g_ptr_array_add(attrs, devnum_s);
        g_ptr_array_add(attrs, (char *) "bConfigurationValue");
        g_ptr_array_add(attrs, (char *) "4");
        if (serial) {
                g_ptr_array_add(attrs, (char *) "serial");
                g_ptr_array_add(attrs, (char *) serial);
        }
        g_ptr_array_add(attrs, NULL);

        g_ptr_array_add(props, (char *) "DEVTYPE");
        g_ptr_array_add(props, (char *) "usb_device");
        g_ptr_array_add(props, (char *) "DRIVER");
        g_ptr_array_add(props, (char *) "usb");
        g_ptr_array_add(props, (char *) "PRODUCT");
        g_ptr_array_add(props, prod);
        g_ptr_array_add(props, (char *) "TYPE");
        g_ptr_array_add(props, (char *) "0/0/0");
        g_ptr_array_add(props, (char *) "BUSNUM");
        g_ptr_array_add(props, (char *) "001");
        g_ptr_array_add(props, (char *) "DEVNUM");
        g_ptr_array_add(props, devnum3);
        g_ptr_array_add(props, (char *) "DEVNAME");
        g_ptr_array_add(props, devname);
        g_ptr_array_add(props, (char *) "ID_VENDOR_ID");
        g_ptr_array_add(props, (char *) vid);
        g_ptr_array_add(props, (char *) "ID_MODEL_ID");
        g_ptr_array_add(props, (char *) pid);
        g_ptr_array_add(props, (char *) "ID_SERIAL");
        g_ptr_array_add(props, id_serial);
        if (serial) {
                g_ptr_array_add(props, (char *) "ID_SERIAL_SHORT");
                g_ptr_array_add(props, (char *) serial);
        }
        g_ptr_array_add(props, NULL);

        sys = name ? umockdev_testbed_add_devicev(tb, "usb", name, parent, (char **) attrs->pdata,
                                                  (char **) props->pdata)
                   : NULL;
        g_ptr_array_free(attrs, TRUE);
        g_ptr_array_free(props, TRUE);
        return sys;
}

/* Add a .umockdev record, skipping devices already in the testbed (the records share their
 * parents, and umockdev aborts on a device that exists). */
static bool load_record(const char *file, GError **error) {
        g_autofree char *data = NULL, *root = umockdev_testbed_get_root_dir(tb);
        g_auto(GStrv) blocks = NULL;
        g_autoptr(GString) keep = g_string_new(NULL);

        if (!g_file_get_contents(file, &data, NULL, error))
                return false;
        blocks = g_regex_split_simple("\\n[ \\t]*\\n", data, 0, 0);
        for (char **b = blocks; *b; b++) {
                g_autofree char *uevent = NULL;

                if (strncmp(*b, "P: ", 3) != 0)
                        continue;
                uevent = g_strdup_printf("%s/sys%.*s/uevent", root, (int) strcspn(*b + 3, "\n"),
                                         *b + 3);
                if (g_file_test(uevent, G_FILE_TEST_EXISTS))
                        continue;
                g_string_append_printf(keep, "%s\n\n", g_strstrip(*b));
        }
        return keep->len == 0 || umockdev_testbed_add_from_string(tb, keep->str, error);
}

static bool is_hex4(const char *s) {
        return s && strlen(s) == 4 && strspn(s, "0123456789abcdefABCDEF") == 4;
}

static void run_command(char *line, int out) {
        char *save = NULL, *verb = strtok_r(line, " \t", &save);
        char *a1 = strtok_r(NULL, " \t", &save), *a2 = strtok_r(NULL, " \t", &save);
        char *a3 = strtok_r(NULL, " \t", &save), *rest = strtok_r(NULL, "", &save);
        g_autoptr(GError) error = NULL;

        if (!verb) {
                (void) answer(out, "error empty command");
        } else if (strcmp(verb, "add") == 0 && a1 && (!a2 || (is_hex4(a2) && is_hex4(a3)))) {
                g_autofree char *sys = add_usb(strcmp(a1, "-") == 0 ? NULL : a1, a2 ?: "05ac",
                                               a3 ?: "12a8", rest ?: "iPhone");

                if (sys)
                        (void) answer(out, "ok %s", sys);
                else
                        (void) answer(out, "error could not add the device");
        } else if (strcmp(verb, "load") == 0 && a1 && !a2) {
                if (load_record(a1, &error))
                        (void) answer(out, "ok");
                else
                        (void) answer(out, "error %s: %s", a1, error->message);
        } else if (strcmp(verb, "remove") == 0 && a1 && !a2) {
                if (!in_testbed(a1)) {
                        (void) answer(out, "error no device %s", a1);
                        return;
                }
                /* umockdev 0.17.16: remove_device() itself sends no "remove" uevent. */
                umockdev_testbed_uevent(tb, a1, "remove");
                umockdev_testbed_remove_device(tb, a1);
                (void) answer(out, "ok");
        } else if (strcmp(verb, "uevent") == 0 && a1 && a2 && !a3) {
                if (!in_testbed(a1)) {
                        (void) answer(out, "error no device %s", a1);
                        return;
                }
                umockdev_testbed_uevent(tb, a1, a2);
                (void) answer(out, "ok");
        } else {
                (void) answer(out, "error unknown command or bad arguments: %s", verb);
        }
}

/* An fd of ours at or above 10, close-on-exec, so the child's 8 and 9 never collide. */
static int high_fd(int fd) {
        int r = fcntl(fd, F_DUPFD_CLOEXEC, 10);

        close(fd);
        return r;
}

int main(int argc, char **argv) {
        int cmd[2], ans[2], sfd, status = 0, i = 1;
        char buf[8192];
        size_t have = 0;
        bool cmd_open = true;
        sigset_t mask, old;
        pid_t pid;

        /* Child exit and termination requests arrive on a signalfd next to the commands.
         * Block them before umockdev starts threads: those inherit the mask, else one of
         * them takes SIGCHLD (default: discarded) and the signalfd never sees it. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
                return 2;

        tb = umockdev_testbed_new(); /* sets UMOCKDEV_DIR for us and our children */
        /* Only meaningful after testbed_new(): it caches whether /sys is mocked. */
        if (!umockdev_in_mock_environment()) {
                printf("SKIP: umockdev-harness must run under umockdev-wrapper\n");
                return 77;
        }
        for (; i < argc; i++) {
                g_autoptr(GError) error = NULL;

                if (strcmp(argv[i], "--") == 0) {
                        i++;
                        break;
                }
                if (strcmp(argv[i], "-d") != 0 || i + 1 >= argc)
                        break;
                if (!load_record(argv[++i], &error)) {
                        fprintf(stderr, "umockdev-harness: %s: %s\n", argv[i], error->message);
                        return 2;
                }
        }
        if (i >= argc) {
                fprintf(stderr, "usage: umockdev-wrapper umockdev-harness [-d RECORD]... [--] "
                                "COMMAND [ARG...]\n");
                return 2;
        }

        if (pipe(cmd) < 0 || pipe(ans) < 0)
                return 2;
        cmd[0] = high_fd(cmd[0]), cmd[1] = high_fd(cmd[1]);
        ans[0] = high_fd(ans[0]), ans[1] = high_fd(ans[1]);
        if (cmd[0] < 0 || cmd[1] < 0 || ans[0] < 0 || ans[1] < 0)
                return 2;

        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0)
                return 2;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return 2;
        if (pid == 0) {
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                if (dup2(cmd[1], CMD_FD) < 0 || dup2(ans[0], ANSWER_FD) < 0)
                        _exit(127);
                execvp(argv[i], argv + i);
                fprintf(stderr, "umockdev-harness: %s: %s\n", argv[i], strerror(errno));
                _exit(127);
        }
        close(cmd[1]);
        close(ans[0]);
        signal(SIGPIPE, SIG_IGN); /* the child may be gone when we answer */

        for (;;) {
                struct pollfd p[2] = {
                        {.fd = sfd, .events = POLLIN},
                        {.fd = cmd_open ? cmd[0] : -1, .events = POLLIN},
                };
                struct signalfd_siginfo si;
                char *nl;
                ssize_t k;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        if (si.ssi_signo != SIGCHLD)
                                (void) kill(pid, (int) si.ssi_signo);
                        else if (waitpid(pid, &status, WNOHANG) == pid)
                                break;
                }
                if (!(p[1].revents & (POLLIN | POLLHUP)))
                        continue;
                k = read(cmd[0], buf + have, sizeof(buf) - 1 - have);
                if (k <= 0) {
                        cmd_open = false; /* wait for the child to end */
                        continue;
                }
                have += (size_t) k;
                buf[have] = 0;
                while ((nl = strchr(buf, '\n'))) {
                        size_t used = (size_t) (nl - buf) + 1;

                        *nl = 0;
                        run_command(buf, ans[1]);
                        memmove(buf, buf + used, have - used + 1);
                        have -= used;
                }
                if (have == sizeof(buf) - 1) {
                        (void) answer(ans[1], "error command too long");
                        have = 0;
                }
        }
        g_free(hub);
        g_object_unref(tb); /* removes the testbed directory */
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}
