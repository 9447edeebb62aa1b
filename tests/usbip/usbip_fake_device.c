/*
 * usbip_fake_device.c - the USB/IP server on a virtual USB host with a small
 * fake device, for tests/usbip/usbip_client.py while the real device model is
 * elsewhere: EP0 control, EP1 bulk IN fed by EP2 bulk OUT (a loopback), an
 * ISO IN endpoint (EP3) the server must refuse, a vendor request whose data
 * stage NAKs forever (for unlinks), and one that makes the device unplug and
 * plug in again (a re-enumeration, as DFU -> Tinker does).
 *
 * Design decision: virtual time follows the wall clock on this program's own
 * loop (no CPU), so the server sees a device that answers in real time.
 *
 * usage: usbip_fake_device [ADDR:]PORT [SECONDS]   (prints "listening on PORT")
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu/host/usbip.h"
#include "emu/usb_host.h"

static const uint8_t dev_desc[18] = {18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x50, 0x1d, 0x7f, 0x60, 0x00, 0x02, 1, 2, 3, 1};
static const uint8_t cfg_desc[48] = {
    9, 2, 48, 0, 2, 1, 0, 0xC0, 50, /* configuration, 2 interfaces */
    9, 4, 0, 0, 2, 0xFF, 0, 0, 0,   /* interface 0: vendor, 2 endpoints */
    7, 5, 0x81, 2, 64, 0, 0,        /* EP1 IN bulk 64 */
    7, 5, 0x02, 2, 32, 0, 0,        /* EP2 OUT bulk 32 */
    9, 4, 1, 0, 1, 0x01, 0x02, 0, 0, /* interface 1: audio streaming, 1 endpoint */
    7, 5, 0x83, 1, 64, 0, 1,        /* EP3 IN isochronous 64 */
};

#define VENDOR_NAK_FOREVER 0x02u /* IN: the data stage NAKs until the next SETUP */
#define VENDOR_REPLUG 0x03u      /* OUT: unplug 20 ms later, plug in again 200 ms after that */

struct fake {
    uint8_t addr, pending_addr;
    uint8_t setup[8];
    uint8_t reply[256];
    unsigned reply_len, reply_pos;
    bool ep0_stall, nak_forever, replug_requested;
    bool tx_toggle, rx_toggle, ep1_toggle, ep2_toggle;
    uint8_t loop[4096];
    unsigned loop_len;
};

static void string_desc(struct fake *f, const char *s)
{
    unsigned n = (unsigned)strlen(s);
    f->reply[0] = (uint8_t)(2 + 2 * n);
    f->reply[1] = 3;
    for (unsigned i = 0; i < n; i++) {
        f->reply[2 + 2 * i] = (uint8_t)s[i];
        f->reply[3 + 2 * i] = 0;
    }
    f->reply_len = 2 + 2 * n;
}

static void fake_bus_reset(void *dev)
{
    struct fake *f = dev;
    f->addr = 0;
    f->nak_forever = false;
}

static enum usb_handshake fake_setup(void *dev, uint8_t addr, uint8_t ep, const uint8_t p[8])
{
    struct fake *f = dev;
    if (addr != f->addr || ep != 0)
        return USB_NO_ANSWER;
    memcpy(f->setup, p, 8);
    f->reply_pos = f->reply_len = 0;
    f->ep0_stall = f->nak_forever = false;
    f->tx_toggle = f->rx_toggle = true;
    uint16_t value = (uint16_t)(p[2] | p[3] << 8), len = (uint16_t)(p[6] | p[7] << 8);
    if (p[0] == 0x80 && p[1] == USB_REQ_GET_DESCRIPTOR) {
        switch (value >> 8) {
        case USB_DT_DEVICE: memcpy(f->reply, dev_desc, 18); f->reply_len = 18; break;
        case USB_DT_CONFIG: memcpy(f->reply, cfg_desc, sizeof cfg_desc); f->reply_len = sizeof cfg_desc; break;
        case USB_DT_STRING:
            if ((value & 0xFF) == 0) {
                static const uint8_t langs[4] = {4, 3, 0x09, 0x04};
                memcpy(f->reply, langs, 4);
                f->reply_len = 4;
            } else if ((value & 0xFF) == 1) {
                string_desc(f, "Maker");
            } else if ((value & 0xFF) == 2) {
                string_desc(f, "Widget");
            } else if ((value & 0xFF) == 3) {
                string_desc(f, "0123456789AB");
            } else {
                f->ep0_stall = true;
            }
            break;
        default: f->ep0_stall = true;
        }
        if (f->reply_len > len)
            f->reply_len = len;
    } else if (p[0] == 0 && p[1] == USB_REQ_SET_ADDRESS) {
        f->pending_addr = (uint8_t)value;
    } else if (p[0] == 0 && p[1] == USB_REQ_SET_CONFIGURATION) {
        f->ep1_toggle = f->ep2_toggle = false;
    } else if (p[0] == 0x01 && p[1] == USB_REQ_SET_INTERFACE) {
        f->ep1_toggle = f->ep2_toggle = false;
    } else if (p[0] == 0x02 && p[1] == USB_REQ_CLEAR_FEATURE && value == USB_ENDPOINT_HALT) {
        if (p[4] == 0x81)
            f->ep1_toggle = false;
        else if (p[4] == 0x02)
            f->ep2_toggle = false;
    } else if (p[0] == 0xC0 && p[1] == VENDOR_NAK_FOREVER) {
        f->nak_forever = true;
    } else if (p[0] == 0x40 && p[1] == VENDOR_REPLUG) {
        f->replug_requested = true;
    } else {
        f->ep0_stall = true;
    }
    return USB_ACK;
}

static enum usb_handshake fake_out(void *dev, uint8_t addr, uint8_t ep, bool data1, const uint8_t *pkt, unsigned len)
{
    struct fake *f = dev;
    if (addr != f->addr)
        return USB_NO_ANSWER;
    if (ep == 0)
        return f->ep0_stall ? USB_STALL : USB_ACK;
    if (ep == 2) {
        if (data1 != f->ep2_toggle)
            return USB_ACK; /* a repeat */
        if (f->loop_len + len > sizeof f->loop)
            return USB_NAK;
        memcpy(f->loop + f->loop_len, pkt, len);
        f->loop_len += len;
        f->ep2_toggle = !f->ep2_toggle;
        return USB_ACK;
    }
    return USB_STALL;
}

static enum usb_handshake fake_in(void *dev, uint8_t addr, uint8_t ep, uint8_t *pkt, unsigned max, unsigned *len,
                                  bool *data1)
{
    struct fake *f = dev;
    (void)max;
    if (addr != f->addr)
        return USB_NO_ANSWER;
    if (ep == 0) {
        if (f->ep0_stall)
            return USB_STALL;
        if (f->nak_forever)
            return USB_NAK;
        unsigned n = f->reply_len - f->reply_pos;
        if (n > 64)
            n = 64;
        memcpy(pkt, f->reply + f->reply_pos, n);
        f->reply_pos += n;
        *len = n;
        *data1 = f->tx_toggle;
        f->tx_toggle = !f->tx_toggle;
        if (n == 0 && f->setup[0] == 0 && f->setup[1] == USB_REQ_SET_ADDRESS)
            f->addr = f->pending_addr; /* after the status stage */
        return USB_ACK;
    }
    if (ep == 1) {
        if (!f->loop_len)
            return USB_NAK;
        unsigned n = f->loop_len < 64 ? f->loop_len : 64;
        memcpy(pkt, f->loop, n);
        memmove(f->loop, f->loop + n, f->loop_len - n);
        f->loop_len -= n;
        *len = n;
        *data1 = f->ep1_toggle;
        f->ep1_toggle = !f->ep1_toggle;
        return USB_ACK;
    }
    return USB_STALL;
}

static const struct usb_device_ops fake_ops = {
    .bus_reset = fake_bus_reset,
    .setup = fake_setup,
    .out = fake_out,
    .in = fake_in,
};

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s [ADDR:]PORT [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc == 3 ? atof(argv[2]) : 300.0; /* never outlive a test harness for long */
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    static struct sim sim;
    static struct usb_host host;
    static struct fake dev;
    sim_init(&sim);
    sim.log = stderr;
    sim.log_level = LOG_INFO;
    usb_host_init(&host, &sim, &fake_ops, &dev);

    struct usbip_server *server;
    char err[256];
    if (usbip_server_start(&server, &host, NULL, argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    printf("listening on %u\n", usbip_server_port(server));
    fflush(stdout);

    usb_host_plug(&host, true);
    usb_host_pullup_in(&host, 0, true);
    uint64_t start = wall_us(), end_us = (uint64_t)(seconds * 1e6);
    uint64_t unplug_at = 0, plug_at = 0;
    while (!stop_requested) {
        uint64_t elapsed = wall_us() - start;
        if (elapsed > end_us)
            break;
        uint64_t target = SIM_US(elapsed);
        for (int i = 0; i < 10000; i++) {
            usb_host_service(&host);
            usbip_server_service(server);
            if (sim.clock.deadline > target)
                break;
            if (sim.clock.deadline > sim.clock.now)
                sim.clock.now = sim.clock.deadline;
            clock_run_due(&sim);
        }
        if (sim.clock.now < target)
            sim.clock.now = target;
        if (dev.replug_requested) {
            dev.replug_requested = false;
            unplug_at = sim.clock.now + SIM_MS(20);
        }
        if (unplug_at && sim.clock.now >= unplug_at) {
            unplug_at = 0;
            usb_host_pullup_in(&host, 0, false);
            plug_at = sim.clock.now + SIM_MS(200);
        }
        if (plug_at && sim.clock.now >= plug_at) {
            plug_at = 0;
            dev.addr = 0;
            usb_host_pullup_in(&host, 0, true);
        }
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    usbip_server_stop(server);
    usb_host_free(&host);
    sim_free(&sim);
    return 0;
}
