/*
 * test_stm32_io.c - the STM32F103 I/O blocks (TIM, SPI, DMA, USART, ADC) on a
 * bare `struct sim` and `struct bus`, reached through bus_read/bus_write as
 * the CPU or a DMA master would reach them. Time advances by running the
 * event queue, so every timing assertion is exact to the cycle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emu/bus.h"
#include "emu/sim.h"
#include "peripherals/stm32f1/adc.h"
#include "peripherals/stm32f1/dma.h"
#include "peripherals/stm32f1/spi.h"
#include "peripherals/stm32f1/tim.h"
#include "peripherals/stm32f1/usart.h"

/* STM32F103 memory map (RM0008 table 3) */
#define TIM2_BASE 0x40000000u
#define SPI2_BASE 0x40003800u
#define ADC1_BASE 0x40012400u
#define ADC2_BASE 0x40012800u
#define TIM1_BASE 0x40012C00u
#define USART1_BASE 0x40013800u
#define USART2_BASE 0x40004400u
#define DMA1_BASE 0x40020000u
#define WINDOW 0x400u

struct fixture {
    struct sim sim;
    struct bus bus;
    uint8_t *flash, *sram, *sysmem;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->flash = calloc(1, FLASH_SIZE);
    f->sram = calloc(1, SRAM_SIZE);
    f->sysmem = calloc(1, SYSMEM_SIZE + 0x400);
    sim_init(&f->sim);
    f->sim.log = NULL; /* warn-once messages are not under test */
    bus_init(&f->bus, &f->sim, f->flash, f->sram, f->sysmem);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sim_free(&f->sim);
    free(f->flash);
    free(f->sram);
    free(f->sysmem);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint32_t addr)
{
    uint32_t value = 0;
    assert_int_equal(bus_read(&f->bus, addr, 4, &value), BUS_OK);
    return value;
}

static uint32_t rd16(struct fixture *f, uint32_t addr)
{
    uint32_t value = 0;
    assert_int_equal(bus_read(&f->bus, addr, 2, &value), BUS_OK);
    return value;
}

static void wr(struct fixture *f, uint32_t addr, uint32_t value)
{
    assert_int_equal(bus_write(&f->bus, addr, 4, value), BUS_OK);
}

static void wr16(struct fixture *f, uint32_t addr, uint32_t value)
{
    assert_int_equal(bus_write(&f->bus, addr, 2, value), BUS_OK);
}

/* Advance virtual time to `t`, firing every event on the way at its own time. */
static void run_until(struct sim *sim, uint64_t t)
{
    while (sim->clock.deadline <= t) {
        if (sim->clock.deadline > sim->clock.now)
            sim->clock.now = sim->clock.deadline;
        clock_run_due(sim);
    }
    sim->clock.now = t;
}

/* A line receiver that remembers its edges. */
struct probe {
    struct sim *sim;
    bool level;
    int rises;
    uint64_t last_rise;
    void (*on_rise)(struct probe *p);
    void *ctx;
};

static void probe_in(void *opaque, int n, bool level)
{
    (void)n;
    struct probe *p = opaque;
    if (level && !p->level) {
        p->rises++;
        p->last_rise = sim_now(p->sim);
        p->level = level;
        if (p->on_rise)
            p->on_rise(p);
    }
    p->level = level;
}

/* ---- TIM ----------------------------------------------------------------- */

static void tim_map(struct fixture *f, struct stm32_tim *t, uint32_t base, const char *name,
                    bool advanced)
{
    stm32_tim_init(t, &f->sim, name, advanced, 72000000u);
    assert_int_equal(bus_map(&f->bus, base, WINDOW, &stm32_tim_mmio, t), 0);
}

static void test_tim_counter_follows_virtual_time(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim2;
    tim_map(f, &tim2, TIM2_BASE, "TIM2", false);
    const uint64_t us = 72; /* PSC = 71: one count per microsecond */

    run_until(&f->sim, 1000);
    wr16(f, TIM2_BASE + TIM_PSC, 71);
    wr16(f, TIM2_BASE + TIM_ARR, 999);
    wr16(f, TIM2_BASE + TIM_EGR, TIM_EGR_UG);
    wr16(f, TIM2_BASE + TIM_SR, 0);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_CEN);
    uint64_t t0 = sim_now(&f->sim);

    run_until(&f->sim, t0 + 500 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 500);
    assert_true(f->sim.volatile_read);
    run_until(&f->sim, t0 + 500 * us + us - 1);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 500);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_SR) & TIM_SR_UIF, 0);

    run_until(&f->sim, t0 + 1003 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 3);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_SR) & TIM_SR_UIF, TIM_SR_UIF);

    /* Stopping freezes the counter; restarting resumes from the same count. */
    wr16(f, TIM2_BASE + TIM_CR1, 0);
    run_until(&f->sim, t0 + 5000 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 3);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_CEN);
    run_until(&f->sim, t0 + 5010 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 13);
}

static void test_tim_psc_is_buffered_until_update(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim2;
    tim_map(f, &tim2, TIM2_BASE, "TIM2", false);
    const uint64_t us = 72;

    wr16(f, TIM2_BASE + TIM_PSC, 71);
    wr16(f, TIM2_BASE + TIM_ARR, 999);
    wr16(f, TIM2_BASE + TIM_EGR, TIM_EGR_UG);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_CEN);
    uint64_t t0 = sim_now(&f->sim);

    run_until(&f->sim, t0 + 400 * us);
    wr16(f, TIM2_BASE + TIM_PSC, 143); /* half the rate, but only from the next update */
    assert_int_equal(rd16(f, TIM2_BASE + TIM_PSC), 143);
    run_until(&f->sim, t0 + 900 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 900);
    run_until(&f->sim, t0 + 1000 * us + 200 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 100);

    /* UG loads the preload at once and restarts the count. */
    wr16(f, TIM2_BASE + TIM_PSC, 71);
    wr16(f, TIM2_BASE + TIM_EGR, TIM_EGR_UG);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 0);
    run_until(&f->sim, t0 + 1200 * us + 10 * us);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 10);
}

static void test_tim_arr_preload_and_downcounting(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim2;
    tim_map(f, &tim2, TIM2_BASE, "TIM2", false);

    wr16(f, TIM2_BASE + TIM_ARR, 99);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_ARPE | TIM_CR1_DIR);
    wr16(f, TIM2_BASE + TIM_EGR, TIM_EGR_UG);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 99); /* down-counting reloads ARR */
    wr16(f, TIM2_BASE + TIM_SR, 0);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_ARPE | TIM_CR1_DIR | TIM_CR1_CEN);
    uint64_t t0 = sim_now(&f->sim);

    wr16(f, TIM2_BASE + TIM_ARR, 49); /* ARPE: the current period still reloads from 99 */
    run_until(&f->sim, t0 + 99);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 0);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_SR) & TIM_SR_UIF, 0);
    run_until(&f->sim, t0 + 100); /* underflow: update event, new ARR */
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 49);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_SR) & TIM_SR_UIF, TIM_SR_UIF);
    run_until(&f->sim, t0 + 100 + 50 + 10);
    assert_int_equal(rd16(f, TIM2_BASE + TIM_CNT), 39);
}

/* The Spark LED/button configuration of TIM1 (spark-core-hardware.md 4.5). */
static void tim1_spark_setup(struct fixture *f)
{
    wr16(f, TIM1_BASE + TIM_PSC, 72);
    wr16(f, TIM1_BASE + TIM_ARR, 9999);
    wr16(f, TIM1_BASE + TIM_RCR, 0);
    wr16(f, TIM1_BASE + TIM_EGR, TIM_EGR_UG);
    wr16(f, TIM1_BASE + TIM_CCMR1, 0x6060);
    wr16(f, TIM1_BASE + TIM_CCMR2, 0x0060); /* CH3 PWM1, CH4 frozen ("timing") */
    wr16(f, TIM1_BASE + TIM_CCER, 0x1333);
    wr16(f, TIM1_BASE + TIM_CCR4, 0);
    wr16(f, TIM1_BASE + TIM_BDTR, TIM_BDTR_MOE);
    wr16(f, TIM1_BASE + TIM_SR, 0);
    wr16(f, TIM1_BASE + TIM_CR1, TIM_CR1_ARPE | TIM_CR1_CEN);
}

#define TIM1_SPARK_PERIOD (73ull * 10000ull) /* cycles: 72 MHz / 73 / 10000 */

static void test_tim1_cc4_flag_sets_once_per_period(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim1;
    tim_map(f, &tim1, TIM1_BASE, "TIM1", true);
    tim1_spark_setup(f);
    uint64_t t0 = sim_now(&f->sim);

    run_until(&f->sim, t0 + TIM1_SPARK_PERIOD - 1);
    assert_int_equal(rd16(f, TIM1_BASE + TIM_SR) & TIM_SR_CC4IF, 0);
    run_until(&f->sim, t0 + TIM1_SPARK_PERIOD);
    assert_int_equal(rd16(f, TIM1_BASE + TIM_SR) & (TIM_SR_CC4IF | TIM_SR_UIF),
                     TIM_SR_CC4IF | TIM_SR_UIF);
    /* The ISR's clear writes ~CC4IF: rc_w0 clears only that flag. */
    wr16(f, TIM1_BASE + TIM_SR, (uint16_t)~TIM_SR_CC4IF);
    assert_int_equal(rd16(f, TIM1_BASE + TIM_SR) & (TIM_SR_CC4IF | TIM_SR_UIF), TIM_SR_UIF);
    run_until(&f->sim, t0 + 2 * TIM1_SPARK_PERIOD - 1);
    assert_int_equal(rd16(f, TIM1_BASE + TIM_SR) & TIM_SR_CC4IF, 0);
    run_until(&f->sim, t0 + 2 * TIM1_SPARK_PERIOD);
    assert_int_equal(rd16(f, TIM1_BASE + TIM_SR) & TIM_SR_CC4IF, TIM_SR_CC4IF);
    /* Nothing enabled: a running timer schedules no events at all. */
    assert_int_equal(f->sim.clock.deadline, UINT64_MAX);
}

static void test_tim1_cc_irq_fires_every_period_with_cc4ie(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim1;
    tim_map(f, &tim1, TIM1_BASE, "TIM1", true);
    struct probe cc = {.sim = &f->sim}, up = {.sim = &f->sim};
    tim1.irq_cc = line_to(probe_in, &cc, 27);
    tim1.irq_up = line_to(probe_in, &up, 25);
    tim1_spark_setup(f);
    uint64_t t0 = sim_now(&f->sim);
    run_until(&f->sim, t0 + TIM1_SPARK_PERIOD / 3);
    wr16(f, TIM1_BASE + TIM_SR, (uint16_t)~TIM_SR_CC4IF);
    wr16(f, TIM1_BASE + TIM_DIER, TIM_DIER_CC4IE); /* a button edge arms the debounce */

    for (int k = 1; k <= 5; k++) {
        run_until(&f->sim, t0 + (uint64_t)k * TIM1_SPARK_PERIOD - 1);
        assert_false(cc.level);
        run_until(&f->sim, t0 + (uint64_t)k * TIM1_SPARK_PERIOD);
        assert_true(cc.level);
        assert_int_equal(cc.rises, k);
        assert_int_equal(cc.last_rise, t0 + (uint64_t)k * TIM1_SPARK_PERIOD);
        wr16(f, TIM1_BASE + TIM_SR, (uint16_t)~TIM_SR_CC4IF); /* TIM1_CC_IRQHandler */
        assert_false(cc.level);
    }
    assert_int_equal(up.rises, 0); /* UIF is set but UIE is not */
    wr16(f, TIM1_BASE + TIM_DIER, 0); /* released: the ISR disables CC4IE */
    run_until(&f->sim, t0 + 10 * TIM1_SPARK_PERIOD);
    assert_int_equal(cc.rises, 5);
}

struct pwm_probe {
    int calls;
    bool driven[TIM_CHANNELS + 1];
    uint32_t high[TIM_CHANNELS + 1];
    uint64_t when[TIM_CHANNELS + 1];
    struct sim *sim;
};

static void pwm_probe_set(void *opaque, int ch, bool driven, uint32_t high_q16)
{
    struct pwm_probe *p = opaque;
    assert_in_range(ch, 1, TIM_CHANNELS);
    p->calls++;
    p->driven[ch] = driven;
    p->high[ch] = high_q16;
    p->when[ch] = sim_now(p->sim);
}

static void test_tim1_pwm_reports_spark_led_duty(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim1;
    tim_map(f, &tim1, TIM1_BASE, "TIM1", true);
    struct pwm_probe p = {.sim = &f->sim};
    for (int i = 0; i < TIM_CHANNELS; i++)
        tim1.pwm[i] = (struct pwm_out){pwm_probe_set, &p};
    tim1_spark_setup(f);

    /* CCR = 0, PWM1, active low: the pin never goes low (LED off). */
    assert_true(p.driven[1]);
    assert_int_equal(p.high[1], TIM_PWM_FULL);
    /* Yellow at the default brightness: CCR2 = CCR3 = 3735 of 10000. */
    wr16(f, TIM1_BASE + TIM_CCR2, 3735);
    wr16(f, TIM1_BASE + TIM_CCR3, 3735);
    assert_true(p.driven[2]);
    assert_int_equal(p.high[2], 65536u * (10000u - 3735u) / 10000u); /* 41058 */
    assert_int_equal(p.high[3], 65536u * (10000u - 3735u) / 10000u);
    /* CCR above ARR: active for the whole period, so the pin is always low. */
    wr16(f, TIM1_BASE + TIM_CCR1, 10000);
    assert_int_equal(p.high[1], 0);
    /* No repeated reports when nothing changes. */
    int calls = p.calls;
    wr16(f, TIM1_BASE + TIM_CCR2, 3735);
    run_until(&f->sim, sim_now(&f->sim) + 3 * TIM1_SPARK_PERIOD);
    assert_int_equal(p.calls, calls);
    /* Main output enable off: TIM1 stops driving the pins. */
    wr16(f, TIM1_BASE + TIM_BDTR, 0);
    assert_false(p.driven[1]);
    assert_false(p.driven[2]);
    wr16(f, TIM1_BASE + TIM_BDTR, TIM_BDTR_MOE);
    assert_true(p.driven[2]);
    /* The old bootloader's time base: ARR = 99, full colour CCR = 100. */
    wr16(f, TIM1_BASE + TIM_ARR, 99);
    wr16(f, TIM1_BASE + TIM_EGR, TIM_EGR_UG);
    wr16(f, TIM1_BASE + TIM_CCR2, 100);
    assert_int_equal(p.high[2], 0);
    wr16(f, TIM1_BASE + TIM_CCR2, 25);
    assert_int_equal(p.high[2], 65536u * 75u / 100u);
    /* Forced modes: force active (high, then inverted by CC1P). */
    wr16(f, TIM1_BASE + TIM_CCMR1, 0x6050);
    assert_int_equal(p.high[1], 0);
    wr16(f, TIM1_BASE + TIM_CCMR1, 0x6040);
    assert_int_equal(p.high[1], TIM_PWM_FULL);
}

static void test_tim_pwm_ccr_preload_changes_duty_at_update(void **state)
{
    struct fixture *f = *state;
    struct stm32_tim tim2;
    tim_map(f, &tim2, TIM2_BASE, "TIM2", false);
    struct pwm_probe p = {.sim = &f->sim};
    tim2.pwm[0] = (struct pwm_out){pwm_probe_set, &p};
    /* analogWrite: PWM1 with preload, active high, 500 Hz from a 24 MHz count */
    wr16(f, TIM2_BASE + TIM_PSC, 2);
    wr16(f, TIM2_BASE + TIM_ARR, 47999);
    wr16(f, TIM2_BASE + TIM_CCMR1, 0x0068);
    wr16(f, TIM2_BASE + TIM_CCR1, 12000);
    wr16(f, TIM2_BASE + TIM_EGR, TIM_EGR_UG);
    wr16(f, TIM2_BASE + TIM_CCER, TIM_CCER_CC1E);
    wr16(f, TIM2_BASE + TIM_CR1, TIM_CR1_ARPE | TIM_CR1_CEN);
    uint64_t t0 = sim_now(&f->sim);
    assert_true(p.driven[1]);
    assert_int_equal(p.high[1], 65536u / 4u);

    run_until(&f->sim, t0 + 1000);
    wr16(f, TIM2_BASE + TIM_CCR1, 36000); /* waits in the preload register */
    assert_int_equal(p.high[1], 65536u / 4u);
    const uint64_t period = 3ull * 48000ull;
    run_until(&f->sim, t0 + period - 1);
    assert_int_equal(p.high[1], 65536u / 4u);
    run_until(&f->sim, t0 + period);
    assert_int_equal(p.high[1], 65536u * 3u / 4u);
    assert_int_equal(p.when[1], t0 + period);
}

/* ---- SPI ----------------------------------------------------------------- */

struct fake_slave {
    uint8_t mosi[64];
    int count;
    uint8_t next_miso; /* answers mosi ^ 0xA5 unless scripted */
    bool scripted;
};

static uint8_t fake_exchange(void *dev, uint8_t mosi)
{
    struct fake_slave *s = dev;
    if (s->count < (int)sizeof s->mosi)
        s->mosi[s->count] = mosi;
    s->count++;
    return s->scripted ? s->next_miso++ : (uint8_t)(mosi ^ 0xA5);
}

static const struct spi_slave_ops fake_slave_ops = {.name = "fake", .exchange = fake_exchange};

/* SPI2 on a 36 MHz PCLK1: an 8-bit frame at /2 (BR = 0) is 16 PCLK cycles, 32 ticks of 72 MHz. */
#define SPI_PCLK_HZ 36000000u
#define FRAME_DIV2 32u

static void spi_map(struct fixture *f, struct stm32_spi *spi, struct spi_bus *bus,
                    struct fake_slave *slave)
{
    memset(bus, 0, sizeof *bus);
    stm32_spi_init(spi, &f->sim, "SPI2");
    stm32_spi_set_clock(spi, SPI_PCLK_HZ);
    spi->bus = bus;
    assert_int_equal(bus_map(&f->bus, SPI2_BASE, WINDOW, &stm32_spi_mmio, spi), 0);
    int idx = spi_bus_attach(bus, &fake_slave_ops, slave);
    spi_bus_cs_line(bus, idx, false); /* CS low: selected */
}

static void test_spi_exchanges_frame_with_selected_slave(void **state)
{
    struct fixture *f = *state;
    struct stm32_spi spi;
    struct spi_bus bus;
    struct fake_slave slave = {0};
    spi_map(f, &spi, &bus, &slave);

    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_TXE);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_CRCPR), SPI_CRCPR_RESET);
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344); /* the sFlash setting: master, /2, SSM|SSI, SPE */
    uint64_t t0 = f->sim.clock.now;
    wr16(f, SPI2_BASE + SPI_DR, 0x9F);
    /* the frame moved to the shift register at once (TXE), and is on the wire (BSY) */
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_TXE | SPI_SR_BSY);
    run_until(&f->sim, t0 + FRAME_DIV2 - 1);
    assert_int_equal(slave.count, 0);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_TXE | SPI_SR_BSY);
    run_until(&f->sim, t0 + FRAME_DIV2);
    assert_int_equal(slave.count, 1);
    assert_int_equal(slave.mosi[0], 0x9F);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_TXE | SPI_SR_RXNE);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x9F ^ 0xA5);
    assert_true(f->sim.volatile_read);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & (SPI_SR_RXNE | SPI_SR_BSY), 0);

    /* A frame written while SPE is off waits, and goes out when SPE is set. */
    wr16(f, SPI2_BASE + SPI_CR1, 0x0304);
    wr16(f, SPI2_BASE + SPI_DR, 0x05);
    run_until(&f->sim, f->sim.clock.now + 4 * FRAME_DIV2);
    assert_int_equal(slave.count, 1);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & (SPI_SR_TXE | SPI_SR_BSY), 0);
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & (SPI_SR_TXE | SPI_SR_BSY), SPI_SR_TXE | SPI_SR_BSY);
    run_until(&f->sim, f->sim.clock.now + FRAME_DIV2);
    assert_int_equal(slave.count, 2);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x05 ^ 0xA5);

    /* LSB first: the slave sees the bit-mirrored byte, and so does the reply. */
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344 | SPI_CR1_LSBFIRST);
    wr16(f, SPI2_BASE + SPI_DR, 0x01);
    run_until(&f->sim, f->sim.clock.now + FRAME_DIV2);
    assert_int_equal(slave.mosi[2], 0x80);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0xA4); /* mirror(0x80 ^ 0xA5) */
}

static void test_spi_overrun_keeps_unread_frame(void **state)
{
    struct fixture *f = *state;
    struct stm32_spi spi;
    struct spi_bus bus;
    struct fake_slave slave = {.scripted = true, .next_miso = 0x10};
    spi_map(f, &spi, &bus, &slave);
    struct probe irq = {.sim = &f->sim};
    spi.irq = line_to(probe_in, &irq, 36);

    wr16(f, SPI2_BASE + SPI_CR1, 0x0344);
    wr16(f, SPI2_BASE + SPI_CR2, SPI_CR2_ERRIE);
    wr16(f, SPI2_BASE + SPI_DR, 0x01);
    wr16(f, SPI2_BASE + SPI_DR, 0x02);
    run_until(&f->sim, f->sim.clock.now + 2 * FRAME_DIV2);
    assert_int_equal(slave.count, 2);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_OVR, SPI_SR_OVR);
    assert_true(irq.level);
    /* Clearing: read DR (the first frame's answer survives), then read SR. */
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x10);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_OVR, SPI_SR_OVR);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_OVR, 0);
    assert_false(irq.level);
}

static void test_spi_nss_low_in_master_mode_is_a_mode_fault(void **state)
{
    struct fixture *f = *state;
    struct stm32_spi spi;
    struct spi_bus bus;
    struct fake_slave slave = {0};
    spi_map(f, &spi, &bus, &slave);

    wr16(f, SPI2_BASE + SPI_CR1, SPI_CR1_SSM | SPI_CR1_MSTR | SPI_CR1_SPE); /* SSI = 0 */
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_MODF, SPI_SR_MODF);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_CR1) & (SPI_CR1_MSTR | SPI_CR1_SPE), 0);
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344); /* SR was read with MODF set: this write clears it */
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_MODF, 0);
    wr16(f, SPI2_BASE + SPI_DR, 0x42);
    run_until(&f->sim, f->sim.clock.now + FRAME_DIV2);
    assert_int_equal(slave.count, 1);
}

/*
 * RM0008 25.3.3: a frame written while another shifts waits in the TX buffer
 * (TXE = 0) and follows with no gap, BSY staying set; the frame time follows
 * BR, DFF and PCLK.
 */
static void test_spi_frames_take_their_bit_times(void **state)
{
    struct fixture *f = *state;
    struct stm32_spi spi;
    struct spi_bus bus;
    struct fake_slave slave = {.scripted = true, .next_miso = 0x30};
    spi_map(f, &spi, &bus, &slave);

    wr16(f, SPI2_BASE + SPI_CR1, 0x034C); /* /4 (BR = 1): 64 ticks a frame */
    uint64_t t0 = f->sim.clock.now;
    wr16(f, SPI2_BASE + SPI_DR, 0x11);
    wr16(f, SPI2_BASE + SPI_DR, 0x22);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_BSY); /* TX buffer full */
    run_until(&f->sim, t0 + 2 * FRAME_DIV2 - 1);
    assert_int_equal(slave.count, 0);
    run_until(&f->sim, t0 + 2 * FRAME_DIV2);
    assert_int_equal(slave.count, 1);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_BSY | SPI_SR_TXE | SPI_SR_RXNE);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x30);
    run_until(&f->sim, t0 + 4 * FRAME_DIV2 - 1);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_BSY | SPI_SR_TXE);
    run_until(&f->sim, t0 + 4 * FRAME_DIV2);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR), SPI_SR_TXE | SPI_SR_RXNE);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x31);
    assert_int_equal(slave.mosi[1], 0x22);

    /* 16-bit frames at /2 on an 8 MHz PCLK (before SystemInit): 32 PCLK cycles = 288 ticks */
    stm32_spi_set_clock(&spi, 8000000u);
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344 | SPI_CR1_DFF);
    t0 = f->sim.clock.now;
    wr16(f, SPI2_BASE + SPI_DR, 0x1234);
    run_until(&f->sim, t0 + 287);
    assert_int_equal(slave.count, 2);
    run_until(&f->sim, t0 + 288);
    assert_int_equal(slave.count, 4);
    assert_int_equal(slave.mosi[2], 0x12);
    assert_int_equal(slave.mosi[3], 0x34);
}

/* ---- DMA ----------------------------------------------------------------- */

struct dma_rig {
    struct stm32_dma dma;
    struct stm32_spi spi;
    struct spi_bus bus;
    struct fake_slave slave;
    struct probe ch5_irq;
    uint32_t isr_at_ch5_irq;
};

static void capture_isr(struct probe *p)
{
    struct dma_rig *r = p->ctx;
    r->isr_at_ch5_irq = stm32_dma_mmio.read(&r->dma, DMA_ISR, 4);
}

static void dma_rig_init(struct fixture *f, struct dma_rig *r)
{
    memset(r, 0, sizeof *r);
    spi_map(f, &r->spi, &r->bus, &r->slave);
    stm32_dma_init(&r->dma, &f->sim, "DMA1");
    assert_int_equal(bus_map(&f->bus, DMA1_BASE, WINDOW, &stm32_dma_mmio, &r->dma), 0);
    r->spi.dma_rx = line_to(stm32_dma_request_in, &r->dma, DMA_REQUEST(4, 0));
    r->spi.dma_tx = line_to(stm32_dma_request_in, &r->dma, DMA_REQUEST(5, 0));
    r->ch5_irq = (struct probe){.sim = &f->sim, .on_rise = capture_isr, .ctx = r};
    r->dma.irq[4] = line_to(probe_in, &r->ch5_irq, 15);
}

/*
 * The CC3000 transfer: channel 4 (RX) and 5 (TX) move one byte per SPI
 * request, so per frame. Channel 5 completes when its last byte enters the TX
 * buffer, two frames before channel 4 has the last answer; the CC3000 driver's
 * channel 5 handler returns without clearing TCIF5 until TCIF4 is set too, and
 * the level-sensitive line takes it again.
 */
static void test_dma_spi2_full_duplex_paced_by_frames(void **state)
{
    struct fixture *f = *state;
    struct dma_rig r;
    dma_rig_init(f, &r);
    r.slave.scripted = true;
    r.slave.next_miso = 0x40;
    const uint32_t tx = SRAM_BASE + 0x100, rx = SRAM_BASE + 0x200, n = 20;
    for (uint32_t i = 0; i < n; i++)
        f->sram[0x100 + i] = (uint8_t)(0xC0 + i);

    /* CC3000_SPI_DMA_Init + CC3000_SPI_DMA_Channels, in the driver's order. */
    wr16(f, SPI2_BASE + SPI_CR1, 0x034D);
    wr16(f, SPI2_BASE + SPI_CR2, SPI_CR2_RXDMAEN | SPI_CR2_TXDMAEN);
    wr(f, DMA1_BASE + DMA_CNDTR(4), n);
    wr(f, DMA1_BASE + DMA_CPAR(4), SPI2_BASE + SPI_DR);
    wr(f, DMA1_BASE + DMA_CMAR(4), rx);
    wr(f, DMA1_BASE + DMA_CCR(4), 0x3080);
    wr(f, DMA1_BASE + DMA_CNDTR(5), n);
    wr(f, DMA1_BASE + DMA_CPAR(5), SPI2_BASE + SPI_DR);
    wr(f, DMA1_BASE + DMA_CMAR(5), tx);
    wr(f, DMA1_BASE + DMA_CCR(5), 0x3092);
    wr(f, DMA1_BASE + DMA_CCR(4), 0x3081);
    assert_int_equal(r.slave.count, 0);
    uint64_t t0 = f->sim.clock.now;
    wr(f, DMA1_BASE + DMA_CCR(5), 0x3093); /* BR = 1 (/4): 64 ticks a byte */

    /* one byte in the shift register, one in the TX buffer */
    assert_int_equal(r.slave.count, 0);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(5)), n - 2);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(4)), n);
    run_until(&f->sim, t0 + 5 * 2 * FRAME_DIV2);
    assert_int_equal(r.slave.count, 5);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(5)), n - 7);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(4)), n - 5);
    run_until(&f->sim, t0 + (n - 2) * 2 * FRAME_DIV2);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(5)), 0);
    assert_int_equal(r.ch5_irq.rises, 1);
    assert_int_equal(r.isr_at_ch5_irq & (DMA_ISR_TCIF(4) | DMA_ISR_TCIF(5)), DMA_ISR_TCIF(5));
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(4)), 2);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_BSY, SPI_SR_BSY);
    run_until(&f->sim, t0 + n * 2 * FRAME_DIV2);

    assert_int_equal(r.slave.count, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(r.slave.mosi[i], 0xC0 + i);
        assert_int_equal(f->sram[0x200 + i], 0x40 + i);
    }
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(4)), 0);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(5)), 0);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & (SPI_SR_OVR | SPI_SR_RXNE | SPI_SR_BSY), 0);
    assert_int_equal(r.ch5_irq.rises, 1);
    assert_true(r.ch5_irq.level);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & (DMA_ISR_TCIF(4) | DMA_ISR_TCIF(5)),
                     DMA_ISR_TCIF(4) | DMA_ISR_TCIF(5));

    /* SPI_DMA_IntHandler: clear TCIF4|TCIF5 (0x00022000); the line drops. */
    wr(f, DMA1_BASE + DMA_IFCR, DMA_ISR_TCIF(4) | DMA_ISR_TCIF(5));
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & (DMA_ISR_TCIF(4) | DMA_ISR_TCIF(5)), 0);
    assert_false(r.ch5_irq.level);
    /* The half-transfer flags stay until cleared; CGIFx clears all of a channel. */
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_HTIF(5), DMA_ISR_HTIF(5));
    wr(f, DMA1_BASE + DMA_IFCR, 0x000F0000);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & 0x000F0000, 0);
}

static void test_dma_idle_channels_leave_polled_spi_alone(void **state)
{
    struct fixture *f = *state;
    struct dma_rig r;
    dma_rig_init(f, &r);
    /* TXDMAEN|RXDMAEN stay set while the sFlash is driven by polling. */
    wr16(f, SPI2_BASE + SPI_CR1, 0x0344);
    wr16(f, SPI2_BASE + SPI_CR2, SPI_CR2_RXDMAEN | SPI_CR2_TXDMAEN);
    wr16(f, SPI2_BASE + SPI_DR, 0x05);
    run_until(&f->sim, f->sim.clock.now + FRAME_DIV2);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_SR) & SPI_SR_RXNE, SPI_SR_RXNE);
    assert_int_equal(rd16(f, SPI2_BASE + SPI_DR), 0x05 ^ 0xA5);
    assert_int_equal(r.slave.count, 1);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR), 0);
}

static void test_dma_mem2mem_copy_and_bus_error(void **state)
{
    struct fixture *f = *state;
    struct stm32_dma dma;
    stm32_dma_init(&dma, &f->sim, "DMA1");
    assert_int_equal(bus_map(&f->bus, DMA1_BASE, WINDOW, &stm32_dma_mmio, &dma), 0);
    struct probe irq1 = {.sim = &f->sim};
    dma.irq[0] = line_to(probe_in, &irq1, 11);
    for (int i = 0; i < 16; i++)
        f->sram[0x300 + i] = (uint8_t)(i * 7);

    /* Half-words from memory to 32-bit words: zero-extended. */
    wr(f, DMA1_BASE + DMA_CNDTR(1), 8);
    wr(f, DMA1_BASE + DMA_CPAR(1), SRAM_BASE + 0x300);
    wr(f, DMA1_BASE + DMA_CMAR(1), SRAM_BASE + 0x400);
    wr(f, DMA1_BASE + DMA_CCR(1), DMA_CCR_MEM2MEM | DMA_CCR_PINC | DMA_CCR_MINC |
                                      (1u << DMA_CCR_PSIZE_SHIFT) | (2u << DMA_CCR_MSIZE_SHIFT) |
                                      DMA_CCR_TCIE | DMA_CCR_EN);
    for (int i = 0; i < 8; i++) {
        uint32_t word;
        assert_int_equal(bus_read(&f->bus, SRAM_BASE + 0x400 + 4 * i, 4, &word), BUS_OK);
        assert_int_equal(word, (uint32_t)(f->sram[0x300 + 2 * i] | f->sram[0x301 + 2 * i] << 8));
    }
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_TCIF(1), DMA_ISR_TCIF(1));
    assert_true(irq1.level);

    /* A transfer to an address nothing answers: TEIF, channel disabled. */
    wr(f, DMA1_BASE + DMA_CNDTR(2), 4);
    wr(f, DMA1_BASE + DMA_CPAR(2), SRAM_BASE);
    wr(f, DMA1_BASE + DMA_CMAR(2), 0x60000000u);
    wr(f, DMA1_BASE + DMA_CCR(2), DMA_CCR_MEM2MEM | DMA_CCR_EN);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_TEIF(2), DMA_ISR_TEIF(2));
    assert_int_equal(rd(f, DMA1_BASE + DMA_CCR(2)) & DMA_CCR_EN, 0);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(2)), 4);
}

/* ---- USART --------------------------------------------------------------- */

struct sink_probe {
    uint8_t bytes[16];
    uint64_t when[16];
    int count;
    struct sim *sim;
};

static void sink_tx(void *opaque, uint8_t byte)
{
    struct sink_probe *s = opaque;
    s->bytes[s->count] = byte;
    s->when[s->count] = sim_now(s->sim);
    s->count++;
}

static void test_usart_tx_reaches_sink_after_frame_time(void **state)
{
    struct fixture *f = *state;
    struct stm32_usart u;
    stm32_usart_init(&u, &f->sim, "USART1", 72000000u);
    assert_int_equal(bus_map(&f->bus, USART1_BASE, WINDOW, &stm32_usart_mmio, &u), 0);
    struct sink_probe sink = {.sim = &f->sim};
    u.sink = (struct usart_sink){sink_tx, &sink};
    struct probe irq = {.sim = &f->sim};
    u.irq = line_to(probe_in, &irq, 37);

    assert_int_equal(rd16(f, USART1_BASE + USART_SR), USART_SR_TXE | USART_SR_TC);
    wr16(f, USART1_BASE + USART_BRR, 625); /* 115200 baud from 72 MHz */
    wr16(f, USART1_BASE + USART_CR1, USART_CR1_UE | USART_CR1_TE | USART_CR1_TCIE);
    const uint64_t frame = 10 * 625; /* start + 8 data + stop */
    assert_int_equal(stm32_usart_frame_cycles(&u), frame);
    uint64_t t0 = sim_now(&f->sim);

    wr16(f, USART1_BASE + USART_DR, 'O');
    assert_int_equal(rd16(f, USART1_BASE + USART_SR) & (USART_SR_TXE | USART_SR_TC), USART_SR_TXE);
    assert_false(irq.level);
    wr16(f, USART1_BASE + USART_DR, 'K');
    assert_int_equal(rd16(f, USART1_BASE + USART_SR) & USART_SR_TXE, 0);

    run_until(&f->sim, t0 + frame - 1);
    assert_int_equal(sink.count, 0);
    run_until(&f->sim, t0 + frame);
    assert_int_equal(sink.count, 1);
    assert_int_equal(sink.bytes[0], 'O');
    assert_int_equal(rd16(f, USART1_BASE + USART_SR) & (USART_SR_TXE | USART_SR_TC), USART_SR_TXE);
    run_until(&f->sim, t0 + 2 * frame);
    assert_int_equal(sink.count, 2);
    assert_int_equal(sink.bytes[1], 'K');
    assert_int_equal(sink.when[1], t0 + 2 * frame);
    assert_int_equal(rd16(f, USART1_BASE + USART_SR) & USART_SR_TC, USART_SR_TC);
    assert_true(irq.level);
    assert_int_equal(irq.last_rise, t0 + 2 * frame);
    wr16(f, USART1_BASE + USART_SR, (uint16_t)~USART_SR_TC);
    assert_false(irq.level);
}

static void test_usart_receive_sets_rxne_and_overrun(void **state)
{
    struct fixture *f = *state;
    struct stm32_usart u;
    stm32_usart_init(&u, &f->sim, "USART2", 36000000u);
    assert_int_equal(bus_map(&f->bus, USART2_BASE, WINDOW, &stm32_usart_mmio, &u), 0);

    assert_false(stm32_usart_receive(&u, 'x')); /* receiver off: dropped */
    wr16(f, USART2_BASE + USART_BRR, 0x138);
    wr16(f, USART2_BASE + USART_CR1, USART_CR1_UE | USART_CR1_RE);
    assert_true(stm32_usart_receive(&u, 'x'));
    assert_int_equal(rd16(f, USART2_BASE + USART_SR) & USART_SR_RXNE, USART_SR_RXNE);
    assert_int_equal(rd16(f, USART2_BASE + USART_DR), 'x');
    assert_int_equal(rd16(f, USART2_BASE + USART_SR) & USART_SR_RXNE, 0);

    stm32_usart_receive(&u, 'y');
    stm32_usart_receive(&u, 'z');
    assert_int_equal(rd16(f, USART2_BASE + USART_SR) & (USART_SR_RXNE | USART_SR_ORE),
                     USART_SR_RXNE | USART_SR_ORE);
    assert_int_equal(rd16(f, USART2_BASE + USART_DR), 'y'); /* SR then DR clears ORE */
    assert_int_equal(rd16(f, USART2_BASE + USART_SR) & (USART_SR_RXNE | USART_SR_ORE), 0);
    /* A frame time of silence after the last byte: IDLE. */
    run_until(&f->sim, sim_now(&f->sim) + stm32_usart_frame_cycles(&u));
    assert_int_equal(rd16(f, USART2_BASE + USART_SR) & USART_SR_IDLE, USART_SR_IDLE);
}

/* ---- ADC ----------------------------------------------------------------- */

#define ADC_EXTSEL_SW (ADC_EXTSEL_SWSTART << ADC_CR2_EXTSEL_SHIFT)
#define ADC_CYCLE 6u /* 72 MHz / 12 MHz */

static void test_adc_single_conversion_of_set_voltage(void **state)
{
    struct fixture *f = *state;
    struct stm32_adc adc;
    stm32_adc_init(&adc, &f->sim, "ADC1");
    assert_int_equal(bus_map(&f->bus, ADC1_BASE, WINDOW, &stm32_adc_mmio, &adc), 0);
    struct probe irq = {.sim = &f->sim};
    adc.irq = line_to(probe_in, &irq, 18);
    stm32_adc_set_input_mv(&adc, 5, 1650);

    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW);
    uint64_t t0 = sim_now(&f->sim);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_CAL);
    run_until(&f->sim, t0 + 83 * ADC_CYCLE - 1);
    assert_int_equal(rd(f, ADC1_BASE + ADC_CR2) & ADC_CR2_CAL, ADC_CR2_CAL);
    run_until(&f->sim, t0 + 83 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_CR2) & ADC_CR2_CAL, 0);

    wr(f, ADC1_BASE + ADC_SMPR2, 1u << (3 * 5)); /* 7.5 cycles: 20 cycles per conversion */
    wr(f, ADC1_BASE + ADC_SQR3, 5);
    wr(f, ADC1_BASE + ADC_CR1, ADC_CR1_EOCIE);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG | ADC_CR2_SWSTART);
    uint64_t t1 = sim_now(&f->sim);
    assert_int_equal(rd(f, ADC1_BASE + ADC_CR2) & ADC_CR2_SWSTART, 0);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_STRT, ADC_SR_STRT);
    run_until(&f->sim, t1 + 20 * ADC_CYCLE - 1);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, 0);
    run_until(&f->sim, t1 + 20 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, ADC_SR_EOC);
    assert_true(irq.level);
    assert_int_equal(rd(f, ADC1_BASE + ADC_DR), 2048); /* 1650 of 3300 mV */
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, 0);
    assert_false(irq.level);

    /* Left alignment, and a single conversion does not repeat. */
    stm32_adc_set_input_mv(&adc, 5, 3300);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG | ADC_CR2_ALIGN |
                                   ADC_CR2_SWSTART);
    run_until(&f->sim, sim_now(&f->sim) + 20 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_DR), 4095u << 4);
    run_until(&f->sim, sim_now(&f->sim) + 100 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, 0);
}

static void test_adc_scan_sets_eoc_at_end_of_group(void **state)
{
    struct fixture *f = *state;
    struct stm32_adc adc;
    stm32_adc_init(&adc, &f->sim, "ADC1");
    assert_int_equal(bus_map(&f->bus, ADC1_BASE, WINDOW, &stm32_adc_mmio, &adc), 0);
    stm32_adc_set_input_mv(&adc, 1, 825);
    stm32_adc_set_input_mv(&adc, 2, 2475);

    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG);
    wr(f, ADC1_BASE + ADC_SQR1, 1u << 20); /* L = 1: two ranks */
    wr(f, ADC1_BASE + ADC_SQR3, 1u | 2u << 5);
    wr(f, ADC1_BASE + ADC_CR1, ADC_CR1_SCAN);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG | ADC_CR2_SWSTART);
    uint64_t t1 = sim_now(&f->sim);
    /* 1.5 + 12.5 = 14 cycles per rank */
    run_until(&f->sim, t1 + 14 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, 0);
    run_until(&f->sim, t1 + 28 * ADC_CYCLE);
    assert_int_equal(rd(f, ADC1_BASE + ADC_SR) & ADC_SR_EOC, ADC_SR_EOC);
    assert_int_equal(rd(f, ADC1_BASE + ADC_DR), 3072); /* the last rank: 2475 mV */
}

static void test_adc_dual_slow_interleaved_fills_dma_buffer(void **state)
{
    struct fixture *f = *state;
    struct stm32_adc adc1, adc2;
    struct stm32_dma dma;
    stm32_adc_init(&adc1, &f->sim, "ADC1");
    stm32_adc_init(&adc2, &f->sim, "ADC2");
    stm32_dma_init(&dma, &f->sim, "DMA1");
    assert_int_equal(bus_map(&f->bus, ADC1_BASE, WINDOW, &stm32_adc_mmio, &adc1), 0);
    assert_int_equal(bus_map(&f->bus, ADC2_BASE, WINDOW, &stm32_adc_mmio, &adc2), 0);
    assert_int_equal(bus_map(&f->bus, DMA1_BASE, WINDOW, &stm32_dma_mmio, &dma), 0);
    adc1.dual = (struct adc_dual_link){stm32_adc_dual_slave_convert, &adc2};
    adc1.dma = line_to(stm32_dma_request_in, &dma, DMA_REQUEST(1, 0));
    stm32_adc_set_input_mv(&adc1, 4, 1000);
    stm32_adc_set_input_mv(&adc2, 4, 1000);
    const uint32_t code = 1000u * 4096u / 3300u; /* 1241 */
    const uint32_t buf = SRAM_BASE + 0x800;

    /* HAL_ADC_DMA_Init + HAL_ADC_Read (firmware 0.7.0, same in 0.3.4) */
    wr(f, DMA1_BASE + DMA_CPAR(1), ADC1_BASE + ADC_DR);
    wr(f, DMA1_BASE + DMA_CMAR(1), buf);
    wr(f, DMA1_BASE + DMA_CCR(1), 0x2A80); /* PL high, 32/32-bit, MINC, periph->mem */
    for (int i = 0; i < 2; i++) {
        uint32_t base = i ? ADC2_BASE : ADC1_BASE;
        wr(f, base + ADC_CR1, ADC_DUALMOD_SLOWINTERL << ADC_CR1_DUALMOD_SHIFT);
        wr(f, base + ADC_CR2, ADC_EXTSEL_SW);
        wr(f, base + ADC_SQR1, 0);
        wr(f, base + ADC_CR2, ADC_EXTSEL_SW | ADC_CR2_ADON);
        wr(f, base + ADC_CR2, ADC_EXTSEL_SW | ADC_CR2_ADON | ADC_CR2_RSTCAL);
        run_until(&f->sim, sim_now(&f->sim) + 1000);
        assert_int_equal(rd(f, base + ADC_CR2) & ADC_CR2_RSTCAL, 0);
        wr(f, base + ADC_CR2, ADC_EXTSEL_SW | ADC_CR2_ADON | ADC_CR2_CAL);
        run_until(&f->sim, sim_now(&f->sim) + 1000);
        assert_int_equal(rd(f, base + ADC_CR2) & ADC_CR2_CAL, 0);
        wr(f, base + ADC_SMPR2, 1u << (3 * 4)); /* 7.5 cycles */
        wr(f, base + ADC_SQR3, 4);
    }
    wr(f, DMA1_BASE + DMA_CNDTR(1), 10);
    wr(f, ADC2_BASE + ADC_CR2, rd(f, ADC2_BASE + ADC_CR2) | ADC_CR2_EXTTRIG);
    wr(f, DMA1_BASE + DMA_CCR(1), rd(f, DMA1_BASE + DMA_CCR(1)) | DMA_CCR_EN);
    wr(f, ADC1_BASE + ADC_CR2, rd(f, ADC1_BASE + ADC_CR2) | ADC_CR2_DMA);
    wr(f, ADC1_BASE + ADC_CR2, rd(f, ADC1_BASE + ADC_CR2) | ADC_CR2_EXTTRIG | ADC_CR2_SWSTART);
    uint64_t t1 = sim_now(&f->sim);

    /* ADC1 ends its first conversion 14 + 20 cycles in, then every 28 cycles. */
    const uint64_t tenth = (14 + 20 + 9 * 28) * ADC_CYCLE;
    run_until(&f->sim, t1 + tenth - 1);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_TCIF(1), 0);
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(1)), 1);
    run_until(&f->sim, t1 + tenth);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_TCIF(1), DMA_ISR_TCIF(1));
    for (int i = 0; i < 10; i++) {
        uint32_t word;
        assert_int_equal(bus_read(&f->bus, buf + 4 * i, 4, &word), BUS_OK);
        assert_int_equal(word, code << 16 | code);
    }
    wr(f, DMA1_BASE + DMA_IFCR, DMA_ISR_TCIF(1));
    wr(f, ADC1_BASE + ADC_CR2, rd(f, ADC1_BASE + ADC_CR2) & ~ADC_CR2_DMA);
    wr(f, DMA1_BASE + DMA_CCR(1), rd(f, DMA1_BASE + DMA_CCR(1)) & ~DMA_CCR_EN);
    /* The pair keeps converting, but nobody watches: no events. */
    assert_int_equal(f->sim.clock.deadline, UINT64_MAX);
    stm32_adc_set_input_mv(&adc1, 4, 2000);
    stm32_adc_set_input_mv(&adc2, 4, 3000);
    run_until(&f->sim, sim_now(&f->sim) + 100 * ADC_CYCLE);
    uint32_t dr = rd(f, ADC1_BASE + ADC_DR);
    assert_int_equal(dr & 0xFFFF, 2000u * 4096u / 3300u);
    assert_int_equal(dr >> 16, 3000u * 4096u / 3300u);
}

static void test_adc_continuous_into_circular_dma_wraps_buffer(void **state)
{
    struct fixture *f = *state;
    struct stm32_adc adc;
    struct stm32_dma dma;
    stm32_adc_init(&adc, &f->sim, "ADC1");
    stm32_dma_init(&dma, &f->sim, "DMA1");
    assert_int_equal(bus_map(&f->bus, ADC1_BASE, WINDOW, &stm32_adc_mmio, &adc), 0);
    assert_int_equal(bus_map(&f->bus, DMA1_BASE, WINDOW, &stm32_dma_mmio, &dma), 0);
    adc.dma = line_to(stm32_dma_request_in, &dma, DMA_REQUEST(1, 0));
    const uint32_t buf = SRAM_BASE + 0xA00;

    wr(f, DMA1_BASE + DMA_CNDTR(1), 4);
    wr(f, DMA1_BASE + DMA_CPAR(1), ADC1_BASE + ADC_DR);
    wr(f, DMA1_BASE + DMA_CMAR(1), buf);
    wr(f, DMA1_BASE + DMA_CCR(1), DMA_CCR_CIRC | DMA_CCR_MINC | (1u << DMA_CCR_PSIZE_SHIFT) |
                                      (1u << DMA_CCR_MSIZE_SHIFT) | DMA_CCR_EN);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG);
    wr(f, ADC1_BASE + ADC_SQR3, 3);
    stm32_adc_set_input_mv(&adc, 3, 0);
    wr(f, ADC1_BASE + ADC_CR2, ADC_CR2_ADON | ADC_EXTSEL_SW | ADC_CR2_EXTTRIG | ADC_CR2_CONT |
                                   ADC_CR2_DMA | ADC_CR2_SWSTART);
    uint64_t t1 = sim_now(&f->sim);
    /* Conversion k (14 cycles each) sees 100 * (k + 1) mV. */
    for (int k = 0; k < 6; k++) {
        stm32_adc_set_input_mv(&adc, 3, 100u * (uint32_t)(k + 1));
        run_until(&f->sim, t1 + (uint64_t)(k + 1) * 14 * ADC_CYCLE);
        if (k == 1)
            assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_HTIF(1), DMA_ISR_HTIF(1));
    }
    assert_int_equal(rd(f, DMA1_BASE + DMA_CNDTR(1)), 2);
    assert_int_equal(rd(f, DMA1_BASE + DMA_ISR) & DMA_ISR_TCIF(1), DMA_ISR_TCIF(1));
    static const int slot_conversion[4] = {4, 5, 2, 3};
    for (int i = 0; i < 4; i++) {
        uint32_t half;
        assert_int_equal(bus_read(&f->bus, buf + 2 * i, 2, &half), BUS_OK);
        assert_int_equal(half, 100u * (uint32_t)(slot_conversion[i] + 1) * 4096u / 3300u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tim_counter_follows_virtual_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tim_psc_is_buffered_until_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tim_arr_preload_and_downcounting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tim1_cc4_flag_sets_once_per_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tim1_cc_irq_fires_every_period_with_cc4ie, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tim1_pwm_reports_spark_led_duty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tim_pwm_ccr_preload_changes_duty_at_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spi_exchanges_frame_with_selected_slave, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spi_overrun_keeps_unread_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spi_nss_low_in_master_mode_is_a_mode_fault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spi_frames_take_their_bit_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_spi2_full_duplex_paced_by_frames,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_idle_channels_leave_polled_spi_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dma_mem2mem_copy_and_bus_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usart_tx_reaches_sink_after_frame_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usart_receive_sets_rxne_and_overrun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adc_single_conversion_of_set_voltage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adc_scan_sets_eoc_at_end_of_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adc_dual_slow_interleaved_fills_dma_buffer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adc_continuous_into_circular_dma_wraps_buffer, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
