/*
 * primask_basepri_faultmask - the three execution-priority masks:
 *   PRIMASK=1 blocks every configurable-priority exception until cleared;
 *   BASEPRI=n blocks priorities n and below (numerically >= n), lets better
 *     ones through, and 0 turns it off;
 *   BASEPRI_MAX writes only ever raise the masking (lower, non-zero value);
 *   FAULTMASK=1 blocks even priority 0 but not NMI; every exception return
 *     except NMI's clears it, while PRIMASK survives exception return.
 *
 * Design decision: each step pends first and unmasks after, and the event log
 * shows exactly which handlers ran at each point (A 0x80, B 0x90, C 0x70,
 * D 0x80 for the handler-side steps; A moves to 0x00 for FAULTMASK).
 */
#include "rom.h"

#define PRIORITY_A 0x80u
#define PRIORITY_B 0x90u
#define PRIORITY_C 0x70u
#define PRIORITY_D 0x80u
#define PRIORITY_HIGHEST 0x00u
#define MASK_START 0x80u
#define MASK_WEAKER 0xA0u   /* masks less than MASK_START */
#define MASK_STRONGER 0x40u /* masks more than MASK_START */
#define MASK_FROM_ZERO 0x60u

static volatile uint32_t faultmask_in_handler, primask_in_handler;
static volatile bool d_sets_faultmask, d_sets_primask;

void TEST_IRQ_A_HANDLER(void) { log_event('A'); }
void TEST_IRQ_B_HANDLER(void) { log_event('B'); }
void TEST_IRQ_C_HANDLER(void) { log_event('C'); }
void NMI_Handler(void) { log_event('N'); }

void TEST_IRQ_D_HANDLER(void)
{
    log_event('D');
    if (d_sets_faultmask) {
        cpsid_f();
        faultmask_in_handler = get_faultmask();
    }
    if (d_sets_primask) {
        cpsid_i();
        primask_in_handler = get_primask();
    }
}

static void pend(unsigned irq)
{
    nvic_set_pending(irq);
    barrier_take_pending();
}

static void test_primask(void)
{
    cpsid_i();
    check_eq(get_primask(), 1, "PRIMASK after CPSID i");
    pend(TEST_IRQ_A);
    expect_events("", "PRIMASK=1 blocks A");
    check(nvic_is_pending(TEST_IRQ_A), "A pending under PRIMASK");
    cpsie_i();
    barrier_take_pending();
    expect_events("A", "A taken once PRIMASK is cleared");
}

static void test_basepri(void)
{
    set_basepri(PRIORITY_A);
    check_eq(get_basepri(), PRIORITY_A, "BASEPRI reads back");
    pend(TEST_IRQ_A);
    pend(TEST_IRQ_B);
    expect_events("", "BASEPRI=0x80 blocks 0x80 and 0x90");
    pend(TEST_IRQ_C);
    expect_events("C", "BASEPRI=0x80 lets 0x70 through");
    set_basepri(PRIORITY_B);
    barrier_take_pending();
    expect_events("A", "BASEPRI=0x90 lets 0x80 through, still blocks 0x90");
    set_basepri(0);
    barrier_take_pending();
    expect_events("B", "BASEPRI=0 masks nothing");
}

static void test_basepri_max(void)
{
    set_basepri(MASK_START);
    set_basepri_max(MASK_WEAKER);
    check_eq(get_basepri(), MASK_START, "BASEPRI_MAX with a weaker mask is ignored");
    set_basepri_max(MASK_STRONGER);
    check_eq(get_basepri(), MASK_STRONGER, "BASEPRI_MAX with a stronger mask applies");
    set_basepri_max(0);
    check_eq(get_basepri(), MASK_STRONGER, "BASEPRI_MAX of 0 is ignored");
    set_basepri(0);
    set_basepri_max(MASK_FROM_ZERO);
    check_eq(get_basepri(), MASK_FROM_ZERO, "BASEPRI_MAX over BASEPRI=0 applies");
    set_basepri(0);
    check_eq(get_basepri(), 0, "BASEPRI cleared");
}

static void test_faultmask(void)
{
    nvic_set_priority(TEST_IRQ_A, PRIORITY_HIGHEST);
    cpsid_f();
    check_eq(get_faultmask(), 1, "FAULTMASK after CPSID f");
    pend(TEST_IRQ_A);
    expect_events("", "FAULTMASK=1 blocks even priority 0");
    SCB_ICSR = ICSR_NMIPENDSET;
    barrier_take_pending();
    expect_events("N", "FAULTMASK=1 does not block NMI");
    check_eq(get_faultmask(), 1, "return from NMI keeps FAULTMASK");
    cpsie_f();
    barrier_take_pending();
    expect_events("A", "A taken once FAULTMASK is cleared");

    d_sets_faultmask = true;
    pend(TEST_IRQ_D);
    d_sets_faultmask = false;
    expect_events("D", "D runs");
    check_eq(faultmask_in_handler, 1, "FAULTMASK set inside D");
    check_eq(get_faultmask(), 0, "exception return cleared FAULTMASK");

    d_sets_primask = true;
    pend(TEST_IRQ_D);
    d_sets_primask = false;
    expect_events("D", "D runs");
    check_eq(primask_in_handler, 1, "PRIMASK set inside D");
    check_eq(get_primask(), 1, "exception return keeps PRIMASK");
    cpsie_i();
}

int main(void)
{
    const unsigned irqs[] = {TEST_IRQ_A, TEST_IRQ_B, TEST_IRQ_C, TEST_IRQ_D};
    const uint8_t priorities[] = {PRIORITY_A, PRIORITY_B, PRIORITY_C, PRIORITY_D};
    for (unsigned i = 0; i < sizeof irqs / sizeof irqs[0]; i++) {
        nvic_set_priority(irqs[i], priorities[i]);
        nvic_enable(irqs[i]);
    }

    test_primask();
    test_basepri();
    test_basepri_max();
    test_faultmask();
    pass();
}
