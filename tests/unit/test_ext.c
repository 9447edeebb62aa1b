/*
 * test_ext.c - the Core's external devices on a bare simulation context: the
 * SST25VF016B flash and the CC3000 driven byte by byte as the Spark drivers
 * drive them, the RGB LED fed PWM duties, and the MODE button's scripted
 * presses. Assertions are on what a host sees: MISO bytes, line levels and
 * their times, buffer contents and trace records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peripherals/ext/button.h"
#include "peripherals/ext/cc3000.h"
#include "peripherals/ext/rgb_led.h"
#include "peripherals/ext/sst25vf016b.h"

/* ---- common fixture: a sim with an in-memory trace ---------------------- */

struct fixture {
    struct sim sim;
    char *trace_buf;
    size_t trace_len;
};

static void fixture_open(struct fixture *f)
{
    sim_init(&f->sim);
    f->sim.trace = open_memstream(&f->trace_buf, &f->trace_len);
    assert_non_null(f->sim.trace);
    f->sim.log = NULL; /* warn-once messages are expected in some tests */
}

static void fixture_close(struct fixture *f)
{
    fclose(f->sim.trace);
    free(f->trace_buf);
    sim_free(&f->sim);
}

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fixture_open(f);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    fixture_close(f);
    free(f);
    return 0;
}

/* Advance virtual time to `t`, firing every event on the way at its own time. */
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

static void run_for(struct sim *sim, uint64_t cycles)
{
    run_until(sim, sim->clock.now + cycles);
}

static const char *trace_text(struct fixture *f)
{
    fflush(f->sim.trace);
    return f->trace_buf ? f->trace_buf : "";
}

static int trace_count(struct fixture *f, const char *needle)
{
    int n = 0;
    for (const char *p = trace_text(f); (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- SST25VF016B ------------------------------------------------------- */

#define FLASH_TEST_ADDR 0x020000u

struct flash_fixture {
    struct fixture base;
    struct sst25 dev;
    uint8_t *mem;
};

static int flash_setup(void **state)
{
    struct flash_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fixture_open(&f->base);
    f->mem = malloc(SST25_SIZE);
    assert_non_null(f->mem);
    memset(f->mem, 0xFF, SST25_SIZE);
    sst25_init(&f->dev, &f->base.sim, f->mem);
    sst25_reset(&f->dev, RESET_POWER);
    *state = f;
    return 0;
}

static int flash_teardown(void **state)
{
    struct flash_fixture *f = *state;
    free(f->mem);
    fixture_close(&f->base);
    free(f);
    return 0;
}

static void flash_cs(struct sst25 *dev, bool low)
{
    sst25_spi_ops.select(dev, low);
}

static uint8_t flash_byte(struct sst25 *dev, uint8_t mosi)
{
    return sst25_spi_ops.exchange(dev, mosi);
}

/* One chip-select cycle: send `n` bytes, keep what came back. */
static void flash_cycle(struct sst25 *dev, const uint8_t *out, uint8_t *in, size_t n)
{
    flash_cs(dev, true);
    for (size_t i = 0; i < n; i++) {
        uint8_t miso = flash_byte(dev, out[i]);
        if (in)
            in[i] = miso;
    }
    flash_cs(dev, false);
}

static void flash_cmd(struct sst25 *dev, uint8_t opcode)
{
    flash_cycle(dev, &opcode, NULL, 1);
}

static void flash_cmd_addr(struct sst25 *dev, uint8_t opcode, uint32_t addr)
{
    uint8_t b[] = {opcode, (uint8_t)(addr >> 16), (uint8_t)(addr >> 8), (uint8_t)addr};
    flash_cycle(dev, b, NULL, sizeof b);
}

static uint8_t flash_rdsr(struct sst25 *dev)
{
    uint8_t out[2] = {SST25_RDSR, 0xFF}, in[2];
    flash_cycle(dev, out, in, 2);
    return in[1];
}

static void flash_read(struct sst25 *dev, uint32_t addr, uint8_t *buf, size_t n)
{
    flash_cs(dev, true);
    flash_byte(dev, SST25_READ);
    flash_byte(dev, (uint8_t)(addr >> 16));
    flash_byte(dev, (uint8_t)(addr >> 8));
    flash_byte(dev, (uint8_t)addr);
    for (size_t i = 0; i < n; i++)
        buf[i] = flash_byte(dev, 0xFF);
    flash_cs(dev, false);
}

/* What sFLASH_Init does: EWSR, WRSR 0 (clear block protection), WRDI. */
static void flash_unprotect(struct sst25 *dev)
{
    flash_cmd(dev, SST25_EWSR);
    uint8_t wrsr[] = {SST25_WRSR, 0x00};
    flash_cycle(dev, wrsr, NULL, sizeof wrsr);
    flash_cmd(dev, SST25_WRDI);
}

static void flash_byte_program(struct sst25 *dev, uint32_t addr, uint8_t value)
{
    uint8_t b[] = {SST25_BYTE_PROGRAM, (uint8_t)(addr >> 16), (uint8_t)(addr >> 8), (uint8_t)addr,
                   value};
    flash_cycle(dev, b, NULL, sizeof b);
}

static void test_sst25_jedec_id_is_bf_25_41(void **state)
{
    struct flash_fixture *f = *state;
    uint8_t out[4] = {SST25_JEDEC_ID, 0, 0, 0}, in[4];
    flash_cycle(&f->dev, out, in, sizeof out);
    assert_int_equal(in[1], 0xBF);
    assert_int_equal(in[2], 0x25);
    assert_int_equal(in[3], 0x41);

    uint8_t rdid[7] = {SST25_RDID, 0, 0, 1, 0, 0, 0}, id[7];
    flash_cycle(&f->dev, rdid, id, sizeof rdid);
    assert_int_equal(id[4], 0x41); /* A0 = 1: device ID first */
    assert_int_equal(id[5], 0xBF);
}

static void test_sst25_power_up_protects_everything_until_wrsr_clears_bp(void **state)
{
    struct flash_fixture *f = *state;
    assert_int_equal(flash_rdsr(&f->dev), SST25_SR_BP0 | SST25_SR_BP1 | SST25_SR_BP2);

    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0x00);
    run_for(&f->base.sim, SIM_MS(1));
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0xFF);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, 0);
    f->mem[FLASH_TEST_ADDR + 1] = 0x00;
    flash_cmd(&f->dev, SST25_WREN);
    flash_cmd_addr(&f->dev, SST25_SECTOR_ERASE, FLASH_TEST_ADDR);
    run_for(&f->base.sim, SST25_TSE);
    assert_int_equal(f->mem[FLASH_TEST_ADDR + 1], 0x00);
    assert_int_equal(trace_count(&f->base, "\"kind\":\"flash\""), 0);

    flash_unprotect(&f->dev);
    assert_int_equal(flash_rdsr(&f->dev), 0);
    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0x5A);
    run_for(&f->base.sim, SST25_TBP);
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0x5A);
}

static void test_sst25_bp0_protects_only_the_upper_thirty_second(void **state)
{
    struct flash_fixture *f = *state;
    flash_cmd(&f->dev, SST25_EWSR);
    uint8_t wrsr[] = {SST25_WRSR, SST25_SR_BP0};
    flash_cycle(&f->dev, wrsr, NULL, sizeof wrsr);

    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, 0x1F0000, 0x00);
    run_for(&f->base.sim, SIM_MS(1));
    assert_int_equal(f->mem[0x1F0000], 0xFF);

    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, 0x1EFFFF, 0x00);
    run_for(&f->base.sim, SIM_MS(1));
    assert_int_equal(f->mem[0x1EFFFF], 0x00);
}

static void test_sst25_program_without_wren_is_ignored(void **state)
{
    struct flash_fixture *f = *state;
    flash_unprotect(&f->dev);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0x00);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, 0);
    run_for(&f->base.sim, SIM_MS(1));
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0xFF);
    assert_int_equal(trace_count(&f->base, "\"op\":\"program\""), 0);
}

static void test_sst25_programming_only_clears_bits(void **state)
{
    struct flash_fixture *f = *state;
    flash_unprotect(&f->dev);
    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0xF0);
    run_for(&f->base.sim, SST25_TBP);
    /* WEL cleared by the completed program: a second WREN is needed. */
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_WEL, 0);
    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0x3C);
    run_for(&f->base.sim, SST25_TBP);
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0x30);
}

static void test_sst25_byte_program_lands_when_busy_time_ends(void **state)
{
    struct flash_fixture *f = *state;
    flash_unprotect(&f->dev);
    flash_cmd(&f->dev, SST25_WREN);
    flash_byte_program(&f->dev, FLASH_TEST_ADDR, 0x12);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, SST25_SR_BUSY);
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0xFF);
    run_for(&f->base.sim, SST25_TBP - 1);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, SST25_SR_BUSY);
    run_for(&f->base.sim, 1);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, 0);
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0x12);
    assert_non_null(strstr(trace_text(&f->base),
                           "\"kind\":\"flash\",\"op\":\"program\",\"dev\":\"external\",\"addr\":131072"));
}

/* The bulk write path of sFLASH_WritePage: AAI words in separate CS cycles, RDSR polls, WRDI. */
static void test_sst25_aai_sequence_across_cs_cycles_as_the_spark_driver_writes(void **state)
{
    struct flash_fixture *f = *state;
    static const uint8_t data[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
    flash_unprotect(&f->dev);
    flash_cmd(&f->dev, SST25_WREN);

    for (size_t i = 0; i < sizeof data; i += 2) {
        flash_cs(&f->dev, true);
        flash_byte(&f->dev, SST25_AAI_WORD_PROGRAM);
        if (i == 0) {
            flash_byte(&f->dev, (uint8_t)(FLASH_TEST_ADDR >> 16));
            flash_byte(&f->dev, (uint8_t)(FLASH_TEST_ADDR >> 8));
            flash_byte(&f->dev, (uint8_t)FLASH_TEST_ADDR);
        }
        flash_byte(&f->dev, data[i]);
        flash_byte(&f->dev, data[i + 1]);
        flash_cs(&f->dev, false);

        /* RDSR poll with CS low for the whole poll, time passing between reads. */
        flash_cs(&f->dev, true);
        flash_byte(&f->dev, SST25_RDSR);
        uint8_t sr = flash_byte(&f->dev, 0xFF);
        assert_int_equal(sr & (SST25_SR_BUSY | SST25_SR_AAI | SST25_SR_WEL),
                         SST25_SR_BUSY | SST25_SR_AAI | SST25_SR_WEL);
        int polls = 0;
        while (sr & SST25_SR_BUSY) {
            run_for(&f->base.sim, SIM_US(1));
            sr = flash_byte(&f->dev, 0xFF);
            assert_true(++polls <= 10);
        }
        assert_int_equal(polls, 10); /* Tbp = 10 us */
        assert_int_equal(sr & (SST25_SR_AAI | SST25_SR_WEL), SST25_SR_AAI | SST25_SR_WEL);
        flash_cs(&f->dev, false);
    }
    /* Nothing is recorded until the sequence ends. */
    assert_int_equal(trace_count(&f->base, "\"op\":\"program\""), 0);
    flash_cmd(&f->dev, SST25_WRDI);
    assert_int_equal(flash_rdsr(&f->dev) & (SST25_SR_AAI | SST25_SR_WEL), 0);

    uint8_t back[sizeof data + 1];
    flash_read(&f->dev, FLASH_TEST_ADDR, back, sizeof back);
    assert_memory_equal(back, data, sizeof data);
    assert_int_equal(back[sizeof data], 0xFF);
    assert_non_null(strstr(trace_text(&f->base), "\"op\":\"program\",\"dev\":\"external\","
                                                 "\"addr\":131072,\"len\":6"));
}

static void test_sst25_commands_while_busy_are_ignored_except_rdsr(void **state)
{
    struct flash_fixture *f = *state;
    flash_unprotect(&f->dev);
    f->mem[FLASH_TEST_ADDR] = 0x00;
    flash_cmd(&f->dev, SST25_WREN);
    flash_cmd_addr(&f->dev, SST25_SECTOR_ERASE, FLASH_TEST_ADDR);
    run_for(&f->base.sim, SIM_MS(1));
    /* A read and a WREN during the erase do nothing. */
    uint8_t b;
    flash_read(&f->dev, FLASH_TEST_ADDR, &b, 1);
    assert_int_equal(b, 0xFF); /* SO high-impedance, not the array */
    flash_cmd(&f->dev, SST25_WRDI);
    assert_int_equal(flash_rdsr(&f->dev) & (SST25_SR_BUSY | SST25_SR_WEL),
                     SST25_SR_BUSY | SST25_SR_WEL);
}

static void test_sst25_sector_erase_clears_one_4k_sector_after_tse(void **state)
{
    struct flash_fixture *f = *state;
    flash_unprotect(&f->dev);
    memset(f->mem + FLASH_TEST_ADDR - 1, 0x00, SST25_SECTOR_SIZE + 2);
    flash_cmd(&f->dev, SST25_WREN);
    flash_cmd_addr(&f->dev, SST25_SECTOR_ERASE, FLASH_TEST_ADDR + 0x123);
    run_for(&f->base.sim, SST25_TSE - 1);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, SST25_SR_BUSY);
    assert_int_equal(f->mem[FLASH_TEST_ADDR], 0x00);
    run_for(&f->base.sim, 1);
    assert_int_equal(flash_rdsr(&f->dev) & (SST25_SR_BUSY | SST25_SR_WEL), 0);
    assert_int_equal(f->mem[FLASH_TEST_ADDR - 1], 0x00);
    for (uint32_t i = 0; i < SST25_SECTOR_SIZE; i++)
        assert_int_equal(f->mem[FLASH_TEST_ADDR + i], 0xFF);
    assert_int_equal(f->mem[FLASH_TEST_ADDR + SST25_SECTOR_SIZE], 0x00);
    assert_non_null(strstr(trace_text(&f->base), "\"op\":\"erase\",\"dev\":\"external\","
                                                 "\"addr\":131072,\"len\":4096"));
}

static void test_sst25_chip_erase_is_refused_while_any_block_is_protected(void **state)
{
    struct flash_fixture *f = *state;
    f->mem[0] = 0x00;
    flash_cmd(&f->dev, SST25_EWSR);
    uint8_t wrsr[] = {SST25_WRSR, SST25_SR_BP0};
    flash_cycle(&f->dev, wrsr, NULL, sizeof wrsr);
    flash_cmd(&f->dev, SST25_WREN);
    flash_cmd(&f->dev, SST25_CHIP_ERASE);
    assert_int_equal(flash_rdsr(&f->dev) & SST25_SR_BUSY, 0);

    flash_unprotect(&f->dev);
    flash_cmd(&f->dev, SST25_WREN);
    flash_cmd(&f->dev, SST25_CHIP_ERASE_ALT);
    run_for(&f->base.sim, SST25_TSCE);
    assert_int_equal(f->mem[0], 0xFF);
}

static void test_sst25_read_wraps_at_the_top_of_the_array(void **state)
{
    struct flash_fixture *f = *state;
    f->mem[SST25_SIZE - 1] = 0xA5;
    f->mem[0] = 0x5A;
    uint8_t b[2];
    flash_read(&f->dev, SST25_SIZE - 1, b, 2);
    assert_int_equal(b[0], 0xA5);
    assert_int_equal(b[1], 0x5A);
}

/* ---- CC3000 -------------------------------------------------------------- */

struct irq_probe {
    bool level; /* true = high */
    int falls;
    uint64_t last_fall;
    struct sim *sim;
};

static void irq_probe_in(void *opaque, int n, bool level)
{
    (void)n;
    struct irq_probe *p = opaque;
    if (p->level && !level) {
        p->falls++;
        p->last_fall = sim_now(p->sim);
    }
    p->level = level;
}

struct wifi_fixture {
    struct fixture base;
    struct cc3000 dev;
    struct irq_probe irq;
    bool first_write_done;
};

static int wifi_setup_profiles(void **state, int profiles)
{
    struct wifi_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fixture_open(&f->base);
    cc3000_init(&f->dev, &f->base.sim, profiles);
    f->irq.level = true;
    f->irq.sim = &f->base.sim;
    f->dev.irq = line_to(irq_probe_in, &f->irq, 0);
    cc3000_reset(&f->dev, RESET_POWER);
    *state = f;
    return 0;
}

static int wifi_setup(void **state) { return wifi_setup_profiles(state, 0); }
static int wifi_setup_one_profile(void **state) { return wifi_setup_profiles(state, 1); }

static int wifi_teardown(void **state)
{
    struct wifi_fixture *f = *state;
    fixture_close(&f->base);
    free(f);
    return 0;
}

static void wifi_power_up(struct wifi_fixture *f)
{
    cc3000_enable_in(&f->dev, 0, true);
    run_for(&f->base.sim, CC3000_POWER_UP_TIME);
    assert_false(f->irq.level);
}

/* SpiWrite: 01 LEN 00 00 + HCI packet, LEN rounded up to odd. Later writes wait for IRQ low. */
static void host_write(struct wifi_fixture *f, const uint8_t *hci, size_t n)
{
    size_t len = (n & 1) ? n : n + 1;
    cc3000_spi_ops.select(&f->dev, true);
    if (f->first_write_done) {
        assert_true(f->irq.level); /* we asked for the bus: it must say ready */
        run_for(&f->base.sim, CC3000_WRITE_READY_DELAY);
        assert_false(f->irq.level);
    }
    uint8_t header[5] = {CC3000_SPI_WRITE, (uint8_t)(len >> 8), (uint8_t)len, 0, 0};
    for (size_t i = 0; i < sizeof header; i++)
        cc3000_spi_ops.exchange(&f->dev, header[i]);
    for (size_t i = 0; i < len; i++)
        cc3000_spi_ops.exchange(&f->dev, i < n ? hci[i] : 0);
    cc3000_spi_ops.select(&f->dev, false);
    assert_true(f->irq.level); /* IRQ goes high at the end of every transfer */
    f->first_write_done = true;
}

/* A read as the Spark ISR does it; returns the payload length, fills `out` with all bytes clocked. */
static size_t host_read(struct wifi_fixture *f, uint8_t *out, size_t max, size_t *clocked)
{
    assert_false(f->irq.level);
    cc3000_spi_ops.select(&f->dev, true);
    static const uint8_t read_cmd[5] = {CC3000_SPI_READ, 0, 0, 0, 0};
    uint8_t header[5];
    for (size_t i = 0; i < sizeof header; i++)
        header[i] = cc3000_spi_ops.exchange(&f->dev, read_cmd[i]);
    size_t len = (size_t)header[3] << 8 | header[4];
    size_t to_read = len + ((len + 5) & 1); /* odd total => one padding byte */
    assert_true(to_read <= max);
    for (size_t i = 0; i < to_read; i++)
        out[i] = cc3000_spi_ops.exchange(&f->dev, 0x5A /* DMA garbage */);
    cc3000_spi_ops.select(&f->dev, false);
    *clocked = to_read;
    return len;
}

/* Wait for IRQ low (bounded), then read one packet. */
static size_t host_wait_read(struct wifi_fixture *f, uint8_t *out, size_t max, uint64_t limit)
{
    uint64_t end = sim_now(&f->base.sim) + limit;
    while (f->irq.level && f->base.sim.clock.deadline <= end)
        run_until(&f->base.sim, f->base.sim.clock.deadline);
    assert_false(f->irq.level);
    size_t clocked;
    return host_read(f, out, max, &clocked);
}

static void host_command(struct wifi_fixture *f, uint16_t opcode, const uint8_t *args, uint8_t nargs)
{
    uint8_t hci[64] = {CC3000_HCI_TYPE_CMND, (uint8_t)opcode, (uint8_t)(opcode >> 8), nargs};
    if (nargs)
        memcpy(hci + 4, args, nargs);
    host_write(f, hci, 4u + nargs);
}

static uint16_t event_opcode(const uint8_t *p)
{
    return (uint16_t)(p[1] | p[2] << 8);
}

static void test_cc3000_enable_high_drives_irq_low_after_power_up(void **state)
{
    struct wifi_fixture *f = *state;
    assert_true(f->irq.level);
    cc3000_enable_in(&f->dev, 0, true);
    run_for(&f->base.sim, CC3000_POWER_UP_TIME - 1);
    assert_true(f->irq.level);
    run_for(&f->base.sim, 1);
    assert_false(f->irq.level);
    assert_int_equal(f->irq.falls, 1);
    /* wlan_stop busy-waits for IRQ high after EN low. */
    cc3000_enable_in(&f->dev, 0, false);
    assert_true(f->irq.level);
}

static void test_cc3000_simple_link_start_is_answered_through_the_read_protocol(void **state)
{
    struct wifi_fixture *f = *state;
    wifi_power_up(f);
    static const uint8_t start[] = {CC3000_HCI_TYPE_CMND, 0x00, 0x40, 1, 0x00};
    host_write(f, start, sizeof start); /* first write: no IRQ wait */
    uint64_t written = sim_now(&f->base.sim);

    uint8_t buf[64];
    size_t clocked;
    run_for(&f->base.sim, CC3000_RESPONSE_LATENCY - 1);
    assert_true(f->irq.level); /* not instantaneous */
    run_for(&f->base.sim, 1);
    assert_false(f->irq.level);
    assert_int_equal(f->irq.last_fall - written, CC3000_RESPONSE_LATENCY);
    size_t len = host_read(f, buf, sizeof buf, &clocked);
    assert_int_equal(len, 5); /* 04 00 40 01 00 */
    assert_int_equal(clocked, 5); /* 5 + 5 is even: no padding */
    assert_int_equal(buf[0], CC3000_HCI_TYPE_EVNT);
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_SIMPLE_LINK_START);
    assert_int_equal(buf[3], 1);
    assert_int_equal(buf[4], 0);
    assert_true(f->irq.level);

    /* READ_BUFFER_SIZE: an even-length HCI command (padded write) and an even-length event. */
    host_command(f, CC3000_HCI_CMND_READ_BUFFER_SIZE, NULL, 0);
    len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(len, 8);
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_READ_BUFFER_SIZE);
    assert_true(buf[5] > 0);                        /* free buffers */
    assert_true((buf[6] | buf[7] << 8) >= 1024);    /* buffer length */
    assert_non_null(strstr(trace_text(&f->base), "\"kind\":\"cc3000\",\"op\":\"0x4000\""));
    assert_non_null(strstr(trace_text(&f->base), "\"kind\":\"cc3000\",\"op\":\"0x400b\""));
}

static void test_cc3000_read_of_an_even_length_packet_clocks_one_padding_byte(void **state)
{
    struct wifi_fixture *f = *state;
    wifi_power_up(f);
    host_command(f, CC3000_HCI_CMND_READ_BUFFER_SIZE, NULL, 0);
    run_for(&f->base.sim, CC3000_RESPONSE_LATENCY);
    uint8_t buf[64];
    size_t clocked;
    size_t len = host_read(f, buf, sizeof buf, &clocked);
    assert_int_equal(len, 8);
    assert_int_equal(clocked, 9);
    assert_int_equal(buf[8], 0x00); /* the padding byte */
}

static void nvmem_read_args(uint8_t args[12], uint32_t file, uint32_t len, uint32_t offset)
{
    uint32_t v[3] = {file, len, offset};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            args[i * 4 + b] = (uint8_t)(v[i] >> (8 * b));
}

static void test_cc3000_nvmem_read_of_file_14_is_an_event_then_data_with_the_profile_count(void **state)
{
    struct wifi_fixture *f = *state;
    cc3000_init(&f->dev, &f->base.sim, 3);
    f->dev.irq = line_to(irq_probe_in, &f->irq, 0);
    wifi_power_up(f);

    uint8_t args[12];
    nvmem_read_args(args, CC3000_NVMEM_SPARK_FILEID, 16, 0);
    host_command(f, CC3000_HCI_CMND_NVMEM_READ, args, sizeof args);

    uint8_t buf[64];
    size_t len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(len, 5);
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_NVMEM_READ);
    assert_int_equal(buf[4], 0); /* status */

    len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(buf[0], CC3000_HCI_TYPE_DATA);
    assert_int_equal(buf[1], CC3000_HCI_DATA_NVMEM);
    size_t data_len = (size_t)(buf[3] | buf[4] << 8) - buf[2];
    assert_int_equal(data_len, 16);
    assert_int_equal(len, 5u + buf[2] + 16);
    assert_int_equal(buf[5 + buf[2]], 3);
    assert_true(f->irq.level);
}

static void test_cc3000_nvmem_write_then_read_returns_the_written_key(void **state)
{
    struct wifi_fixture *f = *state;
    wifi_power_up(f);
    static const char key[] = "sparkdevices2013";
    uint8_t pkt[64] = {CC3000_HCI_TYPE_DATA, CC3000_HCI_CMND_NVMEM_WRITE, 16, 16 + 16, 0};
    uint32_t v[4] = {CC3000_NVMEM_AES128_KEY_FILEID, 12, 16, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            pkt[5 + i * 4 + b] = (uint8_t)(v[i] >> (8 * b));
    memcpy(pkt + 5 + 16, key, 16);
    host_write(f, pkt, 5 + 16 + 16);

    uint8_t buf[64];
    size_t len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(len, 9);
    assert_int_equal(event_opcode(buf), CC3000_HCI_EVNT_NVMEM_WRITE);
    assert_int_equal(buf[5] | buf[6] | buf[7] | buf[8], 0);
    assert_non_null(strstr(trace_text(&f->base), "\"op\":\"0x0090\""));

    uint8_t args[12];
    nvmem_read_args(args, CC3000_NVMEM_AES128_KEY_FILEID, 16, 0);
    host_command(f, CC3000_HCI_CMND_NVMEM_READ, args, sizeof args);
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_memory_equal(buf + 5 + buf[2], key, 16);
}

static void set_policy(struct wifi_fixture *f, uint32_t use_profiles)
{
    uint8_t args[12] = {0};
    args[8] = (uint8_t)use_profiles;
    host_command(f, CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY, args, sizeof args);
}

static void test_cc3000_auto_connect_policy_with_a_profile_sends_connect_then_dhcp(void **state)
{
    struct wifi_fixture *f = *state;
    uint8_t buf[64];
    wifi_power_up(f);
    set_policy(f, 1);
    uint64_t policy_at = sim_now(&f->base.sim);
    size_t len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(len, 9);
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY);

    host_wait_read(f, buf, sizeof buf, SIM_S(2));
    assert_int_equal(event_opcode(buf), CC3000_HCI_EVNT_WLAN_UNSOL_CONNECT);
    assert_true(f->irq.last_fall - policy_at >= CC3000_CONNECT_DELAY);

    len = host_wait_read(f, buf, sizeof buf, SIM_S(2));
    assert_int_equal(event_opcode(buf), CC3000_HCI_EVNT_WLAN_UNSOL_DHCP);
    assert_true(f->irq.last_fall - policy_at >= CC3000_CONNECT_DELAY + CC3000_DHCP_DELAY);
    assert_int_equal(len, 5 + 20);
    assert_int_equal(buf[4], 0); /* status 0: the firmware accepts the lease */
    static const uint8_t ip_le[4] = {100, 1, 168, 192};
    assert_memory_equal(buf + 5, ip_le, 4);

    /* Now a host name resolves. */
    static const uint8_t name_args[] = {8, 0, 0, 0, 15, 0, 0, 0, 'd', 'e', 'v', 'i', 'c', 'e', '.',
                                        's', 'p', 'a', 'r', 'k', '.', 'i', 'o'};
    host_command(f, CC3000_HCI_CMND_GETHOSTNAME, name_args, sizeof name_args);
    host_wait_read(f, buf, sizeof buf, SIM_S(1));
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_GETHOSTNAME);
    assert_true((int32_t)(buf[5] | buf[6] << 8 | buf[7] << 16 | (uint32_t)buf[8] << 24) > 0);
    assert_true((buf[9] | buf[10] | buf[11] | buf[12]) != 0);
}

static void test_cc3000_without_profiles_auto_connect_never_connects(void **state)
{
    struct wifi_fixture *f = *state;
    uint8_t buf[64];
    wifi_power_up(f);
    set_policy(f, 1);
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    run_for(&f->base.sim, SIM_S(3));
    assert_true(f->irq.level);
    assert_int_equal(f->dev.queue_count, 0);
}

static void test_cc3000_select_answers_nothing_ready_after_its_timeout(void **state)
{
    struct wifi_fixture *f = *state;
    uint8_t buf[64];
    wifi_power_up(f);
    uint8_t args[44] = {0};
    args[0] = 1;       /* nfds */
    args[24] = 1;      /* read set: socket 0 */
    args[40] = 0x88;   /* tv_usec = 5000 (0x1388) */
    args[41] = 0x13;
    host_command(f, CC3000_HCI_CMND_BSD_SELECT, args, sizeof args);
    uint64_t sent = sim_now(&f->base.sim);
    host_wait_read(f, buf, sizeof buf, SIM_S(1));
    assert_int_equal(f->irq.last_fall - sent, SIM_MS(5));
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_BSD_SELECT);
    for (int i = 5; i < 5 + 16; i++)
        assert_int_equal(buf[i], 0);
}

/* The 0.7.0 listening-mode start-up (register-trace T070-L): every command gets its reply. */
static void test_cc3000_firmware_start_up_without_profiles_gets_every_reply(void **state)
{
    struct wifi_fixture *f = *state;
    uint8_t buf[128], args[16];
    wifi_power_up(f);
    host_command(f, CC3000_HCI_CMND_SIMPLE_LINK_START, (const uint8_t[]){0}, 1);
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(event_opcode(buf), CC3000_HCI_CMND_SIMPLE_LINK_START);
    host_command(f, CC3000_HCI_CMND_READ_BUFFER_SIZE, NULL, 0);
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    nvmem_read_args(args, CC3000_NVMEM_SPARK_FILEID, 16, 0);
    host_command(f, CC3000_HCI_CMND_NVMEM_READ, args, 12);
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_int_equal(buf[5 + buf[2]], 0); /* no profiles */

    /* wlan_stop, then SpiOpen's power cycle: the next write is a first write again. */
    cc3000_enable_in(&f->dev, 0, false);
    assert_true(f->irq.level);
    run_for(&f->base.sim, SIM_MS(300));
    f->first_write_done = false;
    wifi_power_up(f);

    static const struct {
        uint16_t opcode;
        uint8_t nargs;
        uint8_t args[16];
        uint8_t reply_len; /* HCI event length: 5 + parameters */
    } steps[] = {
        {CC3000_HCI_CMND_SIMPLE_LINK_START, 1, {0}, 5},
        {CC3000_HCI_CMND_READ_BUFFER_SIZE, 0, {0}, 8},
        {CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY, 12, {0}, 9},
        {CC3000_HCI_NETAPP_IPCONFIG, 0, {0}, 5 + 58},
        {CC3000_HCI_CMND_EVENT_MASK, 4, {0x04, 0x82}, 9},
        {CC3000_HCI_NETAPP_SET_TIMERS, 16, {0x40, 0x38, 0, 0, 0x10, 0x0e, 0, 0, 0x0a}, 5},
        {CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY, 12, {0}, 9},
        {CC3000_HCI_CMND_WLAN_DISCONNECT, 0, {0}, 9},
        {CC3000_HCI_CMND_NVMEM_CREATE_ENTRY, 8, {12, 0, 0, 0, 16}, 5},
        {CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_SET_PREFIX, 3, {'T', 'T', 'T'}, 9},
        {CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_START, 4, {1}, 9},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        host_command(f, steps[i].opcode, steps[i].args, steps[i].nargs);
        size_t len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
        assert_int_equal(event_opcode(buf), steps[i].opcode);
        assert_int_equal(len, steps[i].reply_len);
        assert_int_equal(buf[4], 0);
        if (steps[i].opcode == CC3000_HCI_NETAPP_IPCONFIG)
            assert_memory_equal(buf + 5 + 20, f->dev.nvmem[CC3000_NVMEM_MAC_FILEID].data, 6);
    }
    /* Listening: nothing more arrives. */
    run_for(&f->base.sim, SIM_S(2));
    assert_true(f->irq.level);
    assert_int_equal(trace_count(&f->base, "\"kind\":\"cc3000\""), 3 + 11);
}

static void test_cc3000_unknown_opcode_gets_a_status_zero_reply(void **state)
{
    struct wifi_fixture *f = *state;
    uint8_t buf[64];
    wifi_power_up(f);
    host_command(f, 0x0123, NULL, 0);
    size_t len = host_wait_read(f, buf, sizeof buf, SIM_MS(10));
    assert_true(len >= 5);
    assert_int_equal(event_opcode(buf), 0x0123);
    assert_int_equal(buf[4], 0);
}

/* ---- RGB LED ------------------------------------------------------------- */

struct led_fixture {
    struct fixture base;
    struct rgb_led led;
    int observed;
    uint8_t last[3];
};

static void led_observer(void *opaque, const uint8_t rgb[3])
{
    struct led_fixture *f = opaque;
    f->observed++;
    memcpy(f->last, rgb, 3);
}

static int led_setup(void **state)
{
    struct led_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fixture_open(&f->base);
    rgb_led_init(&f->led, &f->base.sim);
    rgb_led_set_observer(&f->led, led_observer, f);
    rgb_led_reset(&f->led, RESET_POWER);
    *state = f;
    return 0;
}

static int led_teardown(void **state)
{
    struct led_fixture *f = *state;
    fixture_close(&f->base);
    free(f);
    return 0;
}

/* TIM1 PWM1 with active-low polarity: the pin is high for (ARR+1-CCR)/(ARR+1) of the period. */
static uint32_t active_low_high_q16(uint32_t ccr, uint32_t period)
{
    return (uint32_t)(((uint64_t)(period - ccr) << 16) / period);
}

static void test_led_active_low_ccr_3735_of_10000_is_brightness_95(void **state)
{
    struct led_fixture *f = *state;
    rgb_led_pwm_in(&f->led, RGB_LED_RED, true, active_low_high_q16(3735, 10000));
    run_for(&f->base.sim, 1);
    uint8_t rgb[3];
    rgb_led_get(&f->led, rgb);
    assert_int_equal(rgb[0], 95);
    assert_int_equal(rgb[1], 0);
    assert_int_equal(rgb[2], 0);
    assert_non_null(strstr(trace_text(&f->base), "\"kind\":\"led\",\"r\":95,\"g\":0,\"b\":0"));
    assert_int_equal(f->last[0], 95);
}

static void test_led_half_duty_rounds_to_nearest(void **state)
{
    struct led_fixture *f = *state;
    rgb_led_pwm_in(&f->led, RGB_LED_GREEN, true, RGB_LED_Q16_ONE / 2); /* 127.5 */
    uint8_t rgb[3];
    rgb_led_get(&f->led, rgb);
    assert_int_equal(rgb[1], 128);
}

static void test_led_power_on_records_off_once(void **state)
{
    struct led_fixture *f = *state;
    assert_non_null(strstr(trace_text(&f->base), "{\"t_us\":0,\"kind\":\"led\",\"r\":0,\"g\":0,\"b\":0}"));
    assert_int_equal(trace_count(&f->base, "\"kind\":\"led\""), 1);
}

static void test_led_updates_in_one_instant_make_one_record(void **state)
{
    struct led_fixture *f = *state;
    run_for(&f->base.sim, SIM_MS(1));
    int before = f->observed;
    /* Yellow as the bootloader sets it: three CCR writes in a row. */
    rgb_led_pwm_in(&f->led, RGB_LED_RED, true, 0);
    rgb_led_pwm_in(&f->led, RGB_LED_GREEN, true, 0);
    rgb_led_pwm_in(&f->led, RGB_LED_BLUE, true, RGB_LED_Q16_ONE);
    run_for(&f->base.sim, 1);
    assert_int_equal(f->observed - before, 1);
    assert_int_equal(trace_count(&f->base, "\"kind\":\"led\""), 2);
    assert_non_null(strstr(trace_text(&f->base), "\"r\":255,\"g\":255,\"b\":0"));

    /* A change undone in the same instant is not visible. */
    rgb_led_pwm_in(&f->led, RGB_LED_RED, true, RGB_LED_Q16_ONE);
    rgb_led_pwm_in(&f->led, RGB_LED_RED, true, 0);
    run_for(&f->base.sim, 1);
    assert_int_equal(trace_count(&f->base, "\"kind\":\"led\""), 2);
}

static void test_led_undriven_pin_is_dark(void **state)
{
    struct led_fixture *f = *state;
    rgb_led_pwm_in(&f->led, RGB_LED_BLUE, false, 0);
    run_for(&f->base.sim, 1);
    uint8_t rgb[3];
    rgb_led_get(&f->led, rgb);
    assert_int_equal(rgb[2], 0);
    assert_int_equal(trace_count(&f->base, "\"kind\":\"led\""), 1);
}

/* ---- button -------------------------------------------------------------- */

struct pin_log {
    int n;
    uint64_t when[8];
    bool level[8];
    struct sim *sim;
};

static void pin_log_in(void *opaque, int n, bool level)
{
    (void)n;
    struct pin_log *p = opaque;
    if (p->n < 8) {
        p->when[p->n] = sim_now(p->sim);
        p->level[p->n] = level;
        p->n++;
    }
}

static void test_button_scripted_presses_drive_the_pin_low_at_their_times(void **state)
{
    struct fixture *f = *state;
    struct button b;
    struct pin_log log = {.sim = &f->sim};
    button_init(&b, &f->sim, "mode");
    b.out = line_to(pin_log_in, &log, 0);

    /* Scheduled out of order: the later press first. */
    assert_int_equal(button_schedule_press(&b, SIM_S(5), SIM_MS(100)), 0);
    assert_int_equal(button_schedule_press(&b, SIM_MS(10), SIM_S(3)), 0);
    assert_int_equal(button_schedule_press(&b, SIM_S(1), SIM_S(1)), -1); /* overlaps */
    assert_int_equal(button_schedule_press(&b, SIM_S(9), 0), -1);

    run_until(&f->sim, SIM_S(10));
    assert_int_equal(log.n, 4);
    assert_int_equal(log.when[0], SIM_MS(10));
    assert_false(log.level[0]);
    assert_int_equal(log.when[1], SIM_MS(10) + SIM_S(3));
    assert_true(log.level[1]);
    assert_int_equal(log.when[2], SIM_S(5));
    assert_false(log.level[2]);
    assert_int_equal(log.when[3], SIM_S(5) + SIM_MS(100));
    assert_true(log.level[3]);
    assert_non_null(strstr(trace_text(f), "{\"t_us\":10000,\"kind\":\"button\",\"name\":\"mode\","
                                          "\"pressed\":true}"));
    assert_int_equal(trace_count(f, "\"pressed\":false"), 2);
    assert_int_equal(button_schedule_press(&b, SIM_S(1), SIM_MS(1)), -1); /* in the past */
}

static void test_button_set_reports_only_changes(void **state)
{
    struct fixture *f = *state;
    struct button b;
    struct pin_log log = {.sim = &f->sim};
    button_init(&b, &f->sim, "reset");
    b.out = line_to(pin_log_in, &log, 0);
    button_set(&b, false);
    button_set(&b, true);
    button_set(&b, true);
    assert_int_equal(log.n, 1);
    assert_false(log.level[0]);
    assert_int_equal(trace_count(f, "\"kind\":\"button\""), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sst25_jedec_id_is_bf_25_41, flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_power_up_protects_everything_until_wrsr_clears_bp,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_bp0_protects_only_the_upper_thirty_second,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_program_without_wren_is_ignored, flash_setup,
                                        flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_programming_only_clears_bits, flash_setup,
                                        flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_byte_program_lands_when_busy_time_ends,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(
            test_sst25_aai_sequence_across_cs_cycles_as_the_spark_driver_writes, flash_setup,
            flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_commands_while_busy_are_ignored_except_rdsr,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_sector_erase_clears_one_4k_sector_after_tse,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_chip_erase_is_refused_while_any_block_is_protected,
                                        flash_setup, flash_teardown),
        cmocka_unit_test_setup_teardown(test_sst25_read_wraps_at_the_top_of_the_array, flash_setup,
                                        flash_teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_enable_high_drives_irq_low_after_power_up,
                                        wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(
            test_cc3000_simple_link_start_is_answered_through_the_read_protocol, wifi_setup,
            wifi_teardown),
        cmocka_unit_test_setup_teardown(
            test_cc3000_read_of_an_even_length_packet_clocks_one_padding_byte, wifi_setup,
            wifi_teardown),
        cmocka_unit_test_setup_teardown(
            test_cc3000_nvmem_read_of_file_14_is_an_event_then_data_with_the_profile_count,
            wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_nvmem_write_then_read_returns_the_written_key,
                                        wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(
            test_cc3000_auto_connect_policy_with_a_profile_sends_connect_then_dhcp,
            wifi_setup_one_profile, wifi_teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_without_profiles_auto_connect_never_connects,
                                        wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_select_answers_nothing_ready_after_its_timeout,
                                        wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(
            test_cc3000_firmware_start_up_without_profiles_gets_every_reply, wifi_setup,
            wifi_teardown),
        cmocka_unit_test_setup_teardown(test_cc3000_unknown_opcode_gets_a_status_zero_reply,
                                        wifi_setup, wifi_teardown),
        cmocka_unit_test_setup_teardown(test_led_active_low_ccr_3735_of_10000_is_brightness_95,
                                        led_setup, led_teardown),
        cmocka_unit_test_setup_teardown(test_led_half_duty_rounds_to_nearest, led_setup, led_teardown),
        cmocka_unit_test_setup_teardown(test_led_power_on_records_off_once, led_setup, led_teardown),
        cmocka_unit_test_setup_teardown(test_led_updates_in_one_instant_make_one_record, led_setup,
                                        led_teardown),
        cmocka_unit_test_setup_teardown(test_led_undriven_pin_is_dark, led_setup, led_teardown),
        cmocka_unit_test_setup_teardown(test_button_scripted_presses_drive_the_pin_low_at_their_times,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_button_set_reports_only_changes, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
