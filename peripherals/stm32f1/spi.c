/*
 * spi.c - STM32F103 SPI1/SPI2 master (RM0008 section 25): DR, the TX buffer
 * and the shift register clocked at PCLK / BR, the RXNE/TXE/BSY handshake,
 * overrun and mode-fault flags with their clearing sequences, the interrupt
 * line and the two DMA request lines.
 *
 * Design decision: a frame takes its time on the wire (8 or 16 bit-times of
 * PCLK / 2^(BR+1)) and is exchanged with the slaves when its last bit is
 * shifted, one event per frame. As RM0008 25.3.3 says, a DR write goes to the
 * TX buffer (TXE = 0) and moves to the idle shift register at once (TXE = 1,
 * BSY = 1); a frame written meanwhile waits in the buffer until the shift
 * ends. At the end RXNE (or OVR) is set and the waiting frame, if any, starts
 * shifting, so a master that keeps the buffer full keeps BSY set. Flags change
 * only at those events, so status polls are plain reads the idle-loop skip can
 * jump over, and a DMA channel gets one request per frame. Level changes go
 * out on the lines from spi_update_lines(), which re-reads the state before
 * every line so that a DMA controller reading DR from inside a line callback
 * (it does, during a DMA transfer) sees and leaves consistent state.
 *
 * Not modelled (warn once): slave mode, receive-only and bidirectional modes,
 * hardware CRC, I2S.
 */
#include "spi.h"

#include "emu/snapshot.h"

#include <string.h>

#define SPI_CR2_MASK 0x00E7u
#define SPI_FRAME8_MASK 0x00FFu
#define SPI_FRAME16_MASK 0xFFFFu
#define SPI_ERROR_FLAGS (SPI_SR_OVR | SPI_SR_MODF | SPI_SR_CRCERR)

static uint8_t reverse_bits8(uint8_t b)
{
    b = (uint8_t)((b & 0xF0u) >> 4 | (b & 0x0Fu) << 4);
    b = (uint8_t)((b & 0xCCu) >> 2 | (b & 0x33u) << 2);
    b = (uint8_t)((b & 0xAAu) >> 1 | (b & 0x55u) << 1);
    return b;
}

/* One byte on the wire; the slaves see bytes MSB first, so LSBFIRST mirrors them. */
static uint8_t spi_wire_byte(struct stm32_spi *s, uint8_t out)
{
    bool lsb_first = s->cr1 & SPI_CR1_LSBFIRST;
    uint8_t in = s->bus ? spi_bus_exchange(s->bus, lsb_first ? reverse_bits8(out) : out) : 0xFF;
    return lsb_first ? reverse_bits8(in) : in;
}

static uint16_t spi_exchange_frame(struct stm32_spi *s, uint16_t out)
{
    if (!(s->cr1 & SPI_CR1_DFF))
        return spi_wire_byte(s, (uint8_t)out);
    /* 16-bit frame: the byte holding the first bit on the wire goes first. */
    if (s->cr1 & SPI_CR1_LSBFIRST) {
        uint8_t lo = spi_wire_byte(s, (uint8_t)out);
        uint8_t hi = spi_wire_byte(s, (uint8_t)(out >> 8));
        return (uint16_t)(hi << 8 | lo);
    }
    uint8_t hi = spi_wire_byte(s, (uint8_t)(out >> 8));
    uint8_t lo = spi_wire_byte(s, (uint8_t)out);
    return (uint16_t)(hi << 8 | lo);
}

static bool spi_master_enabled(const struct stm32_spi *s)
{
    return (s->cr1 & (SPI_CR1_SPE | SPI_CR1_MSTR)) == (SPI_CR1_SPE | SPI_CR1_MSTR);
}

/* Virtual time of one frame: 8 or 16 bits at f_PCLK / 2^(BR+1), rounded up. */
static uint64_t spi_frame_ticks(const struct stm32_spi *s)
{
    uint64_t bits = (s->cr1 & SPI_CR1_DFF) ? 16u : 8u;
    uint64_t pclk_cycles = bits << (((s->cr1 & SPI_CR1_BR_MASK) >> SPI_CR1_BR_SHIFT) + 1u);
    return (pclk_cycles * SIM_HZ + s->pclk_hz - 1) / s->pclk_hz;
}

/* Move the waiting frame into the idle shift register if the master is enabled. */
static void spi_transmit(struct stm32_spi *s)
{
    if (!s->tx_full || s->shifting)
        return;
    if (!spi_master_enabled(s)) {
        if (s->cr1 & SPI_CR1_SPE)
            sim_warn_once(s->sim, s->name, SPI_CR1, true,
                          "slave mode is not modelled: no clock, the frame stays in TX");
        return;
    }
    s->shift_buf = s->tx_buf;
    s->tx_full = false;
    s->sr |= SPI_SR_TXE;
    s->shifting = true;
    event_schedule_in(s->sim, &s->shift_done, spi_frame_ticks(s));
}

static void spi_update_lines(struct stm32_spi *s);

/* The last bit of the frame is shifted: the slaves answer, the answer lands in RX. */
static void spi_shift_done(struct sim *sim, void *opaque)
{
    struct stm32_spi *s = opaque;
    (void)sim;
    uint16_t in = spi_exchange_frame(s, s->shift_buf);
    s->shifting = false;
    if (s->sr & SPI_SR_RXNE) {
        s->sr |= SPI_SR_OVR; /* the new frame is lost, DR keeps the unread one */
    } else {
        s->rx_buf = in;
        s->sr |= SPI_SR_RXNE;
    }
    spi_transmit(s); /* a frame waiting in the TX buffer follows without a gap */
    spi_update_lines(s);
}

static bool spi_irq_level(const struct stm32_spi *s)
{
    return ((s->cr2 & SPI_CR2_TXEIE) && (s->sr & SPI_SR_TXE)) ||
           ((s->cr2 & SPI_CR2_RXNEIE) && (s->sr & SPI_SR_RXNE)) ||
           ((s->cr2 & SPI_CR2_ERRIE) && (s->sr & SPI_ERROR_FLAGS));
}

static bool spi_dma_rx_level(const struct stm32_spi *s)
{
    return (s->sr & SPI_SR_RXNE) && (s->cr2 & SPI_CR2_RXDMAEN);
}

static bool spi_dma_tx_level(const struct stm32_spi *s)
{
    return (s->sr & SPI_SR_TXE) && (s->cr2 & SPI_CR2_TXDMAEN) && (s->cr1 & SPI_CR1_SPE);
}

/*
 * A line callback may re-enter this block (DMA reads DR, which clears RXNE),
 * so each level is recomputed and recorded just before its line is set, and
 * the loop repeats until a pass changes nothing.
 */
static void spi_update_lines(struct stm32_spi *s)
{
    bool changed;
    do {
        changed = false;
        bool level = spi_dma_rx_level(s);
        if (level != s->dma_rx_level) {
            s->dma_rx_level = level;
            line_set(&s->dma_rx, level);
            changed = true;
        }
        level = spi_dma_tx_level(s);
        if (level != s->dma_tx_level) {
            s->dma_tx_level = level;
            line_set(&s->dma_tx, level);
            changed = true;
        }
        level = spi_irq_level(s);
        if (level != s->irq_level) {
            s->irq_level = level;
            line_set(&s->irq, level);
            changed = true;
        }
    } while (changed);
}

static void spi_write_cr1(struct stm32_spi *s, uint16_t value)
{
    if (s->modf_sr_read && (s->sr & SPI_SR_MODF))
        s->sr &= (uint16_t)~SPI_SR_MODF;
    s->modf_sr_read = false;
    s->cr1 = value;
    /* Software NSS driven low in master mode: mode fault, SPE and MSTR drop. */
    if ((value & SPI_CR1_MSTR) && (value & SPI_CR1_SSM) && !(value & SPI_CR1_SSI)) {
        s->sr |= SPI_SR_MODF;
        s->cr1 &= (uint16_t)~(SPI_CR1_SPE | SPI_CR1_MSTR);
    }
    if (value & (SPI_CR1_RXONLY | SPI_CR1_BIDIMODE))
        sim_warn_once(s->sim, s->name, SPI_CR1, true,
                      "receive-only and bidirectional modes are not modelled");
    if (value & SPI_CR1_CRCEN)
        sim_warn_once(s->sim, s->name, SPI_CR1, true, "hardware CRC is not modelled");
    spi_transmit(s);
}

static uint32_t spi_read_reg(struct stm32_spi *s, uint32_t offset)
{
    switch (offset) {
    case SPI_CR1: return s->cr1;
    case SPI_CR2: return s->cr2;
    case SPI_SR: {
        uint16_t value = (uint16_t)(s->sr | (s->shifting ? SPI_SR_BSY : 0));
        if (s->ovr_dr_read && (s->sr & SPI_SR_OVR)) {
            s->sr &= (uint16_t)~SPI_SR_OVR;
            sim_note_volatile_read(s->sim);
        }
        s->ovr_dr_read = false;
        if (s->sr & SPI_SR_MODF)
            s->modf_sr_read = true;
        return value;
    }
    case SPI_DR: {
        sim_note_volatile_read(s->sim);
        uint16_t value = s->rx_buf;
        s->sr &= (uint16_t)~SPI_SR_RXNE;
        s->ovr_dr_read = (s->sr & SPI_SR_OVR) != 0;
        return value;
    }
    case SPI_CRCPR: return s->crcpr;
    case SPI_RXCRCR:
    case SPI_TXCRCR:
        if (s->cr1 & SPI_CR1_CRCEN)
            sim_warn_once(s->sim, s->name, offset, false, "hardware CRC is not modelled");
        return 0;
    case SPI_I2SCFGR: return s->i2scfgr;
    case SPI_I2SPR: return s->i2spr;
    default:
        sim_warn_once(s->sim, s->name, offset, false, NULL);
        return 0;
    }
}

static void spi_write_reg(struct stm32_spi *s, uint32_t offset, uint16_t value)
{
    switch (offset) {
    case SPI_CR1: spi_write_cr1(s, value); break;
    case SPI_CR2: s->cr2 = value & SPI_CR2_MASK; break;
    case SPI_SR:
        /* only CRCERR is writable (rc_w0) */
        if (!(value & SPI_SR_CRCERR))
            s->sr &= (uint16_t)~SPI_SR_CRCERR;
        break;
    case SPI_DR:
        s->tx_buf = value & ((s->cr1 & SPI_CR1_DFF) ? SPI_FRAME16_MASK : SPI_FRAME8_MASK);
        s->tx_full = true;
        s->sr &= (uint16_t)~SPI_SR_TXE;
        spi_transmit(s);
        break;
    case SPI_CRCPR: s->crcpr = value; break;
    case SPI_RXCRCR:
    case SPI_TXCRCR: break; /* read-only */
    case SPI_I2SCFGR:
        s->i2scfgr = value;
        if (value & SPI_I2SCFGR_I2SMOD)
            sim_warn_once(s->sim, s->name, offset, true, "I2S mode is not modelled");
        break;
    case SPI_I2SPR: s->i2spr = value; break;
    default: sim_warn_once(s->sim, s->name, offset, true, NULL); break;
    }
}

static uint32_t spi_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_spi *s = opaque;
    uint32_t value = spi_read_reg(s, offset & ~3u) >> (8 * (offset & 3u));
    spi_update_lines(s);
    return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

static void spi_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_spi *s = opaque;
    (void)size;
    spi_write_reg(s, offset & ~3u, (uint16_t)(value << (8 * (offset & 3u))));
    spi_update_lines(s);
}

const struct mmio_ops stm32_spi_mmio = {
    .name = "spi",
    .read = spi_read,
    .write = spi_write,
};

void stm32_spi_reset(void *dev, enum reset_cause cause)
{
    struct stm32_spi *s = dev;
    (void)cause;
    s->cr1 = s->cr2 = s->i2scfgr = 0;
    s->sr = SPI_SR_RESET;
    s->crcpr = SPI_CRCPR_RESET;
    s->i2spr = SPI_I2SPR_RESET;
    s->rx_buf = s->tx_buf = s->shift_buf = 0;
    s->tx_full = s->ovr_dr_read = s->modf_sr_read = false;
    s->shifting = false;
    event_cancel(s->sim, &s->shift_done);
    spi_update_lines(s);
}

void stm32_spi_set_clock(struct stm32_spi *spi, uint32_t pclk_hz)
{
    if (pclk_hz)
        spi->pclk_hz = pclk_hz; /* a frame already shifting keeps its end time */
}

void stm32_spi_init(struct stm32_spi *spi, struct sim *sim, const char *name)
{
    memset(spi, 0, sizeof *spi);
    spi->sim = sim;
    spi->name = name;
    spi->pclk_hz = (uint32_t)SIM_HZ;
    event_init(&spi->shift_done, spi_shift_done, spi, name);
    stm32_spi_reset(spi, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void spi_fields(struct stm32_spi *d, struct snap_io *io)
{
    snap_io_u16(io, &d->cr1);
    snap_io_u16(io, &d->cr2);
    snap_io_u16(io, &d->sr);
    snap_io_u16(io, &d->crcpr);
    snap_io_u16(io, &d->i2scfgr);
    snap_io_u16(io, &d->i2spr);
    snap_io_u16(io, &d->rx_buf);
    snap_io_u16(io, &d->tx_buf);
    snap_io_bool(io, &d->tx_full);
    snap_io_bool(io, &d->shifting);
    snap_io_u16(io, &d->shift_buf);
    snap_io_u32(io, &d->pclk_hz);
    snap_io_event(io, &d->shift_done);
    snap_io_bool(io, &d->ovr_dr_read);
    snap_io_bool(io, &d->modf_sr_read);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->dma_rx_level);
    snap_io_bool(io, &d->dma_tx_level);
}

SNAP_DEFINE_PAIR(stm32_spi, struct stm32_spi, spi_fields)
