/*
 * pwr.h - STM32F103 power control (RM0008 section 5), at 0x40007000.
 *
 * PWR_CR.DBP gates writes to the backup domain, which three blocks honour
 * (BKP, RCC_BDCR, RTC), so DBP leaves on one line per receiver. Low-power
 * entry itself is the CPU's business: it asks stm32_pwr_pdds()/lpds() on a
 * WFI with SCB_SCR.SLEEPDEEP, and reports a wake-up from Standby back here.
 * The supply voltage is an input (3.3 V unless a board says otherwise), so the
 * PVD output is computed, not assumed.
 */
#ifndef PERIPHERALS_STM32F1_PWR_H
#define PERIPHERALS_STM32F1_PWR_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_PWR_BASE 0x40007000u
#define STM32_PWR_SIZE 0x400u

#define PWR_CR 0x00u
#define PWR_CSR 0x04u

/* PWR_CR */
#define PWR_CR_LPDS (1u << 0)
#define PWR_CR_PDDS (1u << 1)
#define PWR_CR_CWUF (1u << 2)
#define PWR_CR_CSBF (1u << 3)
#define PWR_CR_PVDE (1u << 4)
#define PWR_CR_PLS_SHIFT 5
#define PWR_CR_PLS_MASK (7u << 5)
#define PWR_CR_DBP (1u << 8)

/* PWR_CSR */
#define PWR_CSR_WUF (1u << 0)
#define PWR_CSR_SBF (1u << 1)
#define PWR_CSR_PVDO (1u << 2)
#define PWR_CSR_EWUP (1u << 8)

#define STM32_PWR_VDD_DEFAULT_MV 3300u

/* Receivers of PWR_CR.DBP. */
enum stm32_pwr_dbp_out {
    STM32_PWR_DBP_BKP = 0,
    STM32_PWR_DBP_RCC,
    STM32_PWR_DBP_RTC,
    STM32_PWR_DBP_COUNT
};

struct stm32_pwr {
    struct sim *sim;
    uint32_t cr;  /* LPDS, PDDS, PVDE, PLS, DBP (CWUF/CSBF act and read 0) */
    uint32_t csr; /* WUF, SBF, EWUP (PVDO is computed) */
    unsigned vdd_mv;

    /*
     * Outgoing connections.
     *   dbp[i]  PWR_CR.DBP, one line per receiver (enum stm32_pwr_dbp_out)
     *   pvd     PVD output (PVDO), to EXTI line 16
     */
    struct line dbp[STM32_PWR_DBP_COUNT];
    struct line pvd;
    bool dbp_level, pvd_level;
};

void stm32_pwr_init(struct stm32_pwr *pwr, struct sim *sim);
void stm32_pwr_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_pwr_mmio;

/* Deep-sleep choice for WFI/WFE with SLEEPDEEP: Standby if PDDS, else Stop (LPDS: regulator low-power). */
bool stm32_pwr_pdds(const struct stm32_pwr *pwr);
bool stm32_pwr_lpds(const struct stm32_pwr *pwr);
/* PWR_CSR.EWUP: the WKUP pin (PA0) wakes the chip from Standby. */
bool stm32_pwr_ewup(const struct stm32_pwr *pwr);

/*
 * The chip left Standby: call after every block's reset for that wake-up. Sets
 * SBF, and WUF when the cause was a wake-up event (WKUP pin rising edge or RTC
 * alarm) rather than NRST or the IWDG.
 */
void stm32_pwr_standby_wakeup(struct stm32_pwr *pwr, bool wakeup_event);

/* The supply voltage seen by the PVD comparator. */
void stm32_pwr_set_vdd(struct stm32_pwr *pwr, unsigned millivolts);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_pwr_save(const struct stm32_pwr *d, struct snap_writer *w);
void stm32_pwr_load(struct stm32_pwr *d, struct snap_reader *r);

#endif
