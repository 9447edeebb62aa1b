/*
 * startup.c - the vector table, reset entry and default exception handler of
 * every test ROM.
 *
 * Design decision: the table is complete (16 system entries plus the 43
 * STM32F103 IRQs) and every handler is a weak alias of one default handler
 * that reports which exception it caught and exits 1. A ROM overrides exactly
 * the handlers its test expects; any other exception is a failure with a
 * message, never a silent hang or a jump into an unrelated handler.
 */
#include "rom.h"

#include <stddef.h>

extern uint32_t __stack_top[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))

void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;

/* IRQ names as in RM0008 table 63 (medium-density devices). */
void WWDG_IRQHandler(void) WEAK_DEFAULT;
void PVD_IRQHandler(void) WEAK_DEFAULT;
void TAMPER_IRQHandler(void) WEAK_DEFAULT;
void RTC_IRQHandler(void) WEAK_DEFAULT;
void FLASH_IRQHandler(void) WEAK_DEFAULT;
void RCC_IRQHandler(void) WEAK_DEFAULT;
void EXTI0_IRQHandler(void) WEAK_DEFAULT;
void EXTI1_IRQHandler(void) WEAK_DEFAULT;
void EXTI2_IRQHandler(void) WEAK_DEFAULT;
void EXTI3_IRQHandler(void) WEAK_DEFAULT;
void EXTI4_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel1_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel2_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel3_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel4_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel5_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel6_IRQHandler(void) WEAK_DEFAULT;
void DMA1_Channel7_IRQHandler(void) WEAK_DEFAULT;
void ADC1_2_IRQHandler(void) WEAK_DEFAULT;
void USB_HP_CAN1_TX_IRQHandler(void) WEAK_DEFAULT;
void USB_LP_CAN1_RX0_IRQHandler(void) WEAK_DEFAULT;
void CAN1_RX1_IRQHandler(void) WEAK_DEFAULT;
void CAN1_SCE_IRQHandler(void) WEAK_DEFAULT;
void EXTI9_5_IRQHandler(void) WEAK_DEFAULT;
void TIM1_BRK_IRQHandler(void) WEAK_DEFAULT;
void TIM1_UP_IRQHandler(void) WEAK_DEFAULT;
void TIM1_TRG_COM_IRQHandler(void) WEAK_DEFAULT;
void TIM1_CC_IRQHandler(void) WEAK_DEFAULT;
void TIM2_IRQHandler(void) WEAK_DEFAULT;
void TIM3_IRQHandler(void) WEAK_DEFAULT;
void TIM4_IRQHandler(void) WEAK_DEFAULT;
void I2C1_EV_IRQHandler(void) WEAK_DEFAULT;
void I2C1_ER_IRQHandler(void) WEAK_DEFAULT;
void I2C2_EV_IRQHandler(void) WEAK_DEFAULT;
void I2C2_ER_IRQHandler(void) WEAK_DEFAULT;
void SPI1_IRQHandler(void) WEAK_DEFAULT;
void SPI2_IRQHandler(void) WEAK_DEFAULT;
void USART1_IRQHandler(void) WEAK_DEFAULT;
void USART2_IRQHandler(void) WEAK_DEFAULT;
void USART3_IRQHandler(void) WEAK_DEFAULT;
void EXTI15_10_IRQHandler(void) WEAK_DEFAULT;
void RTCAlarm_IRQHandler(void) WEAK_DEFAULT;
void USBWakeUp_IRQHandler(void) WEAK_DEFAULT;

#define VECTOR(fn) ((uintptr_t)(fn))

__attribute__((section(".vectors"), used)) const uintptr_t rom_vectors[ROM_NUM_VECTORS] = {
    VECTOR(__stack_top),
    VECTOR(Reset_Handler),
    VECTOR(NMI_Handler),
    VECTOR(HardFault_Handler),
    VECTOR(MemManage_Handler),
    VECTOR(BusFault_Handler),
    VECTOR(UsageFault_Handler),
    0, 0, 0, 0, /* reserved */
    VECTOR(SVC_Handler),
    VECTOR(DebugMon_Handler),
    0, /* reserved */
    VECTOR(PendSV_Handler),
    VECTOR(SysTick_Handler),
    VECTOR(WWDG_IRQHandler),
    VECTOR(PVD_IRQHandler),
    VECTOR(TAMPER_IRQHandler),
    VECTOR(RTC_IRQHandler),
    VECTOR(FLASH_IRQHandler),
    VECTOR(RCC_IRQHandler),
    VECTOR(EXTI0_IRQHandler),
    VECTOR(EXTI1_IRQHandler),
    VECTOR(EXTI2_IRQHandler),
    VECTOR(EXTI3_IRQHandler),
    VECTOR(EXTI4_IRQHandler),
    VECTOR(DMA1_Channel1_IRQHandler),
    VECTOR(DMA1_Channel2_IRQHandler),
    VECTOR(DMA1_Channel3_IRQHandler),
    VECTOR(DMA1_Channel4_IRQHandler),
    VECTOR(DMA1_Channel5_IRQHandler),
    VECTOR(DMA1_Channel6_IRQHandler),
    VECTOR(DMA1_Channel7_IRQHandler),
    VECTOR(ADC1_2_IRQHandler),
    VECTOR(USB_HP_CAN1_TX_IRQHandler),
    VECTOR(USB_LP_CAN1_RX0_IRQHandler),
    VECTOR(CAN1_RX1_IRQHandler),
    VECTOR(CAN1_SCE_IRQHandler),
    VECTOR(EXTI9_5_IRQHandler),
    VECTOR(TIM1_BRK_IRQHandler),
    VECTOR(TIM1_UP_IRQHandler),
    VECTOR(TIM1_TRG_COM_IRQHandler),
    VECTOR(TIM1_CC_IRQHandler),
    VECTOR(TIM2_IRQHandler),
    VECTOR(TIM3_IRQHandler),
    VECTOR(TIM4_IRQHandler),
    VECTOR(I2C1_EV_IRQHandler),
    VECTOR(I2C1_ER_IRQHandler),
    VECTOR(I2C2_EV_IRQHandler),
    VECTOR(I2C2_ER_IRQHandler),
    VECTOR(SPI1_IRQHandler),
    VECTOR(SPI2_IRQHandler),
    VECTOR(USART1_IRQHandler),
    VECTOR(USART2_IRQHandler),
    VECTOR(USART3_IRQHandler),
    VECTOR(EXTI15_10_IRQHandler),
    VECTOR(RTCAlarm_IRQHandler),
    VECTOR(USBWakeUp_IRQHandler),
};

void Reset_Handler(void)
{
    /* Word loops through volatile pointers: the compiler must not turn
     * them into library calls that would run before .data exists. */
    volatile uint32_t *dst = __data_start;
    const volatile uint32_t *src = __data_load;
    while (dst < __data_end)
        *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end;)
        *dst++ = 0;

    semihost_exit((uint32_t)main());
}

HANDLER_WITH_FRAME(Default_Handler, default_handler_report)

void default_handler_report(struct exception_frame *frame, uint32_t exc_return)
{
    unsigned exception = get_ipsr() & ICSR_VECTACTIVE_MASK;

    /* The stack may be where the fault happened: report only what is safe to read. */
    uint32_t sp = (uintptr_t)frame;
    bool frame_in_ram = sp >= SRAM_BASE && sp + sizeof *frame <= (uintptr_t)__stack_top;
    fail("unexpected exception %u (EXC_RETURN 0x%08x, stacked PC 0x%08x, CFSR 0x%08x, HFSR 0x%08x)",
         exception, (unsigned)exc_return, frame_in_ram ? (unsigned)frame->pc : 0u,
         (unsigned)SCB_CFSR, (unsigned)SCB_HFSR);
}
