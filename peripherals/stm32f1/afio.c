/*
 * afio.c - STM32F103 alternate-function I/O (RM0008 section 9.4).
 *
 * Design decision: the EXTI multiplexer output is recomputed from the
 * incoming pin levels whenever EXTICR or a pin changes, so switching the
 * multiplexer between two pins at different levels is an edge on the EXTI
 * line, as it is in the silicon. Reset clears the registers, never the pin
 * levels (those are wires).
 */
#include "afio.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define AFIO_EVCR_WRITABLE (AFIO_EVCR_PIN_MASK | AFIO_EVCR_PORT_MASK | AFIO_EVCR_EVOE)
#define AFIO_MAPR_REMAPS 0x001FFFFFu /* bits 20:0, as listed in afio.h */
#define AFIO_EXTICR_FIELDS 0xFFFFu    /* four 4-bit port selections per register */
#define AFIO_EXTICR_LINES_PER_REG 4
#define AFIO_EXTICR_FIELD_BITS 4u

static unsigned exti_port(const struct stm32_afio *afio, int line)
{
    uint32_t reg = afio->exticr[line / AFIO_EXTICR_LINES_PER_REG];
    return (reg >> ((unsigned)(line % AFIO_EXTICR_LINES_PER_REG) * AFIO_EXTICR_FIELD_BITS)) & 0xFu;
}

static void afio_update(struct stm32_afio *afio, bool force)
{
    uint16_t levels = 0;
    for (int line = 0; line < STM32_AFIO_EXTI_LINES; line++) {
        unsigned port = exti_port(afio, line);
        if (port < STM32_AFIO_PORTS && (afio->port_level[port] & (1u << line)))
            levels |= (uint16_t)(1u << line);
    }
    uint16_t changed = force ? 0xFFFFu : (uint16_t)(levels ^ afio->exti_state);
    afio->exti_state = levels;
    for (int line = 0; line < STM32_AFIO_EXTI_LINES; line++)
        if (changed & (1u << line))
            line_set(&afio->exti[line], (levels >> line) & 1u);
}

static uint32_t afio_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_afio *afio = opaque;
    uint32_t reg = offset & ~3u;
    uint32_t v;
    if (reg == AFIO_EVCR)
        v = afio->evcr;
    else if (reg == AFIO_MAPR)
        v = afio->mapr; /* SWJ_CFG is write-only */
    else if (reg >= AFIO_EXTICR1 && reg <= AFIO_EXTICR4)
        v = afio->exticr[(reg - AFIO_EXTICR1) / 4u];
    else {
        sim_warn_once(afio->sim, "AFIO", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

static void afio_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_afio *afio = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    if (w.reg == AFIO_EVCR) {
        afio->evcr = lane_merge(afio->evcr, &w) & AFIO_EVCR_WRITABLE;
    } else if (w.reg == AFIO_MAPR) {
        afio->mapr = lane_merge(afio->mapr, &w) & AFIO_MAPR_REMAPS;
        if (w.mask & AFIO_MAPR_SWJ_CFG_MASK)
            afio->swj_cfg = (w.value & AFIO_MAPR_SWJ_CFG_MASK) >> AFIO_MAPR_SWJ_CFG_SHIFT;
    } else if (w.reg >= AFIO_EXTICR1 && w.reg <= AFIO_EXTICR4) {
        uint32_t *r = &afio->exticr[(w.reg - AFIO_EXTICR1) / 4u];
        *r = lane_merge(*r, &w) & AFIO_EXTICR_FIELDS;
        afio_update(afio, false);
    } else {
        sim_warn_once(afio->sim, "AFIO", offset, true, NULL);
    }
}

const struct mmio_ops stm32_afio_mmio = {
    .name = "AFIO",
    .read = afio_read,
    .write = afio_write,
};

void stm32_afio_pin_in(void *opaque, int n, bool level)
{
    struct stm32_afio *afio = opaque;
    if (n < 0 || n >= STM32_AFIO_PORTS * 16)
        return;
    uint16_t bit = (uint16_t)(1u << (n % 16));
    uint16_t *port = &afio->port_level[n / 16];
    *port = level ? (uint16_t)(*port | bit) : (uint16_t)(*port & ~bit);
    afio_update(afio, false);
}

uint32_t stm32_afio_mapr(const struct stm32_afio *afio) { return afio->mapr; }
unsigned stm32_afio_swj_cfg(const struct stm32_afio *afio) { return afio->swj_cfg; }

static void afio_clear(struct stm32_afio *afio)
{
    afio->evcr = 0;
    afio->mapr = 0;
    afio->swj_cfg = 0;
    memset(afio->exticr, 0, sizeof afio->exticr);
}

void stm32_afio_reset_in(void *opaque, int n, bool level)
{
    struct stm32_afio *afio = opaque;
    (void)n;
    if (level) {
        afio_clear(afio);
        afio_update(afio, false);
    }
}

void stm32_afio_reset(void *dev, enum reset_cause cause)
{
    struct stm32_afio *afio = dev;
    afio_clear(afio);
    afio_update(afio, cause == RESET_POWER);
}

void stm32_afio_init(struct stm32_afio *afio, struct sim *sim)
{
    memset(afio, 0, sizeof *afio);
    afio->sim = sim;
    stm32_afio_reset(afio, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void afio_fields(struct stm32_afio *d, struct snap_io *io)
{
    snap_io_u32(io, &d->evcr);
    snap_io_u32(io, &d->mapr);
    SNAP_IO_U32S(io, d->exticr);
    snap_io_u32(io, &d->swj_cfg);
    SNAP_IO_U16S(io, d->port_level);
    snap_io_u16(io, &d->exti_state);
}

SNAP_DEFINE_PAIR(stm32_afio, struct stm32_afio, afio_fields)
