/*
 * sysresetreq - AIRCR.SYSRESETREQ written with VECTKEY 0x05FA resets the
 * system; written without the key it does nothing. A system reset keeps SRAM,
 * so a marker in .noinit tells the second boot it is the second, and that boot
 * checks that the core state the first boot changed is back at its reset
 * values (PRIGROUP, NVIC enables and priorities, VTOR, CCR, SHCSR, SysTick,
 * PRIMASK/BASEPRI) and, where the platform models RCC, that
 * RCC_CSR.SFTRSTF records a software reset.
 *
 * Platform difference (not a bug): qemu's STM32F100 does not implement RCC
 * (RCC_CSR reads 0, where an STM32 never reads 0 after any reset), so the
 * reset-flag check is skipped there.
 *
 * Design decision: the marker carries a magic word and the complement of its
 * stage, so whatever SRAM holds at power-on is never mistaken for a marker.
 */
#include "rom.h"

#define MARKER_MAGIC 0x5EB007EDu
#define STAGE_RESET_REQUESTED 2u
#define RESET_WAIT_LOOPS 1000000u
#define KEYLESS_WAIT_LOOPS 1000u

#define RCC_CSR REG32(0x40021024u)
#define RCC_CSR_RMVF (1u << 24)
#define RCC_CSR_SFTRSTF (1u << 28)

#define CHANGED_PRIGROUP 5u
#define CHANGED_PRIORITY 0x80u
#define CHANGED_VTOR 0x08000000u
#define CHANGED_BASEPRI 0x40u
#define CHANGED_SYST_RVR 0x1000u

struct reset_marker {
    uint32_t magic;
    uint32_t stage;
    uint32_t stage_complement;
};

static NOINIT volatile struct reset_marker marker;

static bool marker_valid(void)
{
    return marker.magic == MARKER_MAGIC && marker.stage_complement == ~marker.stage;
}

static void marker_set(uint32_t stage)
{
    marker.magic = MARKER_MAGIC;
    marker.stage = stage;
    marker.stage_complement = ~stage;
}

static void spin(uint32_t loops)
{
    for (volatile uint32_t i = 0; i < loops; i++) {
    }
}

static NORETURN void first_boot(void)
{
    rom_printf("first boot: requesting a system reset\n");
    bool rcc_modelled = RCC_CSR != 0;
    if (rcc_modelled)
        RCC_CSR |= RCC_CSR_RMVF;

    SCB_AIRCR = AIRCR_SYSRESETREQ; /* no VECTKEY: must be ignored */
    dsb();
    spin(KEYLESS_WAIT_LOOPS);

    /* state the reset must undo */
    aircr_set_prigroup(CHANGED_PRIGROUP);
    nvic_set_priority(TEST_IRQ_A, CHANGED_PRIORITY);
    nvic_enable(TEST_IRQ_A);
    SCB_VTOR = CHANGED_VTOR;
    SCB_CCR |= CCR_DIV_0_TRP;
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    SYST_RVR = CHANGED_SYST_RVR;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    set_basepri(CHANGED_BASEPRI);
    cpsid_i();

    marker_set(STAGE_RESET_REQUESTED);
    dsb();
    SCB_AIRCR = AIRCR_VECTKEY | (CHANGED_PRIGROUP << AIRCR_PRIGROUP_SHIFT) | AIRCR_SYSRESETREQ;
    dsb();
    spin(RESET_WAIT_LOOPS);
    fail("still running %u loops after SYSRESETREQ", RESET_WAIT_LOOPS);
}

static NORETURN void second_boot(void)
{
    rom_printf("second boot: checking the reset state\n");
    marker.magic = 0; /* a later power-on or reset starts over */

    check_eq(SCB_AIRCR & AIRCR_PRIGROUP_MASK, 0, "AIRCR.PRIGROUP reset");
    check_eq(NVIC_ISER(0), 0, "NVIC enables reset");
    check_eq(NVIC_IPR_BYTE(TEST_IRQ_A), 0, "NVIC priority reset");
    check_eq(SCB_VTOR, 0, "VTOR reset");
    check_eq(SCB_CCR & CCR_DIV_0_TRP, 0, "CCR.DIV_0_TRP reset");
    check_eq(SCB_SHCSR, 0, "SHCSR reset");
    check_eq(SYST_CSR & (SYST_CSR_ENABLE | SYST_CSR_TICKINT), 0, "SysTick disabled by reset");
    check_eq(get_primask(), 0, "PRIMASK reset");
    check_eq(get_basepri(), 0, "BASEPRI reset");

    uint32_t csr = RCC_CSR;
    if (csr == 0)
        skip("RCC not modelled here (RCC_CSR reads 0); reset flags not checked");
    else
        check_eq(csr & RCC_CSR_SFTRSTF, RCC_CSR_SFTRSTF, "RCC_CSR.SFTRSTF after SYSRESETREQ");
    pass();
}

int main(void)
{
    if (!marker_valid())
        first_boot();
    if (marker.stage == STAGE_RESET_REQUESTED)
        second_boot();
    fail("unexpected reset marker stage %u", (unsigned)marker.stage);
}
