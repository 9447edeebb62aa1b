/*
 * script.c - --script FILE: a scenario, steps in virtual time, one per line
 * (docs/scenarios.md): press and hold the buttons, wait, expect what the LED
 * does, a reset or a USB attach within a time, run host programs against the
 * USB device, take screenshots. The run ends 0 when every step held, 1 at the
 * first expectation that did not (the line, what was expected, what the LED
 * did), 2 for a malformed script (line and column, before anything runs).
 *
 * Design decision: the whole file is parsed in create, before anything stored
 * is touched; the steps then run on the emulator thread, one at a time, each
 * started by the previous one's end. An expectation holds at the first pace
 * tick (10 ms of virtual time) or event at which it is true, so a script is as
 * deterministic as the emulator: the same script gives the same trace.
 */
#include "emu/led_pattern.h"
#include "host.h"
#include "panel.h"
#include "usb_cmd.h"
#include "script_parse.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRIPT_MAX_EVENTS 64      /* resets and USB attaches remembered for expectations */
#define PATTERN_MIN_US 500000u    /* solid and breathing hold once seen this long */
#define USB_WAIT SIM_S(60)        /* run: no device after this long is a failure */
#define SCRIPT_FAILED 1

struct seen_event {
    uint64_t t;
    int what;              /* a reset cause, or 1 attach / 0 detach */
    uint16_t vid, pid;
};

struct script {
    struct host *h;
    const char *path;
    struct script_steps parsed; /* the steps, and what running them needs */
    int cur;

    struct led_pattern led;
    struct event step_event;
    bool step_started, done;
    uint64_t step_start, deadline;

    struct seen_event resets[SCRIPT_MAX_EVENTS], usb[SCRIPT_MAX_EVENTS];
    int nresets, nusb, reset_cursor, usb_cursor;

    struct host_program prog;
    char **env;
    bool waiting_for_device;
    uint64_t run_after;
    struct event start_event, check_event, end_event;
};

static int script_load(struct script *sc, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--script %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = script_parse_stream(&sc->parsed, path, f, err, errlen);
    fclose(f);
    return rc;
}

static uint64_t now(struct script *sc) { return sc->h->m->sim.clock.now; }

static void end_run(struct script *sc, int status)
{
    struct machine *m = sc->h->m;
    sc->done = true;
    event_cancel(&m->sim, &sc->step_event);
    m->exit_status = status;
    m->exit_requested = true;
    machine_request_stop(m);
}

static void end_of_run(struct sim *sim, void *opaque)
{
    (void)sim;
    end_run(opaque, 0);
}

static void fail(struct script *sc, const struct step *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct script *sc, const struct step *s, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "spark-emu: %s:%d: %s: %s\n", sc->path, s->line, s->text, why);
    fflush(stderr);
    end_run(sc, SCRIPT_FAILED);
}

static bool colour_matches(const struct step *s, const uint8_t rgb[3])
{
    if (s->colour_name)
        return strcmp(led_colour_name(rgb), s->colour_name) == 0;
    /* #rrggbb: the hue, both scaled to full brightness (the LED's brightness is its PWM duty) */
    unsigned want_max = 0, have_max = 0;
    for (int i = 0; i < 3; i++) {
        if (s->rgb[i] > want_max) want_max = s->rgb[i];
        if (rgb[i] > have_max) have_max = rgb[i];
    }
    if (!want_max || !have_max)
        return false;
    for (int i = 0; i < 3; i++) {
        int want = (int)(s->rgb[i] * 255u / want_max), have = (int)(rgb[i] * 255u / have_max);
        if (abs(want - have) > s->colour_tolerance)
            return false;
    }
    return true;
}

static bool period_matches(const struct step *s, uint64_t measured)
{
    if (!s->period_us)
        return true;
    uint64_t diff = measured > s->period_us ? measured - s->period_us : s->period_us - measured;
    return measured && diff * 100 <= s->period_us * (uint64_t)s->period_tolerance_pct;
}

static bool led_holds(const struct step *s, const struct led_pattern_state *st)
{
    if (s->off)
        return st->shape == LED_OFF;
    if (st->shape == LED_OFF || st->shape == LED_CHANGING || !colour_matches(s, st->rgb))
        return false;
    bool solid = st->shape == LED_SOLID;
    bool blinking = st->shape == LED_BLINKING && st->cycles >= 2 && period_matches(s, st->period_us);
    bool breathing = st->shape == LED_BREATHING && st->seen_us >= PATTERN_MIN_US && period_matches(s, st->period_us);
    switch (s->want) {
    case WANT_SOLID: return solid;
    case WANT_BLINKING: return blinking;
    case WANT_BREATHING: return breathing;
    case WANT_ANY:
    default: return solid || blinking || breathing;
    }
}

static const struct seen_event *find_event(struct script *sc, const struct step *s)
{
    bool reset = s->kind == STEP_EXPECT_RESET;
    struct seen_event *list = reset ? sc->resets : sc->usb;
    int n = reset ? sc->nresets : sc->nusb;
    int *cursor = reset ? &sc->reset_cursor : &sc->usb_cursor;
    for (int i = *cursor; i < n; i++) {
        const struct seen_event *e = &list[i];
        bool match = reset ? (s->any_cause || e->what == (int)s->cause)
                           : (e->what == !s->detach && (s->any_id || (e->vid == s->vid && e->pid == s->pid)));
        if (match) {
            *cursor = i + 1;
            return e;
        }
    }
    return NULL;
}

static bool step_holds(struct script *sc, const struct step *s)
{
    if (s->kind == STEP_EXPECT_LED) {
        struct led_pattern_state st;
        led_pattern_classify(&sc->led, sim_now_us(&sc->h->m->sim), &st);
        return led_holds(s, &st);
    }
    return find_event(sc, s) != NULL;
}

static void report_expectation_failed(struct script *sc, const struct step *s)
{
    char did[160] = "";
    if (s->kind == STEP_EXPECT_LED) {
        struct led_pattern_state st;
        led_pattern_classify(&sc->led, sim_now_us(&sc->h->m->sim), &st);
        led_pattern_describe(&st, did, sizeof did);
        if (st.shape == LED_BLINKING && st.cycles < 2)
            strncat(did, ", one period seen", sizeof did - strlen(did) - 1);
        else if (st.shape == LED_BREATHING && st.period_us == 0 && s->period_us)
            strncat(did, ", no full breath seen", sizeof did - strlen(did) - 1);
        fail(sc, s, "not met by %.3f s; the LED was %s", (double)now(sc) / SIM_HZ, did);
        return;
    }
    bool reset = s->kind == STEP_EXPECT_RESET;
    int n = reset ? sc->nresets : sc->nusb, cursor = reset ? sc->reset_cursor : sc->usb_cursor;
    size_t o = 0;
    for (int i = cursor; i < n && o < sizeof did - 48; i++) {
        const struct seen_event *e = reset ? &sc->resets[i] : &sc->usb[i];
        if (reset)
            o += (size_t)snprintf(did + o, sizeof did - o, "%s%s at %.3f s", o ? ", " : "",
                                  reset_cause_name((enum reset_cause)e->what), (double)e->t / SIM_HZ);
        else
            o += (size_t)snprintf(did + o, sizeof did - o, "%s%s %04x:%04x at %.3f s", o ? ", " : "",
                                  e->what ? "attach" : "detach", e->vid, e->pid, (double)e->t / SIM_HZ);
    }
    const char *none = reset ? "no reset since the last one expected" : "no USB attach or detach since the last one "
                                                                        "expected";
    fail(sc, s, "not met by %.3f s; %s", (double)now(sc) / SIM_HZ, o ? did : none);
}

/*
 * The board now, drawn off-screen as the window draws it (with a window too:
 * the window's own hand-over serves only --screenshot's fixed instants).
 */
static void take_screenshot(struct script *sc, const struct step *s)
{
    struct host *h = sc->h;
    struct spark_core_view v = spark_core_view(h->board);
    struct panel_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.t_us = sim_now_us(&h->m->sim);
    memcpy(snap.led, v.led, 3);
    snap.user_led = v.user_led;
    snap.usb_attached = v.usb_attached;
    snap.mode_pressed = v.mode_pressed;
    snap.running = true;
    const char *firmware = h->firmware_name ? h->firmware_name : "";
    snprintf(snap.status, sizeof snap.status, "%.40s%sreset: %s", firmware, *firmware ? "   " : "",
             reset_cause_name(h->m->sim.reset_cause));
    host_led_describe(h, snap.led_pattern, sizeof snap.led_pattern);
    char err[256];
    if (panel_render_png(&snap, s->arg, err, sizeof err)) {
        fprintf(stderr, "spark-emu: %s:%d: %s: %s\n", sc->path, s->line, s->text, err);
        end_run(sc, EXIT_BAD_INPUT);
    }
}

/* The whole machine now, into a file (--snapshot-save's file, taken at the next point the CPU loop allows). */
static void take_snapshot(struct script *sc, const struct step *s)
{
    char err[256];
    if (host_snapshot_request(sc->h, s->arg, now(sc), err, sizeof err)) {
        fprintf(stderr, "spark-emu: %s:%d: %s: %s\n", sc->path, s->line, s->text, err);
        end_run(sc, EXIT_BAD_INPUT);
    }
}

static void start_program(struct script *sc, struct step *s)
{
    sc->waiting_for_device = false;
    if (!sc->env) {
        sc->env = host_program_env(sc->h->usb_env);
        if (!sc->env) {
            fail(sc, s, "out of memory");
            return;
        }
    }
    sim_log(&sc->h->m->sim, LOG_INFO, "%s:%d: running '%s'", sc->path, s->line, s->arg);
    int rc = host_program_start(&sc->prog, sc->h->m, s->arg, sc->env);
    if (rc)
        fail(sc, s, "cannot start /bin/sh: %s", strerror(rc));
}

static void advance(struct script *sc);

/* A step's timer: a wait or hold is over, or an expectation's time is up. */
static void step_timer(struct sim *sim, void *opaque)
{
    struct script *sc = opaque;
    (void)sim;
    if (sc->done || sc->cur >= sc->parsed.nsteps)
        return;
    struct step *s = &sc->parsed.steps[sc->cur];
    switch (s->kind) {
    case STEP_HOLD:
        spark_core_set_button(sc->h->board, s->button, false);
        break;
    case STEP_EXPECT_LED:
    case STEP_EXPECT_RESET:
    case STEP_EXPECT_USB:
        if (!step_holds(sc, s)) {
            report_expectation_failed(sc, s);
            return;
        }
        break;
    case STEP_RUN:
        if (sc->waiting_for_device) {
            fail(sc, s, "no USB device enumerated within %llu s of virtual time",
                 (unsigned long long)(USB_WAIT / SIM_HZ));
            return;
        }
        break;
    default:
        break;
    }
    sc->cur++;
    sc->step_started = false;
    advance(sc);
}

/* Start steps until one must let time run. */
static void advance(struct script *sc)
{
    struct sim *sim = &sc->h->m->sim;
    while (!sc->done && sc->cur < sc->parsed.nsteps) {
        struct step *s = &sc->parsed.steps[sc->cur];
        if (!sc->step_started) {
            sc->step_started = true;
            sc->step_start = now(sc);
            sim_log(sim, LOG_INFO, "%s:%d: %s", sc->path, s->line, s->text);
            switch (s->kind) {
            case STEP_WAIT:
                event_schedule(sim, &sc->step_event, now(sc) + s->duration);
                return;
            case STEP_HOLD:
                spark_core_set_button(sc->h->board, s->button, true);
                event_schedule(sim, &sc->step_event, now(sc) + s->duration);
                return;
            case STEP_EXPECT_LED:
            case STEP_EXPECT_RESET:
            case STEP_EXPECT_USB:
                if (step_holds(sc, s))
                    break;
                event_schedule(sim, &sc->step_event, now(sc) + s->duration);
                return;
            case STEP_RUN:
                if (usb_host_device(spark_core_usb_host(sc->h->board))) {
                    start_program(sc, s);
                } else {
                    sc->waiting_for_device = true;
                    event_schedule(sim, &sc->step_event, now(sc) + USB_WAIT);
                }
                return;
            case STEP_SCREENSHOT:
                take_screenshot(sc, s);
                break;
            case STEP_SNAPSHOT:
                take_snapshot(sc, s);
                break;
            }
        } else {
            return; /* under way: its timer, an observer or the service moves on */
        }
        sc->cur++;
        sc->step_started = false;
    }
    if (!sc->done && sc->cur >= sc->parsed.nsteps) {
        sc->done = true;
        sim_log(sim, LOG_INFO, "%s: every step held", sc->path);
        if (sc->run_after)
            event_schedule(sim, &sc->end_event, now(sc) + sc->run_after);
        else
            end_run(sc, 0);
    }
}

/* An expectation under way may hold now. */
static void check_current(struct script *sc)
{
    if (sc->done || sc->cur >= sc->parsed.nsteps || !sc->step_started)
        return;
    struct step *s = &sc->parsed.steps[sc->cur];
    if (s->kind != STEP_EXPECT_LED && s->kind != STEP_EXPECT_RESET && s->kind != STEP_EXPECT_USB)
        return;
    if (!step_holds(sc, s))
        return;
    event_cancel(&sc->h->m->sim, &sc->step_event);
    sc->cur++;
    sc->step_started = false;
    advance(sc);
}

/* Observers run inside a reset or a USB transaction: look at the expectation once that is over. */
static void deferred_check(struct sim *sim, void *opaque)
{
    (void)sim;
    check_current(opaque);
}

static void check_soon(struct script *sc)
{
    if (!event_pending(&sc->check_event))
        event_schedule_in(&sc->h->m->sim, &sc->check_event, 0);
}

static void first_step(struct sim *sim, void *opaque)
{
    (void)sim;
    advance(opaque);
}

/* ---- what the script observes ---- */

static void led_changed(void *opaque, const uint8_t rgb[3])
{
    struct script *sc = opaque;
    led_pattern_update(&sc->led, sim_now_us(&sc->h->m->sim), rgb);
}

static void remember(struct seen_event *list, int *n, const struct seen_event *e)
{
    if (*n == SCRIPT_MAX_EVENTS) {
        memmove(list, list + 1, (SCRIPT_MAX_EVENTS - 1) * sizeof *list);
        (*n)--;
    }
    list[(*n)++] = *e;
}

/* machine_add_periph's reset hook: every chip reset, power-on included */
static void chip_reset(void *opaque, enum reset_cause cause)
{
    struct script *sc = opaque;
    struct seen_event e = {now(sc), (int)cause, 0, 0};
    int before = sc->nresets;
    remember(sc->resets, &sc->nresets, &e);
    if (sc->nresets == before && sc->reset_cursor > 0)
        sc->reset_cursor--;
    check_soon(sc);
}

static void usb_attached(void *opaque, const struct usb_device_view *dev)
{
    struct script *sc = opaque;
    struct seen_event e = {now(sc), 1, (uint16_t)(dev->device[8] | dev->device[9] << 8),
                           (uint16_t)(dev->device[10] | dev->device[11] << 8)};
    int before = sc->nusb;
    remember(sc->usb, &sc->nusb, &e);
    if (sc->nusb == before && sc->usb_cursor > 0)
        sc->usb_cursor--;
    if (!sc->done && sc->cur < sc->parsed.nsteps && sc->parsed.steps[sc->cur].kind == STEP_RUN &&
        sc->waiting_for_device) {
        event_cancel(&sc->h->m->sim, &sc->step_event);
        start_program(sc, &sc->parsed.steps[sc->cur]);
    }
    check_soon(sc);
}

static void usb_detached(void *opaque, unsigned generation)
{
    struct script *sc = opaque;
    (void)generation;
    const struct usb_device_view *dev = usb_host_device(spark_core_usb_host(sc->h->board));
    struct seen_event e = {now(sc), 0, 0, 0};
    if (dev) {
        e.vid = (uint16_t)(dev->device[8] | dev->device[9] << 8);
        e.pid = (uint16_t)(dev->device[10] | dev->device[11] << 8);
    }
    int before = sc->nusb;
    remember(sc->usb, &sc->nusb, &e);
    if (sc->nusb == before && sc->usb_cursor > 0)
        sc->usb_cursor--;
    check_soon(sc);
}

/* Emulator thread, after every kick: a run step's program may have ended. */
static void service(void *opaque)
{
    struct script *sc = opaque;
    int status;
    if (!host_program_reap(&sc->prog, &status) || sc->done || sc->cur >= sc->parsed.nsteps)
        return;
    struct step *s = &sc->parsed.steps[sc->cur];
    if (status != 0) {
        fail(sc, s, "the command exited with status %d", status);
        return;
    }
    sc->cur++;
    sc->step_started = false;
    advance(sc);
}

/* ---- the host adapter ---- */

static void free_script(struct script *sc)
{
    script_steps_free(&sc->parsed);
    free(sc->env);
    free(sc);
}

static int script_create(struct host *h, void **self, char *err, size_t errlen)
{
    *self = NULL;
    if (!h->opt->script)
        return 0;
    struct script *sc = calloc(1, sizeof *sc);
    if (!sc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sc->h = h;
    sc->path = h->opt->script;
    if (script_load(sc, sc->path, err, errlen)) {
        free_script(sc);
        return -1;
    }
    /*
     * A script's setup line is an option given in a file: main.c's options are
     * not const, and the board, which reads them, does not exist yet.
     */
    if (sc->parsed.wifi_profiles >= 0 && h->opt->snapshot_load) {
        snprintf(err, errlen, "%s: wifi-profiles cannot be used with --snapshot-load: the snapshot holds the "
                              "CC3000's WiFi profiles", sc->path);
        free_script(sc);
        return -1;
    }
    for (int i = 0; i < sc->parsed.nsteps; i++) {
        /* a snapshot's file must be writable where it is asked for, before anything runs */
        const struct step *st = &sc->parsed.steps[i];
        char *dir = st->kind == STEP_SNAPSHOT ? strdup(st->arg) : NULL;
        if (dir && access(dirname(dir), W_OK) != 0) {
            snprintf(err, errlen, "%s:%d: %s: cannot write in %s: %s", sc->path, st->line, st->text, dir,
                     strerror(errno));
            free(dir);
            free_script(sc);
            return -1;
        }
        free(dir);
    }
    if (sc->parsed.wifi_profiles >= 0)
        ((struct options *)h->opt)->wifi_profiles = sc->parsed.wifi_profiles;
    h->usb_cable |= sc->parsed.uses_usb;
    h->usb_programs |= sc->parsed.runs_programs;
    sc->run_after = h->run_for; /* --run-for counts from the end of the script */
    h->run_for = 0;
    led_pattern_init(&sc->led, 0);
    *self = sc;
    return 0;
}

static int script_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct script *sc = self;
    if (!sc)
        return 0;
    struct machine *m = h->m;
    if (spark_core_add_led_observer(h->board, led_changed, sc)) {
        snprintf(err, errlen, "--script: too many LED observers");
        return -1;
    }
    if (m->nperiphs == MACHINE_MAX_PERIPHS || machine_add_service(m, service, sc)) {
        snprintf(err, errlen, "--script: too many emulator-thread services");
        return -1;
    }
    machine_add_periph(m, "--script reset watch", sc, chip_reset);
    struct usb_host_observer o = {usb_attached, usb_detached, sc};
    usb_host_observe(spark_core_usb_host(h->board), &o);
    event_init(&sc->step_event, step_timer, sc, "--script step");
    event_init(&sc->end_event, end_of_run, sc, "--script run-for");
    event_init(&sc->check_event, deferred_check, sc, "--script check");
    event_init(&sc->start_event, first_step, sc, "--script start");
    event_schedule(&m->sim, &sc->start_event, 0);
    return 0;
}

static void script_pace(struct host *h, void *self)
{
    (void)h;
    if (self)
        check_current(self);
}

static void script_stop(struct host *h, void *self)
{
    (void)h;
    struct script *sc = self;
    if (sc)
        host_program_kill(&sc->prog);
}

static void script_destroy(struct host *h, void *self)
{
    struct script *sc = self;
    if (!sc)
        return;
    script_stop(h, sc);
    if (h->m) {
        event_cancel(&h->m->sim, &sc->step_event);
        event_cancel(&h->m->sim, &sc->end_event);
        event_cancel(&h->m->sim, &sc->start_event);
        event_cancel(&h->m->sim, &sc->check_event);
    }
    free_script(sc);
}

const struct host_adapter host_script = {
    .name = "script",
    .create = script_create,
    .attach = script_attach,
    .pace = script_pace,
    .stop = script_stop,
    .destroy = script_destroy,
};
