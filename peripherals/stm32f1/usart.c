/*
 * usart.c - STM32F103 USART1/USART2, asynchronous mode (RM0008 section 27):
 * TDR + shift register with TXE/TC timed from BRR, RDR with RXNE/ORE/IDLE,
 * the flag-clearing sequences, the interrupt line and the DMA request lines.
 *
 * Design decision: nothing is clocked per bit. A byte that enters the shift
 * register schedules one event at the end of its frame (start, data, parity
 * and stop bits at PCLK/BRR baud); the sink hears the byte then, and TC
 * rises if no byte waits in TDR. SR bits therefore change only at events or
 * register accesses, so a loop polling TXE/TC can be fast-forwarded.
 *
 * Not modelled (warn once): synchronous clock output, LIN, IrDA, smartcard,
 * half-duplex, hardware flow control, sending breaks.
 */
#include "usart.h"

#include "emu/snapshot.h"

#include <string.h>

#define USART_CR1_MASK 0x3FFFu
#define USART_CR2_MASK 0x7F7Fu
#define USART_CR3_MASK 0x07FFu
#define USART_DR_MASK_8 0x00FFu
#define USART_DR_MASK_9 0x01FFu
#define USART_SR_RC_W0 (USART_SR_RXNE | USART_SR_TC | USART_SR_LBD | USART_SR_CTS)
#define USART_SR_ERRORS (USART_SR_PE | USART_SR_FE | USART_SR_NE | USART_SR_ORE | USART_SR_IDLE)
/* BRR holds USARTDIV * 16; a mantissa of 0 is not a valid divider. */
#define USART_BRR_MIN 16u
/* Frame length in half bits: start bit, data bits, stop bits (CR2.STOP). */
#define USART_HALF_BITS_START 2u
static const unsigned usart_stop_half_bits[4] = {2u, 1u, 4u, 3u}; /* 1, 0.5, 2, 1.5 */

static bool usart_tx_enabled(const struct stm32_usart *u)
{
    return (u->cr1 & (USART_CR1_UE | USART_CR1_TE)) == (USART_CR1_UE | USART_CR1_TE);
}

uint64_t stm32_usart_frame_cycles(const struct stm32_usart *u)
{
    unsigned data_bits = (u->cr1 & USART_CR1_M) ? 9u : 8u;
    unsigned half_bits = USART_HALF_BITS_START + 2u * data_bits +
                         usart_stop_half_bits[(u->cr2 & USART_CR2_STOP_MASK) >> USART_CR2_STOP_SHIFT];
    uint64_t brr = u->brr < USART_BRR_MIN ? USART_BRR_MIN : u->brr;
    /* one bit lasts BRR PCLK cycles */
    uint64_t num = (uint64_t)half_bits * brr * SIM_HZ;
    uint64_t den = 2ull * u->pclk_hz;
    return (num + den - 1) / den;
}

static bool usart_irq_level(const struct stm32_usart *u)
{
    uint16_t sr = u->sr, cr1 = u->cr1, cr3 = u->cr3;
    return ((cr1 & USART_CR1_TXEIE) && (sr & USART_SR_TXE)) ||
           ((cr1 & USART_CR1_TCIE) && (sr & USART_SR_TC)) ||
           ((cr1 & USART_CR1_RXNEIE) && (sr & (USART_SR_RXNE | USART_SR_ORE))) ||
           ((cr1 & USART_CR1_IDLEIE) && (sr & USART_SR_IDLE)) ||
           ((cr1 & USART_CR1_PEIE) && (sr & USART_SR_PE)) ||
           ((cr3 & USART_CR3_CTSIE) && (sr & USART_SR_CTS)) ||
           ((cr3 & USART_CR3_EIE) && (cr3 & USART_CR3_DMAR) &&
            (sr & (USART_SR_FE | USART_SR_NE | USART_SR_ORE)));
}

/* Levels are recomputed before each line: a DMA callback may write DR meanwhile. */
static void usart_update_lines(struct stm32_usart *u)
{
    bool changed;
    do {
        changed = false;
        bool level = (u->sr & USART_SR_TXE) && (u->cr3 & USART_CR3_DMAT);
        if (level != u->dma_tx_level) {
            u->dma_tx_level = level;
            line_set(&u->dma_tx, level);
            changed = true;
        }
        level = (u->sr & USART_SR_RXNE) && (u->cr3 & USART_CR3_DMAR);
        if (level != u->dma_rx_level) {
            u->dma_rx_level = level;
            line_set(&u->dma_rx, level);
            changed = true;
        }
        level = usart_irq_level(u);
        if (level != u->irq_level) {
            u->irq_level = level;
            line_set(&u->irq, level);
            changed = true;
        }
    } while (changed);
}

/* Move TDR into an idle shift register and start its frame. */
static void usart_start_tx(struct stm32_usart *u)
{
    if (!u->tdr_full || u->shifting || !usart_tx_enabled(u))
        return;
    u->shift_byte = u->tdr;
    u->tdr_full = false;
    u->shifting = true;
    u->sr |= USART_SR_TXE;
    u->sr &= (uint16_t)~USART_SR_TC;
    event_schedule_in(u->sim, &u->tx_done, stm32_usart_frame_cycles(u));
}

static void usart_tx_done(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_usart *u = opaque;
    u->shifting = false;
    if (u->sink.tx)
        u->sink.tx(u->sink.opaque, (uint8_t)u->shift_byte);
    usart_start_tx(u);
    if (!u->shifting)
        u->sr |= USART_SR_TC;
    usart_update_lines(u);
}

static void usart_idle(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_usart *u = opaque;
    if (u->cr1 & USART_CR1_RE) {
        u->sr |= USART_SR_IDLE;
        usart_update_lines(u);
    }
}

bool stm32_usart_receive(struct stm32_usart *u, uint8_t byte)
{
    if ((u->cr1 & (USART_CR1_UE | USART_CR1_RE)) != (USART_CR1_UE | USART_CR1_RE))
        return false;
    if (u->sr & USART_SR_RXNE) {
        u->sr |= USART_SR_ORE; /* RDR keeps the unread byte */
    } else {
        u->rdr = byte;
        u->sr |= USART_SR_RXNE;
    }
    event_schedule_in(u->sim, &u->idle_ev, stm32_usart_frame_cycles(u));
    usart_update_lines(u);
    return true;
}

static void usart_write_cr1(struct stm32_usart *u, uint16_t value)
{
    u->cr1 = value & USART_CR1_MASK;
    if (u->cr1 & USART_CR1_SBK) {
        sim_warn_once(u->sim, u->name, USART_CR1, true, "sending a break is not modelled");
        u->cr1 &= (uint16_t)~USART_CR1_SBK;
    }
    if (!(u->cr1 & USART_CR1_RE))
        event_cancel(u->sim, &u->idle_ev);
    usart_start_tx(u);
}

static uint32_t usart_read_reg(struct stm32_usart *u, uint32_t offset)
{
    switch (offset) {
    case USART_SR:
        u->sr_read = (u->sr & USART_SR_ERRORS) != 0;
        return u->sr;
    case USART_DR:
        sim_note_volatile_read(u->sim);
        if (u->sr_read)
            u->sr &= (uint16_t)~USART_SR_ERRORS;
        u->sr_read = false;
        u->sr &= (uint16_t)~USART_SR_RXNE;
        return u->rdr;
    case USART_BRR: return u->brr;
    case USART_CR1: return u->cr1;
    case USART_CR2: return u->cr2;
    case USART_CR3: return u->cr3;
    case USART_GTPR: return u->gtpr;
    default:
        sim_warn_once(u->sim, u->name, offset, false, NULL);
        return 0;
    }
}

static void usart_write_reg(struct stm32_usart *u, uint32_t offset, uint16_t value)
{
    switch (offset) {
    case USART_SR: u->sr &= (uint16_t)(value | ~USART_SR_RC_W0); break;
    case USART_DR:
        u->tdr = value & ((u->cr1 & USART_CR1_M) ? USART_DR_MASK_9 : USART_DR_MASK_8);
        u->tdr_full = true;
        u->sr &= (uint16_t)~(USART_SR_TXE | USART_SR_TC);
        usart_start_tx(u);
        break;
    case USART_BRR: u->brr = value; break;
    case USART_CR1: usart_write_cr1(u, value); break;
    case USART_CR2:
        u->cr2 = value & USART_CR2_MASK;
        if (u->cr2 & (USART_CR2_LINEN | USART_CR2_CLKEN))
            sim_warn_once(u->sim, u->name, offset, true,
                          "LIN and synchronous modes are not modelled");
        break;
    case USART_CR3:
        u->cr3 = value & USART_CR3_MASK;
        if (u->cr3 & (USART_CR3_IREN | USART_CR3_HDSEL | USART_CR3_SCEN | USART_CR3_RTSE |
                      USART_CR3_CTSE))
            sim_warn_once(u->sim, u->name, offset, true,
                          "IrDA, half-duplex, smartcard and flow control are not modelled");
        break;
    case USART_GTPR: u->gtpr = value; break;
    default: sim_warn_once(u->sim, u->name, offset, true, NULL); break;
    }
}

static uint32_t usart_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_usart *u = opaque;
    uint32_t value = usart_read_reg(u, offset & ~3u) >> (8 * (offset & 3u));
    usart_update_lines(u);
    return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

static void usart_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_usart *u = opaque;
    (void)size;
    usart_write_reg(u, offset & ~3u, (uint16_t)(value << (8 * (offset & 3u))));
    usart_update_lines(u);
}

const struct mmio_ops stm32_usart_mmio = {
    .name = "usart",
    .read = usart_read,
    .write = usart_write,
};

void stm32_usart_reset(void *dev, enum reset_cause cause)
{
    struct stm32_usart *u = dev;
    (void)cause;
    event_cancel(u->sim, &u->tx_done);
    event_cancel(u->sim, &u->idle_ev);
    u->sr = USART_SR_RESET;
    u->brr = u->cr1 = u->cr2 = u->cr3 = u->gtpr = 0;
    u->tdr = u->rdr = u->shift_byte = 0;
    u->tdr_full = u->shifting = u->sr_read = false;
    usart_update_lines(u);
}

void stm32_usart_init(struct stm32_usart *usart, struct sim *sim, const char *name,
                      uint32_t pclk_hz)
{
    memset(usart, 0, sizeof *usart);
    usart->sim = sim;
    usart->name = name;
    usart->pclk_hz = pclk_hz ? pclk_hz : (uint32_t)SIM_HZ;
    event_init(&usart->tx_done, usart_tx_done, usart, name);
    event_init(&usart->idle_ev, usart_idle, usart, name);
    stm32_usart_reset(usart, RESET_POWER);
}

void stm32_usart_set_clock(struct stm32_usart *usart, uint32_t pclk_hz)
{
    if (pclk_hz)
        usart->pclk_hz = pclk_hz; /* a frame already on the wire keeps its end time */
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void usart_fields(struct stm32_usart *d, struct snap_io *io)
{
    snap_io_u32(io, &d->pclk_hz);
    snap_io_u16(io, &d->sr);
    snap_io_u16(io, &d->brr);
    snap_io_u16(io, &d->cr1);
    snap_io_u16(io, &d->cr2);
    snap_io_u16(io, &d->cr3);
    snap_io_u16(io, &d->gtpr);
    snap_io_u16(io, &d->tdr);
    snap_io_u16(io, &d->rdr);
    snap_io_bool(io, &d->tdr_full);
    snap_io_bool(io, &d->shifting);
    snap_io_u16(io, &d->shift_byte);
    snap_io_bool(io, &d->sr_read);
    snap_io_event(io, &d->tx_done);
    snap_io_event(io, &d->idle_ev);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->dma_tx_level);
    snap_io_bool(io, &d->dma_rx_level);
}

SNAP_DEFINE_PAIR(stm32_usart, struct stm32_usart, usart_fields)
