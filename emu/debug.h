/*
 * debug.h - the machine side of a debugger (the GDB stub, emu/host/gdb.c, is
 * its front end): halting and resuming the core, single steps, breakpoints,
 * watchpoints, and register and memory access as a debug probe has them.
 *
 * Design decision: breakpoints are Unicorn "exits" (uc_ctl_set_exits), not
 * code hooks. Unicorn ends every translated block before an exit address and
 * stops there before the instruction runs, so a breakpoint costs nothing
 * while the code around it runs, stops exactly at its instruction, and the
 * block hook still counts every instruction that ran. A single step is one
 * more exit, right after the instruction, plus a stop at the next block the
 * hook sees (a branch, or the handler of an exception taken first, as the
 * hardware would). Watchpoints are memory hooks that exist only while a
 * watchpoint is set; they report at the next block boundary (a few
 * instructions after the access at most), never by stopping inside an access.
 */
#ifndef EMU_DEBUG_H
#define EMU_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine;
struct debug;

#define DEBUG_MAX_BREAKPOINTS 64
#define DEBUG_MAX_WATCHPOINTS 4 /* the DWT's four comparators */

/* The registers a debugger sees, in the order of the GDB stub's target description. */
enum debug_reg {
    DEBUG_REG_R0 = 0, /* ... r12 = 12 */
    DEBUG_REG_SP = 13,
    DEBUG_REG_LR = 14,
    DEBUG_REG_PC = 15,
    DEBUG_REG_XPSR = 16,
    DEBUG_REG_MSP,
    DEBUG_REG_PSP,
    DEBUG_REG_PRIMASK,
    DEBUG_REG_BASEPRI,
    DEBUG_REG_FAULTMASK,
    DEBUG_REG_CONTROL,
    DEBUG_NUM_REGS
};

/* Why the core halted. */
enum debug_stop_kind {
    DEBUG_STOP_RESET,      /* halted at the reset vector (--gdb-wait, reset halt) */
    DEBUG_STOP_REQUEST,    /* the debugger asked (Ctrl-C) */
    DEBUG_STOP_ATTACH,     /* the debugger came while the core ran */
    DEBUG_STOP_STEP,       /* a single step ended */
    DEBUG_STOP_BREAKPOINT, /* a breakpoint's instruction is next */
    DEBUG_STOP_BKPT_INSN,  /* the guest executed a BKPT instruction */
    DEBUG_STOP_WATCHPOINT, /* a watched address was accessed */
    DEBUG_STOP_LOCKUP,     /* the core locked up */
};

enum debug_watch_kind { DEBUG_WATCH_WRITE = 2, DEBUG_WATCH_READ = 3, DEBUG_WATCH_ACCESS = 4 };

struct debug_stop {
    enum debug_stop_kind kind;
    bool hw;                     /* BREAKPOINT: a hardware breakpoint (else a software one) */
    enum debug_watch_kind watch; /* WATCHPOINT: the kind that hit */
    uint32_t watch_addr;         /* WATCHPOINT: the address accessed */
};

/* The front end (the GDB stub); both calls come on the emulator thread. */
struct debug_frontend {
    /* The core is halted: wait at most about 100 ms for the debugger and carry out what it asks. */
    void (*wait)(void *opaque);
    /* The core has just halted. */
    void (*stopped)(void *opaque, const struct debug_stop *stop);
    void *opaque;
};

/* Before machine_run: give the machine a debugger; `halted` keeps the core halted at the reset vector. */
int debug_attach(struct machine *m, const struct debug_frontend *fe, bool halted, char *err, size_t errlen);
void debug_detach_all(struct machine *m); /* free it (after the run) */

/* ---- what the front end asks (emulator thread) ---- */
bool debug_is_halted(const struct machine *m);
/* The core runs on; a pending stop is reported through `stopped`. */
void debug_request_halt(struct machine *m, enum debug_stop_kind why);
void debug_continue(struct machine *m);
void debug_step(struct machine *m);
const struct debug_stop *debug_last_stop(const struct machine *m);
/* Reset the chip (SYSRESETREQ); the core stays halted at the reset vector when `halt`, else it runs. */
void debug_reset(struct machine *m, bool halt);

int debug_reg_read(struct machine *m, int reg, uint32_t *value);
int debug_reg_write(struct machine *m, int reg, uint32_t value);
/* Bytes as the bus shows them (MMIO included); returns how many could be read. */
size_t debug_mem_read(struct machine *m, uint32_t addr, uint8_t *buf, size_t len);
/* Writes; flash (either alias) is written straight into the image, translated code is dropped. -1 if any byte failed. */
int debug_mem_write(struct machine *m, uint32_t addr, const uint8_t *buf, size_t len);
/* Erase [addr, addr+len) of the flash (whole 1 KiB pages). -1 if outside the flash. */
int debug_flash_erase(struct machine *m, uint32_t addr, uint32_t len);

/* Breakpoints (hw: a Z1, for the stop report) and watchpoints; 0, or -1 when full or invalid. */
int debug_breakpoint_insert(struct machine *m, uint32_t addr, bool hw);
int debug_breakpoint_remove(struct machine *m, uint32_t addr);
int debug_watchpoint_insert(struct machine *m, enum debug_watch_kind kind, uint32_t addr, uint32_t len);
int debug_watchpoint_remove(struct machine *m, enum debug_watch_kind kind, uint32_t addr, uint32_t len);
void debug_clear_points(struct machine *m);

/* ---- what the CPU loop asks (cpu.c, machine.c) ---- */
/* Run loop: true while the core is halted (it has waited for the debugger once). */
bool debug_hold(struct machine *m);
/* Block hook, before the block at `addr` runs: true = stop the CPU, the block does not run. */
bool debug_stop_before_block(struct machine *m, uint32_t addr);
/* Block hook: a step wants the next block to come through the slow path. */
bool debug_every_block(const struct machine *m);
/* A step is under way: whole idle loops run rather than be proven idle and skipped. */
bool debug_no_loop_skip(const struct machine *m);
/* Is `pc` one of the exits (breakpoints, a step's end) Unicorn stops at? */
bool debug_is_exit(const struct machine *m, uint32_t pc);
/* A slice ended with no reason the CPU layer knows at `pc`: true if it is a debugger exit. */
bool debug_slice_stopped(struct machine *m, uint32_t pc);
/* The guest executed BKPT at `pc`: true if the debugger takes it (halt). */
bool debug_bkpt(struct machine *m, uint32_t pc);

#endif
