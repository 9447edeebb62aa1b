/*
 * script_parse.c - the scenario language's parser: one step per line, words
 * separated by blanks, '#' starts a comment (unless it starts a colour), every
 * error names the line and column (docs/scenarios.md).
 *
 * Design decision: the parser checks everything a step needs before the run
 * starts, so a malformed script costs nothing; paths in a script are taken
 * relative to the script's folder here, once.
 */
#include "script_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct parser {
    const char *path;
    int line;
    const char *text;      /* the line */
    char *err;
    size_t errlen;
};

static int parse_error(struct parser *ps, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int parse_error(struct parser *ps, const char *at, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int col = at ? (int)(at - ps->text) + 1 : 1;
    snprintf(ps->err, ps->errlen, "%s:%d:%d: %s", ps->path, ps->line, col, msg);
    return -1;
}

/* Words of a line: start pointers into a copy with NULs after each word. */
struct words {
    char buf[SCRIPT_MAX_LINE];
    const char *w[32];     /* in buf */
    const char *at[32];    /* the same word in the original line, for columns */
    int n;
};

static bool is_hex_colour(const char *s)
{
    if (s[0] != '#')
        return false;
    for (int i = 1; i <= 6; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Cut the comment: a '#' at the start or after a blank, unless it begins a colour #rrggbb. */
static size_t content_length(const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i < n; i++)
        if (line[i] == '#' && (i == 0 || isspace((unsigned char)line[i - 1])) && !is_hex_colour(line + i))
            n = i;
    while (n && isspace((unsigned char)line[n - 1]))
        n--;
    return n;
}

static void split(const char *line, size_t len, struct words *w)
{
    memcpy(w->buf, line, len);
    w->buf[len] = '\0';
    w->n = 0;
    char *p = w->buf;
    while (*p && w->n < 32) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        w->w[w->n] = p;
        w->at[w->n] = line + (p - w->buf);
        w->n++;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
}

static int parse_button(struct parser *ps, struct words *w, int i, enum button_id *b)
{
    if (i >= w->n)
        return parse_error(ps, ps->text + strlen(ps->text), "expected a button: mode or reset");
    if (strcmp(w->w[i], "mode") == 0)
        *b = BUTTON_MODE;
    else if (strcmp(w->w[i], "reset") == 0)
        *b = BUTTON_RESET;
    else
        return parse_error(ps, w->at[i], "unknown button '%s' (expected mode or reset)", w->w[i]);
    return 0;
}

static int parse_time(struct parser *ps, struct words *w, int i, uint64_t *cycles, bool positive)
{
    if (i >= w->n)
        return parse_error(ps, ps->text + strlen(ps->text), "expected a duration such as 500ms or 2s");
    if (parse_duration(w->w[i], cycles) || (positive && *cycles == 0))
        return parse_error(ps, w->at[i], "'%s' is not a duration (<n>us, <n>ms or <n>s)", w->w[i]);
    return 0;
}

/* "within DURATION" ending the line */
static int parse_within(struct parser *ps, struct words *w, int i, struct step *s)
{
    if (i >= w->n || strcmp(w->w[i], "within") != 0)
        return parse_error(ps, i < w->n ? w->at[i] : ps->text + strlen(ps->text),
                           "expected 'within DURATION', e.g. within 5s");
    if (parse_time(ps, w, i + 1, &s->duration, true))
        return -1;
    if (i + 2 < w->n)
        return parse_error(ps, w->at[i + 2], "unexpected '%s' after the duration", w->w[i + 2]);
    return 0;
}

/* "500ms", "500ms±10%" or "500ms+-10%": a period with its tolerance */
static int parse_period(struct parser *ps, const char *word, const char *at, struct step *s)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", word);
    s->period_tolerance_pct = PERIOD_TOLERANCE_PCT;
    char *pm = strstr(tmp, "\xc2\xb1");
    size_t pmlen = 2;
    if (!pm) {
        pm = strstr(tmp, "+-");
        pmlen = 2;
    }
    if (pm) {
        char *tol = pm + pmlen, *end;
        errno = 0;
        long pct = strtol(tol, &end, 10);
        if (end == tol || strcmp(end, "%") != 0 || errno || pct < 0 || pct > 100)
            return parse_error(ps, at + (tol - tmp), "expected a tolerance in percent after ±, e.g. ±10%%");
        s->period_tolerance_pct = (int)pct;
        *pm = '\0';
    }
    uint64_t cycles;
    if (parse_duration(tmp, &cycles) || cycles == 0)
        return parse_error(ps, at, "'%s' is not a period (<n>us, <n>ms or <n>s, optionally ±N%%)", word);
    s->period_us = cycles / SIM_CYCLES_PER_US;
    return 0;
}

static const char *const COLOUR_NAMES[] = {"off", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

static int parse_expect_led(struct parser *ps, struct words *w, struct step *s)
{
    int i = 2;
    if (i >= w->n)
        return parse_error(ps, ps->text + strlen(ps->text), "expected a colour: a name (red green blue yellow "
                                                           "cyan magenta white off) or #rrggbb");
    const char *c = w->w[i];
    s->colour_tolerance = COLOUR_TOLERANCE;
    if (is_hex_colour(c)) {
        unsigned v = (unsigned)strtoul(c + 1, NULL, 16);
        s->rgb[0] = (uint8_t)(v >> 16);
        s->rgb[1] = (uint8_t)(v >> 8);
        s->rgb[2] = (uint8_t)v;
        const char *rest = c + 7;
        if (strncmp(rest, "\xc2\xb1", 2) == 0 || strncmp(rest, "+-", 2) == 0) {
            char *end;
            long tol = strtol(rest + 2, &end, 10);
            if (end == rest + 2 || *end || tol < 0 || tol > 255)
                return parse_error(ps, w->at[i] + 9, "expected a tolerance 0-255 after ± (per channel)");
            s->colour_tolerance = (int)tol;
        } else if (*rest) {
            return parse_error(ps, w->at[i], "'%s' is not a colour #rrggbb", c);
        }
        s->off = s->rgb[0] == 0 && s->rgb[1] == 0 && s->rgb[2] == 0;
    } else {
        for (size_t k = 0; k < sizeof COLOUR_NAMES / sizeof *COLOUR_NAMES; k++)
            if (strcmp(c, COLOUR_NAMES[k]) == 0)
                s->colour_name = COLOUR_NAMES[k];
        if (!s->colour_name)
            return parse_error(ps, w->at[i], "unknown colour '%s' (red green blue yellow cyan magenta white off, "
                                             "or #rrggbb)", c);
        s->off = strcmp(c, "off") == 0;
    }
    i++;
    if (i < w->n && strcmp(w->w[i], "solid") == 0) {
        s->want = WANT_SOLID;
        i++;
    } else if (i < w->n && (strcmp(w->w[i], "blinking") == 0 || strcmp(w->w[i], "breathing") == 0)) {
        s->want = w->w[i][1] == 'l' ? WANT_BLINKING : WANT_BREATHING;
        i++;
        if (i < w->n && strcmp(w->w[i], "within") != 0) {
            if (parse_period(ps, w->w[i], w->at[i], s))
                return -1;
            i++;
        }
    } else if (i < w->n && strcmp(w->w[i], "within") != 0) {
        return parse_error(ps, w->at[i], "unknown pattern '%s' (solid, blinking PERIOD, breathing [PERIOD])",
                           w->w[i]);
    }
    if (s->off && s->want != WANT_ANY && s->want != WANT_SOLID)
        return parse_error(ps, w->at[2], "an LED that is off does not blink or breathe");
    return parse_within(ps, w, i, s);
}

static int parse_expect(struct parser *ps, struct words *w, struct step *s)
{
    if (w->n < 2)
        return parse_error(ps, ps->text + strlen(ps->text), "expected what to expect: led, reset or usb");
    const char *what = w->w[1];
    if (strcmp(what, "led") == 0) {
        s->kind = STEP_EXPECT_LED;
        return parse_expect_led(ps, w, s);
    }
    if (strcmp(what, "reset") == 0) {
        s->kind = STEP_EXPECT_RESET;
        s->any_cause = true;
        if (w->n > 2 && strcmp(w->w[2], "within") != 0) {
            static const struct {
                const char *name;
                enum reset_cause cause;
            } causes[] = {{"power", RESET_POWER},     {"software", RESET_SOFTWARE}, {"iwdg", RESET_IWDG},
                          {"button", RESET_PIN},      {"pin", RESET_PIN},           {"standby", RESET_STANDBY}};
            s->any_cause = false;
            size_t k;
            for (k = 0; k < sizeof causes / sizeof *causes; k++)
                if (strcmp(w->w[2], causes[k].name) == 0)
                    break;
            if (k == sizeof causes / sizeof *causes)
                return parse_error(ps, w->at[2], "unknown reset cause '%s' (power, software, iwdg, button, standby)",
                                   w->w[2]);
            s->cause = causes[k].cause;
            return parse_within(ps, w, 3, s);
        }
        return parse_within(ps, w, 2, s);
    }
    if (strcmp(what, "usb") == 0) {
        s->kind = STEP_EXPECT_USB;
        if (w->n < 3 || (strcmp(w->w[2], "attach") != 0 && strcmp(w->w[2], "detach") != 0))
            return parse_error(ps, w->n < 3 ? ps->text + strlen(ps->text) : w->at[2],
                               "expected 'usb attach [VID:PID]' or 'usb detach'");
        s->detach = w->w[2][0] == 'd';
        s->any_id = true;
        int i = 3;
        if (i < w->n && strcmp(w->w[i], "within") != 0) {
            unsigned vid, pid;
            char tail;
            if (sscanf(w->w[i], "%4x:%4x%c", &vid, &pid, &tail) != 2)
                return parse_error(ps, w->at[i], "'%s' is not VID:PID in hex, e.g. 1d50:607f", w->w[i]);
            s->any_id = false;
            s->vid = (uint16_t)vid;
            s->pid = (uint16_t)pid;
            i++;
        }
        return parse_within(ps, w, i, s);
    }
    return parse_error(ps, w->at[1], "cannot expect '%s' (led, reset or usb)", what);
}

/* A path in a script is relative to the script's folder. */
static char *script_relative(const char *script_path, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    const char *slash = strrchr(script_path, '/');
    size_t dirlen = slash ? (size_t)(slash - script_path) : 1;
    const char *dir = slash ? script_path : ".";
    size_t n = dirlen + 1 + strlen(p) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s/%s", (int)dirlen, dir, p);
    return out;
}

/* sh -c "cd 'DIR' && CMD": the command runs in the script's folder. */
static char *command_in_folder(const char *script_path, const char *cmd)
{
    char *dir = script_relative(script_path, ".");
    if (!dir)
        return NULL;
    size_t n = strlen(cmd) + 4 * strlen(dir) + 16;
    char *out = malloc(n);
    if (out) {
        char *o = out;
        o += sprintf(o, "cd '");
        for (const char *d = dir; *d; d++)
            o += *d == '\'' ? sprintf(o, "'\\''") : sprintf(o, "%c", *d);
        sprintf(o, "' && %s", cmd);
    }
    free(dir);
    return out;
}

static int parse_line(struct script_steps *sc, struct parser *ps, struct step *s, bool *setup_done, char *err,
                      size_t errlen)
{
    size_t len = content_length(ps->text);
    struct words w;
    split(ps->text, len, &w);
    if (w.n == 0)
        return 0; /* blank or comment */
    memset(s, 0, sizeof *s);
    s->line = ps->line;
    const char *verb = w.w[0];
    if (strcmp(verb, "wifi-profiles") == 0) {
        char *end;
        long n = w.n > 1 ? strtol(w.w[1], &end, 10) : -1;
        if (w.n < 2 || *end || n < 0 || n > 7)
            return parse_error(ps, w.n > 1 ? w.at[1] : ps->text + len, "expected a number of profiles, 0 to 7");
        if (w.n > 2)
            return parse_error(ps, w.at[2], "unexpected '%s'", w.w[2]);
        if (*setup_done)
            return parse_error(ps, w.at[0], "wifi-profiles is the CC3000's state at power-on: put it before the "
                                            "first step");
        sc->wifi_profiles = (int)n;
        return 0;
    }
    *setup_done = true;
    if (strcmp(verb, "wait") == 0) {
        s->kind = STEP_WAIT;
        if (parse_time(ps, &w, 1, &s->duration, false))
            return -1;
        if (w.n > 2)
            return parse_error(ps, w.at[2], "unexpected '%s'", w.w[2]);
    } else if (strcmp(verb, "press") == 0 || strcmp(verb, "hold") == 0) {
        s->kind = STEP_HOLD;
        if (parse_button(ps, &w, 1, &s->button))
            return -1;
        s->duration = TAP_HOLD;
        if (verb[0] == 'h' || w.n > 2) {
            if (parse_time(ps, &w, 2, &s->duration, true))
                return -1;
        }
        if (w.n > 3)
            return parse_error(ps, w.at[3], "unexpected '%s'", w.w[3]);
    } else if (strcmp(verb, "expect") == 0) {
        if (parse_expect(ps, &w, s))
            return -1;
        if (s->kind == STEP_EXPECT_USB)
            sc->uses_usb = true;
    } else if (strcmp(verb, "run") == 0) {
        s->kind = STEP_RUN;
        if (w.n < 2)
            return parse_error(ps, ps->text + len, "expected a command to run");
        char cmd[SCRIPT_MAX_LINE];
        snprintf(cmd, sizeof cmd, "%.*s", (int)(ps->text + len - w.at[1]), w.at[1]);
        s->arg = command_in_folder(ps->path, cmd);
        sc->uses_usb = sc->runs_programs = true;
    } else if (strcmp(verb, "screenshot") == 0) {
        s->kind = STEP_SCREENSHOT;
        if (w.n != 2)
            return parse_error(ps, w.n < 2 ? ps->text + len : w.at[2], "expected one file name, e.g. screenshot "
                                                                       "board.png");
        s->arg = script_relative(ps->path, w.w[1]);
    } else if (strcmp(verb, "snapshot") == 0) {
        s->kind = STEP_SNAPSHOT;
        if (w.n >= 2 && strcmp(w.w[1], "load") == 0)
            return parse_error(ps, w.at[1], "snapshot load: a scenario starts from a snapshot with --snapshot-load "
                                            "FILE on the command line");
        if (w.n < 2 || strcmp(w.w[1], "save") != 0)
            return parse_error(ps, w.n < 2 ? ps->text + len : w.at[1], "expected 'snapshot save FILE'");
        if (w.n != 3)
            return parse_error(ps, w.n < 3 ? ps->text + len : w.at[3], "expected one file name, e.g. snapshot save "
                                                                       "before.snap");
        s->arg = script_relative(ps->path, w.w[2]);
    } else {
        return parse_error(ps, w.at[0], "unknown step '%s' (wifi-profiles, wait, press, hold, expect, run, "
                                        "screenshot, snapshot)", verb);
    }
    s->text = strndup(ps->text + (w.at[0] - ps->text), (size_t)(ps->text + len - w.at[0]));
    if (!s->text || ((s->kind == STEP_RUN || s->kind == STEP_SCREENSHOT || s->kind == STEP_SNAPSHOT) && !s->arg)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}

int script_parse_stream(struct script_steps *sc, const char *path, FILE *f, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    sc->wifi_profiles = -1;
    char line[SCRIPT_MAX_LINE];
    struct parser ps = {path, 0, line, err, errlen};
    bool setup_done = false;
    int cap = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        ps.line++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = parse_error(&ps, line, "line longer than %d characters", SCRIPT_MAX_LINE - 2);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (sc->nsteps == cap) {
            cap = cap ? 2 * cap : 16;
            struct step *more = realloc(sc->steps, (size_t)cap * sizeof *more);
            if (!more) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            sc->steps = more;
        }
        int r = parse_line(sc, &ps, &sc->steps[sc->nsteps], &setup_done, err, errlen);
        if (r < 0) {
            rc = -1;
            break;
        }
        sc->nsteps += r;
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "--script %s: cannot read: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc)
        script_steps_free(sc);
    return rc;
}

/* ---- running ---- */

void script_steps_free(struct script_steps *sc)
{
    for (int i = 0; i < sc->nsteps; i++) {
        free(sc->steps[i].text);
        free(sc->steps[i].arg);
    }
    free(sc->steps);
    sc->steps = NULL;
    sc->nsteps = 0;
}
