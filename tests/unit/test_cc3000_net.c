/*
 * test_cc3000_net.c - the CC3000's sockets on a network (struct cc3000_net):
 * a fake network in memory, the host driver's side over SPI as in test_ext.c.
 * What is pinned: the socket limit, connect time-outs, select's wait for data
 * and its hold on a lone byte (the firmware's 2-byte prefix), the close-wait
 * event and "socket inactive" after a peer closes, and the cloud trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peripherals/ext/cc3000.h"

/* ---- a network in memory -------------------------------------------------- */

#define FAKE_SOCKETS 8

struct fake_net {
    int opened;
    enum cc3000_net_state state[FAKE_SOCKETS];
    uint8_t rx[FAKE_SOCKETS][64];
    size_t rx_len[FAKE_SOCKETS];
    uint8_t sent[512];
    size_t nsent;
    bool closed[FAKE_SOCKETS];
    enum cc3000_net_state connect_result;
    uint32_t connect_ip;
    uint16_t connect_port;
};

static int fake_open(void *ctx, bool udp)
{
    (void)udp;
    struct fake_net *n = ctx;
    return n->opened < FAKE_SOCKETS ? n->opened++ : -1;
}

static bool fake_connect(void *ctx, int h, uint32_t ip, uint16_t port)
{
    struct fake_net *n = ctx;
    n->state[h] = n->connect_result;
    n->connect_ip = ip;
    n->connect_port = port;
    return port == 5683;
}

static enum cc3000_net_state fake_state(void *ctx, int h) { return ((struct fake_net *)ctx)->state[h]; }
static size_t fake_available(void *ctx, int h) { return ((struct fake_net *)ctx)->rx_len[h]; }

static size_t fake_recv(void *ctx, int h, uint8_t *buf, size_t max, uint32_t *ip, uint16_t *port)
{
    struct fake_net *n = ctx;
    size_t got = n->rx_len[h] < max ? n->rx_len[h] : max;
    memcpy(buf, n->rx[h], got);
    memmove(n->rx[h], n->rx[h] + got, n->rx_len[h] -= got);
    *ip = 0;
    *port = 0;
    return got;
}

static int fake_send(void *ctx, int h, const uint8_t *data, size_t len, uint32_t ip, uint16_t port)
{
    (void)h, (void)ip, (void)port;
    struct fake_net *n = ctx;
    assert_true(n->nsent + len <= sizeof n->sent);
    memcpy(n->sent + n->nsent, data, len);
    n->nsent += len;
    return (int)len;
}

static void fake_close(void *ctx, int h) { ((struct fake_net *)ctx)->closed[h] = true; }

static int fake_resolve(void *ctx, const char *name, uint32_t *ip)
{
    (void)ctx, (void)name;
    *ip = 0x7F000001u;
    return 1;
}

static const struct cc3000_net fake_ops = {
    .open = fake_open, .connect = fake_connect, .state = fake_state, .available = fake_available,
    .recv = fake_recv, .send = fake_send, .close = fake_close, .resolve = fake_resolve,
};

/* ---- the module and a host driver on SPI ------------------------------------ */

struct fixture {
    struct sim sim;
    char *trace_buf;
    size_t trace_len;
    struct cc3000 dev;
    struct fake_net net;
    bool irq_high;
    uint64_t last_fall;
    bool first_write_done;
};

static void irq_in(void *opaque, int n, bool level)
{
    (void)n;
    struct fixture *f = opaque;
    if (f->irq_high && !level)
        f->last_fall = sim_now(&f->sim);
    f->irq_high = level;
}

static void run_until(struct sim *sim, uint64_t t)
{
    while (sim->clock.deadline <= t) {
        if (sim->clock.deadline > sim->clock.now)
            sim->clock.now = sim->clock.deadline;
        clock_run_due(sim);
    }
    if (t > sim->clock.now)
        sim->clock.now = t;
}

static void run_for(struct sim *sim, uint64_t cycles) { run_until(sim, sim->clock.now + cycles); }

static void spi_write(struct fixture *f, const uint8_t *hci, size_t n)
{
    size_t len = (n & 1) ? n : n + 1;
    cc3000_spi_ops.select(&f->dev, true);
    if (f->first_write_done)
        run_for(&f->sim, CC3000_WRITE_READY_DELAY);
    uint8_t header[5] = {CC3000_SPI_WRITE, (uint8_t)(len >> 8), (uint8_t)len, 0, 0};
    for (size_t i = 0; i < sizeof header; i++)
        cc3000_spi_ops.exchange(&f->dev, header[i]);
    for (size_t i = 0; i < len; i++)
        cc3000_spi_ops.exchange(&f->dev, i < n ? hci[i] : 0);
    cc3000_spi_ops.select(&f->dev, false);
    f->first_write_done = true;
}

static void command(struct fixture *f, uint16_t opcode, const uint8_t *args, uint8_t nargs)
{
    uint8_t hci[80] = {CC3000_HCI_TYPE_CMND, (uint8_t)opcode, (uint8_t)(opcode >> 8), nargs};
    memcpy(hci + 4, args, nargs);
    spi_write(f, hci, 4u + nargs);
}

/* Wait (at most `limit`) for IRQ low and read one packet into out; its length, 0 if none came. */
static size_t wait_read(struct fixture *f, uint8_t *out, size_t max, uint64_t limit)
{
    uint64_t end = sim_now(&f->sim) + limit;
    while (f->irq_high && f->sim.clock.deadline <= end)
        run_until(&f->sim, f->sim.clock.deadline);
    if (f->irq_high)
        return 0;
    cc3000_spi_ops.select(&f->dev, true);
    static const uint8_t read_cmd[5] = {CC3000_SPI_READ, 0, 0, 0, 0};
    uint8_t header[5];
    for (size_t i = 0; i < sizeof header; i++)
        header[i] = cc3000_spi_ops.exchange(&f->dev, read_cmd[i]);
    size_t len = (size_t)header[3] << 8 | header[4];
    size_t to_read = len + ((len + 5) & 1);
    assert_true(to_read <= max);
    for (size_t i = 0; i < to_read; i++)
        out[i] = cc3000_spi_ops.exchange(&f->dev, 0);
    cc3000_spi_ops.select(&f->dev, false);
    return len;
}

static uint16_t opcode_of(const uint8_t *p) { return (uint16_t)(p[1] | p[2] << 8); }
static int32_t i32_at(const uint8_t *p) { return (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24); }

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Read packets until the event `opcode` (skipping unsolicited ones); returns its length. */
static size_t expect_event(struct fixture *f, uint16_t opcode, uint8_t *buf, size_t max, uint64_t limit)
{
    for (int i = 0; i < 8; i++) {
        size_t len = wait_read(f, buf, max, limit);
        assert_true(len > 0);
        if (buf[0] == CC3000_HCI_TYPE_EVNT && opcode_of(buf) == opcode)
            return len;
    }
    fail_msg("no event 0x%04x", opcode);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    sim_init(&f->sim);
    f->sim.trace = open_memstream(&f->trace_buf, &f->trace_len);
    f->sim.log = NULL;
    cc3000_init(&f->dev, &f->sim, 1);
    cc3000_set_net(&f->dev, &fake_ops, &f->net);
    f->net.connect_result = CC3000_NET_CONNECTED;
    f->irq_high = true;
    f->dev.irq = line_to(irq_in, f, 0);
    cc3000_reset(&f->dev, RESET_POWER);
    cc3000_enable_in(&f->dev, 0, true);
    run_for(&f->sim, CC3000_POWER_UP_TIME);

    /* auto-connect with the stored profile: policy reply, then connect and DHCP */
    uint8_t args[12] = {0}, buf[64];
    args[8] = 1;
    command(f, CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY, args, sizeof args);
    expect_event(f, CC3000_HCI_EVNT_WLAN_UNSOL_DHCP, buf, sizeof buf, SIM_S(2));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fclose(f->sim.trace);
    free(f->trace_buf);
    sim_free(&f->sim);
    free(f);
    return 0;
}

static int open_socket(struct fixture *f)
{
    uint8_t args[12] = {0}, buf[64];
    put32(args, 2);
    put32(args + 4, 1);
    put32(args + 8, 6);
    command(f, CC3000_HCI_CMND_SOCKET, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_SOCKET, buf, sizeof buf, SIM_MS(10));
    return i32_at(buf + 5);
}

static int32_t connect_socket(struct fixture *f, int sd, uint16_t port, uint64_t *took)
{
    uint8_t args[20] = {0}, buf[64];
    put32(args, (uint32_t)sd);
    put32(args + 4, 8);
    put32(args + 8, 8);
    args[12] = 2; /* AF_INET */
    args[14] = (uint8_t)(port >> 8);
    args[15] = (uint8_t)port;
    args[16] = 10, args[17] = 0, args[18] = 0, args[19] = 1;
    uint64_t start = sim_now(&f->sim);
    command(f, CC3000_HCI_CMND_CONNECT, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_CONNECT, buf, sizeof buf, SIM_S(10));
    if (took)
        *took = f->last_fall - start;
    return i32_at(buf + 5);
}

/* select on one socket's read set with a time-out; the read mask it answers, *at = when IRQ fell. */
static uint32_t select_read(struct fixture *f, int sd, uint32_t usec, uint64_t *at)
{
    uint8_t args[44] = {0}, buf[64];
    put32(args, (uint32_t)sd + 1);
    put32(args + 24, 1u << sd);
    put32(args + 40, usec);
    uint64_t start = sim_now(&f->sim);
    command(f, CC3000_HCI_CMND_BSD_SELECT, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_BSD_SELECT, buf, sizeof buf, SIM_S(2));
    if (at)
        *at = f->last_fall - start;
    return (uint32_t)i32_at(buf + 9);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_cc3000_net_an_eighth_socket_is_refused(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++)
        assert_int_equal(open_socket(f), i);
    assert_int_equal(open_socket(f), -1);
    assert_int_equal(CC3000_MAX_SOCKETS, 7);
}

static void test_cc3000_net_connect_without_a_route_fails_at_the_module_time_limit(void **state)
{
    struct fixture *f = *state;
    f->net.connect_result = CC3000_NET_UNREACHABLE;
    int sd = open_socket(f);
    uint64_t took;
    assert_int_equal(connect_socket(f, sd, 80, &took), -1);
    assert_true(took >= CC3000_CONNECT_TIMEOUT && took < CC3000_CONNECT_TIMEOUT + SIM_MS(1));
    assert_int_equal(f->net.connect_port, 80);
    assert_int_equal(f->net.connect_ip, 0x0A000001u); /* 10.0.0.1, from the sockaddr's a.b.c.d */
}

static void test_cc3000_net_connect_nobody_answers_fails_after_the_module_time_limit(void **state)
{
    struct fixture *f = *state;
    f->net.connect_result = CC3000_NET_CONNECTING; /* and it stays so */
    int sd = open_socket(f);
    uint64_t took;
    assert_int_equal(connect_socket(f, sd, 5683, &took), -1);
    assert_true(took >= CC3000_CONNECT_TIMEOUT && took < CC3000_CONNECT_TIMEOUT + SIM_MS(1));
}

static void test_cc3000_net_connect_waits_for_the_network_then_succeeds(void **state)
{
    struct fixture *f = *state;
    f->net.connect_result = CC3000_NET_CONNECTING;
    int sd = open_socket(f);
    uint8_t args[20] = {0}, buf[64];
    put32(args, (uint32_t)sd);
    args[14] = 0x16, args[15] = 0x33; /* 5683 */
    command(f, CC3000_HCI_CMND_CONNECT, args, sizeof args);
    assert_int_equal(wait_read(f, buf, sizeof buf, SIM_MS(100)), 0); /* still connecting */
    f->net.state[0] = CC3000_NET_CONNECTED;
    cc3000_net_changed(&f->dev);
    expect_event(f, CC3000_HCI_CMND_CONNECT, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 5), 0);
    fflush(f->sim.trace);
    assert_non_null(strstr(f->trace_buf, "\"kind\":\"cloud\",\"event\":\"connect\""));
}

static void test_cc3000_net_select_answers_when_data_arrives(void **state)
{
    struct fixture *f = *state;
    int sd = open_socket(f);
    assert_int_equal(connect_socket(f, sd, 5683, NULL), 0);
    uint8_t args[44] = {0}, buf[64];
    put32(args, (uint32_t)sd + 1);
    put32(args + 24, 1u << sd);
    put32(args + 40, 500000); /* 500 ms */
    command(f, CC3000_HCI_CMND_BSD_SELECT, args, sizeof args);
    run_for(&f->sim, SIM_MS(50));
    assert_true(f->irq_high);
    f->net.rx[0][0] = 0, f->net.rx[0][1] = 0x10, f->net.rx_len[0] = 2;
    uint64_t arrived = sim_now(&f->sim);
    cc3000_net_changed(&f->dev);
    expect_event(f, CC3000_HCI_CMND_BSD_SELECT, buf, sizeof buf, SIM_MS(10));
    assert_true(f->last_fall - arrived <= CC3000_RESPONSE_LATENCY);
    assert_int_equal(i32_at(buf + 5), 1);
    assert_int_equal(i32_at(buf + 9), 1 << sd);
}

static void test_cc3000_net_a_lone_byte_waits_for_its_successor(void **state)
{
    struct fixture *f = *state;
    int sd = open_socket(f);
    assert_int_equal(connect_socket(f, sd, 5683, NULL), 0);
    f->net.rx[0][0] = 0, f->net.rx_len[0] = 1; /* the first half of a length prefix */
    uint64_t at;
    assert_int_equal(select_read(f, sd, 5000, &at), 0); /* the firmware's 5 ms poll: not yet */
    assert_true(at >= SIM_MS(5) && at < SIM_MS(5) + SIM_US(50));
    f->net.rx[0][1] = 0x10, f->net.rx_len[0] = 2; /* the second half */
    assert_int_equal(select_read(f, sd, 5000, NULL), 1u << sd);

    /* a byte that stays alone is reported after CC3000_COALESCE_TIME */
    uint8_t args[12] = {0}, buf[64];
    put32(args, (uint32_t)sd);
    put32(args + 4, 2);
    command(f, CC3000_HCI_CMND_RECV, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_RECV, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 9), 2);
    wait_read(f, buf, sizeof buf, SIM_MS(10)); /* the data packet */
    f->net.rx[0][0] = 0x42, f->net.rx_len[0] = 1;
    uint64_t start = sim_now(&f->sim);
    assert_int_equal(select_read(f, sd, 100000, NULL), 1u << sd);
    assert_true(f->last_fall - start >= CC3000_COALESCE_TIME);
    assert_true(f->last_fall - start < CC3000_COALESCE_TIME + SIM_MS(2));
}

static void test_cc3000_net_recv_hands_over_at_most_what_was_asked(void **state)
{
    struct fixture *f = *state;
    int sd = open_socket(f);
    assert_int_equal(connect_socket(f, sd, 5683, NULL), 0);
    for (int i = 0; i < 40; i++)
        f->net.rx[0][i] = (uint8_t)i;
    f->net.rx_len[0] = 40;
    uint8_t args[12] = {0}, buf[128];
    put32(args, (uint32_t)sd);
    put32(args + 4, 16);
    command(f, CC3000_HCI_CMND_RECV, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_RECV, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 9), 16);
    size_t len = wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(buf[0], CC3000_HCI_TYPE_DATA);
    assert_int_equal(buf[1], CC3000_HCI_DATA_RECV);
    size_t nargs = buf[2], total = (size_t)(buf[3] | buf[4] << 8);
    assert_int_equal(total - nargs, 16);
    assert_int_equal(len, 5 + total);
    for (int i = 0; i < 16; i++)
        assert_int_equal(buf[5 + nargs + i], i);
    assert_int_equal(f->net.rx_len[0], 24);
}

static void test_cc3000_net_a_peer_that_closes_gets_close_wait_then_inactive(void **state)
{
    struct fixture *f = *state;
    int sd = open_socket(f);
    assert_int_equal(connect_socket(f, sd, 5683, NULL), 0);
    f->net.state[0] = CC3000_NET_PEER_CLOSED;
    cc3000_net_changed(&f->dev);
    uint8_t buf[64];
    expect_event(f, CC3000_HCI_EVNT_BSD_TCP_CLOSE_WAIT, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 5), sd);
    assert_int_equal(select_read(f, sd, 5000, NULL), 1u << sd); /* readable: recv tells the news */
    uint8_t args[12] = {0};
    put32(args, (uint32_t)sd);
    put32(args + 4, 2);
    command(f, CC3000_HCI_CMND_RECV, args, sizeof args);
    expect_event(f, CC3000_HCI_CMND_RECV, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 9), CC3000_ERROR_SOCKET_INACTIVE);

    /* sends fail the same way; the firmware closes, the network hears it, the trace says who ended it */
    uint8_t data[5 + 16 + 4] = {CC3000_HCI_TYPE_DATA, CC3000_HCI_CMND_SEND, 16, 20, 0};
    put32(data + 5, (uint32_t)sd);
    put32(data + 5 + 8, 4);
    spi_write(f, data, sizeof data);
    expect_event(f, CC3000_HCI_EVNT_SEND, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(i32_at(buf + 9), CC3000_ERROR_SOCKET_INACTIVE);
    assert_int_equal(f->net.nsent, 0);
    command(f, CC3000_HCI_CMND_CLOSE_SOCKET, args, 4);
    expect_event(f, CC3000_HCI_CMND_CLOSE_SOCKET, buf, sizeof buf, SIM_MS(10));
    assert_true(f->net.closed[0]);
    fflush(f->sim.trace);
    assert_non_null(strstr(f->trace_buf, "\"event\":\"error\",\"stage\":\"nonce\",\"by\":\"peer\""));
    assert_non_null(strstr(f->trace_buf, "\"event\":\"closed\",\"by\":\"peer\",\"sent\":0,\"received\":0"));
}

static void test_cc3000_net_a_peer_gone_before_the_connect_reply_gets_close_wait_after_it(void **state)
{
    struct fixture *f = *state;
    f->net.connect_result = CC3000_NET_CONNECTING;
    int sd = open_socket(f);
    uint8_t args[20] = {0}, buf[64];
    put32(args, (uint32_t)sd);
    args[14] = 0x16, args[15] = 0x33;
    command(f, CC3000_HCI_CMND_CONNECT, args, sizeof args);
    run_for(&f->sim, SIM_MS(1));
    f->net.state[0] = CC3000_NET_PEER_CLOSED; /* connected and closed before the model looked again */
    cc3000_net_changed(&f->dev);
    assert_true(wait_read(f, buf, sizeof buf, SIM_MS(10)) > 0);
    assert_int_equal(opcode_of(buf), CC3000_HCI_CMND_CONNECT);
    assert_int_equal(i32_at(buf + 5), 0);
    assert_true(wait_read(f, buf, sizeof buf, SIM_MS(10)) > 0);
    assert_int_equal(opcode_of(buf), CC3000_HCI_EVNT_BSD_TCP_CLOSE_WAIT);
    assert_int_equal(i32_at(buf + 5), sd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cc3000_net_an_eighth_socket_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_connect_without_a_route_fails_at_the_module_time_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_connect_nobody_answers_fails_after_the_module_time_limit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_connect_waits_for_the_network_then_succeeds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_select_answers_when_data_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_a_lone_byte_waits_for_its_successor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_recv_hands_over_at_most_what_was_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_a_peer_that_closes_gets_close_wait_then_inactive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_net_a_peer_gone_before_the_connect_reply_gets_close_wait_after_it,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
