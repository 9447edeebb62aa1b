/*
 * host.h - the host side: what the emulated Spark Core is connected to. Each
 * adapter is one file in emu/host/ (the window, the headless LED reporter, the
 * USARTs, ...) and reaches the machine only through the board's connections
 * (boards/spark_core.h), the machine's hooks and this file.
 *
 * Design decision: the machine belongs to the emulator thread. An adapter's
 * hooks run on it (attach, pace, ended) or on the main thread before and after
 * the run (create, start, main_loop, stop, destroy); an adapter with threads of
 * its own (a socket, a pty) reaches the machine only by posting a message to
 * the mailbox (host_post), which kicks the emulator thread to empty it.
 * Adding an adapter is one file and one line in main.c's list.
 */
#ifndef EMU_HOST_HOST_H
#define EMU_HOST_HOST_H

#include "boards/spark_core.h"
#include "emu/machine.h"
#include "emu/options.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define HOST_MAX_ADAPTERS 16
#define HOST_MAILBOX_SIZE 64

struct host;

struct host_adapter {
    const char *name;
    /* Allocate *self and check the adapter's inputs: nothing stored has been created or changed yet. */
    int (*create)(struct host *h, void **self, char *err, size_t errlen);
    /* Connect to the board before power-on (observers, sinks, events), in list order. */
    int (*attach)(struct host *h, void *self, char *err, size_t errlen);
    /* Main thread, just before the run. Return true to take the main thread (see main_loop). */
    bool (*start)(struct host *h, void *self);
    /* Main thread while the emulator thread runs, if start took it; returns once h->run_done. */
    void (*main_loop)(struct host *h, void *self);
    /* Emulator thread, every 10 ms of virtual time and while the guest waits for input. */
    void (*pace)(struct host *h, void *self);
    /* Emulator thread, right after the run ended. */
    void (*ended)(struct host *h, void *self);
    /* Main thread, after the run (also if the emulator thread could not start): may run twice. */
    void (*stop)(struct host *h, void *self);
    /* Flush what is pending and free self; the machine and its trace still exist. */
    void (*destroy)(struct host *h, void *self);
};

/* The adapters main.c can choose from */
extern const struct host_adapter host_uart;       /* USART lines to the trace and log; --uart-rx */
extern const struct host_adapter host_led_report; /* the headless "LED ..." lines */
extern const struct host_adapter host_window;     /* the SDL window and --screenshot */
extern const struct host_adapter host_usb_cmd;    /* --usb-host-cmd */
extern const struct host_adapter host_serial;     /* --serial: the USB CDC serial port */
extern const struct host_adapter host_umockdev;   /* --usb umockdev, and the device for --usb-host-cmd */
extern const struct host_adapter host_usbip;      /* --usbip [ADDR:]PORT */
extern const struct host_adapter host_net;        /* --net, --cloud: the CC3000's sockets on host sockets */
extern const struct host_adapter host_script;     /* --script FILE: a scenario's steps and expectations */
extern const struct host_adapter host_vcd;        /* --vcd FILE: the pins as a Value Change Dump */
extern const struct host_adapter host_gdb;        /* --gdb [ADDR:]PORT: the GDB remote protocol (docs/gdb.md) */
extern const struct host_adapter host_snapshots;  /* --snapshot-save FILE@TIME, a scenario's snapshot save */

/* A message to the emulator thread: runs there with the machine stopped between two blocks. */
typedef void (*host_message_fn)(struct host *h, void *arg);

struct usb_umockdev;
struct host_snapshots;

struct host {
    const struct options *opt;
    struct spark_core *board;
    struct machine *m;
    const char *firmware_name;  /* for the window's status line; NULL if unknown */
    char led_summary[96];       /* the LED reporter's latest summary, "" before the first */
    bool windowed;              /* a window shows the board: no headless LED lines */
    int input_sources;          /* adapters whose threads may send input at any time */
    uint64_t run_for;           /* --run-for, unless an adapter ends the run itself (--usb-host-cmd) */
    const char *usb_env[4];     /* "NAME=value" that lets libusb programs see the device, NULL-ended */
    struct usb_umockdev *umockdev; /* the umockdev bridge, if running: the serial port becomes its /dev/ttyACM0 */
    bool usb_cable;             /* an adapter's create wants the USB host plugged in (a script's usb steps) */
    bool usb_programs;          /* an adapter's create will run libusb programs: the umockdev bridge runs */
    struct host_snapshots *snapshots; /* the snapshot adapter, for host_snapshot_request */
    volatile bool run_done;
    int run_status;

    struct host_slot {
        const struct host_adapter *ops;
        void *self;
    } adapters[HOST_MAX_ADAPTERS];
    int nadapters;

    pthread_mutex_t mailbox_lock;
    struct host_message {
        host_message_fn fn;
        void *arg;
    } mailbox[HOST_MAILBOX_SIZE];
    int mailbox_head, mailbox_count;
};

/* Create the adapters in order, checking their inputs. */
int host_create(struct host *h, const struct options *opt, const struct host_adapter *const *adapters, int n,
                char *err, size_t errlen);
/* Connect every adapter to the board and take the machine's on_pace and wait_for_input hooks. */
int host_attach(struct host *h, struct spark_core *board, const char *firmware_name, char *err, size_t errlen);
/* Run the machine (on its own thread if an adapter takes the main thread); the exit status. */
int host_run(struct host *h);
void host_destroy(struct host *h);

/* Any thread: queue a message for the emulator thread. -1 if the mailbox is full. */
int host_post(struct host *h, host_message_fn fn, void *arg);

/*
 * Emulator thread: what the RGB LED is doing now, in the headless lines' words
 * ("blue, blinking every 500 ms (on 250 ms)", "changing (now white)"), from the
 * LED report's pattern recogniser (led_report.c). For the window's status line.
 */
void host_led_describe(struct host *h, char *buf, size_t len);

/* Emulator thread: save a snapshot to `path` when virtual time reaches `at` (a scenario's snapshot save). */
int host_snapshot_request(struct host *h, const char *path, uint64_t at, char *err, size_t errlen);

#endif
