/*
 * preempt_priority - an interrupt of higher priority (lower value) preempts a
 * running handler at once, nested with EXC_RETURN 0xFFFFFFF1; one of lower
 * priority waits until the handler returns.
 *
 * Four software-pended IRQs, priorities A 0x80, B 0x40, C 0x60, D 0xC0:
 *   thread pends A;  A pends B -> B preempts A (nested, 0xFFFFFFF1);
 *   B pends C       -> C (0x60) cannot preempt B, but can preempt A, so when B
 *                      returns C is tail-chained, still nested, before any A code;
 *   A pends D       -> D (0xC0) waits; it is tail-chained to the thread return.
 * Expected order: A B b C a D T (lower case = end of that handler).
 *
 * Design decision: priorities use only the top nibble, which the STM32F1
 * implements (4 bits) and qemu's 8-bit NVIC agrees with.
 */
#include "rom.h"

#define PRIORITY_A 0x80u
#define PRIORITY_B 0x40u
#define PRIORITY_C 0x60u
#define PRIORITY_D 0xC0u

struct handler_view {
    uint32_t exc_return;
    uint32_t frame;
    uint32_t ipsr;
    uint32_t active; /* NVIC_IABR0 */
};

static volatile struct handler_view in_a, in_b, in_c, in_d;
static volatile uint32_t b_runs_seen_by_a, c_runs_seen_by_a, d_pending_seen_by_a;
static volatile uint32_t b_runs, c_runs, c_pending_seen_by_b;

static void view(volatile struct handler_view *v, struct exception_frame *frame,
                 uint32_t exc_return)
{
    v->exc_return = exc_return;
    v->frame = (uintptr_t)frame;
    v->ipsr = get_ipsr();
    v->active = NVIC_IABR(0);
}

HANDLER_WITH_FRAME(TEST_IRQ_A_HANDLER, irq_a_entry)
void irq_a_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('A');
    view(&in_a, frame, exc_return);
    nvic_set_pending(TEST_IRQ_B);
    barrier_take_pending();
    b_runs_seen_by_a = b_runs;
    c_runs_seen_by_a = c_runs;
    nvic_set_pending(TEST_IRQ_D);
    barrier_take_pending();
    d_pending_seen_by_a = nvic_is_pending(TEST_IRQ_D);
    log_event('a');
}

HANDLER_WITH_FRAME(TEST_IRQ_B_HANDLER, irq_b_entry)
void irq_b_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('B');
    view(&in_b, frame, exc_return);
    b_runs++;
    nvic_set_pending(TEST_IRQ_C);
    barrier_take_pending();
    c_pending_seen_by_b = nvic_is_pending(TEST_IRQ_C);
    log_event('b');
}

HANDLER_WITH_FRAME(TEST_IRQ_C_HANDLER, irq_c_entry)
void irq_c_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('C');
    view(&in_c, frame, exc_return);
    c_runs++;
}

HANDLER_WITH_FRAME(TEST_IRQ_D_HANDLER, irq_d_entry)
void irq_d_entry(struct exception_frame *frame, uint32_t exc_return)
{
    log_event('D');
    view(&in_d, frame, exc_return);
}

int main(void)
{
    const unsigned irqs[] = {TEST_IRQ_A, TEST_IRQ_B, TEST_IRQ_C, TEST_IRQ_D};
    const uint8_t priorities[] = {PRIORITY_A, PRIORITY_B, PRIORITY_C, PRIORITY_D};
    for (unsigned i = 0; i < sizeof irqs / sizeof irqs[0]; i++) {
        nvic_set_priority(irqs[i], priorities[i]);
        nvic_enable(irqs[i]);
    }

    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    log_event('T');

    expect_events("ABbCaDT", "thread pends A");

    const uint32_t bit_a = 1u << TEST_IRQ_A, bit_b = 1u << TEST_IRQ_B, bit_c = 1u << TEST_IRQ_C,
                   bit_d = 1u << TEST_IRQ_D;

    check_eq(in_a.exc_return, EXC_RETURN_THREAD_MSP, "EXC_RETURN of A (from thread)");
    check_eq(in_a.ipsr, EXC_IRQ0 + TEST_IRQ_A, "IPSR in A");
    check_eq(in_a.active, bit_a, "IABR in A");

    check_eq(b_runs_seen_by_a, 1, "B ran to completion before A's next instruction");
    check_eq(in_b.exc_return, EXC_RETURN_HANDLER_MSP, "EXC_RETURN of B nested in A");
    check_eq(in_b.ipsr, EXC_IRQ0 + TEST_IRQ_B, "IPSR in B");
    check_eq(in_b.active, bit_a | bit_b, "IABR in B: A and B active");
    check(in_b.frame < in_a.frame, "B's frame is pushed below A's");
    check_eq(c_pending_seen_by_b, 1, "C (0x60) stays pending inside B (0x40)");

    check_eq(c_runs_seen_by_a, 1, "C preempted A as soon as B returned");
    check_eq(in_c.exc_return, EXC_RETURN_HANDLER_MSP, "EXC_RETURN of C tail-chained from B");
    check_eq(in_c.active, bit_a | bit_c, "IABR in C: A and C active, B done");
    check_eq(in_c.frame, in_b.frame, "C reuses B's frame (tail-chain)");

    check_eq(d_pending_seen_by_a, 1, "D (0xC0) stays pending inside A (0x80)");
    check_eq(in_d.exc_return, EXC_RETURN_THREAD_MSP, "EXC_RETURN of D tail-chained from A");
    check_eq(in_d.active, bit_d, "IABR in D");
    check_eq(in_d.frame, in_a.frame, "D reuses A's frame (tail-chain)");

    check_eq(NVIC_IABR(0) & (bit_a | bit_b | bit_c | bit_d), 0, "IABR in thread");
    check_eq(NVIC_ISPR(0) & (bit_a | bit_b | bit_c | bit_d), 0, "nothing left pending");
    pass();
}
