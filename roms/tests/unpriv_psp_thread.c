/*
 * unpriv_psp_thread - Thread mode on the process stack, unprivileged through
 * CONTROL:
 *   CONTROL.SPSEL=1 moves thread SP to PSP (MSP untouched);
 *   after CONTROL.nPRIV=1, MSR to PRIMASK, BASEPRI, FAULTMASK and CONTROL are
 *   ignored, MRS of MSP/PSP reads 0, and an NVIC access is a precise BusFault;
 *   SVC from there stacks the frame on PSP, returns with EXC_RETURN
 *   0xFFFFFFFD, sees CONTROL = nPRIV only (SPSEL reads 0 in Handler mode), and
 *   can clear nPRIV so the thread comes back privileged, on PSP, with PSP
 *   exactly restored and the SVC's result in r0.
 *
 * Design decision: the unprivileged part runs as its own function on its own
 * stack, entered and left by a small assembly trampoline, because the
 * compiler's frame cannot survive SP switching under it; and it only records
 * into globals, since semihosting from unprivileged code is not something
 * every host allows. All checks run privileged afterwards.
 */
#include "rom.h"

#define PROCESS_STACK_WORDS 256
#define SVC_RAISE_PRIVILEGE 0x33
#define SVC_ARGUMENT 0x5EC0DE00u
#define SVC_RESULT(arg) ((arg) ^ 0xFFFFFFFFu)
#define BASEPRI_ATTEMPT 0x40u

static uint32_t process_stack[PROCESS_STACK_WORDS] __attribute__((aligned(8)));

struct unprivileged_view {
    uint32_t control;
    uint32_t sp;
    uint32_t primask, basepri, faultmask, control_after_write;
    uint32_t mrs_msp, mrs_psp;
    uint32_t busfaults_after_nvic_read;
    uint32_t psp_before_svc, psp_after_svc, svc_result, control_after_svc;
};

struct svc_view {
    uint32_t exc_return, frame, psp, msp, control, ipsr, r0;
};

static volatile struct unprivileged_view unpriv;
static volatile struct svc_view in_svc;
static volatile uint32_t busfaults, busfault_cfsr, busfault_bfar;
static volatile uint32_t msp_at_start;

/* Runs fn with thread SP = PSP = psp_top, unprivileged; fn must leave privileged. */
__attribute__((naked, noinline)) static void run_unprivileged_on_psp(
    __attribute__((unused)) void (*fn)(void), __attribute__((unused)) uint32_t psp_top)
{
    __asm volatile("push {r4, lr}\n\t"
                   "msr psp, r1\n\t"
                   "movs r2, #2\n\t" /* CONTROL.SPSEL */
                   "msr control, r2\n\t"
                   "isb\n\t"
                   "movs r2, #3\n\t" /* CONTROL.SPSEL | CONTROL.nPRIV */
                   "msr control, r2\n\t"
                   "isb\n\t"
                   "blx r0\n\t"
                   "movs r2, #0\n\t" /* privileged again: back to MSP */
                   "msr control, r2\n\t"
                   "isb\n\t"
                   "pop {r4, pc}\n\t");
}

static void unprivileged_part(void)
{
    unpriv.control = get_control();
    unpriv.sp = get_sp();

    set_primask(1);
    unpriv.primask = get_primask();
    set_basepri(BASEPRI_ATTEMPT);
    unpriv.basepri = get_basepri();
    set_faultmask(1);
    unpriv.faultmask = get_faultmask();
    set_control(0);
    unpriv.control_after_write = get_control();
    unpriv.mrs_msp = get_msp();
    unpriv.mrs_psp = get_psp();

    (void)NVIC_ISER(0);
    unpriv.busfaults_after_nvic_read = busfaults;

    register uint32_t r0 __asm("r0") = SVC_ARGUMENT;
    uint32_t sp_before, sp_after;
    __asm volatile("mov %1, sp\n\t"
                   "svc %3\n\t"
                   "mov %2, sp\n\t"
                   : "+r"(r0), "=&r"(sp_before), "=r"(sp_after)
                   : "i"(SVC_RAISE_PRIVILEGE)
                   : "memory");
    unpriv.psp_before_svc = sp_before;
    unpriv.psp_after_svc = sp_after;
    unpriv.svc_result = r0;
    unpriv.control_after_svc = get_control();
}

HANDLER_WITH_FRAME(SVC_Handler, svc_entry)
void svc_entry(struct exception_frame *frame, uint32_t exc_return)
{
    in_svc.exc_return = exc_return;
    in_svc.frame = (uintptr_t)frame;
    in_svc.psp = get_psp();
    in_svc.msp = get_msp();
    in_svc.control = get_control();
    in_svc.ipsr = get_ipsr();
    in_svc.r0 = frame->r0;
    frame->r0 = SVC_RESULT(frame->r0);
    set_control(get_control() & ~CONTROL_NPRIV);
}

HANDLER_WITH_FRAME(BusFault_Handler, busfault_entry)
void busfault_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)exc_return;
    busfaults++;
    busfault_cfsr = SCB_CFSR;
    busfault_bfar = SCB_BFAR;
    SCB_CFSR = busfault_cfsr; /* write-one-to-clear */
    skip_faulting_instruction(frame);
}

int main(void)
{
    SCB_SHCSR |= SHCSR_BUSFAULTENA;
    msp_at_start = get_msp();
    uint32_t psp_top = (uintptr_t)&process_stack[PROCESS_STACK_WORDS];

    run_unprivileged_on_psp(unprivileged_part, psp_top);

    check_eq(get_control(), 0, "CONTROL after the trampoline returned to MSP");
    check_eq(get_sp(), get_msp(), "thread SP is MSP again");

    check_eq(unpriv.control, CONTROL_SPSEL | CONTROL_NPRIV, "CONTROL in unprivileged thread");
    check(unpriv.sp <= psp_top && unpriv.sp > (uintptr_t)process_stack,
          "unprivileged thread SP lies in the process stack");
    check_eq(unpriv.primask, 0, "unprivileged MSR PRIMASK is ignored");
    check_eq(unpriv.basepri, 0, "unprivileged MSR BASEPRI is ignored");
    check_eq(unpriv.faultmask, 0, "unprivileged MSR FAULTMASK is ignored");
    check_eq(unpriv.control_after_write, CONTROL_SPSEL | CONTROL_NPRIV,
             "unprivileged MSR CONTROL is ignored");
    check_eq(unpriv.mrs_msp, 0, "unprivileged MRS MSP reads 0");
    check_eq(unpriv.mrs_psp, 0, "unprivileged MRS PSP reads 0");

    check_eq(unpriv.busfaults_after_nvic_read, 1, "unprivileged NVIC read is a BusFault");
    check_eq(busfault_cfsr & (CFSR_PRECISERR | CFSR_BFARVALID),
             CFSR_PRECISERR | CFSR_BFARVALID, "BusFault on NVIC read: PRECISERR and BFARVALID");
    check_eq(busfault_bfar, (uintptr_t)&NVIC_ISER(0), "BFAR names the NVIC register");

    check_eq(in_svc.exc_return, EXC_RETURN_THREAD_PSP, "EXC_RETURN of SVC from a PSP thread");
    check_eq(in_svc.ipsr, EXC_SVCALL, "IPSR in SVC");
    check_eq(in_svc.frame, in_svc.psp, "the SVC frame is at PSP");
    check_eq(in_svc.frame, unpriv.psp_before_svc - sizeof(struct exception_frame),
             "the SVC frame sits right below the thread's PSP");
    check_eq(in_svc.r0, SVC_ARGUMENT, "stacked r0 holds the SVC argument");
    check_eq(in_svc.control, CONTROL_NPRIV, "CONTROL in SVC: nPRIV kept, SPSEL reads 0");
    check(in_svc.msp < msp_at_start && in_svc.msp > msp_at_start - 256,
          "the handler runs on the main stack");

    check_eq(unpriv.psp_after_svc, unpriv.psp_before_svc, "PSP restored exactly by the return");
    check_eq(unpriv.svc_result, SVC_RESULT(SVC_ARGUMENT), "r0 after SVC is the handler's result");
    check_eq(unpriv.control_after_svc, CONTROL_SPSEL, "thread privileged again, still on PSP");
    pass();
}
