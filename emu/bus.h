/*
 * bus.h - the system bus: memories (host buffers) and memory-mapped blocks.
 *
 * Design decision: blocks register a window [base, base+size) with a small ops
 * table; the bus dispatches by 1 KiB slot, so lookup is one array index. The
 * CPU reaches the same dispatch through Unicorn MMIO regions, and DMA or host
 * tools through bus_read/bus_write, so both see identical behaviour. Bit-band
 * aliases (0x22000000 for SRAM, 0x42000000 for peripherals) are implemented
 * here, on top of the same dispatch.
 */
#ifndef EMU_BUS_H
#define EMU_BUS_H

#include "sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* STM32F103CB memory map */
#define FLASH_BASE 0x08000000u
#define FLASH_SIZE (128u * 1024u)
#define SRAM_BASE 0x20000000u
#define SRAM_SIZE (20u * 1024u)
#define SYSMEM_BASE 0x1FFFF000u /* system memory, flash-size word, unique ID */
#define SYSMEM_SIZE 0x800u
#define OPTBYTES_BASE 0x1FFFF800u
#define FLASHSIZE_ADDR 0x1FFFF7E0u
#define UID_ADDR 0x1FFFF7E8u
#define PERIPH_BASE 0x40000000u
#define PERIPH_SIZE 0x00024000u /* up to and including CRC at 0x40023000 */
#define SRAM_BB_BASE 0x22000000u
#define PERIPH_BB_BASE 0x42000000u
#define PPB_BASE 0xE0000000u
#define PPB_SIZE 0x00100000u

/*
 * The interface every memory-mapped block implements. `offset` is relative to
 * the block's base; `size` is 1, 2 or 4 bytes. Registers nobody modelled
 * should answer their reset value and call sim_warn_once().
 */
struct mmio_ops {
    const char *name;
    uint32_t (*read)(void *opaque, uint32_t offset, unsigned size);
    void (*write)(void *opaque, uint32_t offset, uint32_t value, unsigned size);
};

enum bus_status {
    BUS_OK = 0,
    BUS_FAULT, /* nothing answers at that address: a bus error */
};

struct bus_window {
    uint32_t base, size;
    const struct mmio_ops *ops;
    void *opaque;
};

struct bus {
    struct sim *sim;
    uint8_t *flash;  /* FLASH_SIZE bytes, at FLASH_BASE and aliased at 0 */
    uint8_t *sram;   /* SRAM_SIZE bytes */
    uint8_t *sysmem; /* SYSMEM_SIZE + 0x400 bytes: system memory + option bytes */
    /* peripheral and PPB windows, looked up by 1 KiB slot */
    struct bus_window *periph_slot[PERIPH_SIZE >> 10];
    struct bus_window *ppb_slot[PPB_SIZE >> 10];
    struct bus_window windows[64];
    int nwindows;
    /*
     * Stores that target flash go to the flash interface (FPEC), which applies
     * NOR programming rules; `offset` is relative to the start of flash.
     */
    void (*flash_write)(void *opaque, uint32_t offset, uint32_t value, unsigned size);
    void *flash_write_opaque;
};

void bus_init(struct bus *bus, struct sim *sim, uint8_t *flash, uint8_t *sram, uint8_t *sysmem);
/* Register a block at [base, base+size) in the peripheral or PPB space. */
int bus_map(struct bus *bus, uint32_t base, uint32_t size, const struct mmio_ops *ops,
            void *opaque);
const struct bus_window *bus_find(const struct bus *bus, uint32_t addr);

/* Accesses as a bus master other than the CPU (DMA, tools, tests) would make. */
enum bus_status bus_read(struct bus *bus, uint32_t addr, unsigned size, uint32_t *value);
enum bus_status bus_write(struct bus *bus, uint32_t addr, unsigned size, uint32_t value);

/* Dispatch within the peripheral / PPB space (used by the CPU's MMIO regions). */
uint32_t bus_periph_read(struct bus *bus, uint32_t addr, unsigned size);
void bus_periph_write(struct bus *bus, uint32_t addr, uint32_t value, unsigned size);

/* Bit-band arithmetic (ARMv7-M B3.1.3): alias word -> (word address, bit). */
static inline uint32_t bitband_word(uint32_t alias_base, uint32_t region_base, uint32_t alias)
{
    return region_base + (((alias - alias_base) >> 5) & ~3u);
}
static inline unsigned bitband_bit(uint32_t alias_base, uint32_t alias)
{
    return ((alias - alias_base) >> 2) & 31u;
}
uint32_t bus_bitband_read(struct bus *bus, uint32_t alias_base, uint32_t region_base,
                          uint32_t alias);
void bus_bitband_write(struct bus *bus, uint32_t alias_base, uint32_t region_base,
                       uint32_t alias, uint32_t value);

#endif
