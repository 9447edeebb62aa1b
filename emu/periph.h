/*
 * periph.h - the one interface every chip block and external device follows.
 *
 * A block is a plain struct with:
 *   - `xxx_init(struct xxx *, struct sim *, ...)`: set up, schedule nothing yet;
 *   - `xxx_reset(struct xxx *, enum reset_cause)`: power-on vs system reset
 *     (a system reset keeps the backup domain and both flashes);
 *   - a `const struct mmio_ops` (read/write by offset) if it is memory-mapped;
 *   - typed connections instead of calls into other blocks: outgoing
 *     `struct line` members the board or SoC fills in (IRQ lines, GPIO outputs,
 *     DMA requests, chip selects), and incoming line handlers the board points
 *     other blocks' lines at.
 * A block never names another block; the SoC file (stm32f103.c) and the board
 * file (boards/spark_core.c) do all the wiring.
 *
 * `struct periph` is the registration record the machine keeps so that it can
 * reset every block in order and list them, and save and load each one's
 * state in a snapshot (xxx_save/xxx_load, emu/snapshot.h).
 */
#ifndef EMU_PERIPH_H
#define EMU_PERIPH_H

#include "bus.h"
#include "sim.h"

struct snap_writer;
struct snap_reader;
struct periph {
    const char *name;
    void *dev;
    void (*reset)(void *dev, enum reset_cause cause);
    /* the block's state in a snapshot (emu/snapshot.h), its own section named `name`; NULL: stateless */
    void (*save)(const void *dev, struct snap_writer *w);
    void (*load)(void *dev, struct snap_reader *r);
};

/*
 * An SPI slave on a shared bus: `exchange` is one full-duplex byte (MOSI in,
 * MISO out); `select` follows its active-low chip-select pin (true = selected).
 */
struct spi_slave_ops {
    const char *name;
    uint8_t (*exchange)(void *dev, uint8_t mosi);
    void (*select)(void *dev, bool selected);
};

struct spi_slave {
    const struct spi_slave_ops *ops;
    void *dev;
    bool selected;
};

/* A shared SPI bus: the master exchanges a byte with every selected slave. */
#define SPI_BUS_MAX_SLAVES 4
struct spi_bus {
    struct spi_slave slaves[SPI_BUS_MAX_SLAVES];
    int count;
};

static inline int spi_bus_attach(struct spi_bus *bus, const struct spi_slave_ops *ops, void *dev)
{
    if (bus->count >= SPI_BUS_MAX_SLAVES)
        return -1;
    bus->slaves[bus->count].ops = ops;
    bus->slaves[bus->count].dev = dev;
    bus->slaves[bus->count].selected = false;
    return bus->count++;
}

/* MISO idles high; several selected slaves would fight, the lowest bits win. */
static inline uint8_t spi_bus_exchange(struct spi_bus *bus, uint8_t mosi)
{
    uint8_t miso = 0xFF;
    for (int i = 0; i < bus->count; i++)
        if (bus->slaves[i].selected)
            miso &= bus->slaves[i].ops->exchange(bus->slaves[i].dev, mosi);
    return miso;
}

/* Line handler for a slave's chip select: `n` is the slave index, level low = selected. */
static inline void spi_bus_cs_line(void *opaque, int n, bool level)
{
    struct spi_bus *bus = opaque;
    bool sel = !level;
    if (n < 0 || n >= bus->count || bus->slaves[n].selected == sel)
        return;
    bus->slaves[n].selected = sel;
    if (bus->slaves[n].ops->select)
        bus->slaves[n].ops->select(bus->slaves[n].dev, sel);
}

#endif
