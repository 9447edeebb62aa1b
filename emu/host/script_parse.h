/*
 * script_parse.h - the scenario language's parser (docs/scenarios.md): a
 * script's text in, its steps out, or an error naming the line and column.
 *
 * Design decision: parsing knows nothing of the machine or the host, so the
 * parser can be tested and fuzzed on its own (tests/fuzz/fuzz_script.c);
 * script.c runs the steps.
 */
#ifndef EMU_HOST_SCRIPT_PARSE_H
#define EMU_HOST_SCRIPT_PARSE_H

#include "emu/options.h"
#include "emu/sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SCRIPT_MAX_LINE 1024
#define TAP_HOLD SIM_MS(100)      /* press: a tap */
#define COLOUR_TOLERANCE 48       /* #rrggbb: per channel, both scaled to full brightness */
#define PERIOD_TOLERANCE_PCT 10

enum step_kind {
    STEP_WAIT, STEP_HOLD, STEP_EXPECT_LED, STEP_EXPECT_RESET, STEP_EXPECT_USB, STEP_RUN, STEP_SCREENSHOT, STEP_SNAPSHOT
};
enum led_want { WANT_ANY = 0, WANT_SOLID, WANT_BLINKING, WANT_BREATHING };

struct step {
    enum step_kind kind;
    int line;
    char *text;            /* the line as written, without its comment */
    uint64_t duration;     /* wait, hold; `within` for expectations (cycles) */
    enum button_id button;
    /* expect led */
    bool off;
    const char *colour_name; /* by name, or NULL: rgb with a tolerance */
    uint8_t rgb[3];
    int colour_tolerance;
    enum led_want want;
    uint64_t period_us;    /* 0: any */
    int period_tolerance_pct;
    /* expect reset */
    bool any_cause;
    enum reset_cause cause;
    /* expect usb */
    bool detach, any_id;
    uint16_t vid, pid;
    /* run, screenshot */
    char *arg;
};

/* A parsed script: its steps, and what running it needs. */
struct script_steps {
    struct step *steps;
    int nsteps;
    bool uses_usb, runs_programs;
    int wifi_profiles;     /* -1: the option's */
};

/*
 * Parse a whole script from `f`; `path` names it in errors and is the folder
 * that relative paths (screenshots, commands) are taken from. On error
 * returns -1 with "PATH:LINE:COLUMN: what is wrong" in err and nothing in out.
 */
int script_parse_stream(struct script_steps *out, const char *path, FILE *f, char *err, size_t errlen);
void script_steps_free(struct script_steps *sc);

#endif
