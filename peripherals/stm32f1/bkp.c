/*
 * bkp.c - STM32F103 backup registers (RM0008 section 6).
 *
 * Design decision: the tamper detector looks at (TPE AND pin at its active
 * level) and fires on that signal's rising edge, as RM0008 6.3.4 describes,
 * so a pin that is already active when TPE is set still produces an event.
 * A tamper event clears the data registers, and they stay cleared (reads 0,
 * writes ignored) while TEF is set.
 */
#include "bkp.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define BKP_RTCCR_WRITABLE (BKP_RTCCR_CAL_MASK | BKP_RTCCR_CCO | BKP_RTCCR_ASOE | BKP_RTCCR_ASOS)
#define BKP_CR_WRITABLE (BKP_CR_TPE | BKP_CR_TPAL)

static bool bkp_dr_index(uint32_t reg, int *index)
{
    if (reg < BKP_DR1 || reg > BKP_DR10)
        return false;
    *index = (int)(reg / 4u) - 1;
    return true;
}

static void bkp_update_irq(struct stm32_bkp *bkp, bool force)
{
    bool level = (bkp->csr & BKP_CSR_TIF) != 0;
    if (level != bkp->irq_level || force) {
        bkp->irq_level = level;
        line_set(&bkp->irq_tamper, level);
    }
}

static void bkp_check_tamper(struct stm32_bkp *bkp)
{
    bool active_level = !(bkp->cr & BKP_CR_TPAL); /* TPAL = 0: a high pin is a tamper */
    bool armed = (bkp->cr & BKP_CR_TPE) && bkp->tamper_pin == active_level;
    bool event = armed && !bkp->tamper_armed;
    bkp->tamper_armed = armed;
    if (!event)
        return;
    memset(bkp->dr, 0, sizeof bkp->dr);
    bkp->csr |= BKP_CSR_TEF;
    if (bkp->csr & BKP_CSR_TPIE)
        bkp->csr |= BKP_CSR_TIF;
    bkp_update_irq(bkp, false);
}

static uint32_t bkp_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_bkp *bkp = opaque;
    uint32_t reg = offset & ~3u;
    uint32_t v;
    int i;
    if (bkp->held_in_reset)
        v = 0;
    else if (bkp_dr_index(reg, &i))
        v = (bkp->csr & BKP_CSR_TEF) ? 0 : bkp->dr[i];
    else if (reg == BKP_RTCCR)
        v = bkp->rtccr;
    else if (reg == BKP_CR)
        v = bkp->cr;
    else if (reg == BKP_CSR)
        v = bkp->csr & (BKP_CSR_TPIE | BKP_CSR_TEF | BKP_CSR_TIF);
    else {
        /* BKP_DR11..DR42 exist only on high-density parts */
        sim_warn_once(bkp->sim, "BKP", offset, false, NULL);
        v = 0;
    }
    return lane_read(v, offset, size);
}

static void bkp_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_bkp *bkp = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    int i;
    bool dr = bkp_dr_index(w.reg, &i);
    if (!dr && w.reg != BKP_RTCCR && w.reg != BKP_CR && w.reg != BKP_CSR) {
        sim_warn_once(bkp->sim, "BKP", offset, true, NULL);
        return;
    }
    if (!bkp->dbp || bkp->held_in_reset)
        return; /* the backup domain is write-protected */
    if (dr) {
        if (!(bkp->csr & BKP_CSR_TEF))
            bkp->dr[i] = (uint16_t)lane_merge(bkp->dr[i], &w);
    } else if (w.reg == BKP_RTCCR) {
        bkp->rtccr = (uint16_t)(lane_merge(bkp->rtccr, &w) & BKP_RTCCR_WRITABLE);
    } else if (w.reg == BKP_CR) {
        bkp->cr = (uint16_t)(lane_merge(bkp->cr, &w) & BKP_CR_WRITABLE);
        bkp_check_tamper(bkp);
    } else {
        bkp->csr = (uint16_t)((bkp->csr & ~BKP_CSR_TPIE) | (lane_merge(bkp->csr, &w) & BKP_CSR_TPIE));
        if (w.value & BKP_CSR_CTE)
            bkp->csr &= ~BKP_CSR_TEF;
        if (w.value & BKP_CSR_CTI)
            bkp->csr &= ~BKP_CSR_TIF;
        bkp_update_irq(bkp, false);
    }
}

const struct mmio_ops stm32_bkp_mmio = {
    .name = "BKP",
    .read = bkp_read,
    .write = bkp_write,
};

static void bkp_clear_domain(struct stm32_bkp *bkp)
{
    memset(bkp->dr, 0, sizeof bkp->dr);
    bkp->rtccr = 0;
    bkp->cr = 0;
    bkp->csr = 0;
    bkp->tamper_armed = false;
}

void stm32_bkp_dbp_in(void *opaque, int n, bool level)
{
    struct stm32_bkp *bkp = opaque;
    (void)n;
    bkp->dbp = level;
}

void stm32_bkp_backup_reset_in(void *opaque, int n, bool level)
{
    struct stm32_bkp *bkp = opaque;
    (void)n;
    if (level && !bkp->held_in_reset) {
        bkp_clear_domain(bkp);
        bkp_update_irq(bkp, false);
    }
    bkp->held_in_reset = level;
}

void stm32_bkp_tamper_in(void *opaque, int n, bool level)
{
    struct stm32_bkp *bkp = opaque;
    (void)n;
    bkp->tamper_pin = level;
    if (!bkp->held_in_reset)
        bkp_check_tamper(bkp);
}

void stm32_bkp_save(const struct stm32_bkp *bkp, uint16_t dr[STM32_BKP_DR_COUNT])
{
    memcpy(dr, bkp->dr, sizeof bkp->dr);
}

void stm32_bkp_load(struct stm32_bkp *bkp, const uint16_t dr[STM32_BKP_DR_COUNT])
{
    memcpy(bkp->dr, dr, sizeof bkp->dr);
}

void stm32_bkp_reset(void *dev, enum reset_cause cause)
{
    struct stm32_bkp *bkp = dev;
    if (cause == RESET_POWER)
        bkp_clear_domain(bkp);
    bkp_update_irq(bkp, cause == RESET_POWER);
}

void stm32_bkp_init(struct stm32_bkp *bkp, struct sim *sim)
{
    memset(bkp, 0, sizeof *bkp);
    bkp->sim = sim;
    stm32_bkp_reset(bkp, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void bkp_fields(struct stm32_bkp *d, struct snap_io *io)
{
    SNAP_IO_U16S(io, d->dr);
    snap_io_u16(io, &d->rtccr);
    snap_io_u16(io, &d->cr);
    snap_io_u16(io, &d->csr);
    snap_io_bool(io, &d->dbp);
    snap_io_bool(io, &d->held_in_reset);
    snap_io_bool(io, &d->tamper_pin);
    snap_io_bool(io, &d->tamper_armed);
    snap_io_bool(io, &d->irq_level);
}

SNAP_DEFINE_PAIR(stm32_bkp_snapshot, struct stm32_bkp, bkp_fields)
