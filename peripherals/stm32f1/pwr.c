/*
 * pwr.c - STM32F103 power control (RM0008 section 5).
 *
 * Design decision: PWR_CR is reset by every reset, but the Standby flag SBF
 * survives system resets (only a power-on or CSBF clears it) because firmware
 * reads it after the wake-up reset to learn that it came out of Standby;
 * WUF is cleared by a system reset, per RM0008 5.4.2.
 */
#include "pwr.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define PWR_CR_WRITABLE (PWR_CR_LPDS | PWR_CR_PDDS | PWR_CR_PVDE | PWR_CR_PLS_MASK | PWR_CR_DBP)
/* PLS = 000 selects 2.2 V, each step adds 0.1 V, up to 2.9 V. */
#define PVD_LOWEST_MV 2200u
#define PVD_STEP_MV 100u

static bool pwr_pvdo(const struct stm32_pwr *pwr)
{
    if (!(pwr->cr & PWR_CR_PVDE))
        return false;
    unsigned pls = (pwr->cr & PWR_CR_PLS_MASK) >> PWR_CR_PLS_SHIFT;
    return pwr->vdd_mv < PVD_LOWEST_MV + pls * PVD_STEP_MV;
}

static void pwr_update_outputs(struct stm32_pwr *pwr, bool force)
{
    bool dbp = (pwr->cr & PWR_CR_DBP) != 0;
    if (dbp != pwr->dbp_level || force) {
        pwr->dbp_level = dbp;
        for (int i = 0; i < STM32_PWR_DBP_COUNT; i++)
            line_set(&pwr->dbp[i], dbp);
    }
    bool pvd = pwr_pvdo(pwr);
    if (pvd != pwr->pvd_level || force) {
        pwr->pvd_level = pvd;
        line_set(&pwr->pvd, pvd);
    }
}

static uint32_t pwr_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_pwr *pwr = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case PWR_CR: v = pwr->cr; break;
    case PWR_CSR: v = pwr->csr | (pwr_pvdo(pwr) ? PWR_CSR_PVDO : 0); break;
    default:
        sim_warn_once(pwr->sim, "PWR", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

static void pwr_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_pwr *pwr = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    switch (w.reg) {
    case PWR_CR:
        pwr->cr = lane_merge(pwr->cr, &w) & PWR_CR_WRITABLE;
        if (w.value & PWR_CR_CWUF)
            pwr->csr &= ~PWR_CSR_WUF;
        if (w.value & PWR_CR_CSBF)
            pwr->csr &= ~PWR_CSR_SBF;
        break;
    case PWR_CSR:
        pwr->csr = (pwr->csr & ~PWR_CSR_EWUP) | (lane_merge(pwr->csr, &w) & PWR_CSR_EWUP);
        break;
    default:
        sim_warn_once(pwr->sim, "PWR", offset, true, NULL);
        return;
    }
    pwr_update_outputs(pwr, false);
}

const struct mmio_ops stm32_pwr_mmio = {
    .name = "PWR",
    .read = pwr_read,
    .write = pwr_write,
};

bool stm32_pwr_pdds(const struct stm32_pwr *pwr) { return pwr->cr & PWR_CR_PDDS; }
bool stm32_pwr_lpds(const struct stm32_pwr *pwr) { return pwr->cr & PWR_CR_LPDS; }
bool stm32_pwr_ewup(const struct stm32_pwr *pwr) { return pwr->csr & PWR_CSR_EWUP; }

void stm32_pwr_standby_wakeup(struct stm32_pwr *pwr, bool wakeup_event)
{
    pwr->csr |= PWR_CSR_SBF;
    if (wakeup_event)
        pwr->csr |= PWR_CSR_WUF;
}

void stm32_pwr_set_vdd(struct stm32_pwr *pwr, unsigned millivolts)
{
    pwr->vdd_mv = millivolts;
    pwr_update_outputs(pwr, false);
}

void stm32_pwr_reset(void *dev, enum reset_cause cause)
{
    struct stm32_pwr *pwr = dev;
    pwr->cr = 0;
    if (cause == RESET_POWER)
        pwr->csr = 0;
    else
        pwr->csr &= PWR_CSR_SBF; /* WUF and EWUP are reset by a system reset */
    pwr_update_outputs(pwr, cause == RESET_POWER);
}

void stm32_pwr_init(struct stm32_pwr *pwr, struct sim *sim)
{
    memset(pwr, 0, sizeof *pwr);
    pwr->sim = sim;
    pwr->vdd_mv = STM32_PWR_VDD_DEFAULT_MV;
    stm32_pwr_reset(pwr, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void pwr_fields(struct stm32_pwr *d, struct snap_io *io)
{
    snap_io_u32(io, &d->cr);
    snap_io_u32(io, &d->csr);
    snap_io_unsigned(io, &d->vdd_mv);
    snap_io_bool(io, &d->dbp_level);
    snap_io_bool(io, &d->pvd_level);
}

SNAP_DEFINE_PAIR(stm32_pwr, struct stm32_pwr, pwr_fields)
