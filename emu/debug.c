/*
 * debug.c - halting, stepping, breakpoints, watchpoints and register/memory
 * access for a debugger front end (debug.h explains the exits-based design).
 *
 * Design decision: the debugger runs on the emulator thread and changes the
 * machine only while the core is halted, between slices; the CPU loop asks
 * four cheap questions (debug_hold at the top of the run loop, and from the
 * block hook's slow path debug_stop_before_block, debug_every_block,
 * debug_no_loop_skip), so a run without --gdb pays nothing.
 */
#include "debug.h"
#include "machine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XPSR_T (1u << 24)
#define XPSR_IPSR_MASK 0x1FFu
#define XPSR_WRITABLE 0xFE00FC00u /* N Z C V Q, IT[1:0], IT[7:2]: what a debugger may change */
#define CONTROL_NPRIV 1u
#define CONTROL_SPSEL 2u
#define NO_ADDR 1u /* never an instruction address (odd) */
#define FLASH_PAGE 1024u

enum dbg_state { DBG_RUNNING = 0, DBG_HALT_PENDING, DBG_HALTED, DBG_STEPPING };

struct breakpoint {
    uint32_t addr;
    bool hw;
};

struct watchpoint {
    struct debug *d;
    enum debug_watch_kind kind;
    uint32_t addr, len;
    uc_hook hook;
    bool used;
};

struct debug {
    struct machine *m;
    struct debug_frontend fe;
    enum dbg_state state;
    struct debug_stop pending, last;
    struct breakpoint bps[DEBUG_MAX_BREAKPOINTS];
    int nbps;
    struct watchpoint wps[DEBUG_MAX_WATCHPOINTS];
    int nwps;
    uint64_t exits[DEBUG_MAX_BREAKPOINTS + 1]; /* the exits Unicorn has now */
    int nexits;
    uint32_t step_target;
    bool step_started;
    bool continue_after_step; /* a continue from a breakpoint's address steps over it first */
    uint64_t lockup_reported; /* locked_up_at + 1 of the lockup already reported */
};

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

/* ---- exits: breakpoints and the end of a step -------------------------------- */

static bool in_set(const uint64_t *set, int n, uint64_t a)
{
    for (int i = 0; i < n; i++)
        if (set[i] == a)
            return true;
    return false;
}

/*
 * Give Unicorn the breakpoints (except `skip`, the one a step starts on) and
 * `extra` (the end of a step). Translated code that spans an address whose
 * state changed is dropped: Unicorn only honours exits when it translates.
 */
static void apply_exits(struct debug *d, uint32_t skip, uint32_t extra)
{
    struct machine *m = d->m;
    uint64_t want[DEBUG_MAX_BREAKPOINTS + 1];
    int n = 0;
    for (int i = 0; i < d->nbps; i++)
        if (d->bps[i].addr != skip && !in_set(want, n, d->bps[i].addr))
            want[n++] = d->bps[i].addr;
    if (extra != NO_ADDR && !in_set(want, n, extra))
        want[n++] = extra;
    for (int i = 0; i < d->nexits; i++)
        if (!in_set(want, n, d->exits[i]))
            cpu_invalidate(m, (uint32_t)d->exits[i], 2);
    for (int i = 0; i < n; i++)
        if (!in_set(d->exits, d->nexits, want[i]))
            cpu_invalidate(m, (uint32_t)want[i], 2);
    uc_ctl_set_exits(m->uc, want, (size_t)n);
    memcpy(d->exits, want, sizeof want[0] * (size_t)n);
    d->nexits = n;
}

static int find_bp(const struct debug *d, uint32_t addr)
{
    for (int i = 0; i < d->nbps; i++)
        if (d->bps[i].addr == addr)
            return i;
    return -1;
}

/* ---- life cycle ------------------------------------------------------------- */

int debug_attach(struct machine *m, const struct debug_frontend *fe, bool halted, char *err, size_t errlen)
{
    struct debug *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "--gdb: out of memory");
        return -1;
    }
    d->m = m;
    d->fe = *fe;
    d->state = halted ? DBG_HALTED : DBG_RUNNING;
    d->last.kind = DEBUG_STOP_RESET;
    if (uc_ctl_exits_enable(m->uc) != UC_ERR_OK || uc_ctl_set_exits(m->uc, d->exits, 0) != UC_ERR_OK) {
        snprintf(err, errlen, "--gdb: this Unicorn cannot stop at given addresses (uc_ctl exits)");
        free(d);
        return -1;
    }
    m->debug = d;
    return 0;
}

void debug_detach_all(struct machine *m)
{
    if (!m->debug)
        return;
    debug_clear_points(m);
    free(m->debug);
    m->debug = NULL;
}

/* ---- halting and resuming --------------------------------------------------- */

bool debug_is_halted(const struct machine *m)
{
    return m->debug && m->debug->state == DBG_HALTED;
}

const struct debug_stop *debug_last_stop(const struct machine *m)
{
    return &m->debug->last;
}

static void halt_pending(struct debug *d, struct debug_stop why)
{
    if (d->state == DBG_HALT_PENDING)
        return; /* the first reason wins */
    d->pending = why;
    d->state = DBG_HALT_PENDING;
    d->m->sim.attention = true;
}

void debug_request_halt(struct machine *m, enum debug_stop_kind why)
{
    struct debug *d = m->debug;
    if (d->state != DBG_RUNNING && d->state != DBG_STEPPING)
        return;
    d->continue_after_step = false;
    halt_pending(d, (struct debug_stop){.kind = why});
    machine_request_stop(m);
}

/* Virtual time stood still while halted: pacing measures from now, not from before the halt. */
static void resumed(struct debug *d)
{
    struct machine *m = d->m;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    m->pace_wall_start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    m->pace_virt_start = m->sim.clock.now;
    m->sim.attention = true;
}

static uint32_t insn_len_at(struct machine *m, uint32_t pc)
{
    uint8_t hw[2];
    if (debug_mem_read(m, pc, hw, 2) != 2)
        return 2;
    return thumb_insn_len((uint16_t)(hw[0] | hw[1] << 8));
}

static void start_step(struct debug *d)
{
    struct machine *m = d->m;
    uint32_t pc = rd(m, UC_ARM_REG_PC);
    d->step_target = pc + insn_len_at(m, pc);
    d->step_started = false;
    apply_exits(d, pc, d->step_target);
    /* halting ended a WFI/WFE, as on the chip: the step executes the next instruction */
    if (m->sleeping) {
        if (m->sleep_kind == SLEEP_STOP)
            nvic_systick_pause(&m->nvic, false);
        m->sleeping = false;
        m->sleep_kind = SLEEP_NORMAL;
    }
    m->idle_forever = false;
    d->state = DBG_STEPPING;
    resumed(d);
}

void debug_step(struct machine *m)
{
    struct debug *d = m->debug;
    if (d->state != DBG_HALTED)
        return;
    d->continue_after_step = false;
    start_step(d);
}

void debug_continue(struct machine *m)
{
    struct debug *d = m->debug;
    if (d->state != DBG_HALTED)
        return;
    if (find_bp(d, rd(m, UC_ARM_REG_PC)) >= 0) {
        /* on a breakpoint: its instruction runs first (else it would stop right there again) */
        d->continue_after_step = true;
        start_step(d);
        return;
    }
    apply_exits(d, NO_ADDR, NO_ADDR);
    d->state = DBG_RUNNING;
    resumed(d);
}

void debug_reset(struct machine *m, bool halt)
{
    struct debug *d = m->debug;
    machine_reset(m, RESET_SOFTWARE);
    d->continue_after_step = false;
    if (halt) {
        d->state = DBG_HALTED;
        d->last = (struct debug_stop){.kind = DEBUG_STOP_RESET};
    } else {
        apply_exits(d, NO_ADDR, NO_ADDR);
        d->state = DBG_RUNNING;
        resumed(d);
    }
}

bool debug_hold(struct machine *m)
{
    struct debug *d = m->debug;
    if (d->state == DBG_RUNNING || d->state == DBG_STEPPING) {
        if (!m->locked_up || d->lockup_reported == m->locked_up_at + 1)
            return false;
        d->lockup_reported = m->locked_up_at + 1;
        d->continue_after_step = false;
        halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_LOCKUP});
    }
    if (d->state == DBG_HALT_PENDING) {
        if (d->continue_after_step && d->pending.kind == DEBUG_STOP_STEP) {
            /* stepped over the breakpoint a continue started on: now continue */
            d->continue_after_step = false;
            apply_exits(d, NO_ADDR, NO_ADDR);
            d->state = DBG_RUNNING;
            return false;
        }
        d->continue_after_step = false;
        cpu_cancel_loop_watch(m);
        d->state = DBG_HALTED;
        d->last = d->pending;
        if (d->fe.stopped)
            d->fe.stopped(d->fe.opaque, &d->last);
    }
    if (m->sim.reset_requested) /* the debugger wrote AIRCR.SYSRESETREQ: reset, stay halted */
        machine_reset(m, m->sim.reset_cause);
    if (d->state == DBG_HALTED && d->fe.wait)
        d->fe.wait(d->fe.opaque);
    return true;
}

/* ---- the CPU loop's questions ----------------------------------------------- */

bool debug_stop_before_block(struct machine *m, uint32_t addr)
{
    struct debug *d = m->debug;
    (void)addr;
    if (m->probing || m->search_restart)
        return false; /* a speculative pass is never interrupted (it is undone or proven first) */
    switch (d->state) {
    case DBG_HALT_PENDING:
    case DBG_HALTED: /* a slice that began before the run loop saw the halt (a snapshot resumed inside one) */
        return true;
    case DBG_STEPPING:
        if (!d->step_started) {
            d->step_started = true; /* the step's own block (or the exception it takes first) */
            return false;
        }
        halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_STEP});
        return true;
    default:
        return false;
    }
}

bool debug_every_block(const struct machine *m)
{
    return m->debug->state != DBG_RUNNING;
}

bool debug_no_loop_skip(const struct machine *m)
{
    return m->debug && m->debug->state == DBG_STEPPING;
}

bool debug_is_exit(const struct machine *m, uint32_t pc)
{
    return in_set(m->debug->exits, m->debug->nexits, pc);
}

bool debug_slice_stopped(struct machine *m, uint32_t pc)
{
    struct debug *d = m->debug;
    if (!in_set(d->exits, d->nexits, pc))
        return false;
    int i = find_bp(d, pc);
    if (d->state == DBG_STEPPING && (pc == d->step_target || i < 0))
        halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_STEP});
    else
        halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_BREAKPOINT, .hw = i >= 0 && d->bps[i].hw});
    return true;
}

bool debug_bkpt(struct machine *m, uint32_t pc)
{
    struct debug *d = m->debug;
    (void)pc;
    if (d->state != DBG_RUNNING && d->state != DBG_STEPPING)
        return false;
    d->continue_after_step = false;
    halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_BKPT_INSN});
    return true;
}

/* ---- registers ---------------------------------------------------------------- */

/*
 * Unicorn reads MSP, PSP and the masks as 0 and ignores writes to them while
 * the guest is in unprivileged Thread mode: access them from Handler mode
 * (the SP banks follow IPSR consistently) and go back.
 */
static bool priv_enter(struct machine *m)
{
    bool gated = (rd(m, UC_ARM_REG_IPSR) & XPSR_IPSR_MASK) == 0 && (rd(m, UC_ARM_REG_CONTROL) & CONTROL_NPRIV);
    if (gated)
        wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT);
    return gated;
}

static void priv_leave(struct machine *m, bool gated)
{
    if (gated)
        wr(m, UC_ARM_REG_IPSR, 0);
}

static const int gated_ids[] = {UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_PRIMASK, UC_ARM_REG_BASEPRI,
                                UC_ARM_REG_FAULTMASK};

int debug_reg_read(struct machine *m, int reg, uint32_t *value)
{
    if (reg >= DEBUG_REG_R0 && reg <= 12)
        *value = rd(m, UC_ARM_REG_R0 + reg);
    else if (reg == DEBUG_REG_SP)
        *value = rd(m, UC_ARM_REG_SP);
    else if (reg == DEBUG_REG_LR)
        *value = rd(m, UC_ARM_REG_LR);
    else if (reg == DEBUG_REG_PC)
        *value = rd(m, UC_ARM_REG_PC) & ~1u;
    else if (reg == DEBUG_REG_XPSR)
        *value = rd(m, UC_ARM_REG_XPSR);
    else if (reg >= DEBUG_REG_MSP && reg <= DEBUG_REG_FAULTMASK) {
        bool gated = priv_enter(m);
        *value = rd(m, gated_ids[reg - DEBUG_REG_MSP]);
        priv_leave(m, gated);
    } else if (reg == DEBUG_REG_CONTROL)
        *value = rd(m, UC_ARM_REG_CONTROL) & (CONTROL_NPRIV | CONTROL_SPSEL);
    else
        return -1;
    return 0;
}

static void write_control(struct machine *m, uint32_t v)
{
    v &= CONTROL_NPRIV | CONTROL_SPSEL;
    bool handler = (rd(m, UC_ARM_REG_IPSR) & XPSR_IPSR_MASK) != 0;
    if (!handler && (rd(m, UC_ARM_REG_CONTROL) & CONTROL_NPRIV)) {
        /* unprivileged Thread: become privileged from Handler mode first, so that SPSEL can be written */
        wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT);
        wr(m, UC_ARM_REG_CONTROL, rd(m, UC_ARM_REG_CONTROL) & ~CONTROL_NPRIV);
        wr(m, UC_ARM_REG_IPSR, 0);
    }
    wr(m, UC_ARM_REG_CONTROL, v); /* in Handler mode SPSEL stays 0, as the architecture says */
}

int debug_reg_write(struct machine *m, int reg, uint32_t value)
{
    if (reg >= DEBUG_REG_R0 && reg <= 12)
        wr(m, UC_ARM_REG_R0 + reg, value);
    else if (reg == DEBUG_REG_SP)
        wr(m, UC_ARM_REG_SP, value);
    else if (reg == DEBUG_REG_LR)
        wr(m, UC_ARM_REG_LR, value);
    else if (reg == DEBUG_REG_PC)
        wr(m, UC_ARM_REG_PC, value | 1u); /* bit 0 is EPSR.T to Unicorn: the M3 is always in Thumb state */
    else if (reg == DEBUG_REG_XPSR) {
        /* the flags and ITSTATE; IPSR belongs to the exception model, T stays 1 */
        uint32_t cur = rd(m, UC_ARM_REG_XPSR);
        wr(m, UC_ARM_REG_XPSR, (value & XPSR_WRITABLE) | (cur & XPSR_IPSR_MASK) | XPSR_T);
    } else if (reg >= DEBUG_REG_MSP && reg <= DEBUG_REG_FAULTMASK) {
        bool gated = priv_enter(m);
        wr(m, gated_ids[reg - DEBUG_REG_MSP], reg == DEBUG_REG_MSP || reg == DEBUG_REG_PSP ? value & ~3u : value);
        priv_leave(m, gated);
    } else if (reg == DEBUG_REG_CONTROL)
        write_control(m, value);
    else
        return -1;
    cpu_rebuild_hflags(m);
    m->sim.attention = true; /* a mask may have changed: pending exceptions are looked at again */
    return 0;
}

/* ---- memory ------------------------------------------------------------------- */

/* Offset into the flash array of [addr, addr+len), either alias, or -1. */
static long flash_offset(uint32_t addr, size_t len)
{
    if (addr - FLASH_BASE < FLASH_SIZE && addr - FLASH_BASE + len <= FLASH_SIZE)
        return (long)(addr - FLASH_BASE);
    if (addr < FLASH_SIZE && addr + len <= FLASH_SIZE)
        return (long)addr;
    return -1;
}

static unsigned access_size(uint32_t addr, size_t left)
{
    if ((addr & 3u) == 0 && left >= 4)
        return 4;
    if ((addr & 1u) == 0 && left >= 2)
        return 2;
    return 1;
}

size_t debug_mem_read(struct machine *m, uint32_t addr, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint32_t a = addr + (uint32_t)done;
        if (a < addr)
            break; /* wrapped past 4 GiB */
        unsigned size = access_size(a, len - done);
        uint32_t v;
        if (bus_read(&m->bus, a, size, &v) != BUS_OK)
            break;
        for (unsigned i = 0; i < size; i++)
            buf[done + i] = (uint8_t)(v >> (8 * i));
        done += size;
    }
    return done;
}

static void invalidate_flash(struct machine *m, uint32_t off, uint32_t len)
{
    cpu_invalidate(m, FLASH_BASE + off, len);
    cpu_invalidate(m, off, len);
}

int debug_mem_write(struct machine *m, uint32_t addr, const uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    if ((uint64_t)addr + len > 0x100000000ull)
        return -1;
    long off = flash_offset(addr, len);
    if (off >= 0) {
        /* into the image itself (a MAP_SHARED file): what a probe's flash loader leaves there */
        memcpy(m->flash + off, buf, len);
        invalidate_flash(m, (uint32_t)off, (uint32_t)len);
        return 0;
    }
    if (addr - SRAM_BASE < SRAM_SIZE && addr - SRAM_BASE + len <= SRAM_SIZE) {
        memcpy(m->sram + (addr - SRAM_BASE), buf, len);
        cpu_invalidate(m, addr, (uint32_t)len); /* code may run from SRAM */
        return 0;
    }
    if (addr - SYSMEM_BASE < SYSMEM_SIZE + 0x400u)
        return -1; /* system memory and option bytes: read-only */
    for (size_t done = 0; done < len;) {
        uint32_t a = addr + (uint32_t)done;
        unsigned size = access_size(a, len - done);
        uint32_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= (uint32_t)buf[done + i] << (8 * i);
        if (flash_offset(a, size) >= 0 || bus_write(&m->bus, a, size, v) != BUS_OK)
            return -1; /* a range that runs from elsewhere into the flash, or a hole */
        done += size;
    }
    return 0;
}

int debug_flash_erase(struct machine *m, uint32_t addr, uint32_t len)
{
    long off = flash_offset(addr, len);
    if (off < 0 || len == 0)
        return -1;
    uint32_t start = (uint32_t)off & ~(FLASH_PAGE - 1), end = ((uint32_t)off + len + FLASH_PAGE - 1) & ~(FLASH_PAGE - 1);
    memset(m->flash + start, 0xFF, end - start);
    invalidate_flash(m, start, end - start);
    return 0;
}

/* ---- breakpoints and watchpoints ---------------------------------------------- */

int debug_breakpoint_insert(struct machine *m, uint32_t addr, bool hw)
{
    struct debug *d = m->debug;
    addr &= ~1u;
    int i = find_bp(d, addr);
    if (i >= 0) {
        d->bps[i].hw = hw;
        return 0;
    }
    if (d->nbps == DEBUG_MAX_BREAKPOINTS)
        return -1;
    d->bps[d->nbps++] = (struct breakpoint){addr, hw};
    return 0;
}

int debug_breakpoint_remove(struct machine *m, uint32_t addr)
{
    struct debug *d = m->debug;
    int i = find_bp(d, addr & ~1u);
    if (i < 0)
        return -1;
    d->bps[i] = d->bps[--d->nbps];
    return 0;
}

/* Memory hooks decide at translation whether loads and stores take the slow path: translate everything again. */
static void retranslate_all(struct machine *m)
{
    cpu_invalidate(m, FLASH_BASE, FLASH_SIZE);
    cpu_invalidate(m, 0, FLASH_SIZE);
    cpu_invalidate(m, SRAM_BASE, SRAM_SIZE);
}

static void watch_hit(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user)
{
    struct watchpoint *w = user;
    struct debug *d = w->d;
    (void)uc;
    (void)size;
    (void)value;
    if (d->state != DBG_RUNNING && d->state != DBG_STEPPING)
        return;
    if (d->m->probing || d->m->search_restart)
        return; /* a speculative pass, undone or proven before it counts */
    d->continue_after_step = false;
    (void)type;
    uint32_t a = (uint32_t)address < w->addr ? w->addr : (uint32_t)address;
    halt_pending(d, (struct debug_stop){.kind = DEBUG_STOP_WATCHPOINT, .watch = w->kind, .watch_addr = a});
}

int debug_watchpoint_insert(struct machine *m, enum debug_watch_kind kind, uint32_t addr, uint32_t len)
{
    struct debug *d = m->debug;
    if (len == 0 || len > 0x8000u || (uint64_t)addr + len > 0x100000000ull)
        return -1;
    for (int i = 0; i < DEBUG_MAX_WATCHPOINTS; i++)
        if (d->wps[i].used && d->wps[i].kind == kind && d->wps[i].addr == addr && d->wps[i].len == len)
            return 0;
    struct watchpoint *w = NULL;
    for (int i = 0; i < DEBUG_MAX_WATCHPOINTS && !w; i++)
        if (!d->wps[i].used)
            w = &d->wps[i];
    if (!w)
        return -1;
    int type = kind == DEBUG_WATCH_WRITE ? UC_HOOK_MEM_WRITE
               : kind == DEBUG_WATCH_READ ? UC_HOOK_MEM_READ
                                          : UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE;
    *w = (struct watchpoint){.d = d, .kind = kind, .addr = addr, .len = len};
    if (uc_hook_add(m->uc, &w->hook, type, (void *)watch_hit, w, addr, (uint64_t)addr + len - 1) != UC_ERR_OK)
        return -1;
    w->used = true;
    d->nwps++;
    retranslate_all(m);
    return 0;
}

static void watch_delete(struct debug *d, struct watchpoint *w)
{
    uc_hook_del(d->m->uc, w->hook);
    w->used = false;
    d->nwps--;
}

int debug_watchpoint_remove(struct machine *m, enum debug_watch_kind kind, uint32_t addr, uint32_t len)
{
    struct debug *d = m->debug;
    for (int i = 0; i < DEBUG_MAX_WATCHPOINTS; i++) {
        struct watchpoint *w = &d->wps[i];
        if (w->used && w->kind == kind && w->addr == addr && w->len == len) {
            watch_delete(d, w);
            retranslate_all(m); /* back to the loads' and stores' fast path */
            return 0;
        }
    }
    return -1;
}

void debug_clear_points(struct machine *m)
{
    struct debug *d = m->debug;
    d->nbps = 0;
    bool had = d->nwps > 0;
    for (int i = 0; i < DEBUG_MAX_WATCHPOINTS; i++)
        if (d->wps[i].used)
            watch_delete(d, &d->wps[i]);
    if (had)
        retranslate_all(m);
    if (d->state != DBG_STEPPING)
        apply_exits(d, NO_ADDR, NO_ADDR);
}
