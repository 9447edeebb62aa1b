/*
 * iwdg.c - STM32F103 independent watchdog (RM0008 section 19).
 *
 * Design decision: the counter is a register of its own. KR = 0xAAAA loads it
 * from RLR even before the start; KR = 0xCCCC starts it from whatever it
 * holds, which after a reset is 0xFFF (RM0008: "starts counting down from the
 * reset value 0xFFF"). So StdPeriph's "reload, then enable" gets its RLR
 * timeout, and a bare start gets the 0xFFF one. PR and RLR writes take effect
 * at once; PVU/RVU read busy for the 5 LSI cycles the update takes in the
 * VDD domain, and a second write during that time is ignored.
 */
#include "iwdg.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define LSI_HZ 40000u
#define CYCLES_PER_LSI (SIM_HZ / LSI_HZ) /* 1800: exact at 72 MHz */
#define IWDG_UPDATE_LSI_CYCLES 5u
#define IWDG_PR_MAX_SHIFT 6u /* PR = 6 and 7 both divide by 256 */
#define IWDG_DIV_BASE_SHIFT 2u /* PR = 0 divides by 4 */

static uint64_t iwdg_period(const struct stm32_iwdg *iwdg)
{
    uint32_t pr = iwdg->pr < IWDG_PR_MAX_SHIFT ? iwdg->pr : IWDG_PR_MAX_SHIFT;
    return (uint64_t)(1u << (IWDG_DIV_BASE_SHIFT + pr)) * CYCLES_PER_LSI;
}

uint32_t stm32_iwdg_counter(const struct stm32_iwdg *iwdg)
{
    if (!iwdg->running)
        return iwdg->counter;
    uint64_t ticks = (iwdg->sim->clock.now - iwdg->anchor) / iwdg_period(iwdg);
    return ticks >= iwdg->counter ? 0 : iwdg->counter - (uint32_t)ticks;
}

static void iwdg_schedule(struct stm32_iwdg *iwdg)
{
    if (iwdg->running)
        event_schedule(iwdg->sim, &iwdg->expire, iwdg->anchor + iwdg->counter * iwdg_period(iwdg));
}

/* Restart the count from `value` now. */
static void iwdg_load(struct stm32_iwdg *iwdg, uint32_t value)
{
    iwdg->counter = value;
    iwdg->anchor = iwdg->sim->clock.now;
    iwdg_schedule(iwdg);
}

static void iwdg_drive_lsi(struct stm32_iwdg *iwdg, bool force)
{
    if (iwdg->running != iwdg->lsi_level || force) {
        iwdg->lsi_level = iwdg->running;
        line_set(&iwdg->lsi_request, iwdg->running);
    }
}

static void iwdg_start(struct stm32_iwdg *iwdg)
{
    if (iwdg->running)
        return;
    iwdg->running = true;
    iwdg_load(iwdg, iwdg->counter);
    iwdg_drive_lsi(iwdg, false);
}

static void iwdg_expire(struct sim *sim, void *opaque)
{
    (void)opaque;
    sim_request_reset(sim, RESET_IWDG);
}

static void iwdg_pvu_done(struct sim *sim, void *opaque)
{
    struct stm32_iwdg *iwdg = opaque;
    (void)sim;
    iwdg->sr &= ~IWDG_SR_PVU;
}

static void iwdg_rvu_done(struct sim *sim, void *opaque)
{
    struct stm32_iwdg *iwdg = opaque;
    (void)sim;
    iwdg->sr &= ~IWDG_SR_RVU;
}

static uint32_t iwdg_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_iwdg *iwdg = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case IWDG_KR: v = 0; break; /* write-only */
    case IWDG_PR: v = iwdg->pr; break;
    case IWDG_RLR: v = iwdg->rlr; break;
    case IWDG_SR: v = iwdg->sr; break;
    default:
        sim_warn_once(iwdg->sim, "IWDG", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

/* A reload repeated later is the same reload later: the CPU may replay it after skipping an idle loop. */
static void iwdg_reload_refresh(void *opaque)
{
    struct stm32_iwdg *iwdg = opaque;
    iwdg_load(iwdg, iwdg->rlr);
}

static void iwdg_write_key(struct stm32_iwdg *iwdg, uint32_t key)
{
    /* Any key but 0x5555 write-protects PR and RLR again. */
    bool was_access = iwdg->access;
    iwdg->access = key == IWDG_KR_ACCESS;
    if (key == IWDG_KR_RELOAD) {
        iwdg_load(iwdg, iwdg->rlr);
        if (!was_access)
            sim_note_refresh_write(iwdg->sim, iwdg_reload_refresh, iwdg);
    }
    else if (key == IWDG_KR_START)
        iwdg_start(iwdg);
}

static void iwdg_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_iwdg *iwdg = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    uint64_t update_time = (uint64_t)IWDG_UPDATE_LSI_CYCLES * CYCLES_PER_LSI;
    switch (w.reg) {
    case IWDG_KR: iwdg_write_key(iwdg, w.value & 0xFFFFu); break;
    case IWDG_PR:
        if (!iwdg->access || (iwdg->sr & IWDG_SR_PVU))
            break;
        if (iwdg->running) {
            /* Keep the current count; the new divider applies from now. */
            uint32_t now_count = stm32_iwdg_counter(iwdg);
            iwdg->pr = lane_merge(iwdg->pr, &w) & IWDG_PR_MASK;
            iwdg_load(iwdg, now_count);
        } else {
            iwdg->pr = lane_merge(iwdg->pr, &w) & IWDG_PR_MASK;
        }
        iwdg->sr |= IWDG_SR_PVU;
        event_schedule_in(iwdg->sim, &iwdg->pvu_done, update_time);
        break;
    case IWDG_RLR:
        if (!iwdg->access || (iwdg->sr & IWDG_SR_RVU))
            break;
        iwdg->rlr = lane_merge(iwdg->rlr, &w) & IWDG_RLR_MASK;
        iwdg->sr |= IWDG_SR_RVU;
        event_schedule_in(iwdg->sim, &iwdg->rvu_done, update_time);
        break;
    case IWDG_SR: break; /* read-only */
    default: sim_warn_once(iwdg->sim, "IWDG", offset, true, NULL); break;
    }
}

const struct mmio_ops stm32_iwdg_mmio = {
    .name = "IWDG",
    .read = iwdg_read,
    .write = iwdg_write,
};

void stm32_iwdg_hw_mode_in(void *opaque, int n, bool level)
{
    struct stm32_iwdg *iwdg = opaque;
    (void)n;
    iwdg->hardware = level;
}

void stm32_iwdg_reset(void *dev, enum reset_cause cause)
{
    struct stm32_iwdg *iwdg = dev;
    /* The watchdog is part of the chip a reset re-initialises: it stops. */
    event_cancel(iwdg->sim, &iwdg->expire);
    event_cancel(iwdg->sim, &iwdg->pvu_done);
    event_cancel(iwdg->sim, &iwdg->rvu_done);
    iwdg->pr = 0;
    iwdg->rlr = IWDG_RLR_RESET;
    iwdg->sr = 0;
    iwdg->access = false;
    iwdg->running = false;
    iwdg->counter = IWDG_RLR_RESET;
    iwdg->anchor = iwdg->sim->clock.now;
    if (iwdg->hardware)
        iwdg_start(iwdg);
    iwdg_drive_lsi(iwdg, cause == RESET_POWER);
}

void stm32_iwdg_init(struct stm32_iwdg *iwdg, struct sim *sim)
{
    memset(iwdg, 0, sizeof *iwdg);
    iwdg->sim = sim;
    event_init(&iwdg->expire, iwdg_expire, iwdg, "iwdg-expire");
    event_init(&iwdg->pvu_done, iwdg_pvu_done, iwdg, "iwdg-pvu");
    event_init(&iwdg->rvu_done, iwdg_rvu_done, iwdg, "iwdg-rvu");
    stm32_iwdg_reset(iwdg, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void iwdg_fields(struct stm32_iwdg *d, struct snap_io *io)
{
    snap_io_u32(io, &d->pr);
    snap_io_u32(io, &d->rlr);
    snap_io_u32(io, &d->sr);
    snap_io_bool(io, &d->access);
    snap_io_bool(io, &d->running);
    snap_io_bool(io, &d->hardware);
    snap_io_u32(io, &d->counter);
    snap_io_u64(io, &d->anchor);
    snap_io_event(io, &d->expire);
    snap_io_event(io, &d->pvu_done);
    snap_io_event(io, &d->rvu_done);
    snap_io_bool(io, &d->lsi_level);
    /* a reload an idle-loop skip will replay (sim_note_refresh_write): the list holds functions, so say it here */
    bool noted = false;
    for (int i = 0; i < d->sim->nrefresh; i++)
        noted |= d->sim->refresh[i].fn == iwdg_reload_refresh && d->sim->refresh[i].opaque == d;
    snap_io_bool(io, &noted);
    if (!io->w && noted && snap_io_check(io, d->sim->nrefresh < SIM_MAX_REFRESH, "too many refresh writes")) {
        d->sim->refresh[d->sim->nrefresh].fn = iwdg_reload_refresh;
        d->sim->refresh[d->sim->nrefresh].opaque = d;
        d->sim->nrefresh++;
    }
}

SNAP_DEFINE_PAIR(stm32_iwdg, struct stm32_iwdg, iwdg_fields)
