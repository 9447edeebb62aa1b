/*
 * window.c - the desktop view of the emulated Spark Core: a drawing of the
 * board whose RGB LED, user LED D7, MODE/RST buttons and USB cable follow the
 * emulator's latest snapshot, a status line, and the mouse/keyboard input that
 * presses the buttons. Also the panel mailbox the two threads share.
 *
 * Design decision: everything is drawn by one function, draw_panel(), onto any
 * SDL_Renderer, in the coordinates of a 640x360 canvas that the painter
 * scales to the output's pixels (resized windows, HiDPI), with the software
 * renderer and SDL2_ttf text. The window and panel_render_png() (an off-screen
 * surface, no display and no SDL_Init needed) therefore produce the same
 * pixels, and screenshots need neither GL nor a real X server (Xvfb is enough).
 */
#include "panel.h"

#include <SDL.h>
#include <SDL_ttf.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the panel mailbox --------------------------------------------------- */

#define MODE_REQUEST_NONE (-1)

void panel_init(struct panel *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    p->mode_request = MODE_REQUEST_NONE;
}

void panel_destroy(struct panel *p)
{
    pthread_mutex_destroy(&p->lock);
}

void panel_publish(struct panel *p, const struct panel_snapshot *s)
{
    pthread_mutex_lock(&p->lock);
    p->snap = *s;
    p->snap.status[sizeof p->snap.status - 1] = '\0';
    pthread_mutex_unlock(&p->lock);
}

struct panel_snapshot panel_read(struct panel *p)
{
    pthread_mutex_lock(&p->lock);
    struct panel_snapshot s = p->snap;
    pthread_mutex_unlock(&p->lock);
    return s;
}

/* ---- geometry ------------------------------------------------------------ */

#define CANVAS_WIDTH 640
#define CANVAS_HEIGHT 360
#define PANEL_MAX_SIDE 8192
#define STATUS_BAR_HEIGHT 30
#define STATUS_BAR_Y (CANVAS_HEIGHT - STATUS_BAR_HEIGHT)

/* The board is drawn to scale: 37 x 21 mm at 12 px/mm, USB end on the left. */
#define PX_PER_MM 12
#define BOARD_W (37 * PX_PER_MM)
#define BOARD_H (21 * PX_PER_MM)
#define BOARD_X 140
#define BOARD_Y ((STATUS_BAR_Y - BOARD_H) / 2)
#define BOARD_CX (BOARD_X + BOARD_W / 2)
#define BOARD_CY (BOARD_Y + BOARD_H / 2)
#define BOARD_CORNER 10

/* Two rows of 12 pins at 0.1 inch pitch, 0.7 inch apart, centred on the board. */
#define PINS_PER_ROW 12
#define PIN_PITCH_UM 2540
#define PIN_ROW_SPACING_UM 17780
#define UM_TO_PX(um) (((um) * PX_PER_MM + 500) / 1000)
#define PIN_ROW_TOP_Y (BOARD_CY - UM_TO_PX(PIN_ROW_SPACING_UM / 2))
#define PIN_ROW_BOTTOM_Y (BOARD_CY + UM_TO_PX(PIN_ROW_SPACING_UM / 2))
#define PIN_PAD_RADIUS 11
#define PIN_HOLE_RADIUS 6
#define PIN_FRAME_INSET 3 /* silkscreen frame around a header row */
#define PIN_LABEL_GAP 4

/* Header rows, counted from the USB end. */
static const char *const PIN_NAMES_TOP[PINS_PER_ROW] = {
    "3V3", "RST", "3V3*", "GND", "D7", "D6", "D5", "D4", "D3", "D2", "D1", "D0",
};
static const char *const PIN_NAMES_BOTTOM[PINS_PER_ROW] = {
    "VIN", "GND", "TX", "RX", "A7", "A6", "A5", "A4", "A3", "A2", "A1", "A0",
};
#define PIN_D7_INDEX 4

/* Micro-B receptacle overhanging the USB end, and the plug when attached. */
#define USB_W 60
#define USB_H 90
#define USB_OVERHANG 12
#define USB_X (BOARD_X - USB_OVERHANG)
#define USB_Y (BOARD_CY - USB_H / 2)
#define PLUG_W 72
#define PLUG_H 108
#define CABLE_H 34

/* STM32F103CB (LQFP48) between the USB connector and the LED. */
#define MCU_SIZE 76
#define MCU_X 222
#define MCU_Y (BOARD_CY - MCU_SIZE / 2)
#define MCU_LEADS_PER_SIDE 12
#define MCU_LEAD_PITCH 6
#define MCU_LEAD_LENGTH 5
#define MCU_LEAD_WIDTH 3

/* SST25VF016B (SOIC-8) above the MCU. */
#define FLASH_W 46
#define FLASH_H 22
#define FLASH_X (MCU_X + (MCU_SIZE - FLASH_W) / 2)
#define FLASH_Y 96
#define FLASH_LEADS_PER_SIDE 4
#define FLASH_LEAD_PITCH 10

/* The RGB LED in the middle of the board; its centre is the pixel tests read. */
#define LED_CX BOARD_CX
#define LED_CY BOARD_CY
#define LED_PACKAGE 44
#define LED_LENS_RADIUS 17
#define LED_HIGHLIGHT_OFFSET 7
#define LED_HIGHLIGHT_RADIUS 3
#define GLOW_RADIUS 76

/* MODE and RST: tactile switches either side of the LED, across the board. */
#define BUTTON_W 52
#define BUTTON_H 36
#define BUTTON_ACTUATOR_RADIUS 11
#define BUTTON_GAP 12
#define BUTTON_X (LED_CX - BUTTON_W / 2)
#define RST_BUTTON_Y (LED_CY - LED_PACKAGE / 2 - BUTTON_GAP - BUTTON_H)
#define MODE_BUTTON_Y (LED_CY + LED_PACKAGE / 2 + BUTTON_GAP)
#define BUTTON_LABEL_X (BUTTON_X + BUTTON_W + 8)
#define BUTTON_LABEL_W 60 /* the label answers to clicks too */

/* User LED D7 (0603) next to its pin. */
#define USER_LED_W 18
#define USER_LED_H 10
#define USER_LED_GLOW_RADIUS 26
#define USER_LED_BELOW_LABEL 12

/* CC3000 module can at the far end. */
#define CC3000_X 462
#define CC3000_Y 94
#define CC3000_W 110
#define CC3000_H 142

#define TITLE_X 12
#define TITLE_Y 12
#define HINT_Y 15
#define MARGIN 12
#define STATUS_GAP 18
#define SWATCH 12
#define SWATCH_GAP 8

/* ---- colours ------------------------------------------------------------- */

struct rgb {
    uint8_t r, g, b;
};

static const struct rgb COLOUR_DESK = {40, 46, 56};
static const struct rgb COLOUR_BOARD = {24, 25, 30};
static const struct rgb COLOUR_BOARD_EDGE = {78, 80, 90};
static const struct rgb COLOUR_SILKSCREEN = {226, 226, 222};
static const struct rgb COLOUR_PAD = {206, 168, 84};
static const struct rgb COLOUR_HOLE = {12, 12, 14};
static const struct rgb COLOUR_METAL = {176, 178, 186};
static const struct rgb COLOUR_METAL_DARK = {120, 122, 130};
static const struct rgb COLOUR_CHIP = {34, 34, 38};
static const struct rgb COLOUR_CHIP_TEXT = {150, 150, 156};
static const struct rgb COLOUR_LEAD = {190, 190, 196};
static const struct rgb COLOUR_PLUG = {30, 30, 34};
static const struct rgb COLOUR_CABLE = {16, 16, 18};
static const struct rgb COLOUR_CABLE_SHINE = {70, 70, 78};
static const struct rgb COLOUR_USB_ON = {70, 220, 100};
static const struct rgb COLOUR_USB_OFF = {90, 90, 96};
static const struct rgb COLOUR_USB_DFU = {250, 200, 60};
static const struct rgb COLOUR_USB_WAITING = {170, 170, 178};
static const struct rgb COLOUR_METER = {60, 64, 74};
static const struct rgb COLOUR_METER_MARK = {245, 245, 250};
static const struct rgb COLOUR_LED_PACKAGE = {232, 232, 226};
static const struct rgb COLOUR_LED_OFF = {64, 64, 64};
static const struct rgb COLOUR_USER_LED_OFF = {214, 206, 170};
static const struct rgb COLOUR_USER_LED_ON = {40, 130, 255};
static const struct rgb COLOUR_ACTUATOR = {44, 44, 48};
static const struct rgb COLOUR_ACTUATOR_RIM = {96, 96, 104};
static const struct rgb COLOUR_ACTUATOR_PRESSED = {18, 18, 20};
static const struct rgb COLOUR_PRESSED = {255, 186, 60};
static const struct rgb COLOUR_TEXT = {232, 234, 240};
static const struct rgb COLOUR_TEXT_DIM = {140, 146, 158};
static const struct rgb COLOUR_STATUS_BAR = {14, 16, 20};
static const struct rgb COLOUR_STATUS_EDGE = {66, 70, 80};
static const struct rgb COLOUR_STATUS_STOPPED = {255, 170, 70};
static const struct rgb COLOUR_WHITE = {255, 255, 255};

#define GLOW_PEAK_ALPHA 235
#define USER_LED_GLOW_ALPHA 210
#define HIGHLIGHT_ALPHA 110

/* ---- text ---------------------------------------------------------------- */

/*
 * Text is DejaVu Sans through SDL2_ttf, rendered at the physical pixel size,
 * so it stays sharp at any window size and on HiDPI screens. SPARK_EMU_FONT
 * names another TrueType file. Sizes are em heights in canvas pixels.
 */
#define FONT_DEFAULT_PATH "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define TEXT_SMALL 10
#define TEXT_MEDIUM 14
#define TEXT_LARGE 18
#define FONT_CACHE 6
#define TEXT_CACHE 96
#define TEXT_CACHE_MAX_CHARS 95

struct font_slot {
    int px;
    TTF_Font *font;
    int cap_offset; /* from the top of a line to the top of a capital */
};

struct text_slot {
    char text[TEXT_CACHE_MAX_CHARS + 1];
    int px;
    struct rgb colour;
    SDL_Texture *tex;
    int w, h, cap_offset;
    uint64_t used;
};

/* ---- drawing primitives --------------------------------------------------- */

/*
 * Everything is drawn in canvas coordinates (640 x 360); the painter maps
 * them to the output's pixels: scale and a centring offset (letterboxing).
 * At scale 1 a canvas pixel is an output pixel, as headless screenshots are.
 */
struct painter {
    SDL_Renderer *r;
    SDL_Texture *glow; /* white disc, alpha falling off to the rim; tinted per LED */
    double scale;
    int ox, oy;
    bool ttf;          /* TTF_Init succeeded */
    bool font_failed;  /* the font could not be opened: text is left out */
    const char *font_path;
    struct font_slot fonts[FONT_CACHE];
    struct text_slot texts[TEXT_CACHE];
    uint64_t clock;
};

/* What the user is doing with the buttons right now (not yet seen by the board). */
struct panel_controls {
    bool mode_held;
    bool reset_held;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int px_x(const struct painter *p, double x)
{
    return p->ox + (int)lround(x * p->scale);
}

static int px_y(const struct painter *p, double y)
{
    return p->oy + (int)lround(y * p->scale);
}

static SDL_Rect px_rect(const struct painter *p, double x, double y, double w, double h)
{
    int x0 = px_x(p, x), y0 = px_y(p, y);
    SDL_Rect r = {x0, y0, px_x(p, x + w) - x0, px_y(p, y + h) - y0};
    if (r.w < 1 && w > 0)
        r.w = 1;
    if (r.h < 1 && h > 0)
        r.h = 1;
    return r;
}

static void use_colour(SDL_Renderer *r, struct rgb c)
{
    SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_NONE);
    SDL_SetRenderDrawColor(r, c.r, c.g, c.b, SDL_ALPHA_OPAQUE);
}

static void fill_rect(const struct painter *p, double x, double y, double w, double h, struct rgb c)
{
    SDL_Rect rect = px_rect(p, x, y, w, h);
    use_colour(p->r, c);
    SDL_RenderFillRect(p->r, &rect);
}

/* A one-canvas-pixel frame, as thick as a canvas pixel is on the output. */
static void outline_rect(const struct painter *p, double x, double y, double w, double h, struct rgb c)
{
    fill_rect(p, x, y, w, 1, c);
    fill_rect(p, x, y + h - 1, w, 1, c);
    fill_rect(p, x, y, 1, h, c);
    fill_rect(p, x + w - 1, y, 1, h, c);
}

/*
 * Filled circle as horizontal spans of output pixels around the centre of
 * canvas pixel (cx, cy); at scale 1 that pixel is always inside.
 */
static void fill_circle(const struct painter *p, double cx, double cy, double radius)
{
    double s = p->scale;
    double pcx = p->ox + cx * s + (s - 1) / 2, pcy = p->oy + cy * s + (s - 1) / 2, pr = radius * s;
    for (int y = (int)ceil(pcy - pr); y <= (int)floor(pcy + pr); y++) {
        double dy = y - pcy;
        double half = sqrt(pr * pr - dy * dy);
        int x0 = (int)ceil(pcx - half - 1e-9), x1 = (int)floor(pcx + half + 1e-9);
        if (x1 < x0)
            continue;
        SDL_Rect span = {x0, y, x1 - x0 + 1, 1};
        SDL_RenderFillRect(p->r, &span);
    }
}

static void fill_circle_colour(const struct painter *p, double cx, double cy, double radius, struct rgb c)
{
    use_colour(p->r, c);
    fill_circle(p, cx, cy, radius);
}

static void fill_round_rect(const struct painter *p, double x, double y, double w, double h, double radius,
                            struct rgb c)
{
    SDL_Rect box = px_rect(p, x, y, w, h);
    int pr = (int)lround(radius * p->scale);
    use_colour(p->r, c);
    for (int row = 0; row < box.h; row++) {
        int inset = 0;
        int from_edge = row < pr ? pr - row : row >= box.h - pr ? row - (box.h - pr - 1) : 0;
        if (from_edge > 0)
            inset = pr - (int)floor(sqrt((double)(pr * pr - from_edge * from_edge)));
        SDL_Rect span = {box.x + inset, box.y + row, box.w - 2 * inset, 1};
        SDL_RenderFillRect(p->r, &span);
    }
}

static struct font_slot *font_at(struct painter *p, int px)
{
    if (!p->ttf || p->font_failed)
        return NULL;
    for (int i = 0; i < FONT_CACHE; i++)
        if (p->fonts[i].font && p->fonts[i].px == px)
            return &p->fonts[i];
    /* a new size (the window was resized): the first free slot, or the oldest font makes room */
    int slot = 0;
    while (slot < FONT_CACHE && p->fonts[slot].font)
        slot++;
    if (slot == FONT_CACHE) {
        TTF_CloseFont(p->fonts[0].font);
        memmove(p->fonts, p->fonts + 1, sizeof p->fonts[0] * (FONT_CACHE - 1));
        slot = FONT_CACHE - 1;
        p->fonts[slot].font = NULL;
    }
    TTF_Font *f = TTF_OpenFont(p->font_path, px);
    if (!f) {
        fprintf(stderr, "spark-emu: window: cannot open the font %s (%s): drawing without text\n", p->font_path,
                TTF_GetError());
        p->font_failed = true;
        return NULL;
    }
    TTF_SetFontHinting(f, TTF_HINTING_LIGHT);
    int miny, maxy;
    int cap = TTF_GlyphMetrics32(f, 'H', NULL, NULL, &miny, &maxy, NULL) == 0 ? maxy : px * 3 / 4;
    p->fonts[slot] = (struct font_slot){px, f, TTF_FontAscent(f) - cap};
    return &p->fonts[slot];
}

static int text_px(const struct painter *p, int size)
{
    int px = (int)lround(size * p->scale);
    return px < 6 ? 6 : px;
}

/* The rendered text, from the cache or made now; NULL without a font. */
static struct text_slot *text_texture(struct painter *p, int size, struct rgb c, const char *s)
{
    int px = text_px(p, size);
    bool cacheable = strlen(s) <= TEXT_CACHE_MAX_CHARS;
    struct text_slot *oldest = &p->texts[0];
    for (int i = 0; cacheable && i < TEXT_CACHE; i++) {
        struct text_slot *t = &p->texts[i];
        if (t->tex && t->px == px && t->colour.r == c.r && t->colour.g == c.g && t->colour.b == c.b &&
            strcmp(t->text, s) == 0) {
            t->used = ++p->clock;
            return t;
        }
        if (!t->tex || (oldest->tex && t->used < oldest->used))
            oldest = t;
    }
    struct font_slot *f = font_at(p, px);
    if (!f || !*s)
        return NULL;
    SDL_Color colour = {c.r, c.g, c.b, SDL_ALPHA_OPAQUE};
    SDL_Surface *surface = TTF_RenderUTF8_Blended(f->font, s, colour);
    if (!surface)
        return NULL;
    SDL_Texture *tex = SDL_CreateTextureFromSurface(p->r, surface);
    int w = surface->w, h = surface->h;
    SDL_FreeSurface(surface);
    if (!tex)
        return NULL;
    SDL_SetTextureBlendMode(tex, SDL_BLENDMODE_BLEND);
    if (oldest->tex)
        SDL_DestroyTexture(oldest->tex);
    snprintf(oldest->text, sizeof oldest->text, "%s", cacheable ? s : "");
    oldest->px = px;
    oldest->colour = c;
    oldest->tex = tex;
    oldest->w = w;
    oldest->h = h;
    oldest->cap_offset = f->cap_offset;
    oldest->used = ++p->clock;
    if (!cacheable)
        oldest->px = -1; /* never matches: used once */
    return oldest;
}

/* Width of s in canvas pixels. */
static double text_width(struct painter *p, const char *s, int size)
{
    struct font_slot *f = font_at(p, text_px(p, size));
    int w = 0;
    if (!f || !*s || TTF_SizeUTF8(f->font, s, &w, NULL) != 0)
        return 0;
    return w / p->scale;
}

/* Draws s with the top of its capitals at canvas (x, y); returns the x after it. */
static double draw_text(struct painter *p, double x, double y, int size, struct rgb c, const char *s)
{
    struct text_slot *t = text_texture(p, size, c, s);
    if (!t)
        return x;
    SDL_Rect dst = {px_x(p, x), px_y(p, y) - t->cap_offset, t->w, t->h};
    SDL_RenderCopy(p->r, t->tex, NULL, &dst);
    return x + t->w / p->scale;
}

static void draw_text_centred(struct painter *p, double cx, double y, int size, struct rgb c, const char *s)
{
    draw_text(p, cx - text_width(p, s, size) / 2, y, size, c, s);
}

/* Height of a capital in canvas pixels, for centring text vertically. */
static double cap_height(int size)
{
    return size * 0.73; /* DejaVu Sans: 1493 / 2048 of the em */
}

/* Additive light centred on (cx, cy): strength follows the colour's own brightness. */
static void draw_glow(const struct painter *p, double cx, double cy, double radius, struct rgb c, uint8_t alpha)
{
    if (!p->glow || (c.r | c.g | c.b) == 0)
        return;
    double s = p->scale;
    int pcx = (int)lround(p->ox + cx * s + s / 2), pcy = (int)lround(p->oy + cy * s + s / 2);
    int pr = (int)lround(radius * s);
    SDL_Rect dst = {pcx - pr, pcy - pr, 2 * pr, 2 * pr};
    SDL_SetTextureColorMod(p->glow, c.r, c.g, c.b);
    SDL_SetTextureAlphaMod(p->glow, alpha);
    SDL_RenderCopy(p->r, p->glow, NULL, &dst);
}

#define GLOW_TEXTURE_SIZE (2 * GLOW_RADIUS)

static int painter_init(struct painter *pt, SDL_Renderer *r, char *err, size_t errlen)
{
    memset(pt, 0, sizeof *pt);
    pt->r = r;
    pt->scale = 1.0;
    const char *font = getenv("SPARK_EMU_FONT");
    pt->font_path = font && *font ? font : FONT_DEFAULT_PATH;
    if (TTF_Init() == 0) {
        pt->ttf = true;
    } else {
        fprintf(stderr, "spark-emu: window: SDL2_ttf does not start (%s): drawing without text\n", TTF_GetError());
    }
    pt->glow = SDL_CreateTexture(r, SDL_PIXELFORMAT_ARGB8888, SDL_TEXTUREACCESS_STATIC, GLOW_TEXTURE_SIZE,
                                 GLOW_TEXTURE_SIZE);
    if (!pt->glow) {
        set_err(err, errlen, "panel: cannot create the LED glow texture: %s", SDL_GetError());
        return -1;
    }
    uint32_t *pixels = malloc(sizeof *pixels * GLOW_TEXTURE_SIZE * GLOW_TEXTURE_SIZE);
    if (!pixels) {
        set_err(err, errlen, "panel: out of memory for the LED glow texture");
        return -1;
    }
    /* alpha = (1 - d^2/R^2)^2: bright near the lens, no visible edge at the rim */
    const int64_t r2 = (int64_t)GLOW_RADIUS * GLOW_RADIUS;
    for (int y = 0; y < GLOW_TEXTURE_SIZE; y++) {
        for (int x = 0; x < GLOW_TEXTURE_SIZE; x++) {
            int64_t dx = 2 * x + 1 - GLOW_TEXTURE_SIZE, dy = 2 * y + 1 - GLOW_TEXTURE_SIZE;
            int64_t d2 = (dx * dx + dy * dy) / 4;
            int64_t rest = d2 < r2 ? r2 - d2 : 0;
            uint32_t alpha = (uint32_t)(255 * rest * rest / (r2 * r2));
            pixels[y * GLOW_TEXTURE_SIZE + x] = alpha << 24 | 0x00ffffffu;
        }
    }
    SDL_UpdateTexture(pt->glow, NULL, pixels, GLOW_TEXTURE_SIZE * (int)sizeof *pixels);
    free(pixels);
    SDL_SetTextureBlendMode(pt->glow, SDL_BLENDMODE_ADD);
    return 0;
}

static void painter_destroy(struct painter *pt)
{
    for (int i = 0; i < TEXT_CACHE; i++)
        if (pt->texts[i].tex)
            SDL_DestroyTexture(pt->texts[i].tex);
    for (int i = 0; i < FONT_CACHE; i++)
        if (pt->fonts[i].font)
            TTF_CloseFont(pt->fonts[i].font);
    memset(pt->texts, 0, sizeof pt->texts);
    memset(pt->fonts, 0, sizeof pt->fonts);
    if (pt->glow)
        SDL_DestroyTexture(pt->glow);
    pt->glow = NULL;
    if (pt->ttf)
        TTF_Quit();
    pt->ttf = false;
}

/* Fit the canvas into an output of w x h pixels, centred. */
static void painter_fit(struct painter *p, int w, int h)
{
    double sx = (double)w / CANVAS_WIDTH, sy = (double)h / CANVAS_HEIGHT;
    p->scale = sx < sy ? sx : sy;
    if (p->scale <= 0)
        p->scale = 1;
    p->ox = (int)lround((w - CANVAS_WIDTH * p->scale) / 2);
    p->oy = (int)lround((h - CANVAS_HEIGHT * p->scale) / 2);
}

/* ---- the board ------------------------------------------------------------ */

static int pin_x(int index)
{
    /* centres at (2i - 11) half-pitches from the middle of the board */
    return BOARD_CX + UM_TO_PX((2 * index - (PINS_PER_ROW - 1)) * PIN_PITCH_UM / 2);
}

static void draw_header_row(struct painter *p, int row_y, const char *const names[PINS_PER_ROW], bool labels_below)
{
    int frame = PIN_PAD_RADIUS + PIN_FRAME_INSET;
    int left = pin_x(0) - frame, right = pin_x(PINS_PER_ROW - 1) + frame;
    outline_rect(p, left, row_y - frame, right - left + 1, 2 * frame + 1, COLOUR_SILKSCREEN);
    for (int i = 0; i < PINS_PER_ROW; i++) {
        int x = pin_x(i);
        fill_circle_colour(p, x, row_y, PIN_PAD_RADIUS, COLOUR_PAD);
        fill_circle_colour(p, x, row_y, PIN_HOLE_RADIUS, COLOUR_HOLE);
        double label_y = labels_below ? row_y + frame + PIN_LABEL_GAP
                                      : row_y - frame - PIN_LABEL_GAP - cap_height(TEXT_SMALL);
        draw_text_centred(p, x + 0.5, label_y, TEXT_SMALL, COLOUR_SILKSCREEN, names[i]);
    }
}

/* Under the board: the plug and its cable, when a host is attached. */
static void draw_usb_cable(struct painter *p)
{
    int plug_x = USB_X - PLUG_W;
    fill_rect(p, 0, BOARD_CY - CABLE_H / 2, plug_x + 4, CABLE_H, COLOUR_CABLE);
    fill_rect(p, 0, BOARD_CY - CABLE_H / 2 + 6, plug_x + 4, 3, COLOUR_CABLE_SHINE);
    fill_round_rect(p, plug_x, BOARD_CY - PLUG_H / 2, PLUG_W + 6, PLUG_H, 8, COLOUR_PLUG);
    fill_rect(p, plug_x + 10, BOARD_CY - PLUG_H / 2 + 8, 3, PLUG_H - 16, COLOUR_CABLE_SHINE);
}

/* What the connector says: detached, or what the host enumerated (the Core's DFU or serial IDs). */
static void usb_label(const struct panel_snapshot *s, char *buf, size_t len, struct rgb *colour)
{
    switch (s->usb) {
    case PANEL_USB_DETACHED:
        snprintf(buf, len, "USB detached");
        *colour = COLOUR_SILKSCREEN;
        break;
    case PANEL_USB_UNENUMERATED:
        snprintf(buf, len, "USB: no host");
        *colour = COLOUR_USB_WAITING;
        break;
    case PANEL_USB_DFU:
        snprintf(buf, len, "USB DFU %04x:%04x", s->usb_vid, s->usb_pid);
        *colour = COLOUR_USB_DFU;
        break;
    case PANEL_USB_SERIAL:
        snprintf(buf, len, "USB serial %04x:%04x", s->usb_vid, s->usb_pid);
        *colour = COLOUR_USB_ON;
        break;
    default:
        snprintf(buf, len, "USB %04x:%04x", s->usb_vid, s->usb_pid);
        *colour = COLOUR_USB_ON;
        break;
    }
}

/* On top of the board edge: the receptacle, and an indicator beside it. */
static void draw_usb_receptacle(struct painter *p, const struct panel_snapshot *s)
{
    bool attached = s->usb != PANEL_USB_DETACHED;
    fill_round_rect(p, USB_X, USB_Y, USB_W, USB_H, 3, COLOUR_METAL);
    outline_rect(p, USB_X + 4, USB_Y + 4, USB_W - 8, USB_H - 8, COLOUR_METAL_DARK);
    /* solder tabs either side of the shell */
    fill_rect(p, USB_X + USB_W - 24, USB_Y - 6, 16, 6, COLOUR_METAL_DARK);
    fill_rect(p, USB_X + USB_W - 24, USB_Y + USB_H, 16, 6, COLOUR_METAL_DARK);
    if (!attached)
        fill_rect(p, USB_X, USB_Y + 14, 6, USB_H - 28, COLOUR_HOLE);

    char label[40];
    struct rgb colour;
    usb_label(s, label, sizeof label, &colour);
    int label_y = USB_Y + USB_H + 12;
    fill_circle_colour(p, BOARD_X + 12, label_y + 3, 4, attached ? colour : COLOUR_USB_OFF);
    draw_text(p, BOARD_X + 20, label_y, TEXT_SMALL, colour, label);
}

static void draw_mcu(struct painter *p)
{
    int span = (MCU_LEADS_PER_SIDE - 1) * MCU_LEAD_PITCH;
    int first = (MCU_SIZE - span) / 2;
    for (int i = 0; i < MCU_LEADS_PER_SIDE; i++) {
        int along = first + i * MCU_LEAD_PITCH - MCU_LEAD_WIDTH / 2;
        fill_rect(p, MCU_X + along, MCU_Y - MCU_LEAD_LENGTH, MCU_LEAD_WIDTH, MCU_LEAD_LENGTH, COLOUR_LEAD);
        fill_rect(p, MCU_X + along, MCU_Y + MCU_SIZE, MCU_LEAD_WIDTH, MCU_LEAD_LENGTH, COLOUR_LEAD);
        fill_rect(p, MCU_X - MCU_LEAD_LENGTH, MCU_Y + along, MCU_LEAD_LENGTH, MCU_LEAD_WIDTH, COLOUR_LEAD);
        fill_rect(p, MCU_X + MCU_SIZE, MCU_Y + along, MCU_LEAD_LENGTH, MCU_LEAD_WIDTH, COLOUR_LEAD);
    }
    fill_rect(p, MCU_X, MCU_Y, MCU_SIZE, MCU_SIZE, COLOUR_CHIP);
    fill_circle_colour(p, MCU_X + 8, MCU_Y + 8, 3, COLOUR_BOARD); /* pin-1 dimple */
    draw_text_centred(p, MCU_X + MCU_SIZE / 2, MCU_Y + MCU_SIZE / 2 - 12, TEXT_SMALL, COLOUR_CHIP_TEXT, "STM32");
    draw_text_centred(p, MCU_X + MCU_SIZE / 2, MCU_Y + MCU_SIZE / 2 + 2, TEXT_SMALL, COLOUR_CHIP_TEXT, "F103CB");
}

static void draw_flash(struct painter *p)
{
    int span = (FLASH_LEADS_PER_SIDE - 1) * FLASH_LEAD_PITCH;
    int first = FLASH_X + (FLASH_W - span) / 2 - 1;
    for (int i = 0; i < FLASH_LEADS_PER_SIDE; i++) {
        fill_rect(p, first + i * FLASH_LEAD_PITCH, FLASH_Y - 4, 3, 4, COLOUR_LEAD);
        fill_rect(p, first + i * FLASH_LEAD_PITCH, FLASH_Y + FLASH_H, 3, 4, COLOUR_LEAD);
    }
    fill_rect(p, FLASH_X, FLASH_Y, FLASH_W, FLASH_H, COLOUR_CHIP);
    draw_text_centred(p, FLASH_X + FLASH_W / 2, FLASH_Y + (FLASH_H - cap_height(TEXT_SMALL)) / 2, TEXT_SMALL,
                      COLOUR_CHIP_TEXT, "SST25");
}

static void draw_cc3000(struct painter *p)
{
    fill_rect(p, CC3000_X, CC3000_Y, CC3000_W, CC3000_H, COLOUR_METAL_DARK);
    fill_rect(p, CC3000_X + 3, CC3000_Y + 3, CC3000_W - 6, CC3000_H - 6, COLOUR_METAL);
    draw_text_centred(p, CC3000_X + CC3000_W / 2, CC3000_Y + CC3000_H / 2 - 12, TEXT_LARGE, COLOUR_CHIP, "CC3000");
    draw_text_centred(p, CC3000_X + CC3000_W / 2, CC3000_Y + CC3000_H / 2 + 12, TEXT_SMALL, COLOUR_METAL_DARK,
                      "Wi-Fi");
}

static void draw_button(struct painter *p, int y, bool pressed, const char *label)
{
    if (pressed)
        fill_round_rect(p, BUTTON_X - 3, y - 3, BUTTON_W + 6, BUTTON_H + 6, 6, COLOUR_PRESSED);
    fill_round_rect(p, BUTTON_X, y, BUTTON_W, BUTTON_H, 4, COLOUR_METAL);
    outline_rect(p, BUTTON_X + 3, y + 3, BUTTON_W - 6, BUTTON_H - 6, COLOUR_METAL_DARK);
    int cx = BUTTON_X + BUTTON_W / 2, cy = y + BUTTON_H / 2;
    if (pressed) {
        fill_circle_colour(p, cx, cy, BUTTON_ACTUATOR_RADIUS - 2, COLOUR_ACTUATOR_PRESSED);
    } else {
        fill_circle_colour(p, cx, cy, BUTTON_ACTUATOR_RADIUS, COLOUR_ACTUATOR_RIM);
        fill_circle_colour(p, cx, cy + 1, BUTTON_ACTUATOR_RADIUS - 2, COLOUR_ACTUATOR);
    }
    double label_y = cy - cap_height(TEXT_MEDIUM) / 2;
    draw_text(p, BUTTON_LABEL_X, label_y, TEXT_MEDIUM, pressed ? COLOUR_PRESSED : COLOUR_SILKSCREEN, label);
}

/*
 * What the eye sees of a PWM-driven LED is its lightness, not its duty: CIE
 * 1976 L* of the duty taken as relative luminance. Tinker's listening blue at
 * 96/255 (38 %) is L* 68, plainly lit, where a linear mapping drew navy. The
 * lens is then exposed as a photograph of a lit LED would be: L* 80 and above
 * is full brightness, and the glow around it shows the rest. The trace and the
 * status line's numbers stay raw duty.
 */
#define LED_EXPOSURE_LIGHTNESS 80.0
#define CIE_EPSILON (216.0 / 24389.0)
#define CIE_KAPPA (24389.0 / 27.0)

static double cie_lightness(double luminance)
{
    return luminance > CIE_EPSILON ? 116.0 * cbrt(luminance) - 16.0 : CIE_KAPPA * luminance;
}

uint8_t panel_perceived_level(uint8_t duty)
{
    double level = 255.0 * cie_lightness(duty / 255.0) / LED_EXPOSURE_LIGHTNESS;
    return level >= 255.0 ? 255 : (uint8_t)lround(level);
}

static struct rgb led_colour(const struct panel_snapshot *s)
{
    struct rgb c = {panel_perceived_level(s->led[0]), panel_perceived_level(s->led[1]),
                    panel_perceived_level(s->led[2])};
    return c;
}

static void draw_rgb_led(const struct painter *p, const struct panel_snapshot *s)
{
    SDL_Renderer *r = p->r;
    struct rgb c = led_colour(s);
    bool lit = (c.r | c.g | c.b) != 0;
    fill_rect(p, LED_CX - LED_PACKAGE / 2, LED_CY - LED_PACKAGE / 2, LED_PACKAGE, LED_PACKAGE, COLOUR_LED_PACKAGE);
    draw_glow(p, LED_CX, LED_CY, GLOW_RADIUS, c, GLOW_PEAK_ALPHA);
    /* the lens is exactly the perceived colour, so screenshots can be checked */
    fill_circle_colour(p, LED_CX, LED_CY, LED_LENS_RADIUS, lit ? c : COLOUR_LED_OFF);
    SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_BLEND);
    SDL_SetRenderDrawColor(r, COLOUR_WHITE.r, COLOUR_WHITE.g, COLOUR_WHITE.b, HIGHLIGHT_ALPHA);
    fill_circle(p, LED_CX - LED_HIGHLIGHT_OFFSET, LED_CY - LED_HIGHLIGHT_OFFSET, LED_HIGHLIGHT_RADIUS);
}

static void draw_user_led(const struct painter *p, bool lit)
{
    double label_bottom =
        PIN_ROW_TOP_Y + PIN_PAD_RADIUS + PIN_FRAME_INSET + PIN_LABEL_GAP + cap_height(TEXT_SMALL);
    int cx = pin_x(PIN_D7_INDEX), cy = (int)label_bottom + USER_LED_BELOW_LABEL;
    fill_rect(p, cx - USER_LED_W / 2, cy - USER_LED_H / 2, USER_LED_W, USER_LED_H,
              lit ? COLOUR_USER_LED_ON : COLOUR_USER_LED_OFF);
    if (lit)
        draw_glow(p, cx, cy, USER_LED_GLOW_RADIUS, COLOUR_USER_LED_ON, USER_LED_GLOW_ALPHA);
}

/*
 * How long MODE has been held, under the board, with the marks that matter:
 * 3 s (the bootloader's DFU mode; the firmware's listening mode) and 10 s
 * (factory reset; the firmware clears its WiFi credentials).
 */
#define METER_X BOARD_X
#define METER_W BOARD_W
#define METER_Y (BOARD_Y + BOARD_H + 10)
#define METER_H 8
#define METER_FULL_US 12000000u
static void draw_hold_meter(struct painter *p, const struct panel_snapshot *s)
{
    if (!s->mode_pressed)
        return;
    uint64_t held = s->mode_held_us < METER_FULL_US ? s->mode_held_us : METER_FULL_US;
    char text[32];
    snprintf(text, sizeof text, "MODE %.1f s", s->mode_held_us / 1e6);
    draw_text(p, MARGIN, METER_Y, TEXT_SMALL, COLOUR_PRESSED, text);
    fill_rect(p, METER_X, METER_Y, METER_W, METER_H, COLOUR_METER);
    fill_rect(p, METER_X, METER_Y, (double)METER_W * (double)held / METER_FULL_US, METER_H, COLOUR_PRESSED);
    static const struct {
        uint64_t at_us;
        const char *label;
    } marks[] = {{3000000u, "3 s"}, {10000000u, "10 s"}};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        double x = METER_X + (double)METER_W * (double)marks[i].at_us / METER_FULL_US;
        bool passed = s->mode_held_us >= marks[i].at_us;
        fill_rect(p, x - 1, METER_Y - 3, 2, METER_H + 6, COLOUR_METER_MARK);
        draw_text(p, x + 4, METER_Y + METER_H + 3, TEXT_SMALL, passed ? COLOUR_TEXT : COLOUR_TEXT_DIM,
                  marks[i].label);
    }
}

static void format_time(char *buf, size_t len, uint64_t t_us)
{
    snprintf(buf, len, "t = %llu.%03u s", (unsigned long long)(t_us / 1000000u),
             (unsigned)(t_us / 1000u % 1000u));
}

/* One line: time, speed (or paused), the LED (a swatch and its pattern), firmware and reset cause. */
static void draw_status_line(struct painter *p, const struct panel_snapshot *s)
{
    fill_rect(p, 0, STATUS_BAR_Y, CANVAS_WIDTH, STATUS_BAR_HEIGHT, COLOUR_STATUS_BAR);
    fill_rect(p, 0, STATUS_BAR_Y, CANVAS_WIDTH, 1, COLOUR_STATUS_EDGE);

    char time_text[40], speed_text[24], pattern[sizeof s->led_pattern + 4], status[sizeof s->status + 4];
    format_time(time_text, sizeof time_text, s->t_us);
    if (s->paused)
        snprintf(speed_text, sizeof speed_text, "paused");
    else if (s->speed > 0)
        snprintf(speed_text, sizeof speed_text, s->speed < 10 ? "%.2fx" : "%.0fx", s->speed);
    else
        snprintf(speed_text, sizeof speed_text, "-");
    snprintf(pattern, sizeof pattern, "%.*s", (int)sizeof s->led_pattern - 1,
             s->led_pattern[0] ? s->led_pattern : "off");
    snprintf(status, sizeof status, "%.*s", (int)sizeof s->status - 1, s->status);

    /* Medium text when it fits; a long line drops to the small size, and the
     * status is cut with "..." only if even that is too wide. */
    double avail = CANVAS_WIDTH - 2 * MARGIN;
    int size = TEXT_MEDIUM;
    for (;;) {
        double width = text_width(p, time_text, size) + STATUS_GAP + text_width(p, speed_text, size) + STATUS_GAP +
                       SWATCH + SWATCH_GAP + text_width(p, pattern, size) + STATUS_GAP + text_width(p, status, size);
        if (width <= avail)
            break;
        if (size > TEXT_SMALL) {
            size = TEXT_SMALL;
            continue;
        }
        size_t n = strlen(status);
        if (n <= 3)
            break;
        strcpy(status + n - 4, "...");
    }
    double y = STATUS_BAR_Y + (STATUS_BAR_HEIGHT - cap_height(size)) / 2;
    double x = draw_text(p, MARGIN, y, size, COLOUR_TEXT, time_text) + STATUS_GAP;
    x = draw_text(p, x, y, size, s->paused ? COLOUR_STATUS_STOPPED : COLOUR_TEXT_DIM, speed_text) + STATUS_GAP;
    double sy = STATUS_BAR_Y + (STATUS_BAR_HEIGHT - SWATCH) / 2;
    outline_rect(p, x - 1, sy - 1, SWATCH + 2, SWATCH + 2, COLOUR_TEXT_DIM);
    fill_rect(p, x, sy, SWATCH, SWATCH, led_colour(s));
    x = draw_text(p, x + SWATCH + SWATCH_GAP, y, size, COLOUR_TEXT, pattern) + STATUS_GAP;
    draw_text(p, x, y, size, s->running ? COLOUR_TEXT_DIM : COLOUR_STATUS_STOPPED, status);
}

static void draw_panel(struct painter *p, const struct panel_snapshot *s, const struct panel_controls *c)
{
    SDL_Renderer *r = p->r;
    SDL_RenderSetViewport(r, NULL);
    use_colour(r, COLOUR_DESK);
    SDL_RenderClear(r);
    draw_text(p, TITLE_X, TITLE_Y, TEXT_LARGE, COLOUR_TEXT, "Spark Core");
    const char *hint = "MODE: click or M (hold)   RST: click or R   pause: space   screenshot: S   quit: Esc";
    draw_text(p, CANVAS_WIDTH - MARGIN - text_width(p, hint, TEXT_SMALL), HINT_Y, TEXT_SMALL, COLOUR_TEXT_DIM, hint);

    if (s->usb != PANEL_USB_DETACHED)
        draw_usb_cable(p);
    fill_round_rect(p, BOARD_X, BOARD_Y, BOARD_W, BOARD_H, BOARD_CORNER, COLOUR_BOARD_EDGE);
    fill_round_rect(p, BOARD_X + 2, BOARD_Y + 2, BOARD_W - 4, BOARD_H - 4, BOARD_CORNER - 2, COLOUR_BOARD);
    draw_usb_receptacle(p, s);
    draw_header_row(p, PIN_ROW_TOP_Y, PIN_NAMES_TOP, true);
    draw_header_row(p, PIN_ROW_BOTTOM_Y, PIN_NAMES_BOTTOM, false);
    draw_mcu(p);
    draw_flash(p);
    draw_cc3000(p);
    draw_button(p, RST_BUTTON_Y, c->reset_held, "RST");
    draw_button(p, MODE_BUTTON_Y, s->mode_pressed || c->mode_held, "MODE");
    draw_user_led(p, s->user_led);
    draw_rgb_led(p, s);
    draw_hold_meter(p, s);
    draw_status_line(p, s);
}

/* ---- off-screen rendering ------------------------------------------------- */

/* Draws onto a fresh software surface of width x height and reads it back as RGB24 rows. */
static int render_rgb(const struct panel_snapshot *s, int width, int height, uint8_t *rgb, char *err, size_t errlen)
{
    int rc = -1;
    SDL_Renderer *r = NULL;
    struct painter pt = {0};
    SDL_Surface *surface = SDL_CreateRGBSurfaceWithFormat(0, width, height, 32, SDL_PIXELFORMAT_RGB888);
    if (!surface) {
        set_err(err, errlen, "panel: cannot create a %dx%d surface: %s", width, height, SDL_GetError());
        return -1;
    }
    r = SDL_CreateSoftwareRenderer(surface);
    if (!r) {
        set_err(err, errlen, "panel: cannot create a software renderer: %s", SDL_GetError());
        goto out;
    }
    if (painter_init(&pt, r, err, errlen) != 0)
        goto out;
    painter_fit(&pt, width, height);
    struct panel_controls none = {false, false};
    draw_panel(&pt, s, &none);
    if (SDL_RenderReadPixels(r, NULL, SDL_PIXELFORMAT_RGB24, rgb, width * 3) != 0) {
        set_err(err, errlen, "panel: cannot read back the drawing: %s", SDL_GetError());
        goto out;
    }
    rc = 0;
out:
    painter_destroy(&pt);
    if (r)
        SDL_DestroyRenderer(r);
    SDL_FreeSurface(surface);
    return rc;
}

int panel_render_png_sized(const struct panel_snapshot *s, int width, int height, const char *path, char *err,
                           size_t errlen)
{
    if (width < 1 || height < 1 || width > PANEL_MAX_SIDE || height > PANEL_MAX_SIDE) {
        set_err(err, errlen, "%s: cannot draw the panel at %dx%d (1 to %d pixels each way)", path, width, height,
                PANEL_MAX_SIDE);
        return -1;
    }
    uint8_t *rgb = malloc((size_t)width * height * 3);
    if (!rgb) {
        set_err(err, errlen, "panel: out of memory for a %dx%d image", width, height);
        return -1;
    }
    int rc = render_rgb(s, width, height, rgb, err, errlen);
    if (rc == 0)
        rc = png_write_rgb(path, rgb, width, height, err, errlen);
    free(rgb);
    return rc;
}

int panel_render_png(const struct panel_snapshot *s, const char *path, char *err, size_t errlen)
{
    return panel_render_png_sized(s, CANVAS_WIDTH, CANVAS_HEIGHT, path, err, errlen);
}

/* ---- the window ----------------------------------------------------------- */

#define FRAME_MS 16 /* at most ~60 redraws a second */
#define WINDOW_DPI_BASE 96.0f /* a desktop at 100 % */
/* Button edges the emulator has not taken yet; see queue_mode(). */
#define MODE_QUEUE_LEN 8

struct window {
    SDL_Window *win;
    struct painter painter;
    struct panel_snapshot latest; /* read at the last poll, drawn or not */
    struct panel_snapshot shown;  /* what is on screen */
    struct panel_controls shown_controls;
    bool drawn_once, exposed;
    uint64_t next_frame_ms;

    bool mode_by_mouse, mode_by_key, reset_by_mouse, reset_by_key;
    bool reset_pending, quit;
    bool pause_pending, screenshot_pending;
    int mode_queue[MODE_QUEUE_LEN];
    int mode_queued;
};

static bool has_value(const char *env)
{
    return env && *env;
}

int window_open(struct window **out, const char *title, char *err, size_t errlen)
{
    *out = NULL;
    /* SDL 2.26 backs a window surface with a GL texture by default, which loads
     * Mesa (llvmpipe threads) even for the software renderer. Plain X11 images
     * are all a 640x360 panel needs, and they work on any X server. The
     * environment variable SDL_FRAMEBUFFER_ACCELERATION still overrides this. */
    SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
    /*
     * With no display SDL falls back to its invisible "offscreen" driver and
     * reports success; a window nobody can see is no window. A driver the user
     * names in SDL_VIDEODRIVER is taken as asked, invisible or not.
     */
    const char *forced = getenv("SDL_VIDEODRIVER");
    bool driver_forced = has_value(forced);
    if (!driver_forced && !has_value(getenv("DISPLAY")) && !has_value(getenv("WAYLAND_DISPLAY"))) {
        set_err(err, errlen, "window: no display (DISPLAY and WAYLAND_DISPLAY are unset)");
        return -1;
    }
    if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0) {
        set_err(err, errlen, "window: no display usable: %s", SDL_GetError());
        return -1;
    }
    const char *driver = SDL_GetCurrentVideoDriver();
    if (!driver_forced && driver && (strcmp(driver, "offscreen") == 0 || strcmp(driver, "dummy") == 0)) {
        set_err(err, errlen, "window: no display usable (SDL found only its '%s' video driver)", driver);
        SDL_QuitSubSystem(SDL_INIT_VIDEO);
        if (SDL_WasInit(SDL_INIT_EVERYTHING) == 0)
            SDL_Quit();
        return -1;
    }
    struct window *w = calloc(1, sizeof *w);
    if (!w) {
        set_err(err, errlen, "window: out of memory");
        SDL_QuitSubSystem(SDL_INIT_VIDEO);
        return -1;
    }
    /* HiDPI: where the desktop reports a dense screen, start at a whole multiple of the canvas
     * (Wayland and macOS scale by themselves and give the renderer more pixels instead) */
    int zoom = 1;
    float hdpi = 0;
    if (SDL_GetDisplayDPI(0, NULL, &hdpi, NULL) == 0 && hdpi >= 2 * WINDOW_DPI_BASE * 0.9f)
        zoom = (int)(hdpi / WINDOW_DPI_BASE + 0.1f);
    SDL_Rect usable;
    while (zoom > 1 && SDL_GetDisplayUsableBounds(0, &usable) == 0 &&
           (CANVAS_WIDTH * zoom > usable.w || CANVAS_HEIGHT * zoom > usable.h))
        zoom--;
    w->win = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, CANVAS_WIDTH * zoom,
                              CANVAS_HEIGHT * zoom, SDL_WINDOW_SHOWN | SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    if (!w->win) {
        set_err(err, errlen, "window: cannot create a %dx%d window: %s", CANVAS_WIDTH * zoom, CANVAS_HEIGHT * zoom,
                SDL_GetError());
        goto fail;
    }
    SDL_SetWindowMinimumSize(w->win, CANVAS_WIDTH / 2, CANVAS_HEIGHT / 2);
    SDL_Renderer *r = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_SOFTWARE);
    if (!r) {
        set_err(err, errlen, "window: cannot create a software renderer: %s", SDL_GetError());
        goto fail;
    }
    if (painter_init(&w->painter, r, err, errlen) != 0)
        goto fail;
    *out = w;
    return 0;
fail:
    window_close(w);
    return -1;
}

void window_close(struct window *w)
{
    if (!w)
        return;
    painter_destroy(&w->painter);
    if (w->painter.r)
        SDL_DestroyRenderer(w->painter.r);
    if (w->win)
        SDL_DestroyWindow(w->win);
    free(w);
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    /* Video pulled in SDL's global helpers (D-Bus among them); release them
     * too unless another part of the program still uses SDL. */
    if (SDL_WasInit(SDL_INIT_EVERYTHING) == 0)
        SDL_Quit();
}

/* A button answers to its body and its label (canvas coordinates). */
static bool on_button(double x, double y, int button_y)
{
    return x >= BUTTON_X && x < BUTTON_LABEL_X + BUTTON_LABEL_W && y >= button_y && y < button_y + BUTTON_H;
}

/* Fit the painter to the window's pixels now (the window may have been resized). */
static void fit_to_window(struct window *w)
{
    int out_w = CANVAS_WIDTH, out_h = CANVAS_HEIGHT;
    SDL_GetRendererOutputSize(w->painter.r, &out_w, &out_h);
    painter_fit(&w->painter, out_w, out_h);
}

/* A mouse position (window coordinates, which HiDPI makes differ from pixels) on the canvas. */
static void mouse_to_canvas(struct window *w, int mx, int my, double *x, double *y)
{
    int win_w = 1, win_h = 1, out_w = 1, out_h = 1;
    SDL_GetWindowSize(w->win, &win_w, &win_h);
    SDL_GetRendererOutputSize(w->painter.r, &out_w, &out_h);
    fit_to_window(w);
    double px = (double)mx * out_w / (win_w > 0 ? win_w : 1), py = (double)my * out_h / (win_h > 0 ? win_h : 1);
    *x = (px - w->painter.ox) / w->painter.scale;
    *y = (py - w->painter.oy) / w->painter.scale;
}

static bool mode_held(const struct window *w)
{
    return w->mode_by_mouse || w->mode_by_key;
}

static bool reset_held(const struct window *w)
{
    return w->reset_by_mouse || w->reset_by_key;
}

/*
 * The emulator takes one request per pace tick and writes -1 back. A click can
 * be shorter than that, so edges wait here in order instead of overwriting an
 * unread press with its release. If the emulator stops taking them, the oldest
 * press/release pair is dropped so the latest state still gets through.
 */
static void queue_mode(struct window *w, bool pressed)
{
    if (w->mode_queued == MODE_QUEUE_LEN) {
        memmove(w->mode_queue, w->mode_queue + 2, sizeof w->mode_queue[0] * (MODE_QUEUE_LEN - 2));
        w->mode_queued -= 2;
    }
    w->mode_queue[w->mode_queued++] = pressed ? 1 : 0;
}

static void set_mode_source(struct window *w, bool *source, bool down)
{
    bool before = mode_held(w);
    *source = down;
    if (mode_held(w) != before)
        queue_mode(w, mode_held(w));
}

static void handle_event(struct window *w, const SDL_Event *ev)
{
    switch (ev->type) {
    case SDL_QUIT:
        w->quit = true;
        break;
    case SDL_WINDOWEVENT:
        if (ev->window.event == SDL_WINDOWEVENT_CLOSE)
            w->quit = true;
        else if (ev->window.event == SDL_WINDOWEVENT_EXPOSED || ev->window.event == SDL_WINDOWEVENT_SIZE_CHANGED)
            w->exposed = true;
        else if (ev->window.event == SDL_WINDOWEVENT_FOCUS_LOST) {
            /* key-up events will not come: let go of what the keyboard held */
            set_mode_source(w, &w->mode_by_key, false);
            w->reset_by_key = false;
        }
        break;
    case SDL_KEYDOWN:
        if (ev->key.repeat)
            break;
        switch (ev->key.keysym.sym) {
        case SDLK_ESCAPE:
        case SDLK_q:
            w->quit = true;
            break;
        case SDLK_m:
            set_mode_source(w, &w->mode_by_key, true);
            break;
        case SDLK_r:
            w->reset_by_key = true;
            w->reset_pending = true;
            break;
        case SDLK_SPACE:
            w->pause_pending = true;
            break;
        case SDLK_s:
            w->screenshot_pending = true;
            break;
        default:
            break;
        }
        break;
    case SDL_KEYUP:
        if (ev->key.keysym.sym == SDLK_m)
            set_mode_source(w, &w->mode_by_key, false);
        else if (ev->key.keysym.sym == SDLK_r)
            w->reset_by_key = false;
        break;
    case SDL_MOUSEBUTTONDOWN: {
        if (ev->button.button != SDL_BUTTON_LEFT)
            break;
        double x, y;
        mouse_to_canvas(w, ev->button.x, ev->button.y, &x, &y);
        if (on_button(x, y, MODE_BUTTON_Y)) {
            set_mode_source(w, &w->mode_by_mouse, true);
        } else if (on_button(x, y, RST_BUTTON_Y)) {
            w->reset_by_mouse = true;
            w->reset_pending = true;
        }
        break;
    }
    case SDL_MOUSEBUTTONUP:
        /* released anywhere: the pointer may have slid off the button */
        if (ev->button.button == SDL_BUTTON_LEFT) {
            set_mode_source(w, &w->mode_by_mouse, false);
            w->reset_by_mouse = false;
        }
        break;
    default:
        break;
    }
}

static bool same_snapshot(const struct panel_snapshot *a, const struct panel_snapshot *b)
{
    return a->t_us == b->t_us && memcmp(a->led, b->led, sizeof a->led) == 0 && a->user_led == b->user_led &&
           a->usb_attached == b->usb_attached && a->mode_pressed == b->mode_pressed &&
           a->running == b->running && a->paused == b->paused && a->usb == b->usb && a->usb_pid == b->usb_pid &&
           a->speed == b->speed && a->mode_held_us == b->mode_held_us &&
           strncmp(a->status, b->status, sizeof a->status) == 0 &&
           strncmp(a->led_pattern, b->led_pattern, sizeof a->led_pattern) == 0;
}

/* Draws the newest state the window knows and puts it on screen. */
static void show_latest(struct window *w)
{
    struct panel_controls controls = {mode_held(w), reset_held(w)};
    fit_to_window(w);
    draw_panel(&w->painter, &w->latest, &controls);
    SDL_RenderPresent(w->painter.r);
    w->shown = w->latest;
    w->shown_controls = controls;
    w->drawn_once = true;
    w->exposed = false;
}

/* S: what the window shows now, as spark-emu-<virtual time>.png in the current directory. */
static void save_key_screenshot(struct window *w)
{
    char path[64], err[256];
    unsigned long long ms = (unsigned long long)(w->latest.t_us / 1000u);
    snprintf(path, sizeof path, "spark-emu-%llu.%03llus.png", ms / 1000u, ms % 1000u);
    for (int n = 2; access(path, F_OK) == 0 && n < 100; n++)
        snprintf(path, sizeof path, "spark-emu-%llu.%03llus-%d.png", ms / 1000u, ms % 1000u, n);
    if (window_screenshot(w, path, err, sizeof err) == 0)
        fprintf(stderr, "spark-emu: screenshot %s\n", path);
    else
        fprintf(stderr, "spark-emu: screenshot: %s\n", err);
}

bool window_poll(struct window *w, struct panel *p)
{
    if (!w->quit) {
        uint64_t now = SDL_GetTicks64();
        uint32_t wait = now >= w->next_frame_ms ? 0 : (uint32_t)(w->next_frame_ms - now);
        SDL_Event ev;
        if (SDL_WaitEventTimeout(&ev, (int)wait)) {
            handle_event(w, &ev);
            while (SDL_PollEvent(&ev))
                handle_event(w, &ev);
        }
    }

    pthread_mutex_lock(&p->lock);
    if (w->quit)
        p->quit_request = true;
    if (w->reset_pending) {
        p->reset_request = true;
        w->reset_pending = false;
    }
    if (w->pause_pending) {
        p->pause_request = !p->pause_request; /* two presses before the emulator looks: nothing */
        w->pause_pending = false;
    }
    if (w->mode_queued > 0 && p->mode_request == MODE_REQUEST_NONE) {
        p->mode_request = w->mode_queue[0];
        memmove(w->mode_queue, w->mode_queue + 1, sizeof w->mode_queue[0] * (size_t)(w->mode_queued - 1));
        w->mode_queued--;
    }
    w->latest = p->snap;
    pthread_mutex_unlock(&p->lock);
    if (w->quit)
        return false;
    if (w->screenshot_pending) {
        w->screenshot_pending = false;
        save_key_screenshot(w);
    }

    uint64_t now = SDL_GetTicks64();
    if (now < w->next_frame_ms)
        return true;
    w->next_frame_ms = now + FRAME_MS;
    struct panel_controls controls = {mode_held(w), reset_held(w)};
    if (w->drawn_once && !w->exposed && same_snapshot(&w->latest, &w->shown) &&
        controls.mode_held == w->shown_controls.mode_held && controls.reset_held == w->shown_controls.reset_held)
        return true;
    show_latest(w);
    return true;
}

int window_screenshot(struct window *w, const char *path, char *err, size_t errlen)
{
    int out_w = 0, out_h = 0;
    if (SDL_GetRendererOutputSize(w->painter.r, &out_w, &out_h) != 0 || out_w <= 0 || out_h <= 0) {
        set_err(err, errlen, "window: screenshot: cannot get the window's size: %s", SDL_GetError());
        return -1;
    }
    uint8_t *rgb = malloc((size_t)out_w * out_h * 3);
    if (!rgb) {
        set_err(err, errlen, "window: screenshot: out of memory");
        return -1;
    }
    /*
     * Draw again rather than read what was presented: after a present the back
     * buffer's content is undefined. The drawing is the newest snapshot the
     * last poll read, even if frame pacing had not put it on screen yet, so a
     * caller that publishes, polls and then saves gets what it published; the
     * same picture is then presented, so the file and the screen agree. The
     * file has the window's pixels: a larger window or a HiDPI screen gives a
     * larger picture.
     */
    struct panel_controls controls = {mode_held(w), reset_held(w)};
    painter_fit(&w->painter, out_w, out_h);
    draw_panel(&w->painter, &w->latest, &controls);
    int rc = SDL_RenderReadPixels(w->painter.r, NULL, SDL_PIXELFORMAT_RGB24, rgb, out_w * 3);
    SDL_RenderPresent(w->painter.r);
    w->shown = w->latest;
    w->shown_controls = controls;
    w->drawn_once = true;
    if (rc != 0) {
        set_err(err, errlen, "window: screenshot: cannot read the window's pixels: %s", SDL_GetError());
        free(rgb);
        return -1;
    }
    rc = png_write_rgb(path, rgb, out_w, out_h, err, errlen);
    free(rgb);
    return rc;
}
