/*
 * probe.c - run-time probes for capabilities that differ between platforms
 * for reasons that are not bugs.
 *
 * Design decision: a probe exercises the feature and looks at the effect
 * (does the counter advance?) instead of trusting an ID register, because
 * qemu's stm32vldiscovery reports a DWT without a cycle counter by reading
 * every DWT register as zero, which is what a present-but-idle DWT looks like.
 */
#include "rom.h"

/* Enough work between two reads that a running counter must have moved. */
#define CYCCNT_PROBE_SPINS 16

bool cyccnt_start(void)
{
    DEMCR |= DEMCR_TRCENA;
    if (DWT_CTRL & DWT_CTRL_NOCYCCNT)
        return false;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    uint32_t before = DWT_CYCCNT;
    for (volatile int i = 0; i < CYCCNT_PROBE_SPINS; i++) {
    }
    return DWT_CYCCNT != before;
}
