/*
 * stm32f1.h - the STM32F103 peripheral registers and bits the boot ROM uses,
 * named as in RM0008 (sections 3 FLASH, 4 PWR, 5 BKP, 7 RCC, 9 GPIO/AFIO,
 * 10 interrupts, 14 TIM1, 19 IWDG, 23 USB, 25 SPI, 30 device ID, 31 DBGMCU).
 *
 * Design decision: like cm3.h, plain volatile-pointer macros and nothing
 * else, so every access the ROM makes is visible at its call site; only the
 * registers and bits the ROM touches are listed.
 */
#ifndef BOOT_STM32F1_H
#define BOOT_STM32F1_H

#include "cm3.h"

#define REG16(addr) (*(volatile uint16_t *)(uintptr_t)(addr))

/* ---- Memory map (RM0008 3.3, and the Core's use of it) ---- */
#define FLASH_BASE 0x08000000u
#define FLASH_PAGE_SIZE 0x400u

/* ---- RCC (RM0008 7.3) ---- */
#define RCC_BASE 0x40021000u
#define RCC_CR REG32(RCC_BASE + 0x00u)
#define RCC_CFGR REG32(RCC_BASE + 0x04u)
#define RCC_CIR REG32(RCC_BASE + 0x08u)
#define RCC_APB2ENR REG32(RCC_BASE + 0x18u)
#define RCC_APB1ENR REG32(RCC_BASE + 0x1Cu)
#define RCC_CSR REG32(RCC_BASE + 0x24u)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

#define RCC_CFGR_SW_MASK (3u << 0)
#define RCC_CFGR_SW_PLL (2u << 0)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_HPRE_DIV1 (0u << 4)
#define RCC_CFGR_PPRE1_DIV2 (4u << 8)
#define RCC_CFGR_PPRE2_DIV1 (0u << 11)
#define RCC_CFGR_PLLSRC_HSE (1u << 16)
#define RCC_CFGR_PLLXTPRE_DIV1 (0u << 17)
#define RCC_CFGR_PLLMUL9 (7u << 18)
#define RCC_CFGR_USBPRE_DIV1_5 (0u << 22) /* USBPRE clear: PLL/1.5 = 48 MHz */

/* Writing 1 clears the ready and CSS interrupt flags (LSIRDYC..PLLRDYC, CSSC). */
#define RCC_CIR_CLEAR_ALL 0x009F0000u

#define RCC_APB2ENR_AFIOEN (1u << 0)
#define RCC_APB2ENR_IOPAEN (1u << 2)
#define RCC_APB2ENR_IOPBEN (1u << 3)
#define RCC_APB2ENR_TIM1EN (1u << 11)

#define RCC_APB1ENR_SPI2EN (1u << 14)
#define RCC_APB1ENR_USBEN (1u << 23)
#define RCC_APB1ENR_BKPEN (1u << 27)
#define RCC_APB1ENR_PWREN (1u << 28)

#define RCC_CSR_RMVF (1u << 24)
#define RCC_CSR_IWDGRSTF (1u << 29)

/* ---- FLASH interface (RM0008 3.3.3, PM0075) ---- */
#define FLASH_R_BASE 0x40022000u
#define FLASH_ACR REG32(FLASH_R_BASE + 0x00u)
#define FLASH_KEYR REG32(FLASH_R_BASE + 0x04u)
#define FLASH_SR REG32(FLASH_R_BASE + 0x0Cu)
#define FLASH_CR REG32(FLASH_R_BASE + 0x10u)
#define FLASH_AR REG32(FLASH_R_BASE + 0x14u)

#define FLASH_ACR_LATENCY_2 (2u << 0) /* two wait states: 48 MHz < SYSCLK <= 72 MHz */
#define FLASH_ACR_PRFTBE (1u << 4)

#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu

#define FLASH_SR_BSY (1u << 0)
#define FLASH_SR_PGERR (1u << 2)
#define FLASH_SR_WRPRTERR (1u << 4)
#define FLASH_SR_EOP (1u << 5)

#define FLASH_CR_PG (1u << 0)
#define FLASH_CR_PER (1u << 1)
#define FLASH_CR_STRT (1u << 6)
#define FLASH_CR_LOCK (1u << 7)

/* ---- GPIO (RM0008 9.2) ---- */
#define GPIOA_BASE 0x40010800u
#define GPIOB_BASE 0x40010C00u
#define GPIO_CRL(port) REG32((port) + 0x00u)
#define GPIO_CRH(port) REG32((port) + 0x04u)
#define GPIO_IDR(port) REG32((port) + 0x08u)
#define GPIO_BSRR(port) REG32((port) + 0x10u)
#define GPIO_BRR(port) REG32((port) + 0x14u)

/* One pin's 4-bit CNF[1:0]:MODE[1:0] field in CRL (pins 0-7) / CRH (8-15). */
#define GPIO_PINS_PER_CR 8u
#define GPIO_CR_FIELD_BITS 4u
#define GPIO_CR_FIELD_MASK 0xFu
#define GPIO_MODE_INPUT_FLOATING 0x4u   /* CNF 01, MODE 00 */
#define GPIO_MODE_INPUT_PULL 0x8u       /* CNF 10, MODE 00; ODR picks up or down */
#define GPIO_MODE_OUTPUT_PP_50MHZ 0x3u  /* CNF 00, MODE 11 */
#define GPIO_MODE_OUTPUT_OD_50MHZ 0x7u  /* CNF 01, MODE 11 */
#define GPIO_MODE_AF_PP_50MHZ 0xBu      /* CNF 10, MODE 11 */

/* ---- TIM1 (RM0008 14.4) ---- */
#define TIM1_BASE 0x40012C00u
#define TIM1_CR1 REG32(TIM1_BASE + 0x00u)
#define TIM1_EGR REG32(TIM1_BASE + 0x14u)
#define TIM1_CCMR1 REG32(TIM1_BASE + 0x18u)
#define TIM1_CCMR2 REG32(TIM1_BASE + 0x1Cu)
#define TIM1_CCER REG32(TIM1_BASE + 0x20u)
#define TIM1_PSC REG32(TIM1_BASE + 0x28u)
#define TIM1_ARR REG32(TIM1_BASE + 0x2Cu)
#define TIM1_RCR REG32(TIM1_BASE + 0x30u)
#define TIM1_CCR1 REG32(TIM1_BASE + 0x34u)
#define TIM1_CCR2 REG32(TIM1_BASE + 0x38u)
#define TIM1_CCR3 REG32(TIM1_BASE + 0x3Cu)
#define TIM1_BDTR REG32(TIM1_BASE + 0x44u)

#define TIM_CR1_CEN (1u << 0)
#define TIM_CR1_ARPE (1u << 7)
#define TIM_EGR_UG (1u << 0)
#define TIM_OCM_PWM1 6u
#define TIM_CCMR1_OC1M_SHIFT 4
#define TIM_CCMR1_OC2M_SHIFT 12
#define TIM_CCMR2_OC3M_SHIFT 4
#define TIM_CCER_CC1E (1u << 0)
#define TIM_CCER_CC1P (1u << 1)
#define TIM_CCER_CC2E (1u << 4)
#define TIM_CCER_CC2P (1u << 5)
#define TIM_CCER_CC3E (1u << 8)
#define TIM_CCER_CC3P (1u << 9)
#define TIM_BDTR_MOE (1u << 15)

/* ---- SPI2 (RM0008 25.5) ---- */
#define SPI2_BASE 0x40003800u
#define SPI2_CR1 REG32(SPI2_BASE + 0x00u)
#define SPI2_SR REG32(SPI2_BASE + 0x08u)
#define SPI2_DR REG32(SPI2_BASE + 0x0Cu)

/* CPOL = CPHA = 0 (SPI mode 0): bits 1 and 0 left clear. */
#define SPI_CR1_MSTR (1u << 2)
#define SPI_CR1_BR_DIV2 (0u << 3)
#define SPI_CR1_SPE (1u << 6)
#define SPI_CR1_SSI (1u << 8)
#define SPI_CR1_SSM (1u << 9)
#define SPI_SR_RXNE (1u << 0)
#define SPI_SR_TXE (1u << 1)

/* ---- PWR (RM0008 5.4) and BKP (RM0008 6.4) ---- */
#define PWR_BASE 0x40007000u
#define PWR_CR REG32(PWR_BASE + 0x00u)
#define PWR_CR_PDDS (1u << 1)
#define PWR_CR_CWUF (1u << 2)
#define PWR_CR_DBP (1u << 8)

#define BKP_BASE 0x40006C00u
/* BKP_DR1..BKP_DR10: 16-bit data in the low half of word n. */
#define BKP_DR(n) REG32(BKP_BASE + 4u * (n))

/* ---- IWDG (RM0008 19.4) ---- */
#define IWDG_BASE 0x40003000u
#define IWDG_KR REG32(IWDG_BASE + 0x00u)
#define IWDG_PR REG32(IWDG_BASE + 0x04u)
#define IWDG_RLR REG32(IWDG_BASE + 0x08u)
#define IWDG_KR_ACCESS 0x5555u /* unlocks PR and RLR */
#define IWDG_KR_RELOAD 0xAAAAu
#define IWDG_KR_START 0xCCCCu
#define IWDG_PR_DIV256 6u

/* ---- USB full-speed device (RM0008 23.5) ---- */
#define USB_BASE 0x40005C00u
#define USB_EPR(n) REG32(USB_BASE + 4u * (n)) /* USB_EP0R..USB_EP7R */
#define USB_CNTR REG32(USB_BASE + 0x40u)
#define USB_ISTR REG32(USB_BASE + 0x44u)
#define USB_FNR REG32(USB_BASE + 0x48u)
#define USB_DADDR REG32(USB_BASE + 0x4Cu)
#define USB_BTABLE REG32(USB_BASE + 0x50u)

#define USB_CNTR_FRES (1u << 0)
#define USB_CNTR_PDWN (1u << 1)
#define USB_CNTR_LP_MODE (1u << 2)
#define USB_CNTR_FSUSP (1u << 3)
#define USB_CNTR_RESUME (1u << 4)
#define USB_CNTR_ESOFM (1u << 8)
#define USB_CNTR_SOFM (1u << 9)
#define USB_CNTR_RESETM (1u << 10)
#define USB_CNTR_SUSPM (1u << 11)
#define USB_CNTR_WKUPM (1u << 12)
#define USB_CNTR_ERRM (1u << 13)
#define USB_CNTR_PMAOVRM (1u << 14)
#define USB_CNTR_CTRM (1u << 15)

/* ISTR: EP_ID and DIR read-only, CTR read-only, the other flags rc_w0. */
#define USB_ISTR_EP_ID_MASK 0xFu
#define USB_ISTR_DIR (1u << 4)
#define USB_ISTR_ESOF (1u << 8)
#define USB_ISTR_SOF (1u << 9)
#define USB_ISTR_RESET (1u << 10)
#define USB_ISTR_SUSP (1u << 11)
#define USB_ISTR_WKUP (1u << 12)
#define USB_ISTR_ERR (1u << 13)
#define USB_ISTR_PMAOVR (1u << 14)
#define USB_ISTR_CTR (1u << 15)
#define USB_ISTR_MASK 0xFFFFu

#define USB_DADDR_ADD_MASK 0x7Fu
#define USB_DADDR_EF (1u << 7)

/* EPnR: EA, EP_TYPE and EP_KIND read/write; CTR_RX/CTR_TX rc_w0; DTOG and STAT toggle on 1. */
#define USB_EPR_EA_MASK 0xFu
#define USB_EPR_STAT_TX_SHIFT 4
#define USB_EPR_STAT_TX_MASK (3u << USB_EPR_STAT_TX_SHIFT)
#define USB_EPR_DTOG_TX (1u << 6)
#define USB_EPR_CTR_TX (1u << 7)
#define USB_EPR_EP_KIND (1u << 8)
#define USB_EPR_EP_TYPE_MASK (3u << 9)
#define USB_EPR_EP_TYPE_CONTROL (1u << 9)
#define USB_EPR_SETUP (1u << 11)
#define USB_EPR_STAT_RX_SHIFT 12
#define USB_EPR_STAT_RX_MASK (3u << USB_EPR_STAT_RX_SHIFT)
#define USB_EPR_DTOG_RX (1u << 14)
#define USB_EPR_CTR_RX (1u << 15)
/* STAT_RX / STAT_TX values */
#define USB_EP_DISABLED 0u
#define USB_EP_STALL 1u
#define USB_EP_NAK 2u
#define USB_EP_VALID 3u

/*
 * Packet memory: 512 bytes that the USB block addresses by byte (the "USB
 * local address"), seen by the CPU as 16-bit words at a 32-bit stride.
 */
#define USB_PMA_BASE 0x40006000u
#define USB_PMA_SIZE 512u
#define USB_PMA_ADDR(local) (USB_PMA_BASE + 2u * (uint32_t)(local))
/* Buffer descriptor table entry of endpoint n, at USB_BTABLE (RM0008 23.5.4). */
#define USB_ADDR_TX(btable, n) ((btable) + 8u * (n) + 0u)
#define USB_COUNT_TX(btable, n) ((btable) + 8u * (n) + 2u)
#define USB_ADDR_RX(btable, n) ((btable) + 8u * (n) + 4u)
#define USB_COUNT_RX(btable, n) ((btable) + 8u * (n) + 6u)
#define USB_COUNT_RX_COUNT_MASK 0x3FFu
#define USB_COUNT_RX_NUM_BLOCK_SHIFT 10
#define USB_COUNT_RX_BL_SIZE (1u << 15) /* blocks of 32 bytes */
#define USB_COUNT_RX_BLOCK_BYTES 32u

/* ---- Interrupt numbers (RM0008 10.1.2, table 63) ---- */
#define USB_LP_CAN1_RX0_IRQn 20u

/* ---- Unique device ID, 96 bits (RM0008 30.2) ---- */
#define UID_BASE 0x1FFFF7E8u
#define U_ID(n) REG32(UID_BASE + 4u * (n)) /* bits 31:0, 63:32, 95:64 */

/* ---- DBGMCU (RM0008 31.16.3) ---- */
#define DBGMCU_CR REG32(0xE0042004u)
#define DBGMCU_CR_DBG_IWDG_STOP (1u << 8)
#define DBGMCU_CR_DBG_WWDG_STOP (1u << 9)

/* ---- Cortex-M3 bits cm3.h does not name ---- */
#define SCR_SLEEPDEEP (1u << 2)
#define NVIC_PRIGROUP_4_BITS_PREEMPT 3u /* PRIGROUP 3: all four STM32 priority bits preempt */
#define NVIC_PRIORITY_SHIFT 4u          /* the STM32 implements IPR bits [7:4] */

#endif
