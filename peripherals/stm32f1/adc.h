/*
 * adc.h - STM32F103 ADC1/ADC2 (RM0008 section 11): 12-bit conversions of
 * configurable pin voltages, regular groups (single, scan, continuous),
 * injected groups, calibration, analog watchdog, the EOC interrupt, the DMA
 * request, and the regular dual modes (ADC1 master, ADC2 slave).
 *
 * Inputs are voltages the machine sets with stm32_adc_set_input_mv(); the
 * result is code = mV * 4096 / 3300 clamped to 4095 (VREF+ = 3.3 V).
 * Conversion time is SMPx + 12.5 ADC clock cycles (ADCCLK 12 MHz unless set).
 *
 * Dual mode needs both ADCs: the SoC points ADC1's `dual` link at ADC2 with
 * stm32_adc_dual_slave_convert. The ADC with a wired link is the master; an
 * ADC without one ignores DUALMOD (on the chip those bits are reserved in
 * ADC2). ADC1 and ADC2 share the ADC12_INx pins: set each pin voltage on both.
 */
#ifndef PERIPHERALS_STM32F1_ADC_H
#define PERIPHERALS_STM32F1_ADC_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

/* Register offsets */
#define ADC_SR 0x00u
#define ADC_CR1 0x04u
#define ADC_CR2 0x08u
#define ADC_SMPR1 0x0Cu
#define ADC_SMPR2 0x10u
#define ADC_JOFR1 0x14u /* JOFRx at 0x14 + 4(x-1) */
#define ADC_HTR 0x24u
#define ADC_LTR 0x28u
#define ADC_SQR1 0x2Cu
#define ADC_SQR2 0x30u
#define ADC_SQR3 0x34u
#define ADC_JSQR 0x38u
#define ADC_JDR1 0x3Cu /* JDRx at 0x3C + 4(x-1) */
#define ADC_DR 0x4Cu

/* ADC_SR */
#define ADC_SR_AWD (1u << 0)
#define ADC_SR_EOC (1u << 1)
#define ADC_SR_JEOC (1u << 2)
#define ADC_SR_JSTRT (1u << 3)
#define ADC_SR_STRT (1u << 4)
/* ADC_CR1 */
#define ADC_CR1_AWDCH_MASK 0x1Fu
#define ADC_CR1_EOCIE (1u << 5)
#define ADC_CR1_AWDIE (1u << 6)
#define ADC_CR1_JEOCIE (1u << 7)
#define ADC_CR1_SCAN (1u << 8)
#define ADC_CR1_AWDSGL (1u << 9)
#define ADC_CR1_JAUTO (1u << 10)
#define ADC_CR1_DISCEN (1u << 11)
#define ADC_CR1_JDISCEN (1u << 12)
#define ADC_CR1_DUALMOD_SHIFT 16
#define ADC_CR1_DUALMOD_MASK (0xFu << 16)
#define ADC_CR1_JAWDEN (1u << 22)
#define ADC_CR1_AWDEN (1u << 23)
/* ADC_CR1.DUALMOD values */
#define ADC_DUALMOD_INDEPENDENT 0x0u
#define ADC_DUALMOD_REGSIMULT_INJECSIMULT 0x1u
#define ADC_DUALMOD_REGSIMULT_ALTERTRIG 0x2u
#define ADC_DUALMOD_INJECSIMULT_FASTINTERL 0x3u
#define ADC_DUALMOD_INJECSIMULT_SLOWINTERL 0x4u
#define ADC_DUALMOD_INJECSIMULT 0x5u
#define ADC_DUALMOD_REGSIMULT 0x6u
#define ADC_DUALMOD_FASTINTERL 0x7u
#define ADC_DUALMOD_SLOWINTERL 0x8u
#define ADC_DUALMOD_ALTERTRIG 0x9u
/* ADC_CR2 */
#define ADC_CR2_ADON (1u << 0)
#define ADC_CR2_CONT (1u << 1)
#define ADC_CR2_CAL (1u << 2)
#define ADC_CR2_RSTCAL (1u << 3)
#define ADC_CR2_DMA (1u << 8)
#define ADC_CR2_ALIGN (1u << 11)
#define ADC_CR2_JEXTSEL_SHIFT 12
#define ADC_CR2_JEXTSEL_MASK (7u << 12)
#define ADC_CR2_JEXTTRIG (1u << 15)
#define ADC_CR2_EXTSEL_SHIFT 17
#define ADC_CR2_EXTSEL_MASK (7u << 17)
#define ADC_CR2_EXTTRIG (1u << 20)
#define ADC_CR2_JSWSTART (1u << 21)
#define ADC_CR2_SWSTART (1u << 22)
#define ADC_CR2_TSVREFE (1u << 23)
#define ADC_EXTSEL_SWSTART 7u  /* EXTSEL = 111: the SWSTART bit */
#define ADC_JEXTSEL_JSWSTART 7u

#define ADC_HTR_RESET 0x0FFFu
#define ADC_INPUTS 18            /* channels 0..15 (pins), 16 temperature, 17 VREFINT */
#define ADC_CHANNEL_TEMP 16
#define ADC_CHANNEL_VREFINT 17
#define ADC_VREF_MV 3300u
#define ADC_DEFAULT_CLOCK_HZ 12000000u

/*
 * The master's connection to its slave in dual mode: `convert` makes the
 * slave convert its next regular channel now and returns the slave's DR.
 */
struct adc_dual_link {
    uint16_t (*convert)(void *opaque);
    void *opaque;
};

struct stm32_adc {
    struct sim *sim;
    const char *name;
    uint32_t adcclk_hz;
    uint32_t input_mv[ADC_INPUTS];

    uint32_t sr, cr1, cr2, smpr1, smpr2, jofr[4], htr, ltr, sqr1, sqr2, sqr3, jsqr, jdr[4], dr;

    /* The regular run: conversion k ends at a time computed from `reg_origin`. */
    bool reg_running;
    uint64_t reg_origin; /* cycle at which the run (re)started */
    uint64_t reg_done;   /* conversions of this run already delivered */
    bool dma_pending;    /* a conversion ended with CR2.DMA set and DR is unread */
    bool syncing;        /* guards against a DMA read re-entering adc_sync */
    unsigned slave_rank; /* as a dual-mode slave: the next rank to convert */
    struct event reg_ev;

    bool inj_running;
    struct event inj_ev;
    struct event cal_ev, rstcal_ev;

    struct adc_dual_link dual; /* ADC1 only, wired by the SoC */
    struct line irq;           /* ADC1_2 shared NVIC line 18: the SoC ORs both */
    struct line dma;           /* ADC1 -> DMA1 channel 1 */
    bool irq_level, dma_level;
};

void stm32_adc_init(struct stm32_adc *adc, struct sim *sim, const char *name);
void stm32_adc_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_adc_mmio;

/* channel 0..17; takes effect for conversions that end from now on. */
void stm32_adc_set_input_mv(struct stm32_adc *adc, int channel, uint32_t millivolts);
/* ADCCLK (PCLK2 / ADCPRE); 12 MHz until set. */
void stm32_adc_set_clock(struct stm32_adc *adc, uint32_t adcclk_hz);
/* The slave side of struct adc_dual_link (opaque = the slave ADC). */
uint16_t stm32_adc_dual_slave_convert(void *opaque);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_adc_save(const struct stm32_adc *d, struct snap_writer *w);
void stm32_adc_load(struct stm32_adc *d, struct snap_reader *r);

#endif
