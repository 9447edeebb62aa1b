/*
 * dbgmcu.h - STM32F103 MCU debug component (RM0008 section 31.16), at
 * 0xE0042000 in the private peripheral bus space: the device ID code and the
 * debug configuration register (DBG_IWDG_STOP, DBG_TIMx_STOP, ...).
 */
#ifndef PERIPHERALS_STM32F1_DBGMCU_H
#define PERIPHERALS_STM32F1_DBGMCU_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_DBGMCU_BASE 0xE0042000u
#define STM32_DBGMCU_SIZE 0x400u

#define DBGMCU_IDCODE 0x00u
#define DBGMCU_CR 0x04u

/*
 * DBGMCU_IDCODE: DEV_ID[11:0] 0x410 = medium density, REV_ID[31:16] 0x2003 =
 * revision "X"/"Y". Bits 15:12 are reserved in RM0008 but read 0x6 on
 * shipped medium-density parts (IDCODE 0x20036410).
 */
#define DBGMCU_IDCODE_DEV_ID_MD 0x410u
#define DBGMCU_IDCODE_REV_ID_X 0x2003u
#define DBGMCU_IDCODE_RESERVED_SILICON (0x6u << 12)
#define DBGMCU_IDCODE_MD ((DBGMCU_IDCODE_REV_ID_X << 16) | DBGMCU_IDCODE_RESERVED_SILICON | \
                          DBGMCU_IDCODE_DEV_ID_MD)

/* DBGMCU_CR */
#define DBGMCU_CR_DBG_SLEEP (1u << 0)
#define DBGMCU_CR_DBG_STOP (1u << 1)
#define DBGMCU_CR_DBG_STANDBY (1u << 2)
#define DBGMCU_CR_TRACE_IOEN (1u << 5)
#define DBGMCU_CR_TRACE_MODE_MASK (3u << 6)
#define DBGMCU_CR_DBG_IWDG_STOP (1u << 8)
#define DBGMCU_CR_DBG_WWDG_STOP (1u << 9)
#define DBGMCU_CR_DBG_TIM1_STOP (1u << 10)
#define DBGMCU_CR_DBG_TIM2_STOP (1u << 11)
#define DBGMCU_CR_DBG_TIM3_STOP (1u << 12)
#define DBGMCU_CR_DBG_TIM4_STOP (1u << 13)
#define DBGMCU_CR_DBG_CAN1_STOP (1u << 14)
#define DBGMCU_CR_DBG_I2C1_SMBUS_TIMEOUT (1u << 15)
#define DBGMCU_CR_DBG_I2C2_SMBUS_TIMEOUT (1u << 16)

struct stm32_dbgmcu {
    struct sim *sim;
    uint32_t idcode;
    uint32_t cr;
    /*
     * Errata ES096 (STM32F10x medium density) 2.3: the CPU reads IDCODE and CR
     * as 0 unless a debugger is connected. Off by default (both read their
     * value); a board that wants the silicon's behaviour sets it.
     */
    bool reads_zero_without_debugger;
    bool debugger_attached;
};

void stm32_dbgmcu_init(struct stm32_dbgmcu *dbg, struct sim *sim);
void stm32_dbgmcu_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_dbgmcu_mmio;

/* DBGMCU_CR, for the blocks' freeze-while-halted bits (a debugger stub asks). */
uint32_t stm32_dbgmcu_cr(const struct stm32_dbgmcu *dbg);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_dbgmcu_save(const struct stm32_dbgmcu *d, struct snap_writer *w);
void stm32_dbgmcu_load(struct stm32_dbgmcu *d, struct snap_reader *r);

#endif
