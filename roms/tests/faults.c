/*
 * faults - the configurable faults and their escalation, each recovered by a
 * handler that fixes the stacked frame and returns:
 *   BusFault: a load from unmapped 0x60000000 sets PRECISERR + BFARVALID, BFAR
 *     holds the address, the stacked PC is the load, and its destination
 *     register is left unwritten;
 *   UsageFault UNDEFINSTR from UDF; NOCP from a coprocessor (FPU) instruction
 *     on this FPU-less core; UNALIGNED from an unaligned LDR once
 *     CCR.UNALIGN_TRP=1 (the same LDR just works with the trap off);
 *   UsageFault INVSTATE from BX to an even address: the stacked PC is the
 *     target and the stacked xPSR has T clear; setting T lets it resume;
 *   HardFault with HFSR.FORCED when UsageFault or BusFault is disabled, the
 *     CFSR still telling the original cause;
 *   CFSR and HFSR bits are write-one-to-clear.
 *
 * Design decision: every faulting instruction sits at a global label in the
 * assembly below, so the stacked PC is compared with an exact address.
 */
#include "rom.h"

#define UNMAPPED_ADDRESS 0x60000000u /* FSMC bank 1: absent on both chips */
#define UDF_IMMEDIATE 0x17 /* any value: the immediate only identifies the site */
#define UNTOUCHED 0x5A /* what a skipped instruction leaves in its register */

/* Each site returns r0 = its destination register, UNTOUCHED if skipped. */
__asm(".syntax unified\n"
      ".thumb\n"
      ".section .text.fault_sites,\"ax\",%progbits\n"

      ".global load_word\n"
      ".type load_word, %function\n"
      ".thumb_func\n"
      "load_word:\n" /* r0 = address */
      "    movs r1, #" STRINGIFY(UNTOUCHED) "\n"
      ".global load_word_site\n"
      "load_word_site:\n"
      "    ldr r1, [r0]\n"
      "    mov r0, r1\n"
      "    bx lr\n"

      ".global load_into_base\n"
      ".type load_into_base, %function\n"
      ".thumb_func\n"
      "load_into_base:\n" /* r0 = address, also the destination */
      ".global load_into_base_site\n"
      "load_into_base_site:\n"
      "    ldr r0, [r0]\n"
      "    bx lr\n"

      ".global execute_udf\n"
      ".type execute_udf, %function\n"
      ".thumb_func\n"
      "execute_udf:\n"
      "    movs r0, #" STRINGIFY(UNTOUCHED) "\n"
      ".global udf_site\n"
      "udf_site:\n"
      "    udf #" STRINGIFY(UDF_IMMEDIATE) "\n"
      "    bx lr\n"

      ".global execute_vmrs\n"
      ".type execute_vmrs, %function\n"
      ".thumb_func\n"
      "execute_vmrs:\n"
      "    movs r0, #" STRINGIFY(UNTOUCHED) "\n"
      ".global vmrs_site\n"
      "vmrs_site:\n"
      "    .inst.w 0xEEF10A10\n" /* VMRS r0, FPSCR (coprocessor 10) */
      "    bx lr\n"

      ".global branch_to_even\n"
      ".type branch_to_even, %function\n"
      ".thumb_func\n"
      "branch_to_even:\n"
      "    movs r0, #" STRINGIFY(UNTOUCHED) "\n"
      "    ldr r1, =invstate_target\n"
      "    bic r1, r1, #1\n"
      "    bx r1\n"
      "    movs r0, #0\n" /* not reached: BX does not fall through */
      "    bx lr\n"
      ".global invstate_target\n"
      "invstate_target:\n"
      "    adds r0, r0, #1\n"
      "    bx lr\n"
      ".ltorg\n"
      ".text\n");

uint32_t load_word(uint32_t address);
uint32_t load_into_base(uint32_t address);
uint32_t execute_udf(void);
uint32_t execute_vmrs(void);
uint32_t branch_to_even(void);
extern const char load_word_site[], load_into_base_site[], udf_site[], vmrs_site[], invstate_target[];

enum fixup {
    FIXUP_SKIP_INSTRUCTION,
    FIXUP_SET_THUMB_BIT,
};

struct fault_record {
    uint32_t count;
    uint32_t exception;
    uint32_t exc_return;
    uint32_t cfsr, hfsr, bfar;
    uint32_t cfsr_after_clear, hfsr_after_clear;
    uint32_t stacked_pc, stacked_xpsr;
};

static volatile struct fault_record seen;
static volatile enum fixup fixup;

HANDLER_WITH_FRAME(BusFault_Handler, fault_entry)
HANDLER_WITH_FRAME(UsageFault_Handler, fault_entry)
HANDLER_WITH_FRAME(HardFault_Handler, fault_entry)

void fault_entry(struct exception_frame *frame, uint32_t exc_return)
{
    seen.count++;
    seen.exception = get_ipsr();
    seen.exc_return = exc_return;
    seen.cfsr = SCB_CFSR;
    seen.hfsr = SCB_HFSR;
    seen.bfar = SCB_BFAR;
    seen.stacked_pc = frame->pc;
    seen.stacked_xpsr = frame->xpsr;

    SCB_CFSR = seen.cfsr;
    SCB_HFSR = seen.hfsr;
    seen.cfsr_after_clear = SCB_CFSR;
    seen.hfsr_after_clear = SCB_HFSR;

    if (fixup == FIXUP_SET_THUMB_BIT)
        frame->xpsr |= XPSR_T;
    else
        skip_faulting_instruction(frame);
}

static void expect_fault(const char *what, uint32_t exception, uint32_t cfsr, uint32_t hfsr,
                         const char *site)
{
    if (seen.count != 1)
        fail("%s: %u faults taken, expected 1", what, (unsigned)seen.count);
    if (seen.exception != exception)
        fail("%s: exception %u taken, expected %u", what, (unsigned)seen.exception,
             (unsigned)exception);
    if (seen.cfsr != cfsr || seen.hfsr != hfsr)
        fail("%s: CFSR 0x%08x HFSR 0x%08x, expected CFSR 0x%08x HFSR 0x%08x", what,
             (unsigned)seen.cfsr, (unsigned)seen.hfsr, (unsigned)cfsr, (unsigned)hfsr);
    if (seen.stacked_pc != (uintptr_t)site)
        fail("%s: stacked PC 0x%08x, expected 0x%08x", what, (unsigned)seen.stacked_pc,
             (unsigned)(uintptr_t)site);
    if (seen.exc_return != EXC_RETURN_THREAD_MSP)
        fail("%s: EXC_RETURN 0x%08x", what, (unsigned)seen.exc_return);
    if (seen.cfsr_after_clear != 0 || seen.hfsr_after_clear != 0)
        fail("%s: after writing ones back CFSR 0x%08x HFSR 0x%08x, expected 0", what,
             (unsigned)seen.cfsr_after_clear, (unsigned)seen.hfsr_after_clear);
    seen.count = 0;
}

static void test_busfault(void)
{
    uint32_t value = load_word(UNMAPPED_ADDRESS);
    expect_fault("load from unmapped memory", EXC_BUSFAULT, CFSR_PRECISERR | CFSR_BFARVALID, 0,
                 load_word_site);
    check_eq(seen.bfar, UNMAPPED_ADDRESS, "BFAR holds the faulting address");
    check_eq(value, UNTOUCHED, "the faulting load did not write its register");

    value = load_into_base(UNMAPPED_ADDRESS);
    expect_fault("load into its base register", EXC_BUSFAULT, CFSR_PRECISERR | CFSR_BFARVALID, 0,
                 load_into_base_site);
    check_eq(value, UNMAPPED_ADDRESS, "LDR r0, [r0] that faults leaves r0 unchanged");
}

static void test_usagefaults(void)
{
    check_eq(execute_udf(), UNTOUCHED, "execution resumed after UDF");
    expect_fault("UDF", EXC_USAGEFAULT, CFSR_UNDEFINSTR, 0, udf_site);

    check_eq(execute_vmrs(), UNTOUCHED, "execution resumed after VMRS");
    expect_fault("VMRS without an FPU", EXC_USAGEFAULT, CFSR_NOCP, 0, vmrs_site);

    static uint32_t words[2] = {0x44332211u, 0x88776655u};
    uint32_t unaligned = (uintptr_t)words + 1;
    check_eq(load_word(unaligned), 0x55443322u, "unaligned LDR without the trap");
    check_eq(seen.count, 0, "no fault for an unaligned LDR with UNALIGN_TRP=0");
    SCB_CCR |= CCR_UNALIGN_TRP;
    check_eq(load_word(unaligned), UNTOUCHED, "execution resumed after the unaligned LDR");
    SCB_CCR &= ~CCR_UNALIGN_TRP;
    expect_fault("unaligned LDR with UNALIGN_TRP=1", EXC_USAGEFAULT, CFSR_UNALIGNED, 0,
                 load_word_site);

    fixup = FIXUP_SET_THUMB_BIT;
    check_eq(branch_to_even(), UNTOUCHED + 1, "execution resumed at the BX target");
    fixup = FIXUP_SKIP_INSTRUCTION;
    expect_fault("BX to an even address", EXC_USAGEFAULT, CFSR_INVSTATE, 0, invstate_target);
    check_eq(seen.stacked_xpsr & XPSR_T, 0, "stacked xPSR.T is clear after BX to even");
}

static void test_escalation(void)
{
    SCB_SHCSR &= ~SHCSR_USGFAULTENA;
    check_eq(execute_udf(), UNTOUCHED, "execution resumed after UDF");
    expect_fault("UDF with UsageFault disabled", EXC_HARDFAULT, CFSR_UNDEFINSTR, HFSR_FORCED,
                 udf_site);
    SCB_SHCSR |= SHCSR_USGFAULTENA;

    SCB_SHCSR &= ~SHCSR_BUSFAULTENA;
    check_eq(load_word(UNMAPPED_ADDRESS), UNTOUCHED, "execution resumed after the load");
    expect_fault("unmapped load with BusFault disabled", EXC_HARDFAULT,
                 CFSR_PRECISERR | CFSR_BFARVALID, HFSR_FORCED, load_word_site);
    check_eq(seen.bfar, UNMAPPED_ADDRESS, "BFAR after the escalated BusFault");
    SCB_SHCSR |= SHCSR_BUSFAULTENA;
}

int main(void)
{
    SCB_SHCSR |= SHCSR_USGFAULTENA | SHCSR_BUSFAULTENA | SHCSR_MEMFAULTENA;
    check_eq(SCB_SHCSR & (SHCSR_USGFAULTENA | SHCSR_BUSFAULTENA | SHCSR_MEMFAULTENA),
             SHCSR_USGFAULTENA | SHCSR_BUSFAULTENA | SHCSR_MEMFAULTENA,
             "SHCSR fault enables read back");
    check_eq(SCB_CFSR, 0, "CFSR clear at start");

    test_busfault();
    test_usagefaults();
    test_escalation();
    pass();
}
