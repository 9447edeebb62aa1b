/*
 * machine.h - one emulated Cortex-M3 system: the Unicorn CPU, the memories,
 * the System Control Space, virtual time, and the board's blocks.
 *
 * Design decision: a single UC_HOOK_BLOCK is the heartbeat. It advances
 * virtual time by the block's instruction count, runs due events, delivers a
 * pending exception by rewriting the CPU registers (never by stopping), and
 * stops the CPU only when the main loop must act (reset, WFI, end of run).
 * MMIO callbacks only change device state and raise flags.
 */
#ifndef EMU_MACHINE_H
#define EMU_MACHINE_H

#include "bus.h"
#include "nvic.h"
#include "periph.h"
#include "sim.h"
#include "thumb.h"
#include "loader.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

#define MACHINE_MAX_PERIPHS 48
#define MACHINE_MAX_IMAGES 8
#define BLOCK_CACHE_SIZE 8192 /* direct-mapped, power of two */
#define MAX_DIV_HOOKS 64
#define MACHINE_MAX_SERVICES 8

/* Why uc_emu_start returned, as far as our hooks know. */
enum stop_reason {
    STOP_NONE = 0,     /* nobody asked: WFI, or an error code explains it */
    STOP_REQUESTED,    /* the block hook stopped for the main loop */
    STOP_INSN_INVALID, /* UC_HOOK_INSN_INVALID fired */
    STOP_BUS_FAULT,    /* a load from an address nothing answers */
    STOP_SEMIHOST_EXIT,
};

enum pacing { PACE_MAX = 0, PACE_REALTIME, PACE_FACTOR };

/*
 * Where a snapshot was taken, so a loaded one goes on from the same point of
 * the CPU loop (see cpu.c, "Snapshots"): the top of the run loop, the start of
 * a block's hook, inside a fetch stall, or just before a block's due events.
 */
enum snap_resume { SNAP_AT_LOOP = 0, SNAP_AT_BLOCK, SNAP_IN_FETCH_STALL, SNAP_BEFORE_EVENTS };

/* What WFI/WFE enters: with SCB_SCR.SLEEPDEEP the board's power controller decides. */
enum sleep_kind { SLEEP_NORMAL = 0, SLEEP_STOP, SLEEP_STANDBY };

/* Exit statuses beyond the guest's own (see docs/cli.md) */
#define EXIT_BAD_INPUT 2
#define EXIT_LOCKUP 4
#define EXIT_EMULATOR_ERROR 5

struct block_entry {
    uint32_t addr, size;
    struct thumb_block_info info;
    uint8_t flags;        /* BLOCK_SLOW, BLOCK_WATCHED: take the hook's slow path */
    bool idle_candidate;  /* self-loop without stores: may be a provable busy-wait */
    bool divs_armed;      /* divide-by-zero hooks installed for this block */
    uint32_t ff_skip;     /* idle-loop checks to skip (back-off after failures) */
    uint32_t ff_failures;
};

#define BLOCK_SLOW 1u    /* an idle-loop candidate, or divides to check */
#define BLOCK_WATCHED 2u /* the loop head being watched */

#define MAX_PENDING_STORES 16
struct pending_store {
    uint32_t addr;
    unsigned size;
    uint32_t value;
    uint8_t old[8];
};

struct bitband {
    struct machine *m;
    uint32_t alias_base, region_base;
};

#define NUM_HOLES 8
struct hole {
    struct machine *m;
    uint32_t base;
};

#define IDLE_REGS 20
#define MAX_PATH 256
#define SYSMEM_MAP_SIZE 0xC00u /* system memory (2 KiB) + option bytes (1 KiB page) */

struct debug;

struct machine_stats {
    uint64_t exceptions;
    uint64_t tail_chains;
    uint64_t idle_skips;   /* busy-wait loops fast-forwarded */
    uint64_t loop_skips;   /* whole idle loops fast-forwarded */
    uint64_t timed_searches; /* of those, loops that read the time and were searched for their end */
    uint64_t idle_cycles;  /* cycles skipped that way or in WFI */
    uint64_t emu_starts;
};

struct machine {
    struct sim sim;
    struct bus bus;
    struct nvic nvic;
    uc_engine *uc;

    uint8_t *flash;   /* FLASH_SIZE, usually a MAP_SHARED file */
    uint8_t *sram;    /* SRAM_SIZE */
    uint8_t *sysmem;  /* system memory + option bytes (0x1FFFF000, 3 KiB) */
    bool flash_is_mapped_file;

    /* registered blocks, reset in order */
    struct periph periphs[MACHINE_MAX_PERIPHS];
    int nperiphs;

    /* images loaded (symbols for diagnostics) */
    struct image images[MACHINE_MAX_IMAGES];
    int nimages;

    /* hooks */
    uc_hook h_block, h_intr, h_insn_invalid, h_flash_write;
    uc_hook h_div[MAX_DIV_HOOKS];
    uc_hook h_unaligned;
    uc_context *monitor_ctx;   /* for ClearExclusiveLocal (see cpu.c) */
    size_t monitor_offset;     /* of the exclusive address in it; 0 = not found */
    bool unalign_hooked;
    uint32_t div_hooked[MAX_DIV_HOOKS];
    int ndiv_hooks;

    /* block decode cache */
    struct block_entry *blocks;
    uint32_t prev_block;
    uint32_t it_resume_at; /* a block that ended inside an IT block falls through to here... */
    uint8_t it_resume_state; /* ...where ITSTATE must be this (see cpu.c, it_state_lost) */
    uint64_t charged_ticks;  /* what the block hook charged for the block in its slow path... */
    uint32_t charged_frac;   /* ...and the tick fraction before (see cpu.c, uncharge_block) */
    uint64_t ff_gen;       /* bumped whenever events run */
    uint64_t ff_saved_gen;
    uint32_t ff_addr;
    uint32_t ff_regs[IDLE_REGS];
    bool idle_forever;     /* a provable busy-wait with nothing scheduled to end it */

    /* whole-loop fixed-point detection (see cpu.c, loop_probe) */
    bool probe_wanted;     /* events ran: look for an idle loop once back in Thread mode */
    bool probe_resumed;
    uint32_t watch_addr;   /* loop head being watched, 1 = none (no block starts at an odd address) */
    int watch_phase;
    int watch_moves;
    /* the block path of the proving pass, and the speculative search for a timed loop's end */
    bool recording, path_overflow;
    uint32_t path[MAX_PATH];
    int path_len;
    uint64_t pass_start;
    bool probing, search_restart, search_finishing, probe_second;
    int probe_pos;
    uint32_t probe_regs[IDLE_REGS];
    uint8_t *probe_ram;
    uint32_t search_head;
    uint64_t search_lo, search_hi, search_t, search_granule;
    uint32_t last_loop_head;   /* the loop head that proved idle last, and when */
    uint64_t last_loop_skip;
    uint64_t watch_gen;
    uint32_t watch_regs[IDLE_REGS];
    uint8_t *watch_ram;    /* SRAM at the snapshot */

    /* stores into flash or system memory waiting to be repaired (see cpu.c) */
    struct pending_store pending_stores[MAX_PENDING_STORES];
    int npending_stores;

    struct hole holes[NUM_HOLES];
    struct bitband bitband[2]; /* peripheral and SRAM alias regions */

    /* run control */
    enum stop_reason stop_reason;
    bool stop_requested;
    bool sleeping;         /* WFI/WFE, waiting for a wake-up event */
    bool sleep_is_wfe;
    enum sleep_kind sleep_kind;
    uint64_t stop_wake_mask; /* exceptions that end Stop mode (EXTI lines), by exception number */
    bool sleep_on_exit;    /* SCR.SLEEPONEXIT fired: sleep at the next block */
    bool event_register;   /* WFE/SEV event register */
    bool locked_up;
    uint64_t locked_up_at;
    bool held_in_reset;    /* NRST held low: the core does not run */
    bool exit_requested;
    int exit_status;
    uint64_t run_until;    /* virtual cycle at which --run-for ends, or UINT64_MAX */
    struct event run_end_event;
    bool run_ended;

    /* a data bus fault recorded by an MMIO callback */
    uint32_t fault_addr;
    bool fault_is_write;
    uint32_t fault_regs[15]; /* r0-r12, SP, LR when the faulting access was made */


    /* pacing */
    enum pacing pacing;
    double speed;          /* virtual seconds per wall second for PACE_FACTOR */
    struct event pace_event;
    uint64_t pace_wall_start_ns;
    uint64_t pace_virt_start;

    /* semihosting */
    int sh_errno;

    /*
     * Other threads (USB adapters, serial ports, the window) reach the
     * emulator thread through machine_kick(): it wakes a pacing sleep and has
     * the registered services run at the next block or loop turn.
     */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    int kicked;              /* atomic */
    int realtime_holds;      /* atomic: live clients that need wall-clock pacing */
    bool pace_was_realtime;
    struct {
        void (*fn)(void *opaque);
        void *opaque;
    } services[MACHINE_MAX_SERVICES];
    int nservices;

    /* board hooks: called after the core resets (wiring reset state, e.g. boot pins) */
    void (*on_reset)(struct machine *m, enum reset_cause cause);
    /* front-end hooks: called every 10 ms of virtual time; when the guest can never wake */
    void (*on_pace)(struct machine *m);
    bool (*wait_for_input)(struct machine *m);
    /* board hook: Stop or Standby for a WFI/WFE with SLEEPDEEP set (NULL: a normal sleep) */
    enum sleep_kind (*deep_sleep_kind)(struct machine *m);
    int timeout_status; /* exit status when --run-for elapses */
    void *board;
    void *host; /* the front end's context for on_pace and wait_for_input */

    /*
     * Snapshots: snap_take runs when virtual time reaches snap_at (UINT64_MAX:
     * none wanted), at the first point of the CPU loop from which a loaded
     * snapshot can go on exactly as this run does; it sets the next snap_at.
     */
    uint64_t snap_at;
    void (*snap_take)(struct machine *m, enum snap_resume where);
    void *snap_opaque;
    uint32_t snap_pc;      /* the block being entered when taken in a block's hook; 1 (odd): read PC */
    /* a loaded snapshot: where it goes on, and the time and tick fraction it was taken at */
    bool resume_in_slice;
    enum snap_resume resume_stage;
    uint64_t resume_now, resume_snap_at;
    uint32_t resume_frac;
    uint64_t run_origin;   /* --run-for counts from here; UINT64_MAX: from the start of machine_run */

    struct debug *debug; /* a debugger (emu/debug.h, --gdb), or NULL */

    struct machine_stats stats;
    uint64_t itrace_from; /* SPARK_EMU_ITRACE: instruction log from this cycle */
};

struct machine_config {
    uint8_t *flash;      /* NULL: machine allocates an erased flash */
    bool flash_is_mapped_file;
    uint8_t uid[12];     /* device unique ID at 0x1FFFF7E8 */
    enum pacing pacing;
    double speed;
    FILE *trace;
    enum log_level log_level;
};

int machine_init(struct machine *m, const struct machine_config *cfg, char *err, size_t errlen);
void machine_free(struct machine *m);

/* Register a block for reset (and listing). */
void machine_add_periph(struct machine *m, const char *name, void *dev,
                        void (*reset)(void *dev, enum reset_cause cause));
/* Give a registered block (by its dev) its snapshot functions. */
static inline void machine_periph_snapshot(struct machine *m, void *dev,
                                           void (*save)(const void *dev, struct snap_writer *w),
                                           void (*load)(void *dev, struct snap_reader *r))
{
    for (int i = 0; i < m->nperiphs; i++)
        if (m->periphs[i].dev == dev) {
            m->periphs[i].save = save;
            m->periphs[i].load = load;
        }
}
/* The machine's part of a snapshot (emu/machine_snapshot.c): time, CPU, NVIC, every block, SRAM, option bytes. */
void machine_snapshot_save(struct machine *m, struct snap_writer *w, enum snap_resume where, uint64_t at);
/* Loads it all and rebuilds the event queue; the snapshot's instant in *at. */
int machine_snapshot_load(struct machine *m, struct snap_reader *r, uint64_t *at);
/* The instant a checked payload was taken for, without loading it (0, or -1 if it has none). */
int machine_snapshot_instant(const uint8_t *payload, size_t len, uint64_t *at);
/* The internal flash, last: loading it is the only change to what is stored. */
void machine_snapshot_save_flash(struct machine *m, struct snap_writer *w);
int machine_snapshot_load_flash(struct machine *m, struct snap_reader *r);
/* Map a block into the peripheral or PPB space. */
int machine_map(struct machine *m, uint32_t base, uint32_t size, const struct mmio_ops *ops,
                void *opaque);

/* Copy an image into memory (flash images are programmed directly into the array). */
int machine_load_image(struct machine *m, struct image *img, char *err, size_t errlen);

/* Reset the chip: power-on or system reset; core from the vector table at 0. */
void machine_reset(struct machine *m, enum reset_cause cause);
/* Start execution as a bootloader's jump would: MSP from word 0, PC from word 1 at `vector_table`. */
void machine_jump_to(struct machine *m, uint32_t vector_table);

/* Take a snapshot (m->snap_take) when virtual time reaches `at` (UINT64_MAX: none). */
static inline void machine_want_snapshot(struct machine *m, uint64_t at)
{
    if (m->resume_stage != SNAP_AT_LOOP)
        m->resume_snap_at = at; /* the loaded snapshot's first block still needs snap_at */
    else
        m->snap_at = at;
}

/* Run until the guest exits, --run-for elapses, or an unrecoverable error. Returns the exit status. */
int machine_run(struct machine *m, uint64_t run_for_cycles);
void machine_request_stop(struct machine *m);
/* Any thread: have the emulator thread run its services soon (and wake it from a pacing sleep). */
void machine_kick(struct machine *m);
/* Emulator thread, before machine_run: `fn` runs on the emulator thread after every kick. */
int machine_add_service(struct machine *m, void (*fn)(void *opaque), void *opaque);
/* Emulator thread: run the services if a kick is pending (cheap otherwise). */
void machine_run_services_now(struct machine *m);
static inline void machine_run_services(struct machine *m)
{
    if (__atomic_load_n(&m->kicked, __ATOMIC_ACQUIRE))
        machine_run_services_now(m);
}
/*
 * Any thread: while at least one hold is taken, time is paced against the
 * wall clock (finely, 1 ms steps) whatever --speed says, because a live host
 * client measures its time-outs in wall-clock time.
 */
void machine_hold_realtime(struct machine *m, bool hold);
/* The WFE event register, with a SEVONPEND event the NVIC raised since it was last read. */
static inline bool machine_event_register(struct machine *m)
{
    if (m->nvic.event) {
        m->nvic.event = false;
        m->event_register = true;
    }
    return m->event_register;
}
/* The core just executed WFI/WFE: decide between sleep, Stop and Standby. */
void machine_enter_sleep(struct machine *m);

/* Diagnostics */
const char *machine_symbolize(struct machine *m, uint32_t addr, char *buf, size_t len);
void machine_report_fault(struct machine *m, const char *what, uint32_t pc);

/* cpu.c */
int cpu_open(struct machine *m, char *err, size_t errlen);
void cpu_close(struct machine *m);
void cpu_reset_core(struct machine *m, uint32_t sp, uint32_t pc);
uint32_t cpu_pc(struct machine *m);
void cpu_invalidate(struct machine *m, uint32_t addr, uint32_t len);
void cpu_flush_pending_stores_now(struct machine *m);
/* Repair stores that landed in flash or system memory (see cpu.c); cheap when there are none. */
static inline void cpu_flush_pending_stores(struct machine *m)
{
    if (m->npending_stores)
        cpu_flush_pending_stores_now(m);
}
int cpu_run_slice(struct machine *m); /* one uc_emu_start and its aftermath; < 0 = fatal */
void cpu_cancel_loop_watch(struct machine *m); /* the debugger halts: stop proving a loop idle */

/* exception.c */
void ExceptionEntry(struct machine *m, int exc, uint32_t return_address); /* PushStack + ExceptionTaken */
void ExceptionReturn(struct machine *m, uint32_t exc_return);
/* A synchronous fault at `return_address` (CFSR bits already set by the caller). */
void exc_fault(struct machine *m, int exc, uint32_t return_address, const char *what);
/* Deliver the best pending exception if it may preempt; returns true if taken. */
bool exc_try_deliver(struct machine *m, uint32_t return_address);
bool exc_wfi_wakeup(struct machine *m, uint64_t allowed);
void cpu_rebuild_hflags(struct machine *m);
void cpu_clear_exclusive_local(struct machine *m); /* ClearExclusiveLocal() */

/* cpu.c: the CPU's part of a snapshot (registers, monitor, the CPU loop's state); m->sram must be loaded first */
struct snap_writer;
struct snap_reader;
void cpu_snapshot_save(struct machine *m, struct snap_writer *w);
void cpu_snapshot_load(struct machine *m, struct snap_reader *r);

/* semihost.c */
void semihost_call(struct machine *m);
void semihost_close_all(struct machine *m);

#endif
