/*
 * cpu.c - the Cortex-M3 on Unicorn: memory regions, the hooks, and one
 * uc_emu_start "slice" with everything that can end it.
 *
 * Design decision: one UC_HOOK_BLOCK does all the per-block work. Its fast
 * path is one cache lookup, one add and one compare; everything else (events,
 * exception delivery, idle-loop fast-forward, stops) happens on a slow path
 * entered only when time reaches the next event or something raised
 * sim.attention. The CPU is stopped only from this hook or from a precise
 * bus fault, never from another thread (stops elsewhere corrupt state in
 * Unicorn 2.0.1).
 */
#include "machine.h"
#include "debug.h"
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* QEMU exception numbers Unicorn passes to UC_HOOK_INTR */
enum {
    EXCP_UDEF = 1,
    EXCP_SWI = 2,
    EXCP_PREFETCH_ABORT = 3,
    EXCP_DATA_ABORT = 4,
    EXCP_BKPT = 7,
    EXCP_EXCEPTION_EXIT = 8,
    EXCP_NOCP = 17,
    EXCP_INVSTATE = 18,
    EXCP_UNALIGNED = 22,
};

#define SEMIHOSTING_BKPT 0xBEABu
#define WATCH_NONE 1u /* no block starts at an odd address */
#define IDLE_GIVE_UP 64 /* compare failures after which a loop is taken as computation */

static uint32_t rd(struct machine *m, int reg)
{
    uint32_t v = 0;
    uc_reg_read(m->uc, reg, &v);
    return v;
}

static void wr(struct machine *m, int reg, uint32_t v)
{
    uc_reg_write(m->uc, reg, &v);
}

uint32_t cpu_pc(struct machine *m)
{
    return rd(m, UC_ARM_REG_PC);
}

/* r0-r15 as the decoder wants them, with `pc` as r15. */
static void read_core_regs(struct machine *m, uint32_t regs[16], uint32_t pc)
{
    for (int i = 0; i < 13; i++)
        regs[i] = rd(m, UC_ARM_REG_R0 + i);
    regs[13] = rd(m, UC_ARM_REG_SP);
    regs[14] = rd(m, UC_ARM_REG_LR);
    regs[15] = pc;
}

/* Host bytes of guest code at [addr, addr+size), or NULL. */
static const uint8_t *code_ptr(struct machine *m, uint32_t addr, uint32_t size)
{
    if (addr - FLASH_BASE < FLASH_SIZE && addr - FLASH_BASE + size <= FLASH_SIZE)
        return m->flash + (addr - FLASH_BASE);
    if (addr < FLASH_SIZE && addr + size <= FLASH_SIZE)
        return m->flash + addr;
    if (addr - SRAM_BASE < SRAM_SIZE && addr - SRAM_BASE + size <= SRAM_SIZE)
        return m->sram + (addr - SRAM_BASE);
    if (addr - SYSMEM_BASE < SYSMEM_SIZE && addr - SYSMEM_BASE + size <= SYSMEM_SIZE)
        return m->sysmem + (addr - SYSMEM_BASE);
    return NULL;
}

/* Out of line, like the slow path: the block hook's fast path must stay a leaf that saves no registers. */
__attribute__((noinline, cold)) static struct block_entry *block_decode(struct machine *m, struct block_entry *b,
                                                                        uint32_t addr, uint32_t size)
{
    memset(b, 0, sizeof *b);
    b->addr = addr;
    b->size = size;
    const uint8_t *code = code_ptr(m, addr, size);
    if (code) {
        thumb_scan_block(code, addr, size, &b->info);
    } else {
        b->info.count = (uint16_t)(size / 2 ? size / 2 : 1);
    }
    if (b->info.count == 0)
        b->info.count = 1;
    b->idle_candidate = b->info.self_loop && !b->info.has_store && !b->info.has_special;
    b->flags = (uint8_t)((b->idle_candidate || b->info.ndiv || b->info.it_after || b->info.has_sev) ? BLOCK_SLOW
                                                                                                    : 0);
    if (addr == m->watch_addr)
        b->flags |= BLOCK_WATCHED;
    return b;
}

/* The block that ran last in this slice (its entry is still cached: nothing ran after it). */
static struct block_entry *current_block(struct machine *m)
{
    struct block_entry *b = &m->blocks[(m->prev_block >> 1) & (BLOCK_CACHE_SIZE - 1)];
    return m->prev_block != WATCH_NONE && b->size && b->addr == m->prev_block ? b : NULL;
}

static inline struct block_entry *block_lookup(struct machine *m, uint32_t addr, uint32_t size)
{
    struct block_entry *b = &m->blocks[(addr >> 1) & (BLOCK_CACHE_SIZE - 1)];
    if (likely(b->addr == addr && b->size == size))
        return b;
    return block_decode(m, b, addr, size);
}

void cpu_invalidate(struct machine *m, uint32_t addr, uint32_t len)
{
    if (!m->uc || len == 0)
        return;
    uc_ctl_remove_cache(m->uc, addr, (uint64_t)addr + len);
    /* decoded blocks that overlap the range: a block is at most a few hundred bytes */
    uint32_t lo = addr >= 1024 ? addr - 1024 : 0;
    for (uint32_t a = lo; a < addr + len && a >= lo; a += 2) {
        struct block_entry *b = &m->blocks[(a >> 1) & (BLOCK_CACHE_SIZE - 1)];
        if (b->size && b->addr < addr + len && b->addr + b->size > addr)
            memset(b, 0, sizeof *b);
        if (len > 2 * BLOCK_CACHE_SIZE) { /* large range: clear it all once */
            memset(m->blocks, 0, sizeof *m->blocks * BLOCK_CACHE_SIZE);
            break;
        }
    }
}

/* ---- stores into read-only memory (flash, system memory) ---------------- */

/*
 * A store to flash or system memory: recorded here, and handed to the flash
 * interface (which applies the NOR programming rules) by
 * flush_pending_stores(). The regions are read-only to QEMU (cpu_init), so
 * the store itself is discarded; the old bytes are still kept and put back,
 * in case a Unicorn build lets a handled store land in the buffer.
 */
static bool hook_write_prot(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                            int64_t value, void *user)
{
    struct machine *m = user;
    (void)uc;
    (void)type;
    if (m->npending_stores == MAX_PENDING_STORES) {
        sim_log(&m->sim, LOG_WARN, "too many stores to flash in one block; store at 0x%08x dropped",
                (uint32_t)address);
        return true;
    }
    m->sim.mmio_written = true; /* a store to flash is never part of an idle loop */
    struct pending_store *s = &m->pending_stores[m->npending_stores++];
    s->addr = (uint32_t)address;
    s->size = (unsigned)size;
    s->value = (uint32_t)value;
    const uint8_t *p = code_ptr(m, s->addr, s->size);
    if (p)
        memcpy(s->old, p, s->size);
    m->sim.attention = true;
    return true;
}

void cpu_flush_pending_stores_now(struct machine *m)
{
    int n = m->npending_stores;
    m->npending_stores = 0;
    for (int i = n - 1; i >= 0; i--) {
        struct pending_store *s = &m->pending_stores[i];
        uint8_t *p = (uint8_t *)code_ptr(m, s->addr, s->size);
        if (p)
            memcpy(p, s->old, s->size);
    }
    for (int i = 0; i < n; i++) {
        struct pending_store *s = &m->pending_stores[i];
        if (s->addr < FLASH_SIZE || s->addr - FLASH_BASE < FLASH_SIZE) {
            if (m->bus.flash_write)
                m->bus.flash_write(m->bus.flash_write_opaque, s->addr & (FLASH_SIZE - 1), s->value,
                                   s->size);
        } else {
            sim_warn_once(&m->sim, "system memory", s->addr - SYSMEM_BASE, true,
                          "is read-only (store ignored)");
        }
    }
}

/* ---- MMIO regions -------------------------------------------------------- */

static uint64_t mmio_periph_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    struct machine *m = user;
    (void)uc;
    cpu_flush_pending_stores(m);
    return bus_periph_read(&m->bus, PERIPH_BASE + (uint32_t)offset, size);
}

static void mmio_periph_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                              void *user)
{
    struct machine *m = user;
    (void)uc;
    cpu_flush_pending_stores(m);
    m->sim.refresh_write = false;
    bus_periph_write(&m->bus, PERIPH_BASE + (uint32_t)offset, (uint32_t)value, size);
    if (!m->sim.refresh_write)
        sim_note_mmio_write(&m->sim);
}

/*
 * The Private Peripheral Bus is privileged-only: an unprivileged access is a
 * precise BusFault (ARMv7-M B3.1.1), except STIR when CCR.USERSETMPEND allows it.
 */
#define STIR_ADDR 0xE000EF00u
static bool ppb_unprivileged(struct machine *m, uint32_t addr, bool write)
{
    uint32_t control = rd(m, UC_ARM_REG_CONTROL);
    if (!(control & 1u) || (rd(m, UC_ARM_REG_IPSR) & 0x1FF))
        return false;
    if (write && addr == STIR_ADDR && (m->nvic.ccr & SCB_CCR_USERSETMPEND))
        return false;
    return true;
}

static const int fault_reg_ids[15] = {
    UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R4,
    UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8, UC_ARM_REG_R9,
    UC_ARM_REG_R10, UC_ARM_REG_R11, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR,
};

/*
 * The registers as the faulting instruction found them: TCG writes the
 * guest registers back before every access that can fault, so here they
 * are the state before the instruction, which a precise BusFault keeps
 * (the load's destination and any base write-back are never written).
 */
static void save_fault_regs(struct machine *m)
{
    void *ptrs[15];
    for (int i = 0; i < 15; i++)
        ptrs[i] = &m->fault_regs[i];
    uc_reg_read_batch(m->uc, (int *)fault_reg_ids, ptrs, 15);
}

static void restore_fault_regs(struct machine *m)
{
    void *ptrs[15];
    for (int i = 0; i < 15; i++)
        ptrs[i] = &m->fault_regs[i];
    uc_reg_write_batch(m->uc, (int *)fault_reg_ids, ptrs, 15);
}

static void stop_for_bus_fault(struct machine *m, uc_engine *uc, uint32_t addr)
{
    if (m->stop_reason != STOP_BUS_FAULT) {
        save_fault_regs(m);
        m->fault_addr = addr;
        m->stop_reason = STOP_BUS_FAULT;
        uc_emu_stop(uc);
    }
}

static uint64_t mmio_ppb_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    struct machine *m = user;
    uint32_t addr = PPB_BASE + (uint32_t)offset;
    if (ppb_unprivileged(m, addr, false)) {
        stop_for_bus_fault(m, uc, addr);
        return 0;
    }
    return bus_periph_read(&m->bus, addr, size);
}

static void mmio_ppb_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    struct machine *m = user;
    uint32_t addr = PPB_BASE + (uint32_t)offset;
    if (ppb_unprivileged(m, addr, true)) {
        stop_for_bus_fault(m, uc, addr);
        return;
    }
    sim_note_mmio_write(&m->sim);
    bus_periph_write(&m->bus, addr, (uint32_t)value, size);
}

/* The two bit-band aliases: each word of the alias is one bit of its region (ARMv7-M B3.1.3). */
static uint64_t mmio_bitband_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    struct bitband *bb = user;
    (void)uc;
    (void)size;
    return bus_bitband_read(&bb->m->bus, bb->alias_base, bb->region_base, bb->alias_base + (uint32_t)offset);
}

static void mmio_bitband_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    struct bitband *bb = user;
    (void)uc;
    (void)size;
    if (bb->region_base == PERIPH_BASE)
        sim_note_mmio_write(&bb->m->sim); /* SRAM changes are seen by comparing SRAM */
    bus_bitband_write(&bb->m->bus, bb->alias_base, bb->region_base, bb->alias_base + (uint32_t)offset,
                      (uint32_t)value);
}

/*
 * Holes in the memory map. A load stops the CPU right after the access (the
 * rest of the block has not run) so the fault can be taken precisely; a store
 * is buffered on a Cortex-M3, so it raises an imprecise BusFault instead.
 */
static uint64_t mmio_hole_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    struct hole *h = user;
    (void)size;
    stop_for_bus_fault(h->m, uc, h->base + (uint32_t)offset);
    return 0;
}

static void mmio_hole_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    struct hole *h = user;
    struct machine *m = h->m;
    (void)uc;
    (void)size;
    (void)value;
    m->nvic.cfsr |= CFSR_IMPRECISERR;
    if (nvic_fault_enabled(&m->nvic, EXC_BUSFAULT)) {
        nvic_set_pending(&m->nvic, EXC_BUSFAULT);
    } else {
        m->nvic.hfsr |= HFSR_FORCED;
        nvic_set_pending(&m->nvic, EXC_HARDFAULT);
    }
    sim_trace(&m->sim, "fault", "\"pc\":%u,\"what\":\"imprecise bus fault: store to 0x%08x\"",
              cpu_pc(m), h->base + (uint32_t)offset);
}

static const struct { uint32_t base; uint64_t end; } holes[NUM_HOLES] = {
    {0x00020000u, 0x08000000u}, {0x08020000u, 0x1FFFF000u}, {0x1FFFFC00u, 0x20000000u},
    {0x20005000u, 0x22000000u}, {0x220A0000u, 0x40000000u}, {0x40024000u, 0x42000000u},
    {0x42480000u, 0xE0000000u}, {0xE0100000u, 0x100000000ull},
};

/* ---- hooks --------------------------------------------------------------- */

/*
 * r0-r12, SP, LR, xPSR and the masks: what a loop's state is made of. The
 * masks belong here: a speculative pass that is undone may have run a CPSID
 * (millis() brackets its read with one), and restoring the registers without
 * PRIMASK left a Core with interrupts off for good (Tinker froze when USB SOF
 * interrupts moved the search's probe times).
 */
static const int idle_reg_ids[IDLE_REGS] = {
    UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R4,
    UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8, UC_ARM_REG_R9,
    UC_ARM_REG_R10, UC_ARM_REG_R11, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR,
    UC_ARM_REG_XPSR, UC_ARM_REG_PRIMASK, UC_ARM_REG_BASEPRI, UC_ARM_REG_FAULTMASK, UC_ARM_REG_CONTROL,
};

static void capture_idle_regs(struct machine *m, uint32_t regs[IDLE_REGS])
{
    const int *ids = idle_reg_ids;
    void *ptrs[IDLE_REGS];
    for (int i = 0; i < IDLE_REGS; i++)
        ptrs[i] = &regs[i];
    uc_reg_read_batch(m->uc, (int *)ids, ptrs, IDLE_REGS);
}

/*
 * A self-looping block with no stores is provably idle when two consecutive
 * iterations start from identical registers, nothing time-dependent or
 * side-effecting was read, and no event ran in between: every later iteration
 * is then the same until an event changes the world. Skip to that event.
 */
static void idle_check(struct machine *m, uint32_t addr, struct block_entry *b)
{
    if (b->ff_skip) {
        b->ff_skip--;
        return;
    }
    uint32_t regs[IDLE_REGS];
    capture_idle_regs(m, regs);
    bool same_iteration_chain = m->prev_block == addr && m->ff_addr == addr &&
                                m->ff_saved_gen == m->ff_gen && !m->sim.volatile_read &&
                                !m->sim.time_read;
    if (same_iteration_chain && memcmp(regs, m->ff_regs, sizeof regs) == 0) {
        b->ff_failures = 0;
        struct sim *sim = &m->sim;
        if (sim->clock.deadline == UINT64_MAX) {
            m->idle_forever = true;
            sim->attention = true;
            return;
        }
        if (sim->clock.deadline > sim->clock.now) {
            m->stats.idle_cycles += sim->clock.deadline - sim->clock.now;
            sim->clock.now = sim->clock.deadline;
        }
        m->stats.idle_skips++;
        return;
    }
    if (same_iteration_chain && ++b->ff_failures >= IDLE_GIVE_UP) {
        /* registers change every iteration: a computation, not a wait */
        b->idle_candidate = false;
        b->flags = (uint8_t)((b->flags & ~BLOCK_SLOW) |
                             (b->info.ndiv || b->info.it_after || b->info.has_sev ? BLOCK_SLOW : 0));
    } else if (same_iteration_chain) {
        b->ff_skip = 1u << (b->ff_failures < 10 ? b->ff_failures : 10);
    }
    memcpy(m->ff_regs, regs, sizeof regs);
    m->ff_addr = addr;
    m->ff_saved_gen = m->ff_gen;
    m->sim.volatile_read = false;
    m->sim.time_read = false;
}

/*
 * Whole-loop fixed points. A firmware's main loop often spans many blocks and
 * calls functions (so it stores to its stack), but when it only polls, every
 * pass leaves the machine exactly as it found it. Such loops usually read a
 * cycle counter too (millis()), and time-derived scratch values then sit in
 * registers. So, after events have run and the core is back in Thread mode, a
 * block of the loop becomes the watched loop head and the pure time sources
 * (CYCCNT, SysTick CVR) are frozen: the first pass back to the head brings the
 * loop to its steady state under frozen time, registers and SRAM are copied,
 * and if a second pass leaves them identical, with nothing written to a block,
 * no side-effect read and no event in between, the loop does nothing until
 * time-driven state changes: time jumps to the next event. What this assumes
 * (and docs/design.md says): a polling loop does not act on time finer than the
 * next event (a SysTick at most 1 ms away on the Core); and the two checking
 * passes see time stand still for about a microsecond.
 *
 * A head whose registers still differ moves on to the next block; the head
 * that worked last is tried first while it is fresh.
 */
#define WATCH_MOVES 48 /* positions tried per event interval */
/*
 * The longest a watched pass may keep the time sources frozen. A watch armed
 * on a block the code then leaves for good (it went on into a delay loop that
 * reads only CYCCNT, say) would otherwise freeze that loop's clock until the
 * next event, or forever if none is scheduled. The first time-source read
 * after this long unfreezes time (sim_time_source_now), which ends the watch.
 */
#define WATCH_MAX_FROZEN SIM_US(100)
#define LOOP_HEAD_FRESH SIM_MS(5)

enum watch_phase { WATCH_ARM_ON_HIT, WATCH_SETTLE, WATCH_COMPARE };

/* The watched loop head is marked in its decoded block, so the hook's fast path tests one flags byte. */
static void set_watch_addr(struct machine *m, uint32_t addr)
{
    struct block_entry *old = &m->blocks[(m->watch_addr >> 1) & (BLOCK_CACHE_SIZE - 1)];
    if (old->addr == m->watch_addr)
        old->flags &= (uint8_t)~BLOCK_WATCHED;
    m->watch_addr = addr;
    struct block_entry *b = &m->blocks[(addr >> 1) & (BLOCK_CACHE_SIZE - 1)];
    if (addr != WATCH_NONE && b->addr == addr)
        b->flags |= BLOCK_WATCHED;
}

static void loop_watch_stop(struct machine *m)
{
    set_watch_addr(m, WATCH_NONE);
    m->sim.time_frozen = false;
    m->recording = false;
}

/* The debugger halts the core: a loop being proven idle is given up (its frozen time sources thaw). */
void cpu_cancel_loop_watch(struct machine *m)
{
    if (!m->probing && !m->search_restart)
        loop_watch_stop(m);
}

/* Skip to `until` (<= the next event) and replay the refresh writes the skipped passes would have made. */
static void loop_skip_to(struct machine *m, uint64_t until)
{
    struct sim *sim = &m->sim;
    if (until > sim->clock.now) {
        m->stats.idle_cycles += until - sim->clock.now;
        sim->clock.now = until;
    }
    for (int i = 0; i < sim->nrefresh; i++)
        sim->refresh[i].fn(sim->refresh[i].opaque);
    sim->nrefresh = 0;
    m->stats.loop_skips++;
}

/*
 * A proven idle loop that read a time source may end on its own before the
 * next event (a timeout, a microsecond delay). Find when: speculative passes
 * run with the time sources frozen at a candidate time, from the proven state
 * S, along the proven block path. A pass that leaves at the first block off
 * the path is stopped before that block runs; a pass that comes back changed
 * is undone (registers and SRAM restored). A binary search between the proven
 * time and the next event finds the last instant at which the loop is still
 * idle; time jumps there and the loop then ends by itself, at its own time.
 */
static void search_restore(struct machine *m, bool redirect)
{
    const int *ids = idle_reg_ids;
    void *ptrs[IDLE_REGS];
    for (int i = 0; i < IDLE_REGS; i++)
        ptrs[i] = &m->watch_regs[i];
    uc_reg_write_batch(m->uc, (int *)ids, ptrs, IDLE_REGS);
    memcpy(m->sram, m->watch_ram, SRAM_SIZE);
    if (redirect)
        wr(m, UC_ARM_REG_PC, m->search_head | 1u); /* the off-path block does not run */
}

static void search_probe(struct machine *m, uint64_t t)
{
    struct sim *sim = &m->sim;
    m->search_t = t;
    m->probing = true;
    m->probe_pos = 0;
    m->probe_second = false;
    m->search_restart = false;
    sim->time_frozen = true;
    sim->frozen_now = t;
    sim->frozen_until = UINT64_MAX; /* a speculative pass is bounded by its path */
    sim->volatile_read = false;
    sim->mmio_written = false;
    sim->attention = true;
}

static void search_finish(struct machine *m)
{
    if (m->sim.log_level >= LOG_DEBUG)
        sim_log(&m->sim, LOG_DEBUG, "search at 0x%08x ends: idle until %llu (now %llu, deadline %llu)",
                m->search_head, (unsigned long long)m->search_lo, (unsigned long long)m->sim.clock.now,
                (unsigned long long)m->sim.clock.deadline);
    m->probing = false;
    m->search_restart = false;
    m->sim.time_frozen = false;
    loop_skip_to(m, m->search_lo);
    m->stats.timed_searches++;
}

/* A probe ended; `at_head`: the CPU is at the loop head in the proven state (else it was sent back there). */
static void search_next(struct machine *m, bool idle_at_t, bool at_head)
{
    if (idle_at_t)
        m->search_lo = m->search_t;
    else
        m->search_hi = m->search_t;
    m->probing = false;
    if (m->search_hi - m->search_lo <= m->search_granule) {
        if (at_head) {
            search_finish(m);
        } else {
            m->search_restart = true; /* finish once back at the head */
            m->search_t = m->search_lo;
            m->search_finishing = true;
        }
        return;
    }
    uint64_t t = m->search_lo + (m->search_hi - m->search_lo) / 2;
    if (at_head) {
        search_probe(m, t);
    } else {
        m->search_t = t;
        m->search_restart = true;
        m->search_finishing = false;
        m->sim.attention = true;
    }
}

static void capture_probe(struct machine *m)
{
    capture_idle_regs(m, m->probe_regs);
    memcpy(m->probe_ram, m->sram, SRAM_SIZE);
}

/* Every block of a speculative pass comes here. Returns true if this block must not run. */
static bool search_step(struct machine *m, uint32_t addr)
{
    struct sim *sim = &m->sim;
    if (m->search_restart) {
        m->search_restart = false;
        if (addr != m->search_head) { /* cannot happen: we sent the CPU to the head */
            sim->time_frozen = false;
            return false;
        }
        if (m->search_finishing) {
            m->search_finishing = false;
            search_finish(m);
        } else {
            search_probe(m, m->search_t);
        }
        return false;
    }
    if (sim->clock.now >= sim->clock.deadline || m->watch_gen != m->ff_gen) {
        /* no time left for speculation: back to the proven state, idle until search_lo */
        bool at_head = addr == m->search_head;
        search_restore(m, !at_head);
        search_finish(m);
        return !at_head;
    }
    if (sim->mmio_written || sim->volatile_read) {
        /* a block with an effect ran: nothing can undo it; carry on from here, unfrozen */
        m->probing = false;
        sim->time_frozen = false;
        return false;
    }
    if (m->probe_pos >= m->path_len || addr != m->path[m->probe_pos]) {
        search_restore(m, true); /* off the path: this block does not run */
        search_next(m, false, false);
        return true;
    }
    if (++m->probe_pos < m->path_len)
        return false;
    /* back at the head after one pass at frozen time t */
    if (!m->probe_second) {
        capture_probe(m);
        m->probe_second = true;
        m->probe_pos = 0;
        return false;
    }
    uint32_t regs[IDLE_REGS];
    capture_idle_regs(m, regs);
    bool idle = memcmp(regs, m->probe_regs, sizeof regs) == 0 &&
                memcmp(m->sram, m->probe_ram, SRAM_SIZE) == 0;
    if (idle) {
        /* the loop's fixed point at time t becomes the proven state */
        memcpy(m->watch_regs, regs, sizeof regs);
        memcpy(m->watch_ram, m->sram, SRAM_SIZE);
    } else {
        search_restore(m, false); /* at the head: this block runs from the proven state */
    }
    search_next(m, idle, true);
    return false;
}

static void loop_watch_arm(struct machine *m, uint32_t addr, enum watch_phase phase)
{
    set_watch_addr(m, addr);
    m->watch_phase = phase;
    m->watch_gen = m->ff_gen;
    m->sim.volatile_read = false;
    m->sim.mmio_written = false;
    if (phase != WATCH_COMPARE)
        m->sim.nrefresh = 0;
    if (phase == WATCH_ARM_ON_HIT) {
        m->sim.time_frozen = false;
        m->recording = false;
        return;
    }
    if (!m->sim.time_frozen) {
        m->sim.time_frozen = true;
        m->sim.frozen_now = m->sim.clock.now;
        m->sim.frozen_until = m->sim.clock.now + WATCH_MAX_FROZEN;
    }
    if (phase == WATCH_COMPARE) {
        capture_idle_regs(m, m->watch_regs);
        memcpy(m->watch_ram, m->sram, SRAM_SIZE);
        /* record the pass's block path: a later speculative pass must follow it */
        m->sim.time_read = false;
        m->path_len = 0;
        m->path_overflow = false;
        m->recording = true;
        m->pass_start = m->sim.clock.now;
        m->sim.attention = true;
    } else {
        m->recording = false;
    }
}

/* Move the watch to the next block executed (in Thread mode). */
static void loop_watch_move(struct machine *m)
{
    loop_watch_stop(m);
    if (++m->watch_moves < WATCH_MOVES) {
        m->probe_wanted = true;
        m->sim.attention = true;
    }
}

static void loop_watch_hit(struct machine *m, uint32_t addr)
{
    struct sim *sim = &m->sim;
    if (m->nvic.ipsr != 0)
        return; /* an interrupt handler passing by; the loop is in Thread mode */
    if (m->watch_phase == WATCH_ARM_ON_HIT) {
        loop_watch_arm(m, addr, WATCH_SETTLE);
        return;
    }
    if (m->watch_gen != m->ff_gen || sim->volatile_read || sim->mmio_written || !sim->time_frozen) {
        loop_watch_stop(m); /* the world changed, or the pass took too long: wait for the next probe */
        return;
    }
    if (m->watch_phase == WATCH_SETTLE) {
        loop_watch_arm(m, addr, WATCH_COMPARE);
        return;
    }
    uint32_t regs[IDLE_REGS];
    capture_idle_regs(m, regs);
    if (memcmp(regs, m->watch_regs, sizeof regs) != 0 || memcmp(m->sram, m->watch_ram, SRAM_SIZE) != 0) {
        loop_watch_move(m); /* not a fixed point here: try another point of the loop */
        return;
    }
    bool timed = sim->time_read && !m->path_overflow && m->path_len > 0;
    uint64_t proven_at = sim->frozen_now;
    uint64_t pass_cycles = sim->clock.now - m->pass_start;
    loop_watch_stop(m);
    m->last_loop_head = addr;
    m->last_loop_skip = sim->clock.now;
    if (sim->clock.deadline == UINT64_MAX) {
        m->idle_forever = true;
        sim->attention = true;
        return;
    }
    if (!timed) {
        loop_skip_to(m, sim->clock.deadline);
        return;
    }
    /* it read the time: find when it stops being idle, trying the far end first */
    m->search_head = addr;
    m->search_lo = proven_at;
    m->search_hi = sim->clock.deadline;
    m->search_granule = pass_cycles > 8 ? pass_cycles : 8;
    if (m->search_hi <= m->search_lo + m->search_granule) {
        loop_skip_to(m, sim->clock.deadline);
        return;
    }
    search_probe(m, m->search_hi - 1);
}

/* Events ran and the core is in Thread mode at `addr`: start watching for an idle loop. */
static void loop_probe(struct machine *m, uint32_t addr)
{
    m->probe_wanted = false;
    if (m->watch_moves == 0 && m->last_loop_head != WATCH_NONE && m->last_loop_head != addr &&
        m->sim.clock.now - m->last_loop_skip < LOOP_HEAD_FRESH) {
        loop_watch_arm(m, m->last_loop_head, WATCH_ARM_ON_HIT);
        return;
    }
    loop_watch_arm(m, addr, WATCH_SETTLE);
}

static void hook_div(uc_engine *uc, uint64_t address, uint32_t size, void *user);

/* With CCR.DIV_0_TRP set, a divide instruction gets a code hook that checks its divisor. */
static bool arm_divide_hooks(struct machine *m, struct block_entry *b)
{
    bool added = false;
    for (int i = 0; i < b->info.ndiv; i++) {
        uint32_t a = b->info.div_addr[i];
        bool known = false;
        for (int j = 0; j < m->ndiv_hooks; j++)
            known |= m->div_hooked[j] == a;
        if (known || m->ndiv_hooks == MAX_DIV_HOOKS)
            continue;
        if (uc_hook_add(m->uc, &m->h_div[m->ndiv_hooks], UC_HOOK_CODE, (void *)hook_div, m, a, a) ==
            UC_ERR_OK) {
            m->div_hooked[m->ndiv_hooks++] = a;
            added = true;
        }
    }
    b->divs_armed = true;
    if (added)
        uc_ctl_remove_cache(m->uc, b->addr, (uint64_t)b->addr + b->size);
    return added;
}

/*
 * CCR.UNALIGN_TRP: Unicorn performs unaligned accesses, so while the bit is set
 * every instruction passes a code hook that checks its address (slow, and only
 * then). LDM/STM/LDRD/STRD must always be word aligned; with the trap, so must
 * every half-word and word access.
 */
static void hook_unaligned(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    struct machine *m = user;
    (void)uc;
    (void)size;
    const uint8_t *code = code_ptr(m, (uint32_t)address, 4);
    if (!code)
        code = code_ptr(m, (uint32_t)address, 2);
    if (!code)
        return;
    uint32_t regs[16];
    read_core_regs(m, regs, (uint32_t)address);
    struct thumb_mem_access acc;
    if (!thumb_mem_access(code, (uint32_t)address, regs, &acc))
        return;
    bool misaligned = acc.bytes == 2 ? (acc.addr & 1u) != 0 : acc.bytes >= 4 ? (acc.addr & 3u) != 0 : false;
    if (!misaligned)
        return;
    m->nvic.cfsr |= CFSR_UNALIGNED;
    exc_fault(m, EXC_USAGEFAULT, (uint32_t)address, "unaligned access");
}

static void retranslate_all(struct machine *m)
{
    uc_ctl_remove_cache(m->uc, FLASH_BASE, (uint64_t)FLASH_BASE + FLASH_SIZE);
    uc_ctl_remove_cache(m->uc, 0, FLASH_SIZE);
    uc_ctl_remove_cache(m->uc, SRAM_BASE, (uint64_t)SRAM_BASE + SRAM_SIZE);
}

/* Follow CCR.UNALIGN_TRP; returns true if the current block must be translated again. */
static bool update_unaligned_trap(struct machine *m)
{
    bool want = (m->nvic.ccr & SCB_CCR_UNALIGN_TRP) != 0;
    if (want == m->unalign_hooked)
        return false;
    if (want) {
        if (uc_hook_add(m->uc, &m->h_unaligned, UC_HOOK_CODE, (void *)hook_unaligned, m, 1, 0) != UC_ERR_OK)
            return false;
    } else {
        uc_hook_del(m->uc, m->h_unaligned);
    }
    m->unalign_hooked = want;
    retranslate_all(m);
    return true;
}

/* Instruction fetches that wait for a busy flash: the main flash and its alias at 0 (boot from flash). */
static bool fetch_stalls(uint32_t addr)
{
    return addr - FLASH_BASE < FLASH_SIZE || addr < FLASH_SIZE;
}

/* Events ran: the world may have changed under any loop being watched. */
/*
 * Proving a loop idle costs two passes through the slow path; when the next
 * event is closer than this (the next byte of an SPI transfer), the skip could
 * not be worth it, and the loop is watched after a later event instead.
 */
#define PROBE_MIN_GAP SIM_US(4)

static void run_due_events(struct machine *m)
{
    struct sim *sim = &m->sim;
    sim->time_frozen = false;
    clock_run_due(sim);
    m->ff_gen++;
    m->probe_wanted = sim->clock.deadline - sim->clock.now >= PROBE_MIN_GAP;
    m->watch_moves = 0;
    sim->attention = true;
}

/*
 * hook_block charged the block's cycles before deciding whether it runs. Note
 * what it charged (ticks and the fraction before), so a block that does not
 * run now can give them back exactly.
 */
static void note_block_charge(struct machine *m, const struct block_entry *b)
{
    uint64_t total = b->info.count * m->sim.hclk.step;
    uint32_t before = m->sim.hclk.frac - (uint32_t)total;
    m->charged_ticks = ((uint64_t)before + total) >> 32;
    m->charged_frac = before;
}

static void uncharge_block(struct machine *m)
{
    m->sim.clock.now -= m->charged_ticks;
    m->sim.hclk.frac = m->charged_frac;
}

/* A snapshot is due: take it here (it only reads), and have the next one wanted. */
static void take_snapshot(struct machine *m, enum snap_resume where, uint32_t addr)
{
    m->snap_at = UINT64_MAX;
    m->snap_pc = addr; /* a block hook reads a stale PC: Unicorn writes it back only when a block exits */
    if (m->snap_take)
        m->snap_take(m, where);
}

/*
 * `resume`: a loaded snapshot taken inside this block's slow path goes on
 * where it was taken (a fetch stall, or the due events), with everything
 * before that point already done.
 */
static void block_slow_path_inner(struct machine *m, uint32_t addr, struct block_entry *b, enum snap_resume resume)
{
    struct sim *sim = &m->sim;
    if (unlikely(resume == SNAP_IN_FETCH_STALL))
        goto fetch_stall_events;
    if (unlikely(resume == SNAP_BEFORE_EVENTS))
        goto due_events;
    cpu_flush_pending_stores(m);

    if (m->probing || m->search_restart) {
        if (search_step(m, addr)) {
            uncharge_block(m); /* redirected: the block does not run */
            return;
        }
        if (m->probing || m->search_restart)
            return; /* no events, no interrupts while speculating */
    }
    if (m->recording) {
        if (m->path_len < MAX_PATH)
            m->path[m->path_len++] = addr;
        else
            m->path_overflow = true;
        sim->attention = true;
    }

    /*
     * The flash is busy: this fetch waits until it is done. Events due
     * meanwhile run (one of them ends the wait); an interrupt they raise is
     * taken after, as its vector and handler come from the flash too.
     */
    while (unlikely(sim->fetch_stall_until > sim->clock.now) && fetch_stalls(addr)) {
        uint64_t until = sim->fetch_stall_until < sim->clock.deadline ? sim->fetch_stall_until : sim->clock.deadline;
        m->stats.idle_cycles += until - sim->clock.now;
        sim->clock.now = until;
        if (unlikely(sim->clock.now >= m->snap_at))
            take_snapshot(m, SNAP_IN_FETCH_STALL, addr);
    fetch_stall_events:
        if (sim->clock.now >= sim->clock.deadline)
            run_due_events(m);
    }

    if (b->idle_candidate) {
        /*
         * idle_check starts its own observation window by clearing the read
         * notes; a watched loop pass that is under way still needs them (a
         * one-block delay loop on CYCCNT is both), or it would be taken as
         * untimed and skipped to the next event.
         */
        bool volatile_read = sim->volatile_read, time_read = sim->time_read;
        idle_check(m, addr, b);
        if (addr == m->watch_addr) {
            sim->volatile_read |= volatile_read;
            sim->time_read |= time_read;
        }
    }

    if (addr == m->watch_addr) {
        loop_watch_hit(m, addr);
        if (m->probing)
            return; /* the speculative pass starts with this very block */
    }

    /* a skip (a busy-wait, an idle loop) may have brought time past a snapshot's instant */
    if (unlikely(sim->clock.now >= m->snap_at))
        take_snapshot(m, SNAP_BEFORE_EVENTS, addr);
due_events:
    if (sim->clock.now >= sim->clock.deadline)
        run_due_events(m);

    if (sim->attention) {
        sim->attention = false;
        machine_run_services(m);
        if (m->stop_requested || sim->reset_requested || m->exit_requested || m->sleep_on_exit ||
            m->idle_forever) {
            uncharge_block(m); /* the block does not run now */
            m->stop_reason = STOP_REQUESTED;
            uc_emu_stop(m->uc);
            return;
        }
        if (exc_try_deliver(m, addr)) {
            uncharge_block(m);
            return;
        }
        if (unlikely(update_unaligned_trap(m))) {
            uncharge_block(m);
            wr(m, UC_ARM_REG_PC, addr | 1u); /* run this block again, translated with the hook */
            return;
        }
        if (m->probe_wanted && !debug_no_loop_skip(m)) {
            /*
             * The first Thread-mode block after an exception return starts at
             * the interrupted instruction, an address the loop never branches
             * to: probe from the block after it.
             */
            if (m->nvic.ipsr == 0 && m->probe_resumed) {
                m->probe_resumed = false;
                loop_probe(m, addr);
            } else if (m->nvic.ipsr == 0) {
                m->probe_resumed = true;
                sim->attention = true;
            } else {
                sim->attention = true; /* still in a handler: try again at the next block */
            }
        }
    }

    if (unlikely(b->info.ndiv && !b->divs_armed && (m->nvic.ccr & SCB_CCR_DIV_0_TRP))) {
        if (arm_divide_hooks(m, b)) {
            /* re-enter the block so it is translated again, with the hook */
            uncharge_block(m);
            wr(m, UC_ARM_REG_PC, addr | 1u);
        }
    }
}

/*
 * Unicorn 2.0.1 loses ITSTATE when a translated block ends with an ISB that
 * executes inside an IT block: the next block starts with ITSTATE clear and
 * runs its remaining slots unconditionally (and an exception taken there
 * would stack IT = 0). A block that ends inside an IT block notes where it
 * falls through and the ITSTATE the decoder computed; if the next block
 * starts there with ITSTATE clear, ITSTATE is restored and the block is
 * entered again, translated for it. Returns true if this block must not run.
 */
static bool it_state_lost(struct machine *m, uint32_t addr)
{
    uint32_t at = m->it_resume_at;
    m->it_resume_at = 0;
    if (addr != at)
        return false;
    uint32_t xpsr = rd(m, UC_ARM_REG_XPSR);
    if ((xpsr & 0x0600FC00u) != 0)
        return false; /* Unicorn kept it (a condition-failed ISB, a block cut by its size) */
    uint32_t it = m->it_resume_state;
    wr(m, UC_ARM_REG_XPSR, xpsr | ((it & 3u) << 25) | (((it >> 2) & 0x3Fu) << 10));
    wr(m, UC_ARM_REG_PC, addr | 1u);
    return true;
}

/* Recording a loop's path and speculating both need to see every block. */
__attribute__((noinline)) static void block_slow_path(struct machine *m, uint32_t addr, struct block_entry *b)
{
    note_block_charge(m, b);
    if (unlikely(m->resume_stage != SNAP_AT_LOOP)) {
        /* the first block of a loaded snapshot taken in its slow path: its hook already charged it */
        enum snap_resume stage = m->resume_stage;
        m->resume_stage = SNAP_AT_LOOP;
        m->snap_at = m->resume_snap_at;
        m->sim.clock.now = m->resume_now;
        m->sim.hclk.frac = m->resume_frac;
        block_slow_path_inner(m, addr, b, stage);
        goto tail;
    }
    if (unlikely(m->sim.clock.now >= m->snap_at)) {
        /* this block's hook brings time to a snapshot's instant: take it as the hook found the machine */
        uncharge_block(m);
        take_snapshot(m, SNAP_AT_BLOCK, addr);
        sim_charge_cycles(&m->sim, b->info.count);
    }
    if (unlikely(m->it_resume_at) && it_state_lost(m, addr)) {
        uncharge_block(m); /* the block does not run now */
        return;
    }
    if (unlikely(m->debug) && debug_stop_before_block(m, addr)) {
        uncharge_block(m); /* halted for the debugger before this block (a step's end, a watchpoint, Ctrl-C) */
        m->stop_reason = STOP_REQUESTED;
        uc_emu_stop(m->uc);
        return;
    }
    /*
     * SEV is a NOP to Unicorn: the event register is set when a block with a
     * SEV starts. A WFE ends its block, so a later WFE still sees it in order.
     */
    if (unlikely(b->info.has_sev))
        m->event_register = true;
    if (unlikely(b->info.it_after)) {
        m->it_resume_at = addr + b->size;
        m->it_resume_state = b->info.it_after;
        m->sim.attention = true; /* the next block takes the slow path */
    }
    block_slow_path_inner(m, addr, b, SNAP_AT_LOOP);
tail:
    /* speculation, and a busy flash (the next block may be fetched from it), look at every block */
    if (m->recording || m->probing || m->search_restart || m->sim.fetch_stall_until > m->sim.clock.now ||
        (m->debug && debug_every_block(m)))
        m->sim.attention = true;
    m->prev_block = addr;
}

static void hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    struct machine *m = user;
    uint32_t addr = (uint32_t)address;
    (void)uc;
    struct block_entry *b = block_lookup(m, addr, size);
    sim_charge_cycles(&m->sim, b->info.count); /* HCLK cycles, in ticks of virtual time */
    if (unlikely(m->sim.clock.now >= m->sim.clock.deadline || m->sim.attention || b->flags ||
                 m->sim.clock.now >= m->snap_at)) {
        block_slow_path(m, addr, b); /* a tail call: the fast path saves no registers */
        return;
    }
    m->prev_block = addr;
}

static void hook_div(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    struct machine *m = user;
    (void)uc;
    (void)size;
    if (!(m->nvic.ccr & SCB_CCR_DIV_0_TRP))
        return;
    const uint8_t *code = code_ptr(m, (uint32_t)address, 4);
    unsigned rm;
    bool is_signed;
    if (!code || !thumb_decode_divide(code, &rm, &is_signed))
        return;
    uint32_t divisor = rd(m, UC_ARM_REG_R0 + (int)rm);
    if (divisor != 0)
        return;
    m->nvic.cfsr |= CFSR_DIVBYZERO;
    exc_fault(m, EXC_USAGEFAULT, (uint32_t)address, "divide by zero");
}

static void undefined_instruction(struct machine *m, uint32_t pc)
{
    uint32_t xpsr = rd(m, UC_ARM_REG_XPSR);
    if (!(xpsr & (1u << 24))) {
        m->nvic.cfsr |= CFSR_INVSTATE;
        exc_fault(m, EXC_USAGEFAULT, pc, "invalid state (EPSR.T = 0)");
    } else {
        m->nvic.cfsr |= CFSR_UNDEFINSTR;
        exc_fault(m, EXC_USAGEFAULT, pc, "undefined instruction");
    }
}

static void breakpoint(struct machine *m, uint32_t pc)
{
    const uint8_t *code = code_ptr(m, pc, 2);
    uint16_t insn = code ? (uint16_t)(code[0] | code[1] << 8) : 0;
    if (insn == SEMIHOSTING_BKPT) {
        semihost_call(m);
        if (m->exit_requested)
            uc_emu_stop(m->uc); /* never also write PC: that would lose the stop */
        else
            wr(m, UC_ARM_REG_PC, (pc + 2) | 1u);
        return;
    }
    if (m->debug && debug_bkpt(m, pc)) {
        m->stop_reason = STOP_REQUESTED;
        uc_emu_stop(m->uc); /* halted at the BKPT, which runs again on resume, as on the chip */
        return;
    }
    /* No debugger: BKPT escalates to HardFault with HFSR.DEBUGEVT. */
    m->nvic.hfsr |= HFSR_DEBUGEVT;
    exc_fault(m, EXC_HARDFAULT, pc, "breakpoint with no debugger attached");
}

/* Does the instruction at pc access memory at an address its size does not allow? */
static bool misaligned_access(struct machine *m, uint32_t pc)
{
    const uint8_t *code = code_ptr(m, pc, 4);
    if (!code)
        code = code_ptr(m, pc, 2);
    if (!code)
        return false;
    uint32_t regs[16];
    read_core_regs(m, regs, pc);
    struct thumb_mem_access acc;
    if (!thumb_mem_access(code, pc, regs, &acc))
        return false;
    return acc.bytes == 2 ? (acc.addr & 1u) != 0 : acc.bytes >= 4 ? (acc.addr & 3u) != 0 : false;
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
    struct machine *m = user;
    uint32_t pc = rd(m, UC_ARM_REG_PC);
    cpu_flush_pending_stores(m);
    if (m->locked_up) {
        /* the lockup's own stop was lost to a PC write in the same hook: stop now, writing nothing */
        uc_emu_stop(uc);
        return;
    }
    switch (intno) {
    case EXCP_SWI:
        exc_fault(m, EXC_SVCALL, pc, "svc");
        return;
    case EXCP_EXCEPTION_EXIT:
        ExceptionReturn(m, pc | 1u);
        return;
    case EXCP_PREFETCH_ABORT:
        if (pc >= 0xF0000000u && (rd(m, UC_ARM_REG_IPSR) & 0x1FF)) {
            ExceptionReturn(m, pc | 1u);
            return;
        }
        m->nvic.cfsr |= CFSR_IACCVIOL;
        exc_fault(m, EXC_MEMMANAGE, pc, "instruction fetch from an execute-never region");
        return;
    case EXCP_BKPT:
        breakpoint(m, pc);
        return;
    case EXCP_NOCP:
        m->nvic.cfsr |= CFSR_NOCP;
        exc_fault(m, EXC_USAGEFAULT, pc, "coprocessor instruction");
        return;
    case EXCP_UDEF:
        undefined_instruction(m, pc);
        return;
    case EXCP_INVSTATE:
        m->nvic.cfsr |= CFSR_INVSTATE;
        exc_fault(m, EXC_USAGEFAULT, pc, "invalid state");
        return;
    case EXCP_UNALIGNED:
        m->nvic.cfsr |= CFSR_UNALIGNED;
        exc_fault(m, EXC_USAGEFAULT, pc, "unaligned access");
        return;
    case EXCP_DATA_ABORT:
        /* every address answers (holes are MMIO): Unicorn's data aborts are LDREX alignment checks */
        if (misaligned_access(m, pc)) {
            m->nvic.cfsr |= CFSR_UNALIGNED;
            exc_fault(m, EXC_USAGEFAULT, pc, "unaligned exclusive access");
            return;
        }
        m->nvic.cfsr |= CFSR_PRECISERR;
        exc_fault(m, EXC_BUSFAULT, pc, "data abort");
        return;
    }
    sim_log(&m->sim, LOG_ERROR, "unexpected CPU exception %u at pc 0x%08x", intno, pc);
    m->exit_requested = true;
    m->exit_status = 1;
    uc_emu_stop(m->uc);
}

/* Debug aid: SPARK_EMU_ITRACE=<from_us> logs every instruction from that virtual time on. */
static void hook_itrace(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    struct machine *m = user;
    (void)uc;
    (void)size;
    if (m->sim.clock.now < m->itrace_from)
        return;
    uint32_t sp = rd(m, UC_ARM_REG_SP), lr = rd(m, UC_ARM_REG_LR), r0 = rd(m, UC_ARM_REG_R0);
    fprintf(stderr, "itrace %10llu 0x%08x sp=%08x lr=%08x r0=%08x\n",
            (unsigned long long)(m->sim.clock.now / SIM_CYCLES_PER_US), (uint32_t)address, sp, lr, r0);
}

/*
 * Not "handled": Unicorn 2.0.1 stops either way, but 2.1 goes on into the
 * UC_HOOK_INTR path when this returns true, so the same exception would be
 * taken twice. Uncaught, both versions stop with UC_ERR_INSN_INVALID (also
 * for an instruction fetched with EPSR.T = 0, which cpu_run_slice tells apart).
 */
static bool hook_insn_invalid(uc_engine *uc, void *user)
{
    struct machine *m = user;
    (void)uc;
    m->stop_reason = STOP_INSN_INVALID;
    return false;
}

/* ---- the local exclusive monitor ----------------------------------------- */

/*
 * Exception entry and return clear the local monitor (ARMv7-M B1.5.6/B1.5.8),
 * which Unicorn 2.0.1 leaves to the exception model it does not have, and its
 * API has no register for the monitor. The monitor is QEMU's exclusive
 * address (a 64-bit word, -1 when open, followed by the value LDREX read) in
 * the CPU state that uc_context_save copies. Its place in that copy is found
 * once, by running an LDREX of a known word at a known address before the
 * first image is loaded; clearing then writes -1 there and restores the
 * context. If the pair is not found (another Unicorn build), the monitor is
 * left alone and a warning says so.
 */
#define MONITOR_PROBE_CODE 0x20000000u
#define MONITOR_PROBE_ADDR 0x20000F04u
#define MONITOR_PROBE_VALUE 0x5EC0DE42u
#define MONITOR_OPEN UINT64_MAX

static void find_exclusive_monitor(struct machine *m)
{
    static const uint8_t ldrex_r0_r1[] = {0x51, 0xE8, 0x00, 0x0F}; /* LDREX r0, [r1] */
    size_t size = uc_context_size(m->uc);
    if (uc_context_alloc(m->uc, &m->monitor_ctx) != UC_ERR_OK) {
        m->monitor_ctx = NULL;
        return;
    }
    uint32_t value = MONITOR_PROBE_VALUE;
    memcpy(m->sram + (MONITOR_PROBE_CODE - SRAM_BASE), ldrex_r0_r1, sizeof ldrex_r0_r1);
    memcpy(m->sram + (MONITOR_PROBE_ADDR - SRAM_BASE), &value, 4);
    wr(m, UC_ARM_REG_XPSR, 1u << 24);
    wr(m, UC_ARM_REG_R1, MONITOR_PROBE_ADDR);
    uc_err e = uc_emu_start(m->uc, MONITOR_PROBE_CODE | 1u, MONITOR_PROBE_CODE + sizeof ldrex_r0_r1, 0, 0);
    if (e == UC_ERR_OK && uc_context_save(m->uc, m->monitor_ctx) == UC_ERR_OK) {
        const uint8_t *bytes = (const uint8_t *)m->monitor_ctx;
        uint64_t want[2] = {MONITOR_PROBE_ADDR, MONITOR_PROBE_VALUE};
        for (size_t off = 8; off + sizeof want <= size; off += 4) {
            if (memcmp(bytes + off, want, sizeof want) == 0) {
                m->monitor_offset = off;
                break;
            }
        }
    }
    memset(m->sram, 0, SRAM_SIZE);
    uc_ctl_remove_cache(m->uc, SRAM_BASE, (uint64_t)SRAM_BASE + SRAM_SIZE);
    if (m->monitor_offset)
        cpu_clear_exclusive_local(m);
    else
        sim_log(&m->sim, LOG_WARN, "this Unicorn's exclusive monitor was not found: exceptions will not clear it");
}

void cpu_clear_exclusive_local(struct machine *m)
{
    if (!m->monitor_offset || uc_context_save(m->uc, m->monitor_ctx) != UC_ERR_OK)
        return;
    uint8_t *addr = (uint8_t *)m->monitor_ctx + m->monitor_offset;
    uint64_t open = MONITOR_OPEN, now;
    memcpy(&now, addr, sizeof now);
    if (now == open)
        return;
    memcpy(addr, &open, sizeof open);
    uc_context_restore(m->uc, m->monitor_ctx);
}

/* ---- open / close / reset ----------------------------------------------- */

static int map_mmio(struct machine *m, uint32_t base, uint64_t size, uc_cb_mmio_read_t r,
                    uc_cb_mmio_write_t w, void *user, char *err, size_t errlen)
{
    uc_err e = uc_mmio_map(m->uc, base, (size_t)size, r, user, w, user);
    if (e != UC_ERR_OK) {
        snprintf(err, errlen, "cannot map MMIO at 0x%08x: %s", base, uc_strerror(e));
        return -1;
    }
    return 0;
}

int cpu_open(struct machine *m, char *err, size_t errlen)
{
    uc_err e = uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &m->uc);
    if (e != UC_ERR_OK) {
        snprintf(err, errlen, "cannot open Unicorn: %s", uc_strerror(e));
        return -1;
    }
    /* Must be the first call after uc_open; never UC_MODE_MCLASS (that forces an M33). */
    e = uc_ctl_set_cpu_model(m->uc, UC_CPU_ARM_CORTEX_M3);
    if (e != UC_ERR_OK) {
        snprintf(err, errlen, "cannot select a Cortex-M3: %s", uc_strerror(e));
        return -1;
    }
    unsigned ro = UC_PROT_READ | UC_PROT_EXEC;
    if ((e = uc_mem_map_ptr(m->uc, FLASH_BASE, FLASH_SIZE, ro, m->flash)) != UC_ERR_OK ||
        (e = uc_mem_map_ptr(m->uc, 0, FLASH_SIZE, ro, m->flash)) != UC_ERR_OK ||
        (e = uc_mem_map_ptr(m->uc, SRAM_BASE, SRAM_SIZE, UC_PROT_ALL, m->sram)) != UC_ERR_OK ||
        (e = uc_mem_map_ptr(m->uc, SYSMEM_BASE, SYSMEM_MAP_SIZE, ro, m->sysmem)) != UC_ERR_OK ||
        /*
         * uc_mem_map_ptr leaves QEMU's region writable whatever the perms say:
         * a store then lands in the buffer (the flash image file), and Unicorn
         * 2.1, which tracks dirty pages, calls the WRITE_PROT hook only for the
         * first store to a page. uc_mem_protect marks the region read-only, so
         * every store takes the slow path, reaches hook_write_prot and is
         * discarded, on 2.0.1 and 2.1 alike; only the flash interface writes.
         */
        (e = uc_mem_protect(m->uc, FLASH_BASE, FLASH_SIZE, ro)) != UC_ERR_OK ||
        (e = uc_mem_protect(m->uc, 0, FLASH_SIZE, ro)) != UC_ERR_OK ||
        (e = uc_mem_protect(m->uc, SYSMEM_BASE, SYSMEM_MAP_SIZE, ro)) != UC_ERR_OK) {
        snprintf(err, errlen, "cannot map memory: %s", uc_strerror(e));
        return -1;
    }
    /* uc_ctl_get_cpu_model() shifts 2 << 30 in an int (undefined); build the same request unsigned */
    int model = -1;
    uc_ctl(m->uc, (uc_control_type)(UC_CTL_CPU_MODEL | (1u << 26) | ((unsigned)UC_CTL_IO_READ << 30)), &model);
    if (model != UC_CPU_ARM_CORTEX_M3) {
        snprintf(err, errlen, "Unicorn gave CPU model %d, not a Cortex-M3", model);
        return -1;
    }
    m->bitband[0] = (struct bitband){m, PERIPH_BB_BASE, PERIPH_BASE};
    m->bitband[1] = (struct bitband){m, SRAM_BB_BASE, SRAM_BASE};
    if (map_mmio(m, PERIPH_BASE, PERIPH_SIZE, mmio_periph_read, mmio_periph_write, m, err, errlen) ||
        map_mmio(m, PERIPH_BB_BASE, (uint64_t)PERIPH_SIZE << 5, mmio_bitband_read, mmio_bitband_write,
                 &m->bitband[0], err, errlen) ||
        map_mmio(m, SRAM_BB_BASE, (uint64_t)SRAM_SIZE << 5, mmio_bitband_read, mmio_bitband_write,
                 &m->bitband[1], err, errlen) ||
        map_mmio(m, PPB_BASE, PPB_SIZE, mmio_ppb_read, mmio_ppb_write, m, err, errlen))
        return -1;
    for (int i = 0; i < NUM_HOLES; i++) {
        m->holes[i].m = m;
        m->holes[i].base = holes[i].base;
        if (map_mmio(m, holes[i].base, holes[i].end - holes[i].base, mmio_hole_read,
                     mmio_hole_write, &m->holes[i], err, errlen))
            return -1;
    }

    find_exclusive_monitor(m); /* before any hook: it runs one instruction */

    m->blocks = calloc(BLOCK_CACHE_SIZE, sizeof *m->blocks);
    m->watch_ram = malloc(SRAM_SIZE);
    m->probe_ram = malloc(SRAM_SIZE);
    m->watch_addr = WATCH_NONE;
    m->last_loop_head = WATCH_NONE;
    m->sim.time_frozen = false;
    m->snap_at = UINT64_MAX;
    m->snap_pc = WATCH_NONE;
    m->run_origin = UINT64_MAX;
    if (!m->blocks || !m->watch_ram || !m->probe_ram) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Every hook is added before the first translation (later ones miss cached code). */
    if (uc_hook_add(m->uc, &m->h_block, UC_HOOK_BLOCK, (void *)hook_block, m, 1, 0) ||
        uc_hook_add(m->uc, &m->h_intr, UC_HOOK_INTR, (void *)hook_intr, m, 1, 0) ||
        uc_hook_add(m->uc, &m->h_insn_invalid, UC_HOOK_INSN_INVALID, (void *)hook_insn_invalid, m, 1,
                    0) ||
        uc_hook_add(m->uc, &m->h_flash_write, UC_HOOK_MEM_WRITE_PROT, (void *)hook_write_prot, m, 0,
                    0x1FFFFFFF)) {
        snprintf(err, errlen, "cannot install the CPU hooks");
        return -1;
    }
    const char *itrace = getenv("SPARK_EMU_ITRACE");
    if (itrace && *itrace) {
        m->itrace_from = strtoull(itrace, NULL, 0) * SIM_CYCLES_PER_US;
        uc_hook h;
        uc_hook_add(m->uc, &h, UC_HOOK_CODE, (void *)hook_itrace, m, 1, 0);
    }
    return 0;
}

void cpu_close(struct machine *m)
{
    if (m->monitor_ctx)
        uc_context_free(m->monitor_ctx);
    m->monitor_ctx = NULL;
    if (m->uc)
        uc_close(m->uc);
    m->uc = NULL;
    free(m->blocks);
    m->blocks = NULL;
    free(m->watch_ram);
    m->watch_ram = NULL;
    free(m->probe_ram);
    m->probe_ram = NULL;
}

/* Reset the core registers from any state, including unprivileged Thread mode. */
void cpu_reset_core(struct machine *m, uint32_t sp, uint32_t pc)
{
    wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT); /* Handler mode: privileged access */
    wr(m, UC_ARM_REG_CONTROL, 0);          /* nPRIV = 0 (SPSEL is ignored here) */
    wr(m, UC_ARM_REG_IPSR, 0);             /* Thread, privileged */
    wr(m, UC_ARM_REG_CONTROL, 0);          /* SPSEL = 0: SP = MSP */
    wr(m, UC_ARM_REG_PRIMASK, 0);
    wr(m, UC_ARM_REG_FAULTMASK, 0);
    wr(m, UC_ARM_REG_BASEPRI, 0);
    wr(m, UC_ARM_REG_PSP, 0);
    wr(m, UC_ARM_REG_MSP, sp & ~3u);
    for (int r = UC_ARM_REG_R0; r <= UC_ARM_REG_R12; r++)
        wr(m, r, 0);
    wr(m, UC_ARM_REG_LR, 0xFFFFFFFFu);
    wr(m, UC_ARM_REG_XPSR, (pc & 1u) << 24);
    wr(m, UC_ARM_REG_PC, pc);
    cpu_rebuild_hflags(m);
    cpu_clear_exclusive_local(m);
    m->nvic.ipsr = 0;
    m->prev_block = 0;
    m->it_resume_at = 0;
    m->ff_addr = 0;
    m->watch_addr = WATCH_NONE;
    m->sim.time_frozen = false;
    m->probing = m->search_restart = m->recording = false;
    if (m->unalign_hooked) { /* CCR resets: the trap is off */
        uc_hook_del(m->uc, m->h_unaligned);
        m->unalign_hooked = false;
    }
}

/* ---- one slice ----------------------------------------------------------- */

static void precise_bus_fault(struct machine *m)
{
    struct block_entry *b = current_block(m);
    uint32_t ret = cpu_pc(m);
    /* Unicorn rewinds PC and ITSTATE to the start of the block */
    uint32_t xpsr = rd(m, UC_ARM_REG_XPSR);
    uint8_t it = (uint8_t)(((xpsr >> 25) & 3u) | (((xpsr >> 10) & 0x3Fu) << 2));
    restore_fault_regs(m);
    if (b) {
        uint32_t regs[16];
        read_core_regs(m, regs, b->addr);
        /* The stop came right after the faulting access: find that access in the block. */
        uint32_t first_access = 0, match = 0;
        uint8_t first_it = it, match_it = it;
        const uint8_t *code = code_ptr(m, b->addr, b->size);
        for (uint32_t off = 0; code && off < b->size;) {
            uint32_t pc = b->addr + off;
            uint16_t hw1 = (uint16_t)(code[off] | code[off + 1] << 8);
            unsigned len = thumb_insn_len(hw1);
            regs[15] = pc;
            struct thumb_mem_access acc;
            if (off + len <= b->size && thumb_mem_access(code + off, pc, regs, &acc)) {
                if (!first_access) {
                    first_access = pc;
                    first_it = it;
                }
                if (m->fault_addr - acc.addr < acc.bytes) {
                    match = pc;
                    match_it = it;
                    break;
                }
            }
            it = (hw1 & 0xFF00u) == 0xBF00u && (hw1 & 0xFu) ? (uint8_t)(hw1 & 0xFFu) : thumb_it_advance(it);
            off += len;
        }
        ret = match ? match : first_access ? first_access : b->addr;
        it = match ? match_it : first_access ? first_it : it;
        /* the stacked xPSR carries the faulting instruction's ITSTATE */
        xpsr = (xpsr & ~0x0600FC00u) | ((it & 3u) << 25) | (((uint32_t)(it >> 2) & 0x3Fu) << 10);
        wr(m, UC_ARM_REG_XPSR, xpsr);
    }
    m->nvic.cfsr |= CFSR_PRECISERR | CFSR_BFARVALID;
    m->nvic.bfar = m->fault_addr;
    char what[96];
    snprintf(what, sizeof what, "bus fault: precise access to 0x%08x", m->fault_addr);
    exc_fault(m, EXC_BUSFAULT, ret, what);
}

/* Did the slice stop right after a WFI/WFE (the last instruction of the block)? */
static enum thumb_hint stopped_after_hint(struct machine *m, uint32_t pc)
{
    struct block_entry *b = current_block(m);
    if (!b || pc != b->addr + b->size)
        return THUMB_HINT_NONE;
    for (unsigned len = 2; len <= 4; len += 2) {
        const uint8_t *code = code_ptr(m, pc - len, len);
        if (code && thumb_insn_len((uint16_t)(code[0] | code[1] << 8)) == len) {
            enum thumb_hint h = thumb_decode_hint(code, len);
            if (h != THUMB_HINT_NONE)
                return h;
        }
    }
    return THUMB_HINT_NONE;
}

int cpu_run_slice(struct machine *m)
{
    m->stop_reason = STOP_NONE;
    if (m->resume_in_slice)
        m->resume_in_slice = false; /* a loaded snapshot goes on inside the slice it was taken in */
    else
        m->prev_block = WATCH_NONE; /* no block has run in this slice yet */
    uint32_t pc = rd(m, UC_ARM_REG_PC);
    uint32_t xpsr = rd(m, UC_ARM_REG_XPSR);
    uc_err e = uc_emu_start(m->uc, pc | ((xpsr >> 24) & 1u), 0, 0, 0);
    m->stats.emu_starts++;
    cpu_flush_pending_stores(m);
    pc = rd(m, UC_ARM_REG_PC);
    if (m->locked_up)
        return 0; /* whatever stopped the CPU, it stays stopped until a reset */

    switch (e) {
    case UC_ERR_OK:
        break;
    case UC_ERR_FETCH_UNMAPPED:
    case UC_ERR_FETCH_PROT:
        m->nvic.cfsr |= CFSR_IBUSERR;
        exc_fault(m, EXC_BUSFAULT, pc, "instruction fetch from an address with no memory");
        return 0;
    case UC_ERR_INSN_INVALID:
        if (!(rd(m, UC_ARM_REG_XPSR) & (1u << 24))) {
            /* a BX/BLX/POP to an even address: the next fetch is in ARM state */
            m->nvic.cfsr |= CFSR_INVSTATE;
            exc_fault(m, EXC_USAGEFAULT, pc, "invalid state (EPSR.T = 0)");
            return 0;
        }
        m->stop_reason = STOP_INSN_INVALID;
        break;
    case UC_ERR_READ_UNMAPPED:
    case UC_ERR_WRITE_UNMAPPED:
    case UC_ERR_READ_PROT:
    case UC_ERR_WRITE_PROT:
        m->nvic.cfsr |= CFSR_IMPRECISERR;
        exc_fault(m, EXC_BUSFAULT, pc, "bus error");
        return 0;
    case UC_ERR_EXCEPTION:
        if (!(rd(m, UC_ARM_REG_XPSR) & (1u << 24))) {
            /* a BX/BLX/POP to an even address: the next fetch is in ARM state */
            m->nvic.cfsr |= CFSR_INVSTATE;
            exc_fault(m, EXC_USAGEFAULT, pc, "invalid state (EPSR.T = 0)");
            return 0;
        }
        /* fall through */
    default:
        sim_log(&m->sim, LOG_ERROR, "CPU stopped with an error at pc 0x%08x: %s", pc, uc_strerror(e));
        machine_report_fault(m, uc_strerror(e), pc);
        return -1;
    }

    switch (m->stop_reason) {
    case STOP_REQUESTED:
    case STOP_SEMIHOST_EXIT:
        return 0;
    case STOP_BUS_FAULT:
        precise_bus_fault(m);
        return 0;
    case STOP_INSN_INVALID: {
        enum thumb_hint h = stopped_after_hint(m, pc);
        if (h == THUMB_HINT_WFE || h == THUMB_HINT_YIELD) {
            if (h == THUMB_HINT_WFE) {
                if (machine_event_register(m))
                    m->event_register = false;
                else {
                    m->sleeping = true;
                    m->sleep_is_wfe = true;
                    machine_enter_sleep(m);
                }
            }
            return 0;
        }
        undefined_instruction(m, pc);
        return 0;
    }
    case STOP_NONE:
        if (m->exit_requested)
            return 0;
        if (stopped_after_hint(m, pc) == THUMB_HINT_WFI) {
            m->sleeping = true;
            m->sleep_is_wfe = false;
            machine_enter_sleep(m);
            return 0;
        }
        if (m->debug && (m->probing || m->search_restart) && debug_is_exit(m, pc) && search_step(m, pc))
            return 0; /* a speculative pass left the loop's path at a breakpoint: undone like any foreign block */
        if (m->debug && debug_slice_stopped(m, pc))
            return 0; /* a breakpoint's or a step's exit */
        if (current_block(m) == NULL && pc != 0) /* a PC write re-entered before any block ran */
            return 0;
        sim_log(&m->sim, LOG_ERROR, "CPU stopped for no known reason at pc 0x%08x", pc);
        return -1;
    }
    return 0;
}

/* ---- snapshots ----------------------------------------------------------- */

/*
 * The core registers, read through the API one by one; the masks and stack
 * pointers with Handler mode borrowed for the read, since the API reads them
 * as 0 from unprivileged Thread mode (as exception.c does).
 */
enum { SNAP_R0 = 0, SNAP_SP = 13, SNAP_LR, SNAP_PC, SNAP_XPSR, SNAP_MSP, SNAP_PSP, SNAP_PRIMASK, SNAP_BASEPRI,
       SNAP_FAULTMASK, SNAP_CONTROL, SNAP_NREGS };

static void save_core_regs(struct machine *m, uint32_t v[SNAP_NREGS])
{
    for (int i = 0; i < 13; i++)
        v[i] = rd(m, UC_ARM_REG_R0 + i);
    v[SNAP_SP] = rd(m, UC_ARM_REG_SP);
    v[SNAP_LR] = rd(m, UC_ARM_REG_LR);
    v[SNAP_PC] = rd(m, UC_ARM_REG_PC);
    v[SNAP_XPSR] = rd(m, UC_ARM_REG_XPSR);
    v[SNAP_CONTROL] = rd(m, UC_ARM_REG_CONTROL);
    bool gated = (v[SNAP_XPSR] & 0x1FFu) == 0 && (v[SNAP_CONTROL] & 1u);
    if (gated)
        wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT);
    v[SNAP_MSP] = rd(m, UC_ARM_REG_MSP);
    v[SNAP_PSP] = rd(m, UC_ARM_REG_PSP);
    v[SNAP_PRIMASK] = rd(m, UC_ARM_REG_PRIMASK);
    v[SNAP_BASEPRI] = rd(m, UC_ARM_REG_BASEPRI);
    v[SNAP_FAULTMASK] = rd(m, UC_ARM_REG_FAULTMASK);
    if (gated) {
        wr(m, UC_ARM_REG_IPSR, 0);
        cpu_rebuild_hflags(m);
    }
}

/* Write them back from any state, in the orders that work (see cpu_reset_core and exception.c). */
static void load_core_regs(struct machine *m, const uint32_t v[SNAP_NREGS])
{
    uint32_t xpsr = v[SNAP_XPSR], control = v[SNAP_CONTROL];
    wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT); /* Handler mode: privileged */
    wr(m, UC_ARM_REG_CONTROL, 0);
    wr(m, UC_ARM_REG_IPSR, 0);             /* Thread, privileged */
    wr(m, UC_ARM_REG_CONTROL, 0);          /* SP = MSP */
    wr(m, UC_ARM_REG_MSP, v[SNAP_MSP]);
    wr(m, UC_ARM_REG_PSP, v[SNAP_PSP]);
    wr(m, UC_ARM_REG_PRIMASK, v[SNAP_PRIMASK]);
    wr(m, UC_ARM_REG_BASEPRI, v[SNAP_BASEPRI]);
    wr(m, UC_ARM_REG_FAULTMASK, v[SNAP_FAULTMASK]);
    for (int i = 0; i < 13; i++)
        wr(m, UC_ARM_REG_R0 + i, v[i]);
    wr(m, UC_ARM_REG_LR, v[SNAP_LR]);
    if ((xpsr & 0x1FFu) == 0) {
        wr(m, UC_ARM_REG_XPSR, xpsr);
        wr(m, UC_ARM_REG_CONTROL, control); /* SPSEL picks PSP, nPRIV drops privilege: last */
    } else {
        wr(m, UC_ARM_REG_XPSR, xpsr);       /* Handler mode, on MSP */
        wr(m, UC_ARM_REG_CONTROL, control); /* nPRIV for the Thread mode returned to; SPSEL ignored */
    }
    wr(m, UC_ARM_REG_PC, (v[SNAP_PC] & ~1u) | ((xpsr >> 24) & 1u));
    cpu_rebuild_hflags(m);
}

static void snap_regs(struct snap_writer *w, const uint32_t *v, int n)
{
    for (int i = 0; i < n; i++)
        snap_u32(w, v[i]);
}

static void snap_get_regs(struct snap_reader *r, uint32_t *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = snap_get_u32(r);
}

void cpu_snapshot_save(struct machine *m, struct snap_writer *w)
{
    snap_begin(w, "CPU");
    uint32_t v[SNAP_NREGS];
    save_core_regs(m, v);
    if (m->snap_pc != WATCH_NONE)
        v[SNAP_PC] = m->snap_pc; /* taken in a block's hook: the block's address */
    snap_regs(w, v, SNAP_NREGS);
    /* the local exclusive monitor: QEMU's exclusive address and value (see find_exclusive_monitor) */
    uint8_t monitor[16];
    memset(monitor, 0xFF, sizeof monitor);
    bool have_monitor = m->monitor_offset && uc_context_save(m->uc, m->monitor_ctx) == UC_ERR_OK;
    if (have_monitor)
        memcpy(monitor, (const uint8_t *)m->monitor_ctx + m->monitor_offset, sizeof monitor);
    snap_bool(w, have_monitor);
    snap_bytes(w, monitor, sizeof monitor);
    snap_bool(w, m->event_register);
    snap_end(w);

    snap_begin(w, "CPU-LOOP");
    snap_bool(w, m->sleeping);
    snap_bool(w, m->sleep_is_wfe);
    snap_u8(w, (uint8_t)m->sleep_kind);
    snap_bool(w, m->sleep_on_exit);
    snap_bool(w, m->locked_up);
    snap_u64(w, m->locked_up_at);
    snap_bool(w, m->held_in_reset);
    snap_bool(w, m->idle_forever);
    snap_event(w, &m->pace_event);
    snap_u32(w, (uint32_t)m->sh_errno);
    snap_u64(w, m->charged_ticks);
    snap_u32(w, m->charged_frac);
    /* stores into flash not yet repaired */
    snap_u32(w, (uint32_t)m->npending_stores);
    for (int i = 0; i < m->npending_stores; i++) {
        const struct pending_store *s = &m->pending_stores[i];
        snap_u32(w, s->addr);
        snap_u32(w, s->size);
        snap_u32(w, s->value);
        snap_bytes(w, s->old, sizeof s->old);
    }
    /* the divide and unaligned traps' hooks */
    snap_bool(w, m->unalign_hooked);
    snap_u32(w, (uint32_t)m->ndiv_hooks);
    for (int i = 0; i < m->ndiv_hooks; i++)
        snap_u32(w, m->div_hooked[i]);
    /* the idle-loop fast-forward: busy-waits, whole loops, the timed search (their state decides when skips happen) */
    snap_u32(w, m->prev_block);
    snap_u32(w, m->it_resume_at);
    snap_u8(w, m->it_resume_state);
    snap_u64(w, m->ff_gen);
    snap_u64(w, m->ff_saved_gen);
    snap_u32(w, m->ff_addr);
    snap_regs(w, m->ff_regs, IDLE_REGS);
    snap_bool(w, m->probe_wanted);
    snap_bool(w, m->probe_resumed);
    snap_u32(w, m->watch_addr);
    snap_i32(w, m->watch_phase);
    snap_i32(w, m->watch_moves);
    snap_bool(w, m->recording);
    snap_bool(w, m->path_overflow);
    snap_i32(w, m->path_len);
    snap_regs(w, m->path, m->path_len);
    snap_u64(w, m->pass_start);
    snap_bool(w, m->probing);
    snap_bool(w, m->search_restart);
    snap_bool(w, m->search_finishing);
    snap_bool(w, m->probe_second);
    snap_i32(w, m->probe_pos);
    snap_regs(w, m->probe_regs, IDLE_REGS);
    snap_bytes(w, m->probe_ram, SRAM_SIZE);
    snap_u32(w, m->search_head);
    snap_u64(w, m->search_lo);
    snap_u64(w, m->search_hi);
    snap_u64(w, m->search_t);
    snap_u64(w, m->search_granule);
    snap_u32(w, m->last_loop_head);
    snap_u64(w, m->last_loop_skip);
    snap_u64(w, m->watch_gen);
    snap_regs(w, m->watch_regs, IDLE_REGS);
    snap_bytes(w, m->watch_ram, SRAM_SIZE);
    snap_u64(w, m->stats.exceptions);
    snap_u64(w, m->stats.tail_chains);
    snap_u64(w, m->stats.idle_skips);
    snap_u64(w, m->stats.loop_skips);
    snap_u64(w, m->stats.timed_searches);
    snap_u64(w, m->stats.idle_cycles);
    snap_end(w);

    /* the decoded blocks and what the fast-forward learnt about each (back-off counters, give-ups) */
    snap_begin(w, "BLOCKS");
    uint32_t n = 0;
    for (int i = 0; i < BLOCK_CACHE_SIZE; i++)
        n += m->blocks[i].size != 0;
    snap_u32(w, n);
    for (int i = 0; i < BLOCK_CACHE_SIZE; i++) {
        const struct block_entry *b = &m->blocks[i];
        if (!b->size)
            continue;
        snap_u32(w, b->addr);
        snap_u32(w, b->size);
        const struct thumb_block_info *in = &b->info;
        snap_u16(w, in->count);
        snap_u8(w, (uint8_t)(in->has_store | in->has_load << 1 | in->has_special << 2 | in->has_sev << 3 |
                             in->self_loop << 4));
        snap_u8(w, in->it_after);
        snap_u8(w, in->ndiv);
        for (int k = 0; k < in->ndiv && k < THUMB_MAX_DIV; k++)
            snap_u32(w, in->div_addr[k]);
        snap_u8(w, b->flags);
        snap_bool(w, b->idle_candidate);
        snap_bool(w, b->divs_armed);
        snap_u32(w, b->ff_skip);
        snap_u32(w, b->ff_failures);
    }
    snap_end(w);
}

void cpu_snapshot_load(struct machine *m, struct snap_reader *r)
{
    if (!snap_enter(r, "CPU"))
        return;
    uint32_t v[SNAP_NREGS];
    snap_get_regs(r, v, SNAP_NREGS);
    bool have_monitor = snap_get_bool(r);
    uint8_t monitor[16];
    snap_get_bytes(r, monitor, sizeof monitor);
    m->event_register = snap_get_bool(r);
    if (!snap_leave(r))
        return;
    load_core_regs(m, v);
    if (have_monitor && m->monitor_offset && uc_context_save(m->uc, m->monitor_ctx) == UC_ERR_OK) {
        memcpy((uint8_t *)m->monitor_ctx + m->monitor_offset, monitor, sizeof monitor);
        uc_context_restore(m->uc, m->monitor_ctx);
    }
    m->nvic.ipsr = (int)(v[SNAP_XPSR] & 0x1FFu);

    if (!snap_enter(r, "CPU-LOOP"))
        return;
    m->sleeping = snap_get_bool(r);
    m->sleep_is_wfe = snap_get_bool(r);
    uint8_t kind = snap_get_u8(r);
    snap_check(r, kind <= SLEEP_STANDBY, "unknown sleep mode");
    m->sleep_kind = (enum sleep_kind)kind;
    m->sleep_on_exit = snap_get_bool(r);
    m->locked_up = snap_get_bool(r);
    m->locked_up_at = snap_get_u64(r);
    m->held_in_reset = snap_get_bool(r);
    m->idle_forever = snap_get_bool(r);
    snap_get_event(r, &m->pace_event);
    m->sh_errno = (int)snap_get_u32(r);
    m->charged_ticks = snap_get_u64(r);
    m->charged_frac = snap_get_u32(r);
    uint32_t np = snap_get_u32(r);
    if (!snap_check(r, np <= MAX_PENDING_STORES, "too many pending flash stores"))
        return;
    m->npending_stores = (int)np;
    for (uint32_t i = 0; i < np; i++) {
        struct pending_store *s = &m->pending_stores[i];
        s->addr = snap_get_u32(r);
        s->size = snap_get_u32(r);
        s->value = snap_get_u32(r);
        snap_get_bytes(r, s->old, sizeof s->old);
        snap_check(r, s->size >= 1 && s->size <= sizeof s->old, "a pending flash store of a bad size");
    }
    bool unalign = snap_get_bool(r);
    uint32_t ndiv = snap_get_u32(r);
    if (!snap_check(r, ndiv <= MAX_DIV_HOOKS, "too many divide hooks"))
        return;
    uint32_t div_addr[MAX_DIV_HOOKS];
    for (uint32_t i = 0; i < ndiv; i++)
        div_addr[i] = snap_get_u32(r);
    m->prev_block = snap_get_u32(r);
    m->it_resume_at = snap_get_u32(r);
    m->it_resume_state = snap_get_u8(r);
    m->ff_gen = snap_get_u64(r);
    m->ff_saved_gen = snap_get_u64(r);
    m->ff_addr = snap_get_u32(r);
    snap_get_regs(r, m->ff_regs, IDLE_REGS);
    m->probe_wanted = snap_get_bool(r);
    m->probe_resumed = snap_get_bool(r);
    uint32_t watch_addr = snap_get_u32(r);
    m->watch_phase = snap_get_i32(r);
    m->watch_moves = snap_get_i32(r);
    m->recording = snap_get_bool(r);
    m->path_overflow = snap_get_bool(r);
    int32_t path_len = snap_get_i32(r);
    if (!snap_check(r, path_len >= 0 && path_len <= MAX_PATH, "a loop path longer than the CPU keeps"))
        return;
    m->path_len = path_len;
    snap_get_regs(r, m->path, path_len);
    m->pass_start = snap_get_u64(r);
    m->probing = snap_get_bool(r);
    m->search_restart = snap_get_bool(r);
    m->search_finishing = snap_get_bool(r);
    m->probe_second = snap_get_bool(r);
    m->probe_pos = snap_get_i32(r);
    snap_get_regs(r, m->probe_regs, IDLE_REGS);
    snap_get_bytes(r, m->probe_ram, SRAM_SIZE);
    m->search_head = snap_get_u32(r);
    m->search_lo = snap_get_u64(r);
    m->search_hi = snap_get_u64(r);
    m->search_t = snap_get_u64(r);
    m->search_granule = snap_get_u64(r);
    m->last_loop_head = snap_get_u32(r);
    m->last_loop_skip = snap_get_u64(r);
    m->watch_gen = snap_get_u64(r);
    snap_get_regs(r, m->watch_regs, IDLE_REGS);
    snap_get_bytes(r, m->watch_ram, SRAM_SIZE);
    m->stats.exceptions = snap_get_u64(r);
    m->stats.tail_chains = snap_get_u64(r);
    m->stats.idle_skips = snap_get_u64(r);
    m->stats.loop_skips = snap_get_u64(r);
    m->stats.timed_searches = snap_get_u64(r);
    m->stats.idle_cycles = snap_get_u64(r);
    if (!snap_leave(r))
        return;

    if (!snap_enter(r, "BLOCKS"))
        return;
    memset(m->blocks, 0, sizeof *m->blocks * BLOCK_CACHE_SIZE);
    uint32_t n = snap_get_u32(r);
    snap_check(r, n <= BLOCK_CACHE_SIZE, "more blocks than the cache holds");
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        uint32_t addr = snap_get_u32(r), size = snap_get_u32(r);
        struct block_entry *b = &m->blocks[(addr >> 1) & (BLOCK_CACHE_SIZE - 1)];
        if (!snap_check(r, size != 0 && b->size == 0, "two blocks in one cache slot"))
            break;
        b->addr = addr;
        b->size = size;
        struct thumb_block_info *in = &b->info;
        in->count = snap_get_u16(r);
        uint8_t bits = snap_get_u8(r);
        in->has_store = bits & 1;
        in->has_load = bits >> 1 & 1;
        in->has_special = bits >> 2 & 1;
        in->has_sev = bits >> 3 & 1;
        in->self_loop = bits >> 4 & 1;
        in->it_after = snap_get_u8(r);
        in->ndiv = snap_get_u8(r);
        if (!snap_check(r, in->ndiv <= THUMB_MAX_DIV, "a block with more divides than the decoder keeps"))
            break;
        for (int k = 0; k < in->ndiv; k++)
            in->div_addr[k] = snap_get_u32(r);
        b->flags = snap_get_u8(r) & (BLOCK_SLOW | BLOCK_WATCHED);
        b->idle_candidate = snap_get_bool(r);
        b->divs_armed = snap_get_bool(r);
        b->ff_skip = snap_get_u32(r);
        b->ff_failures = snap_get_u32(r);
    }
    if (!snap_leave(r))
        return;
    m->watch_addr = watch_addr; /* the flag is in the block, already */

    /* the traps' hooks, as the run that saved had them (added before the first translation) */
    if (unalign && !m->unalign_hooked &&
        uc_hook_add(m->uc, &m->h_unaligned, UC_HOOK_CODE, (void *)hook_unaligned, m, 1, 0) == UC_ERR_OK)
        m->unalign_hooked = true;
    for (uint32_t i = 0; i < ndiv && m->ndiv_hooks < MAX_DIV_HOOKS; i++) {
        uint32_t a = div_addr[i];
        if (uc_hook_add(m->uc, &m->h_div[m->ndiv_hooks], UC_HOOK_CODE, (void *)hook_div, m, a, a) == UC_ERR_OK)
            m->div_hooked[m->ndiv_hooks++] = a;
    }
    retranslate_all(m);
}
