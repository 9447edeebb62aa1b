/*
 * div0_trap - integer division by zero and CCR.DIV_0_TRP:
 *   with DIV_0_TRP=0, UDIV and SDIV by zero return 0 and do not fault;
 *   with DIV_0_TRP=1, both raise UsageFault with CFSR.DIVBYZERO, the stacked
 *   PC is the divide and its destination register is unwritten; a non-zero
 *   divisor still divides (SDIV truncates toward zero, 0x80000000 / -1 gives
 *   0x80000000 without a fault);
 *   with UsageFault disabled the trap escalates to HardFault (HFSR.FORCED).
 *
 * Design decision: the divides are in assembly at global labels, so the
 * compiler cannot fold or guard them and the stacked PC can be compared. The
 * caller, not the instruction before the divide, puts the sentinel in the
 * destination register: qemu 7.2 loses register writes made earlier in the
 * same translation block when its divide helper traps, a qemu bug this test
 * is not about.
 */
#include "rom.h"

#define UNTOUCHED 0x5Au

__asm(".syntax unified\n"
      ".thumb\n"
      ".section .text.divide_sites,\"ax\",%progbits\n"
      ".global unsigned_divide_into\n"
      ".type unsigned_divide_into, %function\n"
      ".thumb_func\n"
      "unsigned_divide_into:\n"
      ".global udiv_site\n"
      "udiv_site:\n"
      "    udiv r2, r0, r1\n"
      "    mov r0, r2\n"
      "    bx lr\n"
      ".global signed_divide_into\n"
      ".type signed_divide_into, %function\n"
      ".thumb_func\n"
      "signed_divide_into:\n"
      ".global sdiv_site\n"
      "sdiv_site:\n"
      "    sdiv r2, r0, r1\n"
      "    mov r0, r2\n"
      "    bx lr\n"
      ".text\n");

/* r2 = `untouched` on entry: the quotient, or `untouched` if the divide was skipped. */
uint32_t unsigned_divide_into(uint32_t dividend, uint32_t divisor, uint32_t untouched);
int32_t signed_divide_into(int32_t dividend, int32_t divisor, uint32_t untouched);

static uint32_t unsigned_divide(uint32_t dividend, uint32_t divisor)
{
    return unsigned_divide_into(dividend, divisor, UNTOUCHED);
}

static int32_t signed_divide(int32_t dividend, int32_t divisor)
{
    return signed_divide_into(dividend, divisor, UNTOUCHED);
}
extern const char udiv_site[], sdiv_site[];

static volatile uint32_t faults, fault_exception, fault_cfsr, fault_hfsr, fault_pc;

HANDLER_WITH_FRAME(UsageFault_Handler, fault_entry)
HANDLER_WITH_FRAME(HardFault_Handler, fault_entry)

void fault_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)exc_return;
    faults++;
    fault_exception = get_ipsr();
    fault_cfsr = SCB_CFSR;
    fault_hfsr = SCB_HFSR;
    fault_pc = frame->pc;
    SCB_CFSR = fault_cfsr;
    SCB_HFSR = fault_hfsr;
    skip_faulting_instruction(frame);
}

static void expect_trap(const char *what, uint32_t exception, uint32_t hfsr, const char *site)
{
    if (faults != 1 || fault_exception != exception)
        fail("%s: %u faults, last exception %u; expected one exception %u", what,
             (unsigned)faults, (unsigned)fault_exception, (unsigned)exception);
    if (fault_cfsr != CFSR_DIVBYZERO || fault_hfsr != hfsr)
        fail("%s: CFSR 0x%08x HFSR 0x%08x, expected 0x%08x 0x%08x", what, (unsigned)fault_cfsr,
             (unsigned)fault_hfsr, (unsigned)CFSR_DIVBYZERO, (unsigned)hfsr);
    if (fault_pc != (uintptr_t)site)
        fail("%s: stacked PC 0x%08x, expected 0x%08x", what, (unsigned)fault_pc,
             (unsigned)(uintptr_t)site);
    faults = 0;
}

int main(void)
{
    SCB_SHCSR |= SHCSR_USGFAULTENA;

    SCB_CCR &= ~CCR_DIV_0_TRP;
    check_eq(unsigned_divide(1234, 0), 0, "UDIV by zero without the trap");
    check_eq(signed_divide(-1234, 0), 0, "SDIV by zero without the trap");
    check_eq(faults, 0, "no fault with DIV_0_TRP=0");

    SCB_CCR |= CCR_DIV_0_TRP;
    check_eq(SCB_CCR & CCR_DIV_0_TRP, CCR_DIV_0_TRP, "CCR.DIV_0_TRP reads back");
    check_eq(unsigned_divide(1234, 0), UNTOUCHED, "UDIV by zero left its register");
    expect_trap("UDIV by zero", EXC_USAGEFAULT, 0, udiv_site);
    check_eq(signed_divide(-1234, 0), UNTOUCHED, "SDIV by zero left its register");
    expect_trap("SDIV by zero", EXC_USAGEFAULT, 0, sdiv_site);

    check_eq(unsigned_divide(100, 7), 14, "UDIV 100 / 7");
    check_eq(unsigned_divide(0xFFFFFFFFu, 2), 0x7FFFFFFFu, "UDIV is unsigned");
    check_eq(signed_divide(-100, 7), (uint32_t)-14, "SDIV truncates toward zero");
    check_eq(signed_divide(INT32_MIN, -1), (uint32_t)INT32_MIN, "SDIV 0x80000000 / -1");
    check_eq(faults, 0, "no fault for non-zero divisors");

    SCB_SHCSR &= ~SHCSR_USGFAULTENA;
    check_eq(unsigned_divide(1, 0), UNTOUCHED, "UDIV by zero left its register");
    expect_trap("UDIV by zero, UsageFault disabled", EXC_HARDFAULT, HFSR_FORCED, udiv_site);

    SCB_CCR &= ~CCR_DIV_0_TRP;
    pass();
}
