/*
 * clock.c - the Spark Core's clock set-up for ROMs that want the 72 MHz core
 * the firmware runs at: what SystemInit does (HSE 8 MHz x 9 on the PLL, flash
 * latency 2, APB1 /2).
 *
 * Design decision: every wait is bounded, and a platform whose RCC never
 * answers (qemu's stm32vldiscovery has none) leaves the clocks as they are:
 * the caller learns it from the return value, as from cyccnt_start().
 */
#include "rom.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021004u)
#define FLASH_ACR REG(0x40022000u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_PPRE1_DIV2 (4u << 8)
#define RCC_CFGR_PLLSRC_HSE (1u << 16)
#define RCC_CFGR_PLLMUL9 (7u << 18)
#define FLASH_ACR_PRFTBE (1u << 4)
#define FLASH_ACR_LATENCY_2 2u
#define CLOCK_POLL_LIMIT 100000u

static bool wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    for (uint32_t n = 0; n < CLOCK_POLL_LIMIT; n++)
        if ((*reg & mask) == want)
            return true;
    return false;
}

bool clock_72mhz(void)
{
    RCC_CR |= RCC_CR_HSEON;
    if (!wait_set(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY))
        return false;
    FLASH_ACR = FLASH_ACR_PRFTBE | FLASH_ACR_LATENCY_2;
    RCC_CFGR = RCC_CFGR_PLLSRC_HSE | RCC_CFGR_PLLMUL9 | RCC_CFGR_PPRE1_DIV2;
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_set(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY))
        return false;
    RCC_CFGR |= RCC_CFGR_SW_PLL;
    return wait_set(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
}
