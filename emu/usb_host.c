/*
 * usb_host.c - the virtual USB host: a host controller with one root-hub
 * port, the kernel's enumeration of whatever the port connects, and the URB
 * interface the host-side adapters share (see usb_host.h).
 *
 * Design decision: the controller runs in virtual time, one transaction per
 * event, each taking the time its bytes take on a 12 Mbit/s bus; a NAKed
 * endpoint is retried when the device says an endpoint became valid (the
 * `ready` pulse) or at the next frame, as a real controller keeps retrying
 * within and across frames. Descriptors always come from the device on the
 * port, read by control transfers exactly as Linux's hub driver reads them;
 * nothing here knows which device it is.
 */
#include "usb_host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CYCLES_PER_BYTE 48u            /* 72 MHz / 12 Mbit/s x 8 bits */
#define PACKET_OVERHEAD_BYTES 12u      /* token, PIDs, CRC, handshake, gaps */
#define FRAME_CYCLES SIM_MS(1)
#define CONNECT_DEBOUNCE SIM_MS(100)   /* hub_port_debounce: 100 ms stable */
#define RESET_CYCLES SIM_MS(20)        /* 10 ms of SE0, 10 ms reset recovery */
#define SET_ADDRESS_RECOVERY SIM_MS(2)
#define ENUM_TIMEOUT SIM_S(5)          /* USB_CTRL_GET_TIMEOUT */
#define ENUM_RETRY_DELAY SIM_MS(100)
#define ENUM_MAX_TRIES 6
#define NO_ANSWER_RETRIES 3            /* a controller's error counter */
#define FIRST_DEVNUM 2                 /* devnum 1 is the root hub */

enum control_stage { STAGE_SETUP = 0, STAGE_DATA, STAGE_STATUS };

enum enum_step {
    ENUM_IDLE = 0,
    ENUM_RESET,
    ENUM_GET_DEVICE_64,
    ENUM_SET_ADDRESS,
    ENUM_GET_DEVICE,
    ENUM_GET_CONFIG_HEADER,
    ENUM_GET_CONFIG,
    ENUM_GET_LANGIDS,
    ENUM_GET_PRODUCT,
    ENUM_GET_MANUFACTURER,
    ENUM_GET_SERIAL,
    ENUM_SET_CONFIGURATION,
    ENUM_DONE,
};

static void schedule_transactions(struct usb_host *h);
static void enum_next(struct usb_host *h);
static void enum_urb_complete(struct usb_urb *urb);

static int ep_index(uint8_t endpoint)
{
    if ((endpoint & 0x0Fu) == 0)
        return 0; /* the control pipe has one queue for both directions */
    return (endpoint & 0x0Fu) + ((endpoint & USB_DIR_IN) ? 16 : 0);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void put_setup(uint8_t *s, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t len)
{
    s[0] = type;
    s[1] = req;
    s[2] = (uint8_t)value;
    s[3] = (uint8_t)(value >> 8);
    s[4] = (uint8_t)index;
    s[5] = (uint8_t)(index >> 8);
    s[6] = (uint8_t)len;
    s[7] = (uint8_t)(len >> 8);
}

static uint64_t packet_cycles(unsigned len)
{
    return (uint64_t)(len + PACKET_OVERHEAD_BYTES) * CYCLES_PER_BYTE;
}

/* ---- completion --------------------------------------------------------- */

static void unqueue(struct usb_host *h, struct usb_urb *urb)
{
    int i = urb->type == USB_URB_CONTROL ? 0 : ep_index(urb->endpoint);
    for (struct usb_urb **p = &h->queue[i]; *p; p = &(*p)->next) {
        if (*p == urb) {
            *p = urb->next;
            break;
        }
    }
    urb->next = NULL;
    urb->queued = false;
}

/* The standard requests that change what the host knows of the device. */
static void note_standard_request(struct usb_host *h, const struct usb_urb *urb)
{
    const uint8_t *s = urb->setup;
    if ((s[0] & USB_TYPE_MASK) != USB_TYPE_STANDARD)
        return;
    if (s[1] == USB_REQ_SET_CONFIGURATION && (s[0] & USB_RECIP_MASK) == USB_RECIP_DEVICE) {
        h->view.configuration = s[2];
        for (int i = 1; i < USB_HOST_MAX_ENDPOINTS; i++)
            h->toggle[i] = false;
    } else if (s[1] == USB_REQ_SET_INTERFACE && (s[0] & USB_RECIP_MASK) == USB_RECIP_INTERFACE) {
        for (int i = 1; i < USB_HOST_MAX_ENDPOINTS; i++)
            h->toggle[i] = false;
    } else if (s[1] == USB_REQ_CLEAR_FEATURE && (s[0] & USB_RECIP_MASK) == USB_RECIP_ENDPOINT &&
               get16(s + 2) == USB_ENDPOINT_HALT) {
        h->toggle[ep_index((uint8_t)s[4])] = false;
    }
}

static void complete(struct usb_host *h, struct usb_urb *urb, int status)
{
    unqueue(h, urb);
    /* a pending unlink of this URB is moot now: forget the pointer before its owner reuses it */
    if (urb->unlink_requested) {
        pthread_mutex_lock(&h->lock);
        for (int i = 0; i < h->nunlinks; i++)
            if (h->unlinks[i] == urb)
                h->unlinks[i--] = h->unlinks[--h->nunlinks];
        pthread_mutex_unlock(&h->lock);
    }
    urb->status = status;
    urb->actual = urb->done;
    if (status == 0 && urb->type == USB_URB_CONTROL)
        note_standard_request(h, urb);
    if (urb->complete)
        urb->complete(urb);
}

static void fail_all(struct usb_host *h, int status)
{
    for (int i = 0; i < USB_HOST_MAX_ENDPOINTS; i++)
        while (h->queue[i])
            complete(h, h->queue[i], status);
}

/* ---- one transaction ---------------------------------------------------- */

/*
 * Handshake bookkeeping shared by every stage: NAK waits for the device,
 * STALL ends the URB with -EPIPE, silence is retried a few times and then
 * ends it with -EPROTO. Returns true when the stage may go on.
 */
static bool handshake_ok(struct usb_host *h, struct usb_urb *urb, int ep, enum usb_handshake hs)
{
    switch (hs) {
    case USB_ACK:
        urb->errors = 0;
        return true;
    case USB_NAK:
        h->naks++;
        h->nak_wait[ep] = true;
        return false;
    case USB_STALL:
        complete(h, urb, -EPIPE);
        return false;
    case USB_NO_ANSWER:
    default:
        if (++urb->errors >= NO_ANSWER_RETRIES)
            complete(h, urb, -EPROTO);
        else
            h->nak_wait[ep] = true; /* try again at the next frame */
        return false;
    }
}

/* An IN data packet: returns -1 on error (URB completed), 1 when the transfer ended, 0 to go on. */
static int take_in_packet(struct usb_host *h, struct usb_urb *urb, int ep, uint32_t want, unsigned maxp,
                          const uint8_t *pkt, unsigned len, bool data1, bool *toggle)
{
    if (data1 != *toggle)
        return 0; /* our ACK was lost and the device sent it again: discard the copy */
    *toggle = !*toggle;
    if (len > maxp || urb->done + len > want) {
        complete(h, urb, -EOVERFLOW); /* babble */
        return -1;
    }
    memcpy(urb->buffer + urb->done, pkt, len);
    urb->done += len;
    (void)ep;
    return len < maxp || urb->done == want ? 1 : 0;
}

static uint64_t control_transaction(struct usb_host *h, struct usb_urb *urb)
{
    uint8_t addr = h->view.address;
    unsigned maxp = h->max_packet[0] ? h->max_packet[0] : USB_FS_MAX_PACKET;
    uint16_t wlength = get16(urb->setup + 6);
    bool in = (urb->setup[0] & USB_DIR_IN) != 0;
    uint8_t pkt[USB_MAX_PACKET_ISO];
    unsigned len = 0;
    bool data1 = false;
    enum usb_handshake hs;

    switch (urb->stage) {
    case STAGE_SETUP:
        sim_trace(h->sim, "usb", "\"event\":\"setup\",\"setup\":\"%02x%02x%02x%02x%02x%02x%02x%02x\"",
                  urb->setup[0], urb->setup[1], urb->setup[2], urb->setup[3], urb->setup[4], urb->setup[5],
                  urb->setup[6], urb->setup[7]);
        hs = h->ops->setup(h->dev, addr, 0, urb->setup);
        if (hs == USB_NAK)
            hs = USB_NO_ANSWER; /* a device may not NAK a SETUP: a broken transaction */
        if (handshake_ok(h, urb, 0, hs)) {
            urb->toggle = true;
            urb->stage = wlength ? STAGE_DATA : STAGE_STATUS;
        }
        return packet_cycles(8);
    case STAGE_DATA:
        if (in) {
            hs = h->ops->in(h->dev, addr, 0, pkt, sizeof pkt, &len, &data1);
            if (handshake_ok(h, urb, 0, hs)) {
                int r = take_in_packet(h, urb, 0, wlength, maxp, pkt, len, data1, &urb->toggle);
                if (r > 0)
                    urb->stage = STAGE_STATUS;
            }
            return packet_cycles(hs == USB_ACK ? len : 0);
        }
        len = wlength - urb->done < maxp ? wlength - urb->done : maxp;
        hs = h->ops->out(h->dev, addr, 0, urb->toggle, urb->buffer + urb->done, len);
        if (handshake_ok(h, urb, 0, hs)) {
            urb->toggle = !urb->toggle;
            urb->done += len;
            if (urb->done == wlength)
                urb->stage = STAGE_STATUS;
        }
        return packet_cycles(len);
    case STAGE_STATUS:
    default:
        if (in && wlength) {
            static const uint8_t zlp[1];
            hs = h->ops->out(h->dev, addr, 0, true, zlp, 0);
            if (handshake_ok(h, urb, 0, hs))
                complete(h, urb, 0);
        } else {
            hs = h->ops->in(h->dev, addr, 0, pkt, sizeof pkt, &len, &data1);
            if (handshake_ok(h, urb, 0, hs)) {
                if (len != 0)
                    complete(h, urb, -EPROTO); /* the status stage carries no data */
                else
                    complete(h, urb, 0);
            }
        }
        return packet_cycles(0);
    }
}

static uint64_t data_transaction(struct usb_host *h, struct usb_urb *urb, int ep)
{
    uint8_t addr = h->view.address, num = urb->endpoint & 0x0Fu;
    unsigned maxp = h->max_packet[ep] ? h->max_packet[ep] : USB_FS_MAX_PACKET;
    uint8_t pkt[USB_MAX_PACKET_ISO];
    unsigned len = 0;
    bool data1 = false;
    enum usb_handshake hs;

    if (urb->endpoint & USB_DIR_IN) {
        hs = h->ops->in(h->dev, addr, num, pkt, sizeof pkt, &len, &data1);
        if (handshake_ok(h, urb, ep, hs)) {
            int r = take_in_packet(h, urb, ep, urb->length, maxp, pkt, len, data1, &h->toggle[ep]);
            if (r > 0) {
                bool short_xfer = urb->done < urb->length;
                complete(h, urb, short_xfer && (urb->flags & USB_URB_SHORT_NOT_OK) ? -EREMOTEIO : 0);
            }
        }
        return packet_cycles(hs == USB_ACK ? len : 0);
    }
    len = urb->length - urb->done < maxp ? urb->length - urb->done : maxp;
    hs = h->ops->out(h->dev, addr, num, h->toggle[ep], urb->buffer + urb->done, len);
    if (handshake_ok(h, urb, ep, hs)) {
        h->toggle[ep] = !h->toggle[ep];
        urb->done += len;
        bool zlp_due = (urb->flags & USB_URB_ZERO_PACKET) && len == maxp && urb->done == urb->length;
        if (urb->done == urb->length && !zlp_due)
            complete(h, urb, 0);
        else if (zlp_due)
            urb->flags &= ~USB_URB_ZERO_PACKET; /* the next transaction sends the ZLP */
    }
    return packet_cycles(len);
}

/* Run one transaction of the next endpoint with work, round robin. */
static void run_transaction(struct sim *sim, void *opaque)
{
    struct usb_host *h = opaque;
    (void)sim;
    if (!h->pullup)
        return;
    for (int n = 0; n < USB_HOST_MAX_ENDPOINTS; n++) {
        int i = (h->rr_next + n) % USB_HOST_MAX_ENDPOINTS;
        struct usb_urb *urb = h->queue[i];
        if (!urb || h->nak_wait[i])
            continue;
        h->rr_next = (i + 1) % USB_HOST_MAX_ENDPOINTS;
        h->transactions++;
        uint64_t took = urb->type == USB_URB_CONTROL ? control_transaction(h, urb) : data_transaction(h, urb, i);
        event_schedule(h->sim, &h->xfer_event, h->sim->clock.now + took);
        return;
    }
}

static bool work_ready(const struct usb_host *h)
{
    for (int i = 0; i < USB_HOST_MAX_ENDPOINTS; i++)
        if (h->queue[i] && !h->nak_wait[i])
            return true;
    return false;
}

static void schedule_transactions(struct usb_host *h)
{
    if (h->pullup && !event_pending(&h->xfer_event) && work_ready(h))
        event_schedule(h->sim, &h->xfer_event, h->sim->clock.now);
}

static void retry_naked(struct usb_host *h)
{
    memset(h->nak_wait, 0, sizeof h->nak_wait);
    schedule_transactions(h);
}

/* ---- queueing ----------------------------------------------------------- */

static void enqueue(struct usb_host *h, struct usb_urb *urb)
{
    int i = urb->type == USB_URB_CONTROL ? 0 : ep_index(urb->endpoint);
    urb->next = NULL;
    urb->stage = STAGE_SETUP;
    urb->done = 0;
    urb->errors = 0;
    urb->actual = 0;
    urb->status = -EINPROGRESS;
    urb->queued = true;
    struct usb_urb **p = &h->queue[i];
    while (*p)
        p = &(*p)->next;
    *p = urb;
    schedule_transactions(h);
}

static int check_urb(const struct usb_urb *urb)
{
    if (urb->type != USB_URB_CONTROL && urb->type != USB_URB_BULK && urb->type != USB_URB_INTERRUPT)
        return -EINVAL;
    if (urb->length && !urb->buffer)
        return -EINVAL;
    if (urb->type == USB_URB_CONTROL && get16(urb->setup + 6) > urb->length)
        return -EINVAL;
    if (urb->type != USB_URB_CONTROL && (urb->endpoint & 0x0Fu) == 0)
        return -EINVAL;
    return 0;
}

/* Emulator thread: an URB arrives. SET_ADDRESS is the host's own business (as vhci does). */
static void accept(struct usb_host *h, struct usb_urb *urb)
{
    if (!h->enumerated || urb->generation != h->view.generation) {
        urb->status = -ENODEV;
        urb->actual = 0;
        if (urb->complete)
            urb->complete(urb);
        return;
    }
    if (urb->type == USB_URB_CONTROL && (urb->setup[0] & USB_TYPE_MASK) == USB_TYPE_STANDARD &&
        urb->setup[1] == USB_REQ_SET_ADDRESS) {
        urb->status = 0;
        urb->actual = 0;
        if (urb->complete)
            urb->complete(urb);
        return;
    }
    enqueue(h, urb);
}

int usb_host_submit(struct usb_host *h, struct usb_urb *urb)
{
    int rc = check_urb(urb);
    if (rc)
        return rc;
    pthread_mutex_lock(&h->lock);
    urb->next = NULL;
    urb->unlink_requested = false;
    struct usb_urb **p = &h->inbox;
    while (*p)
        p = &(*p)->next;
    *p = urb;
    pthread_mutex_unlock(&h->lock);
    if (h->kick)
        h->kick(h->kick_opaque);
    return 0;
}

void usb_host_unlink(struct usb_host *h, struct usb_urb *urb)
{
    pthread_mutex_lock(&h->lock);
    urb->unlink_requested = true;
    if (h->nunlinks < (int)(sizeof h->unlinks / sizeof h->unlinks[0]))
        h->unlinks[h->nunlinks++] = urb;
    pthread_mutex_unlock(&h->lock);
    if (h->kick)
        h->kick(h->kick_opaque);
}

void usb_host_service(struct usb_host *h)
{
    pthread_mutex_lock(&h->lock);
    struct usb_urb *in = h->inbox;
    h->inbox = NULL;
    pthread_mutex_unlock(&h->lock);

    while (in) {
        struct usb_urb *next = in->next;
        in->next = NULL;
        if (in->unlink_requested) {
            in->status = -ECONNRESET;
            in->actual = 0;
            if (in->complete)
                in->complete(in);
        } else {
            accept(h, in);
        }
        in = next;
    }
    /* one unlink at a time: a completion in between removes its own entry (see complete) */
    for (;;) {
        pthread_mutex_lock(&h->lock);
        struct usb_urb *u = h->nunlinks ? h->unlinks[--h->nunlinks] : NULL;
        pthread_mutex_unlock(&h->lock);
        if (!u)
            break;
        if (u->queued)
            complete(h, u, -ECONNRESET);
    }
}

bool usb_host_busy(const struct usb_host *h)
{
    for (int i = 0; i < USB_HOST_MAX_ENDPOINTS; i++)
        if (h->queue[i] && h->queue[i] != &h->enum_urb)
            return true;
    return h->inbox != NULL;
}

const struct usb_device_view *usb_host_device(const struct usb_host *h)
{
    return h->enumerated ? &h->view : NULL;
}

/* ---- frames ------------------------------------------------------------- */

static void sof(struct sim *sim, void *opaque)
{
    struct usb_host *h = opaque;
    if (!h->pullup)
        return;
    h->frame = (uint16_t)((h->frame + 1) & 0x7FFu);
    if (h->ops->sof)
        h->ops->sof(h->dev, h->frame);
    retry_naked(h);
    event_schedule(sim, &h->sof_event, h->sof_event.when + FRAME_CYCLES);
}

/* ---- enumeration, as Linux's hub driver does it ------------------------- */

static void bus_reset(struct usb_host *h)
{
    sim_trace(h->sim, "usb", "\"event\":\"reset\"");
    fail_all(h, -ECONNRESET);
    h->view.address = 0;
    h->max_packet[0] = USB_FS_MAX_PACKET;
    memset(h->toggle, 0, sizeof h->toggle);
    memset(h->nak_wait, 0, sizeof h->nak_wait);
    h->ops->bus_reset(h->dev);
    if (!event_pending(&h->sof_event))
        event_schedule(h->sim, &h->sof_event, h->sim->clock.now + FRAME_CYCLES);
}

static void enum_control(struct usb_host *h, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                         uint16_t len)
{
    struct usb_urb *u = &h->enum_urb;
    memset(u, 0, sizeof *u);
    u->type = USB_URB_CONTROL;
    put_setup(u->setup, type, req, value, index, len);
    u->buffer = h->enum_buf;
    u->length = len;
    u->complete = enum_urb_complete;
    u->context = h;
    enqueue(h, u);
}

static void enum_restart(struct usb_host *h, const char *why)
{
    event_cancel(h->sim, &h->enum_timeout_event);
    if (h->enum_urb.queued)
        unqueue(h, &h->enum_urb);
    if (++h->enum_tries >= ENUM_MAX_TRIES) {
        sim_log(h->sim, LOG_WARN, "usb: the device on port 1-1 did not enumerate (%s); giving up until it reconnects",
                why);
        h->enum_step = ENUM_IDLE;
        return;
    }
    sim_log(h->sim, LOG_INFO, "usb: enumeration failed (%s); resetting the port and trying again", why);
    h->enum_step = ENUM_RESET - 1;
    event_schedule(h->sim, &h->connect_event, h->sim->clock.now + ENUM_RETRY_DELAY);
}

/* UTF-16LE string descriptor to UTF-8. */
static void string_to_utf8(const uint8_t *d, unsigned n, char *out, size_t outlen)
{
    size_t o = 0;
    if (n >= 2 && d[1] == USB_DT_STRING) {
        unsigned len = d[0] < n ? d[0] : n;
        for (unsigned i = 2; i + 1 < len && o + 4 < outlen; i += 2) {
            unsigned c = (unsigned)d[i] | (unsigned)d[i + 1] << 8;
            if (c == 0)
                break;
            if (c < 0x80) {
                out[o++] = (char)c;
            } else if (c < 0x800) {
                out[o++] = (char)(0xC0 | c >> 6);
                out[o++] = (char)(0x80 | (c & 0x3F));
            } else {
                out[o++] = (char)(0xE0 | c >> 12);
                out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (c & 0x3F));
            }
        }
    }
    out[o] = '\0';
}

static void parse_endpoints(struct usb_host *h)
{
    for (int i = 1; i < USB_HOST_MAX_ENDPOINTS; i++)
        h->max_packet[i] = USB_FS_MAX_PACKET;
    const uint8_t *c = h->view.config;
    for (unsigned o = 0; o + 2 <= h->view.config_len && c[o] >= 2; o += c[o]) {
        if (c[o + 1] == USB_DT_ENDPOINT && c[o] >= 7 && o + 7 <= h->view.config_len) {
            uint16_t mps = get16(c + o + 4) & 0x7FFu;
            int i = ep_index(c[o + 2]);
            if (i != 0 && mps)
                h->max_packet[i] = mps;
        }
    }
}

/* The result of the step's control transfer: move on, or start over. */
static void enum_step_done(struct usb_host *h)
{
    struct usb_urb *u = &h->enum_urb;
    int st = u->status;
    unsigned got = u->actual;
    event_cancel(h->sim, &h->enum_timeout_event);

    switch (h->enum_step) {
    case ENUM_GET_DEVICE_64:
        if (st || got < 8) {
            enum_restart(h, "no answer to GET_DESCRIPTOR(device)");
            return;
        }
        if (h->enum_buf[7] != 8 && h->enum_buf[7] != 16 && h->enum_buf[7] != 32 && h->enum_buf[7] != 64) {
            enum_restart(h, "bad bMaxPacketSize0");
            return;
        }
        h->max_packet[0] = h->enum_buf[7];
        break;
    case ENUM_SET_ADDRESS:
        if (st) {
            enum_restart(h, "device not accepting address");
            return;
        }
        h->view.address = h->view.devnum;
        h->enum_step++;
        event_schedule(h->sim, &h->connect_event, h->sim->clock.now + SET_ADDRESS_RECOVERY);
        return;
    case ENUM_GET_DEVICE:
        if (st || got < USB_DT_DEVICE_SIZE || h->enum_buf[1] != USB_DT_DEVICE) {
            enum_restart(h, "bad device descriptor");
            return;
        }
        memcpy(h->view.device, h->enum_buf, USB_DT_DEVICE_SIZE);
        break;
    case ENUM_GET_CONFIG_HEADER:
        if (st || got < USB_DT_CONFIG_SIZE || h->enum_buf[1] != USB_DT_CONFIG) {
            enum_restart(h, "bad configuration descriptor");
            return;
        }
        h->view.config_len = get16(h->enum_buf + 2);
        if (h->view.config_len < USB_DT_CONFIG_SIZE) {
            enum_restart(h, "configuration wTotalLength too small");
            return;
        }
        if (h->view.config_len > USB_HOST_MAX_CONFIG) {
            sim_log(h->sim, LOG_WARN, "usb: configuration of %u bytes, reading the first %u",
                    h->view.config_len, USB_HOST_MAX_CONFIG);
            h->view.config_len = USB_HOST_MAX_CONFIG;
        }
        break;
    case ENUM_GET_CONFIG:
        if (st || got < USB_DT_CONFIG_SIZE) {
            enum_restart(h, "configuration descriptor read failed");
            return;
        }
        h->view.config_len = (uint16_t)got;
        memcpy(h->view.config, h->enum_buf, got);
        parse_endpoints(h);
        break;
    case ENUM_GET_LANGIDS:
        h->enum_langid = (st == 0 && got >= 4) ? get16(h->enum_buf + 2) : 0;
        break;
    case ENUM_GET_PRODUCT:
    case ENUM_GET_MANUFACTURER:
    case ENUM_GET_SERIAL: {
        char *dst = h->enum_step == ENUM_GET_PRODUCT ? h->view.product
                    : h->enum_step == ENUM_GET_MANUFACTURER ? h->view.manufacturer
                                                            : h->view.serial;
        if (st == 0)
            string_to_utf8(h->enum_buf, got, dst, sizeof h->view.product);
        else
            dst[0] = '\0'; /* a string the device will not give is just missing */
        break;
    }
    case ENUM_SET_CONFIGURATION:
        if (st) {
            enum_restart(h, "SET_CONFIGURATION failed");
            return;
        }
        break;
    default:
        return;
    }
    h->enum_step++;
    enum_next(h);
}

static void enum_timeout(struct sim *sim, void *opaque)
{
    struct usb_host *h = opaque;
    (void)sim;
    enum_restart(h, "a control transfer timed out after 5 s");
}

static void enum_urb_complete(struct usb_urb *urb)
{
    enum_step_done(urb->context);
}

static void enum_get_string(struct usb_host *h, uint8_t index)
{
    enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, (uint16_t)(USB_DT_STRING << 8 | index), h->enum_langid,
                 255);
}

static void notify_attached(struct usb_host *h)
{
    sim_trace(h->sim, "usb", "\"event\":\"attach\",\"vid\":\"%04x\",\"pid\":\"%04x\"",
              get16(h->view.device + 8), get16(h->view.device + 10));
    sim_log(h->sim, LOG_INFO, "usb: %04x:%04x \"%s\" \"%s\" serial \"%s\" enumerated at address %u",
            get16(h->view.device + 8), get16(h->view.device + 10), h->view.manufacturer, h->view.product,
            h->view.serial, h->view.address);
    for (int i = 0; i < h->nobservers; i++)
        if (h->observers[i].attached)
            h->observers[i].attached(h->observers[i].opaque, &h->view);
}

/*
 * After a port reset of a device clients hold open, Linux keeps the device if
 * its descriptors did not change (usb_reset_device); otherwise it is a new one.
 */
static void enum_finished(struct usb_host *h)
{
    h->enum_step = ENUM_IDLE;
    h->enum_tries = 0;
    h->enumerated = true;
    if (h->reenumerating) {
        h->reenumerating = false;
        const struct usb_device_view *b = &h->before_reset;
        if (memcmp(b->device, h->view.device, sizeof b->device) == 0 && b->config_len == h->view.config_len &&
            memcmp(b->config, h->view.config, b->config_len) == 0) {
            h->view.generation = b->generation;
            return;
        }
        for (int i = 0; i < h->nobservers; i++)
            if (h->observers[i].detached)
                h->observers[i].detached(h->observers[i].opaque, b->generation);
    }
    h->view.generation = ++h->next_generation;
    notify_attached(h);
}

static void enum_next(struct usb_host *h)
{
    if (!h->pullup)
        return;
    for (;;) {
        switch (h->enum_step) {
        case ENUM_RESET:
            bus_reset(h);
            h->enum_step++;
            event_schedule(h->sim, &h->connect_event, h->sim->clock.now + RESET_CYCLES);
            return;
        case ENUM_GET_DEVICE_64:
            enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 0, 64);
            break;
        case ENUM_SET_ADDRESS:
            enum_control(h, 0, USB_REQ_SET_ADDRESS, h->view.devnum, 0, 0);
            break;
        case ENUM_GET_DEVICE:
            enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 0, USB_DT_DEVICE_SIZE);
            break;
        case ENUM_GET_CONFIG_HEADER:
            enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_CONFIG << 8, 0, USB_DT_CONFIG_SIZE);
            break;
        case ENUM_GET_CONFIG:
            enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_CONFIG << 8, 0, h->view.config_len);
            break;
        case ENUM_GET_LANGIDS:
            if (!h->view.device[14] && !h->view.device[15] && !h->view.device[16]) {
                h->enum_step = ENUM_SET_CONFIGURATION;
                continue;
            }
            enum_control(h, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_STRING << 8, 0, 255);
            break;
        case ENUM_GET_PRODUCT:
        case ENUM_GET_MANUFACTURER:
        case ENUM_GET_SERIAL: {
            static const int field[] = {15, 14, 16}; /* iProduct, iManufacturer, iSerialNumber */
            uint8_t index = h->view.device[field[h->enum_step - ENUM_GET_PRODUCT]];
            if (!index || !h->enum_langid) {
                h->enum_step++;
                continue;
            }
            enum_get_string(h, index);
            break;
        }
        case ENUM_SET_CONFIGURATION:
            enum_control(h, 0, USB_REQ_SET_CONFIGURATION, h->view.config[5], 0, 0);
            break;
        case ENUM_DONE:
            enum_finished(h);
            return;
        default:
            return;
        }
        event_schedule(h->sim, &h->enum_timeout_event, h->sim->clock.now + ENUM_TIMEOUT);
        return;
    }
}

static void connect_step(struct sim *sim, void *opaque)
{
    struct usb_host *h = opaque;
    (void)sim;
    if (h->enum_step == ENUM_IDLE || h->enum_step == ENUM_RESET - 1)
        h->enum_step = ENUM_RESET; /* debounced: start */
    enum_next(h);
}

static void start_enumeration(struct usb_host *h, uint64_t delay)
{
    h->enumerated = false;
    h->enum_tries = 0;
    h->enum_step = ENUM_IDLE;
    memset(&h->view, 0, sizeof h->view);
    h->view.busnum = 1;
    h->view.portnum = 1;
    h->view.devnum = (uint8_t)(FIRST_DEVNUM + (h->next_generation % 126));
    if (h->enum_urb.queued)
        unqueue(h, &h->enum_urb);
    event_cancel(h->sim, &h->enum_timeout_event);
    event_schedule(h->sim, &h->connect_event, h->sim->clock.now + delay);
}

static void disconnected(struct usb_host *h)
{
    bool was = h->enumerated;
    unsigned gen = h->view.generation;
    event_cancel(h->sim, &h->connect_event);
    event_cancel(h->sim, &h->enum_timeout_event);
    event_cancel(h->sim, &h->sof_event);
    event_cancel(h->sim, &h->xfer_event);
    h->enumerated = false;
    h->enum_step = ENUM_IDLE;
    if (h->enum_urb.queued)
        unqueue(h, &h->enum_urb);
    fail_all(h, -ENODEV);
    if (h->reenumerating) {
        h->reenumerating = false;
        was = true;
        gen = h->before_reset.generation;
        h->view = h->before_reset;
    }
    if (was) {
        sim_trace(h->sim, "usb", "\"event\":\"detach\",\"vid\":\"%04x\",\"pid\":\"%04x\"",
                  get16(h->view.device + 8), get16(h->view.device + 10));
        for (int i = 0; i < h->nobservers; i++)
            if (h->observers[i].detached)
                h->observers[i].detached(h->observers[i].opaque, gen);
    } else {
        sim_trace(h->sim, "usb", "\"event\":\"detach\"");
    }
}

void usb_host_pullup_in(void *opaque, int n, bool level)
{
    struct usb_host *h = opaque;
    (void)n;
    h->device_pullup = level;
    level = level && h->plugged;
    if (level == h->pullup)
        return;
    h->pullup = level;
    if (level)
        start_enumeration(h, CONNECT_DEBOUNCE);
    else
        disconnected(h);
}

void usb_host_plug(struct usb_host *h, bool plugged)
{
    h->plugged = plugged;
    usb_host_pullup_in(h, 0, h->device_pullup);
}

void usb_host_ready_in(void *opaque, int n, bool level)
{
    struct usb_host *h = opaque;
    (void)n;
    if (level)
        retry_naked(h);
}

void usb_host_reset_device(struct usb_host *h)
{
    if (!h->pullup)
        return;
    if (h->enumerated) {
        h->before_reset = h->view;
        h->reenumerating = true;
    }
    fail_all(h, -ECONNRESET);
    start_enumeration(h, 0);
    if (h->reenumerating)
        h->view.devnum = h->before_reset.devnum;
}

/* ---- life cycle --------------------------------------------------------- */

void usb_host_init(struct usb_host *h, struct sim *sim, const struct usb_device_ops *ops, void *dev)
{
    memset(h, 0, sizeof *h);
    h->sim = sim;
    h->ops = ops;
    h->dev = dev;
    pthread_mutex_init(&h->lock, NULL);
    event_init(&h->sof_event, sof, h, "USB SOF");
    event_init(&h->connect_event, connect_step, h, "USB enumeration");
    event_init(&h->xfer_event, run_transaction, h, "USB transaction");
    event_init(&h->enum_timeout_event, enum_timeout, h, "USB enumeration time-out");
    for (int i = 0; i < USB_HOST_MAX_ENDPOINTS; i++)
        h->max_packet[i] = USB_FS_MAX_PACKET;
}

void usb_host_observe(struct usb_host *h, const struct usb_host_observer *o)
{
    if (h->nobservers < USB_HOST_MAX_OBSERVERS)
        h->observers[h->nobservers++] = *o;
}

void usb_host_free(struct usb_host *h)
{
    event_cancel(h->sim, &h->sof_event);
    event_cancel(h->sim, &h->connect_event);
    event_cancel(h->sim, &h->xfer_event);
    event_cancel(h->sim, &h->enum_timeout_event);
    pthread_mutex_destroy(&h->lock);
}
