/*
 * rgb_led.h - the Core's common-anode RGB LED, driven by three PWM outputs.
 *
 * Design decision: the visible colour is reported (trace record "led" and the
 * observer) once per virtual instant, from a zero-delay event, so the several
 * PWM updates a firmware makes to set one colour produce one record, and a
 * change undone in the same instant produces none.
 */
#ifndef PERIPHERALS_EXT_RGB_LED_H
#define PERIPHERALS_EXT_RGB_LED_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/periph.h"

/* Channel numbers of rgb_led_pwm_in; the board maps TIM1 CH2/CH3/CH1 (PA9/PA10/PA8) to them. */
enum rgb_led_channel { RGB_LED_RED = 0, RGB_LED_GREEN = 1, RGB_LED_BLUE = 2, RGB_LED_CHANNELS = 3 };

/* A PWM duty of 1.0 in the Q16 fixed point that rgb_led_pwm_in takes. */
#define RGB_LED_Q16_ONE 65536u

typedef void (*rgb_led_observer_fn)(void *opaque, const uint8_t rgb[3]);

struct rgb_led {
    struct sim *sim;
    bool driven[RGB_LED_CHANNELS];
    uint32_t high_q16[RGB_LED_CHANNELS];
    uint8_t shown[RGB_LED_CHANNELS]; /* the colour last reported */
    struct event report;
    rgb_led_observer_fn observer;
    void *observer_opaque;
};

void rgb_led_init(struct rgb_led *led, struct sim *sim);
/* Power-on: off, and one trace record of that. Other resets do not reach the LED. */
void rgb_led_reset(struct rgb_led *led, enum reset_cause cause);
/*
 * PWM input for channel `ch` (RGB_LED_RED/GREEN/BLUE): whether the pin is
 * driven at all, and the fraction of the period it is high (0..65536). The
 * cathode side is the pin, so a channel is lit while the pin is low:
 * brightness = driven ? (65536 - high_q16) : 0, scaled to 0..255, rounded.
 */
void rgb_led_pwm_in(void *opaque, int ch, bool driven, uint32_t high_q16);
/* The colour the pins make right now (before any same-instant coalescing). */
void rgb_led_get(const struct rgb_led *led, uint8_t rgb[3]);
/* Called with every reported colour change (the window uses it); NULL to stop. */
void rgb_led_set_observer(struct rgb_led *led, rgb_led_observer_fn fn, void *opaque);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void rgb_led_save(const struct rgb_led *d, struct snap_writer *w);
void rgb_led_load(struct rgb_led *d, struct snap_reader *r);

#endif
