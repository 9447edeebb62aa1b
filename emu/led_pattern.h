/*
 * led_pattern.h - what an RGB LED is doing, recognised from its colour
 * changes: off, solid, blinking (period, on time) or breathing (a steady hue
 * ramping through many brightness levels), and for how long it has done so.
 * The headless LED lines, the window's status line and the scenario
 * expectations (--script) all describe the LED with it.
 *
 * Design decision: changes closer together than LED_PATTERN_SETTLE_US are one
 * change (the last colour, at the time of the first), so firmware that writes
 * the three PWM channels one after another never shows its in-between
 * colours. Everything else is recognised from the recent history of settled
 * colours, walking back from now; times are microseconds, and the module
 * knows nothing of the machine.
 */
#ifndef EMU_LED_PATTERN_H
#define EMU_LED_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LED_PATTERN_SETTLE_US 1000u  /* a colour shown for less than this is a step on the way */
#define LED_PATTERN_HISTORY 512      /* settled colours kept: two slow breaths */
#define LED_PATTERN_LIT 4            /* a channel at or below this is dark */

enum led_shape {
    LED_OFF = 0,     /* dark */
    LED_SOLID,       /* one colour, steady */
    LED_BLINKING,    /* one colour on, then off, at a regular period */
    LED_BREATHING,   /* one hue, brightness moving through many levels in small steps */
    LED_CHANGING,    /* something else, or not shown long enough to tell */
};

struct led_pattern_state {
    enum led_shape shape;
    uint8_t rgb[3];      /* solid: its colour; blinking: the on colour; breathing: the brightest seen */
    uint64_t seen_us;    /* how long the LED has shown this pattern without a break */
    uint64_t period_us;  /* blinking: mean period measured; breathing: peak to peak, 0 if not yet measured */
    uint64_t on_us;      /* blinking: mean on time */
    int cycles;          /* blinking: full periods seen; breathing: ramps (rises or falls) seen */
    int levels;          /* breathing: distinct brightness levels seen */
};

struct led_pattern {
    struct led_sample {
        uint64_t t_us;
        uint8_t rgb[3];
    } history[LED_PATTERN_HISTORY]; /* settled colours, oldest first, a ring */
    int first, count;
    struct led_sample pending;      /* the newest change, not settled yet */
    bool has_pending;
};

/* Start with the LED dark at t_us. */
void led_pattern_init(struct led_pattern *p, uint64_t t_us);
/* The LED shows rgb from t_us on (times never go back). */
void led_pattern_update(struct led_pattern *p, uint64_t t_us, const uint8_t rgb[3]);
/* What the LED has been doing up to now_us. */
void led_pattern_classify(struct led_pattern *p, uint64_t now_us, struct led_pattern_state *out);

/* The colour's name by the channels lit relative to the brightest: off, red, ..., white. */
const char *led_colour_name(const uint8_t rgb[3]);
/* One line for people: "blue, blinking every 500 ms (on 250 ms)", "white, breathing", "off". */
void led_pattern_describe(const struct led_pattern_state *s, char *buf, size_t len);

#endif
