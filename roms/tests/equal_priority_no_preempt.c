/*
 * equal_priority_no_preempt - an exception of the same priority as the running
 * handler never preempts it, whichever has the lower exception number; it is
 * taken when the handler returns, tail-chained (EXC_RETURN 0xFFFFFFF9). When
 * several exceptions of equal priority are pending, the lowest exception
 * number goes first (PendSV 14 before IRQ 6 (22) before IRQ 7 (23)).
 *
 * Design decision: A, B and PendSV all get priority 0x80, so only the
 * exception number can decide the order in step 3.
 */
#include "rom.h"

#define PRIORITY_ALL 0x80u

enum step {
    STEP_A_PENDS_B,
    STEP_B_PENDS_A,
    STEP_QUIET,
};

static volatile enum step step;
static volatile uint32_t other_pending_seen, second_exc_return;

static void pend_and_look(unsigned other_irq)
{
    nvic_set_pending(other_irq);
    barrier_take_pending();
    other_pending_seen = nvic_is_pending(other_irq);
}

HANDLER_WITH_FRAME(TEST_IRQ_A_HANDLER, irq_a_entry)
void irq_a_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)frame;
    log_event('A');
    if (step == STEP_A_PENDS_B) {
        pend_and_look(TEST_IRQ_B);
        log_event('a');
    } else if (step == STEP_B_PENDS_A) {
        second_exc_return = exc_return;
    }
}

HANDLER_WITH_FRAME(TEST_IRQ_B_HANDLER, irq_b_entry)
void irq_b_entry(struct exception_frame *frame, uint32_t exc_return)
{
    (void)frame;
    log_event('B');
    if (step == STEP_B_PENDS_A) {
        pend_and_look(TEST_IRQ_A);
        log_event('b');
    } else if (step == STEP_A_PENDS_B) {
        second_exc_return = exc_return;
    }
}

void PendSV_Handler(void) { log_event('P'); }

int main(void)
{
    nvic_set_priority(TEST_IRQ_A, PRIORITY_ALL);
    nvic_set_priority(TEST_IRQ_B, PRIORITY_ALL);
    scb_set_priority(EXC_PENDSV, PRIORITY_ALL);
    nvic_enable(TEST_IRQ_A);
    nvic_enable(TEST_IRQ_B);

    step = STEP_A_PENDS_B;
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("AaB", "A (IRQ 6) pends B (IRQ 7) at equal priority");
    check_eq(other_pending_seen, 1, "B still pending at the end of A");
    check_eq(second_exc_return, EXC_RETURN_THREAD_MSP, "B tail-chained to the thread return");

    step = STEP_B_PENDS_A;
    second_exc_return = 0;
    nvic_set_pending(TEST_IRQ_B);
    barrier_take_pending();
    expect_events("BbA", "B pends A (lower number) at equal priority");
    check_eq(other_pending_seen, 1, "A still pending at the end of B");
    check_eq(second_exc_return, EXC_RETURN_THREAD_MSP, "A tail-chained to the thread return");

    step = STEP_QUIET;
    cpsid_i();
    nvic_set_pending(TEST_IRQ_B);
    nvic_set_pending(TEST_IRQ_A);
    SCB_ICSR = ICSR_PENDSVSET;
    barrier_take_pending();
    check_eq(logged_event_count(), 0, "nothing taken under PRIMASK");
    check_eq(icsr_vectpending(), EXC_PENDSV, "ICSR.VECTPENDING: lowest exception number");
    cpsie_i();
    barrier_take_pending();
    expect_events("PAB", "B, A and PendSV pended together at equal priority");
    pass();
}
