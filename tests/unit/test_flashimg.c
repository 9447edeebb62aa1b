/*
 * test_flashimg.c - the external-flash image library behind spark-flash:
 * NOR-safe programming, DER and vector-table recognition, and the file rules
 * (no silent overwrite, wrong size refused, images never truncated).
 */
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

#include "tools/flashimg.h"

#define KEY_SLOT 0x001000u
#define FACTORY_SLOT 0x020000u

struct img_fixture {
    uint8_t *img;
    char dir[64];
    char path[128];
};

static int img_setup(void **state)
{
    struct img_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->img = malloc(FLASHIMG_SIZE);
    assert_non_null(f->img);
    memset(f->img, FLASHIMG_ERASED, FLASHIMG_SIZE);
    strcpy(f->dir, "/tmp/test_flashimg.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/ext.bin", f->dir);
    *state = f;
    return 0;
}

static int img_teardown(void **state)
{
    struct img_fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f->img);
    free(f);
    return 0;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* A 294-byte SubjectPublicKeyInfo header shape: SEQUENCE (0x82 0x01 0x22) { SEQUENCE ... }. */
static void put_fake_public_key(uint8_t *p)
{
    memset(p, 0x00, 294);
    p[0] = 0x30;
    p[1] = 0x82;
    p[2] = 0x01;
    p[3] = 0x22;
    p[4] = 0x30;
}

static void put_fake_firmware(uint8_t *p, size_t len)
{
    memset(p, 0x5A, len);
    static const uint8_t vectors[8] = {0x00, 0x50, 0x00, 0x20, 0x31, 0x51, 0x00, 0x08};
    memcpy(p, vectors, sizeof vectors);
}

static void test_der_length_reads_short_and_long_form(void **state)
{
    (void)state;
    uint8_t key[300];
    put_fake_public_key(key);
    assert_int_equal(flashimg_der_length(key, sizeof key), 294);
    assert_int_equal(flashimg_der_length(key, 293), 0); /* does not fit */

    static const uint8_t short_form[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(flashimg_der_length(short_form, sizeof short_form), 5);
    static const uint8_t not_der[] = {0x31, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(flashimg_der_length(not_der, sizeof not_der), 0);
}

static void test_inspect_tells_empty_key_firmware_and_other_apart(void **state)
{
    struct img_fixture *f = *state;
    char text[256];
    struct flashimg_verdict v = flashimg_inspect(f->img + KEY_SLOT, 2048);
    assert_int_equal(v.content, FLASHIMG_EMPTY);
    flashimg_describe(&v, text, sizeof text);
    assert_string_equal(text, "empty");

    put_fake_public_key(f->img + KEY_SLOT);
    v = flashimg_inspect(f->img + KEY_SLOT, 2048);
    assert_int_equal(v.content, FLASHIMG_DER_KEY);
    flashimg_describe(&v, text, sizeof text);
    assert_string_equal(text, "a DER key of 294 bytes");

    put_fake_firmware(f->img + FACTORY_SLOT, 81000);
    v = flashimg_inspect(f->img + FACTORY_SLOT, 0x20000);
    assert_int_equal(v.content, FLASHIMG_FIRMWARE);
    assert_int_equal(v.length, 81000);
    assert_int_equal(v.sp, 0x20005000);
    assert_int_equal(v.reset, 0x08005131);
    flashimg_describe(&v, text, sizeof text);
    assert_non_null(strstr(text, "a firmware image of about 81000 bytes"));

    f->img[FACTORY_SLOT + 4] = 0x30; /* reset vector even: not Thumb */
    v = flashimg_inspect(f->img + FACTORY_SLOT, 0x20000);
    assert_int_equal(v.content, FLASHIMG_OTHER);
}

static void test_put_refuses_a_target_that_is_not_erased(void **state)
{
    struct img_fixture *f = *state;
    static const uint8_t data[4] = {1, 2, 3, 4};
    f->img[0x3002] = 0x7F;
    uint32_t bad = 0;
    assert_int_equal(flashimg_put(f->img, 0x3000, data, sizeof data, false, &bad),
                     FLASHIMG_ERR_NOT_ERASED);
    assert_int_equal(bad, 0x3002);
    assert_int_equal(f->img[0x3000], 0xFF); /* nothing written */
}

static void test_put_with_erase_clears_the_covered_sectors_first(void **state)
{
    struct img_fixture *f = *state;
    static const uint8_t data[4] = {1, 2, 3, 4};
    memset(f->img + 0x2F00, 0x00, 0x2200); /* 0x2F00..0x50FF */
    assert_int_equal(flashimg_put(f->img, 0x3FFE, data, sizeof data, true, NULL), FLASHIMG_OK);
    assert_memory_equal(f->img + 0x3FFE, data, sizeof data);
    assert_int_equal(f->img[0x2FFF], 0x00);  /* sector 2 untouched */
    assert_int_equal(f->img[0x3000], 0xFF);  /* sector 3 erased */
    assert_int_equal(f->img[0x4FFF], 0xFF);  /* sector 4 erased */
    assert_int_equal(f->img[0x5000], 0x00);  /* sector 5 untouched */

    uint32_t start, end;
    flashimg_sector_span(0x3FFE, 4, &start, &end);
    assert_int_equal(start, 0x3000);
    assert_int_equal(end, 0x5000);
}

static void test_put_refuses_past_2mib(void **state)
{
    struct img_fixture *f = *state;
    static const uint8_t data[2] = {0, 0};
    assert_int_equal(flashimg_put(f->img, FLASHIMG_SIZE - 1, data, 2, true, NULL),
                     FLASHIMG_ERR_RANGE);
    assert_int_equal(f->img[FLASHIMG_SIZE - 1], 0xFF);
    assert_int_equal(flashimg_put(f->img, FLASHIMG_SIZE - 2, data, 2, false, NULL), FLASHIMG_OK);
}

static void test_create_refuses_an_existing_file_unless_forced(void **state)
{
    struct img_fixture *f = *state;
    char err[256];
    assert_int_equal(flashimg_create_file(f->path, false, err, sizeof err), FLASHIMG_OK);
    assert_int_equal(file_size(f->path), FLASHIMG_SIZE);
    assert_int_equal(flashimg_create_file(f->path, false, err, sizeof err), FLASHIMG_ERR_EXISTS);
    assert_non_null(strstr(err, f->path));
    assert_int_equal(flashimg_create_file(f->path, true, err, sizeof err), FLASHIMG_OK);
    assert_int_equal(flashimg_load_file(f->path, f->img, err, sizeof err), FLASHIMG_OK);
    for (uint32_t i = 0; i < FLASHIMG_SIZE; i += 4093)
        assert_int_equal(f->img[i], 0xFF);
}

static void test_load_refuses_an_image_of_the_wrong_size(void **state)
{
    struct img_fixture *f = *state;
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fputs("short", fp);
    fclose(fp);
    char err[256];
    assert_int_equal(flashimg_load_file(f->path, f->img, err, sizeof err), FLASHIMG_ERR_SIZE);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "5 bytes"));
    assert_int_equal(flashimg_store_range(f->path, f->img, 0, 4, err, sizeof err),
                     FLASHIMG_ERR_SIZE);
    assert_int_equal(file_size(f->path), 5); /* never resized */
}

static void test_store_range_writes_in_place_without_resizing(void **state)
{
    struct img_fixture *f = *state;
    char err[256];
    assert_int_equal(flashimg_create_file(f->path, false, err, sizeof err), FLASHIMG_OK);
    static const uint8_t data[3] = {0xDE, 0xAD, 0x00};
    assert_int_equal(flashimg_put(f->img, 0x1234, data, sizeof data, false, NULL), FLASHIMG_OK);
    assert_int_equal(flashimg_store_range(f->path, f->img, 0x1234, sizeof data, err, sizeof err),
                     FLASHIMG_OK);
    assert_int_equal(file_size(f->path), FLASHIMG_SIZE);
    uint8_t *back = malloc(FLASHIMG_SIZE);
    assert_non_null(back);
    assert_int_equal(flashimg_load_file(f->path, back, err, sizeof err), FLASHIMG_OK);
    assert_memory_equal(back + 0x1234, data, sizeof data);
    assert_int_equal(back[0x1233], 0xFF);
    assert_int_equal(back[0x1237], 0xFF);
    free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_der_length_reads_short_and_long_form),
        cmocka_unit_test_setup_teardown(test_inspect_tells_empty_key_firmware_and_other_apart,
                                        img_setup, img_teardown),
        cmocka_unit_test_setup_teardown(test_put_refuses_a_target_that_is_not_erased, img_setup,
                                        img_teardown),
        cmocka_unit_test_setup_teardown(test_put_with_erase_clears_the_covered_sectors_first,
                                        img_setup, img_teardown),
        cmocka_unit_test_setup_teardown(test_put_refuses_past_2mib, img_setup, img_teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_an_existing_file_unless_forced,
                                        img_setup, img_teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_an_image_of_the_wrong_size, img_setup,
                                        img_teardown),
        cmocka_unit_test_setup_teardown(test_store_range_writes_in_place_without_resizing,
                                        img_setup, img_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
