/*
 * nvic.h - the ARMv7-M System Control Space as the STM32F103 implements it:
 * NVIC (43 external lines, 4 priority bits), SCB, SysTick, and the debug
 * blocks the firmware uses for timing (DWT CYCCNT, CoreDebug DEMCR).
 *
 * Design decision: exception state (enabled/pending/active) is kept as 64-bit
 * masks indexed by exception number, so "the best pending exception" and
 * "the execution priority" are a few bit scans. This file holds the state and
 * the register interface; exception.c moves the CPU in and out of handlers.
 */
#ifndef EMU_NVIC_H
#define EMU_NVIC_H

#include "sim.h"
#include "bus.h"

#include <stdbool.h>
#include <stdint.h>

#define NVIC_NUM_IRQ 43                  /* STM32F103 medium density */
#define NVIC_NUM_EXC (16 + NVIC_NUM_IRQ) /* exception numbers 0..58 */
#define NVIC_PRIO_BITS 4
#define NVIC_PRIO_MASK 0xF0u

/* ARMv7-M exception numbers */
enum {
    EXC_RESET = 1,
    EXC_NMI = 2,
    EXC_HARDFAULT = 3,
    EXC_MEMMANAGE = 4,
    EXC_BUSFAULT = 5,
    EXC_USAGEFAULT = 6,
    EXC_SVCALL = 11,
    EXC_DEBUGMONITOR = 12,
    EXC_PENDSV = 14,
    EXC_SYSTICK = 15,
    EXC_IRQ0 = 16,
};

/* SCB register bits (ARMv7-M ARM B3.2) */
#define SCB_ICSR_VECTACTIVE_MASK 0x1FFu
#define SCB_ICSR_RETTOBASE (1u << 11)
#define SCB_ICSR_VECTPENDING_SHIFT 12
#define SCB_ICSR_ISRPENDING (1u << 22)
#define SCB_ICSR_PENDSTCLR (1u << 25)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSVCLR (1u << 27)
#define SCB_ICSR_PENDSVSET (1u << 28)
#define SCB_ICSR_NMIPENDSET (1u << 31)
#define SCB_AIRCR_VECTKEY 0x05FAu
#define SCB_AIRCR_VECTKEYSTAT 0xFA05u
#define SCB_AIRCR_VECTRESET (1u << 0)
#define SCB_AIRCR_VECTCLRACTIVE (1u << 1)
#define SCB_AIRCR_SYSRESETREQ (1u << 2)
#define SCB_AIRCR_PRIGROUP_SHIFT 8
#define SCB_SCR_SLEEPONEXIT (1u << 1)
#define SCB_SCR_SLEEPDEEP (1u << 2)
#define SCB_SCR_SEVONPEND (1u << 4)
#define SCB_CCR_NONBASETHRDENA (1u << 0)
#define SCB_CCR_USERSETMPEND (1u << 1)
#define SCB_CCR_UNALIGN_TRP (1u << 3)
#define SCB_CCR_DIV_0_TRP (1u << 4)
#define SCB_CCR_BFHFNMIGN (1u << 8)
#define SCB_CCR_STKALIGN (1u << 9)
#define SCB_SHCSR_MEMFAULTACT (1u << 0)
#define SCB_SHCSR_BUSFAULTACT (1u << 1)
#define SCB_SHCSR_USGFAULTACT (1u << 3)
#define SCB_SHCSR_SVCALLACT (1u << 7)
#define SCB_SHCSR_MONITORACT (1u << 8)
#define SCB_SHCSR_PENDSVACT (1u << 10)
#define SCB_SHCSR_SYSTICKACT (1u << 11)
#define SCB_SHCSR_USGFAULTPENDED (1u << 12)
#define SCB_SHCSR_MEMFAULTPENDED (1u << 13)
#define SCB_SHCSR_BUSFAULTPENDED (1u << 14)
#define SCB_SHCSR_SVCALLPENDED (1u << 15)
#define SCB_SHCSR_MEMFAULTENA (1u << 16)
#define SCB_SHCSR_BUSFAULTENA (1u << 17)
#define SCB_SHCSR_USGFAULTENA (1u << 18)
/* CFSR = MMFSR | BFSR << 8 | UFSR << 16 */
#define CFSR_IACCVIOL (1u << 0)
#define CFSR_DACCVIOL (1u << 1)
#define CFSR_MUNSTKERR (1u << 3)
#define CFSR_MSTKERR (1u << 4)
#define CFSR_MMARVALID (1u << 7)
#define CFSR_IBUSERR (1u << 8)
#define CFSR_PRECISERR (1u << 9)
#define CFSR_IMPRECISERR (1u << 10)
#define CFSR_UNSTKERR (1u << 11)
#define CFSR_STKERR (1u << 12)
#define CFSR_BFARVALID (1u << 15)
#define CFSR_UNDEFINSTR (1u << 16)
#define CFSR_INVSTATE (1u << 17)
#define CFSR_INVPC (1u << 18)
#define CFSR_NOCP (1u << 19)
#define CFSR_UNALIGNED (1u << 24)
#define CFSR_DIVBYZERO (1u << 25)
#define HFSR_VECTTBL (1u << 1)
#define HFSR_FORCED (1u << 30)
#define HFSR_DEBUGEVT (1u << 31)
/* SysTick */
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_CSR_COUNTFLAG (1u << 16)
/* DWT / CoreDebug */
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define COREDEBUG_DEMCR_TRCENA (1u << 24)

/* Cortex-M3 r1p1 as in the STM32F103 */
#define SCB_CPUID_VALUE 0x411FC231u

struct nvic {
    struct sim *sim;

    uint64_t enabled; /* bit n: exception n may be taken (IRQs: ISER; faults: SHCSR) */
    uint64_t pending;
    uint64_t active;
    uint64_t level;   /* IRQ input levels (level-sensitive lines re-pend) */
    uint8_t priority[NVIC_NUM_EXC];

    uint32_t vtor;
    uint32_t prigroup;
    uint32_t scr, ccr;
    bool event; /* SCR.SEVONPEND: an exception became pending (a WFE wake-up event) */
    uint32_t cfsr, hfsr, dfsr, mmfar, bfar, afsr;

    /* SysTick: the counter is derived from virtual time */
    uint32_t syst_csr, syst_rvr;
    uint64_t syst_epoch; /* HCLK cycle at which the counter last (re)loaded from RVR */
    uint64_t syst_next;  /* HCLK cycle of the wrap syst_event stands for */
    bool syst_countflag;
    bool syst_running;
    uint32_t syst_stopped_value; /* CVR while the counter is disabled */
    bool syst_paused;            /* frozen by Stop mode */
    struct event syst_event;

    /* DWT CYCCNT = cyccnt_base + (HCLK cycles now - cyccnt_epoch) while enabled */
    uint32_t dwt_ctrl;
    uint32_t cyccnt_base;
    uint64_t cyccnt_epoch;
    uint32_t demcr;

    /* IPSR as the CPU last set it (kept here so ICSR.VECTACTIVE can be read). */
    int ipsr;

};

void nvic_init(struct nvic *nvic, struct sim *sim);
void nvic_reset(struct nvic *nvic);
extern const struct mmio_ops nvic_scs_mmio; /* 0xE000E000, 4 KiB */
extern const struct mmio_ops nvic_dwt_mmio; /* 0xE0001000, 4 KiB */

/* An NVIC input: n = IRQ number (0..42). Level-sensitive, latched on the rising level. */
void nvic_irq_in(void *opaque, int irq, bool level);
static inline struct line nvic_irq_line(struct nvic *nvic, int irq)
{
    return line_to(nvic_irq_in, nvic, irq);
}

void nvic_set_pending(struct nvic *nvic, int exc);
void nvic_clear_pending(struct nvic *nvic, int exc);

/* Priorities: Reset -3, NMI -2, HardFault -1, others 0..255 */
int nvic_exception_priority(const struct nvic *nvic, int exc);
int nvic_group_priority(const struct nvic *nvic, int priority);
/* Execution priority given the special-purpose mask registers (B1.5.4). */
int nvic_execution_priority(const struct nvic *nvic, bool primask, uint32_t basepri, bool faultmask);
/* Execution priority from active exceptions only (masks ignored). */
int nvic_active_priority(const struct nvic *nvic);
/* Highest-priority pending and enabled exception, or 0. *prio gets its priority. */
int nvic_best_pending(const struct nvic *nvic, int *prio);
/* Number of active exceptions (for RETTOBASE / NONBASETHRDENA). */
int nvic_active_count(const struct nvic *nvic);
uint32_t nvic_read_icsr(const struct nvic *nvic);

/* Is the configurable fault enabled (SHCSR.xxxENA)? */
bool nvic_fault_enabled(const struct nvic *nvic, int exc);

/* Stop mode freezes SysTick (its clock stops) and resumes it where it was. */
void nvic_systick_pause(struct nvic *nvic, bool paused);
/* HCLK changed (sim_set_hclk): move the next SysTick wrap to its new time. */
void nvic_hclk_changed(struct nvic *nvic);

/* Snapshots (snapshot.h): the NVIC's state, field by field. */
struct snap_writer;
struct snap_reader;
void nvic_save(const struct nvic *d, struct snap_writer *w);
void nvic_load(struct nvic *d, struct snap_reader *r);

#endif
