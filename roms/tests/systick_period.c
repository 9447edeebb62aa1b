/*
 * systick_period - SysTick on the processor clock (CSR.CLKSOURCE=1):
 *   COUNTFLAG is 0 until the counter goes from 1 to 0 (a reload from a
 *   cleared counter does not set it), is 1 after a wrap, and is cleared both
 *   by reading CSR and by any write to CVR; CVR never exceeds RVR;
 *   with TICKINT=1 the SysTick exception is taken (IPSR 15, SYSTICKACT) every
 *   RVR+1 processor cycles, measured with DWT CYCCNT for two reload values.
 *
 * Platform difference (not a bug): qemu's DWT has no cycle counter, so the
 * period measurement is skipped there ("SKIP: ...") after the probe in
 * probe.c finds that CYCCNT does not advance; the interrupt must still fire.
 *
 * Design decision: the COUNTFLAG steps use a long period (about 4 M cycles),
 * so that on qemu, where SysTick follows the host's clock, a host hiccup
 * between two adjacent reads cannot fake a wrap.
 */
#include "rom.h"

#define COUNTFLAG_RELOAD 0x3FFFFFu
#define POLL_LIMIT 50000000u /* far more polls than any wrap needs */
#define PERIOD_RELOAD_LONG 9999u  /* 10000-cycle period */
#define PERIOD_RELOAD_SHORT 2999u /* 3000-cycle period: the period follows RVR */
#define PERIOD_SAMPLES 12u
#define PERIOD_TOLERANCE 16u       /* cycles, per period: entry jitter */
#define PERIOD_TOTAL_TOLERANCE 16u /* cycles, over all periods: jitter of the two ends */

static volatile uint32_t tick_count, samples_wanted;
static volatile uint32_t tick_cycles[PERIOD_SAMPLES];
static volatile uint32_t ipsr_in_handler, shcsr_in_handler;

void SysTick_Handler(void)
{
    uint32_t now = DWT_CYCCNT; /* first, so the entry-to-read time is constant */
    uint32_t n = tick_count;
    if (n < PERIOD_SAMPLES)
        tick_cycles[n] = now;
    ipsr_in_handler = get_ipsr();
    shcsr_in_handler = SCB_SHCSR;
    tick_count = n + 1;
    if (n + 1 >= samples_wanted)
        SYST_CSR = 0;
}

/* Polls CVR until it jumps up (a reload); checks every value against RVR. */
static void wait_for_wrap(const char *what)
{
    uint32_t previous = SYST_CVR;
    for (uint32_t polls = 0; polls < POLL_LIMIT; polls++) {
        uint32_t value = SYST_CVR;
        if (value > COUNTFLAG_RELOAD)
            fail("%s: SYST_CVR 0x%08x exceeds SYST_RVR", what, (unsigned)value);
        if (value > previous)
            return;
        previous = value;
    }
    fail("%s: SysTick never wrapped", what);
}

static void test_countflag(void)
{
    SYST_CSR = 0;
    SYST_RVR = COUNTFLAG_RELOAD;
    SYST_CVR = 0;
    check_eq(SYST_RVR, COUNTFLAG_RELOAD, "SYST_RVR reads back");
    check_eq(SYST_CVR, 0, "a write to SYST_CVR clears it");
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    check_eq(SYST_CSR & ~SYST_CSR_COUNTFLAG, SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE,
             "SYST_CSR reads back");

    /* the first tick reloads the cleared counter: no 1 -> 0 transition */
    uint32_t polls = 0;
    while (SYST_CVR == 0)
        if (++polls == POLL_LIMIT)
            fail("SysTick never reloaded after being enabled");
    check_eq(SYST_CSR & SYST_CSR_COUNTFLAG, 0, "COUNTFLAG after the reload from 0");

    wait_for_wrap("first wrap");
    check_eq(SYST_CSR & SYST_CSR_COUNTFLAG, SYST_CSR_COUNTFLAG, "COUNTFLAG after a wrap");
    check_eq(SYST_CSR & SYST_CSR_COUNTFLAG, 0, "reading SYST_CSR cleared COUNTFLAG");

    wait_for_wrap("second wrap");
    SYST_CVR = 0x1234; /* any value: clears the counter and COUNTFLAG */
    check_eq(SYST_CSR & SYST_CSR_COUNTFLAG, 0, "a write to SYST_CVR cleared COUNTFLAG");
    check(SYST_CVR <= COUNTFLAG_RELOAD, "SYST_CVR within SYST_RVR after the write");
    SYST_CSR = 0;
}

/* Runs SysTick with TICKINT until `samples` exceptions were taken. */
static void run_ticks(uint32_t reload, uint32_t samples)
{
    tick_count = 0;
    samples_wanted = samples;
    SYST_RVR = reload;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    for (uint32_t polls = 0; tick_count < samples; polls++)
        if (polls == POLL_LIMIT)
            fail("only %u SysTick exceptions with RVR %u", (unsigned)tick_count,
                 (unsigned)reload);
    check_eq(ipsr_in_handler, EXC_SYSTICK, "IPSR in the SysTick handler");
    check(shcsr_in_handler & SHCSR_SYSTICKACT, "SHCSR.SYSTICKACT in the SysTick handler");
}

static void measure_period(uint32_t reload)
{
    run_ticks(reload, PERIOD_SAMPLES);
    uint32_t period = reload + 1;
    for (unsigned i = 1; i < PERIOD_SAMPLES; i++) {
        uint32_t delta = tick_cycles[i] - tick_cycles[i - 1];
        if (delta + PERIOD_TOLERANCE < period || delta > period + PERIOD_TOLERANCE)
            fail("RVR %u: SysTick period %u was %u cycles, expected %u +- %u", (unsigned)reload,
                 i, (unsigned)delta, (unsigned)period, PERIOD_TOLERANCE);
    }
    uint32_t total = tick_cycles[PERIOD_SAMPLES - 1] - tick_cycles[0];
    uint32_t expected = period * (PERIOD_SAMPLES - 1);
    if (total + PERIOD_TOTAL_TOLERANCE < expected || total > expected + PERIOD_TOTAL_TOLERANCE)
        fail("RVR %u: %u periods took %u cycles, expected %u +- %u", (unsigned)reload,
             PERIOD_SAMPLES - 1, (unsigned)total, (unsigned)expected, PERIOD_TOTAL_TOLERANCE);
    rom_printf("RVR %u: %u periods of %u cycles\n", (unsigned)reload, PERIOD_SAMPLES - 1,
               (unsigned)(total / (PERIOD_SAMPLES - 1)));
}

int main(void)
{
    test_countflag();

    if (cyccnt_start()) {
        measure_period(PERIOD_RELOAD_LONG);
        measure_period(PERIOD_RELOAD_SHORT);
    } else {
        skip("DWT CYCCNT does not count here; SysTick period not measured, only that it fires");
        run_ticks(PERIOD_RELOAD_LONG, PERIOD_SAMPLES);
    }
    pass();
}
