/*
 * svc_pendsv_tailchain - an SVC handler pends PendSV (lower priority); PendSV
 * must run after SVC finishes, tail-chained: no thread instruction runs in
 * between, PendSV sees the very frame SVC saw (same address, same stacked PC),
 * and its EXC_RETURN is the thread one, 0xFFFFFFF9.
 *
 * Design decision: "no return to thread in between" is observed through the
 * stacked frame, the only architectural trace of it: a return to thread and a
 * new entry would pop and push the frame again after at least one thread
 * instruction, so the stacked PC would have moved past the SVC.
 */
#include "rom.h"

#define SVC_IMMEDIATE 0x42
#define SVC_OPCODE_BASE 0xDF00u /* SVC #imm8, T1 encoding */
#define PRIORITY_SVCALL 0x80u
#define PRIORITY_PENDSV 0xF0u /* lowest on 4 priority bits */

struct handler_view {
    uint32_t exc_return;
    uint32_t frame;
    uint32_t stacked_pc;
    uint32_t ipsr;
    uint32_t icsr;
    uint32_t shcsr;
};

static volatile struct handler_view in_svc, in_pendsv;
static volatile uint32_t icsr_after_pending;
static volatile uint16_t svc_opcode;

static void view(volatile struct handler_view *v, struct exception_frame *frame,
                 uint32_t exc_return)
{
    v->exc_return = exc_return;
    v->frame = (uintptr_t)frame;
    v->stacked_pc = frame->pc;
    v->ipsr = get_ipsr();
    v->icsr = SCB_ICSR;
    v->shcsr = SCB_SHCSR;
}

HANDLER_WITH_FRAME(SVC_Handler, svc_entry)
void svc_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('S');
    view(&in_svc, frame, exc_return);
    svc_opcode = *(const volatile uint16_t *)(uintptr_t)(frame->pc - 2);
    SCB_ICSR = ICSR_PENDSVSET;
    barrier_take_pending(); /* PendSV has lower priority: it must not be taken here */
    icsr_after_pending = SCB_ICSR;
    log_event('s');
}

HANDLER_WITH_FRAME(PendSV_Handler, pendsv_entry)
void pendsv_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('P');
    view(&in_pendsv, frame, exc_return);
}

int main(void)
{
    scb_set_priority(EXC_SVCALL, PRIORITY_SVCALL);
    scb_set_priority(EXC_PENDSV, PRIORITY_PENDSV);

    uint32_t sp_before = get_sp();
    __asm volatile("svc %0" ::"i"(SVC_IMMEDIATE) : "memory");
    uint32_t sp_after = get_sp();
    log_event('T');

    /* S = SVC entry, s = SVC exit, P = PendSV, T = thread resumes */
    expect_events("SsPT", "thread executes SVC");

    check_eq(svc_opcode, SVC_OPCODE_BASE | SVC_IMMEDIATE,
             "halfword before the stacked PC is the SVC instruction");
    check_eq(in_svc.exc_return, EXC_RETURN_THREAD_MSP, "EXC_RETURN in SVC");
    check_eq(in_svc.ipsr, EXC_SVCALL, "IPSR in SVC");
    check(in_svc.shcsr & SHCSR_SVCALLACT, "SHCSR.SVCALLACT set in SVC");
    check(icsr_after_pending & ICSR_PENDSVSET, "ICSR.PENDSVSET reads 1 while PendSV pends");
    check_eq((icsr_after_pending & ICSR_VECTPENDING_MASK) >> ICSR_VECTPENDING_SHIFT, EXC_PENDSV,
             "ICSR.VECTPENDING in SVC after pending PendSV");
    check(!(icsr_after_pending & ICSR_ISRPENDING), "ICSR.ISRPENDING ignores PendSV");

    check_eq(in_pendsv.exc_return, EXC_RETURN_THREAD_MSP, "EXC_RETURN in tail-chained PendSV");
    check_eq(in_pendsv.ipsr, EXC_PENDSV, "IPSR in PendSV");
    check_eq(in_pendsv.icsr & ICSR_VECTACTIVE_MASK, EXC_PENDSV, "ICSR.VECTACTIVE in PendSV");
    check(in_pendsv.icsr & ICSR_RETTOBASE, "ICSR.RETTOBASE in PendSV (nothing else active)");
    check(!(in_pendsv.icsr & ICSR_PENDSVSET), "ICSR.PENDSVSET cleared on PendSV entry");
    check(!(in_pendsv.shcsr & SHCSR_SVCALLACT), "SVC no longer active in PendSV");
    check(in_pendsv.shcsr & SHCSR_PENDSVACT, "SHCSR.PENDSVACT set in PendSV");
    check_eq(in_pendsv.frame, in_svc.frame, "PendSV reuses the SVC frame (tail-chain)");
    check_eq(in_pendsv.stacked_pc, in_svc.stacked_pc,
             "stacked PC unchanged: no thread instruction between SVC and PendSV");
    check_eq(sp_after, sp_before, "thread SP restored after the exception return");
    check_eq(SCB_SHCSR & (SHCSR_SVCALLACT | SHCSR_PENDSVACT), 0, "nothing active in thread");
    pass();
}
