/*
 * exti.h - STM32F103 external interrupt/event controller (RM0008 section 10.2),
 * at 0x40010400: 19 lines (0-15 from AFIO, 16 PVD, 17 RTC alarm, 18 USB wake-up).
 *
 * An input line is a level; an edge selected by RTSR/FTSR (or a SWIER write)
 * on a line whose IMR bit is set latches its PR bit, and a line selected by
 * EMR pulses the event output. The NVIC sees one level per interrupt group:
 * high while any PR & IMR bit of that group is set.
 */
#ifndef PERIPHERALS_STM32F1_EXTI_H
#define PERIPHERALS_STM32F1_EXTI_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_EXTI_BASE 0x40010400u
#define STM32_EXTI_SIZE 0x400u
#define STM32_EXTI_LINES 19
#define STM32_EXTI_LINE_PVD 16
#define STM32_EXTI_LINE_RTC_ALARM 17
#define STM32_EXTI_LINE_USB_WAKEUP 18

#define EXTI_IMR 0x00u
#define EXTI_EMR 0x04u
#define EXTI_RTSR 0x08u
#define EXTI_FTSR 0x0Cu
#define EXTI_SWIER 0x10u
#define EXTI_PR 0x14u

/* The interrupt outputs as the NVIC sees them (NVIC number in the comment). */
enum stm32_exti_irq {
    STM32_EXTI_IRQ_EXTI0 = 0, /* 6 */
    STM32_EXTI_IRQ_EXTI1,     /* 7 */
    STM32_EXTI_IRQ_EXTI2,     /* 8 */
    STM32_EXTI_IRQ_EXTI3,     /* 9 */
    STM32_EXTI_IRQ_EXTI4,     /* 10 */
    STM32_EXTI_IRQ_EXTI9_5,   /* 23 */
    STM32_EXTI_IRQ_EXTI15_10, /* 40 */
    STM32_EXTI_IRQ_PVD,       /* 1 */
    STM32_EXTI_IRQ_RTC_ALARM, /* 41 */
    STM32_EXTI_IRQ_USB_WAKEUP, /* 42 */
    STM32_EXTI_IRQ_COUNT
};

struct stm32_exti {
    struct sim *sim;
    uint32_t imr, emr, rtsr, ftsr, swier, pr;
    uint32_t input; /* levels of the 19 input lines */

    /*
     * Outgoing connections.
     *   irq[g]  interrupt group g (enum stm32_exti_irq), a level
     *   event   pulses (high then low) for an edge on a line enabled in EMR:
     *           the CPU's event input (wakes WFE)
     */
    struct line irq[STM32_EXTI_IRQ_COUNT];
    struct line event;
    bool irq_level[STM32_EXTI_IRQ_COUNT];
};

void stm32_exti_init(struct stm32_exti *exti, struct sim *sim);
void stm32_exti_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_exti_mmio;

/* Incoming: the level of EXTI line n (0..18). */
void stm32_exti_line_in(void *opaque, int n, bool level);

/* The NVIC interrupt number of an output group. */
int stm32_exti_irq_number(enum stm32_exti_irq irq);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_exti_save(const struct stm32_exti *d, struct snap_writer *w);
void stm32_exti_load(struct stm32_exti *d, struct snap_reader *r);

#endif
