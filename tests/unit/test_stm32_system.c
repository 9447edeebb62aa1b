/*
 * test_stm32_system.c - the STM32F103 system blocks (RCC, FLASH, GPIO, AFIO,
 * EXTI, BKP, PWR, RTC, IWDG, DBGMCU, CRC) wired together the way the SoC
 * wires them, driven through the bus like the firmware drives them.
 *
 * Design decision: each test builds a small SoC (a `struct sim`, a `struct
 * bus` on heap buffers, every block mapped at its RM0008 address and its
 * lines connected) and talks to it only through bus reads/writes, stores into
 * flash and pin levels; time moves by running the event queue to a deadline,
 * as the machine does. So a test pins what firmware observes, and every poll
 * the Spark images make (register trace doc, "Polled status bits") is shown to
 * finish in bounded virtual time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "sim.h"
#include "peripherals/stm32f1/afio.h"
#include "peripherals/stm32f1/bkp.h"
#include "peripherals/stm32f1/crc.h"
#include "peripherals/stm32f1/dbgmcu.h"
#include "peripherals/stm32f1/exti.h"
#include "peripherals/stm32f1/flash.h"
#include "peripherals/stm32f1/gpio.h"
#include "peripherals/stm32f1/iwdg.h"
#include "peripherals/stm32f1/pwr.h"
#include "peripherals/stm32f1/rcc.h"
#include "peripherals/stm32f1/rtc.h"

/* ---- a probe: the far end of a line --------------------------------------- */

struct probe {
    bool level;
    int rises, falls;
};

static void probe_set(void *opaque, int n, bool level)
{
    struct probe *p = opaque;
    (void)n;
    if (level && !p->level)
        p->rises++;
    if (!level && p->level)
        p->falls++;
    p->level = level;
}

/* ---- a minimal SoC -------------------------------------------------------- */

#define PORT_A 0
#define PORT_B 1
#define PORT_C 2
#define NPORTS 3

struct soc {
    struct sim sim;
    struct bus bus;
    uint8_t *flash, *sram, *sysmem;

    struct stm32_rcc rcc;
    struct stm32_flash fl;
    struct stm32_gpio gpio[NPORTS];
    struct stm32_afio afio;
    struct stm32_exti exti;
    struct stm32_bkp bkp;
    struct stm32_pwr pwr;
    struct stm32_rtc rtc;
    struct stm32_iwdg iwdg;
    struct stm32_dbgmcu dbg;
    struct stm32_crc crc;

    struct probe exti_irq[STM32_EXTI_IRQ_COUNT];
    struct probe rtc_irq, flash_irq, rcc_irq, spi2_reset, tamper_irq;
    struct probe pin_out[NPORTS][STM32_GPIO_PINS];

    /* code invalidations reported by the FPEC */
    int invalidations;
    uint32_t inval_addr[4], inval_len[4];
    char *trace_buf;
    size_t trace_len;
};

static void record_invalidate(struct sim *sim, uint32_t addr, uint32_t len)
{
    struct soc *s = sim->machine;
    if (s->invalidations < 4) {
        s->inval_addr[s->invalidations] = addr;
        s->inval_len[s->invalidations] = len;
    }
    s->invalidations++;
}

static const uint32_t gpio_base[NPORTS] = {STM32_GPIOA_BASE, STM32_GPIOB_BASE, STM32_GPIOC_BASE};
static const char *const gpio_name[NPORTS] = {"GPIOA", "GPIOB", "GPIOC"};

static void soc_reset(struct soc *s, enum reset_cause cause)
{
    /* The machine's order: the clock tree first, then the rest. */
    stm32_rcc_reset(&s->rcc, cause);
    stm32_pwr_reset(&s->pwr, cause);
    stm32_bkp_reset(&s->bkp, cause);
    stm32_rtc_reset(&s->rtc, cause);
    stm32_flash_reset(&s->fl, cause);
    stm32_iwdg_reset(&s->iwdg, cause);
    for (int p = 0; p < NPORTS; p++)
        stm32_gpio_reset(&s->gpio[p], cause);
    stm32_afio_reset(&s->afio, cause);
    stm32_exti_reset(&s->exti, cause);
    stm32_dbgmcu_reset(&s->dbg, cause);
    stm32_crc_reset(&s->crc, cause);
    s->sim.reset_requested = false;
}

static void soc_wire(struct soc *s)
{
    s->pwr.dbp[STM32_PWR_DBP_BKP] = line_to(stm32_bkp_dbp_in, &s->bkp, 0);
    s->pwr.dbp[STM32_PWR_DBP_RCC] = line_to(stm32_rcc_dbp_in, &s->rcc, 0);
    s->pwr.dbp[STM32_PWR_DBP_RTC] = line_to(stm32_rtc_dbp_in, &s->rtc, 0);
    s->pwr.pvd = line_to(stm32_exti_line_in, &s->exti, STM32_EXTI_LINE_PVD);
    s->rcc.rtc_clock = line_to(stm32_rtc_enable_in, &s->rtc, 0);
    s->rcc.backup_reset[STM32_RCC_BACKUP_RESET_BKP] = line_to(stm32_bkp_backup_reset_in, &s->bkp, 0);
    s->rcc.backup_reset[STM32_RCC_BACKUP_RESET_RTC] = line_to(stm32_rtc_backup_reset_in, &s->rtc, 0);
    s->rcc.irq = line_to(probe_set, &s->rcc_irq, 0);
    s->rcc.apb1_reset[RCC_APB1_SPI2] = line_to(probe_set, &s->spi2_reset, 0);
    for (int p = 0; p < NPORTS; p++)
        s->rcc.apb2_reset[RCC_APB2_IOPA + p] = line_to(stm32_gpio_reset_in, &s->gpio[p], 0);
    s->rcc.apb2_reset[RCC_APB2_AFIO] = line_to(stm32_afio_reset_in, &s->afio, 0);
    s->iwdg.lsi_request = line_to(stm32_rcc_lsi_force_in, &s->rcc, 0);
    s->fl.iwdg_hw = line_to(stm32_iwdg_hw_mode_in, &s->iwdg, 0);
    s->fl.irq = line_to(probe_set, &s->flash_irq, 0);
    for (int p = 0; p < NPORTS; p++) {
        for (int pin = 0; pin < STM32_GPIO_PINS; pin++) {
            s->gpio[p].level[pin] = line_to(stm32_afio_pin_in, &s->afio, p * 16 + pin);
            s->gpio[p].out[pin] = line_to(probe_set, &s->pin_out[p][pin], 0);
        }
    }
    for (int k = 0; k < STM32_AFIO_EXTI_LINES; k++)
        s->afio.exti[k] = line_to(stm32_exti_line_in, &s->exti, k);
    s->rtc.alarm = line_to(stm32_exti_line_in, &s->exti, STM32_EXTI_LINE_RTC_ALARM);
    s->rtc.irq = line_to(probe_set, &s->rtc_irq, 0);
    s->bkp.irq_tamper = line_to(probe_set, &s->tamper_irq, 0);
    for (int g = 0; g < STM32_EXTI_IRQ_COUNT; g++)
        s->exti.irq[g] = line_to(probe_set, &s->exti_irq[g], 0);
}

static int soc_setup(void **state)
{
    struct soc *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->flash = malloc(FLASH_SIZE);
    s->sram = calloc(1, SRAM_SIZE);
    s->sysmem = calloc(1, SYSMEM_SIZE + 0x400);
    assert_non_null(s->flash);
    assert_non_null(s->sram);
    assert_non_null(s->sysmem);
    memset(s->flash, 0xFF, FLASH_SIZE);

    sim_init(&s->sim);
    s->sim.log = NULL; /* warn-once messages are not what these tests check */
    s->sim.machine = s;
    s->sim.invalidate_code = record_invalidate;
    bus_init(&s->bus, &s->sim, s->flash, s->sram, s->sysmem);

    stm32_rcc_init(&s->rcc, &s->sim);
    stm32_flash_init(&s->fl, &s->sim, &s->bus, s->flash, s->sysmem + (OPTBYTES_BASE - SYSMEM_BASE));
    for (int p = 0; p < NPORTS; p++)
        stm32_gpio_init(&s->gpio[p], &s->sim, gpio_name[p]);
    stm32_afio_init(&s->afio, &s->sim);
    stm32_exti_init(&s->exti, &s->sim);
    stm32_bkp_init(&s->bkp, &s->sim);
    stm32_pwr_init(&s->pwr, &s->sim);
    stm32_rtc_init(&s->rtc, &s->sim);
    stm32_iwdg_init(&s->iwdg, &s->sim);
    stm32_dbgmcu_init(&s->dbg, &s->sim);
    stm32_crc_init(&s->crc, &s->sim);

    assert_int_equal(bus_map(&s->bus, STM32_RCC_BASE, STM32_RCC_SIZE, &stm32_rcc_mmio, &s->rcc), 0);
    assert_int_equal(bus_map(&s->bus, STM32_FLASH_IF_BASE, STM32_FLASH_IF_SIZE, &stm32_flash_mmio, &s->fl), 0);
    for (int p = 0; p < NPORTS; p++)
        assert_int_equal(bus_map(&s->bus, gpio_base[p], STM32_GPIO_SIZE, &stm32_gpio_mmio, &s->gpio[p]), 0);
    assert_int_equal(bus_map(&s->bus, STM32_AFIO_BASE, STM32_AFIO_SIZE, &stm32_afio_mmio, &s->afio), 0);
    assert_int_equal(bus_map(&s->bus, STM32_EXTI_BASE, STM32_EXTI_SIZE, &stm32_exti_mmio, &s->exti), 0);
    assert_int_equal(bus_map(&s->bus, STM32_BKP_BASE, STM32_BKP_SIZE, &stm32_bkp_mmio, &s->bkp), 0);
    assert_int_equal(bus_map(&s->bus, STM32_PWR_BASE, STM32_PWR_SIZE, &stm32_pwr_mmio, &s->pwr), 0);
    assert_int_equal(bus_map(&s->bus, STM32_RTC_BASE, STM32_RTC_SIZE, &stm32_rtc_mmio, &s->rtc), 0);
    assert_int_equal(bus_map(&s->bus, STM32_IWDG_BASE, STM32_IWDG_SIZE, &stm32_iwdg_mmio, &s->iwdg), 0);
    assert_int_equal(bus_map(&s->bus, STM32_DBGMCU_BASE, STM32_DBGMCU_SIZE, &stm32_dbgmcu_mmio, &s->dbg), 0);
    assert_int_equal(bus_map(&s->bus, STM32_CRC_BASE, STM32_CRC_SIZE, &stm32_crc_mmio, &s->crc), 0);

    soc_wire(s);
    soc_reset(s, RESET_POWER);
    *state = s;
    return 0;
}

static int soc_teardown(void **state)
{
    struct soc *s = *state;
    if (s->sim.trace)
        fclose(s->sim.trace);
    free(s->trace_buf);
    sim_free(&s->sim);
    free(s->flash);
    free(s->sram);
    free(s->sysmem);
    free(s);
    return 0;
}

/* ---- access and time ------------------------------------------------------ */

static uint32_t rd(struct soc *s, uint32_t addr)
{
    uint32_t v = 0;
    assert_int_equal(bus_read(&s->bus, addr, 4, &v), BUS_OK);
    return v;
}

static void wr(struct soc *s, uint32_t addr, uint32_t v)
{
    assert_int_equal(bus_write(&s->bus, addr, 4, v), BUS_OK);
}

static void wr8(struct soc *s, uint32_t addr, uint8_t v)
{
    assert_int_equal(bus_write(&s->bus, addr, 1, v), BUS_OK);
}

static void set_bits(struct soc *s, uint32_t addr, uint32_t bits)
{
    wr(s, addr, rd(s, addr) | bits);
}

static void clear_bits(struct soc *s, uint32_t addr, uint32_t bits)
{
    wr(s, addr, rd(s, addr) & ~bits);
}

/* Peripheral bit-band alias of (addr, bit), the way StdPeriph reaches PWR_CR.DBP. */
static uint32_t bitband(uint32_t addr, unsigned bit)
{
    return PERIPH_BB_BASE + (addr - PERIPH_BASE) * 32u + bit * 4u;
}

/* Run events in order up to absolute cycle t, as the machine's idle loop would. */
static void run_until(struct soc *s, uint64_t t)
{
    while (s->sim.clock.deadline <= t) {
        s->sim.clock.now = s->sim.clock.deadline;
        clock_run_due(&s->sim);
    }
    if (t > s->sim.clock.now)
        s->sim.clock.now = t;
}

static void run_for(struct soc *s, uint64_t cycles)
{
    run_until(s, s->sim.clock.now + cycles);
}

/* Poll `addr` until (value & mask) == want, as firmware does; returns the cycles it took. */
static uint64_t poll(struct soc *s, uint32_t addr, uint32_t mask, uint32_t want, uint64_t limit)
{
    uint64_t start = s->sim.clock.now;
    while ((rd(s, addr) & mask) != want) {
        assert_true(s->sim.clock.now - start < limit);
        run_for(s, SIM_US(1));
    }
    return s->sim.clock.now - start;
}

static void enable_backup_access(struct soc *s)
{
    wr(s, bitband(STM32_PWR_BASE + PWR_CR, 8), 1); /* PWR_BackupAccessCmd(ENABLE) */
}

/* A CPU store into flash: Unicorn lands it first, then the FPEC is told. */
static enum stm32_flash_status cpu_store(struct soc *s, uint32_t addr, uint32_t value, unsigned size)
{
    uint32_t off = addr - FLASH_BASE, old = 0;
    for (unsigned i = 0; i < size; i++) {
        old |= (uint32_t)s->flash[off + i] << (8 * i);
        s->flash[off + i] = (uint8_t)(value >> (8 * i));
    }
    return stm32_flash_cpu_store(&s->fl, off, value, size, old);
}

static uint16_t flash_half(struct soc *s, uint32_t addr)
{
    uint32_t off = addr - FLASH_BASE;
    return (uint16_t)(s->flash[off] | (s->flash[off + 1] << 8));
}

static void flash_unlock(struct soc *s)
{
    wr(s, STM32_FLASH_IF_BASE + FLASH_KEYR, FLASH_KEY1);
    wr(s, STM32_FLASH_IF_BASE + FLASH_KEYR, FLASH_KEY2);
}

#define RCC(off) (STM32_RCC_BASE + (off))
#define FLASHR(off) (STM32_FLASH_IF_BASE + (off))
#define GPIOB(off) (STM32_GPIOB_BASE + (off))
#define EXTI(off) (STM32_EXTI_BASE + (off))
#define BKP(off) (STM32_BKP_BASE + (off))
#define PWR(off) (STM32_PWR_BASE + (off))
#define RTC(off) (STM32_RTC_BASE + (off))
#define IWDG(off) (STM32_IWDG_BASE + (off))

/* ---- RCC ------------------------------------------------------------------ */

/* SystemInit/SetSysClockTo72 of both Spark images. */
static void test_rcc_systeminit_polls_finish_at_72mhz(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, RCC(RCC_CR)) & 0xFFu, 0x83u); /* HSION | HSIRDY | HSITRIM 16 */
    set_bits(s, RCC(RCC_CR), RCC_CR_HSION);
    wr(s, RCC(RCC_CFGR), rd(s, RCC(RCC_CFGR)) & 0xF8FF0000u);
    wr(s, RCC(RCC_CR), rd(s, RCC(RCC_CR)) & 0xFEF6FFFFu);
    clear_bits(s, RCC(RCC_CR), RCC_CR_HSEBYP);
    wr(s, RCC(RCC_CIR), 0x009F0000u);

    set_bits(s, RCC(RCC_CR), RCC_CR_HSEON);
    assert_false(rd(s, RCC(RCC_CR)) & RCC_CR_HSERDY);
    /* The poll is bounded (0x500 tries, ~180 us here): HSE must be found well inside it. */
    uint64_t hse = poll(s, RCC(RCC_CR), RCC_CR_HSERDY, RCC_CR_HSERDY, SIM_US(150));
    assert_true(hse > 0);

    wr(s, FLASHR(FLASH_ACR), 0x10);
    wr(s, FLASHR(FLASH_ACR), 0x12);
    wr(s, RCC(RCC_CFGR), rd(s, RCC(RCC_CFGR)) | 0x001D0400u);
    set_bits(s, RCC(RCC_CR), RCC_CR_PLLON);
    poll(s, RCC(RCC_CR), RCC_CR_PLLRDY, RCC_CR_PLLRDY, SIM_MS(1));
    wr(s, RCC(RCC_CFGR), (rd(s, RCC(RCC_CFGR)) & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL);
    poll(s, RCC(RCC_CFGR), RCC_CFGR_SWS_MASK, RCC_CFGR_SW_PLL << RCC_CFGR_SWS_SHIFT, SIM_MS(1));

    assert_int_equal(rd(s, RCC(RCC_CFGR)), 0x001D040Au);
    assert_int_equal(stm32_rcc_sysclk_hz(&s->rcc), 72000000u);
    assert_int_equal(stm32_rcc_pclk1_hz(&s->rcc), 36000000u);
    assert_int_equal(stm32_rcc_pclk2_hz(&s->rcc), 72000000u);
    assert_int_equal(stm32_rcc_tim_apb1_hz(&s->rcc), 72000000u);
    assert_int_equal(rd(s, FLASHR(FLASH_ACR)), 0x32u); /* PRFTBS follows PRFTBE */

    /* USB clock: RCC_USBCLKConfig clears USBPRE through the bit-band alias. */
    wr(s, bitband(RCC(RCC_CFGR), 22), 0);
    assert_int_equal(rd(s, RCC(RCC_CFGR)) & RCC_CFGR_USBPRE, 0);
}

static void test_rcc_pll_does_not_lock_without_its_source(void **state)
{
    struct soc *s = *state;
    wr(s, RCC(RCC_CFGR), RCC_CFGR_PLLSRC | (7u << RCC_CFGR_PLLMUL_SHIFT)); /* HSE, still off */
    set_bits(s, RCC(RCC_CR), RCC_CR_PLLON);
    run_for(s, SIM_MS(5));
    assert_false(rd(s, RCC(RCC_CR)) & RCC_CR_PLLRDY);
    /* Asking for the PLL as SYSCLK leaves SWS on the HSI until the PLL is ready. */
    wr(s, RCC(RCC_CFGR), rd(s, RCC(RCC_CFGR)) | RCC_CFGR_SW_PLL);
    assert_int_equal(rd(s, RCC(RCC_CFGR)) & RCC_CFGR_SWS_MASK, 0);
    set_bits(s, RCC(RCC_CR), RCC_CR_HSEON);
    poll(s, RCC(RCC_CFGR), RCC_CFGR_SWS_MASK, RCC_CFGR_SW_PLL << RCC_CFGR_SWS_SHIFT, SIM_MS(1));
    assert_int_equal(stm32_rcc_sysclk_hz(&s->rcc), 72000000u);
}

static void test_rcc_clock_in_use_cannot_be_stopped(void **state)
{
    struct soc *s = *state;
    set_bits(s, RCC(RCC_CR), RCC_CR_HSEON);
    poll(s, RCC(RCC_CR), RCC_CR_HSERDY, RCC_CR_HSERDY, SIM_MS(1));
    wr(s, RCC(RCC_CFGR), RCC_CFGR_SW_HSE);
    assert_int_equal(rd(s, RCC(RCC_CFGR)) & RCC_CFGR_SWS_MASK, RCC_CFGR_SW_HSE << RCC_CFGR_SWS_SHIFT);
    clear_bits(s, RCC(RCC_CR), RCC_CR_HSEON | RCC_CR_HSION);
    run_for(s, SIM_MS(1));
    uint32_t cr = rd(s, RCC(RCC_CR));
    assert_true(cr & RCC_CR_HSEON);
    assert_true(cr & RCC_CR_HSERDY);
    assert_false(cr & RCC_CR_HSION); /* the HSI is not in use: it stops */
    assert_false(cr & RCC_CR_HSIRDY);
}

static void test_rcc_ready_interrupt_and_clear(void **state)
{
    struct soc *s = *state;
    wr8(s, RCC(RCC_CIR) + 1, (uint8_t)(RCC_CIR_HSERDYIE >> 8)); /* StdPeriph: byte store */
    set_bits(s, RCC(RCC_CR), RCC_CR_HSEON);
    assert_false(s->rcc_irq.level);
    poll(s, RCC(RCC_CR), RCC_CR_HSERDY, RCC_CR_HSERDY, SIM_MS(1));
    assert_true(rd(s, RCC(RCC_CIR)) & RCC_CIR_HSERDYF);
    assert_true(s->rcc_irq.level);
    wr8(s, RCC(RCC_CIR) + 2, (uint8_t)(RCC_CIR_HSERDYC >> 16));
    assert_false(rd(s, RCC(RCC_CIR)) & RCC_CIR_HSERDYF);
    assert_false(s->rcc_irq.level);
}

static void test_rcc_lse_needs_dbp_and_becomes_ready(void **state)
{
    struct soc *s = *state;
    wr8(s, RCC(RCC_BDCR), RCC_BDCR_LSEON); /* without DBP: write-protected */
    run_for(s, SIM_S(4));
    assert_int_equal(rd(s, RCC(RCC_BDCR)), 0);

    enable_backup_access(s);
    wr8(s, RCC(RCC_BDCR), 0);              /* RCC_LSEConfig(RCC_LSE_ON): off, off, on */
    wr8(s, RCC(RCC_BDCR), 0);
    wr8(s, RCC(RCC_BDCR), RCC_BDCR_LSEON);
    poll(s, RCC(RCC_BDCR), RCC_BDCR_LSERDY, RCC_BDCR_LSERDY, SIM_S(4));
    wr(s, RCC(RCC_BDCR), rd(s, RCC(RCC_BDCR)) | (RCC_BDCR_RTCSEL_LSE << RCC_BDCR_RTCSEL_SHIFT));
    assert_false(s->rtc.clocked);
    wr(s, bitband(RCC(RCC_BDCR), 15), 1); /* RCC_RTCCLKCmd(ENABLE) */
    assert_int_equal(rd(s, RCC(RCC_BDCR)), 0x8103u);
    assert_true(s->rtc.clocked);
}

static void test_rcc_lse_off_on_at_boot_keeps_it_running(void **state)
{
    struct soc *s = *state;
    enable_backup_access(s);
    wr8(s, RCC(RCC_BDCR), RCC_BDCR_LSEON);
    poll(s, RCC(RCC_BDCR), RCC_BDCR_LSERDY, RCC_BDCR_LSERDY, SIM_S(4));
    /* The next boot's RCC_LSEConfig: LSEON cleared and set again within a few instructions. */
    wr8(s, RCC(RCC_BDCR), 0);
    wr8(s, RCC(RCC_BDCR), 0);
    wr8(s, RCC(RCC_BDCR), RCC_BDCR_LSEON);
    assert_true(rd(s, RCC(RCC_BDCR)) & RCC_BDCR_LSERDY);
    run_for(s, SIM_MS(1));
    assert_true(rd(s, RCC(RCC_BDCR)) & RCC_BDCR_LSERDY);
    /* Really switched off, it stops after a few LSE cycles. */
    wr8(s, RCC(RCC_BDCR), 0);
    run_for(s, SIM_MS(1));
    assert_false(rd(s, RCC(RCC_BDCR)) & RCC_BDCR_LSERDY);
}

static void test_rcc_csr_reset_flags_follow_the_cause(void **state)
{
    struct soc *s = *state;
    uint32_t flags = 0xFC000000u;
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, RCC_CSR_PORRSTF | RCC_CSR_PINRSTF);
    set_bits(s, RCC(RCC_CSR), RCC_CSR_RMVF);
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, 0);

    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, RCC_CSR_SFTRSTF | RCC_CSR_PINRSTF);
    soc_reset(s, RESET_IWDG); /* flags accumulate until RMVF */
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags,
                     RCC_CSR_SFTRSTF | RCC_CSR_IWDGRSTF | RCC_CSR_PINRSTF);
    set_bits(s, RCC(RCC_CSR), RCC_CSR_RMVF);
    soc_reset(s, RESET_PIN);
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, RCC_CSR_PINRSTF);
    soc_reset(s, RESET_IWDG);
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, RCC_CSR_IWDGRSTF | RCC_CSR_PINRSTF);
    soc_reset(s, RESET_POWER);
    assert_int_equal(rd(s, RCC(RCC_CSR)) & flags, RCC_CSR_PORRSTF | RCC_CSR_PINRSTF);
}

static void test_rcc_backup_domain_survives_system_reset_only(void **state)
{
    struct soc *s = *state;
    enable_backup_access(s);
    wr(s, RCC(RCC_BDCR), RCC_BDCR_LSEON | (RCC_BDCR_RTCSEL_LSE << RCC_BDCR_RTCSEL_SHIFT));
    poll(s, RCC(RCC_BDCR), RCC_BDCR_LSERDY, RCC_BDCR_LSERDY, SIM_S(4));
    set_bits(s, RCC(RCC_BDCR), RCC_BDCR_RTCEN);
    set_bits(s, RCC(RCC_APB1ENR), 1u << RCC_APB1_SPI2);

    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, RCC(RCC_BDCR)), 0x8103u);
    assert_int_equal(rd(s, RCC(RCC_APB1ENR)), 0);
    assert_int_equal(rd(s, RCC(RCC_AHBENR)), 0x14u);
    assert_int_equal(rd(s, RCC(RCC_CFGR)), 0);
    soc_reset(s, RESET_POWER);
    assert_int_equal(rd(s, RCC(RCC_BDCR)), 0);
    assert_false(s->rtc.clocked);
}

static void test_rcc_apb1rstr_spi2_pulses_its_reset_line(void **state)
{
    struct soc *s = *state;
    set_bits(s, RCC(RCC_APB1RSTR), 1u << RCC_APB1_SPI2); /* SPI_I2S_DeInit(SPI2) */
    assert_true(s->spi2_reset.level);
    clear_bits(s, RCC(RCC_APB1RSTR), 1u << RCC_APB1_SPI2);
    assert_false(s->spi2_reset.level);
    assert_int_equal(s->spi2_reset.rises, 1);
    assert_int_equal(s->spi2_reset.falls, 1);
}

static void test_rcc_iopbrst_resets_gpiob(void **state)
{
    struct soc *s = *state;
    wr(s, GPIOB(GPIO_CRL), 0x33333333u);
    set_bits(s, RCC(RCC_APB2RSTR), 1u << RCC_APB2_IOPB);
    clear_bits(s, RCC(RCC_APB2RSTR), 1u << RCC_APB2_IOPB);
    assert_int_equal(rd(s, GPIOB(GPIO_CRL)), GPIO_CR_RESET);
}

/* ---- FLASH ---------------------------------------------------------------- */

static void test_flash_unlock_sequence_clears_lock(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, FLASHR(FLASH_CR)), FLASH_CR_LOCK);
    wr(s, FLASHR(FLASH_CR), FLASH_CR_PG); /* locked: ignored */
    assert_int_equal(rd(s, FLASHR(FLASH_CR)), FLASH_CR_LOCK);
    flash_unlock(s);
    assert_int_equal(rd(s, FLASHR(FLASH_CR)), 0);
    wr(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    assert_int_equal(rd(s, FLASHR(FLASH_CR)), FLASH_CR_PG);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_LOCK); /* FLASH_Lock */
    assert_true(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_LOCK);
    flash_unlock(s);
    assert_false(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_LOCK);
}

static void test_flash_wrong_key_locks_until_reset(void **state)
{
    struct soc *s = *state;
    wr(s, FLASHR(FLASH_KEYR), FLASH_KEY1);
    wr(s, FLASHR(FLASH_KEYR), 0x12345678u);
    flash_unlock(s);
    assert_true(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_LOCK);
    soc_reset(s, RESET_SOFTWARE);
    flash_unlock(s);
    assert_false(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_LOCK);
}

static void test_flash_program_halfword_busy_then_eop(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    wr(s, FLASHR(FLASH_SR), 0x34);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    assert_int_equal(cpu_store(s, 0x08004C04u, 0x5000, 2), STM32_FLASH_OK);
    assert_int_equal(flash_half(s, 0x08004C04u), 0x5000);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_BSY);
    run_for(s, SIM_US(52));
    assert_true(rd(s, FLASHR(FLASH_SR)) & FLASH_SR_BSY);
    poll(s, FLASHR(FLASH_SR), FLASH_SR_BSY, 0, SIM_US(10));
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_EOP);
    wr(s, FLASHR(FLASH_SR), 0x34); /* FLASH_ClearFlag: write 1 to clear */
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), 0);
    clear_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
}

static void test_flash_store_without_pg_leaves_flash_untouched(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    assert_int_equal(cpu_store(s, 0x08006000u, 0x1234, 2), STM32_FLASH_OK);
    assert_int_equal(flash_half(s, 0x08006000u), 0xFFFF);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), 0);
}

static void test_flash_program_over_data_is_pgerr_except_zero(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    cpu_store(s, 0x08005000u, 0x00F0, 2);
    run_for(s, SIM_US(100));
    wr(s, FLASHR(FLASH_SR), 0x34);
    /* 0x00F0 -> 0x0030 would only clear bits, but the FPEC wants an erased half-word. */
    cpu_store(s, 0x08005000u, 0x0030, 2);
    assert_int_equal(flash_half(s, 0x08005000u), 0x00F0);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_PGERR);
    wr(s, FLASHR(FLASH_SR), FLASH_SR_PGERR);
    cpu_store(s, 0x08005000u, 0x0000, 2);
    assert_int_equal(flash_half(s, 0x08005000u), 0x0000);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)) & FLASH_SR_PGERR, 0);
}

static void test_flash_word_store_is_a_bus_error(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    assert_int_equal(cpu_store(s, 0x08005000u, 0x11223344u, 4), STM32_FLASH_BUS_ERROR);
    assert_int_equal(cpu_store(s, 0x08005001u, 0x11, 1), STM32_FLASH_BUS_ERROR);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s->flash[0x5000 + i], 0xFF);
    /* FLASH_ProgramWord is two half-words, low half first. */
    assert_int_equal(cpu_store(s, 0x08005000u, 0x3344, 2), STM32_FLASH_OK);
    assert_int_equal(cpu_store(s, 0x08005002u, 0x1122, 2), STM32_FLASH_OK);
    assert_int_equal(flash_half(s, 0x08005000u), 0x3344);
    assert_int_equal(flash_half(s, 0x08005002u), 0x1122);
}

static void test_flash_default_option_bytes_protect_bootloader(void **state)
{
    struct soc *s = *state;
    static const uint8_t expect[16] = {0xA5, 0x5A, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00,
                                       0xF0, 0x0F, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00};
    uint32_t v;
    for (unsigned i = 0; i < 16; i += 4) {
        assert_int_equal(bus_read(&s->bus, OPTBYTES_BASE + i, 4, &v), BUS_OK);
        assert_int_equal(v, (uint32_t)expect[i] | expect[i + 1] << 8 | expect[i + 2] << 16 |
                                (uint32_t)expect[i + 3] << 24);
    }
    assert_int_equal(rd(s, FLASHR(FLASH_WRPR)), 0xFFFFFFF0u);
    assert_int_equal(rd(s, FLASHR(FLASH_OBR)), 0x03FFFFFCu);
}

static void test_flash_page0_erase_is_wrprterr_and_keeps_data(void **state)
{
    struct soc *s = *state;
    s->flash[0] = 0x00;
    s->flash[0x3FFF] = 0x12;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PER);
    wr(s, FLASHR(FLASH_AR), 0x08000000u);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_STRT);
    poll(s, FLASHR(FLASH_SR), FLASH_SR_BSY, 0, SIM_MS(50));
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_WRPRTERR);
    assert_int_equal(s->flash[0], 0x00);
    /* Page 15 is the last protected one; programming it fails the same way. */
    clear_bits(s, FLASHR(FLASH_CR), FLASH_CR_PER);
    wr(s, FLASHR(FLASH_SR), 0x34);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    cpu_store(s, 0x08003FFEu, 0x0000, 2);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_WRPRTERR);
    assert_int_equal(s->flash[0x3FFF], 0x12);
    assert_false(stm32_flash_page_protected(&s->fl, 16));
}

static void test_flash_page_erase_stays_busy_20ms(void **state)
{
    struct soc *s = *state;
    memset(s->flash + 0x4C00, 0x00, 0x400);
    s->flash[0x5000] = 0x00;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PER);
    wr(s, FLASHR(FLASH_AR), 0x08004C10u); /* any address inside page 19 */
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_STRT);
    for (int i = 0; i < 0x400; i++)
        assert_int_equal(s->flash[0x4C00 + i], 0xFF);
    assert_int_equal(s->flash[0x5000], 0x00); /* the next page is untouched */
    assert_true(rd(s, FLASHR(FLASH_SR)) & FLASH_SR_BSY);
    assert_true(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_STRT);
    s->sim.clock.now += SIM_MS(20) - 1;
    clock_run_due(&s->sim);
    assert_true(rd(s, FLASHR(FLASH_SR)) & FLASH_SR_BSY);
    s->sim.clock.now += 1;
    clock_run_due(&s->sim);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_EOP);
    assert_false(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_STRT);
}

static void test_flash_completed_ops_invalidate_and_trace(void **state)
{
    struct soc *s = *state;
    s->sim.trace = open_memstream(&s->trace_buf, &s->trace_len);
    assert_non_null(s->sim.trace);
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PER);
    wr(s, FLASHR(FLASH_AR), 0x08005000u);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_STRT);
    assert_int_equal(s->invalidations, 2);
    assert_int_equal(s->inval_addr[0], 0x08005000u);
    assert_int_equal(s->inval_len[0], 0x400u);
    assert_int_equal(s->inval_addr[1], 0x00005000u); /* the boot alias */
    fflush(s->sim.trace);
    assert_non_null(strstr(s->trace_buf,
                           "\"kind\":\"flash\",\"op\":\"erase\",\"dev\":\"internal\",\"addr\":134238208"));
    run_for(s, SIM_MS(25));
    clear_bits(s, FLASHR(FLASH_CR), FLASH_CR_PER);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    cpu_store(s, 0x08005002u, 0xBEEF, 2);
    fflush(s->sim.trace);
    assert_non_null(strstr(s->trace_buf, "\"op\":\"program\",\"dev\":\"internal\",\"addr\":134238210"));
    assert_int_equal(s->invalidations, 4);
}

static void test_flash_mass_erase_refused_while_pages_protected(void **state)
{
    struct soc *s = *state;
    s->flash[0x10000] = 0x00;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_MER);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_STRT);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_WRPRTERR);
    assert_int_equal(s->flash[0x10000], 0x00);
}

static void test_flash_eop_interrupt_when_enabled(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    wr(s, FLASHR(FLASH_CR), FLASH_CR_PG | FLASH_CR_EOPIE);
    cpu_store(s, 0x08005000u, 0x1234, 2);
    assert_false(s->flash_irq.level);
    run_for(s, SIM_US(60));
    assert_true(s->flash_irq.level);
    wr(s, FLASHR(FLASH_SR), FLASH_SR_EOP);
    assert_false(s->flash_irq.level);
}

static void test_flash_store_while_busy_finishes_previous_first(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_PG);
    cpu_store(s, 0x08005000u, 0x1111, 2);
    cpu_store(s, 0x08005002u, 0x2222, 2); /* no BSY poll in between */
    assert_int_equal(flash_half(s, 0x08005000u), 0x1111);
    assert_int_equal(flash_half(s, 0x08005002u), 0x2222);
    assert_int_equal(rd(s, FLASHR(FLASH_SR)), FLASH_SR_BSY | FLASH_SR_EOP);
}

static void test_flash_option_bytes_reprogrammed_take_effect_after_reset(void **state)
{
    struct soc *s = *state;
    flash_unlock(s);
    wr(s, FLASHR(FLASH_OPTKEYR), FLASH_KEY1);
    wr(s, FLASHR(FLASH_OPTKEYR), FLASH_KEY2);
    assert_true(rd(s, FLASHR(FLASH_CR)) & FLASH_CR_OPTWRE);
    /* FLASH_EraseOptionBytes: erase, then put RDP back. */
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_OPTER);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_STRT);
    poll(s, FLASHR(FLASH_SR), FLASH_SR_BSY, 0, SIM_MS(50));
    clear_bits(s, FLASHR(FLASH_CR), FLASH_CR_OPTER);
    set_bits(s, FLASHR(FLASH_CR), FLASH_CR_OPTPG);
    assert_int_equal(stm32_flash_option_store(&s->fl, OB_RDP, OB_RDP_UNPROTECTED, 2), STM32_FLASH_OK);
    poll(s, FLASHR(FLASH_SR), FLASH_SR_BSY, 0, SIM_MS(1));
    uint32_t v;
    bus_read(&s->bus, OPTBYTES_BASE, 4, &v);
    assert_int_equal(v, 0xFFFF5AA5u); /* complement written by the FPEC; USER erased */
    bus_read(&s->bus, OPTBYTES_BASE + OB_WRP0, 2, &v);
    assert_int_equal(v, 0xFFFF);
    /* OBR/WRPR still show what was loaded at the last reset. */
    assert_int_equal(rd(s, FLASHR(FLASH_WRPR)), 0xFFFFFFF0u);
    soc_reset(s, RESET_SOFTWARE);
    /* Erased WRP/USER bytes fail their complement: OPTERR, and they load as 0xFF. */
    assert_int_equal(rd(s, FLASHR(FLASH_WRPR)), 0xFFFFFFFFu);
    assert_int_equal(rd(s, FLASHR(FLASH_OBR)), 0x03FFFFFDu);
    assert_false(stm32_flash_page_protected(&s->fl, 0));
}

/* ---- GPIO ----------------------------------------------------------------- */

static void set_pin_mode(struct soc *s, int port, int pin, unsigned cfg)
{
    uint32_t reg = gpio_base[port] + (pin < 8 ? GPIO_CRL : GPIO_CRH);
    unsigned shift = (unsigned)(pin % 8) * 4u;
    wr(s, reg, (rd(s, reg) & ~(0xFu << shift)) | (cfg << shift));
}

#define CFG_IN_FLOATING 0x4u
#define CFG_IN_PULL 0x8u
#define CFG_IN_ANALOG 0x0u
#define CFG_OUT_PP 0x3u
#define CFG_OUT_OD 0x7u
#define CFG_AF_PP 0xBu

static void test_gpio_pull_up_input_reads_high_until_driven(void **state)
{
    struct soc *s = *state;
    /* MODE button: PB2 input pull-up (GPIO_Mode_IPU = CNF 10 + ODR 1). */
    set_pin_mode(s, PORT_B, 2, CFG_IN_PULL);
    wr(s, GPIOB(GPIO_BSRR), 1u << 2);
    assert_true(rd(s, GPIOB(GPIO_IDR)) & (1u << 2));
    stm32_gpio_pin_in(&s->gpio[PORT_B], 2, false); /* pressed */
    assert_false(rd(s, GPIOB(GPIO_IDR)) & (1u << 2));
    stm32_gpio_pin_release(&s->gpio[PORT_B], 2);
    assert_true(rd(s, GPIOB(GPIO_IDR)) & (1u << 2));
    wr(s, GPIOB(GPIO_BRR), 1u << 2); /* pull-down */
    assert_false(rd(s, GPIOB(GPIO_IDR)) & (1u << 2));
}

static void test_gpio_floating_and_analog_inputs(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, GPIOB(GPIO_IDR)), 0); /* reset: floating inputs read 0 */
    stm32_gpio_pin_in(&s->gpio[PORT_B], 11, true);
    assert_int_equal(rd(s, GPIOB(GPIO_IDR)), 1u << 11);
    set_pin_mode(s, PORT_B, 11, CFG_IN_ANALOG);
    assert_int_equal(rd(s, GPIOB(GPIO_IDR)), 0); /* Schmitt trigger off */
}

static void test_gpio_open_drain_only_pulls_low(void **state)
{
    struct soc *s = *state;
    /* USB_DISCONNECT: PB10 open-drain. */
    set_pin_mode(s, PORT_B, 10, CFG_OUT_OD);
    wr(s, GPIOB(GPIO_BSRR), 1u << 10);
    assert_false(s->pin_out[PORT_B][10].level); /* released, nothing pulls it up */
    stm32_gpio_pin_in(&s->gpio[PORT_B], 10, true); /* the board's pull-up */
    assert_true(s->pin_out[PORT_B][10].level);
    assert_true(rd(s, GPIOB(GPIO_IDR)) & (1u << 10));
    wr(s, GPIOB(GPIO_BRR), 1u << 10);
    assert_false(s->pin_out[PORT_B][10].level);
    assert_false(rd(s, GPIOB(GPIO_IDR)) & (1u << 10));
    /* A push-pull output wins over the board. */
    set_pin_mode(s, PORT_B, 10, CFG_OUT_PP);
    stm32_gpio_pin_in(&s->gpio[PORT_B], 10, true);
    assert_false(s->pin_out[PORT_B][10].level);
}

static void test_gpio_bsrr_set_wins_over_reset(void **state)
{
    struct soc *s = *state;
    set_pin_mode(s, PORT_B, 9, CFG_OUT_PP);
    wr(s, GPIOB(GPIO_BSRR), (1u << 9) | (1u << (9 + 16)));
    assert_int_equal(rd(s, GPIOB(GPIO_ODR)), 1u << 9);
    wr(s, GPIOB(GPIO_BSRR), 1u << (9 + 16));
    assert_int_equal(rd(s, GPIOB(GPIO_ODR)), 0);
    wr(s, GPIOB(GPIO_BSRR), 0x0300u);
    wr(s, GPIOB(GPIO_BRR), 0x0100u);
    assert_int_equal(rd(s, GPIOB(GPIO_ODR)), 0x0200u);
}

static void test_gpio_out_lines_report_each_change_once(void **state)
{
    struct soc *s = *state;
    /* sFlash CS (PB9): configured as output (ODR 0 drives low), then CS high. */
    set_pin_mode(s, PORT_B, 9, CFG_OUT_PP);
    wr(s, GPIOB(GPIO_BSRR), 1u << 9);
    wr(s, GPIOB(GPIO_BSRR), 1u << 9);
    wr(s, GPIOB(GPIO_BRR), 1u << 9);
    assert_int_equal(s->pin_out[PORT_B][9].rises, 1);
    assert_int_equal(s->pin_out[PORT_B][9].falls, 1);
    /* Reset: the pin floats again (reads 0), ODR cleared. */
    wr(s, GPIOB(GPIO_BSRR), 1u << 9);
    soc_reset(s, RESET_SOFTWARE);
    assert_false(s->pin_out[PORT_B][9].level);
    assert_int_equal(rd(s, GPIOB(GPIO_CRH)), GPIO_CR_RESET);
}

static void test_gpio_af_output_follows_peripheral(void **state)
{
    struct soc *s = *state;
    set_pin_mode(s, PORT_B, 13, CFG_AF_PP); /* SPI2 SCK */
    wr(s, GPIOB(GPIO_BSRR), 1u << 13);      /* ODR does not matter in AF mode */
    assert_false(s->pin_out[PORT_B][13].level);
    stm32_gpio_af_in(&s->gpio[PORT_B], 13, true);
    assert_true(s->pin_out[PORT_B][13].level);
}

static void test_gpio_lock_sequence_freezes_configuration(void **state)
{
    struct soc *s = *state;
    set_pin_mode(s, PORT_B, 0, CFG_OUT_PP);
    uint32_t lckr = GPIOB(GPIO_LCKR);
    wr(s, lckr, GPIO_LCKR_LCKK | 0x0001u);
    wr(s, lckr, 0x0001u);
    wr(s, lckr, GPIO_LCKR_LCKK | 0x0001u);
    assert_int_equal(rd(s, lckr), 0x0001u);                  /* read 0 */
    assert_int_equal(rd(s, lckr), GPIO_LCKR_LCKK | 0x0001u); /* read 1: locked */
    set_pin_mode(s, PORT_B, 0, CFG_IN_FLOATING);
    set_pin_mode(s, PORT_B, 1, CFG_OUT_PP);
    assert_int_equal(rd(s, GPIOB(GPIO_CRL)) & 0xFFu, 0x33u); /* pin 0 kept, pin 1 changed */
    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, lckr), 0);
    /* A broken sequence (wrong LCK in step 2) does not lock. */
    wr(s, lckr, GPIO_LCKR_LCKK | 0x0001u);
    wr(s, lckr, 0x0002u);
    wr(s, lckr, GPIO_LCKR_LCKK | 0x0001u);
    rd(s, lckr);
    assert_false(rd(s, lckr) & GPIO_LCKR_LCKK);
}

/* ---- AFIO / EXTI ---------------------------------------------------------- */

static void arm_mode_button(struct soc *s)
{
    set_pin_mode(s, PORT_B, 2, CFG_IN_PULL);
    wr(s, GPIOB(GPIO_BSRR), 1u << 2);
    wr(s, STM32_AFIO_BASE + AFIO_EXTICR1, 0x0100u); /* EXTI2 <- PB2 */
    set_bits(s, EXTI(EXTI_IMR), 1u << 2);
    set_bits(s, EXTI(EXTI_FTSR), 1u << 2);
}

static void test_exti_latches_falling_edge_and_w1c(void **state)
{
    struct soc *s = *state;
    arm_mode_button(s);
    assert_int_equal(rd(s, EXTI(EXTI_PR)), 0);
    stm32_gpio_pin_in(&s->gpio[PORT_B], 2, false); /* press */
    assert_int_equal(rd(s, EXTI(EXTI_PR)), 1u << 2);
    assert_true(s->exti_irq[STM32_EXTI_IRQ_EXTI2].level);
    stm32_gpio_pin_in(&s->gpio[PORT_B], 2, true); /* release: rising edge not selected */
    assert_int_equal(rd(s, EXTI(EXTI_PR)), 1u << 2);
    wr(s, EXTI(EXTI_PR), 1u << 2);
    assert_int_equal(rd(s, EXTI(EXTI_PR)), 0);
    assert_false(s->exti_irq[STM32_EXTI_IRQ_EXTI2].level);
    assert_int_equal(s->exti_irq[STM32_EXTI_IRQ_EXTI2].rises, 1);
}

static void test_exti_masked_line_does_not_latch(void **state)
{
    struct soc *s = *state;
    arm_mode_button(s);
    clear_bits(s, EXTI(EXTI_IMR), 1u << 2); /* BUTTON_EXTI_Config(DISABLE) while debouncing */
    stm32_gpio_pin_in(&s->gpio[PORT_B], 2, false);
    assert_int_equal(rd(s, EXTI(EXTI_PR)), 0);
    set_bits(s, EXTI(EXTI_IMR), 1u << 2);
    assert_false(s->exti_irq[STM32_EXTI_IRQ_EXTI2].level);
}

static void test_exti_group_15_10_is_an_or_of_its_lines(void **state)
{
    struct soc *s = *state;
    /* CC3000 IRQ on PB11 -> EXTI11 (EXTICR3 = 0x1000), falling. */
    stm32_gpio_pin_in(&s->gpio[PORT_B], 11, true);
    stm32_gpio_pin_in(&s->gpio[PORT_B], 12, true);
    wr(s, STM32_AFIO_BASE + AFIO_EXTICR1 + 8, 0x1100u);
    wr(s, EXTI(EXTI_IMR), (1u << 11) | (1u << 10));
    wr(s, EXTI(EXTI_FTSR), (1u << 11) | (1u << 10));
    stm32_gpio_pin_in(&s->gpio[PORT_B], 11, false);
    assert_true(s->exti_irq[STM32_EXTI_IRQ_EXTI15_10].level);
    wr(s, EXTI(EXTI_SWIER), 1u << 10);
    assert_int_equal(rd(s, EXTI(EXTI_PR)), (1u << 11) | (1u << 10));
    wr(s, EXTI(EXTI_PR), 1u << 11);
    assert_true(s->exti_irq[STM32_EXTI_IRQ_EXTI15_10].level);
    wr(s, EXTI(EXTI_PR), 1u << 10);
    assert_false(s->exti_irq[STM32_EXTI_IRQ_EXTI15_10].level);
    assert_int_equal(rd(s, EXTI(EXTI_SWIER)), 0);
    assert_int_equal(stm32_exti_irq_number(STM32_EXTI_IRQ_EXTI15_10), 40);
}

static void test_afio_exticr_selects_the_port(void **state)
{
    struct soc *s = *state;
    stm32_gpio_pin_in(&s->gpio[PORT_A], 2, true);
    assert_true(s->exti.input & (1u << 2)); /* EXTICR1 = 0: PA2 */
    wr(s, STM32_AFIO_BASE + AFIO_EXTICR1, 0x0100u);
    assert_false(s->exti.input & (1u << 2)); /* PB2 floats low */
    stm32_gpio_pin_in(&s->gpio[PORT_B], 2, true);
    assert_true(s->exti.input & (1u << 2));
    /*
     * MAPR: SWJ_CFG is write-only, the remaps read back. The firmware's
     * 0x04000000 is SWJ_CFG = 100 (GPIO_Remap_SWJ_Disable: JTAG-DP and SW-DP off).
     */
    wr(s, STM32_AFIO_BASE + AFIO_MAPR, 0x04000000u | AFIO_MAPR_TIM4_REMAP);
    assert_int_equal(rd(s, STM32_AFIO_BASE + AFIO_MAPR), AFIO_MAPR_TIM4_REMAP);
    assert_int_equal(stm32_afio_swj_cfg(&s->afio), 4);
}

/* ---- BKP / PWR ------------------------------------------------------------ */

static void test_bkp_writes_ignored_without_dbp(void **state)
{
    struct soc *s = *state;
    wr(s, BKP(BKP_DR10), 0x5000);
    assert_int_equal(rd(s, BKP(BKP_DR10)), 0);
    enable_backup_access(s);
    assert_int_equal(rd(s, PWR(PWR_CR)), PWR_CR_DBP);
    wr(s, BKP(BKP_DR10), 0x5000);
    assert_int_equal(rd(s, BKP(BKP_DR10)), 0x5000);
    wr(s, PWR(PWR_CR), 0);
    wr(s, BKP(BKP_DR10), 0xFFFF);
    assert_int_equal(rd(s, BKP(BKP_DR10)), 0x5000);
}

static void test_bkp_survives_software_reset_clears_on_power(void **state)
{
    struct soc *s = *state;
    enable_backup_access(s);
    wr(s, BKP(BKP_DR1), 0xEDFA);
    wr(s, BKP(BKP_DR1 + 8 * 4), 0xA5A5); /* DR9 */
    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, PWR(PWR_CR)), 0); /* DBP is off again... */
    assert_int_equal(rd(s, BKP(BKP_DR1)), 0xEDFA); /* ...but the data survived */
    soc_reset(s, RESET_IWDG);
    soc_reset(s, RESET_PIN);
    assert_int_equal(rd(s, BKP(BKP_DR1 + 8 * 4)), 0xA5A5);
    uint16_t saved[STM32_BKP_DR_COUNT];
    stm32_bkp_save(&s->bkp, saved);
    soc_reset(s, RESET_POWER);
    assert_int_equal(rd(s, BKP(BKP_DR1)), 0);
    stm32_bkp_load(&s->bkp, saved);
    assert_int_equal(rd(s, BKP(BKP_DR1)), 0xEDFA);
    assert_int_equal(saved[8], 0xA5A5);
}

static void test_bkp_cleared_by_bdrst(void **state)
{
    struct soc *s = *state;
    enable_backup_access(s);
    wr(s, BKP(BKP_DR10), 0x5000);
    set_bits(s, RCC(RCC_BDCR), RCC_BDCR_BDRST);
    wr(s, BKP(BKP_DR10), 0x1234); /* held in reset */
    clear_bits(s, RCC(RCC_BDCR), RCC_BDCR_BDRST);
    assert_int_equal(rd(s, BKP(BKP_DR10)), 0);
}

static void test_bkp_tamper_event_clears_data(void **state)
{
    struct soc *s = *state;
    enable_backup_access(s);
    wr(s, BKP(BKP_DR1 + 4), 0x1234);
    wr(s, BKP(BKP_CSR), BKP_CSR_TPIE);
    wr(s, BKP(BKP_CR), BKP_CR_TPE); /* TPAL = 0: a high TAMPER pin */
    stm32_bkp_tamper_in(&s->bkp, 0, true);
    assert_int_equal(rd(s, BKP(BKP_DR1 + 4)), 0);
    assert_int_equal(rd(s, BKP(BKP_CSR)), BKP_CSR_TPIE | BKP_CSR_TEF | BKP_CSR_TIF);
    assert_true(s->tamper_irq.level);
    wr(s, BKP(BKP_CSR), BKP_CSR_TPIE | BKP_CSR_CTE | BKP_CSR_CTI);
    assert_false(s->tamper_irq.level);
    wr(s, BKP(BKP_DR1 + 4), 0x4321);
    assert_int_equal(rd(s, BKP(BKP_DR1 + 4)), 0x4321);
}

static void test_pwr_standby_flag_survives_system_reset(void **state)
{
    struct soc *s = *state;
    wr(s, PWR(PWR_CR), PWR_CR_PDDS | PWR_CR_LPDS);
    assert_true(stm32_pwr_pdds(&s->pwr));
    assert_true(stm32_pwr_lpds(&s->pwr));
    soc_reset(s, RESET_SOFTWARE);
    stm32_pwr_standby_wakeup(&s->pwr, true);
    assert_false(stm32_pwr_pdds(&s->pwr));
    assert_int_equal(rd(s, PWR(PWR_CSR)), PWR_CSR_SBF | PWR_CSR_WUF);
    soc_reset(s, RESET_PIN);
    assert_int_equal(rd(s, PWR(PWR_CSR)), PWR_CSR_SBF); /* WUF: system reset clears it */
    wr(s, PWR(PWR_CR), PWR_CR_CSBF);
    assert_int_equal(rd(s, PWR(PWR_CSR)), 0);
    assert_int_equal(rd(s, PWR(PWR_CR)), 0);
}

static void test_pwr_pvd_follows_supply(void **state)
{
    struct soc *s = *state;
    wr(s, PWR(PWR_CR), PWR_CR_PVDE | (7u << PWR_CR_PLS_SHIFT)); /* 2.9 V */
    assert_false(rd(s, PWR(PWR_CSR)) & PWR_CSR_PVDO);
    wr(s, EXTI(EXTI_IMR), 1u << STM32_EXTI_LINE_PVD);
    wr(s, EXTI(EXTI_RTSR), 1u << STM32_EXTI_LINE_PVD);
    stm32_pwr_set_vdd(&s->pwr, 2700);
    assert_true(rd(s, PWR(PWR_CSR)) & PWR_CSR_PVDO);
    assert_true(s->exti_irq[STM32_EXTI_IRQ_PVD].level);
}

/* ---- RTC ------------------------------------------------------------------ */

/* The firmware's RTC_Configuration with the StdPeriph waits. */
static void rtc_configure(struct soc *s)
{
    enable_backup_access(s);
    wr8(s, RCC(RCC_BDCR), RCC_BDCR_LSEON);
    poll(s, RCC(RCC_BDCR), RCC_BDCR_LSERDY, RCC_BDCR_LSERDY, SIM_S(4));
    set_bits(s, RCC(RCC_BDCR), RCC_BDCR_RTCSEL_LSE << RCC_BDCR_RTCSEL_SHIFT);
    wr(s, bitband(RCC(RCC_BDCR), 15), 1);
    clear_bits(s, RTC(RTC_CRL), RTC_CRL_RSF);              /* RTC_WaitForSynchro */
    poll(s, RTC(RTC_CRL), RTC_CRL_RSF, RTC_CRL_RSF, SIM_MS(1));
    poll(s, RTC(RTC_CRL), RTC_CRL_RTOFF, RTC_CRL_RTOFF, SIM_MS(1)); /* RTC_WaitForLastTask */
    wr(s, RTC(RTC_CRH), RTC_CRH_SECIE | RTC_CRH_ALRIE);
    poll(s, RTC(RTC_CRL), RTC_CRL_RTOFF, RTC_CRL_RTOFF, SIM_MS(1));
    set_bits(s, RTC(RTC_CRL), RTC_CRL_CNF);                /* RTC_SetPrescaler(32767) */
    wr(s, RTC(RTC_PRLH), 0);
    wr(s, RTC(RTC_PRLL), 0x7FFF);
    clear_bits(s, RTC(RTC_CRL), RTC_CRL_CNF);
    assert_false(rd(s, RTC(RTC_CRL)) & RTC_CRL_RTOFF);  /* the write takes 3 RTCCLK cycles */
    poll(s, RTC(RTC_CRL), RTC_CRL_RTOFF, RTC_CRL_RTOFF, SIM_MS(1));
}

static void test_rtc_second_interrupt_after_one_second(void **state)
{
    struct soc *s = *state;
    rtc_configure(s);
    wr(s, RTC(RTC_CRL), rd(s, RTC(RTC_CRL)) & ~(RTC_CRL_SECF | RTC_CRL_ALRF | RTC_CRL_OWF));
    assert_false(s->rtc_irq.level);
    uint64_t start = s->sim.clock.now;
    while (!s->rtc_irq.level) {
        assert_true(s->sim.clock.now - start <= SIM_S(2));
        run_for(s, SIM_MS(1));
    }
    assert_true(rd(s, RTC(RTC_CRL)) & RTC_CRL_SECF);
    /* Clear SECF (RTC_ClearITPendingBit): the next one comes exactly 1 s later. */
    wr(s, RTC(RTC_CRL), rd(s, RTC(RTC_CRL)) & ~RTC_CRL_SECF);
    assert_false(s->rtc_irq.level);
    uint64_t first = s->sim.clock.now;
    while (!s->rtc_irq.level)
        run_for(s, SIM_US(100));
    uint64_t period = s->sim.clock.now - first;
    assert_true(period > SIM_MS(999) && period < SIM_MS(1001));
    uint32_t cnt = rd(s, RTC(RTC_CNTH)) << 16 | rd(s, RTC(RTC_CNTL));
    assert_true(cnt == 2 || cnt == 3);
}

static void test_rtc_counter_keeps_running_across_system_reset(void **state)
{
    struct soc *s = *state;
    rtc_configure(s);
    run_for(s, SIM_S(5));
    uint32_t before = rd(s, RTC(RTC_CNTL));
    assert_true(before >= 4);
    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, RTC(RTC_CRL)) & RTC_CRL_RSF, 0); /* software must resync */
    assert_int_equal(rd(s, RTC(RTC_CRH)), 0);
    enable_backup_access(s);
    poll(s, RTC(RTC_CRL), RTC_CRL_RSF, RTC_CRL_RSF, SIM_MS(1));
    run_for(s, SIM_S(3));
    uint32_t after = rd(s, RTC(RTC_CNTL));
    assert_true(after >= before + 2 && after <= before + 4);
    soc_reset(s, RESET_POWER);
    assert_int_equal(rd(s, RTC(RTC_CNTL)), 0);
    run_for(s, SIM_S(2));
    assert_int_equal(rd(s, RTC(RTC_CNTL)), 0); /* no RTCCLK after a power-on */
}

static void test_rtc_alarm_sets_alrf_and_reaches_exti17(void **state)
{
    struct soc *s = *state;
    rtc_configure(s);
    wr(s, EXTI(EXTI_IMR), 1u << STM32_EXTI_LINE_RTC_ALARM);
    wr(s, EXTI(EXTI_RTSR), 1u << STM32_EXTI_LINE_RTC_ALARM);
    set_bits(s, RTC(RTC_CRL), RTC_CRL_CNF);
    wr(s, RTC(RTC_CNTH), 0);
    wr(s, RTC(RTC_CNTL), 100);
    wr(s, RTC(RTC_ALRH), 0);
    wr(s, RTC(RTC_ALRL), 103);
    clear_bits(s, RTC(RTC_CRL), RTC_CRL_CNF);
    poll(s, RTC(RTC_CRL), RTC_CRL_RTOFF, RTC_CRL_RTOFF, SIM_MS(1));
    assert_int_equal(rd(s, RTC(RTC_CNTL)), 100);
    run_for(s, SIM_MS(2500));
    assert_false(rd(s, RTC(RTC_CRL)) & RTC_CRL_ALRF);
    assert_false(s->exti_irq[STM32_EXTI_IRQ_RTC_ALARM].level);
    run_for(s, SIM_S(1));
    assert_int_equal(rd(s, RTC(RTC_CNTL)), 103);
    assert_true(rd(s, RTC(RTC_CRL)) & RTC_CRL_ALRF);
    assert_true(s->exti_irq[STM32_EXTI_IRQ_RTC_ALARM].level);
    assert_true(s->rtc_irq.level);
}

static void test_rtc_writes_outside_configuration_mode_ignored(void **state)
{
    struct soc *s = *state;
    rtc_configure(s);
    uint32_t cnt = rd(s, RTC(RTC_CNTL));
    wr(s, RTC(RTC_CNTL), 0x1234);
    poll(s, RTC(RTC_CRL), RTC_CRL_RTOFF, RTC_CRL_RTOFF, SIM_MS(1));
    assert_int_equal(rd(s, RTC(RTC_CNTL)), cnt);
    /* DIV counts down from PRL with RTCCLK. */
    uint32_t d0 = rd(s, RTC(RTC_DIVL));
    run_for(s, SIM_MS(100));
    uint32_t d1 = rd(s, RTC(RTC_DIVL));
    uint32_t ticks = (d0 - d1 + 0x8000u) % 0x8000u;
    assert_true(ticks >= 3275 && ticks <= 3278); /* 100 ms of 32768 Hz */
}

/* ---- IWDG ----------------------------------------------------------------- */

static void iwdg_start_like_firmware(struct soc *s, uint32_t pr, uint32_t rlr)
{
    wr(s, IWDG(IWDG_KR), IWDG_KR_ACCESS);
    wr(s, IWDG(IWDG_PR), pr);
    wr(s, IWDG(IWDG_RLR), rlr);
    wr(s, IWDG(IWDG_KR), IWDG_KR_RELOAD);
    wr(s, IWDG(IWDG_KR), IWDG_KR_START);
}

static void test_iwdg_expiry_requests_reset_after_pr_rlr_time(void **state)
{
    struct soc *s = *state;
    iwdg_start_like_firmware(s, 6, 468); /* the firmware's 3 s: 468 * 256 / 40 kHz = 2.9952 s */
    run_for(s, SIM_US(2995000));
    assert_false(s->sim.reset_requested);
    run_for(s, SIM_US(300));
    assert_true(s->sim.reset_requested);
    assert_int_equal(s->sim.reset_cause, RESET_IWDG);
    soc_reset(s, RESET_IWDG);
    assert_true(rd(s, RCC(RCC_CSR)) & RCC_CSR_IWDGRSTF);
    /* A system reset stops the (software) watchdog. */
    run_for(s, SIM_S(30));
    assert_false(s->sim.reset_requested);
}

static void test_iwdg_reload_prevents_expiry(void **state)
{
    struct soc *s = *state;
    iwdg_start_like_firmware(s, 6, 781); /* the bootloader's 5 s */
    assert_true(s->rcc.lsi_forced);
    poll(s, RCC(RCC_CSR), RCC_CSR_LSIRDY, RCC_CSR_LSIRDY, SIM_MS(1));
    for (int i = 0; i < 20; i++) {
        run_for(s, SIM_S(1));
        wr(s, IWDG(IWDG_KR), IWDG_KR_RELOAD); /* TimingIWDGReload from SysTick */
    }
    assert_false(s->sim.reset_requested);
    /* Stopping is impossible: a bogus key only re-protects PR/RLR. */
    wr(s, IWDG(IWDG_KR), 0x0000);
    run_for(s, SIM_MS(5100));
    assert_true(s->sim.reset_requested);
}

static void test_iwdg_pr_rlr_need_access_key_and_report_update(void **state)
{
    struct soc *s = *state;
    wr(s, IWDG(IWDG_PR), 6);
    assert_int_equal(rd(s, IWDG(IWDG_PR)), 0);
    wr(s, IWDG(IWDG_KR), IWDG_KR_ACCESS);
    wr(s, IWDG(IWDG_PR), 6);
    wr(s, IWDG(IWDG_RLR), 468);
    assert_int_equal(rd(s, IWDG(IWDG_SR)), IWDG_SR_PVU | IWDG_SR_RVU);
    poll(s, IWDG(IWDG_SR), IWDG_SR_PVU | IWDG_SR_RVU, 0, SIM_MS(1));
    assert_int_equal(rd(s, IWDG(IWDG_PR)), 6);
    assert_int_equal(rd(s, IWDG(IWDG_RLR)), 468);
    /* Without a reload, a start counts from the reset value 0xFFF. */
    wr(s, IWDG(IWDG_KR), IWDG_KR_START);
    run_for(s, SIM_MS(26000));
    assert_false(s->sim.reset_requested);
    run_for(s, SIM_MS(300));
    assert_true(s->sim.reset_requested);
}

/* ---- DBGMCU / CRC --------------------------------------------------------- */

static void test_dbgmcu_idcode_and_cr_survive_system_reset(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, STM32_DBGMCU_BASE + DBGMCU_IDCODE), 0x20036410u);
    set_bits(s, STM32_DBGMCU_BASE + DBGMCU_CR, 0x300); /* DWT_Init */
    soc_reset(s, RESET_SOFTWARE);
    assert_int_equal(rd(s, STM32_DBGMCU_BASE + DBGMCU_CR), 0x300u);
    soc_reset(s, RESET_POWER);
    assert_int_equal(rd(s, STM32_DBGMCU_BASE + DBGMCU_CR), 0);
}

static void test_crc_known_vectors(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, STM32_CRC_BASE + CRC_DR), 0xFFFFFFFFu);
    wr(s, STM32_CRC_BASE + CRC_DR, 0x12345678u);
    assert_int_equal(rd(s, STM32_CRC_BASE + CRC_DR), 0xDF8A8A2Bu);
    wr(s, STM32_CRC_BASE + CRC_DR, 0x9ABCDEF0u);
    assert_int_equal(rd(s, STM32_CRC_BASE + CRC_DR), 0x7D24A31Bu);
    wr(s, STM32_CRC_BASE + CRC_IDR, 0x1A5);
    wr(s, STM32_CRC_BASE + CRC_CR, CRC_CR_RESET);
    assert_int_equal(rd(s, STM32_CRC_BASE + CRC_DR), 0xFFFFFFFFu);
    assert_int_equal(rd(s, STM32_CRC_BASE + CRC_IDR), 0xA5u); /* 8 bits, untouched by RESET */
}

/* ---- unmodelled registers ------------------------------------------------- */

static void test_unmodelled_offsets_read_zero(void **state)
{
    struct soc *s = *state;
    assert_int_equal(rd(s, RCC(0x28)), 0);
    assert_int_equal(rd(s, BKP(0x40)), 0); /* DR11: high density only */
    assert_int_equal(rd(s, FLASHR(0x18)), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, soc_setup, soc_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rcc_systeminit_polls_finish_at_72mhz),
        T(test_rcc_pll_does_not_lock_without_its_source),
        T(test_rcc_clock_in_use_cannot_be_stopped),
        T(test_rcc_ready_interrupt_and_clear),
        T(test_rcc_lse_needs_dbp_and_becomes_ready),
        T(test_rcc_lse_off_on_at_boot_keeps_it_running),
        T(test_rcc_csr_reset_flags_follow_the_cause),
        T(test_rcc_backup_domain_survives_system_reset_only),
        T(test_rcc_apb1rstr_spi2_pulses_its_reset_line),
        T(test_rcc_iopbrst_resets_gpiob),
        T(test_flash_unlock_sequence_clears_lock),
        T(test_flash_wrong_key_locks_until_reset),
        T(test_flash_program_halfword_busy_then_eop),
        T(test_flash_store_without_pg_leaves_flash_untouched),
        T(test_flash_program_over_data_is_pgerr_except_zero),
        T(test_flash_word_store_is_a_bus_error),
        T(test_flash_default_option_bytes_protect_bootloader),
        T(test_flash_page0_erase_is_wrprterr_and_keeps_data),
        T(test_flash_page_erase_stays_busy_20ms),
        T(test_flash_completed_ops_invalidate_and_trace),
        T(test_flash_mass_erase_refused_while_pages_protected),
        T(test_flash_eop_interrupt_when_enabled),
        T(test_flash_store_while_busy_finishes_previous_first),
        T(test_flash_option_bytes_reprogrammed_take_effect_after_reset),
        T(test_gpio_pull_up_input_reads_high_until_driven),
        T(test_gpio_floating_and_analog_inputs),
        T(test_gpio_open_drain_only_pulls_low),
        T(test_gpio_bsrr_set_wins_over_reset),
        T(test_gpio_out_lines_report_each_change_once),
        T(test_gpio_af_output_follows_peripheral),
        T(test_gpio_lock_sequence_freezes_configuration),
        T(test_exti_latches_falling_edge_and_w1c),
        T(test_exti_masked_line_does_not_latch),
        T(test_exti_group_15_10_is_an_or_of_its_lines),
        T(test_afio_exticr_selects_the_port),
        T(test_bkp_writes_ignored_without_dbp),
        T(test_bkp_survives_software_reset_clears_on_power),
        T(test_bkp_cleared_by_bdrst),
        T(test_bkp_tamper_event_clears_data),
        T(test_pwr_standby_flag_survives_system_reset),
        T(test_pwr_pvd_follows_supply),
        T(test_rtc_second_interrupt_after_one_second),
        T(test_rtc_counter_keeps_running_across_system_reset),
        T(test_rtc_alarm_sets_alrf_and_reaches_exti17),
        T(test_rtc_writes_outside_configuration_mode_ignored),
        T(test_iwdg_expiry_requests_reset_after_pr_rlr_time),
        T(test_iwdg_reload_prevents_expiry),
        T(test_iwdg_pr_rlr_need_access_key_and_report_update),
        T(test_dbgmcu_idcode_and_cr_survive_system_reset),
        T(test_crc_known_vectors),
        T(test_unmodelled_offsets_read_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
