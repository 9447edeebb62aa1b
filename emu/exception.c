/*
 * exception.c - the ARMv7-M exception model on top of a Unicorn core that has
 * none: ExceptionEntry (PushStack + ExceptionTaken), ExceptionReturn
 * (tail-chaining, PopStack), fault escalation and lockup. Names follow the
 * ARMv7-M ARM B1.5 pseudocode so each step can be checked against it.
 *
 * Design decision: Unicorn 2.0.1 gates MSP/PSP/PRIMASK/BASEPRI/FAULTMASK/CONTROL
 * on the guest's current privilege and never rebuilds its cached TB flags after
 * API writes to IPSR/CONTROL/XPSR. Every mode switch therefore goes through the
 * ordered register-write recipes below (validated in shared/docs/
 * unicorn-cortex-m.md), and ends with cpu_rebuild_hflags().
 */
#include "machine.h"

#include <string.h>

#define XPSR_T (1u << 24)
#define XPSR_STKALIGN_BIT (1u << 9)
#define CONTROL_NPRIV 1u
#define CONTROL_SPSEL 2u
#define EXC_RETURN_HANDLER_MSP 0xFFFFFFF1u
#define EXC_RETURN_THREAD_MSP 0xFFFFFFF9u
#define EXC_RETURN_THREAD_PSP 0xFFFFFFFDu
#define EXC_RETURN_THREAD (1u << 3)
#define EXC_RETURN_PSP (1u << 2)
#define XN_SYSTEM_BASE 0xE0000000u /* the System region: execute-never in the default map */

/* Cycle costs of the Cortex-M3 (TRM r1p1: 12 cycles entry, 10 return, 6 tail-chain) */
#define CYCLES_ENTRY 12
#define CYCLES_RETURN 10
#define CYCLES_TAILCHAIN 6

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

void cpu_rebuild_hflags(struct machine *m)
{
    /* Only APSR/CPSR writes make Unicorn 2.0.1 recompute its cached mode flags. */
    wr(m, UC_ARM_REG_APSR_NZCV, rd(m, UC_ARM_REG_APSR_NZCV));
}

/* Read the mask registers even from unprivileged Thread mode, where the API reads 0. */
static void read_masks(struct machine *m, bool *primask, uint32_t *basepri, bool *faultmask)
{
    uint32_t control = rd(m, UC_ARM_REG_CONTROL);
    uint32_t ipsr = rd(m, UC_ARM_REG_IPSR) & 0x1FF;
    bool gated = ipsr == 0 && (control & CONTROL_NPRIV);
    if (gated)
        wr(m, UC_ARM_REG_IPSR, EXC_HARDFAULT);
    *primask = rd(m, UC_ARM_REG_PRIMASK) & 1;
    *basepri = rd(m, UC_ARM_REG_BASEPRI) & 0xFF;
    *faultmask = rd(m, UC_ARM_REG_FAULTMASK) & 1;
    if (gated)
        wr(m, UC_ARM_REG_IPSR, 0);
}

static int execution_priority(struct machine *m)
{
    bool primask, faultmask;
    uint32_t basepri;
    read_masks(m, &primask, &basepri, &faultmask);
    return nvic_execution_priority(&m->nvic, primask, basepri, faultmask);
}

/* Stack accesses go straight to SRAM when they can (the common case). */
static bool stack_write(struct machine *m, uint32_t addr, const uint32_t words[8])
{
    if (addr - SRAM_BASE <= SRAM_SIZE - 32 && addr >= SRAM_BASE) {
        memcpy(m->sram + (addr - SRAM_BASE), words, 32);
        return true;
    }
    return uc_mem_write(m->uc, addr, words, 32) == UC_ERR_OK;
}

static bool stack_read(struct machine *m, uint32_t addr, uint32_t words[8])
{
    if (addr - SRAM_BASE <= SRAM_SIZE - 32 && addr >= SRAM_BASE) {
        memcpy(words, m->sram + (addr - SRAM_BASE), 32);
        return true;
    }
    return uc_mem_read(m->uc, addr, words, 32) == UC_ERR_OK;
}

/*
 * Lockup (B1.5.15): the core stops executing until a reset. Stop the CPU at
 * once: from UC_HOOK_INTR, Unicorn raises the same prefetch abort or BKPT
 * again for as long as the hook neither moves the PC nor stops, so a lockup
 * that only asked the block hook to stop was reported millions of times at
 * one instant. It is reported once; the run loop lets time run on.
 */
static void lockup(struct machine *m, const char *why, uint32_t pc)
{
    if (!m->locked_up) {
        m->locked_up = true;
        m->locked_up_at = m->sim.clock.now;
        machine_report_fault(m, why, pc);
    }
    m->stop_requested = true;
    m->stop_reason = STOP_REQUESTED;
    m->sim.attention = true;
    uc_emu_stop(m->uc); /* never together with a PC write: that would lose the stop */
}

/*
 * ExceptionTaken: enter the handler of `exc` from Handler mode on MSP. The
 * caller has stacked (or, tail-chaining, has not) and set LR.
 */
static void ExceptionTaken(struct machine *m, int exc)
{
    uint32_t vector = 0;
    if (bus_read(&m->bus, m->nvic.vtor + 4u * (uint32_t)exc, 4, &vector) != BUS_OK) {
        m->nvic.hfsr |= HFSR_VECTTBL;
        lockup(m, "vector table read failed", m->nvic.vtor + 4u * (uint32_t)exc);
        return;
    }
    /* IPSR = exc, IT cleared, T from bit 0 of the vector (clear => INVSTATE on first fetch) */
    wr(m, UC_ARM_REG_XPSR, ((vector & 1u) << 24) | (uint32_t)exc);
    wr(m, UC_ARM_REG_PC, vector);
    m->nvic.active |= 1ull << exc;
    m->nvic.pending &= ~(1ull << exc);
    m->nvic.ipsr = exc;
    m->sim.attention = true;
    m->stats.exceptions++;
    m->event_register = true; /* exception entry is a WFE wake-up event */
    cpu_clear_exclusive_local(m);
    /*
     * A handler in the execute-never System region: its first fetch faults
     * (IACCVIOL) in the new handler's context. Raised here because Unicorn
     * takes a PC at 0xF0000000 and above in Handler mode for an exception
     * return: such a HardFault vector made an illegal return and this entry
     * call each other forever without a block ever running.
     */
    if ((vector & ~1u) >= XN_SYSTEM_BASE) {
        m->nvic.cfsr |= CFSR_IACCVIOL;
        exc_fault(m, EXC_MEMMANAGE, vector & ~1u, "handler address in an execute-never region");
    }
}

/* PushStack + ExceptionTaken (B1.5.6) */
void ExceptionEntry(struct machine *m, int exc, uint32_t return_address)
{
    static const int regs[] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
                               UC_ARM_REG_R12, UC_ARM_REG_LR, UC_ARM_REG_SP, UC_ARM_REG_XPSR,
                               UC_ARM_REG_CONTROL};
    uint32_t v[9];
    void *ptrs[9];
    for (int i = 0; i < 9; i++)
        ptrs[i] = &v[i];
    uc_reg_read_batch(m->uc, (int *)regs, ptrs, 9);
    uint32_t sp = v[6], xpsr = v[7], control = v[8];
    bool handler_mode = (xpsr & 0x1FF) != 0;
    bool on_psp = !handler_mode && (control & CONTROL_SPSEL);
    bool unprivileged = !handler_mode && (control & CONTROL_NPRIV);

    bool forcealign = (m->nvic.ccr & SCB_CCR_STKALIGN) != 0;
    bool frameptralign = forcealign && (sp & 4u);
    uint32_t frameptr = (sp - 0x20u) & ~(forcealign ? 4u : 0u);
    uint32_t frame[8] = {v[0], v[1], v[2], v[3], v[4], v[5], return_address & ~1u,
                         (xpsr & ~XPSR_STKALIGN_BIT) | (frameptralign ? XPSR_STKALIGN_BIT : 0)};
    if (!stack_write(m, frameptr, frame)) {
        /* A stacking error: the entry still happens, and a BusFault (STKERR) pends. */
        m->nvic.cfsr |= CFSR_STKERR;
        if (exc != EXC_HARDFAULT && nvic_fault_enabled(&m->nvic, EXC_BUSFAULT))
            nvic_set_pending(&m->nvic, EXC_BUSFAULT);
        else if (exc == EXC_HARDFAULT) {
            lockup(m, "stacking error while entering HardFault", return_address);
            return;
        } else {
            m->nvic.hfsr |= HFSR_FORCED;
            nvic_set_pending(&m->nvic, EXC_HARDFAULT);
        }
    }
    wr(m, UC_ARM_REG_SP, frameptr);

    /* Leave PSP: Handler mode always runs on MSP. */
    if (on_psp) {
        if (unprivileged) {
            wr(m, UC_ARM_REG_IPSR, (uint32_t)exc); /* privileged access to CONTROL */
            wr(m, UC_ARM_REG_CONTROL, 0);          /* clears nPRIV (SPSEL ignored in Handler) */
            wr(m, UC_ARM_REG_IPSR, 0);             /* back to Thread, now privileged, SP = PSP */
            wr(m, UC_ARM_REG_CONTROL, 0);          /* SPSEL = 0: SP = MSP */
        } else {
            wr(m, UC_ARM_REG_CONTROL, control & ~CONTROL_SPSEL);
        }
    }
    uint32_t exc_return = handler_mode ? EXC_RETURN_HANDLER_MSP
                          : on_psp    ? EXC_RETURN_THREAD_PSP
                                      : EXC_RETURN_THREAD_MSP;
    wr(m, UC_ARM_REG_XPSR, XPSR_T | (uint32_t)exc);
    if (unprivileged && on_psp)
        wr(m, UC_ARM_REG_CONTROL, CONTROL_NPRIV); /* nPRIV is preserved across the exception */
    wr(m, UC_ARM_REG_LR, exc_return);
    sim_charge_cycles(&m->sim, CYCLES_ENTRY);
    m->sim.time_frozen = false; /* handlers see true time; a loop watch ends with the event */
    m->probing = m->search_restart = false;
    if (m->sim.log_level >= LOG_DEBUG)
        sim_log(&m->sim, LOG_DEBUG, "exception %d taken (VTOR 0x%08x), return to 0x%08x, sp 0x%08x", exc,
                m->nvic.vtor, return_address, frameptr);
    ExceptionTaken(m, exc);
    cpu_rebuild_hflags(m);
}

/* A synchronous fault: escalate to HardFault when it cannot be taken (B1.5.15). */
void exc_fault(struct machine *m, int exc, uint32_t return_address, const char *what)
{
    int exec = execution_priority(m);
    if (exc != EXC_HARDFAULT) {
        int prio = nvic_group_priority(&m->nvic, nvic_exception_priority(&m->nvic, exc));
        if (!nvic_fault_enabled(&m->nvic, exc) || prio >= exec) {
            m->nvic.hfsr |= HFSR_FORCED;
            exc = EXC_HARDFAULT;
        }
    }
    if (exc == EXC_HARDFAULT && exec <= -1) {
        lockup(m, what, return_address);
        return;
    }
    if (exc != EXC_SVCALL)
        sim_trace(&m->sim, "fault", "\"pc\":%u,\"what\":\"%s\"", return_address, what);
    ExceptionEntry(m, exc, return_address);
}

bool exc_try_deliver(struct machine *m, uint32_t return_address)
{
    int prio;
    int best = nvic_best_pending(&m->nvic, &prio);
    if (!best)
        return false;
    int group = nvic_group_priority(&m->nvic, prio);
    /* Masks can only lower the execution priority further: check the cheap bound first. */
    if (group >= nvic_active_priority(&m->nvic))
        return false;
    if (group >= execution_priority(m)) {
        m->sim.attention = true; /* masked: look again at every block until unmasked */
        return false;
    }
    ExceptionEntry(m, best, return_address);
    return true;
}

/* A pending exception among `allowed` (a mask by exception number) that would preempt wakes the core. */
bool exc_wfi_wakeup(struct machine *m, uint64_t allowed)
{
    int prio;
    int best = nvic_best_pending(&m->nvic, &prio);
    if (!best || !(allowed & (1ull << best)))
        return false;
    bool primask, faultmask;
    uint32_t basepri;
    read_masks(m, &primask, &basepri, &faultmask);
    /* PRIMASK does not prevent the wake-up, only the taking (B1.5.19) */
    int exec = nvic_execution_priority(&m->nvic, false, basepri, faultmask);
    return nvic_group_priority(&m->nvic, prio) < exec;
}

/*
 * An ExceptionReturn the architecture refuses (B1.5.8): the returning
 * exception has already been deactivated; CFSR.INVPC is set and UsageFault
 * is taken straight from Handler mode with no new frame (the interrupted
 * context's frame stays where it is) and LR = the offending EXC_RETURN.
 * UsageFault escalates to HardFault when it is disabled or cannot preempt,
 * and a HardFault that cannot preempt either is a lockup.
 */
static void InvalidExceptionReturn(struct machine *m, uint32_t exc_return, const char *why)
{
    struct nvic *nvic = &m->nvic;
    nvic->cfsr |= CFSR_INVPC;
    int exec = execution_priority(m);
    int fault = EXC_USAGEFAULT;
    if (!nvic_fault_enabled(nvic, EXC_USAGEFAULT) ||
        nvic_group_priority(nvic, nvic_exception_priority(nvic, EXC_USAGEFAULT)) >= exec) {
        nvic->hfsr |= HFSR_FORCED;
        fault = EXC_HARDFAULT;
        if (exec <= -1) {
            lockup(m, why, exc_return);
            return;
        }
    }
    sim_trace(&m->sim, "fault", "\"pc\":%u,\"what\":\"%s\"", exc_return, why);
    wr(m, UC_ARM_REG_LR, exc_return);
    sim_charge_cycles(&m->sim, CYCLES_TAILCHAIN);
    ExceptionTaken(m, fault);
    cpu_rebuild_hflags(m);
}

/* DeActivate (B1.5.8): the returning exception is no longer active. */
static void DeActivate(struct machine *m, int returning)
{
    struct nvic *nvic = &m->nvic;
    nvic->active &= ~(1ull << returning);
    if (returning != EXC_NMI)
        wr(m, UC_ARM_REG_FAULTMASK, 0);
    if (returning >= EXC_IRQ0 && (nvic->level & (1ull << returning)))
        nvic->pending |= 1ull << returning; /* level still asserted: pends again */
    m->sim.attention = true;
}

/* ExceptionReturn (B1.5.8), with tail-chaining */
void ExceptionReturn(struct machine *m, uint32_t exc_return)
{
    struct nvic *nvic = &m->nvic;
    int returning = (int)(rd(m, UC_ARM_REG_IPSR) & 0x1FF);
    uint32_t kind = exc_return & 0xFu;
    if (m->sim.log_level >= LOG_DEBUG)
        sim_log(&m->sim, LOG_DEBUG, "return from exception %d with 0x%08x", returning, exc_return);
    int nested_activation = nvic_active_count(nvic);
    if (returning == 0 || !(nvic->active & (1ull << returning))) {
        InvalidExceptionReturn(m, exc_return, "exception return from an inactive exception");
        return;
    }
    bool to_thread = (exc_return & EXC_RETURN_THREAD) != 0;
    if ((exc_return & 0x0FFFFFF0u) != 0x0FFFFFF0u || (kind != 1 && kind != 9 && kind != 0xD)) {
        DeActivate(m, returning);
        InvalidExceptionReturn(m, exc_return, "illegal EXC_RETURN");
        return;
    }
    if (to_thread && nested_activation != 1 && !(nvic->ccr & SCB_CCR_NONBASETHRDENA)) {
        DeActivate(m, returning);
        InvalidExceptionReturn(m, exc_return, "return to Thread mode with other exceptions active");
        return;
    }
    DeActivate(m, returning);

    /* Tail-chain: a pending exception that would preempt what we return to is taken now. */
    int prio;
    int next = nvic_best_pending(nvic, &prio);
    if (next) {
        bool primask, faultmask;
        uint32_t basepri;
        read_masks(m, &primask, &basepri, &faultmask);
        int after = nvic_execution_priority(nvic, primask, basepri,
                                            returning == EXC_NMI ? faultmask : false);
        if (nvic_group_priority(nvic, prio) < after) {
            sim_charge_cycles(&m->sim, CYCLES_TAILCHAIN);
            m->stats.tail_chains++;
            wr(m, UC_ARM_REG_LR, exc_return);
            ExceptionTaken(m, next);
            cpu_rebuild_hflags(m);
            return;
        }
    }

    /* PopStack */
    uint32_t control = rd(m, UC_ARM_REG_CONTROL);
    bool from_psp = (exc_return & EXC_RETURN_PSP) != 0;
    uint32_t frameptr = rd(m, from_psp ? UC_ARM_REG_PSP : UC_ARM_REG_MSP);
    uint32_t frame[8];
    if (!stack_read(m, frameptr, frame)) {
        nvic->cfsr |= CFSR_UNSTKERR;
        lockup(m, "unstacking error on exception return", frameptr);
        return;
    }
    uint32_t xpsr = frame[7];
    int resumed = (int)(xpsr & 0x1FF);
    if (to_thread != (resumed == 0)) {
        /* the stacked IPSR does not match the mode returned to: the frame stays (PushStack undoes PopStack) */
        InvalidExceptionReturn(m, exc_return, to_thread ? "return to Thread mode with a non-zero stacked IPSR"
                                                        : "return to Handler mode with a zero stacked IPSR");
        return;
    }
    uint32_t sp = frameptr + 0x20u;
    if ((nvic->ccr & SCB_CCR_STKALIGN) && (frame[7] & XPSR_STKALIGN_BIT))
        sp += 4;
    static const int regs[] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
                               UC_ARM_REG_R12, UC_ARM_REG_LR};
    void *ptrs[6];
    for (int i = 0; i < 6; i++)
        ptrs[i] = &frame[i];
    uc_reg_write_batch(m->uc, (int *)regs, ptrs, 6);
    wr(m, from_psp ? UC_ARM_REG_PSP : UC_ARM_REG_MSP, sp);

    if (to_thread) {
        uint32_t npriv = control & CONTROL_NPRIV;
        if (npriv)
            wr(m, UC_ARM_REG_CONTROL, 0);
        wr(m, UC_ARM_REG_XPSR, xpsr & ~0x1FFu); /* Thread mode, privileged, on MSP */
        wr(m, UC_ARM_REG_CONTROL, npriv | (from_psp ? CONTROL_SPSEL : 0));
    } else {
        wr(m, UC_ARM_REG_XPSR, xpsr);
    }
    nvic->ipsr = to_thread ? 0 : resumed;
    /* bit 0 of the PC write sets EPSR.T: keep the stacked T bit */
    wr(m, UC_ARM_REG_PC, (frame[6] & ~1u) | ((xpsr >> 24) & 1u));
    sim_charge_cycles(&m->sim, CYCLES_RETURN);
    cpu_rebuild_hflags(m);
    cpu_clear_exclusive_local(m);
    m->event_register = true; /* SetEventRegister() */

    if (to_thread && (nvic->scr & SCB_SCR_SLEEPONEXIT)) {
        m->sleep_on_exit = true;
        m->sim.attention = true;
    }
}
