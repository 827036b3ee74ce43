/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the helper protocol's codecs (daemon/worker-msg.c). Any bytes are
 * parsed as a report and decoded as a request; whatever parses must format again, parse
 * back, and format to the same text (a report the daemon accepts is one a helper sends).
 * A request that decodes must encode again and decode to the same decisions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char buf[WORKER_MSG_MAX + 1];
        WorkerReport r, again;
        WorkerRequest q;
        int n;

        if (worker_report_parse((const char *) data, size, &r) == 0) {
                char out[WORKER_MSG_MAX], out2[WORKER_MSG_MAX];
                int n2;

                n = worker_report_format(&r, out, sizeof(out));
                if (n < 0 || worker_report_parse(out, (size_t) n, &again) != 0)
                        abort();
                n2 = worker_report_format(&again, out2, sizeof(out2));
                if (n2 != n || memcmp(out, out2, (size_t) n) != 0)
                        abort();
        }
        if (size <= WORKER_MSG_MAX) {
                memcpy(buf, data, size);
                if (worker_request_decode(buf, size, &q) == 0) {
                        static char out[WORKER_REQUEST_MAX + 1];
                        WorkerRequest q2;

                        n = worker_request_encode(&q, out, sizeof(out) - 1);
                        if (n < 0 || worker_request_decode(out, (size_t) n, &q2) != 0)
                                abort();
                        if (q2.n_decisions != q.n_decisions)
                                abort();
                        for (size_t i = 0; i < q.n_decisions; i++)
                                if (q2.decisions[i].item != q.decisions[i].item ||
                                    strcmp(q2.decisions[i].choice, q.decisions[i].choice) != 0 ||
                                    strcmp(q2.decisions[i].category,
                                           q.decisions[i].category) != 0)
                                        abort();
                        worker_request_done(&q2);
                        worker_request_done(&q);
                }
        }
        return 0;
}
