/*
 * dbgmcu.c - STM32F103 MCU debug component (RM0008 section 31.16).
 *
 * Design decision: DBGMCU_CR is reset only by a power-on reset (it belongs to
 * the debug domain, so a debugger's settings survive the system resets it
 * provokes); the Spark firmware sets DBG_IWDG_STOP | DBG_WWDG_STOP at boot.
 */
#include "dbgmcu.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define DBGMCU_CR_WRITABLE 0x0001FFE7u /* bits 2:0, 16:5 on this family */

static bool dbgmcu_hidden(const struct stm32_dbgmcu *dbg)
{
    return dbg->reads_zero_without_debugger && !dbg->debugger_attached;
}

static uint32_t dbgmcu_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_dbgmcu *dbg = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case DBGMCU_IDCODE: v = dbg->idcode; break;
    case DBGMCU_CR: v = dbg->cr; break;
    default:
        sim_warn_once(dbg->sim, "DBGMCU", offset, false, NULL);
        return 0;
    }
    return dbgmcu_hidden(dbg) ? 0 : lane_read(v, offset, size);
}

static void dbgmcu_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_dbgmcu *dbg = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    switch (w.reg) {
    case DBGMCU_IDCODE: break; /* read-only */
    case DBGMCU_CR: dbg->cr = lane_merge(dbg->cr, &w) & DBGMCU_CR_WRITABLE; break;
    default: sim_warn_once(dbg->sim, "DBGMCU", offset, true, NULL); break;
    }
}

const struct mmio_ops stm32_dbgmcu_mmio = {
    .name = "DBGMCU",
    .read = dbgmcu_read,
    .write = dbgmcu_write,
};

uint32_t stm32_dbgmcu_cr(const struct stm32_dbgmcu *dbg)
{
    return dbg->cr;
}

void stm32_dbgmcu_reset(void *dev, enum reset_cause cause)
{
    struct stm32_dbgmcu *dbg = dev;
    if (cause == RESET_POWER)
        dbg->cr = 0;
}

void stm32_dbgmcu_init(struct stm32_dbgmcu *dbg, struct sim *sim)
{
    memset(dbg, 0, sizeof *dbg);
    dbg->sim = sim;
    dbg->idcode = DBGMCU_IDCODE_MD;
    stm32_dbgmcu_reset(dbg, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void dbgmcu_fields(struct stm32_dbgmcu *d, struct snap_io *io)
{
    snap_io_u32(io, &d->idcode);
    snap_io_u32(io, &d->cr);
    snap_io_bool(io, &d->reads_zero_without_debugger);
    snap_io_bool(io, &d->debugger_attached);
}

SNAP_DEFINE_PAIR(stm32_dbgmcu, struct stm32_dbgmcu, dbgmcu_fields)
