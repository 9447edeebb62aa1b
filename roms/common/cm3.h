/*
 * cm3.h - the Cortex-M3 system registers and special-register instructions the
 * test ROMs poke, named as in the ARMv7-M Architecture Reference Manual (B3.2
 * SCS, B3.3 SysTick, B3.4 NVIC, C1.8 DWT) and, for the two STM32 registers the
 * ROMs need, as in RM0008.
 *
 * Design decision: plain volatile-pointer macros and static inline wrappers,
 * no CMSIS, so each ROM states exactly which accesses it makes and the header
 * carries no code that a test did not ask for.
 */
#ifndef ROM_CM3_H
#define ROM_CM3_H

#include <stdbool.h>
#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))

/* ---- System control block (B3.2.2) ---- */
#define SCB_CPUID REG32(0xE000ED00u)
#define SCB_ICSR REG32(0xE000ED04u)
#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_SCR REG32(0xE000ED10u)
#define SCB_CCR REG32(0xE000ED14u)
#define SCB_SHPR_BYTE(exc) REG8(0xE000ED18u + (uint32_t)(exc) - 4u) /* exc 4..15 */
#define SCB_SHCSR REG32(0xE000ED24u)
#define SCB_CFSR REG32(0xE000ED28u)
#define SCB_HFSR REG32(0xE000ED2Cu)
#define SCB_MMFAR REG32(0xE000ED34u)
#define SCB_BFAR REG32(0xE000ED38u)

#define ICSR_VECTACTIVE_MASK 0x1FFu
#define ICSR_RETTOBASE (1u << 11)
#define ICSR_VECTPENDING_SHIFT 12
#define ICSR_VECTPENDING_MASK (0x1FFu << ICSR_VECTPENDING_SHIFT)
#define ICSR_ISRPENDING (1u << 22)
#define ICSR_PENDSTCLR (1u << 25)
#define ICSR_PENDSTSET (1u << 26)
#define ICSR_PENDSVCLR (1u << 27)
#define ICSR_PENDSVSET (1u << 28)
#define ICSR_NMIPENDSET (1u << 31)

#define AIRCR_VECTKEY (0x05FAu << 16)
#define AIRCR_VECTKEYSTAT (0xFA05u << 16)
#define AIRCR_VECTKEY_MASK (0xFFFFu << 16)
#define AIRCR_SYSRESETREQ (1u << 2)
#define AIRCR_PRIGROUP_SHIFT 8
#define AIRCR_PRIGROUP_MASK (7u << AIRCR_PRIGROUP_SHIFT)

#define SCR_SLEEPONEXIT (1u << 1)
#define SCR_SEVONPEND (1u << 4)

#define CCR_UNALIGN_TRP (1u << 3)
#define CCR_DIV_0_TRP (1u << 4)
#define CCR_STKALIGN (1u << 9)

#define SHCSR_MEMFAULTACT (1u << 0)
#define SHCSR_BUSFAULTACT (1u << 1)
#define SHCSR_USGFAULTACT (1u << 3)
#define SHCSR_SVCALLACT (1u << 7)
#define SHCSR_PENDSVACT (1u << 10)
#define SHCSR_SYSTICKACT (1u << 11)
#define SHCSR_MEMFAULTENA (1u << 16)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)

/* CFSR = UFSR:BFSR:MMFSR; bit positions within the 32-bit CFSR */
#define CFSR_IBUSERR (1u << 8)
#define CFSR_PRECISERR (1u << 9)
#define CFSR_IMPRECISERR (1u << 10)
#define CFSR_BFARVALID (1u << 15)
#define CFSR_UNDEFINSTR (1u << 16)
#define CFSR_INVSTATE (1u << 17)
#define CFSR_INVPC (1u << 18)
#define CFSR_NOCP (1u << 19)
#define CFSR_UNALIGNED (1u << 24)
#define CFSR_DIVBYZERO (1u << 25)

#define HFSR_VECTTBL (1u << 1)
#define HFSR_FORCED (1u << 30)

/* ---- SysTick (B3.3) ---- */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CALIB REG32(0xE000E01Cu)

#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_CSR_COUNTFLAG (1u << 16)
#define SYST_RVR_RELOAD_MASK 0x00FFFFFFu

/* ---- NVIC (B3.4) ---- */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_IABR(n) REG32(0xE000E300u + 4u * (n))
#define NVIC_IPR_BYTE(irq) REG8(0xE000E400u + (irq))
#define NVIC_STIR REG32(0xE000EF00u)

/* ---- Debug: DEMCR (C1.6.5) and DWT (C1.8) ---- */
#define DEMCR REG32(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL REG32(0xE0001000u)
#define DWT_CYCCNT REG32(0xE0001004u)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_CTRL_NOCYCCNT (1u << 25)

/* ---- Bit-band (B3.1.3) ---- */
#define SRAM_BASE 0x20000000u
#define SRAM_BB_BASE 0x22000000u
#define PERIPH_BASE 0x40000000u
#define PERIPH_BB_BASE 0x42000000u
#define BITBAND_ALIAS(region, alias_base, addr, bit) \
    ((alias_base) + (((uint32_t)(addr) - (region)) << 5) + ((uint32_t)(bit) << 2))

/* ---- Exception numbers (B1.5.2) and EXC_RETURN values (B1.5.8) ---- */
enum exception_number {
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

#define EXC_RETURN_HANDLER_MSP 0xFFFFFFF1u
#define EXC_RETURN_THREAD_MSP 0xFFFFFFF9u
#define EXC_RETURN_THREAD_PSP 0xFFFFFFFDu

#define XPSR_T (1u << 24)
#define XPSR_STACK_ALIGN (1u << 9) /* stacked xPSR only: a pad word was inserted */

#define CONTROL_NPRIV (1u << 0)
#define CONTROL_SPSEL (1u << 1)

/* The eight words pushed on exception entry, lowest address first. */
struct exception_frame {
    uint32_t r0, r1, r2, r3, r12, lr, pc, xpsr;
};

/* ---- Special registers ---- */
#define DEFINE_MRS(name, reg)                                   \
    static inline uint32_t get_##name(void)                     \
    {                                                           \
        uint32_t value;                                         \
        __asm volatile("mrs %0, " #reg : "=r"(value)::"memory"); \
        return value;                                           \
    }
#define DEFINE_MSR(name, reg)                                    \
    static inline void set_##name(uint32_t value)                \
    {                                                            \
        __asm volatile("msr " #reg ", %0" ::"r"(value) : "memory"); \
    }

DEFINE_MRS(primask, primask)
DEFINE_MSR(primask, primask)
DEFINE_MRS(basepri, basepri)
DEFINE_MSR(basepri, basepri)
DEFINE_MSR(basepri_max, basepri_max)
DEFINE_MRS(faultmask, faultmask)
DEFINE_MSR(faultmask, faultmask)
DEFINE_MRS(control, control)
DEFINE_MRS(psp, psp)
DEFINE_MSR(psp, psp)
DEFINE_MRS(msp, msp)
DEFINE_MRS(ipsr, ipsr)
DEFINE_MRS(xpsr, xpsr)

/* Architecturally an ISB must follow a CONTROL write before relying on it. */
static inline void set_control(uint32_t value)
{
    __asm volatile("msr control, %0\n\tisb" ::"r"(value) : "memory");
}

static inline uint32_t get_sp(void)
{
    uint32_t value;
    __asm volatile("mov %0, sp" : "=r"(value));
    return value;
}

static inline void dsb(void) { __asm volatile("dsb" ::: "memory"); }
static inline void isb(void) { __asm volatile("isb" ::: "memory"); }
static inline void wfi(void) { __asm volatile("wfi" ::: "memory"); }
static inline void cpsid_i(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void cpsie_i(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void cpsid_f(void) { __asm volatile("cpsid f" ::: "memory"); }
static inline void cpsie_f(void) { __asm volatile("cpsie f" ::: "memory"); }

/*
 * After a write that makes an exception pending or unmasks one, DSB makes the
 * write reach the NVIC and ISB makes the next instruction see its effect: any
 * exception that can now preempt has been taken once this returns (B1.5.4).
 */
static inline void barrier_take_pending(void)
{
    dsb();
    isb();
}

/* ---- NVIC and system-handler helpers ---- */
/* The set/clear/status registers hold one bit per IRQ, 32 IRQs per word. */
#define NVIC_WORD(irq) ((irq) / 32u)
#define NVIC_BIT(irq) (1u << ((irq) % 32u))

static inline void nvic_enable(unsigned irq) { NVIC_ISER(NVIC_WORD(irq)) = NVIC_BIT(irq); }
static inline void nvic_disable(unsigned irq) { NVIC_ICER(NVIC_WORD(irq)) = NVIC_BIT(irq); }
static inline void nvic_set_pending(unsigned irq) { NVIC_ISPR(NVIC_WORD(irq)) = NVIC_BIT(irq); }
static inline void nvic_clear_pending(unsigned irq) { NVIC_ICPR(NVIC_WORD(irq)) = NVIC_BIT(irq); }
static inline bool nvic_is_enabled(unsigned irq)
{
    return NVIC_ISER(NVIC_WORD(irq)) & NVIC_BIT(irq);
}
static inline bool nvic_is_pending(unsigned irq)
{
    return NVIC_ISPR(NVIC_WORD(irq)) & NVIC_BIT(irq);
}
static inline bool nvic_is_active(unsigned irq)
{
    return NVIC_IABR(NVIC_WORD(irq)) & NVIC_BIT(irq);
}
static inline void nvic_set_priority(unsigned irq, uint8_t priority)
{
    NVIC_IPR_BYTE(irq) = priority;
}
static inline void scb_set_priority(enum exception_number exc, uint8_t priority)
{
    SCB_SHPR_BYTE(exc) = priority;
}

static inline unsigned icsr_vectactive(void) { return SCB_ICSR & ICSR_VECTACTIVE_MASK; }
static inline unsigned icsr_vectpending(void)
{
    return (SCB_ICSR & ICSR_VECTPENDING_MASK) >> ICSR_VECTPENDING_SHIFT;
}

/* AIRCR ignores any write without VECTKEY; the other writable bits are actions. */
static inline void aircr_set_prigroup(unsigned prigroup)
{
    SCB_AIRCR = AIRCR_VECTKEY | ((uint32_t)prigroup << AIRCR_PRIGROUP_SHIFT);
}

#endif
