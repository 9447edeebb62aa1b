/*
 * iwdg_reset.c - a firmware that stops feeding the independent watchdog is
 * reset by it: RCC_CSR.IWDGRSTF is set after the reset, SRAM (a .noinit
 * marker) and the backup registers BKP_DR1-DR10 are intact.
 *
 * STM32F103 only (RCC, PWR, BKP, IWDG): not part of the qemu cross-check.
 */
#include "rom.h"

#define RCC_APB1ENR (*(volatile uint32_t *)0x4002101Cu)
#define RCC_APB1ENR_BKPEN (1u << 27)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_CSR (*(volatile uint32_t *)0x40021024u)
#define RCC_CSR_RMVF (1u << 24)
#define RCC_CSR_PINRSTF (1u << 26)
#define RCC_CSR_PORRSTF (1u << 27)
#define RCC_CSR_SFTRSTF (1u << 28)
#define RCC_CSR_IWDGRSTF (1u << 29)
#define PWR_CR (*(volatile uint32_t *)0x40007000u)
#define PWR_CR_DBP (1u << 8)
#define BKP_DR(n) (*(volatile uint32_t *)(0x40006C00u + 4u * (n))) /* n = 1..10 */
#define IWDG_KR (*(volatile uint32_t *)0x40003000u)
#define IWDG_PR (*(volatile uint32_t *)0x40003004u)
#define IWDG_RLR (*(volatile uint32_t *)0x40003008u)
#define IWDG_KR_ACCESS 0x5555u
#define IWDG_KR_RELOAD 0xAAAAu
#define IWDG_KR_START 0xCCCCu

#define MARKER 0x1D6D0C5Bu

NOINIT static uint32_t boot_marker;
NOINIT static uint32_t boots;

int main(void)
{
    RCC_APB1ENR |= RCC_APB1ENR_PWREN | RCC_APB1ENR_BKPEN;
    PWR_CR |= PWR_CR_DBP;

    if (boot_marker != MARKER) {
        check(RCC_CSR & RCC_CSR_PORRSTF, "the first boot is a power-on reset (PORRSTF)");
        RCC_CSR |= RCC_CSR_RMVF;
        check_eq(RCC_CSR & (RCC_CSR_PORRSTF | RCC_CSR_IWDGRSTF), 0, "RMVF clears the reset flags");
        for (unsigned n = 1; n <= 10; n++)
            BKP_DR(n) = 0x1100u + n;
        boot_marker = MARKER;
        boots = 1;
        /* 10 ms: LSI 40 kHz / 4 (PR = 0) * 100 */
        IWDG_KR = IWDG_KR_ACCESS;
        IWDG_PR = 0;
        IWDG_RLR = 100;
        IWDG_KR = IWDG_KR_RELOAD;
        IWDG_KR = IWDG_KR_START;
        for (;;) {
            /* stop feeding the watchdog: it must reset us */
        }
    }

    check_eq(boots, 1, "exactly one reset happened");
    check(RCC_CSR & RCC_CSR_IWDGRSTF, "the reset was the watchdog's (IWDGRSTF)");
    check(!(RCC_CSR & RCC_CSR_PORRSTF), "not a power-on reset");
    check(!(RCC_CSR & RCC_CSR_SFTRSTF), "not a software reset");
    for (unsigned n = 1; n <= 10; n++)
        check_eq(BKP_DR(n) & 0xFFFFu, 0x1100u + n, "backup registers survive the watchdog reset");
    pass();
}
