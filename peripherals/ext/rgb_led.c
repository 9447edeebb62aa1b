/*
 * rgb_led.c - common-anode RGB LED: PWM duty in, visible colour out.
 *
 * Design decision: brightness is the time-averaged current, i.e. the fraction
 * of the PWM period the pin is low, and changes are reported from a zero-delay
 * event so that one virtual instant yields at most one "led" trace record.
 */
#include "rgb_led.h"

#include "emu/snapshot.h"

#include <string.h>

#define BRIGHTNESS_MAX 255u
#define Q16_SHIFT 16
#define Q16_HALF (1u << (Q16_SHIFT - 1))

static uint8_t channel_brightness(const struct rgb_led *led, int ch)
{
    if (!led->driven[ch])
        return 0; /* a floating cathode carries no current */
    uint32_t low_q16 = RGB_LED_Q16_ONE - led->high_q16[ch];
    return (uint8_t)((low_q16 * BRIGHTNESS_MAX + Q16_HALF) >> Q16_SHIFT);
}

void rgb_led_get(const struct rgb_led *led, uint8_t rgb[3])
{
    for (int ch = 0; ch < RGB_LED_CHANNELS; ch++)
        rgb[ch] = channel_brightness(led, ch);
}

static void report(struct rgb_led *led, const uint8_t rgb[3])
{
    memcpy(led->shown, rgb, sizeof led->shown);
    sim_trace(led->sim, "led", "\"r\":%u,\"g\":%u,\"b\":%u", rgb[RGB_LED_RED], rgb[RGB_LED_GREEN],
              rgb[RGB_LED_BLUE]);
    if (led->observer)
        led->observer(led->observer_opaque, rgb);
}

static void report_event(struct sim *sim, void *opaque)
{
    (void)sim;
    struct rgb_led *led = opaque;
    uint8_t rgb[3];
    rgb_led_get(led, rgb);
    if (memcmp(rgb, led->shown, sizeof rgb) != 0)
        report(led, rgb);
}

void rgb_led_pwm_in(void *opaque, int ch, bool driven, uint32_t high_q16)
{
    struct rgb_led *led = opaque;
    if (ch < 0 || ch >= RGB_LED_CHANNELS)
        return;
    led->driven[ch] = driven;
    led->high_q16[ch] = high_q16 > RGB_LED_Q16_ONE ? RGB_LED_Q16_ONE : high_q16;
    if (!event_pending(&led->report))
        event_schedule_in(led->sim, &led->report, 0);
}

void rgb_led_set_observer(struct rgb_led *led, rgb_led_observer_fn fn, void *opaque)
{
    led->observer = fn;
    led->observer_opaque = opaque;
}

void rgb_led_init(struct rgb_led *led, struct sim *sim)
{
    memset(led, 0, sizeof *led);
    led->sim = sim;
    event_init(&led->report, report_event, led, "rgb-led-report");
}

void rgb_led_reset(struct rgb_led *led, enum reset_cause cause)
{
    if (cause != RESET_POWER)
        return;
    event_cancel(led->sim, &led->report);
    memset(led->driven, 0, sizeof led->driven);
    memset(led->high_q16, 0, sizeof led->high_q16);
    static const uint8_t off[3] = {0, 0, 0};
    report(led, off);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void rgb_led_fields(struct rgb_led *d, struct snap_io *io)
{
    SNAP_IO_BOOLS(io, d->driven);
    SNAP_IO_U32S(io, d->high_q16);
    snap_io_bytes(io, d->shown, sizeof d->shown);
    snap_io_event(io, &d->report);
}

SNAP_DEFINE_PAIR(rgb_led, struct rgb_led, rgb_led_fields)
