/*
 * test_usbip_pdu.c - the checks on USB/IP requests (emu/host/usbip_pdu.c):
 * what follows each header and which headers close the connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "emu/host/usbip_pdu.h"
#include "emu/usb.h"

/* configuration 1: interface 0 (CDC, alt 0) with bulk OUT 0x01 and ISO IN 0x82, alt 1 ignored */
static const uint8_t config[] = {
    9, USB_DT_CONFIG, 41, 0, 1, 1, 0, 0x80, 50,
    9, USB_DT_INTERFACE, 0, 0, 2, 0x0a, 0x00, 0x00, 0,
    7, USB_DT_ENDPOINT, 0x01, USB_ENDPOINT_XFER_BULK, 64, 0, 0,
    7, USB_DT_ENDPOINT, 0x82, USB_ENDPOINT_XFER_ISOC, 64, 0, 1,
    9, USB_DT_INTERFACE, 0, 1, 0, 0xff, 0x00, 0x00, 0,
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void submit(uint8_t *h, uint32_t dir, uint32_t ep, uint32_t length, uint32_t np)
{
    memset(h, 0, USBIP_HEADER_SIZE);
    put_be32(h, USBIP_CMD_SUBMIT);
    put_be32(h + 12, dir);
    put_be32(h + 16, ep);
    put_be32(h + 24, length);
    put_be32(h + 32, np);
}

static void test_op_header_accepts_devlist_and_import_only(void **state)
{
    (void)state;
    uint16_t code;
    char why[128] = "";
    const uint8_t devlist[8] = {0x01, 0x11, 0x80, 0x05};
    assert_int_equal(usbip_parse_op_header(devlist, &code, why, sizeof why), 0);
    assert_int_equal(code, OP_REQ_DEVLIST);
    const uint8_t import[8] = {0x01, 0x11, 0x80, 0x03};
    assert_int_equal(usbip_parse_op_header(import, &code, why, sizeof why), 0);
    assert_int_equal(code, OP_REQ_IMPORT);
    const uint8_t old[8] = {0x01, 0x06, 0x80, 0x05};
    assert_int_equal(usbip_parse_op_header(old, &code, why, sizeof why), -1);
    assert_string_equal(why, "protocol version 0x0106 (this server speaks 0x0111)");
    const uint8_t other[8] = {0x01, 0x11, 0x80, 0x07};
    assert_int_equal(usbip_parse_op_header(other, &code, why, sizeof why), -1);
    assert_string_equal(why, "unknown operation 0x8007");
}

static void test_submit_out_carries_its_data_and_in_nothing(void **state)
{
    (void)state;
    uint8_t h[USBIP_HEADER_SIZE];
    struct usbip_urb_request r;
    char why[128] = "";
    submit(h, USBIP_DIR_OUT, 1, 512, USBIP_NO_ISO);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), 0);
    assert_int_equal(r.command, USBIP_CMD_SUBMIT);
    assert_int_equal(r.transfer_type, USB_ENDPOINT_XFER_BULK);
    assert_int_equal(r.payload_len, 512);
    submit(h, USBIP_DIR_IN, 0, 64, 0);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), 0);
    assert_int_equal(r.transfer_type, USB_ENDPOINT_XFER_CONTROL);
    assert_int_equal(r.payload_len, 0);
    /* an endpoint the device does not have: no type, and the server answers -ENOENT */
    submit(h, USBIP_DIR_IN, 1, 64, 0);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), 0);
    assert_int_equal(r.transfer_type, -1);
}

static void test_submit_iso_descriptors_follow_the_data(void **state)
{
    (void)state;
    uint8_t h[USBIP_HEADER_SIZE];
    struct usbip_urb_request r;
    char why[128] = "";
    submit(h, USBIP_DIR_IN, 2, 192, 3);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), 0);
    assert_int_equal(r.transfer_type, USB_ENDPOINT_XFER_ISOC);
    assert_int_equal(r.iso_packets, 3);
    assert_int_equal(r.payload_len, 3 * USBIP_ISO_DESC_SIZE);
    submit(h, USBIP_DIR_IN, 2, 192, USBIP_MAX_ISO_PACKETS + 1);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), -1);
    assert_string_equal(why, "CMD_SUBMIT of 1025 ISO packets (at most 1024)");
}

static void test_bad_urb_headers_close_the_connection(void **state)
{
    (void)state;
    uint8_t h[USBIP_HEADER_SIZE];
    struct usbip_urb_request r;
    char why[128] = "";
    submit(h, USBIP_DIR_OUT, 1, USBIP_MAX_TRANSFER + 1, 0);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), -1);
    assert_string_equal(why, "CMD_SUBMIT of 1048577 bytes (at most 1048576)");
    submit(h, 2, 1, 0, 0);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), -1);
    assert_string_equal(why, "CMD_SUBMIT with direction 2, endpoint 1");
    submit(h, USBIP_DIR_OUT, 16, 0, 0);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), -1);
    put_be32(h, USBIP_RET_SUBMIT);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), -1);
    assert_string_equal(why, "unknown command 0x00000003");
    put_be32(h, USBIP_CMD_UNLINK);
    assert_int_equal(usbip_parse_urb_header(h, config, sizeof config, &r, why, sizeof why), 0);
    assert_int_equal(r.payload_len, 0);
}

static void test_config_walk_stops_at_bad_descriptor_lengths(void **state)
{
    (void)state;
    struct usbip_interface_info ifs[4];
    assert_int_equal(usbip_config_interfaces(config, sizeof config, ifs, 4), 1);
    assert_int_equal(ifs[0].class, 0x0a);
    /* a zero-length descriptor would loop for ever; a cut one is not read past its end */
    uint8_t bad[sizeof config];
    memcpy(bad, config, sizeof config);
    bad[18] = 0;
    assert_int_equal(usbip_endpoint_type(bad, sizeof bad, 0x01), -1);
    assert_int_equal(usbip_endpoint_type(config, 9 + 9 + 6, 0x01), -1);
    assert_int_equal(usbip_endpoint_type(config, 9 + 9 + 7, 0x01), USB_ENDPOINT_XFER_BULK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_header_accepts_devlist_and_import_only),
        cmocka_unit_test(test_submit_out_carries_its_data_and_in_nothing),
        cmocka_unit_test(test_submit_iso_descriptors_follow_the_data),
        cmocka_unit_test(test_bad_urb_headers_close_the_connection),
        cmocka_unit_test(test_config_walk_stops_at_bad_descriptor_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
