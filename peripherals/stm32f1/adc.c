/*
 * adc.c - STM32F103 ADC1/ADC2 (RM0008 section 11).
 *
 * Design decision: a regular run is a closed-form schedule. Once triggered,
 * conversion k of the run ends at reg_origin + end(k), where end(k) follows
 * from the sample times of the ranks, the group length and, in dual mode, the
 * interleaving offsets; adc_sync() delivers every conversion whose end has
 * passed. Events are scheduled per conversion only when somebody observes it
 * (a DMA request, an interrupt, or a run that will stop, so that a polling
 * loop can be fast-forwarded to its end). A free-running run nobody observes
 * (continuous mode, or the slow interleaved mode the Spark analogRead leaves
 * running) costs nothing: SR and DR reads then catch up lazily.
 *
 * Dual mode: the master (the ADC whose `dual` link is wired) asks the slave to
 * convert at each of its own conversions and puts the slave's result in the
 * upper half of DR, which is what the Spark firmware reads with 32-bit DMA.
 * The slave's own timing offset (it converts 7 or 14 ADC cycles earlier in the
 * interleaved modes) is not visible there and is not modelled.
 *
 * Not modelled (warn once): external triggers other than SWSTART/JSWSTART,
 * discontinuous modes, automatic injection, the injected and alternate-trigger
 * dual modes (the regular part of the combined modes works). An injected group
 * runs beside the regular run instead of interrupting it.
 */
#include "adc.h"

#include "emu/snapshot.h"

#include <string.h>

#define ADC_CR1_MASK 0x00CFFFFFu
#define ADC_CR2_MASK 0x00FEF90Fu
#define ADC_CR2_HW_BITS (ADC_CR2_CAL | ADC_CR2_RSTCAL)
#define ADC_SMPR1_MASK 0x00FFFFFFu
#define ADC_SMPR2_MASK 0x3FFFFFFFu
#define ADC_SQR1_MASK 0x00FFFFFFu
#define ADC_SQR23_MASK 0x3FFFFFFFu
#define ADC_JSQR_MASK 0x003FFFFFu
#define ADC_12BIT_MASK 0x0FFFu
#define ADC_16BIT_MASK 0xFFFFu
#define ADC_SR_MASK 0x1Fu
#define ADC_CODE_MAX 4095u
#define ADC_CODE_SPAN 4096u

#define ADC_SQ_BITS 5u
#define ADC_SQ_MASK 0x1Fu
#define ADC_SQR1_L_SHIFT 20
#define ADC_SQR1_L_MASK 0xFu
#define ADC_JSQR_JL_SHIFT 20
#define ADC_JSQR_JL_MASK 3u
#define ADC_SMP_BITS 3u
#define ADC_SMP_MASK 7u
#define ADC_MAX_RANKS 16
#define ADC_INJ_RANKS 4

/* Timing, in half ADC clock cycles so the .5 cycles stay exact. */
static const uint32_t adc_sample_half[8] = {3, 15, 27, 57, 83, 111, 143, 479}; /* 1.5 .. 239.5 */
#define ADC_CONVERSION_HALF 25u  /* the 12.5 cycles of successive approximation */
#define ADC_FAST_INTERL_HALF 14u /* fast interleaved: ADC1 starts 7 cycles after ADC2 */
#define ADC_SLOW_INTERL_HALF 28u /* slow interleaved: 14 cycles between the two ADCs */
#define ADC_CAL_HALF 166u        /* tCAL = 83 ADC cycles */
#define ADC_RSTCAL_HALF 4u       /* resetting the calibration registers: a couple of cycles */

/* Internal reference voltages of ADC1 channels 16 and 17 (datasheet typicals). */
#define ADC_TEMP_MV_25C 1430u
#define ADC_VREFINT_MV 1200u

/* ---- configuration helpers ----------------------------------------------- */

static unsigned adc_channel_at_rank(const struct stm32_adc *a, unsigned rank) /* rank 0..15 */
{
    uint32_t reg = rank < 6 ? a->sqr3 : rank < 12 ? a->sqr2 : a->sqr1;
    return (reg >> (ADC_SQ_BITS * (rank % 6))) & ADC_SQ_MASK;
}

static uint32_t adc_conversion_half(const struct stm32_adc *a, unsigned channel)
{
    uint32_t smp = 0;
    if (channel < 10)
        smp = (a->smpr2 >> (ADC_SMP_BITS * channel)) & ADC_SMP_MASK;
    else if (channel < ADC_INPUTS)
        smp = (a->smpr1 >> (ADC_SMP_BITS * (channel - 10))) & ADC_SMP_MASK;
    return adc_sample_half[smp] + ADC_CONVERSION_HALF;
}

static uint64_t adc_cycles_of_half(const struct stm32_adc *a, uint64_t half)
{
    uint64_t den = 2ull * a->adcclk_hz;
    return (uint64_t)(((unsigned __int128)half * SIM_HZ + den - 1) / den);
}

static uint64_t adc_half_of_cycles(const struct stm32_adc *a, uint64_t cycles)
{
    return (uint64_t)((unsigned __int128)cycles * 2u * a->adcclk_hz / SIM_HZ);
}

static unsigned adc_dualmod(const struct stm32_adc *a)
{
    if (!a->dual.convert)
        return ADC_DUALMOD_INDEPENDENT;
    return (a->cr1 & ADC_CR1_DUALMOD_MASK) >> ADC_CR1_DUALMOD_SHIFT;
}

enum adc_regular_mode { ADC_MODE_SINGLE, ADC_MODE_SIMULT, ADC_MODE_FAST_INTERL, ADC_MODE_SLOW_INTERL };

static enum adc_regular_mode adc_regular_mode(const struct stm32_adc *a)
{
    switch (adc_dualmod(a)) {
    case ADC_DUALMOD_REGSIMULT_INJECSIMULT:
    case ADC_DUALMOD_REGSIMULT_ALTERTRIG:
    case ADC_DUALMOD_REGSIMULT: return ADC_MODE_SIMULT;
    case ADC_DUALMOD_INJECSIMULT_FASTINTERL:
    case ADC_DUALMOD_FASTINTERL: return ADC_MODE_FAST_INTERL;
    case ADC_DUALMOD_INJECSIMULT_SLOWINTERL:
    case ADC_DUALMOD_SLOWINTERL: return ADC_MODE_SLOW_INTERL;
    default: return ADC_MODE_SINGLE;
    }
}

/* The timing of a regular run: conversion k ends at offset + (k/len)*total + prefix[k%len]. */
struct adc_plan {
    unsigned len;
    uint64_t offset;
    uint64_t prefix[ADC_MAX_RANKS]; /* end of rank j within one pass of the group */
    uint64_t total;
    bool repeat;
};

static void adc_make_plan(const struct stm32_adc *a, struct adc_plan *p)
{
    enum adc_regular_mode mode = adc_regular_mode(a);
    p->len = (a->cr1 & ADC_CR1_SCAN) ? ((a->sqr1 >> ADC_SQR1_L_SHIFT) & ADC_SQR1_L_MASK) + 1 : 1;
    p->offset = 0;
    p->repeat = (a->cr2 & ADC_CR2_CONT) != 0;
    if (mode == ADC_MODE_SLOW_INTERL) {
        /* One channel, re-converted every 28 cycles until stopped; ADC1 starts 14 cycles in. */
        p->len = 1;
        p->offset = ADC_SLOW_INTERL_HALF + adc_conversion_half(a, adc_channel_at_rank(a, 0)) -
                    2 * ADC_SLOW_INTERL_HALF;
        p->prefix[0] = p->total = 2 * ADC_SLOW_INTERL_HALF;
        p->repeat = true;
        return;
    }
    if (mode == ADC_MODE_FAST_INTERL)
        p->offset = ADC_FAST_INTERL_HALF;
    uint64_t sum = 0;
    for (unsigned j = 0; j < p->len; j++) {
        sum += adc_conversion_half(a, adc_channel_at_rank(a, j));
        p->prefix[j] = sum;
    }
    p->total = sum;
}

static uint64_t adc_plan_end(const struct adc_plan *p, uint64_t k)
{
    return p->offset + (k / p->len) * p->total + p->prefix[k % p->len];
}

/* Conversions of the run that have ended `half` half-cycles after its origin. */
static uint64_t adc_plan_done(const struct adc_plan *p, uint64_t half)
{
    if (half < p->offset + p->prefix[0])
        return 0;
    uint64_t x = half - p->offset;
    uint64_t done = (x / p->total) * p->len;
    uint64_t rem = x % p->total;
    for (unsigned j = 0; j < p->len && p->prefix[j] <= rem; j++)
        done++;
    return (!p->repeat && done > p->len) ? p->len : done;
}

/* ---- conversion ---------------------------------------------------------- */

static uint32_t adc_code(const struct stm32_adc *a, unsigned channel)
{
    if (channel >= ADC_INPUTS) {
        sim_warn_once(a->sim, a->name, ADC_SQR3, true, "channel above 17 selected");
        return 0;
    }
    if ((channel == ADC_CHANNEL_TEMP || channel == ADC_CHANNEL_VREFINT) &&
        !(a->cr2 & ADC_CR2_TSVREFE))
        return 0;
    uint64_t code = (uint64_t)a->input_mv[channel] * ADC_CODE_SPAN / ADC_VREF_MV;
    return code > ADC_CODE_MAX ? ADC_CODE_MAX : (uint32_t)code;
}

static uint32_t adc_align_regular(const struct stm32_adc *a, uint32_t code)
{
    return (a->cr2 & ADC_CR2_ALIGN) ? code << 4 : code;
}

static void adc_watchdog(struct stm32_adc *a, unsigned channel, uint32_t code)
{
    if (!(a->cr1 & ADC_CR1_AWDEN))
        return;
    if ((a->cr1 & ADC_CR1_AWDSGL) && channel != (a->cr1 & ADC_CR1_AWDCH_MASK))
        return;
    if (code > a->htr || code < a->ltr)
        a->sr |= ADC_SR_AWD;
}

/* Conversion k of the regular run ends now. */
static void adc_deliver(struct stm32_adc *a, uint64_t k, unsigned len)
{
    unsigned rank = (unsigned)(k % len);
    unsigned channel = adc_channel_at_rank(a, rank);
    uint32_t code = adc_code(a, channel);
    uint32_t dr = adc_align_regular(a, code);
    if (adc_regular_mode(a) != ADC_MODE_SINGLE)
        dr |= (uint32_t)a->dual.convert(a->dual.opaque) << 16;
    a->dr = dr;
    adc_watchdog(a, channel, code);
    if (rank == len - 1)
        a->sr |= ADC_SR_EOC; /* EOC marks the end of the group */
    if (a->cr2 & ADC_CR2_DMA)
        a->dma_pending = true;
}

static bool adc_irq_level(const struct stm32_adc *a)
{
    return ((a->sr & ADC_SR_EOC) && (a->cr1 & ADC_CR1_EOCIE)) ||
           ((a->sr & ADC_SR_JEOC) && (a->cr1 & ADC_CR1_JEOCIE)) ||
           ((a->sr & ADC_SR_AWD) && (a->cr1 & ADC_CR1_AWDIE));
}

static void adc_update_lines(struct stm32_adc *a)
{
    bool changed;
    do {
        changed = false;
        bool level = a->dma_pending && (a->cr2 & ADC_CR2_DMA);
        if (level != a->dma_level) {
            a->dma_level = level;
            line_set(&a->dma, level); /* the DMA may read DR from in here */
            changed = true;
        }
        level = adc_irq_level(a);
        if (level != a->irq_level) {
            a->irq_level = level;
            line_set(&a->irq, level);
            changed = true;
        }
    } while (changed);
}

/* Is anybody watching each conversion of the regular run as it happens? */
static bool adc_observed(const struct stm32_adc *a)
{
    return (a->cr2 & ADC_CR2_DMA) || (a->cr1 & ADC_CR1_EOCIE) ||
           ((a->cr1 & ADC_CR1_AWDIE) && (a->cr1 & ADC_CR1_AWDEN));
}

/* Deliver every regular conversion whose end has passed. */
static void adc_sync(struct stm32_adc *a)
{
    if (!a->reg_running || a->syncing)
        return;
    a->syncing = true;
    struct adc_plan p;
    adc_make_plan(a, &p);
    uint64_t now = sim_now(a->sim);
    uint64_t done = now < a->reg_origin ? 0 : adc_plan_done(&p, adc_half_of_cycles(a, now - a->reg_origin));
    /* Unobserved whole passes leave no trace but the last one's results. */
    if (!(a->cr2 & ADC_CR2_DMA) && done > a->reg_done + p.len)
        a->reg_done = done - p.len;
    while (a->reg_done < done) {
        adc_deliver(a, a->reg_done++, p.len);
        if (a->dma_pending)
            adc_update_lines(a); /* one DMA request per conversion */
    }
    if (!p.repeat && a->reg_done >= p.len)
        a->reg_running = false;
    a->syncing = false;
}

static void adc_schedule(struct stm32_adc *a)
{
    struct adc_plan p;
    if (!a->reg_running) {
        event_cancel(a->sim, &a->reg_ev);
        return;
    }
    adc_make_plan(a, &p);
    if (p.repeat && !adc_observed(a)) {
        event_cancel(a->sim, &a->reg_ev);
        return;
    }
    event_schedule(a->sim, &a->reg_ev,
                   a->reg_origin + adc_cycles_of_half(a, adc_plan_end(&p, a->reg_done)));
}

static void adc_update(struct stm32_adc *a)
{
    adc_update_lines(a);
    adc_schedule(a);
}

static void adc_reg_event(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_adc *a = opaque;
    adc_sync(a);
    adc_update(a);
}

/* (Re)start the regular group from its first rank now. */
static void adc_start_regular(struct stm32_adc *a)
{
    a->reg_running = true;
    a->reg_origin = sim_now(a->sim);
    a->reg_done = 0;
    a->sr |= ADC_SR_STRT;
    unsigned dualmod = adc_dualmod(a);
    if (dualmod == ADC_DUALMOD_INJECSIMULT || dualmod == ADC_DUALMOD_ALTERTRIG ||
        dualmod == ADC_DUALMOD_REGSIMULT_ALTERTRIG)
        sim_warn_once(a->sim, a->name, ADC_CR1, true,
                      "injected-simultaneous and alternate-trigger dual modes are not modelled");
    if ((a->cr1 & ADC_CR1_DUALMOD_MASK) && !a->dual.convert)
        sim_warn_once(a->sim, a->name, ADC_CR1, true,
                      "DUALMOD set on an ADC with no slave wired: converting alone");
    if (a->cr1 & (ADC_CR1_DISCEN | ADC_CR1_JAUTO))
        sim_warn_once(a->sim, a->name, ADC_CR1, true,
                      "discontinuous mode and automatic injection are not modelled");
}

/* ---- injected group ------------------------------------------------------ */

static unsigned adc_injected_length(const struct stm32_adc *a)
{
    return ((a->jsqr >> ADC_JSQR_JL_SHIFT) & ADC_JSQR_JL_MASK) + 1;
}

/* Injected rank i (0-based) of a group of `len`: the group ends at JSQ4. */
static unsigned adc_injected_channel(const struct stm32_adc *a, unsigned i, unsigned len)
{
    unsigned slot = ADC_INJ_RANKS - len + i;
    return (a->jsqr >> (ADC_SQ_BITS * slot)) & ADC_SQ_MASK;
}

static void adc_start_injected(struct stm32_adc *a)
{
    unsigned len = adc_injected_length(a);
    uint64_t half = 0;
    for (unsigned i = 0; i < len; i++)
        half += adc_conversion_half(a, adc_injected_channel(a, i, len));
    a->inj_running = true;
    a->sr |= ADC_SR_JSTRT;
    event_schedule_in(a->sim, &a->inj_ev, adc_cycles_of_half(a, half));
}

static void adc_inj_event(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_adc *a = opaque;
    unsigned len = adc_injected_length(a);
    for (unsigned i = 0; i < len; i++) {
        int32_t value = (int32_t)adc_code(a, adc_injected_channel(a, i, len)) - (int32_t)a->jofr[i];
        /* Signed result: right-aligned sign-extended, or left-aligned with SEXT in bit 15. */
        a->jdr[i] = (a->cr2 & ADC_CR2_ALIGN) ? ((uint32_t)value << 3) & ADC_16BIT_MASK
                                             : (uint32_t)value & ADC_16BIT_MASK;
    }
    a->inj_running = false;
    a->sr |= ADC_SR_JEOC;
    adc_update(a);
}

/* ---- calibration --------------------------------------------------------- */

static void adc_cal_done(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_adc *a = opaque;
    a->cr2 &= ~ADC_CR2_CAL;
}

static void adc_rstcal_done(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_adc *a = opaque;
    a->cr2 &= ~ADC_CR2_RSTCAL;
}

/* ---- registers ----------------------------------------------------------- */

static void adc_power_down(struct stm32_adc *a)
{
    a->reg_running = false;
    a->inj_running = false;
    event_cancel(a->sim, &a->inj_ev);
    event_cancel(a->sim, &a->cal_ev);
    event_cancel(a->sim, &a->rstcal_ev);
    a->cr2 &= ~ADC_CR2_HW_BITS;
}

static void adc_write_cr2(struct stm32_adc *a, uint32_t value)
{
    uint32_t old = a->cr2;
    value &= ADC_CR2_MASK;
    /* CAL and RSTCAL are cleared by hardware only. */
    uint32_t next = value | (old & ADC_CR2_HW_BITS);
    /* RM0008: writing ADON=1 again, changing nothing else, starts a conversion. */
    bool adon_restart = (old & ADC_CR2_ADON) && next == old;
    a->cr2 = next & ~(ADC_CR2_SWSTART | ADC_CR2_JSWSTART);
    if (!(a->cr2 & ADC_CR2_DMA))
        a->dma_pending = false; /* a request exists only while DMA is selected */
    if (!(next & ADC_CR2_ADON)) {
        adc_power_down(a);
        return;
    }
    if (!(old & ADC_CR2_ADON))
        return; /* powering up (tSTAB) converts nothing */
    if ((value & ADC_CR2_CAL) && !(old & ADC_CR2_CAL))
        event_schedule_in(a->sim, &a->cal_ev, adc_cycles_of_half(a, ADC_CAL_HALF));
    if ((value & ADC_CR2_RSTCAL) && !(old & ADC_CR2_RSTCAL))
        event_schedule_in(a->sim, &a->rstcal_ev, adc_cycles_of_half(a, ADC_RSTCAL_HALF));

    unsigned extsel = (a->cr2 & ADC_CR2_EXTSEL_MASK) >> ADC_CR2_EXTSEL_SHIFT;
    if ((a->cr2 & ADC_CR2_EXTTRIG) && extsel != ADC_EXTSEL_SWSTART)
        sim_warn_once(a->sim, a->name, ADC_CR2, true,
                      "external regular triggers other than SWSTART are not modelled");
    if (adon_restart || ((value & ADC_CR2_SWSTART) && (a->cr2 & ADC_CR2_EXTTRIG) &&
                         extsel == ADC_EXTSEL_SWSTART))
        adc_start_regular(a);
    else if (value & ADC_CR2_SWSTART)
        a->cr2 |= ADC_CR2_SWSTART; /* waits for EXTTRIG/EXTSEL to select it */

    unsigned jextsel = (a->cr2 & ADC_CR2_JEXTSEL_MASK) >> ADC_CR2_JEXTSEL_SHIFT;
    if ((a->cr2 & ADC_CR2_JEXTTRIG) && jextsel != ADC_JEXTSEL_JSWSTART)
        sim_warn_once(a->sim, a->name, ADC_CR2, true,
                      "external injected triggers other than JSWSTART are not modelled");
    if ((value & ADC_CR2_JSWSTART) && (a->cr2 & ADC_CR2_JEXTTRIG) &&
        jextsel == ADC_JEXTSEL_JSWSTART)
        adc_start_injected(a);
    else if (value & ADC_CR2_JSWSTART)
        a->cr2 |= ADC_CR2_JSWSTART;
}

/* A change of the group or its timing restarts the group (RM0008 11.12). */
static void adc_restart_if_running(struct stm32_adc *a)
{
    if (a->reg_running)
        adc_start_regular(a);
}

static uint32_t adc_read_reg(struct stm32_adc *a, uint32_t offset)
{
    bool lazy = a->reg_running && !event_pending(&a->reg_ev);
    switch (offset) {
    case ADC_SR:
        if (lazy)
            sim_note_volatile_read(a->sim);
        return a->sr;
    case ADC_CR1: return a->cr1;
    case ADC_CR2: return a->cr2;
    case ADC_SMPR1: return a->smpr1;
    case ADC_SMPR2: return a->smpr2;
    case ADC_HTR: return a->htr;
    case ADC_LTR: return a->ltr;
    case ADC_SQR1: return a->sqr1;
    case ADC_SQR2: return a->sqr2;
    case ADC_SQR3: return a->sqr3;
    case ADC_JSQR: return a->jsqr;
    case ADC_DR: {
        sim_note_volatile_read(a->sim);
        uint32_t value = a->dr;
        a->sr &= ~ADC_SR_EOC;
        a->dma_pending = false;
        return value;
    }
    default: break;
    }
    if (offset >= ADC_JOFR1 && offset < ADC_JOFR1 + 4 * ADC_INJ_RANKS)
        return a->jofr[(offset - ADC_JOFR1) / 4];
    if (offset >= ADC_JDR1 && offset < ADC_JDR1 + 4 * ADC_INJ_RANKS)
        return a->jdr[(offset - ADC_JDR1) / 4];
    sim_warn_once(a->sim, a->name, offset, false, NULL);
    return 0;
}

static void adc_write_reg(struct stm32_adc *a, uint32_t offset, uint32_t value)
{
    switch (offset) {
    case ADC_SR: a->sr &= value | ~ADC_SR_MASK; return; /* rc_w0 */
    case ADC_CR1: {
        uint32_t timing = ADC_CR1_SCAN | ADC_CR1_DUALMOD_MASK;
        uint32_t old = a->cr1;
        a->cr1 = value & ADC_CR1_MASK;
        if ((old ^ a->cr1) & timing)
            adc_restart_if_running(a);
        if (a->cr1 & ADC_CR1_JAWDEN)
            sim_warn_once(a->sim, a->name, offset, true,
                          "the analog watchdog on injected channels is not modelled");
        return;
    }
    case ADC_CR2: {
        uint32_t old = a->cr2;
        adc_write_cr2(a, value);
        if ((old ^ a->cr2) & ADC_CR2_CONT)
            adc_restart_if_running(a);
        return;
    }
    case ADC_SMPR1: a->smpr1 = value & ADC_SMPR1_MASK; adc_restart_if_running(a); return;
    case ADC_SMPR2: a->smpr2 = value & ADC_SMPR2_MASK; adc_restart_if_running(a); return;
    case ADC_HTR: a->htr = value & ADC_12BIT_MASK; return;
    case ADC_LTR: a->ltr = value & ADC_12BIT_MASK; return;
    case ADC_SQR1: a->sqr1 = value & ADC_SQR1_MASK; adc_restart_if_running(a); return;
    case ADC_SQR2: a->sqr2 = value & ADC_SQR23_MASK; adc_restart_if_running(a); return;
    case ADC_SQR3: a->sqr3 = value & ADC_SQR23_MASK; adc_restart_if_running(a); return;
    case ADC_JSQR: a->jsqr = value & ADC_JSQR_MASK; return;
    case ADC_DR: return; /* read-only */
    default: break;
    }
    if (offset >= ADC_JOFR1 && offset < ADC_JOFR1 + 4 * ADC_INJ_RANKS) {
        a->jofr[(offset - ADC_JOFR1) / 4] = value & ADC_12BIT_MASK;
        return;
    }
    if (offset >= ADC_JDR1 && offset < ADC_JDR1 + 4 * ADC_INJ_RANKS)
        return; /* read-only */
    sim_warn_once(a->sim, a->name, offset, true, NULL);
}

static uint32_t adc_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_adc *a = opaque;
    adc_sync(a);
    uint32_t value = adc_read_reg(a, offset & ~3u) >> (8 * (offset & 3u));
    /* A DMA read of DR must drop the request before the DMA looks again. */
    adc_update_lines(a);
    if (!a->syncing)
        adc_schedule(a);
    return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

static void adc_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_adc *a = opaque;
    (void)size;
    adc_sync(a);
    adc_write_reg(a, offset & ~3u, value << (8 * (offset & 3u)));
    adc_update_lines(a);
    if (!a->syncing)
        adc_schedule(a);
}

const struct mmio_ops stm32_adc_mmio = {
    .name = "adc",
    .read = adc_read,
    .write = adc_write,
};

/* ---- connections --------------------------------------------------------- */

uint16_t stm32_adc_dual_slave_convert(void *opaque)
{
    struct stm32_adc *a = opaque;
    /* The slave converts on the master's trigger when its own trigger path is enabled. */
    if ((a->cr2 & (ADC_CR2_ADON | ADC_CR2_EXTTRIG)) == (ADC_CR2_ADON | ADC_CR2_EXTTRIG)) {
        unsigned len =
            (a->cr1 & ADC_CR1_SCAN) ? ((a->sqr1 >> ADC_SQR1_L_SHIFT) & ADC_SQR1_L_MASK) + 1 : 1;
        unsigned rank = a->slave_rank % len;
        unsigned channel = adc_channel_at_rank(a, rank);
        uint32_t code = adc_code(a, channel);
        a->dr = adc_align_regular(a, code);
        adc_watchdog(a, channel, code);
        if (rank == len - 1)
            a->sr |= ADC_SR_EOC;
        a->slave_rank = (rank + 1) % len;
        adc_update_lines(a);
    }
    return (uint16_t)(a->dr & ADC_16BIT_MASK);
}

void stm32_adc_set_input_mv(struct stm32_adc *a, int channel, uint32_t millivolts)
{
    if (channel < 0 || channel >= ADC_INPUTS) {
        sim_log(a->sim, LOG_ERROR, "%s: no input channel %d (0..%d)", a->name, channel,
                ADC_INPUTS - 1);
        return;
    }
    adc_sync(a); /* conversions that already ended used the old voltage */
    a->input_mv[channel] = millivolts;
    adc_update(a);
}

void stm32_adc_set_clock(struct stm32_adc *a, uint32_t adcclk_hz)
{
    if (adcclk_hz == 0 || adcclk_hz == a->adcclk_hz)
        return;
    adc_sync(a);
    a->adcclk_hz = adcclk_hz;
    adc_restart_if_running(a);
    adc_update(a);
}

/* ---- life cycle ---------------------------------------------------------- */

void stm32_adc_reset(void *dev, enum reset_cause cause)
{
    struct stm32_adc *a = dev;
    (void)cause;
    event_cancel(a->sim, &a->reg_ev);
    adc_power_down(a);
    a->sr = a->cr1 = a->cr2 = a->smpr1 = a->smpr2 = a->ltr = 0;
    a->sqr1 = a->sqr2 = a->sqr3 = a->jsqr = a->dr = 0;
    memset(a->jofr, 0, sizeof a->jofr);
    memset(a->jdr, 0, sizeof a->jdr);
    a->htr = ADC_HTR_RESET;
    a->reg_done = 0;
    a->dma_pending = false;
    a->slave_rank = 0;
    adc_update_lines(a);
}

void stm32_adc_init(struct stm32_adc *adc, struct sim *sim, const char *name)
{
    memset(adc, 0, sizeof *adc);
    adc->sim = sim;
    adc->name = name;
    adc->adcclk_hz = ADC_DEFAULT_CLOCK_HZ;
    adc->input_mv[ADC_CHANNEL_TEMP] = ADC_TEMP_MV_25C;
    adc->input_mv[ADC_CHANNEL_VREFINT] = ADC_VREFINT_MV;
    event_init(&adc->reg_ev, adc_reg_event, adc, name);
    event_init(&adc->inj_ev, adc_inj_event, adc, name);
    event_init(&adc->cal_ev, adc_cal_done, adc, name);
    event_init(&adc->rstcal_ev, adc_rstcal_done, adc, name);
    stm32_adc_reset(adc, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void adc_fields(struct stm32_adc *d, struct snap_io *io)
{
    snap_io_u32(io, &d->adcclk_hz);
    SNAP_IO_U32S(io, d->input_mv); /* the analog inputs (--analog) are the snapshot's */
    snap_io_u32(io, &d->sr);
    snap_io_u32(io, &d->cr1);
    snap_io_u32(io, &d->cr2);
    snap_io_u32(io, &d->smpr1);
    snap_io_u32(io, &d->smpr2);
    SNAP_IO_U32S(io, d->jofr);
    snap_io_u32(io, &d->htr);
    snap_io_u32(io, &d->ltr);
    snap_io_u32(io, &d->sqr1);
    snap_io_u32(io, &d->sqr2);
    snap_io_u32(io, &d->sqr3);
    snap_io_u32(io, &d->jsqr);
    SNAP_IO_U32S(io, d->jdr);
    snap_io_u32(io, &d->dr);
    snap_io_bool(io, &d->reg_running);
    snap_io_u64(io, &d->reg_origin);
    snap_io_u64(io, &d->reg_done);
    snap_io_bool(io, &d->dma_pending);
    snap_io_bool(io, &d->syncing);
    snap_io_unsigned(io, &d->slave_rank);
    snap_io_event(io, &d->reg_ev);
    snap_io_bool(io, &d->inj_running);
    snap_io_event(io, &d->inj_ev);
    snap_io_event(io, &d->cal_ev);
    snap_io_event(io, &d->rstcal_ev);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->dma_level);
}

SNAP_DEFINE_PAIR(stm32_adc, struct stm32_adc, adc_fields)
