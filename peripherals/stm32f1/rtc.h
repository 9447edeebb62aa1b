/*
 * rtc.h - STM32F103 real-time clock (RM0008 section 18), at 0x40002800.
 *
 * RTCCLK is the 32768 Hz LSE, counted from virtual time: the prescaler
 * (RTC_DIV) and the counter (RTC_CNT) are computed when read, and one event
 * sits at each prescaler overflow (each second with PRL = 32767), never one
 * per RTCCLK tick. The core (PRL, DIV, CNT, ALR) lives in the backup domain
 * and keeps counting across system resets; only a power-on or a backup domain
 * reset (RCC_BDCR.BDRST) clears it. The control registers (CRH, CRL) are on
 * the APB side and are reset by every reset.
 */
#ifndef PERIPHERALS_STM32F1_RTC_H
#define PERIPHERALS_STM32F1_RTC_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_RTC_BASE 0x40002800u
#define STM32_RTC_SIZE 0x400u
#define STM32_RTC_CLOCK_HZ 32768u

#define RTC_CRH 0x00u
#define RTC_CRL 0x04u
#define RTC_PRLH 0x08u
#define RTC_PRLL 0x0Cu
#define RTC_DIVH 0x10u
#define RTC_DIVL 0x14u
#define RTC_CNTH 0x18u
#define RTC_CNTL 0x1Cu
#define RTC_ALRH 0x20u
#define RTC_ALRL 0x24u

/* RTC_CRH */
#define RTC_CRH_SECIE (1u << 0)
#define RTC_CRH_ALRIE (1u << 1)
#define RTC_CRH_OWIE (1u << 2)
/* RTC_CRL */
#define RTC_CRL_SECF (1u << 0)
#define RTC_CRL_ALRF (1u << 1)
#define RTC_CRL_OWF (1u << 2)
#define RTC_CRL_RSF (1u << 3)
#define RTC_CRL_CNF (1u << 4)
#define RTC_CRL_RTOFF (1u << 5)

#define RTC_PRL_MASK 0xFFFFFu /* 20 bits */
#define RTC_PRL_RESET 0x8000u
#define RTC_ALR_RESET 0xFFFFFFFFu

struct stm32_rtc {
    struct sim *sim;

    /* APB interface (system reset) */
    uint16_t crh;
    uint16_t crl; /* SECF, ALRF, OWF, RSF, CNF; RTOFF is computed */

    /* core (backup domain) */
    uint32_t prl, div, cnt, alr;

    /* values written in configuration mode, applied once CNF is cleared */
    uint32_t new_prl, new_cnt, new_alr;
    unsigned pending;  /* which of them were written */
    bool writing;      /* RTOFF = 0: the core is taking the written values */

    /* RTCCLK */
    bool clocked;       /* RCC: RTCEN, LSE selected and ready */
    uint64_t clock_base; /* cycle of RTCCLK tick 0 */
    uint64_t tick;      /* ticks since clock_base the core has been advanced to */

    /* incoming levels */
    bool dbp;
    bool held_in_reset;

    struct event second; /* the next prescaler overflow */
    struct event resync; /* RSF at the next RTCCLK edge */
    struct event commit; /* end of the write to the core (RTOFF back to 1) */

    /*
     * Outgoing connections.
     *   irq      RTC global interrupt (NVIC 3): SECF/ALRF/OWF with SECIE/ALRIE/OWIE
     *   alarm    RTC alarm signal to EXTI line 17: high from the second the counter
     *            reaches RTC_ALR until the next counter change
     */
    struct line irq;
    struct line alarm;
    bool irq_level, alarm_level;
};

void stm32_rtc_init(struct stm32_rtc *rtc, struct sim *sim);
void stm32_rtc_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_rtc_mmio;

/* Incoming: RTCCLK runs (wire rcc.rtc_clock here). */
void stm32_rtc_enable_in(void *opaque, int n, bool level);
/* Incoming: PWR_CR.DBP (wire pwr.dbp[STM32_PWR_DBP_RTC] here). */
void stm32_rtc_dbp_in(void *opaque, int n, bool level);
/* Incoming: RCC_BDCR.BDRST (wire rcc.backup_reset[STM32_RCC_BACKUP_RESET_RTC] here). */
void stm32_rtc_backup_reset_in(void *opaque, int n, bool level);

/* RTC_CNT now (for a state file or a panel). */
uint32_t stm32_rtc_counter(struct stm32_rtc *rtc);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_rtc_save(const struct stm32_rtc *d, struct snap_writer *w);
void stm32_rtc_load(struct stm32_rtc *d, struct snap_reader *r);

#endif
