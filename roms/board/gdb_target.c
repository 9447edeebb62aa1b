/*
 * gdb_target.c - a program for the debugger test (tests/integration/gdb_target.py):
 * it goes to unprivileged Thread mode on the process stack and executes BKPT #1
 * there. A debugger (--gdb) halts on it, reads MSP, PSP and CONTROL (which
 * Unicorn hides from an unprivileged context), sets r0 and moves the PC past
 * the BKPT; the thread stores r0, raises its privilege with SVC and returns to
 * main on the main stack, which passes only if the debugger's r0 arrived.
 * Without a debugger the BKPT is a HardFault: the run fails. Then a delay loop
 * on DWT CYCCNT, which the emulator proves idle and skips through: the
 * debugger's breakpoint on the instruction right after it (gdb_after_delay,
 * the first block off the loop's path) must still stop the core there.
 *
 * Design decision: the unprivileged part is one naked function, so that no
 * compiler frame lives across the stack switch, and the value the debugger
 * gives goes through a register, the one thing only a debugger can change at
 * that instant.
 */
#include "rom.h"

#define PROCESS_STACK_WORDS 64
#define FROM_DEBUGGER 0x600DF00Du
#define DELAY_CYCLES 4000000u /* 0.5 s at the reset clock (HSI, 8 MHz) */

static uint32_t process_stack[PROCESS_STACK_WORDS] __attribute__((aligned(8)));
volatile uint32_t gdb_r0_seen; /* what r0 held after the BKPT */
volatile uint32_t gdb_svc_calls;

/* Thread mode on PSP = psp_top, unprivileged; BKPT #1; SVC back to privilege; MSP again. */
__attribute__((naked, noinline)) static void bkpt_unprivileged(__attribute__((unused)) uint32_t psp_top)
{
    __asm volatile("push {r4, lr}\n\t"
                   "msr psp, r0\n\t"
                   "movs r2, #3\n\t" /* CONTROL.SPSEL | CONTROL.nPRIV */
                   "msr control, r2\n\t"
                   "isb\n\t"
                   "movs r0, #0\n\t"
                   ".global gdb_bkpt\n"
                   "gdb_bkpt:\n\t"
                   "bkpt #1\n\t"
                   "ldr r1, =gdb_r0_seen\n\t"
                   "str r0, [r1]\n\t"
                   "svc #0\n\t"      /* privileged again (the handler clears nPRIV) */
                   "movs r2, #0\n\t" /* back to MSP */
                   "msr control, r2\n\t"
                   "isb\n\t"
                   "pop {r4, pc}\n\t"
                   ".ltorg\n\t");
}

volatile uint32_t gdb_delay_start;

/*
 * Busy-wait on CYCCNT; gdb_after_delay is the instruction right after the
 * loop. The loop stores (the same value each pass), so it is proven idle as a
 * whole loop that reads the time, whose end the emulator finds with
 * speculative passes at later instants, not as a single-block busy-wait.
 */
__attribute__((noinline)) static void delay_cycles(uint32_t cycles)
{
    uint32_t start = DWT_CYCCNT;
    __asm volatile("1:\n\t"
                   "ldr r2, [%0]\n\t"
                   "str %1, [%3]\n\t"
                   "subs r2, r2, %1\n\t"
                   "cmp r2, %2\n\t"
                   "blo 1b\n\t"
                   ".global gdb_after_delay\n"
                   "gdb_after_delay:\n\t"
                   "nop\n\t"
                   :
                   : "r"(&DWT_CYCCNT), "r"(start), "r"(cycles), "r"(&gdb_delay_start)
                   : "r2", "cc", "memory");
}

void SVC_Handler(void);
void SVC_Handler(void)
{
    gdb_svc_calls++;
    set_control(get_control() & ~CONTROL_NPRIV);
}

int main(void)
{
    bkpt_unprivileged((uint32_t)(uintptr_t)&process_stack[PROCESS_STACK_WORDS]);
    check_eq(gdb_svc_calls, 1, "SVC calls from the unprivileged thread");
    check_eq(gdb_r0_seen, FROM_DEBUGGER, "r0 after the BKPT (the debugger sets it)");
    check_eq(get_control(), 0, "CONTROL back in main");
    DEMCR |= DEMCR_TRCENA;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    delay_cycles(DELAY_CYCLES);
    pass();
}
