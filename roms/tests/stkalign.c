/*
 * stkalign - CCR.STKALIGN and the 8-byte alignment of the exception frame:
 *   STKALIGN=1, SP%8==4 at entry: a pad word is inserted, the frame starts at
 *     SP-36 (8-aligned), stacked xPSR bit 9 is 1, and the exception return
 *     removes the pad: SP is exactly what it was;
 *   STKALIGN=1, SP%8==0: frame at SP-32, stacked xPSR bit 9 is 0;
 *   STKALIGN=0, SP%8==4: no pad, frame at SP-32, stacked xPSR bit 9 is 0.
 * Every case also checks the stacked r0-r3, r12 and return address.
 *
 * Design decision: the thread side is hand-written assembly so the SP at the
 * SVC is exactly known; the compiler keeps SP 8-aligned and would never give
 * the unaligned case.
 */
#include "rom.h"

#define SVC_IMMEDIATE 0x51
#define SVC_OPCODE (0xDF00u | SVC_IMMEDIATE)
#define STACKED_R0 0xA0A0A0A0u
#define STACKED_R1 0xB1B1B1B1u
#define STACKED_R2 0xC2C2C2C2u
#define STACKED_R3 0xD3D3D3D3u
#define STACKED_R12 0xE1E1E1E1u
#define FRAME_SIZE 32u
#define PAD_SIZE 4u

/* Written by the assembly below, hence external. */
volatile uint32_t sp_at_svc;
static volatile struct exception_frame stacked;
static volatile uint32_t frame_address;

/* Executes SVC with SP = (SP & ~7) - offset; returns the SP right after it. */
__attribute__((naked, noinline)) static uint32_t
svc_with_sp_offset(__attribute__((unused)) uint32_t offset)
{
    __asm volatile("push {r4, r5, r6, lr}\n\t"
                   "mov r4, sp\n\t"
                   "bic r5, r4, #7\n\t"
                   "sub r5, r5, r0\n\t"
                   "mov sp, r5\n\t"
                   "ldr r6, =sp_at_svc\n\t"
                   "str r5, [r6]\n\t"
                   "ldr r0, =0xA0A0A0A0\n\t"
                   "ldr r1, =0xB1B1B1B1\n\t"
                   "ldr r2, =0xC2C2C2C2\n\t"
                   "ldr r3, =0xD3D3D3D3\n\t"
                   "ldr r12, =0xE1E1E1E1\n\t"
                   "svc %0\n\t"
                   "mov r0, sp\n\t"
                   "mov sp, r4\n\t"
                   "pop {r4, r5, r6, pc}\n\t"
                   ".ltorg\n\t" ::"i"(SVC_IMMEDIATE));
}

HANDLER_WITH_FRAME(SVC_Handler, svc_entry)
void svc_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)exc_return;
    frame_address = (uintptr_t)frame;
    stacked = *frame;
}

static void run_case(bool stkalign, uint32_t offset, uint32_t expected_pad, const char *name)
{
    if (stkalign)
        SCB_CCR |= CCR_STKALIGN;
    else
        SCB_CCR &= ~CCR_STKALIGN;
    dsb();
    check_eq(SCB_CCR & CCR_STKALIGN, stkalign ? CCR_STKALIGN : 0, "CCR.STKALIGN reads back");

    uint32_t sp_after = svc_with_sp_offset(offset);
    uint32_t sp = sp_at_svc;

    if (sp % 8 != offset)
        fail("%s: test set-up gave SP 0x%08x", name, (unsigned)sp);
    if (frame_address != sp - FRAME_SIZE - expected_pad)
        fail("%s: frame at 0x%08x for SP 0x%08x, expected 0x%08x", name, (unsigned)frame_address,
             (unsigned)sp, (unsigned)(sp - FRAME_SIZE - expected_pad));
    uint32_t expected_bit9 = expected_pad ? XPSR_STACK_ALIGN : 0;
    if ((stacked.xpsr & XPSR_STACK_ALIGN) != expected_bit9)
        fail("%s: stacked xPSR 0x%08x, bit 9 expected %u", name, (unsigned)stacked.xpsr,
             expected_pad ? 1u : 0u);
    if (stacked.r0 != STACKED_R0 || stacked.r1 != STACKED_R1 || stacked.r2 != STACKED_R2 ||
        stacked.r3 != STACKED_R3 || stacked.r12 != STACKED_R12)
        fail("%s: stacked r0-r3,r12 = %08x %08x %08x %08x %08x", name, (unsigned)stacked.r0,
             (unsigned)stacked.r1, (unsigned)stacked.r2, (unsigned)stacked.r3,
             (unsigned)stacked.r12);
    if (*(const volatile uint16_t *)(uintptr_t)(stacked.pc - 2) != SVC_OPCODE)
        fail("%s: stacked PC 0x%08x does not follow the SVC", name, (unsigned)stacked.pc);
    if (!(stacked.xpsr & XPSR_T))
        fail("%s: stacked xPSR 0x%08x has T clear", name, (unsigned)stacked.xpsr);
    if (sp_after != sp)
        fail("%s: SP after return 0x%08x, before 0x%08x", name, (unsigned)sp_after, (unsigned)sp);
}

int main(void)
{
    run_case(true, 4, PAD_SIZE, "STKALIGN=1, SP%8==4");
    run_case(true, 0, 0, "STKALIGN=1, SP%8==0");
    run_case(false, 4, 0, "STKALIGN=0, SP%8==4");
    run_case(false, 0, 0, "STKALIGN=0, SP%8==0");
    SCB_CCR |= CCR_STKALIGN;
    pass();
}
