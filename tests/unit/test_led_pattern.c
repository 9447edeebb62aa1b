/*
 * test_led_pattern.c - the LED pattern recogniser: off, solid, blinking with
 * its duty, breathing (one long fade, and slow cycles with their period),
 * colour changes, patterns that stop, and channel-by-channel updates that
 * must not show as colours of their own.
 */
#include "led_pattern.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define MS 1000ull
#define S 1000000ull

static const uint8_t OFF[3] = {0, 0, 0};
static const uint8_t BLUE[3] = {0, 0, 95};
static const uint8_t GREEN[3] = {0, 95, 0};
static const uint8_t RED[3] = {95, 0, 0};
static const uint8_t YELLOW[3] = {95, 95, 0};

static void set(struct led_pattern *p, uint64_t t, const uint8_t rgb[3]) { led_pattern_update(p, t, rgb); }

/* on for `on`, off for the rest of `period`, n times from t0; returns the end */
static uint64_t blink(struct led_pattern *p, uint64_t t0, const uint8_t rgb[3], uint64_t period, uint64_t on, int n)
{
    for (int i = 0; i < n; i++) {
        set(p, t0 + i * period, rgb);
        set(p, t0 + i * period + on, OFF);
    }
    return t0 + n * period;
}

static void test_dark_from_the_start_is_off(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    led_pattern_classify(&p, 2 * S, &s);
    assert_int_equal(s.shape, LED_OFF);
    assert_int_equal(s.seen_us, 2 * S);
}

static void test_solid_needs_half_a_second(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    set(&p, 100 * MS, GREEN);
    led_pattern_classify(&p, 500 * MS, &s);
    assert_int_equal(s.shape, LED_CHANGING);
    led_pattern_classify(&p, 700 * MS, &s);
    assert_int_equal(s.shape, LED_SOLID);
    assert_string_equal(led_colour_name(s.rgb), "green");
    assert_int_equal(s.seen_us, 600 * MS);
}

static void test_solid_may_wobble_by_a_level(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    for (int i = 0; i < 40; i++) {
        uint8_t c[3] = {0, (uint8_t)(i % 2 ? 95 : 94), 0};
        set(&p, 100 * MS + i * 20 * MS, c);
    }
    led_pattern_classify(&p, 900 * MS, &s);
    assert_int_equal(s.shape, LED_SOLID);
    assert_string_equal(led_colour_name(s.rgb), "green");
    assert_int_equal(s.seen_us, 800 * MS);
}

static void test_blink_reports_period_and_duty(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    uint64_t end = blink(&p, 1 * S, BLUE, 500 * MS, 100 * MS, 3);
    set(&p, end, BLUE);
    led_pattern_classify(&p, end + 50 * MS, &s);
    assert_int_equal(s.shape, LED_BLINKING);
    assert_string_equal(led_colour_name(s.rgb), "blue");
    assert_int_equal(s.period_us, 500 * MS);
    assert_int_equal(s.on_us, 100 * MS);
    assert_int_equal(s.cycles, 3);
    assert_int_equal(s.seen_us, 3 * 500 * MS + 50 * MS);
    char line[96];
    led_pattern_describe(&s, line, sizeof line);
    assert_string_equal(line, "blue, blinking every 500 ms (on 100 ms)");
}

static void test_one_switch_on_is_not_yet_a_blink(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    set(&p, 1 * S, BLUE);
    set(&p, 1 * S + 250 * MS, OFF);
    led_pattern_classify(&p, 1 * S + 400 * MS, &s);
    assert_int_not_equal(s.shape, LED_BLINKING);
}

static void test_blink_that_stops_lit_becomes_solid(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    uint64_t end = blink(&p, 0, BLUE, 500 * MS, 250 * MS, 4);
    set(&p, end, BLUE);
    led_pattern_classify(&p, end + 300 * MS, &s);
    assert_int_equal(s.shape, LED_BLINKING); /* 300 ms on is late, but not yet over */
    led_pattern_classify(&p, end + 400 * MS, &s);
    assert_int_equal(s.shape, LED_CHANGING);
    led_pattern_classify(&p, end + 600 * MS, &s);
    assert_int_equal(s.shape, LED_SOLID);
    assert_string_equal(led_colour_name(s.rgb), "blue");
}

static void test_new_blink_period_replaces_the_old(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    uint64_t t = blink(&p, 0, GREEN, 200 * MS, 100 * MS, 10);
    t = blink(&p, t, GREEN, 500 * MS, 250 * MS, 3);
    led_pattern_classify(&p, t, &s);
    assert_int_equal(s.shape, LED_BLINKING);
    assert_int_equal(s.period_us, 500 * MS);
    assert_true(s.cycles >= 2 && s.cycles <= 3);
}

/* Tinker's start-up: white from 95 down to 10 in 25 ms steps, then listening blue */
static uint64_t tinker_fade(struct led_pattern *p)
{
    uint64_t t = 10 * MS;
    for (int v = 95; v >= 10; v--) {
        uint8_t c[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)v};
        set(p, t, c);
        t += (v % 5 == 0) ? 25 * MS : 20 * MS;
    }
    return t;
}

static void test_one_long_fade_is_breathing(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    uint64_t end = tinker_fade(&p);
    led_pattern_classify(&p, 600 * MS, &s);
    assert_int_equal(s.shape, LED_BREATHING);
    assert_string_equal(led_colour_name(s.rgb), "white");
    assert_true(s.levels >= 8);
    assert_int_equal(s.cycles, 1);
    assert_int_equal(s.period_us, 0);
    assert_int_equal(s.seen_us, 590 * MS);
    /* then blue blinking: no longer breathing */
    set(&p, end, BLUE);
    led_pattern_classify(&p, end + 100 * MS, &s);
    assert_int_equal(s.shape, LED_CHANGING);
}

static void test_slow_breathing_measures_its_period(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    /* cyan, 4 s per breath, updated every 25 ms, never fully dark */
    uint64_t t = 0;
    for (; t < 10 * S; t += 25 * MS) {
        double phase = (double)t / (4.0 * S) * 2 * M_PI;
        uint8_t v = (uint8_t)(10 + 85 * (0.5 - 0.5 * cos(phase)));
        uint8_t c[3] = {0, v, v};
        set(&p, t, c);
    }
    led_pattern_classify(&p, t, &s);
    assert_int_equal(s.shape, LED_BREATHING);
    assert_string_equal(led_colour_name(s.rgb), "cyan");
    assert_true(s.period_us > 3900 * MS && s.period_us < 4100 * MS);
    assert_true(s.cycles >= 4);
    char line[96];
    led_pattern_describe(&s, line, sizeof line);
    assert_string_equal(line, "cyan, breathing every 4.0 s");
}

static void test_colour_change_is_changing_then_solid(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    set(&p, 0, RED);
    set(&p, 1 * S, GREEN);
    led_pattern_classify(&p, 1 * S + 200 * MS, &s);
    assert_int_equal(s.shape, LED_CHANGING);
    assert_string_equal(led_colour_name(s.rgb), "green");
    led_pattern_classify(&p, 1 * S + 600 * MS, &s);
    assert_int_equal(s.shape, LED_SOLID);
    assert_string_equal(led_colour_name(s.rgb), "green");
}

static void test_red_green_alternation_is_not_a_blink(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    for (int i = 0; i < 10; i++)
        set(&p, i * 250 * MS, i % 2 ? GREEN : RED);
    led_pattern_classify(&p, 2600 * MS, &s);
    assert_int_equal(s.shape, LED_CHANGING);
}

/* A bootloader toggles CCR1..3 one after another: in-between colours for microseconds. */
static void test_channel_by_channel_updates_are_ignored(void **state)
{
    (void)state;
    struct led_pattern p;
    struct led_pattern_state s;
    led_pattern_init(&p, 0);
    static const uint8_t R_ONLY[3] = {95, 0, 0}, G_ONLY[3] = {0, 95, 0};
    uint64_t t = 0;
    for (int i = 0; i < 6; i++, t += 200 * MS) {
        set(&p, t, R_ONLY);
        set(&p, t + 3, YELLOW);
        set(&p, t + 100 * MS, G_ONLY);
        set(&p, t + 100 * MS + 4, OFF);
    }
    led_pattern_classify(&p, t, &s);
    assert_int_equal(s.shape, LED_BLINKING);
    assert_string_equal(led_colour_name(s.rgb), "yellow");
    assert_int_equal(s.period_us, 200 * MS);
    assert_int_equal(s.on_us, 100 * MS);
    assert_int_equal(s.cycles, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dark_from_the_start_is_off),
        cmocka_unit_test(test_solid_needs_half_a_second),
        cmocka_unit_test(test_solid_may_wobble_by_a_level),
        cmocka_unit_test(test_blink_reports_period_and_duty),
        cmocka_unit_test(test_one_switch_on_is_not_yet_a_blink),
        cmocka_unit_test(test_blink_that_stops_lit_becomes_solid),
        cmocka_unit_test(test_new_blink_period_replaces_the_old),
        cmocka_unit_test(test_one_long_fade_is_breathing),
        cmocka_unit_test(test_slow_breathing_measures_its_period),
        cmocka_unit_test(test_colour_change_is_changing_then_solid),
        cmocka_unit_test(test_red_green_alternation_is_not_a_blink),
        cmocka_unit_test(test_channel_by_channel_updates_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
