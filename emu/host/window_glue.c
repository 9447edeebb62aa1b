/*
 * window_glue.c - the window's side of the host: opens the SDL window on the
 * main thread (the emulator then runs on its own thread), publishes what the
 * board shows to the panel every pace tick, applies the window's clicks, and
 * takes --screenshot pictures at exact virtual instants.
 *
 * Design decision: the two threads meet only in the panel (panel.h) and in
 * the screenshot hand-over below; the window thread never touches the machine.
 */
#include "host.h"
#include "panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct window_glue {
    struct host *h;
    struct panel panel;
    struct window *win;
    struct event screenshot_events[OPT_MAX_SCREENSHOTS];
    struct screenshot_ctx {
        struct window_glue *g;
        int index;
    } shot_ctx[OPT_MAX_SCREENSHOTS];
    pthread_mutex_t shot_lock;
    pthread_cond_t shot_cond;
    const char *shot_path; /* a screenshot the window thread must save, or NULL */
    int shot_status;
    char shot_err[256];

    /* emulator thread only */
    bool mode_was_pressed;
    uint64_t mode_pressed_at_us;
    bool paused;
    uint64_t speed_wall_ns, speed_cycles; /* start of the current speed measurement */
    double speed;
};

static uint64_t wall_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Virtual seconds per wall second, over the last half second or more of running (not paused). */
#define SPEED_WINDOW_NS 500000000ull
static void measure_speed(struct window_glue *g)
{
    uint64_t wall = wall_now_ns(), cycles = g->h->m->sim.clock.now;
    if (g->speed_wall_ns == 0 || cycles < g->speed_cycles) {
        g->speed_wall_ns = wall;
        g->speed_cycles = cycles;
        return;
    }
    if (wall - g->speed_wall_ns < SPEED_WINDOW_NS)
        return;
    g->speed = (double)(cycles - g->speed_cycles) / SIM_HZ / ((double)(wall - g->speed_wall_ns) / 1e9);
    g->speed_wall_ns = wall;
    g->speed_cycles = cycles;
}

/* The Core's USB IDs (shared/docs/spark-core-hardware.md): the bootloader's DFU, the firmware's serial */
#define SPARK_USB_VID 0x1d50u
#define SPARK_USB_PID_DFU 0x607fu
#define SPARK_USB_PID_SERIAL 0x607du

/* What the USB connector shows: the host's view of the enumerated device, by its IDs. */
static void usb_state(struct host *h, const struct spark_core_view *v, struct panel_snapshot *s)
{
    const struct usb_device_view *dev = usb_host_device(spark_core_usb_host(h->board));
    s->usb = v->usb_attached ? PANEL_USB_UNENUMERATED : PANEL_USB_DETACHED;
    if (!dev)
        return;
    s->usb_vid = (uint16_t)(dev->device[8] | dev->device[9] << 8); /* idVendor, idProduct */
    s->usb_pid = (uint16_t)(dev->device[10] | dev->device[11] << 8);
    if (s->usb_vid == SPARK_USB_VID && s->usb_pid == SPARK_USB_PID_DFU)
        s->usb = PANEL_USB_DFU;
    else if (s->usb_vid == SPARK_USB_VID && s->usb_pid == SPARK_USB_PID_SERIAL)
        s->usb = PANEL_USB_SERIAL;
    else
        s->usb = PANEL_USB_OTHER;
}

/* When MODE went down, for the hold meter: seen at every pace tick (10 ms) and snapshot. */
static void track_mode(struct window_glue *g, bool pressed)
{
    if (pressed && !g->mode_was_pressed)
        g->mode_pressed_at_us = sim_now_us(&g->h->m->sim);
    g->mode_was_pressed = pressed;
}

static struct panel_snapshot snapshot(struct window_glue *g)
{
    struct host *h = g->h;
    struct spark_core_view v = spark_core_view(h->board);
    struct panel_snapshot s;
    memset(&s, 0, sizeof s);
    s.t_us = sim_now_us(&h->m->sim);
    memcpy(s.led, v.led, 3);
    s.user_led = v.user_led;
    s.usb_attached = v.usb_attached;
    usb_state(h, &v, &s);
    s.mode_pressed = v.mode_pressed;
    track_mode(g, v.mode_pressed);
    s.mode_held_us = v.mode_pressed ? s.t_us - g->mode_pressed_at_us : 0;
    s.running = !h->run_done;
    s.paused = g->paused;
    s.speed = g->speed;
    const char *firmware = h->firmware_name ? h->firmware_name : "";
    if (h->m->locked_up)
        snprintf(s.status, sizeof s.status, "%.40s%shalted: the core locked up", firmware, *firmware ? "   " : "");
    else
        snprintf(s.status, sizeof s.status, "%.40s%sreset: %s", firmware, *firmware ? "   " : "",
                 reset_cause_name(h->m->sim.reset_cause));
    host_led_describe(h, s.led_pattern, sizeof s.led_pattern);
    return s;
}

/* The window's clicks, taken at the emulator thread's pace tick. */
static void apply_panel_requests(struct window_glue *g)
{
    struct host *h = g->h;
    pthread_mutex_lock(&g->panel.lock);
    int mode = g->panel.mode_request;
    bool reset = g->panel.reset_request, quit = g->panel.quit_request;
    if (g->panel.pause_request && !quit)
        g->paused = !g->paused;
    g->panel.pause_request = false;
    g->panel.mode_request = -1;
    g->panel.reset_request = false;
    pthread_mutex_unlock(&g->panel.lock);
    if (mode >= 0)
        spark_core_set_button(h->board, BUTTON_MODE, mode == 1);
    if (reset) {
        spark_core_set_button(h->board, BUTTON_RESET, true);
        spark_core_set_button(h->board, BUTTON_RESET, false);
    }
    if (quit) {
        h->m->exit_requested = true;
        machine_request_stop(h->m);
    }
}

/*
 * Paused (space): the emulator thread waits here, between two pace ticks, until
 * the window resumes or closes (or a signal ends the run); then the pacing
 * starts again from this instant, so time does not race to catch up the pause.
 */
static void hold_while_paused(struct window_glue *g)
{
    struct host *h = g->h;
    bool was_paused = g->paused;
    while (g->paused && !h->m->exit_requested) {
        struct panel_snapshot s = snapshot(g);
        panel_publish(&g->panel, &s);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        apply_panel_requests(g);
    }
    if (was_paused) {
        h->m->pace_wall_start_ns = wall_now_ns();
        h->m->pace_virt_start = h->m->sim.clock.now;
        g->speed_wall_ns = 0;
    }
}

static void window_pace(struct host *h, void *self)
{
    struct window_glue *g = self;
    track_mode(g, spark_core_view(h->board).mode_pressed);
    if (h->windowed) {
        measure_speed(g);
        struct panel_snapshot s = snapshot(g);
        panel_publish(&g->panel, &s);
    }
    apply_panel_requests(g);
    hold_while_paused(g);
}

/*
 * A screenshot at a virtual instant: with a window, the emulator thread waits
 * while the window thread draws exactly this instant and reads it back, so the
 * picture does not depend on pacing; headless, the same drawing is rendered
 * off-screen.
 */
static void take_screenshot(struct sim *sim, void *opaque)
{
    struct screenshot_ctx *ctx = opaque;
    struct window_glue *g = ctx->g;
    const char *path = g->h->opt->screenshots[ctx->index].path;
    struct panel_snapshot snap = snapshot(g);
    char err[256] = "";
    int rc;
    if (g->h->windowed) {
        panel_publish(&g->panel, &snap);
        pthread_mutex_lock(&g->shot_lock);
        g->shot_path = path;
        while (g->shot_path)
            pthread_cond_wait(&g->shot_cond, &g->shot_lock);
        rc = g->shot_status;
        snprintf(err, sizeof err, "%s", g->shot_err);
        pthread_mutex_unlock(&g->shot_lock);
    } else {
        rc = panel_render_png(&snap, path, err, sizeof err);
    }
    if (rc)
        sim_log(sim, LOG_ERROR, "--screenshot %s: %s", path, err);
    else
        sim_log(sim, LOG_INFO, "screenshot %s", path);
}

/* The window thread's side of a pending screenshot. */
static void serve_screenshot(struct window_glue *g)
{
    pthread_mutex_lock(&g->shot_lock);
    if (g->shot_path) {
        window_poll(g->win, &g->panel); /* draw the published instant */
        g->shot_status = window_screenshot(g->win, g->shot_path, g->shot_err, sizeof g->shot_err);
        g->shot_path = NULL;
        pthread_cond_broadcast(&g->shot_cond);
    }
    pthread_mutex_unlock(&g->shot_lock);
}

static int window_create(struct host *h, void **self, char *err, size_t errlen)
{
    struct window_glue *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->h = h;
    panel_init(&g->panel);
    pthread_mutex_init(&g->shot_lock, NULL);
    pthread_cond_init(&g->shot_cond, NULL);
    *self = g;
    return 0;
}

static int window_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct window_glue *g = self;
    (void)err;
    (void)errlen;
    for (int i = 0; i < h->opt->nscreenshots; i++) {
        g->shot_ctx[i].g = g;
        g->shot_ctx[i].index = i;
        event_init(&g->screenshot_events[i], take_screenshot, &g->shot_ctx[i], "screenshot");
        event_schedule(&h->m->sim, &g->screenshot_events[i], h->opt->screenshots[i].at);
    }
    return 0;
}

/* A window if there is a display and --headless was not given; it then takes the main thread. */
static bool window_start(struct host *h, void *self)
{
    struct window_glue *g = self;
    const struct options *opt = h->opt;
    bool display = (getenv("DISPLAY") && *getenv("DISPLAY")) ||
                   (getenv("WAYLAND_DISPLAY") && *getenv("WAYLAND_DISPLAY"));
    if (opt->headless || !display)
        return false;
    char err[256];
    if (window_open(&g->win, "Spark Core - spark-emu", err, sizeof err) != 0) {
        sim_log(&h->m->sim, LOG_WARN, "no window (%s): running headless", err);
        return false;
    }
    h->windowed = true;
    h->input_sources++;
    /* with a window: real time unless told otherwise */
    if (!opt->speed_given)
        h->m->pacing = PACE_REALTIME;
    struct panel_snapshot s = snapshot(g);
    panel_publish(&g->panel, &s);
    return true;
}

/* SDL on the main thread until the run is over (and, without --run-for, the window closed). */
static void window_main_loop(struct host *h, void *self)
{
    struct window_glue *g = self;
    bool open = true;
    while (!h->run_done || (open && !h->opt->run_for)) {
        if (open && !window_poll(g->win, &g->panel))
            open = false; /* the quit request reaches the emulator at its next pace tick */
        serve_screenshot(g);
        if (!open && !h->run_done) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!open && h->run_done)
            break;
    }
    serve_screenshot(g);
}

static void window_ended(struct host *h, void *self)
{
    struct window_glue *g = self;
    if (!h->windowed)
        return;
    struct panel_snapshot s = snapshot(g);
    panel_publish(&g->panel, &s);
}

static void window_stop(struct host *h, void *self)
{
    struct window_glue *g = self;
    if (!g->win)
        return;
    window_close(g->win);
    g->win = NULL;
    h->windowed = false;
    h->input_sources--;
}

static void window_destroy(struct host *h, void *self)
{
    struct window_glue *g = self;
    window_stop(h, g);
    panel_destroy(&g->panel);
    pthread_mutex_destroy(&g->shot_lock);
    pthread_cond_destroy(&g->shot_cond);
    free(g);
}

const struct host_adapter host_window = {
    .name = "window",
    .create = window_create,
    .attach = window_attach,
    .start = window_start,
    .main_loop = window_main_loop,
    .pace = window_pace,
    .ended = window_ended,
    .stop = window_stop,
    .destroy = window_destroy,
};
