/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the policy parser (daemon/config.c, STYLE.md §10): every input is
 * written to one anonymous file (a memfd, or a /tmp file when memfd_create() is missing),
 * created once and rewritten per run, and applied with policy_parse_file() as a main file
 * on top of the compiled-in defaults. The parser's log hook is silenced so the fuzzer's
 * output stays readable; ASan/UBSan and the parser's own asserts are the oracle.
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int input_fd = -1;
static char input_path[64];

static void silent_log(int level, const char *file, unsigned line, const char *message,
                       void *userdata) {
}

static void remove_input(void) {
        if (input_path[0] == '/' && input_path[1] == 't')
                unlink(input_path);
}

static void setup(void) {
        input_fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (input_fd >= 0) {
                snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd);
        } else {
                snprintf(input_path, sizeof(input_path), "/tmp/fuzz-config.XXXXXX");
                input_fd = mkstemp(input_path);
                if (input_fd < 0)
                        abort();
                atexit(remove_input);
        }
        policy_set_log_func(silent_log, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Policy p;
        size_t off = 0;

        if (input_fd < 0)
                setup();
        if (ftruncate(input_fd, 0) < 0)
                abort();
        while (off < size) {
                ssize_t n = pwrite(input_fd, data + off, size - off, (off_t) off);

                if (n <= 0)
                        abort();
                off += (size_t) n;
        }

        policy_init_defaults(&p);
        (void) policy_parse_file(input_path, true, &p);
        policy_done(&p);
        return 0;
}
