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
#include "tests/common/fake_usb_device.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CDC_SET_LINE_CODING 0x20u
#define CDC_SET_CONTROL_LINE_STATE 0x22u

/* The CDC ACM function of tests/common with the firmware's serial number. */
struct fake_core {
    struct fake_usb usb;
    struct fake_usb_fifo echo;   /* what bulk OUT brought, in upper case, for bulk IN */
    struct fake_usb_fifo notify; /* nothing fills it: no SERIAL_STATE to tell, the endpoint NAKs */
};

static const char *const strings[] = {NULL, "Spark Devices", "Spark Core with WiFi", "53FF6C066667574821362567"};

static bool core_setup(struct fake_usb *u, const uint8_t p[8])
{
    (void)u;
    uint16_t value = (uint16_t)(p[2] | p[3] << 8), length = (uint16_t)(p[6] | p[7] << 8);
    if (p[0] == 0x21 && p[1] == CDC_SET_LINE_CODING && length == 7)
        return true; /* the data stage follows */
    if (p[0] == 0x21 && p[1] == CDC_SET_CONTROL_LINE_STATE) {
        printf("CONTROL_LINE_STATE %u\n", value);
        fflush(stdout);
        return true;
    }
    return false;
}

static void core_ep0_out_done(struct fake_usb *u)
{
    if (u->setup[1] == CDC_SET_LINE_CODING) {
        const uint8_t *c = u->ep0_out;
        printf("LINE_CODING %u %u %u %u\n", (unsigned)(c[0] | c[1] << 8 | c[2] << 16 | (uint32_t)c[3] << 24), c[4],
               c[5], c[6]);
        fflush(stdout);
    }
}

static void core_bulk_out(struct fake_usb *u, uint8_t ep, uint8_t *data, unsigned len)
{
    (void)u;
    (void)ep;
    printf("OUT %.*s\n", (int)len, (const char *)data);
    fflush(stdout);
    for (unsigned i = 0; i < len; i++)
        data[i] = (uint8_t)toupper(data[i]);
}

static const struct fake_usb_function core_function = {
    .device = fake_usb_cdc_device,
    .config = fake_usb_cdc_config,
    .config_len = sizeof fake_usb_cdc_config,
    .strings = strings,
    .nstrings = 4,
    .setup = core_setup,
    .ep0_out_done = core_ep0_out_done,
    .bulk_out = core_bulk_out,
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
    fake_usb_init(&core->usb, &core_function, core);
    fake_usb_fifo_init(&core->echo, sizeof core->echo.data);
    fake_usb_fifo_init(&core->notify, 0);
    core->usb.ep_in[FAKE_USB_CDC_EP_DATA_IN] = &core->echo;
    core->usb.ep_out[FAKE_USB_CDC_EP_DATA_OUT] = &core->echo;
    core->usb.ep_in[FAKE_USB_CDC_EP_NOTIFY] = &core->notify;
    usb_host_init(host, &m->sim, &fake_usb_ops, &core->usb);
    host->kick = kick_machine;
    host->kick_opaque = m;
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
