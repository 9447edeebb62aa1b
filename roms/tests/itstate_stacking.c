/*
 * itstate_stacking - ITSTATE is part of the stacked xPSR (ARMv7-M B1.5.6,
 * B1.5.8): an exception taken between two instructions of an IT block saves
 * IT[7:0] in the frame, the handler runs with ITSTATE clear, and the
 * exception return restores it, so the remaining slots execute or skip as
 * the mask and the restored flags say:
 *   SVC in the first slot of ITETE EQ: stacked IT is that of the second slot;
 *     the handler's first instructions are not conditional;
 *   a STIR write then ISB inside ITTET EQ: the IRQ is taken after the ISB,
 *     IT of the third slot is stacked, and a handler that clears Z in the
 *     stacked xPSR flips which of the remaining slots run;
 *   a load from unmapped memory inside ITT EQ: a precise BusFault whose
 *     stacked IT is the load's slot (the handler steps past it with ITAdvance);
 *   a condition-failed load from unmapped memory never faults;
 *   and with no exception at all, the slots after an ISB inside an IT block
 *   still follow the mask (Unicorn 2.0.1 drops ITSTATE there; cpu.c restores it).
 *
 * Design decision: each IT block is a global assembly routine that returns
 * bit masks of the slots that ran, so the test compares exact values; IT
 * values are given as IT[7:0] (firstcond:mask) as the manual writes them.
 */
#include "rom.h"

#define UNMAPPED_ADDRESS 0x60000000u /* FSMC bank 1: absent on both chips */
#define XPSR_Z (1u << 30)

/* IT[1:0] = xPSR[26:25], IT[7:2] = xPSR[15:10] (B1.4.2) */
static uint32_t stacked_it(uint32_t xpsr)
{
    return ((xpsr >> 25) & 3u) | (((xpsr >> 10) & 0x3Fu) << 2);
}

static uint32_t with_it(uint32_t xpsr, uint32_t it)
{
    xpsr &= ~((3u << 25) | (0x3Fu << 10));
    return xpsr | ((it & 3u) << 25) | (((it >> 2) & 0x3Fu) << 10);
}

/* ITAdvance() (A7.3.3) */
static uint32_t it_advance(uint32_t it)
{
    if ((it & 7u) == 0)
        return 0;
    return (it & 0xE0u) | ((it << 1) & 0x1Fu);
}

/*
 * Each routine returns r0 = bit 0: second slot ran, bit 1: third, bit 2: fourth
 * (the first slot is the instruction under test).
 */
__asm(".syntax unified\n"
      ".thumb\n"
      ".section .text.it_sites,\"ax\",%progbits\n"

      ".global svc_in_it\n"
      ".type svc_in_it, %function\n"
      ".thumb_func\n"
      "svc_in_it:\n"
      "    movs r0, #0\n"
      "    cmp r0, r0\n" /* Z = 1 */
      "    itete eq\n"
      ".global svc_in_it_site\n"
      "svc_in_it_site:\n"
      "    svceq #1\n"
      "    addne r0, #1\n"
      "    addeq r0, #2\n"
      "    addne r0, #4\n"
      "    bx lr\n"

      ".global stir_in_it\n" /* r0 = &STIR, r1 = IRQ number */
      ".type stir_in_it, %function\n"
      ".thumb_func\n"
      "stir_in_it:\n"
      "    movs r2, #0\n"
      "    cmp r2, r2\n" /* Z = 1 */
      "    ittet eq\n"
      "    streq r1, [r0]\n"
      "    isbeq\n"
      ".global stir_in_it_resume\n"
      "stir_in_it_resume:\n"
      "    addne r2, #2\n"
      "    addeq r2, #4\n"
      "    mov r0, r2\n"
      "    bx lr\n"

      ".global load_in_it\n" /* r0 = address */
      ".type load_in_it, %function\n"
      ".thumb_func\n"
      "load_in_it:\n"
      "    movs r2, #0\n"
      "    cmp r2, r2\n" /* Z = 1 */
      "    itte eq\n"
      ".global load_in_it_site\n"
      "load_in_it_site:\n"
      "    ldreq r1, [r0]\n"
      "    addeq r2, #1\n"
      "    addne r2, #2\n"
      "    mov r0, r2\n"
      "    bx lr\n"

      ".global failed_load_in_it\n" /* r0 = address */
      ".type failed_load_in_it, %function\n"
      ".thumb_func\n"
      "failed_load_in_it:\n"
      "    movs r2, #0\n"
      "    cmp r2, r2\n" /* Z = 1 */
      "    itee ne\n"
      "    ldrne r1, [r0]\n"
      "    addeq r2, #1\n"
      "    addeq r2, #2\n"
      "    mov r0, r2\n"
      "    bx lr\n"

      /* The SVC handler's first instructions are unconditional: 3 if ITSTATE was clear. */
      ".global SVC_Handler\n"
      ".type SVC_Handler, %function\n"
      ".thumb_func\n"
      "SVC_Handler:\n"
      "    mov r12, #0\n"
      "    add r12, r12, #1\n"
      "    add r12, r12, #1\n"
      "    add r12, r12, #1\n"
      "    mov r2, r12\n"
      "    mrs r0, msp\n"
      "    mov r1, lr\n"
      "    b svc_entry\n"
      ".text\n");

uint32_t svc_in_it(void);
uint32_t stir_in_it(volatile uint32_t *stir, uint32_t irq);
uint32_t load_in_it(uint32_t address);
uint32_t failed_load_in_it(uint32_t address);
extern const char svc_in_it_site[], stir_in_it_resume[], load_in_it_site[];

struct seen {
    uint32_t count, pc, xpsr, exc_return, handler_count;
};
static volatile struct seen svc_seen, irq_seen, bus_seen;
static volatile bool irq_clears_z;

void svc_entry(struct exception_frame *frame, uint32_t exc_return, uint32_t handler_count);
void svc_entry(struct exception_frame *frame, uint32_t exc_return, uint32_t handler_count)
{
    svc_seen.count++;
    svc_seen.pc = frame->pc;
    svc_seen.xpsr = frame->xpsr;
    svc_seen.exc_return = exc_return;
    svc_seen.handler_count = handler_count;
}

HANDLER_WITH_FRAME(TEST_IRQ_A_HANDLER, irq_entry)
void irq_entry(struct exception_frame *frame, uint32_t exc_return)
{
    irq_seen.count++;
    irq_seen.pc = frame->pc;
    irq_seen.xpsr = frame->xpsr;
    irq_seen.exc_return = exc_return;
    if (irq_clears_z)
        frame->xpsr &= ~XPSR_Z;
}

HANDLER_WITH_FRAME(BusFault_Handler, bus_entry)
void bus_entry(struct exception_frame *frame, uint32_t exc_return)
{
    bus_seen.count++;
    bus_seen.pc = frame->pc;
    bus_seen.xpsr = frame->xpsr;
    bus_seen.exc_return = exc_return;
    SCB_CFSR = SCB_CFSR;
    /* step past the faulting load: the next slot gets its own condition */
    skip_faulting_instruction(frame);
    frame->xpsr = with_it(frame->xpsr, it_advance(stacked_it(frame->xpsr)));
}

static void test_svc(void)
{
    uint32_t ran = svc_in_it();
    check_eq(svc_seen.count, 1, "SVC taken once");
    check_eq(svc_seen.pc, (uintptr_t)svc_in_it_site + 2, "stacked PC: the slot after the SVC");
    /* ITETE EQ = IT 0x0B at the SVC; ITAdvance gives 0x16 (NE) for the next slot */
    check_eq(stacked_it(svc_seen.xpsr), 0x16, "stacked IT after SVCEQ in ITETE EQ");
    check_eq(svc_seen.handler_count, 3, "the handler ran with ITSTATE clear");
    check_eq(ran, 2, "after the return: NE skipped, EQ ran, NE skipped");
}

static void test_stir(bool clear_z)
{
    irq_seen.count = 0;
    irq_clears_z = clear_z;
    uint32_t ran = stir_in_it(&NVIC_STIR, TEST_IRQ_A);
    check_eq(irq_seen.count, 1, "IRQ taken once");
    check_eq(irq_seen.pc, (uintptr_t)stir_in_it_resume, "stacked PC: the slot after the ISB");
    /* ITTET EQ = IT 0x05; two ITAdvances later 0x14 (NE, then EQ) */
    check_eq(stacked_it(irq_seen.xpsr), 0x14, "stacked IT after STIR and ISB in ITTET EQ");
    check_eq(irq_seen.exc_return, EXC_RETURN_THREAD_MSP, "IRQ EXC_RETURN");
    if (clear_z)
        check_eq(ran, 2, "Z cleared in the frame: NE ran, EQ skipped");
    else
        check_eq(ran, 4, "Z kept: NE skipped, EQ ran");
}

static void test_bus_fault(void)
{
    uint32_t ran = load_in_it(UNMAPPED_ADDRESS);
    check_eq(bus_seen.count, 1, "BusFault taken once");
    check_eq(bus_seen.pc, (uintptr_t)load_in_it_site, "stacked PC: the load");
    /* ITTE EQ = IT 0x06 at the load */
    check_eq(stacked_it(bus_seen.xpsr), 0x06, "stacked IT of the faulting load in ITTE EQ");
    check_eq(ran, 1, "after the fault: EQ ran, NE skipped");

    bus_seen.count = 0;
    check_eq(failed_load_in_it(UNMAPPED_ADDRESS), 3, "condition-failed slot skipped, others ran");
    check_eq(bus_seen.count, 0, "a condition-failed load from unmapped memory does not fault");
}

int main(void)
{
    SCB_SHCSR |= SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    /* no exception: a block that ends with the ISB must still leave the last two slots to the mask */
    check_eq(stir_in_it(&NVIC_STIR, TEST_IRQ_A), 4, "ISB inside ITTET EQ with the IRQ disabled");
    nvic_clear_pending(TEST_IRQ_A);
    nvic_enable(TEST_IRQ_A);
    test_svc();
    test_stir(false);
    test_stir(true);
    test_bus_fault();
    pass();
}
