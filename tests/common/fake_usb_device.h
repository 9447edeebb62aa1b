/*
 * fake_usb_device.h - a scripted full-speed USB device on the token interface
 * (emu/usb.h), for the tests of the virtual USB host and its adapters. It does
 * what every test's device needs alike: it answers only its own address,
 * takes SET_ADDRESS after the status stage, serves GET_DESCRIPTOR from tables,
 * runs EP0's data stages 64 bytes at a time with their toggles, and serves
 * bulk endpoints from byte FIFOs with a data toggle each.
 *
 * Design decision: what differs between the tests' devices is data (the
 * descriptor tables, which FIFO an endpoint reads or fills) or a hook (the
 * class and vendor requests, what a bulk OUT packet does), never a variant of
 * the token handling: a test that needs another device changes its tables and
 * hooks, and every test sees the same chapter 9 behaviour.
 */
#ifndef TESTS_FAKE_USB_DEVICE_H
#define TESTS_FAKE_USB_DEVICE_H

#include "emu/usb.h"

#include <stdbool.h>
#include <stdint.h>

#define FAKE_USB_ENDPOINTS 16
#define FAKE_USB_FIFO_MAX 4096u

/* The bytes a bulk endpoint has to send, or has received. */
struct fake_usb_fifo {
    uint8_t data[FAKE_USB_FIFO_MAX];
    unsigned len;
    unsigned size; /* capacity, at most FAKE_USB_FIFO_MAX: an OUT packet that does not fit is NAKed */
};

struct fake_usb;

/* What the device is: its descriptors and the requests of its own. */
struct fake_usb_function {
    const uint8_t *device; /* USB_DT_DEVICE_SIZE bytes */
    const uint8_t *config; /* configuration 1, config_len (= wTotalLength) bytes */
    unsigned config_len;
    const char *const *strings; /* string descriptors 1 .. nstrings-1 (ASCII); [0] is unused: index 0 is en-US */
    unsigned nstrings;
    /*
     * A SETUP the device's chapter 9 part does not take itself (all but
     * GET_DESCRIPTOR, SET_ADDRESS and SET_CONFIGURATION): true accepts it, with
     * an IN data stage in u->reply[0 .. u->reply_len); false (or no hook) stalls it.
     */
    bool (*setup)(struct fake_usb *u, const uint8_t setup[8]);
    /* The OUT data stage of an accepted request is complete: u->ep0_out[0 .. u->ep0_out_len), wLength bytes. */
    void (*ep0_out_done)(struct fake_usb *u);
    /* A new bulk OUT packet is in its FIFO at data[0 .. len): look at it, or rewrite it in place. */
    void (*bulk_out)(struct fake_usb *u, uint8_t ep, uint8_t *data, unsigned len);
};

struct fake_usb {
    const struct fake_usb_function *fn; /* may change while the device is detached (a re-enumeration) */
    void *ctx;                          /* the test's own, for its hooks */
    bool powered;                       /* false: no answer to any token, as a device without power */
    /* bulk (and interrupt) endpoints by number; NULL stalls the endpoint, an empty FIFO NAKs */
    struct fake_usb_fifo *ep_in[FAKE_USB_ENDPOINTS], *ep_out[FAKE_USB_ENDPOINTS];
    bool in_toggle[FAKE_USB_ENDPOINTS], out_toggle[FAKE_USB_ENDPOINTS]; /* the toggle of the next packet */

    uint8_t addr, pending_addr;
    uint8_t configuration; /* bConfigurationValue, 0 after a bus reset */
    int resets;            /* bus resets seen */
    uint8_t setup[8];      /* the request in progress */
    uint8_t reply[4096];   /* its IN data stage */
    unsigned reply_len, reply_pos;
    uint8_t ep0_out[1024]; /* its OUT data stage */
    unsigned ep0_out_len;
    bool ep0_stall;
    bool ep0_nak_forever; /* every IN on EP0 NAKs until the next SETUP or bus reset */
    int ep0_naks;         /* NAK this many IN tokens on EP0 first (the device never resets it) */
    bool ep0_in_toggle, ep0_out_toggle;
};

/* The operations to give usb_host_init with the struct fake_usb as the device. */
extern const struct usb_device_ops fake_usb_ops;

/* A powered device at address 0 with no bulk endpoints yet. */
void fake_usb_init(struct fake_usb *u, const struct fake_usb_function *fn, void *ctx);
/* An empty FIFO that holds at most `size` (<= FAKE_USB_FIFO_MAX) bytes. */
void fake_usb_fifo_init(struct fake_usb_fifo *q, unsigned size);
/* Append what fits of data[0 .. len); returns the number of bytes taken. */
unsigned fake_usb_fifo_put(struct fake_usb_fifo *q, const uint8_t *data, unsigned len);
/* Every bulk endpoint starts again at DATA0 (SET_CONFIGURATION, SET_INTERFACE). */
void fake_usb_reset_toggles(struct fake_usb *u);
/* CLEAR_FEATURE(ENDPOINT_HALT) for bEndpointAddress `endpoint`: it starts again at DATA0. */
void fake_usb_clear_halt(struct fake_usb *u, uint8_t endpoint);

/*
 * "The widget": a vendor-class device 1d50:607f, bcdDevice 2.00, strings
 * "Maker", "Widget", "0123456789AB" (its configurations are the tests' own).
 */
extern const uint8_t fake_usb_widget_device[USB_DT_DEVICE_SIZE];
extern const char *const fake_usb_widget_strings[4];

/*
 * The Core's firmware as a CDC ACM function, 1d50:607d, bcdDevice 2.00,
 * strings 1-3 (manufacturer, product, serial number): interface 0
 * (communications) with its notification endpoint, interface 1 (data) with a
 * bulk endpoint each way, 64 bytes.
 */
#define FAKE_USB_CDC_EP_DATA_IN 1
#define FAKE_USB_CDC_EP_NOTIFY 2 /* interrupt IN */
#define FAKE_USB_CDC_EP_DATA_OUT 3
#define FAKE_USB_CDC_CONFIG_SIZE 67
extern const uint8_t fake_usb_cdc_device[USB_DT_DEVICE_SIZE];
extern const uint8_t fake_usb_cdc_config[FAKE_USB_CDC_CONFIG_SIZE];

#endif
