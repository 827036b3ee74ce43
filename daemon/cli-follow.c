/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Following jobs (cli.h): the matches installed before a job starts, the asynchronous
 * GetAll, progress lines and bars, JobRemoved, signals (one SIGINT cancels the job, a
 * second leaves it running), and monitor's view of every job and device event.
 */
#include "cli.h"

/* ---- jobs ---------------------------------------------------------------------------- */

enum {
        JOB_KIND,
        JOB_DEVICE,
        JOB_STATE,
        JOB_PHASE,
        JOB_PROGRESS,
        JOB_BYTES_DONE,
        JOB_BYTES_TOTAL,
        JOB_FILES_DONE,
        JOB_FILES_TOTAL,
        JOB_RESULT,
        JOB_MESSAGE,
        JOB_CATEGORY,
};

static const PropertyMap job_map[] = {
        [JOB_KIND] = { "Kind", 's', offsetof(Job, kind) },
        [JOB_DEVICE] = { "Device", 'o', offsetof(Job, device) },
        [JOB_STATE] = { "State", 's', offsetof(Job, state) },
        [JOB_PHASE] = { "Phase", 's', offsetof(Job, phase) },
        [JOB_PROGRESS] = { "Progress", 'u', offsetof(Job, progress) },
        [JOB_BYTES_DONE] = { "BytesDone", 't', offsetof(Job, bytes_done) },
        [JOB_BYTES_TOTAL] = { "BytesTotal", 't', offsetof(Job, bytes_total) },
        [JOB_FILES_DONE] = { "FilesDone", 't', offsetof(Job, files_done) },
        [JOB_FILES_TOTAL] = { "FilesTotal", 't', offsetof(Job, files_total) },
        [JOB_RESULT] = { "Result", 's', offsetof(Job, result) },
        [JOB_MESSAGE] = { "Message", 's', offsetof(Job, message) },
        [JOB_CATEGORY] = { "Category", 's', offsetof(Job, category) },
        {}
};

static Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_bus_slot_unref(j->get_all);  /* a pending reply is never dispatched to a freed job */
        free(j->path);
        free(j->kind);
        free(j->device);
        free(j->state);
        free(j->phase);
        free(j->result);
        free(j->message);
        free(j->category);
        free(j->shown_phase);
        free(j->plain_phase);
        free(j->plain_line);
        free(j);
        return NULL;
}

static int job_new(Context *c, const char *path, Job **ret) {
        Job *j;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->context = c;
        j->path = strdup(path);
        if (!j->path) {
                free(j);
                return -ENOMEM;
        }
        rate_estimator_init(&j->rate, 0);
        *ret = j;
        return 0;
}

/* Drawn only once something is known about it, and until it says it finished. */
static bool job_is_running(const Job *j) {
        return j->loaded && !streq_ptr(j->state, "finished");
}

/* Reads an a{sv} of job properties; feeds the rate estimator when BytesDone came. */
static int job_apply(Job *j, sd_bus_message *m) {
        uint64_t set;
        int r;

        r = map_properties(m, job_map, j, &set);
        if (r < 0)
                return r;
        if (set & BIT(JOB_BYTES_DONE))
                rate_estimator_add(&j->rate, now_usec(CLOCK_MONOTONIC), j->bytes_done);
        if (set & (BIT(JOB_CATEGORY) | BIT(JOB_PHASE))) {
                free(j->shown_phase);
                j->shown_phase = NULL;
                if (!isempty(j->category) &&
                    asprintf(&j->shown_phase, "%s: %s", j->category, j->phase ? j->phase : "") < 0)
                        j->shown_phase = NULL;
        }
        if (set != 0)
                j->loaded = true;
        return 0;
}

static ProgressInfo job_progress(const Job *j) {
        return (ProgressInfo) {
                .percent = j->progress,
                .bytes_done = j->bytes_done,
                .bytes_total = j->bytes_total,
                .files_done = j->files_done,
                .files_total = j->files_total,
                .rate = rate_estimator_get(&j->rate, now_usec(CLOCK_MONOTONIC)),
                .phase = j->shown_phase ? j->shown_phase : j->phase,
        };
}

/* "3" for /org/idevicesync1/job/3 (the path itself if it is not below BUS_PATH_JOB_PREFIX). */
static char *job_number(const char *path) {
        char *n = NULL;

        if (sd_bus_path_decode(path, BUS_PATH_JOB_PREFIX, &n) <= 0 || !n)
                return strdup(path);
        return text_sanitize(n);
}

/* "job 3 (backup, 00008030-001A2B3C4D5E6F70)", as far as it is known. */
static char *job_label(const Job *j, const char *path) {
        _cleanup_free_ char *number = job_number(j ? j->path : path), *udid = NULL;
        char *label = NULL;
        int r;

        if (!number)
                return NULL;
        if (j && j->device && sd_bus_path_decode(j->device, BUS_PATH_DEVICE_PREFIX, &udid) > 0)
                text_sanitize(udid);

        if (j && j->kind && udid)
                r = asprintf(&label, "job %s (%s, %s)", number, j->kind, udid);
        else if (j && j->kind)
                r = asprintf(&label, "job %s (%s)", number, j->kind);
        else
                r = asprintf(&label, "job %s", number);
        return r < 0 ? NULL : label;
}

/* ---- following jobs and events ------------------------------------------------------- */

void context_done(Context *c) {
        for (size_t i = 0; i < c->n_jobs; i++)
                job_free(c->jobs[i]);
        free(c->jobs);
        for (size_t i = 0; i < c->n_slots; i++)
                sd_bus_slot_unref(c->slots[i]);
        sd_bus_slot_unref(c->cancel);
        sd_event_source_unref(c->tick);
        *c = (Context) {};
}

static Job *context_find_job(Context *c, const char *path) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (streq_ptr(c->jobs[i]->path, path))
                        return c->jobs[i];
        return NULL;
}

/* Unlinks and frees a job; its pending GetAll is cancelled with it (job_free()). */
static void context_remove_job(Context *c, Job *j) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i] == j) {
                        memmove(c->jobs + i, c->jobs + i + 1,
                                (c->n_jobs - i - 1) * sizeof(Job *));
                        c->n_jobs--;
                        job_free(j);
                        return;
                }
}

static void context_remove_all_jobs(Context *c) {
        while (c->n_jobs > 0)
                context_remove_job(c, c->jobs[c->n_jobs - 1]);
}

static int context_keep_slot(Context *c, sd_bus_slot *slot) {
        if (c->n_slots >= ELEMENTSOF(c->slots)) {
                sd_bus_slot_unref(slot);
                return -ENOBUFS;
        }
        c->slots[c->n_slots++] = slot;
        return 0;
}

static void wait_finish(Context *c, Job *j, const char *result);

/* ---- drawing ------------------------------------------------------------------------- */

/* The prefix of a job's progress line in monitor ("job 3 (backup): "); NULL when waiting. */
static char *progress_prefix(const Context *c, const Job *j) {
        _cleanup_free_ char *number = NULL;
        char *prefix;

        if (!c->monitor)
                return NULL;
        number = job_number(j->path);
        if (asprintf(&prefix, "job %s%s%s%s: ", number ? number : "?", j->kind ? " (" : "",
                     j->kind ? j->kind : "", j->kind ? ")" : "") < 0)
                return NULL;
        return prefix;
}

static void draw_job_line(const Context *c, const Job *j, size_t cols) {
        _cleanup_free_ char *prefix = progress_prefix(c, j);
        ProgressInfo p = job_progress(j);
        size_t width = cols > 1 ? cols - 1 : 1;        /* never the last column: no wrap */
        char line[512];

        if (prefix && text_width(prefix) + 10 < width)
                width -= text_width(prefix);
        else if (prefix) {
                free(prefix);
                prefix = NULL;
        }

        render_progress_line(line, sizeof(line), width, true, &p);
        if (prefix)
                fputs(prefix, stdout);
        fputs(line, stdout);
}

/* TTY: (re)draws the running jobs' progress lines at the bottom. */
static void screen_draw(Context *c) {
        size_t cols, drawn = 0;

        if (!screen.tty)
                return;

        screen_clear();
        cols = terminal_columns();
        for (size_t i = 0; i < c->n_jobs && drawn < REGION_LINES_MAX; i++) {
                if (!job_is_running(c->jobs[i]))
                        continue;
                if (drawn++ > 0)
                        fputc('\n', stdout);
                draw_job_line(c, c->jobs[i], cols);
        }
        screen.lines = drawn;
        fflush(stdout);
}

/* One line of monitor output, "HH:MM:SS text", printed above the progress lines. */
__attribute__((format(printf, 2, 3)))
void event_line(Context *c, const char *fmt, ...) {
        char stamp[FORMAT_TIMESTAMP_MAX];
        va_list ap;

        screen_clear();
        printf("%s ", format_clock_usec(stamp, sizeof(stamp), now_usec(CLOCK_REALTIME)));
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        screen_draw(c);
}

/*
 * Not a TTY: one plain progress line, at most one a second per job; `force` (the final
 * line) and, when waiting, a new phase print it at once. A line that would repeat the
 * previous one is left out.
 */
static void job_print_plain(Context *c, Job *j, bool force) {
        ProgressInfo p = job_progress(j);
        usec_t now = now_usec(CLOCK_MONOTONIC);
        const char *phase = j->shown_phase ? j->shown_phase : j->phase;
        bool new_phase = !c->monitor && !streq_ptr(phase, j->plain_phase);
        char line[512];

        if (!force && !new_phase && j->plain_time > 0 && now < j->plain_time + PLAIN_INTERVAL)
                return;

        render_progress_line(line, sizeof(line), 0, false, &p);
        if (streq_ptr(line, j->plain_line))
                return;                 /* nothing new to say */
        if (c->monitor) {
                _cleanup_free_ char *label = job_label(j, NULL);

                event_line(c, "%s: %s", label ? label : j->path, line);
        } else {
                printf("%s\n", line);
                fflush(stdout);
        }

        j->plain_time = now;
        free(j->plain_phase);
        j->plain_phase = phase ? strdup(phase) : NULL;
        free(j->plain_line);
        j->plain_line = strdup(line);
}

static void job_show_progress(Context *c, Job *j) {
        if (!job_is_running(j))
                return;
        if (screen.tty)
                screen_draw(c);
        else
                job_print_plain(c, j, false);
}

static const char *noun_of_kind(const char *kind) {
        if (streq_ptr(kind, "backup"))
                return "Backup";
        if (streq_ptr(kind, "restore"))
                return "Restore";
        if (streq_ptr(kind, "verify"))
                return "Verification";
        if (streq_ptr(kind, "sync"))
                return "Sync";
        if (streq_ptr(kind, "extract"))
                return "Extract";
        if (streq_ptr(kind, "files"))
                return "Listing";
        return "Job";
}

/* ---- jobs appear --------------------------------------------------------------------- */

/* monitor: the first line about a job, once its kind and state are known. */
static void job_announce(Context *c, Job *j, const char *verb) {
        _cleanup_free_ char *label = NULL;

        if (!c->monitor || j->announced || !job_is_running(j))
                return;
        j->announced = true;
        label = job_label(j, NULL);
        event_line(c, "%s: %s%s%s", label ? label : j->path, verb,
                   isempty(j->phase) ? "" : ", phase ", j->phase ? j->phase : "");
}

static int on_job_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        Context *c = j->context;
        int r;

        j->get_all = sd_bus_slot_unref(j->get_all);

        if (sd_bus_message_is_method_error(m, NULL)) {
                /* gone already: its JobRemoved came or is on its way; nothing to show */
                if (c->monitor && !j->announced)
                        context_remove_job(c, j);
                return 0;
        }

        r = job_apply(j, m);
        if (r < 0) {
                log_error("Failed to parse the properties of %s: %s", j->path, strerror(-r));
                return 0;
        }

        if (c->monitor && !j->announced) {
                if (!job_is_running(j)) {
                        context_remove_job(c, j);       /* finished before we looked */
                        return 0;
                }
                job_announce(c, j, j->seeded ? "running" : "started");
        }
        job_show_progress(c, j);
        return 0;
}

/*
 * Starts following a job: adds it (once) and asks for its properties asynchronously, so
 * the reply is ordered with the job's signals. Returns 1 if it was new, 0 if it was
 * known already, or a negative errno.
 */
int context_track_job(Context *c, const char *path, Job **ret) {
        Job **jobs, *j;
        int r;

        j = context_find_job(c, path);
        if (j) {
                if (ret)
                        *ret = j;
                return 0;
        }

        r = job_new(c, path, &j);
        if (r < 0)
                return r;
        jobs = reallocarray(c->jobs, c->n_jobs + 1, sizeof(Job *));
        if (!jobs) {
                job_free(j);
                return -ENOMEM;
        }
        c->jobs = jobs;
        c->jobs[c->n_jobs++] = j;

        r = sd_bus_call_method_async(c->bus, &j->get_all, BUS_NAME, path, PROPERTIES_IFACE,
                                     "GetAll", on_job_get_all, j, "s", BUS_IFACE_JOB);
        if (r < 0)
                return r;
        if (ret)
                *ret = j;
        return 1;
}

/* ---- signal handlers ----------------------------------------------------------------- */

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_free_ char *label = NULL, *res = NULL;
        const char *path, *result;
        Job *j;
        int r;

        r = sd_bus_message_read(m, "os", &path, &result);
        if (r < 0)
                return 0;                       /* not what the contract says: ignore */
        j = context_find_job(c, path);

        if (!c->monitor) {
                if (j)
                        wait_finish(c, j, result);
                return 0;
        }

        res = strdup_sanitized(result);
        label = job_label(j, path);
        event_line(c, "%s: finished, result %s%s%s", label ? label : path,
                   isempty(res) ? "-" : res, j && !isempty(j->message) ? ": " : "",
                   j && !isempty(j->message) ? j->message : "");
        if (j) {
                context_remove_job(c, j);
                screen_draw(c);
        }
        return 0;
}

static void job_properties_changed(Context *c, const char *path, sd_bus_message *m) {
        _cleanup_free_ char *old_phase = NULL;
        Job *j;
        int r;

        j = context_find_job(c, path);
        if (!j) {
                if (!c->monitor)
                        return;                 /* someone else's job */
                r = context_track_job(c, path, &j);
                if (r < 0) {
                        log_error("Failed to follow %s: %s", path, strerror(-r));
                        return;
                }
        }

        if (j->phase) {
                old_phase = strdup(j->phase);
                if (!old_phase)
                        return;
        }
        r = job_apply(j, m);
        if (r < 0) {
                log_error("Failed to parse a change of %s: %s", path, strerror(-r));
                return;
        }

        if (c->monitor && j->announced && !isempty(j->phase) &&
            !streq_ptr(old_phase, j->phase)) {
                _cleanup_free_ char *label = job_label(j, NULL);

                event_line(c, "%s: phase %s", label ? label : path, j->phase);
        }
        job_show_progress(c, j);
}

static bool is_progress_property(const char *name) {
        static const char *const names[] = {
                "State", "StateReason",         /* StateChanged says these, with the reason */
                "Phase", "Progress", "BytesDone", "BytesTotal", "FilesDone", "FilesTotal",
                "Job",                          /* the job's own lines say these */
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* "Name=value" of one property whose variant is at m's read position. */
static int format_property(FILE *f, const char *name, sd_bus_message *m) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (!contents || strlen(contents) != 1 || !strchr("sobut", contents[0]))
                return sd_bus_message_skip(m, "v");

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        switch (contents[0]) {
        case 's':
        case 'o': {
                _cleanup_free_ char *copy = NULL;
                const char *s;

                r = sd_bus_message_read_basic(m, contents[0], &s);
                if (r < 0)
                        return r;
                copy = strdup_sanitized(s);
                if (!copy)
                        return -ENOMEM;
                fprintf(f, contents[0] == 's' ? " %s=\"%s\"" : " %s=%s", name, copy);
                break;
        }
        case 'b': {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                fprintf(f, " %s=%s", name, b ? "yes" : "no");
                break;
        }
        case 'u': {
                uint32_t u;

                r = sd_bus_message_read_basic(m, 'u', &u);
                if (r < 0)
                        return r;
                fprintf(f, " %s=%" PRIu32, name, u);
                break;
        }
        case 't': {
                char when[FORMAT_TIMESTAMP_MAX];
                uint64_t t;

                r = sd_bus_message_read_basic(m, 't', &t);
                if (r < 0)
                        return r;
                if (strcmp(name, "LastBackup") == 0 || strcmp(name, "NextEligible") == 0)
                        fprintf(f, " %s=\"%s\"", name,
                                format_timestamp_usec(when, sizeof(when), t));
                else
                        fprintf(f, " %s=%" PRIu64, name, t);
                break;
        }
        }
        return sd_bus_message_exit_container(m);
}

static char *udid_of_path(const char *path) {
        char *udid = NULL;

        if (sd_bus_path_decode(path, BUS_PATH_DEVICE_PREFIX, &udid) <= 0 || !udid)
                return strdup(path);
        return text_sanitize(udid);
}

/* monitor: a device's properties changed; one line with what a person cares about. */
static void device_properties_changed(Context *c, const char *path, sd_bus_message *m) {
        _cleanup_free_ char *udid = udid_of_path(path), *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *job;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r < 0)
                        break;
                if (strcmp(name, "Job") == 0 &&
                    sd_bus_message_read(m, "v", "o", &job) >= 0) {
                        /* a job starts: follow it from here on */
                        if (strcmp(job, "/") != 0 && context_track_job(c, job, NULL) < 0)
                                log_error("Failed to follow %s.", job);
                        r = 0;
                } else if (is_progress_property(name))
                        r = sd_bus_message_skip(m, "v");
                else
                        r = format_property(f, name, m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (fclose(f) != 0 || r < 0 || !text)
                return;
        if (text[0])
                event_line(c, "%s:%s", udid ? udid : path, text);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;

        if (!path || sd_bus_message_read_basic(m, 's', &iface) < 0)
                return 0;
        if (strcmp(iface, BUS_IFACE_JOB) == 0)
                job_properties_changed(c, path, m);
        else if (c->monitor && strcmp(iface, BUS_IFACE_DEVICE) == 0)
                device_properties_changed(c, path, m);
        return 0;
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_free_ char *udid = udid_of_path(sd_bus_message_get_path(m));
        _cleanup_free_ char *s = NULL, *why = NULL;
        const char *state, *reason;

        if (sd_bus_message_read(m, "ss", &state, &reason) < 0)
                return 0;
        s = strdup_sanitized(state);
        why = strdup_sanitized(reason);
        if (!s || !why)
                return 0;
        event_line(c, "%s: state %s%s%s", udid ? udid : "?", s, why[0] ? ": " : "", why);
        return 0;
}

/* monitor: what a new request shows (Request properties). */
typedef struct RequestEvent {
        char *device, *kind, *summary;
} RequestEvent;

static const PropertyMap request_event_map[] = {
        { "Device", 'o', offsetof(RequestEvent, device) },
        { "Kind", 's', offsetof(RequestEvent, kind) },
        { "Summary", 's', offsetof(RequestEvent, summary) },
        {}
};

static const char *request_number_of(const char *path) {
        const char *prefix = BUS_PATH_REQUEST_PREFIX "/";

        return strncmp(path, prefix, strlen(prefix)) == 0 ? path + strlen(prefix) : path;
}

/* monitor: RequestRemoved(o, answer): answered, or gone without an answer. */
static int on_request_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_free_ char *answer = NULL, *path = NULL;
        const char *p, *a;

        if (sd_bus_message_read(m, "os", &p, &a) < 0)
                return 0;
        path = strdup_sanitized(request_number_of(p));
        answer = strdup_sanitized(a);
        if (!path || !answer)
                return 0;
        if (answer[0])
                event_line(c, "request %s: answered: %s", path, answer);
        else
                event_line(c, "request %s: no longer pending", path);
        return 0;
}

static int on_interfaces_added(Context *c, sd_bus_message *m) {
        _cleanup_(device_info_done) DeviceInfo d = {};
        RequestEvent q = {};
        const char *path, *iface;
        bool device = false, request = false;
        Job *j = NULL;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r < 0)
                return r;
        if (strncmp(path, BUS_PATH_JOB_PREFIX "/", strlen(BUS_PATH_JOB_PREFIX "/")) == 0) {
                r = context_track_job(c, path, &j);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                r = sd_bus_message_read_basic(m, 's', &iface);
                if (r < 0)
                        return r;
                if (strcmp(iface, BUS_IFACE_DEVICE) == 0) {
                        device = true;
                        r = map_properties(m, device_map, &d, NULL);
                } else if (strcmp(iface, BUS_IFACE_REQUEST) == 0) {
                        request = true;
                        r = map_properties(m, request_event_map, &q, NULL);
                } else if (j && strcmp(iface, BUS_IFACE_JOB) == 0)
                        r = job_apply(j, m);
                else
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        if (device) {
                _cleanup_free_ char *udid = udid_of_path(path);

                event_line(c, "%s: added%s%s%s", udid ? udid : path, isempty(d.name) ? "" : " (",
                           isempty(d.name) ? "" : d.name, isempty(d.name) ? "" : ")");
        }
        if (j) {
                job_announce(c, j, "started");
                job_show_progress(c, j);
        }
        if (request) {
                _cleanup_free_ char *udid = q.device ? udid_of_path(q.device) : NULL;

                event_line(c, "%s: request %s (%s): %s", udid ? udid : "?",
                           request_number_of(path), q.kind ? q.kind : "?",
                           q.summary ? q.summary : "");
        }
        free(q.device);
        free(q.kind);
        free(q.summary);
        return 0;
}

static int on_object_manager(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *path;

        if (sd_bus_message_is_signal(m, OBJECT_MANAGER_IFACE, "InterfacesAdded")) {
                if (on_interfaces_added(c, m) < 0)
                        log_error("Failed to parse an InterfacesAdded signal, ignoring.");
        } else if (sd_bus_message_is_signal(m, OBJECT_MANAGER_IFACE, "InterfacesRemoved") &&
                   sd_bus_message_read_basic(m, 'o', &path) >= 0 &&
                   strncmp(path, BUS_PATH_DEVICE_PREFIX "/",
                           strlen(BUS_PATH_DEVICE_PREFIX "/")) == 0) {
                _cleanup_free_ char *udid = udid_of_path(path);

                event_line(c, "%s: removed", udid ? udid : path);
        }
        return 0;
}

/* The daemon's name lost its owner: a job waited for can never end, so stop waiting. */
static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            strcmp(name, BUS_NAME) != 0)
                return 0;

        if (!c->monitor) {
                if (isempty(new_owner)) {
                        screen_keep();
                        log_error("idevicesyncd exited before the job finished.");
                        (void) sd_event_exit(c->event, CLI_EXIT_FAILED);
                }
                return 0;
        }

        if (isempty(new_owner)) {
                context_remove_all_jobs(c);     /* its jobs are gone with it */
                event_line(c, "idevicesyncd stopped");
        } else if (isempty(old_owner))
                event_line(c, "idevicesyncd started");
        return 0;
}

/* A failed Cancel() is reported but does not end the wait: the job's own end still
 * decides the exit code; UnknownObject only means it ended first. */
static int on_cancel_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        c->cancel = sd_bus_slot_unref(c->cancel);
        if (e && !sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT))
                (void) log_bus_error(e, -sd_bus_message_get_errno(m), NULL,
                                     "Failed to cancel the job");
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Context *c = userdata;
        Job *j = c->n_jobs > 0 ? c->jobs[0] : NULL;
        int r;

        c->interrupts++;
        if (c->monitor) {
                screen_clear();
                return sd_event_exit(c->event, CLI_EXIT_DONE);
        }

        if (c->interrupts > 1 || !j) {
                screen_keep();
                log_error("Stopped waiting; the job may still be cancelling.");
                return sd_event_exit(c->event, 128 + (int) si->ssi_signo);
        }

        log_error("Cancelling %s (press Ctrl-C again to stop waiting)...", j->path);
        r = sd_bus_call_method_async(c->bus, &c->cancel, BUS_NAME, j->path, BUS_IFACE_JOB, "Cancel",
                                     on_cancel_reply, c, NULL);
        if (r < 0)
                log_error("Failed to cancel the job: %s", strerror(-r));
        screen_draw(c);
        return 0;
}

/* TTY: without updates (a stalled transfer) the rate must still fall and the ETA grow. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Context *c = userdata;
        int r;

        screen_draw(c);
        r = sd_event_source_set_time_relative(s, REDRAW_INTERVAL);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

/* ---- the loop ------------------------------------------------------------------------ */

#define MATCH_PROPERTIES(ns)                                                                  \
        "type='signal',sender='" BUS_NAME "',interface='" PROPERTIES_IFACE "',"               \
        "member='PropertiesChanged',path_namespace='" ns "'"
#define MATCH_STATE_CHANGED                                                                   \
        "type='signal',sender='" BUS_NAME "',interface='" BUS_IFACE_DEVICE "',"                   \
        "member='StateChanged',path_namespace='" BUS_PATH_DEVICE_PREFIX "'"
#define MATCH_NAME_OWNER                                                                      \
        "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"           \
        "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'"

static int context_add_match(Context *c, const char *match, sd_bus_message_handler_t cb) {
        sd_bus_slot *slot = NULL;
        int r;

        r = sd_bus_add_match(c->bus, &slot, match, cb, c);
        if (r < 0)
                return r;
        return context_keep_slot(c, slot);
}

/*
 * Everything a loop needs, before the first method call: signals (blocked, then handled
 * by the loop), the matches (installed synchronously, so nothing about a job started
 * afterwards can be missed), and on a TTY the redraw tick. Returns 0, or an exit code
 * (> 0, reported).
 */
int context_setup(Context *c, sd_bus *bus, bool monitor, sd_event **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sd_bus_slot *slot = NULL;
        sigset_t mask;
        int r;

        c->bus = bus;
        c->monitor = monitor;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        r = sd_event_new(&event);
        if (r < 0)
                return r;
        c->event = event;
        if ((r = sd_event_add_signal(event, NULL, SIGINT, on_signal, c)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, c)) < 0)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        if (screen.tty) {
                r = sd_event_add_time_relative(event, &c->tick, CLOCK_MONOTONIC, REDRAW_INTERVAL,
                                               0, on_tick, c);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->tick, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }

        r = sd_bus_match_signal(bus, &slot, BUS_NAME, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                "JobRemoved",
                                on_job_removed, c);
        if (r >= 0)
                r = context_keep_slot(c, slot);
        if (r >= 0)
                r = context_add_match(c, monitor ? MATCH_PROPERTIES(BUS_PATH_MANAGER) :
                                                   MATCH_PROPERTIES(BUS_PATH_JOB_PREFIX),
                                      on_properties_changed);
        if (r >= 0)
                r = context_add_match(c, MATCH_NAME_OWNER, on_name_owner_changed);
        if (r >= 0 && monitor)
                r = context_add_match(c, MATCH_STATE_CHANGED, on_state_changed);
        if (r >= 0 && monitor) {
                r = sd_bus_match_signal(bus, &slot, BUS_NAME, BUS_PATH_MANAGER,
                                        OBJECT_MANAGER_IFACE,
                                        NULL, on_object_manager, c);
                if (r >= 0)
                        r = context_keep_slot(c, slot);
        }
        if (r >= 0 && monitor) {
                r = sd_bus_match_signal(bus, &slot, BUS_NAME, BUS_PATH_MANAGER,
                                        BUS_IFACE_MANAGER, "RequestRemoved",
                                        on_request_removed, c);
                if (r >= 0)
                        r = context_keep_slot(c, slot);
        }
        if (r < 0) {
                log_error("Failed to subscribe to the daemon's signals: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }

        *ret = TAKE_PTR(event);
        return 0;
}

int context_run(Context *c) {
        int r;

        r = sd_event_loop(c->event);
        screen_clear();
        if (r < 0) {
                log_error("Event loop failed: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return r;
}

/*
 * Calls the method that starts a job. Without --wait prints the job's path; with --wait
 * follows the job to its end. Returns the exit code (0 done; > 0 reported), or a
 * negative errno.
 */
static int run_job_internal(sd_bus *bus, sd_bus_message *call, const char *udid,
                            const char *noun, bool wait, char *result) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(context_done) Context c = { .noun = noun };
        const char *path;
        int r;

        if (wait) {
                r = context_setup(&c, bus, false, &event);
                if (r != 0)
                        return r;
        }

        r = sd_bus_call(bus, call, 0, &error, &reply);
        if (r < 0)
                return log_bus_error(&error, r, udid, "Failed to start the job");
        r = sd_bus_message_read_basic(reply, 'o', &path);
        if (r < 0) {
                log_error("Failed to parse the reply: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }

        if (!wait) {
                printf("%s\n", path);
                return CLI_EXIT_DONE;
        }

        printf("%s job %s started.\n", noun, path);
        fflush(stdout);
        r = context_track_job(&c, path, NULL);
        if (r < 0)
                return r;
        r = context_run(&c);
        if (result)
                memcpy(result, c.result, sizeof(c.result));
        return r;
}

int run_job(sd_bus *bus, sd_bus_message *call, const char *udid, const char *noun) {
        return run_job_internal(bus, call, udid, noun, arg_wait, NULL);
}

int run_job_result(sd_bus *bus, sd_bus_message *call, const char *udid, const char *noun,
                   char result[64]) {
        result[0] = 0;
        return run_job_internal(bus, call, udid, noun, true, result);
}

/* wait: the job ended; show its last state and the outcome, and leave the loop. */
static void wait_finish(Context *c, Job *j, const char *result) {
        _cleanup_free_ char *res = strdup_sanitized(result);
        const char *noun = j->kind ? noun_of_kind(j->kind) : c->noun;
        int code = result_to_exit_code(result);

        /* if its signals did not say why, the job may still exist for a moment to tell */
        if (isempty(j->message) && code != CLI_EXIT_DONE) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                char *message = NULL;

                if (sd_bus_get_property_string(c->bus, BUS_NAME, j->path, BUS_IFACE_JOB, "Message",
                                               &error, &message) >= 0) {
                        free(j->message);
                        j->message = text_sanitize(message);
                }
        }

        if (screen.tty) {
                screen_clear();
                draw_job_line(c, j, terminal_columns());
                fputc('\n', stdout);
        } else
                job_print_plain(c, j, true);
        fflush(stdout);

        if (code == CLI_EXIT_DONE)
                printf("%s done%s%s\n", noun, isempty(j->message) ? "." : ": ",
                       isempty(j->message) ? "" : j->message);
        else if (code == CLI_EXIT_CANCELLED)
                log_error("%s cancelled%s%s", noun, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);
        else if (isempty(res) || strcmp(res, "failed") == 0)
                log_error("%s failed%s%s", noun, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);
        else
                log_error("%s failed (%s)%s%s", noun, res, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);

        snprintf(c->result, sizeof(c->result), "%s", result ?: "");
        free(j->state);
        j->state = strdup("finished");
        (void) sd_event_exit(c->event, code);
}
