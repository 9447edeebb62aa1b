/*
 * vectors.c - the boot ROM's vector table at 0x08000000, its reset entry, and
 * the handlers of every exception the ROM does not use itself.
 *
 * Design decision: no entry is ever 0 or a trap. Firmware runs with VTOR
 * still at 0x08000000 until it moves it, and flash is aliased at address 0,
 * so this table is also what a null pointer points into: Device OS 0.7.0 calls
 * a virtual function through a null vtable pointer from its SysTick handler,
 * i.e. it calls the word at 0x2C (SVCall) as a C function. Every unused entry,
 * reserved ones included, is therefore a function that simply returns, which
 * is right both as an exception handler (BX LR with EXC_RETURN) and as a
 * called function. Fault handlers return too when they are merely called.
 */
#include "boot.h"

extern uint32_t __stack_top[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void USB_LP_CAN1_RX0_IRQHandler(void);

#define CM3_SYSTEM_VECTORS 16u
#define STM32F103_MD_IRQS 43u
#define VECTOR_COUNT (CM3_SYSTEM_VECTORS + STM32F103_MD_IRQS)

/* SVCall, PendSV, DebugMon, NMI, reserved entries and every IRQ. */
void Unused_Handler(void) {}

/*
 * A real fault in the ROM stops it where it is, as on the original (a
 * running watchdog still resets the chip). Reached through a call, with some
 * other exception or none active, it is just a function and returns.
 */
void Fault_Handler(void)
{
    unsigned active = get_ipsr() & ICSR_VECTACTIVE_MASK;

    if (active < EXC_HARDFAULT || active > EXC_USAGEFAULT)
        return;
    for (;;)
        wfi();
}

#define VECTOR(fn) ((uintptr_t)(fn))
#define UNUSED VECTOR(Unused_Handler)

__attribute__((section(".vectors"), used)) const uintptr_t boot_vectors[VECTOR_COUNT] = {
    [0] = VECTOR(__stack_top),
    [EXC_RESET] = VECTOR(Reset_Handler),
    [EXC_NMI] = UNUSED,
    [EXC_HARDFAULT] = VECTOR(Fault_Handler),
    [EXC_MEMMANAGE] = VECTOR(Fault_Handler),
    [EXC_BUSFAULT] = VECTOR(Fault_Handler),
    [EXC_USAGEFAULT] = VECTOR(Fault_Handler),
    [7] = UNUSED, [8] = UNUSED, [9] = UNUSED, [10] = UNUSED, /* reserved */
    [EXC_SVCALL] = UNUSED,
    [EXC_DEBUGMONITOR] = UNUSED,
    [13] = UNUSED, /* reserved */
    [EXC_PENDSV] = UNUSED,
    [EXC_SYSTICK] = VECTOR(SysTick_Handler),
    /* IRQ 0..42 (RM0008 table 63); DFU mode takes the USB low-priority one. */
    [EXC_IRQ0 ... EXC_IRQ0 + USB_LP_CAN1_RX0_IRQn - 1] = UNUSED,
    [EXC_IRQ0 + USB_LP_CAN1_RX0_IRQn] = VECTOR(USB_LP_CAN1_RX0_IRQHandler),
    [EXC_IRQ0 + USB_LP_CAN1_RX0_IRQn + 1 ... VECTOR_COUNT - 1] = UNUSED,
};

void Reset_Handler(void)
{
    const uint32_t *from = __data_load;

    for (uint32_t *to = __data_start; to < __data_end; to++)
        *to = *from++;
    for (uint32_t *to = __bss_start; to < __bss_end; to++)
        *to = 0;
    main();
    for (;;)
        wfi();
}
