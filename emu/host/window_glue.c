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
};

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
    s.mode_pressed = v.mode_pressed;
    s.running = !h->run_done;
    if (h->m->locked_up)
        snprintf(s.status, sizeof s.status, "halted: the core locked up");
    else
        snprintf(s.status, sizeof s.status, "%.40s%sLED %.48s", h->firmware_name ? h->firmware_name : "",
                 h->firmware_name ? " - " : "", h->led_summary[0] ? h->led_summary : "off");
    return s;
}

/* The window's clicks, taken at the emulator thread's pace tick. */
static void apply_panel_requests(struct window_glue *g)
{
    struct host *h = g->h;
    pthread_mutex_lock(&g->panel.lock);
    int mode = g->panel.mode_request;
    bool reset = g->panel.reset_request, quit = g->panel.quit_request;
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

static void window_pace(struct host *h, void *self)
{
    struct window_glue *g = self;
    if (h->windowed) {
        struct panel_snapshot s = snapshot(g);
        panel_publish(&g->panel, &s);
    }
    apply_panel_requests(g);
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
