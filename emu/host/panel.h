/*
 * panel.h - what the window shows and what it sends back, shared between the
 * emulator thread (which owns the machine) and the SDL thread (main thread,
 * which only draws and reads the mouse).
 *
 * Design decision: the two threads meet only here, under one mutex. The
 * emulator publishes a snapshot every 10 ms of virtual time; the window sends
 * button presses and quit requests as flags the emulator applies at its next
 * pace tick. The window never touches machine state.
 */
#ifndef EMU_PANEL_H
#define EMU_PANEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the USB connector shows. */
enum panel_usb {
    PANEL_USB_DETACHED = 0, /* the D+ pull-up is off: no device on the cable */
    PANEL_USB_UNENUMERATED, /* pulled up, but no host enumerated it (a charger, or still enumerating) */
    PANEL_USB_DFU,          /* enumerated as 1d50:607f, the bootloader's DFU device */
    PANEL_USB_SERIAL,       /* enumerated as 1d50:607d, the firmware's CDC serial port */
    PANEL_USB_OTHER,        /* enumerated as something else (usb_vid:usb_pid) */
};

struct panel_snapshot {
    uint64_t t_us;       /* virtual time */
    uint8_t led[3];      /* RGB LED, PWM duty of each channel 0-255 (as traced) */
    bool user_led;       /* D7 (PA13), active high */
    bool usb_attached;   /* D+ pull-up on (PB10 low) */
    enum panel_usb usb;
    uint16_t usb_vid, usb_pid;
    bool mode_pressed;   /* MODE button as the board sees it */
    uint64_t mode_held_us; /* how long MODE has been held (virtual time), 0 while released */
    bool running;        /* false once the emulator has stopped */
    bool paused;         /* the window paused the emulator (space) */
    double speed;        /* virtual seconds per wall second lately; 0 if not measured yet */
    char status[96];     /* one line: e.g. "Tinker 0.7.0 - listening" or "halted: lockup" */
    char led_pattern[96]; /* what the LED does, in words ("blue, blinking every 500 ms") */
};

struct panel {
    pthread_mutex_t lock;
    struct panel_snapshot snap; /* latest, written by the emulator thread */
    /* window -> emulator, consumed by the emulator thread */
    int mode_request;           /* -1 nothing, 0 release, 1 press */
    bool reset_request;         /* click on RESET: a pin reset */
    bool quit_request;          /* window closed */
    bool pause_request;         /* space: pause or resume (the emulator toggles and clears it) */
};

void panel_init(struct panel *p);
void panel_destroy(struct panel *p);
void panel_publish(struct panel *p, const struct panel_snapshot *s);
struct panel_snapshot panel_read(struct panel *p);

struct window;

/* Open an SDL window (main thread only). Returns -1 with a message if no display is usable. */
int window_open(struct window **out, const char *title, char *err, size_t errlen);
/* Handle input and redraw from the panel; returns false once the user closed the window. */
bool window_poll(struct window *w, struct panel *p);
/* Save what the window shows now as a PNG (reads back the window's pixels). */
int window_screenshot(struct window *w, const char *path, char *err, size_t errlen);
void window_close(struct window *w);

/* Draw a snapshot off-screen, exactly as a 640x360 window would, into a PNG (no display needed). */
int panel_render_png(const struct panel_snapshot *s, const char *path, char *err, size_t errlen);
/* The same at another size, as a resized or HiDPI window would show it (the board scaled, centred). */
int panel_render_png_sized(const struct panel_snapshot *s, int width, int height, const char *path, char *err,
                           size_t errlen);

/* How bright an LED channel at PWM duty/255 looks, 0-255 (CIE lightness, exposed for a lit LED). */
uint8_t panel_perceived_level(uint8_t duty);

/* Write 8-bit RGB pixels (row-major, width*3 bytes per row) as a PNG. */
int png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errlen);

#endif
