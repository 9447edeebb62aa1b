/*
 * crc.h - STM32F103 CRC calculation unit (RM0008 section 4), at 0x40023000:
 * CRC-32 with the Ethernet polynomial 0x04C11DB7, fed one 32-bit word at a
 * time (most significant bit first, no reflection), initial value 0xFFFFFFFF.
 */
#ifndef PERIPHERALS_STM32F1_CRC_H
#define PERIPHERALS_STM32F1_CRC_H

#include "periph.h"

#include <stdint.h>

#define STM32_CRC_BASE 0x40023000u
#define STM32_CRC_SIZE 0x400u

#define CRC_DR 0x00u
#define CRC_IDR 0x04u
#define CRC_CR 0x08u

#define CRC_CR_RESET (1u << 0)
#define CRC_DR_RESET_VALUE 0xFFFFFFFFu
#define CRC_POLYNOMIAL 0x04C11DB7u

struct stm32_crc {
    struct sim *sim;
    uint32_t dr;  /* the running CRC */
    uint8_t idr;  /* independent data register: 8 bits of scratch */
};

void stm32_crc_init(struct stm32_crc *crc, struct sim *sim);
void stm32_crc_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_crc_mmio;

/* One step of the unit: the CRC after feeding `word` to a CRC of `crc`. */
uint32_t stm32_crc_step(uint32_t crc, uint32_t word);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_crc_save(const struct stm32_crc *d, struct snap_writer *w);
void stm32_crc_load(struct stm32_crc *d, struct snap_reader *r);

#endif
