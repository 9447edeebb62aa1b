/*
 * exclusive_monitor - the local exclusive monitor (ARMv7-M A3.4):
 *   LDREX then STREX to the same word succeeds (STREX returns 0) and stores;
 *   CLREX in between makes the STREX fail (returns 1) and store nothing;
 *   so does an exception taken and returned from in between (SVC, and an IRQ),
 *   since exception entry and return clear the monitor (B1.5.6, B1.5.8);
 *   a STREX in a handler after an LDREX in Thread mode fails too.
 *
 * Design decision: the exclusive accesses are inline assembly on one static
 * word, whose value after each STREX shows whether anything was stored.
 */
#include "rom.h"

#define OLD_VALUE 0x11111111u
#define NEW_VALUE 0x22222222u

static volatile uint32_t word;
static volatile uint32_t handler_strex_status;

static inline uint32_t ldrex(volatile uint32_t *p)
{
    uint32_t v;
    __asm volatile("ldrex %0, [%1]" : "=r"(v) : "r"(p) : "memory");
    return v;
}

static inline uint32_t strex(volatile uint32_t *p, uint32_t v)
{
    uint32_t status;
    __asm volatile("strex %0, %2, [%1]" : "=&r"(status) : "r"(p), "r"(v) : "memory");
    return status;
}

static inline void clrex(void)
{
    __asm volatile("clrex" ::: "memory");
}

void SVC_Handler(void);
void SVC_Handler(void) { log_event('S'); }

void TEST_IRQ_A_HANDLER(void) { log_event('A'); }

void TEST_IRQ_B_HANDLER(void)
{
    handler_strex_status = strex(&word, NEW_VALUE);
}

static void expect_strex(uint32_t status, uint32_t expected_status, const char *what)
{
    check_eq(status, expected_status, what);
    check_eq(word, expected_status == 0 ? NEW_VALUE : OLD_VALUE, what);
    word = OLD_VALUE;
}

int main(void)
{
    nvic_enable(TEST_IRQ_A);
    nvic_enable(TEST_IRQ_B);
    word = OLD_VALUE;

    check_eq(ldrex(&word), OLD_VALUE, "LDREX reads the word");
    expect_strex(strex(&word, NEW_VALUE), 0, "LDREX/STREX pair succeeds and stores");

    expect_strex(strex(&word, NEW_VALUE), 1, "STREX without LDREX fails and stores nothing");

    ldrex(&word);
    clrex();
    expect_strex(strex(&word, NEW_VALUE), 1, "STREX after CLREX fails and stores nothing");

    ldrex(&word);
    __asm volatile("svc #0" ::: "memory");
    expect_events("S", "SVC taken");
    expect_strex(strex(&word, NEW_VALUE), 1, "STREX after an SVC fails and stores nothing");

    ldrex(&word);
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
    expect_events("A", "IRQ taken");
    expect_strex(strex(&word, NEW_VALUE), 1, "STREX after an interrupt fails and stores nothing");

    ldrex(&word);
    nvic_set_pending(TEST_IRQ_B);
    barrier_take_pending();
    check_eq(handler_strex_status, 1, "STREX in a handler after Thread's LDREX fails");
    check_eq(word, OLD_VALUE, "the handler's STREX stored nothing");
    pass();
}
