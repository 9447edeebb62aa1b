/*
 * usbip_pdu.h - the USB/IP protocol's numbers and the checks on the requests a
 * client sends (usbip_protocol.rst; every field big-endian), apart from
 * sockets, threads and server state, so that the server (usbip.c) and the
 * fuzzer (tests/fuzz/) run the very same code on hostile bytes.
 *
 * Design decision: these functions only read the bytes they are given and
 * say what follows a header and how long it is; acting on a request (URBs,
 * replies) stays in the server.
 */
#ifndef EMU_HOST_USBIP_PDU_H
#define EMU_HOST_USBIP_PDU_H

#include <stddef.h>
#include <stdint.h>

#define USBIP_VERSION 0x0111u
#define OP_REQ_DEVLIST 0x8005u
#define OP_REP_DEVLIST 0x0005u
#define OP_REQ_IMPORT 0x8003u
#define OP_REP_IMPORT 0x0003u
#define OP_HEADER_SIZE 8u
#define OP_STATUS_OK 0u
#define OP_STATUS_NA 1u

#define USBIP_CMD_SUBMIT 1u
#define USBIP_CMD_UNLINK 2u
#define USBIP_RET_SUBMIT 3u
#define USBIP_RET_UNLINK 4u
#define USBIP_HEADER_SIZE 48u /* every URB-phase PDU header, padded */
#define USBIP_DIR_OUT 0u
#define USBIP_DIR_IN 1u
#define USBIP_ISO_DESC_SIZE 16u
#define USBIP_NO_ISO 0xFFFFFFFFu /* number_of_packets of a non-ISO transfer */

#define USBIP_MAX_TRANSFER (1u << 20) /* transfer_buffer_length above this closes the connection */
#define USBIP_MAX_ISO_PACKETS 1024u

struct usbip_interface_info {
    uint8_t class, subclass, protocol;
};

/* The interfaces of a configuration in their first alternate setting, as sysfs lists them. */
int usbip_config_interfaces(const uint8_t *config, unsigned len, struct usbip_interface_info *out,
                            int max);
/* The transfer type (USB_ENDPOINT_XFER_*) of an endpoint of the configuration, or -1 if it has none such. */
int usbip_endpoint_type(const uint8_t *config, unsigned len, uint8_t address);

/*
 * An OP_REQ header (OP_HEADER_SIZE bytes): 0 with the request code
 * (OP_REQ_DEVLIST or OP_REQ_IMPORT) in *code, or -1 with why in why[whylen].
 */
int usbip_parse_op_header(const uint8_t *h, uint16_t *code, char *why, size_t whylen);

struct usbip_urb_request {
    uint32_t command;      /* USBIP_CMD_SUBMIT or USBIP_CMD_UNLINK */
    int transfer_type;     /* SUBMIT: the endpoint's USB_ENDPOINT_XFER_*, -1 if the device has none */
    uint32_t iso_packets;  /* SUBMIT: ISO packet descriptors after the OUT data */
    size_t payload_len;    /* bytes that follow the header: OUT data, then ISO descriptors */
};

/*
 * A URB-phase header (USBIP_HEADER_SIZE bytes) against the imported device's
 * configuration descriptors: 0 with what follows in *out, or -1 with why in
 * why[whylen] (the server closes the connection). A CMD_UNLINK has nothing
 * after it; any other command but CMD_SUBMIT is refused.
 */
int usbip_parse_urb_header(const uint8_t *h, const uint8_t *config, unsigned config_len,
                           struct usbip_urb_request *out, char *why, size_t whylen);

#endif
