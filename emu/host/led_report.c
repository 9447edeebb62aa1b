/*
 * led_report.c - what the RGB LED is doing, in words ("white, breathing",
 * "blue, blinking every 500 ms (on 250 ms)"), from the pattern recogniser
 * (emu/led_pattern.h). Headless, a line goes to stdout whenever a settled
 * pattern differs from the last one printed by more than jitter (unless
 * stdout is someone else's); the window reads the same words for its status line through
 * host_led_describe().
 *
 * Design decision: the recogniser sees every colour change as it happens and
 * is asked at every pace tick (10 ms of virtual time), so a line's time stamp
 * is when the pattern became certain, within 10 ms. A pattern still forming
 * ("changing") is never printed: a blink is printed once two full periods have
 * been seen, a solid colour after half a second.
 */
#include "emu/led_pattern.h"
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct led_report {
    struct host *h;
    struct led_pattern pattern;
    struct led_pattern_state printed; /* the last pattern put in words */
    bool have_printed;
};

/* The same pattern in other words: a period that moved by a few percent is no news. */
static bool same_pattern(const struct led_pattern_state *a, const struct led_pattern_state *b)
{
    if (a->shape != b->shape || strcmp(led_colour_name(a->rgb), led_colour_name(b->rgb)) != 0)
        return false;
    uint64_t dp = a->period_us > b->period_us ? a->period_us - b->period_us : b->period_us - a->period_us;
    uint64_t don = a->on_us > b->on_us ? a->on_us - b->on_us : b->on_us - a->on_us;
    return dp * 8 <= b->period_us && don * 4 <= b->on_us && (a->period_us == 0) == (b->period_us == 0);
}

static void led_changed(void *opaque, const uint8_t rgb[3])
{
    struct led_report *r = opaque;
    led_pattern_update(&r->pattern, sim_now_us(&r->h->m->sim), rgb);
}

static struct led_report *find(struct host *h)
{
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops == &host_led_report)
            return h->adapters[i].self;
    return NULL;
}

void host_led_describe(struct host *h, char *buf, size_t len)
{
    struct led_report *r = find(h);
    if (!r || !h->m) {
        snprintf(buf, len, "off");
        return;
    }
    struct led_pattern_state s;
    led_pattern_classify(&r->pattern, sim_now_us(&h->m->sim), &s);
    led_pattern_describe(&s, buf, len);
}

static void led_report_pace(struct host *h, void *self)
{
    struct led_report *r = self;
    struct led_pattern_state s;
    led_pattern_classify(&r->pattern, sim_now_us(&h->m->sim), &s);
    if (s.shape == LED_CHANGING || (s.shape == LED_BLINKING && s.cycles < 2))
        return; /* not settled yet */
    if (r->have_printed && same_pattern(&s, &r->printed))
        return;
    r->printed = s;
    r->have_printed = true;
    char summary[sizeof h->led_summary];
    led_pattern_describe(&s, summary, sizeof summary);
    /* headless only, and not when stdout is someone else's: a test ROM's (--load) or the Core's USB
       serial (--serial stdio), whose byte stream a line of ours would corrupt */
    if (!h->windowed && h->opt->log_level > LOG_ERROR && h->opt->nloads == 0 && h->opt->serial != SERIAL_STDIO) {
        printf("[%8.3f s] LED %s\n", (double)h->m->sim.clock.now / SIM_HZ, summary);
        fflush(stdout);
    }
    strcpy(h->led_summary, summary);
}

static int led_report_create(struct host *h, void **self, char *err, size_t errlen)
{
    struct led_report *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->h = h;
    led_pattern_init(&r->pattern, 0);
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
    .pace = led_report_pace,
    .destroy = led_report_destroy,
};
