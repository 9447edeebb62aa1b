/*
 * usb_host.h - the virtual USB host: one root-hub port with a host controller
 * that turns URBs into transactions in virtual time, the "kernel" duties of
 * enumeration, and the one URB interface every host-side adapter uses (the
 * in-process API for tests, the umockdev bridge, the USB/IP server, the CDC
 * serial port).
 *
 * Design decision: URBs carry Linux semantics (usbfs and USB/IP both pass them
 * through unchanged): status is 0 or a negative errno, -EPIPE for a stall,
 * -ECONNRESET for an unlinked URB, -ENODEV once the device has gone, -EPROTO
 * when the device does not answer. Adapters may submit and unlink from any
 * thread; completions and observer calls always run on the emulator thread.
 */
#ifndef EMU_USB_HOST_H
#define EMU_USB_HOST_H

#include "sim.h"
#include "usb.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum usb_urb_type { USB_URB_CONTROL = 0, USB_URB_BULK, USB_URB_INTERRUPT };

#define USB_URB_SHORT_NOT_OK 0x01u /* a short IN transfer is an error (-EREMOTEIO) */
#define USB_URB_ZERO_PACKET 0x40u  /* end an OUT transfer that fills its last packet with a ZLP */

struct usb_urb {
    enum usb_urb_type type;
    uint8_t endpoint;   /* bEndpointAddress: number, | USB_DIR_IN for IN (control: from setup[0]) */
    uint8_t setup[8];   /* control transfers: the request; wLength must not exceed `length` */
    uint8_t *buffer;    /* data stage (control) or the data (bulk, interrupt) */
    uint32_t length;
    uint32_t flags;
    unsigned generation; /* the device incarnation it is for (usb_device_view.generation) */

    /* results, valid in complete() */
    uint32_t actual;
    int status;

    /* called once on the emulator thread when the URB is done; it may submit again */
    void (*complete)(struct usb_urb *urb);
    void *context;

    /* the host controller's own */
    struct usb_urb *next;
    int stage;
    uint32_t done;
    int errors;
    bool toggle;
    bool unlink_requested;
    bool queued;
};

/* What the host ("the kernel") knows of the attached, enumerated device. */
#define USB_HOST_MAX_CONFIG 1024
struct usb_device_view {
    unsigned generation; /* new for every enumeration: URBs for an older one fail with -ENODEV */
    uint8_t address;
    uint8_t busnum, devnum, portnum; /* as Linux would number it: bus 1, port 1 */
    uint8_t device[USB_DT_DEVICE_SIZE];
    uint8_t config[USB_HOST_MAX_CONFIG]; /* configuration 1, wTotalLength bytes */
    uint16_t config_len;
    uint8_t configuration; /* bConfigurationValue in use, 0 = unconfigured */
    char manufacturer[128], product[128], serial[128]; /* UTF-8, "" when the device has none */
};

/* Told of attach (enumerated) and detach, on the emulator thread. */
struct usb_host_observer {
    void (*attached)(void *opaque, const struct usb_device_view *dev);
    void (*detached)(void *opaque, unsigned generation);
    void *opaque;
};

#define USB_HOST_MAX_OBSERVERS 4
#define USB_HOST_MAX_ENDPOINTS 32 /* 16 numbers x 2 directions */

struct usb_host {
    struct sim *sim;
    const struct usb_device_ops *ops; /* the device on the port */
    void *dev;
    /* A thread-safe wake-up of the emulator thread (it then calls usb_host_service). */
    void (*kick)(void *opaque);
    void *kick_opaque;

    /* the port */
    bool plugged;        /* a cable to this host: without it the device sits on a charger */
    bool device_pullup;  /* the device's D+ pull-up */
    bool pullup;         /* plugged and pulled up: the host sees a device */
    bool enumerated;
    struct usb_device_view view;
    unsigned next_generation;
    uint16_t frame;
    struct event sof_event, connect_event, xfer_event, enum_timeout_event;
    bool reenumerating;  /* a port reset of an enumerated device: keep its generation if unchanged */
    struct usb_device_view before_reset;

    /* enumeration, a small script of control transfers */
    int enum_step, enum_tries;
    struct usb_urb enum_urb;
    uint8_t enum_buf[USB_HOST_MAX_CONFIG];
    uint8_t enum_string_index[3];
    uint16_t enum_langid;

    /* per-endpoint queues of URBs in flight, index = number + 16 for IN */
    struct usb_urb *queue[USB_HOST_MAX_ENDPOINTS];
    bool toggle[USB_HOST_MAX_ENDPOINTS];
    bool nak_wait[USB_HOST_MAX_ENDPOINTS];
    uint16_t max_packet[USB_HOST_MAX_ENDPOINTS];
    int rr_next; /* round robin between endpoints */

    /* URBs and unlinks handed over by other threads */
    pthread_mutex_t lock;
    struct usb_urb *inbox;
    struct usb_urb *unlinks[64];
    int nunlinks;

    struct usb_host_observer observers[USB_HOST_MAX_OBSERVERS];
    int nobservers;

    uint64_t transactions, naks;
};

void usb_host_init(struct usb_host *h, struct sim *sim, const struct usb_device_ops *ops, void *dev);
void usb_host_free(struct usb_host *h);
void usb_host_observe(struct usb_host *h, const struct usb_host_observer *o);

/*
 * Line handlers the board wires: the device's D+ pull-up (level true = pulled
 * up, a device is connected), and the device's "an endpoint may answer now"
 * pulse, which retries NAKed transactions at once instead of at the next frame.
 */
void usb_host_pullup_in(void *opaque, int n, bool level);
void usb_host_ready_in(void *opaque, int n, bool level);
/*
 * Plug the device's cable into this host (or a charger: no host, no frames,
 * nothing enumerates). Emulator thread, or before the run.
 */
void usb_host_plug(struct usb_host *h, bool plugged);

/*
 * Submit an URB (any thread). Returns 0, or -ENODEV when no device of
 * urb->generation is attached, or -EINVAL for a malformed URB; in both
 * cases complete() is not called.
 */
int usb_host_submit(struct usb_host *h, struct usb_urb *urb);
/* Cancel an URB (any thread): it completes with -ECONNRESET unless it completed first. */
void usb_host_unlink(struct usb_host *h, struct usb_urb *urb);
/* Emulator thread: take the URBs and unlinks other threads handed over. */
void usb_host_service(struct usb_host *h);
/* Emulator thread: whether an attached, enumerated device is there, and its view. */
const struct usb_device_view *usb_host_device(const struct usb_host *h);
/* Emulator thread: a port reset and re-enumeration (usbfs RESET, USB/IP port reset). */
void usb_host_reset_device(struct usb_host *h);
/* Whether any URB is in flight (a live client waits on the device). */
bool usb_host_busy(const struct usb_host *h);

#endif
