/*
 * bkp.h - STM32F103 backup registers (RM0008 section 6), at 0x40006C00.
 *
 * The medium-density part has ten 16-bit data registers (BKP_DR1..DR10), the
 * RTC calibration register and the tamper logic. Everything here is in the
 * backup domain: it survives every reset except a power-on (RESET_POWER) or a
 * backup domain reset (RCC_BDCR.BDRST), and writes need PWR_CR.DBP.
 */
#ifndef PERIPHERALS_STM32F1_BKP_H
#define PERIPHERALS_STM32F1_BKP_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_BKP_BASE 0x40006C00u
#define STM32_BKP_SIZE 0x400u

#define STM32_BKP_DR_COUNT 10

/* Register offsets: BKP_DRn is at 4 * n (n = 1..10) */
#define BKP_DR1 0x04u
#define BKP_DR10 0x28u
#define BKP_RTCCR 0x2Cu
#define BKP_CR 0x30u
#define BKP_CSR 0x34u

/* BKP_RTCCR */
#define BKP_RTCCR_CAL_MASK 0x7Fu
#define BKP_RTCCR_CCO (1u << 7)
#define BKP_RTCCR_ASOE (1u << 8)
#define BKP_RTCCR_ASOS (1u << 9)
/* BKP_CR */
#define BKP_CR_TPE (1u << 0)
#define BKP_CR_TPAL (1u << 1)
/* BKP_CSR */
#define BKP_CSR_CTE (1u << 0)
#define BKP_CSR_CTI (1u << 1)
#define BKP_CSR_TPIE (1u << 2)
#define BKP_CSR_TEF (1u << 8)
#define BKP_CSR_TIF (1u << 9)

struct stm32_bkp {
    struct sim *sim;
    uint16_t dr[STM32_BKP_DR_COUNT]; /* dr[0] = BKP_DR1 */
    uint16_t rtccr, cr, csr;

    /* incoming levels */
    bool dbp;            /* PWR_CR.DBP */
    bool held_in_reset;  /* RCC_BDCR.BDRST */
    bool tamper_pin;     /* level of the TAMPER pin (PC13) */
    bool tamper_armed;   /* TPE and the pin at its active level: events on its rising edge */

    /* Outgoing: TAMPER interrupt (NVIC 2), TIF. */
    struct line irq_tamper;
    bool irq_level;
};

void stm32_bkp_init(struct stm32_bkp *bkp, struct sim *sim);
void stm32_bkp_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_bkp_mmio;

/* Incoming: PWR_CR.DBP (wire pwr.dbp[STM32_PWR_DBP_BKP] here). */
void stm32_bkp_dbp_in(void *opaque, int n, bool level);
/* Incoming: RCC_BDCR.BDRST (wire rcc.backup_reset[STM32_RCC_BACKUP_RESET_BKP] here). */
void stm32_bkp_backup_reset_in(void *opaque, int n, bool level);
/* Incoming: the TAMPER pin level (PC13), for the tamper detection of BKP_CR. */
void stm32_bkp_tamper_in(void *opaque, int n, bool level);

/* The data registers, for the machine's state file (dr[0] = BKP_DR1). */
void stm32_bkp_save(const struct stm32_bkp *bkp, uint16_t dr[STM32_BKP_DR_COUNT]);
void stm32_bkp_load(struct stm32_bkp *bkp, const uint16_t dr[STM32_BKP_DR_COUNT]);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_bkp_snapshot_save(const struct stm32_bkp *d, struct snap_writer *w);
void stm32_bkp_snapshot_load(struct stm32_bkp *d, struct snap_reader *r);

#endif
