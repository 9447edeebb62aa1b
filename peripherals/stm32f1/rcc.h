/*
 * rcc.h - STM32F103 reset and clock control (RM0008 section 7), at 0x40021000.
 *
 * The oscillators (HSI, HSE, PLL, LSE, LSI) are small state machines: an
 * enable bit starts them and their ready flag rises after a start-up time in
 * virtual time (one event each); clearing the enable drops the flag after a
 * few cycles of that oscillator. The system clock switch (CFGR.SWS) follows
 * CFGR.SW as soon as the selected source is ready. The backup-domain part
 * (RCC_BDCR) and the reset flags in RCC_CSR survive system resets.
 */
#ifndef PERIPHERALS_STM32F1_RCC_H
#define PERIPHERALS_STM32F1_RCC_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_RCC_BASE 0x40021000u
#define STM32_RCC_SIZE 0x400u

/* Register offsets */
#define RCC_CR 0x00u
#define RCC_CFGR 0x04u
#define RCC_CIR 0x08u
#define RCC_APB2RSTR 0x0Cu
#define RCC_APB1RSTR 0x10u
#define RCC_AHBENR 0x14u
#define RCC_APB2ENR 0x18u
#define RCC_APB1ENR 0x1Cu
#define RCC_BDCR 0x20u
#define RCC_CSR 0x24u

/* RCC_CR */
#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_HSITRIM_SHIFT 3
#define RCC_CR_HSITRIM_MASK (0x1Fu << 3)
#define RCC_CR_HSICAL_SHIFT 8
#define RCC_CR_HSICAL_MASK (0xFFu << 8)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_CSSON (1u << 19)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

/* RCC_CFGR */
#define RCC_CFGR_SW_MASK (3u << 0)
#define RCC_CFGR_SWS_SHIFT 2
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_HPRE_SHIFT 4
#define RCC_CFGR_HPRE_MASK (0xFu << 4)
#define RCC_CFGR_PPRE1_SHIFT 8
#define RCC_CFGR_PPRE1_MASK (7u << 8)
#define RCC_CFGR_PPRE2_SHIFT 11
#define RCC_CFGR_PPRE2_MASK (7u << 11)
#define RCC_CFGR_ADCPRE_MASK (3u << 14)
#define RCC_CFGR_PLLSRC (1u << 16)
#define RCC_CFGR_PLLXTPRE (1u << 17)
#define RCC_CFGR_PLLMUL_SHIFT 18
#define RCC_CFGR_PLLMUL_MASK (0xFu << 18)
#define RCC_CFGR_USBPRE (1u << 22)
#define RCC_CFGR_MCO_MASK (7u << 24)
#define RCC_CFGR_SW_HSI 0u
#define RCC_CFGR_SW_HSE 1u
#define RCC_CFGR_SW_PLL 2u

/* RCC_CIR: ready flags (read-only), interrupt enables, clear bits (write-only) */
#define RCC_CIR_LSIRDYF (1u << 0)
#define RCC_CIR_LSERDYF (1u << 1)
#define RCC_CIR_HSIRDYF (1u << 2)
#define RCC_CIR_HSERDYF (1u << 3)
#define RCC_CIR_PLLRDYF (1u << 4)
#define RCC_CIR_CSSF (1u << 7)
#define RCC_CIR_LSIRDYIE (1u << 8)
#define RCC_CIR_LSERDYIE (1u << 9)
#define RCC_CIR_HSIRDYIE (1u << 10)
#define RCC_CIR_HSERDYIE (1u << 11)
#define RCC_CIR_PLLRDYIE (1u << 12)
#define RCC_CIR_LSIRDYC (1u << 16)
#define RCC_CIR_LSERDYC (1u << 17)
#define RCC_CIR_HSIRDYC (1u << 18)
#define RCC_CIR_HSERDYC (1u << 19)
#define RCC_CIR_PLLRDYC (1u << 20)
#define RCC_CIR_CSSC (1u << 23)

/* RCC_APB2RSTR / RCC_APB2ENR bit numbers (medium density) */
#define RCC_APB2_AFIO 0
#define RCC_APB2_IOPA 2
#define RCC_APB2_IOPB 3
#define RCC_APB2_IOPC 4
#define RCC_APB2_IOPD 5
#define RCC_APB2_IOPE 6
#define RCC_APB2_ADC1 9
#define RCC_APB2_ADC2 10
#define RCC_APB2_TIM1 11
#define RCC_APB2_SPI1 12
#define RCC_APB2_USART1 14

/* RCC_APB1RSTR / RCC_APB1ENR bit numbers (medium density) */
#define RCC_APB1_TIM2 0
#define RCC_APB1_TIM3 1
#define RCC_APB1_TIM4 2
#define RCC_APB1_WWDG 11
#define RCC_APB1_SPI2 14
#define RCC_APB1_USART2 17
#define RCC_APB1_USART3 18
#define RCC_APB1_I2C1 21
#define RCC_APB1_I2C2 22
#define RCC_APB1_USB 23
#define RCC_APB1_CAN 25
#define RCC_APB1_BKP 27
#define RCC_APB1_PWR 28

/* RCC_AHBENR */
#define RCC_AHBENR_DMA1EN (1u << 0)
#define RCC_AHBENR_SRAMEN (1u << 2)
#define RCC_AHBENR_FLITFEN (1u << 4)
#define RCC_AHBENR_CRCEN (1u << 6)

/* RCC_BDCR */
#define RCC_BDCR_LSEON (1u << 0)
#define RCC_BDCR_LSERDY (1u << 1)
#define RCC_BDCR_LSEBYP (1u << 2)
#define RCC_BDCR_RTCSEL_SHIFT 8
#define RCC_BDCR_RTCSEL_MASK (3u << 8)
#define RCC_BDCR_RTCEN (1u << 15)
#define RCC_BDCR_BDRST (1u << 16)
#define RCC_BDCR_RTCSEL_NONE 0u
#define RCC_BDCR_RTCSEL_LSE 1u
#define RCC_BDCR_RTCSEL_LSI 2u
#define RCC_BDCR_RTCSEL_HSE 3u /* HSE / 128 */

/* RCC_CSR */
#define RCC_CSR_LSION (1u << 0)
#define RCC_CSR_LSIRDY (1u << 1)
#define RCC_CSR_RMVF (1u << 24)
#define RCC_CSR_PINRSTF (1u << 26)
#define RCC_CSR_PORRSTF (1u << 27)
#define RCC_CSR_SFTRSTF (1u << 28)
#define RCC_CSR_IWDGRSTF (1u << 29)
#define RCC_CSR_WWDGRSTF (1u << 30)
#define RCC_CSR_LPWRRSTF (1u << 31)

/* Clock frequencies of the Spark Core */
#define STM32_HSI_HZ 8000000u
#define STM32_HSE_HZ 8000000u /* 8 MHz crystal */
#define STM32_LSE_HZ 32768u
#define STM32_LSI_HZ 40000u

enum stm32_rcc_osc_id {
    STM32_RCC_HSI = 0,
    STM32_RCC_HSE,
    STM32_RCC_LSE,
    STM32_RCC_LSI,
    STM32_RCC_PLL, /* last: it depends on HSI or HSE */
    STM32_RCC_OSC_COUNT
};

/* Receivers of RCC_BDCR.BDRST (the backup domain held in reset while high). */
enum stm32_rcc_backup_reset_out {
    STM32_RCC_BACKUP_RESET_BKP = 0,
    STM32_RCC_BACKUP_RESET_RTC,
    STM32_RCC_BACKUP_RESET_COUNT
};

struct stm32_rcc;

struct stm32_rcc_osc {
    struct stm32_rcc *rcc;
    enum stm32_rcc_osc_id id;
    bool ready;
    bool target;       /* the ready state the pending event will establish */
    uint64_t startup;  /* cycles from enable to ready */
    uint64_t stop;     /* cycles from disable to not ready */
    struct event event;
};

struct stm32_rcc {
    struct sim *sim;

    uint32_t cr, cfgr, cir, apb2rstr, apb1rstr, ahbenr, apb2enr, apb1enr, bdcr, csr;

    struct stm32_rcc_osc osc[STM32_RCC_OSC_COUNT];

    /* incoming levels */
    bool dbp;        /* PWR_CR.DBP: BDCR LSEON/LSEBYP/RTCSEL/RTCEN writable */
    bool lsi_forced; /* the IWDG runs: LSI on regardless of LSION */

    /*
     * Outgoing connections.
     *   irq          RCC global interrupt (NVIC 5): CIR ready flags & enables
     *   apb1_reset   APB1RSTR bit n, high while software holds that block in reset
     *   apb2_reset   APB2RSTR bit n (e.g. apb1_reset[RCC_APB1_SPI2])
     *   rtc_clock    the RTC is clocked: RTCEN, RTCSEL = LSE and LSERDY
     *   backup_reset BDRST, one line per receiver (BKP and RTC)
     *   clock_change pulses (high then low) whenever SYSCLK, HCLK, PCLK1, PCLK2 or
     *                ADCCLK change; the SoC re-reads stm32_rcc_*_hz() on the rising edge
     */
    struct line irq;
    struct line apb1_reset[32];
    struct line apb2_reset[32];
    struct line rtc_clock;
    struct line backup_reset[STM32_RCC_BACKUP_RESET_COUNT];
    struct line clock_change;

    /* levels last driven */
    bool irq_level, rtc_clock_level, backup_reset_level;
    uint32_t clock_signature;
};

void stm32_rcc_init(struct stm32_rcc *rcc, struct sim *sim);
void stm32_rcc_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_rcc_mmio;

/* Incoming: PWR_CR.DBP (wire pwr.dbp[STM32_PWR_DBP_RCC] here). */
void stm32_rcc_dbp_in(void *opaque, int n, bool level);
/* Incoming: the IWDG forces the LSI on while it runs (wire iwdg.lsi_request here). */
void stm32_rcc_lsi_force_in(void *opaque, int n, bool level);

/*
 * Start-up time of an oscillator in CPU cycles (defaults in rcc.c). A board may
 * lengthen the LSE to a cold crystal's ~3 s, for instance.
 */
void stm32_rcc_set_startup(struct stm32_rcc *rcc, enum stm32_rcc_osc_id id, uint64_t cycles);

/* Current clock tree, from the registers and the ready oscillators. */
uint32_t stm32_rcc_sysclk_hz(const struct stm32_rcc *rcc);
uint32_t stm32_rcc_hclk_hz(const struct stm32_rcc *rcc);
uint32_t stm32_rcc_pclk1_hz(const struct stm32_rcc *rcc);
uint32_t stm32_rcc_pclk2_hz(const struct stm32_rcc *rcc);
/* TIMxCLK: PCLKx, times 2 when the APBx prescaler is not 1 (RM0008 7.2). */
uint32_t stm32_rcc_tim_apb1_hz(const struct stm32_rcc *rcc);
uint32_t stm32_rcc_tim_apb2_hz(const struct stm32_rcc *rcc);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_rcc_save(const struct stm32_rcc *d, struct snap_writer *w);
void stm32_rcc_load(struct stm32_rcc *d, struct snap_reader *r);

#endif
