/*
 * options.h - the command-line contract (docs/cli.md): names and meanings are
 * stable; scripts and tests rely on them.
 */
#ifndef EMU_OPTIONS_H
#define EMU_OPTIONS_H

#include "machine.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OPT_MAX_LOADS 8
#define OPT_MAX_PRESSES 32
#define OPT_MAX_SCREENSHOTS 8
#define OPT_MAX_ANALOG 8
#define OPT_MAX_USB_HOST_CMDS 8
#define OPT_MAX_SNAPSHOTS 8

enum button_id { BUTTON_MODE = 0, BUTTON_RESET = 1 };

/* Where the firmware's USB CDC serial port goes (--serial). */
enum serial_kind { SERIAL_NONE = 0, SERIAL_PTY, SERIAL_STDIO, SERIAL_FILE };

/* What may leave the machine through the CC3000 (--net); DEFAULT: cloud with --cloud, else none. */
enum net_mode { NET_MODE_DEFAULT = 0, NET_MODE_NONE, NET_MODE_CLOUD, NET_MODE_HOST };

struct load_spec {
    char *path;
    uint32_t addr;
    bool has_addr;
};

struct press_spec {
    enum button_id button;
    uint64_t start; /* cycles */
    uint64_t hold;  /* cycles */
};

struct screenshot_spec {
    const char *path;
    uint64_t at; /* cycles */
};

struct snapshot_spec {
    const char *path;
    uint64_t at; /* cycles */
};

struct analog_spec {
    int pin;          /* A0..A7 */
    uint32_t millivolts;
};

struct options {
    struct load_spec loads[OPT_MAX_LOADS];
    int nloads;
    const char *bootloader; /* NULL: default */
    bool bootloader_none;
    const char *firmware;
    const char *state_dir;
    const char *int_flash;
    const char *ext_flash;
    const char *trace;
    const char *vcd;  /* --vcd FILE: the pins as a Value Change Dump */
    struct press_spec presses[OPT_MAX_PRESSES];
    int npresses;
    int wifi_profiles;
    const char *uart_rx; /* bytes for Serial1 (USART2) RX */
    struct analog_spec analog[OPT_MAX_ANALOG];
    int nanalog;
    struct screenshot_spec screenshots[OPT_MAX_SCREENSHOTS];
    int nscreenshots;
    const char *usb_host_cmds[OPT_MAX_USB_HOST_CMDS]; /* --usb-host-cmd, run in order */
    int nusb_host_cmds;
    bool usb_umockdev;      /* --usb umockdev: serve to other shells */
    const char *usbip;      /* --usbip [ADDR:]PORT, or NULL */
    const char *gdb;        /* --gdb [ADDR:]PORT: the GDB remote protocol server, or NULL */
    bool gdb_wait;          /* --gdb-wait: halted at the reset vector until the debugger continues */
    enum serial_kind serial;
    const char *serial_file;
    const char *cloud;      /* --cloud HOST:PORT: where the Core's cloud connection goes, or NULL */
    enum net_mode net_mode; /* --net */
    bool headless;
    uint64_t run_for; /* cycles; 0 = until the guest exits */
    enum pacing pacing;
    double speed;
    bool speed_given;
    int timeout_status;
    enum log_level log_level;
    bool stats;
    const char *script; /* --script FILE: a scenario (docs/scenarios.md) */
    struct snapshot_spec snapshot_saves[OPT_MAX_SNAPSHOTS]; /* --snapshot-save FILE@TIME */
    int nsnapshot_saves;
    const char *snapshot_load; /* --snapshot-load FILE, or NULL */
    bool wifi_profiles_given;
};

/* Returns 0, or -1 with a message in err (the caller exits with status 2), or 1 for --help. */
int options_parse(int argc, char **argv, struct options *o, char *err, size_t errlen);
void options_free(struct options *o);
void options_usage(FILE *f);
/* "<n>us", "<n>ms", "<n>s" (or "0") to cycles of the 72 MHz core clock */
int parse_duration(const char *s, uint64_t *cycles);

#endif
