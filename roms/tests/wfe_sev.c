/*
 * wfe_sev - WFE and the event register (ARMv7-M B1.5.18):
 *   WFE with the event register clear sleeps until an event: here a SysTick
 *     that becomes pending, taken before the instruction after WFE;
 *   SEV sets the register: the next WFE consumes it and does not sleep;
 *   an exception return sets it: a WFE right after a handler ran returns;
 *   with PRIMASK set a pending interrupt still wakes WFE, without being taken;
 *   with SCR.SEVONPEND an interrupt that becomes pending while BASEPRI masks
 *     it wakes WFE too (an event, not a preemption).
 * A WFE that never wakes would hang: the run's timeout fails the ROM.
 *
 * Design decision: every wait is armed with a one-shot SysTick of 2^22
 * cycles, far longer than the few instructions before the WFE. On a platform
 * where WFE does not sleep (qemu treats it as a hint), the first check sees
 * no SysTick before WFE returns and the rest is skipped.
 */
#include "rom.h"

#define WAKE_RELOAD 0x3FFFFFu
#define PRIORITY_SYSTICK 0x80u
#define BASEPRI_MASKS_SYSTICK 0x40u

void SysTick_Handler(void)
{
    SYST_CSR = 0; /* one shot */
    log_event('T');
}

static inline void wfe(void) { __asm volatile("wfe" ::: "memory"); }
static inline void sev(void) { __asm volatile("sev" ::: "memory"); }

/* SEV then WFE: whatever events happened before, the register is clear after. */
static void clear_event_register(void)
{
    sev();
    wfe();
}

static void start_one_shot_systick(void)
{
    SYST_CSR = 0;
    SYST_RVR = WAKE_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

int main(void)
{
    scb_set_priority(EXC_SYSTICK, PRIORITY_SYSTICK);

    /* 1. the register clear: WFE sleeps until the SysTick */
    clear_event_register();
    start_one_shot_systick();
    wfe();
    log_event('w');
    if (logged_event_count() == 1) {
        expect_events("w", "WFE returned at once");
        skip("WFE does not sleep on this platform (a hint only)");
        SYST_CSR = 0;
        pass();
    }
    expect_events("Tw", "WFE slept until the SysTick, which was taken before the next instruction");

    /* 2. an exception return set the register: this WFE does not sleep */
    wfe();
    log_event('r');
    expect_events("r", "WFE after an exception return returns at once");

    /* 3. SEV: the next WFE consumes the event; the one after sleeps */
    start_one_shot_systick();
    sev();
    wfe();
    log_event('s');
    expect_events("s", "WFE after SEV returns at once");
    wfe();
    log_event('w');
    expect_events("Tw", "the second WFE slept until the SysTick");

    /* 4. PRIMASK set: a pending SysTick wakes WFE but is not taken */
    cpsid_i();
    clear_event_register();
    start_one_shot_systick();
    wfe();
    log_event('w');
    check(SCB_ICSR & ICSR_PENDSTSET, "SysTick pending after WFE returned under PRIMASK");
    expect_events("w", "WFE woke without taking the masked SysTick");
    cpsie_i();
    barrier_take_pending();
    expect_events("T", "SysTick taken once PRIMASK is cleared");

    /* 5. SEVONPEND: a SysTick that BASEPRI keeps from preempting still wakes WFE */
    set_basepri(BASEPRI_MASKS_SYSTICK);
    SCB_SCR |= SCR_SEVONPEND;
    clear_event_register();
    start_one_shot_systick();
    wfe();
    log_event('w');
    check(SCB_ICSR & ICSR_PENDSTSET, "SysTick pending after the SEVONPEND wake-up");
    expect_events("w", "WFE woke on SEVONPEND without taking the SysTick");
    SCB_SCR &= ~SCR_SEVONPEND;
    set_basepri(0);
    barrier_take_pending();
    expect_events("T", "SysTick taken once BASEPRI is cleared");
    pass();
}
