/*
 * serial_fake.c - the USB serial adapter (emu/host/serial.c) against a fake
 * Spark Core: a virtual USB host whose device is a tiny CDC ACM function with
 * the firmware's ids (1d50:607d, a 24-hex serial string). The device answers
 * bulk OUT data with the same bytes in upper case on bulk IN, and prints what
 * the host's driver tells it, one line each, for test_serial.py:
 *
 *   PTY /dev/pts/N                 the adapter's pty slave
 *   LINE_CODING 9600 0 0 8         SET_LINE_CODING: rate, stop bits, parity, data bits
 *   CONTROL_LINE_STATE 3           SET_CONTROL_LINE_STATE: DTR = 1, RTS = 2
 *   OUT hello                      bulk OUT data (as received, one line per packet)
 *   HOLD 1                         real-time holds on the machine
 *   STOPPED                        usb_serial_stop returned
 *
 * Virtual time runs at the wall clock's pace, as a live client makes the
 * emulator run. The program ends when its stdin closes, or after the number
 * of seconds given as its argument (default 30).
 */
#include "emu/host/serial.h"
#include "emu/usb_host.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EP_BULK_IN 1
#define EP_NOTIFY 2
#define EP_BULK_OUT 3

static const uint8_t device_descriptor[18] = {
    18, USB_DT_DEVICE, 0x00, 0x02, 0x02, 0x00, 0x00, 64, /* USB 2.0, class CDC, EP0 64 */
    0x50, 0x1d, 0x7d, 0x60, 0x00, 0x02,                   /* 1d50:607d, bcdDevice 2.00 */
    1, 2, 3, 1,
};

static const uint8_t config_descriptor[67] = {
    9, USB_DT_CONFIG, 67, 0, 2, 1, 0, 0xC0, 50,
    /* the communication interface: CDC ACM, with header, call management, ACM and union descriptors */
    9, USB_DT_INTERFACE, 0, 0, 1, 0x02, 0x02, 0x01, 0,
    5, 0x24, 0x00, 0x10, 0x01,
    5, 0x24, 0x01, 0x00, 0x01,
    4, 0x24, 0x02, 0x02,
    5, 0x24, 0x06, 0x00, 0x01,
    7, USB_DT_ENDPOINT, 0x80 | EP_NOTIFY, USB_ENDPOINT_XFER_INT, 8, 0, 255,
    /* the data interface */
    9, USB_DT_INTERFACE, 1, 0, 2, 0x0A, 0x00, 0x00, 0,
    7, USB_DT_ENDPOINT, EP_BULK_OUT, USB_ENDPOINT_XFER_BULK, 64, 0, 0,
    7, USB_DT_ENDPOINT, 0x80 | EP_BULK_IN, USB_ENDPOINT_XFER_BULK, 64, 0, 0,
};

struct fake_core {
    struct usb_host *host;
    uint8_t addr, pending_addr;
    uint8_t setup[8];
    uint8_t reply[256];
    unsigned reply_len, reply_pos;
    uint8_t ep0_out[64];
    unsigned ep0_out_len;
    bool ep0_stall, ep0_in_toggle, ep0_out_toggle;
    bool bulk_in_toggle, bulk_out_toggle;
    uint8_t echo[4096];
    unsigned echo_len;
};

static void string_descriptor(struct fake_core *f, const char *s)
{
    unsigned n = (unsigned)strlen(s);
    f->reply[0] = (uint8_t)(2 + 2 * n);
    f->reply[1] = USB_DT_STRING;
    for (unsigned i = 0; i < n; i++) {
        f->reply[2 + 2 * i] = (uint8_t)s[i];
        f->reply[3 + 2 * i] = 0;
    }
    f->reply_len = 2 + 2 * n;
}

static void fake_bus_reset(void *dev)
{
    struct fake_core *f = dev;
    f->addr = 0;
}

static enum usb_handshake fake_setup(void *dev, uint8_t addr, uint8_t ep, const uint8_t p[8])
{
    struct fake_core *f = dev;
    if (addr != f->addr || ep != 0)
        return USB_NO_ANSWER;
    memcpy(f->setup, p, 8);
    f->reply_pos = f->reply_len = f->ep0_out_len = 0;
    f->ep0_stall = false;
    f->ep0_in_toggle = f->ep0_out_toggle = true;
    uint16_t value = (uint16_t)(p[2] | p[3] << 8), length = (uint16_t)(p[6] | p[7] << 8);
    if (p[0] == 0x80 && p[1] == USB_REQ_GET_DESCRIPTOR) {
        switch (value >> 8) {
        case USB_DT_DEVICE:
            memcpy(f->reply, device_descriptor, sizeof device_descriptor);
            f->reply_len = sizeof device_descriptor;
            break;
        case USB_DT_CONFIG:
            memcpy(f->reply, config_descriptor, sizeof config_descriptor);
            f->reply_len = sizeof config_descriptor;
            break;
        case USB_DT_STRING: {
            static const char *const strings[] = {NULL, "Spark Devices", "Spark Core with WiFi",
                                                  "53FF6C066667574821362567"};
            unsigned index = value & 0xFFu;
            if (index == 0) {
                static const uint8_t langids[4] = {4, USB_DT_STRING, 0x09, 0x04};
                memcpy(f->reply, langids, 4);
                f->reply_len = 4;
            } else if (index < 4) {
                string_descriptor(f, strings[index]);
            } else {
                f->ep0_stall = true;
            }
            break;
        }
        default:
            f->ep0_stall = true;
        }
        if (f->reply_len > length)
            f->reply_len = length;
    } else if (p[0] == 0x00 && p[1] == USB_REQ_SET_ADDRESS) {
        f->pending_addr = (uint8_t)value;
    } else if (p[0] == 0x00 && p[1] == USB_REQ_SET_CONFIGURATION) {
        f->bulk_in_toggle = f->bulk_out_toggle = false;
    } else if (p[0] == 0x21 && p[1] == 0x20 && length == 7) {
        /* SET_LINE_CODING: the data stage follows */
    } else if (p[0] == 0x21 && p[1] == 0x22) {
        printf("CONTROL_LINE_STATE %u\n", value);
        fflush(stdout);
    } else {
        f->ep0_stall = true;
    }
    return USB_ACK;
}

static enum usb_handshake fake_out(void *dev, uint8_t addr, uint8_t ep, bool data1, const uint8_t *packet,
                                   unsigned len)
{
    struct fake_core *f = dev;
    if (addr != f->addr)
        return USB_NO_ANSWER;
    if (ep == 0) {
        if (f->ep0_stall)
            return USB_STALL;
        if (len && data1 == f->ep0_out_toggle && f->ep0_out_len + len <= sizeof f->ep0_out) {
            memcpy(f->ep0_out + f->ep0_out_len, packet, len);
            f->ep0_out_len += len;
            f->ep0_out_toggle = !f->ep0_out_toggle;
            if (f->setup[1] == 0x20 && f->ep0_out_len == 7) {
                const uint8_t *c = f->ep0_out;
                printf("LINE_CODING %u %u %u %u\n", (unsigned)(c[0] | c[1] << 8 | c[2] << 16 | (uint32_t)c[3] << 24),
                       c[4], c[5], c[6]);
                fflush(stdout);
            }
        }
        return USB_ACK;
    }
    if (ep != EP_BULK_OUT)
        return USB_STALL;
    if (data1 != f->bulk_out_toggle)
        return USB_ACK; /* a retry of a packet already taken */
    if (f->echo_len + len > sizeof f->echo)
        return USB_NAK;
    printf("OUT %.*s\n", (int)len, (const char *)packet);
    fflush(stdout);
    for (unsigned i = 0; i < len; i++)
        f->echo[f->echo_len++] = (uint8_t)toupper(packet[i]);
    f->bulk_out_toggle = !f->bulk_out_toggle;
    return USB_ACK;
}

static enum usb_handshake fake_in(void *dev, uint8_t addr, uint8_t ep, uint8_t *packet, unsigned max, unsigned *len,
                                  bool *data1)
{
    struct fake_core *f = dev;
    (void)max;
    if (addr != f->addr)
        return USB_NO_ANSWER;
    if (ep == 0) {
        if (f->ep0_stall)
            return USB_STALL;
        unsigned n = f->reply_len - f->reply_pos;
        if (n > 64)
            n = 64;
        memcpy(packet, f->reply + f->reply_pos, n);
        f->reply_pos += n;
        *len = n;
        *data1 = f->ep0_in_toggle;
        f->ep0_in_toggle = !f->ep0_in_toggle;
        if (n == 0 && f->setup[0] == 0x00 && f->setup[1] == USB_REQ_SET_ADDRESS)
            f->addr = f->pending_addr; /* after the status stage */
        return USB_ACK;
    }
    if (ep == EP_NOTIFY)
        return USB_NAK; /* no SERIAL_STATE to tell */
    if (ep != EP_BULK_IN)
        return USB_STALL;
    if (!f->echo_len)
        return USB_NAK;
    unsigned n = f->echo_len < 64 ? f->echo_len : 64;
    memcpy(packet, f->echo, n);
    memmove(f->echo, f->echo + n, f->echo_len - n);
    f->echo_len -= n;
    *len = n;
    *data1 = f->bulk_in_toggle;
    f->bulk_in_toggle = !f->bulk_in_toggle;
    return USB_ACK;
}

static const struct usb_device_ops fake_ops = {
    .bus_reset = fake_bus_reset,
    .setup = fake_setup,
    .out = fake_out,
    .in = fake_in,
};

static void kick_machine(void *opaque)
{
    machine_kick(opaque);
}

static void host_service(void *opaque)
{
    usb_host_service(opaque);
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait on the machine's wake-up until `ns` of wall time passed or another thread kicked. */
static void wait_for_kick(struct machine *m, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ns += (uint64_t)ts.tv_nsec;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&m->wake_lock);
    while (!__atomic_load_n(&m->kicked, __ATOMIC_ACQUIRE))
        if (pthread_cond_timedwait(&m->wake_cond, &m->wake_lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&m->wake_lock);
}

/* Whether stdin has ended (the test is done with us). */
static bool stdin_closed(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    char buf[64];
    return read(STDIN_FILENO, buf, sizeof buf) <= 0;
}

int main(int argc, char **argv)
{
    double limit_s = argc > 1 ? atof(argv[1]) : 30.0;
    struct machine *m = calloc(1, sizeof *m);
    struct fake_core *core = calloc(1, sizeof *core);
    struct usb_host *host = calloc(1, sizeof *host);
    if (!m || !core || !host)
        return 1;
    /* only what the adapter uses of a machine: virtual time, the kick, services and holds */
    sim_init(&m->sim);
    pthread_mutex_init(&m->wake_lock, NULL);
    pthread_cond_init(&m->wake_cond, NULL);
    usb_host_init(host, &m->sim, &fake_ops, core);
    host->kick = kick_machine;
    host->kick_opaque = m;
    core->host = host;
    machine_add_service(m, host_service, host);

    struct usb_serial *serial;
    char err[256];
    if (usb_serial_start(&serial, host, m, SERIAL_PTY, NULL, err, sizeof err)) {
        fprintf(stderr, "serial_fake: %s\n", err);
        return 1;
    }
    printf("PTY %s\n", usb_serial_path(serial));
    fflush(stdout);
    usb_host_plug(host, true);
    usb_host_pullup_in(host, 0, true);

    uint64_t start = wall_ns(), last_input_check = 0;
    int holds = 0;
    for (;;) {
        uint64_t elapsed = wall_ns() - start;
        if (elapsed > (uint64_t)(limit_s * 1e9))
            break;
        if (elapsed - last_input_check > 10000000ull) {
            last_input_check = elapsed;
            if (stdin_closed())
                break;
        }
        machine_run_services(m);
        int h = __atomic_load_n(&m->realtime_holds, __ATOMIC_ACQUIRE);
        if (h != holds) {
            holds = h;
            printf("HOLD %d\n", holds);
            fflush(stdout);
        }
        /* virtual time follows the wall clock */
        uint64_t wall_cycles = elapsed * SIM_CYCLES_PER_US / 1000u;
        if (m->sim.clock.deadline <= wall_cycles) {
            if (m->sim.clock.deadline > m->sim.clock.now)
                m->sim.clock.now = m->sim.clock.deadline;
            clock_run_due(&m->sim);
        } else {
            if (wall_cycles > m->sim.clock.now)
                m->sim.clock.now = wall_cycles;
            uint64_t wait = m->sim.clock.deadline == UINT64_MAX
                                ? 1000000ull
                                : (m->sim.clock.deadline - m->sim.clock.now) * 1000u / SIM_CYCLES_PER_US;
            wait_for_kick(m, wait < 1000000ull ? wait : 1000000ull);
        }
    }
    usb_serial_stop(serial);
    printf("STOPPED\n");
    fflush(stdout);
    usb_host_free(host);
    sim_free(&m->sim);
    pthread_cond_destroy(&m->wake_cond);
    pthread_mutex_destroy(&m->wake_lock);
    free(host);
    free(core);
    free(m);
    return 0;
}
