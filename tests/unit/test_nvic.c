/*
 * test_nvic.c - the System Control Space without a CPU: NVIC enable, pending
 * and priority registers, the SCB registers the firmware touches, SysTick and
 * the DWT cycle counter, all driven through their register interfaces.
 *
 * Design decision: time is moved by hand (sim->clock.now, then clock_run_due,
 * exactly what the CPU loop does at a block boundary), usually one cycle at a
 * time, so every SysTick expectation is an exact cycle count worked out from
 * the ARMv7-M definition: a period of RVR+1 ticks, the counter reloading from
 * RVR on the tick after it reaches 0, and the exception pended on reaching 0.
 */
#include "nvic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* SCS offsets from 0xE000E000 and DWT offsets from 0xE0001000 (ARMv7-M ARM B3.2-B3.4, C1.8) */
enum {
    SYST_CSR = 0x010,
    SYST_RVR = 0x014,
    SYST_CVR = 0x018,
    NVIC_ISER0 = 0x100,
    NVIC_ICER0 = 0x180,
    NVIC_ISPR0 = 0x200,
    NVIC_ISPR1 = 0x204,
    NVIC_ICPR0 = 0x280,
    NVIC_IPR0 = 0x400,
    NVIC_IPR10 = 0x428, /* IRQ 40..43: only 40..42 exist */
    SCB_ICSR = 0xD04,
    SCB_AIRCR = 0xD0C,
    SCB_SHPR1 = 0xD18,
    SCB_SHPR2 = 0xD1C,
    SCB_SHPR3 = 0xD20,
    SCB_SHPR_SYSTICK = 0xD23, /* byte */
    SCB_SHPR_PENDSV = 0xD22,  /* byte */
    SCB_SHCSR = 0xD24,
    SCB_CFSR = 0xD28,
    SCB_BFSR = 0xD29, /* byte */
    COREDEBUG_DEMCR = 0xDFC,
    NVIC_STIR = 0xF00,
    DWT_CTRL = 0x000,
    DWT_CYCCNT = 0x004,
};

/* STM32F103 IRQ numbers (RM0008 table 63) */
enum {
    EXTI2_IRQ = 8,
    DMA1_CHANNEL5_IRQ = 15,
    USB_LP_CAN1_RX0_IRQ = 20,
    TIM1_CC_IRQ = 27,
    EXTI15_10_IRQ = 40,
};

#define SCB_ICSR_VECTPENDING_MASK (0x1FFu << SCB_ICSR_VECTPENDING_SHIFT)
#define AIRCR_WITH_KEY(bits) (((uint32_t)SCB_AIRCR_VECTKEY << 16) | (bits))
#define AIRCR_READ_KEY ((uint32_t)SCB_AIRCR_VECTKEYSTAT << 16)
#define SYST_CSR_RUN_ON_CORE_CLOCK (SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE)
#define SYST_CSR_RUN_ON_REFERENCE (SYST_CSR_TICKINT | SYST_CSR_ENABLE)
#define SYST_RELOAD_1MS_AT_72MHZ 71999u /* 72 MHz / 1000 - 1, as SysTick_Config writes it */
#define NO_EXECUTION_PRIORITY 256       /* nothing active, no mask: lower than any priority */
#define T0 1000u                        /* start tests away from 0 so epochs are visible */
#define MAX_PENDS 16

struct rig {
    struct sim sim;
    struct nvic nvic;
};

static int rig_setup(void **state)
{
    struct rig *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    sim_init(&r->sim);
    r->sim.log = NULL;
    nvic_init(&r->nvic, &r->sim);
    r->sim.clock.now = T0;
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    sim_free(&r->sim);
    free(r);
    return 0;
}

static uint32_t scs_read32(struct rig *r, uint32_t offset)
{
    return nvic_scs_mmio.read(&r->nvic, offset, 4);
}

static void scs_write32(struct rig *r, uint32_t offset, uint32_t value)
{
    nvic_scs_mmio.write(&r->nvic, offset, value, 4);
}

static void scs_write8(struct rig *r, uint32_t offset, uint8_t value)
{
    nvic_scs_mmio.write(&r->nvic, offset, value, 1);
}

static uint32_t dwt_read32(struct rig *r, uint32_t offset)
{
    return nvic_dwt_mmio.read(&r->nvic, offset, 4);
}

static void dwt_write32(struct rig *r, uint32_t offset, uint32_t value)
{
    nvic_dwt_mmio.write(&r->nvic, offset, value, 4);
}

static void advance_to(struct rig *r, uint64_t when)
{
    r->sim.clock.now = when;
    clock_run_due(&r->sim);
}

static void set_prigroup(struct rig *r, unsigned prigroup)
{
    scs_write32(r, SCB_AIRCR, AIRCR_WITH_KEY(prigroup << SCB_AIRCR_PRIGROUP_SHIFT));
}

static void enable_irq(struct rig *r, int irq)
{
    scs_write32(r, NVIC_ISER0 + 4 * (uint32_t)(irq / 32), 1u << (irq % 32));
}

static void pend_irq(struct rig *r, int irq)
{
    scs_write32(r, NVIC_ISPR0 + 4 * (uint32_t)(irq / 32), 1u << (irq % 32));
}

static void set_irq_priority(struct rig *r, int irq, uint8_t priority)
{
    scs_write8(r, NVIC_IPR0 + (uint32_t)irq, priority);
}

static int vectpending(struct rig *r)
{
    return (int)((scs_read32(r, SCB_ICSR) & SCB_ICSR_VECTPENDING_MASK) >> SCB_ICSR_VECTPENDING_SHIFT);
}

static bool irq_pending(struct rig *r, int irq)
{
    return (scs_read32(r, NVIC_ISPR0 + 4 * (uint32_t)(irq / 32)) >> (irq % 32)) & 1u;
}

static bool systick_pending(struct rig *r)
{
    return (scs_read32(r, SCB_ICSR) & SCB_ICSR_PENDSTSET) != 0;
}

/* The sequence SysTick_Config uses: reload, clear the counter, then enable. */
static void systick_start(struct rig *r, uint32_t reload, uint32_t csr)
{
    scs_write32(r, SYST_RVR, reload);
    scs_write32(r, SYST_CVR, 0);
    scs_write32(r, SYST_CSR, csr);
}

/*
 * Step time one cycle at a time over [from, to], as block boundaries would,
 * and note each cycle at which SysTick became pending (then clear it, as
 * taking the exception would).
 */
struct pend_times {
    int count;
    uint64_t at[MAX_PENDS];
};

static void collect_systick_pends(struct rig *r, uint64_t from, uint64_t to, struct pend_times *p)
{
    for (uint64_t t = from; t <= to; t++) {
        advance_to(r, t);
        if (systick_pending(r)) {
            assert_true(p->count < MAX_PENDS);
            p->at[p->count++] = t;
            scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
        }
    }
}

/* ---- priorities ---------------------------------------------------------- */

static void test_group_priority_follows_prigroup_for_four_implemented_bits(void **state)
{
    struct rig *r = *state;
    /* PRIGROUP n: bits [7:n+1] are the group; only bits [7:4] exist */
    static const int group_of_f0[8] = {0xF0, 0xF0, 0xF0, 0xF0, 0xE0, 0xC0, 0x80, 0x00};
    static const int group_of_50[8] = {0x50, 0x50, 0x50, 0x50, 0x40, 0x40, 0x00, 0x00};
    static const int group_of_30[8] = {0x30, 0x30, 0x30, 0x30, 0x20, 0x00, 0x00, 0x00};

    for (unsigned p = 0; p < 8; p++) {
        set_prigroup(r, p);
        assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY | (p << SCB_AIRCR_PRIGROUP_SHIFT));
        assert_int_equal(nvic_group_priority(&r->nvic, 0xF0), group_of_f0[p]);
        assert_int_equal(nvic_group_priority(&r->nvic, 0x50), group_of_50[p]);
        assert_int_equal(nvic_group_priority(&r->nvic, 0x30), group_of_30[p]);
        /* the fixed priorities of Reset, NMI and HardFault are not split */
        assert_int_equal(nvic_group_priority(&r->nvic, -1), -1);
        assert_int_equal(nvic_group_priority(&r->nvic, -2), -2);
    }
}

static void test_best_pending_picks_lower_group_then_subpriority_then_number(void **state)
{
    struct rig *r = *state;
    int prio = -100;
    set_prigroup(r, 5); /* group bits [7:6], subpriority bits [5:4] */
    set_irq_priority(r, USB_LP_CAN1_RX0_IRQ, 0x80); /* group 0x80 */
    set_irq_priority(r, 3, 0x70);                   /* group 0x40, sub 0x30 */
    set_irq_priority(r, 10, 0x50);                  /* group 0x40, sub 0x10 */
    set_irq_priority(r, 1, 0x50);                   /* same as IRQ 10 */
    set_irq_priority(r, 0, 0x00);                   /* best of all, but disabled */
    enable_irq(r, USB_LP_CAN1_RX0_IRQ);
    enable_irq(r, 3);
    enable_irq(r, 10);
    enable_irq(r, 1);

    assert_int_equal(nvic_best_pending(&r->nvic, NULL), 0);
    pend_irq(r, 0);
    assert_int_equal(nvic_best_pending(&r->nvic, NULL), 0);

    pend_irq(r, USB_LP_CAN1_RX0_IRQ);
    assert_int_equal(nvic_best_pending(&r->nvic, &prio), EXC_IRQ0 + USB_LP_CAN1_RX0_IRQ);
    assert_int_equal(prio, 0x80);
    pend_irq(r, 3);
    assert_int_equal(nvic_best_pending(&r->nvic, NULL), EXC_IRQ0 + 3);  /* lower group */
    pend_irq(r, 10);
    assert_int_equal(nvic_best_pending(&r->nvic, &prio), EXC_IRQ0 + 10); /* lower subpriority */
    assert_int_equal(prio, 0x50);
    pend_irq(r, 1);
    assert_int_equal(nvic_best_pending(&r->nvic, NULL), EXC_IRQ0 + 1);  /* lower number */
    assert_int_equal(vectpending(r), EXC_IRQ0 + 1);

    /* with no group bits at all, the whole byte orders them */
    set_prigroup(r, 7);
    set_irq_priority(r, 10, 0x40);
    assert_int_equal(nvic_best_pending(&r->nvic, NULL), EXC_IRQ0 + 10);

    /* a system exception at the same priority as an IRQ wins by its number */
    scs_write8(r, SCB_SHPR_SYSTICK, 0x40);
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTSET);
    assert_int_equal(vectpending(r), EXC_SYSTICK);
}

static void test_execution_priority_with_primask_basepri_and_faultmask(void **state)
{
    struct rig *r = *state;
    struct nvic *n = &r->nvic;

    assert_int_equal(nvic_execution_priority(n, false, 0, false), NO_EXECUTION_PRIORITY);
    assert_int_equal(nvic_execution_priority(n, false, 0x40, false), 0x40);
    assert_int_equal(nvic_execution_priority(n, false, 0x4F, false), 0x40); /* BASEPRI[3:0] absent */
    assert_int_equal(nvic_execution_priority(n, true, 0, false), 0);
    assert_int_equal(nvic_execution_priority(n, true, 0x40, false), 0);
    assert_int_equal(nvic_execution_priority(n, false, 0, true), -1);
    assert_int_equal(nvic_execution_priority(n, true, 0x40, true), -1);

    /* an active handler raises the execution priority to its group priority */
    scs_write8(r, SCB_SHPR_SYSTICK, 0x20);
    scs_write32(r, SCB_SHCSR, SCB_SHCSR_SYSTICKACT);
    assert_int_equal(nvic_active_priority(n), 0x20);
    assert_int_equal(nvic_execution_priority(n, false, 0, false), 0x20);
    assert_int_equal(nvic_execution_priority(n, false, 0x40, false), 0x20);
    assert_int_equal(nvic_execution_priority(n, false, 0x10, false), 0x10);
    assert_int_equal(nvic_execution_priority(n, true, 0, false), 0);

    /* PRIGROUP 4: only bits [7:5] count, for the handler and for BASEPRI */
    set_prigroup(r, 4);
    scs_write8(r, SCB_SHPR_SYSTICK, 0x50);
    assert_int_equal(nvic_execution_priority(n, false, 0, false), 0x40);
    assert_int_equal(nvic_execution_priority(n, false, 0x30, false), 0x20);

    scs_write32(r, SCB_SHCSR, 0);
    assert_int_equal(nvic_execution_priority(n, false, 0, false), NO_EXECUTION_PRIORITY);
}

static void test_priority_bytes_keep_only_the_top_four_bits(void **state)
{
    struct rig *r = *state;
    scs_write32(r, NVIC_IPR0, 0xFFFFFFFFu);
    assert_int_equal(scs_read32(r, NVIC_IPR0), 0xF0F0F0F0u);

    scs_write32(r, NVIC_IPR0 + 4, 0);
    scs_write8(r, NVIC_IPR0 + 5, 0x5A);
    assert_int_equal(scs_read32(r, NVIC_IPR0 + 4), 0x00005000u);
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_IRQ0 + 5), 0x50);

    /* IRQ 43 does not exist on the STM32F103 */
    scs_write32(r, NVIC_IPR10, 0xFFFFFFFFu);
    assert_int_equal(scs_read32(r, NVIC_IPR10), 0x00F0F0F0u);
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_IRQ0 + EXTI15_10_IRQ), 0xF0);

    /* SHPR1: MemManage, BusFault, UsageFault, reserved */
    scs_write32(r, SCB_SHPR1, 0xFFFFFFFFu);
    assert_int_equal(scs_read32(r, SCB_SHPR1), 0x00F0F0F0u);
    /* SHPR2: only SVCall */
    scs_write32(r, SCB_SHPR2, 0xFFFFFFFFu);
    assert_int_equal(scs_read32(r, SCB_SHPR2), 0xF0000000u);
    /* SHPR3: DebugMonitor, reserved, PendSV, SysTick */
    scs_write32(r, SCB_SHPR3, 0xFFFFFFFFu);
    assert_int_equal(scs_read32(r, SCB_SHPR3), 0xF0F000F0u);
    scs_write8(r, SCB_SHPR_SYSTICK, 0xD7);
    assert_int_equal(scs_read32(r, SCB_SHPR3), 0xD0F000F0u);
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_SYSTICK), 0xD0);

    /* the fixed priorities */
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_RESET), -3);
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_NMI), -2);
    assert_int_equal(nvic_exception_priority(&r->nvic, EXC_HARDFAULT), -1);
}

/* ---- AIRCR --------------------------------------------------------------- */

static void test_aircr_write_without_vectkey_is_ignored(void **state)
{
    struct rig *r = *state;
    const uint32_t prigroup3 = 3u << SCB_AIRCR_PRIGROUP_SHIFT;

    assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY);
    scs_write32(r, SCB_AIRCR, prigroup3);
    assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY);
    scs_write32(r, SCB_AIRCR, AIRCR_WITH_KEY(prigroup3));
    assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY | prigroup3);

    /* neither a wrong key nor the read-back key resets or changes PRIGROUP */
    scs_write32(r, SCB_AIRCR, 0x12340000u | SCB_AIRCR_SYSRESETREQ);
    scs_write32(r, SCB_AIRCR, AIRCR_READ_KEY | SCB_AIRCR_SYSRESETREQ);
    assert_false(r->sim.reset_requested);
    assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY | prigroup3);
}

static void test_aircr_sysresetreq_requests_software_reset(void **state)
{
    struct rig *r = *state;
    const uint32_t prigroup4 = 4u << SCB_AIRCR_PRIGROUP_SHIFT;
    set_prigroup(r, 4);
    r->sim.attention = false;
    assert_false(r->sim.reset_requested);

    /* what NVIC_SystemReset writes: the key, PRIGROUP kept, SYSRESETREQ */
    scs_write32(r, SCB_AIRCR, AIRCR_WITH_KEY(prigroup4 | SCB_AIRCR_SYSRESETREQ));
    assert_true(r->sim.reset_requested);
    assert_int_equal(r->sim.reset_cause, RESET_SOFTWARE);
    assert_true(r->sim.attention);
}

/* ---- pending and enable -------------------------------------------------- */

static void test_pending_irq_survives_disable(void **state)
{
    struct rig *r = *state;
    const int irq = USB_LP_CAN1_RX0_IRQ;
    enable_irq(r, irq);
    assert_int_equal(scs_read32(r, NVIC_ISER0), 1u << irq);

    /* a pulse: pending is latched, not the level */
    nvic_irq_in(&r->nvic, irq, true);
    nvic_irq_in(&r->nvic, irq, false);
    assert_true(irq_pending(r, irq));
    assert_int_equal(vectpending(r), EXC_IRQ0 + irq);

    scs_write32(r, NVIC_ICER0, 1u << irq);
    assert_int_equal(scs_read32(r, NVIC_ISER0), 0);
    assert_int_equal(scs_read32(r, NVIC_ICER0), 0);
    assert_true(irq_pending(r, irq));
    assert_int_equal(vectpending(r), 0); /* not eligible while disabled */

    enable_irq(r, irq);
    assert_int_equal(vectpending(r), EXC_IRQ0 + irq);
}

static void test_icpr_clears_pending_unless_line_is_still_high(void **state)
{
    struct rig *r = *state;
    const int irq = EXTI2_IRQ;
    enable_irq(r, irq);

    nvic_irq_in(&r->nvic, irq, true);
    assert_true(irq_pending(r, irq));
    scs_write32(r, NVIC_ICPR0, 1u << irq);
    assert_true(irq_pending(r, irq)); /* the level-sensitive line still asserts it */

    nvic_irq_in(&r->nvic, irq, false);
    assert_true(irq_pending(r, irq)); /* latched */
    scs_write32(r, NVIC_ICPR0, 1u << irq);
    assert_false(irq_pending(r, irq));
    assert_int_equal(vectpending(r), 0);

    nvic_irq_in(&r->nvic, irq, true); /* a new assertion pends again */
    assert_true(irq_pending(r, irq));
}

static void test_stir_pends_the_interrupt_it_names(void **state)
{
    struct rig *r = *state;
    scs_write32(r, NVIC_STIR, TIM1_CC_IRQ);
    assert_int_equal(scs_read32(r, NVIC_ISPR0), 1u << TIM1_CC_IRQ);
    scs_write32(r, NVIC_STIR, EXTI15_10_IRQ);
    assert_int_equal(scs_read32(r, NVIC_ISPR1), 1u << (EXTI15_10_IRQ - 32));
    scs_write32(r, NVIC_STIR, NVIC_NUM_IRQ); /* no such interrupt */
    assert_int_equal(scs_read32(r, NVIC_ISPR1), 1u << (EXTI15_10_IRQ - 32));
    assert_int_equal(scs_read32(r, NVIC_ISER0), 0); /* pends, does not enable */
}

static void test_icsr_reports_and_sets_pendsv_and_systick(void **state)
{
    struct rig *r = *state;
    assert_int_equal(scs_read32(r, SCB_ICSR), 0);

    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSVSET);
    uint32_t icsr = scs_read32(r, SCB_ICSR);
    assert_true(icsr & SCB_ICSR_PENDSVSET);
    assert_false(icsr & SCB_ICSR_PENDSTSET);
    assert_false(icsr & SCB_ICSR_ISRPENDING);
    assert_int_equal(vectpending(r), EXC_PENDSV);

    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTSET);
    icsr = scs_read32(r, SCB_ICSR);
    assert_true(icsr & SCB_ICSR_PENDSVSET);
    assert_true(icsr & SCB_ICSR_PENDSTSET);
    assert_int_equal(vectpending(r), EXC_PENDSV); /* equal priority: lower number */

    /* as the firmware sets them: PendSV lowest, SysTick above it */
    scs_write8(r, SCB_SHPR_PENDSV, 0xF0);
    scs_write8(r, SCB_SHPR_SYSTICK, 0xD0);
    assert_int_equal(vectpending(r), EXC_SYSTICK);

    /* an enabled external interrupt: ISRPENDING, and it wins at priority 0 */
    enable_irq(r, DMA1_CHANNEL5_IRQ);
    pend_irq(r, DMA1_CHANNEL5_IRQ);
    icsr = scs_read32(r, SCB_ICSR);
    assert_true(icsr & SCB_ICSR_ISRPENDING);
    assert_int_equal(vectpending(r), EXC_IRQ0 + DMA1_CHANNEL5_IRQ);
    scs_write32(r, NVIC_ICPR0, 1u << DMA1_CHANNEL5_IRQ);
    assert_false(scs_read32(r, SCB_ICSR) & SCB_ICSR_ISRPENDING);

    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    icsr = scs_read32(r, SCB_ICSR);
    assert_false(icsr & SCB_ICSR_PENDSTSET);
    assert_int_equal(vectpending(r), EXC_PENDSV);
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSVCLR);
    assert_int_equal(scs_read32(r, SCB_ICSR), 0);
}

static void test_shcsr_enables_and_pends_configurable_faults(void **state)
{
    struct rig *r = *state;
    assert_false(nvic_fault_enabled(&r->nvic, EXC_BUSFAULT));

    scs_write32(r, SCB_SHCSR, SCB_SHCSR_BUSFAULTPENDED);
    assert_int_equal(scs_read32(r, SCB_SHCSR), SCB_SHCSR_BUSFAULTPENDED);
    assert_int_equal(vectpending(r), 0); /* disabled: not taken as a BusFault */

    scs_write32(r, SCB_SHCSR, SCB_SHCSR_BUSFAULTPENDED | SCB_SHCSR_BUSFAULTENA |
                                  SCB_SHCSR_USGFAULTENA | SCB_SHCSR_MEMFAULTENA);
    assert_true(nvic_fault_enabled(&r->nvic, EXC_BUSFAULT));
    assert_true(nvic_fault_enabled(&r->nvic, EXC_USAGEFAULT));
    assert_true(nvic_fault_enabled(&r->nvic, EXC_MEMMANAGE));
    assert_int_equal(vectpending(r), EXC_BUSFAULT);
    assert_int_equal(scs_read32(r, SCB_SHCSR), SCB_SHCSR_BUSFAULTPENDED | SCB_SHCSR_BUSFAULTENA |
                                                   SCB_SHCSR_USGFAULTENA | SCB_SHCSR_MEMFAULTENA);

    scs_write32(r, SCB_SHCSR, SCB_SHCSR_USGFAULTENA);
    assert_false(nvic_fault_enabled(&r->nvic, EXC_BUSFAULT));
    assert_int_equal(vectpending(r), 0);
}

static void test_cfsr_bits_are_write_one_to_clear(void **state)
{
    struct rig *r = *state;
    /* what a precise bus fault and an undefined instruction leave behind */
    r->nvic.cfsr = CFSR_PRECISERR | CFSR_BFARVALID | CFSR_UNDEFINSTR | CFSR_DACCVIOL;
    assert_int_equal(scs_read32(r, SCB_CFSR), CFSR_PRECISERR | CFSR_BFARVALID | CFSR_UNDEFINSTR |
                                                  CFSR_DACCVIOL);

    scs_write32(r, SCB_CFSR, 0);
    assert_int_equal(scs_read32(r, SCB_CFSR), CFSR_PRECISERR | CFSR_BFARVALID | CFSR_UNDEFINSTR |
                                                  CFSR_DACCVIOL);
    /* a byte write to BFSR clears only BFSR bits */
    scs_write8(r, SCB_BFSR, (uint8_t)(CFSR_PRECISERR >> 8));
    assert_int_equal(scs_read32(r, SCB_CFSR), CFSR_BFARVALID | CFSR_UNDEFINSTR | CFSR_DACCVIOL);
    scs_write32(r, SCB_CFSR, CFSR_UNDEFINSTR | CFSR_BFARVALID);
    assert_int_equal(scs_read32(r, SCB_CFSR), CFSR_DACCVIOL);
}

/* ---- SysTick ------------------------------------------------------------- */

static void test_systick_pends_every_rvr_plus_one_cycles(void **state)
{
    struct rig *r = *state;
    const uint32_t reload = 9;
    struct pend_times p = {0};
    systick_start(r, reload, SYST_CSR_RUN_ON_CORE_CLOCK);

    collect_systick_pends(r, T0, T0 + 10 * (reload + 1), &p);
    assert_int_equal(p.count, 10);
    for (int k = 0; k < p.count; k++)
        assert_int_equal(p.at[k], T0 + (uint64_t)(k + 1) * (reload + 1));
}

static void test_systick_one_millisecond_tick_at_72_mhz(void **state)
{
    struct rig *r = *state;
    const uint64_t ms = SIM_MS(1);
    systick_start(r, SYST_RELOAD_1MS_AT_72MHZ, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + ms - 1);
    assert_false(systick_pending(r));
    advance_to(r, T0 + ms);
    assert_true(systick_pending(r));
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    advance_to(r, T0 + 2 * ms - 1);
    assert_false(systick_pending(r));
    advance_to(r, T0 + 2 * ms);
    assert_true(systick_pending(r));
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);

    /* a long block: the missed wraps collapse into one pending, the grid stays */
    advance_to(r, T0 + 10 * ms + 5);
    assert_true(systick_pending(r));
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    advance_to(r, T0 + 11 * ms - 1);
    assert_false(systick_pending(r));
    advance_to(r, T0 + 11 * ms);
    assert_true(systick_pending(r));
}

static void test_systick_cvr_counts_down_and_reloads_the_tick_after_zero(void **state)
{
    struct rig *r = *state;
    static const uint32_t expected[] = {0, 4, 3, 2, 1, 0, 4, 3, 2, 1, 0, 4};
    systick_start(r, 4, SYST_CSR_RUN_ON_CORE_CLOCK);

    for (unsigned k = 0; k < sizeof expected / sizeof expected[0]; k++) {
        advance_to(r, T0 + k);
        assert_int_equal(scs_read32(r, SYST_CVR), expected[k]);
    }
}

static void test_systick_countflag_reads_one_once_then_zero(void **state)
{
    struct rig *r = *state;
    const uint32_t reload = 9, period = reload + 1;
    systick_start(r, reload, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + period - 1);
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK);
    advance_to(r, T0 + period);
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK | SYST_CSR_COUNTFLAG);
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK);

    /* a read at the wrap, before the block boundary ran the event, already sees it */
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    r->sim.clock.now = T0 + 2 * period;
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK | SYST_CSR_COUNTFLAG);
    assert_true(systick_pending(r));
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    clock_run_due(&r->sim); /* the same wrap must not count twice */
    assert_false(systick_pending(r));
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK);

    /* a write to CVR clears COUNTFLAG */
    advance_to(r, T0 + 3 * period);
    scs_write32(r, SYST_CVR, 0);
    assert_int_equal(scs_read32(r, SYST_CSR), SYST_CSR_RUN_ON_CORE_CLOCK);
}

static void test_systick_clksource_zero_counts_at_one_eighth(void **state)
{
    struct rig *r = *state;
    const uint32_t reload = 9;
    const uint64_t period = 8u * (reload + 1);
    struct pend_times p = {0};
    systick_start(r, reload, SYST_CSR_RUN_ON_REFERENCE);

    /* whatever the phase of the reference clock: one count every 8 cycles */
    int changes = 0;
    uint32_t previous = scs_read32(r, SYST_CVR);
    for (uint64_t t = T0 + 1; t <= T0 + period; t++) {
        advance_to(r, t);
        uint32_t cvr = scs_read32(r, SYST_CVR);
        assert_true(cvr <= reload);
        if (cvr != previous)
            changes++;
        previous = cvr;
    }
    assert_int_equal(changes, reload + 1);

    /* restart the count and time the wraps */
    const uint64_t t1 = r->sim.clock.now + 3;
    advance_to(r, t1);
    scs_write32(r, SYST_CVR, 0);
    scs_write32(r, SCB_ICSR, SCB_ICSR_PENDSTCLR);
    collect_systick_pends(r, t1, t1 + 3 * period, &p);
    assert_int_equal(p.count, 3);
    for (int k = 0; k < p.count; k++)
        assert_int_equal(p.at[k], t1 + (uint64_t)(k + 1) * period);
}

static void test_systick_cvr_write_restarts_the_count(void **state)
{
    struct rig *r = *state;
    const uint32_t reload = 99;
    struct pend_times p = {0};
    systick_start(r, reload, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + 50);
    assert_int_equal(scs_read32(r, SYST_CVR), 50);
    scs_write32(r, SYST_CVR, 1234); /* any value clears it */
    assert_int_equal(scs_read32(r, SYST_CVR), 0);
    advance_to(r, T0 + 51);
    assert_int_equal(scs_read32(r, SYST_CVR), reload);

    /* the wrap the old count would have reached at T0+100 is gone */
    collect_systick_pends(r, T0 + 51, T0 + 300, &p);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.at[0], T0 + 150);
    assert_int_equal(p.at[1], T0 + 250);
}

static void test_systick_disable_holds_the_count_and_enable_resumes_it(void **state)
{
    struct rig *r = *state;
    const uint32_t reload = 99;
    struct pend_times p = {0};
    systick_start(r, reload, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + 30);
    assert_int_equal(scs_read32(r, SYST_CVR), 70);
    scs_write32(r, SYST_CSR, SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT);
    collect_systick_pends(r, T0 + 31, T0 + 500, &p);
    assert_int_equal(p.count, 0);
    assert_int_equal(scs_read32(r, SYST_CVR), 70);
    assert_int_equal(r->sim.clock.deadline, UINT64_MAX); /* nothing scheduled while stopped */

    scs_write32(r, SYST_CSR, SYST_CSR_RUN_ON_CORE_CLOCK);
    advance_to(r, T0 + 501);
    assert_int_equal(scs_read32(r, SYST_CVR), 69);
    collect_systick_pends(r, T0 + 501, T0 + 700, &p);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.at[0], T0 + 570);
    assert_int_equal(p.at[1], T0 + 670);
}

static void test_systick_larger_rvr_takes_effect_at_the_next_reload(void **state)
{
    struct rig *r = *state;
    struct pend_times p = {0};
    systick_start(r, 99, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + 30);
    scs_write32(r, SYST_RVR, 199);
    assert_int_equal(scs_read32(r, SYST_CVR), 70);
    advance_to(r, T0 + 31);
    assert_int_equal(scs_read32(r, SYST_CVR), 69);
    collect_systick_pends(r, T0 + 31, T0 + 500, &p);
    assert_int_equal(p.count, 3);
    assert_int_equal(p.at[0], T0 + 100);
    assert_int_equal(p.at[1], T0 + 300);
    assert_int_equal(p.at[2], T0 + 500);
}

/*
 * RVR is only the value loaded at the next reload (ARMv7-M B3.3.3): a running
 * count above the new RVR keeps counting down to zero.
 */
static void test_systick_smaller_rvr_takes_effect_at_the_next_reload(void **state)
{
    struct rig *r = *state;
    struct pend_times p = {0};
    systick_start(r, 99, SYST_CSR_RUN_ON_CORE_CLOCK);

    advance_to(r, T0 + 30);
    scs_write32(r, SYST_RVR, 9);
    assert_int_equal(scs_read32(r, SYST_CVR), 70);
    advance_to(r, T0 + 31);
    assert_int_equal(scs_read32(r, SYST_CVR), 69);
    collect_systick_pends(r, T0 + 31, T0 + 130, &p);
    assert_int_equal(p.count, 4);
    assert_int_equal(p.at[0], T0 + 100);
    assert_int_equal(p.at[1], T0 + 110);
    assert_int_equal(p.at[2], T0 + 120);
    assert_int_equal(p.at[3], T0 + 130);
}

static void test_nvic_reset_stops_systick_and_clears_state(void **state)
{
    struct rig *r = *state;
    systick_start(r, 99, SYST_CSR_RUN_ON_CORE_CLOCK);
    set_prigroup(r, 4);
    enable_irq(r, USB_LP_CAN1_RX0_IRQ);
    pend_irq(r, USB_LP_CAN1_RX0_IRQ);
    set_irq_priority(r, USB_LP_CAN1_RX0_IRQ, 0x20);

    nvic_reset(&r->nvic);
    assert_int_equal(scs_read32(r, SYST_CSR), 0);
    assert_int_equal(r->sim.clock.deadline, UINT64_MAX);
    assert_int_equal(scs_read32(r, NVIC_ISER0), 0);
    assert_int_equal(scs_read32(r, NVIC_ISPR0), 0);
    assert_int_equal(scs_read32(r, NVIC_IPR0 + USB_LP_CAN1_RX0_IRQ), 0);
    assert_int_equal(scs_read32(r, SCB_AIRCR), AIRCR_READ_KEY);
    advance_to(r, T0 + 1000);
    assert_false(systick_pending(r));
}

/* ---- DWT CYCCNT ---------------------------------------------------------- */

static void test_cyccnt_counts_only_with_trcena_and_cyccntena(void **state)
{
    struct rig *r = *state;

    dwt_write32(r, DWT_CTRL, DWT_CTRL_CYCCNTENA);
    advance_to(r, T0 + 1000);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), 0); /* the DWT is off without TRCENA */

    scs_write32(r, COREDEBUG_DEMCR, COREDEBUG_DEMCR_TRCENA);
    assert_int_equal(scs_read32(r, COREDEBUG_DEMCR), COREDEBUG_DEMCR_TRCENA);
    advance_to(r, T0 + 1500);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), 500);

    dwt_write32(r, DWT_CTRL, 0);
    advance_to(r, T0 + 4000);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), 500); /* held while stopped */

    dwt_write32(r, DWT_CTRL, DWT_CTRL_CYCCNTENA);
    advance_to(r, T0 + 4100);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), 600);
    assert_true(dwt_read32(r, DWT_CTRL) & DWT_CTRL_CYCCNTENA);

    /* DWT_Init zeroes it; 72 cycles are then one microsecond */
    dwt_write32(r, DWT_CYCCNT, 0);
    advance_to(r, T0 + 4100 + SIM_US(1));
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), SIM_US(1));

    scs_write32(r, COREDEBUG_DEMCR, 0);
    advance_to(r, T0 + 9999);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), SIM_US(1));
}

static void test_cyccnt_wraps_at_32_bits(void **state)
{
    struct rig *r = *state;
    scs_write32(r, COREDEBUG_DEMCR, COREDEBUG_DEMCR_TRCENA);
    dwt_write32(r, DWT_CTRL, DWT_CTRL_CYCCNTENA);
    dwt_write32(r, DWT_CYCCNT, 0xFFFFFFF0u);
    advance_to(r, T0 + 0x20);
    assert_int_equal(dwt_read32(r, DWT_CYCCNT), 0x10);
}

static void test_time_sources_and_side_effect_reads_are_marked(void **state)
{
    struct rig *r = *state;
    scs_write32(r, COREDEBUG_DEMCR, COREDEBUG_DEMCR_TRCENA);
    dwt_write32(r, DWT_CTRL, DWT_CTRL_CYCCNTENA);
    systick_start(r, 99, SYST_CSR_RUN_ON_CORE_CLOCK);

    r->sim.volatile_read = r->sim.time_read = false;
    (void)scs_read32(r, NVIC_ISER0); /* a stable register: a busy-wait on it may be skipped */
    assert_false(r->sim.volatile_read);
    assert_false(r->sim.time_read);
    (void)dwt_read32(r, DWT_CYCCNT); /* a pure time source */
    assert_true(r->sim.time_read);
    assert_false(r->sim.volatile_read);
    r->sim.time_read = false;
    (void)scs_read32(r, SYST_CVR);
    assert_true(r->sim.time_read);
    assert_false(r->sim.volatile_read);
    (void)scs_read32(r, SYST_CSR); /* COUNTFLAG clears on read: a side effect */
    assert_true(r->sim.volatile_read);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, rig_setup, rig_teardown)
        T(test_group_priority_follows_prigroup_for_four_implemented_bits),
        T(test_best_pending_picks_lower_group_then_subpriority_then_number),
        T(test_execution_priority_with_primask_basepri_and_faultmask),
        T(test_priority_bytes_keep_only_the_top_four_bits),
        T(test_aircr_write_without_vectkey_is_ignored),
        T(test_aircr_sysresetreq_requests_software_reset),
        T(test_pending_irq_survives_disable),
        T(test_icpr_clears_pending_unless_line_is_still_high),
        T(test_stir_pends_the_interrupt_it_names),
        T(test_icsr_reports_and_sets_pendsv_and_systick),
        T(test_shcsr_enables_and_pends_configurable_faults),
        T(test_cfsr_bits_are_write_one_to_clear),
        T(test_systick_pends_every_rvr_plus_one_cycles),
        T(test_systick_one_millisecond_tick_at_72_mhz),
        T(test_systick_cvr_counts_down_and_reloads_the_tick_after_zero),
        T(test_systick_countflag_reads_one_once_then_zero),
        T(test_systick_clksource_zero_counts_at_one_eighth),
        T(test_systick_cvr_write_restarts_the_count),
        T(test_systick_disable_holds_the_count_and_enable_resumes_it),
        T(test_systick_larger_rvr_takes_effect_at_the_next_reload),
        T(test_systick_smaller_rvr_takes_effect_at_the_next_reload),
        T(test_nvic_reset_stops_systick_and_clears_state),
        T(test_cyccnt_counts_only_with_trcena_and_cyccntena),
        T(test_cyccnt_wraps_at_32_bits),
        T(test_time_sources_and_side_effect_reads_are_marked),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
