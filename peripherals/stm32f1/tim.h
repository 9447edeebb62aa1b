/*
 * tim.h - STM32F103 TIM1 (advanced-control) and TIM2..TIM4 (general-purpose)
 * timers: one implementation, `advanced` selects the TIM1 extras (RCR, BDTR,
 * the separate BRK/UP/TRG_COM/CC interrupt lines, MOE gating of the outputs).
 *
 * The counter is never ticked: it is derived from virtual time and an
 * "anchor" (counter and prescaler counter at a known timer tick), and the
 * model schedules one event for exactly the next moment that matters.
 *
 * Register names, offsets and bits as in RM0008 sections 14 and 15.
 */
#ifndef PERIPHERALS_STM32F1_TIM_H
#define PERIPHERALS_STM32F1_TIM_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

/* Register offsets */
#define TIM_CR1 0x00u
#define TIM_CR2 0x04u
#define TIM_SMCR 0x08u
#define TIM_DIER 0x0Cu
#define TIM_SR 0x10u
#define TIM_EGR 0x14u
#define TIM_CCMR1 0x18u
#define TIM_CCMR2 0x1Cu
#define TIM_CCER 0x20u
#define TIM_CNT 0x24u
#define TIM_PSC 0x28u
#define TIM_ARR 0x2Cu
#define TIM_RCR 0x30u /* TIM1 only */
#define TIM_CCR1 0x34u
#define TIM_CCR2 0x38u
#define TIM_CCR3 0x3Cu
#define TIM_CCR4 0x40u
#define TIM_BDTR 0x44u /* TIM1 only */
#define TIM_DCR 0x48u
#define TIM_DMAR 0x4Cu

/* TIMx_CR1 */
#define TIM_CR1_CEN (1u << 0)
#define TIM_CR1_UDIS (1u << 1)
#define TIM_CR1_URS (1u << 2)
#define TIM_CR1_OPM (1u << 3)
#define TIM_CR1_DIR (1u << 4)
#define TIM_CR1_CMS_SHIFT 5
#define TIM_CR1_CMS_MASK (3u << 5)
#define TIM_CR1_ARPE (1u << 7)
#define TIM_CR1_CKD_MASK (3u << 8)
/* TIMx_CR2 (TIM1): output idle state of channel n (1..4) is bit 8 + 2(n-1) */
#define TIM_CR2_OIS1 (1u << 8)
/* TIMx_DIER */
#define TIM_DIER_UIE (1u << 0)
#define TIM_DIER_CC1IE (1u << 1) /* CCnIE = 1 << n */
#define TIM_DIER_CC4IE (1u << 4)
#define TIM_DIER_COMIE (1u << 5)
#define TIM_DIER_TIE (1u << 6)
#define TIM_DIER_BIE (1u << 7)
#define TIM_DIER_UDE (1u << 8)
#define TIM_DIER_CC1DE (1u << 9)
#define TIM_DIER_COMDE (1u << 13)
#define TIM_DIER_TDE (1u << 14)
/* TIMx_SR */
#define TIM_SR_UIF (1u << 0)
#define TIM_SR_CC1IF (1u << 1) /* CCnIF = 1 << n */
#define TIM_SR_CC2IF (1u << 2)
#define TIM_SR_CC3IF (1u << 3)
#define TIM_SR_CC4IF (1u << 4)
#define TIM_SR_COMIF (1u << 5)
#define TIM_SR_TIF (1u << 6)
#define TIM_SR_BIF (1u << 7)
#define TIM_SR_CC1OF (1u << 9)
/* TIMx_EGR */
#define TIM_EGR_UG (1u << 0)
#define TIM_EGR_CC1G (1u << 1) /* CCnG = 1 << n */
#define TIM_EGR_COMG (1u << 5)
#define TIM_EGR_TG (1u << 6)
#define TIM_EGR_BG (1u << 7)
/* TIMx_CCMRx: each channel owns one byte (CCMR1: ch1 bits 7:0, ch2 bits 15:8) */
#define TIM_CCMR_CCS_MASK 0x03u
#define TIM_CCMR_OCFE (1u << 2)
#define TIM_CCMR_OCPE (1u << 3)
#define TIM_CCMR_OCM_SHIFT 4
#define TIM_CCMR_OCM_MASK (7u << 4)
#define TIM_CCMR_OCCE (1u << 7)
/* Output compare modes (OCxM) */
#define TIM_OCM_FROZEN 0u
#define TIM_OCM_ACTIVE 1u   /* set active on match */
#define TIM_OCM_INACTIVE 2u /* set inactive on match */
#define TIM_OCM_TOGGLE 3u
#define TIM_OCM_FORCE_INACTIVE 4u
#define TIM_OCM_FORCE_ACTIVE 5u
#define TIM_OCM_PWM1 6u
#define TIM_OCM_PWM2 7u
/* TIMx_CCER: channel n (1..4) owns bits 4(n-1) .. 4(n-1)+3 */
#define TIM_CCER_CC1E (1u << 0)
#define TIM_CCER_CC1P (1u << 1)
#define TIM_CCER_CC1NE (1u << 2)
#define TIM_CCER_CC1NP (1u << 3)
/* TIMx_BDTR */
#define TIM_BDTR_OSSI (1u << 10)
#define TIM_BDTR_OSSR (1u << 11)
#define TIM_BDTR_BKE (1u << 12)
#define TIM_BDTR_AOE (1u << 14)
#define TIM_BDTR_MOE (1u << 15)

#define TIM_CHANNELS 4
#define TIM_PWM_FULL 65536u /* high_q16 of a pin that is high all the time */

/*
 * One PWM output pin. `set` is called whenever the waveform of channel `ch`
 * (1..4) changes: `driven` says the timer drives the pin (CCxE and, on TIM1,
 * BDTR.MOE), `high_q16` is the fraction of each period the pin is HIGH, in
 * 1/65536 units (0 = always low, 65536 = always high), after the output
 * compare mode, CCR versus ARR+1 and the CCxP polarity are applied.
 */
struct pwm_out {
    void (*set)(void *opaque, int ch, bool driven, uint32_t high_q16);
    void *opaque;
};

struct stm32_tim {
    struct sim *sim;
    const char *name;
    bool advanced;     /* TIM1: RCR, BDTR, four interrupt lines */
    uint32_t clock_hz; /* timer input clock (TIMxCLK) */

    /* Programmer-visible registers (preload values where buffered). */
    uint16_t cr1, cr2, smcr, dier, sr, ccmr[2], ccer;
    uint16_t psc, arr, rcr, ccr[TIM_CHANNELS], bdtr, dcr;

    /* Shadow (active) registers, loaded at an update event. */
    uint16_t psc_active, arr_active, ccr_active[TIM_CHANNELS];
    uint16_t rep_cnt; /* repetition down-counter (TIM1) */

    /* The counter at `anchor` (a timer-clock tick count since cycle 0). */
    uint16_t cnt;
    uint32_t psc_cnt;
    uint64_t anchor;

    /* OCxREF for the modes that latch it (frozen, active/inactive/toggle on match). */
    bool ocref[TIM_CHANNELS];

    struct event event; /* the next update or compare match somebody needs */

    /*
     * Outgoing connections. TIM1 has four NVIC lines: BRK (24), UP (25),
     * TRG_COM (26), CC (27). A general-purpose timer has one NVIC line
     * (TIM2 28, TIM3 29, TIM4 30): on TIM2..4 all four lines carry the same
     * level, the OR of every enabled interrupt flag, so the SoC wires only
     * irq_up.
     */
    struct line irq_up, irq_cc, irq_brk, irq_trg;
    struct pwm_out pwm[TIM_CHANNELS]; /* index 0 = channel 1 */

    /* last levels reported, so connections only hear about changes */
    bool irq_level[4];
    bool pwm_valid[TIM_CHANNELS];
    bool pwm_driven[TIM_CHANNELS];
    uint32_t pwm_high[TIM_CHANNELS];
};

/* clock_hz: TIMxCLK (72 MHz for every timer with the Spark clock tree). */
void stm32_tim_init(struct stm32_tim *tim, struct sim *sim, const char *name, bool advanced,
                    uint32_t clock_hz);
void stm32_tim_reset(void *dev, enum reset_cause cause);
/* Change TIMxCLK at run time (the counter keeps its value). */
void stm32_tim_set_clock(struct stm32_tim *tim, uint32_t clock_hz);
extern const struct mmio_ops stm32_tim_mmio;

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_tim_save(const struct stm32_tim *d, struct snap_writer *w);
void stm32_tim_load(struct stm32_tim *d, struct snap_reader *r);

#endif
