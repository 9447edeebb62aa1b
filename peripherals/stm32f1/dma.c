/*
 * dma.c - STM32F103 DMA1 (RM0008 section 13): seven channels with priority
 * arbitration, peripheral/memory increments and data sizes, circular mode,
 * memory-to-memory, and the TC/HT/TE flags and interrupt lines.
 *
 * Design decision: a single transfer is instantaneous, and transfers happen
 * in one servicing loop: whenever an enabled channel has a request (or is
 * MEM2MEM), the loop performs single transfers, highest priority first, until
 * nothing is pending. A transfer's bus access can raise or drop request lines
 * (an SPI DR write fills its TX buffer and drops the TX request), which calls
 * back into this block: while the loop runs such calls only record the level,
 * and the loop picks the request up. The SPI raises TXE and RXNE once per
 * frame, in an event, so an SPI transfer moves one item per frame, at the bit
 * rate. Interrupt lines follow the flags only after the loop ends.
 */
#include "dma.h"

#include "emu/snapshot.h"

#include <string.h>

#define DMA_SIZE_MASK 3u
#define DMA_PL_MASK 3u
#define DMA_CNDTR_MASK 0xFFFFu
#define DMA_ISR_CHANNEL_BITS 4u
#define DMA_ISR_CHANNEL_MASK 0xFu
#define DMA_ISR_MASK 0x0FFFFFFFu
#define DMA_REQUEST_CHANNEL_MASK 0xF
#define DMA_REQUEST_REQUESTER_SHIFT 4
#define DMA_REQUESTERS 8
#define DMA_REG_END (DMA_CMAR(DMA_CHANNELS) + 4u)

/*
 * A request that never drops (a circular channel on an always-ready
 * peripheral) would make the instantaneous loop endless: after this many
 * transfers the loop yields and resumes DMA_RESUME_CYCLES later.
 */
#define DMA_BURST_LIMIT 0x10000u
#define DMA_RESUME_CYCLES (2u * DMA_BURST_LIMIT)

static unsigned dma_unit_bytes(uint32_t ccr, unsigned shift)
{
    unsigned code = (ccr >> shift) & DMA_SIZE_MASK;
    return code >= 2 ? 4u : 1u << code; /* 11 is reserved: behave as 32-bit */
}

static uint32_t dma_channel_flags(const struct stm32_dma *d, int i)
{
    return (d->isr >> (DMA_ISR_CHANNEL_BITS * (unsigned)i)) & DMA_ISR_CHANNEL_MASK;
}

static void dma_set_flags(struct stm32_dma *d, int i, uint32_t flags)
{
    /* GIFx latches with any event of the channel; only CGIFx clears it. */
    d->isr |= (flags | DMA_ISR_GIF(1)) << (DMA_ISR_CHANNEL_BITS * (unsigned)i);
}

static bool dma_ready(const struct stm32_dma_channel *c)
{
    return (c->ccr & DMA_CCR_EN) && c->cndtr != 0 && (c->request || (c->ccr & DMA_CCR_MEM2MEM));
}

/* Highest priority level wins; among equals, the lower channel number. */
static int dma_pick(const struct stm32_dma *d)
{
    int best = -1;
    unsigned best_pl = 0;
    for (int i = 0; i < DMA_CHANNELS; i++) {
        const struct stm32_dma_channel *c = &d->ch[i];
        unsigned pl = (c->ccr >> DMA_CCR_PL_SHIFT) & DMA_PL_MASK;
        if (dma_ready(c) && (best < 0 || pl > best_pl)) {
            best = i;
            best_pl = pl;
        }
    }
    return best;
}

static void dma_note_write(struct stm32_dma *d, uint32_t addr, unsigned size)
{
    if (addr - SRAM_BASE >= SRAM_SIZE)
        return;
    if (d->dirty_hi == 0 || addr < d->dirty_lo)
        d->dirty_lo = addr;
    if (addr + size > d->dirty_hi)
        d->dirty_hi = addr + size;
}

static void dma_transfer(struct stm32_dma *d, int i)
{
    struct stm32_dma_channel *c = &d->ch[i];
    unsigned psize = dma_unit_bytes(c->ccr, DMA_CCR_PSIZE_SHIFT);
    unsigned msize = dma_unit_bytes(c->ccr, DMA_CCR_MSIZE_SHIFT);
    bool from_memory = c->ccr & DMA_CCR_DIR;
    uint32_t src = from_memory ? c->cur_mar : c->cur_par;
    uint32_t dst = from_memory ? c->cur_par : c->cur_mar;
    unsigned src_size = from_memory ? msize : psize;
    unsigned dst_size = from_memory ? psize : msize;

    /* Narrowing keeps the low bits, widening pads with zeros (RM0008 table 76). */
    uint32_t value = 0;
    if (bus_read(d->sim->bus, src, src_size, &value) != BUS_OK ||
        bus_write(d->sim->bus, dst, dst_size,
                  dst_size >= 4 ? value : value & ((1u << (8 * dst_size)) - 1)) != BUS_OK) {
        dma_set_flags(d, i, DMA_ISR_TEIF(1));
        c->ccr &= ~DMA_CCR_EN;
        sim_log(d->sim, LOG_WARN, "%s channel %d: bus error at 0x%08x -> 0x%08x, channel disabled",
                d->name, i + 1, (unsigned)src, (unsigned)dst);
        return;
    }
    dma_note_write(d, dst, dst_size);

    if (c->ccr & DMA_CCR_PINC)
        c->cur_par += psize;
    if (c->ccr & DMA_CCR_MINC)
        c->cur_mar += msize;
    c->cndtr--;
    if (c->cndtr == c->cndtr_reload / 2)
        dma_set_flags(d, i, DMA_ISR_HTIF(1));
    if (c->cndtr == 0) {
        dma_set_flags(d, i, DMA_ISR_TCIF(1));
        if ((c->ccr & DMA_CCR_CIRC) && !(c->ccr & DMA_CCR_MEM2MEM)) {
            c->cndtr = c->cndtr_reload;
            c->cur_par = c->cpar;
            c->cur_mar = c->cmar;
        }
    }
}

static void dma_update_irqs(struct stm32_dma *d)
{
    for (int i = 0; i < DMA_CHANNELS; i++) {
        uint32_t flags = dma_channel_flags(d, i);
        uint32_t ccr = d->ch[i].ccr;
        bool level = ((flags & DMA_ISR_TCIF(1)) && (ccr & DMA_CCR_TCIE)) ||
                     ((flags & DMA_ISR_HTIF(1)) && (ccr & DMA_CCR_HTIE)) ||
                     ((flags & DMA_ISR_TEIF(1)) && (ccr & DMA_CCR_TEIE));
        if (level != d->irq_level[i]) {
            d->irq_level[i] = level;
            line_set(&d->irq[i], level);
        }
    }
}

static void dma_service(struct stm32_dma *d)
{
    if (d->servicing)
        return; /* the running loop will see the new request */
    d->servicing = true;
    unsigned transfers = 0;
    int i;
    while ((i = dma_pick(d)) >= 0) {
        if (transfers++ == DMA_BURST_LIMIT) {
            event_schedule_in(d->sim, &d->resume, DMA_RESUME_CYCLES);
            break;
        }
        dma_transfer(d, i);
    }
    d->servicing = false;
    if (d->dirty_hi) {
        /* DMA writes bypass the CPU: code cached from that RAM is stale. */
        sim_invalidate_code(d->sim, d->dirty_lo, d->dirty_hi - d->dirty_lo);
        d->dirty_lo = d->dirty_hi = 0;
    }
    dma_update_irqs(d);
}

static void dma_resume(struct sim *sim, void *opaque)
{
    (void)sim;
    dma_service(opaque);
}

void stm32_dma_request_in(void *opaque, int n, bool level)
{
    struct stm32_dma *d = opaque;
    int channel = n & DMA_REQUEST_CHANNEL_MASK;
    int requester = n >> DMA_REQUEST_REQUESTER_SHIFT;
    if (channel < 1 || channel > DMA_CHANNELS || requester < 0 || requester >= DMA_REQUESTERS) {
        sim_log(d->sim, LOG_ERROR, "%s: request line %d is not wired to a channel 1..7", d->name, n);
        return;
    }
    struct stm32_dma_channel *c = &d->ch[channel - 1];
    uint8_t bit = (uint8_t)(1u << requester);
    c->request = level ? (uint8_t)(c->request | bit) : (uint8_t)(c->request & ~bit);
    if (level)
        dma_service(d);
}

static void dma_write_ccr(struct stm32_dma *d, int i, uint32_t value)
{
    struct stm32_dma_channel *c = &d->ch[i];
    bool enabling = (value & DMA_CCR_EN) && !(c->ccr & DMA_CCR_EN);
    c->ccr = value & DMA_CCR_MASK;
    if ((value & DMA_CCR_MEM2MEM) && (value & DMA_CCR_CIRC))
        sim_warn_once(d->sim, d->name, DMA_CCR(i + 1), true,
                      "MEM2MEM with CIRC is not allowed; the channel runs once");
    if (enabling) {
        c->cur_par = c->cpar;
        c->cur_mar = c->cmar;
        c->cndtr_reload = c->cndtr;
    }
}

static uint32_t dma_read_reg(struct stm32_dma *d, uint32_t offset)
{
    if (offset == DMA_ISR)
        return d->isr;
    if (offset == DMA_IFCR)
        return 0;
    if (offset >= DMA_CCR(1) && offset < DMA_REG_END) {
        int i = (int)((offset - DMA_CCR(1)) / DMA_CHANNEL_STRIDE);
        const struct stm32_dma_channel *c = &d->ch[i];
        switch ((offset - DMA_CCR(1)) % DMA_CHANNEL_STRIDE) {
        case 0x0: return c->ccr;
        case 0x4: return c->cndtr;
        case 0x8: return c->cpar;
        case 0xC: return c->cmar;
        default: break; /* the reserved word after each channel */
        }
    }
    sim_warn_once(d->sim, d->name, offset, false, NULL);
    return 0;
}

static void dma_write_reg(struct stm32_dma *d, uint32_t offset, uint32_t value)
{
    if (offset == DMA_IFCR) {
        for (int i = 0; i < DMA_CHANNELS; i++) {
            uint32_t clear = (value >> (DMA_ISR_CHANNEL_BITS * (unsigned)i)) & DMA_ISR_CHANNEL_MASK;
            if (clear & DMA_ISR_GIF(1))
                clear = DMA_ISR_CHANNEL_MASK; /* CGIFx clears the channel's four flags */
            d->isr &= ~(clear << (DMA_ISR_CHANNEL_BITS * (unsigned)i));
        }
        return;
    }
    if (offset >= DMA_CCR(1) && offset < DMA_REG_END) {
        int i = (int)((offset - DMA_CCR(1)) / DMA_CHANNEL_STRIDE);
        struct stm32_dma_channel *c = &d->ch[i];
        bool enabled = c->ccr & DMA_CCR_EN;
        switch ((offset - DMA_CCR(1)) % DMA_CHANNEL_STRIDE) {
        case 0x0: dma_write_ccr(d, i, value); return;
        case 0x4:
            if (enabled)
                sim_warn_once(d->sim, d->name, offset, true,
                              "CNDTR is read-only while the channel is enabled");
            else
                c->cndtr = value & DMA_CNDTR_MASK;
            return;
        case 0x8:
        case 0xC:
            if (enabled)
                sim_warn_once(d->sim, d->name, offset, true,
                              "address written while the channel is enabled; it takes effect "
                              "at the next enable");
            if ((offset - DMA_CCR(1)) % DMA_CHANNEL_STRIDE == 0x8)
                c->cpar = value;
            else
                c->cmar = value;
            return;
        default: break;
        }
    }
    sim_warn_once(d->sim, d->name, offset, true, NULL);
}

static uint32_t dma_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_dma *d = opaque;
    uint32_t value = dma_read_reg(d, offset & ~3u) >> (8 * (offset & 3u));
    return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

static void dma_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_dma *d = opaque;
    (void)size;
    dma_write_reg(d, offset & ~3u, value << (8 * (offset & 3u)));
    dma_service(d);
    if (d->servicing)
        return; /* written by a transfer of the running loop: it updates the lines */
    dma_update_irqs(d);
}

const struct mmio_ops stm32_dma_mmio = {
    .name = "dma",
    .read = dma_read,
    .write = dma_write,
};

void stm32_dma_reset(void *dev, enum reset_cause cause)
{
    struct stm32_dma *d = dev;
    (void)cause;
    event_cancel(d->sim, &d->resume);
    d->isr = 0;
    for (int i = 0; i < DMA_CHANNELS; i++) {
        uint8_t request = d->ch[i].request; /* the requesters' lines keep their levels */
        memset(&d->ch[i], 0, sizeof d->ch[i]);
        d->ch[i].request = request;
    }
    d->dirty_lo = d->dirty_hi = 0;
    if (!d->servicing)
        dma_update_irqs(d);
}

void stm32_dma_init(struct stm32_dma *dma, struct sim *sim, const char *name)
{
    memset(dma, 0, sizeof *dma);
    dma->sim = sim;
    dma->name = name;
    event_init(&dma->resume, dma_resume, dma, name);
    stm32_dma_reset(dma, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void dma_fields(struct stm32_dma *d, struct snap_io *io)
{
    snap_io_u32(io, &d->isr);
    for (int i = 0; i < DMA_CHANNELS; i++) {
        struct stm32_dma_channel *c = &d->ch[i];
        snap_io_u32(io, &c->ccr);
        snap_io_u32(io, &c->cndtr);
        snap_io_u32(io, &c->cpar);
        snap_io_u32(io, &c->cmar);
        snap_io_u32(io, &c->cndtr_reload);
        snap_io_u32(io, &c->cur_par);
        snap_io_u32(io, &c->cur_mar);
        snap_io_u8(io, &c->request);
    }
    snap_io_bool(io, &d->servicing);
    snap_io_event(io, &d->resume);
    snap_io_u32(io, &d->dirty_lo);
    snap_io_u32(io, &d->dirty_hi);
    SNAP_IO_BOOLS(io, d->irq_level);
}

SNAP_DEFINE_PAIR(stm32_dma, struct stm32_dma, dma_fields)
