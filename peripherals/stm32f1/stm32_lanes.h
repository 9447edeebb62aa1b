/*
 * stm32_lanes.h - byte-lane arithmetic shared by the STM32F1 system blocks
 * (RCC, FLASH, GPIO, AFIO, EXTI, BKP, PWR, RTC, IWDG, DBGMCU, CRC).
 *
 * Design decision: a block sees every CPU access as (offset, value, size), and
 * firmware really does use byte and half-word accesses on 32-bit registers
 * (StdPeriph's RCC_LSEConfig stores single bytes to RCC_BDCR). So each block
 * first turns an access into the aligned register, the value moved to its
 * byte lanes, and the mask of the lanes written; a write then changes only
 * bits inside that mask, and a write-1-to-clear bit can only be cleared by a
 * lane that was actually written.
 */
#ifndef PERIPHERALS_STM32F1_STM32_LANES_H
#define PERIPHERALS_STM32F1_STM32_LANES_H

#include <stdint.h>

struct lane_write {
    uint32_t reg;   /* aligned register offset */
    uint32_t value; /* the written bytes, in their lanes */
    uint32_t mask;  /* the lanes written */
};

static inline uint32_t lane_bits(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (1u << (size * 8u)) - 1u;
}

static inline struct lane_write lane_write_of(uint32_t offset, uint32_t value, unsigned size)
{
    unsigned shift = (offset & 3u) * 8u;
    struct lane_write w;
    w.reg = offset & ~3u;
    w.mask = lane_bits(size) << shift;
    w.value = (value << shift) & w.mask;
    return w;
}

/* The register with the written lanes replaced. */
static inline uint32_t lane_merge(uint32_t old, const struct lane_write *w)
{
    return (old & ~w->mask) | w->value;
}

/* The bytes a read of `size` at `offset` returns from the register value. */
static inline uint32_t lane_read(uint32_t regval, uint32_t offset, unsigned size)
{
    return (regval >> ((offset & 3u) * 8u)) & lane_bits(size);
}

#endif
