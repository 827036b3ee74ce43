/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-format: pure helpers of idevicesync(1) (see cli-format.h for what and why).
 *
 * Sizes use powers of 1024 with one decimal ("1.5G"), as systemd's tools print them; a
 * value is rounded once, to the nearest tenth, and moves to the next unit when rounding
 * would show 1024.0 of the smaller one. Rates follow the progress line's wording
 * ("85.3 MB/s", also powers of 1024). The progress renderer never writes past `width`
 * columns: it first narrows the bar, then drops the least useful fields, and only then
 * cuts the line, so a narrow terminal still shows the percentage and the phase.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-format.h"
#include "macro.h"
#include "udid.h"

#define BAR_WIDTH 20U                   /* '#'/'.' cells of the bar at full width */
#define BAR_WIDTH_MIN 10U
#define LINE_MAX_BYTES 512U             /* longest progress line composed before cutting */
#define PHASE_MAX 64U                   /* bytes of the phase shown */
#define ETA_MAX_SECONDS (100.0 * 3600.0)

/* ---- numbers and times -------------------------------------------------------------- */

/**
 * format_bytes() - a byte count in powers of 1024 with one decimal.
 * @buf: where the text goes (caller's); FORMAT_BYTES_MAX bytes always suffice.
 * @size: size of @buf.
 * @bytes: the count.
 *
 * Below 1024 the count is exact ("0B", "512B"); from there on one decimal and a unit
 * letter K, M, G, T, P or E ("1.5K", "2.0G"), rounded to the nearest tenth.
 *
 * Returns @buf (truncated if @size is too small).
 */
const char *format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char units[] = "KMGTPE";
        uint64_t div = 1024, tenths;
        size_t i = 0;

        if (bytes < 1024) {
                (void) snprintf(buf, size, "%" PRIu64 "B", bytes);
                return buf;
        }

        while (i + 1 < sizeof(units) - 1 && bytes / div >= 1024) {
                div *= 1024;
                i++;
        }

        /* (bytes % div) * 10 < 10 * 2^60 < 2^64: no overflow even for exbibytes */
        tenths = bytes / div * 10 + ((bytes % div) * 10 + div / 2) / div;
        if (tenths >= 10240 && i + 1 < sizeof(units) - 1) {
                div *= 1024;
                i++;
                tenths = bytes / div * 10 + ((bytes % div) * 10 + div / 2) / div;
        }

        (void) snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10, tenths % 10,
                        units[i]);
        return buf;
}

/**
 * format_rate() - a transfer rate, "85.3 MB/s" (powers of 1024, one decimal).
 * @buf: where the text goes (caller's); FORMAT_RATE_MAX bytes always suffice.
 * @size: size of @buf.
 * @bytes_per_sec: the rate; negative, NaN or infinite means unknown.
 *
 * Below 1 KB/s the rate is a whole number ("512 B/s"); unknown is "-- B/s".
 *
 * Returns @buf.
 */
const char *format_rate(char *buf, size_t size, double bytes_per_sec) {
        static const char units[] = "KMGTPE";
        double v = bytes_per_sec;
        size_t i = 0;

        if (!(v >= 0) || isinf(v)) {
                (void) snprintf(buf, size, "-- B/s");
                return buf;
        }
        if (v < 1023.5) {
                (void) snprintf(buf, size, "%.0f B/s", v);
                return buf;
        }

        v /= 1024;
        while (v >= 1023.95 && i + 1 < sizeof(units) - 1) {
                v /= 1024;
                i++;
        }
        (void) snprintf(buf, size, "%.1f %cB/s", v, units[i]);
        return buf;
}

/**
 * format_eta() - a remaining time as "m:ss" or, from an hour on, "h:mm:ss".
 * @buf: where the text goes (caller's); FORMAT_ETA_MAX bytes always suffice.
 * @size: size of @buf.
 * @seconds: the time left, rounded to the nearest second; negative, NaN or 100 hours
 *           and more mean unknown.
 *
 * Returns @buf, which holds "--:--" when the time is unknown.
 */
const char *format_eta(char *buf, size_t size, double seconds) {
        unsigned long s;

        if (!(seconds >= 0) || seconds + 0.5 >= ETA_MAX_SECONDS) {
                (void) snprintf(buf, size, "--:--");
                return buf;
        }

        s = (unsigned long) (seconds + 0.5);
        if (s >= 3600)
                (void) snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
        else
                (void) snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
        return buf;
}

static const char *format_local(char *buf, size_t size, usec_t usec, bool date) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        size_t n;

        if (!localtime_r(&t, &tm))
                n = 0;
        else if (date)
                n = strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
        else
                n = strftime(buf, size, "%H:%M:%S", &tm);
        if (n == 0)
                (void) snprintf(buf, size, "-");
        return buf;
}

/**
 * format_timestamp_usec() - a point in time as local "YYYY-MM-DD HH:MM".
 * @buf: where the text goes (caller's); FORMAT_TIMESTAMP_MAX bytes always suffice.
 * @size: size of @buf.
 * @usec: µs since the Unix epoch, as the daemon sends times; 0 means "never".
 *
 * Uses the local time zone (TZ, /etc/localtime).
 *
 * Returns @buf: the time, "never" for 0, or "-" if it cannot be shown.
 */
const char *format_timestamp_usec(char *buf, size_t size, usec_t usec) {
        if (usec == 0) {
                (void) snprintf(buf, size, "never");
                return buf;
        }
        return format_local(buf, size, usec, true);
}

/**
 * format_clock_usec() - the local time of day "HH:MM:SS" (the stamp of a monitor line).
 * @buf: where the text goes (caller's); FORMAT_TIMESTAMP_MAX bytes always suffice.
 * @size: size of @buf.
 * @usec: µs since the Unix epoch.
 *
 * Returns @buf ("-" if the time cannot be shown).
 */
const char *format_clock_usec(char *buf, size_t size, usec_t usec) {
        return format_local(buf, size, usec, false);
}

/* ---- the progress line -------------------------------------------------------------- */

/**
 * progress_eta() - the seconds left at the current rate.
 * @p: the progress (borrowed).
 *
 * Returns the estimate, or -1 when it is unknown: no byte total, or no positive rate.
 */
double progress_eta(const ProgressInfo *p) {
        uint64_t left;

        if (!p || p->bytes_total == 0 || !(p->rate > 0) || isinf(p->rate))
                return -1;

        left = p->bytes_done < p->bytes_total ? p->bytes_total - p->bytes_done : 0;
        return (double) left / p->rate;
}

typedef struct Layout {
        size_t bar_width;               /* 0 = no bar */
        bool bytes, files, rate, eta, phase;
} Layout;

typedef struct Line {
        char text[LINE_MAX_BYTES];
        size_t len;                     /* may exceed the buffer: then it is cut */
        bool empty;
} Line;

__attribute__((format(printf, 3, 4)))
static void line_add(Line *l, const char *sep, const char *fmt, ...) {
        va_list ap;
        int n;

        if (!l->empty && l->len < sizeof(l->text)) {
                n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s", sep);
                l->len += n > 0 ? (size_t) n : 0;
        }
        l->empty = false;
        if (l->len >= sizeof(l->text))
                return;

        va_start(ap, fmt);
        n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
        va_end(ap);
        l->len += n > 0 ? (size_t) n : 0;
}

static void compose(Line *l, const Layout *lay, const ProgressInfo *p, const char *phase) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], r[FORMAT_RATE_MAX], e[FORMAT_ETA_MAX];
        unsigned percent = p->percent > 100 ? 100 : p->percent;

        *l = (Line) { .empty = true };

        if (lay->bar_width > 0) {
                size_t filled = lay->bar_width * percent / 100;
                char bar[BAR_WIDTH + 3];

                bar[0] = '[';
                memset(bar + 1, '#', filled);
                memset(bar + 1 + filled, '.', lay->bar_width - filled);
                bar[lay->bar_width + 1] = ']';
                bar[lay->bar_width + 2] = '\0';
                line_add(l, "", "%s", bar);
                line_add(l, " ", "%3u%%", percent);
        } else
                line_add(l, "", "%u%%", percent);

        if (lay->bytes) {
                if (p->bytes_total > 0)
                        line_add(l, "  ", "%s/%s", format_bytes(a, sizeof(a), p->bytes_done),
                                 format_bytes(b, sizeof(b), p->bytes_total));
                else if (p->bytes_done > 0)
                        line_add(l, "  ", "%s", format_bytes(a, sizeof(a), p->bytes_done));
        }
        if (lay->files) {
                if (p->files_total > 0)
                        line_add(l, "  ", "%" PRIu64 "/%" PRIu64 " files", p->files_done,
                                 p->files_total);
                else if (p->files_done > 0)
                        line_add(l, "  ", "%" PRIu64 " files", p->files_done);
        }
        /* a rate means something once bytes are counted */
        if (lay->rate && p->rate >= 0 && !isinf(p->rate) &&
            (p->bytes_total > 0 || p->bytes_done > 0))
                line_add(l, "  ", "%s", format_rate(r, sizeof(r), p->rate));
        if (lay->eta && p->bytes_total > 0 && p->bytes_done < p->bytes_total)
                line_add(l, "  ", "ETA %s", format_eta(e, sizeof(e), progress_eta(p)));
        if (lay->phase && phase[0])
                line_add(l, "  ", "%s", phase);
}

/**
 * render_progress_line() - one progress line, fitted into a width.
 * @buf: where the line goes (caller's), NUL-terminated, no newline.
 * @size: size of @buf (at least 1).
 * @width: columns available; 0 = no limit.
 * @bar: draw the "[#####.....]" bar (on a terminal), or start with the percentage.
 * @p: what to show (borrowed).
 *
 * The line reads "[#####.....]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  ETA 0:21
 * transfer" (one line; the fields are separated by two spaces). A total of 0 shows the
 * done count alone and no ETA; an unknown rate (or any rate before bytes are counted) is
 * left out, and an unknown rate makes the ETA "--:--".
 * When the line is wider than @width the bar narrows to BAR_WIDTH_MIN, then the rate,
 * the file counts, the ETA, the byte counts, the phase and the bar are dropped in this
 * order, and what is still too wide is cut. Control characters in the phase become '?'.
 *
 * Returns the length of the line in @buf.
 */
size_t render_progress_line(char *buf, size_t size, size_t width, bool bar,
                            const ProgressInfo *p) {
        Layout lay = {
                .bar_width = bar ? BAR_WIDTH : 0,
                .bytes = true, .files = true, .rate = true, .eta = true, .phase = true,
        };
        char phase[PHASE_MAX + 1] = "";
        Line l;
        size_t n;

        if (!buf || size == 0)
                return 0;
        if (!p) {
                buf[0] = '\0';
                return 0;
        }

        if (p->phase) {
                for (n = 0; n < PHASE_MAX && p->phase[n]; n++)
                        phase[n] = p->phase[n] >= 0x20 && p->phase[n] < 0x7f ? p->phase[n] : '?';
                phase[n] = '\0';
        }

        for (unsigned step = 0;; step++) {
                compose(&l, &lay, p, phase);
                if (width == 0 || l.len <= width)
                        break;

                switch (step) {
                case 0:
                        if (lay.bar_width > BAR_WIDTH_MIN)
                                lay.bar_width = BAR_WIDTH_MIN;
                        continue;
                case 1:
                        lay.rate = false;
                        continue;
                case 2:
                        lay.files = false;
                        continue;
                case 3:
                        lay.eta = false;
                        continue;
                case 4:
                        lay.bytes = false;
                        continue;
                case 5:
                        lay.phase = false;
                        continue;
                case 6:
                        lay.bar_width = 0;
                        continue;
                default:
                        break;
                }
                break;
        }

        n = l.len < sizeof(l.text) ? l.len : sizeof(l.text) - 1;
        if (width > 0 && n > width)
                n = width;
        if (n > size - 1)
                n = size - 1;
        memcpy(buf, l.text, n);
        buf[n] = '\0';
        return n;
}

/* ---- rate estimation ---------------------------------------------------------------- */

static RateSample *sample_at(RateEstimator *e, size_t i) {
        return &e->samples[(e->first + i) % RATE_SAMPLES_MAX];
}

static const RateSample *sample_at_const(const RateEstimator *e, size_t i) {
        return &e->samples[(e->first + i) % RATE_SAMPLES_MAX];
}

static usec_t window_of(const RateEstimator *e) {
        return e->window > 0 ? e->window : RATE_WINDOW_DEFAULT;
}

/**
 * rate_estimator_init() - start an estimate afresh.
 * @e: the estimator (caller's).
 * @window: the averaging window in µs; 0 = RATE_WINDOW_DEFAULT (5 s).
 */
void rate_estimator_init(RateEstimator *e, usec_t window) {
        *e = (RateEstimator) { .window = window };
}

/**
 * rate_estimator_add() - record the byte counter's value at a time.
 * @e: the estimator.
 * @now: CLOCK_MONOTONIC µs; not earlier than the previous sample's (an earlier time
 *       starts afresh, as does a counter that went backwards).
 * @bytes_done: the counter.
 *
 * Samples older than the window are forgotten, except the newest of them, which marks
 * the counter's value at the window's start.
 */
void rate_estimator_add(RateEstimator *e, usec_t now, uint64_t bytes_done) {
        RateSample *last;

        if (e->n > 0) {
                last = sample_at(e, e->n - 1);
                if (bytes_done < last->bytes || now < last->time)
                        rate_estimator_init(e, e->window);
                else if (now == last->time) {
                        last->bytes = bytes_done;
                        return;
                }
        }

        if (e->n == RATE_SAMPLES_MAX) {         /* full: forget the oldest */
                e->first = (e->first + 1) % RATE_SAMPLES_MAX;
                e->n--;
        }
        *sample_at(e, e->n) = (RateSample) { .time = now, .bytes = bytes_done };
        e->n++;

        /* keep one sample at or before now - window: the anchor of the oldest estimate */
        while (e->n >= 2 && now >= window_of(e) && sample_at(e, 1)->time <= now - window_of(e)) {
                e->first = (e->first + 1) % RATE_SAMPLES_MAX;
                e->n--;
        }
}

/**
 * rate_estimator_get() - the average rate over the window that ends at @now.
 * @e: the estimator (borrowed).
 * @now: CLOCK_MONOTONIC µs, not earlier than the newest sample.
 *
 * The counter is taken to stand still between samples; the rate is its growth from the
 * start of the window (or from the first sample, if that is younger) to @now.
 *
 * Returns bytes per second (≥ 0), or -1 when there is less than RATE_SPAN_MIN of history.
 */
double rate_estimator_get(const RateEstimator *e, usec_t now) {
        const RateSample *last, *anchor = NULL;
        uint64_t start_bytes;
        usec_t w, start;

        if (!e || e->n == 0)
                return -1;
        w = window_of(e);

        last = sample_at_const(e, e->n - 1);
        if (now < last->time)
                return -1;

        if (now >= w)
                for (size_t i = 0; i < e->n; i++) {
                        const RateSample *s = sample_at_const(e, i);

                        if (s->time > now - w)
                                break;
                        anchor = s;
                }

        if (anchor) {
                start = now - w;
                start_bytes = anchor->bytes;
        } else {
                start = sample_at_const(e, 0)->time;
                start_bytes = sample_at_const(e, 0)->bytes;
        }

        if (now - start < RATE_SPAN_MIN)
                return -1;

        return (double) (last->bytes - start_bytes) * (double) USEC_PER_SEC /
               (double) (now - start);
}

/* ---- arguments ---------------------------------------------------------------------- */

/**
 * snapshot_id_is_valid() - whether a string can name one snapshot of a device.
 * @s: the string (borrowed), may be NULL.
 *
 * Returns true for 1..CLI_SNAPSHOT_ID_MAX printable, non-blank ASCII characters without
 * '/' and without "..", other than "."; false otherwise (also for "").
 */
bool snapshot_id_is_valid(const char *s) {
        size_t n;

        if (!s || !s[0] || strcmp(s, ".") == 0 || strstr(s, ".."))
                return false;
        for (n = 0; s[n]; n++)
                if (s[n] <= 0x20 || s[n] >= 0x7f || s[n] == '/')
                        return false;
        return n <= CLI_SNAPSHOT_ID_MAX;
}

/**
 * parse_snapshot_arg() - split a SNAPSHOT argument into its device and snapshot id.
 * @arg: "UDID/ID" (one snapshot) or "UDID" (the device's latest snapshot); borrowed.
 * @ret_udid: on success the UDID, newly allocated (the caller frees it).
 * @ret_id: on success the id, newly allocated; "" for the latest snapshot, which is
 *          also how the daemon's methods spell "the latest".
 *
 * The UDID comes back in its canonical spelling (udid_canonicalize(): the daemon's, so a
 * lower-case argument names the same device).
 *
 * Returns 0 on success, -EINVAL when @arg is NULL or empty, the UDID is not valid
 * (udid_is_valid()), there is more than one '/', or the id after the '/' is empty or
 * not valid (snapshot_id_is_valid()); -ENOMEM. The outputs are untouched on failure.
 */
int parse_snapshot_arg(const char *arg, char **ret_udid, char **ret_id) {
        _cleanup_free_ char *udid = NULL, *id = NULL;
        const char *slash;

        if (!arg || !ret_udid || !ret_id)
                return -EINVAL;

        slash = strchr(arg, '/');
        if (slash) {
                udid = strndup(arg, (size_t) (slash - arg));
                id = strdup(slash + 1);
        } else {
                udid = strdup(arg);
                id = strdup("");
        }
        if (!udid || !id)
                return -ENOMEM;

        if (!udid_is_valid(udid))
                return -EINVAL;
        if (slash && !snapshot_id_is_valid(id))
                return -EINVAL;
        (void) udid_canonicalize(udid);

        *ret_udid = TAKE_PTR(udid);
        *ret_id = TAKE_PTR(id);
        return 0;
}

/* ---- exit codes --------------------------------------------------------------------- */

/**
 * result_to_exit_code() - the exit code for a job's result word.
 * @result: the result as in JobRemoved (borrowed), may be NULL.
 *
 * Returns CLI_EXIT_DONE for "done", CLI_EXIT_CANCELLED for "cancelled" and
 * CLI_EXIT_FAILED for every other word, "" and NULL.
 */
int result_to_exit_code(const char *result) {
        if (!result)
                return CLI_EXIT_FAILED;
        if (strcmp(result, "done") == 0)
                return CLI_EXIT_DONE;
        if (strcmp(result, "cancelled") == 0)
                return CLI_EXIT_CANCELLED;
        return CLI_EXIT_FAILED;
}

/**
 * bus_error_to_exit_code() - the exit code for a failed method call.
 * @name: the D-Bus error name (borrowed), or NULL for a local error.
 * @error: the negative errno sd-bus returned with it.
 *
 * Returns CLI_EXIT_POLICY for org.idevicesync1.Error.PolicyDenied, CLI_EXIT_ACCESS for
 * org.freedesktop.DBus.Error.AccessDenied and for -EACCES/-EPERM (however named), and
 * CLI_EXIT_FAILED for everything else (Busy, NotConnected, NoSuchSnapshot, …).
 */
int bus_error_to_exit_code(const char *name, int error) {
        if (name && strcmp(name, "org.idevicesync1.Error.PolicyDenied") == 0)
                return CLI_EXIT_POLICY;
        if (name && strcmp(name, "org.freedesktop.DBus.Error.AccessDenied") == 0)
                return CLI_EXIT_ACCESS;
        if (error == -EACCES || error == -EPERM)
                return CLI_EXIT_ACCESS;
        return CLI_EXIT_FAILED;
}

/* ---- text for a terminal ------------------------------------------------------------ */

/**
 * text_sanitize() - make a string from the bus safe to print on a terminal, in place.
 * @s: a NUL-terminated UTF-8 string (caller's), may be NULL.
 *
 * Device names come from the phone, so they may hold escape sequences: C0 controls,
 * DEL and the C1 controls U+0080..U+009F (which some terminals obey) each become '?'.
 *
 * Returns @s.
 */
char *text_sanitize(char *s) {
        unsigned char *r, *w;

        if (!s)
                return s;

        for (r = w = (unsigned char *) s; *r; r++) {
                if (*r < 0x20 || *r == 0x7f)
                        *w++ = '?';
                else if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f) {
                        *w++ = '?';
                        r++;
                } else
                        *w++ = *r;
        }
        *w = '\0';
        return s;
}

/**
 * text_width() - the columns a UTF-8 string takes, counting one per code point.
 * @s: the string (borrowed), may be NULL (0).
 *
 * Returns the number of code points (wide CJK glyphs count as one: close enough to
 * line up tables of device names).
 */
size_t text_width(const char *s) {
        size_t n = 0;

        for (; s && *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

/**
 * text_truncate() - shorten a UTF-8 string in place to at most @width code points.
 * @s: the string (caller's), may be NULL.
 * @width: the limit.
 *
 * A string that is too long ends in "..." within the limit (or is cut bare when @width
 * is below 4); a cut never splits a code point.
 *
 * Returns @s.
 */
char *text_truncate(char *s, size_t width) {
        size_t keep, n = 0;
        char *p;

        if (!s || text_width(s) <= width)
                return s;

        keep = width >= 4 ? width - 3 : width;
        for (p = s; *p; p++) {
                if (((unsigned char) *p & 0xc0) != 0x80) {
                        if (n == keep)
                                break;
                        n++;
                }
        }
        if (width >= 4)
                memcpy(p, "...", 4);
        else
                *p = '\0';
        return s;
}
