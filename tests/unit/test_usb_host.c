/*
 * test_usb_host.c - the virtual USB host on a bare simulation context, with a
 * small scripted device on the token interface: enumeration reads the
 * device's own descriptors, control and bulk URBs turn into the right
 * transactions, NAKs are retried, stalls and silence end URBs with the errnos
 * Linux gives, unlinks and detaches complete what is in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include "emu/usb_host.h"
#include "tests/common/fake_usb_device.h"

/* ---- the widget (tests/common): EP0 control, EP1 bulk IN, EP2 bulk OUT ---- */

static const uint8_t cfg_desc[32] = {
    9, 2, 32, 0, 1, 1, 0, 0xC0, 50,        /* configuration */
    9, 4, 0, 0, 2, 0xFF, 0, 0, 0,          /* interface 0, 2 endpoints */
    7, 5, 0x81, 2, 64, 0, 0,               /* EP1 IN bulk 64 */
    7, 5, 0x02, 2, 32, 0, 0,               /* EP2 OUT bulk 32 */
};

#define VENDOR_OUT 0x01u /* a vendor request whose OUT data stage goes to the EP2 bytes */

struct widget {
    struct fake_usb usb;
    struct fake_usb_fifo bulk_in, bulk_out;
};

static bool widget_setup(struct fake_usb *u, const uint8_t p[8])
{
    (void)u;
    return p[0] == 0x40 && p[1] == VENDOR_OUT;
}

static void widget_ep0_out_done(struct fake_usb *u)
{
    struct widget *w = u->ctx;
    if (u->setup[0] == 0x40 && u->setup[1] == VENDOR_OUT)
        fake_usb_fifo_put(&w->bulk_out, u->ep0_out, u->ep0_out_len);
}

static const struct fake_usb_function widget_function = {
    .device = fake_usb_widget_device,
    .config = cfg_desc,
    .config_len = sizeof cfg_desc,
    .strings = fake_usb_widget_strings,
    .nstrings = 4,
    .setup = widget_setup,
    .ep0_out_done = widget_ep0_out_done,
};

static void widget_init(struct widget *w)
{
    fake_usb_init(&w->usb, &widget_function, w);
    fake_usb_fifo_init(&w->bulk_in, 512);
    fake_usb_fifo_init(&w->bulk_out, 512);
    w->usb.ep_in[1] = &w->bulk_in;
    w->usb.ep_out[2] = &w->bulk_out;
}

/* ---- fixture ---- */

struct fixture {
    struct sim sim;
    struct usb_host host;
    struct widget dev;
    int attached, detached;
    unsigned last_generation;
    char *trace_buf;
    size_t trace_len;
};

static void on_attached(void *opaque, const struct usb_device_view *v)
{
    struct fixture *f = opaque;
    f->attached++;
    f->last_generation = v->generation;
}

static void on_detached(void *opaque, unsigned generation)
{
    struct fixture *f = opaque;
    (void)generation;
    f->detached++;
}

static int setup_fixture(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    sim_init(&f->sim);
    f->sim.log = NULL;
    f->sim.trace = open_memstream(&f->trace_buf, &f->trace_len);
    widget_init(&f->dev);
    usb_host_init(&f->host, &f->sim, &fake_usb_ops, &f->dev.usb);
    usb_host_plug(&f->host, true);
    struct usb_host_observer o = {on_attached, on_detached, f};
    usb_host_observe(&f->host, &o);
    *state = f;
    return 0;
}

static int teardown_fixture(void **state)
{
    struct fixture *f = *state;
    usb_host_free(&f->host);
    fclose(f->sim.trace);
    free(f->trace_buf);
    sim_free(&f->sim);
    free(f);
    return 0;
}

/* Run virtual time until `until` (absolute cycles) or until *flag becomes non-zero. */
static void run_until(struct fixture *f, uint64_t until, const int *flag)
{
    while (f->sim.clock.now < until && !(flag && *flag)) {
        usb_host_service(&f->host);
        uint64_t next = f->sim.clock.deadline;
        if (next == UINT64_MAX || next > until)
            next = until;
        if (next > f->sim.clock.now)
            f->sim.clock.now = next;
        clock_run_due(&f->sim);
    }
}

static void attach(struct fixture *f)
{
    usb_host_pullup_in(&f->host, 0, true);
    run_until(f, f->sim.clock.now + SIM_S(1), &f->attached);
    assert_int_equal(f->attached, 1);
}

struct done {
    int count;
};

static void urb_done(struct usb_urb *urb)
{
    struct done *d = urb->context;
    d->count++;
}

static void control_urb(struct usb_urb *u, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint8_t *buf,
                        uint16_t len, struct done *d, unsigned gen)
{
    memset(u, 0, sizeof *u);
    u->type = USB_URB_CONTROL;
    u->setup[0] = type;
    u->setup[1] = req;
    u->setup[2] = (uint8_t)value;
    u->setup[3] = (uint8_t)(value >> 8);
    u->setup[4] = (uint8_t)index;
    u->setup[5] = (uint8_t)(index >> 8);
    u->setup[6] = (uint8_t)len;
    u->setup[7] = (uint8_t)(len >> 8);
    u->buffer = buf;
    u->length = len;
    u->complete = urb_done;
    u->context = d;
    u->generation = gen;
}

/* ---- tests ---- */

static void test_enumeration_reads_the_devices_own_descriptors(void **state)
{
    struct fixture *f = *state;
    attach(f);
    const struct usb_device_view *v = usb_host_device(&f->host);
    assert_non_null(v);
    assert_memory_equal(v->device, fake_usb_widget_device, 18);
    assert_int_equal(v->config_len, sizeof cfg_desc);
    assert_memory_equal(v->config, cfg_desc, sizeof cfg_desc);
    assert_string_equal(v->manufacturer, "Maker");
    assert_string_equal(v->product, "Widget");
    assert_string_equal(v->serial, "0123456789AB");
    assert_int_equal(v->address, 2);
    assert_int_equal(f->dev.usb.addr, 2);
    assert_int_equal(v->configuration, 1);
    assert_int_equal(f->dev.usb.configuration, 1);
    assert_true(f->dev.usb.resets >= 1);
    /* the trace says so, with the ids */
    fflush(f->sim.trace);
    assert_non_null(strstr(f->trace_buf, "\"event\":\"attach\",\"vid\":\"1d50\",\"pid\":\"607f\""));
    assert_non_null(strstr(f->trace_buf, "\"event\":\"setup\",\"setup\":\"8006000100004000\""));
}

static void test_control_in_with_naks_completes(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[255];
    f->dev.usb.ep0_naks = 5;
    control_urb(&u, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0200, 0, buf, 255, &d, f->last_generation);
    assert_int_equal(usb_host_submit(&f->host, &u), 0);
    run_until(f, f->sim.clock.now + SIM_MS(50), &d.count);
    assert_int_equal(d.count, 1);
    assert_int_equal(u.status, 0);
    assert_int_equal(u.actual, sizeof cfg_desc);
    assert_memory_equal(buf, cfg_desc, sizeof cfg_desc);
}

static void test_unknown_request_stalls_with_epipe(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[8];
    control_urb(&u, 0xC0, 0x55, 0, 0, buf, 8, &d, f->last_generation);
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(10), &d.count);
    assert_int_equal(d.count, 1);
    assert_int_equal(u.status, -EPIPE);
}

static void test_control_out_data_stage(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[100];
    for (int i = 0; i < 100; i++)
        buf[i] = (uint8_t)i;
    control_urb(&u, 0x40, 0x01, 0, 0, buf, 100, &d, f->last_generation);
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(10), &d.count);
    assert_int_equal(u.status, 0);
    assert_int_equal(u.actual, 100);
    assert_int_equal(f->dev.bulk_out.len, 100);
    assert_memory_equal(f->dev.bulk_out.data, buf, 100);
}

static void test_bulk_in_waits_for_data_then_ends_short(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[512];
    memset(&u, 0, sizeof u);
    u.type = USB_URB_BULK;
    u.endpoint = 0x81;
    u.buffer = buf;
    u.length = sizeof buf;
    u.complete = urb_done;
    u.context = &d;
    u.generation = f->last_generation;
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(20), &d.count);
    assert_int_equal(d.count, 0); /* NAKed, still waiting */
    memset(f->dev.bulk_in.data, 'x', 100);
    f->dev.bulk_in.len = 100;
    usb_host_ready_in(&f->host, 0, true);
    run_until(f, f->sim.clock.now + SIM_MS(5), &d.count);
    assert_int_equal(d.count, 1);
    assert_int_equal(u.status, 0);
    assert_int_equal(u.actual, 100); /* 64 + a short 36 */
}

static void test_bulk_out_splits_by_max_packet(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[100];
    memset(buf, 7, sizeof buf);
    memset(&u, 0, sizeof u);
    u.type = USB_URB_BULK;
    u.endpoint = 0x02;
    u.buffer = buf;
    u.length = sizeof buf;
    u.complete = urb_done;
    u.context = &d;
    u.generation = f->last_generation;
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(5), &d.count);
    assert_int_equal(u.status, 0);
    assert_int_equal(f->dev.bulk_out.len, 100);
    assert_false(f->dev.usb.out_toggle[2]); /* 4 packets of at most 32: DATA0 DATA1 DATA0 DATA1 */
}

static void test_unlink_completes_with_econnreset(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[64];
    memset(&u, 0, sizeof u);
    u.type = USB_URB_BULK;
    u.endpoint = 0x81;
    u.buffer = buf;
    u.length = sizeof buf;
    u.complete = urb_done;
    u.context = &d;
    u.generation = f->last_generation;
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(3), &d.count);
    usb_host_unlink(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(1), &d.count);
    assert_int_equal(d.count, 1);
    assert_int_equal(u.status, -ECONNRESET);
}

static void test_detach_fails_urbs_in_flight_and_old_generation(void **state)
{
    struct fixture *f = *state;
    attach(f);
    unsigned gen = f->last_generation;
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[64];
    memset(&u, 0, sizeof u);
    u.type = USB_URB_BULK;
    u.endpoint = 0x81;
    u.buffer = buf;
    u.length = sizeof buf;
    u.complete = urb_done;
    u.context = &d;
    u.generation = gen;
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(3), NULL);
    usb_host_pullup_in(&f->host, 0, false);
    assert_int_equal(d.count, 1);
    assert_int_equal(u.status, -ENODEV);
    assert_int_equal(f->detached, 1);
    /* re-attach: a new generation; URBs for the old one are refused */
    f->attached = 0;
    attach(f);
    assert_true(f->last_generation != gen);
    d.count = 0;
    usb_host_submit(&f->host, &u);
    run_until(f, f->sim.clock.now + SIM_MS(1), &d.count);
    assert_int_equal(u.status, -ENODEV);
}

static void test_silent_device_does_not_enumerate_and_time_ends(void **state)
{
    struct fixture *f = *state;
    f->dev.usb.powered = false;
    usb_host_pullup_in(&f->host, 0, true);
    run_until(f, SIM_S(10), NULL);
    assert_int_equal(f->attached, 0);
    assert_null(usb_host_device(&f->host));
    /* it gave up: nothing but frames is left to do */
    assert_false(event_pending(&f->host.connect_event));
}

static void test_malformed_urbs_are_refused(void **state)
{
    struct fixture *f = *state;
    attach(f);
    struct usb_urb u;
    struct done d = {0};
    uint8_t buf[8];
    control_urb(&u, 0x80, 6, 0x0100, 0, buf, 8, &d, f->last_generation);
    u.setup[6] = 0xFF; /* wLength 255 > buffer of 8 */
    assert_int_equal(usb_host_submit(&f->host, &u), -EINVAL);
    memset(&u, 0, sizeof u);
    u.type = USB_URB_BULK;
    u.endpoint = 0x80; /* bulk on endpoint 0 */
    assert_int_equal(usb_host_submit(&f->host, &u), -EINVAL);
    u.type = (enum usb_urb_type)9;
    assert_int_equal(usb_host_submit(&f->host, &u), -EINVAL);
}

static void test_reset_keeps_an_unchanged_device(void **state)
{
    struct fixture *f = *state;
    attach(f);
    unsigned gen = f->last_generation;
    usb_host_reset_device(&f->host);
    run_until(f, f->sim.clock.now + SIM_S(1), NULL);
    assert_non_null(usb_host_device(&f->host));
    assert_int_equal(usb_host_device(&f->host)->generation, gen);
    assert_int_equal(f->attached, 1);
    assert_int_equal(f->detached, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enumeration_reads_the_devices_own_descriptors, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_control_in_with_naks_completes, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_unknown_request_stalls_with_epipe, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_control_out_data_stage, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bulk_in_waits_for_data_then_ends_short, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bulk_out_splits_by_max_packet, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_unlink_completes_with_econnreset, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_detach_fails_urbs_in_flight_and_old_generation, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_silent_device_does_not_enumerate_and_time_ends, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_malformed_urbs_are_refused, setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_reset_keeps_an_unchanged_device, setup_fixture, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
