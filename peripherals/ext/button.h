/*
 * button.h - a push button to ground with the pin's pull-up: MODE (PB2) or
 * RESET (the board routes its line to the chip's NRST handling).
 *
 * Design decision: scripted presses are kept as non-overlapping (start, end)
 * intervals served by one event that always waits for the earliest pending
 * edge, so presses fire at exact virtual times whatever order they were
 * scheduled in.
 */
#ifndef PERIPHERALS_EXT_BUTTON_H
#define PERIPHERALS_EXT_BUTTON_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/periph.h"

#define BUTTON_MAX_SCHEDULED 16 /* scripted presses waiting at once */

struct button_press {
    uint64_t start, end; /* virtual cycles: pressed at start, released at end */
    bool started;
};

struct button {
    struct sim *sim;
    const char *name; /* "mode", "reset": the trace's "name" */
    struct line out;  /* pin level: low while pressed */
    bool pressed;
    struct button_press script[BUTTON_MAX_SCHEDULED]; /* never overlapping */
    int script_count;
    struct event next;
};

void button_init(struct button *b, struct sim *sim, const char *name);
/* Re-drive the pin (the GPIO may have reset); the button itself keeps its state. */
void button_reset(struct button *b, enum reset_cause cause);
/* Forget the scripted presses that have not started (a loaded snapshot takes the new run's). */
void button_drop_pending(struct button *b);
/* Press or release now; a change drives `out` and writes a "button" trace record. */
void button_set(struct button *b, bool pressed);
/*
 * Press at absolute virtual time start_cycles for hold_cycles. Returns 0, or
 * -1 if hold is 0, start is in the past, the press overlaps or touches one
 * already scheduled, or BUTTON_MAX_SCHEDULED presses are waiting.
 */
int button_schedule_press(struct button *b, uint64_t start_cycles, uint64_t hold_cycles);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void button_save(const struct button *d, struct snap_writer *w);
void button_load(struct button *d, struct snap_reader *r);

#endif
