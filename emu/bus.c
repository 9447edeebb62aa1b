/*
 * bus.c - address decoding for bus masters: memories are host buffers,
 * blocks are windows looked up by 1 KiB slot, and the two bit-band aliases
 * turn a word access into a read-modify-write of one bit.
 */
#include "bus.h"

#include <string.h>

void bus_init(struct bus *bus, struct sim *sim, uint8_t *flash, uint8_t *sram, uint8_t *sysmem)
{
    memset(bus, 0, sizeof *bus);
    bus->sim = sim;
    bus->flash = flash;
    bus->sram = sram;
    bus->sysmem = sysmem;
    sim->bus = bus;
}

int bus_map(struct bus *bus, uint32_t base, uint32_t size, const struct mmio_ops *ops,
            void *opaque)
{
    struct bus_window **slots;
    uint32_t first;
    if (base >= PERIPH_BASE && size <= PERIPH_SIZE && base - PERIPH_BASE <= PERIPH_SIZE - size) {
        slots = bus->periph_slot;
        first = (base - PERIPH_BASE) >> 10;
    } else if (base >= PPB_BASE && size <= PPB_SIZE && base - PPB_BASE <= PPB_SIZE - size) {
        slots = bus->ppb_slot;
        first = (base - PPB_BASE) >> 10;
    } else {
        return -1;
    }
    if ((base & 0x3FF) || (size & 0x3FF) || size == 0)
        return -1;
    if (bus->nwindows == (int)(sizeof bus->windows / sizeof bus->windows[0]))
        return -1;
    for (uint32_t i = 0; i < size >> 10; i++)
        if (slots[first + i])
            return -1;
    struct bus_window *w = &bus->windows[bus->nwindows++];
    w->base = base;
    w->size = size;
    w->ops = ops;
    w->opaque = opaque;
    for (uint32_t i = 0; i < size >> 10; i++)
        slots[first + i] = w;
    return 0;
}

const struct bus_window *bus_find(const struct bus *bus, uint32_t addr)
{
    if (addr - PERIPH_BASE < PERIPH_SIZE)
        return bus->periph_slot[(addr - PERIPH_BASE) >> 10];
    if (addr - PPB_BASE < PPB_SIZE)
        return bus->ppb_slot[(addr - PPB_BASE) >> 10];
    return NULL;
}

/* STM32F103 blocks that exist on the chip but are not modelled (RM0008 memory map) */
static const struct {
    uint32_t base;
    const char *name;
} unmodelled[] = {
    {0x40002C00u, "WWDG"},   {0x40004800u, "USART3"}, {0x40005400u, "I2C1"}, {0x40005800u, "I2C2"},
    {0x40005C00u, "USB"},    {0x40006000u, "USB/CAN SRAM"}, {0x40006400u, "bxCAN"},
};

static const char *unmodelled_block(uint32_t addr, uint32_t *offset)
{
    for (size_t i = 0; i < sizeof unmodelled / sizeof unmodelled[0]; i++)
        if (addr - unmodelled[i].base < 0x400u) {
            *offset = addr - unmodelled[i].base;
            return unmodelled[i].name;
        }
    *offset = addr;
    return NULL;
}

static void warn_no_block(struct bus *bus, uint32_t addr, bool write)
{
    uint32_t offset;
    const char *name = unmodelled_block(addr, &offset);
    char what[80];
    snprintf(what, sizeof what, "(0x%08x) is not modelled (%s)", addr, write ? "write ignored" : "reads 0");
    if (name)
        sim_warn_once(bus->sim, name, offset, write, what);
    else
        sim_warn_once(bus->sim, "bus", addr, write,
                      write ? "is reserved: no block there (write ignored)" : "is reserved: no block there (reads 0)");
}

uint32_t bus_periph_read(struct bus *bus, uint32_t addr, unsigned size)
{
    const struct bus_window *w = bus_find(bus, addr);
    if (!w || !w->ops->read) {
        warn_no_block(bus, addr, false);
        return 0;
    }
    return w->ops->read(w->opaque, addr - w->base, size);
}

void bus_periph_write(struct bus *bus, uint32_t addr, uint32_t value, unsigned size)
{
    const struct bus_window *w = bus_find(bus, addr);
    if (!w || !w->ops->write) {
        warn_no_block(bus, addr, true);
        return;
    }
    w->ops->write(w->opaque, addr - w->base, value, size);
}

static uint32_t load_le(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return p[0];
    case 2: return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    default: return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
}

static void store_le(uint8_t *p, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t bus_bitband_read(struct bus *bus, uint32_t alias_base, uint32_t region_base,
                          uint32_t alias)
{
    uint32_t word;
    if (bus_read(bus, bitband_word(alias_base, region_base, alias), 4, &word) != BUS_OK)
        return 0;
    return (word >> bitband_bit(alias_base, alias)) & 1u;
}

void bus_bitband_write(struct bus *bus, uint32_t alias_base, uint32_t region_base,
                       uint32_t alias, uint32_t value)
{
    uint32_t addr = bitband_word(alias_base, region_base, alias);
    uint32_t bit = 1u << bitband_bit(alias_base, alias);
    uint32_t word;
    if (bus_read(bus, addr, 4, &word) != BUS_OK)
        return;
    word = (value & 1u) ? (word | bit) : (word & ~bit);
    bus_write(bus, addr, 4, word);
}

enum bus_status bus_read(struct bus *bus, uint32_t addr, unsigned size, uint32_t *value)
{
    if (addr - FLASH_BASE < FLASH_SIZE && addr - FLASH_BASE + size <= FLASH_SIZE)
        *value = load_le(bus->flash + (addr - FLASH_BASE), size);
    else if (addr < FLASH_SIZE && addr + size <= FLASH_SIZE)
        *value = load_le(bus->flash + addr, size);
    else if (addr - SRAM_BASE < SRAM_SIZE && addr - SRAM_BASE + size <= SRAM_SIZE)
        *value = load_le(bus->sram + (addr - SRAM_BASE), size);
    else if (addr - SYSMEM_BASE < SYSMEM_SIZE + 0x400 && addr - SYSMEM_BASE + size <= SYSMEM_SIZE + 0x400)
        *value = load_le(bus->sysmem + (addr - SYSMEM_BASE), size);
    else if (addr - SRAM_BB_BASE < (SRAM_SIZE << 5))
        *value = bus_bitband_read(bus, SRAM_BB_BASE, SRAM_BASE, addr);
    else if (addr - PERIPH_BB_BASE < (PERIPH_SIZE << 5))
        *value = bus_bitband_read(bus, PERIPH_BB_BASE, PERIPH_BASE, addr);
    else if (addr - PERIPH_BASE < PERIPH_SIZE || addr - PPB_BASE < PPB_SIZE)
        *value = bus_periph_read(bus, addr, size);
    else
        return BUS_FAULT;
    return BUS_OK;
}

enum bus_status bus_write(struct bus *bus, uint32_t addr, unsigned size, uint32_t value)
{
    if (addr - SRAM_BASE < SRAM_SIZE && addr - SRAM_BASE + size <= SRAM_SIZE)
        store_le(bus->sram + (addr - SRAM_BASE), size, value);
    else if ((addr - FLASH_BASE < FLASH_SIZE) || addr < FLASH_SIZE) {
        /* Flash is written only through the FPEC, which takes the access. */
        if (bus->flash_write)
            bus->flash_write(bus->flash_write_opaque, addr & (FLASH_SIZE - 1), value, size);
    } else if (addr - SRAM_BB_BASE < (SRAM_SIZE << 5))
        bus_bitband_write(bus, SRAM_BB_BASE, SRAM_BASE, addr, value);
    else if (addr - PERIPH_BB_BASE < (PERIPH_SIZE << 5))
        bus_bitband_write(bus, PERIPH_BB_BASE, PERIPH_BASE, addr, value);
    else if (addr - PERIPH_BASE < PERIPH_SIZE || addr - PPB_BASE < PPB_SIZE)
        bus_periph_write(bus, addr, value, size);
    else if (addr - SYSMEM_BASE < SYSMEM_SIZE + 0x400)
        return BUS_OK; /* system memory and option bytes are read-only to stores */
    else
        return BUS_FAULT;
    return BUS_OK;
}
