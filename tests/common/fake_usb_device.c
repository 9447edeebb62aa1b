/*
 * fake_usb_device.c - the scripted USB device the host tests share: chapter 9
 * addressing and descriptors, EP0 control stages, bulk endpoints on FIFOs.
 *
 * Design decision: the device answers every transaction at once from its own
 * state, as the token interface requires; the only waiting it does is NAKing
 * (an empty IN FIFO, a full OUT FIFO, ep0_naks, ep0_nak_forever), so a test
 * chooses when a transfer may complete.
 */
#include "fake_usb_device.h"

#include <string.h>

const uint8_t fake_usb_widget_device[USB_DT_DEVICE_SIZE] = {
    18, USB_DT_DEVICE, 0x00, 0x02, 0, 0, 0, 64, /* USB 2.0, class per interface, EP0 64 */
    0x50, 0x1d, 0x7f, 0x60, 0x00, 0x02,        /* 1d50:607f, bcdDevice 2.00 */
    1, 2, 3, 1,
};
const char *const fake_usb_widget_strings[4] = {NULL, "Maker", "Widget", "0123456789AB"};

const uint8_t fake_usb_cdc_device[USB_DT_DEVICE_SIZE] = {
    18, USB_DT_DEVICE, 0x00, 0x02, 0x02, 0x00, 0x00, 64, /* USB 2.0, class CDC, EP0 64 */
    0x50, 0x1d, 0x7d, 0x60, 0x00, 0x02,                   /* 1d50:607d, bcdDevice 2.00 */
    1, 2, 3, 1,
};

const uint8_t fake_usb_cdc_config[FAKE_USB_CDC_CONFIG_SIZE] = {
    9, USB_DT_CONFIG, FAKE_USB_CDC_CONFIG_SIZE, 0, 2, 1, 0, 0xC0, 50,
    /* the communication interface: CDC ACM, with header, call management, ACM and union descriptors */
    9, USB_DT_INTERFACE, 0, 0, 1, 0x02, 0x02, 0x01, 0,
    5, 0x24, 0x00, 0x10, 0x01,
    5, 0x24, 0x01, 0x00, 0x01,
    4, 0x24, 0x02, 0x02,
    5, 0x24, 0x06, 0x00, 0x01,
    7, USB_DT_ENDPOINT, USB_DIR_IN | FAKE_USB_CDC_EP_NOTIFY, USB_ENDPOINT_XFER_INT, 8, 0, 255,
    /* the data interface */
    9, USB_DT_INTERFACE, 1, 0, 2, 0x0A, 0x00, 0x00, 0,
    7, USB_DT_ENDPOINT, FAKE_USB_CDC_EP_DATA_OUT, USB_ENDPOINT_XFER_BULK, 64, 0, 0,
    7, USB_DT_ENDPOINT, USB_DIR_IN | FAKE_USB_CDC_EP_DATA_IN, USB_ENDPOINT_XFER_BULK, 64, 0, 0,
};

void fake_usb_init(struct fake_usb *u, const struct fake_usb_function *fn, void *ctx)
{
    memset(u, 0, sizeof *u);
    u->fn = fn;
    u->ctx = ctx;
    u->powered = true;
}

void fake_usb_fifo_init(struct fake_usb_fifo *q, unsigned size)
{
    q->len = 0;
    q->size = size < FAKE_USB_FIFO_MAX ? size : FAKE_USB_FIFO_MAX;
}

unsigned fake_usb_fifo_put(struct fake_usb_fifo *q, const uint8_t *data, unsigned len)
{
    if (len > q->size - q->len)
        len = q->size - q->len;
    memcpy(q->data + q->len, data, len);
    q->len += len;
    return len;
}

void fake_usb_reset_toggles(struct fake_usb *u)
{
    memset(u->in_toggle, 0, sizeof u->in_toggle);
    memset(u->out_toggle, 0, sizeof u->out_toggle);
}

void fake_usb_clear_halt(struct fake_usb *u, uint8_t endpoint)
{
    if (endpoint & USB_DIR_IN)
        u->in_toggle[endpoint & 0x0Fu] = false;
    else
        u->out_toggle[endpoint & 0x0Fu] = false;
}

static void reply_string(struct fake_usb *u, const char *s)
{
    unsigned n = (unsigned)strlen(s);
    if (n > (sizeof u->reply - 2) / 2)
        n = (sizeof u->reply - 2) / 2;
    u->reply[0] = (uint8_t)(2 + 2 * n);
    u->reply[1] = USB_DT_STRING;
    for (unsigned i = 0; i < n; i++) {
        u->reply[2 + 2 * i] = (uint8_t)s[i];
        u->reply[3 + 2 * i] = 0;
    }
    u->reply_len = 2 + 2 * n;
}

/* GET_DESCRIPTOR: device, configuration 1 and the strings from the tables; anything else stalls. */
static void get_descriptor(struct fake_usb *u, uint16_t value)
{
    const struct fake_usb_function *fn = u->fn;
    unsigned index = value & 0xFFu;
    switch (value >> 8) {
    case USB_DT_DEVICE:
        memcpy(u->reply, fn->device, USB_DT_DEVICE_SIZE);
        u->reply_len = USB_DT_DEVICE_SIZE;
        break;
    case USB_DT_CONFIG:
        u->reply_len = fn->config_len < sizeof u->reply ? fn->config_len : (unsigned)sizeof u->reply;
        memcpy(u->reply, fn->config, u->reply_len);
        break;
    case USB_DT_STRING:
        if (index == 0) {
            static const uint8_t langids[4] = {4, USB_DT_STRING, 0x09, 0x04}; /* en-US */
            memcpy(u->reply, langids, sizeof langids);
            u->reply_len = sizeof langids;
        } else if (index < fn->nstrings) {
            reply_string(u, fn->strings[index]);
        } else {
            u->ep0_stall = true;
        }
        break;
    default:
        u->ep0_stall = true;
    }
}

static void fake_bus_reset(void *dev)
{
    struct fake_usb *u = dev;
    u->addr = 0;
    u->configuration = 0;
    u->ep0_nak_forever = false;
    u->resets++;
}

static enum usb_handshake fake_setup(void *dev, uint8_t addr, uint8_t ep, const uint8_t p[8])
{
    struct fake_usb *u = dev;
    if (!u->powered || addr != u->addr || ep != 0)
        return USB_NO_ANSWER;
    memcpy(u->setup, p, 8);
    u->reply_pos = u->reply_len = u->ep0_out_len = 0;
    u->ep0_stall = u->ep0_nak_forever = false;
    u->ep0_in_toggle = u->ep0_out_toggle = true; /* data stages start at DATA1 */
    uint16_t value = (uint16_t)(p[2] | p[3] << 8), length = (uint16_t)(p[6] | p[7] << 8);
    if (p[0] == USB_DIR_IN && p[1] == USB_REQ_GET_DESCRIPTOR) {
        get_descriptor(u, value);
    } else if (p[0] == 0x00 && p[1] == USB_REQ_SET_ADDRESS) {
        u->pending_addr = (uint8_t)value; /* taken after the status stage */
    } else if (p[0] == 0x00 && p[1] == USB_REQ_SET_CONFIGURATION) {
        u->configuration = (uint8_t)value;
        fake_usb_reset_toggles(u);
    } else if (!u->fn->setup || !u->fn->setup(u, p)) {
        u->ep0_stall = true;
    }
    if (u->reply_len > sizeof u->reply) /* a hook's own length beyond the buffer */
        u->reply_len = sizeof u->reply;
    if (u->reply_len > length)
        u->reply_len = length;
    return USB_ACK;
}

static enum usb_handshake fake_out(void *dev, uint8_t addr, uint8_t ep, bool data1, const uint8_t *packet,
                                   unsigned len)
{
    struct fake_usb *u = dev;
    if (!u->powered || addr != u->addr)
        return USB_NO_ANSWER;
    if (ep == 0) {
        if (u->ep0_stall)
            return USB_STALL;
        uint16_t length = (uint16_t)(u->setup[6] | u->setup[7] << 8);
        if (len && data1 == u->ep0_out_toggle && u->ep0_out_len + len <= sizeof u->ep0_out) {
            memcpy(u->ep0_out + u->ep0_out_len, packet, len);
            u->ep0_out_len += len;
            u->ep0_out_toggle = !u->ep0_out_toggle;
            if (u->ep0_out_len == length && u->fn->ep0_out_done)
                u->fn->ep0_out_done(u);
        }
        return USB_ACK;
    }
    struct fake_usb_fifo *q = ep < FAKE_USB_ENDPOINTS ? u->ep_out[ep] : NULL;
    if (!q)
        return USB_STALL;
    if (data1 != u->out_toggle[ep])
        return USB_ACK; /* a retry of a packet already taken */
    if (len > q->size - q->len)
        return USB_NAK;
    uint8_t *stored = q->data + q->len;
    fake_usb_fifo_put(q, packet, len);
    if (u->fn->bulk_out)
        u->fn->bulk_out(u, ep, stored, len);
    u->out_toggle[ep] = !u->out_toggle[ep];
    return USB_ACK;
}

static enum usb_handshake fake_in(void *dev, uint8_t addr, uint8_t ep, uint8_t *packet, unsigned max, unsigned *len,
                                  bool *data1)
{
    struct fake_usb *u = dev;
    (void)max; /* every endpoint here has wMaxPacketSize 64 */
    if (!u->powered || addr != u->addr)
        return USB_NO_ANSWER;
    if (ep == 0) {
        if (u->ep0_stall)
            return USB_STALL;
        if (u->ep0_nak_forever)
            return USB_NAK;
        if (u->ep0_naks > 0) {
            u->ep0_naks--;
            return USB_NAK;
        }
        unsigned n = u->reply_len - u->reply_pos;
        if (n > USB_FS_MAX_PACKET)
            n = USB_FS_MAX_PACKET;
        memcpy(packet, u->reply + u->reply_pos, n);
        u->reply_pos += n;
        *len = n;
        *data1 = u->ep0_in_toggle;
        u->ep0_in_toggle = !u->ep0_in_toggle;
        if (n == 0 && u->setup[0] == 0x00 && u->setup[1] == USB_REQ_SET_ADDRESS)
            u->addr = u->pending_addr; /* the status stage is done */
        return USB_ACK;
    }
    struct fake_usb_fifo *q = ep < FAKE_USB_ENDPOINTS ? u->ep_in[ep] : NULL;
    if (!q)
        return USB_STALL;
    if (!q->len)
        return USB_NAK;
    unsigned n = q->len < USB_FS_MAX_PACKET ? q->len : USB_FS_MAX_PACKET;
    memcpy(packet, q->data, n);
    memmove(q->data, q->data + n, q->len - n);
    q->len -= n;
    *len = n;
    *data1 = u->in_toggle[ep];
    u->in_toggle[ep] = !u->in_toggle[ep];
    return USB_ACK;
}

const struct usb_device_ops fake_usb_ops = {
    .bus_reset = fake_bus_reset,
    .setup = fake_setup,
    .out = fake_out,
    .in = fake_in,
};
