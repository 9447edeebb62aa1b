/*
 * crc.c - STM32F103 CRC calculation unit (RM0008 section 4).
 *
 * Design decision: the unit consumes whole 32-bit words; the hardware has no
 * byte mode on this family, so a narrower store to CRC_DR is fed as the word
 * it puts on the bus (its bytes in their lanes, the rest zero) and logged once.
 */
#include "crc.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define CRC_WORD_BITS 32
#define CRC_TOP_BIT 0x80000000u

uint32_t stm32_crc_step(uint32_t crc, uint32_t word)
{
    crc ^= word;
    for (int i = 0; i < CRC_WORD_BITS; i++)
        crc = (crc & CRC_TOP_BIT) ? (crc << 1) ^ CRC_POLYNOMIAL : crc << 1;
    return crc;
}

static uint32_t crc_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_crc *crc = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case CRC_DR: v = crc->dr; break;
    case CRC_IDR: v = crc->idr; break;
    case CRC_CR: v = 0; break; /* RESET is write-only */
    default:
        sim_warn_once(crc->sim, "CRC", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

static void crc_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_crc *crc = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    switch (w.reg) {
    case CRC_DR:
        if (size != 4)
            sim_warn_once(crc->sim, "CRC", offset, true,
                          "is narrower than a word (fed as a word with the other lanes 0)");
        crc->dr = stm32_crc_step(crc->dr, w.value);
        break;
    case CRC_IDR: crc->idr = (uint8_t)lane_merge(crc->idr, &w); break;
    case CRC_CR:
        if (w.value & CRC_CR_RESET)
            crc->dr = CRC_DR_RESET_VALUE;
        break;
    default: sim_warn_once(crc->sim, "CRC", offset, true, NULL); break;
    }
}

const struct mmio_ops stm32_crc_mmio = {
    .name = "CRC",
    .read = crc_read,
    .write = crc_write,
};

void stm32_crc_reset(void *dev, enum reset_cause cause)
{
    struct stm32_crc *crc = dev;
    (void)cause;
    crc->dr = CRC_DR_RESET_VALUE;
    crc->idr = 0;
}

void stm32_crc_init(struct stm32_crc *crc, struct sim *sim)
{
    memset(crc, 0, sizeof *crc);
    crc->sim = sim;
    stm32_crc_reset(crc, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void crc_fields(struct stm32_crc *d, struct snap_io *io)
{
    snap_io_u32(io, &d->dr);
    snap_io_u8(io, &d->idr);
}

SNAP_DEFINE_PAIR(stm32_crc, struct stm32_crc, crc_fields)
