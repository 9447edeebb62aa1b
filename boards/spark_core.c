/*
 * spark_core.c - the Spark Core board: an STM32F103CB with an SST25VF016B
 * (SPI2, CS PB9), a CC3000 (SPI2, CS PB12, IRQ PB11, enable PB8), the RGB LED
 * on TIM1 CH1-3 (blue, red, green; common anode), the MODE button on PB2, the
 * RESET button on NRST, the user LED D7 on PA13 and the USB D+ pull-up switch
 * on PB10. This file is the only place that knows which pin goes where.
 *
 * Design decision: pins and wiring only. The flashes come from the caller
 * (emu/state.c keeps them in files), and the host side (emu/host/) sees the
 * board only through the connections in spark_core.h.
 */
#include "spark_core.h"

#include "boards/stm32f103.h"
#include "emu/snapshot.h"
#include "peripherals/ext/button.h"
#include "peripherals/ext/cc3000.h"
#include "peripherals/ext/rgb_led.h"
#include "peripherals/ext/sst25vf016b.h"

#include <stdlib.h>
#include <string.h>

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

/*
 * The signals a logic view shows (spark_core_signals): the three LED channels
 * first (their index is the rgb_led channel), then the pins, each the port
 * and pin it is, active-low ones as the pin's level except USB_PULLUP, which
 * is 1 while the D+ pull-up is on (PB10 low).
 */
enum { SIGNAL_LED_FIRST = 0, SIGNAL_PIN_FIRST = RGB_LED_CHANNELS };
static const struct spark_core_signal signals[] = {
    {"LED_R", "TIM1_CH2", true}, {"LED_G", "TIM1_CH3", true}, {"LED_B", "TIM1_CH1", true},
    {"D0", "PB7", false},  {"D1", "PB6", false},  {"D2", "PB5", false},  {"D3", "PB4", false},
    {"D4", "PB3", false},  {"D5", "PA15", false}, {"D6", "PA14", false}, {"D7", "PA13", false},
    {"A0", "PA0", false},  {"A1", "PA1", false},  {"A2", "PA4", false},  {"A3", "PA5", false},
    {"A4", "PA6", false},  {"A5", "PA7", false},  {"A6", "PB0", false},  {"A7", "PB1", false},
    {"MODE", "PB2", false}, {"SFLASH_CS", "PB9", false}, {"WLAN_CS", "PB12", false},
    {"USB_PULLUP", "PB10", false},
};
#define NSIGNALS ((int)(sizeof signals / sizeof signals[0]))
#define SIGNAL_USB_PULLUP (NSIGNALS - 1)
/* The user pins D0-D7, A0-A7: their changes are also "gpio" trace records. */
#define SIGNAL_USER_FIRST SIGNAL_PIN_FIRST
#define SIGNAL_USER_LAST (SIGNAL_PIN_FIRST + 15)

struct spark_core {
    struct machine m;
    struct stm32f103 soc;
    struct sst25 sflash;
    struct cc3000 wlan;
    struct rgb_led led;
    struct button mode, reset;
    struct spi_bus spi2_bus;
    struct usb_host usb_host; /* the USB cable: a host controller on the other end */
    bool direct_start;

    /* what the board shows */
    bool usb_attached, user_led;
    bool nrst_low; /* the RESET button holds NRST low */
    uint8_t rgb[3];

    /* the host side's connections */
    struct led_observer {
        spark_core_led_fn fn;
        void *opaque;
    } led_observers[SPARK_CORE_MAX_LED_OBSERVERS];
    int nled_observers;
    spark_core_usb_fn usb_observer;
    void *usb_opaque;
    spark_core_signal_fn signal_observer;
    void *signal_opaque;
    struct line pin_target[NSIGNALS]; /* what a watched pin's line drove before it was watched */
};

/* ---- wiring ------------------------------------------------------------- */

static void kick_machine(void *opaque) { machine_kick(opaque); }
static void usb_host_service_fn(void *opaque) { usb_host_service(opaque); }

static void led_pwm(void *opaque, int ch, bool driven, uint32_t high_q16)
{
    /* TIM1 CH1 = blue (PA8), CH2 = red (PA9), CH3 = green (PA10) */
    static const int led_channel[5] = {-1, RGB_LED_BLUE, RGB_LED_RED, RGB_LED_GREEN, -1};
    struct spark_core *b = opaque;
    if (ch < 1 || ch > 3)
        return;
    rgb_led_pwm_in(&b->led, led_channel[ch], driven, high_q16);
    if (b->signal_observer) /* common anode: lit while the pin is low */
        b->signal_observer(b->signal_opaque, SIGNAL_LED_FIRST + led_channel[ch],
                           driven ? (double)(TIM_PWM_FULL - high_q16) / TIM_PWM_FULL : 0.0);
}

/* A watched pin changed: to what it drove before, then to the signal observer. */
static void watched_pin_line(void *opaque, int n, bool level)
{
    struct spark_core *b = opaque;
    line_set(&b->pin_target[n], level);
    if (n >= SIGNAL_USER_FIRST && n <= SIGNAL_USER_LAST)
        sim_trace(&b->m.sim, "gpio", "\"pin\":\"%s\",\"level\":%d", signals[n].name, level);
    if (b->signal_observer)
        b->signal_observer(b->signal_opaque, n, n == SIGNAL_USB_PULLUP ? !level : level);
}

static void watch_pins(struct spark_core *b)
{
    for (int i = SIGNAL_PIN_FIRST; i < NSIGNALS; i++) {
        const char *pin = signals[i].pin;
        struct stm32_gpio *port = &b->soc.gpio[pin[1] == 'A' ? GPIO_PORT_A : GPIO_PORT_B];
        int n = atoi(pin + 2);
        b->pin_target[i] = port->out[n];
        port->out[n] = line_to(watched_pin_line, b, i);
    }
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
        usb_host_pullup_in(&b->usb_host, 0, attached); /* the host traces attach once enumerated */
        if (b->usb_observer)
            b->usb_observer(b->usb_opaque, attached);
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
static void sflash_save(const void *dev, struct snap_writer *w) { sst25_save(dev, w); }
static void sflash_load(void *dev, struct snap_reader *r) { sst25_load(dev, r); }
static void wlan_save(const void *dev, struct snap_writer *w) { cc3000_save(dev, w); }
static void wlan_load(void *dev, struct snap_reader *r) { cc3000_load(dev, r); }
static void led_save(const void *dev, struct snap_writer *w) { rgb_led_save(dev, w); }
static void led_load(void *dev, struct snap_reader *r) { rgb_led_load(dev, r); }
static void button_save_fn(const void *dev, struct snap_writer *w) { button_save(dev, w); }
static void button_load_fn(void *dev, struct snap_reader *r) { button_load(dev, r); }

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
        machine_jump_to(m, SPARK_CORE_FIRMWARE_BASE); /* as a bootloader's jump would */
}

static void led_changed(void *opaque, const uint8_t rgb[3])
{
    struct spark_core *b = opaque;
    memcpy(b->rgb, rgb, 3);
    for (int i = 0; i < b->nled_observers; i++)
        b->led_observers[i].fn(b->led_observers[i].opaque, rgb);
}

/* ---- create ------------------------------------------------------------- */

int spark_core_create(struct spark_core **out, const struct spark_core_config *bc, char *err, size_t errlen)
{
    const struct options *opt = bc->opt;
    struct spark_core *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    struct machine_config cfg = {0};
    cfg.flash = bc->int_flash;
    cfg.flash_is_mapped_file = bc->int_flash != NULL;
    cfg.pacing = opt->pacing;
    cfg.speed = opt->speed;
    cfg.log_level = opt->log_level;
    cfg.trace = bc->trace;
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
    sst25_init(&b->sflash, &b->m.sim, bc->ext_flash);
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
    machine_periph_snapshot(&b->m, &b->sflash, sflash_save, sflash_load);
    machine_periph_snapshot(&b->m, &b->wlan, wlan_save, wlan_load);
    machine_periph_snapshot(&b->m, &b->led, led_save, led_load);
    machine_periph_snapshot(&b->m, &b->mode, button_save_fn, button_load_fn);
    machine_periph_snapshot(&b->m, &b->reset, button_save_fn, button_load_fn);

    struct stm32_gpio *pa = &b->soc.gpio[GPIO_PORT_A], *pb = &b->soc.gpio[GPIO_PORT_B];
    spi_bus_attach(&b->spi2_bus, &sst25_spi_ops, &b->sflash);
    spi_bus_attach(&b->spi2_bus, &cc3000_spi_ops, &b->wlan);
    b->soc.spi2.bus = &b->spi2_bus;
    pb->out[PIN_FLASH_CS] = line_to(spi_bus_cs_line, &b->spi2_bus, SPI2_SLAVE_FLASH);
    pb->out[PIN_WLAN_CS] = line_to(spi_bus_cs_line, &b->spi2_bus, SPI2_SLAVE_CC3000);
    pb->out[PIN_WLAN_EN] = line_to(cc3000_enable_in, &b->wlan, 0);
    b->wlan.irq = line_to(wlan_irq_line, b, 0);
    pb->out[PIN_USB_DISC] = line_to(usb_disc_line, b, 0);
    /* the USB port: D+/D- of the chip's USB block to a host controller; its URBs come from other threads */
    usb_host_init(&b->usb_host, &b->m.sim, &stm32_usb_device_ops, &b->soc.usb);
    b->usb_host.kick = kick_machine;
    b->usb_host.kick_opaque = &b->m;
    b->soc.usb.ready = line_to(usb_host_ready_in, &b->usb_host, 0);
    if (machine_add_service(&b->m, usb_host_service_fn, &b->usb_host)) {
        snprintf(err, errlen, "too many machine services");
        goto fail;
    }
    pa->out[PIN_USER_LED] = line_to(user_led_line, b, 0);
    for (int ch = 0; ch < 3; ch++) {
        b->soc.tim1.pwm[ch].set = led_pwm;
        b->soc.tim1.pwm[ch].opaque = b;
    }
    rgb_led_set_observer(&b->led, led_changed, b);
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
    watch_pins(b);
    b->mode.out = line_to(mode_button_line, b, 0);
    b->reset.out = line_to(reset_button_line, b, 0);
    for (int i = 0; i < opt->npresses; i++) {
        const struct press_spec *p = &opt->presses[i];
        button_schedule_press(p->button == BUTTON_MODE ? &b->mode : &b->reset, p->start, p->hold);
    }
    *out = b;
    return 0;

fail:
    spark_core_destroy(b);
    return -1;
}

struct machine *spark_core_machine(struct spark_core *b)
{
    return &b->m;
}

void spark_core_power_on(struct spark_core *b, bool start_firmware_directly)
{
    b->direct_start = start_firmware_directly;
    machine_reset(&b->m, RESET_POWER);
}

void spark_core_destroy(struct spark_core *b)
{
    if (b->usb_host.sim)
        usb_host_free(&b->usb_host);
    if (b->m.uc)
        machine_free(&b->m);
    free(b);
}

/* ---- snapshots ------------------------------------------------------------ */

/* The board's own state: the chip's shared lines, what the pins drive, the SPI2 selects. */
static void board_fields(struct spark_core *b, struct snap_io *io)
{
    stm32f103_snapshot(&b->soc, io);
    snap_io_bool(io, &b->direct_start);
    snap_io_bool(io, &b->usb_attached);
    snap_io_bool(io, &b->user_led);
    snap_io_bool(io, &b->nrst_low);
    snap_io_bytes(io, b->rgb, sizeof b->rgb);
    snap_io_int(io, &b->spi2_bus.count);
    if (!snap_io_check(io, b->spi2_bus.count == 2, "not the Core's two SPI2 slaves"))
        return;
    for (int i = 0; i < b->spi2_bus.count; i++)
        snap_io_bool(io, &b->spi2_bus.slaves[i].selected);
}

int spark_core_snapshot_save(struct spark_core *b, struct snap_writer *w, enum snap_resume where, uint64_t at)
{
    machine_snapshot_save(&b->m, w, where, at);
    struct snap_io io = {w, NULL};
    snap_begin(w, "BOARD");
    board_fields(b, &io);
    snap_end(w);
    snap_begin(w, "EXTFLASH");
    snap_bytes(w, b->sflash.mem, SPARK_CORE_EXT_FLASH_SIZE);
    snap_end(w);
    machine_snapshot_save_flash(&b->m, w);
    return w->failed ? -1 : 0;
}

int spark_core_snapshot_load(struct spark_core *b, const uint8_t *payload, size_t len, const struct options *opt,
                             uint64_t *at, char *err, size_t errlen)
{
    struct snap_reader r;
    snap_reader_init(&r, payload, len);
    int rc = -1;
    if (machine_snapshot_load(&b->m, &r, at))
        goto out;
    struct snap_io io = {NULL, &r};
    if (!snap_enter(&r, "BOARD"))
        goto out;
    board_fields(b, &io);
    if (!snap_leave(&r))
        goto out;
    /* the flashes last, and only once both are known to be whole: they are what is stored */
    size_t ext_at = r.pos;
    if (!snap_enter(&r, "EXTFLASH"))
        goto out;
    r.pos = r.section_end;
    snap_leave(&r);
    size_t int_at = r.pos;
    if (!snap_enter(&r, "INTFLASH"))
        goto out;
    r.pos = r.section_end;
    if (!snap_leave(&r))
        goto out;
    if (r.pos != r.len) {
        char next[32];
        snap_peek_section(&r, next, sizeof next);
        snprintf(r.section, sizeof r.section, "%s", next);
        snap_fail(&r, "follows the last section this build writes");
        goto out;
    }
    /*
     * Inputs are the loading run's: a press under way stays, the snapshot's
     * later presses go, and --press times are absolute (those before the
     * snapshot's instant are over). No host is attached yet: the USB host
     * sees the pull-up when it is plugged, and the sockets the CC3000 had
     * on host sockets are gone.
     */
    struct button *buttons[2] = {&b->mode, &b->reset};
    for (int i = 0; i < 2; i++)
        button_drop_pending(buttons[i]);
    for (int i = 0; i < opt->npresses; i++) {
        const struct press_spec *p = &opt->presses[i];
        if (p->start >= *at &&
            button_schedule_press(p->button == BUTTON_MODE ? &b->mode : &b->reset, p->start, p->hold)) {
            snprintf(err, errlen, "--press: a press at %.3f s overlaps the press under way in the snapshot",
                     (double)p->start / SIM_HZ);
            goto done;
        }
    }
    b->usb_host.device_pullup = b->usb_attached;
    cc3000_sockets_lost(&b->wlan);
    r.pos = ext_at;
    snap_enter(&r, "EXTFLASH");
    snap_get_bytes(&r, b->sflash.mem, SPARK_CORE_EXT_FLASH_SIZE);
    snap_leave(&r);
    r.pos = int_at;
    if (r.failed || machine_snapshot_load_flash(&b->m, &r))
        goto out;

    rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "--snapshot-load %s: %s", opt->snapshot_load, r.err[0] ? r.err : "cannot be loaded");
done:
    snap_reader_free(&r);
    return rc;
}

void spark_core_snapshot_announce(struct spark_core *b)
{
    for (int i = 0; i < b->nled_observers; i++)
        b->led_observers[i].fn(b->led_observers[i].opaque, b->rgb);
    if (b->usb_observer)
        b->usb_observer(b->usb_opaque, b->usb_attached);
    if (!b->signal_observer)
        return;
    static const int led_channel[3] = {RGB_LED_BLUE, RGB_LED_RED, RGB_LED_GREEN}; /* TIM1 CH1-3, as led_pwm */
    for (int ch = 0; ch < 3; ch++) {
        const struct stm32_tim *t = &b->soc.tim1;
        bool driven = t->pwm_valid[ch] && t->pwm_driven[ch];
        b->signal_observer(b->signal_opaque, SIGNAL_LED_FIRST + led_channel[ch],
                           driven ? (double)(TIM_PWM_FULL - t->pwm_high[ch]) / TIM_PWM_FULL : 0.0);
    }
    for (int i = SIGNAL_PIN_FIRST; i < NSIGNALS; i++) {
        const char *pin = signals[i].pin;
        const struct stm32_gpio *port = &b->soc.gpio[pin[1] == 'A' ? GPIO_PORT_A : GPIO_PORT_B];
        bool level = (port->out_state >> atoi(pin + 2)) & 1u;
        b->signal_observer(b->signal_opaque, i, i == SIGNAL_USB_PULLUP ? !level : level);
    }
}

/* ---- connections ---------------------------------------------------------- */

int spark_core_add_led_observer(struct spark_core *b, spark_core_led_fn fn, void *opaque)
{
    if (b->nled_observers == SPARK_CORE_MAX_LED_OBSERVERS)
        return -1;
    b->led_observers[b->nled_observers].fn = fn;
    b->led_observers[b->nled_observers].opaque = opaque;
    b->nled_observers++;
    return 0;
}

void spark_core_set_button(struct spark_core *b, enum button_id button, bool pressed)
{
    button_set(button == BUTTON_MODE ? &b->mode : &b->reset, pressed);
}

static struct stm32_usart *usart(struct spark_core *b, enum spark_core_uart port)
{
    return port == SPARK_CORE_USART1 ? &b->soc.usart1 : &b->soc.usart2;
}

void spark_core_set_uart_sink(struct spark_core *b, enum spark_core_uart port, spark_core_uart_tx_fn fn,
                              void *opaque)
{
    usart(b, port)->sink.tx = fn;
    usart(b, port)->sink.opaque = opaque;
}

bool spark_core_uart_receive(struct spark_core *b, enum spark_core_uart port, uint8_t byte)
{
    return stm32_usart_receive(usart(b, port), byte);
}

uint64_t spark_core_uart_frame_cycles(struct spark_core *b, enum spark_core_uart port)
{
    return stm32_usart_frame_cycles(usart(b, port));
}

struct usb_host *spark_core_usb_host(struct spark_core *b)
{
    return &b->usb_host;
}

void spark_core_set_usb_observer(struct spark_core *b, spark_core_usb_fn fn, void *opaque)
{
    b->usb_observer = fn;
    b->usb_opaque = opaque;
}

const struct spark_core_signal *spark_core_signals(int *count)
{
    *count = NSIGNALS;
    return signals;
}

void spark_core_set_signal_observer(struct spark_core *b, spark_core_signal_fn fn, void *opaque)
{
    b->signal_observer = fn;
    b->signal_opaque = opaque;
}

void spark_core_set_net(struct spark_core *b, const struct cc3000_net *net, void *ctx)
{
    cc3000_set_net(&b->wlan, net, ctx);
}

void spark_core_net_changed(struct spark_core *b)
{
    cc3000_net_changed(&b->wlan);
}

struct spark_core_view spark_core_view(const struct spark_core *b)
{
    struct spark_core_view v;
    memset(&v, 0, sizeof v);
    memcpy(v.led, b->rgb, 3);
    v.user_led = b->user_led;
    v.usb_attached = b->usb_attached;
    v.mode_pressed = b->mode.pressed;
    return v;
}
