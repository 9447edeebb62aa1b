/*
 * bench_idle - an idle-dominated benchmark ROM: SysTick at 1 ms, and the
 * thread sleeps in WFI between ticks, doing a little work after each one, for
 * IDLE_TICKS ticks (20 s of virtual time), then exits 0. It measures how
 * cheaply an emulator skips idle time, the common case for real firmware.
 *
 * Design decision: the ROM first sets the 72 MHz core clock the Spark Core
 * runs at (clock_72mhz(), SystemInit's set-up), and the tick period assumes it
 * (SysTick on the processor clock, RVR = 72000 - 1). qemu's stm32vldiscovery
 * has no RCC and clocks SysTick at 24 MHz in host time, so there the same ROM
 * takes about a minute.
 */
#include "rom.h"

#define CORE_CLOCK_HZ 72000000u
#define TICK_HZ 1000u
#define IDLE_TICKS 20000u
#define WORK_PER_TICK 32u
#define LCG_MULTIPLIER 1664525u
#define LCG_INCREMENT 1013904223u

static volatile uint32_t ticks;

void SysTick_Handler(void) { ticks++; }

/* The "tiny bit of work": a few dozen instructions, one store per step. */
static uint32_t work(uint32_t state, uint32_t tick)
{
    static uint32_t history[WORK_PER_TICK];
    for (uint32_t i = 0; i < WORK_PER_TICK; i++) {
        state = state * LCG_MULTIPLIER + LCG_INCREMENT + tick;
        history[i] ^= state;
    }
    return state ^ history[tick % WORK_PER_TICK];
}

int main(void)
{
    bool counting = cyccnt_start();
    clock_72mhz();
    uint32_t start = DWT_CYCCNT;

    SYST_RVR = CORE_CLOCK_HZ / TICK_HZ - 1;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;

    uint32_t state = 1, seen = 0, wakeups = 0;
    while (seen < IDLE_TICKS) {
        wfi();
        wakeups++;
        uint32_t now = ticks;
        while (seen < now)
            state = work(state, seen++);
    }
    SYST_CSR = 0;
    uint32_t elapsed = DWT_CYCCNT - start;

    rom_printf("bench_idle: %u ticks, %u wakeups, state 0x%08x\n", (unsigned)seen,
               (unsigned)wakeups, (unsigned)state);
    if (counting)
        rom_printf("bench_idle: elapsed cycles (DWT CYCCNT) %u\n", (unsigned)elapsed);
    else
        rom_printf("bench_idle: elapsed cycles unknown (DWT CYCCNT does not count)\n");
    return 0;
}
