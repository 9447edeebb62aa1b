/*
 * led_pattern.c - recognises off, solid, blinking and breathing from an RGB
 * LED's colour changes (see led_pattern.h).
 *
 * Design decision: the history holds settled colours only, and every question
 * is answered by walking back from now: the longest run of regular on/off
 * alternation ending now is a blink, the longest run of small steps in one hue
 * ending now is a breath, and failing both the current colour is solid once
 * it has lasted LED_SOLID_MIN_US. A pattern that stops (a blink whose phase
 * runs far past its usual length) is over at once.
 */
#include "led_pattern.h"

#include <stdio.h>
#include <string.h>

#define LED_SOLID_MIN_US 500000u     /* a colour held this long is solid */
#define SOLID_WOBBLE 2               /* levels a solid colour may move by */
#define BREATH_STEP_MAX_US 400000u   /* a breathing level lasts less than this */
#define BREATH_MIN_LEVELS 8
#define BLINK_PERIOD_SPREAD 8        /* periods in one blink agree within 1/8 */
#define BLINK_MEAN_PERIODS 4         /* period and on time: the mean of the newest few */

static unsigned brightness(const uint8_t rgb[3])
{
    unsigned m = rgb[0];
    if (rgb[1] > m) m = rgb[1];
    if (rgb[2] > m) m = rgb[2];
    return m;
}

static bool lit(const uint8_t rgb[3]) { return brightness(rgb) > LED_PATTERN_LIT; }

/* Which channels are lit, relative to the brightest: dim white is still white. */
static unsigned hue_class(const uint8_t rgb[3])
{
    unsigned m = brightness(rgb), mask = 0;
    if (m <= LED_PATTERN_LIT)
        return 0;
    for (int i = 0; i < 3; i++)
        if (rgb[i] * 3u >= m && rgb[i] > LED_PATTERN_LIT)
            mask |= 1u << i;
    return mask;
}

const char *led_colour_name(const uint8_t rgb[3])
{
    static const char *const names[8] = {"off", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};
    return names[hue_class(rgb)];
}

/* The same on colour of a blink: the same channels, brightness within a quarter. */
static bool same_colour(const uint8_t a[3], const uint8_t b[3])
{
    unsigned ba = brightness(a), bb = brightness(b);
    unsigned diff = ba > bb ? ba - bb : bb - ba;
    return hue_class(a) == hue_class(b) && diff * 4 <= (ba > bb ? ba : bb);
}

/* The same steady colour: the same channels, brightness within SOLID_WOBBLE levels. */
static bool near(const uint8_t a[3], const uint8_t b[3])
{
    unsigned ba = brightness(a), bb = brightness(b);
    return hue_class(a) == hue_class(b) && (ba > bb ? ba - bb : bb - ba) <= SOLID_WOBBLE;
}

void led_pattern_init(struct led_pattern *p, uint64_t t_us)
{
    memset(p, 0, sizeof *p);
    p->history[0].t_us = t_us;
    p->count = 1;
}

static struct led_sample *sample(struct led_pattern *p, int i)
{
    return &p->history[(p->first + i) % LED_PATTERN_HISTORY];
}

static void commit(struct led_pattern *p, const struct led_sample *s)
{
    if (p->count && memcmp(sample(p, p->count - 1)->rgb, s->rgb, 3) == 0)
        return;
    if (p->count == LED_PATTERN_HISTORY) {
        p->first = (p->first + 1) % LED_PATTERN_HISTORY;
        p->count--;
    }
    *sample(p, p->count) = *s;
    p->count++;
}

void led_pattern_update(struct led_pattern *p, uint64_t t_us, const uint8_t rgb[3])
{
    uint8_t c[3] = {rgb[0], rgb[1], rgb[2]};
    if (!lit(c))
        memset(c, 0, 3); /* every kind of dark is one */
    if (p->has_pending && t_us - p->pending.t_us < LED_PATTERN_SETTLE_US) {
        memcpy(p->pending.rgb, c, 3); /* a step on the way: the burst keeps its start */
        return;
    }
    if (p->has_pending)
        commit(p, &p->pending);
    p->pending.t_us = t_us;
    memcpy(p->pending.rgb, c, 3);
    p->has_pending = true;
}

/* How long sample i lasted (the newest: until now). */
static uint64_t duration(struct led_pattern *p, int i, uint64_t now)
{
    uint64_t end = i + 1 < p->count ? sample(p, i + 1)->t_us : now;
    return end > sample(p, i)->t_us ? end - sample(p, i)->t_us : 0;
}

static bool find_blink(struct led_pattern *p, uint64_t now, struct led_pattern_state *out)
{
    int last = p->count - 1;
    const uint8_t *on_colour = NULL;
    int start = last;
    /* the alternation of one colour with dark, ending now */
    for (int i = last; i >= 0; i--) {
        const uint8_t *c = sample(p, i)->rgb;
        if (lit(c)) {
            if (!on_colour)
                on_colour = c;
            else if (!same_colour(c, on_colour))
                break;
            if (i < last && lit(sample(p, i + 1)->rgb))
                break;
        }
        start = i;
    }
    if (!on_colour)
        return false;
    /* switch-ons, newest first, while their periods agree with the newest one */
    int ons[LED_PATTERN_HISTORY], nons = 0;
    for (int i = last; i >= start; i--)
        if (lit(sample(p, i)->rgb) && (i == 0 || !lit(sample(p, i - 1)->rgb) || i == start))
            ons[nons++] = i;
    if (nons < 2)
        return false;
    uint64_t ref = sample(p, ons[0])->t_us - sample(p, ons[1])->t_us;
    uint64_t period_sum = 0, on_sum = 0;
    int cycles = 0;
    for (int k = 1; k < nons; k++) {
        uint64_t per = sample(p, ons[k - 1])->t_us - sample(p, ons[k])->t_us;
        uint64_t diff = per > ref ? per - ref : ref - per;
        if (diff * BLINK_PERIOD_SPREAD > ref)
            break;
        if (cycles < BLINK_MEAN_PERIODS) {
            period_sum += per;
            on_sum += duration(p, ons[k], now);
        }
        cycles++;
    }
    int n = cycles < BLINK_MEAN_PERIODS ? cycles : BLINK_MEAN_PERIODS;
    uint64_t period = period_sum / (uint64_t)n, on = on_sum / (uint64_t)n;
    if (on >= period)
        return false;
    /* a phase running far past its usual length: the blinking has stopped */
    uint64_t cur = duration(p, last, now);
    uint64_t usual = lit(sample(p, last)->rgb) ? on : period - on;
    if (cur > usual + usual / 2 + LED_PATTERN_SETTLE_US)
        return false;
    out->shape = LED_BLINKING;
    memcpy(out->rgb, on_colour, 3);
    out->period_us = period;
    out->on_us = on;
    out->cycles = cycles;
    out->seen_us = now - sample(p, ons[cycles])->t_us;
    return true;
}

static bool find_breath(struct led_pattern *p, uint64_t now, struct led_pattern_state *out)
{
    int last = p->count - 1;
    unsigned hue = 0;
    int start = last;
    if (duration(p, last, now) >= BREATH_STEP_MAX_US)
        return false;
    for (int i = last; i >= 0; i--) {
        const uint8_t *c = sample(p, i)->rgb;
        unsigned h = hue_class(c);
        if (h) {
            if (!hue)
                hue = h;
            else if (h != hue)
                break;
        }
        if (i < last) {
            if (duration(p, i, now) >= BREATH_STEP_MAX_US)
                break;
            unsigned a = brightness(c), b = brightness(sample(p, i + 1)->rgb);
            unsigned step = a > b ? a - b : b - a, top = a > b ? a : b;
            if (step > 12 && step * 4 > top)
                break; /* a jump, not a ramp */
        }
        start = i;
    }
    if (!hue)
        return false;
    /* levels, ramps and peaks: a ramp turns once it has moved 3 levels back from its extreme */
    bool seen_level[256] = {false};
    int levels = 0, ramps = 0, dir = 0, npeaks = 0, ntroughs = 0;
    uint64_t peaks[2] = {0, 0}, troughs[2] = {0, 0};
    unsigned top = 0, hi = brightness(sample(p, start)->rgb), lo = hi;
    uint64_t hi_t = sample(p, start)->t_us, lo_t = hi_t;
    int brightest = start;
    for (int i = start; i <= last; i++) {
        unsigned b = brightness(sample(p, i)->rgb);
        uint64_t t = sample(p, i)->t_us;
        if (!seen_level[b]) {
            seen_level[b] = true;
            levels++;
        }
        if (b > top) {
            top = b;
            brightest = i;
        }
        if (b > hi) {
            hi = b;
            hi_t = t;
        }
        if (b < lo) {
            lo = b;
            lo_t = t;
        }
        if (dir >= 0 && b + 3 <= hi) {
            if (dir > 0) { /* a peak */
                peaks[0] = peaks[1];
                peaks[1] = hi_t;
                npeaks++;
            }
            ramps++;
            dir = -1;
            lo = b;
            lo_t = t;
        } else if (dir <= 0 && b >= lo + 3) {
            if (dir < 0) { /* a trough */
                troughs[0] = troughs[1];
                troughs[1] = lo_t;
                ntroughs++;
            }
            ramps++;
            dir = 1;
            hi = b;
            hi_t = t;
        }
    }
    if (levels < BREATH_MIN_LEVELS)
        return false;
    out->shape = LED_BREATHING;
    memcpy(out->rgb, sample(p, brightest)->rgb, 3);
    out->levels = levels;
    out->cycles = ramps;
    /* the newest full cycle, peak to peak or trough to trough */
    if (npeaks >= 2 && (ntroughs < 2 || peaks[1] > troughs[1]))
        out->period_us = peaks[1] - peaks[0];
    else if (ntroughs >= 2)
        out->period_us = troughs[1] - troughs[0];
    out->seen_us = now - sample(p, start)->t_us;
    return true;
}

void led_pattern_classify(struct led_pattern *p, uint64_t now_us, struct led_pattern_state *out)
{
    memset(out, 0, sizeof *out);
    if (p->has_pending && now_us - p->pending.t_us >= LED_PATTERN_SETTLE_US) {
        commit(p, &p->pending);
        p->has_pending = false;
    }
    if (find_blink(p, now_us, out) || find_breath(p, now_us, out))
        return;
    int last = p->count - 1, first = last;
    const uint8_t *c = sample(p, last)->rgb;
    /* a steady colour may wobble by a level or two (a duty measured over a changing PWM period) */
    while (first > 0 && near(sample(p, first - 1)->rgb, c))
        first--;
    memcpy(out->rgb, c, 3);
    out->seen_us = now_us - sample(p, first)->t_us;
    if (out->seen_us < LED_SOLID_MIN_US)
        out->shape = LED_CHANGING;
    else
        out->shape = lit(c) ? LED_SOLID : LED_OFF;
}

static void format_time(uint64_t us, char *buf, size_t len)
{
    if (us >= 10000000u)
        snprintf(buf, len, "%.0f s", (double)us / 1e6);
    else if (us >= 1000000u)
        snprintf(buf, len, "%.1f s", (double)us / 1e6);
    else if (us >= 100000u) /* to 10 ms: a line that changes only when the pattern does */
        snprintf(buf, len, "%llu ms", (unsigned long long)((us + 5000) / 10000 * 10));
    else
        snprintf(buf, len, "%llu ms", (unsigned long long)((us + 500) / 1000));
}

void led_pattern_describe(const struct led_pattern_state *s, char *buf, size_t len)
{
    const char *name = led_colour_name(s->rgb);
    char period[32], on[32];
    switch (s->shape) {
    case LED_OFF:
        snprintf(buf, len, "off");
        break;
    case LED_SOLID:
        snprintf(buf, len, "%s, solid", name);
        break;
    case LED_BLINKING:
        format_time(s->period_us, period, sizeof period);
        format_time(s->on_us, on, sizeof on);
        snprintf(buf, len, "%s, blinking every %s (on %s)", name, period, on);
        break;
    case LED_BREATHING:
        if (s->period_us) {
            format_time(s->period_us, period, sizeof period);
            snprintf(buf, len, "%s, breathing every %s", name, period);
        } else {
            snprintf(buf, len, "%s, breathing", name);
        }
        break;
    case LED_CHANGING:
    default:
        if (lit(s->rgb))
            snprintf(buf, len, "changing (now %s)", name);
        else
            snprintf(buf, len, "changing (now off)");
        break;
    }
}
