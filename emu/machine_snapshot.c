/*
 * machine_snapshot.c - the machine's part of a snapshot: where it was taken,
 * virtual time and the shared context, the CPU (cpu.c), the NVIC, every
 * registered block in registration order, SRAM, the option bytes and the
 * internal flash. The board adds its own wiring state and the external flash
 * (boards/spark_core.c); the file is emu/snapshot.c's.
 *
 * Design decision: loading goes into a machine that was built and wired but
 * never powered on, so every pointer, line and callback is already right and
 * only values are written. The event queue is emptied and rebuilt from the
 * saved (when, seq) of each block's events, so it is the queue the run had.
 */
#include "machine.h"
#include "snapshot.h"

#include <string.h>

#define OPTBYTES_MAP_SIZE (SYSMEM_MAP_SIZE - (OPTBYTES_BASE - SYSMEM_BASE))

static void time_fields(struct machine *m, struct snap_io *io, uint64_t *seq, int *nrefresh)
{
    struct sim *sim = &m->sim;
    snap_io_u64(io, &sim->clock.now);
    snap_io_u64(io, seq);
    snap_io_u32(io, &sim->hclk.hz);
    snap_io_u64(io, &sim->hclk.step);
    snap_io_u32(io, &sim->hclk.frac);
    snap_io_u64(io, &sim->hclk.base_tick);
    snap_io_u64(io, &sim->hclk.base_cycle);
    snap_io_bool(io, &sim->volatile_read);
    snap_io_bool(io, &sim->time_read);
    snap_io_bool(io, &sim->mmio_written);
    snap_io_bool(io, &sim->time_frozen);
    snap_io_u64(io, &sim->frozen_now);
    snap_io_u64(io, &sim->frozen_until);
    snap_io_bool(io, &sim->refresh_write);
    snap_io_bool(io, &sim->attention);
    snap_io_u64(io, &sim->fetch_stall_until);
    snap_io_bool(io, &sim->reset_requested);
    int cause = (int)sim->reset_cause;
    snap_io_int(io, &cause);
    snap_io_check(io, cause >= RESET_POWER && cause <= RESET_STANDBY, "unknown reset cause");
    sim->reset_cause = (enum reset_cause)cause;
    /* the refresh writes an idle skip replays: each block puts its own back (see iwdg.c) */
    *nrefresh = sim->nrefresh;
    snap_io_int(io, nrefresh);
    if (!io->w)
        sim->nrefresh = 0;
}

void machine_snapshot_save(struct machine *m, struct snap_writer *w, enum snap_resume where, uint64_t at)
{
    snap_begin(w, "POINT");
    snap_u64(w, at);
    snap_u8(w, (uint8_t)where);
    snap_end(w);

    struct snap_io io = {w, NULL};
    uint64_t seq = m->sim.clock.seq;
    int nrefresh;
    snap_begin(w, "TIME");
    time_fields(m, &io, &seq, &nrefresh);
    snap_end(w);

    cpu_snapshot_save(m, w);
    snap_begin(w, "NVIC");
    nvic_save(&m->nvic, w);
    snap_end(w);
    for (int i = 0; i < m->nperiphs; i++) {
        const struct periph *p = &m->periphs[i];
        if (!p->save)
            continue;
        snap_begin(w, p->name);
        p->save(p->dev, w);
        snap_end(w);
    }
    snap_begin(w, "SRAM");
    snap_bytes(w, m->sram, SRAM_SIZE);
    snap_end(w);
    snap_begin(w, "OPTBYTES");
    snap_bytes(w, m->sysmem + (OPTBYTES_BASE - SYSMEM_BASE), OPTBYTES_MAP_SIZE);
    snap_end(w);
}

int machine_snapshot_load(struct machine *m, struct snap_reader *r, uint64_t *at)
{
    if (!snap_enter(r, "POINT"))
        return -1;
    *at = snap_get_u64(r);
    uint8_t where = snap_get_u8(r);
    snap_check(r, where <= SNAP_BEFORE_EVENTS, "unknown point of the CPU loop");
    if (!snap_leave(r))
        return -1;

    struct snap_io io = {NULL, r};
    uint64_t seq = 0;
    if (!snap_enter(r, "TIME"))
        return -1;
    int nrefresh = 0;
    time_fields(m, &io, &seq, &nrefresh);
    if (!snap_leave(r))
        return -1;
    uint64_t now = m->sim.clock.now;

    cpu_snapshot_load(m, r);
    if (snap_enter(r, "NVIC")) {
        nvic_load(&m->nvic, r);
        snap_leave(r);
    }
    for (int i = 0; i < m->nperiphs && !r->failed; i++) {
        const struct periph *p = &m->periphs[i];
        if (!p->load)
            continue;
        if (snap_enter(r, p->name)) {
            p->load(p->dev, r);
            snap_leave(r);
        }
    }
    if (snap_enter(r, "SRAM")) {
        snap_get_bytes(r, m->sram, SRAM_SIZE);
        snap_leave(r);
    }
    if (snap_enter(r, "OPTBYTES")) {
        snap_get_bytes(r, m->sysmem + (OPTBYTES_BASE - SYSMEM_BASE), OPTBYTES_MAP_SIZE);
        snap_leave(r);
    }
    if (!r->failed && m->sim.nrefresh != nrefresh)
        snap_fail(r, "%d refresh writes to replay, the blocks claim %d", nrefresh, m->sim.nrefresh);
    if (r->failed)
        return -1;
    snap_restore_events(r, &m->sim, now, seq);

    /* where the run goes on (cpu.c, machine.c) */
    m->resume_in_slice = where != SNAP_AT_LOOP;
    m->resume_stage = where == SNAP_IN_FETCH_STALL || where == SNAP_BEFORE_EVENTS ? (enum snap_resume)where
                                                                                  : SNAP_AT_LOOP;
    m->resume_now = now;
    m->resume_frac = m->sim.hclk.frac;
    m->resume_snap_at = UINT64_MAX;
    if (m->resume_stage != SNAP_AT_LOOP)
        m->snap_at = 0; /* the first block's hook takes its slow path, which goes on from there */
    m->run_origin = *at;
    m->stop_requested = m->exit_requested = m->run_ended = false;
    return 0;
}

int machine_snapshot_instant(const uint8_t *payload, size_t len, uint64_t *at)
{
    struct snap_reader r;
    snap_reader_init(&r, payload, len);
    if (snap_enter(&r, "POINT"))
        *at = snap_get_u64(&r);
    int rc = r.failed ? -1 : 0;
    snap_reader_free(&r);
    return rc;
}

void machine_snapshot_save_flash(struct machine *m, struct snap_writer *w)
{
    snap_begin(w, "INTFLASH");
    snap_bytes(w, m->flash, FLASH_SIZE);
    snap_end(w);
}

int machine_snapshot_load_flash(struct machine *m, struct snap_reader *r)
{
    if (!snap_enter(r, "INTFLASH"))
        return -1;
    snap_get_bytes(r, m->flash, FLASH_SIZE);
    /* no invalidation: nothing was translated yet, and the decoded blocks restored are the run's */
    return snap_leave(r) ? 0 : -1;
}
