/*
 * spark_core.c - the Spark Core board: an STM32F103CB with an SST25VF016B
 * (SPI2, CS PB9), a CC3000 (SPI2, CS PB12, IRQ PB11, enable PB8), the RGB LED
 * on TIM1 CH1-3 (blue, red, green; common anode), the MODE button on PB2, the
 * RESET button on NRST and the USB D+ pull-up switch on PB10. This file is the
 * only place that knows which pin goes where.
 *
 * It also owns what is stored between runs: the internal and external flash
 * images (files mapped MAP_SHARED, so every completed program or erase is in
 * the page cache at once and survives a killed emulator) and the images given
 * on the command line. Design decision: every input is checked before anything
 * stored is created or changed, so a bad option never costs the user data.
 */
#include "spark_core.h"

#include "boards/stm32f103.h"
#include "peripherals/ext/button.h"
#include "peripherals/ext/cc3000.h"
#include "peripherals/ext/rgb_led.h"
#include "peripherals/ext/sst25vf016b.h"
#include "emu/host/panel.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXT_FLASH_SIZE (2u * 1024u * 1024u)
#define FIRMWARE_BASE 0x08005000u
#define FIRMWARE_MAX (FLASH_BASE + FLASH_SIZE - FIRMWARE_BASE)
#define FLAGS_PAGE 0x08004C00u
#define FLAGS_OTA_OFFSET 4u /* FLASH_OTA_Update_SysFlag */
#define FLAGS_RUN_FIRMWARE 0x5000u
#define BOOTLOADER_END FLAGS_PAGE
#define FLASH_PAGE 1024u
#define INT_FLASH_NAME "internal-flash.bin"
#define EXT_FLASH_NAME "external-flash.bin"
#define DEFAULT_FIRMWARE "core_tinker.bin"
#define UART_RX_MAX (1024 * 1024)

/* pins */
enum {
    PIN_MODE = 2,         /* PB2 */
    PIN_WLAN_EN = 8,      /* PB8 */
    PIN_FLASH_CS = 9,     /* PB9 */
    PIN_USB_DISC = 10,    /* PB10: low = D+ pull-up on */
    PIN_WLAN_IRQ = 11,    /* PB11 */
    PIN_WLAN_CS = 12,     /* PB12 */
    PIN_USER_LED = 13,    /* PA13 (D7) */
};
enum { SPI2_SLAVE_FLASH = 0, SPI2_SLAVE_CC3000 = 1 };

struct mapped_file {
    char *path;
    uint8_t *data;
    size_t size;
    bool created;
};

struct spark_core {
    struct machine m;
    struct stm32f103 soc;
    struct sst25 sflash;
    struct cc3000 wlan;
    struct rgb_led led;
    struct button mode, reset;
    struct spi_bus spi2_bus;
    const struct options *opt;

    struct mapped_file int_flash, ext_flash;
    uint8_t *ext_mem; /* the external flash when not a file */
    FILE *trace;
    bool direct_start;

    /* what the board shows */
    bool usb_attached, user_led;
    bool nrst_low; /* the RESET button holds NRST low */
    uint8_t rgb[3];

    /* headless LED summary, one line whenever the pattern of the last second changes */
    bool report_led;
    struct event led_report_event;
    uint32_t led_changes;
    uint8_t led_seen;            /* bit per colour name */
    uint8_t led_min[3], led_max[3];
    char led_last_summary[96];
    const char *firmware_name;

    /* the window (SDL on the main thread) and its meeting point with the emulator thread */
    struct panel panel;
    struct window *win;
    bool windowed;
    int run_status;
    volatile bool run_done;
    struct event screenshot_events[OPT_MAX_SCREENSHOTS];
    pthread_mutex_t shot_lock;
    pthread_cond_t shot_cond;
    const char *shot_path; /* a screenshot the window thread must save, or NULL */
    int shot_status;
    char shot_err[256];
    struct screenshot_ctx {
        struct spark_core *board;
        int index;
    } shot_ctx[OPT_MAX_SCREENSHOTS];

    /* the USARTs: lines transmitted, and bytes fed to Serial1 (USART2) from a file */
    struct uart_port {
        struct spark_core *board;
        const char *name;
        char line[128];
        size_t len;
    } uart[2];
    uint8_t *uart_rx;
    size_t uart_rx_len, uart_rx_pos;
    struct event uart_rx_event;
};

/* ---- files ------------------------------------------------------------ */

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Check that `path` is usable as an image of `size` bytes without changing anything. */
static int check_image_file(const char *path, size_t size, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* created later, erased */
        snprintf(err, errlen, "%s: cannot use as %s: %s", path, what, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (expected %s of %zu bytes)", path, what, size);
        return -1;
    }
    if ((size_t)st.st_size != size) {
        snprintf(err, errlen,
                 "%s: %lld bytes, but %s must be exactly %zu bytes (%zu KiB); the file is left as it is",
                 path, (long long)st.st_size, what, size, size / 1024);
        return -1;
    }
    if (access(path, R_OK | W_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read and write it (%s)", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    strcpy(buf, dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
        return -1;
    }
    return 0;
}

/* Open (creating it erased if missing) and map an image file. */
static int map_image_file(struct mapped_file *f, const char *path, size_t size, char *err, size_t errlen)
{
    f->path = strdup(path);
    f->size = size;
    int fd = open(path, O_RDWR);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            f->created = true;
            uint8_t erased[4096];
            memset(erased, 0xFF, sizeof erased);
            for (size_t done = 0; done < size;) {
                ssize_t w = write(fd, erased, size - done < sizeof erased ? size - done : sizeof erased);
                if (w <= 0) {
                    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
                    close(fd);
                    unlink(path);
                    return -1;
                }
                done += (size_t)w;
            }
        }
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    f->data = p;
    return 0;
}

static void unmap_image_file(struct mapped_file *f)
{
    if (f->data)
        munmap(f->data, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static char *default_state_dir(void)
{
    const char *env = getenv("SPARK_EMU_STATE");
    if (env && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg)
        return path_join(xdg, "spark-emu");
    const char *home = getenv("HOME");
    return path_join(home && *home ? home : "/tmp", ".local/state/spark-emu");
}

/* The project's boot ROM: $SPARK_EMU_BOOTROM, else the build tree's, else the installed one. */
static const char *bootrom_path(void)
{
    const char *env = getenv("SPARK_EMU_BOOTROM");
    if (env && *env)
        return env;
    if (access(SPARK_EMU_BOOTROM_BUILD, R_OK) == 0)
        return SPARK_EMU_BOOTROM_BUILD;
    return SPARK_EMU_BOOTROM_INSTALLED;
}

static char *default_firmware_path(void)
{
    const char *env = getenv("SPARK_EMU_FIRMWARE_DIR");
    if (env && *env)
        return path_join(env, DEFAULT_FIRMWARE);
    const char *xdg = getenv("XDG_CACHE_HOME");
    char *cache = xdg && *xdg ? strdup(xdg) : path_join(getenv("HOME") ? getenv("HOME") : "/tmp", ".cache");
    char *dir = path_join(cache, "spark-emu/firmware/particle-cli-2.16.0");
    char *p = path_join(dir, DEFAULT_FIRMWARE);
    free(cache);
    free(dir);
    return p;
}

/* ---- images ------------------------------------------------------------ */

static uint32_t image_word(const struct image *img, uint32_t addr, bool *found)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        if (addr >= s->addr && addr - s->addr + 4 <= s->size) {
            *found = true;
            const uint8_t *p = s->data + (addr - s->addr);
            return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        }
    }
    *found = false;
    return 0;
}

/*
 * A Core image must lie in [base, end) and start with a vector table whose
 * stack pointer the bootloader accepts ((SP & 0x2FFE0000) == 0x20000000) and
 * whose reset vector is a Thumb address inside the image's area.
 */
static int check_core_image(const struct image *img, uint32_t base, uint32_t end, const char *what,
                            char *err, size_t errlen)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        if (s->addr < base || s->addr > end || s->size > end - s->addr) {
            snprintf(err, errlen,
                     "%s: %u bytes at 0x%08x end at 0x%08x, outside the %s area 0x%08x-0x%08x "
                     "(at most %u bytes, %u KiB): it does not fit",
                     img->path, s->size, s->addr, s->addr + s->size, what, base, end, end - base,
                     (end - base) / 1024);
            return -1;
        }
    }
    bool f1, f2;
    uint32_t sp = image_word(img, base, &f1), reset = image_word(img, base + 4, &f2);
    if (!f1 || !f2) {
        snprintf(err, errlen, "%s: no vector table at 0x%08x (the image does not start there)", img->path, base);
        return -1;
    }
    if ((sp & 0x2FFE0000u) != 0x20000000u || sp > SRAM_BASE + SRAM_SIZE) {
        snprintf(err, errlen,
                 "%s: not a Core %s image: its vector table's initial stack pointer is 0x%08x, not an "
                 "address in the 20 KiB of SRAM (0x20000000-0x20005000)",
                 img->path, what, sp);
        return -1;
    }
    if (!(reset & 1u) || (reset & ~1u) < base || (reset & ~1u) >= end) {
        snprintf(err, errlen,
                 "%s: not a Core %s image: its reset vector 0x%08x is not a Thumb address inside "
                 "0x%08x-0x%08x",
                 img->path, what, reset, base, end);
        return -1;
    }
    return 0;
}

/* Program an image the way a programmer would: erase the pages it covers, then write it. */
static void program_image(struct spark_core *b, const struct image *img)
{
    struct machine *m = &b->m;
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        uint32_t off = s->addr - FLASH_BASE;
        uint32_t first = off & ~(FLASH_PAGE - 1), last = (off + s->size + FLASH_PAGE - 1) & ~(FLASH_PAGE - 1);
        memset(m->flash + first, 0xFF, last - first);
        memcpy(m->flash + off, s->data, s->size);
        cpu_invalidate(m, FLASH_BASE + first, last - first);
        cpu_invalidate(m, first, last - first);
    }
}

/* FLASH_OTA_Update_SysFlag = 0x5000: a bootloader jumps to the firmware. */
static void mark_firmware_valid(struct spark_core *b)
{
    uint8_t *page = b->m.flash + (FLAGS_PAGE - FLASH_BASE);
    uint16_t cur = (uint16_t)(page[FLAGS_OTA_OFFSET] | page[FLAGS_OTA_OFFSET + 1] << 8);
    if (cur == FLAGS_RUN_FIRMWARE)
        return;
    if ((cur & FLAGS_RUN_FIRMWARE) != FLAGS_RUN_FIRMWARE) {
        /* bits would have to go from 0 to 1: erase the page, keep the other flags */
        uint8_t copy[FLASH_PAGE];
        memcpy(copy, page, FLASH_PAGE);
        memset(page, 0xFF, FLASH_PAGE);
        memcpy(page, copy, FLASH_PAGE);
    }
    page[FLAGS_OTA_OFFSET] = FLAGS_RUN_FIRMWARE & 0xFF;
    page[FLAGS_OTA_OFFSET + 1] = FLAGS_RUN_FIRMWARE >> 8;
}

/* ---- wiring ------------------------------------------------------------- */

static void led_pwm(void *opaque, int ch, bool driven, uint32_t high_q16)
{
    /* TIM1 CH1 = blue (PA8), CH2 = red (PA9), CH3 = green (PA10) */
    static const int led_channel[5] = {-1, RGB_LED_BLUE, RGB_LED_RED, RGB_LED_GREEN, -1};
    struct spark_core *b = opaque;
    if (ch >= 1 && ch <= 3)
        rgb_led_pwm_in(&b->led, led_channel[ch], driven, high_q16);
}

static void mode_button_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    (void)n;
    /* the button shorts PB2 to ground; released, the pin floats up on its pull-up */
    if (!level)
        stm32_gpio_pin_in(&b->soc.gpio[GPIO_PORT_B], PIN_MODE, false);
    else
        stm32_gpio_pin_release(&b->soc.gpio[GPIO_PORT_B], PIN_MODE);
}

/*
 * NRST: pressing RESET resets the chip and holds it in reset; the core starts
 * from its reset vector when the button is released.
 */
static void reset_button_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    (void)n;
    if (!level && !b->nrst_low) {
        b->nrst_low = true;
        b->m.held_in_reset = true;
        sim_request_reset(&b->m.sim, RESET_PIN);
    } else if (level && b->nrst_low) {
        b->nrst_low = false;
        b->m.held_in_reset = false;
        b->m.sim.attention = true;
    }
}

static void usb_disc_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    (void)n;
    bool attached = !level;
    if (attached != b->usb_attached) {
        b->usb_attached = attached;
        sim_trace(&b->m.sim, "usb", "\"event\":\"%s\"", attached ? "attach" : "detach");
    }
}

static void user_led_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    (void)n;
    b->user_led = level;
}

static void wlan_irq_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    (void)n;
    stm32_gpio_pin_in(&b->soc.gpio[GPIO_PORT_B], PIN_WLAN_IRQ, level);
}

static void sflash_reset(void *dev, enum reset_cause cause) { sst25_reset(dev, cause); }
static void wlan_reset(void *dev, enum reset_cause cause) { cc3000_reset(dev, cause); }
static void led_reset(void *dev, enum reset_cause cause) { rgb_led_reset(dev, cause); }
static void button_reset_fn(void *dev, enum reset_cause cause) { button_reset(dev, cause); }

static enum sleep_kind deep_sleep_kind(struct machine *m)
{
    struct spark_core *b = m->board;
    return stm32f103_deep_sleep_kind(&b->soc);
}

static void on_reset(struct machine *m, enum reset_cause cause)
{
    struct spark_core *b = m->board;
    stm32f103_reset_done(&b->soc, cause);
    if (b->direct_start)
        machine_jump_to(m, FIRMWARE_BASE); /* as a bootloader's jump would */
}

/* ---- USARTs -------------------------------------------------------------- */

/* A transmitted line becomes a trace record (and a log line with --verbose). */
static void uart_flush_line(struct uart_port *u)
{
    struct sim *sim = &u->board->m.sim;
    char text[sizeof u->line * 6 + 1];
    size_t o = 0;
    for (size_t i = 0; i < u->len; i++) {
        unsigned char c = (unsigned char)u->line[i];
        if (c == '"' || c == '\\') {
            text[o++] = '\\';
            text[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7F) {
            o += (size_t)snprintf(text + o, sizeof text - o, "\\u%04x", c);
        } else {
            text[o++] = (char)c;
        }
    }
    text[o] = '\0';
    sim_trace(sim, "uart", "\"port\":\"%s\",\"text\":\"%s\"", u->name, text);
    sim_log(sim, LOG_INFO, "%s: %s", u->name, text);
    u->len = 0;
}

static void uart_tx(void *opaque, uint8_t byte)
{
    struct uart_port *u = opaque;
    if (byte == '\r')
        return;
    if (byte != '\n')
        u->line[u->len++] = (char)byte;
    if (byte == '\n' || u->len == sizeof u->line)
        uart_flush_line(u);
}

/* --uart-rx: one byte per frame time, once the firmware's receiver takes them. */
static void uart_rx_next(struct sim *sim, void *opaque)
{
    struct spark_core *b = opaque;
    struct stm32_usart *serial1 = &b->soc.usart2;
    if (b->uart_rx_pos >= b->uart_rx_len)
        return;
    if (stm32_usart_receive(serial1, b->uart_rx[b->uart_rx_pos])) {
        b->uart_rx_pos++;
        event_schedule(sim, &b->uart_rx_event, sim->clock.now + stm32_usart_frame_cycles(serial1));
    } else {
        event_schedule(sim, &b->uart_rx_event, sim->clock.now + SIM_MS(1)); /* receiver off: try later */
    }
}

/* ---- headless LED summary ----------------------------------------------- */

static const char *const colour_names[8] = {"off", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

static int colour_index(const uint8_t rgb[3])
{
    return (rgb[0] >= 16 ? 1 : 0) | (rgb[1] >= 16 ? 2 : 0) | (rgb[2] >= 16 ? 4 : 0);
}

static void led_changed(void *opaque, const uint8_t rgb[3])
{
    struct spark_core *b = opaque;
    int prev = colour_index(b->rgb);
    memcpy(b->rgb, rgb, 3);
    int now = colour_index(rgb);
    b->led_seen |= (uint8_t)(1u << now);
    if (now != prev)
        b->led_changes++;
    for (int i = 0; i < 3; i++) {
        if (rgb[i] < b->led_min[i]) b->led_min[i] = rgb[i];
        if (rgb[i] > b->led_max[i]) b->led_max[i] = rgb[i];
    }
}

static void led_report(struct sim *sim, void *opaque)
{
    struct spark_core *b = opaque;
    char summary[96];
    int lit = -1, nlit = 0;
    for (int c = 1; c < 8; c++)
        if (b->led_seen & (1u << c)) {
            lit = c;
            nlit++;
        }
    bool varied = false;
    for (int i = 0; i < 3; i++)
        varied |= b->led_max[i] - b->led_min[i] > 40;
    if (nlit == 0)
        snprintf(summary, sizeof summary, "off");
    else if (nlit > 1)
        snprintf(summary, sizeof summary, "changing colours");
    else if (b->led_changes >= 2)
        snprintf(summary, sizeof summary, "%s, blinking about %u times a second", colour_names[lit],
                 (b->led_changes + 1) / 2);
    else if (varied)
        snprintf(summary, sizeof summary, "%s, breathing", colour_names[lit]);
    else
        snprintf(summary, sizeof summary, "%s", colour_names[lit]);
    if (strcmp(summary, b->led_last_summary) != 0) {
        if (b->report_led) {
            printf("[%8.3f s] LED %s\n", (double)sim->clock.now / SIM_HZ, summary);
            fflush(stdout);
        }
        strcpy(b->led_last_summary, summary);
    }
    b->led_seen = (uint8_t)(1u << colour_index(b->rgb));
    b->led_changes = 0;
    memcpy(b->led_min, b->rgb, 3);
    memcpy(b->led_max, b->rgb, 3);
    event_schedule(sim, &b->led_report_event, b->led_report_event.when + SIM_S(1));
}

/* ---- the window's view ---------------------------------------------------- */

static struct panel_snapshot snapshot(struct spark_core *b)
{
    struct panel_snapshot s;
    memset(&s, 0, sizeof s);
    s.t_us = sim_now_us(&b->m.sim);
    memcpy(s.led, b->rgb, 3);
    s.user_led = b->user_led;
    s.usb_attached = b->usb_attached;
    s.mode_pressed = b->mode.pressed;
    s.running = !b->run_done;
    if (b->m.locked_up)
        snprintf(s.status, sizeof s.status, "halted: the core locked up");
    else
        snprintf(s.status, sizeof s.status, "%.40s%sLED %.48s", b->firmware_name ? b->firmware_name : "",
                 b->firmware_name ? " - " : "", b->led_last_summary[0] ? b->led_last_summary : "off");
    return s;
}

/* Every 10 ms of virtual time: show the state, take the window's clicks. */
static bool apply_panel_requests(struct spark_core *b)
{
    pthread_mutex_lock(&b->panel.lock);
    int mode = b->panel.mode_request;
    bool reset = b->panel.reset_request, quit = b->panel.quit_request;
    b->panel.mode_request = -1;
    b->panel.reset_request = false;
    pthread_mutex_unlock(&b->panel.lock);
    if (mode >= 0)
        button_set(&b->mode, mode == 1);
    if (reset) {
        button_set(&b->reset, true);
        button_set(&b->reset, false);
    }
    if (quit) {
        b->m.exit_requested = true;
        machine_request_stop(&b->m);
    }
    return mode >= 0 || reset || quit;
}

static void on_pace(struct machine *m)
{
    struct spark_core *b = m->board;
    if (b->windowed) {
        struct panel_snapshot s = snapshot(b);
        panel_publish(&b->panel, &s);
    }
    apply_panel_requests(b);
}

/* The guest can never wake by itself: with a window, a click may still wake it. */
static bool wait_for_input(struct machine *m)
{
    struct spark_core *b = m->board;
    if (!b->windowed)
        return false;
    on_pace(m);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return !m->exit_requested;
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
    struct spark_core *b = ctx->board;
    const char *path = b->opt->screenshots[ctx->index].path;
    struct panel_snapshot snap = snapshot(b);
    char err[256] = "";
    int rc;
    if (b->windowed) {
        panel_publish(&b->panel, &snap);
        pthread_mutex_lock(&b->shot_lock);
        b->shot_path = path;
        while (b->shot_path)
            pthread_cond_wait(&b->shot_cond, &b->shot_lock);
        rc = b->shot_status;
        snprintf(err, sizeof err, "%s", b->shot_err);
        pthread_mutex_unlock(&b->shot_lock);
    } else {
        rc = panel_render_png(&snap, path, err, sizeof err);
    }
    if (rc)
        sim_log(sim, LOG_ERROR, "--screenshot %s: %s", path, err);
    else
        sim_log(sim, LOG_INFO, "screenshot %s", path);
}

/* ---- create ------------------------------------------------------------- */

int spark_core_create(struct spark_core **out, const struct options *opt, char *err, size_t errlen)
{
    struct image loads[OPT_MAX_LOADS], bl_img, fw_img;
    int nloads = 0;
    bool have_bl = false, have_fw = false;
    char *state_dir = NULL, *int_path = NULL, *ext_path = NULL, *fw_default = NULL;
    uint8_t *uart_rx_data = NULL;
    size_t uart_rx_size = 0;
    struct spark_core *b = NULL;
    int rc = -1;

    /* 1. every input, before anything stored is touched */
    const char *bl_path = opt->bootloader;
    if (!bl_path && !opt->bootloader_none && opt->nloads == 0) {
        const char *env = getenv("SPARK_EMU_BOOTLOADER");
        if (env && *env)
            bl_path = env;
    }
    for (int i = 0; i < opt->nloads; i++) {
        const struct load_spec *l = &opt->loads[i];
        if (image_load(l->path, l->has_addr ? l->addr : FLASH_BASE, &loads[nloads], err, errlen))
            goto fail;
        nloads++;
    }
    if (bl_path) {
        if (image_load(bl_path, FLASH_BASE, &bl_img, err, errlen))
            goto fail;
        have_bl = true;
        if (check_core_image(&bl_img, FLASH_BASE, BOOTLOADER_END, "bootloader", err, errlen))
            goto fail;
    }
    if (opt->firmware) {
        if (image_load(opt->firmware, FIRMWARE_BASE, &fw_img, err, errlen))
            goto fail;
        have_fw = true;
        if (check_core_image(&fw_img, FIRMWARE_BASE, FLASH_BASE + FLASH_SIZE, "firmware", err, errlen))
            goto fail;
    }

    if (opt->uart_rx) {
        FILE *f = fopen(opt->uart_rx, "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot read the --uart-rx input: %s", opt->uart_rx, strerror(errno));
            goto fail;
        }
        uart_rx_data = malloc(UART_RX_MAX);
        uart_rx_size = uart_rx_data ? fread(uart_rx_data, 1, UART_RX_MAX, f) : 0;
        bool more = fgetc(f) != EOF;
        fclose(f);
        if (!uart_rx_data || more) {
            snprintf(err, errlen, "%s: --uart-rx input is larger than %d bytes", opt->uart_rx, UART_RX_MAX);
            goto fail;
        }
    }

    /* where the flashes live: --load alone runs on fresh, unsaved flashes */
    bool ephemeral = nloads > 0 && !opt->state_dir && !opt->int_flash;
    if (!ephemeral) {
        state_dir = opt->state_dir ? strdup(opt->state_dir) : default_state_dir();
        int_path = opt->int_flash ? strdup(opt->int_flash) : path_join(state_dir, INT_FLASH_NAME);
    }
    if (opt->ext_flash || !ephemeral)
        ext_path = opt->ext_flash ? strdup(opt->ext_flash) : path_join(state_dir, EXT_FLASH_NAME);
    if (int_path && check_image_file(int_path, FLASH_SIZE, "an internal flash image", err, errlen))
        goto fail;
    if (ext_path && check_image_file(ext_path, EXT_FLASH_SIZE, "an external flash image", err, errlen))
        goto fail;
    bool fresh = !int_path || access(int_path, F_OK) != 0;

    /* defaults on a fresh state: the project's boot ROM, and Tinker from the npm cache */
    bool user_bl = have_bl;
    if (fresh && !have_bl && !opt->bootloader_none && nloads == 0) {
        const char *rom = bootrom_path();
        if (access(rom, R_OK) != 0) {
            snprintf(err, errlen,
                     "the project's boot ROM %s is missing (build it with ninja, set SPARK_EMU_BOOTROM, "
                     "or give --bootloader FILE or --bootloader none)",
                     rom);
            goto fail;
        }
        if (image_load(rom, FLASH_BASE, &bl_img, err, errlen))
            goto fail;
        have_bl = true;
        if (check_core_image(&bl_img, FLASH_BASE, BOOTLOADER_END, "bootloader", err, errlen))
            goto fail;
    }
    if (fresh && !have_fw && !user_bl && nloads == 0) {
        fw_default = default_firmware_path();
        if (access(fw_default, R_OK) != 0) {
            snprintf(err, errlen,
                     "no --firmware given and the default firmware %s is not there; run "
                     "tools/fetch-firmware.sh (or tools/setup.sh), or give --firmware FILE",
                     fw_default);
            goto fail;
        }
        if (image_load(fw_default, FIRMWARE_BASE, &fw_img, err, errlen))
            goto fail;
        have_fw = true;
        if (check_core_image(&fw_img, FIRMWARE_BASE, FLASH_BASE + FLASH_SIZE, "firmware", err, errlen))
            goto fail;
    }

    b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    b->opt = opt;
    panel_init(&b->panel);
    pthread_mutex_init(&b->shot_lock, NULL);
    pthread_cond_init(&b->shot_cond, NULL);
    if (opt->trace) {
        b->trace = fopen(opt->trace, "w");
        if (!b->trace) {
            snprintf(err, errlen, "%s: cannot write the trace: %s", opt->trace, strerror(errno));
            goto fail;
        }
    }

    /* 2. now the state may be created and changed */
    if (state_dir && !opt->int_flash && mkdir_p(state_dir, err, errlen))
        goto fail;
    if (int_path && map_image_file(&b->int_flash, int_path, FLASH_SIZE, err, errlen))
        goto fail;
    if (ext_path) {
        if (!opt->ext_flash && state_dir && mkdir_p(state_dir, err, errlen))
            goto fail;
        if (map_image_file(&b->ext_flash, ext_path, EXT_FLASH_SIZE, err, errlen))
            goto fail;
        b->ext_mem = b->ext_flash.data;
    } else {
        b->ext_mem = malloc(EXT_FLASH_SIZE);
        if (!b->ext_mem) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memset(b->ext_mem, 0xFF, EXT_FLASH_SIZE);
    }

    struct machine_config cfg = {0};
    cfg.flash = b->int_flash.data;
    cfg.flash_is_mapped_file = b->int_flash.data != NULL;
    cfg.pacing = opt->pacing;
    cfg.speed = opt->speed;
    cfg.log_level = opt->log_level;
    cfg.trace = b->trace;
    /* a fixed unique ID: the same device every run (the cloud ID is derived from it) */
    static const uint8_t uid[12] = {0x36, 0xff, 0xd6, 0x05, 0x47, 0x55, 0x33, 0x35, 0x28, 0x41, 0x22, 0x43};
    memcpy(cfg.uid, uid, sizeof uid);
    if (machine_init(&b->m, &cfg, err, errlen))
        goto fail;
    b->m.board = b;
    b->m.on_reset = on_reset;
    b->m.deep_sleep_kind = deep_sleep_kind;
    b->m.timeout_status = opt->timeout_status;
    if (stm32f103_init(&b->soc, &b->m, err, errlen))
        goto fail;
    stm32_flash_default_option_bytes(b->m.sysmem + (OPTBYTES_BASE - SYSMEM_BASE));
    stm32_flash_set_option_bytes(&b->soc.flash, b->m.sysmem + (OPTBYTES_BASE - SYSMEM_BASE));

    /* external devices */
    sst25_init(&b->sflash, &b->m.sim, b->ext_mem);
    cc3000_init(&b->wlan, &b->m.sim, opt->wifi_profiles);
    cc3000_set_mac_seed(&b->wlan, (uint32_t)uid[0] << 16 | (uint32_t)uid[4] << 8 | uid[8]);
    rgb_led_init(&b->led, &b->m.sim);
    button_init(&b->mode, &b->m.sim, "mode");
    button_init(&b->reset, &b->m.sim, "reset");
    machine_add_periph(&b->m, "SST25VF016B", &b->sflash, sflash_reset);
    machine_add_periph(&b->m, "CC3000", &b->wlan, wlan_reset);
    machine_add_periph(&b->m, "RGB LED", &b->led, led_reset);
    machine_add_periph(&b->m, "MODE", &b->mode, button_reset_fn);
    machine_add_periph(&b->m, "RESET", &b->reset, button_reset_fn);

    struct stm32_gpio *pa = &b->soc.gpio[GPIO_PORT_A], *pb = &b->soc.gpio[GPIO_PORT_B];
    spi_bus_attach(&b->spi2_bus, &sst25_spi_ops, &b->sflash);
    spi_bus_attach(&b->spi2_bus, &cc3000_spi_ops, &b->wlan);
    b->soc.spi2.bus = &b->spi2_bus;
    pb->out[PIN_FLASH_CS] = line_to(spi_bus_cs_line, &b->spi2_bus, SPI2_SLAVE_FLASH);
    pb->out[PIN_WLAN_CS] = line_to(spi_bus_cs_line, &b->spi2_bus, SPI2_SLAVE_CC3000);
    pb->out[PIN_WLAN_EN] = line_to(cc3000_enable_in, &b->wlan, 0);
    b->wlan.irq = line_to(wlan_irq_line, b, 0);
    pb->out[PIN_USB_DISC] = line_to(usb_disc_line, b, 0);
    pa->out[PIN_USER_LED] = line_to(user_led_line, b, 0);
    for (int ch = 0; ch < 3; ch++) {
        b->soc.tim1.pwm[ch].set = led_pwm;
        b->soc.tim1.pwm[ch].opaque = b;
    }
    /*
     * External pull-ups on the board: the chip selects stay high (deselected)
     * while the pins float during reset, and a released PB10 leaves the USB D+
     * pull-up off (detached).
     */
    stm32_gpio_pin_in(pb, PIN_FLASH_CS, true);
    stm32_gpio_pin_in(pb, PIN_WLAN_CS, true);
    stm32_gpio_pin_in(pb, PIN_USB_DISC, true);
    /* A0..A7 are PA0, PA1, PA4, PA5, PA6, PA7, PB0, PB1: ADC channels 0, 1, 4, 5, 6, 7, 8, 9 on both ADCs */
    static const int analog_channel[8] = {0, 1, 4, 5, 6, 7, 8, 9};
    for (int i = 0; i < opt->nanalog; i++) {
        stm32_adc_set_input_mv(&b->soc.adc1, analog_channel[opt->analog[i].pin], opt->analog[i].millivolts);
        stm32_adc_set_input_mv(&b->soc.adc2, analog_channel[opt->analog[i].pin], opt->analog[i].millivolts);
    }
    static const char *const uart_names[2] = {"USART1", "USART2"};
    struct stm32_usart *usarts[2] = {&b->soc.usart1, &b->soc.usart2};
    for (int i = 0; i < 2; i++) {
        b->uart[i].board = b;
        b->uart[i].name = uart_names[i];
        usarts[i]->sink.tx = uart_tx;
        usarts[i]->sink.opaque = &b->uart[i];
    }
    if (uart_rx_data) {
        b->uart_rx = uart_rx_data;
        b->uart_rx_len = uart_rx_size;
        uart_rx_data = NULL;
        event_init(&b->uart_rx_event, uart_rx_next, b, "UART input");
        event_schedule(&b->m.sim, &b->uart_rx_event, 0);
    }
    b->mode.out = line_to(mode_button_line, b, 0);
    b->reset.out = line_to(reset_button_line, b, 0);
    for (int i = 0; i < opt->npresses; i++) {
        const struct press_spec *p = &opt->presses[i];
        button_schedule_press(p->button == BUTTON_MODE ? &b->mode : &b->reset, p->start, p->hold);
    }

    /* 3. images */
    for (int i = 0; i < nloads; i++) {
        if (machine_load_image(&b->m, &loads[i], err, errlen))
            goto fail;
    }
    nloads = 0;
    if (have_bl)
        program_image(b, &bl_img);
    if (have_fw) {
        program_image(b, &fw_img);
        mark_firmware_valid(b);
    }
    uint32_t bl_sp;
    memcpy(&bl_sp, b->m.flash, 4);
    b->direct_start = opt->nloads == 0 && (opt->bootloader_none || (!have_bl && bl_sp == 0xFFFFFFFFu));

    rgb_led_set_observer(&b->led, led_changed, b);
    event_init(&b->led_report_event, led_report, b, "LED report");
    event_schedule(&b->m.sim, &b->led_report_event, SIM_S(1));
    b->firmware_name = opt->firmware ? opt->firmware : fw_default ? DEFAULT_FIRMWARE : NULL;
    if (b->firmware_name && strrchr(b->firmware_name, '/'))
        b->firmware_name = strrchr(b->firmware_name, '/') + 1;
    for (int i = 0; i < opt->nscreenshots; i++) {
        b->shot_ctx[i].board = b;
        b->shot_ctx[i].index = i;
        event_init(&b->screenshot_events[i], take_screenshot, &b->shot_ctx[i], "screenshot");
        event_schedule(&b->m.sim, &b->screenshot_events[i], opt->screenshots[i].at);
    }
    b->m.on_pace = on_pace;
    b->m.wait_for_input = wait_for_input;

    machine_reset(&b->m, RESET_POWER);
    *out = b;
    b = NULL;
    rc = 0;

fail:
    for (int i = 0; i < nloads; i++)
        image_free(&loads[i]);
    if (have_bl)
        image_free(&bl_img);
    if (have_fw)
        image_free(&fw_img);
    free(state_dir);
    free(int_path);
    free(ext_path);
    free(fw_default);
    free(uart_rx_data);
    if (b)
        spark_core_destroy(b);
    return rc;
}

struct machine *spark_core_machine(struct spark_core *b)
{
    return &b->m;
}

static void *emulator_thread(void *opaque)
{
    struct spark_core *b = opaque;
    b->run_status = machine_run(&b->m, b->opt->run_for);
    b->run_done = true;
    struct panel_snapshot s = snapshot(b);
    panel_publish(&b->panel, &s);
    return NULL;
}

/* The window thread's side of a pending screenshot. */
static void serve_screenshot(struct spark_core *b)
{
    pthread_mutex_lock(&b->shot_lock);
    if (b->shot_path) {
        window_poll(b->win, &b->panel); /* draw the published instant */
        b->shot_status = window_screenshot(b->win, b->shot_path, b->shot_err, sizeof b->shot_err);
        b->shot_path = NULL;
        pthread_cond_broadcast(&b->shot_cond);
    }
    pthread_mutex_unlock(&b->shot_lock);
}

int spark_core_run(struct spark_core *b)
{
    const struct options *opt = b->opt;
    bool display = (getenv("DISPLAY") && *getenv("DISPLAY")) ||
                   (getenv("WAYLAND_DISPLAY") && *getenv("WAYLAND_DISPLAY"));
    if (!opt->headless && display) {
        char err[256];
        if (window_open(&b->win, "Spark Core - spark-emu", err, sizeof err) == 0)
            b->windowed = true;
        else
            sim_log(&b->m.sim, LOG_WARN, "no window (%s): running headless", err);
    }
    if (!b->windowed) {
        b->report_led = opt->log_level > LOG_ERROR && opt->nloads == 0;
        return machine_run(&b->m, opt->run_for);
    }

    /* with a window: real time unless told otherwise, SDL on this (main) thread */
    if (!opt->speed_given)
        b->m.pacing = PACE_REALTIME;
    struct panel_snapshot s = snapshot(b);
    panel_publish(&b->panel, &s);
    pthread_t thread;
    if (pthread_create(&thread, NULL, emulator_thread, b) != 0) {
        window_close(b->win);
        b->win = NULL;
        b->windowed = false;
        return machine_run(&b->m, opt->run_for);
    }
    bool open = true;
    while (!b->run_done || (open && !opt->run_for)) {
        if (open && !window_poll(b->win, &b->panel))
            open = false; /* the quit request reaches the emulator at its next pace tick */
        serve_screenshot(b);
        if (!open && !b->run_done) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!open && b->run_done)
            break;
    }
    serve_screenshot(b);
    pthread_join(thread, NULL);
    window_close(b->win);
    b->win = NULL;
    return b->run_status;
}

void spark_core_destroy(struct spark_core *b)
{
    if (b->m.uc)
        machine_free(&b->m);
    if (b->int_flash.data)
        msync(b->int_flash.data, b->int_flash.size, MS_SYNC);
    if (b->ext_flash.data)
        msync(b->ext_flash.data, b->ext_flash.size, MS_SYNC);
    unmap_image_file(&b->int_flash);
    if (b->ext_flash.data)
        unmap_image_file(&b->ext_flash);
    else
        free(b->ext_mem);
    if (b->trace)
        fclose(b->trace);
    for (int i = 0; i < 2; i++)
        if (b->uart[i].len)
            uart_flush_line(&b->uart[i]);
    free(b->uart_rx);
    panel_destroy(&b->panel);
    pthread_mutex_destroy(&b->shot_lock);
    pthread_cond_destroy(&b->shot_cond);
    free(b);
}
