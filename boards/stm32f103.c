/*
 * stm32f103.c - the STM32F103CB: blocks at their RM0008 addresses and the
 * chip-internal wiring (NVIC lines, GPIO -> AFIO -> EXTI, DMA requests, the
 * clock tree, the backup domain, PWR_CR.DBP).
 *
 * Design decision: the clock tree is followed, not assumed. When RCC changes
 * SYSCLK or a prescaler it pulses clock_change, and the core (HCLK: the CPU's
 * cycles, SysTick, DWT CYCCNT), the timers, USARTs, SPIs and ADCs are given
 * their new input clocks here; before SystemInit they all run from the 8 MHz
 * HSI like the silicon.
 */
#include "stm32f103.h"

#include "emu/snapshot.h"

#include <string.h>

/* NVIC line numbers (RM0008 table 63, medium-density) */
enum {
    IRQ_RTC = 3,
    IRQ_FLASH = 4,
    IRQ_RCC = 5,
    IRQ_DMA1_CHANNEL1 = 11,
    IRQ_ADC1_2 = 18,
    IRQ_USB_HP_CAN1_TX = 19,
    IRQ_USB_LP_CAN1_RX0 = 20,
    IRQ_TIM1_BRK = 24,
    IRQ_TIM1_UP = 25,
    IRQ_TIM1_TRG_COM = 26,
    IRQ_TIM1_CC = 27,
    IRQ_TIM2 = 28,
    IRQ_TIM3 = 29,
    IRQ_TIM4 = 30,
    IRQ_SPI1 = 35,
    IRQ_SPI2 = 36,
    IRQ_USART1 = 37,
    IRQ_USART2 = 38,
    IRQ_USBWAKEUP = 42, /* reached through EXTI line 18, not driven directly */
};

enum { EXTI_LINE_PVD = 16, EXTI_LINE_RTC_ALARM = 17, EXTI_LINE_USB_WAKEUP = 18 };

static const struct {
    const char *name;
    uint32_t base;
} gpio_ports[GPIO_PORTS] = {{"GPIOA", 0x40010800u}, {"GPIOB", 0x40010C00u}, {"GPIOC", 0x40011000u}};

static void adc_irq_or(void *opaque, int n, bool level)
{
    struct stm32f103 *soc = opaque;
    soc->adc_irq[n] = level;
    nvic_irq_in(&soc->m->nvic, IRQ_ADC1_2, soc->adc_irq[0] || soc->adc_irq[1]);
}

/* RCC changed a clock: hand every clocked block its new input frequency. */
static void clocks_changed(void *opaque, int n, bool level)
{
    struct stm32f103 *soc = opaque;
    (void)n;
    if (!level)
        return;
    sim_set_hclk(&soc->m->sim, stm32_rcc_hclk_hz(&soc->rcc));
    uint32_t apb2_tim = stm32_rcc_tim_apb2_hz(&soc->rcc);
    uint32_t apb1_tim = stm32_rcc_tim_apb1_hz(&soc->rcc);
    stm32_tim_set_clock(&soc->tim1, apb2_tim);
    stm32_tim_set_clock(&soc->tim2, apb1_tim);
    stm32_tim_set_clock(&soc->tim3, apb1_tim);
    stm32_tim_set_clock(&soc->tim4, apb1_tim);
    stm32_usart_set_clock(&soc->usart1, stm32_rcc_pclk2_hz(&soc->rcc));
    stm32_usart_set_clock(&soc->usart2, stm32_rcc_pclk1_hz(&soc->rcc));
    stm32_spi_set_clock(&soc->spi1, stm32_rcc_pclk2_hz(&soc->rcc));
    stm32_spi_set_clock(&soc->spi2, stm32_rcc_pclk1_hz(&soc->rcc));
    /* ADCCLK = PCLK2 / (2, 4, 6 or 8) by RCC_CFGR.ADCPRE */
    uint32_t cfgr = 0;
    bus_read(&soc->m->bus, 0x40021004u, 4, &cfgr);
    uint32_t adcpre = 2u * (((cfgr & RCC_CFGR_ADCPRE_MASK) >> 14) + 1u);
    stm32_adc_set_clock(&soc->adc1, stm32_rcc_pclk2_hz(&soc->rcc) / adcpre);
    stm32_adc_set_clock(&soc->adc2, stm32_rcc_pclk2_hz(&soc->rcc) / adcpre);
}

/*
 * Standby ends with a reset: the RTC alarm, or a rising edge on WKUP (PA0) when
 * PWR_CSR.EWUP enables it, wakes the chip (WUF) and it restarts with SBF set.
 */
static void standby_wakeup(struct stm32f103 *soc)
{
    if (soc->m->sleeping && soc->m->sleep_kind == SLEEP_STANDBY && !soc->m->sim.reset_requested) {
        soc->wakeup_event = true;
        sim_request_reset(&soc->m->sim, RESET_STANDBY);
    }
}

static void rtc_alarm_line(void *opaque, int n, bool level)
{
    struct stm32f103 *soc = opaque;
    (void)n;
    stm32_exti_line_in(&soc->exti, EXTI_LINE_RTC_ALARM, level);
    if (level)
        standby_wakeup(soc);
}

static void pa0_level_line(void *opaque, int n, bool level)
{
    struct stm32f103 *soc = opaque;
    stm32_afio_pin_in(&soc->afio, n, level);
    if (level && stm32_pwr_ewup(&soc->pwr))
        standby_wakeup(soc);
}

enum sleep_kind stm32f103_deep_sleep_kind(struct stm32f103 *soc)
{
    return stm32_pwr_pdds(&soc->pwr) ? SLEEP_STANDBY : SLEEP_STOP;
}

void stm32f103_reset_done(struct stm32f103 *soc, enum reset_cause cause)
{
    if (cause == RESET_STANDBY)
        stm32_pwr_standby_wakeup(&soc->pwr, soc->wakeup_event);
    soc->wakeup_event = false;
}

#define NVIC_LINE(irq) nvic_irq_line(&m->nvic, (irq))

/* Each block's snapshot functions, typed for struct periph (emu/snapshot.h). */
#define SNAP_WRAP(prefix, type)                                                                                \
    static void prefix##_save_fn(const void *dev, struct snap_writer *w) { prefix##_save((const type *)dev, w); } \
    static void prefix##_load_fn(void *dev, struct snap_reader *r) { prefix##_load((type *)dev, r); }
SNAP_WRAP(stm32_rcc, struct stm32_rcc)
SNAP_WRAP(stm32_pwr, struct stm32_pwr)
SNAP_WRAP(stm32_bkp_snapshot, struct stm32_bkp)
SNAP_WRAP(stm32_rtc, struct stm32_rtc)
SNAP_WRAP(stm32_flash, struct stm32_flash)
SNAP_WRAP(stm32_gpio, struct stm32_gpio)
SNAP_WRAP(stm32_afio, struct stm32_afio)
SNAP_WRAP(stm32_exti, struct stm32_exti)
SNAP_WRAP(stm32_iwdg, struct stm32_iwdg)
SNAP_WRAP(stm32_dbgmcu, struct stm32_dbgmcu)
SNAP_WRAP(stm32_crc, struct stm32_crc)
SNAP_WRAP(stm32_tim, struct stm32_tim)
SNAP_WRAP(stm32_spi, struct stm32_spi)
SNAP_WRAP(stm32_dma, struct stm32_dma)
SNAP_WRAP(stm32_usart, struct stm32_usart)
SNAP_WRAP(stm32_adc, struct stm32_adc)
SNAP_WRAP(stm32_usb, struct stm32_usb)
#define SNAP(dev, prefix) machine_periph_snapshot(m, (dev), prefix##_save_fn, prefix##_load_fn)

static int map(struct machine *m, uint32_t base, const struct mmio_ops *ops, void *dev, char *err,
               size_t errlen)
{
    if (machine_map(m, base, 0x400, ops, dev)) {
        snprintf(err, errlen, "cannot map %s at 0x%08x", ops->name, base);
        return -1;
    }
    return 0;
}

int stm32f103_init(struct stm32f103 *soc, struct machine *m, char *err, size_t errlen)
{
    memset(soc, 0, sizeof *soc);
    soc->m = m;
    struct sim *sim = &m->sim;

    stm32_rcc_init(&soc->rcc, sim);
    stm32_flash_init(&soc->flash, sim, &m->bus, m->flash, m->sysmem + (OPTBYTES_BASE - SYSMEM_BASE));
    for (int p = 0; p < GPIO_PORTS; p++)
        stm32_gpio_init(&soc->gpio[p], sim, gpio_ports[p].name);
    stm32_afio_init(&soc->afio, sim);
    stm32_exti_init(&soc->exti, sim);
    stm32_bkp_init(&soc->bkp, sim);
    stm32_pwr_init(&soc->pwr, sim);
    stm32_rtc_init(&soc->rtc, sim);
    stm32_iwdg_init(&soc->iwdg, sim);
    stm32_dbgmcu_init(&soc->dbgmcu, sim);
    stm32_crc_init(&soc->crc, sim);
    /* after reset the chip runs from HSI: 8 MHz everywhere until SystemInit */
    stm32_tim_init(&soc->tim1, sim, "TIM1", true, 8000000u);
    stm32_tim_init(&soc->tim2, sim, "TIM2", false, 8000000u);
    stm32_tim_init(&soc->tim3, sim, "TIM3", false, 8000000u);
    stm32_tim_init(&soc->tim4, sim, "TIM4", false, 8000000u);
    stm32_spi_init(&soc->spi1, sim, "SPI1");
    stm32_spi_init(&soc->spi2, sim, "SPI2");
    stm32_dma_init(&soc->dma1, sim, "DMA1");
    stm32_usart_init(&soc->usart1, sim, "USART1", 8000000u);
    stm32_usart_init(&soc->usart2, sim, "USART2", 8000000u);
    stm32_adc_init(&soc->adc1, sim, "ADC1");
    stm32_adc_init(&soc->adc2, sim, "ADC2");
    stm32_usb_init(&soc->usb, sim);

    if (map(m, 0x40000000u, &stm32_tim_mmio, &soc->tim2, err, errlen) ||
        map(m, 0x40000400u, &stm32_tim_mmio, &soc->tim3, err, errlen) ||
        map(m, 0x40000800u, &stm32_tim_mmio, &soc->tim4, err, errlen) ||
        map(m, 0x40002800u, &stm32_rtc_mmio, &soc->rtc, err, errlen) ||
        map(m, 0x40003000u, &stm32_iwdg_mmio, &soc->iwdg, err, errlen) ||
        map(m, 0x40003800u, &stm32_spi_mmio, &soc->spi2, err, errlen) ||
        map(m, 0x40004400u, &stm32_usart_mmio, &soc->usart2, err, errlen) ||
        map(m, STM32_USB_BASE, &stm32_usb_mmio, &soc->usb, err, errlen) ||
        map(m, STM32_USB_PMA_BASE, &stm32_usb_pma_mmio, &soc->usb, err, errlen) ||
        map(m, 0x40006C00u, &stm32_bkp_mmio, &soc->bkp, err, errlen) ||
        map(m, 0x40007000u, &stm32_pwr_mmio, &soc->pwr, err, errlen) ||
        map(m, 0x40010000u, &stm32_afio_mmio, &soc->afio, err, errlen) ||
        map(m, 0x40010400u, &stm32_exti_mmio, &soc->exti, err, errlen) ||
        map(m, gpio_ports[0].base, &stm32_gpio_mmio, &soc->gpio[0], err, errlen) ||
        map(m, gpio_ports[1].base, &stm32_gpio_mmio, &soc->gpio[1], err, errlen) ||
        map(m, gpio_ports[2].base, &stm32_gpio_mmio, &soc->gpio[2], err, errlen) ||
        map(m, 0x40012400u, &stm32_adc_mmio, &soc->adc1, err, errlen) ||
        map(m, 0x40012800u, &stm32_adc_mmio, &soc->adc2, err, errlen) ||
        map(m, 0x40012C00u, &stm32_tim_mmio, &soc->tim1, err, errlen) ||
        map(m, 0x40013000u, &stm32_spi_mmio, &soc->spi1, err, errlen) ||
        map(m, 0x40013800u, &stm32_usart_mmio, &soc->usart1, err, errlen) ||
        map(m, 0x40020000u, &stm32_dma_mmio, &soc->dma1, err, errlen) ||
        map(m, 0x40021000u, &stm32_rcc_mmio, &soc->rcc, err, errlen) ||
        map(m, 0x40022000u, &stm32_flash_mmio, &soc->flash, err, errlen) ||
        map(m, 0x40023000u, &stm32_crc_mmio, &soc->crc, err, errlen) ||
        map(m, 0xE0042000u, &stm32_dbgmcu_mmio, &soc->dbgmcu, err, errlen))
        return -1;

    /* reset order: clocks and power first, then the rest */
    machine_add_periph(m, "RCC", &soc->rcc, stm32_rcc_reset);
    machine_add_periph(m, "PWR", &soc->pwr, stm32_pwr_reset);
    machine_add_periph(m, "BKP", &soc->bkp, stm32_bkp_reset);
    machine_add_periph(m, "RTC", &soc->rtc, stm32_rtc_reset);
    machine_add_periph(m, "FLASH", &soc->flash, stm32_flash_reset);
    for (int p = 0; p < GPIO_PORTS; p++)
        machine_add_periph(m, gpio_ports[p].name, &soc->gpio[p], stm32_gpio_reset);
    machine_add_periph(m, "AFIO", &soc->afio, stm32_afio_reset);
    machine_add_periph(m, "EXTI", &soc->exti, stm32_exti_reset);
    machine_add_periph(m, "IWDG", &soc->iwdg, stm32_iwdg_reset);
    machine_add_periph(m, "DBGMCU", &soc->dbgmcu, stm32_dbgmcu_reset);
    machine_add_periph(m, "CRC", &soc->crc, stm32_crc_reset);
    machine_add_periph(m, "TIM1", &soc->tim1, stm32_tim_reset);
    machine_add_periph(m, "TIM2", &soc->tim2, stm32_tim_reset);
    machine_add_periph(m, "TIM3", &soc->tim3, stm32_tim_reset);
    machine_add_periph(m, "TIM4", &soc->tim4, stm32_tim_reset);
    machine_add_periph(m, "SPI1", &soc->spi1, stm32_spi_reset);
    machine_add_periph(m, "SPI2", &soc->spi2, stm32_spi_reset);
    machine_add_periph(m, "DMA1", &soc->dma1, stm32_dma_reset);
    machine_add_periph(m, "USART1", &soc->usart1, stm32_usart_reset);
    machine_add_periph(m, "USART2", &soc->usart2, stm32_usart_reset);
    machine_add_periph(m, "ADC1", &soc->adc1, stm32_adc_reset);
    machine_add_periph(m, "ADC2", &soc->adc2, stm32_adc_reset);
    machine_add_periph(m, "USB", &soc->usb, stm32_usb_reset);
    SNAP(&soc->rcc, stm32_rcc);
    SNAP(&soc->pwr, stm32_pwr);
    SNAP(&soc->bkp, stm32_bkp_snapshot);
    SNAP(&soc->rtc, stm32_rtc);
    SNAP(&soc->flash, stm32_flash);
    for (int p = 0; p < GPIO_PORTS; p++)
        SNAP(&soc->gpio[p], stm32_gpio);
    SNAP(&soc->afio, stm32_afio);
    SNAP(&soc->exti, stm32_exti);
    SNAP(&soc->iwdg, stm32_iwdg);
    SNAP(&soc->dbgmcu, stm32_dbgmcu);
    SNAP(&soc->crc, stm32_crc);
    SNAP(&soc->tim1, stm32_tim);
    SNAP(&soc->tim2, stm32_tim);
    SNAP(&soc->tim3, stm32_tim);
    SNAP(&soc->tim4, stm32_tim);
    SNAP(&soc->spi1, stm32_spi);
    SNAP(&soc->spi2, stm32_spi);
    SNAP(&soc->dma1, stm32_dma);
    SNAP(&soc->usart1, stm32_usart);
    SNAP(&soc->usart2, stm32_usart);
    SNAP(&soc->adc1, stm32_adc);
    SNAP(&soc->adc2, stm32_adc);
    SNAP(&soc->usb, stm32_usb);

    /* interrupt lines */
    soc->rcc.irq = NVIC_LINE(IRQ_RCC);
    soc->flash.irq = NVIC_LINE(IRQ_FLASH);
    soc->rtc.irq = NVIC_LINE(IRQ_RTC);
    for (int i = 0; i < STM32_EXTI_IRQ_COUNT; i++)
        soc->exti.irq[i] = NVIC_LINE(stm32_exti_irq_number((enum stm32_exti_irq)i));
    for (int i = 0; i < DMA_CHANNELS; i++)
        soc->dma1.irq[i] = NVIC_LINE(IRQ_DMA1_CHANNEL1 + i);
    soc->tim1.irq_brk = NVIC_LINE(IRQ_TIM1_BRK);
    soc->tim1.irq_up = NVIC_LINE(IRQ_TIM1_UP);
    soc->tim1.irq_trg = NVIC_LINE(IRQ_TIM1_TRG_COM);
    soc->tim1.irq_cc = NVIC_LINE(IRQ_TIM1_CC);
    soc->tim2.irq_up = NVIC_LINE(IRQ_TIM2);
    soc->tim3.irq_up = NVIC_LINE(IRQ_TIM3);
    soc->tim4.irq_up = NVIC_LINE(IRQ_TIM4);
    soc->spi1.irq = NVIC_LINE(IRQ_SPI1);
    soc->spi2.irq = NVIC_LINE(IRQ_SPI2);
    soc->usart1.irq = NVIC_LINE(IRQ_USART1);
    soc->usart2.irq = NVIC_LINE(IRQ_USART2);
    soc->adc1.irq = line_to(adc_irq_or, soc, 0);
    soc->adc2.irq = line_to(adc_irq_or, soc, 1);
    soc->usb.irq_lp = NVIC_LINE(IRQ_USB_LP_CAN1_RX0);
    soc->usb.irq_hp = NVIC_LINE(IRQ_USB_HP_CAN1_TX);

    /*
     * GPIO pin levels -> AFIO (port select) -> EXTI lines 0-15; PVD, RTC alarm and USB
     * wake-up -> 16, 17, 18
     */
    for (int p = 0; p < GPIO_PORTS; p++)
        for (int pin = 0; pin < 16; pin++)
            soc->gpio[p].level[pin] = line_to(stm32_afio_pin_in, &soc->afio, p * 16 + pin);
    for (int i = 0; i < 16; i++)
        soc->afio.exti[i] = line_to(stm32_exti_line_in, &soc->exti, i);
    soc->pwr.pvd = line_to(stm32_exti_line_in, &soc->exti, EXTI_LINE_PVD);
    soc->rtc.alarm = line_to(rtc_alarm_line, soc, 0);
    soc->usb.wakeup = line_to(stm32_exti_line_in, &soc->exti, EXTI_LINE_USB_WAKEUP);
    soc->gpio[GPIO_PORT_A].level[0] = line_to(pa0_level_line, soc, 0); /* PA0 is also WKUP */

    /* Stop mode ends on an EXTI line's interrupt (GPIO, PVD, RTC alarm, USB wake-up) */
    for (int i = 0; i < STM32_EXTI_IRQ_COUNT; i++)
        m->stop_wake_mask |= 1ull << (EXC_IRQ0 + stm32_exti_irq_number((enum stm32_exti_irq)i));

    /* backup domain: write access (PWR_CR.DBP), clock, reset (RCC_BDCR) */
    soc->pwr.dbp[STM32_PWR_DBP_BKP] = line_to(stm32_bkp_dbp_in, &soc->bkp, 0);
    soc->pwr.dbp[STM32_PWR_DBP_RCC] = line_to(stm32_rcc_dbp_in, &soc->rcc, 0);
    soc->pwr.dbp[STM32_PWR_DBP_RTC] = line_to(stm32_rtc_dbp_in, &soc->rtc, 0);
    soc->rcc.rtc_clock = line_to(stm32_rtc_enable_in, &soc->rtc, 0);
    soc->rcc.backup_reset[STM32_RCC_BACKUP_RESET_BKP] = line_to(stm32_bkp_backup_reset_in, &soc->bkp, 0);
    soc->rcc.backup_reset[STM32_RCC_BACKUP_RESET_RTC] = line_to(stm32_rtc_backup_reset_in, &soc->rtc, 0);

    /* the watchdog keeps LSI on; the option bytes may select the hardware watchdog */
    soc->iwdg.lsi_request = line_to(stm32_rcc_lsi_force_in, &soc->rcc, 0);
    soc->flash.iwdg_hw = line_to(stm32_iwdg_hw_mode_in, &soc->iwdg, 0);

    /* peripheral resets from RCC_APBxRSTR */
    soc->rcc.apb2_reset[RCC_APB2_IOPA] = line_to(stm32_gpio_reset_in, &soc->gpio[0], 0);
    soc->rcc.apb2_reset[RCC_APB2_IOPB] = line_to(stm32_gpio_reset_in, &soc->gpio[1], 0);
    soc->rcc.apb2_reset[RCC_APB2_IOPC] = line_to(stm32_gpio_reset_in, &soc->gpio[2], 0);
    soc->rcc.apb2_reset[RCC_APB2_AFIO] = line_to(stm32_afio_reset_in, &soc->afio, 0);
    soc->rcc.apb1_reset[RCC_APB1_USB] = line_to(stm32_usb_reset_in, &soc->usb, 0);

    /* DMA1 requests (RM0008 table 78) */
    soc->adc1.dma = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(1, 0));
    soc->spi1.dma_rx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(2, 0));
    soc->spi1.dma_tx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(3, 0));
    soc->spi2.dma_rx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(4, 0));
    soc->spi2.dma_tx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(5, 0));
    soc->usart1.dma_tx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(4, 1));
    soc->usart1.dma_rx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(5, 1));
    soc->usart2.dma_rx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(6, 0));
    soc->usart2.dma_tx = line_to(stm32_dma_request_in, &soc->dma1, DMA_REQUEST(7, 0));

    /* ADC dual mode: ADC1 is the master */
    soc->adc1.dual.convert = stm32_adc_dual_slave_convert;
    soc->adc1.dual.opaque = &soc->adc2;

    soc->rcc.clock_change = line_to(clocks_changed, soc, 0);
    return 0;
}

void stm32f103_snapshot(struct stm32f103 *soc, struct snap_io *io)
{
    SNAP_IO_BOOLS(io, soc->adc_irq);
    snap_io_bool(io, &soc->wakeup_event);
}
