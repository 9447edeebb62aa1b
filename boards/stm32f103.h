/*
 * stm32f103.h - the STM32F103CB as a chip: every on-chip block, mapped at its
 * RM0008 address and wired to its neighbours (interrupt lines into the NVIC,
 * GPIO through AFIO to EXTI, DMA requests, the clock tree, the backup domain).
 * Nothing here knows about any board.
 */
#ifndef BOARDS_STM32F103_H
#define BOARDS_STM32F103_H

#include "emu/machine.h"
#include "peripherals/stm32f1/adc.h"
#include "peripherals/stm32f1/afio.h"
#include "peripherals/stm32f1/bkp.h"
#include "peripherals/stm32f1/crc.h"
#include "peripherals/stm32f1/dbgmcu.h"
#include "peripherals/stm32f1/dma.h"
#include "peripherals/stm32f1/exti.h"
#include "peripherals/stm32f1/flash.h"
#include "peripherals/stm32f1/gpio.h"
#include "peripherals/stm32f1/iwdg.h"
#include "peripherals/stm32f1/pwr.h"
#include "peripherals/stm32f1/rcc.h"
#include "peripherals/stm32f1/rtc.h"
#include "peripherals/stm32f1/spi.h"
#include "peripherals/stm32f1/tim.h"
#include "peripherals/stm32f1/usart.h"
#include "peripherals/stm32f1/usb.h"

enum { GPIO_PORT_A = 0, GPIO_PORT_B, GPIO_PORT_C, GPIO_PORTS };

struct stm32f103 {
    struct machine *m;
    struct stm32_rcc rcc;
    struct stm32_flash flash;
    struct stm32_gpio gpio[GPIO_PORTS];
    struct stm32_afio afio;
    struct stm32_exti exti;
    struct stm32_bkp bkp;
    struct stm32_pwr pwr;
    struct stm32_rtc rtc;
    struct stm32_iwdg iwdg;
    struct stm32_dbgmcu dbgmcu;
    struct stm32_crc crc;
    struct stm32_tim tim1, tim2, tim3, tim4;
    struct stm32_spi spi1, spi2;
    struct stm32_dma dma1;
    struct stm32_usart usart1, usart2;
    struct stm32_adc adc1, adc2;
    struct stm32_usb usb; /* the host controller drives it through stm32_usb_device_ops */
    bool adc_irq[2]; /* ADC1 and ADC2 share NVIC line 18 */
    bool wakeup_event; /* a WKUP/RTC-alarm wake-up from Standby is under way (PWR_CSR.WUF) */
};

/* Create every block on machine `m` and wire the chip. The option bytes live in m->sysmem. */
int stm32f103_init(struct stm32f103 *soc, struct machine *m, char *err, size_t errlen);
/* WFI/WFE with SLEEPDEEP: PWR_CR.PDDS selects Standby, else Stop. */
enum sleep_kind stm32f103_deep_sleep_kind(struct stm32f103 *soc);
/* The chip's own state beyond its blocks' (shared interrupt lines, a wake-up under way), both directions. */
struct snap_io;
void stm32f103_snapshot(struct stm32f103 *soc, struct snap_io *io);
/* After every chip reset (a Standby wake-up sets PWR_CSR.SBF and WUF). */
void stm32f103_reset_done(struct stm32f103 *soc, enum reset_cause cause);

#endif
