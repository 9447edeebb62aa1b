/*
 * gpio.h - one STM32F103 GPIO port (RM0008 section 9.2); the SoC instantiates
 * GPIOA (0x40010800), GPIOB (0x40010C00) and GPIOC (0x40011000).
 *
 * Each pin's level is resolved from what drives it, strongest first:
 *   1. the chip: a push-pull output (ODR, or the alternate-function level for
 *      AF modes), or an open-drain output that pulls low;
 *   2. the board: stm32_gpio_pin_in() (an external driver, or a board pull
 *      resistor), until stm32_gpio_pin_release();
 *   3. the internal pull-up/pull-down of an input with CNF = 10 (ODR selects);
 *   4. otherwise the pin floats and reads 0 (deterministic).
 * IDR is that level, except for analog inputs (Schmitt trigger off: 0).
 */
#ifndef PERIPHERALS_STM32F1_GPIO_H
#define PERIPHERALS_STM32F1_GPIO_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_GPIOA_BASE 0x40010800u
#define STM32_GPIOB_BASE 0x40010C00u
#define STM32_GPIOC_BASE 0x40011000u
#define STM32_GPIO_SIZE 0x400u
#define STM32_GPIO_PINS 16

/* Register offsets */
#define GPIO_CRL 0x00u
#define GPIO_CRH 0x04u
#define GPIO_IDR 0x08u
#define GPIO_ODR 0x0Cu
#define GPIO_BSRR 0x10u
#define GPIO_BRR 0x14u
#define GPIO_LCKR 0x18u

/* Per-pin 4-bit configuration field in CRL (pins 0-7) / CRH (pins 8-15) */
#define GPIO_MODE_MASK 0x3u  /* 00 input, 01/10/11 output at 10/2/50 MHz */
#define GPIO_CNF_SHIFT 2
#define GPIO_CNF_MASK (3u << 2)
/* CNF for inputs */
#define GPIO_CNF_IN_ANALOG 0u
#define GPIO_CNF_IN_FLOATING 1u
#define GPIO_CNF_IN_PULL 2u
/* CNF for outputs: bit 0 = open-drain, bit 1 = alternate function */
#define GPIO_CNF_OUT_OD 1u
#define GPIO_CNF_OUT_AF 2u
#define GPIO_CR_RESET 0x44444444u /* every pin a floating input */

/* GPIOx_LCKR */
#define GPIO_LCKR_LCK_MASK 0xFFFFu
#define GPIO_LCKR_LCKK (1u << 16)

struct stm32_gpio {
    struct sim *sim;
    const char *name; /* "GPIOA"...: for diagnostics; must outlive the block */

    uint32_t crl, crh;
    uint16_t odr;
    uint16_t lck;      /* GPIOx_LCKR LCK[15:0] */
    bool lckk;         /* the lock is active until the next reset */
    int lock_step;     /* progress through the LCKK key sequence */
    uint16_t lock_key; /* LCK[15:0] as written at the start of the sequence */
    bool held_in_reset; /* RCC_APB2RSTR.IOPxRST */

    /* incoming */
    uint16_t ext_driven; /* pins the board drives */
    uint16_t ext_level;
    uint16_t af_level;   /* output levels of the alternate functions (TIM, SPI, USART) */

    /*
     * Outgoing connections, one per pin.
     *   out[n]    the pin's resolved level, on change (chip selects, WLAN_EN,
     *             the USB D+ pull-up control hang here)
     *   level[n]  the IDR bit of the pin, on change (the SoC routes these to AFIO)
     */
    struct line out[STM32_GPIO_PINS];
    struct line level[STM32_GPIO_PINS];
    uint16_t out_state, idr_state; /* last driven */
};

void stm32_gpio_init(struct stm32_gpio *gpio, struct sim *sim, const char *name);
void stm32_gpio_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_gpio_mmio;

/* Incoming: the board drives pin `pin` to `level` (opaque = the port). */
void stm32_gpio_pin_in(void *opaque, int pin, bool level);
/* Nothing outside drives `pin` any more. */
void stm32_gpio_pin_release(struct stm32_gpio *gpio, int pin);
/* Incoming: the alternate-function output of a peripheral for `pin`. */
void stm32_gpio_af_in(void *opaque, int pin, bool level);
/* Incoming: RCC_APB2RSTR.IOPxRST (rcc.apb2_reset[RCC_APB2_IOPx]); high holds the port in reset. */
void stm32_gpio_reset_in(void *opaque, int n, bool level);

/* The resolved pin levels (bit n = pin n), e.g. for a board's panel. */
uint16_t stm32_gpio_pins(const struct stm32_gpio *gpio);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_gpio_save(const struct stm32_gpio *d, struct snap_writer *w);
void stm32_gpio_load(struct stm32_gpio *d, struct snap_reader *r);

#endif
