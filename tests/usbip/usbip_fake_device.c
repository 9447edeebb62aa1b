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
#include "tests/common/fake_usb_device.h"

/* the widget (tests/common) with a second, isochronous interface */
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

struct loopback {
    struct fake_usb usb;
    struct fake_usb_fifo loop; /* EP2 OUT fills it, EP1 IN empties it */
    bool replug_requested;
};

static bool loopback_setup(struct fake_usb *u, const uint8_t p[8])
{
    struct loopback *l = u->ctx;
    uint16_t value = (uint16_t)(p[2] | p[3] << 8);
    if (p[0] == 0x01 && p[1] == USB_REQ_SET_INTERFACE)
        fake_usb_reset_toggles(u);
    else if (p[0] == 0x02 && p[1] == USB_REQ_CLEAR_FEATURE && value == USB_ENDPOINT_HALT)
        fake_usb_clear_halt(u, p[4]);
    else if (p[0] == 0xC0 && p[1] == VENDOR_NAK_FOREVER)
        u->ep0_nak_forever = true;
    else if (p[0] == 0x40 && p[1] == VENDOR_REPLUG)
        l->replug_requested = true;
    else
        return false;
    return true;
}

static const struct fake_usb_function loopback_function = {
    .device = fake_usb_widget_device,
    .config = cfg_desc,
    .config_len = sizeof cfg_desc,
    .strings = fake_usb_widget_strings,
    .nstrings = 4,
    .setup = loopback_setup,
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
    static struct loopback dev;
    sim_init(&sim);
    sim.log = stderr;
    sim.log_level = LOG_INFO;
    fake_usb_init(&dev.usb, &loopback_function, &dev);
    fake_usb_fifo_init(&dev.loop, sizeof dev.loop.data);
    dev.usb.ep_in[1] = &dev.loop;
    dev.usb.ep_out[2] = &dev.loop;
    usb_host_init(&host, &sim, &fake_usb_ops, &dev.usb);

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
            dev.usb.addr = 0;
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
