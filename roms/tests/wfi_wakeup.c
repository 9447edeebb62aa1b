/*
 * wfi_wakeup - WFI sleeps until an exception is pending and then:
 *   with PRIMASK=0, the exception is taken before the instruction after WFI
 *   (a SysTick that fires well after the WFI);
 *   with PRIMASK=1, WFI still wakes when the SysTick becomes pending, but the
 *   handler runs only once PRIMASK is cleared (ICSR.PENDSTSET meanwhile);
 *   with PRIMASK=1 and an IRQ already pending, WFI returns at once.
 * A WFI that did not wake would hang the ROM: the run's timeout fails it.
 *
 * Design decision: the SysTick period is long (2^22 cycles) compared with
 * the few instructions before the WFI, so the exception cannot fire before
 * the WFI is reached even on qemu, whose SysTick follows host time.
 */
#include "rom.h"

#define PRIORITY_A 0x80u

/* 2^22 cycles: 58 ms at 72 MHz, about 175 ms on qemu's 24 MHz SysTick clock */
#define WAKE_RELOAD 0x3FFFFFu

void SysTick_Handler(void)
{
    SYST_CSR = 0; /* one shot */
    log_event('T');
}

void TEST_IRQ_A_HANDLER(void) { log_event('A'); }

static void start_one_shot_systick(void)
{
    SYST_CSR = 0;
    SYST_RVR = WAKE_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

int main(void)
{
    nvic_set_priority(TEST_IRQ_A, PRIORITY_A);
    nvic_enable(TEST_IRQ_A);

    /* 1. PRIMASK=0: woken and the handler has run when WFI completes */
    start_one_shot_systick();
    expect_events("", "SysTick fired before WFI (period too short?)");
    wfi();
    log_event('w');
    expect_events("Tw", "SysTick handler runs before the instruction after WFI");

    /* 2. PRIMASK=1: woken, but not taken until PRIMASK is cleared */
    cpsid_i();
    start_one_shot_systick();
    wfi();
    log_event('w');
    check(SCB_ICSR & ICSR_PENDSTSET, "SysTick pending after WFI returned under PRIMASK");
    expect_events("w", "WFI returned without taking the masked SysTick");
    cpsie_i();
    barrier_take_pending();
    expect_events("T", "SysTick taken once PRIMASK is cleared");

    /* 3. PRIMASK=1 and already pending: WFI does not sleep */
    cpsid_i();
    nvic_set_pending(TEST_IRQ_A);
    wfi();
    log_event('w');
    cpsie_i();
    barrier_take_pending();
    expect_events("wA", "WFI with an IRQ already pending returns at once");
    pass();
}
