/*
 * test_png.c - the PNG writer (png_write_rgb) checked byte by byte against
 * the PNG, zlib and deflate specifications, and the panel drawing it saves
 * (panel_render_png) checked at the RGB LED's centre.
 *
 * Design decision: the file is read back by a decoder written here, with its
 * own CRC-32 and Adler-32, that accepts only what the writer promises (8-bit
 * RGB, filter 0, stored deflate blocks) and fails on anything else, so no
 * outside library can hide a malformed file from the test.
 */
#include <errno.h>
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
#define PNG_SIGNATURE_BYTES 8
#define CHUNK_OVERHEAD 12 /* length, type, CRC */
#define MAX_CHUNKS 64
#define IHDR_LENGTH 13
#define DEFLATE_STORED_MAX 65535u
#define ADLER32_MODULUS 65521u

/* The panel canvas and the LED centre that tests/integration/window_screenshot.sh also uses. */
#define PANEL_WIDTH 640
#define PANEL_HEIGHT 360
#define LED_CENTRE_X 362
#define LED_CENTRE_Y 165
#define LED_OFF_GREY 64

static const uint8_t SIGNATURE[PNG_SIGNATURE_BYTES] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a};

/* ---- a strict reader ------------------------------------------------------ */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % ADLER32_MODULUS;
        b = (b + a) % ADLER32_MODULUS;
    }
    return b << 16 | a;
}

struct chunk {
    char type[5];
    uint32_t length;
    const uint8_t *data;
};

struct png_file {
    uint8_t *bytes;
    size_t size;
    struct chunk chunks[MAX_CHUNKS];
    int count;
};

static void read_whole_file(const char *path, struct png_file *f)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_true(size > 0);
    rewind(fp);
    f->bytes = malloc((size_t)size);
    assert_non_null(f->bytes);
    assert_int_equal(fread(f->bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    f->size = (size_t)size;
}

/* Splits the file into chunks, checking the signature and every CRC. */
static void load_png(const char *path, struct png_file *f)
{
    memset(f, 0, sizeof *f);
    read_whole_file(path, f);
    assert_true(f->size >= PNG_SIGNATURE_BYTES);
    assert_memory_equal(f->bytes, SIGNATURE, PNG_SIGNATURE_BYTES);
    size_t pos = PNG_SIGNATURE_BYTES;
    while (pos < f->size) {
        assert_true(f->count < MAX_CHUNKS);
        assert_true(f->size - pos >= CHUNK_OVERHEAD);
        struct chunk *c = &f->chunks[f->count++];
        c->length = be32(f->bytes + pos);
        assert_true(c->length <= f->size - pos - CHUNK_OVERHEAD);
        memcpy(c->type, f->bytes + pos + 4, 4);
        c->type[4] = '\0';
        c->data = f->bytes + pos + 8;
        uint32_t stored_crc = be32(c->data + c->length);
        assert_int_equal(stored_crc, crc32_bitwise(f->bytes + pos + 4, 4 + (size_t)c->length));
        pos += CHUNK_OVERHEAD + c->length;
    }
    assert_int_equal(pos, f->size);
}

static void free_png(struct png_file *f)
{
    free(f->bytes);
    f->bytes = NULL;
}

struct decoded {
    uint32_t width, height;
    uint8_t *rgb;        /* width * height * 3 */
    int stored_blocks;
    uint32_t largest_block;
};

/* IHDR, IDAT..., IEND; the IDATs are one zlib stream of stored blocks. */
static void decode_png(const char *path, struct decoded *d)
{
    struct png_file f;
    load_png(path, &f);
    memset(d, 0, sizeof *d);

    assert_true(f.count >= 3);
    assert_string_equal(f.chunks[0].type, "IHDR");
    assert_int_equal(f.chunks[0].length, IHDR_LENGTH);
    const uint8_t *ihdr = f.chunks[0].data;
    d->width = be32(ihdr);
    d->height = be32(ihdr + 4);
    assert_int_equal(ihdr[8], 8);  /* bit depth */
    assert_int_equal(ihdr[9], 2);  /* colour type: RGB */
    assert_int_equal(ihdr[10], 0); /* compression: deflate */
    assert_int_equal(ihdr[11], 0); /* filter method: adaptive */
    assert_int_equal(ihdr[12], 0); /* no interlace */
    assert_string_equal(f.chunks[f.count - 1].type, "IEND");
    assert_int_equal(f.chunks[f.count - 1].length, 0);

    size_t zlen = 0;
    for (int i = 1; i < f.count - 1; i++) {
        assert_string_equal(f.chunks[i].type, "IDAT");
        zlen += f.chunks[i].length;
    }
    uint8_t *z = malloc(zlen);
    assert_non_null(z);
    size_t off = 0;
    for (int i = 1; i < f.count - 1; i++) {
        memcpy(z + off, f.chunks[i].data, f.chunks[i].length);
        off += f.chunks[i].length;
    }

    /* zlib header: deflate, no preset dictionary, check bits right */
    assert_true(zlen >= 2 + 4);
    assert_int_equal(z[0] & 0x0f, 8);
    assert_true((z[0] >> 4) <= 7);
    assert_int_equal(((unsigned)z[0] << 8 | z[1]) % 31, 0);
    assert_int_equal(z[1] & 0x20, 0);

    size_t stride = 1 + (size_t)d->width * 3;
    size_t raw_len = stride * d->height;
    uint8_t *raw = malloc(raw_len);
    assert_non_null(raw);
    size_t zpos = 2, rpos = 0;
    bool final = false;
    while (!final) {
        assert_true(zpos + 5 <= zlen);
        uint8_t header = z[zpos];
        final = header & 1;
        assert_int_equal((header >> 1) & 3, 0); /* BTYPE 00: stored */
        uint16_t len = (uint16_t)(z[zpos + 1] | z[zpos + 2] << 8);
        uint16_t nlen = (uint16_t)(z[zpos + 3] | z[zpos + 4] << 8);
        assert_int_equal(len, (uint16_t)~nlen);
        zpos += 5;
        assert_true(zpos + len <= zlen);
        assert_true(rpos + len <= raw_len);
        memcpy(raw + rpos, z + zpos, len);
        zpos += len;
        rpos += len;
        d->stored_blocks++;
        if (len > d->largest_block)
            d->largest_block = len;
    }
    assert_int_equal(rpos, raw_len);
    assert_int_equal(zpos + 4, zlen);
    assert_int_equal(be32(z + zpos), adler32(raw, raw_len));

    d->rgb = malloc(raw_len);
    assert_non_null(d->rgb);
    for (uint32_t y = 0; y < d->height; y++) {
        assert_int_equal(raw[y * stride], 0); /* filter type None */
        memcpy(d->rgb + (size_t)y * d->width * 3, raw + y * stride + 1, stride - 1);
    }
    free(raw);
    free(z);
    free_png(&f);
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
    assert_int_equal(d.stored_blocks, 1);
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

static void test_png_chunks_are_ihdr_idat_iend_only(void **state)
{
    struct scratch *s = *state;
    uint8_t *rgb = pattern_image(3, 2);
    char err[ERRLEN];
    assert_int_equal(png_write_rgb(s->path, rgb, 3, 2, err, sizeof err), 0);
    struct png_file f;
    load_png(s->path, &f);
    assert_int_equal(f.count, 3);
    assert_string_equal(f.chunks[0].type, "IHDR");
    assert_string_equal(f.chunks[1].type, "IDAT");
    assert_string_equal(f.chunks[2].type, "IEND");
    /* 2 zlib header + 5 block header + 2 rows of (1 + 9) + 4 Adler-32 */
    assert_int_equal(f.chunks[1].length, 2 + 5 + 2 * 10 + 4);
    free_png(&f);
    free(rgb);
}

/* 151 x 150: the filtered image is 67 950 bytes, so it needs two stored blocks,
 * and the boundary at 65 535 falls in the middle of a row. */
static void test_png_image_over_64k_splits_into_stored_blocks(void **state)
{
    struct scratch *s = *state;
    const int w = 151, h = 150;
    uint8_t *rgb = pattern_image(w, h);
    struct decoded d;
    write_and_decode(s->path, rgb, w, h, &d);
    assert_int_equal(d.stored_blocks, 2);
    assert_int_equal(d.largest_block, DEFLATE_STORED_MAX);
    assert_true(DEFLATE_STORED_MAX % (1 + 3 * w) != 0);
    assert_memory_equal(d.rgb, rgb, (size_t)w * h * 3);
    free(d.rgb);
    free(rgb);
}

static void test_png_panel_sized_image_round_trips(void **state)
{
    struct scratch *s = *state;
    uint8_t *rgb = pattern_image(PANEL_WIDTH, PANEL_HEIGHT);
    struct decoded d;
    write_and_decode(s->path, rgb, PANEL_WIDTH, PANEL_HEIGHT, &d);
    size_t raw = (size_t)PANEL_HEIGHT * (1 + 3 * PANEL_WIDTH);
    assert_int_equal(d.stored_blocks, (int)((raw + DEFLATE_STORED_MAX - 1) / DEFLATE_STORED_MAX));
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

static void test_panel_render_png_led_centre_is_the_snapshot_colour(void **state)
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
        assert_memory_equal(pixel(&d, LED_CENTRE_X, LED_CENTRE_Y), colours[i], 3);
        free(d.rgb);
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_png_small_image_round_trips_exact_pixels, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_single_pixel_image_is_valid, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_chunks_are_ihdr_idat_iend_only, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_image_over_64k_splits_into_stored_blocks, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_panel_sized_image_round_trips, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_rejects_zero_and_negative_sizes_without_a_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_png_unwritable_path_names_the_path, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_led_centre_is_the_snapshot_colour, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_led_off_is_dark_grey, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_glow_grows_with_brightness, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_panel_render_png_status_line_changes_with_the_snapshot, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
