/*
 * spark_core.h - the Spark Core board: an STM32F103CB wired to an SST25VF016B,
 * a CC3000, an RGB LED, the MODE and RESET buttons, the user LED D7 and the
 * USB D+ pull-up.
 *
 * Design decision: the board is pins and wiring only. What it is connected to
 * (a window, a terminal, files, a USB host) reaches it through the small set
 * of connections below, on the emulator thread; the board never opens a file
 * or prints.
 */
#ifndef BOARDS_SPARK_CORE_H
#define BOARDS_SPARK_CORE_H

#include "emu/machine.h"
#include "emu/options.h"
#include "emu/usb_host.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The Core's memory layout, as its bootloader and firmware use it */
#define SPARK_CORE_EXT_FLASH_SIZE (2u * 1024u * 1024u) /* SST25VF016B */
#define SPARK_CORE_FLAGS_PAGE 0x08004C00u              /* the bootloader's flags, right after it */
#define SPARK_CORE_BOOTLOADER_END SPARK_CORE_FLAGS_PAGE
#define SPARK_CORE_FIRMWARE_BASE 0x08005000u

struct spark_core;

struct spark_core_config {
    const struct options *opt; /* pacing, log level, --wifi-profiles, --analog, --press */
    uint8_t *int_flash;        /* FLASH_SIZE bytes mapped from a file, or NULL: fresh erased flash */
    uint8_t *ext_flash;        /* SPARK_CORE_EXT_FLASH_SIZE bytes */
    FILE *trace;               /* NULL: no trace */
};

/* Build the machine and wire the board; the flashes stay the caller's. */
int spark_core_create(struct spark_core **out, const struct spark_core_config *cfg, char *err, size_t errlen);
struct machine *spark_core_machine(struct spark_core *b);
/*
 * Power on. With start_firmware_directly the core starts the firmware at
 * SPARK_CORE_FIRMWARE_BASE after every reset, as a bootloader's jump would.
 */
void spark_core_power_on(struct spark_core *b, bool start_firmware_directly);
void spark_core_destroy(struct spark_core *b);

/*
 * Snapshots (emu/snapshot.h, docs/design.md): save the whole board as it is
 * at `at` (taken at point `where` of the CPU loop, see machine.h); load one
 * into a board that was created but never powered on, instead of
 * spark_core_power_on. Loading writes the flashes last. *at: the instant it
 * was taken for.
 */
struct snap_writer;
int spark_core_snapshot_save(struct spark_core *b, struct snap_writer *w, enum snap_resume where, uint64_t at);
int spark_core_snapshot_load(struct spark_core *b, const uint8_t *payload, size_t len, const struct options *opt,
                             uint64_t *at, char *err, size_t errlen);
/* After a load and host_attach: tell the observers what the board shows (nothing traced), as a power-on would. */
void spark_core_snapshot_announce(struct spark_core *b);

/* ---- connections for the host side (emulator thread only) ---------------- */

/* Every colour change the RGB LED reports (visible colour 0-255). */
typedef void (*spark_core_led_fn)(void *opaque, const uint8_t rgb[3]);
#define SPARK_CORE_MAX_LED_OBSERVERS 4
int spark_core_add_led_observer(struct spark_core *b, spark_core_led_fn fn, void *opaque);

/* The button lines: MODE (PB2) and RESET (NRST; pressed, it holds the chip in reset). */
void spark_core_set_button(struct spark_core *b, enum button_id button, bool pressed);

/* The USARTs: bytes the firmware transmits go to a sink; bytes are received one at a time. */
enum spark_core_uart { SPARK_CORE_USART1 = 0, SPARK_CORE_USART2, SPARK_CORE_UARTS }; /* Serial1 = USART2 */
typedef void (*spark_core_uart_tx_fn)(void *opaque, uint8_t byte);
void spark_core_set_uart_sink(struct spark_core *b, enum spark_core_uart port, spark_core_uart_tx_fn fn,
                              void *opaque);
/* Hand one byte to the receiver; false if it does not take it now (disabled, or still full). */
bool spark_core_uart_receive(struct spark_core *b, enum spark_core_uart port, uint8_t byte);
/* One frame (start, data, parity, stop bits) at the current baud rate, in cycles. */
uint64_t spark_core_uart_frame_cycles(struct spark_core *b, enum spark_core_uart port);

/* The USB D+ pull-up (PB10 low = on): the host sees a device attached while it is on. */
typedef void (*spark_core_usb_fn)(void *opaque, bool attached);
void spark_core_set_usb_observer(struct spark_core *b, spark_core_usb_fn fn, void *opaque);

/*
 * The host on the other end of the USB cable: adapters (umockdev, USB/IP, the
 * CDC serial port, --usb-host-cmd) submit URBs to it from any thread and
 * observe the device's enumeration on the emulator thread.
 */
struct usb_host *spark_core_usb_host(struct spark_core *b);

/*
 * The board's named signals, for a logic view (--vcd): the pins by their
 * board names, levels 0/1, and the RGB LED's PWM channels as the fraction of
 * each period they are lit (0-1). The observer hears every change, on the
 * emulator thread; several may come in one virtual instant.
 */
struct spark_core_signal {
    const char *name;  /* "D7", "A0", "LED_B", "MODE", "SFLASH_CS", "USB_PULLUP"... */
    const char *pin;   /* "PA13", or "TIM1_CH1" for a PWM channel */
    bool pwm;          /* a duty 0-1 rather than a level */
};
const struct spark_core_signal *spark_core_signals(int *count);
typedef void (*spark_core_signal_fn)(void *opaque, int signal, double value);
void spark_core_set_signal_observer(struct spark_core *b, spark_core_signal_fn fn, void *opaque);

/*
 * The network behind the CC3000's sockets (emu/host/net.c): set before
 * power-on; call spark_core_net_changed when a connect finished, data came or
 * a peer closed.
 */
struct cc3000_net;
void spark_core_set_net(struct spark_core *b, const struct cc3000_net *net, void *ctx);
void spark_core_net_changed(struct spark_core *b);

/* What the board shows now. */
struct spark_core_view {
    uint8_t led[3];      /* RGB LED, the last reported visible colour */
    bool user_led;       /* D7 (PA13), active high */
    bool usb_attached;   /* D+ pull-up on */
    bool mode_pressed;   /* the MODE button */
};
struct spark_core_view spark_core_view(const struct spark_core *b);

#endif
