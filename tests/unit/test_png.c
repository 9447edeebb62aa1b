/*
 * test_png.c - the PNG writer (png_write_rgb) read back with libpng, and the
 * panel drawing it saves (panel_render_png) checked at the RGB LED's centre,
 * where the LED's PWM duty shows as the eye sees it.
 *
 * Design decision: the files are decoded by libpng's own reader (the
 * simplified png_image API), which checks CRCs, zlib and filters, so these
 * tests pin what a PNG viewer will see: the size and every pixel.
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/panel.h"

#define ERRLEN 256

/* The panel canvas and the LED centre that tests/integration/window_screenshot.sh also uses. */
#define PANEL_WIDTH 640
#define PANEL_HEIGHT 360
#define LED_CENTRE_X 362
#define LED_CENTRE_Y 165
#define LED_OFF_GREY 64

struct decoded {
    uint32_t width, height;
    uint8_t *rgb; /* width * height * 3 */
};

/* libpng decodes the file as 8-bit RGB; any error in it fails the test. */
static void decode_png(const char *path, struct decoded *d)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path))
        fail_msg("%s: libpng cannot read it: %s", path, image.message);
    image.format = PNG_FORMAT_RGB;
    d->width = image.width;
    d->height = image.height;
    d->rgb = malloc(PNG_IMAGE_SIZE(image));
    assert_non_null(d->rgb);
    if (!png_image_finish_read(&image, NULL, d->rgb, 0, NULL))
        fail_msg("%s: libpng cannot decode it: %s", path, image.message);
    png_image_free(&image);
}

static long file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

/* ---- fixtures ------------------------------------------------------------- */

struct scratch {
    char dir[64];
    char path[96];
};

static int scratch_setup(void **state)
{
    struct scratch *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/test_png.XXXXXX");
    if (!mkdtemp(s->dir)) {
        free(s);
        return -1;
    }
    snprintf(s->path, sizeof s->path, "%s/out.png", s->dir);
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    unlink(s->path);
    rmdir(s->dir);
    free(s);
    return 0;
}

/* Every byte differs from its neighbours so a shifted or dropped byte shows. */
static uint8_t *pattern_image(int width, int height)
{
    uint8_t *rgb = malloc((size_t)width * height * 3);
    assert_non_null(rgb);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * width + x) * 3 + c] = (uint8_t)(x * 7 + y * 13 + c * 101 + (x * y) / 3);
    return rgb;
}

static void write_and_decode(const char *path, const uint8_t *rgb, int width, int height, struct decoded *d)
{
    char err[ERRLEN] = "";
    assert_int_equal(png_write_rgb(path, rgb, width, height, err, sizeof err), 0);
    assert_string_equal(err, "");
    decode_png(path, d);
    assert_int_equal(d->width, (uint32_t)width);
    assert_int_equal(d->height, (uint32_t)height);
}

/* ---- the writer ------------------------------------------------------------ */

static void test_png_small_image_round_trips_exact_pixels(void **state)
{
    struct scratch *s = *state;
    const int w = 7, h = 5;
    uint8_t *rgb = pattern_image(w, h);
    struct decoded d;
    write_and_decode(s->path, rgb, w, h, &d);
    assert_memory_equal(d.rgb, rgb, (size_t)w * h * 3);
    free(d.rgb);
    free(rgb);
}

static void test_png_single_pixel_image_is_valid(void **state)
{
    struct scratch *s = *state;
    const uint8_t rgb[3] = {0x12, 0xab, 0xfe};
    struct decoded d;
    write_and_decode(s->path, rgb, 1, 1, &d);
    assert_memory_equal(d.rgb, rgb, 3);
    free(d.rgb);
}

static void test_png_panel_sized_image_round_trips(void **state)
{
    struct scratch *s = *state;
    uint8_t *rgb = pattern_image(PANEL_WIDTH, PANEL_HEIGHT);
    struct decoded d;
    write_and_decode(s->path, rgb, PANEL_WIDTH, PANEL_HEIGHT, &d);
    assert_memory_equal(d.rgb, rgb, (size_t)PANEL_WIDTH * PANEL_HEIGHT * 3);
    free(d.rgb);
    free(rgb);
}

static void test_png_rejects_zero_and_negative_sizes_without_a_file(void **state)
{
    struct scratch *s = *state;
    const uint8_t rgb[3] = {0};
    const int sizes[][2] = {{0, 1}, {1, 0}, {-3, 4}, {4, -3}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char err[ERRLEN] = "";
        assert_int_equal(png_write_rgb(s->path, rgb, sizes[i][0], sizes[i][1], err, sizeof err), -1);
        assert_non_null(strstr(err, "size"));
        struct stat st;
        assert_int_equal(stat(s->path, &st), -1);
    }
}

static void test_png_unwritable_path_names_the_path(void **state)
{
    struct scratch *s = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/no-such-dir/out.png", s->dir);
    const uint8_t rgb[3] = {0};
    char err[ERRLEN] = "";
    assert_int_equal(png_write_rgb(path, rgb, 1, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
}

/* The reason for a real encoder: a drawing (large flat areas) is compressed, not stored. */
static void test_png_flat_drawing_is_compressed(void **state)
{
    struct scratch *s = *state;
    size_t n = (size_t)PANEL_WIDTH * PANEL_HEIGHT * 3;
    uint8_t *rgb = malloc(n);
    assert_non_null(rgb);
    for (size_t i = 0; i < n; i += 3) {
        size_t x = i / 3 % PANEL_WIDTH;
        rgb[i] = 40, rgb[i + 1] = 46, rgb[i + 2] = (uint8_t)(x < 320 ? 56 : 200);
    }
    struct decoded d;
    write_and_decode(s->path, rgb, PANEL_WIDTH, PANEL_HEIGHT, &d);
    assert_memory_equal(d.rgb, rgb, n);
    assert_true(file_size(s->path) < (long)(n / 50));
    free(d.rgb);
    free(rgb);
}

/* The file appears whole or not at all: nothing is left beside it. */
static void test_png_leaves_no_temporary_file(void **state)
{
    struct scratch *s = *state;
    uint8_t *rgb = pattern_image(16, 9);
    char err[ERRLEN] = "", tmp[128];
    assert_int_equal(png_write_rgb(s->path, rgb, 16, 9, err, sizeof err), 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    struct stat st;
    assert_int_equal(stat(tmp, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(rgb);
}

/* ---- the panel drawing ----------------------------------------------------- */

static void render_and_decode(const char *path, const struct panel_snapshot *snap, struct decoded *d)
{
    char err[ERRLEN] = "";
    assert_int_equal(panel_render_png(snap, path, err, sizeof err), 0);
    decode_png(path, d);
    assert_int_equal(d->width, PANEL_WIDTH);
    assert_int_equal(d->height, PANEL_HEIGHT);
}

static const uint8_t *pixel(const struct decoded *d, int x, int y)
{
    return d->rgb + ((size_t)y * d->width + x) * 3;
}

static void test_panel_render_png_led_centre_is_the_perceived_colour(void **state)
{
    struct scratch *s = *state;
    const uint8_t colours[][3] = {{0, 0, 255}, {0, 255, 255}, {255, 0, 255}, {12, 200, 34}};
    for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++) {
        struct panel_snapshot snap = {0};
        memcpy(snap.led, colours[i], 3);
        snap.running = true;
        snprintf(snap.status, sizeof snap.status, "listening");
        struct decoded d;
        render_and_decode(s->path, &snap, &d);
        const uint8_t expected[3] = {panel_perceived_level(colours[i][0]), panel_perceived_level(colours[i][1]),
                                     panel_perceived_level(colours[i][2])};
        assert_memory_equal(pixel(&d, LED_CENTRE_X, LED_CENTRE_Y), expected, 3);
        free(d.rgb);
    }
}

/* Tinker's listening blue, PWM 96/255, looks clearly lit as on a real Core, not navy. */
static void test_panel_render_png_listening_blue_is_clearly_lit(void **state)
{
    struct scratch *s = *state;
    struct panel_snapshot snap = {0};
    snap.led[2] = 95;
    struct decoded d;
    render_and_decode(s->path, &snap, &d);
    const uint8_t *c = pixel(&d, LED_CENTRE_X, LED_CENTRE_Y);
    assert_true(c[2] >= 200);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 0);
    free(d.rgb);
}

/* The curve: off is off, full is full, more duty never looks darker, and low duty is lifted. */
static void test_perceived_level_follows_lightness(void **state)
{
    (void)state;
    assert_int_equal(panel_perceived_level(0), 0);
    assert_int_equal(panel_perceived_level(255), 255);
    for (int duty = 1; duty < 256; duty++)
        assert_true(panel_perceived_level((uint8_t)duty) >= panel_perceived_level((uint8_t)(duty - 1)));
    for (int duty = 1; duty < 200; duty++)
        assert_true(panel_perceived_level((uint8_t)duty) > duty);
}

static void test_panel_render_png_led_off_is_dark_grey(void **state)
{
    struct scratch *s = *state;
    struct panel_snapshot snap = {0};
    struct decoded d;
    render_and_decode(s->path, &snap, &d);
    const uint8_t grey[3] = {LED_OFF_GREY, LED_OFF_GREY, LED_OFF_GREY};
    assert_memory_equal(pixel(&d, LED_CENTRE_X, LED_CENTRE_Y), grey, 3);
    free(d.rgb);
}

/* The glow is light added around the lens: brighter LED, brighter board. */
static void test_panel_render_png_glow_grows_with_brightness(void **state)
{
    struct scratch *s = *state;
    const int probe_x = LED_CENTRE_X + 40, probe_y = LED_CENTRE_Y; /* board, right of the LED */
    int blue[3];
    const uint8_t levels[3] = {0, 80, 255};
    for (int i = 0; i < 3; i++) {
        struct panel_snapshot snap = {0};
        snap.led[2] = levels[i];
        struct decoded d;
        render_and_decode(s->path, &snap, &d);
        blue[i] = pixel(&d, probe_x, probe_y)[2];
        free(d.rgb);
    }
    assert_true(blue[0] < blue[1]);
    assert_true(blue[1] < blue[2]);
}

static void test_panel_render_png_status_line_changes_with_the_snapshot(void **state)
{
    struct scratch *s = *state;
    struct panel_snapshot a = {0}, b = {0};
    snprintf(a.status, sizeof a.status, "listening");
    snprintf(b.status, sizeof b.status, "connecting");
    struct decoded da, db;
    render_and_decode(s->path, &a, &da);
    render_and_decode(s->path, &b, &db);
    const int status_bar_top = PANEL_HEIGHT - 30;
    size_t bar = (size_t)status_bar_top * PANEL_WIDTH * 3;
    /* above the status bar both drawings are the same board */
    assert_memory_equal(da.rgb, db.rgb, bar);
    assert_memory_not_equal(da.rgb + bar, db.rgb + bar, (size_t)PANEL_WIDTH * PANEL_HEIGHT * 3 - bar);
    free(da.rgb);
    free(db.rgb);
}

/* A larger output (a resized window, HiDPI) scales the whole board: the LED and the text grow. */
static void test_panel_render_png_sized_scales_the_board(void **state)
{
    struct scratch *s = *state;
    struct panel_snapshot snap = {0};
    snap.led[2] = 255;
    snprintf(snap.status, sizeof snap.status, "listening");
    char err[ERRLEN] = "";
    assert_int_equal(panel_render_png_sized(&snap, 2 * PANEL_WIDTH, 2 * PANEL_HEIGHT, s->path, err, sizeof err), 0);
    struct decoded big;
    decode_png(s->path, &big);
    assert_int_equal(big.width, 2 * PANEL_WIDTH);
    assert_int_equal(big.height, 2 * PANEL_HEIGHT);
    struct decoded small;
    render_and_decode(s->path, &snap, &small);
    const uint8_t *centre = pixel(&big, 2 * LED_CENTRE_X, 2 * LED_CENTRE_Y);
    assert_memory_equal(centre, pixel(&small, LED_CENTRE_X, LED_CENTRE_Y), 3);
    /* the status text: about four times as many lit pixels in the bar */
    int lit_small = 0, lit_big = 0;
    for (uint32_t y = PANEL_HEIGHT - 30; y < PANEL_HEIGHT; y++)
        for (uint32_t x = 0; x < PANEL_WIDTH; x++)
            lit_small += pixel(&small, (int)x, (int)y)[0] > 160;
    for (uint32_t y = 2 * (PANEL_HEIGHT - 30); y < 2 * PANEL_HEIGHT; y++)
        for (uint32_t x = 0; x < 2 * PANEL_WIDTH; x++)
            lit_big += pixel(&big, (int)x, (int)y)[0] > 160;
    assert_true(lit_small > 100);
    assert_true(lit_big > 3 * lit_small && lit_big < 5 * lit_small);
    free(big.rgb);
    free(small.rgb);
}

/* Without its font the panel still draws (no text): a headless screenshot never fails for it. */
static void test_panel_render_png_without_the_font_still_draws_the_board(void **state)
{
    struct scratch *s = *state;
    struct panel_snapshot snap = {0};
    snap.led[2] = 255;
    snprintf(snap.status, sizeof snap.status, "listening");
    assert_int_equal(setenv("SPARK_EMU_FONT", "/nonexistent/font.ttf", 1), 0);
    struct decoded d;
    render_and_decode(s->path, &snap, &d);
    unsetenv("SPARK_EMU_FONT");
    const uint8_t blue[3] = {0, 0, 255};
    assert_memory_equal(pixel(&d, LED_CENTRE_X, LED_CENTRE_Y), blue, 3);
    free(d.rgb);
}

/* D7, the user LED beside its pin, is lit blue while the pin is high. */
static void test_panel_render_png_user_led_lit_when_d7_high(void **state)
{
    struct scratch *s = *state;
    const int x = 317, y = 95; /* the 0603 LED under the D7 label */
    struct panel_snapshot snap = {0};
    struct decoded off, on;
    render_and_decode(s->path, &snap, &off);
    snap.user_led = true;
    render_and_decode(s->path, &snap, &on);
    /* lit: blue and glowing (the glow adds light to the LED's own colour); off: the pale package */
    const uint8_t *lit = pixel(&on, x, y), *dark = pixel(&off, x, y);
    assert_int_equal(lit[2], 255);
    assert_true(lit[0] < lit[1] && lit[1] < lit[2]);
    assert_true(dark[2] < 200 && dark[0] > dark[2]);
    free(off.rgb);
    free(on.rgb);
}

/* While MODE is held a meter under the board fills towards 12 s, past the 3 s mark at 3.5 s. */
static void test_panel_render_png_hold_meter_follows_mode(void **state)
{
    struct scratch *s = *state;
    const int y = 305, before_3s = 230, after_3s = 262, past_4s = 300;
    struct panel_snapshot snap = {0};
    struct decoded released, held;
    render_and_decode(s->path, &snap, &released);
    snap.mode_pressed = true;
    snap.mode_held_us = 3500000;
    render_and_decode(s->path, &snap, &held);
    const uint8_t orange[3] = {255, 186, 60};
    assert_memory_equal(pixel(&held, before_3s, y), orange, 3);
    assert_memory_equal(pixel(&held, after_3s, y), orange, 3);
    assert_memory_not_equal(pixel(&held, past_4s, y), orange, 3);
    assert_memory_not_equal(pixel(&released, before_3s, y), orange, 3);
    free(released.rgb);
    free(held.rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_png_small_image_round_trips_exact_pixels, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_single_pixel_image_is_valid, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_panel_sized_image_round_trips, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_rejects_zero_and_negative_sizes_without_a_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_unwritable_path_names_the_path, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_flat_drawing_is_compressed, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_leaves_no_temporary_file, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_led_centre_is_the_perceived_colour, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_listening_blue_is_clearly_lit, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_perceived_level_follows_lightness),
        cmocka_unit_test_setup_teardown(test_panel_render_png_led_off_is_dark_grey, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_glow_grows_with_brightness, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_sized_scales_the_board, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_without_the_font_still_draws_the_board, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_user_led_lit_when_d7_high, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_hold_meter_follows_mode, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_status_line_changes_with_the_snapshot, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
