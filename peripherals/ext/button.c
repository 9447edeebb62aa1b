/*
 * button.c - push button (MODE, RESET): manual presses and scripted presses.
 *
 * Design decision: the output line carries the electrical level at the pin
 * (low while pressed: the button shorts the pull-up to ground), so the board
 * wires it straight to a GPIO input or to NRST without inverting anything.
 */
#include "button.h"

#include "emu/snapshot.h"

#include <string.h>

static uint64_t press_next_edge(const struct button_press *p)
{
    return p->started ? p->end : p->start;
}

static void schedule_next(struct button *b)
{
    if (b->script_count == 0) {
        event_cancel(b->sim, &b->next);
        return;
    }
    uint64_t when = UINT64_MAX;
    for (int i = 0; i < b->script_count; i++) {
        uint64_t edge = press_next_edge(&b->script[i]);
        if (edge < when)
            when = edge;
    }
    event_schedule(b->sim, &b->next, when);
}

static void script_event(struct sim *sim, void *opaque)
{
    struct button *b = opaque;
    /* Presses never overlap or touch, so at most one edge is due per press and order is clear. */
    for (;;) {
        int due = -1;
        for (int i = 0; i < b->script_count; i++) {
            uint64_t edge = press_next_edge(&b->script[i]);
            if (edge <= sim_now(sim) && (due < 0 || edge < press_next_edge(&b->script[due])))
                due = i;
        }
        if (due < 0)
            break;
        struct button_press *p = &b->script[due];
        if (!p->started) {
            p->started = true;
            button_set(b, true);
        } else {
            button_set(b, false);
            b->script[due] = b->script[--b->script_count];
        }
    }
    schedule_next(b);
}

void button_set(struct button *b, bool pressed)
{
    if (pressed == b->pressed)
        return;
    b->pressed = pressed;
    line_set(&b->out, !pressed);
    sim_trace(b->sim, "button", "\"name\":\"%s\",\"pressed\":%s", b->name,
              pressed ? "true" : "false");
}

int button_schedule_press(struct button *b, uint64_t start_cycles, uint64_t hold_cycles)
{
    if (hold_cycles == 0 || start_cycles < sim_now(b->sim) ||
        start_cycles > UINT64_MAX - hold_cycles || b->script_count == BUTTON_MAX_SCHEDULED)
        return -1;
    uint64_t end = start_cycles + hold_cycles;
    for (int i = 0; i < b->script_count; i++)
        if (start_cycles <= b->script[i].end && b->script[i].start <= end)
            return -1;
    b->script[b->script_count].start = start_cycles;
    b->script[b->script_count].end = end;
    b->script[b->script_count].started = false;
    b->script_count++;
    schedule_next(b);
    return 0;
}

void button_drop_pending(struct button *b)
{
    int n = 0;
    for (int i = 0; i < b->script_count; i++)
        if (b->script[i].started)
            b->script[n++] = b->script[i];
    b->script_count = n;
    schedule_next(b);
}

void button_init(struct button *b, struct sim *sim, const char *name)
{
    memset(b, 0, sizeof *b);
    b->sim = sim;
    b->name = name;
    event_init(&b->next, script_event, b, "button-script");
}

void button_reset(struct button *b, enum reset_cause cause)
{
    (void)cause;
    line_set(&b->out, !b->pressed);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void button_fields(struct button *d, struct snap_io *io)
{
    snap_io_bool(io, &d->pressed);
    snap_io_int(io, &d->script_count);
    if (!snap_io_check(io, d->script_count >= 0 && d->script_count <= BUTTON_MAX_SCHEDULED,
                       "more scheduled presses than a button keeps"))
        return;
    for (int i = 0; i < d->script_count; i++) {
        snap_io_u64(io, &d->script[i].start);
        snap_io_u64(io, &d->script[i].end);
        snap_io_bool(io, &d->script[i].started);
    }
    snap_io_event(io, &d->next);
}

SNAP_DEFINE_PAIR(button, struct button, button_fields)
