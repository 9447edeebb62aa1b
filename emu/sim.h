/*
 * sim.h - the simulation context every block shares: virtual time (one event
 * queue keyed by CPU cycle), connection lines, logging, the trace, and the
 * requests a block may make of the machine (reset, code invalidation).
 *
 * Design decision: nothing in here knows about Unicorn. Peripherals and
 * external devices depend only on this header and bus.h, so each of them can be
 * unit-tested with a bare `struct sim` and no CPU at all.
 */
#ifndef EMU_SIM_H
#define EMU_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Virtual time counts ticks of 1/72 MHz, the Spark Core's fastest core clock,
 * whatever the core runs at: a CPU cycle at HCLK costs 72 MHz / HCLK ticks
 * (struct core_clock below), so events, the trace and every peripheral stay in
 * one unit while the core slows down before SystemInit.
 */
#define SIM_HZ 72000000ull
#define SIM_CYCLES_PER_US 72ull
#define SIM_US(n) ((uint64_t)(n) * 72ull)
#define SIM_MS(n) ((uint64_t)(n) * 72000ull)
#define SIM_S(n) ((uint64_t)(n) * 72000000ull)

struct sim;
struct bus;

/* ---- events ------------------------------------------------------------ */

typedef void (*event_fn)(struct sim *sim, void *opaque);

/* An event is owned (embedded) by the block that schedules it. */
struct event {
    uint64_t when; /* cycle at which it fires */
    uint64_t seq;  /* insertion order: ties fire first-in first-out */
    event_fn fn;
    void *opaque;
    const char *name;
    int heap_index; /* -1 when not scheduled */
};

struct clock {
    uint64_t now;      /* current virtual time, cycles since power-on */
    uint64_t deadline; /* `when` of the earliest scheduled event, or UINT64_MAX */
    uint64_t seq;
    struct event **heap;
    int count, capacity;
};

void event_init(struct event *e, event_fn fn, void *opaque, const char *name);
/* Schedule (or move) `e` to fire at absolute cycle `when` (a past time fires at the next chance). */
void event_schedule(struct sim *sim, struct event *e, uint64_t when);
void event_schedule_in(struct sim *sim, struct event *e, uint64_t delay);
void event_cancel(struct sim *sim, struct event *e);
static inline bool event_pending(const struct event *e) { return e->heap_index >= 0; }
/* Fire every event whose time has come (when <= now), in order. */
void clock_run_due(struct sim *sim);
void clock_free(struct clock *c);
/* Snapshots (emu/snapshot.c): unschedule every event; queue `e` with a saved time and sequence number. */
void clock_clear(struct clock *c);
void event_restore(struct sim *sim, struct event *e, uint64_t when, uint64_t seq);

/* ---- the core clock (HCLK) --------------------------------------------- */

/*
 * HCLK as RCC configures it, and the map between virtual time (ticks) and
 * HCLK cycles: cycles(t) = base_cycle + (t - base_tick) * hz / SIM_HZ for t at
 * or after the last change. The CPU charges `step` ticks per executed cycle in
 * 32.32 fixed point with `frac` carrying the fraction (72 MHz / 64 MHz is not
 * an integer), so virtual time follows a clock switch at the next block.
 */
struct core_clock {
    uint32_t hz;
    uint64_t step;       /* ticks per HCLK cycle << 32 */
    uint32_t frac;       /* fraction of a tick charged so far */
    uint64_t base_tick;  /* virtual time of the last change */
    uint64_t base_cycle; /* HCLK cycles counted up to then */
};

/* ---- connection lines -------------------------------------------------- */

/*
 * A line is a one-bit wire from an output (a GPIO pin, an IRQ source, a chip
 * select) to one receiver. The receiver is told the new level; edge detection
 * is the receiver's business. An unconnected line (set == NULL) goes nowhere.
 */
typedef void (*line_fn)(void *opaque, int n, bool level);
struct line {
    line_fn set;
    void *opaque;
    int n;
};
static inline void line_set(const struct line *l, bool level)
{
    if (l->set)
        l->set(l->opaque, l->n, level);
}
static inline struct line line_to(line_fn fn, void *opaque, int n)
{
    struct line l = {fn, opaque, n};
    return l;
}

/* ---- reset ------------------------------------------------------------- */

/*
 * Why the chip resets. A power-on clears everything, including SRAM and the
 * backup domain; every other cause is a system reset that keeps SRAM contents,
 * the backup domain (BKP, RTC, RCC_BDCR) and both flashes.
 */
enum reset_cause {
    RESET_POWER = 0,
    RESET_SOFTWARE, /* SCB_AIRCR.SYSRESETREQ */
    RESET_IWDG,     /* independent watchdog expiry */
    RESET_PIN,      /* the NRST pin (the RESET button) */
    RESET_STANDBY,  /* wake-up from Standby: SRAM lost, backup domain kept */
};
const char *reset_cause_name(enum reset_cause cause);

/* ---- logging and trace ------------------------------------------------- */

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void sim_log(struct sim *sim, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Log once per (block, offset, direction): a register nobody modelled. The
 * message carries the guest PC and, when an ELF was loaded, its symbol.
 */
void sim_warn_once(struct sim *sim, const char *block, uint32_t offset, bool write,
                   const char *what);

/*
 * One JSON Lines trace record: {"t_us":N,"kind":"KIND",FIELDS}. `fields` is a
 * printf format producing the rest of the object without braces, e.g.
 *   sim_trace(sim, "led", "\"r\":%u,\"g\":%u,\"b\":%u", r, g, b);
 * Does nothing when no trace file is open.
 */
void sim_trace(struct sim *sim, const char *kind, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the context ------------------------------------------------------- */

struct sim {
    struct clock clock;
    struct core_clock hclk;
    struct bus *bus;

    FILE *trace;          /* JSON Lines trace, or NULL */
    enum log_level log_level;
    FILE *log;            /* defaults to stderr */

    /*
     * Set by a read whose value depends on time or whose read has a side
     * effect (SysTick VAL, DWT CYCCNT, TIMx_CNT, SPI_DR...). The CPU uses it to
     * decide whether a busy-wait loop is provably idle and may be skipped.
     */
    bool volatile_read;
    /*
     * Set by a read of a pure time source (DWT CYCCNT, SysTick CVR): no side
     * effect, but the value moves with time. A whole-loop fixed point may still
     * be skipped to the next event (its time-derived values are only assumed
     * not to matter before then); a single-block delay loop may not.
     */
    bool time_read;
    /* Set by every write to a memory-mapped block. */
    bool mmio_written;
    /*
     * While the CPU checks whether a loop is idle, pure time sources read as
     * if time stood at `frozen_now` (see cpu.c, whole-loop fixed points).
     */
    bool time_frozen;
    uint64_t frozen_now;
    /* a loop watch's freeze ends at the first time-source read after this */
    uint64_t frozen_until;

    /*
     * A "refresh" write (a watchdog reload) changes nothing but the time it
     * last happened. A block says so with sim_note_refresh_write() and gives a
     * function that redoes it; a loop skipped as idle calls it at the end of the
     * skip, as if the loop had gone on refreshing until then.
     */
    bool refresh_write;
#define SIM_MAX_REFRESH 4
    struct {
        void (*fn)(void *opaque);
        void *opaque;
    } refresh[SIM_MAX_REFRESH];
    int nrefresh;

    /* Set when something needs the CPU loop's attention at the next block. */
    bool attention;

    /*
     * The flash is erasing or programming until this cycle: an instruction
     * fetch from it waits until then (RM0008 3.3.3: a read of the flash while
     * it is written or erased stalls the bus). Set with `attention` by the
     * flash interface; the CPU loop charges the wait before such a block runs.
     */
    uint64_t fetch_stall_until;

    /* A block asks for a chip reset; the CPU loop performs it. */
    bool reset_requested;
    enum reset_cause reset_cause;

    /*
     * Provided by the machine: HCLK changed (sim_set_hclk); what counts core
     * cycles (SysTick, DWT CYCCNT) re-schedules. May be NULL.
     */
    void (*hclk_changed)(struct sim *sim);
    /* Provided by the machine: code at [addr, addr+len) changed. */
    void (*invalidate_code)(struct sim *sim, uint32_t addr, uint32_t len);
    /* Provided by the machine: guest PC and symbol for diagnostics. */
    const char *(*describe_pc)(struct sim *sim, char *buf, size_t len);
    void *machine;

    /* warn-once bookkeeping */
    struct warned *warned;
};

void sim_init(struct sim *sim);
void sim_free(struct sim *sim);
static inline uint64_t sim_now(const struct sim *sim) { return sim->clock.now; }
static inline uint64_t sim_now_us(const struct sim *sim) { return sim->clock.now / SIM_CYCLES_PER_US; }
/*
 * A device access ends a loop watch's freeze at once: the watched pass cannot
 * be proven idle any more, and the time sources read true time again (a
 * speculative pass, frozen_until = UINT64_MAX, deals with it itself).
 */
static inline void sim_end_watch_freeze(struct sim *sim)
{
    if (sim->frozen_until != UINT64_MAX)
        sim->time_frozen = false;
}
static inline void sim_note_volatile_read(struct sim *sim)
{
    sim->volatile_read = true;
    sim_end_watch_freeze(sim);
}
/* A write to a device (not a refresh write), which no idle loop makes. */
static inline void sim_note_mmio_write(struct sim *sim)
{
    sim->mmio_written = true;
    sim_end_watch_freeze(sim);
}
static inline void sim_note_time_read(struct sim *sim) { sim->time_read = true; }
static inline void sim_note_refresh_write(struct sim *sim, void (*fn)(void *opaque), void *opaque)
{
    sim->refresh_write = true;
    for (int i = 0; i < sim->nrefresh; i++)
        if (sim->refresh[i].fn == fn && sim->refresh[i].opaque == opaque)
            return;
    if (sim->nrefresh < SIM_MAX_REFRESH) {
        sim->refresh[sim->nrefresh].fn = fn;
        sim->refresh[sim->nrefresh].opaque = opaque;
        sim->nrefresh++;
    } else {
        sim->mmio_written = true; /* too many to replay: not an idle loop */
    }
}
/* The time a pure time source (a cycle counter) shows now. */
static inline uint64_t sim_time_source_now(struct sim *sim)
{
    if (!sim->time_frozen)
        return sim->clock.now;
    if (sim->clock.now <= sim->frozen_until)
        return sim->frozen_now;
    sim->time_frozen = false; /* frozen too long: the code went on elsewhere (see cpu.c) */
    return sim->clock.now;
}
void sim_request_reset(struct sim *sim, enum reset_cause cause);

/* HCLK is now `hz` (a board calls this when RCC switches SYSCLK or HPRE). */
void sim_set_hclk(struct sim *sim, uint32_t hz);
/* HCLK cycles since power-on at virtual time t (t before the last change counts as the change). */
uint64_t sim_hclk_cycles(const struct sim *sim, uint64_t t);
/* The first virtual time at which sim_hclk_cycles() reaches `cycles`. */
uint64_t sim_hclk_tick_of(const struct sim *sim, uint64_t cycles);
/* Advance virtual time by `cycles` of HCLK (an instruction's, an exception entry's). */
static inline void sim_charge_cycles(struct sim *sim, uint64_t cycles)
{
    uint64_t acc = sim->hclk.frac + cycles * sim->hclk.step;
    sim->clock.now += acc >> 32;
    sim->hclk.frac = (uint32_t)acc;
}
static inline void sim_invalidate_code(struct sim *sim, uint32_t addr, uint32_t len)
{
    if (sim->invalidate_code)
        sim->invalidate_code(sim, addr, len);
}

#endif
