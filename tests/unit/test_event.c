/*
 * test_event.c - the event queue: the order events fire in, the deadline the
 * CPU loop runs up to, and that periodic events keep to their grid.
 *
 * Design decision: besides directed tests of each ordering rule, a second,
 * obviously correct queue (a flat array scanned linearly) shadows the heap
 * through thousands of seeded random operations; any disagreement in what
 * fires, in which order, or in the deadline fails the test.
 */
#include "sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LOG_CAPACITY 128

/* What fired, in order, and the virtual time each callback saw. */
struct firing_log {
    int count;
    int id[LOG_CAPACITY];
    uint64_t at[LOG_CAPACITY];
};

/*
 * An event that records itself when it fires and may then schedule another
 * (`chain` at absolute time `chain_when`) or cancel one (`cancel`).
 */
struct probe {
    struct event ev;
    struct firing_log *log;
    int id;
    struct probe *chain;
    uint64_t chain_when;
    struct probe *cancel;
};

static void probe_fired(struct sim *sim, void *opaque)
{
    struct probe *p = opaque;
    struct firing_log *log = p->log;
    assert_true(log->count < LOG_CAPACITY);
    log->id[log->count] = p->id;
    log->at[log->count] = sim->clock.now;
    log->count++;
    if (p->chain)
        event_schedule(sim, &p->chain->ev, p->chain_when);
    if (p->cancel)
        event_cancel(sim, &p->cancel->ev);
}

static void probe_init(struct probe *p, struct firing_log *log, int id)
{
    memset(p, 0, sizeof *p);
    event_init(&p->ev, probe_fired, p, "probe");
    p->log = log;
    p->id = id;
}

static void advance_to(struct sim *sim, uint64_t when)
{
    sim->clock.now = when;
    clock_run_due(sim);
}

static int sim_setup(void **state)
{
    struct sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return -1;
    sim_init(sim);
    *state = sim;
    return 0;
}

static int sim_teardown(void **state)
{
    struct sim *sim = *state;
    sim_free(sim);
    free(sim);
    return 0;
}

/* ---- ordering ------------------------------------------------------------ */

static void test_event_fires_at_first_run_at_or_after_its_time(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe p;
    probe_init(&p, &log, 1);

    event_schedule(sim, &p.ev, 100);
    assert_true(event_pending(&p.ev));
    advance_to(sim, 99);
    assert_int_equal(log.count, 0);
    advance_to(sim, 100);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.at[0], 100);
    assert_false(event_pending(&p.ev));
    advance_to(sim, 200);
    assert_int_equal(log.count, 1);
}

static void test_events_fire_in_order_of_time(void **state)
{
    struct sim *sim = *state;
    static const uint64_t when[] = {50, 10, 40, 20, 30, 1000, 5};
    enum { N = sizeof when / sizeof when[0] };
    static const int expected[] = {6, 1, 3, 4, 2, 0};
    struct firing_log log = {0};
    struct probe p[N];

    for (int i = 0; i < N; i++) {
        probe_init(&p[i], &log, i);
        event_schedule(sim, &p[i].ev, when[i]);
    }
    advance_to(sim, 25);
    assert_int_equal(log.count, 3); /* 5, 10, 20 */
    advance_to(sim, 999);
    assert_int_equal(log.count, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(log.id[i], expected[i]);
    assert_int_equal(log.at[0], 25);
    assert_int_equal(log.at[3], 999);
    assert_true(event_pending(&p[5].ev));
}

static void test_events_at_equal_time_fire_in_insertion_order(void **state)
{
    struct sim *sim = *state;
    enum { N = 16 };
    struct firing_log log = {0};
    struct probe same[N], other[N];

    /* interleave events at other times so the heap has to reorder around the ties */
    for (int i = 0; i < N; i++) {
        probe_init(&same[i], &log, i);
        probe_init(&other[i], &log, 100 + i);
        event_schedule(sim, &other[i].ev, (i % 2) ? 5 : 15);
        event_schedule(sim, &same[i].ev, 10);
    }
    advance_to(sim, 10);
    int ties = 0;
    for (int i = 0; i < log.count; i++) {
        if (log.id[i] < 100) {
            assert_int_equal(log.id[i], ties);
            ties++;
        }
    }
    assert_int_equal(ties, N);
    assert_int_equal(log.count, N + N / 2);
}

static void test_rescheduling_pending_event_moves_it(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe a, b, c;
    probe_init(&a, &log, 0);
    probe_init(&b, &log, 1);
    probe_init(&c, &log, 2);

    event_schedule(sim, &a.ev, 10);
    event_schedule(sim, &b.ev, 20);
    event_schedule(sim, &c.ev, 100);
    event_schedule(sim, &a.ev, 30); /* later */
    event_schedule(sim, &c.ev, 5);  /* earlier */

    advance_to(sim, 25);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.id[0], 2);
    assert_int_equal(log.id[1], 1);
    assert_true(event_pending(&a.ev));

    advance_to(sim, 1000);
    assert_int_equal(log.count, 3); /* moved, not duplicated */
    assert_int_equal(log.id[2], 0);
    assert_int_equal(log.at[2], 1000);
}

static void test_rescheduling_to_same_time_goes_behind_equal_events(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe a, b;
    probe_init(&a, &log, 0);
    probe_init(&b, &log, 1);

    event_schedule(sim, &a.ev, 10);
    event_schedule(sim, &b.ev, 10);
    event_schedule(sim, &a.ev, 10);
    advance_to(sim, 10);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.id[0], 1);
    assert_int_equal(log.id[1], 0);
}

static void test_cancelled_event_never_fires(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe a, b, idle;
    probe_init(&a, &log, 0);
    probe_init(&b, &log, 1);
    probe_init(&idle, &log, 2);

    event_schedule(sim, &a.ev, 10);
    event_schedule(sim, &b.ev, 20);
    event_cancel(sim, &a.ev);
    assert_false(event_pending(&a.ev));
    event_cancel(sim, &a.ev);    /* twice: harmless */
    event_cancel(sim, &idle.ev); /* never scheduled: harmless */
    assert_true(event_pending(&b.ev));

    advance_to(sim, 100);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.id[0], 1);
}

static void test_event_cancelled_by_earlier_callback_in_same_run_does_not_fire(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe a, b, c;
    probe_init(&a, &log, 0);
    probe_init(&b, &log, 1);
    probe_init(&c, &log, 2);
    a.cancel = &b;

    event_schedule(sim, &a.ev, 10);
    event_schedule(sim, &b.ev, 20);
    event_schedule(sim, &c.ev, 30);
    advance_to(sim, 50);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.id[0], 0);
    assert_int_equal(log.id[1], 2);
}

static void test_event_scheduled_in_the_past_fires_at_next_run(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe p;
    probe_init(&p, &log, 7);

    sim->clock.now = 1000;
    event_schedule(sim, &p.ev, 10);
    assert_true(event_pending(&p.ev));
    /* already due: the CPU loop must stop at its next block boundary */
    assert_true(sim->clock.deadline <= sim->clock.now);
    clock_run_due(sim); /* without advancing time */
    assert_int_equal(log.count, 1);
    assert_int_equal(log.at[0], 1000);
}

static void test_callback_scheduling_event_due_now_fires_in_same_run(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe first, now_one, past_one, later;
    probe_init(&first, &log, 0);
    probe_init(&now_one, &log, 1);
    probe_init(&past_one, &log, 2);
    probe_init(&later, &log, 3);
    first.chain = &now_one;
    first.chain_when = 500;   /* = now at the time it runs */
    now_one.chain = &past_one;
    now_one.chain_when = 3;   /* in the past */
    past_one.chain = &later;
    past_one.chain_when = 501;

    event_schedule(sim, &first.ev, 400);
    advance_to(sim, 500);
    assert_int_equal(log.count, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(log.id[i], i);
        assert_int_equal(log.at[i], 500);
    }
    assert_true(event_pending(&later.ev));
    assert_int_equal(sim->clock.deadline, 501);
}

static void test_deadline_tracks_earliest_pending_event(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe a, b, c;
    probe_init(&a, &log, 0);
    probe_init(&b, &log, 1);
    probe_init(&c, &log, 2);

    assert_int_equal(sim->clock.deadline, UINT64_MAX);
    event_schedule(sim, &a.ev, 50);
    assert_int_equal(sim->clock.deadline, 50);
    event_schedule(sim, &b.ev, 20);
    assert_int_equal(sim->clock.deadline, 20);
    event_schedule(sim, &c.ev, 80);
    assert_int_equal(sim->clock.deadline, 20);
    event_cancel(sim, &b.ev);
    assert_int_equal(sim->clock.deadline, 50);
    event_schedule(sim, &a.ev, 90);
    assert_int_equal(sim->clock.deadline, 80);
    event_schedule_in(sim, &b.ev, 7);
    assert_int_equal(sim->clock.deadline, 7);
    advance_to(sim, 85);
    assert_int_equal(sim->clock.deadline, 90);
    advance_to(sim, 90);
    assert_int_equal(sim->clock.deadline, UINT64_MAX);
    event_schedule(sim, &c.ev, 95);
    event_cancel(sim, &c.ev);
    assert_int_equal(sim->clock.deadline, UINT64_MAX);
}

/* ---- the heap against a reference model ---------------------------------- */

#define MODEL_EVENTS 97
#define MODEL_OPERATIONS 10000
#define MODEL_SEED 0x9E3779B97F4A7C15ull
#define MODEL_GRID 16u

/* xorshift64: a seeded, reproducible sequence (the state lives in the test). */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct model_entry {
    bool pending;
    uint64_t when, seq;
};

/* The reference: the due entry with the smallest (when, seq), or -1. */
static int model_first_due(const struct model_entry *m, uint64_t now)
{
    int best = -1;
    for (int i = 0; i < MODEL_EVENTS; i++) {
        if (!m[i].pending || m[i].when > now)
            continue;
        if (best < 0 || m[i].when < m[best].when ||
            (m[i].when == m[best].when && m[i].seq < m[best].seq))
            best = i;
    }
    return best;
}

static uint64_t model_deadline(const struct model_entry *m)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < MODEL_EVENTS; i++)
        if (m[i].pending && m[i].when < d)
            d = m[i].when;
    return d;
}

static void test_heap_matches_reference_model_under_random_operations(void **state)
{
    struct sim *sim = *state;
    struct firing_log log = {0};
    struct probe *p = calloc(MODEL_EVENTS, sizeof *p);
    struct model_entry model[MODEL_EVENTS] = {{0}};
    uint64_t rng = MODEL_SEED, model_seq = 0;
    int fired_total = 0;
    assert_non_null(p);

    for (int i = 0; i < MODEL_EVENTS; i++)
        probe_init(&p[i], &log, i);

    for (int op = 0; op < MODEL_OPERATIONS; op++) {
        uint64_t r = next_random(&rng);
        int i = (int)((r >> 8) % MODEL_EVENTS);
        uint64_t now = sim->clock.now;
        /* times on a coarse grid, so that many events tie and FIFO order is exercised */
        switch (r % 8) {
        case 0: case 1: case 2: {
            uint64_t when = (now / MODEL_GRID + (r >> 20) % 64) * MODEL_GRID;
            if (when < now)
                when = now;
            event_schedule(sim, &p[i].ev, when);
            model[i] = (struct model_entry){true, when, model_seq++};
            break;
        }
        case 3: {
            uint64_t delay = ((r >> 20) % 32) * MODEL_GRID;
            event_schedule_in(sim, &p[i].ev, delay);
            model[i] = (struct model_entry){true, now + delay, model_seq++};
            break;
        }
        case 4: case 5:
            event_cancel(sim, &p[i].ev);
            model[i].pending = false;
            break;
        default: {
            uint64_t to = now + (r >> 20) % (8 * MODEL_GRID);
            log.count = 0;
            advance_to(sim, to);
            int expect_count = 0;
            for (int due; (due = model_first_due(model, to)) >= 0; expect_count++) {
                assert_true(expect_count < log.count);
                assert_int_equal(log.id[expect_count], due);
                model[due].pending = false;
            }
            assert_int_equal(log.count, expect_count);
            fired_total += expect_count;
            break;
        }
        }
        assert_int_equal(sim->clock.deadline, model_deadline(model));
        for (int k = 0; k < MODEL_EVENTS; k++) {
            assert_int_equal(event_pending(&p[k].ev), model[k].pending);
            if (model[k].pending)
                assert_int_equal(p[k].ev.when, model[k].when);
        }
    }
    /* the walk must actually have exercised firing, not only scheduling */
    assert_true(fired_total > MODEL_OPERATIONS / 10);
    free(p);
}

/* ---- periodic events ----------------------------------------------------- */

#define PERIOD 1000u
#define PERIODIC_HORIZON 2000000u

struct periodic {
    struct event ev;
    uint64_t fired;
};

/* The pattern every periodic block uses: the next time is relative to `when`. */
static void periodic_fired(struct sim *sim, void *opaque)
{
    struct periodic *p = opaque;
    p->fired++;
    assert_int_equal(p->ev.when, p->fired * PERIOD);
    assert_true(p->ev.when <= sim->clock.now);
    event_schedule(sim, &p->ev, p->ev.when + PERIOD);
}

/* Run at irregular block boundaries, each at most `max_step` cycles apart. */
static void run_periodic(struct sim *sim, uint64_t max_step)
{
    struct periodic p = {0};
    uint64_t rng = MODEL_SEED;
    event_init(&p.ev, periodic_fired, &p, "periodic");
    event_schedule(sim, &p.ev, PERIOD);

    while (sim->clock.now < PERIODIC_HORIZON) {
        advance_to(sim, sim->clock.now + 1 + next_random(&rng) % max_step);
        assert_int_equal(p.fired, sim->clock.now / PERIOD);
        assert_int_equal(p.ev.when, (p.fired + 1) * PERIOD);
        assert_int_equal(sim->clock.deadline, p.ev.when);
    }
}

static void test_periodic_event_rescheduled_from_its_when_does_not_drift(void **state)
{
    run_periodic(*state, PERIOD - 1);
}

/*
 * A block (or an exception entry) can end more than one period after the
 * event was due, for events with periods of a few cycles. Rescheduling at
 * e->when + period then lies in the past; each missed period must still fire,
 * once, at its own time on the grid.
 */
static void test_periodic_event_late_by_more_than_a_period_keeps_its_grid(void **state)
{
    run_periodic(*state, 2 * PERIOD + PERIOD / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, sim_setup, sim_teardown)
        T(test_event_fires_at_first_run_at_or_after_its_time),
        T(test_events_fire_in_order_of_time),
        T(test_events_at_equal_time_fire_in_insertion_order),
        T(test_rescheduling_pending_event_moves_it),
        T(test_rescheduling_to_same_time_goes_behind_equal_events),
        T(test_cancelled_event_never_fires),
        T(test_event_cancelled_by_earlier_callback_in_same_run_does_not_fire),
        T(test_event_scheduled_in_the_past_fires_at_next_run),
        T(test_callback_scheduling_event_due_now_fires_in_same_run),
        T(test_deadline_tracks_earliest_pending_event),
        T(test_heap_matches_reference_model_under_random_operations),
        T(test_periodic_event_rescheduled_from_its_when_does_not_drift),
        T(test_periodic_event_late_by_more_than_a_period_keeps_its_grid),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
