/*
 * invalid_exc_return - an exception return the architecture refuses is an
 * INVPC UsageFault taken on the returning context (ARMv7-M B1.5.8
 * ExceptionReturn): the returning exception is deactivated, CFSR.INVPC is
 * set, and UsageFault is entered from Handler mode with no new frame (SP is
 * the returning handler's) and LR = the offending EXC_RETURN. Never a lockup:
 *   EXC_RETURN 0xFFFFFFF5 (an illegal mode/stack encoding) from an IRQ;
 *   0xFFFFFFF9 (to Thread) from an IRQ that preempted the SVC handler, with
 *     CCR.NONBASETHRDENA = 0 and so two exceptions active;
 * In both, the UsageFault handler then returns properly with the EXC_RETURN
 * that matches the frame left on the stack, and Thread mode resumes.
 *
 * Design decision: the offending handlers are assembly (a C return would
 * always use the right LR); the UsageFault handler records LR, SP, IPSR and
 * what is active, then returns with the EXC_RETURN the test chose.
 */
#include "rom.h"

#define PRIORITY_SVCALL 0x80u
#define PRIORITY_IRQ 0x40u
#define EXC_RETURN_ILLEGAL 0xFFFFFFF5u

__asm(".syntax unified\n"
      ".thumb\n"
      ".section .text.bad_returns,\"ax\",%progbits\n"

      /* IRQ A: note SP, then return with the EXC_RETURN in bad_exc_return */
      ".global " STRINGIFY(TEST_IRQ_A_HANDLER) "\n"
      ".type " STRINGIFY(TEST_IRQ_A_HANDLER) ", %function\n"
      ".thumb_func\n"
      STRINGIFY(TEST_IRQ_A_HANDLER) ":\n"
      "    ldr r0, =irq_sp\n"
      "    mov r1, sp\n"
      "    str r1, [r0]\n"
      "    ldr r0, =irq_lr\n"
      "    str lr, [r0]\n"
      "    ldr r0, =bad_exc_return\n"
      "    ldr r0, [r0]\n"
      "    bx r0\n"

      /* UsageFault: record, then return with good_exc_return */
      ".global UsageFault_Handler\n"
      ".type UsageFault_Handler, %function\n"
      ".thumb_func\n"
      "UsageFault_Handler:\n"
      "    mov r0, lr\n"
      "    mov r1, sp\n"
      "    bl usage_entry\n"
      "    ldr r0, =good_exc_return\n"
      "    ldr r0, [r0]\n"
      "    bx r0\n"
      ".ltorg\n"
      ".text\n");

volatile uint32_t irq_sp, irq_lr, bad_exc_return, good_exc_return;

struct usage_seen {
    uint32_t count, lr, sp, ipsr, cfsr, hfsr, shcsr, irq_active;
};
static volatile struct usage_seen seen;

void usage_entry(uint32_t lr, uint32_t sp);
void usage_entry(uint32_t lr, uint32_t sp)
{
    seen.count++;
    seen.lr = lr;
    seen.sp = sp;
    seen.ipsr = get_ipsr();
    seen.cfsr = SCB_CFSR;
    seen.hfsr = SCB_HFSR;
    seen.shcsr = SCB_SHCSR;
    seen.irq_active = nvic_is_active(TEST_IRQ_A);
    SCB_CFSR = seen.cfsr;
}

static volatile uint32_t svc_resumed;

void SVC_Handler(void);
void SVC_Handler(void)
{
    nvic_set_pending(TEST_IRQ_A); /* higher priority: preempts here */
    barrier_take_pending();
    svc_resumed++;
}

static void expect_invpc(const char *what, uint32_t exc_return)
{
    check_eq(seen.count, 1, what);
    check_eq(seen.ipsr, EXC_USAGEFAULT, "UsageFault taken");
    check_eq(seen.cfsr, CFSR_INVPC, "CFSR.INVPC alone");
    check_eq(seen.hfsr, 0, "no HardFault");
    check_eq(seen.lr, exc_return, "LR in the UsageFault handler is the offending EXC_RETURN");
    check_eq(seen.sp, irq_sp, "no new frame: SP is the returning handler's");
    check_eq(seen.irq_active, 0, "the returning IRQ was deactivated");
    seen.count = 0;
}

int main(void)
{
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    scb_set_priority(EXC_SVCALL, PRIORITY_SVCALL);
    nvic_set_priority(TEST_IRQ_A, PRIORITY_IRQ);
    nvic_enable(TEST_IRQ_A);

    /* 1. an illegal EXC_RETURN value from an IRQ taken in Thread mode */
    bad_exc_return = EXC_RETURN_ILLEGAL;
    good_exc_return = EXC_RETURN_THREAD_MSP;
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    check_eq(irq_lr, EXC_RETURN_THREAD_MSP, "IRQ entered from Thread");
    expect_invpc("illegal EXC_RETURN: one UsageFault", EXC_RETURN_ILLEGAL);
    check_eq(get_ipsr(), 0, "back in Thread mode");

    /* 2. a return to Thread with the SVC handler still active */
    bad_exc_return = EXC_RETURN_THREAD_MSP;
    good_exc_return = EXC_RETURN_HANDLER_MSP;
    __asm volatile("svc #0" ::: "memory");
    check_eq(irq_lr, EXC_RETURN_HANDLER_MSP, "IRQ entered from the SVC handler");
    expect_invpc("return to Thread with SVC active: one UsageFault", EXC_RETURN_THREAD_MSP);
    check_eq(svc_resumed, 1, "the SVC handler resumed after the IRQ's frame was popped");
    check_eq(get_ipsr(), 0, "back in Thread mode");
    check_eq(SCB_SHCSR & (SHCSR_SVCALLACT | SHCSR_USGFAULTACT), 0, "nothing left active");
    pass();
}
