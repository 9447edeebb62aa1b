/*
 * rcc.c - STM32F103 reset and clock control (RM0008 section 7).
 *
 * Design decision: the registers hold only what software wrote; every ready
 * flag (HSIRDY, HSERDY, PLLRDY, LSERDY, LSIRDY) is the state of an oscillator
 * model, composed into the register on read. An oscillator becomes ready one
 * start-up time after its enable (an event, so SystemInit's polls finish in
 * virtual time and idle loops can be fast-forwarded) and stops being ready a
 * few of its own cycles after the enable is cleared: this is why
 * RCC_LSEConfig's "LSEON off, then on" byte stores at every boot do not
 * restart a running LSE, exactly as on the chip.
 */
#include "rcc.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define RCC_CR_HSITRIM_RESET (16u << RCC_CR_HSITRIM_SHIFT)
/* HSICAL is trimmed per chip at the factory; 0 keeps traces reproducible. */
#define RCC_CR_HSICAL_FACTORY 0u
#define RCC_CR_WRITABLE (RCC_CR_HSION | RCC_CR_HSITRIM_MASK | RCC_CR_HSEON | RCC_CR_HSEBYP | \
                         RCC_CR_CSSON | RCC_CR_PLLON)
#define RCC_CFGR_WRITABLE (RCC_CFGR_SW_MASK | RCC_CFGR_HPRE_MASK | RCC_CFGR_PPRE1_MASK |     \
                           RCC_CFGR_PPRE2_MASK | RCC_CFGR_ADCPRE_MASK | RCC_CFGR_PLLSRC |   \
                           RCC_CFGR_PLLXTPRE | RCC_CFGR_PLLMUL_MASK | RCC_CFGR_USBPRE |     \
                           RCC_CFGR_MCO_MASK)
#define RCC_CFGR_PLL_CONFIG (RCC_CFGR_PLLSRC | RCC_CFGR_PLLXTPRE | RCC_CFGR_PLLMUL_MASK)
#define RCC_CIR_FLAGS (RCC_CIR_LSIRDYF | RCC_CIR_LSERDYF | RCC_CIR_HSIRDYF | RCC_CIR_HSERDYF | \
                       RCC_CIR_PLLRDYF | RCC_CIR_CSSF)
#define RCC_CIR_ENABLES (RCC_CIR_LSIRDYIE | RCC_CIR_LSERDYIE | RCC_CIR_HSIRDYIE |            \
                         RCC_CIR_HSERDYIE | RCC_CIR_PLLRDYIE)
#define RCC_CIR_ENABLE_SHIFT 8  /* xxRDYIE = xxRDYF << 8 */
#define RCC_CIR_CLEAR_SHIFT 16  /* xxRDYC = xxRDYF << 16 */
#define RCC_APB2_MASK ((1u << RCC_APB2_AFIO) | (1u << RCC_APB2_IOPA) | (1u << RCC_APB2_IOPB) | \
                       (1u << RCC_APB2_IOPC) | (1u << RCC_APB2_IOPD) | (1u << RCC_APB2_IOPE) | \
                       (1u << RCC_APB2_ADC1) | (1u << RCC_APB2_ADC2) | (1u << RCC_APB2_TIM1) | \
                       (1u << RCC_APB2_SPI1) | (1u << RCC_APB2_USART1))
#define RCC_APB1_MASK ((1u << RCC_APB1_TIM2) | (1u << RCC_APB1_TIM3) | (1u << RCC_APB1_TIM4) |  \
                       (1u << RCC_APB1_WWDG) | (1u << RCC_APB1_SPI2) |                        \
                       (1u << RCC_APB1_USART2) | (1u << RCC_APB1_USART3) |                    \
                       (1u << RCC_APB1_I2C1) | (1u << RCC_APB1_I2C2) | (1u << RCC_APB1_USB) | \
                       (1u << RCC_APB1_CAN) | (1u << RCC_APB1_BKP) | (1u << RCC_APB1_PWR))
#define RCC_AHBENR_MASK (RCC_AHBENR_DMA1EN | RCC_AHBENR_SRAMEN | RCC_AHBENR_FLITFEN | \
                         RCC_AHBENR_CRCEN)
#define RCC_AHBENR_RESET (RCC_AHBENR_SRAMEN | RCC_AHBENR_FLITFEN)
#define RCC_CSR_RESET_FLAGS (RCC_CSR_PINRSTF | RCC_CSR_PORRSTF | RCC_CSR_SFTRSTF | \
                             RCC_CSR_IWDGRSTF | RCC_CSR_WWDGRSTF | RCC_CSR_LPWRRSTF)

#define PLL_MUL_MAX 16u

/* Cycles of the CPU clock in `n` cycles of a clock at `hz` (rounded up). */
static uint64_t cycles_of(uint32_t hz, uint64_t n)
{
    return (n * SIM_HZ + hz - 1) / hz;
}

/*
 * Start-up times. HSI and PLL: datasheet tsu(HSI) 2 us and tLOCK 200 us (max).
 * LSI: tsu(LSI) 85 us (max).
 * HSE: the crystal needs ~2 ms on the chip, but SystemInit polls HSERDY a
 * bounded 0x500 times and gives up (silently staying at 8 MHz). The loop runs
 * at 8 MHz (HSI) and counts instructions, not cycles with flash wait states
 * and bus stalls, so its length here is only an estimate; 50 us keeps the
 * firmware on the path it takes on real boards (HSE found).
 * LSE: a cold 32 kHz crystal takes up to ~3 s (datasheet tsu(LSE)); nothing in
 * the Spark firmware depends on that wait except the boot time it adds, so the
 * default is short; stm32_rcc_set_startup() restores the slow start.
 */
#define HSI_STARTUP SIM_US(2)
#define HSE_STARTUP SIM_US(50)
#define PLL_STARTUP SIM_US(200)
#define LSE_STARTUP SIM_MS(10)
#define LSI_STARTUP SIM_US(85)
/* A bypassed oscillator (HSEBYP, LSEBYP) is ready after a few input cycles. */
#define BYPASS_READY_CYCLES 6u
/* RM0008: xxRDY clears 6 oscillator cycles after xxON (LSI: 3 cycles). */
#define OSC_STOP_CYCLES 6u
#define LSI_STOP_CYCLES 3u

static const uint32_t osc_ready_flag[STM32_RCC_OSC_COUNT] = {
    [STM32_RCC_HSI] = RCC_CIR_HSIRDYF, [STM32_RCC_HSE] = RCC_CIR_HSERDYF,
    [STM32_RCC_LSE] = RCC_CIR_LSERDYF, [STM32_RCC_LSI] = RCC_CIR_LSIRDYF,
    [STM32_RCC_PLL] = RCC_CIR_PLLRDYF,
};

static const char *const osc_event_name[STM32_RCC_OSC_COUNT] = {
    [STM32_RCC_HSI] = "rcc-hsi", [STM32_RCC_HSE] = "rcc-hse", [STM32_RCC_LSE] = "rcc-lse",
    [STM32_RCC_LSI] = "rcc-lsi", [STM32_RCC_PLL] = "rcc-pll",
};

static unsigned rcc_sws(const struct stm32_rcc *rcc)
{
    return (rcc->cfgr & RCC_CFGR_SWS_MASK) >> RCC_CFGR_SWS_SHIFT;
}

/* ---- clock tree ----------------------------------------------------------- */

static uint32_t pll_hz(const struct stm32_rcc *rcc)
{
    uint32_t in;
    if (rcc->cfgr & RCC_CFGR_PLLSRC)
        in = (rcc->cfgr & RCC_CFGR_PLLXTPRE) ? STM32_HSE_HZ / 2 : STM32_HSE_HZ;
    else
        in = STM32_HSI_HZ / 2;
    uint32_t mul = ((rcc->cfgr & RCC_CFGR_PLLMUL_MASK) >> RCC_CFGR_PLLMUL_SHIFT) + 2;
    if (mul > PLL_MUL_MAX)
        mul = PLL_MUL_MAX;
    return in * mul;
}

uint32_t stm32_rcc_sysclk_hz(const struct stm32_rcc *rcc)
{
    switch (rcc_sws(rcc)) {
    case RCC_CFGR_SW_HSE: return STM32_HSE_HZ;
    case RCC_CFGR_SW_PLL: return pll_hz(rcc);
    default: return STM32_HSI_HZ;
    }
}

uint32_t stm32_rcc_hclk_hz(const struct stm32_rcc *rcc)
{
    /* HPRE: 0xxx = /1, 1000 = /2 ... 1011 = /16, 1100 = /64 ... 1111 = /512 */
    static const unsigned hpre_shift[8] = {1, 2, 3, 4, 6, 7, 8, 9};
    unsigned hpre = (rcc->cfgr & RCC_CFGR_HPRE_MASK) >> RCC_CFGR_HPRE_SHIFT;
    uint32_t sysclk = stm32_rcc_sysclk_hz(rcc);
    return (hpre & 8u) ? sysclk >> hpre_shift[hpre & 7u] : sysclk;
}

/* PPREx: 0xx = /1, 100 = /2, 101 = /4, 110 = /8, 111 = /16 */
static unsigned ppre_shift(unsigned ppre)
{
    return (ppre & 4u) ? (ppre & 3u) + 1 : 0;
}

uint32_t stm32_rcc_pclk1_hz(const struct stm32_rcc *rcc)
{
    return stm32_rcc_hclk_hz(rcc) >>
           ppre_shift((rcc->cfgr & RCC_CFGR_PPRE1_MASK) >> RCC_CFGR_PPRE1_SHIFT);
}

uint32_t stm32_rcc_pclk2_hz(const struct stm32_rcc *rcc)
{
    return stm32_rcc_hclk_hz(rcc) >>
           ppre_shift((rcc->cfgr & RCC_CFGR_PPRE2_MASK) >> RCC_CFGR_PPRE2_SHIFT);
}

uint32_t stm32_rcc_tim_apb1_hz(const struct stm32_rcc *rcc)
{
    bool divided = ppre_shift((rcc->cfgr & RCC_CFGR_PPRE1_MASK) >> RCC_CFGR_PPRE1_SHIFT) != 0;
    return stm32_rcc_pclk1_hz(rcc) * (divided ? 2u : 1u);
}

uint32_t stm32_rcc_tim_apb2_hz(const struct stm32_rcc *rcc)
{
    bool divided = ppre_shift((rcc->cfgr & RCC_CFGR_PPRE2_MASK) >> RCC_CFGR_PPRE2_SHIFT) != 0;
    return stm32_rcc_pclk2_hz(rcc) * (divided ? 2u : 1u);
}

/* ---- outputs -------------------------------------------------------------- */

static void drive(const struct line *l, bool *last, bool level, bool force)
{
    if (level != *last || force) {
        *last = level;
        line_set(l, level);
    }
}

static uint32_t clock_signature(const struct stm32_rcc *rcc)
{
    /* Everything the bus clocks depend on: the selected source and prescalers (ADCPRE too). */
    return (rcc->cfgr & (RCC_CFGR_SWS_MASK | RCC_CFGR_HPRE_MASK | RCC_CFGR_PPRE1_MASK |
                         RCC_CFGR_PPRE2_MASK | RCC_CFGR_ADCPRE_MASK | RCC_CFGR_PLL_CONFIG)) ^
           stm32_rcc_sysclk_hz(rcc);
}

static void rcc_update_outputs(struct stm32_rcc *rcc, bool force)
{
    uint32_t flags = rcc->cir & RCC_CIR_FLAGS & ~RCC_CIR_CSSF;
    bool irq = (flags & (rcc->cir >> RCC_CIR_ENABLE_SHIFT)) != 0;
    drive(&rcc->irq, &rcc->irq_level, irq, force);

    bool bdrst = (rcc->bdcr & RCC_BDCR_BDRST) != 0;
    bool rtc = !bdrst && (rcc->bdcr & RCC_BDCR_RTCEN) &&
               ((rcc->bdcr & RCC_BDCR_RTCSEL_MASK) >> RCC_BDCR_RTCSEL_SHIFT) ==
                   RCC_BDCR_RTCSEL_LSE &&
               rcc->osc[STM32_RCC_LSE].ready;
    drive(&rcc->rtc_clock, &rcc->rtc_clock_level, rtc, force);

    if (bdrst != rcc->backup_reset_level || force) {
        rcc->backup_reset_level = bdrst;
        for (int i = 0; i < STM32_RCC_BACKUP_RESET_COUNT; i++)
            line_set(&rcc->backup_reset[i], bdrst);
    }

    uint32_t sig = clock_signature(rcc);
    if (sig != rcc->clock_signature || force) {
        rcc->clock_signature = sig;
        line_set(&rcc->clock_change, true);
        line_set(&rcc->clock_change, false);
    }
}

/* ---- oscillators ---------------------------------------------------------- */

static bool osc_wanted(const struct stm32_rcc *rcc, enum stm32_rcc_osc_id id)
{
    switch (id) {
    case STM32_RCC_HSI: return rcc->cr & RCC_CR_HSION;
    case STM32_RCC_HSE: return rcc->cr & RCC_CR_HSEON;
    case STM32_RCC_LSE: return rcc->bdcr & RCC_BDCR_LSEON;
    case STM32_RCC_LSI: return (rcc->csr & RCC_CSR_LSION) || rcc->lsi_forced;
    case STM32_RCC_PLL: {
        enum stm32_rcc_osc_id src = (rcc->cfgr & RCC_CFGR_PLLSRC) ? STM32_RCC_HSE : STM32_RCC_HSI;
        return (rcc->cr & RCC_CR_PLLON) && rcc->osc[src].ready;
    }
    default: return false;
    }
}

static uint64_t osc_startup(const struct stm32_rcc *rcc, const struct stm32_rcc_osc *o)
{
    if (o->id == STM32_RCC_HSE && (rcc->cr & RCC_CR_HSEBYP))
        return cycles_of(STM32_HSE_HZ, BYPASS_READY_CYCLES);
    if (o->id == STM32_RCC_LSE && (rcc->bdcr & RCC_BDCR_LSEBYP))
        return cycles_of(STM32_LSE_HZ, BYPASS_READY_CYCLES);
    return o->startup;
}

/* Move an oscillator towards the state its enables ask for. */
static void osc_steer(struct stm32_rcc *rcc, struct stm32_rcc_osc *o)
{
    bool want = osc_wanted(rcc, o->id);
    if (want == o->ready) {
        if (event_pending(&o->event))
            event_cancel(rcc->sim, &o->event); /* re-enabled before it stopped, or vice versa */
        return;
    }
    if (event_pending(&o->event) && o->target == want)
        return;
    o->target = want;
    event_schedule_in(rcc->sim, &o->event, want ? osc_startup(rcc, o) : o->stop);
}

/* The system clock switch completes as soon as the selected source is ready. */
static void rcc_switch_clock(struct stm32_rcc *rcc)
{
    unsigned sw = rcc->cfgr & RCC_CFGR_SW_MASK;
    bool ready;
    switch (sw) {
    case RCC_CFGR_SW_HSI: ready = rcc->osc[STM32_RCC_HSI].ready; break;
    case RCC_CFGR_SW_HSE: ready = rcc->osc[STM32_RCC_HSE].ready; break;
    case RCC_CFGR_SW_PLL: ready = rcc->osc[STM32_RCC_PLL].ready; break;
    default: return; /* SW = 11 is "not allowed": nothing switches */
    }
    if (ready)
        rcc->cfgr = (rcc->cfgr & ~RCC_CFGR_SWS_MASK) | (sw << RCC_CFGR_SWS_SHIFT);
}

static void rcc_settle(struct stm32_rcc *rcc, bool force)
{
    for (int i = 0; i < STM32_RCC_OSC_COUNT; i++)
        osc_steer(rcc, &rcc->osc[i]);
    rcc_switch_clock(rcc);
    rcc_update_outputs(rcc, force);
}

static void osc_event(struct sim *sim, void *opaque)
{
    struct stm32_rcc_osc *o = opaque;
    struct stm32_rcc *rcc = o->rcc;
    (void)sim;
    o->ready = o->target;
    uint32_t flag = osc_ready_flag[o->id];
    if (o->ready && (rcc->cir & (flag << RCC_CIR_ENABLE_SHIFT)))
        rcc->cir |= flag;
    rcc_settle(rcc, false);
}

static void osc_stop_now(struct stm32_rcc *rcc, enum stm32_rcc_osc_id id)
{
    event_cancel(rcc->sim, &rcc->osc[id].event);
    rcc->osc[id].ready = false;
}

void stm32_rcc_set_startup(struct stm32_rcc *rcc, enum stm32_rcc_osc_id id, uint64_t cycles)
{
    if ((unsigned)id < STM32_RCC_OSC_COUNT)
        rcc->osc[id].startup = cycles;
}

/* ---- registers ------------------------------------------------------------ */

static uint32_t rcc_cr_value(const struct stm32_rcc *rcc)
{
    uint32_t v = rcc->cr | (RCC_CR_HSICAL_FACTORY << RCC_CR_HSICAL_SHIFT);
    if (rcc->osc[STM32_RCC_HSI].ready)
        v |= RCC_CR_HSIRDY;
    if (rcc->osc[STM32_RCC_HSE].ready)
        v |= RCC_CR_HSERDY;
    if (rcc->osc[STM32_RCC_PLL].ready)
        v |= RCC_CR_PLLRDY;
    return v;
}

static uint32_t rcc_bdcr_value(const struct stm32_rcc *rcc)
{
    return rcc->bdcr | (rcc->osc[STM32_RCC_LSE].ready ? RCC_BDCR_LSERDY : 0);
}

static uint32_t rcc_csr_value(const struct stm32_rcc *rcc)
{
    return rcc->csr | (rcc->osc[STM32_RCC_LSI].ready ? RCC_CSR_LSIRDY : 0);
}

static uint32_t rcc_reg_read(struct stm32_rcc *rcc, uint32_t reg, bool *known)
{
    *known = true;
    switch (reg) {
    case RCC_CR: return rcc_cr_value(rcc);
    case RCC_CFGR: return rcc->cfgr;
    case RCC_CIR: return rcc->cir & (RCC_CIR_FLAGS | RCC_CIR_ENABLES);
    case RCC_APB2RSTR: return rcc->apb2rstr;
    case RCC_APB1RSTR: return rcc->apb1rstr;
    case RCC_AHBENR: return rcc->ahbenr;
    case RCC_APB2ENR: return rcc->apb2enr;
    case RCC_APB1ENR: return rcc->apb1enr;
    case RCC_BDCR: return rcc_bdcr_value(rcc);
    case RCC_CSR: return rcc_csr_value(rcc);
    default: *known = false; return 0;
    }
}

static uint32_t rcc_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_rcc *rcc = opaque;
    bool known;
    uint32_t v = rcc_reg_read(rcc, offset & ~3u, &known);
    if (!known)
        sim_warn_once(rcc->sim, "RCC", offset, false, NULL);
    return lane_read(v, offset, size);
}

static void rcc_write_cr(struct stm32_rcc *rcc, const struct lane_write *w)
{
    uint32_t old = rcc->cr;
    uint32_t v = lane_merge(old, w) & RCC_CR_WRITABLE;
    unsigned sws = rcc_sws(rcc);
    bool pll_from_hse = (rcc->cfgr & RCC_CFGR_PLLSRC) != 0;
    /* An oscillator that (directly or through the PLL) is SYSCLK cannot be stopped. */
    if (sws == RCC_CFGR_SW_HSI || (sws == RCC_CFGR_SW_PLL && !pll_from_hse))
        v |= RCC_CR_HSION;
    if (sws == RCC_CFGR_SW_HSE || (sws == RCC_CFGR_SW_PLL && pll_from_hse))
        v |= RCC_CR_HSEON;
    if (sws == RCC_CFGR_SW_PLL)
        v |= RCC_CR_PLLON;
    /* HSEBYP can be written only while the HSE is disabled. */
    if (old & RCC_CR_HSEON)
        v = (v & ~RCC_CR_HSEBYP) | (old & RCC_CR_HSEBYP);
    rcc->cr = v;
}

static void rcc_write_cfgr(struct stm32_rcc *rcc, const struct lane_write *w)
{
    uint32_t old = rcc->cfgr;
    uint32_t v = lane_merge(old, w) & RCC_CFGR_WRITABLE;
    /* The PLL configuration can be written only while the PLL is disabled. */
    if (rcc->cr & RCC_CR_PLLON)
        v = (v & ~RCC_CFGR_PLL_CONFIG) | (old & RCC_CFGR_PLL_CONFIG);
    rcc->cfgr = v | (old & RCC_CFGR_SWS_MASK);
}

static void rcc_write_cir(struct stm32_rcc *rcc, const struct lane_write *w)
{
    uint32_t enables = w->mask & RCC_CIR_ENABLES;
    rcc->cir = (rcc->cir & ~enables) | (w->value & enables);
    uint32_t clear = (w->value >> RCC_CIR_CLEAR_SHIFT) & RCC_CIR_FLAGS;
    rcc->cir &= ~clear;
}

static void rcc_write_rstr(uint32_t *reg, uint32_t mask, struct line *lines,
                           const struct lane_write *w)
{
    uint32_t old = *reg;
    *reg = lane_merge(old, w) & mask;
    uint32_t changed = old ^ *reg;
    for (int bit = 0; bit < 32; bit++)
        if (changed & (1u << bit))
            line_set(&lines[bit], (*reg >> bit) & 1u);
}

static void rcc_write_bdcr(struct stm32_rcc *rcc, const struct lane_write *w)
{
    uint32_t old = rcc->bdcr;
    uint32_t v = lane_merge(rcc_bdcr_value(rcc), w);
    if (v & RCC_BDCR_BDRST) {
        /* The whole backup domain is held in reset, LSE included. */
        rcc->bdcr = RCC_BDCR_BDRST;
        osc_stop_now(rcc, STM32_RCC_LSE);
        return;
    }
    uint32_t n = old & ~RCC_BDCR_BDRST;
    if (rcc->dbp) { /* LSEON, LSEBYP, RTCSEL and RTCEN are write-protected without DBP */
        n = (n & ~(RCC_BDCR_LSEON | RCC_BDCR_RTCEN)) | (v & (RCC_BDCR_LSEON | RCC_BDCR_RTCEN));
        if (!(old & RCC_BDCR_LSEON))
            n = (n & ~RCC_BDCR_LSEBYP) | (v & RCC_BDCR_LSEBYP);
        /* RTCSEL is set once; only a backup domain reset changes it again. */
        if (!(old & RCC_BDCR_RTCSEL_MASK))
            n |= v & RCC_BDCR_RTCSEL_MASK;
    }
    rcc->bdcr = n;
    unsigned rtcsel = (n & RCC_BDCR_RTCSEL_MASK) >> RCC_BDCR_RTCSEL_SHIFT;
    if (rtcsel == RCC_BDCR_RTCSEL_LSI || rtcsel == RCC_BDCR_RTCSEL_HSE)
        sim_warn_once(rcc->sim, "RCC", RCC_BDCR, true,
                      "selects an RTC clock other than the LSE (not modelled: RTC stopped)");
}

static void rcc_write_csr(struct stm32_rcc *rcc, const struct lane_write *w)
{
    uint32_t v = lane_merge(rcc->csr, w);
    rcc->csr = (rcc->csr & ~RCC_CSR_LSION) | (v & RCC_CSR_LSION);
    if (w->value & RCC_CSR_RMVF)
        rcc->csr &= ~RCC_CSR_RESET_FLAGS;
}

static void rcc_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_rcc *rcc = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    switch (w.reg) {
    case RCC_CR: rcc_write_cr(rcc, &w); break;
    case RCC_CFGR: rcc_write_cfgr(rcc, &w); break;
    case RCC_CIR: rcc_write_cir(rcc, &w); break;
    case RCC_APB2RSTR:
        rcc_write_rstr(&rcc->apb2rstr, RCC_APB2_MASK, rcc->apb2_reset, &w);
        break;
    case RCC_APB1RSTR:
        rcc_write_rstr(&rcc->apb1rstr, RCC_APB1_MASK, rcc->apb1_reset, &w);
        break;
    case RCC_AHBENR: rcc->ahbenr = lane_merge(rcc->ahbenr, &w) & RCC_AHBENR_MASK; break;
    case RCC_APB2ENR: rcc->apb2enr = lane_merge(rcc->apb2enr, &w) & RCC_APB2_MASK; break;
    case RCC_APB1ENR: rcc->apb1enr = lane_merge(rcc->apb1enr, &w) & RCC_APB1_MASK; break;
    case RCC_BDCR: rcc_write_bdcr(rcc, &w); break;
    case RCC_CSR: rcc_write_csr(rcc, &w); break;
    default:
        sim_warn_once(rcc->sim, "RCC", offset, true, NULL);
        return;
    }
    rcc_settle(rcc, false);
}

const struct mmio_ops stm32_rcc_mmio = {
    .name = "RCC",
    .read = rcc_read,
    .write = rcc_write,
};

/* ---- connections ---------------------------------------------------------- */

void stm32_rcc_dbp_in(void *opaque, int n, bool level)
{
    struct stm32_rcc *rcc = opaque;
    (void)n;
    rcc->dbp = level;
}

void stm32_rcc_lsi_force_in(void *opaque, int n, bool level)
{
    struct stm32_rcc *rcc = opaque;
    (void)n;
    rcc->lsi_forced = level;
    rcc_settle(rcc, false);
}

/* ---- life cycle ----------------------------------------------------------- */

void stm32_rcc_reset(void *dev, enum reset_cause cause)
{
    struct stm32_rcc *rcc = dev;
    bool power = cause == RESET_POWER;

    for (int i = 0; i < STM32_RCC_OSC_COUNT; i++)
        if (i != STM32_RCC_LSE || power)
            osc_stop_now(rcc, (enum stm32_rcc_osc_id)i);
    rcc->osc[STM32_RCC_HSI].ready = true; /* the chip leaves reset running on the HSI */

    rcc->cr = RCC_CR_HSION | RCC_CR_HSITRIM_RESET;
    rcc->cfgr = 0;
    rcc->cir = 0;
    rcc->ahbenr = RCC_AHBENR_RESET;
    rcc->apb2enr = 0;
    rcc->apb1enr = 0;
    for (int bit = 0; bit < 32; bit++) {
        if (power || (rcc->apb2rstr & (1u << bit)))
            line_set(&rcc->apb2_reset[bit], false);
        if (power || (rcc->apb1rstr & (1u << bit)))
            line_set(&rcc->apb1_reset[bit], false);
    }
    rcc->apb2rstr = 0;
    rcc->apb1rstr = 0;

    /*
     * RCC_CSR reset flags are cleared only by a power reset or RMVF, so they
     * accumulate. The reset generator pulls NRST low for every internal reset
     * source too, which is why PINRSTF accompanies each of them.
     */
    uint32_t flags = rcc->csr & RCC_CSR_RESET_FLAGS;
    switch (cause) {
    case RESET_POWER: flags = RCC_CSR_PORRSTF | RCC_CSR_PINRSTF; break;
    case RESET_SOFTWARE: flags |= RCC_CSR_SFTRSTF | RCC_CSR_PINRSTF; break;
    case RESET_IWDG: flags |= RCC_CSR_IWDGRSTF | RCC_CSR_PINRSTF; break;
    case RESET_PIN: flags |= RCC_CSR_PINRSTF; break;
    case RESET_STANDBY: break; /* PWR_CSR.SBF tells this one, not RCC_CSR */
    }
    rcc->csr = flags;

    if (power)
        rcc->bdcr = 0;
    rcc_settle(rcc, power);
}

void stm32_rcc_init(struct stm32_rcc *rcc, struct sim *sim)
{
    memset(rcc, 0, sizeof *rcc);
    rcc->sim = sim;
    static const uint64_t startup[STM32_RCC_OSC_COUNT] = {
        [STM32_RCC_HSI] = HSI_STARTUP, [STM32_RCC_HSE] = HSE_STARTUP,
        [STM32_RCC_LSE] = LSE_STARTUP, [STM32_RCC_LSI] = LSI_STARTUP,
        [STM32_RCC_PLL] = PLL_STARTUP,
    };
    static const uint32_t osc_hz[STM32_RCC_OSC_COUNT] = {
        [STM32_RCC_HSI] = STM32_HSI_HZ, [STM32_RCC_HSE] = STM32_HSE_HZ,
        [STM32_RCC_LSE] = STM32_LSE_HZ, [STM32_RCC_LSI] = STM32_LSI_HZ,
        [STM32_RCC_PLL] = STM32_HSI_HZ, /* unlock is detected within a few reference cycles */
    };
    for (int i = 0; i < STM32_RCC_OSC_COUNT; i++) {
        struct stm32_rcc_osc *o = &rcc->osc[i];
        o->rcc = rcc;
        o->id = (enum stm32_rcc_osc_id)i;
        o->startup = startup[i];
        o->stop = cycles_of(osc_hz[i], i == STM32_RCC_LSI ? LSI_STOP_CYCLES : OSC_STOP_CYCLES);
        event_init(&o->event, osc_event, o, osc_event_name[i]);
    }
    stm32_rcc_reset(rcc, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void rcc_fields(struct stm32_rcc *d, struct snap_io *io)
{
    snap_io_u32(io, &d->cr);
    snap_io_u32(io, &d->cfgr);
    snap_io_u32(io, &d->cir);
    snap_io_u32(io, &d->apb2rstr);
    snap_io_u32(io, &d->apb1rstr);
    snap_io_u32(io, &d->ahbenr);
    snap_io_u32(io, &d->apb2enr);
    snap_io_u32(io, &d->apb1enr);
    snap_io_u32(io, &d->bdcr);
    snap_io_u32(io, &d->csr);
    for (int i = 0; i < STM32_RCC_OSC_COUNT; i++) {
        struct stm32_rcc_osc *o = &d->osc[i];
        snap_io_bool(io, &o->ready);
        snap_io_bool(io, &o->target);
        snap_io_u64(io, &o->startup);
        snap_io_u64(io, &o->stop);
        snap_io_event(io, &o->event);
    }
    snap_io_bool(io, &d->dbp);
    snap_io_bool(io, &d->lsi_forced);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->rtc_clock_level);
    snap_io_bool(io, &d->backup_reset_level);
    snap_io_u32(io, &d->clock_signature);
}

SNAP_DEFINE_PAIR(stm32_rcc, struct stm32_rcc, rcc_fields)
