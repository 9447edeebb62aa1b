/*
 * event.c - the one event queue: a binary min-heap of events keyed by
 * (cycle, insertion sequence), so equal-time events fire in the order they
 * were scheduled and every run is deterministic.
 */
#include "sim.h"

#include <stdlib.h>

void event_init(struct event *e, event_fn fn, void *opaque, const char *name)
{
    e->when = 0;
    e->seq = 0;
    e->fn = fn;
    e->opaque = opaque;
    e->name = name;
    e->heap_index = -1;
}

static bool event_before(const struct event *a, const struct event *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_place(struct clock *c, int i, struct event *e)
{
    c->heap[i] = e;
    e->heap_index = i;
}

static void heap_sift_up(struct clock *c, int i)
{
    struct event *e = c->heap[i];
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!event_before(e, c->heap[parent]))
            break;
        heap_place(c, i, c->heap[parent]);
        i = parent;
    }
    heap_place(c, i, e);
}

static void heap_sift_down(struct clock *c, int i)
{
    struct event *e = c->heap[i];
    for (;;) {
        int child = 2 * i + 1;
        if (child >= c->count)
            break;
        if (child + 1 < c->count && event_before(c->heap[child + 1], c->heap[child]))
            child++;
        if (!event_before(c->heap[child], e))
            break;
        heap_place(c, i, c->heap[child]);
        i = child;
    }
    heap_place(c, i, e);
}

static void clock_update_deadline(struct clock *c)
{
    c->deadline = c->count ? c->heap[0]->when : UINT64_MAX;
}

static void heap_remove(struct clock *c, struct event *e)
{
    int i = e->heap_index;
    struct event *last = c->heap[--c->count];
    e->heap_index = -1;
    if (last != e) {
        heap_place(c, i, last);
        heap_sift_up(c, i);
        heap_sift_down(c, last->heap_index);
    }
}

void event_cancel(struct sim *sim, struct event *e)
{
    if (e->heap_index < 0)
        return;
    heap_remove(&sim->clock, e);
    clock_update_deadline(&sim->clock);
}

void event_schedule(struct sim *sim, struct event *e, uint64_t when)
{
    struct clock *c = &sim->clock;
    if (e->heap_index >= 0)
        heap_remove(c, e);
    if (c->count == c->capacity) {
        int cap = c->capacity ? c->capacity * 2 : 32;
        struct event **heap = realloc(c->heap, (size_t)cap * sizeof *heap);
        if (!heap)
            abort();
        c->heap = heap;
        c->capacity = cap;
    }
    /* A time in the past is kept as is: it fires at the next clock_run_due and a
     * periodic event rescheduled from its own `when` keeps its grid. */
    e->when = when;
    e->seq = c->seq++;
    heap_place(c, c->count++, e);
    heap_sift_up(c, c->count - 1);
    clock_update_deadline(c);
}

void event_schedule_in(struct sim *sim, struct event *e, uint64_t delay)
{
    event_schedule(sim, e, sim->clock.now + delay);
}

void clock_run_due(struct sim *sim)
{
    struct clock *c = &sim->clock;
    while (c->count && c->heap[0]->when <= c->now) {
        struct event *e = c->heap[0];
        heap_remove(c, e);
        clock_update_deadline(c);
        e->fn(sim, e->opaque);
    }
    clock_update_deadline(c);
}

void clock_free(struct clock *c)
{
    free(c->heap);
    c->heap = NULL;
    c->count = c->capacity = 0;
    c->deadline = UINT64_MAX;
}

void clock_clear(struct clock *c)
{
    for (int i = 0; i < c->count; i++)
        c->heap[i]->heap_index = -1;
    c->count = 0;
    c->deadline = UINT64_MAX;
}

void event_restore(struct sim *sim, struct event *e, uint64_t when, uint64_t seq)
{
    struct clock *c = &sim->clock;
    uint64_t next = c->seq;
    event_schedule(sim, e, when);
    e->seq = seq; /* the heap is keyed by (when, seq): place it again under its own number */
    heap_sift_up(c, e->heap_index);
    heap_sift_down(c, e->heap_index);
    c->seq = next;
    clock_update_deadline(c);
}
