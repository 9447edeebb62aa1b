/*
 * tim.c - STM32F103 TIM1 (advanced-control) and TIM2..TIM4 (general-purpose)
 * timers, RM0008 sections 14 and 15: time base (PSC, ARR, RCR, preload),
 * output compare and PWM modes, update/compare flags and interrupt lines.
 *
 * Design decision: the counter is a function of virtual time, never ticked.
 * The state is an anchor (CNT and the prescaler counter at a known timer-clock
 * tick). tim_sync() moves the anchor to "now" in closed form, setting the
 * flags of every update and compare match in between, so SR and CNT reads are
 * computed lazily; tim_schedule() then puts exactly one event at the next
 * moment somebody can observe: a flag whose interrupt is enabled, a buffered
 * register that takes effect (the PWM waveform changes), a one-pulse stop.
 * A running timer with no interrupt enabled (the Spark LED PWM) costs nothing.
 *
 * Not modelled (warn once): center-aligned counting (counts up instead),
 * slave modes and external clocks (SMCR), input capture, DMA requests and
 * DMA bursts (DCR/DMAR), complementary outputs and dead time.
 */
#include "tim.h"

#include "emu/snapshot.h"

#include <string.h>

#define TIM_CNT_MAX 0xFFFFu
#define TIM_CNT_WRAP 0x10000u
#define TIM_REG16 0xFFFFu
#define TIM_RCR_MASK 0xFFu

/* Writable bits of each register: general-purpose / advanced-control. */
#define TIM_CR1_MASK 0x03FFu
#define TIM_CR2_MASK_GP 0x00F8u
#define TIM_CR2_MASK_ADV 0x7FFDu
#define TIM_SMCR_MASK 0xFFF7u
#define TIM_SMCR_SMS_MASK 0x0007u
#define TIM_SMCR_ECE (1u << 14)
#define TIM_DIER_MASK_GP 0x5F5Fu
#define TIM_DIER_MASK_ADV 0x7FFFu
#define TIM_DIER_DMA_BITS 0x7F00u
#define TIM_SR_MASK_GP 0x1E5Fu
#define TIM_SR_MASK_ADV 0x1EFFu
#define TIM_SR_CC_ALL (TIM_SR_CC1IF | TIM_SR_CC2IF | TIM_SR_CC3IF | TIM_SR_CC4IF)
#define TIM_CCER_MASK_GP 0x3333u
#define TIM_CCER_MASK_ADV 0x3FFFu
#define TIM_CCER_BITS_PER_CH 4

enum tim_irq { TIM_IRQ_UP, TIM_IRQ_CC, TIM_IRQ_BRK, TIM_IRQ_TRG, TIM_IRQ_COUNT };

/* ---- per-channel field access (ch = 0..3) ------------------------------ */

static unsigned ch_ccmr_byte(const struct stm32_tim *t, int ch)
{
    return (t->ccmr[ch >> 1] >> (8 * (ch & 1))) & 0xFFu;
}

static unsigned ch_ocm(const struct stm32_tim *t, int ch)
{
    return (ch_ccmr_byte(t, ch) & TIM_CCMR_OCM_MASK) >> TIM_CCMR_OCM_SHIFT;
}

static bool ch_is_output(const struct stm32_tim *t, int ch)
{
    return (ch_ccmr_byte(t, ch) & TIM_CCMR_CCS_MASK) == 0;
}

static bool ch_preload(const struct stm32_tim *t, int ch)
{
    return ch_ccmr_byte(t, ch) & TIM_CCMR_OCPE;
}

static bool ch_ccer(const struct stm32_tim *t, int ch, uint16_t bit)
{
    return t->ccer & (bit << (TIM_CCER_BITS_PER_CH * ch));
}

/* ---- time ---------------------------------------------------------------- */

/* Timer-clock ticks elapsed from cycle 0 to `cycle`. */
static uint64_t tim_ticks_at(const struct stm32_tim *t, uint64_t cycle)
{
    if (t->clock_hz == SIM_HZ)
        return cycle;
    return (uint64_t)((unsigned __int128)cycle * t->clock_hz / SIM_HZ);
}

/* The first cycle at which tick `tick` has been reached. */
static uint64_t tim_cycle_of_tick(const struct stm32_tim *t, uint64_t tick)
{
    if (t->clock_hz == SIM_HZ)
        return tick;
    return (uint64_t)(((unsigned __int128)tick * SIM_HZ + t->clock_hz - 1) / t->clock_hz);
}

static bool tim_down(const struct stm32_tim *t)
{
    return (t->cr1 & TIM_CR1_DIR) && !(t->cr1 & TIM_CR1_CMS_MASK);
}

/* RM0008: the counter is blocked while the auto-reload value is 0. */
static bool tim_counting(const struct stm32_tim *t)
{
    return (t->cr1 & TIM_CR1_CEN) && t->arr_active != 0;
}

/* Counter clocks from the anchor to the step that wraps (overflow or underflow). */
static uint64_t tim_steps_to_wrap(const struct stm32_tim *t)
{
    if (tim_down(t))
        return (uint64_t)t->cnt + 1;
    if (t->cnt <= t->arr_active)
        return (uint64_t)t->arr_active - t->cnt + 1;
    return TIM_CNT_WRAP - t->cnt; /* CNT was written above ARR: runs to 0xFFFF first */
}

static bool tim_shadow_pending(const struct stm32_tim *t)
{
    if (t->psc != t->psc_active)
        return true;
    if ((t->cr1 & TIM_CR1_ARPE) && t->arr != t->arr_active)
        return true;
    for (int ch = 0; ch < TIM_CHANNELS; ch++)
        if (ch_preload(t, ch) && t->ccr[ch] != t->ccr_active[ch])
            return true;
    return false;
}

/* The update event's register transfer: preload -> shadow. */
static void tim_load_shadows(struct stm32_tim *t)
{
    t->psc_active = t->psc;
    t->arr_active = t->arr;
    memcpy(t->ccr_active, t->ccr, sizeof t->ccr);
    t->rep_cnt = t->rcr;
}

/* `count` compare matches of channel `ch` happened. */
static void tim_match(struct stm32_tim *t, int ch, uint64_t count)
{
    if (count == 0 || !ch_is_output(t, ch))
        return;
    t->sr |= (uint16_t)(TIM_SR_CC1IF << ch);
    switch (ch_ocm(t, ch)) {
    case TIM_OCM_ACTIVE: t->ocref[ch] = true; break;
    case TIM_OCM_INACTIVE: t->ocref[ch] = false; break;
    case TIM_OCM_TOGGLE:
        if (count & 1)
            t->ocref[ch] = !t->ocref[ch];
        break;
    default: break;
    }
}

/* Advance the counter by `steps` counter clocks that do not reach the wrap. */
static void tim_run(struct stm32_tim *t, uint64_t steps)
{
    if (steps == 0)
        return;
    for (int ch = 0; ch < TIM_CHANNELS; ch++) {
        uint64_t c = t->ccr_active[ch];
        bool hit = tim_down(t) ? (c < t->cnt && c + steps >= t->cnt)
                               : (c > t->cnt && c <= t->cnt + steps);
        tim_match(t, ch, hit);
    }
    t->cnt = (uint16_t)(tim_down(t) ? t->cnt - steps : t->cnt + steps);
}

/*
 * The counter wraps (overflow when counting up, underflow when down). It is
 * an update event unless UDIS is set or the repetition counter is not yet 0.
 * Returns true if one-pulse mode stopped the counter.
 */
static bool tim_wrap(struct stm32_tim *t)
{
    bool uev = false;
    if (!(t->cr1 & TIM_CR1_UDIS)) {
        if (t->rep_cnt == 0)
            uev = true;
        else
            t->rep_cnt--;
    }
    if (uev) {
        tim_load_shadows(t);
        t->sr |= TIM_SR_UIF;
    }
    t->cnt = tim_down(t) ? t->arr_active : 0;
    t->psc_cnt = 0;
    for (int ch = 0; ch < TIM_CHANNELS; ch++)
        tim_match(t, ch, t->ccr_active[ch] == t->cnt);
    if (uev && (t->cr1 & TIM_CR1_OPM)) {
        t->cr1 &= (uint16_t)~TIM_CR1_CEN;
        return true;
    }
    return false;
}

/* Skip `n` whole periods that start and end at a wrap, with constant shadows. */
static void tim_skip_periods(struct stm32_tim *t, uint64_t n)
{
    for (int ch = 0; ch < TIM_CHANNELS; ch++)
        tim_match(t, ch, t->ccr_active[ch] <= t->arr_active ? n : 0);
    if (t->cr1 & TIM_CR1_UDIS)
        return;
    uint64_t uev_every = (uint64_t)t->rcr + 1;
    if (n > t->rep_cnt) {
        uint64_t after_first = n - t->rep_cnt - 1;
        t->sr |= TIM_SR_UIF;
        t->rep_cnt = (uint16_t)(t->rcr - after_first % uev_every);
    } else {
        t->rep_cnt = (uint16_t)(t->rep_cnt - n);
    }
}

/* Bring the counter, prescaler counter and flags up to the present. */
static void tim_sync(struct stm32_tim *t)
{
    uint64_t now = tim_ticks_at(t, sim_now(t->sim));
    uint64_t d = now > t->anchor ? now - t->anchor : 0;
    t->anchor = now;
    while (d > 0 && tim_counting(t)) {
        uint64_t k = (uint64_t)t->psc_active + 1;
        uint64_t steps = tim_steps_to_wrap(t);
        uint64_t to_wrap = steps * k - t->psc_cnt;
        if (d < to_wrap) {
            uint64_t total = t->psc_cnt + d;
            tim_run(t, total / k);
            t->psc_cnt = (uint32_t)(total % k);
            return;
        }
        tim_run(t, steps - 1);
        d -= to_wrap;
        if (tim_wrap(t) || d == 0 || !tim_counting(t))
            return;
        /*
         * Whole periods are identical once no update event can change anything:
         * with UDIS there is none, otherwise nothing may wait in a preload
         * register and one-pulse mode must not be about to stop the counter.
         */
        if ((t->cr1 & TIM_CR1_UDIS) || (!(t->cr1 & TIM_CR1_OPM) && !tim_shadow_pending(t))) {
            uint64_t period = ((uint64_t)t->arr_active + 1) * ((uint64_t)t->psc_active + 1);
            uint64_t n = d / period;
            if (n) {
                tim_skip_periods(t, n);
                d -= n * period;
            }
        }
    }
}

/* ---- outputs ------------------------------------------------------------- */

/* Does anybody observe the next compare match of `ch`? */
static bool tim_match_wanted(const struct stm32_tim *t, int ch)
{
    if (!ch_is_output(t, ch))
        return false;
    if ((t->dier & (TIM_DIER_CC1IE << ch)) && !(t->sr & (TIM_SR_CC1IF << ch)))
        return true;
    unsigned ocm = ch_ocm(t, ch);
    return (ocm == TIM_OCM_ACTIVE && !t->ocref[ch]) || (ocm == TIM_OCM_INACTIVE && t->ocref[ch]);
}

static uint64_t tim_steps_to_match(const struct stm32_tim *t, int ch, uint64_t steps_to_wrap)
{
    uint32_t c = t->ccr_active[ch], cnt = t->cnt, arr = t->arr_active;
    if (tim_down(t)) {
        if (c < cnt)
            return cnt - c;
        return c <= arr ? steps_to_wrap + (arr - c) : UINT64_MAX;
    }
    uint32_t top = cnt <= arr ? arr : TIM_CNT_MAX;
    if (c > cnt && c <= top)
        return c - cnt;
    return c <= arr ? steps_to_wrap + c : UINT64_MAX;
}

static void tim_schedule(struct stm32_tim *t)
{
    if (!tim_counting(t)) {
        event_cancel(t->sim, &t->event);
        return;
    }
    uint64_t steps_to_wrap = tim_steps_to_wrap(t);
    uint64_t best = UINT64_MAX;
    /* The wrap matters if it may load preloads, stop a one-pulse run, or set a watched UIF. */
    bool uev_possible = !(t->cr1 & TIM_CR1_UDIS);
    if (uev_possible && (tim_shadow_pending(t) || (t->cr1 & TIM_CR1_OPM) ||
                         ((t->dier & TIM_DIER_UIE) && !(t->sr & TIM_SR_UIF))))
        best = steps_to_wrap;
    for (int ch = 0; ch < TIM_CHANNELS; ch++) {
        if (tim_match_wanted(t, ch)) {
            uint64_t s = tim_steps_to_match(t, ch, steps_to_wrap);
            if (s < best)
                best = s;
        }
    }
    if (best == UINT64_MAX) {
        event_cancel(t->sim, &t->event);
        return;
    }
    uint64_t k = (uint64_t)t->psc_active + 1;
    uint64_t tick = t->anchor + best * k - t->psc_cnt;
    event_schedule(t->sim, &t->event, tim_cycle_of_tick(t, tick));
}

/* OCxREF right now, for the modes that compare continuously. */
static bool tim_ref_now(const struct stm32_tim *t, int ch)
{
    unsigned ocm = ch_ocm(t, ch);
    uint32_t c = t->ccr_active[ch];
    switch (ocm) {
    case TIM_OCM_FORCE_ACTIVE: return true;
    case TIM_OCM_FORCE_INACTIVE: return false;
    case TIM_OCM_PWM1:
    case TIM_OCM_PWM2: {
        bool active = tim_down(t) ? t->cnt <= c : t->cnt < c;
        return ocm == TIM_OCM_PWM2 ? !active : active;
    }
    default: return t->ocref[ch];
    }
}

/*
 * How many of `*period` equal parts of each period OCxREF is high. Counting
 * parts (not 1/65536 units) lets the polarity inversion stay exact.
 */
static uint64_t tim_ref_high_parts(const struct stm32_tim *t, int ch, uint64_t *period)
{
    unsigned ocm = ch_ocm(t, ch);
    bool running = tim_counting(t);
    uint64_t c = t->ccr_active[ch], arr = t->arr_active;
    if (running && (ocm == TIM_OCM_PWM1 || ocm == TIM_OCM_PWM2)) {
        *period = arr + 1;
        uint64_t high = tim_down(t) ? (c < arr ? c : arr) + 1 : (c < *period ? c : *period);
        return ocm == TIM_OCM_PWM2 ? *period - high : high;
    }
    *period = 2;
    if (running && ocm == TIM_OCM_TOGGLE && c <= arr)
        return 1; /* a square wave at half the update rate */
    return tim_ref_now(t, ch) ? 2 : 0;
}

static void tim_update_pwm(struct stm32_tim *t)
{
    for (int ch = 0; ch < TIM_CHANNELS; ch++) {
        bool driven = ch_is_output(t, ch) && ch_ccer(t, ch, TIM_CCER_CC1E);
        uint32_t high = 0;
        if (driven) {
            uint64_t period;
            uint64_t parts = tim_ref_high_parts(t, ch, &period);
            if (ch_ccer(t, ch, TIM_CCER_CC1P))
                parts = period - parts;
            high = (uint32_t)(parts * TIM_PWM_FULL / period);
        }
        if (t->advanced && !(t->bdtr & TIM_BDTR_MOE)) {
            /* Main output off: released (OSSI=0) or held at its idle level OISx. */
            driven = driven && (t->bdtr & TIM_BDTR_OSSI);
            high = (t->cr2 & (TIM_CR2_OIS1 << (2 * ch))) ? TIM_PWM_FULL : 0;
        }
        if (!driven)
            high = 0;
        if (t->pwm_valid[ch] && t->pwm_driven[ch] == driven && t->pwm_high[ch] == high)
            continue;
        t->pwm_valid[ch] = true;
        t->pwm_driven[ch] = driven;
        t->pwm_high[ch] = high;
        if (t->pwm[ch].set)
            t->pwm[ch].set(t->pwm[ch].opaque, ch + 1, driven, high);
    }
}

static void tim_set_irq(struct stm32_tim *t, enum tim_irq which, bool level)
{
    const struct line *lines[TIM_IRQ_COUNT] = {&t->irq_up, &t->irq_cc, &t->irq_brk, &t->irq_trg};
    if (t->irq_level[which] == level)
        return;
    t->irq_level[which] = level;
    line_set(lines[which], level);
}

static void tim_update_irqs(struct stm32_tim *t)
{
    uint16_t active = t->sr & t->dier;
    if (t->advanced) {
        tim_set_irq(t, TIM_IRQ_UP, active & TIM_SR_UIF);
        tim_set_irq(t, TIM_IRQ_CC, active & TIM_SR_CC_ALL);
        tim_set_irq(t, TIM_IRQ_BRK, active & TIM_SR_BIF);
        tim_set_irq(t, TIM_IRQ_TRG, active & (TIM_SR_TIF | TIM_SR_COMIF));
    } else {
        bool any = active & (TIM_SR_UIF | TIM_SR_CC_ALL | TIM_SR_TIF);
        for (int i = 0; i < TIM_IRQ_COUNT; i++)
            tim_set_irq(t, (enum tim_irq)i, any);
    }
}

/* After any change of state: outputs follow, then the next event is chosen. */
static void tim_update(struct stm32_tim *t)
{
    tim_update_irqs(t);
    tim_update_pwm(t);
    tim_schedule(t);
}

static void tim_event(struct sim *sim, void *opaque)
{
    (void)sim;
    struct stm32_tim *t = opaque;
    tim_sync(t);
    tim_update(t);
}

/* ---- registers ----------------------------------------------------------- */

static void tim_write_ccmr(struct stm32_tim *t, int reg, uint16_t value)
{
    uint16_t old = t->ccmr[reg];
    bool ref[2] = {tim_ref_now(t, 2 * reg), tim_ref_now(t, 2 * reg + 1)};
    t->ccmr[reg] = value;
    for (int i = 0; i < 2; i++) {
        /* A latched OCxREF keeps the level the previous mode last produced. */
        if (((old ^ value) >> (8 * i)) & TIM_CCMR_OCM_MASK)
            t->ocref[2 * reg + i] = ref[i];
        if (!ch_is_output(t, 2 * reg + i))
            sim_warn_once(t->sim, t->name, reg ? TIM_CCMR2 : TIM_CCMR1, true,
                          "input capture is not modelled");
    }
}

static void tim_write_egr(struct stm32_tim *t, uint16_t value)
{
    if (value & TIM_EGR_UG) {
        t->psc_cnt = 0;
        if (!(t->cr1 & TIM_CR1_UDIS)) {
            tim_load_shadows(t);
            if (!(t->cr1 & TIM_CR1_URS))
                t->sr |= TIM_SR_UIF;
        }
        t->cnt = tim_down(t) ? t->arr_active : 0;
    }
    for (int ch = 0; ch < TIM_CHANNELS; ch++)
        if (value & (TIM_EGR_CC1G << ch))
            t->sr |= (uint16_t)(TIM_SR_CC1IF << ch);
    if (value & TIM_EGR_TG)
        t->sr |= TIM_SR_TIF;
    if (t->advanced && (value & TIM_EGR_COMG))
        t->sr |= TIM_SR_COMIF;
    if (t->advanced && (value & TIM_EGR_BG))
        t->sr |= TIM_SR_BIF;
}

static uint32_t tim_read_reg(struct stm32_tim *t, uint32_t offset)
{
    switch (offset) {
    case TIM_CR1: return t->cr1;
    case TIM_CR2: return t->cr2;
    case TIM_SMCR: return t->smcr;
    case TIM_DIER: return t->dier;
    case TIM_SR:
        sim_note_volatile_read(t->sim);
        return t->sr;
    case TIM_EGR: return 0;
    case TIM_CCMR1: return t->ccmr[0];
    case TIM_CCMR2: return t->ccmr[1];
    case TIM_CCER: return t->ccer;
    case TIM_CNT:
        sim_note_volatile_read(t->sim);
        return t->cnt;
    case TIM_PSC: return t->psc;
    case TIM_ARR: return t->arr;
    case TIM_CCR1:
    case TIM_CCR2:
    case TIM_CCR3:
    case TIM_CCR4: return t->ccr[(offset - TIM_CCR1) / 4];
    case TIM_RCR:
        if (t->advanced)
            return t->rcr;
        break;
    case TIM_BDTR:
        if (t->advanced)
            return t->bdtr;
        break;
    case TIM_DCR:
        sim_warn_once(t->sim, t->name, offset, false, "DMA burst is not modelled");
        return t->dcr;
    case TIM_DMAR:
        sim_warn_once(t->sim, t->name, offset, false, "DMA burst is not modelled");
        return 0;
    default: break;
    }
    sim_warn_once(t->sim, t->name, offset, false, NULL);
    return 0;
}

static void tim_write_reg(struct stm32_tim *t, uint32_t offset, uint16_t value)
{
    switch (offset) {
    case TIM_CR1:
        t->cr1 = value & TIM_CR1_MASK;
        if (t->cr1 & TIM_CR1_CMS_MASK)
            sim_warn_once(t->sim, t->name, offset, true,
                          "center-aligned mode is not modelled; the counter counts up");
        break;
    case TIM_CR2: t->cr2 = value & (t->advanced ? TIM_CR2_MASK_ADV : TIM_CR2_MASK_GP); break;
    case TIM_SMCR:
        t->smcr = value & TIM_SMCR_MASK;
        if (t->smcr & (TIM_SMCR_SMS_MASK | TIM_SMCR_ECE))
            sim_warn_once(t->sim, t->name, offset, true,
                          "slave modes and external clocks are not modelled");
        break;
    case TIM_DIER:
        t->dier = value & (t->advanced ? TIM_DIER_MASK_ADV : TIM_DIER_MASK_GP);
        if (t->dier & TIM_DIER_DMA_BITS)
            sim_warn_once(t->sim, t->name, offset, true, "timer DMA requests are not modelled");
        break;
    case TIM_SR: t->sr &= value; break; /* rc_w0: writing 0 clears, 1 leaves */
    case TIM_EGR: tim_write_egr(t, value); break;
    case TIM_CCMR1: tim_write_ccmr(t, 0, value); break;
    case TIM_CCMR2: tim_write_ccmr(t, 1, value); break;
    case TIM_CCER: t->ccer = value & (t->advanced ? TIM_CCER_MASK_ADV : TIM_CCER_MASK_GP); break;
    case TIM_CNT: t->cnt = value; break;
    case TIM_PSC: t->psc = value; break;
    case TIM_ARR:
        t->arr = value;
        if (!(t->cr1 & TIM_CR1_ARPE))
            t->arr_active = value;
        break;
    case TIM_CCR1:
    case TIM_CCR2:
    case TIM_CCR3:
    case TIM_CCR4: {
        int ch = (int)(offset - TIM_CCR1) / 4;
        t->ccr[ch] = value;
        if (!ch_preload(t, ch))
            t->ccr_active[ch] = value;
        break;
    }
    case TIM_RCR:
        if (t->advanced)
            t->rcr = value & TIM_RCR_MASK;
        else
            sim_warn_once(t->sim, t->name, offset, true, NULL);
        break;
    case TIM_BDTR:
        if (t->advanced)
            t->bdtr = value;
        else
            sim_warn_once(t->sim, t->name, offset, true, NULL);
        break;
    case TIM_DCR:
    case TIM_DMAR:
        if (offset == TIM_DCR)
            t->dcr = value;
        sim_warn_once(t->sim, t->name, offset, true, "DMA burst is not modelled");
        break;
    default:
        sim_warn_once(t->sim, t->name, offset, true, NULL);
        break;
    }
}

static uint32_t tim_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_tim *t = opaque;
    tim_sync(t);
    uint32_t value = tim_read_reg(t, offset & ~3u) >> (8 * (offset & 3u));
    return size >= 4 ? value : value & ((1u << (8 * size)) - 1);
}

static void tim_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_tim *t = opaque;
    (void)size;
    tim_sync(t);
    tim_write_reg(t, offset & ~3u, (uint16_t)((value << (8 * (offset & 3u))) & TIM_REG16));
    tim_update(t);
}

const struct mmio_ops stm32_tim_mmio = {
    .name = "tim",
    .read = tim_read,
    .write = tim_write,
};

/* ---- life cycle ---------------------------------------------------------- */

void stm32_tim_reset(void *dev, enum reset_cause cause)
{
    struct stm32_tim *t = dev;
    (void)cause; /* the timers are in the core domain: every reset clears them */
    event_cancel(t->sim, &t->event);
    t->cr1 = t->cr2 = t->smcr = t->dier = t->sr = t->ccer = 0;
    t->ccmr[0] = t->ccmr[1] = 0;
    t->psc = t->arr = t->rcr = t->bdtr = t->dcr = 0;
    t->psc_active = t->arr_active = t->rep_cnt = 0;
    memset(t->ccr, 0, sizeof t->ccr);
    memset(t->ccr_active, 0, sizeof t->ccr_active);
    memset(t->ocref, 0, sizeof t->ocref);
    t->cnt = 0;
    t->psc_cnt = 0;
    t->anchor = tim_ticks_at(t, sim_now(t->sim));
    memset(t->pwm_valid, 0, sizeof t->pwm_valid); /* report every output afresh */
    tim_update(t);
}

void stm32_tim_init(struct stm32_tim *tim, struct sim *sim, const char *name, bool advanced,
                    uint32_t clock_hz)
{
    memset(tim, 0, sizeof *tim);
    tim->sim = sim;
    tim->name = name;
    tim->advanced = advanced;
    tim->clock_hz = clock_hz ? clock_hz : (uint32_t)SIM_HZ;
    event_init(&tim->event, tim_event, tim, name);
    stm32_tim_reset(tim, RESET_POWER);
}

void stm32_tim_set_clock(struct stm32_tim *tim, uint32_t clock_hz)
{
    if (clock_hz == 0 || clock_hz == tim->clock_hz)
        return;
    tim_sync(tim);
    tim->clock_hz = clock_hz;
    tim->anchor = tim_ticks_at(tim, sim_now(tim->sim));
    tim_update(tim);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void tim_fields(struct stm32_tim *d, struct snap_io *io)
{
    snap_io_u32(io, &d->clock_hz);
    snap_io_u16(io, &d->cr1);
    snap_io_u16(io, &d->cr2);
    snap_io_u16(io, &d->smcr);
    snap_io_u16(io, &d->dier);
    snap_io_u16(io, &d->sr);
    SNAP_IO_U16S(io, d->ccmr);
    snap_io_u16(io, &d->ccer);
    snap_io_u16(io, &d->psc);
    snap_io_u16(io, &d->arr);
    snap_io_u16(io, &d->rcr);
    SNAP_IO_U16S(io, d->ccr);
    snap_io_u16(io, &d->bdtr);
    snap_io_u16(io, &d->dcr);
    snap_io_u16(io, &d->psc_active);
    snap_io_u16(io, &d->arr_active);
    SNAP_IO_U16S(io, d->ccr_active);
    snap_io_u16(io, &d->rep_cnt);
    snap_io_u16(io, &d->cnt);
    snap_io_u32(io, &d->psc_cnt);
    snap_io_u64(io, &d->anchor);
    SNAP_IO_BOOLS(io, d->ocref);
    snap_io_event(io, &d->event);
    SNAP_IO_BOOLS(io, d->irq_level);
    SNAP_IO_BOOLS(io, d->pwm_valid);
    SNAP_IO_BOOLS(io, d->pwm_driven);
    SNAP_IO_U32S(io, d->pwm_high);
}

SNAP_DEFINE_PAIR(stm32_tim, struct stm32_tim, tim_fields)
