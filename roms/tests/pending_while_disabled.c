/*
 * pending_while_disabled - an interrupt's pending state is independent of its
 * enable: ISPR (or STIR) sets pending while the interrupt is disabled, nothing
 * is taken and VECTPENDING stays 0; enabling it later takes it at once; ICPR
 * clears a pending interrupt so that enabling it takes nothing.
 *
 * Design decision: every step checks the NVIC registers themselves (ISER and
 * ICER both read the enable bits, ISPR and ICPR both read the pending bits),
 * not only whether the handler ran.
 */
#include "rom.h"

#define PRIORITY_A 0x80u

void TEST_IRQ_A_HANDLER(void) { log_event('A'); }

int main(void)
{
    const uint32_t bit_a = 1u << TEST_IRQ_A;
    nvic_set_priority(TEST_IRQ_A, PRIORITY_A);

    /* pend while disabled, enable later */
    nvic_disable(TEST_IRQ_A);
    check_eq(NVIC_ISER(0) & bit_a, 0, "ISER reads A disabled");
    check_eq(NVIC_ICER(0) & bit_a, 0, "ICER reads A disabled");
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("", "disabled A is not taken");
    check_eq(NVIC_ISPR(0) & bit_a, bit_a, "ISPR reads A pending while disabled");
    check_eq(NVIC_ICPR(0) & bit_a, bit_a, "ICPR reads A pending while disabled");
    check_eq(icsr_vectpending(), 0, "ICSR.VECTPENDING ignores a disabled interrupt");

    nvic_enable(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("A", "enabling a pending A takes it");
    check_eq(NVIC_ISER(0) & bit_a, bit_a, "ISER reads A enabled");
    check_eq(NVIC_ICER(0) & bit_a, bit_a, "ICER reads A enabled");
    check_eq(NVIC_ISPR(0) & bit_a, 0, "A no longer pending after it was taken");

    /* pend while disabled, clear, enable: nothing */
    nvic_disable(TEST_IRQ_A);
    nvic_set_pending(TEST_IRQ_A);
    check_eq(NVIC_ISPR(0) & bit_a, bit_a, "A pending again");
    nvic_clear_pending(TEST_IRQ_A);
    check_eq(NVIC_ISPR(0) & bit_a, 0, "ICPR cleared A's pending bit");
    nvic_enable(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("", "a cleared A is not taken when enabled");

    /* STIR pends the same way (privileged thread code may always write it) */
    nvic_disable(TEST_IRQ_A);
    NVIC_STIR = TEST_IRQ_A;
    barrier_take_pending();
    expect_events("", "STIR-pended A is not taken while disabled");
    check_eq(NVIC_ISPR(0) & bit_a, bit_a, "STIR set A's pending bit");
    nvic_enable(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("A", "enabling the STIR-pended A takes it");
    pass();
}
