/*
 * fuzz_usbip.c - libFuzzer target for the USB/IP request checks
 * (emu/host/usbip_pdu.c): an OP_REQ header, a URB-phase header and the
 * configuration descriptors of the imported device, all from the input.
 *
 * Input: 8 bytes OP header, 48 bytes URB header, then up to 1024 bytes of
 * configuration descriptors (the device's, which the guest firmware chose:
 * hostile too). Shorter inputs are padded with zeros.
 *
 * Design decision: the configuration is copied to a buffer of exactly its
 * length, so AddressSanitizer sees a descriptor walk that reads past it.
 */
#include "emu/host/usbip_pdu.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG 1024u
#define MAX_INTERFACES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t headers[OP_HEADER_SIZE + USBIP_HEADER_SIZE] = {0};
    size_t n = size < sizeof headers ? size : sizeof headers;
    memcpy(headers, data, n);
    size_t config_len = size - n;
    if (config_len > MAX_CONFIG)
        config_len = MAX_CONFIG;
    uint8_t *config = malloc(config_len ? config_len : 1);
    if (!config)
        abort();
    memcpy(config, data + n, config_len);

    char why[256];
    uint16_t code;
    if (usbip_parse_op_header(headers, &code, why, sizeof why) == 0 && code != OP_REQ_DEVLIST &&
        code != OP_REQ_IMPORT)
        abort();

    struct usbip_urb_request req;
    if (usbip_parse_urb_header(headers + OP_HEADER_SIZE, config, (unsigned)config_len, &req, why,
                               sizeof why) == 0) {
        /* what the server allocates for the payload stays within its limits */
        if (req.payload_len >
            USBIP_MAX_TRANSFER + (size_t)USBIP_MAX_ISO_PACKETS * USBIP_ISO_DESC_SIZE)
            abort();
    }

    struct usbip_interface_info ifs[MAX_INTERFACES];
    if (usbip_config_interfaces(config, (unsigned)config_len, ifs, MAX_INTERFACES) > MAX_INTERFACES)
        abort();
    for (unsigned address = 0; address < 256; address += 0x11)
        usbip_endpoint_type(config, (unsigned)config_len, (uint8_t)address);
    free(config);
    return 0;
}
