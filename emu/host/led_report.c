/*
 * led_report.c - what the RGB LED is doing, summarised once a second of
 * virtual time ("white, breathing", "blue, blinking about 2 times a second").
 * Headless, a line goes to stdout whenever the summary changes (unless the
 * Core's USB serial has stdout); the window shows the latest summary in its
 * status line (host->led_summary).
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct led_report {
    struct host *h;
    struct event event;
    uint8_t rgb[3];
    uint32_t changes;
    uint8_t seen; /* bit per colour name */
    uint8_t min[3], max[3];
};

static const char *const colour_names[8] = {"off", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

static int colour_index(const uint8_t rgb[3])
{
    return (rgb[0] >= 16 ? 1 : 0) | (rgb[1] >= 16 ? 2 : 0) | (rgb[2] >= 16 ? 4 : 0);
}

static void led_changed(void *opaque, const uint8_t rgb[3])
{
    struct led_report *r = opaque;
    int prev = colour_index(r->rgb);
    memcpy(r->rgb, rgb, 3);
    int now = colour_index(rgb);
    r->seen |= (uint8_t)(1u << now);
    if (now != prev)
        r->changes++;
    for (int i = 0; i < 3; i++) {
        if (rgb[i] < r->min[i]) r->min[i] = rgb[i];
        if (rgb[i] > r->max[i]) r->max[i] = rgb[i];
    }
}

static void led_report(struct sim *sim, void *opaque)
{
    struct led_report *r = opaque;
    struct host *h = r->h;
    char summary[96];
    int lit = -1, nlit = 0;
    for (int c = 1; c < 8; c++)
        if (r->seen & (1u << c)) {
            lit = c;
            nlit++;
        }
    bool varied = false;
    for (int i = 0; i < 3; i++)
        varied |= r->max[i] - r->min[i] > 40;
    if (nlit == 0)
        snprintf(summary, sizeof summary, "off");
    else if (nlit > 1)
        snprintf(summary, sizeof summary, "changing colours");
    else if (r->changes >= 2)
        snprintf(summary, sizeof summary, "%s, blinking about %u times a second", colour_names[lit],
                 (r->changes + 1) / 2);
    else if (varied)
        snprintf(summary, sizeof summary, "%s, breathing", colour_names[lit]);
    else
        snprintf(summary, sizeof summary, "%s", colour_names[lit]);
    if (strcmp(summary, h->led_summary) != 0) {
        /* headless only, and not when stdout is someone else's: a test ROM's (--load) or the Core's USB
           serial (--serial stdio), whose byte stream a line of ours would corrupt */
        if (!h->windowed && h->opt->log_level > LOG_ERROR && h->opt->nloads == 0 && h->opt->serial != SERIAL_STDIO) {
            printf("[%8.3f s] LED %s\n", (double)sim->clock.now / SIM_HZ, summary);
            fflush(stdout);
        }
        strcpy(h->led_summary, summary);
    }
    r->seen = (uint8_t)(1u << colour_index(r->rgb));
    r->changes = 0;
    memcpy(r->min, r->rgb, 3);
    memcpy(r->max, r->rgb, 3);
    event_schedule(sim, &r->event, r->event.when + SIM_S(1));
}

static int led_report_create(struct host *h, void **self, char *err, size_t errlen)
{
    struct led_report *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->h = h;
    *self = r;
    return 0;
}

static int led_report_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct led_report *r = self;
    if (spark_core_add_led_observer(h->board, led_changed, r)) {
        snprintf(err, errlen, "too many LED observers");
        return -1;
    }
    event_init(&r->event, led_report, r, "LED report");
    event_schedule(&h->m->sim, &r->event, SIM_S(1));
    return 0;
}

static void led_report_destroy(struct host *h, void *self)
{
    (void)h;
    free(self);
}

const struct host_adapter host_led_report = {
    .name = "LED report",
    .create = led_report_create,
    .attach = led_report_attach,
    .destroy = led_report_destroy,
};
