/*
 * cyccnt_delay - a busy-wait on DWT CYCCNT ends when its count is reached:
 *   a delay loop that only reads CYCCNT and stores nothing (one translated
 *   block, the common `while (DWT->CYCCNT - start < n)` of firmware drivers),
 *   started right after a SysTick interrupt, i.e. with the next event a whole
 *   SysTick period away, lasts its count and not until that event. Checked
 *   for several delays shorter than the period, each right after a tick.
 *
 * Why this ROM exists: an emulator that skips idle loops to the next event
 * must see that this loop reads a time source. spark-emu once cleared that
 * note in its single-block idle check before its whole-loop check read it,
 * and skipped the loop to the next SysTick (up to 10 ms late).
 *
 * Platform difference (not a bug): qemu's DWT has no cycle counter; there the
 * delays are not measured ("SKIP: ...") after probe.c finds that CYCCNT does
 * not advance.
 */
#include "rom.h"

#define TICK_RELOAD 999999u   /* a 1 000 000-cycle SysTick period */
#define DELAY_TOLERANCE 64u   /* cycles: the loop's last iteration and the final read */
#define WAIT_LIMIT 100000000u

static volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks = ticks + 1;
}

static void wait_for_tick(void)
{
    uint32_t seen = ticks;
    for (uint32_t i = 0; i < WAIT_LIMIT && ticks == seen; i++) {
    }
    check(ticks != seen, "a SysTick interrupt arrives");
}

/* One block: a CYCCNT load, a subtract, a compare and a branch back; no store. */
static uint32_t __attribute__((noinline)) delay_cycles(uint32_t n)
{
    uint32_t start = DWT_CYCCNT;
    while (DWT_CYCCNT - start < n) {
    }
    return DWT_CYCCNT - start;
}

int main(void)
{
    if (!cyccnt_start()) {
        skip("DWT CYCCNT does not count here; delays not measured");
        pass();
    }
    SYST_RVR = TICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    static const uint32_t delays[] = {2000u, 50000u, 300000u, 720000u, 36000u, 36000u};
    for (unsigned i = 0; i < sizeof delays / sizeof *delays; i++) {
        wait_for_tick();
        uint32_t took = delay_cycles(delays[i]);
        if (took < delays[i] || took > delays[i] + DELAY_TOLERANCE)
            fail("a %u-cycle CYCCNT delay right after a tick took %u cycles", (unsigned)delays[i], (unsigned)took);
    }
    SYST_CSR = 0;
    pass();
}
