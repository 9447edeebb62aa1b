/*
 * prigroup_group_preempt - with AIRCR.PRIGROUP = 5 the priority byte splits
 * into group priority bits [7:6] and subpriority bits [5:0]; only a higher
 * *group* priority preempts, and subpriority only orders pending exceptions.
 *
 *   A = 0x60 (group 0x40, sub 0x20), B = 0x40 (group 0x40, sub 0x00),
 *   C = 0x00 (group 0x00), D = 0x70 (group 0x40, sub 0x30)
 *
 * 1. AIRCR: PRIGROUP reads back with VECTKEYSTAT; a write without VECTKEY is
 *    ignored.
 * 2. In A, pending B (better subpriority, same group) does NOT preempt; C
 *    (better group) does. Order: A C a B.
 * 3. The same A/B pair under PRIGROUP = 3 (group = bits [7:4], all the bits an
 *    STM32F1 implements) does preempt, so step 2 shows grouping, not a bug in
 *    preemption.
 * 4. A, D and B pended together under PRIMASK are taken by subpriority:
 *    B, A, D; VECTPENDING names B meanwhile.
 */
#include "rom.h"

#define PRIGROUP_GROUP_7_6 5u
#define PRIGROUP_GROUP_7_4 3u
#define PRIORITY_A 0x60u
#define PRIORITY_B 0x40u
#define PRIORITY_C 0x00u
#define PRIORITY_D 0x70u

static volatile bool a_pends_b_and_c;
static volatile uint32_t b_pending_seen_by_a, c_exc_return;

void TEST_IRQ_A_HANDLER(void)
{
    log_event('A');
    if (a_pends_b_and_c) {
        nvic_set_pending(TEST_IRQ_B);
        barrier_take_pending();
        b_pending_seen_by_a = nvic_is_pending(TEST_IRQ_B);
        nvic_set_pending(TEST_IRQ_C);
        barrier_take_pending();
        log_event('a');
    }
}

void TEST_IRQ_B_HANDLER(void) { log_event('B'); }

HANDLER_WITH_FRAME(TEST_IRQ_C_HANDLER, irq_c_entry)
void irq_c_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)frame;
    log_event('C');
    c_exc_return = exc_return;
}

void TEST_IRQ_D_HANDLER(void) { log_event('D'); }

int main(void)
{
    const unsigned irqs[] = {TEST_IRQ_A, TEST_IRQ_B, TEST_IRQ_C, TEST_IRQ_D};
    const uint8_t priorities[] = {PRIORITY_A, PRIORITY_B, PRIORITY_C, PRIORITY_D};
    for (unsigned i = 0; i < sizeof irqs / sizeof irqs[0]; i++) {
        nvic_set_priority(irqs[i], priorities[i]);
        nvic_enable(irqs[i]);
    }

    /* 1. AIRCR */
    aircr_set_prigroup(PRIGROUP_GROUP_7_6);
    uint32_t aircr = SCB_AIRCR;
    check_eq(aircr & AIRCR_VECTKEY_MASK, AIRCR_VECTKEYSTAT, "AIRCR.VECTKEYSTAT");
    check_eq((aircr & AIRCR_PRIGROUP_MASK) >> AIRCR_PRIGROUP_SHIFT, PRIGROUP_GROUP_7_6,
             "AIRCR.PRIGROUP after a keyed write");
    SCB_AIRCR = PRIGROUP_GROUP_7_4 << AIRCR_PRIGROUP_SHIFT; /* no VECTKEY */
    check_eq((SCB_AIRCR & AIRCR_PRIGROUP_MASK) >> AIRCR_PRIGROUP_SHIFT, PRIGROUP_GROUP_7_6,
             "AIRCR write without VECTKEY is ignored");

    /* 2. same group: no preemption; better group: preemption */
    a_pends_b_and_c = true;
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("ACaB", "PRIGROUP=5, A pends B then C");
    check_eq(b_pending_seen_by_a, 1, "B (same group as A) still pending inside A");
    check_eq(c_exc_return, EXC_RETURN_HANDLER_MSP, "C nested in A: EXC_RETURN");

    /* 3. the same pair in different groups */
    aircr_set_prigroup(PRIGROUP_GROUP_7_4);
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("ABCa", "PRIGROUP=3, A pends B then C");
    a_pends_b_and_c = false;

    /* 4. pending order by subpriority */
    aircr_set_prigroup(PRIGROUP_GROUP_7_6);
    cpsid_i();
    nvic_set_pending(TEST_IRQ_A);
    nvic_set_pending(TEST_IRQ_D);
    nvic_set_pending(TEST_IRQ_B);
    barrier_take_pending();
    check_eq(logged_event_count(), 0, "nothing taken under PRIMASK");
    check_eq(icsr_vectpending(), EXC_IRQ0 + TEST_IRQ_B,
             "ICSR.VECTPENDING is the best subpriority (B)");
    cpsie_i();
    barrier_take_pending();
    expect_events("BAD", "A, D, B pended together");

    aircr_set_prigroup(0);
    pass();
}
