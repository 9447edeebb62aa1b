/*
 * afio.h - STM32F103 alternate-function I/O (RM0008 section 9.4), at 0x40010000:
 * the event output (EVCR), the remap and debug-port register (MAPR), and the
 * EXTI line multiplexer (EXTICR1..4).
 *
 * The multiplexer is a pure function of its inputs: AFIO hears every pin level
 * of the ports (n = port * 16 + pin, port 0 = A), and its exti[k] output is the
 * level of the pin EXTICR selects for line k, re-evaluated when a pin or
 * EXTICR changes. Remaps (MAPR) only matter to whoever routes pins; the SoC can
 * read them with stm32_afio_mapr().
 */
#ifndef PERIPHERALS_STM32F1_AFIO_H
#define PERIPHERALS_STM32F1_AFIO_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_AFIO_BASE 0x40010000u
#define STM32_AFIO_SIZE 0x400u

#define AFIO_EVCR 0x00u
#define AFIO_MAPR 0x04u
#define AFIO_EXTICR1 0x08u
#define AFIO_EXTICR4 0x14u

/* AFIO_EVCR */
#define AFIO_EVCR_PIN_MASK 0xFu
#define AFIO_EVCR_PORT_MASK (7u << 4)
#define AFIO_EVCR_EVOE (1u << 7)

/* AFIO_MAPR */
#define AFIO_MAPR_SPI1_REMAP (1u << 0)
#define AFIO_MAPR_I2C1_REMAP (1u << 1)
#define AFIO_MAPR_USART1_REMAP (1u << 2)
#define AFIO_MAPR_USART2_REMAP (1u << 3)
#define AFIO_MAPR_USART3_REMAP_MASK (3u << 4)
#define AFIO_MAPR_TIM1_REMAP_MASK (3u << 6)
#define AFIO_MAPR_TIM2_REMAP_MASK (3u << 8)
#define AFIO_MAPR_TIM3_REMAP_MASK (3u << 10)
#define AFIO_MAPR_TIM4_REMAP (1u << 12)
#define AFIO_MAPR_CAN_REMAP_MASK (3u << 13)
#define AFIO_MAPR_PD01_REMAP (1u << 15)
#define AFIO_MAPR_TIM5CH4_IREMAP (1u << 16)
#define AFIO_MAPR_ADC1_ETRGINJ_REMAP (1u << 17)
#define AFIO_MAPR_ADC1_ETRGREG_REMAP (1u << 18)
#define AFIO_MAPR_ADC2_ETRGINJ_REMAP (1u << 19)
#define AFIO_MAPR_ADC2_ETRGREG_REMAP (1u << 20)
#define AFIO_MAPR_SWJ_CFG_SHIFT 24
#define AFIO_MAPR_SWJ_CFG_MASK (7u << 24) /* write-only */

#define STM32_AFIO_EXTI_LINES 16
#define STM32_AFIO_PORTS 7 /* EXTICR selects PA..PG */

struct stm32_afio {
    struct sim *sim;
    uint32_t evcr, mapr, exticr[4];
    uint32_t swj_cfg; /* last SWJ_CFG written (reads back as 0) */

    uint16_t port_level[STM32_AFIO_PORTS]; /* incoming pin levels */

    /* Outgoing: exti[k] = level of the pin EXTICR selects for EXTI line k. */
    struct line exti[STM32_AFIO_EXTI_LINES];
    uint16_t exti_state; /* last driven */
};

void stm32_afio_init(struct stm32_afio *afio, struct sim *sim);
void stm32_afio_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_afio_mmio;

/* Incoming: the level of pin (n % 16) of port (n / 16); wire gpio[port].level[pin] here. */
void stm32_afio_pin_in(void *opaque, int n, bool level);
/* Incoming: RCC_APB2RSTR.AFIORST. */
void stm32_afio_reset_in(void *opaque, int n, bool level);

/* The remap bits of AFIO_MAPR (SWJ_CFG excluded) and the last SWJ_CFG written. */
uint32_t stm32_afio_mapr(const struct stm32_afio *afio);
unsigned stm32_afio_swj_cfg(const struct stm32_afio *afio);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_afio_save(const struct stm32_afio *d, struct snap_writer *w);
void stm32_afio_load(struct stm32_afio *d, struct snap_reader *r);

#endif
