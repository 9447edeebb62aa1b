/*
 * nvic.c - the System Control Space registers: NVIC, SCB, SysTick, the DWT
 * cycle counter and CoreDebug DEMCR (ARMv7-M ARM B3.2-B3.4, C1.6-C1.8).
 *
 * Design decision: SysTick and CYCCNT are functions of virtual time, not
 * counters ticked per cycle. Both count HCLK cycles (SysTick HCLK or HCLK/8),
 * so they work in the HCLK-cycle domain of sim_hclk_cycles(), which follows
 * every clock switch; SysTick schedules one event per wrap to zero at the
 * virtual time of that cycle, and reads of SYST_CVR and DWT_CYCCNT compute the
 * value from the current time.
 */
#include "nvic.h"
#include "snapshot.h"

#include <string.h>

/* SCS offsets from 0xE000E000 */
enum {
    SCS_ICTR = 0x004,
    SCS_ACTLR = 0x008,
    SYST_CSR = 0x010,
    SYST_RVR = 0x014,
    SYST_CVR = 0x018,
    SYST_CALIB = 0x01C,
    NVIC_ISER = 0x100,
    NVIC_ICER = 0x180,
    NVIC_ISPR = 0x200,
    NVIC_ICPR = 0x280,
    NVIC_IABR = 0x300,
    NVIC_IPR = 0x400,
    SCB_CPUID = 0xD00,
    SCB_ICSR = 0xD04,
    SCB_VTOR = 0xD08,
    SCB_AIRCR = 0xD0C,
    SCB_SCR = 0xD10,
    SCB_CCR = 0xD14,
    SCB_SHPR1 = 0xD18,
    SCB_SHPR3_END = 0xD24,
    SCB_SHCSR = 0xD24,
    SCB_CFSR = 0xD28,
    SCB_HFSR = 0xD2C,
    SCB_DFSR = 0xD30,
    SCB_MMFAR = 0xD34,
    SCB_BFAR = 0xD38,
    SCB_AFSR = 0xD3C,
    SCB_ID_PFR0 = 0xD40,
    SCB_ID_ISAR4 = 0xD70,
    MPU_TYPE = 0xD90,
    COREDEBUG_DHCSR = 0xDF0,
    COREDEBUG_DEMCR = 0xDFC,
    NVIC_STIR = 0xF00,
};

/* Cortex-M3 r1p1 feature registers, ID_PFR0 .. ID_ISAR4 */
static const uint32_t cortex_m3_id_regs[] = {
    0x00000030, 0x00000200, 0x00100000, 0x00000000, /* PFR0 PFR1 DFR0 AFR0 */
    0x00100030, 0x00000000, 0x01000000, 0x00000000, /* MMFR0-3 */
    0x01141110, 0x02111000, 0x21112231, 0x01111110, 0x01310132, /* ISAR0-4 */
};

/* SysTick reference clock on the STM32F103: HCLK/8; CALIB.TENMS = 9000 (1 ms at 9 MHz) */
#define SYST_EXTERNAL_DIVIDER 8u
#define SYST_CALIB_VALUE 9000u

#define EXC_BIT(n) (1ull << (n))
/* System exceptions that are always enabled */
#define ALWAYS_ENABLED (EXC_BIT(EXC_NMI) | EXC_BIT(EXC_HARDFAULT) | EXC_BIT(EXC_SVCALL) | \
                        EXC_BIT(EXC_DEBUGMONITOR) | EXC_BIT(EXC_PENDSV) | EXC_BIT(EXC_SYSTICK))
#define IRQ_MASK (((1ull << NVIC_NUM_IRQ) - 1) << EXC_IRQ0)

static void nvic_changed(struct nvic *nvic)
{
    nvic->sim->attention = true;
}

/* Exceptions enter the pending state; with SCR.SEVONPEND that is an event, even when disabled (B1.5.18). */
static void nvic_pend(struct nvic *nvic, uint64_t bits)
{
    if ((bits & ~nvic->pending) && (nvic->scr & SCB_SCR_SEVONPEND))
        nvic->event = true;
    nvic->pending |= bits;
}

/* ---- priorities -------------------------------------------------------- */

int nvic_exception_priority(const struct nvic *nvic, int exc)
{
    switch (exc) {
    case EXC_RESET: return -3;
    case EXC_NMI: return -2;
    case EXC_HARDFAULT: return -1;
    default: return nvic->priority[exc];
    }
}

int nvic_group_priority(const struct nvic *nvic, int priority)
{
    if (priority < 0)
        return priority;
    uint32_t subgroup = (2u << nvic->prigroup) - 1u;
    return (int)((uint32_t)priority & ~subgroup & 0xFFu);
}

int nvic_active_priority(const struct nvic *nvic)
{
    int highest = 256;
    for (uint64_t a = nvic->active; a; a &= a - 1) {
        int exc = __builtin_ctzll(a);
        int p = nvic_group_priority(nvic, nvic_exception_priority(nvic, exc));
        if (p < highest)
            highest = p;
    }
    return highest;
}

int nvic_execution_priority(const struct nvic *nvic, bool primask, uint32_t basepri, bool faultmask)
{
    int prio = nvic_active_priority(nvic);
    basepri &= NVIC_PRIO_MASK;
    if (basepri) {
        int b = nvic_group_priority(nvic, (int)basepri);
        if (b < prio)
            prio = b;
    }
    if (primask && prio > 0)
        prio = 0;
    if (faultmask && prio > -1)
        prio = -1;
    return prio;
}

int nvic_best_pending(const struct nvic *nvic, int *prio)
{
    int best = 0, best_group = 1000, best_full = 1000;
    for (uint64_t p = nvic->pending & nvic->enabled; p; p &= p - 1) {
        int exc = __builtin_ctzll(p);
        int full = nvic_exception_priority(nvic, exc);
        int group = nvic_group_priority(nvic, full);
        /* lower group first, then lower subpriority, then lower number (bit scan order) */
        if (group < best_group || (group == best_group && full < best_full)) {
            best = exc;
            best_group = group;
            best_full = full;
        }
    }
    if (prio)
        *prio = best ? best_full : 256;
    return best;
}

int nvic_active_count(const struct nvic *nvic)
{
    return __builtin_popcountll(nvic->active);
}

bool nvic_fault_enabled(const struct nvic *nvic, int exc)
{
    return (nvic->enabled & EXC_BIT(exc)) != 0;
}

void nvic_set_pending(struct nvic *nvic, int exc)
{
    if (exc <= 0 || exc >= NVIC_NUM_EXC)
        return;
    nvic_pend(nvic, EXC_BIT(exc));
    nvic_changed(nvic);
}

void nvic_clear_pending(struct nvic *nvic, int exc)
{
    if (exc <= 0 || exc >= NVIC_NUM_EXC)
        return;
    nvic->pending &= ~EXC_BIT(exc);
    nvic_changed(nvic);
}

void nvic_irq_in(void *opaque, int irq, bool level)
{
    struct nvic *nvic = opaque;
    if (irq < 0 || irq >= NVIC_NUM_IRQ)
        return;
    uint64_t bit = EXC_BIT(EXC_IRQ0 + irq);
    if (level && !(nvic->level & bit)) {
        nvic->level |= bit;
        nvic_pend(nvic, bit);
        nvic_changed(nvic);
    } else if (!level) {
        nvic->level &= ~bit;
    }
}

uint32_t nvic_read_icsr(const struct nvic *nvic)
{
    uint32_t v = (uint32_t)nvic->ipsr & SCB_ICSR_VECTACTIVE_MASK;
    if (nvic->ipsr && (nvic->active & ~EXC_BIT(nvic->ipsr)) == 0)
        v |= SCB_ICSR_RETTOBASE;
    int best = nvic_best_pending(nvic, NULL);
    v |= (uint32_t)best << SCB_ICSR_VECTPENDING_SHIFT;
    if (nvic->pending & IRQ_MASK)
        v |= SCB_ICSR_ISRPENDING;
    if (nvic->pending & EXC_BIT(EXC_SYSTICK))
        v |= SCB_ICSR_PENDSTSET;
    if (nvic->pending & EXC_BIT(EXC_PENDSV))
        v |= SCB_ICSR_PENDSVSET;
    if (nvic->pending & EXC_BIT(EXC_NMI))
        v |= SCB_ICSR_NMIPENDSET;
    return v;
}

/* ---- SysTick ----------------------------------------------------------- */

static uint64_t syst_divider(const struct nvic *nvic)
{
    return (nvic->syst_csr & SYST_CSR_CLKSOURCE) ? 1u : SYST_EXTERNAL_DIVIDER;
}

/*
 * The counter reloads from RVR one tick after reaching zero, so with the epoch
 * at a zero crossing, tick k (1..RVR+1) shows RVR-(k-1) and wraps to zero
 * again at k = RVR+1: a period of RVR+1 ticks.
 */
static uint32_t syst_current(const struct nvic *nvic)
{
    if (!nvic->syst_running)
        return nvic->syst_stopped_value;
    uint64_t now = sim_hclk_cycles(nvic->sim, sim_time_source_now(nvic->sim)), div = syst_divider(nvic);
    if (now < nvic->syst_epoch) /* counting down to a zero crossing still ahead */
        return (uint32_t)((nvic->syst_epoch - now + div - 1) / div);
    uint64_t ticks = (now - nvic->syst_epoch) / div;
    uint64_t period = (uint64_t)nvic->syst_rvr + 1;
    if (nvic->syst_rvr == 0)
        return 0;
    uint64_t k = ticks % period;
    return k == 0 ? 0 : (uint32_t)(nvic->syst_rvr - (k - 1));
}

/* HCLK cycles since power-on, now. */
static uint64_t hclk_now(const struct nvic *nvic)
{
    return sim_hclk_cycles(nvic->sim, nvic->sim->clock.now);
}

/* The wrap at HCLK cycle `cycle`: an event at the virtual time that cycle begins. */
static void syst_schedule_at(struct nvic *nvic, uint64_t cycle)
{
    nvic->syst_next = cycle;
    event_schedule(nvic->sim, &nvic->syst_event, sim_hclk_tick_of(nvic->sim, cycle));
}

static void syst_schedule(struct nvic *nvic)
{
    uint64_t now = hclk_now(nvic);
    if (nvic->syst_running && now < nvic->syst_epoch) {
        syst_schedule_at(nvic, nvic->syst_epoch);
        return;
    }
    if (!nvic->syst_running || nvic->syst_rvr == 0) {
        event_cancel(nvic->sim, &nvic->syst_event);
        return;
    }
    uint64_t div = syst_divider(nvic);
    uint64_t period = ((uint64_t)nvic->syst_rvr + 1) * div;
    uint64_t elapsed = now - nvic->syst_epoch;
    uint64_t next = nvic->syst_epoch + (elapsed / period + 1) * period;
    syst_schedule_at(nvic, next);
}

static void syst_wrap(struct sim *sim, void *opaque)
{
    struct nvic *nvic = opaque;
    (void)sim;
    /* Re-base on the scheduled cycle, not on when the event ran, to avoid drift. */
    nvic->syst_epoch = nvic->syst_next;
    nvic->syst_countflag = true;
    if (nvic->syst_csr & SYST_CSR_TICKINT)
        nvic_set_pending(nvic, EXC_SYSTICK);
    syst_schedule(nvic);
}

/* Process a wrap that is due but whose event has not run yet (reads must see it). */
static void syst_catch_up(struct nvic *nvic)
{
    if (event_pending(&nvic->syst_event) && nvic->syst_event.when <= nvic->sim->clock.now) {
        /* syst_wrap re-bases on syst_next, the cycle the event was scheduled for */
        event_cancel(nvic->sim, &nvic->syst_event);
        syst_wrap(nvic->sim, nvic);
    }
}

/*
 * Continue counting from `current`: zero means the next tick loads RVR; a value
 * counts down to a zero crossing first (RVR only matters at the reload, so a
 * value above RVR is counted down in full).
 */
static void syst_start_from(struct nvic *nvic, uint32_t current)
{
    uint64_t div = syst_divider(nvic);
    uint64_t now = hclk_now(nvic);
    if (current == 0) {
        nvic->syst_epoch = now;
    } else if (current > nvic->syst_rvr) {
        nvic->syst_epoch = now + (uint64_t)current * div;
    } else {
        uint64_t k = (uint64_t)(nvic->syst_rvr - current) + 1;
        nvic->syst_epoch = now >= k * div ? now - k * div : 0;
        if (now < k * div) /* too close to power-on to place the epoch in the past */
            nvic->syst_epoch = now + (uint64_t)current * div;
    }
}

static void syst_write_csr(struct nvic *nvic, uint32_t value)
{
    uint32_t current = syst_current(nvic);
    bool was_running = nvic->syst_running;
    nvic->syst_csr = value & (SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE);
    nvic->syst_running = (nvic->syst_csr & SYST_CSR_ENABLE) != 0;
    if (nvic->syst_running) {
        if (!was_running)
            current = nvic->syst_stopped_value;
        syst_start_from(nvic, current);
    } else if (was_running) {
        nvic->syst_stopped_value = current;
    }
    syst_schedule(nvic);
}

void nvic_systick_pause(struct nvic *nvic, bool paused)
{
    if (paused == nvic->syst_paused || !(nvic->syst_csr & SYST_CSR_ENABLE))
        return;
    syst_catch_up(nvic);
    uint32_t csr = nvic->syst_csr;
    if (paused) {
        syst_write_csr(nvic, csr & ~SYST_CSR_ENABLE); /* keeps the count */
        nvic->syst_csr = csr;                         /* still reads as enabled */
    } else {
        nvic->syst_csr = csr & ~SYST_CSR_ENABLE;
        syst_write_csr(nvic, csr);
    }
    nvic->syst_paused = paused;
}

/* ---- DWT CYCCNT -------------------------------------------------------- */

static bool cyccnt_counting(const struct nvic *nvic)
{
    return (nvic->dwt_ctrl & DWT_CTRL_CYCCNTENA) && (nvic->demcr & COREDEBUG_DEMCR_TRCENA);
}

static uint32_t cyccnt_read(const struct nvic *nvic)
{
    if (!cyccnt_counting(nvic))
        return nvic->cyccnt_base;
    return nvic->cyccnt_base +
           (uint32_t)(sim_hclk_cycles(nvic->sim, sim_time_source_now(nvic->sim)) - nvic->cyccnt_epoch);
}

/* Call with the value to continue from whenever counting may start or stop. */
static void cyccnt_rebase(struct nvic *nvic, uint32_t value)
{
    nvic->cyccnt_base = value;
    nvic->cyccnt_epoch = hclk_now(nvic);
}

void nvic_hclk_changed(struct nvic *nvic)
{
    /* CYCCNT and the SysTick epoch are HCLK cycles: only the next wrap's time moves */
    if (!event_pending(&nvic->syst_event))
        return;
    syst_catch_up(nvic);
    syst_schedule(nvic);
}

/* ---- reset ------------------------------------------------------------- */

void nvic_init(struct nvic *nvic, struct sim *sim)
{
    memset(nvic, 0, sizeof *nvic);
    nvic->sim = sim;
    event_init(&nvic->syst_event, syst_wrap, nvic, "SysTick");
    nvic_reset(nvic);
}

void nvic_reset(struct nvic *nvic)
{
    struct sim *sim = nvic->sim;
    event_cancel(sim, &nvic->syst_event);
    struct event ev = nvic->syst_event;
    memset(nvic, 0, sizeof *nvic);
    nvic->sim = sim;
    nvic->syst_event = ev;
    nvic->enabled = ALWAYS_ENABLED;
    /* STKALIGN resets to 0 on Cortex-M3 r1p1 (the STM32F103's core), 1 from r2p0. */
    nvic->ccr = 0;
    nvic_changed(nvic);
}

/* ---- register interface ------------------------------------------------ */

static uint32_t shcsr_read(const struct nvic *nvic)
{
    uint32_t v = 0;
    static const struct { int exc; uint32_t bit; } act[] = {
        {EXC_MEMMANAGE, SCB_SHCSR_MEMFAULTACT}, {EXC_BUSFAULT, SCB_SHCSR_BUSFAULTACT},
        {EXC_USAGEFAULT, SCB_SHCSR_USGFAULTACT}, {EXC_SVCALL, SCB_SHCSR_SVCALLACT},
        {EXC_DEBUGMONITOR, SCB_SHCSR_MONITORACT}, {EXC_PENDSV, SCB_SHCSR_PENDSVACT},
        {EXC_SYSTICK, SCB_SHCSR_SYSTICKACT},
    };
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++)
        if (nvic->active & EXC_BIT(act[i].exc))
            v |= act[i].bit;
    if (nvic->pending & EXC_BIT(EXC_USAGEFAULT)) v |= SCB_SHCSR_USGFAULTPENDED;
    if (nvic->pending & EXC_BIT(EXC_MEMMANAGE)) v |= SCB_SHCSR_MEMFAULTPENDED;
    if (nvic->pending & EXC_BIT(EXC_BUSFAULT)) v |= SCB_SHCSR_BUSFAULTPENDED;
    if (nvic->pending & EXC_BIT(EXC_SVCALL)) v |= SCB_SHCSR_SVCALLPENDED;
    if (nvic->enabled & EXC_BIT(EXC_MEMMANAGE)) v |= SCB_SHCSR_MEMFAULTENA;
    if (nvic->enabled & EXC_BIT(EXC_BUSFAULT)) v |= SCB_SHCSR_BUSFAULTENA;
    if (nvic->enabled & EXC_BIT(EXC_USAGEFAULT)) v |= SCB_SHCSR_USGFAULTENA;
    return v;
}

static void shcsr_write(struct nvic *nvic, uint32_t v)
{
    static const struct { int exc; uint32_t act, pend, ena; } map[] = {
        {EXC_MEMMANAGE, SCB_SHCSR_MEMFAULTACT, SCB_SHCSR_MEMFAULTPENDED, SCB_SHCSR_MEMFAULTENA},
        {EXC_BUSFAULT, SCB_SHCSR_BUSFAULTACT, SCB_SHCSR_BUSFAULTPENDED, SCB_SHCSR_BUSFAULTENA},
        {EXC_USAGEFAULT, SCB_SHCSR_USGFAULTACT, SCB_SHCSR_USGFAULTPENDED, SCB_SHCSR_USGFAULTENA},
        {EXC_SVCALL, SCB_SHCSR_SVCALLACT, SCB_SHCSR_SVCALLPENDED, 0},
        {EXC_DEBUGMONITOR, SCB_SHCSR_MONITORACT, 0, 0},
        {EXC_PENDSV, SCB_SHCSR_PENDSVACT, 0, 0},
        {EXC_SYSTICK, SCB_SHCSR_SYSTICKACT, 0, 0},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        uint64_t bit = EXC_BIT(map[i].exc);
        nvic->active = (v & map[i].act) ? nvic->active | bit : nvic->active & ~bit;
        if (map[i].pend)
            nvic->pending = (v & map[i].pend) ? nvic->pending | bit : nvic->pending & ~bit;
        if (map[i].ena)
            nvic->enabled = (v & map[i].ena) ? nvic->enabled | bit : nvic->enabled & ~bit;
    }
    nvic_changed(nvic);
}

/* Which system handler priority bytes exist (SHPR1-3 cover exceptions 4..15). */
static bool shpr_implemented(int exc)
{
    return exc == EXC_MEMMANAGE || exc == EXC_BUSFAULT || exc == EXC_USAGEFAULT ||
           exc == EXC_SVCALL || exc == EXC_DEBUGMONITOR || exc == EXC_PENDSV || exc == EXC_SYSTICK;
}

static uint32_t irq_word(uint64_t mask, unsigned word)
{
    return (uint32_t)((mask & IRQ_MASK) >> (EXC_IRQ0 + 32 * word));
}

static uint64_t irq_bits(uint32_t value, unsigned word)
{
    return ((uint64_t)value << (EXC_IRQ0 + 32 * word)) & IRQ_MASK;
}

static uint32_t scs_read_word(struct nvic *nvic, uint32_t off)
{
    if (off >= NVIC_ISER && off < NVIC_ISER + 0x40)
        return irq_word(nvic->enabled, (off - NVIC_ISER) / 4);
    if (off >= NVIC_ICER && off < NVIC_ICER + 0x40)
        return irq_word(nvic->enabled, (off - NVIC_ICER) / 4);
    if (off >= NVIC_ISPR && off < NVIC_ISPR + 0x40)
        return irq_word(nvic->pending, (off - NVIC_ISPR) / 4);
    if (off >= NVIC_ICPR && off < NVIC_ICPR + 0x40)
        return irq_word(nvic->pending, (off - NVIC_ICPR) / 4);
    if (off >= NVIC_IABR && off < NVIC_IABR + 0x40)
        return irq_word(nvic->active, (off - NVIC_IABR) / 4);
    if (off >= NVIC_IPR && off < NVIC_IPR + 0x3F0) {
        uint32_t v = 0;
        for (unsigned i = 0; i < 4; i++) {
            unsigned irq = off - NVIC_IPR + i;
            if (irq < NVIC_NUM_IRQ)
                v |= (uint32_t)nvic->priority[EXC_IRQ0 + irq] << (8 * i);
        }
        return v;
    }
    if (off >= SCB_SHPR1 && off < SCB_SHPR3_END) {
        uint32_t v = 0;
        for (unsigned i = 0; i < 4; i++) {
            int exc = (int)(off - SCB_SHPR1 + 4 + i);
            if (shpr_implemented(exc))
                v |= (uint32_t)nvic->priority[exc] << (8 * i);
        }
        return v;
    }
    if (off >= SCB_ID_PFR0 && off <= SCB_ID_ISAR4)
        return cortex_m3_id_regs[(off - SCB_ID_PFR0) / 4];

    switch (off) {
    case SCS_ICTR: return (NVIC_NUM_IRQ - 1) / 32;
    case SCS_ACTLR: return 0;
    case SYST_CSR: {
        syst_catch_up(nvic);
        sim_note_volatile_read(nvic->sim); /* COUNTFLAG clears on read */
        uint32_t v = nvic->syst_csr | (nvic->syst_countflag ? SYST_CSR_COUNTFLAG : 0);
        nvic->syst_countflag = false;
        return v;
    }
    case SYST_RVR: return nvic->syst_rvr;
    case SYST_CVR:
        sim_note_time_read(nvic->sim);
        return nvic->syst_running ? syst_current(nvic) : nvic->syst_stopped_value;
    case SYST_CALIB: return SYST_CALIB_VALUE;
    case SCB_CPUID: return SCB_CPUID_VALUE;
    case SCB_ICSR: return nvic_read_icsr(nvic);
    case SCB_VTOR: return nvic->vtor;
    case SCB_AIRCR: return (SCB_AIRCR_VECTKEYSTAT << 16) | (nvic->prigroup << SCB_AIRCR_PRIGROUP_SHIFT);
    case SCB_SCR: return nvic->scr;
    case SCB_CCR: return nvic->ccr;
    case SCB_SHCSR: return shcsr_read(nvic);
    case SCB_CFSR: return nvic->cfsr;
    case SCB_HFSR: return nvic->hfsr;
    case SCB_DFSR: return nvic->dfsr;
    case SCB_MMFAR: return nvic->mmfar;
    case SCB_BFAR: return nvic->bfar;
    case SCB_AFSR: return nvic->afsr;
    case MPU_TYPE: return 0; /* the STM32F103 has no MPU */
    case COREDEBUG_DHCSR: return 0;
    case COREDEBUG_DEMCR: return nvic->demcr;
    case NVIC_STIR: return 0;
    }
    sim_warn_once(nvic->sim, "SCS", off, false, NULL);
    return 0;
}

static void scs_write_word(struct nvic *nvic, uint32_t off, uint32_t value, uint32_t bytemask)
{
    if (off >= NVIC_ISER && off < NVIC_ISER + 0x40) {
        nvic->enabled |= irq_bits(value, (off - NVIC_ISER) / 4);
        nvic_changed(nvic);
        return;
    }
    if (off >= NVIC_ICER && off < NVIC_ICER + 0x40) {
        nvic->enabled &= ~irq_bits(value, (off - NVIC_ICER) / 4);
        nvic_changed(nvic);
        return;
    }
    if (off >= NVIC_ISPR && off < NVIC_ISPR + 0x40) {
        nvic_pend(nvic, irq_bits(value, (off - NVIC_ISPR) / 4));
        nvic_changed(nvic);
        return;
    }
    if (off >= NVIC_ICPR && off < NVIC_ICPR + 0x40) {
        uint64_t bits = irq_bits(value, (off - NVIC_ICPR) / 4);
        nvic->pending &= ~bits;
        /* a level-sensitive line that is still asserted stays pending */
        nvic->pending |= bits & nvic->level & ~nvic->active;
        nvic_changed(nvic);
        return;
    }
    if (off >= NVIC_IABR && off < NVIC_IABR + 0x40)
        return; /* read-only */
    if (off >= NVIC_IPR && off < NVIC_IPR + 0x3F0) {
        for (unsigned i = 0; i < 4; i++) {
            unsigned irq = off - NVIC_IPR + i;
            if ((bytemask >> (8 * i)) & 0xFF && irq < NVIC_NUM_IRQ)
                nvic->priority[EXC_IRQ0 + irq] = (uint8_t)(value >> (8 * i)) & NVIC_PRIO_MASK;
        }
        nvic_changed(nvic);
        return;
    }
    if (off >= SCB_SHPR1 && off < SCB_SHPR3_END) {
        for (unsigned i = 0; i < 4; i++) {
            int exc = (int)(off - SCB_SHPR1 + 4 + i);
            if ((bytemask >> (8 * i)) & 0xFF && shpr_implemented(exc))
                nvic->priority[exc] = (uint8_t)(value >> (8 * i)) & NVIC_PRIO_MASK;
        }
        nvic_changed(nvic);
        return;
    }
    switch (off) {
    case SCS_ACTLR:
        return;
    case SYST_CSR:
        syst_catch_up(nvic);
        syst_write_csr(nvic, value);
        return;
    case SYST_RVR:
        /* takes effect at the next reload; our period arithmetic uses RVR from
         * the epoch, so re-base on the current count to keep the ongoing one */
        if (nvic->syst_running) {
            syst_catch_up(nvic);
            uint32_t current = syst_current(nvic);
            nvic->syst_rvr = value & 0x00FFFFFFu;
            syst_start_from(nvic, current);
            syst_schedule(nvic);
        } else {
            nvic->syst_rvr = value & 0x00FFFFFFu;
        }
        return;
    case SYST_CVR:
        /* any write clears the counter and COUNTFLAG; the next tick reloads */
        nvic->syst_countflag = false;
        nvic->syst_stopped_value = 0;
        if (nvic->syst_running) {
            syst_start_from(nvic, 0);
            syst_schedule(nvic);
        }
        return;
    case SYST_CALIB:
        return;
    case SCB_ICSR:
        if (value & SCB_ICSR_NMIPENDSET)
            nvic_set_pending(nvic, EXC_NMI);
        if (value & SCB_ICSR_PENDSVSET)
            nvic_set_pending(nvic, EXC_PENDSV);
        else if (value & SCB_ICSR_PENDSVCLR)
            nvic_clear_pending(nvic, EXC_PENDSV);
        if (value & SCB_ICSR_PENDSTSET)
            nvic_set_pending(nvic, EXC_SYSTICK);
        else if (value & SCB_ICSR_PENDSTCLR)
            nvic_clear_pending(nvic, EXC_SYSTICK);
        return;
    case SCB_VTOR:
        /* TBLOFF bits [29:7] on Cortex-M3 r1p1 (TBLBASE is bit 29) */
        nvic->vtor = value & 0x3FFFFF80u;
        return;
    case SCB_AIRCR:
        if ((value >> 16) != SCB_AIRCR_VECTKEY)
            return;
        nvic->prigroup = (value >> SCB_AIRCR_PRIGROUP_SHIFT) & 7u;
        nvic_changed(nvic);
        if (value & (SCB_AIRCR_SYSRESETREQ | SCB_AIRCR_VECTRESET)) {
            if (value & SCB_AIRCR_VECTRESET)
                sim_log(nvic->sim, LOG_WARN, "AIRCR.VECTRESET (debug-only) treated as a system reset");
            sim_request_reset(nvic->sim, RESET_SOFTWARE);
        }
        return;
    case SCB_SCR:
        nvic->scr = value & (SCB_SCR_SLEEPONEXIT | SCB_SCR_SLEEPDEEP | SCB_SCR_SEVONPEND);
        return;
    case SCB_CCR:
        nvic->ccr = value & (SCB_CCR_NONBASETHRDENA | SCB_CCR_USERSETMPEND | SCB_CCR_UNALIGN_TRP |
                             SCB_CCR_DIV_0_TRP | SCB_CCR_BFHFNMIGN | SCB_CCR_STKALIGN);
        nvic_changed(nvic);
        return;
    case SCB_SHCSR:
        shcsr_write(nvic, value);
        return;
    case SCB_CFSR:
        nvic->cfsr &= ~(value & bytemask);
        return;
    case SCB_HFSR:
        nvic->hfsr &= ~(value & bytemask);
        return;
    case SCB_DFSR:
        nvic->dfsr &= ~(value & bytemask);
        return;
    case SCB_MMFAR:
        nvic->mmfar = value;
        return;
    case SCB_BFAR:
        nvic->bfar = value;
        return;
    case SCB_AFSR:
        nvic->afsr &= ~value;
        return;
    case COREDEBUG_DEMCR: {
        uint32_t cyc = cyccnt_read(nvic);
        nvic->demcr = value & 0x010F07F1u;
        cyccnt_rebase(nvic, cyc);
        return;
    }
    case COREDEBUG_DHCSR:
        return; /* no debugger attached: halting is not available */
    case NVIC_STIR:
        if ((value & 0x1FF) < NVIC_NUM_IRQ)
            nvic_set_pending(nvic, EXC_IRQ0 + (int)(value & 0x1FF));
        return;
    }
    sim_warn_once(nvic->sim, "SCS", off, true, NULL);
}

static uint32_t scs_read(void *opaque, uint32_t offset, unsigned size)
{
    uint32_t word = scs_read_word(opaque, offset & ~3u);
    unsigned shift = 8 * (offset & 3u);
    if (size >= 4)
        return word;
    return (word >> shift) & (size == 2 ? 0xFFFFu : 0xFFu);
}

static void scs_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    unsigned shift = 8 * (offset & 3u);
    uint32_t mask = size >= 4 ? 0xFFFFFFFFu : ((size == 2 ? 0xFFFFu : 0xFFu) << shift);
    scs_write_word(opaque, offset & ~3u, size >= 4 ? value : value << shift, mask);
}

const struct mmio_ops nvic_scs_mmio = {
    .name = "SCS",
    .read = scs_read,
    .write = scs_write,
};

/* ---- DWT (0xE0001000) -------------------------------------------------- */

enum {
    DWT_CTRL = 0x000,
    DWT_CYCCNT = 0x004,
    DWT_PCSR = 0x01C,
};
#define DWT_CTRL_NUMCOMP_4 0x40000000u

static uint32_t dwt_read(void *opaque, uint32_t offset, unsigned size)
{
    struct nvic *nvic = opaque;
    (void)size;
    switch (offset & ~3u) {
    case DWT_CTRL: return DWT_CTRL_NUMCOMP_4 | nvic->dwt_ctrl;
    case DWT_CYCCNT:
        sim_note_time_read(nvic->sim);
        return cyccnt_read(nvic);
    case DWT_PCSR:
        return 0xFFFFFFFFu; /* sampling not implemented: "no sample" */
    }
    sim_warn_once(nvic->sim, "DWT", offset, false, NULL);
    return 0;
}

static void dwt_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct nvic *nvic = opaque;
    (void)size;
    switch (offset & ~3u) {
    case DWT_CTRL: {
        uint32_t cyc = cyccnt_read(nvic);
        nvic->dwt_ctrl = value & 0x003F1FFFu & ~DWT_CTRL_NUMCOMP_4;
        cyccnt_rebase(nvic, cyc);
        return;
    }
    case DWT_CYCCNT:
        cyccnt_rebase(nvic, value);
        return;
    }
    sim_warn_once(nvic->sim, "DWT", offset, true, NULL);
}

const struct mmio_ops nvic_dwt_mmio = {
    .name = "DWT",
    .read = dwt_read,
    .write = dwt_write,
};

/* ---- snapshot (snapshot.h): NVIC, SCB, SysTick, DWT, CoreDebug ---------- */

static void nvic_fields(struct nvic *d, struct snap_io *io)
{
    snap_io_u64(io, &d->enabled);
    snap_io_u64(io, &d->pending);
    snap_io_u64(io, &d->active);
    snap_io_u64(io, &d->level);
    snap_io_bytes(io, d->priority, sizeof d->priority);
    snap_io_u32(io, &d->vtor);
    snap_io_u32(io, &d->prigroup);
    snap_io_u32(io, &d->scr);
    snap_io_u32(io, &d->ccr);
    snap_io_bool(io, &d->event);
    snap_io_u32(io, &d->cfsr);
    snap_io_u32(io, &d->hfsr);
    snap_io_u32(io, &d->dfsr);
    snap_io_u32(io, &d->mmfar);
    snap_io_u32(io, &d->bfar);
    snap_io_u32(io, &d->afsr);
    snap_io_u32(io, &d->syst_csr);
    snap_io_u32(io, &d->syst_rvr);
    snap_io_u64(io, &d->syst_epoch);
    snap_io_u64(io, &d->syst_next);
    snap_io_bool(io, &d->syst_countflag);
    snap_io_bool(io, &d->syst_running);
    snap_io_u32(io, &d->syst_stopped_value);
    snap_io_bool(io, &d->syst_paused);
    snap_io_event(io, &d->syst_event);
    snap_io_u32(io, &d->dwt_ctrl);
    snap_io_u32(io, &d->cyccnt_base);
    snap_io_u64(io, &d->cyccnt_epoch);
    snap_io_u32(io, &d->demcr);
    snap_io_int(io, &d->ipsr);
}

SNAP_DEFINE_PAIR(nvic, struct nvic, nvic_fields)
