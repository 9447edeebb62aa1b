/*
 * sst25vf016b.c - SST25VF016B 2 MiB SPI NOR flash (the Core's "sFlash").
 *
 * One chip-select cycle carries one instruction: the first byte is the opcode,
 * then address and data bytes; a state-changing instruction takes effect when
 * chip select goes high, as the datasheet requires. AAI word programming keeps
 * its state (AAI and WEL bits, next address) across cycles and ends with WRDI.
 *
 * Design decision: programs and erases land in the buffer at the END of their
 * busy time (an event), so a reader polling RDSR sees exactly the datasheet
 * behaviour; one "flash" trace record is written per byte program, per erase,
 * and per AAI sequence (when WRDI ends it, with its start address and length),
 * which keeps the trace bounded during the bootloader's bulk copies.
 */
#include "sst25vf016b.h"

#include "emu/snapshot.h"

#include <string.h>

#define ADDR_BYTES 3
#define ERASED 0xFF
#define MISO_IDLE 0xFF   /* SO is high-impedance; the bus pulls MISO high */
#define SO_BUSY 0x00     /* RY/BY# low while an AAI word programs (EBSY mode) */
#define ADDR_MASK (SST25_SIZE - 1)
#define AAI_WORD 2

/* Lowest protected address per BP2..BP0 (BP3 is "don't care" on this part). */
static const uint32_t protected_from[8] = {
    SST25_SIZE,           /* none */
    0x1F0000,             /* upper 1/32 */
    0x1E0000,             /* upper 1/16 */
    0x1C0000,             /* upper 1/8 */
    0x180000,             /* upper 1/4 */
    0x100000,             /* upper 1/2 */
    0x000000,             /* all blocks */
    0x000000,             /* all blocks */
};

static uint32_t protection_start(const struct sst25 *dev)
{
    return protected_from[(dev->status >> 2) & 7];
}

/* Is any byte of [addr, addr+len) inside the protected area? */
static bool region_protected(const struct sst25 *dev, uint32_t addr, uint32_t len)
{
    return (uint64_t)addr + len > protection_start(dev);
}

static void trace_op(struct sst25 *dev, const char *op, uint32_t addr, uint32_t len)
{
    sim_trace(dev->sim, "flash", "\"op\":\"%s\",\"dev\":\"external\",\"addr\":%u,\"len\":%u", op,
              (unsigned)addr, (unsigned)len);
}

static void aai_end(struct sst25 *dev)
{
    dev->status &= (uint8_t)~(SST25_SR_AAI | SST25_SR_WEL);
    if (dev->aai_run_len)
        trace_op(dev, "program", dev->aai_run_addr, dev->aai_run_len);
    dev->aai_run_len = 0;
}

static void busy_complete(struct sst25 *dev)
{
    switch (dev->busy_op) {
    case SST25_BUSY_PROGRAM:
        dev->mem[dev->busy_addr] &= dev->busy_data[0];
        dev->status &= (uint8_t)~SST25_SR_WEL;
        trace_op(dev, "program", dev->busy_addr, 1);
        break;
    case SST25_BUSY_AAI_WORD:
        /* AAI and WEL stay set: the sequence goes on until WRDI. */
        dev->mem[dev->busy_addr] &= dev->busy_data[0];
        dev->mem[dev->busy_addr + 1] &= dev->busy_data[1];
        dev->aai_run_len += AAI_WORD;
        break;
    case SST25_BUSY_ERASE:
        memset(dev->mem + dev->busy_addr, ERASED, dev->busy_len);
        dev->status &= (uint8_t)~SST25_SR_WEL;
        trace_op(dev, "erase", dev->busy_addr, dev->busy_len);
        break;
    case SST25_IDLE:
        break;
    }
    dev->busy_op = SST25_IDLE;
}

static void busy_done_event(struct sim *sim, void *opaque)
{
    (void)sim;
    busy_complete(opaque);
}

/*
 * The CPU fires events at block boundaries; a status poll inside a block may
 * run after the busy time has passed but before the event fired. Finish the
 * operation then, so BUSY never reads set past its datasheet time.
 */
static void catch_up(struct sst25 *dev)
{
    if (dev->busy_op != SST25_IDLE && sim_now(dev->sim) >= dev->busy_done.when) {
        event_cancel(dev->sim, &dev->busy_done);
        busy_complete(dev);
    }
}

static void busy_start(struct sst25 *dev, enum sst25_busy_op op, uint32_t addr, uint32_t len,
                       uint64_t duration)
{
    dev->busy_op = op;
    dev->busy_addr = addr;
    dev->busy_len = len;
    dev->busy_data[0] = dev->data[0];
    dev->busy_data[1] = dev->data[1];
    event_schedule_in(dev->sim, &dev->busy_done, duration);
}

uint8_t sst25_status(struct sst25 *dev)
{
    catch_up(dev);
    return (uint8_t)(dev->status | (dev->busy_op != SST25_IDLE ? SST25_SR_BUSY : 0));
}

/* During AAI only AAI words, WRDI and RDSR are valid (datasheet). */
static bool valid_during_aai(uint8_t opcode)
{
    return opcode == SST25_AAI_WORD_PROGRAM || opcode == SST25_WRDI || opcode == SST25_RDSR;
}

static void instruction_begin(struct sst25 *dev, uint8_t opcode)
{
    dev->opcode = opcode;
    dev->addr = 0;
    /* EWSR enables only the instruction right after it. */
    dev->ewsr_was_enabled = dev->ewsr_enabled;
    dev->ewsr_enabled = false;
    dev->ignored = (dev->busy_op != SST25_IDLE && opcode != SST25_RDSR) ||
                   ((dev->status & SST25_SR_AAI) && !valid_during_aai(opcode));
}

/* Bytes 1-3 of an instruction that takes an address are A23-A16, A15-A8, A7-A0. */
static bool in_address(uint32_t index)
{
    return index >= 1 && index <= ADDR_BYTES;
}

static uint8_t read_data_byte(struct sst25 *dev)
{
    uint8_t value = dev->mem[dev->addr & ADDR_MASK];
    dev->addr = (dev->addr + 1) & ADDR_MASK; /* reads wrap at the top of the array */
    return value;
}

static uint8_t idle_miso(struct sst25 *dev)
{
    if (dev->ebsy && (dev->status & SST25_SR_AAI) && dev->busy_op == SST25_BUSY_AAI_WORD)
        return SO_BUSY;
    return MISO_IDLE;
}

static uint8_t sst25_exchange(void *opaque, uint8_t mosi)
{
    struct sst25 *dev = opaque;
    uint32_t index = dev->count++;

    catch_up(dev);
    if (index == 0) {
        instruction_begin(dev, mosi);
        return idle_miso(dev);
    }
    if (dev->ignored)
        return idle_miso(dev);

    bool aai_continuation = false;
    switch (dev->opcode) {
    case SST25_RDSR:
        sim_note_volatile_read(dev->sim);
        return sst25_status(dev);
    case SST25_JEDEC_ID: {
        static const uint8_t id[] = {SST25_JEDEC_MANUFACTURER, SST25_JEDEC_MEMORY_TYPE,
                                     SST25_JEDEC_DEVICE};
        return id[(index - 1) % sizeof id];
    }
    case SST25_RDID:
    case SST25_RDID_ALT:
        if (in_address(index)) {
            dev->addr = (dev->addr << 8) | mosi;
            return MISO_IDLE;
        }
        /* A0 picks which ID comes first; the two then alternate. */
        return ((index - 1 - ADDR_BYTES) + (dev->addr & 1)) % 2 ? SST25_JEDEC_DEVICE
                                                              : SST25_JEDEC_MANUFACTURER;
    case SST25_READ:
    case SST25_HIGH_SPEED_READ: {
        uint32_t first_data = ADDR_BYTES + 1 + (dev->opcode == SST25_HIGH_SPEED_READ ? 1 : 0);
        if (in_address(index)) {
            dev->addr = (dev->addr << 8) | mosi;
            return MISO_IDLE;
        }
        if (index < first_data)
            return MISO_IDLE; /* the high-speed read's dummy byte */
        return read_data_byte(dev);
    }
    case SST25_WRSR:
        if (index == 1)
            dev->data[0] = mosi;
        return MISO_IDLE;
    case SST25_BYTE_PROGRAM:
        if (in_address(index))
            dev->addr = (dev->addr << 8) | mosi;
        else if (index == ADDR_BYTES + 1)
            dev->data[0] = mosi;
        return MISO_IDLE;
    case SST25_AAI_WORD_PROGRAM:
        aai_continuation = (dev->status & SST25_SR_AAI) != 0;
        if (!aai_continuation && in_address(index))
            dev->addr = (dev->addr << 8) | mosi;
        else {
            uint32_t data_index = index - 1 - (aai_continuation ? 0 : ADDR_BYTES);
            if (data_index < AAI_WORD)
                dev->data[data_index] = mosi;
        }
        return idle_miso(dev);
    case SST25_SECTOR_ERASE:
    case SST25_BLOCK_ERASE_32K:
    case SST25_BLOCK_ERASE_64K:
        if (in_address(index))
            dev->addr = (dev->addr << 8) | mosi;
        return MISO_IDLE;
    default:
        return MISO_IDLE;
    }
}

static bool write_enabled(const struct sst25 *dev)
{
    return (dev->status & SST25_SR_WEL) != 0;
}

static void erase_region(struct sst25 *dev, uint32_t size, uint64_t duration)
{
    uint32_t base = dev->addr & ADDR_MASK & ~(size - 1);
    if (write_enabled(dev) && !region_protected(dev, base, size))
        busy_start(dev, SST25_BUSY_ERASE, base, size, duration);
}

static void write_status(struct sst25 *dev)
{
    if (!dev->ewsr_was_enabled && !write_enabled(dev))
        return;
    /* With WP# low, BPL=1 makes BP0-BP3 and BPL read-only. */
    if ((dev->status & SST25_SR_BPL) && dev->wp_low)
        return;
    uint8_t writable = SST25_SR_BP_MASK | SST25_SR_BPL;
    dev->status = (uint8_t)((dev->status & ~writable) | (dev->data[0] & writable));
    dev->status &= (uint8_t)~SST25_SR_WEL;
}

static void aai_word(struct sst25 *dev, bool first)
{
    if (first) {
        uint32_t word = dev->addr & ADDR_MASK & ~1u; /* A0 selects the byte within the word */
        if (!write_enabled(dev) || region_protected(dev, word, AAI_WORD))
            return;
        dev->status |= SST25_SR_AAI;
        dev->aai_addr = word;
        dev->aai_run_addr = word;
        dev->aai_run_len = 0;
    } else if (dev->aai_addr >= SST25_SIZE || region_protected(dev, dev->aai_addr, AAI_WORD)) {
        /* No wrap: past the highest unprotected address the chip leaves AAI. */
        aai_end(dev);
        return;
    }
    busy_start(dev, SST25_BUSY_AAI_WORD, dev->aai_addr, AAI_WORD, SST25_TBP);
    dev->aai_addr += AAI_WORD;
}

/* Chip select went high: execute the instruction if it was complete. */
static void instruction_end(struct sst25 *dev)
{
    uint32_t n = dev->count;
    dev->count = 0;
    if (n == 0 || dev->ignored)
        return;

    switch (dev->opcode) {
    case SST25_WREN:
        if (n == 1)
            dev->status |= SST25_SR_WEL;
        break;
    case SST25_WRDI:
        if (n == 1) {
            if (dev->status & SST25_SR_AAI)
                aai_end(dev);
            dev->status &= (uint8_t)~SST25_SR_WEL;
        }
        break;
    case SST25_EWSR:
        if (n == 1)
            dev->ewsr_enabled = true;
        break;
    case SST25_WRSR:
        if (n == 2)
            write_status(dev);
        break;
    case SST25_EBSY:
        if (n == 1)
            dev->ebsy = true;
        break;
    case SST25_DBSY:
        if (n == 1)
            dev->ebsy = false;
        break;
    case SST25_BYTE_PROGRAM:
        if (n == 1 + ADDR_BYTES + 1 && write_enabled(dev)) {
            uint32_t addr = dev->addr & ADDR_MASK;
            if (!region_protected(dev, addr, 1))
                busy_start(dev, SST25_BUSY_PROGRAM, addr, 1, SST25_TBP);
        }
        break;
    case SST25_AAI_WORD_PROGRAM: {
        bool continuation = (dev->status & SST25_SR_AAI) != 0;
        if (n == 1 + (continuation ? 0 : ADDR_BYTES) + AAI_WORD)
            aai_word(dev, !continuation);
        break;
    }
    case SST25_SECTOR_ERASE:
        if (n == 1 + ADDR_BYTES)
            erase_region(dev, SST25_SECTOR_SIZE, SST25_TSE);
        break;
    case SST25_BLOCK_ERASE_32K:
        if (n == 1 + ADDR_BYTES)
            erase_region(dev, SST25_BLOCK32_SIZE, SST25_TBE);
        break;
    case SST25_BLOCK_ERASE_64K:
        if (n == 1 + ADDR_BYTES)
            erase_region(dev, SST25_BLOCK64_SIZE, SST25_TBE);
        break;
    case SST25_CHIP_ERASE:
    case SST25_CHIP_ERASE_ALT:
        /* Ignored when any block is protected. */
        if (n == 1 && write_enabled(dev) && protection_start(dev) == SST25_SIZE)
            busy_start(dev, SST25_BUSY_ERASE, 0, SST25_SIZE, SST25_TSCE);
        break;
    default:
        break;
    }
}

static void sst25_select(void *opaque, bool selected)
{
    struct sst25 *dev = opaque;
    catch_up(dev);
    if (selected == dev->selected)
        return;
    dev->selected = selected;
    if (selected)
        dev->count = 0;
    else
        instruction_end(dev);
}

const struct spi_slave_ops sst25_spi_ops = {
    .name = "sst25vf016b",
    .exchange = sst25_exchange,
    .select = sst25_select,
};

void sst25_init(struct sst25 *dev, struct sim *sim, uint8_t *mem)
{
    memset(dev, 0, sizeof *dev);
    dev->sim = sim;
    dev->mem = mem;
    event_init(&dev->busy_done, busy_done_event, dev, "sst25-busy");
    dev->status = SST25_SR_POWER_UP;
}

void sst25_reset(struct sst25 *dev, enum reset_cause cause)
{
    dev->count = 0;
    dev->selected = false;
    if (cause != RESET_POWER)
        return;
    /* A program or erase cut by power loss is modelled as never having happened. */
    event_cancel(dev->sim, &dev->busy_done);
    dev->busy_op = SST25_IDLE;
    if (dev->status & SST25_SR_AAI)
        aai_end(dev); /* record the words an unfinished AAI sequence did program */
    dev->status = SST25_SR_POWER_UP;
    dev->ewsr_enabled = false;
    dev->ebsy = false;
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void sst25_fields(struct sst25 *d, struct snap_io *io)
{
    /* the 2 MiB array itself is the snapshot's EXTFLASH section, written last */
    snap_io_u8(io, &d->status);
    snap_io_bool(io, &d->ewsr_enabled);
    snap_io_bool(io, &d->ebsy);
    snap_io_bool(io, &d->wp_low);
    snap_io_bool(io, &d->selected);
    snap_io_u8(io, &d->opcode);
    snap_io_bool(io, &d->ignored);
    snap_io_u32(io, &d->count);
    snap_io_u32(io, &d->addr);
    snap_io_bytes(io, d->data, sizeof d->data);
    snap_io_bool(io, &d->ewsr_was_enabled);
    snap_io_u32(io, &d->aai_addr);
    snap_io_u32(io, &d->aai_run_addr);
    snap_io_u32(io, &d->aai_run_len);
    int op = (int)d->busy_op;
    snap_io_int(io, &op);
    snap_io_check(io, op >= SST25_IDLE && op <= SST25_BUSY_ERASE, "unknown busy operation");
    d->busy_op = (enum sst25_busy_op)op;
    snap_io_u32(io, &d->busy_addr);
    snap_io_u32(io, &d->busy_len);
    snap_io_bytes(io, d->busy_data, sizeof d->busy_data);
    snap_io_event(io, &d->busy_done);
}

SNAP_DEFINE_PAIR(sst25, struct sst25, sst25_fields)
