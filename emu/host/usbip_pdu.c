/*
 * usbip_pdu.c - checks on the USB/IP requests a client sends (see usbip_pdu.h).
 *
 * Design decision: every length a header claims is checked against the
 * server's limits here, before anything is allocated for it; a configuration
 * descriptor is walked only while each descriptor's own length fits.
 */
#include "usbip_pdu.h"

#include "emu/usb.h"

#include <stdio.h>

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int usbip_config_interfaces(const uint8_t *c, unsigned len, struct usbip_interface_info *out,
                            int max)
{
    int n = 0;
    for (unsigned o = 0; o + 2 <= len && c[o] >= 2 && n < max; o += c[o]) {
        if (c[o + 1] == USB_DT_INTERFACE && c[o] >= 9 && o + 9 <= len && c[o + 3] == 0) {
            out[n].class = c[o + 5];
            out[n].subclass = c[o + 6];
            out[n].protocol = c[o + 7];
            n++;
        }
    }
    return n;
}

int usbip_endpoint_type(const uint8_t *c, unsigned len, uint8_t address)
{
    for (unsigned o = 0; o + 2 <= len && c[o] >= 2; o += c[o])
        if (c[o + 1] == USB_DT_ENDPOINT && c[o] >= 7 && o + 7 <= len && c[o + 2] == address)
            return c[o + 3] & 0x03;
    return -1;
}

int usbip_parse_op_header(const uint8_t *h, uint16_t *code, char *why, size_t whylen)
{
    uint16_t version = get_be16(h);
    *code = get_be16(h + 2);
    if (version != USBIP_VERSION) {
        snprintf(why, whylen, "protocol version 0x%04x (this server speaks 0x%04x)", version,
                 USBIP_VERSION);
        return -1;
    }
    if (*code != OP_REQ_DEVLIST && *code != OP_REQ_IMPORT) {
        snprintf(why, whylen, "unknown operation 0x%04x", *code);
        return -1;
    }
    return 0;
}

int usbip_parse_urb_header(const uint8_t *h, const uint8_t *config, unsigned config_len,
                           struct usbip_urb_request *out, char *why, size_t whylen)
{
    out->command = get_be32(h);
    out->transfer_type = -1;
    out->iso_packets = 0;
    out->payload_len = 0;
    if (out->command == USBIP_CMD_UNLINK)
        return 0;
    if (out->command != USBIP_CMD_SUBMIT) {
        snprintf(why, whylen, "unknown command 0x%08x", out->command);
        return -1;
    }
    uint32_t dir = get_be32(h + 12), ep = get_be32(h + 16), length = get_be32(h + 24),
             np = get_be32(h + 32);
    if (dir > USBIP_DIR_IN || ep > 15) {
        snprintf(why, whylen, "CMD_SUBMIT with direction %u, endpoint %u", dir, ep);
        return -1;
    }
    if (length > USBIP_MAX_TRANSFER) {
        snprintf(why, whylen, "CMD_SUBMIT of %u bytes (at most %u)", length, USBIP_MAX_TRANSFER);
        return -1;
    }
    out->transfer_type = ep == 0 ? (int)USB_ENDPOINT_XFER_CONTROL
                                 : usbip_endpoint_type(config, config_len,
                                                       (uint8_t)(ep | (dir ? USB_DIR_IN : 0)));
    if (out->transfer_type == (int)USB_ENDPOINT_XFER_ISOC && np != USBIP_NO_ISO) {
        if (np > USBIP_MAX_ISO_PACKETS) {
            snprintf(why, whylen, "CMD_SUBMIT of %u ISO packets (at most %u)", np,
                     USBIP_MAX_ISO_PACKETS);
            return -1;
        }
        out->iso_packets = np;
    }
    out->payload_len =
        (dir == USBIP_DIR_OUT ? length : 0) + (size_t)out->iso_packets * USBIP_ISO_DESC_SIZE;
    return 0;
}
