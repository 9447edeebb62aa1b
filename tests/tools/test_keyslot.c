/*
 * test_keyslot.c - the key and slot verdicts behind spark-flash info, with
 * keys made by libcrypto: a key the firmware's fixed-offset reader misreads,
 * a damaged key, the address record, and the internal flash's flags page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/flashinfo.h"
#include "tools/keyslot.h"

#define MISREAD_TRIES 4000 /* about 2% of RSA-1024 keys have a field one byte short */
#define FLAGS_OFFSET 0x4C00u
#define FIRMWARE_OFFSET 0x5000u

static void test_fresh_core_key_is_valid(void **state)
{
    (void)state;
    EVP_PKEY *key = keyslot_generate(KEYSLOT_CORE_BITS);
    assert_non_null(key);
    uint8_t slot[KEYSLOT_CORE_KEY_SIZE];
    char why[KEYSLOT_WHY_LEN];
    /* a key can be refused (a short field); the next one is almost surely fine */
    while (!keyslot_core_slot(key, slot, why, sizeof why)) {
        EVP_PKEY_free(key);
        key = keyslot_generate(KEYSLOT_CORE_BITS);
    }
    struct keyslot_report r;
    keyslot_check_core_private(slot, sizeof slot, &r);
    assert_int_equal(r.verdict, KEYSLOT_VALID);
    assert_non_null(strstr(r.why, "RSA-1024"));

    slot[60] ^= 0x01; /* inside the modulus */
    keyslot_check_core_private(slot, sizeof slot, &r);
    assert_int_equal(r.verdict, KEYSLOT_INVALID);
    assert_non_null(strstr(r.why, "do not agree"));
    EVP_PKEY_free(key);
}

static void test_key_with_a_short_field_is_misread_by_the_firmware(void **state)
{
    (void)state;
    uint8_t slot[KEYSLOT_CORE_KEY_SIZE];
    char why[KEYSLOT_WHY_LEN];
    int tries = 0;
    for (; tries < MISREAD_TRIES; tries++) {
        EVP_PKEY *key = keyslot_generate(KEYSLOT_CORE_BITS);
        assert_non_null(key);
        bool ok = keyslot_core_slot(key, slot, why, sizeof why);
        EVP_PKEY_free(key);
        if (!ok)
            break;
    }
    if (tries == MISREAD_TRIES)
        skip();
    assert_non_null(strstr(why, "fixed offsets"));
    /* keyslot_core_slot left the DER in the slot: info calls it consistent but unusable */
    struct keyslot_report r;
    keyslot_check_core_private(slot, sizeof slot, &r);
    assert_int_equal(r.verdict, KEYSLOT_INVALID);
    assert_non_null(strstr(r.why, "consistent PKCS#1 RSA-1024 key, but"));
    assert_non_null(strstr(r.why, "bytes long, the reader assumes"));
}

static void test_server_key_must_be_rsa_2048(void **state)
{
    (void)state;
    uint8_t area[KEYSLOT_SERVER_KEY_AREA];
    char why[KEYSLOT_WHY_LEN];
    EVP_PKEY *small = keyslot_generate(KEYSLOT_CORE_BITS);
    assert_false(keyslot_server_area(small, area, why, sizeof why));
    assert_non_null(strstr(why, "RSA-1024"));
    EVP_PKEY_free(small);

    EVP_PKEY *key = keyslot_generate(KEYSLOT_SERVER_BITS);
    assert_true(keyslot_server_area(key, area, why, sizeof why));
    struct keyslot_report r;
    keyslot_check_server_public(area, sizeof area, &r);
    assert_int_equal(r.verdict, KEYSLOT_VALID);
    assert_non_null(strstr(r.why, "not Particle's cloud key"));
    EVP_PKEY_free(key);
}

static void test_address_record_as_particle_cli_writes_it(void **state)
{
    (void)state;
    uint8_t rec[KEYSLOT_SERVER_ADDRESS_SIZE];
    char why[KEYSLOT_WHY_LEN];
    struct keyslot_report r;

    assert_true(keyslot_address_record("10.0.0.2:15683", rec, why, sizeof why));
    static const uint8_t ipv4[] = {0, 4, 10, 0, 0, 2};
    assert_memory_equal(rec, ipv4, sizeof ipv4);
    assert_int_equal(rec[66] << 8 | rec[67], 15683);
    keyslot_check_server_address(rec, sizeof rec, &r);
    assert_int_equal(r.verdict, KEYSLOT_VALID);
    assert_string_equal(r.why, "IPv4 10.0.0.2, port 15683");

    assert_true(keyslot_address_record("localhost", rec, why, sizeof why));
    assert_int_equal(rec[0], 1);
    assert_int_equal(rec[1], 9);
    assert_int_equal(rec[66], 0xFF); /* no port: the firmware's default */
    keyslot_check_server_address(rec, sizeof rec, &r);
    assert_string_equal(r.why, "domain name localhost, port 5683 (the default)");

    assert_false(keyslot_address_record("1.2.3.256", rec, why, sizeof why));
    assert_false(keyslot_address_record("host:65536", rec, why, sizeof why));
    assert_false(keyslot_address_record(":80", rec, why, sizeof why));

    rec[0] = 7;
    keyslot_check_server_address(rec, sizeof rec, &r);
    assert_int_equal(r.verdict, KEYSLOT_INVALID);
    assert_non_null(strstr(r.why, "falls back to device.spark.io"));
}

static const struct flashinfo_line *line_named(const struct flashinfo_line *lines, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(lines[i].name, name))
            return &lines[i];
    fail_msg("no line named %s", name);
    return NULL;
}

static void put_vectors(uint8_t *p, uint32_t sp, uint32_t reset, size_t len)
{
    memset(p, 0x5A, len);
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(sp >> (8 * i));
        p[4 + i] = (uint8_t)(reset >> (8 * i));
    }
}

static void test_internal_flash_flags_and_images(void **state)
{
    (void)state;
    uint8_t *img = malloc(FLASHINFO_INT_SIZE);
    assert_non_null(img);
    memset(img, 0xFF, FLASHINFO_INT_SIZE);
    struct flashinfo_line lines[FLASHINFO_MAX_LINES];
    size_t n = flashinfo_internal(img, lines, FLASHINFO_MAX_LINES);
    assert_int_equal(n, 3);
    assert_int_equal(line_named(lines, n, "flags page")->kind, FLASHINFO_EMPTY);
    assert_non_null(strstr(line_named(lines, n, "flags page")->why, "DFU"));

    img[FLAGS_OFFSET + 4] = 0x05; /* FLASH_OTA_Update_SysFlag = 0x0005 */
    img[FLAGS_OFFSET + 5] = 0x00;
    put_vectors(img, 0x20005000, 0x08000105, 6000);                     /* a bootloader */
    put_vectors(img + FIRMWARE_OFFSET, 0x20005000, 0x08000105, 90000); /* linked at 0x08000000 */
    n = flashinfo_internal(img, lines, FLASHINFO_MAX_LINES);
    assert_int_equal(line_named(lines, n, "bootloader")->kind, FLASHINFO_VALID);
    assert_int_equal(line_named(lines, n, "flags page")->kind, FLASHINFO_VALID);
    assert_non_null(strstr(line_named(lines, n, "flags page")->why, "0x60000"));
    const struct flashinfo_line *fw = line_named(lines, n, "firmware");
    assert_int_equal(fw->kind, FLASHINFO_INVALID);
    assert_non_null(strstr(fw->why, "a bootloader, linked at 0x08000000?"));

    put_vectors(img + FIRMWARE_OFFSET, 0x20006000, 0x08005131, 90000); /* SP past the 20 KiB of SRAM */
    n = flashinfo_internal(img, lines, FLASHINFO_MAX_LINES);
    assert_non_null(strstr(line_named(lines, n, "firmware")->why, "not inside SRAM"));
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_core_key_is_valid),
        cmocka_unit_test(test_key_with_a_short_field_is_misread_by_the_firmware),
        cmocka_unit_test(test_server_key_must_be_rsa_2048),
        cmocka_unit_test(test_address_record_as_particle_cli_writes_it),
        cmocka_unit_test(test_internal_flash_flags_and_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
