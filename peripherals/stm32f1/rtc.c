/*
 * rtc.c - STM32F103 real-time clock (RM0008 section 18).
 *
 * Design decision: RTCCLK tick k happens at cycle clock_base + ceil(k * 72 MHz
 * / 32768 Hz); the core state (DIV, CNT, flags) is advanced lazily to the
 * current tick by rtc_sync() in closed form, before any read or change, and
 * by the one event per prescaler overflow. Register semantics follow RM0008
 * 18.3: writes to PRL, CNT and ALR are accepted only in configuration mode
 * (CNF = 1) with RTOFF = 1 and reach the core when CNF is cleared, taking
 * three RTCCLK cycles during which RTOFF reads 0; RSF is set at the first
 * RTCCLK edge after software (or a reset) cleared it.
 */
#include "rtc.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define RTC_CRH_WRITABLE (RTC_CRH_SECIE | RTC_CRH_ALRIE | RTC_CRH_OWIE)
#define RTC_CRL_FLAGS_W0 (RTC_CRL_SECF | RTC_CRL_ALRF | RTC_CRL_OWF | RTC_CRL_RSF) /* rc_w0 */
#define RTC_CRL_IRQ_FLAGS (RTC_CRL_SECF | RTC_CRL_ALRF | RTC_CRL_OWF)
#define RTC_WRITE_TICKS 3u /* "at least three RTCCLK cycles" */
#define RTC_HALF_BITS 16u
#define RTC_HALF_MASK 0xFFFFu

enum rtc_pending { PENDING_PRL = 1u << 0, PENDING_CNT = 1u << 1, PENDING_ALR = 1u << 2 };

/* ---- time ----------------------------------------------------------------- */

static uint64_t tick_time(const struct stm32_rtc *rtc, uint64_t k)
{
    u128 c = (u128)k * SIM_HZ + (STM32_RTC_CLOCK_HZ - 1);
    return rtc->clock_base + (uint64_t)(c / STM32_RTC_CLOCK_HZ);
}

static uint64_t ticks_now(const struct stm32_rtc *rtc)
{
    u128 c = (u128)(rtc->sim->clock.now - rtc->clock_base) * STM32_RTC_CLOCK_HZ;
    return (uint64_t)(c / SIM_HZ);
}

/* ---- outputs -------------------------------------------------------------- */

static void rtc_update_irq(struct stm32_rtc *rtc, bool force)
{
    bool level = (rtc->crl & rtc->crh & RTC_CRL_IRQ_FLAGS) != 0;
    if (level != rtc->irq_level || force) {
        rtc->irq_level = level;
        line_set(&rtc->irq, level);
    }
}

static void rtc_drive_alarm(struct stm32_rtc *rtc, bool level, bool force)
{
    if (level != rtc->alarm_level || force) {
        rtc->alarm_level = level;
        line_set(&rtc->alarm, level);
    }
}

/* ---- the core ------------------------------------------------------------- */

/* The counter advances by `seconds` prescaler overflows (TR_CLK). */
static void rtc_count(struct stm32_rtc *rtc, uint64_t seconds)
{
    uint32_t old = rtc->cnt;
    /* Did the counter pass through ALR, or through 0xFFFFFFFF? */
    bool alarm = (uint64_t)(uint32_t)(rtc->alr - old - 1u) < seconds;
    bool overflow = (uint64_t)old + seconds > UINT32_MAX;
    rtc->cnt = (uint32_t)(old + seconds);
    rtc->crl |= RTC_CRL_SECF;
    if (alarm)
        rtc->crl |= RTC_CRL_ALRF;
    if (overflow)
        rtc->crl |= RTC_CRL_OWF;
    /* A catch-up over several seconds that passed ALR still makes an edge. */
    rtc_drive_alarm(rtc, alarm, false);
    if (alarm && rtc->cnt != rtc->alr)
        rtc_drive_alarm(rtc, false, false);
    rtc_update_irq(rtc, false);
}

/* Bring DIV and CNT up to the current RTCCLK tick. */
static void rtc_sync(struct stm32_rtc *rtc)
{
    if (!rtc->clocked)
        return;
    uint64_t k = ticks_now(rtc);
    uint64_t n = k - rtc->tick;
    rtc->tick = k;
    if (n == 0)
        return;
    if (n <= rtc->div) {
        rtc->div -= (uint32_t)n;
        return;
    }
    /* The divider reloads from PRL at the tick after it reads 0. */
    uint64_t period = (uint64_t)rtc->prl + 1;
    uint64_t rest = n - rtc->div - 1;
    rtc->div = rtc->prl - (uint32_t)(rest % period);
    rtc_count(rtc, 1 + rest / period);
}

static void rtc_schedule(struct stm32_rtc *rtc)
{
    if (!rtc->clocked) {
        event_cancel(rtc->sim, &rtc->second);
        event_cancel(rtc->sim, &rtc->resync);
        event_cancel(rtc->sim, &rtc->commit);
        return;
    }
    event_schedule(rtc->sim, &rtc->second, tick_time(rtc, rtc->tick + rtc->div + 1));
    if (!(rtc->crl & RTC_CRL_RSF) && !event_pending(&rtc->resync))
        event_schedule(rtc->sim, &rtc->resync, tick_time(rtc, rtc->tick + 1));
    if (rtc->writing && !event_pending(&rtc->commit))
        event_schedule(rtc->sim, &rtc->commit, tick_time(rtc, rtc->tick + RTC_WRITE_TICKS));
}

static void rtc_second_event(struct sim *sim, void *opaque)
{
    struct stm32_rtc *rtc = opaque;
    (void)sim;
    rtc_sync(rtc);
    rtc_schedule(rtc);
}

static void rtc_resync_event(struct sim *sim, void *opaque)
{
    struct stm32_rtc *rtc = opaque;
    (void)sim;
    rtc_sync(rtc);
    rtc->crl |= RTC_CRL_RSF;
}

static void rtc_commit_event(struct sim *sim, void *opaque)
{
    struct stm32_rtc *rtc = opaque;
    (void)sim;
    rtc_sync(rtc);
    if (rtc->pending & PENDING_PRL)
        rtc->prl = rtc->new_prl; /* used from the next reload of the divider */
    if (rtc->pending & PENDING_CNT)
        rtc->cnt = rtc->new_cnt;
    if (rtc->pending & PENDING_ALR)
        rtc->alr = rtc->new_alr;
    if (rtc->pending & (PENDING_CNT | PENDING_ALR))
        rtc_drive_alarm(rtc, false, false);
    rtc->pending = 0;
    rtc->writing = false;
    rtc_schedule(rtc);
}

/* Reset of the backup-domain part. */
static void rtc_core_reset(struct stm32_rtc *rtc)
{
    rtc->prl = RTC_PRL_RESET;
    rtc->div = RTC_PRL_RESET;
    rtc->cnt = 0;
    rtc->alr = RTC_ALR_RESET;
    rtc->pending = 0;
    rtc->writing = false;
    event_cancel(rtc->sim, &rtc->commit);
    rtc->tick = rtc->clocked ? ticks_now(rtc) : 0;
    rtc_drive_alarm(rtc, false, false);
}

uint32_t stm32_rtc_counter(struct stm32_rtc *rtc)
{
    rtc_sync(rtc);
    return rtc->cnt;
}

/* ---- registers ------------------------------------------------------------ */

static uint32_t rtc_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_rtc *rtc = opaque;
    uint32_t v;
    rtc_sync(rtc);
    switch (offset & ~3u) {
    case RTC_CRH: v = rtc->crh; break;
    case RTC_CRL: v = rtc->crl | (rtc->writing ? 0 : RTC_CRL_RTOFF); break;
    case RTC_DIVH:
        sim_note_volatile_read(rtc->sim); /* changes with every RTCCLK tick */
        v = rtc->div >> RTC_HALF_BITS;
        break;
    case RTC_DIVL:
        sim_note_volatile_read(rtc->sim);
        v = rtc->div & RTC_HALF_MASK;
        break;
    case RTC_CNTH: v = rtc->cnt >> RTC_HALF_BITS; break;
    case RTC_CNTL: v = rtc->cnt & RTC_HALF_MASK; break;
    case RTC_PRLH:
    case RTC_PRLL:
    case RTC_ALRH:
    case RTC_ALRL: v = 0; break; /* write-only */
    default:
        sim_warn_once(rtc->sim, "RTC", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

/* A 16-bit half of a 32-bit core register, written in configuration mode. */
static void rtc_stage(struct stm32_rtc *rtc, enum rtc_pending which, uint32_t current,
                      uint32_t *staged, bool high, uint32_t half)
{
    if (!(rtc->pending & which))
        *staged = current;
    rtc->pending |= which;
    if (high)
        *staged = (*staged & RTC_HALF_MASK) | (half << RTC_HALF_BITS);
    else
        *staged = (*staged & ~RTC_HALF_MASK) | half;
}

static void rtc_write_crl(struct stm32_rtc *rtc, const struct lane_write *w)
{
    bool was_config = (rtc->crl & RTC_CRL_CNF) != 0;
    uint32_t cleared = RTC_CRL_FLAGS_W0 & w->mask & ~w->value;
    rtc->crl &= (uint16_t)~cleared;
    if (w->mask & RTC_CRL_CNF)
        rtc->crl = (uint16_t)((rtc->crl & ~RTC_CRL_CNF) | (w->value & RTC_CRL_CNF));
    if (was_config && !(rtc->crl & RTC_CRL_CNF) && rtc->pending)
        rtc->writing = true; /* leaving configuration mode starts the write */
    rtc_update_irq(rtc, false);
    rtc_schedule(rtc);
}

static void rtc_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_rtc *rtc = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    if (w.reg > RTC_ALRL) {
        sim_warn_once(rtc->sim, "RTC", offset, true, NULL);
        return;
    }
    if (!rtc->dbp || rtc->held_in_reset)
        return; /* backup domain write protection */
    rtc_sync(rtc);
    if (w.reg == RTC_CRH) {
        rtc->crh = (uint16_t)(lane_merge(rtc->crh, &w) & RTC_CRH_WRITABLE);
        rtc_update_irq(rtc, false);
        return;
    }
    if (w.reg == RTC_CRL) {
        rtc_write_crl(rtc, &w);
        return;
    }
    /* Core registers: only in configuration mode, and not while a write is in progress. */
    if (!(rtc->crl & RTC_CRL_CNF) || rtc->writing)
        return;
    uint32_t half = w.value & RTC_HALF_MASK;
    switch (w.reg) {
    case RTC_PRLH:
        rtc_stage(rtc, PENDING_PRL, rtc->prl, &rtc->new_prl, true,
                  half & (RTC_PRL_MASK >> RTC_HALF_BITS));
        break;
    case RTC_PRLL: rtc_stage(rtc, PENDING_PRL, rtc->prl, &rtc->new_prl, false, half); break;
    case RTC_CNTH: rtc_stage(rtc, PENDING_CNT, rtc->cnt, &rtc->new_cnt, true, half); break;
    case RTC_CNTL: rtc_stage(rtc, PENDING_CNT, rtc->cnt, &rtc->new_cnt, false, half); break;
    case RTC_ALRH: rtc_stage(rtc, PENDING_ALR, rtc->alr, &rtc->new_alr, true, half); break;
    case RTC_ALRL: rtc_stage(rtc, PENDING_ALR, rtc->alr, &rtc->new_alr, false, half); break;
    default: break; /* DIVH/DIVL are read-only */
    }
}

const struct mmio_ops stm32_rtc_mmio = {
    .name = "RTC",
    .read = rtc_read,
    .write = rtc_write,
};

/* ---- connections ---------------------------------------------------------- */

void stm32_rtc_enable_in(void *opaque, int n, bool level)
{
    struct stm32_rtc *rtc = opaque;
    (void)n;
    if (level == rtc->clocked)
        return;
    if (level) {
        rtc->clocked = true;
        rtc->clock_base = rtc->sim->clock.now;
        rtc->tick = 0;
    } else {
        rtc_sync(rtc);
        rtc->clocked = false;
    }
    rtc_schedule(rtc);
}

void stm32_rtc_dbp_in(void *opaque, int n, bool level)
{
    struct stm32_rtc *rtc = opaque;
    (void)n;
    rtc->dbp = level;
}

void stm32_rtc_backup_reset_in(void *opaque, int n, bool level)
{
    struct stm32_rtc *rtc = opaque;
    (void)n;
    if (level && !rtc->held_in_reset) {
        rtc_core_reset(rtc);
        rtc_schedule(rtc);
    }
    rtc->held_in_reset = level;
}

/* ---- life cycle ----------------------------------------------------------- */

void stm32_rtc_reset(void *dev, enum reset_cause cause)
{
    struct stm32_rtc *rtc = dev;
    rtc_sync(rtc);
    if (cause == RESET_POWER) {
        rtc->clocked = false; /* RCC_BDCR is cleared too */
        rtc->held_in_reset = false;
        rtc_core_reset(rtc);
    } else if (!rtc->writing) {
        rtc->pending = 0; /* values staged in configuration mode never reached the core */
    }
    rtc->crh = 0;
    rtc->crl = 0; /* flags, RSF and CNF cleared: software waits for RSF again */
    rtc_update_irq(rtc, cause == RESET_POWER);
    if (cause == RESET_POWER)
        rtc_drive_alarm(rtc, false, true);
    rtc_schedule(rtc);
}

void stm32_rtc_init(struct stm32_rtc *rtc, struct sim *sim)
{
    memset(rtc, 0, sizeof *rtc);
    rtc->sim = sim;
    event_init(&rtc->second, rtc_second_event, rtc, "rtc-second");
    event_init(&rtc->resync, rtc_resync_event, rtc, "rtc-rsf");
    event_init(&rtc->commit, rtc_commit_event, rtc, "rtc-write");
    stm32_rtc_reset(rtc, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void rtc_fields(struct stm32_rtc *d, struct snap_io *io)
{
    snap_io_u16(io, &d->crh);
    snap_io_u16(io, &d->crl);
    snap_io_u32(io, &d->prl);
    snap_io_u32(io, &d->div);
    snap_io_u32(io, &d->cnt);
    snap_io_u32(io, &d->alr);
    snap_io_u32(io, &d->new_prl);
    snap_io_u32(io, &d->new_cnt);
    snap_io_u32(io, &d->new_alr);
    snap_io_unsigned(io, &d->pending);
    snap_io_bool(io, &d->writing);
    snap_io_bool(io, &d->clocked);
    snap_io_u64(io, &d->clock_base);
    snap_io_u64(io, &d->tick);
    snap_io_bool(io, &d->dbp);
    snap_io_bool(io, &d->held_in_reset);
    snap_io_event(io, &d->second);
    snap_io_event(io, &d->resync);
    snap_io_event(io, &d->commit);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->alarm_level);
}

SNAP_DEFINE_PAIR(stm32_rtc, struct stm32_rtc, rtc_fields)
