/*
 * icsr_iabr_nested - ICSR (VECTACTIVE, RETTOBASE, VECTPENDING, ISRPENDING) and
 * NVIC_IABR hold the architected values at every level of a nest:
 *
 *   thread pends A (0x80); A pends B (0x40), which preempts;
 *   B pends C (0xC0), D (0xA0) and PendSV (0xF0), none of which can preempt;
 *   then, as each handler returns, D, C and PendSV are tail-chained in
 *   priority order.
 *
 * Design decision: each handler takes one snapshot of ICSR and IABR0 at entry
 * (after pending, for B) and the main program compares all of them at the end,
 * so one failure message names the exact handler and field.
 */
#include "rom.h"

#define PRIORITY_A 0x80u
#define PRIORITY_B 0x40u
#define PRIORITY_C 0xC0u
#define PRIORITY_D 0xA0u
#define PRIORITY_PENDSV 0xF0u

struct snapshot {
    uint32_t icsr;
    uint32_t iabr;
};

enum moment {
    IN_A_BEFORE_B,
    IN_B_AFTER_PENDING,
    IN_A_AFTER_B,
    IN_D,
    IN_C,
    IN_PENDSV,
    MOMENT_COUNT,
};

static volatile struct snapshot seen[MOMENT_COUNT];

static void take(enum moment when)
{
    seen[when].icsr = SCB_ICSR;
    seen[when].iabr = NVIC_IABR(0);
}

void TEST_IRQ_A_HANDLER(void)
{
    log_event('A');
    take(IN_A_BEFORE_B);
    nvic_set_pending(TEST_IRQ_B);
    barrier_take_pending();
    take(IN_A_AFTER_B);
}

void TEST_IRQ_B_HANDLER(void)
{
    log_event('B');
    nvic_set_pending(TEST_IRQ_C);
    nvic_set_pending(TEST_IRQ_D);
    SCB_ICSR = ICSR_PENDSVSET;
    barrier_take_pending();
    take(IN_B_AFTER_PENDING);
}

void TEST_IRQ_C_HANDLER(void)
{
    log_event('C');
    take(IN_C);
}

void TEST_IRQ_D_HANDLER(void)
{
    log_event('D');
    take(IN_D);
}

void PendSV_Handler(void)
{
    log_event('P');
    take(IN_PENDSV);
}

static void expect(enum moment when, const char *name, unsigned vectactive, bool rettobase,
                   unsigned vectpending, bool isrpending, uint32_t iabr)
{
    uint32_t icsr = seen[when].icsr;
    if ((icsr & ICSR_VECTACTIVE_MASK) != vectactive)
        fail("%s: ICSR.VECTACTIVE %u, expected %u", name, (unsigned)(icsr & ICSR_VECTACTIVE_MASK),
             vectactive);
    if (!!(icsr & ICSR_RETTOBASE) != rettobase)
        fail("%s: ICSR.RETTOBASE %u, expected %u", name, !!(icsr & ICSR_RETTOBASE), rettobase);
    unsigned pending = (icsr & ICSR_VECTPENDING_MASK) >> ICSR_VECTPENDING_SHIFT;
    if (pending != vectpending)
        fail("%s: ICSR.VECTPENDING %u, expected %u", name, pending, vectpending);
    if (!!(icsr & ICSR_ISRPENDING) != isrpending)
        fail("%s: ICSR.ISRPENDING %u, expected %u", name, !!(icsr & ICSR_ISRPENDING),
             isrpending);
    if (seen[when].iabr != iabr)
        fail("%s: NVIC_IABR0 0x%08x, expected 0x%08x", name, (unsigned)seen[when].iabr,
             (unsigned)iabr);
}

int main(void)
{
    const unsigned irqs[] = {TEST_IRQ_A, TEST_IRQ_B, TEST_IRQ_C, TEST_IRQ_D};
    const uint8_t priorities[] = {PRIORITY_A, PRIORITY_B, PRIORITY_C, PRIORITY_D};
    for (unsigned i = 0; i < sizeof irqs / sizeof irqs[0]; i++) {
        nvic_set_priority(irqs[i], priorities[i]);
        nvic_enable(irqs[i]);
    }
    scb_set_priority(EXC_PENDSV, PRIORITY_PENDSV);

    uint32_t icsr = SCB_ICSR;
    check_eq(icsr & ICSR_VECTACTIVE_MASK, 0, "ICSR.VECTACTIVE in thread mode");
    check_eq(icsr & (ICSR_VECTPENDING_MASK | ICSR_ISRPENDING), 0, "nothing pending at start");
    check_eq(NVIC_IABR(0), 0, "NVIC_IABR0 in thread mode");

    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("ABDCP", "handler order");

    const unsigned exc_a = EXC_IRQ0 + TEST_IRQ_A, exc_b = EXC_IRQ0 + TEST_IRQ_B,
                   exc_c = EXC_IRQ0 + TEST_IRQ_C, exc_d = EXC_IRQ0 + TEST_IRQ_D;
    const uint32_t bit_a = 1u << TEST_IRQ_A, bit_b = 1u << TEST_IRQ_B, bit_c = 1u << TEST_IRQ_C,
                   bit_d = 1u << TEST_IRQ_D;

    /* moment, name, then VECTACTIVE, RETTOBASE, VECTPENDING, ISRPENDING, IABR0 */
    expect(IN_A_BEFORE_B, "A, before pending B", exc_a, true, 0, false, bit_a);
    expect(IN_B_AFTER_PENDING, "B, nested in A", exc_b, false, exc_d, true, bit_a | bit_b);
    expect(IN_A_AFTER_B, "A, after B returned", exc_a, true, exc_d, true, bit_a);
    expect(IN_D, "D, tail-chained from A", exc_d, true, exc_c, true, bit_d);
    expect(IN_C, "C, tail-chained from D", exc_c, true, EXC_PENDSV, false, bit_c);
    expect(IN_PENDSV, "PendSV, tail-chained from C", EXC_PENDSV, true, 0, false, 0);

    icsr = SCB_ICSR;
    check_eq(icsr & ICSR_VECTACTIVE_MASK, 0, "ICSR.VECTACTIVE back in thread mode");
    check_eq(icsr & (ICSR_VECTPENDING_MASK | ICSR_ISRPENDING), 0, "nothing pending at the end");
    check_eq(NVIC_IABR(0), 0, "NVIC_IABR0 back in thread mode");
    pass();
}
