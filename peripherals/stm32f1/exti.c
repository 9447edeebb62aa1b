/*
 * exti.c - STM32F103 external interrupt/event controller (RM0008 section 10.2).
 *
 * Design decision: PR latches an edge only on lines whose IMR bit is set.
 * That is the path of RM0008 figure 21 (edge detector, OR software trigger,
 * AND interrupt mask, then the pending request register) and what the SWIER
 * description says ("if the interrupt is enabled in EXTI_IMR, writing 1 sets
 * the pending bit"). An edge on a masked line is lost, not deferred. Whatever
 * the NVIC does with the level afterwards (pending while disabled) is the
 * NVIC's business.
 */
#include "exti.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define EXTI_LINE_MASK ((1u << STM32_EXTI_LINES) - 1u)

static const uint32_t group_lines[STM32_EXTI_IRQ_COUNT] = {
    [STM32_EXTI_IRQ_EXTI0] = 1u << 0,
    [STM32_EXTI_IRQ_EXTI1] = 1u << 1,
    [STM32_EXTI_IRQ_EXTI2] = 1u << 2,
    [STM32_EXTI_IRQ_EXTI3] = 1u << 3,
    [STM32_EXTI_IRQ_EXTI4] = 1u << 4,
    [STM32_EXTI_IRQ_EXTI9_5] = 0x1Fu << 5,
    [STM32_EXTI_IRQ_EXTI15_10] = 0x3Fu << 10,
    [STM32_EXTI_IRQ_PVD] = 1u << STM32_EXTI_LINE_PVD,
    [STM32_EXTI_IRQ_RTC_ALARM] = 1u << STM32_EXTI_LINE_RTC_ALARM,
    [STM32_EXTI_IRQ_USB_WAKEUP] = 1u << STM32_EXTI_LINE_USB_WAKEUP,
};

static const int group_nvic[STM32_EXTI_IRQ_COUNT] = {
    [STM32_EXTI_IRQ_EXTI0] = 6,      [STM32_EXTI_IRQ_EXTI1] = 7,
    [STM32_EXTI_IRQ_EXTI2] = 8,      [STM32_EXTI_IRQ_EXTI3] = 9,
    [STM32_EXTI_IRQ_EXTI4] = 10,     [STM32_EXTI_IRQ_EXTI9_5] = 23,
    [STM32_EXTI_IRQ_EXTI15_10] = 40, [STM32_EXTI_IRQ_PVD] = 1,
    [STM32_EXTI_IRQ_RTC_ALARM] = 41, [STM32_EXTI_IRQ_USB_WAKEUP] = 42,
};

int stm32_exti_irq_number(enum stm32_exti_irq irq)
{
    return (unsigned)irq < STM32_EXTI_IRQ_COUNT ? group_nvic[irq] : -1;
}

static void exti_update_irqs(struct stm32_exti *exti, bool force)
{
    uint32_t active = exti->pr & exti->imr;
    for (int g = 0; g < STM32_EXTI_IRQ_COUNT; g++) {
        bool level = (active & group_lines[g]) != 0;
        if (level != exti->irq_level[g] || force) {
            exti->irq_level[g] = level;
            line_set(&exti->irq[g], level);
        }
    }
}

/* Selected edges (or software triggers) on `lines`. */
static void exti_trigger(struct stm32_exti *exti, uint32_t lines)
{
    exti->pr |= lines & exti->imr;
    if (lines & exti->emr) {
        line_set(&exti->event, true);
        line_set(&exti->event, false);
    }
    exti_update_irqs(exti, false);
}

static uint32_t *exti_reg(struct stm32_exti *exti, uint32_t reg)
{
    switch (reg) {
    case EXTI_IMR: return &exti->imr;
    case EXTI_EMR: return &exti->emr;
    case EXTI_RTSR: return &exti->rtsr;
    case EXTI_FTSR: return &exti->ftsr;
    case EXTI_SWIER: return &exti->swier;
    case EXTI_PR: return &exti->pr;
    default: return NULL;
    }
}

static uint32_t exti_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_exti *exti = opaque;
    uint32_t *r = exti_reg(exti, offset & ~3u);
    if (!r) {
        sim_warn_once(exti->sim, "EXTI", offset, false, NULL);
        return 0;
    }
    return lane_read(*r, offset, size);
}

static void exti_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_exti *exti = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    uint32_t *r = exti_reg(exti, w.reg);
    if (!r) {
        sim_warn_once(exti->sim, "EXTI", offset, true, NULL);
        return;
    }
    uint32_t written = w.value & EXTI_LINE_MASK;
    switch (w.reg) {
    case EXTI_SWIER: {
        uint32_t rising = written & ~exti->swier; /* only a 0 -> 1 write triggers */
        exti->swier |= written;
        if (rising)
            exti_trigger(exti, rising);
        return;
    }
    case EXTI_PR:
        /* Write 1 to clear; clearing PR also clears the software trigger. */
        exti->pr &= ~written;
        exti->swier &= ~written;
        break;
    default:
        *r = lane_merge(*r, &w) & EXTI_LINE_MASK;
        break;
    }
    exti_update_irqs(exti, false);
}

const struct mmio_ops stm32_exti_mmio = {
    .name = "EXTI",
    .read = exti_read,
    .write = exti_write,
};

void stm32_exti_line_in(void *opaque, int n, bool level)
{
    struct stm32_exti *exti = opaque;
    if (n < 0 || n >= STM32_EXTI_LINES)
        return;
    uint32_t bit = 1u << n;
    bool old = (exti->input & bit) != 0;
    if (old == level)
        return;
    exti->input = level ? exti->input | bit : exti->input & ~bit;
    uint32_t selected = level ? exti->rtsr : exti->ftsr;
    if (selected & bit)
        exti_trigger(exti, bit);
}

void stm32_exti_reset(void *dev, enum reset_cause cause)
{
    struct stm32_exti *exti = dev;
    /* Registers only: the input levels are wires and keep their state. */
    exti->imr = exti->emr = exti->rtsr = exti->ftsr = exti->swier = exti->pr = 0;
    exti_update_irqs(exti, cause == RESET_POWER);
}

void stm32_exti_init(struct stm32_exti *exti, struct sim *sim)
{
    memset(exti, 0, sizeof *exti);
    exti->sim = sim;
    stm32_exti_reset(exti, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void exti_fields(struct stm32_exti *d, struct snap_io *io)
{
    snap_io_u32(io, &d->imr);
    snap_io_u32(io, &d->emr);
    snap_io_u32(io, &d->rtsr);
    snap_io_u32(io, &d->ftsr);
    snap_io_u32(io, &d->swier);
    snap_io_u32(io, &d->pr);
    snap_io_u32(io, &d->input);
    SNAP_IO_BOOLS(io, d->irq_level);
}

SNAP_DEFINE_PAIR(stm32_exti, struct stm32_exti, exti_fields)
