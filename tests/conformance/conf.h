/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the conformance clients: stop at the first failed check, saying where. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                  \
        do {                                                                              \
                if (!(cond)) {                                                            \
                        printf("FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
                        printf(__VA_ARGS__);                                              \
                        printf("\n");                                                     \
                        exit(1);                                                          \
                }                                                                         \
        } while (0)
